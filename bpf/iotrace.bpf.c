// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
//go:build ignore

/*
 * iotrace: exact per-thread accounting of select, pselect6, poll, ppoll,
 * epoll_wait, epoll_pwait, epoll_pwait2 and epoll_ctl for a set of target
 * processes, plus the scheduler events that happen inside those calls and,
 * where the kernel allows it, ep_poll_callback.
 *
 * One object carries four families of entry points for the syscalls
 * (syscall tracepoints, the raw sys_enter/sys_exit tracepoints, fentry/fexit,
 * kprobe/kretprobe). They all funnel into the same on_enter/on_exit logic;
 * the loader deletes the families it does not use from the CollectionSpec
 * before loading.
 *
 * Flow of one call: on_enter() stashes the arguments and what can only be
 * read before the kernel overwrites it (select's fd sets, the epoll ready
 * list) in `inflight_calls`, keyed by thread id. The sched_switch/sched_wakeup
 * programs add sleeps, wakeups and off-CPU time to that entry while the call
 * runs. on_exit() folds the entry into `call_stats` (per thread and syscall)
 * and marks it idle (SC_IDLE): a thread keeps its entry from call to call
 * until it exits, so no call pays for a hash insert and delete.
 */

#include "iotrace.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Syscall indexes, the numbering of internal/model.Syscall. bpf2go generates
 * this enum (the key structs below use it, which keeps it in the BTF), and
 * internal/collector/contract.go checks it against model.Syscall.
 */
enum sc {
	SC_SELECT = 0,
	SC_PSELECT6 = 1,
	SC_POLL = 2,
	SC_PPOLL = 3,
	SC_EPOLL_WAIT = 4,
	SC_EPOLL_PWAIT = 5,
	SC_EPOLL_PWAIT2 = 6,
	SC_EPOLL_CTL = 7,
	SC_EPOLL_CREATE = 8, /* epoll_create and epoll_create1: only resets per-epfd state */
	SC_IDLE = 255,       /* inflight entry of a thread that is in no traced call */
};

#define LAT_BUCKETS 40
#define MAX_SELECT_WORDS 1024  /* 65536 fds per set */
#define MAX_READY_WALK 4096    /* ready-list entries walked per call */

#define EPOLL_CTL_ADD 1
#define EPOLL_CTL_DEL 2
#define EPOLL_CTL_MOD 3

#define EINTR 4
#define EBADF 9
#define EFAULT 14
#define EINVAL 22
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

#define EPOLLEXCLUSIVE (1U << 28)
#define EPOLLWAKEUP (1U << 29)
#define EPOLLONESHOT (1U << 30)
#define EPOLLET (1U << 31)
#define EP_PRIVATE_BITS (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)
#define EP_UNACTIVE_PTR ((void *)-1L)

/* Set by the loader before the object is loaded. */
volatile const bool cfg_all = false;       /* trace every process */
volatile const bool cfg_follow = true;     /* children of targets become targets */
volatile const char cfg_comm[16] = {};     /* trace processes with this comm */
volatile const u32 cfg_comm_len = 0;
volatile const u64 cfg_cgroup_id = 0;      /* trace processes in this cgroup v2 or below it; 0: none */
volatile const u32 cfg_cgroup_level = 0;   /* its level in the hierarchy (the root is 0) */
volatile const u64 cfg_eventpoll_fops = 0; /* &eventpoll_fops from kallsyms, 0 if hidden */
volatile const u32 cfg_self = 0;           /* iotrace's own tgid: never traced */
volatile const bool cfg_events = false;    /* send one call_event per call */
volatile const u64 cfg_wakeup_bytes = 0;   /* wake the call_events reader at this backlog; 0: per record */

struct inflight {
	u64 start_ns;
	u64 off_cpu_since; /* 0 while on CPU */
	u64 blocked_ns;
	u64 ep;            /* struct eventpoll * for the epoll calls */
	u64 last_wakeup;   /* time of the last sched_wakeup inside the call */
	u64 fds_watched;
	u64 fds_scanned;   /* fds one select/poll pass checks */
	u64 bytes_in;      /* copy-in size if the kernel gets that far */
	u64 bytes_out;     /* copy-out size if the call succeeds */
	u32 sleeps;
	u32 wakeups;
	enum sc sc;
	s32 epfd;
	s32 arg;           /* maxevents, or the epoll_ctl op */
	u32 rl_entry;
	u8 rl_entry_truncated;
	u8 fds_unknown;    /* epoll interest list size not known, or select sets unreadable */
	u8 rl_entry_unknown; /* the entry walk gave no length */
	u8 pad;
};

struct stats_key {
	u32 tid;
	enum sc sc;
};

struct stats {
	u32 tgid;
	u32 pad;
	u64 calls;
	u64 errors;
	u64 timeouts;
	u64 ready;
	u64 fds_watched;
	u64 fds_unknown_calls;
	u64 fd_polls;
	u64 bytes_in;
	u64 bytes_out;
	u64 wakeups;
	u64 sleeps;
	u64 blocked_ns;
	u64 maxevents_hits;
	u64 lat_sum;
	u64 lat_min;
	u64 lat_max;
	u64 rl_entry_sum;
	u64 rl_entry_max;
	u64 rl_exit_sum;
	u64 rl_exit_max;
	u64 rl_truncated;
	u64 rl_unknown;    /* calls whose ready-list walks gave no length */
	u64 lat_buckets[LAT_BUCKETS];
};

struct err_key {
	u32 tid;
	enum sc sc;
	u32 err;
};

struct ep_key {
	u32 tgid;
	s32 epfd;
};

/* Interest-list size of one epoll instance, as far as iotrace knows it. */
struct ep_reg {
	s64 registered;
	u64 known; /* 1 once created under trace or seeded from /proc fdinfo */
};

struct ep_counts {
	u64 ctl_add;
	u64 ctl_mod;
	u64 ctl_del;
	u64 callbacks;
	u64 cb_already_queued;
	u64 cb_ignored;
};

/*
 * Indexes of the `counters` map: mostly things iotrace could not record.
 * bpf2go generates this enum; the collector names each counter by it
 * (snapshot.go: counterNames).
 */
enum counter {
	LOST_STATS = 0,    /* stats map full */
	LOST_INFLIGHT = 1, /* inflight map full: a call went unseen */
	LOST_EVENTS = 2,   /* ring buffer full */
	LOST_ERRS = 3,     /* errno map full */
	SELECT_TRUNC = 4,  /* select sets larger than MAX_SELECT_WORDS */
	LOST_EPOLL = 5,    /* epoll maps full */
	LOST_CALL_EVENTS = 6, /* call_events ring buffer full */
	LOST_EXIT = 7,     /* a call's exit was missed: its entry was overwritten by the next */
	EXIT_DISCARDED = 8, /* an exit for another syscall than the entry stashed */
	USER_READ_FAILED = 9, /* select fd sets unreadable at entry (page not resident) */
	LOST_EP_OWNER = 10, /* ep_owner full: an instance's callbacks and releases unattributed */
	NR_COUNTERS = 11,
};

