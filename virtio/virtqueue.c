/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue: ring mapping, chain walking with validation, used ring
 * and notification suppression (virtio 1.2 section 2.7).
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "ring.h"
#include "vb_os.h"
#include "virtqueue.h"

/* ------------------------------------------------------------------ */
/* Guest memory helpers                                                */
/* ------------------------------------------------------------------ */

/* Copy between guest memory and @to (reads) or @from (writes). */
static int gm_copy(const struct vback_gm *gm, uint64_t addr, uint8_t *to,
		   const uint8_t *from, uint64_t len, unsigned int access)
{
	if (len && len - 1 > UINT64_MAX - addr)
		return -EFAULT;
	while (len) {
		uint64_t n = len;
		uint8_t *host = gm->ops->map(gm->opaque, addr, &n, access);

		/* A view that returns nonsense is treated as a fault. */
		if (!host || !n || n > len)
			return -EFAULT;
		if (to) {
			memcpy(to, host, n);
			to += n;
		} else {
			memcpy(host, from, n);
			from += n;
		}
		if (gm->ops->unmap)
			gm->ops->unmap(gm->opaque, addr, host, n, access);
		addr += n;
		len -= n;
	}
	return 0;
}

int gm_read(const struct vback_gm *gm, uint64_t addr, void *buf, uint64_t len)
{
	return gm_copy(gm, addr, buf, NULL, len, VBACK_GM_READ);
}

int gm_write(const struct vback_gm *gm, uint64_t addr, const void *buf,
	     uint64_t len)
{
	return gm_copy(gm, addr, NULL, buf, len, VBACK_GM_WRITE);
}

/* ------------------------------------------------------------------ */
/* Ring areas                                                          */
/* ------------------------------------------------------------------ */

static void pieces_unmap(const struct vback_gm *gm, uint64_t gpa,
			 const struct vq_piece *p, unsigned int n,
			 unsigned int access)
{
	if (!gm->ops || !gm->ops->unmap)
		return;
	for (unsigned int i = 0; i < n; i++)
		gm->ops->unmap(gm->opaque, gpa + p[i].off, p[i].host, p[i].len,
			       access);
}

/*
 * Map [gpa, gpa + len) into at most @cap pieces. 0 with *@n set, -EFAULT
 * (not guest memory) or -ENOSPC (more pieces needed); nothing stays
 * mapped on failure.
 */
static int pieces_map(const struct vback_gm *gm, uint64_t gpa, uint64_t len,
		      unsigned int access, struct vq_piece *p, unsigned int cap,
		      unsigned int *n)
{
	uint64_t off = 0;
	unsigned int k = 0;

	while (off < len) {
		uint64_t want = len - off;
		uint8_t *host =
			gm->ops->map(gm->opaque, gpa + off, &want, access);

		if (!host || !want || want > len - off) {
			pieces_unmap(gm, gpa, p, k, access);
			return !host && !want ? -EAGAIN : -EFAULT;
		}
		if (k == cap) {
			if (gm->ops->unmap)
				gm->ops->unmap(gm->opaque, gpa + off, host,
					       want, access);
			pieces_unmap(gm, gpa, p, k, access);
			return -ENOSPC;
		}
		p[k].off = off;
		p[k].len = want;
		p[k].host = host;
		k++;
		off += want;
	}
	*n = k;
	return 0;
}

static void area_unmap(struct vq_area *a, const struct vback_gm *gm)
{
	pieces_unmap(gm, a->gpa, a->pieces, a->npieces, a->access);
	vb_free(a->pieces);
	memset(a, 0, sizeof(*a));
}

