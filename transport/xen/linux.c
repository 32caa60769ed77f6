/* SPDX-License-Identifier: MIT */
/*
 * The Linux platform of the Xen transport: struct vback_xen_platform on
 * privcmd's dm_op ioctl (linux_dmop.c; libxendevicemodel on old kernels),
 * libxenforeignmemory, libxenevtchn, libxengnttab and libxenstore, loaded
 * when the first platform is created (linux_lib.h). The
 * one event-channel handle's fd and the xenstore fd are watched on the
 * loop; their events become the platform's callbacks (on the loop thread
 * here; on an RTOS they would come from an interrupt).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

#include <vback/xen.h>

#include "linux_dmop.h"
#include "linux_lib.h"
#include "xen_abi.h"

/* The core's copy of the ABI must be Xen's. */
_Static_assert(sizeof(struct xen_ioreq) == sizeof(ioreq_t), "ioreq size");
_Static_assert(offsetof(struct xen_ioreq, vp_eport) ==
		       offsetof(ioreq_t, vp_eport),
	       "ioreq vp_eport");
_Static_assert(offsetof(struct xen_ioreq, type) == offsetof(ioreq_t, type),
	       "ioreq type");
_Static_assert(XEN_STATE_IOREQ_READY == STATE_IOREQ_READY &&
		       XEN_STATE_IORESP_READY == STATE_IORESP_READY &&
		       XEN_IOREQ_TYPE_COPY == IOREQ_TYPE_COPY &&
		       XEN_IOREQ_TYPE_INVALIDATE == IOREQ_TYPE_INVALIDATE &&
		       XEN_IOREQ_READ == IOREQ_READ,
	       "ioreq constants");
_Static_assert(sizeof(xen_pfn_t) == sizeof(uint64_t), "64-bit frames");

struct port {
	uint32_t local;
	vback_xen_event_fn fn;
	void *opaque;
};

struct watch {
	struct watch *next;
	char token[24];
	char *path;
	vback_xen_watch_fn fn;
	void *opaque;
};

struct resource {
	struct resource *next;
	void *page;
	xenforeignmemory_resource_handle *res;
};

struct linux_pf {
	struct vback_xen_platform pf; /* first: the public handle */
	const struct vback_loop *loop;
	const struct vback_log *log;
	struct xen_dmop *dm; /* DM ops: linux_dmop.c */
	xenforeignmemory_handle *fmem;
	xengnttab_handle *gnt;
	xenevtchn_handle *xce;
	int xce_fd;
	bool xce_watched;
	struct port *ports;
	unsigned int nports, cap;
	struct resource *resources;
	struct xs_handle *xs;
	int xs_fd;
	bool xs_watched, xs_failed;
	struct watch *watches;
	uint64_t next_token;
};

static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* ------------------------------------------------------------------ */
/* DM ops, ioreq page, interrupts                                      */
/* ------------------------------------------------------------------ */

static int lx_nr_vcpus(void *opaque, uint16_t domid, unsigned int *n)
{
	struct linux_pf *l = opaque;

	return xen_dmop_nr_vcpus(l->dm, domid, n);
}

static int lx_create_server(void *opaque, uint16_t domid, uint16_t *id)
{
	struct linux_pf *l = opaque;

	return xen_dmop_create_server(l->dm, domid, id);
}

static int lx_map_ioreq_page(void *opaque, uint16_t domid, uint16_t id,
			     void **page)
{
	struct linux_pf *l = opaque;
	struct resource *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->res = xenforeignmemory_map_resource(
		l->fmem, domid, XENMEM_resource_ioreq_server, id,
		XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &r->page,
		PROT_READ | PROT_WRITE, 0);
	if (!r->res) {
		int ret = neg_errno();

		free(r);
		return ret;
	}
	r->next = l->resources;
	l->resources = r;
	*page = r->page;
	return 0;
}

