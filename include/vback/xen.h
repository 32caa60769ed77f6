/* SPDX-License-Identifier: MIT */
/**
 * @file vback/xen.h
 * @brief vback Xen transport: serves virtio-mmio devices (struct
 * vback_dev) to Xen guests through one IOREQ server per guest domain.
 *
 * The transport is an OS-free IOREQ core on a platform
 * (struct vback_xen_platform): the Linux libraries, the tests' fake Xen,
 * or hypercalls in an RTOS or bare-metal backend domain.
 *
 * Objects, each owned by its creator and destroyed in reverse order:
 *  - struct vback_xen: the context (the platform, the event loop, the
 *    log). Many domains per context.
 *  - struct vback_xen_domain: one guest. Its IOREQ server, the per-vCPU
 *    event channels, the guest-memory views.
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
 * the thread that runs the context's loop (event-channel callbacks of the
 * platform excepted: see vback_xen_event_fn). Nothing here blocks the
 * loop.
 * Errors are 0 or a negative errno; no call aborts on guest input.
 */
#ifndef VBACK_XEN_H
#define VBACK_XEN_H

#include <vback/loop.h>
#include <vback/mmio.h>
#include <vback/dev.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vback_xen;
struct vback_xen_domain;
struct vback_xen_device;
struct vback_xen_backend;

/* ------------------------------------------------------------------ */
/* Platform: what the transport needs from the OS it runs on           */
/* ------------------------------------------------------------------ */

/**
 * An event channel fired: called by the platform for a port bound with
 * vback_xen_platform_ops::evtchn_bind(). It may run in interrupt context
 * (an RTOS upcall): the transport only posts work to its loop there.
 */
typedef void (*vback_xen_event_fn)(void *opaque);

/**
 * The Xen interfaces a backend uses, as callbacks: DM ops, the ioreq page,
 * event channels, interrupts and guest memory. Linux's libxen* are one
 * implementation (vback_xen_linux_platform_create()); the tests' fake Xen
 * is another; a Zephyr or bare-metal backend domain fills it with
 * hypercalls (docs/porting.md maps each op). Every op returns 0 or a
 * negative errno unless it says otherwise, is called on the loop thread,
 * and must not block for long. @opaque is struct vback_xen_platform's.
 */
struct vback_xen_platform_ops {
	/** The number of vCPUs of @domid (XEN_DOMCTL_getdomaininfo). */
	int (*nr_vcpus)(void *opaque, uint16_t domid, unsigned int *n);
	/** XEN_DMOP_create_ioreq_server without buffered ioreqs: *@id. */
	int (*create_ioreq_server)(void *opaque, uint16_t domid, uint16_t *id);
	/** Map the server's synchronous ioreq page (XENMEM_acquire_resource,
	 *  XENMEM_resource_ioreq_server frame 1): one page, read-write. */
	int (*map_ioreq_page)(void *opaque, uint16_t domid, uint16_t id,
			      void **page);
	/** Unmap what map_ioreq_page() mapped. */
	void (*unmap_ioreq_page)(void *opaque, uint16_t domid, uint16_t id,
				 void *page);
	/** XEN_DMOP_set_ioreq_server_state. */
	int (*set_ioreq_server_state)(void *opaque, uint16_t domid, uint16_t id,
				      bool enabled);
	/** XEN_DMOP_destroy_ioreq_server. */
	int (*destroy_ioreq_server)(void *opaque, uint16_t domid, uint16_t id);
	/** XEN_DMOP_map_io_range_to_ioreq_server, MMIO, [start, end]. */
	int (*map_mmio_range)(void *opaque, uint16_t domid, uint16_t id,
			      uint64_t start, uint64_t end);
	/** XEN_DMOP_unmap_io_range_from_ioreq_server, MMIO, [start, end]. */
	int (*unmap_mmio_range)(void *opaque, uint16_t domid, uint16_t id,
				uint64_t start, uint64_t end);
	/** XEN_DMOP_set_irq_level (Arm: an SPI). */
	int (*set_irq_level)(void *opaque, uint16_t domid, uint32_t irq,
			     unsigned int level);
	/** Optional (x86 HVM): XEN_DMOP_set_isa_irq_level. */
	int (*set_isa_irq_level)(void *opaque, uint16_t domid, uint8_t irq,
				 unsigned int level);
	/**
	 * Bind a local port to @domid's @remote port
	 * (EVTCHNOP_bind_interdomain) and call @fn(@fn_opaque) whenever it
	 * fires, from any context, until unbound. The local port in *@local.
	 */
	int (*evtchn_bind)(void *opaque, uint16_t domid, uint32_t remote,
			   vback_xen_event_fn fn, void *fn_opaque,
			   uint32_t *local);
	/** Unbind a port of evtchn_bind(); its function is not called after
	 *  this returns. */
	void (*evtchn_unbind)(void *opaque, uint32_t local);
	/** Signal the remote end of a bound port (EVTCHNOP_send). */
	int (*evtchn_notify)(void *opaque, uint32_t local);
	/**
	 * Map the guest frames @gfns[0..@n) of @domid read-write and
	 * contiguously at *@addr (XENMEM_add_to_physmap_batch with
	 * XENMAPSPACE_gmfn_foreign, or privcmd). Per page, @errs[i] is 0 or
	 * a negative errno (a hole, a ballooned-out page); the call itself
	 * returns 0 when the range is mapped (pages in error read as
	 * nothing and are never used) or -errno (nothing mapped).
	 */
	int (*map_foreign)(void *opaque, uint16_t domid, const uint64_t *gfns,
			   unsigned int n, int *errs, void **addr);
	/** Unmap @n pages mapped at @addr by map_foreign(). */
	void (*unmap_foreign)(void *opaque, void *addr, unsigned int n);
	/**
	 * Map the grant references @refs[0..@n) of @domid contiguously at
	 * *@addr (GNTTABOP_map_grant_ref), writable or read-only. Per page,
	 * @errs[i] is 0 or a negative errno; returns 0 when mapped (pages in
	 * error are not) or -errno (nothing mapped).
	 */
	int (*map_grants)(void *opaque, uint16_t domid, const uint32_t *refs,
			  unsigned int n, bool writable, int *errs,
			  void **addr);
	/** Unmap @n grant pages mapped at @addr by map_grants(). */
	void (*unmap_grants)(void *opaque, void *addr, unsigned int n);
};

