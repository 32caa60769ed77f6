/* SPDX-License-Identifier: MIT */
/*
 * Internals of the Xen transport's IOREQ core, shared by its files and
 * white-box tests. OS-free: the core reaches Xen only through the platform
 * (struct vback_xen_platform), so it builds freestanding.
 */
#ifndef VBACK_XEN_PRIV_H
#define VBACK_XEN_PRIV_H

#include <vback/mmio.h>
#include <vback/xen.h>

#include "vb_format.h"
#include "vb_os.h"
#include "vb_string.h"
#include "xen_abi.h"

/* Foreign mappings are made in 1 MiB chunks (256 pages). */
#define XEN_CHUNK_SHIFT 20
#define XEN_CHUNK_PAGES (1u << (XEN_CHUNK_SHIFT - XEN_PAGE_SHIFT))
/* Grant DMA addresses: bit 63 set, (gref << 12) | offset. */
#define XEN_GRANT_ADDR_BIT (1ull << 63)
/* Most grant pages mapped by one gm map() call; callers loop. */
#define XEN_GRANT_MAX_PAGES	  32u
#define XEN_MAX_RANGES_PER_SERVER 256u
/* VIRTIO_F_ACCESS_PLATFORM, virtio 1.2 section 6 */
#define XEN_VIRTIO_F_ACCESS_PLATFORM 33
/* Domain ids from here on are not domains (DOMID_FIRST_RESERVED). */
#define XEN_DOMID_FIRST_RESERVED 0x7ff0u
/* The map-cache default and bound, in 1 MiB chunks. */
#define XEN_MAPCACHE_DEFAULT_MIB 512u
#define XEN_MAPCACHE_MAX_MIB	 (1u << 20)

struct vback_xen {
	const struct vback_xen_platform *pf;
	struct vback_xen_platform *own_pf; /* created by vback_xen_create() */
	const struct vback_loop *loop;
	const struct vback_log *log;
	struct vback_xen_domain *domains;
	/* @releaseDomain watch for domains with a died() callback: set with
	 * the first one, removed by vback_xen_destroy(). */
	bool death_watched;
	bool death_failed; /* no store, or it cannot tell: logged once */
};

/* One cached foreign mapping of a guest chunk. */
struct xen_chunk {
	uint64_t idx;  /* guest frame number >> 8 */
	uint8_t *host; /* NULL: slot free */
	uint32_t refs; /* map() pieces not yet unmap()ed */
	uint64_t last_use;
	int next; /* hash chain, -1 ends */
	uint64_t valid[XEN_CHUNK_PAGES / 64];
	/* A mapping replaced by a remap (a page came back while this one
	 * was in use): unmapped when its last piece is released. */
	uint8_t *old;
	uint32_t old_refs;
};

struct xen_mapcache {
	struct xen_chunk *chunks;
	unsigned int nr;
	int *buckets;
	unsigned int nbuckets;
	uint64_t tick;
	uint64_t gfns[XEN_CHUNK_PAGES];
	int errs[XEN_CHUNK_PAGES];
	/* figures for tests and benchmarks */
	uint64_t hits, misses, evictions, invalidations, remaps;
};

struct xen_vcpu {
	struct vback_xen_domain *dom;
	uint32_t local;
	bool bound;
};

struct vback_xen_domain {
	struct vback_xen *xen;
	struct vback_xen_domain *next;
	uint16_t domid;
	enum vback_xen_irq_mode irq_mode;
	uint16_t id;
	bool created, enabled;
	/* Taken over from a process that died: its first scan answers the
	 * slots that process had taken (INPROCESS) as well. */
	bool adopting;
	volatile struct xen_iopage *iopage;
	/* Event-channel callbacks (any context) post this; it takes the
	 * ioreqs waiting in the page, on the loop thread. */
	struct vback_work work;
	unsigned int nr_vcpus;
	struct xen_vcpu *vcpus;
	struct vback_xen_device *devices;
	unsigned int nr_ranges;
	void (*died)(void *opaque, struct vback_xen_domain *dom);
	void *died_opaque;
	bool died_reported;
	struct xen_mapcache cache;
	uint32_t grant_refs[XEN_GRANT_MAX_PAGES];
	int grant_errs[XEN_GRANT_MAX_PAGES];
	uint32_t grant_pages; /* mapped through gm_grant now */
	uint32_t grant_cap;   /* most of them at once (busy above) */
	struct vback_gm gm_foreign, gm_grant;
	/* counters */
	uint64_t ioreqs, invalidates, rejected;
	bool warned_rep, warned_type, warned_addr;
	bool noted_plain; /* plain addresses seen on a grant device */
};

