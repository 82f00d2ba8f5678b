package collector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// EventKind says what happened to a process.
type EventKind int

// Process events reported by the kernel side (enum proc_event_type).
const (
	EventExit = EventKind(iotraceProcEventTypeEV_EXIT)       // the last thread of a target exited
	EventFork = EventKind(iotraceProcEventTypeEV_FORK)       // a target forked a new process, now a target too
	EventComm = EventKind(iotraceProcEventTypeEV_COMM_MATCH) // a process matched --comm and became a target
	// EventCgroup: a process in the --cgroup target (or below it) became a
	// target at its first traced call.
	EventCgroup = EventKind(iotraceProcEventTypeEV_CGROUP_MATCH)
	// EventExec: a command held at its gate (Options.ExecPids) execed and
	// became a target.
	EventExec = EventKind(iotraceProcEventTypeEV_EXEC)
)

// ProcEvent is one process event.
type ProcEvent struct {
	Kind EventKind
	Pid  int
	Ppid int
}

type procInfo struct {
	comm   string
	exited bool
	where  placement // its cgroup and pid namespace, read once
	// epolls remembers registered counts last read from fdinfo, so that
	// they survive the process.
	epolls map[int]int64
}

// Events delivers process events (exits, forks, --comm matches).
func (c *Collector) Events() <-chan ProcEvent { return c.events }

// AddTarget starts tracing a process (all its threads) and seeds the sizes
// of its existing epoll instances from /proc: once before the process
// becomes a target, so that its first calls find them, and once after, to
// catch epoll_ctl calls made in between.
func (c *Collector) AddTarget(tgid int) error {
	return c.addTarget(tgid, targetNow)
}

// The values of the targets map (bpf/iotrace.bpf.c: TARGET, TARGET_AT_EXEC).
const (
	targetNow    uint8 = 1
	targetAtExec uint8 = 2
)

// addTarget makes tgid a target, now or from its next exec on. A process
// held before its exec keeps nothing of the program before: its epoll
// instances are read when it execs (EventExec).
func (c *Collector) addTarget(tgid int, how uint8) error {
	note := c.noteProcess
	if how == targetAtExec {
		note = c.noteName
	}
	note(tgid)
	one := uint8(1)
	key := uint32(tgid)
	// The slot first: the kernel side tests it before the hash.
	slot := key % c.objs.TargetSlots.MaxEntries()
	if err := c.objs.TargetSlots.Update(&slot, &one, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("adding target %d: %w", tgid, err)
	}
	if err := c.objs.Targets.Update(&key, &how, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("adding target %d: %w", tgid, err)
	}
	note(tgid)
	return nil
}

// noteProcess records a target's name and seeds its epoll instances.
func (c *Collector) noteProcess(tgid int) {
	c.noteName(tgid)
	for epfd, n := range epollFds(tgid) {
		c.seedEpoll(tgid, epfd, n)
	}
}

// noteName records a target's name and where it lives.
func (c *Collector) noteName(tgid int) {
	c.mu.Lock()
	p := c.procs[tgid]
	if p == nil {
		p = &procInfo{epolls: map[int]int64{}}
		c.procs[tgid] = p
	}
	if comm, ok := readComm(tgid, 0); ok {
		p.comm = comm
	}
	p.where.read(tgid)
	c.mu.Unlock()
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

// decodeProcEvent decodes one proc_events record (struct proc_event), as
// cilium/ebpf's examples/ringbuffer does; false if it is too short.
func decodeProcEvent(sample []byte) (ProcEvent, bool) {
	var raw iotraceProcEvent
	if err := binary.Read(bytes.NewReader(sample), binary.NativeEndian, &raw); err != nil {
		return ProcEvent{}, false
	}
	return ProcEvent{Kind: EventKind(raw.Type), Pid: int(raw.Pid), Ppid: int(raw.Ppid)}, true
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
		ev, ok := decodeProcEvent(rec.RawSample)
		if !ok {
			continue
		}
		switch ev.Kind {
		case EventFork, EventComm, EventCgroup, EventExec:
			c.noteProcess(ev.Pid)
		case EventExit:
			c.noteExit(ev.Pid)
		}
		select {
		case c.events <- ev:
		case <-c.done:
			return
		}
	}
}
