package scenario

import (
	"strconv"

	"github.com/iotrace/iotrace/internal/model"
)

// Figures are the exactly known figures of one syscall of the scenario's
// thread. Latency and blocked time are not known exactly; Blocking says
// whether a call slept for at least WakeDelay.
type Figures struct {
	Calls, Errors, Timeouts, Ready         uint64
	FdsWatched, FdPolls, BytesIn, BytesOut uint64
	Sleeps, Wakeups, MaxeventsHits         uint64
	Errnos                                 map[string]uint64
	ReadyListAtEntry, ReadyListAtExit      model.MaxSum
	Blocking                               bool
}

// Expected returns the figures the scenario's thread must show, worked out
// by hand from the calls in Run and the kernel's code (fs/select.c,
// fs/eventpoll.c); docs/metrics.md gives the rules.
func Expected() map[model.Syscall]Figures {
	return map[model.Syscall]Figures{
		// 3 x 3 fds (1 ready), 2 x 2 idle fds, EFAULT (nothing copied or
		// polled), 1 fd blocking until woken (2 passes), 1 fd timing out
		// after one sleep (2 passes), 1 fd interrupted by a signal after one
		// sleep (2 passes; copied both ways). 8 bytes in and 2 out per fd.
		model.Poll: {
			Calls: 9, Errors: 2, Timeouts: 3, Ready: 4,
			FdsWatched: 9 + 4 + 1 + 1 + 1 + 1, FdPolls: 9 + 4 + 0 + 2 + 2 + 2,
			BytesIn: 8 * (9 + 4 + 1 + 1 + 1), BytesOut: 2 * (9 + 4 + 1 + 1 + 1),
			Sleeps: 3, Wakeups: 3, Blocking: true,
			Errnos: map[string]uint64{"EFAULT": 1, "ERESTART_RESTARTBLOCK": 1},
		},
		// 2 x 2 fds, both ready.
		model.Ppoll: {Calls: 2, Ready: 4, FdsWatched: 4, FdPolls: 4, BytesIn: 32, BytesOut: 8},
		// n=106, 2 sets (16 bytes each), 3 bits, 3 distinct fds, 2 ready: x2.
		// n=105, 1 set, 2 idle fds. n=101, rA in 2 sets: 2 bits, 1 fd polled.
		// n=151, 1 set of 24 bytes copied in, then EBADF: nothing polled or out.
		model.Select: {
			Calls: 5, Errors: 1, Timeouts: 1, Ready: 2*2 + 0 + 1,
			FdsWatched: 2*3 + 2 + 2 + 1, FdPolls: 2*3 + 2 + 1,
			BytesIn: 2*32 + 16 + 32 + 24, BytesOut: 2*32 + 16 + 32,
			Errnos: map[string]uint64{"EBADF": 1},
		},
		// 3 x n=104 with rA, then n=105 with rC blocking until woken (2 passes).
		model.Pselect6: {
			Calls: 4, Ready: 4, FdsWatched: 4, FdPolls: 3 + 2,
			BytesIn: 4 * 16, BytesOut: 4 * 16, Sleeps: 1, Wakeups: 1, Blocking: true,
		},
		// LT (5 registered, 3 ready): maxevents 10 -> 3, maxevents 2 -> 2
		// (a hit); a pipe fd -> EINVAL; ET (3 registered, 2 ready):
		// maxevents 1 -> 1 (a hit), 10 -> 1, 10 -> 0. 12 bytes per event.
		// Drop: 3 added, the last close of one dropped its item
		// (eventpoll_release_file), the other closed fd has a dup: 2
		// watched, nothing ready (a timeout, empty ready list).
		model.EpollWait: {
			Calls: 7, Errors: 1, Timeouts: 2, Ready: 3 + 2 + 1 + 1,
			FdsWatched: 5 + 5 + 0 + 3 + 3 + 3 + 2, FdPolls: 7, BytesOut: 12 * 7, MaxeventsHits: 2,
			Errnos:           map[string]uint64{"EINVAL": 1},
			ReadyListAtEntry: model.MaxSum{Sum: 3 + 3 + 2 + 1 + 0 + 0, Max: 3},
			ReadyListAtExit:  model.MaxSum{Sum: 3 + 3 + 1 + 0 + 0 + 0, Max: 3},
		},
		// LT -> 3; ET blocking on an empty ready list until s8 is written.
		model.EpollPwait: {
			Calls: 2, Ready: 4, FdsWatched: 5 + 3, FdPolls: 4, BytesOut: 48,
			Sleeps: 1, Wakeups: 1, Blocking: true,
			ReadyListAtEntry: model.MaxSum{Sum: 3, Max: 3},
			ReadyListAtExit:  model.MaxSum{Sum: 3, Max: 3},
		},
		model.EpollPwait2: {
			Calls: 1, Ready: 3, FdsWatched: 5, FdPolls: 3, BytesOut: 36,
			ReadyListAtEntry: model.MaxSum{Sum: 3, Max: 3},
			ReadyListAtExit:  model.MaxSum{Sum: 3, Max: 3},
		},
		// 6 ADD + MOD + DEL + ADD (EEXIST) on LT, 3 ADD on ET, 3 ADD on
		// drop: 12 bytes in for all but DEL; each successful ADD or MOD
		// polls the file once.
		model.EpollCtl: {
			Calls: 15, Errors: 1, BytesIn: 14 * 12, FdPolls: 13,
			Errnos: map[string]uint64{"EEXIST": 1},
		},
	}
}

