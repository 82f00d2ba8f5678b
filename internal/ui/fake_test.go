package ui

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/iotrace/iotrace/internal/model"
)

// fakeApp is the App test double: QueueUpdateDraw runs its closure
// synchronously and draws the root on the screen. A mutex stands in for the
// UI goroutine, so key events (Key) and updates never run at the same time.
type fakeApp struct {
	mu       sync.Mutex
	screen   tcell.Screen
	root     tview.Primitive
	focus    tview.Primitive
	capture  func(*tcell.EventKey) *tcell.EventKey
	stopped  chan struct{}
	stopOnce sync.Once
	updates  int
}

func newFakeApp() *fakeApp { return &fakeApp{stopped: make(chan struct{})} }

func (f *fakeApp) SetScreen(s tcell.Screen) { f.screen = s }

func (f *fakeApp) SetRoot(root tview.Primitive, _ bool) {
	f.root = root
	f.SetFocus(root)
}

// SetFocus follows tview: blur the old primitive, focus the new one, which
// may delegate to a child.
func (f *fakeApp) SetFocus(p tview.Primitive) {
	if f.focus != nil {
		f.focus.Blur()
	}
	f.focus = p
	if p != nil {
		p.Focus(f.SetFocus)
	}
}

func (f *fakeApp) SetInputCapture(c func(*tcell.EventKey) *tcell.EventKey) { f.capture = c }

func (f *fakeApp) QueueUpdateDraw(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
	f.updates++
	f.draw()
}

func (f *fakeApp) Run() error {
	<-f.stopped
	return nil
}

func (f *fakeApp) Stop() { f.stopOnce.Do(func() { close(f.stopped) }) }

func (f *fakeApp) isStopped() bool {
	select {
	case <-f.stopped:
		return true
	default:
		return false
	}
}

func (f *fakeApp) draw() {
	if f.screen == nil || f.root == nil {
		return
	}
	w, h := f.screen.Size()
	f.root.SetRect(0, 0, w, h)
	f.screen.Clear()
	f.root.Draw(f.screen)
	f.screen.Show()
}

// Key delivers a key event as tview does: input capture first, then the
// root's input handler, then a redraw.
func (f *fakeApp) Key(ev *tcell.EventKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.capture != nil {
		ev = f.capture(ev)
	}
	if ev != nil && f.root != nil && f.root.HasFocus() {
		if h := f.root.InputHandler(); h != nil {
			h(ev, f.SetFocus)
		}
	}
	f.draw()
}

// fakeSource returns its snapshots in turn, then the last one again.
type fakeSource struct {
	mu    sync.Mutex
	snaps []*model.Snapshot
	calls int
	err   error
}

func (s *fakeSource) Snapshot() (*model.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.calls
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	if len(s.snaps) == 0 {
		return nil, errors.New("no snapshots")
	}
	if i >= len(s.snaps) {
		i = len(s.snaps) - 1
	}
	return s.snaps[i], nil
}

func (s *fakeSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// fakeDemo records SetParams calls; its models are replaced per sample.
type fakeDemo struct {
	mu     sync.Mutex
	params LoadParams
	set    []LoadParams
	models [][]DemoModel
	i      int
	err    error
}

func (d *fakeDemo) Params() LoadParams {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.params
}

func (d *fakeDemo) SetParams(p LoadParams) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.set = append(d.set, p)
	if d.err != nil {
		return d.err
	}
	d.params = p
	return nil
}

func (d *fakeDemo) Models() []DemoModel {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.models) == 0 {
		return nil
	}
	i := d.i
	if i >= len(d.models) {
		i = len(d.models) - 1
	}
	d.i++
	return d.models[i]
}

func (d *fakeDemo) calls() []LoadParams {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]LoadParams(nil), d.set...)
}

// fakeClock advances by step on every reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time {
	c.t = c.t.Add(c.step)
	return c.t
}

// costSeq returns a CostFunc that reports the given cumulative run times.
func costSeq(ns ...uint64) CostFunc {
	var mu sync.Mutex
	i := 0
	return func() (uint64, uint64, bool, string) {
		mu.Lock()
		defer mu.Unlock()
		v := ns[len(ns)-1]
		if i < len(ns) {
			v = ns[i]
		}
		i++
		return v, v / 100, true, ""
	}
}

// harness is a dashboard on a fake app and a simulation screen.
type harness struct {
	t      *testing.T
	d      *Dashboard
	app    *fakeApp
	screen tcell.SimulationScreen
	src    *fakeSource
}

