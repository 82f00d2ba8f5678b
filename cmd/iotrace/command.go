package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/gate"
)

// The command after "--": its output, its end and its exit status.
//
// When the run ends before the command does (-d, q, a signal), iotrace ends
// it as perf and bpftrace end theirs: SIGTERM, then SIGKILL after
// commandGrace, and says so; --leave-running leaves it. The command's
// followed children that outlive it get the same. iotrace then exits with
// the command's status, as time(1) and strace do: its exit code, or 128+N
// when signal N ended it (the shell's rule: 143 after SIGTERM).

// commandGrace is how long the command has after SIGTERM.
const commandGrace = 2 * time.Second

// commandSettle is how long a command is given to end by itself once the
// run ends: Ctrl-C at a terminal reaches the command's process group too.
const commandSettle = 100 * time.Millisecond

type command struct {
	child *gate.Child
	name  string
	// done gets the exit status once the command has exited and been
	// reaped; status keeps it.
	done   chan int
	status *int
	ended  bool // endCommand has run
	// tree is the command's live followed descendants.
	tree map[int]bool
	// logPath is where the command's output goes behind the dashboard.
	logPath string
	log     *os.File
}

// commandStdio returns the command's standard files: iotrace's own in text
// mode; behind the dashboard, which owns the terminal, stdin is empty and
// stdout and stderr go to a log file (--command-log, else a new file in
// the temporary directory), named in the header and at the end.
func (r *session) commandStdio() (in, out, errw *os.File, err error) {
	if r.text {
		return os.Stdin, os.Stdout, os.Stderr, nil
	}
	c := r.cmd
	path := r.o.commandLog
	if path == "" {
		path = filepath.Join(os.TempDir(), fmt.Sprintf("iotrace-%d-%s.log", os.Getpid(), sanitizeName(filepath.Base(r.o.command[0]))))
		c.log, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	} else {
		c.log, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cannot write the command's log %s: %v", path, unwrapPathError(err))
	}
	c.logPath = path
	if in, err = os.Open(os.DevNull); err != nil {
		return nil, nil, nil, err
	}
	return in, c.log, c.log, nil
}

func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r < ' ' {
			return '_'
		}
		return r
	}, s)
}

// startCommand starts the command held at its gate.
func (r *session) startCommand() error {
	r.cmd = &command{name: filepath.Base(r.o.command[0]), tree: map[int]bool{}}
	in, out, errw, err := r.commandStdio()
	if err != nil {
		return err
	}
	if r.cmd.child, err = startGated(r.o.command, in, out, errw); err != nil {
		return err
	}
	r.cmd.tree[r.cmd.child.Pid()] = true
	return nil
}

// watchCommand waits for the released command: once it has exited, and
// before it is reaped, the collector reads its last name (the one exec
// gave it), then its status goes to done.
func (c *command) watch(col *collector.Collector) {
	c.done = make(chan int, 1)
	go func() {
		pid := c.child.Pid()
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				break
			}
		}
		col.RefreshName(pid)
		c.done <- exitStatus(c.child.Wait())
	}()
}

// exitStatus is the shell's reading of a wait: the exit code, or 128+N for
// a process ended by signal N.
func exitStatus(err error) int {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err != nil {
			return 1
		}
		return 0
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

// commandDone is the channel the run loop waits on (nil: no command).
func (r *session) commandDone() <-chan int {
	if r.cmd == nil || r.cmd.done == nil {
		return nil
	}
	return r.cmd.done
}

// noteProcEvent keeps the command's process tree from the collector's
// fork and exit events.
func (r *session) noteProcEvent(ev collector.ProcEvent) {
	if r.cmd == nil {
		return
	}
	switch ev.Kind {
	case collector.EventFork:
		if r.cmd.tree[ev.Ppid] {
			r.cmd.tree[ev.Pid] = true
		}
	case collector.EventExit:
		if ev.Pid != r.cmd.child.Pid() {
			delete(r.cmd.tree, ev.Pid)
		}
	}
}

// endCommand ends the command if the run ended first (unless
// --leave-running) and sets res.exitStatus to its status.
func (r *session) endCommand(res *loopResult, msg io.Writer) {
	c := r.cmd
	if c == nil || c.done == nil || c.ended {
		return
	}
	c.ended = true
	if res.exitStatus != nil {
		c.status = res.exitStatus
		r.endDescendants(msg)
		return
	}
	pid := c.child.Pid()
	if r.o.leaveRunning {
		r.note(msg, "left %s (pid %d) running (--leave-running)", c.name, pid)
		return
	}
	st, ok := waitStatus(c.done, commandSettle)
	if !ok {
		r.note(msg, "ending %s (pid %d): SIGTERM", c.name, pid)
		c.child.Cmd.Process.Signal(syscall.SIGTERM)
		if st, ok = waitStatus(c.done, commandGrace); !ok {
			r.note(msg, "%s (pid %d) still running %s after SIGTERM: SIGKILL", c.name, pid, commandGrace)
			c.child.Cmd.Process.Signal(syscall.SIGKILL)
			st = <-c.done
		}
	}
	c.status = &st
	res.exitStatus = &st
	r.endDescendants(msg)
}

// endDescendants ends the command's followed children that outlived it.
func (r *session) endDescendants(msg io.Writer) {
	c := r.cmd
	var left []int
	for pid := range c.tree {
		if pid != c.child.Pid() && syscall.Kill(pid, 0) == nil {
			left = append(left, pid)
		}
	}
	if len(left) == 0 || r.o.leaveRunning {
		return
	}
	r.note(msg, "ending %d process(es) %s started: SIGTERM", len(left), c.name)
	for _, pid := range left {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(commandGrace)
	for _, pid := range left {
		for time.Now().Before(deadline) && syscall.Kill(pid, 0) == nil && !isZombie(pid) {
			time.Sleep(20 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil && !isZombie(pid) {
			r.note(msg, "pid %d still running after SIGTERM: SIGKILL", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

func waitStatus(done <-chan int, d time.Duration) (int, bool) {
	select {
	case st := <-done:
		return st, true
	case <-time.After(d):
		return 0, false
	}
}

// commandExit is runTrace's result for a command run: the command's status.
func (r *session) commandExit() error {
	if r.cmd == nil {
		return nil
	}
	if r.cmd.logPath != "" {
		r.note(os.Stderr, "%s's output is in %s", r.cmd.name, r.cmd.logPath)
	}
	if r.cmd.status != nil && *r.cmd.status != 0 {
		return exitError{code: *r.cmd.status}
	}
	return nil
}

// note prints one line of iotrace's own (not with -q).
func (r *session) note(w io.Writer, format string, args ...any) {
	if r.o.quiet {
		return
	}
	fmt.Fprintf(w, "iotrace: "+format+"\n", args...)
}
