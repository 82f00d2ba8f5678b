package model

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	for _, c := range []struct {
		v    uint64
		want int
	}{
		{0, 0}, {1, 0}, {2, 1}, {3, 1}, {4, 2}, {1023, 9}, {1024, 10},
		{1<<39 - 1, 38}, {1 << 39, 39}, {math.MaxUint64, 39},
	} {
		if got := Bucket(c.v); got != c.want {
			t.Errorf("Bucket(%d) = %d, want %d", c.v, got, c.want)
		}
		lo, hi := BucketBounds(c.want)
		if c.v < lo || (hi != math.MaxUint64 && c.v >= hi) {
			t.Errorf("%d not within bounds [%d,%d) of its bucket %d", c.v, lo, hi, c.want)
		}
	}
}

func TestHistogramAddSubQuantile(t *testing.T) {
	var a, b Histogram
	for _, v := range []uint64{100, 200, 300, 5000} {
		a.Observe(v)
	}
	b.Observe(50)
	b.Observe(1 << 20)
	sum := a
	sum.Add(&b)
	if sum.Count != 6 || sum.Sum != 100+200+300+5000+50+1<<20 || sum.Min != 50 || sum.Max != 1<<20 {
		t.Fatalf("sum = %+v", sum)
	}
	d := sum.Sub(&a)
	if d.Count != 2 || d.Sum != 50+1<<20 || d.Buckets[Bucket(50)] != 1 || d.Buckets[Bucket(100)] != 0 {
		t.Fatalf("sum - a = %+v", d)
	}
	// p50 of {50,100,200,300,5000,1M}: rank 3 is 200, bucket [128,256): 255.
	if q := sum.Quantile(0.5); q != 255 {
		t.Errorf("p50 = %d, want 255", q)
	}
	// p100 is clamped to max.
	if q := sum.Quantile(1); q != 1<<20 {
		t.Errorf("p100 = %d, want %d", q, 1<<20)
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram should give 0")
	}
	if got := sum.Sub(&sum); got.Count != 0 || got.Min != 0 || got.Max != 0 {
		t.Errorf("h - h = %+v, want empty", got)
	}
}

func TestStatsAddSub(t *testing.T) {
	a := &Stats{Calls: 3, Ready: 2, FdPolls: 9, BytesIn: 72, ErrorsByErrno: map[string]uint64{"EINTR": 1},
		ReadyListAtEntry: MaxSum{Sum: 5, Max: 3}}
	b := &Stats{Calls: 2, FdPolls: 4, ErrorsByErrno: map[string]uint64{"EINTR": 2, "EBADF": 1},
		ReadyListAtEntry: MaxSum{Sum: 7, Max: 7}}
	s := a.Clone()
	s.Add(b)
	if s.Calls != 5 || s.FdPolls != 13 || s.ErrorsByErrno["EINTR"] != 3 || s.ErrorsByErrno["EBADF"] != 1 ||
		s.ReadyListAtEntry != (MaxSum{Sum: 12, Max: 7}) {
		t.Fatalf("a+b = %+v", s)
	}
	if a.ErrorsByErrno["EINTR"] != 1 {
		t.Fatal("Clone shares the errno map")
	}
	d := s.Sub(a)
	if d.Calls != 2 || d.FdPolls != 4 || d.ErrorsByErrno["EINTR"] != 2 || d.ErrorsByErrno["EBADF"] != 1 || d.ReadyListAtEntry.Sum != 7 {
		t.Fatalf("(a+b)-a = %+v", d)
	}
}

func TestByFamily(t *testing.T) {
	m := SyscallStats{
		Select: {Calls: 1}, Pselect6: {Calls: 2}, Poll: {Calls: 4}, Ppoll: {Calls: 8},
		EpollWait: {Calls: 16}, EpollPwait: {Calls: 32}, EpollPwait2: {Calls: 64}, EpollCtl: {Calls: 128},
	}
	f := m.ByFamily()
	if f[FamilySelect].Calls != 3 || f[FamilyPoll].Calls != 12 || f[FamilyEpoll].Calls != 112 {
		t.Fatalf("families: select %d poll %d epoll %d", f[FamilySelect].Calls, f[FamilyPoll].Calls, f[FamilyEpoll].Calls)
	}
	if m.Total(nil).Calls != 255 {
		t.Fatal("total")
	}
	if got := m.Sorted(); len(got) != 8 || got[0] != Select || got[7] != EpollCtl {
		t.Fatalf("sorted = %v", got)
	}
}

