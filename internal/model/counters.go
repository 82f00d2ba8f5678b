package model

// Counter describes one raw figure: a per-syscall field of Stats or a
// per-epoll-instance field of EpollInstance. CounterTable is the one place
// their one-line meanings and provenance are written: the trace's
// meta.provenance, the "~" marks of the views and the Prometheus
// endpoint's HELP lines read it; docs/metrics.md has the whole story under
// the same names.
type Counter struct {
	// Key is the figure's name in the trace (its JSON key), and the name
	// docs/metrics.md gives it.
	Key     string
	Meaning string
	// Applies says which syscalls have the figure (nil: every syscall);
	// nil for the per-instance figures.
	Applies func(Syscall) bool
	// Instance marks a per-epoll-instance figure.
	Instance bool
	// sources gives the figure's source per model; a model not listed
	// takes the entry for "". modeSources, where a probe mode sees more,
	// overrides it for that mode.
	sources     map[Family]Source
	modeSources map[string]map[Family]Source
}

func waits(sc Syscall) bool     { return sc.Waits() }
func epollWait(sc Syscall) bool { return sc.Waits() && sc.Family() == FamilyEpoll }

func same(p Provenance) map[Family]Source { return map[Family]Source{"": {Provenance: p}} }

// CounterTable lists the raw figures in the order of docs/metrics.md. Only
// epoll's fds_watched depends on the probe mode in this version; no mode
// observes the readiness checks yet.
var CounterTable = []Counter{
	{Key: "calls", sources: same(Observed), Meaning: "completed calls"},
	{Key: "errors", sources: same(FromArguments), Meaning: "calls that returned a negative errno, by errno as the exit hook saw it"},
	{Key: "errors_by_errno", sources: same(FromArguments), Meaning: "the errors by errno name"},
	{Key: "timeouts", sources: same(FromArguments), Applies: waits,
		Meaning: "waits that returned 0 (nothing ready before the timeout, timeout-0 polling included)"},
	{Key: "ready", sources: same(FromArguments), Applies: waits,
		Meaning: "sum of the waits' positive return values: fds (events) reported ready; select counts an fd once per set"},
	{Key: "fds_watched", Applies: waits,
		Meaning: "fds the caller asked about, summed over calls (nfds, the set bits of select's sets, the epoll interest list size); divide by calls whose size was known for the per-call size",
		sources: map[Family]Source{
			"":          {Provenance: FromArguments},
			FamilyEpoll: {Provenance: Estimated, Estimate: "the interest list's size tracked from epoll_ctl ADD and DEL and a target's close(2) of a last reference, resynchronised from /proc/PID/fdinfo every interval; a release by exit, dup2 or another process is missed until then"},
		},
		modeSources: map[string]map[Family]Source{
			// The kernel's own removal on last close is probed, so every
			// change of the list is counted where it happens.
			"fentry": {FamilyEpoll: {Provenance: Observed}},
			"kprobe": {FamilyEpoll: {Provenance: Observed}},
		}},
	{Key: "fds_watched_unknown_calls", sources: same(Observed), Applies: epollWait,
		Meaning: "epoll waits on an instance whose interest list size iotrace did not know yet, left out of fds_watched"},
	{Key: "fd_polls",
		Meaning: "per-fd readiness checks (->poll calls) the kernel made for the calls, estimated by a model in the BPF program where no probe sees them: from the arguments, the epoll ready list walked at entry and the sleeps and wakeups in the call",
		sources: map[Family]Source{
			FamilySelect: {Provenance: Estimated, Estimate: "distinct fds in the sets × (1 + max(voluntary sleeps, wakeups) in the call)"},
			FamilyPoll:   {Provenance: Estimated, Estimate: "nfds × (1 + max(voluntary sleeps, wakeups) in the call)"},
			FamilyEpoll:  {Provenance: Estimated, Estimate: "the ready list walked at entry (its items are polled again, level-triggered ones included; a wait that fills maxevents: its events) plus the events returned after a sleep; epoll_ctl ADD and MOD: 1"},
			"":           {Provenance: Estimated, Estimate: "a model of the kernel's passes"},
		}},
	{Key: "bytes_in", sources: same(FromArguments),
		Meaning: "bytes of fd sets, pollfds and epoll events copied from user to kernel memory"},
	{Key: "bytes_out", sources: same(FromArguments),
		Meaning: "bytes of fd sets, revents and epoll events copied from kernel to user memory"},
	{Key: "wakeups", sources: same(Observed), Meaning: "sched_wakeup events for the thread while inside the call"},
	{Key: "sleeps", sources: same(Observed), Meaning: "voluntary context switches of the thread inside the call"},
	{Key: "blocked_ns", sources: same(Observed), Meaning: "time off CPU inside the call, asleep or preempted"},
	{Key: "maxevents_hits", sources: same(FromArguments), Applies: epollWait,
		Meaning: "epoll waits that returned exactly maxevents events (the buffer was full)"},
	{Key: "latency_ns", sources: same(Observed),
		Meaning: "time from syscall entry to exit, in the BPF program's log2 buckets"},
	{Key: "ready_list_at_entry", sources: same(Observed), Applies: epollWait,
		Meaning: "length of the epoll instance's ready list walked at entry of successful waits"},
	{Key: "ready_list_at_exit", sources: same(Observed), Applies: epollWait,
		Meaning: "length of the epoll instance's ready list walked at exit of successful waits"},
	{Key: "ready_list_truncated", sources: same(Observed), Applies: epollWait,
		Meaning: "ready-list walks that stopped at the 4,096-entry limit"},
	{Key: "ready_list_unknown", sources: same(Observed), Applies: epollWait,
		Meaning: "waits whose ready-list walk gave no length (it did not come back to the list head, saw the list move, or counted more items than the instance holds); left out of the sums and maxima"},

	{Key: "registered", Instance: true, sources: same(Observed),
		Meaning: "size of the epoll instance's interest list, from /proc/PID/fdinfo while the process lives, else tracked from epoll_ctl"},
	{Key: "ctl", Instance: true, sources: same(Observed), Meaning: "epoll_ctl calls on the instance by operation, failed ones included"},
	{Key: "ep_poll_callbacks", Instance: true, sources: same(Observed),
		Meaning: "runs of the kernel's ep_poll_callback for the instance: a watched file woke it (fentry and kprobe modes only)"},
	{Key: "callbacks_already_queued", Instance: true, sources: same(Observed),
		Meaning: "ep_poll_callback runs that found the item already queued: wakeups that added no work"},
	{Key: "callbacks_ignored", Instance: true, sources: same(Observed),
		Meaning: "ep_poll_callback runs whose event was not in the item's mask, or whose item was disabled by EPOLLONESHOT"},
}

