/* SPDX-License-Identifier: MIT */
/*
 * A thread per queue: virtio-blk with its two queues on two loops, each
 * run by a thread of its own, while the device's thread (the transport's
 * loop, here the test's main thread) resizes the disk, changes the cache
 * mode, quiesces and resumes the device, and reads its counters, and two
 * guest threads drive the rings concurrently.
 *
 * What must hold: every call on a queue's IO instance, every notification
 * of a queue and every queue_idle() happen on that queue's thread, and
 * every config notification on the device's; every request is answered
 * OK with the right bytes; the quiesce finds nothing in flight and takes
 * no request until the resume; a resize is seen by both queues before the
 * guest hears of it. Run it under ThreadSanitizer to see that nothing
 * else is shared (meson -Db_sanitize=thread; docs/virtio.md).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vback/epoll.h>
#include <vback/io.h>
#include <vback/dev.h>
#include <vback/virtio.h>

#define NQ	 2u
#define QSIZE	 64u
#define DEPTH	 16u
#define ROUNDS	 20000u
#define SECTORS	 8u /* 4 KiB per request */
#define MEM_BASE 0x100000ull
#define MEM_SIZE (4ull << 20)
/* Queue q's part of guest memory. */
#define QBASE(q)  (MEM_BASE + (uint64_t)(q) * (1ull << 20))
#define DESC(q)	  (QBASE(q))
#define AVAIL(q)  (QBASE(q) + 0x1000)
#define USED(q)	  (QBASE(q) + 0x2000)
#define BUF(q, s) (QBASE(q) + 0x10000 + (uint64_t)(s)*0x2000)
#define DISK_SIZE (16ull << 20)

struct qthread {
	struct vback_loop *loop;
	pthread_t thread;
	struct vback_io io; /* the clone on this loop */
};

static struct {
	uint8_t *mem;
	struct vback_loop *main_loop;
	pthread_t main_thread;
	struct qthread qt[NQ];
	struct vback_io base;
	struct vback_blk *blk;
	struct vback_dev *dev;
	atomic_uint violations;
	atomic_uint notified[NQ];
	atomic_uint config_changes;
	atomic_uint idle[NQ];
	atomic_bool guests_paused;
	atomic_uint answered;
	atomic_uint bad;
} g;

static void violation(const char *what)
{
	fprintf(stderr, "wrong thread: %s\n", what);
	atomic_fetch_add(&g.violations, 1);
}

static void on_thread(pthread_t want, const char *what)
{
	if (!pthread_equal(pthread_self(), want))
		violation(what);
}

/* ---- guest memory: one flat region, no counters (any thread) ---- */

static void *gm_map(void *opaque, uint64_t addr, uint64_t *len,
		    unsigned int access)
{
	(void)opaque;
	(void)access;
	if (addr < MEM_BASE || addr - MEM_BASE >= MEM_SIZE || !*len)
		return NULL;
	if (*len > MEM_SIZE - (addr - MEM_BASE))
		*len = MEM_SIZE - (addr - MEM_BASE);
	return g.mem + (addr - MEM_BASE);
}

static const struct vback_gm_ops gm_ops = { .map = gm_map };

/* ---- the IO instances: a check of the thread around each ---- */

struct chk {
	struct vback_io inner;
	pthread_t owner;
};

static struct chk chk_q[NQ], chk_base;

static int chk_submit(void *opaque, struct vback_io_req *req)
{
	struct chk *c = opaque;

	on_thread(c->owner, "submit");
	return vback_io_submit(&c->inner, req);
}

static void chk_unplug(void *opaque)
{
	struct chk *c = opaque;

	on_thread(c->owner, "unplug");
	vback_io_unplug(&c->inner);
}

static int chk_caps(void *opaque, struct vback_io_caps *caps)
{
	return vback_io_get_caps(&((struct chk *)opaque)->inner, caps);
}

