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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xen_priv.h"

#define XENBUS_INITIALISING 1
#define XENBUS_INITWAIT	    2
#define XENBUS_CLOSING	    5
#define XENBUS_CLOSED	    6

#define NR_LAYOUTS    2
#define TOKEN_RELEASE "vback-release"

static const char *const layout_dir[NR_LAYOUTS] = { "virtio_disk", "virtio" };
static const char *const layout_token[NR_LAYOUTS] = { "vback-virtio_disk",
						      "vback-virtio" };

struct xen_bdom {
	struct xen_bdom *next;
	struct vback_xen_domain *dom;
	unsigned int users;
};

enum bdev_state { BDEV_SERVING, BDEV_REFUSED };

struct xen_bdev {
	struct xen_bdev *next;
	enum bdev_state st;
	struct vback_xen_device_config cfg;
	char *bpath, *fpath, *type, *params;
	struct vback_dev *dev;
	struct vback_xen_device *xdev;
	struct xen_bdom *bdom;
};

struct vback_xen_backend {
	struct vback_xen *xen;
	struct vback_xen_backend_options opts;
	void *xs;
	int fd;
	bool watched;
	char root[NR_LAYOUTS][64];
	struct xen_bdev *devs;
	struct xen_bdom *doms;
};

static const struct xen_sys_ops *sys_of(struct vback_xen_backend *be)
{
	return be->xen->sys;
}

/* A node's value as a C string (malloc'd), or NULL if absent. */
static char *be_read(struct vback_xen_backend *be, xs_transaction_t t,
		     const char *dir, const char *name)
{
	char path[256];
	unsigned int len;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return NULL;
	return sys_of(be)->xs_read(be->xs, t, path, &len);
}

static int be_read_u64(struct vback_xen_backend *be, xs_transaction_t t,
		       const char *dir, const char *name, uint64_t max,
		       uint64_t *out)
{
	char *s = be_read(be, t, dir, name);
	int ret;

	if (!s)
		return -ENOENT;
	ret = vback_xen_parse_u64(s, max, out);
	free(s);
	return ret;
}

static bool be_write(struct vback_xen_backend *be, xs_transaction_t t,
		     const char *dir, const char *name, const char *val)
{
	char path[256];

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return false;
	return sys_of(be)->xs_write(be->xs, t, path, val,
				    (unsigned int)strlen(val));
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
	free(b->bpath);
	free(b->fpath);
	free(b->type);
	free(b->params);
	free(b);
}

static struct xen_bdom *bdom_get(struct vback_xen_backend *be,
				 unsigned int domid, int *err)
{
	struct vback_xen_domain_options o = { 0 };
	struct xen_bdom *bd;

	for (bd = be->doms; bd; bd = bd->next) {
		if (bd->dom->domid == domid) {
			bd->users++;
			return bd;
		}
	}
	bd = calloc(1, sizeof(*bd));
	if (!bd) {
		*err = -ENOMEM;
		return NULL;
	}
	o.domid = (uint16_t)domid;
	o.irq_mode = be->opts.irq_mode;
	o.map_cache_mib = be->opts.map_cache_mib;
	*err = vback_xen_domain_create(be->xen, &o, &bd->dom);
	if (*err < 0) {
		free(bd);
		return NULL;
	}
	bd->users = 1;
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
	vback_xen_domain_destroy(bd->dom);
	free(bd);
}

/* Stop serving @b; @closed: answer the toolstack with state 6. */
static void bdev_release(struct vback_xen_backend *be, struct xen_bdev *b,
			 bool closed)
{
	if (b->st == BDEV_SERVING) {
		vback_logf(be->xen->log, VBACK_LOG_INFO, "xen: %s: released",
			   b->bpath);
		vback_xen_device_remove(b->xdev);
		be->opts.ops->remove(be->opts.opaque, &b->cfg, b->dev);
		bdom_put(be, b->bdom);
		if (closed)
			be_write(be, XBT_NULL, b->bpath, "state", "6");
	}
	bdev_free(be, b);
}

static int parse_bool(struct vback_xen_backend *be, const char *dir,
		      const char *name, bool dflt, bool *out)
{
	uint64_t v;
	int ret = be_read_u64(be, XBT_NULL, dir, name, 1, &v);

	if (ret == -ENOENT) {
		*out = dflt;
		return 0;
	}
	if (ret == 0)
		*out = v != 0;
	return ret;
}

