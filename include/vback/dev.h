/* SPDX-License-Identifier: MIT */
/**
 * @file vback/dev.h
 * @brief The virtio device core (vback_dev_*) as a transport drives it:
 * the guest-memory view a transport supplies, the notifications it
 * receives, and the device-core calls it makes (features, status, config
 * space, queues, kicks, reset). Part of the virtio layer: a transport
 * includes it, never the other way round. vback's own transports
 * (vback/xen.h, vback/vhost_user.h, the register file of vback/mmio.h) are
 * written on exactly this.
 *
 * No OS, no hypervisor. Threading: a device and its transport are used
 * from the thread that runs the transport's loop; every callback here is
 * called on that thread, from inside the device calls (a kick, an IO
 * completion, a register write) or from work the device posted.
 *
 * Unless queues run on loops of their own (vback_dev_queue_set_loop(): a
 * thread per queue or per group of queues). Then, for such a queue:
 *  - every call that names it (set_size/addr/last_avail, enable, kick,
 *    stop, last_avail, reset, and the device type's per-queue calls such
 *    as vback_blk_get_queue_stats()) is made on its loop's thread, and
 *    reset there before vback_dev_reset() or vback_dev_detach();
 *  - notify_queue() and queue_idle() for it are called on its thread
 *    (queue_idle() typically posts to the transport's loop);
 *  - the device's own calls (status, features, config space, reset,
 *    quiesce, resume, resize, inflight) stay on the transport's thread;
 *    the device reaches the queue threads by posting work to their
 *    loops, never by touching their state, and hears back the same way.
 * An embedder with one loop sets nothing and nothing changes.
 */
#ifndef VBACK_DEV_H
#define VBACK_DEV_H

#include <vback/base.h>
#include <vback/loop.h>
#include <vback/virtio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Guest memory view (implemented by each transport)                  */
/* ------------------------------------------------------------------ */

/** Access bit for vback_gm_ops::map(): the device reads guest memory. */
#define VBACK_GM_READ (1u << 0)
/** Access bit for vback_gm_ops::map(): the device writes guest memory. */
#define VBACK_GM_WRITE (1u << 1)

/**
 * How the virtio layer reaches guest memory: each transport implements
 * these (vhost-user over the front-end's memory table, Xen over grant or
 * foreign mappings). @opaque is struct vback_gm's. Called on the device's
 * thread, from inside kicks, IO completions and queue enable/reset.
 */
struct vback_gm_ops {
	/**
	 * Translate guest (bus) address @addr for an access of *@len bytes
	 * with @access (VBACK_GM_*). On success returns the host address and
	 * sets *@len to the number of contiguous bytes available there, 1 ..
	 * the asked length (shorter when the range crosses a region or mapping
	 * boundary: callers loop). Returns NULL when any part of the first byte
	 * is outside guest memory or not accessible with @access. Must not
	 * crash on any input, including @addr + *@len overflowing.
	 *
	 * A view with unmap() may be at a limit of what it keeps mapped (Xen
	 * grants: a cap per domain): it then returns NULL with *@len set to
	 * 0, "busy". The virtio layer releases what the request had mapped,
	 * leaves it in the ring, and tries again after one of the device's
	 * requests completes; with none in flight it answers the request
	 * with an error instead (it could never be mapped).
	 */
	void *(*map)(void *opaque, uint64_t addr, uint64_t *len,
		     unsigned int access);
	/**
	 * Optional (NULL for views that map everything up front): release a
	 * piece returned by map() with the same @addr, @len and @access. The
	 * virtio layer releases every piece of a request before it publishes
	 * the used element, and the rings when a queue is reset.
	 */
	void (*unmap)(void *opaque, uint64_t addr, void *host, uint64_t len,
		      unsigned int access);
};

/**
 * A guest-memory view: its ops and their context. Copied by value (into
 * struct vback_dev_transport, struct vback_mmio_options and each enabled
 * queue); the copies refer to the same view, which the transport keeps
 * alive as long as vback_dev_inflight() says requests may still use it.
 */
struct vback_gm {
	const struct vback_gm_ops *ops; /**< the implementation; map required */
	void *opaque;			/**< context passed to every op */
};

