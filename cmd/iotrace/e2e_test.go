package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/testutils"
	"github.com/iotrace/iotrace/internal/testutils/scenario"
)

func TestMain(m *testing.M) { testutils.Main(m) }

func readTrace(t *testing.T, path string) *model.Snapshot {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := model.ReadDocument(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc.Snapshot()
}

// TestTraceUntilSignal is the whole user path: iotrace on a running process
// (named by --pid, --comm or --all), a ready file, then SIGINT or SIGTERM;
// the JSON trace must be complete and every figure exact.
func TestTraceUntilSignal(t *testing.T) {
	testutils.RequireRoot(t)
	testutils.RunProbeModes(t, func(t *testing.T, mode collector.Mode) {
		helperComm := filepath.Base(os.Args[0])
		if len(helperComm) > 15 {
			helperComm = helperComm[:15]
		}
		for _, c := range []struct {
			name    string
			targets func(pid int) []string
			sig     syscall.Signal
		}{
			{"pid-SIGINT", func(pid int) []string { return []string{"--pid", strconv.Itoa(pid)} }, syscall.SIGINT},
			{"pid-SIGTERM", func(pid int) []string { return []string{"--pid", strconv.Itoa(pid)} }, syscall.SIGTERM},
			// SIGHUP (the terminal closing) ends a run as SIGTERM does.
			{"pid-SIGHUP", func(pid int) []string { return []string{"--pid", strconv.Itoa(pid)} }, syscall.SIGHUP},
			{"comm", func(int) []string { return []string{"--comm", helperComm} }, syscall.SIGINT},
			{"all", func(int) []string { return []string{"--all"} }, syscall.SIGTERM},
		} {
			t.Run(c.name, func(t *testing.T) {
				h := testutils.StartScenario(t)
				snap, res, stdout := traceScenario(t, h, c.sig, append(c.targets(h.Pid()), "--probe-mode", string(mode))...)
				if bad := scenario.CheckSnapshot(snap, h.Pid(), res); len(bad) > 0 {
					t.Errorf("%d figure(s) wrong:\n  %s", len(bad), strings.Join(bad, "\n  "))
				}
				if snap.Meta.Ended.Before(snap.Meta.Started) || snap.Meta.Ended.IsZero() {
					t.Errorf("meta started/ended wrong: %v / %v", snap.Meta.Started, snap.Meta.Ended)
				}
				if !strings.Contains(stdout, "iotrace summary:") {
					t.Errorf("no summary on stdout:\n%s", stdout)
				}
			})
		}
	})
}

// TestTraceCommand runs the scenario as `iotrace -- COMMAND`: iotrace must
// attach before the command's first instruction, stop when it exits, and
// record its exit status.
func TestTraceCommand(t *testing.T) {
	testutils.RequireRoot(t)
	testutils.RunProbeModes(t, func(t *testing.T, mode collector.Mode) {
		bin := testutils.IotraceBin(t)
		out := filepath.Join(t.TempDir(), "trace.json")
		res, _ := testutils.RecordScenario(t, bin, "--no-tui", "-o", out, "--probe-mode", string(mode))
		snap := readTrace(t, out)
		if len(snap.Processes) != 1 {
			t.Fatalf("want the command's one process, got %d", len(snap.Processes))
		}
		pid := snap.Processes[0].Pid
		if bad := scenario.CheckSnapshot(snap, pid, res); len(bad) > 0 {
			t.Errorf("%d figure(s) wrong:\n  %s", len(bad), strings.Join(bad, "\n  "))
		}
		if snap.Meta.ExitStatus == nil || *snap.Meta.ExitStatus != 0 {
			t.Errorf("exit_status = %v, want 0", snap.Meta.ExitStatus)
		}
		if !snap.Processes[0].Exited {
			t.Errorf("the command's process is not marked exited")
		}
	})
}

// TestBadInput: every mistake gives one line on stderr, a non-zero status
// and no Go panic.
func TestBadInput(t *testing.T) {
	bin := testutils.IotraceBin(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad demo model", []string{"--no-tui", "--demo-models", "kqueue"}, `--demo-models: unknown workload model "kqueue"`},
		{"bad demo load", []string{"--no-tui", "--demo-fds", "2", "--demo-active", "5"}, "invalid demo load"},
		{"events without output", []string{"--pid", "1", "--events"}, "--events records every call into the trace file: it needs -o FILE"},
		{"bad format", []string{"--pid", "1", "--format", "xml"}, `invalid format "xml"`},
		{"missing pid", []string{"--pid", "999999999", "--no-tui"}, "no such process: 999999999"},
		{"pid not a number", []string{"--pid", "abc"}, `invalid argument "abc"`},
		{"zero pid", []string{"--pid", "0"}, "invalid pid 0"},
		{"bad mode", []string{"--pid", "1", "--probe-mode", "ebpf"}, `invalid probe mode "ebpf"`},
		{"zero interval", []string{"--pid", "1", "-i", "0"}, "--interval must be positive"},
		{"negative duration", []string{"--pid", "1", "-d", "-1s"}, "--duration must not be negative"},
		{"bad duration", []string{"--pid", "1", "-d", "soon"}, `invalid argument "soon"`},
		{"all and pid", []string{"--all", "--pid", "1"}, "cannot be combined"},
		{"long comm", []string{"--comm", "a-name-longer-than-15", "--no-tui"}, "longer than the kernel's 15-byte"},
		{"unwritable output", []string{"--pid", "1", "-o", "/nonexistent-dir/t.json"}, "cannot write output /nonexistent-dir/t.json"},
		{"output is a dir", []string{"--pid", "1", "-o", os.TempDir()}, "is a directory"},
		{"unknown flag", []string{"--bogus"}, "unknown flag: --bogus"},
		{"stray argument", []string{"--pid", "1", "extra"}, `unexpected argument "extra"`},
		{"missing command", []string{"--no-tui", "--", "/nonexistent/cmd"}, "/nonexistent/cmd: command not found"},
		{"empty comm", []string{"--comm", "", "--no-tui"}, `--comm needs a process name`},
		{"empty cgroup", []string{"--cgroup", "", "--no-tui"}, `--cgroup needs a cgroup v2 directory`},
		{"kernel thread", []string{"--pid", "2", "--no-tui"}, "pid 2 is a kernel thread (kthreadd)"},
		{"missing tid", []string{"--tid", "999999999", "--no-tui"}, "no such process: 999999999"},
		{"bad syscall", []string{"--pid", "1", "-e", "read"}, `--syscalls: "read" is not a traced syscall`},
		{"bad model", []string{"--pid", "1", "-e", "%kqueue"}, `--syscalls: unknown model "%kqueue"`},
		{"leave-running without command", []string{"--pid", "1", "--leave-running"}, "--leave-running applies to a command"},
		{"quiet and verbose", []string{"--pid", "1", "-q", "-v"}, "-q and -v contradict"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, c.args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if err == nil {
				t.Fatalf("exit status 0, want non-zero; stdout: %s", stdout.String())
			}
			msg := strings.TrimRight(stderr.String(), "\n")
			if strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic") {
				t.Errorf("stderr is not one clean line:\n%s", msg)
			}
			if !strings.HasPrefix(msg, "iotrace: ") || !strings.Contains(msg, c.want) {
				t.Errorf("stderr = %q, want it to contain %q", msg, c.want)
			}
		})
	}
}

