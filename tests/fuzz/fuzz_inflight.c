/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the in-flight record (virtio/inflight.c) - what a restarted
 * backend finds and adopts.
 *
 * The input lays out guest memory, a ring (indices, avail entries,
 * chains) and a record of any length: header and entries mostly plausible
 * (version 1, the ring's size, flags 0/1, a used index near the ring's),
 * sometimes anything. A device adopts it and runs: adopted heads first,
 * then new chains; IO is held and completed in any order; kicks, queue
 * and device resets, stops, and the front-end scribbling on the record or
 * the guest on its ring meanwhile. Then the device "dies" (its held
 * requests never complete) and a second one adopts what it left.
 *
 * Invariants: nothing is written outside the record (an allocation of
 * exactly its length, under ASan) or guest memory; an adopted record
 * moves the queue to used->idx + the heads it resubmits, never more than
 * the ring holds; a head is never handed to the device while it is in
 * flight; when nothing disturbed them, the second device adopts exactly
 * the heads the first one held, in the order it took them; nothing is in
 * flight at the end and every mapping is released.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "fuzz_common.h"
#include "ring.h"
#include "virtqueue.h"

#define MAX_RING 64u
#define MAX_OPS	 200

struct recdev {
	struct vback_dev dev; /* first: the core hands us &recdev->dev */
	struct fz *f;
	struct fz_mem *mem;
	bool hold_all;			/* the first device: hold everything */
	struct vq_elem *held[MAX_RING]; /* in the order taken */
	unsigned int nheld;
	bool in_flight[MAX_RING];
	uint16_t taken[MAX_RING]; /* heads handed over, in order */
	unsigned int ntaken;
};

static struct recdev *to_recdev(struct vback_dev *dev)
{
	return (struct recdev *)dev;
}

static int recdev_handle(struct vback_dev *dev, struct vq_elem *e)
{
	struct recdev *d = to_recdev(dev);
	struct vq *vq = dev_elem_vq(dev, e);

	FZ_CHECK(e->head < vq->size, "head %u of a ring of %u", e->head,
		 vq->size);
	FZ_CHECK(!d->in_flight[e->head], "head %u handed over twice", e->head);
	for (unsigned int i = 0; i < e->nout + e->nin; i++)
		FZ_CHECK(fz_mem_holds(d->mem, e->iov[i].iov_base,
				      e->iov[i].iov_len, i >= e->nout),
			 "iovec %u outside guest memory", i);
	if (d->ntaken < MAX_RING)
		d->taken[d->ntaken++] = e->head;
	if (d->hold_all || ((fz_u8(d->f) & 1) && d->nheld < MAX_RING)) {
		d->in_flight[e->head] = true;
		d->held[d->nheld++] = e;
		return VDEV_TAKEN;
	}
	if (e->last_in)
		*e->last_in = 0;
	dev_complete(e, e->in_len);
	return VDEV_TAKEN;
}

static void recdev_config_read(struct vback_dev *dev, uint32_t off, void *buf,
			       uint32_t len)
{
	(void)dev;
	(void)off;
	memset(buf, 0, len);
}

static void recdev_destroy(struct vback_dev *dev)
{
	dev_fini(dev);
	free(to_recdev(dev));
}

static const struct vdev_type_ops recdev_ops = {
	.handle = recdev_handle,
	.config_read = recdev_config_read,
	.destroy = recdev_destroy,
};

static void complete_held(struct recdev *d, unsigned int k)
{
	struct vq_elem *e;

	if (!d->nheld)
		return;
	k %= d->nheld;
	e = d->held[k];
	memmove(&d->held[k], &d->held[k + 1],
		(d->nheld - k - 1) * sizeof(d->held[0]));
	d->nheld--;
	if (dev_elem_live(e))
		d->in_flight[e->head] = false;
	if (e->last_in && dev_elem_live(e))
		*e->last_in = 0;
	dev_complete(e, e->in_len);
}

