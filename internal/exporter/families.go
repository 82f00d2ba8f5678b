package exporter

import (
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iotrace/iotrace/internal/model"
)

// help is a family's HELP text: the figure's meaning and provenance from
// model.CounterTable (the one place they are written), then what the
// family adds (its unit, how to read it).
func help(keys []string, note, mode string) string {
	var parts []string
	for _, k := range keys {
		c := model.CounterByKey(k)
		parts = append(parts, c.Meaning+" ("+c.ProvenanceText(mode)+")")
	}
	h := strings.Join(parts, "; ")
	if note != "" {
		h += ". " + note
	}
	return h
}

// syscallFamily is a family with one sample set per subject and syscall.
type syscallFamily struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	key  string // the model.CounterTable figure: which syscalls have it
	// values reads the samples, one per value of the extra label (if any).
	values func(s *model.Stats) []float64
	extra  []string // the extra label's values, in the order of values
	n      int      // samples per subject and syscall
}

// families holds every descriptor; the label names depend on the options.
type families struct {
	proc, thread []string // comm [cgroup] [pid] and comm [cgroup] [pid] [tid]
	syscall      []*syscallFamily
	errors       *prometheus.Desc
	duration     *prometheus.Desc

	epollInstances, epollRegistered, epollCtl      *prometheus.Desc
	epCallbacks, epCallbacksQueued, epCallbacksIgn *prometheus.Desc

	info, lost, unavailable, bpfRun, bpfRuns, processes *prometheus.Desc
	series, seriesLimit, seriesDropped                  *prometheus.Desc
}

// durationBuckets are the BPF histogram's log2 buckets as Prometheus upper
// bounds in seconds: bucket i (i < 39) holds whole nanoseconds below
// 2^(i+1), that is up to and including 2^(i+1)-1 ns; the last bucket (from
// 2^39 ns, about 550 s) is +Inf only.
var durationBuckets = func() []float64 {
	out := make([]float64, model.LatencyBuckets-1)
	for i := range out {
		_, hi := model.BucketBounds(i)
		out[i] = float64(hi-1) / 1e9
	}
	return out
}()

