/* SPDX-License-Identifier: MIT */
/*
 * Serving ioreq slots. Xen fills a vCPU's slot, sets it READY and signals
 * the vCPU's event channel; we take the slot (INPROCESS), handle it, post
 * the result and set IORESP_READY, then notify. Every request is completed,
 * whatever its type, or the vCPU waits forever.
 *
 * The event-channel callback may run in interrupt context (an RTOS upcall):
 * it only posts the domain's work item. The work scans the page on the loop
 * thread: a port's event says "look", the slot's state says what to do, so
 * merged or spurious events lose nothing.
 */
#include <string.h>

#include "xen_priv.h"

static uint64_t size_mask(uint32_t size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static struct vback_xen_device *find_device(struct vback_xen_domain *dom,
					    uint64_t addr, uint32_t size)
{
	struct vback_xen_device *d;

	for (d = dom->devices; d; d = d->next) {
		/* The whole access must sit in the window (no wrap). */
		if (addr >= d->base && addr - d->base < d->size &&
		    size <= d->size - (addr - d->base))
			return d;
	}
	return NULL;
}

static void handle_mmio(struct vback_xen_domain *dom, struct xen_ioreq *req)
{
	struct vback_xen_device *d;
	uint64_t val = 0;

	/* x86 string ops: data is a guest pointer or count > 1. A virtio-mmio
	 * register is never accessed that way; refuse rather than guess. */
	if (req->data_is_ptr || req->count != 1) {
		dom->rejected++;
		if (!dom->warned_rep)
			vback_logf(
				dom->xen->log, VBACK_LOG_WARN,
				"xen: dom%u: rep/pointer MMIO at %#llx refused",
				dom->domid, (unsigned long long)req->addr);
		dom->warned_rep = true;
		if (req->dir == XEN_IOREQ_READ && !req->data_is_ptr)
			req->data = size_mask(req->size);
		return;
	}
	if (req->size != 1 && req->size != 2 && req->size != 4 &&
	    req->size != 8)
		goto bad;
	d = find_device(dom, req->addr, req->size);
	if (!d)
		goto bad;
	if (req->dir == XEN_IOREQ_READ) {
		d->tops->read(d->topaque, req->addr - d->base, req->size, &val);
		/* Reads are zero-extended to the access size. */
		req->data = val & size_mask(req->size);
	} else {
		/* Xen passes the full register: only the low bytes count. */
		d->tops->write(d->topaque, req->addr - d->base, req->size,
			       req->data & size_mask(req->size));
	}
	return;
bad:
	dom->rejected++;
	if (!dom->warned_addr)
		vback_logf(dom->xen->log, VBACK_LOG_WARN,
			   "xen: dom%u: MMIO %u bytes at %#llx hits no device",
			   dom->domid, (unsigned int)req->size,
			   (unsigned long long)req->addr);
	dom->warned_addr = true;
	if (req->dir == XEN_IOREQ_READ)
		req->data = 0;
}

static void handle_one(struct vback_xen_domain *dom, unsigned int vcpu)
{
	volatile struct xen_ioreq *slot = &dom->iopage->vcpu_ioreq[vcpu];
	const struct vback_xen_platform *pf = dom->xen->pf;
	struct xen_ioreq req;
	uint8_t state = slot->state;

	/* Taken over: a slot the dead process had taken is ours to answer
	 * (the access is handled again; register writes are idempotent). */
	if (state != XEN_STATE_IOREQ_READY &&
	    !(dom->adopting && state == XEN_STATE_IOREQ_INPROCESS))
		return;
	/* Pairs with Xen's write barrier before it sets READY. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	/* Copy, then use only the copy. */
	memset(&req, 0, sizeof(req));
	req.addr = slot->addr;
	req.data = slot->data;
	req.count = slot->count;
	req.size = slot->size;
	req.data_is_ptr = slot->data_is_ptr;
	req.dir = slot->dir;
	req.type = slot->type;
	slot->state = XEN_STATE_IOREQ_INPROCESS;
	dom->ioreqs++;

	switch (req.type) {
	case XEN_IOREQ_TYPE_COPY:
		handle_mmio(dom, &req);
		break;
	case XEN_IOREQ_TYPE_INVALIDATE:
		/* The guest memory map changed: forget cached mappings. */
		dom->invalidates++;
		xen_mapcache_invalidate(dom);
		break;
	default:
		if (!dom->warned_type)
			vback_logf(
				dom->xen->log, VBACK_LOG_DEBUG,
				"xen: dom%u: ioreq type %u completed unhandled",
				dom->domid, req.type);
		dom->warned_type = true;
		if (req.dir == XEN_IOREQ_READ && !req.data_is_ptr)
			req.data = size_mask(req.size);
		break;
	}

	if (req.dir == XEN_IOREQ_READ)
		slot->data = req.data;
	/* The result must be visible before Xen sees IORESP_READY. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	slot->state = XEN_STATE_IORESP_READY;
	pf->ops->evtchn_notify(pf->opaque, dom->vcpus[vcpu].local);
}

void xen_ioreq_scan(struct vback_xen_domain *dom)
{
	unsigned int i;

	if (!dom->iopage)
		return;
	for (i = 0; i < dom->nr_vcpus; i++)
		if (dom->vcpus[i].bound)
			handle_one(dom, i);
}

void xen_ioreq_work(void *opaque)
{
	struct vback_xen_domain *dom = opaque;

	xen_ioreq_scan(dom);
	/* Its windows are all back (added before the loop ran this). */
	dom->adopting = false;
}

void xen_ioreq_event(void *opaque)
{
	struct vback_xen_domain *dom = opaque;

	/* Any context: lock-free, no allocation (vback/loop.h). */
	vback_loop_post(dom->xen->loop, &dom->work);
}
