/* SPDX-License-Identifier: MIT */
/*
 * Integration: guest-driver model -> simulated Xen vCPU (fake Xen) -> the
 * Xen transport -> virtio-mmio -> virtio-blk -> RAM disk, data verified.
 * Everything above the fake's system table is production code.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>

#include "guest_driver.h"
#include "guest_mem.h"
#include "harness.h"
#include "test_io.h"

#define DOMID	  5
#define SPI	  40
#define DISK_SIZE (1u << 20)

struct itest {
	struct harness *h;
	struct gmem *mem;
	struct fake_dom *d;
	struct vback_xen_domain *dom;
	struct tio *io;
	struct vback_blk *blk;
	struct vback_xen_device *xdev;
	struct gdrv *drv;
	unsigned int accesses;
};

/* The driver's MMIO goes through a vCPU, alternating between two. */
static uint64_t vcpu_read(void *opaque, uint64_t off, unsigned int size)
{
	struct itest *t = opaque;
	uint64_t v = 0;

	assert_int_equal(fake_vcpu_mmio(t->d, t->accesses++ % 2,
					MMIO_BASE + off, size, 1, &v),
			 0);
	return v;
}

static void vcpu_write(void *opaque, uint64_t off, unsigned int size,
		       uint64_t v)
{
	struct itest *t = opaque;

	assert_int_equal(fake_vcpu_mmio(t->d, t->accesses++ % 2,
					MMIO_BASE + off, size, 0, &v),
			 0);
}

static void guest_boot(struct itest *t)
{
	const struct gmem_region r = { TEST_RAM_BASE, TEST_RAM_SIZE, false };

	t->h = harness_new();
	t->mem = gmem_create(&r, 1);
	assert_non_null(t->mem);
	t->d = fake_dom_create_on(t->h->fx, DOMID, 2, TEST_RAM_BASE,
				  gmem_host(t->mem, TEST_RAM_BASE,
					    TEST_RAM_SIZE),
				  TEST_RAM_SIZE);
	assert_non_null(t->d);
}

static struct gdrv *driver_new(struct itest *t)
{
	struct gdrv_options o = { 0 };

	o.access.mmio_read = vcpu_read;
	o.access.mmio_write = vcpu_write;
	o.access.opaque = t;
	o.mem = t->mem;
	o.heap_base = TEST_RAM_BASE;
	o.heap_size = TEST_RAM_SIZE;
	return gdrv_create(&o);
}

static struct vback_blk *blk_new(struct itest *t)
{
	struct tio_options to = { 0 };
	struct vback_blk_options bo = { 0 };
	struct vback_blk *blk = NULL;

	to.size = DISK_SIZE;
	t->io = tio_create(&to);
	assert_non_null(t->io);
	bo.io = tio_io(t->io);
	bo.log = &t->h->log;
	bo.name = "dom5/xvda";
	assert_int_equal(vback_blk_create(&bo, &blk), 0);
	return blk;
}

static void setup(struct itest *t, bool grants)
{
	struct vback_xen_device_options o = { 0 };

	memset(t, 0, sizeof(*t));
	guest_boot(t);
	t->dom = harness_domain(t->h, DOMID, VBACK_XEN_IRQ_SPI);
	t->blk = blk_new(t);
	o.dev = vback_blk_dev(t->blk);
	o.base = MMIO_BASE;
	o.irq = SPI;
	o.grants = grants;
	assert_int_equal(vback_xen_device_add(t->dom, &o, &t->xdev), 0);
	t->drv = driver_new(t);
	assert_non_null(t->drv);
}

static void teardown(struct itest *t)
{
	/* The documented order: transport, IO, device, then the domain. */
	vback_xen_device_remove(t->xdev);
	tio_release(t->io, 0);
	vback_blk_destroy(t->blk);
	vback_xen_domain_destroy(t->dom);
	assert_int_equal(fake_dom_foreign_pages(t->d), 0);
	gdrv_destroy(t->drv);
	tio_destroy(t->io);
	harness_free(t->h);
	gmem_destroy(t->mem);
}

