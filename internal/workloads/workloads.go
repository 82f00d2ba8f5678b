// Package workloads runs iotrace's built-in I/O multiplexing workloads: a
// server thread that holds N connections and waits on them with one model
// (select, poll, or epoll in level-triggered, edge-triggered or one-shot
// mode), and a load driver thread that writes fixed-size messages to K of
// them at a given rate.
//
// Both threads are locked to their OS threads and use raw system calls on
// raw file descriptors, never Go's netpoller, so a tracer sees exactly the
// model at work. Each workload counts its own ground truth (the calls it
// issued per system call, the ready events they returned, bytes and
// messages read, elapsed time) so a tracer's figures can be checked.
//
// A workload runs in this process (Start) or in a child process of its own
// (StartChild), which runs "iotrace workload MODEL ..." (see Run).
package workloads

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Model is a way of waiting for I/O on many connections.
type Model string

// The models.
const (
	Select       Model = "select"        // select(2) on an fd_set rebuilt for every call
	Poll         Model = "poll"          // poll(2) on an array of every connection
	EpollLT      Model = "epoll-lt"      // epoll, level-triggered: one read per event
	EpollET      Model = "epoll-et"      // epoll with EPOLLET: read until EAGAIN
	EpollOneshot Model = "epoll-oneshot" // epoll with EPOLLONESHOT: one read, then EPOLL_CTL_MOD to re-arm

	// The other four of the five I/O models of UNIX Network Programming.
	Blocking     Model = "blocking"      // one thread per connection, blocking read(2)
	NonblockSpin Model = "nonblock-spin" // non-blocking read(2) on every connection in a loop, no wait between
	SigIO        Model = "sigio"         // O_ASYNC + F_SETSIG: rt_sigtimedwait, then read until EAGAIN
	Uring        Model = "uring"         // io_uring recv (multishot where the kernel has it)
)

// Models lists every model, in the order of the five I/O models: blocking,
// non-blocking, multiplexed, signal-driven, asynchronous.
func Models() []Model {
	return []Model{Blocking, NonblockSpin, Select, Poll, EpollLT, EpollET, EpollOneshot, SigIO, Uring}
}

// MultiplexModels lists the I/O multiplexing models: those that wait with
// select, poll or epoll (the calls CallsBySyscall counts).
func MultiplexModels() []Model { return []Model{Select, Poll, EpollLT, EpollET, EpollOneshot} }

// Multiplexing reports whether m waits with select, poll or epoll.
func (m Model) Multiplexing() bool {
	switch m {
	case Select, Poll, EpollLT, EpollET, EpollOneshot:
		return true
	}
	return false
}

// Waits names the call m's server waits in, as the workload counts it in
// Result.Calls.
func (m Model) Waits() string {
	switch m {
	case Select:
		return sysNames[waitSelect]
	case Poll:
		return sysNames[waitPoll]
	case EpollLT, EpollET, EpollOneshot:
		return sysNames[waitEpoll]
	case Blocking:
		return "blocking read"
	case NonblockSpin:
		return "non-blocking read"
	case SigIO:
		return "rt_sigtimedwait"
	case Uring:
		return "io_uring_enter"
	}
	return ""
}

// MaxBlockingFDs caps the blocking model's connections: it holds one OS
// thread per connection, and Go's runtime allows 10000 threads in all.
const MaxBlockingFDs = 4000

// ParseModel returns the model named s.
func ParseModel(s string) (Model, error) {
	for _, m := range Models() {
		if string(m) == s {
			return m, nil
		}
	}
	names := make([]string, 0, len(Models()))
	for _, m := range Models() {
		names = append(names, string(m))
	}
	return "", fmt.Errorf("unknown workload model %q (want one of %s)", s, strings.Join(names, ", "))
}

// FDSetSize is FD_SETSIZE: select(2) can watch only fds below it.
const FDSetSize = 1024

// MaxSize caps Config.Size.
const MaxSize = 16 << 20

