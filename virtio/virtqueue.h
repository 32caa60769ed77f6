/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue (virtio 1.2 section 2.7), private to libvback-virtio.
 *
 * The queue holds guest addresses and the host mappings of its three ring
 * areas; descriptors and buffers are reached only through the vback_gm view.
 * Everything read from the ring is copied first, then validated, then used
 * (only the copy). Per-slot request contexts are allocated when the queue is
 * enabled, so popping and completing never allocate.
 */
#ifndef VBACK_VIRTIO_VIRTQUEUE_H
#define VBACK_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vback/loop.h>
#include <vback/transport.h>

struct vback_dev;
struct vq_ctx;

/* One mapped piece of a ring area. */
struct vq_piece {
	uint64_t off; /* offset in the area */
	uint64_t len;
	uint8_t *host;
};

/* A ring area: one host pointer when contiguous (the common case). */
struct vq_area {
	uint64_t gpa;
	uint64_t len;
	unsigned int access;
	uint8_t *flat; /* non-NULL iff the area is one piece */
	struct vq_piece *pieces;
	unsigned int npieces;
};

/* A mapped buffer piece, kept for unmap() (views that map per request). */
struct vq_map {
	uint64_t gpa;
	void *host;
	uint64_t len;
	unsigned int access;
};

/*
 * One popped chain. iov[0..nout) are the device-readable pieces, then
 * iov[nout..nout+nin) the device-writable ones. A descriptor may span
 * several pieces. The device type may rewrite iov entries (the maps keep
 * what to release).
 */
struct vq_elem {
	uint16_t head;
	uint16_t ndesc;	  /* descriptors in the chain, indirect included */
	uint32_t max_len; /* longest descriptor of the chain */
	unsigned int nout;
	unsigned int nin;
	/* More pieces than iov_cap: iov holds a prefix, the rest is not
	 * mapped (the answer is an error anyway). */
	bool truncated;
	bool inflight;
	uint32_t out_len; /* readable bytes */
	uint32_t in_len;  /* writable bytes */
	uint8_t *last_in; /* last writable byte of the chain, or NULL */
	unsigned int nmaps;
	struct vback_iovec *iov; /* iov_cap entries */
	struct vq_map *maps;	 /* NULL when the view has no unmap() */
	void *priv;		 /* the device type's per-slot context */
	struct vq_ctx *ctx;
};

/*
 * Resources of one enable of one queue. On reset with requests in flight
 * the context is orphaned: it outlives the queue until the last late
 * completion releases its mappings (guest memory is no longer touched).
 * Its @inflight is the one count of requests in flight: popped (or
 * blocked) and not yet pushed or completed as orphans.
 */
struct vq_ctx {
	struct vq_ctx *next_orphan;
	struct vback_dev *dev; /* the core's */
	unsigned int q;
	uint16_t size;
	bool orphaned;
	unsigned int inflight;
	unsigned int iov_cap;
	struct vback_gm gm;
	struct vq_elem *slots;
};

struct vq {
	struct vback_dev *dev; /* the core's; the ring code never uses it */
	unsigned int index;
	uint16_t max_size;
	uint16_t size;
	struct vback_vq_addr addr;
	bool enabled;
	bool stopped; /* vback_dev_queue_stop(): no new pops */
	bool broken;  /* protocol violation: nothing popped until reset */
	bool event_idx;
	bool indirect;
	uint32_t max_chain;    /* most descriptors a chain may have */
	uint16_t last_avail;   /* next avail entry to read */
	uint16_t shadow_avail; /* last avail->idx read */
	uint16_t used_idx;     /* next used entry to write */
	uint16_t published;    /* used->idx as last written */
	uint16_t signalled;    /* used index at the last notify decision */
	bool signalled_valid;
	struct vq_area desc, avail, used;
	struct vq_ctx *ctx;
	/* Request processing, the device core's (process.c). */
	struct vback_work work;	 /* run the queue later: completions, yield */
	struct vq_elem *blocked; /* popped, IO said back-pressure: first */
	bool mem_wait;	    /* guest-memory view busy: after a completion */
	bool running;	    /* inside dev_queue_run() */
	bool rerun;	    /* kicked or completed while running */
	bool idle_reported; /* queue_idle() sent for this stop */
};

/* Guest-memory helpers: copy across pieces; 0 or -EFAULT. */
int gm_read(const struct vback_gm *gm, uint64_t addr, void *buf, uint64_t len);
int gm_write(const struct vback_gm *gm, uint64_t addr, const void *buf,
	     uint64_t len);

void vq_init(struct vq *vq, struct vback_dev *dev, unsigned int index,
	     uint16_t max_size);
/*
 * Check and map the ring areas, allocate per-slot contexts with @iov_cap
 * iovecs and @priv_size bytes of device-type context each. A chain may
 * have up to the queue size or @max_chain descriptors, whichever is more
 * (2.7.5.3.1; a device type whose valid requests are longer says so).
 * 0, -EINVAL (size/alignment/overflow), -EFAULT (not guest memory),
 * -ENOMEM.
 */
int vq_enable(struct vq *vq, const struct vback_gm *gm, uint64_t features,
	      unsigned int iov_cap, size_t priv_size, uint32_t max_chain);
/*
 * Disable: unmap the rings and restore defaults (size = max, addresses 0,
 * indices 0). Returns the context if requests are still in flight (the
 * caller keeps it as an orphan until they complete), else NULL. A blocked
 * element is released here: it was never submitted.
 */
struct vq_ctx *vq_reset(struct vq *vq);

/* Why vq_pop() refused the ring: for the log line. */
struct vq_fault {
	const char *why;
	int head; /* the head concerned, -1 for none */
};

/*
 * Pop the next chain. 1 with *@out set, 0 when the ring is empty (or the
 * queue is stopped/broken), -EPROTO on a protocol violation: the queue is
 * marked broken, *@f says what, and a valid head has been returned to the
 * driver with used length 0 so it never leaks. -EAGAIN when the
 * guest-memory view is busy and @can_wait: nothing was taken (retry after
 * a completion); without @can_wait a busy view makes the request's
 * answer an error (e->truncated), as a chain too long to map does.
 */
int vq_pop(struct vq *vq, struct vq_elem **out, struct vq_fault *f,
	   bool can_wait);
/*
 * After the ring ran empty: publish avail_event (EVENT_IDX) so the driver
 * kicks for the next buffer, then check again. True if more is available.
 */
bool vq_rearm(struct vq *vq);
/* Release the buffers of @e and add it to the used ring (not yet visible). */
void vq_push(struct vq *vq, struct vq_elem *e, uint32_t len);
/* Make pushed elements visible; true when the driver wants a
 * notification for them. */
bool vq_flush(struct vq *vq);
/* Release the buffers of an element without touching the ring. */
void vq_elem_release(struct vq_elem *e);
/*
 * Late completion of an element whose queue was reset: release its
 * mappings and account for it. True when it was the context's last: the
 * caller unlinks and frees the context.
 */
bool vq_complete_orphan(struct vq_elem *e);
/* Free a context of vq_reset() once it has nothing in flight. */
void vq_ctx_free(struct vq_ctx *ctx);

#endif /* VBACK_VIRTIO_VIRTQUEUE_H */
