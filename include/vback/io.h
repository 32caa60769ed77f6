/* SPDX-License-Identifier: MIT */
/**
 * @file vback/io.h
 * @brief vback IO layer: "where the bytes live".
 *
 * The interface half of this header (struct vback_io and its ops) is OS-free:
 * it is the only IO header that virtio-blk includes. It moves bytes between
 * iovecs and a disk and says when it is done; it knows nothing of virtio or
 * hypervisors. Users may bring their own implementation by filling
 * struct vback_io_ops (see examples/custom-backend).
 *
 * Threading: an IO instance belongs to the thread running its loop. submit(),
 * unplug() and the completion callbacks all run on that thread. Within vback,
 * virtio-blk calls submit() and unplug() from inside queue kicks and from
 * inside done() callbacks; an implementation must accept both.
 */
#ifndef VBACK_IO_H
#define VBACK_IO_H

#include <vback/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What a request does (struct vback_io_req::op). */
enum vback_io_op {
	/** Read the transfer length (sum of iov) at offset into iov. */
	VBACK_IO_READ = 0,
	/** Write the bytes of iov at offset. */
	VBACK_IO_WRITE = 1,
	/** Make every write completed before it durable (volatile_cache). */
	VBACK_IO_FLUSH = 2,
	/** The range [offset, offset + len) may be deallocated; reads of it
	 *  return anything (only with caps.can_discard). */
	VBACK_IO_DISCARD = 3,
	/** Zero [offset, offset + len); with VBACK_IO_F_UNMAP the range may
	 *  also be deallocated (only with caps.can_write_zeroes). */
	VBACK_IO_WRITE_ZEROES = 4,
	/** Like DISCARD, but the data must be unrecoverable afterwards
	 *  (only with caps.can_secure_erase). */
	VBACK_IO_SECURE_ERASE = 5,
};

/** WRITE_ZEROES may deallocate the range (virtio-blk's UNMAP flag). */
#define VBACK_IO_F_UNMAP (1u << 0)
/** WRITE/WRITE_ZEROES: the data is durable when done() reports success,
 *  without a FLUSH (forced unit access; only with caps.can_fua). */
#define VBACK_IO_F_FUA (1u << 1)

struct vback_io_req;
struct vback_io;

/**
 * Completion of @req (the caller's function, stored in req->done):
 * @result is 0 or a negative errno (-EIO, -ENOSPC, ...). Called
 * exactly once per accepted request, on the loop thread, from inside the
 * backend's event handling or unplug() - never from inside submit(), so a
 * caller may submit while it walks its own data structures. The callee may
 * submit new requests from inside the callback, including reusing @req,
 * and then calls unplug() as after any batch.
 */
typedef void (*vback_io_done_fn)(struct vback_io_req *req, int result);

/**
 * One request. The caller owns the storage (vback preallocates one per ring
 * slot) and keeps it, the iovec array and the buffers valid and untouched
 * from submit() until done() is called.
 */
struct vback_io_req {
	enum vback_io_op op; /**< what to do */
	uint32_t flags;	     /**< VBACK_IO_F_* */
	/** Byte offset on the disk (READ/WRITE/DISCARD/WRITE_ZEROES/ERASE). */
	uint64_t offset;
	/** Byte length for DISCARD/WRITE_ZEROES/SECURE_ERASE; ignored
	 *  otherwise. */
	uint64_t len;
	/** Data buffers for READ/WRITE (total length = transfer length). */
	const struct vback_iovec *iov;
	unsigned int iovcnt;   /**< entries in @iov */
	vback_io_done_fn done; /**< called once when an accepted request ends */
	void *opaque;	       /**< the caller's; the backend ignores it */
	/** Scratch for the backend while the request is in flight (from
	 *  submit() until done()); the caller neither reads nor clears it. */
	uintptr_t backend[4];
};