func TestSyscallNames(t *testing.T) {
	for sc := Syscall(0); sc < NumSyscalls; sc++ {
		got, ok := ParseSyscall(sc.String())
		if !ok || got != sc {
			t.Errorf("ParseSyscall(%q) = %v, %v", sc.String(), got, ok)
		}
	}
	if _, ok := ParseSyscall("read"); ok {
		t.Error("read is not traced")
	}
}

func sampleSnapshot() *Snapshot {
	reg, cb := int64(5), uint64(4)
	st := &Stats{Calls: 2, Ready: 3, FdsWatched: 10, FdPolls: 3, BytesOut: 36,
		ErrorsByErrno: map[string]uint64{"EINTR": 1}, Errors: 1}
	st.Latency.Observe(1500)
	st.Latency.Observe(70000)
	unknown := &Stats{Calls: 1, FdsWatchedUnknown: 1}
	unknown.Latency.Observe(10)
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	return &Snapshot{
		Meta: Meta{Kernel: "6.18", ProbeMode: "tracepoint", Started: t0, Ended: t0.Add(time.Second),
			Targets: []string{"pid:42"}, Unavailable: map[string]string{"ep_poll_callbacks": "needs fentry"}},
		Processes: []*Process{{
			Pid: 42, Comm: "srv", Syscalls: SyscallStats{EpollWait: st, EpollPwait: unknown},
			Threads: []*Thread{{Tid: 43, Comm: "srv", Syscalls: SyscallStats{EpollWait: st, EpollPwait: unknown}}},
			EpollInstances: []EpollInstance{
				{Epfd: 3, Registered: &reg, Ctl: CtlCounts{Add: 5}},
				{Epfd: 4, Registered: &reg, EpPollCallbacks: &cb, CallbacksAlreadyQueued: new(uint64), CallbacksIgnored: new(uint64)},
			},
		}},
	}
}

