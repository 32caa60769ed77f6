/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: virtio-blk request processing (virtio/blk.c) on the memory
 * IO engine, the device bound directly to a transport stub (no register
 * file). The input chooses the disk (size, read-only, queue depth), the
 * device options, the negotiated features, and then a sequence of driver
 * actions: well-formed or mangled requests of any type, raw descriptors,
 * kicks, IO completions (the loop), queue and device resets with IO in
 * flight, cache-mode writes, resizes.
 *
 * IO can be held in flight; with the first byte's bit 6 it fails as the
 * input says (refused by submit(), back-pressure, or failed on
 * completion); bit 7 reports a volatile write cache (writethrough).
 *
 * Invariants: every buffer the device hands to the IO layer lies inside
 * guest memory (writable for reads into the guest); a read-only disk gets
 * no modifying request and its contents never change; every head is
 * returned at most once per hand-over; nothing stays mapped or in flight.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vback/io.h>
#include <vback/mmio.h>

#include "fuzz_common.h"
#include "ring.h"

#define MAX_OPS	 192
#define NQ	 2
#define DISK_MAX (64u * 1024u)

#define MAX_INFLIGHT 1024 /* NQ rings of at most 256 heads, and slack */

/*
 * A checking IO layer in front of the memory engine (which completes at
 * unplug). It counts requests in flight by standing in for their done()
 * callback, and queues them before the engine: while the input holds IO,
 * requests stay in flight across kicks, resets and cache changes. With
 * faults on, the input decides for each request: refused by submit()
 * (-EAGAIN only while another is in flight, as io.h allows), failed when
 * released, or passed on to the engine.
 */
struct chk_req {
	struct vback_io_req *req; /* NULL: free slot */
	void (*done)(struct vback_io_req *req, int result);
};

struct chk_io {
	struct vback_io real;
	struct fz_mem *mem;
	struct fz *faults; /* NULL: no fault injection */
	bool read_only, volatile_cache, hold;
	uint64_t submits, modifying, faults_injected;
	unsigned int inflight;
	struct chk_req slots[MAX_INFLIGHT];
	/* Accepted, not given to the engine yet; err: fail with it. */
	struct vback_io_req *queued[MAX_INFLIGHT];
	int queued_err[MAX_INFLIGHT];
	unsigned int nqueued;
};

static const int fault_errs[] = { -EIO, -EOPNOTSUPP, -ENOSPC, -EROFS, -EINVAL };

static struct chk_io *chk_of_done; /* the one instance (for chk_done) */

static void chk_release(struct chk_io *c);

static struct chk_req *chk_slot(struct chk_io *c, struct vback_io_req *req)
{
	for (unsigned int i = 0; i < MAX_INFLIGHT; i++)
		if (c->slots[i].req == req)
			return &c->slots[i];
	return NULL;
}

static void chk_done(struct vback_io_req *req, int result)
{
	struct chk_io *c = chk_of_done;
	struct chk_req *s = chk_slot(c, req);
	void (*done)(struct vback_io_req *, int);

	FZ_CHECK(s, "%s", "done() for a request not in flight");
	done = s->done;
	s->req = NULL;
	c->inflight--;
	req->done = done;
	done(req, result); /* may submit again, even @req */
	chk_release(c);	   /* the engine has room again */
}

/* Hand queued requests to the engine (or fail them), unless held. */
static void chk_release(struct chk_io *c)
{
	unsigned int n = 0;

	while (!c->hold && c->nqueued) {
		struct vback_io_req *req = c->queued[0];
		int err = c->queued_err[0];

		if (!err) {
			err = vback_io_submit(&c->real, req);
			if (err == -EAGAIN)
				break; /* engine full: retried on a completion */
			n += !err;
		}
		c->nqueued--;
		memmove(c->queued, c->queued + 1,
			c->nqueued * sizeof(*c->queued));
		memmove(c->queued_err, c->queued_err + 1,
			c->nqueued * sizeof(*c->queued_err));
		if (err)
			chk_done(req, err);
	}
	if (n)
		vback_io_unplug(&c->real);
}

