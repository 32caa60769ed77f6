/* SPDX-License-Identifier: MIT */
/*
 * Guest memory views of a domain.
 *
 * Foreign: a bounded cache of 1 MiB chunk mappings (guest RAM banks may be
 * far larger than what we want mapped at once). Every map() piece holds a
 * reference on its chunk until unmap(); only unreferenced chunks are
 * evicted or dropped on INVALIDATE, so rings mapped at queue enable stay
 * valid. Lookups are a hash of the chunk number; a miss maps one chunk.
 *
 * A page that was not there when its chunk was mapped (ballooned out, not
 * yet populated) and is asked for later is looked up again: the chunk is
 * remapped, in place when no piece uses it, else beside the old mapping,
 * which goes when its last piece is released (Xen sends INVALIDATE when
 * memory is removed, never when it comes back).
 *
 * Grant: addresses with bit 63 set are (gref << 12) | offset, consecutive
 * refs per page. Each map() maps the grants it needs and unmap() releases
 * them; the virtio layer unmaps before it publishes the used element.
 */
#include <string.h>

#include "xen_priv.h"

int xen_mapcache_init(struct vback_xen_domain *dom, unsigned int mib)
{
	struct xen_mapcache *c = &dom->cache;
	unsigned int i;

	/* One chunk per MiB; bounded so nothing below can wrap. */
	if (mib > XEN_MAPCACHE_MAX_MIB)
		return -EINVAL;
	c->nr = mib ? mib : 1;
	c->nbuckets = 1;
	while (c->nbuckets < c->nr * 2)
		c->nbuckets <<= 1;
	c->chunks = vb_calloc(c->nr, sizeof(*c->chunks));
	c->buckets = vb_calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->chunks || !c->buckets) {
		vb_free(c->chunks);
		vb_free(c->buckets);
		c->chunks = NULL;
		c->buckets = NULL;
		return -ENOMEM;
	}
	for (i = 0; i < c->nbuckets; i++)
		c->buckets[i] = -1;
	for (i = 0; i < c->nr; i++)
		c->chunks[i].next = -1;
	return 0;
}

static unsigned int bucket_of(const struct xen_mapcache *c, uint64_t idx)
{
	/* Fibonacci hashing: neighbouring chunks land in different buckets. */
	return (unsigned int)((idx * 0x9e3779b97f4a7c15ull) >> 32) &
	       (c->nbuckets - 1);
}

static void chunk_unlink(struct xen_mapcache *c, int slot)
{
	int *pp = &c->buckets[bucket_of(c, c->chunks[slot].idx)];

	while (*pp != -1) {
		if (*pp == slot) {
			*pp = c->chunks[slot].next;
			break;
		}
		pp = &c->chunks[*pp].next;
	}
	c->chunks[slot].next = -1;
}

static void pf_unmap(struct vback_xen_domain *dom, void *host)
{
	const struct vback_xen_platform *pf = dom->xen->pf;

	pf->ops->unmap_foreign(pf->opaque, host, XEN_CHUNK_PAGES);
}

static void chunk_drop(struct vback_xen_domain *dom, int slot)
{
	struct xen_mapcache *c = &dom->cache;
	struct xen_chunk *ch = &c->chunks[slot];

	chunk_unlink(c, slot);
	pf_unmap(dom, ch->host);
	ch->host = NULL;
	ch->refs = 0;
	/* Only chunks without users are dropped: the old mapping, if any,
	 * has none either. */
	if (ch->old)
		pf_unmap(dom, ch->old);
	ch->old = NULL;
	ch->old_refs = 0;
}

void xen_mapcache_invalidate(struct vback_xen_domain *dom)
{
	struct xen_mapcache *c = &dom->cache;
	unsigned int i;

	c->invalidations++;
	for (i = 0; i < c->nr; i++)
		if (c->chunks[i].host && c->chunks[i].refs == 0 &&
		    c->chunks[i].old_refs == 0)
			chunk_drop(dom, (int)i);
}

