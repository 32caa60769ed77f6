/* SPDX-License-Identifier: MIT */
/* The fake Xen: see fake_xen.h for the rules it enforces. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_xen_priv.h"

void fx_fail(struct fake_xen *fx, const char *fmt, ...)
{
	va_list ap;

	if (fx->failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(fx->failure, sizeof(fx->failure), fmt, ap);
	va_end(ap);
}

static void crash(struct fake_dom *d, const char *why, unsigned int vcpu,
		  unsigned int state)
{
	d->crashed = true;
	fx_fail(d->fx, "dom%u crashed: %s (vcpu %u, state %u)", d->domid, why,
		vcpu, state);
}

/* ------------------------------------------------------------------ */
/* world                                                               */
/* ------------------------------------------------------------------ */

struct fake_xen *fake_xen_create(void)
{
	return calloc(1, sizeof(struct fake_xen));
}

void fake_xen_set_loop(struct fake_xen *fx, const struct vback_loop *loop)
{
	fx->loop = loop;
}

const char *fake_xen_failure(const struct fake_xen *fx)
{
	return fx->failure[0] ? fx->failure : NULL;
}

void fake_xen_clear_failure(struct fake_xen *fx)
{
	fx->failure[0] = '\0';
}

unsigned int fake_xen_open_handles(const struct fake_xen *fx)
{
	unsigned int n = 0;

	for (const struct fx_pf *p = fx->pfs; p; p = p->next) {
		n += 1 + p->pages + fx_xs_held(p);
		for (unsigned int i = 0; i < p->nports; i++)
			n += p->ports[i].used;
	}
	return n;
}

/* Grow the table *@tab of *@n entries of @size bytes so that entry @i
 * exists (at most MAX_PORTS entries), the new ones zeroed. */
static int grow(void **tab, unsigned int *n, size_t size, unsigned int i)
{
	unsigned int want = *n ? *n : 16;
	void *t;

	while (want <= i)
		want *= 2;
	if (want > MAX_PORTS)
		want = MAX_PORTS;
	if (i >= want)
		return -1;
	t = realloc(*tab, (size_t)want * size);
	if (!t)
		return -1;
	memset((char *)t + (size_t)*n * size, 0, (size_t)(want - *n) * size);
	*tab = t;
	*n = want;
	return 0;
}

static void dom_free(struct fake_dom *d)
{
	unsigned int i;

	for (i = 0; i < MAX_SERVERS; i++) {
		free(d->servers[i].page);
		free(d->servers[i].gports);
		free(d->servers[i].ranges);
	}
	free(d->grants);
	free(d->gports);
	if (d->ram && !d->ext)
		munmap(d->ram, d->ram_bytes);
	if (d->memfd >= 0)
		close(d->memfd);
	free(d);
}

void fake_xen_destroy(struct fake_xen *fx)
{
	if (!fx)
		return;
	if (fx->pfs)
		fx_fail(fx, "platforms leaked");
	if (fx->maps)
		fx_fail(fx, "mappings leaked");
	while (fx->doms) {
		struct fake_dom *d = fx->doms;

		fx->doms = d->next;
		dom_free(d);
	}
	fake_xs_fini(fx);
	free(fx);
}

/* ------------------------------------------------------------------ */
/* domains                                                             */
/* ------------------------------------------------------------------ */

struct fake_dom *fake_dom_find(struct fake_xen *fx, uint16_t domid)
{
	struct fake_dom *d;

	for (d = fx->doms; d; d = d->next)
		if (d->domid == domid && !d->dead)
			return d;
	return NULL;
}

struct fake_dom *live_dom(struct fake_xen *fx, uint32_t domid)
{
	return domid > 0xffff ? NULL : fake_dom_find(fx, (uint16_t)domid);
}

int fake_xen_set_target(struct fake_xen *fx, uint16_t backend, uint16_t guest)
{
	unsigned int i;

	if (backend == guest)
		return -EINVAL;
	for (i = 0; i < fx->nr_targets; i++)
		if (fx->targets[i].backend == backend)
			return -EINVAL;
	if (fx->nr_targets == sizeof(fx->targets) / sizeof(fx->targets[0]))
		return -ENOSPC;
	fx->targets[fx->nr_targets].backend = backend;
	fx->targets[fx->nr_targets].guest = guest;
	fx->nr_targets++;
	return 0;
}

void fake_xen_set_silo(struct fake_xen *fx, bool on)
{
	fx->silo = on;
}

/* XSM_DM_PRIV / XSM_TARGET of the dummy policy: Dom0, or the target. */
int fx_may_dm(const struct fx_pf *p, uint16_t domid)
{
	unsigned int i;

	if (p->self == 0)
		return 0;
	for (i = 0; i < p->fx->nr_targets; i++)
		if (p->fx->targets[i].backend == p->self &&
		    p->fx->targets[i].guest == domid)
			return 0;
	return -EPERM;
}

