package workloads

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitName is the waiting call each model makes on this architecture.
func waitName(m Model) string {
	switch m {
	case Select:
		return sysNames[waitSelect]
	case Poll:
		return sysNames[waitPoll]
	}
	return sysNames[waitEpoll]
}

func isEpoll(m Model) bool { return strings.HasPrefix(string(m), "epoll") }

// waitDone waits for w to end by itself, then stops it.
func waitDone(t *testing.T, w *Workload, timeout time.Duration) Result {
	t.Helper()
	select {
	case <-w.Done():
	case <-time.After(timeout):
		w.Stop()
		t.Fatalf("workload still running after %s: %+v", timeout, w.Stats())
	}
	res, err := w.Stop()
	if err != nil {
		t.Fatalf("workload failed: %v", err)
	}
	return res
}

// checkCalls checks that res counts only m's calls, and that calls is
// their total.
func checkCalls(t *testing.T, m Model, fds int, res Result) {
	t.Helper()
	if !m.Multiplexing() {
		if len(res.CallsBySyscall) != 0 {
			t.Errorf("%s made multiplexing calls: %v", m, res.CallsBySyscall)
		}
		if res.Calls <= 0 {
			t.Errorf("%s made %d waiting calls", m, res.Calls)
		}
		return
	}
	wait := res.CallsBySyscall[waitName(m)]
	if wait == 0 || res.Calls != wait {
		t.Errorf("calls = %d, %s calls = %d: want equal and > 0", res.Calls, waitName(m), wait)
	}
	want := 1
	if isEpoll(m) {
		want = 2
		ctl := res.CallsBySyscall["epoll_ctl"]
		switch m {
		case EpollOneshot: // one EPOLL_CTL_ADD per connection, one MOD per event
			if ctl != int64(fds)+res.ReadyEvents {
				t.Errorf("epoll_ctl calls = %d, want %d ADD + %d MOD", ctl, fds, res.ReadyEvents)
			}
		default:
			if ctl != int64(fds) {
				t.Errorf("epoll_ctl calls = %d, want %d (one ADD per connection)", ctl, fds)
			}
		}
	}
	if len(res.CallsBySyscall) != want {
		t.Errorf("calls by syscall = %v, want only %s's calls", res.CallsBySyscall, m)
	}
}

// Every model, over socketpairs and TCP, reads exactly what the driver
// sent, round-robin over the active connections.
func TestModelsExact(t *testing.T) {
	const n, k, size, msgs = 40, 7, 100, 2000
	for _, tcp := range []bool{false, true} {
		for _, m := range Models() {
			name := string(m)
			if tcp {
				name += "/tcp"
			}
			t.Run(name, func(t *testing.T) {
				cfg := Config{Model: m, FDs: n, Active: k, Size: size, Messages: msgs, TCP: tcp}
				w, err := Start(cfg)
				if errors.Is(err, ErrNoUring) {
					t.Skip(err)
				}
				if err != nil {
					t.Fatal(err)
				}
				if tid := w.ServerTID(); tid <= 0 || tid == os.Getpid() {
					t.Errorf("server tid %d: want a thread other than the main one (%d), whose calls are package init's too", tid, os.Getpid())
				}
				res := waitDone(t, w, 10*time.Second)
				if res.Model != m || res.FDs != n || res.Active != k {
					t.Errorf("result describes %s, %d fds, %d active", res.Model, res.FDs, res.Active)
				}
				if res.Messages != msgs || res.BytesRead != msgs*size {
					t.Errorf("read %d messages, %d bytes; want %d, %d", res.Messages, res.BytesRead, msgs, msgs*size)
				}
				if m.Multiplexing() && (res.ReadyEvents < 1 || res.ReadyEvents > res.BytesRead) {
					t.Errorf("ready events = %d", res.ReadyEvents)
				}
				if res.ElapsedNS <= 0 {
					t.Errorf("elapsed = %d", res.ElapsedNS)
				}
				checkCalls(t, m, n, res)
				checkDataPhase(t, m, n, res, false)
				for i, got := range w.connRead {
					want := int64(0)
					if i < k {
						want = (msgs/k + btoi(i < msgs%k)) * size
					}
					if got != want {
						t.Errorf("connection %d: read %d bytes, want %d", i, got, want)
					}
				}
			})
		}
	}
}

