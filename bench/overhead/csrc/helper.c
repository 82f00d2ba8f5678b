// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Workloads for bench/overhead, built by the harness with gcc. Every call
 * under test is a raw system call (syscall(2) with the SYS_ number), so
 * what is timed is exactly the kernel entry the probes sit on.
 *
 *   helper bench   [-cpu N] [-ms M] [-reps R] [-warm-ms W] [-gate] -kinds poll,pselect6,...
 *       For each kind: (with -gate, wait for one byte on stdin), W ms of
 *       warm-up, then R timed repetitions of M ms each. Prints
 *       "RESULT kind calls ns/call ns/call ..." (calls = all calls made,
 *       warm-up included) and, with -gate, waits for a byte before the next.
 *   helper rate    [-cpu N] [-threads T] [-rate R] [-ms M] [-n CALLS] [-gate]
 *       T threads (thread i on CPU (N+i) % ncpu) doing poll(1 ready fd, 0),
 *       paced to R calls/s in all (0: as fast as they can) for M ms, or
 *       with -n, CALLS calls in all as fast as they can.
 *       Prints "RATE calls seconds".
 *   helper threads [-n N] [-timeout-ms T]
 *       N threads, each calling poll(1 fd that never becomes ready, T ms)
 *       in a loop. Prints "READY" once all run; exits on EOF on stdin.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call */
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "helper: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t set;
	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

static int gate(void)
{
	char c;
	ssize_t n = read(0, &c, 1);
	return n == 1;
}

/* One always-ready fd (an eventfd holding 1) and an epoll instance on it. */
static int evfd = -1, epfd = -1;

static void setup_fds(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	evfd = eventfd(1, 0);
	if (evfd < 0)
		die("eventfd");
	epfd = epoll_create1(0);
	if (epfd < 0)
		die("epoll_create1");
	ev.data.fd = evfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev))
		die("epoll_ctl");
}

enum kind { K_POLL, K_PSELECT6, K_EPOLL_WAIT, K_GETPPID, K_NONE };

static enum kind parse_kind(const char *s)
{
	if (!strcmp(s, "poll"))
		return K_POLL;
	if (!strcmp(s, "pselect6"))
		return K_PSELECT6;
	if (!strcmp(s, "epoll_wait"))
		return K_EPOLL_WAIT;
	if (!strcmp(s, "getppid"))
		return K_GETPPID;
	return K_NONE;
}

/* n calls of one kind; returns the sum of return values (to check them). */
static long run_calls(enum kind k, long n)
{
	long sum = 0;
	switch (k) {
	case K_POLL: {
		struct pollfd p = { .fd = evfd, .events = POLLIN };
		for (long i = 0; i < n; i++)
			sum += syscall(SYS_poll, &p, 1, 0);
		break;
	}
	case K_PSELECT6: {
		struct timespec zero = { 0, 0 };
		fd_set r;
		for (long i = 0; i < n; i++) {
			FD_ZERO(&r);
			FD_SET(evfd, &r);
			zero.tv_sec = 0;
			zero.tv_nsec = 0;
			sum += syscall(SYS_pselect6, evfd + 1, &r, NULL, NULL, &zero, NULL);
		}
		break;
	}
	case K_EPOLL_WAIT: {
		struct epoll_event ev;
		for (long i = 0; i < n; i++)
			sum += syscall(SYS_epoll_wait, epfd, &ev, 1, 0);
		break;
	}
	case K_GETPPID:
		for (long i = 0; i < n; i++)
			sum += syscall(SYS_getppid) > 0;
		break;
	default:
		break;
	}
	return sum;
}

#define BATCH 256

/* Calls in batches until ms milliseconds have passed; returns ns per call. */
static double timed(enum kind k, long ms, long *calls, long *bad)
{
	long long t0 = now_ns(), deadline = t0 + ms * 1000000LL, t;
	long n = 0;
	do {
		long r = run_calls(k, BATCH);
		if (r != BATCH)
			(*bad)++;
		n += BATCH;
		t = now_ns();
	} while (t < deadline);
	*calls += n;
	return (double)(t - t0) / n;
}

