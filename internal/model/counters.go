package model

// Provenance says where a figure comes from (docs/metrics.md): what the
// kernel did (observed), what the caller passed (from arguments), or a
// figure the BPF program works out from a model of the kernel's code
// (estimated).
type Provenance string

// The provenances.
const (
	Observed      Provenance = "observed"
	FromArguments Provenance = "from arguments"
	Estimated     Provenance = "estimated"
)

// Counter describes one raw figure: a per-syscall field of Stats or a
// per-epoll-instance field of EpollInstance. CounterTable is the one place
// their one-line meanings and provenance are written for help texts (the
// Prometheus endpoint's HELP lines); docs/metrics.md has the whole story
// under the same names.
type Counter struct {
	// Key is the figure's name in the trace (its JSON key), and the name
	// docs/metrics.md gives it.
	Key        string
	Meaning    string
	Provenance Provenance
	// Applies says which syscalls have the figure (nil: every syscall);
	// nil for the per-instance figures.
	Applies func(Syscall) bool
}

func waits(sc Syscall) bool     { return sc.Waits() }
func epollWait(sc Syscall) bool { return sc.Waits() && sc.Family() == FamilyEpoll }

// CounterTable lists the raw figures in the order of docs/metrics.md.
var CounterTable = []Counter{
	{Key: "calls", Provenance: Observed, Meaning: "completed calls"},
	{Key: "errors", Provenance: Observed, Meaning: "calls that returned a negative errno, by errno as the exit hook saw it"},
	{Key: "timeouts", Provenance: Observed, Applies: waits,
		Meaning: "waits that returned 0 (nothing ready before the timeout, timeout-0 polling included)"},
	{Key: "ready", Provenance: Observed, Applies: waits,
		Meaning: "sum of the waits' positive return values: fds (events) reported ready; select counts an fd once per set"},
	{Key: "fds_watched", Provenance: FromArguments, Applies: waits,
		Meaning: "fds the caller asked about, summed over calls (nfds, the set bits of select's sets, the epoll interest list size); divide by calls whose size was known for the per-call size"},
	{Key: "fds_watched_unknown_calls", Provenance: Observed, Applies: epollWait,
		Meaning: "epoll waits on an instance whose interest list size iotrace did not know yet, left out of fds_watched"},
	{Key: "fd_polls", Provenance: Estimated,
		Meaning: "per-fd readiness checks (vfs_poll) the kernel made, estimated by a model of the kernel's loops in the BPF program in this version: distinct fds x (1 + sleeps) for select and poll, one per returned event for epoll, 1 per epoll_ctl ADD or MOD"},
	{Key: "bytes_in", Provenance: FromArguments,
		Meaning: "bytes of fd sets, pollfds and epoll events copied from user to kernel memory"},
	{Key: "bytes_out", Provenance: FromArguments,
		Meaning: "bytes of fd sets, revents and epoll events copied from kernel to user memory"},
	{Key: "wakeups", Provenance: Observed, Meaning: "sched_wakeup events for the thread while inside the call"},
	{Key: "sleeps", Provenance: Observed, Meaning: "voluntary context switches of the thread inside the call"},
	{Key: "blocked_ns", Provenance: Observed, Meaning: "time off CPU inside the call, asleep or preempted"},
	{Key: "maxevents_hits", Provenance: Observed, Applies: epollWait,
		Meaning: "epoll waits that returned exactly maxevents events (the buffer was full)"},
	{Key: "latency_ns", Provenance: Observed,
		Meaning: "time from syscall entry to exit, in the BPF program's log2 buckets"},
	{Key: "ready_list_at_entry", Provenance: Observed, Applies: epollWait,
		Meaning: "length of the epoll instance's ready list walked at entry of successful waits"},
	{Key: "ready_list_at_exit", Provenance: Observed, Applies: epollWait,
		Meaning: "length of the epoll instance's ready list walked at exit of successful waits"},
	{Key: "ready_list_truncated", Provenance: Observed, Applies: epollWait,
		Meaning: "ready-list walks that stopped at the 4,096-entry limit"},

	{Key: "registered", Provenance: Observed,
		Meaning: "size of the epoll instance's interest list, from /proc/PID/fdinfo while the process lives, else tracked from epoll_ctl"},
	{Key: "ctl", Provenance: Observed, Meaning: "epoll_ctl calls on the instance by operation, failed ones included"},
	{Key: "ep_poll_callbacks", Provenance: Observed,
		Meaning: "runs of the kernel's ep_poll_callback for the instance: a watched file woke it (fentry and kprobe modes only)"},
	{Key: "callbacks_already_queued", Provenance: Observed,
		Meaning: "ep_poll_callback runs that found the item already queued: wakeups that added no work"},
	{Key: "callbacks_ignored", Provenance: Observed,
		Meaning: "ep_poll_callback runs whose event was not in the item's mask, or whose item was disabled by EPOLLONESHOT"},
}

// CounterByKey returns the raw figure named key; it panics on a name that
// is not in the table, which is a programming error caught by any test
// that reaches it.
func CounterByKey(key string) *Counter {
	for i := range CounterTable {
		if CounterTable[i].Key == key {
			return &CounterTable[i]
		}
	}
	panic("model: no counter " + key + " in CounterTable")
}

// AppliesTo reports whether syscall sc has the figure.
func (c *Counter) AppliesTo(sc Syscall) bool { return c.Applies == nil || c.Applies(sc) }
