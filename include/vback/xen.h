/* SPDX-License-Identifier: MIT */
/**
 * @file vback/xen.h
 * @brief vback Xen transport: serves virtio-mmio devices (struct
 * vback_dev) to Xen guests through one IOREQ server per guest domain.
 *
 * Objects, each owned by its creator and destroyed in reverse order:
 *  - struct vback_xen: the process-wide context (the Xen library handles,
 *    the event loop, the log). Many domains per context.
 *  - struct vback_xen_domain: one guest. Its IOREQ server, the per-vCPU
 *    event channels (watched on the loop), the guest-memory views.
 *  - struct vback_xen_device: one virtio-mmio window of a domain, backed by
 *    a struct vback_dev the caller created and still owns.
 *  - struct vback_xen_backend: optional xenstore discovery. It watches the
 *    backend nodes libxl writes (backend/virtio_disk/ and backend/virtio/),
 *    asks the caller for the struct vback_dev of each device it finds,
 *    creates domains and devices itself and runs the xenbus state protocol.
 *
 * The transport knows nothing of block devices: the caller creates the
 * virtio device (e.g. vback_blk_create()) and hands its struct vback_dev.
 *
 * Threading: all objects of one context, and every callback below, live on
 * the thread that runs the context's loop. Nothing here blocks the loop.
 * Errors are 0 or a negative errno; no call aborts on guest input.
 */
#ifndef VBACK_XEN_H
#define VBACK_XEN_H

#include <vback/loop.h>
#include <vback/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vback_xen;
struct vback_xen_domain;
struct vback_xen_device;
struct vback_xen_backend;

/* ------------------------------------------------------------------ */
/* Context                                                             */
/* ------------------------------------------------------------------ */

/** Options of vback_xen_create(); read during the call. */
struct vback_xen_options {
	/** Event loop the context registers its fds on (not owned; must
	 *  outlive the context). Required. */
	const struct vback_loop *loop;
	/** Log sink (not owned; NULL: stderr). */
	const struct vback_log *log;
};

/**
 * Open the Xen libraries (devicemodel, foreignmemory, gnttab; each domain
 * opens its own event-channel handle, each backend its xenstore one).
 * On success *@out is owned by the caller. Returns 0, -EINVAL (no loop),
 * -ENOMEM, or the -errno of the library that failed to open (typically
 * -ENOENT/-EACCES when not running in a privileged Xen domain).
 */
VBACK_API int vback_xen_create(const struct vback_xen_options *opts,
			       struct vback_xen **out);
/** Destroy the context. Stop its backends first; domains still served
 *  are destroyed (with a warning). NULL is a no-op. */
VBACK_API void vback_xen_destroy(struct vback_xen *xen);

/* ------------------------------------------------------------------ */
/* Domains                                                             */
/* ------------------------------------------------------------------ */

/** How the domain's device interrupts are raised. */
enum vback_xen_irq_mode {
	/** Arm when built for Arm, x86 ISA otherwise. */
	VBACK_XEN_IRQ_AUTO = 0,
	/** Arm: set_irq_level(spi, 1) per notification (edge-rising SPI). */
	VBACK_XEN_IRQ_SPI,
	/** x86 HVM: set_isa_irq_level assert then deassert. */
	VBACK_XEN_IRQ_ISA,
};

