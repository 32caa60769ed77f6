/* SPDX-License-Identifier: MIT */
/*
 * The IO conformance suite: the same tests against every backend. The
 * backend comes from argv[1] (see `backends` below); meson registers this
 * program once per backend. Block-device variants run on a loop device and
 * exit 77 (skip) where losetup is not possible. Network backends (nbd,
 * rbd) get their disks from a real server through the command in
 * $VBACK_TEST_NETDISK (tests/netio/netdisk.sh, set up by
 * tests/netio/with-server.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>
#include <vback/io.h>

#include "io_internal.h"

#define KiB	  1024u
#define MiB	  (1024u * 1024u)
#define DISK_SIZE (4 * MiB)

struct backend {
	const char *name;
	enum vback_io_engine engine;
	bool direct;
	bool blockdev;
	bool net; /* disks come from $VBACK_TEST_NETDISK */
	/* Discarded ranges may keep their data (RBD skips partial objects). */
	bool discard_keeps_data;
	/* Nothing is kept: every read returns zeroes (the null engine). */
	bool null;
	/* The disks live on a tmpfs (/dev/shm): memory-backed files. */
	bool memfs;
	bool sqpoll; /* io_uring with a submission thread */
};

static const struct backend backends[] = {
	{ .name = "memory", .engine = VBACK_IO_ENGINE_MEMORY },
	{ .name = "posix", .engine = VBACK_IO_ENGINE_POSIX },
	{ .name = "posix-direct",
	  .engine = VBACK_IO_ENGINE_POSIX,
	  .direct = true },
	{ .name = "io_uring", .engine = VBACK_IO_ENGINE_URING },
	{ .name = "io_uring-direct",
	  .engine = VBACK_IO_ENGINE_URING,
	  .direct = true },
	{ .name = "posix-blockdev",
	  .engine = VBACK_IO_ENGINE_POSIX,
	  .blockdev = true },
	{ .name = "io_uring-blockdev-direct",
	  .engine = VBACK_IO_ENGINE_URING,
	  .direct = true,
	  .blockdev = true },
	{ .name = "null", .engine = VBACK_IO_ENGINE_NULL, .null = true },
	{ .name = "io_uring-sqpoll",
	  .engine = VBACK_IO_ENGINE_URING,
	  .sqpoll = true },
	{ .name = "io_uring-memfs",
	  .engine = VBACK_IO_ENGINE_URING,
	  .memfs = true },
	{ .name = "nbd", .engine = VBACK_IO_ENGINE_NBD, .net = true },
	{ .name = "rbd",
	  .engine = VBACK_IO_ENGINE_RBD,
	  .net = true,
	  .discard_keeps_data = true },
};

static const struct backend *be;

/* @r was read where @w had been written: the same bytes, or zeroes on
 * the null engine, which keeps nothing (and must still fill the buffer). */
#define assert_read_back(r, w, len)                                            \
	do {                                                                   \
		if (be->null)                                                  \
			assert_true(all_zero((r), (len)));                     \
		else                                                           \
			assert_memory_equal((r), (w), (len));                  \
	} while (0)
static char workdir[256];
static const char *netdisk; /* the server helper command (network) */

/* A disk to test on: a sparse file, a loop device over one, memory, or
 * an export of a server (then @file is the raw file behind it, if any). */
struct disk {
	char file[PATH_MAX];
	char dev[64];
	char mnt[512]; /* a tmpfs mounted for this disk */
	char spec[PATH_MAX + 64];
	uint64_t size;
};

struct t {
	struct vback_loop *loop;
	struct vback_io io;
	struct vback_io_caps caps;
	struct disk disk;
	bool in_submit;
};

struct op {
	struct vback_io_req req;
	struct t *t;
	struct vback_iovec iov[8];
	int result;
	int ndone;
	/* Chained requests (test_resubmit_from_done). */
	int chain_left;
};

/* ---- disks ------------------------------------------------------------ */

static int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_cmd(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* Attach @file to a free loop device; false if this machine cannot. */
static bool loop_attach(const char *file, char *dev, size_t len)
{
	char cmd[PATH_MAX + 64];
	FILE *p;
	bool ok;

	snprintf(cmd, sizeof(cmd), "losetup -f --show '%s' 2>/dev/null", file);
	p = popen(cmd, "r");
	if (!p)
		return false;
	ok = fgets(dev, (int)len, p) != NULL;
	if (pclose(p) != 0)
		ok = false;
	if (ok)
		dev[strcspn(dev, "\n")] = 0;
	return ok && dev[0] == '/';
}

/* Run "$VBACK_TEST_NETDISK ARGS"; its exit status (77: cannot). */
static int netdisk_run(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static int netdisk_run(const char *fmt, ...)
{
	char args[PATH_MAX + 256];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	ret = run_cmd("%s %s", netdisk, args);
	return ret >= 0 && WIFEXITED(ret) ? WEXITSTATUS(ret) : -1;
}

/* A new export of @size bytes: its spec, and its raw file if it has one. */
static void netdisk_create(struct disk *d, uint64_t size)
{
	char cmd[PATH_MAX], line[2 * PATH_MAX + 64], *sp;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s create %llu", netdisk,
		 (unsigned long long)size);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	line[strcspn(line, "\n")] = 0;
	sp = strrchr(line, ' ');
	assert_non_null(sp);
	*sp = 0;
	assert_true(strlen(line) < sizeof(d->spec));
	assert_true(strlen(sp + 1) < sizeof(d->file));
	memcpy(d->spec, line, strlen(line) + 1);
	if (strcmp(sp + 1, "-"))
		memcpy(d->file, sp + 1, strlen(sp + 1) + 1);
}

static void make_file(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

/* Create a disk of @size in @dir (NULL: the work directory). */
static void disk_create(struct disk *d, uint64_t size, const char *dir)
{
	static unsigned int seq;

	memset(d, 0, sizeof(*d));
	d->size = size;
	if (be->engine == VBACK_IO_ENGINE_MEMORY)
		return;
	if (be->net) {
		netdisk_create(d, size);
		return;
	}
	snprintf(d->file, sizeof(d->file), "%s/disk%u.img", dir ? dir : workdir,
		 seq++);
	make_file(d->file, size);
	if (be->blockdev)
		assert_true(loop_attach(d->file, d->dev, sizeof(d->dev)));
}

static const char *disk_path(const struct disk *d)
{
	if (d->spec[0])
		return d->spec;
	return d->dev[0] ? d->dev : d->file;
}

static void disk_destroy(struct disk *d)
{
	if (d->spec[0]) {
		assert_int_equal(netdisk_run("destroy '%s'", d->spec), 0);
		memset(d, 0, sizeof(*d));
		return;
	}
	if (d->dev[0])
		run_cmd("losetup -d %s", d->dev);
	if (d->file[0])
		unlink(d->file);
	if (d->mnt[0]) {
		umount2(d->mnt, MNT_DETACH);
		rmdir(d->mnt);
	}
	memset(d, 0, sizeof(*d));
}

/* ---- IO helpers ------------------------------------------------------- */

static int io_open(struct t *t, bool read_only, unsigned int depth)
{
	struct vback_io_options o = {
		.path = disk_path(&t->disk),
		.engine = be->engine,
		.read_only = read_only,
		.direct = be->direct,
		/* The null engine takes its size from the file. */
		.mem_size = be->null ? 0 : t->disk.size,
		.queue_depth = depth,
		.sqpoll = be->sqpoll,
	};
	int ret = vback_io_open(&o, t->loop, &t->io);

	if (!ret)
		assert_int_equal(vback_io_get_caps(&t->io, &t->caps), 0);
	return ret;
}

static void on_done(struct vback_io_req *req, int result)
{
	struct op *op = req->opaque;

	/* The contract: never from inside submit(). */
	assert_false(op->t->in_submit);
	op->result = result;
	op->ndone++;
}

static void op_init(struct op *op, struct t *t, enum vback_io_op code,
		    uint64_t offset)
{
	memset(op, 0, sizeof(*op));
	op->t = t;
	op->result = 1; /* neither 0 nor an errno: "not completed" */
	op->req.op = code;
	op->req.offset = offset;
	op->req.iov = op->iov;
	op->req.done = on_done;
	op->req.opaque = op;
}

static int submit(struct t *t, struct op *op)
{
	int ret;

	t->in_submit = true;
	ret = vback_io_submit(&t->io, &op->req);
	t->in_submit = false;
	return ret;
}

/* Run the loop until *@count reaches @want; fail instead of hanging. */
static void wait_for(struct t *t, const int *count, int want)
{
	for (int i = 0; i < 1000 && *count < want; i++)
		assert_true(vback_loop_run_once(t->loop, 100) >= 0);
	assert_int_equal(*count, want);
}

/* Submit, unplug, wait; returns the completion result. */
static int run_op(struct t *t, struct op *op)
{
	int ret = submit(t, op);

	if (ret)
		return ret;
	vback_io_unplug(&t->io);
	wait_for(t, &op->ndone, 1);
	return op->result;
}

static int rw(struct t *t, enum vback_io_op code, uint64_t offset, void *buf,
	      size_t len)
{
	struct op op;

	op_init(&op, t, code, offset);
	op.iov[0] = (struct vback_iovec){ buf, len };
	op.req.iovcnt = 1;
	return run_op(t, &op);
}

static int range_op(struct t *t, enum vback_io_op code, uint64_t offset,
		    uint64_t len, uint32_t flags)
{
	struct op op;

	op_init(&op, t, code, offset);
	op.req.len = len;
	op.req.flags = flags;
	return run_op(t, &op);
}

/* Refused at submit (-EINVAL), as io.h says a request the disk cannot
 * do is: never accepted and then completed with an error. */
static void assert_refused(struct t *t, struct op *op)
{
	assert_int_equal(submit(t, op), -EINVAL);
	vback_io_unplug(&t->io);
	assert_true(vback_loop_run_once(t->loop, 0) >= 0);
	assert_int_equal(op->ndone, 0);
}

static void rw_refused(struct t *t, enum vback_io_op code, uint64_t offset,
		       void *buf, size_t len)
{
	struct op op;

	op_init(&op, t, code, offset);
	op.iov[0] = (struct vback_iovec){ buf, len };
	op.req.iovcnt = 1;
	assert_refused(t, &op);
}

static void range_refused(struct t *t, enum vback_io_op code, uint64_t offset,
			  uint64_t len)
{
	struct op op;

	op_init(&op, t, code, offset);
	op.req.len = len;
	assert_refused(t, &op);
}

static void *abuf(size_t len)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, 4096, len), 0);
	return p;
}