// TestForcedModeRefused: a mode the kernel refuses is named with the
// kernel's reason. It needs a kernel that refuses a mode (this CI host
// refuses fentry and kprobe); where every mode works there is nothing to test.
func TestForcedModeRefused(t *testing.T) {
	testutils.RequireRoot(t)
	bin := testutils.IotraceBin(t)
	probes := testutils.Probes(t, bin)
	refused := ""
	for _, m := range []string{"fentry", "kprobe"} {
		if p, ok := probes[m]; ok && !p.OK {
			refused = m
			break
		}
	}
	if refused == "" {
		t.Skip("this kernel allows every probe mode")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--pid", strconv.Itoa(os.Getpid()), "--no-tui", "--probe-mode", refused)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("--probe-mode %s succeeded, yet probes says the kernel refuses it", refused)
	}
	msg := strings.TrimRight(stderr.String(), "\n")
	if want := "probe mode " + refused + " refused by the kernel: "; !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
		t.Errorf("stderr = %q, want one line containing %q", msg, want)
	}
}

// TestNotRoot: without privileges iotrace says what it needs.
func TestNotRoot(t *testing.T) {
	testutils.RequireRoot(t) // to become nobody
	bin := testutils.IotraceBin(t)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--pid", strconv.Itoa(os.Getpid()), "--no-tui")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("iotrace ran as nobody")
	}
	msg := strings.TrimRight(stderr.String(), "\n")
	if !strings.Contains(msg, "iotrace needs root, or the CAP_BPF and CAP_PERFMON capabilities") || strings.Contains(msg, "\n") {
		t.Errorf("stderr = %q", msg)
	}
}

