package workloads

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// serveBlocking is the blocking model: one locked thread per connection,
// each in a blocking read(2) on its own connection. The fds are made
// blocking, with SO_RCVTIMEO of waitTimeout so that a thread notices Stop:
// a read that times out returns EAGAIN (counted in EAGAINs).
//
// The calling thread serves connection 0; the others get a thread each.
func (w *Workload) serveBlocking(ready chan<- error, bufSize int) error {
	tv := unix.NsecToTimeval(waitTimeout.Nanoseconds())
	for i, c := range w.conns {
		if err := unix.SetNonblock(c.server, false); err != nil {
			ready <- fmt.Errorf("connection %d: clearing O_NONBLOCK: %w", i, err)
			return nil
		}
		if err := unix.SetsockoptTimeval(c.server, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			ready <- fmt.Errorf("connection %d: SO_RCVTIMEO: %w", i, err)
			return nil
		}
	}
	// Connection i's thread reads into its own buffer; a blocking server
	// holds N of them, so they are small when N is large.
	bufSize = min(bufSize, max(4096, (64<<20)/len(w.conns)))

	tids := make([]int, len(w.conns))
	tids[0] = w.serverTID
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	fail := func(err error) {
		if err != nil {
			errOnce.Do(func() { first = err })
			w.stop()
		}
	}
	// Threads of Go's pool may have run the netpoller (epoll_pwait) while
	// idle; a server thread must have made no multiplexing call, so a
	// goroutine that lands on a thread that existed before the setup
	// retires it (a goroutine that ends locked takes its thread with it)
	// and tries again on another, up to a bound.
	old := processThreads()
	var retries atomic.Int64
	var spawn func(i int)
	spawn = func(i int) {
		go func() {
			// Locked, and never unlocked: the thread is renamed, so it
			// ends with its goroutine rather than go back to Go's pool.
			runtime.LockOSThread()
			tid := unix.Gettid()
			if old[tid] && retries.Add(1) <= int64(4*len(w.conns)) {
				spawn(i)
				return
			}
			defer wg.Done()
			tids[i] = tid
			setThreadName(string(Blocking))
			started.Done()
			fail(w.readBlocking(i, make([]byte, bufSize)))
		}()
	}
	for i := 1; i < len(w.conns); i++ {
		wg.Add(1)
		started.Add(1)
		spawn(i)
	}
	started.Wait()
	w.serverTIDs = tids
	ready <- nil
	fail(w.readBlocking(0, make([]byte, bufSize)))
	wg.Wait()
	return first
}

// processThreads is the set of this process's thread ids.
func processThreads() map[int]bool {
	set := map[int]bool{}
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			set[tid] = true
		}
	}
	return set
}

// readBlocking is one blocking thread's loop on connection i.
func (w *Workload) readBlocking(i int, buf []byte) error {
	fd := w.conns[i].server
	for !w.stopping() {
		w.waits.Add(1)
		w.reads.Add(1)
		n, err := unix.Read(fd, buf)
		switch {
		case n > 0:
			w.got(i, n)
			if w.allRead() {
				w.stop()
			}
		case err == unix.EINTR:
		case err == unix.EAGAIN: // SO_RCVTIMEO passed with no data
			w.eagains.Add(1)
		case err != nil:
			return fmt.Errorf("read from connection %d (fd %d): %w", i, fd, err)
		default:
			return fmt.Errorf("connection %d (fd %d) closed by its peer", i, fd)
		}
	}
	return nil
}

// serveSpin is the non-blocking model with polling by retry: the server
// thread reads once from every connection in turn, over and over, with no
// wait in between; most reads return EAGAIN.
func (w *Workload) serveSpin(ready chan<- error, r *reader) error {
	ready <- nil
	for !w.stopping() {
		for i := range w.conns {
			w.waits.Add(1)
			if err := r.read(i, false); err != nil {
				return err
			}
		}
		if w.allRead() {
			return nil
		}
	}
	return nil
}

// sigioSignal is the real-time signal sigio's fds raise (F_SETSIG). Go's
// runtime leaves signals 34 to 64 alone unless asked (32 and 33 it keeps
// unblocked); the server thread blocks it and dequeues it with
// rt_sigtimedwait, so no handler runs.
const sigioSignal = 40

