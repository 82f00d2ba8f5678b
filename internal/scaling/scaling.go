// Package scaling measures how the cost of each I/O multiplexing model grows
// with the number of connections N: for every (model, N) cell of a sweep it
// runs a built-in workload (see package workloads) as a child process, with
// K active connections written as fast as the server reads, and reports
// the wall time per call, messages per second and CPU per message; when the
// tracer can run, a second, traced run of the same cell gives the kernel's
// figures per call for the workload's server thread.
//
// The sweep itself is Sweep. Everything else (validation, the crossover
// summary, the table, the JSON document and the plot) is a pure function
// of a Report, so that it can be tested without root or child processes.
//
// What tracing itself costs is another matter, measured by bench/overhead
// (`make bench-overhead`).
package scaling

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/workloads"
)

// Defaults of the bench command.
var (
	DefaultFDs    = []int{10, 100, 1000, 10000}
	DefaultModels = workloads.Models()
)

// DefaultMessages is how many messages each cell sends when neither
// Messages nor Duration is given: about half a second per cell here.
const DefaultMessages = 200000

// Params describe a sweep.
type Params struct {
	Models []workloads.Model `json:"models"`
	FDs    []int             `json:"fds"` // N values, ascending, no repeats (Validate sorts them)
	Active int               `json:"active"`
	Size   int               `json:"size"`
	// Each cell sends Messages messages, or runs for Duration; exactly one
	// of them is set.
	Messages int64         `json:"messages,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Trace runs every cell a second time under the tracer, in ProbeMode,
	// for the kernel figures.
	Trace     bool   `json:"trace"`
	ProbeMode string `json:"probe_mode"`
}

// Validate checks p and normalises FDs (sorted, without repeats). Its
// errors are one line and name the bench command's flags.
func (p *Params) Validate() error {
	if len(p.Models) == 0 {
		return errors.New("--models is empty")
	}
	seen := map[workloads.Model]bool{}
	for _, m := range p.Models {
		if _, err := workloads.ParseModel(string(m)); err != nil {
			return fmt.Errorf("--models: %v", err)
		}
		if seen[m] {
			return fmt.Errorf("--models: %s is listed twice", m)
		}
		seen[m] = true
	}
	if len(p.FDs) == 0 {
		return errors.New("--fds is empty")
	}
	for _, n := range p.FDs {
		if n < 1 {
			return fmt.Errorf("--fds: every N must be at least 1, not %d", n)
		}
	}
	p.FDs = slices.Compact(slices.Sorted(slices.Values(p.FDs)))
	if p.Active < 1 {
		return fmt.Errorf("--active must be at least 1, not %d", p.Active)
	}
	if p.Active > p.FDs[0] {
		return fmt.Errorf("--active %d is more than the smallest --fds value %d (K must not exceed N)", p.Active, p.FDs[0])
	}
	if p.Size < 1 || p.Size > workloads.MaxSize {
		return fmt.Errorf("--size must be between 1 and %d bytes, not %d", workloads.MaxSize, p.Size)
	}
	switch {
	case p.Messages < 0:
		return fmt.Errorf("--messages must be positive, not %d", p.Messages)
	case p.Duration < 0:
		return fmt.Errorf("--duration must be positive, not %s", p.Duration)
	case p.Messages > 0 && p.Duration > 0:
		return errors.New("--messages and --duration cannot be combined: each cell runs for one or the other")
	case p.Messages == 0 && p.Duration == 0:
		return errors.New("each cell needs --messages or --duration")
	}
	if _, err := collector.ParseMode(p.ProbeMode); err != nil {
		return fmt.Errorf("--probe-mode: %v", err)
	}
	return nil
}

// Config is the workload that measures one cell: K of N connections
// written to as fast as the server reads.
func (p *Params) Config(m workloads.Model, fds int) workloads.Config {
	cfg := workloads.DefaultConfig()
	cfg.Model, cfg.FDs, cfg.Active, cfg.Size, cfg.Rate = m, fds, p.Active, p.Size, 0
	cfg.Messages, cfg.Duration = p.Messages, p.Duration
	// Only the first and the final report are wanted: no ticker in the
	// child while it is measured.
	cfg.StatsInterval = time.Hour
	return cfg
}

// Report is a finished (or interrupted) sweep: the JSON document of
// `iotrace bench --output`.
type Report struct {
	Version string  `json:"iotrace_version,omitempty"`
	Machine Machine `json:"machine"`
	Params  Params  `json:"params"`
	// Tracer says how the kernel figures were taken; null when no cell
	// was traced (see each cell's kernel_unavailable).
	Tracer    *Tracer    `json:"tracer"`
	Cells     []Cell     `json:"cells"`
	Crossover *Crossover `json:"crossover"`
}

// Machine describes where the sweep ran.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model,omitempty"`
	Kernel     string `json:"kernel"`
	Arch       string `json:"arch"`
	GoVersion  string `json:"go_version"`
	NofileSoft uint64 `json:"nofile_soft"` // RLIMIT_NOFILE of iotrace
	NofileHard uint64 `json:"nofile_hard"`
}

