package testutils

import (
	"os"
	"os/exec"
	"path/filepath"
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
