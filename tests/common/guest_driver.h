/* SPDX-License-Identifier: MIT */
/*
 * A guest-driver model that behaves like Linux's virtio-mmio and virtio-blk
 * drivers, for tests of the device (and, through a simulated vCPU, of the
 * transports).
 *
 * It reaches the device ONLY through struct gdrv_access (MMIO reads and
 * writes at an offset in the virtio-mmio window), so the same driver can be
 * routed straight to vback_mmio_read/write (gdrv_mmio_access()) or through
 * a simulated Xen vCPU / ioreq path. It builds real split rings, request
 * headers, buffers and indirect tables in fake guest memory (guest_mem.h).
 *
 * Sequence (like virtio_mmio_probe + virtio_dev_probe + virtblk_probe):
 * magic, version, device id; reset; ACKNOWLEDGE; DRIVER; features (64-bit,
 * two selector pages) accepted = offered & wanted; FEATURES_OK and read
 * back (modern); per queue QueueSel, QueueReady==0 check, QueueNumMax,
 * QueueNum, ring addresses + QueueReady (modern) or QueueAlign + QueuePFN
 * (legacy); DRIVER_OK.
 *
 * Data path: gdrv_submit() lays out one virtio-blk request (header, data
 * descriptors, status) directly or in an indirect table when INDIRECT was
 * negotiated, publishes it (write barrier, avail->idx), gdrv_kick()
 * notifies unless suppressed (EVENT_IDX avail_event / NO_NOTIFY), and
 * gdrv_interrupt() reads InterruptStatus, acknowledges it and collects used
 * elements (EVENT_IDX: writes used_event).
 *
 * Hostile tests: the raw helpers write any descriptor, avail entry or
 * index; gdrv_blk_req.mangle runs after a request is laid out and before it
 * is published, so a test can corrupt exactly one field of a real request.
 *
 * Ownership: gdrv_create() borrows the gmem and the access opaque; free
 * with gdrv_destroy(). Single-threaded.
 */
#ifndef VBACK_TEST_GUEST_DRIVER_H
#define VBACK_TEST_GUEST_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include <vback/mmio.h>

#include "guest_mem.h"

/* How the driver reaches the device: MMIO at an offset of the window. */
struct gdrv_access {
	uint64_t (*mmio_read)(void *opaque, uint64_t off, unsigned int size);
	void (*mmio_write)(void *opaque, uint64_t off, unsigned int size,
			   uint64_t value);
	void *opaque;
};

/* Route straight to vback_mmio_read()/vback_mmio_write(). */
struct gdrv_access gdrv_mmio_access(struct vback_mmio *mmio);

/* Feature bits the driver knows (what Linux's virtio-blk would accept). */
#define GDRV_F(bit) (1ull << (bit))
#define GDRV_FEATURES_DEFAULT                                                  \
	(GDRV_F(1) | GDRV_F(2) | GDRV_F(5) | GDRV_F(6) | GDRV_F(9) |           \
	 GDRV_F(10) | GDRV_F(11) | GDRV_F(12) | GDRV_F(13) | GDRV_F(14) |      \
	 GDRV_F(16) | GDRV_F(28) | GDRV_F(29) | GDRV_F(32) | GDRV_F(33) |      \
	 GDRV_F(40))

struct gdrv_options {
	struct gdrv_access access;
	struct gmem *mem;
	uint64_t heap_base; /* guest memory the driver allocates from */
	uint64_t heap_size;
	uint64_t features; /* wanted (0: GDRV_FEATURES_DEFAULT) */
	uint64_t refuse;   /* never accepted (e.g. GDRV_F(29) = no EVENT_IDX) */
	uint16_t queue_size;	 /* 0: min(QueueNumMax, 128) */
	unsigned int num_queues; /* 0: 1 */
	uint32_t max_data;	 /* data bytes per request slot (0: 16 KiB) */
	unsigned int max_segs;	 /* data descriptors per request (0: 8) */
	/* Let the device side run what it deferred (its loop) before the
	 * driver looks at a used ring, and after a kick. Optional. */
	void (*pump)(void *opaque);
	void *pump_opaque;
};

struct gdrv;

struct gdrv *gdrv_create(const struct gdrv_options *opts);
void gdrv_destroy(struct gdrv *d);

/*
 * Full probe. 0; -ENODEV (bad magic / device id 0); -ENXIO (unknown
 * version); -EIO (FEATURES_OK refused, FAILED set); -ENOENT (QueueNumMax
 * 0); -EBUSY (queue already ready); -EFAULT (QueueReady did not stick or
 * out of guest memory).
 */
int gdrv_probe(struct gdrv *d);

/* The steps of gdrv_probe(), for tests that stop half-way. */
int gdrv_init_features(struct gdrv *d); /* reset..FEATURES_OK */
int gdrv_setup_queue(struct gdrv *d, unsigned int q);
void gdrv_driver_ok(struct gdrv *d);
void gdrv_reset(struct gdrv *d); /* Status = 0, forget queues, free heap */

uint32_t gdrv_version(const struct gdrv *d);
uint64_t gdrv_device_features(const struct gdrv *d);
uint64_t gdrv_features(const struct gdrv *d); /* negotiated */
bool gdrv_has(const struct gdrv *d, unsigned int bit);
uint8_t gdrv_status(struct gdrv *d); /* reads Status */
/* Config space through the window (modern: generation-checked). */
uint64_t gdrv_config_read(struct gdrv *d, uint32_t off, unsigned int size);
void gdrv_config_write(struct gdrv *d, uint32_t off, unsigned int size,
		       uint64_t val);

