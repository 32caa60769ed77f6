/* SPDX-License-Identifier: MIT */
/**
 * @file vback/virtio.h
 * @brief The virtio devices, as an embedder uses them: virtio-blk on an IO
 * instance, virtio-rng on an entropy function. No OS, no hypervisor.
 *
 * An embedder creates a device here, hands vback_blk_dev() (or
 * vback_rng_dev()) to a transport (vback/vhost_user.h, vback/xen.h, or the
 * virtio-mmio register file of vback/mmio.h), runs the loop, and at the end
 * quiesces and destroys it. Writing a transport of one's own takes the
 * device-core calls of vback/dev.h.
 *
 * Trust: everything that comes from the guest (ring contents, descriptors,
 * register values, config accesses) is hostile. A protocol violation marks
 * the device NEEDS_RESET; it never aborts and never touches memory outside
 * what the transport's guest-memory view maps. Every request the device
 * takes is answered.
 *
 * Threading: a device is used from the thread that runs its transport's
 * loop; every callback in this header is called on that thread. No
 * function here blocks.
 *
 * Pointers: unless a function says otherwise, the object handle it takes
 * (@dev, @blk, @rng) must not be NULL.
 */
#ifndef VBACK_VIRTIO_H
#define VBACK_VIRTIO_H

#include <vback/base.h>
#include <vback/io.h>
#include <vback/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A virtio device of any type: what transports serve. */
struct vback_dev;

/* ------------------------------------------------------------------ */
/* Any device                                                          */
/* ------------------------------------------------------------------ */

/**
 * Called once a vback_dev_quiesce() has finished: @result is 0, or the
 * error of the device's final flush (e.g. -EIO). On the loop thread,
 * never from inside vback_dev_quiesce().
 */
typedef void (*vback_dev_quiesced_fn)(void *opaque, int result);

/**
 * Quiesce @dev for a shutdown or a hand-over: take no new request from any
 * queue (also after a reset the guest makes meanwhile), let the requests
 * in flight complete and reach the guest, then make what was written
 * durable (virtio-blk: one FLUSH to the IO layer unless read-only), then
 * call @done. The device must be attached to a transport (it runs on the
 * transport's loop). Returns 0, -EBUSY while a quiesce is already running,
 * -ENODEV without a transport. The device stays quiesced until
 * vback_dev_resume(); a daemon that stops destroys it instead.
 */
VBACK_API int vback_dev_quiesce(struct vback_dev *dev,
				vback_dev_quiesced_fn done, void *opaque);
/** Take requests again after vback_dev_quiesce() (a running quiesce is
 *  abandoned: its @done is not called). */
VBACK_API void vback_dev_resume(struct vback_dev *dev);

/**
 * Requests accepted from the guest and not yet completed, including those
 * orphaned by a reset. A transport keeps its guest-memory view alive, and
 * an embedder its IO instance open, until this reaches 0.
 */
VBACK_API unsigned int vback_dev_inflight(const struct vback_dev *dev);

/**
 * Tear down a device of any type (the same as vback_blk_destroy() or
 * vback_rng_destroy()). NULL: no-op. Destroy (or detach) the transport
 * first. While a transport is still attached, or requests are still in
 * flight, the device is not freed: that is logged at error level and the
 * memory leaked, since the transport or the IO may still use it.
 */
VBACK_API void vback_dev_destroy(struct vback_dev *dev);

/* ------------------------------------------------------------------ */
/* virtio-blk                                                          */
/* ------------------------------------------------------------------ */

struct vback_blk;

/** virtio-blk feature bit (virtio 1.2 5.2.3) for disabled_features: the
 *  DISCARD command. */
#define VBACK_BLK_F_DISCARD 13
/** virtio-blk feature bit for disabled_features: WRITE_ZEROES. */
#define VBACK_BLK_F_WRITE_ZEROES 14
/** virtio-blk feature bit for disabled_features: SECURE_ERASE. */
#define VBACK_BLK_F_SECURE_ERASE 16
/** virtio-blk feature bit for disabled_features: the writable cache mode
 *  (CONFIG_WCE). */
#define VBACK_BLK_F_CONFIG_WCE 11

/** How to create a virtio-blk device with vback_blk_create(); read during
 *  the call only, except the pointers, which are borrowed. */
