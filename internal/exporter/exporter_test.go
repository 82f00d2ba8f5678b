package exporter

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/iotrace/iotrace/internal/model"
)

// fake is a Source the test steers.
type fake struct {
	snap *model.Snapshot
	err  error
}

func (f *fake) Snapshot() (*model.Snapshot, error) {
	if f.err != nil {
		return nil, f.err
	}
	// Hand out a deep copy: the exporter must not depend on the source's
	// values staying put.
	c := *f.snap
	c.Processes = nil
	for _, p := range f.snap.Processes {
		pc := *p
		pc.Syscalls = model.SyscallStats{}
		for sc, st := range p.Syscalls {
			pc.Syscalls[sc] = st.Clone()
		}
		pc.Threads = nil
		for _, t := range p.Threads {
			tc := *t
			tc.Syscalls = model.SyscallStats{}
			for sc, st := range t.Syscalls {
				tc.Syscalls[sc] = st.Clone()
			}
			pc.Threads = append(pc.Threads, &tc)
		}
		c.Processes = append(c.Processes, &pc)
	}
	return &c, nil
}

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func u64(v uint64) *uint64 { return &v }
func i64(v int64) *int64   { return &v }

// proc builds a one-thread process (tid = pid) with the given stats.
func proc(pid int, comm string, scs model.SyscallStats) *model.Process {
	p := &model.Process{Pid: pid, Comm: comm, Syscalls: model.SyscallStats{}}
	p.Syscalls.Merge(scs)
	t := &model.Thread{Tid: pid, Comm: comm, Syscalls: model.SyscallStats{}}
	t.Syscalls.Merge(scs)
	p.Threads = []*model.Thread{t}
	return p
}

func pollStats(calls uint64) *model.Stats {
	s := &model.Stats{Calls: calls, Timeouts: 1, Ready: calls - 1, FdsWatched: 64 * calls, FdPolls: 128 * calls,
		BytesIn: 512 * calls, BytesOut: 128 * calls, Wakeups: calls, Sleeps: calls, BlockedNs: 1500 * calls,
		Errors: 2, ErrorsByErrno: map[string]uint64{"EINTR": 2}}
	for i := uint64(0); i < calls; i++ {
		s.Latency.Observe(1000 + 10*i)
	}
	return s
}

func epollStats(calls uint64) *model.Stats {
	s := &model.Stats{Calls: calls, Ready: 3 * calls, FdsWatched: 10 * calls, FdsWatchedUnknown: 1, FdPolls: 3 * calls,
		BytesOut: 36 * calls, Wakeups: calls, Sleeps: calls, MaxeventsHits: 2,
		ReadyListAtEntry: model.MaxSum{Sum: calls, Max: 4}, ReadyListAtExit: model.MaxSum{Sum: 2 * calls, Max: 7}}
	for i := uint64(0); i < calls; i++ {
		s.Latency.Observe(50_000)
	}
	return s
}

func snapshot(mode string, procs ...*model.Process) *model.Snapshot {
	return &model.Snapshot{Meta: model.Meta{ProbeMode: mode, Kernel: "6.18.0-test",
		Unavailable: map[string]string{}, Lost: map[string]uint64{}}, Processes: procs}
}

