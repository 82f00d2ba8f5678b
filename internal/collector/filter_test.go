package collector

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/iotrace/iotrace/internal/model"
)

// TestParseSyscalls: names, %model groups and strace's trace= prefix.
func TestParseSyscalls(t *testing.T) {
	got, err := ParseSyscalls([]string{"trace=epoll_wait", "poll", "poll"})
	if want := []model.Syscall{model.Poll, model.EpollWait}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("= %v, %v; want %v", got, err, want)
	}
	got, err = ParseSyscalls([]string{"%select"})
	if want := []model.Syscall{model.Select, model.Pselect6}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("%%select = %v, %v", got, err)
	}
	for _, bad := range [][]string{{"read"}, {"%kqueue"}, {}} {
		if _, err := ParseSyscalls(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestKernelThreadAndDescendants reads a fake /proc: the flags field marks
// kernel threads (PF_KTHREAD), the ppid field builds the process tree, and
// a comm with spaces and parentheses does not shift the fields.
func TestKernelThreadAndDescendants(t *testing.T) {
	dir := t.TempDir()
	stat := map[string]string{
		"2":  "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0",
		"10": "10 (nginx) S 1 10 10 0 -1 4194560 0 0",
		"11": "11 (nginx: a (b)) S 10 10 10 0 -1 4194560 0 0",
		"12": "12 (sh) S 11 10 10 0 -1 4194560 0 0",
		"13": "13 (other) S 1 13 13 0 -1 4194560 0 0",
	}
	for pid, s := range stat {
		os.MkdirAll(filepath.Join(dir, pid), 0o755)
		os.WriteFile(filepath.Join(dir, pid, "stat"), []byte(s+"\n"), 0o644)
	}
	old := procRoot
	procRoot = dir
	defer func() { procRoot = old }()
	if err := refuseKernelThread(2); err == nil || err.Error() != "pid 2 is a kernel thread (kthreadd): it makes no select, poll or epoll calls" {
		t.Errorf("kthreadd: %v", err)
	}
	if err := refuseKernelThread(11); err != nil {
		t.Errorf("a user process refused: %v", err)
	}
	if got := descendants([]int{10, 13}); !reflect.DeepEqual(got, map[int][]int{10: {11, 12}}) {
		t.Errorf("descendants = %v", got)
	}
}