static int cmd_bench(int argc, char **argv)
{
	int cpu = -1, reps = 3, use_gate = 0;
	long ms = 100, warm = 20;
	char *kinds = NULL;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-ms") && i + 1 < argc)
			ms = atol(argv[++i]);
		else if (!strcmp(argv[i], "-warm-ms") && i + 1 < argc)
			warm = atol(argv[++i]);
		else if (!strcmp(argv[i], "-reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-kinds") && i + 1 < argc)
			kinds = argv[++i];
		else if (!strcmp(argv[i], "-gate"))
			use_gate = 1;
		else {
			fprintf(stderr, "helper bench: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!kinds || reps < 1 || reps > 100) {
		fprintf(stderr, "helper bench: need -kinds and 1 <= reps <= 100\n");
		return 2;
	}
	pin(cpu);
	setup_fds();
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (char *save = NULL, *s = strtok_r(kinds, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		enum kind k = parse_kind(s);
		long calls = 0, bad = 0;
		double ns[100];

		if (k == K_NONE) {
			fprintf(stderr, "helper bench: unknown kind %s\n", s);
			return 2;
		}
		if (use_gate && !gate())
			return 0;
		timed(k, warm, &calls, &bad);
		for (int r = 0; r < reps; r++)
			ns[r] = timed(k, ms, &calls, &bad);
		printf("RESULT %s %ld %ld", s, calls, bad);
		for (int r = 0; r < reps; r++)
			printf(" %.2f", ns[r]);
		printf("\n");
	}
	if (use_gate)
		gate(); /* let the harness read any state before we exit */
	return 0;
}

struct rate_arg {
	int cpu;
	double rate; /* calls/s for this thread, 0: flat out */
	long ms;
	long n;    /* calls to make, 0: run for ms */
	long calls;
	long long start;
};

static void *rate_thread(void *p)
{
	struct rate_arg *a = p;
	long long end = a->start + a->ms * 1000000LL, t;
	struct pollfd pf = { .fd = evfd, .events = POLLIN };

	pin(a->cpu);
	if (a->n > 0) {
		for (long i = 0; i < a->n; i++)
			syscall(SYS_poll, &pf, 1, 0);
		a->calls = a->n;
		return NULL;
	}
	while ((t = now_ns()) < end) {
		if (a->rate > 0) {
			/* Behind schedule: a batch of up to 64 calls; ahead: spin. */
			long due = (long)((t - a->start) * a->rate / 1e9);
			long todo = due - a->calls;
			if (todo <= 0)
				continue;
			if (todo > 64)
				todo = 64;
			for (long i = 0; i < todo; i++)
				syscall(SYS_poll, &pf, 1, 0);
			a->calls += todo;
		} else {
			for (int i = 0; i < 64; i++)
				syscall(SYS_poll, &pf, 1, 0);
			a->calls += 64;
		}
	}
	return NULL;
}

static int cmd_rate(int argc, char **argv)
{
	int cpu = 1, threads = 1, use_gate = 0;
	double rate = 0;
	long ms = 1000, n = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-rate") && i + 1 < argc)
			rate = atof(argv[++i]);
		else if (!strcmp(argv[i], "-ms") && i + 1 < argc)
			ms = atol(argv[++i]);
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			n = atol(argv[++i]);
		else if (!strcmp(argv[i], "-gate"))
			use_gate = 1;
		else {
			fprintf(stderr, "helper rate: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (threads < 1 || threads > 64) {
		fprintf(stderr, "helper rate: 1 <= threads <= 64\n");
		return 2;
	}
	setup_fds();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (use_gate && !gate())
		return 0;
	struct rate_arg args[64];
	pthread_t tids[64];
	long long start = now_ns();
	for (int i = 0; i < threads; i++) {
		args[i] = (struct rate_arg){
			.cpu = ncpu > 0 ? (int)((cpu + i) % ncpu) : -1,
			.rate = rate / threads, .ms = ms, .start = start,
			.n = n / threads + (i < n % threads),
		};
		if (pthread_create(&tids[i], NULL, rate_thread, &args[i]))
			die("pthread_create");
	}
	long total = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(tids[i], NULL);
		total += args[i].calls;
	}
	printf("RATE %ld %.6f\n", total, (now_ns() - start) / 1e9);
	if (use_gate)
		gate();
	return 0;
}

static long poll_timeout_ms = 10;
static int idle_pipe[2];

static void *idle_thread(void *p)
{
	struct pollfd pf = { .fd = idle_pipe[0], .events = POLLIN };
	(void)p;
	for (;;)
		syscall(SYS_poll, &pf, 1, poll_timeout_ms);
	return NULL;
}

static int cmd_threads(int argc, char **argv)
{
	int n = 1000;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-timeout-ms") && i + 1 < argc)
			poll_timeout_ms = atol(argv[++i]);
		else {
			fprintf(stderr, "helper threads: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (pipe(idle_pipe))
		die("pipe");
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (int i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, &attr, idle_thread, NULL))
			die("pthread_create");
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("READY %d\n", n);
	gate(); /* EOF or a byte: exit */
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: helper bench|rate|threads [options]\n");
		return 2;
	}
	if (!strcmp(argv[1], "bench"))
		return cmd_bench(argc - 2, argv + 2);
	if (!strcmp(argv[1], "rate"))
		return cmd_rate(argc - 2, argv + 2);
	if (!strcmp(argv[1], "threads"))
		return cmd_threads(argc - 2, argv + 2);
	fprintf(stderr, "helper: unknown command %s\n", argv[1]);
	return 2;
}