/** What a disk can do; limits the device advertises come from here. */
struct vback_io_caps {
	uint64_t size_bytes;	      /**< multiple of logical_block_size */
	uint32_t logical_block_size;  /**< >= 512, power of two */
	uint32_t physical_block_size; /**< >= logical_block_size */
	uint32_t max_segments;	      /**< iovecs per request, 0 = no limit */
	uint32_t max_discard_sectors; /**< 512-byte units; 0 = no limit */
	uint32_t max_write_zeroes_sectors; /**< 512-byte units; 0 = no limit */
	bool read_only;	       /**< writes are refused with -EROFS */
	bool can_discard;      /**< VBACK_IO_DISCARD is supported */
	bool can_write_zeroes; /**< VBACK_IO_WRITE_ZEROES is supported */
	bool can_secure_erase; /**< VBACK_IO_SECURE_ERASE is supported */
	/** The disk has a volatile write cache: FLUSH matters. */
	bool volatile_cache;
	/** VBACK_IO_F_FUA is supported on WRITE and WRITE_ZEROES (the NBD
	 *  engine, when the server offers FUA). */
	bool can_fua;
};

/**
 * An IO implementation: what vback's own engines fill, and what a user
 * fills to bring their own (examples/custom-backend). @opaque is
 * struct vback_io's. All ops are called on the loop thread; none may block
 * for long, since the loop serves every device of the thread.
 */
struct vback_io_ops {
	/**
	 * Start @req (owned by the caller until done(); the backend may use
	 * req->backend[] meanwhile). Returns 0 when accepted (done() will be
	 * called exactly once), -EAGAIN for back-pressure (nothing accepted;
	 * only returned while at least one earlier request is still in
	 * flight, so a done() will follow and the caller can retry then),
	 * -EROFS for a write to a read-only disk, -EINVAL/-EOPNOTSUPP for a
	 * request the disk cannot do, or another -errno. On any error done()
	 * is not called.
	 */
	int (*submit)(void *opaque, struct vback_io_req *req);
	/**
	 * Optional: the caller has queued a batch; start what submit()
	 * deferred (an io_uring backend submits here). Synchronous backends
	 * may complete requests from here.
	 */
	void (*unplug)(void *opaque);
	/** Current capabilities into *@caps. 0 or -errno. virtio-blk reads
	 *  them once, in vback_blk_create(). */
	int (*get_caps)(void *opaque, struct vback_io_caps *caps);
	/**
	 * Optional: re-read the disk size (the file or device grew or
	 * shrank). Stores the new size and returns 1 if it changed, 0 if not,
	 * -errno on failure.
	 */
	int (*refresh_size)(void *opaque, uint64_t *size_bytes);
	/**
	 * Release everything, @opaque included. Requests still in flight are
	 * completed first (waiting for them), so no done() runs after close()
	 * returns. Called once, by vback_io_close().
	 */
	void (*close)(void *opaque);
	/**
	 * Optional: from now on the buffers of most requests lie inside
	 * these @n host memory ranges (a guest's memory, as its transport
	 * maps it), until the next call; @n 0: none any more. Called with no
	 * request in flight. An engine may prepare them once instead of for
	 * each request. 0, or -errno (requests work anyway).
	 */
	int (*set_buffers)(void *opaque, const struct vback_iovec *ranges,
			   unsigned int n);
	/**
	 * Optional: another instance on the same disk, for another loop
	 * (see vback_io_clone()); stores it in *@out. 0 or -errno.
	 */
	int (*clone)(void *opaque, const struct vback_loop *loop,
		     struct vback_io *out);
	/**
	 * Optional: an instance opened detached (vback_io_options::detached)
	 * starts using its loop: watch, arm, post. On the loop's thread, once
	 * (see vback_io_attach()). 0 or -errno.
	 */
	int (*attach)(void *opaque);
};

/** An IO instance: its ops and their context. Small: copied by value into
 *  struct vback_blk_options; the copies refer to the same instance. */
struct vback_io {
	const struct vback_io_ops *ops; /**< the implementation */
	void *opaque;			/**< context passed to every op */
};

