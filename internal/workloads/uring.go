package workloads

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The io_uring ABI (include/uapi/linux/io_uring.h), written out here: no
// Go io_uring library is available to this build, and the server needs
// only recv, provided buffers and the rings.
const (
	ioringOffSQRing = 0
	ioringOffCQRing = 0x8000000
	ioringOffSQEs   = 0x10000000

	ioringSetupCQSize  = 1 << 3
	ioringFeatSingleMM = 1 << 0
	ioringFeatExtArg   = 1 << 8

	ioringEnterGetEvents = 1 << 0
	ioringEnterExtArg    = 1 << 3

	ioringOpProvideBuffers = 31
	ioringOpRecv           = 27

	iosqeBufferSelect   = 1 << 5
	ioringRecvMultishot = 1 << 1 // in sqe->ioprio, Linux 6.0+

	ioringCQEFBuffer  = 1 << 0
	ioringCQEFMore    = 1 << 1
	ioringCQEBufShift = 16

	maxSQEntries = 4096
	maxCQEntries = 65536
)

type sqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

type cqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, CQEs, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

type uringParams struct {
	SQEntries, CQEntries, Flags, SQThreadCPU, SQThreadIdle, Features, WQFd uint32
	Resv                                                                   [3]uint32
	SQOff                                                                  sqringOffsets
	CQOff                                                                  cqringOffsets
}

type uringSQE struct {
	Opcode, Flags   uint8
	Ioprio          uint16
	Fd              int32
	Off, Addr       uint64
	Len, OpFlags    uint32
	UserData        uint64
	BufIndex, Pers  uint16
	SpliceFdIn      int32
	Addr3, Reserved uint64
}

type uringCQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// getEventsArg is struct io_uring_getevents_arg (IORING_ENTER_EXT_ARG).
type getEventsArg struct {
	Sigmask   uint64
	SigmaskSz uint32
	Pad       uint32
	Ts        uint64
}

// Compile-time checks of the ABI sizes.
var (
	_ [64 - unsafe.Sizeof(uringSQE{})]byte
	_ [unsafe.Sizeof(uringSQE{}) - 64]byte
	_ [120 - unsafe.Sizeof(uringParams{})]byte
	_ [unsafe.Sizeof(uringParams{}) - 120]byte
	_ [16 - unsafe.Sizeof(uringCQE{})]byte
)

// ring is one io_uring instance with its mmapped rings.
type ring struct {
	fd                     int
	sqMem, cqMem, sqeMem   []byte
	sqHead, sqTail, sqMask *uint32
	sqArray                []uint32
	sqes                   []uringSQE
	cqHead, cqTail, cqMask *uint32
	cqes                   []uringCQE
	entries                uint32
	tail                   uint32 // our SQ tail, published at submit
	pending                uint32 // SQEs queued, not yet submitted
	single                 bool   // one mapping holds both rings
	w                      *Workload
}

// ErrNoUring wraps the reason io_uring cannot be used here.
var ErrNoUring = errors.New("io_uring is unavailable")

func uringUnavailable(err error) error {
	why := err.Error()
	if b, rerr := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); rerr == nil {
		if v := strings.TrimSpace(string(b)); v != "0" {
			why += " (kernel.io_uring_disabled = " + v + ")"
		}
	}
	if errors.Is(err, unix.ENOSYS) {
		why += " (kernel built without CONFIG_IO_URING)"
	}
	return fmt.Errorf("uring: %w: io_uring_setup: %s", ErrNoUring, why)
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

