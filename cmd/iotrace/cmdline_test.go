package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/gate"
	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/testutils"
	"github.com/iotrace/iotrace/internal/testutils/scenario"
)

// runIotrace runs iotrace to its end (at most 30 s) and returns its exit
// status, stdout and stderr. They are files: a command left running holds
// them open.
func runIotrace(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runIotraceIn(t, "", 30*time.Second, args...)
}

// runIotraceIn runs iotrace ARGS in directory dir ("" for this one),
// killing it after timeout, and returns its exit code (-1 when a signal
// ended it), stdout and stderr.
func runIotraceIn(t *testing.T, dir string, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	out := t.TempDir()
	stdout, _ := os.Create(filepath.Join(out, "stdout"))
	stderr, _ := os.Create(filepath.Join(out, "stderr"))
	defer stdout.Close()
	defer stderr.Close()
	cmd := exec.Command(testutils.IotraceBin(t), args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(timeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	o, _ := os.ReadFile(stdout.Name())
	e, _ := os.ReadFile(stderr.Name())
	return cmd.ProcessState.ExitCode(), string(o), string(e)
}

// traceScenario traces the gated scenario helper h with iotrace ARGS
// (--no-tui, -o and --ready-file added), releases it once iotrace is
// ready, ends iotrace with sig and returns the trace, the scenario's
// result and iotrace's stdout.
func traceScenario(t *testing.T, h *scenario.Helper, sig syscall.Signal, args ...string) (*model.Snapshot, scenario.Result, string) {
	t.Helper()
	dir := t.TempDir()
	out, ready := filepath.Join(dir, "trace.json"), filepath.Join(dir, "ready")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(testutils.IotraceBin(t), append(args, "--no-tui", "-i", "1h", "-o", out, "--ready-file", ready)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testutils.WaitForFile(t, ready, 30*time.Second, cmd, &stderr)
	res, err := h.Run(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(sig)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("iotrace exited with %v; stderr: %s", err, stderr.String())
	}
	matches, _ := filepath.Glob(filepath.Join(dir, ".trace.json.tmp-*"))
	if len(matches) > 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
	snap := readTrace(t, out)
	// Itself by pid: other iotrace processes (other test packages', run
	// in parallel, or another session's) are fair game for --all.
	if snap.Process(cmd.Process.Pid) != nil {
		t.Errorf("iotrace traced itself (pid %d)", cmd.Process.Pid)
	}
	return snap, res, stdout.String()
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// TestCommandLifecycle: when the run ends before its command (-d, SIGINT,
// SIGTERM), iotrace ends the command (SIGTERM, then SIGKILL), leaves no
// process behind, says so, and exits with the command's status (128+N for
// signal N); a command that ends by itself passes its status on. Before,
// the command kept running and iotrace exited 0.
func TestCommandLifecycle(t *testing.T) {
	testutils.RequireRoot(t)
	mode := string(testutils.ProbeMode(t))
	for _, c := range []struct {
		name    string
		args    []string
		signal  syscall.Signal // sent to iotrace once it is ready; 0: none
		command []string
		status  int
		stderr  []string
		keep    bool // the command is left running
	}{
		{"exit status", nil, 0, []string{"sh", "-c", "exit 3"}, 3, nil, false},
		{"duration", []string{"-d", "500ms"}, 0, []string{"sleep", "600"}, 128 + 15, []string{"ending sleep (pid ", "): SIGTERM"}, false},
		{"SIGINT", nil, syscall.SIGINT, []string{"sleep", "600"}, 128 + 15, []string{"ending sleep"}, false},
		{"SIGTERM", nil, syscall.SIGTERM, []string{"sleep", "600"}, 128 + 15, []string{"ending sleep"}, false},
		{"ignores SIGTERM", []string{"-d", "500ms"}, 0, []string{"sh", "-c", `trap "" TERM; while :; do sleep 0.1; done`}, 128 + 9,
			[]string{"still running 2s after SIGTERM: SIGKILL"}, false},
		{"orphaned child", []string{"-d", "500ms"}, 0, []string{"sh", "-c", "sleep 600 & sleep 600; true"}, 128 + 15,
			[]string{"ending 2 process(es) sh started: SIGTERM"}, false},
		{"leave running", []string{"-d", "500ms", "--leave-running"}, 0, []string{"sleep", "600"}, 0, []string{"left sleep (pid ", ") running (--leave-running)"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out, ready := filepath.Join(dir, "t.json"), filepath.Join(dir, "ready")
			args := append([]string{"--no-tui", "-o", out, "--ready-file", ready, "--probe-mode", mode}, c.args...)
			args = append(append(args, "--"), c.command...)
			if c.signal != 0 {
				go func() {
					for i := 0; i < 300; i++ {
						if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
							pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
							time.Sleep(200 * time.Millisecond)
							syscall.Kill(pid, c.signal)
							return
						}
						time.Sleep(50 * time.Millisecond)
					}
				}()
			}
			status, _, stderr := runIotrace(t, args...)
			if status != c.status {
				t.Errorf("exit status %d, want %d; stderr:\n%s", status, c.status, stderr)
			}
			for _, w := range c.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			snap := readTrace(t, out)
			if c.keep {
				if snap.Meta.ExitStatus != nil {
					t.Errorf("exit_status %d recorded for a command left running", *snap.Meta.ExitStatus)
				}
			} else if snap.Meta.ExitStatus == nil || *snap.Meta.ExitStatus != c.status {
				t.Errorf("exit_status = %v, want %d", snap.Meta.ExitStatus, c.status)
			}
			for _, p := range snap.Processes {
				if alive(p.Pid) != c.keep {
					t.Errorf("process %d (%s): alive %v after iotrace ended", p.Pid, p.Comm, !c.keep)
				}
				if c.keep {
					syscall.Kill(p.Pid, syscall.SIGKILL)
				}
			}
		})
	}
}

// TestCommandName: the command is recorded under the name exec gives it,
// not "iotrace" (the gate's name before exec), and a target that changes
// its name later is recorded under its new one.
func TestCommandName(t *testing.T) {
	testutils.RequireRoot(t)
	mode := string(testutils.ProbeMode(t))
	out := filepath.Join(t.TempDir(), "t.json")
	if st, _, stderr := runIotrace(t, "--no-tui", "-o", out, "--probe-mode", mode, "--", "sleep", "0.2"); st != 0 {
		t.Fatalf("exit %d: %s", st, stderr)
	}
	snap := readTrace(t, out)
	if len(snap.Processes) != 1 || snap.Processes[0].Comm != "sleep" {
		t.Errorf("processes %+v, want one named sleep", snap.Processes)
	}

	// A running process execs under trace: sh, then sleep.
	sh := exec.Command("sh", "-c", "read x; exec sleep 30")
	in, _ := sh.StdinPipe()
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer sh.Process.Kill()
	for i := 0; i < 100; i++ {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(sh.Process.Pid) + "/comm"); strings.TrimSpace(string(b)) == "sh" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ready := filepath.Join(t.TempDir(), "ready")
	go func() {
		for i := 0; i < 300; i++ {
			if _, err := os.Stat(ready); err == nil {
				in.Write([]byte("go\n"))
				time.Sleep(500 * time.Millisecond)
				sh.Process.Kill()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if st, _, stderr := runIotrace(t, "--no-tui", "-o", out, "--ready-file", ready, "--probe-mode", mode, "--pid", strconv.Itoa(sh.Process.Pid)); st != 0 {
		t.Fatalf("exit %d: %s", st, stderr)
	}
	sh.Wait()
	if p := readTrace(t, out).Process(sh.Process.Pid); p == nil || p.Comm != "sleep" {
		t.Errorf("process after exec: %+v, want named sleep", p)
	}
}

// TestExistingChildren is the nginx-master case: --pid names a parent whose
// child (started before iotrace) does the work. The child is traced, with
// exact figures, and iotrace says so; with --no-follow it is not, and
// iotrace says that it has an untraced child. Before, the child was never
// traced and nothing was said.
func TestExistingChildren(t *testing.T) {
	testutils.RequireRoot(t)
	mode := string(testutils.ProbeMode(t))
	for _, follow := range []bool{true, false} {
		t.Run("follow="+strconv.FormatBool(follow), func(t *testing.T) {
			// sh is the "master"; the scenario helper, its child, waits at
			// the gate on its stdin, which it inherits from sh.
			parent := exec.Command("/bin/sh", "-c", strings.Join(testutils.ScenarioCommand(), " ")+"; true")
			parent.Env = append(os.Environ(), scenario.HelperEnv+"=gated")
			lines := make(chan string, 1)
			child, err := gate.Start(parent, gate.Options{Gate: gate.Stdin, Lines: func(l string, _ time.Time) {
				select {
				case lines <- l:
				default:
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { child.CloseGate(); child.Wait() }()
			childrenOf := "/proc/" + strconv.Itoa(child.Pid()) + "/task/" + strconv.Itoa(child.Pid()) + "/children"
			for i := 0; i < 200; i++ {
				if b, _ := os.ReadFile(childrenOf); len(strings.TrimSpace(string(b))) > 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			dir := t.TempDir()
			out, ready := filepath.Join(dir, "t.json"), filepath.Join(dir, "ready")
			args := []string{"--no-tui", "-o", out, "--ready-file", ready, "--probe-mode", mode, "--pid", strconv.Itoa(child.Pid())}
			if !follow {
				args = append(args, "--no-follow")
			}
			var stderr bytes.Buffer
			cmd := exec.Command(testutils.IotraceBin(t), args...)
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			testutils.WaitForFile(t, ready, 30*time.Second, cmd, &stderr)
			child.Release()
			var res scenario.Result
			select {
			case l := <-lines:
				if res, err = scenario.ParseResult(l); err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no scenario result")
			}
			cmd.Process.Signal(syscall.SIGINT)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("iotrace: %v: %s", err, stderr.String())
			}
			snap := readTrace(t, out)
			helper := 0
			for _, p := range snap.Processes {
				if p.Thread(res.Tid) != nil {
					helper = p.Pid
				}
			}
			if !follow {
				if helper != 0 {
					t.Errorf("--no-follow, yet the existing child %d was traced", helper)
				}
				if !strings.Contains(stderr.String(), "has 1 descendant process(es) not traced (--no-follow)") {
					t.Errorf("no note on the untraced child:\n%s", stderr.String())
				}
				return
			}
			if helper == 0 {
				t.Fatalf("the existing child (thread %d) was not traced; stderr:\n%s", res.Tid, stderr.String())
			}
			if bad := scenario.CheckSnapshot(snap, helper, res); len(bad) > 0 {
				t.Errorf("%d figure(s) wrong for the existing child:\n  %s", len(bad), strings.Join(bad, "\n  "))
			}
			if !strings.Contains(stderr.String(), "also tracing the 1 existing descendant process(es) of pid "+strconv.Itoa(child.Pid())) {
				t.Errorf("no note on the traced child:\n%s", stderr.String())
			}
		})
	}
}

// TestSyscallFilter: -e keeps the chosen syscalls, exact, drops the others
// and says in meta.unavailable that they were not traced.
func TestSyscallFilter(t *testing.T) {
	testutils.RequireRoot(t)
	testutils.RunProbeModes(t, func(t *testing.T, mode collector.Mode) {
		out := filepath.Join(t.TempDir(), "t.json")
		res, _ := testutils.RecordScenario(t, testutils.IotraceBin(t), "--no-tui", "-o", out, "--probe-mode", string(mode), "-e", "poll,epoll_wait")
		snap := readTrace(t, out)
		p := snap.Processes[0]
		th := p.Thread(res.Tid)
		if th == nil {
			t.Fatalf("scenario thread %d missing", res.Tid)
		}
		exp := scenario.Expected()
		for sc := model.Syscall(0); sc < model.NumSyscalls; sc++ {
			switch sc {
			case model.Poll, model.EpollWait:
				if bad := scenario.Check(sc, th.Syscalls[sc], exp[sc]); len(bad) > 0 {
					t.Errorf("%s: %v", sc, bad)
				}
			default:
				if s := p.Syscalls[sc]; s != nil {
					t.Errorf("%s traced (%d calls) outside -e poll,epoll_wait", sc, s.Calls)
				}
				if why := snap.Meta.Unavailable[sc.String()]; why != "not traced: --syscalls poll,epoll_wait" {
					t.Errorf("meta.unavailable[%s] = %q", sc, why)
				}
			}
		}
	})
}

// TestTidFilter: --tid reports only the threads named (the scenario's
// process has Go's threads besides the one running the scenario).
func TestTidFilter(t *testing.T) {
	testutils.RequireRoot(t)
	h := testutils.StartScenario(t)
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(h.Pid()) + "/task")
	tid, _ := strconv.Atoi(tasks[0].Name())
	snap, res, _ := traceScenario(t, h, syscall.SIGINT, "--probe-mode", string(testutils.ProbeMode(t)), "--tid", strconv.Itoa(tid))
	p := snap.Process(h.Pid())
	if p == nil {
		t.Fatalf("process %d missing", h.Pid())
	}
	for _, th := range p.Threads {
		if th.Tid != tid {
			t.Errorf("thread %d reported, only %d asked for", th.Tid, tid)
		}
	}
	if res.Tid == tid {
		if bad := scenario.CheckSnapshot(snap, h.Pid(), res); len(bad) > 0 {
			t.Errorf("figures wrong:\n  %s", strings.Join(bad, "\n  "))
		}
	} else if p.Syscalls[model.Poll] != nil {
		t.Errorf("poll calls of thread %d counted under --tid %d", res.Tid, tid)
	}
	if !strings.Contains(strings.Join(snap.Meta.Targets, ","), "tid:"+strconv.Itoa(tid)) {
		t.Errorf("meta.targets = %v", snap.Meta.Targets)
	}
}

// TestOutputFlags: -o's extension chooses the format unless --format is
// given; -c prints the summary alone; -q prints nothing on stderr, the
// default one short line, -v the reasons; --version prints the version.
func TestOutputFlags(t *testing.T) {
	testutils.RequireRoot(t)
	mode := string(testutils.ProbeMode(t))
	dir := t.TempDir()
	for _, c := range []struct {
		file, format, want string
	}{
		{"a.jsonl", "", "jsonl"}, {"a.ndjson", "", "jsonl"}, {"a.chrome", "", "chrome"}, {"a.perfetto", "", "chrome"},
		{"a.chrome.json", "", "chrome"}, {"a.json", "", "json"}, {"a.trace", "", "json"}, {"b.jsonl", "json", "json"},
	} {
		out := filepath.Join(dir, c.file)
		args := []string{"--no-tui", "-q", "-o", out, "--probe-mode", mode}
		if c.format != "" {
			args = append(args, "--format", c.format)
		}
		if st, _, stderr := runIotrace(t, append(args, "--", "true")...); st != 0 {
			t.Fatalf("%s: exit %d: %s", c.file, st, stderr)
		}
		b, _ := os.ReadFile(out)
		var got string
		switch {
		case bytes.HasPrefix(b, []byte(`{"type":"meta"`)):
			got = "jsonl"
		case bytes.Contains(b, []byte(`"traceEvents"`)):
			got = "chrome"
		case json.Valid(b) && bytes.Contains(b, []byte(`"format":"iotrace"`)) || bytes.Contains(b, []byte(`"format": "iotrace"`)):
			got = "json"
		}
		if got != c.want {
			t.Errorf("-o %s --format %q wrote %q, want %s: %.80s", c.file, c.format, got, c.want, b)
		}
	}

	st, stdout, stderr := runIotrace(t, "-c", "-i", "100ms", "--probe-mode", mode, "--", "sleep", "0.5")
	if st != 0 || !strings.Contains(stdout, "iotrace summary:") || strings.Contains(stdout, "interval ") {
		t.Errorf("-c: exit %d, stdout:\n%s", st, stdout)
	}
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || len(lines[0]) > 100 || !strings.Contains(lines[0], "tracing with") {
		t.Errorf("default stderr is not one short line:\n%s", stderr)
	}
	if _, _, stderr := runIotrace(t, "-c", "-q", "--probe-mode", mode, "--", "true"); stderr != "" {
		t.Errorf("-q: stderr %q", stderr)
	}
	if _, _, stderr := runIotrace(t, "-c", "-v", "--", "true"); !strings.Contains(stderr, "tracing with") || !strings.Contains(stderr, "(") {
		t.Errorf("-v: stderr %q", stderr)
	}
	if st, stdout, _ := runIotrace(t, "--version"); st != 0 || !strings.HasPrefix(stdout, "iotrace ") || strings.Count(stdout, "\n") != 1 {
		t.Errorf("--version: %d %q", st, stdout)
	}
}

// TestDashboardCommandLog: behind the dashboard the command's output goes
// to the log file the header names, not onto the screen.
func TestDashboardCommandLog(t *testing.T) {
	testutils.RequireRoot(t)
	if _, err := exec.LookPath("tmux"); err != nil {
		testutils.Unavailable(t, "needs tmux (.ci/run installs it)")
	}
	bin := testutils.IotraceBin(t)
	dir := t.TempDir()
	sock, logf := filepath.Join(dir, "tmux.sock"), filepath.Join(dir, "cmd.log")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	script := "while :; do echo GARBAGE-OUT; echo GARBAGE-ERR >&2; sleep 0.1; done"
	tmux("new-session", "-d", "-x", "160", "-y", "40", bin+" --command-log "+logf+" -- sh -c '"+script+"'; echo EXITED rc=$?; sleep 60")
	defer exec.Command("tmux", "-S", sock, "kill-server").Run()
	var screen string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		screen = tmux("capture-pane", "-p")
		if strings.Contains(screen, "command output") {
			time.Sleep(time.Second)
			screen = tmux("capture-pane", "-p")
			break
		}
	}
	if !strings.Contains(screen, "command output") || !strings.Contains(screen, logf) {
		t.Errorf("the header does not name the log file:\n%s", screen)
	}
	if strings.Contains(screen, "GARBAGE") {
		t.Errorf("the command's output is on the dashboard:\n%s", screen)
	}
	tmux("send-keys", "q")
	for i := 0; i < 100 && !strings.Contains(screen, "EXITED"); i++ {
		time.Sleep(100 * time.Millisecond)
		screen = tmux("capture-pane", "-p")
	}
	if !strings.Contains(screen, "EXITED rc=143") || !strings.Contains(screen, "output is in "+logf) {
		t.Errorf("after q:\n%s", screen)
	}
	b, _ := os.ReadFile(logf)
	if !strings.Contains(string(b), "GARBAGE-OUT") || !strings.Contains(string(b), "GARBAGE-ERR") {
		t.Errorf("log file %s: %q", logf, b)
	}
}
