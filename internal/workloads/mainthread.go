package workloads

import "runtime"

// The main goroutine keeps the main thread. Package init functions run
// there, and they can start Go's netpoller (protobuf's, linked through
// client_golang, opens the executable: an epoll_ctl that fails with EPERM
// and one that adds the netpoller's eventfd). A server or driver goroutine
// that locked itself to the main thread would carry those calls in its
// traced figures, which are held to the workload's own counts; with the main
// thread taken, LockOSThread gives them threads of their own.
func init() { runtime.LockOSThread() }
