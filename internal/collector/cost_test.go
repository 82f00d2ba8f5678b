package collector_test

import (
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/testutils"
)

// TestCost: with BPF stats on, iotrace's own programs report run time and
// run counts that grow while the target makes calls.
func TestCost(t *testing.T) {
	testutils.RequireRoot(t)
	h, col := startTraced(t, testutils.ProbeMode(t))
	if _, _, ok, why := col.Cost(); ok || why == "" {
		t.Fatalf("cost before EnableStats: ok=%v why=%q", ok, why)
	}
	if err := col.EnableStats(); err != nil {
		t.Fatal(err)
	}
	ns0, n0, ok, why := col.Cost()
	if !ok {
		t.Fatalf("cost: %s", why)
	}
	if _, err := h.Run(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	ns1, n1, _, _ := col.Cost()
	// The scenario makes 43 traced calls: at least one enter and one exit
	// program run each.
	if n1-n0 < 80 || ns1 <= ns0 {
		t.Fatalf("runs %d -> %d, ns %d -> %d", n0, n1, ns0, ns1)
	}
}