// gather returns the families e exports, by name.
func gather(t *testing.T, e *Exporter) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func labelNames(m *dto.Metric) string {
	var out []string
	for _, l := range m.GetLabel() {
		out = append(out, l.GetName())
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mf := fams[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		got := labels(m)
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
		return 0, true
	}
	return 0, false
}

// sum adds every sample of a family whose labels include want.
func sum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var s float64
	mf := fams[name]
	if mf == nil {
		return 0
	}
next:
	for _, m := range mf.GetMetric() {
		got := labels(m)
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		s += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return s
}

// Every family has the Prometheus name, type and label set documented in
// docs/metrics.md, the values of the snapshot, and passes client_golang's
// lint (promlint: base units, _total counters, no camelCase).
func TestFamiliesNamesTypesLabels(t *testing.T) {
	ep := proc(20, "srv", model.SyscallStats{model.EpollWait: epollStats(10), model.EpollCtl: {Calls: 4, FdPolls: 3, BytesIn: 36}})
	ep.EpollInstances = []model.EpollInstance{{Epfd: 3, Registered: i64(5), Ctl: model.CtlCounts{Add: 3, Del: 1},
		EpPollCallbacks: u64(9), CallbacksAlreadyQueued: u64(2), CallbacksIgnored: u64(1)}}
	src := &fake{snap: snapshot("fentry", proc(10, "pollster", model.SyscallStats{model.Poll: pollStats(5)}), ep)}
	src.snap.Meta.Lost["ringbuf_full"] = 3
	e := New(src, Options{Version: "v-test", Cost: func() ([]ProgramCost, bool, string) {
		return []ProgramCost{{"tp_enter_poll", 1.5e9, 50}, {"tp_exit_poll", 0.5e9, 27}}, true, ""
	}})

	problems, err := testutil.CollectAndLint(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	fams := gather(t, e)
	sc := "comm,model,syscall"
	want := map[string]struct {
		typ    dto.MetricType
		labels string
	}{
		"iotrace_calls_total":                            {dto.MetricType_COUNTER, sc},
		"iotrace_errors_total":                           {dto.MetricType_COUNTER, "comm,errno,model,syscall"},
		"iotrace_timeouts_total":                         {dto.MetricType_COUNTER, sc},
		"iotrace_ready_total":                            {dto.MetricType_COUNTER, sc},
		"iotrace_fds_watched_total":                      {dto.MetricType_COUNTER, sc},
		"iotrace_fds_watched_unknown_calls_total":        {dto.MetricType_COUNTER, sc},
		"iotrace_fd_checks_total":                        {dto.MetricType_COUNTER, sc},
		"iotrace_copied_bytes_total":                     {dto.MetricType_COUNTER, "comm,direction,model,syscall"},
		"iotrace_wakeups_total":                          {dto.MetricType_COUNTER, sc},
		"iotrace_sleeps_total":                           {dto.MetricType_COUNTER, sc},
		"iotrace_blocked_seconds_total":                  {dto.MetricType_COUNTER, sc},
		"iotrace_epoll_maxevents_hits_total":             {dto.MetricType_COUNTER, sc},
		"iotrace_call_duration_seconds":                  {dto.MetricType_HISTOGRAM, sc},
		"iotrace_epoll_ready_list_items_total":           {dto.MetricType_COUNTER, "at,comm,model,syscall"},
		"iotrace_epoll_ready_list_length_max":            {dto.MetricType_GAUGE, "at,comm,model,syscall"},
		"iotrace_epoll_ready_list_truncated_total":       {dto.MetricType_COUNTER, sc},
		"iotrace_epoll_instances":                        {dto.MetricType_GAUGE, "comm"},
		"iotrace_epoll_registered_fds":                   {dto.MetricType_GAUGE, "comm"},
		"iotrace_epoll_ctl_ops_total":                    {dto.MetricType_COUNTER, "comm,op"},
		"iotrace_ep_poll_callbacks_total":                {dto.MetricType_COUNTER, "comm"},
		"iotrace_ep_poll_callbacks_already_queued_total": {dto.MetricType_COUNTER, "comm"},
		"iotrace_ep_poll_callbacks_ignored_total":        {dto.MetricType_COUNTER, "comm"},
		"iotrace_info":                                   {dto.MetricType_GAUGE, "kernel,probe_mode,version"},
		"iotrace_lost_total":                             {dto.MetricType_COUNTER, "reason"},
		"iotrace_bpf_run_seconds_total":                  {dto.MetricType_COUNTER, "program"},
		"iotrace_bpf_runs_total":                         {dto.MetricType_COUNTER, "program"},
		"iotrace_processes":                              {dto.MetricType_GAUGE, "state"},
		"iotrace_series":                                 {dto.MetricType_GAUGE, ""},
		"iotrace_series_limit":                           {dto.MetricType_GAUGE, ""},
		"iotrace_series_dropped_total":                   {dto.MetricType_COUNTER, ""},
	}
	for name, w := range want {
		mf := fams[name]
		if mf == nil {
			t.Errorf("family %s missing", name)
			continue
		}
		if mf.GetType() != w.typ {
			t.Errorf("%s: type %s, want %s", name, mf.GetType(), w.typ)
		}
		for _, m := range mf.GetMetric() {
			if got := labelNames(m); got != w.labels {
				t.Errorf("%s: labels %q, want %q", name, got, w.labels)
			}
		}
	}
	for name := range fams {
		if _, ok := want[name]; !ok {
			t.Errorf("family %s is not in this test's list (nor, probably, in docs/metrics.md)", name)
		}
	}

	poll := map[string]string{"comm": "pollster", "syscall": "poll", "model": "poll"}
	for name, v := range map[string]float64{
		"iotrace_calls_total": 5, "iotrace_timeouts_total": 1, "iotrace_ready_total": 4,
		"iotrace_fds_watched_total": 320, "iotrace_fd_checks_total": 640,
		"iotrace_wakeups_total": 5, "iotrace_sleeps_total": 5, "iotrace_blocked_seconds_total": 7500e-9,
	} {
		if got, ok := value(t, fams, name, poll); !ok || got != v {
			t.Errorf("%s{poll} = %v (present %v), want %v", name, got, ok, v)
		}
	}
	if got, _ := value(t, fams, "iotrace_errors_total", map[string]string{"comm": "pollster", "errno": "EINTR"}); got != 2 {
		t.Errorf("errors{EINTR} = %v, want 2", got)
	}
	if got, _ := value(t, fams, "iotrace_copied_bytes_total", map[string]string{"comm": "pollster", "direction": "in"}); got != 2560 {
		t.Errorf("copied_bytes{in} = %v, want 2560", got)
	}
	if got, _ := value(t, fams, "iotrace_copied_bytes_total", map[string]string{"comm": "pollster", "direction": "out"}); got != 640 {
		t.Errorf("copied_bytes{out} = %v, want 640", got)
	}
	// Figures of another model are absent, not 0.
	if _, ok := value(t, fams, "iotrace_epoll_maxevents_hits_total", poll); ok {
		t.Error("poll has an epoll maxevents series")
	}
	if _, ok := value(t, fams, "iotrace_timeouts_total", map[string]string{"syscall": "epoll_ctl"}); ok {
		t.Error("epoll_ctl has a timeouts series (its 0 means success)")
	}
	ew := map[string]string{"comm": "srv", "syscall": "epoll_wait", "model": "epoll"}
	for _, c := range []struct {
		name string
		at   string
		v    float64
	}{{"iotrace_epoll_ready_list_items_total", "entry", 10}, {"iotrace_epoll_ready_list_items_total", "exit", 20},
		{"iotrace_epoll_ready_list_length_max", "entry", 4}, {"iotrace_epoll_ready_list_length_max", "exit", 7}} {
		l := map[string]string{"at": c.at}
		for k, v := range ew {
			l[k] = v
		}
		if got, _ := value(t, fams, c.name, l); got != c.v {
			t.Errorf("%s{at=%s} = %v, want %v", c.name, c.at, got, c.v)
		}
	}
	for name, v := range map[string]float64{"iotrace_epoll_instances": 1, "iotrace_epoll_registered_fds": 5,
		"iotrace_ep_poll_callbacks_total": 9, "iotrace_ep_poll_callbacks_already_queued_total": 2, "iotrace_ep_poll_callbacks_ignored_total": 1} {
		if got, _ := value(t, fams, name, map[string]string{"comm": "srv"}); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	if got, _ := value(t, fams, "iotrace_epoll_ctl_ops_total", map[string]string{"op": "add"}); got != 3 {
		t.Errorf("epoll_ctl_ops{add} = %v, want 3", got)
	}
	if got, _ := value(t, fams, "iotrace_lost_total", map[string]string{"reason": "ringbuf_full"}); got != 3 {
		t.Errorf("lost{ringbuf_full} = %v", got)
	}
	for prog, want := range map[string][2]float64{"tp_enter_poll": {1.5, 50}, "tp_exit_poll": {0.5, 27}} {
		l := map[string]string{"program": prog}
		if got, _ := value(t, fams, "iotrace_bpf_run_seconds_total", l); got != want[0] {
			t.Errorf("bpf_run_seconds{%s} = %v, want %v", prog, got, want[0])
		}
		if got, _ := value(t, fams, "iotrace_bpf_runs_total", l); got != want[1] {
			t.Errorf("bpf_runs{%s} = %v, want %v", prog, got, want[1])
		}
	}
	// The series gauge counts what was sent: poll 52 + 1 errno, epoll_wait
	// 59, epoll_ctl 49, the epoll set 8 (docs/metrics.md).
	if got, _ := value(t, fams, "iotrace_series", nil); got != 52+1+59+49+8 {
		t.Errorf("iotrace_series = %v, want %d", got, 52+1+59+49+8)
	}
}

// The cgroup label: absent unless asked for; asked for, it sits beside
// comm on every per-process family, same-named processes of two cgroups
// are two series sets with their own counts, and a process of no known
// cgroup has cgroup="".
func TestCgroupLabel(t *testing.T) {
	const cgA, cgB = "/system.slice/a.service", "/system.slice/b.service"
	newSrc := func() *fake {
		a := proc(40, "nginx", model.SyscallStats{model.EpollWait: epollStats(10)})
		a.Cgroup = cgA
		a.EpollInstances = []model.EpollInstance{{Epfd: 5, Registered: i64(3), Ctl: model.CtlCounts{Add: 3}}}
		b := proc(41, "nginx", model.SyscallStats{model.EpollWait: epollStats(20)})
		b.Cgroup = cgB
		b.EpollInstances = []model.EpollInstance{{Epfd: 5, Registered: i64(7), Ctl: model.CtlCounts{Add: 8, Del: 1}}}
		c := proc(42, "nginx", model.SyscallStats{model.Poll: pollStats(5)}) // cgroup unknown
		return &fake{snap: snapshot("tracepoint", a, b, c)}
	}
	// perProcess: the families whose samples have a comm label.
	perProcess := func(fams map[string]*dto.MetricFamily, f func(name string, m *dto.Metric)) {
		for name, mf := range fams {
			for _, m := range mf.GetMetric() {
				if _, ok := labels(m)["comm"]; ok {
					f(name, m)
				}
			}
		}
	}
	ew := func(cg string) map[string]string {
		return map[string]string{"comm": "nginx", "cgroup": cg, "syscall": "epoll_wait"}
	}

	t.Run("off", func(t *testing.T) {
		fams := gather(t, New(newSrc(), Options{Labels: Labels{PID: true, TID: true}}))
		perProcess(fams, func(name string, m *dto.Metric) {
			if strings.Contains(","+labelNames(m)+",", ",cgroup,") {
				t.Errorf("%s has a cgroup label without asking: %v", name, labels(m))
			}
		})
		fams = gather(t, New(newSrc(), Options{}))
		if got, _ := value(t, fams, "iotrace_calls_total", map[string]string{"comm": "nginx", "syscall": "epoll_wait"}); got != 30 {
			t.Errorf("calls{nginx,epoll_wait} = %v, want 30 (one set for both cgroups)", got)
		}
		// One comm set: epoll_wait 59, poll 52 + 1 errno, the epoll set 5.
		if got, _ := value(t, fams, "iotrace_series", nil); got != 59+53+5 {
			t.Errorf("iotrace_series = %v, want %d", got, 59+53+5)
		}
	})

	t.Run("on", func(t *testing.T) {
		e := New(newSrc(), Options{Labels: Labels{Cgroup: true}})
		if problems, err := testutil.CollectAndLint(e); err != nil || len(problems) > 0 {
			t.Errorf("lint: %v %v", problems, err)
		}
		fams := gather(t, e)
		perProcess(fams, func(name string, m *dto.Metric) {
			if !strings.Contains(","+labelNames(m)+",", ",cgroup,") {
				t.Errorf("%s has no cgroup label: %v", name, labels(m))
			}
		})
		for cg, want := range map[string]float64{cgA: 10, cgB: 20} {
			if got, _ := value(t, fams, "iotrace_calls_total", ew(cg)); got != want {
				t.Errorf("calls{nginx,cgroup=%s,epoll_wait} = %v, want %v", cg, got, want)
			}
		}
		for name, want := range map[string]map[string]float64{
			"iotrace_epoll_instances":      {cgA: 1, cgB: 1},
			"iotrace_epoll_registered_fds": {cgA: 3, cgB: 7},
		} {
			for cg, v := range want {
				if got, _ := value(t, fams, name, map[string]string{"comm": "nginx", "cgroup": cg}); got != v {
					t.Errorf("%s{cgroup=%s} = %v, want %v", name, cg, got, v)
				}
			}
		}
		if got, _ := value(t, fams, "iotrace_epoll_ctl_ops_total", map[string]string{"cgroup": cgB, "op": "add"}); got != 8 {
			t.Errorf("epoll_ctl_ops{cgroup=b,add} = %v, want 8", got)
		}
		if got, _ := value(t, fams, "iotrace_calls_total", map[string]string{"comm": "nginx", "cgroup": "", "syscall": "poll"}); got != 5 {
			t.Errorf(`calls{nginx,cgroup="",poll} = %v, want 5`, got)
		}
		if _, ok := value(t, fams, "iotrace_calls_total", map[string]string{"cgroup": "", "syscall": "epoll_wait"}); ok {
			t.Error(`the epoll_wait calls of processes with a cgroup went to cgroup=""`)
		}
		// Three sets: two of epoll_wait 59 and the epoll set 5, one of poll
		// 52 + 1 errno.
		if got, _ := value(t, fams, "iotrace_series", nil); got != 2*(59+5)+53 {
			t.Errorf("iotrace_series = %v, want %d", got, 2*(59+5)+53)
		}
	})
}

// HELP texts carry the provenance from model.CounterTable.
func TestHelpProvenance(t *testing.T) {
	src := &fake{snap: snapshot("tracepoint", proc(10, "p", model.SyscallStats{model.Poll: pollStats(3)}))}
	fams := gather(t, New(src, Options{}))
	for name, want := range map[string]string{
		"iotrace_fd_checks_total":       "estimated by a model",
		"iotrace_copied_bytes_total":    "(from arguments)",
		"iotrace_fds_watched_total":     "(from arguments; estimated for epoll)",
		"iotrace_calls_total":           "(observed)",
		"iotrace_call_duration_seconds": "(observed)",
	} {
		h := fams[name].GetHelp()
		if !strings.Contains(h, want) {
			t.Errorf("%s HELP %q lacks %q", name, h, want)
		}
	}
	if !strings.Contains(fams["iotrace_fd_checks_total"].GetHelp(), "(estimated)") {
		t.Errorf("fd_checks HELP does not say estimated: %q", fams["iotrace_fd_checks_total"].GetHelp())
	}
}

// The duration histogram's buckets are the BPF log2 buckets, cumulative,
// exact: the oracle counts the observed values at or below each bound.
func TestHistogramBucketsExact(t *testing.T) {
	vals := []uint64{0, 1, 2, 3, 4, 1000, 1023, 1024, 1025, 65535, 65536, 1 << 30, 1<<39 - 1, 1 << 39, 1<<40 + 7}
	st := &model.Stats{Calls: uint64(len(vals))}
	var total uint64
	for _, v := range vals {
		st.Latency.Observe(v)
		total += v
	}
	src := &fake{snap: snapshot("tracepoint", proc(1, "h", model.SyscallStats{model.Ppoll: st}))}
	fams := gather(t, New(src, Options{}))
	mf := fams["iotrace_call_duration_seconds"]
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("want one histogram, got %v", mf)
	}
	h := mf.GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != uint64(len(vals)) {
		t.Errorf("count %d, want %d", h.GetSampleCount(), len(vals))
	}
	if h.GetSampleSum() != float64(total)/1e9 {
		t.Errorf("sum %v, want %v", h.GetSampleSum(), float64(total)/1e9)
	}
	if len(h.GetBucket()) != model.LatencyBuckets-1 {
		t.Fatalf("%d buckets, want %d (+Inf is implicit)", len(h.GetBucket()), model.LatencyBuckets-1)
	}
	for i, b := range h.GetBucket() {
		boundNs := uint64(math.Round(b.GetUpperBound() * 1e9))
		if want := uint64(2)<<uint(i) - 1; boundNs != want {
			t.Errorf("bucket %d: bound %d ns, want %d", i, boundNs, want)
		}
		var n uint64
		for _, v := range vals {
			if v <= boundNs {
				n++
			}
		}
		if b.GetCumulativeCount() != n {
			t.Errorf("le=%g (%d ns): %d, want %d", b.GetUpperBound(), boundNs, b.GetCumulativeCount(), n)
		}
	}
}

// counters returns every counter sample (histogram counts included) by
// its label set.
func counters(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, mf := range fams {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			key := name + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.Histogram.GetSampleCount())
				for _, b := range m.Histogram.GetBucket() {
					out[key+"_le"+strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

// checkMonotonic fails for any counter of prev that went down or
// vanished, unless its series was pid-labelled with a pid in gone.
func checkMonotonic(t *testing.T, step string, prev, cur map[string]float64, gone ...string) {
	t.Helper()
next:
	for k, v := range prev {
		for _, g := range gone {
			if strings.Contains(k, "pid="+g+",") || strings.Contains(k, "pid="+g+"}") {
				continue next
			}
		}
		c, ok := cur[k]
		if !ok {
			t.Errorf("%s: series %s vanished", step, k)
		} else if c < v {
			t.Errorf("%s: %s went from %v to %v", step, k, v, c)
		}
	}
}

// A process that exits, is dropped from the snapshot or whose counters
// restart (pid reuse) never makes a counter go backwards; with pid labels
// its series are folded into pid="exited" after the grace period, with the
// cgroup label into its own cgroup's pid="exited" series.
func TestMonotonicAfterExit(t *testing.T) {
	for _, lb := range []Labels{{}, {PID: true}, {Cgroup: true}, {Cgroup: true, PID: true}} {
		pidLabels := lb.PID
		name := "comm"
		if lb.Cgroup {
			name += ",cgroup"
		}
		if pidLabels {
			name += ",pid"
		}
		t.Run(name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1000, 0)}
			a := proc(10, "worker", model.SyscallStats{model.EpollWait: epollStats(100)})
			a.Cgroup = "/a.slice/worker.service"
			a.EpollInstances = []model.EpollInstance{{Epfd: 4, Registered: i64(3), Ctl: model.CtlCounts{Add: 3}}}
			b := proc(11, "worker", model.SyscallStats{model.EpollWait: epollStats(50)})
			b.Cgroup = "/b.slice/worker.service"
			src := &fake{snap: snapshot("tracepoint", a, b)}
			e := New(src, Options{Labels: lb, Grace: time.Minute, Now: clk.now})
			// perCgroup checks a's and b's cgroups' calls, with the label.
			perCgroup := func(step string, f map[string]*dto.MetricFamily, wantA, wantB float64) {
				t.Helper()
				if !lb.Cgroup {
					return
				}
				for cg, want := range map[string]float64{a.Cgroup: wantA, b.Cgroup: wantB} {
					if got := sum(f, "iotrace_calls_total", map[string]string{"comm": "worker", "cgroup": cg}); got != want {
						t.Errorf("%s: calls{worker,%s} = %v, want %v", step, cg, got, want)
					}
				}
			}

			f0 := gather(t, e)
			c0 := counters(f0)
			total0 := sum(f0, "iotrace_calls_total", map[string]string{"comm": "worker"})
			if total0 != 150 {
				t.Fatalf("calls{worker} = %v, want 150", total0)
			}
			perCgroup("start", f0, 100, 50)

			// a exits: its counts stay, b goes on.
			a.Exited = true
			b.Syscalls[model.EpollWait] = epollStats(80)
			b.Threads[0].Syscalls[model.EpollWait] = epollStats(80)
			clk.t = clk.t.Add(10 * time.Second)
			f1 := gather(t, e)
			c1 := counters(f1)
			checkMonotonic(t, "exit", c0, c1)
			if got := sum(f1, "iotrace_calls_total", map[string]string{"comm": "worker"}); got != 180 {
				t.Errorf("after exit: calls{worker} = %v, want 180", got)
			}
			perCgroup("exit", f1, 100, 80)
			if _, ok := value(t, f1, "iotrace_epoll_instances", map[string]string{"comm": "worker"}); ok && !pidLabels {
				// b has no instances: the gauge counts live processes only.
				t.Error("an exited process's epoll instances are still counted")
			}

			// Past the grace period the pid series fold into pid="exited".
			clk.t = clk.t.Add(2 * time.Minute)
			f2 := gather(t, e)
			c2 := counters(f2)
			checkMonotonic(t, "grace", c1, c2, "10")
			if got := sum(f2, "iotrace_calls_total", map[string]string{"comm": "worker"}); got != 180 {
				t.Errorf("after grace: calls{worker} = %v, want 180", got)
			}
			perCgroup("grace", f2, 100, 80)
			if pidLabels {
				if _, ok := value(t, f2, "iotrace_calls_total", map[string]string{"pid": "10"}); ok {
					t.Error("pid 10's series are still exported after the grace period")
				}
				if got, _ := value(t, f2, "iotrace_calls_total", map[string]string{"pid": ExitedLabel}); got != 100 {
					t.Errorf("calls{pid=exited} = %v, want 100", got)
				}
				if got, _ := value(t, f2, "iotrace_epoll_ctl_ops_total", map[string]string{"pid": ExitedLabel, "op": "add"}); got != 3 {
					t.Errorf("epoll_ctl_ops{pid=exited,op=add} = %v, want 3", got)
				}
				if lb.Cgroup {
					if got := sum(f2, "iotrace_calls_total", map[string]string{"pid": ExitedLabel, "cgroup": a.Cgroup}); got != 100 {
						t.Errorf("calls{pid=exited,cgroup=%s} = %v, want 100", a.Cgroup, got)
					}
					if got := sum(f2, "iotrace_calls_total", map[string]string{"pid": ExitedLabel, "cgroup": b.Cgroup}); got != 0 {
						t.Errorf("calls{pid=exited,cgroup=%s} = %v, want 0 (b lives)", b.Cgroup, got)
					}
				}
			}

			// The collector forgets a; b's counters restart from lower
			// values (its pid was reused): nothing goes backwards, the new
			// counts are added.
			src.snap.Processes = []*model.Process{b}
			b.Syscalls[model.EpollWait] = epollStats(5)
			b.Threads[0].Syscalls[model.EpollWait] = epollStats(5)
			clk.t = clk.t.Add(10 * time.Second)
			f3 := gather(t, e)
			checkMonotonic(t, "reset", c2, counters(f3))
			if got := sum(f3, "iotrace_calls_total", map[string]string{"comm": "worker"}); got != 185 {
				t.Errorf("after reset: calls{worker} = %v, want 185", got)
			}
			perCgroup("reset", f3, 100, 85)
		})
	}
}

// With tid labels each thread is a series set, and a process's threads
// fold into tid="exited" with it.
func TestThreadLabels(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	p := &model.Process{Pid: 30, Comm: "app", Syscalls: model.SyscallStats{model.Poll: pollStats(7)},
		Threads: []*model.Thread{
			{Tid: 30, Comm: "app", Syscalls: model.SyscallStats{model.Poll: pollStats(3)}},
			{Tid: 31, Comm: "app-io", Syscalls: model.SyscallStats{model.Poll: pollStats(4)}},
		}}
	src := &fake{snap: snapshot("tracepoint", p)}
	e := New(src, Options{Labels: Labels{PID: true, TID: true}, Grace: time.Second, Now: clk.now})
	f := gather(t, e)
	if got, _ := value(t, f, "iotrace_calls_total", map[string]string{"comm": "app-io", "pid": "30", "tid": "31"}); got != 4 {
		t.Errorf("calls{tid=31} = %v, want 4", got)
	}
	p.Exited = true
	gather(t, e)
	clk.t = clk.t.Add(time.Minute)
	f = gather(t, e)
	if got, _ := value(t, f, "iotrace_calls_total", map[string]string{"comm": "app-io", "pid": ExitedLabel, "tid": ExitedLabel}); got != 4 {
		t.Errorf("calls{app-io, exited} = %v, want 4", got)
	}
	if _, ok := value(t, f, "iotrace_calls_total", map[string]string{"tid": "31"}); ok {
		t.Error("tid 31 still exported after its process exited and the grace period passed")
	}
}

// The cap bounds the series; what does not fit goes to the overflow set,
// counted, so the totals stay exact.
// With the cgroup label and no pid, each process in a cgroup of its own is
// a series set too, and the overflow set has cgroup="(overflow)".
func TestSeriesCap(t *testing.T) {
	for _, lb := range []Labels{{PID: true}, {Cgroup: true}, {PID: true, Cgroup: true}} {
		t.Run(fmt.Sprintf("%+v", lb), func(t *testing.T) { testSeriesCap(t, lb) })
	}
}

func testSeriesCap(t *testing.T, lb Labels) {
	var procs []*model.Process
	var want uint64
	for i := 0; i < 50; i++ {
		n := uint64(10 + i)
		p := proc(100+i, "many", model.SyscallStats{model.Select: {Calls: n}})
		p.Cgroup = fmt.Sprintf("/ctr-%d.scope", i)
		procs = append(procs, p)
		want += n
	}
	per := newFamilies(lb, "tracepoint").syscallSeries(model.Select)
	limit := 10*per + per/2
	e := New(&fake{snap: snapshot("tracepoint", procs...)}, Options{Labels: lb, MaxSeries: limit})
	id := "pid" // the label that tells the sets apart
	if !lb.PID {
		id = "cgroup"
	}
	ov := map[string]string{"comm": OverflowLabel, id: OverflowLabel}
	if lb.Cgroup {
		ov["cgroup"] = OverflowLabel
	}
	for i := 0; i < 3; i++ { // repeated scrapes count each refusal once
		if i > 0 {
			for _, p := range procs {
				p.Syscalls[model.Select].Calls++
			}
			want += uint64(len(procs))
		}
		f := gather(t, e)
		if got := sum(f, "iotrace_calls_total", nil); got != float64(want) {
			t.Errorf("scrape %d: calls over the endpoint = %v, want %d", i, got, want)
		}
		perProc := 0
		for _, mf := range f {
			for _, m := range mf.GetMetric() {
				l := labels(m)
				if l[id] == "" || l["comm"] == OverflowLabel {
					continue
				}
				perProc++
				if m.Histogram != nil {
					perProc += histogramSeries - 1
				}
			}
		}
		if perProc > limit {
			t.Errorf("scrape %d: %d per-process series, cap %d", i, perProc, limit)
		}
		if got, _ := value(t, f, "iotrace_series_dropped_total", nil); got != float64(40*per) {
			t.Errorf("scrape %d: series_dropped = %v, want %d", i, got, 40*per)
		}
		if got, _ := value(t, f, "iotrace_calls_total", ov); got == 0 {
			t.Errorf("scrape %d: no overflow series", i)
		}
	}
}

// A figure the mode cannot give is absent, never 0, and
// iotrace_figure_unavailable says why.
func TestUnavailableAbsent(t *testing.T) {
	p := proc(5, "ep", model.SyscallStats{model.EpollPwait: epollStats(2)})
	p.EpollInstances = []model.EpollInstance{{Epfd: 3, Registered: i64(2)}}
	snap := snapshot("tracepoint", p)
	snap.Meta.Unavailable["ep_poll_callbacks"] = "needs fentry or kprobe"
	e := New(&fake{snap: snap}, Options{Cost: func() ([]ProgramCost, bool, string) { return nil, false, "BPF stats off" }})
	f := gather(t, e)
	for _, name := range []string{"iotrace_ep_poll_callbacks_total", "iotrace_ep_poll_callbacks_already_queued_total",
		"iotrace_ep_poll_callbacks_ignored_total", "iotrace_bpf_run_seconds_total", "iotrace_bpf_runs_total"} {
		if f[name] != nil {
			t.Errorf("%s is exported where it was not measured", name)
		}
	}
	for fig, why := range map[string]string{"ep_poll_callbacks": "needs fentry or kprobe", "bpf_run_seconds": "BPF stats off"} {
		if got, ok := value(t, f, "iotrace_figure_unavailable", map[string]string{"figure": fig, "reason": why}); !ok || got != 1 {
			t.Errorf("figure_unavailable{%s} = %v, %v", fig, got, ok)
		}
	}
}

func TestHealth(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	src := &fake{snap: snapshot("tracepoint", proc(1, "x", model.SyscallStats{model.Poll: pollStats(2)}))}
	e := New(src, Options{Now: clk.now, LossAlarm: time.Minute})
	srv := httptest.NewServer(Handler(e))
	defer srv.Close()
	get := func(path string, hdr ...string) (int, string, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if len(hdr) == 2 {
			req.Header.Set(hdr[0], hdr[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Content-Type")
	}
	oneLine := func(body string) {
		if strings.Count(body, "\n") != 1 {
			t.Errorf("healthz body is not one line: %q", body)
		}
	}
	if code, body, _ := get("/healthz"); code != 200 || !strings.HasPrefix(body, "ok") {
		t.Errorf("healthy: %d %q", code, body)
	}
	src.snap.Meta.LostEvents = 4
	clk.t = clk.t.Add(time.Second)
	if code, body, _ := get("/healthz"); code != 503 || !strings.Contains(body, "events lost: 4 more") {
		t.Errorf("losses growing: %d %q", code, body)
	} else {
		oneLine(body)
	}
	clk.t = clk.t.Add(2 * time.Minute)
	if code, body, _ := get("/healthz"); code != 200 {
		t.Errorf("losses stopped a while ago: %d %q", code, body)
	}
	src.err = errors.New("map gone")
	if code, body, _ := get("/healthz"); code != 503 || !strings.Contains(body, "map gone") {
		t.Errorf("snapshot failing: %d %q", code, body)
	} else {
		oneLine(body)
	}
	if code, _, _ := get("/metrics"); code != 500 {
		t.Errorf("/metrics with a failing snapshot: %d, want 500", code)
	}
	src.err = nil

	code, body, ct := get("/metrics", "Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8")
	if code != 200 || !strings.HasPrefix(ct, "application/openmetrics-text") || !strings.HasSuffix(body, "# EOF\n") {
		t.Errorf("OpenMetrics: %d %q, ends %q", code, ct, body[max(0, len(body)-20):])
	}
	if !strings.Contains(body, "# TYPE iotrace_calls counter") {
		t.Error("OpenMetrics body has no iotrace_calls counter family")
	}
	code, body, ct = get("/metrics")
	if code != 200 || !strings.HasPrefix(ct, "text/plain") || !strings.Contains(body, "# TYPE iotrace_calls_total counter") {
		t.Errorf("text format: %d %q", code, ct)
	}
	if code, body, _ := get("/"); code != 200 || !strings.Contains(body, `href="metrics"`) || !strings.Contains(body, `href="healthz"`) {
		t.Errorf("index: %d %q", code, body)
	}
	if code, _, _ := get("/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
}

func TestParseLabels(t *testing.T) {
	if l, err := ParseLabels([]string{"pid", "tid"}); l != (Labels{PID: true, TID: true}) || err != nil {
		t.Errorf("pid,tid: %+v %v", l, err)
	}
	if l, err := ParseLabels([]string{"cgroup", " pid"}); l != (Labels{PID: true, Cgroup: true}) || err != nil {
		t.Errorf("cgroup,pid: %+v %v", l, err)
	}
	if _, err := ParseLabels([]string{"container"}); err == nil || !strings.Contains(err.Error(), `unknown label "container"`) {
		t.Errorf("container: %v", err)
	}
}
