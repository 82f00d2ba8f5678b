package collector

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/cilium/ebpf"

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
}

// lossCounters are the counters that mean something was not recorded and
// add up to meta.lost_events (select_sets_truncated is not a lost event).
var lossCounters = map[iotraceCounter]bool{
	iotraceCounterLOST_STATS: true, iotraceCounterLOST_INFLIGHT: true, iotraceCounterLOST_EVENTS: true,
	iotraceCounterLOST_ERRS: true, iotraceCounterLOST_EPOLL: true, iotraceCounterLOST_CALL_EVENTS: true,
}

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
		p := &model.Process{Pid: pid, Comm: info.comm, Exited: info.exited, Syscalls: model.SyscallStats{}}
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
		snap.Processes = append(snap.Processes, p)
	}
	sort.Slice(snap.Processes, func(i, j int) bool { return snap.Processes[i].Pid < snap.Processes[j].Pid })
	return snap, nil
}

type epollState struct {
	reg    *iotraceEpReg
	counts *iotraceEpCounts
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
				if st.reg == nil || st.reg.Known == 0 {
					// Seed an instance the kernel side first met mid-run.
					k := iotraceEpKey{Tgid: uint32(pid), Epfd: int32(fd)}
					v := iotraceEpReg{Registered: n, Known: 1}
					_ = c.objs.EpRegs.Update(&k, &v, ebpf.UpdateAny)
				}
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
		if c.mode.tracesEpCallback() {
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

func (c *Collector) meta() model.Meta {
	m := model.Meta{
		Kernel:      c.kernel,
		ProbeMode:   string(c.mode),
		ProbeNotes:  c.probeNotes,
		Started:     c.started,
		Unavailable: map[string]string{},
		Lost:        map[string]uint64{},
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
	return m
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
	}
	if v.Calls == 0 {
		s.Latency.Min = 0
	}
	copy(s.Latency.Buckets[:], v.LatBuckets[:])
	return s
}