// TestWorkloadsUnderTrace traces each built-in workload and holds the
// tracer's figures for its server thread to the workload's own counts and
// to the models' cost rules: select and poll watch and copy every fd on
// every call and check each on every pass; epoll checks only what is ready.
func TestWorkloadsUnderTrace(t *testing.T) {
	testutils.RequireRoot(t)
	bin := testutils.IotraceBin(t)
	const fds = 200
	for _, m := range []string{"select", "poll", "epoll-lt", "epoll-et", "epoll-oneshot"} {
		t.Run(m, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "w.json")
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "--no-tui", "-o", out, "--probe-mode", string(testutils.ProbeMode(t)), "--",
				bin, "workload", m, "--fds", strconv.Itoa(fds), "--active", "4", "--messages", "3000", "--size", "32")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v; stderr: %s", err, stderr.String())
			}
			var truth struct {
				ReadyEvents    int64            `json:"ready_events"`
				Messages       int64            `json:"messages"`
				CallsBySyscall map[string]int64 `json:"calls_by_syscall"`
				ServerTID      int              `json:"server_tid"`
			}
			for _, l := range strings.Split(stdout.String(), "\n") {
				if strings.HasPrefix(l, `{"model"`) {
					if err := json.Unmarshal([]byte(l), &truth); err != nil {
						t.Fatal(err)
					}
				}
			}
			if truth.ServerTID == 0 || truth.Messages != 3000 {
				t.Fatalf("workload result: %+v\nstdout: %s", truth, stdout.String())
			}
			snap := readTrace(t, out)
			var th *model.Thread
			for _, p := range snap.Processes {
				if x := p.Thread(truth.ServerTID); x != nil {
					th = x
				}
			}
			if th == nil {
				t.Fatalf("server thread %d not in the trace", truth.ServerTID)
			}
			for name, n := range truth.CallsBySyscall {
				sc, _ := model.ParseSyscall(name)
				s := th.Syscalls[sc]
				if s == nil || int64(s.Calls) != n {
					t.Errorf("%s calls: traced %v, workload counted %d", name, s, n)
				}
			}
			var wait *model.Stats
			var fam model.Family
			for sc, s := range th.Syscalls {
				if sc.Waits() {
					wait, fam = s, sc.Family()
				}
			}
			if wait == nil {
				t.Fatal("no waiting calls traced")
			}
			if int64(wait.Ready) != truth.ReadyEvents {
				t.Errorf("ready: traced %d, workload counted %d", wait.Ready, truth.ReadyEvents)
			}
			if wait.FdsWatched != fds*wait.Calls {
				t.Errorf("fds_watched = %d, want %d fds x %d calls", wait.FdsWatched, fds, wait.Calls)
			}
			// Bounds from the kernel's loops (fs/select.c, fs/eventpoll.c),
			// not the estimate's formula; the estimate is held exactly by
			// the scenario (TestReadinessChecks).
			estimated := snap.Meta.Source("fd_polls", fam).Provenance == model.Estimated
			switch m {
			case "select", "poll":
				// do_select/do_poll check every fd on a first pass and
				// again after each sleep in poll_schedule_timeout; only a
				// rescan without a sleep (a wakeup during a pass) adds
				// more, and an estimate sees no more than the wakeups.
				lo := fds * (wait.Calls + wait.Sleeps)
				hi := fds * (wait.Calls + wait.Sleeps + wait.Wakeups)
				if wait.FdPolls < lo || (estimated && wait.FdPolls > hi) {
					t.Errorf("fd_polls = %d, want >= %d fds x (%d calls + %d sleeps) (estimated: <= %d)", wait.FdPolls, lo, wait.Calls, wait.Sleeps, hi)
				}
			default:
				// Every event returned was polled; a harvest polls only
				// items on the ready list, which holds at most the 4
				// active connections, at entry and after each wakeup.
				hi := 4 * (wait.Calls + wait.Sleeps + wait.Wakeups)
				if wait.FdPolls < wait.Ready || wait.FdPolls > hi || wait.BytesOut != 12*wait.Ready || wait.BytesIn != 0 {
					t.Errorf("epoll: fd_polls %d (want %d..%d), bytes out %d in %d for %d ready", wait.FdPolls, wait.Ready, hi, wait.BytesOut, wait.BytesIn, wait.Ready)
				}
				// Level-triggered items the server returned and then read
				// are put back on the ready list (ep_send_events) and
				// polled again by the next harvest, mostly to find nothing:
				// more checks than events, in every mode.
				if m == "epoll-lt" && wait.FdPolls <= wait.Ready {
					t.Errorf("epoll-lt: fd_polls %d for %d ready: the re-poll of level-triggered items does not show", wait.FdPolls, wait.Ready)
				}
			}
			t.Logf("%s: fd_polls %d (%s), ready %d, calls %d, sleeps %d, wakeups %d", m, wait.FdPolls, snap.Meta.Source("fd_polls", fam).Provenance, wait.Ready, wait.Calls, wait.Sleeps, wait.Wakeups)
			switch m {
			case "poll":
				if wait.BytesIn != 8*fds*wait.Calls || wait.BytesOut != 2*fds*wait.Calls {
					t.Errorf("poll bytes in/out = %d/%d, want %d/%d", wait.BytesIn, wait.BytesOut, 8*fds*wait.Calls, 2*fds*wait.Calls)
				}
			case "select":
				// All watched fds fit below 1024: the sets are FDS_BYTES(maxfd+1)
				// each; only the read set is passed.
				if wait.BytesIn == 0 || wait.BytesIn%wait.Calls != 0 || wait.BytesIn != wait.BytesOut {
					t.Errorf("select bytes in/out = %d/%d over %d calls", wait.BytesIn, wait.BytesOut, wait.Calls)
				}
			}
		})
	}
}