static const struct vback_io_ops chk_ops = {
	.submit = chk_submit,
	.unplug = chk_unplug,
	.get_caps = chk_caps,
};

/* ---- the transport's notifications ---- */

static void t_notify(void *opaque, unsigned int q)
{
	(void)opaque;
	if (q >= NQ) {
		violation("notify of a queue that does not exist");
		return;
	}
	on_thread(g.qt[q].thread, "notify_queue");
	atomic_fetch_add(&g.notified[q], 1);
}

static void t_config(void *opaque)
{
	(void)opaque;
	on_thread(g.main_thread, "notify_config");
	atomic_fetch_add(&g.config_changes, 1);
}

static void t_idle(void *opaque, unsigned int q)
{
	(void)opaque;
	on_thread(g.qt[q].thread, "queue_idle");
	atomic_fetch_add(&g.idle[q], 1);
}

static const struct vback_dev_transport_ops t_ops = {
	.notify_queue = t_notify,
	.notify_config = t_config,
	.queue_idle = t_idle,
};

/* ---- running something on a queue's thread and waiting ---- */

struct call {
	struct vback_work w;
	void (*fn)(unsigned int q);
	unsigned int q;
	atomic_bool done;
};

static void call_run(void *opaque)
{
	struct call *c = opaque;

	c->fn(c->q);
	atomic_store(&c->done, true);
}

static void on_queue_thread(unsigned int q, void (*fn)(unsigned int q))
{
	struct call c = { .fn = fn, .q = q };

	vback_work_init(&c.w, call_run, &c);
	vback_loop_post(g.qt[q].loop, &c.w);
	while (!atomic_load(&c.done)) {
		/* The device's own work (sync, quiesce) runs meanwhile. */
		vback_loop_run_once(g.main_loop, 0);
		sched_yield();
	}
}

static void *qthread_main(void *arg)
{
	struct qthread *t = arg;

	vback_loop_run(t->loop);
	return NULL;
}

/* ---- the guest: one thread per ring, DEPTH requests in flight ---- */

static void put(uint64_t gpa, const void *p, size_t n)
{
	memcpy(g.mem + (gpa - MEM_BASE), p, n);
}

static void *host(uint64_t gpa)
{
	return g.mem + (gpa - MEM_BASE);
}

/* Slot s of queue q: descriptors 3s .. 3s + 2; sector range of its own. */
static void make_slot(unsigned int q, unsigned int s, uint32_t type,
		      uint64_t sector)
{
	struct vring_desc *d = (struct vring_desc *)host(DESC(q)) + 3 * s;
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	bool write = type == VIRTIO_BLK_T_OUT;

	put(BUF(q, s), &h, sizeof(h));
	d[0] = (struct vring_desc){ BUF(q, s), 16, VRING_DESC_F_NEXT,
				    (uint16_t)(3 * s + 1) };
	d[1] = (struct vring_desc){ BUF(q, s) + 0x1000, SECTORS * 512,
				    (uint16_t)(VRING_DESC_F_NEXT |
					       (write ? 0
						      : VRING_DESC_F_WRITE)),
				    (uint16_t)(3 * s + 2) };
	d[2] = (struct vring_desc){ BUF(q, s) + 16, 1, VRING_DESC_F_WRITE, 0 };
	*(uint8_t *)host(BUF(q, s) + 16) = 0xee;
}

static uint8_t pattern(unsigned int q, uint64_t sector, unsigned int i)
{
	return (uint8_t)(q * 37 + sector * 11 + i);
}

struct kick {
	struct vback_work w;
	unsigned int q;
};

static void kick_run(void *opaque)
{
	struct kick *k = opaque;

	vback_dev_queue_kick(g.dev, k->q);
}

static struct kick kicks[NQ];