/** A xenstore watch fired: @path is the node that changed (valid during
 *  the call). On the loop thread. */
typedef void (*vback_xen_watch_fn)(void *opaque, const char *path);

/**
 * xenstore, the optional configuration provider of a platform: the
 * discovery backend (vback_xen_backend_start()) and the death watch of
 * domains with a died() callback use it. Paths are absolute, or relative
 * to the calling domain's home /local/domain/SELF/ (only "domid", read by
 * vback_xen_self_domid()): pass them to xenstore as they are, it resolves
 * them. @tx is 0 or a transaction of tx_start(). Values are strings.
 */
struct vback_xen_store_ops {
	/** @path's value into @buf (NUL-terminated): its length, -ENOENT,
	 *  -ERANGE (longer than @size - 1), -errno. */
	int (*read)(void *opaque, uint32_t tx, const char *path, char *buf,
		    size_t size);
	/** Write @value at @path (creating it). */
	int (*write)(void *opaque, uint32_t tx, const char *path,
		     const char *value);
	/** The names of @path's children, NUL-separated, into @buf: how
	 *  many, -ENOENT, -ERANGE, -errno. */
	int (*directory)(void *opaque, uint32_t tx, const char *path, char *buf,
			 size_t size);
	/** Optional: start a transaction (*@tx, never 0). */
	int (*tx_start)(void *opaque, uint32_t *tx);
	/** End it: 0, -EAGAIN when it conflicted (retry it), -errno. */
	int (*tx_end)(void *opaque, uint32_t tx, bool abort);
	/**
	 * Watch @path and everything below (and the special "@releaseDomain")
	 * : @fn(@fn_opaque, node) on the loop thread for every change, and
	 * once soon after the watch is set. Never from inside watch().
	 */
	int (*watch)(void *opaque, const char *path, vback_xen_watch_fn fn,
		     void *fn_opaque);
	/** Remove a watch; @fn is not called after this returns. */
	void (*unwatch)(void *opaque, const char *path, vback_xen_watch_fn fn,
			void *fn_opaque);
	/** 1 when domain @domid exists, 0 when it does not any more, -errno
	 *  when this domain may not ask (e.g. -EACCES in a DomU). */
	int (*domain_exists)(void *opaque, uint16_t domid);
};

