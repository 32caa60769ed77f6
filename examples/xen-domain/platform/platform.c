/* SPDX-License-Identifier: MIT */
/* The hypercall platform of the backend domain: see platform.h. */
#include <errno.h>
#include <string.h>

#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/hvm/dm_op.h>
#include <xen/hvm/hvm_op.h>

#include "hypercall.h"
#include "platform.h"
#include "xd.h"

void *vback_embed_calloc(size_t nmemb, size_t size);
void vback_embed_free(void *ptr);

#define BATCH	    256u /* pages per add_to_physmap_batch call */
#define GRANT_BATCH 32u	 /* grant ops per call */
#define NO_HANDLE   0xffffffffu
#define MAX_WATCHES 16u

struct watch {
	bool used;
	char path[XD_XS_PATH];
	char token[XD_XS_TOKEN];
	vback_xen_watch_fn fn;
	void *opaque;
};

struct xd_pf {
	struct vback_xen_platform pf; /* first: the public handle */
	struct xd_platform_options o;
	uint64_t *bitmap;  /* window pages in use */
	uint32_t *handles; /* grant handle per window page */
	uint64_t used, peak;
	uint64_t foreign_maps, grant_maps, events;
	struct vback_work xs_work; /* delivers watch events */
	struct watch watches[MAX_WATCHES];
	unsigned int next_token;
	/* hypercall arguments (one vCPU, one call at a time) */
	xen_pfn_t gpfns[BATCH];
	struct gnttab_map_grant_ref gmap[GRANT_BATCH];
};

static struct xd_pf *of(void *opaque)
{
	return opaque;
}

/* ------------------------------------------------------------------ */
/* The window: contiguous runs of free pages                           */
/* ------------------------------------------------------------------ */

static bool page_used(const struct xd_pf *p, uint64_t i)
{
	return p->bitmap[i / 64] >> (i % 64) & 1;
}

static void page_set(struct xd_pf *p, uint64_t i, bool used)
{
	if (used)
		p->bitmap[i / 64] |= 1ull << (i % 64);
	else
		p->bitmap[i / 64] &= ~(1ull << (i % 64));
}

/* First fit: the first page of @n free ones in a row, or -ENOMEM. */
static int64_t window_alloc(struct xd_pf *p, uint64_t n)
{
	uint64_t run = 0, i;

	if (!n)
		return -EINVAL;
	for (i = 0; i < p->o.window_pages; i++) {
		if (page_used(p, i)) {
			run = 0;
			continue;
		}
		if (++run == n) {
			uint64_t first = i + 1 - n;

			for (uint64_t j = first; j <= i; j++)
				page_set(p, j, true);
			p->used += n;
			if (p->used > p->peak)
				p->peak = p->used;
			return (int64_t)first;
		}
	}
	return -ENOMEM;
}

static void window_free(struct xd_pf *p, uint64_t first, uint64_t n)
{
	for (uint64_t j = first; j < first + n && j < p->o.window_pages; j++) {
		if (page_used(p, j)) {
			page_set(p, j, false);
			p->used--;
		}
	}
}

static uint64_t gfn_of(const struct xd_pf *p, uint64_t page)
{
	return (p->o.window_base >> XD_PAGE_SHIFT) + page;
}

/* The window page an address returned by a map op is, or UINT64_MAX. */
static uint64_t page_of(const struct xd_pf *p, const void *addr)
{
	uint64_t a = (uint64_t)(uintptr_t)addr;

	if (a < p->o.window_base ||
	    a >= p->o.window_base + (p->o.window_pages << XD_PAGE_SHIFT) ||
	    a & (XD_PAGE_SIZE - 1))
		return UINT64_MAX;
	return (a - p->o.window_base) >> XD_PAGE_SHIFT;
}

static int remove_page(uint64_t gfn)
{
	struct xen_remove_from_physmap r = { .domid = DOMID_SELF, .gpfn = gfn };

	return (int)XD_HC2(__HYPERVISOR_memory_op, XENMEM_remove_from_physmap,
			   &r);
}

/* ------------------------------------------------------------------ */
/* DM ops                                                              */
/* ------------------------------------------------------------------ */

static int dm_op(uint16_t domid, struct xen_dm_op *op)
{
	struct xen_dm_op_buf buf = { .size = sizeof(*op) };

	set_xen_guest_handle(buf.h, op);
	return (int)XD_HC3(__HYPERVISOR_dm_op, domid, 1, &buf);
}