/* ------------------------------------------------------------------ */
/* Device core                                                         */
/* ------------------------------------------------------------------ */

/**
 * Device-to-transport notifications. They are called from inside device
 * calls (a kick, an IO completion, a register write): they may record
 * state, raise an interrupt or write an eventfd, but must not reset,
 * detach or destroy the device synchronously.
 */
struct vback_dev_transport_ops {
	/** Used-buffer notification for queue @q (interrupt suppression and
	 *  EVENT_IDX have already been applied). */
	void (*notify_queue)(void *opaque, unsigned int q);
	/** Configuration-change notification (config space changed, or the
	 *  device entered NEEDS_RESET). Only sent once the driver has set
	 *  DRIVER_OK. */
	void (*notify_config)(void *opaque);
	/** Optional: queue @q was stopped with vback_dev_queue_stop() and its
	 *  last in-flight request has now completed. */
	void (*queue_idle)(void *opaque, unsigned int q);
	/** Optional: the device was reset (by the driver, the transport or a
	 *  detach); the rings it had mapped are released, so long-lived
	 *  mappings no request uses may go. */
	void (*reset)(void *opaque);
};

/** How a transport binds to a device (vback_dev_attach()). */
struct vback_dev_transport {
	/** The notifications; notify_queue and notify_config required. */
	const struct vback_dev_transport_ops *ops;
	void *opaque;	    /**< passed to every op of @ops */
	struct vback_gm gm; /**< guest memory of the rings and buffers */
	/** The loop the transport and the device's IO run on (borrowed,
	 *  required): the device posts its deferred work there (completion
	 *  batches, back-pressure retries, yielding after a long batch). */
	const struct vback_loop *loop;
	/** Transport feature bits to offer on top of the device's own, e.g.
	 *  1 << VIRTIO_F_ACCESS_PLATFORM (33) for Xen grant mappings. */
	uint64_t features;
};

/**
 * Bind a transport to @dev. The struct @t is copied; the objects it points
 * to (ops, opaque, the gm view) must stay valid until vback_dev_detach().
 * Returns 0, -EINVAL when @dev or @t is NULL or notify_queue,
 * notify_config, gm.ops->map or the loop is missing, or -EBUSY when a
 * transport is
 * already attached (a device has at most one).
 */
VBACK_API int vback_dev_attach(struct vback_dev *dev,
			       const struct vback_dev_transport *t);
/**
 * Reset the device (see vback_dev_reset()) and unbind the transport: no
 * notification reaches it any more. NULL, or no transport: no-op.
 */
VBACK_API void vback_dev_detach(struct vback_dev *dev);

/**
 * Features the device offers: the device type's own bits, the attached
 * transport's, and VIRTIO_F_VERSION_1. Behind a legacy (version 1)
 * virtio-mmio register file: the low 32 bits only, without VERSION_1.
 */
VBACK_API uint64_t vback_dev_features(const struct vback_dev *dev);
/**
 * The driver accepts @features. Allowed only before FEATURES_OK: -EPERM
 * after. Bits never offered are refused with -EINVAL: the offered subset
 * is stored, and FEATURES_OK will not stick until the driver writes an
 * acceptable set. 0 on success.
 */
VBACK_API int vback_dev_set_driver_features(struct vback_dev *dev,
					    uint64_t features);
/**
 * The features the driver accepted with vback_dev_set_driver_features()
 * (after a refusal, the offered subset of what it wrote); 0 after a reset.
 */
VBACK_API uint64_t vback_dev_driver_features(const struct vback_dev *dev);

/* Status bits, virtio 1.2 section 2.1 */
/** Device status bit (virtio 1.2 2.1): the guest found the device. */
#define VBACK_STATUS_ACKNOWLEDGE 1u
/** Device status bit: the guest has a driver for the device. */
#define VBACK_STATUS_DRIVER 2u
/** Device status bit: the driver is set up and ready to drive it. */
#define VBACK_STATUS_DRIVER_OK 4u
/** Device status bit: feature negotiation is complete. */
#define VBACK_STATUS_FEATURES_OK 8u
/** Device status bit, set by the device: it hit an error and needs a
 *  reset (a guest protocol violation). */
