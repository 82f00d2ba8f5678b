package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/schema"
	"github.com/iotrace/iotrace/internal/testutils"
	"github.com/iotrace/iotrace/internal/testutils/scenario"
)

// TestTraceCgroup is `iotrace --cgroup DIR -o trace.json` on a scenario
// helper in a cgroup the test made: the trace names the cgroup in
// meta.targets and on the process, validates against the schema, and has
// the scenario's exact figures; a helper outside the cgroup is absent.
func TestTraceCgroup(t *testing.T) {
	testutils.RequireRoot(t)
	testutils.RunProbeModes(t, func(t *testing.T, mode collector.Mode) {
		bin := testutils.IotraceBin(t)
		cg := testutils.NewCgroup(t)
		dir := t.TempDir()
		out, ready := filepath.Join(dir, "trace.json"), filepath.Join(dir, "ready")
		in, other := testutils.StartScenario(t), testutils.StartScenario(t)
		testutils.MoveToCgroup(t, cg, in.Pid())

		var stdout, stderr bytes.Buffer
		// Relative to the cgroup v2 mount, as a user would type it.
		cmd := exec.Command(bin, "--cgroup", filepath.Base(cg), "--no-tui", "-i", "1h", "-o", out,
			"--ready-file", ready, "--probe-mode", string(mode))
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		testutils.WaitForFile(t, ready, 30*time.Second, cmd, &stderr)
		res, err := in.Run(30 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Run(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("iotrace exited with %v; stderr: %s", err, stderr.String())
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.ValidateTrace(raw); err != nil {
			t.Fatalf("trace does not match the schema: %v", err)
		}
		snap := readTrace(t, out)
		if bad := scenario.CheckSnapshot(snap, in.Pid(), res); len(bad) > 0 {
			t.Errorf("%d figure(s) wrong:\n  %s", len(bad), strings.Join(bad, "\n  "))
		}
		name := "/" + filepath.Base(cg)
		if !slices.Contains(snap.Meta.Targets, "cgroup:"+name) {
			t.Errorf("meta.targets = %v, want cgroup:%s", snap.Meta.Targets, name)
		}
		if p := snap.Process(in.Pid()); p == nil || p.Cgroup != name {
			t.Errorf("traced process: %+v, want cgroup %s", p, name)
		}
		if snap.Process(other.Pid()) != nil {
			t.Errorf("the helper outside the cgroup is in the trace")
		}
	})
}

// TestBadCgroupFlag: a --cgroup that is no cgroup v2 directory, or one
// combined with --all, ends iotrace with one line and a non-zero status.
func TestBadCgroupFlag(t *testing.T) {
	bin := testutils.IotraceBin(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cgroup", "/nonexistent-iotrace-cgroup", "--no-tui"}, "--cgroup /nonexistent-iotrace-cgroup: "},
		{[]string{"--cgroup", "/etc/hostname", "--no-tui"}, "is not a directory"},
		{[]string{"--cgroup", "x", "--all"}, "cannot be combined with --cgroup"},
	} {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, c.args...)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Errorf("%v: exit status 0", c.args)
			continue
		}
		msg := strings.TrimRight(stderr.String(), "\n")
		if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "iotrace: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%v: stderr %q, want one line with %q", c.args, msg, c.want)
		}
	}
}
