/* SPDX-License-Identifier: MIT */
/*
 * vback virtio layer: "what the device is". No OS, no hypervisor.
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
 * the device NEEDS_RESET (and raises a config-change notification); it never
 * aborts and never touches memory outside what the guest-memory view maps.
 *
 * Threading: a device and its mmio front-end are used from one thread, the
 * one that runs the loop of its transport and IO backend. Every callback in
 * this header is called on that thread.
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

#define VBACK_GM_READ (1u << 0)	 /* the device reads guest memory */
#define VBACK_GM_WRITE (1u << 1) /* the device writes guest memory */

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

struct vback_gm {
	const struct vback_gm_ops *ops;
	void *opaque;
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
	 *  device entered NEEDS_RESET). */
	void (*notify_config)(void *opaque);
	/** Optional: queue @q was stopped with vback_dev_queue_stop() and its
	 *  last in-flight request has now completed. */
	void (*queue_idle)(void *opaque, unsigned int q);
};

/** How a transport binds to a device (vback_dev_attach()). */
struct vback_dev_transport {
	const struct vback_dev_transport_ops *ops;
	void *opaque;
	struct vback_gm gm;
	/** Transport feature bits to offer on top of the device's own, e.g.
	 *  1 << VIRTIO_F_ACCESS_PLATFORM (33) for Xen grant mappings. */
	uint64_t features;
};

/**
 * Bind a transport. The struct is copied; @t's opaque pointers must stay
 * valid until vback_dev_detach(). A device has at most one transport:
 * -EBUSY if one is attached.
 */
VBACK_API int vback_dev_attach(struct vback_dev *dev, const struct vback_dev_transport *t);
/** Reset the device (see vback_dev_reset()) and unbind the transport. */
VBACK_API void vback_dev_detach(struct vback_dev *dev);

/** Features the device offers (device + transport + VERSION_1 etc.). */
VBACK_API uint64_t vback_dev_features(const struct vback_dev *dev);
/**
 * The driver accepts @features. Bits never offered are refused (-EINVAL,
 * and the driver will see FEATURES_OK fail). Allowed only before
 * FEATURES_OK (-EPERM after).
 */
VBACK_API int vback_dev_set_driver_features(struct vback_dev *dev, uint64_t features);
VBACK_API uint64_t vback_dev_driver_features(const struct vback_dev *dev);

/* Status bits, virtio 1.2 section 2.1 */
#define VBACK_STATUS_ACKNOWLEDGE 1u
#define VBACK_STATUS_DRIVER 2u
#define VBACK_STATUS_DRIVER_OK 4u
#define VBACK_STATUS_FEATURES_OK 8u
#define VBACK_STATUS_NEEDS_RESET 64u
#define VBACK_STATUS_FAILED 128u

VBACK_API uint8_t vback_dev_status(const struct vback_dev *dev);
/**
 * Write the device status. 0 resets the device. FEATURES_OK is kept only
 * if the negotiated features are acceptable (the driver reads it back);
 * DRIVER_OK without FEATURES_OK (modern devices) is refused (-EPROTO) and
 * marks the device NEEDS_RESET. Clearing bits other than by reset is
 * refused (-EPROTO).
 */
VBACK_API int vback_dev_set_status(struct vback_dev *dev, uint8_t status);

/**
 * Reset: stop all queues, forget features and status, restore the config
 * space defaults. Safe with IO in flight: late completions touch neither
 * guest memory nor the rings; resources are released when they drain.
 */
VBACK_API void vback_dev_reset(struct vback_dev *dev);

/** Size of the device-specific config space in bytes. */
VBACK_API uint32_t vback_dev_config_size(const struct vback_dev *dev);
/** Bumped whenever the device changes its config space. */
VBACK_API uint32_t vback_dev_config_generation(const struct vback_dev *dev);
/**
 * Read/write @len bytes of config space at @off (little endian, as the
 * guest sees it). Out-of-range accesses return -ERANGE and touch nothing
 * (reads fill @buf with zeroes); writes to read-only fields are ignored.
 */
