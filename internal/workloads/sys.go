package workloads

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitTimeout bounds every wait, so the server notices Stop.
const waitTimeout = 100 * time.Millisecond

// sysIndex names a multiplexing system call the server counts.
type sysIndex int

const (
	sysSelect sysIndex = iota
	sysPselect6
	sysPoll
	sysPpoll
	sysEpollWait
	sysEpollPwait
	sysEpollCtl
	numSys
)

var sysNames = [numSys]string{"select", "pselect6", "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_ctl"}

// epollCtl is epoll_ctl(2) with the connection's index as the event data.
func epollCtl(epfd, op, fd int, events uint32, index int) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(index)}
	return unix.EpollCtl(epfd, op, fd, &ev)
}

// setThreadName sets the calling thread's name (comm, at most 15 bytes).
func setThreadName(name string) {
	b := make([]byte, 16)
	copy(b[:15], name)
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}

// SetProcessName names the whole process (its main thread's comm, which
// /proc/PID/comm shows) without touching Go's netpoller. Best effort.
func SetProcessName(name string) {
	fd, err := unix.Open("/proc/self/comm", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	unix.Write(fd, []byte(name))
	unix.Close(fd)
}
