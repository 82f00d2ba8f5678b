package collector

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/iotrace/iotrace/internal/model"
)

// counterNames are the meta.lost names of the kernel-side counters, one per
// index of the `counters` map (enum counter). A counter added in C gets a
// slot here with no name, which contract_test.go reports.
var counterNames = [iotraceCounterNR_COUNTERS]string{
	iotraceCounterLOST_STATS:       "stats_map_full",
	iotraceCounterLOST_INFLIGHT:    "inflight_map_full",
	iotraceCounterLOST_EVENTS:      "ringbuf_full",
	iotraceCounterLOST_ERRS:        "errno_map_full",
	iotraceCounterSELECT_TRUNC:     "select_sets_truncated",
	iotraceCounterLOST_EPOLL:       "epoll_map_full",
	iotraceCounterLOST_CALL_EVENTS: "call_events_ringbuf_full",
	iotraceCounterLOST_EXIT:        "missed_exits",
	iotraceCounterEXIT_DISCARDED:   "exits_discarded",
	iotraceCounterUSER_READ_FAILED: "user_reads_failed",
	iotraceCounterLOST_EP_OWNER:    "epoll_owner_map_full",
}

// lossCounters are the counters that mean something was not recorded and
// add up to meta.lost_events (select_sets_truncated is not a lost event).
var lossCounters = map[iotraceCounter]bool{
	iotraceCounterLOST_STATS: true, iotraceCounterLOST_INFLIGHT: true, iotraceCounterLOST_EVENTS: true,
	iotraceCounterLOST_ERRS: true, iotraceCounterLOST_EPOLL: true, iotraceCounterLOST_CALL_EVENTS: true,
	iotraceCounterLOST_EXIT: true, iotraceCounterEXIT_DISCARDED: true, iotraceCounterUSER_READ_FAILED: true,
	iotraceCounterLOST_EP_OWNER: true,
}

// Losses the kernel counts outside the program's counters map, named in
// meta.lost. They are not added to meta.lost_events: the kernel counts
// them for every process (a kretprobe's pool and a program's runs are
// shared by the whole machine), so they bound what the targets lost;
// missed_exits counts the targets' own missed exits.
const (
	lostRecursion = "recursion_misses" // a program not run: another BPF program ran on that CPU
	lostKprobe    = "kprobe_misses"    // kprobe/kretprobe not run (kretprobe: no free instance)
)

