package workloads

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// waiter is one model's half of the server loop.
type waiter interface {
	// call is the system call wait makes.
	call() sysIndex
	// wait makes one multiplexing call and returns its result.
	wait() (int, error)
	// serve reads from the n connections the last wait found ready.
	serve(n int) error
	close()
}

// serve is the server thread: it sets the model up, reports on ready
// (nil, or why it cannot run), then waits and reads until the workload
// ends or it has read cfg.Messages messages.
func (w *Workload) serve(ready chan<- error) error {
	runtime.LockOSThread()
	// The thread is renamed below, so it must not go back to Go's pool.
	w.serverTID = unix.Gettid()
	// Name the thread after its model, so that traces and the dashboard
	// show which model a thread serves. Best effort, and through prctl:
	// os.File would register with Go's netpoller (epoll_ctl) on this thread.
	setThreadName(string(w.cfg.Model))

	w.connRead = make([]int64, len(w.conns))
	bufSize := w.cfg.readBufSize
	if bufSize == 0 {
		bufSize = 64 << 10
	}
	r := &reader{w: w, buf: make([]byte, bufSize)}
	switch w.cfg.Model {
	case Blocking:
		return w.serveBlocking(ready, bufSize)
	case NonblockSpin:
		return w.serveSpin(ready, r)
	case SigIO:
		return w.serveSigIO(ready, r)
	case Uring:
		return w.serveUring(ready, bufSize)
	}
	wt, err := newWaiter(w.cfg.Model, r)
	ready <- err
	if err != nil {
		return nil
	}
	defer wt.close()

	for !w.stopping() {
		w.count(wt.call())
		n, err := wt.wait()
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sysNames[wt.call()], err)
		}
		if n > 0 {
			w.ready.Add(int64(n))
			if err := wt.serve(n); err != nil {
				return err
			}
		}
		if w.cfg.Messages > 0 && w.messages.Load() >= w.cfg.Messages {
			return nil
		}
	}
	return nil
}

func newWaiter(m Model, r *reader) (waiter, error) {
	switch m {
	case Select:
		return newSelectWaiter(r)
	case Poll:
		return newPollWaiter(r), nil
	default:
		return newEpollWaiter(m, r)
	}
}

// reader reads from the server ends and keeps the counts.
type reader struct {
	w   *Workload
	buf []byte
}

// read reads once from connection i, or until EAGAIN if drain is set.
func (r *reader) read(i int, drain bool) error {
	w := r.w
	fd := w.conns[i].server
	for {
		n, err := unix.Read(fd, r.buf)
		w.reads.Add(1)
		switch {
		case n > 0:
			w.got(i, n)
			if !drain {
				return nil
			}
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			w.eagains.Add(1)
			return nil
		case err != nil:
			return fmt.Errorf("read from connection %d (fd %d): %w", i, fd, err)
		default:
			return fmt.Errorf("connection %d (fd %d) closed by its peer", i, fd)
		}
	}
}

// got counts n bytes read from connection i; only connection i's server
// thread calls it.
func (w *Workload) got(i, n int) {
	size := int64(w.cfg.Size)
	before := w.connRead[i]
	w.connRead[i] += int64(n)
	w.bytes.Add(int64(n))
	if msgs := w.connRead[i]/size - before/size; msgs > 0 {
		w.messages.Add(msgs)
	}
}

// allRead reports whether cfg.Messages are set and have all been read.
func (w *Workload) allRead() bool {
	return w.cfg.Messages > 0 && w.messages.Load() >= w.cfg.Messages
}

func (w *Workload) count(s sysIndex) { w.calls[s].Add(1) }

// selectWaiter calls select with every server fd in the read set.
type selectWaiter struct {
	r         *reader
	all, rset unix.FdSet
	nfd       int
}

