/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user back-end end to end at the message level: a scripted
 * front-end on one end of a socketpair, the transport on the other, a fake
 * device (fake_dev.c) recording what the transport asks of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>
#include <vback/vhost_user.h>

#include "fake_dev.h"
#include "frontend.h"
#include "inflight.h"
#include "protocol.h"

#define MEM_SIZE     (1u << 20)
#define UADDR	     0x7f0000000000ull
#define DEV_FEATURES ((1ull << 32) | (1ull << 29) | (1ull << 9))
#define PROTO                                                                  \
	((1ull << VHU_PROTOCOL_F_MQ) | (1ull << VHU_PROTOCOL_F_REPLY_ACK) |    \
	 (1ull << VHU_PROTOCOL_F_BACKEND_REQ) |                                \
	 (1ull << VHU_PROTOCOL_F_CONFIG))

struct ctx {
	struct vback_loop *loop;
	struct vback_dev *dev;
	struct vback_vhu *vhu;
	struct fe fe;
	int memfd;
	int kick[2], call[2];
	int events[4];
	struct vback_log log;
	/* What on_event() does besides counting. */
	enum vback_vhu_event destroy_on; /* destroy transport and device */
	enum vback_vhu_event serve_on;	 /* serve a new socket */
	bool in_event;			 /* to catch re-entrant reports */
	char order[8];			 /* events in report order: "123" */
	int spare_fe;
};

static void on_event(void *opaque, enum vback_vhu_event ev)
{
	struct ctx *c = opaque;
	size_t n = strlen(c->order);

	assert_false(c->in_event);
	c->in_event = true;
	c->events[ev]++;
	if (n + 1 < sizeof(c->order))
		c->order[n] = (char)('0' + ev);
	if (ev == c->serve_on) {
		int sv[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
					    0, sv),
				 0);
		assert_int_equal(vback_vhu_serve_fd(c->vhu, sv[0]), 0);
		c->spare_fe = sv[1];
	}
	if (ev == c->destroy_on) {
		vback_vhu_destroy(c->vhu);
		c->vhu = NULL;
		fake_dev_free(c->dev);
		c->dev = NULL;
	}
	c->in_event = false;
}

static void quiet(void *opaque, enum vback_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static unsigned int warn_lines;

static char last_warning[512];

static void count_warnings(void *opaque, enum vback_log_level level,
			   const char *msg)
{
	(void)opaque;
	if (level <= VBACK_LOG_WARN) {
		warn_lines++;
		snprintf(last_warning, sizeof(last_warning), "%s", msg);
	}
}

static struct vback_vhu *make_vhu(struct ctx *c, const char *path)
{
	struct vback_vhu_options o = {
		.dev = c->dev,
		.loop = c->loop,
		.socket_path = path,
		.event = on_event,
		.opaque = c,
		.log = &c->log,
		.name = "test",
	};
	struct vback_vhu *vhu = NULL;

	assert_int_equal(vback_vhu_create(&o, &vhu), 0);
	return vhu;
}

static void connect_fe(struct ctx *c)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(vback_vhu_serve_fd(c->vhu, sv[0]), 0);
	c->fe.fd = sv[1];
	c->fe.loop = c->loop;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	uint8_t *p;

	assert_non_null(c);
	c->log =
		(struct vback_log){ .fn = quiet, .max_level = VBACK_LOG_DEBUG };
	assert_int_equal(vback_epoll_loop_create(NULL, &c->loop), 0);
	c->dev = fake_dev_new(2);
	c->vhu = make_vhu(c, NULL);
	connect_fe(c);
	/* Guest memory: byte i of page n holds n. */
	c->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_int_equal(ftruncate(c->memfd, MEM_SIZE), 0);
	p = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd,
		 0);
	for (unsigned int i = 0; i < MEM_SIZE; i += 4096)
		memset(p + i, (int)(i / 4096), 4096);
	munmap(p, MEM_SIZE);
	for (int i = 0; i < 2; i++) {
		c->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		c->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	vback_vhu_destroy(c->vhu);
	if (c->fe.fd >= 0)
		close(c->fe.fd);
	if (c->spare_fe > 0)
		close(c->spare_fe);
	if (c->dev)
		assert_false(c->dev->attached);
	fake_dev_free(c->dev);
	vback_epoll_loop_destroy(c->loop);
	close(c->memfd);
	for (int i = 0; i < 2; i++) {
		close(c->kick[i]);
		close(c->call[i]);
	}
	free(c);
	return 0;
}

static void send_u64(struct ctx *c, uint32_t req, uint64_t v, const int *fd)
{
	fe_send(&c->fe, req, VHU_VERSION, &v, sizeof(v), fd, fd ? 1 : 0);
}

static void send_state(struct ctx *c, uint32_t req, uint32_t flags,
		       uint32_t index, uint32_t num)
{
	struct vhu_state s = { index, num };

	fe_send(&c->fe, req, VHU_VERSION | flags, &s, sizeof(s), NULL, 0);
}

static void send_mem_table(struct ctx *c, uint32_t flags, int memfd,
			   uint64_t size)
{
	struct vhu_mem m = { .nregions = 1 };

	m.regions[0] =
		(struct vhu_region){ .gpa = 0, .size = size, .uaddr = UADDR };
	fe_send(&c->fe, VHU_SET_MEM_TABLE, VHU_VERSION | flags, &m,
		offsetof(struct vhu_mem, regions) + sizeof(m.regions[0]),
		&memfd, 1);
}

static void negotiate(struct ctx *c)
{
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_FEATURES),
			 DEV_FEATURES | (1ull << VHU_F_PROTOCOL_FEATURES));
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_PROTOCOL_FEATURES) & PROTO,
			 PROTO);
	send_u64(c, VHU_SET_PROTOCOL_FEATURES, PROTO, NULL);
	fe_send(&c->fe, VHU_SET_OWNER, VHU_VERSION, NULL, 0, NULL, 0);
	send_u64(c, VHU_SET_FEATURES,
		 DEV_FEATURES | (1ull << VHU_F_PROTOCOL_FEATURES), NULL);
	send_mem_table(c, 0, c->memfd, MEM_SIZE);
}

/* Configure ring @q the way QEMU does, enable it last. */
static void start_queue(struct ctx *c, unsigned int q, uint32_t base)
{
	struct vhu_addr a = {
		.index = q,
		.desc = UADDR + 0x10000 * (q + 1),
		.avail = UADDR + 0x10000 * (q + 1) + 0x1000,
		.used = UADDR + 0x10000 * (q + 1) + 0x2000,
	};

	send_state(c, VHU_SET_VRING_NUM, 0, q, 128);
	send_state(c, VHU_SET_VRING_BASE, 0, q, base);
	fe_send(&c->fe, VHU_SET_VRING_ADDR, VHU_VERSION, &a, sizeof(a), NULL,
		0);
	send_u64(c, VHU_SET_VRING_KICK, q, &c->kick[q]);
	send_u64(c, VHU_SET_VRING_CALL, q, &c->call[q]);
	send_state(c, VHU_SET_VRING_ENABLE, 0, q, 1);
	fe_pump(c->loop);
}

