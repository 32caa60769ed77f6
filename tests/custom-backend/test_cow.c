/* SPDX-License-Identifier: MIT */
/*
 * The copy-on-write overlay of examples/custom-backend as an IO
 * implementation: data placement, copy-up, and the completion rules of
 * include/vback/io.h (exactly once, never from inside submit()).
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
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>

#include "cow.h"

#define DISK (64u * 1024u)
#define BS   4096u

struct ctx {
	char dir[64], base[96], ovl[96];
	uint8_t orig[DISK];
	struct vback_loop *loop;
	struct vback_io io;
	struct vback_log log;
};

struct done_rec {
	int calls;
	int result;
};

static void quiet(void *opaque, enum vback_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void on_done(struct vback_io_req *req, int result)
{
	struct done_rec *d = req->opaque;

	d->calls++;
	d->result = result;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void read_at(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static int open_cow(struct ctx *c, const char *ovl)
{
	struct cow_options o = {
		.base_path = c->base,
		.overlay_path = ovl,
		.block_size = BS,
		.loop = c->loop,
		.log = &c->log,
	};

	return cow_open(&o, &c->io);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	strcpy(c->dir, "/tmp/test_cow.XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->base, sizeof(c->base), "%s/base", c->dir);
	snprintf(c->ovl, sizeof(c->ovl), "%s/overlay", c->dir);
	for (size_t i = 0; i < DISK; i++)
		c->orig[i] = (uint8_t)(i * 13 + (i >> 8));
	write_file(c->base, c->orig, DISK);
	c->log = (struct vback_log){ .fn = quiet, .max_level = VBACK_LOG_ERR };
	assert_int_equal(vback_epoll_loop_create(&c->log, &c->loop), 0);
	assert_int_equal(open_cow(c, c->ovl), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	if (c->io.ops)
		vback_io_close(&c->io);
	vback_epoll_loop_destroy(c->loop);
	unlink(c->base);
	unlink(c->ovl);
	rmdir(c->dir);
	free(c);
	return 0;
}

/* Submit and complete through unplug(); returns the result. */
static int rw(struct ctx *c, enum vback_io_op op, uint64_t off, void *buf,
	      size_t len)
{
	struct vback_iovec iov = { buf, len };
	struct done_rec d = { 0, 1 };
	struct vback_io_req req = { .op = op,
				    .offset = off,
				    .iov = &iov,
				    .iovcnt = 1,
				    .done = on_done,
				    .opaque = &d };

	assert_int_equal(vback_io_submit(&c->io, &req), 0);
	assert_int_equal(d.calls, 0); /* never from inside submit() */
	vback_io_unplug(&c->io);
	assert_int_equal(d.calls, 1);
	return d.result;
}

static void test_caps_describe_the_base(void **state)
{
	struct ctx *c = *state;
	struct vback_io_caps caps;

	assert_int_equal(vback_io_get_caps(&c->io, &caps), 0);
	assert_int_equal(caps.size_bytes, DISK);
	assert_int_equal(caps.logical_block_size, 512);
	assert_int_equal(caps.physical_block_size, BS);
	assert_false(caps.read_only);
	assert_true(caps.volatile_cache);
	assert_false(caps.can_discard);
	assert_int_equal(vback_io_engine_of(&c->io), VBACK_IO_ENGINE_DEFAULT);
}

