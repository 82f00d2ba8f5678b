package testutils

import (
	"testing"

	"github.com/iotrace/iotrace/internal/testutils/scenario"
)

func TestWellFormedSVG(t *testing.T) {
	if err := wellFormedSVG([]byte(`<svg xmlns="http://www.w3.org/2000/svg"><text>a</text></svg>`)); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{`<svg><text></svg>`, `<html></html>`, ``} {
		if err := wellFormedSVG([]byte(bad)); err == nil {
			t.Errorf("%q passed", bad)
		}
	}
}

func TestFindResult(t *testing.T) {
	res, ok, err := scenario.FindResult("iotrace: tracing\n{\"tid\":7,\"ep_lt\":3,\"ep_et\":4}\nsummary\n")
	if !ok || err != nil || res.Tid != 7 || res.EpLT != 3 || res.EpET != 4 {
		t.Errorf("FindResult = %+v, %v, %v", res, ok, err)
	}
	if _, ok, _ := scenario.FindResult("no result here\n"); ok {
		t.Error("found a result in none")
	}
	if _, ok, err := scenario.FindResult(`{"tid":7,"error":"poll returned -4"}`); !ok || err == nil {
		t.Errorf("a failed scenario: ok %v, err %v", ok, err)
	}
}

func TestProbeModeFromEnv(t *testing.T) {
	t.Setenv(ProbeModeEnv, "rawtp")
	if m := ProbeModes(t); len(m) != 1 || m[0] != "rawtp" {
		t.Errorf("ProbeModes with %s=rawtp: %v", ProbeModeEnv, m)
	}
	t.Setenv(ProbeModeEnv, "")
	if m := ProbeMode(t); m != "auto" {
		t.Errorf("ProbeMode without %s: %v", ProbeModeEnv, m)
	}
}
