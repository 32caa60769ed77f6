/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: xenstore device-config parsing and the xenbus state
 * protocol (transport/xen/backend.c, parse.c) on the fake Xen's xenstore.
 *
 * The input writes any keys with any values under both backend layouts
 * (backend/virtio_disk/ and backend/virtio/), plausible and absurd domain
 * and device ids, frontend state nodes, removals, xenstore transaction
 * conflicts and domain deaths; the watches fire and the backend reacts.
 * add() builds a real virtio-blk device (or refuses, as the input says);
 * remove() destroys it.
 *
 * Invariants: every configuration handed to add() matches what xenstore
 * held at that moment (base, irq, mode -> read_only, params, frontend,
 * transport, ids in the path); add() is only called for a device whose
 * backend state is 1; every added device is removed exactly once, by the
 * end at the latest; the fake Xen sees no rule violation; nothing leaks.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_xen.h"
#include "fuzz_common.h"
#include "test_io.h"
#include "xen_priv.h"

#define MAX_OPS	 96
#define MAX_DEVS 16
#define BE	 "/local/domain/0/backend"

struct slot {
	bool live;
	struct tio *tio;
	struct vback_blk *blk;
};

struct h {
	struct fz *f;
	struct vback_loop *loop;
	struct fake_xen *fx;
	struct vback_xen_platform *pf;
	struct vback_xen *xen;
	struct vback_xen_backend *be;
	struct fake_dom *doms[3];
	struct slot devs[MAX_DEVS];
	unsigned int adds, removes, refusals;
	char conflict_path[200];
};

static char *xs_get(struct h *h, const char *dir, const char *name)
{
	char path[320];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return fake_xs_read(h->fx, path);
}

/* The number rules of the layouts, written independently of parse.c. */
static bool number_ok(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	if (*end || v > max)
		return false;
	*out = v;
	return true;
}

static void check_config(struct h *h, const struct vback_xen_device_config *c)
{
	const char *dir = c->backend_path;
	char expect[160], *s;
	uint64_t v;

	snprintf(expect, sizeof(expect), BE "/%s/%u/%u",
		 c->layout == VBACK_XEN_LAYOUT_VIRTIO_DISK ? "virtio_disk"
							   : "virtio",
		 c->domid, c->devid);
	FZ_CHECK(!strcmp(dir, expect), "path %s for dom%u dev%u", dir, c->domid,
		 c->devid);
	s = xs_get(h, dir, "state");
	FZ_CHECK(s && number_ok(s, 255, &v) && v == 1,
		 "add() with backend state '%s'", s ? s : "(none)");
	free(s);
	s = xs_get(h, dir, "base");
	FZ_CHECK(s && number_ok(s, UINT64_MAX, &v) && v == c->base,
		 "base '%s' parsed as %#llx", s ? s : "(none)",
		 (unsigned long long)c->base);
	free(s);
	s = xs_get(h, dir, "irq");
	FZ_CHECK(s && number_ok(s, UINT32_MAX, &v) && v == c->irq,
		 "irq '%s' parsed as %u", s ? s : "(none)", c->irq);
	free(s);
	s = xs_get(h, dir, "mode");
	if (s)
		FZ_CHECK(c->read_only == (!strcmp(s, "r") || !strcmp(s, "ro")),
			 "mode '%s' gave read_only %d", s, c->read_only);
	else
		FZ_CHECK(!c->read_only && c->layout == VBACK_XEN_LAYOUT_VIRTIO,
			 "%s", "no mode, yet added read-only or virtio_disk");
	if (s)
		FZ_CHECK(!strcmp(s, "r") || !strcmp(s, "ro") ||
				 !strcmp(s, "w") || !strcmp(s, "rw"),
			 "mode '%s' accepted", s);
	free(s);
	s = xs_get(h, dir, "params");
	FZ_CHECK(!strcmp(c->params, s ? s : ""), "params '%s' vs '%s'",
		 c->params, s ? s : "");
	if (c->layout == VBACK_XEN_LAYOUT_VIRTIO_DISK)
		FZ_CHECK(*c->params, "%s", "virtio_disk without params");
	free(s);
	s = xs_get(h, dir, "frontend");
	FZ_CHECK(!strcmp(c->frontend_path, s ? s : ""), "frontend '%s' vs '%s'",
		 c->frontend_path, s ? s : "");
	free(s);
	s = xs_get(h, dir, "transport");
	if (s || c->layout == VBACK_XEN_LAYOUT_VIRTIO)
		FZ_CHECK(s && !strcmp(s, "mmio"), "transport '%s' accepted",
			 s ? s : "(none)");
	free(s);
	s = xs_get(h, dir, "grant_usage");
	if (s)
		FZ_CHECK(number_ok(s, 1, &v) && c->grant_usage == (v != 0),
			 "grant_usage '%s' gave %d", s, c->grant_usage);
	free(s);
}

static int d_add(void *opaque, const struct vback_xen_device_config *cfg,
		 struct vback_dev **dev)
{
	struct h *h = opaque;
	struct tio_options to = { 0 };
	struct vback_blk_options bo = { 0 };
	unsigned int i;