static struct recdev *recdev_new(struct fz *f, struct fz_mem *mem,
				 struct vback_loop *loop)
{
	struct vback_dev_transport t = { 0 };
	struct recdev *d = calloc(1, sizeof(*d));

	FZ_CHECK(d, "%s", "out of memory");
	FZ_CHECK(dev_init(&d->dev, &recdev_ops, 0x7f, 1, MAX_RING, 0,
			  &fz_quiet_log, "fuzz") == 0,
		 "%s", "dev_init");
	d->dev.device_features = VB_BIT(VIRTIO_F_RING_INDIRECT_DESC) |
				 VB_BIT(VIRTIO_F_RING_EVENT_IDX);
	d->f = f;
	d->mem = mem;
	t.ops = &fz_null_transport_ops;
	t.gm = mem->gm;
	t.loop = loop;
	FZ_CHECK(vback_dev_attach(&d->dev, &t) == 0, "%s", "attach");
	return d;
}

/* The end of a device: its held requests complete as orphans (a dead
 * process's never do; the record was forgotten before, so these touch
 * nothing the next one reads). */
static void recdev_free(struct recdev *d, struct vback_loop *loop)
{
	vback_dev_queue_set_inflight(&d->dev, 0, NULL, 0);
	vback_dev_detach(&d->dev);
	while (d->nheld)
		complete_held(d, 0);
	fz_loop_run(loop);
	FZ_CHECK(vback_dev_inflight(&d->dev) == 0, "%u in flight at the end",
		 vback_dev_inflight(&d->dev));
	vback_dev_destroy(&d->dev);
}

/* Enable with the record; check where the queue resumes. */
static int start(struct recdev *d, const struct fz_drvq *q, uint64_t features,
		 void *rec, size_t len, uint16_t base)
{
	struct vback_dev *dev = &d->dev;
	uint16_t used, resumed;
	int ret;

	vback_dev_queue_set_size(dev, 0, q->size);
	vback_dev_queue_set_addr(dev, 0, &q->addr);
	vback_dev_set_driver_features(dev, features);
	vback_dev_queue_set_last_avail(dev, 0, base);
	FZ_CHECK(vback_dev_queue_set_inflight(dev, 0, rec, len) == 0, "%s",
		 "set_inflight");
	d->mem->ring_maps_ok = true;
	ret = vback_dev_queue_enable(dev, 0);
	d->mem->ring_maps_ok = false;
	if (ret)
		return ret;
	resumed = (uint16_t)vback_dev_queue_resumed(dev, 0);
	used = fz_peek16(d->mem, q->addr.used + 2);
	fz_trace("enabled: size %u, used %u, %u adopted, resuming at %u%s%s",
		 q->size, used, resumed, vback_dev_queue_last_avail(dev, 0),
		 dev->vqs[0].rec.refused ? "; refused: " : "",
		 dev->vqs[0].rec.refused ? dev->vqs[0].rec.refused : "");
	FZ_CHECK(resumed <= q->size, "%u resumed on a ring of %u", resumed,
		 q->size);
	FZ_CHECK(vback_dev_inflight(dev) == resumed, "%u in flight, %u resumed",
		 vback_dev_inflight(dev), resumed);
	if (resumed)
		FZ_CHECK(vback_dev_queue_last_avail(dev, 0) ==
				 (uint16_t)(used + resumed),
			 "resumed %u at %u, used index %u", resumed,
			 vback_dev_queue_last_avail(dev, 0), used);
	return 0;
}

