package main

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// tracedSyscalls are the syscalls iotrace attaches enter and exit programs
// to (internal/collector: tracedSyscalls).
var tracedSyscalls = []string{
	"select", "pselect6", "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	"epoll_ctl", "epoll_create", "epoll_create1",
}

// schedTracepoints are the BTF tracepoints iotrace attaches in every mode.
var schedTracepoints = []string{"sched_switch", "sched_wakeup", "sched_process_fork", "sched_process_exit"}

// floorKind says which empty programs a floor attaches.
type floorKind string

const (
	floorTracepoint floorKind = "tracepoint"     // sys_enter_X/sys_exit_X for the 10 syscalls
	floorRaw        floorKind = "raw_tracepoint" // raw sys_enter/sys_exit (every syscall)
	floorFentry     floorKind = "fentry"         // fentry/fexit on __x64_sys_X
	floorKprobe     floorKind = "kprobe"         // kprobe/kretprobe on __x64_sys_X
)

// emptyProgram is "return 0".
func emptyProgram() asm.Instructions {
	return asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
}

// floor holds empty programs attached where iotrace attaches its own: the
// least any tracer on those attach points can cost.
type floor struct {
	progs []*ebpf.Program
	links []link.Link
}

// attachFloor loads and attaches the empty programs of kind, plus empty
// tp_btf programs on the four scheduler tracepoints.
func attachFloor(kind floorKind) (_ *floor, err error) {
	f := &floor{}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	load := func(spec *ebpf.ProgramSpec) (*ebpf.Program, error) {
		spec.Instructions = emptyProgram()
		spec.License = "GPL"
		p, err := ebpf.NewProgram(spec)
		if err != nil {
			return nil, fmt.Errorf("loading empty %s program %s: %w", spec.Type, spec.Name, err)
		}
		f.progs = append(f.progs, p)
		return p, nil
	}
	add := func(l link.Link, err error) error {
		if err != nil {
			return err
		}
		f.links = append(f.links, l)
		return nil
	}

	switch kind {
	case floorTracepoint:
		p, err := load(&ebpf.ProgramSpec{Name: "floor_tp", Type: ebpf.TracePoint})
		if err != nil {
			return nil, err
		}
		for _, sc := range tracedSyscalls {
			for _, dir := range []string{"sys_enter_", "sys_exit_"} {
				if err := add(link.Tracepoint("syscalls", dir+sc, p, nil)); err != nil {
					return nil, fmt.Errorf("attaching tracepoint syscalls/%s%s: %w", dir, sc, err)
				}
			}
		}
	case floorRaw:
		p, err := load(&ebpf.ProgramSpec{Name: "floor_raw", Type: ebpf.RawTracepoint})
		if err != nil {
			return nil, err
		}
		for _, tp := range []string{"sys_enter", "sys_exit"} {
			if err := add(link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp, Program: p})); err != nil {
				return nil, fmt.Errorf("attaching raw tracepoint %s: %w", tp, err)
			}
		}
	case floorFentry:
		for _, sc := range tracedSyscalls {
			for _, at := range []ebpf.AttachType{ebpf.AttachTraceFEntry, ebpf.AttachTraceFExit} {
				p, err := load(&ebpf.ProgramSpec{Name: "floor_fe", Type: ebpf.Tracing, AttachType: at, AttachTo: "__x64_sys_" + sc})
				if err != nil {
					return nil, err
				}
				if err := add(link.AttachTracing(link.TracingOptions{Program: p})); err != nil {
					return nil, fmt.Errorf("attaching %s to __x64_sys_%s: %w", at, sc, err)
				}
			}
		}
	case floorKprobe:
		p, err := load(&ebpf.ProgramSpec{Name: "floor_kp", Type: ebpf.Kprobe})
		if err != nil {
			return nil, err
		}
		for _, sc := range tracedSyscalls {
			if err := add(link.Kprobe("__x64_sys_"+sc, p, nil)); err != nil {
				return nil, fmt.Errorf("attaching kprobe __x64_sys_%s: %w", sc, err)
			}
			if err := add(link.Kretprobe("__x64_sys_"+sc, p, nil)); err != nil {
				return nil, fmt.Errorf("attaching kretprobe __x64_sys_%s: %w", sc, err)
			}
		}
	default:
		return nil, fmt.Errorf("unknown floor %q", kind)
	}

	for _, tp := range schedTracepoints {
		p, err := load(&ebpf.ProgramSpec{Name: "floor_btf", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: tp})
		if err != nil {
			return nil, err
		}
		if err := add(link.AttachTracing(link.TracingOptions{Program: p})); err != nil {
			return nil, fmt.Errorf("attaching tp_btf/%s: %w", tp, err)
		}
	}
	return f, nil
}

// Close detaches everything, concurrently: each detach waits for an RCU
// grace period.
func (f *floor) Close() {
	var wg sync.WaitGroup
	for _, l := range f.links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Close()
		}()
	}
	wg.Wait()
	for _, p := range f.progs {
		p.Close()
	}
	f.links, f.progs = nil, nil
}
