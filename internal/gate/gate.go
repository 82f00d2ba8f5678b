// Package gate starts child processes that wait at a gate, so that a
// tracer can attach to a child before it does anything worth measuring,
// then release it. Four places use it: iotrace's `-- COMMAND` (the gate
// is fd 3 of `iotrace __gate`, which then execs the command), the
// scenario helper of the tests and bench/overhead's C helper (the gate is
// their stdin), and the built-in workloads' children (no gate: they are
// ready once they print their first line).
//
// The wire protocol is one byte, Go, written to the gate's pipe: it
// releases the child, which may wait for more. Closing the pipe tells the
// child that its parent is done with it (or went away before releasing
// it). The child side reads with raw read(2) calls (Await, AwaitClose), so
// that Go's netpoller, whose epoll calls a tracer would count as the
// child's own, stays out of it.
package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Go is the byte that releases a gated child.
const Go = 'g'

// Kind is where a child's gate is.
type Kind int

const (
	// None: no gate.
	None Kind = iota
	// Stdin: the child's stdin is the gate.
	Stdin
	// Fd3: the child's fd 3 (Cmd.ExtraFiles[0]) is the gate; its stdin
	// is what Cmd.Stdin says.
	Fd3
)

// Fd3Fd is the gate's fd in the child for Fd3.
const Fd3Fd = 3

// Options say how Start sets the child up.
type Options struct {
	Gate Kind
	// Lines, when set, gets each line of the child's stdout (without its
	// newline) and when it came, in order, from one goroutine at a time.
	// Cmd.Stdout must then be nil.
	Lines func(line string, at time.Time)
	// KeepStderr keeps the child's stderr (Stderr), up to StderrLimit
	// bytes when that is positive. Cmd.Stderr must then be nil.
	KeepStderr  bool
	StderrLimit int
	// LockThread starts and reaps the child on one locked OS thread: the
	// kernel sends Pdeathsig when the thread that forked the child ends,
	// not the process, so that thread must live as long as the child.
	LockThread bool
}

// Child is a started child process.
type Child struct {
	Cmd  *exec.Cmd
	gate io.WriteCloser // nil without a gate, or once closed

	waitOnce sync.Once
	done     chan struct{}
	err      error // Cmd.Wait's, once done is closed

	mu      sync.Mutex
	gateMu  sync.Mutex
	stderr  bytes.Buffer
	limit   int
	lines   func(string, time.Time)
	partial []byte
}

// Start starts cmd as o says. Without LockThread the child is reaped only
// once Wait, Done, Exited, Stop or Kill asks for it.
func Start(cmd *exec.Cmd, o Options) (*Child, error) {
	c := &Child{Cmd: cmd, done: make(chan struct{}), limit: o.StderrLimit, lines: o.Lines}
	if o.Lines != nil {
		cmd.Stdout = (*stdoutWriter)(c)
	}
	if o.KeepStderr {
		cmd.Stderr = (*stderrWriter)(c)
	}
	var childEnd *os.File
	switch o.Gate {
	case Stdin:
		w, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		c.gate = w
	case Fd3:
		if len(cmd.ExtraFiles) != 0 {
			return nil, errors.New("gate: fd 3 is taken (Cmd.ExtraFiles is set)")
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		cmd.ExtraFiles = []*os.File{r}
		childEnd, c.gate = r, w
	}
	start := func() error {
		err := cmd.Start()
		if childEnd != nil {
			childEnd.Close()
		}
		if err != nil && c.gate != nil {
			c.gate.Close()
		}
		return err
	}
	if !o.LockThread {
		if err := start(); err != nil {
			return nil, err
		}
		return c, nil
	}
	c.waitOnce.Do(func() {}) // the goroutine below reaps it
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.reap()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Child) reap() {
	c.err = c.Cmd.Wait()
	close(c.done)
}

func (c *Child) startReaping() { c.waitOnce.Do(func() { go c.reap() }) }

// Pid is the child's process id.
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Release writes Go to the gate: the child goes on. A child may be
// released more than once (bench/overhead's helper waits at each loop).
func (c *Child) Release() error {
	c.gateMu.Lock()
	defer c.gateMu.Unlock()
	if c.gate == nil {
		return errors.New("gate: no gate, or it is closed")
	}
	_, err := c.gate.Write([]byte{Go})
	return err
}

// CloseGate closes the gate's pipe: the child sees its end. Closing twice
// does nothing.
func (c *Child) CloseGate() {
	c.gateMu.Lock()
	defer c.gateMu.Unlock()
	if c.gate != nil {
		c.gate.Close()
		c.gate = nil
	}
}

// Done is closed once the child has exited and its output is read.
func (c *Child) Done() <-chan struct{} {
	c.startReaping()
	return c.done
}

// Wait waits for the child to exit and returns Cmd.Wait's error.
func (c *Child) Wait() error {
	<-c.Done()
	return c.err
}

// Exited reports whether the child has exited (and been reaped).
func (c *Child) Exited() bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// WaitTimeout waits up to timeout for the child to exit by itself.
func (c *Child) WaitTimeout(timeout time.Duration) bool {
	select {
	case <-c.Done():
		return true
	case <-time.After(timeout):
		return false
	}
}

// Stop sends sig, unless the child has already exited, and waits; after
// timeout it kills the child. It reports whether it had to.
func (c *Child) Stop(sig os.Signal, timeout time.Duration) (killed bool) {
	if !c.Exited() {
		c.Cmd.Process.Signal(sig)
	}
	if c.WaitTimeout(timeout) {
		return false
	}
	c.Kill()
	return true
}

// Kill ends the child with SIGKILL and waits for it.
func (c *Child) Kill() {
	c.Cmd.Process.Signal(syscall.SIGKILL)
	c.CloseGate()
	<-c.Done()
}

// Stderr is what the child wrote to its stderr (with KeepStderr).
func (c *Child) Stderr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

type stdoutWriter Child

func (w *stdoutWriter) Write(p []byte) (int, error) {
	c := (*Child)(w)
	at := time.Now()
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.lines(string(c.partial[:i]), at)
		c.partial = c.partial[i+1:]
	}
	return len(p), nil
}

type stderrWriter Child

func (w *stderrWriter) Write(p []byte) (int, error) {
	c := (*Child)(w)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limit <= 0 {
		c.stderr.Write(p)
	} else if room := c.limit - c.stderr.Len(); room > 0 {
		c.stderr.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// ErrClosed is Await's error when the gate closed before releasing it.
var ErrClosed = errors.New("gate closed before it was released")

// Await is the child side: it waits until the parent writes Go to fd, with
// raw reads (retried on EINTR). It fails if fd ends first, or with another
// byte.
func Await(fd int) error {
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("reading the gate: %w", err)
		case n == 0:
			return ErrClosed
		case b[0] != Go:
			return fmt.Errorf("gate: got %q, want %q", b[0], Go)
		}
		return nil
	}
}

// AwaitClose is the child side: it waits, with raw reads, until the
// parent closes fd, ignoring what it writes.
func AwaitClose(fd int) {
	var b [1]byte
	for {
		if n, err := unix.Read(fd, b[:]); n <= 0 && err != unix.EINTR {
			return
		}
	}
}
