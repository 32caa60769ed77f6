/* SPDX-License-Identifier: MIT */
/*
 * The network engines when servers misbehave, against real servers started
 * by tests/netio/with-server.sh (argv[1]: "nbd" with nbdkit-file, or "rbd"
 * with a one-node Ceph cluster):
 *  - NBD: several connections under multi-conn; a server killed with
 *    requests in flight and restarted (they complete, the data is intact,
 *    the log says lost/reconnected); a server that stays away or hangs
 *    (requests fail with -EIO after the timeout while the loop keeps
 *    running, and later requests work once it is back); close() with the
 *    server gone.
 *  - RBD: snapshots open read-only and keep their data; an OSD that stops
 *    answering makes requests fail after the timeout; an unreachable
 *    cluster fails the open in bounded time with one log line.
 *  - both: a detached open on a thread of its own while the loop runs,
 *    then attached on the loop's thread and used; one never attached,
 *    closed on the thread that opened it.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>
#include <vback/io.h>

#include "io_internal.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static const char *netdisk;

struct logbuf {
	char text[16384];
	size_t len;
	int errors;
};

static void sink(void *opaque, enum vback_log_level level, const char *msg)
{
	struct logbuf *l = opaque;
	int n;

	if (level <= VBACK_LOG_ERR)
		l->errors++;
	n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", msg);
	if (n > 0 && l->len + (size_t)n < sizeof(l->text))
		l->len += (size_t)n;
	fprintf(stderr, "log: %s\n", msg);
}

struct t {
	struct vback_loop *loop;
	struct vback_io io;
	struct vback_io_caps caps;
	struct logbuf logbuf;
	struct vback_log log;
	char spec[4200];
	int ticks; /* the loop's own timer: proof it never stalls */
	struct vback_timer ticker;
};

struct op {
	struct vback_io_req req;
	struct vback_iovec iov;
	int result;
	int ndone;
};

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int netdisk_run(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static int netdisk_run(const char *fmt, ...)
{
	char args[4600], cmd[5200];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s", netdisk, args);
	ret = system(cmd);
	return ret >= 0 && WIFEXITED(ret) ? WEXITSTATUS(ret) : -1;
}

static void new_disk(struct t *t, uint64_t size)
{
	char cmd[600], line[4200];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s create %llu", netdisk,
		 (unsigned long long)size);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	*strrchr(line, ' ') = 0;
	memcpy(t->spec, line, strlen(line) + 1);
}

static void on_tick(void *opaque)
{
	struct t *t = opaque;

	t->ticks++;
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(vback_epoll_loop_create(NULL, &t->loop), 0);
	t->log = (struct vback_log){ sink, &t->logbuf, VBACK_LOG_DEBUG };
	vback_timer_init(&t->ticker, on_tick, t);
	assert_int_equal(vback_timer_arm(t->loop, &t->ticker, 100000000ull,
					 100000000ull),
			 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	vback_io_close(&t->io);
	vback_timer_cancel(t->loop, &t->ticker);
	if (t->spec[0])
		netdisk_run("destroy '%s'", t->spec);
	vback_epoll_loop_destroy(t->loop);
	free(t);
	return 0;
}

static int io_open(struct t *t, const char *spec, unsigned int timeout_ms,
		   bool read_only)
{
	struct vback_io_options o = {
		.path = spec,
		.read_only = read_only,
		.timeout_ms = timeout_ms,
		.log = &t->log,
	};
	int ret = vback_io_open(&o, t->loop, &t->io);

	if (!ret)
		assert_int_equal(vback_io_get_caps(&t->io, &t->caps), 0);
	return ret;
}

static void on_done(struct vback_io_req *req, int result)
{
	struct op *op = req->opaque;

	op->result = result;
	op->ndone++;
}

static void op_init(struct op *op, enum vback_io_op code, uint64_t offset,
		    void *buf, size_t len)
{
	memset(op, 0, sizeof(*op));
	op->result = 1;
	op->req.op = code;
	op->req.offset = offset;
	op->iov = (struct vback_iovec){ buf, len };
	op->req.iov = &op->iov;
	op->req.iovcnt = buf ? 1 : 0;
	op->req.done = on_done;
	op->req.opaque = op;
}

/* Run the loop until every op is done or @secs pass. */
static void wait_ops(struct t *t, struct op *ops, int n, double secs)
{
	double end = seconds() + secs;

	for (;;) {
		int done = 0;

		for (int i = 0; i < n; i++)
			done += ops[i].ndone;
		if (done == n || seconds() > end)
			break;
		assert_true(vback_loop_run_once(t->loop, 50) >= 0);
	}
	for (int i = 0; i < n; i++)
		assert_int_equal(ops[i].ndone, 1);
}

static int rw(struct t *t, enum vback_io_op code, uint64_t offset, void *buf,
	      size_t len, double secs)
{
	struct op op;

	op_init(&op, code, offset, buf, len);
	if (code == VBACK_IO_FLUSH)
		op.req.iovcnt = 0;
	assert_int_equal(vback_io_submit(&t->io, &op.req), 0);
	vback_io_unplug(&t->io);
	wait_ops(t, &op, 1, secs);
	return op.result;
}

static void fill(uint8_t *b, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed * 29u + i * 13u + (i >> 12));
}

