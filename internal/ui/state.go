package ui

import (
	"sort"
	"strings"
	"time"

	"github.com/iotrace/iotrace/internal/model"
)

// Sample is one observation: the tracer's cumulative snapshot, its cumulative
// BPF cost and, in demo mode, the workloads' parameters and ground truth,
// taken at one moment.
type Sample struct {
	At       time.Time
	Snapshot *model.Snapshot
	Cost     CostSample
	Demo     []DemoModel // nil without demo
	Params   LoadParams  // demo parameters in force (demo mode only)
}

// CostSample is one reading of CostFunc.
type CostSample struct {
	RunNs, RunCount uint64
	OK              bool
	Why             string
}

// CostRate is the tracer's own cost over the last interval.
type CostRate struct {
	Known      bool    // both ends of the interval had BPF stats
	Why        string  // why not, when !Known
	MsPerSec   float64 // BPF run time per second of wall time, ms
	RunsPerSec float64
	NsPerRun   float64
}

// RowKey identifies a process (Tid 0) or one of its threads.
type RowKey struct{ Pid, Tid int }

// IsThread reports whether the key names a thread row.
func (k RowKey) IsThread() bool { return k.Tid != 0 }

// Row is a traced process or thread with its interval figures.
type Row struct {
	Key    RowKey
	Comm   string
	Exited bool
	// Families used so far (cumulative), in display order.
	Families []model.Family
	// Cum are the cumulative figures, Delta the change over the last
	// interval (nil before there is an interval).
	Cum, Delta model.SyscallStats
	// Fig are the interval figures over the waiting syscalls.
	Fig Figures
	// TotalCalls counts the waiting calls so far.
	TotalCalls uint64
	// Threads of a process row, in snapshot order.
	Threads []*Row
	// Epoll instances of a process row.
	Epoll []EpollRow
	// Meta describes the run the row was recorded in (provenance of its
	// figures included).
	Meta *model.Meta
	// threadMatch marks a filtered copy listed only for some of its threads.
	threadMatch bool
}

// EpollRow is one epoll instance with its callback rate.
type EpollRow struct {
	model.EpollInstance
	// CallbacksPerSec is nil when ep_poll_callback is not measured.
	CallbacksPerSec *float64
	callbacksDelta  *uint64
}

// Figures are the per-interval comparison figures (model.Figures).
type Figures = model.Figures

// ComputeFigures derives the figures from an interval's change d (waiting
// syscalls only) over dt.
func ComputeFigures(d *model.Stats, dt time.Duration) Figures { return model.Derive(d, dt) }

// TruthRates are a demo workload's own figures over the interval.
type TruthRates struct {
	Valid        bool
	CallsPerSec  float64
	MsgsPerSec   float64
	ReadyPerCall float64
	BytesPerSec  float64
}

// setCallbacks sets the column's ep_poll_callback rate, and the figure
// the comparison reads it from.
func (c *Column) setCallbacks(cb Callbacks) {
	c.Callbacks = cb
	c.Fig.CallbacksPerSec = nil
	if cb.Measured {
		v := cb.PerSec
		c.Fig.CallbacksPerSec = &v
	}
}

// Callbacks is a comparison column's ep_poll_callback rate.
type Callbacks struct {
	Applicable bool // the column is an epoll family
	Measured   bool // false: "n/a" (probe mode cannot see ep_poll_callback, or no instance known)
	PerSec     float64
}

// Column is one column of the comparison view: a demo model, or one model
// family of one traced process.
type Column struct {
	Name      string // demo model name, or the process's comm
	Pid       int
	Family    model.Family
	Fig       Figures
	Callbacks Callbacks
	Demo      bool
	Truth     TruthRates
	Status    string
	// Meta describes the run (provenance of the figures included).
	Meta *model.Meta
	// Unmeasured, for a demo model whose waits the tracer does not
	// measure, says so: its figures are n/a, not 0.
	Unmeasured string
}

// State is the dashboard's model: it takes successive samples and computes
// per-interval figures, rows and comparison columns, and keeps a short
// history of rates per row. It has no UI dependencies and is not safe for
// concurrent use (the dashboard uses it from the UI goroutine only).
type State struct {
	historyLen int
	prev, cur  *Sample
	dt         time.Duration
	rows       []*Row
	byKey      map[RowKey]*Row
	history    map[RowKey]*history
	cost       CostRate
	samples    int
	// Demo workloads: the pid of each model in the last sample, every pid
	// that has been a model's, and the models that got a new process in
	// the last sample (old pid → new pid).
	demoPid     map[string]int
	wasDemo     map[int]bool
	replacedNow map[int]int
}

// DefaultHistory is the number of intervals kept for sparklines.
const DefaultHistory = 600

