package collector_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/collector"
	"github.com/iotrace/iotrace/internal/testutils"
)

// The io_uring fixture: a child process (this test binary re-executed with
// uringFixtureEnv set) that drives a raw io_uring (io_uring_setup, the
// mmapped rings, io_uring_enter) over a socketpair and reports its own
// counts. It waits for a line on stdin before starting, so the collector is
// attached first, and for stdin to close before exiting, so that the test
// reads the maps while it is alive.
const uringFixtureEnv = "IOTRACE_URING_FIXTURE"

const uringFixtureN = 10 // send/recv pairs of phase A

// uringCounts is what the fixture did, by its own count.
type uringCounts struct {
	Rings      int            `json:"rings"`
	Submitted  int            `json:"submitted"`
	Completed  int            `json:"completed"`
	Ops        map[string]int `json:"ops"`
	Async      int            `json:"async"`       // submitted with IOSQE_ASYNC
	PollNoData int            `json:"poll_nodata"` // recvs submitted on an empty socket
	Err        string         `json:"err,omitempty"`
}

func init() {
	if os.Getenv(uringFixtureEnv) == "" {
		return
	}
	in := bufio.NewReader(os.Stdin)
	in.ReadString('\n')
	c, err := uringFixture()
	if err != nil {
		c.Err = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(c)
	in.ReadString('\n') // EOF when the test is done
	os.Exit(0)
}

type uring struct {
	fd                     int
	sq, cq, sqes           []byte
	sqHead, sqTail, sqMask *uint32
	sqArray                unsafe.Pointer
	cqHead, cqTail, cqMask *uint32
	cqes                   unsafe.Pointer
}

// io_uring_params, include/uapi/linux/io_uring.h (120 bytes).
type uringParams struct {
	SqEntries, CqEntries, Flags, SqThreadCPU, SqThreadIdle, Features, WqFd uint32
	Resv                                                                   [3]uint32
	SqOff                                                                  [10]uint32 // head tail ring_mask ring_entries flags dropped array resv1 user_addr(u64)
	CqOff                                                                  [10]uint32 // head tail ring_mask ring_entries overflow cqes flags resv1 user_addr(u64)
}

func newUring(entries uint32) (*uring, error) {
	var p uringParams
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	u := &uring{fd: int(fd)}
	var err error
	sqLen := int(p.SqOff[6] + p.SqEntries*4)
	cqLen := int(p.CqOff[5] + p.CqEntries*16)
	if u.sq, err = unix.Mmap(u.fd, 0, sqLen, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return nil, err
	}
	if u.cq, err = unix.Mmap(u.fd, 0x8000000, cqLen, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return nil, err
	}
	if u.sqes, err = unix.Mmap(u.fd, 0x10000000, int(p.SqEntries*64), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return nil, err
	}
	at := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	u.sqHead, u.sqTail, u.sqMask = at(u.sq, p.SqOff[0]), at(u.sq, p.SqOff[1]), at(u.sq, p.SqOff[2])
	u.sqArray = unsafe.Pointer(&u.sq[p.SqOff[6]])
	u.cqHead, u.cqTail, u.cqMask = at(u.cq, p.CqOff[0]), at(u.cq, p.CqOff[1]), at(u.cq, p.CqOff[2])
	u.cqes = unsafe.Pointer(&u.cq[p.CqOff[5]])
	return u, nil
}

const (
	opSend      = 26
	opRecv      = 27
	sqeAsync    = 1 << 4
	enterGetEvs = 1
)

// queue puts one SQE on the submission ring (not yet submitted).
func (u *uring) queue(op uint8, flags uint8, fd int, buf []byte, data uint64) {
	tail := atomic.LoadUint32(u.sqTail)
	idx := tail & *u.sqMask
	sqe := u.sqes[idx*64 : idx*64+64]
	clear(sqe)
	sqe[0], sqe[1] = op, flags
	*(*int32)(unsafe.Pointer(&sqe[4])) = int32(fd)
	*(*uint64)(unsafe.Pointer(&sqe[16])) = uint64(uintptr(unsafe.Pointer(&buf[0])))
	*(*uint32)(unsafe.Pointer(&sqe[24])) = uint32(len(buf))
	*(*uint64)(unsafe.Pointer(&sqe[32])) = data
	*(*uint32)(unsafe.Add(u.sqArray, 4*idx)) = idx
	atomic.StoreUint32(u.sqTail, tail+1)
}

func (u *uring) enter(submit, wait uint32) error {
	flags := uintptr(0)
	if wait > 0 {
		flags = enterGetEvs
	}
	for {
		_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(u.fd), uintptr(submit), uintptr(wait), flags, 0, 0)
		if errno == unix.EINTR {
			submit = 0
			continue
		}
		if errno != 0 {
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
		return nil
	}
}

// reap takes one CQE (waiting for it) and returns its res.
func (u *uring) reap() (int32, error) {
	for {
		head := atomic.LoadUint32(u.cqHead)
		if head != atomic.LoadUint32(u.cqTail) {
			cqe := unsafe.Add(u.cqes, 16*(head&*u.cqMask))
			res := *(*int32)(unsafe.Add(cqe, 8))
			atomic.StoreUint32(u.cqHead, head+1)
			return res, nil
		}
		if err := u.enter(0, 1); err != nil {
			return 0, err
		}
	}
}

func uringFixture() (uringCounts, error) {
	c := uringCounts{Ops: map[string]int{}}
	u, err := newUring(8)
	if err != nil {
		return c, err
	}
	c.Rings++
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return c, err
	}
	msg := []byte("ping")
	buf := make([]byte, 64)
	do := func(op uint8, flags uint8, fd int, b []byte, name string) (int32, error) {
		u.queue(op, flags, fd, b, uint64(c.Submitted))
		c.Submitted++
		c.Ops[name]++
		if err := u.enter(1, 1); err != nil {
			return 0, err
		}
		res, err := u.reap()
		c.Completed++
		return res, err
	}
	// A: send then recv with the data there: neither waits.
	for i := 0; i < uringFixtureN; i++ {
		if res, err := do(opSend, 0, sp[0], msg, "send"); err != nil || res != int32(len(msg)) {
			return c, fmt.Errorf("send: res %d, %v", res, err)
		}
		if res, err := do(opRecv, 0, sp[1], buf, "recv"); err != nil || res != int32(len(msg)) {
			return c, fmt.Errorf("recv: res %d, %v", res, err)
		}
	}
	// B: recv on an empty socket: io_uring arms a poll; the data comes later.
	u.queue(opRecv, 0, sp[1], buf, 1000)
	c.Submitted++
	c.Ops["recv"]++
	c.PollNoData++
	if err := u.enter(1, 0); err != nil {
		return c, err
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := unix.Write(sp[0], msg); err != nil {
		return c, err
	}
	if res, err := u.reap(); err != nil || res != int32(len(msg)) {
		return c, fmt.Errorf("armed recv: res %d, %v", res, err)
	}
	c.Completed++
	// C: a recv forced to io-wq with IOSQE_ASYNC.
	if _, err := unix.Write(sp[0], msg); err != nil {
		return c, err
	}
	c.Async++
	if res, err := do(opRecv, sqeAsync, sp[1], buf, "recv"); err != nil || res != int32(len(msg)) {
		return c, fmt.Errorf("async recv: res %d, %v", res, err)
	}
	return c, nil
}

// TestUringFixtureExact traces the fixture and holds the io_uring figures to
// its own counts, in every probe mode (the io_uring probes are tracepoints
// in all of them).
func TestUringFixtureExact(t *testing.T) {
	testutils.RequireRoot(t)
	testutils.RunProbeModes(t, func(t *testing.T, mode collector.Mode) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), uringFixtureEnv+"=1")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer stdin.Close()
		col, err := collector.New(collector.Options{Mode: mode, Pids: []int{cmd.Process.Pid}})
		if err != nil {
			t.Fatalf("starting the collector: %v", err)
		}
		defer col.Close()
		fmt.Fprintln(stdin, "go")
		var want uringCounts
		if err := json.NewDecoder(stdout).Decode(&want); err != nil {
			t.Fatalf("reading the fixture's counts: %v", err)
		}
		if want.Err != "" {
			t.Fatalf("fixture: %s", want.Err)
		}
		r, err := col.Uring()
		if err != nil {
			t.Fatal(err)
		}
		logUringFormats(t)
		for k, v := range r.Unavailable {
			t.Logf("unavailable: %s: %s", k, v)
		}
		p := r.Processes[cmd.Process.Pid]
		if p == nil {
			t.Fatalf("no io_uring figures for the fixture (note: %s)", r.Note(cmd.Process.Pid))
		}
		got := p.Total
		t.Logf("fixture: %+v", want)
		t.Logf("measured: rings_created %d submitted %d completed %d err %d more %d async_work %d hashed %d poll_armed %d cqring_waits %d overflows %d ops %v lost %d",
			p.RingsCreated, got.Submitted, got.Completed, got.CompletedErr, got.CompletedMore, got.AsyncWork, got.AsyncHashed, got.PollArmed, got.CQRingWaits, got.CQEOverflows, got.Ops, r.Lost)
		check := func(name string, got uint64, want int) {
			if got != uint64(want) {
				t.Errorf("%s: got %d, want %d (the fixture's count)", name, got, want)
			}
		}
		check("rings_created", uint64(p.RingsCreated), want.Rings)
		check("submitted", got.Submitted, want.Submitted)
		check("completed", got.Completed, want.Completed)
		check("completed_err", got.CompletedErr, 0)
		check("async_work", got.AsyncWork, want.Async)
		check("poll_armed", got.PollArmed, want.PollNoData)
		for op, n := range want.Ops {
			check("ops["+op+"]", got.Ops[op], n)
		}
		if len(got.Ops) != len(want.Ops) {
			t.Errorf("ops: got %v, want %v", got.Ops, want.Ops)
		}
		if len(p.Rings) != 1 || p.Rings[0].SQEntries != 8 {
			t.Errorf("rings: got %+v, want one with 8 SQ entries", p.Rings)
		}
	})
}

// logUringFormats records which io_uring tracepoints this kernel has and
// their fields (for the vmtest kernels' record).
func logUringFormats(t *testing.T) {
	for _, dir := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		ents, err := os.ReadDir(dir + "/events/io_uring")
		if err != nil {
			continue
		}
		for _, e := range ents {
			b, err := os.ReadFile(dir + "/events/io_uring/" + e.Name() + "/format")
			if err != nil {
				continue
			}
			var fields []string
			for _, line := range strings.Split(string(b), "\n") {
				if f, ok := strings.CutPrefix(strings.TrimSpace(line), "field:"); ok && !strings.Contains(f, "common_") {
					f, _, _ = strings.Cut(f, ";")
					fields = append(fields, f)
				}
			}
			t.Logf("tracepoint io_uring/%s: %s", e.Name(), strings.Join(fields, ", "))
		}
		return
	}
}
