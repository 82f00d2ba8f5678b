package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/iotrace/iotrace/internal/gate"
)

//go:embed csrc/helper.c
var helperSource []byte

// buildHelper compiles csrc/helper.c into dir.
func buildHelper(dir string) (string, error) {
	src := filepath.Join(dir, "helper.c")
	bin := filepath.Join(dir, "helper")
	if err := os.WriteFile(src, helperSource, 0o644); err != nil {
		return "", err
	}
	out, err := exec.Command("gcc", "-O2", "-Wall", "-o", bin, src, "-lpthread").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("gcc: %v\n%s", err, out)
	}
	return bin, nil
}

// buildIotrace builds ./cmd/iotrace into dir (run from the module root).
func buildIotrace(dir string) (string, error) {
	bin := filepath.Join(dir, "iotrace")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/iotrace")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/iotrace: %v\n%s", err, out)
	}
	return bin, nil
}

// proc is a process the harness runs: a tracer beside the workload
// (startProc), or the C helper held at its stdin gate (startChild). Its
// stdout lines are kept with the time each came, its stderr in full.
type proc struct {
	name string
	c    *gate.Child

	mu    sync.Mutex
	lines []timedLine
	next  int           // the first line line() has not looked at
	saw   chan struct{} // a line came (buffered, lossy)
}

type timedLine struct {
	at   time.Time
	text string
}

// child is the helper; its gate is its stdin.
type child = proc

// startProc starts argv; with scan, stdout is read line by line, else it
// goes to stdoutFile (or nowhere).
func startProc(name string, argv []string, scan bool, stdoutFile string) (*proc, error) {
	return newProc(name, name, argv, gate.None, scan, stdoutFile)
}

// startChild starts the helper argv, gated, with stdout read line by line.
func startChild(argv []string) (*child, error) {
	return newProc(filepath.Base(argv[0]), argv[0], argv, gate.Stdin, true, "")
}

func newProc(name, what string, argv []string, g gate.Kind, scan bool, stdoutFile string) (*proc, error) {
	p := &proc{name: name, saw: make(chan struct{}, 1)}
	cmd := exec.Command(argv[0], argv[1:]...)
	o := gate.Options{Gate: g, KeepStderr: true}
	if scan {
		o.Lines = p.add
	}
	var f *os.File
	if !scan && stdoutFile != "" {
		var err error
		if f, err = os.Create(stdoutFile); err != nil {
			return nil, err
		}
		cmd.Stdout = f
	}
	c, err := gate.Start(cmd, o)
	if f != nil {
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", what, err)
	}
	p.c = c
	return p, nil
}

func (p *proc) add(text string, at time.Time) {
	p.mu.Lock()
	p.lines = append(p.lines, timedLine{at: at, text: text})
	p.mu.Unlock()
	select {
	case p.saw <- struct{}{}:
	default:
	}
}

func (p *proc) pid() int { return p.c.Pid() }

func (p *proc) exited() bool { return p.c.Exited() }

// err is the exit's error, nil while it runs.
func (p *proc) err() error {
	if !p.exited() {
		return nil
	}
	return p.c.Wait()
}

func (p *proc) failure() error {
	return fmt.Errorf("%s exited (%v): %s", p.name, p.err(), lastLines(p.c.Stderr(), 5))
}

// line returns the next stdout line that starts with prefix, skipping others.
func (p *proc) line(prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	take := func() (string, bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for ; p.next < len(p.lines); p.next++ {
			if l := p.lines[p.next].text; strings.HasPrefix(l, prefix) {
				p.next++
				return l, true
			}
		}
		return "", false
	}
	for {
		if l, ok := take(); ok {
			return l, nil
		}
		select {
		case <-p.saw:
		case <-p.c.Done():
			if l, ok := take(); ok {
				return l, nil
			}
			return "", fmt.Errorf("%s ended before printing %s (%v): %s", p.name, prefix, p.err(), strings.TrimSpace(p.c.Stderr()))
		case <-t.C:
			return "", fmt.Errorf("%s printed no %s line within %s", p.name, prefix, timeout)
		}
	}
}

// gate lets the helper go on (one byte on its stdin).
func (p *proc) gate() error { return p.c.Release() }

