// Package trace writes and reads recorded iotrace runs in three forms: the
// JSON document (docs/trace-format.md), a streaming JSON Lines form that
// survives a killed run up to its last complete line, and Chrome Trace Event
// JSON that Perfetto and chrome://tracing open.
package trace

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/iotrace/iotrace/internal/model"
)

// Format is an output form.
type Format string

// The formats.
const (
	JSON   Format = "json"
	JSONL  Format = "jsonl"
	Chrome Format = "chrome"
)

// ParseFormat validates a --format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case JSON, JSONL, Chrome:
		return f, nil
	}
	return "", fmt.Errorf("invalid format %q (want json, jsonl or chrome)", s)
}

// Recording is a run as read back from a file.
type Recording struct {
	Meta      model.Meta
	Processes []*model.Process // the totals at the end of the run
	Intervals []model.Interval
	Events    []model.CallEvent
	// Truncated is set when the file ended before the run did (a JSONL
	// file of a killed run): Processes were then summed from the intervals.
	Truncated bool
}

// Snapshot returns the recording's totals as a snapshot.
func (r *Recording) Snapshot() *model.Snapshot {
	return &model.Snapshot{Meta: r.Meta, Processes: r.Processes}
}

// Sink receives a run while it happens and writes it out.
type Sink interface {
	// Interval records the changes of one reporting interval. It returns
	// the first write error, after which nothing more is written.
	Interval(model.Interval) error
	// Event records one call; it may be called from another goroutine.
	Event(model.CallEvent)
	// Close writes the totals and completes the file. After a write
	// error it still keeps what was written, and returns a *WriteError.
	Close(final *model.Snapshot) error
	// Abort ends a run that failed: it removes the temporary file of a
	// trace not yet published; a file iotrace did not create is never
	// removed, and a JSON Lines trace already under its name is kept.
	Abort()
}

// Options configure a sink.
type Options struct {
	// EventsLimit bounds the per-call events kept (0: no limit). Events
	// past it are counted in meta.events.over_limit, not written.
	EventsLimit int
}

// Create checks that path can be written (before anything is traced, so
// that no run is lost at the end) and returns a sink of the given format.
// path "-" is standard output. See output for how files, links, devices
// and FIFOs are written.
func Create(path string, f Format, opts Options) (Sink, error) {
	if _, err := ParseFormat(string(f)); err != nil {
		return nil, err
	}
	out, err := openOutput(path)
	if err != nil {
		return nil, err
	}
	if f == JSONL {
		return newJSONLSink(out, opts), nil
	}
	return newDocSink(out, f == Chrome, opts), nil
}

func pathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// limit counts the events offered and decides which are kept.
type limit struct {
	mu       sync.Mutex
	max      int
	kept     uint64
	overflow uint64
}

func newLimit(max int) *limit { return &limit{max: max} }

func (l *limit) take() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.kept >= uint64(l.max) {
		l.overflow++
		return false
	}
	l.kept++
	return true
}

// note records the event counts in meta; nil when no events were offered.
func (l *limit) note(m *model.Meta) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kept == 0 && l.overflow == 0 {
		return
	}
	m.Events = &model.EventsInfo{Recorded: l.kept, OverLimit: l.overflow, Limit: l.max}
}

// Detect names the format of a file from its first bytes.
func Detect(head []byte) (Format, error) {
	t := strings.TrimLeft(string(head), " \t\r\n")
	switch {
	case strings.HasPrefix(t, `{"type":"meta"`):
		return JSONL, nil
	case strings.HasPrefix(t, `{"traceEvents"`):
		return Chrome, nil
	case strings.HasPrefix(t, "{"):
		return JSON, nil
	}
	return "", fmt.Errorf("not an iotrace trace (JSON, JSON Lines or Chrome trace expected)")
}