/* SILO: event channels and grants only where Dom0 is one end. */
static int silo_check(const struct fx_pf *p, uint16_t domid)
{
	return p->fx->silo && p->self != 0 && domid != 0 ? -EPERM : 0;
}

struct fake_dom *fake_dom_create(struct fake_xen *fx, uint16_t domid,
				 unsigned int nr_vcpus, uint64_t ram_base,
				 uint64_t ram_bytes)
{
	struct fake_dom *d;

	if (fake_dom_find(fx, domid) || !nr_vcpus ||
	    nr_vcpus > PAGE / sizeof(ioreq_t) || ram_bytes % PAGE ||
	    ram_base % PAGE)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->fx = fx;
	d->domid = domid;
	d->nr_vcpus = nr_vcpus;
	d->ram_base = ram_base;
	d->ram_bytes = ram_bytes;
	d->memfd = memfd_create("fake-guest-ram", MFD_CLOEXEC);
	if (d->memfd < 0 || ftruncate(d->memfd, (off_t)ram_bytes) < 0)
		goto fail;
	d->ram = mmap(NULL, ram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		      d->memfd, 0);
	if (d->ram == MAP_FAILED) {
		d->ram = NULL;
		goto fail;
	}
	d->next = fx->doms;
	fx->doms = d;
	/* Xen tools mark a live domain in xenstore. */
	{
		char path[64];

		snprintf(path, sizeof(path), "/local/domain/%u", domid);
		fake_xs_write(fx, path, "");
	}
	return d;
fail:
	dom_free(d);
	return NULL;
}

struct fake_dom *fake_dom_create_on(struct fake_xen *fx, uint16_t domid,
				    unsigned int nr_vcpus, uint64_t ram_base,
				    void *ram, uint64_t ram_bytes)
{
	struct fake_dom *d;
	char path[64];

	if (fake_dom_find(fx, domid) || !nr_vcpus || !ram ||
	    nr_vcpus > PAGE / sizeof(ioreq_t) || ram_bytes % PAGE ||
	    ram_base % PAGE)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->fx = fx;
	d->domid = domid;
	d->nr_vcpus = nr_vcpus;
	d->ram_base = ram_base;
	d->ram_bytes = ram_bytes;
	d->memfd = -1;
	d->ram = ram;
	d->ext = true;
	d->next = fx->doms;
	fx->doms = d;
	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	fake_xs_write(fx, path, "");
	return d;
}

void fake_dom_destroy(struct fake_dom *d)
{
	struct fake_xen *fx = d->fx;
	unsigned int i;
	char path[64];

	d->dead = true;
	for (i = 0; i < MAX_SERVERS; i++) {
		d->servers[i].used = false;
		d->servers[i].enabled = false;
	}
	for (i = 0; i < d->ngports; i++)
		d->gports[i].used = false;
	snprintf(path, sizeof(path), "/local/domain/%u", d->domid);
	fake_xs_rm(fx, path);
	fire_special(fx, "@releaseDomain");
}

int fake_dom_balloon(struct fake_dom *d, uint64_t gfn, bool out)
{
	unsigned int i;

	for (i = 0; i < d->nballooned; i++) {
		if (d->ballooned[i] == gfn) {
			if (!out)
				d->ballooned[i] = d->ballooned[--d->nballooned];
			return 0;
		}
	}
	if (!out)
		return 0;
	if (d->nballooned == MAX_BALLOONED)
		return -ENOSPC;
	d->ballooned[d->nballooned++] = gfn;
	return 0;
}

bool fake_dom_ballooned(const struct fake_dom *d, uint64_t gfn)
{
	for (unsigned int i = 0; i < d->nballooned; i++)
		if (d->ballooned[i] == gfn)
			return true;
	return false;
}

bool fake_dom_is_zombie(const struct fake_dom *d)
{
	return d->dead && (d->foreign_pages || d->grant_pages);
}

bool fake_dom_crashed(const struct fake_dom *d)
{
	return d->crashed;
}

void *fake_dom_gpa(struct fake_dom *d, uint64_t gpa, uint64_t len)
{
	if (gpa < d->ram_base || gpa - d->ram_base > d->ram_bytes ||
	    len > d->ram_bytes - (gpa - d->ram_base))
		return NULL;
	return d->ram + (gpa - d->ram_base);
}

uint64_t fake_dom_foreign_pages(const struct fake_dom *d)
{
	return d->foreign_pages;
}

uint64_t fake_dom_grant_pages(const struct fake_dom *d)
{
	return d->grant_pages;
}

uint64_t fake_dom_foreign_map_calls(const struct fake_dom *d)
{
	return d->foreign_map_calls;
}

