// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * io_uring activity of the target processes, from the io_uring tracepoints
 * (include/trace/events/io_uring.h): rings created, requests submitted and
 * completed, requests by opcode, waits for completions, requests punted to
 * io-wq workers, poll arming and CQ overflows.
 *
 * A separate object from iotrace.bpf.c: it is loaded only when the kernel has
 * the io_uring tracepoints, and it shares the target filter (targets,
 * target_slots) with the main object through MapReplacements.
 *
 * The context structs are the kernel's trace_event_raw_<event> types,
 * declared with preserve_access_index so that CO-RE fixes up the field
 * offsets against the running kernel (they moved when req and extra1/2 were
 * added in 5.15-5.19).
 *
 * Attribution: every event names the ring (ctx). A ring belongs to the
 * process that created it (io_uring_create runs in io_uring_setup, in the
 * creator's context) or, for a ring created before iotrace started, to the
 * process that first submits on it (io_uring_submit_req runs in the
 * submitter's io_uring_enter, or in its SQPOLL thread, which is a thread of
 * the same process). Completions, io-wq punts and poll arms can run in io-wq
 * workers, task_work or softirq context, so they are attributed by ring, not
 * by the current task.
 */
#include "iotrace.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

volatile const bool cfg_all = false; /* trace every process */
volatile const u32 cfg_self = 0;     /* iotrace's own tgid: never traced */

/*
 * These two must match `targets` and `target_slots` in iotrace.bpf.c: the
 * loader replaces them with the main collection's maps
 * (TestUringMapsMatchMain checks the specs).
 */
#define TARGET 1
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, u32);
	__type(value, u8);
} targets SEC(".maps");

#define TARGET_SLOTS 65536
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TARGET_SLOTS);
	__type(key, u32);
	__type(value, u8);
} target_slots SEC(".maps");

#define URING_OPS 64 /* opcodes counted one by one; higher ones go to the last */
#define IORING_CQE_F_MORE (1U << 1)

struct uring_key {
	u32 tgid;
	u32 pad;
	u64 ctx; /* struct io_ring_ctx *: one ring */
};

struct uring_stats {
	u64 rings_created; /* io_uring_create seen for this ring (0 or 1) */
	u32 sq_entries;
	u32 cq_entries;
	u32 setup_flags;
	u32 pad;
	u64 submitted;     /* io_uring_submit_req */
	u64 completed;     /* io_uring_complete: CQEs posted */
	u64 completed_err; /* of which res < 0 */
	u64 completed_more; /* of which IORING_CQE_F_MORE (multishot, more to come) */
	u64 async_work;    /* io_uring_queue_async_work: punted to io-wq */
	u64 async_hashed;  /* of which on a hashed (serialised) queue */
	u64 poll_armed;    /* io_uring_poll_arm */
	u64 cqring_waits;  /* io_uring_cqring_wait: waits for completions */
	u64 cqe_overflows; /* io_uring_cqe_overflow */
	u64 ops[URING_OPS]; /* submissions by opcode */
};

/* A zeroed record to insert: too big for the BPF stack. */
const volatile struct uring_stats uring_zero = {};

/* ring → owner tgid, learned at io_uring_create or at the first submission. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u64);
	__type(value, u32);
} uring_owner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct uring_key);
	__type(value, struct uring_stats);
} uring_rings SEC(".maps");

/* Events the maps had no room for. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} uring_lost SEC(".maps");

/* The kernel's tracepoint records; only the members read here. */
struct trace_event_raw_io_uring_create {
	int fd;
	void *ctx;
	u32 sq_entries;
	u32 cq_entries;
	u32 flags;
} __attribute__((preserve_access_index));

/* 5.15 .. 6.3: io_uring_submit_sqe; 6.4+: io_uring_submit_req. */
struct trace_event_raw_io_uring_submit_req {
	void *ctx;
	u8 opcode;
} __attribute__((preserve_access_index));

struct trace_event_raw_io_uring_submit_sqe {
	void *ctx;
	u8 opcode;
} __attribute__((preserve_access_index));

struct trace_event_raw_io_uring_complete {
	void *ctx;
	int res;
	unsigned int cflags;
} __attribute__((preserve_access_index));

struct trace_event_raw_io_uring_queue_async_work {
	void *ctx;
	int rw;
} __attribute__((preserve_access_index));

struct trace_event_raw_io_uring_poll_arm {
	void *ctx;
} __attribute__((preserve_access_index));

struct trace_event_raw_io_uring_cqring_wait {
	void *ctx;
} __attribute__((preserve_access_index));

struct trace_event_raw_io_uring_cqe_overflow {
	void *ctx;
} __attribute__((preserve_access_index));

static __always_inline bool current_is_target(u32 tgid)
{
	u32 slot = tgid & (TARGET_SLOTS - 1);
	u8 *set, *t;

	if (tgid == cfg_self)
		return false;
	if (cfg_all)
		return true;
	set = bpf_map_lookup_elem(&target_slots, &slot);
	if (!set || !*set)
		return false;
	t = bpf_map_lookup_elem(&targets, &tgid);
	return t && *t == TARGET;
}

