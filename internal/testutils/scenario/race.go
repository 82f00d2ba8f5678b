package scenario

import (
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Shape of the ready-list race: RaceWaiters threads wait RaceCalls times
// each (timeout 0) on one level-triggered instance holding RaceReadable
// readable sockets, while another thread adds and deletes one more socket
// RaceCalls times. The interest list holds RaceReadable items, or one more
// while the extra socket is in.
const (
	RaceWaiters  = 3
	RaceCalls    = 20000
	RaceReadable = 8
)

// RaceResult is what RunReadyRace reports about itself.
type RaceResult struct {
	Ep    int    `json:"ep"`
	Error string `json:"error,omitempty"`
}

// RunReadyRace runs the ready-list race: several threads wait on one
// instance (as the Go runtime's netpoller threads do), so a walk of the
// ready list at one thread's entry or exit runs while another thread's
// epoll_wait splices the list away and back (ep_start_scan, ep_done_scan).
// Every call returns at once: level-triggered items stay readable and are
// re-queued.
func RunReadyRace() RaceResult {
	r := &runner{}
	ep, err := unix.EpollCreate1(0)
	r.must(err)
	for i := 0; i < RaceReadable; i++ {
		s, t := r.socketpair()
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s)}
		r.must(unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, s, &ev))
		r.write(t)
	}
	extra, _ := r.socketpair()
	if r.err != nil {
		return RaceResult{Error: r.err.Error()}
	}
	var wg sync.WaitGroup
	for w := 0; w < RaceWaiters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			blockStraySignals()
			var evs [4]unix.EpollEvent
			for i := 0; i < RaceCalls; i++ {
				call(unix.SYS_EPOLL_WAIT, uintptr(ep), ptr(&evs[0]), 4, 0)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(extra)}
		for i := 0; i < RaceCalls; i++ {
			call(unix.SYS_EPOLL_CTL, uintptr(ep), unix.EPOLL_CTL_ADD, uintptr(extra), ptr(&ev))
			call(unix.SYS_EPOLL_CTL, uintptr(ep), unix.EPOLL_CTL_DEL, uintptr(extra), 0)
		}
	}()
	wg.Wait()
	return RaceResult{Ep: ep}
}

// IdleEpoll makes an epoll instance watching one socket and returns what
// to run once traced: a write to the socket's peer (a wakeup of the
// instance, ep_poll_callback) and no epoll call, so iotrace never learns
// which eventpoll the instance is and cannot attribute callbacks to it.
func IdleEpoll() func() RaceResult {
	r := &runner{}
	ep, err := unix.EpollCreate1(0)
	r.must(err)
	s, t := r.socketpair()
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s)}
	r.must(unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, s, &ev))
	return func() RaceResult {
		r.write(t)
		if r.err != nil {
			return RaceResult{Error: r.err.Error()}
		}
		return RaceResult{Ep: ep}
	}
}

// LossThreads threads block in poll at once in RunLosses: more than the
// kretprobe instances a kprobe-mode run has (max(10, 2 x CPUs) by default,
// shared with every process on the machine).
const LossThreads = 24

// RunLosses drives loss counters: one select on a set in a page never
// touched (the kernel faults it in and reads zeros; a BPF program cannot
// fault pages in, so its read fails: user_reads_failed), and LossThreads
// threads that each block in one poll (200 ms timeout) at the same time,
// then make one more poll that returns at once: 2 x LossThreads polls. In
// kprobe mode kretprobes run out of instances and miss exits, which the
// next poll of the thread finds (missed_exits).
func RunLosses() RaceResult {
	r := &runner{}
	page, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	r.must(err)
	if r.err != nil {
		return RaceResult{Error: r.err.Error()}
	}
	tv := unix.Timeval{}
	r.expect("select on an untouched page", call(unix.SYS_SELECT, 64, ptr(&page[0]), 0, 0, ptr(&tv)), 0)

	var p [2]int
	r.must(unix.Pipe(p[:]))
	var ready, wg sync.WaitGroup
	ready.Add(LossThreads)
	start := make(chan struct{})
	for i := 0; i < LossThreads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			blockStraySignals()
			fds := []pollfd{{int32(p[0]), unix.POLLIN, 0}}
			ready.Done()
			<-start
			call(unix.SYS_POLL, ptr(&fds[0]), 1, 200)
			call(unix.SYS_POLL, ptr(&fds[0]), 1, 0)
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	if r.err != nil {
		return RaceResult{Error: r.err.Error()}
	}
	return RaceResult{}
}