// Tracer is the probe mode of the traced runs.
type Tracer struct {
	ProbeMode  string `json:"probe_mode"`
	Reason     string `json:"reason"`      // why this mode (collector.Mode)
	LostEvents uint64 `json:"lost_events"` // meta.lost_events over the traced runs
}

// Cell is one (model, N) measurement. Timing figures come from a run with
// no tracer attached; Kernel from a second, traced run of the same cell.
type Cell struct {
	Model  workloads.Model `json:"model"`
	FDs    int             `json:"fds"`
	Active int             `json:"active"`
	// Skipped says why the cell has no figures (for example select beyond
	// FD_SETSIZE, or too few file descriptors); the sweep goes on.
	Skipped string `json:"skipped,omitempty"`

	Calls      int64   `json:"calls"` // waiting calls, the workload's own count
	Messages   int64   `json:"messages"`
	ElapsedNS  int64   `json:"elapsed_ns"`
	NsPerCall  float64 `json:"ns_per_call"` // elapsed / calls
	MsgsPerSec float64 `json:"msgs_per_sec"`
	// CPUNS is the child's user+sys CPU time from the end of its setup to
	// its exit (both threads, so the driver's writes are included);
	// CPUNsPerMsg is CPUNS / messages. Null, with CPUUnavailable, when it
	// could not be measured.
	CPUNS          *int64   `json:"cpu_ns"`
	CPUNsPerMsg    *float64 `json:"cpu_ns_per_msg"`
	CPUUnavailable string   `json:"cpu_unavailable,omitempty"`

	Kernel            *Kernel `json:"kernel"`
	KernelUnavailable string  `json:"kernel_unavailable,omitempty"`
}

// Unmeasured is the reason the tracer gives no kernel figures for m's
// server thread, or "" when it does: it measures the multiplexing calls'
// waits (select, poll, epoll) only, so far.
func Unmeasured(m workloads.Model) string {
	if m.Multiplexing() {
		return ""
	}
	return "n/a: the tracer does not measure " + m.Waits() + " calls yet (only select, poll and epoll waits)"
}

// OK reports whether the cell was measured.
func (c *Cell) OK() bool { return c.Skipped == "" && c.Calls > 0 }

// Kernel are the tracer's figures per waiting call for the workload's
// server thread (docs/metrics.md), from the traced run.
type Kernel struct {
	Calls             uint64  `json:"calls"`          // waiting calls traced
	WorkloadCalls     int64   `json:"workload_calls"` // the traced run's own count
	FdsWatchedPerCall float64 `json:"fds_watched_per_call"`
	FdPollsPerCall    float64 `json:"fd_polls_per_call"`
	ReadyPerCall      float64 `json:"ready_per_call"`
	BytesInPerCall    float64 `json:"bytes_in_per_call"`
	BytesOutPerCall   float64 `json:"bytes_out_per_call"`
	WakeupsPerCall    float64 `json:"wakeups_per_call"`
	SleepsPerCall     float64 `json:"sleeps_per_call"`
	// CPUNsPerCall is the time on CPU inside the call (latency minus time
	// blocked): the kernel's own work per call, the probes' cost included.
	CPUNsPerCall float64 `json:"cpu_ns_per_call"`
	// TracedNsPerCall is the traced run's wall time per call, to compare
	// with the untraced ns_per_call: the difference is what tracing cost.
	TracedNsPerCall float64 `json:"traced_ns_per_call"`
}

