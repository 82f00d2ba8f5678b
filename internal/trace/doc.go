package trace

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/iotrace/iotrace/internal/model"
)

// docSink writes the JSON document or the Chrome trace. The per-call
// events are written while the run goes, so memory stays bounded however
// many there are: Event only appends to a chunk, and a writer goroutine
// encodes full chunks into the file. When the writer falls behind by
// queueChunks chunks, Event waits, the kernel's ring buffer fills, and the
// calls it has no room for are counted as lost, never silently.
//
// The JSON document then begins with its events array, and the rest of
// the document (meta, processes, intervals) follows at Close: readers must
// not depend on the order of an object's members. A Chrome trace streams
// its slices and keeps the events, for the iotrace document it carries,
// in an unlinked spill file copied in at Close. Intervals (one entry per
// interval and active process) are kept in memory until Close.
type docSink struct {
	out    *output
	w      *bufio.Writer // over out
	chrome bool
	limit  *limit

	ivMu      sync.Mutex
	intervals []model.Interval

	evMu    sync.Mutex // orders the chunks sent to the writer
	pending []model.CallEvent
	closed  bool
	queue   chan []model.CallEvent
	done    chan struct{} // the writer has ended

	beginOnce sync.Once
	begun     chan struct{} // start is set
	start     time.Time     // the run's start, which Chrome timestamps count from

	// The writer's, until done.
	nEvents int
	buf     []byte
	enc     eventEncoder
	spill   *os.File
	spillW  *bufio.Writer
	cw      *chromeWriter
	err     error // an encoding or spill error (write errors are out's)
}

const (
	// eventChunk is the number of events in one chunk: appending to one
	// ever-growing slice of these pointerful records cost about 1.5 us an
	// event in copying and GC scanning.
	eventChunk = 4096
	// queueChunks bounds the chunks waiting for the writer (about 50 MB):
	// enough to absorb a quarter of a second at a million events a second,
	// when the traced threads leave the writer little CPU.
	queueChunks = 64
)

func newDocSink(out *output, chrome bool, opts Options) *docSink {
	s := &docSink{out: out, w: bufio.NewWriterSize(out, 256<<10), chrome: chrome, limit: newLimit(opts.EventsLimit),
		queue: make(chan []model.CallEvent, queueChunks), done: make(chan struct{}), begun: make(chan struct{})}
	if chrome {
		s.cw = &chromeWriter{w: s.w}
	}
	go s.writeEvents()
	return s
}

// Begin notes when the run started.
func (s *docSink) Begin(m model.Meta) error {
	s.begin(m.Started)
	return nil
}

func (s *docSink) begin(start time.Time) {
	s.beginOnce.Do(func() {
		s.start = start
		close(s.begun)
	})
}

// Interval keeps the interval for Close; write errors are Close's to
// report (the writer goroutine owns the file until then).
func (s *docSink) Interval(iv model.Interval) error {
	s.ivMu.Lock()
	s.intervals = append(s.intervals, iv)
	s.ivMu.Unlock()
	return nil
}

func (s *docSink) Event(ev model.CallEvent) {
	if !s.limit.take() {
		return
	}
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if s.closed {
		return
	}
	if s.pending == nil {
		s.pending = make([]model.CallEvent, 0, eventChunk)
	}
	s.pending = append(s.pending, ev)
	if len(s.pending) == eventChunk {
		s.queue <- s.pending
		s.pending = nil
	}
}

// stopEvents hands the last chunk to the writer and waits for it to end.
func (s *docSink) stopEvents() {
	s.evMu.Lock()
	if !s.closed {
		if len(s.pending) > 0 {
			s.queue <- s.pending
			s.pending = nil
		}
		s.closed = true
		close(s.queue)
	}
	s.evMu.Unlock()
	<-s.done
}

// writeEvents is the writer goroutine.
func (s *docSink) writeEvents() {
	defer close(s.done)
	if s.chrome {
		<-s.begun
		s.cw.start = s.start
		s.fail(s.cw.header())
	}
	for chunk := range s.queue {
		for k := range chunk {
			if s.failed() {
				break // drain the queue: Event must never wait forever
			}
			s.writeEvent(&chunk[k])
		}
	}
}

func (s *docSink) failed() bool {
	return s.err != nil || s.out.err != nil
}

// fail records an error that is not the file's own (which out keeps).
func (s *docSink) fail(err error) {
	if err != nil && s.err == nil && s.out.err == nil {
		s.err = err
	}
}