/* Fill b->cfg from the backend directory; -EINVAL with a log on garbage. */
static int bdev_parse(struct vback_xen_backend *be, struct xen_bdev *b)
{
	struct vback_xen_device_config *c = &b->cfg;
	const char *what = NULL;
	char *s = NULL;
	uint64_t v;
	int ret;

	b->fpath = be_read(be, XBT_NULL, b->bpath, "frontend");
	b->type = be_read(be, XBT_NULL, b->bpath, "type");
	b->params = be_read(be, XBT_NULL, b->bpath, "params");
	if ((!b->fpath && !(b->fpath = strdup(""))) ||
	    (!b->type && !(b->type = strdup(""))) ||
	    (!b->params && !(b->params = strdup(""))))
		return -ENOMEM;
	c->backend_path = b->bpath;
	c->frontend_path = b->fpath;
	c->type = b->type;
	c->params = b->params;

	ret = be_read_u64(be, XBT_NULL, b->bpath, "base", UINT64_MAX, &v);
	if (ret < 0) {
		what = "base";
		goto bad;
	}
	c->base = v;
	ret = be_read_u64(be, XBT_NULL, b->bpath, "irq", UINT32_MAX, &v);
	if (ret < 0) {
		what = "irq";
		goto bad;
	}
	c->irq = (uint32_t)v;

	s = be_read(be, XBT_NULL, b->bpath, "transport");
	if ((s || c->layout == VBACK_XEN_LAYOUT_VIRTIO) &&
	    (!s || strcmp(s, "mmio"))) {
		what = "transport";
		ret = -EINVAL;
		goto bad;
	}
	free(s);
	s = be_read(be, XBT_NULL, b->bpath, "specification");
	if (s && strcmp(s, "virtio")) {
		what = "specification";
		ret = -EINVAL;
		goto bad;
	}
	free(s);
	s = be_read(be, XBT_NULL, b->bpath, "mode");
	if (!s) {
		c->read_only = false;
		if (c->layout == VBACK_XEN_LAYOUT_VIRTIO_DISK) {
			what = "mode";
			ret = -ENOENT;
			goto bad;
		}
	} else if (!strcmp(s, "r") || !strcmp(s, "ro")) {
		c->read_only = true;
	} else if (!strcmp(s, "w") || !strcmp(s, "rw")) {
		c->read_only = false;
	} else {
		what = "mode";
		ret = -EINVAL;
		goto bad;
	}
	free(s);
	s = NULL;
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
	free(s);
	vback_logf(be->xen->log, VBACK_LOG_ERR,
		   "xen: %s: bad or missing '%s' (%s): device refused",
		   b->bpath, what, vback_strerror(ret));
	return ret;
}

/* Write InitWait if the node is still Initialising, atomically. */
static int set_initwait(struct vback_xen_backend *be, struct xen_bdev *b)
{
	unsigned int tries;

	for (tries = 0; tries < 16; tries++) {
		xs_transaction_t t = sys_of(be)->xs_transaction_start(be->xs);
		uint64_t st;
		bool ok;

		if (t == XBT_NULL)
			return errno > 0 ? -errno : -EIO;
		if (be_read_u64(be, t, b->bpath, "state", 255, &st) < 0 ||
		    st != XENBUS_INITIALISING) {
			sys_of(be)->xs_transaction_end(be->xs, t, true);
			return -ESTALE;
		}
		ok = be_write(be, t, b->bpath, "state", "2");
		if (!ok) {
			sys_of(be)->xs_transaction_end(be->xs, t, true);
			return -EIO;
		}
		if (sys_of(be)->xs_transaction_end(be->xs, t, false))
			return 0;
		if (errno != EAGAIN)
			return errno > 0 ? -errno : -EIO;
	}
	return -EAGAIN;
}