static void pattern(uint8_t *p, size_t n, unsigned int seed)
{
	uint32_t x = seed * 2654435761u + 7;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static int rw(struct itest *t, uint32_t type, uint64_t sector, void *buf,
	      uint32_t len, unsigned int segs)
{
	return gdrv_blk_rw(t->drv, 0, type, sector, buf, len, segs);
}

static void test_probe(void **state)
{
	struct itest t;

	(void)state;
	setup(&t, false);
	assert_int_equal(gdrv_probe(t.drv), 0);
	assert_true(gdrv_has(t.drv, VIRTIO_F_VERSION_1));
	/* No grants configured: ACCESS_PLATFORM is not offered. */
	assert_false(gdrv_device_features(t.drv) &
		     GDRV_F(VIRTIO_F_ACCESS_PLATFORM));
	assert_int_equal(gdrv_config_read(t.drv, 0, 8), DISK_SIZE / 512);
	assert_true(gdrv_status(t.drv) & VIRTIO_CONFIG_S_DRIVER_OK);
	harness_check(t.h);
	teardown(&t);
}

static void test_grants_offer_access_platform(void **state)
{
	struct itest t;

	(void)state;
	setup(&t, true);
	assert_int_equal(gdrv_init_features(t.drv), 0);
	assert_true(gdrv_device_features(t.drv) &
		    GDRV_F(VIRTIO_F_ACCESS_PLATFORM));
	gdrv_reset(t.drv);
	teardown(&t);
}

static void test_write_read_verified(void **state)
{
	static uint8_t out[16384], in[16384];
	struct itest t;
	unsigned int irqs;

	(void)state;
	setup(&t, false);
	assert_int_equal(gdrv_probe(t.drv), 0);
	pattern(out, sizeof(out), 1);
	assert_int_equal(rw(&t, VIRTIO_BLK_T_OUT, 16, out, sizeof(out), 3),
			 VIRTIO_BLK_S_OK);
	/* The bytes are on the disk ... */
	assert_memory_equal(tio_data(t.io) + 16 * 512, out, sizeof(out));
	irqs = fake_dom_irqs(t.d, SPI);
	assert_true(irqs >= 1);
	/* ... and come back. */
	memset(in, 0, sizeof(in));
	assert_int_equal(rw(&t, VIRTIO_BLK_T_IN, 16, in, sizeof(in), 2),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(in, out, sizeof(in));
	assert_true(fake_dom_irqs(t.d, SPI) > irqs);
	assert_int_equal(rw(&t, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0),
			 VIRTIO_BLK_S_OK);
	/* Out of range: an error status, the vCPU never hangs. */
	assert_int_equal(rw(&t, VIRTIO_BLK_T_IN, DISK_SIZE / 512, in, 512, 1),
			 VIRTIO_BLK_S_IOERR);
	harness_check(t.h);
	teardown(&t);
}

static void test_many_requests(void **state)
{
	static uint8_t buf[4096], in[4096];
	struct itest t;
	unsigned int i;

	(void)state;
	setup(&t, false);
	assert_int_equal(gdrv_probe(t.drv), 0);
	for (i = 0; i < 200; i++) {
		uint64_t sector = (i * 37u) % (DISK_SIZE / 512 - 8);

		pattern(buf, sizeof(buf), i + 100);
		assert_int_equal(rw(&t, VIRTIO_BLK_T_OUT, sector, buf,
				    sizeof(buf), 1 + i % 4),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(rw(&t, VIRTIO_BLK_T_IN, sector, in, sizeof(in),
				    1),
				 VIRTIO_BLK_S_OK);
		assert_memory_equal(in, buf, sizeof(buf));
	}
	/* Whole chunks are cached, not mapped per request. */
	assert_true(fake_dom_foreign_map_calls(t.d) <= TEST_RAM_SIZE >>
		    XEN_CHUNK_SHIFT);
	harness_check(t.h);
	teardown(&t);
}

static void test_reset_and_invalidate(void **state)
{
	static uint8_t buf[4096], in[4096];
	struct itest t;

	(void)state;
	setup(&t, false);
	assert_int_equal(gdrv_probe(t.drv), 0);
	pattern(buf, sizeof(buf), 9);
	assert_int_equal(rw(&t, VIRTIO_BLK_T_OUT, 8, buf, sizeof(buf), 1),
			 VIRTIO_BLK_S_OK);
	/* INVALIDATE while running: the rings stay usable. */
	assert_int_equal(fake_dom_invalidate(t.d, 1), 0);
	assert_int_equal(rw(&t, VIRTIO_BLK_T_IN, 8, in, sizeof(in), 1),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(in, buf, sizeof(in));
	/* A reset releases the rings; the cache drops every mapping. */
	gdrv_reset(t.drv);
	assert_int_equal(fake_dom_foreign_pages(t.d), 0);
	assert_int_equal(gdrv_probe(t.drv), 0);
	memset(in, 0, sizeof(in));
	assert_int_equal(rw(&t, VIRTIO_BLK_T_IN, 8, in, sizeof(in), 1),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(in, buf, sizeof(in));
	harness_check(t.h);
	teardown(&t);
}

/*
 * Grant DMA end to end. The guest's memory sits at bus address 1 << 63 in
 * the driver model, and page i of it is granted as ref i: every address the
 * driver writes (ring registers, descriptors) is then a grant address
 * (gref << 12 | offset, bit 63), as with Linux's grant DMA ops.
 */
/* Set up @t for grant DMA (see below), with a grant cap of @cap pages
 * (0: the default) and the driver's largest request @max_data. */
static void grant_setup(struct itest *t, unsigned int cap, uint32_t max_data)
{
	const struct gmem_region r = { XEN_GRANT_ADDR_BIT, TEST_RAM_SIZE,
				       false };
	struct vback_xen_domain_options dopt = { 0 };
	struct vback_xen_device_options o = { 0 };
	struct gdrv_options go = { 0 };
	unsigned int i;

	memset(t, 0, sizeof(*t));
	t->h = harness_new();
	t->mem = gmem_create(&r, 1);
	assert_non_null(t->mem);
	t->d = fake_dom_create_on(t->h->fx, DOMID, 2, 0,
				  gmem_host(t->mem, XEN_GRANT_ADDR_BIT,
					    TEST_RAM_SIZE),
				  TEST_RAM_SIZE);
	assert_non_null(t->d);
	for (i = 0; i < TEST_RAM_SIZE / 4096; i++)
		assert_int_equal(fake_dom_grant(t->d, i, i, false), 0);
	dopt.domid = DOMID;
	dopt.irq_mode = VBACK_XEN_IRQ_SPI;
	dopt.grant_max_pages = cap;
	assert_int_equal(vback_xen_domain_create(t->h->xen, &dopt, &t->dom), 0);
	t->blk = blk_new(t);
	o.dev = vback_blk_dev(t->blk);
	o.base = MMIO_BASE;
	o.irq = SPI;
	o.grants = true;
	assert_int_equal(vback_xen_device_add(t->dom, &o, &t->xdev), 0);
	go.access.mmio_read = vcpu_read;
	go.access.mmio_write = vcpu_write;
	go.access.opaque = t;
	go.mem = t->mem;
	go.heap_base = XEN_GRANT_ADDR_BIT;
	go.heap_size = TEST_RAM_SIZE;
	go.max_data = max_data;
	go.queue_size = 16;
	t->drv = gdrv_create(&go);
	assert_non_null(t->drv);
	assert_int_equal(gdrv_probe(t->drv), 0);
}

static void test_grant_dma_end_to_end(void **state)
{
	static uint8_t out[12288], in[12288];
	uint64_t ring_pages;
	struct itest t;
	unsigned int i;

	(void)state;
	grant_setup(&t, 0, 0);
	assert_true(gdrv_has(t.drv, VIRTIO_F_ACCESS_PLATFORM));
	/* Only the rings stay mapped while the queue is enabled. */
	ring_pages = fake_dom_grant_pages(t.d);
	assert_true(ring_pages > 0);
	assert_int_equal(fake_dom_foreign_pages(t.d), 0);
	for (i = 0; i < 20; i++) {
		pattern(out, sizeof(out), i);
		assert_int_equal(rw(&t, VIRTIO_BLK_T_OUT, 8 * i, out,
				    sizeof(out), 3),
				 VIRTIO_BLK_S_OK);
		assert_memory_equal(tio_data(t.io) + 8 * i * 512, out,
				    sizeof(out));
		/* Request buffers were released before completion. */
		assert_int_equal(fake_dom_grant_pages(t.d), ring_pages);
		memset(in, 0, sizeof(in));
		assert_int_equal(rw(&t, VIRTIO_BLK_T_IN, 8 * i, in, sizeof(in),
				    2),
				 VIRTIO_BLK_S_OK);
		assert_memory_equal(in, out, sizeof(in));
		assert_int_equal(fake_dom_grant_pages(t.d), ring_pages);
	}
	/* A reset unmaps the rings too. */
	gdrv_reset(t.drv);
	assert_int_equal(fake_dom_grant_pages(t.d), 0);
	/* Never a foreign mapping: a non-Dom0 backend could not make one. */
	assert_int_equal(fake_dom_foreign_map_calls(t.d), 0);
	harness_check(t.h);
	teardown(&t);
}

/*
 * The grant cap (vback_xen_domain_options.grant_max_pages): a request
 * that does not fit while another holds grants waits for its completion
 * (no new kick needed) instead of failing; one that alone needs more than
 * the cap is answered IOERR, the device stays healthy, nothing leaks.
 */
static void test_grant_cap_backpressure(void **state)
{
	static uint8_t a[32768], b[32768], big[98304];
	struct gdrv_blk_req r = { 0 };
	struct gdrv_done d[2];
	uint64_t ring_pages;
	struct itest t;

	(void)state;
	grant_setup(&t, 18, sizeof(big));
	ring_pages = fake_dom_grant_pages(t.d);
	print_message("rings: %llu grant pages, cap 18\n",
		      (unsigned long long)ring_pages);
	assert_true(ring_pages + 10 <= 18 && ring_pages + 20 > 18);
	tio_hold(t.io, true);
	r.type = VIRTIO_BLK_T_IN;
	r.data = a;
	r.len = sizeof(a); /* 8 data pages + header + status */
	assert_true(gdrv_submit(t.drv, 0, &r) >= 0);
	gdrv_kick(t.drv, 0, true);
	assert_int_equal(tio_pending(t.io), 1);
	r.data = b;
	assert_true(gdrv_submit(t.drv, 0, &r) >= 0);
	gdrv_kick(t.drv, 0, true);
	/* It waits: the first holds the grants it would need. */
	assert_int_equal(tio_pending(t.io), 1);
	assert_true(fake_dom_grant_pages(t.d) <= 18);
	/* The first completes: the second goes on by itself. */
	assert_int_equal(tio_release(t.io, 1), 1);
	harness_settle(t.h);
	assert_int_equal(tio_pending(t.io), 1);
	assert_int_equal(tio_release(t.io, 1), 1);
	harness_settle(t.h);
	gdrv_interrupt(t.drv);
	assert_int_equal(gdrv_poll(t.drv, 0, d, 2), 2);
	assert_int_equal(d[0].status, VIRTIO_BLK_S_OK);
	assert_int_equal(d[1].status, VIRTIO_BLK_S_OK);
	assert_int_equal(fake_dom_grant_pages(t.d), ring_pages);
	/* 24 data pages alone: more than the cap, answered IOERR. */
	tio_hold(t.io, false);
	assert_int_equal(rw(&t, VIRTIO_BLK_T_IN, 0, big, sizeof(big), 1),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(vback_dev_status(vback_blk_dev(t.blk)) &
				 VBACK_STATUS_NEEDS_RESET,
			 0);
	assert_int_equal(fake_dom_grant_pages(t.d), ring_pages);
	assert_int_equal(rw(&t, VIRTIO_BLK_T_IN, 0, a, sizeof(a), 1),
			 VIRTIO_BLK_S_OK);
	harness_check(t.h);
	teardown(&t);
}

/* The daemon's side of discovery: build a virtio-blk per config. */
struct daemon {
	struct itest *t;
	unsigned int adds, removes;
	bool read_only;
};

static int d_add(void *opaque, const struct vback_xen_device_config *cfg,
		 struct vback_dev **dev)
{
	struct daemon *dm = opaque;

	assert_string_equal(cfg->params, "/srv/dom5.img");
	dm->read_only = cfg->read_only;
	dm->t->blk = blk_new(dm->t);
	*dev = vback_blk_dev(dm->t->blk);
	dm->adds++;
	return 0;
}

static void d_remove(void *opaque, const struct vback_xen_device_config *cfg,
		     struct vback_dev *dev)
{
	struct daemon *dm = opaque;

	(void)cfg;
	assert_ptr_equal(dev, vback_blk_dev(dm->t->blk));
	tio_release(dm->t->io, 0);
	vback_blk_destroy(dm->t->blk);
	tio_destroy(dm->t->io);
	dm->t->blk = NULL;
	dm->t->io = NULL;
	dm->removes++;
}

static const struct vback_xen_backend_ops d_ops = {
	.add = d_add,
	.remove = d_remove,
};

static void test_xenstore_to_disk(void **state)
{
	static uint8_t buf[8192], in[8192];
	const char *be = "/local/domain/0/backend/virtio_disk/5/51712";
	const char *fe = "/local/domain/5/device/virtio_disk/51712";
	struct vback_xen_backend_options o = { 0 };
	struct vback_xen_backend *b;
	struct daemon dm = { 0 };
	struct itest t;
	char path[128], *v;
	const char *kv[][2] = {
		{ "frontend", fe },
		{ "params", "/srv/dom5.img" },
		{ "mode", "w" },
		{ "base", "33554432" },
		{ "irq", "40" },
		{ "type", "standalone" },
		{ "specification", "virtio" },
		{ "transport", "mmio" },
		{ "online", "1" },
		{ "state", "1" },
	};
	unsigned int i;

	(void)state;
	memset(&t, 0, sizeof(t));
	guest_boot(&t);
	dm.t = &t;
	snprintf(path, sizeof(path), "%s/state", fe);
	fake_xs_write(t.h->fx, path, "1");
	for (i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", be, kv[i][0]);
		fake_xs_write(t.h->fx, path, kv[i][1]);
	}
	o.ops = &d_ops;
	o.opaque = &dm;
	o.irq_mode = VBACK_XEN_IRQ_SPI;
	assert_int_equal(vback_xen_backend_start(t.h->xen, &o, &b), 0);
	harness_settle(t.h);
	assert_int_equal(dm.adds, 1);
	snprintf(path, sizeof(path), "%s/state", be);
	v = fake_xs_read(t.h->fx, path);
	assert_string_equal(v, "2");
	free(v);

	/* The guest boots and does IO at base 33554432 = MMIO_BASE. */
	t.drv = driver_new(&t);
	assert_int_equal(gdrv_probe(t.drv), 0);
	pattern(buf, sizeof(buf), 42);
	assert_int_equal(rw(&t, VIRTIO_BLK_T_OUT, 100, buf, sizeof(buf), 2),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(tio_data(t.io) + 100 * 512, buf, sizeof(buf));
	assert_int_equal(rw(&t, VIRTIO_BLK_T_IN, 100, in, sizeof(in), 2),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(in, buf, sizeof(in));

	/* libxl closes the device. */
	fake_xs_write(t.h->fx, path, "5");
	harness_settle(t.h);
	assert_int_equal(dm.removes, 1);
	v = fake_xs_read(t.h->fx, path);
	assert_string_equal(v, "6");
	free(v);
	assert_int_equal(fake_dom_servers(t.d), 0);
	assert_int_equal(fake_dom_foreign_pages(t.d), 0);
	vback_xen_backend_stop(b);
	gdrv_destroy(t.drv);
	harness_free(t.h);
	gmem_destroy(t.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_grants_offer_access_platform),
		cmocka_unit_test(test_write_read_verified),
		cmocka_unit_test(test_many_requests),
		cmocka_unit_test(test_reset_and_invalidate),
		cmocka_unit_test(test_grant_dma_end_to_end),
		cmocka_unit_test(test_grant_cap_backpressure),
		cmocka_unit_test(test_xenstore_to_disk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
