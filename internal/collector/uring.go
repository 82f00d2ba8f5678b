package collector

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/iotrace/iotrace/internal/model"
)

// The io_uring probes: a second BPF object (bpf/uring.bpf.c) on the
// io_uring tracepoints, sharing the main object's target maps. Tracepoints
// fire only when some process on the machine uses io_uring, so the probes
// cost a process that never sets up a ring nothing; they are attached
// whenever the kernel has them (Options cannot turn them on or off yet).

// uringTracepoints are the io_uring tracepoints the object uses, in the
// order of UringFigures' availability notes. submit has two names.
var uringTracepoints = []struct{ figure, prog string }{
	{"rings_created", "io_uring_create"},
	{"submitted", "io_uring_submit_req|io_uring_submit_sqe"},
	{"completed", "io_uring_complete"},
	{"async_work", "io_uring_queue_async_work"},
	{"poll_armed", "io_uring_poll_arm"},
	{"cqring_waits", "io_uring_cqring_wait"},
	{"cqe_overflows", "io_uring_cqe_overflow"},
}

type uringProbes struct {
	coll  *ebpf.Collection
	objs  uringObjects
	links []link.Link
	// unavailable: figure → why the kernel cannot give it.
	unavailable map[string]string
	// disabled is set when kernel.io_uring_disabled forbids rings.
	disabled string
}

// startUring loads and attaches the io_uring object. An error is returned
// only for a fault of iotrace's; a kernel without io_uring is a note.
func (c *Collector) startUring() error {
	u := &uringProbes{unavailable: map[string]string{}}
	c.uring = u
	if b, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); err == nil {
		switch strings.TrimSpace(string(b)) {
		case "1":
			u.disabled = "kernel.io_uring_disabled=1: only members of kernel.io_uring_group may create rings"
		case "2":
			u.disabled = "kernel.io_uring_disabled=2: io_uring is disabled for every process"
		}
	}
	if !tracepointExists("io_uring", "io_uring_create") {
		for _, tp := range uringTracepoints {
			u.unavailable[tp.figure] = "the kernel has no io_uring tracepoints (CONFIG_IO_URING off, or tracefs not mounted)"
		}
		return nil
	}
	spec, err := loadUring()
	if err != nil {
		return fmt.Errorf("loading the io_uring object spec: %w", err)
	}
	if err := spec.Variables["cfg_all"].Set(c.opts.All); err != nil {
		return err
	}
	if err := spec.Variables["cfg_self"].Set(uint32(os.Getpid())); err != nil {
		return err
	}
	progs := map[string]string{ // tracepoint → program
		"io_uring_create":           "tp_uring_create",
		"io_uring_submit_req":       "tp_uring_submit_req",
		"io_uring_submit_sqe":       "tp_uring_submit_sqe",
		"io_uring_complete":         "tp_uring_complete",
		"io_uring_queue_async_work": "tp_uring_queue_async_work",
		"io_uring_poll_arm":         "tp_uring_poll_arm",
		"io_uring_cqring_wait":      "tp_uring_cqring_wait",
		"io_uring_cqe_overflow":     "tp_uring_cqe_overflow",
	}
	attach := map[string]string{}
	for _, tp := range uringTracepoints {
		found := false
		for _, name := range strings.Split(tp.prog, "|") {
			if !found && tracepointExists("io_uring", name) {
				attach[name] = progs[name]
				found = true
			}
		}
		if !found {
			u.unavailable[tp.figure] = "this kernel has no io_uring/" + strings.ReplaceAll(tp.prog, "|", " or ") + " tracepoint"
		}
	}
	// Prune the programs of absent tracepoints: their CO-RE types are absent too.
	for tp, prog := range progs {
		if _, ok := attach[tp]; !ok {
			delete(spec.Programs, prog)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		MapReplacements: map[string]*ebpf.Map{
			"targets":      c.objs.Targets,
			"target_slots": c.objs.TargetSlots,
		},
	})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("loading the io_uring programs: %+v", ve)
		}
		return fmt.Errorf("loading the io_uring programs: %w", err)
	}
	u.objs.UringRings = coll.Maps["uring_rings"]
	u.objs.UringOwner = coll.Maps["uring_owner"]
	u.objs.UringLost = coll.Maps["uring_lost"]
	u.coll = coll
	for tp, prog := range attach {
		l, err := link.Tracepoint("io_uring", tp, coll.Programs[prog], nil)
		if err != nil {
			return fmt.Errorf("attaching io_uring/%s: %w", tp, err)
		}
		u.links = append(u.links, l)
	}
	return nil
}

