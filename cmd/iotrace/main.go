// Command iotrace measures how Linux processes wait for I/O with select,
// poll and epoll, using eBPF.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	os.Exit(run(os.Args[1:]))
}

// exitError carries a specific exit status up to main.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(os.Stderr, "iotrace: %v\n", err)
	return 1
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newRootCmd() *cobra.Command {
	var o traceOptions
	cmd := &cobra.Command{
		Use:   "iotrace [flags] [-- COMMAND [ARGS...]]",
		Short: "Measure how processes use select, poll and epoll, with eBPF",
		Long: `iotrace traces select, pselect6, poll, ppoll, epoll_wait, epoll_pwait,
epoll_pwait2 and epoll_ctl in the processes you name, and reports per-thread
figures: calls, fds watched, per-fd readiness checks, bytes copied between
user and kernel, wakeups, time blocked, latency, and epoll ready-list lengths.
Each is observed, computed from the call's arguments, or estimated by a model
(marked ~; in this version the readiness checks are estimated). See
docs/metrics.md for what each figure means and how it is obtained.

Targets: --pid (with its children, existing and new), --tid, --comm, --all,
or a command after "--" (its children are followed; --no-follow: only the
targets named). -e/--syscalls traces some of the syscalls. With no target,
iotrace runs its built-in select, poll and epoll workloads side by side on
the same load and traces them (keys in the dashboard change the load for
all of them).

On a terminal iotrace shows a live dashboard (? lists its keys); a command's
output then goes to a log file named in the header. Without a terminal, or
with --no-tui, it prints a table every interval and a summary at the end;
-c prints only the summary. -o writes a trace file, its format from the
extension (docs/trace-format.md); -o - writes it to standard output, and the
tables and the summary then go to standard error.
SIGINT, SIGTERM or SIGHUP ends the run cleanly: probes are detached and the
output is written in full. If the trace cannot be written (a full disk), the
file keeps what was written, the summary is still printed, and iotrace exits
1. A command still running then gets SIGTERM, and SIGKILL 2s later
(--leave-running: neither), and iotrace exits with its status: its exit
code, or 128+N when signal N ended it.

iotrace needs root (or CAP_BPF and CAP_PERFMON).`,
		Example: `  iotrace                                   # built-in workloads, side by side
  iotrace --pid 1234                        # a process and its children
  iotrace --pid 1234 --no-tui -d 10s -o trace.json
  iotrace -- python3 -m http.server         # start and trace a command
  iotrace --comm nginx -i 5s
  iotrace --cgroup system.slice/nginx.service
  iotrace --tid 1240 -e poll,epoll_wait -c  # a thread's poll and epoll_wait, summary only
  iotrace -o run.jsonl -- ./server          # JSON Lines, from the extension
  iotrace --listen :9464 --comm redis-server  # a Prometheus endpoint
  iotrace probes`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if n := cmd.ArgsLenAtDash(); n > 0 || (n < 0 && len(args) > 0) {
				return fmt.Errorf("unexpected argument %q (a command to trace goes after \"--\")", args[0])
			}
			o.command = args
			noteSetFlags(cmd.Flags(), &o)
			return runTrace(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.IntSliceVarP(&o.pids, "pid", "p", nil, "trace these processes, all threads (comma-separated `PID`s)")
	f.StringVar(&o.comm, "comm", "", "trace processes whose thread name is `NAME`")
	addCgroupFlag(f, &o)
	f.BoolVarP(&o.all, "all", "a", false, "trace every process")
	f.DurationVarP(&o.duration, "duration", "d", 0, "stop after this long (0: until interrupted or the targets exit)")
	f.DurationVarP(&o.interval, "interval", "i", defaultInterval, "report interval")
	f.BoolVar(&o.noTUI, "no-tui", false, "print text tables instead of the dashboard")
	f.StringVarP(&o.output, "output", "o", "", "write the trace to `FILE` (its format from the extension: .jsonl, .chrome or .perfetto, else json; - for standard output, the tables then go to standard error)")
	f.StringVar(&o.readyFile, "ready-file", "", "create `PATH` once every probe is attached")
	f.StringVar(&o.probeMode, "probe-mode", "auto", "how to attach: auto, fentry, kprobe, rawtp or tracepoint")
	f.BoolVar(&o.noFollow, "no-follow", false, "trace only the targets named, not their children (existing or forked later)")
	f.StringVar(&o.format, "format", "", "trace file format: json (written at exit), jsonl (streamed), chrome (Perfetto); default: -o's extension, else json")
	f.BoolVar(&o.events, "events", false, "also record one event per call in the trace file (needs -o)")
	f.IntVar(&o.evLimit, "events-limit", 1000000, "keep at most `N` per-call events (0: no limit); the rest are counted")
	f.StringSliceVar(&o.demoModels, "demo-models", []string{"blocking", "select", "poll", "epoll-lt", "epoll-et", "sigio", "uring"}, "without a target: the built-in workloads to run side by side (also: nonblock-spin, which keeps a CPU busy, and epoll-oneshot)")
	f.IntVar(&o.demoFds, "demo-fds", 256, "without a target: connections each workload holds")
	f.IntVar(&o.demoActive, "demo-active", 1, "without a target: connections the load is sent to")
	f.Float64Var(&o.demoRate, "demo-rate", 10000, "without a target: messages per second per workload (0: as fast as possible)")
	f.IntVar(&o.demoSize, "demo-size", 64, "without a target: bytes per message")
	f.BoolVar(&o.demoTCP, "demo-tcp", false, "without a target: loopback TCP connections instead of socketpairs")
	o.metrics.bindFlags(f)
	addTargetFlags(f, &o)
	cmd.Flags().SortFlags = false
	cmd.Version = versionString()
	cmd.SetVersionTemplate("iotrace {{.Version}}\n")

	cmd.AddCommand(newProbesCmd(), newVersionCmd(), newWorkloadCmd(), newReportCmd(), newDiffCmd(), newReplayCmd(), newGateCmd(), newBenchCmd())
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print iotrace's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "iotrace %s\n", versionString())
			return nil
		},
	}
}
