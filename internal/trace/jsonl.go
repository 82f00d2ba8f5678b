package trace

import (
	"bufio"
	"encoding/json"
	"sync"

	"github.com/iotrace/iotrace/internal/model"
)

// A JSON Lines trace is one object per line, each with a "type":
//
//	{"type":"meta","format":"iotrace-jsonl","version":1,"meta":{...}}   first
//	{"type":"interval","interval":{...}}                               per interval
//	{"type":"event","event":{...}}                                     per call (--events)
//	{"type":"totals","meta":{...},"processes":[...]}                   last
//
// Lines are written as they happen and flushed at every interval, so a run
// killed with SIGKILL leaves a file readable up to its last complete line.
const jsonlFormat = "iotrace-jsonl"

type jsonlLine struct {
	Type      string           `json:"type"`
	Format    string           `json:"format,omitempty"`
	Version   int              `json:"version,omitempty"`
	Meta      *model.Meta      `json:"meta,omitempty"`
	Interval  *model.Interval  `json:"interval,omitempty"`
	Event     *model.CallEvent `json:"event,omitempty"`
	Processes []*model.Process `json:"processes,omitempty"`
}

// jsonlSink writes the lines as they come. The file is created as a
// temporary file and renamed over its name at Begin, when the run has
// started: a run that fails to start leaves the name as it was.
type jsonlSink struct {
	limit *limit

	mu     sync.Mutex
	out    *output
	w      *bufio.Writer
	enc    *json.Encoder
	buf    []byte
	ev     eventEncoder
	opened bool
}

func newJSONLSink(out *output, opts Options) *jsonlSink {
	w := bufio.NewWriterSize(out, 64<<10)
	return &jsonlSink{limit: newLimit(opts.EventsLimit), out: out, w: w, enc: json.NewEncoder(w)}
}

// Begin writes the meta line and publishes the file; the run sets it once
// its probes are attached.
func (s *jsonlSink) Begin(m model.Meta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(jsonlLine{Type: "meta", Format: jsonlFormat, Version: model.FormatVersion, Meta: &m})
	s.w.Flush()
	s.opened = true
	if err := s.out.publish(); err != nil && s.out.err == nil {
		s.out.err = err
	}
	return s.out.failed(s.out.err)
}

// write encodes a line; a write error is kept by out and ends the writing.
func (s *jsonlSink) write(l jsonlLine) {
	if s.out.err == nil {
		if err := s.enc.Encode(l); err != nil && s.out.err == nil {
			s.out.err = err
		}
	}
}

func (s *jsonlSink) Interval(iv model.Interval) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(jsonlLine{Type: "interval", Interval: &iv})
	s.w.Flush()
	return s.out.failed(s.out.err)
}

// Event writes the line jsonlLine{Type: "event"} encodes, without
// reflection (appendEvent).
func (s *jsonlSink) Event(ev model.CallEvent) {
	if !s.limit.take() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out.err != nil {
		return
	}
	s.buf = append(s.buf[:0], `{"type":"event","event":`...)
	s.buf = s.ev.append(s.buf, &ev)
	s.buf = append(s.buf, "}\n"...)
	s.w.Write(s.buf)
}

func (s *jsonlSink) Close(final *model.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := final.Meta
	s.limit.note(&m)
	if !s.opened {
		s.write(jsonlLine{Type: "meta", Format: jsonlFormat, Version: model.FormatVersion, Meta: &m})
	}
	procs := final.Processes
	if procs == nil {
		procs = []*model.Process{}
	}
	s.write(jsonlLine{Type: "totals", Meta: &m, Processes: procs})
	s.w.Flush()
	return s.out.finish()
}

// Abort keeps a file whose run has started (it holds that run, up to
// now); before that, it removes the temporary file.
func (s *jsonlSink) Abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened {
		s.w.Flush()
		s.out.finish()
		return
	}
	s.out.abort()
}

// Beginner is a sink that wants the run's meta as soon as it starts.
type Beginner interface {
	Begin(model.Meta) error
}
