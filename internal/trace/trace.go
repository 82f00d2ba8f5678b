// Package trace writes and reads recorded iotrace runs in three forms: the
// JSON document (docs/trace-format.md), a streaming JSON Lines form that
// survives a killed run up to its last complete line, and Chrome Trace Event
// JSON that Perfetto and chrome://tracing open.
package trace

import (
	"fmt"
	"os"
	"path/filepath"
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
	// Interval records the changes of one reporting interval.
	Interval(model.Interval) error
	// Event records one call; it may be called from another goroutine.
	Event(model.CallEvent)
	// Close writes the totals and completes the file.
	Close(final *model.Snapshot) error
	// Abort removes what was written, for a run that failed to start.
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
func Create(path string, f Format, opts Options) (Sink, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("cannot write output %s: it is a directory", path)
	}
	switch f {
	case JSONL:
		return newJSONLSink(path, opts)
	case JSON, Chrome:
		tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
		if err != nil {
			return nil, fmt.Errorf("cannot write output %s: %v", path, pathErr(err))
		}
		return &docSink{path: path, tmp: tmp, chrome: f == Chrome, limit: newLimit(opts.EventsLimit)}, nil
	}
	return nil, fmt.Errorf("invalid format %q", f)
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

// docSink keeps intervals and events in memory and writes the whole file at
// Close, atomically (temporary file, then rename).
type docSink struct {
	path   string
	tmp    *os.File
	chrome bool
	limit  *limit

	mu        sync.Mutex
	intervals []model.Interval
	// Events are kept in fixed-size chunks: appending to one ever-growing
	// slice of these pointerful records cost about 1.5 us an event in
	// copying and GC scanning (10x the chunked cost), which capped the rate
	// at which --events could be drained.
	chunks [][]model.CallEvent
}

// eventChunk is the number of events in one chunk of docSink.chunks.
const eventChunk = 4096

func (s *docSink) Interval(iv model.Interval) error {
	s.mu.Lock()
	s.intervals = append(s.intervals, iv)
	s.mu.Unlock()
	return nil
}

func (s *docSink) Event(ev model.CallEvent) {
	if !s.limit.take() {
		return
	}
	s.mu.Lock()
	if n := len(s.chunks); n == 0 || len(s.chunks[n-1]) == eventChunk {
		s.chunks = append(s.chunks, make([]model.CallEvent, 0, eventChunk))
	}
	last := &s.chunks[len(s.chunks)-1]
	*last = append(*last, ev)
	s.mu.Unlock()
}

func (s *docSink) Close(final *model.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := *final
	s.limit.note(&snap.Meta)
	doc := model.NewDocument(&snap)
	doc.Intervals = s.intervals
	if doc.Intervals == nil {
		doc.Intervals = []model.Interval{}
	}
	if len(s.chunks) > 0 {
		doc.Events = make([]model.CallEvent, 0, (len(s.chunks)-1)*eventChunk+len(s.chunks[len(s.chunks)-1]))
		for i, c := range s.chunks {
			doc.Events = append(doc.Events, c...)
			s.chunks[i] = nil // the copy is all that is kept
		}
		s.chunks = nil
	}
	var err error
	if s.chrome {
		err = writeChrome(s.tmp, doc)
	} else {
		err = model.EncodeDocument(s.tmp, doc)
	}
	if err == nil {
		err = s.tmp.Sync()
	}
	if cerr := s.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(s.tmp.Name(), s.path)
	}
	if err != nil {
		os.Remove(s.tmp.Name())
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	return nil
}

func (s *docSink) Abort() {
	s.tmp.Close()
	os.Remove(s.tmp.Name())
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
