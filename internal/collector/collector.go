// Package collector loads iotrace's BPF programs, attaches them in the
// chosen probe mode, keeps the set of target processes, and turns the
// kernel's maps into model.Snapshot values.
package collector

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/iotrace/iotrace/internal/model"
)

// Options select what to trace and how.
type Options struct {
	Mode Mode
	// Pids are processes (or threads of them) to trace, all their threads.
	Pids []int
	// Comm traces every process whose thread name equals it (at most 15 bytes).
	Comm string
	// All traces every process on the machine.
	All bool
	// NoFollow stops children of targets from becoming targets.
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

// EventKind says what happened to a process.
type EventKind int

// Process events reported by the kernel side.
const (
	EventExit EventKind = 1 // the last thread of a target exited
	EventFork EventKind = 2 // a target forked a new process, now a target too
	EventComm EventKind = 3 // a process matched --comm and became a target
)

// ProcEvent is one process event.
type ProcEvent struct {
	Kind EventKind
	Pid  int
	Ppid int
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

	mu          sync.Mutex
	procs       map[int]*procInfo
	threadComm  map[int]string
	unavailable map[string]string
	started     time.Time
	kernel      string
}

type procInfo struct {
	comm   string
	exited bool
	// epolls remembers registered counts last read from fdinfo, so that
	// they survive the process.
	epolls map[int]int64
}

// modePrefix is the program-name prefix of each mode's syscall programs.
var modePrefix = map[Mode]string{ModeTracepoint: "tp_", ModeFentry: "fe_", ModeKprobe: "kp_", ModeRawTP: "rt_"}

// tracedSyscalls are the syscalls with enter/exit programs; the epoll_create
// pair only resets per-epfd state and produces no figures of its own.
var tracedSyscalls = []string{
	"select", "pselect6", "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	"epoll_ctl", "epoll_create", "epoll_create1",
}

// Kernel-side loss counters, indexes of the `counters` map.
var counterNames = []string{
	"stats_map_full", "inflight_map_full", "ringbuf_full", "errno_map_full", "select_sets_truncated", "epoll_map_full",
	"call_events_ringbuf_full",
}

// lossCounters are the counterNames that mean something was not recorded.
var lossCounters = map[string]bool{
	"stats_map_full": true, "inflight_map_full": true, "ringbuf_full": true, "errno_map_full": true, "epoll_map_full": true,
	"call_events_ringbuf_full": true,
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
	tgids := make([]int, 0, len(opts.Pids))
	for _, pid := range opts.Pids {
		if pid <= 0 {
			return nil, fmt.Errorf("invalid pid %d", pid)
		}
		tgid, err := resolveTgid(pid)
		if err != nil {
			return nil, err
		}
		tgids = append(tgids, tgid)
	}

	// Reading /proc/kallsyms takes the kernel ~50 ms: read it once, for
	// the syscall functions and eventpoll_fops, while the probes are checked.
	symsc := make(chan map[string]uint64, 1)
	go func() { symsc <- kallsyms(append(syscallSymbols(), "eventpoll_fops")) }()
	mode, reason, err := Choose(opts.Mode)
	if err != nil {
		return nil, err
	}
	c := &Collector{
		mode: mode, modeReason: reason, opts: opts,
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

	spec, err := loadIotrace()
	if err != nil {
		return nil, fmt.Errorf("reading the embedded BPF object: %w", err)
	}
	syms := <-symsc
	// One parse of the kernel's BTF serves prune's lookups and the loader.
	kernelBTF := btf.NewCache()
	if err := c.prune(spec, syms, kernelBTF); err != nil {
		return nil, err
	}
	if err := configure(spec, c.mode, opts, syms["eventpoll_fops"]); err != nil {
		return nil, err
	}
	if opts.OnCall != nil {
		spec.Maps["call_events"].MaxEntries = eventsBufferSize(opts.EventsBuffer)
	}
	c.coll, err = loadCollection(spec, kernelBTF)
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("the kernel's verifier rejected iotrace's BPF programs: %+v", verr)
		}
		return nil, fmt.Errorf("loading BPF programs: %w", err)
	}
	if err := c.coll.Assign(&c.objs); err != nil {
		return nil, fmt.Errorf("loading BPF maps: %w", err)
	}
	for _, tgid := range tgids {
		if err := c.AddTarget(tgid); err != nil {
			return nil, err
		}
	}
	if err := c.attach(spec); err != nil {
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

// loadCollection is ebpf.NewCollection with the programs verified in
// parallel, one batch per CPU: the maps are made once, then each batch is
// loaded against them. The verifier takes about 10 ms for each of iotrace's
// programs, most of its start-up.
func loadCollection(spec *ebpf.CollectionSpec, cache *btf.Cache) (*ebpf.Collection, error) {
	batches := min(runtime.NumCPU(), len(spec.Programs))
	if batches < 2 {
		return ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Cache: cache})
	}
	mapsOnly := spec.Copy()
	mapsOnly.Programs = nil
	maps, err := ebpf.NewCollection(mapsOnly)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]*ebpf.Collection, batches)
	errs := make([]error, batches)
	var wg sync.WaitGroup
	for i := range batches {
		part := spec.Copy()
		part.Programs = map[string]*ebpf.ProgramSpec{}
		for j := i; j < len(names); j += batches {
			part.Programs[names[j]] = spec.Programs[names[j]]
		}
		wg.Go(func() {
			parts[i], errs[i] = ebpf.NewCollectionWithOptions(part, ebpf.CollectionOptions{MapReplacements: maps.Maps, Cache: cache})
		})
	}
	wg.Wait()
	coll := &ebpf.Collection{Programs: map[string]*ebpf.Program{}, Maps: maps.Maps, Variables: maps.Variables}
	for _, p := range parts {
		if p == nil {
			continue
		}
		for name := range p.Programs {
			coll.Programs[name] = p.DetachProgram(name)
		}
		p.Close() // its clones of the maps
	}
	if err := errors.Join(errs...); err != nil {
		coll.Close()
		return nil, err
	}
	return coll, nil
}

