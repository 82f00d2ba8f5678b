// Package scenario is the ground truth for iotrace's integration tests: a
// fixed sequence of raw select, pselect6, poll, ppoll, epoll_wait,
// epoll_pwait, epoll_pwait2 and epoll_ctl calls on fds placed at known
// numbers, with known sets, ready counts, maxevents and ready-list lengths,
// plus calls that block and are woken by a second thread. Expected lists the
// exact figures the tracer must report for the thread that ran it.
//
// Everything runs on one locked OS thread through raw syscalls, so Go's
// runtime adds nothing to that thread's figures.
//
// It is test support: only test code imports it (the collector's
// integration tests and cmd/iotrace's end-to-end tests), and nothing in it
// is part of iotrace itself.
package scenario

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelAddr is in the kernel's half of the address space: copy_from_user
// fails on it at once (access_ok), with no page fault.
const kernelAddr = uintptr(0xffff_ffff_ffff_f000)

// Fixed fd numbers, so that select's n and FDS_BYTES(n) are known.
const (
	rA, wA = 100, 101 // pipe A: rA readable (holds data)
	rB, wB = 102, 103 // pipe B: empty; wB writable
	rC, wC = 104, 105 // pipe C: empty; the blocking select is woken through it
	rD, wD = 106, 107 // pipe D: empty; the blocking poll is woken through it
	rE, wE = 108, 109 // pipe E: empty; the poll that times out
	closed = 150      // never open: select on it fails with EBADF
	high   = 200      // keeps the fd table at least 201 wide, so n=151 is not capped
)

// WakeDelay is how long the second thread waits before it wakes a blocked
// call; long enough that the caller is asleep by then.
const WakeDelay = 100 * time.Millisecond

// Result is what the scenario reports about itself.
type Result struct {
	Tid  int `json:"tid"`
	EpLT int `json:"ep_lt"` // level-triggered epoll instance
	EpET int `json:"ep_et"` // edge-triggered epoll instance
	// EpDrop is the instance whose watched sockets are closed without
	// EPOLL_CTL_DEL; EpDropFdinfo is its interest-list size as the
	// kernel shows it (tfd lines of /proc/self/fdinfo/EpDrop) after the wait.
	EpDrop       int    `json:"ep_drop"`
	EpDropFdinfo int64  `json:"ep_drop_fdinfo"`
	Error        string `json:"error,omitempty"`
}

type pollfd struct {
	fd      int32
	events  int16
	revents int16
}

type fdset [16]uint64 // 1024 bits, as glibc's fd_set

func (s *fdset) set(fd int) { s[fd/64] |= 1 << (uint(fd) % 64) }

func ptr[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

// call issues a raw syscall and returns its result as the kernel gave it:
// a count, or a negative errno.
func call(nr uintptr, a ...uintptr) int {
	var args [6]uintptr
	copy(args[:], a)
	r, _, e := unix.Syscall6(nr, args[0], args[1], args[2], args[3], args[4], args[5])
	if e != 0 {
		return -int(e)
	}
	return int(r)
}

type runner struct {
	err error
}

// expect checks one call's return value; a scenario whose calls do not
// behave as planned is reported, since its figures would be meaningless.
func (r *runner) expect(what string, got, want int) {
	if got != want && r.err == nil {
		r.err = fmt.Errorf("%s returned %d, want %d", what, got, want)
	}
}

func (r *runner) must(err error) {
	if err != nil && r.err == nil {
		r.err = err
	}
}

func (r *runner) pipeAt(rd, wr int) {
	var p [2]int
	r.must(unix.Pipe(p[:]))
	r.must(unix.Dup2(p[0], rd))
	r.must(unix.Dup2(p[1], wr))
	unix.Close(p[0])
	unix.Close(p[1])
}

func (r *runner) socketpair() (int, int) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	r.must(err)
	return fds[0], fds[1]
}

func (r *runner) write(fd int) {
	_, err := unix.Write(fd, []byte{'x'})
	r.must(err)
}

// wakeLater writes one byte to fd from another OS thread after WakeDelay.
func wakeLater(fd int) chan struct{} {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		time.Sleep(WakeDelay)
		unix.Write(fd, []byte{'w'})
		close(done)
	}()
	return done
}