// fOwnerEx is struct f_owner_ex (F_SETOWN_EX); fOwnerTID is F_OWNER_TID,
// which sends the signal to that thread rather than to the process.
type fOwnerEx struct{ Type, Pid int32 }

const fOwnerTID = 0

// sigsetSize is the kernel's sigset_t: 64 signals.
const sigsetSize = 8

// siginfo is the start of the kernel's siginfo_t for SIGPOLL-style
// signals (si_band, si_fd), padded to its full 128 bytes.
type siginfo struct {
	Signo, Errno, Code, _ int32
	Band                  int64
	Fd                    int32
	_                     [128 - 28]byte
}

func sigbit(sig int) uint64 { return 1 << (sig - 1) }

// serveSigIO is the signal-driven model. Every server fd is put in O_ASYNC
// mode, owned by the server thread (F_SETOWN_EX with F_OWNER_TID), raising
// sigioSignal (F_SETSIG) with the fd in si_fd when data arrives. The server
// thread blocks that signal and SIGIO, waits for them with
// rt_sigtimedwait, and reads the signalled fd until EAGAIN. A SIGIO means
// the real-time signal's queue overflowed and signals were lost: it reads
// every connection until EAGAIN.
func (w *Workload) serveSigIO(ready chan<- error, r *reader) error {
	set := sigbit(sigioSignal) | sigbit(int(unix.SIGIO))
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(&set)), 0, sigsetSize, 0, 0); e != 0 {
		ready <- fmt.Errorf("rt_sigprocmask(SIG_BLOCK): %w", e)
		return nil
	}
	byFD := map[int32]int{}
	owner := fOwnerEx{Type: fOwnerTID, Pid: int32(w.serverTID)}
	for i, c := range w.conns {
		byFD[int32(c.server)] = i
		if _, _, e := unix.Syscall(unix.SYS_FCNTL, uintptr(c.server), unix.F_SETOWN_EX, uintptr(unsafe.Pointer(&owner))); e != 0 {
			ready <- fmt.Errorf("connection %d: fcntl(F_SETOWN_EX): %w", i, e)
			return nil
		}
		if _, err := unix.FcntlInt(uintptr(c.server), unix.F_SETSIG, sigioSignal); err != nil {
			ready <- fmt.Errorf("connection %d: fcntl(F_SETSIG): %w", i, err)
			return nil
		}
		fl, err := unix.FcntlInt(uintptr(c.server), unix.F_GETFL, 0)
		if err == nil {
			_, err = unix.FcntlInt(uintptr(c.server), unix.F_SETFL, fl|unix.O_ASYNC|unix.O_NONBLOCK)
		}
		if err != nil {
			ready <- fmt.Errorf("connection %d: fcntl(F_SETFL, O_ASYNC): %w", i, err)
			return nil
		}
	}
	ready <- nil

	// Data that arrived before O_ASYNC raised no signal.
	for i := range w.conns {
		if err := r.read(i, true); err != nil {
			return err
		}
	}
	var info siginfo
	for !w.stopping() && !w.allRead() {
		ts := unix.NsecToTimespec(waitTimeout.Nanoseconds())
		w.waits.Add(1)
		sig, _, e := unix.Syscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(&set)),
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&ts)), sigsetSize, 0, 0)
		switch {
		case e == unix.EAGAIN || e == unix.EINTR:
			continue
		case e != 0:
			return fmt.Errorf("rt_sigtimedwait: %w", e)
		}
		w.signals.Add(1)
		if int(sig) == int(unix.SIGIO) {
			w.overflows.Add(1)
			for i := range w.conns {
				if err := r.read(i, true); err != nil {
					return err
				}
			}
			continue
		}
		i, ok := byFD[info.Fd]
		if !ok {
			return fmt.Errorf("rt_sigtimedwait: signal %d for fd %d, which is no connection", sig, info.Fd)
		}
		if err := r.read(i, true); err != nil {
			return err
		}
	}
	return nil
}
