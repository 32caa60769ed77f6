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
 * Grant: addresses with bit 63 set are (gref << 12) | offset, consecutive
 * refs per page. Each map() maps the grants it needs and unmap() releases
 * them; the virtio layer unmaps before it publishes the used element.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "xen_priv.h"

int xen_mapcache_init(struct vback_xen_domain *dom, unsigned int mib)
{
	struct xen_mapcache *c = &dom->cache;
	unsigned int i;

	if (mib > 1u << 20)
		return -EINVAL;
	c->nr = mib * (1u << 20) >> XEN_CHUNK_SHIFT;
	if (c->nr == 0)
		c->nr = 1;
	c->nbuckets = 1;
	while (c->nbuckets < c->nr * 2)
		c->nbuckets <<= 1;
	c->chunks = calloc(c->nr, sizeof(*c->chunks));
	c->buckets = malloc(c->nbuckets * sizeof(*c->buckets));
	if (!c->chunks || !c->buckets) {
		free(c->chunks);
		free(c->buckets);
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

static void chunk_drop(struct vback_xen_domain *dom, int slot)
{
	struct xen_mapcache *c = &dom->cache;
	struct xen_chunk *ch = &c->chunks[slot];

	chunk_unlink(c, slot);
	dom->xen->sys->fmem_unmap(dom->xen->fmem, ch->host, XEN_CHUNK_PAGES);
	ch->host = NULL;
	ch->refs = 0;
}

void xen_mapcache_invalidate(struct vback_xen_domain *dom)
{
	struct xen_mapcache *c = &dom->cache;
	unsigned int i;

	c->invalidations++;
	for (i = 0; i < c->nr; i++)
		if (c->chunks[i].host && c->chunks[i].refs == 0)
			chunk_drop(dom, (int)i);
}

void xen_mapcache_fini(struct vback_xen_domain *dom)
{
	struct xen_mapcache *c = &dom->cache;
	unsigned int i;

	for (i = 0; c->chunks && i < c->nr; i++) {
		if (!c->chunks[i].host)
			continue;
		if (c->chunks[i].refs)
			vback_logf(
				dom->xen->log, VBACK_LOG_WARN,
				"xen: dom%u: chunk %#llx still used at release",
				dom->domid,
				(unsigned long long)c->chunks[i].idx);
		chunk_drop(dom, (int)i);
	}
	free(c->chunks);
	free(c->buckets);
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
		if (ch->refs == 0 &&
		    (best < 0 || ch->last_use < c->chunks[best].last_use))
			best = (int)i;
	}
	if (best >= 0) {
		c->evictions++;
		chunk_drop(dom, best);
	}
	return best;
}

static int chunk_map(struct vback_xen_domain *dom, uint64_t idx)
{
	struct xen_mapcache *c = &dom->cache;
	struct xen_chunk *ch;
	unsigned int i, nvalid = 0;
	unsigned int b;
	void *host;
	int slot;

	slot = chunk_victim(dom);
	if (slot < 0)
		return -ENOSPC;
	for (i = 0; i < XEN_CHUNK_PAGES; i++) {
		c->pfns[i] = (xen_pfn_t)((idx << (XEN_CHUNK_SHIFT -
						  XEN_PAGE_SHIFT)) +
					 i);
		c->errs[i] = 0;
	}
	host = dom->xen->sys->fmem_map(dom->xen->fmem, dom->domid,
				       PROT_READ | PROT_WRITE, XEN_CHUNK_PAGES,
				       c->pfns, c->errs);
	if (!host)
		return -EFAULT;
	ch = &c->chunks[slot];
	memset(ch->valid, 0, sizeof(ch->valid));
	/* Pages past the end of RAM or in holes fail one by one. */
	for (i = 0; i < XEN_CHUNK_PAGES; i++) {
		if (c->errs[i] == 0) {
			ch->valid[i / 64] |= 1ull << (i % 64);
			nvalid++;
		}
	}
	if (!nvalid) {
		dom->xen->sys->fmem_unmap(dom->xen->fmem, host,
					  XEN_CHUNK_PAGES);
		return -EFAULT;
	}
	ch->host = host;
	ch->idx = idx;
	ch->refs = 0;
	b = bucket_of(c, idx);
	ch->next = c->buckets[b];
	c->buckets[b] = slot;
	return slot;
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
	if (!page_valid(ch, page))
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
	int slot;

	(void)host;
	(void)len;
	(void)access;
	if (!dom->cache.chunks)
		return;
	slot = chunk_find(&dom->cache, addr >> XEN_CHUNK_SHIFT);
	if (slot >= 0 && dom->cache.chunks[slot].refs)
		dom->cache.chunks[slot].refs--;
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
	uint64_t g = addr & ~XEN_GRANT_ADDR_BIT;
	uint64_t off = g & (XEN_PAGE_SIZE - 1);
	uint64_t gref = g >> XEN_PAGE_SHIFT;
	uint32_t i, n;
	uint8_t *host;
	int prot;

	if (!len || *len == 0 || !(addr & XEN_GRANT_ADDR_BIT))
		return NULL;
	/* Bounded first, so off + len cannot overflow. */
	if (*len > (uint64_t)XEN_GRANT_MAX_PAGES << XEN_PAGE_SHIFT)
		*len = (uint64_t)XEN_GRANT_MAX_PAGES << XEN_PAGE_SHIFT;
	n = grant_pages(off, *len);
	if (gref + n - 1 > UINT32_MAX)
		return NULL;
	for (i = 0; i < n; i++)
		dom->grant_refs[i] = (uint32_t)(gref + i);
	prot = PROT_READ | ((access & VBACK_GM_WRITE) ? PROT_WRITE : 0);
	host = dom->xen->sys->gnt_map_domain_grant_refs(dom->xen->gnt, n,
							dom->domid,
							dom->grant_refs, prot);
	if (!host)
		return NULL;
	if (*len > ((uint64_t)n << XEN_PAGE_SHIFT) - off)
		*len = ((uint64_t)n << XEN_PAGE_SHIFT) - off;
	return host + off;
}

static void grant_unmap(void *opaque, uint64_t addr, void *host, uint64_t len,
			unsigned int access)
{
	struct vback_xen_domain *dom = opaque;
	uint64_t off = addr & (XEN_PAGE_SIZE - 1);

	(void)access;
	if (!host || len == 0)
		return;
	dom->xen->sys->gnt_unmap(dom->xen->gnt, (uint8_t *)host - off,
				 grant_pages(off, len));
}

const struct vback_gm_ops xen_gm_grant_ops = {
	.map = grant_map,
	.unmap = grant_unmap,
};