/* The record as the input says: mostly plausible for @q, or anything. */
static void fill_record(struct fz *f, uint8_t *rec, size_t len,
			const struct fz_drvq *q, uint16_t used)
{
	uint8_t mode = fz_u8(f);

	if (mode & 0x80) {
		fz_bytes(f, rec, len);
		return;
	}
	memset(rec, 0, len);
	if (len < 16)
		return;
	{
		uint16_t hdr[4] = {
			(mode & 3) == 3 ? fz_u16(f) : (mode & 1),
			(mode & 4) ? fz_u16(f) : q->size,
			(uint16_t)(fz_u8(f) % (q->size + 2u)),
			(mode & 8) ? fz_u16(f)
				   : (uint16_t)(used - fz_u8(f) % 3),
		};

		memcpy(rec + 8, hdr, sizeof(hdr));
	}
	for (size_t k = 0; 32 + 16 * k <= len && k < q->size; k++) {
		uint8_t *e = rec + 16 + 16 * k;
		uint8_t b = fz_u8(f);
		uint16_t next = (uint16_t)(fz_u8(f) % (q->size + 1u));
		uint64_t counter = fz_u8(f);

		e[0] = (b & 0x40) ? b : (b & 1);
		memcpy(e + 6, &next, 2);
		memcpy(e + 8, &counter, 8);
	}
}