/* The error submit() returns, 1 to accept and queue, or 0 to accept and
 * fail on release with *@err. */
static int chk_fault(struct chk_io *c, int *err)
{
	uint8_t b = fz_u8(c->faults);

	*err = fault_errs[(b >> 2) % 5];
	switch (b & 3) {
	case 0:
		c->faults_injected++;
		if ((b & 0x80) && c->inflight)
			return -EAGAIN;
		return *err;
	case 1:
		c->faults_injected++;
		return 0;
	default:
		*err = 0;
		return 1;
	}
}

static int chk_submit(void *opaque, struct vback_io_req *req)
{
	struct chk_io *c = opaque;
	bool modifies = req->op != VBACK_IO_READ && req->op != VBACK_IO_FLUSH;
	struct chk_req *s;
	int ret, err = 0;

	FZ_CHECK(!(c->read_only && modifies),
		 "op %d reached the IO layer of a read-only disk", req->op);
	if (req->op == VBACK_IO_READ || req->op == VBACK_IO_WRITE) {
		for (unsigned int i = 0; i < req->iovcnt; i++)
			FZ_CHECK(fz_mem_holds(c->mem, req->iov[i].iov_base,
					      req->iov[i].iov_len,
					      req->op == VBACK_IO_READ),
				 "iovec %u of op %d outside guest memory", i,
				 req->op);
	}
	s = NULL;
	for (unsigned int i = 0; i < MAX_INFLIGHT; i++) {
		FZ_CHECK(c->slots[i].req != req, "%s",
			 "a request submitted twice");
		if (!s && !c->slots[i].req)
			s = &c->slots[i];
	}
	FZ_CHECK(s, "%s", "more requests in flight than rings hold");
	ret = c->faults ? chk_fault(c, &err) : 1;
	if (ret < 0)
		return ret; /* refused */
	s->req = req;
	s->done = req->done;
	req->done = chk_done;
	if (!err && !c->hold && !c->nqueued) {
		/* Straight to the engine: its back-pressure reaches virtio-blk.
		 */
		ret = vback_io_submit(&c->real, req);
		if (ret < 0) {
			req->done = s->done;
			s->req = NULL;
			return ret;
		}
	} else {
		c->queued[c->nqueued] = req;
		c->queued_err[c->nqueued++] = err;
	}
	c->submits++;
	c->modifying += modifies;
	c->inflight++;
	return 0;
}

static void chk_unplug(void *opaque)
{
	struct chk_io *c = opaque;

	chk_release(c);
	vback_io_unplug(&c->real);
}

static int chk_get_caps(void *opaque, struct vback_io_caps *caps)
{
	struct chk_io *c = opaque;
	int ret = vback_io_get_caps(&c->real, caps);

	if (!ret && c->volatile_cache)
		caps->volatile_cache = true; /* writethrough needs FLUSH */
	return ret;
}

static void chk_close(void *opaque)
{
	(void)opaque; /* the harness closes the real engine itself */
}

static const struct vback_io_ops chk_ops = {
	.submit = chk_submit,
	.unplug = chk_unplug,
	.get_caps = chk_get_caps,
	.close = chk_close,
};

/* Read the whole disk straight from the engine (for the read-only check). */
struct snap {
	bool done;
	int result;
};

static void snap_done(struct vback_io_req *req, int result)
{
	struct snap *s = req->opaque;

	s->done = true;
	s->result = result;
}

static void settle(const struct vback_loop *loop)
{
	for (int i = 0; i < 1000; i++)
		if (vback_loop_run_once(loop, 0) <= 0)
			return;
}

