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

// Comparison writes the columns side by side, one figure per row, as
// recorded in a run described by meta: an estimated value is marked "~"
// and a last line says by which model.
func Comparison(w io.Writer, cols []Column, meta *model.Meta) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.Title
	}
	fmt.Fprintf(tw, "\t%s\t\n", strings.Join(titles, "\t"))
	figs := model.FiguresIn(model.InText)
	var fams []model.Family
	for _, g := range figs {
		cells := make([]string, len(cols))
		for i := range cols {
			cells[i], _, _ = meta.FigureText(g, &cols[i].Fig, cols[i].Family, format.FixedStyle)
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", label(g), strings.Join(cells, "\t"))
	}
	for _, c := range cols {
		fams = append(fams, c.Family)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return estimateNote(w, meta, model.InputsOf(figs), fams)
}

// estimateNote writes the line that explains the "~" marks, if any.
func estimateNote(w io.Writer, meta *model.Meta, keys []string, fams []model.Family) error {
	seen := map[model.Family]bool{}
	var uniq []model.Family
	for _, f := range model.Families {
		for _, g := range fams {
			if g == f && !seen[f] {
				seen[f] = true
				uniq = append(uniq, f)
			}
		}
	}
	if note := meta.EstimateNote(keys, uniq); note != "" {
		_, err := io.WriteString(w, note)
		return err
	}
	return nil
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
				cols = append(cols, Column{Title: fmt.Sprintf("%d %s %s", p.Pid, p.Comm, f), Family: f, Fig: model.DeriveFamily(p.Syscalls, f, dur)})
			}
		}
	}
	return cols
}

// FamilyColumns returns one column per model family, summed over every
// process of the recording.
func FamilyColumns(s *model.Snapshot) map[model.Family]model.Figures {
	dur := s.Meta.Ended.Sub(s.Meta.Started)
	all := model.SyscallStats{}
	for _, p := range s.Processes {
		all.Merge(p.Syscalls)
	}
	out := map[model.Family]model.Figures{}
	for f := range s.FamilyTotals() {
		out[f] = model.DeriveFamily(all, f, dur)
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
			ca, va, oka := (*model.Meta)(nil).FigureText(g, &fa, p[0], format.FixedStyle)
			cb, vb, okb := (*model.Meta)(nil).FigureText(g, &fb, p[1], format.FixedStyle)
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
	if err := tw.Flush(); err != nil {
		return err
	}
	var fams []model.Family
	for _, p := range pairs {
		fams = append(fams, p[0], p[1])
	}
	return estimateNote(w, nil, model.InputsOf(model.FiguresIn(model.InText)), fams)
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