static void test_handshake(void **state)
{
	struct ctx *c = *state;

	assert_true(vback_vhu_connected(c->vhu));
	assert_int_equal(c->events[VBACK_VHU_CONNECTED], 1);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_FEATURES),
			 DEV_FEATURES | (1ull << 30));
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_PROTOCOL_FEATURES) & PROTO,
			 PROTO);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);
}

static void test_start_translates_rings(void **state)
{
	struct ctx *c = *state;
	struct fake_queue *q1 = &c->dev->q[1];

	negotiate(c);
	start_queue(c, 1, 7);
	assert_true(q1->enabled);
	assert_int_equal(q1->size, 128);
	/* User addresses became guest addresses. */
	assert_int_equal(q1->addr.desc, 0x20000);
	assert_int_equal(q1->addr.avail, 0x21000);
	assert_int_equal(q1->addr.used, 0x22000);
	assert_int_equal(q1->last_avail, 7);
	assert_false(c->dev->q[0].enabled);
	assert_int_equal(c->dev->driver_features, DEV_FEATURES);
	assert_int_equal(c->dev->status & (VBACK_STATUS_FEATURES_OK |
					   VBACK_STATUS_DRIVER_OK),
			 VBACK_STATUS_FEATURES_OK | VBACK_STATUS_DRIVER_OK);
}

static void test_ring_waits_for_enable(void **state)
{
	struct ctx *c = *state;

	negotiate(c);
	send_state(c, VHU_SET_VRING_NUM, 0, 0, 64);
	send_state(c, VHU_SET_VRING_BASE, 0, 0, 0);
	{
		struct vhu_addr a = { .index = 0,
				      .desc = UADDR + 0x1000,
				      .avail = UADDR + 0x2000,
				      .used = UADDR + 0x3000 };

		fe_send(&c->fe, VHU_SET_VRING_ADDR, VHU_VERSION, &a, sizeof(a),
			NULL, 0);
	}
	send_u64(c, VHU_SET_VRING_KICK, 0, &c->kick[0]);
	fe_pump(c->loop);
	/* Protocol features negotiated: rings start disabled. */
	assert_false(c->dev->q[0].enabled);
	send_state(c, VHU_SET_VRING_ENABLE, 0, 0, 1);
	fe_pump(c->loop);
	assert_true(c->dev->q[0].enabled);
	assert_int_equal(c->dev->q[0].size, 64);
}

/*
 * Without PROTOCOL_FEATURES negotiated a started ring is enabled and
 * SET_VRING_ENABLE is not the front-end's to send: the ring stays enabled
 * (a warning, no disconnect). Before SET_FEATURES it is accepted.
 */
static void test_vring_enable_needs_protocol_features(void **state)
{
	struct ctx *c = *state;
	struct vhu_addr a = { .index = 0,
			      .desc = UADDR + 0x1000,
			      .avail = UADDR + 0x2000,
			      .used = UADDR + 0x3000 };
	struct vback_vhu_stats st;
	uint64_t handled;

	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_FEATURES),
			 DEV_FEATURES | (1ull << VHU_F_PROTOCOL_FEATURES));
	send_state(c, VHU_SET_VRING_ENABLE, 0, 1, 1); /* before: accepted */
	send_u64(c, VHU_SET_FEATURES, DEV_FEATURES, NULL);
	send_mem_table(c, 0, c->memfd, MEM_SIZE);
	send_state(c, VHU_SET_VRING_NUM, 0, 0, 64);
	fe_send(&c->fe, VHU_SET_VRING_ADDR, VHU_VERSION, &a, sizeof(a), NULL,
		0);
	send_u64(c, VHU_SET_VRING_KICK, 0, &c->kick[0]);
	fe_pump(c->loop);
	assert_true(c->dev->q[0].enabled);
	send_state(c, VHU_SET_VRING_ENABLE, 0, 0, 0);
	fe_pump(c->loop);
	assert_true(vback_vhu_connected(c->vhu));
	assert_true(c->dev->q[0].enabled);
	/* Each one is a warning: a front-end repeating it cannot flood the
	 * log (rate-limited, the debug line of every message apart). */
	vback_vhu_get_stats(c->vhu, &st);
	handled = st.messages;
	warn_lines = 0;
	c->log.fn = count_warnings;
	for (unsigned int i = 0; i < 1000; i++) {
		send_state(c, VHU_SET_VRING_ENABLE, 0, 0, 0);
		if (i % 32 == 31) /* the socket holds only so many */
			fe_pump(c->loop);
	}
	fe_pump(c->loop);
	c->log.fn = quiet;
	assert_true(vback_vhu_connected(c->vhu));
	vback_vhu_get_stats(c->vhu, &st);
	assert_int_equal(st.messages - handled, 1000);
	assert_true(warn_lines >= 1 && warn_lines <= 10);
}

static void test_ring_outside_memory_stays_off(void **state)
{
	struct ctx *c = *state;
	struct vhu_addr a = {
		.index = 0, .desc = 0x1000, .avail = 0x2000, .used = 0x3000
	}; /* not user addresses */

	negotiate(c);
	send_state(c, VHU_SET_VRING_NUM, 0, 0, 64);
	fe_send(&c->fe, VHU_SET_VRING_ADDR, VHU_VERSION, &a, sizeof(a), NULL,
		0);
	send_u64(c, VHU_SET_VRING_KICK, 0, &c->kick[0]);
	send_state(c, VHU_SET_VRING_ENABLE, 0, 0, 1);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);
	assert_false(c->dev->q[0].enabled);
	assert_true(vback_vhu_connected(c->vhu));
}