/** Options of vback_xen_domain_create(); read during the call. */
struct vback_xen_domain_options {
	uint16_t domid;			  /**< the guest domain to serve */
	enum vback_xen_irq_mode irq_mode; /**< how its interrupts are raised */
	/** Bound of the foreign-mapping cache in MiB of guest memory mapped at
	 *  once (0: 512). Mappings are made in 1 MiB chunks. */
	unsigned int map_cache_mib;
	/**
	 * Optional (NULL: not watched): the guest died. Without it a dead
	 * guest stays a zombie while its IOREQ server and mappings are held,
	 * i.e. until the caller destroys the domain.
	 *
	 * When set, the context watches @releaseDomain in xenstore (opening
	 * its own xenstore handle with the first such domain, kept until
	 * vback_xen_destroy()); when it fires, every such domain that
	 * xenstore no longer knows (xs_is_domain_introduced()) is reported.
	 * No xenstore discovery (struct vback_xen_backend) is needed. If
	 * xenstore cannot be opened, the domain is served anyway and the
	 * context logs one warning: death is then not noticed.
	 *
	 * Called at most once per domain, on the loop thread, from the
	 * context's xenstore watch callback: never from inside a call the
	 * caller made, nor from another callback of the domain. The callee
	 * may, and normally does, release the domain in the documented
	 * order: vback_xen_device_remove() each device, close its IO and
	 * destroy its vback_dev, then vback_xen_domain_destroy() @dom. It may
	 * also destroy or create other domains; it must not destroy the
	 * context. If it keeps @dom, @dom stays valid and is not reported
	 * again. @opaque is the field below.
	 */
	void (*died)(void *opaque, struct vback_xen_domain *dom);
	/** Passed to @died (not used otherwise). */
	void *opaque;
};

/**
 * Start serving guest @opts->domid: create its IOREQ server (no buffered
 * ioreqs), map the ioreq page, enable the server and bind every vCPU's
 * event channel on the loop. The server claims no MMIO range until a
 * device is added. Returns 0, -EEXIST (domain already served by this
 * context), -ESRCH (no such domain), -ENOSPC (the domain's IOREQ server
 * limit is reached), -ENOMEM, -errno.
 */
VBACK_API int
vback_xen_domain_create(struct vback_xen *xen,
			const struct vback_xen_domain_options *opts,
			struct vback_xen_domain **out);
/**
 * Stop serving: remove the remaining devices, release every mapping,
 * unbind the event channels, destroy the IOREQ server, in that order.
 * Safe after the guest died. NULL is a no-op.
 *
 * Requests still in flight in a removed device release their guest-memory
 * pieces through this domain as they complete: destroy the domain only
 * once every device served in it has drained (vback_dev_inflight() == 0,
 * e.g. after the device's IO instance was closed).
 */
VBACK_API void vback_xen_domain_destroy(struct vback_xen_domain *dom);
/** The domain id @dom serves. */
VBACK_API uint16_t vback_xen_domain_id(const struct vback_xen_domain *dom);

/* ------------------------------------------------------------------ */
/* Devices                                                             */
/* ------------------------------------------------------------------ */

/** Options of vback_xen_device_add(); read during the call. */
struct vback_xen_device_options {
	/** The device to serve (not owned; must outlive the xen device). */
	struct vback_dev *dev;
	/** Guest-physical base of the virtio-mmio window; size defaults to
	 *  VBACK_MMIO_WINDOW_SIZE when 0. Must not overlap another device. */
	uint64_t base;
	uint64_t size; /**< window size; 0: VBACK_MMIO_WINDOW_SIZE */
	/** Interrupt line: the SPI number on Arm, the ISA IRQ on x86. */
	uint32_t irq;
	/** The guest uses grant DMA (addresses with bit 63 set): map grants,
	 *  not foreign pages, and offer VIRTIO_F_ACCESS_PLATFORM. */
	bool grants;
	/** For log lines (copied; NULL: "domN@base"). */
	const char *name;
};

/**
 * Add a virtio-mmio device: create its register file on @opts->dev (which
 * is attached to this transport until removal), claim [base, base+size-1]
 * on the domain's IOREQ server, then complete any access already waiting.
 * Returns 0, -EINVAL (bad options or window overflow), -EEXIST (overlap),
 * -ENOSPC (256 ranges per server), -EBUSY (device attached elsewhere),
 * -ENOMEM, -errno.
 */
VBACK_API int vback_xen_device_add(struct vback_xen_domain *dom,
				   const struct vback_xen_device_options *opts,
				   struct vback_xen_device **out);
/**
 * Release the window and detach the device (it resets; the caller then
 * closes its IO and destroys its vback_dev, before destroying the domain:
 * see vback_xen_domain_destroy()). Cached mappings no request uses are
 * dropped. NULL is a no-op.
 */
VBACK_API void vback_xen_device_remove(struct vback_xen_device *xdev);

/* ------------------------------------------------------------------ */
/* xenstore discovery                                                  */
/* ------------------------------------------------------------------ */

