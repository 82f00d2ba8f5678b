package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/iotrace/iotrace/internal/model"
)

// restartedDemo extends demoFixture with the sample after a parameter
// change: the demo stopped every workload (its processes stay in the
// snapshot, exited) and started each again as a new process, pid+10.
func restartedDemo() ([]*model.Snapshot, [][]DemoModel) {
	snaps, models := demoFixture()
	last := snaps[len(snaps)-1]
	next := &model.Snapshot{Meta: last.Meta}
	var nextModels []DemoModel
	for _, p := range last.Processes {
		old := *p
		old.Exited = true
		next.Processes = append(next.Processes, &old)
	}
	for _, p := range last.Processes {
		np := &model.Process{Pid: p.Pid + 10, Comm: p.Comm, Syscalls: p.Syscalls}
		for _, t := range p.Threads {
			np.Threads = append(np.Threads, &model.Thread{Tid: t.Tid + 10, Comm: t.Comm, Syscalls: t.Syscalls})
		}
		next.Processes = append(next.Processes, np)
	}
	for _, m := range models[len(models)-1] {
		m.Pid += 10
		if m.Tid != 0 {
			m.Tid += 10
		}
		m.Truth = Truth{Calls: 10, ReadyEvents: 10, Messages: 10, Elapsed: time.Second}
		nextModels = append(nextModels, m)
	}
	return append(snaps, next), append(models, nextModels)
}

// restartHarness is a 120×40 demo dashboard on restartedDemo, two samples
// in (before the restart), with the process table focused.
func restartHarness(t *testing.T) *harness {
	t.Helper()
	snaps, models := restartedDemo()
	demo := &fakeDemo{params: LoadParams{Fds: 64, Active: 8}, models: models}
	h := newHarness(t, 120, 40, &fakeSource{snaps: snaps}, nil, demo)
	h.tick()
	h.tick()
	h.key(tcell.KeyTab)
	return h
}

// TestDemoRestartHidesReplacedAndFollowsSelection: after +, a or A the
// demo's workloads are new processes. The replaced (exited) ones leave the
// table (x lists them again) and the selection, on a workload, moves to
// its replacement, so the detail view shows a live process.
func TestDemoRestartHidesReplacedAndFollowsSelection(t *testing.T) {
	h := restartHarness(t)
	h.runes("s") // sort by FDS/CALL, then by pid: 301 302 303
	h.runes("SSSS")
	if got := strings.Join(procOrder(h), " "); got != "301 302 303" {
		t.Fatalf("rows before the restart: %s", got)
	}
	h.runes("j") // iotrace-poll, 302
	if h.d.ui.selected != (RowKey{Pid: 302}) {
		t.Fatalf("selected %v", h.d.ui.selected)
	}
	h.runes("+")
	h.tick()

	if got := strings.Join(procOrder(h), " "); got != "311 312 313" {
		t.Errorf("rows after the restart: %s, want only the live workloads", got)
	}
	if _, _, ok := h.find("Processes 3 (3 replaced hidden, x shows)"); !ok {
		t.Errorf("the table title should say what is hidden:\n%s", h.regionText(h.d.w.procs))
	}
	if h.d.ui.selected != (RowKey{Pid: 312}) {
		t.Errorf("selection %v, want the poll workload's new process 312", h.d.ui.selected)
	}
	det := h.regionText(h.d.w.detail)
	if !strings.Contains(det, "iotrace-poll process 312") || strings.Contains(det, "exited") {
		t.Errorf("detail should show the live poll workload:\n%s", det)
	}
	if hdr := h.regionText(h.d.w.header); !strings.Contains(hdr, "procs 3 (+3 exited)") {
		t.Errorf("header: %s", hdr)
	}

	// x lists the replaced workloads again, greyed; x hides them.
	h.runes("x")
	if got := strings.Join(procOrder(h), " "); got != "301 302 303 311 312 313" {
		t.Errorf("rows with x: %s", got)
	}
	x, y := h.mustFind(" 301 ")
	if _, _, st, _ := h.screen.GetContent(x+1, y); func() bool { fg, _, _ := st.Decompose(); return fg != tcell.ColorGray }() {
		t.Error("a replaced workload should be grey")
	}
	h.runes("x")
	if got := strings.Join(procOrder(h), " "); got != "311 312 313" {
		t.Errorf("rows after x twice: %s", got)
	}

	// The comparison shows the new processes.
	cmp := h.regionText(h.d.w.compView)
	if !strings.Contains(cmp, "poll") {
		t.Errorf("comparison:\n%s", cmp)
	}
}