static bool logged(const struct t *t, const char *what)
{
	return strstr(t->logbuf.text, what) != NULL;
}

/* Run the loop until a connection is up again (reconnects back off up to
 * 2 s); a request submitted before could time out meanwhile. */
static void wait_connected(struct t *t, double secs)
{
	double end = seconds() + secs;

	while (io_nbd_connections_ready(&t->io) < 1 && seconds() < end)
		vback_loop_run_once(t->loop, 50);
	assert_true(io_nbd_connections_ready(&t->io) >= 1);
}

/* ---- both ---------------------------------------------------------------- */

struct opener {
	struct vback_io_options o;
	const struct vback_loop *loop;
	struct vback_io io;
	int ret;
	bool close; /* close it here, never attached */
	pthread_t thread;
};

static void *opener_main(void *arg)
{
	struct opener *op = arg;

	op->ret = vback_io_open(&op->o, op->loop, &op->io);
	if (!op->ret && op->close)
		vback_io_close(&op->io);
	return NULL;
}

/* vback_io_options::detached: the open runs on a thread of its own while
 * the loop's thread runs the loop; the instance works once attached. */
static void test_detached(void **state)
{
	struct t *t = *state;
	struct opener op = { 0 };
	struct vback_io_options file = { .path = "/dev/null",
					 .detached = true,
					 .log = &t->log };
	struct vback_io io;
	uint8_t w[8 * KiB], r[8 * KiB];

	new_disk(t, 4 * MiB);
	op.o = (struct vback_io_options){ .path = t->spec,
					  .timeout_ms = 5000,
					  .log = &t->log,
					  .detached = true };
	op.loop = t->loop;
	assert_int_equal(pthread_create(&op.thread, NULL, opener_main, &op), 0);
	for (int i = 0; i < 10; i++)
		vback_loop_run_once(t->loop,
				    10); /* the loop is not waited on */
	assert_int_equal(pthread_join(op.thread, NULL), 0);
	assert_int_equal(op.ret, 0);
	t->io = op.io;
	assert_int_equal(vback_io_get_caps(&t->io, &t->caps), 0);
	assert_true(t->caps.size_bytes >= 4 * MiB);
	assert_int_equal(vback_io_attach(&t->io), 0);
	assert_int_equal(vback_io_attach(&t->io), -EINVAL); /* once */
	fill(w, sizeof(w), 7);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 64 * KiB, w, sizeof(w), 10), 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 64 * KiB, r, sizeof(r), 10), 0);
	assert_memory_equal(r, w, sizeof(w));

	/* Never attached: closed on the opening thread, nothing left on
	 * the loop (ASan: nothing leaked either). */
	memset(&op.io, 0, sizeof(op.io));
	op.close = true;
	assert_int_equal(pthread_create(&op.thread, NULL, opener_main, &op), 0);
	assert_int_equal(pthread_join(op.thread, NULL), 0);
	assert_int_equal(op.ret, 0);
	assert_true(rw(t, VBACK_IO_READ, 64 * KiB, r, sizeof(r), 10) == 0);

	/* A file opens without waiting: detached is for network disks. */
	assert_int_equal(vback_io_open(&file, t->loop, &io), -EINVAL);
	assert_true(logged(t, "only network disks open detached"));
}