static void lx_unmap_ioreq_page(void *opaque, uint16_t domid, uint16_t id,
				void *page)
{
	struct linux_pf *l = opaque;

	(void)domid;
	(void)id;
	for (struct resource **pp = &l->resources; *pp; pp = &(*pp)->next) {
		struct resource *r = *pp;

		if (r->page == page) {
			*pp = r->next;
			xenforeignmemory_unmap_resource(l->fmem, r->res);
			free(r);
			return;
		}
	}
}

static int lx_set_state(void *opaque, uint16_t domid, uint16_t id, bool enabled)
{
	struct linux_pf *l = opaque;

	return xen_dmop_set_server_state(l->dm, domid, id, enabled);
}

static int lx_destroy_server(void *opaque, uint16_t domid, uint16_t id)
{
	struct linux_pf *l = opaque;

	return xen_dmop_destroy_server(l->dm, domid, id);
}

static int lx_map_mmio(void *opaque, uint16_t domid, uint16_t id,
		       uint64_t start, uint64_t end)
{
	struct linux_pf *l = opaque;

	return xen_dmop_map_mmio(l->dm, domid, id, start, end);
}

static int lx_unmap_mmio(void *opaque, uint16_t domid, uint16_t id,
			 uint64_t start, uint64_t end)
{
	struct linux_pf *l = opaque;

	return xen_dmop_unmap_mmio(l->dm, domid, id, start, end);
}

static int lx_set_irq_level(void *opaque, uint16_t domid, uint32_t irq,
			    unsigned int level)
{
	struct linux_pf *l = opaque;

	return xen_dmop_set_irq_level(l->dm, domid, irq, level);
}

static int lx_set_isa_irq_level(void *opaque, uint16_t domid, uint8_t irq,
				unsigned int level)
{
	struct linux_pf *l = opaque;

	return xen_dmop_set_isa_irq_level(l->dm, domid, irq, level);
}

/* ------------------------------------------------------------------ */
/* Event channels                                                      */
/* ------------------------------------------------------------------ */

static struct port *port_find(struct linux_pf *l, uint32_t local)
{
	for (unsigned int i = 0; i < l->nports; i++)
		if (l->ports[i].local == local)
			return &l->ports[i];
	return NULL;
}

static void on_evtchn(void *opaque, int fd, uint32_t events)
{
	struct linux_pf *l = opaque;
	struct port *p;
	int port;

	(void)fd;
	(void)events;
	/* One port per wakeup: the fd stays readable while more are
	 * pending, and a second read could block. */
	port = xenevtchn_pending(l->xce);
	if (port < 0)
		return;
	xenevtchn_unmask(l->xce, (evtchn_port_t)port);
	p = port_find(l, (uint32_t)port);
	if (p)
		p->fn(p->opaque);
}

