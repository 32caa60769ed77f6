/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng through the Xen transport on the fake Xen: the guest-driver
 * model negotiates the device over virtio-mmio through simulated vCPUs,
 * offers device-writable buffers (foreign mappings and grants), and reads
 * back what the device's fill function wrote, with the used lengths the
 * device reported. The second device type on the same IOREQ core as
 * virtio-blk, with no code of its own in the transport.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest_driver.h"
#include "guest_mem.h"
#include "harness.h"

#define DOMID 6
#define SPI   41

struct rtest {
	struct harness *h;
	struct gmem *mem;
	struct fake_dom *d;
	struct vback_xen_domain *dom;
	struct vback_rng *rng;
	struct vback_xen_device *xdev;
	struct gdrv *drv;
	uint8_t next;	 /* the fill function's next byte */
	size_t per_call; /* most bytes per call (0: all asked) */
	unsigned int calls;
};

/* A recognisable stream, so the test knows what reached the guest. */
static long fill(void *opaque, void *buf, size_t len)
{
	struct rtest *t = opaque;
	uint8_t *p = buf;

	if (t->per_call && len > t->per_call)
		len = t->per_call;
	for (size_t i = 0; i < len; i++)
		p[i] = t->next++;
	t->calls++;
	return (long)len;
}

static uint64_t vcpu_read(void *opaque, uint64_t off, unsigned int size)
{
	struct rtest *t = opaque;
	uint64_t v = 0;

	assert_int_equal(fake_vcpu_mmio(t->d, 0, MMIO_BASE + off, size, 1, &v),
			 0);
	return v;
}

static void vcpu_write(void *opaque, uint64_t off, unsigned int size,
		       uint64_t v)
{
	struct rtest *t = opaque;

	assert_int_equal(fake_vcpu_mmio(t->d, 0, MMIO_BASE + off, size, 0, &v),
			 0);
}

/*
 * With @grants, the guest's memory sits at bus address 1 << 63 in the
 * driver model and page i of it is granted as ref i, so every address
 * the driver writes is a grant address, as with Linux's grant DMA ops.
 */
static void setup(struct rtest *t, bool grants)
{
	const uint64_t bus = grants ? XEN_GRANT_ADDR_BIT : TEST_RAM_BASE;
	const struct gmem_region r = { bus, TEST_RAM_SIZE, false };
	struct vback_rng_options ro = { 0 };
	struct vback_xen_device_options o = { 0 };
	struct gdrv_options go = { 0 };

	memset(t, 0, sizeof(*t));
	t->h = harness_new();
	t->mem = gmem_create(&r, 1);
	assert_non_null(t->mem);
	t->d = fake_dom_create_on(t->h->fx, DOMID, 1,
				  grants ? 0 : TEST_RAM_BASE,
				  gmem_host(t->mem, bus, TEST_RAM_SIZE),
				  TEST_RAM_SIZE);
	assert_non_null(t->d);
	for (uint32_t i = 0; grants && i < TEST_RAM_SIZE / 4096; i++)
		assert_int_equal(fake_dom_grant(t->d, i, i, false), 0);
	t->dom = harness_domain(t->h, DOMID, VBACK_XEN_IRQ_SPI);
	ro.fill = fill;
	ro.opaque = t;
	ro.queue_size = 16;
	ro.log = &t->h->log;
	assert_int_equal(vback_rng_create(&ro, &t->rng), 0);
	o.dev = vback_rng_dev(t->rng);
	o.base = MMIO_BASE;
	o.irq = SPI;
	o.grants = grants;
	assert_int_equal(vback_xen_device_add(t->dom, &o, &t->xdev), 0);
	go.access.mmio_read = vcpu_read;
	go.access.mmio_write = vcpu_write;
	go.access.opaque = t;
	go.mem = t->mem;
	go.heap_base = bus;
	go.heap_size = TEST_RAM_SIZE;
	/* No EVENT_IDX: every used buffer interrupts (checked below). */
	go.refuse = GDRV_F(VIRTIO_RING_F_EVENT_IDX);
	t->drv = gdrv_create(&go);
	assert_non_null(t->drv);
	assert_int_equal(gdrv_reg_read(t->drv, VIRTIO_MMIO_DEVICE_ID),
			 VIRTIO_ID_RNG);
	assert_int_equal(gdrv_probe(t->drv), 0);
	assert_true(gdrv_status(t->drv) & VIRTIO_CONFIG_S_DRIVER_OK);
}

