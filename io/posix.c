/* SPDX-License-Identifier: MIT */
/*
 * The posix engine: files and block devices through preadv/pwritev,
 * fdatasync, fallocate and the block ioctls, run by a small worker pool.
 * Completions come back through an eventfd watched on the caller's loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <vback/io.h>

#include "io_internal.h"

struct posix_io {
	struct io_disk disk;
	struct io_pool *pool;
	const struct vback_loop *loop;
	int efd;
	unsigned int depth;
	unsigned int workers;
	unsigned int inflight; /* accepted, done() not yet called */
	bool closing;
};

static int posix_submit(void *opaque, struct vback_io_req *req)
{
	struct posix_io *p = opaque;
	int ret;

	if (p->closing)
		return -ESHUTDOWN;
	io_disk_sync_size(&p->disk);
	ret = io_req_check(&p->disk.caps, req);
	if (ret)
		return ret;
	if (p->inflight >= p->depth)
		return -EAGAIN;
	p->inflight++;
	io_pool_queue(p->pool, req);
	return 0;
}

static void posix_reap(struct posix_io *p)
{
	struct vback_io_req *req = io_pool_take_done(p->pool);

	while (req) {
		/* done() may reuse @req: read the link first. */
		struct vback_io_req *next = io_req_next(req);

		p->inflight--;
		req->done(req, io_req_result(req));
		req = next;
	}
}

static void posix_on_event(void *opaque, int fd, uint32_t events)
{
	struct posix_io *p = opaque;

	(void)events;
	io_eventfd_drain(fd);
	posix_reap(p);
}

static int posix_get_caps(void *opaque, struct vback_io_caps *caps)
{
	struct posix_io *p = opaque;

	io_disk_sync_size(&p->disk);
	*caps = p->disk.caps;
	return 0;
}

static int posix_refresh_size(void *opaque, uint64_t *size_bytes)
{
	struct posix_io *p = opaque;

	return io_disk_refresh_size(&p->disk, size_bytes);
}

static void posix_close(void *opaque)
{
	struct posix_io *p = opaque;

	p->closing = true;
	if (p->pool) {
		io_pool_wait_idle(p->pool);
		posix_reap(p);
		io_pool_destroy(p->pool);
	}
	vback_loop_unwatch(p->loop, p->efd);
	close(p->efd);
	io_disk_close(&p->disk);
	free(p);
}

static int posix_setup(const struct vback_io_options *opts,
		       const struct io_disk *from, unsigned int depth,
		       unsigned int workers, const struct vback_loop *loop,
		       struct vback_io *out);

/* Another instance on the same open file, with a pool of its own. */
static int posix_clone(void *opaque, const struct vback_loop *loop,
		       struct vback_io *out)
{
	struct posix_io *p = opaque;

	return posix_setup(NULL, &p->disk, p->depth, p->workers, loop, out);
}

const struct vback_io_ops io_posix_ops = {
	.submit = posix_submit,
	.get_caps = posix_get_caps,
	.refresh_size = posix_refresh_size,
	.close = posix_close,
	.clone = posix_clone,
};

/* Open @opts->path, or share @from's open file (a clone). */
static int posix_setup(const struct vback_io_options *opts,
		       const struct io_disk *from, unsigned int depth,
		       unsigned int workers, const struct vback_loop *loop,
		       struct vback_io *out)
{
	struct posix_io *p;
	int ret;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->loop = loop;
	p->depth = depth ? depth : IO_DEFAULT_DEPTH;
	p->workers = workers;
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0) {
		ret = -errno;
		free(p);
		return ret;
	}
	ret = from ? io_disk_dup(&p->disk, from) : io_disk_open(&p->disk, opts);
	if (ret)
		goto fail_efd;
	ret = io_pool_create(&p->disk, workers, p->efd, &p->pool);
	if (ret)
		goto fail_disk;
	ret = vback_loop_watch(loop, p->efd, VBACK_EV_IN, posix_on_event, p);
	if (ret)
		goto fail_pool;
	out->ops = &io_posix_ops;
	out->opaque = p;
	return 0;
fail_pool:
	io_pool_destroy(p->pool);
fail_disk:
	io_disk_close(&p->disk);
fail_efd:
	close(p->efd);
	free(p);
	return ret;
}

int io_posix_open(const struct vback_io_options *opts,
		  const struct vback_loop *loop, struct vback_io *out)
{
	return posix_setup(opts, NULL, opts->queue_depth, opts->workers, loop,
			   out);
}
