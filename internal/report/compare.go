package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iotrace/iotrace/internal/format"
	"github.com/iotrace/iotrace/internal/model"
)

// Column is one column of a comparison: a model's figures in one process,
// or over a whole trace.
type Column struct {
	Title  string
	Family model.Family
	Fig    model.Figures
}

// label is a figure's row label, with its detail.
func label(g *model.Figure) string {
	if g.Detail != "" {
		return g.Label + " (" + g.Detail + ")"
	}
	return g.Label
}

// Comparison writes the columns side by side, one figure per row.
func Comparison(w io.Writer, cols []Column) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.Title
	}
	fmt.Fprintf(tw, "\t%s\t\n", strings.Join(titles, "\t"))
	for _, g := range model.FiguresIn(model.InText) {
		cells := make([]string, len(cols))
		for i := range cols {
			cells[i], _, _ = g.Format(&cols[i].Fig, cols[i].Family, format.FixedStyle)
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", label(g), strings.Join(cells, "\t"))
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
				cols = append(cols, Column{Title: fmt.Sprintf("%d %s %s", p.Pid, p.Comm, f), Family: f, Fig: model.Derive(st, dur)})
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
// change from A to B. A model both have is compared with itself. When the
// two share no model (a server before and after moving from poll to
// epoll), each of A's models is compared with each of B's: the point of
// such a diff is the move itself.
func Diff(w io.Writer, nameA, nameB string, a, b map[model.Family]model.Figures) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	famsA, famsB := families(a), families(b)
	var pairs [][2]model.Family // A's model, B's model ("" where a side lacks it)
	shared := false
	for _, f := range famsA {
		shared = shared || slices.Contains(famsB, f)
	}
	if shared || len(famsA) == 0 || len(famsB) == 0 {
		for _, f := range model.Families {
			_, inA := a[f]
			_, inB := b[f]
			if inA || inB {
				pairs = append(pairs, [2]model.Family{f, f})
			}
		}
	} else {
		for _, fa := range famsA {
			for _, fb := range famsB {
				pairs = append(pairs, [2]model.Family{fa, fb})
			}
		}
	}
	for _, p := range pairs {
		fa, fb := a[p[0]], b[p[1]]
		title := string(p[0])
		if p[0] != p[1] {
			title = string(p[0]) + " → " + string(p[1])
		}
		fmt.Fprintf(tw, "%s\tA: %s\tB: %s\tchange\t\n", title, nameA, nameB)
		for _, g := range model.FiguresIn(model.InText) {
			if g.Epoll && p[0] != model.FamilyEpoll && p[1] != model.FamilyEpoll {
				continue // another model's figure: no row in this section
			}
			ca, va, oka := g.Format(&fa, p[0], format.FixedStyle)
			cb, vb, okb := g.Format(&fb, p[1], format.FixedStyle)
			ch := ""
			if oka && okb {
				ch = format.FixedChange(va, vb)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", label(g), ca, cb, ch)
		}
	}
	if len(pairs) == 0 {
		fmt.Fprintln(tw, "neither trace has select, poll or epoll waits")
	}
	return tw.Flush()
}

// families lists the models with calls in a recording's figures, in
// display order.
func families(m map[model.Family]model.Figures) []model.Family {
	var out []model.Family
	for _, f := range model.Families {
		if fig, ok := m[f]; ok && fig.Calls > 0 {
			out = append(out, f)
		}
	}
	return out
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
