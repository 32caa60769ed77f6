/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2 section 5.2) on top of the device core: requests
 * become IO-layer requests (include/vback/io.h) whose iovecs point into
 * guest memory. Every popped head is answered, with VIRTIO_BLK_S_IOERR or
 * VIRTIO_BLK_S_UNSUPP when the request is malformed or unknown.
 */
#include <limits.h>
#include <string.h>

#include "device.h"
#include "ring.h"
#include "vb_os.h"

#define BLK_DEFAULT_QUEUE_SIZE 256u
#define BLK_DEFAULT_SEG_MAX    126u
#define BLK_MAX_SEG_MAX	       1024u
/*
 * Pieces per request. A segment comes back from the transport in several
 * pieces when it crosses a guest-memory boundary (a vhost-user region, a
 * 1 MiB Xen map-cache chunk): a segment of L bytes crosses at most
 * L / boundary + 1 of them. So a valid request of n segments and B bytes
 * needs at most 2 * n + B / boundary pieces: per slot we keep two per
 * descriptor plus slack for B up to 32 MiB across 1 MiB chunks. Anything
 * longer is answered IOERR without mapping further (vq_walk stops).
 */
#define BLK_IOV_SLACK 32u
#define BLK_HDR_SIZE  16u

/* Per ring slot, preallocated at queue enable. */
struct blk_req {
	struct vback_io_req io; /* first: the done() callback casts back */
	struct vback_blk *blk;
	struct vq_elem *elem;
	uint32_t type;
	uint32_t written; /* data bytes written to the guest on success */
	uint64_t bytes;
	uint64_t taken_ns; /* loop clock when popped (latency_histogram) */
	bool flush_after;  /* writethrough: FLUSH before completing a write */
};

/* What the data path reads of the device's changing state. */
struct blk_cfg {
	uint64_t capacity; /* 512-byte sectors */
	uint8_t writeback; /* the cache mode: kept across device resets */
};

struct vback_blk {
	struct vback_dev dev; /* first: the core hands us &blk->dev */
	struct vback_io io;   /* the device's thread's, and default */
	/* Per queue (ops NULL: @io): an instance on the queue's loop. */
	struct vback_io *qio;
	struct vback_io_caps caps;
	char serial[VIRTIO_BLK_ID_BYTES];
	bool read_only;
	uint32_t seg_max;
	uint32_t size_max;
	/*
	 * @cfg is the device thread's; each group of queues reads its own
	 * copy, @gcfg[group index], refreshed on its thread through
	 * dev_sync_groups(). A change while a refresh is under way waits in
	 * @cfg_next; the guest hears of a resize once every copy has it.
	 */
	struct blk_cfg cfg;
	struct blk_cfg *gcfg;
	struct blk_cfg cfg_next;
	bool syncing, sync_again, resize_notify;
	/* Per queue, allocated with the device: cumulative across resets,
	 * so not in the ring contexts, which come and go with enables. Each
	 * written on its queue's thread only. */
	struct vback_blk_queue_stats *qstats;
	bool timing;		   /* latency_histogram */
	struct vback_io_req flush; /* the quiesce flush */
};

/* Returned by the request parsers when the request went to the IO layer. */
#define BLK_SUBMITTED (-1)

static struct vback_blk *to_blk(struct vback_dev *dev)
{
	return (struct vback_blk *)dev;
}

/* The copy of the config the queue of @e reads (its group's). */
static const struct blk_cfg *qcfg(const struct vback_blk *blk,
				  const struct vq_elem *e)
{
	return &blk->gcfg[blk->dev.vqs[e->ctx->q].group->index];
}

/* The IO instance queue @q submits to. */
static const struct vback_io *qio(const struct vback_blk *blk, unsigned int q)
{
	return blk->qio[q].ops ? &blk->qio[q] : &blk->io;
}

static bool writethrough(const struct vback_blk *blk, const struct blk_cfg *c)
{
	const struct vback_dev *dev = &blk->dev;

	if (!blk->caps.volatile_cache)
		return false;
	/* 5.2.6.4: without FLUSH or with WCE off, writes must be stable. */
	if (!dev_has(dev, VIRTIO_BLK_F_FLUSH))
		return true;
	return dev_has(dev, VIRTIO_BLK_F_CONFIG_WCE) && !c->writeback;
}

