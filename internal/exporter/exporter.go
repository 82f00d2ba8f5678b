// Package exporter serves iotrace's figures to Prometheus: a
// prometheus.Collector that takes a model.Snapshot on every scrape and turns
// it into metric families named the Prometheus way, with the cardinality
// bounded by design (docs/metrics.md, "Prometheus metrics").
//
// Counters must never go backwards within a series, yet processes come and
// go. The exporter therefore keeps its own cumulative figures per series,
// fed by each process's (or thread's) change since the previous scrape
// (model.Stats.Since): a process that exits stops adding to them, and a
// series labelled with a pid is, after a grace period, folded into its
// comm's (and, with the cgroup label, its cgroup's) series for exited
// processes (pid="exited") and dropped. A hard cap on the number of series
// sends what does not fit to one overflow series set (comm="(overflow)")
// and counts it in iotrace_series_dropped_total, so that sums over the
// endpoint stay exact.
//
// Like report, trace and ui, it imports no eBPF code.
package exporter

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iotrace/iotrace/internal/model"
)

// Source gives the current cumulative snapshot (the collector).
type Source interface {
	Snapshot() (*model.Snapshot, error)
}

// ProgramCost is one BPF program's cumulative run time (ns) and run count.
type ProgramCost struct {
	Program     string
	RunNs, Runs uint64
}

// CostFunc returns the cumulative run time and run count of each of
// iotrace's BPF programs, or ok false with the reason when the kernel's BPF
// stats are off (the collector's ProgramCosts).
type CostFunc func() (progs []ProgramCost, ok bool, why string)

// Defaults of Options.
const (
	DefaultMaxSeries = 10000
	DefaultGrace     = 5 * time.Minute
	DefaultLossAlarm = time.Minute
)

// Label values of the folded series.
const (
	ExitedLabel   = "exited"     // pid or tid of the series exited processes fold into
	OverflowLabel = "(overflow)" // comm, cgroup, pid and tid of the series past the cap
)

// Labels are the optional labels of the per-process series
// (--metrics-labels): each splits a comm's series set.
type Labels struct {
	// PID and TID add the pid and tid labels.
	PID, TID bool
	// Cgroup adds the cgroup label: the process's cgroup v2 path
	// (model.Process.Cgroup, "" when unknown).
	Cgroup bool
}

// Options configure an Exporter.
type Options struct {
	Labels
	// MaxSeries caps the per-process series (0: DefaultMaxSeries).
	MaxSeries int
	// Grace is how long an exited process's pid- or tid-labelled series
	// stay on the endpoint (0: DefaultGrace).
	Grace time.Duration
	// LossAlarm: /healthz fails while lost events grew within this long
	// (0: DefaultLossAlarm).
	LossAlarm time.Duration
	// Cost, if set, gives iotrace's own BPF cost.
	Cost CostFunc
	// Version is iotrace's version for iotrace_info.
	Version string
	// ProbeMode is the run's probe mode: the provenance in the HELP texts
	// depends on it.
	ProbeMode string
	// Now is the clock (nil: time.Now); tests set it.
	Now func() time.Time
}

// ParseLabels parses --metrics-labels: a comma-separated subset of pid,
// tid and cgroup.
func ParseLabels(list []string) (Labels, error) {
	var l Labels
	for _, s := range list {
		switch strings.TrimSpace(s) {
		case "pid":
			l.PID = true
		case "tid":
			l.TID = true
		case "cgroup":
			l.Cgroup = true
		case "":
		default:
			return Labels{}, fmt.Errorf("--metrics-labels: unknown label %q (want pid, tid, cgroup or a comma-separated list of them)", s)
		}
	}
	return l, nil
}

// subjectKey names the series set of one comm (and cgroup, with the
// cgroup label), or one process or thread when pid or tid labels are on;
// unused labels are "".
type subjectKey struct{ comm, cgroup, pid, tid string }

// subject holds the cumulative figures of one series set.
type subject struct {
	syscalls model.SyscallStats
	// epoll holds the per-process epoll counters (subjects without tid).
	epoll *epollCounts
}

type epollCounts struct {
	add, mod, del uint64
	// callbacks, queued and ignored are nil until a mode that measures
	// them reports them.
	callbacks, queued, ignored *uint64
}

// entityKey is a process (tid 0) or, with tid labels, a thread.
type entityKey struct{ pid, tid int }

