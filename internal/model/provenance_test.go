package model

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
)

// Every per-syscall field of a trace has a provenance, and every counter
// with a provenance is a field: the table cannot miss a figure.
func TestCountersCoverStats(t *testing.T) {
	b, _ := json.Marshal(&Stats{ErrorsByErrno: map[string]uint64{"x": 1}, FdsWatchedUnknown: 1})
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for k := range fields {
		want = append(want, k)
	}
	for _, c := range CounterTable {
		if c.Instance {
			continue
		}
		got = append(got, c.Key)
		for _, f := range Families {
			s := c.Source(f, "tracepoint")
			if s.Provenance == "" {
				t.Errorf("%s (%s): no provenance", c.Key, f)
			}
			if (s.Provenance == Estimated) != (s.Estimate != "") {
				t.Errorf("%s (%s): an estimate must name its model, and only an estimate: %+v", c.Key, f, s)
			}
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counters %v, want the trace's per-syscall fields %v", got, want)
	}
	for _, g := range FigureTable {
		for _, in := range g.Inputs {
			if CounterByKey(in) == nil {
				t.Errorf("figure %q: input %q is not a counter", g.Label, in)
			}
		}
		if len(g.Inputs) == 0 && g.Label != "ep_poll_callbacks/s" {
			t.Errorf("figure %q names no inputs", g.Label)
		}
	}
}

func TestFigureProvenance(t *testing.T) {
	var m Meta // a trace without meta.provenance: this version's description
	for _, c := range []struct {
		key  string
		fam  Family
		want Provenance
	}{
		{"calls_per_sec", FamilyPoll, Observed},
		{"latency_p99_ns", FamilyEpoll, Observed},
		{"bytes_per_call", FamilySelect, FromArguments},
		{"fds_per_call", FamilyPoll, FromArguments},
		{"fds_per_call", FamilyEpoll, Estimated},
		{"fds_per_call", "", Estimated}, // mixed models: the weakest
		{"fd_polls_per_call", FamilySelect, Estimated},
		{"efficiency", FamilyEpoll, Estimated}, // ready ÷ an estimate
	} {
		if got := m.FigureProvenance(FigureByKey(c.key), c.fam); got != c.want {
			t.Errorf("%s (%s) = %s, want %s", c.key, c.fam, got, c.want)
		}
	}
	// fentry and kprobe follow the kernel's own changes to the interest list.
	fe := Meta{ProbeMode: "fentry"}
	if got := fe.FigureProvenance(FigureByKey("fds_per_call"), FamilyEpoll); got != Observed {
		t.Errorf("fds_per_call (epoll, fentry) = %s, want observed", got)
	}
	// A trace that recorded its provenance is read as recorded.
	m.Provenance = Sources{"fd_polls": {FamilyPoll: {Provenance: Observed}}}
	if got := m.FigureProvenance(FigureByKey("fd_polls_per_call"), FamilyPoll); got != Observed {
		t.Errorf("recorded provenance ignored: %s", got)
	}
	// SourcesFor is what a new trace records.
	if s := SourcesFor("rawtp"); s["fd_polls"][FamilySelect].Provenance != Estimated || s["calls"][FamilyEpoll].Provenance != Observed {
		t.Errorf("SourcesFor = %+v", s)
	}
}

func TestEstimateNote(t *testing.T) {
	var m Meta
	if n := m.EstimateNote([]string{"calls", "bytes_in"}, Families); n != "" {
		t.Errorf("note for observed counters: %q", n)
	}
	want := "~ estimated by a model, not counted by a probe:\n~   fd_polls (poll): nfds × (1 + max(voluntary sleeps, wakeups) in the call)\n"
	if n := m.EstimateNote([]string{"calls", "fd_polls"}, []Family{FamilyPoll}); n != want {
		t.Errorf("note = %q, want %q", n, want)
	}
	if got := m.EstimatedCounters([]string{"fds_watched", "fd_polls", "calls"}, []Family{FamilyPoll, FamilyEpoll}); !reflect.DeepEqual(got, []string{"fds_watched (epoll)", "fd_polls"}) {
		t.Errorf("EstimatedCounters = %v", got)
	}
}
