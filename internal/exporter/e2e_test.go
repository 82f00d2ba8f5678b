package exporter_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/testutils"
	"github.com/iotrace/iotrace/internal/workloads"
)

// threadsEnv makes the test binary a helper with N threads that each
// ppoll(2) (unix.Poll) a pipe with a 10 ms timeout until stdin closes.
const threadsEnv = "IOTRACE_EXPORTER_THREADS"

func TestMain(m *testing.M) {
	if v := os.Getenv(threadsEnv); v != "" {
		n, _ := strconv.Atoi(v)
		threadsHelper(n)
		os.Exit(0)
	}
	testutils.Main(m)
}

func threadsHelper(n int) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		os.Exit(1)
	}
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread()
			fds := []unix.PollFd{{Fd: int32(p[0]), Events: unix.POLLIN}}
			for {
				unix.Poll(fds, 10)
			}
		}()
	}
	fmt.Println("started")
	io.Copy(io.Discard, os.Stdin)
}

// iotrace is a running `iotrace --listen`.
type iotrace struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
}

var serving = regexp.MustCompile(`serving metrics on http://(\S+)/metrics`)

// startIotrace runs iotrace with args and --listen on a free loopback
// port, until the test ends.
func startIotrace(t *testing.T, args ...string) *iotrace {
	t.Helper()
	bin := testutils.IotraceBin(t)
	ready := filepath.Join(t.TempDir(), "ready")
	it := &iotrace{stderr: &bytes.Buffer{}}
	it.cmd = exec.Command(bin, append(args, "--listen", "127.0.0.1:0", "--no-tui", "--ready-file", ready)...)
	it.cmd.Stdout, it.cmd.Stderr = io.Discard, it.stderr
	if err := it.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		it.cmd.Process.Signal(syscall.SIGTERM)
		it.cmd.Wait()
	})
	testutils.WaitForFile(t, ready, 30*time.Second, it.cmd, it.stderr)
	m := serving.FindStringSubmatch(it.stderr.String())
	if m == nil {
		t.Fatalf("iotrace did not say where it serves; stderr: %s", it.stderr)
	}
	it.addr = m[1]
	return it
}

func (it *iotrace) scrape(t *testing.T) []byte {
	t.Helper()
	resp, err := http.Get("http://" + it.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %v\n%s", resp.StatusCode, err, b)
	}
	return b
}

// sample is the value of one series in a text scrape (name{labels} v).
func sample(scrape []byte, series string) (float64, bool) {
	for _, l := range strings.Split(string(scrape), "\n") {
		if strings.HasPrefix(l, series+" ") {
			v, err := strconv.ParseFloat(strings.TrimPrefix(l, series+" "), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// workload is a running `iotrace workload` printing its ground truth every
// second.
type workload struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	lines   []workloads.Result
	started time.Time // wall time of the workload's elapsed 0
}

func startWorkload(t *testing.T, args ...string) *workload {
	t.Helper()
	w := &workload{}
	w.cmd = exec.Command(testutils.IotraceBin(t), append([]string{"workload"}, append(args, "--stats-interval", "1s", "--duration", "90s")...)...)
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.cmd.Stderr = os.Stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r workloads.Result
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				continue
			}
			w.mu.Lock()
			w.lines = append(w.lines, r)
			if len(w.lines) == 1 {
				// The first line is printed right after the start.
				w.started = time.Now().Add(-time.Duration(r.ElapsedNS))
				close(first)
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		w.cmd.Process.Signal(syscall.SIGTERM)
		w.cmd.Wait()
	})
	select {
	case <-first:
	case <-time.After(20 * time.Second):
		t.Fatal("the workload printed nothing")
	}
	return w
}

func (w *workload) snapshot() []workloads.Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]workloads.Result(nil), w.lines...)
}

// `promtool check metrics` passes on a scrape of a real run.
func TestPromtoolCheckMetrics(t *testing.T) {
	testutils.RequireRoot(t)
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		testutils.Unavailable(t, "promtool not found (Debian: apt-get install prometheus)")
	}
	w := startWorkload(t, "epoll-lt", "--fds", "16", "--active", "2", "--rate", "500")
	it := startIotrace(t, "--pid", strconv.Itoa(w.cmd.Process.Pid))
	time.Sleep(1500 * time.Millisecond)
	body := it.scrape(t)
	if _, ok := sample(body, `iotrace_calls_total{comm="epoll-lt",model="epoll",syscall="epoll_wait"}`); !ok {
		t.Fatalf("no epoll_wait calls in the scrape:\n%s", body)
	}
	promtoolCheck(t, promtool, body)
}

