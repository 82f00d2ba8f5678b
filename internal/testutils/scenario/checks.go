package scenario

import (
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/model"
)

// The readiness-check scenario (RunChecks): the steps where a model of the
// kernel's loops and the kernel part. Each step runs on a thread of its
// own, one after another, so that each thread's figures are one step's.
// ExpectedChecks gives, per step, the kernel's true fd_polls (what a probe
// that observes the checks must count: every ->poll call made for the call,
// vfs_poll and ep_item_poll, nested ones included) and what the estimates
// of tracepoint and rawtp modes give, both worked out from the kernel
// source (fs/eventpoll.c, fs/select.c; the same in 6.1, 6.12 and 6.18), not
// from iotrace's code.

// Step names, the keys of ChecksResult.Tids.
const (
	StepLTRepoll   = "lt-repoll"    // level-triggered data read between waits
	StepLTThreadA  = "lt-thread-a"  // two threads on one level-triggered instance
	StepLTThreadB  = "lt-thread-b"  //
	StepPollNval   = "poll-nval"    // poll with fd = -1 and a closed fd
	StepNested     = "nested-epoll" // an epoll fd in a poll set
	StepSelectLong = "select-long"  // a wakeup that lands during a long select pass
)

// SelectLongFds is the size of the long select pass: one fd woken by
// another thread (the lowest, so the first polled) and SelectLongFds-1
// dups of an idle pipe.
const SelectLongFds = 1024

const selectLongBase = 1100 // fd numbers selectLongBase .. +SelectLongFds-1

// ChecksResult is what RunChecks reports about itself.
type ChecksResult struct {
	Tids  map[string]int `json:"tids"`
	Error string         `json:"error,omitempty"`
}

// ReadinessCheck is the expected readiness checks of one step's thread and syscall.
type ReadinessCheck struct {
	Step    string
	Syscall model.Syscall
	Calls   uint64
	Ready   uint64
	// Truth..TruthMax: the kernel's fd_polls (one value unless the step
	// depends on timing).
	Truth, TruthMax uint64
	// Estimate..EstimateMax: the estimate in tracepoint and rawtp modes.
	Estimate, EstimateMax uint64
	// Why says how the figures follow from the kernel source.
	Why string
}

