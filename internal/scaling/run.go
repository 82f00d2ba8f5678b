package scaling

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/format"
	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/workloads"
)

// Sweep runs every cell of p (which must be valid) and returns the report.
// exe is the iotrace binary, run as "exe workload ..." for each cell.
// progress, if not nil, gets one line per run.
//
// It runs every cell once with no tracer attached, for the timing figures
// (attached probes would cost each call some time, and the sched
// tracepoints fire for every process, targets or not); then, if p.Trace,
// it attaches the tracer once and runs every measured cell again for the
// kernel figures. A cell that cannot run is skipped with the reason; the
// sweep only fails when ctx ends (SIGINT), in which case the report holds
// what was measured, the rest marked "interrupted", and the error is
// ctx's.
func Sweep(ctx context.Context, p Params, exe string, progress io.Writer) (*Report, error) {
	if progress == nil {
		progress = io.Discard
	}
	r := &Report{Machine: ReadMachine(), Params: p}
	for _, m := range p.Models {
		for _, n := range p.FDs {
			r.Cells = append(r.Cells, Cell{Model: m, FDs: n, Active: p.Active})
		}
	}
	for i := range r.Cells {
		c := &r.Cells[i]
		if ctx.Err() != nil {
			c.Skipped = "interrupted"
			continue
		}
		timeCell(ctx, &p, exe, c)
		if ctx.Err() != nil {
			*c = Cell{Model: c.Model, FDs: c.FDs, Active: c.Active, Skipped: "interrupted"}
			continue
		}
		fmt.Fprintf(progress, "bench: [%d/%d] %s\n", i+1, len(r.Cells), progressLine(c))
	}
	if p.Trace && ctx.Err() == nil {
		traceCells(ctx, &p, exe, r, progress)
	} else if !p.Trace {
		for i := range r.Cells {
			if r.Cells[i].OK() {
				r.Cells[i].KernelUnavailable = "--no-trace"
			}
		}
	}
	r.Crossover = ComputeCrossover(r.Cells)
	return r, ctx.Err()
}

func progressLine(c *Cell) string {
	s := fmt.Sprintf("%s N=%d: ", c.Model, c.FDs)
	if c.Skipped != "" {
		return s + "skipped: " + c.Skipped
	}
	s += fmt.Sprintf("%s per call, %s msgs/s", format.FixedNs(c.NsPerCall), format.FixedCount(c.MsgsPerSec))
	if c.CPUNsPerMsg != nil {
		s += fmt.Sprintf(", %s CPU per message", format.FixedNs(*c.CPUNsPerMsg))
	}
	return s + fmt.Sprintf(" (%d calls in %s)", c.Calls, time.Duration(c.ElapsedNS).Round(time.Millisecond))
}

// timeCell runs c with no tracer and fills its timing figures.
//
// The child's CPU time is what it used from the end of its setup (the
// connections are open and registered when StartChild returns) to its
// exit: its total, from getrusage(RUSAGE_CHILDREN) before and after it is
// reaped (iotrace runs one child at a time), minus the CPU its threads had
// used when StartChild returned, from /proc/PID/task/*/schedstat. Both
// count the scheduler's exact run time. The exit (closing the N
// connections) is included, a small constant per cell.
func timeCell(ctx context.Context, p *Params, exe string, c *Cell) {
	cfg := p.Config(c.Model, c.FDs)
	if err := cfg.Validate(); err != nil {
		c.Skipped = err.Error()
		return
	}
	before, rerr := childrenCPU()
	child, err := workloads.StartChild(ctx, exe, cfg)
	if err != nil {
		c.Skipped = err.Error()
		return
	}
	setup, serr := processCPU(child.Pid())
	select {
	case <-child.Done():
		// It may have ended while its threads were read.
		serr = errors.New("the run ended before its setup CPU time could be read; use more --messages")
	default:
	}
	res, err := child.Wait()
	if err != nil {
		c.Skipped = "run failed: " + err.Error()
		return
	}
	after, aerr := childrenCPU()
	cpu := int64(-1)
	switch {
	case rerr != nil:
		c.CPUUnavailable = rerr.Error()
	case aerr != nil:
		c.CPUUnavailable = aerr.Error()
	case serr != nil:
		c.CPUUnavailable = serr.Error()
	default:
		cpu = max(0, after-before-setup)
	}
	c.SetTiming(res, cpu)
	if res.Calls == 0 {
		c.Skipped = "the workload made no calls"
	}
}

