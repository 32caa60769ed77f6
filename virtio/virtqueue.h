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
#include <vback/dev.h>

struct vback_dev;
struct vq_ctx;
struct vgroup;

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

/* Pieces a ring slot holds in its packed array (see struct vq_elem). */
#define VQ_NEAR_PIECES 16u

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
	/* The pieces of this chain: @near while they fit there, else @far
	 * (the first ones copied over). NULL maps: the view has no unmap(). */
	struct vback_iovec *iov;
	struct vq_map *maps;
	/*
	 * VQ_NEAR_PIECES (+1) per slot, packed slot after slot, and iov_cap
	 * (+1) per slot apart: the few pieces of a usual request share pages
	 * with other slots', and a slot's large array is touched only by a
	 * request that needs it. With one array per slot, every slot a driver
	 * ever used kept a page or two resident (1.2 MB per 256-slot queue of
	 * virtio-blk). Freestanding builds (no paging) keep one array per
	 * slot: @iov_far is NULL, @iov_near holds iov_cap + 1.
	 */
	struct vback_iovec *iov_near, *iov_far; /* far: NULL, near is all */
	struct vq_map *maps_near, *maps_far;
	void *priv; /* the device type's per-slot context */
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
	/* The queue's count of everything in flight, live and orphaned,
	 * which other threads read (vq->inflight_n): kept with @inflight. */
	uint32_t *qcount;
	unsigned int iov_cap;
	struct vback_gm gm;
	struct vq_elem *slots;
	size_t bytes; /* of the whole allocation, slots and arrays */
};

/*
 * The in-flight record of a queue (inflight.c): memory that outlives the
 * process, in the layout of vhost-user's split-ring inflight region
 * (QEMU docs/interop/vhost-user.rst, "Inflight I/O tracking"), host byte
 * order. Written while the queue runs, never read back then: the
 * front-end (or whoever else maps it) may scribble on it, so only the
 * adoption at enable reads it, once, into copies it checks.
 */
struct vq_rec_hdr {
	uint64_t features;	  /* 0 */
	uint16_t version;	  /* 0: empty, VQ_REC_VERSION: in use */
	uint16_t desc_num;	  /* entries: the ring size */
	uint16_t last_batch_head; /* newest head answered */
	uint16_t used_idx;	  /* used->idx once the batch is cleared */
};

struct vq_rec_desc {
	uint8_t inflight; /* 1: taken from the ring, not yet published */
	uint8_t padding[5];
	uint16_t next;	  /* the answered head before this one */
	uint64_t counter; /* order in which heads were taken */
};

#define VQ_REC_VERSION 1u

struct vq_rec {
	volatile struct vq_rec_hdr *hdr; /* NULL: no record */
	volatile struct vq_rec_desc *desc;
	size_t len;
	bool active;	  /* enabled with it: a reset empties it */
	uint64_t counter; /* the next head's */
	uint16_t last_head;
	/* Heads answered since the last publish (our copy of the batch). */
	uint16_t *batch;
	unsigned int batch_n;
	/* Adopted heads still to submit, oldest first. */
	uint16_t *resubmit;
	unsigned int resubmit_n, resubmit_pos;
	unsigned int resumed; /* adopted at the last enable */
	const char *refused;  /* why the last enable did not adopt it */
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
	struct vq_rec rec;
	/* Request processing, the device core's (process.c). */
	struct vback_work work;	 /* run the queue later: completions, yield */
	struct vq_elem *blocked; /* popped, IO said back-pressure: first */
	bool mem_wait;	    /* guest-memory view busy: after a completion */
	bool running;	    /* inside dev_queue_run() */
	bool rerun;	    /* kicked or completed while running */
	bool idle_reported; /* queue_idle() sent for this stop */
	/* The loop's clock when the running batch began (dev->batch_clock):
	 * one read per batch, not one per request taken. */
	uint64_t batch_ns;
	/* The loop busy-polls the avail ring (loop.h pollers): while
	 * @polling, the driver is asked not to kick (vq_poll_begin()). */
	struct vback_poller poller;
	bool polling;
	/*
	 * Where the queue runs (process.c; kept across resets): its loop
	 * (NULL: the transport's), and the group of the queues that share
	 * that loop and so a thread. Set while detached only.
	 */
	const struct vback_loop *loop;
	struct vgroup *group;
	struct vq *next_in_group;
	/* Requests of this queue in flight, live and orphaned: written on
	 * its thread only, read anywhere (vq_count_load()). */
	uint32_t inflight_n;
};

/* Counters one thread writes and others read: relaxed atomics, 32 bits
 * (lock-free everywhere, no library call on 32-bit targets). */
static inline uint32_t vq_count_load(const uint32_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static inline void vq_count_add(uint32_t *c, int delta)
{
	__atomic_store_n(c, (uint32_t)(vq_count_load(c) + (uint32_t)delta),
			 __ATOMIC_RELAXED);
}

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
/* Anything to pop? A cheap look (one load) for pollers. */
bool vq_avail_pending(struct vq *vq);
/*
 * The loop polls the ring: ask the driver not to kick (without EVENT_IDX
 * the used ring's NO_NOTIFY flag; with it, avail_event is simply left
 * behind, see vq_rearm()).
 */
void vq_poll_begin(struct vq *vq);
/*
 * Polling ends: ask for kicks again (avail_event or the flag), then look
 * once more. True when something is available (it came in the window).
 */
bool vq_poll_end(struct vq *vq);
/* Release the buffers of @e and add it to the used ring (not yet visible). */
void vq_push(struct vq *vq, struct vq_elem *e, uint32_t len);
/* Make pushed elements visible; true when the driver wants a
 * notification for them. */
bool vq_flush(struct vq *vq);
/*
 * Take the next adopted head of the in-flight record (before anything
 * new): like vq_pop(), 1, -EPROTO or -EAGAIN; 0 when none is left. It
 * ignores a stop: those requests were taken before it.
 */
int vq_resubmit(struct vq *vq, struct vq_elem **out, struct vq_fault *f,
		bool can_wait);
/* Adopted heads not yet submitted again. */
static inline unsigned int vq_resubmit_pending(const struct vq *vq)
{
	return vq->rec.resubmit_n - vq->rec.resubmit_pos;
}
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

/* ------------------------------------------------------------------ */
/* In-flight record (inflight.c)                                        */
/* ------------------------------------------------------------------ */

/* Bytes of the record of a ring of @n entries; 0 for a bad @n. */
size_t vq_rec_size(uint32_t n);
/* Give the queue a record (disabled queue) or, with NULL, forget it
 * without writing to it again. 0 or -EINVAL (misaligned). */
int vq_rec_set(struct vq *vq, void *rec, size_t len);
/*
 * At enable, rings mapped and contexts allocated: adopt the record
 * (settle the last batch, resume after what it holds, mark the heads to
 * submit again) or, when it is empty or unusable (vq->rec.refused says
 * why), start it afresh at the queue's indices. -ENOMEM only.
 */
int vq_rec_start(struct vq *vq);
/* At reset: empty an active record and forget it; drop unsubmitted
 * adopted heads from the context's count. */
void vq_rec_stop(struct vq *vq);
/* The hot path: a head taken (before its walk), a pop undone, a head
 * answered, a batch published (after used->idx is written). */
void vq_rec_take(struct vq *vq, uint16_t head);
void vq_rec_untake(struct vq *vq, uint16_t head);
void vq_rec_answer(struct vq *vq, uint16_t head);
void vq_rec_publish(struct vq *vq);

#endif /* VBACK_VIRTIO_VIRTQUEUE_H */