/* Kinds of proc_event; the collector's EventKind values (contract.go). */
enum proc_event_type { EV_EXIT = 1, EV_FORK = 2, EV_COMM_MATCH = 3, EV_CGROUP_MATCH = 4, EV_EXEC = 5 };

struct proc_event {
	enum proc_event_type type;
	u32 pid;
	u32 ppid;
	u32 pad;
};

/*
 * The target processes, by tgid. TARGET: traced. TARGET_AT_EXEC: a command
 * iotrace started and holds at its gate; it becomes a TARGET when it execs
 * (on_sched_exec), so that nothing the gate (iotrace's own runtime) does
 * before the exec is counted as the command's.
 */
#define TARGET 1
#define TARGET_AT_EXEC 2
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, u32);
	__type(value, u8);
} targets SEC(".maps");

/*
 * The cheap first test of "is this tgid a target?": slot tgid % TARGET_SLOTS
 * is set (by the collector or here) before a target goes into `targets`, and
 * never cleared. The verifier inlines an array lookup into a bounds check
 * and an add, where a hash lookup hashes and walks a bucket; every syscall
 * the probes see from other processes, and every context switch, wakeup,
 * fork and exit on the machine, stops here.
 */
#define TARGET_SLOTS 65536
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TARGET_SLOTS);
	__type(key, u32);
	__type(value, u8);
} target_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct inflight);
} inflight_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct stats_key);
	__type(value, struct stats);
} call_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct err_key);
	__type(value, u64);
} errs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ep_key);
	__type(value, struct ep_reg);
} ep_regs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ep_key);
	__type(value, struct ep_counts);
} ep_counters SEC(".maps");

/* struct eventpoll * -> owner (tgid, epfd), learnt from the owner's calls. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, struct ep_key);
} ep_owner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_COUNTERS);
	__type(key, u32);
	__type(value, u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} proc_events SEC(".maps");

/* One record per call when cfg_events is set; sized by the loader. */
struct call_event {
	u64 start_ns;    /* CLOCK_MONOTONIC at entry */
	u64 duration_ns;
	u64 blocked_ns;
	u64 last_wakeup_ns; /* CLOCK_MONOTONIC of the last wakeup, 0 if none */
	u64 fds_watched;
	u64 fd_polls;
	u64 bytes_in;
	u64 bytes_out;
	s64 ret;
	u32 tgid;
	u32 tid;
	enum sc sc;
	s32 arg;         /* nfds, n, maxevents or epoll_ctl op */
	s32 epfd;
	u32 sleeps;
	u32 wakeups;
	s32 rl_entry;    /* -1 when not an epoll wait or not measured */
	s32 rl_exit;
	u8 fds_unknown;
	u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} call_events SEC(".maps");

/*
 * Types that only the Go side reads (the ring buffer records, the counter
 * indexes): a pointer to each keeps it in the object's BTF for bpf2go.
 */
const struct call_event *unused_call_event __attribute__((unused));
const struct proc_event *unused_proc_event __attribute__((unused));
const enum counter *unused_counter __attribute__((unused));

static const struct stats zero_stats;
static const struct ep_counts zero_counts;

static __always_inline void count(enum counter idx)
{
	u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		(*c)++;
}

/*
 * The value under key, inserting *init first if there is none (BPF_NOEXIST:
 * a value another CPU inserted meanwhile is kept). NULL when the map is
 * full; the caller counts the loss.
 */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline void emit(enum proc_event_type type, u32 pid, u32 ppid)
{
	struct proc_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		count(LOST_EVENTS);
		return;
	}
	e->type = type;
	e->pid = pid;
	e->ppid = ppid;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
}

/*
 * The current task's cgroup (in the v2 hierarchy) is the --cgroup target or
 * a descendant of it: its ancestor at the target's level is the target (the
 * helper gives 0 for a cgroup above that level).
 */
static __always_inline bool cgroup_matches(void)
{
	return bpf_get_current_ancestor_cgroup_id(cfg_cgroup_level) == cfg_cgroup_id;
}

static __always_inline bool comm_matches(void)
{
	char comm[16];
	if (bpf_get_current_comm(comm, sizeof(comm)))
		return false;
	for (int i = 0; i < 16; i++) {
		if (comm[i] != cfg_comm[i])
			return false;
		if (comm[i] == 0)
			return true;
	}
	return true;
}

/* False only if tgid is certainly not a target. */
static __always_inline bool may_be_target(u32 tgid)
{
	u32 slot = tgid & (TARGET_SLOTS - 1);
	u8 *set = bpf_map_lookup_elem(&target_slots, &slot);

	return cfg_all || (set && *set);
}

static __always_inline void add_target(u32 tgid, u64 flags)
{
	u32 slot = tgid & (TARGET_SLOTS - 1);
	u8 one = 1, *set = bpf_map_lookup_elem(&target_slots, &slot);

	if (set)
		*set = 1; /* before the hash entry: readers test the slot first */
	bpf_map_update_elem(&targets, &tgid, &one, flags);
}

static __always_inline bool is_target(u32 tgid)
{
	if (tgid == cfg_self)
		return false;
	if (cfg_all)
		return true;
	if (may_be_target(tgid)) {
		u8 *t = bpf_map_lookup_elem(&targets, &tgid);

		if (t)
			return *t == TARGET;
	}
	if (cfg_comm_len && comm_matches()) {
		add_target(tgid, BPF_NOEXIST);
		emit(EV_COMM_MATCH, tgid, 0);
		return true;
	}
	/* cfg_cgroup_id is read-only: without --cgroup the verifier drops this. */
	if (cfg_cgroup_id && cgroup_matches()) {
		add_target(tgid, BPF_NOEXIST);
		emit(EV_CGROUP_MATCH, tgid, 0);
		return true;
	}
	return false;
}

static __always_inline u32 log2_bucket(u64 v)
{
	u32 r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r < LAT_BUCKETS ? r : LAT_BUCKETS - 1;
}

static __always_inline u64 popcount(u64 x)
{
	return __builtin_popcountll(x);
}

/*
 * The BTF-typed current task lets the verifier turn these pointer walks into
 * plain loads (with a fault fixup), where BPF_CORE_READ costs one
 * bpf_probe_read_kernel call per step.
 */
static __always_inline struct fdtable *current_fdt(void)
{
	return bpf_get_current_task_btf()->files->fdt;
}

