package collector

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Mode is how iotrace attaches to the syscalls.
type Mode string

// The probe modes. ModeAuto picks the cheapest one the kernel allows.
const (
	ModeAuto       Mode = "auto"
	ModeFentry     Mode = "fentry"
	ModeKprobe     Mode = "kprobe"
	ModeRawTP      Mode = "rawtp"
	ModeTracepoint Mode = "tracepoint"
)

// tracesEpCallback reports whether mode reaches ep_poll_callback, a kernel
// function: only fentry and kprobe programs can.
func (m Mode) tracesEpCallback() bool { return m == ModeFentry || m == ModeKprobe }

// ParseMode validates a --probe-mode value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeFentry, ModeKprobe, ModeRawTP, ModeTracepoint:
		return m, nil
	}
	return "", fmt.Errorf("invalid probe mode %q (want auto, fentry, kprobe, rawtp or tracepoint)", s)
}

// Check is one capability of the running kernel, as iotrace found it.
type Check struct {
	Name   string
	OK     bool
	Detail string // the kernel's reason when !OK, or what was found
}

// probeSymbol is the function the fentry and kprobe checks attach to: the
// x86_64 wrapper of poll(2), which iotrace itself uses in those modes.
const probeSymbol = "__x64_sys_poll"

// tracefsDirs are where the kernel's tracing file system may be mounted.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

func tracefsMounted() bool {
	for _, d := range tracefsDirs {
		if _, err := os.Stat(d + "/events"); err == nil {
			return true
		}
	}
	return false
}

// ensureTracefs mounts tracefs at /sys/kernel/tracing when no tracefs is
// mounted; syscall tracepoints are only reachable through it.
func ensureTracefs() error {
	if tracefsMounted() {
		return nil
	}
	if err := unix.Mount("nodev", tracefsDirs[0], "tracefs", 0, ""); err != nil {
		return fmt.Errorf("tracefs is not mounted and mounting it failed (%v); run: mount -t tracefs nodev /sys/kernel/tracing", err)
	}
	return nil
}

func retZero() asm.Instructions {
	return asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
}

// tryAttach loads a program that does nothing, attaches it with attach and
// detaches it again: the only reliable way to know whether the kernel allows
// an attach type (fentry, for one, loads only where function tracing is
// permitted). The detach happens in the background: detaching a tracepoint
// waits for RCU grace periods (75 ms of iotrace's start-up here), and the
// answer is known once the attach succeeded.
func tryAttach(spec *ebpf.ProgramSpec, attach func(*ebpf.Program) (link.Link, error)) error {
	spec.Instructions, spec.License = retZero(), "GPL"
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return err
	}
	l, err := attach(prog)
	if err != nil {
		prog.Close()
		return err
	}
	go func() {
		l.Close()
		prog.Close()
	}()
	return nil
}

func attachTracing(p *ebpf.Program) (link.Link, error) {
	return link.AttachTracing(link.TracingOptions{Program: p})
}

func checkFentry() error {
	return tryAttach(&ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFEntry, AttachTo: probeSymbol}, attachTracing)
}

func checkKprobe() error {
	return tryAttach(&ebpf.ProgramSpec{Type: ebpf.Kprobe}, func(p *ebpf.Program) (link.Link, error) {
		return link.Kprobe(probeSymbol, p, nil)
	})
}

func checkTracepoint() error {
	if err := ensureTracefs(); err != nil {
		return err
	}
	return tryAttach(&ebpf.ProgramSpec{Type: ebpf.TracePoint}, func(p *ebpf.Program) (link.Link, error) {
		return link.Tracepoint("syscalls", "sys_enter_poll", p, nil)
	})
}