// finish closes stdin and waits for the exit, killing after timeout.
func (p *proc) finish(timeout time.Duration) error {
	p.c.CloseGate()
	if !p.c.WaitTimeout(timeout) {
		p.c.Kill()
		return fmt.Errorf("%s did not exit within %s: killed", p.name, timeout)
	}
	err := p.c.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s: %v: %s", p.name, err, strings.TrimSpace(p.c.Stderr()))
	}
	return err
}

// kill ends the process at once.
func (p *proc) kill() { p.c.Kill() }

// waitFile waits until path exists; it fails if the process exits first.
func (p *proc) waitFile(path string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		if _, err := os.Stat(path); err == nil {
			return time.Since(start), nil
		}
		if p.exited() {
			return 0, p.failure()
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("%s: %s did not appear within %s", p.name, path, timeout)
		}
		time.Sleep(500 * time.Microsecond)
	}
}

// waitLine waits for a stdout line containing s.
func (p *proc) waitLine(s string, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	find := func() (time.Time, bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.lines {
			if strings.Contains(l.text, s) {
				return l.at, true
			}
		}
		return time.Time{}, false
	}
	for {
		if at, ok := find(); ok {
			return at, nil
		}
		select {
		case <-p.saw:
		case <-p.c.Done():
			if at, ok := find(); ok {
				return at, nil
			}
			return time.Time{}, p.failure()
		case <-deadline:
			return time.Time{}, fmt.Errorf("%s printed no %q within %s", p.name, s, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

// wait waits up to timeout for the process to exit by itself.
func (p *proc) wait(timeout time.Duration) bool { return p.c.WaitTimeout(timeout) }

// stop sends SIGINT (unless it already exited) and waits; SIGKILL after
// timeout. It returns how long the exit took after the signal.
func (p *proc) stop(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	if p.c.Stop(syscall.SIGINT, timeout) {
		return time.Since(start), fmt.Errorf("%s did not exit within %s of SIGINT: killed", p.name, timeout)
	}
	return time.Since(start), nil
}

// exitErr reports an unsuccessful exit. A process that ended on our SIGINT
// counts as successful.
func (p *proc) exitErr() error {
	err := p.err()
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGINT {
			return nil
		}
	}
	return p.failure()
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " | ")
}

// kindResult is one "RESULT kind calls bad ns..." line.
type kindResult struct {
	Kind  string    `json:"kind"`
	Calls uint64    `json:"calls"`     // every call made, warm-up included
	Bad   uint64    `json:"bad"`       // batches whose return values were not all as expected
	Reps  []float64 `json:"reps_ns"`   // ns per call of each timed repetition
	NsPer float64   `json:"median_ns"` // their median
}

func parseResult(l string) (kindResult, error) {
	f := strings.Fields(l)
	if len(f) < 5 || f[0] != "RESULT" {
		return kindResult{}, fmt.Errorf("bad helper line %q", l)
	}
	r := kindResult{Kind: f[1]}
	var err error
	if r.Calls, err = strconv.ParseUint(f[2], 10, 64); err != nil {
		return r, fmt.Errorf("bad helper line %q", l)
	}
	if r.Bad, err = strconv.ParseUint(f[3], 10, 64); err != nil {
		return r, fmt.Errorf("bad helper line %q", l)
	}
	for _, s := range f[4:] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return r, fmt.Errorf("bad helper line %q", l)
		}
		r.Reps = append(r.Reps, v)
	}
	r.NsPer = median(r.Reps)
	return r, nil
}

// benchArgs is the helper command line for the hot loops.
func (r *runner) benchArgs(gate bool) []string {
	a := []string{r.helper, "bench", "-cpu", strconv.Itoa(r.cfg.cpu), "-ms", strconv.Itoa(r.cfg.ms),
		"-warm-ms", strconv.Itoa(r.cfg.warmMs), "-reps", strconv.Itoa(r.cfg.reps), "-kinds", strings.Join(r.cfg.kinds, ",")}
	if gate {
		a = append(a, "-gate")
	}
	return a
}

// loopTimeout bounds how long one kind's loop may take, whatever traces it.
func (r *runner) loopTimeout() time.Duration {
	return time.Duration(r.cfg.warmMs+r.cfg.reps*r.cfg.ms)*time.Millisecond*3 + 30*time.Second
}