// ExpectedChecks lists the expected figures of every step.
func ExpectedChecks() []ReadinessCheck {
	const k = SelectLongFds
	c := []ReadinessCheck{
		{Step: StepLTRepoll, Syscall: model.EpollWait, Calls: 6, Ready: 4, Truth: 8, Estimate: 8,
			Why: "LT instance, s0 and s1. (a) both readable: the harvest (ep_send_events) polls the 2 items on the ready list, returns 2 and, level-triggered, puts both back. " +
				"(b) the data read: the next harvest polls the 2 re-queued items, finds neither ready and drops them: 2 checks, 0 returned. " +
				"(c) empty list: ep_poll does not harvest: 0. (d) both readable, maxevents 1: s0 polled and returned, the loop stops before s1 (res >= maxevents): 1; s1 is spliced back. " +
				"(e) the data read: 2 items polled, none ready: 2. (f) s0 readable: 1. Truth 2+2+0+1+2+1 = 8 for 4 events. " +
				"Estimate: the entry walk sees the list each harvest polls (2, 2, 0, -, 2, 1) and (d) hit maxevents (its events, 1): 8."},
		{Step: StepLTRepoll, Syscall: model.EpollPwait, Calls: 1, Ready: 1, Truth: 2, Estimate: 2,
			Why: "s0's data read after (f), so s0 is on the list and not ready; a blocking epoll_pwait harvests it (1 check, nothing), sleeps, is woken by a write to s1 and harvests s1 (1 check): 2. " +
				"Estimate: the list at entry (1) plus the event after the sleep (1)."},
		{Step: StepLTThreadA, Syscall: model.EpollWait, Calls: 2, Ready: 1, Truth: 2, Estimate: 2,
			Why: "threads A and B sleep in epoll_wait on one LT instance with an empty list; one write to u0: ep_poll_callback wakes one waiter, whose harvest polls u0 (1), returns it and puts it back; " +
				"ep_done_scan finds the list not empty and wakes the other waiter, whose harvest polls u0 again (1) and returns it too: one event, two checks, two returns. " +
				"Then u0's data is read and A waits with timeout 0: u0 is polled (1), not ready. A: 1+1. Estimate: list at entry 0 + 1 event after the sleep, then the list at entry (1)."},
		{Step: StepLTThreadB, Syscall: model.EpollWait, Calls: 1, Ready: 1, Truth: 1, Estimate: 1,
			Why: "the other waiter of lt-thread-a: woken by the first harvest's ep_done_scan, polls u0 once and returns it."},
		{Step: StepPollNval, Syscall: model.Poll, Calls: 2, Ready: 2, Truth: 1, Estimate: 3 + 2,
			Why: "poll({-1, a closed fd, a readable pipe}, 3, 0): do_pollfd gives 0 for fd < 0 and POLLNVAL for a closed fd without calling vfs_poll; the pipe is polled: 1 check, 2 returned (POLLNVAL counts). " +
				"poll({-1}, 1, 20 ms): nothing polled in either pass: 0. Estimate: nfds x (1 + sleeps): 3 + 1 x 2 (the pollfd array is not read; its cost is in docs/metrics.md)."},
		{Step: StepNested, Syscall: model.Ppoll, Calls: 2, Ready: 1, Truth: 1 + 2 + 1 + 1, Estimate: 2,
			Why: "ppoll on an epoll fd whose LT list holds y (data read: not ready) then x (readable): vfs_poll of the epoll fd (1) runs __ep_eventpoll_poll, which polls y (not ready, dropped) and x (ready, stops): 2 inner checks; returns 1. " +
				"x's data read, ppoll again: 1 + x polled (1), not ready: returns 0. Truth 3 + 2. Estimate: nfds x passes = 1 + 1; the inner checks are not seen."},
		{Step: StepSelectLong, Syscall: model.Select, Calls: 1, Ready: 1, Truth: k, TruthMax: 2 * k, Estimate: k, EstimateMax: 2 * k,
			Why: "select on SelectLongFds fds, the woken one polled first, woken by a write from another thread about when the call starts. " +
				"do_select polls all fds once; if the write landed before the woken fd was polled: 1 pass (k); during the pass: pwq->triggered makes poll_schedule_timeout return without sleeping and a second pass finds it (2k); " +
				"after the pass: a sleep, then a second pass (2k). Which one depends on timing. Estimate: k x (1 + max(sleeps, wakeups)): a wakeup during the pass is not traced (the thread runs), so that case gives k."},
	}
	for i := range c {
		if c[i].TruthMax == 0 {
			c[i].TruthMax = c[i].Truth
		}
		if c[i].EstimateMax == 0 {
			c[i].EstimateMax = c[i].Estimate
		}
	}
	return c
}

// RunChecks runs the steps of ExpectedChecks, each on a locked thread of
// its own, one after another.
func RunChecks() ChecksResult {
	res := ChecksResult{Tids: map[string]int{}}
	r := &runner{}
	steps := []struct {
		name string
		run  func(r *runner, tids map[string]int)
	}{
		{StepLTRepoll, stepLTRepoll},
		{StepLTThreadA, stepLTThreads},
		{StepPollNval, stepPollNval},
		{StepNested, stepNested},
		{StepSelectLong, stepSelectLong},
	}
	for _, s := range steps {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			blockStraySignals()
			res.Tids[s.name] = unix.Gettid()
			s.run(r, res.Tids)
		}()
		<-done
		if r.err != nil {
			res.Error = s.name + ": " + r.err.Error()
			return res
		}
	}
	return res
}

func epollWith(r *runner, events uint32, fds ...int) int {
	ep, err := unix.EpollCreate1(0)
	r.must(err)
	for _, fd := range fds {
		ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
		r.must(unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev))
	}
	return ep
}

