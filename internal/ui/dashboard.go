package ui

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gdamore/tcell/v2"
)

// DefaultInterval is the refresh interval when Info.Interval is not set.
const DefaultInterval = time.Second

// The views that take the focus, in Tab order.
const (
	viewComparison = iota
	viewProcesses
	viewDetail
	numViews
)

var viewNames = [numViews]string{"Comparison", "Processes", "Detail"}

// Run shows the dashboard on the terminal until q is pressed or ctx is
// cancelled, then restores the terminal and returns. demo and cost may be
// nil.
func Run(ctx context.Context, src Source, info Info, cost CostFunc, demo Demo) error {
	screen, err := tcell.NewScreen()
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	// Initialise here, where a failure can be reported; tview initialises
	// the screen it is given again and ignores errors.
	if err := screen.Init(); err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	return New(NewApp(), initialized{screen}, src, info, cost, demo).Run(ctx)
}

// initialized is a screen whose Init already ran.
type initialized struct{ tcell.Screen }

func (initialized) Init() error { return nil }

// Dashboard is the terminal dashboard. Build it with New and start it with
// Run.
type Dashboard struct {
	app    App
	screen tcell.Screen
	src    Source
	info   Info
	cost   CostFunc
	demo   Demo
	now    func() time.Time

	// reqs carries requests from the UI goroutine to the refresh loop;
	// redraw coalesces redraw requests (one pending at most).
	reqs   chan request
	redraw chan struct{}
	paused atomic.Bool
	quit   context.CancelFunc // set by Run

	// Owned by the UI goroutine (the tview event loop, or whoever runs the
	// QueueUpdateDraw closures and key events).
	st   *State
	ui   viewState
	keys []keyAction
	w    *widgets
}

// viewState is what the user chose: focus, sort, filter, selection...
type viewState struct {
	focus int
	help  bool
	// helpScroll is the first line of the help shown (render clamps it).
	helpScroll int
	helpPage   int // lines of help visible, as of the last render
	sortCol    int
	reverse    bool
	filter     string
	editing    bool // typing a filter
	expanded   map[int]bool
	expandAll  bool
	// showReplaced lists the demo's replaced (exited) workloads too.
	showReplaced bool
	// ended: the source had nothing new (the replayed trace is over).
	ended    bool
	selected RowKey
	selIndex int
	// params are the demo parameters as last requested or reported;
	// inflight counts SetParams requests not yet answered.
	params   LoadParams
	inflight int
	seq      int
	message  string
	msgError bool
	err      string // last Source error
	// size is the terminal size the widgets were last filled for, page the
	// number of process rows then visible.
	size [2]int
	page int
}

type reqKind int

const (
	reqCollect reqKind = iota
	reqParams
	reqStep // one sample even while paused
)

type request struct {
	kind   reqKind
	params LoadParams
}

// New builds a dashboard on app. When screen is not nil it is handed to the
// app (tests pass a tcell.SimulationScreen). cost and demo may be nil.
func New(app App, screen tcell.Screen, src Source, info Info, cost CostFunc, demo Demo) *Dashboard {
	if info.Interval <= 0 {
		info.Interval = DefaultInterval
	}
	d := &Dashboard{
		app:    app,
		screen: screen,
		src:    src,
		info:   info,
		cost:   cost,
		demo:   demo,
		now:    time.Now,
		reqs:   make(chan request, 64),
		redraw: make(chan struct{}, 1),
		st:     NewState(DefaultHistory),
		keys:   keyTable(demo != nil),
	}
	d.ui.focus = viewComparison
	d.ui.sortCol = defaultSort
	d.ui.expanded = map[int]bool{}
	if demo != nil {
		d.ui.params = demo.Params()
	}
	if screen != nil {
		app.SetScreen(screen)
	}
	d.w = newWidgets(d)
	app.SetInputCapture(d.capture)
	app.SetRoot(d.w.root, true)
	d.render()
	return d
}

// Run runs the refresh loop and the application until q is pressed or ctx
// is cancelled.
func (d *Dashboard) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.quit = cancel
	ticker := time.NewTicker(d.info.Interval)
	defer ticker.Stop()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		d.loop(ctx, ticker.C)
	}()
	go func() {
		<-ctx.Done()
		d.app.Stop()
	}()
	err := d.app.Run()
	cancel()
	<-loopDone
	return err
}

