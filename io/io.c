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
	[VBACK_IO_ENGINE_NULL] = "null",
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

bool vback_io_is_network(const char *path)
{
	return path && io_spec_kind(path) != IO_SPEC_NONE;
}

int vback_io_open(const struct vback_io_options *opts,
		  const struct vback_loop *loop, struct vback_io *out)
{
	bool unavailable = false;
	enum io_spec_kind kind;
	int ret, ring_err;

	if (!opts || !loop || !loop->ops || !out)
		return -EINVAL;
	/* A depth sizes a ring and tables, a worker count starts threads:
	 * a wild value must not become a wild allocation. */
	if (opts->queue_depth > VBACK_IO_MAX_DEPTH ||
	    opts->workers > VBACK_IO_MAX_WORKERS) {
		vback_logf(opts->log, VBACK_LOG_ERR,
			   "io: queue depth %u or workers %u out of range "
			   "(at most %u and %u)",
			   opts->queue_depth, opts->workers, VBACK_IO_MAX_DEPTH,
			   VBACK_IO_MAX_WORKERS);
		return -EINVAL;
	}
	/* A spec names where the disk is, and so which engine reaches it:
	 * the daemon and xl's target= hand specs over as paths. */
	kind = opts->engine == VBACK_IO_ENGINE_MEMORY ||
			       opts->engine == VBACK_IO_ENGINE_NULL
		       ? IO_SPEC_NONE
		       : io_spec_kind(opts->path);
	if ((opts->engine == VBACK_IO_ENGINE_NBD && kind != IO_SPEC_NBD) ||
	    (opts->engine == VBACK_IO_ENGINE_RBD && kind != IO_SPEC_RBD))
		return spec_mismatch(opts);
	if (kind == IO_SPEC_NBD)
		return io_nbd_open(opts, loop, out);
	if (kind == IO_SPEC_RBD)
		return io_rbd_open(opts, loop, out);
	if (opts->detached) {
		vback_logf(opts->log, VBACK_LOG_ERR,
			   "io: %s: only network disks open detached",
			   opts->path ? opts->path : "");
		return -EINVAL;
	}
	switch (opts->engine) {
	case VBACK_IO_ENGINE_MEMORY:
		return io_memory_open(opts, loop, out);
	case VBACK_IO_ENGINE_NULL:
		return io_null_open(opts, loop, out);
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
	if (io->ops == &io_null_ops)
		return VBACK_IO_ENGINE_NULL;
	return VBACK_IO_ENGINE_DEFAULT;
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