func TestDocumentRoundTrip(t *testing.T) {
	in := sampleSnapshot()
	var buf bytes.Buffer
	if err := WriteDocument(&buf, in); err != nil {
		t.Fatal(err)
	}
	doc, err := ReadDocument(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := WriteDocument(&again, doc.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if buf.String() != again.String() {
		t.Fatalf("round trip changed the document:\n%s\n---\n%s", buf.String(), again.String())
	}
	got := doc.Processes[0].Syscalls[EpollWait]
	if got.Latency.Count != 2 || got.Latency.Buckets[Bucket(70000)] != 1 || got.ErrorsByErrno["EINTR"] != 1 {
		t.Fatalf("epoll_wait after round trip: %+v", got)
	}
}

// TestDocumentFieldNames pins the names version 1 promises.
func TestDocumentFieldNames(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteDocument(&buf, sampleSnapshot()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["format"] != "iotrace" || doc["version"] != float64(1) {
		t.Fatalf("format/version: %v %v", doc["format"], doc["version"])
	}
	meta := doc["meta"].(map[string]any)
	for _, k := range []string{"kernel", "probe_mode", "started", "ended", "targets", "lost_events", "unavailable"} {
		if _, ok := meta[k]; !ok {
			t.Errorf("meta.%s missing", k)
		}
	}
	proc := doc["processes"].([]any)[0].(map[string]any)
	for _, k := range []string{"pid", "comm", "exited", "syscalls", "threads", "epoll_instances"} {
		if _, ok := proc[k]; !ok {
			t.Errorf("process.%s missing", k)
		}
	}
	st := proc["syscalls"].(map[string]any)["epoll_wait"].(map[string]any)
	for _, k := range []string{"calls", "errors", "timeouts", "ready", "fds_watched", "fd_polls", "bytes_in", "bytes_out",
		"wakeups", "sleeps", "blocked_ns", "maxevents_hits", "latency_ns", "ready_list_at_entry", "ready_list_at_exit"} {
		if _, ok := st[k]; !ok {
			t.Errorf("STATS.%s missing", k)
		}
	}
	lat := st["latency_ns"].(map[string]any)
	for _, k := range []string{"count", "sum", "min", "max", "log2_buckets"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency_ns.%s missing", k)
		}
	}
	// Unknown interest-list size: null with the count of such calls.
	pw := proc["syscalls"].(map[string]any)["epoll_pwait"].(map[string]any)
	if pw["fds_watched"] != nil || pw["fds_watched_unknown_calls"] != float64(1) {
		t.Errorf("epoll_pwait fds_watched = %v (unknown %v), want null and 1", pw["fds_watched"], pw["fds_watched_unknown_calls"])
	}
	ep := proc["epoll_instances"].([]any)[0].(map[string]any)
	if v, ok := ep["ep_poll_callbacks"]; !ok || v != nil {
		t.Errorf("unmeasured ep_poll_callbacks = %v, want null", v)
	}
	ep2 := proc["epoll_instances"].([]any)[1].(map[string]any)
	if ep2["ep_poll_callbacks"] != float64(4) || ep2["callbacks_already_queued"] != float64(0) {
		t.Errorf("measured callbacks: %v", ep2)
	}
}

func TestReadDocumentErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"format":"other","version":1}`, `not an iotrace trace (format "other")`},
		{`{"format":"iotrace","version":7}`, "unsupported iotrace trace version 7"},
		{`{"format":"iotrace","version":1,"processes":[{"pid":1,"syscalls":{"read":{}}}]}`, `unknown syscall "read"`},
		{`{"format":"iotrace","vers`, "not a valid iotrace JSON document"},
		{`{"format":"iotrace","version":1,"processes":[{"syscalls":{"poll":{"latency_ns":{"log2_buckets":[` + strings.Repeat("1,", 40) + `1]}}}}]}`, "at most 40 allowed"},
	} {
		_, err := ReadDocument(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadDocument(%.40q) = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestDerive(t *testing.T) {
	s := &Stats{Calls: 10, FdsWatched: 10000, FdPolls: 15000, Ready: 30, BytesIn: 80000, BytesOut: 20000,
		Wakeups: 5, Sleeps: 5, Errors: 2, BlockedNs: 1e9, ReadyListAtEntry: MaxSum{Sum: 24, Max: 4}}
	for i := 0; i < 10; i++ {
		s.Latency.Observe(1000)
	}
	f := Derive(s, 2*time.Second)
	f.Latency = Histogram{}
	want := Figures{Calls: 10, Seconds: 2, CallsPerSec: 5, FdsPerCall: 1000, FdsKnown: true, FdPollsPerCall: 1500,
		ReadyPerCall: 3, Efficiency: 0.002, HasEfficiency: true, BytesPerCall: 10000, BytesPerSec: 50000,
		WakeupsPerCall: 0.5, SleepsPerCall: 0.5, P50: 1000, P99: 1000, ReadyListPerCall: 3, BlockedFrac: 0.5}
	if f != want {
		t.Fatalf("Derive =\n%+v\nwant\n%+v", f, want)
	}
	if f := Derive(&Stats{}, time.Second); f != (Figures{Seconds: 1, FdsKnown: true}) {
		t.Fatalf("no calls: %+v", f)
	}
	// One of two calls had an unknown interest list: the mean is over the other.
	if f := Derive(&Stats{Calls: 2, FdsWatched: 7, FdsWatchedUnknown: 1}, 0); !f.FdsKnown || f.FdsPerCall != 7 {
		t.Fatalf("partly unknown fds: %+v", f)
	}
	if f := Derive(&Stats{Calls: 2, FdsWatchedUnknown: 2}, 0); f.FdsKnown || f.FdsPerCall != 0 {
		t.Fatalf("unknown fds: %+v", f)
	}
	// select counts readiness per set: ready may exceed fd_polls.
	if f := Derive(&Stats{Calls: 1, Ready: 2, FdPolls: 1}, 0); f.Efficiency != 1 {
		t.Fatalf("efficiency = %v, want capped at 1", f.Efficiency)
	}
}
