package testutils

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
	buildOut  []byte
)

// IotraceBin is the iotrace binary for end-to-end tests: the one
// IOTRACE_BIN names (make vmtest: the VM has no Go toolchain), else
// ./cmd/iotrace built once per test binary (static, into a directory
// anyone can read, as TestNotRoot runs it as nobody). Main removes it.
func IotraceBin(t testing.TB) string {
	t.Helper()
	if b := os.Getenv(BinEnv); b != "" {
		return b
	}
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "iotrace-e2e-"); buildErr != nil {
			return
		}
		os.Chmod(binDir, 0o755)
		binPath = filepath.Join(binDir, "iotrace")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/iotrace/iotrace/cmd/iotrace")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building iotrace: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// removeBin deletes what IotraceBin built.
func removeBin() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Probe is one line of `iotrace probes`: whether the capability is there,
// and the rest of the line (the reason, or auto's choice).
type Probe struct {
	OK     bool
	Detail string
}

// Probes runs `bin probes` and returns its lines by capability name.
func Probes(t testing.TB, bin string) map[string]Probe {
	t.Helper()
	out, err := exec.Command(bin, "probes").Output()
	if err != nil {
		t.Fatalf("iotrace probes: %v", err)
	}
	m := map[string]Probe{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		m[f[0]] = Probe{OK: f[1] == "yes", Detail: strings.Join(f[2:], " ")}
	}
	return m
}
