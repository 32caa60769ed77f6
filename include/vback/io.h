/* SPDX-License-Identifier: MIT */
/*
 * vback IO layer: "where the bytes live".
 *
 * The interface half of this header (struct vback_io and its ops) is OS-free:
 * it is the only IO header that virtio-blk includes. It moves bytes between
 * iovecs and a disk and says when it is done; it knows nothing of virtio or
 * hypervisors. Users may bring their own implementation by filling
 * struct vback_io_ops (see examples/custom-backend).
 *
 * Threading: an IO instance belongs to the thread running its loop. submit(),
 * unplug() and the completion callbacks all run on that thread.
 */
#ifndef VBACK_IO_H
#define VBACK_IO_H

#include <vback/base.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vback_io_op {
	VBACK_IO_READ = 0,
	VBACK_IO_WRITE = 1,
	VBACK_IO_FLUSH = 2,
	VBACK_IO_DISCARD = 3,
	VBACK_IO_WRITE_ZEROES = 4,
	/* Like DISCARD, but the data must be unrecoverable afterwards. */
	VBACK_IO_SECURE_ERASE = 5,
};

/** WRITE_ZEROES may deallocate the range (virtio-blk's UNMAP flag). */
#define VBACK_IO_F_UNMAP (1u << 0)

struct vback_io_req;

/**
 * Completion: @result is 0 or a negative errno (-EIO, -ENOSPC, ...). Called
 * exactly once per accepted request, on the loop thread, from inside the
 * backend's event handling or unplug() - never from inside submit(), so a
 * caller may submit while it walks its own data structures. The callee may
 * submit new requests from inside the callback, including reusing @req.
 */
typedef void (*vback_io_done_fn)(struct vback_io_req *req, int result);

/**
 * One request. The caller owns the storage (vback preallocates one per ring
 * slot) and keeps it, the iovec array and the buffers valid and untouched
 * from submit() until done() is called.
 */
struct vback_io_req {
	enum vback_io_op op;
	uint32_t flags; /* VBACK_IO_F_* */
	/* Byte offset on the disk (READ/WRITE/DISCARD/WRITE_ZEROES/ERASE). */
	uint64_t offset;
	/* Byte length for DISCARD/WRITE_ZEROES/SECURE_ERASE; ignored otherwise. */
	uint64_t len;
	/* Data buffers for READ/WRITE (total length = transfer length). */
	const struct vback_iovec *iov;
	unsigned int iovcnt;
	vback_io_done_fn done;
	void *opaque; /* the caller's */
	/* Scratch for the backend while the request is in flight. */
	uintptr_t backend[4];
};

/** What a disk can do; limits the device advertises come from here. */
struct vback_io_caps {
	uint64_t size_bytes;		/* multiple of logical_block_size */
	uint32_t logical_block_size;	/* >= 512, power of two */
	uint32_t physical_block_size;	/* >= logical_block_size */
	uint32_t max_segments;		/* iovecs per request, 0 = no limit */
	uint32_t max_discard_sectors;	/* 512-byte units; 0 = no limit */
	uint32_t max_write_zeroes_sectors; /* 512-byte units; 0 = no limit */
	bool read_only;
	bool can_discard;
	bool can_write_zeroes;
	bool can_secure_erase;
	/* The disk has a volatile write cache: FLUSH matters. */
	bool volatile_cache;
};

struct vback_io_ops {
	/**
	 * Start @req. Returns 0 when accepted (done() will be called exactly
	 * once), -EAGAIN for back-pressure (nothing accepted; only returned
	 * while at least one earlier request is still in flight, so a done()
	 * will follow and the caller can retry then), -EROFS for a write to a
	 * read-only disk, -EINVAL/-EOPNOTSUPP for a request the disk cannot do,
	 * or another -errno. On any error done() is not called.
	 */
	int (*submit)(void *opaque, struct vback_io_req *req);
	/**
	 * Optional: the caller has queued a batch; start what submit()
	 * deferred (an io_uring backend submits here). Synchronous backends
	 * may complete requests from here.
	 */
	void (*unplug)(void *opaque);
	/** Current capabilities. 0 or -errno. */
	int (*get_caps)(void *opaque, struct vback_io_caps *caps);
	/**
	 * Optional: re-read the disk size (the file or device grew or
	 * shrank). Stores the new size and returns 1 if it changed, 0 if not,
	 * -errno on failure.
	 */
	int (*refresh_size)(void *opaque, uint64_t *size_bytes);
	/**
	 * Release everything. Requests still in flight are completed first
	 * (waiting for them), so no done() runs after close() returns.
	 */
	void (*close)(void *opaque);
};

/** An IO instance: its ops and their context. */
struct vback_io {
	const struct vback_io_ops *ops;
	void *opaque;
};

static inline int vback_io_submit(const struct vback_io *io,
				  struct vback_io_req *req)
{
	return io->ops->submit(io->opaque, req);
}

static inline void vback_io_unplug(const struct vback_io *io)
{
	if (io->ops->unplug)
		io->ops->unplug(io->opaque);
}

static inline int vback_io_get_caps(const struct vback_io *io,
				    struct vback_io_caps *caps)
{
	return io->ops->get_caps(io->opaque, caps);
}

/* ------------------------------------------------------------------ */
/* The backends shipped with vback (libvback-io)                       */
/* ------------------------------------------------------------------ */

enum vback_io_engine {
	VBACK_IO_ENGINE_DEFAULT = 0, /* io_uring if it works here, else posix */
	VBACK_IO_ENGINE_POSIX,
	VBACK_IO_ENGINE_URING,
	VBACK_IO_ENGINE_MEMORY, /* RAM disk: path unused, size from mem_size */
};

struct vback_io_options {
	const char *path; /* file or block device */
	enum vback_io_engine engine;
	bool read_only;
	bool direct;		   /* O_DIRECT */
	uint64_t mem_size;	   /* MEMORY engine: size in bytes */
	unsigned int queue_depth;  /* requests in flight at most; 0 = default */
	unsigned int workers;	   /* POSIX engine threads; 0 = default */
	const struct vback_log *log;
};

/**
 * Open a disk. The backend registers its completion fd with @loop (which
 * must outlive it) and runs done() callbacks from that loop. On success
 * *@out holds the instance; close it with vback_io_close(). A block device
 * that is mounted, or a file another vback holds open for writing, is
 * refused with -EBUSY and a log line saying why.
 */
VBACK_API int vback_io_open(const struct vback_io_options *opts,
		  const struct vback_loop *loop, struct vback_io *out);

/** Close an instance from vback_io_open() or a user's (calls ops->close). */
VBACK_API void vback_io_close(struct vback_io *io);

/**
 * The engine actually serving @io (after an io_uring to posix fallback);
 * VBACK_IO_ENGINE_DEFAULT for an implementation that is not vback's own.
 */
VBACK_API enum vback_io_engine vback_io_engine_of(const struct vback_io *io);

/** "posix", "io_uring", "memory" or "default"; NULL if out of range. */
VBACK_API const char *vback_io_engine_name(enum vback_io_engine engine);
/** Parse an engine name; 0 or -EINVAL. */
VBACK_API int vback_io_engine_parse(const char *name, enum vback_io_engine *engine);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_IO_H */