/* The eventpoll behind epfd in the current task, or NULL. */
static __always_inline struct eventpoll *current_ep(s32 epfd)
{
	struct fdtable *fdt = current_fdt();
	struct file **fds;
	struct file *f = NULL;

	if (epfd < 0 || (u32)epfd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[epfd]) || !f)
		return NULL;
	if (cfg_eventpoll_fops && (u64)BPF_CORE_READ(f, f_op) != cfg_eventpoll_fops)
		return NULL;
	return BPF_CORE_READ(f, private_data);
}

struct walk_ctx {
	struct list_head *head;
	struct list_head *pos;
	u32 n;
};

static long walk_step(u32 i, void *data)
{
	struct walk_ctx *w = data;

	if (!w->pos || w->pos == w->head)
		return 1;
	w->n++;
	/*
	 * list_head.next is at offset 0 on every kernel; read it without a
	 * CO-RE relocation, which the loader poisons inside bpf_loop callbacks.
	 */
	if (bpf_probe_read_kernel(&w->pos, sizeof(w->pos), (void *)w->pos))
		return 1;
	return 0;
}

/*
 * Length of ep->rdllist, walked up to MAX_READY_WALK entries without the
 * lock (as the kernel's own lockless ep_events_available() peeks at it).
 * The walk gives no length (*unknown) when it does not come back to the
 * list head (*truncated: it stopped at the limit, or a read failed: an item
 * removed under it by list_del_init points to itself, and one spliced away
 * leads into another list), when a transfer of the list was under way at
 * its start or end (ep->ovflist is not EP_UNACTIVE_PTR between
 * ep_start_scan and ep_done_scan, which splice the list away and back:
 * another thread's epoll_wait on the same instance), or when it counted
 * more items than the instance has (size, if known): an item is on the
 * ready list at most once.
 */
static __always_inline u32 ready_list_len(struct eventpoll *ep, u64 size, bool size_known,
					  u8 *truncated, u8 *unknown)
{
	struct walk_ctx w = {
		.head = __builtin_preserve_access_index(&ep->rdllist),
		.pos = BPF_CORE_READ(ep, rdllist.next),
	};
	void *ov_start = BPF_CORE_READ(ep, ovflist), *ov_end;

	bpf_loop(MAX_READY_WALK, walk_step, &w, 0);
	ov_end = BPF_CORE_READ(ep, ovflist);
	/* Not back at the head: stopped at the limit, or a read failed. */
	*truncated = w.pos && w.pos != w.head;
	*unknown = !w.pos || *truncated || ov_start != EP_UNACTIVE_PTR || ov_end != EP_UNACTIVE_PTR ||
		   (size_known && w.n > size);
	return *unknown ? 0 : w.n;
}

/* Bytes select copies per set: FDS_BYTES(n) in fs/select.c. */
static __always_inline u64 fds_bytes(u64 n)
{
	return ((n + 63) / 64) * 8;
}

struct select_ctx {
	unsigned long sets[3]; /* user pointers to in, out, ex; 0 if NULL */
	u64 words;
	u64 last_mask;
	u64 watched;
	u64 uni;
	u64 read_failed;
};

static long select_step(u32 i, void *data)
{
	struct select_ctx *c = data;
	u64 w[3] = {};

	if (i >= c->words)
		return 1;
	for (int s = 0; s < 3; s++) {
		if (c->sets[s] && bpf_probe_read_user(&w[s], 8, (void *)(c->sets[s] + i * 8)))
			c->read_failed = 1;
		if (i == c->words - 1)
			w[s] &= c->last_mask;
		c->watched += popcount(w[s]);
	}
	c->uni += popcount(w[0] | w[1] | w[2]);
	return 0;
}

/*
 * select/pselect6 entry: read the fd sets before the kernel overwrites them
 * with the results. fds_watched counts set bits across the sets; a pass of
 * do_select() polls each fd set in any of them once (fds_scanned).
 */
static __always_inline void enter_select(struct inflight *in, long n, unsigned long inp,
					 unsigned long outp, unsigned long exp)
{
	struct select_ctx c = { .sets = { inp, outp, exp }, .last_mask = ~0ULL };
	u32 max_fds;
	u64 sets;

	if (n < 0)
		return; /* -EINVAL before anything is copied */
	/* core_sys_select() caps n at the fd table size. */
	max_fds = current_fdt()->max_fds;
	if (n > max_fds)
		n = max_fds;
	sets = (inp != 0) + (outp != 0) + (exp != 0);
	in->bytes_in = sets * fds_bytes(n);
	in->bytes_out = in->bytes_in;

	c.words = (n + 63) / 64;
	if (n & 63)
		c.last_mask = (1ULL << (n & 63)) - 1;
	if (c.words > MAX_SELECT_WORDS) {
		c.words = MAX_SELECT_WORDS;
		count(SELECT_TRUNC);
	}
	bpf_loop(MAX_SELECT_WORDS, select_step, &c, 0);
	in->fds_watched = c.watched;
	in->fds_scanned = c.uni;
	/*
	 * A set this program cannot read (bpf_probe_read_user does not fault
	 * pages in: a set on a page not touched yet or swapped out) would
	 * count as empty: the call's size is unknown instead.
	 */
	if (c.read_failed) {
		in->fds_unknown = 1;
		count(USER_READ_FAILED);
	}
}

/*
 * Remember which (tgid, epfd) owns ep, for ep_poll_callback and for the
 * removal of items on a file's last close (release_epitems). Only written
 * when it changes: a hash update replaces the element (allocation, bucket
 * lock) even when the value is the same.
 */
static __always_inline void note_owner(u64 ep, struct ep_key *k)
{
	struct ep_key *o;

	o = bpf_map_lookup_elem(&ep_owner, &ep);
	if (o && o->tgid == k->tgid && o->epfd == k->epfd)
		return;
	if (bpf_map_update_elem(&ep_owner, &ep, k, BPF_ANY))
		count(LOST_EP_OWNER);
}

static __always_inline void enter_epoll_wait(struct inflight *in, u32 tgid, s32 epfd, s32 maxevents)
{
	struct ep_key k = { .tgid = tgid, .epfd = epfd };
	struct ep_reg *reg;
	struct eventpoll *ep;

	in->epfd = epfd;
	in->arg = maxevents;
	reg = bpf_map_lookup_elem(&ep_regs, &k);
	if (reg && reg->known)
		in->fds_watched = reg->registered > 0 ? reg->registered : 0;
	else
		in->fds_unknown = 1;

	ep = current_ep(epfd);
	if (!ep)
		return;
	in->ep = (u64)ep;
	/*
	 * Not held to the size here: passing it made the 6.18.44 verifier fail
	 * the entry programs with EFAULT ("verifier bug", at log level 0 or 1;
	 * they load at log level 2). The exit holds this length to it (cost_of).
	 */
	in->rl_entry = ready_list_len(ep, 0, false, &in->rl_entry_truncated, &in->rl_entry_unknown);
	note_owner(in->ep, &k);
}

