/* SPDX-License-Identifier: MIT */
/*
 * Context and domains: one IOREQ server per guest domain.
 *
 * Setup order matters on a real Xen (checked against 4.17): create the
 * server, map its synchronous ioreq page, enable it (vp_eport is filled in
 * only after map + enable), bind every vCPU's port, and claim MMIO ranges
 * last (device.c), so no access reaches a server that cannot answer it.
 * Teardown runs in reverse.
 *
 * Domains created with a died() callback are watched for death through
 * @releaseDomain on a xenstore handle of the context, opened with the
 * first of them: explicit serving needs no xenstore otherwise.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "xen_priv.h"

#define TOKEN_DIED "vback-died"

static void death_watch_stop(struct vback_xen *xen);

int vback_xen_create_sys(const struct vback_xen_options *opts,
			 const struct xen_sys_ops *sys, void *sys_opaque,
			 struct vback_xen **out)
{
	struct vback_xen *xen;
	int err;

	if (!opts || !opts->loop || !sys || !out)
		return -EINVAL;
	xen = calloc(1, sizeof(*xen));
	if (!xen)
		return -ENOMEM;
	xen->sys = sys;
	xen->sys_opaque = sys_opaque;
	xen->xs_fd = -1;
	errno = 0;
	xen->loop = opts->loop;
	xen->log = opts->log;
	xen->dm = sys->dm_open(sys_opaque);
	if (!xen->dm)
		goto fail;
	xen->fmem = sys->fmem_open(sys_opaque);
	if (!xen->fmem)
		goto fail;
	xen->gnt = sys->gnt_open(sys_opaque);
	if (!xen->gnt)
		goto fail;
	*out = xen;
	return 0;
fail:
	err = errno ? -errno : -EIO;
	vback_logf(xen->log, VBACK_LOG_ERR,
		   "xen: cannot open the Xen libraries: %s",
		   vback_strerror(err));
	if (xen->fmem)
		sys->fmem_close(xen->fmem);
	if (xen->dm)
		sys->dm_close(xen->dm);
	free(xen);
	return err;
}

int vback_xen_create(const struct vback_xen_options *opts,
		     struct vback_xen **out)
{
	return vback_xen_create_sys(opts, &xen_sys_real, NULL, out);
}

void vback_xen_destroy(struct vback_xen *xen)
{
	if (!xen)
		return;
	while (xen->domains) {
		vback_logf(xen->log, VBACK_LOG_WARN,
			   "xen: dom%u still served at destroy",
			   xen->domains->domid);
		vback_xen_domain_destroy(xen->domains);
	}
	death_watch_stop(xen);
	xen->sys->gnt_close(xen->gnt);
	xen->sys->fmem_close(xen->fmem);
	xen->sys->dm_close(xen->dm);
	free(xen);
}

static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* ------------------------------------------------------------------ */
/* Death of domains with a died() callback                             */
/* ------------------------------------------------------------------ */

static void death_watch_stop(struct vback_xen *xen)
{
	if (xen->xs_watched) {
		vback_loop_unwatch(xen->loop, xen->xs_fd);
		xen->sys->xs_unwatch(xen->xs, "@releaseDomain", TOKEN_DIED);
	}
	xen->xs_watched = false;
	if (xen->xs)
		xen->sys->xs_close(xen->xs);
	xen->xs = NULL;
	xen->xs_fd = -1;
}

/* Report every watched domain xenstore no longer knows, once each. */
static void death_check(struct vback_xen *xen)
{
	struct vback_xen_domain *dom;
	bool found;

	do {
		found = false;
		for (dom = xen->domains; dom; dom = dom->next) {
			if (!dom->died || dom->died_reported ||
			    xen->sys->xs_is_domain_introduced(xen->xs,
							      dom->domid))
				continue;
			found = true;
			dom->died_reported = true;
			vback_logf(xen->log, VBACK_LOG_INFO, "xen: dom%u died",
				   dom->domid);
			/* It may destroy @dom or others: walk again. */
			dom->died(dom->died_opaque, dom);
			break;
		}
	} while (found);
}