static int pf_nr_vcpus(void *opaque, uint16_t domid, unsigned int *n)
{
	struct xen_dm_op op = { .op = XEN_DMOP_nr_vcpus };
	int ret = dm_op(domid, &op);

	(void)opaque;
	if (ret == 0)
		*n = op.u.nr_vcpus.vcpus;
	return ret;
}

static int pf_create_server(void *opaque, uint16_t domid, uint16_t *id)
{
	struct xen_dm_op op = { .op = XEN_DMOP_create_ioreq_server };
	int ret;

	(void)opaque;
	op.u.create_ioreq_server.handle_bufioreq = HVM_IOREQSRV_BUFIOREQ_OFF;
	ret = dm_op(domid, &op);
	if (ret == 0)
		*id = op.u.create_ioreq_server.id;
	return ret;
}

static int pf_set_state(void *opaque, uint16_t domid, uint16_t id, bool enabled)
{
	struct xen_dm_op op = { .op = XEN_DMOP_set_ioreq_server_state };

	(void)opaque;
	op.u.set_ioreq_server_state.id = id;
	op.u.set_ioreq_server_state.enabled = enabled;
	return dm_op(domid, &op);
}

static int pf_destroy_server(void *opaque, uint16_t domid, uint16_t id)
{
	struct xen_dm_op op = { .op = XEN_DMOP_destroy_ioreq_server };

	(void)opaque;
	op.u.destroy_ioreq_server.id = id;
	return dm_op(domid, &op);
}

static int mmio_range(uint32_t opcode, uint16_t domid, uint16_t id,
		      uint64_t start, uint64_t end)
{
	struct xen_dm_op op = { .op = opcode };

	op.u.map_io_range_to_ioreq_server.id = id;
	op.u.map_io_range_to_ioreq_server.type = XEN_DMOP_IO_RANGE_MEMORY;
	op.u.map_io_range_to_ioreq_server.start = start;
	op.u.map_io_range_to_ioreq_server.end = end;
	return dm_op(domid, &op);
}

static int pf_map_mmio(void *opaque, uint16_t domid, uint16_t id,
		       uint64_t start, uint64_t end)
{
	(void)opaque;
	return mmio_range(XEN_DMOP_map_io_range_to_ioreq_server, domid, id,
			  start, end);
}

static int pf_unmap_mmio(void *opaque, uint16_t domid, uint16_t id,
			 uint64_t start, uint64_t end)
{
	(void)opaque;
	return mmio_range(XEN_DMOP_unmap_io_range_from_ioreq_server, domid, id,
			  start, end);
}

static int pf_set_irq_level(void *opaque, uint16_t domid, uint32_t irq,
			    unsigned int level)
{
	struct xen_dm_op op = { .op = XEN_DMOP_set_irq_level };

	(void)opaque;
	op.u.set_irq_level.irq = irq;
	op.u.set_irq_level.level = (uint8_t)level;
	return dm_op(domid, &op);
}

/* ------------------------------------------------------------------ */
/* The ioreq page                                                      */
/* ------------------------------------------------------------------ */

static int pf_map_ioreq_page(void *opaque, uint16_t domid, uint16_t id,
			     void **page)
{
	struct xd_pf *p = of(opaque);
	struct xen_mem_acquire_resource r = {
		.domid = domid,
		.type = XENMEM_resource_ioreq_server,
		.id = id,
		.nr_frames = 1,
		.frame = XENMEM_resource_ioreq_server_frame_ioreq(0),
	};
	int64_t pg = window_alloc(p, 1);
	xen_pfn_t gfn;
	long rc;

	if (pg < 0)
		return (int)pg;
	/* A translated caller names the frame to map it at. */
	gfn = gfn_of(p, (uint64_t)pg);
	set_xen_guest_handle(r.frame_list, &gfn);
	rc = XD_HC2(__HYPERVISOR_memory_op, XENMEM_acquire_resource, &r);
	if (rc < 0) {
		window_free(p, (uint64_t)pg, 1);
		return (int)rc;
	}
	*page = (void *)(uintptr_t)(gfn << XD_PAGE_SHIFT);
	return 0;
}

static void pf_unmap_ioreq_page(void *opaque, uint16_t domid, uint16_t id,
				void *page)
{
	struct xd_pf *p = of(opaque);
	uint64_t pg = page_of(p, page);

	(void)domid;
	(void)id;
	if (pg == UINT64_MAX)
		return;
	remove_page(gfn_of(p, pg));
	window_free(p, pg, 1);
}

/* ------------------------------------------------------------------ */
/* Event channels                                                      */
/* ------------------------------------------------------------------ */

