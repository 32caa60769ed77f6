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
 * @releaseDomain in the platform's xenstore: explicit serving needs no
 * xenstore otherwise.
 */
#include <string.h>

#include "xen_priv.h"

static void death_watch_stop(struct vback_xen *xen);

int vback_xen_create(const struct vback_xen_options *opts,
		     struct vback_xen **out)
{
	struct vback_xen *xen;
	int ret;

	if (!opts || !opts->loop || !opts->loop->ops || !out ||
	    (opts->platform && !opts->platform->ops))
		return -EINVAL;
	xen = vb_calloc(1, sizeof(*xen));
	if (!xen)
		return -ENOMEM;
	xen->loop = opts->loop;
	xen->log = opts->log;
	xen->pf = opts->platform;
	if (!xen->pf) {
#if VBACK_XEN_LINUX
		ret = vback_xen_linux_platform_create(opts->loop, opts->log,
						      &xen->own_pf);
#else
		ret = -ENOTSUP; /* no platform of our own in this build */
#endif
		if (ret < 0) {
			vb_free(xen);
			return ret;
		}
		xen->pf = xen->own_pf;
	}
	*out = xen;
	return 0;
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
#if VBACK_XEN_LINUX
	vback_xen_linux_platform_destroy(xen->own_pf);
#endif
	vb_free(xen);
}

/* ------------------------------------------------------------------ */
/* Death of domains with a died() callback                             */
/* ------------------------------------------------------------------ */

static void death_fired(void *opaque, const char *path);

static void death_watch_stop(struct vback_xen *xen)
{
	if (xen->death_watched)
		xen->pf->store->unwatch(xen->pf->opaque, "@releaseDomain",
					death_fired, xen);
	xen->death_watched = false;
}

static void death_give_up(struct vback_xen *xen, int err)
{
	vback_logf(xen->log, VBACK_LOG_WARN,
		   "xen: cannot tell whether domains died (%s): the death of "
		   "explicitly served domains is not noticed",
		   vback_strerror(err));
	death_watch_stop(xen);
	xen->death_failed = true;
}

