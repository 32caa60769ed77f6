/* SPDX-License-Identifier: MIT */
/* vback-xen-target's logic: see relate.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "relate.h"

#define DOMID_FIRST_RESERVED 0x7ff0u
#define POLL_MS		     100u

static const char *err_name(int err)
{
	return strerror(err < 0 ? -err : err);
}

static bool parse_domid(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	const char *p;

	if (!*s || strlen(s) > 5)
		return false;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v >= DOMID_FIRST_RESERVED)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* The id of the domain named @name: 0, -ENOENT, -errno. */
static int find_name(const struct relate_ops *ops, const char *name,
		     uint16_t *domid)
{
	char ids[8192], path[64], val[256];
	const char *id;
	int n;

	n = ops->xs_directory(ops->opaque, "/local/domain", ids, sizeof(ids));
	if (n < 0)
		return n;
	for (id = ids; n > 0; n--, id += strlen(id) + 1) {
		uint16_t d;

		if (!parse_domid(id, &d))
			continue;
		snprintf(path, sizeof(path), "/local/domain/%u/name", d);
		if (ops->xs_read(ops->opaque, path, val, sizeof(val)) >= 0 &&
		    !strcmp(val, name)) {
			*domid = d;
			return 0;
		}
	}
	return -ENOENT;
}

int relate_resolve(const struct relate_ops *ops, const char *what,
		   unsigned int wait_ms, uint16_t *domid, FILE *err)
{
	bool numeric = parse_domid(what, domid);
	unsigned int waited = 0;
	int ret;

	for (;;) {
		struct relate_dominfo info = { 0 };

		if (numeric) {
			ret = ops->dominfo(ops->opaque, *domid, &info);
			if (ret == 0 && !info.exists)
				ret = -ENOENT;
		} else {
			ret = find_name(ops, what, domid);
		}
		if (ret != -ENOENT || waited >= wait_ms)
			break;
		ops->sleep_ms(ops->opaque, POLL_MS);
		waited += POLL_MS;
	}
	if (ret == -ENOENT)
		fprintf(err,
			"vback-xen-target: no domain %s%s%s (xl list shows "
			"them)\n",
			numeric ? "" : "named '", what, numeric ? "" : "'");
	else if (ret < 0)
		fprintf(err,
			"vback-xen-target: cannot look up domain %s: %s (run "
			"this in Dom0, as root, with xenstored running)\n",
			what, err_name(ret));
	return ret;
}

/* Step 1. An EINVAL is a target set before: fine if it is @guest. */
static int set_target(const struct relate_ops *ops, uint16_t be, uint16_t g,
		      FILE *out, FILE *err)
{
	char path[64], val[16];
	int ret = ops->set_target(ops->opaque, be, g);

	if (ret == 0) {
		fprintf(out, "dom%u: Xen target set to dom%u\n", be, g);
		return 0;
	}
	if (ret == -EINVAL) {
		snprintf(path, sizeof(path), "/local/domain/%u/target", be);
		if (ops->xs_read(ops->opaque, path, val, sizeof(val)) >= 0 &&
		    strtoul(val, NULL, 10) == g) {
			fprintf(out, "dom%u: already dom%u's device model\n",
				be, g);
			return 0;
		}
		fprintf(err,
			"vback-xen-target: Xen refused dom%u as dom%u's device "
			"model: it has a target already (Xen sets a domain's "
			"target once: start another backend domain for this "
			"guest)\n",
			be, g);
		return ret;
	}
	if (ret == -EPERM || ret == -EACCES)
		fprintf(err,
			"vback-xen-target: Xen refused XEN_DOMCTL_set_target: "
			"%s (run this in Dom0, as root)\n",
			err_name(ret));
	else if (ret == -EOPNOTSUPP)
		fprintf(err,
			"vback-xen-target: Xen refused XEN_DOMCTL_set_target: "
			"dom%u is not an HVM or Arm guest\n",
			g);
	else
		fprintf(err,
			"vback-xen-target: XEN_DOMCTL_set_target(dom%u, dom%u) "
			"failed: %s\n",
			be, g, err_name(ret));
	return ret;
}

