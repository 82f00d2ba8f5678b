package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/schema"
	"github.com/iotrace/iotrace/internal/testutils"
	"github.com/iotrace/iotrace/internal/testutils/scenario"
	"github.com/iotrace/iotrace/internal/trace"
)

// recordScenario traces the scenario as a command into a file of the given
// format and returns the file with the scenario's result.
func recordScenario(t *testing.T, format string, extra ...string) (string, scenario.Result) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "trace."+format)
	args := append([]string{"--no-tui", "-o", out, "--format", format, "--probe-mode", string(testutils.ProbeMode(t))}, extra...)
	res, _ := testutils.RecordScenario(t, testutils.IotraceBin(t), args...)
	return out, res
}

// TestReportJSON: report --json gives each model's figures for the
// scenario's process, from a trace in each form.
func TestReportJSON(t *testing.T) {
	testutils.RequireRoot(t)
	exp := scenario.Expected()
	for _, format := range []string{"json", "jsonl", "chrome"} {
		t.Run(format, func(t *testing.T) {
			file, _ := recordScenario(t, format)
			out, err := exec.Command(testutils.IotraceBin(t), "report", "--json", file).Output()
			if err != nil {
				t.Fatalf("report: %v", err)
			}
			var r struct {
				Models []struct {
					Model      string                      `json:"model"`
					Figures    model.Figures               `json:"figures"`
					Provenance map[string]model.Provenance `json:"provenance"`
				} `json:"models"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			got := map[string]model.Figures{}
			for _, m := range r.Models {
				got[m.Model] = m.Figures
				// The checks are estimated in this version, the calls observed.
				if m.Provenance["fd_polls_per_call"] != model.Estimated || m.Provenance["calls_per_sec"] != model.Observed {
					t.Errorf("%s: provenance %v", m.Model, m.Provenance)
				}
			}
			// poll family = poll + ppoll of the scenario's one thread.
			poll, ppoll := exp[model.Poll], exp[model.Ppoll]
			calls := poll.Calls + ppoll.Calls
			if f := got["poll"]; f.Calls != calls || f.FdPollsPerCall != float64(poll.FdPolls+ppoll.FdPolls)/float64(calls) ||
				f.BytesPerCall != float64(poll.BytesIn+poll.BytesOut+ppoll.BytesIn+ppoll.BytesOut)/float64(calls) {
				t.Errorf("poll figures: %+v", f)
			}
			// epoll_ctl/s was always 0 here: Derive never computed it. The
			// process's epoll_ctl calls: the scenario's, and any of Go's
			// runtime as a traced command.
			rec, err := trace.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var ctl uint64
			for _, p := range rec.Snapshot().Processes {
				if st := p.Syscalls[model.EpollCtl]; st != nil {
					ctl += st.Calls
				}
			}
			if f := got["epoll"]; ctl < exp[model.EpollCtl].Calls || f.Seconds <= 0 || math.Abs(f.CtlPerSec*f.Seconds-float64(ctl)) > 1e-6 {
				t.Errorf("epoll_ctl_per_sec %v over %v s, want %d calls (the scenario makes %d)", f.CtlPerSec, f.Seconds, ctl, exp[model.EpollCtl].Calls)
			}
			sel, ps := exp[model.Select], exp[model.Pselect6]
			if f := got["select"]; f.Calls != sel.Calls+ps.Calls || f.FdPollsPerCall != float64(sel.FdPolls+ps.FdPolls)/float64(sel.Calls+ps.Calls) {
				t.Errorf("select figures: %+v", f)
			}
		})
	}
}

// TestReportTextAndDiff: the text report names the file and shows the
// comparison; diff of a run against itself shows no change.
func TestReportTextAndDiff(t *testing.T) {
	testutils.RequireRoot(t)
	file, _ := recordScenario(t, "json", "--events")
	bin := testutils.IotraceBin(t)
	out, err := exec.Command(bin, "report", file).CombinedOutput()
	if err != nil {
		t.Fatalf("report: %v: %s", err, out)
	}
	for _, want := range []string{file + ": ", "iotrace summary:", "per process and model", "efficiency (ready/fd_polls)", "fd_polls/call"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	raw, _ := os.ReadFile(file)
	if err := schema.ValidateTrace(raw); err != nil {
		t.Errorf("real output does not match docs/trace.schema.json: %v", err)
	}
	rec, err := trace.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if p := rec.Meta.Provenance["fd_polls"][model.FamilyPoll]; p.Provenance != model.Estimated || p.Estimate == "" {
		t.Errorf("meta.provenance of fd_polls for poll: %+v", p)
	}
	if !strings.Contains(string(out), "~ estimated by a model") {
		t.Errorf("report does not mark its estimates:\n%s", out)
	}
	if len(rec.Events) == 0 || rec.Meta.Events == nil || rec.Meta.Events.Recorded != uint64(len(rec.Events)) {
		t.Errorf("--events: %d events, meta %+v", len(rec.Events), rec.Meta.Events)
	}
	out, err = exec.Command(bin, "diff", file, file).CombinedOutput()
	if err != nil {
		t.Fatalf("diff: %v: %s", err, out)
	}
	_, table, _ := strings.Cut(string(out), "\n\n") // after the two header lines
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) > 2 && !strings.Contains(l, " A: ") && f[len(f)-1] != "=" && !strings.HasSuffix(l, "-") && !strings.HasPrefix(l, "~") {
			t.Errorf("diff of a run with itself shows a change: %q", l)
		}
	}
	if !strings.Contains(string(out), "fd_polls/call") {
		t.Errorf("diff output:\n%s", out)
	}
}

// TestReadBadFiles: corrupt, truncated or foreign files give one clear line.
func TestReadBadFiles(t *testing.T) {
	bin := testutils.IotraceBin(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", write("foreign.json", `{"format":"pcapng","version":1}`)}, `not an iotrace trace (format "pcapng")`},
		{[]string{"report", write("cut.json", `{"format":"iotrace","version":1,"meta":{"kernel":"6.1`)}, "the input ends early"},
		{[]string{"report", write("text.txt", "hello")}, "not an iotrace trace"},
		{[]string{"report", filepath.Join(dir, "missing.json")}, "cannot read"},
		{[]string{"report", dir}, "is a directory"},
		{[]string{"report", write("cut2.json", `{"format":"iotrace","version":1,"processes":[`)}, "at byte 45"},
		{[]string{"diff", write("ok.json", `{"format":"iotrace","version":1}`), write("bad.jsonl", `{"type":"meta","format":"iotrace-jsonl","version":1}`+"\n{bad\n{}\n")}, "line 2:"},
		{[]string{"replay", write("noiv.json", `{"format":"iotrace","version":1}`)}, "no intervals to replay"},
		{[]string{"replay", "--speed", "0", "x"}, "--speed must be positive"},
	} {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, c.args...)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Errorf("%v: exit 0", c.args)
			continue
		}
		msg := strings.TrimRight(stderr.String(), "\n")
		if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") || strings.Contains(msg, "panic") {
			t.Errorf("%v: stderr %q, want one line with %q", c.args, msg, c.want)
		}
	}
}

func TestReplaySource(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	iv := func(k int, calls uint64) model.Interval {
		return model.Interval{Start: t0.Add(time.Duration(k) * time.Second), End: t0.Add(time.Duration(k+1) * time.Second),
			Processes: []*model.ProcessDelta{{Pid: 5, Comm: "srv", Syscalls: model.SyscallStats{model.Poll: {Calls: calls, FdPolls: 10 * calls}}}}}
	}
	rec := &trace.Recording{Meta: model.Meta{Started: t0}, Intervals: []model.Interval{iv(0, 3), iv(1, 4)}}
	src := newReplaySource(rec)
	want := []struct {
		calls uint64
		end   time.Time
	}{{0, t0}, {3, t0.Add(time.Second)}, {7, t0.Add(2 * time.Second)}, {7, t0.Add(2 * time.Second)}}
	var prev *model.Snapshot
	for k, w := range want {
		s, err := src.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var calls uint64
		if p := s.Process(5); p != nil {
			calls = p.Syscalls[model.Poll].Calls
			if p.Syscalls[model.Poll].FdPolls != 10*calls {
				t.Errorf("step %d: fd_polls %d", k, p.Syscalls[model.Poll].FdPolls)
			}
		}
		if calls != w.calls || !s.Meta.Ended.Equal(w.end) {
			t.Errorf("step %d: calls %d at %v, want %d at %v", k, calls, s.Meta.Ended, w.calls, w.end)
		}
		// Earlier snapshots must not change under the dashboard's feet.
		if prev != nil && prev.Process(5) != nil && prev.Process(5).Syscalls[model.Poll].Calls > calls {
			t.Errorf("step %d: an earlier snapshot changed", k)
		}
		prev = s
	}
}