static __always_inline void enter_epoll_ctl(struct inflight *in, u32 tgid, s32 epfd, s32 op)
{
	struct ep_key k = { .tgid = tgid, .epfd = epfd };
	struct eventpoll *ep;

	in->epfd = epfd;
	in->arg = op;
	if (op != EPOLL_CTL_DEL)
		in->bytes_in = sizeof(struct epoll_event);
	ep = current_ep(epfd);
	if (ep)
		note_owner((u64)ep, &k);
}

/*
 * ---- estimates of the readiness checks (fd_polls) ----
 *
 * Where no probe sees the kernel's checks (tracepoint and rawtp modes), these
 * functions give the best estimate the syscall's arguments and the observed
 * sleeps, wakeups and ready-list walks allow. The models are named in
 * model.CounterTable (internal/model/counters.go) and their known errors are
 * in docs/metrics.md (fd_polls).
 */

/*
 * Passes of do_select() and do_poll(): one, plus one after each return of
 * poll_schedule_timeout(). Each sleep ends in a wakeup; a wakeup without a
 * sleep is one that found the thread between set_current_state() and the
 * pwq->triggered test (or preempted there), which makes the kernel rescan
 * without sleeping. A wakeup while the thread runs its pass is not traced
 * (try_to_wake_up finds it TASK_RUNNING): that rescan is missed.
 */
static __always_inline u64 select_passes_estimate(struct inflight *in)
{
	return 1 + (in->wakeups > in->sleeps ? in->wakeups : in->sleeps);
}

/*
 * Items ep_send_events() polled (ep_item_poll) in one epoll wait. Each
 * harvest splices the whole ready list away (ep_start_scan) and polls its
 * items in order until it has maxevents events; level-triggered items it
 * returns are put back on the list, so the next harvest polls them again,
 * often to find them no longer ready. ep_poll() harvests at entry if the
 * list is not empty, and again after each wakeup.
 *  - no sleep, fewer events than maxevents: the harvest polled the whole
 *    list, as the entry walk saw it (at least the events returned);
 *  - no sleep, maxevents events: at least those, at most the list (ret,
 *    the lower bound);
 *  - after a sleep: the list at entry (polled, none ready, or it would not
 *    have slept), plus at least the events of the last harvest;
 *  - 0 events or EINTR: the list at entry, polled and none ready.
 * Without a length from the entry walk, the events returned.
 */
static __always_inline u64 epoll_polls_estimate(long ret, struct inflight *in)
{
	u64 first = 0;

	if (in->ep && !in->rl_entry_unknown && !in->rl_entry_truncated)
		first = in->rl_entry;
	if (ret > 0 && in->sleeps)
		return first + ret;
	if (ret > 0 && ret >= in->arg)
		return ret;
	if (ret > 0)
		return first > (u64)ret ? first : (u64)ret;
	if (ret == 0 || ret == -EINTR)
		return first;
	return 0;
}

/* Fills the thread's inflight entry (slot, or a new one) for a traced call. */
static __always_inline int record_enter(u32 sc, u32 tgid, u32 tid, struct inflight *slot,
				   unsigned long a0, unsigned long a1, unsigned long a2,
				   unsigned long a3)
{
	struct inflight in = {};

	in.start_ns = bpf_ktime_get_ns();
	in.sc = sc;
	in.epfd = -1;

	switch (sc) {
	case SC_SELECT:
	case SC_PSELECT6:
		in.arg = (int)a0;
		enter_select(&in, (int)a0, a1, a2, a3);
		break;
	case SC_POLL:
	case SC_PPOLL:
		/* a1 is nfds: copy_from_user of nfds pollfds, revents written back. */
		in.arg = (u32)a1;
		in.fds_watched = (u32)a1;
		/*
		 * Every entry counts as polled: do_pollfd polls none with fd < 0
		 * or closed (POLLNVAL), but reading the array to skip them cost
		 * +190 ns of BPF run time a call (docs/metrics.md, fd_polls).
		 */
		in.fds_scanned = (u32)a1;
		in.bytes_in = (u64)(u32)a1 * 8;
		in.bytes_out = (u64)(u32)a1 * 2;
		break;
	case SC_EPOLL_WAIT:
	case SC_EPOLL_PWAIT:
	case SC_EPOLL_PWAIT2:
		enter_epoll_wait(&in, tgid, (s32)a0, (s32)a2);
		break;
	case SC_EPOLL_CTL:
		enter_epoll_ctl(&in, tgid, (s32)a0, (s32)a1);
		break;
	case SC_EPOLL_CREATE:
		break;
	}

	if (!slot) {
		in.sc = sc;
		if (bpf_map_update_elem(&inflight_calls, &tid, &in, BPF_NOEXIST))
			count(LOST_INFLIGHT);
		return 0;
	}
	/*
	 * Reuse the thread's entry. The scheduler programs leave idle entries
	 * alone, so the entry is filled while idle and becomes live last. An
	 * entry still live is a call whose exit was never seen (a kretprobe
	 * that found no free instance, a probe attached mid-call).
	 */
	if (slot->sc != SC_IDLE)
		count(LOST_EXIT);
	slot->sc = SC_IDLE;
	in.sc = SC_IDLE;
	*slot = in;
	asm volatile("" ::: "memory");
	slot->sc = sc;
	return 0;
}

static __always_inline int on_enter(u32 sc, unsigned long a0, unsigned long a1,
				    unsigned long a2, unsigned long a3)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32, tid = (u32)id;
	struct inflight *slot = NULL;

	/*
	 * Entries are made only for threads of targets and deleted when the
	 * thread exits, so a thread that has one is traced: one hash lookup
	 * instead of two for every call after a thread's first.
	 */
	if (tgid != cfg_self && may_be_target(tgid))
		slot = bpf_map_lookup_elem(&inflight_calls, &tid);
	if (!slot && !is_target(tgid))
		return 0;
	return record_enter(sc, tgid, tid, slot, a0, a1, a2, a3);
}

