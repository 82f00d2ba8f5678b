package collector

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"

	"github.com/iotrace/iotrace/internal/model"
)

// modePrefix is the program-name prefix of each mode's syscall programs.
var modePrefix = map[Mode]string{ModeTracepoint: "tp_", ModeFentry: "fe_", ModeKprobe: "kp_", ModeRawTP: "rt_"}

// tracedSyscalls are the syscalls with enter/exit programs; the epoll_create
// pair only resets per-epfd state and produces no figures of its own.
var tracedSyscalls = []string{
	"select", "pselect6", "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	"epoll_ctl", "epoll_create", "epoll_create1",
}

// load reads the embedded BPF object, keeps only the programs this run
// uses, configures it and loads it into the kernel (c.coll, c.objs). It
// returns the pruned spec, which attach needs for the section names. The
// kernel symbols arrive on symsc, read while the object is parsed.
func (c *Collector) load(symsc <-chan map[string]uint64) (*ebpf.CollectionSpec, error) {
	spec, err := loadIotrace()
	if err != nil {
		return nil, fmt.Errorf("reading the embedded BPF object: %w", err)
	}
	// The maps and variables by their generated names (the programs are
	// pruned below).
	var obj struct {
		iotraceMapSpecs
		iotraceVariableSpecs
	}
	if err := spec.Assign(&obj); err != nil {
		return nil, fmt.Errorf("reading the embedded BPF object: %w", err)
	}
	syms := <-symsc
	// One parse of the kernel's BTF serves prune's lookups and the loader.
	kernelBTF := btf.NewCache()
	if err := c.prune(spec, syms, kernelBTF); err != nil {
		return nil, err
	}
	if err := configure(&obj.iotraceVariableSpecs, c.mode, c.opts, c.cgroup, syms["eventpoll_fops"]); err != nil {
		return nil, err
	}
	if c.opts.OnCall != nil {
		obj.CallEvents.MaxEntries = eventsBufferSize(c.opts.EventsBuffer)
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
	return spec, nil
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
	var kspec *btf.Spec
	if c.mode == ModeFentry {
		var err error
		if kspec, err = cache.Kernel(); err != nil {
			return fmt.Errorf("loading kernel BTF: %w", err)
		}
	}
	// Items a file's last close drops from epoll sets, and instances
	// released: the kernel functions in fentry and kprobe modes (where this
	// kernel has them), close(2) in the others (bpf: on_close).
	switch {
	case c.mode.tracesEpCallback():
		for prog, fn := range map[string]string{"ep_release_file": "eventpoll_release_file", "ep_file_release": "ep_eventpoll_release"} {
			if kernelFunc(c.mode, fn, kspec, syms) {
				keep[modePrefix[c.mode]+prog] = true
			}
		}
	case c.mode == ModeTracepoint && tracepointExists("syscalls", "sys_enter_close"):
		keep[iotraceProgTpClose] = true
	}
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

	if c.mode == ModeRawTP {
		// One program pair on sys_enter/sys_exit serves every syscall.
		keep[iotraceProgRtSysEnter], keep[iotraceProgRtSysExit] = true, true
	}
	fallbacks := map[string][]string{} // program prefix → syscalls
	for _, sc := range tracedSyscalls {
		if !c.wantsSyscall(sc) {
			continue // --syscalls left it out: no programs
		}
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

// kernelFunc reports whether kernel function fn can be probed in mode:
// named once in the kernel's BTF (fentry), or in kallsyms (kprobe).
func kernelFunc(mode Mode, fn string, kspec *btf.Spec, syms map[string]uint64) bool {
	if mode == ModeFentry {
		var f *btf.Func
		return kspec.TypeByName(fn, &f) == nil
	}
	return hasSym(syms, fn)
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
func configure(vars *iotraceVariableSpecs, mode Mode, opts Options, cg *Cgroup, eventpollFops uint64) error {
	var comm [16]byte
	copy(comm[:], opts.Comm)
	wakeupBytes := uint64(0)
	if opts.OnCall != nil {
		wakeupBytes = uint64(eventsBufferSize(opts.EventsBuffer) / wakeupFraction)
	}
	for _, s := range []struct {
		vs *ebpf.VariableSpec
		v  any
	}{
		{vars.CfgAll, opts.All},
		{vars.CfgFollow, !opts.NoFollow},
		{vars.CfgComm, comm},
		{vars.CfgCommLen, uint32(len(opts.Comm))},
		{vars.CfgCgroupId, cg.id()},
		{vars.CfgCgroupLevel, cg.level()},
		{vars.CfgEventpollFops, eventpollFops},
		{vars.CfgSelf, uint32(os.Getpid())},
		{vars.CfgEvents, opts.OnCall != nil},
		{vars.CfgWakeupBytes, wakeupBytes},
	} {
		if err := s.vs.Set(s.v); err != nil {
			return fmt.Errorf("setting %s: %w", s.vs.Name, err)
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

// detach closes every link (once, whoever calls first).
func (c *Collector) detach() {
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
}