func newFamilies(lb Labels, mode string) *families {
	h := func(keys []string, note string) string { return help(keys, note, mode) }
	f := &families{proc: []string{"comm"}}
	if lb.Cgroup {
		f.proc = append(f.proc, "cgroup")
	}
	if lb.PID {
		f.proc = append(f.proc, "pid")
	}
	f.thread = append([]string(nil), f.proc...)
	if lb.TID {
		f.thread = append(f.thread, "tid")
	}
	scLabels := append(append([]string(nil), f.thread...), "syscall", "model")
	with := func(extra ...string) []string { return append(append([]string(nil), scLabels...), extra...) }
	one := func(get func(s *model.Stats) uint64, scale float64) func(s *model.Stats) []float64 {
		return func(s *model.Stats) []float64 { return []float64{float64(get(s)) * scale} }
	}
	// add defines a family; extra names a label whose values split it.
	add := func(name string, typ prometheus.ValueType, key, helpText, extra string, vals []string, v func(s *model.Stats) []float64) {
		labels := with()
		if extra != "" {
			labels = with(extra)
		}
		f.syscall = append(f.syscall, &syscallFamily{
			desc: prometheus.NewDesc(name, helpText, labels, nil), typ: typ, key: key, values: v,
			extra: vals, n: max(1, len(vals)),
		})
	}
	counter := func(name, key, note string, get func(s *model.Stats) uint64) {
		add(name, prometheus.CounterValue, key, h([]string{key}, note), "", nil, one(get, 1))
	}

	counter("iotrace_calls_total", "calls", "", func(s *model.Stats) uint64 { return s.Calls })
	counter("iotrace_timeouts_total", "timeouts", "", func(s *model.Stats) uint64 { return s.Timeouts })
	counter("iotrace_ready_total", "ready", "", func(s *model.Stats) uint64 { return s.Ready })
	counter("iotrace_fds_watched_total", "fds_watched", "Per call: divide by iotrace_calls_total minus iotrace_fds_watched_unknown_calls_total",
		func(s *model.Stats) uint64 { return s.FdsWatched })
	counter("iotrace_fds_watched_unknown_calls_total", "fds_watched_unknown_calls", "",
		func(s *model.Stats) uint64 { return s.FdsWatchedUnknown })
	counter("iotrace_fd_checks_total", "fd_polls", "The fd_polls figure", func(s *model.Stats) uint64 { return s.FdPolls })
	add("iotrace_copied_bytes_total", prometheus.CounterValue, "bytes_in",
		h([]string{"bytes_in", "bytes_out"}, `direction="in" is the first, direction="out" the second`), "direction", directions,
		func(s *model.Stats) []float64 { return []float64{float64(s.BytesIn), float64(s.BytesOut)} })
	counter("iotrace_wakeups_total", "wakeups", "", func(s *model.Stats) uint64 { return s.Wakeups })
	counter("iotrace_sleeps_total", "sleeps", "", func(s *model.Stats) uint64 { return s.Sleeps })
	add("iotrace_blocked_seconds_total", prometheus.CounterValue, "blocked_ns", h([]string{"blocked_ns"}, "In seconds, summed over threads"),
		"", nil, one(func(s *model.Stats) uint64 { return s.BlockedNs }, 1e-9))
	counter("iotrace_epoll_maxevents_hits_total", "maxevents_hits", "", func(s *model.Stats) uint64 { return s.MaxeventsHits })
	add("iotrace_epoll_ready_list_items_total", prometheus.CounterValue, "ready_list_at_entry",
		h([]string{"ready_list_at_entry", "ready_list_at_exit"}, `Summed over successful waits, at="entry" and at="exit": divide by iotrace_calls_total minus iotrace_errors_total for the mean length`),
		"at", ats, func(s *model.Stats) []float64 {
			return []float64{float64(s.ReadyListAtEntry.Sum), float64(s.ReadyListAtExit.Sum)}
		})
	add("iotrace_epoll_ready_list_length_max", prometheus.GaugeValue, "ready_list_at_entry",
		h([]string{"ready_list_at_entry", "ready_list_at_exit"}, `The longest seen since iotrace started, at="entry" and at="exit"`),
		"at", ats, func(s *model.Stats) []float64 {
			return []float64{float64(s.ReadyListAtEntry.Max), float64(s.ReadyListAtExit.Max)}
		})
	counter("iotrace_epoll_ready_list_truncated_total", "ready_list_truncated", "", func(s *model.Stats) uint64 { return s.ReadyListTruncated })

	f.errors = prometheus.NewDesc("iotrace_errors_total", h([]string{"errors"}, ""), with("errno"), nil)
	f.duration = prometheus.NewDesc("iotrace_call_duration_seconds",
		h([]string{"latency_ns"}, "In seconds; each upper bound is a bucket's last whole nanosecond, so the counts are exact; _sum and _count are exact"),
		with(), nil)

	pl := f.proc
	f.epollInstances = prometheus.NewDesc("iotrace_epoll_instances", "Epoll instances of the live traced processes (observed)", pl, nil)
	f.epollRegistered = prometheus.NewDesc("iotrace_epoll_registered_fds", h([]string{"registered"}, "Summed over the live processes' instances whose size is known"), pl, nil)
	f.epollCtl = prometheus.NewDesc("iotrace_epoll_ctl_ops_total", h([]string{"ctl"}, `op="add", "mod" or "del"`), append(append([]string(nil), pl...), "op"), nil)
	unav := "; absent, with iotrace_figure_unavailable saying why, where the probe mode cannot see it"
	f.epCallbacks = prometheus.NewDesc("iotrace_ep_poll_callbacks_total", h([]string{"ep_poll_callbacks"}, "")+unav, pl, nil)
	f.epCallbacksQueued = prometheus.NewDesc("iotrace_ep_poll_callbacks_already_queued_total", h([]string{"callbacks_already_queued"}, "")+unav, pl, nil)
	f.epCallbacksIgn = prometheus.NewDesc("iotrace_ep_poll_callbacks_ignored_total", h([]string{"callbacks_ignored"}, "")+unav, pl, nil)

	f.info = prometheus.NewDesc("iotrace_info", "iotrace's version, probe mode and kernel; always 1", []string{"version", "probe_mode", "kernel"}, nil)
	f.lost = prometheus.NewDesc("iotrace_lost_total",
		`Records the kernel side could not keep, by reason (meta.lost in docs/metrics.md; reason="select_sets_truncated" counts select calls whose sets were cut at 65,536 fds and is not a lost event) (observed)`,
		[]string{"reason"}, nil)
	f.unavailable = prometheus.NewDesc("iotrace_figure_unavailable",
		"A figure this run cannot give, with the reason; its series are absent, never 0; always 1", []string{"figure", "reason"}, nil)
	f.bpfRun = prometheus.NewDesc("iotrace_bpf_run_seconds_total",
		"CPU time each of iotrace's BPF programs ran, from the kernel's BPF stats (observed); program is the program's name in bpf/iotrace.bpf.c (a few dozen at most)", []string{"program"}, nil)
	f.bpfRuns = prometheus.NewDesc("iotrace_bpf_runs_total",
		"Runs of each of iotrace's BPF programs (one per traced syscall entry or exit, scheduler event or callback), from the kernel's BPF stats: their rate is the events per second iotrace handles (observed)", []string{"program"}, nil)
	f.processes = prometheus.NewDesc("iotrace_processes", `Processes traced, state="live" or "exited"`, []string{"state"}, nil)
	f.series = prometheus.NewDesc("iotrace_series", `Per-process series this endpoint exports now (those with a comm label, the comm="`+OverflowLabel+`" set aside)`, nil, nil)
	f.seriesLimit = prometheus.NewDesc("iotrace_series_limit", "The cap on per-process series (--metrics-max-series)", nil, nil)
	f.seriesDropped = prometheus.NewDesc("iotrace_series_dropped_total",
		`Per-process series not created because of the cap; their figures went to the comm="`+OverflowLabel+`" series`, nil, nil)
	return f
}