// checkRawTP attaches to the raw sys_enter tracepoint (BTF-typed), which
// rawtp mode uses for every traced syscall.
func checkRawTP() error {
	return tryAttach(&ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sys_enter"}, attachTracing)
}

func checkBTFTracepoint() error {
	return tryAttach(&ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sched_wakeup"}, attachTracing)
}

// checkPrivileges fails unless the process may load tracing programs: root,
// or CAP_BPF with CAP_PERFMON (or CAP_SYS_ADMIN).
func checkPrivileges() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	has := func(c int) bool { return data[c/32].Effective&(1<<(uint(c)%32)) != 0 }
	if has(unix.CAP_SYS_ADMIN) || (has(unix.CAP_BPF) && has(unix.CAP_PERFMON)) {
		return nil
	}
	return errors.New("iotrace needs root, or the CAP_BPF and CAP_PERFMON capabilities (try: sudo iotrace ...)")
}

func describe(err error) string {
	if err == nil {
		return "yes"
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	// cilium/ebpf suggests the memlock rlimit on EPERM; kernels since 5.11
	// account BPF memory to cgroups, so on them that hint misleads.
	s = strings.Replace(s, " (MEMLOCK may be too low, consider rlimit.RemoveMemlock)", "", 1)
	if strings.Contains(s, "kprobe_events: no such file") {
		s += " (kernel built without CONFIG_KPROBES?)"
	}
	return s
}

// Probe examines the running kernel and reports each capability iotrace
// depends on, the mode ModeAuto would choose, and why.
func Probe() []Check {
	var checks []Check
	add := func(name string, err error) {
		checks = append(checks, Check{Name: name, OK: err == nil, Detail: describe(err)})
	}
	add("privileges", checkPrivileges())
	_, err := btf.LoadKernelSpec()
	add("btf", err)
	add("ringbuf", features.HaveMapType(ebpf.RingBuf))
	if err := ensureTracefs(); err != nil {
		add("tracefs", err)
	} else {
		add("tracefs", nil)
	}
	add("tracepoint", checkTracepoint())
	add("btf_tracepoint", checkBTFTracepoint())
	add("rawtp", checkRawTP())
	add("fentry", checkFentry())
	add("kprobe", checkKprobe())
	mode, why, err := Choose(ModeAuto)
	if err != nil {
		checks = append(checks, Check{Name: "auto", OK: false, Detail: describe(err)})
	} else {
		checks = append(checks, Check{Name: "auto", OK: true, Detail: fmt.Sprintf("%s (%s)", mode, why)})
	}
	return checks
}

// Choose resolves the requested mode against the kernel. For ModeAuto it
// returns the first of fentry, kprobe, tracepoint and rawtp that works, with the
// reasons the others were passed over; for a forced mode it returns an error
// naming the mode and the kernel's refusal.
func Choose(req Mode) (Mode, string, error) {
	if err := checkPrivileges(); err != nil {
		return "", "", err
	}
	if _, err := btf.LoadKernelSpec(); err != nil {
		return "", "", fmt.Errorf("kernel BTF is not available (%v): iotrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y", describe(err))
	}
	if err := checkBTFTracepoint(); err != nil {
		return "", "", fmt.Errorf("BTF tracepoints (tp_btf/sched_*) cannot be attached: %s", describe(err))
	}
	// Mount tracefs before any check: cilium/ebpf looks for it once per
	// process, so a kprobe check made while it was missing would make the
	// tracepoint check fail too, and auto would fall back to rawtp on a
	// freshly booted machine. A failed mount is reported by the checks.
	_ = ensureTracefs()
	tries := map[Mode]func() error{ModeFentry: checkFentry, ModeKprobe: checkKprobe, ModeRawTP: checkRawTP, ModeTracepoint: checkTracepoint}
	if req != ModeAuto {
		if err := tries[req](); err != nil {
			return "", "", fmt.Errorf("probe mode %s refused by the kernel: %s", req, describe(err))
		}
		return req, "requested", nil
	}
	var why []string
	// fentry and kprobe cost only the traced syscalls. rawtp skips the
	// per-syscall tracepoints' record building, so the traced calls and
	// other processes' polls are cheaper than with tracepoints, but its
	// programs run on every syscall of the machine, which then pays about
	// +100 ns more (BENCHMARKS.md): on a machine making many other
	// syscalls that costs more in all, so auto takes it only where the
	// syscall tracepoints are missing.
	for _, m := range []Mode{ModeFentry, ModeKprobe, ModeTracepoint, ModeRawTP} {
		err := tries[m]()
		if err == nil {
			if len(why) == 0 {
				return m, "cheapest mode available", nil
			}
			return m, strings.Join(why, "; "), nil
		}
		why = append(why, fmt.Sprintf("%s: %s", m, describe(err)))
	}
	return "", "", fmt.Errorf("no probe mode works on this kernel: %s", strings.Join(why, "; "))
}
