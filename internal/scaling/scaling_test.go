package scaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/testutils"
	"github.com/iotrace/iotrace/internal/workloads"
)

func validParams() Params {
	return Params{Models: DefaultModels, FDs: []int{1000, 10, 100, 10}, Active: 1, Size: 64, Messages: 1000, Trace: true, ProbeMode: "auto"}
}

func TestBenchValidate(t *testing.T) {
	p := validParams()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.FDs, []int{10, 100, 1000}) {
		t.Errorf("FDs = %v, want sorted without repeats", p.FDs)
	}
	for _, c := range []struct {
		name string
		edit func(*Params)
		want string
	}{
		{"unknown model", func(p *Params) { p.Models = []workloads.Model{"kqueue"} }, `unknown workload model "kqueue"`},
		{"model twice", func(p *Params) { p.Models = []workloads.Model{"poll", "poll"} }, "poll is listed twice"},
		{"no models", func(p *Params) { p.Models = nil }, "--models is empty"},
		{"no fds", func(p *Params) { p.FDs = nil }, "--fds is empty"},
		{"zero fds", func(p *Params) { p.FDs = []int{10, 0} }, "every N must be at least 1, not 0"},
		{"K > N", func(p *Params) { p.FDs = []int{100, 5}; p.Active = 8 }, "--active 8 is more than the smallest --fds value 5"},
		{"no active", func(p *Params) { p.Active = 0 }, "--active must be at least 1"},
		{"size", func(p *Params) { p.Size = 0 }, "--size must be between 1"},
		{"both", func(p *Params) { p.Duration = time.Second }, "cannot be combined"},
		{"neither", func(p *Params) { p.Messages = 0 }, "needs --messages or --duration"},
		{"probe mode", func(p *Params) { p.ProbeMode = "ebpf" }, `invalid probe mode "ebpf"`},
	} {
		p := validParams()
		c.edit(&p)
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", c.name, err, c.want)
		}
	}
}