func newRing(w *Workload, sq, cq int) (*ring, error) {
	p := uringParams{Flags: ioringSetupCQSize, CQEntries: uint32(cq)}
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(sq), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, uringUnavailable(e)
	}
	r := &ring{fd: int(fd), w: w, entries: p.SQEntries}
	ok := false
	defer func() {
		if !ok {
			r.close()
		}
	}()
	if p.Features&ioringFeatExtArg == 0 {
		return nil, errors.New("uring: this kernel's io_uring has no IORING_FEAT_EXT_ARG (Linux 5.11+), needed for a timed wait")
	}
	sqSize := int(p.SQOff.Array) + int(p.SQEntries)*4
	cqSize := int(p.CQOff.CQEs) + int(p.CQEntries)*int(unsafe.Sizeof(uringCQE{}))
	single := p.Features&ioringFeatSingleMM != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	r.single = single
	var err error
	prot, flags := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE
	if r.sqMem, err = unix.Mmap(r.fd, ioringOffSQRing, sqSize, prot, flags); err != nil {
		return nil, fmt.Errorf("uring: mmap of the SQ ring: %w", err)
	}
	r.cqMem = r.sqMem
	if !single {
		if r.cqMem, err = unix.Mmap(r.fd, ioringOffCQRing, cqSize, prot, flags); err != nil {
			return nil, fmt.Errorf("uring: mmap of the CQ ring: %w", err)
		}
	}
	sqeSize := int(p.SQEntries) * int(unsafe.Sizeof(uringSQE{}))
	if r.sqeMem, err = unix.Mmap(r.fd, ioringOffSQEs, sqeSize, prot, flags); err != nil {
		return nil, fmt.Errorf("uring: mmap of the SQEs: %w", err)
	}
	u32 := func(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail, r.sqMask = u32(r.sqMem, p.SQOff.Head), u32(r.sqMem, p.SQOff.Tail), u32(r.sqMem, p.SQOff.RingMask)
	r.sqArray = unsafe.Slice(u32(r.sqMem, p.SQOff.Array), p.SQEntries)
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.SQEntries)
	r.cqHead, r.cqTail, r.cqMask = u32(r.cqMem, p.CQOff.Head), u32(r.cqMem, p.CQOff.Tail), u32(r.cqMem, p.CQOff.RingMask)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&r.cqMem[p.CQOff.CQEs])), p.CQEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	ok = true
	return r, nil
}

func (r *ring) close() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
	}
	if r.cqMem != nil && !r.single {
		unix.Munmap(r.cqMem)
	}
	if r.sqMem != nil {
		unix.Munmap(r.sqMem)
	}
	unix.Close(r.fd)
}

// sqe returns the next free SQE, zeroed, submitting the queued ones first
// when the ring is full.
func (r *ring) sqe() (*uringSQE, error) {
	for r.tail-atomic.LoadUint32(r.sqHead) >= r.entries {
		if _, err := r.enter(false); err != nil {
			return nil, err
		}
	}
	i := r.tail & *r.sqMask
	r.sqArray[i] = i
	s := &r.sqes[i]
	*s = uringSQE{}
	r.tail++
	r.pending++
	return s, nil
}

// enter publishes the queued SQEs and calls io_uring_enter to submit them
// and, if wait is set, to wait up to waitTimeout for one completion. It
// counts the call and what it submitted; a wait that timed out or was
// interrupted is not an error.
func (r *ring) enter(wait bool) (int, error) {
	atomic.StoreUint32(r.sqTail, r.tail)
	var flags, minComplete uintptr
	var arg getEventsArg
	var argp, argsz uintptr
	if wait {
		ts := unix.NsecToTimespec(waitTimeout.Nanoseconds())
		arg.Ts = uint64(uintptr(unsafe.Pointer(&ts)))
		flags, minComplete = ioringEnterGetEvents|ioringEnterExtArg, 1
		argp, argsz = uintptr(unsafe.Pointer(&arg)), unsafe.Sizeof(arg)
		defer keepAlive(&ts)
	}
	r.w.waits.Add(1)
	n, _, e := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.pending), minComplete, flags, argp, argsz)
	switch e {
	case 0:
		r.w.submitted.Add(int64(n))
		r.pending -= uint32(n)
		return int(n), nil
	case unix.ETIME, unix.EINTR, unix.EAGAIN, unix.EBUSY:
		return 0, nil
	}
	return 0, fmt.Errorf("io_uring_enter: %w", e)
}

//go:noinline
func keepAlive(*unix.Timespec) {}

// uringServer is the uring model's state.
type uringServer struct {
	w         *Workload
	r         *ring
	multishot bool
	bufs      []byte // single-shot: one buffer per connection; multishot: the provided group
	bufSize   int
	nbufs     int
}

// user_data: connection index << 1, low bit set for PROVIDE_BUFFERS.
const udProvide = 1

// haveMultishot is multishotRecv; tests replace it to run the single-shot
// fallback on kernels that have multishot.
var haveMultishot = multishotRecv

// multishotRecv reports whether this kernel has IORING_RECV_MULTISHOT
// (Linux 6.0).
func multishotRecv() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 6 || major == 6 && minor >= 0
}

