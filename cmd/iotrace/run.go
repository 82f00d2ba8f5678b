package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/report"
	"github.com/iotrace/iotrace/internal/trace"
	"github.com/iotrace/iotrace/internal/ui"
	"github.com/iotrace/iotrace/internal/workloads"
)

const defaultInterval = time.Second

type traceOptions struct {
	pids      []int
	comm      string
	cgroup    string
	all       bool
	duration  time.Duration
	interval  time.Duration
	noTUI     bool
	output    string
	readyFile string
	probeMode string
	noFollow  bool
	format    string
	events    bool
	evLimit   int
	command   []string
	metrics   metricsOptions // --listen (listen.go)

	// Set by the flags in flags.go (targets, filters, the command, output).
	commSet      bool // --comm was given, even empty
	cgroupSet    bool // --cgroup was given, even empty
	formatSet    bool // --format was given: it wins over -o's extension
	tids         []int
	syscallList  []string
	syscalls     []model.Syscall
	summaryOnly  bool
	quiet        bool
	verbose      bool
	leaveRunning bool
	commandLog   string

	// The built-in workloads, when no target is given.
	demoModels []string
	demoFds    int
	demoActive int
	demoRate   float64
	demoSize   int
	demoTCP    bool
}

// demoMode is a run with no target: the built-in workloads side by side.
func (o *traceOptions) demoMode() bool {
	return len(o.pids) == 0 && len(o.tids) == 0 && !o.commSet && !o.cgroupSet && !o.all && len(o.command) == 0
}