unsigned int fake_dom_servers(const struct fake_dom *d)
{
	unsigned int i, n = 0;

	for (i = 0; i < MAX_SERVERS; i++)
		n += d->servers[i].used;
	return n;
}

bool fake_dom_range_claimed(const struct fake_dom *d, uint64_t start,
			    uint64_t end)
{
	unsigned int i, j;

	for (i = 0; i < MAX_SERVERS; i++) {
		const struct fx_server *s = &d->servers[i];

		for (j = 0; s->used && j < s->nr_ranges; j++)
			if (s->ranges[j].start == start &&
			    s->ranges[j].end == end)
				return true;
	}
	return false;
}

unsigned int fake_dom_nr_ranges(const struct fake_dom *d)
{
	unsigned int i, n = 0;

	for (i = 0; i < MAX_SERVERS; i++)
		if (d->servers[i].used)
			n += d->servers[i].nr_ranges;
	return n;
}

unsigned int fake_dom_irqs(const struct fake_dom *d, unsigned int irq)
{
	return irq < 1024 ? d->irqs[irq] : 0;
}

bool fake_dom_isa_line(const struct fake_dom *d, unsigned int irq)
{
	return irq < 16 && d->isa_line[irq];
}

/* Grow the table to cover @gref: by powers of two, 64 entries at least. */
static int grants_cover(struct fake_dom *d, uint32_t gref)
{
	unsigned int n = d->ngrants ? d->ngrants : 64;
	struct fx_grant *g;

	if (gref < d->ngrants)
		return 0;
	while (n <= gref)
		n *= 2;
	g = realloc(d->grants, n * sizeof(*g));
	if (!g)
		return -ENOMEM;
	memset(g + d->ngrants, 0, (n - d->ngrants) * sizeof(*g));
	d->grants = g;
	d->ngrants = n;
	return 0;
}

int fake_dom_grant(struct fake_dom *d, uint32_t gref, uint64_t gfn,
		   bool readonly)
{
	if (gref >= MAX_GRANTS)
		return -EINVAL;
	if (grants_cover(d, gref) < 0)
		return -ENOMEM;
	d->grants[gref].active = true;
	d->grants[gref].ro = readonly;
	d->grants[gref].gfn = gfn;
	return 0;
}

int fake_dom_ungrant(struct fake_dom *d, uint32_t gref)
{
	if (gref >= d->ngrants || !d->grants[gref].active)
		return -EINVAL;
	if (d->grants[gref].maps)
		return -EBUSY;
	d->grants[gref].active = false;
	return 0;
}

/* ------------------------------------------------------------------ */
/* event channels                                                      */
/* ------------------------------------------------------------------ */

static struct fx_pf *pf_of(void *opaque)
{
	return opaque;
}

