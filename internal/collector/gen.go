package collector

// The BPF object is generated from bpf/iotrace.bpf.c and committed, so that
// building iotrace needs no clang. `make generate` runs this.
//go:generate go tool bpf2go -tags linux -target amd64 -type stats -type stats_key -type err_key -type ep_key -type ep_reg -type ep_counts -type call_event -type proc_event -type proc_event_type -type sc -type counter iotrace ../../bpf/iotrace.bpf.c -- -I../../bpf -Wall -Werror

// The io_uring object (bpf/uring.bpf.c) is loaded beside the main one and
// shares its target maps.
//go:generate go tool bpf2go -tags linux -target amd64 -type uring_key -type uring_stats uring ../../bpf/uring.bpf.c -- -I../../bpf -Wall -Werror
