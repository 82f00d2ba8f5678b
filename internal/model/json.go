package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// FormatName and FormatVersion identify iotrace's JSON trace document
// (docs/trace-format.md).
const (
	FormatName    = "iotrace"
	FormatVersion = 1
)

// Document is the JSON trace written by `iotrace -o FILE`.
type Document struct {
	Format    string     `json:"format"`
	Version   int        `json:"version"`
	Meta      Meta       `json:"meta"`
	Processes []*Process `json:"processes"`
	// Intervals holds the per-interval changes, so a run can be replayed.
	Intervals []Interval `json:"intervals,omitempty"`
	// Events holds one record per call, with --events.
	Events []CallEvent `json:"events,omitempty"`
}

// NewDocument wraps a snapshot in the versioned document.
func NewDocument(s *Snapshot) *Document {
	procs := s.Processes
	if procs == nil {
		procs = []*Process{}
	}
	return &Document{Format: FormatName, Version: FormatVersion, Meta: s.Meta, Processes: procs}
}

// Snapshot returns the document's content as a snapshot.
func (d *Document) Snapshot() *Snapshot {
	return &Snapshot{Meta: d.Meta, Processes: d.Processes}
}

// WriteDocument writes s as an indented JSON document.
func WriteDocument(w io.Writer, s *Snapshot) error {
	return EncodeDocument(w, NewDocument(s))
}

// EncodeDocument writes d as indented JSON.
func EncodeDocument(w io.Writer, d *Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(d)
}

// ReadDocument parses a JSON trace document and checks its format and version.
func ReadDocument(r io.Reader) (*Document, error) {
	var d Document
	dec := json.NewDecoder(r)
	if err := dec.Decode(&d); err != nil {
		return nil, DescribeJSONError("not a valid iotrace JSON document", dec, err)
	}
	return &d, d.Check()
}

// Check verifies the document's format name and version.
func (d *Document) Check() error {
	if d.Format != FormatName {
		return fmt.Errorf("not an iotrace trace (format %q)", d.Format)
	}
	if d.Version != FormatVersion {
		return fmt.Errorf("unsupported iotrace trace version %d (this build reads %d)", d.Version, FormatVersion)
	}
	return nil
}

// DescribeJSONError says where decoding went wrong: the byte offset of a
// syntax or type error, or that the input ended early.
func DescribeJSONError(what string, dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%s: at byte %d: %v", what, se.Offset, err)
	case errors.As(err, &te):
		return fmt.Errorf("%s: at byte %d: field %s: %v", what, te.Offset, te.Field, err)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("%s: the input ends early (at byte %d): truncated file?", what, dec.InputOffset())
	}
	return fmt.Errorf("%s: at byte %d: %v", what, dec.InputOffset(), err)
}

type histogramJSON struct {
	Count   uint64   `json:"count"`
	Sum     uint64   `json:"sum"`
	Min     uint64   `json:"min"`
	Max     uint64   `json:"max"`
	Buckets []uint64 `json:"log2_buckets"`
}

// MarshalJSON writes the buckets up to the last non-empty one.
func (h Histogram) MarshalJSON() ([]byte, error) {
	n := len(h.Buckets)
	for n > 0 && h.Buckets[n-1] == 0 {
		n--
	}
	return json.Marshal(histogramJSON{h.Count, h.Sum, h.Min, h.Max, h.Buckets[:n]})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var j histogramJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if len(j.Buckets) > LatencyBuckets {
		return fmt.Errorf("latency histogram has %d buckets, at most %d allowed", len(j.Buckets), LatencyBuckets)
	}
	*h = Histogram{Count: j.Count, Sum: j.Sum, Min: j.Min, Max: j.Max}
	copy(h.Buckets[:], j.Buckets)
	return nil
}

// statsAlias has Stats' fields but not its methods, to avoid recursion.
type statsAlias Stats

type statsJSON struct {
	statsAlias
	FdsWatched        *uint64 `json:"fds_watched"`
	FdsWatchedUnknown uint64  `json:"fds_watched_unknown_calls,omitempty"`
}

// MarshalJSON writes fds_watched as the sum over the calls whose interest
// list size was known, with the number of the others beside it; null only
// when no call's size was known.
func (s Stats) MarshalJSON() ([]byte, error) {
	j := statsJSON{statsAlias: statsAlias(s), FdsWatchedUnknown: s.FdsWatchedUnknown}
	if s.FdsWatchedUnknown == 0 || s.FdsWatchedUnknown < s.Calls {
		v := s.FdsWatched
		j.FdsWatched = &v
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Stats) UnmarshalJSON(b []byte) error {
	var j statsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Stats(j.statsAlias)
	s.FdsWatchedUnknown = j.FdsWatchedUnknown
	if j.FdsWatched != nil {
		s.FdsWatched = *j.FdsWatched
	}
	return nil
}

// MarshalJSON keys the map by syscall name.
func (m SyscallStats) MarshalJSON() ([]byte, error) {
	out := make(map[string]*Stats, len(m))
	for sc, s := range m {
		out[sc.String()] = s
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads a map keyed by syscall name.
func (m *SyscallStats) UnmarshalJSON(b []byte) error {
	var in map[string]*Stats
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*m = SyscallStats{}
	for name, s := range in {
		sc, ok := ParseSyscall(name)
		if !ok {
			return fmt.Errorf("unknown syscall %q", name)
		}
		if s == nil {
			return fmt.Errorf("syscall %q has no figures", name)
		}
		(*m)[sc] = s
	}
	return nil
}
