/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vb_os.h"

#ifdef VB_ASAN
#include <sanitizer/asan_interface.h>
#define FZ_POISON(p, n)	  __asan_poison_memory_region((p), (n))
#define FZ_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define FZ_POISON(p, n)	  ((void)(p), (void)(n))
#define FZ_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz invariant broken at %s:%d: %s: ", file, line,
		cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void fz_trace(const char *fmt, ...)
{
	static int on = -1;
	va_list ap;

	if (on < 0)
		on = getenv("FZ_TRACE") != NULL;
	if (!on)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Logs are dropped, or traced with FZ_TRACE (errors only, for speed). */
static void quiet(void *opaque, enum vback_log_level level, const char *msg)
{
	(void)opaque;
	fz_trace("log %s: %s", vback_log_level_name(level), msg);
}

const struct vback_log fz_quiet_log = { quiet, NULL, VBACK_LOG_ERR };

size_t fz_first_not(const void *buf, size_t len, uint8_t byte)
{
	const uint8_t *b = buf;
	uint8_t block[256];
	size_t i = 0;

	/* By blocks: ASan checks each byte a loop reads, memcmp() once. */
	memset(block, byte, sizeof(block));
	while (len - i >= sizeof(block) && !memcmp(b + i, block, sizeof(block)))
		i += sizeof(block);
	while (i < len && b[i] == byte)
		i++;
	return i;
}

void fz_fill_pattern(uint8_t *buf, size_t len)
{
	size_t i;

	/* (i + 256) * 7 + 3 == i * 7 + 3 modulo 256: the first 256 bytes
	 * byte by byte, the rest copied from them. The byte loop over a
	 * whole disk, each store checked by ASan, was a quarter of the mmio
	 * target's time. */
	for (i = 0; i < len && i < 256; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (; i < len; i += 256)
		memcpy(buf + i, buf, len - i < 256 ? len - i : 256);
}

/* ------------------------------------------------------------------ */
/* Input                                                               */
/* ------------------------------------------------------------------ */

uint8_t fz_u8(struct fz *f)
{
	uint8_t v;

	if (!f->n)
		return 0;
	v = *f->p++;
	f->n--;
	return v;
}

uint16_t fz_u16(struct fz *f)
{
	uint16_t v = fz_u8(f);

	return (uint16_t)(v | (uint16_t)fz_u8(f) << 8);
}

uint32_t fz_u32(struct fz *f)
{
	uint32_t v = fz_u16(f);

	return v | (uint32_t)fz_u16(f) << 16;
}

uint64_t fz_u64(struct fz *f)
{
	uint64_t v = fz_u32(f);

	return v | (uint64_t)fz_u32(f) << 32;
}

size_t fz_bytes(struct fz *f, void *buf, size_t len)
{
	size_t k = len < f->n ? len : f->n;

	memcpy(buf, f->p, k);
	memset((uint8_t *)buf + k, 0, len - k);
	f->p += k;
	f->n -= k;
	return k;
}

/* ------------------------------------------------------------------ */
/* Guest memory                                                        */
/* ------------------------------------------------------------------ */

bool fz_mem_holds(const struct fz_mem *m, const void *host, uint64_t len,
		  bool write)
{
	const uint8_t *h = host;

	for (unsigned int i = 0; i < m->n; i++) {
		const uint8_t *b = m->host[i];

		if (h >= b && h < b + m->r[i].size &&
		    len <= m->r[i].size - (uint64_t)(h - b))
			return !write || !m->r[i].read_only;
	}
	return false;
}

/*
 * The checking view: forwards to the guest_mem view and asserts that
 * what comes back lies inside one region and honours read-only regions.
 */
static bool ring_truth(const struct fz_ring *r, uint16_t *size,
		       struct vback_vq_addr *a);
static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen);

static bool over_ring(const struct fz_mem *m, uint64_t addr, uint64_t len)
{
	if (len - 1 > UINT64_MAX - addr)
		return true;
	for (unsigned int w = 0; w < m->nwatch; w++) {
		struct vback_vq_addr a;
		uint16_t size;

		if (!ring_truth(m->watch[w], &size, &a))
			continue;
		if (overlap(addr, len, a.used, 6 + 8ull * size) ||
		    overlap(addr, len, a.avail, 6 + 2ull * size))
			return true;
	}
	return false;
}

static void *check_map(void *opaque, uint64_t addr, uint64_t *len,
		       unsigned int access)
{
	struct fz_mem *m = opaque;
	uint64_t asked = *len;
	void *host;

	if ((access & VBACK_GM_WRITE) && !m->ring_maps_ok && *len &&
	    over_ring(m, addr, *len))
		return NULL;
	host = m->inner.ops->map(m->inner.opaque, addr, len, access);
	if (!host)
		return NULL;
	FZ_CHECK(*len >= 1 && *len <= asked, "map len %llu of %llu",
		 (unsigned long long)*len, (unsigned long long)asked);
	FZ_CHECK(fz_mem_holds(m, host, *len, access & VBACK_GM_WRITE),
		 "map of %#llx+%llu outside guest memory",
		 (unsigned long long)addr, (unsigned long long)*len);
	m->maps++;
	return host;
}

static void check_unmap(void *opaque, uint64_t addr, void *host, uint64_t len,
			unsigned int access)
{
	struct fz_mem *m = opaque;

	m->unmaps++;
	FZ_CHECK(fz_mem_holds(m, host, len, false),
		 "unmap of a piece outside guest memory at %#llx",
		 (unsigned long long)addr);
	m->inner.ops->unmap(m->inner.opaque, addr, host, len, access);
}

static const struct vback_gm_ops check_plain_ops = { .map = check_map };
static const struct vback_gm_ops check_unmap_ops = {
	.map = check_map,
	.unmap = check_unmap,
};

int fz_mem_init(struct fz_mem *m, struct fz *f, int force_unmap)
{
	uint8_t layout = fz_u8(f);
	uint64_t gpa = FZ_GPA_BASE;

	memset(m, 0, sizeof(*m));
	m->n = 1 + (layout & 3);
	for (unsigned int i = 0; i < m->n; i++) {
		uint8_t b = fz_u8(f);

		m->r[i].gpa = gpa;
		m->r[i].size = 512ull * (1 + (b & 31));
		m->r[i].read_only = i > 0 && (b & 0x20);
		/* Adjacent (straddling) or one page of hole after. */
		gpa += m->r[i].size + ((b & 0x40) ? 0x1000 : 0);
	}
	m->with_unmap = force_unmap ? force_unmap > 0 : (layout & 4);
	m->gmem = gmem_create(m->r, m->n);
	if (!m->gmem)
		return -ENOMEM;
	for (unsigned int i = 0; i < m->n; i++)
		m->host[i] = gmem_host(m->gmem, m->r[i].gpa, m->r[i].size);
	/* Every translation capped at a few bytes: pieces everywhere. */
	if (layout & 8)
		gmem_set_cap(m->gmem, 1 + ((layout >> 4) & 7) * 8);
	m->inner = gmem_view(m->gmem, m->with_unmap);
	m->gm.ops = m->with_unmap ? &check_unmap_ops : &check_plain_ops;
	m->gm.opaque = m;
	return 0;
}

int fz_mem_init_fixed(struct fz_mem *m, uint64_t gpa, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	m->n = 1;
	m->r[0].gpa = gpa;
	m->r[0].size = size;
	m->gmem = gmem_create(m->r, 1);
	if (!m->gmem)
		return -ENOMEM;
	m->host[0] = gmem_host(m->gmem, gpa, size);
	m->inner = gmem_view(m->gmem, false);
	m->gm.ops = &check_plain_ops;
	m->gm.opaque = m;
	return 0;
}

void fz_mem_park(struct fz_mem *m)
{
	for (unsigned int i = 0; i < m->n; i++)
		FZ_POISON(m->host[i], m->r[i].size);
}

void fz_mem_reuse(struct fz_mem *m)
{
	for (unsigned int i = 0; i < m->n; i++) {
		FZ_UNPOISON(m->host[i], m->r[i].size);
		memset(m->host[i], 0, m->r[i].size);
	}
	gmem_reset_counters(m->gmem);
	m->maps = m->unmaps = 0;
	memset(m->watch, 0, sizeof(m->watch));
	m->nwatch = 0;
	m->ring_maps_ok = false;
}

void fz_mem_fini(struct fz_mem *m)
{
	gmem_destroy(m->gmem);
	m->gmem = NULL;
}

uint64_t fz_addr(const struct fz_mem *m, struct fz *f)
{
	uint32_t s = fz_u32(f);
	const struct gmem_region *r;

	/* bits 0-3: 15 = raw 64-bit address follows; 4-5: region; 6-31:
	 * offset, up to 64 bytes past the end (the hole or next region). */
	if ((s & 0xf) == 0xf)
		return fz_u64(f);
	r = &m->r[((s >> 4) & 3) % m->n];
	return r->gpa + (uint64_t)(s >> 6) % (r->size + 64);
}

uint64_t fz_addr_aligned(const struct fz_mem *m, struct fz *f, uint64_t align)
{
	return fz_addr(m, f) & ~(align - 1);
}

static bool watched(const struct fz_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned int w = 0; w < m->nwatch; w++)
		if (fz_ring_covers_used(m->watch[w], gpa, len))
			return true;
	return false;
}