/* Map a ring area, in as many pieces as the view needs (setup time). */
static int area_map(struct vq_area *a, const struct vback_gm *gm, uint64_t gpa,
		    uint64_t len, unsigned int access)
{
	unsigned int cap = 4;
	int r;

	memset(a, 0, sizeof(*a));
	a->gpa = gpa;
	a->len = len;
	a->access = access;
	if (!len || len - 1 > UINT64_MAX - gpa)
		return -EINVAL;
	for (;;) {
		a->pieces = vb_calloc(cap, sizeof(*a->pieces));
		if (!a->pieces)
			return -ENOMEM;
		r = pieces_map(gm, gpa, len, access, a->pieces, cap,
			       &a->npieces);
		if (r != -ENOSPC)
			break;
		vb_free(a->pieces);
		a->pieces = NULL;
		if (cap > UINT_MAX / 2 / sizeof(*a->pieces))
			return -ENOMEM;
		cap *= 2;
	}
	if (r) {
		vb_free(a->pieces);
		memset(a, 0, sizeof(*a));
		return r;
	}
	/* One piece, aligned like the guest address (the field loads below
	 * are naturally aligned then): use it directly. */
	if (a->npieces == 1 && ((uintptr_t)a->pieces[0].host & 7) == (gpa & 7))
		a->flat = a->pieces[0].host;
	return 0;
}

/* Copy between an area in several pieces and @buf. */
static void area_copy_slow(const struct vq_area *a, uint64_t off, uint8_t *buf,
			   size_t n, bool to_area)
{
	for (unsigned int i = 0; i < a->npieces && n; i++) {
		const struct vq_piece *p = &a->pieces[i];
		size_t k;

		if (off >= p->off + p->len)
			continue;
		k = p->off + p->len - off;
		if (k > n)
			k = n;
		if (to_area)
			memcpy(p->host + (off - p->off), buf, k);
		else
			memcpy(buf, p->host + (off - p->off), k);
		off += k;
		buf += k;
		n -= k;
	}
}

/*
 * Volatile accesses: each ring field is read exactly once into a local copy
 * (the driver may change it behind our back; a second fetch could see a
 * different value than the one validated).
 */
static inline uint16_t area_ld16(const struct vq_area *a, uint64_t off)
{
	uint8_t b[2];

	if (a->flat) {
		le16 v = { *(const volatile uint16_t *)(a->flat + off) };

		return le16_to_cpu(v);
	}
	area_copy_slow(a, off, b, 2, false);
	return ld_le16(b);
}

static inline void area_st16(const struct vq_area *a, uint64_t off, uint16_t x)
{
	uint8_t b[2];

	if (a->flat) {
		*(volatile uint16_t *)(a->flat + off) = cpu_to_le16(x).raw;
		return;
	}
	st_le16(b, x);
	area_copy_slow(a, off, b, 2, true);
}

struct desc_copy {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static inline void ring_desc(const struct vq *vq, unsigned int i,
			     struct desc_copy *d)
{
	uint64_t off = VRING_DESC_SIZE(i);

