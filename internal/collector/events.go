package collector

import (
	"errors"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/model"
)

// DefaultEventsBuffer is the size of the per-call event ring buffer.
const DefaultEventsBuffer = 16 << 20

// The kernel side wakes the per-call event reader only when the backlog
// crosses a multiple of 1/wakeupFraction of the ring buffer (a wakeup per
// record cost microseconds per traced call); the reader also drains it
// every callPollInterval.
const (
	wakeupFraction   = 8
	callPollInterval = 10 * time.Millisecond
)

// eventsBufferSize rounds a requested ring buffer size to what the kernel
// accepts: a power of two, at least one page.
func eventsBufferSize(n int) uint32 {
	if n <= 0 {
		n = DefaultEventsBuffer
	}
	size := uint32(os.Getpagesize())
	for int(size) < n && size < 1<<30 {
		size <<= 1
	}
	return size
}

// monotonicOffset converts CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns)
// to wall-clock time.
func monotonicOffset() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(time.Now().UnixNano() - ts.Nano())
}

func decodeCallEvent(raw *iotraceCallEvent, offset time.Duration) model.CallEvent {
	ev := model.CallEvent{
		Time:       time.Unix(0, int64(raw.StartNs)+int64(offset)),
		Pid:        int(raw.Tgid),
		Tid:        int(raw.Tid),
		Syscall:    model.Syscall(raw.Sc),
		DurationNs: raw.DurationNs,
		Ret:        raw.Ret,
		Arg:        int(raw.Arg),
		FdPolls:    raw.FdPolls,
		BytesIn:    raw.BytesIn,
		BytesOut:   raw.BytesOut,
		Sleeps:     raw.Sleeps,
		Wakeups:    raw.Wakeups,
		BlockedNs:  raw.BlockedNs,
	}
	if raw.LastWakeupNs != 0 {
		w := time.Unix(0, int64(raw.LastWakeupNs)+int64(offset))
		ev.LastWakeup = &w
	}
	if raw.FdsUnknown == 0 {
		v := raw.FdsWatched
		ev.FdsWatched = &v
	}
	if sc := ev.Syscall; sc == model.EpollWait || sc == model.EpollPwait || sc == model.EpollPwait2 || sc == model.EpollCtl {
		fd := int(raw.Epfd)
		ev.Epfd = &fd
	}
	if raw.RlEntry >= 0 {
		a, b := int(raw.RlEntry), int(raw.RlExit)
		ev.ReadyListAtEntry, ev.ReadyListAtExit = &a, &b
	}
	return ev
}

// readCalls delivers per-call events to opts.OnCall until the reader is
// closed, or, once Close has flushed it, until the buffer is empty.
func (c *Collector) readCalls() {
	defer close(c.callsDone)
	offset := monotonicOffset()
	var rec ringbuf.Record
	c.callReader.SetDeadline(time.Now().Add(callPollInterval))
	for {
		if err := c.callReader.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, ringbuf.ErrFlushed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.callReader.SetDeadline(time.Now().Add(callPollInterval))
			}
			continue
		}
		if len(rec.RawSample) < int(unsafe.Sizeof(iotraceCallEvent{})) {
			continue
		}
		raw := (*iotraceCallEvent)(unsafe.Pointer(&rec.RawSample[0]))
		c.opts.OnCall(decodeCallEvent(raw, offset))
	}
}