// loop is the refresh loop. It runs off the UI goroutine: it pulls a sample
// at once and then on every tick, serves the UI's requests, and changes
// what is shown only through App.QueueUpdateDraw.
func (d *Dashboard) loop(ctx context.Context, tick <-chan time.Time) {
	d.collect()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			d.collect()
		case <-d.redraw:
			d.app.QueueUpdateDraw(d.render)
		case r := <-d.reqs:
			d.serve(r)
		}
	}
}

// collect pulls one sample (unless paused) and hands it to the UI goroutine.
func (d *Dashboard) collect() {
	if d.paused.Load() {
		return
	}
	d.sample()
}

// sample pulls one sample and hands it to the UI goroutine. A snapshot
// that carries its own end time (a replayed trace) is placed at that time,
// so rates are those of the recording, not of the replay.
func (d *Dashboard) sample() {
	smp := Sample{At: d.now()}
	snap, err := d.src.Snapshot()
	smp.Snapshot = snap
	if snap != nil && !snap.Meta.Ended.IsZero() {
		smp.At = snap.Meta.Ended
	}
	if d.cost != nil {
		c := &smp.Cost
		c.RunNs, c.RunCount, c.OK, c.Why = d.cost()
	} else {
		smp.Cost.Why = "no BPF stats source"
	}
	if d.demo != nil {
		smp.Demo = d.demo.Models()
		if smp.Demo == nil {
			smp.Demo = []DemoModel{}
		}
		smp.Params = d.demo.Params()
	}
	d.app.QueueUpdateDraw(func() {
		switch {
		case err != nil:
			d.ui.err = err.Error()
		case d.isRepeat(smp):
			// A replay past its last interval hands out its last
			// snapshot again: keep the last interval's rates.
			d.ui.err = ""
			d.ui.ended = true
		default:
			d.ui.err = ""
			d.ui.ended = false
			d.st.Observe(smp)
			d.followReplacements()
			if d.demo != nil && d.ui.inflight == 0 {
				d.ui.params = smp.Params
			}
		}
		d.render()
	})
}

// isRepeat reports whether smp is a recorded snapshot (one with its own end
// time) stamped at the same time as the last one: a source with nothing
// new, such as a replayed trace after its last interval.
func (d *Dashboard) isRepeat(smp Sample) bool {
	last := d.st.Latest()
	return smp.Snapshot != nil && !smp.Snapshot.Meta.Ended.IsZero() &&
		last != nil && last.Snapshot != nil && !last.Snapshot.Meta.Ended.IsZero() && smp.At.Equal(last.At)
}

// followReplacements moves the selection (and the expanded state) from a
// demo workload that was just replaced to its replacement.
func (d *Dashboard) followReplacements() {
	for old, cur := range d.st.Replacements() {
		if d.ui.selected.Pid == old {
			d.ui.selected = RowKey{Pid: cur}
		}
		if d.ui.expanded[old] {
			delete(d.ui.expanded, old)
			d.ui.expanded[cur] = true
		}
	}
}

// serve handles one request from the UI goroutine.
func (d *Dashboard) serve(r request) {
	switch r.kind {
	case reqCollect:
		d.collect()
	case reqStep:
		d.sample()
	case reqParams:
		err := d.demo.SetParams(r.params)
		got := d.demo.Params()
		d.app.QueueUpdateDraw(func() {
			d.ui.inflight--
			if d.ui.inflight <= 0 {
				d.ui.inflight = 0
				d.ui.params = got
			}
			if err != nil {
				d.setMessage(true, "demo: %s: %v", ParamsText(r.params), err)
			} else {
				d.setMessage(false, "demo: %s", ParamsText(got))
			}
			d.render()
		})
	}
}

// send queues a request for the refresh loop without blocking the UI.
func (d *Dashboard) send(r request) bool {
	select {
	case d.reqs <- r:
		return true
	default:
		return false
	}
}