static void death_event(void *opaque, int fd, uint32_t events)
{
	struct vback_xen *xen = opaque;
	bool fired = false;
	char **ev;

	(void)fd;
	(void)events;
	/* Non-blocking: drains what is queued, then returns. */
	while ((ev = xen->sys->xs_check_watch(xen->xs))) {
		if (!strcmp(ev[XS_WATCH_TOKEN], TOKEN_DIED))
			fired = true;
		free(ev);
	}
	if (errno == ENOMEM) {
		/* An event may be lost: look anyway. */
		fired = true;
	} else if (errno != EAGAIN) {
		/* A broken connection would keep the fd ready forever. */
		vback_logf(xen->log, VBACK_LOG_WARN,
			   "xen: xenstore watch failed (%s): domain death is "
			   "no longer noticed",
			   vback_strerror(neg_errno()));
		death_watch_stop(xen);
		xen->xs_failed = true;
	}
	if (fired && xen->xs)
		death_check(xen);
}

/* Open xenstore and watch @releaseDomain, once per context. */
static void death_watch_start(struct vback_xen *xen, uint16_t domid)
{
	const struct xen_sys_ops *sys = xen->sys;
	int ret;

	if (xen->xs_watched || xen->xs_failed)
		return;
	errno = 0;
	xen->xs = sys->xs_open(xen->sys_opaque);
	if (!xen->xs)
		goto fail;
	xen->xs_fd = sys->xs_fileno(xen->xs);
	if (xen->xs_fd < 0)
		goto fail;
	/* A new watch fires once at once: a death before now is seen too. */
	if (!sys->xs_watch(xen->xs, "@releaseDomain", TOKEN_DIED))
		goto fail;
	ret = vback_loop_watch(xen->loop, xen->xs_fd, VBACK_EV_IN, death_event,
			       xen);
	if (ret < 0) {
		sys->xs_unwatch(xen->xs, "@releaseDomain", TOKEN_DIED);
		errno = -ret;
		goto fail;
	}
	xen->xs_watched = true;
	return;
fail:
	ret = neg_errno();
	vback_logf(xen->log, VBACK_LOG_WARN,
		   "xen: dom%u: cannot watch @releaseDomain in xenstore (%s): "
		   "the death of this and later domains is not noticed",
		   domid, vback_strerror(ret));
	death_watch_stop(xen);
	xen->xs_failed = true;
}

/* Reverse of domain_setup(); every step tolerates a dead domain. */
static void domain_teardown(struct vback_xen_domain *dom)
{
	const struct xen_sys_ops *sys = dom->xen->sys;
	unsigned int i;

	if (dom->watched)
		vback_loop_unwatch(dom->xen->loop, dom->xce_fd);
	dom->watched = false;
	for (i = 0; dom->vcpus && i < dom->nr_vcpus; i++) {
		if (dom->vcpus[i].bound)
			sys->evtchn_unbind(dom->xce, dom->vcpus[i].local);
		dom->vcpus[i].bound = false;
	}
	if (dom->enabled)
		sys->dm_set_ioreq_server_state(dom->xen->dm, dom->domid,
					       dom->id, 0);
	dom->enabled = false;
	if (dom->ioreq_res)
		sys->fmem_unmap_resource(dom->xen->fmem, dom->ioreq_res);
	dom->ioreq_res = NULL;
	dom->iopage = NULL;
	if (dom->created)
		sys->dm_destroy_ioreq_server(dom->xen->dm, dom->domid, dom->id);
	dom->created = false;
	if (dom->xce)
		sys->evtchn_close(dom->xce);
	dom->xce = NULL;
}