	check_config(h, cfg);
	fz_trace("add %s", cfg->backend_path);
	if ((fz_u8(h->f) & 7) == 7) {
		h->refusals++;
		return -EINVAL;
	}
	for (i = 0; i < MAX_DEVS && h->devs[i].live; i++)
		;
	if (i == MAX_DEVS)
		return -ENOSPC;
	to.size = 4096;
	to.read_only = cfg->read_only;
	h->devs[i].tio = tio_create(&to);
	FZ_CHECK(h->devs[i].tio, "%s", "tio");
	bo.io = tio_io(h->devs[i].tio);
	bo.queue_size = 4;
	bo.seg_max = 1;
	bo.read_only = cfg->read_only;
	bo.log = &fz_quiet_log;
	FZ_CHECK(vback_blk_create(&bo, &h->devs[i].blk) == 0, "%s", "blk");
	h->devs[i].live = true;
	h->adds++;
	*dev = vback_blk_dev(h->devs[i].blk);
	return 0;
}

static void d_remove(void *opaque, const struct vback_xen_device_config *cfg,
		     struct vback_dev *dev)
{
	struct h *h = opaque;
	unsigned int i;

	fz_trace("remove %s", cfg->backend_path);
	for (i = 0; i < MAX_DEVS; i++)
		if (h->devs[i].live && vback_blk_dev(h->devs[i].blk) == dev)
			break;
	FZ_CHECK(i < MAX_DEVS, "%s", "remove() of a device never added");
	tio_release(h->devs[i].tio, 0);
	FZ_CHECK(vback_dev_inflight(dev) == 0, "%s", "removed with IO");
	vback_blk_destroy(h->devs[i].blk);
	tio_destroy(h->devs[i].tio);
	h->devs[i].live = false;
	h->removes++;
}

static const struct vback_xen_backend_ops d_ops = {
	.add = d_add,
	.remove = d_remove,
};

static const char *const domids[] = {
	"1", "2", "0", "01", "x", "65535", "32752", "4294967297", "", "1 "
};
static const char *const devids[] = { "0",  "1",	  "51712",	"00",
				      "-1", "4294967295", "4294967296", "a" };
static const char *const keys[] = {
	"state",	 "online",   "base",	       "irq",
	"mode",		 "params",   "type",	       "transport",
	"specification", "frontend", "discard-enable", "grant_usage",
	"frontend-id",	 "backend",
};
static const char *const values[] = {
	"1",
	"2",
	"5",
	"6",
	"0",
	"0x2000000",
	"33554432",
	"0x02000200",
	" 33 ",
	"040",
	"r",
	"w",
	"ro",
	"rw",
	"mmio",
	"virtio",
	"/dev/null",
	"",
	"-1",
	"0x",
	"18446744073709551615",
	"18446744073709551616",
	"4294967296",
	"virtio,device2",
	"1x",
	"0x0000000000000000000001",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void pick_value(struct fz *f, char *buf, size_t len)
{
	uint8_t k = fz_u8(f);

	if (k < 0xc0) {
		snprintf(buf, len, "%s", values[k % N(values)]);
		return;
	}
	/* Raw bytes, NUL-terminated (xenstore values are C strings here). */
	fz_bytes(f, buf, (k & 15) < len ? (k & 15) : len - 1);
	buf[len - 1] = '\0';
}

static void dev_dir(struct fz *f, char *buf, size_t len)
{
	uint8_t k = fz_u8(f);

	snprintf(buf, len, BE "/%s/%s/%s", (k & 1) ? "virtio" : "virtio_disk",
		 domids[(k >> 1) % N(domids)], devids[fz_u8(f) % N(devids)]);
}

/* What libxl writes for one device, with values from the input. */
static void libxl_device(struct h *h, struct fz *f)
{
	uint8_t k = fz_u8(f);
	unsigned int domid = 1 + (k & 1), devid = (k >> 1) & 3;
	bool v2 = k & 8;
	char be[160], fe[160], path[320], val[32];

	snprintf(be, sizeof(be), BE "/%s/%u/%u", v2 ? "virtio" : "virtio_disk",
		 domid, devid);
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/%s/%u", domid,
		 v2 ? "virtio" : "virtio_disk", devid);
#define W(dir, key, value)                                                     \
	do {                                                                   \
		snprintf(path, sizeof(path), "%s/%s", dir, key);               \
		fake_xs_write(h->fx, path, value);                             \
	} while (0)
	W(fe, "backend", be);
	W(fe, "state", "1");
	W(be, "frontend", fe);
	snprintf(val, sizeof(val), v2 ? "%#x" : "%u",
		 0x2000000u + 0x200u * (fz_u8(f) % 8));
	if (!(k & 0x10))
		pick_value(f, val, sizeof(val));
	W(be, "base", val);
	snprintf(val, sizeof(val), "%u", 33 + fz_u8(f) % 4);
	W(be, "irq", val);
	if (!v2)
		W(be, "params", "/tmp/disk.img");
	W(be, "mode", (k & 0x20) ? "r" : "w");
	W(be, "type", v2 ? "virtio,device2" : "standalone");
	W(be, "transport", "mmio");
	if (k & 0x40)
		W(be, "grant_usage", (k & 0x80) ? "1" : "0");
	W(be, "online", "1");
	W(be, "state", "1");
#undef W
}

