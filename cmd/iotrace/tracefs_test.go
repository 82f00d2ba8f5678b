package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