// prune deletes from spec the programs this run does not use, choosing for
// each syscall how it is traced (see syscallProbe), and records in
// c.unavailable what the chosen mode cannot measure.
func (c *Collector) prune(spec *ebpf.CollectionSpec, syms map[string]uint64, cache *btf.Cache) error {
	keep := map[string]bool{}
	if c.mode.tracesEpCallback() {
		keep[modePrefix[c.mode]+"ep_poll_callback"] = true
	} else {
		why := "ep_poll_callback is a kernel function: it needs fentry or kprobe mode, and this kernel allows neither"
		if c.opts.Mode != ModeAuto {
			why = "ep_poll_callback is a kernel function: it needs fentry or kprobe mode (" + string(c.mode) + " mode was requested)"
		}
		for _, m := range []string{"ep_poll_callbacks", "callbacks_already_queued", "callbacks_ignored"} {
			c.unavailable[m] = why
		}
	}

	var kspec *btf.Spec
	if c.mode == ModeFentry {
		var err error
		if kspec, err = cache.Kernel(); err != nil {
			return fmt.Errorf("loading kernel BTF: %w", err)
		}
	}
	if c.mode == ModeRawTP {
		// One program pair on sys_enter/sys_exit serves every syscall.
		keep["rt_sys_enter"], keep["rt_sys_exit"] = true, true
	}
	fallbacks := map[string][]string{} // program prefix → syscalls
	for _, sc := range tracedSyscalls {
		prefix := syscallProbe(c.mode, sc, kspec, syms)
		if prefix == "" {
			if _, ok := model.ParseSyscall(sc); ok {
				c.unavailable[sc] = "this kernel has no " + sc + " system call"
			}
			continue
		}
		if prefix != "rt_" {
			keep[prefix+"enter_"+sc] = true
			keep[prefix+"exit_"+sc] = true
		}
		if prefix != modePrefix[c.mode] {
			if _, ok := model.ParseSyscall(sc); ok {
				fallbacks[prefix] = append(fallbacks[prefix], sc)
			}
		}
	}
	var notes []string
	for _, f := range []struct{ prefix, how string }{{"tp_", "their syscall tracepoints"}, {"kp_", "kprobes"}} {
		if scs := fallbacks[f.prefix]; len(scs) > 0 {
			notes = append(notes, strings.Join(scs, ", ")+" through "+f.how+
				": the kernel's BTF names their __x64_sys_ functions more than once, so fentry cannot attach to them")
		}
	}
	for name := range spec.Programs {
		if !strings.HasPrefix(name, "on_") && !keep[name] {
			delete(spec.Programs, name)
		}
	}
	if len(notes) > 0 {
		c.probeNotes = strings.Join(notes, "; ")
		c.modeReason += "; " + c.probeNotes
	}
	return nil
}