	if (vq->desc.flat) {
		const uint8_t *p = vq->desc.flat + off;
		le64 a = { *(const volatile uint64_t *)p };
		le32 l = { *(const volatile uint32_t *)(p + 8) };
		le16 f = { *(const volatile uint16_t *)(p + 12) };
		le16 n = { *(const volatile uint16_t *)(p + 14) };

		d->addr = le64_to_cpu(a);
		d->len = le32_to_cpu(l);
		d->flags = le16_to_cpu(f);
		d->next = le16_to_cpu(n);
	} else {
		uint8_t b[16];

		area_copy_slow(&vq->desc, off, b, sizeof(b), false);
		d->addr = ld_le64(b);
		d->len = ld_le32(b + 8);
		d->flags = ld_le16(b + 12);
		d->next = ld_le16(b + 14);
	}
}

/* ------------------------------------------------------------------ */
/* Enable / reset                                                      */
/* ------------------------------------------------------------------ */

void vq_init(struct vq *vq, struct vback_dev *dev, unsigned int index,
	     uint16_t max_size)
{
	/* The core's work item may be posted and a run may be on the stack
	 * (a reset from inside a completion): both survive, and so does the
	 * poller (the core removes it from its loop before a reset). */
	struct vback_work work = vq->work;
	struct vback_poller poller = vq->poller;
	bool running = vq->running;
	/* Where it runs, and what is still in flight (orphans), too. */
	const struct vback_loop *loop = vq->loop;
	struct vgroup *group = vq->group;
	struct vq *next = vq->next_in_group;
	uint32_t inflight = vq->inflight_n;

	memset(vq, 0, sizeof(*vq));
	vq->work = work;
	vq->poller = poller;
	vq->running = running;
	vq->loop = loop;
	vq->group = group;
	vq->next_in_group = next;
	vq->inflight_n = inflight;
	vq->dev = dev;
	vq->index = index;
	vq->max_size = max_size;
	vq->size = max_size;
}

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/*
 * The packed arrays pay where memory is demand-paged: a hosted process
 * keeps resident only the pages it touches, provided they come fresh
 * from the OS (vb_calloc_pages(), not calloc(): lib/vb_os.h). A
 * freestanding build's heap is memory whether touched or not (a static
 * pool): there they would only add to it (17% of a virtio-blk device), so
 * each slot has one array.
 */
#define VQ_PACKED (!VBACK_FREESTANDING)

static struct vq_ctx *ctx_alloc(struct vq *vq, const struct vback_gm *gm,
				unsigned int iov_cap, size_t priv_size)
{
	bool maps = gm->ops->unmap != NULL;
	/* Each array has a spare entry: the status byte of a truncated
	 * chain (walk()). */
	size_t n = vq->size, per_far = iov_cap + 1u, off;
	size_t per_near = VQ_PACKED && iov_cap > VQ_NEAR_PIECES
				  ? VQ_NEAR_PIECES + 1u
				  : per_far;
	size_t sz_slots = align16(n * sizeof(struct vq_elem));
	size_t sz_priv = align16(priv_size);
	size_t sz_near = align16(n * per_near * sizeof(struct vback_iovec));
	size_t sz_near_maps =
		maps ? align16(n * per_near * sizeof(struct vq_map)) : 0;
	size_t sz_far = 0, sz_far_maps = 0, bytes;
	uint8_t *at, *near, *near_maps, *far = NULL, *far_maps = NULL, *priv;
	struct vq_ctx *ctx;
	uint8_t *base;

	if (per_near < per_far) {
		sz_far = align16(n * per_far * sizeof(struct vback_iovec));
		sz_far_maps =
			maps ? align16(n * per_far * sizeof(struct vq_map)) : 0;
	}
	off = align16(sizeof(*ctx));
	bytes = off + sz_slots + n * sz_priv + sz_near + sz_near_maps + sz_far +
		sz_far_maps;
	/* The slots, their near arrays and contexts first: together; pages
	 * no request touched stay out of memory. */
	base = vb_calloc_pages(bytes);
	if (!base)
		return NULL;
	at = base + off + sz_slots;
	priv = at;
	at += n * sz_priv;
	near = at;
	at += sz_near;
	near_maps = at;
	at += sz_near_maps;
	if (sz_far) {
		far = at;
		far_maps = at + sz_far;
	}
	ctx = (struct vq_ctx *)base;
	ctx->bytes = bytes;
	ctx->dev = vq->dev;
	ctx->q = vq->index;
	ctx->qcount = &vq->inflight_n;
	ctx->size = vq->size;
	ctx->iov_cap = iov_cap;
	ctx->gm = *gm;
	ctx->slots = (struct vq_elem *)(base + off);
	for (size_t i = 0; i < n; i++) {
		struct vq_elem *e = &ctx->slots[i];

		e->head = (uint16_t)i;
		e->ctx = ctx;
		e->iov_near = (struct vback_iovec *)near + i * per_near;
		e->iov = e->iov_near;
		if (far)
			e->iov_far = (struct vback_iovec *)far + i * per_far;
		if (maps) {
			e->maps_near =
				(struct vq_map *)near_maps + i * per_near;
			e->maps = e->maps_near;
			if (far)
				e->maps_far =
					(struct vq_map *)far_maps + i * per_far;
		}
		if (priv_size)
			e->priv = priv + i * sz_priv;
	}
	return ctx;
}

int vq_enable(struct vq *vq, const struct vback_gm *gm, uint64_t features,
	      unsigned int iov_cap, size_t priv_size, uint32_t max_chain)
{
	bool ev = features & VB_BIT(VIRTIO_F_RING_EVENT_IDX);
	uint16_t n = vq->size;
	int r;

	if (vq->enabled)
		return -EBUSY;
	if (!gm || !gm->ops || !gm->ops->map)
		return -EINVAL;
	if (!n || n > vq->max_size || (n & (n - 1)))
		return -EINVAL;
	/* 2.7: alignment of the descriptor table, driver and device areas. */
	if ((vq->addr.desc & 15) || (vq->addr.avail & 1) || (vq->addr.used & 3))
		return -EINVAL;
	r = area_map(&vq->desc, gm, vq->addr.desc, VRING_DESC_SIZE(n),
		     VBACK_GM_READ);
	if (r)
		return r;
	r = area_map(&vq->avail, gm, vq->addr.avail, VRING_AVAIL_SIZE(n, ev),
		     VBACK_GM_READ);
	if (r)
		goto err_desc;
	r = area_map(&vq->used, gm, vq->addr.used, VRING_USED_SIZE(n, ev),
		     VBACK_GM_WRITE);
	if (r)
		goto err_avail;
	vq->ctx = ctx_alloc(vq, gm, iov_cap, priv_size);
	if (!vq->ctx) {
		r = -ENOMEM;
		goto err_used;
	}
	/* May move the indices: adopted requests resume where they were. */
	r = vq_rec_start(vq);
	if (r) {
		vq_ctx_free(vq->ctx);
		vq->ctx = NULL;
		goto err_used;
	}
	vq->event_idx = ev;
	vq->indirect = features & VB_BIT(VIRTIO_F_RING_INDIRECT_DESC);
	vq->max_chain = max_chain > n ? max_chain : n;
	vq->shadow_avail = vq->last_avail;
	vq->signalled_valid = false;
	vq->broken = false;
	vq->stopped = false;
	vq->idle_reported = false;
	vq->enabled = true;
	return 0;

err_used:
	area_unmap(&vq->used, gm);
err_avail:
	area_unmap(&vq->avail, gm);
err_desc:
	area_unmap(&vq->desc, gm);
	return r;
}

void vq_elem_release(struct vq_elem *e)
{
	const struct vback_gm *gm = &e->ctx->gm;

	if (e->maps) {
		for (unsigned int i = 0; i < e->nmaps; i++)
			gm->ops->unmap(gm->opaque, e->maps[i].gpa,
				       e->maps[i].host, e->maps[i].len,
				       e->maps[i].access);
	}
	e->nmaps = 0;
}

/* Account for an element leaving flight: the one count. */
static void elem_done(struct vq_elem *e)
{
	e->inflight = false;
	e->ctx->inflight--;
	vq_count_add(e->ctx->qcount, -1);
}

bool vq_complete_orphan(struct vq_elem *e)
{
	/* The ring is gone: release the mappings, touch nothing else. */
	vq_elem_release(e);
	elem_done(e);
	return e->ctx->inflight == 0;
}

void vq_ctx_free(struct vq_ctx *ctx)
{
	if (ctx)
		vb_free_pages(ctx, ctx->bytes);
}

struct vq_ctx *vq_reset(struct vq *vq)
{
	struct vq_ctx *ctx = vq->ctx, *orphan = NULL;
	struct vback_gm gm = { 0 };