// TestOtherModelsUnderTrace traces the built-in workloads of the models
// that do not multiplex (blocking, non-blocking, signal-driven, io_uring).
// Each must read what its driver wrote, by its own counts, and the tracer,
// which measures the multiplexing calls, must see none of them on the
// workload's server threads (Go's netpoller makes epoll calls on other
// threads of the process), while it traces the process.
func TestOtherModelsUnderTrace(t *testing.T) {
	testutils.RequireRoot(t)
	bin := testutils.IotraceBin(t)
	const fds, msgs, size = 50, 3000, 32
	for _, m := range []string{"blocking", "nonblock-spin", "sigio", "uring"} {
		t.Run(m, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "w.json")
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "--no-tui", "-o", out, "--probe-mode", string(testutils.ProbeMode(t)), "--",
				bin, "workload", m, "--fds", strconv.Itoa(fds), "--active", "4", "--messages", strconv.Itoa(msgs), "--size", strconv.Itoa(size))
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if m == "uring" && strings.Contains(stderr.String(), "io_uring is unavailable") {
				t.Skip(strings.TrimSpace(stderr.String()))
			}
			if err != nil {
				t.Fatalf("%v; stderr: %s", err, stderr.String())
			}
			var truth struct {
				Model          string           `json:"model"`
				Calls          int64            `json:"calls"`
				Messages       int64            `json:"messages"`
				BytesRead      int64            `json:"bytes_read"`
				BytesWritten   int64            `json:"bytes_written"`
				Reads          int64            `json:"reads"`
				EAGAINs        int64            `json:"eagains"`
				Signals        int64            `json:"signals"`
				Submissions    int64            `json:"submissions"`
				Completions    int64            `json:"completions"`
				CallsBySyscall map[string]int64 `json:"calls_by_syscall"`
				ServerTIDs     []int            `json:"server_tids"`
			}
			for _, l := range strings.Split(stdout.String(), "\n") {
				if strings.HasPrefix(l, `{"model"`) {
					if err := json.Unmarshal([]byte(l), &truth); err != nil {
						t.Fatal(err)
					}
				}
			}
			if truth.Messages != msgs || truth.BytesRead != msgs*size || truth.BytesWritten != truth.BytesRead || truth.Calls == 0 || len(truth.CallsBySyscall) != 0 {
				t.Fatalf("workload result: %+v\nstdout: %s", truth, stdout.String())
			}
			want := 1
			if m == "blocking" {
				want = fds
			}
			if len(truth.ServerTIDs) != want {
				t.Fatalf("%d server threads, want %d", len(truth.ServerTIDs), want)
			}
			switch m {
			case "sigio":
				if truth.Signals == 0 {
					t.Errorf("sigio received no signal: %+v", truth)
				}
			case "uring":
				if truth.Submissions < fds || truth.Completions == 0 || truth.Reads != 0 {
					t.Errorf("uring: %+v", truth)
				}
			}
			t.Logf("%s: %d calls, %d reads (%d EAGAIN), %d signals, %d submissions, %d completions",
				m, truth.Calls, truth.Reads, truth.EAGAINs, truth.Signals, truth.Submissions, truth.Completions)

			snap := readTrace(t, out)
			servers := map[int]bool{}
			for _, tid := range truth.ServerTIDs {
				servers[tid] = true
			}
			if len(snap.Processes) == 0 {
				t.Fatal("the workload's process is not in the trace")
			}
			multiplexing := map[string]bool{"select": true, "pselect6": true, "poll": true, "ppoll": true,
				"epoll_wait": true, "epoll_pwait": true, "epoll_pwait2": true, "epoll_ctl": true}
			for _, p := range snap.Processes {
				for _, th := range p.Threads {
					if !servers[th.Tid] {
						continue
					}
					for sc, s := range th.Syscalls {
						if !multiplexing[sc.String()] || s.Calls == 0 {
							continue
						}
						// A new thread of Go's runtime may look at its
						// netpoller (a non-blocking epoll_pwait) before
						// the goroutine that locks it runs. Blocking
						// starts 49 server threads and sees it on a few;
						// its tid is the thread's for the whole trace.
						if m == "blocking" && sc.String() == "epoll_pwait" && s.Calls <= 2 {
							t.Logf("server thread %d: %d epoll_pwait of Go's netpoller before it was locked", th.Tid, s.Calls)
							continue
						}
						t.Errorf("server thread %d of %s: %d %s calls traced, the model makes none", th.Tid, m, s.Calls, sc)
					}
				}
			}
		})
	}
}