// entity is what the exporter remembers of a traced process or thread:
// its last reading, so that each scrape adds only the change.
type entity struct {
	prev      model.SyscallStats
	prevEpoll map[int]model.EpollInstance // processes only
	exitedAt  time.Time                   // first scrape that saw it exited
	retired   bool                        // folded into the exited series
	refused   map[refusal]bool            // series sets refused at the cap, counted once
}

type refusal struct {
	subj  subjectKey
	sc    model.Syscall // -1: the epoll set
	errno string        // an errno series of the syscall's set
}

// Exporter is a prometheus.Collector over a Source.
type Exporter struct {
	src  Source
	o    Options
	fams *families

	mu       sync.Mutex
	entities map[entityKey]*entity
	subjects map[subjectKey]*subject
	series   int // per-process series the subjects hold (estimated at creation)
	dropped  uint64
	last     *model.Snapshot
	lastErr  error
	// lost and lostGrew follow meta.lost_events for /healthz.
	lost     uint64
	lostSeen bool
	lostGrew time.Time
	lostBy   uint64
}

// New returns an exporter reading src.
func New(src Source, o Options) *Exporter {
	if o.MaxSeries <= 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.LossAlarm <= 0 {
		o.LossAlarm = DefaultLossAlarm
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Exporter{
		src: src, o: o, fams: newFamilies(o.Labels, o.ProbeMode),
		entities: map[entityKey]*entity{}, subjects: map[subjectKey]*subject{},
	}
}

// Describe sends every family's descriptor.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) { e.fams.describe(ch) }

// Collect takes a snapshot, folds it into the series and sends them.
// Scrapes are serialised: each adds the change since the one before.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	snap, err := e.refresh()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(e.fams.info, err)
		return
	}
	e.emit(ch, snap)
}

// refresh takes a snapshot and folds it in. Called with e.mu held.
func (e *Exporter) refresh() (*model.Snapshot, error) {
	snap, err := e.src.Snapshot()
	e.lastErr = err
	if err != nil {
		return nil, fmt.Errorf("taking a snapshot: %w", err)
	}
	now := e.o.Now()
	e.fold(snap, now)
	e.noteLosses(snap, now)
	e.last = snap
	return snap, nil
}

func (e *Exporter) noteLosses(snap *model.Snapshot, now time.Time) {
	cur := snap.Meta.LostEvents
	if e.lostSeen && cur > e.lost {
		e.lostGrew, e.lostBy = now, cur-e.lost
	}
	e.lost, e.lostSeen = cur, true
}

// Health reports whether the probes deliver (a snapshot can be taken) and
// no events were lost within Options.LossAlarm; reason is one line.
func (e *Exporter) Health() (ok bool, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.refresh(); err != nil {
		return false, err.Error()
	}
	if !e.lostGrew.IsZero() && e.o.Now().Sub(e.lostGrew) < e.o.LossAlarm {
		return false, fmt.Sprintf("events lost: %d more at %s (%d in all; see iotrace_lost_total)",
			e.lostBy, e.lostGrew.Format(time.RFC3339), e.lost)
	}
	n := 0
	for _, p := range e.last.Processes {
		if !p.Exited {
			n++
		}
	}
	return true, fmt.Sprintf("ok: %s probes attached, %d live target process(es), no events lost in the last %s",
		e.last.Meta.ProbeMode, n, e.o.LossAlarm)
}

// key returns the subject a process's or thread's figures go to now; a
// retired one's go to its comm's (and cgroup's) exited series.
func (e *Exporter) key(comm, cgroup string, pid, tid int, retired bool) subjectKey {
	k := subjectKey{comm: comm}
	if e.o.Cgroup {
		k.cgroup = cgroup
	}
	if e.o.PID {
		k.pid = strconv.Itoa(pid)
		if retired {
			k.pid = ExitedLabel
		}
	}
	if e.o.TID && tid != 0 {
		k.tid = strconv.Itoa(tid)
		if retired {
			k.tid = ExitedLabel
		}
	}
	return k
}

