/* SPDX-License-Identifier: MIT */
/* xenstore discovery and the xenbus state protocol, on the fake Xen. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fake_mmio.h"
#include "harness.h"

#define BE "/local/domain/0/backend"

/* What the daemon would do: one device object per config, recorded. */
struct daemon {
	int refuse; /* add() returns this when non-zero */
	bool pend;  /* add() says VBACK_XEN_ADD_PENDING */
	const struct vback_xen_device_config *pending[4];
	unsigned int npending, cancels;
	unsigned int adds, removes;
	struct vback_xen_device_config last;
	char params[128], type[64], bpath[128];
	int devs[8]; /* stand-in device objects (opaque to the transport) */
	bool live[8];
};

static int d_add(void *opaque, const struct vback_xen_device_config *cfg,
		 struct vback_dev **dev)
{
	struct daemon *dm = opaque;
	unsigned int i;

	dm->last = *cfg;
	snprintf(dm->params, sizeof(dm->params), "%s", cfg->params);
	snprintf(dm->type, sizeof(dm->type), "%s", cfg->type);
	snprintf(dm->bpath, sizeof(dm->bpath), "%s", cfg->backend_path);
	if (dm->refuse)
		return dm->refuse;
	if (dm->pend) {
		assert_true(dm->npending < 4);
		dm->pending[dm->npending++] = cfg;
		return VBACK_XEN_ADD_PENDING;
	}
	for (i = 0; i < 8 && dm->live[i]; i++)
		;
	assert_true(i < 8);
	dm->live[i] = true;
	dm->adds++;
	*dev = (struct vback_dev *)(void *)&dm->devs[i];
	return 0;
}

static void d_remove(void *opaque, const struct vback_xen_device_config *cfg,
		     struct vback_dev *dev)
{
	struct daemon *dm = opaque;
	unsigned int i;

	if (!dev) { /* a pending add called off */
		for (i = 0; i < dm->npending && dm->pending[i] != cfg; i++)
			;
		assert_true(i < dm->npending);
		dm->pending[i] = dm->pending[--dm->npending];
		dm->cancels++;
		return;
	}
	/* The transport detached it already. */
	assert_null(fake_mmio_of(dev));
	for (i = 0; i < 8; i++)
		if ((void *)&dm->devs[i] == (void *)dev)
			break;
	assert_true(i < 8 && dm->live[i]);
	dm->live[i] = false;
	dm->removes++;
}

/* The daemon's thread finished opening pending add @i: @result, and a
 * device when it is 0. */
static void d_finish(struct daemon *dm, struct vback_xen_backend *be,
		     unsigned int i, int result)
{
	const struct vback_xen_device_config *cfg;
	struct vback_dev *dev = NULL;
	unsigned int k;

	assert_true(i < dm->npending);
	cfg = dm->pending[i];
	dm->pending[i] = dm->pending[--dm->npending];
	if (result == 0) {
		for (k = 0; k < 8 && dm->live[k]; k++)
			;
		assert_true(k < 8);
		dm->live[k] = true;
		dm->adds++;
		dev = (struct vback_dev *)(void *)&dm->devs[k];
	}
	vback_xen_backend_add_done(be, cfg, result, dev);
}

static const struct vback_xen_backend_ops d_ops = {
	.add = d_add,
	.remove = d_remove,
};

struct fixture {
	struct harness *h;
	struct daemon dm;
	struct vback_xen_backend *be;
};

static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->h = harness_new();
	return f;
}

static void start(struct fixture *f, uint16_t be_domid)
{
	struct vback_xen_backend_options o = { 0 };

	o.ops = &d_ops;
	o.opaque = &f->dm;
	o.backend_domid = be_domid;
	o.irq_mode = VBACK_XEN_IRQ_SPI;
	assert_int_equal(vback_xen_backend_start(f->h->xen, &o, &f->be), 0);
	harness_settle(f->h);
}

static void fixture_free(struct fixture *f)
{
	vback_xen_backend_stop(f->be);
	assert_int_equal(f->dm.adds, f->dm.removes);
	assert_int_equal(fake_mmio_count(), 0);
	harness_free(f->h);
	free(f);
}

