package workloads

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// On amd64 the server issues the classic calls: select, poll and
// epoll_wait. (golang.org/x/sys/unix's Select, Poll and EpollWait issue
// pselect6, ppoll and epoll_pwait instead, so they are called raw here.)
const (
	waitSelect = sysSelect
	waitPoll   = sysPoll
	waitEpoll  = sysEpollWait
)

// selectRead is select(nfd, r, NULL, NULL, timeout).
func selectRead(nfd int, r *unix.FdSet) (int, error) {
	tv := unix.NsecToTimeval(waitTimeout.Nanoseconds())
	n, _, e := unix.Syscall6(unix.SYS_SELECT, uintptr(nfd), uintptr(unsafe.Pointer(r)), 0, 0, uintptr(unsafe.Pointer(&tv)), 0)
	return result(n, e)
}

// pollFds is poll(fds, len(fds), timeout).
func pollFds(fds []unix.PollFd) (int, error) {
	n, _, e := unix.Syscall(unix.SYS_POLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), uintptr(waitTimeout.Milliseconds()))
	return result(n, e)
}

// epollWait is epoll_wait(epfd, events, len(events), timeout).
func epollWait(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_EPOLL_WAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(waitTimeout.Milliseconds()), 0, 0)
	return result(n, e)
}

func result(n uintptr, e unix.Errno) (int, error) {
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