static void fill(void *buf, size_t len, unsigned int seed)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 9) + 1u);
}

static bool all_zero(const void *buf, size_t len)
{
	const uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/* ---- fixtures --------------------------------------------------------- */

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(vback_epoll_loop_create(NULL, &t->loop), 0);
	disk_create(&t->disk, DISK_SIZE, NULL);
	assert_int_equal(io_open(t, false, 0), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	vback_io_close(&t->io);
	disk_destroy(&t->disk);
	vback_epoll_loop_destroy(t->loop);
	free(t);
	return 0;
}

/* ---- tests ------------------------------------------------------------ */

static void test_caps(void **state)
{
	struct t *t = *state;
	const struct vback_io_caps *c = &t->caps;

	assert_int_equal(c->size_bytes, DISK_SIZE);
	assert_true(c->logical_block_size >= 512);
	assert_int_equal(c->logical_block_size & (c->logical_block_size - 1),
			 0);
	assert_true(c->physical_block_size >= c->logical_block_size);
	assert_int_equal(c->size_bytes % c->logical_block_size, 0);
	assert_false(c->read_only);
	assert_true(c->can_discard);
	assert_true(c->can_write_zeroes);
	if (be->engine != VBACK_IO_ENGINE_MEMORY)
		assert_int_equal(vback_io_engine_of(&t->io), be->engine);
	/* io_uring serves memory-backed files inline exactly when the kernel
	 * cannot read them without blocking (it would punt every request to
	 * its workers), and only them. */
	if (be->memfs) {
		char byte;
		struct iovec one = { &byte, 1 };
		int fd = open(t->disk.file, O_RDONLY | O_CLOEXEC);
		bool punts;

		assert_true(fd >= 0);
		punts = preadv2(fd, &one, 1, 0, RWF_NOWAIT) < 0 &&
			errno == EOPNOTSUPP;
		close(fd);
		assert_int_equal(io_ring_runs_inline(&t->io), punts);
		if (punts) {
			struct vback_io_options o = {
				.path = t->disk.file,
				.engine = be->engine,
				.memfs_via_uring = true,
			};

			vback_io_close(&t->io);
			assert_int_equal(vback_io_open(&o, t->loop, &t->io), 0);
			assert_false(io_ring_runs_inline(&t->io));
		}
	} else {
		assert_false(io_ring_runs_inline(&t->io));
	}
}

static void test_roundtrip(void **state)
{
	struct t *t = *state;
	uint8_t *w = abuf(64 * KiB), *r = abuf(64 * KiB);

	/* A fresh disk reads back zeroes. */
	memset(r, 0xaa, 64 * KiB);
	assert_int_equal(rw(t, VBACK_IO_READ, 0, r, 64 * KiB), 0);
	assert_true(all_zero(r, 64 * KiB));

	fill(w, 64 * KiB, 1);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 128 * KiB, w, 64 * KiB), 0);
	memset(r, 0, 64 * KiB);
	assert_int_equal(rw(t, VBACK_IO_READ, 128 * KiB, r, 64 * KiB), 0);
	assert_read_back(r, w, 64 * KiB);
	/* Overwrite the middle; the rest keeps its data. */
	fill(w + 8 * KiB, 4 * KiB, 2);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 136 * KiB, w + 8 * KiB, 4 * KiB),
			 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 128 * KiB, r, 64 * KiB), 0);
	assert_read_back(r, w, 64 * KiB);
	free(w);
	free(r);
}

/* Buffers at odd addresses with odd lengths (what a guest may hand over):
 * O_DIRECT backends must bounce them, not fail. */