	/* First: it may drop never-submitted heads from ctx->inflight. */
	vq_rec_stop(vq);
	if (ctx) {
		gm = ctx->gm;
		if (vq->blocked) {
			/* Popped but never submitted: nothing else owns it. */
			vq_elem_release(vq->blocked);
			elem_done(vq->blocked);
		}
		ctx->orphaned = true;
		if (ctx->inflight)
			orphan = ctx;
		else
			vq_ctx_free(ctx);
	}
	if (gm.ops) {
		area_unmap(&vq->desc, &gm);
		area_unmap(&vq->avail, &gm);
		area_unmap(&vq->used, &gm);
	}
	vq_init(vq, vq->dev, vq->index, vq->max_size);
	return orphan;
}

/* ------------------------------------------------------------------ */
/* Popping                                                             */
/* ------------------------------------------------------------------ */

/* A chain outgrows its slot's packed arrays: move to the large ones. */
static void go_far(struct vq_elem *e, unsigned int k)
{
	memcpy(e->iov_far, e->iov_near, k * sizeof(*e->iov_far));
	e->iov = e->iov_far;
	if (e->maps) {
		memcpy(e->maps_far, e->maps_near, k * sizeof(*e->maps_far));
		e->maps = e->maps_far;
	}
}

/*
 * Map one descriptor's buffer into iovec pieces. 0 or -EFAULT. Once the
 * chain has more pieces than iovecs the answer is an error whatever the
 * rest holds: nothing more is mapped (only the range was checked), so a
 * hostile chain costs no mapping work beyond the iovec capacity.
 */
static int map_buffer(struct vq_ctx *ctx, struct vq_elem *e, uint64_t addr,
		      uint32_t len, bool write, bool can_wait)
{
	const struct vback_gm *gm = &ctx->gm;
	unsigned int access = write ? VBACK_GM_WRITE : VBACK_GM_READ;
	uint64_t done = 0;

	while (done < len && !e->truncated) {
		uint64_t n = len - done;
		void *host = gm->ops->map(gm->opaque, addr + done, &n, access);
		unsigned int k = e->nout + e->nin;

		if (!host && !n) {
			/* The view is at its limit (vback/dev.h): wait for a
			 * completion, or, when none can come, answer with an
			 * error like a chain too long to map. */
			if (can_wait)
				return -EAGAIN;
			e->truncated = true;
			break;
		}
		if (!host || !n || n > len - done)
			return -EFAULT;
		if (k >= ctx->iov_cap) {
			e->truncated = true;
			if (gm->ops->unmap)
				gm->ops->unmap(gm->opaque, addr + done, host, n,
					       access);
			break;
		}
		if (k == VQ_NEAR_PIECES && e->iov == e->iov_near && e->iov_far)
			go_far(e, k);
		e->iov[k].iov_base = host;
		e->iov[k].iov_len = n;
		if (e->maps) {
			e->maps[k].gpa = addr + done;
			e->maps[k].host = host;
			e->maps[k].len = n;
			e->maps[k].access = access;
			e->nmaps = k + 1;
		}
		if (write)
			e->nin++;
		else
			e->nout++;
		done += n;
	}
	return 0;
}

/* Pieces of an indirect table mapped at once: a handful covers any table
 * (one mapping call per region, chunk or 32 grant pages, not one per
 * descriptor); a table in more pieces is read descriptor by descriptor. */
#define TABLE_PIECES 8

struct table {
	uint64_t gpa;
	unsigned int n; /* 0: not mapped, read with gm_read() */
	struct vq_piece p[TABLE_PIECES];
};

static void desc_decode(const uint8_t *b, struct desc_copy *d)
{
	d->addr = ld_le64(b);
	d->len = ld_le32(b + 8);
	d->flags = ld_le16(b + 12);
	d->next = ld_le16(b + 14);
}

/* Descriptor @i of an indirect table; 0 or -EFAULT. */
static int table_desc(const struct vq_ctx *ctx, const struct table *t,
		      unsigned int i, struct desc_copy *d)
{
	uint64_t off = VRING_DESC_SIZE(i);
	uint8_t b[16];
	size_t got = 0;

	if (!t->n) {
		if (gm_read(&ctx->gm, t->gpa + off, b, sizeof(b)))
			return -EFAULT;
		desc_decode(b, d);
		return 0;
	}
	/* The guest may rewrite the table meanwhile: copy once, use the
	 * copy (a descriptor may straddle two pieces). */
	for (unsigned int k = 0; k < t->n && got < sizeof(b); k++) {
		const struct vq_piece *p = &t->p[k];
		uint64_t at = off + got;
		size_t c;

		if (at < p->off || at >= p->off + p->len)
			continue;
		c = (size_t)(p->off + p->len - at);
		if (c > sizeof(b) - got)
			c = sizeof(b) - got;
		memcpy(b + got, p->host + (at - p->off), c);
		got += c;
	}
	desc_decode(b, d);
	return 0;
}

static void table_unmap(const struct vq_ctx *ctx, struct table *t)
{
	if (t->n)
		pieces_unmap(&ctx->gm, t->gpa, t->p, t->n, VBACK_GM_READ);
	t->n = 0;
}

/*
 * Walk the chain at @head into @e. Returns NULL or the reason the chain
 * violates the protocol. Every field is copied before it is checked. At
 * most vq->max_chain descriptors are looked at, indirect ones included.
 */
/* walk()'s answer when the guest-memory view is busy (vback/dev.h). */
static const char vq_busy[] = "guest-memory view busy";

static const char *walk(struct vq *vq, struct vq_elem *e, struct table *t,
			bool can_wait)
{
	struct vq_ctx *ctx = vq->ctx;
	uint64_t out = 0, in = 0, last_addr = 0;
	uint32_t tlen = vq->size, ttl = vq->max_chain, last_len = 0;
	bool indirect = false, seen_in = false;
	unsigned int i = e->head, ndesc = 0;
	int r;

	for (;;) {
		struct desc_copy d;

		if (!indirect)
			ring_desc(vq, i, &d);
		else if (table_desc(ctx, t, i, &d))
			return "indirect table outside guest memory";
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* 2.7.5.3: one table per chain, last in the chain. */
			if (indirect)
				return "nested indirect table";
			if (!vq->indirect)
				return "INDIRECT_DESC not negotiated";
			if (d.flags & VRING_DESC_F_NEXT)
				return "indirect descriptor with NEXT";
			if (!d.len || d.len % 16)
				return "bad indirect table length";
			/* 2.7.5.3.1: no chain longer than the queue size. */
			if (d.len / 16 > ttl)
				return "indirect table too long";
			if ((uint64_t)d.len - 1 > UINT64_MAX - d.addr)
				return "indirect table address overflows";
			indirect = true;
			t->gpa = d.addr;
			r = pieces_map(&ctx->gm, d.addr, d.len, VBACK_GM_READ,
				       t->p, TABLE_PIECES, &t->n);
			if (r == -EAGAIN && can_wait)
				return vq_busy;
			if (r == -EFAULT || r == -EAGAIN)
				return "indirect table outside guest memory";
			tlen = d.len / 16;
			ttl = tlen;
			i = 0;
			continue;
		}
		if (!d.len)
			return "zero-length descriptor";
		if ((uint64_t)d.len - 1 > UINT64_MAX - d.addr)
			return "descriptor address overflows";
		if (d.flags & VRING_DESC_F_WRITE) {
			in += d.len;
			seen_in = true;
		} else {
			if (seen_in)
				return "readable descriptor after writable";
			out += d.len;
		}
		if (in > UINT32_MAX || out > UINT32_MAX)
			return "chain length overflows 32 bits";
		r = map_buffer(ctx, e, d.addr, d.len,
			       d.flags & VRING_DESC_F_WRITE, can_wait);
		if (r == -EAGAIN)
			return vq_busy;
		if (r)
			return "buffer outside guest memory";
		ndesc++;
		if (d.len > e->max_len)
			e->max_len = d.len;
		last_addr = d.addr;
		last_len = d.len;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (--ttl == 0)
			return "descriptor chain too long (loop?)";
		if (d.next >= tlen)
			return "next index out of range";
		i = d.next;
	}
	e->ndesc = ndesc > UINT16_MAX ? UINT16_MAX : (uint16_t)ndesc;
	e->out_len = (uint32_t)out;
	e->in_len = (uint32_t)in;
	if (seen_in && !e->truncated) {
		struct vback_iovec *v = &e->iov[e->nout + e->nin - 1];

		e->last_in = (uint8_t *)v->iov_base + v->iov_len - 1;
	} else if (seen_in) {
		/* Map the last byte alone (the status byte of most device
		 * types) into the spare slot so the request can be answered. */
		const struct vback_gm *gm = &ctx->gm;
		uint64_t n = 1, a = last_addr + last_len - 1;
		uint8_t *host = gm->ops->map(gm->opaque, a, &n, VBACK_GM_WRITE);

		if (!host && !n) {
			/* Busy view: the prefix is of no use to an error
			 * answer; give it back to make room for the status. */
			vq_elem_release(e);
			e->nout = e->nin = 0;
			n = 1;
			host = gm->ops->map(gm->opaque, a, &n, VBACK_GM_WRITE);
		}
		if (!host || n != 1)
			return "buffer outside guest memory";
		e->last_in = host;
		if (e->maps) {
			e->maps[e->nmaps].gpa = a;
			e->maps[e->nmaps].host = host;
			e->maps[e->nmaps].len = 1;
			e->maps[e->nmaps].access = VBACK_GM_WRITE;
			e->nmaps++;
		}
	}
	return NULL;
}