func (f *families) describe(ch chan<- *prometheus.Desc) {
	for _, s := range f.syscall {
		ch <- s.desc
	}
	for _, d := range []*prometheus.Desc{f.errors, f.duration, f.epollInstances, f.epollRegistered, f.epollCtl,
		f.epCallbacks, f.epCallbacksQueued, f.epCallbacksIgn, f.info, f.lost, f.unavailable, f.bpfRun, f.bpfRuns,
		f.processes, f.series, f.seriesLimit, f.seriesDropped} {
		ch <- d
	}
}

// histogramSeries is what a histogram costs: a _bucket series per bound
// and +Inf, _sum and _count.
const histogramSeries = model.LatencyBuckets + 2

// syscallSeries is the number of series a subject's syscall sc has
// (without its errno series, which appear with the errors).
func (f *families) syscallSeries(sc model.Syscall) int {
	n := histogramSeries
	for _, s := range f.syscall {
		if model.CounterByKey(s.key).AppliesTo(sc) {
			n += s.n
		}
	}
	return n
}

// epollSeries is the number of series of a subject's epoll set.
func (f *families) epollSeries() int { return 8 }

var (
	directions = []string{"in", "out"}
	ats        = []string{"entry", "exit"}
	ctlOps     = []string{"add", "mod", "del"}
)

// labels are k's label values in the order of families.proc (and, with
// withTid, families.thread).
func (k subjectKey) labels(lb Labels, withTid bool) []string {
	out := []string{k.comm}
	if lb.Cgroup {
		out = append(out, k.cgroup)
	}
	if lb.PID {
		out = append(out, k.pid)
	}
	if withTid {
		out = append(out, k.tid)
	}
	return out
}

