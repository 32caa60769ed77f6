/* SPDX-License-Identifier: MIT */
/**
 * @file vback/virtio.h
 * @brief The virtio layer, "what the device is": guest-memory view, device
 * core, virtio-mmio register file and virtio-blk. No OS, no hypervisor.
 *
 * Pieces, from the bottom up:
 *  - struct vback_gm: the guest-memory view a transport supplies;
 *  - struct vback_dev: the generic device core (features, status, config
 *    space, virtqueues, reset), driven by a transport either through the
 *    virtio-mmio register file (struct vback_mmio: Xen, any trap-and-emulate
 *    hypervisor) or directly (vhost-user);
 *  - struct vback_blk: virtio-blk, a device type on top of the core that
 *    turns requests into IO-layer requests (include/vback/io.h).
 *
 * Trust: everything that comes from the guest (ring contents, descriptors,
 * register values, config accesses) is hostile. A protocol violation marks
 * the device NEEDS_RESET (and, once the driver has set DRIVER_OK, raises a
 * config-change notification); it never aborts and never touches memory
 * outside what the guest-memory view maps.
 *
 * Threading: a device and its mmio front-end are used from one thread, the
 * one that runs the loop of its transport and IO backend. Every callback in
 * this header is called on that thread. No function here blocks.
 *
 * Pointers: unless a function says otherwise, the object handle it takes
 * (@dev, @mmio, @blk) must not be NULL.
 */
#ifndef VBACK_VIRTIO_H
#define VBACK_VIRTIO_H

#include <vback/base.h>
#include <vback/io.h>

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

struct vback_dev;

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
};

/** How a transport binds to a device (vback_dev_attach()). */
struct vback_dev_transport {
	/** The notifications; notify_queue and notify_config required. */
	const struct vback_dev_transport_ops *ops;
	void *opaque;	    /**< passed to every op of @ops */
	struct vback_gm gm; /**< guest memory of the rings and buffers */
	/** Transport feature bits to offer on top of the device's own, e.g.
	 *  1 << VIRTIO_F_ACCESS_PLATFORM (33) for Xen grant mappings. */
	uint64_t features;
};

/**
 * Bind a transport to @dev. The struct @t is copied; the objects it points
 * to (ops, opaque, the gm view) must stay valid until vback_dev_detach().
 * Returns 0, -EINVAL when @dev or @t is NULL or notify_queue,
 * notify_config or gm.ops->map is missing, or -EBUSY when a transport is
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
 */
VBACK_API int vback_dev_queue_set_last_avail(struct vback_dev *dev,
					     unsigned int q, uint16_t idx);
/**
 * The driver notified queue @q: process available buffers. Out-of-range
 * or disabled queues are ignored (logged at debug level).
 */
VBACK_API void vback_dev_queue_kick(struct vback_dev *dev, unsigned int q);

/**
 * Requests accepted from the guest and not yet completed, including those
 * orphaned by a reset. After a reset or detach with requests in flight the
 * device still calls the transport's gm unmap() (never map(), never guest
 * memory) as they complete: a transport keeps its guest-memory view alive
 * until this reaches 0.
 */
VBACK_API unsigned int vback_dev_inflight(const struct vback_dev *dev);

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

/**
 * Tear down a device of any type; for virtio-blk the same as
 * vback_blk_destroy() (see there for the teardown order). NULL: no-op.
 * Destroy (or detach) the transport first. While a transport is still
 * attached, or requests are still in flight, the device is not freed:
 * that is logged at error level and the memory leaked, since the
 * transport or the IO may still use it.
 */
VBACK_API void vback_dev_destroy(struct vback_dev *dev);

/* ------------------------------------------------------------------ */
/* virtio-mmio register file (virtio 1.2 section 4.2)                  */
/* ------------------------------------------------------------------ */

struct vback_mmio;

/** Size of a virtio-mmio window: registers at 0..0xff, config from 0x100. */
#define VBACK_MMIO_WINDOW_SIZE 0x200u

/** What the register file needs from its transport. */
struct vback_mmio_ops {
	/**
	 * Interrupt line of this device. @level true each time an interrupt
	 * is raised (a used-buffer or config-change notification sets a bit
	 * in InterruptStatus, even one already set); false when a write to
	 * InterruptACK leaves InterruptStatus 0, and when a status write of 0
	 * resets a device whose InterruptStatus was non-zero.
	 * Edge-triggered transports act on true only. Called from inside
	 * vback_mmio_read()/vback_mmio_write() and device notifications.
	 */
	void (*set_irq)(void *opaque, bool level);
};

/** How to create a register file with vback_mmio_create(); read during the
 *  call only, except the pointers, which are borrowed. */
