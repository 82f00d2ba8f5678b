package collector_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/scenario"
)

const helperEnv = "IOTRACE_SCENARIO_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		scenarioHelper()
		return
	}
	os.Exit(m.Run())
}

// scenarioHelper runs in a child process: it waits for a byte on stdin,
// runs the scenario, prints its result as JSON and waits for stdin to close.
// Only raw reads and writes are used, so Go's netpoller stays out of it.
func scenarioHelper() {
	var b [1]byte
	if n, _ := unix.Read(0, b[:]); n != 1 {
		os.Exit(3)
	}
	res := scenario.Run()
	out, _ := json.Marshal(res)
	unix.Write(1, append(out, '\n'))
	for {
		if n, err := unix.Read(0, b[:]); n <= 0 && err != unix.EINTR {
			break
		}
	}
	os.Exit(0)
}

// requireRoot skips without root, except in CI where it fails: the
// integration tests are the proof that the figures are exact.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("IOTRACE_CI") == "1" {
		t.Fatal("root integration test cannot run: not root (IOTRACE_CI=1 requires it)")
	}
	t.Skip("needs root")
}

// probeMode is the mode under test: IOTRACE_PROBE_MODE, else auto.
func probeMode(t *testing.T) collector.Mode {
	m, err := collector.ParseMode(envOr("IOTRACE_PROBE_MODE", "auto"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// helper is a running scenario child.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startHelper(t *testing.T) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		h.stdin.Close()
		h.cmd.Wait()
	})
	return h
}

// run releases the helper and returns the scenario's result.
func (h *helper) run(t *testing.T) scenario.Result {
	t.Helper()
	if _, err := h.stdin.Write([]byte{'g'}); err != nil {
		t.Fatal(err)
	}
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() {
		s, err := h.out.ReadString('\n')
		ch <- line{s, err}
	}()
	var l line
	select {
	case l = <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("scenario did not finish within 30s")
	}
	if l.err != nil {
		t.Fatalf("reading scenario result: %v", l.err)
	}
	var res scenario.Result
	if err := json.Unmarshal([]byte(l.s), &res); err != nil {
		t.Fatalf("scenario result %q: %v", l.s, err)
	}
	if res.Error != "" {
		t.Fatalf("scenario went wrong, its figures would mean nothing: %s", res.Error)
	}
	return res
}

// CheckScenario asserts every figure of a snapshot against the scenario's
// ground truth, for the thread that ran it and for its process.
func checkScenario(t *testing.T, snap *model.Snapshot, pid int, res scenario.Result) {
	t.Helper()
	p := snap.Process(pid)
	if p == nil {
		t.Fatalf("process %d missing from the snapshot", pid)
	}
	th := p.Thread(res.Tid)
	if th == nil {
		t.Fatalf("scenario thread %d missing from process %d", res.Tid, pid)
	}
	var bad []string
	for sc, want := range scenario.Expected() {
		bad = append(bad, scenario.Check(sc, th.Syscalls[sc], want)...)
		// Go's runtime makes no select or poll calls of its own, so the
		// process totals of those equal the thread's.
		if fam := sc.Family(); fam == model.FamilySelect || fam == model.FamilyPoll {
			for _, b := range scenario.Check(sc, p.Syscalls[sc], want) {
				bad = append(bad, "process "+b)
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d figure(s) wrong:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}

	mode := snap.Meta.ProbeMode
	wantLT, wantET := scenario.ExpectedEpoll()
	for _, c := range []struct {
		name string
		epfd int
		want scenario.Epoll
	}{{"LT", res.EpLT, wantLT}, {"ET", res.EpET, wantET}} {
		e := p.Epoll(c.epfd)
		if e == nil {
			t.Errorf("%s epoll instance (fd %d) missing", c.name, c.epfd)
			continue
		}
		if e.Registered == nil || *e.Registered != c.want.Registered {
			t.Errorf("%s epoll: registered = %v, want %d", c.name, derefInt(e.Registered), c.want.Registered)
		}
		if e.Ctl != c.want.Ctl {
			t.Errorf("%s epoll: ctl = %+v, want %+v", c.name, e.Ctl, c.want.Ctl)
		}
		if mode == string(collector.ModeTracepoint) {
			if e.EpPollCallbacks != nil || e.CallbacksAlreadyQueued != nil {
				t.Errorf("%s epoll: tracepoint mode cannot see ep_poll_callback, yet it reports a figure", c.name)
			}
			if snap.Meta.Unavailable["ep_poll_callbacks"] == "" {
				t.Errorf("tracepoint mode: meta.unavailable lacks ep_poll_callbacks")
			}
			continue
		}
		if e.EpPollCallbacks == nil || *e.EpPollCallbacks != c.want.Callbacks {
			t.Errorf("%s epoll: ep_poll_callbacks = %v, want %d", c.name, deref(e.EpPollCallbacks), c.want.Callbacks)
		}
		if e.CallbacksAlreadyQueued == nil || *e.CallbacksAlreadyQueued != c.want.AlreadyQueued {
			t.Errorf("%s epoll: callbacks_already_queued = %v, want %d", c.name, deref(e.CallbacksAlreadyQueued), c.want.AlreadyQueued)
		}
	}
	if snap.Meta.LostEvents != 0 {
		t.Errorf("lost_events = %d, want 0 (%v)", snap.Meta.LostEvents, snap.Meta.Lost)
	}
}

func derefInt(p *int64) any {
	if p == nil {
		return "null"
	}
	return *p
}

func deref(p *uint64) any {
	if p == nil {
		return "null"
	}
	return *p
}

func TestScenarioExact(t *testing.T) {
	requireRoot(t)
	h := startHelper(t)
	pid := h.cmd.Process.Pid

	col, err := collector.New(collector.Options{Mode: probeMode(t), Pids: []int{pid}})
	if err != nil {
		t.Fatalf("starting the collector: %v", err)
	}
	defer col.Close()
	mode, why := col.Mode()
	t.Logf("probe mode %s (%s)", mode, why)

	res := h.run(t)
	snap, err := col.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		b, _ := json.MarshalIndent(snap.Process(pid).Thread(res.Tid), "", " ")
		t.Logf("scenario thread: %s", b)
	}
	checkScenario(t, snap, pid, res)
}

// TestExitIsReported checks that a target's exit reaches the event stream
// and marks the process exited, with its figures kept.
func TestExitIsReported(t *testing.T) {
	requireRoot(t)
	h := startHelper(t)
	pid := h.cmd.Process.Pid
	col, err := collector.New(collector.Options{Mode: probeMode(t), Pids: []int{pid}})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	res := h.run(t)
	h.stdin.Close()
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-col.Events():
			done = ev.Kind == collector.EventExit && ev.Pid == pid
		case <-deadline:
			t.Fatal("no exit event within 10s")
		}
	}
	snap, err := col.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	p := snap.Process(pid)
	if p == nil || !p.Exited {
		t.Fatalf("process %d not marked exited: %+v", pid, p)
	}
	if got := p.Thread(res.Tid).Syscalls[model.Poll].Calls; got != scenario.Expected()[model.Poll].Calls {
		t.Errorf("poll calls after exit = %d, want %d", got, scenario.Expected()[model.Poll].Calls)
	}
}

func TestMissingPid(t *testing.T) {
	_, err := collector.New(collector.Options{Pids: []int{1 << 30}})
	if err == nil || !strings.Contains(err.Error(), "no such process") {
		t.Fatalf("err = %v, want 'no such process'", err)
	}
}