// requestRedraw asks the refresh loop to refill the widgets from the state.
// Requests made while one is pending are merged into it.
func (d *Dashboard) requestRedraw() {
	select {
	case d.redraw <- struct{}{}:
	default:
	}
}

func (d *Dashboard) setMessage(isErr bool, format string, args ...any) {
	d.ui.message = fmt.Sprintf(format, args...)
	d.ui.msgError = isErr
}

// capture is the application's input capture: it dispatches keys through
// the key table, on the UI goroutine.
func (d *Dashboard) capture(ev *tcell.EventKey) *tcell.EventKey {
	if d.ui.editing {
		d.editFilter(ev)
		d.requestRedraw()
		return nil
	}
	a := lookup(d.keys, ev)
	if d.ui.help {
		if a == nil || !a.inHelp {
			d.ui.help = false
			d.requestRedraw()
			return nil
		}
	}
	if a == nil {
		return ev
	}
	if !a.handler(d) {
		return ev
	}
	return nil
}

func (d *Dashboard) editFilter(ev *tcell.EventKey) {
	switch ev.Key() {
	case tcell.KeyEnter:
		d.ui.editing = false
	case tcell.KeyEscape:
		d.ui.editing = false
		d.ui.filter = ""
	case tcell.KeyBackspace, tcell.KeyBackspace2:
		if r := []rune(d.ui.filter); len(r) > 0 {
			d.ui.filter = string(r[:len(r)-1])
		}
	case tcell.KeyRune:
		d.ui.filter += string(ev.Rune())
	}
	d.ui.selIndex = 0
	d.ui.selected = RowKey{}
}

// Key handlers. They run on the UI goroutine, change state and request a
// redraw; the widgets are refilled by render in the refresh path.

func (d *Dashboard) actQuit() bool {
	if d.quit != nil {
		d.quit()
	}
	d.app.Stop()
	return true
}

func (d *Dashboard) actHelp() bool {
	d.ui.help = !d.ui.help
	d.ui.helpScroll = 0
	d.requestRedraw()
	return true
}

func (d *Dashboard) actPause() bool {
	p := !d.paused.Load()
	d.paused.Store(p)
	if p {
		d.setMessage(false, "paused: press p to resume")
	} else {
		d.ui.message = ""
		d.send(request{kind: reqCollect})
	}
	d.requestRedraw()
	return true
}

// actStep takes one sample while paused: with a replayed trace, the next
// recorded interval.
func (d *Dashboard) actStep() bool {
	if !d.paused.Load() {
		d.setMessage(false, "step works while paused: press p first")
	} else {
		d.send(request{kind: reqStep})
	}
	d.requestRedraw()
	return true
}

func (d *Dashboard) actFocus(step int) bool {
	d.ui.focus = ((d.ui.focus+step)%numViews + numViews) % numViews
	d.requestRedraw()
	return true
}

func (d *Dashboard) actMove(n int) bool {
	if d.ui.help {
		d.scrollHelp(n)
		return true
	}
	if d.ui.focus != viewProcesses {
		return false
	}
	lines := d.tableLines()
	if len(lines) == 0 {
		return true
	}
	i := d.selectedIndex(lines) + n
	if i < 0 {
		i = 0
	}
	if i >= len(lines) {
		i = len(lines) - 1
	}
	d.ui.selIndex = i
	d.ui.selected = lines[i].row.Key
	d.requestRedraw()
	return true
}

// scrollHelp scrolls the help overlay by n lines (render clamps it).
func (d *Dashboard) scrollHelp(n int) {
	switch {
	case n >= 1<<30:
		d.ui.helpScroll = 1 << 30
	case d.ui.helpScroll+n < 0:
		d.ui.helpScroll = 0
	default:
		d.ui.helpScroll += n
	}
	d.requestRedraw()
}

func (d *Dashboard) actExpand() bool {
	if d.ui.focus != viewProcesses {
		return false
	}
	lines := d.tableLines()
	if len(lines) == 0 {
		return true
	}
	pid := lines[d.selectedIndex(lines)].row.Key.Pid
	d.ui.expanded[pid] = !d.ui.expanded[pid]
	d.ui.selected = RowKey{Pid: pid}
	d.requestRedraw()
	return true
}

