/* SPDX-License-Identifier: MIT */
/*
 * The loop contract of include/vback/loop.h (post, cancel, timers), run
 * against both implementations: the simple loop on a clock the test
 * moves, and the epoll loop on the real clock, with posts from another
 * thread waking it out of epoll_wait().
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>
#include <vback/loop.h>

#define MS 1000000ull

struct clk {
	uint64_t now;
	unsigned int wakes;
	unsigned int idles;
	uint64_t last_idle;
};

static uint64_t clk_now(void *opaque)
{
	return ((struct clk *)opaque)->now;
}

static void clk_wake(void *opaque)
{
	__atomic_fetch_add(&((struct clk *)opaque)->wakes, 1, __ATOMIC_SEQ_CST);
}

static void clk_idle(void *opaque, uint64_t timeout)
{
	struct clk *c = opaque;

	c->idles++;
	c->last_idle = timeout;
	if (timeout != UINT64_MAX)
		c->now += timeout; /* sleeping moves time on */
}

struct fixture {
	bool simple;
	struct clk clk;
	struct vback_loop *loop;
};

/* One round of dispatch that does not sleep. */
static unsigned int pump(struct fixture *f)
{
	if (f->simple)
		return vback_simple_loop_dispatch(f->loop);
	return (unsigned int)vback_loop_run_once(f->loop, 0);
}

static int setup_simple(void **state)
{
	static struct fixture f;
	struct vback_simple_loop_hooks h = {
		.wake = clk_wake,
		.now_ns = clk_now,
		.idle = clk_idle,
		.opaque = &f.clk,
	};

	f = (struct fixture){ .simple = true, .clk.now = 1000 * MS };
	assert_int_equal(vback_simple_loop_create(&h, &f.loop), 0);
	*state = &f;
	return 0;
}

static int setup_epoll(void **state)
{
	static struct fixture f;

	f = (struct fixture){ .simple = false };
	assert_int_equal(vback_epoll_loop_create(NULL, &f.loop), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->simple)
		vback_simple_loop_destroy(f->loop);
	else
		vback_epoll_loop_destroy(f->loop);
	return 0;
}

/* A work item that records the order it ran in. */
struct rec {
	struct vback_work w;
	struct vback_timer t;
	struct fixture *f;
	int *log;
	unsigned int *n;
	int id;
	unsigned int runs;
	unsigned int repost; /* post itself again this many times */
	struct rec *cancel;  /* cancel this one when run */
	struct rec *post;    /* post this one when run */
	uint64_t rearm;	     /* timer: re-arm with this delay (once) */
	bool stop;
};

static void rec_run(void *opaque)
{
	struct rec *r = opaque;

	r->runs++;
	if (r->log)
		r->log[(*r->n)++] = r->id;
	if (r->repost) {
		r->repost--;
		vback_loop_post(r->f->loop, &r->w);
	}
	if (r->cancel)
		vback_loop_cancel(r->f->loop, &r->cancel->w);
	if (r->post)
		vback_loop_post(r->f->loop, &r->post->w);
	if (r->rearm != UINT64_MAX) {
		uint64_t d = r->rearm;

		r->rearm = UINT64_MAX;
		vback_timer_arm(r->f->loop, &r->t, d, 0);
	}
	if (r->stop)
		vback_loop_stop(r->f->loop);
}

static void rec_init(struct rec *r, struct fixture *f, int id, int *log,
		     unsigned int *n)
{
	*r = (struct rec){ .f = f, .id = id, .log = log, .n = n };
	r->rearm = UINT64_MAX;
	vback_work_init(&r->w, rec_run, r);
	vback_timer_init(&r->t, rec_run, r);
}

