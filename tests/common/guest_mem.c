/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest_mem.h"

#define GMEM_MAX_REGIONS 16

struct gmem_reg {
	struct gmem_region r;
	uint8_t *host;
};

struct gmem {
	struct gmem_reg regs[GMEM_MAX_REGIONS];
	unsigned int n;
	uint64_t cap;
	uint64_t maps, unmaps, refused, bad_unmaps;
};

struct gmem *gmem_create(const struct gmem_region *regions, unsigned int n)
{
	struct gmem *m;

	if (!n || n > GMEM_MAX_REGIONS)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	for (unsigned int i = 0; i < n; i++) {
		const struct gmem_region *r = &regions[i];

		if (!r->size || r->size - 1 > UINT64_MAX - r->gpa)
			goto fail;
		for (unsigned int j = 0; j < i; j++) {
			const struct gmem_region *o = &regions[j];

			if (r->gpa <= o->gpa + (o->size - 1) &&
			    o->gpa <= r->gpa + (r->size - 1))
				goto fail;
		}
		m->regs[i].r = *r;
		m->regs[i].host = calloc(1, r->size);
		if (!m->regs[i].host)
			goto fail;
		m->n = i + 1;
	}
	return m;
fail:
	gmem_destroy(m);
	return NULL;
}

void gmem_destroy(struct gmem *m)
{
	if (!m)
		return;
	for (unsigned int i = 0; i < m->n; i++)
		free(m->regs[i].host);
	free(m);
}

static struct gmem_reg *find(struct gmem *m, uint64_t gpa)
{
	for (unsigned int i = 0; i < m->n; i++) {
		struct gmem_reg *g = &m->regs[i];

		if (gpa >= g->r.gpa && gpa - g->r.gpa < g->r.size)
			return g;
	}
	return NULL;
}

static void *view_map(void *opaque, uint64_t addr, uint64_t *len,
		      unsigned int access)
{
	struct gmem *m = opaque;
	struct gmem_reg *g = find(m, addr);
	uint64_t off, n;

	if (!g || !*len || (access & ~(VBACK_GM_READ | VBACK_GM_WRITE)) ||
	    ((access & VBACK_GM_WRITE) && g->r.read_only)) {
		m->refused++;
		return NULL;
	}
	off = addr - g->r.gpa;
	n = g->r.size - off;
	if (n > *len)
		n = *len;
	if (m->cap && n > m->cap)
		n = m->cap;
	*len = n;
	m->maps++;
	return g->host + off;
}

static void view_unmap(void *opaque, uint64_t addr, void *host, uint64_t len,
		       unsigned int access)
{
	struct gmem *m = opaque;
	struct gmem_reg *g = find(m, addr);

	(void)access;
	m->unmaps++;
	if (!g || host != g->host + (addr - g->r.gpa) || !len ||
	    len > g->r.size - (addr - g->r.gpa))
		m->bad_unmaps++;
}

static const struct vback_gm_ops plain_ops = {
	.map = view_map,
};

static const struct vback_gm_ops grant_ops = {
	.map = view_map,
	.unmap = view_unmap,
};

struct vback_gm gmem_view(struct gmem *m, bool with_unmap)
{
	struct vback_gm gm = { with_unmap ? &grant_ops : &plain_ops, m };

	return gm;
}

void gmem_set_cap(struct gmem *m, uint64_t cap)
{
	m->cap = cap;
}

void *gmem_host(struct gmem *m, uint64_t gpa, uint64_t len)
{
	struct gmem_reg *g = find(m, gpa);

	if (!g || len > g->r.size - (gpa - g->r.gpa))
		return NULL;
	return g->host + (gpa - g->r.gpa);
}

/* Copy guest memory to @to, from @from, or fill it with @byte (both NULL). */
static int copy(struct gmem *m, uint64_t gpa, uint8_t *to, const uint8_t *from,
		int byte, uint64_t len)
{
	while (len) {
		struct gmem_reg *g = find(m, gpa);
		uint64_t off, n;

		if (!g)
			return -EFAULT;
		off = gpa - g->r.gpa;
		n = g->r.size - off;
		if (n > len)
			n = len;
		if (to) {
			memcpy(to, g->host + off, n);
			to += n;
		} else if (from) {
			memcpy(g->host + off, from, n);
			from += n;
		} else {
			memset(g->host + off, byte, n);
		}
		gpa += n;
		len -= n;
	}
	return 0;
}

int gmem_write(struct gmem *m, uint64_t gpa, const void *buf, uint64_t len)
{
	return copy(m, gpa, NULL, buf, 0, len);
}

int gmem_read(struct gmem *m, uint64_t gpa, void *buf, uint64_t len)
{
	return copy(m, gpa, buf, NULL, 0, len);
}

int gmem_fill(struct gmem *m, uint64_t gpa, int byte, uint64_t len)
{
	return copy(m, gpa, NULL, NULL, byte & 0xff, len);
}

uint64_t gmem_maps(const struct gmem *m)
{
	return m->maps;
}

uint64_t gmem_unmaps(const struct gmem *m)
{
	return m->unmaps;
}

uint64_t gmem_refused(const struct gmem *m)
{
	return m->refused;
}

int64_t gmem_outstanding(const struct gmem *m)
{
	return (int64_t)(m->maps - m->unmaps);
}

uint64_t gmem_bad_unmaps(const struct gmem *m)
{
	return m->bad_unmaps;
}

void gmem_reset_counters(struct gmem *m)
{
	m->maps = m->unmaps = m->refused = m->bad_unmaps = 0;
}
