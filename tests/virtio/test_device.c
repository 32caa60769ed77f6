/* SPDX-License-Identifier: MIT */
/*
 * The device core driven directly, as vhost-user does: attach, features,
 * status, queue size/address/enable, last avail index, kick, stop with
 * queue_idle, config space bounds, blk creation options.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "fixture.h"

#define QSIZE 16u
#define DESC  FX_R0
#define AVAIL (FX_R0 + 0x1000)
#define USED  (FX_R0 + 0x2000)
#define BUFS  (FX_R0 + 0x10000)

struct dfx {
	struct vback_loop *loop;
	struct gmem *mem;
	struct tio *io;
	struct vback_blk *blk;
	struct vback_dev *dev;
	unsigned int notified, config, idle, idle_q;
	uint16_t avail_idx;
};

static void d_notify(void *opaque, unsigned int q)
{
	struct dfx *d = opaque;

	(void)q;
	d->notified++;
}

static void d_config(void *opaque)
{
	((struct dfx *)opaque)->config++;
}

static void d_idle(void *opaque, unsigned int q)
{
	struct dfx *d = opaque;

	d->idle++;
	d->idle_q = q;
}

static const struct vback_dev_transport_ops d_ops = {
	.notify_queue = d_notify,
	.notify_config = d_config,
	.queue_idle = d_idle,
};

static void dsetup(struct dfx *d, uint64_t transport_features)
{
	const struct gmem_region r[] = { { FX_R0, FX_R0_SIZE, false } };
	struct vback_blk_options bo;
	struct vback_dev_transport t;

	struct tio_options to = { 0 };

	memset(d, 0, sizeof(*d));
	assert_int_equal(vback_simple_loop_create(NULL, &d->loop), 0);
	to.loop = d->loop;
	d->mem = gmem_create(r, 1);
	d->io = tio_create(&to);
	memset(&bo, 0, sizeof(bo));
	bo.io = tio_io(d->io);
	bo.queue_size = QSIZE;
	assert_int_equal(vback_blk_create(&bo, &d->blk), 0);
	d->dev = vback_blk_dev(d->blk);
	memset(&t, 0, sizeof(t));
	t.ops = &d_ops;
	t.opaque = d;
	t.gm = gmem_view(d->mem, true);
	t.loop = d->loop;
	t.features = transport_features;
	assert_int_equal(vback_dev_attach(d->dev, &t), 0);
}

static void dteardown(struct dfx *d)
{
	vback_dev_detach(d->dev);
	tio_release(d->io, 0);
	vback_blk_destroy(d->blk);
	tio_destroy(d->io);
	gmem_destroy(d->mem);
	tio_pump(d->loop);
	vback_simple_loop_destroy(d->loop);
}

static void put(struct dfx *d, uint64_t gpa, uint64_t v, unsigned int n)
{
	uint8_t b[8];

	for (unsigned int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(gmem_write(d->mem, gpa, b, n), 0);
}

static uint64_t get(struct dfx *d, uint64_t gpa, unsigned int n)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;

	gmem_read(d->mem, gpa, b, n);
	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/* As vhost-user does: the transport plays the driver's part, with the
 * features already set. */
static void driver_ok(struct vback_dev *dev)
{
	const uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	assert_int_equal(vback_dev_set_status(dev, st), 0);
	assert_int_equal(
		vback_dev_set_status(dev, st | VIRTIO_CONFIG_S_FEATURES_OK |
						  VIRTIO_CONFIG_S_DRIVER_OK),
		0);
}

static void enable(struct dfx *d)
{
	struct vback_vq_addr a = { DESC, AVAIL, USED };

	assert_int_equal(vback_dev_set_driver_features(
				 d->dev, 1ull << VIRTIO_F_VERSION_1),
			 0);
	assert_int_equal(vback_dev_queue_set_size(d->dev, 0, QSIZE), 0);
	assert_int_equal(vback_dev_queue_set_addr(d->dev, 0, &a), 0);
	/* The ring as handed over: avail idx where the device resumes. */
	put(d, AVAIL + 2, d->avail_idx, 2);
	assert_int_equal(vback_dev_queue_enable(d->dev, 0), 0);
	driver_ok(d->dev);
	tio_pump(d->loop);
}

