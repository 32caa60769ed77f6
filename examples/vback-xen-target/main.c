/* SPDX-License-Identifier: MIT */
/*
 * vback-xen-target: run in Dom0 to make a domain the device model of a
 * guest, so that vback (vback-disk in a Linux driver domain, or a backend
 * domain without an OS) can serve the guest's virtio devices from there.
 * The logic is relate.c; this file is the command line and libxenctrl /
 * libxenstore under it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xenctrl.h>
#include <xenstore.h>

#include "relate.h"

struct tools {
	xc_interface *xch;
	struct xs_handle *xs;
};

static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

static int t_dominfo(void *opaque, uint16_t domid, struct relate_dominfo *info)
{
	struct tools *t = opaque;
	xc_dominfo_t di;
	int n;

	memset(info, 0, sizeof(*info));
	n = xc_domain_getinfo(t->xch, domid, 1, &di);
	if (n < 0)
		return neg_errno();
	/* It answers with the next domain when @domid does not exist. */
	if (n == 0 || di.domid != domid)
		return 0;
	info->exists = true;
	info->paused = di.paused;
	info->dying = di.dying;
	info->cpu_time_ns = di.cpu_time;
	return 0;
}

static int t_set_target(void *opaque, uint16_t backend, uint16_t guest)
{
	struct tools *t = opaque;

	return xc_domain_set_target(t->xch, backend, guest) < 0 ? neg_errno()
								: 0;
}

static int t_xs_set_target(void *opaque, uint16_t backend, uint16_t guest)
{
	struct tools *t = opaque;

	return xs_set_target(t->xs, backend, guest) ? 0 : neg_errno();
}

static int t_xs_read(void *opaque, const char *path, char *buf, size_t size)
{
	struct tools *t = opaque;
	unsigned int len;
	char *v = xs_read(t->xs, XBT_NULL, path, &len);

	if (!v)
		return neg_errno();
	snprintf(buf, size, "%s", v);
	free(v);
	return (int)len;
}

static int t_xs_write_private(void *opaque, const char *path, const char *value,
			      uint16_t reader)
{
	struct tools *t = opaque;
	struct xs_permissions perms[2] = {
		{ .id = 0, .perms = XS_PERM_NONE }, /* owner: Dom0 */
		{ .id = reader, .perms = XS_PERM_READ },
	};

	if (!xs_write(t->xs, XBT_NULL, path, value,
		      (unsigned int)strlen(value)) ||
	    !xs_set_permissions(t->xs, XBT_NULL, path, perms, 2))
		return neg_errno();
	return 0;
}

static int t_xs_directory(void *opaque, const char *path, char *buf,
			  size_t size)
{
	struct tools *t = opaque;
	unsigned int num, i;
	size_t used = 0;
	char **names = xs_directory(t->xs, XBT_NULL, path, &num);

	if (!names)
		return neg_errno();
	for (i = 0; i < num; i++) {
		size_t n = strlen(names[i]) + 1;

		if (n > size - used)
			break;
		memcpy(buf + used, names[i], n);
		used += n;
	}
	free(names);
	return (int)i;
}

static int t_xs_introduced(void *opaque, uint16_t domid)
{
	struct tools *t = opaque;

	/* false is both "no" and "could not ask": errno tells. */
	errno = 0;
	if (xs_is_domain_introduced(t->xs, domid))
		return 1;
	return errno ? neg_errno() : 0;
}

static void t_sleep_ms(void *opaque, unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	(void)opaque;
	nanosleep(&ts, NULL);
}

static void usage(FILE *out, const char *argv0)
{
	fprintf(out,
		"Usage: %s [--wait SECONDS] BACKEND GUEST\n"
		"\n"
		"Make domain BACKEND the device model of domain GUEST (ids "
		"or names),\n"
		"so that a virtio backend running in BACKEND may serve "
		"GUEST:\n"
		"XEN_DOMCTL_set_target, xenstore's SET_TARGET, then\n"
		"/local/domain/BACKEND/target = GUEST (what a Linux driver "
		"domain's\n"
		"privcmd reads when it loads). Run in Dom0 while GUEST is "
		"paused\n"
		"and has never run (xl create -p); a domain's target is set "
		"once.\n"
		"\n"
		"  --wait SECONDS   wait that long for GUEST to appear and "
		"be known to\n"
		"                   xenstored (xl create -p waits for the "
		"backend, so\n"
		"                   run it in the background)\n",
		argv0);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tools t = { 0 };
	struct relate_ops ops = {
		.dominfo = t_dominfo,
		.set_target = t_set_target,
		.xs_set_target = t_xs_set_target,
		.xs_read = t_xs_read,
		.xs_write_private = t_xs_write_private,
		.xs_directory = t_xs_directory,
		.xs_introduced = t_xs_introduced,
		.sleep_ms = t_sleep_ms,
		.opaque = &t,
	};
	unsigned int wait_ms = 0;
	uint16_t be, g;
	char *end;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w': {
			unsigned long s = strtoul(optarg, &end, 10);

			if (!*optarg || *end || s > 3600) {
				fprintf(stderr,
					"%s: bad --wait '%s': want seconds, "
					"0..3600\n",
					argv[0], optarg);
				return 2;
			}
			wait_ms = (unsigned int)s * 1000;
			break;
		}
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr, argv[0]);
		return 2;
	}
	t.xch = xc_interface_open(NULL, NULL, 0);
	t.xs = xs_open(0);
	if (!t.xch || !t.xs) {
		fprintf(stderr,
			"vback-xen-target: cannot open %s: %s (run this in "
			"Dom0, as root, with xenstored running)\n",
			t.xch ? "xenstore" : "the hypervisor interface",
			strerror(errno));
		goto out;
	}
	if (relate_resolve(&ops, argv[optind], 0, &be, stderr) < 0 ||
	    relate_resolve(&ops, argv[optind + 1], wait_ms, &g, stderr) < 0)
		goto out;
	if (relate(&ops, be, g, wait_ms, stdout, stderr) == 0)
		ret = 0;
out:
	if (t.xs)
		xs_close(t.xs);
	if (t.xch)
		xc_interface_close(t.xch);
	return ret;
}