static void test_kick_and_call(void **state)
{
	struct ctx *c = *state;
	struct vback_vhu_stats st;
	struct vback_vhu_queue_stats qs;
	uint64_t v = 1;

	negotiate(c);
	start_queue(c, 0, 0);
	/* One kick when the ring starts (buffers queued before). */
	assert_int_equal(c->dev->q[0].kicks, 1);
	assert_int_equal(write(c->kick[0], &v, sizeof(v)), sizeof(v));
	fe_pump(c->loop);
	assert_int_equal(c->dev->q[0].kicks, 2);
	/* The device's used-buffer notification is a call eventfd write. */
	fake_dev_notify_queue(c->dev, 0);
	v = 0;
	assert_int_equal(read(c->call[0], &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	assert_int_equal(vback_vhu_get_queue_stats(c->vhu, 0, &qs), 0);
	assert_int_equal(qs.kicks, 1);
	assert_int_equal(qs.calls, 1);
	assert_int_equal(vback_vhu_get_queue_stats(c->vhu, 1, &qs), 0);
	assert_int_equal(qs.kicks, 0);
	/* Only the rings offered have counters. */
	assert_int_equal(vback_vhu_get_queue_stats(c->vhu, 64, &qs), -EINVAL);
	vback_vhu_get_stats(c->vhu, &st);
	assert_true(st.messages > 0);
}

/*
 * The front-end owns its call, error and kick fds and may hand us fds
 * that would block: a blocking eventfd one below its limit, a pipe nobody
 * reads. The daemon must never block on them (alarm: a hang fails the
 * test), and a kick fd at end of file must not make the loop spin.
 */
static void test_peer_fds_never_block(void **state)
{
	struct ctx *c = *state;
	uint64_t full = 0xfffffffffffffffeull;
	int call = eventfd(0, EFD_CLOEXEC); /* blocking */
	int err[2], kick[2];
	unsigned int kicks, ran = 0;

	assert_true(call >= 0);
	assert_int_equal(write(call, &full, sizeof(full)), sizeof(full));
	assert_int_equal(pipe(err), 0); /* blocking, nobody reads */
	while (fcntl(err[1], F_SETFL, O_NONBLOCK) == 0) {
		char junk[4096] = { 0 };

		if (write(err[1], junk, sizeof(junk)) < 0)
			break;
	}
	assert_int_equal(fcntl(err[1], F_SETFL, 0), 0); /* full, blocking */
	assert_int_equal(pipe(kick), 0);
	alarm(20);
	negotiate(c);
	start_queue(c, 0, 0);
	send_u64(c, VHU_SET_VRING_CALL, 0, &call);
	send_u64(c, VHU_SET_VRING_ERR, 0, &err[1]);
	fe_pump(c->loop);
	/* Used buffers: the call fd is at its limit. */
	fake_dev_notify_queue(c->dev, 0);
	/* A broken device: the error fd is a full pipe. */
	c->dev->status |= VBACK_STATUS_NEEDS_RESET;
	fake_dev_notify_config(c->dev);
	/* Still serving. */
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);

	/* A kick pipe whose writer is gone: at end of file. */
	send_u64(c, VHU_SET_VRING_KICK, 0, &kick[0]);
	fe_pump(c->loop);
	close(kick[1]);
	kicks = c->dev->q[0].kicks;
	/* A spinning loop would run the kick's callback every round. */
	for (int i = 0; i < 200; i++) {
		int n = vback_loop_run_once(c->loop, 0);

		assert_true(n >= 0);
		ran += (unsigned int)n;
	}
	print_message("kick fd at EOF: %u callbacks, %u kicks in 200 loop "
		      "rounds\n",
		      ran, c->dev->q[0].kicks - kicks);
	assert_true(ran <= 2); /* the end of file, the control plane's close */
	assert_int_equal(c->dev->q[0].kicks, kicks);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);
	alarm(0);
	close(call);
	close(err[0]);
	close(err[1]);
	close(kick[0]);
}

/* Read guest memory the way the device does: through the transport's
 * view. */
static uint8_t guest_byte(struct ctx *c, uint64_t gpa)
{
	const struct vback_gm *gm = &c->dev->t.gm;
	uint64_t len = 1;
	volatile uint8_t *p =
		gm->ops->map(gm->opaque, gpa, &len, VBACK_GM_READ);

	assert_non_null((void *)(uintptr_t)p);
	return *p;
}

/*
 * A front-end shrinks a memory file it cannot seal (memfd created without
 * MFD_ALLOW_SEALING) under our mapping: the next access raises SIGBUS.
 * The process survives, the access reads zeroes, that front-end is
 * dropped, and the next one is served.
 */
static void test_shrunk_memory_file_caught(void **state)
{
	struct ctx *c = *state;
	struct vback_vhu_stats st;

	negotiate(c);
	start_queue(c, 0, 0);
	assert_int_equal(guest_byte(c, 5 * 4096), 5);
	assert_int_equal(fcntl(c->memfd, F_GET_SEALS) & F_SEAL_SHRINK, 0);
	assert_int_equal(ftruncate(c->memfd, 4096), 0);
	assert_int_equal(guest_byte(c, 5 * 4096), 0); /* SIGBUS, survived */
	fe_pump(c->loop);
	assert_false(vback_vhu_connected(c->vhu));
	vback_vhu_get_stats(c->vhu, &st);
	assert_int_equal(st.bad_messages, 1);
	close(c->fe.fd);
	connect_fe(c);
	assert_int_equal(ftruncate(c->memfd, MEM_SIZE), 0);
	negotiate(c);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);
	assert_true(vback_vhu_connected(c->vhu));
}

/* A memory file that takes seals is sealed against shrinking when it is
 * mapped: the front-end can no longer truncate it. */
static void test_sealable_memory_sealed(void **state)
{
	struct ctx *c = *state;
	int fd = memfd_create("sealable", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MEM_SIZE), 0);
	assert_int_equal(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK, 0);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_FEATURES),
			 DEV_FEATURES | (1ull << VHU_F_PROTOCOL_FEATURES));
	send_mem_table(c, 0, fd, MEM_SIZE);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);
	assert_true(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK);
	assert_int_equal(ftruncate(fd, 4096), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, 2 * MEM_SIZE), 0); /* growing is fine */
	close(fd);
}

static void test_get_vring_base_waits_for_inflight(void **state)
{
	struct ctx *c = *state;
	struct vhu_hdr hdr;
	struct vhu_state st;
	uint64_t v = 1;

	negotiate(c);
	c->dev->q[0].inflight_per_kick = 3;
	start_queue(c, 0, 10); /* the start kick takes 3 requests */
	assert_int_equal(c->dev->q[0].inflight, 3);
	send_state(c, VHU_GET_VRING_BASE, 0, 0, 0);
	fe_send(&c->fe, VHU_GET_QUEUE_NUM, VHU_VERSION, NULL, 0, NULL, 0);
	/* No answer while requests are in flight, nor to what follows. */
	assert_true(fe_silent(&c->fe));
	assert_true(c->dev->q[0].stopped);
	fake_dev_complete(c->dev, 0);
	assert_int_equal(fe_recv(&c->fe, &hdr, &st, sizeof(st)), 0);
	assert_int_equal(hdr.request, VHU_GET_VRING_BASE);
	assert_int_equal(st.index, 0);
	assert_int_equal(st.num, 13);
	assert_int_equal(fe_recv(&c->fe, &hdr, &v, sizeof(v)), 0);
	assert_int_equal(hdr.request, VHU_GET_QUEUE_NUM);
	assert_false(c->dev->q[0].enabled);
	/* Stopped: kicks no longer reach the device. */
	v = 1;
	assert_int_equal(write(c->kick[0], &v, sizeof(v)), sizeof(v));
	fe_pump(c->loop);
	assert_int_equal(c->dev->q[0].kicks, 1);
	/* Restart from the saved base with a new kick fd (the kick sent
	 * while stopped is consumed here, not replayed). */
	assert_int_equal(read(c->kick[0], &v, sizeof(v)), sizeof(v));
	send_u64(c, VHU_SET_VRING_KICK, 0, &c->kick[0]);
	fe_pump(c->loop);
	assert_true(c->dev->q[0].enabled);
	assert_int_equal(c->dev->q[0].last_avail, 13 + 3);
}