static void test_post_fifo_once(void **state)
{
	struct fixture *f = *state;
	struct rec r[3];
	int log[8];
	unsigned int n = 0;

	for (int i = 0; i < 3; i++)
		rec_init(&r[i], f, i, log, &n);
	assert_int_equal(vback_loop_post(f->loop, &r[1].w), 0);
	assert_int_equal(vback_loop_post(f->loop, &r[0].w), 0);
	/* Pending already: the second post is a no-op. */
	assert_int_equal(vback_loop_post(f->loop, &r[1].w), 0);
	assert_int_equal(vback_loop_post(f->loop, &r[2].w), 0);
	assert_int_equal(pump(f), 3);
	assert_int_equal(n, 3);
	assert_int_equal(log[0], 1);
	assert_int_equal(log[1], 0);
	assert_int_equal(log[2], 2);
	assert_int_equal(pump(f), 0);
	assert_int_equal(r[1].runs, 1);
}

/* An item that posts itself runs once per round, not forever in one. */
static void test_repost_runs_next_round(void **state)
{
	struct fixture *f = *state;
	struct rec r;

	rec_init(&r, f, 0, NULL, NULL);
	r.repost = 5;
	vback_loop_post(f->loop, &r.w);
	assert_int_equal(pump(f), 1);
	assert_int_equal(r.runs, 1);
	assert_int_equal(pump(f), 1);
	assert_int_equal(r.runs, 2);
	while (pump(f))
		;
	assert_int_equal(r.runs, 6);
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct rec r[4];
	int log[8];
	unsigned int n = 0;

	for (int i = 0; i < 4; i++)
		rec_init(&r[i], f, i, log, &n);
	/* Cancel before running; cancel of an item not pending: no-op. */
	vback_loop_post(f->loop, &r[0].w);
	vback_loop_post(f->loop, &r[1].w);
	vback_loop_cancel(f->loop, &r[0].w);
	vback_loop_cancel(f->loop, &r[3].w);
	/* From inside a callback: r[1] cancels r[2], which is later in the
	 * same batch, and posts r[3], which runs next round. */
	r[1].cancel = &r[2];
	r[1].post = &r[3];
	vback_loop_post(f->loop, &r[2].w);
	assert_int_equal(pump(f), 1);
	assert_int_equal(n, 1);
	assert_int_equal(log[0], 1);
	assert_int_equal(pump(f), 1);
	assert_int_equal(log[1], 3);
	assert_int_equal(r[0].runs + r[2].runs, 0);
	/* Cancelled items can be posted again. */
	vback_loop_post(f->loop, &r[0].w);
	assert_int_equal(pump(f), 1);
	assert_int_equal(r[0].runs, 1);
}

static void test_cancel_last_of_batch(void **state)
{
	struct fixture *f = *state;
	struct rec r[3];
	int log[8];
	unsigned int n = 0;

	for (int i = 0; i < 3; i++)
		rec_init(&r[i], f, i, log, &n);
	/* r[0] cancels r[1], the last of the batch, and posts r[2]: r[2]
	 * must wait for the next round all the same. */
	r[0].cancel = &r[1];
	r[0].post = &r[2];
	vback_loop_post(f->loop, &r[0].w);
	vback_loop_post(f->loop, &r[1].w);
	assert_int_equal(pump(f), 1);
	assert_int_equal(r[2].runs, 0);
	assert_int_equal(pump(f), 1);
	assert_int_equal(r[2].runs, 1);
	assert_int_equal(r[1].runs, 0);
}