static int lx_evtchn_bind(void *opaque, uint16_t domid, uint32_t remote,
			  vback_xen_event_fn fn, void *fn_opaque,
			  uint32_t *local)
{
	struct linux_pf *l = opaque;
	int port, ret;

	if (l->nports == l->cap) {
		unsigned int cap = l->cap ? l->cap * 2 : 16;
		struct port *p = realloc(l->ports, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->ports = p;
		l->cap = cap;
	}
	port = xenevtchn_bind_interdomain(l->xce, domid, remote);
	if (port < 0)
		return neg_errno();
	if (!l->xce_watched) {
		ret = vback_loop_watch(l->loop, l->xce_fd, VBACK_EV_IN,
				       on_evtchn, l);
		if (ret < 0) {
			xenevtchn_unbind(l->xce, (evtchn_port_t)port);
			return ret;
		}
		l->xce_watched = true;
	}
	l->ports[l->nports++] = (struct port){ (uint32_t)port, fn, fn_opaque };
	*local = (uint32_t)port;
	return 0;
}

static void lx_evtchn_unbind(void *opaque, uint32_t local)
{
	struct linux_pf *l = opaque;
	struct port *p = port_find(l, local);

	if (!p)
		return;
	xenevtchn_unbind(l->xce, local);
	*p = l->ports[--l->nports];
}

static int lx_evtchn_notify(void *opaque, uint32_t local)
{
	struct linux_pf *l = opaque;

	return xenevtchn_notify(l->xce, local) < 0 ? neg_errno() : 0;
}

/* ------------------------------------------------------------------ */
/* Guest memory                                                        */
/* ------------------------------------------------------------------ */

static int lx_map_foreign(void *opaque, uint16_t domid, const uint64_t *gfns,
			  unsigned int n, int *errs, void **addr)
{
	struct linux_pf *l = opaque;
	void *host;

	host = xenforeignmemory_map(l->fmem, domid, PROT_READ | PROT_WRITE, n,
				    (const xen_pfn_t *)gfns, errs);
	if (!host)
		return neg_errno();
	*addr = host;
	return 0;
}

static void lx_unmap_foreign(void *opaque, void *addr, unsigned int n)
{
	struct linux_pf *l = opaque;

	xenforeignmemory_unmap(l->fmem, addr, n);
}

static int lx_map_grants(void *opaque, uint16_t domid, const uint32_t *refs,
			 unsigned int n, bool writable, int *errs, void **addr)
{
	struct linux_pf *l = opaque;
	void *host;

	/* All or nothing with gntdev: every page is in error together. */
	host = xengnttab_map_domain_grant_refs(
		l->gnt, n, domid, (uint32_t *)(uintptr_t)refs,
		PROT_READ | (writable ? PROT_WRITE : 0));
	if (!host)
		return neg_errno();
	for (unsigned int i = 0; i < n; i++)
		errs[i] = 0;
	*addr = host;
	return 0;
}

static void lx_unmap_grants(void *opaque, void *addr, unsigned int n)
{
	struct linux_pf *l = opaque;

	xengnttab_unmap(l->gnt, addr, n);
}

/* ------------------------------------------------------------------ */
/* xenstore                                                            */
/* ------------------------------------------------------------------ */

static void on_xs(void *opaque, int fd, uint32_t events);

/* Open xenstore at first use: explicit serving may never need it. */
static int xs_ready(struct linux_pf *l)
{
	int ret;

	if (l->xs)
		return 0;
	if (l->xs_failed)
		return -ENOTCONN;
	errno = 0;
	l->xs = xs_open(0);
	if (!l->xs) {
		ret = neg_errno();
		goto fail;
	}
	l->xs_fd = xs_fileno(l->xs);
	if (l->xs_fd < 0) {
		ret = neg_errno();
		goto fail;
	}
	ret = vback_loop_watch(l->loop, l->xs_fd, VBACK_EV_IN, on_xs, l);
	if (ret < 0)
		goto fail;
	l->xs_watched = true;
	return 0;
fail:
	vback_logf(l->log, VBACK_LOG_WARN, "xen: cannot open xenstore: %s",
		   vback_strerror(ret));
	if (l->xs)
		xs_close(l->xs);
	l->xs = NULL;
	l->xs_failed = true;
	return ret;
}

static int lx_xs_read(void *opaque, uint32_t tx, const char *path, char *buf,
		      size_t size)
{
	struct linux_pf *l = opaque;
	unsigned int len;
	char *v;
	int ret = xs_ready(l);

	if (ret < 0)
		return ret;
	v = xs_read(l->xs, tx, path, &len);
	if (!v)
		return neg_errno();
	if (len >= size) {
		free(v);
		return -ERANGE;
	}
	memcpy(buf, v, len);
	buf[len] = '\0';
	free(v);
	return (int)len;
}

static int lx_xs_write(void *opaque, uint32_t tx, const char *path,
		       const char *value)
{
	struct linux_pf *l = opaque;
	int ret = xs_ready(l);

	if (ret < 0)
		return ret;
	return xs_write(l->xs, tx, path, value, (unsigned int)strlen(value))
		       ? 0
		       : neg_errno();
}

static int lx_xs_directory(void *opaque, uint32_t tx, const char *path,
			   char *buf, size_t size)
{
	struct linux_pf *l = opaque;
	unsigned int num, i;
	size_t used = 0;
	char **names;
	int ret = xs_ready(l);

	if (ret < 0)
		return ret;
	names = xs_directory(l->xs, tx, path, &num);
	if (!names)
		return neg_errno();
	for (i = 0; i < num; i++) {
		size_t n = strlen(names[i]) + 1;

		if (n > size - used) {
			free(names);
			return -ERANGE;
		}
		memcpy(buf + used, names[i], n);
		used += n;
	}
	free(names);
	return (int)num;
}

static int lx_xs_tx_start(void *opaque, uint32_t *tx)
{
	struct linux_pf *l = opaque;
	xs_transaction_t t;
	int ret = xs_ready(l);

	if (ret < 0)
		return ret;
	t = xs_transaction_start(l->xs);
	if (t == XBT_NULL)
		return neg_errno();
	*tx = t;
	return 0;
}

static int lx_xs_tx_end(void *opaque, uint32_t tx, bool abort)
{
	struct linux_pf *l = opaque;

	if (!l->xs)
		return -ENOTCONN;
	return xs_transaction_end(l->xs, tx, abort) ? 0 : neg_errno();
}

static struct watch *watch_by_token(struct linux_pf *l, const char *token)
{
	for (struct watch *w = l->watches; w; w = w->next)
		if (!strcmp(w->token, token))
			return w;
	return NULL;
}

static void on_xs(void *opaque, int fd, uint32_t events)
{
	struct linux_pf *l = opaque;
	char **ev;

	(void)fd;
	(void)events;
	/* Non-blocking: drains what is queued, then returns. Each event is
	 * looked up again: a callback may unwatch anything. */
	while (l->xs && (ev = xs_check_watch(l->xs))) {
		struct watch *w = watch_by_token(l, ev[XS_WATCH_TOKEN]);

		if (w)
			w->fn(w->opaque, ev[XS_WATCH_PATH]);
		free(ev);
	}
	if (l->xs && errno != EAGAIN && errno != ENOMEM) {
		/* A broken connection would keep the fd ready forever. */
		vback_logf(l->log, VBACK_LOG_ERR,
			   "xen: xenstore connection failed (%s): watches "
			   "stopped",
			   vback_strerror(neg_errno()));
		vback_loop_unwatch(l->loop, l->xs_fd);
		l->xs_watched = false;
	}
}

static int lx_xs_watch(void *opaque, const char *path, vback_xen_watch_fn fn,
		       void *fn_opaque)
{
	struct linux_pf *l = opaque;
	struct watch *w;
	int ret = xs_ready(l);

	if (ret < 0)
		return ret;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->path = strdup(path))) {
		free(w);
		return -ENOMEM;
	}
	snprintf(w->token, sizeof(w->token), "vback-%llu",
		 (unsigned long long)l->next_token++);
	w->fn = fn;
	w->opaque = fn_opaque;
	/* A new watch fires once at once, through the fd: never from here. */
	if (!xs_watch(l->xs, path, w->token)) {
		ret = neg_errno();
		free(w->path);
		free(w);
		return ret;
	}
	w->next = l->watches;
	l->watches = w;
	return 0;
}

