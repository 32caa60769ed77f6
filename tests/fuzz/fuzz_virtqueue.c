/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: split-ring chain parsing (virtio/virtqueue.c).
 *
 * A minimal device type on the real device core pops whatever the input
 * puts in the rings: descriptor tables, indirect tables, avail entries and
 * indexes, all in fake guest memory of several regions (rings and buffers
 * straddle region boundaries and run into holes). Popped chains are
 * completed at once or held and completed later, across queue resets,
 * stops and device resets (late completions of orphans).
 *
 * Invariants: every iovec of a popped chain lies inside one region and
 * writable pieces are not in a read-only one; lengths add up; every head is
 * returned at most once per hand-over (fz_ring); every mapping is released
 * when the queue is gone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "fuzz_common.h"
#include "ring.h"
#include "virtqueue.h"

#define MAX_HELD 64
#define MAX_OPS	 256

struct vqdev {
	struct vback_dev dev; /* first: the core hands us &vqdev->dev */
	struct fz *f;
	struct fz_mem *mem;
	struct vq_elem *held[MAX_HELD];
	unsigned int nheld;
	unsigned int pops;
};

static struct vqdev *to_vqdev(struct vback_dev *dev)
{
	return (struct vqdev *)dev;
}

static void check_elem(struct vqdev *d, struct vq *vq, struct vq_elem *e)
{
	uint64_t out = 0, in = 0;

	FZ_CHECK(e->head < vq->size, "head %u size %u", e->head, vq->size);
	FZ_CHECK(e->inflight, "popped element %u not in flight", e->head);
	for (unsigned int i = 0; i < e->nout + e->nin; i++) {
		bool w = i >= e->nout;

		FZ_CHECK(e->iov[i].iov_len > 0, "empty iovec %u", i);
		FZ_CHECK(fz_mem_holds(d->mem, e->iov[i].iov_base,
				      e->iov[i].iov_len, w),
			 "iovec %u (%s, %zu bytes) outside guest memory", i,
			 w ? "writable" : "readable", e->iov[i].iov_len);
		if (w)
			in += e->iov[i].iov_len;
		else
			out += e->iov[i].iov_len;
	}
	if (!e->truncated) {
		FZ_CHECK(out == e->out_len && in == e->in_len,
			 "iovecs %llu/%llu, chain %u/%u",
			 (unsigned long long)out, (unsigned long long)in,
			 e->out_len, e->in_len);
	}
	FZ_CHECK(!e->in_len == !e->last_in, "in_len %u, last_in %p", e->in_len,
		 (void *)e->last_in);
	if (e->last_in)
		FZ_CHECK(fz_mem_holds(d->mem, e->last_in, 1, true),
			 "last writable byte outside guest memory");
}

static void complete(struct vqdev *d, struct vq_elem *e, uint32_t len)
{
	(void)d;
	if (len > e->in_len)
		len = e->in_len;
	/* Write what a device would: the status byte. */
	if (e->last_in && dev_elem_live(e))
		*e->last_in = 0;
	dev_complete(e, len);
}

static int vqdev_handle(struct vback_dev *dev, struct vq_elem *e)
{
	struct vqdev *d = to_vqdev(dev);

	d->pops++;
	check_elem(d, dev_elem_vq(dev, e), e);
	if ((fz_u8(d->f) & 1) && d->nheld < MAX_HELD)
		d->held[d->nheld++] = e;
	else
		dev_complete(e, e->in_len);
	return VDEV_TAKEN;
}

static void vqdev_config_read(struct vback_dev *dev, uint32_t off, void *buf,
			      uint32_t len)
{
	(void)dev;
	(void)off;
	memset(buf, 0, len);
}

static void vqdev_destroy(struct vback_dev *dev)
{
	dev_fini(dev);
	free(to_vqdev(dev));
}

static const struct vdev_type_ops vqdev_ops = {
	.handle = vqdev_handle,
	.config_read = vqdev_config_read,
	.destroy = vqdev_destroy,
};

struct drv {
	struct vqdev *d;
	struct vback_loop *loop;
	struct fz_mem *mem;
	struct fz_ring ring;
	struct fz_drvq q;
};

static void setup_queue(struct drv *v, struct fz *f)
{
	struct vback_dev *dev = &v->d->dev;
	int ret;

	fz_drvq_pick(&v->q, f, FZ_MAX_RING);
	dev->iov_cap = 1 + (fz_u8(f) & 15);
	vback_dev_queue_set_size(dev, 0, v->q.size);
	vback_dev_queue_set_addr(dev, 0, &v->q.addr);
	vback_dev_set_driver_features(dev, fz_u64(f));
	fz_drvq_init_used(&v->q, vback_dev_queue_last_avail(dev, 0));
	v->mem->ring_maps_ok = true;
	ret = vback_dev_queue_enable(dev, 0);
	v->mem->ring_maps_ok = false;
	v->q.avail_idx = vback_dev_queue_last_avail(dev, 0);
	if (ret == 0)
		fz_ring_rebase(&v->ring);
}

/* A chain of 1..8 descriptors, readable ones first, maybe indirect. */
static void build_chain(struct drv *v, struct fz *f)
{
	struct fz_seg segs[8];
	uint16_t head = fz_u8(f);
	unsigned int n = 1 + fz_u8(f) % 8, nread = fz_u8(f) % (n + 1);
	uint64_t table = 0;

	if ((fz_u8(f) & 3) == 3)
		table = fz_addr_aligned(v->mem, f, 16);
	for (unsigned int i = 0; i < n; i++) {
		segs[i].addr = fz_addr(v->mem, f);
		segs[i].len = fz_len(f);
		segs[i].write = i >= nread;
	}
	fz_drvq_chain(&v->q, head, segs, n, table);
	fz_drvq_publish(&v->q, (uint16_t)(head & (v->q.size - 1)));
}