static __always_inline void lost(void)
{
	u32 zero = 0;
	u64 *n = bpf_map_lookup_elem(&uring_lost, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline struct uring_stats *stats_for(u32 tgid, u64 ctx)
{
	struct uring_key key = { .tgid = tgid, .ctx = ctx };
	struct uring_stats *s = bpf_map_lookup_elem(&uring_rings, &key);

	if (s)
		return s;
	bpf_map_update_elem(&uring_rings, &key, (const void *)&uring_zero, BPF_NOEXIST); /* EEXIST: a race, fine */
	s = bpf_map_lookup_elem(&uring_rings, &key);
	if (!s)
		lost();
	return s;
}

/*
 * The stats of the ring's owner if it is a target. learn: the current task
 * may claim an unknown ring (it runs in the submitter's context).
 */
static __always_inline struct uring_stats *ring_stats(u64 ctx, bool learn)
{
	u32 *owner = bpf_map_lookup_elem(&uring_owner, &ctx);
	u32 tgid;

	if (owner) {
		tgid = *owner;
		if (tgid == cfg_self)
			return NULL;
		/* the owner may have stopped being a target (exited) */
		if (!cfg_all) {
			u8 *t = bpf_map_lookup_elem(&targets, &tgid);
			if (!t || *t != TARGET)
				return NULL;
		}
		return stats_for(tgid, ctx);
	}
	if (!learn)
		return NULL;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!current_is_target(tgid))
		return NULL;
	if (bpf_map_update_elem(&uring_owner, &ctx, &tgid, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&uring_owner, &ctx))
		lost();
	return stats_for(tgid, ctx);
}

SEC("tracepoint/io_uring/io_uring_create")
int tp_uring_create(struct trace_event_raw_io_uring_create *ctx)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	u64 ring = (u64)BPF_CORE_READ(ctx, ctx);
	struct uring_stats *s;

	if (!current_is_target(tgid)) {
		/* a ring address can be reused: forget an old owner */
		bpf_map_delete_elem(&uring_owner, &ring);
		return 0;
	}
	if (bpf_map_update_elem(&uring_owner, &ring, &tgid, BPF_ANY))
		lost();
	s = stats_for(tgid, ring);
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->rings_created, 1);
	s->sq_entries = BPF_CORE_READ(ctx, sq_entries);
	s->cq_entries = BPF_CORE_READ(ctx, cq_entries);
	s->setup_flags = BPF_CORE_READ(ctx, flags);
	return 0;
}

static __always_inline void submitted(u64 ring, u8 op)
{
	struct uring_stats *s = ring_stats(ring, true);
	u32 i = op;

	if (!s)
		return;
	__sync_fetch_and_add(&s->submitted, 1);
	if (i >= URING_OPS)
		i = URING_OPS - 1;
	__sync_fetch_and_add(&s->ops[i], 1);
}

SEC("tracepoint/io_uring/io_uring_submit_req")
int tp_uring_submit_req(struct trace_event_raw_io_uring_submit_req *ctx)
{
	submitted((u64)BPF_CORE_READ(ctx, ctx), BPF_CORE_READ(ctx, opcode));
	return 0;
}

SEC("tracepoint/io_uring/io_uring_submit_sqe")
int tp_uring_submit_sqe(struct trace_event_raw_io_uring_submit_sqe *ctx)
{
	submitted((u64)BPF_CORE_READ(ctx, ctx), BPF_CORE_READ(ctx, opcode));
	return 0;
}

SEC("tracepoint/io_uring/io_uring_complete")
int tp_uring_complete(struct trace_event_raw_io_uring_complete *ctx)
{
	struct uring_stats *s = ring_stats((u64)BPF_CORE_READ(ctx, ctx), false);

	if (!s)
		return 0;
	__sync_fetch_and_add(&s->completed, 1);
	if (BPF_CORE_READ(ctx, res) < 0)
		__sync_fetch_and_add(&s->completed_err, 1);
	if (BPF_CORE_READ(ctx, cflags) & IORING_CQE_F_MORE)
		__sync_fetch_and_add(&s->completed_more, 1);
	return 0;
}

SEC("tracepoint/io_uring/io_uring_queue_async_work")
int tp_uring_queue_async_work(struct trace_event_raw_io_uring_queue_async_work *ctx)
{
	struct uring_stats *s = ring_stats((u64)BPF_CORE_READ(ctx, ctx), false);

	if (!s)
		return 0;
	__sync_fetch_and_add(&s->async_work, 1);
	if (BPF_CORE_READ(ctx, rw))
		__sync_fetch_and_add(&s->async_hashed, 1);
	return 0;
}

SEC("tracepoint/io_uring/io_uring_poll_arm")
int tp_uring_poll_arm(struct trace_event_raw_io_uring_poll_arm *ctx)
{
	struct uring_stats *s = ring_stats((u64)BPF_CORE_READ(ctx, ctx), false);

	if (s)
		__sync_fetch_and_add(&s->poll_armed, 1);
	return 0;
}

SEC("tracepoint/io_uring/io_uring_cqring_wait")
int tp_uring_cqring_wait(struct trace_event_raw_io_uring_cqring_wait *ctx)
{
	struct uring_stats *s = ring_stats((u64)BPF_CORE_READ(ctx, ctx), true);

	if (s)
		__sync_fetch_and_add(&s->cqring_waits, 1);
	return 0;
}

SEC("tracepoint/io_uring/io_uring_cqe_overflow")
int tp_uring_cqe_overflow(struct trace_event_raw_io_uring_cqe_overflow *ctx)
{
	struct uring_stats *s = ring_stats((u64)BPF_CORE_READ(ctx, ctx), false);

	if (s)
		__sync_fetch_and_add(&s->cqe_overflows, 1);
	return 0;
}
