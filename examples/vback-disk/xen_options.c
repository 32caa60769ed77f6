/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <vback/mmio.h>

#include "config.h"
#include "xen_options.h"

/* Xen's DOMID_FIRST_RESERVED: ids from here on are not guests. */
#define XEN_DOMID_LIMIT 0x7ff0u

/* Interrupt lines a virtio-mmio device can use on this architecture. */
#if defined(__aarch64__) || defined(__arm__)
#define IRQ_MIN	 32u /* GIC SPIs */
#define IRQ_MAX	 1019u
#define IRQ_WHAT "a GIC SPI, 32..1019"
#else
#define IRQ_MIN	 1u /* ISA lines */
#define IRQ_MAX	 15u
#define IRQ_WHAT "an ISA IRQ, 1..15"
#endif

/* Decimal or 0x hexadecimal (a leading 0 is not octal: "010" is ten, as an
 * operator reading it means); no sign, no garbage, <= @max. */
static int parse_num(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	char buf[32], *digits = buf, *end;
	unsigned long long v;
	int base = 10;

	if (n == 0 || n >= sizeof(buf) || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	if (buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')) {
		digits = buf + 2;
		base = 16;
	}
	/* strtoull() alone would take a second "0x", spaces and signs. */
	if (!*digits ||
	    strspn(digits, base == 16 ? "0123456789abcdefABCDEF"
				      : "0123456789") != strlen(digits))
		return -EINVAL;
	v = strtoull(digits, &end, base);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool key_is(const char *item, size_t klen, const char *key)
{
	return strlen(key) == klen && !memcmp(item, key, klen);
}

int vback_disk_xen_parse_disk(const char *spec,
			      struct vback_disk_xen_disk *disk, char *err,
			      size_t errlen)
{
	bool have_base = false, have_irq = false;
	const char *p = spec;
	uint64_t v;

	memset(disk, 0, sizeof(*disk));
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		const char *val = eq ? eq + 1 : NULL;
		size_t vlen = eq ? len - klen - 1 : 0;

		if (key_is(p, klen, "path") && val) {
			if (vlen == 0 || vlen >= PATH_MAX) {
				snprintf(err, errlen, "bad path=");
				goto fail;
			}
			free(disk->path);
			disk->path = strndup(val, vlen);
			if (!disk->path) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
		} else if (key_is(p, klen, "base") && val) {
			/* libxl spaces windows 0x200 apart; so do we. */
			if (parse_num(val, vlen,
				      UINT64_MAX - VBACK_MMIO_WINDOW_SIZE,
				      &v) < 0 ||
			    v % VBACK_MMIO_WINDOW_SIZE) {
				snprintf(err, errlen,
					 "bad base '%.*s': want a "
					 "guest-physical "
					 "address, multiple of 0x%x (e.g. "
					 "0x2000000)",
					 (int)vlen, val,
					 VBACK_MMIO_WINDOW_SIZE);
				goto fail;
			}
			disk->base = v;
			have_base = true;
		} else if (key_is(p, klen, "irq") && val) {
			if (parse_num(val, vlen, IRQ_MAX, &v) < 0 ||
			    v < IRQ_MIN) {
				snprintf(err, errlen,
					 "bad irq '%.*s': want " IRQ_WHAT,
					 (int)vlen, val);
				goto fail;
			}
			disk->irq = (uint32_t)v;
			have_irq = true;
		} else if (!val && key_is(p, klen, "ro")) {
			disk->read_only = true;
		} else if (!val && key_is(p, klen, "rw")) {
			disk->read_only = false;
		} else if (!val && key_is(p, klen, "grants")) {
			disk->grants = true;
		} else {
			snprintf(err, errlen,
				 "unknown item '%.*s' (want path=IMG,"
				 "base=ADDR,irq=N[,ro][,grants])",
				 (int)len, p);
			goto fail;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	if (!disk->path) {
		snprintf(err, errlen, "path= is required");
		goto fail;
	}
	if (!have_base || !have_irq) {
		snprintf(err, errlen, "%s= is required",
			 have_base ? "irq" : "base");
		goto fail;
	}
	return 0;
fail:
	free(disk->path);
	disk->path = NULL;
	return -EINVAL;
}

static int add_disk(struct vback_disk_options *o, const char *spec,
		    const char *argv0)
{
	struct vback_disk_xen_disk *d;
	char err[256];
	unsigned int i;

	if (o->nr_xen_disks == VBACK_DISK_MAX_XEN_DISKS) {
		fprintf(stderr, "%s: --disk: %u disks at most\n", argv0,
			VBACK_DISK_MAX_XEN_DISKS);
		return -EINVAL;
	}
	d = &o->xen_disks[o->nr_xen_disks];
	if (vback_disk_xen_parse_disk(spec, d, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: --disk %s: %s\n", argv0, spec, err);
		return -EINVAL;
	}
	for (i = 0; i < o->nr_xen_disks; i++) {
		const struct vback_disk_xen_disk *e = &o->xen_disks[i];

		if (e->base == d->base || e->irq == d->irq) {
			fprintf(stderr,
				"%s: --disk %s: %s already used by disk %u\n",
				argv0, spec,
				e->base == d->base ? "base" : "irq", i + 1);
			free(d->path);
			d->path = NULL;
			return -EINVAL;
		}
	}
	o->nr_xen_disks++;
	return 0;
}

int vback_disk_xen_option(struct vback_disk_options *o,
			  enum vback_disk_xen_opt opt, const char *arg,
			  const char *argv0)
{
	uint64_t v;

	switch (opt) {
	case VBACK_DISK_XEN_OPT_DOMID:
		if (parse_num(arg, strlen(arg), XEN_DOMID_LIMIT - 1, &v) < 0 ||
		    v == 0) {
			fprintf(stderr,
				"%s: bad --domid '%s': want a guest domain "
				"id, 1..%u\n",
				argv0, arg, XEN_DOMID_LIMIT - 1);
			return -EINVAL;
		}
		o->domid = (int)v;
		return 0;
	case VBACK_DISK_XEN_OPT_BACKEND_DOMID:
		if (parse_num(arg, strlen(arg), XEN_DOMID_LIMIT - 1, &v) < 0) {
			fprintf(stderr,
				"%s: bad --backend-domid '%s': want 0..%u\n",
				argv0, arg, XEN_DOMID_LIMIT - 1);
			return -EINVAL;
		}
		o->backend_domid = (int)v;
		return 0;
	case VBACK_DISK_XEN_OPT_STATE_DIR:
		o->state_dir_set = true;
		o->state_dir = strcmp(arg, "none") ? arg : NULL;
		if (o->state_dir && o->state_dir[0] != '/') {
			fprintf(stderr,
				"%s: --state-dir wants an absolute path or "
				"none\n",
				argv0);
			return -EINVAL;
		}
		return 0;
	case VBACK_DISK_XEN_OPT_DISK:
		return add_disk(o, arg, argv0);
	}
	return -EINVAL;
}

enum vback_disk_parse vback_disk_xen_finish(struct vback_disk_options *o,
					    const char *argv0)
{
	bool explicit = o->domid >= 0 || o->nr_xen_disks;

	if (o->mode == VBACK_DISK_MODE_VHOST_USER) {
		if (o->state_dir_set) {
			fprintf(stderr,
				"%s: --state-dir goes with the Xen mode "
				"(vhost-user front-ends keep their region)\n",
				argv0);
			return VBACK_DISK_EXIT_USAGE;
		}
		if (!explicit)
			return VBACK_DISK_RUN;
		fprintf(stderr,
			"%s: --domid and --disk path=,base=,irq= are Xen "
			"options; they do not go with --vhost-user or --disk "
			"socket=\n",
			argv0);
		return VBACK_DISK_EXIT_USAGE;
	}
	if (o->nr_images) {
		fprintf(stderr,
			"%s: --image goes with --vhost-user SOCKET; Xen disks "
			"come from xenstore or --domid N --disk SPEC\n",
			argv0);
		return VBACK_DISK_EXIT_USAGE;
	}
	if (o->serial) {
		fprintf(stderr,
			"%s: --serial goes with --vhost-user (Xen disks have "
			"none)\n",
			argv0);
		return VBACK_DISK_EXIT_USAGE;
	}
	if (o->no_inflight) {
		fprintf(stderr, "%s: --no-inflight goes with --vhost-user\n",
			argv0);
		return VBACK_DISK_EXIT_USAGE;
	}
	if (o->domid >= 0 && !o->nr_xen_disks) {
		fprintf(stderr, "%s: --domid %d needs at least one --disk\n",
			argv0, o->domid);
		return VBACK_DISK_EXIT_USAGE;
	}
	if (o->nr_xen_disks && o->domid < 0) {
		fprintf(stderr, "%s: --disk needs --domid N\n", argv0);
		return VBACK_DISK_EXIT_USAGE;
	}
#if !VBACK_HAVE_XEN
	fprintf(stderr,
		"%s: built without Xen support: use --vhost-user SOCKET "
		"--image PATH\n",
		argv0);
	return VBACK_DISK_EXIT_USAGE;
#else
	o->mode = VBACK_DISK_MODE_XEN;
	return VBACK_DISK_RUN;
#endif
}
