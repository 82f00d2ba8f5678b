package trace

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/iotrace/iotrace/internal/model"
)

// Chrome Trace Event format (the JSON object form), as Perfetto and
// chrome://tracing read it: one track per traced thread with a slice per
// multiplexing call, an instant at each call's last wakeup, and per-process
// counter tracks of calls/s and bytes/s per model. The iotrace document
// rides along under "iotrace" so `iotrace report` can read the file back.

type chromeEvent struct {
	Name  string         `json:"name"`
	Cat   string         `json:"cat,omitempty"`
	Phase string         `json:"ph"`
	Ts    float64        `json:"ts"` // microseconds since the run started
	Dur   *float64       `json:"dur,omitempty"`
	Pid   int            `json:"pid"`
	Tid   int            `json:"tid,omitempty"`
	Scope string         `json:"s,omitempty"`
	Args  map[string]any `json:"args,omitempty"`
}

type chromeFile struct {
	TraceEvents     []chromeEvent   `json:"traceEvents"`
	DisplayTimeUnit string          `json:"displayTimeUnit"`
	Iotrace         *model.Document `json:"iotrace"`
}

func micros(t, start time.Time) float64 {
	return float64(t.Sub(start).Nanoseconds()) / 1e3
}

// chromeEvents turns a document into trace events, in timestamp order.
func chromeEvents(doc *model.Document) []chromeEvent {
	start := doc.Meta.Started
	var meta, evs []chromeEvent
	for _, p := range doc.Processes {
		meta = append(meta, chromeEvent{Name: "process_name", Phase: "M", Pid: p.Pid,
			Args: map[string]any{"name": fmt.Sprintf("%s (%d)", p.Comm, p.Pid)}})
		for _, t := range p.Threads {
			meta = append(meta, chromeEvent{Name: "thread_name", Phase: "M", Pid: p.Pid, Tid: t.Tid,
				Args: map[string]any{"name": fmt.Sprintf("%s (%d)", t.Comm, t.Tid)}})
		}
	}
	for _, e := range doc.Events {
		dur := float64(e.DurationNs) / 1e3
		args := map[string]any{
			"ret": e.Ret, "arg": e.Arg, "fd_polls": e.FdPolls,
			"bytes_in": e.BytesIn, "bytes_out": e.BytesOut, "sleeps": e.Sleeps, "wakeups": e.Wakeups,
		}
		if e.FdsWatched != nil {
			args["fds"] = *e.FdsWatched
		}
		if e.Ret > 0 && e.Syscall.Waits() {
			args["ready"] = e.Ret
		}
		if e.ReadyListAtEntry != nil {
			args["ready_list_at_entry"] = *e.ReadyListAtEntry
		}
		evs = append(evs, chromeEvent{Name: e.Syscall.String(), Cat: string(e.Syscall.Family()), Phase: "X",
			Ts: micros(e.Time, start), Dur: &dur, Pid: e.Pid, Tid: e.Tid, Args: args})
		if e.LastWakeup != nil {
			evs = append(evs, chromeEvent{Name: "wakeup", Cat: "sched", Phase: "i", Scope: "t",
				Ts: micros(*e.LastWakeup, start), Pid: e.Pid, Tid: e.Tid})
		}
	}
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
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Ts < evs[j].Ts })
	return append(meta, evs...)
}

func writeChrome(w io.Writer, doc *model.Document) error {
	f := chromeFile{TraceEvents: chromeEvents(doc), DisplayTimeUnit: "ns", Iotrace: doc}
	return json.NewEncoder(w).Encode(f)
}
