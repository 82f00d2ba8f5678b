// Package ui is iotrace's terminal dashboard, built on rivo/tview.
//
// It never talks to the kernel: it reads cumulative snapshots through
// Source, the tracer's own cost through CostFunc and, when iotrace runs its
// built-in workloads, their parameters and ground truth through Demo.
//
// Layers:
//   - State (state.go, rows.go) is the model: it takes timestamped samples
//     and computes per-interval figures, process and thread rows,
//     comparison columns and a short history per row. No UI types.
//   - The views (views.go) are tview widgets filled from State by render.
//   - The refresh loop (Dashboard.loop) runs on its own goroutine: every
//     Info.Interval it pulls a sample (Source, CostFunc, Demo) and hands it
//     to the UI goroutine with App.QueueUpdateDraw, which folds it into
//     State and re-renders. It also serves requests from the UI: redraws,
//     an immediate sample after a pause, and Demo.SetParams, which may be
//     slow and so never runs on the UI goroutine.
//   - Keys are dispatched from one table (keys.go) that also generates the
//     help overlay. Handlers run on the UI goroutine, change the view state
//     and ask the loop for a redraw; they never fill widgets themselves.
//
// Run shows the dashboard on the terminal; New builds one on any App and
// screen, which is how the tests drive it on a tcell.SimulationScreen.
package ui

import (
	"sync"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/iotrace/iotrace/internal/model"
)

// Source supplies cumulative snapshots (live collector or, later, a saved
// trace).
type Source interface {
	Snapshot() (*model.Snapshot, error)
}

// Info is static text for the header.
type Info struct {
	ProbeMode, ModeReason string
	Interval              time.Duration
	// CommandLog, when set, is the file the traced command's output goes
	// to while the dashboard owns the terminal.
	CommandLog string
}

// CostFunc returns the cumulative run time (ns) and run count of iotrace's
// BPF programs from the kernel's BPF stats; ok=false when unavailable (the
// header then says why, e.g. "BPF stats off").
type CostFunc func() (runNs, runCount uint64, ok bool, why string)

// Demo is present when iotrace runs its built-in workloads side by side (nil
// otherwise).
type Demo interface {
	Params() LoadParams
	SetParams(LoadParams) error // applied to all models at once
	Models() []DemoModel        // one per running workload model
}

// LoadParams are the parameters shared by every demo workload.
type LoadParams struct {
	Fds, Active int
	Rate        float64 // msgs/s, 0 = max
}

// DemoModel is one running workload model.
type DemoModel struct {
	Name string // "select", "poll", "epoll-lt", "epoll-et", ...
	Pid  int    // its child process, traced
	// Tid is the thread that makes the workload's multiplexing calls
	// (workloads.Result.ServerTID). When set, the model's column shows that
	// thread's figures only: Go's runtime makes epoll_pwait calls of its
	// own on other threads, which would otherwise count in the epoll
	// columns. 0: the whole process, by family.
	Tid    int
	Status string // non-empty when it cannot run, e.g. "select cannot watch fd >= 1024 (FD_SETSIZE)"
	Truth  Truth  // the workload's own ground truth counters (cumulative)
}

// Truth is a workload's own count of what it did (cumulative).
type Truth struct {
	Calls, ReadyEvents, BytesRead, Messages uint64
	Elapsed                                 time.Duration
}

// App is the part of *tview.Application the dashboard uses. NewApp wraps a
// real application; tests use a double that runs QueueUpdateDraw closures
// synchronously.
type App interface {
	// SetScreen sets the screen to draw on (before Run).
	SetScreen(tcell.Screen)
	SetRoot(root tview.Primitive, fullscreen bool)
	SetFocus(p tview.Primitive)
	SetInputCapture(func(*tcell.EventKey) *tcell.EventKey)
	// QueueUpdateDraw runs f on the UI goroutine and redraws. It returns
	// once f has run, or at once if the application has stopped.
	QueueUpdateDraw(f func())
	// Run runs the event loop until Stop.
	Run() error
	// Stop ends Run and restores the terminal. It may be called from any
	// goroutine, before, during or after Run, any number of times.
	Stop()
}

// NewApp returns an App backed by a new *tview.Application.
func NewApp() App {
	return &tviewApp{app: tview.NewApplication(), done: make(chan struct{})}
}

// tviewApp adapts *tview.Application to App. tview's QueueUpdate blocks
// until the event loop runs the update, forever once Run has returned, and
// its Stop is lost if called before Run has taken the screen; the adapter
// guards against both.
type tviewApp struct {
	app      *tview.Application
	done     chan struct{} // closed when Run returns
	stopOnce sync.Once
	runOnce  sync.Once
}

func (t *tviewApp) SetScreen(s tcell.Screen) { t.app.SetScreen(s) }
func (t *tviewApp) SetRoot(root tview.Primitive, fullscreen bool) {
	t.app.SetRoot(root, fullscreen)
}
func (t *tviewApp) SetFocus(p tview.Primitive) { t.app.SetFocus(p) }
func (t *tviewApp) SetInputCapture(f func(*tcell.EventKey) *tcell.EventKey) {
	t.app.SetInputCapture(f)
}

func (t *tviewApp) QueueUpdateDraw(f func()) {
	select {
	case <-t.done:
		return
	default:
	}
	queued := make(chan struct{})
	go func() {
		t.app.QueueUpdateDraw(f)
		close(queued)
	}()
	select {
	case <-queued:
	case <-t.done:
	}
}

func (t *tviewApp) Run() error {
	defer t.runOnce.Do(func() { close(t.done) })
	return t.app.Run()
}

func (t *tviewApp) Stop() {
	t.stopOnce.Do(func() {
		// Stopping from inside the event loop guarantees that Run has
		// started (so the stop is not lost) and does not block the caller,
		// which may itself be running on the event loop.
		go func() {
			select {
			case <-t.done:
				return
			default:
			}
			t.app.QueueUpdate(t.app.Stop)
		}()
	})
}