// serveUring is the asynchronous model: the server thread keeps a recv
// outstanding on every connection in one io_uring, and waits for
// completions with io_uring_enter. Where the kernel has multishot recv
// (6.0+), one recv per connection takes its data from a group of provided
// buffers (each returned with IORING_OP_PROVIDE_BUFFERS once read);
// elsewhere each completion re-arms a single recv into the connection's
// own buffer. The fds are made blocking: io_uring does its own
// non-blocking attempt and arms a poll when there is no data.
func (w *Workload) serveUring(ready chan<- error, bufSize int) error {
	n := len(w.conns)
	sq := min(nextPow2(n+64), maxSQEntries)
	cq := min(max(2*sq, nextPow2(2*n+256)), maxCQEntries)
	r, err := newRing(w, sq, cq)
	if err != nil {
		ready <- err
		return nil
	}
	defer r.close()
	s := &uringServer{w: w, r: r, multishot: haveMultishot()}
	w.multishot.Store(s.multishot)
	if s.multishot {
		s.bufSize, s.nbufs = min(bufSize, 16<<10), 512
	} else {
		s.bufSize, s.nbufs = min(bufSize, max(4096, (64<<20)/n)), n
	}
	if s.bufs, err = unix.Mmap(-1, 0, s.bufSize*s.nbufs, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		ready <- fmt.Errorf("uring: buffers: %w", err)
		return nil
	}
	defer unix.Munmap(s.bufs)
	for i, c := range w.conns {
		if err := unix.SetNonblock(c.server, false); err != nil {
			ready <- fmt.Errorf("connection %d: clearing O_NONBLOCK: %w", i, err)
			return nil
		}
	}
	if s.multishot {
		if err := s.provide(0, s.nbufs); err != nil {
			ready <- err
			return nil
		}
	}
	for i := range w.conns {
		if err := s.recv(i); err != nil {
			ready <- err
			return nil
		}
	}
	if _, err := r.enter(false); err != nil {
		ready <- fmt.Errorf("uring: %w", err)
		return nil
	}
	ready <- nil

	for !w.stopping() && !w.allRead() {
		if _, err := r.enter(true); err != nil {
			return fmt.Errorf("uring: %w", err)
		}
		if err := s.reap(); err != nil {
			return err
		}
	}
	return nil
}

func (s *uringServer) buf(i int) uint64 {
	return uint64(uintptr(unsafe.Pointer(&s.bufs[i*s.bufSize])))
}

// provide queues IORING_OP_PROVIDE_BUFFERS for count buffers from bid.
func (s *uringServer) provide(bid, count int) error {
	e, err := s.r.sqe()
	if err != nil {
		return err
	}
	e.Opcode, e.Fd, e.Addr, e.Len, e.Off = ioringOpProvideBuffers, int32(count), s.buf(bid), uint32(s.bufSize), uint64(bid)
	e.UserData = udProvide
	return nil
}

// recv queues a recv on connection i.
func (s *uringServer) recv(i int) error {
	e, err := s.r.sqe()
	if err != nil {
		return err
	}
	e.Opcode, e.Fd, e.UserData = ioringOpRecv, int32(s.w.conns[i].server), uint64(i)<<1
	if s.multishot {
		e.Flags, e.Ioprio = iosqeBufferSelect, ioringRecvMultishot
	} else {
		e.Addr, e.Len = s.buf(i), uint32(s.bufSize)
	}
	return nil
}

// reap handles every completion in the CQ ring.
func (s *uringServer) reap() error {
	r, w := s.r, s.w
	head := atomic.LoadUint32(r.cqHead)
	for head != atomic.LoadUint32(r.cqTail) {
		c := r.cqes[head&*r.cqMask]
		head++
		atomic.StoreUint32(r.cqHead, head)
		w.completed.Add(1)
		if c.UserData&udProvide != 0 {
			if c.Res < 0 {
				return fmt.Errorf("uring: IORING_OP_PROVIDE_BUFFERS: %w", unix.Errno(-c.Res))
			}
			continue
		}
		i := int(c.UserData >> 1)
		switch {
		case c.Res > 0:
			w.recvs.Add(1)
			w.got(i, int(c.Res))
		case c.Res == 0:
			return fmt.Errorf("connection %d (fd %d) closed by its peer", i, w.conns[i].server)
		case c.Res == -int32(unix.ENOBUFS) && s.multishot:
			// Every provided buffer was in use: the recv ended, and is
			// re-armed below once buffers come back.
		case c.Res == -int32(unix.EINTR) || c.Res == -int32(unix.EAGAIN) || c.Res == -int32(unix.ECANCELED):
		default:
			return fmt.Errorf("uring: recv on connection %d (fd %d): %w", i, w.conns[i].server, unix.Errno(-c.Res))
		}
		if c.Flags&ioringCQEFBuffer != 0 {
			if err := s.provide(int(c.Flags>>ioringCQEBufShift), 1); err != nil {
				return err
			}
		}
		if !s.multishot || c.Flags&ioringCQEFMore == 0 {
			if err := s.recv(i); err != nil {
				return err
			}
		}
	}
	return nil
}
