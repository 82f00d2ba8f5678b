package model

import (
	"fmt"
	"strings"

	"github.com/iotrace/iotrace/internal/format"
)

// Provenance says how a figure was obtained. Every figure iotrace reports
// is one of three kinds, and says which (docs/metrics.md, "Provenance").
type Provenance string

// The three provenances, from the most to the least direct.
const (
	// Observed: counted by a probe at the event (a syscall's exit, a
	// scheduler switch, a kernel function's run, a walk of a kernel list).
	Observed Provenance = "observed"
	// FromArguments: computed from a syscall's arguments and return value
	// (bytes copied from nfds and the return value, the fds in a set).
	FromArguments Provenance = "from_arguments"
	// Estimated: a model, named in Source.Estimate; never exact.
	Estimated Provenance = "estimated"
)

// rank orders provenances from the most direct (0) to an estimate.
func (p Provenance) rank() int {
	switch p {
	case Observed:
		return 0
	case FromArguments:
		return 1
	}
	return 2
}

// Weaker returns the less direct of p and q: a figure computed from an
// estimate is an estimate.
func (p Provenance) Weaker(q Provenance) Provenance {
	if q.rank() > p.rank() {
		return q
	}
	return p
}

// Mark is the sign the text views put before an estimated value ("~").
func (p Provenance) Mark() string {
	if p == Estimated {
		return "~"
	}
	return ""
}

// Source is how one per-syscall counter is obtained for one model.
type Source struct {
	Provenance Provenance `json:"provenance"`
	// Estimate names the model of an estimated figure.
	Estimate string `json:"estimate,omitempty"`
}

// Sources is what a trace says about its counters: for each counter, its
// source per model (meta.provenance).
type Sources map[string]map[Family]Source

// SourcesFor returns the sources of every counter in probe mode mode.
func SourcesFor(mode string) Sources {
	out := Sources{}
	for i := range CounterTable {
		c := &CounterTable[i]
		m := map[Family]Source{}
		for _, f := range Families {
			m[f] = c.Source(f, mode)
		}
		out[c.Key] = m
	}
	return out
}

// Source returns counter key's source for model fam as the run recorded
// it, or as this version's probe mode describes it for traces written
// before meta.provenance existed. An unknown counter is observed.
func (m *Meta) Source(key string, fam Family) Source {
	if m == nil {
		m = &Meta{}
	}
	if s, ok := m.Provenance[key][fam]; ok {
		return s
	}
	if c := CounterByKey(key); c != nil {
		return c.Source(fam, m.ProbeMode)
	}
	return Source{Provenance: Observed}
}

// FigureProvenance is the provenance of figure g for model fam ("" for a
// set that mixes models: the weakest over all of them) in run m: the
// weakest of its inputs'.
func (m *Meta) FigureProvenance(g *Figure, fam Family) Provenance {
	fams := []Family{fam}
	if fam == "" {
		fams = Families
	}
	p := Observed
	for _, in := range g.Inputs {
		for _, f := range fams {
			p = p.Weaker(m.Source(in, f).Provenance)
		}
	}
	return p
}

// FigureText prints figure g of f (model fam) in style s as Figure.Format
// does, with the mark of an estimate ("~") before an estimated value.
func (m *Meta) FigureText(g *Figure, f *Figures, fam Family, s format.Style) (text string, v float64, ok bool) {
	text, v, ok = g.Format(f, fam, s)
	if ok {
		text = m.FigureProvenance(g, fam).Mark() + text
	}
	return text, v, ok
}

// EstimateNote explains the "~" of the counters in keys for the models in
// fams, one line per counter and model, or returns "" when none of them is
// estimated:
//
//	~ estimated by a model, not counted by a probe:
//	~   fd_polls (poll): nfds × (1 + max(voluntary sleeps, wakeups) in the call)
func (m *Meta) EstimateNote(keys []string, fams []Family) string {
	var b strings.Builder
	for _, k := range keys {
		for _, f := range fams {
			if s := m.Source(k, f); s.Provenance == Estimated {
				if b.Len() == 0 {
					b.WriteString("~ estimated by a model, not counted by a probe:\n")
				}
				fmt.Fprintf(&b, "~   %s (%s): %s\n", k, f, s.Estimate)
			}
		}
	}
	return b.String()
}

// InputsOf lists the counters the figures are computed from, once each,
// in order.
func InputsOf(figs []*Figure) []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range figs {
		for _, k := range g.Inputs {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// EstimatedCounters names the counters of keys that are estimated for one
// of the models in fams, with the models when not all of them: "fd_polls",
// "fds_watched (epoll)". The dashboard's short form of EstimateNote.
func (m *Meta) EstimatedCounters(keys []string, fams []Family) []string {
	var out []string
	for _, k := range keys {
		var est []string
		for _, f := range fams {
			if m.Source(k, f).Provenance == Estimated {
				est = append(est, string(f))
			}
		}
		switch {
		case len(est) == 0:
		case len(est) == len(fams):
			out = append(out, k)
		default:
			out = append(out, k+" ("+strings.Join(est, ", ")+")")
		}
	}
	return out
}

// FigureProvenances gives the provenance of every keyed figure of the table
// for model fam, by key, for documents that carry figures (report --json).
func (m *Meta) FigureProvenances(fam Family) map[string]Provenance {
	out := map[string]Provenance{}
	for i := range FigureTable {
		if g := &FigureTable[i]; g.Key != "" {
			out[g.Key] = m.FigureProvenance(g, fam)
		}
	}
	return out
}
