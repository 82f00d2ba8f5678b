package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// check is what a condition's tracer reported, to make sure it saw what the
// loop did (and lost nothing), or that it saw nothing of an untraced loop.
type check struct {
	Counted  map[string]uint64 `json:"counted,omitempty"` // calls the tracer counted, by loop
	Lost     *uint64           `json:"lost,omitempty"`    // events the tracer says it lost
	Recorded *uint64           `json:"events_recorded,omitempty"`
	ExitMs   float64           `json:"exit_ms,omitempty"` // from the loop's end to the tracer's exit
	Notes    []string          `json:"notes,omitempty"`
	Problems []string          `json:"problems,omitempty"`
}

// session is an attached tracer; end detaches it and reports what it saw.
type session interface {
	end(pid int, made map[string]uint64) (check, error)
}

type condition struct {
	Name     string `json:"name"`
	Desc     string `json:"description"`
	FloorRef string `json:"floor,omitempty"` // the floor whose added cost it is compared with
	// TracedKinds are the loops whose syscalls the tracer is meant to count.
	TracedKinds []string                                              `json:"traced_loops,omitempty"`
	attach      func(pid int) (session, error)                        // before the loop starts
	wrap        func(argv []string) ([]string, func() (check, error)) // runs the loop under the tracer
}

type noSession struct{}

func (noSession) end(int, map[string]uint64) (check, error) { return check{}, nil }

type floorSession struct{ f *floor }

func (s floorSession) end(int, map[string]uint64) (check, error) {
	s.f.Close()
	return check{}, nil
}

// iotraceSession is an iotrace run; it ends by itself when its target exits.
type iotraceSession struct {
	r      *runner
	p      *proc
	out    string
	events bool
	other  bool // traces another process, not the loop
}

func (s *iotraceSession) end(pid int, made map[string]uint64) (check, error) {
	var c check
	start := time.Now()
	if s.other || !s.p.wait(120*time.Second) {
		if _, err := s.p.stop(120 * time.Second); err != nil {
			return c, err
		}
	}
	c.ExitMs = float64(time.Since(start).Microseconds()) / 1e3
	if err := s.p.exitErr(); err != nil {
		return c, err
	}
	doc, err := readIotraceDoc(s.out)
	if err != nil {
		return c, err
	}
	os.Remove(s.out)
	c.Counted = doc.calls(pid)
	lost := doc.Meta.LostEvents
	c.Lost = &lost
	if lost != 0 {
		c.Problems = append(c.Problems, fmt.Sprintf("iotrace lost %d events: %v", lost, doc.Meta.Lost))
	}
	if s.events {
		if doc.Meta.Events == nil {
			c.Problems = append(c.Problems, "no meta.events in the trace")
		} else {
			rec := doc.Meta.Events.Recorded
			c.Recorded = &rec
			var want uint64
			for _, n := range c.Counted {
				want += n
			}
			if rec != want {
				c.Problems = append(c.Problems, fmt.Sprintf("%d events recorded for %d counted calls", rec, want))
			}
		}
	}
	return c, nil
}

type bpftraceSession struct{ p *proc }

func (s *bpftraceSession) end(int, map[string]uint64) (check, error) {
	var c check
	d, err := s.p.stop(60 * time.Second)
	c.ExitMs = float64(d.Microseconds()) / 1e3
	if err != nil {
		return c, err
	}
	c.Counted = bpftraceCalls(s.p.output())
	return c, nil
}

