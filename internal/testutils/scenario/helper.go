package scenario

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/gate"
	"github.com/iotrace/iotrace/internal/model"
)

// HelperEnv makes a test binary act as the scenario helper (see MaybeHelper).
const HelperEnv = "IOTRACE_SCENARIO_HELPER"

// MaybeHelper is called first thing in a test binary's TestMain. When
// HelperEnv is "gated" it waits at its stdin gate (package gate), runs the
// scenario, prints the Result as one JSON line and waits for stdin to
// close; when it is "now" it runs at once and exits. Otherwise it returns.
// Only raw reads and writes are used, so Go's netpoller stays out of the
// traced process.
func MaybeHelper() {
	mode := os.Getenv(HelperEnv)
	if mode == "" {
		return
	}
	var idle func() RaceResult
	if os.Getenv(HelperRunEnv) == RunIdleEpollName {
		idle = IdleEpoll() // before the gate: made before tracing starts
	}
	if mode == "gated" {
		if gate.Await(0) != nil {
			os.Exit(3)
		}
	}
	// The scenario runs on a thread of its own: package init functions
	// run on the main thread and may touch Go's netpoller (protobuf's,
	// linked with client_golang, opens the executable), whose epoll calls
	// are not the scenario's. The main goroutine holds the main thread
	// meanwhile, so the scenario's goroutine cannot land on it.
	runtime.LockOSThread()
	run := func() any { return Run() }
	switch {
	case idle != nil:
		run = func() any { return idle() }
	case os.Getenv(HelperRunEnv) == RunReadyRaceName:
		run = func() any { return RunReadyRace() }
	case os.Getenv(HelperRunEnv) == RunLossesName:
		run = func() any { return RunLosses() }
	case os.Getenv(HelperRunEnv) == RunChecksName:
		run = func() any { return RunChecks() }
	}
	done := make(chan any)
	go func() { done <- run() }()
	out, _ := json.Marshal(<-done)
	unix.Write(1, append(out, '\n'))
	if mode == "gated" {
		gate.AwaitClose(0)
	}
	os.Exit(0)
}

// HelperRunEnv chooses what the helper runs: RunReadyRaceName for
// RunReadyRace, RunIdleEpollName for IdleEpoll, RunLossesName for
// RunLosses, RunChecksName for RunChecks, anything else for Run.
const (
	HelperRunEnv     = "IOTRACE_SCENARIO_RUN"
	RunReadyRaceName = "ready-race"
	RunIdleEpollName = "idle-epoll"
	RunLossesName    = "losses"
	RunChecksName    = "checks"
)

// Helper is a scenario helper process waiting at its gate.
type Helper struct {
	child *gate.Child
	lines chan string
}

// StartHelper starts exe (a test binary whose TestMain calls MaybeHelper)
// as a gated helper.
func StartHelper(exe string, env ...string) (*Helper, error) {
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), HelperEnv+"=gated"), env...)
	cmd.Stderr = os.Stderr
	h := &Helper{lines: make(chan string, 1)}
	c, err := gate.Start(cmd, gate.Options{Gate: gate.Stdin, Lines: func(l string, _ time.Time) {
		select {
		case h.lines <- l:
		default: // only the first line is the result
		}
	}})
	if err != nil {
		return nil, err
	}
	h.child = c
	return h, nil
}

// Pid is the helper's process id.
func (h *Helper) Pid() int { return h.child.Pid() }

// Run releases the helper and returns the scenario's result.
func (h *Helper) Run(timeout time.Duration) (Result, error) {
	l, err := h.release(timeout)
	if err != nil {
		return Result{}, err
	}
	return ParseResult(l)
}

// RunRace releases a helper started with HelperRunEnv=RunReadyRaceName and
// returns its result.
func (h *Helper) RunRace(timeout time.Duration) (RaceResult, error) {
	var res RaceResult
	l, err := h.release(timeout)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal([]byte(l), &res); err != nil {
		return res, fmt.Errorf("race result %q: %w", l, err)
	}
	if res.Error != "" {
		return res, errors.New("ready-list race went wrong: " + res.Error)
	}
	return res, nil
}

// RunChecks releases a helper started with HelperRunEnv=RunChecksName and
// returns its result.
func (h *Helper) RunChecks(timeout time.Duration) (ChecksResult, error) {
	var res ChecksResult
	l, err := h.release(timeout)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal([]byte(l), &res); err != nil {
		return res, fmt.Errorf("checks result %q: %w", l, err)
	}
	if res.Error != "" {
		return res, errors.New("readiness-check scenario went wrong: " + res.Error)
	}
	return res, nil
}

// release opens the helper's gate and returns its result line.
func (h *Helper) release(timeout time.Duration) (string, error) {
	if err := h.child.Release(); err != nil {
		return "", err
	}
	select {
	case l := <-h.lines:
		return l, nil
	case <-h.child.Done():
		select {
		case l := <-h.lines:
			return l, nil
		default:
		}
		return "", fmt.Errorf("reading the scenario result: the helper exited (%v)", h.child.Wait())
	case <-time.After(timeout):
		return "", fmt.Errorf("scenario did not finish within %s", timeout)
	}
}