void fz_poke(struct fz_mem *m, uint64_t gpa, const void *buf, uint64_t len)
{
	const uint8_t *b = buf;

	if (!watched(m, gpa, len) && gmem_write(m->gmem, gpa, b, len) == 0)
		return;
	/* Byte by byte: the part inside guest memory, around used rings. */
	for (uint64_t i = 0; i < len; i++)
		if (!watched(m, gpa + i, 1))
			gmem_write(m->gmem, gpa + i, b + i, 1);
}

void fz_poke_input(struct fz_mem *m, struct fz *f)
{
	uint8_t buf[16];
	uint64_t gpa = fz_addr(m, f);

	fz_poke(m, gpa, buf, fz_bytes(f, buf, sizeof(buf)));
}

void fz_poke16(struct fz_mem *m, uint64_t gpa, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	fz_poke(m, gpa, b, 2);
}

void fz_poke32(struct fz_mem *m, uint64_t gpa, uint32_t v)
{
	uint8_t b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	fz_poke(m, gpa, b, 4);
}

void fz_poke64(struct fz_mem *m, uint64_t gpa, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	fz_poke(m, gpa, b, 8);
}

bool fz_peek(struct fz_mem *m, uint64_t gpa, void *buf, uint64_t len)
{
	if (len && len - 1 > UINT64_MAX - gpa)
		return false;
	return gmem_read(m->gmem, gpa, buf, len) == 0;
}