/** Which xenstore layout a device was found in. */
enum vback_xen_layout {
	/** Xen 4.17+: backend/virtio_disk/DOMID/DEVID/ (base decimal). */
	VBACK_XEN_LAYOUT_VIRTIO_DISK,
	/** Xen 4.18+: backend/virtio/DOMID/DEVID/ (base hexadecimal). */
	VBACK_XEN_LAYOUT_VIRTIO,
};

/**
 * The generic configuration of one device, as parsed from xenstore. The
 * strings are valid only during the callback that receives them.
 */
struct vback_xen_device_config {
	enum vback_xen_layout layout; /**< where it was found */
	uint16_t domid;		      /**< the guest */
	uint32_t devid;		      /**< device number within the guest */
	/** e.g. /local/domain/0/backend/virtio/3/0 */
	const char *backend_path;
	const char *frontend_path; /**< "" when libxl wrote none */
	/** "virtio,device2", "standalone", ... or "" */
	const char *type;
	const char *params;  /**< disk path (virtio_disk layout), or "" */
	bool read_only;	     /**< mode = "r" */
	bool discard_enable; /**< discard-enable = 1 */
	bool grant_usage;    /**< grant DMA: see device options */
	uint64_t base;	     /**< guest-physical mmio window base */
	uint32_t irq;	     /**< SPI (Arm) or ISA IRQ (x86) */
};

/**
 * What a backend asks of its user. Both are called on the loop thread,
 * from the backend's xenstore watch callback (and remove() also from
 * vback_xen_backend_stop()); @opaque is the backend options'.
 */
struct vback_xen_backend_ops {
	/**
	 * A device appeared. Return 0 and store the device to serve in *@dev
	 * (the caller keeps ownership), or a negative errno to refuse this
	 * one device (it is logged and left alone; other devices go on).
	 */
	int (*add)(void *opaque, const struct vback_xen_device_config *cfg,
		   struct vback_dev **dev);
	/**
	 * A device added with add() is gone (closed by the toolstack, node
	 * removed, or its domain died), or add() succeeded but serving it
	 * failed. The transport has already detached @dev; the callee closes
	 * its IO (in-flight requests drain while the domain still exists)
	 * and destroys it before returning.
	 */
	void (*remove)(void *opaque, const struct vback_xen_device_config *cfg,
		       struct vback_dev *dev);
};

/** Options of vback_xen_backend_start(); read during the call (@ops must
 *  stay valid until the backend is stopped). */
struct vback_xen_backend_options {
	const struct vback_xen_backend_ops *ops; /**< add/remove callbacks */
	void *opaque;				 /**< passed to @ops */
	/** The domain this backend runs in (whose backend/ nodes are read). */
	uint16_t backend_domid;
	/** Passed to every domain created for a discovered device. */
	enum vback_xen_irq_mode irq_mode;
	/** Passed to every domain: see struct vback_xen_domain_options. */
	unsigned int map_cache_mib;
};

/**
 * Connect to xenstore, watch both layouts and @releaseDomain on the loop,
 * and serve every device found, now and later: for each one whose backend
 * and frontend state are 1, call add(), set up the domain (one IOREQ server
 * per domain) and the device, then write backend state 2 (InitWait). On
 * online=0 or state 5 (Closing), node removal or domain death: release,
 * call remove(), write state 6 (Closed) where the node still exists.
 * Returns 0, -ENOMEM, -errno (xenstore unreachable).
 */
VBACK_API int
vback_xen_backend_start(struct vback_xen *xen,
			const struct vback_xen_backend_options *opts,
			struct vback_xen_backend **out);
/** Release every device it serves (calling remove() for each), stop
 *  watching, close its xenstore handle and free @be. NULL: no-op. */
VBACK_API void vback_xen_backend_stop(struct vback_xen_backend *be);

/**
 * Parse a xenstore number: decimal, 0x-prefixed hexadecimal or 0-prefixed
 * octal, optional surrounding blanks, no sign, no trailing garbage, no
 * overflow past @max. 0 or -EINVAL/-ERANGE.
 */
VBACK_API int vback_xen_parse_u64(const char *s, uint64_t max, uint64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_XEN_H */
