package workloads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/iotrace/iotrace/internal/gate"
)

// Child-process timing.
const (
	// ChildStatsInterval is how often a child reports its ground truth
	// when Config.StatsInterval is 0.
	ChildStatsInterval = time.Second
	childStartTimeout  = 30 * time.Second // to set up and report once
	childStopTimeout   = 5 * time.Second  // from SIGTERM to SIGKILL
)

// Child is a workload in a child process of its own, so that each model
// has its own PID.
//
// The child is "EXE workload MODEL --fds N ..." (Config.Args), which runs
// Run and prints one JSON Result per line on its stdout: right after its
// connections are set up, every StatsInterval, and a final one when it
// ends (on SIGINT or SIGTERM, or by itself after Duration or Messages).
// Stats returns the latest line; Stop and Wait return the final one. The
// child is killed with SIGKILL if this process dies, and is in a process
// group of its own, so a terminal's Ctrl-C reaches only this process.
//
// A child cannot be reconfigured: stop it and start another.
type Child struct {
	c     *gate.Child   // no gate: the first line says it is ready
	first chan struct{} // closed at the first line

	mu    sync.Mutex
	last  Result
	lines int
}

// StartChild starts cfg as "exe workload ..." and returns once the child
// has set its connections up and reported, or fails with the child's own
// error message. exe is normally the iotrace binary, os.Executable().
// When ctx is done the child is sent SIGTERM (and SIGKILL if it has not
// ended within 5 s).
func StartChild(ctx context.Context, exe string, cfg Config) (*Child, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = ChildStatsInterval
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{"workload"}, cfg.Args()...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = childStopTimeout
	c := &Child{first: make(chan struct{})}
	var err error
	c.c, err = gate.Start(cmd, gate.Options{
		Lines:      c.line,
		KeepStderr: true, StderrLimit: 64 << 10,
		// The kernel sends Pdeathsig when the thread that forked the
		// child ends, not the process: keep that thread, and so the
		// child, alive until the child exits.
		LockThread: true,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the workload child: %w", err)
	}

	select {
	case <-c.first:
		return c, nil
	case <-c.c.Done():
	case <-time.After(childStartTimeout):
		c.c.Kill()
	}
	_, err = c.result()
	if err == nil {
		err = errors.New("it ended without reporting")
	}
	return nil, fmt.Errorf("workload child did not start: %w", err)
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.c.Pid() }

// Done is closed once the child has exited.
func (c *Child) Done() <-chan struct{} { return c.c.Done() }

// Stats returns the child's latest report, and false if there is none.
func (c *Child) Stats() (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.lines > 0
}

// Stop sends the child SIGTERM (SIGKILL after 5 s), waits for it and
// returns its final ground truth.
func (c *Child) Stop() (Result, error) {
	c.c.Stop(syscall.SIGTERM, childStopTimeout)
	return c.result()
}

// Wait waits for the child to end by itself (after Duration or Messages)
// and returns its final ground truth.
func (c *Child) Wait() (Result, error) {
	c.c.Wait()
	return c.result()
}

// result is the last line the child printed, and the child's failure if it
// did not exit cleanly, with its last line of stderr.
func (c *Child) result() (Result, error) {
	err := c.c.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps := c.c.Cmd.ProcessState; ps != nil && ps.Success() && c.lines > 0 {
		// It ended cleanly, maybe on SIGTERM from ctx being done (for
		// which Wait returns ctx's error).
		err = nil
	}
	if err != nil {
		if msg := lastLine(c.c.Stderr()); msg != "" {
			err = fmt.Errorf("%s (%w)", msg, err)
		}
		err = fmt.Errorf("workload child %d: %w", c.c.Pid(), err)
	}
	return c.last, err
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// line takes a line of the child's stdout, a JSON Result.
func (c *Child) line(l string, _ time.Time) {
	var r Result
	if json.Unmarshal([]byte(l), &r) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = r
	if c.lines++; c.lines == 1 {
		close(c.first)
	}
}