// CounterByKey returns the raw figure named key, or nil.
func CounterByKey(key string) *Counter {
	for i := range CounterTable {
		if CounterTable[i].Key == key {
			return &CounterTable[i]
		}
	}
	return nil
}

// AppliesTo reports whether syscall sc has the figure.
func (c *Counter) AppliesTo(sc Syscall) bool { return c.Applies == nil || c.Applies(sc) }

// Source is the figure's source for model fam in probe mode mode.
func (c *Counter) Source(fam Family, mode string) Source {
	if s, ok := c.modeSources[mode][fam]; ok {
		return s
	}
	if s, ok := c.sources[fam]; ok {
		return s
	}
	return c.sources[""]
}

// ProvenanceText says in words how the figure is obtained over every
// model: "observed", "from arguments", "estimated", or, where the models
// differ, "from arguments; estimated for epoll". Help texts use it.
func (c *Counter) ProvenanceText(mode string) string {
	base := c.Source("", mode).Provenance
	var other []string
	var otherP Provenance
	for _, f := range Families {
		if p := c.Source(f, mode).Provenance; p != base {
			other, otherP = append(other, string(f)), p
		}
	}
	text := base.Words()
	if len(other) > 0 {
		text += "; " + otherP.Words() + " for " + joinWords(other)
	}
	return text
}

// Words is the provenance as help texts write it.
func (p Provenance) Words() string {
	if p == FromArguments {
		return "from arguments"
	}
	return string(p)
}

func joinWords(s []string) string {
	out := ""
	for i, w := range s {
		if i > 0 {
			out += " and "
		}
		out += w
	}
	return out
}
