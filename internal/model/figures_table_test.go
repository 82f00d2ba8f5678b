package model

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// Every figure of the table reads the Figures field its Key names: the
// table and `report --json` cannot drift apart.
func TestFigureTableKeysAreFiguresJSON(t *testing.T) {
	d := &Stats{Calls: 7, Errors: 1, Ready: 5, FdPolls: 40, FdsWatched: 21, BytesIn: 300, BytesOut: 12,
		Wakeups: 3, Sleeps: 4, BlockedNs: 5e8, ReadyListAtEntry: MaxSum{Sum: 6, Max: 2}}
	for _, v := range []uint64{1000, 2000, 40000} {
		d.Latency.Observe(v)
	}
	f := Derive(d, 2*time.Second)
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, g := range FigureTable {
		if g.Label == "" || g.Meaning == "" || g.Where == 0 || g.value == nil {
			t.Errorf("figure %q is incomplete: %+v", g.Label, g)
		}
		if seen[g.Label] {
			t.Errorf("figure %q is listed twice", g.Label)
		}
		seen[g.Label] = true
		if g.Key == "" {
			continue
		}
		jv, present := doc[g.Key]
		if !present {
			t.Errorf("figure %q: key %q is not a field of Figures' JSON", g.Label, g.Key)
			continue
		}
		v, av := g.Value(&f, FamilyEpoll)
		if av != Available {
			t.Errorf("figure %q: %v for a set with calls", g.Label, av)
			continue
		}
		if jf, _ := jv.(float64); jf != v {
			t.Errorf("figure %q: value %v, but Figures.%s is %v", g.Label, v, g.Key, jv)
		}
	}
}

func TestFigureAvailability(t *testing.T) {
	get := func(label string) *Figure {
		for i := range FigureTable {
			if FigureTable[i].Label == label {
				return &FigureTable[i]
			}
		}
		t.Fatalf("no figure %q", label)
		return nil
	}
	idle := Derive(&Stats{}, time.Second)
	for _, c := range []struct {
		label string
		f     Figures
		fam   Family
		want  Availability
	}{
		{"calls/s", idle, FamilyPoll, Available}, // a rate of 0 is a figure
		{"fd_polls/call", idle, FamilyPoll, NotApplicable},
		{"calls/s", Figures{}, FamilyPoll, NotApplicable}, // no period
		{"fds watched/call", Derive(&Stats{Calls: 2, FdsWatchedUnknown: 2}, time.Second), FamilyEpoll, Unavailable},
		{"ready list/call", Derive(&Stats{Calls: 2}, time.Second), FamilyPoll, NotApplicable},
		{"ready list/call", Derive(&Stats{Calls: 2}, time.Second), FamilyEpoll, Available},
		{"ep_poll_callbacks/s", Derive(&Stats{Calls: 2}, time.Second), FamilyEpoll, Unavailable},
		{"efficiency", Derive(&Stats{Calls: 2}, time.Second), FamilySelect, NotApplicable},
	} {
		if _, got := get(c.label).Value(&c.f, c.fam); got != c.want {
			t.Errorf("%s (%s): %v, want %v", c.label, c.fam, got, c.want)
		}
	}
}

// docs/metrics.md names every comparison figure and every per-syscall
// field of the trace, and the trace schema has every field.
func TestFiguresDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := os.ReadFile("../../docs/trace.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range FigureTable {
		if !strings.Contains(string(doc), "`"+g.Label+"`") {
			t.Errorf("docs/metrics.md does not describe the figure `%s`", g.Label)
		}
	}
	b, _ := json.Marshal(&Stats{ErrorsByErrno: map[string]uint64{"x": 1}})
	var fields map[string]any
	json.Unmarshal(b, &fields)
	for k := range fields {
		if !strings.Contains(string(doc), k) {
			t.Errorf("docs/metrics.md does not describe the per-syscall field %s", k)
		}
		if !strings.Contains(string(schema), `"`+k+`"`) {
			t.Errorf("docs/trace.schema.json has no field %s", k)
		}
	}
}

// TestDeriveSyscallsCtlPerSec: epoll_ctl/s comes from the epoll_ctl calls
// of the family (report --json printed 0 always: Derive never set it).
func TestDeriveSyscallsCtlPerSec(t *testing.T) {
	ss := SyscallStats{
		EpollWait: &Stats{Calls: 10},
		EpollCtl:  &Stats{Calls: 6},
		Poll:      &Stats{Calls: 4},
	}
	if f := DeriveFamily(ss, FamilyEpoll, 2*time.Second); f.Calls != 10 || f.CtlPerSec != 3 {
		t.Errorf("epoll: calls %d, epoll_ctl/s %v; want 10 and 3", f.Calls, f.CtlPerSec)
	}
	if f := DeriveFamily(ss, FamilyPoll, 2*time.Second); f.Calls != 4 || f.CtlPerSec != 0 {
		t.Errorf("poll: calls %d, epoll_ctl/s %v; want 4 and 0", f.Calls, f.CtlPerSec)
	}
	if f := DeriveSyscalls(ss, nil, 2*time.Second); f.Calls != 14 || f.CtlPerSec != 3 {
		t.Errorf("all: calls %d, epoll_ctl/s %v; want 14 and 3", f.Calls, f.CtlPerSec)
	}
}
