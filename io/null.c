/* SPDX-License-Identifier: MIT */
/*
 * The null engine: nothing touches a disk. Reads return zeroes, writes,
 * flushes, discards and write-zeroes succeed at once. What is left is the
 * cost of the layers above (the device, the transport, the loop), which is
 * what it is for: benchmarks and tests of those layers.
 *
 * Like the memory engine it never completes inside submit(): accepted
 * requests wait on a list until unplug() or the engine's posted work runs
 * them, so a virtio device completes a whole batch inside its own run and
 * publishes it once.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include <vback/io.h>

#include "io_internal.h"
#include "vb_os.h"

struct null_io {
	struct vback_io_caps caps;
	const struct vback_loop *loop;
	struct vback_work work; /* completes what nobody unplugged */
	struct vback_io_req *head, *tail;
	unsigned int depth;
	unsigned int inflight;
	bool closing;
};

static int null_submit(void *opaque, struct vback_io_req *req)
{
	struct null_io *n = opaque;
	int ret;

	if (n->closing)
		return -ESHUTDOWN;
	ret = io_req_check(&n->caps, req);
	if (ret)
		return ret;
	if (n->inflight >= n->depth)
		return -EAGAIN;
	n->inflight++;
	io_req_set_next(req, NULL);
	if (n->tail)
		io_req_set_next(n->tail, req);
	else
		n->head = req;
	n->tail = req;
	vback_loop_post(n->loop, &n->work);
	return 0;
}

/* Complete what was queued before the call; what done() submits waits
 * for the next round (a callback that always resubmits must not keep us
 * here). */
static void null_run(struct null_io *n)
{
	struct vback_io_req *req = n->head;

	n->head = n->tail = NULL;
	while (req) {
		struct vback_io_req *next = io_req_next(req);

		if (req->op == VBACK_IO_READ)
			vback_iov_memset0(req->iov, req->iovcnt, 0,
					  (size_t)req->backend[IO_SCR_TOTAL]);
		n->inflight--;
		req->done(req, 0);
		req = next;
	}
}

static void null_work(void *opaque)
{
	null_run(opaque);
}

static void null_unplug(void *opaque)
{
	null_run(opaque);
}

static int null_get_caps(void *opaque, struct vback_io_caps *caps)
{
	const struct null_io *n = opaque;

	*caps = n->caps;
	return 0;
}

static int null_refresh_size(void *opaque, uint64_t *size_bytes)
{
	const struct null_io *n = opaque;

	if (size_bytes)
		*size_bytes = n->caps.size_bytes;
	return 0;
}

static void null_close(void *opaque)
{
	struct null_io *n = opaque;

	n->closing = true;
	while (n->head)
		null_run(n);
	vback_loop_cancel(n->loop, &n->work);
	vb_free(n);
}

static int null_clone(void *opaque, const struct vback_loop *loop,
		      struct vback_io *out)
{
	const struct null_io *n = opaque;
	struct vback_io_options o = {
		.mem_size = n->caps.size_bytes,
		.read_only = n->caps.read_only,
		.queue_depth = n->depth,
	};

	return io_null_open(&o, loop, out);
}

const struct vback_io_ops io_null_ops = {
	.submit = null_submit,
	.unplug = null_unplug,
	.get_caps = null_get_caps,
	.refresh_size = null_refresh_size,
	.close = null_close,
	.clone = null_clone,
};

/* The size of the file or block device at @path (only looked at). */
static int path_size(const char *path, const struct vback_log *log,
		     uint64_t *size)
{
	struct stat st;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size) < 0)
			ret = -errno;
	} else if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
	} else {
		ret = -EINVAL;
	}
out:
	if (fd >= 0)
		close(fd);
	if (ret)
		vback_logf(log, VBACK_LOG_ERR,
			   "io: null engine: cannot take the size of %s: %s",
			   path, vback_strerror(ret));
	return ret;
}

int io_null_open(const struct vback_io_options *opts,
		 const struct vback_loop *loop, struct vback_io *out)
{
	struct null_io *n;
	uint64_t size = opts->mem_size;
	int ret;

	if (!size) {
		if (!opts->path) {
			vback_logf(opts->log, VBACK_LOG_ERR, "%s",
				   "io: null engine: no size and no path to "
				   "take it from");
			return -EINVAL;
		}
		ret = path_size(opts->path, opts->log, &size);
		if (ret)
			return ret;
	}
	size &= ~(uint64_t)511;
	if (!size) {
		vback_logf(opts->log, VBACK_LOG_ERR, "%s",
			   "io: null engine: a disk of less than 512 bytes");
		return -EINVAL;
	}
	n = vb_calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->loop = loop;
	vback_work_init(&n->work, null_work, n);
	n->depth = opts->queue_depth ? opts->queue_depth : IO_DEFAULT_DEPTH;
	n->caps = (struct vback_io_caps){
		.size_bytes = size,
		.logical_block_size = 512,
		.physical_block_size = 4096,
		.read_only = opts->read_only,
		.can_discard = true,
		.can_write_zeroes = true,
	};
	out->ops = &io_null_ops;
	out->opaque = n;
	return 0;
}
