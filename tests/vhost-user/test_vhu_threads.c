/* SPDX-License-Identifier: MIT */
/*
 * vhost-user with a thread per ring, under a busy guest and a busy
 * control plane: virtio-blk's two queues run on two loops of their own
 * (each with a clone of the RAM disk, polling as vback-disk does), two
 * guest threads keep 16 requests in flight on each ring, and meanwhile
 * the front-end (the test's main thread, which runs the transport's
 * loop) does what QEMU does to a running device: a new memory table,
 * GET_VRING_BASE and a restart from the base it returned, new call fds,
 * rings disabled and enabled, cache-mode writes, resizes, device resets
 * and disconnects; with an in-flight region (INFLIGHT_SHMFD), so each
 * queue's record is kept by its own thread all along.
 *
 * What must hold: every request is answered OK, every read returns what
 * the slot wrote last, no ring stalls, and the guest never sees a used
 * entry it did not make available. Run it under ThreadSanitizer
 * (meson -Db_sanitize=thread, docs/virtio.md): the queue threads and the
 * control plane must share nothing but what they hand over explicitly.
 */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>
#include <vback/io.h>
#include <vback/mmio.h>
#include <vback/vhost_user.h>

#include "frontend.h"
#include "protocol.h"

#define NQ	 2u
#define QSIZE	 64u
#define DEPTH	 16u
#define SECTORS	 8u /* 4 KiB per request */
#define MEM_SIZE (2u << 20)
#define UADDR	 0x7f1234000000ull
/* Queue q's part of guest memory (guest-physical = offset). */
#define QB(q)	     ((uint64_t)(q) * (1u << 20))
#define DESC(q)	     (QB(q))
#define AVAIL(q)     (QB(q) + 0x1000)
#define USED(q)	     (QB(q) + 0x2000)
#define HDR(q, s)    (QB(q) + 0x3000 + (uint64_t)(s)*16)
#define STATUS(q, s) (QB(q) + 0x3800 + (uint64_t)(s))
#define DATA(q, s)   (QB(q) + 0x10000 + (uint64_t)(s)*0x1000)
#define DISK_SIZE    (1u << 20) /* a file in /tmp */
/* Control-plane operations, 8 kinds in turn. */
#define ROUNDS 160u
/* A ring that answers nothing for this long is stuck. */
#define STALL_NS (20ull * 1000000000ull)

struct guest {
	unsigned int q;
	pthread_t thread;
	int kick;
	/* The guest's own state (its thread only, or while paused). */
	uint16_t avail_idx;
	uint16_t used_seen;
	unsigned int inflight;
	bool busy[DEPTH];
	bool reading[DEPTH];
	uint32_t gen[DEPTH]; /* of the last write of the slot */
	bool written[DEPTH];
	/* Shared with the main thread. */
	atomic_bool pause;
	atomic_bool paused;
	atomic_uint answered;
	atomic_uint bad;
	atomic_uint stalled;
};

struct qthread {
	struct vback_loop *loop;
	pthread_t thread;
	struct vback_io io;
};

static struct {
	uint8_t *mem; /* the front-end's (and guest's) view */
	int memfd;
	struct vback_loop *loop; /* the control plane's: this thread */
	struct qthread qt[NQ];
	struct vback_io io;
	struct vback_blk *blk;
	struct vback_vhu *vhu;
	struct fe fe;
	int call[NQ][2];
	/* The in-flight region (INFLIGHT_SHMFD): each queue's record is
	 * updated on its thread while the control plane acts. */
	int region;
	uint64_t region_size;
	unsigned int call_sel[NQ];
	unsigned int swaps[NQ]; /* op_new_call()s */
	uint64_t calls[NQ];	/* read from the new fd after each */
	struct guest g[NQ];
	atomic_bool stop;
	struct vback_log log;
	bool writeback;
	enum vback_io_engine engine;
	bool fell_back; /* io_uring asked, posix given (e.g. qemu-user) */
	char path[64];
} t;