static int pf_evtchn_bind(void *opaque, uint16_t domid, uint32_t remote,
			  vback_xen_event_fn fn, void *fn_opaque,
			  uint32_t *local)
{
	int ret;

	(void)opaque;
	ret = xd_evtchn_bind_interdomain(domid, remote, local);
	if (ret < 0)
		return ret;
	ret = xd_evtchn_set_handler(*local, fn, fn_opaque);
	if (ret < 0)
		xd_evtchn_close(*local);
	return ret;
}

static void pf_evtchn_unbind(void *opaque, uint32_t local)
{
	(void)opaque;
	xd_evtchn_clear_handler(local);
	xd_evtchn_close(local);
}

static int pf_evtchn_notify(void *opaque, uint32_t local)
{
	struct xd_pf *p = of(opaque);

	p->events++;
	return xd_evtchn_send(local);
}

/* ------------------------------------------------------------------ */
/* Guest memory                                                        */
/* ------------------------------------------------------------------ */

static int pf_map_foreign(void *opaque, uint16_t domid, const uint64_t *gfns,
			  unsigned int n, int *errs, void **addr)
{
	struct xd_pf *p = of(opaque);
	int64_t first = window_alloc(p, n);
	unsigned int done = 0;

	if (first < 0)
		return (int)first;
	while (done < n) {
		unsigned int k = n - done > BATCH ? BATCH : n - done;
		struct xen_add_to_physmap_batch b = {
			.domid = DOMID_SELF,
			.space = XENMAPSPACE_gmfn_foreign,
			.size = (uint16_t)k,
			.u.foreign_domid = domid,
		};
		long rc;

		for (unsigned int i = 0; i < k; i++)
			p->gpfns[i] = gfn_of(p, (uint64_t)first + done + i);
		set_xen_guest_handle(b.idxs,
				     (xen_ulong_t *)(uintptr_t)(gfns + done));
		set_xen_guest_handle(b.gpfns, p->gpfns);
		set_xen_guest_handle(b.errs, errs + done);
		rc = XD_HC2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap_batch,
			    &b);
		if (rc < 0) {
			/* Nothing mapped: undo what earlier batches did. */
			for (unsigned int i = 0; i < done; i++)
				if (!errs[i])
					remove_page(
						gfn_of(p, (uint64_t)first + i));
			window_free(p, (uint64_t)first, n);
			return (int)rc;
		}
		done += k;
	}
	p->foreign_maps++;
	*addr = (void *)(uintptr_t)(gfn_of(p, (uint64_t)first)
				    << XD_PAGE_SHIFT);
	return 0;
}

static void pf_unmap_foreign(void *opaque, void *addr, unsigned int n)
{
	struct xd_pf *p = of(opaque);
	uint64_t first = page_of(p, addr);

	/* Never a page outside the window: those are the domain's own. */
	if (first == UINT64_MAX || first + n > p->o.window_pages)
		return;
	/* Pages whose map failed are not there: their remove fails. */
	for (unsigned int i = 0; i < n; i++)
		remove_page(gfn_of(p, first + i));
	window_free(p, first, n);
}

static int grant_status(int16_t st)
{
	switch (st) {
	case GNTST_okay:
		return 0;
	case GNTST_permission_denied:
		return -EPERM;
	case GNTST_bad_domain:
		return -ESRCH;
	case GNTST_eagain:
		return -EAGAIN;
	case GNTST_no_space:
	case GNTST_no_device_space:
		return -ENOSPC;
	default:
		return -EINVAL;
	}
}

static void unmap_grant_pages(struct xd_pf *p, uint64_t first, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct gnttab_unmap_grant_ref u = {
			.host_addr = gfn_of(p, first + i) << XD_PAGE_SHIFT,
			.handle = p->handles[first + i],
		};

		if (p->handles[first + i] == NO_HANDLE)
			continue;
		XD_HC3(__HYPERVISOR_grant_table_op, GNTTABOP_unmap_grant_ref,
		       &u, 1);
		p->handles[first + i] = NO_HANDLE;
	}
}

