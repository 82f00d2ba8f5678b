// Package model holds iotrace's measurements as plain Go data: per-thread,
// per-process and per-syscall statistics, epoll instances and the run's
// metadata. It is shared by the collector, the text and JSON writers and the
// dashboard, and deliberately imports nothing from cilium/ebpf.
package model

import (
	"fmt"
	"sort"
	"time"
)

// Syscall identifies one traced system call. The numbering is shared with
// the BPF program (enum sc in bpf/iotrace.bpf.c).
type Syscall int

// The traced system calls.
const (
	Select Syscall = iota
	Pselect6
	Poll
	Ppoll
	EpollWait
	EpollPwait
	EpollPwait2
	EpollCtl
	NumSyscalls
)

var syscallNames = [NumSyscalls]string{
	"select", "pselect6", "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl",
}

func (s Syscall) String() string {
	if s < 0 || s >= NumSyscalls {
		return fmt.Sprintf("syscall(%d)", int(s))
	}
	return syscallNames[s]
}

// ParseSyscall returns the Syscall with the given name.
func ParseSyscall(name string) (Syscall, bool) {
	for i, n := range syscallNames {
		if n == name {
			return Syscall(i), true
		}
	}
	return 0, false
}

// Waits reports whether the call waits for readiness (everything but epoll_ctl).
func (s Syscall) Waits() bool { return s != EpollCtl }

// Family is an I/O multiplexing model.
type Family string

// The three model families.
const (
	FamilySelect Family = "select"
	FamilyPoll   Family = "poll"
	FamilyEpoll  Family = "epoll"
)

// Families lists the families in display order.
var Families = []Family{FamilySelect, FamilyPoll, FamilyEpoll}

// Family returns the model a syscall belongs to.
func (s Syscall) Family() Family {
	switch s {
	case Select, Pselect6:
		return FamilySelect
	case Poll, Ppoll:
		return FamilyPoll
	default:
		return FamilyEpoll
	}
}

// MaxSum accumulates a sum and a maximum.
type MaxSum struct {
	Sum uint64 `json:"sum"`
	Max uint64 `json:"max"`
}

// Add folds o into m.
func (m *MaxSum) Add(o MaxSum) {
	m.Sum += o.Sum
	if o.Max > m.Max {
		m.Max = o.Max
	}
}

// Stats are the exact figures for one syscall of one thread (or summed over
// threads, processes or syscalls). Field meanings are documented in
// docs/metrics.md.
type Stats struct {
	Calls         uint64 `json:"calls"`
	Errors        uint64 `json:"errors"`
	Timeouts      uint64 `json:"timeouts"`
	Ready         uint64 `json:"ready"`
	FdsWatched    uint64 `json:"-"`
	FdPolls       uint64 `json:"fd_polls"`
	BytesIn       uint64 `json:"bytes_in"`
	BytesOut      uint64 `json:"bytes_out"`
	Wakeups       uint64 `json:"wakeups"`
	Sleeps        uint64 `json:"sleeps"`
	BlockedNs     uint64 `json:"blocked_ns"`
	MaxeventsHits uint64 `json:"maxevents_hits"`
	// FdsWatchedUnknown counts epoll waits on an instance whose interest
	// list size iotrace did not know (yet); FdsWatched sums the other calls.
	FdsWatchedUnknown  uint64            `json:"-"`
	ErrorsByErrno      map[string]uint64 `json:"errors_by_errno,omitempty"`
	Latency            Histogram         `json:"latency_ns"`
	ReadyListAtEntry   MaxSum            `json:"ready_list_at_entry"`
	ReadyListAtExit    MaxSum            `json:"ready_list_at_exit"`
	ReadyListTruncated uint64            `json:"ready_list_truncated"`
	// ReadyListUnknown counts epoll waits whose ready-list walk gave no
	// length (it did not come back to the list head, the list was being
	// transferred under it, or it counted more items than the instance
	// has); the ready-list sums and maxima leave those calls out.
	ReadyListUnknown uint64 `json:"ready_list_unknown"`
}

// Add folds o into s.
func (s *Stats) Add(o *Stats) {
	s.Calls += o.Calls
	s.Errors += o.Errors
	s.Timeouts += o.Timeouts
	s.Ready += o.Ready
	s.FdsWatched += o.FdsWatched
	s.FdPolls += o.FdPolls
	s.BytesIn += o.BytesIn
	s.BytesOut += o.BytesOut
	s.Wakeups += o.Wakeups
	s.Sleeps += o.Sleeps
	s.BlockedNs += o.BlockedNs
	s.MaxeventsHits += o.MaxeventsHits
	s.FdsWatchedUnknown += o.FdsWatchedUnknown
	for k, v := range o.ErrorsByErrno {
		if s.ErrorsByErrno == nil {
			s.ErrorsByErrno = map[string]uint64{}
		}
		s.ErrorsByErrno[k] += v
	}
	s.Latency.Add(&o.Latency)
	s.ReadyListAtEntry.Add(o.ReadyListAtEntry)
	s.ReadyListAtExit.Add(o.ReadyListAtExit)
	s.ReadyListTruncated += o.ReadyListTruncated
	s.ReadyListUnknown += o.ReadyListUnknown
}