#define VBACK_STATUS_NEEDS_RESET 64u
/** Device status bit: the driver gave up on the device. */
#define VBACK_STATUS_FAILED 128u

/**
 * The device status (VBACK_STATUS_* bits), as the driver reads it back:
 * what it wrote and the device kept, plus NEEDS_RESET. 0 after a reset.
 */
VBACK_API uint8_t vback_dev_status(const struct vback_dev *dev);
/**
 * Write the device status. 0 resets the device (vback_dev_reset()) and
 * returns 0. Otherwise:
 *  - clearing any bit other than by reset is refused with -EPROTO and
 *    changes nothing;
 *  - FEATURES_OK is kept only if the negotiated features are acceptable
 *    (nothing never offered, VERSION_1 accepted, ACCESS_PLATFORM accepted
 *    when offered, the device type agrees); when it is dropped the other
 *    bits are still written and the call returns -EINVAL (the driver
 *    reads the status back to see it);
 *  - DRIVER_OK without FEATURES_OK is refused (-EPROTO): the other bits
 *    are written and the device is marked NEEDS_RESET.
 *
 * Behind a legacy virtio-mmio register file neither check applies.
 * NEEDS_RESET cannot be set or cleared by the driver: it stays until the
 * next reset.
 */
VBACK_API int vback_dev_set_status(struct vback_dev *dev, uint8_t status);

/**
 * Reset: stop all queues, forget features and status, restore the config
 * space defaults. Safe with IO in flight: late completions touch neither
 * guest memory nor the rings; resources are released when they drain.
 * The transport stays attached; the config generation is not reset.
 */
VBACK_API void vback_dev_reset(struct vback_dev *dev);

/** Size of the device-specific config space in bytes. */
VBACK_API uint32_t vback_dev_config_size(const struct vback_dev *dev);
/**
 * The config generation: bumped whenever the device changes its config
 * space (e.g. vback_blk_resize()), not by driver writes.
 */
VBACK_API uint32_t vback_dev_config_generation(const struct vback_dev *dev);
/**
 * Read @len bytes of config space at @off into @buf (little endian, as
 * the guest sees it). Returns 0, or -ERANGE when [@off, @off + @len) is
 * not inside the config space: @buf is then filled with zeroes.
 */
VBACK_API int vback_dev_config_read(struct vback_dev *dev, uint32_t off,
				    void *buf, uint32_t len);
/**
 * Write @len bytes from @buf to config space at @off (little endian).
 * Returns 0, or -ERANGE (nothing written) when the range is not inside
 * the config space. Writes to read-only fields are ignored and still
 * return 0 (for virtio-blk only `writeback` is writable, and only once
 * the driver accepted VIRTIO_BLK_F_CONFIG_WCE).
 */
VBACK_API int vback_dev_config_write(struct vback_dev *dev, uint32_t off,
				     const void *buf, uint32_t len);

/**
 * Run queue @q on @loop instead of the transport's: its kicks (the
 * transport watches them there), its posted work (completion batches,
 * retries, yielding after a long batch), its poller, and the IO
 * completions of its requests (the device type's IO for that queue must
 * run on @loop: vback_blk_set_queue_io()) all come on @loop's thread,
 * which alone touches the queue's state (see the threading note at the
 * top). Queues on the same loop share a thread and form a group. NULL:
 * the transport's loop (the default). Only before a transport is
 * attached: 0, -EBUSY when one is, -EINVAL for a queue that does not
 * exist.
 */
VBACK_API int vback_dev_queue_set_loop(struct vback_dev *dev, unsigned int q,
				       const struct vback_loop *loop);
/** The loop queue @q runs on: its own, or the attached transport's
 *  (NULL when neither). */
VBACK_API const struct vback_loop *
vback_dev_queue_loop(const struct vback_dev *dev, unsigned int q);

/** The virtio device ID (2 for block). */
VBACK_API uint32_t vback_dev_device_id(const struct vback_dev *dev);
/** Number of virtqueues, fixed at creation (1 .. 64); queues are 0 .. n-1. */
VBACK_API unsigned int vback_dev_num_queues(const struct vback_dev *dev);
/** Largest ring size the device supports for queue @q (0: no such queue). */
VBACK_API uint16_t vback_dev_queue_max_size(const struct vback_dev *dev,
					    unsigned int q);