func TestBenchConfig(t *testing.T) {
	p := validParams()
	cfg := p.Config(workloads.Poll, 500)
	if cfg.Model != workloads.Poll || cfg.FDs != 500 || cfg.Active != 1 || cfg.Rate != 0 || cfg.Messages != 1000 || cfg.Size != 64 {
		t.Errorf("config %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	if err := p.Config(workloads.Select, 2000).Validate(); err == nil || !strings.Contains(err.Error(), "FD_SETSIZE") {
		t.Errorf("select with 2000 fds: %v", err)
	}
}

// cell is a measured fake cell; kcpu > 0 adds kernel figures.
func cell(m workloads.Model, n int, nsPerCall, kcpu float64) Cell {
	c := Cell{Model: m, FDs: n, Active: 1, Calls: 1000, Messages: 10000, ElapsedNS: int64(nsPerCall * 1000), NsPerCall: nsPerCall, MsgsPerSec: 1e5}
	cpu := 2500.0
	c.CPUNsPerMsg = &cpu
	if kcpu > 0 {
		polls, ready := float64(n), 1.0
		if m != workloads.Select && m != workloads.Poll {
			polls = 1
		}
		c.Kernel = &Kernel{Calls: 1000, WorkloadCalls: 1000, FdsWatchedPerCall: float64(n), FdPollsPerCall: polls, ReadyPerCall: ready, CPUNsPerCall: kcpu}
	} else {
		c.KernelUnavailable = "--no-trace"
	}
	return c
}

func skipped(m workloads.Model, n int, why string) Cell {
	return Cell{Model: m, FDs: n, Active: 1, Skipped: why}
}

// fakeCells: select is cheaper than epoll at N=10, poll at N=10 and 1000
// but not at 100 (noise); select cannot run at 10000.
func fakeCells() []Cell {
	return []Cell{
		cell("select", 10, 900, 700), cell("select", 100, 3000, 2900), cell("select", 1000, 35000, 34000),
		skipped("select", 10000, "select cannot watch 10000 connections"),
		cell("poll", 10, 1500, 600), cell("poll", 100, 1000, 2800), cell("poll", 1000, 40000, 35000), cell("poll", 10000, 990000, 980000),
		cell("epoll-lt", 10, 1000, 400), cell("epoll-lt", 100, 1100, 420), cell("epoll-lt", 1000, 1200, 530), cell("epoll-lt", 10000, 1320, 660),
		cell("epoll-et", 10, 1000, 0), cell("epoll-et", 100, 1000, 0), cell("epoll-et", 1000, 1000, 0), cell("epoll-et", 10000, 1000, 0),
		cell("epoll-oneshot", 10, 1100, 450), cell("epoll-oneshot", 10000, 1400, 700),
		unmeasured("blocking", 10, 3000), skipped("blocking", 10000, "blocking cannot hold 10000 connections: it needs one thread per connection"),
		unmeasured("nonblock-spin", 10, 300), unmeasured("nonblock-spin", 10000, 250),
		unmeasured("sigio", 10, 2000), unmeasured("sigio", 10000, 2100),
		unmeasured("uring", 10, 1500), unmeasured("uring", 10000, 1600),
	}
}

// unmeasured is a timed cell of a model whose waits the tracer does not
// measure.
func unmeasured(m workloads.Model, n int, nsPerCall float64) Cell {
	c := cell(m, n, nsPerCall, 0)
	c.KernelUnavailable = Unmeasured(m)
	return c
}

func TestBenchCrossover(t *testing.T) {
	x := ComputeCrossover(fakeCells())
	if x == nil || x.Baseline != workloads.EpollLT || len(x.Models) != 2 {
		t.Fatalf("crossover %+v", x)
	}
	sel, poll := x.Models[0], x.Models[1]

	if sel.Model != "select" || !slices.Equal(sel.ComparedFDs, []int{10, 100, 1000}) ||
		!slices.Equal(sel.BaselineCheaperAt, []int{100, 1000}) || *sel.Crossover != 100 || *sel.CheaperFrom != 100 {
		t.Errorf("select: %+v", sel)
	}
	if sel.LargestFDs != 1000 || sel.NsPerCall != 35000 || sel.BaselineNsPerCall != 1200 || sel.Ratio != 35000.0/1200 {
		t.Errorf("select at the largest N: %+v", sel)
	}
	if sel.LargestRequested != 10000 {
		t.Errorf("select: largest requested %d, want 10000 (skipped)", sel.LargestRequested)
	}
	if *sel.KernelFDs != 1000 || *sel.KernelRatio != 34000.0/530 {
		t.Errorf("select kernel: %v %v", *sel.KernelFDs, *sel.KernelRatio)
	}

	// Cheaper at 10, not at 100, then from 1000 on.
	if !slices.Equal(poll.BaselineCheaperAt, []int{10, 1000, 10000}) || *poll.Crossover != 10 || *poll.CheaperFrom != 1000 {
		t.Errorf("poll: cheaper at %v, crossover %v, from %v", poll.BaselineCheaperAt, *poll.Crossover, *poll.CheaperFrom)
	}
	if poll.LargestFDs != 10000 || poll.Ratio != 990000.0/1320 || poll.LargestRequested != 0 {
		t.Errorf("poll at the largest N: %+v", poll)
	}
	if *poll.KernelRatio != 980000.0/660 {
		t.Errorf("poll kernel ratio %v", *poll.KernelRatio)
	}

	// Never cheaper; and the kernel ratio needs kernel figures for both.
	cells := []Cell{cell("poll", 10, 500, 0), cell("epoll-lt", 10, 600, 0)}
	x = ComputeCrossover(cells)
	if pc := x.Models[0]; pc.Crossover != nil || pc.CheaperFrom != nil || pc.KernelRatio != nil || pc.BaselineCheaperAt != nil {
		t.Errorf("never cheaper: %+v", pc)
	}

	// Without epoll-lt, epoll-et is the baseline; without epoll, nothing.
	x = ComputeCrossover([]Cell{cell("poll", 10, 500, 0), cell("epoll-et", 10, 400, 0)})
	if x == nil || x.Baseline != workloads.EpollET {
		t.Errorf("epoll-et baseline: %+v", x)
	}
	if x := ComputeCrossover([]Cell{cell("poll", 10, 500, 0), cell("select", 10, 400, 0)}); x != nil {
		t.Errorf("no epoll: %+v", x)
	}
	if x := ComputeCrossover([]Cell{cell("epoll-lt", 10, 500, 0), skipped("select", 10, "x")}); x != nil {
		t.Errorf("nothing measured to compare: %+v", x)
	}
}

func fakeReport() *Report {
	p := validParams()
	p.FDs = []int{10, 100, 1000, 10000}
	cells := fakeCells()
	return &Report{
		Machine:   Machine{CPUs: 2, Kernel: "6.18.0-test", Arch: "amd64", GoVersion: "go1.26"},
		Params:    p,
		Tracer:    &Tracer{ProbeMode: "tracepoint", Reason: "test"},
		Cells:     cells,
		Crossover: ComputeCrossover(cells),
	}
}

func TestBenchTable(t *testing.T) {
	r := fakeReport()
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	// Title, header, a row per cell, then the reasons.
	if len(lines) < 2+len(r.Cells) {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	header := strings.Fields(lines[1])
	if !slices.Equal(header, tableHeader) {
		t.Errorf("header %q", header)
	}
	for i, c := range r.Cells {
		f := strings.Fields(lines[2+i])
		if len(f) != len(tableHeader) || f[0] != string(c.Model) || f[1] != strconv.Itoa(c.FDs) {
			t.Errorf("row %d = %q, want %d columns for %s N=%d", i, lines[2+i], len(tableHeader), c.Model, c.FDs)
		}
		switch {
		case c.Skipped != "":
			if f[2] != "skipped" {
				t.Errorf("skipped row %q", lines[2+i])
			}
		case c.Kernel == nil && Unmeasured(c.Model) != "":
			// Unavailable, not zero: n/a in every kernel column.
			if !slices.Equal(f[8:], slices.Repeat([]string{"n/a"}, 7)) {
				t.Errorf("row of a model the tracer does not measure %q, want n/a", lines[2+i])
			}
		case c.Kernel == nil:
			if f[len(f)-1] != "-" {
				t.Errorf("row without kernel figures %q", lines[2+i])
			}
		default:
			if f[8] != strconv.Itoa(c.FDs) {
				t.Errorf("row %q: FDS/CALL %s, want %d", lines[2+i], f[8], c.FDs)
			}
		}
	}
	rest := strings.Join(lines[2+len(r.Cells):], "\n")
	if !strings.Contains(rest, "skipped blocking N=10000: blocking cannot hold 10000 connections") ||
		!strings.Contains(rest, "no kernel figures for uring N=10, uring N=10000: n/a: the tracer does not measure io_uring_enter calls yet") {
		t.Errorf("no reason for the skipped blocking cell or uring's missing figures:\n%s", rest)
	}
	if !strings.Contains(rest, "skipped select N=10000: select cannot watch 10000 connections") {
		t.Errorf("no reason for the skipped cell:\n%s", rest)
	}
	if !strings.Contains(rest, "no kernel figures for epoll-et N=10, epoll-et N=100, epoll-et N=1000, epoll-et N=10000: --no-trace") {
		t.Errorf("no reason for the missing kernel figures:\n%s", rest)
	}

	b.Reset()
	if err := WriteSummary(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"select vs epoll-lt: epoll-lt is cheaper per call from N=100 on (of N=10,100,1000); at N=1000 select 35.0us vs epoll-lt 1.2us per call = 29.2x (N=10000 not measured for both)",
		"poll vs epoll-lt: epoll-lt is cheaper per call at N=10,1000,10000 (of N=10,100,1000,10000); at N=10000 poll 990.0us vs epoll-lt 1.3us per call = 750x",
		"CPU inside the call (traced): at N=10000 poll 980.0us vs epoll-lt 660ns = 1485x",
		"reference: Kerrisk",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	r.Crossover = nil
	WriteSummary(&b, r)
	if !strings.Contains(b.String(), "nothing to compare") {
		t.Errorf("summary without a crossover:\n%s", b.String())
	}
}

func TestBenchJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, fakeReport()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"machine", "params", "tracer", "cells", "crossover"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("no %q in the document", k)
		}
	}
	machine := doc["machine"].(map[string]any)
	for _, k := range []string{"cpus", "kernel", "arch", "go_version"} {
		if _, ok := machine[k]; !ok {
			t.Errorf("no machine.%s", k)
		}
	}
	params := doc["params"].(map[string]any)
	if params["active"] != 1.0 || params["messages"] != 1000.0 || len(params["fds"].([]any)) != 4 {
		t.Errorf("params %v", params)
	}
	cells := doc["cells"].([]any)
	if len(cells) != len(fakeCells()) {
		t.Fatalf("%d cells", len(cells))
	}
	for _, x := range cells {
		c := x.(map[string]any)
		for _, k := range []string{"model", "fds", "active", "calls", "messages", "elapsed_ns", "ns_per_call", "msgs_per_sec", "cpu_ns_per_msg", "kernel"} {
			if _, ok := c[k]; !ok {
				t.Errorf("cell %v %v: no %q", c["model"], c["fds"], k)
			}
		}
		switch {
		case c["skipped"] != nil:
			if c["kernel"] != nil || c["calls"] != 0.0 {
				t.Errorf("skipped cell with figures: %v", c)
			}
		case c["kernel"] == nil:
			if why := Unmeasured(workloads.Model(c["model"].(string))); c["kernel_unavailable"] != "--no-trace" && (why == "" || c["kernel_unavailable"] != why) {
				t.Errorf("cell without kernel figures or a reason: %v", c)
			}
		default:
			k := c["kernel"].(map[string]any)
			for _, f := range []string{"fd_polls_per_call", "bytes_in_per_call", "bytes_out_per_call", "wakeups_per_call", "fds_watched_per_call", "ready_per_call", "cpu_ns_per_call"} {
				if _, ok := k[f]; !ok {
					t.Errorf("kernel figures without %q: %v", f, k)
				}
			}
		}
	}
	x := doc["crossover"].(map[string]any)
	if x["baseline"] != "epoll-lt" || len(x["models"].([]any)) != 2 {
		t.Errorf("crossover %v", x)
	}
	sel := x["models"].([]any)[0].(map[string]any)
	if sel["model"] != "select" || sel["crossover_fds"] != 100.0 || sel["largest_fds"] != 1000.0 {
		t.Errorf("select crossover %v", sel)
	}
}