VBACK_API int vback_dev_config_read(struct vback_dev *dev, uint32_t off, void *buf,
			  uint32_t len);
VBACK_API int vback_dev_config_write(struct vback_dev *dev, uint32_t off,
			   const void *buf, uint32_t len);

/** The virtio device ID (2 for block). */
VBACK_API uint32_t vback_dev_device_id(const struct vback_dev *dev);
VBACK_API unsigned int vback_dev_num_queues(const struct vback_dev *dev);
/** Largest ring size the device supports for queue @q (0: no such queue). */
VBACK_API uint16_t vback_dev_queue_max_size(const struct vback_dev *dev, unsigned int q);

/** Ring areas of a queue, as guest (bus) addresses. */
struct vback_vq_addr {
	uint64_t desc;
	uint64_t avail; /* the driver area */
	uint64_t used;	/* the device area */
};

/* Direct queue configuration (vhost-user; virtio-mmio goes through these). */
/** Ring size: power of two (split ring), 1..max. -EINVAL otherwise,
 *  -EBUSY while enabled. Defaults to the maximum after a reset. */
VBACK_API int vback_dev_queue_set_size(struct vback_dev *dev, unsigned int q,
			     uint16_t size);
VBACK_API uint16_t vback_dev_queue_size(const struct vback_dev *dev, unsigned int q);
VBACK_API int vback_dev_queue_set_addr(struct vback_dev *dev, unsigned int q,
			     const struct vback_vq_addr *addr);
VBACK_API int vback_dev_queue_get_addr(const struct vback_dev *dev, unsigned int q,
			     struct vback_vq_addr *addr);
/**
 * Enable a configured queue: checks the ring areas against guest memory
 * (alignment, overflow, mapped for the right access), maps them and
 * preallocates one request context per slot. The ring features (EVENT_IDX,
 * INDIRECT_DESC) are those of vback_dev_driver_features() now.
 * -EINVAL/-EFAULT/-ENOMEM on failure (the queue stays disabled), -EBUSY if
 * already enabled, -ENODEV without a transport.
 */
VBACK_API int vback_dev_queue_enable(struct vback_dev *dev, unsigned int q);
VBACK_API bool vback_dev_queue_enabled(const struct vback_dev *dev, unsigned int q);
/**
 * Disable and reset one queue (virtio 1.2 QueueReset). In-flight requests
 * complete without touching the ring.
 */
VBACK_API void vback_dev_queue_reset(struct vback_dev *dev, unsigned int q);
/**
 * Stop popping new requests from @q but let in-flight ones complete and
 * publish normally. Returns the number still in flight; when it is > 0 the
 * transport's queue_idle() is called once they are done.
 */
VBACK_API unsigned int vback_dev_queue_stop(struct vback_dev *dev, unsigned int q);
/** Next avail index the device will read (vhost-user GET/SET_VRING_BASE). */
VBACK_API uint16_t vback_dev_queue_last_avail(const struct vback_dev *dev, unsigned int q);
/**
 * Set where a disabled queue resumes (-EBUSY while enabled). The used
 * index is set to the same value: nothing is in flight across a ring
 * hand-over. A reset queue starts at 0.
 */
VBACK_API int vback_dev_queue_set_last_avail(struct vback_dev *dev, unsigned int q,
				   uint16_t idx);
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

/** Tear down a device of any type (also vback_blk_destroy()). */
VBACK_API void vback_dev_destroy(struct vback_dev *dev);

/* ------------------------------------------------------------------ */
/* virtio-mmio register file (virtio 1.2 section 4.2)                  */
/* ------------------------------------------------------------------ */

struct vback_mmio;

/** Size of a virtio-mmio window: registers at 0..0xff, config from 0x100. */
#define VBACK_MMIO_WINDOW_SIZE 0x200u

struct vback_mmio_ops {
	/**
	 * Interrupt line of this device: @level true when InterruptStatus
	 * became non-zero, false when the driver acknowledged everything.
	 * Edge-triggered transports act on true only.
	 */
	void (*set_irq)(void *opaque, bool level);
};

