/* SPDX-License-Identifier: MIT */
/*
 * The simple loop (include/vback/loop.h): posted work and timers, no fds,
 * no OS call. The embedder drives it: from its own thread's loop, from an
 * RTOS work queue, or from a bare-metal main loop, calling dispatch when
 * the wake hook fired or a timer is due.
 */
#include <vback/loop.h>

#include "vb_sched.h"
#include "vb_os.h"

struct simple_loop {
	struct vback_loop loop; /* first: the public handle */
	struct vb_sched sched;
	struct vback_simple_loop_hooks hooks;
	uintptr_t stop; /* atomic: stop() may come from an interrupt */
};

static struct simple_loop *of(const struct vback_loop *loop)
{
	return (struct simple_loop *)loop->opaque;
}

static uint64_t sl_now(void *opaque)
{
	struct simple_loop *l = opaque;

	return l->hooks.now_ns ? l->hooks.now_ns(l->hooks.opaque) : 0;
}

static int sl_post(void *opaque, struct vback_work *w)
{
	struct simple_loop *l = opaque;

	if (vb_sched_post(&l->sched, w) && l->hooks.wake)
		l->hooks.wake(l->hooks.opaque);
	return 0;
}

static void sl_cancel(void *opaque, struct vback_work *w)
{
	struct simple_loop *l = opaque;

	vb_sched_cancel(&l->sched, w);
}

static int sl_timer_arm(void *opaque, struct vback_timer *t, uint64_t delay,
			uint64_t period)
{
	struct simple_loop *l = opaque;

	return vb_sched_timer_arm(&l->sched, t, sl_now(l), delay, period);
}

static void sl_timer_cancel(void *opaque, struct vback_timer *t)
{
	struct simple_loop *l = opaque;

	vb_sched_timer_cancel(&l->sched, t);
}

static int sl_run_once(void *opaque, int timeout_ms)
{
	struct simple_loop *l = opaque;
	uint64_t t;

	t = vb_sched_timeout(&l->sched, sl_now(l));
	if (t && timeout_ms && l->hooks.idle) {
		uint64_t max = timeout_ms < 0 ? UINT64_MAX
					      : (uint64_t)timeout_ms * 1000000u;

		l->hooks.idle(l->hooks.opaque, t < max ? t : max);
	}
	return (int)vb_sched_run(&l->sched, sl_now(l));
}

static int sl_run(void *opaque)
{
	struct simple_loop *l = opaque;

	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE))
		sl_run_once(l, -1);
	__atomic_store_n(&l->stop, 0, __ATOMIC_RELAXED);
	return 0;
}

static void sl_stop(void *opaque)
{
	struct simple_loop *l = opaque;

	__atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
	if (l->hooks.wake)
		l->hooks.wake(l->hooks.opaque);
}

static const struct vback_loop_ops simple_ops = {
	.post = sl_post,
	.cancel = sl_cancel,
	.timer_arm = sl_timer_arm,
	.timer_cancel = sl_timer_cancel,
	.now = sl_now,
	.run = sl_run,
	.run_once = sl_run_once,
	.stop = sl_stop,
};

int vback_simple_loop_create(const struct vback_simple_loop_hooks *h,
			     struct vback_loop **out)
{
	struct simple_loop *l;

	if (!out)
		return -EINVAL;
	l = vb_calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (h)
		l->hooks = *h;
	l->loop.ops = &simple_ops;
	l->loop.opaque = l;
	*out = &l->loop;
	return 0;
}

void vback_simple_loop_destroy(struct vback_loop *loop)
{
	if (loop)
		vb_free(of(loop));
}

unsigned int vback_simple_loop_dispatch(struct vback_loop *loop)
{
	struct simple_loop *l = of(loop);

	return vb_sched_run(&l->sched, sl_now(l));
}

uint64_t vback_simple_loop_timeout(const struct vback_loop *loop)
{
	struct simple_loop *l = of(loop);

	return vb_sched_timeout(&l->sched, sl_now(l));
}
