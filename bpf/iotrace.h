/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The few kernel types iotrace reads, declared with preserve_access_index so
 * that clang emits CO-RE relocations: offsets are fixed up against the
 * running kernel's BTF at load time, so one object works across versions.
 * Only the members iotrace touches are listed.
 */
#ifndef IOTRACE_H
#define IOTRACE_H

/*
 * Tell libbpf's bpf_tracing.h that struct pt_regs uses the kernel's member
 * names (di, si, ...), as declared below, not the uapi ones (rdi, rsi, ...).
 */
#define __VMLINUX_H__

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
#define true 1
#define false 0

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
	BPF_RB_AVAIL_DATA = 0,
	BPF_RINGBUF_HDR_SZ = 8,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
	BPF_F_NO_PREALLOC = 1,
};

/* x86_64 user registers as saved on syscall entry. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
} __attribute__((preserve_access_index));

struct list_head {
	struct list_head *next, *prev;
} __attribute__((preserve_access_index));

typedef struct {
	int counter;
} atomic_t;

struct hlist_node {
	struct hlist_node *next;
} __attribute__((preserve_access_index));

struct hlist_head {
	struct hlist_node *first;
} __attribute__((preserve_access_index));

typedef struct {
	s64 counter;
} atomic64_t;

struct file {
	const void *f_op;
	void *private_data;
	struct hlist_head *f_ep; /* the epitems watching this file (5.11+) */
	atomic64_t f_count;      /* up to 6.12: references */
} __attribute__((preserve_access_index));

/* 6.13+: file_ref_t, where a counter of 0 means one reference. */
struct file___ref {
	struct {
		atomic64_t refcnt;
	} f_ref;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct signal_struct {
	atomic_t live;
} __attribute__((preserve_access_index));

/* x86: TS_COMPAT in status marks a 32-bit (ia32) syscall in progress. */
struct thread_info {
	u32 status;
} __attribute__((preserve_access_index));

#define TS_COMPAT 0x0002

#define PF_EXITING 0x00000004

struct task_struct {
	struct thread_info thread_info;
	unsigned int flags;
	int pid;
	int tgid;
	struct files_struct *files;
	struct signal_struct *signal;
} __attribute__((preserve_access_index));

struct epoll_event {
	__u32 events;
	__u64 data;
} __attribute__((packed)) __attribute__((preserve_access_index));

struct eventpoll;

struct epitem {
	struct list_head rdllink;
	struct epitem *ovflist_next; /* 6.x after the rename */
	struct eventpoll *ep;
	struct hlist_node fllink; /* in file->f_ep */
	struct epoll_event event;
} __attribute__((preserve_access_index));

/* Before the rename (6.1 and older) the overflow-list link was "next". */
struct epitem___old {
	struct epitem *next;
} __attribute__((preserve_access_index));

struct eventpoll {
	struct list_head rdllist;
	struct epitem *ovflist;
} __attribute__((preserve_access_index));

struct inode;

struct wait_queue_entry {
	unsigned int flags;
} __attribute__((preserve_access_index));
typedef struct wait_queue_entry wait_queue_entry_t;

struct eppoll_entry {
	struct epitem *base;
	wait_queue_entry_t wait;
} __attribute__((preserve_access_index));

#endif