/** Ring areas of a queue, as guest (bus) addresses. */
struct vback_vq_addr {
	uint64_t desc;	/**< the descriptor table (16-byte aligned) */
	uint64_t avail; /**< the driver area (2-byte aligned) */
	uint64_t used;	/**< the device area (4-byte aligned) */
};

/* Direct queue configuration (vhost-user; virtio-mmio goes through these). */
/** Ring size: power of two (split ring), 1..max. -EINVAL otherwise (or
 *  when @q does not exist), -EBUSY while enabled. Defaults to the maximum
 *  after a reset. 0 on success. */
VBACK_API int vback_dev_queue_set_size(struct vback_dev *dev, unsigned int q,
				       uint16_t size);
/**
 * Current ring size of queue @q; 0 when there is no such queue (or, behind
 * virtio-mmio, after the driver wrote an invalid QueueNum).
 */
VBACK_API uint16_t vback_dev_queue_size(const struct vback_dev *dev,
					unsigned int q);
/**
 * Set the ring areas of queue @q from *@addr. Stored as given: they are
 * checked by vback_dev_queue_enable(). Returns 0, -EINVAL when @q does not
 * exist or @addr is NULL, -EBUSY while the queue is enabled. A queue reset
 * clears them to 0.
 */
VBACK_API int vback_dev_queue_set_addr(struct vback_dev *dev, unsigned int q,
				       const struct vback_vq_addr *addr);
/**
 * Store the ring areas of queue @q (as last set, 0 after a reset) in
 * *@addr. Returns 0, or -EINVAL when @q does not exist or @addr is NULL.
 */
VBACK_API int vback_dev_queue_get_addr(const struct vback_dev *dev,
				       unsigned int q,
				       struct vback_vq_addr *addr);
/**
 * Enable a configured queue: checks the ring areas against guest memory
 * (alignment, overflow, mapped for the right access), maps them and
 * preallocates one request context per slot. The ring features (EVENT_IDX,
 * INDIRECT_DESC) are those of vback_dev_driver_features() now.
 * Returns 0, -EINVAL/-EFAULT/-ENOMEM on failure (the queue stays disabled;
 * logged at warning level), -EINVAL also when @q does not exist, -EBUSY if
 * already enabled, -ENODEV without a transport. Enabling clears a
 * vback_dev_queue_stop().
 */
VBACK_API int vback_dev_queue_enable(struct vback_dev *dev, unsigned int q);
/** True when queue @q exists and is enabled. */
VBACK_API bool vback_dev_queue_enabled(const struct vback_dev *dev,
				       unsigned int q);
/**
 * Disable and reset one queue (virtio 1.2 QueueReset): size back to the
 * maximum, addresses and avail index back to 0. In-flight requests
 * complete without touching the ring (and without a queue_idle() call).
 * A queue that does not exist is ignored.
 */
VBACK_API void vback_dev_queue_reset(struct vback_dev *dev, unsigned int q);
/**
 * Stop popping new requests from @q but let in-flight ones complete and
 * publish normally. Returns the number still in flight; when it is > 0 the
 * transport's queue_idle() is called once they are done (from inside the
 * last completion). The queue stays enabled but stopped until it is reset
 * (vback_dev_queue_reset() or a device reset). 0 and no effect for a queue
 * that does not exist.
 */
VBACK_API unsigned int vback_dev_queue_stop(struct vback_dev *dev,
					    unsigned int q);
/** Next avail index the device will read (vhost-user GET/SET_VRING_BASE);
 *  0 when @q does not exist. */
VBACK_API uint16_t vback_dev_queue_last_avail(const struct vback_dev *dev,
					      unsigned int q);
/**
 * Set where a disabled queue resumes (-EBUSY while enabled, -EINVAL when
 * @q does not exist, else 0). The used index is set to the same value:
 * nothing is in flight across a ring hand-over. A reset queue starts at 0.
 * An in-flight record adopted at enable overrides both (see
 * vback_dev_queue_set_inflight()).
 */
VBACK_API int vback_dev_queue_set_last_avail(struct vback_dev *dev,
					     unsigned int q, uint16_t idx);