func promtoolCheck(t *testing.T, promtool string, body []byte) {
	t.Helper()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// With --cgroup the series carry the cgroup label, whose value is the
// kernel's own 0:: line of /proc/PID/cgroup, and promtool accepts them.
func TestCgroupLabelEndToEnd(t *testing.T) {
	testutils.RequireRoot(t)
	dir := testutils.NewCgroup(t)
	w := startWorkload(t, "epoll-lt", "--fds", "16", "--active", "2", "--rate", "500")
	testutils.MoveToCgroup(t, dir, w.cmd.Process.Pid)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", w.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var cg string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "0::"); ok {
			cg = v
		}
	}
	if !strings.HasSuffix(cg, "/"+filepath.Base(dir)) {
		t.Fatalf("/proc/%d/cgroup: %q, want its 0:: line to end in %s", w.cmd.Process.Pid, b, filepath.Base(dir))
	}
	it := startIotrace(t, "--cgroup", dir)
	time.Sleep(1500 * time.Millisecond)
	body := it.scrape(t)
	series := fmt.Sprintf(`iotrace_calls_total{cgroup=%q,comm="epoll-lt",model="epoll",syscall="epoll_wait"}`, cg)
	if v, ok := sample(body, series); !ok || v == 0 {
		t.Fatalf("no %s in the scrape:\n%s", series, body)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		promtoolCheck(t, promtool, body)
	} else {
		t.Log("promtool not found: the scrape is not checked by it")
	}
}