/** Call @io's submit() for @req: see struct vback_io_ops. */
static inline int vback_io_submit(const struct vback_io *io,
				  struct vback_io_req *req)
{
	return io->ops->submit(io->opaque, req);
}

/** Call @io's unplug(), if it has one. */
static inline void vback_io_unplug(const struct vback_io *io)
{
	if (io->ops->unplug)
		io->ops->unplug(io->opaque);
}

/**
 * Tell @io where the buffers of most requests will lie (see
 * vback_io_ops::set_buffers; the vhost-user transport reports its guest
 * memory through vback_vhu_options::memory). The io_uring engine with
 * O_DIRECT registers them as fixed buffers: no page pinning per request,
 * but the guest's whole memory is pinned (made resident) while
 * registered. Call it with nothing in flight. 0 (also when the engine
 * has nothing to prepare), -EBUSY with requests in flight, or another
 * -errno when the engine could not prepare them (requests work anyway).
 */
VBACK_API int vback_io_set_buffers(const struct vback_io *io,
				   const struct vback_iovec *ranges,
				   unsigned int n);

/**
 * Open another instance on the disk of @io, whose requests and done()
 * callbacks run on @loop instead: a device whose queues run on several
 * threads gives each thread its own instance (and, with io_uring, its
 * own ring). The clone shares the open file, its lock and its size
 * (refresh_size() on any of them is seen by all) and @io's settings.
 * Close the clones before @io. Returns 0, -ENOTSUP for an engine that
 * cannot (the network engines, an implementation without clone(): serve
 * those queues from @io's loop), -EINVAL, -ENOMEM, or the error of the
 * engine's setup. Call it on @loop's thread, or before @loop runs (the
 * clone watches its fds there); submit to it and close it on @loop's
 * thread only.
 */
VBACK_API int vback_io_clone(const struct vback_io *io,
			     const struct vback_loop *loop,
			     struct vback_io *out);

/** Call @io's get_caps() into *@caps. */
static inline int vback_io_get_caps(const struct vback_io *io,
				    struct vback_io_caps *caps)
{
	return io->ops->get_caps(io->opaque, caps);
}

/* ------------------------------------------------------------------ */
/* The backends shipped with vback (libvback-io)                       */
/* ------------------------------------------------------------------ */

/** The IO engines built into vback (vback_io_open()). */
enum vback_io_engine {
	/** io_uring if it works here, else posix */
	VBACK_IO_ENGINE_DEFAULT = 0,
	/** preadv/pwritev on a pool of worker threads; completions come back
	 *  to the loop through an eventfd. */
	VBACK_IO_ENGINE_POSIX,
	/** io_uring (liburing); where unavailable, the posix engine with a
	 *  warning (vback_io_engine_of() tells). */
	VBACK_IO_ENGINE_URING,
	/** RAM disk: path unused, size from mem_size */
	VBACK_IO_ENGINE_MEMORY,
	/* ---- network engines (io/nbd.c, io/rbd.c; docs/io.md) ---- */
	/** An NBD server through libnbd: path is an NBD URI,
	 *  nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH. */
	VBACK_IO_ENGINE_NBD,
	/** A Ceph RBD image through librbd: path is
	 *  rbd:POOL/IMAGE[@SNAP][:conf=FILE][:id=NAME]. */
	VBACK_IO_ENGINE_RBD,
	/* ---- end of network engines ---- */
	/** Nothing touches a disk: reads return zeroes, every request
	 *  succeeds at unplug() (or from the loop). The size is mem_size,
	 *  else that of the file or block device at path (only looked at).
	 *  For measuring the layers above the IO layer. */
	VBACK_IO_ENGINE_NULL,
};

/** Most requests in flight an IO instance takes (queue_depth). */
#define VBACK_IO_MAX_DEPTH 4096u
/** Most worker threads of the POSIX engine (workers). */
#define VBACK_IO_MAX_WORKERS 256u
/** The network engines' request and connect bound when
 *  vback_io_options::timeout_ms is 0, in milliseconds. */