/* One virtio-blk request. */
struct gdrv_blk_req {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
	/* Device-readable payload (OUT, DISCARD, ... ) or where device-
	 * writable data is copied at completion (IN, GET_ID). */
	void *data;
	uint32_t len;
	unsigned int segs;   /* data descriptors (0: 1), <= max_segs */
	bool no_indirect;    /* lay out directly even if INDIRECT is on */
	bool force_indirect; /* use a table even for one descriptor */
	/* Called after layout, before publishing: corrupt what you like. */
	void (*mangle)(struct gdrv *d, unsigned int q, uint16_t head,
		       void *arg);
	void *mangle_arg;
};

/* Lay out and publish (no kick). The head (>= 0), -ENOSPC, -EINVAL. */
int gdrv_submit(struct gdrv *d, unsigned int q, const struct gdrv_blk_req *r);
/* Notify if the device wants it (or always when @force). True if sent. */
bool gdrv_kick(struct gdrv *d, unsigned int q, bool force);

struct gdrv_done {
	uint16_t head;
	uint32_t len;	/* used length */
	uint8_t status; /* the request's status byte */
	uint32_t type;
};

/*
 * Interrupt handler: read InterruptStatus, write InterruptACK, count config
 * changes. Returns the status bits read.
 */
uint32_t gdrv_interrupt(struct gdrv *d);
/*
 * Collect up to @max used elements of queue @q into @out (copying IN data
 * back to the caller's buffer). Returns how many; a used element that
 * does not match a request in flight counts in gdrv_stats().bad_used.
 */
unsigned int gdrv_poll(struct gdrv *d, unsigned int q, struct gdrv_done *out,
		       unsigned int max);

/* Submit, kick, handle the interrupt, poll one: for devices whose IO
 * completes at unplug. Returns the status byte, or -errno / -ETIMEDOUT if
 * no completion arrived. */
int gdrv_blk_sync(struct gdrv *d, unsigned int q, struct gdrv_blk_req *r);

/* gdrv_blk_sync() of one request of @type at @sector over @len bytes of
 * @buf, split into @segs data descriptors (0: one). */
int gdrv_blk_rw(struct gdrv *d, unsigned int q, uint32_t type, uint64_t sector,
		void *buf, uint32_t len, unsigned int segs);

struct gdrv_stats {
	uint64_t kicks, kicks_suppressed;
	uint64_t irqs, irq_vring, irq_config;
	uint64_t completions, bad_used;
};
const struct gdrv_stats *gdrv_stats(const struct gdrv *d);
unsigned int gdrv_inflight(const struct gdrv *d, unsigned int q);

/* ---- raw access for hostile tests ---- */

struct gdrv_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct gdrv_queue_info {
	uint16_t size;
	uint64_t desc, avail, used; /* guest addresses */
};
int gdrv_queue_info(const struct gdrv *d, unsigned int q,
		    struct gdrv_queue_info *info);
/* Allocate guest memory from the driver heap (freed by gdrv_reset()).
 * 0 on failure. */
uint64_t gdrv_alloc(struct gdrv *d, uint64_t len, uint64_t align);
/* Read/write a descriptor at guest address @gpa. */
void gdrv_desc_get(struct gdrv *d, uint64_t gpa, struct gdrv_desc *out);
void gdrv_desc_set(struct gdrv *d, uint64_t gpa, const struct gdrv_desc *in);
/* Guest address of ring descriptor @i of queue @q. */
uint64_t gdrv_ring_desc_gpa(const struct gdrv *d, unsigned int q, uint16_t i);
/* Guest address of descriptor @i (0 = first) of the chain at @head as the
 * driver laid it out (inside the indirect table if one is used). 0 if
 * out of range. */
uint64_t gdrv_chain_desc_gpa(const struct gdrv *d, unsigned int q,
			     uint16_t head, unsigned int i);
unsigned int gdrv_chain_len(const struct gdrv *d, unsigned int q,
			    uint16_t head);
/* Guest address of the request's header / status byte. */
uint64_t gdrv_req_hdr_gpa(const struct gdrv *d, unsigned int q, uint16_t head);
uint64_t gdrv_req_status_gpa(const struct gdrv *d, unsigned int q,
			     uint16_t head);
/* Put @head in the next avail slot and publish avail->idx + 1. */
void gdrv_raw_avail(struct gdrv *d, unsigned int q, uint16_t head);
/* Write avail->idx (and the driver's shadow) as is. */
void gdrv_raw_avail_idx(struct gdrv *d, unsigned int q, uint16_t idx);
void gdrv_raw_avail_flags(struct gdrv *d, unsigned int q, uint16_t flags);
uint16_t gdrv_raw_used_idx(struct gdrv *d, unsigned int q);
void gdrv_raw_used_elem(struct gdrv *d, unsigned int q, uint16_t i,
			uint32_t *id, uint32_t *len);
uint16_t gdrv_raw_avail_event(struct gdrv *d, unsigned int q);
/* Mark a head busy/free in the driver's bookkeeping (after raw use). */
void gdrv_raw_claim(struct gdrv *d, unsigned int q, uint16_t head, bool busy);
/* The guest memory the driver was created with. */
struct gmem *gdrv_mem(const struct gdrv *d);
/* Direct register access through the access interface. */
uint32_t gdrv_reg_read(struct gdrv *d, uint64_t off);
void gdrv_reg_write(struct gdrv *d, uint64_t off, uint32_t val);

#endif /* VBACK_TEST_GUEST_DRIVER_H */