static const char *vq_walk(struct vq *vq, struct vq_elem *e, bool can_wait)
{
	struct table t; /* only .n is read before a table is mapped */
	const char *why;

	t.n = 0;
	e->iov = e->iov_near;
	e->maps = e->maps_near;
	e->nout = e->nin = 0;
	e->nmaps = 0;
	e->truncated = false;
	e->last_in = NULL;
	e->max_len = 0;
	why = walk(vq, e, &t, can_wait);
	table_unmap(vq->ctx, &t);
	return why;
}

int vq_pop(struct vq *vq, struct vq_elem **out, struct vq_fault *f,
	   bool can_wait)
{
	struct vq_ctx *ctx = vq->ctx;
	struct vq_elem *e;
	uint16_t head;

	f->head = -1;
	if (!vq->enabled || vq->broken || vq->stopped)
		return 0;
	if (vq->last_avail == vq->shadow_avail) {
		uint16_t idx = area_ld16(&vq->avail, VRING_AVAIL_IDX);

		/*
		 * Acquire: pairs with the driver's write barrier between
		 * filling avail->ring[] (and the descriptors) and bumping
		 * avail->idx (2.7.13). Ring entries and descriptors below idx
		 * are read after this point.
		 */
		atomic_thread_fence(memory_order_acquire);
		if ((uint16_t)(idx - vq->last_avail) > vq->size) {
			f->why = "avail index too far ahead of the last one "
				 "read";
			f->head = -1;
			vq->broken = true;
			return -EPROTO;
		}
		vq->shadow_avail = idx;
		if (idx == vq->last_avail)
			return 0;
	}
	head = area_ld16(&vq->avail,
			 VRING_AVAIL_RING(vq->last_avail & (vq->size - 1)));
	f->head = head;
	if (head >= vq->size) {
		f->why = "head out of range";
		vq->broken = true;
		return -EPROTO;
	}
	e = &ctx->slots[head];
	if (e->inflight) {
		f->why = "head already in flight";
		vq->broken = true;
		return -EPROTO;
	}
	/* A head pushed but not yet published is still the device's in the
	 * driver's eyes: with every head out, any new one is offered again
	 * too early, and its used element would overwrite one the driver
	 * has not seen (2.7.8: at most the queue size outstanding). */
	if (ctx->inflight + (uint16_t)(vq->used_idx - vq->published) >=
	    vq->size) {
		f->why = "head offered again before it was returned";
		vq->broken = true;
		return -EPROTO;
	}
	vq->last_avail++;
	e->inflight = true;
	ctx->inflight++;
	vq_count_add(ctx->qcount, 1);
	/* Recorded before anything of it can reach the IO layer. */
	if (vq->rec.hdr)
		vq_rec_take(vq, head);
	f->why = vq_walk(vq, e, can_wait);
	if (f->why == vq_busy) {
		/* Not taken: release what it mapped, leave it in the ring. */
		vq_elem_release(e);
		elem_done(e);
		vq->last_avail--;
		if (vq->rec.hdr)
			vq_rec_untake(vq, head);
		return -EAGAIN;
	}
	if (f->why) {
		vq->broken = true;
		/* The head itself is valid: hand it back, never leak it. */
		vq_push(vq, e, 0);
		return -EPROTO;
	}
	*out = e;
	return 1;
}