/* A bad message: the connection closes, the process and transport live. */
static void expect_dropped(struct ctx *c)
{
	struct vback_vhu_stats before, after;

	vback_vhu_get_stats(c->vhu, &before);
	assert_true(fe_closed(&c->fe));
	assert_false(vback_vhu_connected(c->vhu));
	vback_vhu_get_stats(c->vhu, &after);
	assert_int_equal(after.bad_messages, before.bad_messages + 1);
	close(c->fe.fd);
	/* The next front-end is served. */
	connect_fe(c);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);
}

static void test_bad_messages(void **state)
{
	struct ctx *c = *state;
	struct vback_vhu_stats st;
	uint64_t u = 0;
	int small = memfd_create("small", MFD_CLOEXEC);

	assert_int_equal(ftruncate(small, 4096), 0);

	send_u64(c, VHU_SET_FEATURES, 1ull << 40, NULL); /* never offered */
	expect_dropped(c);
	send_u64(c, VHU_SET_PROTOCOL_FEATURES, 1ull << 14, NULL);
	expect_dropped(c);
	send_state(c, VHU_SET_VRING_NUM, 0, 5, 64); /* no queue 5 */
	expect_dropped(c);
	send_state(c, VHU_SET_VRING_NUM, 0, 0, 100); /* not a power of 2 */
	expect_dropped(c);
	send_state(c, VHU_SET_VRING_NUM, 0, 0, 512); /* above the max */
	expect_dropped(c);
	send_state(c, VHU_SET_VRING_BASE, 0, 0, 0x10000);
	expect_dropped(c);
	send_state(c, VHU_SET_VRING_ENABLE, 0, 0, 2);
	expect_dropped(c);
	fe_send(&c->fe, VHU_GET_FEATURES, VHU_VERSION, &u, sizeof(u), NULL, 0);
	expect_dropped(c);
	fe_send(&c->fe, 99, VHU_VERSION, NULL, 0, NULL, 0);
	expect_dropped(c);
	send_u64(c, VHU_SET_VRING_KICK, VHU_VRING_NOFD, NULL); /* polling */
	expect_dropped(c);
	send_u64(c, VHU_SET_VRING_CALL, 0, NULL); /* fd missing */
	expect_dropped(c);
	send_mem_table(c, 0, small, MEM_SIZE); /* past the end of the fd */
	expect_dropped(c);
	{
		struct vhu_mem m = { .nregions = 2 };
		int fds[2] = { c->memfd, c->memfd };

		m.regions[0] = (struct vhu_region){ 0, 0x10000, UADDR, 0 };
		m.regions[1] = (struct vhu_region){ 0x8000, 0x10000,
						    UADDR + 0x100000, 0 };
		fe_send(&c->fe, VHU_SET_MEM_TABLE, VHU_VERSION, &m,
			offsetof(struct vhu_mem, regions) +
				2 * sizeof(m.regions[0]),
			fds, 2);
		expect_dropped(c);
	}
	{
		struct vhu_config cfg = { .offset = 0, .size = 4, .flags = 2 };

		fe_send(&c->fe, VHU_SET_CONFIG, VHU_VERSION, &cfg,
			VHU_CONFIG_HDR + 4, NULL, 0);
		expect_dropped(c);
	}
	/* A u64 request whose header says no payload. */
	fe_send(&c->fe, VHU_SET_FEATURES, VHU_VERSION, NULL, 0, NULL, 0);
	expect_dropped(c);
	vback_vhu_get_stats(c->vhu, &st);
	assert_int_equal(st.bad_messages, 15);
	assert_int_equal(st.connections, 16);
	close(small);
}

/* A message cut short by the front-end going away (half its payload,
 * then end of file): a disconnect, not a protocol violation; nothing of
 * it is applied and the next front-end is served. */
static void test_message_cut_short(void **state)
{
	struct ctx *c = *state;
	struct vhu_hdr hdr = { VHU_SET_FEATURES, VHU_VERSION, 8 };
	struct vback_vhu_stats st;
	uint32_t half = 1;

	assert_int_equal(write(c->fe.fd, &hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(write(c->fe.fd, &half, sizeof(half)), sizeof(half));
	assert_int_equal(shutdown(c->fe.fd, SHUT_WR), 0);
	assert_true(fe_closed(&c->fe));
	assert_false(vback_vhu_connected(c->vhu));
	vback_vhu_get_stats(c->vhu, &st);
	assert_int_equal(st.bad_messages, 0);
	assert_int_equal(c->dev->driver_features, 0);
	close(c->fe.fd);
	connect_fe(c);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);
}

static void test_reply_ack(void **state)
{
	struct ctx *c = *state;
	struct vhu_config cfg = { .offset = 32, .size = 1 };
	struct vhu_hdr hdr;
	uint64_t v = 99;

	negotiate(c);
	send_state(c, VHU_SET_VRING_NUM, VHU_FLAG_NEED_REPLY, 0, 64);
	assert_int_equal(fe_recv(&c->fe, &hdr, &v, sizeof(v)), 0);
	assert_int_equal(hdr.request, VHU_SET_VRING_NUM);
	assert_int_equal(hdr.flags, VHU_VERSION | VHU_FLAG_REPLY);
	assert_int_equal(v, 0);
	/* A device-side failure is reported, the connection kept. */
	c->dev->config_write_ret = -EIO;
	fe_send(&c->fe, VHU_SET_CONFIG, VHU_VERSION | VHU_FLAG_NEED_REPLY, &cfg,
		VHU_CONFIG_HDR + 1, NULL, 0);
	assert_int_equal(fe_recv(&c->fe, &hdr, &v, sizeof(v)), 0);
	assert_int_equal(v, 1);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);
	/* Without NEED_REPLY: silence. */
	send_state(c, VHU_SET_VRING_NUM, 0, 0, 64);
	assert_true(fe_silent(&c->fe));
}