/* What a device window forwards guest accesses to. */
struct xen_target_ops {
	int (*read)(void *opaque, uint64_t off, unsigned int size,
		    uint64_t *val);
	int (*write)(void *opaque, uint64_t off, unsigned int size,
		     uint64_t val);
	/* Optional: the window is gone (already unclaimed). */
	void (*destroy)(void *opaque);
	/* Optional: the window is left to the next process (still claimed):
	 * go without emptying what it keeps for it. NULL: destroy(). */
	void (*handover)(void *opaque);
};

struct vback_xen_device {
	struct vback_xen_domain *dom;
	struct vback_xen_device *next;
	uint64_t base, size;
	uint32_t irq;
	bool grants;
	bool mapped;
	char name[40];
	const struct xen_target_ops *tops;
	void *topaque;
	uint64_t irqs_raised;
	bool adopted; /* its window was claimed by a dead process */
};

/* ------------------------------------------------------------------ */
/* Persistent state of a device (state.c)                              */
/* ------------------------------------------------------------------ */

struct xen_state_hdr {
	char magic[8];
	uint32_t version;
	uint32_t size;
	uint32_t num_queues;
	uint32_t queue_size;
	uint32_t rec_stride;
	uint32_t active; /* the complete snapshot: 0 or 1 */
	uint16_t domid;
	uint16_t server;
	uint32_t irq;
	uint64_t base;
	uint8_t grants;
	uint8_t pad[7];
	char identity[64];
};

/* What a state describes, to write or to compare. */
struct xen_state_ids {
	uint16_t domid, server;
	uint32_t irq;
	uint64_t base;
	bool grants;
	const char *identity;
};

struct xen_state {
	uint8_t *mem; /* NULL: none */
	size_t len;
	unsigned int num_queues;
	uint16_t queue_size;
	struct vback_mmio_state scratch;
};

/* Take @mem (@len bytes) for the state of @dev: 0 or -EINVAL. */
int xen_state_open(struct xen_state *s, void *mem, size_t len,
		   const struct vback_dev *dev);
/* A new state (zeroed, header written). */
void xen_state_init(struct xen_state *s, const struct xen_state_ids *ids);
/* The in-flight records and their stride. */
void *xen_state_records(struct xen_state *s, size_t *stride);
/* Snapshot the register file (after a write, before it is answered). */
void xen_state_save(struct xen_state *s, const struct vback_mmio *mmio);
/* The server the header names (not checked). */
uint16_t xen_state_server(const struct xen_state *s);
/* Check a saved state against @ids; NULL and the snapshot in *@snap, or
 * why it is not adoptable. */
const char *xen_state_check(struct xen_state *s,
			    const struct xen_state_ids *ids,
			    struct vback_mmio_state *snap);

/* Device creation in two steps so that the target can use the gm. */
int xen_device_alloc(struct vback_xen_domain *dom,
		     const struct vback_xen_device_options *opts,
		     struct vback_xen_device **out);
int xen_device_activate(struct vback_xen_device *xdev,
			const struct xen_target_ops *tops, void *topaque);
void xen_device_free(struct vback_xen_device *xdev);
/* Leave the window claimed for the next process (see handover). */
void xen_device_handover(struct vback_xen_device *xdev);
/* Test seam: a device window served by @tops instead of vback_mmio. */
int xen_device_add_target(struct vback_xen_domain *dom,
			  const struct vback_xen_device_options *opts,
			  const struct xen_target_ops *tops, void *topaque,
			  struct vback_xen_device **out);
/* The guest-memory view a device uses (foreign or grant). */
struct vback_gm xen_device_gm(const struct vback_xen_device *xdev);
/* Raise the device interrupt (the vback_mmio set_irq callback). */
void xen_device_set_irq(void *opaque, bool level);

/* Guest memory (gm.c) */
int xen_mapcache_init(struct vback_xen_domain *dom, unsigned int mib);
void xen_mapcache_fini(struct vback_xen_domain *dom);
/* Drop every chunk no piece is using (INVALIDATE, device reset). */
void xen_mapcache_invalidate(struct vback_xen_domain *dom);
extern const struct vback_gm_ops xen_gm_foreign_ops;
extern const struct vback_gm_ops xen_gm_grant_ops;

/*
 * Parse a xenstore number (parse.c): decimal, 0x-prefixed hexadecimal or
 * 0-prefixed octal, optional surrounding blanks, no sign, no trailing
 * garbage, no overflow past @max. 0 or -EINVAL/-ERANGE.
 */
int xen_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* The cause and fix of a failed set-up of @dom's IOREQ server, judged by
 * the step it reached (hint.c): " (...)" or "" into @buf. */
void xen_setup_hint(const struct vback_xen_domain *dom, int err, char *buf,
		    size_t size);

/* ioreq serving (ioreq.c) */
void xen_ioreq_scan(struct vback_xen_domain *dom);
/* The domain's work item: scan on the loop thread. */
void xen_ioreq_work(void *opaque);
/* The event-channel callback of every vCPU port (any context). */
void xen_ioreq_event(void *opaque);

#endif /* VBACK_XEN_PRIV_H */
