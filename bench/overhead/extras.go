package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ---- where the time goes: the kernel's BPF run-time statistics ----

type progStat struct {
	Name        string  `json:"name"`
	Runs        uint64  `json:"runs"`
	NsPerRun    float64 `json:"ns_per_run"`
	RunsPerCall float64 `json:"runs_per_call"`
	NsPerCall   float64 `json:"ns_per_call"` // program time per loop call
}

type statsLoop struct {
	NsPerCall     float64    `json:"loop_ns_per_call"` // with the statistics on
	Calls         uint64     `json:"calls"`
	ProgNsPerCall float64    `json:"prog_ns_per_call"` // all programs' run time per loop call
	Progs         []progStat `json:"programs"`
}

type statsRun struct {
	Condition string                `json:"condition"`
	Loops     map[string]*statsLoop `json:"loops"`
	Error     string                `json:"error,omitempty"`
	Runs      []statsRun            `json:"runs,omitempty"` // in a summary: each round's run
}

// progsOf returns the BPF programs a process holds open.
func progsOf(pid int) ([]*ebpf.Program, error) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	seen := map[uint64]bool{}
	var progs []*ebpf.Program
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			v, ok := strings.CutPrefix(l, "prog_id:")
			if !ok {
				continue
			}
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil || seen[id] {
				continue
			}
			seen[id] = true
			p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
			if err == nil {
				progs = append(progs, p)
			}
		}
	}
	return progs, nil
}

type progSample struct {
	name string
	ns   time.Duration
	runs uint64
}

func sampleProgs(progs []*ebpf.Program) []progSample {
	out := make([]progSample, len(progs))
	for i, p := range progs {
		name := ""
		if info, err := p.Info(); err == nil {
			name = info.Name
		}
		out[i].name = name
		if st, err := p.Stats(); err == nil {
			out[i].ns, out[i].runs = st.Runtime, st.RunCount
		}
	}
	return out
}

// bpfStats runs each loop once under the floor and under iotrace with the
// kernel's BPF statistics on, and reports each program's run time per call.
func (r *runner) bpfStats() {
	closer, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		r.res.BPFStatsError = fmt.Sprintf("cannot enable BPF statistics: %v", err)
		logf("bpfstats: %s", r.res.BPFStatsError)
		return
	}
	defer closer.Close()
	var conds []condition
	for _, c := range r.conditions() {
		if c.wrap == nil && c.Name != "floor-raw" && c.Name != "bpftrace" {
			conds = append(conds, c)
		}
	}
	// Every condition once per round, alternating the order; the figures
	// are medians over the rounds (one run is noisy on a shared machine).
	runs := map[string][]statsRun{}
	for round := 0; round < r.cfg.rounds; round++ {
		order := append([]condition(nil), conds...)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, c := range order {
			sr := r.statsRun(c)
			if sr.Error != "" {
				logf("bpfstats round %d %-24s ERROR %s", round+1, c.Name, sr.Error)
			}
			runs[c.Name] = append(runs[c.Name], sr)
		}
	}
	for _, c := range conds {
		sr := summarizeStats(c.Name, runs[c.Name], r.cfg.kinds)
		var cells []string
		for _, k := range r.cfg.kinds {
			if l := sr.Loops[k]; l != nil {
				cells = append(cells, fmt.Sprintf("%s %.0f ns/call (programs %.0f)", k, l.NsPerCall, l.ProgNsPerCall))
			}
		}
		logf("bpfstats %-24s %s", c.Name, strings.Join(cells, ", "))
		r.res.BPFStats = append(r.res.BPFStats, sr)
	}
}

