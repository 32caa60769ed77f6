/* SPDX-License-Identifier: MIT */
/*
 * Device core internals shared by device.c, process.c, mmio.c and the
 * device types (blk.c, rng.c).
 *
 * A device type supplies what is specific to it (handle one popped chain,
 * its config space, its reset); the core owns everything else: the queues,
 * the kick -> pop -> handle -> complete loop, batching of completions,
 * back-pressure retries, the in-flight count, quiesce and reset.
 */
#ifndef VBACK_VIRTIO_DEVICE_H
#define VBACK_VIRTIO_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <vback/transport.h>

#include "vb_ratelimit.h"
#include "virtqueue.h"

#define VBACK_DEV_MAX_QUEUES 64u

/* handle() and retry() results. */
#define VDEV_TAKEN   0 /* answered now, or will be with dev_complete() */
#define VDEV_BLOCKED 1 /* back-pressure: retry() it when IO completes */

/* What a device type (virtio-blk, virtio-rng) plugs into the core. */
struct vdev_type_ops {
	/*
	 * Serve popped chain @e of queue @e->ctx->q: answer it with
	 * dev_complete(), from here or later (an IO completion). Returns
	 * VDEV_TAKEN or VDEV_BLOCKED (the IO layer pushed back: the core
	 * keeps @e and calls retry() for it before popping anything else
	 * from that queue).
	 */
	int (*handle)(struct vback_dev *dev, struct vq_elem *e);
	/* Submit a blocked element again; VDEV_TAKEN or VDEV_BLOCKED.
	 * Required when handle() can block. */
	int (*retry)(struct vback_dev *dev, struct vq_elem *e);
	/* Optional: the end of a batch of handle() calls on a queue (start
	 * what was queued: the IO layer's unplug()). */
	void (*batch_end)(struct vback_dev *dev, unsigned int q);
	/*
	 * Optional: the last step of a quiesce, nothing in flight: make what
	 * was written durable, then call dev_quiesce_done() (now or later).
	 * NULL: done at once.
	 */
	void (*flush)(struct vback_dev *dev);
	/* Config space, @off/@len already range-checked. */
	void (*config_read)(struct vback_dev *dev, uint32_t off, void *buf,
			    uint32_t len);
	void (*config_write)(struct vback_dev *dev, uint32_t off,
			     const void *buf, uint32_t len);
	/* May the driver run with these features? 0 or -EINVAL. */
	int (*features_ok)(struct vback_dev *dev, uint64_t features);
	/* Device reset: forget driver-set config state. */
	void (*reset)(struct vback_dev *dev);
	void (*destroy)(struct vback_dev *dev);
	size_t slot_priv_size;
};

struct vback_dev {
	const struct vdev_type_ops *type;
	const struct vback_log *log;
	char name[64];
	uint32_t device_id;
	uint32_t config_size;
	uint32_t config_gen;
	uint64_t device_features; /* the type's own bits */
	uint64_t driver_features;
	bool features_invalid; /* driver wrote bits never offered */
	bool legacy;	       /* virtio-mmio version 1 front-end */
	unsigned int iov_cap;  /* iovecs per ring slot */
	uint32_t max_chain;    /* descriptors of the longest valid request */
	uint8_t status;
	bool attached;
	struct vback_dev_transport t;
	unsigned int nq;
	struct vq *vqs;
	struct vq_ctx *orphans;
	unsigned int nblocked; /* queues with a blocked element */
	/* Requests a device type has in flight outside the rings (the
	 * quiesce flush): counted by vback_dev_inflight(). */
	unsigned int type_inflight;
	/* Quiesce (process.c). */
	bool quiesced;	/* no new pops, whatever resets happen */
	bool quiescing; /* waiting for the drain, then the flush */
	bool flushing;	/* type->flush() running */
	int quiesce_result;
	vback_dev_quiesced_fn quiesced_fn;
	void *quiesced_opaque;
	struct vback_work quiesce_work; /* checks the drain from the loop */
	/* Every line a guest can trigger goes through it (dev_glog). */
	struct vb_ratelimit glog[2]; /* VB_RL_CLASS */
};