/* ---- NBD --------------------------------------------------------------- */

/* nbdkit's file plugin allows multi-conn: four connections come up. */
static void test_nbd_multi_conn(void **state)
{
	struct t *t = *state;
	enum { N = 64 };
	uint8_t *w = malloc(N * 4 * KiB), *r = malloc(N * 4 * KiB);
	struct op ops[N];
	double end;

	new_disk(t, 4 * MiB);
	assert_int_equal(io_open(t, t->spec, 5000, false), 0);
	end = seconds() + 3;
	while (io_nbd_connections_ready(&t->io) < 4 && seconds() < end)
		vback_loop_run_once(t->loop, 50);
	assert_int_equal(io_nbd_connections_ready(&t->io), 4);
	fill(w, N * 4 * KiB, 1);
	for (int i = 0; i < N; i++) {
		op_init(&ops[i], VBACK_IO_WRITE, (uint64_t)i * 4 * KiB,
			w + i * 4 * KiB, 4 * KiB);
		assert_int_equal(vback_io_submit(&t->io, &ops[i].req), 0);
	}
	vback_io_unplug(&t->io);
	wait_ops(t, ops, N, 10);
	for (int i = 0; i < N; i++)
		assert_int_equal(ops[i].result, 0);
	assert_int_equal(rw(t, VBACK_IO_FLUSH, 0, NULL, 0, 5), 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 0, r, N * 4 * KiB, 5), 0);
	assert_memory_equal(r, w, N * 4 * KiB);
	free(w);
	free(r);
}

/* Killed with requests in flight, back a moment later: nothing is lost. */
static void test_nbd_restart(void **state)
{
	struct t *t = *state;
	enum { N = 32 };
	uint8_t *a = malloc(256 * KiB), *b = malloc(256 * KiB);
	uint8_t *r = malloc(512 * KiB);
	struct op ops[N];

	new_disk(t, 4 * MiB);
	assert_int_equal(io_open(t, t->spec, 10000, false), 0);
	fill(a, 256 * KiB, 2);
	fill(b, 256 * KiB, 3);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 0, a, 256 * KiB, 5), 0);
	assert_int_equal(rw(t, VBACK_IO_FLUSH, 0, NULL, 0, 5), 0);
	/* Stopped first, so the requests are surely in flight. */
	assert_int_equal(netdisk_run("server pause"), 0);
	for (int i = 0; i < N; i++) {
		if (i % 2)
			op_init(&ops[i], VBACK_IO_READ, (uint64_t)i * 8 * KiB,
				r + i * 8 * KiB, 8 * KiB);
		else
			op_init(&ops[i], VBACK_IO_WRITE,
				256 * KiB + (uint64_t)i * 8 * KiB,
				b + i * 8 * KiB, 8 * KiB);
		assert_int_equal(vback_io_submit(&t->io, &ops[i].req), 0);
	}
	vback_io_unplug(&t->io);
	for (int i = 0; i < 5; i++)
		vback_loop_run_once(t->loop, 20);
	assert_int_equal(netdisk_run("server stop"), 0);
	assert_int_equal(netdisk_run("server start"), 0);
	wait_ops(t, ops, N, 8);
	for (int i = 0; i < N; i++)
		assert_int_equal(ops[i].result, 0);
	for (int i = 1; i < N; i += 2)
		assert_memory_equal(r + i * 8 * KiB, a + i * 8 * KiB, 8 * KiB);
	/* The odd halves of b were never written: take them from a read. */
	assert_int_equal(rw(t, VBACK_IO_READ, 0, r, 512 * KiB, 5), 0);
	assert_memory_equal(r, a, 256 * KiB);
	for (int i = 0; i < N; i += 2)
		assert_memory_equal(r + 256 * KiB + i * 8 * KiB,
				    b + i * 8 * KiB, 8 * KiB);
	/* Connection 0 went; it or another one took over. */
	assert_true(logged(t, "lost"));
	assert_true(io_nbd_connections_ready(&t->io) >= 1);
	free(a);
	free(b);
	free(r);
}