void xen_mapcache_fini(struct vback_xen_domain *dom)
{
	struct xen_mapcache *c = &dom->cache;
	unsigned int i;

	for (i = 0; c->chunks && i < c->nr; i++) {
		struct xen_chunk *ch = &c->chunks[i];

		if (!ch->host)
			continue;
		if (ch->refs || ch->old_refs) {
			/* IO in flight still writes there (the caller broke
			 * the drain rule): unmapped, the address could be
			 * reused by another mapping, another guest's memory.
			 * Leak the mapping instead. */
			vback_logf(dom->xen->log, VBACK_LOG_ERR,
				   "xen: dom%u: chunk %#llx still used at "
				   "release: left mapped (leaked)",
				   dom->domid, (unsigned long long)ch->idx);
			continue;
		}
		chunk_drop(dom, (int)i);
	}
	vb_free(c->chunks);
	vb_free(c->buckets);
	c->chunks = NULL;
	c->buckets = NULL;
}

static int chunk_find(struct xen_mapcache *c, uint64_t idx)
{
	int s = c->buckets[bucket_of(c, idx)];

	while (s != -1 && c->chunks[s].idx != idx)
		s = c->chunks[s].next;
	return s;
}

/* A free slot, or the least recently used unreferenced chunk. */
static int chunk_victim(struct vback_xen_domain *dom)
{
	struct xen_mapcache *c = &dom->cache;
	int best = -1;
	unsigned int i;

	for (i = 0; i < c->nr; i++) {
		struct xen_chunk *ch = &c->chunks[i];

		if (!ch->host)
			return (int)i;
		if (ch->refs == 0 && ch->old_refs == 0 &&
		    (best < 0 || ch->last_use < c->chunks[best].last_use))
			best = (int)i;
	}
	if (best >= 0) {
		c->evictions++;
		chunk_drop(dom, best);
	}
	return best;
}

/* Map the 256 frames of chunk @idx; the host address, or NULL. */
static uint8_t *chunk_pages(struct vback_xen_domain *dom, uint64_t idx,
			    uint64_t *valid)
{
	const struct vback_xen_platform *pf = dom->xen->pf;
	struct xen_mapcache *c = &dom->cache;
	unsigned int i, nvalid = 0;
	void *host = NULL;

	for (i = 0; i < XEN_CHUNK_PAGES; i++) {
		c->gfns[i] = (idx << (XEN_CHUNK_SHIFT - XEN_PAGE_SHIFT)) + i;
		c->errs[i] = 0;
	}
	if (pf->ops->map_foreign(pf->opaque, dom->domid, c->gfns,
				 XEN_CHUNK_PAGES, c->errs, &host) < 0)
		return NULL;
	memset(valid, 0, XEN_CHUNK_PAGES / 8);
	/* Pages past the end of RAM or in holes fail one by one. */
	for (i = 0; i < XEN_CHUNK_PAGES; i++) {
		if (c->errs[i] == 0) {
			valid[i / 64] |= 1ull << (i % 64);
			nvalid++;
		}
	}
	if (!nvalid) {
		pf->ops->unmap_foreign(pf->opaque, host, XEN_CHUNK_PAGES);
		return NULL;
	}
	return host;
}

static int chunk_map(struct vback_xen_domain *dom, uint64_t idx)
{
	struct xen_mapcache *c = &dom->cache;
	struct xen_chunk *ch;
	uint64_t valid[XEN_CHUNK_PAGES / 64];
	unsigned int b;
	uint8_t *host;
	int slot;

	slot = chunk_victim(dom);
	if (slot < 0)
		return -ENOSPC;
	host = chunk_pages(dom, idx, valid);
	if (!host)
		return -EFAULT;
	ch = &c->chunks[slot];
	memcpy(ch->valid, valid, sizeof(valid));
	ch->host = host;
	ch->idx = idx;
	ch->refs = 0;
	ch->old = NULL;
	ch->old_refs = 0;
	b = bucket_of(c, idx);
	ch->next = c->buckets[b];
	c->buckets[b] = slot;
	return slot;
}

/*
 * @page of @ch was not there when the chunk was mapped: look again. The
 * new mapping replaces the current one, which is unmapped now when no
 * piece uses it, else kept as the old one until its last piece goes (one
 * old mapping at most: a second remap waits for it). True when the page
 * is there now.
 */