// conditions lists the overhead matrix for this machine.
func (r *runner) conditions() []condition {
	traced := []string{"poll", "pselect6", "epoll_wait"}
	conds := []condition{{
		Name: "none", Desc: "nothing attached",
		attach: func(int) (session, error) { return noSession{}, nil },
	}}
	floorFor := map[string]string{"tracepoint": "floor-tp", "rawtp": "floor-raw", "fentry": "floor-fentry", "kprobe": "floor-kprobe"}
	addFloor := func(name string, kind floorKind, desc string) {
		conds = append(conds, condition{Name: name, Desc: desc, FloorRef: "floor-tp",
			attach: func(int) (session, error) {
				f, err := attachFloor(kind)
				if err != nil {
					return nil, err
				}
				return floorSession{f}, nil
			}})
	}
	addFloor("floor-tp", floorTracepoint, "empty programs: tracepoint syscalls/sys_{enter,exit}_X for the 10 syscalls + tp_btf sched_switch, sched_wakeup, sched_process_fork, sched_process_exit")
	addFloor("floor-raw", floorRaw, "empty programs: raw_tracepoint sys_enter + sys_exit (every syscall) + the same 4 tp_btf")
	if contains(r.modes, "fentry") {
		addFloor("floor-fentry", floorFentry, "empty programs: fentry/fexit on __x64_sys_X for the 10 syscalls + the 4 tp_btf")
	}
	if contains(r.modes, "kprobe") {
		addFloor("floor-kprobe", floorKprobe, "empty programs: kprobe/kretprobe on __x64_sys_X for the 10 syscalls + the 4 tp_btf")
	}
	bins := append([]namedBin{{"", r.iotrace}}, r.cfg.compare...)
	for _, b := range bins {
		for _, mode := range r.modes {
			fl := floorFor[mode]
			if mode == "tracepoint" {
				fl = "floor-tp"
			}
			name, bin := "iotrace-"+mode, ""
			if b.name != "" {
				name, bin = b.name+"-"+mode, " ("+b.path+")"
			}
			conds = append(conds,
				condition{Name: name, FloorRef: fl, TracedKinds: traced,
					Desc:   "iotrace" + bin + " --probe-mode " + mode + " --pid LOOP (aggregation)",
					attach: r.iotraceAttach(b.path, mode, false, false)},
				condition{Name: name + "-events", FloorRef: fl, TracedKinds: traced,
					Desc:   "iotrace" + bin + " --probe-mode " + mode + " --pid LOOP --events --events-limit 0 (one ring-buffer record per call)",
					attach: r.iotraceAttach(b.path, mode, true, false)},
				condition{Name: name + "-other", FloorRef: fl,
					Desc:   "iotrace" + bin + " --probe-mode " + mode + " --pid SLEEPER: attached, but the loop is not traced",
					attach: r.iotraceAttach(b.path, mode, false, true)},
			)
		}
	}
	if !strings.HasPrefix(r.tools["bpftrace"], "not installed") {
		conds = append(conds, condition{Name: "bpftrace", FloorRef: "floor-tp", TracedKinds: traced,
			Desc: "bpftrace: @start[tid] at sys_enter_X, count() and hist() per syscall at sys_exit_X (same 10 syscalls, /pid == LOOP/)",
			attach: func(pid int) (session, error) {
				p, err := r.startBpftrace("bpftrace", pid)
				if err != nil {
					return nil, err
				}
				if _, err := p.waitLine(bpftraceReady, 60*time.Second); err != nil {
					p.stop(30 * time.Second)
					return nil, err
				}
				return &bpftraceSession{p}, nil
			}})
	}
	if !strings.HasPrefix(r.tools["strace"], "not installed") {
		conds = append(conds, condition{Name: "strace", FloorRef: "floor-tp", TracedKinds: append(traced, "getppid"),
			Desc: "strace -c -f LOOP (ptrace: every syscall stops the loop)",
			wrap: func(argv []string) ([]string, func() (check, error)) {
				out := filepath.Join(r.dir, "strace.out")
				return append([]string{"strace", "-c", "-f", "-o", out, "--"}, argv...), func() (check, error) {
					b, err := os.ReadFile(out)
					if err != nil {
						return check{}, err
					}
					return check{Counted: straceCalls(string(b))}, nil
				}
			}})
	}
	if r.tools["perf trace"] == "runs" {
		conds = append(conds, condition{Name: "perf-trace", FloorRef: "floor-tp", TracedKinds: append(traced, "getppid"),
			Desc: "perf trace -s LOOP (raw_syscalls tracepoints, every syscall, one perf record per enter and exit)",
			wrap: func(argv []string) ([]string, func() (check, error)) {
				out := filepath.Join(r.dir, "perf.out")
				return append([]string{"perf", "trace", "-s", "-o", out, "--"}, argv...), func() (check, error) {
					b, err := os.ReadFile(out)
					if err != nil {
						return check{}, err
					}
					c := check{Counted: perfCalls(string(b))}
					if strings.Contains(strings.ToUpper(string(b)), "LOST") {
						c.Problems = append(c.Problems, "perf reports lost events: "+lastLines(string(b), 3))
					}
					return c, nil
				}
			}})
	}
	if len(r.cfg.only) > 0 {
		var kept []condition
		for _, c := range conds {
			if c.Name == "none" || r.cfg.only[c.Name] {
				kept = append(kept, c)
			}
		}
		conds = kept
	}
	return conds
}