func (r *runner) drain(fd int) {
	var b [64]byte
	_, err := unix.Read(fd, b[:])
	r.must(err)
}

func waitOn(nr uintptr, ep, max int, timeout int) int {
	var evs [16]unix.EpollEvent
	if nr == unix.SYS_EPOLL_PWAIT {
		return call(nr, uintptr(ep), ptr(&evs[0]), uintptr(max), uintptr(timeout), 0, 8)
	}
	return call(nr, uintptr(ep), ptr(&evs[0]), uintptr(max), uintptr(timeout))
}

func stepLTRepoll(r *runner, _ map[string]int) {
	s0, t0 := r.socketpair()
	s1, t1 := r.socketpair()
	ep := epollWith(r, unix.EPOLLIN, s0, s1)
	if r.err != nil {
		return
	}
	r.write(t0)
	r.write(t1)
	r.expect("(a) epoll_wait", waitOn(unix.SYS_EPOLL_WAIT, ep, 10, 0), 2)
	r.drain(s0)
	r.drain(s1)
	r.expect("(b) epoll_wait after reads", waitOn(unix.SYS_EPOLL_WAIT, ep, 10, 0), 0)
	r.expect("(c) epoll_wait, empty list", waitOn(unix.SYS_EPOLL_WAIT, ep, 10, 0), 0)
	r.write(t0)
	r.write(t1)
	r.expect("(d) epoll_wait(maxevents 1)", waitOn(unix.SYS_EPOLL_WAIT, ep, 1, 0), 1)
	r.drain(s0)
	r.drain(s1)
	r.expect("(e) epoll_wait after reads", waitOn(unix.SYS_EPOLL_WAIT, ep, 10, 0), 0)
	r.write(t0)
	r.expect("(f) epoll_wait", waitOn(unix.SYS_EPOLL_WAIT, ep, 10, 0), 1)
	r.drain(s0)
	done := wakeLater(t1)
	r.expect("(g) blocking epoll_pwait", waitOn(unix.SYS_EPOLL_PWAIT, ep, 10, -1), 1)
	<-done
	for _, fd := range []int{s0, t0, s1, t1, ep} {
		unix.Close(fd)
	}
}

// stepLTThreads runs on thread A and starts thread B.
func stepLTThreads(r *runner, tids map[string]int) {
	u0, v0 := r.socketpair()
	ep := epollWith(r, unix.EPOLLIN, u0)
	if r.err != nil {
		return
	}
	bTid := make(chan int)
	bRet := make(chan int)
	go func() {
		runtime.LockOSThread()
		blockStraySignals()
		bTid <- unix.Gettid()
		// Bounded, so that a kernel that does not wake the second
		// waiter fails the step instead of hanging it.
		bRet <- waitOn(unix.SYS_EPOLL_WAIT, ep, 10, 3000)
	}()
	tids[StepLTThreadB] = <-bTid
	// Both threads are asleep on the instance by the time v0 is written.
	done := wakeLater(v0)
	r.expect("A: blocking epoll_wait", waitOn(unix.SYS_EPOLL_WAIT, ep, 10, 3000), 1)
	r.expect("B: blocking epoll_wait, woken by A's harvest", <-bRet, 1)
	<-done
	r.drain(u0)
	r.expect("A: epoll_wait after the read", waitOn(unix.SYS_EPOLL_WAIT, ep, 10, 0), 0)
	for _, fd := range []int{u0, v0, ep} {
		unix.Close(fd)
	}
}

func stepPollNval(r *runner, _ map[string]int) {
	var p, q [2]int
	r.must(unix.Pipe(p[:]))
	r.must(unix.Pipe(q[:]))
	closedFd := q[0]
	unix.Close(q[0])
	unix.Close(q[1])
	r.write(p[1])
	if r.err != nil {
		return
	}
	fds := []pollfd{{-1, unix.POLLIN, 0}, {int32(closedFd), unix.POLLIN, 0}, {int32(p[0]), unix.POLLIN, 0}}
	r.expect("poll(-1, closed, readable)", call(unix.SYS_POLL, ptr(&fds[0]), 3, 0), 2)
	if fds[1].revents != unix.POLLNVAL {
		r.must(fmt.Errorf("closed fd %d: revents %#x, want POLLNVAL", closedFd, fds[1].revents))
	}
	neg := []pollfd{{-1, unix.POLLIN, 0}}
	r.expect("poll(-1, 20 ms)", call(unix.SYS_POLL, ptr(&neg[0]), 1, 20), 0)
	unix.Close(p[0])
	unix.Close(p[1])
}

