package trace

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
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

type jsonlSink struct {
	path  string
	limit *limit

	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	enc    *json.Encoder
	err    error
	opened bool
}

func newJSONLSink(path string, opts Options) (*jsonlSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot write output %s: %v", path, pathErr(err))
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return &jsonlSink{path: path, limit: newLimit(opts.EventsLimit), f: f, w: w, enc: json.NewEncoder(w)}, nil
}

// Begin writes the meta line; the run sets it once its probes are attached.
func (s *jsonlSink) Begin(m model.Meta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(jsonlLine{Type: "meta", Format: jsonlFormat, Version: model.FormatVersion, Meta: &m})
	s.flush()
	s.opened = true
	return s.err
}

func (s *jsonlSink) write(l jsonlLine) {
	if s.err == nil {
		s.err = s.enc.Encode(l)
	}
}

func (s *jsonlSink) flush() {
	if s.err == nil {
		s.err = s.w.Flush()
	}
}

func (s *jsonlSink) Interval(iv model.Interval) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(jsonlLine{Type: "interval", Interval: &iv})
	s.flush()
	return s.err
}

func (s *jsonlSink) Event(ev model.CallEvent) {
	if !s.limit.take() {
		return
	}
	s.mu.Lock()
	s.write(jsonlLine{Type: "event", Event: &ev})
	s.mu.Unlock()
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
	s.flush()
	if s.err == nil {
		s.err = s.f.Sync()
	}
	if err := s.f.Close(); s.err == nil {
		s.err = err
	}
	if s.err != nil {
		return fmt.Errorf("writing %s: %w", s.path, s.err)
	}
	return nil
}

func (s *jsonlSink) Abort() {
	s.f.Close()
	os.Remove(s.path)
}

// Beginner is a sink that wants the run's meta as soon as it starts.
type Beginner interface {
	Begin(model.Meta) error
}