// TestDemoRestartFollowsExpandedThread: a selected thread of a workload
// moves to the replacement process, which stays expanded.
func TestDemoRestartFollowsExpandedThread(t *testing.T) {
	h := restartHarness(t)
	h.key(tcell.KeyHome) // iotrace-epoll (busiest)
	if h.d.ui.selected != (RowKey{Pid: 303}) {
		t.Fatalf("selected %v", h.d.ui.selected)
	}
	h.key(tcell.KeyEnter)
	h.runes("j") // the busiest thread first: the server thread 304
	if h.d.ui.selected != (RowKey{Pid: 303, Tid: 304}) {
		t.Fatalf("selected %v", h.d.ui.selected)
	}
	h.runes("A")
	h.tick()
	if h.d.ui.selected != (RowKey{Pid: 313}) {
		t.Errorf("selection %v, want the epoll workload's new process 313", h.d.ui.selected)
	}
	if got := strings.Join(procOrder(h), " "); !strings.HasPrefix(got, "313 314 313") {
		t.Errorf("the replacement should stay expanded: rows %s", got)
	}
}

// blockedFixture: pid 400 has two threads each blocked in epoll_wait for
// the whole of every second (1e9 ns/s each).
func blockedFixture() []*model.Snapshot {
	mk := func(k uint64) *model.Snapshot {
		st := func() *model.Stats {
			s := mkStats(10*k, 1, 10*k, 10*k, 0, 120*k, 10*k, 10*k)
			s.BlockedNs = k * 1e9
			return s
		}
		a, b := st(), st()
		sum := a.Clone()
		sum.Add(b)
		return &model.Snapshot{Meta: model.Meta{ProbeMode: "tracepoint"}, Processes: []*model.Process{
			proc(400, "srv", model.SyscallStats{model.EpollWait: sum},
				&model.Thread{Tid: 400, Comm: "srv", Syscalls: model.SyscallStats{model.EpollWait: a}},
				&model.Thread{Tid: 401, Comm: "srv-2", Syscalls: model.SyscallStats{model.EpollWait: b}}),
		}}
	}
	return []*model.Snapshot{mk(1), mk(2)}
}

// TestBlockedSaysSummedOverThreads: two threads blocked all the time are
// 200% for the process, and the detail says the figure is a sum over
// threads (each thread's own row: 100%); the help explains it.
func TestBlockedSaysSummedOverThreads(t *testing.T) {
	h := newHarness(t, 120, 40, &fakeSource{snaps: blockedFixture()}, nil, nil)
	h.tick()
	h.tick()
	det, _, _ := h.region(h.d.w.detail)
	if row := labelRow(t, det, "blocked Σthreads"); !strings.Contains(row, "200%") {
		t.Errorf("process blocked row: %q", row)
	}
	h.key(tcell.KeyTab)
	h.key(tcell.KeyEnter)
	h.runes("jj")
	if h.d.ui.selected != (RowKey{Pid: 400, Tid: 401}) {
		t.Fatalf("selected %v", h.d.ui.selected)
	}
	det, _, _ = h.region(h.d.w.detail)
	if row := labelRow(t, det, "blocked Σthreads"); !strings.Contains(row, "100%") {
		t.Errorf("thread blocked row: %q", row)
	}
	h.runes("?")
	if help := helpWords(h); !strings.Contains(help, "blocked Σthreads: time off CPU inside calls ÷ the interval, summed over the threads") {
		t.Errorf("help does not explain blocked:\n%s", h.regionText(h.d.w.help))
	}
}

