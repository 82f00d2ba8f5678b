package collector

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/iotrace/iotrace/internal/model"
)

func TestConvertStats(t *testing.T) {
	v := iotraceStats{Tgid: 9, Calls: 3, Errors: 1, Timeouts: 1, Ready: 4, FdsWatched: 12, FdsUnknownCalls: 0,
		FdPolls: 14, BytesIn: 96, BytesOut: 24, Wakeups: 2, Sleeps: 2, BlockedNs: 5000, MaxeventsHits: 1,
		LatSum: 7000, LatMin: 1000, LatMax: 4000, RlEntrySum: 6, RlEntryMax: 3, RlExitSum: 2, RlExitMax: 2, RlTruncated: 0}
	v.LatBuckets[9], v.LatBuckets[10], v.LatBuckets[11] = 1, 1, 1
	s := convertStats(&v)
	if s.Calls != 3 || s.FdPolls != 14 || s.BytesIn != 96 || s.BlockedNs != 5000 || s.MaxeventsHits != 1 {
		t.Fatalf("counters: %+v", s)
	}
	if s.Latency.Count != 3 || s.Latency.Sum != 7000 || s.Latency.Min != 1000 || s.Latency.Max != 4000 || s.Latency.Buckets[10] != 1 {
		t.Fatalf("latency: %+v", s.Latency)
	}
	if s.ReadyListAtEntry != (model.MaxSum{Sum: 6, Max: 3}) || s.ReadyListAtExit != (model.MaxSum{Sum: 2, Max: 2}) {
		t.Fatalf("ready lists: %+v %+v", s.ReadyListAtEntry, s.ReadyListAtExit)
	}
	// A stats entry whose min was never set (no calls) must not show ~0 as min.
	if got := convertStats(&iotraceStats{LatMin: ^uint64(0)}); got.Latency.Min != 0 {
		t.Fatalf("empty min = %d", got.Latency.Min)
	}
}

func TestErrnoName(t *testing.T) {
	for e, want := range map[int]string{4: "EINTR", 9: "EBADF", 14: "EFAULT", 22: "EINVAL", 514: "ERESTARTNOHAND", 4000: "errno4000"} {
		if got := ErrnoName(e); got != want {
			t.Errorf("ErrnoName(%d) = %q, want %q", e, got, want)
		}
	}
}

func TestCountTfdLines(t *testing.T) {
	fdinfo := "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\n" +
		"tfd:        5 events:       19 data:                5  pos:0 ino:4b1 sdev:8\n" +
		"tfd:        7 events:       19 data:                7  pos:0 ino:4b3 sdev:8\n"
	if got := countTfdLines(fdinfo); got != 2 {
		t.Fatalf("countTfdLines = %d, want 2", got)
	}
	if got := countTfdLines("pos:\t0\nflags:\t02\n"); got != 0 {
		t.Fatalf("empty instance = %d", got)
	}
}

func TestParseMode(t *testing.T) {
	for _, ok := range []string{"auto", "fentry", "kprobe", "rawtp", "tracepoint"} {
		if _, err := ParseMode(ok); err != nil {
			t.Errorf("ParseMode(%q): %v", ok, err)
		}
	}
	if _, err := ParseMode("uprobe"); err == nil {
		t.Error("uprobe accepted")
	}
}

func TestKallsyms(t *testing.T) {
	dir := t.TempDir()
	text := "ffffffff81731060 T __x64_sys_epoll_wait\n" +
		"0000000000000000 d eventpoll_fops\n" +
		"ffffffffc0000000 t some_mod_fn\t[mod]\n" +
		"ffffffff81000000 T __x64_sys_epoll_wait_old\n"
	if err := os.WriteFile(filepath.Join(dir, "kallsyms"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	old := procRoot
	procRoot = dir
	defer func() { procRoot = old }()
	got := kallsyms([]string{"__x64_sys_epoll_wait", "eventpoll_fops", "some_mod_fn", "__x64_sys_poll"})
	want := map[string]uint64{"__x64_sys_epoll_wait": 0xffffffff81731060, "eventpoll_fops": 0, "some_mod_fn": 0xffffffffc0000000}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if a, ok := got[k]; !ok || a != v {
			t.Errorf("%s: got %#x (present %v), want %#x", k, a, ok, v)
		}
	}
}
