/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>

struct ctx {
	struct vback_loop *loop;
	int fd_a, fd_b;
	int calls_a, calls_b;
	uint32_t last_events;
	bool unwatch_b_from_a;
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

static void on_a(void *opaque, int fd, uint32_t events)
{
	struct ctx *c = opaque;

	c->calls_a++;
	c->last_events = events;
	drain(fd);
	if (c->unwatch_b_from_a)
		assert_int_equal(vback_loop_unwatch(c->loop, c->fd_b), 0);
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
	assert_int_equal(vback_loop_unwatch(c->loop, c->fd_a), 0);
	poke(c->fd_a);
	assert_int_equal(vback_loop_run_once(c->loop, 0), 0);
	assert_int_equal(c->calls_a, 1);
}

/* Two fds ready in one batch; whichever runs first unwatches the other:
 * the other's callback must not run although its event was collected. */
static void test_unwatch_in_batch_drops_stale_event(void **state)
{
	struct ctx *c = *state;
	int ran;

	c->unwatch_b_from_a = true;
	assert_int_equal(vback_loop_watch(c->loop, c->fd_a, VBACK_EV_IN, on_a,
					  c),
			 0);
	assert_int_equal(vback_loop_watch(c->loop, c->fd_b, VBACK_EV_IN, on_b,
					  c),
			 0);
	poke(c->fd_a);
	poke(c->fd_b);
	ran = vback_loop_run_once(c->loop, 1000);
	assert_int_equal(ran, 1);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dispatch_and_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_unwatch_in_batch_drops_stale_event, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_run_until_stop, setup,
						teardown),
		cmocka_unit_test(test_optional_ops),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
