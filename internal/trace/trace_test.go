package trace

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/schema"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func u64(v uint64) *uint64 { return &v }
func i(v int) *int         { return &v }

// run builds a small recorded run: two intervals of one process with two
// threads, three call events, and the final totals.
func run() (final *model.Snapshot, ivs []model.Interval, evs []model.CallEvent) {
	poll := func(calls uint64) *model.Stats {
		s := &model.Stats{Calls: calls, FdsWatched: 3 * calls, FdPolls: 3 * calls, BytesIn: 24 * calls, BytesOut: 6 * calls, Ready: calls}
		for j := uint64(0); j < calls; j++ {
			s.Latency.Observe(2000)
		}
		return s
	}
	ep := &model.Stats{Calls: 2, Ready: 4, FdsWatched: 10, FdPolls: 4, BytesOut: 48, Sleeps: 1, Wakeups: 1,
		ReadyListAtEntry: model.MaxSum{Sum: 3, Max: 3}, ReadyListAtExit: model.MaxSum{Sum: 1, Max: 1}}
	ep.Latency.Observe(500)
	ep.Latency.Observe(3_000_000)
	reg := int64(5)
	final = &model.Snapshot{
		Meta: model.Meta{Kernel: "6.18", ProbeMode: "tracepoint", Started: t0, Ended: t0.Add(2 * time.Second),
			Targets: []string{"pid:10"}, Unavailable: map[string]string{"ep_poll_callbacks": "needs fentry"}, Interval: time.Second},
		Processes: []*model.Process{{
			Pid: 10, Comm: "srv", Syscalls: model.SyscallStats{model.Poll: poll(5), model.EpollWait: ep},
			Threads: []*model.Thread{
				{Tid: 10, Comm: "srv", Syscalls: model.SyscallStats{model.Poll: poll(5)}},
				{Tid: 11, Comm: "worker", Syscalls: model.SyscallStats{model.EpollWait: ep}},
			},
			EpollInstances: []model.EpollInstance{{Epfd: 4, Registered: &reg, Ctl: model.CtlCounts{Add: 5}}},
		}},
	}
	ivs = []model.Interval{
		{Start: t0, End: t0.Add(time.Second), Processes: []*model.ProcessDelta{{Pid: 10, Comm: "srv", Syscalls: model.SyscallStats{model.Poll: poll(2)}}}},
		{Start: t0.Add(time.Second), End: t0.Add(2 * time.Second), Processes: []*model.ProcessDelta{{Pid: 10, Comm: "srv", Syscalls: model.SyscallStats{model.Poll: poll(3), model.EpollWait: ep}}}},
	}
	wake := t0.Add(1500*time.Millisecond + 2*time.Millisecond)
	evs = []model.CallEvent{
		{Time: t0.Add(100 * time.Millisecond), Pid: 10, Tid: 10, Syscall: model.Poll, DurationNs: 2000, Ret: 1, Arg: 3, FdsWatched: u64(3), FdPolls: 3, BytesIn: 24, BytesOut: 6},
		{Time: t0.Add(1500 * time.Millisecond), Pid: 10, Tid: 11, Syscall: model.EpollWait, DurationNs: 3_000_000, Ret: 2, Arg: 16, Epfd: i(4), FdsWatched: u64(5), FdPolls: 2, BytesOut: 24, Sleeps: 1, Wakeups: 1, LastWakeup: &wake, ReadyListAtEntry: i(0), ReadyListAtExit: i(1)},
		{Time: t0.Add(1600 * time.Millisecond), Pid: 10, Tid: 11, Syscall: model.EpollWait, DurationNs: 500, Ret: 2, Arg: 16, Epfd: i(4), FdsWatched: u64(5), FdPolls: 2, BytesOut: 24, ReadyListAtEntry: i(3), ReadyListAtExit: i(0)},
	}
	return final, ivs, evs
}