static void *guest_main(void *arg)
{
	unsigned int q = (unsigned int)(uintptr_t)arg;
	volatile uint16_t *avail_idx = host(AVAIL(q) + 2);
	uint16_t *ring = host(AVAIL(q) + 4);
	volatile uint16_t *used_idx = host(USED(q) + 2);
	struct vring_used_elem *used = host(USED(q) + 4);
	uint16_t avail = 0, seen = 0;
	unsigned int issued = 0, done = 0;
	/* Each slot: write its sector range, then read it back. */
	bool reading[DEPTH] = { false };
	uint64_t sector[DEPTH];

	vback_work_init(&kicks[q].w, kick_run, &kicks[q]);
	kicks[q].q = q;
	for (unsigned int s = 0; s < DEPTH; s++) {
		sector[s] = (q * DEPTH + s) * SECTORS;
		for (unsigned int i = 0; i < SECTORS * 512; i++)
			((uint8_t *)host(BUF(q, s) + 0x1000))[i] =
				pattern(q, sector[s], i);
		make_slot(q, s, VIRTIO_BLK_T_OUT, sector[s]);
		ring[avail % QSIZE] = (uint16_t)(3 * s);
		avail++;
		issued++;
	}
	atomic_thread_fence(memory_order_release);
	*avail_idx = avail;
	vback_loop_post(g.qt[q].loop, &kicks[q].w);
	while (done < ROUNDS * 2) {
		uint16_t u = *used_idx;
		bool more = false;

		if (u == seen) {
			sched_yield();
			continue;
		}
		atomic_thread_fence(memory_order_acquire);
		while (seen != u) {
			unsigned int s = used[seen % QSIZE].id / 3;
			uint8_t st = *(uint8_t *)host(BUF(q, s) + 16);

			seen++;
			done++;
			atomic_fetch_add(&g.answered, 1);
			if (st != VIRTIO_BLK_S_OK)
				atomic_fetch_add(&g.bad, 1);
			if (reading[s]) {
				const uint8_t *b = host(BUF(q, s) + 0x1000);

				for (unsigned int i = 0; i < SECTORS * 512; i++)
					if (b[i] != pattern(q, sector[s], i)) {
						atomic_fetch_add(&g.bad, 1);
						break;
					}
				/* Next round: another range of this slot's. */
				sector[s] += NQ * DEPTH * SECTORS;
				if (sector[s] + SECTORS > DISK_SIZE / 512)
					sector[s] = (q * DEPTH + s) * SECTORS;
				for (unsigned int i = 0; i < SECTORS * 512; i++)
					((uint8_t *)host(BUF(q, s) +
							 0x1000))[i] =
						pattern(q, sector[s], i);
			} else {
				memset(host(BUF(q, s) + 0x1000), 0,
				       SECTORS * 512);
			}
			reading[s] = !reading[s];
			if (issued >= ROUNDS * 2)
				continue;
			make_slot(q, s,
				  reading[s] ? VIRTIO_BLK_T_IN
					     : VIRTIO_BLK_T_OUT,
				  sector[s]);
			ring[avail % QSIZE] = (uint16_t)(3 * s);
			avail++;
			issued++;
			more = true;
		}
		if (more) {
			atomic_thread_fence(memory_order_release);
			*avail_idx = avail;
			vback_loop_post(g.qt[q].loop, &kicks[q].w);
		}
	}
	return NULL;
}

/* ---- queue-thread steps ---- */

static void q_enable(unsigned int q)
{
	struct vback_vq_addr a = { DESC(q), AVAIL(q), USED(q) };

	assert_int_equal(vback_dev_queue_set_size(g.dev, q, QSIZE), 0);
	assert_int_equal(vback_dev_queue_set_addr(g.dev, q, &a), 0);
	assert_int_equal(vback_dev_queue_enable(g.dev, q), 0);
}

static unsigned int stop_left[NQ];

static void q_stop(unsigned int q)
{
	stop_left[q] = vback_dev_queue_stop(g.dev, q);
}

static void q_reset(unsigned int q)
{
	vback_dev_queue_reset(g.dev, q);
}

static struct vback_blk_queue_stats qstats[NQ];