func newSelectWaiter(r *reader) (*selectWaiter, error) {
	s := &selectWaiter{r: r}
	for i, c := range r.w.conns {
		// unix.FdSet holds FD_SETSIZE bits: a larger fd would be
		// written past its end.
		if c.server < 0 || c.server >= FDSetSize {
			return nil, fmt.Errorf("select cannot watch fd %d (connection %d): fds must be below FD_SETSIZE (%d); use fewer connections or poll or epoll",
				c.server, i, FDSetSize)
		}
		s.all.Set(c.server)
		s.nfd = max(s.nfd, c.server+1)
	}
	return s, nil
}

func (s *selectWaiter) call() sysIndex { return waitSelect }

func (s *selectWaiter) wait() (int, error) {
	s.rset = s.all
	return selectRead(s.nfd, &s.rset)
}

func (s *selectWaiter) serve(n int) error {
	for i, c := range s.r.w.conns {
		if n == 0 {
			break
		}
		if s.rset.IsSet(c.server) {
			n--
			if err := s.r.read(i, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *selectWaiter) close() {}

// pollWaiter calls poll with an entry for every connection.
type pollWaiter struct {
	r   *reader
	fds []unix.PollFd
}

func newPollWaiter(r *reader) *pollWaiter {
	p := &pollWaiter{r: r, fds: make([]unix.PollFd, len(r.w.conns))}
	for i, c := range r.w.conns {
		p.fds[i] = unix.PollFd{Fd: int32(c.server), Events: unix.POLLIN}
	}
	return p
}

func (p *pollWaiter) call() sysIndex { return waitPoll }

func (p *pollWaiter) wait() (int, error) {
	return pollFds(p.fds)
}

func (p *pollWaiter) serve(n int) error {
	for i := range p.fds {
		if n == 0 {
			break
		}
		if p.fds[i].Revents != 0 {
			n--
			if p.fds[i].Revents&unix.POLLNVAL != 0 {
				return fmt.Errorf("poll: connection %d (fd %d) is not open", i, p.fds[i].Fd)
			}
			if err := p.r.read(i, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *pollWaiter) close() {}

// epollWaiter registers every connection once, then calls epoll_wait.
type epollWaiter struct {
	r       *reader
	epfd    int
	events  []unix.EpollEvent
	flags   uint32
	drain   bool // EPOLLET: read until EAGAIN
	oneshot bool // EPOLLONESHOT: re-arm after each event
}

// maxEvents caps the events one epoll_wait returns.
const maxEvents = 1024

func newEpollWaiter(m Model, r *reader) (*epollWaiter, error) {
	e := &epollWaiter{r: r, flags: unix.EPOLLIN}
	switch m {
	case EpollET:
		e.flags |= unix.EPOLLET
		e.drain = true
	case EpollOneshot:
		e.flags |= unix.EPOLLONESHOT
		e.oneshot = true
	}
	var err error
	if e.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	for i, c := range r.w.conns {
		r.w.count(sysEpollCtl)
		if err := epollCtl(e.epfd, unix.EPOLL_CTL_ADD, c.server, e.flags, i); err != nil {
			unix.Close(e.epfd)
			return nil, fmt.Errorf("epoll_ctl(EPOLL_CTL_ADD, fd %d): %w", c.server, err)
		}
	}
	e.events = make([]unix.EpollEvent, min(len(r.w.conns), maxEvents))
	return e, nil
}

func (e *epollWaiter) call() sysIndex { return waitEpoll }

func (e *epollWaiter) wait() (int, error) {
	return epollWait(e.epfd, e.events)
}

func (e *epollWaiter) serve(n int) error {
	for _, ev := range e.events[:n] {
		i := int(ev.Fd)
		if err := e.r.read(i, e.drain); err != nil {
			return err
		}
		if e.oneshot {
			e.r.w.count(sysEpollCtl)
			if err := epollCtl(e.epfd, unix.EPOLL_CTL_MOD, e.r.w.conns[i].server, e.flags, i); err != nil {
				return fmt.Errorf("epoll_ctl(EPOLL_CTL_MOD, fd %d): %w", e.r.w.conns[i].server, err)
			}
		}
	}
	return nil
}

func (e *epollWaiter) close() { unix.Close(e.epfd) }