func (r *runner) iotraceAttach(bin, mode string, events, other bool) func(int) (session, error) {
	return func(pid int) (session, error) {
		tag := "iotrace-" + mode
		target := pid
		if other {
			target = r.sleeper.Process.Pid
			tag += "-other"
		}
		if events {
			tag += "-events"
		}
		out := filepath.Join(r.dir, tag+".json")
		args := []string{"--pid", strconv.Itoa(target), "--no-tui", "-i", "1h", "--probe-mode", mode, "-o", out}
		if events {
			args = append(args, "--events", "--events-limit", "0")
		}
		p, _, err := r.startIotraceBin(bin, tag, args)
		if err != nil {
			return nil, err
		}
		return &iotraceSession{r: r, p: p, out: out, events: events, other: other}, nil
	}
}

// condRun is one run of the loops under one condition.
type condRun struct {
	Round    int                   `json:"round"`
	Position int                   `json:"position"`
	Results  map[string]kindResult `json:"loops"`
	Check    check                 `json:"check"`
	Error    string                `json:"error,omitempty"`
}

// runCondition runs every loop once under c.
func (r *runner) runCondition(c condition) (run condRun) {
	run.Results = map[string]kindResult{}
	fail := func(err error) condRun {
		run.Error = err.Error()
		return run
	}
	read := func(ch *child) error {
		for range r.cfg.kinds {
			l, err := ch.line("RESULT", r.loopTimeout())
			if err != nil {
				return err
			}
			kr, err := parseResult(l)
			if err != nil {
				return err
			}
			run.Results[kr.Kind] = kr
		}
		return nil
	}
	made := func() map[string]uint64 {
		m := map[string]uint64{}
		for k, v := range run.Results {
			m[k] = v.Calls
		}
		return m
	}

	if c.wrap != nil {
		argv, end := c.wrap(r.benchArgs(false))
		ch, err := startChild(argv)
		if err != nil {
			return fail(err)
		}
		if err := read(ch); err != nil {
			ch.kill()
			return fail(err)
		}
		if err := ch.finish(60 * time.Second); err != nil {
			return fail(err)
		}
		if run.Check, err = end(); err != nil {
			return fail(err)
		}
	} else {
		ch, err := startChild(r.benchArgs(true))
		if err != nil {
			return fail(err)
		}
		s, err := c.attach(ch.pid())
		if err != nil {
			ch.kill()
			return fail(err)
		}
		for range r.cfg.kinds {
			if err := ch.gate(); err != nil {
				ch.kill()
				s.end(ch.pid(), nil)
				return fail(err)
			}
			l, err := ch.line("RESULT", r.loopTimeout())
			if err == nil {
				var kr kindResult
				if kr, err = parseResult(l); err == nil {
					run.Results[kr.Kind] = kr
				}
			}
			if err != nil {
				ch.kill()
				s.end(ch.pid(), nil)
				return fail(err)
			}
		}
		pid := ch.pid()
		if err := ch.finish(30 * time.Second); err != nil {
			s.end(pid, nil)
			return fail(err)
		}
		if run.Check, err = s.end(pid, made()); err != nil {
			return fail(err)
		}
	}
	r.validate(c, &run.Check, made())
	for _, kr := range run.Results {
		if kr.Bad != 0 {
			run.Check.Problems = append(run.Check.Problems, fmt.Sprintf("%s: %d batches returned unexpected values", kr.Kind, kr.Bad))
		}
	}
	return run
}

