package collector

import (
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// kernelOnlyErrnos are the restart codes a syscall can return to the exit
// tracepoint before signal handling turns them into EINTR or a restart
// (include/linux/errno.h); libc never sees them.
var kernelOnlyErrnos = map[int]string{
	512: "ERESTARTSYS",
	513: "ERESTARTNOINTR",
	514: "ERESTARTNOHAND",
	516: "ERESTART_RESTARTBLOCK",
}

// ErrnoName returns the symbolic name of a positive errno value.
func ErrnoName(e int) string {
	if n, ok := kernelOnlyErrnos[e]; ok {
		return n
	}
	if n := unix.ErrnoName(syscall.Errno(e)); n != "" {
		return n
	}
	return "errno" + strconv.Itoa(e)
}