// NewState returns an empty State keeping historyLen intervals of history.
func NewState(historyLen int) *State {
	if historyLen <= 0 {
		historyLen = DefaultHistory
	}
	return &State{historyLen: historyLen, byKey: map[RowKey]*Row{}, history: map[RowKey]*history{},
		demoPid: map[string]int{}, wasDemo: map[int]bool{}}
}

// Observe folds in a new sample. Samples must come in time order; one that
// is not later than the previous one replaces it without making an interval.
func (s *State) Observe(smp Sample) {
	if smp.Snapshot == nil {
		smp.Snapshot = &model.Snapshot{}
	}
	if s.cur != nil && smp.At.After(s.cur.At) {
		s.prev = s.cur
		s.dt = smp.At.Sub(s.prev.At)
	} else {
		s.prev, s.dt = nil, 0
	}
	c := smp
	s.cur = &c
	s.samples++
	s.trackDemo()
	s.buildRows()
	s.computeCost()
	s.recordHistory()
}

// trackDemo notes which processes are the demo's workloads: changing the
// load restarts every workload as a new process, and the old ones stay in
// the snapshot as exited processes.
func (s *State) trackDemo() {
	s.replacedNow = nil
	for _, m := range s.cur.Demo {
		if m.Pid == 0 {
			continue
		}
		if old := s.demoPid[m.Name]; old != 0 && old != m.Pid {
			if s.replacedNow == nil {
				s.replacedNow = map[int]int{}
			}
			s.replacedNow[old] = m.Pid
		}
		s.demoPid[m.Name] = m.Pid
		s.wasDemo[m.Pid] = true
	}
}

// Replaced reports whether pid is the process of a demo workload that has
// been replaced: it was a model's process and is no longer any model's
// (the demo stops a workload before it starts its replacement).
func (s *State) Replaced(pid int) bool {
	if !s.wasDemo[pid] || s.cur == nil {
		return false
	}
	for _, m := range s.cur.Demo {
		if m.Pid == pid {
			return false
		}
	}
	return true
}

// Replacements maps the demo workloads replaced in the last sample to
// their new processes (old pid → new pid); nil when there were none.
func (s *State) Replacements() map[int]int { return s.replacedNow }

// HasInterval reports whether there are two samples to compute rates from.
func (s *State) HasInterval() bool { return s.prev != nil && s.dt > 0 }

// Interval is the length of the last interval (0 if none).
func (s *State) Interval() time.Duration { return s.dt }

// Samples counts the samples observed.
func (s *State) Samples() int { return s.samples }

// Latest is the last sample (nil before the first).
func (s *State) Latest() *Sample { return s.cur }

// Snapshot is the last snapshot (an empty one before the first sample).
func (s *State) Snapshot() *model.Snapshot {
	if s.cur == nil {
		return &model.Snapshot{}
	}
	return s.cur.Snapshot
}

// Rows returns the process rows in snapshot order, threads inside.
func (s *State) Rows() []*Row { return s.rows }

// Row returns the row for key, or nil.
func (s *State) Row(k RowKey) *Row { return s.byKey[k] }

// Cost is the tracer's cost over the last interval.
func (s *State) Cost() CostRate { return s.cost }

// History returns the per-interval calls/s and bytes/s of a row, oldest
// first.
func (s *State) History(k RowKey) (calls, bytes []float64) {
	h := s.history[k]
	if h == nil {
		return nil, nil
	}
	return h.calls.values(), h.bytes.values()
}

func waits(sc model.Syscall) bool { return sc.Waits() }

func families(m model.SyscallStats) []model.Family {
	seen := map[model.Family]bool{}
	for sc, st := range m {
		if sc.Waits() && st.Calls > 0 {
			seen[sc.Family()] = true
		}
	}
	var out []model.Family
	for _, f := range model.Families {
		if seen[f] {
			out = append(out, f)
		}
	}
	return out
}

func (s *State) buildRows() {
	s.rows = s.rows[:0]
	s.byKey = map[RowKey]*Row{}
	var prevSnap *model.Snapshot
	if s.HasInterval() {
		prevSnap = s.prev.Snapshot
	}
	for _, p := range s.cur.Snapshot.Processes {
		r := &Row{Key: RowKey{Pid: p.Pid}, Comm: p.Comm, Exited: p.Exited, Cum: p.Syscalls, Meta: &s.cur.Snapshot.Meta}
		var pp *model.Process
		if prevSnap != nil {
			pp = prevSnap.Process(p.Pid)
		}
		s.fill(r, p.Syscalls, func() model.SyscallStats {
			if pp == nil {
				return nil
			}
			return pp.Syscalls
		}())
		for _, t := range p.Threads {
			tr := &Row{Key: RowKey{Pid: p.Pid, Tid: t.Tid}, Comm: t.Comm, Exited: p.Exited, Cum: t.Syscalls, Meta: &s.cur.Snapshot.Meta}
			var prevT model.SyscallStats
			if pp != nil {
				if pt := pp.Thread(t.Tid); pt != nil {
					prevT = pt.Syscalls
				}
			}
			s.fill(tr, t.Syscalls, prevT)
			r.Threads = append(r.Threads, tr)
			s.byKey[tr.Key] = tr
		}
		r.Epoll = s.epollRows(p, pp)
		s.rows = append(s.rows, r)
		s.byKey[r.Key] = r
	}
}

