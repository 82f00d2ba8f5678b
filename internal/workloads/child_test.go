package workloads

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testRoleEnv makes the test binary act as a workload child ("child", as
// "iotrace workload" would) or as a parent that starts one and hangs
// ("parent").
const testRoleEnv = "IOTRACE_WORKLOADS_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(testRoleEnv) {
	case "child":
		os.Exit(testChild(os.Args[1:]))
	case "parent":
		testParent()
	}
	os.Exit(m.Run())
}

// testChild is what cmd/iotrace's workload command does.
func testChild(args []string) int {
	if len(args) == 0 || args[0] != "workload" {
		fmt.Fprintf(os.Stderr, "iotrace: unexpected arguments %q\n", args)
		return 2
	}
	cfg, err := ParseArgs(args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "iotrace: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "iotrace: %v\n", err)
		return 1
	}
	return 0
}

// testParent starts a workload child, prints its pid and waits to be
// killed.
func testParent() {
	os.Setenv(testRoleEnv, "child")
	c, err := StartChild(context.Background(), os.Args[0], Config{Model: Poll, FDs: 10, Active: 1, Size: 8, Rate: 100})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(c.Pid())
	select {}
}

func TestChildStatsAndStop(t *testing.T) {
	t.Setenv(testRoleEnv, "child")
	cfg := Config{Model: Select, FDs: 20, Active: 3, Size: 32, StatsInterval: 50 * time.Millisecond}
	c, err := StartChild(context.Background(), os.Args[0], cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pid() == os.Getpid() || c.Pid() <= 0 {
		t.Fatalf("child pid %d", c.Pid())
	}
	if _, ok := c.Stats(); !ok {
		t.Error("no stats after StartChild")
	}
	var live Result
	for deadline := time.Now().Add(5 * time.Second); live.Messages == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no messages reported: %+v", live)
		}
		live, _ = c.Stats()
	}
	res, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if res.Model != Select || res.FDs != 20 || res.Active != 3 || res.Messages < live.Messages ||
		res.Calls != res.CallsBySyscall[waitName(Select)] || res.BytesRead < res.Messages*32 {
		t.Errorf("final %+v after live %+v", res, live)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done open after Stop")
	}
}

func TestChildEndsByItself(t *testing.T) {
	t.Setenv(testRoleEnv, "child")
	c, err := StartChild(context.Background(), os.Args[0], Config{Model: EpollOneshot, FDs: 30, Active: 5, Size: 16, Messages: 500, TCP: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 500 || res.BytesRead != 500*16 {
		t.Errorf("final %+v", res)
	}
}

func TestChildContextCancel(t *testing.T) {
	t.Setenv(testRoleEnv, "child")
	ctx, cancel := context.WithCancel(context.Background())
	c, err := StartChild(ctx, os.Args[0], Config{Model: Poll, FDs: 5, Active: 1, Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	cancel() // SIGTERM: the child ends cleanly and reports
	res, err := c.Wait()
	if err != nil || res.Model != Poll {
		t.Errorf("after cancel: %+v, %v", res, err)
	}
}

func TestChildErrors(t *testing.T) {
	t.Setenv(testRoleEnv, "child")
	// More fds than fs.nr_open can ever allow.
	_, err := StartChild(context.Background(), os.Args[0], Config{Model: Poll, FDs: 600_000_000, Active: 1, Size: 8})
	if err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		t.Errorf("child that cannot open its fds: %v, want its RLIMIT_NOFILE error", err)
	}
	if _, err := StartChild(context.Background(), "/bin/false", DefaultConfig()); err == nil {
		t.Error("a child that exits at once started")
	}
	if _, err := StartChild(context.Background(), os.Args[0], Config{Model: Poll}); err == nil {
		t.Error("an invalid config started")
	}
}

// The child dies with its parent (Pdeathsig).
func TestChildDiesWithParent(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), testRoleEnv+"=parent")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("parent said %q", line)
	}
	if !alive(pid) {
		t.Fatalf("child %d not running", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("child %d outlived its parent", pid)
		}
	}
}

// alive reports whether pid runs (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