int vq_resubmit(struct vq *vq, struct vq_elem **out, struct vq_fault *f,
		bool can_wait)
{
	struct vq_rec *r = &vq->rec;
	struct vq_elem *e;

	f->head = -1;
	if (!vq->enabled || vq->broken || !vq_resubmit_pending(vq))
		return 0;
	/* Adopted heads are checked (< size, once each) and already in
	 * flight: only their chains are walked again. */
	e = &vq->ctx->slots[r->resubmit[r->resubmit_pos]];
	f->head = e->head;
	f->why = vq_walk(vq, e, can_wait);
	if (f->why == vq_busy) {
		vq_elem_release(e);
		return -EAGAIN;
	}
	r->resubmit_pos++;
	if (!vq_resubmit_pending(vq)) {
		vb_free(r->resubmit);
		r->resubmit = NULL;
		r->resubmit_n = r->resubmit_pos = 0;
	}
	if (f->why) {
		vq->broken = true;
		vq_push(vq, e, 0);
		return -EPROTO;
	}
	*out = e;
	return 1;
}

bool vq_avail_pending(struct vq *vq)
{
	if (!vq->enabled || vq->broken || vq->stopped)
		return false;
	if (vq->last_avail != vq->shadow_avail)
		return true;
	/* vq_pop() reads it again, with the acquire fence. */
	return area_ld16(&vq->avail, VRING_AVAIL_IDX) != vq->last_avail;
}

