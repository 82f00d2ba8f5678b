package collector_test

import (
	"strings"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/testutils"
	"github.com/iotrace/iotrace/internal/testutils/scenario"
)

// TestReadinessChecks holds fd_polls, step by step, to the scenario's
// figures worked out from the kernel source (scenario.ExpectedChecks):
// where the run says fd_polls is observed (meta.provenance), to the
// kernel's own checks; where it is estimated, to what the named estimate
// must give, and the figure must be marked as estimated.
func TestReadinessChecks(t *testing.T) {
	testutils.RequireRoot(t)
	testutils.RunProbeModes(t, func(t *testing.T, mode collector.Mode) {
		h := testutils.StartScenario(t, scenario.HelperRunEnv+"="+scenario.RunChecksName)
		col, err := collector.New(collector.Options{Mode: mode, Pids: []int{h.Pid()}})
		if err != nil {
			t.Fatalf("starting the collector: %v", err)
		}
		t.Cleanup(func() { col.Close() })
		res, err := h.RunChecks(60 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := col.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		p := snap.Process(h.Pid())
		if p == nil {
			t.Fatal("checks helper missing from the snapshot")
		}
		var bad []string
		for _, c := range scenario.ExpectedChecks() {
			src := snap.Meta.Source("fd_polls", c.Syscall.Family())
			observed := src.Provenance == model.Observed
			if !observed && (src.Provenance != model.Estimated || src.Estimate == "") {
				bad = append(bad, c.Step+": fd_polls of "+string(c.Syscall.Family())+" is neither observed nor a named estimate: "+string(src.Provenance))
			}
			var got *model.Stats
			if th := p.Thread(res.Tids[c.Step]); th != nil {
				got = th.Syscalls[c.Syscall]
			}
			if got != nil {
				t.Logf("%-13s %-11s %s: fd_polls %d (kernel %d..%d, estimate %d..%d), %d calls, %d ready, %d sleeps, %d wakeups",
					c.Step, c.Syscall, src.Provenance, got.FdPolls, c.Truth, c.TruthMax, c.Estimate, c.EstimateMax, got.Calls, got.Ready, got.Sleeps, got.Wakeups)
			}
			bad = append(bad, scenario.CheckReadiness(c, got, observed)...)
		}
		if len(bad) > 0 {
			t.Errorf("%s mode, %d mismatch(es):\n  %s", snap.Meta.ProbeMode, len(bad), strings.Join(bad, "\n  "))
		}
	})
}