/*
 * Config `writeback`. The mode is not reset with the device (5.2.5: after
 * reset it may be either, the driver reads it after negotiation), so a
 * front-end that caches the config across its own resets, like QEMU's
 * vhost-user-blk across firmware and OS drivers, reconnects and
 * RESET_DEVICE, never disagrees with the device. A modern driver that
 * negotiated CONFIG_WCE without FLUSH reads 0 (5.2.5.2): writes are
 * stable then (writethrough()), whatever was written. The legacy
 * interface must not change the field for feature bits.
 */
static uint8_t report_writeback(const struct vback_blk *blk)
{
	const struct vback_dev *dev = &blk->dev;

	if (!dev->legacy && dev_has(dev, VIRTIO_BLK_F_CONFIG_WCE) &&
	    !dev_has(dev, VIRTIO_BLK_F_FLUSH))
		return 0;
	return blk->cfg.writeback;
}

/* Config write_zeroes_may_unmap: deallocating is discarding, so only
 * where discard is offered (not disabled by the toolstack or the IO). */
static uint8_t may_unmap(const struct vback_blk *blk)
{
	return dev_offers(&blk->dev, VIRTIO_BLK_F_DISCARD);
}

/* ------------------------------------------------------------------ */
/* Completion                                                          */
/* ------------------------------------------------------------------ */

static void count_in(struct vback_blk_stats *s, const struct blk_req *r,
		     uint8_t status)
{
	if (status == VIRTIO_BLK_S_UNSUPP) {
		s->unsupported++;
		return;
	}
	if (status != VIRTIO_BLK_S_OK) {
		s->io_errors++;
		return;
	}
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		s->reads++;
		s->bytes_read += r->bytes;
		break;
	case VIRTIO_BLK_T_OUT:
		s->writes++;
		s->bytes_written += r->bytes;
		break;
	case VIRTIO_BLK_T_FLUSH:
		s->flushes++;
		break;
	case VIRTIO_BLK_T_GET_ID:
		s->get_ids++;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_SECURE_ERASE:
		s->discards++;
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		s->write_zeroes++;
		break;
	default:
		break;
	}
}

/* Histogram bucket of a latency (see vback_blk_queue_stats): compares
 * with doubling limits, no 64-bit division (32-bit freestanding). */
static unsigned int latency_bucket(uint64_t ns)
{
	uint64_t limit = 1000;
	unsigned int b = 0;

	while (b < VBACK_BLK_LATENCY_BUCKETS - 1 && ns >= limit) {
		b++;
		limit <<= 1;
	}
	return b;
}

static void count(struct vback_blk *blk, const struct vq_elem *e,
		  const struct blk_req *r, uint8_t status)
{
	struct vback_blk_queue_stats *qs = &blk->qstats[e->ctx->q];

	count_in(&qs->req, r, status);
	if (blk->timing && blk->dev.attached) {
		uint64_t now = vback_loop_now(blk->dev.t.loop);

		qs->latency[latency_bucket(now > r->taken_ns ? now - r->taken_ns
							     : 0)]++;
	}
}

/*
 * The used length: the bytes written from the start of the writable part
 * (2.7.8: len may fall short, never over). The status is the last
 * writable byte; when the data written stops short of it (an error, a
 * status descriptor longer than one byte, a GET_ID buffer longer than the
 * ID) the gap is zeroed so the length can cover the status. A gap longer
 * than BLK_ZERO_MAX, or in a chain too long to be mapped whole, is left
 * alone and the length covers the data only: a guest must not make the
 * loop zero gigabytes for an error answer.
 */
#define BLK_ZERO_MAX (64u * 1024u)

static uint32_t used_len(const struct vq_elem *e, uint32_t written)
{
	uint32_t gap = e->in_len - 1u - written;

	if (gap) {
		if (gap > BLK_ZERO_MAX || e->truncated)
			return written;
		vback_iov_memset0(e->iov + e->nout, e->nin, written, gap);
	}
	return e->in_len;
}

