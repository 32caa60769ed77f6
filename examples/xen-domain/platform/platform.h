/* SPDX-License-Identifier: MIT */
/*
 * struct vback_xen_platform (include/vback/xen.h) for the xd runtime: a
 * backend domain without an OS reaches Xen with hypercalls.
 *
 *   DM ops          HYPERVISOR_dm_op: nr_vcpus, create/destroy an IOREQ
 *                   server, its state, MMIO ranges, set_irq_level
 *   ioreq page      XENMEM_acquire_resource (ioreq server, frame 1) into a
 *                   page of the window below; XENMEM_remove_from_physmap
 *   guest memory    XENMEM_add_to_physmap_batch, XENMAPSPACE_gmfn_foreign,
 *                   or GNTTABOP_map_grant_ref, into pages of the window
 *   event channels  EVTCHNOP_bind_interdomain, _send, _close; the bound
 *                   callback runs from the event-channel interrupt
 *   xenstore        the ring client of runtime/xs.c; watch events are
 *                   delivered from work posted on the loop
 *
 * The window is free guest-physical space of this domain (an "extended
 * region" the toolstack lists in the device tree): Xen maps the other
 * domain's pages there, in our second stage, and the runtime's identity
 * map makes them addressable as Normal write-back memory.
 */
#ifndef XD_PLATFORM_H
#define XD_PLATFORM_H

#include <vback/xen.h>

#include "xs.h"

struct xd_platform_options {
	uint64_t window_base;	       /* page-aligned guest-physical address */
	uint64_t window_pages;	       /* how many pages from there are free */
	struct xd_xs *xs;	       /* NULL: no xenstore */
	uint32_t xs_port;	       /* its event channel */
	const struct vback_loop *loop; /* where watch events are delivered */
	const struct vback_log *log;
};

/* 0 and *@out, -EINVAL, -ENOMEM, -ENOSPC (an event-channel port past the
 * handler table). */
int xd_platform_create(const struct xd_platform_options *o,
		       struct vback_xen_platform **out);
/* After every context using it is destroyed. NULL: no-op. */
void xd_platform_destroy(struct vback_xen_platform *pf);

/* Figures for the report. */
struct xd_platform_stats {
	uint64_t window_pages, window_peak; /* pages in use at most */
	uint64_t foreign_maps, grant_maps, events;
};
void xd_platform_stats(const struct vback_xen_platform *pf,
		       struct xd_platform_stats *st);

#endif /* XD_PLATFORM_H */