static bool chunk_remap(struct vback_xen_domain *dom, struct xen_chunk *ch,
			unsigned int page)
{
	uint64_t valid[XEN_CHUNK_PAGES / 64];
	uint8_t *host;

	if (ch->refs && ch->old)
		return false;
	host = chunk_pages(dom, ch->idx, valid);
	if (!host)
		return false;
	if (!(valid[page / 64] & (1ull << (page % 64)))) {
		/* Still absent: keep what we had. */
		pf_unmap(dom, host);
		return false;
	}
	dom->cache.remaps++;
	if (ch->refs) {
		ch->old = ch->host;
		ch->old_refs = ch->refs;
	} else {
		pf_unmap(dom, ch->host);
	}
	ch->host = host;
	ch->refs = 0;
	memcpy(ch->valid, valid, sizeof(valid));
	return true;
}

static bool page_valid(const struct xen_chunk *ch, unsigned int page)
{
	return ch->valid[page / 64] & (1ull << (page % 64));
}

static void *foreign_map(void *opaque, uint64_t addr, uint64_t *len,
			 unsigned int access)
{
	struct vback_xen_domain *dom = opaque;
	struct xen_mapcache *c = &dom->cache;
	uint64_t idx = addr >> XEN_CHUNK_SHIFT;
	uint64_t off = addr & ((1ull << XEN_CHUNK_SHIFT) - 1);
	unsigned int page = (unsigned int)(off >> XEN_PAGE_SHIFT), p;
	uint64_t avail;
	struct xen_chunk *ch;
	int slot;

	(void)access; /* foreign mappings of guest RAM are read-write */
	if (!len || *len == 0 || !c->chunks)
		return NULL;
	/* Grant addresses and frames Xen cannot name are not guest RAM. */
	if (addr & XEN_GRANT_ADDR_BIT)
		return NULL;
	slot = chunk_find(c, idx);
	if (slot < 0) {
		c->misses++;
		slot = chunk_map(dom, idx);
		if (slot < 0)
			return NULL;
	} else {
		c->hits++;
	}
	ch = &c->chunks[slot];
	if (!page_valid(ch, page) && !chunk_remap(dom, ch, page))
		return NULL;
	for (p = page + 1; p < XEN_CHUNK_PAGES && page_valid(ch, p); p++)
		;
	avail = ((uint64_t)p << XEN_PAGE_SHIFT) - off;
	if (*len > avail)
		*len = avail;
	ch->refs++;
	ch->last_use = ++c->tick;
	return ch->host + off;
}

static void foreign_unmap(void *opaque, uint64_t addr, void *host, uint64_t len,
			  unsigned int access)
{
	struct vback_xen_domain *dom = opaque;
	struct xen_chunk *ch;
	uint8_t *h = host;
	int slot;

	(void)len;
	(void)access;
	if (!dom->cache.chunks)
		return;
	slot = chunk_find(&dom->cache, addr >> XEN_CHUNK_SHIFT);
	if (slot < 0)
		return;
	ch = &dom->cache.chunks[slot];
	/* A piece of the mapping a remap replaced? */
	if (ch->old && h >= ch->old &&
	    h < ch->old + ((size_t)XEN_CHUNK_PAGES << XEN_PAGE_SHIFT)) {
		if (ch->old_refs && !--ch->old_refs) {
			pf_unmap(dom, ch->old);
			ch->old = NULL;
		}
		return;
	}
	if (ch->refs)
		ch->refs--;
}

const struct vback_gm_ops xen_gm_foreign_ops = {
	.map = foreign_map,
	.unmap = foreign_unmap,
};

static uint32_t grant_pages(uint64_t off, uint64_t len)
{
	uint64_t n = (off + len + XEN_PAGE_SIZE - 1) >> XEN_PAGE_SHIFT;

	return n > XEN_GRANT_MAX_PAGES ? XEN_GRANT_MAX_PAGES : (uint32_t)n;
}