func stepNested(r *runner, _ map[string]int) {
	y, ty := r.socketpair()
	x, tx := r.socketpair()
	ep := epollWith(r, unix.EPOLLIN, y, x)
	if r.err != nil {
		return
	}
	r.write(ty) // queued first
	r.write(tx)
	r.drain(y) // y stays queued, no longer ready
	fds := []pollfd{{int32(ep), unix.POLLIN, 0}}
	zero := unix.Timespec{}
	r.expect("ppoll(epoll fd)", call(unix.SYS_PPOLL, ptr(&fds[0]), 1, ptr(&zero), 0, 8), 1)
	r.drain(x)
	r.expect("ppoll(epoll fd) after x's read", call(unix.SYS_PPOLL, ptr(&fds[0]), 1, ptr(&zero), 0, 8), 0)
	for _, fd := range []int{y, ty, x, tx, ep} {
		unix.Close(fd)
	}
}

func stepSelectLong(r *runner, _ map[string]int) {
	var w, idle [2]int
	r.must(unix.Pipe(w[:]))
	r.must(unix.Pipe(idle[:]))
	r.must(unix.Dup2(w[0], selectLongBase))
	for i := 1; i < SelectLongFds; i++ {
		r.must(unix.Dup2(idle[0], selectLongBase+i))
	}
	if r.err != nil {
		return
	}
	const n = selectLongBase + SelectLongFds
	var rd [(n + 63) / 64]uint64
	for fd := selectLongBase; fd < n; fd++ {
		rd[fd/64] |= 1 << (uint(fd) % 64)
	}
	start := make(chan struct{})
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		<-start
		// Spin a little past the call's start: a pass over 1,024 fds
		// takes about a hundred microseconds.
		for t := time.Now(); time.Since(t) < 30*time.Microsecond; {
		}
		unix.Write(w[1], []byte{'w'})
		close(done)
	}()
	close(start)
	r.expect("select(1,024 fds), woken", call(unix.SYS_SELECT, n, ptr(&rd[0]), 0, 0, 0), 1)
	<-done
	for i := 0; i < SelectLongFds; i++ {
		unix.Close(selectLongBase + i)
	}
	for _, fd := range []int{w[0], w[1], idle[0], idle[1]} {
		unix.Close(fd)
	}
}

// CheckReadiness holds one step's figures to its expectation: the kernel's
// truth when fd_polls is observed, else the estimate. It returns every
// mismatch.
func CheckReadiness(c ReadinessCheck, got *model.Stats, observed bool) []string {
	name := c.Step + " " + c.Syscall.String()
	if got == nil {
		return []string{name + ": no figures"}
	}
	var bad []string
	if got.Calls != c.Calls || got.Ready != c.Ready {
		bad = append(bad, fmt.Sprintf("%s: %d calls, %d ready; want %d, %d", name, got.Calls, got.Ready, c.Calls, c.Ready))
	}
	lo, hi, what := c.Estimate, c.EstimateMax, "estimate"
	if observed {
		lo, hi, what = c.Truth, c.TruthMax, "kernel's checks"
	}
	if got.FdPolls < lo || got.FdPolls > hi {
		want := fmt.Sprint(lo)
		if hi != lo {
			want = fmt.Sprintf("%d..%d", lo, hi)
		}
		bad = append(bad, fmt.Sprintf("%s: fd_polls %d, want %s (the %s; kernel: %d..%d)", name, got.FdPolls, want, what, c.Truth, c.TruthMax))
	}
	return bad
}