// Clone returns a deep copy.
func (s *Stats) Clone() *Stats {
	c := *s
	c.ErrorsByErrno = nil
	for k, v := range s.ErrorsByErrno {
		if c.ErrorsByErrno == nil {
			c.ErrorsByErrno = map[string]uint64{}
		}
		c.ErrorsByErrno[k] = v
	}
	return &c
}

// Sub returns s - prev for the counters; min and max of the latency are
// those of s (they cannot be un-merged), maxima likewise. It assumes prev
// is an earlier reading of the same counters: Since is the delta to use.
func (s *Stats) Sub(prev *Stats) *Stats {
	d := s.Clone()
	if prev == nil {
		return d
	}
	d.Calls -= prev.Calls
	d.Errors -= prev.Errors
	d.Timeouts -= prev.Timeouts
	d.Ready -= prev.Ready
	d.FdsWatched -= prev.FdsWatched
	d.FdPolls -= prev.FdPolls
	d.BytesIn -= prev.BytesIn
	d.BytesOut -= prev.BytesOut
	d.Wakeups -= prev.Wakeups
	d.Sleeps -= prev.Sleeps
	d.BlockedNs -= prev.BlockedNs
	d.MaxeventsHits -= prev.MaxeventsHits
	d.FdsWatchedUnknown -= prev.FdsWatchedUnknown
	for k, v := range prev.ErrorsByErrno {
		d.ErrorsByErrno[k] -= v
		if d.ErrorsByErrno[k] == 0 {
			delete(d.ErrorsByErrno, k)
		}
	}
	d.Latency = s.Latency.Sub(&prev.Latency)
	d.ReadyListAtEntry.Sum -= prev.ReadyListAtEntry.Sum
	d.ReadyListAtExit.Sum -= prev.ReadyListAtExit.Sum
	d.ReadyListTruncated -= prev.ReadyListTruncated
	d.ReadyListUnknown -= prev.ReadyListUnknown
	return d
}

// Since is the one interval delta of iotrace: the change from prev (an
// earlier reading, nil for the start) to s. When a counter went backwards
// (the thread or process id was reused, or the kernel's entry was
// recreated), prev belongs to something else and s is the whole change.
func (s *Stats) Since(prev *Stats) *Stats {
	if prev == nil || s.wentBackFrom(prev) {
		return s.Clone()
	}
	return s.Sub(prev)
}

// wentBackFrom reports whether any counter of s is below prev's.
func (s *Stats) wentBackFrom(prev *Stats) bool {
	if s.Calls < prev.Calls || s.Errors < prev.Errors || s.Timeouts < prev.Timeouts ||
		s.Ready < prev.Ready || s.FdsWatched < prev.FdsWatched || s.FdPolls < prev.FdPolls ||
		s.BytesIn < prev.BytesIn || s.BytesOut < prev.BytesOut || s.Wakeups < prev.Wakeups ||
		s.Sleeps < prev.Sleeps || s.BlockedNs < prev.BlockedNs || s.MaxeventsHits < prev.MaxeventsHits ||
		s.FdsWatchedUnknown < prev.FdsWatchedUnknown || s.Latency.wentBackFrom(&prev.Latency) ||
		s.ReadyListAtEntry.Sum < prev.ReadyListAtEntry.Sum || s.ReadyListAtExit.Sum < prev.ReadyListAtExit.Sum ||
		s.ReadyListTruncated < prev.ReadyListTruncated || s.ReadyListUnknown < prev.ReadyListUnknown {
		return true
	}
	for k, v := range prev.ErrorsByErrno {
		if s.ErrorsByErrno[k] < v {
			return true
		}
	}
	return false
}

// SyscallStats maps each syscall a thread or process made to its figures.
type SyscallStats map[Syscall]*Stats

// FdsPerCall is the mean interest-set size over the calls whose size was
// known; ok is false when there were none.
func (s *Stats) FdsPerCall() (v float64, ok bool) {
	known := s.Calls - s.FdsWatchedUnknown
	if s.FdsWatchedUnknown > s.Calls || known == 0 {
		return 0, false
	}
	return float64(s.FdsWatched) / float64(known), true
}

// Total sums every syscall in the map that satisfies keep (all if nil).
func (m SyscallStats) Total(keep func(Syscall) bool) *Stats {
	t := &Stats{}
	for sc, s := range m {
		if keep == nil || keep(sc) {
			t.Add(s)
		}
	}
	return t
}

// ByFamily sums the waiting syscalls of each model family.
func (m SyscallStats) ByFamily() map[Family]*Stats {
	out := map[Family]*Stats{}
	for sc, s := range m {
		if !sc.Waits() {
			continue
		}
		f := sc.Family()
		if out[f] == nil {
			out[f] = &Stats{}
		}
		out[f].Add(s)
	}
	return out
}

// Since returns the change of every syscall in m from prev (nil: the
// start), through Stats.Since.
func (m SyscallStats) Since(prev SyscallStats) SyscallStats {
	out := make(SyscallStats, len(m))
	for sc, st := range m {
		out[sc] = st.Since(prev[sc])
	}
	return out
}