/* Report every watched domain the store says is gone, once each. */
static void death_fired(void *opaque, const char *path)
{
	struct vback_xen *xen = opaque;
	struct vback_xen_domain *dom;
	bool found;

	(void)path;
	do {
		found = false;
		for (dom = xen->domains; dom; dom = dom->next) {
			int alive;

			if (!dom->died || dom->died_reported)
				continue;
			alive = xen->pf->store->domain_exists(xen->pf->opaque,
							      dom->domid);
			if (alive < 0) {
				/* Not knowing is not dying (a DomU may not
				 * ask): never report a death on an error. */
				death_give_up(xen, alive);
				return;
			}
			if (alive)
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

/* Watch @releaseDomain, once per context. */
static void death_watch_start(struct vback_xen *xen, uint16_t domid)
{
	const struct vback_xen_store_ops *st = xen->pf->store;
	int ret;

	if (xen->death_watched || xen->death_failed)
		return;
	if (!st || !st->watch || !st->domain_exists) {
		ret = -ENOTSUP;
	} else {
		/* A new watch fires once soon: a death before now is seen. */
		ret = st->watch(xen->pf->opaque, "@releaseDomain", death_fired,
				xen);
	}
	if (ret < 0) {
		vback_logf(xen->log, VBACK_LOG_WARN,
			   "xen: dom%u: cannot watch @releaseDomain (%s): the "
			   "death of this and later domains is not noticed",
			   domid, vback_strerror(ret));
		xen->death_failed = true;
		return;
	}
	xen->death_watched = true;
}

/* ------------------------------------------------------------------ */
/* Domains                                                             */
/* ------------------------------------------------------------------ */

/* Reverse of domain_setup(); every step tolerates a dead domain. */
static void domain_teardown(struct vback_xen_domain *dom)
{
	const struct vback_xen_platform *pf = dom->xen->pf;
	unsigned int i;

	for (i = 0; dom->vcpus && i < dom->nr_vcpus; i++) {
		if (dom->vcpus[i].bound)
			pf->ops->evtchn_unbind(pf->opaque, dom->vcpus[i].local);
		dom->vcpus[i].bound = false;
	}
	/* Unbound: no callback posts it again. */
	vback_loop_cancel(dom->xen->loop, &dom->work);
	if (dom->enabled)
		pf->ops->set_ioreq_server_state(pf->opaque, dom->domid, dom->id,
						false);
	dom->enabled = false;
	if (dom->iopage)
		pf->ops->unmap_ioreq_page(pf->opaque, dom->domid, dom->id,
					  (void *)(uintptr_t)dom->iopage);
	dom->iopage = NULL;
	if (dom->created)
		pf->ops->destroy_ioreq_server(pf->opaque, dom->domid, dom->id);
	dom->created = false;
}

static int domain_setup(struct vback_xen_domain *dom, bool adopt,
			uint16_t server)
{
	struct vback_xen *xen = dom->xen;
	const struct vback_xen_platform *pf = xen->pf;
	void *page = NULL;
	unsigned int i;
	int ret;

	ret = pf->ops->nr_vcpus(pf->opaque, dom->domid, &dom->nr_vcpus);
	if (ret < 0)
		return ret;
	/* One slot per vCPU must fit in the single ioreq page. */
	if (dom->nr_vcpus == 0 ||
	    dom->nr_vcpus > XEN_PAGE_SIZE / sizeof(struct xen_ioreq))
		return -EINVAL;
	dom->vcpus = vb_calloc(dom->nr_vcpus, sizeof(*dom->vcpus));
	if (!dom->vcpus)
		return -ENOMEM;
	if (adopt) {
		/* A dead process's server: it still claims the windows and
		 * its vCPUs' ports wait for a new peer. */
		dom->id = server;
		dom->adopting = true;
	} else {
		/* Arm never buffers ioreqs, and virtio-mmio needs none. */
		ret = pf->ops->create_ioreq_server(pf->opaque, dom->domid,
						   &dom->id);
		if (ret < 0)
			return ret;
	}
	dom->created = true;
	ret = pf->ops->map_ioreq_page(pf->opaque, dom->domid, dom->id, &page);
	if (ret < 0)
		return ret;
	dom->iopage = page;
	ret = pf->ops->set_ioreq_server_state(pf->opaque, dom->domid, dom->id,
					      true);
	if (ret < 0)
		return ret;
	dom->enabled = true;

	/* vp_eport is valid now (after map + enable), not before. */
	for (i = 0; i < dom->nr_vcpus; i++) {
		uint32_t remote = dom->iopage->vcpu_ioreq[i].vp_eport;

		dom->vcpus[i].dom = dom;
		ret = pf->ops->evtchn_bind(pf->opaque, dom->domid, remote,
					   xen_ioreq_event, dom,
					   &dom->vcpus[i].local);
		if (ret < 0) {
			vback_logf(xen->log, VBACK_LOG_ERR,
				   "xen: dom%u vcpu%u: bind port %u: %s",
				   dom->domid, i, (unsigned int)remote,
				   vback_strerror(ret));
			return ret;
		}
		dom->vcpus[i].bound = true;
	}
	return 0;
}

int vback_xen_domain_create(struct vback_xen *xen,
			    const struct vback_xen_domain_options *opts,
			    struct vback_xen_domain **out)
{
	struct vback_xen_domain *dom, *it;
	int ret;

	if (!xen || !opts || !out || opts->irq_mode > VBACK_XEN_IRQ_ISA ||
	    opts->domid >= XEN_DOMID_FIRST_RESERVED ||
	    opts->map_cache_mib > XEN_MAPCACHE_MAX_MIB ||
	    opts->grant_max_pages > VBACK_XEN_GRANT_PAGES_MAX)
		return -EINVAL;
	for (it = xen->domains; it; it = it->next)
		if (it->domid == opts->domid)
			return -EEXIST;
	dom = vb_calloc(1, sizeof(*dom));
	if (!dom)
		return -ENOMEM;
	dom->xen = xen;
	dom->domid = opts->domid;
	dom->irq_mode = opts->irq_mode;
	dom->grant_cap = opts->grant_max_pages ? opts->grant_max_pages
					       : VBACK_XEN_GRANT_PAGES_DEFAULT;
	dom->died = opts->died;
	dom->died_opaque = opts->opaque;
	vback_work_init(&dom->work, xen_ioreq_work, dom);
	if (dom->irq_mode == VBACK_XEN_IRQ_AUTO) {
#if defined(__arm__) || defined(__aarch64__)
		dom->irq_mode = VBACK_XEN_IRQ_SPI;
#else
		dom->irq_mode = VBACK_XEN_IRQ_ISA;
#endif
	}
	if (dom->irq_mode == VBACK_XEN_IRQ_ISA &&
	    !xen->pf->ops->set_isa_irq_level) {
		vb_free(dom);
		return -ENOTSUP;
	}
	dom->gm_foreign.ops = &xen_gm_foreign_ops;
	dom->gm_foreign.opaque = dom;
	dom->gm_grant.ops = &xen_gm_grant_ops;
	dom->gm_grant.opaque = dom;
	ret = xen_mapcache_init(dom, opts->map_cache_mib
					     ? opts->map_cache_mib
					     : XEN_MAPCACHE_DEFAULT_MIB);
	if (ret == 0)
		ret = domain_setup(dom, opts->adopt, opts->server);
	if (ret < 0) {
		char hint[400];

		xen_setup_hint(dom, ret, hint, sizeof(hint));
		if (opts->adopt)
			vback_logf(
				xen->log, VBACK_LOG_ERR,
				"xen: dom%u: cannot take over IOREQ server "
				"%u (its ports, its page): %s%s; its devices "
				"are not adopted (still served by another "
				"process? else restart the guest)",
				dom->domid, opts->server, vback_strerror(ret),
				hint);
		else
			vback_logf(xen->log, VBACK_LOG_ERR,
				   "xen: dom%u: cannot start the IOREQ server: "
				   "%s%s",
				   dom->domid, vback_strerror(ret), hint);
		/* Not ours to destroy when it was to be taken over: the
		 * windows it claims are what the guest still uses. */
		if (opts->adopt)
			dom->created = dom->enabled = false;
		domain_teardown(dom);
		xen_mapcache_fini(dom);
		vb_free(dom->vcpus);
		vb_free(dom);
		return ret;
	}
	dom->next = xen->domains;
	xen->domains = dom;
	if (dom->died)
		death_watch_start(xen, dom->domid);
	vback_logf(xen->log, VBACK_LOG_INFO,
		   "xen: dom%u: IOREQ server %u%s, %u vCPUs", dom->domid,
		   dom->id, opts->adopt ? " taken over" : "", dom->nr_vcpus);
	/* An access may have been waiting since the ports were bound. */
	vback_loop_post(xen->loop, &dom->work);
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
	/* Prompt release: a foreign mapping keeps a dead guest a zombie
	 * (what IO still holds stays mapped: see xen_mapcache_fini()). */
	xen_mapcache_fini(dom);
	domain_teardown(dom);
	for (pp = &dom->xen->domains; *pp; pp = &(*pp)->next) {
		if (*pp == dom) {
			*pp = dom->next;
			break;
		}
	}
	vb_free(dom->vcpus);
	vb_free(dom);
}

uint16_t vback_xen_domain_id(const struct vback_xen_domain *dom)
{
	return dom->domid;
}

uint16_t vback_xen_domain_server(const struct vback_xen_domain *dom)
{
	return dom->id;
}

void vback_xen_domain_handover(struct vback_xen_domain *dom)
{
	struct vback_xen_domain **pp;

	if (!dom)
		return;
	while (dom->devices)
		xen_device_handover(dom->devices);
	xen_mapcache_fini(dom);
	/* The server stays, enabled, with its windows: only our ends go. */
	dom->enabled = false;
	dom->created = false;
	domain_teardown(dom);
	vback_logf(dom->xen->log, VBACK_LOG_INFO,
		   "xen: dom%u: IOREQ server %u left for the next process",
		   dom->domid, dom->id);
	for (pp = &dom->xen->domains; *pp; pp = &(*pp)->next) {
		if (*pp == dom) {
			*pp = dom->next;
			break;
		}
	}
	vb_free(dom->vcpus);
	vb_free(dom);
}