struct vback_blk_options {
	/** Where the bytes live: copied, but the instance is borrowed (not
	 *  closed by vback_blk_destroy(); it must outlive the device).
	 *  submit and get_caps required. */
	struct vback_io io;
	/** 1 (default when 0) .. 64, else -EINVAL; >1 offers MQ. */
	unsigned int num_queues;
	/** Max ring size, power of two up to 32768 (else -EINVAL); 0 = 256. */
	uint16_t queue_size;
	/** The GET_ID answer, copied as is: NUL-padded when shorter than 20
	 *  bytes, not NUL-terminated when 20 long; "" = none. */
	char serial[20];
	/** Offer VIRTIO_BLK_F_RO and fail writes, discards and write-zeroes
	 *  with IOERR. Also forced by the IO backend's caps. */
	bool read_only;
	/** Initial cache mode (config `writeback`). With CONFIG_WCE the
	 *  driver may change it; the change outlives device resets (the
	 *  spec leaves the mode after reset open, and a front-end that
	 *  caches the config must not be contradicted). */
	bool writeback;
	/** Most data segments per request (config seg_max); 0: 126. Capped
	 *  at 1024, and at (max_segments - 32) / 2 when the IO caps have a
	 *  max_segments: segments split where they cross guest-memory
	 *  boundaries, and the request must still fit the IO backend. */
	uint32_t seg_max;
	/** Longest segment in bytes (VIRTIO_BLK_F_SIZE_MAX); 0: no limit. */
	uint32_t size_max;
	/**
	 * Feature bits never to offer although the IO layer could, as a mask
	 * of 1ull << VBACK_BLK_F_* (e.g. the toolstack said discard-enable=0).
	 * A disabled DISCARD also turns write_zeroes_may_unmap off.
	 */
	uint64_t disabled_features;
	/** Where the device logs (borrowed: must outlive the device); NULL:
	 *  stderr. */
	const struct vback_log *log;
	/** For log lines, e.g. "dom3/xvda"; copied (up to 63 bytes). NULL:
	 *  "blk". */
	const char *name;
	/**
	 * Keep a latency histogram per queue (struct vback_blk_queue_stats):
	 * costs a read of the loop's clock (vback_loop_now()) per request
	 * answered and one per batch taken from a ring. Off: the histogram
	 * stays zero.
	 */
	bool latency_histogram;
};

/**
 * Create a virtio-blk device on @opts->io. Reads the IO capabilities once
 * to fill the config space and the feature set. Returns 0 and the device
 * in *@out, -EINVAL (bad options, or caps with a logical block size that
 * is not a power of two >= 512), -ENOMEM, or an error from get_caps.
 */
VBACK_API int vback_blk_create(const struct vback_blk_options *opts,
			       struct vback_blk **out);
/**
 * The generic device to hand to a transport; it lives as long as @blk.
 * NULL for NULL.
 */
VBACK_API struct vback_dev *vback_blk_dev(struct vback_blk *blk);
/**
 * Destroy; the same as vback_dev_destroy() on vback_blk_dev(). NULL:
 * no-op. Teardown order: detach the transport (vback_xen_device_remove(),
 * vback_vhu_destroy(), vback_mmio_destroy() or vback_dev_detach(): the
 * device resets, in-flight requests are orphaned), close the IO instance
 * (which completes what is in flight; orphaned completions touch no guest
 * memory), then destroy the device. Destroying with requests still in
 * flight is a caller bug that is logged and leaks the device rather than
 * freeing memory IO may use.
 */
VBACK_API void vback_blk_destroy(struct vback_blk *blk);

/**
 * Queue @q submits to @io instead of vback_blk_options.io: an instance on
 * the loop the queue runs on (vback_dev_queue_set_loop()), e.g. a
 * vback_io_clone() of it. Queues on the same loop may share one. Copied;
 * the instance is borrowed (closed by the caller, after the device's
 * transport is gone, like options.io). NULL: back to options.io. Only
 * before a transport is attached: 0, -EBUSY when one is, -EINVAL (no
 * such queue, an @io without submit). The quiesce's final FLUSH still
 * goes to options.io, on the transport's loop.
 */
VBACK_API int vback_blk_set_queue_io(struct vback_blk *blk, unsigned int q,
				     const struct vback_io *io);

/**
 * The disk changed size: update the capacity, bump the config generation
 * and, once the driver has set DRIVER_OK, raise the configuration-change
 * notification. With queues on loops of their own, each learns the new
 * capacity on its thread (posted work) and the notification waits until
 * all have, so no request the guest sends after it is refused by a queue
 * that has not heard of the resize. Returns 0, or -EINVAL when
 * @size_bytes is not a whole number of logical blocks.
 */
VBACK_API int vback_blk_resize(struct vback_blk *blk, uint64_t size_bytes);
/**
 * Ask the IO layer for the disk's size now (its refresh_size()) and
 * vback_blk_resize() when it changed. Returns 1 when the size changed, 0
 * when not, -EOPNOTSUPP when the IO instance cannot tell, or another
 * -errno. The new size is stored in *@size_bytes when not NULL.
 */
VBACK_API int vback_blk_refresh_size(struct vback_blk *blk,
				     uint64_t *size_bytes);

/**
 * Counters for benchmarks and monitoring, cumulative over the device's
 * life (a reset does not clear them). A request counts when its status is
 * written; requests orphaned by a reset are not counted.
 */