func hasSym(syms map[string]uint64, name string) bool {
	_, ok := syms[name]
	return ok
}

// syscallSymbols are the kernel functions behind the traced syscalls.
func syscallSymbols() []string {
	out := make([]string, len(tracedSyscalls))
	for i, sc := range tracedSyscalls {
		out[i] = "__x64_sys_" + sc
	}
	return out
}

// syscallProbe chooses the programs (by name prefix) that trace sc in the
// given mode, or "" when this kernel does not have the syscall. In fentry
// mode a syscall whose wrapper is ambiguous in the kernel's BTF (Debian's
// 6.1 has two identical FUNC records named __x64_sys_epoll_wait, for one)
// cannot be an fentry target, so it falls back to its syscall tracepoints,
// else to a kprobe: the same enter/exit logic, the same figures.
func syscallProbe(mode Mode, sc string, kspec *btf.Spec, syms map[string]uint64) string {
	fn := "__x64_sys_" + sc
	hasTP := func() bool { return tracepointExists("syscalls", "sys_enter_"+sc) }
	switch mode {
	case ModeTracepoint:
		if hasTP() {
			return "tp_"
		}
		return ""
	case ModeKprobe, ModeRawTP:
		if hasSym(syms, fn) {
			return modePrefix[mode]
		}
		return ""
	}
	var f *btf.Func
	err := kspec.TypeByName(fn, &f)
	switch {
	case err == nil:
		return "fe_"
	case !errors.Is(err, btf.ErrMultipleMatches):
		return ""
	case hasTP():
		return "tp_"
	case hasSym(syms, fn) && checkKprobe() == nil:
		return "kp_"
	}
	return ""
}

func tracepointExists(group, name string) bool {
	for _, d := range tracefsDirs {
		if _, err := os.Stat(d + "/events/" + group + "/" + name); err == nil {
			return true
		}
	}
	return false
}

// configure sets the read-only configuration variables of the BPF object.
func configure(spec *ebpf.CollectionSpec, mode Mode, opts Options, eventpollFops uint64) error {
	var comm [16]byte
	copy(comm[:], opts.Comm)
	set := map[string]any{
		"cfg_all":            opts.All,
		"cfg_follow":         !opts.NoFollow,
		"cfg_comm":           comm,
		"cfg_comm_len":       uint32(len(opts.Comm)),
		"cfg_eventpoll_fops": eventpollFops,
		"cfg_self":           uint32(os.Getpid()),
		"cfg_events":         opts.OnCall != nil,
		"cfg_wakeup_bytes":   uint64(0),
		"cfg_ep_callbacks":   mode.tracesEpCallback(),
	}
	if opts.OnCall != nil {
		set["cfg_wakeup_bytes"] = uint64(eventsBufferSize(opts.EventsBuffer) / wakeupFraction)
	}
	for name, v := range set {
		vs, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("BPF object has no variable %s", name)
		}
		if err := vs.Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	return nil
}