static int domain_setup(struct vback_xen_domain *dom)
{
	struct vback_xen *xen = dom->xen;
	const struct xen_sys_ops *sys = xen->sys;
	void *page = NULL;
	unsigned int i;
	int ret;

	if (sys->dm_nr_vcpus(xen->dm, dom->domid, &dom->nr_vcpus) < 0)
		return neg_errno();
	/* One slot per vCPU must fit in the single ioreq page. */
	if (dom->nr_vcpus == 0 ||
	    dom->nr_vcpus > XEN_PAGE_SIZE / sizeof(ioreq_t))
		return -EINVAL;
	dom->vcpus = calloc(dom->nr_vcpus, sizeof(*dom->vcpus));
	if (!dom->vcpus)
		return -ENOMEM;
	dom->xce = sys->evtchn_open(xen->sys_opaque);
	if (!dom->xce)
		return neg_errno();
	dom->xce_fd = sys->evtchn_fd(dom->xce);
	if (dom->xce_fd < 0)
		return neg_errno();

	/* Arm never buffers ioreqs, and virtio-mmio needs no buffering. */
	if (sys->dm_create_ioreq_server(xen->dm, dom->domid,
					HVM_IOREQSRV_BUFIOREQ_OFF,
					&dom->id) < 0)
		return neg_errno();
	dom->created = true;
	dom->ioreq_res = sys->fmem_map_resource(
		xen->fmem, dom->domid, XENMEM_resource_ioreq_server, dom->id,
		XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &page,
		PROT_READ | PROT_WRITE, 0);
	if (!dom->ioreq_res)
		return neg_errno();
	dom->iopage = page;
	if (sys->dm_set_ioreq_server_state(xen->dm, dom->domid, dom->id, 1) < 0)
		return neg_errno();
	dom->enabled = true;

	/* vp_eport is valid now (after map + enable), not before. */
	for (i = 0; i < dom->nr_vcpus; i++) {
		uint32_t remote = dom->iopage->vcpu_ioreq[i].vp_eport;

		ret = sys->evtchn_bind_interdomain(dom->xce, dom->domid,
						   remote);
		if (ret < 0) {
			ret = neg_errno();
			vback_logf(xen->log, VBACK_LOG_ERR,
				   "xen: dom%u vcpu%u: bind port %u: %s",
				   dom->domid, i, remote, vback_strerror(ret));
			return ret;
		}
		dom->vcpus[i].local = (evtchn_port_t)ret;
		dom->vcpus[i].bound = true;
	}
	ret = vback_loop_watch(xen->loop, dom->xce_fd, VBACK_EV_IN,
			       xen_ioreq_event, dom);
	if (ret < 0)
		return ret;
	dom->watched = true;
	return 0;
}

int vback_xen_domain_create(struct vback_xen *xen,
			    const struct vback_xen_domain_options *opts,
			    struct vback_xen_domain **out)
{
	struct vback_xen_domain *dom, *it;
	int ret;

	if (!xen || !opts || !out || opts->irq_mode > VBACK_XEN_IRQ_ISA)
		return -EINVAL;
	for (it = xen->domains; it; it = it->next)
		if (it->domid == opts->domid)
			return -EEXIST;
	dom = calloc(1, sizeof(*dom));
	if (!dom)
		return -ENOMEM;
	dom->xen = xen;
	dom->domid = opts->domid;
	dom->irq_mode = opts->irq_mode;
	dom->died = opts->died;
	dom->died_opaque = opts->opaque;
	if (dom->irq_mode == VBACK_XEN_IRQ_AUTO) {
#if defined(__arm__) || defined(__aarch64__)
		dom->irq_mode = VBACK_XEN_IRQ_SPI;
#else
		dom->irq_mode = VBACK_XEN_IRQ_ISA;
#endif
	}
	dom->gm_foreign.ops = &xen_gm_foreign_ops;
	dom->gm_foreign.opaque = dom;
	dom->gm_grant.ops = &xen_gm_grant_ops;
	dom->gm_grant.opaque = dom;
	ret = xen_mapcache_init(dom, opts->map_cache_mib ? opts->map_cache_mib
							 : 512);
	if (ret == 0)
		ret = domain_setup(dom);
	if (ret < 0) {
		vback_logf(xen->log, VBACK_LOG_ERR,
			   "xen: dom%u: cannot start the IOREQ server: %s",
			   dom->domid, vback_strerror(ret));
		domain_teardown(dom);
		xen_mapcache_fini(dom);
		free(dom->vcpus);
		free(dom);
		return ret;
	}
	dom->next = xen->domains;
	xen->domains = dom;
	if (dom->died)
		death_watch_start(xen, dom->domid);
	vback_logf(xen->log, VBACK_LOG_INFO,
		   "xen: dom%u: IOREQ server %u, %u vCPUs", dom->domid, dom->id,
		   dom->nr_vcpus);
	*out = dom;
	return 0;
}

void vback_xen_domain_destroy(struct vback_xen_domain *dom)
{
	struct vback_xen_domain **pp;

	if (!dom)
		return;
	while (dom->devices)
		vback_xen_device_remove(dom->devices);
	/* Prompt release: a held foreign mapping keeps a dead guest a zombie.
	 */
	xen_mapcache_fini(dom);
	domain_teardown(dom);
	for (pp = &dom->xen->domains; *pp; pp = &(*pp)->next) {
		if (*pp == dom) {
			*pp = dom->next;
			break;
		}
	}
	free(dom->vcpus);
	free(dom);
}

uint16_t vback_xen_domain_id(const struct vback_xen_domain *dom)
{
	return dom->domid;
}