// TestDashboardInTmux runs `iotrace` with no arguments in a real terminal
// (tmux, 120x40): the demo's select, poll and epoll columns must show calls
// within a few seconds, q must end it within 2 s, no workload may be left
// running and the terminal must be back out of the alternate screen.
func TestDashboardInTmux(t *testing.T) {
	testutils.RequireRoot(t)
	if _, err := exec.LookPath("tmux"); err != nil {
		testutils.Unavailable(t, "needs tmux (.ci/run installs it)")
	}
	bin := testutils.IotraceBin(t)
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-x", "120", "-y", "40", bin+"; echo EXITED rc=$?; sleep 60")
	defer exec.Command("tmux", "-S", sock, "kill-server").Run()

	var screen string
	var pids []int
	deadline := time.Now().Add(15 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		screen = tmux("capture-pane", "-p")
		var names, calls []string
		for _, l := range strings.Split(screen, "\n") {
			// The comparison's header, "║   blocking select ... uring║",
			// and its row "║calls/s   n/a   N   N ...║" (the detail view
			// may follow on the same line).
			parts := strings.Split(l, "║")
			if len(parts) < 3 {
				continue
			}
			f := strings.Fields(parts[1])
			if slices.Contains(f, "select") && slices.Contains(f, "epoll-lt") {
				names = f
			}
			if len(f) > 1 && f[0] == "calls/s" {
				calls = f[1:]
			}
		}
		// The multiplexing models show calls; the others n/a (the tracer
		// does not measure their waits), never 0.
		ok := len(names) == 7 && len(calls) == len(names)
		for i := 0; ok && i < len(names); i++ {
			switch names[i] {
			case "select", "poll", "epoll-lt", "epoll-et":
				ok = calls[i] != "0" && calls[i] != "-" && calls[i] != "n/a"
			default:
				ok = calls[i] == "n/a"
			}
		}
		if ok {
			pids = demoPids(screen)
			break
		}
	}
	if pids == nil {
		t.Fatalf("no select/poll/epoll columns with calls (and n/a for the other models) within 15s; screen (%d bytes):\n%s", len(screen), screen)
	}
	start := time.Now()
	tmux("send-keys", "q")
	for time.Since(start) < 2*time.Second && !strings.Contains(screen, "EXITED") {
		time.Sleep(50 * time.Millisecond)
		screen = tmux("capture-pane", "-p")
	}
	if !strings.Contains(screen, "EXITED rc=0") {
		t.Fatalf("q did not end iotrace within 2s (or it failed); screen:\n%s", screen)
	}
	t.Logf("q ended iotrace in %v", time.Since(start).Round(time.Millisecond))
	if alt := strings.TrimSpace(tmux("display-message", "-p", "#{alternate_on}")); alt != "0" {
		t.Errorf("terminal left in the alternate screen (alternate_on=%s)", alt)
	}
	// With seven workloads the summary is longer than the pane: read the
	// scrollback too.
	if full := tmux("capture-pane", "-p", "-S", "-"); !strings.Contains(full, "iotrace summary:") {
		t.Errorf("no summary after the dashboard closed; screen and scrollback:\n%s", full)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("workload %d still running after iotrace ended", pid)
		}
	}
}

