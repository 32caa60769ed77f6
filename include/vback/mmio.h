/* SPDX-License-Identifier: MIT */
/**
 * @file vback/mmio.h
 * @brief The virtio-mmio register file (virtio 1.2 section 4.2), versions 2
 * and 1 (legacy), on top of the device core: for any trap-and-emulate
 * transport (Xen IOREQ, a hypervisor's MMIO exit, a bare-metal test). The
 * transport forwards the guest's register accesses and provides an
 * interrupt line; the register file drives the device through
 * vback/dev.h.
 */
#ifndef VBACK_MMIO_H
#define VBACK_MMIO_H

#include <vback/dev.h>

#ifdef __cplusplus
extern "C" {
#endif

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
	/**
	 * Optional: the device was reset (a Status write of 0, a detach, or
	 * the device's own reset): the rings are unmapped, so long-lived
	 * guest mappings no request uses may be dropped.
	 */
	void (*reset)(void *opaque);
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
	/** The interrupt line and reset hook; set_irq required (borrowed). */
	const struct vback_mmio_ops *ops;
	void *opaque;	    /**< passed to set_irq() */
	struct vback_gm gm; /**< guest memory for the device; map required */
	/** The loop the device runs on (borrowed, required: see
	 *  struct vback_dev_transport). */
	const struct vback_loop *loop;
	/** Transport feature bits offered on top of the device's (see
	 *  struct vback_dev_transport); version 2 adds VIRTIO_F_RING_RESET. */
	uint64_t transport_features;
	/** Where bad guest accesses are logged (borrowed: must outlive the
	 *  register file); NULL: the device's log. */
	const struct vback_log *log;
	/**
	 * Optional in-flight records (see vback_dev_queue_set_inflight()),
	 * one per queue: queue q's is the @inflight_stride bytes at
	 * @inflight + q * @inflight_stride, 8-byte aligned, in memory that
	 * outlives the process (borrowed: valid until the register file is
	 * destroyed). Given to the device each time a queue is enabled
	 * (QueueReady, a legacy QueuePFN, vback_mmio_restore()). NULL: none.
	 */
	void *inflight;
	size_t inflight_stride; /**< bytes per queue of @inflight */
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
/* Taking over a running guest's device                                */
/* ------------------------------------------------------------------ */

/** Queues a struct vback_mmio_state has room for (every device's). */
#define VBACK_MMIO_STATE_QUEUES 64
/** Bytes of config space a struct vback_mmio_state keeps. */
#define VBACK_MMIO_STATE_CONFIG 256
/** struct vback_mmio_state::version of this library. */
#define VBACK_MMIO_STATE_VERSION 1

/** One queue of struct vback_mmio_state. */
struct vback_mmio_queue_state {
	uint32_t num;	/**< QueueNum (0: none set) */
	uint32_t ready; /**< QueueReady */
	uint64_t desc;	/**< QueueDesc */
	uint64_t avail; /**< QueueDriver */
	uint64_t used;	/**< QueueDevice */
};

/**
 * What a guest's driver set in a modern (version 2) register file: what a
 * backend restarted under a running guest needs to take its device over
 * (vback_mmio_save(), vback_mmio_restore()). Plain data in the host's
 * byte order, meant for memory that outlives the process (Xen: a file
 * under /run). Where each ring resumes is not in it: that comes from the
 * ring itself and the queue's in-flight record.
 */
struct vback_mmio_state {
	uint32_t version;	   /**< VBACK_MMIO_STATE_VERSION */
	uint32_t size;		   /**< sizeof(struct vback_mmio_state) */
	uint32_t device_id;	   /**< the device's (2: block) */
	uint32_t num_queues;	   /**< the device's */
	uint32_t status;	   /**< device status */
	uint32_t int_status;	   /**< InterruptStatus */
	uint32_t dev_features_sel; /**< DeviceFeaturesSel */
	uint32_t drv_features_sel; /**< DriverFeaturesSel */
	uint32_t queue_sel;	   /**< QueueSel */
	uint32_t shm_sel;	   /**< SHMSel */
	uint64_t drv_features;	   /**< DriverFeatures as written */
	uint32_t config_size;	   /**< bytes of @config used */
	uint32_t reserved;	   /**< 0 */
	/** Config space as the driver reads it (what it may write there,
	 *  e.g. virtio-blk's writeback, is restored; the rest is not). */
	uint8_t config[VBACK_MMIO_STATE_CONFIG];
	/** Queues 0 .. @num_queues - 1. */
	struct vback_mmio_queue_state queue[VBACK_MMIO_STATE_QUEUES];
};

/**
 * Store the driver-visible state of @mmio in *@st. A legacy (version 1)
 * register file stores nothing and returns -ENOTSUP; else 0.
 */
VBACK_API int vback_mmio_save(const struct vback_mmio *mmio,
			      struct vback_mmio_state *st);

/**
 * Take over a device from *@st (saved by another process) on a register
 * file whose device was just created: the copy is checked (version, size,
 * device id, queue count, status bits and transitions, features against
 * what is offered, queue sizes, rings in guest memory), then applied as
 * the driver had: features, status, config, each queue's size and rings;
 * ready queues are enabled with their in-flight records (adopted: they
 * resume after the requests the records hold and submit those again;
 * without one a ring resumes at its used index), and with DRIVER_OK the
 * queues run. InterruptStatus gets the used-buffer bit and the interrupt
 * is raised once (a notification may have been lost with the process).
 * Returns 0, or -EINVAL with a static reason in *@why (may be NULL) when
 * anything does not fit: the device is then reset, nothing adopted.
 * -ENOTSUP on a legacy register file.
 */
VBACK_API int vback_mmio_restore(struct vback_mmio *mmio,
				 const struct vback_mmio_state *st,
				 const char **why);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_MMIO_H */