// checkDataPhase holds a finished run's data-phase counts to each other
// and to what the model's loop does by construction.
// With burst, the test wrote the data before the server started (so the
// driver wrote nothing, and no signal was raised).
func checkDataPhase(t *testing.T, m Model, fds int, res Result, burst bool) {
	t.Helper()
	if !burst && res.BytesWritten != res.BytesRead {
		t.Errorf("driver wrote %d bytes, server read %d", res.BytesWritten, res.BytesRead)
	}
	if m == Uring {
		if res.Reads != 0 || res.EAGAINs != 0 {
			t.Errorf("uring made %d read(2) calls (%d EAGAIN): want none", res.Reads, res.EAGAINs)
		}
		if res.RecvCompletions < 1 || res.Completions < res.RecvCompletions {
			t.Errorf("uring: %d completions, %d of them recvs with data", res.Completions, res.RecvCompletions)
		}
		// One recv per connection at the start (and, multishot, one
		// PROVIDE_BUFFERS), then one SQE per completion at most: a
		// re-armed recv, and a returned buffer for a multishot one.
		if res.Submissions < int64(fds) || res.Submissions > int64(fds)+1+2*res.Completions {
			t.Errorf("uring: %d submissions for %d connections and %d completions", res.Submissions, fds, res.Completions)
		}
		if res.Calls < 2 {
			t.Errorf("uring: %d io_uring_enter calls", res.Calls)
		}
		return
	}
	if res.Reads <= res.EAGAINs {
		t.Errorf("%d reads, %d of them EAGAIN: none read data", res.Reads, res.EAGAINs)
	}
	if res.Submissions != 0 || res.Completions != 0 {
		t.Errorf("%s counted io_uring submissions %d, completions %d", m, res.Submissions, res.Completions)
	}
	if m != SigIO && (res.Signals != 0 || res.SignalOverflows != 0) {
		t.Errorf("%s counted %d signals", m, res.Signals)
	}
	switch m {
	case Blocking:
		if res.Calls != res.Reads || len(res.ServerTIDs) != fds {
			t.Errorf("blocking: %d calls, %d reads, %d threads for %d connections", res.Calls, res.Reads, len(res.ServerTIDs), fds)
		}
		seen := map[int]bool{}
		for _, tid := range res.ServerTIDs {
			if tid <= 0 || seen[tid] {
				t.Errorf("blocking: server tids %v are not distinct threads", res.ServerTIDs)
				break
			}
			seen[tid] = true
		}
	case NonblockSpin:
		if res.Calls != res.Reads {
			t.Errorf("nonblock-spin: %d calls, %d reads: want one read per call", res.Calls, res.Reads)
		}
	case SigIO:
		// Each signal's fd is read until EAGAIN (one EAGAIN); every
		// connection once at the start, and again on each overflow.
		want := res.Signals - res.SignalOverflows + int64(fds)*(1+res.SignalOverflows)
		if res.Signals < btoi(!burst) || res.EAGAINs != want {
			t.Errorf("sigio: %d signals (%d overflows), %d EAGAINs: want %d", res.Signals, res.SignalOverflows, res.EAGAINs, want)
		}
		if res.Calls < res.Signals {
			t.Errorf("sigio: %d rt_sigtimedwait calls dequeued %d signals", res.Calls, res.Signals)
		}
	case EpollET:
		// Every event is read until EAGAIN.
		if res.EAGAINs != res.ReadyEvents {
			t.Errorf("epoll-et: %d EAGAINs for %d events", res.EAGAINs, res.ReadyEvents)
		}
	default:
		// One read per ready fd, which has data.
		if res.Reads != res.ReadyEvents || res.EAGAINs != 0 {
			t.Errorf("%s: %d reads (%d EAGAIN) for %d ready events", m, res.Reads, res.EAGAINs, res.ReadyEvents)
		}
	}
}