static void test_config(void **state)
{
	struct ctx *c = *state;
	struct vhu_config cfg = { 0 }, got;
	struct vhu_hdr hdr;

	negotiate(c);
	/* The request's payload is garbage: the reply must not echo it. */
	memset(cfg.data, 0xee, sizeof(cfg.data));
	cfg.size = 72; /* larger than the device's 60 bytes */
	fe_send(&c->fe, VHU_GET_CONFIG, VHU_VERSION, &cfg, VHU_CONFIG_HDR + 72,
		NULL, 0);
	assert_int_equal(fe_recv(&c->fe, &hdr, &got, sizeof(got)), 0);
	assert_int_equal(hdr.size, VHU_CONFIG_HDR + 72);
	assert_int_equal(got.size, 72);
	assert_memory_equal(got.data, c->dev->config, FAKE_CONFIG_SIZE);
	for (unsigned int i = FAKE_CONFIG_SIZE; i < 72; i++)
		assert_int_equal(got.data[i], 0);
	cfg.offset = 8;
	cfg.size = 4;
	fe_send(&c->fe, VHU_GET_CONFIG, VHU_VERSION, &cfg, VHU_CONFIG_HDR + 4,
		NULL, 0);
	assert_int_equal(fe_recv(&c->fe, &hdr, &got, sizeof(got)), 0);
	assert_int_equal(got.offset, 8);
	assert_memory_equal(got.data, c->dev->config + 8, 4);
	/* Writes go to the device (the cache-mode byte of virtio-blk). */
	cfg.offset = 32;
	cfg.size = 1;
	cfg.data[0] = 0x01;
	fe_send(&c->fe, VHU_SET_CONFIG, VHU_VERSION, &cfg, VHU_CONFIG_HDR + 1,
		NULL, 0);
	fe_pump(c->loop);
	assert_int_equal(c->dev->config[32], 0x01);
}

static void test_config_change_message(void **state)
{
	struct ctx *c = *state;
	struct vback_vhu_stats st;
	struct vhu_hdr hdr;
	int sv[2];

	negotiate(c);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	fe_send(&c->fe, VHU_SET_BACKEND_REQ_FD, VHU_VERSION, NULL, 0, &sv[0],
		1);
	close(sv[0]);
	fe_pump(c->loop);
	fake_dev_notify_config(c->dev); /* e.g. the disk was resized */
	assert_int_equal(recv(sv[1], &hdr, sizeof(hdr), MSG_DONTWAIT),
			 sizeof(hdr));
	assert_int_equal(hdr.request, VHU_BACKEND_CONFIG_CHANGE_MSG);
	assert_int_equal(hdr.size, 0);
	assert_int_equal(hdr.flags & VHU_VERSION_MASK, VHU_VERSION);
	vback_vhu_get_stats(c->vhu, &st);
	assert_int_equal(st.config_changes, 1);
	close(sv[1]);
}

static void test_disconnect_drains_then_idle(void **state)
{
	struct ctx *c = *state;
	unsigned int resets;
	int sv[2];

	negotiate(c);
	c->dev->q[1].inflight_per_kick = 2;
	start_queue(c, 1, 0);
	assert_int_equal(c->dev->q[1].inflight, 2);
	resets = c->dev->resets;
	close(c->fe.fd);
	c->fe.fd = -1;
	fe_pump(c->loop);
	assert_int_equal(c->events[VBACK_VHU_DISCONNECTED], 1);
	assert_int_equal(c->events[VBACK_VHU_IDLE], 0);
	assert_true(vback_vhu_draining(c->vhu));
	assert_int_equal(c->dev->resets, resets); /* IO still writing */
	/* Nobody new until the old IO has drained. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(vback_vhu_serve_fd(c->vhu, sv[0]), -EBUSY);
	close(sv[1]);
	fake_dev_complete(c->dev, 1);
	/* Acted upon from the loop, not inside the device's callback. */
	assert_int_equal(c->events[VBACK_VHU_IDLE], 0);
	fe_pump(c->loop);
	assert_int_equal(c->events[VBACK_VHU_IDLE], 1);
	assert_int_equal(c->dev->resets, resets + 1);
	assert_false(vback_vhu_draining(c->vhu));
	connect_fe(c);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);
}

/* The event callback may destroy the transport and the device at once. */
static void test_destroy_from_event(void **state)
{
	struct ctx *c = *state;
	char buf[1];

	/* The front-end leaves: IDLE would follow in the same frame, but
	 * nothing is reported (or touched) after the destroy. */
	negotiate(c);
	start_queue(c, 0, 0);
	c->destroy_on = VBACK_VHU_DISCONNECTED;
	close(c->fe.fd);
	c->fe.fd = -1;
	fe_pump(c->loop);
	assert_null(c->vhu);
	assert_string_equal(c->order, "12");
	assert_int_equal(c->events[VBACK_VHU_IDLE], 0);

	/* CONNECTED, from inside vback_vhu_serve_fd(). */
	memset(c->order, 0, sizeof(c->order));
	c->dev = fake_dev_new(2);
	c->vhu = make_vhu(c, NULL);
	c->destroy_on = VBACK_VHU_CONNECTED;
	connect_fe(c);
	assert_null(c->vhu);
	assert_string_equal(c->order, "1");
	/* The connection was closed with the transport. */
	assert_int_equal(read(c->fe.fd, buf, sizeof(buf)), 0);

	/* IDLE, from inside vback_vhu_disconnect(). */
	memset(c->order, 0, sizeof(c->order));
	close(c->fe.fd);
	c->dev = fake_dev_new(2);
	c->vhu = make_vhu(c, NULL);
	c->destroy_on = VBACK_VHU_IDLE;
	connect_fe(c);
	vback_vhu_disconnect(c->vhu);
	assert_null(c->vhu);
	assert_string_equal(c->order, "123");
}

/* Events caused from inside the callback come after it, in order. */
static void test_events_not_reentrant(void **state)
{
	struct ctx *c = *state;

	c->serve_on = VBACK_VHU_IDLE;
	close(c->fe.fd);
	c->fe.fd = -1;
	fe_pump(c->loop);
	/* on_event() asserts it is never entered twice. */
	assert_string_equal(c->order, "1231");
	assert_true(vback_vhu_connected(c->vhu));
	c->fe.fd = c->spare_fe;
	c->spare_fe = -1;
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);
}

static void test_mem_table_while_running(void **state)
{
	struct ctx *c = *state;
	struct vhu_hdr hdr;
	uint64_t v = 99;

	negotiate(c);
	c->dev->q[0].inflight_per_kick = 1;
	start_queue(c, 0, 0);
	assert_int_equal(c->dev->q[0].enables, 1);
	/* New table while a request is in flight: wait, swap, restart. */
	send_mem_table(c, VHU_FLAG_NEED_REPLY, c->memfd, MEM_SIZE / 2);
	assert_true(fe_silent(&c->fe));
	c->dev->q[0].inflight_per_kick = 0;
	fake_dev_complete(c->dev, 0);
	assert_int_equal(fe_recv(&c->fe, &hdr, &v, sizeof(v)), 0);
	assert_int_equal(hdr.request, VHU_SET_MEM_TABLE);
	assert_int_equal(v, 0);
	assert_true(c->dev->q[0].enabled);
	assert_int_equal(c->dev->q[0].enables, 2);
	assert_int_equal(c->dev->q[0].last_avail, 1);
	/* The device's view is the new table: 512 KiB. */
	{
		uint64_t len = 16;
		const uint8_t *p =
			c->dev->t.gm.ops->map(c->dev->t.gm.opaque, 0x41000,
					      &len, VBACK_GM_READ);

		assert_non_null(p);
		assert_int_equal(p[0], 0x41);
		len = 1;
		assert_null(c->dev->t.gm.ops->map(c->dev->t.gm.opaque,
						  MEM_SIZE / 2, &len,
						  VBACK_GM_WRITE));
	}
}

