// Command overhead measures what iotrace costs the programs it traces,
// against the floor (empty BPF programs on the same attach points) and
// against the alternatives (bpftrace, strace -c, perf trace -s), in one run.
// It also measures iotrace's start-up time, its memory while tracing 1,000
// threads and the per-call event rate it drains without loss.
//
//	sudo make bench-overhead ARGS="[--quick] [--json FILE] [--compare NAME=PATH]"
//	sudo go run ./bench/overhead [flags]
//
// It needs root, gcc (to build its C workload), and is run from the module
// root (it builds ./cmd/iotrace unless --iotrace names a binary). Results go
// to stdout as Markdown tables; BENCHMARKS.md explains them.
//
// How each I/O model's own cost scales with N (`iotrace bench`) is another
// matter, measured by internal/scaling.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

type config struct {
	quick       bool
	rounds      int
	ms, warmMs  int
	reps        int
	cpu         int
	kinds       []string
	iotrace     string
	jsonOut     string
	sections    map[string]bool
	only        map[string]bool // condition names; empty: all
	keep        bool
	waitIdle    time.Duration
	startupRuns int
	rssSeconds  float64
	rssThreads  int
	drainMs     int
	drainSteps  []drainStep
	compare     []namedBin // more iotrace binaries to run beside the main one
}

// namedBin is an iotrace binary measured under its own condition names.
type namedBin struct{ name, path string }

type compareFlag struct{ c *config }

func (f compareFlag) String() string { return "" }

func (f compareFlag) Set(s string) error {
	name, path, ok := strings.Cut(s, "=")
	if !ok || name == "" || path == "" || strings.HasPrefix(name, "iotrace") {
		return fmt.Errorf("want NAME=PATH (NAME not starting with iotrace)")
	}
	f.c.compare = append(f.c.compare, namedBin{name, path})
	return nil
}

type drainStep struct {
	Rate    float64 `json:"target_rate"` // calls/s in all; 0: as fast as the threads can
	Threads int     `json:"threads"`
}

var allSections = []string{"overhead", "bpfstats", "startup", "rss", "drain"}