static void test_vectored_unaligned(void **state)
{
	static const size_t wlen[] = { 1000, 3000, 0, 96, 8192 };
	static const size_t rlen[] = { 7, 4089, 511, 1, 7680 };
	struct t *t = *state;
	uint8_t *src = malloc(12 * KiB), *wmem = malloc(12 * KiB + 64);
	uint8_t *rmem = malloc(12 * KiB + 64);
	size_t pos = 0;
	struct op op;

	assert_non_null(src);
	assert_non_null(wmem);
	assert_non_null(rmem);
	fill(src, 12 * KiB, 3);

	op_init(&op, t, VBACK_IO_WRITE, 512 * KiB);
	for (unsigned int i = 0; i < 5; i++) {
		uint8_t *base = wmem + pos + 1 + i; /* never aligned */

		memcpy(base, src + pos, wlen[i]);
		op.iov[i] = (struct vback_iovec){ base, wlen[i] };
		pos += wlen[i];
	}
	op.req.iovcnt = 5;
	assert_int_equal(pos, 12 * KiB);
	assert_int_equal(run_op(t, &op), 0);

	op_init(&op, t, VBACK_IO_READ, 512 * KiB);
	pos = 0;
	for (unsigned int i = 0; i < 5; i++) {
		op.iov[i] = (struct vback_iovec){ rmem + pos + 3 + i, rlen[i] };
		pos += rlen[i];
	}
	op.req.iovcnt = 5;
	assert_int_equal(pos, 12 * KiB);
	assert_int_equal(run_op(t, &op), 0);
	pos = 0;
	for (unsigned int i = 0; i < 5; i++) {
		assert_read_back(rmem + pos + 3 + i, src + pos, rlen[i]);
		pos += rlen[i];
	}

	/* Aligned vectored IO reads the same bytes back. */
	uint8_t *a = abuf(12 * KiB);

	op_init(&op, t, VBACK_IO_READ, 512 * KiB);
	op.iov[0] = (struct vback_iovec){ a + 8 * KiB, 4 * KiB };
	op.iov[1] = (struct vback_iovec){ a, 8 * KiB };
	op.req.iovcnt = 2;
	assert_int_equal(run_op(t, &op), 0);
	assert_read_back(a + 8 * KiB, src, 4 * KiB);
	assert_read_back(a, src + 4 * KiB, 8 * KiB);
	free(a);
	free(src);
	free(wmem);
	free(rmem);
}

/* More than one bounce buffer's worth, unaligned. */
static void test_large_unaligned(void **state)
{
	struct t *t = *state;
	size_t len = 1 * MiB + 4 * KiB;
	uint8_t *w = malloc(len + 1), *r = malloc(len + 1);

	assert_non_null(w);
	assert_non_null(r);
	fill(w + 1, len, 4);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 1 * MiB, w + 1, len), 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 1 * MiB, r + 1, len), 0);
	assert_read_back(r + 1, w + 1, len);
	free(w);
	free(r);
}

static void test_flush_and_persist(void **state)
{
	struct t *t = *state;
	uint8_t *w = abuf(16 * KiB), *r = abuf(16 * KiB);

	fill(w, 16 * KiB, 5);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 64 * KiB, w, 16 * KiB), 0);
	assert_int_equal(range_op(t, VBACK_IO_FLUSH, 0, 0, 0), 0);
	if (be->engine != VBACK_IO_ENGINE_MEMORY) {
		/* The bytes are in the file, and a new instance sees them. */
		if (t->disk.file[0]) {
			int fd = open(t->disk.file, O_RDONLY | O_CLOEXEC);

			assert_true(fd >= 0);
			assert_int_equal(pread(fd, r, 16 * KiB, 64 * KiB),
					 16 * KiB);
			close(fd);
			assert_read_back(r, w, 16 * KiB);
		}
		vback_io_close(&t->io);
		assert_null(t->io.ops);
		assert_int_equal(io_open(t, false, 0), 0);
		memset(r, 0, 16 * KiB);
		assert_int_equal(rw(t, VBACK_IO_READ, 64 * KiB, r, 16 * KiB),
				 0);
		assert_read_back(r, w, 16 * KiB);
	}
	free(w);
	free(r);
}

static void test_discard(void **state)
{
	struct t *t = *state;
	uint8_t *w = abuf(64 * KiB), *r = abuf(64 * KiB);

	fill(w, 64 * KiB, 6);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 256 * KiB, w, 64 * KiB), 0);
	assert_int_equal(range_op(t, VBACK_IO_DISCARD, 272 * KiB, 32 * KiB, 0),
			 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 256 * KiB, r, 64 * KiB), 0);
	/* Punched holes read back as zeroes; the edges keep their data. */
	assert_read_back(r, w, 16 * KiB);
	if (!be->discard_keeps_data)
		assert_true(all_zero(r + 16 * KiB, 32 * KiB));
	assert_read_back(r + 48 * KiB, w + 48 * KiB, 16 * KiB);
	/* Zero length is a no-op. */
	assert_int_equal(range_op(t, VBACK_IO_DISCARD, 0, 0, 0), 0);
	free(w);
	free(r);
}

static void check_write_zeroes(struct t *t, uint32_t flags, unsigned int seed)
{
	uint8_t *w = abuf(64 * KiB), *r = abuf(64 * KiB);

	fill(w, 64 * KiB, seed);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 2 * MiB, w, 64 * KiB), 0);
	assert_int_equal(range_op(t, VBACK_IO_WRITE_ZEROES, 2 * MiB + 4 * KiB,
				  40 * KiB, flags),
			 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 2 * MiB, r, 64 * KiB), 0);
	assert_read_back(r, w, 4 * KiB);
	assert_true(all_zero(r + 4 * KiB, 40 * KiB));
	assert_read_back(r + 44 * KiB, w + 44 * KiB, 20 * KiB);
	free(w);
	free(r);
}

static void test_write_zeroes(void **state)
{
	check_write_zeroes(*state, 0, 7);
}

static void test_write_zeroes_unmap(void **state)
{
	check_write_zeroes(*state, VBACK_IO_F_UNMAP, 8);
}

static void test_end_of_disk(void **state)
{
	struct t *t = *state;
	uint64_t size = t->caps.size_bytes;
	uint32_t lbs = t->caps.logical_block_size;
	uint8_t *w = abuf(8 * KiB), *r = abuf(8 * KiB);
	struct op op;

	fill(w, 8 * KiB, 9);
	/* The last block is reachable. */
	assert_int_equal(rw(t, VBACK_IO_WRITE, size - 4 * KiB, w, 4 * KiB), 0);
	assert_int_equal(rw(t, VBACK_IO_READ, size - 4 * KiB, r, 4 * KiB), 0);
	assert_read_back(r, w, 4 * KiB);
	/* One block past it is not, and nothing completes. */
	rw_refused(t, VBACK_IO_WRITE, size - 4 * KiB, w, 8 * KiB);
	rw_refused(t, VBACK_IO_READ, size, r, lbs);
	rw_refused(t, VBACK_IO_READ, UINT64_MAX - lbs + 1, r, lbs);
	range_refused(t, VBACK_IO_DISCARD, size - lbs, 2 * lbs);
	range_refused(t, VBACK_IO_WRITE_ZEROES, size, lbs);
	range_refused(t, VBACK_IO_WRITE_ZEROES, UINT64_MAX - lbs + 1, 2 * lbs);
	/* The data at the end is untouched by the refused write. */
	assert_int_equal(rw(t, VBACK_IO_READ, size - 4 * KiB, r, 4 * KiB), 0);
	assert_read_back(r, w, 4 * KiB);
	/* Zero-length read at the very end is fine. */
	op_init(&op, t, VBACK_IO_READ, size);
	assert_int_equal(run_op(t, &op), 0);

	/* Malformed requests are refused, not completed. */
	rw_refused(t, VBACK_IO_READ, 100, r, lbs);
	rw_refused(t, VBACK_IO_READ, 0, r, lbs + 1);
	op_init(&op, t, (enum vback_io_op)42, 0);
	assert_refused(t, &op);
	op_init(&op, t, VBACK_IO_WRITE_ZEROES, 0);
	op.req.len = lbs;
	op.req.flags = 0x80;
	assert_refused(t, &op);
	op_init(&op, t, VBACK_IO_READ, 0);
	op.req.iov = NULL;
	op.req.iovcnt = 1;
	assert_refused(t, &op);
	op_init(&op, t, VBACK_IO_READ, 0);
	op.req.done = NULL;
	assert_int_equal(submit(t, &op), -EINVAL); /* nothing to count */
	/* A vector whose lengths wrap around. */
	op_init(&op, t, VBACK_IO_READ, 0);
	op.iov[0] = (struct vback_iovec){ r, SIZE_MAX };
	op.iov[1] = (struct vback_iovec){ r, 2 };
	op.req.iovcnt = 2;
	assert_refused(t, &op);
	if (t->caps.max_segments) {
		struct vback_iovec *many =
			calloc(t->caps.max_segments + 1, sizeof(*many));

		assert_non_null(many);
		op_init(&op, t, VBACK_IO_READ, 0);
		op.req.iov = many;
		op.req.iovcnt = t->caps.max_segments + 1;
		assert_refused(t, &op);
		free(many);
	}
	free(w);
	free(r);
}

