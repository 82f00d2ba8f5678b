package ui

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/model"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestComputeFigures(t *testing.T) {
	withLatency := mkStats(4, 10, 40, 4, 320, 80, 4, 4, latency(3, 1000), latency(1, 1_000_000))
	unknown := mkStats(10, 5, 10, 10, 0, 120, 10, 10)
	unknown.FdsWatchedUnknown = 2
	rl := mkStats(10, 100, 20, 20, 0, 240, 10, 10)
	rl.Errors = 2
	rl.ReadyListAtEntry = model.MaxSum{Sum: 40, Max: 9}
	rl.BlockedNs = 500_000_000
	for _, c := range []struct {
		name string
		d    *model.Stats
		dt   time.Duration
		want Figures
	}{
		{"nil", nil, time.Second, Figures{Seconds: 1, FdsKnown: true}},
		{"no calls", &model.Stats{}, time.Second, Figures{Seconds: 1, FdsKnown: true}},
		{"poll with latency", withLatency, 2 * time.Second, Figures{
			Calls: 4, Seconds: 2, CallsPerSec: 2, FdsPerCall: 10, FdsKnown: true, FdPollsPerCall: 10,
			ReadyPerCall: 1, Efficiency: 0.1, HasEfficiency: true, BytesPerSec: 200, BytesPerCall: 100,
			WakeupsPerCall: 1, SleepsPerCall: 1,
			// 3 of 4 calls in [512,1024) (upper edge 1023), the 4th at 1 ms.
			P50: 1023, P99: 1_000_000, Latency: withLatency.Latency,
		}},
		// 2 of 10 calls had an unknown interest list: 50 fds over the other 8.
		{"partly unknown interest list", unknown, time.Second, Figures{
			Calls: 10, Seconds: 1, CallsPerSec: 10, FdsPerCall: 6.25, FdsKnown: true, FdPollsPerCall: 1,
			ReadyPerCall: 1, Efficiency: 1, HasEfficiency: true, BytesPerSec: 120, BytesPerCall: 12,
			WakeupsPerCall: 1, SleepsPerCall: 1,
		}},
		{"select ready in two sets: efficiency capped", mkStats(2, 1, 2, 4, 16, 16, 2, 2), time.Second, Figures{
			Calls: 2, Seconds: 1, CallsPerSec: 2, FdsPerCall: 1, FdsKnown: true, FdPollsPerCall: 1,
			ReadyPerCall: 2, Efficiency: 1, HasEfficiency: true, BytesPerSec: 32, BytesPerCall: 16,
			WakeupsPerCall: 1, SleepsPerCall: 1,
		}},
		{"ready list over successful calls", rl, 500 * time.Millisecond, Figures{
			Calls: 10, Seconds: 0.5, CallsPerSec: 20, FdsPerCall: 100, FdsKnown: true, FdPollsPerCall: 2,
			ReadyPerCall: 2, Efficiency: 1, HasEfficiency: true, BytesPerSec: 480, BytesPerCall: 24,
			WakeupsPerCall: 1, SleepsPerCall: 1, ReadyListPerCall: 5, BlockedFrac: 1,
		}},
	} {
		got := ComputeFigures(c.d, c.dt)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

// sample builds a Sample at t0+sec.
func sample(sec float64, snap *model.Snapshot) Sample {
	return Sample{At: t0.Add(time.Duration(sec * float64(time.Second))), Snapshot: snap}
}

func snapOf(procs ...*model.Process) *model.Snapshot { return &model.Snapshot{Processes: procs} }

func TestStateRates(t *testing.T) {
	poll := func(calls uint64) model.SyscallStats {
		return model.SyscallStats{model.Poll: mkStats(calls, 8, 16*calls, calls, 64*calls, 16*calls, calls, calls)}
	}
	type want struct {
		interval    bool
		dt          time.Duration
		callsPerSec float64
		bytesPerSec float64
		fdsPerCall  float64
		history     []float64
	}
	for _, c := range []struct {
		name    string
		samples []Sample
		key     RowKey
		want    want
	}{
		{"first sample has no interval",
			[]Sample{sample(0, snapOf(proc(1, "a", poll(100))))},
			RowKey{Pid: 1}, want{}},
		{"two samples",
			[]Sample{sample(0, snapOf(proc(1, "a", poll(100)))), sample(2, snapOf(proc(1, "a", poll(300))))},
			RowKey{Pid: 1}, want{true, 2 * time.Second, 100, 8000, 8, []float64{100}}},
		{"thread rows",
			[]Sample{sample(0, snapOf(proc(1, "a", poll(100)))), sample(1, snapOf(proc(1, "a", poll(150))))},
			RowKey{Pid: 1, Tid: 1}, want{true, time.Second, 50, 4000, 8, []float64{50}}},
		{"process appearing counts from zero",
			[]Sample{sample(0, snapOf()), sample(1, snapOf(proc(1, "a", poll(10))))},
			RowKey{Pid: 1}, want{true, time.Second, 10, 800, 8, []float64{10}}},
		{"counters going back (pid reused) restart",
			[]Sample{sample(0, snapOf(proc(1, "a", poll(500)))), sample(1, snapOf(proc(1, "b", poll(20))))},
			RowKey{Pid: 1}, want{true, time.Second, 20, 1600, 8, []float64{20}}},
		{"history over three samples",
			[]Sample{sample(0, snapOf(proc(1, "a", poll(0)))), sample(1, snapOf(proc(1, "a", poll(10)))),
				sample(2, snapOf(proc(1, "a", poll(40))))},
			RowKey{Pid: 1}, want{true, time.Second, 30, 2400, 8, []float64{10, 30}}},
		{"a sample not later than the last one makes no interval",
			[]Sample{sample(0, snapOf(proc(1, "a", poll(0)))), sample(0, snapOf(proc(1, "a", poll(10))))},
			RowKey{Pid: 1}, want{}},
	} {
		s := NewState(4)
		for _, smp := range c.samples {
			s.Observe(smp)
		}
		r := s.Row(c.key)
		if r == nil {
			t.Fatalf("%s: no row %v", c.name, c.key)
		}
		got := want{s.HasInterval(), s.Interval(), r.Fig.CallsPerSec, r.Fig.BytesPerSec, r.Fig.FdsPerCall, nil}
		got.history, _ = s.History(c.key)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestStateHistoryForgetsGoneRows(t *testing.T) {
	s := NewState(3)
	p := func(pid int, calls uint64) *model.Process {
		return proc(pid, "x", model.SyscallStats{model.Poll: &model.Stats{Calls: calls}})
	}
	s.Observe(sample(0, snapOf(p(1, 0), p(2, 0))))
	for i := 1; i <= 5; i++ {
		s.Observe(sample(float64(i), snapOf(p(1, uint64(i*i)), p(2, 0))))
	}
	calls, _ := s.History(RowKey{Pid: 1})
	if want := []float64{5, 7, 9}; !reflect.DeepEqual(calls, want) {
		t.Errorf("ring keeps the last 3 intervals: got %v, want %v", calls, want)
	}
	s.Observe(sample(6, snapOf(p(1, 36))))
	if c, _ := s.History(RowKey{Pid: 2}); c != nil {
		t.Errorf("history of a process gone from the snapshot kept: %v", c)
	}
}

func TestRing(t *testing.T) {
	for _, c := range []struct {
		n    int
		push []float64
		want []float64
	}{
		{3, nil, []float64{}},
		{3, []float64{1, 2}, []float64{1, 2}},
		{3, []float64{1, 2, 3}, []float64{1, 2, 3}},
		{3, []float64{1, 2, 3, 4, 5}, []float64{3, 4, 5}},
		{1, []float64{1, 2}, []float64{2}},
	} {
		r := newRing(c.n)
		for _, v := range c.push {
			r.push(v)
		}
		if got := r.values(); !reflect.DeepEqual(append([]float64{}, got...), c.want) {
			t.Errorf("ring(%d) after %v = %v, want %v", c.n, c.push, got, c.want)
		}
	}
}

func TestStateCost(t *testing.T) {
	for _, c := range []struct {
		name       string
		a, b       CostSample
		dt         float64
		known      bool
		msPerSec   float64
		runsPerSec float64
		why        string
	}{
		{"ms per second", CostSample{RunNs: 10e6, RunCount: 1000, OK: true}, CostSample{RunNs: 11.2e6, RunCount: 2000, OK: true},
			1, true, 1.2, 1000, ""},
		{"over two seconds", CostSample{RunNs: 0, OK: true}, CostSample{RunNs: 5e6, RunCount: 10, OK: true},
			2, true, 2.5, 5, ""},
		{"stats off", CostSample{Why: "BPF stats off"}, CostSample{Why: "BPF stats off"}, 1, false, 0, 0, "BPF stats off"},
		{"turned on in between", CostSample{Why: "BPF stats off"}, CostSample{RunNs: 5, OK: true}, 1, false, 0, 0, ""},
		{"went backwards", CostSample{RunNs: 50, OK: true}, CostSample{RunNs: 5, OK: true}, 1, false, 0, 0, ""},
	} {
		s := NewState(4)
		a, b := sample(0, nil), sample(c.dt, nil)
		a.Cost, b.Cost = c.a, c.b
		s.Observe(a)
		s.Observe(b)
		got := s.Cost()
		if got.Known != c.known || !approx(got.MsPerSec, c.msPerSec) || !approx(got.RunsPerSec, c.runsPerSec) || got.Why != c.why {
			t.Errorf("%s: got %+v", c.name, got)
		}
	}
}

func TestProcessColumns(t *testing.T) {
	mixed := func(k uint64) *model.Process {
		return proc(10, "mixed", model.SyscallStats{
			model.Select:    mkStats(5*k, 3, 15*k, 5*k, 0, 0, 0, 0),
			model.EpollWait: mkStats(50*k, 2, 50*k, 50*k, 0, 0, 0, 0),
			model.EpollCtl:  &model.Stats{Calls: 1000 * k},
		})
	}
	busy := func(k uint64) *model.Process {
		return proc(20, "busy", model.SyscallStats{model.Ppoll: mkStats(100*k, 1, 100*k, 100*k, 0, 0, 0, 0)})
	}
	idle := proc(30, "idle", model.SyscallStats{model.Poll: mkStats(7, 1, 7, 7, 0, 0, 0, 0)})
	s := NewState(4)
	s.Observe(sample(0, snapOf(mixed(1), busy(1), idle)))
	if cols := s.Columns(0); len(cols) != 0 {
		t.Fatalf("columns before an interval: %+v", cols)
	}
	s.Observe(sample(1, snapOf(mixed(2), busy(2), idle)))
	type col struct {
		name  string
		pid   int
		fam   model.Family
		calls float64
		fds   float64
	}
	var got []col
	for _, c := range s.Columns(0) {
		got = append(got, col{c.Name, c.Pid, c.Family, c.Fig.CallsPerSec, c.Fig.FdsPerCall})
	}
	want := []col{
		{"busy", 20, model.FamilyPoll, 100, 1},
		{"mixed", 10, model.FamilyEpoll, 50, 2}, // epoll_ctl is not a wait
		{"mixed", 10, model.FamilySelect, 5, 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("columns:\n got %+v\nwant %+v", got, want)
	}
	if n := len(s.Columns(2)); n != 2 {
		t.Errorf("Columns(2) gave %d columns", n)
	}
}

func TestCallbacks(t *testing.T) {
	ep := func(calls uint64, cb *uint64, unavailable bool) *model.Snapshot {
		p := proc(5, "ep", model.SyscallStats{model.EpollWait: &model.Stats{Calls: calls}})
		p.EpollInstances = []model.EpollInstance{{Epfd: 3, EpPollCallbacks: cb}}
		s := snapOf(p)
		if unavailable {
			s.Meta.Unavailable = map[string]string{"ep_poll_callbacks": "tracepoint mode"}
		}
		return s
	}
	for _, c := range []struct {
		name string
		a, b *model.Snapshot
		want Callbacks
	}{
		{"measured", ep(1, u64(100), false), ep(2, u64(400), false), Callbacks{true, true, 150}},
		{"nil is n/a, never 0", ep(1, nil, false), ep(2, nil, false), Callbacks{Applicable: true}},
		{"unavailable in this mode", ep(1, u64(1), true), ep(2, u64(1), true), Callbacks{Applicable: true}},
		{"instance recreated (counter went back)", ep(1, u64(900), false), ep(2, u64(30), false), Callbacks{true, true, 15}},
	} {
		s := NewState(4)
		s.Observe(sample(0, c.a))
		s.Observe(sample(2, c.b))
		cols := s.Columns(0)
		if len(cols) != 1 {
			t.Fatalf("%s: %d columns", c.name, len(cols))
		}
		if cols[0].Callbacks != c.want {
			t.Errorf("%s: callbacks %+v, want %+v", c.name, cols[0].Callbacks, c.want)
		}
	}
}

func TestDemoColumns(t *testing.T) {
	snaps, models := demoFixture()
	s := NewState(4)
	s.Observe(Sample{At: t0, Snapshot: snaps[0], Demo: models[0]})
	first := s.Columns(0)
	if len(first) != 3 || first[0].Name != "select" || first[0].Fig.Calls != 0 || first[0].Truth.Valid {
		t.Fatalf("demo columns before an interval: %+v", first)
	}
	s.Observe(Sample{At: t0.Add(time.Second), Snapshot: snaps[1], Demo: models[1]})
	type col struct {
		name              string
		fam               model.Family
		calls, truthCalls float64
		truthMsgs         float64
		truthReady        float64
		status            string
		callbacks         Callbacks
	}
	var got []col
	for _, c := range s.Columns(0) {
		got = append(got, col{c.Name, c.Family, c.Fig.CallsPerSec, c.Truth.CallsPerSec, c.Truth.MsgsPerSec,
			c.Truth.ReadyPerCall, c.Status, c.Callbacks})
	}
	want := []col{
		// The select model's Go-runtime epoll_pwait calls stay out of its column.
		{"select", model.FamilySelect, 100, 100, 100, 1, "select cannot watch fd >= 1024 (FD_SETSIZE)", Callbacks{}},
		{"poll", model.FamilyPoll, 200, 200, 250, 1, "", Callbacks{}},
		// Tracepoint mode: n/a, not 0.
		{"epoll-lt", model.FamilyEpoll, 400, 400, 900, 2, "", Callbacks{Applicable: true}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("demo columns:\n got %+v\nwant %+v", got, want)
	}
	// The epoll-lt column is its server thread's: the process as a whole
	// also has the runtime's 50 epoll_pwait calls/s.
	if r := s.Row(RowKey{Pid: 303}); r.Fig.CallsPerSec != 450 {
		t.Errorf("process 303: %v calls/s, want 450", r.Fig.CallsPerSec)
	}
	if c := s.Columns(0)[2]; c.Fig.FdsPerCall != 64 || c.Fig.P99 != 3000 {
		t.Errorf("epoll-lt column mixes in other threads: %+v", c.Fig)
	}
}

func TestTruthRates(t *testing.T) {
	for _, c := range []struct {
		name      string
		cur, prev Truth
		samePid   bool
		dt        time.Duration
		want      TruthRates
	}{
		{"own clock", Truth{Calls: 300, Messages: 600, ReadyEvents: 600, BytesRead: 6000, Elapsed: 3 * time.Second},
			Truth{Calls: 100, Messages: 200, ReadyEvents: 200, BytesRead: 2000, Elapsed: time.Second}, true, time.Second,
			TruthRates{true, 100, 200, 2, 2000}},
		{"no clock: wall interval", Truth{Calls: 30}, Truth{Calls: 10}, true, 2 * time.Second,
			TruthRates{true, 10, 0, 0, 0}},
		{"new process: since its start", Truth{Calls: 50, Messages: 50, ReadyEvents: 50, Elapsed: 5 * time.Second},
			Truth{Calls: 900, Elapsed: time.Hour}, false, time.Second, TruthRates{true, 10, 10, 1, 0}},
		{"restarted counters, no clock", Truth{Calls: 5}, Truth{Calls: 10}, true, time.Second, TruthRates{}},
	} {
		if got := truthRates(c.cur, c.prev, c.samePid, c.dt); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestFamilyOf(t *testing.T) {
	for _, c := range []struct {
		name string
		fam  model.Family
		ok   bool
	}{
		{"select", model.FamilySelect, true}, {"pselect6", model.FamilySelect, true},
		{"poll", model.FamilyPoll, true}, {"ppoll", model.FamilyPoll, true},
		{"epoll-lt", model.FamilyEpoll, true}, {"epoll-et", model.FamilyEpoll, true}, {"EPOLL", model.FamilyEpoll, true},
		{"io_uring", "", false},
	} {
		if fam, ok := FamilyOf(c.name); fam != c.fam || ok != c.ok {
			t.Errorf("FamilyOf(%q) = %q, %v", c.name, fam, ok)
		}
	}
}

// rowsFor builds rows with the given calls/s for sort and filter tests.
func rowsFor(specs ...struct {
	pid   int
	comm  string
	calls float64
	tids  []int
}) []*Row {
	var out []*Row
	for _, s := range specs {
		r := &Row{Key: RowKey{Pid: s.pid}, Comm: s.comm, Fig: Figures{CallsPerSec: s.calls}}
		for i, tid := range s.tids {
			r.Threads = append(r.Threads, &Row{Key: RowKey{Pid: s.pid, Tid: tid}, Comm: s.comm + "-t", Fig: Figures{CallsPerSec: float64(i)}})
		}
		out = append(out, r)
	}
	return out
}

type spec = struct {
	pid   int
	comm  string
	calls float64
	tids  []int
}

func keys(lines []tableLine) []RowKey {
	var out []RowKey
	for _, l := range lines {
		out = append(out, l.row.Key)
	}
	return out
}

func colIndex(t *testing.T, title string) int {
	for i, c := range procColumns {
		if c.title == title {
			return i
		}
	}
	t.Fatalf("no column %q", title)
	return -1
}

func TestSortFilterFlatten(t *testing.T) {
	rows := rowsFor(spec{3, "Zed", 5, nil}, spec{1, "alpha", 50, []int{1, 11}}, spec{2, "beta", 50, nil})
	p := func(pid int) RowKey { return RowKey{Pid: pid} }
	th := func(pid, tid int) RowKey { return RowKey{Pid: pid, Tid: tid} }
	for _, c := range []struct {
		name      string
		col       string
		reverse   bool
		filter    string
		expanded  map[int]bool
		expandAll bool
		want      []RowKey
	}{
		{"calls/s busiest first, ties by pid", "CALLS/s", false, "", nil, false, []RowKey{p(1), p(2), p(3)}},
		{"calls/s inverted", "CALLS/s", true, "", nil, false, []RowKey{p(3), p(1), p(2)}},
		{"pid ascending", "PID", false, "", nil, false, []RowKey{p(1), p(2), p(3)}},
		{"comm case-insensitive", "COMM", false, "", nil, false, []RowKey{p(1), p(2), p(3)}},
		{"comm inverted", "COMM", true, "", nil, false, []RowKey{p(3), p(2), p(1)}},
		{"expanded threads sorted too", "CALLS/s", false, "", map[int]bool{1: true}, false,
			[]RowKey{p(1), th(1, 11), th(1, 1), p(2), p(3)}},
		{"expand all", "PID", false, "", nil, true, []RowKey{p(1), th(1, 1), th(1, 11), p(2), p(3)}},
		{"filter by comm", "PID", false, "ZE", nil, false, []RowKey{p(3)}},
		{"filter by pid prefix", "PID", false, "2", nil, false, []RowKey{p(2)}},
		{"filter matching a thread shows it", "PID", false, "11", nil, false, []RowKey{p(1), th(1, 11)}},
		{"filter matching nothing", "PID", false, "nope", nil, false, nil},
	} {
		r := filterRows(rows, c.filter)
		r = sortRows(r, colIndex(t, c.col), c.reverse)
		got := keys(flatten(r, c.expanded, c.expandAll))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestParamSteps(t *testing.T) {
	lp := func(fds, active int, rate float64) LoadParams {
		return LoadParams{Fds: fds, Active: active, Rate: rate}
	}
	for _, c := range []struct {
		name string
		step func(LoadParams) LoadParams
		in   LoadParams
		want LoadParams
	}{
		{"double N", doubleFds, lp(1024, 16, 0), lp(2048, 16, 0)},
		{"double N from 0", doubleFds, lp(0, 0, 0), lp(1, 0, 0)},
		{"double N capped", doubleFds, lp(maxFds, 1, 0), lp(maxFds, 1, 0)},
		{"halve N", halveFds, lp(1024, 16, 0), lp(512, 16, 0)},
		{"halve N caps active", halveFds, lp(16, 16, 5), lp(8, 8, 5)},
		{"halve N stops at 1", halveFds, lp(1, 1, 0), lp(1, 1, 0)},
		{"more active", moreActive, lp(64, 16, 0), lp(64, 32, 0)},
		{"more active from 0", moreActive, lp(64, 0, 0), lp(64, 1, 0)},
		{"more active capped at N", moreActive, lp(20, 16, 0), lp(20, 20, 0)},
		{"fewer active", fewerActive, lp(64, 16, 0), lp(64, 8, 0)},
		{"fewer active to 0", fewerActive, lp(64, 1, 0), lp(64, 0, 0)},
		{"halve rate", func(p LoadParams) LoadParams { return halveRate(p, 0) }, lp(8, 8, 1000), lp(8, 8, 500)},
		{"halve max rate from the measured one", func(p LoadParams) LoadParams { return halveRate(p, 9000) }, lp(8, 8, 0), lp(8, 8, 4500)},
		{"halve max rate, nothing measured", func(p LoadParams) LoadParams { return halveRate(p, 0) }, lp(8, 8, 0), lp(8, 8, defaultRate/2)},
		{"halve rate stops at 1", func(p LoadParams) LoadParams { return halveRate(p, 0) }, lp(8, 8, 1), lp(8, 8, 1)},
		{"double rate", doubleRate, lp(8, 8, 500), lp(8, 8, 1000)},
		{"double max stays max", doubleRate, lp(8, 8, 0), lp(8, 8, 0)},
		{"double past the top is max", doubleRate, lp(8, 8, maxRate/2), lp(8, 8, 0)},
	} {
		if got := c.step(c.in); got != c.want {
			t.Errorf("%s: %+v -> %+v, want %+v", c.name, c.in, got, c.want)
		}
	}
}

func TestComputeLayout(t *testing.T) {
	for _, c := range []struct {
		name           string
		w, h, focus    int
		wide           bool
		comp, procs, d rect
	}{
		{"120x40 shows everything", 120, 40, viewComparison, true,
			rect{0, 3, 45, 18}, rect{0, 21, 120, 18}, rect{45, 3, 75, 18}},
		{"80x24 shows the focused view", 80, 24, viewProcesses, false,
			rect{}, rect{0, 3, 80, 20}, rect{}},
		{"narrow and tall still zooms", 90, 60, viewDetail, false,
			rect{}, rect{}, rect{0, 3, 90, 56}},
		{"wide but short zooms", 200, 24, viewComparison, false,
			rect{0, 3, 200, 20}, rect{}, rect{}},
		{"comparison wider than the screen leaves room for the detail", 120, 40, viewComparison, true,
			rect{0, 3, 80, 18}, rect{0, 21, 120, 18}, rect{80, 3, 40, 18}},
	} {
		compW := 45
		if c.name == "comparison wider than the screen leaves room for the detail" {
			compW = 300
		}
		g := computeLayout(c.w, c.h, 3, compW, 17, c.focus)
		if g.wide != c.wide || g.views[viewComparison] != c.comp || g.views[viewProcesses] != c.procs || g.views[viewDetail] != c.d {
			t.Errorf("%s: got %+v", c.name, g)
		}
		if g.header != (rect{0, 0, c.w, 3}) || g.footer != (rect{0, c.h - 1, c.w, 1}) {
			t.Errorf("%s: header %+v footer %+v", c.name, g.header, g.footer)
		}
	}
}

// A demo model whose waits the tracer does not measure (here uring, whose
// process has only the Go runtime's epoll_pwait calls) shows n/a in every
// figure row, not that process's epoll figures and not 0.
func TestDemoColumnUnmeasured(t *testing.T) {
	snaps, models := demoFixture()
	s := NewState(4)
	for i := range snaps {
		m := append(models[i], DemoModel{Name: "uring", Pid: 301, Tid: 301,
			Truth: Truth{Calls: 10 * uint64(i+1), Messages: 100 * uint64(i+1), Elapsed: time.Duration(i+1) * time.Second}})
		s.Observe(Sample{At: t0.Add(time.Duration(i) * time.Second), Snapshot: snaps[i], Demo: m})
	}
	cols := s.Columns(0)
	c := cols[len(cols)-1]
	if c.Name != "uring" || c.Unmeasured == "" || c.Fig.Calls != 0 {
		t.Fatalf("uring column %+v", c)
	}
	for _, r := range compRows {
		got := r.cell(&c, true)
		switch {
		case r.fig != nil || r.label == "  workload ready/call":
			if got != "n/a" {
				t.Errorf("%s: %q, want n/a", r.label, got)
			}
		case r.label == "  workload msgs/s":
			if got != "100" {
				t.Errorf("%s: %q, want the workload's own 100", r.label, got)
			}
		}
	}
}