static void complete_held(struct vqdev *d, unsigned int k, uint32_t len)
{
	struct vq_elem *e;

	if (!d->nheld)
		return;
	k %= d->nheld;
	e = d->held[k];
	d->held[k] = d->held[--d->nheld];
	complete(d, e, len);
}

static void step(struct drv *v, struct fz *f)
{
	struct vback_dev *dev = &v->d->dev;
	uint8_t op = fz_u8(f);

	switch (op % 14) {
	case 0:
		setup_queue(v, f);
		break;
	case 1: /* one ring descriptor, any fields */
		fz_desc(v->mem, v->q.addr.desc, fz_u16(f) % (v->q.size + 1u),
			fz_addr(v->mem, f), fz_len(f), fz_u8(f), fz_u16(f));
		break;
	case 2: /* one descriptor anywhere (indirect tables) */
		fz_desc(v->mem, fz_addr_aligned(v->mem, f, 16), fz_u8(f) % 16,
			fz_addr(v->mem, f), fz_len(f), fz_u8(f), fz_u8(f));
		break;
	case 3: { /* publish a head, usually in range */
		uint16_t h = fz_u16(f);

		if (!(h & 0x8000))
			h %= v->q.size;
		fz_drvq_publish(&v->q, h);
		break;
	}
	case 4: /* avail idx, flags or used_event as given */
		switch (fz_u8(f) % 3) {
		case 0:
			v->q.avail_idx = fz_u16(f);
			fz_poke16(v->mem, v->q.addr.avail + 2, v->q.avail_idx);
			break;
		case 1:
			fz_poke16(v->mem, v->q.addr.avail, fz_u16(f));
			break;
		default:
			fz_poke16(v->mem,
				  v->q.addr.avail + 4 + 2ull * v->q.size,
				  fz_u16(f));
		}
		break;
	case 5:
	case 6:
		vback_dev_queue_kick(dev, 0);
		fz_loop_run(v->loop);
		break;
	case 7:
		complete_held(v->d, fz_u8(f), fz_u32(f));
		fz_loop_run(v->loop);
		break;
	case 8:
		vback_dev_queue_reset(dev, 0);
		fz_ring_rebase(&v->ring);
		break;
	case 9:
		vback_dev_queue_stop(dev, 0);
		break;
	case 10:
		vback_dev_queue_set_last_avail(dev, 0, fz_u16(f));
		break;
	case 11:
		vback_dev_reset(dev);
		fz_ring_rebase(&v->ring);
		break;
	case 12: { /* raw bytes anywhere but the used ring */
		uint8_t buf[32];
		uint64_t gpa = fz_addr(v->mem, f);
		size_t n = fz_bytes(f, buf, 1 + fz_u8(f) % sizeof(buf));

		if (!fz_ring_covers_used(&v->ring, gpa, n))
			fz_poke(v->mem, gpa, buf, n);
		break;
	}
	default:
		build_chain(v, f);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct vback_dev_transport t = { 0 };
	struct fz_mem mem;
	struct drv v;
	struct vqdev *d;

	if (fz_mem_init(&mem, &f, 0))
		return 0;
	d = calloc(1, sizeof(*d));
	FZ_CHECK(d, "%s", "out of memory");
	FZ_CHECK(dev_init(&d->dev, &vqdev_ops, 0x7f, 1, FZ_MAX_RING, 0,
			  &fz_quiet_log, "fuzz") == 0,
		 "%s", "dev_init");
	d->dev.device_features = VB_BIT(VIRTIO_F_RING_INDIRECT_DESC) |
				 VB_BIT(VIRTIO_F_RING_EVENT_IDX);
	d->f = &f;
	d->mem = &mem;
	memset(&v, 0, sizeof(v));
	v.loop = fz_loop_create();
	t.ops = &fz_null_transport_ops;
	t.gm = mem.gm;
	t.loop = v.loop;
	FZ_CHECK(vback_dev_attach(&d->dev, &t) == 0, "%s", "attach");
	/* The driver is ready: kicks are served. */
	d->dev.status = VBACK_STATUS_DRIVER_OK;

	v.d = d;
	v.mem = &mem;
	v.q.mem = &mem;
	fz_ring_init(&v.ring, &d->dev, &mem, 0);
	setup_queue(&v, &f);
	fz_ring_check(&v.ring);
	for (unsigned int i = 0; i < MAX_OPS && !fz_empty(&f); i++) {
		step(&v, &f);
		fz_ring_check(&v.ring);
	}
	/* Late completions after a reset, or in-order ones before it. */
	if (fz_u8(&f) & 1) {
		vback_dev_reset(&d->dev);
		fz_ring_rebase(&v.ring);
	}
	while (d->nheld) {
		complete_held(d, 0, 0);
		fz_loop_run(v.loop);
		fz_ring_check(&v.ring);
	}
	fz_trace("end: %u pops, %llu used entries", d->pops,
		 (unsigned long long)v.ring.total_returned);
	vback_dev_detach(&d->dev);
	FZ_CHECK(vback_dev_inflight(&d->dev) == 0, "%u in flight at the end",
		 vback_dev_inflight(&d->dev));
	fz_mem_check_released(&mem);
	vback_dev_destroy(&d->dev);
	fz_loop_destroy(v.loop);
	fz_mem_fini(&mem);
	return 0;
}
