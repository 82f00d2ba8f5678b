package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/testutils"
)

// TestAutoModeWithoutTracefs: on a freshly booted machine tracefs is not
// mounted. iotrace mounts it, and auto must then pick the same mode as on a
// machine where it was mounted. (cilium/ebpf looks for tracefs once per
// process: a kprobe check made before the mount used to make the
// tracepoint check fail as well, and auto fell back to rawtp.) The run is
// made in a mount namespace of its own, so the machine's tracefs stays.
func TestAutoModeWithoutTracefs(t *testing.T) {
	testutils.RequireRoot(t)
	bin := testutils.IotraceBin(t)
	auto := testutils.Probes(t, bin)["auto"]
	want, _, _ := strings.Cut(auto.Detail, " ")
	if !auto.OK || want == "" {
		t.Fatalf("iotrace probes names no auto mode: %+v", auto)
	}
	out := filepath.Join(t.TempDir(), "t.json")
	script := `umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null
if grep -q tracefs /proc/self/mounts; then echo "tracefs still mounted" >&2; exit 99; fi
exec "$0" --no-tui -d 200ms -o "$1" -- true`
	cmd := exec.Command("sh", "-c", script, bin, out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("iotrace without tracefs: %v\n%s", err, b)
	}
	if got := readTrace(t, out).Meta.ProbeMode; got != want {
		t.Errorf("without tracefs auto chose %s; with it, %s", got, want)
	}
}

// TestCommandTracedFromExec: a command is traced from its exec on. The
// gate that holds it until the probes are attached is iotrace's own Go
// code, whose runtime polls (Go's netpoller, started by package init in
// any binary that links client_golang's protobuf): none of that may be
// counted as the command's. `sleep` makes no select, poll or epoll call.
func TestCommandTracedFromExec(t *testing.T) {
	testutils.RequireRoot(t)
	testutils.RunProbeModes(t, func(t *testing.T, mode collector.Mode) {
		out := filepath.Join(t.TempDir(), "t.json")
		cmd := exec.Command(testutils.IotraceBin(t), "-q", "--no-tui", "-o", out, "--probe-mode", string(mode), "--", "sleep", "0.3")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("iotrace -- sleep: %v\n%s", err, b)
		}
		snap := readTrace(t, out)
		if len(snap.Processes) != 1 {
			t.Fatalf("want the command's one process, got %d", len(snap.Processes))
		}
		p := snap.Processes[0]
		if p.Comm != "sleep" {
			t.Errorf("comm %q, want sleep", p.Comm)
		}
		for sc, st := range p.Syscalls {
			t.Errorf("sleep made %d %s call(s) by the trace: the gate's were counted as the command's", st.Calls, sc)
		}
		if len(p.EpollInstances) != 0 {
			t.Errorf("sleep has epoll instances %+v: the gate's", p.EpollInstances)
		}
	})
}