// summarizeStats takes the median of each figure over the runs; programs
// with the same name (the floor's) are added together first.
func summarizeStats(name string, runs []statsRun, kinds []string) statsRun {
	sum := statsRun{Condition: name, Loops: map[string]*statsLoop{}, Runs: runs}
	var errs []string
	for _, k := range kinds {
		var loopNs, progNs []float64
		perProg := map[string][][2]float64{} // name -> (ns/run, runs/call) per run
		var calls uint64
		for _, run := range runs {
			if run.Error != "" {
				errs = append(errs, run.Error)
			}
			l := run.Loops[k]
			if l == nil {
				continue
			}
			loopNs, progNs = append(loopNs, l.NsPerCall), append(progNs, l.ProgNsPerCall)
			calls += l.Calls
			byName := map[string][2]float64{} // total ns per call, runs per call
			for _, p := range l.Progs {
				v := byName[p.Name]
				byName[p.Name] = [2]float64{v[0] + p.NsPerCall, v[1] + p.RunsPerCall}
			}
			for n, v := range byName {
				perProg[n] = append(perProg[n], [2]float64{v[0] / v[1], v[1]})
			}
		}
		if len(loopNs) == 0 {
			continue
		}
		sl := &statsLoop{NsPerCall: median(loopNs), ProgNsPerCall: median(progNs), Calls: calls}
		for n, vs := range perProg {
			var nsRun, rpc []float64
			for _, v := range vs {
				nsRun, rpc = append(nsRun, v[0]), append(rpc, v[1])
			}
			for len(rpc) < len(loopNs) { // runs where it did not run at all
				rpc = append(rpc, 0)
			}
			p := progStat{Name: n, NsPerRun: median(nsRun), RunsPerCall: median(rpc)}
			p.NsPerCall = p.NsPerRun * p.RunsPerCall
			sl.Progs = append(sl.Progs, p)
		}
		sort.Slice(sl.Progs, func(i, j int) bool { return sl.Progs[i].NsPerCall > sl.Progs[j].NsPerCall })
		sum.Loops[k] = sl
	}
	if len(errs) > 0 {
		sum.Error = strings.Join(uniq(errs), "; ")
	}
	return sum
}

func (r *runner) statsRun(c condition) (sr statsRun) {
	sr = statsRun{Condition: c.Name, Loops: map[string]*statsLoop{}}
	ch, err := startChild(r.benchArgs(true))
	if err != nil {
		sr.Error = err.Error()
		return sr
	}
	s, err := c.attach(ch.pid())
	if err != nil {
		ch.kill()
		sr.Error = err.Error()
		return sr
	}
	var progs []*ebpf.Program
	switch s := s.(type) {
	case floorSession:
		progs = s.f.progs
	case *iotraceSession:
		progs, err = progsOf(s.p.pid())
		defer func() {
			for _, p := range progs {
				p.Close()
			}
		}()
	}
	for _, k := range r.cfg.kinds {
		before := sampleProgs(progs)
		if err == nil {
			err = ch.gate()
		}
		var l string
		if err == nil {
			l, err = ch.line("RESULT", r.loopTimeout())
		}
		var kr kindResult
		if err == nil {
			kr, err = parseResult(l)
		}
		if err != nil {
			break
		}
		after := sampleProgs(progs)
		sl := &statsLoop{NsPerCall: kr.NsPer, Calls: kr.Calls}
		for i := range after {
			runs := after[i].runs - before[i].runs
			ns := after[i].ns - before[i].ns
			if runs == 0 {
				continue
			}
			ps := progStat{Name: after[i].name, Runs: runs, NsPerRun: float64(ns) / float64(runs),
				RunsPerCall: float64(runs) / float64(kr.Calls), NsPerCall: float64(ns) / float64(kr.Calls)}
			sl.ProgNsPerCall += ps.NsPerCall
			sl.Progs = append(sl.Progs, ps)
		}
		sort.Slice(sl.Progs, func(i, j int) bool { return sl.Progs[i].NsPerCall > sl.Progs[j].NsPerCall })
		sr.Loops[k] = sl
	}
	pid := ch.pid()
	if err != nil {
		ch.kill()
		s.end(pid, nil)
		sr.Error = err.Error()
		return sr
	}
	if err := ch.finish(30 * time.Second); err != nil {
		sr.Error = err.Error()
	}
	if _, err := s.end(pid, nil); err != nil && sr.Error == "" {
		sr.Error = err.Error()
	}
	return sr
}

// ---- start-up time ----

type startupResult struct {
	Tool       string    `json:"tool"`
	What       string    `json:"what"`
	ReadyMs    []float64 `json:"ready_ms"`
	MedianMs   float64   `json:"median_ready_ms"`
	FirstOutMs []float64 `json:"first_output_ms,omitempty"` // bpftrace: "Attaching N probes..."
	MedianOut  float64   `json:"median_first_output_ms,omitempty"`
	ExitMs     []float64 `json:"exit_ms"` // from SIGINT to exit (detaching)
	MedianExit float64   `json:"median_exit_ms"`
	Errors     []string  `json:"errors,omitempty"`
}

