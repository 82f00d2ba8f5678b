package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// child is a helper process whose stdout lines are read as they come.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

// startChild starts argv with stdin and stdout as pipes.
func startChild(argv []string) (*child, error) {
	c := &child{cmd: exec.Command(argv[0], argv[1:]...), lines: make(chan string, 64), done: make(chan struct{})}
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	readDone := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		close(readDone)
	}()
	go func() {
		// Wait only once the output is read to its end (exec's rule).
		<-readDone
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// line returns the next stdout line that starts with prefix, skipping others.
func (c *child) line(prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				<-c.done
				return "", fmt.Errorf("%s ended before printing %s (%v): %s", filepath.Base(c.cmd.Path), prefix, c.err, strings.TrimSpace(c.stderr.String()))
			}
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-t.C:
			return "", fmt.Errorf("%s printed no %s line within %s", filepath.Base(c.cmd.Path), prefix, timeout)
		}
	}
}

// gate lets the helper go on (one byte on its stdin).
func (c *child) gate() error {
	_, err := c.stdin.Write([]byte{'g'})
	return err
}

// finish closes stdin and waits for the exit, killing after timeout.
func (c *child) finish(timeout time.Duration) error {
	c.stdin.Close()
	go func() {
		for range c.lines {
		}
	}()
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not exit within %s: killed", filepath.Base(c.cmd.Path), timeout)
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return fmt.Errorf("%s: %v: %s", filepath.Base(c.cmd.Path), c.err, strings.TrimSpace(c.stderr.String()))
	}
	return c.err
}

// kill ends the helper at once.
func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.stdin.Close()
	go func() {
		for range c.lines {
		}
	}()
	<-c.done
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
