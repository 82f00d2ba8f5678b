// Package testutils is iotrace's test kit: what the root tests of several
// packages share, so that each rule lives in one place. It is test support;
// only _test.go files import it.
//
//   - RequireRoot: the root check, with the IOTRACE_CI=1 rule that a root
//     test that cannot run fails instead of skipping.
//   - ProbeMode and RunProbeModes: the probe mode under test, from
//     IOTRACE_PROBE_MODE, or a subtest per mode the kernel allows.
//   - IotraceBin: the iotrace binary for end-to-end tests.
//   - Main, StartScenario, RecordScenario, ScenarioCommand: the scenario
//     helper (package scenario) run by the test binary itself, traced.
//   - WaitForFile, CheckSVG: small checks the tests repeat.
package testutils

import (
	"os"
	"testing"
)

// Environment variables the kit reads.
const (
	// CIEnv set to 1 makes root tests that cannot run fail, not skip.
	CIEnv = "IOTRACE_CI"
	// ProbeModeEnv names the one probe mode to test (make vmtest sets it).
	ProbeModeEnv = "IOTRACE_PROBE_MODE"
	// BinEnv names a prebuilt iotrace binary (the VM has no Go toolchain).
	BinEnv = "IOTRACE_BIN"
)

// CI reports whether IOTRACE_CI=1: what cannot run must fail.
func CI() bool { return os.Getenv(CIEnv) == "1" }

// Unavailable ends a test that cannot run here: it fails with IOTRACE_CI=1,
// since CI must not pass by skipping, and skips otherwise.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf(format+" ("+CIEnv+"=1 requires it)", args...)
	}
	t.Skipf(format, args...)
}

// RequireRoot is the first call of every test that needs root (to load BPF
// programs or change credentials). It skips under -short, root or not:
// short runs (make test-unit) are the tests that need no privileges and
// give the same result everywhere. Otherwise, without root it skips,
// except with IOTRACE_CI=1, where it fails: the root tests are the proof
// that the figures are exact.
func RequireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("root test: skipped with -short")
	}
	if os.Geteuid() == 0 {
		return
	}
	Unavailable(t, "root test cannot run: not root")
}