// blocking refuses more connections than it may have threads.
func TestBlockingThreadLimit(t *testing.T) {
	err := Config{Model: Blocking, FDs: MaxBlockingFDs + 1, Active: 1, Size: 1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "one thread per connection") {
		t.Errorf("blocking with %d fds: %v, want an error about its threads", MaxBlockingFDs+1, err)
	}
}

// io_uring_setup's refusal is one line naming why.
func TestUringUnavailableMessage(t *testing.T) {
	for _, e := range []unix.Errno{unix.ENOSYS, unix.EPERM} {
		err := uringUnavailable(e)
		if !errors.Is(err, ErrNoUring) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "io_uring_setup: "+e.Error()) {
			t.Errorf("%v: %q", e, err)
		}
	}
	if err := uringUnavailable(unix.ENOSYS); !strings.Contains(err.Error(), "CONFIG_IO_URING") {
		t.Errorf("ENOSYS: %q does not name CONFIG_IO_URING", err)
	}
}

func btoi(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Messages written in a burst before the server starts are all read: ET
// reads until EAGAIN on its one edge, oneshot is re-armed after each read,
// and the level-triggered models see the rest on their next calls.
func TestBurstBeforeServing(t *testing.T) {
	const n, perConn, size, buf = 4, 20, 100, 256
	const reads = (perConn*size + buf - 1) / buf // reads to empty a connection
	for _, m := range Models() {
		t.Run(string(m), func(t *testing.T) {
			cfg := Config{Model: m, FDs: n, Size: size, readBufSize: buf}
			conns, err := openConns(cfg)
			if err != nil {
				t.Fatal(err)
			}
			msg := make([]byte, size)
			for _, c := range conns {
				for range perConn {
					if k, err := unix.Write(c.driver, msg); k != size {
						t.Fatalf("write: %d, %v", k, err)
					}
				}
			}
			w, err := start(cfg, conns)
			if err != nil {
				closeConns(conns)
				if errors.Is(err, ErrNoUring) {
					t.Skip(err)
				}
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for w.Stats().Messages < n*perConn && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			res, err := w.Stop()
			if err != nil {
				t.Fatal(err)
			}
			if res.Messages != n*perConn || res.BytesRead != n*perConn*size {
				t.Fatalf("read %d messages, %d bytes; want %d, %d (stalled?)", res.Messages, res.BytesRead, n*perConn, n*perConn*size)
			}
			// ET gets one edge per connection and empties it at once;
			// the others get one event per read.
			want := int64(n * reads)
			if m == EpollET {
				want = n
			}
			if !m.Multiplexing() {
				want = 0
			}
			if res.ReadyEvents != want {
				t.Errorf("ready events = %d, want %d", res.ReadyEvents, want)
			}
			checkCalls(t, m, n, res)
			checkDataPhase(t, m, n, res, true)
		})
	}
}

// select refuses fds at or above FD_SETSIZE before any select call.
func TestSelectRefusesHighFD(t *testing.T) {
	err := Config{Model: Select, FDs: 2000, Active: 1, Size: 1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "FD_SETSIZE") {
		t.Errorf("select with 2000 fds: %v, want an error naming FD_SETSIZE", err)
	}

	cfg := Config{Model: Select, FDs: 2, Size: 1}
	conns, err := openConns(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeConns(conns)
	if err := raiseNofile(FDSetSize + 64); err != nil {
		t.Skip(err)
	}
	high, err := unix.FcntlInt(uintptr(conns[1].server), unix.F_DUPFD_CLOEXEC, FDSetSize+10)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(conns[1].server)
	conns[1].server = high
	w, err := start(cfg, conns)
	if err == nil {
		w.Stop()
		t.Fatal("select watched an fd above FD_SETSIZE")
	}
	if !strings.Contains(err.Error(), "FD_SETSIZE") || !strings.Contains(err.Error(), "fd 1034") {
		t.Errorf("error %q should name FD_SETSIZE and fd 1034", err)
	}
}

// The driver keeps to the rate, and Duration ends the workload.
func TestRateAndDuration(t *testing.T) {
	const rate, d = 200, 500 * time.Millisecond
	w, err := Start(Config{Model: Poll, FDs: 10, Active: 3, Size: 10, Rate: rate, Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	res := waitDone(t, w, 5*time.Second)
	if want := rate * d.Seconds(); float64(res.Messages) < want*0.6 || float64(res.Messages) > want*1.2+1 {
		t.Errorf("%d messages in %s at %d/s", res.Messages, d, rate)
	}
	if el := time.Duration(res.ElapsedNS); el < d || el > d+200*time.Millisecond {
		t.Errorf("elapsed %s, want about %s", el, d)
	}
}

// Rotation makes every connection active in turn.
func TestRotate(t *testing.T) {
	w, err := Start(Config{Model: EpollLT, FDs: 12, Active: 3, Size: 10, Rate: 2000, Rotate: 20 * time.Millisecond, Duration: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, w, 5*time.Second)
	for i, b := range w.connRead {
		if b == 0 {
			t.Errorf("connection %d never got a message: %v", i, w.connRead)
		}
	}
}

// Active changes live; other changes need a restart.
func TestReconfigure(t *testing.T) {
	cfg := Config{Model: EpollET, FDs: 10, Active: 1, Size: 10}
	w, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for w.Stats().Messages == 0 {
		time.Sleep(time.Millisecond)
	}
	bigger := cfg
	bigger.FDs = 20
	if err := w.Reconfigure(bigger); !errors.Is(err, ErrRestart) {
		t.Errorf("changing --fds: %v, want ErrRestart", err)
	}
	cfg.Active = 5
	if err := w.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if got := w.Stats().Active; got != 5 {
		t.Errorf("active = %d after Reconfigure", got)
	}
	time.Sleep(100 * time.Millisecond)
	res, err := w.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if res.Active != 5 {
		t.Errorf("final active = %d", res.Active)
	}
	for i, b := range w.connRead {
		if (i < 5) != (b > 0) {
			t.Errorf("connection %d read %d bytes; want data on exactly the first 5", i, b)
		}
	}
}

// Stats can be read while running, and grows; Stop can be called twice.
func TestStatsWhileRunning(t *testing.T) {
	w, err := Start(Config{Model: Select, FDs: 50, Active: 50, Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	var last Result
	for range 5 {
		time.Sleep(20 * time.Millisecond)
		s := w.Stats()
		if s.Calls < last.Calls || s.Messages < last.Messages || s.ElapsedNS <= last.ElapsedNS {
			t.Errorf("stats went back: %+v after %+v", s, last)
		}
		last = s
	}
	r1, err1 := w.Stop()
	r2, err2 := w.Stop()
	if err1 != nil || err2 != nil || !reflect.DeepEqual(r1, r2) || r1.Messages < last.Messages {
		t.Errorf("Stop: %+v, %v then %+v, %v", r1, err1, r2, err2)
	}
}

// Large N: 100,000 socketpairs, or as many as RLIMIT_NOFILE allows here.
func TestManyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	n := 100_000
	cfg := Config{Model: EpollET, FDs: n, Active: 100, Size: 16, Messages: 10_000}
	w, err := Start(cfg)
	if err != nil && strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		var lim unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
		n = int(lim.Max-200) / 2
		t.Logf("%v; trying %d connections", err, n)
		if n < 1000 {
			t.Skip("too few fds allowed")
		}
		cfg.FDs = n
		w, err = Start(cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	res := waitDone(t, w, 15*time.Second)
	if res.Messages != 10_000 || res.CallsBySyscall["epoll_ctl"] != int64(n) {
		t.Errorf("result %+v", res)
	}
}

func TestRlimitError(t *testing.T) {
	err := raiseNofile(1 << 40)
	if err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		t.Errorf("raising RLIMIT_NOFILE past fs.nr_open: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.Model = "kqueue" },
		func(c *Config) { c.FDs = 0 },
		func(c *Config) { c.Active = c.FDs + 1 },
		func(c *Config) { c.Active = -1 },
		func(c *Config) { c.Size = -1 },
		func(c *Config) { c.Size = 0 },
		func(c *Config) { c.Rate = -1 },
		func(c *Config) { c.Duration = -time.Second },
		func(c *Config) { c.Active, c.Messages = 0, 10 },
		func(c *Config) { c.Model, c.FDs = Select, 1500 },
	} {
		c := ok
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("error %q is more than one line", err)
		}
	}
}

func TestArgs(t *testing.T) {
	cfg := Config{Model: EpollOneshot, FDs: 500, Active: 20, Rate: 1234.5, Size: 7, TCP: true,
		Rotate: 1500 * time.Millisecond, Messages: 99, Duration: time.Minute, StatsInterval: time.Second}
	got, err := ParseArgs(cfg.Args())
	if err != nil || got != cfg {
		t.Errorf("ParseArgs(%q) = %+v, %v; want %+v", cfg.Args(), got, err, cfg)
	}
	got, err = ParseArgs([]string{"poll"})
	if want := DefaultConfig(); err != nil || got.Model != Poll || got.FDs != want.FDs || got.Active != want.Active || got.Size != want.Size {
		t.Errorf("defaults: %+v, %v", got, err)
	}
	for _, args := range [][]string{{}, {"nope"}, {"poll", "--fds", "x"}, {"poll", "extra"}, {"poll", "--active", "200"}} {
		if _, err := ParseArgs(args); err == nil {
			t.Errorf("ParseArgs(%q): no error", args)
		}
	}
}

// uring's fallback for kernels before 6.0, one recv per completion into the
// connection's own buffer, reads exactly what was sent too.
func TestUringSingleShot(t *testing.T) {
	defer func(f func() bool) { haveMultishot = f }(haveMultishot)
	haveMultishot = func() bool { return false }
	const n, k, size, msgs = 20, 5, 100, 2000
	w, err := Start(Config{Model: Uring, FDs: n, Active: k, Size: size, Messages: msgs})
	if errors.Is(err, ErrNoUring) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	res := waitDone(t, w, 10*time.Second)
	if res.Multishot || res.Messages != msgs || res.BytesRead != msgs*size {
		t.Fatalf("result %+v", res)
	}
	// Single-shot: every SQE is a recv, and each completion re-arms one.
	if res.Completions != res.RecvCompletions || res.Submissions < res.Completions || res.Submissions > res.Completions+n {
		t.Errorf("%d submissions, %d completions (%d with data) for %d connections", res.Submissions, res.Completions, res.RecvCompletions, n)
	}
	checkDataPhase(t, Uring, n, res, false)
}

// With RLIMIT_SIGPENDING at 1 the real-time signal queue overflows and the
// kernel sends SIGIO instead (fs/fcntl.c send_sigio_to_task): sigio then
// reads every connection, so it still reads every message, and its counts
// stay exact.
func TestSigIOOverflow(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_SIGPENDING, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = 1
	if err := unix.Setrlimit(unix.RLIMIT_SIGPENDING, &low); err != nil {
		t.Skip(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_SIGPENDING, &old)
	const n, k, size, msgs = 30, 30, 64, 20000
	w, err := Start(Config{Model: SigIO, FDs: n, Active: k, Size: size, Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	res := waitDone(t, w, 20*time.Second)
	if res.Messages != msgs {
		t.Fatalf("read %d messages of %d", res.Messages, msgs)
	}
	if res.SignalOverflows == 0 {
		t.Errorf("no SIGIO with a signal queue of 1: %+v", res)
	}
	checkDataPhase(t, SigIO, n, res, false)
	t.Logf("%d signals, %d of them SIGIO (overflow), %d EAGAINs", res.Signals, res.SignalOverflows, res.EAGAINs)
}