func (r *runner) startup() {
	sleeper := r.sleeper.Process.Pid
	var tools []*startupResult
	for _, mode := range append([]string{"auto"}, r.modes...) {
		tools = append(tools, &startupResult{Tool: "iotrace --probe-mode " + mode,
			What: "exec to --ready-file written (every probe attached)"})
	}
	haveBpftrace := !strings.HasPrefix(r.tools["bpftrace"], "not installed")
	if haveBpftrace {
		tools = append(tools, &startupResult{Tool: "bpftrace",
			What: "exec to BEGIN's output (after every probe is attached); first output: \"Attaching N probes...\""})
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
	for run := 0; run < r.cfg.startupRuns; run++ {
		order := append([]*startupResult(nil), tools...)
		if run%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, t := range order {
			if t.Tool == "bpftrace" {
				start := time.Now()
				p, err := r.startBpftrace("startup", sleeper)
				if err != nil {
					t.Errors = append(t.Errors, err.Error())
					continue
				}
				at, err := p.waitLine(bpftraceReady, 60*time.Second)
				if err != nil {
					t.Errors = append(t.Errors, err.Error())
					p.stop(30 * time.Second)
					continue
				}
				if first, err := p.waitLine("Attaching", time.Second); err == nil {
					t.FirstOutMs = append(t.FirstOutMs, ms(first.Sub(start)))
				}
				t.ReadyMs = append(t.ReadyMs, ms(at.Sub(start)))
				// bpftrace 0.17 sometimes ignores a SIGINT that comes right
				// after its BEGIN output; exit time is not a target here.
				d, err := p.stop(10 * time.Second)
				if err != nil {
					t.Errors = append(t.Errors, err.Error())
				}
				t.ExitMs = append(t.ExitMs, ms(d))
				continue
			}
			mode := strings.TrimPrefix(t.Tool, "iotrace --probe-mode ")
			p, d, err := r.startIotrace("startup", []string{"--pid", strconv.Itoa(sleeper), "--no-tui", "-i", "1h", "--probe-mode", mode})
			if err != nil {
				t.Errors = append(t.Errors, err.Error())
				continue
			}
			t.ReadyMs = append(t.ReadyMs, ms(d))
			x, err := p.stop(60 * time.Second)
			if err == nil {
				err = p.exitErr()
			}
			if err != nil {
				t.Errors = append(t.Errors, err.Error())
			}
			t.ExitMs = append(t.ExitMs, ms(x))
		}
	}
	for _, t := range tools {
		t.MedianMs, t.MedianOut, t.MedianExit = median(t.ReadyMs), median(t.FirstOutMs), median(t.ExitMs)
		logf("startup %-30s ready %.0f ms (runs %v), exit %.0f ms", t.Tool, t.MedianMs, roundAll(t.ReadyMs), t.MedianExit)
		r.res.Startup = append(r.res.Startup, *t)
	}
}

func roundAll(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int64(x + 0.5))
	}
	return out
}

// ---- memory while tracing 1,000 threads ----

type rssResult struct {
	Variant       string   `json:"variant"`
	Args          []string `json:"args"`
	Seconds       float64  `json:"seconds"`
	SamplesKB     []uint64 `json:"vmrss_samples_kb"`
	MaxRSSKB      uint64   `json:"max_vmrss_kb"`
	HWMKB         uint64   `json:"vmhwm_kb"`         // peak while tracing
	ExitHWMKB     uint64   `json:"vmhwm_at_exit_kb"` // peak including writing the output
	ThreadsTraced int      `json:"threads_traced"`   // threads with poll calls in the trace
	Calls         uint64   `json:"poll_calls"`
	Lost          uint64   `json:"lost_events"`
	Error         string   `json:"error,omitempty"`
}

