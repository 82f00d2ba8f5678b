package model

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// Every raw figure (a per-syscall field of the trace, fds_watched and its
// unknown calls, a per-instance field) has one CounterTable entry with a
// meaning and a provenance, under the name docs/metrics.md gives it.
func TestCounterTableComplete(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{"fds_watched": true, "fds_watched_unknown_calls": true, "errors_by_errno": true}
	for _, v := range []any{&Stats{}, &EpollInstance{}} {
		b, _ := json.Marshal(v)
		var fields map[string]any
		json.Unmarshal(b, &fields)
		for k := range fields {
			keys[k] = true
		}
	}
	delete(keys, "epfd") // the instance's name, not a figure
	seen := map[string]bool{}
	for _, c := range CounterTable {
		if seen[c.Key] {
			t.Errorf("%s is listed twice", c.Key)
		}
		seen[c.Key] = true
		if c.Meaning == "" {
			t.Errorf("%s has no meaning", c.Key)
		}
		for _, f := range append([]Family{""}, Families...) {
			switch p := c.Source(f, "").Provenance; p {
			case Observed, FromArguments, Estimated:
			default:
				t.Errorf("%s (%s): provenance %q", c.Key, f, p)
			}
		}
		if !keys[c.Key] {
			t.Errorf("%s is not a field of the trace", c.Key)
		}
		if !strings.Contains(string(doc), c.Key) {
			t.Errorf("docs/metrics.md does not describe %s", c.Key)
		}
	}
	for k := range keys {
		if !seen[k] {
			t.Errorf("the trace field %s has no CounterTable entry", k)
		}
	}
	if CounterByKey("fd_polls").ProvenanceText("") != "estimated" {
		t.Error("fd_polls is estimated by the BPF program's model in this version")
	}
	if CounterByKey("timeouts").AppliesTo(EpollCtl) || !CounterByKey("calls").AppliesTo(EpollCtl) ||
		CounterByKey("maxevents_hits").AppliesTo(Poll) || !CounterByKey("maxevents_hits").AppliesTo(EpollPwait2) {
		t.Error("Applies is wrong")
	}
}
