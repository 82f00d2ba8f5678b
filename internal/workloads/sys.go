package workloads

import (
	"time"

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