static void lx_xs_unwatch(void *opaque, const char *path, vback_xen_watch_fn fn,
			  void *fn_opaque)
{
	struct linux_pf *l = opaque;

	for (struct watch **pp = &l->watches; *pp; pp = &(*pp)->next) {
		struct watch *w = *pp;

		if (w->fn == fn && w->opaque == fn_opaque &&
		    !strcmp(w->path, path)) {
			*pp = w->next;
			if (l->xs)
				xs_unwatch(l->xs, w->path, w->token);
			free(w->path);
			free(w);
			return;
		}
	}
}

static int lx_xs_domain_exists(void *opaque, uint16_t domid)
{
	struct linux_pf *l = opaque;
	int ret = xs_ready(l);

	if (ret < 0)
		return ret;
	/* false is both "gone" and "could not ask": errno tells. */
	errno = 0;
	if (xs_is_domain_introduced(l->xs, domid))
		return 1;
	return errno ? neg_errno() : 0;
}

static const struct vback_xen_platform_ops linux_ops = {
	.nr_vcpus = lx_nr_vcpus,
	.create_ioreq_server = lx_create_server,
	.map_ioreq_page = lx_map_ioreq_page,
	.unmap_ioreq_page = lx_unmap_ioreq_page,
	.set_ioreq_server_state = lx_set_state,
	.destroy_ioreq_server = lx_destroy_server,
	.map_mmio_range = lx_map_mmio,
	.unmap_mmio_range = lx_unmap_mmio,
	.set_irq_level = lx_set_irq_level,
	.set_isa_irq_level = lx_set_isa_irq_level,
	.evtchn_bind = lx_evtchn_bind,
	.evtchn_unbind = lx_evtchn_unbind,
	.evtchn_notify = lx_evtchn_notify,
	.map_foreign = lx_map_foreign,
	.unmap_foreign = lx_unmap_foreign,
	.map_grants = lx_map_grants,
	.unmap_grants = lx_unmap_grants,
};

