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

#include <vback/dev.h>

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
	/*
	 * Optional: on group @g's thread, copy what the data path reads of
	 * the device type's state (virtio-blk: capacity, cache mode) for
	 * @g's queues. Requested by dev_sync_groups(); the device's thread
	 * leaves that state alone until sync_done().
	 */
	void (*sync)(struct vback_dev *dev, struct vgroup *g);
	/* Optional: every group has synced (on the device's thread). */
	void (*sync_done)(struct vback_dev *dev);
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

/*
 * The queues that run on one loop, and so on one thread (process.c). All
 * of it is that thread's but @cmds, which the device's thread sets to
 * have the group act (a quiesce, a config change) and then posts
 * @cmd_work. A device on one loop has one group.
 */
struct vgroup {
	struct vback_dev *dev;
	unsigned int index; /* in dev->groups */
	const struct vback_loop *loop;
	struct vq *queues;     /* linked by next_in_group */
	unsigned int nblocked; /* its queues waiting for a completion */
	struct vq_ctx *orphans;
	bool quiesced;	    /* no new pops, whatever resets happen */
	bool drain_wanted;  /* report once nothing is in flight */
	uint32_t drain_gen; /* of the quiesce to report the drain to */
	/* atomic, set by the device's thread before a QUIESCE or RESUME
	 * command: the quiesce generation << 1 | quiesced */
	uint32_t want;
	uint32_t cmds; /* atomic: VGROUP_CMD_* */
	struct vback_work cmd_work;
	struct vb_ratelimit glog[2]; /* lines logged on its thread */
};

#define VGROUP_CMD_QUIESCE (1u << 0)
#define VGROUP_CMD_RESUME  (1u << 1)
#define VGROUP_CMD_SYNC	   (1u << 2) /* the type's sync() */

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
	bool batch_clock;      /* the type reads vq->batch_ns (set at create) */
	uint8_t status;
	bool attached;
	struct vback_dev_transport t;
	unsigned int nq;
	struct vq *vqs;
	/* Groups of queues by loop (process.c), made at attach. */
	struct vgroup *groups;
	unsigned int ngroups;
	/* Requests a device type has in flight outside the rings (the
	 * quiesce flush): counted by vback_dev_inflight(). */
	unsigned int type_inflight;
	/* Quiesce (process.c), on the device's thread. */
	bool quiesced;	/* asked for, until vback_dev_resume() */
	bool quiescing; /* waiting for the drain, then the flush */
	bool flushing;	/* type->flush() running */
	int quiesce_result;
	vback_dev_quiesced_fn quiesced_fn;
	void *quiesced_opaque;
	struct vback_work quiesce_work; /* checks the drain from the loop */
	/* atomic: generation << 16 | groups not drained yet */
	uint32_t drain_state;
	/* Group commands posted and not run yet (atomic): a device is not
	 * freed under them. */
	uint32_t cmds_pending;
	/* dev_sync_groups(): groups that have not synced yet (atomic). */
	uint32_t sync_pending;
	struct vback_work sync_work; /* sync_done() on the device's loop */
	bool sync_done_now;	     /* the device's group synced last */
	/* A protocol violation on another thread: NEEDS_RESET from here. */
	struct vback_work fail_work;
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
/* The same from queue @q's thread (its group's rate limit). */
void dev_qglog_(struct vback_dev *dev, unsigned int q,
		enum vback_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define dev_qglog(dev, q, level, fmt, ...)                                     \
	dev_qglog_((dev), (q), (level), "%s: " fmt, (dev)->name, __VA_ARGS__)
/* dev_fail() from a queue apart: NEEDS_RESET on the device's thread. */
void dev_fail_work(void *opaque);

/* The device status, read on any thread (a queue's checks DRIVER_OK). */
static inline uint8_t dev_status_load(const struct vback_dev *dev)
{
	return __atomic_load_n(&dev->status, __ATOMIC_RELAXED);
}

/* Written on the device's thread only. */
static inline void dev_status_store(struct vback_dev *dev, uint8_t status)
{
	__atomic_store_n(&dev->status, status, __ATOMIC_RELAXED);
}

/* The loop queue @vq runs on. */
static inline const struct vback_loop *dev_vq_loop(const struct vback_dev *dev,
						   const struct vq *vq)
{
	return vq->loop ? vq->loop : dev->t.loop;
}

/* Does @vq run on a loop other than the transport's (another thread)? */
static inline bool dev_vq_apart(const struct vback_dev *dev,
				const struct vq *vq)
{
	return vq->loop && vq->loop != dev->t.loop;
}

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
/* Attach: group the queues by loop. Detach: forget the groups. */
void dev_groups_make(struct vback_dev *dev);
void dev_groups_clear(struct vback_dev *dev);
/*
 * The type's state the data path reads changed (on the device's thread):
 * every group runs type->sync() on its thread (groups on the device's
 * loop at once), then type->sync_done() runs on the device's loop.
 */
void dev_sync_groups(struct vback_dev *dev);
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