static void test_listen_socket(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/vhu-test.XXXXXX";
	struct vback_vhu *lvhu;
	struct vback_dev *dev2 = fake_dev_new(1);
	struct ctx c2 = *c;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	c2.dev = dev2;
	memset(c2.events, 0, sizeof(c2.events));
	lvhu = make_vhu(&c2, sa.sun_path);
	assert_int_equal(stat(sa.sun_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* A second daemon on the same path does not steal the socket. */
	{
		struct vback_dev *dev3 = fake_dev_new(1);
		struct vback_vhu_options o = { .dev = dev3,
					       .loop = c->loop,
					       .socket_path = sa.sun_path,
					       .log = &c->log };
		struct vback_vhu *v3 = NULL;

		assert_int_equal(vback_vhu_create(&o, &v3), -EADDRINUSE);
		assert_null(v3);
		fake_dev_free(dev3);
	}
	for (int round = 0; round < 2; round++) {
		struct fe fe = { .loop = c->loop };

		fe.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(fe.fd, (struct sockaddr *)&sa,
					 sizeof(sa)),
				 0);
		assert_int_equal(fe_get_u64(&fe, VHU_GET_QUEUE_NUM), 1);
		assert_true(vback_vhu_connected(lvhu));
		close(fe.fd);
		fe_pump(c->loop);
		assert_false(vback_vhu_connected(lvhu));
	}
	/* Two front-ends, and the second daemon's probe (connect, close). */
	assert_int_equal(c2.events[VBACK_VHU_CONNECTED], 3);
	assert_int_equal(c2.events[VBACK_VHU_IDLE], 3);
	vback_vhu_destroy(lvhu);
	assert_int_equal(stat(sa.sun_path, &st), -1); /* removed */
	/* A stale socket (nobody listening) is replaced. */
	{
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)),
				 0);
		close(fd);
		lvhu = make_vhu(&c2, sa.sun_path);
		vback_vhu_destroy(lvhu);
	}
	fake_dev_free(dev2);
	rmdir(dir);
}