static void bdev_start(struct vback_xen_backend *be,
		       enum vback_xen_layout layout, unsigned int domid,
		       unsigned int devid, const char *bpath)
{
	struct vback_xen_device_options o = { 0 };
	struct xen_bdev *b;
	uint64_t fstate;
	char name[40];
	int ret;

	b = calloc(1, sizeof(*b));
	if (!b || !(b->bpath = strdup(bpath))) {
		free(b);
		return;
	}
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
	    (be_read_u64(be, XBT_NULL, b->fpath, "state", 255, &fstate) < 0 ||
	     fstate != XENBUS_INITIALISING)) {
		bdev_free(be, b);
		return;
	}
	ret = be->opts.ops->add(be->opts.opaque, &b->cfg, &b->dev);
	if (ret < 0 || !b->dev) {
		vback_logf(be->xen->log, VBACK_LOG_WARN,
			   "xen: %s: refused by the backend: %s", bpath,
			   vback_strerror(ret < 0 ? ret : -EINVAL));
		return;
	}
	b->bdom = bdom_get(be, domid, &ret);
	if (!b->bdom)
		goto fail_dev;
	snprintf(name, sizeof(name), "dom%u/%s%u", domid,
		 layout == VBACK_XEN_LAYOUT_VIRTIO_DISK ? "vd" : "virtio",
		 devid);
	o.dev = b->dev;
	o.base = b->cfg.base;
	o.irq = b->cfg.irq;
	o.grants = b->cfg.grant_usage;
	o.name = name;
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
	vback_logf(be->xen->log, VBACK_LOG_INFO,
		   "xen: %s: serving at %#llx irq %u%s", bpath,
		   (unsigned long long)b->cfg.base, b->cfg.irq,
		   b->cfg.grant_usage ? " (grants)" : "");
	return;
fail_dom:
	bdom_put(be, b->bdom);
fail_dev:
	vback_logf(be->xen->log, VBACK_LOG_ERR, "xen: %s: cannot serve: %s",
		   bpath, vback_strerror(ret));
	be->opts.ops->remove(be->opts.opaque, &b->cfg, b->dev);
	b->dev = NULL;
}

