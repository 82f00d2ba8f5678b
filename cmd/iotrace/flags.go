package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/trace"
)

// addTargetFlags registers the flags users of strace, perf and bpftrace
// look for: threads, a syscall filter, summary only, quiet and verbose,
// and what happens to the command at the end.
func addTargetFlags(f *pflag.FlagSet, o *traceOptions) {
	f.IntSliceVar(&o.tids, "tid", nil, "trace only these threads (comma-separated `TID`s)")
	f.StringSliceVarP(&o.syscallList, "syscalls", "e", nil, "trace only these syscalls (comma-separated; %select, %poll, %epoll name a model's)")
	f.BoolVarP(&o.summaryOnly, "summary", "c", false, "print only the summary at the end, like strace -c (no dashboard, no interval tables)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print no notes on stderr (the probe mode, children, the command's end)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "say why the probe mode was chosen and the others were not")
	f.BoolVar(&o.leaveRunning, "leave-running", false, "at the end, leave the command running (default: SIGTERM, SIGKILL 2s later)")
	f.StringVar(&o.commandLog, "command-log", "", "with the dashboard, append the command's output to `FILE` (default: a new file in $TMPDIR)")
}

// noteSetFlags records which flags were given, where their default value
// cannot say it.
func noteSetFlags(f *pflag.FlagSet, o *traceOptions) {
	o.commSet = f.Changed("comm")
	o.cgroupSet = f.Changed("cgroup")
	o.formatSet = f.Changed("format")
}

// validateFlags checks the flags of flags.go, --comm and --format.
func (o *traceOptions) validateFlags() error {
	if o.commSet && o.comm == "" {
		return errors.New(`--comm needs a process name (--comm "" matches nothing; without a target iotrace runs its built-in workloads)`)
	}
	if o.cgroupSet && o.cgroup == "" {
		return errors.New(`--cgroup needs a cgroup v2 directory (--cgroup "" names none; without a target iotrace runs its built-in workloads)`)
	}
	if _, err := o.traceFormat(); err != nil {
		return err
	}
	for _, t := range o.tids {
		if t <= 0 {
			return fmt.Errorf("invalid tid %d", t)
		}
	}
	if o.syscallList != nil {
		scs, err := collector.ParseSyscalls(o.syscallList)
		if err != nil {
			return err
		}
		o.syscalls = scs
	}
	if o.quiet && o.verbose {
		return errors.New("-q and -v contradict each other")
	}
	if o.leaveRunning && len(o.command) == 0 {
		return errors.New("--leave-running applies to a command after \"--\"")
	}
	if o.commandLog != "" && len(o.command) == 0 {
		return errors.New("--command-log applies to a command after \"--\"")
	}
	return nil
}

// traceFormat is --format if given, else the one -o's extension names
// (.jsonl or .ndjson: jsonl; .chrome, .perfetto or .chrome.json: chrome),
// else json.
func (o *traceOptions) traceFormat() (trace.Format, error) {
	if o.formatSet {
		return trace.ParseFormat(o.format)
	}
	return formatFromName(o.output), nil
}

func formatFromName(name string) trace.Format {
	base := strings.ToLower(filepath.Base(name))
	switch {
	case strings.HasSuffix(base, ".chrome.json"):
		return trace.Chrome
	}
	switch filepath.Ext(base) {
	case ".jsonl", ".ndjson":
		return trace.JSONL
	case ".chrome", ".perfetto":
		return trace.Chrome
	}
	return trace.JSON
}

// autoOrder is the order auto mode tries the probe modes in
// (collector.Choose).
var autoOrder = []collector.Mode{collector.ModeFentry, collector.ModeKprobe, collector.ModeTracepoint, collector.ModeRawTP}

// startNotes prints what the run should know at its start: the probe mode
// (one short line; the reasons with -v) and the --pid targets' children.
func (r *session) startNotes(w io.Writer) {
	m, why := r.col.Mode()
	switch {
	case r.o.verbose:
		r.note(w, "tracing with %s probes (%s)", m, why)
	default:
		r.note(w, "tracing with %s probes%s", m, shortReason(m, why))
	}
	for _, root := range sortedKeys(r.col.ExistingDescendants()) {
		kids := r.col.ExistingDescendants()[root]
		if r.o.noFollow {
			r.note(w, "pid %d has %d descendant process(es) not traced (--no-follow): %s", root, len(kids), pidList(kids))
		} else {
			r.note(w, "also tracing the %d existing descendant process(es) of pid %d (--no-follow: the pid alone): %s", len(kids), root, pidList(kids))
		}
	}
}

// shortReason says in a few words why mode m was chosen.
func shortReason(m collector.Mode, why string) string {
	switch why {
	case "requested":
		return " (requested)"
	case "cheapest mode available":
		return ""
	}
	var passed []string
	for _, a := range autoOrder {
		if a == m {
			break
		}
		passed = append(passed, string(a))
	}
	if len(passed) == 0 {
		return " (-v says more)"
	}
	return fmt.Sprintf(" (%s refused: -v or iotrace probes says why)", strings.Join(passed, " and "))
}

func sortedKeys(m map[int][]int) []int { return slices.Sorted(maps.Keys(m)) }

// pidList prints at most 8 pids.
func pidList(pids []int) string {
	var b strings.Builder
	for i, p := range pids {
		if i == 8 {
			fmt.Fprintf(&b, " … (%d more)", len(pids)-8)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, p)
	}
	return b.String()
}