/** A platform: its ops, its optional xenstore, their context. */
struct vback_xen_platform {
	const struct vback_xen_platform_ops *ops; /**< required */
	const struct vback_xen_store_ops *store;  /**< NULL: no xenstore */
	void *opaque; /**< passed to every op of both */
};

/**
 * The Linux platform: libxendevicemodel, libxenforeignmemory,
 * libxenevtchn, libxengnttab and libxenstore, with the event-channel and
 * xenstore fds watched on @loop. The libraries are not linked: the first
 * call loads them (dlopen), so a process that never serves Xen does not
 * map them and runs where they are not installed; xenstore is opened
 * when first used. On success *@out is owned by the caller; destroy it
 * after the contexts using it. Returns 0, -ENOTSUP in a build without
 * Xen or when the libraries cannot be loaded (logged), or the -errno of
 * the library that failed to open (typically -ENOENT/-EACCES when not
 * running in a Xen domain that may use them).
 */
VBACK_API int vback_xen_linux_platform_create(const struct vback_loop *loop,
					      const struct vback_log *log,
					      struct vback_xen_platform **out);
/** Close a platform of vback_xen_linux_platform_create(). NULL: no-op. */
VBACK_API void vback_xen_linux_platform_destroy(struct vback_xen_platform *p);

/* ------------------------------------------------------------------ */
/* Context                                                             */
/* ------------------------------------------------------------------ */

/** Options of vback_xen_create(); read during the call. */
struct vback_xen_options {
	/** Event loop the context runs on (not owned; must outlive the
	 *  context). Required. */
	const struct vback_loop *loop;
	/** Log sink (not owned; NULL: stderr). */
	const struct vback_log *log;
	/** The platform (borrowed, must outlive the context); NULL: the
	 *  context creates and owns a Linux platform on @loop. */
	const struct vback_xen_platform *platform;
};

/**
 * Create a context on a platform (see struct vback_xen_options). On
 * success *@out is owned by the caller. Returns 0, -EINVAL (no loop, or a
 * platform without ops), -ENOMEM, or an error of
 * vback_xen_linux_platform_create().
 */
VBACK_API int vback_xen_create(const struct vback_xen_options *opts,
			       struct vback_xen **out);
/** Destroy the context. Stop its backends first; domains still served
 *  are destroyed (with a warning). NULL is a no-op. */
VBACK_API void vback_xen_destroy(struct vback_xen *xen);
/**
 * The id of the domain the context runs in, as its xenstore says: the node
 * "domid" of the domain's home (/local/domain/SELF/domid), which the
 * toolstack writes for every domain it builds and xen-init-dom0 for Dom0.
 * A backend in a driver domain passes it as
 * vback_xen_backend_options::backend_domid to find its own backend/ tree.
 * Returns 0, -ENOTSUP (the platform has no xenstore), -ENOENT (no such
 * node), -EINVAL (not a domain id), -errno.
 */
VBACK_API int vback_xen_self_domid(struct vback_xen *xen, uint16_t *domid);

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

/** Default of vback_xen_domain_options::grant_max_pages: 64 MiB. */
#define VBACK_XEN_GRANT_PAGES_DEFAULT 16384u
/** Largest vback_xen_domain_options::grant_max_pages. */
#define VBACK_XEN_GRANT_PAGES_MAX (1u << 20)

/** Options of vback_xen_domain_create(); read during the call. */
struct vback_xen_domain_options {
	uint16_t domid;			  /**< the guest domain to serve */
	enum vback_xen_irq_mode irq_mode; /**< how its interrupts are raised */
	/** Bound of the foreign-mapping cache in MiB of guest memory mapped at
	 *  once (0: 512). Mappings are made in 1 MiB chunks. */
	unsigned int map_cache_mib;
	/** Most guest pages mapped through grants at once for this domain
	 *  (0: VBACK_XEN_GRANT_PAGES_DEFAULT; at most
	 *  VBACK_XEN_GRANT_PAGES_MAX). The backend domain's maptrack table
	 *  is shared by every guest it serves: at the cap, requests wait for
	 *  completions (back-pressure); one that alone needs more than the
	 *  cap is answered with an error. */
	unsigned int grant_max_pages;
	/**
	 * Optional (NULL: not watched): the guest died. Without it a dead
	 * guest stays a zombie while its IOREQ server and mappings are held,
	 * i.e. until the caller destroys the domain.
	 *
	 * When set, the context watches @releaseDomain in the platform's
	 * xenstore (from the first such domain until vback_xen_destroy());
	 * when it fires, every such domain the store says does not exist
	 * any more is reported. No xenstore discovery (struct
	 * vback_xen_backend) is needed. Without a store, or when it cannot
	 * tell (a DomU may not ask: -EACCES), the domain is served anyway
	 * and the context logs one warning: death is then not noticed.
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
	/**
	 * Take over IOREQ server @server, which a process that died (or
	 * handed over: vback_xen_domain_handover()) created for this domain,
	 * instead of creating one: map its ioreq page, enable it, bind the
	 * vCPUs' event channels again (their guest ends were left unbound),
	 * and answer what the vCPUs wait on - requests Xen marked READY and
	 * those the dead process had taken (INPROCESS), which are handled
	 * again. Its windows stay claimed: add the devices with
	 * vback_xen_device_options.adopt. Fails with the error of the first
	 * step that does (-ENOENT when the server is gone; -EINVAL when a
	 * port is still bound, e.g. the old process still runs).
	 */
	bool adopt;
	uint16_t server; /**< with @adopt: the server to take over */
};

