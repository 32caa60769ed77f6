/* SPDX-License-Identifier: MIT */
/*
 * The IO layer's entry points: choose an engine (a network disk spec picks
 * its own), fall back from io_uring to posix when the kernel refuses
 * io_uring, and the request checks that every backend runs before it
 * accepts a request.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <vback/io.h>

#include "io_internal.h"

static const char *const engine_names[] = {
	[VBACK_IO_ENGINE_DEFAULT] = "default",
	[VBACK_IO_ENGINE_POSIX] = "posix",
	[VBACK_IO_ENGINE_URING] = "io_uring",
	[VBACK_IO_ENGINE_MEMORY] = "memory",
	[VBACK_IO_ENGINE_NBD] = "nbd",
	[VBACK_IO_ENGINE_RBD] = "rbd",
};

const char *vback_io_engine_name(enum vback_io_engine engine)
{
	if ((unsigned int)engine >=
	    sizeof(engine_names) / sizeof(engine_names[0]))
		return NULL;
	return engine_names[engine];
}

int vback_io_engine_parse(const char *name, enum vback_io_engine *engine)
{
	if (!name || !engine)
		return -EINVAL;
	for (unsigned int i = 0;
	     i < sizeof(engine_names) / sizeof(engine_names[0]); i++) {
		if (!strcmp(name, engine_names[i])) {
			*engine = (enum vback_io_engine)i;
			return 0;
		}
	}
	/* The name fio and most users type. */
	if (!strcmp(name, "uring")) {
		*engine = VBACK_IO_ENGINE_URING;
		return 0;
	}
	return -EINVAL;
}

/* An NBD or RBD engine asked for without its kind of spec. */
static int spec_mismatch(const struct vback_io_options *opts)
{
	vback_logf(opts->log, VBACK_LOG_ERR, "io: engine %s wants %s, not '%s'",
		   vback_io_engine_name(opts->engine),
		   opts->engine == VBACK_IO_ENGINE_NBD
			   ? "an NBD URI (nbd://HOST[:PORT]/EXPORT or "
			     "nbd+unix:///EXPORT?socket=PATH)"
			   : "rbd:POOL/IMAGE[@SNAP][:conf=FILE][:id=NAME]",
		   opts->path ? opts->path : "");
	return -EINVAL;
}

int vback_io_open(const struct vback_io_options *opts,
		  const struct vback_loop *loop, struct vback_io *out)
{
	bool unavailable = false;
	enum io_spec_kind kind;
	int ret, ring_err;

	if (!opts || !loop || !loop->ops || !out)
		return -EINVAL;
	/* A spec names where the disk is, and so which engine reaches it:
	 * the daemon and xl's target= hand specs over as paths. */
	kind = opts->engine == VBACK_IO_ENGINE_MEMORY
		       ? IO_SPEC_NONE
		       : io_spec_kind(opts->path);
	if ((opts->engine == VBACK_IO_ENGINE_NBD && kind != IO_SPEC_NBD) ||
	    (opts->engine == VBACK_IO_ENGINE_RBD && kind != IO_SPEC_RBD))
		return spec_mismatch(opts);
	if (kind == IO_SPEC_NBD)
		return io_nbd_open(opts, loop, out);
	if (kind == IO_SPEC_RBD)
		return io_rbd_open(opts, loop, out);
	switch (opts->engine) {
	case VBACK_IO_ENGINE_MEMORY:
		return io_memory_open(opts, loop, out);
	case VBACK_IO_ENGINE_NBD:
	case VBACK_IO_ENGINE_RBD:
		break; /* handled above */
	case VBACK_IO_ENGINE_POSIX:
		return io_posix_open(opts, loop, out);
	case VBACK_IO_ENGINE_DEFAULT:
	case VBACK_IO_ENGINE_URING:
		ret = io_ring_open(opts, loop, out, &unavailable);
		if (!unavailable)
			return ret;
		ring_err = ret;
		ret = io_posix_open(opts, loop, out);
		if (ret)
			return ret; /* the disk's own error, not the engine's */
		/* The one line that says why a disk runs slower than asked. */
		vback_logf(opts->log,
			   opts->engine == VBACK_IO_ENGINE_URING
				   ? VBACK_LOG_WARN
				   : VBACK_LOG_INFO,
			   "io: io_uring unavailable (%s), using the posix "
			   "engine for %s",
			   vback_strerror(ring_err),
			   opts->path ? opts->path : "?");
		return 0;
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

enum vback_io_engine vback_io_engine_of(const struct vback_io *io)
{
	if (!io || !io->ops)
		return VBACK_IO_ENGINE_DEFAULT;
	if (io->ops == &io_posix_ops)
		return VBACK_IO_ENGINE_POSIX;
	if (io->ops == &io_ring_ops)
		return VBACK_IO_ENGINE_URING;
	if (io->ops == &io_memory_ops)
		return VBACK_IO_ENGINE_MEMORY;
	if (io->ops == &io_nbd_ops)
		return VBACK_IO_ENGINE_NBD;
	if (io->ops == &io_rbd_ops)
		return VBACK_IO_ENGINE_RBD;
	return VBACK_IO_ENGINE_DEFAULT;
}

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

void io_eventfd_drain(int efd)
{
	uint64_t v;

	/* Non-blocking: EAGAIN means someone drained it already. */
	while (read(efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

void io_eventfd_signal(int efd)
{
	uint64_t one = 1;

	/* Only fails when the counter would overflow: it is readable then. */
	while (write(efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}