int dev_init(struct vback_dev *dev, const struct vdev_type_ops *type,
	     uint32_t device_id, unsigned int nq, uint16_t max_size,
	     uint32_t config_size, const struct vback_log *log,
	     const char *name);
void dev_fini(struct vback_dev *dev);

/*
 * The driver broke the protocol: log once (rate-limited: a guest may break
 * and reset in a loop), set NEEDS_RESET, raise the config-change
 * notification, mark @vq (may be NULL) broken.
 */
void dev_fail_(struct vback_dev *dev, struct vq *vq, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define dev_fail(dev, vq, fmt, ...)                                            \
	dev_fail_((dev), (vq), "%s: " fmt "; device needs reset", (dev)->name, \
		  __VA_ARGS__)
/* Log with the device name in front (at least one argument after fmt). */
#define dev_log(dev, level, fmt, ...)                                          \
	vback_logf((dev)->log, (level), "%s: " fmt, (dev)->name, __VA_ARGS__)
/* The same for a line the guest can trigger at will: rate-limited per
 * device (vb_ratelimit.h), with a count of what was dropped. */
void dev_glog_(struct vback_dev *dev, enum vback_log_level level,
	       const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define dev_glog(dev, level, fmt, ...)                                         \
	dev_glog_((dev), (level), "%s: " fmt, (dev)->name, __VA_ARGS__)

/* Did the driver accept feature @bit? */
static inline bool dev_has(const struct vback_dev *dev, unsigned int bit)
{
	return (dev->driver_features >> bit) & 1;
}

/* Does the device offer feature @bit (its own bits)? */
static inline bool dev_offers(const struct vback_dev *dev, unsigned int bit)
{
	return (dev->device_features >> bit) & 1;
}

/* Bump the config generation and send a config-change notification. */
void dev_config_changed(struct vback_dev *dev);

/* Internal hooks used by mmio.c. */
void dev_set_legacy(struct vback_dev *dev, bool legacy);
void dev_queue_invalidate_size(struct vback_dev *dev, unsigned int q);

/* ------------------------------------------------------------------ */
/* Request processing (process.c)                                      */
/* ------------------------------------------------------------------ */

/* Requests one run of a queue takes before it yields the loop. */
#define VDEV_RUN_BUDGET 256u

/* Pop and handle what queue @vq holds (a kick, or its posted work). */
void dev_queue_run(struct vq *vq);
/* The work item of every queue (set up by dev_init()). */
void dev_queue_work(void *opaque);
/*
 * Answer @e with @used_len bytes written to the guest: push it (or, for
 * an element orphaned by a reset, only release it) and have it published
 * with the rest of its batch. The device type writes its status into
 * guest memory before, and only when dev_elem_live(e).
 */
void dev_complete(struct vq_elem *e, uint32_t used_len);
/* May @e's buffers be written (its queue was not reset)? */
static inline bool dev_elem_live(const struct vq_elem *e)
{
	return !e->ctx->orphaned;
}
/* The device's queue of @e (live elements only). */
static inline struct vq *dev_elem_vq(struct vback_dev *dev,
				     const struct vq_elem *e)
{
	return &dev->vqs[e->ctx->q];
}
/* Queue @vq was enabled: have the loop poll it, if it polls. */
void dev_queue_poller_add(struct vback_dev *dev, struct vq *vq);
/* Reset queue @vq, keeping the orphan list and the blocked count. */
void dev_vq_reset(struct vback_dev *dev, struct vq *vq);
/* type->flush() is done with @result. */
void dev_quiesce_done(struct vback_dev *dev, int result);
/* Cancel everything the device posted (detach, destroy). */
void dev_cancel_work(struct vback_dev *dev);
/* Process what is available on every enabled queue (DRIVER_OK). */
void dev_run_all(struct vback_dev *dev);

#endif /* VBACK_VIRTIO_DEVICE_H */