/**
 * Start serving guest @opts->domid: create its IOREQ server (no buffered
 * ioreqs), map the ioreq page, enable the server and bind every vCPU's
 * event channel. The server claims no MMIO range until a
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
 * e.g. after the device's IO instance was closed). A foreign-mapping
 * chunk still held then is left mapped (leaked, one error line), never
 * unmapped under IO that may still write into it.
 */
VBACK_API void vback_xen_domain_destroy(struct vback_xen_domain *dom);
/** The domain id @dom serves. */
VBACK_API uint16_t vback_xen_domain_id(const struct vback_xen_domain *dom);
/** The IOREQ server serving @dom (to adopt it later). */
VBACK_API uint16_t vback_xen_domain_server(const struct vback_xen_domain *dom);
/**
 * Leave @dom to the next process instead of tearing it down (a restart:
 * SIGTERM, then a start that adopts): each device is detached without
 * giving up its window and without emptying its in-flight records, every
 * mapping is released, the event channels are unbound and the ioreq page
 * unmapped; the IOREQ server stays enabled with its windows, and the
 * guest's next access waits for the process that adopts it. Quiesce the
 * devices first (vback_dev_quiesce()): what is still in flight would be
 * done twice. Then close the devices' IO and destroy them. NULL: no-op.
 */
VBACK_API void vback_xen_domain_handover(struct vback_xen_domain *dom);

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
	/**
	 * Optional: memory that outlives the process (vback-disk: a file
	 * under /run), vback_xen_device_state_size() bytes for @dev, 64-byte
	 * aligned, valid until the device is removed or handed over. The
	 * transport keeps the device's register state there (after every
	 * register write, before the access is answered) and the queues'
	 * in-flight records (vback_dev_queue_set_inflight()), so that a
	 * process started after this one died can take the device over with
	 * @adopt. Without @adopt it is (re)initialized. Its layout is the
	 * transport's: treat it as opaque bytes.
	 */
	void *state;
	size_t state_len; /**< bytes at @state */
	/**
	 * Take the device over from @state, on a domain created with
	 * vback_xen_domain_options.adopt: the saved state is checked (its
	 * header against these options, the domain, its server and
	 * @identity; then vback_mmio_restore()), the register file restored,
	 * the rings resumed from their in-flight records, and the window,
	 * still claimed, served again. When anything does not fit nothing
	 * is claimed or written: one error line, -ESTALE. @dev must be new.
	 */
	bool adopt;
	/** Optional: who the guest is (discovery: its xenstore vm path),
	 *  kept with @state and checked by @adopt; NULL: "". */
	const char *identity;
};

/**
 * Bytes of vback_xen_device_options::state for a device of @num_queues
 * queues of up to @queue_size entries; 0 when either is out of range.
 */
