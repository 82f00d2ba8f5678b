package gate

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// roleEnv makes the test binary a gated child: "stdin" or "fd3" waits at
// that gate, prints "released" and then waits for the gate to close.
const roleEnv = "IOTRACE_GATE_TEST_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		fd := 0
		if role == "fd3" {
			fd = Fd3Fd
		}
		if err := Await(fd); err != nil {
			os.Stderr.WriteString("await: " + err.Error() + "\n")
			os.Exit(3)
		}
		os.Stdout.WriteString("released\n")
		AwaitClose(fd)
		os.Stdout.WriteString("closed\n")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(t *testing.T, role string, kind Kind) (*Child, chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	lines := make(chan string, 10)
	c, err := Start(cmd, Options{Gate: kind, KeepStderr: true, Lines: func(l string, _ time.Time) { lines <- l }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	return c, lines
}

func expectLine(t *testing.T, lines chan string, want string) {
	t.Helper()
	select {
	case l := <-lines:
		if l != want {
			t.Fatalf("line %q, want %q", l, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q line", want)
	}
}

func TestReleaseAndClose(t *testing.T) {
	for _, c := range []struct {
		role string
		kind Kind
	}{{"stdin", Stdin}, {"fd3", Fd3}} {
		t.Run(c.role, func(t *testing.T) {
			ch, lines := child(t, c.role, c.kind)
			select {
			case l := <-lines:
				t.Fatalf("the child went on before its release: %q", l)
			case <-time.After(100 * time.Millisecond):
			}
			if err := ch.Release(); err != nil {
				t.Fatal(err)
			}
			expectLine(t, lines, "released")
			if ch.Exited() {
				t.Fatal("the child exited before its gate closed")
			}
			ch.CloseGate()
			expectLine(t, lines, "closed")
			if err := ch.Wait(); err != nil {
				t.Fatalf("exit: %v; stderr %s", err, ch.Stderr())
			}
			if err := ch.Release(); err == nil {
				t.Error("released through a closed gate")
			}
		})
	}
}

// A gate closed before its release: the child learns that its parent is
// done with it.
func TestClosedBeforeRelease(t *testing.T) {
	ch, _ := child(t, "stdin", Stdin)
	ch.CloseGate()
	err := ch.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(ch.Stderr(), ErrClosed.Error()) {
		t.Errorf("exit %v, stderr %q; want status 3 and %q", err, ch.Stderr(), ErrClosed)
	}
}

func TestStopAndLockThread(t *testing.T) {
	var mu sync.Mutex
	var got []string
	cmd := exec.Command("/bin/sh", "-c", "echo one; echo two; exec sleep 60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c, err := Start(cmd, Options{LockThread: true, Lines: func(l string, _ time.Time) {
		mu.Lock()
		got = append(got, l)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lines %q", got)
		}
	}
	if killed := c.Stop(syscall.SIGTERM, 5*time.Second); killed {
		t.Error("SIGTERM did not end sleep")
	}
	if !c.Exited() || c.Wait() == nil {
		t.Errorf("after Stop: exited %v, err %v", c.Exited(), c.Wait())
	}
	if strings.Join(got, ",") != "one,two" {
		t.Errorf("lines %q", got)
	}
}

func TestStartFails(t *testing.T) {
	if _, err := Start(exec.Command("/nonexistent/cmd"), Options{Gate: Fd3}); err == nil {
		t.Error("started a missing command")
	}
}