static void q_stats(unsigned int q)
{
	assert_int_equal(vback_blk_get_queue_stats(g.blk, q, &qstats[q]), 0);
}

static void q_close(unsigned int q)
{
	vback_io_close(&g.qt[q].io);
}

static atomic_int quiesce_result = 1;

static void on_quiesced(void *opaque, int result)
{
	(void)opaque;
	on_thread(g.main_thread, "quiesce callback");
	atomic_store(&quiesce_result, result);
}

static void test_thread_per_queue(void **state)
{
	struct vback_io_memory_options mo = { .size = DISK_SIZE };
	struct vback_blk_options bo = { .num_queues = NQ,
					.queue_size = QSIZE,
					.writeback = true };
	struct vback_dev_transport t = {
		.ops = &t_ops,
		.gm = { &gm_ops, NULL },
	};
	pthread_t guests[NQ];
	unsigned int before;
	uint8_t cfg;

	(void)state;
	g.main_thread = pthread_self();
	g.mem = calloc(1, MEM_SIZE);
	assert_non_null(g.mem);
	assert_int_equal(vback_epoll_loop_create(NULL, &g.main_loop), 0);
	assert_int_equal(vback_io_memory_create(&mo, g.main_loop, &g.base), 0);
	/* The device's own instance: the quiesce's flush, on its thread. */
	chk_base = (struct chk){ .inner = g.base, .owner = g.main_thread };
	bo.io = (struct vback_io){ &chk_ops, &chk_base };
	assert_int_equal(vback_blk_create(&bo, &g.blk), 0);
	g.dev = vback_blk_dev(g.blk);
	for (unsigned int q = 0; q < NQ; q++) {
		struct qthread *qt = &g.qt[q];

		assert_int_equal(vback_epoll_loop_create(NULL, &qt->loop), 0);
		/* Its rings and completion sources are polled too. */
		assert_int_equal(vback_epoll_loop_set_poll(qt->loop, 20000), 0);
		assert_int_equal(vback_io_clone(&g.base, qt->loop, &qt->io), 0);
		assert_int_equal(pthread_create(&qt->thread, NULL, qthread_main,
						qt),
				 0);
		chk_q[q] = (struct chk){ .inner = qt->io, .owner = qt->thread };
		assert_int_equal(vback_blk_set_queue_io(g.blk, q,
							&(struct vback_io){
								&chk_ops,
								&chk_q[q] }),
				 0);
		assert_int_equal(vback_dev_queue_set_loop(g.dev, q, qt->loop),
				 0);
		assert_ptr_equal(vback_dev_queue_loop(g.dev, q), qt->loop);
	}
	t.loop = g.main_loop;
	assert_int_equal(vback_dev_attach(g.dev, &t), 0);
	/* Where queues run is set before a transport comes. */
	assert_int_equal(vback_dev_queue_set_loop(g.dev, 0, NULL), -EBUSY);
	assert_int_equal(vback_blk_set_queue_io(g.blk, 0,
						&(struct vback_io){ 0 }),
			 -EINVAL);
	assert_int_equal(vback_blk_set_queue_io(g.blk, 0, NULL), -EBUSY);

	/* As vhost-user does: features and status here, queues there. */
	assert_int_equal(vback_dev_set_driver_features(
				 g.dev,
				 (1ull << VIRTIO_F_VERSION_1) |
					 (1ull << VIRTIO_BLK_F_FLUSH) |
					 (1ull << VIRTIO_BLK_F_CONFIG_WCE)),
			 0);
	assert_int_equal(vback_dev_set_status(
				 g.dev, VIRTIO_CONFIG_S_ACKNOWLEDGE |
						VIRTIO_CONFIG_S_DRIVER |
						VIRTIO_CONFIG_S_FEATURES_OK),
			 0);
	for (unsigned int q = 0; q < NQ; q++)
		on_queue_thread(q, q_enable);
	assert_int_equal(
		vback_dev_set_status(g.dev, vback_dev_status(g.dev) |
						    VIRTIO_CONFIG_S_DRIVER_OK),
		0);
	for (unsigned int q = 0; q < NQ; q++)
		assert_int_equal(pthread_create(&guests[q], NULL, guest_main,
						(void *)(uintptr_t)q),
				 0);

	/* The device's thread at work while the queues run. */
	for (unsigned int i = 0; i < 40; i++) {
		vback_loop_run_once(g.main_loop, 1);
		if (i % 10 == 5) {
			/* Grow the disk: each queue learns it on its thread,
			 * the guest after that. */
			before = atomic_load(&g.config_changes);
			assert_int_equal(vback_blk_resize(g.blk,
							  DISK_SIZE + i * 4096),
					 0);
			for (int k = 0;
			     k < 1000 &&
			     atomic_load(&g.config_changes) == before;
			     k++)
				vback_loop_run_once(g.main_loop, 1);
			assert_int_equal(atomic_load(&g.config_changes),
					 before + 1);
		}
		if (i % 10 == 7) {
			/* Writethrough and back: writes then flush on the
			 * queues' instances. */
			cfg = (uint8_t)(i & 8 ? 0 : 1);
			assert_int_equal(vback_dev_config_write(g.dev, 32, &cfg,
								1),
					 0);
		}
		(void)vback_dev_inflight(g.dev);
		(void)vback_dev_status(g.dev);
	}

	/* Quiesce: both groups drain, nothing new is taken, then resume. */
	assert_int_equal(vback_dev_quiesce(g.dev, on_quiesced, NULL), 0);
	for (int k = 0; k < 10000 && atomic_load(&quiesce_result) == 1; k++)
		vback_loop_run_once(g.main_loop, 1);
	assert_int_equal(atomic_load(&quiesce_result), 0);
	assert_int_equal(vback_dev_inflight(g.dev), 0);
	{
		uint64_t served[NQ];

		for (unsigned int q = 0; q < NQ; q++) {
			on_queue_thread(q, q_stats);
			served[q] = qstats[q].req.reads + qstats[q].req.writes;
		}
		/* The guests keep publishing; nothing is taken. */
		for (int k = 0; k < 50; k++)
			vback_loop_run_once(g.main_loop, 1);
		assert_int_equal(vback_dev_inflight(g.dev), 0);
		for (unsigned int q = 0; q < NQ; q++) {
			on_queue_thread(q, q_stats);
			assert_int_equal(qstats[q].req.reads +
						 qstats[q].req.writes,
					 served[q]);
		}
	}
	vback_dev_resume(g.dev);

	for (unsigned int q = 0; q < NQ; q++)
		assert_int_equal(pthread_join(guests[q], NULL), 0);
	assert_int_equal(atomic_load(&g.answered), NQ * ROUNDS * 2);
	assert_int_equal(atomic_load(&g.bad), 0);

	/* Counters, on each queue's thread; what a queue stop reports. */
	for (unsigned int q = 0; q < NQ; q++) {
		on_queue_thread(q, q_stats);
		assert_int_equal(qstats[q].req.reads + qstats[q].req.writes,
				 ROUNDS * 2);
		assert_true(atomic_load(&g.notified[q]) > 0);
		on_queue_thread(q, q_stop);
		assert_int_equal(stop_left[q], 0);
		on_queue_thread(q, q_reset);
	}
	vback_dev_detach(g.dev);
	for (unsigned int q = 0; q < NQ; q++) {
		on_queue_thread(q, q_close);
		vback_loop_stop(g.qt[q].loop);
		assert_int_equal(pthread_join(g.qt[q].thread, NULL), 0);
		vback_epoll_loop_destroy(g.qt[q].loop);
	}
	vback_blk_destroy(g.blk);
	vback_io_close(&g.base);
	vback_epoll_loop_destroy(g.main_loop);
	free(g.mem);
	assert_int_equal(atomic_load(&g.violations), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_per_queue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