// fold adds the change of every process (or thread) since the last scrape
// to its series, and retires exited ones past the grace period.
func (e *Exporter) fold(snap *model.Snapshot, now time.Time) {
	for _, p := range snap.Processes {
		pe := e.entity(entityKey{pid: p.Pid})
		switch {
		case !p.Exited:
			pe.exitedAt, pe.retired = time.Time{}, false
		case pe.exitedAt.IsZero():
			pe.exitedAt = now
		}
		retire := p.Exited && !pe.retired && now.Sub(pe.exitedAt) >= e.o.Grace
		if e.o.TID {
			for _, t := range p.Threads {
				te := e.entity(entityKey{pid: p.Pid, tid: t.Tid})
				comm := t.Comm
				if comm == "" {
					comm = p.Comm
				}
				// A thread's cgroup is its process's (the model has no other).
				e.foldStats(te, e.key(comm, p.Cgroup, p.Pid, t.Tid, pe.retired), t.Syscalls)
				if retire {
					e.retire(te, e.key(comm, p.Cgroup, p.Pid, t.Tid, false), e.key(comm, p.Cgroup, p.Pid, t.Tid, true))
				}
			}
		} else {
			e.foldStats(pe, e.key(p.Comm, p.Cgroup, p.Pid, 0, pe.retired), p.Syscalls)
		}
		e.foldEpoll(pe, e.key(p.Comm, p.Cgroup, p.Pid, 0, pe.retired), p.EpollInstances)
		if retire {
			e.retire(pe, e.key(p.Comm, p.Cgroup, p.Pid, 0, false), e.key(p.Comm, p.Cgroup, p.Pid, 0, true))
		}
	}
}

func (e *Exporter) entity(k entityKey) *entity {
	en := e.entities[k]
	if en == nil {
		en = &entity{prev: model.SyscallStats{}}
		e.entities[k] = en
	}
	return en
}

// foldStats adds cur's change since en's last reading to subject k.
func (e *Exporter) foldStats(en *entity, k subjectKey, cur model.SyscallStats) {
	for sc, st := range cur {
		d := st.Since(en.prev[sc])
		en.prev[sc] = st.Clone()
		if d.Calls == 0 && d.Latency.Count == 0 && d.Wakeups == 0 && d.Sleeps == 0 && d.BlockedNs == 0 {
			// Nothing happened: an idle syscall entry creates no series.
			if s := e.subjects[k]; s == nil || s.syscalls[sc] == nil {
				continue
			}
		}
		e.add(en, k, sc, d)
	}
}

// add adds d to subject k's syscall sc. An errno new to the series set is
// a series more: past the cap its count goes to the overflow set's.
func (e *Exporter) add(en *entity, k subjectKey, sc model.Syscall, d *model.Stats) {
	acc := e.syscallSeries(en, k, sc)
	if len(d.ErrorsByErrno) > 0 {
		d = d.Clone() // errnos past the cap are taken out of it
	}
	for errno, v := range d.ErrorsByErrno {
		if _, ok := acc.ErrorsByErrno[errno]; ok || isOverflow(k) {
			continue
		}
		if e.series+1 > e.o.MaxSeries {
			e.refuse(en, refusal{k, sc, errno}, 1)
			ov := e.syscallSeries(en, e.overflow(true), sc)
			if ov.ErrorsByErrno == nil {
				ov.ErrorsByErrno = map[string]uint64{}
			}
			ov.ErrorsByErrno[errno] += v
			delete(d.ErrorsByErrno, errno)
			continue
		}
		e.series++
	}
	acc.Add(d)
}

// refuse counts the series r would have made, once per entity.
func (e *Exporter) refuse(en *entity, r refusal, cost int) {
	if en.refused[r] {
		return
	}
	if en.refused == nil {
		en.refused = map[refusal]bool{}
	}
	en.refused[r] = true
	e.dropped += uint64(cost)
}

// syscallSeries returns the accumulator of subject k's syscall sc,
// creating it if the cap allows, else the overflow set's.
func (e *Exporter) syscallSeries(en *entity, k subjectKey, sc model.Syscall) *model.Stats {
	if s := e.subjects[k]; s != nil && s.syscalls[sc] != nil {
		return s.syscalls[sc]
	}
	cost := e.fams.syscallSeries(sc)
	if e.series+cost > e.o.MaxSeries && !isOverflow(k) {
		e.refuse(en, refusal{subj: k, sc: sc}, cost)
		return e.syscallSeries(en, e.overflow(true), sc)
	}
	s := e.subject(k)
	if !isOverflow(k) {
		e.series += cost
	}
	acc := &model.Stats{}
	s.syscalls[sc] = acc
	return acc
}

func (e *Exporter) subject(k subjectKey) *subject {
	s := e.subjects[k]
	if s == nil {
		s = &subject{syscalls: model.SyscallStats{}}
		e.subjects[k] = s
	}
	return s
}

// overflow is the subject of the series past the cap: the syscall set
// (with a tid label when tids are on) or the epoll set (never a tid).
func (e *Exporter) overflow(syscalls bool) subjectKey {
	k := subjectKey{comm: OverflowLabel}
	if e.o.Cgroup {
		k.cgroup = OverflowLabel
	}
	if e.o.PID {
		k.pid = OverflowLabel
	}
	if e.o.TID && syscalls {
		k.tid = OverflowLabel
	}
	return k
}