// emit sends every series. Called with e.mu held.
func (e *Exporter) emit(ch chan<- prometheus.Metric, snap *model.Snapshot) {
	f := e.fams
	n := 0
	send := func(m prometheus.Metric, perProcess bool) {
		ch <- m
		if perProcess {
			n++
		}
	}
	for k, s := range e.subjects {
		counted := !isOverflow(k)
		tl := k.labels(e.o.Labels, e.o.TID)
		for sc, st := range s.syscalls {
			lv := append(append([]string(nil), tl...), sc.String(), string(sc.Family()))
			for _, fam := range f.syscall {
				if !model.CounterByKey(fam.key).AppliesTo(sc) {
					continue
				}
				vals := fam.values(st)
				for i, v := range vals {
					l := lv
					if fam.extra != nil {
						l = append(append([]string(nil), lv...), fam.extra[i])
					}
					send(prometheus.MustNewConstMetric(fam.desc, fam.typ, v, l...), counted)
				}
			}
			for errno, c := range st.ErrorsByErrno {
				send(prometheus.MustNewConstMetric(f.errors, prometheus.CounterValue, float64(c), append(append([]string(nil), lv...), errno)...), counted)
			}
			buckets := make(map[float64]uint64, len(durationBuckets))
			var cum uint64
			for i, ub := range durationBuckets {
				cum += st.Latency.Buckets[i]
				buckets[ub] = cum
			}
			send(prometheus.MustNewConstHistogram(f.duration, st.Latency.Count, float64(st.Latency.Sum)/1e9, buckets, lv...), counted)
			if counted {
				n += histogramSeries - 1
			}
		}
		if ep := s.epoll; ep != nil {
			pl := k.labels(e.o.Labels, false)
			for i, v := range []uint64{ep.add, ep.mod, ep.del} {
				send(prometheus.MustNewConstMetric(f.epollCtl, prometheus.CounterValue, float64(v), append(append([]string(nil), pl...), ctlOps[i])...), counted)
			}
			for _, c := range []struct {
				d *prometheus.Desc
				v *uint64
			}{{f.epCallbacks, ep.callbacks}, {f.epCallbacksQueued, ep.queued}, {f.epCallbacksIgn, ep.ignored}} {
				if c.v != nil {
					send(prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(*c.v), pl...), counted)
				}
			}
		}
	}
	n += e.emitEpollGauges(ch, snap)

	m := snap.Meta
	ch <- prometheus.MustNewConstMetric(f.info, prometheus.GaugeValue, 1, e.o.Version, m.ProbeMode, m.Kernel)
	for reason, v := range m.Lost {
		ch <- prometheus.MustNewConstMetric(f.lost, prometheus.CounterValue, float64(v), reason)
	}
	unav := map[string]string{}
	for fig, why := range m.Unavailable {
		unav[fig] = why
	}
	if e.o.Cost != nil {
		if progs, ok, why := e.o.Cost(); ok {
			for _, p := range progs {
				ch <- prometheus.MustNewConstMetric(f.bpfRun, prometheus.CounterValue, float64(p.RunNs)/1e9, p.Program)
				ch <- prometheus.MustNewConstMetric(f.bpfRuns, prometheus.CounterValue, float64(p.Runs), p.Program)
			}
		} else {
			unav["bpf_run_seconds"], unav["bpf_runs"] = why, why
		}
	}
	figs := make([]string, 0, len(unav))
	for fig := range unav {
		figs = append(figs, fig)
	}
	sort.Strings(figs)
	for _, fig := range figs {
		ch <- prometheus.MustNewConstMetric(f.unavailable, prometheus.GaugeValue, 1, fig, unav[fig])
	}
	var live, exited int
	for _, p := range snap.Processes {
		if p.Exited {
			exited++
		} else {
			live++
		}
	}
	ch <- prometheus.MustNewConstMetric(f.processes, prometheus.GaugeValue, float64(live), "live")
	ch <- prometheus.MustNewConstMetric(f.processes, prometheus.GaugeValue, float64(exited), "exited")
	ch <- prometheus.MustNewConstMetric(f.series, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(f.seriesLimit, prometheus.GaugeValue, float64(e.o.MaxSeries))
	ch <- prometheus.MustNewConstMetric(f.seriesDropped, prometheus.CounterValue, float64(e.dropped))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// emitEpollGauges sends the live processes' epoll instance counts and
// interest-list sizes, per subject (the overflow set where the cap refused
// the subject's epoll set); it returns the number of series sent.
func (e *Exporter) emitEpollGauges(ch chan<- prometheus.Metric, snap *model.Snapshot) int {
	type gauge struct {
		instances, registered int64
		known                 bool
	}
	g := map[subjectKey]*gauge{}
	for _, p := range snap.Processes {
		if p.Exited || len(p.EpollInstances) == 0 {
			continue
		}
		k := e.key(p.Comm, p.Cgroup, p.Pid, 0, false)
		if s := e.subjects[k]; s == nil || s.epoll == nil {
			k = e.overflow(false)
		}
		if g[k] == nil {
			g[k] = &gauge{}
		}
		for _, in := range p.EpollInstances {
			g[k].instances++
			if in.Registered != nil {
				g[k].registered += *in.Registered
				g[k].known = true
			}
		}
	}
	n := 0
	for k, v := range g {
		pl := k.labels(e.o.Labels, false)
		ch <- prometheus.MustNewConstMetric(e.fams.epollInstances, prometheus.GaugeValue, float64(v.instances), pl...)
		if v.known {
			ch <- prometheus.MustNewConstMetric(e.fams.epollRegistered, prometheus.GaugeValue, float64(v.registered), pl...)
		}
		if !isOverflow(k) {
			n += 1 + btoi(v.known)
		}
	}
	return n
}