/* More iovecs than one preadv/io_uring readv takes (IOV_MAX, 1024): an
 * engine without a max_segments limit must still move every byte. A
 * guest request splits at guest-memory region boundaries, so the device
 * may hand more pieces than the segments it advertised. */
static void test_many_iovecs(void **state)
{
	struct t *t = *state;
	enum { N = 3000, PIECE = 512 };
	uint8_t *w = abuf(N * PIECE), *r = abuf(N * PIECE);
	struct vback_iovec *v = calloc(N, sizeof(*v));
	struct op op;

	if (t->caps.max_segments && t->caps.max_segments < N) {
		free(v);
		free(w);
		free(r);
		skip();
	}
	assert_non_null(v);
	fill(w, N * PIECE, 77);
	for (unsigned int i = 0; i < N; i++)
		v[i] = (struct vback_iovec){ w + (size_t)i * PIECE, PIECE };
	op_init(&op, t, VBACK_IO_WRITE, 0);
	op.req.iov = v;
	op.req.iovcnt = N;
	assert_int_equal(run_op(t, &op), 0);
	memset(r, 0, N * PIECE);
	for (unsigned int i = 0; i < N; i++)
		v[i] = (struct vback_iovec){ r + (size_t)i * PIECE, PIECE };
	op_init(&op, t, VBACK_IO_READ, 0);
	op.req.iov = v;
	op.req.iovcnt = N;
	assert_int_equal(run_op(t, &op), 0);
	assert_read_back(r, w, N * PIECE);
	free(v);
	free(w);
	free(r);
}

/* O_DIRECT from memory the kernel cannot pin: Xen foreign and grant
 * mappings are VM_IO|VM_PFNMAP, so preadv/pwritev on an O_DIRECT fd fail
 * with EFAULT although the CPU reaches the bytes. memfd_secret(2) memory
 * behaves the same way and is available to an unprivileged test. The
 * engine must bounce, not fail the guest's request. */
static void test_direct_unpinnable(void **state)
{
	struct t *t = *state;
	uint8_t *w = abuf(8 * KiB), *r = abuf(8 * KiB);
	uint8_t *secret;
	struct op op;
	int fd = -1;

#ifdef SYS_memfd_secret
	fd = (int)syscall(SYS_memfd_secret, 0);
#endif
	if (!be->direct || fd < 0 || ftruncate(fd, 8 * KiB) != 0) {
		if (fd >= 0)
			close(fd);
		free(w);
		free(r);
		skip();
	}
	secret = mmap(NULL, 8 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (secret == MAP_FAILED) {
		free(w);
		free(r);
		skip();
	}
	fill(w, 8 * KiB, 91);
	memcpy(secret, w, 8 * KiB);
	op_init(&op, t, VBACK_IO_WRITE, 64 * KiB);
	op.iov[0] = (struct vback_iovec){ secret, 8 * KiB };
	op.req.iovcnt = 1;
	assert_int_equal(run_op(t, &op), 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 64 * KiB, r, 8 * KiB), 0);
	assert_read_back(r, w, 8 * KiB);

	memset(secret, 0, 8 * KiB);
	op_init(&op, t, VBACK_IO_READ, 64 * KiB);
	op.iov[0] = (struct vback_iovec){ secret, 8 * KiB };
	op.req.iovcnt = 1;
	assert_int_equal(run_op(t, &op), 0);
	assert_read_back(secret, w, 8 * KiB);
	munmap(secret, 8 * KiB);
	free(w);
	free(r);
}

static void test_read_only(void **state)
{
	struct t *t = *state;
	uint8_t *w = abuf(4 * KiB), *r = abuf(4 * KiB);

	fill(w, 4 * KiB, 10);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 0, w, 4 * KiB), 0);
	if (be->engine == VBACK_IO_ENGINE_MEMORY) {
		/* A RAM disk does not survive close: use a fresh one. */
		vback_io_close(&t->io);
		assert_int_equal(io_open(t, true, 0), 0);
		memset(w, 0, 4 * KiB);
	} else {
		vback_io_close(&t->io);
		assert_int_equal(io_open(t, true, 0), 0);
	}
	assert_true(t->caps.read_only);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 0, r, 4 * KiB), -EROFS);
	assert_int_equal(range_op(t, VBACK_IO_DISCARD, 0, 4 * KiB, 0), -EROFS);
	assert_int_equal(range_op(t, VBACK_IO_WRITE_ZEROES, 0, 4 * KiB, 0),
			 -EROFS);
	assert_int_equal(range_op(t, VBACK_IO_WRITE_ZEROES, 0, 4 * KiB,
				  VBACK_IO_F_UNMAP),
			 -EROFS);
	assert_int_equal(range_op(t, VBACK_IO_SECURE_ERASE, 0, 4 * KiB, 0),
			 -EROFS);
	/* Reading and flushing still work; the data is intact. */
	assert_int_equal(rw(t, VBACK_IO_READ, 0, r, 4 * KiB), 0);
	assert_read_back(r, w, 4 * KiB);
	assert_int_equal(range_op(t, VBACK_IO_FLUSH, 0, 0, 0), 0);
	free(w);
	free(r);
}