static __always_inline void exit_epoll_ctl(struct inflight *in, u32 tgid, long ret)
{
	struct ep_key k = { .tgid = tgid, .epfd = in->epfd };
	struct ep_counts *c = lookup_or_init(&ep_counters, &k, &zero_counts);
	struct ep_reg *reg, zero_reg = {};

	if (!c) {
		count(LOST_EPOLL);
		return;
	}
	if (in->arg == EPOLL_CTL_ADD)
		__sync_fetch_and_add(&c->ctl_add, 1);
	else if (in->arg == EPOLL_CTL_MOD)
		__sync_fetch_and_add(&c->ctl_mod, 1);
	else if (in->arg == EPOLL_CTL_DEL)
		__sync_fetch_and_add(&c->ctl_del, 1);

	if (ret != 0 || in->arg == EPOLL_CTL_MOD)
		return;
	reg = lookup_or_init(&ep_regs, &k, &zero_reg);
	if (!reg) {
		count(LOST_EPOLL);
		return;
	}
	__sync_fetch_and_add(&reg->registered, in->arg == EPOLL_CTL_ADD ? 1 : -1);
}

static __always_inline void exit_epoll_create(u32 tgid, long ret)
{
	struct ep_key k = { .tgid = tgid, .epfd = ret };
	struct ep_reg reg = { .registered = 0, .known = 1 };

	if (ret < 0)
		return;
	if (bpf_map_update_elem(&ep_regs, &k, &reg, BPF_ANY))
		count(LOST_EPOLL);
	if (bpf_map_update_elem(&ep_counters, &k, &zero_counts, BPF_ANY))
		count(LOST_EPOLL);
}

/*
 * The kernel drops a file's epoll items when the file's last reference goes
 * (__fput -> eventpoll_release -> eventpoll_release_file in fs/eventpoll.c),
 * with no EPOLL_CTL_DEL: nginx closes its sockets that way. Each item on
 * file->f_ep makes its instance's interest list one smaller. The instance
 * is found through ep_owner; one that is not a target's is left alone.
 * More than MAX_FILE_EPITEMS instances watching one file are left to the
 * collector's resynchronisation from /proc fdinfo.
 */
#define MAX_FILE_EPITEMS 8

static __always_inline void release_epitems(struct file *f)
{
	u64 off = bpf_core_field_offset(struct epitem, fllink);
	struct task_struct *task = bpf_get_current_task_btf();
	bool exiting = task->flags & PF_EXITING;
	u32 tgid = task->tgid;
	struct hlist_head *head;
	struct hlist_node *node;

	if (!bpf_core_field_exists(f->f_ep))
		return;
	head = BPF_CORE_READ(f, f_ep);
	if (!head)
		return;
	node = BPF_CORE_READ(head, first);
	for (int i = 0; i < MAX_FILE_EPITEMS && node; i++) {
		struct epitem *epi = (void *)node - off;
		u64 ep = (u64)BPF_CORE_READ(epi, ep);
		struct ep_key *owner = bpf_map_lookup_elem(&ep_owner, &ep);
		struct ep_reg *reg;

		/*
		 * A process that exits closes its files, and its instances go
		 * with it: their last size is kept, as /proc showed it.
		 */
		if (owner && !(exiting && owner->tgid == tgid)) {
			struct ep_key k = *owner;

			reg = bpf_map_lookup_elem(&ep_regs, &k);
			if (reg && reg->known)
				__sync_fetch_and_add(&reg->registered, -1);
		}
		node = BPF_CORE_READ(node, next);
	}
}

/*
 * An epoll instance's file is released: its struct eventpoll is freed and
 * its address may serve the next instance of any process, so ep_owner
 * forgets it (else that instance's callbacks and releases would be
 * credited to this one).
 */
static __always_inline void forget_owner(struct file *f)
{
	u64 ep = (u64)BPF_CORE_READ(f, private_data);

	bpf_map_delete_elem(&ep_owner, &ep);
}

/* Does f hold one reference, so that closing it releases it? */
static __always_inline bool last_reference(struct file *f)
{
	struct file___ref *fr = (void *)f;

	if (bpf_core_field_exists(fr->f_ref))
		return BPF_CORE_READ(fr, f_ref.refcnt.counter) == 0;
	return BPF_CORE_READ(f, f_count.counter) == 1;
}

/*
 * close(fd) in tracepoint and rawtp modes, which cannot reach
 * eventpoll_release_file: a file in an epoll set closed by its last
 * reference loses its items as the call returns. A reference another
 * thread holds for a moment defers the release (to that thread's fput);
 * the collector's resynchronisation corrects what this misses.
 */
static __always_inline int on_close(unsigned long fd)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct fdtable *fdt;
	struct file *f = NULL;

	if (tgid == cfg_self || !may_be_target(tgid))
		return 0;
	fdt = current_fdt();
	if (fd >= fdt->max_fds)
		return 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]) || !f)
		return 0;
	if (!last_reference(f))
		return 0;
	if (cfg_eventpoll_fops && (u64)BPF_CORE_READ(f, f_op) == cfg_eventpoll_fops) {
		forget_owner(f);
		return 0;
	}
	if (!bpf_core_field_exists(f->f_ep) || !BPF_CORE_READ(f, f_ep))
		return 0;
	release_epitems(f);
	return 0;
}

/* What one call cost, worked out at exit from its inflight entry. */
struct call_cost {
	u64 fds_watched;
	u64 fd_polls;
	u64 bytes_in;
	u64 bytes_out;
	u32 rl_exit;
	u8 fds_unknown;
	u8 rl_valid;     /* both walks gave a length */
	u8 rl_unknown;   /* a walk was made and gave none */
	u8 rl_truncated;
};

