/* SPDX-License-Identifier: MIT */
/* A device window served by the virtio layer's virtio-mmio register file. */
#include "xen_priv.h"

struct mmio_target {
	struct vback_mmio *mmio;
	struct vback_xen_device *xdev;
};

static int target_read(void *opaque, uint64_t off, unsigned int size,
		       uint64_t *val)
{
	struct mmio_target *t = opaque;

	return vback_mmio_read(t->mmio, off, size, val);
}

static int target_write(void *opaque, uint64_t off, unsigned int size,
			uint64_t val)
{
	struct mmio_target *t = opaque;

	return vback_mmio_write(t->mmio, off, size, val);
}

/* The device was reset: its rings are unmapped, cached chunks may go. */
static void target_reset(void *opaque)
{
	struct vback_xen_device *xdev = opaque;

	xen_mapcache_invalidate(xdev->dom);
}

static void target_destroy(void *opaque)
{
	struct mmio_target *t = opaque;

	vback_mmio_destroy(t->mmio);
	vb_free(t);
}

static const struct xen_target_ops mmio_target_ops = {
	.read = target_read,
	.write = target_write,
	.destroy = target_destroy,
};

static const struct vback_mmio_ops mmio_irq_ops = {
	.set_irq = xen_device_set_irq,
	.reset = target_reset,
};

int vback_xen_device_add(struct vback_xen_domain *dom,
			 const struct vback_xen_device_options *opts,
			 struct vback_xen_device **out)
{
	struct vback_mmio_options mo = { 0 };
	struct vback_xen_device *xdev;
	struct mmio_target *t;
	int ret;

	if (!opts || !opts->dev)
		return -EINVAL;
	ret = xen_device_alloc(dom, opts, &xdev);
	if (ret < 0)
		return ret;
	t = vb_calloc(1, sizeof(*t));
	if (!t) {
		xen_device_free(xdev);
		return -ENOMEM;
	}
	t->xdev = xdev;
	mo.dev = opts->dev;
	mo.ops = &mmio_irq_ops;
	mo.opaque = xdev;
	mo.gm = xen_device_gm(xdev);
	mo.loop = dom->xen->loop;
	/* A guest with grant DMA refuses a device without it. */
	mo.transport_features =
		opts->grants ? 1ull << XEN_VIRTIO_F_ACCESS_PLATFORM : 0;
	mo.log = dom->xen->log;
	ret = vback_mmio_create(&mo, &t->mmio);
	if (ret < 0)
		goto fail;
	ret = xen_device_activate(xdev, &mmio_target_ops, t);
	if (ret < 0) {
		vback_mmio_destroy(t->mmio);
		goto fail;
	}
	*out = xdev;
	return 0;
fail:
	vb_free(t);
	xen_device_free(xdev);
	return ret;
}