static void xw(struct fixture *f, const char *dir, const char *name,
	       const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(fake_xs_write(f->h->fx, path, val), 0);
}

static char *xr(struct fixture *f, const char *dir, const char *name)
{
	static char buf[256]; /* test-only convenience */
	char path[256];
	char *v;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	v = fake_xs_read(f->h->fx, path);
	snprintf(buf, sizeof(buf), "%s", v ? v : "(none)");
	free(v);
	return buf;
}

/* What libxl 4.17 writes for a virtio_disk (base decimal). */
static void libxl_virtio_disk(struct fixture *f, unsigned int domid,
			      unsigned int devid, const char *base,
			      const char *irq)
{
	char be[128], fe[128];

	snprintf(be, sizeof(be), BE "/virtio_disk/%u/%u", domid, devid);
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/virtio_disk/%u",
		 domid, devid);
	xw(f, fe, "backend", be);
	xw(f, fe, "state", "1");
	xw(f, be, "frontend", fe);
	xw(f, be, "params", "/srv/disk.img");
	xw(f, be, "mode", "w");
	xw(f, be, "base", base);
	xw(f, be, "irq", irq);
	xw(f, be, "type", "standalone");
	xw(f, be, "specification", "virtio");
	xw(f, be, "transport", "mmio");
	xw(f, be, "discard-enable", "1");
	xw(f, be, "online", "1");
	/* state last: libxl writes the directory in one transaction. */
	xw(f, be, "state", "1");
}