// Config describes a workload. The zero value is not valid: start from
// DefaultConfig.
type Config struct {
	Model  Model
	FDs    int  // N: connections held by the server
	TCP    bool // loopback TCP connections instead of AF_UNIX socketpairs
	Size   int  // bytes per message
	Active int  // K: connections the driver writes to (0: none, an idle server)
	// Rate is messages per second over all active connections; 0 sends
	// as fast as the server reads.
	Rate float64
	// Rotate, when set, moves the active window by K connections every
	// Rotate, so that over time every connection becomes active.
	Rotate time.Duration
	// Messages, when set, makes the driver send exactly this many
	// messages; the workload ends once the server has read them all.
	Messages int64
	// Duration, when set, ends the workload after this long.
	Duration time.Duration
	// StatsInterval is for Run and children: print the ground truth as a
	// JSON line every interval (0: only at the end).
	StatsInterval time.Duration

	readBufSize int // server read buffer; 0 is 64 KiB (tests make it small)
}

// DefaultConfig is the workload command's defaults: 100 connections, one
// active, 64-byte messages as fast as possible, until stopped. Its model,
// which the command takes as an argument, is epoll-lt.
func DefaultConfig() Config {
	return Config{Model: EpollLT, FDs: 100, Active: 1, Size: 64}
}

// Validate reports the first thing wrong with c as a one-line error that
// names the workload command's flag.
func (c Config) Validate() error {
	if _, err := ParseModel(string(c.Model)); err != nil {
		return err
	}
	switch {
	case c.FDs < 1:
		return fmt.Errorf("--fds must be at least 1, not %d", c.FDs)
	case c.Active < 0 || c.Active > c.FDs:
		return fmt.Errorf("--active must be between 0 and --fds (%d), not %d", c.FDs, c.Active)
	case c.Size < 1 || c.Size > MaxSize:
		return fmt.Errorf("--size must be between 1 and %d bytes, not %d", MaxSize, c.Size)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("--rate must be a finite number of messages per second, at least 0, not %v", c.Rate)
	case c.Rotate < 0:
		return fmt.Errorf("--rotate must not be negative, not %s", c.Rotate)
	case c.Duration < 0:
		return fmt.Errorf("--duration must not be negative, not %s", c.Duration)
	case c.StatsInterval < 0:
		return fmt.Errorf("--stats-interval must not be negative, not %s", c.StatsInterval)
	case c.Messages < 0:
		return fmt.Errorf("--messages must not be negative, not %d", c.Messages)
	case c.Messages > 0 && c.Active == 0:
		return errors.New("--messages needs at least one active connection")
	case c.Model == Select && c.FDs > FDSetSize-3:
		// fds 0, 1 and 2 are taken, so N connections need fds up to N+2.
		return fmt.Errorf("select cannot watch %d connections: their fds must all be below FD_SETSIZE (%d), so use at most about 1000, or poll or epoll",
			c.FDs, FDSetSize)
	case c.Model == Blocking && c.FDs > MaxBlockingFDs:
		return fmt.Errorf("blocking cannot hold %d connections: it needs one thread per connection, and this workload allows at most %d threads (Go's runtime stops at 10000)",
			c.FDs, MaxBlockingFDs)
	}
	return nil
}

