/* SPDX-License-Identifier: MIT */
/*
 * Device core: features, status machine, config space, queues, reset
 * (virtio 1.2 sections 2.1 - 2.7 and 3).
 */
#include <stdarg.h>
#include <string.h>

#include "device.h"
#include "ring.h"
#include "vb_os.h"
#include "vb_string.h"

int dev_init(struct vback_dev *dev, const struct vdev_type_ops *type,
	     uint32_t device_id, unsigned int nq, uint16_t max_size,
	     uint32_t config_size, const struct vback_log *log,
	     const char *name)
{
	memset(dev, 0, sizeof(*dev));
	if (!nq || nq > VBACK_DEV_MAX_QUEUES)
		return -EINVAL;
	dev->vqs = vb_calloc(nq, sizeof(*dev->vqs));
	if (!dev->vqs)
		return -ENOMEM;
	dev->type = type;
	dev->log = log;
	dev->device_id = device_id;
	dev->nq = nq;
	dev->iov_cap = 16;
	dev->config_size = config_size;
	if (name)
		vb_strlcpy(dev->name, name, sizeof(dev->name));
	dev->groups = vb_calloc(nq, sizeof(*dev->groups));
	if (!dev->groups) {
		vb_free(dev->vqs);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < nq; i++) {
		vq_init(&dev->vqs[i], dev, i, max_size);
		vback_work_init(&dev->vqs[i].work, dev_queue_work,
				&dev->vqs[i]);
	}
	vback_work_init(&dev->fail_work, dev_fail_work, dev);
	/* One group until a transport says where the queues run. */
	dev_groups_make(dev);
	return 0;
}

void dev_fini(struct vback_dev *dev)
{
	vb_free(dev->groups);
	dev->groups = NULL;
	vb_free(dev->vqs);
	dev->vqs = NULL;
}

/*
 * A line the guest can trigger, rate-limited per device, or per group for
 * a line logged on the thread of a queue apart (@vq, may be NULL).
 */
__attribute__((format(printf, 4, 0))) static void
dev_vglog(struct vback_dev *dev, const struct vq *vq,
	  enum vback_log_level level, const char *fmt, va_list ap)
{
	struct vb_ratelimit *rl = &dev->glog[VB_RL_CLASS(level)];
	uint32_t dropped;
	uint64_t now;

	if (!vback_log_enabled(dev->log, level))
		return;
	if (vq && dev_vq_apart(dev, vq))
		rl = &vq->group->glog[VB_RL_CLASS(level)];
	now = dev->attached ? vback_loop_now(dev->t.loop) : 0;
	if (!vb_ratelimit(rl, now, &dropped))
		return;
	if (dropped)
		dev_log(dev, VBACK_LOG_WARN,
			"%u lines the guest triggered were not logged",
			(unsigned int)dropped);
	vback_vlogf(dev->log, level, fmt, ap);
}

void dev_glog_(struct vback_dev *dev, enum vback_log_level level,
	       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dev_vglog(dev, NULL, level, fmt, ap);
	va_end(ap);
}

void dev_qglog_(struct vback_dev *dev, unsigned int q,
		enum vback_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dev_vglog(dev, q < dev->nq ? &dev->vqs[q] : NULL, level, fmt, ap);
	va_end(ap);
}

/* NEEDS_RESET, and the config change that announces it (2.1.2: after
 * DRIVER_OK). On the device's thread. */
static void needs_reset(struct vback_dev *dev)
{
	uint8_t st = dev_status_load(dev);

	if (st & VBACK_STATUS_NEEDS_RESET)
		return;
	dev_status_store(dev, st | VBACK_STATUS_NEEDS_RESET);
	if ((st & VBACK_STATUS_DRIVER_OK) && dev->attached)
		dev->t.ops->notify_config(dev->t.opaque);
}

void dev_fail_work(void *opaque)
{
	needs_reset(opaque);
}