#define VBACK_IO_NET_TIMEOUT_MS 30000u

/** How to open a disk with vback_io_open(); read during the call only,
 *  except @log. */
struct vback_io_options {
	const char *path; /**< file or block device (used during the call) */
	enum vback_io_engine engine; /**< which engine serves it */
	bool read_only;		     /**< open read-only; writes get -EROFS */
	bool direct;		     /**< O_DIRECT */
	/** MEMORY engine: size in bytes; NULL engine: the size (0: the
	 *  size of @path) */
	uint64_t mem_size;
	/** Most requests in flight, up to VBACK_IO_MAX_DEPTH; 0: 128. */
	unsigned int queue_depth;
	/** POSIX engine threads, up to VBACK_IO_MAX_WORKERS; 0: default. */
	unsigned int workers;
	/**
	 * A file another vback instance holds (its lock), or a block device
	 * claimed exclusively: try again for up to this many milliseconds
	 * before -EBUSY, blocking the caller (0: fail at once). For a
	 * restart right after a kill: the kernel releases the dead
	 * instance's file only once its IO is finished (io_uring's, later
	 * than the process's exit).
	 */
	unsigned int busy_wait_ms;
	/**
	 * io_uring engine, a file on a memory-backed filesystem (tmpfs,
	 * ramfs, hugetlbfs) that the kernel cannot read without blocking
	 * (RWF_NOWAIT refused; io_uring then hands every request to a
	 * kernel worker thread): false (the default) reads, writes and
	 * flushes it inline on the loop thread at unplug(), since it never
	 * waits for a device; true leaves it to io_uring's workers.
	 */
	bool memfs_via_uring;
	/**
	 * io_uring engine: submission polling (IORING_SETUP_SQPOLL). A
	 * kernel thread of this process picks the requests up, so a batch
	 * costs no system call while it is awake; it spins for 1 ms after
	 * the last submission, then sleeps until the next one wakes it. It
	 * takes a CPU of its own while busy: worth it with CPUs to spare.
	 */
	bool sqpoll;
	const struct vback_log *log; /**< borrowed; must outlive the instance */

	/* ---- network engines (NBD, RBD); 0/NULL: the defaults ---- */
	/** RBD: Ceph configuration file (a conf= item of the spec wins);
	 *  NULL: $CEPH_CONF, then librados's search (/etc/ceph/ceph.conf). */
	const char *ceph_conf;
	/** RBD: Ceph client id without "client." (an id= item of the spec
	 *  wins); NULL: "admin". */
	const char *ceph_id;
	/**
	 * NBD, RBD: milliseconds after which a request that has not
	 * completed fails with -EIO, and the bound on connecting at open;
	 * 0: VBACK_IO_NET_TIMEOUT_MS. NBD counts from submit() and resets the
	 * connection that owes the reply; RBD sets librados's OSD and monitor
	 * op timeouts.
	 */
	unsigned int timeout_ms;
	/** NBD: connections to open when the server allows multi-conn;
	 *  0: 4; always 1 when it does not. At most 16. */
	unsigned int connections;
	/**
	 * NBD, RBD: open without touching the loop, so that the connect
	 * (up to @timeout_ms) can run on a thread of its own while the
	 * loop's thread goes on serving. Nothing is watched, armed or posted
	 * until vback_io_attach() on the loop's thread, and nothing may be
	 * submitted before; only the loop's clock (vback_loop_now()) is read
	 * meanwhile, from the opening thread (the epoll loop's clock allows
	 * it). An instance never attached may be closed on any one thread.
	 * Other engines refuse it (-EINVAL): they open without waiting.
	 */
	bool detached;
	/* ---- end of network engines ---- */
};

