/* SPDX-License-Identifier: MIT */
/*
 * vback-disk's vhost-user mode (examples/vback-disk/vhu_daemon.c, the
 * daemon's own sources) with real image files and scripted front-ends on
 * its sockets (tests/vhost-user/frontend.c) that play QEMU and the guest
 * driver: several disks in one process, a front-end that sends garbage
 * and loses only its own connection, disks added and removed through the
 * control commands, per-queue counters in the list, SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <setjmp.h>
#include <signal.h>
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

#include "ctl.h"
#include "frontend.h"
#include "options.h"
#include "protocol.h"
#include "vhu_daemon.h"

#define MEM_SIZE (1u << 20)
#define UADDR	 0x7f1234000000ull
#define QSIZE	 8
#define NQ	 2
/* Guest-physical layout, per queue (q * QAREA). */
#define QAREA	 0x10000u
#define DESC	 0x0000u
#define AVAIL	 0x1000u
#define USED	 0x2000u
#define HDR	 0x3000u
#define STATUS	 0x3800u
#define DATA	 0x4000u
#define IMG_SIZE (1u << 20)

struct guest {
	struct fe fe;
	int memfd, kick[NQ], call[NQ];
	uint8_t *mem;
	uint16_t avail_idx[NQ];
};

struct t {
	char dir[64];
	struct vback_loop *loop;
	struct vback_log log;
	struct vback_disk_options opts;
	struct vhu_daemon *vd;
	unsigned int errors;
	char last_error[256];
	char lines[8192]; /* every log line, one per line, as room allows */
};

static void sink(void *opaque, enum vback_log_level level, const char *msg)
{
	struct t *t = opaque;

	if (getenv("VBACK_TEST_LOG"))
		fprintf(stderr, "log: %s\n", msg);
	{
		size_t used = strlen(t->lines);

		snprintf(t->lines + used, sizeof(t->lines) - used, "%s\n", msg);
	}
	if (level <= VBACK_LOG_ERR) {
		t->errors++;
		snprintf(t->last_error, sizeof(t->last_error), "%s", msg);
	}
}

static char *path(struct t *t, const char *name)
{
	static char buf[4][128];
	static unsigned int n;
	char *p = buf[n++ % 4];

	snprintf(p, 128, "%s/%s", t->dir, name);
	return p;
}