func main() {
	cfg := config{}
	var sections, only string
	flag.BoolVar(&cfg.quick, "quick", false, "shorter run (about a minute): fewer rounds, shorter loops, fewer rate steps")
	flag.IntVar(&cfg.rounds, "rounds", 0, "repetitions of the whole condition matrix, in alternating order (default 5, quick 3)")
	flag.IntVar(&cfg.ms, "ms", 0, "length of one timed repetition of a loop, ms (default 60, quick 40)")
	flag.IntVar(&cfg.warmMs, "warm-ms", 0, "warm-up before each loop, ms (default 20, quick 10)")
	flag.IntVar(&cfg.reps, "reps", 0, "timed repetitions of each loop inside one run (their median is the run's figure; default 5, quick 3)")
	flag.IntVar(&cfg.cpu, "cpu", runtime.NumCPU()-1, "CPU the loops are pinned to")
	flag.StringVar(&cfg.iotrace, "iotrace", "", "iotrace binary to measure (default: build ./cmd/iotrace)")
	flag.Var(compareFlag{&cfg}, "compare", "also measure the iotrace binary at PATH, as conditions named NAME-MODE (`NAME=PATH`, repeatable): A/B runs of two builds interleaved in one run")
	flag.StringVar(&cfg.jsonOut, "json", "", "also write every measurement as JSON to `FILE`")
	flag.StringVar(&sections, "sections", strings.Join(allSections, ","), "what to run: "+strings.Join(allSections, ","))
	flag.StringVar(&only, "conditions", "", "only these conditions of the overhead matrix (comma-separated; \"none\" is always run)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory (traces, scripts, tracer output)")
	flag.DurationVar(&cfg.waitIdle, "wait-idle", 0, "before starting, wait up to this long for the machine to be idle (other load makes the figures noisy)")
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected argument %q", flag.Arg(0))
	}

	def := func(v *int, normal, quick int) {
		if *v == 0 {
			if cfg.quick {
				*v = quick
			} else {
				*v = normal
			}
		}
	}
	def(&cfg.rounds, 5, 3)
	def(&cfg.ms, 60, 40)
	def(&cfg.reps, 5, 3)
	def(&cfg.warmMs, 20, 10)
	cfg.kinds = []string{"poll", "pselect6", "epoll_wait", "getppid"}
	cfg.startupRuns, cfg.rssSeconds, cfg.rssThreads, cfg.drainMs = 5, 5, 1000, 2000
	cfg.drainSteps = []drainStep{{100e3, 1}, {250e3, 1}, {500e3, 1}, {750e3, 1}, {1e6, 2}, {0, 1}, {0, 2}}
	if cfg.quick {
		cfg.startupRuns, cfg.rssSeconds, cfg.drainMs = 3, 3, 1000
		cfg.drainSteps = []drainStep{{250e3, 1}, {1e6, 2}, {0, 2}}
	}
	cfg.sections = map[string]bool{}
	for _, s := range strings.Split(sections, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !contains(allSections, s) {
			fatalf("unknown section %q (want %s)", s, strings.Join(allSections, ","))
		}
		cfg.sections[s] = true
	}
	cfg.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.only[s] = true
		}
	}
	if cfg.cpu < 0 || cfg.cpu >= runtime.NumCPU() {
		fatalf("--cpu %d: this machine has CPUs 0..%d", cfg.cpu, runtime.NumCPU()-1)
	}
	if cfg.rounds < 1 || cfg.ms < 1 || cfg.reps < 1 || cfg.reps > 100 {
		fatalf("need --rounds >= 1, --ms >= 1, 1 <= --reps <= 100")
	}
	if os.Geteuid() != 0 {
		fatalf("needs root (it loads BPF programs and runs tracers): sudo go run ./bench/overhead")
	}

	r, err := newRunner(cfg)
	if err != nil {
		fatalf("%v", err)
	}
	defer r.cleanup()
	if err := r.run(); err != nil {
		r.cleanup()
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "overhead: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// runner holds what the measurements share.
type runner struct {
	cfg     config
	dir     string
	helper  string
	iotrace string
	modes   []string // iotrace probe modes this kernel allows
	tools   map[string]string
	sleeper *exec.Cmd // an idle process for "iotrace traces another process"
	res     *results
	started time.Time
}

func newRunner(cfg config) (*runner, error) {
	r := &runner{cfg: cfg, tools: map[string]string{}, started: time.Now()}
	var err error
	if r.dir, err = os.MkdirTemp("", "iotrace-overhead-"); err != nil {
		return nil, err
	}
	if r.helper, err = buildHelper(r.dir); err != nil {
		return nil, err
	}
	if cfg.iotrace != "" {
		r.iotrace = cfg.iotrace
	} else {
		logf("building ./cmd/iotrace")
		if r.iotrace, err = buildIotrace(r.dir); err != nil {
			return nil, err
		}
	}
	if err := ensureTracefs(); err != nil {
		return nil, err
	}
	r.sleeper = exec.Command("sleep", "1000000")
	if err := r.sleeper.Start(); err != nil {
		return nil, fmt.Errorf("starting sleep: %w", err)
	}
	r.res = &results{Machine: machineInfo(), Config: configJSON(cfg)}
	return r, nil
}

func (r *runner) cleanup() {
	if r.sleeper != nil && r.sleeper.Process != nil {
		r.sleeper.Process.Kill()
		r.sleeper.Wait()
		r.sleeper = nil
	}
	if r.dir != "" && !r.cfg.keep {
		os.RemoveAll(r.dir)
		r.dir = ""
	}
}

func (r *runner) run() error {
	if err := r.detect(); err != nil {
		return err
	}
	res := r.res
	res.Tools = r.tools
	res.IotraceModes = r.modes
	if r.cfg.waitIdle > 0 {
		r.waitIdle(r.cfg.waitIdle)
	}
	r.noteLoad("before the run")
	if r.cfg.sections["overhead"] {
		r.overhead()
	}
	if r.cfg.sections["bpfstats"] {
		r.bpfStats()
	}
	if r.cfg.sections["startup"] {
		r.startup()
	}
	if r.cfg.sections["rss"] {
		r.rss()
	}
	if r.cfg.sections["drain"] {
		r.drain()
	}
	r.noteLoad("after the run")
	res.Targets = r.targets()
	res.TotalSeconds = time.Since(r.started).Seconds()
	if r.cfg.keep {
		res.WorkDir = r.dir
	}
	writeReport(os.Stdout, res)
	if r.cfg.jsonOut != "" {
		if err := writeJSON(r.cfg.jsonOut, res); err != nil {
			return err
		}
		logf("wrote %s", r.cfg.jsonOut)
	}
	return nil
}

// detect finds the probe modes iotrace may use here and the other tracers.
func (r *runner) detect() error {
	out, err := exec.Command(r.iotrace, "probes").CombinedOutput()
	if err != nil {
		return fmt.Errorf("iotrace probes: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[1] == "yes" && (f[0] == "fentry" || f[0] == "kprobe" || f[0] == "rawtp" || f[0] == "tracepoint") {
			r.modes = append(r.modes, f[0])
		}
	}
	if len(r.modes) == 0 {
		return fmt.Errorf("iotrace probes allows no probe mode here:\n%s", out)
	}
	r.res.IotraceProbes = strings.TrimSpace(string(out))
	logf("iotrace probe modes allowed here: %s", strings.Join(r.modes, ", "))

	version := func(name string, args ...string) {
		path, err := exec.LookPath(name)
		if err != nil {
			r.tools[name] = "not installed"
			return
		}
		out, _ := exec.Command(path, args...).CombinedOutput()
		r.tools[name] = strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	}
	version("bpftrace", "--version")
	version("strace", "-V")
	version("perf", "--version")
	version("gcc", "--version")
	r.tools["go"] = runtime.Version()
	if !strings.HasPrefix(r.tools["perf"], "not installed") {
		// perf trace needs the raw_syscalls tracepoints and perf events.
		out, err := exec.Command("perf", "trace", "-s", "--", "true").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Summary of events") {
			r.tools["perf trace"] = fmt.Sprintf("does not run here: %v: %s", err, lastLines(string(out), 3))
		} else {
			r.tools["perf trace"] = "runs"
		}
	}
	return nil
}

