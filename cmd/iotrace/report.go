package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/report"
	"github.com/iotrace/iotrace/internal/trace"
	"github.com/iotrace/iotrace/internal/ui"
)

func newReportCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "report FILE",
		Short: "Summarize a saved trace (JSON, JSON Lines or Chrome form)",
		Long: `report prints a saved trace's summary: per process and syscall, then the
comparison figures per process and model (calls/s, fds and fd_polls per call,
efficiency, bytes copied, wakeups, latency). --json prints them as JSON.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := trace.ReadFile(args[0])
			if err != nil {
				return err
			}
			snap := rec.Snapshot()
			out := cmd.OutOrStdout()
			if asJSON {
				return writeReportJSON(out, args[0], rec)
			}
			report.Header(out, args[0], rec.Meta, rec.Truncated)
			if err := report.Summary(out, snap); err != nil {
				return err
			}
			if cols := report.ModelColumns(snap); len(cols) > 0 {
				fmt.Fprintln(out)
				fmt.Fprintln(out, "per process and model, over the whole run:")
				return report.Comparison(out, cols, &snap.Meta)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

type reportJSON struct {
	File      string             `json:"file"`
	Truncated bool               `json:"truncated"`
	Meta      model.Meta         `json:"meta"`
	Models    []reportModelJSON  `json:"models"`
	Totals    map[string]figJSON `json:"totals"`
	// TotalsProvenance is the provenance of each model's figures in Totals.
	TotalsProvenance map[string]map[string]model.Provenance `json:"totals_provenance"`
}

type reportModelJSON struct {
	Pid     int     `json:"pid"`
	Comm    string  `json:"comm"`
	Model   string  `json:"model"`
	Figures figJSON `json:"figures"`
	// Provenance says, per figure, whether it is observed, from arguments
	// or estimated.
	Provenance map[string]model.Provenance `json:"provenance"`
}

type figJSON = model.Figures

func writeReportJSON(w interface{ Write([]byte) (int, error) }, name string, rec *trace.Recording) error {
	snap := rec.Snapshot()
	dur := snap.Meta.Ended.Sub(snap.Meta.Started)
	r := reportJSON{File: name, Truncated: rec.Truncated, Meta: rec.Meta, Models: []reportModelJSON{}, Totals: map[string]figJSON{}}
	for _, p := range snap.Processes {
		fams := p.Syscalls.ByFamily()
		for _, f := range model.Families {
			if st := fams[f]; st != nil && st.Calls > 0 {
				r.Models = append(r.Models, reportModelJSON{Pid: p.Pid, Comm: p.Comm, Model: string(f), Figures: model.DeriveFamily(p.Syscalls, f, dur),
					Provenance: snap.Meta.FigureProvenances(f)})
			}
		}
	}
	r.TotalsProvenance = map[string]map[string]model.Provenance{}
	for f, fig := range report.FamilyColumns(snap) {
		r.Totals[string(f)] = fig
		r.TotalsProvenance[string(f)] = snap.Meta.FigureProvenances(f)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(r)
}

func newDiffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff A B",
		Short: "Compare two saved traces model by model, or across models",
		Long: `diff prints each model's figures (summed over all processes) of two saved
traces side by side, with the change from A to B. Models both traces have
are compared with themselves; when the two have no model in common, each of
A's is compared with each of B's: for example a server before and after
moving from poll to epoll (the section "poll → epoll").`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := trace.ReadFile(args[0])
			if err != nil {
				return err
			}
			b, err := trace.ReadFile(args[1])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			report.Header(out, "A "+args[0], a.Meta, a.Truncated)
			report.Header(out, "B "+args[1], b.Meta, b.Truncated)
			fmt.Fprintln(out)
			return report.Diff(out, args[0], args[1], report.FamilyColumns(a.Snapshot()), report.FamilyColumns(b.Snapshot()))
		},
	}
}

func newReplayCmd() *cobra.Command {
	var speed float64
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Show a saved trace on the dashboard, interval by interval",
		Long: `replay drives the dashboard with a saved trace's intervals instead of the
live tracer: one recorded interval per refresh (--speed 2 plays twice as
fast). p pauses, n steps one interval while paused, q quits.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if speed <= 0 {
				return fmt.Errorf("--speed must be positive, got %g", speed)
			}
			rec, err := trace.ReadFile(args[0])
			if err != nil {
				return err
			}
			if len(rec.Intervals) == 0 {
				return fmt.Errorf("%s: the trace has no intervals to replay (use iotrace report)", args[0])
			}
			if !isTerminal(os.Stdout) || !isTerminal(os.Stdin) {
				return errors.New("replay needs a terminal; for text, use iotrace report")
			}
			step := rec.Meta.Interval
			if first := rec.Intervals[0]; step <= 0 {
				step = first.End.Sub(first.Start)
			}
			if step <= 0 {
				step = time.Second
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			info := ui.Info{ProbeMode: rec.Meta.ProbeMode, ModeReason: "replay of " + args[0],
				Interval: time.Duration(float64(step) / speed)}
			return ui.Run(ctx, newReplaySource(rec), info, nil, nil)
		},
	}
	cmd.Flags().Float64Var(&speed, "speed", 1, "replay speed")
	return cmd
}

// replaySource hands out the recording's cumulative state one interval at
// a time: first the start (nothing yet), then after each interval. Each
// snapshot carries its recorded end time, which the dashboard uses for
// rates. Threads and epoll instances are not in intervals, so replayed
// processes have neither.
type replaySource struct {
	mu      sync.Mutex
	rec     *trace.Recording
	started bool
	next    int // intervals applied
	cum     map[int]*model.Process
}

func newReplaySource(rec *trace.Recording) *replaySource {
	return &replaySource{rec: rec, cum: map[int]*model.Process{}}
}

func (r *replaySource) Snapshot() (*model.Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	meta := r.rec.Meta
	meta.Ended = meta.Started
	// The first call shows the start; each later one applies one more
	// interval, until the last, which then stays on screen.
	if r.started && r.next < len(r.rec.Intervals) {
		for _, d := range r.rec.Intervals[r.next].Processes {
			p := r.cum[d.Pid]
			if p == nil {
				p = &model.Process{Pid: d.Pid, Comm: d.Comm, Syscalls: model.SyscallStats{}}
				r.cum[d.Pid] = p
			}
			p.Syscalls.Merge(d.Syscalls)
		}
		r.next++
	}
	r.started = true
	if r.next > 0 {
		meta.Ended = r.rec.Intervals[r.next-1].End
	}
	snap := &model.Snapshot{Meta: meta}
	for _, p := range r.cum {
		c := &model.Process{Pid: p.Pid, Comm: p.Comm, Syscalls: model.SyscallStats{}}
		for sc, s := range p.Syscalls {
			c.Syscalls[sc] = s.Clone()
		}
		snap.Processes = append(snap.Processes, c)
	}
	return snap, nil
}
