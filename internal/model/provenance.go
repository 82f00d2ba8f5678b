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

// Counter is one per-syscall counter of Stats, by its JSON name.
type Counter struct {
	Key     string
	Meaning string
	// sources gives the counter's source per model family; a family not
	// listed takes the entry for "".
	sources map[Family]Source
}

func same(p Provenance) map[Family]Source { return map[Family]Source{"": {Provenance: p}} }

// Counters lists the per-syscall counters of a trace (the fields of a
// "syscalls" entry, docs/metrics.md) with their provenance. The probe mode
// does not change any of them in this version: every mode counts the same
// events, and none observes the readiness checks themselves yet.
var Counters = []Counter{
	{Key: "calls", Meaning: "completed calls, counted at syscall exit", sources: same(Observed)},
	{Key: "errors", Meaning: "calls that returned a negative errno", sources: same(FromArguments)},
	{Key: "errors_by_errno", Meaning: "errors by errno name", sources: same(FromArguments)},
	{Key: "timeouts", Meaning: "waits that returned 0", sources: same(FromArguments)},
	{Key: "ready", Meaning: "sum of the positive return values: fds (events) reported ready", sources: same(FromArguments)},
	{Key: "fds_watched", Meaning: "fds the caller asked about, summed over calls", sources: map[Family]Source{
		"":          {Provenance: FromArguments},
		FamilyEpoll: {Provenance: Estimated, Estimate: "the interest list's size tracked from epoll_ctl ADD and DEL, seeded from /proc/PID/fdinfo; an fd closed without DEL is not seen"},
	}},
	{Key: "fds_watched_unknown_calls", Meaning: "epoll waits on an instance of unknown size", sources: same(Observed)},
	{Key: "fd_polls", Meaning: "per-fd readiness checks the kernel made", sources: map[Family]Source{
		FamilySelect: {Provenance: Estimated, Estimate: "distinct fds in the sets × (1 + voluntary sleeps in the call)"},
		FamilyPoll:   {Provenance: Estimated, Estimate: "nfds × (1 + voluntary sleeps in the call)"},
		FamilyEpoll:  {Provenance: Estimated, Estimate: "one per event returned; epoll_ctl ADD and MOD: 1"},
		"":           {Provenance: Estimated, Estimate: "a model of the kernel's passes"},
	}},
	{Key: "bytes_in", Meaning: "bytes of fd sets, pollfds and events copied from user to kernel", sources: same(FromArguments)},
	{Key: "bytes_out", Meaning: "bytes of fd sets, pollfds and events copied from kernel to user", sources: same(FromArguments)},
	{Key: "wakeups", Meaning: "times the thread was woken during the call (sched_wakeup)", sources: same(Observed)},
	{Key: "sleeps", Meaning: "voluntary context switches during the call (sched_switch)", sources: same(Observed)},
	{Key: "blocked_ns", Meaning: "time off CPU inside the call", sources: same(Observed)},
	{Key: "maxevents_hits", Meaning: "epoll waits that returned exactly maxevents", sources: same(FromArguments)},
	{Key: "latency_ns", Meaning: "call duration, entry to exit, as a log2 histogram", sources: same(Observed)},
	{Key: "ready_list_at_entry", Meaning: "epoll ready-list length at entry, walked by the probe", sources: same(Observed)},
	{Key: "ready_list_at_exit", Meaning: "epoll ready-list length at exit, walked by the probe", sources: same(Observed)},
	{Key: "ready_list_truncated", Meaning: "ready-list walks that stopped at their limit", sources: same(Observed)},
}

// CounterByKey returns the counter with the given JSON name, or nil.
func CounterByKey(key string) *Counter {
	for i := range Counters {
		if Counters[i].Key == key {
			return &Counters[i]
		}
	}
	return nil
}

// Source is the counter's source for model fam in probe mode mode.
func (c *Counter) Source(fam Family, mode string) Source {
	if s, ok := c.sources[fam]; ok {
		return s
	}
	return c.sources[""]
}

// Sources is what a trace says about its counters: for each counter, its
// source per model (meta.provenance).
type Sources map[string]map[Family]Source

// SourcesFor returns the sources of every counter in probe mode mode.
func SourcesFor(mode string) Sources {
	out := Sources{}
	for i := range Counters {
		c := &Counters[i]
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
//	~   fd_polls (poll): nfds × (1 + voluntary sleeps in the call)
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