/* Fail within [timeout, timeout + slack] while the loop keeps ticking. */
static void expect_timeout(struct t *t, struct op *ops, int n, double timeout)
{
	double t0 = seconds(), took;
	int ticks = t->ticks;

	wait_ops(t, ops, n, timeout + 3);
	took = seconds() - t0;
	for (int i = 0; i < n; i++)
		assert_int_equal(ops[i].result, -EIO);
	if (took < timeout * 0.8 || took > timeout + 2.0)
		fail_msg("failed after %.2f s, timeout %.2f s", took, timeout);
	/* 100 ms ticks: the loop was never blocked. */
	assert_true(t->ticks - ticks >= (int)(took * 10) - 3);
	assert_true(logged(t, "unanswered after"));
}

/* A server that stays away: requests fail after the timeout; once it is
 * back, requests work again. */
static void test_nbd_down_timeout(void **state)
{
	struct t *t = *state;
	uint8_t *buf = malloc(64 * KiB);
	struct op ops[4];

	new_disk(t, 4 * MiB);
	assert_int_equal(io_open(t, t->spec, 1000, false), 0);
	fill(buf, 64 * KiB, 4);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 0, buf, 64 * KiB, 5), 0);
	assert_int_equal(netdisk_run("server stop"), 0);
	for (int i = 0; i < 4; i++) {
		op_init(&ops[i], VBACK_IO_READ, (uint64_t)i * 16 * KiB,
			buf + i * 16 * KiB, 16 * KiB);
		assert_int_equal(vback_io_submit(&t->io, &ops[i].req), 0);
	}
	vback_io_unplug(&t->io);
	expect_timeout(t, ops, 4, 1.0);
	assert_true(logged(t, "cannot reconnect"));
	assert_int_equal(netdisk_run("server start"), 0);
	wait_connected(t, 5);
	memset(buf, 0, 64 * KiB);
	assert_int_equal(rw(t, VBACK_IO_READ, 0, buf, 64 * KiB, 5), 0);
	{
		uint8_t *want = malloc(64 * KiB);

		fill(want, 64 * KiB, 4);
		assert_memory_equal(buf, want, 64 * KiB);
		free(want);
	}
	free(buf);
}

/* A server that hangs (SIGSTOP): its connection is reset at the timeout,
 * and a new one works once it answers again. */
static void test_nbd_hung(void **state)
{
	struct t *t = *state;
	uint8_t *buf = malloc(16 * KiB);
	struct op op;

	new_disk(t, 4 * MiB);
	assert_int_equal(io_open(t, t->spec, 1000, false), 0);
	fill(buf, 16 * KiB, 5);
	assert_int_equal(netdisk_run("server pause"), 0);
	op_init(&op, VBACK_IO_WRITE, 0, buf, 16 * KiB);
	assert_int_equal(vback_io_submit(&t->io, &op.req), 0);
	vback_io_unplug(&t->io);
	expect_timeout(t, &op, 1, 1.0);
	assert_true(logged(t, "no reply in time"));
	assert_int_equal(netdisk_run("server resume"), 0);
	wait_connected(t, 5);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 0, buf, 16 * KiB, 6), 0);
	free(buf);
}