/* Garbage in any order: dropped connections, never a crash or a hang. */
static void test_random_messages(void **state)
{
	struct ctx *c = *state;
	unsigned int seed = 12345;
	struct vback_vhu_stats st;
	uint8_t payload[300];
	int fds[2] = { c->kick[0], c->memfd };

	/* Well-formed shapes with random contents, sometimes broken. */
	static const struct {
		uint32_t req, size, nfds;
	} shapes[] = {
		{ VHU_GET_FEATURES, 0, 0 },
		{ VHU_SET_FEATURES, 8, 0 },
		{ VHU_SET_OWNER, 0, 0 },
		{ VHU_RESET_OWNER, 0, 0 },
		{ VHU_SET_MEM_TABLE, 40, 1 },
		{ VHU_SET_VRING_NUM, 8, 0 },
		{ VHU_SET_VRING_ADDR, 40, 0 },
		{ VHU_SET_VRING_BASE, 8, 0 },
		{ VHU_GET_VRING_BASE, 8, 0 },
		{ VHU_SET_VRING_KICK, 8, 1 },
		{ VHU_SET_VRING_CALL, 8, 1 },
		{ VHU_SET_VRING_ERR, 8, 1 },
		{ VHU_GET_PROTOCOL_FEATURES, 0, 0 },
		{ VHU_SET_PROTOCOL_FEATURES, 8, 0 },
		{ VHU_GET_QUEUE_NUM, 0, 0 },
		{ VHU_SET_VRING_ENABLE, 8, 0 },
		{ VHU_GET_CONFIG, 24, 0 },
		{ VHU_SET_CONFIG, 14, 0 },
		{ VHU_RESET_DEVICE, 0, 0 },
		{ VHU_GET_INFLIGHT_FD, 24, 0 },
		{ VHU_SET_INFLIGHT_FD, 24, 1 },
	};

	for (int i = 0; i < 600; i++) {
		unsigned int k = (unsigned int)rand_r(&seed) %
				 (sizeof(shapes) / sizeof(shapes[0]));
		uint32_t req = shapes[k].req;
		uint32_t size = shapes[k].size;
		unsigned int nfds = shapes[k].nfds;
		uint32_t flags = VHU_VERSION |
				 (rand_r(&seed) % 2 ? VHU_FLAG_NEED_REPLY : 0);
		int r = rand_r(&seed) % 10;

		for (uint32_t b = 0; b < sizeof(payload); b++)
			payload[b] = (uint8_t)rand_r(&seed);
		if (r < 6) {
			/* Small indexes, sizes and counts, plausible bits. */
			payload[0] = (uint8_t)(payload[0] % 3);
			memset(payload + 1, 0, 3);
			if (req == VHU_SET_MEM_TABLE ||
			    req == VHU_SET_VRING_NUM ||
			    req == VHU_SET_VRING_ENABLE) {
				memset(payload + 4, 0, 4);
				payload[4] =
					(uint8_t)(1u << (rand_r(&seed) % 9));
				if (req == VHU_SET_MEM_TABLE)
					payload[0] = 1;
			}
			if (req == VHU_GET_CONFIG || req == VHU_SET_CONFIG) {
				memset(payload, 0, 12);
				payload[0] = (uint8_t)(rand_r(&seed) % 64);
				payload[4] = (uint8_t)(size - VHU_CONFIG_HDR);
			}
		} else if (r == 6) {
			size = (uint32_t)(rand_r(&seed) % 300);
		} else if (r == 7) {
			nfds = (unsigned int)(rand_r(&seed) % 3);
		} else if (r == 8) {
			req = (uint32_t)(rand_r(&seed) % 64);
		}
		fe_send(&c->fe, req, flags, payload, size, fds, nfds);
		fe_pump(c->loop);
		if (!vback_vhu_connected(c->vhu)) {
			close(c->fe.fd);
			connect_fe(c);
			continue;
		}
		/* Drain whatever replies came. */
		while (!fe_silent(&c->fe)) {
			char buf[512];

			if (recv(c->fe.fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
				break;
		}
	}
	/* Both paths were exercised: handled requests and dropped ones. */
	vback_vhu_get_stats(c->vhu, &st);
	print_message("random: %llu handled, %llu dropped\n",
		      (unsigned long long)st.messages,
		      (unsigned long long)st.bad_messages);
	assert_true(st.messages > 20);
	assert_true(st.bad_messages > 20);
	/* Still serving. */
	close(c->fe.fd);
	fe_pump(c->loop);
	assert_false(vback_vhu_connected(c->vhu));
	connect_fe(c);
	assert_int_equal(fe_get_u64(&c->fe, VHU_GET_QUEUE_NUM), 2);
}

/* ------------------------------------------------------------------ */
/* INFLIGHT_SHMFD                                                      */
/* ------------------------------------------------------------------ */

#define F_INFLIGHT (1ull << VHU_PROTOCOL_F_INFLIGHT_SHMFD)
/* One record of a 128-entry ring, rounded up to 64 bytes. */
#define STRIDE_128 2112u

static void negotiate_inflight(struct ctx *c)
{
	assert_true(fe_get_u64(&c->fe, VHU_GET_PROTOCOL_FEATURES) & F_INFLIGHT);
	send_u64(c, VHU_SET_PROTOCOL_FEATURES, PROTO | F_INFLIGHT, NULL);
	send_u64(c, VHU_SET_FEATURES,
		 DEV_FEATURES | (1ull << VHU_F_PROTOCOL_FEATURES), NULL);
	send_mem_table(c, 0, c->memfd, MEM_SIZE);
}

/* GET_INFLIGHT_FD of @size bytes: the reply's description and fd. */
static int get_inflight(struct ctx *c, uint16_t nq, uint16_t qs, uint32_t size,
			struct vhu_inflight *r)
{
	struct vhu_inflight d = { .num_queues = nq, .queue_size = qs };
	struct vhu_hdr hdr;
	int fd;

	memset(r, 0xaa, sizeof(*r));
	fe_send(&c->fe, VHU_GET_INFLIGHT_FD, VHU_VERSION, &d, size, NULL, 0);
	assert_int_equal(fe_recv_fd(&c->fe, &hdr, r, sizeof(*r), &fd), 0);
	assert_int_equal(hdr.request, VHU_GET_INFLIGHT_FD);
	assert_int_equal(hdr.flags, VHU_VERSION | VHU_FLAG_REPLY);
	assert_int_equal(hdr.size, size);
	return fd;
}

static void set_inflight(struct ctx *c, int fd, uint64_t size, uint64_t off,
			 uint16_t nq, uint16_t qs)
{
	struct vhu_inflight d = { size, off, nq, qs };

	fe_send(&c->fe, VHU_SET_INFLIGHT_FD, VHU_VERSION, &d, sizeof(d), &fd,
		1);
}

/* A region for every queue, handed back: each started queue gets its own
 * record, inside the region, at its multiple of the stride. */
static void test_inflight_region(void **state)
{
	struct ctx *c = *state;
	struct vhu_inflight r;
	struct stat st;
	uint8_t *mine;
	int fd;

	negotiate_inflight(c);
	fd = get_inflight(c, 2, 128, sizeof(r), &r);
	assert_true(fd >= 0);
	assert_int_equal(r.mmap_size, 2 * STRIDE_128);
	assert_int_equal(r.mmap_offset, 0);
	assert_int_equal(r.num_queues, 2);
	assert_int_equal(r.queue_size, 128);
	/* Ours to keep: the front-end can neither shrink nor grow it. */
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 2 * STRIDE_128);
	assert_int_equal(fcntl(fd, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW),
			 F_SEAL_SHRINK | F_SEAL_GROW);
	assert_int_equal(ftruncate(fd, 0), -1);
	mine = mmap(NULL, r.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    0);
	assert_true(mine != MAP_FAILED);
	for (unsigned int i = 0; i < r.mmap_size; i++)
		assert_int_equal(mine[i], 0);
	mine[STRIDE_128] = 0x5a; /* a mark in queue 1's record */

	set_inflight(c, fd, r.mmap_size, 0, 2, 128);
	start_queue(c, 1, 0);
	start_queue(c, 0, 0);
	assert_true(c->dev->q[1].rec_at_enable);
	assert_int_equal(c->dev->q[1].rec_len, STRIDE_128);
	assert_int_equal(((uint8_t *)c->dev->q[1].rec)[0], 0x5a);
	assert_int_equal((uint8_t *)c->dev->q[1].rec -
				 (uint8_t *)c->dev->q[0].rec,
			 STRIDE_128);
	/* Stopped and started again: given again (a reset forgets it). */
	send_state(c, VHU_GET_VRING_BASE, 0, 1, 0);
	{
		struct vhu_hdr hdr;
		struct vhu_state s;

		assert_int_equal(fe_recv(&c->fe, &hdr, &s, sizeof(s)), 0);
	}
	assert_null(c->dev->q[1].rec);
	send_u64(c, VHU_SET_VRING_KICK, 1, &c->kick[1]);
	fe_pump(c->loop);
	assert_true(c->dev->q[1].enabled);
	assert_int_equal(c->dev->q[1].rec_sets, 2);

	/* The packed description (20 bytes) is answered in kind. */
	close(get_inflight(c, 1, 64, VHU_INFLIGHT_PACKED, &r));
	assert_int_equal(r.mmap_size, vhu_inflight_stride(64));
	assert_true(vback_vhu_connected(c->vhu));
	munmap(mine, 2 * STRIDE_128);
	close(fd);
}

/* Descriptions that cannot be served: no region (GET answers an empty
 * one, SET leaves the rings without records), one warning each, the
 * connection kept. */
static void test_inflight_refused(void **state)
{
	struct ctx *c = *state;
	static const uint16_t get_bad[][2] = {
		{ 0, 128 }, { 3, 128 }, { 2, 100 }, { 2, 512 }, { 2, 0 },
	};
	int big = memfd_create("region", MFD_CLOEXEC);
	int small = memfd_create("small", MFD_CLOEXEC);
	int efd = eventfd(0, EFD_CLOEXEC);
	struct vhu_inflight r;
	/* Each refused by its own check (mmap would refuse some anyway):
	 * the warning names it. */
	struct {
		int fd;
		uint64_t size, off;
		uint16_t nq, qs;
		const char *why;
	} set_bad[] = {
		{ big, STRIDE_128, 0, 2, 128, "region too small" },
		{ big, 2 * STRIDE_128, 100, 2, 128, "not page aligned" },
		{ small, 2 * STRIDE_128, 0, 2, 128,
		  "past the end of its file" },
		{ efd, 2 * STRIDE_128, 0, 2, 128, "not a memory file" },
		{ big, 2 * STRIDE_128, 0, 0, 128, "number of queues" },
		{ big, 2 * STRIDE_128, 0, 2, 96, "not a power of two" },
		/* Offset + size wraps, or passes what an off_t can hold. */
		{ big, UINT64_MAX, UINT64_MAX - 4095, 2, 128,
		  "beyond any file" },
		{ big, 2 * STRIDE_128, 1ull << 63, 2, 128, "beyond any file" },
	};

	assert_int_equal(ftruncate(big, 1 << 20), 0);
	assert_int_equal(ftruncate(small, 4096), 0);
	c->log.fn = count_warnings;
	negotiate_inflight(c);
	for (unsigned int i = 0; i < sizeof(get_bad) / sizeof(get_bad[0]);
	     i++) {
		warn_lines = 0;
		assert_int_equal(get_inflight(c, get_bad[i][0], get_bad[i][1],
					      sizeof(r), &r),
				 -1);
		assert_int_equal(r.mmap_size, 0);
		assert_int_equal(warn_lines, 1);
	}
	/* A new transport: each one may log 10 warnings per 5 s. */
	vback_vhu_destroy(c->vhu);
	close(c->fe.fd);
	c->vhu = make_vhu(c, NULL);
	connect_fe(c);
	negotiate_inflight(c);
	for (unsigned int i = 0; i < sizeof(set_bad) / sizeof(set_bad[0]);
	     i++) {
		warn_lines = 0;
		set_inflight(c, set_bad[i].fd, set_bad[i].size, set_bad[i].off,
			     set_bad[i].nq, set_bad[i].qs);
		fe_pump(c->loop);
		assert_true(vback_vhu_connected(c->vhu));
		assert_int_equal(warn_lines, 1);
		if (!strstr(last_warning, set_bad[i].why))
			fail_msg("case %u: \"%s\" does not say \"%s\"", i,
				 last_warning, set_bad[i].why);
	}
	start_queue(c, 0, 3);
	assert_true(c->dev->q[0].enabled);
	assert_false(c->dev->q[0].rec_at_enable);
	assert_int_equal(c->dev->q[0].last_avail, 3);
	/* A region for smaller rings than the one running: the ring stops
	 * for the swap and starts again without a record. */
	warn_lines = 0;
	set_inflight(c, big, 2 * vhu_inflight_stride(64), 0, 2, 64);
	fe_pump(c->loop);
	assert_int_equal(c->dev->q[0].enables, 2);
	assert_true(c->dev->q[0].enabled);
	assert_false(c->dev->q[0].rec_at_enable);
	assert_int_equal(warn_lines, 1);
	close(big);
	close(small);
	close(efd);
}

/* Shapes the protocol does not allow: the connection goes. */
static void test_inflight_bad_messages(void **state)
{
	struct ctx *c = *state;
	struct vhu_inflight d = { .num_queues = 1, .queue_size = 64 };
	int fd = memfd_create("region", MFD_CLOEXEC);

	/* Not negotiated. */
	fe_send(&c->fe, VHU_GET_INFLIGHT_FD, VHU_VERSION, &d, sizeof(d), NULL,
		0);
	expect_dropped(c);
	negotiate_inflight(c);
	fe_send(&c->fe, VHU_GET_INFLIGHT_FD, VHU_VERSION, &d, 16, NULL, 0);
	expect_dropped(c);
	negotiate_inflight(c);
	fe_send(&c->fe, VHU_GET_INFLIGHT_FD, VHU_VERSION, &d, sizeof(d), &fd,
		1);
	expect_dropped(c);
	negotiate_inflight(c);
	fe_send(&c->fe, VHU_SET_INFLIGHT_FD, VHU_VERSION, &d, sizeof(d), NULL,
		0);
	expect_dropped(c);
	close(fd);
}

/* no_inflight: not offered, and not accepted. */
static void test_inflight_off(void **state)
{
	struct ctx *c = *state;
	struct vback_vhu_options o = {
		.dev = c->dev,
		.loop = c->loop,
		.log = &c->log,
		.no_inflight = true,
	};

	vback_vhu_destroy(c->vhu);
	close(c->fe.fd);
	assert_int_equal(vback_vhu_create(&o, &c->vhu), 0);
	connect_fe(c);
	assert_false(fe_get_u64(&c->fe, VHU_GET_PROTOCOL_FEATURES) &
		     F_INFLIGHT);
	send_u64(c, VHU_SET_PROTOCOL_FEATURES, PROTO | F_INFLIGHT, NULL);
	assert_true(fe_closed(&c->fe));
}

/* Destroyed with requests in flight: the records are left as they are
 * (not emptied by the reset), for the next process to resubmit. */
static void test_inflight_kept_when_destroyed_busy(void **state)
{
	struct ctx *c = *state;
	struct vhu_inflight r;
	int fd;

	negotiate_inflight(c);
	fd = get_inflight(c, 2, 128, sizeof(r), &r);
	set_inflight(c, fd, r.mmap_size, 0, 2, 128);
	c->dev->q[0].inflight_per_kick = 2;
	start_queue(c, 0, 0);
	assert_true(c->dev->q[0].rec_at_enable);
	close(c->fe.fd);
	c->fe.fd = -1;
	fe_pump(c->loop);
	assert_true(vback_vhu_draining(c->vhu));
	vback_vhu_destroy(c->vhu);
	c->vhu = NULL;
	assert_int_equal(c->dev->q[0].rec_forgets, 1);
	close(fd);
}

static void test_create_errors(void **state)
{
	struct ctx *c = *state;
	struct vback_vhu_options o = { .dev = c->dev, .loop = c->loop };
	struct vback_vhu *vhu;
	char path[200];

	(void)state;
	/* The device already has a transport (the fixture's). */
	assert_int_equal(vback_vhu_create(&o, &vhu), -EBUSY);
	o.dev = NULL;
	assert_int_equal(vback_vhu_create(&o, &vhu), -EINVAL);
	o.dev = fake_dev_new(1);
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = 0;
	o.socket_path = path;
	assert_int_equal(vback_vhu_create(&o, &vhu), -ENAMETOOLONG);
	assert_false(o.dev->attached);
	/* Never replace something that is not a socket. */
	o.socket_path = "/dev/null";
	assert_int_equal(vback_vhu_create(&o, &vhu), -EEXIST);
	fake_dev_free(o.dev);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_handshake),
		T(test_start_translates_rings),
		T(test_ring_waits_for_enable),
		T(test_vring_enable_needs_protocol_features),
		T(test_ring_outside_memory_stays_off),
		T(test_kick_and_call),
		T(test_peer_fds_never_block),
		T(test_shrunk_memory_file_caught),
		T(test_sealable_memory_sealed),
		T(test_get_vring_base_waits_for_inflight),
		T(test_bad_messages),
		T(test_message_cut_short),
		T(test_reply_ack),
		T(test_config),
		T(test_config_change_message),
		T(test_disconnect_drains_then_idle),
		T(test_destroy_from_event),
		T(test_events_not_reentrant),
		T(test_mem_table_while_running),
		T(test_listen_socket),
		T(test_random_messages),
		T(test_inflight_region),
		T(test_inflight_refused),
		T(test_inflight_bad_messages),
		T(test_inflight_off),
		T(test_inflight_kept_when_destroyed_busy),
		T(test_create_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