static void bdev_evaluate(struct vback_xen_backend *be,
			  enum vback_xen_layout layout, unsigned int domid,
			  unsigned int devid)
{
	struct xen_bdev *b = bdev_find(be, layout, domid, devid);
	char bpath[128];
	uint64_t state;
	char *online;

	snprintf(bpath, sizeof(bpath), "%s/%u/%u", be->root[layout], domid,
		 devid);
	if (be_read_u64(be, XBT_NULL, bpath, "state", 255, &state) < 0) {
		/* Node removed (or state unreadable): gone. */
		if (b)
			bdev_release(be, b, false);
		return;
	}
	if (b) {
		if (b->st != BDEV_SERVING) {
			/* Refused: still answer a Closing toolstack. */
			if (state == XENBUS_CLOSING)
				be_write(be, XBT_NULL, bpath, "state", "6");
			return;
		}
		online = be_read(be, XBT_NULL, bpath, "online");
		if (state == XENBUS_CLOSING || (online && !strcmp(online, "0")))
			bdev_release(be, b, true);
		free(online);
		return;
	}
	if (state != XENBUS_INITIALISING)
		return;
	/* Not while the toolstack has already taken it offline. */
	online = be_read(be, XBT_NULL, bpath, "online");
	if (!online || strcmp(online, "0"))
		bdev_start(be, layout, domid, devid, bpath);
	free(online);
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
	if (vback_xen_parse_u64(buf, max, &v) < 0)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

/* Evaluate every device under root[/domid] (listed, and known ones). */
static void scan(struct vback_xen_backend *be, enum vback_xen_layout layout,
		 long only_domid)
{
	char path[128];
	char **doms, **devs;
	unsigned int nd, nv, i, j, domid, devid;
	struct xen_bdev *b, *next;

	for (b = be->devs; b; b = next) {
		next = b->next;
		if (b->cfg.layout == layout &&
		    (only_domid < 0 || b->cfg.domid == only_domid)) {
			bdev_evaluate(be, layout, b->cfg.domid, b->cfg.devid);
		}
	}
	doms = sys_of(be)->xs_directory(be->xs, XBT_NULL, be->root[layout],
					&nd);
	for (i = 0; doms && i < nd; i++) {
		if (parse_id(doms[i], strlen(doms[i]), DOMID_FIRST_RESERVED - 1,
			     &domid) < 0 ||
		    (only_domid >= 0 && domid != only_domid))
			continue;
		snprintf(path, sizeof(path), "%s/%u", be->root[layout], domid);
		devs = sys_of(be)->xs_directory(be->xs, XBT_NULL, path, &nv);
		for (j = 0; devs && j < nv; j++)
			if (parse_id(devs[j], strlen(devs[j]), UINT32_MAX,
				     &devid) == 0)
				bdev_evaluate(be, layout, domid, devid);
		free(devs);
	}
	free(doms);
}

static void on_path(struct vback_xen_backend *be, enum vback_xen_layout layout,
		    const char *path)
{
	size_t n = strlen(be->root[layout]);
	unsigned int domid, devid;
	const char *rest, *end;

	if (strncmp(path, be->root[layout], n) ||
	    (path[n] != '\0' && path[n] != '/'))
		return;
	rest = path + n;
	if (*rest == '\0') {
		scan(be, layout, -1);
		return;
	}
	rest++;
	end = strchrnul(rest, '/');
	if (parse_id(rest, (size_t)(end - rest), DOMID_FIRST_RESERVED - 1,
		     &domid) < 0)
		return;
	if (*end == '\0') {
		scan(be, layout, domid);
		return;
	}
	rest = end + 1;
	end = strchrnul(rest, '/');
	if (parse_id(rest, (size_t)(end - rest), UINT32_MAX, &devid) < 0)
		return;
	bdev_evaluate(be, layout, domid, devid);
}

/* @releaseDomain: some domain died; release what served it. */
static void on_release(struct vback_xen_backend *be)
{
	struct xen_bdev *b, *next;

	for (b = be->devs; b; b = next) {
		next = b->next;
		if (!sys_of(be)->xs_is_domain_introduced(be->xs,
							 b->cfg.domid)) {
			vback_logf(be->xen->log, VBACK_LOG_INFO,
				   "xen: dom%u is gone", b->cfg.domid);
			bdev_release(be, b, false);
			next = be->devs; /* the list changed: restart */
		}
	}
}

static void on_watch(void *opaque, int fd, uint32_t events)
{
	struct vback_xen_backend *be = opaque;
	char **ev;
	unsigned int l;

	(void)fd;
	(void)events;
	/* Non-blocking: drains what is queued, then returns. */
	while ((ev = sys_of(be)->xs_check_watch(be->xs))) {
		const char *path = ev[XS_WATCH_PATH];
		const char *token = ev[XS_WATCH_TOKEN];

		if (!strcmp(token, TOKEN_RELEASE))
			on_release(be);
		for (l = 0; l < NR_LAYOUTS; l++)
			if (!strcmp(token, layout_token[l]))
				on_path(be, (enum vback_xen_layout)l, path);
		free(ev);
	}
}

int vback_xen_backend_start(struct vback_xen *xen,
			    const struct vback_xen_backend_options *opts,
			    struct vback_xen_backend **out)
{
	struct vback_xen_backend *be;
	unsigned int l;
	int ret;

	if (!xen || !opts || !opts->ops || !opts->ops->add ||
	    !opts->ops->remove || !out)
		return -EINVAL;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->xen = xen;
	be->opts = *opts;
	be->fd = -1;
	errno = 0;
	be->xs = xen->sys->xs_open(xen->sys_opaque);
	if (!be->xs) {
		ret = errno > 0 ? -errno : -EIO;
		goto fail;
	}
	be->fd = xen->sys->xs_fileno(be->xs);
	if (be->fd < 0) {
		ret = errno > 0 ? -errno : -EIO;
		goto fail;
	}
	for (l = 0; l < NR_LAYOUTS; l++) {
		snprintf(be->root[l], sizeof(be->root[l]),
			 "/local/domain/%u/backend/%s", opts->backend_domid,
			 layout_dir[l]);
		/* A new watch fires once at once: that is the initial scan. */
		if (!xen->sys->xs_watch(be->xs, be->root[l], layout_token[l])) {
			ret = errno > 0 ? -errno : -EIO;
			goto fail;
		}
	}
	if (!xen->sys->xs_watch(be->xs, "@releaseDomain", TOKEN_RELEASE)) {
		ret = errno > 0 ? -errno : -EIO;
		goto fail;
	}
	ret = vback_loop_watch(xen->loop, be->fd, VBACK_EV_IN, on_watch, be);
	if (ret < 0)
		goto fail;
	be->watched = true;
	*out = be;
	return 0;
fail:
	vback_logf(xen->log, VBACK_LOG_ERR, "xen: xenstore: %s",
		   vback_strerror(ret));
	if (be->xs)
		xen->sys->xs_close(be->xs);
	free(be);
	return ret;
}

void vback_xen_backend_stop(struct vback_xen_backend *be)
{
	unsigned int l;

	if (!be)
		return;
	if (be->watched)
		vback_loop_unwatch(be->xen->loop, be->fd);
	while (be->devs)
		bdev_release(be, be->devs, false);
	for (l = 0; l < NR_LAYOUTS; l++)
		be->xen->sys->xs_unwatch(be->xs, be->root[l], layout_token[l]);
	be->xen->sys->xs_unwatch(be->xs, "@releaseDomain", TOKEN_RELEASE);
	be->xen->sys->xs_close(be->xs);
	free(be);
}