// signalLater sends SIGUSR2 to thread tid after WakeDelay. Go's runtime has
// a handler for it (signal.Notify), so an interrupted call returns EINTR.
func signalLater(tid int) chan struct{} {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR2)
	done := make(chan struct{})
	pid := unix.Getpid()
	go func() {
		time.Sleep(WakeDelay)
		unix.Tgkill(pid, tid, unix.SIGUSR2)
		<-sigs
		signal.Stop(sigs)
		close(done)
	}()
	return done
}

// blockStraySignals blocks, on the scenario's thread, every asynchronous
// signal but the scenario's own SIGUSR2: any other signal that reached it
// during a blocking call (the Go runtime's preemption SIGURG, or one sent to
// the process) would end that call with EINTR and change the ground truth.
// Seen once in a VM: "blocking poll returned -4". The runtime does not rely
// on this thread taking signals; blocked ones stay pending.
func blockStraySignals() {
	var set unix.Sigset_t
	set.Val[0] = ^uint64(0)
	for _, sig := range []unix.Signal{unix.SIGUSR2, unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP} {
		set.Val[0] &^= 1 << (uint(sig) - 1)
	}
	unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil)
}

// Run executes the scenario on the calling goroutine's thread, which it
// locks. The fds it opens stay open, so that /proc still shows its epoll
// instances until the process exits.
func Run() Result {
	runtime.LockOSThread()
	r := &runner{}
	res := Result{Tid: unix.Gettid()}
	blockStraySignals()

	for _, p := range [][2]int{{rA, wA}, {rB, wB}, {rC, wC}, {rD, wD}, {rE, wE}} {
		r.pipeAt(p[0], p[1])
	}
	r.must(unix.Dup2(rE, high))
	r.write(wA)
	if r.err != nil {
		res.Error = r.err.Error()
		return res
	}

	// poll: 3 calls on 3 fds with one ready, 2 calls on 2 fds none ready,
	// one EFAULT, one blocking call woken through pipe D, one 20 ms timeout.
	three := []pollfd{{rA, unix.POLLIN, 0}, {rB, unix.POLLIN, 0}, {rC, unix.POLLIN, 0}}
	for i := 0; i < 3; i++ {
		r.expect("poll(3 fds)", call(unix.SYS_POLL, ptr(&three[0]), 3, 0), 1)
	}
	two := []pollfd{{rB, unix.POLLIN, 0}, {rC, unix.POLLIN, 0}}
	for i := 0; i < 2; i++ {
		r.expect("poll(2 idle fds)", call(unix.SYS_POLL, ptr(&two[0]), 2, 0), 0)
	}
	// The EFAULT comes from an address in the kernel's half, which
	// copy_from_user refuses before touching it. poll(NULL, 1) faults
	// instead, and the fault takes mmap_lock: when another thread of this
	// process (the Go runtime's) held it for writing, the call slept on it,
	// a real sleep and wakeup the expected figures did not allow for.
	r.expect("poll(kernel address, 1)", call(unix.SYS_POLL, kernelAddr, 1, 0), -int(unix.EFAULT))
	one := []pollfd{{rD, unix.POLLIN, 0}}
	done := wakeLater(wD)
	r.expect("blocking poll", call(unix.SYS_POLL, ptr(&one[0]), 1, ^uintptr(0)), 1) // timeout -1
	<-done
	idle := []pollfd{{rE, unix.POLLIN, 0}}
	r.expect("poll with 20ms timeout", call(unix.SYS_POLL, ptr(&idle[0]), 1, 20), 0)
	// A signal interrupts a poll with a 5 s timeout: the kernel returns
	// -ERESTART_RESTARTBLOCK to the exit hook and, as a handler runs,
	// EINTR to us, after the pollfd was copied in and revents written back.
	done = signalLater(unix.Gettid())
	r.expect("poll interrupted by a signal", call(unix.SYS_POLL, ptr(&idle[0]), 1, 5000), -int(unix.EINTR))
	<-done

	// ppoll: 2 calls on rA (readable) and wB (writable).
	pp := []pollfd{{rA, unix.POLLIN, 0}, {wB, unix.POLLOUT, 0}}
	zero := unix.Timespec{}
	for i := 0; i < 2; i++ {
		r.expect("ppoll", call(unix.SYS_PPOLL, ptr(&pp[0]), 2, ptr(&zero), 0, 8), 2)
	}

	// select (SYS_SELECT): n=106 with read {rA, rB} and write {wB}, twice;
	// n=105 read {rB, rC}, nothing ready; n=101 with rA in read and write
	// sets; n=151 with a closed fd: EBADF.
	for i := 0; i < 2; i++ {
		var rd, wr fdset
		rd.set(rA)
		rd.set(rB)
		wr.set(wB)
		tv := unix.Timeval{}
		r.expect("select(106)", call(unix.SYS_SELECT, 106, ptr(&rd), ptr(&wr), 0, ptr(&tv)), 2)
	}
	{
		var rd fdset
		rd.set(rB)
		rd.set(rC)
		tv := unix.Timeval{}
		r.expect("select(105)", call(unix.SYS_SELECT, 105, ptr(&rd), 0, 0, ptr(&tv)), 0)
	}
	{
		var rd, wr fdset
		rd.set(rA)
		wr.set(rA)
		tv := unix.Timeval{}
		r.expect("select(101, rA twice)", call(unix.SYS_SELECT, 101, ptr(&rd), ptr(&wr), 0, ptr(&tv)), 1)
	}
	{
		var rd fdset
		rd.set(closed)
		tv := unix.Timeval{}
		r.expect("select(closed fd)", call(unix.SYS_SELECT, closed+1, ptr(&rd), 0, 0, ptr(&tv)), -int(unix.EBADF))
	}

	// pselect6: 3 calls n=104 read {rA}; one blocking call on rC woken by
	// the second thread.
	for i := 0; i < 3; i++ {
		var rd fdset
		rd.set(rA)
		ts := unix.Timespec{}
		r.expect("pselect6(104)", call(unix.SYS_PSELECT6, 104, ptr(&rd), 0, 0, ptr(&ts), 0), 1)
	}
	{
		var rd fdset
		rd.set(rC)
		done := wakeLater(wC)
		r.expect("blocking pselect6", call(unix.SYS_PSELECT6, rC+1, ptr(&rd), 0, 0, 0, 0), 1)
		<-done
	}

	res.EpLT, res.EpET = runEpoll(r)
	res.EpDrop, res.EpDropFdinfo = runEpollDrop(r)
	if r.err != nil {
		res.Error = r.err.Error()
	}
	return res
}