// Snapshot reads the kernel's maps into a cumulative snapshot.
func (c *Collector) Snapshot() (*model.Snapshot, error) {
	threads := map[int]map[int]model.SyscallStats{} // tgid -> tid -> stats
	byTid := map[iotraceStatsKey]*model.Stats{}
	var (
		k iotraceStatsKey
		v iotraceStats
	)
	it := c.objs.CallStats.Iterate()
	for it.Next(&k, &v) {
		if k.Sc >= iotraceSc(model.NumSyscalls) {
			continue
		}
		tgid, tid := int(v.Tgid), int(k.Tid)
		if !c.filter.keep(tgid, tid, model.Syscall(k.Sc)) {
			continue
		}
		s := convertStats(&v)
		if threads[tgid] == nil {
			threads[tgid] = map[int]model.SyscallStats{}
		}
		if threads[tgid][tid] == nil {
			threads[tgid][tid] = model.SyscallStats{}
		}
		threads[tgid][tid][model.Syscall(k.Sc)] = s
		byTid[k] = s
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading call statistics: %w", err)
	}

	var (
		ek iotraceErrKey
		ev uint64
	)
	eit := c.objs.Errs.Iterate()
	for eit.Next(&ek, &ev) {
		s := byTid[iotraceStatsKey{Tid: ek.Tid, Sc: ek.Sc}]
		if s == nil {
			continue
		}
		if s.ErrorsByErrno == nil {
			s.ErrorsByErrno = map[string]uint64{}
		}
		s.ErrorsByErrno[ErrnoName(int(ek.Err))] += ev
	}

	epolls := c.readEpolls()
	snap := &model.Snapshot{Meta: c.meta()}
	uring, err := c.Uring()
	if err != nil {
		return nil, err
	}
	for k, v := range uring.Unavailable {
		snap.Meta.Unavailable["io_uring."+k] = v
	}
	if uring.Lost > 0 {
		snap.Meta.Lost["io_uring_maps_full"] = uring.Lost
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	pids := map[int]bool{}
	for pid := range c.procs {
		pids[pid] = true
	}
	for pid := range threads {
		pids[pid] = true
	}
	for pid := range epolls {
		pids[pid] = true
	}
	for pid := range pids {
		info := c.procs[pid]
		if info == nil {
			info = &procInfo{epolls: map[int]int64{}}
			if comm, ok := readComm(pid, 0); ok {
				info.comm = comm
			}
			info.where.read(pid)
			c.procs[pid] = info
		}
		if !info.exited {
			// The name may have changed (exec, PR_SET_NAME) since it was read.
			if comm, ok := readComm(pid, 0); ok {
				info.comm = comm
			} else {
				info.exited = true
			}
		}
		p := &model.Process{Pid: pid, Comm: info.comm, Exited: info.exited, Syscalls: model.SyscallStats{},
			Cgroup: info.where.cgroup, NsPid: info.where.nsPid}
		for tid, scs := range threads[pid] {
			comm := c.threadComm[tid]
			if !info.exited {
				if now, ok := readComm(pid, tid); ok {
					comm = now
					c.threadComm[tid] = comm
				}
			}
			p.Threads = append(p.Threads, &model.Thread{Tid: tid, Comm: comm, Syscalls: scs})
			p.Syscalls.Merge(scs)
		}
		sort.Slice(p.Threads, func(i, j int) bool { return p.Threads[i].Tid < p.Threads[j].Tid })
		p.EpollInstances = c.epollInstances(pid, info, epolls[pid])
		p.IOUring, p.IOUringNote = uring.model(pid)
		snap.Processes = append(snap.Processes, p)
	}
	sort.Slice(snap.Processes, func(i, j int) bool { return snap.Processes[i].Pid < snap.Processes[j].Pid })
	return snap, nil
}

type epollState struct {
	reg    *iotraceEpReg
	counts *iotraceEpCounts
	owned  bool // ep_owner maps an eventpoll to this instance
}

func (c *Collector) readEpolls() map[int]map[int]*epollState {
	out := map[int]map[int]*epollState{}
	get := func(k iotraceEpKey) *epollState {
		if out[int(k.Tgid)] == nil {
			out[int(k.Tgid)] = map[int]*epollState{}
		}
		st := out[int(k.Tgid)][int(k.Epfd)]
		if st == nil {
			st = &epollState{}
			out[int(k.Tgid)][int(k.Epfd)] = st
		}
		return st
	}
	var (
		k  iotraceEpKey
		r  iotraceEpReg
		ct iotraceEpCounts
	)
	it := c.objs.EpRegs.Iterate()
	for it.Next(&k, &r) {
		rr := r
		get(k).reg = &rr
	}
	it = c.objs.EpCounters.Iterate()
	for it.Next(&k, &ct) {
		cc := ct
		get(k).counts = &cc
	}
	var ep uint64
	it = c.objs.EpOwner.Iterate()
	for it.Next(&ep, &k) {
		get(k).owned = true
	}
	return out
}

// epollInstances merges what the kernel counted with what /proc says about
// each epoll instance of pid. Called with c.mu held.
func (c *Collector) epollInstances(pid int, info *procInfo, states map[int]*epollState) []model.EpollInstance {
	fds := map[int]bool{}
	for fd := range states {
		fds[fd] = true
	}
	for fd := range info.epolls {
		fds[fd] = true
	}
	var out []model.EpollInstance
	for fd := range fds {
		st := states[fd]
		if st == nil {
			st = &epollState{}
		}
		inst := model.EpollInstance{Epfd: fd}
		if !info.exited {
			if n, ok := epollRegistered(pid, fd); ok {
				info.epolls[fd] = n
				c.resyncRegistered(pid, fd, st.reg, n)
			} else {
				delete(info.epolls, fd)
			}
		}
		if n, ok := info.epolls[fd]; ok {
			inst.Registered = &n
		} else if st.reg != nil && st.reg.Known != 0 {
			n := st.reg.Registered
			inst.Registered = &n
		}
		if st.counts != nil {
			inst.Ctl = model.CtlCounts{Add: st.counts.CtlAdd, Mod: st.counts.CtlMod, Del: st.counts.CtlDel}
		}
		// Callbacks are counted for an instance once ep_owner attributes it
		// (its owner's first epoll_ctl or wait under trace); before that,
		// and when ep_owner was full, they are unknown (null), not 0. An
		// instance with counters was attributed: they are made by its
		// epoll_create, its epoll_ctl calls or a callback.
		if c.mode.tracesEpCallback() && (st.counts != nil || st.owned) {
			var cb, aq, ig uint64
			if st.counts != nil {
				cb, aq, ig = st.counts.Callbacks, st.counts.CbAlreadyQueued, st.counts.CbIgnored
			}
			inst.EpPollCallbacks, inst.CallbacksAlreadyQueued, inst.CallbacksIgnored = &cb, &aq, &ig
		}
		if inst.Registered == nil && st.counts == nil {
			continue
		}
		out = append(out, inst)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Epfd < out[j].Epfd })
	return out
}

// resyncRegistered sets the kernel side's interest-list size of (pid, fd)
// to n, the kernel's own count (/proc fdinfo), when they differ: it seeds an
// instance the kernel side first met mid-run, and corrects what the probes
// cannot follow (items dropped by a last close the close(2) probe did not
// see as one, a release in another process, more than 8 instances watching
// one file). read is the value read with the other maps at the start of
// the snapshot; if the value has changed since then an epoll_ctl or a
// release ran while fdinfo was read, n may already be stale, and the next
// snapshot tries again.
func (c *Collector) resyncRegistered(pid, fd int, read *iotraceEpReg, n int64) {
	if read != nil && read.Known != 0 && read.Registered == n {
		return
	}
	k := iotraceEpKey{Tgid: uint32(pid), Epfd: int32(fd)}
	var now iotraceEpReg
	err := c.objs.EpRegs.Lookup(&k, &now)
	switch {
	case read == nil && err == nil, read != nil && (err != nil || now != *read):
		return
	}
	v := iotraceEpReg{Registered: n, Known: 1}
	_ = c.objs.EpRegs.Update(&k, &v, ebpf.UpdateAny)
}

