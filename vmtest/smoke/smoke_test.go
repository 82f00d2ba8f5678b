// Package smoke is the self-check of the VM test harness (vmtest/run.sh): for
// the probe mode in IOTRACE_PROBE_MODE it loads a tiny counting BPF program
// (built with asm, no clang), attaches it the way that mode needs, makes the
// syscall that should fire it and checks that it did.
//
// With IOTRACE_PROBE_MODE naming a mode, a kernel that refuses it (or a
// missing root) is a skip, except with IOTRACE_CI=1, where it fails. Without
// it (or with "auto") it tries every mode and skips those the kernel refuses;
// with IOTRACE_CI=1 at least one must work.
//
// The attach targets can be overridden to break the check on purpose:
// IOTRACE_SMOKE_FENTRY, IOTRACE_SMOKE_KPROBE (function names),
// IOTRACE_SMOKE_RAWTP (a raw tracepoint) and IOTRACE_SMOKE_TRACEPOINT
// ("group/name").
package smoke

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

var modes = []string{"fentry", "kprobe", "rawtp", "tracepoint"}

func TestProbeMode(t *testing.T) {
	if testing.Short() {
		t.Skip("root test: skipped with -short")
	}
	mode := os.Getenv("IOTRACE_PROBE_MODE")
	if mode != "" && mode != "auto" {
		checkMode(t, mode, os.Getenv("IOTRACE_CI") == "1")
		return
	}
	// auto: take what the kernel allows, but in CI something must work.
	worked := 0
	for _, m := range modes {
		t.Run(m, func(t *testing.T) {
			checkMode(t, m, false)
			worked++ // not reached after a skip or a failure
		})
	}
	if os.Getenv("IOTRACE_CI") == "1" && worked == 0 {
		t.Fatal("no probe mode could attach (IOTRACE_CI=1)")
	}
}

// unavailable fails when strict (IOTRACE_CI=1 with a named mode), else skips.
func unavailable(t *testing.T, strict bool, format string, args ...any) {
	t.Helper()
	if strict {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func checkMode(t *testing.T, mode string, strict bool) {
	if os.Geteuid() != 0 {
		unavailable(t, strict, "%s: needs root", mode)
	}
	counter, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "smoke_count", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1,
	})
	if err != nil {
		unavailable(t, strict, "creating the counter map: %v", err)
	}
	defer counter.Close()

	// *counter[0] += 1; return 0
	insns := asm.Instructions{
		asm.LoadMapPtr(asm.R1, counter.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
	spec := &ebpf.ProgramSpec{Name: "smoke_" + mode, Instructions: insns, License: "GPL"}

	var (
		target  string
		trigger func(t *testing.T)
		attach  func(*ebpf.Program) (link.Link, error)
	)
	switch mode {
	case "fentry":
		target = env("IOTRACE_SMOKE_FENTRY", "do_sys_poll")
		spec.Type, spec.AttachType, spec.AttachTo = ebpf.Tracing, ebpf.AttachTraceFEntry, target
		attach = func(p *ebpf.Program) (link.Link, error) {
			return link.AttachTracing(link.TracingOptions{Program: p})
		}
		trigger = pollOnce
	case "kprobe":
		target = env("IOTRACE_SMOKE_KPROBE", "ep_poll_callback")
		spec.Type = ebpf.Kprobe
		attach = func(p *ebpf.Program) (link.Link, error) { return link.Kprobe(target, p, nil) }
		trigger = epollWakeup
	case "rawtp":
		target = env("IOTRACE_SMOKE_RAWTP", "sys_enter")
		spec.Type, spec.AttachType, spec.AttachTo = ebpf.Tracing, ebpf.AttachTraceRawTp, target
		attach = func(p *ebpf.Program) (link.Link, error) {
			return link.AttachTracing(link.TracingOptions{Program: p})
		}
		trigger = pollOnce
	case "tracepoint":
		target = env("IOTRACE_SMOKE_TRACEPOINT", "syscalls/sys_enter_poll")
		group, name, _ := strings.Cut(target, "/")
		spec.Type = ebpf.TracePoint
		attach = func(p *ebpf.Program) (link.Link, error) { return link.Tracepoint(group, name, p, nil) }
		trigger = pollOnce
	default:
		t.Fatalf("unknown IOTRACE_PROBE_MODE %q (want one of %v)", mode, modes)
	}

	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		unavailable(t, strict, "%s: loading a program for %s: %v", mode, target, err)
	}
	defer prog.Close()
	l, err := attach(prog)
	if err != nil {
		unavailable(t, strict, "%s: attaching to %s: %v", mode, target, err)
	}
	defer l.Close()

	// Other processes may fire the probe too; ours must make it move.
	deadline := time.Now().Add(5 * time.Second)
	for {
		trigger(t)
		var n uint64
		if err := counter.Lookup(uint32(0), &n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			t.Logf("%s: attached to %s, fired %d time(s)", mode, target, n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: attached to %s but it never fired", mode, target)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pollOnce makes a poll(2) on a readable pipe (do_sys_poll, sys_enter_poll).
func pollOnce(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	if _, err := syscall.Write(p[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	type pollFd struct {
		fd             int32
		events, revent int16
	}
	fds := []pollFd{{fd: int32(p[0]), events: 0x1 /* POLLIN */}}
	n, _, errno := syscall.Syscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&fds[0])), 1, 0)
	if errno != 0 || n != 1 {
		t.Fatalf("poll: n=%d err=%v", n, errno)
	}
}

// epollWakeup makes a pipe watched by an epoll instance readable, which runs
// the kernel's ep_poll_callback.
func epollWakeup(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ep)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p[0])}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		t.Fatal(err)
	}
	if _, err := syscall.Write(p[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	evs := make([]syscall.EpollEvent, 1)
	for {
		n, err := syscall.EpollWait(ep, evs, 1000)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || n != 1 {
			t.Fatalf("epoll_wait: n=%d err=%v", n, err)
		}
		return
	}
}