func (o *traceOptions) validate() (collector.Mode, error) {
	mode, err := collector.ParseMode(o.probeMode)
	if err != nil {
		return "", err
	}
	if err := o.validateFlags(); err != nil {
		return "", err
	}
	if o.events && o.output == "" {
		return "", errors.New("--events records every call into the trace file: it needs -o FILE")
	}
	if o.evLimit < 0 {
		return "", fmt.Errorf("--events-limit must not be negative, got %d", o.evLimit)
	}
	if o.interval <= 0 {
		return "", fmt.Errorf("--interval must be positive, got %s", o.interval)
	}
	if o.duration < 0 {
		return "", fmt.Errorf("--duration must not be negative, got %s", o.duration)
	}
	if o.all && (len(o.pids) > 0 || o.comm != "" || len(o.command) > 0) {
		return "", errors.New("--all traces every process: it cannot be combined with --pid, --comm or a command")
	}
	if err := o.validateCgroup(); err != nil {
		return "", err
	}
	for _, p := range o.pids {
		if p <= 0 {
			return "", fmt.Errorf("invalid pid %d", p)
		}
	}
	if o.demoMode() {
		for _, m := range o.demoModels {
			if _, err := workloads.ParseModel(m); err != nil {
				return "", fmt.Errorf("--demo-models: %v", err)
			}
		}
		if len(o.demoModels) == 0 {
			return "", errors.New("--demo-models is empty")
		}
		if o.demoFds < 1 || o.demoActive < 0 || o.demoActive > o.demoFds || o.demoRate < 0 || o.demoSize < 1 {
			return "", fmt.Errorf("invalid demo load: --demo-fds %d, --demo-active %d, --demo-rate %g, --demo-size %d (need fds >= 1, 0 <= active <= fds, rate >= 0, size >= 1)",
				o.demoFds, o.demoActive, o.demoRate, o.demoSize)
		}
	}
	return mode, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// session is one tracing run.
type session struct {
	o    *traceOptions
	out  io.Writer // text tables and the summary
	col  *collector.Collector
	sink trace.Sink
	demo *demo
	cmd  *command // the command after "--", held at its gate until attached
	// text is false while the dashboard owns the terminal.
	text bool
	// traceDone: the trace file was closed (complete, or what was written
	// kept after a write error), so it is not to be aborted.
	traceDone bool
	// started is when every probe was attached: counting began.
	started time.Time
}

// stopSignals end a run cleanly: the trace is written in full and the
// summary printed. SIGHUP is the terminal closing.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// textOutput is where the text tables and the summary go: standard output,
// unless the trace goes there (-o -): then standard error, and no
// dashboard.
func (r *session) textOutput(cmd *cobra.Command) {
	if r.o.output == trace.Stdout {
		r.out = cmd.ErrOrStderr()
		r.text = true
	}
}

// abortTrace removes an unfinished trace of a run that failed; what a
// started JSON Lines trace holds is kept.
func (r *session) abortTrace() {
	if r.sink != nil && !r.traceDone {
		r.sink.Abort()
	}
}

func runTrace(cmd *cobra.Command, o *traceOptions) (err error) {
	mode, err := o.validate()
	if err != nil {
		return err
	}
	if err := o.metrics.validate(); err != nil {
		return err
	}
	r := &session{o: o, out: cmd.OutOrStdout()}
	stdout, isFile := r.out.(*os.File)
	r.text = o.noTUI || o.summaryOnly || !isFile || !isTerminal(stdout) || !isTerminal(os.Stdin)
	r.textOutput(cmd)

	if o.output != "" {
		format, _ := o.traceFormat()
		if r.sink, err = trace.Create(o.output, format, trace.Options{EventsLimit: o.evLimit}); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				r.abortTrace()
			}
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()

	pids := append([]int(nil), o.pids...)
	var execPids []int
	released := false
	if len(o.command) > 0 {
		if err = r.startCommand(); err != nil {
			return err
		}
		// A target from its exec on: the gate is iotrace's own code.
		execPids = append(execPids, r.cmd.child.Pid())
		defer func() {
			if !released { // never released: do not leave it behind
				r.cmd.child.CloseGate()
				r.cmd.child.Wait()
			} else { // the run failed: do not leave it behind either
				r.endCommand(&loopResult{}, os.Stderr)
			}
		}()
	}

	copts := collector.Options{Mode: mode, Pids: pids, ExecPids: execPids, Comm: o.comm, Cgroup: o.cgroup, All: o.all, NoFollow: o.noFollow,
		Tids: o.tids, Syscalls: o.syscalls}
	if o.demoMode() {
		for _, m := range o.demoModels {
			copts.Describe = append(copts.Describe, "demo:"+m)
		}
	}
	if o.events {
		copts.OnCall = r.sink.Event
	}
	if r.col, err = collector.New(copts); err != nil {
		return err
	}
	r.started = time.Now()
	defer r.col.Close()
	r.startNotes(cmd.ErrOrStderr())
	srv, err := r.listen(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer srv.Close()

	if o.demoMode() {
		models := make([]workloads.Model, len(o.demoModels))
		for i, s := range o.demoModels {
			models[i], _ = workloads.ParseModel(s)
		}
		params := ui.LoadParams{Fds: o.demoFds, Active: o.demoActive, Rate: o.demoRate}
		if r.demo, err = newDemo(ctx, models, params, o.demoSize, o.demoTCP); err != nil {
			return err
		}
		r.demo.track = r.col.AddTarget
		if err := r.demo.start(); err != nil {
			return err
		}
		defer r.demo.stop()
	}

	if o.readyFile != "" {
		if err := os.WriteFile(o.readyFile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("cannot write ready file %s: %v", o.readyFile, unwrapPathError(err))
		}
	}
	if r.cmd != nil {
		if err := r.cmd.child.Release(); err != nil {
			return fmt.Errorf("releasing %s: %w", o.command[0], err)
		}
		r.cmd.child.CloseGate()
		released = true
		r.cmd.watch(r.col)
	}

	var res loopResult
	var uiErr error
	if r.text {
		res = r.loop(ctx)
	} else {
		// A dashboard that fails (the terminal closed) still ends the
		// run properly: the trace is written.
		res, uiErr = r.dashboard(ctx)
	}
	if res.err != nil {
		return res.err
	}
	stop() // a second SIGINT now kills iotrace the default way
	r.endCommand(&res, cmd.ErrOrStderr())
	if err := r.finish(res); err != nil {
		return err
	}
	if uiErr != nil {
		return uiErr
	}
	return r.commandExit()
}

// dashboard runs the loop (recording only) behind the terminal dashboard
// until either ends.
func (r *session) dashboard(ctx context.Context) (loopResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan loopResult, 1)
	go func() {
		done <- r.loop(ctx)
		cancel() // the run ended by itself: close the dashboard
	}()
	if err := r.col.EnableStats(); err != nil {
		// The header says why the tracer's cost is not shown.
		_ = err
	}
	m, why := r.col.Mode()
	info := ui.Info{ProbeMode: string(m), ModeReason: why, Interval: r.o.interval}
	if r.cmd != nil {
		info.CommandLog = r.cmd.logPath
	}
	var dm ui.Demo
	if r.demo != nil {
		dm = r.demo
	}
	uiErr := ui.Run(ctx, r.col, info, r.col.Cost, dm)
	cancel()
	res := <-done
	if uiErr != nil {
		return res, fmt.Errorf("dashboard: %w", uiErr)
	}
	return res, nil
}

type loopResult struct {
	prev       *model.Snapshot
	last       time.Time
	exitStatus *int
	err        error
}

// loop takes a snapshot every interval, prints it (text mode) and records
// it (-o), until a signal, the duration, the targets' exit or ctx ends it.
func (r *session) loop(ctx context.Context) (res loopResult) {
	o := r.o
	childDone := r.commandDone()

	live := map[int]bool{}
	for _, p := range r.col.TargetPids() {
		live[p] = true
	}
	// Runs that name their targets end when those are gone.
	waitForTargets := len(o.pids)+len(o.tids) > 0 && r.cmd == nil && r.demo == nil

	var deadline <-chan time.Time
	if o.duration > 0 {
		t := time.NewTimer(o.duration)
		defer t.Stop()
		deadline = t.C
	}
	ticker := time.NewTicker(o.interval)
	defer ticker.Stop()

	if res.prev, res.err = r.col.Snapshot(); res.err != nil {
		return res
	}
	res.last = time.Now()
	if b, ok := r.sink.(trace.Beginner); ok {
		m := res.prev.Meta
		m.Interval, m.Command = o.interval, o.command
		m.Started = r.started
		// A write error does not end the run: Close reports it.
		_ = b.Begin(m)
	}
	events := r.col.Events()
	for {
		select {
		case <-ctx.Done():
			return res
		case <-deadline:
			return res
		case st := <-childDone:
			res.exitStatus = &st
			return res
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			r.noteProcEvent(ev)
			switch ev.Kind {
			case collector.EventFork, collector.EventComm, collector.EventCgroup, collector.EventExec:
				live[ev.Pid] = true
			case collector.EventExit:
				delete(live, ev.Pid)
				if waitForTargets && len(live) == 0 {
					return res
				}
			}
		case now := <-ticker.C:
			cur, err := r.col.Snapshot()
			if err != nil {
				res.err = err
				return res
			}
			if r.text && !r.headless() && !o.summaryOnly {
				if err := report.Interval(r.out, cur, res.prev, now, now.Sub(res.last)); err != nil {
					res.err = err
					return res
				}
				fmt.Fprintln(r.out)
			}
			r.record(model.Delta(res.prev, cur, res.last, now))
			res.prev, res.last = cur, now
		}
	}
}

// record writes an interval to the trace file. A write error does not end
// the run: the sink keeps what it wrote and stops writing, and finish
// reports the error after the summary.
func (r *session) record(iv model.Interval) {
	if r.sink != nil {
		_ = r.sink.Interval(iv)
	}
}

// finish stamps the run's end when counting stops (the last snapshot),
// detaches, writes the trace file complete and prints the last partial
// interval (text mode) and the summary. A trace write error is returned
// after the summary is printed.
func (r *session) finish(res loopResult) error {
	end := time.Now()
	final, err := r.col.Snapshot()
	if err != nil {
		return err
	}
	if r.demo != nil {
		r.demo.stop()
	}
	r.col.Close() // detaches, and delivers the last per-call events
	// The collector's start is before its programs were loaded (a few
	// hundred ms): the run counts from when every probe was attached.
	final.Meta.Started, final.Meta.Ended = r.started, end
	final.Meta.Command = r.o.command
	final.Meta.ExitStatus = res.exitStatus
	final.Meta.Interval = r.o.interval
	writeErr := r.closeTrace(final, res, end)
	if err := r.lastInterval(final, res, end); err != nil {
		return err
	}
	if err := report.Summary(r.out, final); err != nil {
		return err
	}
	return writeErr
}

// closeTrace writes the last interval and the totals to the trace file.
func (r *session) closeTrace(final *model.Snapshot, res loopResult, end time.Time) error {
	if r.sink == nil {
		return nil
	}
	r.record(model.Delta(res.prev, final, res.last, end))
	r.traceDone = true
	return r.sink.Close(final)
}

// lastInterval prints, in text mode, the interval from the last table to
// the end, unless the run ended on a tick with nothing after it.
func (r *session) lastInterval(final *model.Snapshot, res loopResult, end time.Time) error {
	dt := end.Sub(res.last)
	if !r.text || r.o.summaryOnly || r.headless() || (dt < r.o.interval/100 && len(report.Rows(final, res.prev)) == 0) {
		return nil
	}
	if err := report.Interval(r.out, final, res.prev, end, dt); err != nil {
		return err
	}
	_, err := fmt.Fprintln(r.out)
	return err
}