// demoPids reads the workload pids from the dashboard's process table.
func demoPids(screen string) []int {
	var pids []int
	for _, l := range strings.Split(screen, "\n") {
		f := strings.Fields(strings.Trim(l, "│ "))
		if len(f) > 2 && f[1] == "▸" && strings.Contains("select poll epoll-lt epoll-et", f[2]) {
			if pid, err := strconv.Atoi(f[0]); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// TestFollowChildren: the scenario runs as a child of the traced command (a
// shell that forks it); iotrace must follow it and report it exactly, and
// with --no-follow must leave it alone.
func TestFollowChildren(t *testing.T) {
	testutils.RequireRoot(t)
	testutils.RunProbeModes(t, func(t *testing.T, mode collector.Mode) {
		bin := testutils.IotraceBin(t)
		for _, follow := range []bool{true, false} {
			t.Run(fmt.Sprintf("follow=%v", follow), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "trace.json")
				args := []string{"--no-tui", "-o", out, "--probe-mode", string(mode)}
				if !follow {
					args = append(args, "--no-follow")
				}
				// "; true" keeps the shell from exec'ing the helper in place.
				stdout := testutils.RunTraced(t, bin, args, "/bin/sh", "-c", strings.Join(testutils.ScenarioCommand(), " ")+"; true")
				res, _, err := scenario.FindResult(stdout)
				if err != nil {
					t.Fatal(err)
				}
				snap := readTrace(t, out)
				var helperPid int
				for _, p := range snap.Processes {
					if p.Thread(res.Tid) != nil {
						helperPid = p.Pid
					}
				}
				if !follow {
					if helperPid != 0 {
						t.Fatalf("--no-follow, yet the child %d was traced", helperPid)
					}
					return
				}
				if helperPid == 0 {
					t.Fatalf("the shell's child (thread %d) was not followed; processes: %d", res.Tid, len(snap.Processes))
				}
				if bad := scenario.CheckSnapshot(snap, helperPid, res); len(bad) > 0 {
					t.Errorf("%d figure(s) wrong for the followed child:\n  %s", len(bad), strings.Join(bad, "\n  "))
				}
			})
		}
	})
}