struct vback_mmio_options {
	/** The device served (not owned; must outlive the register file). */
	struct vback_dev *dev;
	/** 2 (modern, default when 0) or 1 (legacy); others: -EINVAL. */
	unsigned int version;
	/** The VendorID register; 0: 0x4b434256 ("VBCK" little endian). */
	uint32_t vendor_id;
	/** The interrupt line; set_irq required (borrowed). */
	const struct vback_mmio_ops *ops;
	void *opaque;	    /**< passed to set_irq() */
	struct vback_gm gm; /**< guest memory for the device; map required */
	/** Transport feature bits offered on top of the device's (see
	 *  struct vback_dev_transport); version 2 adds VIRTIO_F_RING_RESET. */
	uint64_t transport_features;
	/** Where bad guest accesses are logged (borrowed: must outlive the
	 *  register file); NULL: the device's log. */
	const struct vback_log *log;
};

/**
 * Create a register file for @opts->dev and attach it as the device's
 * transport. Returns 0 and the handle in *@out, -EINVAL (bad options),
 * -EBUSY (device already attached) or -ENOMEM.
 */
VBACK_API int vback_mmio_create(const struct vback_mmio_options *opts,
				struct vback_mmio **out);
/**
 * Detach from the device (which resets it) and free. The device must
 * still exist: destroy the register file before the device. Does not lower
 * the interrupt line. NULL: no-op.
 */
VBACK_API void vback_mmio_destroy(struct vback_mmio *mmio);

/**
 * A guest read at @off in the window, @size bytes (1, 2, 4 or 8), into
 * *@val (zero-extended). Registers (below 0x100) take aligned 32-bit
 * accesses only; config space takes 1, 2, 4 or 8 bytes at any offset
 * inside it. Returns 0, or -EINVAL for a bad width, an offset outside the
 * window or the config space, an unknown, write-only or (for this version)
 * absent register: *@val is then 0. Each kind of bad access is logged once
 * per register file, at warning level. The transport completes the access
 * either way. -EINVAL also when @mmio or @val is NULL.
 */
VBACK_API int vback_mmio_read(struct vback_mmio *mmio, uint64_t off,
			      unsigned int size, uint64_t *val);
/**
 * A guest write of the low @size bytes of @val at @off in the window
 * (widths as for vback_mmio_read()). Returns 0, or -EINVAL when the write
 * was ignored or failed: bad width or offset, a read-only or absent
 * register, a value out of range, a queue setting while the queue is
 * ready, a status transition the device refused, a queue that could not
 * be enabled (QueueReady reads back 0; a legacy QueuePFN also marks the
 * device NEEDS_RESET). A refused FEATURES_OK is normal protocol and
 * returns 0. Logged like vback_mmio_read(); the transport completes the
 * access either way. -EINVAL also when @mmio is NULL.
 */
VBACK_API int vback_mmio_write(struct vback_mmio *mmio, uint64_t off,
			       unsigned int size, uint64_t val);

/* ------------------------------------------------------------------ */
/* virtio-blk                                                          */
/* ------------------------------------------------------------------ */

struct vback_blk;

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
	/** Initial cache mode (config `writeback`, CONFIG_WCE), restored by
	 *  every reset. */
	bool writeback;
	/** Most data segments per request; 0: the IO caps' max_segments, or
	 *  126 when those have no limit. Capped at 1024. */
	uint32_t seg_max;
	/** Longest segment in bytes (VIRTIO_BLK_F_SIZE_MAX); 0: no limit. */
	uint32_t size_max;
	/** Where the device logs (borrowed: must outlive the device); NULL:
	 *  stderr. */
	const struct vback_log *log;
	/** For log lines, e.g. "dom3/xvda"; copied (up to 63 bytes). NULL:
	 *  "blk". */
	const char *name;
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
 * no-op. Teardown order: detach the transport (vback_mmio_destroy(),
 * vback_vhu_destroy() or vback_dev_detach(): the device resets, in-flight
 * requests are orphaned), close the IO instance (which completes what is
 * in flight; orphaned completions touch no guest memory), then destroy the
 * device. Returns nothing; destroying with requests still in flight is a
 * caller bug that is logged and leaks the device rather than freeing
 * memory IO may use.
 */
VBACK_API void vback_blk_destroy(struct vback_blk *blk);

/**
 * The disk changed size (e.g. after refresh_size()): update the capacity,
 * bump the config generation and, once the driver has set DRIVER_OK,
 * raise the configuration-change notification. Returns 0, or -EINVAL when
 * @blk is NULL or @size_bytes is not a whole number of logical blocks.
 */
VBACK_API int vback_blk_resize(struct vback_blk *blk, uint64_t size_bytes);

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
 * Copy the counters of @blk into *@stats. On the device's thread. NULL
 * @blk or @stats: no-op.
 */
VBACK_API void vback_blk_get_stats(const struct vback_blk *blk,
				   struct vback_blk_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_VIRTIO_H */