void dev_fail_(struct vback_dev *dev, struct vq *vq, const char *fmt, ...)
{
	va_list ap;

	if (vq)
		vq->broken = true;
	if (dev_status_load(dev) & VBACK_STATUS_NEEDS_RESET)
		return; /* logged once until the driver resets */
	va_start(ap, fmt);
	dev_vglog(dev, vq, VBACK_LOG_ERR, fmt, ap);
	va_end(ap);
	/* The status and the transport are the device thread's. */
	if (vq && dev_vq_apart(dev, vq)) {
		if (dev->attached)
			vback_loop_post(dev->t.loop, &dev->fail_work);
		return;
	}
	needs_reset(dev);
}

void dev_config_changed(struct vback_dev *dev)
{
	dev->config_gen++;
	if ((dev_status_load(dev) & VBACK_STATUS_DRIVER_OK) && dev->attached)
		dev->t.ops->notify_config(dev->t.opaque);
}

void dev_set_legacy(struct vback_dev *dev, bool legacy)
{
	dev->legacy = legacy;
}

void dev_queue_invalidate_size(struct vback_dev *dev, unsigned int q)
{
	if (q < dev->nq && !dev->vqs[q].enabled)
		dev->vqs[q].size = 0;
}

/* ------------------------------------------------------------------ */
/* Transport binding                                                   */
/* ------------------------------------------------------------------ */

int vback_dev_attach(struct vback_dev *dev, const struct vback_dev_transport *t)
{
	if (!dev || !t || !t->ops || !t->ops->notify_queue ||
	    !t->ops->notify_config || !t->gm.ops || !t->gm.ops->map ||
	    !t->loop || !t->loop->ops)
		return -EINVAL;
	if (dev->attached)
		return -EBUSY;
	dev->t = *t;
	dev->attached = true;
	/* Queues grouped by the loop they run on: the transport's, or
	 * their own (vback_dev_queue_set_loop()). */
	dev_groups_make(dev);
	return 0;
}

void vback_dev_detach(struct vback_dev *dev)
{
	if (!dev || !dev->attached)
		return;
	vback_dev_reset(dev);
	dev_cancel_work(dev);
	dev_groups_clear(dev);
	dev->attached = false;
	memset(&dev->t, 0, sizeof(dev->t));
	dev->legacy = false;
}

int vback_dev_queue_set_loop(struct vback_dev *dev, unsigned int q,
			     const struct vback_loop *loop)
{
	if (!dev || q >= dev->nq || (loop && !loop->ops))
		return -EINVAL;
	if (dev->attached)
		return -EBUSY;
	dev->vqs[q].loop = loop;
	return 0;
}

const struct vback_loop *vback_dev_queue_loop(const struct vback_dev *dev,
					      unsigned int q)
{
	if (!dev || q >= dev->nq)
		return NULL;
	return dev_vq_loop(dev, &dev->vqs[q]);
}

/* ------------------------------------------------------------------ */
/* Features and status                                                 */
/* ------------------------------------------------------------------ */

uint64_t vback_dev_features(const struct vback_dev *dev)
{
	uint64_t f = dev->device_features;

	if (dev->attached)
		f |= dev->t.features;
	if (dev->legacy)
		/* Legacy interface: 32 feature bits, no VERSION_1. */
		return f & 0xffffffffull;
	return f | VB_BIT(VIRTIO_F_VERSION_1);
}

int vback_dev_set_driver_features(struct vback_dev *dev, uint64_t features)
{
	uint64_t offered = vback_dev_features(dev);

	if (dev_status_load(dev) & VBACK_STATUS_FEATURES_OK)
		return -EPERM;
	if (features & ~offered) {
		/* Remembered: FEATURES_OK will not stick (3.1.1 step 5). */
		dev->features_invalid = true;
		dev->driver_features = features & offered;
		return -EINVAL;
	}
	dev->features_invalid = false;
	dev->driver_features = features;
	return 0;
}

