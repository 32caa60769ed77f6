/* SPDX-License-Identifier: MIT */
/*
 * Device core internals shared by device.c, mmio.c and the device types.
 */
#ifndef VBACK_VIRTIO_DEVICE_H
#define VBACK_VIRTIO_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <vback/virtio.h>

#include "virtqueue.h"

#define VBACK_DEV_MAX_QUEUES 64u

/* What a device type (virtio-blk, ...) plugs into the core. */
struct vdev_type_ops {
	/* Pop and handle what queue @vq holds (the kick). */
	void (*process)(struct vback_dev *dev, struct vq *vq);
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
	uint8_t status;
	bool attached;
	struct vback_dev_transport t;
	unsigned int nq;
	struct vq *vqs;
	struct vq_ctx *orphans;
	unsigned int inflight; /* requests in flight, orphans included */
};

int dev_init(struct vback_dev *dev, const struct vdev_type_ops *type,
	     uint32_t device_id, unsigned int nq, uint16_t max_size,
	     uint32_t config_size, const struct vback_log *log,
	     const char *name);
void dev_fini(struct vback_dev *dev);

/*
 * The driver broke the protocol: log once, set NEEDS_RESET, raise the
 * config-change notification, mark @vq (may be NULL) broken.
 */
void dev_fail_(struct vback_dev *dev, struct vq *vq, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define dev_fail(dev, vq, fmt, ...)                                            \
	dev_fail_((dev), (vq), "%s: " fmt "; device needs reset", (dev)->name, \
		  __VA_ARGS__)
/* Log with the device name in front (at least one argument after fmt). */
#define dev_log(dev, level, fmt, ...)                                          \
	vback_logf((dev)->log, (level), "%s: " fmt, (dev)->name, __VA_ARGS__)

/* Did the driver accept feature @bit? */
static inline bool dev_has(const struct vback_dev *dev, unsigned int bit)
{
	return (dev->driver_features >> bit) & 1;
}

/* Bump the config generation and send a config-change notification. */
void dev_config_changed(struct vback_dev *dev);
void dev_notify_queue(struct vback_dev *dev, unsigned int q);
/* A stopped queue has drained: tell the transport (once). */
void dev_queue_idle(struct vback_dev *dev, struct vq *vq);

/* A context's last in-flight request completed: free it if orphaned. */
void dev_ctx_idle(struct vq_ctx *ctx);

/* Internal hooks used by mmio.c. */
void dev_set_legacy(struct vback_dev *dev, bool legacy);
void dev_queue_invalidate_size(struct vback_dev *dev, unsigned int q);

#endif /* VBACK_VIRTIO_DEVICE_H */