/* close() with the server gone: what is pending fails, close returns. */
static void test_nbd_close_while_down(void **state)
{
	struct t *t = *state;
	uint8_t *buf = malloc(16 * KiB);
	struct op op;
	double t0;

	new_disk(t, 4 * MiB);
	assert_int_equal(io_open(t, t->spec, 5000, false), 0);
	assert_int_equal(netdisk_run("server stop"), 0);
	op_init(&op, VBACK_IO_READ, 0, buf, 16 * KiB);
	assert_int_equal(vback_io_submit(&t->io, &op.req), 0);
	vback_io_unplug(&t->io);
	vback_loop_run_once(t->loop, 50);
	t0 = seconds();
	vback_io_close(&t->io);
	assert_true(seconds() - t0 < 1.0);
	assert_int_equal(op.ndone, 1);
	assert_int_equal(op.result, -EIO);
	assert_int_equal(netdisk_run("server start"), 0);
	free(buf);
}

/* ---- RBD --------------------------------------------------------------- */

/* rbd:POOL/IMAGE:conf=... with @NAME after the image. */
static void snap_spec(const char *spec, const char *name, char *out, size_t len)
{
	const char *colon = strchr(spec + 4, ':');

	assert_non_null(colon);
	snprintf(out, len, "%.*s@%s%s", (int)(colon - spec), spec, name, colon);
}

static void test_rbd_snapshot(void **state)
{
	struct t *t = *state;
	uint8_t *a = malloc(64 * KiB), *b = malloc(64 * KiB);
	uint8_t *r = malloc(64 * KiB);
	char snap[4300];
	struct vback_io rw_io;

	new_disk(t, 4 * MiB);
	assert_int_equal(io_open(t, t->spec, 10000, false), 0);
	fill(a, 64 * KiB, 6);
	fill(b, 64 * KiB, 7);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 0, a, 64 * KiB, 10), 0);
	assert_int_equal(rw(t, VBACK_IO_FLUSH, 0, NULL, 0, 10), 0);
	assert_int_equal(netdisk_run("snap '%s' s1", t->spec), 0);
	/* The image moves on; the snapshot keeps what it had. */
	assert_int_equal(rw(t, VBACK_IO_WRITE, 0, b, 64 * KiB, 10), 0);
	assert_int_equal(rw(t, VBACK_IO_FLUSH, 0, NULL, 0, 10), 0);
	rw_io = t->io;
	snap_spec(t->spec, "s1", snap, sizeof(snap));
	assert_int_equal(io_open(t, snap, 10000, false), 0);
	assert_true(t->caps.read_only);
	assert_int_equal(rw(t, VBACK_IO_READ, 0, r, 64 * KiB, 10), 0);
	assert_memory_equal(r, a, 64 * KiB);
	{
		struct op op;

		op_init(&op, VBACK_IO_WRITE, 0, b, 64 * KiB);
		assert_int_equal(vback_io_submit(&t->io, &op.req), -EROFS);
	}
	vback_io_close(&t->io);
	t->io = rw_io;
	assert_int_equal(rw(t, VBACK_IO_READ, 0, r, 64 * KiB, 10), 0);
	assert_memory_equal(r, b, 64 * KiB);
	free(a);
	free(b);
	free(r);
}

/* An OSD that stops answering: librados's op timeout fails the request
 * (as -EIO); once it answers again, so does the image. */
