/* SPDX-License-Identifier: MIT */
/*
 * bench_floor: what this machine charges any back-end for a notification
 * and a sleep (a benchmark, not a test). No virtio, no vback: two threads,
 * a "front-end" and a "back-end", pinned to the CPUs given, pass one
 * request back and forth the way a vhost-user back-end and its guest do,
 * and the back-end does nothing else. Whatever a real back-end spends per
 * request on top of these figures is its own; below them no design can go
 * on this machine. scripts/bench-vhost-user.sh prints them before its
 * table (docs/daemon.md, "Performance").
 *
 * The front-end marks a request available, kicks the back-end's eventfd
 * if it sleeps, and sleeps in poll() on the call eventfd until the answer
 * comes, as bench_vhu_client does at depth 1. The back-end:
 *   sleep  waits for the kick in epoll_wait() (an interrupt-driven
 *          back-end: --poll-us 0), answers with an eventfd write;
 *   yield  watches the request flag and calls sched_yield() between looks
 *          (the cheapest hand-over to a front-end on the same CPU);
 *   spin   watches the request flag without a system call (a polling
 *          back-end; apart from the front-end, it costs a whole CPU).
 * Each prints the round trip's time and the back-end thread's CPU time
 * per round trip (CLOCK_THREAD_CPUTIME_ID). Last, "timed sleep" is the
 * back-end's CPU for one 20 us clock_nanosleep() with a 1 ns timer slack:
 * what a polling back-end pays to give the CPU back for a while instead
 * of spinning through it.
 *
 * Usage: bench_floor [BACKEND_CPU FRONTEND_CPU [ROUND_TRIPS]]
 * (default: 0 0 100000; "0 1" puts them apart)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "bench_check.h"

enum mode { SLEEP, YIELD, SPIN };

struct pair {
	enum mode mode;
	long n;
	int backend_cpu, frontend_cpu;
	int kick, call;
	atomic_int request;	  /* 1: a request is available */
	atomic_int backend_waits; /* 1: the back-end wants a kick */
	double backend_cpu_s;
};

static double seconds(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* pthread calls return the error instead of setting errno. */
	errno = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	CHECK(errno == 0);
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	CHECK(write(fd, &one, sizeof(one)) == sizeof(one));
}

static void *backend(void *arg)
{
	struct pair *p = arg;
	struct epoll_event ev = { .events = EPOLLIN };
	uint64_t v;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	double t0;

	CHECK(ep >= 0);
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p->kick, &ev) == 0);
	pin(p->backend_cpu);
	t0 = seconds(CLOCK_THREAD_CPUTIME_ID);
	for (long i = 0; i < p->n; i++) {
		/* Take the request the way each back-end design would. */
		for (;;) {
			if (atomic_exchange(&p->request, 0))
				break;
			if (p->mode == SPIN)
				continue;
			if (p->mode == YIELD) {
				sched_yield();
				continue;
			}
			/* Ask for a kick, then look once more: it may have
			 * come meanwhile (the EVENT_IDX dance). */
			atomic_store(&p->backend_waits, 1);
			if (atomic_exchange(&p->request, 0)) {
				atomic_store(&p->backend_waits, 0);
				break;
			}
			CHECK(epoll_wait(ep, &ev, 1, -1) == 1);
			CHECK(read(p->kick, &v, sizeof(v)) == sizeof(v));
		}
		signal_fd(p->call);
	}
	p->backend_cpu_s = seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
	close(ep);
	return NULL;
}

static void round_trips(enum mode mode, const char *name, int bcpu, int fcpu,
			long n)
{
	struct pair p = {
		.mode = mode, .n = n, .backend_cpu = bcpu, .frontend_cpu = fcpu
	};
	pthread_t t;
	double w0, wall;

	p.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(p.kick >= 0 && p.call >= 0);
	errno = pthread_create(&t, NULL, backend, &p);
	CHECK(errno == 0);
	pin(fcpu);
	w0 = seconds(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) {
		struct pollfd pfd = { .fd = p.call, .events = POLLIN };
		uint64_t v;

		atomic_store(&p.request, 1);
		if (atomic_exchange(&p.backend_waits, 0))
			signal_fd(p.kick);
		CHECK(poll(&pfd, 1, -1) == 1);
		CHECK(read(p.call, &v, sizeof(v)) == sizeof(v));
	}
	wall = seconds(CLOCK_MONOTONIC) - w0;
	errno = pthread_join(t, NULL);
	CHECK(errno == 0);
	printf("bench_floor: cpus %d:%d %-5s round trip %6.2f us, back-end CPU "
	       "%5.2f us per round trip\n",
	       bcpu, fcpu, name, wall / (double)n * 1e6,
	       p.backend_cpu_s / (double)n * 1e6);
	close(p.kick);
	close(p.call);
}

static void timed_sleep(int cpu, long n)
{
	const struct timespec d = { .tv_nsec = 20000 };
	double w0, c0;

	pin(cpu);
	CHECK(prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0) == 0);
	w0 = seconds(CLOCK_MONOTONIC);
	c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
	for (long i = 0; i < n; i++)
		clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL);
	printf("bench_floor: cpu %d timed sleep of 20 us: %6.2f us, CPU %5.2f "
	       "us "
	       "per sleep\n",
	       cpu, (seconds(CLOCK_MONOTONIC) - w0) / (double)n * 1e6,
	       (seconds(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)n * 1e6);
}

int main(int argc, char **argv)
{
	int bcpu = argc > 2 ? atoi(argv[1]) : 0;
	int fcpu = argc > 2 ? atoi(argv[2]) : 0;
	long n = argc > 3 ? atol(argv[3]) : 100000;

	if (argc == 2 || argc > 4 || n <= 0) {
		fprintf(stderr, "usage: bench_floor [BACKEND_CPU FRONTEND_CPU "
				"[ROUND_TRIPS]]\n");
		return 2;
	}
	round_trips(SLEEP, "sleep", bcpu, fcpu, n);
	round_trips(YIELD, "yield", bcpu, fcpu, n);
	/* Spinning on the front-end's CPU would only wait for the tick. */
	if (bcpu != fcpu)
		round_trips(SPIN, "spin", bcpu, fcpu, n);
	timed_sleep(bcpu, n / 4);
	return 0;
}