static void disk_read(const struct vback_io *io, const struct vback_loop *loop,
		      uint8_t *buf, uint64_t len)
{
	struct vback_iovec iov = { buf, (size_t)len };
	struct vback_io_req req;
	struct snap s = { false, 0 };

	memset(&req, 0, sizeof(req));
	req.op = VBACK_IO_READ;
	req.iov = &iov;
	req.iovcnt = 1;
	req.done = snap_done;
	req.opaque = &s;
	FZ_CHECK(vback_io_submit(io, &req) == 0, "%s", "snapshot read");
	vback_io_unplug(io);
	while (!s.done)
		settle(loop);
	FZ_CHECK(s.result == 0, "snapshot read: %d", s.result);
}

struct h {
	struct fz_mem mem;
	struct fz_drvq q[NQ];
	struct fz_ring ring[NQ];
	struct vback_dev *dev;
	struct vback_blk *blk;
	const struct vback_loop *loop;
	struct chk_io *chk;
	uint64_t disk_size;
};

static void setup_queue(struct h *h, struct fz *f, unsigned int q)
{
	int ret;

	fz_drvq_pick(&h->q[q], f, vback_dev_queue_max_size(h->dev, q));
	vback_dev_queue_set_size(h->dev, q, h->q[q].size);
	vback_dev_queue_set_addr(h->dev, q, &h->q[q].addr);
	fz_drvq_init_used(&h->q[q], vback_dev_queue_last_avail(h->dev, q));
	h->mem.ring_maps_ok = true;
	ret = vback_dev_queue_enable(h->dev, q);
	h->mem.ring_maps_ok = false;
	h->q[q].avail_idx = vback_dev_queue_last_avail(h->dev, q);
	if (ret == 0)
		fz_ring_rebase(&h->ring[q]);
}

static void negotiate(struct h *h, struct fz *f)
{
	uint64_t offered = vback_dev_features(h->dev);
	uint64_t want = fz_u64(f);

	vback_dev_set_status(h->dev, 0);
	vback_dev_set_status(h->dev,
			     VBACK_STATUS_ACKNOWLEDGE | VBACK_STATUS_DRIVER);
	/* Mostly a subset of the offer (with VERSION_1), sometimes not. */
	if (!(want & 1))
		want = (want & offered) | VB_BIT(VIRTIO_F_VERSION_1);
	vback_dev_set_driver_features(h->dev, want);
	vback_dev_set_status(h->dev, VBACK_STATUS_ACKNOWLEDGE |
					     VBACK_STATUS_DRIVER |
					     VBACK_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < NQ; q++)
		setup_queue(h, f, q);
	vback_dev_set_status(h->dev, VBACK_STATUS_ACKNOWLEDGE |
					     VBACK_STATUS_DRIVER |
					     VBACK_STATUS_FEATURES_OK |
					     VBACK_STATUS_DRIVER_OK);
}

static const uint32_t req_types[] = {
	VIRTIO_BLK_T_IN,	   VIRTIO_BLK_T_OUT,
	VIRTIO_BLK_T_FLUSH,	   VIRTIO_BLK_T_GET_ID,
	VIRTIO_BLK_T_GET_LIFETIME, VIRTIO_BLK_T_DISCARD,
	VIRTIO_BLK_T_WRITE_ZEROES, VIRTIO_BLK_T_SECURE_ERASE,
};

