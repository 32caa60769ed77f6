/* SPDX-License-Identifier: MIT */
/*
 * xenstore discovery: the two layouts libxl writes, and the xenbus state
 * protocol around them.
 *
 *  Xen 4.17+: <be>/backend/virtio_disk/<domid>/<devid>/ params, mode,
 *             base (decimal), irq, type, specification, transport,
 *             discard-enable, grant_usage (4.19+)
 *  Xen 4.18+: <be>/backend/virtio/<domid>/<devid>/ type, transport,
 *             base (hexadecimal), irq, grant_usage
 *
 * When backend and frontend state are 1 we set the device up and write
 * backend state 2 (InitWait): libxl waits up to 10 s for exactly 2 before
 * it unpauses the guest, so nothing else is written then. online=0 or
 * state 5 (Closing) releases the device and answers 6 (Closed); node
 * removal and @releaseDomain release it silently.
 *
 * With the state() op each device keeps persistent state, and one found
 * in state 2 or 4 that we do not serve - a process that died or handed
 * over did - is adopted from it: its domain's IOREQ server (named in the
 * state) is taken over and the device restored. No state, or one that
 * does not fit: the device is left alone, with one line.
 *
 * Everything goes through the platform's xenstore (struct
 * vback_xen_store_ops) into fixed buffers: no OS call, no allocation but
 * one per device, so discovery runs in an RTOS backend domain too.
 */
#include <string.h>

#include "xen_priv.h"

#define XENBUS_INITIALISING 1
#define XENBUS_INITWAIT	    2
#define XENBUS_CONNECTED    4
#define XENBUS_CLOSING	    5
#define XENBUS_CLOSED	    6

#define NR_LAYOUTS 2
/* Longest node path and value we handle; longer ones are refused. */
#define XS_PATH	 256
#define XS_VALUE 1024
/* A directory listing: names of domains or devices. */
#define XS_DIR 4096

static const char *const layout_dir[NR_LAYOUTS] = { "virtio_disk", "virtio" };

struct xen_bdom {
	struct xen_bdom *next;
	struct vback_xen_domain *dom;
	unsigned int users;
	bool adopted; /* its server was taken over */
	bool served;  /* a device was served on it */
};

/* ADDING: add() said VBACK_XEN_ADD_PENDING; vback_xen_backend_add_done()
 * goes on from there. */
enum bdev_state { BDEV_SERVING, BDEV_REFUSED, BDEV_ADDING };

struct xen_bdev {
	struct xen_bdev *next;
	enum bdev_state st;
	struct vback_xen_device_config cfg;
	char bpath[XS_PATH], fpath[XS_PATH], type[64], params[XS_VALUE];
	char identity[XS_PATH]; /* the guest's xenstore vm path */
	struct vback_dev *dev;
	struct vback_xen_device *xdev;
	struct xen_bdom *bdom;
	void *state; /* from the state() op, or NULL */
	size_t state_len;
	uint64_t found_state; /* a device to adopt: the state it was in */
};

struct vback_xen_backend {
	struct vback_xen *xen;
	const struct vback_xen_store_ops *st;
	void *pf; /* the platform's opaque */
	struct vback_xen_backend_options opts;
	unsigned int watched; /* layouts watched; NR_LAYOUTS + 1: all */
	char root[NR_LAYOUTS][64];
	struct xen_bdev *devs;
	struct xen_bdom *doms;
	char dir[XS_DIR], dir2[XS_DIR]; /* listings (not re-entrant) */
};

