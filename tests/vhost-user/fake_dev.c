/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_dev.h"

struct vback_dev *fake_dev_new(unsigned int nq)
{
	struct vback_dev *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return NULL;
	dev->nq = nq;
	dev->features = (1ull << 32) | (1ull << 29) | (1ull << 9);
	for (unsigned int i = 0; i < FAKE_CONFIG_SIZE; i++)
		dev->config[i] = (uint8_t)(0xa0 + i);
	for (unsigned int i = 0; i < FAKE_QUEUES; i++)
		dev->q[i].max = 256;
	return dev;
}

void fake_dev_free(struct vback_dev *dev)
{
	free(dev);
}

void fake_dev_complete(struct vback_dev *dev, unsigned int q)
{
	struct fake_queue *fq = &dev->q[q];

	if (!fq->inflight)
		return;
	fq->inflight = 0;
	if (fq->stopped && dev->attached && dev->t.ops->queue_idle)
		dev->t.ops->queue_idle(dev->t.opaque, q);
}

void fake_dev_notify_queue(struct vback_dev *dev, unsigned int q)
{
	dev->t.ops->notify_queue(dev->t.opaque, q);
}

void fake_dev_notify_config(struct vback_dev *dev)
{
	dev->t.ops->notify_config(dev->t.opaque);
}

int vback_dev_attach(struct vback_dev *dev, const struct vback_dev_transport *t)
{
	if (dev->attached)
		return -EBUSY;
	dev->t = *t;
	dev->attached = true;
	return 0;
}

void vback_dev_detach(struct vback_dev *dev)
{
	vback_dev_reset(dev);
	dev->attached = false;
	dev->detaches++;
}

uint64_t vback_dev_features(const struct vback_dev *dev)
{
	return dev->features;
}

int vback_dev_set_driver_features(struct vback_dev *dev, uint64_t features)
{
	if (features & ~dev->features)
		return -EINVAL;
	if (dev->status & VBACK_STATUS_FEATURES_OK)
		return -EPERM;
	dev->driver_features = features;
	return 0;
}

uint64_t vback_dev_driver_features(const struct vback_dev *dev)
{
	return dev->driver_features;
}

uint8_t vback_dev_status(const struct vback_dev *dev)
{
	return dev->status;
}

int vback_dev_set_status(struct vback_dev *dev, uint8_t status)
{
	if (status == 0) {
		vback_dev_reset(dev);
		return 0;
	}
	if ((dev->status & status) != dev->status)
		return -EPROTO;
	dev->status = status;
	return 0;
}

void vback_dev_reset(struct vback_dev *dev)
{
	dev->status = 0;
	dev->driver_features = 0;
	for (unsigned int i = 0; i < FAKE_QUEUES; i++)
		vback_dev_queue_reset(dev, i);
	dev->resets++;
}

uint32_t vback_dev_config_size(const struct vback_dev *dev)
{
	(void)dev;
	return FAKE_CONFIG_SIZE;
}

int vback_dev_config_read(struct vback_dev *dev, uint32_t off, void *buf,
			  uint32_t len)
{
	if (off > FAKE_CONFIG_SIZE || len > FAKE_CONFIG_SIZE - off) {
		memset(buf, 0, len);
		return -ERANGE;
	}
	memcpy(buf, dev->config + off, len);
	return 0;
}

int vback_dev_config_write(struct vback_dev *dev, uint32_t off, const void *buf,
			   uint32_t len)
{
	if (dev->config_write_ret)
		return dev->config_write_ret;
	if (off > FAKE_CONFIG_SIZE || len > FAKE_CONFIG_SIZE - off)
		return -ERANGE;
	memcpy(dev->config + off, buf, len);
	return 0;
}

unsigned int vback_dev_num_queues(const struct vback_dev *dev)
{
	return dev->nq;
}

uint16_t vback_dev_queue_max_size(const struct vback_dev *dev, unsigned int q)
{
	return q < dev->nq ? dev->q[q].max : 0;
}

int vback_dev_queue_set_size(struct vback_dev *dev, unsigned int q,
			     uint16_t size)
{
	if (q >= dev->nq || dev->q[q].enabled)
		return -EINVAL;
	dev->q[q].size = size;
	return 0;
}

int vback_dev_queue_set_addr(struct vback_dev *dev, unsigned int q,
			     const struct vback_vq_addr *addr)
{
	if (q >= dev->nq || dev->q[q].enabled)
		return -EINVAL;
	dev->q[q].addr = *addr;
	return 0;
}

int vback_dev_queue_set_last_avail(struct vback_dev *dev, unsigned int q,
				   uint16_t idx)
{
	if (q >= dev->nq || dev->q[q].enabled)
		return -EINVAL;
	dev->q[q].last_avail = idx;
	return 0;
}

uint16_t vback_dev_queue_last_avail(const struct vback_dev *dev, unsigned int q)
{
	return dev->q[q].last_avail;
}

int vback_dev_queue_enable(struct vback_dev *dev, unsigned int q)
{
	uint64_t len = 16;

	if (q >= dev->nq || !(dev->status & VBACK_STATUS_FEATURES_OK))
		return -EINVAL;
	/* Like the real device: the rings must be in guest memory. */
	if (!dev->t.gm.ops->map(dev->t.gm.opaque, dev->q[q].addr.desc, &len,
				VBACK_GM_READ))
		return -EFAULT;
	dev->q[q].enabled = true;
	dev->q[q].stopped = false;
	dev->q[q].enables++;
	dev->q[q].rec_at_enable = dev->q[q].rec != NULL;
	return 0;
}

size_t vback_dev_inflight_record_size(uint16_t size)
{
	return size && size <= 32768 ? 16 + 16 * (size_t)size : 0;
}

int vback_dev_queue_set_inflight(struct vback_dev *dev, unsigned int q,
				 void *rec, size_t len)
{
	if (q >= dev->nq)
		return -EINVAL;
	if (rec && dev->q[q].enabled)
		return -EBUSY;
	if (!rec && dev->q[q].enabled && dev->q[q].rec)
		dev->q[q].rec_forgets++;
	dev->q[q].rec = rec;
	dev->q[q].rec_len = len;
	if (rec)
		dev->q[q].rec_sets++;
	return 0;
}

unsigned int vback_dev_queue_resumed(const struct vback_dev *dev,
				     unsigned int q)
{
	(void)dev;
	(void)q;
	return 0;
}

void vback_dev_queue_reset(struct vback_dev *dev, unsigned int q)
{
	struct fake_queue *fq = &dev->q[q];

	if (fq->enabled)
		fq->resets++;
	fq->enabled = false;
	fq->stopped = false;
	fq->size = 0;
	fq->rec = NULL; /* forgotten at reset, like the real device */
	fq->rec_len = 0;
	memset(&fq->addr, 0, sizeof(fq->addr));
}

unsigned int vback_dev_queue_stop(struct vback_dev *dev, unsigned int q)
{
	dev->q[q].stopped = true;
	return dev->q[q].inflight;
}

void vback_dev_queue_kick(struct vback_dev *dev, unsigned int q)
{
	struct fake_queue *fq = &dev->q[q];

	if (q >= dev->nq || !fq->enabled || fq->stopped)
		return;
	fq->kicks++;
	fq->inflight += fq->inflight_per_kick;
	/* Each started request consumes one avail entry. */
	fq->last_avail = (uint16_t)(fq->last_avail + fq->inflight_per_kick);
}

const struct vback_loop *vback_dev_queue_loop(const struct vback_dev *dev,
					      unsigned int q)
{
	/* Every queue on the transport's loop. */
	(void)dev;
	(void)q;
	return NULL;
}