// Sockets of the epoll part: s[i] is watched, t[i] is its peer.
const nSockets = 9

func runEpoll(r *runner) (lt, et int) {
	var s, t [nSockets]int
	for i := range s {
		s[i], t[i] = r.socketpair()
	}
	lt, err := unix.EpollCreate1(0)
	r.must(err)
	et, err = unix.EpollCreate1(0)
	r.must(err)
	ctl := func(ep, op, fd int, events uint32) int {
		ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
		return call(unix.SYS_EPOLL_CTL, uintptr(ep), uintptr(op), uintptr(fd), ptr(&ev))
	}

	// Level-triggered instance: add s0..s5, modify s5, delete s5, and add
	// s0 again (EEXIST). 5 registered.
	for i := 0; i < 6; i++ {
		r.expect("epoll_ctl ADD", ctl(lt, unix.EPOLL_CTL_ADD, s[i], unix.EPOLLIN), 0)
	}
	r.expect("epoll_ctl MOD", ctl(lt, unix.EPOLL_CTL_MOD, s[5], unix.EPOLLIN), 0)
	r.expect("epoll_ctl DEL", ctl(lt, unix.EPOLL_CTL_DEL, s[5], 0), 0)
	r.expect("epoll_ctl ADD again", ctl(lt, unix.EPOLL_CTL_ADD, s[0], unix.EPOLLIN), -int(unix.EEXIST))

	// Edge-triggered instance: s6, s7, s8.
	for i := 6; i < 9; i++ {
		r.expect("epoll_ctl ADD ET", ctl(et, unix.EPOLL_CTL_ADD, s[i], unix.EPOLLIN|unix.EPOLLET), 0)
	}

	// Make s0, s1, s2 readable; s0 twice (the second wakeup finds it queued).
	r.write(t[0])
	r.write(t[0])
	r.write(t[1])
	r.write(t[2])

	var evs [16]unix.EpollEvent
	wait := func(nr uintptr, ep, max int, extra ...uintptr) int {
		a := append([]uintptr{uintptr(ep), ptr(&evs[0]), uintptr(max)}, extra...)
		return call(nr, a...)
	}
	zero := unix.Timespec{}
	// Ready list holds 3 level-triggered items: each call sees 3 at entry
	// and, as returned LT items are re-queued, 3 at exit.
	r.expect("epoll_wait(10)", wait(unix.SYS_EPOLL_WAIT, lt, 10, 0), 3)
	r.expect("epoll_wait(2)", wait(unix.SYS_EPOLL_WAIT, lt, 2, 0), 2) // hits maxevents
	r.expect("epoll_pwait(10)", wait(unix.SYS_EPOLL_PWAIT, lt, 10, 0, 0, 8), 3)
	r.expect("epoll_pwait2(10)", wait(unix.SYS_EPOLL_PWAIT2, lt, 10, ptr(&zero), 0, 8), 3)
	r.expect("epoll_wait on a pipe", wait(unix.SYS_EPOLL_WAIT, rA, 10, 0), -int(unix.EINVAL))

	// Edge-triggered: s6 and s7 readable. maxevents 1 takes one, the other
	// stays queued; the next call takes it; the third finds nothing.
	r.write(t[6])
	r.write(t[7])
	r.expect("epoll_wait ET(1)", wait(unix.SYS_EPOLL_WAIT, et, 1, 0), 1)
	r.expect("epoll_wait ET(10)", wait(unix.SYS_EPOLL_WAIT, et, 10, 0), 1)
	r.expect("epoll_wait ET empty", wait(unix.SYS_EPOLL_WAIT, et, 10, 0), 0)
	// Blocking epoll_pwait on the ET instance, woken through s8.
	done := wakeLater(t[8])
	r.expect("blocking epoll_pwait", wait(unix.SYS_EPOLL_PWAIT, et, 10, ^uintptr(0), 0, 8), 1)
	<-done
	return lt, et
}