/* One virtio-blk request: header, data segments, status byte. */
static void build_request(struct h *h, struct fz *f)
{
	unsigned int q = fz_u8(f) % NQ;
	struct fz_drvq *d = &h->q[q];
	struct fz_seg segs[10];
	uint8_t shape = fz_u8(f);
	uint32_t type = req_types[shape % 8];
	unsigned int ndata = (shape >> 3) % 5, n = 0;
	bool in = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID ||
		  type == VIRTIO_BLK_T_GET_LIFETIME;
	uint64_t hdr = fz_addr(&h->mem, f), sector;
	uint64_t table = 0;
	uint16_t head = fz_u8(f);

	if (shape & 0x80)
		type = fz_u32(f); /* anything */
	sector = fz_u8(f) & 0x80 ? fz_u64(f)
				 : fz_u16(f) % (h->disk_size / 512 + 4);
	fz_poke32(&h->mem, hdr, type);
	fz_poke32(&h->mem, hdr + 4, fz_u8(f)); /* ioprio */
	fz_poke64(&h->mem, hdr + 8, sector);
	segs[n].addr = hdr;
	segs[n].len = fz_u8(f) & 0x40 ? fz_len(f) : 16;
	segs[n++].write = false;
	for (unsigned int i = 0; i < ndata; i++) {
		uint8_t k = fz_u8(f);

		segs[n].addr = fz_addr(&h->mem, f);
		segs[n].len = k & 0x80 ? fz_len(f) : 512u * (1 + (k & 3));
		/* The right direction for the type, unless mangled. */
		segs[n++].write = (k & 0x40) ? !in : in;
		if (type == VIRTIO_BLK_T_DISCARD ||
		    type == VIRTIO_BLK_T_WRITE_ZEROES ||
		    type == VIRTIO_BLK_T_SECURE_ERASE) {
			/* One 16-byte segment descriptor per buffer. */
			uint64_t a = segs[n - 1].addr;

			fz_poke64(&h->mem, a,
				  fz_u16(f) % (h->disk_size / 512 + 4));
			fz_poke32(&h->mem, a + 12, fz_u8(f) & 3);
			fz_poke32(&h->mem, a + 8, fz_u8(f));
		}
	}
	segs[n].addr = fz_addr(&h->mem, f);
	segs[n].len = fz_u8(f) & 0x40 ? fz_len(f) : 1;
	segs[n++].write = !(fz_u8(f) == 0x55);
	if ((fz_u8(f) & 7) == 7)
		table = fz_addr_aligned(&h->mem, f, 16);
	fz_drvq_chain(d, head, segs, n, table);
	fz_drvq_publish(d, (uint16_t)(head & (d->size - 1)));
}