func (u *uringProbes) close() {
	if u == nil {
		return
	}
	for _, l := range u.links {
		l.Close()
	}
	u.links = nil
	if u.coll != nil {
		u.coll.Close()
		u.coll = nil
	}
}

// UringRing is one ring's io_uring activity, as the tracepoints counted it.
type UringRing struct {
	Ctx          uint64 // the kernel's struct io_ring_ctx address: an identity only
	Created      bool   // io_uring_create was seen (false: created before iotrace started)
	SQEntries    uint32
	CQEntries    uint32
	SetupFlags   uint32
	Submitted    uint64
	Completed    uint64
	CompletedErr uint64
	// CompletedMore: CQEs with IORING_CQE_F_MORE (a multishot request that stays armed).
	CompletedMore uint64
	AsyncWork     uint64 // requests queued to io-wq workers
	AsyncHashed   uint64 // of which on a hashed queue
	PollArmed     uint64
	CQRingWaits   uint64
	CQEOverflows  uint64
	// Ops: submissions by opcode name (UringOpName).
	Ops map[string]uint64
}

// UringProcess is a target's io_uring activity: its rings and their sum.
type UringProcess struct {
	PID   int
	Rings []UringRing // by Ctx
	Total UringRing   // the sum (Ctx 0); Created counts as any
	// RingsCreated is the number of io_uring_create events seen.
	RingsCreated int
}

// UringReport is what the io_uring probes saw.
type UringReport struct {
	Processes map[int]*UringProcess
	// Unavailable: figure → why this kernel cannot give it.
	Unavailable map[string]string
	// Disabled is set when kernel.io_uring_disabled forbids rings.
	Disabled string
	Lost     uint64
}

// Note says why a process has no io_uring figures, or "" if it has some.
func (r UringReport) Note(pid int) string {
	if _, ok := r.Processes[pid]; ok {
		return ""
	}
	if r.Disabled != "" {
		return r.Disabled
	}
	if _, ok := r.Unavailable["submitted"]; ok {
		return r.Unavailable["submitted"]
	}
	return "no io_uring ring seen: the process has not used io_uring since tracing started"
}