struct vback_blk_stats {
	uint64_t reads,	       /**< reads completed with status OK */
		writes,	       /**< writes completed with status OK */
		flushes,       /**< flushes completed with status OK */
		discards,      /**< discards and secure erases completed OK */
		write_zeroes,  /**< write-zeroes completed with status OK */
		get_ids;       /**< GET_ID requests answered with status OK */
	uint64_t unsupported,  /**< answered UNSUPP (unknown, not negotiated) */
		io_errors,     /**< answered IOERR (malformed, refused, IO) */
		bytes_read,    /**< data bytes of the reads counted */
		bytes_written; /**< data bytes of the writes counted */
};
/**
 * Copy the counters of @blk into *@stats: the sum of the queues'. On the
 * device's thread, and exact only while no queue runs on another thread
 * (then add up vback_blk_get_queue_stats() taken on each queue's thread).
 * NULL @blk or @stats: no-op.
 */
VBACK_API void vback_blk_get_stats(const struct vback_blk *blk,
				   struct vback_blk_stats *stats);

/** Buckets of the latency histogram of struct vback_blk_queue_stats. */
#define VBACK_BLK_LATENCY_BUCKETS 24

/**
 * Counters of one queue of a virtio-blk device, for monitoring (per-queue
 * rates, in-flight requests, latency). Cumulative over the device's life
 * like struct vback_blk_stats: a reset does not clear them, and the sum
 * of @req over the queues is what vback_blk_get_stats() returns.
 */
struct vback_blk_queue_stats {
	/** This queue's requests, counted as struct vback_blk_stats counts. */
	struct vback_blk_stats req;
	/** Requests taken from the queue's ring and not answered yet (now;
	 *  those orphaned by a reset are no longer the queue's). */
	unsigned int inflight;
	/**
	 * How long the requests counted in @req took, from the moment the
	 * device began taking their batch off the ring to the moment it wrote
	 * their status, on the loop's clock. Bucket 0: under 1 us; bucket i
	 * (1 .. VBACK_BLK_LATENCY_BUCKETS - 2): from 2^(i-1) to under 2^i us;
	 * the last bucket: 2^(VBACK_BLK_LATENCY_BUCKETS - 2) us (about 4.2 s)
	 * and more. All zero unless vback_blk_options.latency_histogram was
	 * set.
	 */
	uint64_t latency[VBACK_BLK_LATENCY_BUCKETS];
};

/**
 * Copy the counters of queue @q of @blk into *@stats. On the thread of
 * the queue's loop (the device's, unless vback_dev_queue_set_loop()).
 * Returns 0, or -EINVAL when @q is not one of the device's queues
 * (0 .. num_queues - 1) or @stats is NULL.
 */
VBACK_API int vback_blk_get_queue_stats(const struct vback_blk *blk,
					unsigned int q,
					struct vback_blk_queue_stats *stats);

/* ------------------------------------------------------------------ */
/* virtio-rng                                                          */
/* ------------------------------------------------------------------ */

struct vback_rng;

/**
 * Fill @buf with @len bytes of entropy. Returns the number of bytes
 * written (0 .. @len; fewer is fine, 0 means "none now"), or a negative
 * errno (the request is then answered with nothing). Called on the loop
 * thread for each request; must not block for long.
 */
typedef long (*vback_rng_fill_fn)(void *opaque, void *buf, size_t len);

/** How to create a virtio-rng device with vback_rng_create(). */
struct vback_rng_options {
	vback_rng_fill_fn fill; /**< the entropy source (required) */
	void *opaque;		/**< passed to @fill */
	/** Max ring size, power of two up to 32768 (else -EINVAL); 0 = 64. */
	uint16_t queue_size;
	/** Most bytes handed out per request (0: 4096). */
	uint32_t max_request;
	/** Borrowed, NULL: stderr. */
	const struct vback_log *log;
	/** For log lines; copied. NULL: "rng". */
	const char *name;
};

/**
 * Create a virtio-rng device (virtio 1.2 5.4: one queue, no features, no
 * config space; each request is a chain of device-writable buffers, filled
 * from @opts->fill). 0 and *@out, -EINVAL, -ENOMEM.
 */
VBACK_API int vback_rng_create(const struct vback_rng_options *opts,
			       struct vback_rng **out);
/** The generic device of @rng (lives as long as @rng); NULL for NULL. */
VBACK_API struct vback_dev *vback_rng_dev(struct vback_rng *rng);
/** The same as vback_dev_destroy() on vback_rng_dev(). NULL: no-op. */
VBACK_API void vback_rng_destroy(struct vback_rng *rng);
/** Bytes of entropy handed to the guest so far. */
VBACK_API uint64_t vback_rng_bytes(const struct vback_rng *rng);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_VIRTIO_H */