func record(t *testing.T, f Format, limit int) (string, *model.Snapshot, []model.Interval, []model.CallEvent) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trace."+string(f))
	final, ivs, evs := run()
	s, err := Create(path, f, Options{EventsLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := s.(Beginner); ok {
		if err := b.Begin(final.Meta); err != nil {
			t.Fatal(err)
		}
	}
	for _, iv := range ivs {
		if err := s.Interval(iv); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range evs {
		s.Event(e)
	}
	if err := s.Close(final); err != nil {
		t.Fatal(err)
	}
	return path, final, ivs, evs
}

func TestRoundTrip(t *testing.T) {
	for _, f := range []Format{JSON, JSONL, Chrome} {
		t.Run(string(f), func(t *testing.T) {
			path, final, ivs, evs := record(t, f, 0)
			rec, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Truncated {
				t.Error("complete file read as truncated")
			}
			want, _ := json.Marshal(final.Processes)
			got, _ := json.Marshal(rec.Processes)
			if !bytes.Equal(want, got) {
				t.Errorf("processes differ:\n got %s\nwant %s", got, want)
			}
			if rec.Meta.ProbeMode != "tracepoint" || !rec.Meta.Started.Equal(t0) || rec.Meta.Interval != time.Second {
				t.Errorf("meta = %+v", rec.Meta)
			}
			if rec.Meta.Events == nil || rec.Meta.Events.Recorded != 3 || rec.Meta.Events.OverLimit != 0 {
				t.Errorf("meta.events = %+v", rec.Meta.Events)
			}
			wi, _ := json.Marshal(ivs)
			gi, _ := json.Marshal(rec.Intervals)
			if !bytes.Equal(wi, gi) {
				t.Errorf("intervals differ:\n got %s\nwant %s", gi, wi)
			}
			if len(rec.Events) != len(evs) {
				t.Fatalf("%d events, want %d", len(rec.Events), len(evs))
			}
			for j := range evs {
				a, _ := json.Marshal(evs[j])
				b, _ := json.Marshal(rec.Events[j])
				if !bytes.Equal(a, b) {
					t.Errorf("event %d:\n got %s\nwant %s", j, b, a)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

// TestSchema: the JSON document, and the one embedded in a Chrome trace,
// match docs/trace.schema.json.
func TestSchema(t *testing.T) {
	path, _, _, _ := record(t, JSON, 0)
	b, _ := os.ReadFile(path)
	if err := schema.ValidateTrace(b); err != nil {
		t.Fatalf("json: %v", err)
	}
	path, _, _, _ = record(t, Chrome, 0)
	b, _ = os.ReadFile(path)
	var cf struct {
		Iotrace json.RawMessage `json:"iotrace"`
	}
	json.Unmarshal(b, &cf)
	if err := schema.ValidateTrace(cf.Iotrace); err != nil {
		t.Fatalf("chrome's embedded document: %v", err)
	}
}

func TestEventsLimit(t *testing.T) {
	path, _, _, _ := record(t, JSON, 2)
	rec, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != 2 || rec.Meta.Events == nil || *rec.Meta.Events != (model.EventsInfo{Recorded: 2, OverLimit: 1, Limit: 2}) {
		t.Fatalf("events %d, meta.events %+v", len(rec.Events), rec.Meta.Events)
	}
}

// TestTruncatedJSONL: a run killed mid-write leaves every complete line
// readable; totals are rebuilt from the intervals.
func TestTruncatedJSONL(t *testing.T) {
	path, _, _, _ := record(t, JSONL, 0)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(full), "\n")
	// Keep meta and both intervals, then half of the first event line.
	cut := lines[0] + lines[1] + lines[2] + lines[3][:len(lines[3])/2]
	os.WriteFile(path, []byte(cut), 0o644)
	rec, err := ReadFile(path)
	if err != nil {
		t.Fatalf("truncated file: %v", err)
	}
	if !rec.Truncated || len(rec.Intervals) != 2 || len(rec.Events) != 0 {
		t.Fatalf("truncated=%v intervals=%d events=%d", rec.Truncated, len(rec.Intervals), len(rec.Events))
	}
	p := rec.Processes[0]
	if p.Pid != 10 || p.Syscalls[model.Poll].Calls != 5 || p.Syscalls[model.EpollWait].Calls != 2 {
		t.Fatalf("totals from intervals: %+v", p.Syscalls)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	jsonPath, _, _, _ := record(t, JSON, 0)
	good, _ := os.ReadFile(jsonPath)
	jsonlPath, _, _, _ := record(t, JSONL, 0)
	goodL, _ := os.ReadFile(jsonlPath)
	lines := strings.SplitAfter(string(goodL), "\n")
	for _, c := range []struct{ name, content, want string }{
		{"empty", "", "empty file"},
		{"text", "hello world\n", "not an iotrace trace"},
		{"foreign json", `{"format":"pcap","version":1}`, `not an iotrace trace (format "pcap")`},
		{"truncated json", string(good[:len(good)/2]), "the input ends early"},
		{"bad json", string(good[:40]) + "}}}", "at byte"},
		{"foreign chrome", `{"traceEvents":[]}`, "not one written by iotrace"},
		{"corrupt jsonl middle", lines[0] + "{oops\n" + lines[1], "line 2:"},
		{"jsonl without meta", `{"type":"meta","format":"other"}` + "\n", "line 1: not an iotrace JSON Lines trace"},
		{"jsonl bad version", strings.Replace(lines[0], `"version":1`, `"version":9`, 1), "unsupported iotrace trace version 9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			os.WriteFile(p, []byte(c.content), 0o644)
			_, err := ReadFile(p)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), p+": ") {
				t.Fatalf("err = %v, want %q prefixed by the file name", err, c.want)
			}
		})
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestChromeStructure checks what Perfetto needs: known phases, required
// fields, complete events with durations, and per-track monotonic time.
func TestChromeStructure(t *testing.T) {
	path, _, _, evs := record(t, Chrome, 0)
	b, _ := os.ReadFile(path)
	var f struct {
		TraceEvents []map[string]any `json:"traceEvents"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	phases := map[string]int{}
	last := map[[2]float64]float64{}
	for _, e := range f.TraceEvents {
		ph, _ := e["ph"].(string)
		phases[ph]++
		for _, k := range []string{"name", "ph", "pid"} {
			if _, ok := e[k]; !ok {
				t.Fatalf("event without %s: %v", k, e)
			}
		}
		if ph == "M" {
			continue
		}
		ts, ok := e["ts"].(float64)
		if !ok || ts < 0 {
			t.Fatalf("bad ts: %v", e)
		}
		if ph == "X" {
			if d, ok := e["dur"].(float64); !ok || d < 0 {
				t.Fatalf("complete event without dur: %v", e)
			}
			if e["args"].(map[string]any)["bytes_in"] == nil {
				t.Fatalf("slice without bytes args: %v", e)
			}
		}
		tid, _ := e["tid"].(float64)
		track := [2]float64{e["pid"].(float64), tid}
		if ts < last[track] {
			t.Fatalf("track %v goes back in time: %v after %v", track, ts, last[track])
		}
		last[track] = ts
	}
	if phases["X"] != len(evs) || phases["i"] != 1 || phases["M"] != 3 || phases["C"] != 4 {
		t.Fatalf("phases = %v, want %d X, 1 i, 3 M (process + 2 threads), 4 C", phases, len(evs))
	}
	for ph := range phases {
		if !strings.Contains("XiMC", ph) {
			t.Fatalf("unexpected phase %q", ph)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	if _, err := Create("/nonexistent-dir/t.json", JSON, Options{}); err == nil || !strings.Contains(err.Error(), "cannot write output /nonexistent-dir/t.json") {
		t.Fatalf("json: %v", err)
	}
	if _, err := Create("/nonexistent-dir/t.jsonl", JSONL, Options{}); err == nil || !strings.Contains(err.Error(), "cannot write output") {
		t.Fatalf("jsonl: %v", err)
	}
	if _, err := Create(t.TempDir(), JSON, Options{}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("dir: %v", err)
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Fatal("xml accepted")
	}
}

func TestAbortRemovesFiles(t *testing.T) {
	for _, f := range []Format{JSON, JSONL, Chrome} {
		dir := t.TempDir()
		s, err := Create(filepath.Join(dir, "t"), f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Abort()
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("%s: abort left %v", f, ents)
		}
	}
}

// seeds encodes the sample run in each form, in memory.
func seeds() [][]byte {
	final, ivs, evs := run()
	doc := model.NewDocument(final)
	doc.Intervals, doc.Events = ivs, evs
	var j, c, l bytes.Buffer
	model.EncodeDocument(&j, doc)
	writeChrome(&c, doc)
	enc := json.NewEncoder(&l)
	enc.Encode(jsonlLine{Type: "meta", Format: jsonlFormat, Version: 1, Meta: &final.Meta})
	for k := range ivs {
		enc.Encode(jsonlLine{Type: "interval", Interval: &ivs[k]})
	}
	for k := range evs {
		enc.Encode(jsonlLine{Type: "event", Event: &evs[k]})
	}
	enc.Encode(jsonlLine{Type: "totals", Meta: &final.Meta, Processes: final.Processes})
	return [][]byte{j.Bytes(), c.Bytes(), l.Bytes()}
}

func TestSeedsRead(t *testing.T) {
	for k, s := range seeds() {
		rec, err := Read(bytes.NewReader(s))
		if err != nil || len(rec.Events) != 3 || len(rec.Intervals) != 2 {
			t.Fatalf("seed %d: %v", k, err)
		}
	}
}

// FuzzRead: no input makes the reader panic; what it accepts re-encodes.
func FuzzRead(f *testing.F) {
	// Small seeds of each form: the fuzzing engine crawls on the full
	// sample run (a few KB each); its seeds run as plain tests below.
	f.Add([]byte(`{"format":"iotrace","version":1,"meta":{"probe_mode":"tracepoint"},"processes":[{"pid":1,"syscalls":{"poll":{"calls":2,"fds_watched":null,"latency_ns":{"count":2,"log2_buckets":[0,2]}}}}]}`))
	f.Add([]byte(`{"traceEvents":[{"name":"poll","ph":"X","ts":1,"dur":2,"pid":1,"tid":1}],"iotrace":{"format":"iotrace","version":1,"processes":[]}}`))
	f.Add([]byte(`{"type":"meta","format":"iotrace-jsonl","version":1}` + "\n" + `{"type":"interval","interval":{"processes":[{"pid":1,"syscalls":{"poll":{"calls":1}}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		if _, err := json.Marshal(rec.Processes); err != nil {
			t.Fatalf("accepted input does not re-encode: %v", err)
		}
	})
}

// writeChrome writes a whole document as a Chrome trace at once, as the
// sink does over a run.
func writeChrome(w io.Writer, doc *model.Document) error {
	c := &chromeWriter{w: w, start: doc.Meta.Started}
	if err := c.header(); err != nil {
		return err
	}
	var events []byte
	for k := range doc.Events {
		if err := c.write(chromeCall(&doc.Events[k], c.start)); err != nil {
			return err
		}
		if k > 0 {
			events = append(events, ',')
		}
		events = appendEvent(events, &doc.Events[k])
	}
	return c.end(doc, bytes.NewReader(events), len(doc.Events))
}
