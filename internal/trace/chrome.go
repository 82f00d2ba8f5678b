package trace

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/iotrace/iotrace/internal/model"
)

// Chrome Trace Event format (the JSON object form), as Perfetto and
// chrome://tracing read it: one track per traced thread with a slice per
// multiplexing call, an instant at each call's last wakeup, and per-process
// counter tracks of calls/s and bytes/s per model. The iotrace document
// rides along under "iotrace" so `iotrace report` can read the file back.
//
// The slices are written as the calls arrive (per thread in call order),
// the counters and the process and thread names at the end; both viewers
// sort the events themselves.

type chromeEvent struct {
	Name  string   `json:"name"`
	Cat   string   `json:"cat,omitempty"`
	Phase string   `json:"ph"`
	Ts    float64  `json:"ts"` // microseconds since the run started
	Dur   *float64 `json:"dur,omitempty"`
	Pid   int      `json:"pid"`
	Tid   int      `json:"tid,omitempty"`
	Scope string   `json:"s,omitempty"`
	Args  any      `json:"args,omitempty"`
}

// chromeCallArgs are a slice's figures, in the key order a map would be
// written in.
type chromeCallArgs struct {
	Arg              int     `json:"arg"`
	BytesIn          uint64  `json:"bytes_in"`
	BytesOut         uint64  `json:"bytes_out"`
	FdPolls          uint64  `json:"fd_polls"`
	Fds              *uint64 `json:"fds,omitempty"`
	Ready            *int64  `json:"ready,omitempty"`
	ReadyListAtEntry *int    `json:"ready_list_at_entry,omitempty"`
	Ret              int64   `json:"ret"`
	Sleeps           uint32  `json:"sleeps"`
	Wakeups          uint32  `json:"wakeups"`
}

// chromeFile is what the reader decodes.
type chromeFile struct {
	TraceEvents     []chromeEvent   `json:"traceEvents"`
	DisplayTimeUnit string          `json:"displayTimeUnit"`
	Iotrace         *model.Document `json:"iotrace"`
}

func micros(t, start time.Time) float64 {
	return float64(t.Sub(start).Nanoseconds()) / 1e3
}

// chromeCall returns a call's slice and, if the kernel woke the thread
// inside it, the instant of its last wakeup.
func chromeCall(e *model.CallEvent, start time.Time) []chromeEvent {
	dur := float64(e.DurationNs) / 1e3
	args := &chromeCallArgs{Arg: e.Arg, BytesIn: e.BytesIn, BytesOut: e.BytesOut, FdPolls: e.FdPolls,
		Fds: e.FdsWatched, ReadyListAtEntry: e.ReadyListAtEntry, Ret: e.Ret, Sleeps: e.Sleeps, Wakeups: e.Wakeups}
	if e.Ret > 0 && e.Syscall.Waits() {
		ready := e.Ret
		args.Ready = &ready
	}
	evs := []chromeEvent{{Name: e.Syscall.String(), Cat: string(e.Syscall.Family()), Phase: "X",
		Ts: micros(e.Time, start), Dur: &dur, Pid: e.Pid, Tid: e.Tid, Args: args}}
	if e.LastWakeup != nil {
		evs = append(evs, chromeEvent{Name: "wakeup", Cat: "sched", Phase: "i", Scope: "t",
			Ts: micros(*e.LastWakeup, start), Pid: e.Pid, Tid: e.Tid})
	}
	return evs
}

// chromeEnd returns what is known at the end of the run: the counter
// points of each interval, then the process and thread names.
func chromeEnd(doc *model.Document, start time.Time) []chromeEvent {
	var evs []chromeEvent
	for _, iv := range doc.Intervals {
		secs := iv.End.Sub(iv.Start).Seconds()
		if secs <= 0 {
			continue
		}
		for _, p := range iv.Processes {
			calls, bytes := map[string]any{}, map[string]any{}
			for fam, s := range p.Syscalls.ByFamily() {
				calls[string(fam)] = float64(s.Calls) / secs
				bytes[string(fam)] = float64(s.BytesIn+s.BytesOut) / secs
			}
			ts := micros(iv.End, start)
			evs = append(evs,
				chromeEvent{Name: "calls/s", Phase: "C", Ts: ts, Pid: p.Pid, Args: calls},
				chromeEvent{Name: "bytes/s", Phase: "C", Ts: ts, Pid: p.Pid, Args: bytes})
		}
	}
	for _, p := range doc.Processes {
		evs = append(evs, chromeEvent{Name: "process_name", Phase: "M", Pid: p.Pid,
			Args: map[string]any{"name": fmt.Sprintf("%s (%d)", p.Comm, p.Pid)}})
		for _, t := range p.Threads {
			evs = append(evs, chromeEvent{Name: "thread_name", Phase: "M", Pid: p.Pid, Tid: t.Tid,
				Args: map[string]any{"name": fmt.Sprintf("%s (%d)", t.Comm, t.Tid)}})
		}
	}
	return evs
}

// chromeWriter writes a Chrome trace as the run goes: the trace events
// array first, one event a line, then the iotrace document, whose events
// array is copied from spill, where the events were kept as they came.
type chromeWriter struct {
	w     io.Writer
	start time.Time
	n     int // trace events written
	buf   []byte
}

func (c *chromeWriter) header() error {
	_, err := io.WriteString(c.w, `{"traceEvents":[`)
	return err
}

func (c *chromeWriter) write(evs []chromeEvent) error {
	for k := range evs {
		c.buf = c.buf[:0]
		if c.n > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = append(c.buf, '\n')
		j, err := json.Marshal(&evs[k])
		if err != nil {
			return err
		}
		c.buf = append(c.buf, j...)
		if _, err := c.w.Write(c.buf); err != nil {
			return err
		}
		c.n++
	}
	return nil
}

// end writes the counters and names, then the document with events (a
// comma-separated list of event objects) as its events array.
func (c *chromeWriter) end(doc *model.Document, events io.Reader, nEvents int) error {
	if err := c.write(chromeEnd(doc, c.start)); err != nil {
		return err
	}
	if _, err := io.WriteString(c.w, "\n],\"displayTimeUnit\":\"ns\",\"iotrace\":"); err != nil {
		return err
	}
	if err := writeDocument(c.w, doc, events, nEvents); err != nil {
		return err
	}
	_, err := io.WriteString(c.w, "}\n")
	return err
}