func TestBenchPlot(t *testing.T) {
	r := fakeReport()
	var b bytes.Buffer
	if err := WritePlot(&b, r); err != nil {
		t.Fatal(err)
	}
	testutils.CheckSVG(t, b.Bytes())
	svg := b.String()
	for _, m := range r.Params.Models {
		if !strings.Contains(svg, ">"+string(m)+"<") {
			t.Errorf("the chart does not name %s", m)
		}
	}
	if len(Plots(r)) != 3 || !strings.Contains(svg, "fd_polls per call") {
		t.Error("kernel figures but no fd_polls panel")
	}

	// Without kernel figures: one panel. With no data at all: no panic.
	for i := range r.Cells {
		r.Cells[i].Kernel = nil
	}
	if len(Plots(r)) != 1 {
		t.Error("a kernel panel without kernel figures")
	}
	r.Cells = []Cell{skipped("select", 5000, "FD_SETSIZE")}
	b.Reset()
	if err := WritePlot(&b, r); err != nil {
		t.Fatal(err)
	}
	testutils.CheckSVG(t, b.Bytes())
	if !strings.Contains(b.String(), "(no data)") {
		t.Error("an empty chart does not say so")
	}
}

func TestBenchKernelFigures(t *testing.T) {
	s := &model.Stats{Calls: 100, Ready: 100, FdsWatched: 100 * 1000, FdPolls: 150 * 1000, BytesIn: 800000, BytesOut: 200000,
		Wakeups: 50, Sleeps: 50, BlockedNs: 1_000_000}
	s.Latency.Sum = 3_000_000
	k := KernelFigures(s, workloads.Result{Calls: 100, ElapsedNS: 5_000_000})
	want := Kernel{Calls: 100, WorkloadCalls: 100, FdsWatchedPerCall: 1000, FdPollsPerCall: 1500, ReadyPerCall: 1,
		BytesInPerCall: 8000, BytesOutPerCall: 2000, WakeupsPerCall: 0.5, SleepsPerCall: 0.5, CPUNsPerCall: 20000, TracedNsPerCall: 50000}
	if *k != want {
		t.Errorf("kernel figures\n got %+v\nwant %+v", *k, want)
	}
	if k := KernelFigures(&model.Stats{}, workloads.Result{}); k.Calls != 0 || k.FdPollsPerCall != 0 {
		t.Errorf("no calls: %+v", k)
	}
}