static void test_reads_fall_through_to_the_base(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[3 * 512];

	assert_int_equal(rw(c, VBACK_IO_READ, 5 * 512, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, c->orig + 5 * 512, sizeof(buf));
}

static void test_whole_block_write_goes_to_the_overlay(void **state)
{
	struct ctx *c = *state;
	uint8_t data[BS], back[BS], file[BS];
	struct cow_stats st;

	memset(data, 0xa5, sizeof(data));
	assert_int_equal(rw(c, VBACK_IO_WRITE, 2 * BS, data, BS), 0);
	assert_int_equal(rw(c, VBACK_IO_READ, 2 * BS, back, BS), 0);
	assert_memory_equal(back, data, BS);
	read_at(c->ovl, 2 * BS, file, BS);
	assert_memory_equal(file, data, BS);
	read_at(c->base, 2 * BS, file, BS);
	assert_memory_equal(file, c->orig + 2 * BS, BS);
	cow_get_stats(&c->io, &st);
	assert_int_equal(st.overlay_blocks, 1);
	assert_int_equal(st.copy_ups, 0);
}

static void test_partial_write_copies_up_once(void **state)
{
	struct ctx *c = *state;
	uint8_t data[512], back[2 * BS], expect[2 * BS];
	struct cow_stats st;

	memset(data, 0x3c, sizeof(data));
	/* The last sector of block 3 and the first of block 4. */
	assert_int_equal(rw(c, VBACK_IO_WRITE, 4 * BS - 256, data, 512), 0);
	memcpy(expect, c->orig + 3 * BS, sizeof(expect));
	memcpy(expect + BS - 256, data, 512);
	assert_int_equal(rw(c, VBACK_IO_READ, 3 * BS, back, sizeof(back)), 0);
	assert_memory_equal(back, expect, sizeof(expect));
	read_at(c->ovl, 3 * BS, back, sizeof(back));
	assert_memory_equal(back, expect, sizeof(expect));
	/* Again: both blocks are the overlay's now, nothing is copied. */
	assert_int_equal(rw(c, VBACK_IO_WRITE, 4 * BS - 256, data, 512), 0);
	cow_get_stats(&c->io, &st);
	assert_int_equal(st.overlay_blocks, 2);
	assert_int_equal(st.copy_ups, 2);
	read_at(c->base, 3 * BS, back, sizeof(back));
	assert_memory_equal(back, c->orig + 3 * BS, sizeof(back));
}

static void test_scattered_iovecs(void **state)
{
	struct ctx *c = *state;
	uint8_t a[100], b[412], back[512];
	struct vback_iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	struct done_rec d = { 0, 1 };
	struct vback_io_req req = { .op = VBACK_IO_WRITE,
				    .offset = 512,
				    .iov = iov,
				    .iovcnt = 2,
				    .done = on_done,
				    .opaque = &d };

	memset(a, 1, sizeof(a));
	memset(b, 2, sizeof(b));
	assert_int_equal(vback_io_submit(&c->io, &req), 0);
	vback_io_unplug(&c->io);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.result, 0);
	assert_int_equal(rw(c, VBACK_IO_READ, 512, back, sizeof(back)), 0);
	assert_memory_equal(back, a, sizeof(a));
	assert_memory_equal(back + sizeof(a), b, sizeof(b));
}

/* Without unplug(), the loop completes the request (eventfd). */
static void test_completes_from_the_loop(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[512];
	struct vback_iovec iov = { buf, sizeof(buf) };
	struct done_rec d = { 0, 1 };
	struct vback_io_req req = { .op = VBACK_IO_READ,
				    .iov = &iov,
				    .iovcnt = 1,
				    .done = on_done,
				    .opaque = &d };

	assert_int_equal(vback_io_submit(&c->io, &req), 0);
	for (int i = 0; i < 100 && !d.calls; i++)
		vback_loop_run_once(c->loop, 10);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.result, 0);
	assert_memory_equal(buf, c->orig, sizeof(buf));
	/* Exactly once: more loop rounds call nothing. */
	vback_loop_run_once(c->loop, 10);
	assert_int_equal(d.calls, 1);
}

static struct vback_io *resubmit_io;

static void resubmit_done(struct vback_io_req *req, int result)
{
	struct done_rec *d = req->opaque;

	d->calls++;
	d->result = result;
	/* The contract allows reusing @req from inside done(). */
	if (d->calls == 1)
		assert_int_equal(vback_io_submit(resubmit_io, req), 0);
}