static int pf_map_grants(void *opaque, uint16_t domid, const uint32_t *refs,
			 unsigned int n, bool writable, int *errs, void **addr)
{
	struct xd_pf *p = of(opaque);
	int64_t first = window_alloc(p, n);
	unsigned int done = 0;

	if (first < 0)
		return (int)first;
	while (done < n) {
		unsigned int k =
			n - done > GRANT_BATCH ? GRANT_BATCH : n - done;
		long rc;

		for (unsigned int i = 0; i < k; i++) {
			uint64_t pg = (uint64_t)first + done + i;

			p->gmap[i] = (struct gnttab_map_grant_ref){
				.host_addr = gfn_of(p, pg) << XD_PAGE_SHIFT,
				.flags = GNTMAP_host_map |
					 (writable ? 0 : GNTMAP_readonly),
				.ref = refs[done + i],
				.dom = domid,
			};
		}
		rc = XD_HC3(__HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref,
			    p->gmap, k);
		if (rc < 0) {
			unmap_grant_pages(p, (uint64_t)first, done);
			window_free(p, (uint64_t)first, n);
			return (int)rc;
		}
		for (unsigned int i = 0; i < k; i++) {
			errs[done + i] = grant_status(p->gmap[i].status);
			p->handles[(uint64_t)first + done + i] =
				errs[done + i] ? NO_HANDLE : p->gmap[i].handle;
		}
		done += k;
	}
	p->grant_maps++;
	*addr = (void *)(uintptr_t)(gfn_of(p, (uint64_t)first)
				    << XD_PAGE_SHIFT);
	return 0;
}

static void pf_unmap_grants(void *opaque, void *addr, unsigned int n)
{
	struct xd_pf *p = of(opaque);
	uint64_t first = page_of(p, addr);

	if (first == UINT64_MAX || first + n > p->o.window_pages)
		return;
	unmap_grant_pages(p, first, n);
	window_free(p, first, n);
}

static const struct vback_xen_platform_ops xd_ops = {
	.nr_vcpus = pf_nr_vcpus,
	.create_ioreq_server = pf_create_server,
	.map_ioreq_page = pf_map_ioreq_page,
	.unmap_ioreq_page = pf_unmap_ioreq_page,
	.set_ioreq_server_state = pf_set_state,
	.destroy_ioreq_server = pf_destroy_server,
	.map_mmio_range = pf_map_mmio,
	.unmap_mmio_range = pf_unmap_mmio,
	.set_irq_level = pf_set_irq_level,
	.evtchn_bind = pf_evtchn_bind,
	.evtchn_unbind = pf_evtchn_unbind,
	.evtchn_notify = pf_evtchn_notify,
	.map_foreign = pf_map_foreign,
	.unmap_foreign = pf_unmap_foreign,
	.map_grants = pf_map_grants,
	.unmap_grants = pf_unmap_grants,
};

/* ------------------------------------------------------------------ */
/* xenstore                                                            */
/* ------------------------------------------------------------------ */

/* Events read during a request wait for the loop. */
static void kick_events(struct xd_pf *p)
{
	if (p->o.xs->ev_count)
		vback_loop_post(p->o.loop, &p->xs_work);
}

static int st_read(void *opaque, uint32_t tx, const char *path, char *buf,
		   size_t size)
{
	struct xd_pf *p = of(opaque);
	int ret = xd_xs_read(p->o.xs, tx, path, buf, size);

	kick_events(p);
	return ret;
}

static int st_write(void *opaque, uint32_t tx, const char *path,
		    const char *value)
{
	struct xd_pf *p = of(opaque);
	int ret = xd_xs_write(p->o.xs, tx, path, value);

	kick_events(p);
	return ret;
}

static int st_directory(void *opaque, uint32_t tx, const char *path, char *buf,
			size_t size)
{
	struct xd_pf *p = of(opaque);
	int ret = xd_xs_directory(p->o.xs, tx, path, buf, size);

	kick_events(p);
	return ret;
}

static int st_tx_start(void *opaque, uint32_t *tx)
{
	struct xd_pf *p = of(opaque);
	int ret = xd_xs_tx_start(p->o.xs, tx);

	kick_events(p);
	return ret;
}

static int st_tx_end(void *opaque, uint32_t tx, bool abort)
{
	struct xd_pf *p = of(opaque);
	int ret = xd_xs_tx_end(p->o.xs, tx, abort);

	kick_events(p);
	return ret;
}

static int st_watch(void *opaque, const char *path, vback_xen_watch_fn fn,
		    void *fn_opaque)
{
	struct xd_pf *p = of(opaque);
	struct watch *w = NULL;
	int ret;

	for (unsigned int i = 0; i < MAX_WATCHES && !w; i++)
		if (!p->watches[i].used)
			w = &p->watches[i];
	if (!w)
		return -ENOSPC;
	if (strlen(path) >= sizeof(w->path))
		return -ENAMETOOLONG;
	memcpy(w->path, path, strlen(path) + 1);
	xd_snprintf(w->token, sizeof(w->token), "vb%u", p->next_token++);
	w->fn = fn;
	w->opaque = fn_opaque;
	/* xenstored answers, then fires the new watch once: that event
	 * comes through the ring and the loop, never from here. */
	ret = xd_xs_watch(p->o.xs, path, w->token);
	if (ret == 0)
		w->used = true;
	kick_events(p);
	return ret;
}

