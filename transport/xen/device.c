/* SPDX-License-Identifier: MIT */
/* Device windows of a domain: range claims, dispatch target, interrupts. */
#include <string.h>

#include "xen_priv.h"

int xen_device_alloc(struct vback_xen_domain *dom,
		     const struct vback_xen_device_options *opts,
		     struct vback_xen_device **out)
{
	struct vback_xen_device *xdev, *d;
	uint64_t size;

	if (!dom || !opts || !out)
		return -EINVAL;
	size = opts->size ? opts->size : VBACK_MMIO_WINDOW_SIZE;
	/* The inclusive end base + size - 1 must not wrap. */
	if (opts->base + (size - 1) < opts->base)
		return -EINVAL;
	if (dom->irq_mode == VBACK_XEN_IRQ_ISA && opts->irq > 15)
		return -EINVAL;
	for (d = dom->devices; d; d = d->next) {
		if (opts->base <= d->base + (d->size - 1) &&
		    d->base <= opts->base + (size - 1))
			return -EEXIST;
	}
	if (dom->nr_ranges >= XEN_MAX_RANGES_PER_SERVER)
		return -ENOSPC;
	xdev = vb_calloc(1, sizeof(*xdev));
	if (!xdev)
		return -ENOMEM;
	xdev->dom = dom;
	xdev->base = opts->base;
	xdev->size = size;
	xdev->irq = opts->irq;
	xdev->grants = opts->grants;
	if (opts->name)
		vb_snprintf(xdev->name, sizeof(xdev->name), "%s", opts->name);
	else
		vb_snprintf(xdev->name, sizeof(xdev->name), "dom%u@%#llx",
			    dom->domid, (unsigned long long)opts->base);
	*out = xdev;
	return 0;
}

void xen_device_free(struct vback_xen_device *xdev)
{
	vb_free(xdev);
}

int xen_device_activate(struct vback_xen_device *xdev,
			const struct xen_target_ops *tops, void *topaque)
{
	struct vback_xen_domain *dom = xdev->dom;
	struct vback_xen *xen = dom->xen;
	int ret;

	xdev->tops = tops;
	xdev->topaque = topaque;
	/* Claimed last: from here on the guest's accesses reach us. A
	 * window taken over is still claimed by its server (Xen refuses a
	 * second claim with -EEXIST): claimed again if it was not. */
	ret = xen->pf->ops->map_mmio_range(xen->pf->opaque, dom->domid, dom->id,
					   xdev->base,
					   xdev->base + (xdev->size - 1));
	if (ret == -EEXIST && xdev->adopted)
		ret = 0;
	if (ret < 0) {
		vback_logf(xen->log, VBACK_LOG_ERR,
			   "xen: %s: cannot claim MMIO %#llx+%#llx: %s",
			   xdev->name, (unsigned long long)xdev->base,
			   (unsigned long long)xdev->size, vback_strerror(ret));
		return ret;
	}
	xdev->mapped = true;
	dom->nr_ranges++;
	xdev->next = dom->devices;
	dom->devices = xdev;
	/* An access may have been waiting for this window. Not while a
	 * domain is taken over: a slot the dead process had taken may be
	 * for a window not added yet; the domain's work scans once all are
	 * (it was posted when the domain was created). */
	if (!dom->adopting)
		xen_ioreq_scan(dom);
	return 0;
}

int xen_device_add_target(struct vback_xen_domain *dom,
			  const struct vback_xen_device_options *opts,
			  const struct xen_target_ops *tops, void *topaque,
			  struct vback_xen_device **out)
{
	struct vback_xen_device *xdev;
	int ret;

	if (!tops)
		return -EINVAL;
	ret = xen_device_alloc(dom, opts, &xdev);
	if (ret < 0)
		return ret;
	ret = xen_device_activate(xdev, tops, topaque);
	if (ret < 0) {
		xen_device_free(xdev);
		return ret;
	}
	*out = xdev;
	return 0;
}

struct vback_gm xen_device_gm(const struct vback_xen_device *xdev)
{
	return xdev->grants ? xdev->dom->gm_grant : xdev->dom->gm_foreign;
}

void xen_device_set_irq(void *opaque, bool level)
{
	struct vback_xen_device *xdev = opaque;
	struct vback_xen_domain *dom = xdev->dom;
	const struct vback_xen_platform *pf = dom->xen->pf;

	/* Both lines are edge-triggered for virtio-mmio: act on rising only. */
	if (!level)
		return;
	xdev->irqs_raised++;
	if (dom->irq_mode == VBACK_XEN_IRQ_SPI) {
		pf->ops->set_irq_level(pf->opaque, dom->domid, xdev->irq, 1);
	} else {
		pf->ops->set_isa_irq_level(pf->opaque, dom->domid,
					   (uint8_t)xdev->irq, 1);
		pf->ops->set_isa_irq_level(pf->opaque, dom->domid,
					   (uint8_t)xdev->irq, 0);
	}
}

/* Unclaim the window; the owner of the target tears it down after. */
static void device_unlink(struct vback_xen_device *xdev)
{
	struct vback_xen_domain *dom = xdev->dom;
	struct vback_xen_device **pp;

	if (xdev->mapped) {
		dom->xen->pf->ops->unmap_mmio_range(dom->xen->pf->opaque,
						    dom->domid, dom->id,
						    xdev->base,
						    xdev->base +
							    (xdev->size - 1));
		dom->nr_ranges--;
		xdev->mapped = false;
	}
	for (pp = &dom->devices; *pp; pp = &(*pp)->next) {
		if (*pp == xdev) {
			*pp = xdev->next;
			break;
		}
	}
}

void xen_device_handover(struct vback_xen_device *xdev)
{
	/* Unlinked with its window still claimed: the server keeps it. */
	xdev->mapped = false;
	xdev->dom->nr_ranges--;
	device_unlink(xdev);
	if (xdev->tops->handover)
		xdev->tops->handover(xdev->topaque);
	else if (xdev->tops->destroy)
		xdev->tops->destroy(xdev->topaque);
	xen_device_free(xdev);
}

void vback_xen_device_remove(struct vback_xen_device *xdev)
{
	if (!xdev)
		return;
	device_unlink(xdev);
	if (xdev->tops->destroy)
		xdev->tops->destroy(xdev->topaque);
	/* The device reset released its rings: drop what no one uses. */
	xen_mapcache_invalidate(xdev->dom);
	xen_device_free(xdev);
}