static void test_rbd_osd_paused(void **state)
{
	struct t *t = *state;
	uint8_t *buf = malloc(64 * KiB);
	struct op ops[2];
	int ret = -1;

	new_disk(t, 4 * MiB);
	assert_int_equal(io_open(t, t->spec, 2000, false), 0);
	fill(buf, 64 * KiB, 8);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 0, buf, 64 * KiB, 10), 0);
	assert_int_equal(netdisk_run("server pause"), 0);
	op_init(&ops[0], VBACK_IO_WRITE, 64 * KiB, buf, 64 * KiB);
	op_init(&ops[1], VBACK_IO_READ, 0, buf, 64 * KiB);
	for (int i = 0; i < 2; i++)
		assert_int_equal(vback_io_submit(&t->io, &ops[i].req), 0);
	{
		double t0 = seconds(), took;
		int ticks = t->ticks;

		wait_ops(t, ops, 2, 8);
		took = seconds() - t0;
		for (int i = 0; i < 2; i++)
			assert_int_equal(ops[i].result, -EIO);
		if (took < 1.5 || took > 5.0)
			fail_msg("failed after %.2f s, timeout 2 s", took);
		assert_true(t->ticks - ticks >= (int)(took * 10) - 3);
	}
	assert_true(logged(t, "did not answer within 2000 ms"));
	assert_int_equal(netdisk_run("server resume"), 0);
	for (int i = 0; i < 5 && ret; i++)
		ret = rw(t, VBACK_IO_READ, 0, buf, 64 * KiB, 10);
	assert_int_equal(ret, 0);
	assert_true(logged(t, "answers again"));
	free(buf);
}

/* Nobody at the monitor's address: open fails in bounded time, with one
 * line that says why. */
static void test_rbd_unreachable(void **state)
{
	struct t *t = *state;
	char conf[256], spec[400];
	struct vback_io io;
	FILE *f;
	double t0;

	snprintf(conf, sizeof(conf), "/var/tmp/vback-netio-unreach-%d.conf",
		 (int)getpid());
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[global]\nmon host = v2:127.0.0.1:1\n"
		   "auth client required = none\nlog file = /dev/null\n"
		   "admin socket = \n");
	fclose(f);
	snprintf(spec, sizeof(spec), "rbd:vback/none:conf=%s", conf);
	t0 = seconds();
	{
		struct vback_io_options o = { .path = spec,
					      .timeout_ms = 1000,
					      .log = &t->log };

		assert_true(vback_io_open(&o, t->loop, &io) < 0);
	}
	unlink(conf);
	assert_true(seconds() - t0 < 5.0);
	assert_int_equal(t->logbuf.errors, 1);
	assert_true(logged(t, "cannot connect to the Ceph cluster"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest nbd_tests[] = {
		cmocka_unit_test_setup_teardown(test_nbd_multi_conn, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nbd_restart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nbd_down_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nbd_hung, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nbd_close_while_down,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_detached, setup, teardown),
	};
	const struct CMUnitTest rbd_tests[] = {
		cmocka_unit_test_setup_teardown(test_rbd_snapshot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rbd_osd_paused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rbd_unreachable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_detached, setup, teardown),
	};

	netdisk = getenv("VBACK_TEST_NETDISK");
	if (argc != 2 || !netdisk || !*netdisk) {
		fprintf(stderr,
			"usage: tests/netio/with-server.sh "
			"nbdkit-file|rbd %s nbd|rbd\n",
			argv[0]);
		return 2;
	}
	/* One test at a time while debugging: VBACK_TEST_FILTER=name. */
	if (getenv("VBACK_TEST_FILTER"))
		cmocka_set_test_filter(getenv("VBACK_TEST_FILTER"));
	if (!strcmp(argv[1], "nbd"))
		return cmocka_run_group_tests_name("nbd failures", nbd_tests,
						   NULL, NULL);
	if (!strcmp(argv[1], "rbd"))
		return cmocka_run_group_tests_name("rbd failures", rbd_tests,
						   NULL, NULL);
	fprintf(stderr, "%s: nbd or rbd, not %s\n", argv[0], argv[1]);
	return 2;
}