static void quiet(void *opaque, enum vback_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the guest driver: one thread per ring ---- */

static uint8_t pattern(unsigned int q, unsigned int s, uint32_t gen,
		       unsigned int i)
{
	return (uint8_t)(q * 31u + s * 7u + gen * 13u + i);
}

static void *at(uint64_t gpa)
{
	return t.mem + gpa;
}

static void set_desc(unsigned int q, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct vring_desc d = {
		.addr = addr, .len = len, .flags = flags, .next = next
	};

	memcpy(at(DESC(q) + i * sizeof(d)), &d, sizeof(d));
}

/* Slot @s: a write of a new generation, then a read of it, and so on. */
static void submit(struct guest *g, unsigned int s)
{
	unsigned int q = g->q;
	bool read = g->written[s];
	struct virtio_blk_outhdr h = {
		.type = read ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT,
		.sector = (uint64_t)(q * DEPTH + s) * SECTORS,
	};
	uint16_t head = (uint16_t)(s * 3);
	uint16_t *ring = at(AVAIL(q) + offsetof(struct vring_avail, ring));

	if (read) {
		memset(at(DATA(q, s)), 0, 4096);
	} else {
		uint8_t *d = at(DATA(q, s));

		g->gen[s]++;
		for (unsigned int i = 0; i < 4096; i++)
			d[i] = pattern(q, s, g->gen[s], i);
	}
	memcpy(at(HDR(q, s)), &h, sizeof(h));
	*(uint8_t *)at(STATUS(q, s)) = 0xff;
	set_desc(q, head, HDR(q, s), sizeof(h), VRING_DESC_F_NEXT,
		 (uint16_t)(head + 1));
	set_desc(q, (uint16_t)(head + 1), DATA(q, s), 4096,
		 VRING_DESC_F_NEXT | (read ? VRING_DESC_F_WRITE : 0),
		 (uint16_t)(head + 2));
	set_desc(q, (uint16_t)(head + 2), STATUS(q, s), 1, VRING_DESC_F_WRITE,
		 0);
	ring[g->avail_idx % QSIZE] = head;
	g->avail_idx++;
	g->busy[s] = true;
	g->reading[s] = read;
	g->inflight++;
}

static void publish_avail(struct guest *g)
{
	uint64_t one = 1;
	uint16_t *used_event =
		at(AVAIL(g->q) + offsetof(struct vring_avail, ring) +
		   QSIZE * sizeof(uint16_t));

	/* EVENT_IDX: a call for every answer (the guest polls anyway). */
	__atomic_store_n(used_event, g->used_seen, __ATOMIC_RELAXED);
	__atomic_store_n((uint16_t *)at(AVAIL(g->q) + 2), g->avail_idx,
			 __ATOMIC_RELEASE);
	/* Always kick: extra kicks are harmless, missing ones would hang. */
	if (write(g->kick, &one, sizeof(one)) != sizeof(one))
		atomic_fetch_add(&g->bad, 1);
}

/* Take what the device answered; true if anything was. */
static bool reap(struct guest *g)
{
	unsigned int q = g->q;
	uint16_t idx =
		__atomic_load_n((uint16_t *)at(USED(q) + 2), __ATOMIC_ACQUIRE);
	bool any = false;

	while (g->used_seen != idx) {
		struct vring_used_elem e;
		unsigned int s;

		memcpy(&e,
		       at(USED(q) + offsetof(struct vring_used, ring) +
			  (g->used_seen % QSIZE) * sizeof(e)),
		       sizeof(e));
		g->used_seen++;
		any = true;
		s = e.id / 3;
		if (e.id % 3 || s >= DEPTH || !g->busy[s]) {
			fprintf(stderr,
				"queue %u: used id %u never made "
				"available\n",
				q, e.id);
			atomic_fetch_add(&g->bad, 1);
			continue;
		}
		g->busy[s] = false;
		g->inflight--;
		if (*(uint8_t *)at(STATUS(q, s)) != VIRTIO_BLK_S_OK) {
			fprintf(stderr, "queue %u slot %u: status %u\n", q, s,
				*(uint8_t *)at(STATUS(q, s)));
			atomic_fetch_add(&g->bad, 1);
			continue;
		}
		if (g->reading[s]) {
			const uint8_t *d = at(DATA(q, s));

			for (unsigned int i = 0; i < 4096; i++) {
				if (d[i] != pattern(q, s, g->gen[s], i)) {
					fprintf(stderr,
						"queue %u slot %u: byte %u "
						"reads %#x\n",
						q, s, i, d[i]);
					atomic_fetch_add(&g->bad, 1);
					break;
				}
			}
			g->written[s] = false;
		} else {
			g->written[s] = true;
		}
		atomic_fetch_add(&g->answered, 1);
	}
	if (any) {
		/* As Linux's driver re-enables its callback: a call for the
		 * next answer after those seen. */
		uint16_t *used_event =
			at(AVAIL(q) + offsetof(struct vring_avail, ring) +
			   QSIZE * sizeof(uint16_t));

		__atomic_store_n(used_event, g->used_seen, __ATOMIC_RELEASE);
	}
	return any;
}

static void *guest_main(void *arg)
{
	struct guest *g = arg;
	uint64_t last = now_ns();

	while (!atomic_load(&t.stop)) {
		bool pause = atomic_load(&g->pause);
		unsigned int added = 0;

		if (!pause) {
			for (unsigned int s = 0; s < DEPTH; s++) {
				if (!g->busy[s]) {
					submit(g, s);
					added++;
				}
			}
			if (added)
				publish_avail(g);
		}
		if (reap(g))
			last = now_ns();
		if (pause && !g->inflight) {
			/* Everything answered: the front-end may reset. */
			atomic_store(&g->paused, true);
			while (atomic_load(&g->pause) && !atomic_load(&t.stop))
				sched_yield();
			atomic_store(&g->paused, false);
			last = now_ns();
			continue;
		}
		if (g->inflight && now_ns() - last > STALL_NS) {
			fprintf(stderr, "queue %u: %u requests unanswered\n",
				g->q, g->inflight);
			atomic_store(&g->stalled, 1);
			break;
		}
		sched_yield();
	}
	return NULL;
}

/* ---- the queue threads ---- */

static void *qthread_main(void *arg)
{
	vback_loop_run(arg);
	return NULL;
}

struct qcall {
	struct vback_work w;
	unsigned int q;
	atomic_int done;
};

static void close_clone(void *opaque)
{
	struct qcall *c = opaque;

	vback_io_close(&t.qt[c->q].io);
	atomic_store(&c->done, 1);
}

/* ---- the front-end (this thread) ---- */

static void pump(unsigned int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;

	while (now_ns() < end)
		vback_loop_run_once(t.loop, 1);
}

static void send_u64(uint32_t req, uint64_t v, const int *fd)
{
	fe_send(&t.fe, req, VHU_VERSION, &v, sizeof(v), fd, fd ? 1 : 0);
}

static void send_state(uint32_t req, unsigned int q, uint32_t num)
{
	struct vhu_state s = { q, num };

	fe_send(&t.fe, req, VHU_VERSION, &s, sizeof(s), NULL, 0);
}

/* Everything sent so far was handled (messages are taken in order). */
static void barrier(void)
{
	(void)fe_get_u64(&t.fe, VHU_GET_FEATURES);
}

static void send_mem_table(void)
{
	struct vhu_mem m = { .nregions = 1 };

	m.regions[0] = (struct vhu_region){ 0, MEM_SIZE, UADDR, 0 };
	fe_send(&t.fe, VHU_SET_MEM_TABLE, VHU_VERSION, &m,
		offsetof(struct vhu_mem, regions) + sizeof(m.regions[0]),
		&t.memfd, 1);
}

static void ring_start(unsigned int q, uint16_t base)
{
	struct vhu_addr a = {
		.index = q,
		.desc = UADDR + DESC(q),
		.avail = UADDR + AVAIL(q),
		.used = UADDR + USED(q),
	};

	send_state(VHU_SET_VRING_NUM, q, QSIZE);
	send_state(VHU_SET_VRING_BASE, q, base);
	fe_send(&t.fe, VHU_SET_VRING_ADDR, VHU_VERSION, &a, sizeof(a), NULL, 0);
	send_u64(VHU_SET_VRING_KICK, q, &t.g[q].kick);
	send_u64(VHU_SET_VRING_CALL, q, &t.call[q][t.call_sel[q]]);
	send_state(VHU_SET_VRING_ENABLE, q, 1);
}

static const uint64_t features =
	(1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_CONFIG_WCE) |
	(1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << 32) /* VERSION_1 */ |
	(1ull << VHU_F_PROTOCOL_FEATURES);

/* What QEMU does at DRIVER_OK; the rings go on from @base[q]. */
static void device_start(const uint16_t *base)
{
	uint64_t offered = fe_get_u64(&t.fe, VHU_GET_FEATURES);
	struct vhu_inflight d = { .num_queues = NQ, .queue_size = QSIZE };

	assert_int_equal(offered & features, features);
	assert_true(fe_get_u64(&t.fe, VHU_GET_PROTOCOL_FEATURES) &
		    (1ull << VHU_PROTOCOL_F_INFLIGHT_SHMFD));
	send_u64(VHU_SET_PROTOCOL_FEATURES,
		 (1ull << VHU_PROTOCOL_F_MQ) | (1ull << VHU_PROTOCOL_F_CONFIG) |
			 (1ull << VHU_PROTOCOL_F_RESET_DEVICE) |
			 (1ull << VHU_PROTOCOL_F_INFLIGHT_SHMFD),
		 NULL);
	send_u64(VHU_SET_FEATURES, features, NULL);
	if (t.region < 0) {
		/* Once, as QEMU: the region outlives connections. */
		struct vhu_hdr hdr;

		fe_send(&t.fe, VHU_GET_INFLIGHT_FD, VHU_VERSION, &d, sizeof(d),
			NULL, 0);
		assert_int_equal(fe_recv_fd(&t.fe, &hdr, &d, sizeof(d),
					    &t.region),
				 0);
		assert_true(t.region >= 0);
		t.region_size = d.mmap_size;
	}
	d = (struct vhu_inflight){ t.region_size, 0, NQ, QSIZE };
	fe_send(&t.fe, VHU_SET_INFLIGHT_FD, VHU_VERSION, &d, sizeof(d),
		&t.region, 1);
	send_mem_table();
	for (unsigned int q = 0; q < NQ; q++)
		ring_start(q, base[q]);
	barrier();
}

static void guests_pause(void)
{
	uint64_t t0 = now_ns();

	for (unsigned int q = 0; q < NQ; q++)
		atomic_store(&t.g[q].pause, true);
	for (unsigned int q = 0; q < NQ; q++) {
		/* The control plane runs here: keep its loop going. */
		while (!atomic_load(&t.g[q].paused) &&
		       !atomic_load(&t.g[q].stalled)) {
			vback_loop_run_once(t.loop, 1);
			assert_true(now_ns() - t0 < STALL_NS);
		}
		assert_false(atomic_load(&t.g[q].stalled));
	}
}

static void guests_resume(void)
{
	for (unsigned int q = 0; q < NQ; q++)
		atomic_store(&t.g[q].pause, false);
}

/* The rings resume where the paused guests left them. */
static void guest_bases(uint16_t *base)
{
	for (unsigned int q = 0; q < NQ; q++)
		base[q] = t.g[q].avail_idx; /* paused: nothing moves */
}

static void connect_fe(void)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(vback_vhu_serve_fd(t.vhu, sv[0]), 0);
	t.fe = (struct fe){ .fd = sv[1], .loop = t.loop };
}