/* A chain of 1..4 descriptors, readable ones first, published. */
static void build_chain(struct fz_drvq *q, struct fz_mem *mem, struct fz *f)
{
	struct fz_seg segs[4];
	uint16_t head = fz_u8(f);
	unsigned int n = 1 + fz_u8(f) % 4, nread = fz_u8(f) % (n + 1);

	for (unsigned int i = 0; i < n; i++) {
		segs[i].addr = fz_addr(mem, f);
		segs[i].len = fz_len(f);
		segs[i].write = i >= nread;
	}
	fz_drvq_chain(q, head, segs, n, 0);
	fz_drvq_publish(q, (uint16_t)(head & (q->size - 1)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct fz_mem mem;
	struct fz_drvq q = { 0 };
	struct vback_loop *loop;
	struct recdev *d, *d2;
	uint64_t features;
	uint16_t used, owed[2 * MAX_RING];
	unsigned int nowed = 0;
	bool disturbed = false;
	uint8_t *rec;
	size_t len;

	if (fz_mem_init(&mem, &f, 0))
		return 0;
	loop = fz_loop_create();
	q.mem = &mem;
	fz_drvq_pick(&q, &f, MAX_RING);
	/* The ring as a dead backend left it: indices, then some chains. */
	used = fz_u16(&f);
	fz_drvq_init_used(&q, used);
	q.avail_idx = (fz_u8(&f) & 1) ? fz_u16(&f) : used;
	fz_poke16(&mem, q.addr.avail + 2, q.avail_idx);
	for (unsigned int n = fz_u8(&f) % 8; n; n--)
		build_chain(&q, &mem, &f);
	len = vback_dev_inflight_record_size(q.size);
	switch (fz_u8(&f) % 8) {
	case 0:
		len = fz_u8(&f); /* too small, mostly */
		break;
	case 1:
		len += fz_u8(&f) % 64;
		break;
	default:
		break;
	}
	rec = malloc(len ? len : 1);
	FZ_CHECK(rec, "%s", "out of memory");
	fill_record(&f, rec, len, &q, fz_peek16(&mem, q.addr.used + 2));
	features = fz_u64(&f);

	/* The first device: adopts, runs, holds what the input says. */
	d = recdev_new(&f, &mem, loop);
	d->dev.status = VBACK_STATUS_DRIVER_OK;
	if (start(d, &q, features, rec, len, fz_u16(&f)) == 0) {
		/* A base the ring's used index contradicts: the indices are
		 * the input's, not the device's, from here on. */
		if (d->dev.vqs[0].used_idx != fz_peek16(&mem, q.addr.used + 2))
			disturbed = true;
		for (unsigned int i = 0; i < MAX_OPS && !fz_empty(&f); i++) {
			uint8_t op = fz_u8(&f);

			switch (op % 10) {
			case 0:
			case 1:
				vback_dev_queue_kick(&d->dev, 0);
				break;
			case 2:
				complete_held(d, fz_u8(&f));
				break;
			case 3:
			case 4:
				build_chain(&q, &mem, &f);
				break;
			case 5: /* the front-end scribbles on the record */
				if (len) {
					rec[fz_u16(&f) % len] = fz_u8(&f);
					disturbed = true;
				}
				break;
			case 6: /* the guest on its avail index */
				q.avail_idx = fz_u16(&f);
				fz_poke16(&mem, q.addr.avail + 2, q.avail_idx);
				disturbed = true;
				break;
			case 7:
				vback_dev_queue_stop(&d->dev, 0);
				disturbed = true;
				break;
			case 8:
				if (op & 0x80) {
					vback_dev_queue_reset(&d->dev, 0);
					disturbed = true;
				}
				break;
			default:
				fz_poke_input(&mem, &f);
				disturbed = true;
				break;
			}
			fz_loop_run(loop);
		}
	}
	/* It dies: what it held is owed. Only an undisturbed run makes the
	 * exact promise (a guest or front-end may break its own ring). */
	/* Device writes into a buffer the guest laid over its own ring
	 * indices change them under everybody: no promise either. */
	if (d->dev.vqs[0].published != fz_peek16(&mem, q.addr.used + 2) ||
	    q.avail_idx != fz_peek16(&mem, q.addr.avail + 2))
		disturbed = true;
	/* More outstanding than the ring holds: a driver that broke its
	 * ring (adoption refuses it). */
	if ((uint16_t)(q.avail_idx - d->dev.vqs[0].published) > q.size)
		disturbed = true;
	if (!disturbed && vback_dev_queue_enabled(&d->dev, 0) &&
	    !(vback_dev_status(&d->dev) & VBACK_STATUS_NEEDS_RESET) &&
	    len >= vback_dev_inflight_record_size(q.size)) {
		const struct vq_rec *r = &d->dev.vqs[0].rec;

		/* held[] keeps the order they were taken in; adopted heads
		 * not yet handed over come after them (nothing new is taken
		 * while they wait). */
		for (unsigned int i = 0; i < d->nheld; i++)
			owed[nowed++] = d->held[i]->head;
		for (unsigned int i = r->resubmit_pos; i < r->resubmit_n; i++)
			owed[nowed++] = r->resubmit[i];
	} else {
		disturbed = true;
	}
	fz_trace("died: %u held, %u owed%s", d->nheld, nowed,
		 disturbed ? " (disturbed)" : "");
	recdev_free(d, loop);

	if (len >= 16) {
		uint16_t hdr[4];

		memcpy(hdr, rec + 8, sizeof(hdr));
		fz_trace("record: version %u, %u entries, last batch head %u, "
			 "used index %u",
			 hdr[0], hdr[1], hdr[2], hdr[3]);
	}
	/* The next process adopts what is left. */
	d2 = recdev_new(&f, &mem, loop);
	d2->dev.status = VBACK_STATUS_DRIVER_OK;
	d2->hold_all = true;
	if (start(d2, &q, features, rec, len,
		  fz_peek16(&mem, q.addr.used + 2)) == 0 &&
	    !disturbed) {
		FZ_CHECK(vback_dev_queue_resumed(&d2->dev, 0) == nowed,
			 "%u adopted, %u owed",
			 vback_dev_queue_resumed(&d2->dev, 0), nowed);
		vback_dev_queue_kick(&d2->dev, 0);
		/* An owed chain the guest broke meanwhile stops the queue
		 * there: the heads before it were handed over. */
		FZ_CHECK(d2->ntaken >= nowed || (vback_dev_status(&d2->dev) &
						 VBACK_STATUS_NEEDS_RESET),
			 "%u taken, %u owed", d2->ntaken, nowed);
		for (unsigned int i = 0; i < nowed && i < d2->ntaken; i++)
			FZ_CHECK(d2->taken[i] == owed[i],
				 "adopted head %u is %u, owed %u", i,
				 d2->taken[i], owed[i]);
	}
	recdev_free(d2, loop);
	fz_mem_check_released(&mem);
	fz_loop_destroy(loop);
	fz_mem_fini(&mem);
	free(rec);
	return 0;
}