uint64_t vback_dev_driver_features(const struct vback_dev *dev)
{
	return dev->driver_features;
}

static bool features_acceptable(struct vback_dev *dev)
{
	uint64_t f = dev->driver_features, offered = vback_dev_features(dev);

	if (dev->features_invalid || (f & ~offered))
		return false;
	if (!(f & VB_BIT(VIRTIO_F_VERSION_1)))
		return false; /* no legacy interface behind FEATURES_OK */
	/* A device behind an IOMMU-like view cannot serve physical
	 * addresses: refuse a driver that ignores ACCESS_PLATFORM. */
	if ((offered & VB_BIT(VIRTIO_F_ACCESS_PLATFORM)) &&
	    !(f & VB_BIT(VIRTIO_F_ACCESS_PLATFORM)))
		return false;
	return !dev->type->features_ok || dev->type->features_ok(dev, f) == 0;
}

uint8_t vback_dev_status(const struct vback_dev *dev)
{
	return dev_status_load(dev);
}

int vback_dev_set_status(struct vback_dev *dev, uint8_t status)
{
	uint8_t keep = dev_status_load(dev) & VBACK_STATUS_NEEDS_RESET;
	uint8_t old = dev_status_load(dev) & ~VBACK_STATUS_NEEDS_RESET;
	uint8_t s = status & ~VBACK_STATUS_NEEDS_RESET;
	uint8_t added;
	int ret = 0;

	if (!status) {
		vback_dev_reset(dev);
		return 0;
	}
	if (old & ~s)
		return -EPROTO; /* only a reset clears status bits */
	added = s & ~old;
	if ((added & VBACK_STATUS_FEATURES_OK) && !dev->legacy &&
	    !features_acceptable(dev)) {
		s &= ~VBACK_STATUS_FEATURES_OK;
		ret = -EINVAL;
	}
	if ((added & VBACK_STATUS_DRIVER_OK) && !dev->legacy &&
	    !(s & VBACK_STATUS_FEATURES_OK)) {
		dev_status_store(dev,
				 (uint8_t)(s & ~VBACK_STATUS_DRIVER_OK) | keep);
		dev_fail(dev, NULL,
			 "DRIVER_OK without FEATURES_OK (status %#x)", status);
		return -EPROTO;
	}
	dev_status_store(dev, s | keep);
	/* What the driver made available before DRIVER_OK is served now
	 * (kicks before it are ignored, 3.1.1). */
	if ((added & VBACK_STATUS_DRIVER_OK) && (s & VBACK_STATUS_DRIVER_OK))
		dev_run_all(dev);
	return ret;
}

void vback_dev_reset(struct vback_dev *dev)
{
	for (unsigned int i = 0; i < dev->nq; i++) {
		struct vq *vq = &dev->vqs[i];

		/* A queue apart is its thread's: its transport resets it
		 * there (vback_dev_queue_reset()) before the device. */
		if (dev->attached && dev_vq_apart(dev, vq)) {
			if (!vq->enabled)
				continue;
			dev_log(dev, VBACK_LOG_ERR,
				"queue %u runs on a loop of its own and was "
				"not reset on it first",
				i);
		}
		dev_vq_reset(dev, vq);
	}
	dev->driver_features = 0;
	dev->features_invalid = false;
	dev_status_store(dev, 0);
	if (dev->type->reset)
		dev->type->reset(dev);
	/* The rings are unmapped: the transport may drop what it cached. */
	if (dev->attached && dev->t.ops->reset)
		dev->t.ops->reset(dev->t.opaque);
}

/* ------------------------------------------------------------------ */
/* Config space                                                        */
/* ------------------------------------------------------------------ */

uint32_t vback_dev_config_size(const struct vback_dev *dev)
{
	return dev->config_size;
}

uint32_t vback_dev_config_generation(const struct vback_dev *dev)
{
	return dev->config_gen;
}