// KernelFigures turns a server thread's waiting-call statistics from a
// traced run, and that run's ground truth, into per-call figures.
func KernelFigures(s *model.Stats, truth workloads.Result) *Kernel {
	f := model.Derive(s, time.Duration(truth.ElapsedNS))
	k := &Kernel{
		Calls:          s.Calls,
		WorkloadCalls:  truth.Calls,
		FdPollsPerCall: f.FdPollsPerCall,
		ReadyPerCall:   f.ReadyPerCall,
		WakeupsPerCall: f.WakeupsPerCall,
		SleepsPerCall:  f.SleepsPerCall,
	}
	if s.Calls == 0 {
		return k
	}
	n := float64(s.Calls)
	k.FdsWatchedPerCall = f.FdsPerCall
	k.BytesInPerCall = float64(s.BytesIn) / n
	k.BytesOutPerCall = float64(s.BytesOut) / n
	k.CPUNsPerCall = math.Max(0, float64(s.Latency.Sum)-float64(s.BlockedNs)) / n
	if truth.Calls > 0 {
		k.TracedNsPerCall = float64(truth.ElapsedNS) / float64(truth.Calls)
	}
	return k
}

// SetTiming fills c's timing figures from the untraced run's ground truth
// and the child's CPU time (cpuNS < 0: unknown).
func (c *Cell) SetTiming(r workloads.Result, cpuNS int64) {
	c.Calls, c.Messages, c.ElapsedNS = r.Calls, r.Messages, r.ElapsedNS
	if r.Calls > 0 {
		c.NsPerCall = float64(r.ElapsedNS) / float64(r.Calls)
	}
	if r.ElapsedNS > 0 {
		c.MsgsPerSec = float64(r.Messages) / (float64(r.ElapsedNS) / 1e9)
	}
	if cpuNS >= 0 && r.Messages > 0 {
		v := float64(cpuNS) / float64(r.Messages)
		c.CPUNS, c.CPUNsPerMsg = &cpuNS, &v
	}
}

// Kerrisk's figures (LCA 2006; The Linux Programming Interface, table
// 63-9): CPU time for the same number of monitoring operations, one active
// fd among N.
const (
	kerriskPoll10k  = 990
	kerriskEpoll10k = 0.66
)

// KerriskReference is the published contrast the summary is held to.
var KerriskReference = fmt.Sprintf("Kerrisk (LCA 2006): one active fd, N=10000: poll %g vs epoll %g CPU time for the same number of calls (about %.0fx); poll and select grow about linearly with N, epoll stays flat",
	float64(kerriskPoll10k), kerriskEpoll10k, kerriskPoll10k/kerriskEpoll10k)

// Crossover compares select and poll with an epoll model on this machine.
type Crossover struct {
	Baseline  workloads.Model  `json:"baseline"`
	Models    []ModelCrossover `json:"models"`
	Reference string           `json:"reference"`
}

// ModelCrossover is one model against the baseline, by ns per call.
type ModelCrossover struct {
	Model workloads.Model `json:"model"`
	// ComparedFDs are the N measured for both.
	ComparedFDs []int `json:"compared_fds"`
	// BaselineCheaperAt are the N where the baseline's ns/call is lower;
	// Crossover is the smallest of them (null if none), CheaperFrom the
	// smallest N from which on the baseline is lower at every larger N
	// compared (null if it is not lower at the largest).
	BaselineCheaperAt []int `json:"baseline_cheaper_at_fds"`
	Crossover         *int  `json:"crossover_fds"`
	CheaperFrom       *int  `json:"baseline_cheaper_from_fds"`
	// At the largest N compared: both ns/call and model / baseline.
	LargestFDs        int     `json:"largest_fds"`
	NsPerCall         float64 `json:"ns_per_call"`
	BaselineNsPerCall float64 `json:"baseline_ns_per_call"`
	Ratio             float64 `json:"ratio"`
	// The same for the kernel's CPU time inside the call (traced runs),
	// at the largest N with kernel figures for both; null without them.
	KernelFDs           *int     `json:"kernel_fds"`
	KernelCPUNsPerCall  float64  `json:"kernel_cpu_ns_per_call,omitempty"`
	KernelBaselineCPUNs float64  `json:"kernel_baseline_cpu_ns_per_call,omitempty"`
	KernelRatio         *float64 `json:"kernel_cpu_ratio"`
	// LargestRequested is the largest N of the sweep, when it could not
	// be compared (a cell was skipped); 0 otherwise.
	LargestRequested int `json:"largest_requested_fds,omitempty"`
}