static void test_backpressure(void **state)
{
	struct t *t = *state;
	uint8_t *buf = abuf(5 * 4 * KiB);
	struct op ops[5];

	vback_io_close(&t->io);
	assert_int_equal(io_open(t, false, 4), 0);
	for (int i = 0; i < 5; i++) {
		op_init(&ops[i], t, VBACK_IO_READ, (uint64_t)i * 4 * KiB);
		ops[i].iov[0] =
			(struct vback_iovec){ buf + i * 4 * KiB, 4 * KiB };
		ops[i].req.iovcnt = 1;
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(submit(t, &ops[i]), 0);
	/* Full: refused, nothing lost, nothing completed by submit(). */
	assert_int_equal(submit(t, &ops[4]), -EAGAIN);
	assert_int_equal(submit(t, &ops[4]), -EAGAIN);
	vback_io_unplug(&t->io);
	for (int i = 0; i < 4; i++)
		wait_for(t, &ops[i].ndone, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ops[i].result, 0);
	assert_int_equal(ops[4].ndone, 0);
	/* Room again: the retried request goes through. */
	assert_int_equal(run_op(t, &ops[4]), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ops[i].ndone, 1);
	free(buf);
}

static void on_chain_done(struct vback_io_req *req, int result)
{
	struct op *op = req->opaque;

	assert_false(op->t->in_submit);
	op->ndone++;
	op->result = result;
	if (result || !op->chain_left)
		return;
	/* Reuse the request from inside its own completion. */
	op->chain_left--;
	req->offset += 4 * KiB;
	op->iov[0].iov_base = (uint8_t *)op->iov[0].iov_base + 4 * KiB;
	op->t->in_submit = true;
	assert_int_equal(vback_io_submit(&op->t->io, req), 0);
	op->t->in_submit = false;
	vback_io_unplug(&op->t->io);
}

static void test_resubmit_from_done(void **state)
{
	struct t *t = *state;
	uint8_t *w = abuf(16 * 4 * KiB), *r = abuf(16 * 4 * KiB);
	struct op op;

	fill(w, 16 * 4 * KiB, 11);
	op_init(&op, t, VBACK_IO_WRITE, 3 * MiB);
	op.req.done = on_chain_done;
	op.iov[0] = (struct vback_iovec){ w, 4 * KiB };
	op.req.iovcnt = 1;
	op.chain_left = 15;
	assert_int_equal(submit(t, &op), 0);
	vback_io_unplug(&t->io);
	wait_for(t, &op.ndone, 16);
	assert_int_equal(op.result, 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 3 * MiB, r, 16 * 4 * KiB), 0);
	assert_read_back(r, w, 16 * 4 * KiB);
	free(w);
	free(r);
}

/* Many requests in flight at once, in random order, with retries on
 * back-pressure: every byte lands where it should. */
static void test_many_inflight(void **state)
{
	enum { N = 128 };
	struct t *t = *state;
	uint8_t *w = abuf(N * 4 * KiB), *r = abuf(N * 4 * KiB);
	struct op *ops = calloc(N, sizeof(*ops));
	unsigned int order[N];
	int total = 0, next = 0;

	assert_non_null(ops);
	vback_io_close(&t->io);
	assert_int_equal(io_open(t, false, 32), 0);
	fill(w, N * 4 * KiB, 12);
	for (unsigned int i = 0; i < N; i++)
		order[i] = i;
	srand(12);
	for (unsigned int i = N - 1; i > 0; i--) {
		unsigned int j = (unsigned int)rand() % (i + 1), x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	while (next < N) {
		struct op *op = &ops[next];
		unsigned int blk = order[next];
		int ret;

		op_init(op, t, VBACK_IO_WRITE, (uint64_t)blk * 4 * KiB);
		op->iov[0] = (struct vback_iovec){ w + blk * 4 * KiB, 4 * KiB };
		op->req.iovcnt = 1;
		ret = submit(t, op);
		if (ret == -EAGAIN) {
			vback_io_unplug(&t->io);
			assert_true(vback_loop_run_once(t->loop, 1000) >= 0);
			continue;
		}
		assert_int_equal(ret, 0);
		next++;
	}
	vback_io_unplug(&t->io);
	for (int i = 0; i < 1000; i++) {
		total = 0;
		for (int k = 0; k < N; k++)
			total += ops[k].ndone;
		if (total == N)
			break;
		assert_true(vback_loop_run_once(t->loop, 100) >= 0);
	}
	assert_int_equal(total, N);
	for (int k = 0; k < N; k++)
		assert_int_equal(ops[k].result, 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 0, r, N * 4 * KiB), 0);
	assert_read_back(r, w, N * 4 * KiB);
	free(ops);
	free(w);
	free(r);
}

static void test_close_completes_inflight(void **state)
{
	struct t *t = *state;
	uint8_t *buf = abuf(8 * 64 * KiB);
	struct op ops[8];

	for (int i = 0; i < 8; i++) {
		op_init(&ops[i], t, i % 2 ? VBACK_IO_READ : VBACK_IO_WRITE,
			(uint64_t)i * 64 * KiB);
		ops[i].iov[0] =
			(struct vback_iovec){ buf + i * 64 * KiB, 64 * KiB };
		ops[i].req.iovcnt = 1;
		assert_int_equal(submit(t, &ops[i]), 0);
	}
	vback_io_unplug(&t->io);
	/* No loop iteration: close() itself must finish them. */
	vback_io_close(&t->io);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(ops[i].ndone, 1);
		assert_int_equal(ops[i].result, 0);
	}
	assert_int_equal(io_open(t, false, 0), 0);
	free(buf);
}

/* Mount a small tmpfs for this disk; false if the machine forbids it. */
static bool mount_small_tmpfs(struct disk *d, const char *size)
{
	snprintf(d->mnt, sizeof(d->mnt), "%s/mnt-XXXXXX", workdir);
	if (!mkdtemp(d->mnt)) {
		d->mnt[0] = 0;
		return false;
	}
	if (mount("tmpfs", d->mnt, "tmpfs", 0, size) < 0) {
		rmdir(d->mnt);
		d->mnt[0] = 0;
		return false;
	}
	return true;
}

/*
 * A disk that fails: an injected fault (memory) or a file on a full
 * filesystem. The error reaches the caller as a negative errno, and later
 * requests still work.
 */
