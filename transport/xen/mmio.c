/* SPDX-License-Identifier: MIT */
/* A device window served by the virtio layer's virtio-mmio register file. */
#include "xen_priv.h"

/* virtio 1.2 4.2.2: QueueNotify, the one register a kick writes. */
#define QUEUE_NOTIFY 0x050u

struct mmio_target {
	struct vback_mmio *mmio;
	struct vback_dev *dev;
	struct vback_xen_device *xdev;
	struct xen_state state; /* .mem NULL: not persisted */
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
	int ret = vback_mmio_write(t->mmio, off, size, val);

	/* Before the access is answered: a process killed after this and
	 * before the answer leaves the access pending, and the next one
	 * handles it again. A kick changes no register. */
	if (t->state.mem && off != QUEUE_NOTIFY)
		xen_state_save(&t->state, t->mmio);
	return ret;
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

/* Handed over: the records stay as they are for the next process. */
static void target_handover(void *opaque)
{
	struct mmio_target *t = opaque;

	for (unsigned int q = 0; q < vback_dev_num_queues(t->dev); q++)
		vback_dev_queue_set_inflight(t->dev, q, NULL, 0);
	target_destroy(t);
}

static const struct xen_target_ops mmio_target_ops = {
	.read = target_read,
	.write = target_write,
	.destroy = target_destroy,
	.handover = target_handover,
};

static const struct vback_mmio_ops mmio_irq_ops = {
	.set_irq = xen_device_set_irq,
	.reset = target_reset,
};

static void state_ids(const struct vback_xen_device *xdev,
		      const struct vback_xen_device_options *opts,
		      struct xen_state_ids *ids)
{
	ids->domid = xdev->dom->domid;
	ids->server = xdev->dom->id;
	ids->irq = xdev->irq;
	ids->base = xdev->base;
	ids->grants = xdev->grants;
	ids->identity = opts->identity ? opts->identity : "";
}

int vback_xen_device_add(struct vback_xen_domain *dom,
			 const struct vback_xen_device_options *opts,
			 struct vback_xen_device **out)
{
	struct vback_mmio_options mo = { 0 };
	struct xen_state_ids ids;
	struct vback_xen_device *xdev;
	struct mmio_target *t;
	const char *why = NULL;
	int ret;

	if (!opts || !opts->dev || (opts->adopt && !opts->state))
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
	t->dev = opts->dev;
	mo.dev = opts->dev;
	mo.ops = &mmio_irq_ops;
	mo.opaque = xdev;
	mo.gm = xen_device_gm(xdev);
	mo.loop = dom->xen->loop;
	/* A guest with grant DMA refuses a device without it. */
	mo.transport_features =
		opts->grants ? 1ull << XEN_VIRTIO_F_ACCESS_PLATFORM : 0;
	mo.log = dom->xen->log;
	if (opts->state) {
		ret = xen_state_open(&t->state, opts->state, opts->state_len,
				     opts->dev);
		if (ret < 0)
			goto fail;
		state_ids(xdev, opts, &ids);
		if (opts->adopt) {
			why = xen_state_check(&t->state, &ids,
					      &t->state.scratch);
			if (why) {
				ret = -ESTALE;
				goto refused;
			}
		} else {
			xen_state_init(&t->state, &ids);
		}
		mo.inflight = xen_state_records(&t->state, &mo.inflight_stride);
	}
	ret = vback_mmio_create(&mo, &t->mmio);
	if (ret < 0)
		goto fail;
	if (opts->adopt) {
		/* The check copied the snapshot into the scratch. */
		ret = vback_mmio_restore(t->mmio, &t->state.scratch, &why);
		if (ret < 0) {
			vback_mmio_destroy(t->mmio);
			ret = -ESTALE;
			goto refused;
		}
		xdev->adopted = true;
	}
	ret = xen_device_activate(xdev, &mmio_target_ops, t);
	if (ret < 0) {
		/* Forget the records: what they hold is still owed. */
		for (unsigned int q = 0; q < vback_dev_num_queues(t->dev); q++)
			vback_dev_queue_set_inflight(t->dev, q, NULL, 0);
		vback_mmio_destroy(t->mmio);
		goto fail;
	}
	if (opts->adopt)
		vback_logf(dom->xen->log, VBACK_LOG_INFO,
			   "xen: %s: taken over (IOREQ server %u)", xdev->name,
			   dom->id);
	*out = xdev;
	return 0;
refused:
	vback_logf(dom->xen->log, VBACK_LOG_ERR,
		   "xen: %s: saved state not adopted: %s; restart its guest "
		   "to serve it",
		   xdev->name, why);
fail:
	vb_free(t);
	xen_device_free(xdev);
	return ret;
}