// validate compares what the tracer counted with what the loop made.
func (r *runner) validate(c condition, chk *check, made map[string]uint64) {
	if chk.Counted == nil {
		return
	}
	for _, k := range r.cfg.kinds {
		got := chk.Counted[k]
		if contains(c.TracedKinds, k) {
			if got != made[k] {
				chk.Problems = append(chk.Problems, fmt.Sprintf("%s: counted %d of %d calls", k, got, made[k]))
			}
		} else if got != 0 {
			chk.Problems = append(chk.Problems, fmt.Sprintf("%s: counted %d calls of an untraced loop", k, got))
		}
	}
}

// loopSummary is one condition × loop cell over the rounds.
type loopSummary struct {
	Samples  []float64 `json:"samples_ns"` // one per round: the median of its repetitions
	MedianNs float64   `json:"median_ns"`
	MinNs    float64   `json:"min_ns"`
	MaxNs    float64   `json:"max_ns"`
	AddedNs  *float64  `json:"added_ns,omitempty"` // median minus the median with nothing attached
	Ratio    *float64  `json:"ratio_to_floor,omitempty"`
}

type condResult struct {
	condition
	Runs  []condRun               `json:"runs"`
	Loops map[string]*loopSummary `json:"summary"`
}

// overhead runs the matrix: every condition once per round, the order
// reversed every other round, then medians.
func (r *runner) overhead() {
	conds := r.conditions()
	names := make([]string, len(conds))
	for i, c := range conds {
		names[i] = c.Name
	}
	logf("overhead: %d rounds of %s; loops %s pinned to CPU %d, %d x %d ms each (+%d ms warm-up)",
		r.cfg.rounds, strings.Join(names, ", "), strings.Join(r.cfg.kinds, ", "), r.cfg.cpu, r.cfg.reps, r.cfg.ms, r.cfg.warmMs)
	byName := map[string]*condResult{}
	var out []*condResult
	for _, c := range conds {
		cr := &condResult{condition: c, Loops: map[string]*loopSummary{}}
		byName[c.Name] = cr
		out = append(out, cr)
	}
	for round := 0; round < r.cfg.rounds; round++ {
		order := append([]condition(nil), conds...)
		if round%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for pos, c := range order {
			run := r.runCondition(c)
			run.Round, run.Position = round, pos
			byName[c.Name].Runs = append(byName[c.Name].Runs, run)
			var cells []string
			for _, k := range r.cfg.kinds {
				if kr, ok := run.Results[k]; ok {
					cells = append(cells, fmt.Sprintf("%s %.0f", k, kr.NsPer))
				}
			}
			msg := strings.Join(cells, ", ")
			if run.Error != "" {
				msg += " ERROR: " + run.Error
			}
			if len(run.Check.Problems) > 0 {
				msg += " PROBLEMS: " + strings.Join(run.Check.Problems, "; ")
			}
			logf("round %d/%d  %-24s %s", round+1, r.cfg.rounds, c.Name, msg)
		}
	}

	for _, cr := range out {
		for _, k := range r.cfg.kinds {
			var s []float64
			for _, run := range cr.Runs {
				if kr, ok := run.Results[k]; ok {
					s = append(s, kr.NsPer)
				}
			}
			if len(s) == 0 {
				continue
			}
			ls := &loopSummary{Samples: s, MedianNs: median(s)}
			ls.MinNs, ls.MaxNs = minMax(s)
			cr.Loops[k] = ls
		}
	}
	base := byName["none"]
	for _, cr := range out {
		for k, ls := range cr.Loops {
			if b := base.Loops[k]; b != nil {
				a := ls.MedianNs - b.MedianNs
				ls.AddedNs = &a
			}
		}
	}
	for _, cr := range out {
		fl := byName[cr.FloorRef]
		if fl == nil || cr.Name == cr.FloorRef {
			continue
		}
		for k, ls := range cr.Loops {
			if f := fl.Loops[k]; f != nil && f.AddedNs != nil && ls.AddedNs != nil && *f.AddedNs > 0 {
				q := *ls.AddedNs / *f.AddedNs
				ls.Ratio = &q
			}
		}
	}
	r.res.Overhead = out
}