/* @domid exists and is not dying: 0, or -errno after one line. */
static int domain_check(const struct relate_ops *ops, uint16_t domid,
			struct relate_dominfo *info, FILE *err)
{
	int ret = ops->dominfo(ops->opaque, domid, info);

	if (ret == 0 && (!info->exists || info->dying))
		ret = -ESRCH;
	if (ret == -ESRCH)
		fprintf(err, "vback-xen-target: there is no domain %u\n",
			domid);
	else if (ret < 0)
		fprintf(err,
			"vback-xen-target: cannot ask Xen about dom%u: %s (run "
			"this in Dom0, as root)\n",
			domid, err_name(ret));
	return ret;
}

/* Wait until xenstored knows @domid: 0, or -errno after one line. */
static int wait_introduced(const struct relate_ops *ops, uint16_t domid,
			   unsigned int wait_ms, FILE *err)
{
	unsigned int waited = 0;
	int ret;

	while ((ret = ops->xs_introduced(ops->opaque, domid)) == 0 &&
	       waited < wait_ms) {
		ops->sleep_ms(ops->opaque, POLL_MS);
		waited += POLL_MS;
	}
	if (ret == 0)
		fprintf(err,
			"vback-xen-target: xenstored does not know dom%u yet "
			"(the toolstack introduces a domain after loading its "
			"kernel): give --wait SECONDS\n",
			domid);
	else if (ret < 0)
		fprintf(err,
			"vback-xen-target: cannot ask xenstored about dom%u: "
			"%s (run this in Dom0, as root)\n",
			domid, err_name(ret));
	return ret == 1 ? 0 : ret == 0 ? -ENOENT : ret;
}

int relate(const struct relate_ops *ops, uint16_t be, uint16_t g,
	   unsigned int wait_ms, FILE *out, FILE *err)
{
	struct relate_dominfo info = { 0 };
	char path[64], val[16];
	int ret;

	if (be == g || be == 0 || g == 0) {
		fprintf(err, "vback-xen-target: %s\n",
			be == g	  ? "a domain cannot be its own device model"
			: be == 0 ? "Dom0 needs no target: it may serve any "
				    "guest"
				  : "Dom0 cannot be a backend domain's guest");
		return -EINVAL;
	}
	ret = domain_check(ops, g, &info, err);
	if (ret < 0)
		return ret;
	if (!info.paused) {
		fprintf(err,
			"vback-xen-target: dom%u is running: create it paused "
			"(xl create -p), run this, then xl unpause it: a "
			"guest that runs first finds its virtio disks "
			"unserved\n",
			g);
		return -EBUSY;
	}
	if (info.cpu_time_ns)
		fprintf(err,
			"vback-xen-target: warning: dom%u has run already; "
			"devices it probed before now may have failed\n",
			g);
	ret = domain_check(ops, be, &info, err);
	if (ret < 0)
		return ret;

	ret = wait_introduced(ops, g, wait_ms, err);
	if (ret < 0)
		return ret;
	ret = set_target(ops, be, g, out, err);
	if (ret < 0)
		return ret;
	ret = ops->xs_set_target(ops->opaque, be, g);
	if (ret < 0) {
		fprintf(err,
			"vback-xen-target: xenstored refused SET_TARGET(dom%u, "
			"dom%u): %s\n",
			be, g, err_name(ret));
		return ret;
	}
	fprintf(out, "dom%u: may use dom%u's xenstore nodes\n", be, g);
	snprintf(path, sizeof(path), "/local/domain/%u/target", be);
	snprintf(val, sizeof(val), "%u", g);
	ret = ops->xs_write_private(ops->opaque, path, val, be);
	if (ret < 0) {
		fprintf(err, "vback-xen-target: cannot write %s: %s\n", path,
			err_name(ret));
		return ret;
	}
	fprintf(out, "%s = %u: dom%u is dom%u's device model\n", path, g, be,
		g);
	return 0;
}