void vq_poll_begin(struct vq *vq)
{
	vq->polling = true;
	/* With EVENT_IDX nothing to write: vq_rearm() is not called while
	 * polling, so avail_event stays behind and the driver, whose test
	 * is "did avail->idx pass avail_event", does not kick again. */
	if (vq->enabled && !vq->event_idx)
		area_st16(&vq->used, VRING_USED_FLAGS, VRING_USED_F_NO_NOTIFY);
}

bool vq_poll_end(struct vq *vq)
{
	vq->polling = false;
	if (!vq->enabled || vq->broken || vq->stopped)
		return false;
	if (vq->event_idx)
		return vq_rearm(vq);
	area_st16(&vq->used, VRING_USED_FLAGS, 0);
	/* Full barrier, as in vq_rearm(): the flag is visible before
	 * avail->idx is read again, or a buffer added meanwhile by a driver
	 * that still saw NO_NOTIFY would wait for a kick that never comes. */
	atomic_thread_fence(memory_order_seq_cst);
	return area_ld16(&vq->avail, VRING_AVAIL_IDX) != vq->last_avail;
}

bool vq_rearm(struct vq *vq)
{
	if (!vq->enabled || vq->broken || vq->stopped || !vq->event_idx)
		return false;
	area_st16(&vq->used, VRING_USED_AVAIL_EVENT(vq->size), vq->last_avail);
	/*
	 * Full barrier: avail_event must be visible before avail->idx is read
	 * again. Pairs with the driver's full barrier between bumping
	 * avail->idx and reading avail_event before it decides not to kick;
	 * without it each side could miss the other's update.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	return area_ld16(&vq->avail, VRING_AVAIL_IDX) != vq->last_avail;
}

/* ------------------------------------------------------------------ */
/* Used ring                                                           */
/* ------------------------------------------------------------------ */

void vq_push(struct vq *vq, struct vq_elem *e, uint32_t len)
{
	uint64_t off = VRING_USED_RING(vq->used_idx & (vq->size - 1));

	vq_elem_release(e);
	if (vq->used.flat) {
		volatile uint32_t *p =
			(volatile uint32_t *)(vq->used.flat + off);

		p[0] = cpu_to_le32(e->head).raw;
		p[1] = cpu_to_le32(len).raw;
	} else {
		uint8_t b[8];

		st_le32(b, e->head);
		st_le32(b + 4, len);
		area_copy_slow(&vq->used, off, b, sizeof(b), true);
	}
	vq->used_idx++;
	if (vq->rec.hdr)
		vq_rec_answer(vq, e->head);
	elem_done(e);
}

static bool vq_should_notify(struct vq *vq)
{
	uint16_t old = vq->signalled, new_idx = vq->used_idx;
	bool valid = vq->signalled_valid;

	vq->signalled = new_idx;
	vq->signalled_valid = true;
	if (vq->event_idx) {
		uint16_t ev =
			area_ld16(&vq->avail, VRING_AVAIL_USED_EVENT(vq->size));

		return !valid || vring_need_event(ev, new_idx, old);
	}
	return !(area_ld16(&vq->avail, VRING_AVAIL_FLAGS) &
		 VRING_AVAIL_F_NO_INTERRUPT);
}

bool vq_flush(struct vq *vq)
{
	if (!vq->enabled || vq->used_idx == vq->published)
		return false;
	/*
	 * Release: the used elements written by vq_push() are visible before
	 * the index that exposes them. Pairs with the driver's read barrier
	 * after it reads used->idx.
	 */
	atomic_thread_fence(memory_order_release);
	area_st16(&vq->used, VRING_USED_IDX, vq->used_idx);
	vq->published = vq->used_idx;
	/* After used->idx: a record cleared first would drop requests the
	 * guest never saw answered, should the process die in between. */
	if (vq->rec.hdr)
		vq_rec_publish(vq);
	/*
	 * Full barrier: used->idx must be visible before used_event (or the
	 * NO_INTERRUPT flag) is read. Pairs with the driver's full barrier
	 * between writing used_event and re-checking used->idx when it
	 * re-enables interrupts.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	return vq_should_notify(vq);
}
