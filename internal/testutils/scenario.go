package testutils

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/testutils/scenario"
)

// Main is the TestMain of a package whose tests trace the scenario: the
// test binary doubles as the scenario helper (see scenario.MaybeHelper),
// and the iotrace binary IotraceBin built is removed at the end.
func Main(m *testing.M) {
	scenario.MaybeHelper()
	code := m.Run()
	removeBin()
	os.Exit(code)
}

// StartScenario starts this test binary as a gated scenario helper, to be
// traced before h.Run releases it; it is closed when the test ends.
func StartScenario(t testing.TB, env ...string) *scenario.Helper {
	t.Helper()
	h, err := scenario.StartHelper(os.Args[0], env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// ScenarioCommand is the command line that runs the scenario at once in
// this test binary; run it with ScenarioEnv.
func ScenarioCommand() []string { return []string{os.Args[0], "-test.run=^$"} }

// ScenarioEnv is the environment of ScenarioCommand.
func ScenarioEnv() []string { return append(os.Environ(), scenario.HelperEnv+"=now") }

// commandTimeout bounds a traced command's run.
const commandTimeout = 60 * time.Second

// RunTraced runs `bin ARGS... -- COMMAND...` with ScenarioEnv and returns
// its stdout; the test fails unless it exits 0 within 60 s.
func RunTraced(t testing.TB, bin string, args []string, command ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append(append(args, "--"), command...)...)
	cmd.Env = ScenarioEnv()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v; stderr: %s", bin, err, stderr.String())
		}
	case <-time.After(commandTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not end after its command within %s; stderr: %s", bin, commandTimeout, stderr.String())
	}
	return stdout.String()
}

// RecordScenario traces the scenario as iotrace's command, `bin ARGS...
// -- ScenarioCommand()`, and returns the scenario's result with iotrace's
// stdout; the test fails if the scenario reported none or went wrong.
func RecordScenario(t testing.TB, bin string, args ...string) (scenario.Result, string) {
	t.Helper()
	stdout := RunTraced(t, bin, args, ScenarioCommand()...)
	res, ok, err := scenario.FindResult(stdout)
	if !ok {
		t.Fatalf("no scenario result in: %s", stdout)
	}
	if err != nil {
		t.Fatalf("%v; stdout: %s", err, stdout)
	}
	return res, stdout
}
