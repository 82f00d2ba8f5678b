package workloads

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
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
	cmd   *exec.Cmd
	first chan struct{} // closed at the first line
	done  chan struct{} // closed once the child has exited and its output is read

	mu      sync.Mutex
	last    Result
	lines   int
	partial []byte
	stderr  bytes.Buffer
	waitErr error
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
	c := &Child{cmd: cmd, first: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout = (*childStdout)(c)
	cmd.Stderr = (*childStderr)(c)

	started := make(chan error, 1)
	go func() {
		// The kernel sends Pdeathsig when the thread that forked the
		// child ends, not the process: keep this thread, and so the
		// child, alive until the child exits.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		c.mu.Lock()
		c.waitErr = err
		c.mu.Unlock()
		close(c.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting the workload child: %w", err)
	}

	select {
	case <-c.first:
		return c, nil
	case <-c.done:
	case <-time.After(childStartTimeout):
		cmd.Process.Kill()
		<-c.done
	}
	_, err := c.result()
	if err == nil {
		err = errors.New("it ended without reporting")
	}
	return nil, fmt.Errorf("workload child did not start: %w", err)
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Done is closed once the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Stats returns the child's latest report, and false if there is none.
func (c *Child) Stats() (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.lines > 0
}

// Stop sends the child SIGTERM (SIGKILL after 5 s), waits for it and
// returns its final ground truth.
func (c *Child) Stop() (Result, error) {
	select {
	case <-c.done:
	default:
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(childStopTimeout):
			c.cmd.Process.Kill()
			<-c.done
		}
	}
	return c.result()
}

// Wait waits for the child to end by itself (after Duration or Messages)
// and returns its final ground truth.
func (c *Child) Wait() (Result, error) {
	<-c.done
	return c.result()
}

// result is the last line the child printed, and the child's failure if it
// did not exit cleanly, with its last line of stderr.
func (c *Child) result() (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.waitErr
	if ps := c.cmd.ProcessState; ps != nil && ps.Success() && c.lines > 0 {
		// It ended cleanly, maybe on SIGTERM from ctx being done (for
		// which Wait returns ctx's error).
		err = nil
	}
	if err != nil {
		if msg := lastLine(c.stderr.String()); msg != "" {
			err = fmt.Errorf("%s (%w)", msg, err)
		}
		err = fmt.Errorf("workload child %d: %w", c.cmd.Process.Pid, err)
	}
	return c.last, err
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// childStdout takes the child's stdout, a JSON Result per line.
type childStdout Child

func (w *childStdout) Write(p []byte) (int, error) {
	c := (*Child)(w)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		var r Result
		if json.Unmarshal(c.partial[:i], &r) == nil {
			c.last = r
			if c.lines++; c.lines == 1 {
				close(c.first)
			}
		}
		c.partial = c.partial[i+1:]
	}
	return len(p), nil
}

// childStderr keeps the child's stderr, up to 64 KiB of it.
type childStderr Child

func (w *childStderr) Write(p []byte) (int, error) {
	c := (*Child)(w)
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := 64<<10 - c.stderr.Len(); room > 0 {
		c.stderr.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