static void step(struct h *h, struct fz *f)
{
	uint8_t op = fz_u8(f);
	unsigned int q = (op >> 4) % NQ;

	fz_trace("op %u q %u", op % 12, q);
	switch (op % 12) {
	case 0:
		negotiate(h, f);
		break;
	case 1:
		setup_queue(h, f, q);
		break;
	case 2: /* a raw descriptor */
		fz_desc(&h->mem, h->q[q].addr.desc,
			fz_u8(f) % (h->q[q].size + 1u), fz_addr(&h->mem, f),
			fz_len(f), fz_u8(f), fz_u16(f));
		break;
	case 3: /* a raw avail entry */
		fz_drvq_publish(&h->q[q], fz_u16(f));
		break;
	case 4:
	case 5:
		vback_dev_queue_kick(h->dev, q);
		break;
	case 6: /* IO: hold or let go, then run the loop */
		if (op & 0x80)
			h->chk->hold = !h->chk->hold;
		chk_release(h->chk);
		settle(h->loop);
		break;
	case 7:
		vback_dev_queue_reset(h->dev, q);
		fz_ring_rebase(&h->ring[q]);
		break;
	case 8: {
		uint8_t wce = fz_u8(f);

		vback_dev_config_write(h->dev, VBLK_CFG_WRITEBACK, &wce, 1);
		break;
	}
	case 9:
		vback_blk_resize(h->blk, 512ull * fz_u8(f));
		break;
	case 10:
		vback_dev_reset(h->dev);
		for (q = 0; q < NQ; q++)
			fz_ring_rebase(&h->ring[q]);
		break;
	default:
		build_request(h, f);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct vback_io_options io_opts;
	struct vback_blk_options o;
	struct vback_dev_transport t = { 0 };
	struct vback_loop *loop = NULL;
	struct chk_io chk;
	struct h h;
	uint8_t *before = NULL, *after = NULL;
	uint8_t cfg = 0;

	memset(&h, 0, sizeof(h));
	if (fz_mem_init(&h.mem, &f, 0))
		return 0;
	loop = fz_loop_create();
	h.loop = loop;

	cfg = fz_u8(&f);
	memset(&io_opts, 0, sizeof(io_opts));
	io_opts.engine = VBACK_IO_ENGINE_MEMORY;
	h.disk_size = 4096ull * (1 + fz_u8(&f) % (DISK_MAX / 4096));
	io_opts.mem_size = h.disk_size;
	io_opts.read_only = cfg & 1;
	io_opts.queue_depth = 1 + ((cfg >> 1) & 3);
	io_opts.log = &fz_quiet_log;
	memset(&chk, 0, sizeof(chk));
	FZ_CHECK(vback_io_open(&io_opts, loop, &chk.real) == 0, "%s",
		 "memory engine");
	chk.mem = &h.mem;
	chk.faults = (cfg & 64) ? &f : NULL;
	chk.volatile_cache = cfg & 128;
	chk_of_done = &chk;
	h.chk = &chk;

	memset(&o, 0, sizeof(o));
	o.io.ops = &chk_ops;
	o.io.opaque = &chk;
	o.num_queues = NQ;
	o.queue_size = (uint16_t)(1u << (fz_u8(&f) % 9));
	o.read_only = cfg & 8;
	o.writeback = cfg & 16;
	o.seg_max = fz_u8(&f) % 17;
	o.size_max = (cfg & 32) ? 512u * (1 + fz_u8(&f) % 8) : 0;
	memcpy(o.serial, "fuzz-serial-0123456789", sizeof(o.serial));
	o.log = &fz_quiet_log;
	o.name = "fuzz";
	chk.read_only = io_opts.read_only || o.read_only;
	if (vback_blk_create(&o, &h.blk))
		goto out_io;
	h.dev = vback_blk_dev(h.blk);
	t.ops = &fz_null_transport_ops;
	t.gm = h.mem.gm;
	t.loop = loop;
	FZ_CHECK(vback_dev_attach(h.dev, &t) == 0, "%s", "attach");

	if (chk.read_only) {
		before = malloc(h.disk_size);
		after = malloc(h.disk_size);
		FZ_CHECK(before && after, "%s", "out of memory");
		disk_read(&chk.real, loop, before, h.disk_size);
	}
	for (unsigned int q = 0; q < NQ; q++) {
		h.q[q].mem = &h.mem;
		fz_ring_init(&h.ring[q], h.dev, &h.mem, q);
	}
	negotiate(&h, &f);
	for (unsigned int i = 0; i < MAX_OPS && !fz_empty(&f); i++) {
		step(&h, &f);
		for (unsigned int q = 0; q < NQ; q++)
			fz_ring_check(&h.ring[q]);
	}
	settle(loop);
	for (unsigned int q = 0; q < NQ; q++)
		fz_ring_check(&h.ring[q]);

	fz_trace("end: %llu IO requests (%llu faults), %llu + %llu used "
		 "entries",
		 (unsigned long long)chk.submits,
		 (unsigned long long)chk.faults_injected,
		 (unsigned long long)h.ring[0].total_returned,
		 (unsigned long long)h.ring[1].total_returned);
	/* Teardown in the documented order, maybe with IO in flight. */
	chk.hold = false;
	chk_release(&chk);
	vback_dev_detach(h.dev);
	settle(loop);
	FZ_CHECK(vback_dev_inflight(h.dev) == 0, "%u in flight after drain",
		 vback_dev_inflight(h.dev));
	FZ_CHECK(chk.inflight == 0, "%u IO requests never completed",
		 chk.inflight);
	if (chk.read_only) {
		disk_read(&chk.real, loop, after, h.disk_size);
		FZ_CHECK(!memcmp(before, after, h.disk_size), "%s",
			 "a read-only disk changed");
		FZ_CHECK(chk.modifying == 0, "%s", "modifying IO submitted");
	}
	vback_blk_destroy(h.blk);
	fz_mem_check_released(&h.mem);
out_io:
	vback_io_close(&chk.real);
	free(before);
	free(after);
	fz_loop_destroy(loop);
	fz_mem_fini(&h.mem);
	return 0;
}
