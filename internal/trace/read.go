package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/iotrace/iotrace/internal/model"
)

// ReadFile reads a trace in any of the three forms. Errors name the file
// and where in it things went wrong.
func ReadFile(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, pathErr(err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("cannot read %s: it is a directory, not a trace file", path)
	}
	rec, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}

// Read reads a trace in any of the three forms.
func Read(r io.Reader) (*Recording, error) {
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, 64<<10)
	head, _ := br.Peek(64)
	if len(bytes.TrimSpace(head)) == 0 {
		return nil, errors.New("empty file")
	}
	f, err := Detect(head)
	if err != nil {
		return nil, err
	}
	switch f {
	case JSONL:
		return readJSONL(br)
	case Chrome:
		var cf chromeFile
		dec := json.NewDecoder(br)
		if err := dec.Decode(&cf); err != nil {
			return nil, describeJSONError("not a valid Chrome trace", dec, cr, err)
		}
		if cf.Iotrace == nil {
			return nil, errors.New("a Chrome trace, but not one written by iotrace (no \"iotrace\" member)")
		}
		if err := cf.Iotrace.Check(); err != nil {
			return nil, err
		}
		return fromDocument(cf.Iotrace), nil
	}
	var doc model.Document
	dec := json.NewDecoder(br)
	if err := dec.Decode(&doc); err != nil {
		return nil, describeJSONError("not a valid iotrace JSON document", dec, cr, err)
	}
	if err := doc.Check(); err != nil {
		return nil, err
	}
	return fromDocument(&doc), nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// describeJSONError is model.DescribeJSONError, except that a file that
// ends in the middle of the document is said to end where it does: the
// decoder's offset is then still at the start of the value it was reading.
func describeJSONError(what string, dec *json.Decoder, cr *countingReader, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: the input ends early, at byte %d, inside the document: truncated file?", what, cr.n)
	}
	return model.DescribeJSONError(what, dec, err)
}

func fromDocument(d *model.Document) *Recording {
	return &Recording{Meta: d.Meta, Processes: d.Processes, Intervals: d.Intervals, Events: d.Events}
}

func readJSONL(br *bufio.Reader) (*Recording, error) {
	rec := &Recording{}
	sawMeta, sawTotals := false, false
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) == 0 {
			if err != nil {
				break
			}
			continue
		}
		complete := err == nil
		var l jsonlLine
		if jerr := json.Unmarshal(line, &l); jerr != nil {
			if !complete {
				// The run was killed mid-line: keep what came before.
				rec.Truncated = true
				break
			}
			return nil, fmt.Errorf("line %d: %v", n, jerr)
		}
		switch {
		case n == 1 && (l.Type != "meta" || l.Format != jsonlFormat):
			return nil, errors.New("line 1: not an iotrace JSON Lines trace (no meta line)")
		case l.Type == "meta":
			if l.Version != model.FormatVersion {
				return nil, fmt.Errorf("line %d: unsupported iotrace trace version %d", n, l.Version)
			}
			if l.Meta != nil {
				rec.Meta = *l.Meta
			}
			sawMeta = true
		case l.Type == "interval" && l.Interval != nil:
			rec.Intervals = append(rec.Intervals, *l.Interval)
		case l.Type == "event" && l.Event != nil:
			rec.Events = append(rec.Events, *l.Event)
		case l.Type == "totals":
			if l.Meta != nil {
				rec.Meta = *l.Meta
			}
			rec.Processes = l.Processes
			sawTotals = true
		default:
			return nil, fmt.Errorf("line %d: unknown record type %q", n, l.Type)
		}
		if !complete {
			break
		}
	}
	if !sawMeta {
		return nil, errors.New("no meta line")
	}
	if !sawTotals {
		// The meta line was written at the start, before the run's end
		// was known: the figures end with the last interval.
		rec.Truncated = true
		rec.Processes = sumIntervals(rec.Intervals)
		rec.Meta.Ended = rec.Meta.Started
		if n := len(rec.Intervals); n > 0 && rec.Intervals[n-1].End.After(rec.Meta.Started) {
			rec.Meta.Ended = rec.Intervals[n-1].End
		}
	}
	return rec, nil
}

// sumIntervals rebuilds per-process totals from interval deltas (for a run
// that ended before writing its totals). Threads and epoll instances are
// not in intervals, so they stay empty.
func sumIntervals(ivs []model.Interval) []*model.Process {
	byPid := map[int]*model.Process{}
	for _, iv := range ivs {
		for _, d := range iv.Processes {
			p := byPid[d.Pid]
			if p == nil {
				p = &model.Process{Pid: d.Pid, Comm: d.Comm, Syscalls: model.SyscallStats{}}
				byPid[d.Pid] = p
			}
			p.Syscalls.Merge(d.Syscalls)
		}
	}
	out := make([]*model.Process, 0, len(byPid))
	for _, p := range byPid {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out
}
