/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>

struct ctx {
	struct vback_loop *loop;
	int fd_a, fd_b;
	int calls_a, calls_b, calls_c;
	uint32_t last_events;
	bool unwatch_b_from_a;
	bool rewatch; /* ... and watch it again, with on_c() */
	bool stop_after;
};

static void drain(int fd)
{
	uint64_t v;

	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
}

static void poke(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void on_c(void *opaque, int fd, uint32_t events)
{
	struct ctx *c = opaque;

	(void)events;
	c->calls_c++;
	drain(fd);
}

static void on_a(void *opaque, int fd, uint32_t events)
{
	struct ctx *c = opaque;

	c->calls_a++;
	c->last_events = events;
	drain(fd);
	if (c->unwatch_b_from_a)
		assert_int_equal(vback_loop_unwatch(c->loop, c->fd_b), 0);
	if (c->rewatch)
		assert_int_equal(vback_loop_watch(c->loop, c->fd_b, VBACK_EV_IN,
						  on_c, c),
				 0);
	if (c->stop_after)
		vback_loop_stop(c->loop);
}

static void on_b(void *opaque, int fd, uint32_t events)
{
	struct ctx *c = opaque;

	(void)events;
	c->calls_b++;
	drain(fd);
	if (c->unwatch_b_from_a)
		assert_int_equal(vback_loop_unwatch(c->loop, c->fd_a), 0);
	if (c->rewatch)
		assert_int_equal(vback_loop_watch(c->loop, c->fd_a, VBACK_EV_IN,
						  on_c, c),
				 0);
}

static int setup(void **state)
{
	static struct ctx c;
	struct vback_loop *loop;

	c = (struct ctx){ 0 };
	assert_int_equal(vback_epoll_loop_create(NULL, &loop), 0);
	c.loop = loop;
	c.fd_a = eventfd(0, EFD_NONBLOCK);
	c.fd_b = eventfd(0, EFD_NONBLOCK);
	*state = &c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	close(c->fd_a);
	close(c->fd_b);
	vback_epoll_loop_destroy(c->loop);
	return 0;
}

static void test_dispatch_and_errors(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(vback_loop_watch(c->loop, c->fd_a, VBACK_EV_IN, on_a,
					  c),
			 0);
	assert_int_equal(vback_loop_watch(c->loop, c->fd_a, VBACK_EV_IN, on_a,
					  c),
			 -EEXIST);
	assert_int_equal(vback_loop_watch(c->loop, -1, VBACK_EV_IN, on_a, c),
			 -EINVAL);
	assert_int_equal(vback_loop_unwatch(c->loop, c->fd_b), -ENOENT);
	assert_int_equal(vback_loop_modify(c->loop, c->fd_b, VBACK_EV_IN),
			 -ENOENT);
	/* Nothing ready: a zero timeout runs nothing. */
	assert_int_equal(vback_loop_run_once(c->loop, 0), 0);
	poke(c->fd_a);
	assert_int_equal(vback_loop_run_once(c->loop, 1000), 1);
	assert_int_equal(c->calls_a, 1);
	assert_int_equal(c->last_events, VBACK_EV_IN);
	/* Modify to OUT: an eventfd is always writable. */
	assert_int_equal(vback_loop_modify(c->loop, c->fd_a, VBACK_EV_OUT), 0);
	poke(c->fd_a); /* for on_a() to drain */
	assert_int_equal(vback_loop_run_once(c->loop, 0), 1);
	assert_int_equal(c->calls_a, 2);
	assert_int_equal(c->last_events, VBACK_EV_OUT);
	assert_int_equal(vback_loop_unwatch(c->loop, c->fd_a), 0);
	poke(c->fd_a);
	assert_int_equal(vback_loop_run_once(c->loop, 0), 0);
	assert_int_equal(c->calls_a, 2);
}

/* fd_a (on_a) and fd_b (on_b) watched, both ready: one batch. */
static void watch_both_ready(struct ctx *c)
{
	assert_int_equal(vback_loop_watch(c->loop, c->fd_a, VBACK_EV_IN, on_a,
					  c),
			 0);
	assert_int_equal(vback_loop_watch(c->loop, c->fd_b, VBACK_EV_IN, on_b,
					  c),
			 0);
	poke(c->fd_a);
	poke(c->fd_b);
}

/* Two fds ready in one batch; whichever runs first unwatches the other:
 * the other's callback must not run although its event was collected. */
static void test_unwatch_in_batch_drops_stale_event(void **state)
{
	struct ctx *c = *state;
	int ran;

	c->unwatch_b_from_a = true;
	watch_both_ready(c);
	ran = vback_loop_run_once(c->loop, 1000);
	assert_int_equal(ran, 1);
	assert_int_equal(c->calls_a + c->calls_b, 1);
}

/* The same, but the first callback watches the other fd again: the event
 * collected for the old watch carries the old generation and must reach
 * neither callback; the new watch fires in the next round. */
static void test_rewatch_in_batch_drops_stale_event(void **state)
{
	struct ctx *c = *state;

	c->unwatch_b_from_a = true;
	c->rewatch = true;
	watch_both_ready(c);
	assert_int_equal(vback_loop_run_once(c->loop, 1000), 1);
	assert_int_equal(c->calls_a + c->calls_b, 1);
	assert_int_equal(c->calls_c, 0);
	assert_int_equal(vback_loop_run_once(c->loop, 1000), 1);
	assert_int_equal(c->calls_c, 1);
	assert_int_equal(c->calls_a + c->calls_b, 1);
}

static void test_run_until_stop(void **state)
{
	struct ctx *c = *state;

	c->stop_after = true;
	assert_int_equal(vback_loop_watch(c->loop, c->fd_a, VBACK_EV_IN, on_a,
					  c),
			 0);
	poke(c->fd_a);
	assert_int_equal(vback_loop_run(c->loop), 0);
	assert_int_equal(c->calls_a, 1);
	/* A stop() before run() makes the next run() return at once. */
	vback_loop_stop(c->loop);
	assert_int_equal(vback_loop_run(c->loop), 0);
	assert_int_equal(c->calls_a, 1);
}

/* An embedder's loop without run/stop: the wrappers say so, not crash. */
static void test_optional_ops(void **state)
{
	static const struct vback_loop_ops none = { 0 };
	struct vback_loop l = { &none, NULL };

	(void)state;
	assert_int_equal(vback_loop_run(&l), -ENOTSUP);
	assert_int_equal(vback_loop_run_once(&l, 0), -ENOTSUP);
	vback_loop_stop(&l);
}

/* ---- pollers ------------------------------------------------------ */

struct pctx {
	struct vback_loop *loop;
	struct vback_poller p, other;
	int begins, polls, ends;
	int work_at;	   /* poll() number that finds work (0: never) */
	bool end_pending;  /* end() says work came in the window */
	bool remove_other; /* poll() removes the other poller */
	int other_polls, other_ends;
};

static bool p_poll(void *opaque)
{
	struct pctx *c = opaque;

	c->polls++;
	if (c->remove_other)
		vback_loop_poller_remove(c->loop, &c->other);
	return c->polls == c->work_at;
}

static void p_begin(void *opaque)
{
	((struct pctx *)opaque)->begins++;
}

static bool p_end(void *opaque)
{
	struct pctx *c = opaque;

	c->ends++;
	if (c->end_pending) {
		c->end_pending = false;
		return true;
	}
	return false;
}

static bool o_poll(void *opaque)
{
	((struct pctx *)opaque)->other_polls++;
	return false;
}

static bool o_end(void *opaque)
{
	((struct pctx *)opaque)->other_ends++;
	return false;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct pctx *psetup(struct vback_loop *loop)
{
	static struct pctx c;

	c = (struct pctx){ .loop = loop };
	vback_poller_init(&c.p, p_poll, p_begin, p_end, &c);
	assert_int_equal(vback_loop_poller_add(loop, &c.p), 0);
	assert_int_equal(vback_loop_poller_add(loop, &c.p), -EEXIST);
	return &c;
}

/* Polling is off until asked for: pollers are never called. */
static void test_poll_off_by_default(void **state)
{
	struct ctx *x = *state;
	struct pctx *c = psetup(x->loop);

	assert_true(vback_loop_has_pollers(x->loop));
	assert_true(vback_loop_run_once(x->loop, 1) >= 0);
	assert_int_equal(c->polls + c->begins + c->ends, 0);
	vback_loop_poller_remove(x->loop, &c->p);
	assert_false(c->p.added_);
	vback_loop_poller_remove(x->loop, &c->p); /* no-op */
}

/* begin() once per stretch, poll() until work is found (no sleep), end()
 * only when the loop gives up and sleeps. */
static void test_poll_finds_work(void **state)
{
	struct ctx *x = *state;
	struct pctx *c = psetup(x->loop);
	struct vback_epoll_poll_stats st;
	uint64_t t0;

	assert_int_equal(vback_epoll_loop_set_poll(x->loop, 20000000), 0);
	c->work_at = 3;
	t0 = now_ms();
	assert_true(vback_loop_run_once(x->loop, 5000) >= 0);
	assert_true(now_ms() - t0 < 2500); /* did not sleep */
	assert_int_equal(c->begins, 1);
	assert_int_equal(c->polls, 3);
	assert_int_equal(c->ends, 0);
	/* Nothing more: polls up to the budget, then end() and sleep. */
	assert_true(vback_loop_run_once(x->loop, 1) >= 0);
	assert_int_equal(c->begins, 1);
	assert_true(c->polls > 3);
	assert_int_equal(c->ends, 1);
	assert_int_equal(vback_epoll_loop_get_poll_stats(x->loop, &st), 0);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 1);
	assert_true(st.polled_ns > 0);
	/* A new stretch begins again. */
	c->work_at = c->polls + 1;
	assert_true(vback_loop_run_once(x->loop, 1) >= 0);
	assert_int_equal(c->begins, 2);
	vback_loop_poller_remove(x->loop, &c->p);
	{
		static const struct vback_loop_ops none = { 0 };
		struct vback_loop l = { &none, NULL };

		assert_int_equal(vback_epoll_loop_set_poll(&l, 1), -EINVAL);
		assert_int_equal(vback_epoll_loop_get_poll_stats(&l, &st),
				 -EINVAL);
		assert_false(vback_loop_has_pollers(&l));
		assert_int_equal(vback_loop_poller_add(&l, &c->p), -ENOTSUP);
	}
}

/* Work that arrives between the last poll() and end() keeps the loop
 * awake: end() says so, and the loop does not sleep. */
static void test_poll_end_pending(void **state)
{
	struct ctx *x = *state;
	struct pctx *c = psetup(x->loop);
	uint64_t t0;

	assert_int_equal(vback_epoll_loop_set_poll(x->loop, 1000000), 0);
	c->end_pending = true;
	t0 = now_ms();
	assert_true(vback_loop_run_once(x->loop, 5000) >= 0);
	assert_true(now_ms() - t0 < 2500);
	assert_int_equal(c->ends, 1);
	vback_loop_poller_remove(x->loop, &c->p);
}

/* The budget halves while the sleeps that follow a stretch are longer
 * than the maximum (down to 0: no polling), and grows again once they are
 * shorter (polling would have caught them). */
static void test_poll_adapts(void **state)
{
	struct ctx *x = *state;
	struct pctx *c = psetup(x->loop);
	struct vback_epoll_poll_stats st;
	int i;

	assert_int_equal(vback_epoll_loop_set_poll(x->loop, 2000000), 0);
	for (i = 0; i < 16; i++)
		assert_true(vback_loop_run_once(x->loop, 10) >= 0);
	assert_int_equal(vback_epoll_loop_get_poll_stats(x->loop, &st), 0);
	assert_int_equal(st.poll_ns, 0);
	/* Not polling at 0: the pollers rest. */
	c->polls = 0;
	assert_true(vback_loop_run_once(x->loop, 10) >= 0);
	assert_int_equal(c->polls, 0);
	/* 1 ms sleeps, under the 2 ms maximum (a loaded machine may
	 * oversleep a few of them). */
	for (i = 0; i < 50 && st.poll_ns == 0; i++) {
		assert_true(vback_loop_run_once(x->loop, 1) >= 0);
		assert_int_equal(vback_epoll_loop_get_poll_stats(x->loop, &st),
				 0);
	}
	assert_true(st.poll_ns >= 1000);
	assert_true(st.poll_ns <= 2000000);
	vback_loop_poller_remove(x->loop, &c->p);
}

/* A producer that runs only once the loop stops polling (it shares the
 * loop's CPU): end() makes the work, which wakes the sleep at once. */
struct futile {
	struct vback_poller p;
	int efd;
	int polls, woken;
};

static bool f_poll(void *opaque)
{
	((struct futile *)opaque)->polls++;
	return false;
}

static bool f_end(void *opaque)
{
	uint64_t one = 1;

	assert_int_equal(write(((struct futile *)opaque)->efd, &one, 8), 8);
	return false;
}

static void f_woken(void *opaque, int fd, uint32_t events)
{
	uint64_t v;

	(void)events;
	assert_int_equal(read(fd, &v, 8), 8);
	((struct futile *)opaque)->woken++;
}

/* Stretches that find nothing, each followed by work at once: polling
 * only kept the producer waiting. After four the loop stops polling, and
 * 1 ms sleeps (which would grow the budget again) do not restart it for
 * the rest period. */
static void test_poll_futile_rests(void **state)
{
	struct ctx *x = *state;
	struct vback_epoll_poll_stats st;
	struct futile f = { .efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) };
	uint64_t t0;
	int i;

	assert_true(f.efd >= 0);
	vback_poller_init(&f.p, f_poll, NULL, f_end, &f);
	assert_int_equal(vback_loop_poller_add(x->loop, &f.p), 0);
	assert_int_equal(vback_loop_watch(x->loop, f.efd, VBACK_EV_IN, f_woken,
					  &f),
			 0);
	assert_int_equal(vback_epoll_loop_set_poll(x->loop, 2000000), 0);
	for (i = 0; i < 4; i++) {
		assert_true(vback_loop_run_once(x->loop, 1000) >= 0);
		assert_int_equal(f.woken, i + 1);
	}
	assert_int_equal(vback_epoll_loop_get_poll_stats(x->loop, &st), 0);
	assert_int_equal(st.poll_ns, 0);
	assert_int_equal(st.misses, 4);
	/* Inside the 100 ms rest (a loaded machine oversleeps: stop early). */
	f.polls = 0;
	t0 = now_ms();
	for (i = 0; i < 10 && now_ms() - t0 < 50; i++)
		assert_true(vback_loop_run_once(x->loop, 1) >= 0);
	assert_int_equal(f.polls, 0);
	assert_int_equal(vback_epoll_loop_get_poll_stats(x->loop, &st), 0);
	assert_int_equal(st.poll_ns, 0);
	vback_loop_unwatch(x->loop, f.efd);
	vback_loop_poller_remove(x->loop, &f.p);
	close(f.efd);
}