// attach links every loaded program. Exit programs go first so that every
// call whose entry is seen also has its exit seen.
func (c *Collector) attach(spec *ebpf.CollectionSpec) error {
	progs := c.coll.Programs
	names := make([]string, 0, len(progs))
	for name := range progs {
		names = append(names, name)
	}
	rank := func(n string) int {
		switch {
		case strings.Contains(n, "_exit_"):
			return 0
		case strings.Contains(n, "_enter_"):
			return 2
		}
		return 1
	}
	sort.Slice(names, func(i, j int) bool {
		if rank(names[i]) != rank(names[j]) {
			return rank(names[i]) < rank(names[j])
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		l, err := attachOne(spec.Programs[name].SectionName, progs[name])
		if err != nil {
			return fmt.Errorf("attaching %s (%s mode): %w", name, c.mode, err)
		}
		c.links = append(c.links, l)
	}
	return nil
}

func attachOne(section string, prog *ebpf.Program) (link.Link, error) {
	kind, target, _ := strings.Cut(section, "/")
	switch kind {
	case "tracepoint":
		group, name, _ := strings.Cut(target, "/")
		return link.Tracepoint(group, name, prog, nil)
	case "kprobe":
		return link.Kprobe(target, prog, nil)
	case "kretprobe":
		return link.Kretprobe(target, prog, nil)
	case "fentry", "fexit", "tp_btf":
		return link.AttachTracing(link.TracingOptions{Program: prog})
	}
	return nil, fmt.Errorf("unknown section %q", section)
}

// Mode returns the probe mode in use and why it was chosen.
func (c *Collector) Mode() (Mode, string) { return c.mode, c.modeReason }

// Events delivers process events (exits, forks, --comm matches).
func (c *Collector) Events() <-chan ProcEvent { return c.events }

// AddTarget starts tracing a process (all its threads) and seeds the sizes
// of its existing epoll instances from /proc: once before the process
// becomes a target, so that its first calls find them, and once after, to
// catch epoll_ctl calls made in between.
func (c *Collector) AddTarget(tgid int) error {
	c.noteProcess(tgid)
	one := uint8(1)
	key := uint32(tgid)
	// The slot first: the kernel side tests it before the hash.
	slot := key % c.objs.TargetSlots.MaxEntries()
	if err := c.objs.TargetSlots.Update(&slot, &one, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("adding target %d: %w", tgid, err)
	}
	if err := c.objs.Targets.Update(&key, &one, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("adding target %d: %w", tgid, err)
	}
	c.noteProcess(tgid)
	return nil
}

// noteProcess records a target's name and seeds its epoll instances.
func (c *Collector) noteProcess(tgid int) {
	c.mu.Lock()
	p := c.procs[tgid]
	if p == nil {
		p = &procInfo{epolls: map[int]int64{}}
		c.procs[tgid] = p
	}
	if comm, ok := readComm(tgid, 0); ok {
		p.comm = comm
	}
	c.mu.Unlock()
	for epfd, n := range epollFds(tgid) {
		c.seedEpoll(tgid, epfd, n)
	}
}

func (c *Collector) seedEpoll(tgid, epfd int, n int64) {
	k := iotraceEpKey{Tgid: uint32(tgid), Epfd: int32(epfd)}
	v := iotraceEpReg{Registered: n, Known: 1}
	_ = c.objs.EpRegs.Update(&k, &v, ebpf.UpdateAny)
	c.mu.Lock()
	if p := c.procs[tgid]; p != nil {
		p.epolls[epfd] = n
	}
	c.mu.Unlock()
}

func (c *Collector) readEvents() {
	defer close(c.events)
	for {
		rec, err := c.reader.Read()
		if err != nil {
			if errors.Is(err, ringbuf.ErrClosed) {
				return
			}
			continue
		}
		if len(rec.RawSample) < 12 {
			continue
		}
		s := rec.RawSample
		ev := ProcEvent{
			Kind: EventKind(nativeEndian.Uint32(s[0:])),
			Pid:  int(nativeEndian.Uint32(s[4:])),
			Ppid: int(nativeEndian.Uint32(s[8:])),
		}
		switch ev.Kind {
		case EventFork, EventComm:
			c.noteProcess(ev.Pid)
		case EventExit:
			c.mu.Lock()
			if p := c.procs[ev.Pid]; p != nil {
				p.exited = true
			}
			c.mu.Unlock()
		}
		select {
		case c.events <- ev:
		case <-c.done:
			return
		}
	}
}

// Close detaches every probe, stops the event reader and frees the maps.
// It is safe to call more than once and from another goroutine than the
// one reading Events.
func (c *Collector) Close() error {
	c.mu.Lock()
	links := c.links
	c.links = nil
	c.mu.Unlock()
	// Each detach waits for an RCU grace period; closing the links one by
	// one took over a second here, concurrently it takes one grace period.
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Close()
		}()
	}
	wg.Wait()
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

// Snapshot reads the kernel's maps into a cumulative snapshot.
func (c *Collector) Snapshot() (*model.Snapshot, error) {
	threads := map[int]map[int]model.SyscallStats{} // tgid -> tid -> stats
	byTid := map[iotraceStatsKey]*model.Stats{}
	var (
		k iotraceStatsKey
		v iotraceStats
	)
	it := c.objs.CallStats.Iterate()
	for it.Next(&k, &v) {
		if k.Sc >= uint32(model.NumSyscalls) {
			continue
		}
		s := convertStats(&v)
		tgid, tid := int(v.Tgid), int(k.Tid)
		if threads[tgid] == nil {
			threads[tgid] = map[int]model.SyscallStats{}
		}
		if threads[tgid][tid] == nil {
			threads[tgid][tid] = model.SyscallStats{}
		}
		threads[tgid][tid][model.Syscall(k.Sc)] = s
		byTid[k] = s
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading call statistics: %w", err)
	}

	var (
		ek iotraceErrKey
		ev uint64
	)
	eit := c.objs.Errs.Iterate()
	for eit.Next(&ek, &ev) {
		s := byTid[iotraceStatsKey{Tid: ek.Tid, Sc: ek.Sc}]
		if s == nil {
			continue
		}
		if s.ErrorsByErrno == nil {
			s.ErrorsByErrno = map[string]uint64{}
		}
		s.ErrorsByErrno[ErrnoName(int(ek.Err))] += ev
	}

	epolls := c.readEpolls()
	snap := &model.Snapshot{Meta: c.meta()}

	c.mu.Lock()
	defer c.mu.Unlock()
	pids := map[int]bool{}
	for pid := range c.procs {
		pids[pid] = true
	}
	for pid := range threads {
		pids[pid] = true
	}
	for pid := range epolls {
		pids[pid] = true
	}
	for pid := range pids {
		info := c.procs[pid]
		if info == nil {
			info = &procInfo{epolls: map[int]int64{}}
			if comm, ok := readComm(pid, 0); ok {
				info.comm = comm
			}
			c.procs[pid] = info
		}
		if !info.exited && !processAlive(pid) {
			info.exited = true
		}
		p := &model.Process{Pid: pid, Comm: info.comm, Exited: info.exited, Syscalls: model.SyscallStats{}}
		for tid, scs := range threads[pid] {
			comm, ok := c.threadComm[tid]
			if !ok {
				if comm, ok = readComm(pid, tid); ok {
					c.threadComm[tid] = comm
				}
			}
			p.Threads = append(p.Threads, &model.Thread{Tid: tid, Comm: comm, Syscalls: scs})
			p.Syscalls.Merge(scs)
		}
		sort.Slice(p.Threads, func(i, j int) bool { return p.Threads[i].Tid < p.Threads[j].Tid })
		p.EpollInstances = c.epollInstances(pid, info, epolls[pid])
		snap.Processes = append(snap.Processes, p)
	}
	sort.Slice(snap.Processes, func(i, j int) bool { return snap.Processes[i].Pid < snap.Processes[j].Pid })
	return snap, nil
}

type epollState struct {
	reg    *iotraceEpReg
	counts *iotraceEpCounts
}

func (c *Collector) readEpolls() map[int]map[int]*epollState {
	out := map[int]map[int]*epollState{}
	get := func(k iotraceEpKey) *epollState {
		if out[int(k.Tgid)] == nil {
			out[int(k.Tgid)] = map[int]*epollState{}
		}
		st := out[int(k.Tgid)][int(k.Epfd)]
		if st == nil {
			st = &epollState{}
			out[int(k.Tgid)][int(k.Epfd)] = st
		}
		return st
	}
	var (
		k  iotraceEpKey
		r  iotraceEpReg
		ct iotraceEpCounts
	)
	it := c.objs.EpRegs.Iterate()
	for it.Next(&k, &r) {
		rr := r
		get(k).reg = &rr
	}
	it = c.objs.EpCounters.Iterate()
	for it.Next(&k, &ct) {
		cc := ct
		get(k).counts = &cc
	}
	return out
}

// epollInstances merges what the kernel counted with what /proc says about
// each epoll instance of pid. Called with c.mu held.
func (c *Collector) epollInstances(pid int, info *procInfo, states map[int]*epollState) []model.EpollInstance {
	fds := map[int]bool{}
	for fd := range states {
		fds[fd] = true
	}
	for fd := range info.epolls {
		fds[fd] = true
	}
	var out []model.EpollInstance
	for fd := range fds {
		st := states[fd]
		if st == nil {
			st = &epollState{}
		}
		inst := model.EpollInstance{Epfd: fd}
		if !info.exited {
			if n, ok := epollRegistered(pid, fd); ok {
				info.epolls[fd] = n
				if st.reg == nil || st.reg.Known == 0 {
					// Seed an instance the kernel side first met mid-run.
					k := iotraceEpKey{Tgid: uint32(pid), Epfd: int32(fd)}
					v := iotraceEpReg{Registered: n, Known: 1}
					_ = c.objs.EpRegs.Update(&k, &v, ebpf.UpdateAny)
				}
			} else {
				delete(info.epolls, fd)
			}
		}
		if n, ok := info.epolls[fd]; ok {
			inst.Registered = &n
		} else if st.reg != nil && st.reg.Known != 0 {
			n := st.reg.Registered
			inst.Registered = &n
		}
		if st.counts != nil {
			inst.Ctl = model.CtlCounts{Add: st.counts.CtlAdd, Mod: st.counts.CtlMod, Del: st.counts.CtlDel}
		}
		if c.mode.tracesEpCallback() {
			var cb, aq, ig uint64
			if st.counts != nil {
				cb, aq, ig = st.counts.Callbacks, st.counts.CbAlreadyQueued, st.counts.CbIgnored
			}
			inst.EpPollCallbacks, inst.CallbacksAlreadyQueued, inst.CallbacksIgnored = &cb, &aq, &ig
		}
		if inst.Registered == nil && st.counts == nil {
			continue
		}
		out = append(out, inst)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Epfd < out[j].Epfd })
	return out
}

