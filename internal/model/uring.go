package model

// UringStats is a process's io_uring activity, summed over its rings, as the
// io_uring tracepoints counted it (include/trace/events/io_uring.h). Every
// figure is observed: one tracepoint event is one count. See
// docs/metrics.md, "io_uring".
type UringStats struct {
	Rings         int               `json:"rings"`          // rings seen (created or submitted on)
	RingsCreated  uint64            `json:"rings_created"`  // io_uring_create
	Submitted     uint64            `json:"submitted"`      // io_uring_submit_req (io_uring_submit_sqe before 6.4)
	Completed     uint64            `json:"completed"`      // io_uring_complete: CQEs posted
	CompletedErr  uint64            `json:"completed_err"`  // of which res < 0
	CompletedMore uint64            `json:"completed_more"` // of which IORING_CQE_F_MORE (multishot)
	AsyncWork     uint64            `json:"async_work"`     // io_uring_queue_async_work: punted to io-wq
	AsyncHashed   uint64            `json:"async_hashed"`   // of which on a hashed queue
	PollArmed     uint64            `json:"poll_armed"`     // io_uring_poll_arm
	CQRingWaits   uint64            `json:"cqring_waits"`   // io_uring_cqring_wait
	CQEOverflows  uint64            `json:"cqe_overflows"`  // io_uring_cqe_overflow
	Ops           map[string]uint64 `json:"ops"`            // submissions by opcode (bounded names)
}