uint16_t fz_peek16(struct fz_mem *m, uint64_t gpa)
{
	uint8_t b[2] = { 0, 0 };

	fz_peek(m, gpa, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

uint32_t fz_peek32(struct fz_mem *m, uint64_t gpa)
{
	uint8_t b[4] = { 0, 0, 0, 0 };

	fz_peek(m, gpa, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

void fz_desc(struct fz_mem *m, uint64_t table, unsigned int i, uint64_t addr,
	     uint32_t len, uint16_t flags, uint16_t next)
{
	uint64_t d = table + 16ull * i;

	fz_poke64(m, d, addr);
	fz_poke32(m, d + 8, len);
	fz_poke16(m, d + 12, flags);
	fz_poke16(m, d + 14, next);
}

void fz_drvq_pick(struct fz_drvq *d, struct fz *f, uint16_t max_size)
{
	uint8_t b = fz_u8(f);

	/* Mostly small rings: a 256-entry one costs a 240 KiB context. */
	d->size = (uint16_t)(1u << ((b & 0x40) ? b % 9 : b % 5));
	if (d->size > max_size)
		d->size = max_size;
	if (b & 0x80) {
		/* Anything at all, alignment included. */
		d->addr.desc = fz_addr(d->mem, f);
		d->addr.avail = fz_addr(d->mem, f);
		d->addr.used = fz_addr(d->mem, f);
	} else {
		d->addr.desc = fz_addr_aligned(d->mem, f, 16);
		d->addr.avail = fz_addr_aligned(d->mem, f, 2);
		d->addr.used = fz_addr_aligned(d->mem, f, 4);
	}
	d->avail_idx = 0;
}

void fz_drvq_init_used(struct fz_drvq *d, uint16_t idx)
{
	fz_poke16(d->mem, d->addr.used + 2, idx);
}

void fz_drvq_publish(struct fz_drvq *d, uint16_t head)
{
	if (!d->size)
		return;
	fz_poke16(d->mem,
		  d->addr.avail + 4 + 2ull * (d->avail_idx & (d->size - 1)),
		  head);
	d->avail_idx++;
	fz_poke16(d->mem, d->addr.avail + 2, d->avail_idx);
}

void fz_drvq_chain(struct fz_drvq *d, uint16_t head, const struct fz_seg *segs,
		   unsigned int n, uint64_t table)
{
	uint64_t at_table = table ? table : d->addr.desc;

	if (!d->size)
		return;
	head &= d->size - 1;
	if (table)
		fz_desc(d->mem, d->addr.desc, head, table, 16 * n,
			0x4 /* INDIRECT */, 0);
	for (unsigned int i = 0; i < n; i++) {
		unsigned int at = table ? i : (head + i) & (d->size - 1u);
		unsigned int next =
			table ? i + 1 : (head + i + 1) & (d->size - 1u);
		uint16_t flags = (uint16_t)((segs[i].write ? 0x2 : 0) |
					    (i + 1 < n ? 0x1 : 0));

		fz_desc(d->mem, at_table, at, segs[i].addr, segs[i].len, flags,
			(uint16_t)next);
	}
}

uint32_t fz_len(struct fz *f)
{
	uint8_t b = fz_u8(f);

	if (b == 0xff)
		return fz_u32(f);
	if (b & 0x80)
		return 512u * (b & 0x1f);
	return b;
}

void fz_mem_check_released(const struct fz_mem *m)
{
	if (!m->with_unmap)
		return;
	FZ_CHECK(m->maps == m->unmaps, "%llu maps, %llu unmaps",
		 (unsigned long long)m->maps, (unsigned long long)m->unmaps);
	FZ_CHECK(gmem_bad_unmaps(m->gmem) == 0, "%llu bad unmaps",
		 (unsigned long long)gmem_bad_unmaps(m->gmem));
}

/* ------------------------------------------------------------------ */
/* Used-ring accounting                                                */
/* ------------------------------------------------------------------ */

void fz_ring_init(struct fz_ring *r, struct vback_dev *dev, struct fz_mem *mem,
		  unsigned int q)
{
	memset(r, 0, sizeof(*r));
	r->dev = dev;
	r->mem = mem;
	r->q = q;
	FZ_CHECK(mem->nwatch < 4, "%s", "too many watched rings");
	mem->watch[mem->nwatch++] = r;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* The device's own view of a watched queue (watchers may lag a step). */
static bool ring_truth(const struct fz_ring *r, uint16_t *size,
		       struct vback_vq_addr *a)
{
	*size = vback_dev_queue_size(r->dev, r->q);
	vback_dev_queue_get_addr(r->dev, r->q, a);
	return vback_dev_queue_enabled(r->dev, r->q);
}

/*
 * Does the device write (used rings) where this ring's indexes and
 * entries are read from? A guest may lay its rings out so; the device is
 * not wrong then, but the accounting cannot tell who wrote what.
 */
static bool ring_clobbered(const struct fz_ring *r)
{
	const struct fz_mem *m = r->mem;
	uint64_t alen = 6 + 2ull * r->size, ulen = 6 + 8ull * r->size;

	if (overlap(r->addr.avail, alen, r->addr.used, ulen))
		return true;
	for (unsigned int w = 0; w < m->nwatch; w++) {
		const struct fz_ring *o = m->watch[w];
		struct vback_vq_addr oa;
		uint16_t osize;
		uint64_t oulen;

		if (o == r || o->dev != r->dev || !ring_truth(o, &osize, &oa))
			continue;
		oulen = 6 + 8ull * osize;
		if (overlap(r->addr.avail, alen, oa.used, oulen) ||
		    overlap(r->addr.used, ulen, oa.used, oulen))
			return true;
	}
	return false;
}

/* Another ring of @r's device holds requests (or may: its account is
 * lost). Their buffers lie wherever the driver put them, possibly where
 * it has since put @r, and their completions write there. */
static bool others_in_flight(const struct fz_ring *r)
{
	const struct fz_mem *m = r->mem;

	for (unsigned int w = 0; w < m->nwatch; w++) {
		const struct fz_ring *o = m->watch[w];

		if (o != r && o->dev == r->dev && o->enabled &&
		    (o->outstanding || o->unreliable))
			return true;
	}
	return false;
}

void fz_ring_rebase(struct fz_ring *r)
{
	r->enabled = vback_dev_queue_enabled(r->dev, r->q);
	r->size = vback_dev_queue_size(r->dev, r->q);
	vback_dev_queue_get_addr(r->dev, r->q, &r->addr);
	memset(r->handed, 0, sizeof(r->handed));
	memset(r->returned, 0, sizeof(r->returned));
	r->outstanding = 0;
	r->unreliable = false;
	fz_trace("ring %u: rebase enabled=%d size=%u desc=%#llx avail=%#llx "
		 "used=%#llx",
		 r->q, r->enabled, r->size, (unsigned long long)r->addr.desc,
		 (unsigned long long)r->addr.avail,
		 (unsigned long long)r->addr.used);
	if (!r->enabled)
		return;
	FZ_CHECK(r->size && r->size <= FZ_MAX_RING, "queue size %u", r->size);
	r->last_avail = vback_dev_queue_last_avail(r->dev, r->q);
	/*
	 * A queue is rebased right after it was enabled, with nothing in
	 * flight: the device's used index equals its avail index. Play the
	 * driver that zeroed its used ring before enabling (the device never
	 * reads used->idx), unless the rings overlap and nothing is
	 * accounted anyway.
	 */
	r->used_seen = r->last_avail;
	/* Set up while requests a reset orphaned may still write anywhere
	 * they were given: a driver that did not wait for the reset to
	 * complete (vback_dev_resetting()) gets no accounting either; nor
	 * one that sets a ring up while another queue's requests are in
	 * flight (their buffers may lie under it). */
	r->unreliable = ring_clobbered(r) || vback_dev_resetting(r->dev, -1) ||
			others_in_flight(r);
	fz_trace("ring %u: %s", r->q,
		 r->unreliable ? "not accounted (overlapped, or set up while "
				 "requests may write anywhere)"
			       : "accounted");
	if (!r->unreliable) {
		uint8_t b[2] = { (uint8_t)r->last_avail,
				 (uint8_t)(r->last_avail >> 8) };

		gmem_write(r->mem->gmem, r->addr.used + 2, b, 2);
	}
}

void fz_ring_check(struct fz_ring *r)
{
	struct vback_vq_addr a;
	uint16_t la, la0, used, n;
	unsigned int outstanding = r->outstanding;
	/* Heads handed over in this call: only their count can exceed one
	 * in flight (a count only grows when handed over), so only they are
	 * checked at the end, not the whole ring at every step. */
	uint16_t touched[FZ_MAX_RING];
	unsigned int ntouched = 0;

	vback_dev_queue_get_addr(r->dev, r->q, &a);
	if (!vback_dev_queue_enabled(r->dev, r->q) || !r->enabled ||
	    vback_dev_queue_size(r->dev, r->q) != r->size ||
	    memcmp(&a, &r->addr, sizeof(a))) {
		fz_trace("ring %u: changed (enabled %d/%d)", r->q,
			 vback_dev_queue_enabled(r->dev, r->q), r->enabled);
		fz_ring_rebase(r);
		return;
	}
	/* Once another ring's used area lies over this one, the account is
	 * lost until the queue is set up again. */
	if (r->unreliable || ring_clobbered(r)) {
		if (!r->unreliable)
			fz_trace("ring %u: overlapped by a used ring", r->q);
		r->unreliable = true;
		return;
	}
	la = vback_dev_queue_last_avail(r->dev, r->q);
	la0 = r->last_avail;
	used = fz_peek16(r->mem, r->addr.used + 2);
	/* Between two looks the device may consume a whole ring, publish
	 * it, and consume what the driver (or the device's own writes into a
	 * ring a hostile driver pointed a buffer at) offered again: beyond
	 * the queue size only as many as it returned meanwhile. */
	FZ_CHECK((uint16_t)(la - r->last_avail) <=
			 r->size + (uint16_t)(used - r->used_seen),
		 "last_avail moved %u -> %u (size %u, used %u -> %u)",
		 r->last_avail, la, r->size, r->used_seen, used);
	for (; r->last_avail != la; r->last_avail++) {
		uint16_t head =
			fz_peek16(r->mem, r->addr.avail + 4 +
						  2ull * (r->last_avail &
							  (r->size - 1)));

		fz_trace("ring %u: consumed avail %u: head %u", r->q,
			 r->last_avail, head);
		FZ_CHECK(head < r->size, "device consumed head %u (size %u)",
			 head, r->size);
		r->handed[head]++;
		r->outstanding++;
		if (ntouched < FZ_MAX_RING)
			touched[ntouched] = head;
		ntouched++;
	}
	/* Never more returned than was handed over and not yet returned
	 * (per head, below). A head re-offered before its used element was
	 * published is refused by the device (test_virtio_hostile: "head
	 * offered again before it was returned"). */
	n = (uint16_t)(used - r->used_seen);
	FZ_CHECK(n <= outstanding + (uint16_t)(la - la0),
		 "used idx jumped %u -> %u (size %u, %u outstanding)",
		 r->used_seen, used, r->size,
		 outstanding + (uint16_t)(la - la0));
	for (; r->used_seen != used; r->used_seen++) {
		uint32_t id = fz_peek32(r->mem, r->addr.used + 4 +
							8ull * (r->used_seen &
								(r->size - 1)));

		fz_trace("ring %u: used %u: id %u", r->q, r->used_seen, id);
		FZ_CHECK(id < r->size, "used id %u (size %u)", id, r->size);
		r->returned[id]++;
		r->outstanding--;
		r->total_returned++;
		FZ_CHECK(r->returned[id] <= r->handed[id],
			 "head %u returned %u times, handed over %u", id,
			 r->returned[id], r->handed[id]);
	}
	/* A head the driver handed over again while the device still held
	 * it must not have been accepted. */
	for (unsigned int i = 0; i < ntouched; i++) {
		/* More heads than the ring holds: look at them all. */
		unsigned int h = ntouched <= FZ_MAX_RING ? touched[i] : i;

		if (ntouched > FZ_MAX_RING && i >= r->size)
			break;
		FZ_CHECK(r->handed[h] - r->returned[h] <= 1,
			 "head %u in flight twice (handed %u, returned %u)", h,
			 r->handed[h], r->returned[h]);
	}
}

bool fz_ring_covers_used(const struct fz_ring *r, uint64_t gpa, uint64_t len)
{
	uint64_t ulen;

	if (!r->enabled)
		return false;
	if (len - 1 > UINT64_MAX - gpa)
		return true;
	ulen = 6 + 8ull * r->size;
	return gpa < r->addr.used + ulen && r->addr.used < gpa + len;
}

static void null_notify_queue(void *opaque, unsigned int q)
{
	(void)opaque;
	(void)q;
}

static void null_notify_config(void *opaque)
{
	(void)opaque;
}

const struct vback_dev_transport_ops fz_null_transport_ops = {
	.notify_queue = null_notify_queue,
	.notify_config = null_notify_config,
};

struct vback_loop *fz_loop_create(void)
{
	struct vback_loop *loop = NULL;

	FZ_CHECK(vback_simple_loop_create(NULL, &loop) == 0, "%s",
		 "simple loop");
	return loop;
}

void fz_loop_run(struct vback_loop *loop)
{
	/* Bounded: a device that always re-posts itself is a bug too. */
	for (unsigned int i = 0; i < 100000; i++)
		if (!vback_simple_loop_dispatch(loop))
			return;
	FZ_CHECK(0, "%s", "posted work never ends");
}

void fz_loop_destroy(struct vback_loop *loop)
{
	fz_loop_run(loop);
	vback_simple_loop_destroy(loop);
}