func (c *Collector) meta() model.Meta {
	m := model.Meta{
		Kernel:      c.kernel,
		ProbeMode:   string(c.mode),
		ProbeNotes:  c.probeNotes,
		Started:     c.started,
		Unavailable: map[string]string{},
		Lost:        map[string]uint64{},
		Provenance:  model.SourcesFor(string(c.mode)),
	}
	for k, v := range c.unavailable {
		m.Unavailable[k] = v
	}
	switch {
	case c.opts.All:
		m.Targets = append(m.Targets, "all")
	case c.opts.Comm != "":
		m.Targets = append(m.Targets, "comm:"+c.opts.Comm)
	}
	if c.cgroup != nil {
		m.Targets = append(m.Targets, "cgroup:"+c.cgroup.Path)
	}
	for _, pid := range c.opts.Pids {
		m.Targets = append(m.Targets, "pid:"+strconv.Itoa(pid))
	}
	for _, tid := range c.opts.Tids {
		m.Targets = append(m.Targets, "tid:"+strconv.Itoa(tid))
	}
	m.Targets = append(m.Targets, c.opts.Describe...)
	var vals []uint64
	for i, name := range counterNames {
		key := iotraceCounter(i)
		if err := c.objs.Counters.Lookup(&key, &vals); err != nil {
			continue
		}
		var sum uint64
		for _, v := range vals {
			sum += v
		}
		if sum == 0 {
			continue
		}
		m.Lost[name] = sum
		if lossCounters[key] {
			m.LostEvents += sum
		}
	}
	for name, n := range c.kernelMisses() {
		if n > 0 {
			m.Lost[name] = n
		}
	}
	if c.mode == ModeKprobe && !kernelAtLeast(c.kernel, 6, 7) {
		m.Unavailable[lostKprobe] = "the kernel reports kprobe misses in its link info from Linux 6.7 on; missed exits are still counted (missed_exits)"
	}
	return m
}

// kernelAtLeast reports whether a kernel release ("6.1.0-57-amd64") is at
// least major.minor; an unreadable release is taken as new enough.
func kernelAtLeast(release string, major, minor int) bool {
	var ma, mi int
	if n, _ := fmt.Sscanf(release, "%d.%d", &ma, &mi); n < 2 {
		return true
	}
	return ma > major || (ma == major && mi >= minor)
}

// kernelMisses reads what the kernel counts of runs that did not happen:
// each program's recursion misses (program run statistics, 5.12+) and
// each kprobe link's misses (kprobe: reentered; kretprobe: also no free
// instance to record the return with; link info, 6.7+). Where the kernel
// does not say, nothing is added.
func (c *Collector) kernelMisses() map[string]uint64 {
	out := map[string]uint64{}
	c.mu.Lock()
	links := append([]link.Link(nil), c.links...)
	c.mu.Unlock()
	if c.coll != nil {
		for _, p := range c.coll.Programs {
			if st, err := p.Stats(); err == nil {
				out[lostRecursion] += st.RecursionMisses
			}
		}
	}
	for _, l := range links {
		if !kernelAtLeast(c.kernel, 6, 7) {
			break // no misses in the link info: unavailable, not 0 (meta)
		}
		info, err := l.Info()
		if err != nil {
			continue
		}
		if pe := info.PerfEvent(); pe != nil {
			if kp := pe.Kprobe(); kp != nil {
				out[lostKprobe] += kp.Missed
			}
		}
	}
	return out
}

func convertStats(v *iotraceStats) *model.Stats {
	s := &model.Stats{
		Calls: v.Calls, Errors: v.Errors, Timeouts: v.Timeouts, Ready: v.Ready,
		FdsWatched: v.FdsWatched, FdsWatchedUnknown: v.FdsUnknownCalls, FdPolls: v.FdPolls,
		BytesIn: v.BytesIn, BytesOut: v.BytesOut, Wakeups: v.Wakeups, Sleeps: v.Sleeps,
		BlockedNs: v.BlockedNs, MaxeventsHits: v.MaxeventsHits,
		Latency:            model.Histogram{Count: v.Calls, Sum: v.LatSum, Min: v.LatMin, Max: v.LatMax},
		ReadyListAtEntry:   model.MaxSum{Sum: v.RlEntrySum, Max: v.RlEntryMax},
		ReadyListAtExit:    model.MaxSum{Sum: v.RlExitSum, Max: v.RlExitMax},
		ReadyListTruncated: v.RlTruncated,
		ReadyListUnknown:   v.RlUnknown,
	}
	if v.Calls == 0 {
		s.Latency.Min = 0
	}
	copy(s.Latency.Buckets[:], v.LatBuckets[:])
	return s
}