func TestBenchSetTiming(t *testing.T) {
	var c Cell
	c.SetTiming(workloads.Result{Calls: 200, Messages: 1000, ElapsedNS: 2_000_000}, 3_000_000)
	if c.NsPerCall != 10000 || c.MsgsPerSec != 500000 || *c.CPUNsPerMsg != 3000 || *c.CPUNS != 3_000_000 {
		t.Errorf("%+v", c)
	}
	var d Cell
	d.SetTiming(workloads.Result{Calls: 200, Messages: 1000, ElapsedNS: 2_000_000}, -1)
	if d.CPUNsPerMsg != nil || d.CPUNS != nil {
		t.Errorf("unknown CPU: %+v", d)
	}
}

func TestBenchFiles(t *testing.T) {
	dir := t.TempDir()
	if err := CheckWritable("--output", filepath.Join(dir, "nodir", "b.json")); err == nil ||
		err.Error() != "cannot write --output "+filepath.Join(dir, "nodir", "b.json")+": no such file or directory" {
		t.Errorf("missing directory: %v", err)
	}
	if err := CheckWritable("--plot", dir); err == nil || !strings.Contains(err.Error(), "--plot "+dir+": is a directory") {
		t.Errorf("directory: %v", err)
	}
	path := filepath.Join(dir, "b.json")
	if err := CheckWritable("--output", path); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("CheckWritable left %v behind", ents)
	}
	if err := WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, "one"); return err }); err != nil {
		t.Fatal(err)
	}
	// A failed write leaves the old file alone and no temporary file.
	if err := WriteFile(path, func(w io.Writer) error { io.WriteString(w, "two"); return errors.New("boom") }); err == nil {
		t.Fatal("no error")
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Errorf("file holds %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left: %v", ents)
	}
}

func TestBenchDecades(t *testing.T) {
	if a, b := decades(3, 2000); a != 1 || b != 10000 {
		t.Errorf("decades(3, 2000) = %v, %v", a, b)
	}
	if a, b := decades(1, 1); a != 1 || b != 10 {
		t.Errorf("decades(1, 1) = %v, %v", a, b)
	}
}