func (s *State) fill(r *Row, cur, prev model.SyscallStats) {
	r.Families = families(cur)
	r.TotalCalls = cur.Total(waits).Calls
	if !s.HasInterval() {
		r.Fig = ComputeFigures(nil, 0)
		return
	}
	r.Delta = cur.Since(prev)
	r.Fig = model.DeriveSyscalls(r.Delta, nil, s.dt)
}

func (s *State) epollRows(p, pp *model.Process) []EpollRow {
	out := make([]EpollRow, 0, len(p.EpollInstances))
	for _, e := range p.EpollInstances {
		er := EpollRow{EpollInstance: e}
		if e.EpPollCallbacks != nil && s.HasInterval() {
			d := *e.EpPollCallbacks
			if pp != nil {
				if pe := pp.Epoll(e.Epfd); pe != nil && pe.EpPollCallbacks != nil && *pe.EpPollCallbacks <= d {
					d -= *pe.EpPollCallbacks
				}
			}
			rate := float64(d) / s.dt.Seconds()
			er.CallbacksPerSec = &rate
			er.callbacksDelta = &d
		}
		out = append(out, er)
	}
	return out
}

func (s *State) computeCost() {
	c := CostRate{Why: s.cur.Cost.Why}
	if !s.cur.Cost.OK && c.Why == "" {
		c.Why = "BPF stats unavailable"
	}
	if s.HasInterval() {
		if s.cur.Cost.OK && s.prev.Cost.OK && s.cur.Cost.RunNs >= s.prev.Cost.RunNs && s.cur.Cost.RunCount >= s.prev.Cost.RunCount {
			c.Known = true
			sec := s.dt.Seconds()
			dns := float64(s.cur.Cost.RunNs - s.prev.Cost.RunNs)
			dn := float64(s.cur.Cost.RunCount - s.prev.Cost.RunCount)
			c.MsPerSec = dns / 1e6 / sec
			c.RunsPerSec = dn / sec
			if dn > 0 {
				c.NsPerRun = dns / dn
			}
		}
	}
	s.cost = c
}

func (s *State) recordHistory() {
	if !s.HasInterval() {
		return
	}
	seen := map[RowKey]bool{}
	add := func(r *Row) {
		seen[r.Key] = true
		h := s.history[r.Key]
		if h == nil {
			h = &history{calls: newRing(s.historyLen), bytes: newRing(s.historyLen)}
			s.history[r.Key] = h
		}
		h.calls.push(r.Fig.CallsPerSec)
		h.bytes.push(r.Fig.BytesPerSec)
	}
	for _, r := range s.rows {
		add(r)
		for _, t := range r.Threads {
			add(t)
		}
	}
	for k := range s.history {
		if !seen[k] {
			delete(s.history, k)
		}
	}
}

// FamilyOf maps a demo model name ("select", "poll", "epoll-lt", ...) to its
// family; ok is false for names that match none.
func FamilyOf(name string) (model.Family, bool) {
	n := strings.ToLower(name)
	switch {
	case strings.HasPrefix(n, "epoll"):
		return model.FamilyEpoll, true
	case strings.HasPrefix(n, "select"), strings.HasPrefix(n, "pselect"):
		return model.FamilySelect, true
	case strings.HasPrefix(n, "poll"), strings.HasPrefix(n, "ppoll"):
		return model.FamilyPoll, true
	}
	return "", false
}

// callbacks sums the interval callbacks of a process's epoll instances.
func (s *State) callbacks(r *Row, fam model.Family) Callbacks {
	cb := Callbacks{Applicable: fam == model.FamilyEpoll}
	if !cb.Applicable || r == nil || !s.HasInterval() || len(r.Epoll) == 0 {
		return cb
	}
	if _, off := s.cur.Snapshot.Meta.Unavailable["ep_poll_callbacks"]; off {
		return cb
	}
	var sum uint64
	for _, e := range r.Epoll {
		if e.callbacksDelta == nil {
			return cb
		}
		sum += *e.callbacksDelta
	}
	cb.Measured = true
	cb.PerSec = float64(sum) / s.dt.Seconds()
	return cb
}

