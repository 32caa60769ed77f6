/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (virtio 1.2 section 5.4): one request queue, no feature
 * bits, no config space. Each request is a chain of device-writable
 * buffers the device fills with entropy from the embedder's function; the
 * used length says how much. Small by design: it is the proof that a
 * device type is only "handle this chain", everything else is the core's.
 */
#include <string.h>

#include "device.h"
#include "ring.h"
#include "vb_os.h"

#define VIRTIO_ID_RNG		4u
#define RNG_DEFAULT_QUEUE_SIZE	64u
#define RNG_DEFAULT_MAX_REQUEST 4096u
#define RNG_IOV_CAP		16u

struct vback_rng {
	struct vback_dev dev; /* first: the core hands us &rng->dev */
	vback_rng_fill_fn fill;
	void *opaque;
	uint32_t max_request;
	uint64_t bytes;
	bool warned_readable;
};

static struct vback_rng *to_rng(struct vback_dev *dev)
{
	return (struct vback_rng *)dev;
}

static int rng_handle(struct vback_dev *dev, struct vq_elem *e)
{
	struct vback_rng *rng = to_rng(dev);
	uint32_t done = 0;

	/* 5.4.6.2: the driver places only device-writable buffers. */
	if (e->nout) {
		if (!rng->warned_readable)
			dev_log(dev, VBACK_LOG_WARN,
				"queue 0: head %u has driver-readable buffers; "
				"answered with nothing (logged once)",
				e->head);
		rng->warned_readable = true;
		dev_complete(e, 0);
		return VDEV_TAKEN;
	}
	for (unsigned int i = 0; i < e->nin && done < rng->max_request; i++) {
		struct vback_iovec *v = &e->iov[i];
		size_t want = v->iov_len;
		long got;

		if (want > rng->max_request - done)
			want = rng->max_request - done;
		got = rng->fill(rng->opaque, v->iov_base, want);
		if (got <= 0)
			break;
		if ((size_t)got > want)
			got = (long)want; /* a fill function that overstates */
		done += (uint32_t)got;
		if ((size_t)got < want)
			break;
	}
	rng->bytes += done;
	dev_complete(e, done);
	return VDEV_TAKEN;
}

static void rng_config_read(struct vback_dev *dev, uint32_t off, void *buf,
			    uint32_t len)
{
	(void)dev;
	(void)off;
	(void)buf;
	(void)len; /* no config space: never called with len > 0 */
}

static void rng_destroy(struct vback_dev *dev)
{
	dev_fini(dev);
	vb_free(to_rng(dev));
}

static const struct vdev_type_ops rng_type_ops = {
	.handle = rng_handle,
	.config_read = rng_config_read,
	.destroy = rng_destroy,
};

int vback_rng_create(const struct vback_rng_options *opts,
		     struct vback_rng **out)
{
	struct vback_rng *rng;
	uint16_t qsize;
	int r;

	if (!opts || !out || !opts->fill)
		return -EINVAL;
	qsize = opts->queue_size ? opts->queue_size : RNG_DEFAULT_QUEUE_SIZE;
	if (qsize > VRING_MAX_SIZE || (qsize & (qsize - 1)))
		return -EINVAL;
	rng = vb_calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	r = dev_init(&rng->dev, &rng_type_ops, VIRTIO_ID_RNG, 1, qsize, 0,
		     opts->log, opts->name ? opts->name : "rng");
	if (r) {
		vb_free(rng);
		return r;
	}
	rng->fill = opts->fill;
	rng->opaque = opts->opaque;
	rng->max_request =
		opts->max_request ? opts->max_request : RNG_DEFAULT_MAX_REQUEST;
	rng->dev.device_features = VB_BIT(VIRTIO_F_RING_INDIRECT_DESC) |
				   VB_BIT(VIRTIO_F_RING_EVENT_IDX);
	rng->dev.iov_cap = RNG_IOV_CAP;
	*out = rng;
	return 0;
}

struct vback_dev *vback_rng_dev(struct vback_rng *rng)
{
	return rng ? &rng->dev : NULL;
}

void vback_rng_destroy(struct vback_rng *rng)
{
	if (rng)
		vback_dev_destroy(&rng->dev);
}

uint64_t vback_rng_bytes(const struct vback_rng *rng)
{
	return rng->bytes;
}
