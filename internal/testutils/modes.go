package testutils

import (
	"os"
	"sync"
	"testing"

	"github.com/iotrace/iotrace/internal/collector"
)

// allModes are the forced probe modes, in the order subtests run.
var allModes = []collector.Mode{collector.ModeFentry, collector.ModeKprobe, collector.ModeRawTP, collector.ModeTracepoint}

// ProbeMode is the mode for a test that runs once: IOTRACE_PROBE_MODE,
// else auto.
func ProbeMode(t testing.TB) collector.Mode {
	t.Helper()
	v := os.Getenv(ProbeModeEnv)
	if v == "" {
		v = string(collector.ModeAuto)
	}
	m, err := collector.ParseMode(v)
	if err != nil {
		t.Fatalf("%s: %v", ProbeModeEnv, err)
	}
	return m
}

var (
	modesOnce sync.Once
	allowed   []collector.Mode
	noneWhy   error
)

// ProbeModes are the modes a test of the exact figures must cover: the one
// IOTRACE_PROBE_MODE names (make vmtest runs each mode in turn), else every
// mode this kernel allows, since auto alone would test only the one it
// picks. It needs root (call RequireRoot first), and fails if the kernel
// allows no mode at all.
func ProbeModes(t testing.TB) []collector.Mode {
	t.Helper()
	if os.Getenv(ProbeModeEnv) != "" {
		return []collector.Mode{ProbeMode(t)}
	}
	modesOnce.Do(func() {
		for _, m := range allModes {
			if _, _, err := collector.Choose(m); err == nil {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) == 0 {
			_, _, noneWhy = collector.Choose(collector.ModeAuto)
		}
	})
	if len(allowed) == 0 {
		t.Fatalf("no probe mode to test: %v", noneWhy)
	}
	return allowed
}

// RunProbeModes runs f as a subtest named after each of ProbeModes.
func RunProbeModes(t *testing.T, f func(t *testing.T, mode collector.Mode)) {
	t.Helper()
	for _, m := range ProbeModes(t) {
		t.Run(string(m), func(t *testing.T) { f(t, m) })
	}
}