/* Simple loop: the clock is the test's. */
static void test_timers_simple(void **state)
{
	struct fixture *f = *state;
	struct rec a, b, p;

	rec_init(&a, f, 0, NULL, NULL);
	rec_init(&b, f, 1, NULL, NULL);
	rec_init(&p, f, 2, NULL, NULL);
	assert_int_equal(vback_simple_loop_timeout(f->loop), UINT64_MAX);
	assert_int_equal(vback_timer_arm(f->loop, &a.t, 10 * MS, 0), 0);
	assert_int_equal(vback_timer_arm(f->loop, &b.t, 5 * MS, 0), 0);
	assert_int_equal(vback_timer_arm(f->loop, &p.t, 4 * MS, 4 * MS), 0);
	assert_true(vback_timer_armed(&a.t));
	assert_int_equal(vback_simple_loop_timeout(f->loop), 4 * MS);
	f->clk.now += 3 * MS;
	assert_int_equal(pump(f), 0);
	f->clk.now += 1 * MS; /* t = 4: the periodic one */
	assert_int_equal(pump(f), 1);
	assert_int_equal(p.runs, 1);
	assert_true(vback_timer_armed(&p.t));
	/* Re-arming moves a timer: b from 5 to 20. */
	assert_int_equal(vback_timer_arm(f->loop, &b.t, 16 * MS, 0), 0);
	f->clk.now += 6 * MS; /* t = 10: a, and p at 8 */
	assert_int_equal(pump(f), 2);
	assert_int_equal(a.runs, 1);
	assert_false(vback_timer_armed(&a.t));
	assert_int_equal(b.runs, 0);
	/* Late: p was due at 12 and 16; it fires once, then at 26. */
	f->clk.now += 12 * MS; /* t = 22: b (20) and p */
	assert_int_equal(pump(f), 2);
	assert_int_equal(p.runs, 3);
	assert_int_equal(b.runs, 1);
	assert_int_equal(vback_simple_loop_timeout(f->loop), 4 * MS);
	vback_timer_cancel(f->loop, &p.t);
	vback_timer_cancel(f->loop, &p.t); /* twice: no-op */
	assert_false(vback_timer_armed(&p.t));
	f->clk.now += 100 * MS;
	assert_int_equal(pump(f), 0);
	assert_int_equal(vback_simple_loop_timeout(f->loop), UINT64_MAX);
}

/* A timer that re-arms itself with no delay fires again next round. */
static void test_timer_rearm_zero(void **state)
{
	struct fixture *f = *state;
	struct rec a;

	rec_init(&a, f, 0, NULL, NULL);
	a.rearm = 0;
	vback_timer_arm(f->loop, &a.t, 0, 0);
	assert_int_equal(pump(f), 1);
	assert_int_equal(a.runs, 1);
	assert_true(vback_timer_armed(&a.t));
	assert_int_equal(pump(f), 1);
	assert_int_equal(a.runs, 2);
	assert_false(vback_timer_armed(&a.t));
}