static bool config_range_ok(const struct vback_dev *dev, uint32_t off,
			    uint32_t len)
{
	return off <= dev->config_size && len <= dev->config_size - off;
}

int vback_dev_config_read(struct vback_dev *dev, uint32_t off, void *buf,
			  uint32_t len)
{
	if (!config_range_ok(dev, off, len)) {
		memset(buf, 0, len);
		return -ERANGE;
	}
	if (len)
		dev->type->config_read(dev, off, buf, len);
	return 0;
}

int vback_dev_config_write(struct vback_dev *dev, uint32_t off, const void *buf,
			   uint32_t len)
{
	if (!config_range_ok(dev, off, len))
		return -ERANGE;
	if (len && dev->type->config_write)
		dev->type->config_write(dev, off, buf, len);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Queues                                                              */
/* ------------------------------------------------------------------ */

uint32_t vback_dev_device_id(const struct vback_dev *dev)
{
	return dev->device_id;
}

unsigned int vback_dev_num_queues(const struct vback_dev *dev)
{
	return dev->nq;
}

uint16_t vback_dev_queue_max_size(const struct vback_dev *dev, unsigned int q)
{
	return q < dev->nq ? dev->vqs[q].max_size : 0;
}

int vback_dev_queue_set_size(struct vback_dev *dev, unsigned int q,
			     uint16_t size)
{
	struct vq *vq;

	if (q >= dev->nq)
		return -EINVAL;
	vq = &dev->vqs[q];
	if (vq->enabled)
		return -EBUSY;
	if (!size || size > vq->max_size || (size & (size - 1)))
		return -EINVAL;
	vq->size = size;
	return 0;
}

uint16_t vback_dev_queue_size(const struct vback_dev *dev, unsigned int q)
{
	return q < dev->nq ? dev->vqs[q].size : 0;
}

int vback_dev_queue_set_addr(struct vback_dev *dev, unsigned int q,
			     const struct vback_vq_addr *addr)
{
	if (q >= dev->nq || !addr)
		return -EINVAL;
	if (dev->vqs[q].enabled)
		return -EBUSY;
	dev->vqs[q].addr = *addr;
	return 0;
}

int vback_dev_queue_get_addr(const struct vback_dev *dev, unsigned int q,
			     struct vback_vq_addr *addr)
{
	if (q >= dev->nq || !addr)
		return -EINVAL;
	*addr = dev->vqs[q].addr;
	return 0;
}

int vback_dev_queue_enable(struct vback_dev *dev, unsigned int q)
{
	int r;

	if (q >= dev->nq)
		return -EINVAL;
	if (!dev->attached)
		return -ENODEV;
	r = vq_enable(&dev->vqs[q], &dev->t.gm, dev->driver_features,
		      dev->iov_cap, dev->type->slot_priv_size, dev->max_chain);
	if (r && r != -EBUSY)
		dev_qglog(dev, q, VBACK_LOG_WARN, "queue %u: enable failed: %s",
			  q, vback_strerror(r));
	if (r)
		return r;
	dev_queue_poller_add(dev, &dev->vqs[q]);
	/* Once per enable, which the transport's peer can repeat: glog (on
	 * the queue's thread: its group's rate limit). */
	if (dev->vqs[q].rec.refused)
		dev_qglog(dev, q, VBACK_LOG_WARN,
			  "queue %u: in-flight record not adopted (%s): "
			  "starting afresh at index %u",
			  q, dev->vqs[q].rec.refused, dev->vqs[q].last_avail);
	else if (dev->vqs[q].rec.resumed)
		dev_qglog(dev, q, VBACK_LOG_INFO,
			  "queue %u: %u requests in flight adopted from the "
			  "in-flight record; resuming at index %u",
			  q, dev->vqs[q].rec.resumed, dev->vqs[q].last_avail);
	return 0;
}

size_t vback_dev_inflight_record_size(uint16_t size)
{
	return vq_rec_size(size);
}

int vback_dev_queue_set_inflight(struct vback_dev *dev, unsigned int q,
				 void *rec, size_t len)
{
	if (!dev || q >= dev->nq)
		return -EINVAL;
	if (rec && dev->vqs[q].enabled)
		return -EBUSY;
	return vq_rec_set(&dev->vqs[q], rec, len);
}

unsigned int vback_dev_queue_resumed(const struct vback_dev *dev,
				     unsigned int q)
{
	return q < dev->nq ? dev->vqs[q].rec.resumed : 0;
}

bool vback_dev_queue_enabled(const struct vback_dev *dev, unsigned int q)
{
	return q < dev->nq && dev->vqs[q].enabled;
}

void vback_dev_queue_reset(struct vback_dev *dev, unsigned int q)
{
	if (q < dev->nq)
		dev_vq_reset(dev, &dev->vqs[q]);
}

unsigned int vback_dev_queue_stop(struct vback_dev *dev, unsigned int q)
{
	struct vq *vq;
	unsigned int n;

	if (q >= dev->nq)
		return 0;
	vq = &dev->vqs[q];
	n = vq->ctx ? vq->ctx->inflight : 0;
	vq->stopped = true;
	vq->idle_reported = n == 0;
	return n;
}

uint16_t vback_dev_queue_last_avail(const struct vback_dev *dev, unsigned int q)
{
	return q < dev->nq ? dev->vqs[q].last_avail : 0;
}

int vback_dev_queue_set_last_avail(struct vback_dev *dev, unsigned int q,
				   uint16_t idx)
{
	struct vq *vq;

	if (q >= dev->nq)
		return -EINVAL;
	vq = &dev->vqs[q];
	if (vq->enabled)
		return -EBUSY;
	/* Nothing is in flight across a ring hand-over: used == avail. */
	vq->last_avail = vq->shadow_avail = idx;
	vq->used_idx = vq->published = idx;
	return 0;
}

void vback_dev_queue_kick(struct vback_dev *dev, unsigned int q)
{
	if (q >= dev->nq || !dev->vqs[q].enabled ||
	    !(dev_status_load(dev) & VBACK_STATUS_DRIVER_OK)) {
		if (vback_log_enabled(dev->log, VBACK_LOG_DEBUG))
			dev_qglog(dev, q, VBACK_LOG_DEBUG,
				  "kick of queue %u ignored (%s)", q,
				  q >= dev->nq || !dev->vqs[q].enabled
					  ? "not enabled"
					  : "before DRIVER_OK");
		return;
	}
	dev_queue_run(&dev->vqs[q]);
}

bool vback_dev_resetting(const struct vback_dev *dev, int q)
{
	for (unsigned int i = 0; i < dev->ngroups; i++)
		for (const struct vq_ctx *c = dev->groups[i].orphans; c;
		     c = c->next_orphan)
			if (q < 0 || c->q == (unsigned int)q)
				return true;
	return false;
}

void vback_dev_destroy(struct vback_dev *dev)
{
	if (!dev)
		return;
	if (dev->attached) {
		/* The transport would be left pointing at freed memory. */
		dev_log(dev, VBACK_LOG_ERR, "%s",
			"destroyed while a transport is attached (destroy or "
			"detach the transport first); leaking it");
		return;
	}
	if (__atomic_load_n(&dev->cmds_pending, __ATOMIC_ACQUIRE)) {
		/* A queue thread still has work of ours posted. */
		dev_log(dev, VBACK_LOG_ERR, "%s",
			"destroyed while a queue thread still has its work "
			"(a quiesce, resume or config change) to run; "
			"leaking it");
		return;
	}
	if (vback_dev_inflight(dev)) {
		/* IO still owns buffers in our contexts: leak, don't free. */
		dev_log(dev, VBACK_LOG_ERR,
			"destroyed with %u requests in flight; leaking it",
			vback_dev_inflight(dev));
		return;
	}
	dev->type->destroy(dev);
}