func isOverflow(k subjectKey) bool { return k.comm == OverflowLabel }

// foldEpoll adds the change of the process's epoll counters to subject k.
func (e *Exporter) foldEpoll(en *entity, k subjectKey, insts []model.EpollInstance) {
	if len(insts) == 0 {
		return
	}
	var d epollCounts
	for _, in := range insts {
		pr, seen := en.prevEpoll[in.Epfd]
		back := seen && (in.Ctl.Add < pr.Ctl.Add || in.Ctl.Mod < pr.Ctl.Mod || in.Ctl.Del < pr.Ctl.Del ||
			wentBack(in.EpPollCallbacks, pr.EpPollCallbacks) || wentBack(in.CallbacksAlreadyQueued, pr.CallbacksAlreadyQueued) ||
			wentBack(in.CallbacksIgnored, pr.CallbacksIgnored))
		if !seen || back {
			pr = model.EpollInstance{}
		}
		d.add += in.Ctl.Add - pr.Ctl.Add
		d.mod += in.Ctl.Mod - pr.Ctl.Mod
		d.del += in.Ctl.Del - pr.Ctl.Del
		if in.EpPollCallbacks != nil {
			d.callbacks = addDelta(d.callbacks, in.EpPollCallbacks, pr.EpPollCallbacks)
			d.queued = addDelta(d.queued, in.CallbacksAlreadyQueued, pr.CallbacksAlreadyQueued)
			d.ignored = addDelta(d.ignored, in.CallbacksIgnored, pr.CallbacksIgnored)
		}
		if en.prevEpoll == nil {
			en.prevEpoll = map[int]model.EpollInstance{}
		}
		en.prevEpoll[in.Epfd] = copyInstance(in)
	}
	// d's callback counters stay nil where the mode does not measure them.
	e.epollSeries(en, k).merge(&d)
}

// merge adds o's counts into a; a callback counter nil in o adds nothing.
func (a *epollCounts) merge(o *epollCounts) {
	a.add += o.add
	a.mod += o.mod
	a.del += o.del
	a.callbacks = addDelta(a.callbacks, o.callbacks, nil)
	a.queued = addDelta(a.queued, o.queued, nil)
	a.ignored = addDelta(a.ignored, o.ignored, nil)
}

func (e *Exporter) epollSeries(en *entity, k subjectKey) *epollCounts {
	if s := e.subjects[k]; s != nil && s.epoll != nil {
		return s.epoll
	}
	cost := e.fams.epollSeries()
	if e.series+cost > e.o.MaxSeries && !isOverflow(k) {
		e.refuse(en, refusal{subj: k, sc: -1}, cost)
		return e.epollSeries(en, e.overflow(false))
	}
	s := e.subject(k)
	if !isOverflow(k) {
		e.series += cost
	}
	s.epoll = &epollCounts{}
	return s.epoll
}

func wentBack(cur, prev *uint64) bool { return cur != nil && prev != nil && *cur < *prev }

// addDelta returns acc + (cur - prev), prev nil meaning 0.
func addDelta(acc, cur, prev *uint64) *uint64 {
	if cur == nil {
		return acc
	}
	v := *cur
	if prev != nil {
		v -= *prev
	}
	if acc != nil {
		v += *acc
	}
	return &v
}

func copyInstance(in model.EpollInstance) model.EpollInstance {
	c := in
	for _, p := range []**uint64{&c.EpPollCallbacks, &c.CallbacksAlreadyQueued, &c.CallbacksIgnored} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	c.Registered = nil
	return c
}

// retire folds an exited process's (or thread's) series into its comm's
// (and cgroup's) exited series and drops them: counters of the comm never
// go backwards, and the endpoint does not keep one series set per process
// ever seen. Without pid and tid labels from and to are the same series.
func (e *Exporter) retire(en *entity, from, to subjectKey) {
	en.retired = true
	s := e.subjects[from]
	if from == to || s == nil {
		return
	}
	delete(e.subjects, from)
	for sc, st := range s.syscalls {
		e.series -= e.fams.syscallSeries(sc) + len(st.ErrorsByErrno)
	}
	if s.epoll != nil {
		e.series -= e.fams.epollSeries()
	}
	for sc, st := range s.syscalls {
		e.add(en, to, sc, st)
	}
	if s.epoll != nil {
		e.epollSeries(en, to).merge(s.epoll)
	}
}