// traceCells runs every measured cell again under one tracer and fills
// its kernel figures. iotrace's own process is made a target so that each
// workload child is traced from its fork (children of targets are
// followed; the collector never traces its own process): every call of
// the run is counted, from the server's first one.
func traceCells(ctx context.Context, p *Params, exe string, r *Report, progress io.Writer) {
	fail := func(why string) {
		for i := range r.Cells {
			if r.Cells[i].OK() && r.Cells[i].Kernel == nil && r.Cells[i].KernelUnavailable == "" {
				r.Cells[i].KernelUnavailable = why
			}
		}
	}
	var todo int
	for i := range r.Cells {
		c := &r.Cells[i]
		if why := Unmeasured(c.Model); why != "" && c.OK() {
			// No traced run: it would give nothing to show.
			c.KernelUnavailable = why
		} else if c.OK() {
			todo++
		}
	}
	if todo == 0 {
		return
	}
	mode, _ := collector.ParseMode(p.ProbeMode)
	col, err := collector.New(collector.Options{Mode: mode})
	if err != nil {
		fmt.Fprintf(progress, "bench: no kernel figures: %v\n", err)
		fail("tracer unavailable: " + err.Error())
		return
	}
	defer col.Close()
	go func() {
		for range col.Events() {
		}
	}()
	if err := col.AddTarget(os.Getpid()); err != nil {
		fail("tracer unavailable: " + err.Error())
		return
	}
	m, why := col.Mode()
	r.Tracer = &Tracer{ProbeMode: string(m), Reason: why}
	fmt.Fprintf(progress, "bench: tracing with %s probes, running each cell again for its kernel figures\n", m)

	done := 0
	for i := range r.Cells {
		c := &r.Cells[i]
		if !c.OK() || Unmeasured(c.Model) != "" {
			continue
		}
		if ctx.Err() != nil {
			c.KernelUnavailable = "interrupted"
			continue
		}
		done++
		k, err := traceCell(ctx, p, exe, col, c)
		if err != nil {
			c.KernelUnavailable = "traced run: " + err.Error()
			fmt.Fprintf(progress, "bench: traced [%d/%d] %s N=%d: %s\n", done, todo, c.Model, c.FDs, c.KernelUnavailable)
			continue
		}
		c.Kernel = k
		fmt.Fprintf(progress, "bench: traced [%d/%d] %s N=%d: %s fd polls, %s CPU in the kernel per call\n",
			done, todo, c.Model, c.FDs, format.PerCall(k.FdPollsPerCall), format.FixedNs(k.CPUNsPerCall))
	}
	if snap, err := col.Snapshot(); err == nil {
		r.Tracer.LostEvents = snap.Meta.LostEvents
	}
}

// traceCell runs c under col and returns the kernel's figures for the
// workload's server thread.
func traceCell(ctx context.Context, p *Params, exe string, col *collector.Collector, c *Cell) (*Kernel, error) {
	child, err := workloads.StartChild(ctx, exe, p.Config(c.Model, c.FDs))
	if err != nil {
		return nil, err
	}
	res, err := child.Wait()
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, errors.New("interrupted")
	}
	snap, err := col.Snapshot()
	if err != nil {
		return nil, err
	}
	proc := snap.Process(child.Pid())
	if proc == nil {
		return nil, fmt.Errorf("the tracer did not see process %d", child.Pid())
	}
	th := proc.Thread(res.ServerTID)
	if th == nil {
		return nil, fmt.Errorf("the tracer saw no call of the server thread %d", res.ServerTID)
	}
	return KernelFigures(th.Syscalls.Total(model.Syscall.Waits), res), nil
}

// childrenCPU is the user+sys CPU time of this process's reaped children.
func childrenCPU() (int64, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &ru); err != nil {
		return 0, fmt.Errorf("getrusage(RUSAGE_CHILDREN): %w", err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), nil
}

// processCPU is the CPU time used so far by pid's threads: the run time
// in /proc/PID/task/*/schedstat (ns), else utime+stime of /proc/PID/stat
// (clock ticks).
func processCPU(pid int) (int64, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	ents, err := os.ReadDir(dir)
	if err == nil {
		var sum int64
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
			if err != nil {
				sum = -1
				break
			}
			f := strings.Fields(string(b))
			if len(f) == 0 {
				sum = -1
				break
			}
			v, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				sum = -1
				break
			}
			sum += v
		}
		if sum >= 0 {
			return sum, nil
		}
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("reading the workload's CPU time: %w", err)
	}
	// Fields after the ")" closing comm: state is field 3, utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	const userHZ = 100 // USER_HZ, the unit of /proc times on Linux
	return (ut + st) * (1e9 / userHZ), nil
}

// ReadMachine describes this machine.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Arch: runtime.GOARCH, GoVersion: runtime.Version()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
		m.NofileSoft, m.NofileHard = lim.Cur, lim.Max
	}
	return m
}