func ensureTracefs() error {
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(d + "/events"); err == nil {
			return nil
		}
	}
	if err := unix.Mount("nodev", "/sys/kernel/tracing", "tracefs", 0, ""); err != nil {
		return fmt.Errorf("tracefs is not mounted and mounting it failed: %v", err)
	}
	return nil
}

// ---- small statistics ----

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func minMax(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// ---- the machine ----

type machine struct {
	CPUModel   string `json:"cpu_model"`
	CPUs       int    `json:"cpus"`
	Hypervisor bool   `json:"hypervisor"`
	MHz        string `json:"mhz,omitempty"`
	Kernel     string `json:"kernel"`
	KernelVer  string `json:"kernel_version"`
	MemTotal   string `json:"mem_total"`
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case k == "model name" && m.CPUModel == "":
				m.CPUModel = v
			case k == "cpu MHz" && m.MHz == "":
				m.MHz = v
			case k == "flags" && strings.Contains(" "+v+" ", " hypervisor "):
				m.Hypervisor = true
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
		m.KernelVer = unix.ByteSliceToString(u.Version[:])
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				m.MemTotal = strings.TrimSpace(strings.TrimPrefix(l, "MemTotal:"))
			}
		}
	}
	return m
}

func configJSON(c config) map[string]any {
	return map[string]any{
		"quick": c.quick, "rounds": c.rounds, "rep_ms": c.ms, "warm_ms": c.warmMs, "reps": c.reps,
		"cpu": c.cpu, "loops": c.kinds, "startup_runs": c.startupRuns, "rss_seconds": c.rssSeconds,
		"rss_threads": c.rssThreads, "drain_ms": c.drainMs, "drain_steps": c.drainSteps,
	}
}

// readStatus returns a field of /proc/PID/status in kB.
func readStatus(pid int, field string) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(strings.TrimPrefix(l, field+":"))
			if len(f) > 0 {
				v, err := strconv.ParseUint(f[0], 10, 64)
				return v, err == nil
			}
		}
	}
	return 0, false
}