// runEpollDrop registers three sockets in a new level-triggered instance
// and closes two of them without EPOLL_CTL_DEL, as nginx does: a, the only
// reference to its file, so the kernel drops its item (__fput ->
// eventpoll_release_file); and c after a dup, so its file stays open and
// its item stays. Then one epoll_wait with nothing ready: it watches 2 fds.
// It returns the instance and its size as /proc/self/fdinfo shows it.
//
// The instance is made after its sockets, as LT and ET are: at exit the
// kernel releases files last fd first (task work runs newest first), so
// the instance goes before the sockets' peers, whose release would wake
// the watched sockets (ep_poll_callback) of an instance still there.
func runEpollDrop(r *runner) (ep int, fdinfo int64) {
	var socks [3]int
	for i := range socks {
		socks[i], _ = r.socketpair()
	}
	ep, err := unix.EpollCreate1(0)
	r.must(err)
	for i := range socks {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(socks[i])}
		r.expect("epoll_ctl ADD (drop)", call(unix.SYS_EPOLL_CTL, uintptr(ep), unix.EPOLL_CTL_ADD, uintptr(socks[i]), ptr(&ev)), 0)
	}
	_, err = unix.Dup(socks[2])
	r.must(err)
	r.must(unix.Close(socks[0]))
	r.must(unix.Close(socks[2]))
	var evs [4]unix.EpollEvent
	r.expect("epoll_wait after closes without DEL", call(unix.SYS_EPOLL_WAIT, uintptr(ep), ptr(&evs[0]), 4, 0), 0)
	// Raw open and read: os.ReadFile would register the file with Go's
	// netpoller, an epoll_ctl on this thread.
	fd, err := unix.Open("/proc/self/fdinfo/"+strconv.Itoa(ep), unix.O_RDONLY, 0)
	r.must(err)
	var b [4096]byte
	n, err := unix.Read(fd, b[:])
	r.must(err)
	unix.Close(fd)
	for _, line := range strings.Split(string(b[:max(n, 0)]), "\n") {
		if strings.HasPrefix(line, "tfd:") {
			fdinfo++
		}
	}
	return ep, fdinfo
}