static void make_image(struct t *t, const char *name)
{
	int fd = open(path(t, name), O_CREAT | O_RDWR | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
}

static bool exists(struct t *t, const char *name)
{
	return access(path(t, name), F_OK) == 0;
}

/* Parse @args (NULL-terminated, without argv[0]) into t->opts. */
static void options(struct t *t, const char *const *args)
{
	char *argv[32];
	int argc = 0;

	argv[argc++] = (char *)(uintptr_t) "vback-disk";
	while (*args)
		argv[argc++] = (char *)(uintptr_t)*args++;
	argv[argc] = NULL;
	assert_int_equal(vback_disk_parse_options(argc, argv, &t->opts),
			 VBACK_DISK_RUN);
	t->opts.engine = VBACK_IO_ENGINE_POSIX;
}

#define OPTIONS(t, ...) options(t, (const char *const[]){ __VA_ARGS__, NULL })

static int start(struct t *t)
{
	struct vhu_daemon_env env = {
		.opts = &t->opts,
		.log = &t->log,
		.loop = t->loop,
		.drain_timeout_ms = 2000,
	};

	/* As vhost_user_mode.c does: the loop polls (--poll-us). */
	assert_int_equal(vback_epoll_loop_set_poll(t->loop,
						   (uint64_t)t->opts.poll_us *
							   1000u),
			 0);
	return vhu_daemon_create(&env, &t->vd);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/vback-vhud.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	t->log = (struct vback_log){ .fn = sink,
				     .opaque = t,
				     .max_level = VBACK_LOG_DEBUG };
	assert_int_equal(vback_epoll_loop_create(&t->log, &t->loop), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	char cmd[128];

	vhu_daemon_destroy(t->vd);
	vback_epoll_loop_destroy(t->loop);
	vback_disk_options_free(&t->opts);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

static void pump(struct t *t)
{
	fe_pump(t->loop);
}

/* ------------------------------------------------------------------ */
/* A front-end and its guest                                           */
/* ------------------------------------------------------------------ */

static int dial(struct t *t, const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path(t, sock));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_u64(struct guest *g, uint32_t req, uint64_t v, const int *fd)
{
	fe_send(&g->fe, req, VHU_VERSION, &v, sizeof(v), fd, fd ? 1 : 0);
}

static void send_state(struct guest *g, uint32_t req, uint32_t index,
		       uint32_t num)
{
	struct vhu_state s = { index, num };

	fe_send(&g->fe, req, VHU_VERSION, &s, sizeof(s), NULL, 0);
}

/* Connect to @sock and do what QEMU does when the guest driver is ready:
 * memory table, NQ rings, enable. */
static void guest_start(struct t *t, struct guest *g, const char *sock)
{
	struct vhu_mem m = { .nregions = 1 };
	uint64_t features;

	memset(g, 0, sizeof(*g));
	g->fe = (struct fe){ .fd = dial(t, sock), .loop = t->loop };
	g->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_int_equal(ftruncate(g->memfd, MEM_SIZE), 0);
	g->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->memfd, 0);
	assert_true(g->mem != MAP_FAILED);
	features = fe_get_u64(&g->fe, VHU_GET_FEATURES);
	assert_true(features & (1ull << VIRTIO_BLK_F_MQ));
	send_u64(g, VHU_SET_PROTOCOL_FEATURES, 1ull << VHU_PROTOCOL_F_CONFIG,
		 NULL);
	send_u64(g, VHU_SET_FEATURES,
		 (1ull << 32) | (1ull << VIRTIO_BLK_F_FLUSH) |
			 (1ull << VIRTIO_BLK_F_MQ) |
			 (1ull << VHU_F_PROTOCOL_FEATURES),
		 NULL);
	m.regions[0] = (struct vhu_region){ 0, MEM_SIZE, UADDR, 0 };
	fe_send(&g->fe, VHU_SET_MEM_TABLE, VHU_VERSION, &m,
		offsetof(struct vhu_mem, regions) + sizeof(m.regions[0]),
		&g->memfd, 1);
	for (unsigned int q = 0; q < NQ; q++) {
		uint64_t base = UADDR + q * QAREA;
		struct vhu_addr a = {
			.index = q,
			.desc = base + DESC,
			.avail = base + AVAIL,
			.used = base + USED,
		};

		g->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		g->call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		send_state(g, VHU_SET_VRING_NUM, q, QSIZE);
		send_state(g, VHU_SET_VRING_BASE, q, 0);
		fe_send(&g->fe, VHU_SET_VRING_ADDR, VHU_VERSION, &a, sizeof(a),
			NULL, 0);
		send_u64(g, VHU_SET_VRING_KICK, q, &g->kick[q]);
		send_u64(g, VHU_SET_VRING_CALL, q, &g->call[q]);
		send_state(g, VHU_SET_VRING_ENABLE, q, 1);
	}
	fe_pump(t->loop);
}

static void guest_stop(struct guest *g)
{
	close(g->fe.fd);
	munmap(g->mem, MEM_SIZE);
	close(g->memfd);
	for (unsigned int q = 0; q < NQ; q++) {
		close(g->kick[q]);
		close(g->call[q]);
	}
}

static void set_desc(struct guest *g, unsigned int q, uint16_t i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = {
		.addr = addr, .len = len, .flags = flags, .next = next
	};

	memcpy(g->mem + q * QAREA + DESC + i * sizeof(d), &d, sizeof(d));
}

static uint16_t used_idx(struct guest *g, unsigned int q)
{
	uint16_t v;

	__atomic_load((uint16_t *)(void *)(g->mem + q * QAREA + USED +
					   offsetof(struct vring_used, idx)),
		      &v, __ATOMIC_ACQUIRE);
	return v;
}

/* One 4 KiB request on queue @q: the status, or -ETIMEDOUT. */
static int request(struct t *t, struct guest *g, unsigned int q, uint32_t type,
		   uint64_t sector, bool to_device)
{
	uint32_t area = q * QAREA;
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	uint16_t *ring =
		(uint16_t *)(void *)(g->mem + area + AVAIL +
				     offsetof(struct vring_avail, ring));
	uint16_t want = (uint16_t)(used_idx(g, q) + 1);
	uint16_t head = (uint16_t)((g->avail_idx[q] * 3) % QSIZE);
	uint64_t v = 1;

	memcpy(g->mem + area + HDR, &h, sizeof(h));
	g->mem[area + STATUS] = 0xff;
	set_desc(g, q, head, area + HDR, sizeof(h), VRING_DESC_F_NEXT,
		 (head + 1) % QSIZE);
	set_desc(g, q, (head + 1) % QSIZE, area + DATA, 4096,
		 VRING_DESC_F_NEXT | (to_device ? 0 : VRING_DESC_F_WRITE),
		 (head + 2) % QSIZE);
	set_desc(g, q, (head + 2) % QSIZE, area + STATUS, 1, VRING_DESC_F_WRITE,
		 0);
	ring[g->avail_idx[q] % QSIZE] = head;
	g->avail_idx[q]++;
	__atomic_store_n((uint16_t *)(void *)(g->mem + area + AVAIL + 2),
			 g->avail_idx[q], __ATOMIC_RELEASE);
	assert_int_equal(write(g->kick[q], &v, sizeof(v)), sizeof(v));
	for (int i = 0; i < 2500 && used_idx(g, q) != want; i++)
		vback_loop_run_once(t->loop, 2);
	if (used_idx(g, q) != want)
		return -ETIMEDOUT;
	return g->mem[area + STATUS];
}

static uint8_t *data(struct guest *g, unsigned int q)
{
	return g->mem + q * QAREA + DATA;
}

/* ------------------------------------------------------------------ */
/* Control commands, straight into the command layer                   */
/* ------------------------------------------------------------------ */

static struct json_value nodes[4096];
static char strings[1 << 20];
static const struct json_parser jp = {
	.nodes = nodes,
	.max_nodes = 4096,
	.strings = strings,
	.strings_size = sizeof(strings),
};
static char reply[1 << 19];
static bool replied;

static void pending_done(struct ctl_pending *p, const char *r, size_t len)
{
	(void)p;
	assert_true(len < sizeof(reply));
	memcpy(reply, r, len);
	reply[len] = '\0';
	replied = true;
}

/* The reply to @line, parsed (strings valid until the next call). */
static const struct json_value *ctl(struct t *t, const char *line)
{
	static struct ctl_pending p;
	static char copy[sizeof(reply)];
	const struct json_value *v;
	struct json_error err;
	struct jw w;

	memset(&p, 0, sizeof(p));
	jw_init(&p.result, 65536);
	p.done = pending_done;
	jw_init(&w, sizeof(reply) - 1);
	replied = false;
	if (ctl_handle_line(&vhu_daemon_ctl_ops, t->vd, &jp, line, strlen(line),
			    &w, &p) == CTL_REPLIED) {
		jw_free(&p.result);
		memcpy(reply, w.buf, w.len);
		reply[w.len] = '\0';
		replied = true;
	}
	jw_free(&w);
	for (int i = 0; i < 500 && !replied; i++)
		vback_loop_run_once(t->loop, 10);
	assert_true(replied);
	/* Parsing reuses the storage: keep the text apart. */
	strcpy(copy, reply);
	assert_int_equal(json_parse(&jp, copy, strlen(copy) - 1, &v, &err), 0);
	return v;
}

static const struct json_value *ok(const struct json_value *r)
{
	const struct json_value *v = json_get(r, "ok");

	if (!v)
		fail_msg("not ok: %s", reply);
	return v;
}

static int64_t error_code(const struct json_value *r)
{
	const struct json_value *e = json_get(r, "error");

	if (!e)
		fail_msg("not an error: %s", reply);
	return json_get(e, "code")->i;
}

static const struct json_value *disk_named(const struct json_value *list,
					   const char *name)
{
	for (const struct json_value *d = json_get(list, "disks")->child; d;
	     d = d->next)
		if (!strcmp(json_get(d, "name")->str, name))
			return d;
	fail_msg("no disk %s in %s", name, reply);
	return NULL;
}

static int64_t num(const struct json_value *obj, const char *key)
{
	const struct json_value *v = json_get(obj, key);

	if (!v || !v->is_int)
		fail_msg("no number %s in %s", key, reply);
	return v->i;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void test_two_disks_and_a_bad_front_end(void **state)
{
	struct t *t = *state;
	const struct json_value *list, *d, *q;
	struct guest a, b;
	uint8_t buf[4096];
	int fd, bad;
	char spec[256];

	make_image(t, "a.img");
	make_image(t, "b.img");
	snprintf(spec, sizeof(spec),
		 "socket=%s,image=%s,name=bee,ro,serial=SN-B,queues=4",
		 path(t, "b.sock"), path(t, "b.img"));
	OPTIONS(t, "--vhost-user", path(t, "a.sock"), "--image",
		path(t, "a.img"), "--disk", spec);
	assert_int_equal(start(t), 0);
	assert_int_equal(vhu_daemon_disks(t->vd), 2);
	assert_true(exists(t, "a.sock"));
	assert_true(exists(t, "b.sock"));

	/* Disk 0: a write on queue 0, read back on queue 1, in the file. */
	guest_start(t, &a, "a.sock");
	for (unsigned int i = 0; i < 4096; i++)
		data(&a, 0)[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(request(t, &a, 0, VIRTIO_BLK_T_OUT, 8, true),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(request(t, &a, 1, VIRTIO_BLK_T_IN, 8, false),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(data(&a, 1), data(&a, 0), 4096);
	fd = open(path(t, "a.img"), O_RDONLY);
	assert_int_equal(pread(fd, buf, sizeof(buf), 8 * 512), sizeof(buf));
	close(fd);
	assert_memory_equal(buf, data(&a, 0), 4096);

	/* Another front-end sends garbage to disk "bee": it is dropped,
	 * disk 0 goes on as if nothing happened. */
	bad = dial(t, "b.sock");
	{
		uint8_t junk[64];

		for (unsigned int i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(i * 37 + 11);
		assert_int_equal(send(bad, junk, sizeof(junk), MSG_NOSIGNAL),
				 sizeof(junk));
	}
	{
		struct fe fe = { .fd = bad, .loop = t->loop };
		ssize_t k;
		char c;

		/* Closed with our junk unread: a reset (or an EOF). */
		fe_pump(fe.loop);
		k = recv(bad, &c, 1, MSG_DONTWAIT);
		assert_true(k == 0 || (k < 0 && errno == ECONNRESET));
	}
	close(bad);
	assert_int_equal(request(t, &a, 0, VIRTIO_BLK_T_IN, 8, false),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(data(&a, 0), buf, 4096);

	/* bee takes the next front-end: read-only, its serial. */
	guest_start(t, &b, "b.sock");
	assert_int_equal(request(t, &b, 0, VIRTIO_BLK_T_OUT, 0, true),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(t, &b, 1, VIRTIO_BLK_T_GET_ID, 0, false),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(data(&b, 1), "SN-B", 5);

	/* The list says all of it. */
	list = ok(ctl(t, "{\"id\":1,\"cmd\":\"list\"}"));
	assert_string_equal(json_get(list, "mode")->str, "vhost-user");
	d = disk_named(list, "disk0");
	assert_string_equal(json_get(d, "state")->str, "connected");
	assert_int_equal(num(d, "queues_max"), 64);
	assert_int_equal(num(json_get(d, "totals"), "writes"), 1);
	assert_int_equal(num(json_get(d, "totals"), "reads"), 2);
	assert_int_equal(num(json_get(d, "totals"), "bytes_written"), 4096);
	q = json_get(d, "queues")->child;
	assert_int_equal(num(q, "queue"), 0);
	assert_int_equal(num(q, "writes"), 1);
	assert_int_equal(num(q, "reads"), 1);
	assert_true(num(q, "kicks") >= 2);
	assert_int_equal(num(q, "inflight"), 0);
	/* Two requests in the histogram of queue 0. */
	{
		int64_t n = 0;

		for (const struct json_value *b_ =
			     json_get(q, "latency")->child;
		     b_; b_ = b_->next)
			n += num(b_, "count");
		assert_int_equal(n, 2);
	}
	q = q->next;
	assert_int_equal(num(q, "queue"), 1);
	assert_int_equal(num(q, "reads"), 1);
	assert_null(q->next); /* the 62 unused queues are left out */
	d = disk_named(list, "bee");
	assert_true(json_get(d, "read_only")->b);
	assert_int_equal(num(d, "queues_max"), 4);
	assert_int_equal(num(json_get(d, "front_end"), "bad_messages"), 1);
	assert_int_equal(num(json_get(d, "front_end"), "connections"), 2);
	assert_int_equal(num(json_get(d, "totals"), "io_errors"), 1);
	assert_int_equal(num(json_get(d, "totals"), "get_ids"), 1);
	/* One disk by name. */
	list = ok(ctl(t, "{\"cmd\":\"list\",\"args\":{\"name\":\"bee\"}}"));
	assert_int_equal(json_get(list, "disks")->count, 1);
	assert_int_equal(error_code(ctl(t, "{\"cmd\":\"list\",\"args\":{"
					   "\"name\":\"nope\"}}")),
			 -ENOENT);
	guest_stop(&a);
	guest_stop(&b);
	pump(t);
	/* The transport's own error line for the bad front-end, no other. */
	assert_int_equal(t->errors, 1);
}

static void test_add_resize_remove(void **state)
{
	struct t *t = *state;
	const struct json_value *r;
	struct guest g;
	char line[512];

	make_image(t, "c.img");
	OPTIONS(t, "--transport", "vhost-user", "--control", path(t, "unused"));
	assert_int_equal(start(t), 0);
	assert_int_equal(vhu_daemon_disks(t->vd), 0);

	snprintf(line, sizeof(line),
		 "{\"id\":1,\"cmd\":\"add\",\"args\":{\"socket\":\"%s\","
		 "\"image\":\"%s\",\"queues\":2}}",
		 path(t, "c.sock"), path(t, "c.img"));
	r = ok(ctl(t, line));
	assert_string_equal(json_get(r, "name")->str, "disk0");
	assert_true(exists(t, "c.sock"));
	/* The same socket, or the same name, twice: refused. */
	assert_int_equal(error_code(ctl(t, line)), -EEXIST);
	snprintf(line, sizeof(line),
		 "{\"cmd\":\"add\",\"args\":{\"socket\":\"%s\","
		 "\"image\":\"%s\",\"name\":\"disk0\"}}",
		 path(t, "d.sock"), path(t, "c.img"));
	assert_int_equal(error_code(ctl(t, line)), -EEXIST);
	/* A bad name, an image that is not there: nothing is left. */
	snprintf(line, sizeof(line),
		 "{\"cmd\":\"add\",\"args\":{\"socket\":\"%s\","
		 "\"image\":\"%s\",\"name\":\"-x\"}}",
		 path(t, "d.sock"), path(t, "c.img"));
	assert_int_equal(error_code(ctl(t, line)), -EINVAL);
	snprintf(line, sizeof(line),
		 "{\"cmd\":\"add\",\"args\":{\"socket\":\"%s\","
		 "\"image\":\"%s\"}}",
		 path(t, "d.sock"), path(t, "none.img"));
	assert_int_equal(error_code(ctl(t, line)), -ENOENT);
	assert_false(exists(t, "d.sock"));
	assert_int_equal(vhu_daemon_disks(t->vd), 1);

	/* A front-end does IO; the image grows; resize tells. */
	guest_start(t, &g, "c.sock");
	assert_int_equal(request(t, &g, 1, VIRTIO_BLK_T_OUT, 0, true),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(truncate(path(t, "c.img"), 2 * IMG_SIZE), 0);
	r = ok(ctl(t, "{\"cmd\":\"resize\",\"args\":{\"name\":\"disk0\"}}"));
	assert_true(json_get(r, "changed")->b);
	assert_int_equal(num(r, "size"), 2 * IMG_SIZE);
	r = ok(ctl(t, "{\"cmd\":\"list\"}"));
	assert_int_equal(num(disk_named(r, "disk0"), "size"), 2 * IMG_SIZE);
	assert_int_equal(error_code(ctl(t, "{\"cmd\":\"resize\",\"args\":{"
					   "\"name\":\"x\"}}")),
			 -ENOENT);

	/* Remove with the front-end connected: it is dropped, the socket
	 * goes, the reply comes once all is closed. */
	r = ok(ctl(t, "{\"id\":9,\"cmd\":\"remove\",\"args\":{\"name\":"
		      "\"disk0\"}}"));
	assert_string_equal(json_get(r, "name")->str, "disk0");
	assert_true(json_get(r, "drained")->b);
	assert_true(json_get(r, "flushed")->b);
	assert_true(fe_closed(&g.fe));
	assert_false(exists(t, "c.sock"));
	assert_int_equal(vhu_daemon_disks(t->vd), 0);
	assert_int_equal(error_code(ctl(t, "{\"cmd\":\"remove\",\"args\":{"
					   "\"name\":\"disk0\"}}")),
			 -ENOENT);
	guest_stop(&g);
	/* Added again: a new name, the same socket path. */
	snprintf(line, sizeof(line),
		 "{\"cmd\":\"add\",\"args\":{\"socket\":\"%s\","
		 "\"image\":\"%s\"}}",
		 path(t, "c.sock"), path(t, "c.img"));
	r = ok(ctl(t, line));
	assert_string_equal(json_get(r, "name")->str, "disk1");
	/* log-level */
	r = ok(ctl(t, "{\"cmd\":\"log-level\",\"args\":{\"level\":\"warn\"}}"));
	assert_string_equal(json_get(r, "level")->str, "warn");
	assert_string_equal(json_get(r, "was")->str, "debug");
	assert_int_equal(t->log.max_level, VBACK_LOG_WARN);
	assert_int_equal(error_code(ctl(t, "{\"cmd\":\"log-level\",\"args\":{"
					   "\"level\":\"loud\"}}")),
			 CTL_E_ARGS);
	assert_int_equal(t->errors, 1); /* the image that was not there */
}

static void test_sigterm(void **state)
{
	struct t *t = *state;
	struct guest g;

	make_image(t, "a.img");
	make_image(t, "b.img");
	OPTIONS(t, "--vhost-user", path(t, "a.sock"), "--vhost-user",
		path(t, "b.sock"), "--image", path(t, "a.img"), "--image",
		path(t, "b.img"));
	assert_int_equal(start(t), 0);
	guest_start(t, &g, "b.sock");
	assert_int_equal(request(t, &g, 0, VIRTIO_BLK_T_OUT, 0, true),
			 VIRTIO_BLK_S_OK);
	/* A real signal, read from the signalfd. */
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	for (int i = 0; i < 500 && !vhu_daemon_finished(t->vd); i++)
		vback_loop_run_once(t->loop, 10);
	assert_true(vhu_daemon_finished(t->vd));
	assert_int_equal(vhu_daemon_disks(t->vd), 0);
	assert_true(fe_closed(&g.fe));
	assert_false(exists(t, "a.sock"));
	assert_false(exists(t, "b.sock"));
	guest_stop(&g);
	assert_int_equal(t->errors, 0);
}

static void test_start_fails_whole(void **state)
{
	struct t *t = *state;

	make_image(t, "a.img");
	OPTIONS(t, "--vhost-user", path(t, "a.sock"), "--image",
		path(t, "a.img"), "--vhost-user", path(t, "b.sock"), "--image",
		path(t, "missing.img"));
	assert_int_equal(start(t), -ENOENT);
	t->vd = NULL;
	assert_false(exists(t, "a.sock"));
	assert_false(exists(t, "b.sock"));
	assert_non_null(strstr(t->last_error, "missing.img"));
}

/* Queue q of a disk runs on thread q % N: a disk with fewer queues than
 * threads gets instances (clones) on those threads only. */
static void test_threads_only_where_queues_run(void **state)
{
	struct t *t = *state;
	struct guest g;
	char spec[256];

	make_image(t, "a.img");
	make_image(t, "b.img");
	snprintf(spec, sizeof(spec), "socket=%s,image=%s,name=two,queues=2",
		 path(t, "b.sock"), path(t, "b.img"));
	OPTIONS(t, "--threads", "4", "--vhost-user", path(t, "a.sock"),
		"--image", path(t, "a.img"), "--disk", spec);
	assert_int_equal(start(t), 0);
	assert_non_null(strstr(t->lines, "up to 64 queues on 4 threads"));
	assert_non_null(strstr(t->lines, "up to 2 queues on 2 threads\n"));
	/* And the two-queue disk serves on both: a write on queue 0 (in the
	 * file), read back on queue 1. */
	guest_start(t, &g, "b.sock");
	for (unsigned int i = 0; i < 4096; i++)
		data(&g, 0)[i] = (uint8_t)(i * 13 + 5);
	memset(data(&g, 1), 0xa5, 4096);
	assert_int_equal(request(t, &g, 0, VIRTIO_BLK_T_OUT, 16, true),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(request(t, &g, 1, VIRTIO_BLK_T_IN, 16, false),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(data(&g, 1), data(&g, 0), 4096);
	{
		uint8_t buf[4096];
		int fd = open(path(t, "b.img"), O_RDONLY);

		assert_int_equal(pread(fd, buf, sizeof(buf), 16 * 512),
				 sizeof(buf));
		close(fd);
		assert_memory_equal(buf, data(&g, 0), 4096);
	}
	guest_stop(&g);
	assert_int_equal(t->errors, 0);
}

/* Does this process map a shared library whose path contains @name? */
static bool mapped(const char *name)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, name) != NULL;
	fclose(f);
	return found;
}

/* Serving files to vhost-user front-ends loads no network library and no
 * Xen library: librbd and its dependencies alone would be megabytes of
 * resident memory, the Xen libraries some 150 KiB (lib/vb_dl.h). Runs
 * first, in a fresh process, before any test could open an NBD or RBD
 * disk. */
static void test_files_map_no_optional_library(void **state)
{
	struct t *t = *state;
	struct guest a;

	make_image(t, "a.img");
	OPTIONS(t, "--vhost-user", path(t, "a.sock"), "--image",
		path(t, "a.img"));
	assert_int_equal(start(t), 0);
	guest_start(t, &a, "a.sock");
	guest_stop(&a);
	assert_false(mapped("librbd"));
	assert_false(mapped("librados"));
	assert_false(mapped("libnbd"));
	assert_false(mapped("libxen"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_files_map_no_optional_library),
		T(test_two_disks_and_a_bad_front_end),
		T(test_add_resize_remove),
		T(test_sigterm),
		T(test_start_fails_whole),
		T(test_threads_only_where_queues_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