// Result is a workload's ground truth.
type Result struct {
	Model  Model `json:"model"`
	FDs    int   `json:"fds"`
	Active int   `json:"active"`
	// Calls counts the waiting calls: select, poll or epoll_wait for the
	// multiplexing models (the epoll_ctl calls are in CallsBySyscall
	// only); the blocking read(2) calls for blocking; every read(2) for
	// nonblock-spin; rt_sigtimedwait for sigio; io_uring_enter for uring.
	Calls       int64 `json:"calls"`
	ReadyEvents int64 `json:"ready_events"` // sum of the waits' positive returns
	BytesRead   int64 `json:"bytes_read"`
	Messages    int64 `json:"messages"` // whole messages read
	ElapsedNS   int64 `json:"elapsed_ns"`
	// CallsBySyscall counts every multiplexing call by the name of the
	// system call actually issued (e.g. "select", "epoll_wait",
	// "epoll_ctl"), interrupted ones included.
	CallsBySyscall map[string]int64 `json:"calls_by_syscall,omitempty"`
	// ServerTID is the thread that makes every multiplexing call. A tracer
	// should compare its figures for this thread: Go's runtime makes
	// epoll_pwait calls of its own on other threads of the process.
	ServerTID int `json:"server_tid,omitempty"`

	// Every model's data phase, counted by the server threads.
	//
	// Reads counts read(2) calls (EINTR, EAGAIN and timed-out ones
	// included); EAGAINs those that returned EAGAIN: for non-blocking
	// fds, reads that found no data; for blocking (whose fds have
	// SO_RCVTIMEO, so that Stop is noticed) reads that timed out after
	// 100 ms. The uring model makes no read(2) calls: its receives are
	// Completions.
	Reads   int64 `json:"reads"`
	EAGAINs int64 `json:"eagains"`
	// BytesWritten is what the driver thread wrote (the server writes
	// nothing): equal to BytesRead once the server has read everything.
	BytesWritten int64 `json:"bytes_written"`
	// Signals counts the signals sigio's server dequeued with
	// rt_sigtimedwait; SignalOverflows those of them that were SIGIO
	// itself, which the kernel sends in place of the real-time signal
	// when that signal's queue is full.
	Signals         int64 `json:"signals,omitempty"`
	SignalOverflows int64 `json:"signal_overflows,omitempty"`
	// For uring: Submissions is the sum of io_uring_enter's returns (SQEs
	// consumed), Completions the CQEs reaped (RecvCompletions of them
	// receives that returned data), Multishot whether recv was multishot
	// (IORING_RECV_MULTISHOT, Linux 6.0+) rather than one recv per
	// completion.
	Submissions     int64 `json:"submissions,omitempty"`
	Completions     int64 `json:"completions,omitempty"`
	RecvCompletions int64 `json:"recv_completions,omitempty"`
	Multishot       bool  `json:"multishot,omitempty"`
	// ServerTIDs lists every server thread: blocking has one per
	// connection (ServerTID is the first); the others have one.
	ServerTIDs []int `json:"server_tids,omitempty"`
}

// load is what the driver does; Reconfigure swaps it while running.
type load struct {
	active int
	rate   float64
	rotate time.Duration
}

// Workload is a running workload.
type Workload struct {
	cfg   Config
	conns []conn
	load  atomic.Pointer[load]

	calls    [numSys]atomic.Int64
	ready    atomic.Int64
	bytes    atomic.Int64
	messages atomic.Int64

	// The data phase and the non-multiplexing models' counts (Result).
	waits, reads, eagains, written atomic.Int64
	signals, overflows             atomic.Int64
	submitted, completed, recvs    atomic.Int64
	multishot                      atomic.Bool

	serverTID  int
	serverTIDs []int // blocking: every server thread, set before ready
	start      time.Time
	end        atomic.Int64 // UnixNano when it ended, 0 while running
	timer      *time.Timer

	quit     chan struct{} // closed when the workload ends
	quitOnce sync.Once
	wg       sync.WaitGroup
	errMu    sync.Mutex
	err      error

	stopOnce sync.Once
	result   Result
	connRead []int64 // bytes read per connection, owned by the server thread
}

// Start sets up cfg's connections and starts the server and driver
// threads. The workload runs until Stop, or until cfg.Duration has passed
// or cfg.Messages have been read (then Done is closed; call Stop for the
// result).
//
// It raises RLIMIT_NOFILE when N connections need it, and fails with a
// clear error when it cannot.
func Start(cfg Config) (*Workload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conns, err := openConns(cfg)
	if err != nil {
		return nil, err
	}
	w, err := start(cfg, conns)
	if err != nil {
		closeConns(conns)
		return nil, err
	}
	return w, nil
}