func (c *Collector) meta() model.Meta {
	m := model.Meta{
		Kernel:      c.kernel,
		ProbeMode:   string(c.mode),
		ProbeNotes:  c.probeNotes,
		Started:     c.started,
		Unavailable: map[string]string{},
		Lost:        map[string]uint64{},
	}
	for k, v := range c.unavailable {
		m.Unavailable[k] = v
	}
	switch {
	case c.opts.All:
		m.Targets = append(m.Targets, "all")
	case c.opts.Comm != "":
		m.Targets = append(m.Targets, "comm:"+c.opts.Comm)
	}
	for _, pid := range c.opts.Pids {
		m.Targets = append(m.Targets, "pid:"+strconv.Itoa(pid))
	}
	m.Targets = append(m.Targets, c.opts.Describe...)
	var vals []uint64
	for i, name := range counterNames {
		key := uint32(i)
		if err := c.objs.Counters.Lookup(&key, &vals); err != nil {
			continue
		}
		var sum uint64
		for _, v := range vals {
			sum += v
		}
		if sum == 0 {
			continue
		}
		m.Lost[name] = sum
		if lossCounters[name] {
			m.LostEvents += sum
		}
	}
	return m
}

// Started returns when the collector attached.
func (c *Collector) Started() time.Time { return c.started }

func convertStats(v *iotraceStats) *model.Stats {
	s := &model.Stats{
		Calls: v.Calls, Errors: v.Errors, Timeouts: v.Timeouts, Ready: v.Ready,
		FdsWatched: v.FdsWatched, FdsWatchedUnknown: v.FdsUnknownCalls, FdPolls: v.FdPolls,
		BytesIn: v.BytesIn, BytesOut: v.BytesOut, Wakeups: v.Wakeups, Sleeps: v.Sleeps,
		BlockedNs: v.BlockedNs, MaxeventsHits: v.MaxeventsHits,
		Latency:            model.Histogram{Count: v.Calls, Sum: v.LatSum, Min: v.LatMin, Max: v.LatMax},
		ReadyListAtEntry:   model.MaxSum{Sum: v.RlEntrySum, Max: v.RlEntryMax},
		ReadyListAtExit:    model.MaxSum{Sum: v.RlExitSum, Max: v.RlExitMax},
		ReadyListTruncated: v.RlTruncated,
	}
	if v.Calls == 0 {
		s.Latency.Min = 0
	}
	copy(s.Latency.Buckets[:], v.LatBuckets[:])
	return s
}
