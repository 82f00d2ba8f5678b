// Package collector loads iotrace's BPF programs, attaches them in the
// chosen probe mode, keeps the set of target processes, and turns the
// kernel's maps into model.Snapshot values.
//
// The files follow a collector's life: probes.go chooses the probe mode,
// load.go loads the BPF object (without the programs the run does not use),
// configures it, attaches and detaches the programs, targets.go keeps the
// target processes and reads the process events, snapshot.go turns the
// maps into a model.Snapshot, events.go delivers the per-call events, and
// collector.go ties them together (New, Close). contract.go holds the
// compile-time checks that the C enums and their Go counterparts agree.
package collector

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/iotrace/iotrace/internal/model"
)

// Options select what to trace and how.
type Options struct {
	Mode Mode
	// Pids are processes (or threads of them) to trace, all their threads.
	Pids []int
	// ExecPids are processes held before an exec (a command iotrace
	// started at its gate): they become targets when they exec, so that
	// nothing done before (by iotrace's own runtime) counts as theirs.
	ExecPids []int
	// Comm traces every process whose thread name equals it (at most 15 bytes).
	Comm string
	// Cgroup traces every process in this cgroup v2 and its descendants,
	// those there at the start and those forked or moved in later (see
	// ResolveCgroup for the forms of the path).
	Cgroup string
	// All traces every process on the machine.
	All bool
	// Tids are threads to trace: their processes are targets, and only
	// these threads of them are reported.
	Tids []int
	// Syscalls, when set, are the only syscalls reported; the others'
	// programs are not loaded where the mode has one per syscall.
	Syscalls []model.Syscall
	// NoFollow stops children of targets from becoming targets, the
	// children that exist when tracing starts included.
	NoFollow bool
	// OnCall, when set, receives one record per traced call (--events), from
	// a goroutine of the collector's. Records the ring buffer had no room
	// for are counted in meta.lost as call_events_ringbuf_full.
	OnCall func(model.CallEvent)
	// EventsBuffer is the per-call ring buffer size in bytes (rounded up to
	// a power of two); 0 means DefaultEventsBuffer.
	EventsBuffer int
	// Describe adds to meta.targets for targets added later with AddTarget
	// (for example "demo:select").
	Describe []string
}

// Collector owns the loaded BPF objects and links.
type Collector struct {
	mode       Mode
	modeReason string
	// probeNotes says which syscalls the mode could not take (fentry
	// falling back to tracepoints), for meta.probe_notes.
	probeNotes string
	coll       *ebpf.Collection // the loaded programs
	objs       iotraceMaps
	uring      *uringProbes // the io_uring object (uring.go)
	links      []link.Link
	reader     *ringbuf.Reader
	callReader *ringbuf.Reader
	callsDone  chan struct{}
	// statsCloser keeps the kernel's BPF run-time stats on (EnableStats).
	statsCloser io.Closer
	statsWhy    string
	events      chan ProcEvent
	done        chan struct{}
	opts        Options
	cgroup      *Cgroup // the resolved Options.Cgroup
	filter      filters
	// descendants are the --pid targets' descendants at the start.
	descendants map[int][]int

	mu          sync.Mutex
	procs       map[int]*procInfo
	threadComm  map[int]string
	unavailable map[string]string
	started     time.Time
	kernel      string
}

// New checks the kernel, loads the programs for the chosen mode, registers
// the initial targets and attaches every probe. On error nothing stays
// loaded or attached.
func New(opts Options) (_ *Collector, err error) {
	if opts.Mode == "" {
		opts.Mode = ModeAuto
	}
	if len(opts.Comm) > 15 {
		return nil, fmt.Errorf("--comm %q is longer than the kernel's 15-byte task name", opts.Comm)
	}
	var cg *Cgroup
	if opts.Cgroup != "" {
		r, err := ResolveCgroup(opts.Cgroup)
		if err != nil {
			return nil, err
		}
		cg = &r
	}
	tgids := make([]int, 0, len(opts.Pids))
	for _, pid := range opts.Pids {
		if pid <= 0 {
			return nil, fmt.Errorf("invalid pid %d", pid)
		}
		tgid, err := resolveTgid(pid)
		if err != nil {
			return nil, err
		}
		if err := refuseKernelThread(tgid); err != nil {
			return nil, err
		}
		tgids = append(tgids, tgid)
	}
	filter, tidTgids, err := newFilters(opts)
	if err != nil {
		return nil, err
	}

	// Reading /proc/kallsyms takes the kernel ~50 ms: read it once, for
	// the syscall functions and eventpoll_fops, while the probes are checked.
	symsc := make(chan map[string]uint64, 1)
	go func() {
		symsc <- kallsyms(append(syscallSymbols(), "eventpoll_fops", "eventpoll_release_file", "ep_eventpoll_release"))
	}()
	mode, reason, err := Choose(opts.Mode)
	if err != nil {
		return nil, err
	}
	c := &Collector{
		mode: mode, modeReason: reason, opts: opts, cgroup: cg, filter: filter,
		events:      make(chan ProcEvent, 256),
		done:        make(chan struct{}),
		procs:       map[int]*procInfo{},
		threadComm:  map[int]string{},
		unavailable: map[string]string{},
		started:     time.Now(),
		kernel:      kernelRelease(),
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()

	c.filterCalls()
	c.noteFiltered()
	spec, err := c.load(symsc)
	if err != nil {
		return nil, err
	}
	for _, tgid := range append(tgids, tidTgids...) {
		if err := c.AddTarget(tgid); err != nil {
			return nil, err
		}
	}
	for _, pid := range opts.ExecPids {
		if err := c.addTarget(pid, targetAtExec); err != nil {
			return nil, err
		}
	}
	if err := c.addCgroupProcs(); err != nil {
		return nil, err
	}
	if err := c.addDescendants(tgids); err != nil {
		return nil, err
	}
	if err := c.attach(spec); err != nil {
		return nil, err
	}
	if err := c.startUring(); err != nil {
		c.detach()
		return nil, err
	}
	c.reader, err = ringbuf.NewReader(c.objs.ProcEvents)
	if err != nil {
		return nil, fmt.Errorf("opening the process event ring buffer: %w", err)
	}
	go c.readEvents()
	if opts.OnCall != nil {
		c.callReader, err = ringbuf.NewReader(c.objs.CallEvents)
		if err != nil {
			return nil, fmt.Errorf("opening the call event ring buffer: %w", err)
		}
		c.callsDone = make(chan struct{})
		go c.readCalls()
	}
	return c, nil
}

// Mode returns the probe mode in use and why it was chosen.
func (c *Collector) Mode() (Mode, string) { return c.mode, c.modeReason }

// Started returns when the collector attached.
func (c *Collector) Started() time.Time { return c.started }

// Close detaches every probe, stops the event reader and frees the maps.
// It is safe to call more than once and from another goroutine than the
// one reading Events.
func (c *Collector) Close() error {
	c.detach()
	c.uring.close()
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	if c.reader != nil {
		c.reader.Close()
	}
	if c.callReader != nil {
		// The probes are detached: deliver what is left in the buffer, then stop.
		c.callReader.Flush()
		<-c.callsDone
		c.callReader.Close()
		c.callReader = nil
	}
	if c.statsCloser != nil {
		c.statsCloser.Close()
		c.statsCloser = nil
	}
	if c.coll != nil {
		c.coll.Close()
	}
	return c.objs.Close()
}