/* The wake hook fires when the queue goes from empty to not empty. */
static void test_simple_wake_and_idle(void **state)
{
	struct fixture *f = *state;
	struct rec r[2];

	rec_init(&r[0], f, 0, NULL, NULL);
	rec_init(&r[1], f, 1, NULL, NULL);
	vback_loop_post(f->loop, &r[0].w);
	vback_loop_post(f->loop, &r[1].w);
	assert_int_equal(f->clk.wakes, 1);
	assert_int_equal(vback_simple_loop_timeout(f->loop), 0);
	assert_int_equal(pump(f), 2);
	vback_loop_post(f->loop, &r[0].w);
	assert_int_equal(f->clk.wakes, 2);
	pump(f);
	/* run(): idles until the timer, runs it, it stops the loop. */
	r[1].stop = true;
	vback_timer_arm(f->loop, &r[1].t, 7 * MS, 0);
	assert_int_equal(vback_loop_run(f->loop), 0);
	assert_int_equal(r[1].runs, 2); /* once posted, once timed */
	assert_int_equal(f->clk.idles, 1);
	assert_int_equal(f->clk.last_idle, 7 * MS);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Epoll: a timer ends the wait no sooner than its deadline. */
static void test_timer_epoll(void **state)
{
	struct fixture *f = *state;
	struct rec a;
	uint64_t t0 = mono_ns(), t1;
	int ran;

	rec_init(&a, f, 0, NULL, NULL);
	assert_true(vback_loop_now(f->loop) >= t0);
	vback_timer_arm(f->loop, &a.t, 20 * MS, 0);
	ran = vback_loop_run_once(f->loop, -1);
	t1 = mono_ns();
	assert_int_equal(ran, 1);
	assert_int_equal(a.runs, 1);
	assert_true(t1 - t0 >= 20 * MS);
	assert_true(t1 - t0 < 2000 * MS);
}

struct poster {
	struct fixture *f;
	struct rec *r;
	uint64_t delay_us;
};

static void *poster_main(void *opaque)
{
	struct poster *p = opaque;

	usleep((useconds_t)p->delay_us);
	vback_loop_post(p->f->loop, &p->r->w);
	return NULL;
}

/* Epoll: a post from another thread ends epoll_wait(). */
static void test_post_wakes_epoll(void **state)
{
	struct fixture *f = *state;
	struct rec r;
	struct poster p = { .f = f, .r = &r, .delay_us = 50000 };
	pthread_t th;
	int ran;

	rec_init(&r, f, 0, NULL, NULL);
	assert_int_equal(pthread_create(&th, NULL, poster_main, &p), 0);
	/* No timeout: if the post did not wake it, the test hangs (and its
	 * time limit fails it). */
	do {
		ran = vback_loop_run_once(f->loop, -1);
	} while (ran == 0 && r.runs == 0);
	pthread_join(th, NULL);
	assert_int_equal(r.runs, 1);
	/* Work pending: run_once(-1) returns without sleeping. */
	vback_loop_post(f->loop, &r.w);
	assert_int_equal(vback_loop_run_once(f->loop, -1), 1);
	assert_int_equal(r.runs, 2);
}

/* Many posts from several threads, none lost, none run twice. */
struct storm {
	struct fixture *f;
	struct rec *recs;
	unsigned int n;
};

static void *storm_main(void *opaque)
{
	struct storm *s = opaque;

	for (unsigned int i = 0; i < s->n; i++)
		vback_loop_post(s->f->loop, &s->recs[i].w);
	return NULL;
}

static void test_post_storm(void **state)
{
	struct fixture *f = *state;
	enum { THREADS = 4, PER = 2000 };
	static struct rec recs[THREADS][PER];
	struct storm st[THREADS];
	pthread_t th[THREADS];
	unsigned int total = 0;

	for (int t = 0; t < THREADS; t++) {
		for (int i = 0; i < PER; i++)
			rec_init(&recs[t][i], f, i, NULL, NULL);
		st[t] = (struct storm){ f, recs[t], PER };
		assert_int_equal(pthread_create(&th[t], NULL, storm_main,
						&st[t]),
				 0);
	}
	while (total < THREADS * PER) {
		int ran = f->simple ? (int)pump(f)
				    : vback_loop_run_once(f->loop, 1000);

		assert_true(ran >= 0);
		total += (unsigned int)ran;
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	while (pump(f))
		;
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER; i++)
			assert_int_equal(recs[t][i].runs, 1);
}

static void test_no_fds_in_simple_loop(void **state)
{
	struct fixture *f = *state;

	assert_false(vback_loop_has_fds(f->loop));
	assert_int_equal(vback_loop_watch(f->loop, 0, VBACK_EV_IN, NULL, NULL),
			 -ENOTSUP);
	assert_int_equal(vback_loop_unwatch(f->loop, 0), -ENOENT);
}

#define BOTH(fn)                                                               \
	cmocka_unit_test_setup_teardown(fn, setup_simple, teardown),           \
		cmocka_unit_test_setup_teardown(fn, setup_epoll, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_post_fifo_once),
		BOTH(test_repost_runs_next_round),
		BOTH(test_cancel),
		BOTH(test_cancel_last_of_batch),
		BOTH(test_timer_rearm_zero),
		BOTH(test_post_storm),
		cmocka_unit_test_setup_teardown(test_timers_simple,
						setup_simple, teardown),
		cmocka_unit_test_setup_teardown(test_simple_wake_and_idle,
						setup_simple, teardown),
		cmocka_unit_test_setup_teardown(test_no_fds_in_simple_loop,
						setup_simple, teardown),
		cmocka_unit_test_setup_teardown(test_timer_epoll, setup_epoll,
						teardown),
		cmocka_unit_test_setup_teardown(test_post_wakes_epoll,
						setup_epoll, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