/* A poller that removes another from inside poll(): the removed one is
 * not called again, not even its end(). */
static void test_poller_removed_while_polling(void **state)
{
	struct ctx *x = *state;
	struct pctx *c = psetup(x->loop);

	vback_poller_init(&c->other, o_poll, NULL, o_end, c);
	assert_int_equal(vback_epoll_loop_set_poll(x->loop, 100000), 0);
	/* Added last: polled first. */
	assert_int_equal(vback_loop_poller_add(x->loop, &c->other), 0);
	assert_true(vback_loop_run_once(x->loop, 1) >= 0);
	assert_true(c->other_polls > 0);
	assert_int_equal(c->other_ends, 1);
	c->remove_other = true;
	c->other_polls = 0;
	c->other_ends = 0;
	/* p is polled after other in each round; once p removed other,
	 * other must not run again. */
	assert_true(vback_loop_run_once(x->loop, 1) >= 0);
	assert_true(c->other_polls <= 1);
	assert_int_equal(c->other_ends, 0);
	assert_false(c->other.added_);
	vback_loop_poller_remove(x->loop, &c->p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dispatch_and_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_unwatch_in_batch_drops_stale_event, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_rewatch_in_batch_drops_stale_event, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_run_until_stop, setup,
						teardown),
		cmocka_unit_test(test_optional_ops),
		cmocka_unit_test_setup_teardown(test_poll_off_by_default, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_poll_finds_work, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_poll_end_pending, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_poll_adapts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_poll_futile_rests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_poller_removed_while_polling, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