static int setup(void **state)
{
	struct vback_io_options io = {
		.engine = t.engine,
		.path = t.path,
		/* Requests really in flight when the control plane stops a
		 * ring, on tmpfs too. */
		.memfs_via_uring = true,
	};
	struct vback_blk_options bo = { .num_queues = NQ, .writeback = true };
	struct vback_vhu_options vo = { 0 };
	uint16_t base[NQ] = { 0 };

	enum vback_io_engine engine = t.engine;
	int fd;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.engine = engine;
	t.region = -1;
	snprintf(t.path, sizeof(t.path), "/tmp/vback-vhu-threads.XXXXXX");
	fd = mkstemp(t.path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
	t.writeback = true;
	t.log = (struct vback_log){ .fn = quiet, .max_level = VBACK_LOG_ERR };
	io.log = bo.log = vo.log = &t.log;
	assert_int_equal(vback_epoll_loop_create(NULL, &t.loop), 0);
	assert_int_equal(vback_epoll_loop_set_poll(t.loop, 50000), 0);
	assert_int_equal(vback_io_open(&io, t.loop, &t.io), 0);
	/* io_uring refused here: the test skips (the posix fallback is the
	 * other variant's test). */
	t.fell_back = vback_io_engine_of(&t.io) != engine;
	bo.io = t.io;
	assert_int_equal(vback_blk_create(&bo, &t.blk), 0);
	for (unsigned int q = 0; q < NQ; q++) {
		struct qthread *qt = &t.qt[q];

		assert_int_equal(vback_epoll_loop_create(NULL, &qt->loop), 0);
		assert_int_equal(vback_epoll_loop_set_poll(qt->loop, 50000), 0);
		assert_int_equal(vback_io_clone(&t.io, qt->loop, &qt->io), 0);
		assert_int_equal(vback_blk_set_queue_io(t.blk, q, &qt->io), 0);
		assert_int_equal(vback_dev_queue_set_loop(vback_blk_dev(t.blk),
							  q, qt->loop),
				 0);
		assert_int_equal(pthread_create(&qt->thread, NULL, qthread_main,
						qt->loop),
				 0);
	}
	vo.dev = vback_blk_dev(t.blk);
	vo.loop = t.loop;
	assert_int_equal(vback_vhu_create(&vo, &t.vhu), 0);
	t.memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_int_equal(ftruncate(t.memfd, MEM_SIZE), 0);
	t.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     t.memfd, 0);
	assert_true(t.mem != MAP_FAILED);
	for (unsigned int q = 0; q < NQ; q++) {
		t.g[q].q = q;
		t.g[q].kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		t.call[q][0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		t.call[q][1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(t.g[q].kick >= 0 && t.call[q][0] >= 0 &&
			    t.call[q][1] >= 0);
	}
	connect_fe();
	device_start(base);
	for (unsigned int q = 0; q < NQ; q++)
		assert_int_equal(pthread_create(&t.g[q].thread, NULL,
						guest_main, &t.g[q]),
				 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	atomic_store(&t.stop, true);
	for (unsigned int q = 0; q < NQ; q++)
		pthread_join(t.g[q].thread, NULL);
	/* The front-end leaves; the back-end drains and resets. */
	close(t.fe.fd);
	pump(50);
	vback_vhu_destroy(t.vhu);
	for (unsigned int q = 0; q < NQ; q++) {
		struct qcall c = { .q = q };

		vback_work_init(&c.w, close_clone, &c);
		vback_loop_post(t.qt[q].loop, &c.w);
		while (!atomic_load(&c.done))
			sched_yield();
		vback_loop_stop(t.qt[q].loop);
		pthread_join(t.qt[q].thread, NULL);
		vback_epoll_loop_destroy(t.qt[q].loop);
	}
	vback_io_close(&t.io);
	unlink(t.path);
	vback_blk_destroy(t.blk);
	vback_epoll_loop_destroy(t.loop);
	munmap(t.mem, MEM_SIZE);
	close(t.memfd);
	close(t.region);
	for (unsigned int q = 0; q < NQ; q++) {
		close(t.g[q].kick);
		close(t.call[q][0]);
		close(t.call[q][1]);
	}
	return 0;
}

/* ---- what the front-end does to the running device ---- */

static void op_mem_table(void)
{
	/* The same memory again (a hot-plug elsewhere, say): every ring
	 * drains, the table is remapped, the rings go on. */
	send_mem_table();
	barrier();
}

static void op_ring_restart(unsigned int q)
{
	struct vhu_hdr hdr;
	struct vhu_state st;

	send_state(VHU_GET_VRING_BASE, q, 0);
	assert_int_equal(fe_recv(&t.fe, &hdr, &st, sizeof(st)), 0);
	assert_int_equal(hdr.request, VHU_GET_VRING_BASE);
	assert_int_equal(st.index, q);
	/* The guest goes on adding requests: the ring restarts where the
	 * device stopped taking them. */
	ring_start(q, (uint16_t)st.num);
	barrier();
}

/* A new call fd: from the reply on, the queue's thread signals it, and
 * never the old one (the transport swaps them on that thread). */
static void op_new_call(unsigned int q)
{
	int old = t.call[q][t.call_sel[q]], cur;
	unsigned int seen;
	uint64_t v;

	t.call_sel[q] ^= 1u;
	cur = t.call[q][t.call_sel[q]];
	send_u64(VHU_SET_VRING_CALL, q, &cur);
	barrier();
	while (read(old, &v, sizeof(v)) == sizeof(v))
		;
	/* Up to DEPTH answers the guest has not reaped yet may predate the
	 * swap: wait for more than that many after it. */
	seen = atomic_load(&t.g[q].answered) + DEPTH;
	for (uint64_t t0 = now_ns();
	     atomic_load(&t.g[q].answered) < seen + DEPTH &&
	     now_ns() - t0 < STALL_NS;)
		vback_loop_run_once(t.loop, 1);
	assert_true(atomic_load(&t.g[q].answered) >= seen + DEPTH);
	/* Calls after the swap go to the new fd only. How many come is up
	 * to EVENT_IDX and the guest's timing: counted, checked at the end. */
	t.swaps[q]++;
	if (read(cur, &v, sizeof(v)) == sizeof(v))
		t.calls[q] += v;
	errno = 0;
	assert_int_equal(read(old, &v, sizeof(v)), -1);
	assert_int_equal(errno, EAGAIN);
}

static void op_disable_enable(unsigned int q)
{
	send_state(VHU_SET_VRING_ENABLE, q, 0);
	barrier();
	pump(2);
	send_state(VHU_SET_VRING_ENABLE, q, 1);
	barrier();
}

static void op_cache_mode(void)
{
	struct vhu_config c = {
		.offset = offsetof(struct virtio_blk_config, wce),
		.size = 1,
	};

	/* The writeback byte: every queue thread gets the new mode. */
	t.writeback = !t.writeback;
	c.data[0] = t.writeback;
	fe_send(&t.fe, VHU_SET_CONFIG, VHU_VERSION, &c, VHU_CONFIG_HDR + 1,
		NULL, 0);
	barrier();
}

static void op_resize(unsigned int i)
{
	/* Both sizes hold every sector the guests use. */
	assert_int_equal(vback_blk_resize(t.blk,
					  i & 1 ? DISK_SIZE / 2 : DISK_SIZE),
			 0);
	pump(1);
}

static void op_reset(void)
{
	uint16_t base[NQ];

	guests_pause();
	fe_send(&t.fe, VHU_RESET_DEVICE, VHU_VERSION, NULL, 0, NULL, 0);
	barrier();
	guest_bases(base);
	device_start(base);
	guests_resume();
}

static void op_reconnect(void)
{
	uint16_t base[NQ];

	guests_pause();
	close(t.fe.fd);
	pump(5);
	connect_fe();
	guest_bases(base);
	device_start(base);
	guests_resume();
}

static unsigned int answered(void)
{
	unsigned int n = 0;

	for (unsigned int q = 0; q < NQ; q++)
		n += atomic_load(&t.g[q].answered);
	return n;
}

static void check_guests(void)
{
	for (unsigned int q = 0; q < NQ; q++) {
		assert_int_equal(atomic_load(&t.g[q].bad), 0);
		assert_int_equal(atomic_load(&t.g[q].stalled), 0);
	}
}

static void test_control_plane_under_load(void **state)
{
	struct vback_vhu_stats st;
	unsigned int before;

	(void)state;
	if (t.fell_back)
		skip();
	/* Both rings serve before anything happens (as long as a stall is
	 * allowed: under an emulator on a loaded machine 50 ms may not be
	 * enough for the first answer). */
	pump(50);
	for (uint64_t t0 = now_ns(); !answered() && now_ns() - t0 < STALL_NS;)
		vback_loop_run_once(t.loop, 1);
	before = answered();
	assert_true(before > 0);
	for (unsigned int i = 0; i < ROUNDS; i++) {
		unsigned int q = i % NQ, seen = answered();

		switch (i % 8) {
		case 0:
			op_mem_table();
			break;
		case 1:
			op_ring_restart(q);
			break;
		case 2:
			op_new_call(q);
			break;
		case 3:
			op_disable_enable(q);
			break;
		case 4:
			op_cache_mode();
			break;
		case 5:
			op_resize(i);
			break;
		case 6:
			op_reset();
			break;
		default:
			op_reconnect();
			break;
		}
		check_guests();
		/* Requests are answered between the operations too. */
		for (uint64_t t0 = now_ns();
		     answered() < seen + 2 * DEPTH && now_ns() - t0 < STALL_NS;)
			vback_loop_run_once(t.loop, 1);
		assert_true(answered() >= seen + 2 * DEPTH);
	}
	guests_pause();
	check_guests();
	vback_vhu_get_stats(t.vhu, &st);
	print_message("%u requests answered, %llu messages\n", answered(),
		      (unsigned long long)st.messages);
	/* Every reconnect was a new front-end; none was dropped. */
	assert_int_equal(st.connections, 1 + ROUNDS / 8);
	assert_int_equal(st.bad_messages, 0);
	/* Both rings took part all along, and signalled their new call
	 * fds. */
	for (unsigned int q = 0; q < NQ; q++) {
		assert_true(atomic_load(&t.g[q].answered) > ROUNDS);
		assert_true(!t.swaps[q] || t.calls[q] > 0);
	}
	guests_resume();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_control_plane_under_load,
						setup, teardown),
	};

	/* The engine: requests in flight on worker threads (posix) or in
	 * the kernel (io_uring) while the control plane acts. */
	if (argc != 2 ||
	    (strcmp(argv[1], "posix") && strcmp(argv[1], "uring"))) {
		fprintf(stderr, "usage: %s posix|uring\n", argv[0]);
		return 2;
	}
	t.engine = strcmp(argv[1], "posix") ? VBACK_IO_ENGINE_URING
					    : VBACK_IO_ENGINE_POSIX;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
