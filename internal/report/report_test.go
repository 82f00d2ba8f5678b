package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/model"
)

func snap(pollCalls, epollCalls uint64) *model.Snapshot {
	poll := &model.Stats{Calls: pollCalls, FdsWatched: 3 * pollCalls, FdPolls: 3 * pollCalls, BytesIn: 24 * pollCalls}
	for i := uint64(0); i < pollCalls; i++ {
		poll.Latency.Observe(1000)
	}
	ep := &model.Stats{Calls: epollCalls, FdsWatchedUnknown: 1}
	return &model.Snapshot{
		Meta: model.Meta{ProbeMode: "tracepoint", Kernel: "6.18",
			Started: time.Unix(0, 0), Ended: time.Unix(2, 0), Unavailable: map[string]string{"ep_poll_callbacks": "needs fentry"}},
		Processes: []*model.Process{{Pid: 7, Comm: "srv", Syscalls: model.SyscallStats{model.Poll: poll, model.EpollWait: ep}}},
	}
}

func TestRowsDelta(t *testing.T) {
	prev, cur := snap(10, 5), snap(25, 5)
	rows := Rows(cur, prev)
	if len(rows) != 1 {
		t.Fatalf("want only poll (epoll made no calls in between), got %d rows", len(rows))
	}
	r := rows[0]
	if r.Syscall != model.Poll || r.Stats.Calls != 15 || r.Stats.FdPolls != 45 || r.Stats.BytesIn != 360 || r.Stats.Latency.Count != 15 {
		t.Fatalf("delta row = %+v", r.Stats)
	}
	if all := Rows(cur, nil); len(all) != 2 {
		t.Fatalf("cumulative rows = %d, want 2", len(all))
	}
}

func TestFdsPerCall(t *testing.T) {
	for _, c := range []struct {
		s    model.Stats
		want string
	}{
		{model.Stats{Calls: 0}, "0"},
		{model.Stats{Calls: 4, FdsWatched: 12}, "3"},
		{model.Stats{Calls: 4, FdsWatched: 10}, "2.5"},
		{model.Stats{Calls: 4, FdsWatched: 10, FdsWatchedUnknown: 1}, "3.3"},
		{model.Stats{Calls: 4, FdsWatchedUnknown: 4}, "n/a"},
	} {
		if got := FdsPerCall(&c.s); got != c.want {
			t.Errorf("FdsPerCall(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}

func TestSummary(t *testing.T) {
	var buf bytes.Buffer
	s := snap(4, 2)
	st := 3
	s.Meta.Command, s.Meta.ExitStatus = []string{"srv", "-x"}, &st
	s.Meta.Lost = map[string]uint64{"missed_exits": 2, "select_sets_truncated": 1}
	if err := Summary(&buf, s); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"iotrace summary: tracepoint probes, kernel 6.18, 2.00s, 1 process(es), lost 0",
		`command "srv -x" exited with status 3`,
		"lost: missed_exits 2, select_sets_truncated 1",
		"unavailable: ep_poll_callbacks: needs fentry",
		"~ estimated by a model, not counted by a probe:\n",
		"~   fd_polls (poll): nfds × (1 + max(voluntary sleeps, wakeups) in the call)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// The poll row: 4 calls, 3 fds per call, 12 fd_polls (estimated, so
	// marked), 96 bytes in; and the line that says by which model.
	var pollRow []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[2] == "poll" {
			pollRow = f
		}
	}
	if want := []string{"7", "srv", "poll", "4", "0", "0", "0", "3", "~12", "96", "0"}; len(pollRow) < len(want) || strings.Join(pollRow[:len(want)], " ") != strings.Join(want, " ") {
		t.Errorf("poll row = %v, want prefix %v", pollRow, want)
	}
}

// TestDiffAcrossModels: a poll trace against an epoll trace (the move diff's
// help describes) compares poll in A with epoll in B, row by row, with the
// change; before the fix each model had a section of its own with one side
// "-" throughout, and no change at all.
func TestDiffAcrossModels(t *testing.T) {
	dur := 2 * time.Second
	a := map[model.Family]model.Figures{model.FamilyPoll: model.Derive(&model.Stats{Calls: 100, FdsWatched: 1000, FdPolls: 1000, Ready: 100}, dur)}
	b := map[model.Family]model.Figures{model.FamilyEpoll: model.Derive(&model.Stats{Calls: 200, FdsWatched: 2000, FdPolls: 200, Ready: 200}, dur)}
	var buf bytes.Buffer
	if err := Diff(&buf, "poll.json", "epoll.json", a, b); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "poll → epoll") || strings.Count(out, "A: poll.json") != 1 {
		t.Fatalf("want one poll → epoll section:\n%s", out)
	}
	rows := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 4 {
			rows[f[0]] = f[len(f)-3:]
		}
	}
	// calls/s 50 → 100 (+100%); fd_polls/call 10 → 1 (-90%), marked as the
	// estimates they are.
	if r := rows["calls/s"]; len(r) != 3 || r[0] != "50" || r[1] != "100" || !strings.Contains(r[2], "+100") {
		t.Errorf("calls/s row %v:\n%s", r, out)
	}
	if r := rows["fd_polls/call"]; len(r) != 3 || r[0] != "~10" || r[1] != "~1" || !strings.Contains(r[2], "-90") {
		t.Errorf("fd_polls/call row %v:\n%s", r, out)
	}
	// A shared model keeps the model-by-model comparison.
	buf.Reset()
	b[model.FamilyPoll] = a[model.FamilyPoll]
	if err := Diff(&buf, "A", "B", a, b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "→") || !strings.Contains(buf.String(), "epoll") {
		t.Errorf("shared model compared across:\n%s", buf.String())
	}
}