struct vback_mmio_options {
	struct vback_dev *dev;	     /* the device served (not owned) */
	unsigned int version;	     /* 2 (modern, default when 0) or 1 (legacy) */
	uint32_t vendor_id;	     /* 0: "VBCK" */
	const struct vback_mmio_ops *ops;
	void *opaque;
	struct vback_gm gm;	     /* guest memory for the device */
	uint64_t transport_features; /* see struct vback_dev_transport */
	const struct vback_log *log;
};

/**
 * Create a register file for @opts->dev and attach it as the device's
 * transport. 0, -EINVAL (bad options), -EBUSY (device already attached),
 * -ENOMEM.
 */
VBACK_API int vback_mmio_create(const struct vback_mmio_options *opts,
		      struct vback_mmio **out);
/** Detach from the device and free. */
VBACK_API void vback_mmio_destroy(struct vback_mmio *mmio);

/**
 * A guest access at @off in the window, @size bytes (1, 2, 4 or 8).
 * Registers take 32-bit accesses only; config space takes 1/2/4 (and 8
 * where the field is 8 bytes). Bad width, unknown offset, write to a
 * read-only register: reads return 0, writes are ignored, both log once
 * and return -EINVAL (the transport completes the access either way).
 * Writes use the low @size bytes of @val; reads zero-extend into *@val.
 */
VBACK_API int vback_mmio_read(struct vback_mmio *mmio, uint64_t off, unsigned int size,
		    uint64_t *val);
VBACK_API int vback_mmio_write(struct vback_mmio *mmio, uint64_t off, unsigned int size,
		     uint64_t val);

/* ------------------------------------------------------------------ */
/* virtio-blk                                                          */
/* ------------------------------------------------------------------ */

struct vback_blk;

struct vback_blk_options {
	struct vback_io io;	  /* where the bytes live (not owned) */
	unsigned int num_queues;  /* 1 (default when 0) .. 64; >1 offers MQ */
	uint16_t queue_size;	  /* max ring size, power of two; 0 = 256 */
	char serial[20];	  /* GET_ID answer, NUL-padded; "" = none */
	bool read_only;		  /* also forced by the IO backend's caps */
	bool writeback;		  /* initial cache mode (CONFIG_WCE) */
	uint32_t seg_max;	  /* 0: from IO caps, else 126 */
	uint32_t size_max;	  /* 0: no SIZE_MAX feature */
	const struct vback_log *log;
	const char *name;	  /* for log lines, e.g. "dom3/xvda"; copied */
};

/**
 * Create a virtio-blk device on @opts->io. Reads the IO capabilities once
 * to fill the config space and the feature set. 0, -EINVAL, -ENOMEM, or an
 * error from get_caps.
 */
VBACK_API int vback_blk_create(const struct vback_blk_options *opts,
		     struct vback_blk **out);
/** The generic device to hand to a transport. */
VBACK_API struct vback_dev *vback_blk_dev(struct vback_blk *blk);
/**
 * Destroy. Teardown order: detach the transport (vback_mmio_destroy() or
 * vback_dev_detach(): the device resets, in-flight requests are orphaned),
 * close the IO instance (which completes what is in flight; orphaned
 * completions touch no guest memory), then destroy the device. Returns
 * nothing; destroying with requests still in flight is a caller bug that
 * is logged and leaks the device rather than freeing memory IO may use.
 */
VBACK_API void vback_blk_destroy(struct vback_blk *blk);

/**
 * The disk changed size (e.g. after refresh_size()): update capacity and
 * raise the configuration-change notification. 0 or -EINVAL.
 */
VBACK_API int vback_blk_resize(struct vback_blk *blk, uint64_t size_bytes);

/** Counters for benchmarks and monitoring. */
struct vback_blk_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
	uint64_t unsupported, io_errors, bytes_read, bytes_written;
};
VBACK_API void vback_blk_get_stats(const struct vback_blk *blk,
			 struct vback_blk_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_VIRTIO_H */