static void *grant_map(void *opaque, uint64_t addr, uint64_t *len,
		       unsigned int access)
{
	struct vback_xen_domain *dom = opaque;
	const struct vback_xen_platform *pf = dom->xen->pf;
	uint64_t g = addr & ~XEN_GRANT_ADDR_BIT;
	uint64_t off = g & (XEN_PAGE_SIZE - 1);
	uint64_t gref = g >> XEN_PAGE_SHIFT;
	uint32_t i, n, ok;
	void *host = NULL;

	if (!len || *len == 0)
		return NULL;
	if (!(addr & XEN_GRANT_ADDR_BIT)) {
		/* A plain guest-physical address: the guest's kernel ignores
		 * the grant-DMA IOMMU libxl declares for every backend but
		 * Dom0's (Linux without CONFIG_XEN_VIRTIO does, after its
		 * deferred-probe timeout). Map it as foreign memory, which
		 * Xen allows only to the guest's device model. */
		if (!dom->noted_plain) {
			dom->noted_plain = true;
			vback_logf(dom->xen->log, VBACK_LOG_INFO,
				   "xen: dom%u uses plain guest-physical "
				   "addresses on a grant device: mapped as "
				   "foreign memory",
				   dom->domid);
		}
		return foreign_map(opaque, addr, len, access);
	}
	/* Bounded first, so off + len cannot overflow. */
	if (*len > (uint64_t)XEN_GRANT_MAX_PAGES << XEN_PAGE_SHIFT)
		*len = (uint64_t)XEN_GRANT_MAX_PAGES << XEN_PAGE_SHIFT;
	n = grant_pages(off, *len);
	if (gref + n - 1 > UINT32_MAX)
		return NULL;
	/* The domain's share of the maptrack table: map what fits, and
	 * say "busy" when nothing does (the virtio layer waits). */
	if (n > dom->grant_cap - dom->grant_pages) {
		n = dom->grant_cap - dom->grant_pages;
		if (!n) {
			*len = 0;
			return NULL;
		}
		if (*len > ((uint64_t)n << XEN_PAGE_SHIFT) - off)
			*len = ((uint64_t)n << XEN_PAGE_SHIFT) - off;
	}
	for (i = 0; i < n; i++) {
		dom->grant_refs[i] = (uint32_t)(gref + i);
		dom->grant_errs[i] = 0;
	}
	if (pf->ops->map_grants(pf->opaque, dom->domid, dom->grant_refs, n,
				(access & VBACK_GM_WRITE) != 0, dom->grant_errs,
				&host) < 0)
		return NULL;
	/* The pages mapped in a row from the first; the caller loops. */
	for (ok = 0; ok < n && dom->grant_errs[ok] == 0; ok++)
		;
	if (!ok) {
		pf->ops->unmap_grants(pf->opaque, host, n);
		return NULL;
	}
	if (ok < n) {
		/* Keep the good prefix mapped: remap just it. */
		pf->ops->unmap_grants(pf->opaque, host, n);
		if (pf->ops->map_grants(pf->opaque, dom->domid, dom->grant_refs,
					ok, (access & VBACK_GM_WRITE) != 0,
					dom->grant_errs, &host) < 0)
			return NULL;
		for (i = 0; i < ok; i++) {
			if (dom->grant_errs[i]) {
				/* Revoked meanwhile: nothing this time. */
				pf->ops->unmap_grants(pf->opaque, host, ok);
				return NULL;
			}
		}
		n = ok;
	}
	if (*len > ((uint64_t)n << XEN_PAGE_SHIFT) - off)
		*len = ((uint64_t)n << XEN_PAGE_SHIFT) - off;
	dom->grant_pages += n;
	return (uint8_t *)host + off;
}

static void grant_unmap(void *opaque, uint64_t addr, void *host, uint64_t len,
			unsigned int access)
{
	struct vback_xen_domain *dom = opaque;
	const struct vback_xen_platform *pf = dom->xen->pf;
	uint64_t off = addr & (XEN_PAGE_SIZE - 1);

	uint32_t n;

	if (!host || len == 0)
		return;
	if (!(addr & XEN_GRANT_ADDR_BIT)) {
		foreign_unmap(opaque, addr, host, len, access);
		return;
	}
	n = grant_pages(off, len);
	pf->ops->unmap_grants(pf->opaque, (uint8_t *)host - off, n);
	dom->grant_pages = dom->grant_pages > n ? dom->grant_pages - n : 0;
}

const struct vback_gm_ops xen_gm_grant_ops = {
	.map = grant_map,
	.unmap = grant_unmap,
};