static __always_inline void cost_of(u32 sc, long ret, struct inflight *in, struct call_cost *c)
{
	/* One pass over the fds, plus one after each sleep or rescan. */
	u64 passes = select_passes_estimate(in);

	switch (sc) {
	case SC_SELECT:
	case SC_PSELECT6:
		c->fds_unknown = in->fds_unknown;
		if (!in->fds_unknown)
			c->fds_watched = in->fds_watched;
		/* The sets were copied in unless the call failed before do_select. */
		if (ret >= 0 || ret == -EBADF || ret == -EINTR || ret == -ERESTARTNOHAND) {
			c->bytes_in = in->bytes_in;
			if (ret != -EBADF)
				c->fd_polls = in->fds_scanned * passes;
		}
		if (ret >= 0)
			c->bytes_out = in->bytes_out;
		break;
	case SC_POLL:
	case SC_PPOLL:
		c->fds_watched = in->fds_watched;
		/*
		 * Copied in, scanned and written back unless the call failed early.
		 * A signal makes do_sys_poll return -ERESTARTNOHAND, which poll(2)
		 * turns into -ERESTART_RESTARTBLOCK (set_restart_fn); revents were
		 * written back all the same.
		 */
		if (ret >= 0 || ret == -EINTR || ret == -ERESTARTNOHAND || ret == -ERESTART_RESTARTBLOCK) {
			c->bytes_in = in->bytes_in;
			c->bytes_out = in->bytes_out;
			c->fd_polls = in->fds_scanned * passes;
		}
		break;
	case SC_EPOLL_WAIT:
	case SC_EPOLL_PWAIT:
	case SC_EPOLL_PWAIT2:
		/* EBADF/EINVAL: epfd is not an epoll instance; nothing was watched. */
		if (ret != -EBADF && ret != -EINVAL) {
			c->fds_unknown = in->fds_unknown;
			if (!in->fds_unknown)
				c->fds_watched = in->fds_watched;
		}
		if (ret > 0)
			/* epoll_put_uevent: one packed 12-byte epoll_event per event. */
			c->bytes_out = ret * sizeof(struct epoll_event);
		if (ret >= 0 && in->ep) {
			u8 trunc = 0, unknown = 0;

			c->rl_exit = ready_list_len((struct eventpoll *)in->ep, in->fds_watched,
						    !in->fds_unknown, &trunc, &unknown);
			/* An item is on the ready list at most once. */
			if (!in->fds_unknown && in->rl_entry > in->fds_watched)
				in->rl_entry_unknown = 1;
			c->rl_truncated = in->rl_entry_truncated + trunc;
			c->rl_unknown = in->rl_entry_unknown || unknown;
			c->rl_valid = !c->rl_unknown;
		}
		c->fd_polls = epoll_polls_estimate(ret, in);
		break;
	case SC_EPOLL_CTL:
		/* copy_from_user of the epoll_event comes first (not for DEL). */
		if (ret != -EFAULT)
			c->bytes_in = in->bytes_in;
		/* ep_insert and ep_modify poll the file once. */
		if (ret == 0 && (in->arg == EPOLL_CTL_ADD || in->arg == EPOLL_CTL_MOD))
			c->fd_polls = 1;
		break;
	}
}

static __always_inline void add_to_stats(struct stats *s, u32 sc, long ret, u64 lat,
					 struct inflight *in, struct call_cost *c, u32 tid)
{
	u32 bucket = log2_bucket(lat);

	s->calls++;
	s->lat_sum += lat;
	if (lat < s->lat_min)
		s->lat_min = lat;
	if (lat > s->lat_max)
		s->lat_max = lat;
	if (bucket < LAT_BUCKETS)
		s->lat_buckets[bucket]++;
	s->sleeps += in->sleeps;
	s->wakeups += in->wakeups;
	s->blocked_ns += in->blocked_ns;

	if (ret < 0) {
		struct err_key ek = { .tid = tid, .sc = sc, .err = -ret };
		u64 one = 1, *e;

		s->errors++;
		e = bpf_map_lookup_elem(&errs, &ek);
		if (e)
			__sync_fetch_and_add(e, 1);
		else if (bpf_map_update_elem(&errs, &ek, &one, BPF_NOEXIST))
			count(LOST_ERRS);
	} else if (sc != SC_EPOLL_CTL) {
		if (ret == 0)
			s->timeouts++;
		else
			s->ready += ret;
	}

	s->fds_watched += c->fds_watched;
	s->fds_unknown_calls += c->fds_unknown;
	s->fd_polls += c->fd_polls;
	s->bytes_in += c->bytes_in;
	s->bytes_out += c->bytes_out;
	if (ret > 0 && sc != SC_EPOLL_CTL && ret == in->arg &&
	    (sc == SC_EPOLL_WAIT || sc == SC_EPOLL_PWAIT || sc == SC_EPOLL_PWAIT2))
		s->maxevents_hits++;
	if (c->rl_valid) {
		s->rl_entry_sum += in->rl_entry;
		if (in->rl_entry > s->rl_entry_max)
			s->rl_entry_max = in->rl_entry;
		s->rl_exit_sum += c->rl_exit;
		if (c->rl_exit > s->rl_exit_max)
			s->rl_exit_max = c->rl_exit;
	}
	s->rl_truncated += c->rl_truncated;
	s->rl_unknown += c->rl_unknown;
}

/*
 * Waking the reader is an interrupt (in a VM, IPIs and VM exits) that the
 * default ring buffer policy raises for every record while the reader keeps
 * up: it cost several microseconds a call. Wake it only when the backlog
 * crosses a multiple of cfg_wakeup_bytes (a few times per buffer, so a
 * wakeup that races with the reader going to sleep is followed by another);
 * the reader also drains on a timer.
 */