// Merge adds every entry of o into m.
func (m SyscallStats) Merge(o SyscallStats) {
	for sc, s := range o {
		if m[sc] == nil {
			m[sc] = &Stats{}
		}
		m[sc].Add(s)
	}
}

// Sorted returns the syscalls present, in Syscall order.
func (m SyscallStats) Sorted() []Syscall {
	out := make([]Syscall, 0, len(m))
	for sc := range m {
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Thread is one traced thread.
type Thread struct {
	Tid      int          `json:"tid"`
	Comm     string       `json:"comm"`
	Syscalls SyscallStats `json:"syscalls"`
}

// CtlCounts counts epoll_ctl calls by operation.
type CtlCounts struct {
	Add uint64 `json:"add"`
	Mod uint64 `json:"mod"`
	Del uint64 `json:"del"`
}

// EpollInstance describes one epoll instance of a traced process. Pointer
// fields are nil when the probe mode cannot measure them.
type EpollInstance struct {
	Epfd int `json:"epfd"`
	// Registered is the size of the interest list: from /proc fdinfo while
	// the process lives, else as tracked from epoll_ctl; nil if unknown.
	Registered             *int64    `json:"registered"`
	EpPollCallbacks        *uint64   `json:"ep_poll_callbacks"`
	CallbacksAlreadyQueued *uint64   `json:"callbacks_already_queued"`
	CallbacksIgnored       *uint64   `json:"callbacks_ignored"`
	Ctl                    CtlCounts `json:"ctl"`
}

// Process is one traced process with its threads.
type Process struct {
	Pid  int    `json:"pid"`
	Comm string `json:"comm"`
	// NsPid is the pid as the process sees itself when it lives in another
	// pid namespace (a container's); 0 (omitted) when it is Pid.
	NsPid int `json:"ns_pid,omitempty"`
	// Cgroup is the process's cgroup v2 path, as /proc/PID/cgroup shows it
	// to iotrace (relative to iotrace's cgroup namespace), read when
	// iotrace first met the process; omitted when unknown.
	Cgroup         string          `json:"cgroup,omitempty"`
	Exited         bool            `json:"exited"`
	Syscalls       SyscallStats    `json:"syscalls"`
	Threads        []*Thread       `json:"threads"`
	EpollInstances []EpollInstance `json:"epoll_instances"`
	// IOUring is the process's io_uring activity; nil when it has none,
	// and then IOUringNote says why (disabled, no ring seen, no tracepoints).
	IOUring     *UringStats `json:"io_uring,omitempty"`
	IOUringNote string      `json:"io_uring_note,omitempty"`
}

// Meta describes a run.
type Meta struct {
	Kernel      string            `json:"kernel"`
	ProbeMode   string            `json:"probe_mode"`
	ProbeNotes  string            `json:"probe_notes,omitempty"`
	Started     time.Time         `json:"started"`
	Ended       time.Time         `json:"ended"`
	Targets     []string          `json:"targets"`
	LostEvents  uint64            `json:"lost_events"`
	Lost        map[string]uint64 `json:"lost,omitempty"`
	Unavailable map[string]string `json:"unavailable"`
	// Provenance says, per counter and model, whether it was observed,
	// computed from arguments or estimated (and by which model).
	Provenance Sources     `json:"provenance,omitempty"`
	Command    []string    `json:"command,omitempty"`
	ExitStatus *int        `json:"exit_status,omitempty"`
	Interval   Duration    `json:"interval_ns,omitempty"`
	Events     *EventsInfo `json:"events,omitempty"`
}

// EventsInfo says how many per-call events a trace holds.
type EventsInfo struct {
	Recorded  uint64 `json:"recorded"`
	OverLimit uint64 `json:"over_limit"` // past --events-limit, counted, not written
	Limit     int    `json:"limit,omitempty"`
}

// Duration is a time.Duration written as integer nanoseconds.
type Duration = time.Duration

// Snapshot is the cumulative state of a run at one moment.
type Snapshot struct {
	Meta      Meta       `json:"meta"`
	Processes []*Process `json:"processes"`
}

// Process returns the process with the given pid, or nil.
func (s *Snapshot) Process(pid int) *Process {
	for _, p := range s.Processes {
		if p.Pid == pid {
			return p
		}
	}
	return nil
}

// Thread returns the thread with the given tid, or nil.
func (p *Process) Thread(tid int) *Thread {
	for _, t := range p.Threads {
		if t.Tid == tid {
			return t
		}
	}
	return nil
}

// Epoll returns the epoll instance with the given fd, or nil.
func (p *Process) Epoll(epfd int) *EpollInstance {
	for i := range p.EpollInstances {
		if p.EpollInstances[i].Epfd == epfd {
			return &p.EpollInstances[i]
		}
	}
	return nil
}

// Total sums all syscalls of all processes that satisfy keep.
func (s *Snapshot) Total(keep func(Syscall) bool) *Stats {
	t := &Stats{}
	for _, p := range s.Processes {
		t.Add(p.Syscalls.Total(keep))
	}
	return t
}
