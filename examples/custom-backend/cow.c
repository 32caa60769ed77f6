/* SPDX-License-Identifier: MIT */
/*
 * The copy-on-write overlay behind struct vback_io_ops. The work is done
 * synchronously inside submit(), but the IO contract forbids calling done()
 * from there: finished requests wait on a list, linked through their
 * backend[] scratch words, and complete from unplug() or, if nobody calls
 * that, from work posted to the loop (vback_loop_post()).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cow.h"

struct cow {
	int base_fd, ovl_fd;
	const struct vback_loop *loop;
	struct vback_work complete; /* runs cow_complete() from the loop */
	uint64_t size;
	uint32_t bs;
	uint8_t *map;	 /* one bit per block: set = the overlay holds it */
	uint8_t *bounce; /* one block: no allocation per request */
	struct vback_io_req *head, *tail; /* done, not yet reported */
	struct cow_stats st;
};

/* The scratch words a backend may use while it owns a request. */
#define REQ_NEXT   0
#define REQ_RESULT 1

static bool in_overlay(const struct cow *c, uint64_t blk)
{
	return c->map[blk / 8] & (1u << (blk % 8));
}

static int xfer(int fd, void *buf, size_t len, uint64_t off, bool write)
{
	while (len) {
		ssize_t n = write ? pwrite(fd, buf, len, (off_t)off)
				  : pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO; /* EOF: image shrank */
		buf = (uint8_t *)buf + n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Move @len bytes at @req->offset, one block (or part of one) at a time. */
static int cow_rw(struct cow *c, const struct vback_io_req *req, uint64_t len)
{
	for (uint64_t pos = 0; pos < len;) {
		uint64_t off = req->offset + pos, blk = off / c->bs;
		uint64_t start = blk * c->bs;
		uint32_t in = (uint32_t)(off - start);
		uint64_t left = c->size - start;
		uint32_t blen = left < c->bs ? (uint32_t)left : c->bs;
		uint32_t n = blen - in;
		bool mine = in_overlay(c, blk);
		int ret;

		if (n > len - pos)
			n = (uint32_t)(len - pos);
		if (req->op == VBACK_IO_READ) {
			ret = xfer(mine ? c->ovl_fd : c->base_fd, c->bounce, n,
				   off, false);
			if (!ret)
				vback_iov_from_buf(req->iov, req->iovcnt, pos,
						   c->bounce, n);
		} else if (mine) {
			vback_iov_to_buf(req->iov, req->iovcnt, pos, c->bounce,
					 n);
			ret = xfer(c->ovl_fd, c->bounce, n, off, true);
		} else {
			/* First write to this block: the overlay gets all of
			 * it, so a partial write copies the rest up first. */
			ret = 0;
			if (n < blen) {
				ret = xfer(c->base_fd, c->bounce, blen, start,
					   false);
				c->st.copy_ups++;
			}
			vback_iov_to_buf(req->iov, req->iovcnt, pos,
					 c->bounce + in, n);
			if (!ret)
				ret = xfer(c->ovl_fd, c->bounce, blen, start,
					   true);
			if (!ret) {
				c->map[blk / 8] |= (uint8_t)(1u << (blk % 8));
				c->st.overlay_blocks++;
			}
		}
		if (ret)
			return ret;
		pos += n;
	}
	return 0;
}

static void cow_complete(struct cow *c)
{
	/* done() may submit again: that appends, and this loop picks it up. */
	while (c->head) {
		struct vback_io_req *req = c->head;

		c->head = (struct vback_io_req *)req->backend[REQ_NEXT];
		if (!c->head)
			c->tail = NULL;
		req->done(req, (int)(intptr_t)req->backend[REQ_RESULT]);
	}
}

static int cow_submit(void *opaque, struct vback_io_req *req)
{
	struct cow *c = opaque;
	uint64_t len = 0;
	int ret;

	switch (req->op) {
	case VBACK_IO_READ:
	case VBACK_IO_WRITE:
		ret = vback_iov_total(req->iov, req->iovcnt, &len);
		if (ret)
			return ret;
		if (req->offset > c->size || len > c->size - req->offset)
			return -EINVAL;
		ret = cow_rw(c, req, len);
		break;
	case VBACK_IO_FLUSH:
		/* The base is never written: only the overlay can be dirty. */
		ret = fdatasync(c->ovl_fd) ? -errno : 0;
		c->st.flushes++;
		break;
	default:
		return -EOPNOTSUPP; /* get_caps() offered none of the others */
	}
	req->backend[REQ_NEXT] = 0;
	req->backend[REQ_RESULT] = (uintptr_t)(intptr_t)ret;
	if (c->tail) {
		c->tail->backend[REQ_NEXT] = (uintptr_t)req;
	} else {
		c->head = req;
		/* Complete from the loop in case the caller never unplugs. */
		vback_loop_post(c->loop, &c->complete);
	}
	c->tail = req;
	return 0;
}

static void cow_unplug(void *opaque)
{
	cow_complete(opaque);
}

static void cow_posted(void *opaque)
{
	cow_complete(opaque);
}

static int cow_get_caps(void *opaque, struct vback_io_caps *caps)
{
	const struct cow *c = opaque;

	*caps = (struct vback_io_caps){
		.size_bytes = c->size,
		.logical_block_size = 512,
		/* Guests that honour it write whole blocks: no copy-ups. */
		.physical_block_size = c->bs,
		/* Overlay writes sit in the page cache until a flush. */
		.volatile_cache = true,
	};
	return 0;
}

static void cow_close(void *opaque)
{
	struct cow *c = opaque;

	cow_complete(c); /* nothing is left in flight after close() */
	vback_loop_cancel(c->loop, &c->complete);
	close(c->ovl_fd);
	close(c->base_fd);
	free(c->bounce);
	free(c->map);
	free(c);
}

static const struct vback_io_ops cow_ops = {
	.submit = cow_submit,
	.unplug = cow_unplug,
	.get_caps = cow_get_caps,
	.close = cow_close,
};

int cow_open(const struct cow_options *o, struct vback_io *out)
{
	struct cow *c = calloc(1, sizeof(*c));
	off_t end;
	int ret = -EINVAL;

	if (!c)
		return -ENOMEM;
	c->bs = o->block_size ? o->block_size : 4096;
	c->loop = o->loop;
	c->ovl_fd = -1;
	vback_work_init(&c->complete, cow_posted, c);
	c->base_fd = open(o->base_path, O_RDONLY | O_CLOEXEC);
	if (c->base_fd >= 0 && o->overlay_path)
		c->ovl_fd = open(o->overlay_path,
				 O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	else if (c->base_fd >= 0)
		c->ovl_fd = memfd_create("cow-overlay", MFD_CLOEXEC);
	if (c->ovl_fd < 0) {
		ret = -errno;
		vback_logf(o->log, VBACK_LOG_ERR, "%s: %s",
			   c->base_fd < 0 ? o->base_path : "overlay",
			   vback_strerror(ret));
		goto fail;
	}
	end = lseek(c->base_fd, 0, SEEK_END); /* works for block devices */
	c->size = end > 0 ? (uint64_t)end : 0;
	if (!c->size || c->size % 512) {
		vback_logf(o->log, VBACK_LOG_ERR,
			   "%s: size %llu is not a non-zero multiple of 512",
			   o->base_path, (unsigned long long)c->size);
		goto fail;
	}
	if (c->bs < 512 || c->bs > (1u << 20) || (c->bs & (c->bs - 1))) {
		vback_logf(o->log, VBACK_LOG_ERR,
			   "block size %u is not a power of two in 512..1M",
			   c->bs);
		goto fail;
	}
	/* Sparse: only written blocks take space. */
	if (ftruncate(c->ovl_fd, (off_t)c->size) < 0) {
		ret = -errno;
		goto fail;
	}
	c->map = calloc((c->size / c->bs + 8) / 8, 1);
	c->bounce = malloc(c->bs);
	ret = -ENOMEM;
	if (!c->map || !c->bounce)
		goto fail;
	*out = (struct vback_io){ .ops = &cow_ops, .opaque = c };
	return 0;
fail:
	free(c->bounce);
	free(c->map);
	if (c->ovl_fd >= 0)
		close(c->ovl_fd);
	if (c->base_fd >= 0)
		close(c->base_fd);
	free(c);
	return ret;
}

void cow_get_stats(const struct vback_io *io, struct cow_stats *stats)
{
	const struct cow *c = io->opaque;

	*stats = c->st;
}