// Epoll is what the scenario leaves in one epoll instance.
type Epoll struct {
	Registered int64
	Ctl        model.CtlCounts
	// Callbacks and AlreadyQueued count ep_poll_callback runs (fentry and
	// kprobe modes): one per write to a watched socket; the second write to
	// s0 finds its item already on the ready list.
	Callbacks, AlreadyQueued uint64
}

// ExpectedEpoll returns the expected state of the LT, ET and drop
// instances. Drop: 3 ADDs, no DEL, one item dropped by a last close; its
// sockets are never written, so no callbacks (the closed socket's wait
// entry is unregistered before the socket is released).
func ExpectedEpoll() (lt, et, drop Epoll) {
	lt = Epoll{Registered: 5, Ctl: model.CtlCounts{Add: 7, Mod: 1, Del: 1}, Callbacks: 4, AlreadyQueued: 1}
	et = Epoll{Registered: 3, Ctl: model.CtlCounts{Add: 3}, Callbacks: 3}
	drop = Epoll{Registered: 2, Ctl: model.CtlCounts{Add: 3}}
	return lt, et, drop
}

// Check compares a thread's figures for one syscall with the expected ones
// and returns every mismatch, one line each.
func Check(sc model.Syscall, got *model.Stats, want Figures) []string {
	if got == nil {
		return []string{sc.String() + ": no figures at all"}
	}
	var bad []string
	eq := func(name string, g, w uint64) {
		if g != w {
			bad = append(bad, sc.String()+"."+name+": got "+itoa(g)+", want "+itoa(w))
		}
	}
	eq("calls", got.Calls, want.Calls)
	eq("errors", got.Errors, want.Errors)
	eq("timeouts", got.Timeouts, want.Timeouts)
	eq("ready", got.Ready, want.Ready)
	eq("fds_watched", got.FdsWatched, want.FdsWatched)
	eq("fds_watched_unknown_calls", got.FdsWatchedUnknown, 0)
	eq("fd_polls", got.FdPolls, want.FdPolls)
	eq("bytes_in", got.BytesIn, want.BytesIn)
	eq("bytes_out", got.BytesOut, want.BytesOut)
	eq("sleeps", got.Sleeps, want.Sleeps)
	eq("wakeups", got.Wakeups, want.Wakeups)
	eq("maxevents_hits", got.MaxeventsHits, want.MaxeventsHits)
	eq("ready_list_at_entry.sum", got.ReadyListAtEntry.Sum, want.ReadyListAtEntry.Sum)
	eq("ready_list_at_entry.max", got.ReadyListAtEntry.Max, want.ReadyListAtEntry.Max)
	eq("ready_list_at_exit.sum", got.ReadyListAtExit.Sum, want.ReadyListAtExit.Sum)
	eq("ready_list_at_exit.max", got.ReadyListAtExit.Max, want.ReadyListAtExit.Max)
	eq("ready_list_truncated", got.ReadyListTruncated, 0)
	eq("ready_list_unknown", got.ReadyListUnknown, 0)
	eq("errno kinds", uint64(len(got.ErrorsByErrno)), uint64(len(want.Errnos)))
	for name, n := range want.Errnos {
		eq("errors_by_errno."+name, got.ErrorsByErrno[name], n)
	}

	// Latency and off-CPU time are not known in advance, but they are
	// bound to each other and to the calls.
	h := got.Latency
	eq("latency.count", h.Count, want.Calls)
	var inBuckets uint64
	for _, n := range h.Buckets {
		inBuckets += n
	}
	eq("latency buckets total", inBuckets, want.Calls)
	if h.Count > 0 && (h.Min > h.Max || h.Sum < h.Max || h.Min*h.Count > h.Sum) {
		bad = append(bad, sc.String()+": latency min/max/sum inconsistent: "+itoa(h.Min)+"/"+itoa(h.Max)+"/"+itoa(h.Sum))
	}
	if got.BlockedNs > h.Sum {
		bad = append(bad, sc.String()+": blocked_ns "+itoa(got.BlockedNs)+" exceeds the time spent in calls "+itoa(h.Sum))
	}
	if want.Blocking && got.BlockedNs < uint64(WakeDelay/2) {
		bad = append(bad, sc.String()+": blocked_ns "+itoa(got.BlockedNs)+", want at least "+itoa(uint64(WakeDelay/2))+" (a call slept ~"+WakeDelay.String()+")")
	}
	return bad
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// StatsFromEvents rebuilds a thread's per-syscall figures from its per-call
// events, the way the kernel side accumulates them, so that the events can
// be held to the same ground truth.
func StatsFromEvents(events []model.CallEvent, tid int, errnoName func(int) string) model.SyscallStats {
	out := model.SyscallStats{}
	for _, e := range events {
		if e.Tid != tid {
			continue
		}
		s := out[e.Syscall]
		if s == nil {
			s = &model.Stats{}
			out[e.Syscall] = s
		}
		s.Calls++
		s.Latency.Observe(e.DurationNs)
		switch {
		case e.Ret < 0:
			s.Errors++
			if s.ErrorsByErrno == nil {
				s.ErrorsByErrno = map[string]uint64{}
			}
			s.ErrorsByErrno[errnoName(int(-e.Ret))]++
		case e.Syscall == model.EpollCtl:
		case e.Ret == 0:
			s.Timeouts++
		default:
			s.Ready += uint64(e.Ret)
		}
		if e.FdsWatched == nil {
			s.FdsWatchedUnknown++
		} else {
			s.FdsWatched += *e.FdsWatched
		}
		s.FdPolls += e.FdPolls
		s.BytesIn += e.BytesIn
		s.BytesOut += e.BytesOut
		s.Sleeps += uint64(e.Sleeps)
		s.Wakeups += uint64(e.Wakeups)
		s.BlockedNs += e.BlockedNs
		if e.Syscall.Family() == model.FamilyEpoll && e.Syscall.Waits() && e.Ret > 0 && int(e.Ret) == e.Arg {
			s.MaxeventsHits++
		}
		if e.ReadyListAtEntry != nil {
			s.ReadyListAtEntry.Add(model.MaxSum{Sum: uint64(*e.ReadyListAtEntry), Max: uint64(*e.ReadyListAtEntry)})
			s.ReadyListAtExit.Add(model.MaxSum{Sum: uint64(*e.ReadyListAtExit), Max: uint64(*e.ReadyListAtExit)})
		}
	}
	return out
}