/* Write the status byte and hand the head back to the core. */
static void blk_complete(struct vback_blk *blk, struct vq_elem *e,
			 uint8_t status)
{
	struct blk_req *r = e->priv;

	if (!dev_elem_live(e)) {
		/* The queue was reset: no status, no ring, no guest memory. */
		dev_complete(e, 0);
		return;
	}
	count(blk, e, r, status);
	*e->last_in = status;
	dev_complete(e,
		     used_len(e, status == VIRTIO_BLK_S_OK ? r->written : 0));
}

static uint8_t errno_status(int err)
{
	return err == -EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

static void blk_io_done(struct vback_io_req *req, int result)
{
	struct blk_req *r = (struct blk_req *)req;
	struct vq_elem *e = r->elem;
	struct vback_blk *blk = r->blk;

	if (!result && r->flush_after && dev_elem_live(e)) {
		r->flush_after = false;
		r->io.op = VBACK_IO_FLUSH;
		r->io.iov = NULL;
		r->io.iovcnt = 0;
		result = vback_io_submit(qio(blk, e->ctx->q), req);
		if (!result) {
			/* Like any batch: an engine may hold it until then. */
			vback_io_unplug(qio(blk, e->ctx->q));
			return;
		}
	}
	blk_complete(blk, e, result ? errno_status(result) : VIRTIO_BLK_S_OK);
}

/* Hand @e's request to the IO layer: VDEV_TAKEN or VDEV_BLOCKED. */
static int blk_submit(struct vback_blk *blk, struct vq_elem *e)
{
	struct blk_req *r = e->priv;
	int rc;

	r->io.done = blk_io_done;
	r->io.opaque = r;
	rc = vback_io_submit(qio(blk, e->ctx->q), &r->io);
	if (rc == -EAGAIN)
		return VDEV_BLOCKED; /* the core retries after a completion */
	if (rc)
		blk_complete(blk, e, errno_status(rc));
	return VDEV_TAKEN;
}

static int blk_retry(struct vback_dev *dev, struct vq_elem *e)
{
	return blk_submit(to_blk(dev), e);
}

static void blk_batch_end(struct vback_dev *dev, unsigned int q)
{
	vback_io_unplug(qio(to_blk(dev), q));
}

static void blk_flush_done(struct vback_io_req *req, int result)
{
	struct vback_blk *blk = req->opaque;

	blk->dev.type_inflight--;
	dev_quiesce_done(&blk->dev, result);
}

/* The end of a quiesce: one FLUSH makes every completed write durable. */
static void blk_flush(struct vback_dev *dev)
{
	struct vback_blk *blk = to_blk(dev);
	int rc;

	if (blk->read_only) {
		dev_quiesce_done(dev, 0);
		return;
	}
	memset(&blk->flush, 0, sizeof(blk->flush));
	blk->flush.op = VBACK_IO_FLUSH;
	blk->flush.done = blk_flush_done;
	blk->flush.opaque = blk;
	rc = vback_io_submit(&blk->io, &blk->flush);
	if (rc) {
		dev_quiesce_done(dev, rc);
		return;
	}
	dev->type_inflight++;
	vback_io_unplug(&blk->io);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* Is [sector, sector + nsec) inside the disk? Overflow-safe. */
static bool in_range(const struct blk_cfg *c, uint64_t sector, uint64_t nsec)
{
	return sector <= c->capacity && nsec <= c->capacity - sector;
}

static int blk_rw(struct vback_blk *blk, struct vq_elem *e, struct blk_req *r,
		  uint64_t sector, bool write)
{
	struct vback_iovec *iov;
	unsigned int n;
	uint64_t len;

	if (write && blk->read_only)
		return VIRTIO_BLK_S_IOERR; /* 5.2.6.2: never reaches IO */
	len = write ? e->out_len - BLK_HDR_SIZE : e->in_len - 1u;
	if (len % VIRTIO_BLK_SECTOR)
		return VIRTIO_BLK_S_IOERR;
	if (e->ndesc > blk->seg_max + 2u)
		return VIRTIO_BLK_S_IOERR;
	/* SIZE_MAX: no segment may be longer (5.2.4). */
	if (blk->size_max && e->max_len > blk->size_max)
		return VIRTIO_BLK_S_IOERR;
	if (sector > UINT64_MAX / VIRTIO_BLK_SECTOR ||
	    !in_range(qcfg(blk, e), sector, len / VIRTIO_BLK_SECTOR))
		return VIRTIO_BLK_S_IOERR;
	r->bytes = len;
	r->written = write ? 0u : (uint32_t)len;
	if (!len)
		return VIRTIO_BLK_S_OK;
	if (write) {
		/* The data follows the 16 header bytes (any framing). */
		size_t skip = BLK_HDR_SIZE;

		iov = e->iov;
		n = e->nout;
		while (skip && iov->iov_len <= skip) {
			skip -= iov->iov_len;
			iov++;
			n--;
		}
		iov->iov_base = (uint8_t *)iov->iov_base + skip;
		iov->iov_len -= skip;
		r->flush_after = writethrough(blk, qcfg(blk, e));
	} else {
		/* The data precedes the status byte (the last one). */
		iov = e->iov + e->nout;
		n = e->nin;
		iov[n - 1].iov_len--;
		if (!iov[n - 1].iov_len)
			n--;
	}
	r->io.op = write ? VBACK_IO_WRITE : VBACK_IO_READ;
	r->io.flags = 0;
	r->io.offset = sector * VIRTIO_BLK_SECTOR;
	r->io.len = len;
	r->io.iov = iov;
	r->io.iovcnt = n;
	return BLK_SUBMITTED;
}

static int blk_get_id(struct vback_blk *blk, struct vq_elem *e,
		      struct blk_req *r)
{
	if (e->in_len - 1u < VIRTIO_BLK_ID_BYTES)
		return VIRTIO_BLK_S_IOERR;
	vback_iov_from_buf(e->iov + e->nout, e->nin, 0, blk->serial,
			   VIRTIO_BLK_ID_BYTES);
	r->written = VIRTIO_BLK_ID_BYTES;
	return VIRTIO_BLK_S_OK;
}

/* DISCARD, WRITE_ZEROES, SECURE_ERASE: one segment (max_*_seg = 1). */
static int blk_range(struct vback_blk *blk, struct vq_elem *e,
		     struct blk_req *r, uint32_t type)
{
	struct virtio_blk_dwz_seg seg;
	uint32_t feature, max, flags, num;
	uint64_t data = e->out_len - BLK_HDR_SIZE, sector;
	enum vback_io_op op;

	switch (type) {
	case VIRTIO_BLK_T_DISCARD:
		feature = VIRTIO_BLK_F_DISCARD;
		op = VBACK_IO_DISCARD;
		max = blk->caps.max_discard_sectors;
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		feature = VIRTIO_BLK_F_WRITE_ZEROES;
		op = VBACK_IO_WRITE_ZEROES;
		max = blk->caps.max_write_zeroes_sectors;
		break;
	default:
		feature = VIRTIO_BLK_F_SECURE_ERASE;
		op = VBACK_IO_SECURE_ERASE;
		max = blk->caps.max_discard_sectors;
		break;
	}
	if (!dev_has(&blk->dev, feature))
		return VIRTIO_BLK_S_UNSUPP;
	if (!data || data % sizeof(seg) || data / sizeof(seg) > 1)
		return VIRTIO_BLK_S_IOERR;
	vback_iov_to_buf(e->iov, e->nout, BLK_HDR_SIZE, &seg, sizeof(seg));
	sector = le64_to_cpu(seg.sector);
	num = le32_to_cpu(seg.num_sectors);
	flags = le32_to_cpu(seg.flags);
	/* 5.2.6.2: unknown flags, or unmap on anything but write zeroes. */
	if ((flags & ~VIRTIO_BLK_WZ_F_UNMAP) ||
	    ((flags & VIRTIO_BLK_WZ_F_UNMAP) &&
	     type != VIRTIO_BLK_T_WRITE_ZEROES))
		return VIRTIO_BLK_S_UNSUPP;
	if (blk->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (!num || (max && num > max) || !in_range(qcfg(blk, e), sector, num))
		return VIRTIO_BLK_S_IOERR;
	r->io.op = op;
	/* UNMAP is a permission, honoured only where the config says so. */
	r->io.flags = (flags & VIRTIO_BLK_WZ_F_UNMAP) && may_unmap(blk)
			      ? VBACK_IO_F_UNMAP
			      : 0;
	r->io.offset = sector * VIRTIO_BLK_SECTOR;
	r->io.len = (uint64_t)num * VIRTIO_BLK_SECTOR;
	r->io.iov = NULL;
	r->io.iovcnt = 0;
	return BLK_SUBMITTED;
}

static int blk_handle(struct vback_dev *dev, struct vq_elem *e)
{
	struct vback_blk *blk = to_blk(dev);
	struct blk_req *r = e->priv;
	struct virtio_blk_outhdr hdr;
	int st;

	r->blk = blk;
	r->elem = e;
	r->type = UINT32_MAX;
	r->written = 0;
	r->bytes = 0;
	r->flush_after = false;
	if (blk->timing && dev->attached) {
		const struct vq *vq = dev_elem_vq(dev, e);

		/* Taken in this batch: when it began (one clock read for
		 * the batch; the requests before this one's handling are
		 * part of the wait). */
		r->taken_ns = vq->running ? vq->batch_ns
					  : vback_loop_now(dev->t.loop);
	}
	if (!e->last_in) {
		/* Nowhere to put a status: the driver is broken. */
		dev_fail(dev, dev_elem_vq(dev, e),
			 "queue %u: head %u: no writable status byte",
			 e->ctx->q, e->head);
		dev_complete(e, 0);
		return VDEV_TAKEN;
	}
	if (e->truncated || e->out_len < BLK_HDR_SIZE) {
		st = VIRTIO_BLK_S_IOERR;
		goto answer;
	}
	vback_iov_to_buf(e->iov, e->nout, 0, &hdr, sizeof(hdr));
	r->type = le32_to_cpu(hdr.type);
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		st = blk_rw(blk, e, r, le64_to_cpu(hdr.sector),
			    r->type == VIRTIO_BLK_T_OUT);
		break;
	case VIRTIO_BLK_T_FLUSH:
		r->io.op = VBACK_IO_FLUSH;
		r->io.flags = 0;
		r->io.offset = 0;
		r->io.len = 0;
		r->io.iov = NULL;
		r->io.iovcnt = 0;
		st = BLK_SUBMITTED;
		break;
	case VIRTIO_BLK_T_GET_ID:
		st = blk_get_id(blk, e, r);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
	case VIRTIO_BLK_T_SECURE_ERASE:
		st = blk_range(blk, e, r, r->type);
		break;
	default:
		st = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (st == BLK_SUBMITTED)
		return blk_submit(blk, e);
answer:
	blk_complete(blk, e, (uint8_t)st);
	return VDEV_TAKEN;
}

/* ------------------------------------------------------------------ */
/* Config space and device hooks                                       */
/* ------------------------------------------------------------------ */

static uint32_t or_max(uint32_t v)
{
	return v ? v : UINT32_MAX;
}

static void blk_config_build(const struct vback_blk *blk, uint8_t *c)
{
	const struct vback_io_caps *caps = &blk->caps;
	uint32_t lbs = caps->logical_block_size;
	uint32_t pbs = caps->physical_block_size;
	uint8_t exp = 0;

	memset(c, 0, VBLK_CFG_SIZE);
	while (pbs > lbs && exp < 31 && (lbs << (exp + 1)) <= pbs)
		exp++;
	st_le64(c + VBLK_CFG_CAPACITY, blk->cfg.capacity);
	st_le32(c + VBLK_CFG_SIZE_MAX, blk->size_max);
	st_le32(c + VBLK_CFG_SEG_MAX, blk->seg_max);
	st_le32(c + VBLK_CFG_BLK_SIZE, lbs);
	c[VBLK_CFG_PHYS_EXP] = exp;
	c[VBLK_CFG_ALIGN_OFF] = 0;
	st_le16(c + VBLK_CFG_MIN_IO, 1);
	st_le32(c + VBLK_CFG_OPT_IO, 0);
	c[VBLK_CFG_WRITEBACK] = report_writeback(blk);
	st_le16(c + VBLK_CFG_NUM_QUEUES, (uint16_t)blk->dev.nq);
	st_le32(c + VBLK_CFG_MAX_DISCARD_SECTORS,
		or_max(caps->max_discard_sectors));
	st_le32(c + VBLK_CFG_MAX_DISCARD_SEG, 1);
	st_le32(c + VBLK_CFG_DISCARD_ALIGN, lbs / VIRTIO_BLK_SECTOR);
	st_le32(c + VBLK_CFG_MAX_WZ_SECTORS,
		or_max(caps->max_write_zeroes_sectors));
	st_le32(c + VBLK_CFG_MAX_WZ_SEG, 1);
	c[VBLK_CFG_WZ_MAY_UNMAP] = may_unmap(blk);
	st_le32(c + VBLK_CFG_MAX_SE_SECTORS, or_max(caps->max_discard_sectors));
	st_le32(c + VBLK_CFG_MAX_SE_SEG, 1);
	st_le32(c + VBLK_CFG_SE_ALIGN, lbs / VIRTIO_BLK_SECTOR);
}

static void blk_config_read(struct vback_dev *dev, uint32_t off, void *buf,
			    uint32_t len)
{
	uint8_t c[VBLK_CFG_SIZE];

	blk_config_build(to_blk(dev), c);
	memcpy(buf, c + off, len);
}

/* ------------------------------------------------------------------ */
/* The groups' copies of the config                                    */
/* ------------------------------------------------------------------ */

static void blk_sync(struct vback_dev *dev, struct vgroup *g)
{
	struct vback_blk *blk = to_blk(dev);

	if (!g) {
		for (unsigned int i = 0; i < dev->nq; i++)
			blk->gcfg[i] = blk->cfg;
		return;
	}
	blk->gcfg[g->index] = blk->cfg;
}

static void blk_cfg_set(struct vback_blk *blk, const struct blk_cfg *c,
			bool resized);

static void blk_sync_done(struct vback_dev *dev)
{
	struct vback_blk *blk = to_blk(dev);

	blk->syncing = false;
	/* Every queue checks requests against the new size: now the guest
	 * may hear of it. */
	if (blk->resize_notify) {
		blk->resize_notify = false;
		dev_config_changed(dev);
	}
	if (blk->sync_again) {
		blk->sync_again = false;
		blk_cfg_set(blk, &blk->cfg_next, false);
	}
}

/* On the device's thread: a new config for every group of queues. */
static void blk_cfg_set(struct vback_blk *blk, const struct blk_cfg *c,
			bool resized)
{
	if (resized)
		blk->resize_notify = true;
	if (blk->syncing) {
		/* The groups are reading blk->cfg: later. */
		blk->cfg_next = *c;
		blk->sync_again = true;
		return;
	}
	blk->cfg = *c;
	blk->cfg_next = *c;
	blk->syncing = true;
	dev_sync_groups(&blk->dev);
}

static void blk_config_write(struct vback_dev *dev, uint32_t off,
			     const void *buf, uint32_t len)
{
	struct vback_blk *blk = to_blk(dev);
	struct blk_cfg c = blk->syncing ? blk->cfg_next : blk->cfg;

	/* Only writeback is writable, and only with CONFIG_WCE (5.2.5). */
	if (off > VBLK_CFG_WRITEBACK || off + len <= VBLK_CFG_WRITEBACK ||
	    !dev_has(dev, VIRTIO_BLK_F_CONFIG_WCE))
		return;
	c.writeback = ((const uint8_t *)buf)[VBLK_CFG_WRITEBACK - off] ? 1 : 0;
	blk_cfg_set(blk, &c, false);
}

static void blk_destroy_dev(struct vback_dev *dev)
{
	dev_fini(dev);
	vb_free(to_blk(dev)->qstats);
	vb_free(to_blk(dev)->qio);
	vb_free(to_blk(dev)->gcfg);
	vb_free(to_blk(dev));
}

static const struct vdev_type_ops blk_type_ops = {
	.handle = blk_handle,
	.retry = blk_retry,
	.batch_end = blk_batch_end,
	.flush = blk_flush,
	.sync = blk_sync,
	.sync_done = blk_sync_done,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.destroy = blk_destroy_dev,
	.slot_priv_size = sizeof(struct blk_req),
};

/* ------------------------------------------------------------------ */
/* Public API                                                          */
/* ------------------------------------------------------------------ */

int vback_blk_create(const struct vback_blk_options *opts,
		     struct vback_blk **out)
{
	struct vback_io_caps caps;
	struct vback_blk *blk;
	unsigned int nq;
	uint16_t qsize;
	uint64_t f;
	int r;

	if (!opts || !out || !opts->io.ops || !opts->io.ops->submit ||
	    !opts->io.ops->get_caps)
		return -EINVAL;
	nq = opts->num_queues ? opts->num_queues : 1;
	qsize = opts->queue_size ? opts->queue_size : BLK_DEFAULT_QUEUE_SIZE;
	if (nq > VBACK_DEV_MAX_QUEUES || qsize > VRING_MAX_SIZE ||
	    (qsize & (qsize - 1)))
		return -EINVAL;
	memset(&caps, 0, sizeof(caps));
	r = vback_io_get_caps(&opts->io, &caps);
	if (r)
		return r;
	if (caps.logical_block_size < VIRTIO_BLK_SECTOR ||
	    (caps.logical_block_size & (caps.logical_block_size - 1)))
		return -EINVAL;
	if (caps.physical_block_size < caps.logical_block_size)
		caps.physical_block_size = caps.logical_block_size;
	blk = vb_calloc(1, sizeof(*blk));
	if (!blk)
		return -ENOMEM;
	blk->io = opts->io;
	blk->caps = caps;
	memcpy(blk->serial, opts->serial, sizeof(blk->serial));
	blk->read_only = opts->read_only || caps.read_only;
	blk->cfg.writeback = opts->writeback;
	blk->seg_max = opts->seg_max ? opts->seg_max : BLK_DEFAULT_SEG_MAX;
	if (blk->seg_max > BLK_MAX_SEG_MAX)
		blk->seg_max = BLK_MAX_SEG_MAX;
	/* An IO backend that takes at most M iovecs: advertise what still
	 * fits after every segment split in two (see BLK_IOV_SLACK). */
	if (caps.max_segments) {
		uint32_t fit =
			caps.max_segments > BLK_IOV_SLACK + 2u
				? (caps.max_segments - BLK_IOV_SLACK) / 2u
				: 1u;

		if (blk->seg_max > fit)
			blk->seg_max = fit;
	}
	blk->size_max = opts->size_max;
	blk->cfg.capacity = caps.size_bytes / VIRTIO_BLK_SECTOR;
	blk->cfg_next = blk->cfg;
	blk->timing = opts->latency_histogram;
	blk->qstats = vb_calloc(nq, sizeof(*blk->qstats));
	blk->qio = vb_calloc(nq, sizeof(*blk->qio));
	blk->gcfg = vb_calloc(nq, sizeof(*blk->gcfg));
	if (!blk->qstats || !blk->qio || !blk->gcfg) {
		r = -ENOMEM;
		goto fail;
	}
	for (unsigned int i = 0; i < nq; i++)
		blk->gcfg[i] = blk->cfg;

	r = dev_init(&blk->dev, &blk_type_ops, VIRTIO_ID_BLOCK, nq, qsize,
		     VBLK_CFG_SIZE, opts->log, opts->name ? opts->name : "blk");
	if (r)
		goto fail;
	f = VB_BIT(VIRTIO_F_RING_INDIRECT_DESC) |
	    VB_BIT(VIRTIO_F_RING_EVENT_IDX) | VB_BIT(VIRTIO_BLK_F_SEG_MAX) |
	    VB_BIT(VIRTIO_BLK_F_BLK_SIZE) | VB_BIT(VIRTIO_BLK_F_TOPOLOGY) |
	    VB_BIT(VIRTIO_BLK_F_FLUSH) | VB_BIT(VIRTIO_BLK_F_CONFIG_WCE);
	if (blk->size_max)
		f |= VB_BIT(VIRTIO_BLK_F_SIZE_MAX);
	if (blk->read_only)
		f |= VB_BIT(VIRTIO_BLK_F_RO);
	if (nq > 1)
		f |= VB_BIT(VIRTIO_BLK_F_MQ);
	if (!blk->read_only && caps.can_discard)
		f |= VB_BIT(VIRTIO_BLK_F_DISCARD);
	if (!blk->read_only && caps.can_write_zeroes)
		f |= VB_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	if (!blk->read_only && caps.can_secure_erase)
		f |= VB_BIT(VIRTIO_BLK_F_SECURE_ERASE);
	blk->dev.device_features = f & ~opts->disabled_features;
	blk->dev.batch_clock = blk->timing;
	blk->dev.iov_cap = 2u * (blk->seg_max + 2u) + BLK_IOV_SLACK;
	/* Header, seg_max data segments, status: anything longer is
	 * answered IOERR, and walked no further than the queue size. */
	blk->dev.max_chain = blk->seg_max + 2u;
	*out = blk;
	return 0;
fail:
	vb_free(blk->qstats);
	vb_free(blk->qio);
	vb_free(blk->gcfg);
	vb_free(blk);
	return r;
}

int vback_blk_set_queue_io(struct vback_blk *blk, unsigned int q,
			   const struct vback_io *io)
{
	if (!blk || q >= blk->dev.nq)
		return -EINVAL;
	if (io && (!io->ops || !io->ops->submit))
		return -EINVAL;
	if (blk->dev.attached)
		return -EBUSY;
	if (io)
		blk->qio[q] = *io;
	else
		blk->qio[q] = (struct vback_io){ 0 };
	return 0;
}

struct vback_dev *vback_blk_dev(struct vback_blk *blk)
{
	return blk ? &blk->dev : NULL;
}

void vback_blk_destroy(struct vback_blk *blk)
{
	if (blk)
		vback_dev_destroy(&blk->dev);
}

int vback_blk_resize(struct vback_blk *blk, uint64_t size_bytes)
{
	/* Whole logical blocks: a partial last block would be advertised
	 * in the capacity, and every request touching it refused by IO.
	 * (A power of two: a mask, no 64-bit division on 32-bit targets.) */
	struct blk_cfg c;

	if (!blk || (size_bytes & (blk->caps.logical_block_size - 1u)))
		return -EINVAL;
	c = blk->syncing ? blk->cfg_next : blk->cfg;
	blk->caps.size_bytes = size_bytes;
	c.capacity = size_bytes / VIRTIO_BLK_SECTOR;
	/* The config-change notification follows once every queue's copy
	 * has the size (blk_sync_done()): at once on one loop. */
	blk_cfg_set(blk, &c, true);
	return 0;
}

int vback_blk_refresh_size(struct vback_blk *blk, uint64_t *size_bytes)
{
	uint64_t size = 0;
	int r;

	if (!blk->io.ops->refresh_size)
		return -EOPNOTSUPP;
	r = blk->io.ops->refresh_size(blk->io.opaque, &size);
	if (r < 0)
		return r;
	if (size_bytes)
		*size_bytes = size;
	if (size == blk->caps.size_bytes)
		return 0;
	r = vback_blk_resize(blk, size);
	return r < 0 ? r : 1;
}

static void stats_add(struct vback_blk_stats *to,
		      const struct vback_blk_stats *s)
{
	to->reads += s->reads;
	to->writes += s->writes;
	to->flushes += s->flushes;
	to->discards += s->discards;
	to->write_zeroes += s->write_zeroes;
	to->get_ids += s->get_ids;
	to->unsupported += s->unsupported;
	to->io_errors += s->io_errors;
	to->bytes_read += s->bytes_read;
	to->bytes_written += s->bytes_written;
}

void vback_blk_get_stats(const struct vback_blk *blk,
			 struct vback_blk_stats *stats)
{
	if (!blk || !stats)
		return;
	memset(stats, 0, sizeof(*stats));
	for (unsigned int q = 0; q < blk->dev.nq; q++)
		stats_add(stats, &blk->qstats[q].req);
}

int vback_blk_get_queue_stats(const struct vback_blk *blk, unsigned int q,
			      struct vback_blk_queue_stats *stats)
{
	const struct vq *vq;

	if (!blk || !stats || q >= blk->dev.nq)
		return -EINVAL;
	*stats = blk->qstats[q];
	vq = &blk->dev.vqs[q];
	stats->inflight = vq->ctx ? vq->ctx->inflight : 0;
	return 0;
}