static int fx_evtchn_bind(void *opaque, uint16_t domid, uint32_t remote,
			  vback_xen_event_fn fn, void *fn_opaque,
			  uint32_t *local)
{
	struct fx_pf *p = pf_of(opaque);
	struct fake_dom *d = live_dom(p->fx, domid);
	unsigned int i;

	if (silo_check(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!d)
		return -ESRCH;
	/* Only an allocated, still unbound guest port can be bound. */
	if (remote >= d->ngports || !d->gports[remote].used ||
	    d->gports[remote].peer)
		return -EINVAL;
	for (i = 1; i < p->nports && p->ports[i].used; i++)
		;
	if (i >= p->nports &&
	    grow((void **)&p->ports, &p->nports, sizeof(*p->ports), i) < 0)
		return -ENOSPC;
	p->ports[i] = (struct fx_bport){ .used = true,
					 .dom = d,
					 .gport = remote,
					 .fn = fn,
					 .opaque = fn_opaque };
	d->gports[remote].peer = p;
	d->gports[remote].peer_port = i;
	*local = i;
	return 0;
}

static void fx_evtchn_unbind(void *opaque, uint32_t local)
{
	struct fx_pf *p = pf_of(opaque);
	struct fx_bport *b;

	if (local >= p->nports || !p->ports[local].used) {
		fx_fail(p->fx, "unbind of port %u that is not bound", local);
		return;
	}
	b = &p->ports[local];
	if (b->dom->gports[b->gport].peer == p)
		b->dom->gports[b->gport].peer = NULL;
	memset(b, 0, sizeof(*b));
}

/* The guest signalled: the bound callback runs now, as an upcall. */
static void evtchn_raise(struct fx_pf *p, uint32_t port)
{
	struct fx_bport *b = &p->ports[port];

	if (b->used)
		b->fn(b->opaque);
}

static int fx_evtchn_notify(void *opaque, uint32_t local)
{
	struct fx_pf *p = pf_of(opaque);
	struct fx_bport *b;
	struct fake_dom *d;
	unsigned int s, v;

	if (local >= p->nports || !p->ports[local].used)
		return -EINVAL;
	b = &p->ports[local];
	d = b->dom;
	if (d->dead)
		return 0; /* the remote end is gone: nobody listens */
	d->gports[b->gport].notified++;
	/* Xen wakes the vCPU, which must then see IORESP_READY. */
	for (s = 0; s < MAX_SERVERS; s++) {
		struct fx_server *sv = &d->servers[s];

		for (v = 0; sv->used && sv->gports && v < d->nr_vcpus; v++) {
			unsigned int st;

			if (sv->gports[v] != b->gport)
				continue;
			st = sv->page->vcpu_ioreq[v].state;
			if (st != STATE_IORESP_READY && st != STATE_IOREQ_NONE)
				crash(d, "notified before IORESP_READY", v, st);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* device model                                                        */
/* ------------------------------------------------------------------ */

static struct fx_server *server_of(struct fake_xen *fx, uint16_t domid,
				   uint16_t id, struct fake_dom **dp)
{
	struct fake_dom *d = live_dom(fx, domid);

	if (!d || id >= MAX_SERVERS || !d->servers[id].used)
		return NULL;
	if (dp)
		*dp = d;
	return &d->servers[id];
}

/* -ESRCH for no such domain, -ENOENT for no such server in it. */
static int no_server(struct fake_xen *fx, uint16_t domid)
{
	return live_dom(fx, domid) ? -ENOENT : -ESRCH;
}

static int alloc_gport(struct fake_dom *d)
{
	unsigned int p;

	/* Scatter ports so that stale values never match by luck. */
	for (p = 7; p < MAX_PORTS; p++) {
		if (p >= d->ngports && grow((void **)&d->gports, &d->ngports,
					    sizeof(*d->gports), p) < 0)
			return -1;
		if (!d->gports[p].used) {
			memset(&d->gports[p], 0, sizeof(d->gports[p]));
			d->gports[p].used = true;
			return (int)p;
		}
	}
	return -1;
}

static int fx_create_server(void *opaque, uint16_t domid, uint16_t *id)
{
	struct fake_dom *d = live_dom(pf_of(opaque)->fx, domid);
	struct fx_server *s;
	unsigned int i, v;
	int p;

	if (fx_may_dm(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (silo_check(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!d)
		return -ESRCH;
	for (i = 0; i < MAX_SERVERS && d->servers[i].used; i++)
		;
	if (i == MAX_SERVERS)
		return -ENOSPC;
	s = &d->servers[i];
	free(s->page);
	free(s->gports);
	free(s->ranges);
	memset(s, 0, sizeof(*s));
	s->page = aligned_alloc(PAGE, PAGE);
	s->gports = calloc(d->nr_vcpus, sizeof(*s->gports));
	s->ranges = malloc(MAX_RANGES * sizeof(*s->ranges));
	if (!s->page || !s->gports || !s->ranges)
		return -ENOMEM;
	memset(s->page, 0, PAGE);
	for (v = 0; v < d->nr_vcpus; v++) {
		p = alloc_gport(d);
		if (p < 0)
			return -ENOSPC;
		s->gports[v] = (uint32_t)p;
		/* Not populated until map + enable. */
		s->page->vcpu_ioreq[v].vp_eport = BAD_PORT;
	}
	s->used = true;
	s->id = (ioservid_t)i;
	*id = s->id;
	return 0;
}

static void populate_ports(struct fake_dom *d, struct fx_server *s)
{
	unsigned int v;

	if (!s->mapped || !s->enabled)
		return;
	for (v = 0; v < d->nr_vcpus; v++)
		s->page->vcpu_ioreq[v].vp_eport = s->gports[v];
}

static int fx_map_ioreq_page(void *opaque, uint16_t domid, uint16_t id,
			     void **page)
{
	struct fx_pf *p = pf_of(opaque);
	struct fake_dom *d;
	struct fx_server *s = server_of(p->fx, domid, id, &d);

	if (fx_may_dm(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!s)
		return no_server(p->fx, domid);
	/* The synchronous page (frame 1 of the resource; frame 0, the
	 * buffered one, does not exist with BUFIOREQ_OFF). */
	s->mapped = true;
	populate_ports(d, s);
	p->pages++;
	*page = s->page;
	return 0;
}

static void fx_unmap_ioreq_page(void *opaque, uint16_t domid, uint16_t id,
				void *page)
{
	struct fx_pf *p = pf_of(opaque);
	struct fake_dom *d;
	struct fx_server *s;

	if (!p->pages) {
		fx_fail(p->fx, "unmap of an ioreq page never mapped");
		return;
	}
	p->pages--;
	/* A dead domain's server is gone; its page only needs letting go. */
	for (d = p->fx->doms; d; d = d->next)
		if (d->domid == domid && id < MAX_SERVERS &&
		    d->servers[id].page == page)
			d->servers[id].mapped = false;
	s = server_of(p->fx, domid, id, NULL);
	(void)s;
}

static int fx_set_state(void *opaque, uint16_t domid, uint16_t id, bool on)
{
	struct fx_pf *p = pf_of(opaque);
	struct fake_dom *d;
	struct fx_server *s = server_of(p->fx, domid, id, &d);

	if (fx_may_dm(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!s)
		return no_server(p->fx, domid);
	s->enabled = on;
	populate_ports(d, s);
	return 0;
}

static int fx_destroy_server(void *opaque, uint16_t domid, uint16_t id)
{
	struct fx_pf *p = pf_of(opaque);
	struct fake_dom *d;
	struct fx_server *s = server_of(p->fx, domid, id, &d);
	unsigned int v;

	if (fx_may_dm(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!s)
		return no_server(p->fx, domid);
	for (v = 0; v < d->nr_vcpus; v++)
		d->gports[s->gports[v]].used = false;
	s->used = false;
	s->enabled = false;
	s->nr_ranges = 0;
	return 0;
}

static int fx_map_mmio(void *opaque, uint16_t domid, uint16_t id,
		       uint64_t start, uint64_t end)
{
	struct fx_pf *p = pf_of(opaque);
	struct fx_server *s = server_of(p->fx, domid, id, NULL);
	unsigned int i;

	if (fx_may_dm(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!s)
		return no_server(p->fx, domid);
	if (end < start)
		return -EINVAL;
	/* Xen: ranges are inclusive; overlaps in one server are refused. */
	for (i = 0; i < s->nr_ranges; i++)
		if (start <= s->ranges[i].end && s->ranges[i].start <= end)
			return -EEXIST;
	if (s->nr_ranges == MAX_RANGES)
		return -ENOSPC;
	s->ranges[s->nr_ranges].start = start;
	s->ranges[s->nr_ranges].end = end;
	s->nr_ranges++;
	return 0;
}

static int fx_unmap_mmio(void *opaque, uint16_t domid, uint16_t id,
			 uint64_t start, uint64_t end)
{
	struct fx_pf *p = pf_of(opaque);
	struct fx_server *s = server_of(p->fx, domid, id, NULL);
	unsigned int i;

	if (fx_may_dm(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!s)
		return no_server(p->fx, domid);
	for (i = 0; i < s->nr_ranges; i++) {
		if (s->ranges[i].start == start && s->ranges[i].end == end) {
			s->ranges[i] = s->ranges[--s->nr_ranges];
			return 0;
		}
	}
	return -ENOENT;
}

static int fx_set_irq_level(void *opaque, uint16_t domid, uint32_t irq,
			    unsigned int level)
{
	struct fake_dom *d = live_dom(pf_of(opaque)->fx, domid);

	if (fx_may_dm(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!d)
		return -ESRCH;
	/* Arm: SPIs start at 32; each assertion of an edge SPI is delivered. */
	if (irq < 32 || irq >= 1024)
		return -EINVAL;
	if (level)
		d->irqs[irq]++;
	return 0;
}

static int fx_set_isa_irq_level(void *opaque, uint16_t domid, uint8_t irq,
				unsigned int level)
{
	struct fake_dom *d = live_dom(pf_of(opaque)->fx, domid);

	if (fx_may_dm(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!d)
		return -ESRCH;
	if (irq >= 16)
		return -EINVAL;
	/* Only a rising edge of the line reaches the guest. */
	if (level && !d->isa_line[irq])
		d->irqs[irq]++;
	d->isa_line[irq] = level != 0;
	return 0;
}

static int fx_nr_vcpus(void *opaque, uint16_t domid, unsigned int *vcpus)
{
	struct fake_dom *d = live_dom(pf_of(opaque)->fx, domid);

	if (fx_may_dm(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!d)
		return -ESRCH;
	*vcpus = d->nr_vcpus;
	return 0;
}

/* ------------------------------------------------------------------ */
/* foreign memory and grants                                           */
/* ------------------------------------------------------------------ */

/* Map the guest pages @gfns at a fresh address; bad pages stay PROT_NONE. */
static uint8_t *map_pages(struct fake_dom *d, size_t n, const uint64_t *gfns,
			  const bool *ok, int prot)
{
	uint8_t *base;
	size_t i;

	if (d->ext) {
		/* Test-owned RAM cannot be re-mapped: alias it, which needs
		 * consecutive frames starting inside RAM. */
		if (!ok[0] || gfns[0] * PAGE < d->ram_base)
			return NULL;
		for (i = 1; i < n; i++)
			if (ok[i] && gfns[i] != gfns[0] + i)
				return NULL;
		return d->ram + (gfns[0] * PAGE - d->ram_base);
	}
	base = mmap(NULL, n * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		    0);
	if (base == MAP_FAILED)
		return NULL;
	for (i = 0; i < n; i++) {
		uint64_t off;

		if (!ok[i])
			continue;
		off = gfns[i] * PAGE - d->ram_base;
		if (mmap(base + i * PAGE, PAGE, prot, MAP_SHARED | MAP_FIXED,
			 d->memfd, (off_t)off) == MAP_FAILED) {
			munmap(base, n * PAGE);
			return NULL;
		}
	}
	return base;
}

static bool gfn_in_ram(const struct fake_dom *d, uint64_t gfn)
{
	return gfn >= d->ram_base / PAGE &&
	       gfn < (d->ram_base + d->ram_bytes) / PAGE &&
	       !fake_dom_ballooned(d, gfn);
}

static int fx_map_foreign(void *opaque, uint16_t domid, const uint64_t *gfns,
			  unsigned int pages, int *err, void **addr)
{
	struct fake_xen *fx = pf_of(opaque)->fx;
	struct fake_dom *d = live_dom(fx, domid);
	struct fx_map *m;
	bool *ok;
	size_t i;
	uint8_t *base;

	if (fx_may_dm(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!d)
		return -ESRCH;
	if (!pages || pages > (1u << 20))
		return -EINVAL;
	ok = calloc(pages, sizeof(*ok));
	m = calloc(1, sizeof(*m));
	if (!ok || !m) {
		free(ok);
		free(m);
		return -ENOMEM;
	}
	for (i = 0; i < pages; i++) {
		ok[i] = gfn_in_ram(d, gfns[i]);
		/* privcmd reports failures page by page */
		err[i] = ok[i] ? 0 : -EINVAL;
	}
	base = map_pages(d, pages, gfns, ok, PROT_READ | PROT_WRITE);
	free(ok);
	if (!base) {
		free(m);
		return -ENOMEM;
	}
	m->kind = MAP_FOREIGN;
	m->owner = pf_of(opaque);
	m->dom = d;
	m->addr = base;
	m->pages = pages;
	m->next = fx->maps;
	fx->maps = m;
	d->foreign_pages += pages;
	d->foreign_map_calls++;
	*addr = base;
	return 0;
}

static struct fx_map *map_take(struct fake_xen *fx, enum map_kind kind,
			       void *addr, size_t pages)
{
	struct fx_map **pp, *m;

	for (pp = &fx->maps; *pp; pp = &(*pp)->next) {
		m = *pp;
		if (m->kind == kind && m->addr == addr && m->pages == pages) {
			*pp = m->next;
			return m;
		}
	}
	return NULL;
}

static void fx_unmap_foreign(void *opaque, void *addr, unsigned int pages)
{
	struct fake_xen *fx = pf_of(opaque)->fx;
	struct fx_map *m = map_take(fx, MAP_FOREIGN, addr, pages);

	if (!m) {
		fx_fail(fx, "foreign unmap of %p+%u matches no mapping", addr,
			pages);
		return;
	}
	if (!m->dom->ext)
		munmap(m->addr, m->pages * PAGE);
	m->dom->foreign_pages -= pages;
	free(m);
}

static int fx_map_grants(void *opaque, uint16_t domid, const uint32_t *refs,
			 unsigned int count, bool writable, int *errs,
			 void **addr)
{
	struct fake_xen *fx = pf_of(opaque)->fx;
	struct fake_dom *d = live_dom(fx, domid);
	uint64_t gfns[64];
	bool ok[64];
	struct fx_map *m;
	uint8_t *base;
	uint32_t i;

	if (silo_check(pf_of(opaque), domid) < 0)
		return -EPERM;
	if (!d)
		return -ESRCH;
	if (!count || count > 64)
		return -EINVAL;
	/* gntdev: all or nothing, like the Linux platform. */
	for (i = 0; i < count; i++) {
		if (refs[i] >= d->ngrants || !d->grants[refs[i]].active ||
		    !gfn_in_ram(d, d->grants[refs[i]].gfn))
			return -EINVAL;
		/* GNTST_permission_denied */
		if (writable && d->grants[refs[i]].ro)
			return -EACCES;
		gfns[i] = d->grants[refs[i]].gfn;
		ok[i] = true;
		errs[i] = 0;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->refs = calloc(count, sizeof(*m->refs));
	base = m->refs ? map_pages(d, count, gfns, ok,
				   PROT_READ | (writable ? PROT_WRITE : 0))
		       : NULL;
	if (!base) {
		free(m->refs);
		free(m);
		return -ENOMEM;
	}
	for (i = 0; i < count; i++) {
		m->refs[i] = refs[i];
		d->grants[refs[i]].maps++;
	}
	m->kind = MAP_GRANT;
	m->owner = pf_of(opaque);
	m->dom = d;
	m->addr = base;
	m->pages = count;
	m->next = fx->maps;
	fx->maps = m;
	d->grant_pages += count;
	*addr = base;
	return 0;
}

static void fx_unmap_grants(void *opaque, void *addr, unsigned int count)
{
	struct fake_xen *fx = pf_of(opaque)->fx;
	struct fx_map *m = map_take(fx, MAP_GRANT, addr, count);
	uint32_t i;

	if (!m) {
		fx_fail(fx, "grant unmap of %p+%u matches no mapping", addr,
			count);
		return;
	}
	for (i = 0; i < count; i++)
		m->dom->grants[m->refs[i]].maps--;
	if (!m->dom->ext)
		munmap(m->addr, m->pages * PAGE);
	m->dom->grant_pages -= count;
	free(m->refs);
	free(m);
}

static const struct vback_xen_platform_ops fake_ops = {
	.nr_vcpus = fx_nr_vcpus,
	.create_ioreq_server = fx_create_server,
	.map_ioreq_page = fx_map_ioreq_page,
	.unmap_ioreq_page = fx_unmap_ioreq_page,
	.set_ioreq_server_state = fx_set_state,
	.destroy_ioreq_server = fx_destroy_server,
	.map_mmio_range = fx_map_mmio,
	.unmap_mmio_range = fx_unmap_mmio,
	.set_irq_level = fx_set_irq_level,
	.set_isa_irq_level = fx_set_isa_irq_level,
	.evtchn_bind = fx_evtchn_bind,
	.evtchn_unbind = fx_evtchn_unbind,
	.evtchn_notify = fx_evtchn_notify,
	.map_foreign = fx_map_foreign,
	.unmap_foreign = fx_unmap_foreign,
	.map_grants = fx_map_grants,
	.unmap_grants = fx_unmap_grants,
};

struct vback_xen_platform *fake_xen_platform_create(struct fake_xen *fx)
{
	return fake_xen_platform_create_in(fx, 0);
}

struct vback_xen_platform *fake_xen_platform_create_in(struct fake_xen *fx,
						       uint16_t self)
{
	struct fx_pf *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->fx = fx;
	p->self = self;
	p->pf.ops = &fake_ops;
	p->pf.store = &fake_xs_ops;
	p->pf.opaque = p;
	fx_xs_init(p);
	p->next = fx->pfs;
	fx->pfs = p;
	return &p->pf;
}

/* Release a mapping as unmap would (the kernel, at a death). */
static void map_release(struct fx_map *m)
{
	if (m->kind == MAP_GRANT) {
		for (size_t i = 0; i < m->pages; i++)
			m->dom->grants[m->refs[i]].maps--;
		m->dom->grant_pages -= m->pages;
	} else {
		m->dom->foreign_pages -= m->pages;
	}
	if (!m->dom->ext)
		munmap(m->addr, m->pages * PAGE);
	free(m->refs);
	free(m);
}

void fake_xen_platform_kill(struct vback_xen_platform *pf)
{
	struct fx_pf *p = (struct fx_pf *)pf;
	struct fake_xen *fx = p->fx;
	struct fx_map **pp, *m;
	struct fake_dom *d;

	for (unsigned int i = 0; i < p->nports; i++)
		if (p->ports[i].used)
			fx_evtchn_unbind(p, i);
	/* Its ioreq pages: the servers stay, mapped by nobody. */
	for (d = fx->doms; d; d = d->next)
		for (unsigned int s = 0; s < MAX_SERVERS; s++)
			if (d->servers[s].used)
				d->servers[s].mapped = false;
	p->pages = 0;
	for (pp = &fx->maps; (m = *pp);) {
		if (m->owner != p) {
			pp = &m->next;
			continue;
		}
		*pp = m->next;
		map_release(m);
	}
	fx_xs_release(p);
	p->dead = true;
}

void fake_xen_platform_destroy(struct vback_xen_platform *pf)
{
	struct fx_pf *p = (struct fx_pf *)pf, **pp;
	struct fake_xen *fx;
	unsigned int i, ports = 0, held;

	if (!p)
		return;
	fx = p->fx;
	for (i = 0; i < p->nports; i++) {
		if (p->ports[i].used) {
			ports++;
			fx_evtchn_unbind(p, i);
		}
	}
	/* A killed one was released then, on the loop of that time. */
	held = p->dead ? 0 : fx_xs_release(p);
	if (ports || p->pages || held)
		fx_fail(fx,
			"platform closed with %u ports, %u ioreq pages, %u "
			"watches/transactions still held",
			ports, p->pages, held);
	for (pp = &fx->pfs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	free(p->ports);
	free(p);
}

/* ------------------------------------------------------------------ */
/* the simulated vCPU                                                  */
/* ------------------------------------------------------------------ */

volatile ioreq_t *fake_dom_slot(struct fake_dom *d, unsigned int server,
				unsigned int vcpu)
{
	if (server >= MAX_SERVERS || !d->servers[server].used ||
	    vcpu >= d->nr_vcpus)
		return NULL;
	return &d->servers[server].page->vcpu_ioreq[vcpu];
}

static bool server_claims(const struct fx_server *s, uint64_t start,
			  uint64_t end)
{
	unsigned int i;

	for (i = 0; i < s->nr_ranges; i++)
		if (start >= s->ranges[i].start && end <= s->ranges[i].end)
			return true;
	return false;
}

/* Send @req to server @s on @vcpu and wait as a vCPU does. */
static int vcpu_send(struct fake_dom *d, struct fx_server *s, unsigned int vcpu,
		     ioreq_t *req)
{
	volatile ioreq_t *slot = &s->page->vcpu_ioreq[vcpu];
	uint32_t gport = s->gports[vcpu]; /* d->gports may move meanwhile */
	unsigned int seen = STATE_IOREQ_READY, notified, st;
	int i;

	if (slot->state != STATE_IOREQ_NONE) {
		crash(d, "slot busy at a new request", vcpu, slot->state);
		return -EFAULT;
	}
	slot->addr = req->addr;
	slot->data = req->data;
	slot->count = req->count;
	slot->size = req->size;
	slot->dir = req->dir;
	slot->df = req->df;
	slot->data_is_ptr = req->data_is_ptr;
	slot->type = req->type;
	notified = d->gports[gport].notified;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	slot->state = STATE_IOREQ_READY;
	if (d->gports[gport].peer)
		evtchn_raise(d->gports[gport].peer, d->gports[gport].peer_port);

	for (i = 0; i < VCPU_SPIN; i++) {
		st = slot->state;
		if (st < seen || st > STATE_IORESP_READY) {
			crash(d, "ioreq state went backwards", vcpu, st);
			return -EFAULT;
		}
		seen = st;
		if (d->crashed)
			return -EFAULT;
		/* Xen only looks once the backend signalled the port. */
		if (st == STATE_IORESP_READY &&
		    d->gports[gport].notified != notified)
			break;
		if (!d->fx->loop) {
			fx_fail(d->fx, "no loop to run the backend");
			return -ETIMEDOUT;
		}
		vback_loop_run_once(d->fx->loop, i < 1000 ? 0 : 1);
	}
	if (i == VCPU_SPIN) {
		fx_fail(d->fx,
			"dom%u vcpu%u hangs: ioreq type %u at %#llx "
			"never completed (state %u)",
			d->domid, vcpu, req->type,
			(unsigned long long)req->addr, slot->state);
		return -ETIMEDOUT;
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	req->data = slot->data;
	slot->state = STATE_IOREQ_NONE;
	return 0;
}

int fake_vcpu_ioreq(struct fake_dom *d, unsigned int vcpu, ioreq_t *req)
{
	unsigned int i;
	uint64_t end;

	if (vcpu >= d->nr_vcpus || d->dead)
		return -EINVAL;
	if (d->crashed)
		return -EFAULT;
	if (req->type == IOREQ_TYPE_INVALIDATE) {
		int ret = 0;

		for (i = 0; i < MAX_SERVERS && ret == 0; i++)
			if (d->servers[i].used && d->servers[i].enabled)
				ret = vcpu_send(d, &d->servers[i], vcpu, req);
		return ret;
	}
	end = req->addr + (uint64_t)req->size * (req->count ? req->count : 1) -
	      1;
	for (i = 0; i < MAX_SERVERS; i++) {
		struct fx_server *s = &d->servers[i];

		if (s->used && s->enabled && server_claims(s, req->addr, end))
			return vcpu_send(d, s, vcpu, req);
	}
	return -ENODEV;
}

int fake_vcpu_mmio(struct fake_dom *d, unsigned int vcpu, uint64_t addr,
		   unsigned int size, int dir, uint64_t *data)
{
	ioreq_t req;
	int ret;

	memset(&req, 0, sizeof(req));
	req.type = IOREQ_TYPE_COPY;
	req.addr = addr;
	req.size = size;
	req.count = 1;
	req.dir = dir ? IOREQ_READ : IOREQ_WRITE;
	/* A write carries the whole register: garbage above the size. */
	req.data = dir ? 0xa5a5a5a5a5a5a5a5ull : *data;
	ret = fake_vcpu_ioreq(d, vcpu, &req);
	if (ret == 0 && dir)
		*data = req.data;
	return ret;
}

int fake_dom_invalidate(struct fake_dom *d, unsigned int vcpu)
{
	ioreq_t req;

	memset(&req, 0, sizeof(req));
	req.type = IOREQ_TYPE_INVALIDATE;
	req.size = 4;
	req.count = 1;
	req.dir = IOREQ_WRITE;
	return fake_vcpu_ioreq(d, vcpu, &req);
}
