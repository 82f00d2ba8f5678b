package model

import (
	"fmt"
	"time"
)

// MarshalText writes a syscall by name.
func (s Syscall) MarshalText() ([]byte, error) {
	if s < 0 || s >= NumSyscalls {
		return nil, fmt.Errorf("unknown syscall %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a syscall name.
func (s *Syscall) UnmarshalText(b []byte) error {
	v, ok := ParseSyscall(string(b))
	if !ok {
		return fmt.Errorf("unknown syscall %q", b)
	}
	*s = v
	return nil
}

// CallEvent is one traced call, recorded with --events.
type CallEvent struct {
	Time       time.Time `json:"time"` // wall-clock time at entry
	Pid        int       `json:"pid"`
	Tid        int       `json:"tid"`
	Syscall    Syscall   `json:"syscall"`
	DurationNs uint64    `json:"duration_ns"`
	Ret        int64     `json:"ret"`
	// Arg is nfds (poll), n (select), maxevents (epoll waits) or the op
	// (epoll_ctl: 1 add, 2 del, 3 mod).
	Arg  int  `json:"arg"`
	Epfd *int `json:"epfd,omitempty"`
	// FdsWatched is null for an epoll wait on an instance of unknown size.
	FdsWatched *uint64 `json:"fds_watched"`
	FdPolls    uint64  `json:"fd_polls"`
	BytesIn    uint64  `json:"bytes_in"`
	BytesOut   uint64  `json:"bytes_out"`
	Sleeps     uint32  `json:"sleeps"`
	Wakeups    uint32  `json:"wakeups"`
	BlockedNs  uint64  `json:"blocked_ns"`
	// LastWakeup is when the kernel last woke the thread inside the call.
	LastWakeup *time.Time `json:"last_wakeup,omitempty"`
	// Ready-list lengths, for successful epoll waits only.
	ReadyListAtEntry *int `json:"ready_list_at_entry,omitempty"`
	ReadyListAtExit  *int `json:"ready_list_at_exit,omitempty"`
}

// ProcessDelta is what one process did during an interval.
type ProcessDelta struct {
	Pid      int          `json:"pid"`
	Comm     string       `json:"comm"`
	Syscalls SyscallStats `json:"syscalls"`
}

// Interval holds the per-process, per-syscall changes between two
// snapshots. Latency min and max in it are those of the whole run so far
// (they cannot be split by interval); counts, sums and buckets are exact.
type Interval struct {
	Start     time.Time       `json:"start"`
	End       time.Time       `json:"end"`
	Processes []*ProcessDelta `json:"processes"`
}

// Delta returns the interval between prev (nil: the start) and cur, keeping
// only the processes and syscalls that made calls in between.
func Delta(prev, cur *Snapshot, start, end time.Time) Interval {
	iv := Interval{Start: start, End: end, Processes: []*ProcessDelta{}}
	for _, p := range cur.Processes {
		var pp *Process
		if prev != nil {
			pp = prev.Process(p.Pid)
		}
		d := &ProcessDelta{Pid: p.Pid, Comm: p.Comm, Syscalls: SyscallStats{}}
		for sc, s := range p.Syscalls {
			var before *Stats
			if pp != nil {
				before = pp.Syscalls[sc]
			}
			if ds := s.Since(before); ds.Calls > 0 {
				d.Syscalls[sc] = ds
			}
		}
		if len(d.Syscalls) > 0 {
			iv.Processes = append(iv.Processes, d)
		}
	}
	return iv
}