/* @dir/@name's value into @buf: its length, -ENOENT, -ERANGE, -errno. */
static int be_read(struct vback_xen_backend *be, uint32_t tx, const char *dir,
		   const char *name, char *buf, size_t size)
{
	char path[XS_PATH];

	if ((size_t)vb_snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	return be->st->read(be->pf, tx, path, buf, size);
}

static int be_read_u64(struct vback_xen_backend *be, uint32_t tx,
		       const char *dir, const char *name, uint64_t max,
		       uint64_t *out)
{
	char s[64];
	int ret = be_read(be, tx, dir, name, s, sizeof(s));

	if (ret < 0)
		return ret == -ERANGE ? -EINVAL : ret;
	return xen_parse_u64(s, max, out);
}

static int be_write(struct vback_xen_backend *be, uint32_t tx, const char *dir,
		    const char *name, const char *val)
{
	char path[XS_PATH];

	if ((size_t)vb_snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	return be->st->write(be->pf, tx, path, val);
}

static struct xen_bdev *bdev_find(struct vback_xen_backend *be,
				  enum vback_xen_layout layout,
				  unsigned int domid, unsigned int devid)
{
	struct xen_bdev *b;

	for (b = be->devs; b; b = b->next)
		if (b->cfg.layout == layout && b->cfg.domid == domid &&
		    b->cfg.devid == devid)
			return b;
	return NULL;
}

static void bdev_free(struct vback_xen_backend *be, struct xen_bdev *b)
{
	struct xen_bdev **pp;

	for (pp = &be->devs; *pp; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	}
	vb_free(b);
}

/* The domain's entry, created (or its server taken over, with @adopt)
 * on first use. */
static struct xen_bdom *bdom_get(struct vback_xen_backend *be,
				 unsigned int domid, bool adopt,
				 uint16_t server, int *err)
{
	struct vback_xen_domain_options o = { 0 };
	struct xen_bdom *bd;

	for (bd = be->doms; bd; bd = bd->next) {
		if (bd->dom->domid == domid) {
			/* One server per domain: the state must name it. */
			if (adopt &&
			    (!bd->adopted ||
			     vback_xen_domain_server(bd->dom) != server)) {
				*err = -ESTALE;
				return NULL;
			}
			bd->users++;
			return bd;
		}
	}
	bd = vb_calloc(1, sizeof(*bd));
	if (!bd) {
		*err = -ENOMEM;
		return NULL;
	}
	o.domid = (uint16_t)domid;
	o.irq_mode = be->opts.irq_mode;
	o.map_cache_mib = be->opts.map_cache_mib;
	o.grant_max_pages = be->opts.grant_max_pages;
	o.adopt = adopt;
	o.server = server;
	*err = vback_xen_domain_create(be->xen, &o, &bd->dom);
	if (*err < 0) {
		vb_free(bd);
		return NULL;
	}
	bd->users = 1;
	bd->adopted = adopt;
	bd->next = be->doms;
	be->doms = bd;
	return bd;
}

static void bdom_put(struct vback_xen_backend *be, struct xen_bdom *bd)
{
	struct xen_bdom **pp;

	if (--bd->users)
		return;
	for (pp = &be->doms; *pp; pp = &(*pp)->next) {
		if (*pp == bd) {
			*pp = bd->next;
			break;
		}
	}
	/* A server taken over for devices that could not be adopted stays
	 * the guest's: its windows are what the guest uses. */
	if (bd->adopted && !bd->served)
		vback_xen_domain_handover(bd->dom);
	else
		vback_xen_domain_destroy(bd->dom);
	vb_free(bd);
}

/* Let go of the device's persistent state (@forget: for good). */
static void bdev_state_release(struct vback_xen_backend *be, struct xen_bdev *b,
			       bool forget)
{
	if (b->state && be->opts.ops->state_release)
		be->opts.ops->state_release(be->opts.opaque, &b->cfg, b->state,
					    b->state_len, forget);
	b->state = NULL;
}

/* Stop serving @b; @closed: answer the toolstack with state 6. */
static void bdev_release(struct vback_xen_backend *be, struct xen_bdev *b,
			 bool closed)
{
	if (b->st == BDEV_ADDING) {
		/* The user is still opening it: called off. */
		vback_logf(be->xen->log, VBACK_LOG_INFO,
			   "xen: %s: released while being opened", b->bpath);
		be->opts.ops->remove(be->opts.opaque, &b->cfg, NULL);
		if (closed)
			be_write(be, 0, b->bpath, "state", "6");
	} else if (b->st == BDEV_SERVING) {
		vback_logf(be->xen->log, VBACK_LOG_INFO, "xen: %s: released",
			   b->bpath);
		vback_xen_device_remove(b->xdev);
		/* Detached: nothing uses its state any more. */
		bdev_state_release(be, b, true);
		be->opts.ops->remove(be->opts.opaque, &b->cfg, b->dev);
		bdom_put(be, b->bdom);
		if (closed)
			be_write(be, 0, b->bpath, "state", "6");
	}
	bdev_free(be, b);
}

static int parse_bool(struct vback_xen_backend *be, const char *dir,
		      const char *name, bool dflt, bool *out)
{
	uint64_t v;
	int ret = be_read_u64(be, 0, dir, name, 1, &v);

	if (ret == -ENOENT) {
		*out = dflt;
		return 0;
	}
	if (ret == 0)
		*out = v != 0;
	return ret;
}

/* An optional string node: "" when absent, -errno when unreadable. */
static int read_opt(struct vback_xen_backend *be, const char *dir,
		    const char *name, char *buf, size_t size)
{
	int ret = be_read(be, 0, dir, name, buf, size);

	if (ret == -ENOENT) {
		buf[0] = '\0';
		return 0;
	}
	return ret < 0 ? ret : 0;
}

/* Fill b->cfg from the backend directory; -EINVAL with a log on garbage. */
static int bdev_parse(struct vback_xen_backend *be, struct xen_bdev *b)
{
	struct vback_xen_device_config *c = &b->cfg;
	const char *what = NULL;
	char s[64];
	uint64_t v;
	int ret;

	ret = read_opt(be, b->bpath, "frontend", b->fpath, sizeof(b->fpath));
	if (ret < 0) {
		what = "frontend";
		goto bad;
	}
	ret = read_opt(be, b->bpath, "type", b->type, sizeof(b->type));
	if (ret < 0) {
		what = "type";
		goto bad;
	}
	ret = read_opt(be, b->bpath, "params", b->params, sizeof(b->params));
	if (ret < 0) {
		what = "params";
		goto bad;
	}
	c->backend_path = b->bpath;
	c->frontend_path = b->fpath;
	c->type = b->type;
	c->params = b->params;

	ret = be_read_u64(be, 0, b->bpath, "base", UINT64_MAX, &v);
	if (ret < 0) {
		what = "base";
		goto bad;
	}
	c->base = v;
	ret = be_read_u64(be, 0, b->bpath, "irq", UINT32_MAX, &v);
	if (ret < 0) {
		what = "irq";
		goto bad;
	}
	c->irq = (uint32_t)v;

	ret = be_read(be, 0, b->bpath, "transport", s, sizeof(s));
	if ((ret >= 0 || c->layout == VBACK_XEN_LAYOUT_VIRTIO) &&
	    (ret < 0 || vb_strcmp(s, "mmio"))) {
		what = "transport";
		ret = -EINVAL;
		goto bad;
	}
	ret = be_read(be, 0, b->bpath, "specification", s, sizeof(s));
	if (ret >= 0 && vb_strcmp(s, "virtio")) {
		what = "specification";
		ret = -EINVAL;
		goto bad;
	}
	ret = be_read(be, 0, b->bpath, "mode", s, sizeof(s));
	if (ret == -ENOENT) {
		c->read_only = false;
		if (c->layout == VBACK_XEN_LAYOUT_VIRTIO_DISK) {
			what = "mode";
			goto bad;
		}
	} else if (ret >= 0 && (!vb_strcmp(s, "r") || !vb_strcmp(s, "ro"))) {
		c->read_only = true;
	} else if (ret >= 0 && (!vb_strcmp(s, "w") || !vb_strcmp(s, "rw"))) {
		c->read_only = false;
	} else {
		what = "mode";
		ret = ret < 0 ? ret : -EINVAL;
		goto bad;
	}
	if (c->layout == VBACK_XEN_LAYOUT_VIRTIO_DISK && !*b->params) {
		what = "params";
		ret = -ENOENT;
		goto bad;
	}
	ret = parse_bool(be, b->bpath, "discard-enable", false,
			 &c->discard_enable);
	if (ret < 0) {
		what = "discard-enable";
		goto bad;
	}
	/* libxl's default: grants whenever the backend is not Dom0. */
	ret = parse_bool(be, b->bpath, "grant_usage",
			 be->opts.backend_domid != 0, &c->grant_usage);
	if (ret < 0) {
		what = "grant_usage";
		goto bad;
	}
	return 0;
bad:
	vback_logf(be->xen->log, VBACK_LOG_ERR,
		   "xen: %s: bad or missing '%s' (%s): device refused",
		   b->bpath, what, vback_strerror(ret));
	return ret;
}

/* Write InitWait if the node is still Initialising: atomically when the
 * store has transactions. */
static int set_initwait(struct vback_xen_backend *be, struct xen_bdev *b)
{
	unsigned int tries;
	uint64_t st;
	int ret;

	if (!be->st->tx_start) {
		ret = be_read_u64(be, 0, b->bpath, "state", 255, &st);
		if (ret < 0 || st != XENBUS_INITIALISING)
			return -ESTALE;
		return be_write(be, 0, b->bpath, "state", "2");
	}
	for (tries = 0; tries < 16; tries++) {
		uint32_t tx = 0;

		ret = be->st->tx_start(be->pf, &tx);
		if (ret < 0)
			return ret;
		if (be_read_u64(be, tx, b->bpath, "state", 255, &st) < 0 ||
		    st != XENBUS_INITIALISING) {
			be->st->tx_end(be->pf, tx, true);
			return -ESTALE;
		}
		ret = be_write(be, tx, b->bpath, "state", "2");
		if (ret < 0) {
			be->st->tx_end(be->pf, tx, true);
			return ret;
		}
		ret = be->st->tx_end(be->pf, tx, false);
		if (ret != -EAGAIN)
			return ret;
	}
	return -EAGAIN;
}

/* The guest's identity (its vm path; "" when unreadable), kept with the
 * state so that a domain id given to another guest is never taken for
 * the one that was served. */
static void bdev_identity(struct vback_xen_backend *be, struct xen_bdev *b)
{
	char path[XS_PATH];

	vb_snprintf(path, sizeof(path), "/local/domain/%u/vm", b->cfg.domid);
	if (be->st->read(be->pf, 0, path, b->identity, sizeof(b->identity)) < 0)
		b->identity[0] = '\0';
}

/* What vback_xen_device_add() gets for @b, new or adopted; @name (40
 * bytes) receives the device's log name. */
static void bdev_device_options(const struct xen_bdev *b,
				enum vback_xen_layout layout,
				unsigned int domid, unsigned int devid,
				char name[40],
				struct vback_xen_device_options *o)
{
	vb_snprintf(name, 40, "dom%u/%s%u", domid,
		    layout == VBACK_XEN_LAYOUT_VIRTIO_DISK ? "vd" : "virtio",
		    devid);
	o->dev = b->dev;
	o->base = b->cfg.base;
	o->irq = b->cfg.irq;
	o->grants = b->cfg.grant_usage;
	o->name = name;
	o->state = b->state;
	o->state_len = b->state_len;
	o->identity = b->identity;
}

/* The state() op for @b's device: 1 (saved state), 0 (new), -errno
 * with the reason in *@why (for the caller's one line). */
static int bdev_state(struct vback_xen_backend *be, struct xen_bdev *b,
		      const char **why)
{
	void *mem = NULL;
	size_t len;
	int ret;

	*why = NULL;
	if (!be->opts.ops->state)
		return -ENOTSUP;
	len = vback_xen_device_state_size(vback_dev_num_queues(b->dev),
					  vback_dev_queue_max_size(b->dev, 0));
	if (!len) {
		*why = "too many queues to keep their state";
		return -EINVAL;
	}
	ret = be->opts.ops->state(be->opts.opaque, &b->cfg, len, &mem, why);
	if (ret >= 0 && !mem)
		ret = -EINVAL;
	if (ret < 0) {
		if (!*why)
			*why = ret == -ENOENT ? "no saved state"
					      : vback_strerror(ret);
		return ret;
	}
	b->state = mem;
	b->state_len = len;
	return ret;
}

static void bdev_start_added(struct vback_xen_backend *be, struct xen_bdev *b,
			     int ret);
static void bdev_adopt_added(struct vback_xen_backend *be, struct xen_bdev *b,
			     int ret);

/* add() answered @ret: go on as bdev_start() or bdev_adopt(). */
static void bdev_added(struct vback_xen_backend *be, struct xen_bdev *b,
		       int ret)
{
	if (b->cfg.adopt)
		bdev_adopt_added(be, b, ret);
	else
		bdev_start_added(be, b, ret);
}

/* Ask the user for @b's device; it may answer later (add_done()). */
static void bdev_add(struct vback_xen_backend *be, struct xen_bdev *b)
{
	int ret = be->opts.ops->add(be->opts.opaque, &b->cfg, &b->dev);

	if (ret == VBACK_XEN_ADD_PENDING) {
		b->st = BDEV_ADDING;
		return;
	}
	bdev_added(be, b, ret);
}

static void bdev_start(struct vback_xen_backend *be,
		       enum vback_xen_layout layout, unsigned int domid,
		       unsigned int devid, const char *bpath)
{
	struct xen_bdev *b;
	uint64_t fstate;
	int ret;

	b = vb_calloc(1, sizeof(*b));
	if (!b)
		return;
	vb_strlcpy(b->bpath, bpath, sizeof(b->bpath));
	b->cfg.layout = layout;
	b->cfg.domid = (uint16_t)domid;
	b->cfg.devid = devid;
	b->st = BDEV_REFUSED;
	b->next = be->devs;
	be->devs = b;

	ret = bdev_parse(be, b);
	if (ret < 0)
		return;
	/* The frontend must be Initialising too (when libxl wrote one). */
	if (*b->fpath &&
	    (be_read_u64(be, 0, b->fpath, "state", 255, &fstate) < 0 ||
	     fstate != XENBUS_INITIALISING)) {
		bdev_free(be, b);
		return;
	}
	bdev_add(be, b);
}

/* bdev_start(), once add() has answered @ret. */
static void bdev_start_added(struct vback_xen_backend *be, struct xen_bdev *b,
			     int ret)
{
	struct vback_xen_device_options o = { 0 };
	const char *bpath = b->bpath;
	unsigned int domid = b->cfg.domid;
	const char *why;
	char name[40];

	b->st = BDEV_REFUSED;
	if (ret < 0 || !b->dev) {
		vback_logf(be->xen->log, VBACK_LOG_WARN,
			   "xen: %s: refused by the backend: %s", bpath,
			   vback_strerror(ret < 0 ? ret : -EINVAL));
		b->dev = NULL;
		return;
	}
	bdev_identity(be, b);
	ret = bdev_state(be, b, &why);
	if (ret < 0 && ret != -ENOTSUP)
		vback_logf(be->xen->log, VBACK_LOG_WARN,
			   "xen: %s: no persistent state (%s): a restart "
			   "cannot take this device over",
			   bpath, why);
	b->bdom = bdom_get(be, domid, false, 0, &ret);
	if (!b->bdom)
		goto fail_dev;
	/* A new device: whatever the memory held is not adopted. */
	bdev_device_options(b, b->cfg.layout, domid, b->cfg.devid, name, &o);
	ret = vback_xen_device_add(b->bdom->dom, &o, &b->xdev);
	if (ret < 0)
		goto fail_dom;
	ret = set_initwait(be, b);
	if (ret < 0) {
		vback_logf(be->xen->log, VBACK_LOG_WARN,
			   "xen: %s: cannot write InitWait: %s", bpath,
			   vback_strerror(ret));
		vback_xen_device_remove(b->xdev);
		goto fail_dom;
	}
	b->st = BDEV_SERVING;
	b->bdom->served = true;
	vback_logf(be->xen->log, VBACK_LOG_INFO,
		   "xen: %s: serving at %#llx irq %u%s", bpath,
		   (unsigned long long)b->cfg.base, (unsigned int)b->cfg.irq,
		   b->cfg.grant_usage ? " (grants)" : "");
	return;
fail_dom:
	bdom_put(be, b->bdom);
fail_dev:
	vback_logf(be->xen->log, VBACK_LOG_ERR, "xen: %s: cannot serve: %s",
		   bpath, vback_strerror(ret));
	bdev_state_release(be, b, true);
	be->opts.ops->remove(be->opts.opaque, &b->cfg, b->dev);
	b->dev = NULL;
}

/*
 * A device in state 2 or 4 we do not serve: a process that died, or
 * handed over, served it. Adopt it from its saved state, or leave it
 * alone (refused: not tried again until its node goes) with one line.
 */
static void bdev_adopt(struct vback_xen_backend *be,
		       enum vback_xen_layout layout, unsigned int domid,
		       unsigned int devid, const char *bpath, uint64_t state)
{
	struct xen_bdev *b;

	b = vb_calloc(1, sizeof(*b));
	if (!b)
		return;
	vb_strlcpy(b->bpath, bpath, sizeof(b->bpath));
	b->cfg.layout = layout;
	b->cfg.domid = (uint16_t)domid;
	b->cfg.devid = devid;
	b->cfg.adopt = true;
	b->found_state = state;
	b->st = BDEV_REFUSED;
	b->next = be->devs;
	be->devs = b;
	if (bdev_parse(be, b) < 0)
		return;
	bdev_add(be, b);
}

/* bdev_adopt(), once add() has answered @ret. */
static void bdev_adopt_added(struct vback_xen_backend *be, struct xen_bdev *b,
			     int ret)
{
	struct vback_xen_device_options o = { 0 };
	const char *bpath = b->bpath;
	unsigned int domid = b->cfg.domid;
	unsigned int state = (unsigned int)b->found_state;
	struct xen_state tmp;
	const char *why = NULL;
	char name[40];

	b->st = BDEV_REFUSED;
	if (ret < 0 || !b->dev) {
		vback_logf(be->xen->log, VBACK_LOG_WARN,
			   "xen: %s: refused by the backend: %s", bpath,
			   vback_strerror(ret < 0 ? ret : -EINVAL));
		b->dev = NULL;
		return;
	}
	bdev_identity(be, b);
	ret = bdev_state(be, b, &why);
	if (ret != 1) {
		if (ret == 0)
			why = "no saved state";
		goto refuse;
	}
	if (xen_state_open(&tmp, b->state, b->state_len, b->dev) < 0) {
		why = "state of the wrong size";
		goto refuse;
	}
	b->bdom = bdom_get(be, domid, true, xen_state_server(&tmp), &ret);
	if (!b->bdom) {
		/* The domain's take-over logs its own failure, with a hint;
		 * only what it did not see is said here. */
		if (ret != -ESTALE && ret != -ENOMEM)
			goto quiet;
		why = ret == -ESTALE ? "saved for another IOREQ server than "
				       "its domain's other devices"
				     : vback_strerror(ret);
		goto refuse;
	}
	bdev_device_options(b, b->cfg.layout, domid, b->cfg.devid, name, &o);
	o.adopt = true;
	ret = vback_xen_device_add(b->bdom->dom, &o, &b->xdev);
	if (ret < 0) {
		bdom_put(be, b->bdom);
		/* -ESTALE: refused, and said why, by the device. */
		if (ret == -ESTALE)
			goto quiet;
		why = vback_strerror(ret);
		goto refuse;
	}
	b->st = BDEV_SERVING;
	b->bdom->served = true;
	vback_logf(be->xen->log, VBACK_LOG_INFO,
		   "xen: %s: adopted at %#llx irq %u (state %u, IOREQ server "
		   "%u)",
		   bpath, (unsigned long long)b->cfg.base,
		   (unsigned int)b->cfg.irq, state,
		   vback_xen_domain_server(b->bdom->dom));
	return;
refuse:
	/* One line; its saved state is kept (for a look at it), and
	 * nothing is written to the guest or to xenstore. */
	vback_logf(be->xen->log, VBACK_LOG_ERR,
		   "xen: %s: in state %u but not adopted: %s; restart its "
		   "guest to serve it",
		   bpath, state, why);
quiet:
	bdev_state_release(be, b, false);
	be->opts.ops->remove(be->opts.opaque, &b->cfg, b->dev);
	b->dev = NULL;
}

static void bdev_evaluate(struct vback_xen_backend *be,
			  enum vback_xen_layout layout, unsigned int domid,
			  unsigned int devid)
{
	struct xen_bdev *b = bdev_find(be, layout, domid, devid);
	char bpath[XS_PATH], online[8];
	uint64_t state;
	bool offline;

	vb_snprintf(bpath, sizeof(bpath), "%s/%u/%u", be->root[layout], domid,
		    devid);
	if (be_read_u64(be, 0, bpath, "state", 255, &state) < 0) {
		/* Node removed (or state unreadable): gone. */
		if (b)
			bdev_release(be, b, false);
		return;
	}
	offline =
		be_read(be, 0, bpath, "online", online, sizeof(online)) >= 0 &&
		!vb_strcmp(online, "0");
	if (b) {
		if (b->st == BDEV_ADDING) {
			/* Still being opened: only a close calls it off. */
			if (state == XENBUS_CLOSING || offline)
				bdev_release(be, b, true);
			return;
		}
		if (b->st != BDEV_SERVING) {
			/* Refused: still answer a Closing toolstack. */
			if (state == XENBUS_CLOSING)
				be_write(be, 0, bpath, "state", "6");
			return;
		}
		if (state == XENBUS_CLOSING || offline)
			bdev_release(be, b, true);
		return;
	}
	/* Not while the toolstack has already taken it offline. */
	if (state == XENBUS_INITIALISING && !offline)
		bdev_start(be, layout, domid, devid, bpath);
	else if ((state == XENBUS_INITWAIT || state == XENBUS_CONNECTED) &&
		 !offline && be->opts.ops->state)
		bdev_adopt(be, layout, domid, devid, bpath, state);
}

/* Ids in paths are plain decimal: digits only, no leading zero. */
static int parse_id(const char *s, size_t n, unsigned int max,
		    unsigned int *out)
{
	char buf[16];
	uint64_t v;
	size_t i;

	if (n == 0 || n >= sizeof(buf) || (s[0] == '0' && n > 1))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (xen_parse_u64(buf, max, &v) < 0)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

/* Evaluate every device under root[/domid] (listed, and known ones). */
static void scan(struct vback_xen_backend *be, enum vback_xen_layout layout,
		 long only_domid)
{
	char path[XS_PATH];
	unsigned int domid, devid;
	struct xen_bdev *b, *next;
	int nd, nv;
	const char *d, *v;

	for (b = be->devs; b; b = next) {
		next = b->next;
		if (b->cfg.layout == layout &&
		    (only_domid < 0 || b->cfg.domid == only_domid)) {
			bdev_evaluate(be, layout, b->cfg.domid, b->cfg.devid);
		}
	}
	nd = be->st->directory(be->pf, 0, be->root[layout], be->dir,
			       sizeof(be->dir));
	for (d = be->dir; nd > 0; nd--, d += vb_strlen(d) + 1) {
		if (parse_id(d, vb_strlen(d), XEN_DOMID_FIRST_RESERVED - 1,
			     &domid) < 0 ||
		    (only_domid >= 0 && (long)domid != only_domid))
			continue;
		vb_snprintf(path, sizeof(path), "%s/%u", be->root[layout],
			    domid);
		nv = be->st->directory(be->pf, 0, path, be->dir2,
				       sizeof(be->dir2));
		for (v = be->dir2; nv > 0; nv--, v += vb_strlen(v) + 1)
			if (parse_id(v, vb_strlen(v), UINT32_MAX, &devid) == 0)
				bdev_evaluate(be, layout, domid, devid);
	}
}

static void on_path(struct vback_xen_backend *be, enum vback_xen_layout layout,
		    const char *path)
{
	size_t n = vb_strlen(be->root[layout]);
	unsigned int domid, devid;
	const char *rest, *end;

	if (vb_strncmp(path, be->root[layout], n) ||
	    (path[n] != '\0' && path[n] != '/'))
		return;
	rest = path + n;
	if (*rest == '\0') {
		scan(be, layout, -1);
		return;
	}
	rest++;
	end = vb_strchrnul(rest, '/');
	if (parse_id(rest, (size_t)(end - rest), XEN_DOMID_FIRST_RESERVED - 1,
		     &domid) < 0)
		return;
	if (*end == '\0') {
		scan(be, layout, domid);
		return;
	}
	rest = end + 1;
	end = vb_strchrnul(rest, '/');
	if (parse_id(rest, (size_t)(end - rest), UINT32_MAX, &devid) < 0)
		return;
	bdev_evaluate(be, layout, domid, devid);
}

/* @releaseDomain: some domain died; release what served it. */
static void on_release(void *opaque, const char *path)
{
	struct vback_xen_backend *be = opaque;
	struct xen_bdev *b, *next;

	(void)path;
	if (!be->st->domain_exists)
		return;
	for (b = be->devs; b; b = next) {
		next = b->next;
		/* Only a clear "gone": an error (EACCES) is not a death. */
		if (be->st->domain_exists(be->pf, b->cfg.domid) == 0) {
			vback_logf(be->xen->log, VBACK_LOG_INFO,
				   "xen: dom%u is gone", b->cfg.domid);
			bdev_release(be, b, false);
			next = be->devs; /* the list changed: restart */
		}
	}
}

static void on_virtio_disk(void *opaque, const char *path)
{
	on_path(opaque, VBACK_XEN_LAYOUT_VIRTIO_DISK, path);
}

static void on_virtio(void *opaque, const char *path)
{
	on_path(opaque, VBACK_XEN_LAYOUT_VIRTIO, path);
}

static const vback_xen_watch_fn layout_fn[NR_LAYOUTS] = { on_virtio_disk,
							  on_virtio };

static void unwatch_all(struct vback_xen_backend *be)
{
	unsigned int l;

	for (l = 0; l < be->watched && l < NR_LAYOUTS; l++)
		be->st->unwatch(be->pf, be->root[l], layout_fn[l], be);
	if (be->watched > NR_LAYOUTS)
		be->st->unwatch(be->pf, "@releaseDomain", on_release, be);
	be->watched = 0;
}

int vback_xen_backend_start(struct vback_xen *xen,
			    const struct vback_xen_backend_options *opts,
			    struct vback_xen_backend **out)
{
	const struct vback_xen_store_ops *st;
	struct vback_xen_backend *be;
	unsigned int l;
	int ret;

	if (!xen || !opts || !opts->ops || !opts->ops->add ||
	    !opts->ops->remove || !out)
		return -EINVAL;
	st = xen->pf->store;
	if (!st || !st->read || !st->write || !st->directory || !st->watch ||
	    !st->unwatch) {
		vback_logf(xen->log, VBACK_LOG_ERR, "%s",
			   "xen: the platform has no xenstore: no discovery");
		return -ENOTSUP;
	}
	be = vb_calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->xen = xen;
	be->st = st;
	be->pf = xen->pf->opaque;
	be->opts = *opts;
	for (l = 0; l < NR_LAYOUTS; l++) {
		vb_snprintf(be->root[l], sizeof(be->root[l]),
			    "/local/domain/%u/backend/%s", opts->backend_domid,
			    layout_dir[l]);
		/* A new watch fires once soon: that is the initial scan. */
		ret = st->watch(be->pf, be->root[l], layout_fn[l], be);
		if (ret < 0)
			goto fail;
		be->watched = l + 1;
	}
	ret = st->watch(be->pf, "@releaseDomain", on_release, be);
	if (ret < 0)
		goto fail;
	be->watched = NR_LAYOUTS + 1;
	*out = be;
	return 0;
fail:
	vback_logf(xen->log, VBACK_LOG_ERR, "xen: xenstore: %s",
		   vback_strerror(ret));
	unwatch_all(be);
	vb_free(be);
	return ret;
}

void vback_xen_backend_add_done(struct vback_xen_backend *be,
				const struct vback_xen_device_config *cfg,
				int result, struct vback_dev *dev)
{
	struct xen_bdev *b;

	if (!be || !cfg)
		return;
	for (b = be->devs; b; b = b->next)
		if (&b->cfg == cfg && b->st == BDEV_ADDING)
			break;
	if (!b) {
		vback_logf(be->xen->log, VBACK_LOG_ERR,
			   "xen: dom%u/%u: an add finished that was not "
			   "pending",
			   (unsigned int)cfg->domid, (unsigned int)cfg->devid);
		return;
	}
	b->dev = result < 0 ? NULL : dev;
	bdev_added(be, b, result);
}

void vback_xen_backend_stop(struct vback_xen_backend *be)
{
	if (!be)
		return;
	unwatch_all(be);
	while (be->devs)
		bdev_release(be, be->devs, false);
	vb_free(be);
}

void vback_xen_backend_handover(struct vback_xen_backend *be)
{
	if (!be)
		return;
	unwatch_all(be);
	/* Our ends of every domain go; servers and windows stay. */
	while (be->doms) {
		struct xen_bdom *bd = be->doms;

		be->doms = bd->next;
		vback_xen_domain_handover(bd->dom);
		vb_free(bd);
	}
	while (be->devs) {
		struct xen_bdev *b = be->devs;

		if (b->st == BDEV_SERVING) {
			bdev_state_release(be, b, false);
			be->opts.ops->remove(be->opts.opaque, &b->cfg, b->dev);
		} else if (b->st == BDEV_ADDING) {
			/* Left as found: the next process adds it again. */
			be->opts.ops->remove(be->opts.opaque, &b->cfg, NULL);
		}
		bdev_free(be, b);
	}
	vb_free(be);
}
