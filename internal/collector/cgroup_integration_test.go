package collector_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/testutils"
	"github.com/iotrace/iotrace/internal/testutils/scenario"
)

// TestCgroupTarget: with --cgroup, a scenario helper in the cgroup when
// tracing starts and one moved into a child cgroup of it afterwards are
// traced, with the scenario's exact figures; one outside it is not.
func TestCgroupTarget(t *testing.T) {
	testutils.RequireRoot(t)
	testutils.RunProbeModes(t, func(t *testing.T, mode collector.Mode) {
		dir := testutils.NewCgroup(t)
		sub := testutils.SubCgroup(t, dir, "late")
		in, out := testutils.StartScenario(t), testutils.StartScenario(t)
		testutils.MoveToCgroup(t, dir, in.Pid())

		col, err := collector.New(collector.Options{Mode: mode, Cgroup: dir})
		if err != nil {
			t.Fatalf("starting the collector: %v", err)
		}
		t.Cleanup(func() { col.Close() })
		// Started after tracing began, moved into a descendant of the target.
		late := testutils.StartScenario(t)
		testutils.MoveToCgroup(t, sub, late.Pid())

		results := map[int]scenario.Result{}
		for _, h := range []*scenario.Helper{in, out, late} {
			res, err := h.Run(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			results[h.Pid()] = res
		}
		snap, err := col.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + filepath.Base(dir)
		for _, c := range []struct {
			what   string
			h      *scenario.Helper
			cgroup string
		}{{"in the cgroup from the start", in, name}, {"moved into a child cgroup later", late, name + "/late"}} {
			if bad := scenario.CheckSnapshot(snap, c.h.Pid(), results[c.h.Pid()]); len(bad) > 0 {
				t.Errorf("%s: %d figure(s) wrong:\n  %s", c.what, len(bad), strings.Join(bad, "\n  "))
			}
			if p := snap.Process(c.h.Pid()); p != nil && p.Cgroup != c.cgroup {
				t.Errorf("%s: cgroup %q, want %q", c.what, p.Cgroup, c.cgroup)
			}
		}
		if p := snap.Process(out.Pid()); p != nil {
			t.Errorf("the helper outside the cgroup is traced: %d syscalls", len(p.Syscalls))
		}
		if want := "cgroup:" + name; !slices.Contains(snap.Meta.Targets, want) {
			t.Errorf("meta.targets = %v, want %s in it", snap.Meta.Targets, want)
		}
		// The late one became a target in the kernel, which said so.
		for seen := false; !seen; {
			select {
			case ev := <-col.Events():
				seen = ev.Kind == collector.EventCgroup && ev.Pid == late.Pid()
			case <-time.After(5 * time.Second):
				t.Fatal("no cgroup-match event for the helper moved in")
			}
		}
	})
}

// TestNsPid: a process in its own pid namespace is shown with the pid
// iotrace sees and the one it sees itself (1, the namespace's first).
func TestNsPid(t *testing.T) {
	testutils.RequireRoot(t)
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	col, err := collector.New(collector.Options{Mode: testutils.ProbeMode(t), Pids: []int{cmd.Process.Pid}})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	snap, err := col.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	p := snap.Process(cmd.Process.Pid)
	if p == nil || p.NsPid != 1 {
		t.Fatalf("process %d: %+v, want ns_pid 1", cmd.Process.Pid, p)
	}
	if self := snap.Process(cmd.Process.Pid); self.Cgroup == "" {
		t.Errorf("process %d has no cgroup", cmd.Process.Pid)
	}
}

// TestBadCgroup: a --cgroup that names no cgroup v2 directory is refused
// with one line that names it.
func TestBadCgroup(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file") // not /etc/hostname: the VM has none
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ arg, want string }{
		{"/nonexistent-iotrace-cgroup", "no such cgroup"},
		{"no/such/unit.service", "no such cgroup"},
		{file, "not a directory"},
		{"/etc", "no such cgroup"},
		{"", "empty path"},
	} {
		_, err := collector.ResolveCgroup(c.arg)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ResolveCgroup(%q) = %v, want one line with %q", c.arg, err, c.want)
		}
	}
}