/**
 * The driver notified queue @q: process available buffers, up to a batch
 * (the rest is processed from the loop, after other work had its turn).
 * Out-of-range or disabled queues, and kicks before DRIVER_OK (virtio 1.2
 * 3.1.1: the driver must not notify before), are ignored (logged at debug
 * level); setting DRIVER_OK processes what is already available.
 */
VBACK_API void vback_dev_queue_kick(struct vback_dev *dev, unsigned int q);

/* ------------------------------------------------------------------ */
/* In-flight record: a restart that loses no request                   */
/* ------------------------------------------------------------------ */

/**
 * Bytes of the in-flight record of a queue of @size entries: a 16-byte
 * header and 16 bytes per entry, the split-ring queue region of
 * vhost-user's inflight I/O tracking (QEMU docs/interop/vhost-user.rst,
 * "Inflight I/O tracking": QueueRegionSplit of DescStateSplit), in the
 * host's byte order. 0 when @size is 0 or above 32768.
 */
VBACK_API size_t vback_dev_inflight_record_size(uint16_t size);

/**
 * Keep the in-flight record of queue @q in @rec: @len bytes, 8-byte
 * aligned, in memory that outlives the process (vhost-user: the region
 * of INFLIGHT_SHMFD, which the front-end keeps; Xen: a file under /run),
 * valid until the queue is reset or the record is replaced.
 *
 * While the queue runs the device marks each head it takes from the ring
 * before anything of the request reaches the IO layer, links each head it
 * answers into the record's last batch, and clears the marks after
 * writing the used index that publishes them, then stores that index:
 * the record and the ring agree at every instant the process may be
 * killed. It never reads the record back while it runs.
 *
 * At vback_dev_queue_enable() a record of version 0 (all zeroes, or
 * emptied by a reset) is initialized and the queue starts where
 * vback_dev_queue_set_last_avail() said. A record of version 1 is
 * adopted: the batch a dead process published but had not cleared is
 * settled against the ring's used index; the queue resumes at that used
 * index plus the number of heads still marked; and those heads are
 * submitted again, in the order they were taken, before anything new
 * and whatever stop or quiesce comes meanwhile (they count in
 * vback_dev_inflight()). Reads that complete twice write the same bytes;
 * writes that had reached the disk but were not yet answered are written
 * again (virtio-blk requests are idempotent). A record that cannot be
 * right (too small, another version or ring size, a flag other than 0 or
 * 1, a last batch leading out of the ring, more marked heads or a larger
 * batch than the ring's indices allow) is not adopted: one warning, and
 * it is started afresh as an empty one. Nothing of it is used unchecked.
 *
 * A reset of the queue (by the driver, vback_dev_queue_reset(), a device
 * reset or a detach) empties the record (version 0) when the queue was
 * enabled with it, since nothing of that ring is owed any more, and
 * forgets it. @rec NULL (also while the queue is enabled) forgets the
 * record without writing to it again: a transport that gives up with
 * requests in flight leaves them in it for the next process.
 *
 * Returns 0, -EINVAL (no such queue, @rec misaligned) or -EBUSY (the
 * queue is enabled and @rec is not NULL).
 */
VBACK_API int vback_dev_queue_set_inflight(struct vback_dev *dev,
					   unsigned int q, void *rec,
					   size_t len);

/**
 * Requests queue @q adopted from its in-flight record at its last enable
 * (0: none, no record, or a record that was not adopted).
 */
VBACK_API unsigned int vback_dev_queue_resumed(const struct vback_dev *dev,
					       unsigned int q);

/**
 * True while requests orphaned by a reset of queue @q (of any queue, and
 * so of the device, if @q < 0) are still in flight: their IO may still
 * write into the guest buffers it was given, so the reset is not complete
 * yet (virtio 1.2 section 2.4: the device presents 0 in device_status
 * once the reset is done). virtio-mmio reads Status as non-zero after a
 * reset, and QueueReset as 1 after a queue reset, until this is false; a
 * driver that waits for that, as the spec asks, never has its memory
 * written by an old request.
 */
VBACK_API bool vback_dev_resetting(const struct vback_dev *dev, int q);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_DEV_H */
