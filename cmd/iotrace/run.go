package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/report"
	"github.com/iotrace/iotrace/internal/trace"
)

const defaultInterval = time.Second

type traceOptions struct {
	pids      []int
	comm      string
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
}

func (o *traceOptions) validate() (collector.Mode, error) {
	mode, err := collector.ParseMode(o.probeMode)
	if err != nil {
		return "", err
	}
	if _, err := trace.ParseFormat(o.format); err != nil {
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
	kinds := 0
	for _, set := range []bool{len(o.pids) > 0, o.comm != "", o.all, len(o.command) > 0} {
		if set {
			kinds++
		}
	}
	if kinds == 0 {
		return "", errors.New("nothing to trace: give --pid PID, --comm NAME, --all, or -- COMMAND")
	}
	if o.all && kinds > 1 {
		return "", errors.New("--all traces every process: it cannot be combined with --pid, --comm or a command")
	}
	for _, p := range o.pids {
		if p <= 0 {
			return "", fmt.Errorf("invalid pid %d", p)
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

func runTrace(cmd *cobra.Command, o *traceOptions) (err error) {
	mode, err := o.validate()
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	out2 := cmd.ErrOrStderr()

	var sink trace.Sink
	if o.output != "" {
		format, _ := trace.ParseFormat(o.format)
		if sink, err = trace.Create(o.output, format, trace.Options{EventsLimit: o.evLimit}); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				sink.Abort()
			}
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	pids := append([]int(nil), o.pids...)
	var child *exec.Cmd
	var gate *os.File
	if len(o.command) > 0 {
		child, gate, err = startGated(o.command)
		if err != nil {
			return err
		}
		pids = append(pids, child.Process.Pid)
		defer func() {
			if gate != nil { // never released: do not leave it behind
				gate.Close()
				child.Wait()
			}
		}()
	}

	copts := collector.Options{Mode: mode, Pids: pids, Comm: o.comm, All: o.all, NoFollow: o.noFollow}
	if o.events {
		copts.OnCall = sink.Event
	}
	col, err := collector.New(copts)
	if err != nil {
		return err
	}
	defer col.Close()

	m, why := col.Mode()
	fmt.Fprintf(out2, "iotrace: tracing with %s probes (%s)\n", m, why)
	if o.readyFile != "" {
		if err := os.WriteFile(o.readyFile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("cannot write ready file %s: %v", o.readyFile, unwrapPathError(err))
		}
	}

	childDone := make(chan int, 1)
	if child != nil {
		if _, err := gate.Write([]byte{'g'}); err != nil {
			return fmt.Errorf("releasing %s: %w", o.command[0], err)
		}
		gate.Close()
		gate = nil
		go func() {
			err := child.Wait()
			status := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = ee.ExitCode()
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					status = 128 + int(ws.Signal())
				}
			}
			childDone <- status
		}()
	}

	live := map[int]bool{}
	for _, p := range pids {
		live[p] = true
	}
	waitForTargets := !o.all && o.comm == ""

	var deadline <-chan time.Time
	if o.duration > 0 {
		t := time.NewTimer(o.duration)
		defer t.Stop()
		deadline = t.C
	}
	ticker := time.NewTicker(o.interval)
	defer ticker.Stop()

	var exitStatus *int
	prev, err := col.Snapshot()
	if err != nil {
		return err
	}
	last := time.Now()
	if b, ok := sink.(trace.Beginner); ok {
		m := prev.Meta
		m.Interval = o.interval
		m.Command = o.command
		if err := b.Begin(m); err != nil {
			return err
		}
	}
	events := col.Events()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-deadline:
			break loop
		case st := <-childDone:
			exitStatus = &st
			break loop
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			switch ev.Kind {
			case collector.EventFork, collector.EventComm:
				live[ev.Pid] = true
			case collector.EventExit:
				delete(live, ev.Pid)
				if waitForTargets && len(live) == 0 && child == nil {
					break loop
				}
			}
		case now := <-ticker.C:
			cur, err := col.Snapshot()
			if err != nil {
				return err
			}
			if err := report.Interval(out, cur, prev, now, now.Sub(last)); err != nil {
				return err
			}
			fmt.Fprintln(out)
			if sink != nil {
				if err := sink.Interval(model.Delta(prev, cur, last, now)); err != nil {
					return err
				}
			}
			prev, last = cur, now
		}
	}
	stop() // a second SIGINT now kills iotrace the default way

	final, err := col.Snapshot()
	if err != nil {
		return err
	}
	col.Close() // detaches, and delivers the last per-call events
	end := time.Now()
	final.Meta.Ended = end
	final.Meta.Command = o.command
	final.Meta.ExitStatus = exitStatus
	final.Meta.Interval = o.interval
	if sink != nil {
		if err := sink.Interval(model.Delta(prev, final, last, end)); err != nil {
			return err
		}
		if err := sink.Close(final); err != nil {
			return err
		}
	}
	return report.Summary(out, final)
}