static void conflict(struct fake_xen *fx, void *opaque)
{
	struct h *h = opaque;

	fake_xs_write(fx, h->conflict_path, "1");
}

static void settle(struct h *h)
{
	for (int i = 0; i < 64; i++)
		if (vback_loop_run_once(h->loop, 0) <= 0)
			break;
}

static void step(struct h *h, struct fz *f)
{
	uint8_t op = fz_u8(f);
	char dir[160], path[320], val[32];

	switch (op % 9) {
	case 0:
	case 1: { /* one node, any key, any value */
		uint8_t k = fz_u8(f);

		dev_dir(f, dir, sizeof(dir));
		if (k < 0xf0)
			snprintf(path, sizeof(path), "%s/%s", dir,
				 keys[k % N(keys)]);
		else
			snprintf(path, sizeof(path), "%s", dir);
		pick_value(f, val, sizeof(val));
		fake_xs_write(h->fx, path, val);
		break;
	}
	case 2:
		libxl_device(h, f);
		break;
	case 3: { /* remove a node or a whole device */
		uint8_t k = fz_u8(f);

		dev_dir(f, dir, sizeof(dir));
		if (k & 1)
			snprintf(path, sizeof(path), "%s/%s", dir,
				 keys[(k >> 1) % N(keys)]);
		else
			snprintf(path, sizeof(path), "%s", dir);
		fake_xs_rm(h->fx, path);
		break;
	}
	case 4: { /* the toolstack closes or takes a device offline */
		dev_dir(f, dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/%s", dir,
			 (op & 0x10) ? "online" : "state");
		fake_xs_write(h->fx, path, (op & 0x10) ? "0" : "5");
		break;
	}
	case 5: { /* a frontend state */
		uint8_t k = fz_u8(f);

		snprintf(path, sizeof(path),
			 "/local/domain/%u/device/%s/%u/state", 1 + (k & 1),
			 (k & 2) ? "virtio" : "virtio_disk", (k >> 2) & 3);
		pick_value(f, val, sizeof(val));
		fake_xs_write(h->fx, path, val);
		break;
	}
	case 6: /* a transaction conflict at the next InitWait */
		dev_dir(f, dir, sizeof(dir));
		snprintf(h->conflict_path, sizeof(h->conflict_path), "%s/state",
			 dir);
		fake_xs_on_tx_start(h->fx, conflict, h);
		break;
	case 7: { /* a guest dies */
		unsigned int i = 1 + (op >> 4) % 2;

		if (h->doms[i]) {
			fake_dom_destroy(h->doms[i]);
			h->doms[i] = NULL;
		}
		break;
	}
	default:
		break;
	}
	settle(h);
	FZ_CHECK(!fake_xen_failure(h->fx), "fake Xen: %s",
		 fake_xen_failure(h->fx));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct vback_xen_options xo = { 0 };
	struct vback_xen_backend_options bo = { 0 };
	struct h h;
	unsigned int live = 0;

	memset(&h, 0, sizeof(h));
	h.f = &f;
	h.loop = fz_loop_create();
	h.fx = fake_xen_create();
	FZ_CHECK(h.fx, "%s", "fake Xen");
	fake_xen_set_loop(h.fx, h.loop);
	for (unsigned int i = 1; i < 3; i++)
		h.doms[i] = fake_dom_create(h.fx, (uint16_t)i, 1, 0x40000000ull,
					    64 * 1024);
	xo.loop = h.loop;
	xo.log = &fz_quiet_log;
	h.pf = fake_xen_platform_create(h.fx);
	xo.platform = h.pf;
	FZ_CHECK(h.pf && vback_xen_create(&xo, &h.xen) == 0, "%s",
		 "xen context");
	bo.ops = &d_ops;
	bo.opaque = &h;
	bo.backend_domid = 0;
	bo.irq_mode = VBACK_XEN_IRQ_SPI;
	bo.map_cache_mib = 1;
	FZ_CHECK(vback_xen_backend_start(h.xen, &bo, &h.be) == 0, "%s",
		 "backend");
	settle(&h);

	for (unsigned int i = 0; i < MAX_OPS && !fz_empty(&f); i++)
		step(&h, &f);

	vback_xen_backend_stop(h.be);
	for (unsigned int i = 0; i < MAX_DEVS; i++)
		live += h.devs[i].live;
	FZ_CHECK(live == 0 && h.adds == h.removes,
		 "%u added, %u removed, %u live", h.adds, h.removes, live);
	vback_xen_destroy(h.xen);
	FZ_CHECK(fake_xen_open_handles(h.fx) == 1, "%u Xen handles leaked",
		 fake_xen_open_handles(h.fx) - 1);
	fake_xen_platform_destroy(h.pf);
	FZ_CHECK(!fake_xen_failure(h.fx), "fake Xen: %s",
		 fake_xen_failure(h.fx));
	fake_xen_destroy(h.fx);
	fz_loop_destroy(h.loop);
	return 0;
}