func newHarness(t *testing.T, w, h int, src *fakeSource, cost CostFunc, demo Demo) *harness {
	t.Helper()
	s := tcell.NewSimulationScreen("UTF-8")
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	s.SetSize(w, h)
	app := newFakeApp()
	info := Info{ProbeMode: "fentry", ModeReason: "auto: fentry allowed", Interval: time.Second}
	d := New(app, s, src, info, cost, demo)
	clock := &fakeClock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC), step: time.Second}
	d.now = clock.now
	return &harness{t: t, d: d, app: app, screen: s, src: src}
}

// tick runs one refresh as the loop would on a timer tick.
func (h *harness) tick() { h.d.collect(); h.drain() }

// drain serves the requests the UI sent to the refresh loop, as the loop
// does.
func (h *harness) drain() {
	for {
		select {
		case r := <-h.d.reqs:
			h.d.serve(r)
		case <-h.d.redraw:
			h.app.QueueUpdateDraw(h.d.render)
		default:
			return
		}
	}
}

func (h *harness) key(k tcell.Key) {
	h.app.Key(tcell.NewEventKey(k, 0, tcell.ModNone))
	h.drain()
}

func (h *harness) runes(s string) {
	for _, r := range s {
		h.app.Key(tcell.NewEventKey(tcell.KeyRune, r, tcell.ModNone))
		h.drain()
	}
}

// lines returns the screen's text, one string per row.
func (h *harness) lines() []string {
	cells, w, hh := h.screen.GetContents()
	out := make([]string, hh)
	for y := 0; y < hh; y++ {
		var b strings.Builder
		for x := 0; x < w; x++ {
			c := cells[y*w+x]
			if len(c.Runes) == 0 || c.Runes[0] == 0 {
				b.WriteRune(' ')
			} else {
				b.WriteRune(c.Runes[0])
			}
		}
		out[y] = b.String()
	}
	return out
}

func (h *harness) dump() string { return strings.Join(h.lines(), "\n") }

// find returns the cell position of the first occurrence of s on screen.
func (h *harness) find(s string) (x, y int, ok bool) {
	for y, l := range h.lines() {
		if x := runeIndex(l, s); x >= 0 {
			return x, y, true
		}
	}
	return -1, -1, false
}

// findAfter finds s at or after row y0 and column x0.
func (h *harness) findAfter(s string, x0, y0 int) (x, y int, ok bool) {
	for y, l := range h.lines() {
		if y < y0 {
			continue
		}
		r := []rune(l)
		if x0 > len(r) {
			continue
		}
		if x := runeIndex(string(r[x0:]), s); x >= 0 {
			return x0 + x, y, true
		}
	}
	return -1, -1, false
}

func (h *harness) mustFind(s string) (int, int) {
	h.t.Helper()
	x, y, ok := h.find(s)
	if !ok {
		h.t.Fatalf("%q not on screen:\n%s", s, h.dump())
	}
	return x, y
}

// cellAt returns the text of row y between columns x0 and x1 (exclusive).
func (h *harness) cellAt(y, x0, x1 int) string {
	r := []rune(h.lines()[y])
	if x0 < 0 {
		x0 = 0
	}
	if x1 > len(r) {
		x1 = len(r)
	}
	return strings.TrimSpace(string(r[x0:x1]))
}

func runeIndex(s, sub string) int {
	i := strings.Index(s, sub)
	if i < 0 {
		return -1
	}
	return len([]rune(s[:i]))
}

// Snapshot builders.

type statsOpt func(*model.Stats)

func latency(n uint64, v uint64) statsOpt {
	return func(s *model.Stats) {
		for i := uint64(0); i < n; i++ {
			s.Latency.Observe(v)
		}
	}
}

func mkStats(calls, fdsPerCall, fdPolls, ready, in, out, wake, sleep uint64, opts ...statsOpt) *model.Stats {
	s := &model.Stats{Calls: calls, FdsWatched: calls * fdsPerCall, FdPolls: fdPolls, Ready: ready,
		BytesIn: in, BytesOut: out, Wakeups: wake, Sleeps: sleep}
	for _, o := range opts {
		o(s)
	}
	return s
}

func u64(v uint64) *uint64 { return &v }
func i64(v int64) *int64   { return &v }

func proc(pid int, comm string, sc model.SyscallStats, threads ...*model.Thread) *model.Process {
	if len(threads) == 0 {
		threads = []*model.Thread{{Tid: pid, Comm: comm, Syscalls: sc}}
	}
	return &model.Process{Pid: pid, Comm: comm, Syscalls: sc, Threads: threads}
}