// ParseResult decodes a helper's output line and fails if the scenario's
// own calls went wrong (its figures would then mean nothing).
func ParseResult(s string) (Result, error) {
	var res Result
	if err := json.Unmarshal([]byte(s), &res); err != nil {
		return res, fmt.Errorf("scenario result %q: %w", s, err)
	}
	if res.Error != "" {
		return res, errors.New("scenario went wrong: " + res.Error)
	}
	return res, nil
}

// FindResult finds the helper's result line, {"tid":...}, in the output of
// a command that ran the scenario (the last such line) and decodes it with
// ParseResult; ok is false when there is none.
func FindResult(out string) (res Result, ok bool, err error) {
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, `{"tid"`) {
			line, ok = l, true
		}
	}
	if !ok {
		return Result{}, false, nil
	}
	res, err = ParseResult(line)
	return res, true, err
}

// Close lets the helper exit and waits for it.
func (h *Helper) Close() {
	h.child.CloseGate()
	h.child.Wait()
}

// CheckSnapshot compares everything a snapshot says about the scenario's
// process with the ground truth and returns every mismatch.
func CheckSnapshot(snap *model.Snapshot, pid int, res Result) []string {
	p := snap.Process(pid)
	if p == nil {
		return []string{fmt.Sprintf("process %d missing", pid)}
	}
	th := p.Thread(res.Tid)
	if th == nil {
		return []string{fmt.Sprintf("scenario thread %d missing from process %d", res.Tid, pid)}
	}
	var bad []string
	for sc, want := range Expected() {
		bad = append(bad, Check(sc, th.Syscalls[sc], want)...)
		// Go's runtime makes no select or poll calls of its own, so the
		// process totals of those equal the thread's.
		if fam := sc.Family(); fam == model.FamilySelect || fam == model.FamilyPoll {
			for _, b := range Check(sc, p.Syscalls[sc], want) {
				bad = append(bad, "process "+b)
			}
		}
	}

	// Only fentry and kprobe programs reach ep_poll_callback.
	tracepoint := snap.Meta.ProbeMode != "fentry" && snap.Meta.ProbeMode != "kprobe"
	if tracepoint && snap.Meta.Unavailable["ep_poll_callbacks"] == "" {
		bad = append(bad, snap.Meta.ProbeMode+" mode: meta.unavailable lacks ep_poll_callbacks")
	}
	lt, et, drop := ExpectedEpoll()
	if res.EpDropFdinfo != drop.Registered {
		bad = append(bad, fmt.Sprintf("drop epoll: /proc fdinfo shows %d items, the scenario expects %d", res.EpDropFdinfo, drop.Registered))
	}
	for _, c := range []struct {
		name string
		epfd int
		want Epoll
	}{{"LT", res.EpLT, lt}, {"ET", res.EpET, et}, {"drop", res.EpDrop, drop}} {
		e := p.Epoll(c.epfd)
		if e == nil {
			bad = append(bad, fmt.Sprintf("%s epoll instance (fd %d) missing", c.name, c.epfd))
			continue
		}
		if e.Registered == nil || *e.Registered != c.want.Registered {
			bad = append(bad, fmt.Sprintf("%s epoll: registered = %s, want %d", c.name, show(e.Registered), c.want.Registered))
		}
		if e.Ctl != c.want.Ctl {
			bad = append(bad, fmt.Sprintf("%s epoll: ctl = %+v, want %+v", c.name, e.Ctl, c.want.Ctl))
		}
		if tracepoint {
			if e.EpPollCallbacks != nil || e.CallbacksAlreadyQueued != nil {
				bad = append(bad, c.name+" epoll: "+snap.Meta.ProbeMode+" mode cannot see ep_poll_callback, yet a figure is reported")
			}
			continue
		}
		if e.EpPollCallbacks == nil || *e.EpPollCallbacks != c.want.Callbacks {
			bad = append(bad, fmt.Sprintf("%s epoll: ep_poll_callbacks = %s, want %d", c.name, show(e.EpPollCallbacks), c.want.Callbacks))
		}
		if e.CallbacksAlreadyQueued == nil || *e.CallbacksAlreadyQueued != c.want.AlreadyQueued {
			bad = append(bad, fmt.Sprintf("%s epoll: callbacks_already_queued = %s, want %d", c.name, show(e.CallbacksAlreadyQueued), c.want.AlreadyQueued))
		}
	}
	// Nothing may be lost. With --all every process on the machine is a
	// target, and a missed exit in another one (a call in flight when a
	// probe attached, a kretprobe with no free instance) is counted there
	// but says nothing of the scenario, whose figures are checked above.
	lost := snap.Meta.LostEvents
	if len(snap.Meta.Targets) == 1 && snap.Meta.Targets[0] == "all" {
		lost -= snap.Meta.Lost["missed_exits"]
	}
	if lost != 0 {
		bad = append(bad, fmt.Sprintf("lost_events = %d, want 0 (%v)", snap.Meta.LostEvents, snap.Meta.Lost))
	}
	return bad
}

func show[T int64 | uint64](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}
