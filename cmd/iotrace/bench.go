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

	"github.com/iotrace/iotrace/internal/scaling"
	"github.com/iotrace/iotrace/internal/workloads"
)

type benchOptions struct {
	models   []string
	fds      []int
	active   int
	size     int
	messages int64
	duration time.Duration
	output   string
	plot     string
	noTrace  bool
	mode     string
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure how each I/O model's cost per call grows with the number of connections",
		Long: `bench runs the built-in workload of each model (--models) with N connections
for each N of --fds, K (--active) of them written to as fast as the server
reads, and reports for each cell: ns per call (the run's wall time / the
waiting calls it made), messages per second, and CPU time per message (the
workload process's user+sys time after its setup, every thread). By default
all nine models: blocking, nonblock-spin, select, poll, epoll-lt, epoll-et,
epoll-oneshot, sigio and uring. Their waiting calls differ (see "iotrace
workload --help"), so compare models by messages per second and CPU per
message; ns per call compares the multiplexing models.

As root (unless --no-trace) every cell is then run a second time under the
tracer for the kernel's figures per call for the server thread: fds watched,
readiness checks (fd_polls), ready events, bytes copied in and out, wakeups,
and CPU time inside the call. Timing comes from the untraced runs, so the
probes' cost does not distort it. The tracer measures the waits of select,
poll and epoll only so far: the other models' kernel figures are n/a.

Under the table, the crossover: for select and poll against epoll-lt, the
smallest N where epoll is cheaper per call, and the ratio at the largest N.
A cell that cannot run (select beyond FD_SETSIZE, blocking beyond its
thread limit, io_uring disabled, too few file descriptors) is skipped with
the reason.`,
		Example: `  sudo iotrace bench
  sudo iotrace bench --fds 10,100,1000,5000 --output bench.json --plot bench.svg
  iotrace bench --no-trace --models poll,epoll-lt --duration 2s`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, &o)
		},
	}
	f := cmd.Flags()
	var defModels []string
	for _, m := range scaling.DefaultModels {
		defModels = append(defModels, string(m))
	}
	f.IntSliceVar(&o.fds, "fds", scaling.DefaultFDs, "connection counts `N` to measure (comma-separated)")
	f.IntVar(&o.active, "active", 1, "connections `K` written to in every cell")
	f.StringSliceVar(&o.models, "models", defModels, "models to measure: blocking, nonblock-spin, select, poll, epoll-lt, epoll-et, epoll-oneshot, sigio, uring")
	f.Int64Var(&o.messages, "messages", scaling.DefaultMessages, "messages `M` per cell")
	f.DurationVar(&o.duration, "duration", 0, "run each cell for `D` instead of a number of messages")
	f.IntVar(&o.size, "size", 64, "`BYTES` per message")
	f.StringVarP(&o.output, "output", "o", "", "write the results as JSON to `FILE`")
	f.StringVar(&o.plot, "plot", "", "write an SVG chart of the cost per call against N to `FILE`")
	f.BoolVar(&o.noTrace, "no-trace", false, "timing only: do not run the cells under the tracer")
	f.StringVar(&o.mode, "probe-mode", "auto", "how the tracer attaches: auto, fentry, kprobe, rawtp or tracepoint")
	f.SortFlags = false
	return cmd
}

// params turns the flags into validated bench parameters.
func (o *benchOptions) params(cmd *cobra.Command) (scaling.Params, error) {
	p := scaling.Params{
		FDs: append([]int(nil), o.fds...), Active: o.active, Size: o.size,
		Messages: o.messages, Duration: o.duration,
		Trace: !o.noTrace, ProbeMode: o.mode,
	}
	if cmd.Flags().Changed("duration") {
		if cmd.Flags().Changed("messages") {
			return p, errors.New("--messages and --duration cannot be combined: each cell runs for one or the other")
		}
		p.Messages = 0
		if o.duration <= 0 {
			return p, fmt.Errorf("--duration must be positive, not %s", o.duration)
		}
	} else if o.messages <= 0 {
		return p, fmt.Errorf("--messages must be positive, not %d", o.messages)
	}
	for _, s := range o.models {
		m, err := workloads.ParseModel(s)
		if err != nil {
			return p, fmt.Errorf("--models: %v", err)
		}
		p.Models = append(p.Models, m)
	}
	return p, p.Validate()
}

func runBench(cmd *cobra.Command, o *benchOptions) error {
	p, err := o.params(cmd)
	if err != nil {
		return err
	}
	if o.output != "" {
		if err := scaling.CheckWritable("--output", o.output); err != nil {
			return err
		}
	}
	if o.plot != "" {
		if err := scaling.CheckWritable("--plot", o.plot); err != nil {
			return err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding iotrace's own executable: %w", err)
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	rep, serr := scaling.Sweep(ctx, p, exe, cmd.ErrOrStderr())
	stop()
	rep.Version = versionString()
	out := cmd.OutOrStdout()
	if err := scaling.WriteTable(out, rep); err != nil {
		return err
	}
	if err := scaling.WriteSummary(out, rep); err != nil {
		return err
	}
	// An interrupted sweep still writes what it measured.
	if o.output != "" {
		if err := scaling.WriteFile(o.output, func(w io.Writer) error { return scaling.WriteJSON(w, rep) }); err != nil {
			return err
		}
	}
	if o.plot != "" {
		if err := scaling.WriteFile(o.plot, func(w io.Writer) error { return scaling.WritePlot(w, rep) }); err != nil {
			return err
		}
	}
	if serr != nil {
		return fmt.Errorf("bench interrupted: %v", serr)
	}
	return nil
}
