//go:build !amd64

package workloads

import "golang.org/x/sys/unix"

// Architectures without select, poll and epoll_wait system calls have
// only their successors: pselect6, ppoll and epoll_pwait.
const (
	waitSelect = sysPselect6
	waitPoll   = sysPpoll
	waitEpoll  = sysEpollPwait
)

func selectRead(nfd int, r *unix.FdSet) (int, error) {
	ts := unix.NsecToTimespec(waitTimeout.Nanoseconds())
	return unix.Pselect(nfd, r, nil, nil, &ts, nil)
}

func pollFds(fds []unix.PollFd) (int, error) {
	ts := unix.NsecToTimespec(waitTimeout.Nanoseconds())
	return unix.Ppoll(fds, &ts, nil)
}

func epollWait(epfd int, events []unix.EpollEvent) (int, error) {
	return unix.EpollWait(epfd, events, int(waitTimeout.Milliseconds()))
}