// Uring reads the io_uring maps.
func (c *Collector) Uring() (UringReport, error) {
	r := UringReport{Processes: map[int]*UringProcess{}, Unavailable: map[string]string{}}
	u := c.uring
	if u == nil {
		return r, nil
	}
	for k, v := range u.unavailable {
		r.Unavailable[k] = v
	}
	r.Disabled = u.disabled
	if u.objs.UringRings == nil {
		return r, nil
	}
	var zero uint32
	_ = u.objs.UringLost.Lookup(&zero, &r.Lost)
	var key uringUringKey
	var st uringUringStats
	it := u.objs.UringRings.Iterate()
	for it.Next(&key, &st) {
		p := r.Processes[int(key.Tgid)]
		if p == nil {
			p = &UringProcess{PID: int(key.Tgid), Total: UringRing{Ops: map[string]uint64{}}}
			r.Processes[int(key.Tgid)] = p
		}
		ring := UringRing{
			Ctx: key.Ctx, Created: st.RingsCreated > 0,
			SQEntries: st.SqEntries, CQEntries: st.CqEntries, SetupFlags: st.SetupFlags,
			Submitted: st.Submitted, Completed: st.Completed, CompletedErr: st.CompletedErr,
			CompletedMore: st.CompletedMore, AsyncWork: st.AsyncWork, AsyncHashed: st.AsyncHashed,
			PollArmed: st.PollArmed, CQRingWaits: st.CqringWaits, CQEOverflows: st.CqeOverflows,
			Ops: map[string]uint64{},
		}
		for op, n := range st.Ops {
			if n > 0 {
				ring.Ops[UringOpName(op)] += n
			}
		}
		p.RingsCreated += int(st.RingsCreated)
		p.Rings = append(p.Rings, ring)
		t := &p.Total
		t.Created = t.Created || ring.Created
		t.Submitted += ring.Submitted
		t.Completed += ring.Completed
		t.CompletedErr += ring.CompletedErr
		t.CompletedMore += ring.CompletedMore
		t.AsyncWork += ring.AsyncWork
		t.AsyncHashed += ring.AsyncHashed
		t.PollArmed += ring.PollArmed
		t.CQRingWaits += ring.CQRingWaits
		t.CQEOverflows += ring.CQEOverflows
		for k, n := range ring.Ops {
			t.Ops[k] += n
		}
	}
	if err := it.Err(); err != nil {
		return r, fmt.Errorf("reading the io_uring stats: %w", err)
	}
	for _, p := range r.Processes {
		sort.Slice(p.Rings, func(i, j int) bool { return p.Rings[i].Ctx < p.Rings[j].Ctx })
	}
	return r, nil
}

// uringOps names the opcodes of include/uapi/linux/io_uring.h (enum
// io_uring_op), a bounded label set; the BPF side folds opcodes >= 63 into 63.
var uringOps = []string{
	"nop", "readv", "writev", "fsync", "read_fixed", "write_fixed", "poll_add",
	"poll_remove", "sync_file_range", "sendmsg", "recvmsg", "timeout",
	"timeout_remove", "accept", "async_cancel", "link_timeout", "connect",
	"fallocate", "openat", "close", "files_update", "statx", "read", "write",
	"fadvise", "madvise", "send", "recv", "openat2", "epoll_ctl", "splice",
	"provide_buffers", "remove_buffers", "tee", "shutdown", "renameat",
	"unlinkat", "mkdirat", "symlinkat", "linkat", "msg_ring", "fsetxattr",
	"setxattr", "fgetxattr", "getxattr", "socket", "uring_cmd", "send_zc",
	"sendmsg_zc", "read_multishot", "waitid", "futex_wait", "futex_wake",
	"futex_waitv", "fixed_fd_install", "ftruncate", "bind", "listen",
	"recv_zc", "epoll_wait", "readv_fixed", "writev_fixed", "pipe",
}

// UringOpName is the label of an io_uring opcode.
func UringOpName(op int) string {
	if op >= 63 {
		return "other"
	}
	if op < len(uringOps) {
		return uringOps[op]
	}
	return "op_" + strconv.Itoa(op)
}

// model gives a process's figures for the snapshot, or nil and the note.
func (r UringReport) model(pid int) (*model.UringStats, string) {
	p, ok := r.Processes[pid]
	if !ok {
		return nil, r.Note(pid)
	}
	t := p.Total
	return &model.UringStats{
		Rings: len(p.Rings), RingsCreated: uint64(p.RingsCreated),
		Submitted: t.Submitted, Completed: t.Completed, CompletedErr: t.CompletedErr,
		CompletedMore: t.CompletedMore, AsyncWork: t.AsyncWork, AsyncHashed: t.AsyncHashed,
		PollArmed: t.PollArmed, CQRingWaits: t.CQRingWaits, CQEOverflows: t.CQEOverflows,
		Ops: t.Ops,
	}, ""
}