static void test_error_injection(void **state)
{
	struct t *t = *state;
	uint8_t *w = abuf(64 * KiB), *r = abuf(64 * KiB);
	struct disk small;
	int err = 0;

	fill(w, 64 * KiB, 13);
	if (be->null) {
		/* Nothing can fail: no disk behind it. */
		free(w);
		free(r);
		skip();
	}
	if (be->engine == VBACK_IO_ENGINE_MEMORY) {
		assert_int_equal(io_memory_inject_error(&t->io, 1 * MiB,
							64 * KiB, -EIO),
				 0);
		assert_int_equal(rw(t, VBACK_IO_WRITE, 1 * MiB + 32 * KiB, w,
				    64 * KiB),
				 -EIO);
		assert_int_equal(rw(t, VBACK_IO_READ, 1 * MiB, r, 4 * KiB),
				 -EIO);
		assert_int_equal(range_op(t, VBACK_IO_WRITE_ZEROES, 1 * MiB,
					  4 * KiB, 0),
				 -EIO);
		assert_int_equal(rw(t, VBACK_IO_WRITE, 0, w, 64 * KiB), 0);
		assert_int_equal(io_memory_inject_error(&t->io, 0, 0, 0), 0);
		assert_int_equal(rw(t, VBACK_IO_WRITE, 1 * MiB, w, 64 * KiB),
				 0);
		assert_int_equal(rw(t, VBACK_IO_READ, 1 * MiB, r, 64 * KiB), 0);
		assert_read_back(r, w, 64 * KiB);
		goto out;
	}

	if (be->net) {
		/* A server that fails every request for a while. */
		if (netdisk_run("fail '%s' on", t->disk.spec) == 77) {
			free(w);
			free(r);
			skip();
		}
		assert_int_equal(rw(t, VBACK_IO_WRITE, 0, w, 64 * KiB), -EIO);
		assert_int_equal(rw(t, VBACK_IO_READ, 0, r, 4 * KiB), -EIO);
		assert_int_equal(netdisk_run("fail '%s' off", t->disk.spec), 0);
		assert_int_equal(rw(t, VBACK_IO_WRITE, 0, w, 64 * KiB), 0);
		assert_int_equal(rw(t, VBACK_IO_READ, 0, r, 64 * KiB), 0);
		assert_read_back(r, w, 64 * KiB);
		goto out;
	}
	/* A 1 MiB disk on a 256 KiB filesystem. */
	memset(&small, 0, sizeof(small));
	if (!mount_small_tmpfs(&small, "size=256k")) {
		free(w);
		free(r);
		skip();
	}
	vback_io_close(&t->io);
	disk_destroy(&t->disk);
	disk_create(&t->disk, 1 * MiB, small.mnt);
	assert_int_equal(io_open(t, false, 0), 0);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 0, w, 64 * KiB), 0);
	for (uint64_t off = 64 * KiB; off < 1 * MiB && !err; off += 64 * KiB) {
		err = rw(t, VBACK_IO_WRITE, off, w, 64 * KiB);
		/* Buffered block devices only learn of it on flush. */
		if (!err)
			err = range_op(t, VBACK_IO_FLUSH, 0, 0, 0);
	}
	assert_true(err < 0);
	if (!be->blockdev)
		assert_int_equal(err, -ENOSPC);
	/* Written-to space still works, and so does reading. */
	fill(w, 64 * KiB, 14);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 0, w, 64 * KiB), 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 0, r, 64 * KiB), 0);
	assert_read_back(r, w, 64 * KiB);
	vback_io_close(&t->io);
	disk_destroy(&t->disk);
	disk_destroy(&small);
	/* Leave a normal disk for teardown. */
	disk_create(&t->disk, DISK_SIZE, NULL);
	assert_int_equal(io_open(t, false, 0), 0);
out:
	free(w);
	free(r);
}

static void test_size_change(void **state)
{
	struct t *t = *state;
	uint8_t *w = abuf(4 * KiB), *r = abuf(4 * KiB);
	uint64_t size = 0;

	assert_int_equal(t->io.ops->refresh_size(t->io.opaque, &size), 0);
	assert_int_equal(size, DISK_SIZE);
	/* Fixed at open: a RAM disk, and the null engine's size. */
	if (be->engine == VBACK_IO_ENGINE_MEMORY || be->null)
		goto out;
	if (be->net) {
		int ret = 0;

		/* NBD sizes are fixed per connection: 77, skip. */
		if (netdisk_run("resize '%s' %u", t->disk.spec,
				DISK_SIZE + 1 * MiB) == 77) {
			free(w);
			free(r);
			skip();
		}
		/* RBD learns of it through its header watch. */
		for (int i = 0; i < 100 && ret == 0; i++) {
			ret = t->io.ops->refresh_size(t->io.opaque, &size);
			if (ret == 0)
				usleep(20000);
		}
		assert_int_equal(ret, 1);
	} else {
		assert_int_equal(truncate(t->disk.file, DISK_SIZE + 1 * MiB),
				 0);
		if (be->blockdev)
			assert_int_equal(run_cmd("losetup -c %s", t->disk.dev),
					 0);
		assert_int_equal(t->io.ops->refresh_size(t->io.opaque, &size),
				 1);
	}
	assert_int_equal(size, DISK_SIZE + 1 * MiB);
	assert_int_equal(vback_io_get_caps(&t->io, &t->caps), 0);
	assert_int_equal(t->caps.size_bytes, DISK_SIZE + 1 * MiB);
	/* The new end is usable. */
	fill(w, 4 * KiB, 15);
	assert_int_equal(rw(t, VBACK_IO_WRITE, DISK_SIZE + 1 * MiB - 4 * KiB, w,
			    4 * KiB),
			 0);
	assert_int_equal(rw(t, VBACK_IO_READ, DISK_SIZE + 1 * MiB - 4 * KiB, r,
			    4 * KiB),
			 0);
	assert_read_back(r, w, 4 * KiB);
	assert_int_equal(t->io.ops->refresh_size(t->io.opaque, &size), 0);
out:
	free(w);
	free(r);
}

/* The file shrank and nobody told us: a read across the new end is a
 * short transfer (io_uring hands the rest to its workers), then EOF: -EIO,
 * never a buffer left half-filled as if it were data. */
static void test_shrunk_under_us(void **state)
{
	struct t *t = *state;
	uint64_t size = 0;
	uint8_t *w, *r;

	if (be->engine == VBACK_IO_ENGINE_MEMORY || be->blockdev || be->net ||
	    be->null)
		skip();
	w = abuf(128 * KiB);
	r = abuf(128 * KiB);
	fill(w, 128 * KiB, 16);
	assert_int_equal(rw(t, VBACK_IO_WRITE, DISK_SIZE - 128 * KiB, w,
			    128 * KiB),
			 0);
	assert_int_equal(range_op(t, VBACK_IO_FLUSH, 0, 0, 0), 0);
	assert_int_equal(truncate(t->disk.file, DISK_SIZE - 64 * KiB), 0);
	assert_int_equal(rw(t, VBACK_IO_READ, DISK_SIZE - 128 * KiB, r,
			    128 * KiB),
			 -EIO);
	/* What is still there reads fine. */
	assert_int_equal(rw(t, VBACK_IO_READ, DISK_SIZE - 128 * KiB, r,
			    64 * KiB),
			 0);
	assert_read_back(r, w, 64 * KiB);
	assert_int_equal(t->io.ops->refresh_size(t->io.opaque, &size), 1);
	assert_int_equal(size, DISK_SIZE - 64 * KiB);
	assert_int_equal(rw(t, VBACK_IO_READ, DISK_SIZE - 128 * KiB, r,
			    128 * KiB),
			 -EINVAL);
	free(w);
	free(r);
}

/* A second instance may not write the same disk. */
static void test_exclusive(void **state)
{
	struct t *t = *state;
	struct vback_io other;
	struct vback_io_options o = {
		.path = disk_path(&t->disk),
		.engine = be->engine,
		.direct = be->direct,
	};

	/* Servers take any number of clients; the null engine only looks
	 * at the file's size. */
	if (be->engine == VBACK_IO_ENGINE_MEMORY || be->net || be->null)
		skip();
	assert_int_equal(vback_io_open(&o, t->loop, &other), -EBUSY);
	o.read_only = true;
	assert_int_equal(vback_io_open(&o, t->loop, &other), -EBUSY);
	/* Once the writer is gone, two readers may share it (files). */
	vback_io_close(&t->io);
	assert_int_equal(vback_io_open(&o, t->loop, &other), 0);
	if (!be->blockdev) {
		assert_int_equal(io_open(t, true, 0), 0);
		vback_io_close(&t->io);
	}
	vback_io_close(&other);
	assert_int_equal(io_open(t, false, 0), 0);
}

/*
 * vback_io_set_buffers(): where most buffers will be. io_uring with
 * O_DIRECT registers them as fixed buffers, and a request inside them
 * uses one (moving the right bytes); a request outside goes the usual
 * way. The others have nothing to prepare. Never with IO in flight.
 */
