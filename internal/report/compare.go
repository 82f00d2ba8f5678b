package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iotrace/iotrace/internal/format"
	"github.com/iotrace/iotrace/internal/model"
)

// Column is one column of a comparison: a model's figures in one process,
// or over a whole trace.
type Column struct {
	Title string
	Fig   model.Figures
}

// figureRow is one comparison row: how to read and print a figure.
type figureRow struct {
	name  string
	value func(f *model.Figures) (float64, bool) // false: not applicable
	show  func(v float64) string
}

func always(v float64) (float64, bool) { return v, true }

var figureRows = []figureRow{
	{"calls", func(f *model.Figures) (float64, bool) { return float64(f.Calls), true }, format.Fixed},
	{"calls/s", func(f *model.Figures) (float64, bool) { return f.CallsPerSec, f.Seconds > 0 }, format.Fixed},
	{"fds watched/call", func(f *model.Figures) (float64, bool) { return f.FdsPerCall, f.FdsKnown && f.Calls > 0 }, format.Fixed},
	{"fd_polls/call", func(f *model.Figures) (float64, bool) { return always(f.FdPollsPerCall) }, format.Fixed},
	{"ready/call", func(f *model.Figures) (float64, bool) { return always(f.ReadyPerCall) }, format.Fixed},
	{"efficiency (ready/fd_polls)", func(f *model.Figures) (float64, bool) { return f.Efficiency, f.HasEfficiency }, format.FixedPercent},
	{"bytes copied/call", func(f *model.Figures) (float64, bool) { return always(f.BytesPerCall) }, format.FixedBytes},
	{"bytes copied/s", func(f *model.Figures) (float64, bool) { return f.BytesPerSec, f.Seconds > 0 }, format.FixedBytes},
	{"wakeups/call", func(f *model.Figures) (float64, bool) { return always(f.WakeupsPerCall) }, format.Fixed},
	{"sleeps/call", func(f *model.Figures) (float64, bool) { return always(f.SleepsPerCall) }, format.Fixed},
	{"latency p50 <=", func(f *model.Figures) (float64, bool) { return float64(f.P50), f.Calls > 0 }, func(v float64) string { return format.FixedDuration(uint64(v)) }},
	{"latency p99 <=", func(f *model.Figures) (float64, bool) { return float64(f.P99), f.Calls > 0 }, func(v float64) string { return format.FixedDuration(uint64(v)) }},
	{"ready list/call (epoll)", func(f *model.Figures) (float64, bool) { return always(f.ReadyListPerCall) }, format.Fixed},
}

// Comparison writes the columns side by side, one figure per row.
func Comparison(w io.Writer, cols []Column) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.Title
	}
	fmt.Fprintf(tw, "\t%s\t\n", strings.Join(titles, "\t"))
	for _, r := range figureRows {
		cells := make([]string, len(cols))
		for i := range cols {
			if v, ok := r.value(&cols[i].Fig); ok && cols[i].Fig.Calls > 0 {
				cells[i] = r.show(v)
			} else {
				cells[i] = "-"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", r.name, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// ModelColumns returns one column per (process, model family) with calls,
// over the recording's whole duration, ordered by pid and family.
func ModelColumns(s *model.Snapshot) []Column {
	dur := s.Meta.Ended.Sub(s.Meta.Started)
	var cols []Column
	for _, p := range s.Processes {
		fams := p.Syscalls.ByFamily()
		for _, f := range model.Families {
			if st := fams[f]; st != nil && st.Calls > 0 {
				cols = append(cols, Column{Title: fmt.Sprintf("%d %s %s", p.Pid, p.Comm, f), Fig: model.Derive(st, dur)})
			}
		}
	}
	return cols
}

// FamilyColumns returns one column per model family, summed over every
// process of the recording.
func FamilyColumns(s *model.Snapshot) map[model.Family]model.Figures {
	dur := s.Meta.Ended.Sub(s.Meta.Started)
	out := map[model.Family]model.Figures{}
	for f, st := range s.FamilyTotals() {
		out[f] = model.Derive(st, dur)
	}
	return out
}

// Diff writes two recordings' per-model figures side by side with the
// change from A to B.
func Diff(w io.Writer, nameA, nameB string, a, b map[model.Family]model.Figures) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fams := map[model.Family]bool{}
	for f := range a {
		fams[f] = true
	}
	for f := range b {
		fams[f] = true
	}
	order := make([]model.Family, 0, len(fams))
	for _, f := range model.Families {
		if fams[f] {
			order = append(order, f)
		}
	}
	for _, f := range order {
		fa, fb := a[f], b[f]
		fmt.Fprintf(tw, "%s\tA: %s\tB: %s\tchange\t\n", f, nameA, nameB)
		for _, r := range figureRows {
			va, oka := r.value(&fa)
			vb, okb := r.value(&fb)
			oka, okb = oka && fa.Calls > 0, okb && fb.Calls > 0
			ca, cb, ch := "-", "-", ""
			if oka {
				ca = r.show(va)
			}
			if okb {
				cb = r.show(vb)
			}
			if oka && okb {
				ch = format.FixedChange(va, vb)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", r.name, ca, cb, ch)
		}
	}
	if len(order) == 0 {
		fmt.Fprintln(tw, "neither trace has select, poll or epoll waits")
	}
	return tw.Flush()
}

// Header describes a recording in one line.
func Header(w io.Writer, name string, m model.Meta, truncated bool) {
	fmt.Fprintf(w, "%s: %s probes, kernel %s, %s, started %s", name, m.ProbeMode, m.Kernel,
		m.Ended.Sub(m.Started).Round(time.Millisecond), m.Started.Format(time.RFC3339))
	if truncated {
		fmt.Fprint(w, " (truncated: the run ended before its totals were written; totals are summed from its intervals)")
	}
	fmt.Fprintln(w)
}