// prometheus is a Prometheus server the test runs on a loopback port.
type prometheus struct {
	url string
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startPrometheus(t *testing.T, target string) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		testutils.Unavailable(t, "prometheus not found (Debian: apt-get install prometheus)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: iotrace
    static_configs:
      - targets: [%q]
`, target)), 0o644)
	addr := freePort(t)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	p := &prometheus{url: "http://" + addr}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(p.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30 s; stderr: %s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// query evaluates q at time at and returns the single vector element's
// value.
func (p *prometheus) query(t *testing.T, q string, at time.Time) float64 {
	t.Helper()
	v, n := p.try(t, q, at)
	if n != 1 {
		t.Fatalf("query %s: %d results, want 1", q, n)
	}
	return v
}

// try evaluates q at time at: the first result's value and the number of
// results.
func (p *prometheus) try(t *testing.T, q string, at time.Time) (float64, int) {
	t.Helper()
	v := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64)}}
	resp, err := http.Get(p.url + "/api/v1/query?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %s %s", q, r.Status, r.Error)
	}
	if len(r.Data.Result) == 0 {
		return 0, 0
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("query %s: value %q", q, s)
	}
	return f, len(r.Data.Result)
}

// waitScraped waits for Prometheus's first scrape of iotrace (its target
// discovery takes a few seconds after it is ready).
func (p *prometheus) waitScraped(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, n := p.try(t, "iotrace_info", time.Now()); n > 0 {
			return
		}
	}
	t.Fatal("prometheus has not scraped iotrace within 30 s")
}

// A real Prometheus scrapes `iotrace --listen` tracing two workloads: the
// call rate it computes per syscall agrees within 5% with what the
// workloads counted themselves over the same time, and the median
// duration from the histogram is plausible.
func TestPrometheusEndToEnd(t *testing.T) {
	testutils.RequireRoot(t)
	if _, err := exec.LookPath("prometheus"); err != nil {
		testutils.Unavailable(t, "prometheus not found (Debian: apt-get install prometheus)")
	}
	const rate = 200 // messages per second: one wait each, steady
	ws := map[string]*workload{
		"poll":     startWorkload(t, "poll", "--fds", "32", "--active", "1", "--rate", strconv.Itoa(rate)),
		"epoll-lt": startWorkload(t, "epoll-lt", "--fds", "32", "--active", "1", "--rate", strconv.Itoa(rate)),
	}
	it := startIotrace(t, "--pid", strconv.Itoa(ws["poll"].cmd.Process.Pid), "--pid", strconv.Itoa(ws["epoll-lt"].cmd.Process.Pid))
	prom := startPrometheus(t, it.addr)
	const window = 8
	prom.waitScraped(t)
	time.Sleep((window + 2) * time.Second)

	for comm, w := range ws {
		lines := w.snapshot()
		last := lines[len(lines)-1]
		var first *workloads.Result
		for i := len(lines) - 1; i >= 0; i-- {
			if float64(last.ElapsedNS-lines[i].ElapsedNS)/1e9 >= window-0.01 {
				first = &lines[i]
				break
			}
		}
		if first == nil {
			t.Fatalf("%s: fewer than %d s of lines", comm, window)
		}
		ms := (last.ElapsedNS - first.ElapsedNS) / 1e6
		secs := float64(ms) / 1e3
		at := lineTime(w, last) // the window ends at the last line
		for sc, n := range last.CallsBySyscall {
			want := float64(n-first.CallsBySyscall[sc]) / secs
			if want < 10 {
				continue // epoll_ctl: only at the start
			}
			q := fmt.Sprintf(`rate(iotrace_calls_total{comm=%q,syscall=%q}[%dms])`, comm, sc, ms)
			got := prom.query(t, q, at)
			t.Logf("%s %s: Prometheus %.1f calls/s, the workload %.1f", comm, sc, got, want)
			if math.Abs(got-want) > 0.05*want {
				t.Errorf("%s %s: rate %.1f calls/s, the workload counted %.1f (over 5%% apart)", comm, sc, got, want)
			}
		}
		wait := "poll"
		if comm == "epoll-lt" {
			wait = "epoll_wait"
		}
		sel := fmt.Sprintf(`{comm=%q,syscall=%q}`, comm, wait)
		p50 := prom.query(t, fmt.Sprintf(`histogram_quantile(0.5, rate(iotrace_call_duration_seconds_bucket%s[%dms]))`, sel, ms), at)
		mean := prom.query(t, fmt.Sprintf(`rate(iotrace_call_duration_seconds_sum%s[%dms]) / rate(iotrace_call_duration_seconds_count%s[%dms])`, sel, ms, sel, ms), at)
		t.Logf("%s %s: p50 %.3g s, mean %.3g s", comm, wait, p50, mean)
		// One message every 1/rate s on one connection: a wait lasts up
		// to about that; the log2 buckets make the median good to a factor 2.
		if p50 <= 1e-6 || p50 > 2.0/rate || mean > 2.0/rate || p50 < mean/4 || p50 > mean*4 {
			t.Errorf("%s %s: p50 %.3g s, mean %.3g s: not plausible for %d messages/s", comm, wait, p50, mean, rate)
		}
	}
}

// lineTime is when a workload line was printed, in wall time.
func lineTime(w *workload, r workloads.Result) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started.Add(time.Duration(r.ElapsedNS))
}

func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// lostEvents sums iotrace_lost_total over the reasons that are losses.
func lostEvents(scrape []byte) float64 {
	var s float64
	for _, l := range strings.Split(string(scrape), "\n") {
		if strings.HasPrefix(l, "iotrace_lost_total{") && !strings.Contains(l, "select_sets_truncated") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			s += v
		}
	}
	return s
}

// Scraped every 100 ms while tracing 200 threads with pid and tid labels
// past the series cap: the series stay under the cap, iotrace's memory
// does not grow, and no events are lost. (The 1,000-thread, one-minute
// run is in BENCHMARKS.md.)
func TestScrapeEvery100ms(t *testing.T) {
	testutils.RequireRoot(t)
	const threads, limit = 200, 4000
	h := exec.Command(os.Args[0], "-test.run=^$")
	h.Env = append(os.Environ(), threadsEnv+"="+strconv.Itoa(threads))
	stdin, _ := h.StdinPipe()
	out, _ := h.StdoutPipe()
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); h.Wait() })
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "started\n" {
		t.Fatalf("helper: %q", l)
	}
	it := startIotrace(t, "--pid", strconv.Itoa(h.Process.Pid), "--metrics-labels", "pid,tid",
		"--metrics-max-series", strconv.Itoa(limit))

	var rss0, scrapes int
	var lost0 float64
	var last []byte
	start := time.Now()
	for time.Since(start) < 15*time.Second {
		last = it.scrape(t)
		scrapes++
		n, ok := sample(last, "iotrace_series")
		if !ok || n > limit {
			t.Fatalf("iotrace_series = %v (present %v), cap %d", n, ok, limit)
		}
		if rss0 == 0 && time.Since(start) > 3*time.Second {
			rss0, lost0 = rssKiB(t, it.cmd.Process.Pid), lostEvents(last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rss1 := rssKiB(t, it.cmd.Process.Pid)
	t.Logf("%d scrapes of %d bytes; iotrace RSS %d KiB after 3 s, %d KiB after 15 s", scrapes, len(last), rss0, rss1)
	if d, _ := sample(last, "iotrace_series_dropped_total"); d == 0 {
		t.Error("the cap was not reached: the test does not test it")
	}
	if calls, _ := sample(last, `iotrace_calls_total{comm="(overflow)",model="poll",pid="(overflow)",syscall="ppoll",tid="(overflow)"}`); calls == 0 {
		t.Logf("scrape:\n%s", last)
		t.Error("no calls in the overflow series")
	}
	if rss1 > rss0+8*1024 {
		t.Errorf("iotrace's RSS grew from %d to %d KiB under scraping", rss0, rss1)
	}
	if l := lostEvents(last); l > lost0 {
		t.Errorf("events lost while scraping: %v (%v after 3 s)", l, lost0)
	}
}