// writeEvent writes one event: into the document's events array, or as a
// Chrome slice and into the spill file.
func (s *docSink) writeEvent(e *model.CallEvent) {
	if !s.chrome {
		s.buf = s.buf[:0]
		if s.nEvents == 0 {
			s.buf = append(s.buf, "{\n \"format\": \""+model.FormatName+"\",\n \"version\": "+strconv.Itoa(model.FormatVersion)+",\n \"events\": [\n  "...)
		} else {
			s.buf = append(s.buf, ",\n  "...)
		}
		s.buf = s.enc.append(s.buf, e)
		_, err := s.w.Write(s.buf)
		s.fail(err)
		s.nEvents++
		return
	}
	if s.spill == nil {
		if s.spill, s.err = spillFile(s.out); s.err != nil {
			s.err = fmt.Errorf("cannot keep the events for the Chrome trace's document: %w", s.err)
			return
		}
		s.spillW = bufio.NewWriterSize(s.spill, 256<<10)
	}
	s.fail(s.cw.write(chromeCall(e, s.start)))
	s.buf = s.buf[:0]
	if s.nEvents > 0 {
		s.buf = append(s.buf, ',')
	}
	s.buf = s.enc.append(s.buf, e)
	_, err := s.spillW.Write(s.buf)
	s.fail(err)
	s.nEvents++
}

// spillFile creates an unlinked temporary file beside the trace (or in the
// temporary directory, for a trace that is not a regular file), so that
// nothing is left behind, even by a killed run.
func spillFile(out *output) (*os.File, error) {
	dir := os.TempDir()
	if out.tmp != "" {
		dir = filepath.Dir(out.tmp)
	}
	f, err := os.CreateTemp(dir, ".iotrace-events-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

func (s *docSink) Close(final *model.Snapshot) error {
	s.begin(final.Meta.Started)
	s.stopEvents()
	snap := *final
	s.limit.note(&snap.Meta)
	doc := model.NewDocument(&snap)
	s.ivMu.Lock()
	doc.Intervals = s.intervals
	s.ivMu.Unlock()
	if doc.Intervals == nil {
		doc.Intervals = []model.Interval{}
	}
	if !s.failed() {
		s.fail(s.writeRest(doc))
	}
	s.fail(s.w.Flush())
	if s.spill != nil {
		s.spill.Close()
	}
	if err := s.out.finish(); err != nil {
		return err
	}
	return s.out.failed(s.err) // the spill file's, or an encoding error
}

// writeRest writes what follows the events.
func (s *docSink) writeRest(doc *model.Document) error {
	if s.chrome {
		var events io.Reader
		if s.spill != nil {
			if err := s.spillW.Flush(); err != nil {
				return err
			}
			if _, err := s.spill.Seek(0, io.SeekStart); err != nil {
				return err
			}
			events = bufio.NewReaderSize(s.spill, 256<<10)
		}
		return s.cw.end(doc, events, s.nEvents)
	}
	if s.nEvents == 0 {
		return model.EncodeDocument(s.w, doc)
	}
	rest, err := json.MarshalIndent(docRest{Meta: doc.Meta, Processes: doc.Processes, Intervals: doc.Intervals}, "", " ")
	if err != nil {
		return err
	}
	// rest is "{\n \"meta\": ...}": its members follow the events array.
	if _, err := io.WriteString(s.w, "\n ],\n"); err != nil {
		return err
	}
	if _, err := s.w.Write(rest[2:]); err != nil {
		return err
	}
	_, err = io.WriteString(s.w, "\n")
	return err
}

// docRest is the document's members after its events array: all but
// format, version and events (a test checks it against model.Document).
type docRest struct {
	Meta      model.Meta       `json:"meta"`
	Processes []*model.Process `json:"processes"`
	Intervals []model.Interval `json:"intervals,omitempty"`
}

// writeDocument writes doc, compact, with events (nEvents comma-separated
// event objects) as its events array.
func writeDocument(w io.Writer, doc *model.Document, events io.Reader, nEvents int) error {
	d := *doc
	d.Events = nil
	b, err := json.Marshal(&d)
	if err != nil {
		return err
	}
	if nEvents == 0 || events == nil {
		_, err = w.Write(b)
		return err
	}
	// b ends with the document's closing brace: the events go before it.
	if _, err := w.Write(b[:len(b)-1]); err != nil {
		return err
	}
	if _, err := io.WriteString(w, `,"events":[`); err != nil {
		return err
	}
	if _, err := io.Copy(w, events); err != nil {
		return err
	}
	_, err = io.WriteString(w, "]}")
	return err
}

func (s *docSink) Abort() {
	s.begin(time.Time{})
	s.stopEvents()
	if s.spill != nil {
		s.spill.Close()
	}
	s.out.abort()
}