// baselines are the epoll models select and poll are compared with, in
// order of preference.
var baselines = []workloads.Model{workloads.EpollLT, workloads.EpollET, workloads.EpollOneshot}

// ComputeCrossover compares select and poll (those among cells) with
// epoll-lt (or, without it, another epoll model), or returns nil when
// there is nothing to compare.
func ComputeCrossover(cells []Cell) *Crossover {
	byModel := map[workloads.Model]map[int]*Cell{}
	maxN := 0
	for i := range cells {
		c := &cells[i]
		maxN = max(maxN, c.FDs)
		if !c.OK() {
			continue
		}
		if byModel[c.Model] == nil {
			byModel[c.Model] = map[int]*Cell{}
		}
		byModel[c.Model][c.FDs] = c
	}
	var base workloads.Model
	for _, b := range baselines {
		if byModel[b] != nil {
			base = b
			break
		}
	}
	if base == "" {
		return nil
	}
	x := &Crossover{Baseline: base, Reference: KerriskReference}
	for _, m := range []workloads.Model{workloads.Select, workloads.Poll} {
		if byModel[m] == nil {
			continue
		}
		mc := ModelCrossover{Model: m}
		for n := range byModel[m] {
			if byModel[base][n] != nil {
				mc.ComparedFDs = append(mc.ComparedFDs, n)
			}
		}
		if len(mc.ComparedFDs) == 0 {
			continue
		}
		slices.Sort(mc.ComparedFDs)
		from := -1
		for i, n := range mc.ComparedFDs {
			if byModel[base][n].NsPerCall < byModel[m][n].NsPerCall {
				mc.BaselineCheaperAt = append(mc.BaselineCheaperAt, n)
				if from < 0 {
					from = i
				}
			} else {
				from = -1
			}
		}
		if len(mc.BaselineCheaperAt) > 0 {
			mc.Crossover = &mc.BaselineCheaperAt[0]
		}
		if from >= 0 {
			mc.CheaperFrom = &mc.ComparedFDs[from]
		}
		mc.LargestFDs = mc.ComparedFDs[len(mc.ComparedFDs)-1]
		mine, theirs := byModel[m][mc.LargestFDs], byModel[base][mc.LargestFDs]
		mc.NsPerCall, mc.BaselineNsPerCall = mine.NsPerCall, theirs.NsPerCall
		mc.Ratio = mine.NsPerCall / theirs.NsPerCall
		for i := len(mc.ComparedFDs) - 1; i >= 0; i-- {
			n := mc.ComparedFDs[i]
			a, b := byModel[m][n].Kernel, byModel[base][n].Kernel
			if a != nil && b != nil && a.Calls > 0 && b.Calls > 0 && b.CPUNsPerCall > 0 {
				r := a.CPUNsPerCall / b.CPUNsPerCall
				mc.KernelFDs, mc.KernelRatio = &mc.ComparedFDs[i], &r
				mc.KernelCPUNsPerCall, mc.KernelBaselineCPUNs = a.CPUNsPerCall, b.CPUNsPerCall
				break
			}
		}
		if mc.LargestFDs < maxN {
			mc.LargestRequested = maxN
		}
		x.Models = append(x.Models, mc)
	}
	if len(x.Models) == 0 {
		return nil
	}
	return x
}

// joinInts is "10,100,1000".
func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}