static void test_parse_numbers(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(xen_parse_u64("33554432", UINT64_MAX, &v), 0);
	assert_int_equal(v, 33554432);
	assert_int_equal(xen_parse_u64("0x2000000", UINT64_MAX, &v), 0);
	assert_int_equal(v, 0x2000000);
	assert_int_equal(xen_parse_u64("010", UINT64_MAX, &v), 0);
	assert_int_equal(v, 8);
	assert_int_equal(xen_parse_u64(" 42\n", UINT64_MAX, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(xen_parse_u64("0", 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(xen_parse_u64("", UINT64_MAX, &v), -EINVAL);
	assert_int_equal(xen_parse_u64("-1", UINT64_MAX, &v), -EINVAL);
	assert_int_equal(xen_parse_u64("+1", UINT64_MAX, &v), -EINVAL);
	assert_int_equal(xen_parse_u64("12abc", UINT64_MAX, &v), -EINVAL);
	assert_int_equal(xen_parse_u64("0x", UINT64_MAX, &v), -EINVAL);
	assert_int_equal(xen_parse_u64("99999999999999999999", UINT64_MAX, &v),
			 -ERANGE);
	assert_int_equal(xen_parse_u64("256", 255, &v), -ERANGE);
	assert_int_equal(xen_parse_u64(NULL, 255, &v), -EINVAL);
}

static void test_virtio_disk_layout(void **state)
{
	struct fixture *f = fixture_new();
	struct fake_dom *d =
		fake_dom_create(f->h->fx, 3, 2, TEST_RAM_BASE, TEST_RAM_SIZE);
	const char *be = BE "/virtio_disk/3/51712";
	struct vback_mmio *m;
	uint64_t v;

	(void)state;
	libxl_virtio_disk(f, 3, 51712, "33554432", "33");
	start(f, 0);
	assert_int_equal(f->dm.adds, 1);
	assert_int_equal(f->dm.last.layout, VBACK_XEN_LAYOUT_VIRTIO_DISK);
	assert_int_equal(f->dm.last.domid, 3);
	assert_int_equal(f->dm.last.devid, 51712);
	assert_string_equal(f->dm.params, "/srv/disk.img");
	assert_string_equal(f->dm.type, "standalone");
	assert_string_equal(f->dm.bpath, be);
	assert_false(f->dm.last.read_only);
	assert_true(f->dm.last.discard_enable);
	assert_false(f->dm.last.grant_usage);
	assert_int_equal(f->dm.last.base, 0x2000000);
	assert_int_equal(f->dm.last.irq, 33);
	/* InitWait, exactly once, and nothing further (libxl waits for 2). */
	assert_string_equal(xr(f, be, "state"), "2");
	assert_int_equal(fake_xs_writes(f->h->fx,
					"/local/domain/0/backend/"
					"virtio_disk/3/51712/state",
					"2"),
			 1);
	assert_int_equal(fake_xs_writes(f->h->fx,
					"/local/domain/0/backend/"
					"virtio_disk/3/51712/state",
					"4"),
			 0);
	assert_true(fake_dom_range_claimed(d, 0x2000000, 0x20001ff));
	/* The register file is reachable by the guest, foreign memory. */
	m = fake_mmio_live();
	assert_non_null(m);
	assert_int_equal(m->opts.transport_features, 0);
	assert_ptr_equal(m->opts.gm.ops, &xen_gm_foreign_ops);
	assert_int_equal(fake_vcpu_mmio(d, 1, 0x2000000, 4, 1, &v), 0);
	assert_int_equal(v, FAKE_MMIO_MAGIC);
	fake_mmio_raise(m);
	assert_int_equal(fake_dom_irqs(d, 33), 1);
	fixture_free(f);
}

static void test_virtio_layout_grants(void **state)
{
	struct fixture *f = fixture_new();
	struct fake_dom *d =
		fake_dom_create(f->h->fx, 4, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	const char *be = BE "/virtio/4/0";
	struct vback_mmio *m;

	(void)state;
	start(f, 0);
	assert_int_equal(f->dm.adds, 0);
	/* Devices appearing after start are found through the watch. */
	xw(f, be, "type", "virtio,device2");
	xw(f, be, "transport", "mmio");
	xw(f, be, "base", "0x2000200");
	xw(f, be, "irq", "34");
	xw(f, be, "grant_usage", "1");
	xw(f, be, "state", "1");
	harness_settle(f->h);
	assert_int_equal(f->dm.adds, 1);
	assert_int_equal(f->dm.last.layout, VBACK_XEN_LAYOUT_VIRTIO);
	assert_int_equal(f->dm.last.base, 0x2000200);
	assert_true(f->dm.last.grant_usage);
	assert_string_equal(f->dm.type, "virtio,device2");
	assert_string_equal(f->dm.params, "");
	assert_string_equal(xr(f, be, "state"), "2");
	/* Grant DMA: ACCESS_PLATFORM offered and the grant view used. */
	m = fake_mmio_live();
	assert_int_equal(m->opts.transport_features, 1ull << 33);
	assert_ptr_equal(m->opts.gm.ops, &xen_gm_grant_ops);
	assert_true(fake_dom_range_claimed(d, 0x2000200, 0x20003ff));
	fixture_free(f);
}

static void test_non_dom0_backend_defaults_to_grants(void **state)
{
	struct fixture *f = fixture_new();
	const char *be = "/local/domain/1/backend/virtio/4/0";

	(void)state;
	fake_dom_create(f->h->fx, 4, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	xw(f, be, "transport", "mmio");
	xw(f, be, "base", "0x2000000");
	xw(f, be, "irq", "34");
	xw(f, be, "state", "1");
	start(f, 1);
	assert_int_equal(f->dm.adds, 1);
	assert_true(f->dm.last.grant_usage);
	assert_int_equal(fake_mmio_live()->opts.transport_features, 1ull << 33);
	fixture_free(f);
}

static void test_garbage_refused(void **state)
{
	struct fixture *f = fixture_new();
	const char *bad = BE "/virtio_disk/3/1";
	const char *bad2 = BE "/virtio_disk/3/2";

	(void)state;
	fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	libxl_virtio_disk(f, 3, 1, "0x20abcxyz", "34");
	libxl_virtio_disk(f, 3, 2, "33562624", "35");
	xw(f, bad2, "mode", "rwx");
	/* Not a device id: ignored. */
	xw(f, BE "/virtio_disk/3/x1", "state", "1");
	start(f, 0);
	/* Only the good one is served; the bad ones are logged, untouched. */
	assert_int_equal(f->dm.adds, 1);
	assert_string_equal(xr(f, BE "/virtio_disk/3/0", "state"), "2");
	assert_string_equal(xr(f, bad, "state"), "1");
	assert_string_equal(xr(f, bad2, "state"), "1");
	assert_true(f->h->errors >= 2);
	assert_non_null(strstr(f->h->last_log, "refused"));
	fixture_free(f);
}

static void test_daemon_refuses(void **state)
{
	struct fixture *f = fixture_new();
	struct fake_dom *d;

	(void)state;
	d = fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	f->dm.refuse = -ENOENT;
	start(f, 0);
	assert_int_equal(f->dm.adds, 0);
	assert_int_equal(fake_dom_servers(d), 0);
	assert_string_equal(xr(f, BE "/virtio_disk/3/0", "state"), "1");
	fixture_free(f);
}

static void test_frontend_not_ready(void **state)
{
	struct fixture *f = fixture_new();

	(void)state;
	fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	xw(f, "/local/domain/3/device/virtio_disk/0", "state", "3");
	start(f, 0);
	assert_int_equal(f->dm.adds, 0);
	fixture_free(f);
}

static void test_offline_not_started(void **state)
{
	struct fixture *f = fixture_new();

	(void)state;
	fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	xw(f, BE "/virtio_disk/3/0", "online", "0");
	start(f, 0);
	assert_int_equal(f->dm.adds, 0);
	assert_string_equal(xr(f, BE "/virtio_disk/3/0", "state"), "1");
	fixture_free(f);
}

static void test_closing_and_offline(void **state)
{
	struct fixture *f = fixture_new();
	struct fake_dom *d;
	const char *b0 = BE "/virtio_disk/3/0", *b1 = BE "/virtio_disk/3/1";

	(void)state;
	d = fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	libxl_virtio_disk(f, 3, 1, "33562624", "34");
	start(f, 0);
	assert_int_equal(f->dm.adds, 2);
	/* Both devices of one domain share its one IOREQ server. */
	assert_int_equal(fake_dom_servers(d), 1);
	assert_int_equal(fake_dom_nr_ranges(d), 2);

	xw(f, b0, "state", "5");
	harness_settle(f->h);
	assert_int_equal(f->dm.removes, 1);
	assert_string_equal(xr(f, b0, "state"), "6");
	assert_int_equal(fake_dom_nr_ranges(d), 1);
	assert_int_equal(fake_dom_servers(d), 1);

	xw(f, b1, "online", "0");
	harness_settle(f->h);
	assert_int_equal(f->dm.removes, 2);
	assert_string_equal(xr(f, b1, "state"), "6");
	/* Last device gone: the server goes too. */
	assert_int_equal(fake_dom_servers(d), 0);
	fixture_free(f);
}

static void test_node_removed(void **state)
{
	struct fixture *f = fixture_new();
	struct fake_dom *d;

	(void)state;
	d = fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	start(f, 0);
	assert_int_equal(f->dm.adds, 1);
	assert_int_equal(fake_xs_rm(f->h->fx, BE "/virtio_disk/3"), 0);
	harness_settle(f->h);
	assert_int_equal(f->dm.removes, 1);
	assert_int_equal(fake_dom_servers(d), 0);
	/* Nothing is written back into a removed directory. */
	assert_string_equal(xr(f, BE "/virtio_disk/3/0", "state"), "(none)");
	fixture_free(f);
}

static void test_release_domain(void **state)
{
	struct fixture *f = fixture_new();
	struct fake_dom *d3, *d4;

	(void)state;
	d3 = fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	d4 = fake_dom_create(f->h->fx, 4, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	libxl_virtio_disk(f, 4, 0, "33554432", "33");
	start(f, 0);
	assert_int_equal(f->dm.adds, 2);
	assert_int_equal(fake_dom_servers(d3), 1);
	assert_int_equal(fake_dom_servers(d4), 1);
	/* Map both guests' memory and release it, as requests would. */
	for (unsigned int i = 0; i < 2; i++) {
		const struct vback_mmio_options *o =
			&fake_mmio_of(
				 (struct vback_dev *)(void *)&f->dm.devs[i])
				 ->opts;
		uint64_t len = 16;
		void *p;

		p = o->gm.ops->map(o->gm.opaque, TEST_RAM_BASE, &len,
				   VBACK_GM_READ);
		assert_non_null(p);
		o->gm.ops->unmap(o->gm.opaque, TEST_RAM_BASE, p, len,
				 VBACK_GM_READ);
	}
	assert_true(fake_dom_foreign_pages(d3) > 0); /* cached */
	fake_dom_destroy(d3);
	harness_settle(f->h);
	assert_int_equal(f->dm.removes, 1);
	/* Released promptly: no zombie left behind. (A piece still held
	 * by IO in flight would stay mapped: test_fini_leaks_held_chunk.) */
	assert_false(fake_dom_is_zombie(d3));
	assert_int_equal(fake_dom_servers(d4), 1);
	fixture_free(f);
}

static void conflict_hook(struct fake_xen *fx, void *opaque)
{
	(void)opaque;
	fake_xs_write(fx, "/local/domain/0/unrelated", "x");
}

static void closing_hook(struct fake_xen *fx, void *opaque)
{
	(void)opaque;
	fake_xs_write(fx, BE "/virtio_disk/3/0/state", "5");
}

static void test_transaction_conflict_retried(void **state)
{
	struct fixture *f = fixture_new();

	(void)state;
	fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	fake_xs_on_tx_start(f->h->fx, conflict_hook, NULL);
	start(f, 0);
	assert_int_equal(f->dm.adds, 1);
	assert_string_equal(xr(f, BE "/virtio_disk/3/0", "state"), "2");
	fixture_free(f);
}

static void test_closed_while_starting(void **state)
{
	struct fixture *f = fixture_new();
	struct fake_dom *d;

	(void)state;
	d = fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	fake_xs_on_tx_start(f->h->fx, closing_hook, NULL);
	start(f, 0);
	/* The toolstack gave up meanwhile: never write 2 over its 5. */
	assert_int_equal(f->dm.adds, 1);
	assert_int_equal(f->dm.removes, 1);
	assert_int_equal(fake_dom_servers(d), 0);
	assert_int_equal(fake_xs_writes(f->h->fx, BE "/virtio_disk/3/0/state",
					"2"),
			 0);
	/* Its Closing is still answered. */
	harness_settle(f->h);
	assert_string_equal(xr(f, BE "/virtio_disk/3/0", "state"), "6");
	fixture_free(f);
}

static void test_stop_releases_all(void **state)
{
	struct fixture *f = fixture_new();
	struct fake_dom *d;

	(void)state;
	d = fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	libxl_virtio_disk(f, 3, 1, "33562624", "34");
	start(f, 0);
	assert_int_equal(f->dm.adds, 2);
	vback_xen_backend_stop(f->be);
	f->be = NULL;
	assert_int_equal(f->dm.removes, 2);
	assert_int_equal(fake_dom_servers(d), 0);
	fixture_free(f);
}

/* add() may take its time (a network disk connecting on a thread): the
 * device waits in state 1, others are served meanwhile, and it is served
 * once the add is done. */
static void test_pending_add(void **state)
{
	struct fixture *f = fixture_new();
	const char *b0 = BE "/virtio_disk/3/0", *b1 = BE "/virtio_disk/4/0";
	struct fake_dom *d3, *d4;
	uint64_t v;

	(void)state;
	d3 = fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	d4 = fake_dom_create(f->h->fx, 4, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	f->dm.pend = true;
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	start(f, 0);
	assert_int_equal(f->dm.npending, 1);
	assert_string_equal(xr(f, b0, "state"), "1");
	assert_int_equal(fake_dom_servers(d3), 0);
	assert_false(fake_dom_range_claimed(d3, 0x2000000, 0x20001ff));
	/* Another guest's device meanwhile: served at once. */
	f->dm.pend = false;
	libxl_virtio_disk(f, 4, 0, "33554432", "33");
	harness_settle(f->h);
	assert_string_equal(xr(f, b1, "state"), "2");
	assert_int_equal(fake_dom_servers(d4), 1);
	/* Opened: served like any other. */
	d_finish(&f->dm, f->be, 0, 0);
	harness_settle(f->h);
	assert_string_equal(xr(f, b0, "state"), "2");
	assert_int_equal(fake_xs_writes(f->h->fx, BE "/virtio_disk/3/0/state",
					"2"),
			 1);
	assert_true(fake_dom_range_claimed(d3, 0x2000000, 0x20001ff));
	assert_int_equal(fake_vcpu_mmio(d3, 0, 0x2000000, 4, 1, &v), 0);
	assert_int_equal(v, FAKE_MMIO_MAGIC);
	/* Finished twice (a confused user): ignored, logged. */
	vback_xen_backend_add_done(f->be, &f->dm.last, 0, NULL);
	assert_int_equal(f->dm.cancels, 0);
	fixture_free(f);
}

/* An add that fails after all: refused, left alone until closed. */
static void test_pending_refused(void **state)
{
	struct fixture *f = fixture_new();
	const char *b0 = BE "/virtio_disk/3/0";
	struct fake_dom *d;

	(void)state;
	d = fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	f->dm.pend = true;
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	start(f, 0);
	d_finish(&f->dm, f->be, 0, -ETIMEDOUT);
	harness_settle(f->h);
	assert_string_equal(xr(f, b0, "state"), "1");
	assert_int_equal(fake_dom_servers(d), 0);
	assert_int_equal(f->dm.adds, 0);
	xw(f, b0, "state", "5");
	harness_settle(f->h);
	assert_string_equal(xr(f, b0, "state"), "6");
	assert_int_equal(f->dm.cancels, 0);
	fixture_free(f);
}

/* Closed, removed, its domain dead, or the backend stopping while the
 * add is pending: remove(NULL) calls it off, once. */
static void test_pending_called_off(void **state)
{
	struct fixture *f = fixture_new();
	const char *b0 = BE "/virtio_disk/3/0";
	struct fake_dom *d3, *d4;

	(void)state;
	d3 = fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	d4 = fake_dom_create(f->h->fx, 4, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	f->dm.pend = true;
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	libxl_virtio_disk(f, 3, 1, "33562624", "34");
	libxl_virtio_disk(f, 4, 0, "33554432", "33");
	libxl_virtio_disk(f, 4, 1, "33562624", "34");
	start(f, 0);
	assert_int_equal(f->dm.npending, 4);
	/* Closing: called off, answered with Closed. */
	xw(f, b0, "state", "5");
	harness_settle(f->h);
	assert_int_equal(f->dm.cancels, 1);
	assert_string_equal(xr(f, b0, "state"), "6");
	/* Node removed: called off, nothing written. */
	assert_int_equal(fake_xs_rm(f->h->fx, BE "/virtio_disk/3/1"), 0);
	harness_settle(f->h);
	assert_int_equal(f->dm.cancels, 2);
	assert_string_equal(xr(f, BE "/virtio_disk/3/1", "state"), "(none)");
	/* Its domain died: called off. */
	fake_dom_destroy(d4);
	harness_settle(f->h);
	assert_int_equal(f->dm.cancels, 4);
	assert_int_equal(f->dm.npending, 0);
	assert_int_equal(fake_dom_servers(d3), 0);
	(void)d4;
	fixture_free(f);
}

static void test_pending_stop(void **state)
{
	struct fixture *f = fixture_new();

	(void)state;
	fake_dom_create(f->h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	f->dm.pend = true;
	libxl_virtio_disk(f, 3, 0, "33554432", "33");
	start(f, 0);
	assert_int_equal(f->dm.npending, 1);
	vback_xen_backend_stop(f->be);
	f->be = NULL;
	assert_int_equal(f->dm.cancels, 1);
	assert_int_equal(f->dm.npending, 0);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_virtio_disk_layout),
		cmocka_unit_test(test_virtio_layout_grants),
		cmocka_unit_test(test_non_dom0_backend_defaults_to_grants),
		cmocka_unit_test(test_garbage_refused),
		cmocka_unit_test(test_daemon_refuses),
		cmocka_unit_test(test_frontend_not_ready),
		cmocka_unit_test(test_offline_not_started),
		cmocka_unit_test(test_closing_and_offline),
		cmocka_unit_test(test_node_removed),
		cmocka_unit_test(test_release_domain),
		cmocka_unit_test(test_transaction_conflict_retried),
		cmocka_unit_test(test_closed_while_starting),
		cmocka_unit_test(test_stop_releases_all),
		cmocka_unit_test(test_pending_add),
		cmocka_unit_test(test_pending_refused),
		cmocka_unit_test(test_pending_called_off),
		cmocka_unit_test(test_pending_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