static __always_inline u64 call_wakeup(void)
{
	const u64 rec = (sizeof(struct call_event) + BPF_RINGBUF_HDR_SZ + 7) & ~7ULL;
	u64 avail;

	if (!cfg_wakeup_bytes)
		return 0;
	avail = bpf_ringbuf_query(&call_events, BPF_RB_AVAIL_DATA);
	if (avail >= rec && avail / cfg_wakeup_bytes != (avail - rec) / cfg_wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void emit_call(u32 sc, long ret, u64 lat, u32 tgid, u32 tid,
				      struct inflight *in, struct call_cost *c)
{
	struct call_event *e = bpf_ringbuf_reserve(&call_events, sizeof(*e), 0);

	if (!e) {
		count(LOST_CALL_EVENTS);
		return;
	}
	e->start_ns = in->start_ns;
	e->duration_ns = lat;
	e->blocked_ns = in->blocked_ns;
	e->last_wakeup_ns = in->last_wakeup;
	e->fds_watched = c->fds_watched;
	e->fd_polls = c->fd_polls;
	e->bytes_in = c->bytes_in;
	e->bytes_out = c->bytes_out;
	e->ret = ret;
	e->tgid = tgid;
	e->tid = tid;
	e->sc = sc;
	e->arg = in->arg;
	e->epfd = in->epfd;
	e->sleeps = in->sleeps;
	e->wakeups = in->wakeups;
	e->rl_entry = c->rl_valid ? in->rl_entry : -1;
	e->rl_exit = c->rl_valid ? (s32)c->rl_exit : -1;
	e->fds_unknown = c->fds_unknown;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	bpf_ringbuf_submit(e, call_wakeup());
}

static __always_inline int on_exit(u32 sc, long ret)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32, tid = (u32)id;
	struct stats_key key = { .tid = tid, .sc = sc };
	struct call_cost c = {};
	struct inflight *in;
	struct stats *s;
	u64 lat;

	if (!may_be_target(tgid))
		return 0;
	in = bpf_map_lookup_elem(&inflight_calls, &tid);
	if (!in || in->sc == SC_IDLE)
		return 0;
	if (in->sc != sc) {
		/* The entry belongs to another call, whose exit was missed. */
		count(EXIT_DISCARDED);
		goto out;
	}

	if (sc == SC_EPOLL_CREATE) {
		exit_epoll_create(tgid, ret);
		goto out;
	}

	lat = bpf_ktime_get_ns() - in->start_ns;
	cost_of(sc, ret, in, &c);
	if (sc == SC_EPOLL_CTL)
		exit_epoll_ctl(in, tgid, ret);

	s = lookup_or_init(&call_stats, &key, &zero_stats);
	if (!s) {
		count(LOST_STATS);
		goto events;
	}
	if (!s->calls) {
		/* Only a new entry has no calls: add_to_stats, its one writer, counts each. */
		s->tgid = tgid;
		s->lat_min = ~0ULL;
	}
	add_to_stats(s, sc, ret, lat, in, &c, tid);
events:
	if (cfg_events)
		emit_call(sc, ret, lat, tgid, tid, in, &c);
out:
	in->sc = SC_IDLE;
	return 0;
}

/* ---- syscall tracepoints (tracefs: events/syscalls/sys_{enter,exit}_NAME) ---- */

struct sys_enter_ctx {
	u64 common;
	s64 nr;
	unsigned long args[6];
};

struct sys_exit_ctx {
	u64 common;
	s64 nr;
	s64 ret;
};

#define TP_PAIR(name, SC)                                                          \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                \
	int tp_enter_##name(struct sys_enter_ctx *ctx)                             \
	{                                                                          \
		return on_enter(SC, ctx->args[0], ctx->args[1], ctx->args[2],      \
				ctx->args[3]);                                     \
	}                                                                          \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                 \
	int tp_exit_##name(struct sys_exit_ctx *ctx)                               \
	{                                                                          \
		return on_exit(SC, ctx->ret);                                      \
	}

TP_PAIR(select, SC_SELECT)
TP_PAIR(pselect6, SC_PSELECT6)
TP_PAIR(poll, SC_POLL)
TP_PAIR(ppoll, SC_PPOLL)
TP_PAIR(epoll_wait, SC_EPOLL_WAIT)
TP_PAIR(epoll_pwait, SC_EPOLL_PWAIT)
TP_PAIR(epoll_pwait2, SC_EPOLL_PWAIT2)
TP_PAIR(epoll_ctl, SC_EPOLL_CTL)
TP_PAIR(epoll_create, SC_EPOLL_CREATE)
TP_PAIR(epoll_create1, SC_EPOLL_CREATE)

SEC("tracepoint/syscalls/sys_enter_close")
int tp_close(struct sys_enter_ctx *ctx)
{
	return on_close(ctx->args[0]);
}

/*
 * ---- raw syscall tracepoints: one program on sys_enter, one on sys_exit ----
 *
 * Every syscall of the machine runs these (as it runs the syscall
 * tracepoint machinery once any syscalls/ tracepoint is on), but they skip
 * building the trace record that makes each per-syscall tracepoint cost
 * several hundred ns: the traced calls get much cheaper, the others pay a
 * few ns more for the switch. x86_64 syscall numbers; 32-bit (ia32) calls,
 * which reuse the numbers for other syscalls, are left out, as the
 * per-syscall tracepoints leave them out.
 */
static __always_inline u32 sc_of_nr(long nr)
{
	switch (nr) {
	case 23: return SC_SELECT;
	case 270: return SC_PSELECT6;
	case 7: return SC_POLL;
	case 271: return SC_PPOLL;
	case 232: return SC_EPOLL_WAIT;
	case 281: return SC_EPOLL_PWAIT;
	case 441: return SC_EPOLL_PWAIT2;
	case 233: return SC_EPOLL_CTL;
	case 213:
	case 291: return SC_EPOLL_CREATE;
	}
	return SC_IDLE;
}

static __always_inline bool compat_syscall(void)
{
	return bpf_get_current_task_btf()->thread_info.status & TS_COMPAT;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(rt_sys_enter, struct pt_regs *regs, long nr)
{
	u32 sc = sc_of_nr(nr);

	if (nr == 3 && !compat_syscall()) /* close */
		return on_close(regs->di);

	if (sc == SC_IDLE || compat_syscall())
		return 0;
	return on_enter(sc, regs->di, regs->si, regs->dx, regs->r10);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(rt_sys_exit, struct pt_regs *regs, long ret)
{
	u32 sc = sc_of_nr(regs->orig_ax);

	if (sc == SC_IDLE || compat_syscall())
		return 0;
	return on_exit(sc, ret);
}

/* ---- fentry/fexit on the x86_64 syscall wrappers ---- */

#define REG_ARGS(regs)                                                             \
	BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si), BPF_CORE_READ(regs, dx), \
		BPF_CORE_READ(regs, r10)

#define FENTRY_PAIR(name, SC)                                                      \
	SEC("fentry/__x64_sys_" #name)                                             \
	int BPF_PROG(fe_enter_##name, struct pt_regs *regs)                        \
	{                                                                          \
		return on_enter(SC, REG_ARGS(regs));                               \
	}                                                                          \
	SEC("fexit/__x64_sys_" #name)                                              \
	int BPF_PROG(fe_exit_##name, struct pt_regs *regs, long ret)               \
	{                                                                          \
		return on_exit(SC, ret);                                           \
	}

FENTRY_PAIR(select, SC_SELECT)
FENTRY_PAIR(pselect6, SC_PSELECT6)
FENTRY_PAIR(poll, SC_POLL)
FENTRY_PAIR(ppoll, SC_PPOLL)
FENTRY_PAIR(epoll_wait, SC_EPOLL_WAIT)
FENTRY_PAIR(epoll_pwait, SC_EPOLL_PWAIT)
FENTRY_PAIR(epoll_pwait2, SC_EPOLL_PWAIT2)
FENTRY_PAIR(epoll_ctl, SC_EPOLL_CTL)
FENTRY_PAIR(epoll_create, SC_EPOLL_CREATE)
FENTRY_PAIR(epoll_create1, SC_EPOLL_CREATE)

/* ---- kprobe/kretprobe on the same wrappers ---- */

#define KPROBE_PAIR(name, SC)                                                      \
	SEC("kprobe/__x64_sys_" #name)                                             \
	int kp_enter_##name(struct pt_regs *ctx)                                   \
	{                                                                          \
		struct pt_regs *regs = (struct pt_regs *)PT_REGS_PARM1(ctx);       \
		return on_enter(SC, REG_ARGS(regs));                               \
	}                                                                          \
	SEC("kretprobe/__x64_sys_" #name)                                          \
	int kp_exit_##name(struct pt_regs *ctx)                                    \
	{                                                                          \
		return on_exit(SC, PT_REGS_RC(ctx));                               \
	}

KPROBE_PAIR(select, SC_SELECT)
KPROBE_PAIR(pselect6, SC_PSELECT6)
KPROBE_PAIR(poll, SC_POLL)
KPROBE_PAIR(ppoll, SC_PPOLL)
KPROBE_PAIR(epoll_wait, SC_EPOLL_WAIT)
KPROBE_PAIR(epoll_pwait, SC_EPOLL_PWAIT)
KPROBE_PAIR(epoll_pwait2, SC_EPOLL_PWAIT2)
KPROBE_PAIR(epoll_ctl, SC_EPOLL_CTL)
KPROBE_PAIR(epoll_create, SC_EPOLL_CREATE)
KPROBE_PAIR(epoll_create1, SC_EPOLL_CREATE)

/* ---- ep_poll_callback: who woke an epoll instance, and did it queue? ---- */

static __always_inline int on_ep_callback(wait_queue_entry_t *wait, void *key)
{
	struct eppoll_entry *pwq;
	struct epitem *epi;
	struct eventpoll *ep;
	struct ep_key *owner, k;
	struct ep_counts *c;
	u32 events, pollflags = (u32)(unsigned long)key;
	u64 p;

	pwq = (void *)wait - bpf_core_field_offset(struct eppoll_entry, wait);
	epi = BPF_CORE_READ(pwq, base);
	ep = BPF_CORE_READ(epi, ep);
	p = (u64)ep;
	owner = bpf_map_lookup_elem(&ep_owner, &p);
	if (!owner)
		return 0;
	k = *owner;
	c = lookup_or_init(&ep_counters, &k, &zero_counts);
	if (!c) {
		count(LOST_EPOLL);
		return 0;
	}
	__sync_fetch_and_add(&c->callbacks, 1);

	/* Same tests, in the same order, as ep_poll_callback in fs/eventpoll.c. */
	events = BPF_CORE_READ(epi, event.events);
	if (!(events & ~EP_PRIVATE_BITS) || (pollflags && !(pollflags & events))) {
		__sync_fetch_and_add(&c->cb_ignored, 1);
		return 0;
	}
	if (BPF_CORE_READ(ep, ovflist) != EP_UNACTIVE_PTR) {
		/* Events are being transferred: the item goes on ovflist unless chained. */
		void *next;
		if (bpf_core_field_exists(epi->ovflist_next))
			next = BPF_CORE_READ(epi, ovflist_next);
		else
			next = BPF_CORE_READ((struct epitem___old *)epi, next);
		if (next != EP_UNACTIVE_PTR)
			__sync_fetch_and_add(&c->cb_already_queued, 1);
	} else {
		struct list_head *link = __builtin_preserve_access_index(&epi->rdllink);
		if (BPF_CORE_READ(epi, rdllink.next) != link)
			__sync_fetch_and_add(&c->cb_already_queued, 1);
	}
	return 0;
}

SEC("fentry/ep_poll_callback")
int BPF_PROG(fe_ep_poll_callback, wait_queue_entry_t *wait, unsigned mode, int sync, void *key)
{
	return on_ep_callback(wait, key);
}

SEC("kprobe/ep_poll_callback")
int BPF_KPROBE(kp_ep_poll_callback, wait_queue_entry_t *wait, unsigned mode, int sync, void *key)
{
	return on_ep_callback(wait, key);
}

/* ---- eventpoll_release_file: a file's last close drops its epoll items ---- */

SEC("fentry/eventpoll_release_file")
int BPF_PROG(fe_ep_release_file, struct file *file)
{
	release_epitems(file);
	return 0;
}

SEC("kprobe/eventpoll_release_file")
int BPF_KPROBE(kp_ep_release_file, struct file *file)
{
	release_epitems(file);
	return 0;
}

/* An epoll instance's file is released (its f_op->release). */
SEC("fentry/ep_eventpoll_release")
int BPF_PROG(fe_ep_file_release, struct inode *inode, struct file *file)
{
	forget_owner(file);
	return 0;
}

SEC("kprobe/ep_eventpoll_release")
int BPF_KPROBE(kp_ep_file_release, struct inode *inode, struct file *file)
{
	forget_owner(file);
	return 0;
}

/* ---- scheduler: sleeps, wakeups and off-CPU time inside a traced call ---- */

/*
 * These run for every task on the machine, so untraced tasks must leave at
 * once: the task pointers are BTF-typed, read directly (no probe-read helper
 * calls), and only threads of possible targets are looked up.
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	u64 now = 0;
	struct inflight *in;
	u32 tid;

	if (may_be_target(prev->tgid)) {
		tid = prev->pid;
		in = bpf_map_lookup_elem(&inflight_calls, &tid);
		if (in && in->sc != SC_IDLE) {
			now = bpf_ktime_get_ns();
			in->off_cpu_since = now;
			if (!preempt && prev_state != 0)
				in->sleeps++;
		}
	}
	if (may_be_target(next->tgid)) {
		tid = next->pid;
		in = bpf_map_lookup_elem(&inflight_calls, &tid);
		if (in && in->sc != SC_IDLE && in->off_cpu_since) {
			if (!now)
				now = bpf_ktime_get_ns();
			in->blocked_ns += now - in->off_cpu_since;
			in->off_cpu_since = 0;
		}
	}
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_sched_wakeup, struct task_struct *p)
{
	struct inflight *in;
	u32 tid;

	if (!may_be_target(p->tgid))
		return 0;
	tid = p->pid;
	in = bpf_map_lookup_elem(&inflight_calls, &tid);
	if (in && in->sc != SC_IDLE) {
		__sync_fetch_and_add(&in->wakeups, 1);
		in->last_wakeup = bpf_ktime_get_ns();
	}
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	u32 ptgid = parent->tgid, ctgid = child->tgid;
	u8 *t;

	if (!cfg_follow || cfg_all || ptgid == ctgid)
		return 0;
	if (!may_be_target(ptgid))
		return 0;
	t = bpf_map_lookup_elem(&targets, &ptgid);
	if (!t || *t != TARGET)
		return 0;
	add_target(ctgid, BPF_ANY);
	emit(EV_FORK, ctgid, ptgid);
	return 0;
}

/* A command held at its gate becomes a target when it execs. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_sched_exec, struct task_struct *p)
{
	u32 tgid = p->tgid;
	u8 *t;

	if (!may_be_target(tgid))
		return 0;
	t = bpf_map_lookup_elem(&targets, &tgid);
	if (!t || *t != TARGET_AT_EXEC)
		return 0;
	*t = TARGET;
	emit(EV_EXEC, tgid, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_sched_exit, struct task_struct *p)
{
	u32 tid = p->pid, tgid = p->tgid;

	if (!may_be_target(tgid))
		return 0;
	bpf_map_delete_elem(&inflight_calls, &tid);
	/* signal->live reaches 0 when the last thread of the process exits. */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	if (!cfg_all && !bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	if (!cfg_all)
		bpf_map_delete_elem(&targets, &tgid);
	emit(EV_EXIT, tgid, 0);
	return 0;
}