func (r *runner) rss() {
	n := r.cfg.rssThreads
	h, err := startChild([]string{r.helper, "threads", "-n", strconv.Itoa(n), "-timeout-ms", "10"})
	if err != nil {
		r.res.RSSError = err.Error()
		return
	}
	defer h.finish(10 * time.Second)
	if _, err := h.line("READY", 30*time.Second); err != nil {
		r.res.RSSError = err.Error()
		h.kill()
		return
	}
	pid := strconv.Itoa(h.pid())
	variants := []struct {
		name string
		args []string
	}{
		{"aggregation, text tables every 1 s, -o trace.json", []string{"-i", "1s", "-o", "OUT"}},
		{"aggregation, text tables every 1 s, no -o", []string{"-i", "1s"}},
		{"--events (default --events-limit 1000000), -o trace.json", []string{"-i", "1s", "--events", "-o", "OUT"}},
	}
	if r.cfg.quick {
		variants = variants[:1]
	}
	for i, v := range variants {
		out := filepath.Join(r.dir, fmt.Sprintf("rss-%d.json", i))
		args := []string{"--pid", pid, "--no-tui"}
		for _, a := range v.args {
			if a == "OUT" {
				a = out
			}
			args = append(args, a)
		}
		res := rssResult{Variant: v.name, Args: args, Seconds: r.cfg.rssSeconds}
		p, _, err := r.startIotrace(fmt.Sprintf("rss-%d", i), args)
		if err != nil {
			res.Error = err.Error()
			r.res.RSS = append(r.res.RSS, res)
			continue
		}
		end := time.Now().Add(time.Duration(r.cfg.rssSeconds * float64(time.Second)))
		for time.Now().Before(end) {
			time.Sleep(250 * time.Millisecond)
			if kb, ok := readStatus(p.pid(), "VmRSS"); ok {
				res.SamplesKB = append(res.SamplesKB, kb)
				res.MaxRSSKB = max(res.MaxRSSKB, kb)
			}
		}
		res.HWMKB, _ = readStatus(p.pid(), "VmHWM")
		// Follow the peak while iotrace detaches and writes its output.
		done := make(chan struct{})
		go func() {
			for {
				if kb, ok := readStatus(p.pid(), "VmHWM"); ok {
					res.ExitHWMKB = max(res.ExitHWMKB, kb)
				}
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		_, err = p.stop(120 * time.Second)
		close(done)
		if err == nil {
			err = p.exitErr()
		}
		if err != nil {
			res.Error = err.Error()
		} else if contains(v.args, "OUT") {
			if doc, err := readIotraceDoc(out); err != nil {
				res.Error = err.Error()
			} else {
				res.Lost = doc.Meta.LostEvents
				for _, pr := range doc.Processes {
					if strconv.Itoa(pr.Pid) == pid {
						res.ThreadsTraced = len(pr.Threads)
						res.Calls = pr.Syscalls["poll"].Calls
					}
				}
			}
			os.Remove(out)
		}
		logf("rss %-58s max VmRSS %.1f MB, VmHWM %.1f MB (%.1f MB with exit), %d threads traced, %d polls, lost %d %s",
			v.name, mb(res.MaxRSSKB), mb(res.HWMKB), mb(res.ExitHWMKB), res.ThreadsTraced, res.Calls, res.Lost, res.Error)
		r.res.RSS = append(r.res.RSS, res)
	}
}

func mb(kb uint64) float64 { return float64(kb) / 1024 }

// ---- per-call events drained without loss ----

type drainResult struct {
	drainStep
	Calls     uint64   `json:"calls"`
	Seconds   float64  `json:"seconds"`
	Achieved  float64  `json:"achieved_rate"`
	Recorded  uint64   `json:"events_recorded"`
	LostRing  uint64   `json:"lost_call_events_ringbuf_full"`
	LostTotal uint64   `json:"lost_events"`
	ExitMs    float64  `json:"exit_ms"`  // loop end to iotrace exit (draining the rest, writing the trace)
	HWMKB     uint64   `json:"vmhwm_kb"` // iotrace's peak RSS
	Problems  []string `json:"problems,omitempty"`
	Error     string   `json:"error,omitempty"`
}

func (r *runner) drain() {
	for _, st := range r.cfg.drainSteps {
		d := r.drainRun(st)
		target := "as fast as possible"
		if st.Rate > 0 {
			target = fmt.Sprintf("%.0f/s", st.Rate)
		}
		logf("drain %d thread(s), %-20s achieved %.0f calls/s: recorded %d, lost %d (ringbuf_full %d), exit %.1f s %s %s",
			st.Threads, target, d.Achieved, d.Recorded, d.LostTotal, d.LostRing, d.ExitMs/1e3, strings.Join(d.Problems, "; "), d.Error)
		r.res.Drain = append(r.res.Drain, d)
	}
	// The collector alone: a backlog that fits the ring buffer, built while
	// iotrace is stopped, then one that does not.
	sizes := []int{100000, 100000, 100000, 300000}
	if r.cfg.quick {
		sizes = []int{100000, 300000}
	}
	for _, n := range sizes {
		b := r.burst(n)
		logf("drain burst of %d calls while iotrace is stopped: backlog %.1f MB of %.0f MB, drained in %.1f ms = %.0f events/s; recorded %d, lost %d %s %s",
			n, float64(b.BacklogBytes)/(1<<20), float64(b.BufferBytes)/(1<<20), b.DrainMs, b.Rate, b.Recorded, b.LostRing, strings.Join(b.Problems, "; "), b.Error)
		r.res.Bursts = append(r.res.Bursts, b)
	}
}

func (r *runner) drainRun(st drainStep) (d drainResult) {
	d.drainStep = st
	h, err := startChild([]string{r.helper, "rate", "-cpu", strconv.Itoa(r.cfg.cpu), "-threads", strconv.Itoa(st.Threads),
		"-rate", strconv.FormatFloat(st.Rate, 'f', 0, 64), "-ms", strconv.Itoa(r.cfg.drainMs), "-gate"})
	if err != nil {
		d.Error = err.Error()
		return d
	}
	out := filepath.Join(r.dir, "drain.json")
	p, _, err := r.startIotrace("drain", []string{"--pid", strconv.Itoa(h.pid()), "--no-tui", "-i", "1h",
		"--events", "--events-limit", "0", "-o", out})
	if err != nil {
		h.kill()
		d.Error = err.Error()
		return d
	}
	var l string
	if err = h.gate(); err == nil {
		l, err = h.line("RATE", time.Duration(r.cfg.drainMs)*time.Millisecond+60*time.Second)
	}
	if err != nil {
		h.kill()
		p.stop(120 * time.Second)
		d.Error = err.Error()
		return d
	}
	f := strings.Fields(l)
	if len(f) == 3 {
		d.Calls, _ = strconv.ParseUint(f[1], 10, 64)
		d.Seconds, _ = strconv.ParseFloat(f[2], 64)
		if d.Seconds > 0 {
			d.Achieved = float64(d.Calls) / d.Seconds
		}
	}
	d.HWMKB, _ = readStatus(p.pid(), "VmHWM")
	start := time.Now()
	if err := h.finish(30 * time.Second); err != nil {
		d.Error = err.Error()
	}
	if !p.wait(300 * time.Second) {
		p.stop(60 * time.Second)
	}
	d.ExitMs = float64(time.Since(start).Milliseconds())
	if err := p.exitErr(); err != nil {
		d.Error = err.Error()
		return d
	}
	doc, err := readIotraceDoc(out)
	os.Remove(out)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	d.LostTotal = doc.Meta.LostEvents
	d.LostRing = doc.Meta.Lost["call_events_ringbuf_full"]
	if doc.Meta.Events != nil {
		d.Recorded = doc.Meta.Events.Recorded
	}
	// The helper's setup (epoll_create1, epoll_ctl) may or may not fall
	// inside the trace; every poll must be either recorded or counted lost.
	polls := doc.calls(h.pid())["poll"]
	if polls != d.Calls {
		d.Problems = append(d.Problems, fmt.Sprintf("iotrace counted %d polls of %d", polls, d.Calls))
	}
	if acc := d.Recorded + d.LostRing; acc < d.Calls || acc > d.Calls+2 {
		d.Problems = append(d.Problems, fmt.Sprintf("recorded %d + lost %d != %d calls", d.Recorded, d.LostRing, d.Calls))
	}
	return d
}

// ---- the collector's own drain rate: a backlog built while it is stopped ----

type burstResult struct {
	Calls        uint64   `json:"calls"`
	BacklogBytes uint64   `json:"backlog_bytes"` // in the ring buffer when iotrace was resumed
	BufferBytes  uint64   `json:"buffer_bytes"`
	DrainMs      float64  `json:"drain_ms"` // SIGCONT to an empty ring buffer
	Rate         float64  `json:"drain_rate"`
	Recorded     uint64   `json:"events_recorded"`
	LostRing     uint64   `json:"lost_call_events_ringbuf_full"`
	Problems     []string `json:"problems,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// callEventsRing finds iotrace's per-call ring buffer (the large one) among
// the maps process pid holds, and maps its consumer and producer positions.
func callEventsRing(pid int) (cons, prod *uint64, size uint64, closeFn func(), err error) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, 0, nil, err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		f := map[string]string{}
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok {
				f[k] = strings.TrimSpace(v)
			}
		}
		entries, _ := strconv.ParseUint(f["max_entries"], 10, 64)
		if f["map_type"] != "27" || entries < 1<<20 { // BPF_MAP_TYPE_RINGBUF
			continue
		}
		id, err := strconv.ParseUint(f["map_id"], 10, 32)
		if err != nil {
			continue
		}
		m, err := ebpf.NewMapFromID(ebpf.MapID(id))
		if err != nil {
			return nil, nil, 0, nil, err
		}
		page := os.Getpagesize()
		mem, err := unix.Mmap(m.FD(), 0, 2*page, unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			m.Close()
			return nil, nil, 0, nil, fmt.Errorf("mapping the ring buffer's positions: %w", err)
		}
		cons = (*uint64)(unsafe.Pointer(&mem[0]))
		prod = (*uint64)(unsafe.Pointer(&mem[page]))
		return cons, prod, entries, func() { unix.Munmap(mem); m.Close() }, nil
	}
	return nil, nil, 0, nil, fmt.Errorf("iotrace (pid %d) holds no per-call ring buffer", pid)
}

// burst stops iotrace, lets a loop make n calls into its ring buffer, resumes
// it and times how long it takes to empty the buffer.
func (r *runner) burst(n int) (b burstResult) {
	h, err := startChild([]string{r.helper, "rate", "-cpu", strconv.Itoa(r.cfg.cpu), "-n", strconv.Itoa(n), "-gate"})
	if err != nil {
		b.Error = err.Error()
		return b
	}
	out := filepath.Join(r.dir, "burst.json")
	p, _, err := r.startIotrace("burst", []string{"--pid", strconv.Itoa(h.pid()), "--no-tui", "-i", "1h",
		"--events", "--events-limit", "0", "-o", out})
	if err != nil {
		h.kill()
		b.Error = err.Error()
		return b
	}
	fail := func(err error) burstResult {
		syscall.Kill(p.pid(), syscall.SIGCONT)
		h.kill()
		p.stop(120 * time.Second)
		b.Error = err.Error()
		return b
	}
	cons, prod, size, closeRing, err := callEventsRing(p.pid())
	if err != nil {
		return fail(err)
	}
	defer closeRing()
	b.BufferBytes = size
	if err := syscall.Kill(p.pid(), syscall.SIGSTOP); err != nil {
		return fail(err)
	}
	var l string
	if err = h.gate(); err == nil {
		l, err = h.line("RATE", 120*time.Second)
	}
	if err != nil {
		return fail(err)
	}
	if f := strings.Fields(l); len(f) == 3 {
		b.Calls, _ = strconv.ParseUint(f[1], 10, 64)
	}
	b.BacklogBytes = atomic.LoadUint64(prod) - atomic.LoadUint64(cons)
	start := time.Now()
	if err := syscall.Kill(p.pid(), syscall.SIGCONT); err != nil {
		return fail(err)
	}
	for atomic.LoadUint64(prod) != atomic.LoadUint64(cons) {
		if time.Since(start) > 60*time.Second {
			return fail(fmt.Errorf("iotrace did not drain its ring buffer within 60 s"))
		}
		time.Sleep(50 * time.Microsecond)
	}
	b.DrainMs = float64(time.Since(start).Microseconds()) / 1e3
	if err := h.finish(30 * time.Second); err != nil {
		b.Error = err.Error()
	}
	if !p.wait(300 * time.Second) {
		p.stop(60 * time.Second)
	}
	if err := p.exitErr(); err != nil {
		b.Error = err.Error()
		return b
	}
	doc, err := readIotraceDoc(out)
	os.Remove(out)
	if err != nil {
		b.Error = err.Error()
		return b
	}
	b.LostRing = doc.Meta.Lost["call_events_ringbuf_full"]
	if doc.Meta.Events != nil {
		b.Recorded = doc.Meta.Events.Recorded
	}
	if b.DrainMs > 0 {
		b.Rate = float64(b.Recorded) / (b.DrainMs / 1e3)
	}
	if acc := b.Recorded + b.LostRing; acc < b.Calls || acc > b.Calls+2 {
		b.Problems = append(b.Problems, fmt.Sprintf("recorded %d + lost %d != %d calls", b.Recorded, b.LostRing, b.Calls))
	}
	return b
}