// start runs a workload on connections already set up; the caller closes
// them if it fails.
func start(cfg Config, conns []conn) (*Workload, error) {
	w := &Workload{cfg: cfg, conns: conns, quit: make(chan struct{})}
	w.load.Store(&load{active: cfg.Active, rate: cfg.Rate, rotate: cfg.Rotate})

	ready := make(chan error, 1)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.fail(w.serve(ready))
		w.stop()
	}()
	if err := <-ready; err != nil {
		w.wg.Wait()
		return nil, err
	}
	w.start = time.Now()
	if cfg.Duration > 0 {
		w.timer = time.AfterFunc(cfg.Duration, w.stop)
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if err := w.drive(); err != nil {
			w.fail(err)
			w.stop()
		}
	}()
	return w, nil
}

// stop ends the workload's threads, once.
func (w *Workload) stop() {
	w.quitOnce.Do(func() {
		w.end.Store(time.Now().UnixNano())
		close(w.quit)
	})
}

func (w *Workload) stopping() bool {
	select {
	case <-w.quit:
		return true
	default:
		return false
	}
}

func (w *Workload) fail(err error) {
	if err == nil {
		return
	}
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// Done is closed when the workload has ended: by Stop, after
// Config.Duration, after Config.Messages, or on an error.
func (w *Workload) Done() <-chan struct{} { return w.quit }

// ServerTID is the thread id of the server thread, which issues every
// multiplexing call (the driver thread issues none).
func (w *Workload) ServerTID() int { return w.serverTID }

// Stats returns the ground truth so far; it is safe to call at any time.
func (w *Workload) Stats() Result {
	r := Result{
		Model:       w.cfg.Model,
		FDs:         w.cfg.FDs,
		Active:      w.load.Load().active,
		ReadyEvents: w.ready.Load(),
		BytesRead:   w.bytes.Load(),
		Messages:    w.messages.Load(),
		ServerTID:   w.serverTID,

		Reads:           w.reads.Load(),
		EAGAINs:         w.eagains.Load(),
		BytesWritten:    w.written.Load(),
		Signals:         w.signals.Load(),
		SignalOverflows: w.overflows.Load(),
		Submissions:     w.submitted.Load(),
		Completions:     w.completed.Load(),
		RecvCompletions: w.recvs.Load(),
		Multishot:       w.multishot.Load(),
		ServerTIDs:      w.serverTIDs,
	}
	if r.ServerTIDs == nil && w.serverTID != 0 {
		r.ServerTIDs = []int{w.serverTID}
	}
	r.CallsBySyscall = make(map[string]int64)
	for i := range w.calls {
		if n := w.calls[i].Load(); n > 0 {
			r.CallsBySyscall[sysNames[i]] = n
			if sysIndex(i) != sysEpollCtl {
				r.Calls += n
			}
		}
	}
	if !w.cfg.Model.Multiplexing() {
		r.Calls = w.waits.Load()
	}
	end := time.Now()
	if ns := w.end.Load(); ns != 0 {
		end = time.Unix(0, ns)
	}
	r.ElapsedNS = int64(end.Sub(w.start))
	return r
}

// Stop ends the workload, waits for its threads, closes its connections
// and returns the final ground truth, with the error that ended it early
// if any. Calling it again returns the same.
func (w *Workload) Stop() (Result, error) {
	w.stopOnce.Do(func() {
		w.stop()
		if w.timer != nil {
			w.timer.Stop()
		}
		w.wg.Wait()
		closeConns(w.conns)
		w.result = w.Stats()
	})
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.result, w.err
}

// ErrRestart is returned by Reconfigure for changes that need a new
// workload.
var ErrRestart = errors.New("needs a restart")

// Reconfigure changes a running workload. Active, Rate and Rotate change
// live (the driver picks them up within about 100 ms). Any other
// change (model, connections, TCP, size, messages, duration) returns an
// error wrapping ErrRestart and changes nothing: Stop this workload and
// Start a new one with cfg.
func (w *Workload) Reconfigure(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	old := w.cfg
	old.Active, old.Rate, old.Rotate, old.StatsInterval = cfg.Active, cfg.Rate, cfg.Rotate, cfg.StatsInterval
	if old != cfg {
		return fmt.Errorf("changing more than --active, --rate and --rotate %w", ErrRestart)
	}
	w.load.Store(&load{active: cfg.Active, rate: cfg.Rate, rotate: cfg.Rotate})
	return nil
}
