package trace

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkEventsRSS measures the peak RSS of a process that records N
// per-call events into a trace file (the sink alone: no BPF, no root), for
// this build and, side by side in the same run, another build's test
// binary named by IOTRACE_RSS_BASE (see BENCHMARKS.md for how to build
// one from an older commit: this file copied into that tree). Each
// measurement is a fresh child process (TestEventsRSSChild) whose
// getrusage maxrss is reported. Environment:
//
//	IOTRACE_RSS_EVENTS   events per run (default 5,000,000)
//	IOTRACE_RSS_FORMATS  formats, comma-separated (default json)
//	IOTRACE_RSS_ROUNDS   rounds, alternating the builds (default 1)
//	IOTRACE_RSS_BASE     the other build's test binary
//
// Run: go test -run '^$' -bench EventsRSS -benchtime 1x ./internal/trace
func BenchmarkEventsRSS(b *testing.B) {
	n := envInt("IOTRACE_RSS_EVENTS", 5_000_000)
	rounds := envInt("IOTRACE_RSS_ROUNDS", 1)
	formats := strings.Split(envStr("IOTRACE_RSS_FORMATS", "json"), ",")
	builds := [][2]string{{"this", os.Args[0]}}
	if base := os.Getenv("IOTRACE_RSS_BASE"); base != "" {
		builds = append([][2]string{{"base", base}}, builds...)
	}
	for _, f := range formats {
		for r := 0; r < rounds; r++ {
			order := builds
			if r%2 == 1 { // alternate which build goes first
				order = [][2]string{builds[len(builds)-1], builds[0]}[:len(builds)]
			}
			for _, bd := range order {
				b.Run(fmt.Sprintf("%s/%s/%d", f, bd[0], n), func(b *testing.B) {
					rss, wall, size := rssChild(b, bd[1], f, n)
					b.ReportMetric(rss, "MB-peak-RSS")
					b.ReportMetric(wall.Seconds(), "s-wall")
					b.ReportMetric(float64(size)/(1<<20), "MB-file")
					b.ReportMetric(0, "ns/op")
				})
			}
		}
	}
}

// rssChild runs bin's TestEventsRSSChild and returns its peak RSS in MB,
// its wall time and the size of the file it wrote.
func rssChild(b *testing.B, bin, format string, n int) (float64, time.Duration, int64) {
	out := filepath.Join(b.TempDir(), "trace."+format)
	cmd := exec.Command(bin, "-test.run=^TestEventsRSSChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("IOTRACE_RSS_CHILD=%s:%d:%s", format, n, out))
	start := time.Now()
	if o, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(o), "ok") && !strings.Contains(string(o), "PASS") {
		b.Fatalf("%s: %v\n%s", bin, err, o)
	}
	wall := time.Since(start)
	fi, err := os.Stat(out)
	if err != nil {
		b.Fatalf("%s wrote no trace: %v", bin, err)
	}
	os.Remove(out)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return float64(ru.Maxrss) / 1024, wall, fi.Size()
}

// TestEventsRSSChild is BenchmarkEventsRSS's child: with
// IOTRACE_RSS_CHILD=FORMAT:N:PATH it records N events, with an interval
// every 100,000, into PATH, as a run with --events does.
func TestEventsRSSChild(t *testing.T) {
	spec := strings.SplitN(os.Getenv("IOTRACE_RSS_CHILD"), ":", 3)
	if len(spec) != 3 {
		t.Skip("the child of BenchmarkEventsRSS")
	}
	n, _ := strconv.Atoi(spec[1])
	final, ivs, evs := run()
	s, err := Create(spec[2], Format(spec[0]), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := s.(Beginner); ok {
		b.Begin(final.Meta)
	}
	for k := 0; k < n; k++ {
		e := evs[k%len(evs)]
		e.Time = e.Time.Add(time.Duration(k) * time.Microsecond)
		s.Event(e)
		if k%100_000 == 0 {
			s.Interval(ivs[0])
		}
	}
	if err := s.Close(final); err != nil {
		t.Fatal(err)
	}
}

func envStr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}
