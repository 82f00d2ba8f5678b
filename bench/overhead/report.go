package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/iotrace/iotrace/internal/format"
)

type results struct {
	Machine       machine           `json:"machine"`
	Config        map[string]any    `json:"config"`
	Tools         map[string]string `json:"tools"`
	IotraceProbes string            `json:"iotrace_probes"`
	IotraceModes  []string          `json:"iotrace_modes"`
	Overhead      []*condResult     `json:"overhead,omitempty"`
	BPFStats      []statsRun        `json:"bpf_stats,omitempty"`
	BPFStatsError string            `json:"bpf_stats_error,omitempty"`
	Startup       []startupResult   `json:"startup,omitempty"`
	RSS           []rssResult       `json:"rss,omitempty"`
	RSSError      string            `json:"rss_error,omitempty"`
	Drain         []drainResult     `json:"drain,omitempty"`
	Bursts        []burstResult     `json:"drain_bursts,omitempty"`
	Load          []loadCheck       `json:"background_load"`
	Targets       []target          `json:"targets"`
	TotalSeconds  float64           `json:"total_seconds"`
	WorkDir       string            `json:"work_dir,omitempty"`
}

type target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Holds    *bool  `json:"holds"` // null: not measured
}

func writeJSON(path string, res *results) error {
	b, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// untracedSlack is how much more than the floor an untraced call may cost
// and still count as "no more than the floor": run-to-run noise here.
const untracedSlack = 10.0

func (r *runner) targets() []target {
	res := r.res
	var ts []target
	yes, no := true, false
	verdict := func(ok bool) *bool {
		if ok {
			return &yes
		}
		return &no
	}
	cond := map[string]*condResult{}
	for _, c := range res.Overhead {
		cond[c.Name] = c
	}
	added := func(c, k string) (float64, bool) {
		if cr := cond[c]; cr != nil {
			if l := cr.Loops[k]; l != nil && l.AddedNs != nil {
				return *l.AddedNs, true
			}
		}
		return 0, false
	}
	bpfNs := func(c, k string) (float64, bool) {
		for _, s := range res.BPFStats {
			if l := s.Loops[k]; s.Condition == c && l != nil {
				return l.ProgNsPerCall, true
			}
		}
		return 0, false
	}
	traced := []string{"poll", "pselect6", "epoll_wait"}
	modes := r.modes
	if len(res.Overhead) == 0 {
		modes = nil
	}
	for _, mode := range modes {
		name := "iotrace-" + mode
		fl := "floor-tp"
		if mode != "tracepoint" {
			fl = map[string]string{"rawtp": "floor-raw", "fentry": "floor-fentry", "kprobe": "floor-kprobe"}[mode]
		}
		for _, k := range traced {
			a, ok1 := added(name, k)
			f, ok2 := added(fl, k)
			t := target{Name: fmt.Sprintf("%s aggregation, %s: added cost <= 1.5x the floor's", mode, k), Goal: "<= 1.5x"}
			if ok1 && ok2 && f > 0 {
				t.Measured = fmt.Sprintf("+%.0f ns vs floor +%.0f ns = %s", a, f, format.Times(a/f))
				t.Holds = verdict(a <= 1.5*f)
			}
			ts = append(ts, t)
		}
		for _, k := range traced {
			a, ok1 := added(name, k)
			b, ok2 := added("bpftrace", k)
			t := target{Name: fmt.Sprintf("%s aggregation, %s: added cost <= half of bpftrace's", mode, k), Goal: "<= 0.5x bpftrace"}
			if ok1 && ok2 && b > 0 {
				t.Measured = fmt.Sprintf("+%.0f ns vs bpftrace +%.0f ns = %s", a, b, format.Times(a/b))
				t.Holds = verdict(a <= 0.5*b)
			}
			ts = append(ts, t)
		}
		// Untraced: another process's calls, and a traced process's other syscalls.
		for _, k := range r.cfg.kinds {
			a, ok1 := added(name+"-other", k)
			f, ok2 := added(fl, k)
			t := target{Name: fmt.Sprintf("%s, untraced process, %s: added cost <= the floor's", mode, k),
				Goal: fmt.Sprintf("<= floor (+%.0f ns noise)", untracedSlack)}
			if ok1 && ok2 {
				t.Measured = fmt.Sprintf("+%.0f ns vs floor +%.0f ns", a, f)
				t.Holds = verdict(a <= f+untracedSlack)
			}
			ts = append(ts, t)
		}
		// The wall clock cannot resolve tens of ns on a shared machine; the
		// programs' own run time can.
		for _, k := range traced {
			a, ok1 := bpfNs(name+"-other", k)
			f, ok2 := bpfNs(fl, k)
			t := target{Name: fmt.Sprintf("%s, untraced process, %s: BPF run time per call <= the floor's", mode, k),
				Goal: fmt.Sprintf("<= floor (+%.0f ns noise)", untracedSlack)}
			if ok1 && ok2 {
				t.Measured = fmt.Sprintf("%.0f ns vs floor %.0f ns (+%.0f)", a, f, a-f)
				t.Holds = verdict(a <= f+untracedSlack)
			}
			ts = append(ts, t)
		}
		a, ok1 := added(name, "getppid")
		f, ok2 := added(fl, "getppid")
		t := target{Name: fmt.Sprintf("%s, traced process, untraced syscall (getppid): added cost <= the floor's", mode),
			Goal: fmt.Sprintf("<= floor (+%.0f ns noise)", untracedSlack)}
		if ok1 && ok2 {
			t.Measured = fmt.Sprintf("+%.0f ns vs floor +%.0f ns", a, f)
			t.Holds = verdict(a <= f+untracedSlack)
		}
		ts = append(ts, t)
	}

	for _, s := range res.Startup {
		if !strings.HasPrefix(s.Tool, "iotrace") {
			continue
		}
		t := target{Name: "start-up, " + s.Tool + ": exec to every probe attached", Goal: "< 500 ms"}
		if len(s.ReadyMs) > 0 {
			t.Measured = fmt.Sprintf("median %.0f ms (max %.0f)", s.MedianMs, maxOf(s.ReadyMs))
			t.Holds = verdict(s.MedianMs < 500)
		}
		ts = append(ts, t)
	}
	for _, x := range res.RSS {
		if strings.Contains(x.Variant, "--events") {
			continue // events are kept in memory until exit by design; reported, not a target
		}
		t := target{Name: "RSS tracing 1,000 threads, " + x.Variant, Goal: "< 64 MB"}
		if x.Error == "" && x.MaxRSSKB > 0 {
			t.Measured = fmt.Sprintf("max VmRSS %.1f MB while tracing, VmHWM %.1f MB including exit", mb(x.MaxRSSKB), mb(x.ExitHWMKB))
			t.Holds = verdict(x.MaxRSSKB < 64*1024 && x.ExitHWMKB < 64*1024)
		}
		ts = append(ts, t)
	}
	if len(res.Drain) > 0 {
		t := target{Name: "per-call events drained with zero loss", Goal: ">= 1,000,000 events/s"}
		best, above := bestDrain(res.Drain)
		if best != nil {
			t.Measured = fmt.Sprintf("%.0f events/s with zero loss (%d thread(s))", best.Achieved, best.Threads)
			t.Holds = verdict(best.Achieved >= 1e6)
		} else {
			t.Measured = "no step was loss-free"
			t.Holds = &no
		}
		if above != nil {
			t.Measured += fmt.Sprintf("; at %.0f/s: %d lost of %d", above.Achieved, above.LostRing, above.Calls)
		} else if best != nil {
			t.Measured += " (the fastest the traced loops could call here: no step lost anything)"
		}
		var rates []float64
		for _, b := range res.Bursts {
			if b.Error == "" && len(b.Problems) == 0 && b.LostRing == 0 && b.Rate > 0 {
				rates = append(rates, b.Rate)
			}
		}
		if len(rates) > 0 {
			t.Measured += fmt.Sprintf("; the collector alone drains a stored backlog at %.0f events/s (median of %d)", median(rates), len(rates))
		}
		ts = append(ts, t)
	}
	return ts
}

// bestDrain returns the fastest loss-free step and the slowest lossy one.
func bestDrain(ds []drainResult) (best, lossy *drainResult) {
	for i := range ds {
		d := &ds[i]
		if d.Error != "" || len(d.Problems) > 0 {
			continue
		}
		if d.LostTotal == 0 {
			if best == nil || d.Achieved > best.Achieved {
				best = d
			}
		} else if lossy == nil || d.Achieved < lossy.Achieved {
			lossy = d
		}
	}
	return best, lossy
}

func maxOf(v []float64) float64 {
	_, hi := minMax(v)
	return hi
}

// writeReport prints everything as Markdown.
func writeReport(w io.Writer, res *results) {
	m := res.Machine
	fmt.Fprintf(w, "## Machine\n\n")
	vm := ""
	if m.Hypervisor {
		vm = ", virtual machine (hypervisor flag set)"
	}
	fmt.Fprintf(w, "- CPU: %s, %d CPUs%s\n", m.CPUModel, m.CPUs, vm)
	fmt.Fprintf(w, "- kernel: %s (%s)\n- memory: %s\n", m.Kernel, m.KernelVer, m.MemTotal)
	var tools []string
	for k, v := range res.Tools {
		tools = append(tools, fmt.Sprintf("%s: %s", k, v))
	}
	sort.Strings(tools)
	fmt.Fprintf(w, "- tools: %s\n- iotrace probe modes allowed: %s\n", strings.Join(tools, "; "), strings.Join(res.IotraceModes, ", "))
	var cfg []string
	for k, v := range res.Config {
		cfg = append(cfg, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(cfg)
	fmt.Fprintf(w, "- run: %s; total %.0f s\n", strings.Join(cfg, " "), res.TotalSeconds)
	for _, l := range res.Load {
		note := ""
		if l.BusyPct > busyThreshold {
			note = " **(not idle: figures are noisy)**"
		}
		fmt.Fprintf(w, "- background load %s: %.1f%% of all CPUs busy over %.0f s%s", l.When, l.BusyPct, l.Seconds, note)
		if len(l.Top) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(l.Top, ", "))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)

	if len(res.Overhead) > 0 {
		var kinds []string
		for k := range res.Overhead[0].Loops {
			kinds = append(kinds, k)
		}
		order := map[string]int{"poll": 0, "pselect6": 1, "epoll_wait": 2, "getppid": 3}
		sort.Slice(kinds, func(i, j int) bool { return order[kinds[i]] < order[kinds[j]] })
		fmt.Fprintf(w, "## Overhead: ns per call (median over rounds), added ns vs nothing, added / floor's added\n\n")
		fmt.Fprintf(w, "| condition |")
		for _, k := range kinds {
			fmt.Fprintf(w, " %s |", k)
		}
		fmt.Fprintf(w, "\n|---|")
		for range kinds {
			fmt.Fprintf(w, "---:|")
		}
		fmt.Fprintln(w)
		for _, c := range res.Overhead {
			fmt.Fprintf(w, "| %s |", c.Name)
			for _, k := range kinds {
				l := c.Loops[k]
				if l == nil {
					fmt.Fprintf(w, " – |")
					continue
				}
				cell := format.Whole(l.MedianNs)
				if l.AddedNs != nil && c.Name != "none" {
					cell += fmt.Sprintf(" (+%.0f", *l.AddedNs)
					if l.Ratio != nil {
						cell += ", " + format.Times(*l.Ratio)
					}
					cell += ")"
				}
				fmt.Fprintf(w, " %s |", cell)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "\nSpread (min–max of the per-round medians, ns):\n\n")
		fmt.Fprintf(w, "| condition |")
		for _, k := range kinds {
			fmt.Fprintf(w, " %s |", k)
		}
		fmt.Fprintf(w, " rounds | check |\n|---|")
		for range kinds {
			fmt.Fprintf(w, "---:|")
		}
		fmt.Fprintf(w, "---:|---|\n")
		for _, c := range res.Overhead {
			fmt.Fprintf(w, "| %s |", c.Name)
			for _, k := range kinds {
				if l := c.Loops[k]; l != nil {
					fmt.Fprintf(w, " %.0f–%.0f |", l.MinNs, l.MaxNs)
				} else {
					fmt.Fprintf(w, " – |")
				}
			}
			ok := 0
			var probs []string
			for _, run := range c.Runs {
				if run.Error == "" {
					ok++
				} else {
					probs = append(probs, "error: "+run.Error)
				}
				probs = append(probs, run.Check.Problems...)
			}
			chk := "ok"
			if len(probs) > 0 {
				chk = strings.Join(uniq(probs), "; ")
			} else if len(c.TracedKinds) > 0 {
				chk = "counted every call"
			}
			fmt.Fprintf(w, " %d/%d | %s |\n", ok, len(c.Runs), chk)
		}
		fmt.Fprintf(w, "\nConditions:\n\n")
		for _, c := range res.Overhead {
			fmt.Fprintf(w, "- **%s**: %s\n", c.Name, c.Desc)
		}
		fmt.Fprintln(w)
	}

	if len(res.BPFStats) > 0 || res.BPFStatsError != "" {
		fmt.Fprintf(w, "## Where the time goes: BPF run time per loop call (kernel.bpf_stats_enabled, medians over the rounds)\n\n")
		if res.BPFStatsError != "" {
			fmt.Fprintf(w, "%s\n\n", res.BPFStatsError)
		}
		fmt.Fprintf(w, "| condition | loop | loop ns/call (stats on) | BPF ns/call | programs (ns/run × runs/call) |\n|---|---|---:|---:|---|\n")
		for _, s := range res.BPFStats {
			if s.Error != "" {
				fmt.Fprintf(w, "| %s | | | | error: %s |\n", s.Condition, s.Error)
				continue
			}
			for _, k := range []string{"poll", "pselect6", "epoll_wait", "getppid"} {
				l := s.Loops[k]
				if l == nil {
					continue
				}
				var ps []string
				for _, p := range l.Progs {
					if p.RunsPerCall < 0.001 {
						continue
					}
					ps = append(ps, fmt.Sprintf("%s %.0f×%.2f", p.Name, p.NsPerRun, p.RunsPerCall))
				}
				fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | %s |\n", s.Condition, k, l.NsPerCall, l.ProgNsPerCall, strings.Join(ps, ", "))
			}
		}
		fmt.Fprintln(w)
	}

	if len(res.Startup) > 0 {
		fmt.Fprintf(w, "## Start-up: exec to every probe attached (median of runs)\n\n| tool | ready ms | runs | first output ms | exit after SIGINT ms |\n|---|---:|---|---:|---:|\n")
		for _, s := range res.Startup {
			first := "–"
			if len(s.FirstOutMs) > 0 {
				first = format.Whole(s.MedianOut)
			}
			fmt.Fprintf(w, "| %s | %.0f | %v | %s | %.0f |\n", s.Tool, s.MedianMs, roundAll(s.ReadyMs), first, s.MedianExit)
		}
		fmt.Fprintln(w)
	}

	if len(res.RSS) > 0 || res.RSSError != "" {
		fmt.Fprintf(w, "## iotrace memory while tracing a process with 1,000 threads (each in poll(1 fd, 10 ms) in a loop)\n\n")
		if res.RSSError != "" {
			fmt.Fprintf(w, "error: %s\n\n", res.RSSError)
		}
		fmt.Fprintf(w, "| variant | seconds | max VmRSS MB | VmHWM MB | VmHWM incl. exit MB | threads traced | polls | lost |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range res.RSS {
			if x.Error != "" {
				fmt.Fprintf(w, "| %s | error: %s | | | | | | |\n", x.Variant, x.Error)
				continue
			}
			thr, calls := "–", "–"
			if x.ThreadsTraced > 0 {
				thr, calls = fmt.Sprint(x.ThreadsTraced), fmt.Sprint(x.Calls)
			}
			fmt.Fprintf(w, "| %s | %.0f | %.1f | %.1f | %.1f | %s | %s | %d |\n", x.Variant, x.Seconds, mb(x.MaxRSSKB), mb(x.HWMKB), mb(x.ExitHWMKB), thr, calls, x.Lost)
		}
		fmt.Fprintln(w)
	}

	if len(res.Drain) > 0 {
		fmt.Fprintf(w, "## Per-call events: iotrace --events on poll(1 fd, 0) loops at increasing rates\n\n")
		fmt.Fprintf(w, "| threads | target rate/s | achieved calls/s | calls | recorded | lost (ringbuf full) | iotrace exit s | iotrace VmHWM MB | check |\n|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, d := range res.Drain {
			tr := format.WholeRate(d.Rate)
			chk := "ok"
			if d.Error != "" {
				chk = "error: " + d.Error
			} else if len(d.Problems) > 0 {
				chk = strings.Join(d.Problems, "; ")
			}
			fmt.Fprintf(w, "| %d | %s | %.0f | %d | %d | %d | %.1f | %.0f | %s |\n", d.Threads, tr, d.Achieved, d.Calls, d.Recorded, d.LostRing, d.ExitMs/1e3, mb(d.HWMKB), chk)
		}
		fmt.Fprintln(w)
	}
	if len(res.Bursts) > 0 {
		fmt.Fprintf(w, "## The collector's drain rate: a backlog built while iotrace is stopped (SIGSTOP), then resumed\n\n")
		fmt.Fprintf(w, "| calls | backlog MB | buffer MB | drained in ms | events/s | recorded | lost (ringbuf full) | check |\n|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, b := range res.Bursts {
			chk := "ok"
			if b.Error != "" {
				chk = "error: " + b.Error
			} else if len(b.Problems) > 0 {
				chk = strings.Join(b.Problems, "; ")
			}
			fmt.Fprintf(w, "| %d | %.1f | %.0f | %.1f | %.0f | %d | %d | %s |\n", b.Calls, float64(b.BacklogBytes)/(1<<20), float64(b.BufferBytes)/(1<<20), b.DrainMs, b.Rate, b.Recorded, b.LostRing, chk)
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "## Targets\n\n| target | goal | measured | holds |\n|---|---|---|---|\n")
	for _, t := range res.Targets {
		h := "not measured"
		if t.Holds != nil {
			h = map[bool]string{true: "yes", false: "**NO**"}[*t.Holds]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.Name, t.Goal, t.Measured, h)
	}
	fmt.Fprintln(w)
}

func uniq(v []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range v {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
