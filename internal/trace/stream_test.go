package trace

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/schema"
)

// randomEvent fills every field, leaving optional ones out at random.
func randomEvent(r *rand.Rand) model.CallEvent {
	opt := func() bool { return r.IntN(2) == 0 }
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("x", -5*3600-30*60)}
	tm := time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(zones[r.IntN(len(zones))])
	if r.IntN(8) == 0 {
		tm = tm.Truncate(time.Second) // no fraction
	}
	e := model.CallEvent{Time: tm, Pid: r.IntN(1 << 22), Tid: r.IntN(1 << 22), Syscall: model.Syscall(r.IntN(int(model.NumSyscalls))),
		DurationNs: r.Uint64(), Ret: r.Int64() - r.Int64(), Arg: r.IntN(1<<31) - r.IntN(1<<31), FdPolls: r.Uint64(),
		BytesIn: r.Uint64(), BytesOut: r.Uint64(), Sleeps: r.Uint32(), Wakeups: r.Uint32(), BlockedNs: r.Uint64()}
	if opt() {
		e.Epfd = i(r.IntN(1024))
	}
	if opt() {
		e.FdsWatched = u64(r.Uint64())
	}
	if opt() {
		w := tm.Add(time.Duration(r.Int64N(1e9)))
		e.LastWakeup = &w
	}
	if opt() {
		e.ReadyListAtEntry = i(r.IntN(5000) - 1)
	}
	if opt() {
		e.ReadyListAtExit = i(r.IntN(5000))
	}
	return e
}

// TestAppendEvent: the hand-written encoder writes what json.Marshal does,
// byte for byte.
func TestAppendEvent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	_, _, evs := run()
	for k := 0; k < 20000; k++ {
		evs = append(evs, randomEvent(r))
	}
	evs = append(evs, model.CallEvent{}) // the zero time, all zero
	var enc eventEncoder                 // one encoder, as a sink uses, through its time cache
	for k, e := range evs {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEvent(nil, &e); !bytes.Equal(got, want) {
			t.Fatalf("appendEvent:\n got %s\nwant %s", got, want)
		}
		if k > 0 && k%3 == 0 { // events in the same second, in another zone
			e.Time = evs[k-1].Time.Add(time.Duration(k)).In(e.Time.Location())
			want, _ = json.Marshal(e)
		}
		if got := enc.append(nil, &e); !bytes.Equal(got, want) {
			t.Fatalf("eventEncoder:\n got %s\nwant %s", got, want)
		}
	}
}

// TestDocRest: the members written after the events array are those of
// model.Document other than format, version and events, with the same
// names.
func TestDocRest(t *testing.T) {
	tags := func(v any, skip ...string) []string {
		var out []string
		ty := reflect.TypeOf(v)
		for k := 0; k < ty.NumField(); k++ {
			tag := ty.Field(k).Tag.Get("json")
			if !strings.Contains(strings.Join(skip, " "), strings.Split(tag, ",")[0]) {
				out = append(out, ty.Field(k).Name+" "+tag)
			}
		}
		return out
	}
	want := tags(model.Document{}, "format", "version", "events")
	if got := tags(docRest{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("docRest members %v, model.Document's %v", got, want)
	}
}

// TestEventsStreamed: with many events the JSON document and the Chrome
// trace are written while the run goes (memory stays bounded), and the
// file is complete, valid and holds every event in order.
func TestEventsStreamed(t *testing.T) {
	const n = 50_000
	for _, f := range []Format{JSON, Chrome, JSONL} {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "t")
			s, final, ivs := feed(t, p, f, n)
			if f != JSONL {
				// Before Close, the events are already in the file.
				deadline := time.Now().Add(10 * time.Second)
				for size := int64(0); size < 4<<20; {
					tmp, _ := filepath.Glob(filepath.Join(dir, ".t.tmp-*"))
					if len(tmp) == 1 {
						if fi, err := os.Stat(tmp[0]); err == nil {
							size = fi.Size()
						}
					}
					if time.Now().After(deadline) {
						t.Fatalf("%d events offered, the unfinished file holds %d bytes (%v): they are kept in memory", n, size, tmp)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			s.Interval(ivs[1])
			if err := s.Close(final); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(b) && f != JSONL {
				t.Fatal("not valid JSON")
			}
			rec, err := Read(bytes.NewReader(b))
			if err != nil || len(rec.Events) != n || len(rec.Intervals) != 2 || rec.Truncated {
				t.Fatalf("read back: %v", err)
			}
			for k, e := range rec.Events {
				if e.Arg != k {
					t.Fatalf("event %d has arg %d: out of order", k, e.Arg)
				}
			}
			if rec.Meta.Events == nil || rec.Meta.Events.Recorded != n {
				t.Fatalf("meta.events = %+v", rec.Meta.Events)
			}
			doc := b
			if f == Chrome {
				var cf struct {
					TraceEvents []json.RawMessage `json:"traceEvents"`
					Iotrace     json.RawMessage   `json:"iotrace"`
				}
				json.Unmarshal(b, &cf)
				if len(cf.TraceEvents) < n {
					t.Fatalf("%d trace events for %d calls", len(cf.TraceEvents), n)
				}
				doc = cf.Iotrace
			}
			if f != JSONL {
				if err := schema.ValidateTrace(doc); err != nil {
					t.Fatalf("schema: %v", err)
				}
			}
		})
	}
}

// TestReadDirectory: a directory is said to be one, not "empty".
func TestReadDirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadFile(dir)
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("err = %v", err)
	}
}

// TestReadTruncatedOffset: a file that ends inside the document is said to
// end where it does.
func TestReadTruncatedOffset(t *testing.T) {
	for _, f := range []Format{JSON, Chrome} {
		path, _, _, _ := record(t, f, 0)
		good, _ := os.ReadFile(path)
		cut := good[:len(good)*2/3]
		os.WriteFile(path, cut, 0o644)
		_, err := ReadFile(path)
		if want := "at byte " + strconv.Itoa(len(cut)); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: err = %v, want %q", f, err, want)
		}
	}
}

// TestKilledJSONLDuration: a JSON Lines trace without its totals (a
// SIGKILLed run) ends with its last interval.
func TestKilledJSONLDuration(t *testing.T) {
	// The meta line is written at the start, when the end is not known.
	path := filepath.Join(t.TempDir(), "t.jsonl")
	final, ivs, _ := run()
	s, err := Create(path, JSONL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := final.Meta
	m.Ended = time.Time{}
	s.(Beginner).Begin(m)
	for _, iv := range ivs {
		s.Interval(iv)
	}
	s.Close(final)
	full, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(full), "\n")
	for keep, want := range map[int]time.Duration{1: 0, 2: time.Second, 3: 2 * time.Second} {
		os.WriteFile(path, []byte(strings.Join(lines[:keep], "")), 0o644)
		rec, err := ReadFile(path)
		if err != nil || !rec.Truncated {
			t.Fatalf("%d lines: %v", keep, err)
		}
		if got := rec.Meta.Ended.Sub(rec.Meta.Started); got != want || !rec.Meta.Started.Equal(final.Meta.Started) {
			t.Errorf("%d lines: duration %v, want %v", keep, got, want)
		}
	}
}