// helpWords is the help overlay's text as shown, its wrapped lines joined
// (without borders and indentation).
func helpWords(h *harness) string {
	var words []string
	for _, l := range strings.Split(h.regionText(h.d.w.help), "\n") {
		words = append(words, strings.Fields(strings.Trim(l, "│┌┐└┘─"))...)
	}
	return strings.Join(words, " ")
}

// TestHelpExplainsEfficiency: the help says what efficiency is, why a
// call on one fd that waits is at 50% and that fd_polls is estimated.
func TestHelpExplainsEfficiency(t *testing.T) {
	h := newHarness(t, 200, 60, &fakeSource{snaps: fixture(true)}, nil, nil)
	h.tick()
	h.runes("?")
	raw, help := h.regionText(h.d.w.help), helpWords(h)
	for _, want := range []string{
		"efficiency = ready ÷ fd_polls",
		"second pass after sleeping, so a call on 1 fd that waits scores 50%",
		"fd_polls is estimated in this version, not observed",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, raw)
		}
	}
}

// replayFixture is what a replayed trace hands out: snapshots stamped with
// their recorded end, and, once past the last interval, the last one
// again.
func replayFixture() []*model.Snapshot {
	snaps := fixture(true)
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, s := range snaps {
		s.Meta.Started = t0
		s.Meta.Ended = t0.Add(time.Duration(i) * time.Second)
	}
	return snaps
}

// TestReplayEndKeepsLastRates: when the replay is over, the last
// interval's rates stay on screen and the dashboard says the replay ended,
// instead of dropping the rates ("rates after the next snapshot").
func TestReplayEndKeepsLastRates(t *testing.T) {
	src := &fakeSource{snaps: replayFixture()}
	h := newHarness(t, 120, 40, src, nil, nil)
	h.tick()
	h.tick()
	if _, _, ok := h.find("REPLAY ENDED"); ok {
		t.Fatalf("replay not over yet:\n%s", h.dump())
	}
	for i := 0; i < 3; i++ {
		h.tick()
	}
	if !h.d.st.HasInterval() {
		t.Fatal("the last interval was dropped")
	}
	cmp, _, _ := h.region(h.d.w.compView)
	if row := labelRow(t, cmp, "calls/s"); !strings.Contains(row, "2000") || !strings.Contains(row, "1000") {
		t.Errorf("calls/s after the end: %q", row)
	}
	screen := h.dump()
	for _, want := range []string{"REPLAY ENDED", "replay ended: the last recorded interval stays on screen", "Comparison, last 1s"} {
		if !strings.Contains(screen, want) {
			t.Errorf("no %q after the end:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "rates after the next snapshot") || strings.Contains(screen, "rates appear after") {
		t.Errorf("rates dropped at the end:\n%s", screen)
	}
	// Stepping while paused at the end changes nothing either.
	h.runes("p")
	h.runes("n")
	if !h.d.st.HasInterval() || !strings.Contains(h.dump(), "REPLAY ENDED") {
		t.Errorf("step at the end:\n%s", h.dump())
	}
}

// TestLiveRepeatedSnapshotIsNotAnEnd: a live source's snapshots carry no
// recorded time; the same snapshot twice is an interval with no calls, not
// the end of a replay.
func TestLiveRepeatedSnapshotIsNotAnEnd(t *testing.T) {
	snaps := fixture(true)
	h := newHarness(t, 120, 40, &fakeSource{snaps: snaps[:1]}, nil, nil)
	h.tick()
	h.tick()
	if _, _, ok := h.find("REPLAY ENDED"); ok {
		t.Errorf("a live source cannot end:\n%s", h.dump())
	}
	if !h.d.st.HasInterval() {
		t.Error("no interval")
	}
}