/**
 * Open a disk as @opts says. The backend registers its completion fd
 * with @loop (which must outlive it) and runs done() callbacks from that
 * loop. On success *@out holds the instance; close it with
 * vback_io_close(). A block device that is mounted, or a file another
 * vback holds open for writing, is refused with -EBUSY and a log line
 * saying why. Other errors: -EINVAL (bad options), -ENOENT/-EACCES/... from
 * opening @opts->path, -ENOMEM.
 *
 * A @opts->path that is a network disk spec selects its engine whatever
 * @opts->engine says (unless it says memory): "nbd://" and "nbd+unix://"
 * (the NBD URI standard) the NBD engine, "rbd:" the RBD engine. Those
 * connect before they return, waiting at most @opts->timeout_ms, since
 * the disk's size must be known (RBD: librados's connect and rbd_open()
 * block for that long at most); a bad spec is -EINVAL, a server that
 * cannot be reached -ECONNREFUSED, -ENOENT, -ETIMEDOUT, ..., and an
 * engine this build lacks -ENOTSUP, each with one log line. They need a
 * loop that watches fds.
 */
VBACK_API int vback_io_open(const struct vback_io_options *opts,
			    const struct vback_loop *loop,
			    struct vback_io *out);

/**
 * Whether vback_io_open() takes @path for a network disk spec ("nbd://",
 * "nbd+unix://", "rbd:"), whose open may wait for a server: such a disk
 * can be opened detached, on a thread of its own. NULL: false.
 */
VBACK_API bool vback_io_is_network(const char *path);

/**
 * Start serving an instance opened with vback_io_options::detached: it
 * watches its connections and arms its timers on the loop given to
 * vback_io_open(). Call it on that loop's thread, once, before the first
 * submit. Returns 0; -EINVAL when @io was not opened detached or is
 * attached already; another -errno when it cannot start (the connection
 * went away meanwhile): the instance stays open, close it.
 */
VBACK_API int vback_io_attach(struct vback_io *io);

/**
 * Close an instance from vback_io_open() or a user's (calls ops->close(),
 * which completes what is still in flight first) and clear *@io. Call it
 * after the transport was detached (see vback_blk_destroy() for the
 * order); copies of *@io are dangling afterwards. NULL or a cleared
 * instance: no-op.
 */
VBACK_API void vback_io_close(struct vback_io *io);

/** A RAM disk of vback_io_memory_create(). */
struct vback_io_memory_options {
	/** The disk's bytes: borrowed, @size long, kept valid until the
	 *  instance is closed; NULL: allocated (zeroed) by the engine. */
	void *buf;
	uint64_t size;	/**< bytes, a non-zero multiple of 512 */
	bool read_only; /**< writes get -EROFS */
	/** Most requests in flight, up to VBACK_IO_MAX_DEPTH; 0: 128. */
	unsigned int queue_depth;
	const struct vback_log *log; /**< borrowed */
};

/**
 * The memory engine without vback_io_open(): a RAM disk on @loop, with no
 * OS call (it completes through posted work, so it runs on the simple
 * loop too; the one IO engine of a freestanding build). 0 and *@out, or
 * -EINVAL, -ENOMEM. Close it with vback_io_close().
 */
VBACK_API int vback_io_memory_create(const struct vback_io_memory_options *o,
				     const struct vback_loop *loop,
				     struct vback_io *out);

/**
 * The engine actually serving @io (after an io_uring to posix fallback);
 * VBACK_IO_ENGINE_DEFAULT for an implementation that is not vback's own.
 */
VBACK_API enum vback_io_engine vback_io_engine_of(const struct vback_io *io);

/** The name of @engine: "posix", "io_uring", "memory", "nbd", "rbd",
 *  "null" or "default"; NULL if out of range. Static storage. */
VBACK_API const char *vback_io_engine_name(enum vback_io_engine engine);
/** Parse an engine @name (as vback_io_engine_name() prints it) into
 *  *@engine; 0 or -EINVAL. */
VBACK_API int vback_io_engine_parse(const char *name,
				    enum vback_io_engine *engine);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_IO_H */