func (d *Dashboard) actExpandAll() bool {
	d.ui.expandAll = !d.ui.expandAll
	if !d.ui.expandAll {
		d.ui.expanded = map[int]bool{}
		if d.ui.selected.IsThread() {
			d.ui.selected.Tid = 0
		}
	}
	d.requestRedraw()
	return true
}

func (d *Dashboard) actSort(step int) bool {
	n := len(procColumns)
	d.ui.sortCol = ((d.ui.sortCol+step)%n + n) % n
	d.ui.reverse = false
	d.requestRedraw()
	return true
}

func (d *Dashboard) actInvert() bool {
	d.ui.reverse = !d.ui.reverse
	d.requestRedraw()
	return true
}

func (d *Dashboard) actFilter() bool {
	d.ui.editing = true
	d.ui.focus = viewProcesses
	d.requestRedraw()
	return true
}

func (d *Dashboard) actClear() bool {
	if d.ui.filter == "" && d.ui.message == "" {
		return false
	}
	d.ui.filter = ""
	d.ui.message = ""
	d.requestRedraw()
	return true
}

func (d *Dashboard) actShowReplaced() bool {
	d.ui.showReplaced = !d.ui.showReplaced
	d.requestRedraw()
	return true
}

func (d *Dashboard) actParams(step func(LoadParams) LoadParams) bool {
	if d.demo == nil {
		return false
	}
	p := step(d.ui.params)
	if p == d.ui.params {
		d.setMessage(false, "demo: %s (limit reached)", ParamsText(p))
		d.requestRedraw()
		return true
	}
	if !d.send(request{kind: reqParams, params: p}) {
		d.setMessage(true, "demo: busy, try again")
		d.requestRedraw()
		return true
	}
	d.ui.params = p
	d.ui.inflight++
	d.setMessage(false, "demo: applying %s…", ParamsText(p))
	d.requestRedraw()
	return true
}

// measuredRate is the busiest demo model's message rate in the last interval.
func (d *Dashboard) measuredRate() float64 {
	best := 0.0
	for _, c := range d.st.Columns(0) {
		if c.Demo && c.Truth.Valid && c.Truth.MsgsPerSec > best {
			best = c.Truth.MsgsPerSec
		}
	}
	return best
}

// tableLines are the process table's lines as the user arranged them.
func (d *Dashboard) tableLines() []tableLine {
	rows, _ := d.listedRows()
	rows = filterRows(rows, d.ui.filter)
	rows = sortRows(rows, d.ui.sortCol, d.ui.reverse)
	return flatten(rows, d.ui.expanded, d.ui.expandAll)
}

// listedRows are the process rows the table lists: all but the demo's
// replaced workloads, unless they are asked for; hidden counts those left
// out.
func (d *Dashboard) listedRows() (rows []*Row, hidden int) {
	all := d.st.Rows()
	if d.ui.showReplaced {
		return all, 0
	}
	for _, r := range all {
		if d.st.Replaced(r.Key.Pid) {
			hidden++
			continue
		}
		rows = append(rows, r)
	}
	return rows, hidden
}

// selectedIndex finds the selected row among lines, falling back to the
// last selected position when the row is gone.
func (d *Dashboard) selectedIndex(lines []tableLine) int {
	for i, l := range lines {
		if l.row.Key == d.ui.selected {
			return i
		}
	}
	i := d.ui.selIndex
	if i >= len(lines) {
		i = len(lines) - 1
	}
	if i < 0 {
		i = 0
	}
	return i
}

// pageSize is the number of process rows (help lines, with the help
// shown) visible, as of the last render.
func (d *Dashboard) pageSize() int {
	if d.ui.help {
		return max(1, d.ui.helpPage)
	}
	if d.ui.page < 1 {
		return 1
	}
	return d.ui.page
}

// size is the terminal size.
func (d *Dashboard) size() (int, int) {
	if d.screen != nil {
		if w, h := d.screen.Size(); w > 0 && h > 0 {
			return w, h
		}
	}
	if _, _, w, h := d.w.root.GetRect(); w > 0 && h > 0 {
		return w, h
	}
	return 80, 24
}