static void test_resubmit_from_done(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[512];
	struct vback_iovec iov = { buf, sizeof(buf) };
	struct done_rec d = { 0, 1 };
	struct vback_io_req req = { .op = VBACK_IO_READ,
				    .iov = &iov,
				    .iovcnt = 1,
				    .done = resubmit_done,
				    .opaque = &d };

	resubmit_io = &c->io;
	assert_int_equal(vback_io_submit(&c->io, &req), 0);
	vback_io_unplug(&c->io);
	assert_int_equal(d.calls, 2);
	assert_int_equal(d.result, 0);
}

static void test_refused_requests_never_complete(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[1024];
	struct vback_iovec iov = { buf, sizeof(buf) };
	struct done_rec d = { 0, 1 };
	struct vback_io_req req = { .op = VBACK_IO_READ,
				    .offset = DISK - 512,
				    .iov = &iov,
				    .iovcnt = 1,
				    .done = on_done,
				    .opaque = &d };

	assert_int_equal(vback_io_submit(&c->io, &req), -EINVAL);
	req.offset = UINT64_MAX - 100;
	assert_int_equal(vback_io_submit(&c->io, &req), -EINVAL);
	req.op = VBACK_IO_DISCARD;
	req.offset = 0;
	req.len = 512;
	assert_int_equal(vback_io_submit(&c->io, &req), -EOPNOTSUPP);
	vback_io_unplug(&c->io);
	vback_loop_run_once(c->loop, 10);
	assert_int_equal(d.calls, 0);
}

static void test_flush_is_counted(void **state)
{
	struct ctx *c = *state;
	struct cow_stats st;

	assert_int_equal(rw(c, VBACK_IO_FLUSH, 0, NULL, 0), 0);
	cow_get_stats(&c->io, &st);
	assert_int_equal(st.flushes, 1);
}

/* close() completes what is still queued: no done() after it returns. */
static void test_close_completes_pending(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[512];
	struct vback_iovec iov = { buf, sizeof(buf) };
	struct done_rec d = { 0, 1 };
	struct vback_io_req req = { .op = VBACK_IO_WRITE,
				    .iov = &iov,
				    .iovcnt = 1,
				    .done = on_done,
				    .opaque = &d };

	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(vback_io_submit(&c->io, &req), 0);
	vback_io_close(&c->io);
	c->io.ops = NULL;
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.result, 0);
	/* ... and did it: in the overlay, the base untouched. */
	{
		uint8_t file[512];

		read_at(c->ovl, 0, file, sizeof(file));
		assert_memory_equal(file, buf, sizeof(file));
		read_at(c->base, 0, file, sizeof(file));
		assert_memory_equal(file, c->orig, sizeof(file));
	}
}

static void test_memory_overlay(void **state)
{
	struct ctx *c = *state;
	uint8_t data[BS], back[BS];

	vback_io_close(&c->io);
	assert_int_equal(open_cow(c, NULL), 0);
	memset(data, 0x5a, sizeof(data));
	assert_int_equal(rw(c, VBACK_IO_WRITE, 0, data, BS), 0);
	assert_int_equal(rw(c, VBACK_IO_READ, 0, back, BS), 0);
	assert_memory_equal(back, data, BS);
	read_at(c->base, 0, back, BS);
	assert_memory_equal(back, c->orig, BS);
}

static void test_bad_base_is_refused(void **state)
{
	struct ctx *c = *state;

	vback_io_close(&c->io);
	c->io.ops = NULL;
	write_file(c->base, c->orig, 1000); /* not a multiple of 512 */
	assert_int_equal(open_cow(c, c->ovl), -EINVAL);
	unlink(c->base);
	assert_int_equal(open_cow(c, c->ovl), -ENOENT);
	assert_null(c->io.ops);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_caps_describe_the_base),
		T(test_reads_fall_through_to_the_base),
		T(test_whole_block_write_goes_to_the_overlay),
		T(test_partial_write_copies_up_once),
		T(test_scattered_iovecs),
		T(test_completes_from_the_loop),
		T(test_resubmit_from_done),
		T(test_refused_requests_never_complete),
		T(test_flush_is_counted),
		T(test_close_completes_pending),
		T(test_memory_overlay),
		T(test_bad_base_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