VBACK_API size_t vback_xen_device_state_size(unsigned int num_queues,
					     uint16_t queue_size);

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
	/** The device is being taken over from a process that died or
	 *  handed over (its image may still be held by the dead one's IO
	 *  for a moment). */
	bool adopt;
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
	 * Or return VBACK_XEN_ADD_PENDING when opening it takes a while (a
	 * network disk connecting on a thread of its own): the loop goes on
	 * serving everything else, and the device waits, in state 1, until
	 * vback_xen_backend_add_done() with the same @cfg. Its strings stay
	 * valid until then, or until remove() calls the add off.
	 */
	int (*add)(void *opaque, const struct vback_xen_device_config *cfg,
		   struct vback_dev **dev);
	/**
	 * A device added with add() is gone (closed by the toolstack, node
	 * removed, or its domain died), or add() succeeded but serving it
	 * failed. The transport has already detached @dev; the callee closes
	 * its IO (in-flight requests drain while the domain still exists)
	 * and destroys it before returning. @dev NULL: an add() that said
	 * VBACK_XEN_ADD_PENDING is called off (the device went, or the
	 * backend stops); the callee abandons it and never reports it done.
	 */
	void (*remove)(void *opaque, const struct vback_xen_device_config *cfg,
		       struct vback_dev *dev);
	/**
	 * Optional: persistent memory for the state of device @cfg (see
	 * vback_xen_device_options::state), @len bytes, called after add().
	 * Store it in *@mem and return 1 when it holds what an earlier
	 * process left there, 0 when it is new (zeroed), or a negative errno
	 * (the device is then served without, or, when it is to be adopted,
	 * not adopted; -ENOENT: there is none, nothing was made).
	 * @cfg->adopt says which. *@mem stays valid until state_release().
	 * On failure the callee logs nothing: it may point *@why at a reason
	 * (e.g. the file and what is wrong with it, valid until the next
	 * call), which the transport's one line for the device quotes.
	 */
	int (*state)(void *opaque, const struct vback_xen_device_config *cfg,
		     size_t len, void **mem, const char **why);
	/** Let go of what state() gave: @forget when the device is gone
	 *  for good (closed, removed, its domain dead), not at a handover. */
	void (*state_release)(void *opaque,
			      const struct vback_xen_device_config *cfg,
			      void *mem, size_t len, bool forget);
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
	/** Passed to every domain: see struct vback_xen_domain_options. */
	unsigned int grant_max_pages;
};

/**
 * Watch both layouts and @releaseDomain in the platform's xenstore and
 * serve every device found, now and later: for each one whose backend
 * and frontend state are 1, call add(), set up the domain (one IOREQ server
 * per domain) and the device, then write backend state 2 (InitWait). On
 * online=0 or state 5 (Closing), node removal or domain death: release,
 * call remove(), write state 6 (Closed) where the node still exists.
 *
 * With the state() op, every device gets persistent state, and a device
 * found with backend state 2 (InitWait) or 4 (Connected) - one a process
 * that died or handed over was serving - is adopted when state() says it
 * holds saved state: add(), then its domain's IOREQ server (named in the
 * state) is taken over and the device restored (see
 * vback_xen_device_options::adopt). A device without saved state, or
 * whose state does not fit, is left alone with one line (as without
 * state()).
 * Returns 0, -ENOTSUP (the platform has no xenstore), -ENOMEM, -errno.
 */
VBACK_API int
vback_xen_backend_start(struct vback_xen *xen,
			const struct vback_xen_backend_options *opts,
			struct vback_xen_backend **out);
/** What vback_xen_backend_ops::add() returns for "wait for me". */
#define VBACK_XEN_ADD_PENDING 1

/**
 * A pending add() (VBACK_XEN_ADD_PENDING) is finished: @result 0 with the
 * device to serve in @dev (the caller keeps ownership, as with add()), or
 * a negative errno (and @dev NULL) to refuse it. The transport goes on as
 * if add() had returned that: sets the device up and writes InitWait, or
 * takes it over when @cfg->adopt. On the loop's thread; @cfg is the
 * pointer add() was given. Never after remove() called the add off.
 */
VBACK_API void
vback_xen_backend_add_done(struct vback_xen_backend *be,
			   const struct vback_xen_device_config *cfg,
			   int result, struct vback_dev *dev);

/** Release every device it serves (calling remove() for each), stop
 *  watching and free @be. NULL: no-op. */
VBACK_API void vback_xen_backend_stop(struct vback_xen_backend *be);
/**
 * Like vback_xen_backend_stop(), but hand every device over to the next
 * process (vback_xen_domain_handover()) instead of releasing it: windows,
 * IOREQ servers and backend states stay, state_release() is called
 * without @forget. Quiesce the devices first. NULL: no-op.
 */
VBACK_API void vback_xen_backend_handover(struct vback_xen_backend *be);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_XEN_H */