static void st_unwatch(void *opaque, const char *path, vback_xen_watch_fn fn,
		       void *fn_opaque)
{
	struct xd_pf *p = of(opaque);

	for (unsigned int i = 0; i < MAX_WATCHES; i++) {
		struct watch *w = &p->watches[i];

		if (w->used && w->fn == fn && w->opaque == fn_opaque &&
		    !strcmp(w->path, path)) {
			/* Queued events name the token: dropped with it. */
			w->used = false;
			xd_xs_unwatch(p->o.xs, w->path, w->token);
			return;
		}
	}
}

static int st_domain_exists(void *opaque, uint16_t domid)
{
	struct xd_pf *p = of(opaque);
	int ret = xd_xs_introduced(p->o.xs, domid);

	kick_events(p);
	return ret; /* -EACCES in a DomU: it cannot tell */
}

static const struct vback_xen_store_ops xd_store = {
	.read = st_read,
	.write = st_write,
	.directory = st_directory,
	.tx_start = st_tx_start,
	.tx_end = st_tx_end,
	.watch = st_watch,
	.unwatch = st_unwatch,
	.domain_exists = st_domain_exists,
};

/* On the loop: read what arrived, deliver one event per watch call (a
 * callback may unwatch or watch anything). */
static void deliver(void *opaque)
{
	struct xd_pf *p = opaque;
	struct xd_xs_event ev;

	xd_xs_poll(p->o.xs);
	while (xd_xs_next_event(p->o.xs, &ev)) {
		for (unsigned int i = 0; i < MAX_WATCHES; i++) {
			struct watch *w = &p->watches[i];

			if (w->used && !strcmp(w->token, ev.token)) {
				w->fn(w->opaque, ev.path);
				break;
			}
		}
	}
}

/* The store's event channel: from the interrupt handler, post only. */
static void on_xs_event(void *opaque)
{
	struct xd_pf *p = opaque;

	vback_loop_post(p->o.loop, &p->xs_work);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

int xd_platform_create(const struct xd_platform_options *o,
		       struct vback_xen_platform **out)
{
	struct xd_pf *p;
	int ret;

	if (!o || !out || !o->window_pages || !o->loop ||
	    o->window_base & (XD_PAGE_SIZE - 1))
		return -EINVAL;
	p = vback_embed_calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->o = *o;
	p->bitmap = vback_embed_calloc((size_t)(o->window_pages + 63) / 64,
				       sizeof(*p->bitmap));
	p->handles = vback_embed_calloc((size_t)o->window_pages,
					sizeof(*p->handles));
	if (!p->bitmap || !p->handles) {
		xd_platform_destroy(&p->pf);
		return -ENOMEM;
	}
	memset(p->handles, 0xff, (size_t)o->window_pages * sizeof(*p->handles));
	vback_work_init(&p->xs_work, deliver, p);
	p->pf.ops = &xd_ops;
	p->pf.store = o->xs ? &xd_store : NULL;
	p->pf.opaque = p;
	if (o->xs) {
		ret = xd_evtchn_set_handler(o->xs_port, on_xs_event, p);
		if (ret < 0) {
			xd_platform_destroy(&p->pf);
			return ret;
		}
	}
	*out = &p->pf;
	return 0;
}

void xd_platform_destroy(struct vback_xen_platform *pf)
{
	struct xd_pf *p = (struct xd_pf *)pf;

	if (!p)
		return;
	if (p->o.xs) {
		xd_evtchn_clear_handler(p->o.xs_port);
		vback_loop_cancel(p->o.loop, &p->xs_work);
	}
	vback_embed_free(p->handles);
	vback_embed_free(p->bitmap);
	vback_embed_free(p);
}

void xd_platform_stats(const struct vback_xen_platform *pf,
		       struct xd_platform_stats *st)
{
	const struct xd_pf *p = (const struct xd_pf *)pf;

	st->window_pages = p->o.window_pages;
	st->window_peak = p->peak;
	st->foreign_maps = p->foreign_maps;
	st->grant_maps = p->grant_maps;
	st->events = p->events;
}
