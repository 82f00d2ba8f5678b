package collector

import "github.com/iotrace/iotrace/internal/model"

// The contract between bpf/iotrace.bpf.c and the Go side. bpf2go generates
// the C enums from the object's BTF (gen.go: -type); where Go has its own
// constants for the same numbering, the lines below make the compiler
// compare them. same{}[a-b] compiles only when a == b: a negative
// difference overflows the unsigned enum type, a positive one is out of
// the array's bounds. contract_test.go checks what the compiler cannot:
// that no enumerator is left without its Go counterpart.
type same [1]struct{}

// enum sc is model.Syscall, name by name. SC_EPOLL_CREATE and SC_IDLE are
// kernel-side only: SC_EPOLL_CREATE is the first index past the model's
// syscalls, so the two lists have the same length.
var (
	_ = same{}[iotraceScSC_SELECT-iotraceSc(model.Select)]
	_ = same{}[iotraceScSC_PSELECT6-iotraceSc(model.Pselect6)]
	_ = same{}[iotraceScSC_POLL-iotraceSc(model.Poll)]
	_ = same{}[iotraceScSC_PPOLL-iotraceSc(model.Ppoll)]
	_ = same{}[iotraceScSC_EPOLL_WAIT-iotraceSc(model.EpollWait)]
	_ = same{}[iotraceScSC_EPOLL_PWAIT-iotraceSc(model.EpollPwait)]
	_ = same{}[iotraceScSC_EPOLL_PWAIT2-iotraceSc(model.EpollPwait2)]
	_ = same{}[iotraceScSC_EPOLL_CTL-iotraceSc(model.EpollCtl)]
	_ = same{}[iotraceScSC_EPOLL_CREATE-iotraceSc(model.NumSyscalls)]
)