static const struct vback_xen_store_ops linux_store = {
	.read = lx_xs_read,
	.write = lx_xs_write,
	.directory = lx_xs_directory,
	.tx_start = lx_xs_tx_start,
	.tx_end = lx_xs_tx_end,
	.watch = lx_xs_watch,
	.unwatch = lx_xs_unwatch,
	.domain_exists = lx_xs_domain_exists,
};

void vback_xen_linux_platform_destroy(struct vback_xen_platform *p)
{
	struct linux_pf *l;

	if (!p)
		return;
	l = (struct linux_pf *)p;
	while (l->watches) {
		struct watch *w = l->watches;

		lx_xs_unwatch(l, w->path, w->fn, w->opaque);
	}
	if (l->xs_watched)
		vback_loop_unwatch(l->loop, l->xs_fd);
	if (l->xs)
		xs_close(l->xs);
	while (l->nports)
		lx_evtchn_unbind(l, l->ports[0].local);
	if (l->xce_watched)
		vback_loop_unwatch(l->loop, l->xce_fd);
	while (l->resources) {
		struct resource *r = l->resources;

		l->resources = r->next;
		xenforeignmemory_unmap_resource(l->fmem, r->res);
		free(r);
	}
	if (l->xce)
		xenevtchn_close(l->xce);
	if (l->gnt)
		xengnttab_close(l->gnt);
	if (l->fmem)
		xenforeignmemory_close(l->fmem);
	xen_dmop_close(l->dm);
	free(l->ports);
	free(l);
}

int vback_xen_linux_platform_create(const struct vback_loop *loop,
				    const struct vback_log *log,
				    struct vback_xen_platform **out)
{
	struct linux_pf *l;
	int fd, ret;

	if (!loop || !out || !vback_loop_has_fds(loop))
		return -EINVAL;
	ret = xen_lib_load(log);
	if (ret < 0)
		return ret;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->log = log;
	l->xce_fd = l->xs_fd = -1;
	/* DM ops through privcmd itself (linux_dmop.h says why); without
	 * privcmd the library reports why it cannot open either. */
	fd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fd = open("/proc/xen/privcmd", O_RDWR | O_CLOEXEC);
	ret = xen_dmop_create(fd, log, &l->dm);
	if (ret < 0) {
		free(l);
		return ret;
	}
	errno = 0;
	if (!(l->fmem = xenforeignmemory_open(NULL, 0)) ||
	    !(l->gnt = xengnttab_open(NULL, 0)) ||
	    !(l->xce = xenevtchn_open(NULL, 0)))
		goto fail;
	l->xce_fd = xenevtchn_fd(l->xce);
	if (l->xce_fd < 0)
		goto fail;
	l->pf.ops = &linux_ops;
	l->pf.store = &linux_store;
	l->pf.opaque = l;
	*out = &l->pf;
	return 0;
fail:
	ret = neg_errno();
	vback_logf(log, VBACK_LOG_ERR, "xen: cannot open the Xen libraries: %s",
		   vback_strerror(ret));
	vback_xen_linux_platform_destroy(&l->pf);
	return ret;
}