static void teardown(struct rtest *t)
{
	gdrv_destroy(t->drv);
	vback_xen_device_remove(t->xdev);
	vback_rng_destroy(t->rng);
	vback_xen_domain_destroy(t->dom);
	gmem_destroy(t->mem);
	harness_free(t->h);
}

/* One request: @n device-writable buffers of @len bytes at head 0. */
static uint32_t request(struct rtest *t, unsigned int n, uint32_t len,
			uint64_t *bufs)
{
	uint32_t id = 0, used = 0;
	uint16_t before = gdrv_raw_used_idx(t->drv, 0);

	for (unsigned int i = 0; i < n; i++) {
		struct gdrv_desc dd;

		bufs[i] = gdrv_alloc(t->drv, 4096, 4096);
		assert_true(bufs[i] != 0);
		gmem_fill(t->mem, bufs[i], 0, len);
		dd.addr = bufs[i];
		dd.len = len;
		dd.flags = VRING_DESC_F_WRITE |
			   (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		dd.next = (uint16_t)(i + 1);
		gdrv_desc_set(t->drv, gdrv_ring_desc_gpa(t->drv, 0, i), &dd);
	}
	gdrv_raw_claim(t->drv, 0, 0, true);
	gdrv_raw_avail(t->drv, 0, 0);
	gdrv_reg_write(t->drv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	harness_settle(t->h);
	assert_int_equal(gdrv_raw_used_idx(t->drv, 0), (uint16_t)(before + 1));
	gdrv_raw_used_elem(t->drv, 0, before, &id, &used);
	assert_int_equal(id, 0);
	gdrv_raw_claim(t->drv, 0, 0, false);
	return used;
}

static void check_stream(struct rtest *t, const uint64_t *bufs, unsigned int n,
			 uint32_t len, uint32_t used, uint8_t first)
{
	uint8_t want = first;

	for (unsigned int i = 0; i < n && used; i++) {
		uint8_t b[4096];
		uint32_t k = used < len ? used : len;

		gmem_read(t->mem, bufs[i], b, len);
		for (uint32_t j = 0; j < k; j++)
			assert_int_equal(b[j], want++);
		/* Nothing past what the used length says was written. */
		for (uint32_t j = k; j < len; j++)
			assert_int_equal(b[j], 0);
		used -= k;
	}
}

static void test_rng_over_xen(void **state)
{
	uint64_t bufs[3];
	struct rtest t;

	(void)state;
	for (int grants = 0; grants < 2; grants++) {
		setup(&t, grants);
		assert_int_equal(request(&t, 1, 64, bufs), 64);
		check_stream(&t, bufs, 1, 64, 64, 0);
		/* Three buffers: filled in order, one stream. */
		assert_int_equal(request(&t, 3, 100, bufs), 300);
		check_stream(&t, bufs, 3, 100, 300, 64);
		/* A source with less to give: the used length says how much,
		 * and the rest of the buffers stays untouched. */
		t.per_call = 30;
		assert_int_equal(request(&t, 2, 100, bufs), 30);
		check_stream(&t, bufs, 2, 100, 30, (uint8_t)364);
		assert_int_equal(vback_rng_bytes(t.rng), 394);
		/* The used-buffer interrupt reached the guest's SPI. */
		assert_int_equal(fake_dom_irqs(t.d, SPI), 3);
		/* Grant DMA: only the rings stay mapped between requests;
		 * plain: nothing is granted. */
		assert_true(grants ? fake_dom_grant_pages(t.d) > 0
				   : fake_dom_grant_pages(t.d) == 0);
		harness_check(t.h);
		teardown(&t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_over_xen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