static void test_fixed_buffers(void **state)
{
	struct t *t = *state;
	bool fixed = be->engine == VBACK_IO_ENGINE_URING && be->direct;
	/* Declared: the first MiB of two. */
	uint8_t *region = abuf(2 * MiB), *outside = abuf(64 * KiB);
	struct vback_iovec r = { region, 1 * MiB };
	uint64_t n0;
	struct op op;
	int ret;

	ret = vback_io_set_buffers(&t->io, &r, 1);
	if (ret && fixed) {
		/* No RLIMIT_MEMLOCK room here (an unprivileged run). */
		free(region);
		free(outside);
		skip();
	}
	assert_int_equal(ret, 0);
	n0 = io_ring_fixed_requests(&t->io);
	fill(region, 64 * KiB, 21);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 256 * KiB, region, 64 * KiB), 0);
	memset(region + 512 * KiB, 0, 64 * KiB);
	assert_int_equal(rw(t, VBACK_IO_READ, 256 * KiB, region + 512 * KiB,
			    64 * KiB),
			 0);
	assert_read_back(region + 512 * KiB, region, 64 * KiB);
	assert_int_equal(io_ring_fixed_requests(&t->io), n0 + (fixed ? 2 : 0));
	/* Outside the region: the usual way, the same bytes. */
	assert_int_equal(rw(t, VBACK_IO_READ, 256 * KiB, outside, 64 * KiB), 0);
	assert_read_back(outside, region, 64 * KiB);
	assert_int_equal(io_ring_fixed_requests(&t->io), n0 + (fixed ? 2 : 0));
	/* The last page is inside; one straddling the end is not. */
	assert_int_equal(rw(t, VBACK_IO_READ, 0, region + 1 * MiB - 4 * KiB,
			    4 * KiB),
			 0);
	assert_int_equal(io_ring_fixed_requests(&t->io), n0 + (fixed ? 3 : 0));
	assert_int_equal(rw(t, VBACK_IO_READ, 0, region + 1 * MiB - 2 * KiB,
			    4 * KiB),
			 0);
	assert_int_equal(io_ring_fixed_requests(&t->io), n0 + (fixed ? 3 : 0));
	/* Not while something is in flight. */
	op_init(&op, t, VBACK_IO_READ, 0);
	op.iov[0] = (struct vback_iovec){ region, 4 * KiB };
	op.req.iovcnt = 1;
	assert_int_equal(submit(t, &op), 0);
	assert_int_equal(vback_io_set_buffers(&t->io, NULL, 0),
			 be->engine == VBACK_IO_ENGINE_URING ? -EBUSY : 0);
	vback_io_unplug(&t->io);
	wait_for(t, &op.ndone, 1);
	assert_int_equal(op.result, 0);
	/* Forgotten: nothing fixed any more. */
	assert_int_equal(vback_io_set_buffers(&t->io, NULL, 0), 0);
	n0 = io_ring_fixed_requests(&t->io);
	assert_int_equal(rw(t, VBACK_IO_READ, 0, region, 4 * KiB), 0);
	assert_int_equal(io_ring_fixed_requests(&t->io), n0);
	assert_int_equal(vback_io_set_buffers(&t->io, NULL, 1), -EINVAL);
	free(region);
	free(outside);
}

/* rw() on another instance and loop. */
static int rw_on(struct vback_loop *loop, struct vback_io *io,
		 enum vback_io_op code, uint64_t offset, void *buf, size_t len)
{
	struct t other = { .loop = loop, .io = *io };
	struct op op;

	op_init(&op, &other, code, offset);
	op.iov[0] = (struct vback_iovec){ buf, len };
	op.req.iovcnt = 1;
	return run_op(&other, &op);
}

/* A thread that runs a loop and serves one instance on it. */
struct served {
	struct vback_loop *loop;
	struct vback_io *io;
	uint8_t *buf;
	int write_result, read_result;
};

/* Submit, unplug and wait without cmocka (not on the test's thread):
 * -ETIMEDOUT after 10 s. */
static int rw_quiet(struct vback_loop *loop, struct vback_io *io,
		    enum vback_io_op code, uint64_t offset, void *buf,
		    size_t len)
{
	struct t other = { .loop = loop, .io = *io };
	struct op op;
	int ret;

	op_init(&op, &other, code, offset);
	op.iov[0] = (struct vback_iovec){ buf, len };
	op.req.iovcnt = 1;
	ret = submit(&other, &op);
	if (ret)
		return ret;
	vback_io_unplug(io);
	for (int i = 0; i < 100 && !op.ndone; i++)
		if (vback_loop_run_once(loop, 100) < 0)
			return -EIO;
	return op.ndone ? op.result : -ETIMEDOUT;
}

static void *serve_main(void *arg)
{
	struct served *s = arg;

	s->write_result = rw_quiet(s->loop, s->io, VBACK_IO_WRITE, 768 * KiB,
				   s->buf, 64 * KiB);
	memset(s->buf, 0, 64 * KiB);
	s->read_result = rw_quiet(s->loop, s->io, VBACK_IO_READ, 768 * KiB,
				  s->buf, 64 * KiB);
	/* Closed where it ran, as vback_io_clone() asks. */
	vback_io_close(s->io);
	return NULL;
}

/*
 * A clone made on one thread before its loop runs, then served by the
 * thread that runs that loop (vback-disk's queue threads, or an embedder
 * that sets everything up first): nothing of the instance may be tied to
 * the thread that made it (io_uring's registered ring fd is per thread).
 */
