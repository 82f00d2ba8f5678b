package testutils

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/collector"
)

// NewCgroup creates a child cgroup of the cgroup v2 hierarchy's root for
// the test, named after it, and returns its directory; it is removed when
// the test ends (register it before starting the processes put in it, so
// that they are gone by then). Without a cgroup v2 hierarchy the test
// cannot run (Unavailable).
func NewCgroup(t testing.TB) string {
	t.Helper()
	root := collector.CgroupV2Mount()
	if root == "" {
		Unavailable(t, "no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup/unified)")
	}
	dir := filepath.Join(root, fmt.Sprintf("iotrace-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("creating cgroup %s: %v", dir, err)
	}
	t.Cleanup(func() { removeCgroup(t, dir) })
	return dir
}

// SubCgroup creates a child of the cgroup dir (removed with it).
func SubCgroup(t testing.TB, dir, name string) string {
	t.Helper()
	sub := filepath.Join(dir, name)
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatalf("creating cgroup %s: %v", sub, err)
	}
	return sub
}

// MoveToCgroup moves process pid into the cgroup dir.
func MoveToCgroup(t testing.TB, dir string, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatalf("moving %d into %s: %v", pid, dir, err)
	}
}

// removeCgroup removes dir and its children, deepest first. A cgroup can
// only be removed once its processes have exited, which may take a moment
// after they were told to.
func removeCgroup(t testing.TB, dir string) {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		var err error
		for try := 0; try < 100; try++ {
			if err = os.Remove(dirs[i]); err == nil || os.IsNotExist(err) {
				err = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("removing cgroup %s: %v", dirs[i], err)
		}
	}
}