/* A read of sector @sector at slot @s (descriptors 3s..3s+2). */
static void offer_read(struct dfx *d, unsigned int s, uint64_t sector)
{
	uint64_t buf = BUFS + 0x1000ull * s;
	uint16_t base = (uint16_t)(3 * s);
	uint64_t dg = DESC + 16ull * base;

	put(d, buf, VIRTIO_BLK_T_IN, 4);
	put(d, buf + 8, sector, 8);
	put(d, dg, buf, 8);
	put(d, dg + 8, 16, 4);
	put(d, dg + 12, VRING_DESC_F_NEXT | (uint64_t)(base + 1) << 16, 4);
	put(d, dg + 16, buf + 512, 8);
	put(d, dg + 24, 512, 4);
	put(d, dg + 28,
	    (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE) | (uint64_t)(base + 2)
							       << 16,
	    4);
	put(d, dg + 32, buf + 16, 8);
	put(d, dg + 40, 1, 4);
	put(d, dg + 44, VRING_DESC_F_WRITE, 4);
	put(d, buf + 16, 0xee, 1);
	put(d, AVAIL + 4 + 2 * (d->avail_idx % QSIZE), base, 2);
	d->avail_idx++;
	put(d, AVAIL + 2, d->avail_idx, 2);
}

static void test_attach_rules(void **state)
{
	struct vback_dev_transport t;
	struct dfx d;

	(void)state;
	dsetup(&d, 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(vback_dev_attach(d.dev, &t), -EINVAL);
	t.ops = &d_ops;
	t.gm = gmem_view(d.mem, false);
	/* No loop: refused. */
	assert_int_equal(vback_dev_attach(d.dev, &t), -EINVAL);
	t.loop = d.loop;
	assert_int_equal(vback_dev_attach(d.dev, &t), -EBUSY);
	dteardown(&d);
}

static void test_queue_config_rules(void **state)
{
	struct vback_vq_addr a = { DESC + 8, AVAIL, USED }, got;
	struct dfx d;

	(void)state;
	dsetup(&d, 0);
	assert_int_equal(vback_dev_num_queues(d.dev), 1);
	assert_int_equal(vback_dev_queue_max_size(d.dev, 0), QSIZE);
	assert_int_equal(vback_dev_queue_max_size(d.dev, 1), 0);
	assert_int_equal(vback_dev_queue_set_size(d.dev, 0, 0), -EINVAL);
	assert_int_equal(vback_dev_queue_set_size(d.dev, 0, 12), -EINVAL);
	assert_int_equal(vback_dev_queue_set_size(d.dev, 0, 32), -EINVAL);
	assert_int_equal(vback_dev_queue_set_size(d.dev, 1, 8), -EINVAL);
	assert_int_equal(vback_dev_queue_set_size(d.dev, 0, 8), 0);
	assert_int_equal(vback_dev_queue_size(d.dev, 0), 8);
	/* Misaligned descriptor table. */
	assert_int_equal(vback_dev_queue_set_addr(d.dev, 0, &a), 0);
	assert_int_equal(vback_dev_queue_get_addr(d.dev, 0, &got), 0);
	assert_memory_equal(&got, &a, sizeof(a));
	assert_int_equal(vback_dev_queue_enable(d.dev, 0), -EINVAL);
	/* Outside guest memory. */
	a.desc = FX_HOLE;
	vback_dev_queue_set_addr(d.dev, 0, &a);
	assert_int_equal(vback_dev_queue_enable(d.dev, 0), -EFAULT);
	assert_false(vback_dev_queue_enabled(d.dev, 0));
	assert_int_equal(gmem_outstanding(d.mem), 0);
	a.desc = DESC;
	vback_dev_queue_set_addr(d.dev, 0, &a);
	assert_int_equal(vback_dev_queue_enable(d.dev, 0), 0);
	assert_int_equal(vback_dev_queue_enable(d.dev, 0), -EBUSY);
	assert_int_equal(vback_dev_queue_set_size(d.dev, 0, 4), -EBUSY);
	assert_int_equal(vback_dev_queue_set_addr(d.dev, 0, &a), -EBUSY);
	assert_int_equal(vback_dev_queue_set_last_avail(d.dev, 0, 3), -EBUSY);
	vback_dev_queue_reset(d.dev, 0);
	assert_int_equal(vback_dev_queue_size(d.dev, 0), QSIZE);
	assert_int_equal(gmem_outstanding(d.mem), 0);
	dteardown(&d);
}

/* 3.1.1: the device serves no queue before DRIVER_OK. A kick before it
 * is ignored; what is available then is served once DRIVER_OK is set. */
static void test_no_service_before_driver_ok(void **state)
{
	const uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	struct vback_vq_addr a = { DESC, AVAIL, USED };
	struct dfx d;

	(void)state;
	dsetup(&d, 0);
	assert_int_equal(vback_dev_set_status(d.dev, st), 0);
	assert_int_equal(vback_dev_set_driver_features(
				 d.dev, 1ull << VIRTIO_F_VERSION_1),
			 0);
	assert_int_equal(vback_dev_set_status(d.dev,
					      st | VIRTIO_CONFIG_S_FEATURES_OK),
			 0);
	assert_int_equal(vback_dev_queue_set_size(d.dev, 0, QSIZE), 0);
	assert_int_equal(vback_dev_queue_set_addr(d.dev, 0, &a), 0);
	assert_int_equal(vback_dev_queue_enable(d.dev, 0), 0);
	offer_read(&d, 0, 3);
	vback_dev_queue_kick(d.dev, 0);
	tio_pump(d.loop);
	assert_int_equal(tio_stats(d.io)->submits, 0);
	assert_int_equal(get(&d, USED + 2, 2), 0);
	assert_int_equal(get(&d, BUFS + 16, 1), 0xee);
	assert_int_equal(
		vback_dev_set_status(d.dev, st | VIRTIO_CONFIG_S_FEATURES_OK |
						    VIRTIO_CONFIG_S_DRIVER_OK),
		0);
	tio_pump(d.loop);
	assert_int_equal(tio_stats(d.io)->submits, 1);
	assert_int_equal(get(&d, USED + 2, 2), 1);
	assert_int_equal(get(&d, BUFS + 16, 1), VIRTIO_BLK_S_OK);
	dteardown(&d);
}

/* Fill for the test below: the two bytes land on avail->idx. */
static long fill_bump_idx(void *opaque, void *buf, size_t len)
{
	uint8_t *b = buf;

	(void)opaque;
	if (len < 2)
		return 0;
	b[0] = 2; /* avail->idx 1 -> 2: head 0 offered again */
	b[1] = 0;
	return 2;
}

/*
 * 2.7.8: at most the queue size outstanding. A head the device completed
 * in this run but has not published is still out in the driver's eyes;
 * offering it again (here the device's own write into a buffer the
 * driver laid over avail->idx re-offers it, as a fuzzer found) must be
 * refused, or its used element would overwrite one the driver never saw.
 */
static void test_head_reoffered_before_published(void **state)
{
	const struct gmem_region r[] = { { FX_R0, FX_R0_SIZE, false } };
	const uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	struct vback_rng_options ro = { .fill = fill_bump_idx,
					.queue_size = 1 };
	struct vback_vq_addr a = { DESC, AVAIL, USED };
	struct vback_dev_transport t;
	struct vback_rng *rng;
	struct dfx d;

	(void)state;
	memset(&d, 0, sizeof(d));
	assert_int_equal(vback_simple_loop_create(NULL, &d.loop), 0);
	d.mem = gmem_create(r, 1);
	assert_int_equal(vback_rng_create(&ro, &rng), 0);
	d.dev = vback_rng_dev(rng);
	memset(&t, 0, sizeof(t));
	t.ops = &d_ops;
	t.opaque = &d;
	t.gm = gmem_view(d.mem, true);
	t.loop = d.loop;
	assert_int_equal(vback_dev_attach(d.dev, &t), 0);
	/* Head 0: one writable descriptor over avail->idx. */
	put(&d, DESC, AVAIL + 2, 8);
	put(&d, DESC + 8, 2, 4);
	put(&d, DESC + 12, VRING_DESC_F_WRITE, 4);
	put(&d, AVAIL + 4, 0, 2);
	put(&d, AVAIL + 2, 1, 2);
	assert_int_equal(vback_dev_set_status(d.dev, st), 0);
	assert_int_equal(vback_dev_set_driver_features(
				 d.dev, 1ull << VIRTIO_F_VERSION_1),
			 0);
	assert_int_equal(vback_dev_queue_set_size(d.dev, 0, 1), 0);
	assert_int_equal(vback_dev_queue_set_addr(d.dev, 0, &a), 0);
	assert_int_equal(vback_dev_queue_enable(d.dev, 0), 0);
	assert_int_equal(
		vback_dev_set_status(d.dev, st | VIRTIO_CONFIG_S_FEATURES_OK |
						    VIRTIO_CONFIG_S_DRIVER_OK),
		0);
	tio_pump(d.loop);
	/* One element published, the re-offer refused as a violation. */
	assert_int_equal(get(&d, USED + 2, 2), 1);
	assert_int_equal(get(&d, USED + 4, 4), 0);
	assert_true(vback_dev_status(d.dev) & VBACK_STATUS_NEEDS_RESET);
	assert_int_equal(vback_dev_inflight(d.dev), 0);
	vback_dev_detach(d.dev);
	vback_rng_destroy(rng);
	gmem_destroy(d.mem);
	tio_pump(d.loop);
	vback_simple_loop_destroy(d.loop);
}

static void test_kick_and_last_avail(void **state)
{
	struct dfx d;

	(void)state;
	dsetup(&d, 0);
	/* A ring handed over at index 5 (vhost-user SET_VRING_BASE). */
	d.avail_idx = 5;
	assert_int_equal(vback_dev_queue_set_last_avail(d.dev, 0, 5), 0);
	enable(&d);
	tio_data(d.io)[512 * 9] = 0x99;
	offer_read(&d, 0, 9);
	vback_dev_queue_kick(d.dev, 0);
	assert_int_equal(vback_dev_queue_last_avail(d.dev, 0), 6);
	assert_int_equal(get(&d, USED + 2, 2), 6);
	assert_int_equal(get(&d, USED + 4 + 8 * 5, 4), 0); /* head */
	assert_int_equal(get(&d, USED + 8 + 8 * 5, 4), 513);
	assert_int_equal(get(&d, BUFS + 16, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(get(&d, BUFS + 512, 1), 0x99);
	assert_int_equal(d.notified, 1);
	/* Suppressed with NO_INTERRUPT (no EVENT_IDX). */
	put(&d, AVAIL, VRING_AVAIL_F_NO_INTERRUPT, 2);
	offer_read(&d, 1, 0);
	vback_dev_queue_kick(d.dev, 0);
	assert_int_equal(get(&d, USED + 2, 2), 7);
	assert_int_equal(d.notified, 1);
	/* Kicks of unknown queues are ignored. */
	vback_dev_queue_kick(d.dev, 1);
	vback_dev_queue_kick(d.dev, 1000);
	assert_int_equal(gmem_outstanding(d.mem), 3);
	dteardown(&d);
	assert_int_equal(d.config, 0);
}

static void test_event_idx_suppression(void **state)
{
	struct dfx d;

	(void)state;
	dsetup(&d, 0);
	assert_int_equal(vback_dev_set_driver_features(
				 d.dev,
				 (1ull << VIRTIO_F_VERSION_1) |
					 (1ull << VIRTIO_RING_F_EVENT_IDX)),
			 0);
	{
		struct vback_vq_addr a = { DESC, AVAIL, USED };

		vback_dev_queue_set_addr(d.dev, 0, &a);
		assert_int_equal(vback_dev_queue_enable(d.dev, 0), 0);
		driver_ok(d.dev);
	}
	/* used_event = 0: interrupt after the first used entry. */
	offer_read(&d, 0, 0);
	vback_dev_queue_kick(d.dev, 0);
	assert_int_equal(d.notified, 1);
	/* The device published avail_event = next index to kick for. */
	assert_int_equal(get(&d, USED + 4 + 8 * QSIZE, 2), 1);
	/* used_event far ahead: no interrupt for the next ones. */
	put(&d, AVAIL + 4 + 2 * QSIZE, 10, 2);
	offer_read(&d, 1, 0);
	vback_dev_queue_kick(d.dev, 0);
	offer_read(&d, 2, 0);
	vback_dev_queue_kick(d.dev, 0);
	assert_int_equal(d.notified, 1);
	assert_int_equal(get(&d, USED + 2, 2), 3);
	/* used_event = 3: the 4th used entry (index 3 -> 4) interrupts. */
	put(&d, AVAIL + 4 + 2 * QSIZE, 3, 2);
	offer_read(&d, 3, 0);
	vback_dev_queue_kick(d.dev, 0);
	assert_int_equal(d.notified, 2);
	dteardown(&d);
}

/*
 * A loop that polls, played by the test: posts and timers go to the
 * simple loop underneath, pollers are kept here so the test can call
 * begin/poll/end itself, as a polling loop would.
 */
struct ploop {
	struct vback_loop loop;
	struct vback_loop *under;
	struct vback_poller *p[4];
	unsigned int n;
};

static int pl_post(void *o, struct vback_work *w)
{
	return vback_loop_post(((struct ploop *)o)->under, w);
}

static void pl_cancel(void *o, struct vback_work *w)
{
	vback_loop_cancel(((struct ploop *)o)->under, w);
}

static int pl_arm(void *o, struct vback_timer *t, uint64_t d, uint64_t p)
{
	return vback_timer_arm(((struct ploop *)o)->under, t, d, p);
}

static void pl_disarm(void *o, struct vback_timer *t)
{
	vback_timer_cancel(((struct ploop *)o)->under, t);
}

static uint64_t pl_now(void *o)
{
	return vback_loop_now(((struct ploop *)o)->under);
}

static int pl_add(void *o, struct vback_poller *p)
{
	struct ploop *l = o;

	assert_false(p->added_);
	assert_true(l->n < 4);
	p->added_ = true;
	l->p[l->n++] = p;
	return 0;
}

static void pl_remove(void *o, struct vback_poller *p)
{
	struct ploop *l = o;

	for (unsigned int i = 0; i < l->n; i++) {
		if (l->p[i] == p) {
			l->p[i] = l->p[--l->n];
			p->added_ = false;
			return;
		}
	}
	fail_msg("removing a poller that was not added");
}

static const struct vback_loop_ops pl_ops = {
	.post = pl_post,
	.cancel = pl_cancel,
	.timer_arm = pl_arm,
	.timer_cancel = pl_disarm,
	.now = pl_now,
	.poller_add = pl_add,
	.poller_remove = pl_remove,
};

/* dsetup() with the device on a polling loop (over d->loop). */
static void psetup(struct dfx *d, struct ploop *pl, uint64_t features)
{
	dsetup(d, 0);
	*pl = (struct ploop){ .loop = { &pl_ops, pl }, .under = d->loop };
	/* Re-attach on the polling loop. */
	vback_dev_detach(d->dev);
	{
		struct vback_dev_transport t = {
			.ops = &d_ops,
			.opaque = d,
			.gm = gmem_view(d->mem, true),
			.loop = &pl->loop,
		};

		assert_int_equal(vback_dev_attach(d->dev, &t), 0);
	}
	assert_int_equal(vback_dev_set_driver_features(
				 d->dev,
				 (1ull << VIRTIO_F_VERSION_1) | features),
			 0);
	{
		struct vback_vq_addr a = { DESC, AVAIL, USED };

		assert_int_equal(vback_dev_queue_set_addr(d->dev, 0, &a), 0);
		assert_int_equal(vback_dev_queue_enable(d->dev, 0), 0);
		driver_ok(d->dev);
	}
	/* The enabled queue is a poller of its loop. */
	assert_int_equal(pl->n, 1);
}

/*
 * Without EVENT_IDX a polled ring asks for no kicks (NO_NOTIFY in the used
 * flags) while the loop polls it, serves what the driver publishes without
 * a kick, asks for kicks again when the loop stops, and reports a buffer
 * that came in that window so the loop does not sleep on it.
 */
static void test_polling_no_event_idx(void **state)
{
	struct vback_poller *p;
	struct ploop pl;
	struct dfx d;

	(void)state;
	psetup(&d, &pl, 0);
	p = pl.p[0];
	assert_false(p->poll(p->opaque)); /* nothing yet */
	p->begin(p->opaque);
	assert_int_equal(get(&d, USED, 2), VRING_USED_F_NO_NOTIFY);
	tio_data(d.io)[512 * 3] = 0x33;
	offer_read(&d, 0, 3); /* no kick */
	assert_true(p->poll(p->opaque));
	tio_pump(d.loop);
	assert_int_equal(get(&d, USED + 2, 2), 1);
	assert_int_equal(get(&d, BUFS + 16, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(get(&d, BUFS + 512, 1), 0x33);
	assert_int_equal(d.notified, 1);
	assert_false(p->poll(p->opaque));
	/* Still polling: no kicks asked for. */
	assert_int_equal(get(&d, USED, 2), VRING_USED_F_NO_NOTIFY);
	assert_false(p->end(p->opaque));
	assert_int_equal(get(&d, USED, 2), 0);
	/* A buffer published while the driver still saw NO_NOTIFY. */
	p->begin(p->opaque);
	offer_read(&d, 1, 0);
	assert_true(p->end(p->opaque));
	assert_int_equal(get(&d, USED, 2), 0);
	assert_true(p->poll(p->opaque));
	tio_pump(d.loop);
	assert_int_equal(get(&d, USED + 2, 2), 2);
	/* A reset while polling takes the poller off the loop and does not
	 * leave the driver told not to kick. */
	p->begin(p->opaque);
	assert_int_equal(get(&d, USED, 2), VRING_USED_F_NO_NOTIFY);
	vback_dev_queue_reset(d.dev, 0);
	assert_int_equal(pl.n, 0);
	assert_int_equal(get(&d, USED, 2), 0);
	dteardown(&d);
}

/*
 * With EVENT_IDX, avail_event stays where it was while the loop polls
 * (the driver, past it, does not kick), and is brought up to date when
 * polling ends.
 */
static void test_polling_event_idx(void **state)
{
	struct vback_poller *p;
	struct ploop pl;
	struct dfx d;

	(void)state;
	psetup(&d, &pl, 1ull << VIRTIO_RING_F_EVENT_IDX);
	p = pl.p[0];
	offer_read(&d, 0, 0);
	vback_dev_queue_kick(d.dev, 0);
	tio_pump(d.loop);
	assert_int_equal(get(&d, USED + 4 + 8 * QSIZE, 2), 1); /* rearmed */
	p->begin(p->opaque);
	assert_int_equal(get(&d, USED, 2), 0); /* no flag with EVENT_IDX */
	for (unsigned int i = 1; i < 4; i++) {
		offer_read(&d, i, i);
		assert_true(p->poll(p->opaque));
		tio_pump(d.loop);
	}
	assert_int_equal(get(&d, USED + 2, 2), 4);
	/* Not moved while polling: the driver kicks no more. */
	assert_int_equal(get(&d, USED + 4 + 8 * QSIZE, 2), 1);
	assert_false(p->end(p->opaque));
	assert_int_equal(get(&d, USED + 4 + 8 * QSIZE, 2), 4);
	/* Arrived in the window between the last poll and end(). */
	p->begin(p->opaque);
	offer_read(&d, 4, 0);
	assert_true(p->end(p->opaque));
	assert_true(p->poll(p->opaque));
	tio_pump(d.loop);
	assert_int_equal(get(&d, USED + 2, 2), 5);
	dteardown(&d);
	/* Detach removed the poller. */
	assert_int_equal(pl.n, 0);
}

/* A polled queue that cannot pop (back-pressure, quiesce) reports no work,
 * or a polling loop would spin on it instead of sleeping. */
static void test_polling_blocked_queue(void **state)
{
	struct vback_poller *p;
	struct ploop pl;
	struct dfx d;

	(void)state;
	psetup(&d, &pl, 0);
	p = pl.p[0];
	p->begin(p->opaque);
	tio_reject_next(d.io, 1, -EAGAIN);
	tio_hold(d.io, true);
	offer_read(&d, 0, 0);
	offer_read(&d, 1, 1);
	/* The first is held, the second pushed back. */
	assert_true(p->poll(p->opaque));
	assert_int_equal(tio_pending(d.io), 1);
	assert_false(p->poll(p->opaque));
	assert_false(p->end(p->opaque));
	/* A completion retries the blocked one. */
	assert_int_equal(tio_release(d.io, 1), 1);
	tio_pump(d.loop);
	tio_hold(d.io, false);
	tio_release(d.io, 0);
	tio_pump(d.loop);
	assert_int_equal(get(&d, USED + 2, 2), 2);
	/* Quiesced: nothing is popped, so nothing to poll. */
	assert_int_equal(vback_dev_quiesce(d.dev, NULL, NULL), 0);
	offer_read(&d, 2, 2);
	p->begin(p->opaque);
	assert_false(p->poll(p->opaque));
	assert_false(p->end(p->opaque));
	tio_pump(d.loop);
	assert_int_equal(get(&d, USED + 2, 2), 2);
	dteardown(&d);
}

static void test_queue_stop_reports_idle(void **state)
{
	struct dfx d;

	(void)state;
	dsetup(&d, 0);
	enable(&d);
	tio_hold(d.io, true);
	offer_read(&d, 0, 0);
	offer_read(&d, 1, 1);
	vback_dev_queue_kick(d.dev, 0);
	assert_int_equal(tio_pending(d.io), 2);
	assert_int_equal(vback_dev_queue_stop(d.dev, 0), 2);
	/* Stopped: new buffers are not popped. */
	offer_read(&d, 2, 2);
	vback_dev_queue_kick(d.dev, 0);
	assert_int_equal(tio_pending(d.io), 2);
	assert_int_equal(tio_release(d.io, 1), 1);
	assert_int_equal(d.idle, 0);
	assert_int_equal(tio_release(d.io, 0), 1);
	assert_int_equal(d.idle, 1);
	assert_int_equal(d.idle_q, 0);
	/* The in-flight ones were published normally. */
	assert_int_equal(get(&d, USED + 2, 2), 2);
	assert_int_equal(vback_dev_queue_last_avail(d.dev, 0), 2);
	/* Nothing in flight: stop reports 0 and no callback. */
	assert_int_equal(vback_dev_queue_stop(d.dev, 0), 0);
	assert_int_equal(d.idle, 1);
	dteardown(&d);
}

static void test_features_and_status(void **state)
{
	uint64_t offered;
	struct dfx d;

	(void)state;
	dsetup(&d, 1ull << VIRTIO_F_ACCESS_PLATFORM);
	offered = vback_dev_features(d.dev);
	assert_true(offered & (1ull << VIRTIO_F_ACCESS_PLATFORM));
	assert_true(offered & (1ull << VIRTIO_BLK_F_FLUSH));
	assert_false(offered & (1ull << 40)); /* RING_RESET: mmio only */
	assert_int_equal(vback_dev_set_driver_features(d.dev, 1ull << 63),
			 -EINVAL);
	assert_int_equal(vback_dev_set_status(d.dev, 3), 0);
	/* Without VERSION_1 and ACCESS_PLATFORM: FEATURES_OK refused. */
	assert_int_equal(vback_dev_set_driver_features(
				 d.dev, 1ull << VIRTIO_F_VERSION_1),
			 0);
	assert_int_equal(vback_dev_set_status(d.dev, 11), -EINVAL);
	assert_int_equal(vback_dev_status(d.dev), 3);
	assert_int_equal(vback_dev_set_driver_features(
				 d.dev,
				 (1ull << VIRTIO_F_VERSION_1) |
					 (1ull << VIRTIO_F_ACCESS_PLATFORM)),
			 0);
	assert_int_equal(vback_dev_set_status(d.dev, 11), 0);
	assert_int_equal(vback_dev_status(d.dev), 11);
	assert_int_equal(vback_dev_set_driver_features(d.dev, 0), -EPERM);
	assert_int_equal(vback_dev_set_status(d.dev, 15), 0);
	/* Clearing a bit is refused; 0 resets. */
	assert_int_equal(vback_dev_set_status(d.dev, 7), -EPROTO);
	assert_int_equal(vback_dev_status(d.dev), 15);
	assert_int_equal(vback_dev_set_status(d.dev, 0), 0);
	assert_int_equal(vback_dev_status(d.dev), 0);
	assert_int_equal(vback_dev_driver_features(d.dev), 0);
	dteardown(&d);
}

static void test_config_bounds(void **state)
{
	uint8_t buf[8];
	struct dfx d;

	(void)state;
	dsetup(&d, 0);
	assert_int_equal(vback_dev_device_id(d.dev), 2);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(vback_dev_config_read(d.dev, 70, buf, 4), -ERANGE);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	assert_int_equal(vback_dev_config_read(d.dev, UINT32_MAX, buf, 2),
			 -ERANGE);
	assert_int_equal(vback_dev_config_read(d.dev, 0, buf, 8), 0);
	assert_int_equal(buf[0] | buf[1] << 8, 2048);
	assert_int_equal(vback_dev_config_write(d.dev, 72, buf, 1), -ERANGE);
	/* writeback is read-only unless CONFIG_WCE was negotiated. */
	buf[0] = 1;
	assert_int_equal(vback_dev_config_write(d.dev, 32, buf, 1), 0);
	assert_int_equal(vback_dev_config_read(d.dev, 32, buf, 1), 0);
	assert_int_equal(buf[0], 0);
	dteardown(&d);
}

static void test_blk_create_options(void **state)
{
	struct vback_blk_options bo;
	struct vback_blk *blk;
	struct tio *io = tio_create(NULL);

	(void)state;
	memset(&bo, 0, sizeof(bo));
	assert_int_equal(vback_blk_create(&bo, &blk), -EINVAL); /* no io */
	bo.io = tio_io(io);
	bo.queue_size = 100;
	assert_int_equal(vback_blk_create(&bo, &blk), -EINVAL);
	bo.queue_size = 0;
	bo.num_queues = 65;
	assert_int_equal(vback_blk_create(&bo, &blk), -EINVAL);
	bo.num_queues = 2;
	bo.seg_max = 5000;
	assert_int_equal(vback_blk_create(&bo, &blk), 0);
	assert_int_equal(vback_dev_num_queues(vback_blk_dev(blk)), 2);
	assert_int_equal(vback_dev_queue_max_size(vback_blk_dev(blk), 1), 256);
	{
		uint8_t b[4];

		vback_dev_config_read(vback_blk_dev(blk), 12, b, 4);
		assert_int_equal(b[0] | b[1] << 8, 1024); /* capped */
	}
	vback_blk_destroy(blk);
	tio_destroy(io);
}

/*
 * Summed chain length above 32 bits. A view that "maps" huge buffers
 * above 1 GiB onto a dummy pointer (never dereferenced: the chain is
 * refused before any data is touched) and real memory below.
 */
static uint8_t ring_mem[0x20000];
static uint8_t dummy;
static unsigned int big_logs;

static void *big_map(void *opaque, uint64_t addr, uint64_t *len,
		     unsigned int access)
{
	(void)opaque;
	(void)access;
	if (addr < sizeof(ring_mem)) {
		if (*len > sizeof(ring_mem) - addr)
			*len = sizeof(ring_mem) - addr;
		return ring_mem + addr;
	}
	return addr >= (1ull << 30) ? &dummy : NULL;
}

static const struct vback_gm_ops big_ops = { .map = big_map };

static void big_log(void *opaque, enum vback_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	if (strstr(msg, "chain length overflows 32 bits"))
		big_logs++;
}

static void wdesc(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		  uint16_t next)
{
	uint8_t *p = ring_mem + 16 * i;

	for (int k = 0; k < 8; k++)
		p[k] = (uint8_t)(addr >> (8 * k));
	for (int k = 0; k < 4; k++)
		p[8 + k] = (uint8_t)(len >> (8 * k));
	p[12] = (uint8_t)flags;
	p[13] = (uint8_t)(flags >> 8);
	p[14] = (uint8_t)next;
	p[15] = (uint8_t)(next >> 8);
}

/* A virtio-blk device on @io logging to @log, attached to d_ops (opaque
 * @d) through the big_ops view, which maps whatever it is asked. */
static struct vback_dev *big_view_dev(struct dfx *d, struct tio *io,
				      const struct vback_log *log,
				      struct vback_blk **blk,
				      struct vback_dev_transport *t)
{
	struct vback_blk_options bo;
	struct vback_dev *dev;

	memset(d, 0, sizeof(*d));
	assert_int_equal(vback_simple_loop_create(NULL, &d->loop), 0);
	memset(&bo, 0, sizeof(bo));
	bo.io = tio_io(io);
	bo.queue_size = QSIZE;
	bo.log = log;
	assert_int_equal(vback_blk_create(&bo, blk), 0);
	dev = vback_blk_dev(*blk);
	memset(t, 0, sizeof(*t));
	t->ops = &d_ops;
	t->opaque = d;
	t->gm.ops = &big_ops;
	t->loop = d->loop;
	assert_int_equal(vback_dev_attach(dev, t), 0);
	return dev;
}

static unsigned int err_logs;
static char err_last[256];

static void err_log(void *opaque, enum vback_log_level level, const char *msg)
{
	(void)opaque;
	if (level != VBACK_LOG_ERR)
		return;
	err_logs++;
	snprintf(err_last, sizeof(err_last), "%s", msg);
}

/* Destroying a device while its transport still points at it is refused
 * (logged, leaked) instead of leaving the transport a dangling pointer. */
static void test_destroy_while_attached_refused(void **state)
{
	struct vback_log log = { err_log, NULL, VBACK_LOG_DEBUG };
	struct vback_dev_transport t;
	struct vback_blk *blk;
	struct vback_dev *dev;
	struct tio *io = tio_create(NULL);
	struct dfx d;

	(void)state;
	dev = big_view_dev(&d, io, &log, &blk, &t);
	err_logs = 0;
	vback_blk_destroy(blk);
	assert_int_equal(err_logs, 1);
	assert_non_null(strstr(err_last, "transport is attached"));
	/* Still alive (ASan would flag a use after free): detach, then the
	 * destroy frees it (ASan would flag a leak). */
	assert_int_equal(vback_dev_attach(dev, &t), -EBUSY);
	vback_dev_detach(dev);
	vback_blk_destroy(blk);
	assert_int_equal(err_logs, 1);
	tio_destroy(io);
	vback_simple_loop_destroy(d.loop);
}

static void test_chain_length_overflow(void **state)
{
	struct vback_log log = { big_log, NULL, VBACK_LOG_DEBUG };
	struct vback_vq_addr a = { 0x0, 0x1000, 0x2000 };
	struct vback_dev_transport t;
	struct vback_blk *blk;
	struct vback_dev *dev;
	struct dfx d;
	struct tio *io = tio_create(NULL);

	(void)state;
	for (int writable = 0; writable < 2; writable++) {
		uint16_t f = writable ? VRING_DESC_F_WRITE : 0;

		memset(ring_mem, 0, sizeof(ring_mem));
		big_logs = 0;
		dev = big_view_dev(&d, io, &log, &blk, &t);
		vback_dev_set_driver_features(dev, 1ull << VIRTIO_F_VERSION_1);
		vback_dev_queue_set_addr(dev, 0, &a);
		assert_int_equal(vback_dev_queue_enable(dev, 0), 0);
		driver_ok(dev);
		/* header, 2 x 2 GiB, status: 4 GiB + 17 bytes */
		wdesc(0, 0x10000, 16, VRING_DESC_F_NEXT, 1);
		wdesc(1, 1ull << 30, 0x80000000u, f | VRING_DESC_F_NEXT, 2);
		wdesc(2, 1ull << 32, 0x80000000u, f | VRING_DESC_F_NEXT, 3);
		wdesc(3, 0x10010, 1, VRING_DESC_F_WRITE, 0);
		ring_mem[0x1000 + 2] = 1; /* avail idx 1, ring[0] = head 0 */
		vback_dev_queue_kick(dev, 0);
		assert_int_equal(big_logs, 1);
		assert_true(vback_dev_status(dev) & VBACK_STATUS_NEEDS_RESET);
		/* Head 0 returned with length 0, nothing reached IO. */
		assert_int_equal(ring_mem[0x2000 + 2], 1);
		assert_int_equal(ring_mem[0x2000 + 4], 0);
		assert_int_equal(ring_mem[0x2000 + 8], 0);
		assert_int_equal(tio_stats(io)->submits, 0);
		vback_dev_detach(dev);
		vback_blk_destroy(blk);
		vback_simple_loop_destroy(d.loop);
	}
	tio_destroy(io);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_rules),
		cmocka_unit_test(test_queue_config_rules),
		cmocka_unit_test(test_no_service_before_driver_ok),
		cmocka_unit_test(test_head_reoffered_before_published),
		cmocka_unit_test(test_kick_and_last_avail),
		cmocka_unit_test(test_event_idx_suppression),
		cmocka_unit_test(test_queue_stop_reports_idle),
		cmocka_unit_test(test_polling_no_event_idx),
		cmocka_unit_test(test_polling_event_idx),
		cmocka_unit_test(test_polling_blocked_queue),
		cmocka_unit_test(test_features_and_status),
		cmocka_unit_test(test_config_bounds),
		cmocka_unit_test(test_blk_create_options),
		cmocka_unit_test(test_chain_length_overflow),
		cmocka_unit_test(test_destroy_while_attached_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
