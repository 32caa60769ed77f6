/* SPDX-License-Identifier: MIT */
/* What every engine shares, OS-free: the checks each runs in submit(),
 * and closing an instance. */
#include <vback/io.h>

#include "io_internal.h"
#include "vb_os.h"

/* [offset, offset + len) inside the disk, without wrapping. */
static bool in_range(const struct vback_io_caps *caps, uint64_t offset,
		     uint64_t len)
{
	return offset <= caps->size_bytes && len <= caps->size_bytes - offset;
}

static int check_range(const struct vback_io_caps *caps, uint64_t offset,
		       uint64_t len, uint32_t max_sectors)
{
	uint64_t mask = caps->logical_block_size - 1;

	if ((offset & mask) || (len & mask))
		return -EINVAL;
	if (!in_range(caps, offset, len))
		return -EINVAL;
	if (max_sectors && len / 512 > max_sectors)
		return -EINVAL;
	return 0;
}

int io_req_check(const struct vback_io_caps *caps, struct vback_io_req *req)
{
	uint64_t total = 0;

	if (!req || !req->done)
		return -EINVAL;
	req->backend[IO_SCR_DONE] = 0;
	req->backend[IO_SCR_TOTAL] = 0;
	if (req->flags & ~(VBACK_IO_F_UNMAP | VBACK_IO_F_FUA))
		return -EINVAL;
	/* FUA only where it means something, and where it is honoured. */
	if (req->flags & VBACK_IO_F_FUA) {
		if (req->op != VBACK_IO_WRITE &&
		    req->op != VBACK_IO_WRITE_ZEROES)
			return -EINVAL;
		if (!caps->can_fua)
			return -EOPNOTSUPP;
	}
	switch (req->op) {
	case VBACK_IO_READ:
	case VBACK_IO_WRITE:
		if (req->iovcnt && !req->iov)
			return -EINVAL;
		if (caps->max_segments && req->iovcnt > caps->max_segments)
			return -EINVAL;
		if (vback_iov_total(req->iov, req->iovcnt, &total))
			return -EINVAL;
		/* Scratch words are uintptr_t: refuse what they cannot hold
		 * (only possible on 32-bit hosts). */
		if (total > UINTPTR_MAX)
			return -EINVAL;
		if (req->op == VBACK_IO_WRITE && caps->read_only)
			return -EROFS;
		if (check_range(caps, req->offset, total, 0))
			return -EINVAL;
		req->backend[IO_SCR_TOTAL] = (uintptr_t)total;
		return 0;
	case VBACK_IO_FLUSH:
		return 0;
	case VBACK_IO_DISCARD:
		if (caps->read_only)
			return -EROFS;
		if (!caps->can_discard)
			return -EOPNOTSUPP;
		return check_range(caps, req->offset, req->len,
				   caps->max_discard_sectors);
	case VBACK_IO_WRITE_ZEROES:
		if (caps->read_only)
			return -EROFS;
		if (!caps->can_write_zeroes)
			return -EOPNOTSUPP;
		return check_range(caps, req->offset, req->len,
				   caps->max_write_zeroes_sectors);
	case VBACK_IO_SECURE_ERASE:
		if (caps->read_only)
			return -EROFS;
		if (!caps->can_secure_erase)
			return -EOPNOTSUPP;
		return check_range(caps, req->offset, req->len,
				   caps->max_discard_sectors);
	}
	return -EINVAL;
}

void vback_io_close(struct vback_io *io)
{
	if (!io || !io->ops)
		return;
	if (io->ops->close)
		io->ops->close(io->opaque);
	io->ops = NULL;
	io->opaque = NULL;
}

int vback_io_set_buffers(const struct vback_io *io,
			 const struct vback_iovec *ranges, unsigned int n)
{
	if (!io || !io->ops || (n && !ranges))
		return -EINVAL;
	if (!io->ops->set_buffers)
		return 0; /* nothing to prepare */
	return io->ops->set_buffers(io->opaque, ranges, n);
}

int vback_io_attach(struct vback_io *io)
{
	if (!io || !io->ops || !io->ops->attach)
		return -EINVAL;
	return io->ops->attach(io->opaque);
}

int vback_io_clone(const struct vback_io *io, const struct vback_loop *loop,
		   struct vback_io *out)
{
	if (!io || !io->ops || !loop || !loop->ops || !out)
		return -EINVAL;
	if (!io->ops->clone)
		return -ENOTSUP;
	return io->ops->clone(io->opaque, loop, out);
}