// Columns returns the comparison columns: one per demo model when the last
// sample has demo models, else one per (process, family) with calls in the
// interval, busiest first, at most max (all if max <= 0).
func (s *State) Columns(max int) []Column {
	if s.cur == nil {
		return nil
	}
	var cols []Column
	if s.cur.Demo != nil {
		cols = s.demoColumns()
	} else {
		cols = s.processColumns()
	}
	if max > 0 && len(cols) > max {
		cols = cols[:max]
	}
	return cols
}

func (s *State) demoColumns() []Column {
	prevTruth := map[string]DemoModel{}
	if s.HasInterval() {
		for _, m := range s.prev.Demo {
			prevTruth[m.Name] = m
		}
	}
	cols := make([]Column, 0, len(s.cur.Demo))
	for _, m := range s.cur.Demo {
		fam, known := FamilyOf(m.Name)
		c := Column{Name: m.Name, Pid: m.Pid, Family: fam, Demo: true, Status: m.Status, Meta: &s.cur.Snapshot.Meta}
		c.Fig = ComputeFigures(nil, s.dt)
		if !known {
			c.Unmeasured = "the tracer measures select, poll and epoll waits only"
		}
		proc := s.byKey[RowKey{Pid: m.Pid}]
		r := proc
		if m.Tid != 0 {
			r = s.byKey[RowKey{Pid: m.Pid, Tid: m.Tid}]
		}
		if r != nil && r.Delta != nil && known {
			var st *model.Stats
			if known {
				st = r.Delta.ByFamily()[fam]
			} else {
				st = r.Delta.Total(waits)
			}
			c.Fig = ComputeFigures(st, s.dt)
		}
		c.setCallbacks(s.callbacks(proc, fam))
		if s.HasInterval() {
			p, ok := prevTruth[m.Name]
			c.Truth = truthRates(m.Truth, p.Truth, ok && p.Pid == m.Pid, s.dt)
		}
		cols = append(cols, c)
	}
	return cols
}

// truthRates computes a workload's own rates over the interval, timed by the
// workload's own clock when it reports one. When the counters restarted (a
// new process, or they went backwards) the rates are since the start.
func truthRates(cur, prev Truth, samePid bool, dt time.Duration) TruthRates {
	if !samePid || cur.Calls < prev.Calls || cur.Messages < prev.Messages || cur.ReadyEvents < prev.ReadyEvents ||
		cur.BytesRead < prev.BytesRead || cur.Elapsed < prev.Elapsed {
		prev = Truth{}
		dt = cur.Elapsed
	} else if el := cur.Elapsed - prev.Elapsed; el > 0 {
		dt = el
	}
	if dt <= 0 {
		return TruthRates{}
	}
	sec := dt.Seconds()
	t := TruthRates{
		Valid:       true,
		CallsPerSec: float64(cur.Calls-prev.Calls) / sec,
		MsgsPerSec:  float64(cur.Messages-prev.Messages) / sec,
		BytesPerSec: float64(cur.BytesRead-prev.BytesRead) / sec,
	}
	if n := cur.Calls - prev.Calls; n > 0 {
		t.ReadyPerCall = float64(cur.ReadyEvents-prev.ReadyEvents) / float64(n)
	}
	return t
}

func (s *State) processColumns() []Column {
	if !s.HasInterval() {
		return nil
	}
	var cols []Column
	for _, r := range s.rows {
		byFam := r.Delta.ByFamily()
		for _, fam := range model.Families {
			st := byFam[fam]
			if st == nil || st.Calls == 0 {
				continue
			}
			c := Column{Name: r.Comm, Pid: r.Key.Pid, Family: fam, Fig: ComputeFigures(st, s.dt), Meta: &s.cur.Snapshot.Meta}
			c.setCallbacks(s.callbacks(r, fam))
			cols = append(cols, c)
		}
	}
	sort.SliceStable(cols, func(i, j int) bool {
		if cols[i].Fig.Calls != cols[j].Fig.Calls {
			return cols[i].Fig.Calls > cols[j].Fig.Calls
		}
		return cols[i].Pid < cols[j].Pid
	})
	return cols
}

// history keeps a row's recent per-interval rates.
type history struct{ calls, bytes *ring }

// ring is a fixed-size ring of float64, oldest value overwritten first.
type ring struct {
	buf  []float64
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]float64, n)} }

func (r *ring) push(v float64) {
	r.buf[r.next] = v
	r.next++
	if r.next == len(r.buf) {
		r.next = 0
		r.full = true
	}
}

// values returns the contents, oldest first.
func (r *ring) values() []float64 {
	if !r.full {
		return append([]float64(nil), r.buf[:r.next]...)
	}
	out := make([]float64, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}