static void test_clone_served_by_another_thread(void **state)
{
	struct t *t = *state;
	uint8_t *w = abuf(64 * KiB), *r = abuf(64 * KiB);
	struct vback_io clone;
	struct served s = { .io = &clone, .buf = r };
	pthread_t th;
	int ret;

	assert_int_equal(vback_epoll_loop_create(NULL, &s.loop), 0);
	ret = vback_io_clone(&t->io, s.loop, &clone);
	if (be->net) {
		assert_int_equal(ret, -ENOTSUP);
		goto out;
	}
	assert_int_equal(ret, 0);
	fill(w, 64 * KiB, 41);
	memcpy(r, w, 64 * KiB);
	assert_int_equal(pthread_create(&th, NULL, serve_main, &s), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(s.write_result, 0);
	assert_int_equal(s.read_result, 0);
	assert_read_back(r, w, 64 * KiB);
	/* The original sees what the other thread wrote. */
	memset(r, 0, 64 * KiB);
	assert_int_equal(rw(t, VBACK_IO_READ, 768 * KiB, r, 64 * KiB), 0);
	assert_read_back(r, w, 64 * KiB);
out:
	vback_epoll_loop_destroy(s.loop);
	free(w);
	free(r);
}

/*
 * vback_io_clone(): another instance on the same disk for another loop
 * (a queue thread's). It sees what the original wrote and the reverse,
 * shares the size (a refresh through either is seen by both) and the
 * lock (closing the clone does not give the disk away).
 */
static void test_clone(void **state)
{
	struct t *t = *state;
	uint8_t *w = abuf(64 * KiB), *r = abuf(64 * KiB);
	struct vback_loop *loop2;
	struct vback_io clone, other;
	uint64_t size = 0;
	int ret;

	assert_int_equal(vback_epoll_loop_create(NULL, &loop2), 0);
	ret = vback_io_clone(&t->io, loop2, &clone);
	if (be->net) {
		assert_int_equal(ret, -ENOTSUP);
		goto out;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(vback_io_engine_of(&clone),
			 vback_io_engine_of(&t->io));
	fill(w, 64 * KiB, 31);
	assert_int_equal(rw(t, VBACK_IO_WRITE, 512 * KiB, w, 64 * KiB), 0);
	assert_int_equal(rw_on(loop2, &clone, VBACK_IO_READ, 512 * KiB, r,
			       64 * KiB),
			 0);
	assert_read_back(r, w, 64 * KiB);
	fill(w, 64 * KiB, 32);
	assert_int_equal(rw_on(loop2, &clone, VBACK_IO_WRITE, 640 * KiB, w,
			       64 * KiB),
			 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 640 * KiB, r, 64 * KiB), 0);
	assert_read_back(r, w, 64 * KiB);
	if (t->disk.file[0] && !be->blockdev && !be->null) {
		struct vback_io_caps caps;

		/* Grown, refreshed through the original: the clone takes
		 * requests at the new end. */
		assert_int_equal(truncate(t->disk.file, DISK_SIZE + 1 * MiB),
				 0);
		assert_int_equal(t->io.ops->refresh_size(t->io.opaque, &size),
				 1);
		assert_int_equal(vback_io_get_caps(&clone, &caps), 0);
		assert_int_equal(caps.size_bytes, DISK_SIZE + 1 * MiB);
		assert_int_equal(rw_on(loop2, &clone, VBACK_IO_WRITE,
				       DISK_SIZE + 1 * MiB - 64 * KiB, w,
				       64 * KiB),
				 0);
	}
	vback_io_close(&clone);
	if (t->disk.file[0] && !be->null) {
		struct vback_io_options o = {
			.path = disk_path(&t->disk),
			.engine = be->engine,
			.direct = be->direct,
		};

		/* The original still holds the disk. */
		assert_int_equal(vback_io_open(&o, loop2, &other), -EBUSY);
	}
	/* And still works. */
	assert_int_equal(rw(t, VBACK_IO_READ, 512 * KiB, r, 64 * KiB), 0);
out:
	vback_epoll_loop_destroy(loop2);
	free(w);
	free(r);
}

/* Forced unit access: honoured where the caps say so, refused elsewhere,
 * and never on a read. */
static void test_fua(void **state)
{
	struct t *t = *state;
	uint8_t *w = abuf(8 * KiB), *r = abuf(8 * KiB);
	struct op op;

	fill(w, 8 * KiB, 17);
	op_init(&op, t, VBACK_IO_WRITE, 8 * KiB);
	op.iov[0] = (struct vback_iovec){ w, 8 * KiB };
	op.req.iovcnt = 1;
	op.req.flags = VBACK_IO_F_FUA;
	if (!t->caps.can_fua) {
		assert_int_equal(submit(t, &op), -EOPNOTSUPP);
		goto out;
	}
	assert_int_equal(run_op(t, &op), 0);
	assert_int_equal(rw(t, VBACK_IO_READ, 8 * KiB, r, 8 * KiB), 0);
	assert_read_back(r, w, 8 * KiB);
	if (t->caps.can_write_zeroes)
		assert_int_equal(range_op(t, VBACK_IO_WRITE_ZEROES, 8 * KiB,
					  4 * KiB, VBACK_IO_F_FUA),
				 0);
	op_init(&op, t, VBACK_IO_READ, 0);
	op.iov[0] = (struct vback_iovec){ r, 4 * KiB };
	op.req.iovcnt = 1;
	op.req.flags = VBACK_IO_F_FUA;
	assert_int_equal(submit(t, &op), -EINVAL);
out:
	assert_int_equal(op.ndone, 0);
	free(w);
	free(r);
}

/* ---- main ------------------------------------------------------------- */

static int prepare(const char *name)
{
	const char *tmp = getenv("VBACK_TEST_TMPDIR");
	struct t probe = { 0 };

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(backends[i].name, name))
			be = &backends[i];
	if (!be) {
		fprintf(stderr, "unknown backend %s\n", name);
		return 2;
	}
	/* Not /tmp: it may be a tmpfs, and O_DIRECT wants a real one;
	 * memfs variants want exactly a tmpfs. */
	snprintf(workdir, sizeof(workdir), "%s/vback-io-test-XXXXXX",
		 be->memfs ? "/dev/shm"
		 : tmp	   ? tmp
			   : "/var/tmp");
	if (!mkdtemp(workdir)) {
		perror(workdir);
		return 2;
	}
	if (be->engine == VBACK_IO_ENGINE_MEMORY)
		return 0;
	if (be->net) {
		netdisk = getenv("VBACK_TEST_NETDISK");
		if (!netdisk || !*netdisk) {
			fprintf(stderr,
				"%s: needs a server: run it through "
				"tests/netio/with-server.sh KIND\n",
				name);
			rmdir(workdir);
			return 2;
		}
		return 0;
	}
	/* Can this machine run this backend at all? */
	snprintf(probe.disk.file, sizeof(probe.disk.file), "%s/probe.img",
		 workdir);
	{
		int fd = open(probe.disk.file, O_RDWR | O_CREAT | O_CLOEXEC,
			      0600);

		if (fd < 0 || ftruncate(fd, 1 * MiB) < 0) {
			perror(probe.disk.file);
			return 2;
		}
		close(fd);
	}
	if (be->blockdev && !loop_attach(probe.disk.file, probe.disk.dev,
					 sizeof(probe.disk.dev))) {
		fprintf(stderr, "%s: no loop device here, skipping\n", name);
		unlink(probe.disk.file);
		rmdir(workdir);
		return 77;
	}
	if (vback_epoll_loop_create(NULL, &probe.loop))
		return 2;
	probe.disk.size = 1 * MiB;
	{
		struct vback_io_options o = {
			.path = disk_path(&probe.disk),
			.engine = be->engine,
			.direct = be->direct,
		};
		int ret = vback_io_open(&o, probe.loop, &probe.io);
		int rc = 0;

		if (ret) {
			fprintf(stderr,
				"%s: cannot open a disk (%s), skipping\n", name,
				strerror(-ret));
			rc = 77;
		} else if (vback_io_engine_of(&probe.io) != be->engine) {
			fprintf(stderr,
				"%s: engine unavailable here, skipping\n",
				name);
			rc = 77;
		}
		if (!ret)
			vback_io_close(&probe.io);
		vback_epoll_loop_destroy(probe.loop);
		if (probe.disk.dev[0])
			run_cmd("losetup -d %s", probe.disk.dev);
		unlink(probe.disk.file);
		if (rc)
			rmdir(workdir);
		return rc;
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vectored_unaligned, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_large_unaligned, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flush_and_persist, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_zeroes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_zeroes_unmap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_end_of_disk, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_iovecs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_direct_unpinnable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resubmit_from_done, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_inflight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_close_completes_inflight,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_injection, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_size_change, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shrunk_under_us, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_exclusive, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fua, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixed_buffers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_clone, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_clone_served_by_another_thread, setup, teardown),
	};
	char group[64];
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: %s BACKEND\n", argv[0]);
		return 2;
	}
	ret = prepare(argv[1]);
	if (ret)
		return ret;
	snprintf(group, sizeof(group), "io conformance: %s", be->name);
	ret = cmocka_run_group_tests_name(group, tests, NULL, NULL);
	rmdir(workdir);
	return ret;
}
