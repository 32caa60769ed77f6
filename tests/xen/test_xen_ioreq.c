/* SPDX-License-Identifier: MIT */
/* IOREQ server set-up, serving, interrupts and limits, on the fake Xen. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>

#include "harness.h"

/* A device window that records what reaches it. */
struct rec {
	unsigned int reads, writes;
	uint64_t last_off, last_val;
	unsigned int last_size;
	uint64_t read_val; /* returned (unmasked) by reads */
};

static int rec_read(void *opaque, uint64_t off, unsigned int size,
		    uint64_t *val)
{
	struct rec *r = opaque;

	r->reads++;
	r->last_off = off;
	r->last_size = size;
	/* Deliberately wider than the access: the transport must mask. */
	*val = r->read_val;
	return 0;
}

static int rec_write(void *opaque, uint64_t off, unsigned int size,
		     uint64_t val)
{
	struct rec *r = opaque;

	r->writes++;
	r->last_off = off;
	r->last_size = size;
	r->last_val = val;
	return 0;
}

static const struct xen_target_ops rec_ops = {
	.read = rec_read,
	.write = rec_write,
};

static struct vback_xen_device *add_rec(struct vback_xen_domain *dom,
					uint64_t base, uint32_t irq,
					struct rec *r)
{
	struct vback_xen_device_options o = { 0 };
	struct vback_xen_device *xdev = NULL;

	o.base = base;
	o.irq = irq;
	assert_int_equal(xen_device_add_target(dom, &o, &rec_ops, r, &xdev), 0);
	return xdev;
}

static void test_setup_teardown(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d;
	struct vback_xen_domain *dom;
	struct vback_xen_domain_options o = { 0 };

	(void)state;
	d = fake_dom_create(h->fx, 3, 2, TEST_RAM_BASE, TEST_RAM_SIZE);
	assert_non_null(d);
	dom = harness_domain(h, 3, VBACK_XEN_IRQ_SPI);
	assert_int_equal(fake_dom_servers(d), 1);
	assert_int_equal(dom->nr_vcpus, 2);
	assert_true(dom->vcpus[0].bound && dom->vcpus[1].bound);
	/* No MMIO range is claimed before a device exists. */
	assert_int_equal(fake_dom_nr_ranges(d), 0);
	/* One server per domain per context. */
	o.domid = 3;
	assert_int_equal(vback_xen_domain_create(h->xen, &o, &dom), -EEXIST);
	o.domid = 9;
	assert_int_equal(vback_xen_domain_create(h->xen, &o, &dom), -ESRCH);
	vback_xen_domain_destroy(h->xen->domains);
	assert_int_equal(fake_dom_servers(d), 0);
	harness_free(h);
}

static void nop_event(void *opaque)
{
	(void)opaque;
}

/* The fake itself: vp_eport is garbage until map + enable. */
static void test_fake_vp_eport_rule(void **state)
{
	struct fake_xen *fx = fake_xen_create();
	struct vback_xen_platform *pf = fake_xen_platform_create(fx);
	const struct vback_xen_platform_ops *ops = pf->ops;
	struct fake_dom *d =
		fake_dom_create(fx, 5, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	volatile shared_iopage_t *page = NULL;
	void *addr = NULL;
	uint32_t local = 0;
	uint16_t id;

	(void)state;
	assert_int_equal(ops->create_ioreq_server(pf->opaque, 5, &id), 0);
	assert_int_equal(ops->map_ioreq_page(pf->opaque, 5, id, &addr), 0);
	page = addr;
	/* Mapped but not enabled: binding the value read fails. */
	assert_int_equal(ops->evtchn_bind(pf->opaque, 5,
					  page->vcpu_ioreq[0].vp_eport,
					  nop_event, NULL, &local),
			 -EINVAL);
	assert_int_equal(ops->set_ioreq_server_state(pf->opaque, 5, id, true),
			 0);
	assert_int_equal(ops->evtchn_bind(pf->opaque, 5,
					  page->vcpu_ioreq[0].vp_eport,
					  nop_event, NULL, &local),
			 0);
	assert_true(local > 0);
	/* No such server, no such domain. */
	assert_int_equal(ops->set_ioreq_server_state(pf->opaque, 5, 7, true),
			 -ENOENT);
	assert_int_equal(ops->set_ioreq_server_state(pf->opaque, 6, id, true),
			 -ESRCH);
	/* Held: the fake counts it, and a platform closed holding it is a
	 * failure. */
	assert_int_equal(fake_xen_open_handles(fx), 3);
	ops->evtchn_unbind(pf->opaque, local);
	ops->unmap_ioreq_page(pf->opaque, 5, id, addr);
	assert_int_equal(ops->destroy_ioreq_server(pf->opaque, 5, id), 0);
	fake_xen_platform_destroy(pf);
	assert_null(fake_xen_failure(fx));
	fake_xen_destroy(fx);
	(void)d;
}

static void test_mmio_dispatch_and_masking(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom = harness_domain(h, 1, VBACK_XEN_IRQ_SPI);
	struct rec a = { 0 }, b = { 0 };
	uint64_t v;

	(void)state;
	add_rec(dom, MMIO_BASE, 40, &a);
	/* Adjacent window: only works if the first claim's end is inclusive. */
	add_rec(dom, MMIO_BASE + 0x200, 41, &b);
	assert_true(fake_dom_range_claimed(d, MMIO_BASE, MMIO_BASE + 0x1ff));
	assert_true(fake_dom_range_claimed(d, MMIO_BASE + 0x200,
					   MMIO_BASE + 0x3ff));

	/* Xen passes the full register on writes: only the low bytes. */
	v = 0xdeadbeefcafe1234ull;
	assert_int_equal(fake_vcpu_mmio(d, 0, MMIO_BASE + 0x70, 2, 0, &v), 0);
	assert_int_equal(a.writes, 1);
	assert_int_equal(a.last_off, 0x70);
	assert_int_equal(a.last_size, 2);
	assert_int_equal(a.last_val, 0x1234);
	v = 0x1122334455667788ull;
	assert_int_equal(fake_vcpu_mmio(d, 0, MMIO_BASE + 0x1fc, 4, 0, &v), 0);
	assert_int_equal(a.last_val, 0x55667788);
	assert_int_equal(b.writes, 0);

	/* Reads are zero-extended to the access size. */
	a.read_val = ~0ull;
	assert_int_equal(fake_vcpu_mmio(d, 0, MMIO_BASE + 0x100, 1, 1, &v), 0);
	assert_int_equal(v, 0xff);
	assert_int_equal(fake_vcpu_mmio(d, 0, MMIO_BASE + 0x100, 4, 1, &v), 0);
	assert_int_equal(v, 0xffffffffu);
	b.read_val = 0x0123456789abcdefull;
	assert_int_equal(fake_vcpu_mmio(d, 0, MMIO_BASE + 0x200, 8, 1, &v), 0);
	assert_int_equal(v, 0x0123456789abcdefull);
	assert_int_equal(b.reads, 1);
	assert_int_equal(b.last_off, 0);

	/* Nobody claims the byte after the second window. */
	assert_int_equal(fake_vcpu_mmio(d, 0, MMIO_BASE + 0x400, 4, 1, &v),
			 -ENODEV);
	harness_free(h);
}

static void test_many_vcpus(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 2, 8, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom = harness_domain(h, 2, VBACK_XEN_IRQ_SPI);
	struct rec r = { 0 };
	unsigned int i;
	uint64_t v;

	(void)state;
	add_rec(dom, MMIO_BASE, 40, &r);
	for (i = 0; i < 8; i++) {
		v = i;
		assert_int_equal(fake_vcpu_mmio(d, i, MMIO_BASE + 4 * i, 4, 0,
						&v),
				 0);
		assert_int_equal(r.last_val, i);
		assert_int_equal(r.last_off, 4 * i);
	}
	assert_int_equal(r.writes, 8);
	harness_free(h);
}

static void test_unknown_types_complete(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom = harness_domain(h, 1, VBACK_XEN_IRQ_SPI);
	struct rec r = { 0 };
	ioreq_t req;
	uint8_t types[] = { IOREQ_TYPE_PIO, IOREQ_TYPE_PCI_CONFIG,
			    IOREQ_TYPE_TIMEOFFSET, 0x42 };
	unsigned int i;

	(void)state;
	add_rec(dom, MMIO_BASE, 40, &r);
	for (i = 0; i < sizeof(types); i++) {
		memset(&req, 0, sizeof(req));
		req.type = types[i];
		req.addr = MMIO_BASE; /* so the fake routes it to our server */
		req.size = 4;
		req.count = 1;
		req.dir = IOREQ_READ;
		/* The vCPU must not hang on any type. */
		assert_int_equal(fake_vcpu_ioreq(d, 0, &req), 0);
		assert_int_equal(req.data, 0xffffffffu);
	}
	assert_int_equal(r.reads + r.writes, 0);
	harness_free(h);
}

static void test_rep_and_pointer_refused(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom = harness_domain(h, 1, VBACK_XEN_IRQ_ISA);
	struct rec r = { 0 };
	ioreq_t req;

	(void)state;
	add_rec(dom, MMIO_BASE, 5, &r);
	memset(&req, 0, sizeof(req));
	req.type = IOREQ_TYPE_COPY;
	req.addr = MMIO_BASE;
	req.size = 4;
	req.count = 4; /* rep movs */
	req.dir = IOREQ_WRITE;
	assert_int_equal(fake_vcpu_ioreq(d, 0, &req), 0);
	req.count = 1;
	req.data_is_ptr = 1;
	req.data = TEST_RAM_BASE;
	req.dir = IOREQ_READ;
	assert_int_equal(fake_vcpu_ioreq(d, 0, &req), 0);
	/* The data field still holds the guest pointer, untouched. */
	assert_int_equal(req.data, TEST_RAM_BASE);
	/* Bad size: completed, device not called. */
	req.data_is_ptr = 0;
	req.size = 3;
	assert_int_equal(fake_vcpu_ioreq(d, 0, &req), 0);
	assert_int_equal(req.data, 0);
	assert_int_equal(r.reads + r.writes, 0);
	assert_int_equal(dom->rejected, 3);
	assert_true(h->errors > 0);
	harness_free(h);
}

static void test_invalidate_broadcast(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 1, 2, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom = harness_domain(h, 1, VBACK_XEN_IRQ_SPI);
	struct vback_xen_options xo = { 0 };
	struct vback_xen *xen2;
	struct vback_xen_platform *pf2;
	struct vback_xen_domain *dom2 = NULL;
	struct vback_xen_domain_options o = { 0 };
	struct rec r = { 0 };
	struct vback_xen_device *xdev = add_rec(dom, MMIO_BASE, 40, &r);
	struct vback_gm gm = xen_device_gm(xdev);
	uint64_t len = 8;
	void *p;

	(void)state;
	/* A second server on the same domain (another backend process). */
	xo.loop = h->loop;
	xo.log = &h->log;
	pf2 = fake_xen_platform_create(h->fx);
	xo.platform = pf2;
	assert_int_equal(vback_xen_create(&xo, &xen2), 0);
	o.domid = 1;
	assert_int_equal(vback_xen_domain_create(xen2, &o, &dom2), 0);
	assert_int_equal(fake_dom_servers(d), 2);

	p = gm.ops->map(gm.opaque, TEST_RAM_BASE, &len, VBACK_GM_READ);
	assert_non_null(p);
	gm.ops->unmap(gm.opaque, TEST_RAM_BASE, p, len, VBACK_GM_READ);
	assert_int_equal(fake_dom_foreign_pages(d), XEN_CHUNK_PAGES);
	/* The very first request a real Xen sends; both servers get it. */
	assert_int_equal(fake_dom_invalidate(d, 1), 0);
	assert_int_equal(dom->invalidates, 1);
	assert_int_equal(dom2->invalidates, 1);
	assert_int_equal(fake_dom_foreign_pages(d), 0);
	vback_xen_destroy(xen2);
	fake_xen_platform_destroy(pf2);
	harness_free(h);
}

static void test_irq_spi(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom = harness_domain(h, 1, VBACK_XEN_IRQ_SPI);
	struct rec r = { 0 };
	struct vback_xen_device *xdev = add_rec(dom, MMIO_BASE, 40, &r);

	(void)state;
	xen_device_set_irq(xdev, true);
	xen_device_set_irq(xdev, false); /* edge: nothing to do */
	xen_device_set_irq(xdev, true);
	assert_int_equal(fake_dom_irqs(d, 40), 2);
	harness_free(h);
}

static void test_irq_isa(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom = harness_domain(h, 1, VBACK_XEN_IRQ_ISA);
	struct vback_xen_device_options o = { 0 };
	struct vback_xen_device *xdev;
	struct rec r = { 0 };

	(void)state;
	o.base = MMIO_BASE;
	o.irq = 16; /* no such ISA line */
	assert_int_equal(xen_device_add_target(dom, &o, &rec_ops, &r, &xdev),
			 -EINVAL);
	xdev = add_rec(dom, MMIO_BASE, 5, &r);
	/* Assert then deassert: every notification is a new rising edge. */
	xen_device_set_irq(xdev, true);
	xen_device_set_irq(xdev, true);
	assert_int_equal(fake_dom_irqs(d, 5), 2);
	assert_false(fake_dom_isa_line(d, 5));
	harness_free(h);
}

static void test_limits(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen *more[8];
	struct vback_xen_platform *pfs[8];
	struct vback_xen_domain *dom = harness_domain(h, 1, VBACK_XEN_IRQ_SPI);
	struct vback_xen_domain *other;
	struct vback_xen_domain_options o = { 0 };
	struct vback_xen_options xo = { 0 };
	struct vback_xen_device_options dopt = { 0 };
	struct vback_xen_device *xdev;
	struct rec r = { 0 };
	unsigned int i;

	(void)state;
	/* 256 ranges per server. */
	for (i = 0; i < 256; i++)
		add_rec(dom, MMIO_BASE + 0x1000ull * i, 40, &r);
	dopt.base = MMIO_BASE + 0x1000ull * 256;
	assert_int_equal(xen_device_add_target(dom, &dopt, &rec_ops, &r, &xdev),
			 -ENOSPC);
	assert_int_equal(fake_dom_nr_ranges(d), 256);
	/* Overlap and wrap-around are refused before Xen is asked. */
	dopt.base = MMIO_BASE + 0x100;
	assert_int_equal(xen_device_add_target(dom, &dopt, &rec_ops, &r, &xdev),
			 -EEXIST);
	dopt.base = UINT64_MAX - 0x10;
	assert_int_equal(xen_device_add_target(dom, &dopt, &rec_ops, &r, &xdev),
			 -EINVAL);

	/* 8 servers per domain: 7 more contexts fit, the 8th does not. */
	xo.loop = h->loop;
	xo.log = &h->log;
	o.domid = 1;
	for (i = 0; i < 8; i++) {
		pfs[i] = fake_xen_platform_create(h->fx);
		xo.platform = pfs[i];
		assert_int_equal(vback_xen_create(&xo, &more[i]), 0);
		if (i < 7)
			assert_int_equal(vback_xen_domain_create(more[i], &o,
								 &other),
					 0);
		else
			assert_int_equal(vback_xen_domain_create(more[i], &o,
								 &other),
					 -ENOSPC);
	}
	assert_int_equal(fake_dom_servers(d), 8);
	for (i = 0; i < 8; i++) {
		vback_xen_destroy(more[i]);
		fake_xen_platform_destroy(pfs[i]);
	}
	harness_free(h);
}

static void test_remove_unclaims(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom = harness_domain(h, 1, VBACK_XEN_IRQ_SPI);
	struct rec r = { 0 };
	struct vback_xen_device *xdev = add_rec(dom, MMIO_BASE, 40, &r);
	uint64_t v = 0;

	(void)state;
	assert_int_equal(fake_vcpu_mmio(d, 0, MMIO_BASE, 4, 1, &v), 0);
	vback_xen_device_remove(xdev);
	assert_int_equal(fake_dom_nr_ranges(d), 0);
	assert_int_equal(fake_vcpu_mmio(d, 0, MMIO_BASE, 4, 1, &v), -ENODEV);
	/* The window is free again. */
	add_rec(dom, MMIO_BASE, 40, &r);
	harness_free(h);
}

static void test_domain_dies(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 4, 2, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom = harness_domain(h, 4, VBACK_XEN_IRQ_SPI);
	struct rec r = { 0 };
	struct vback_xen_device *xdev = add_rec(dom, MMIO_BASE, 40, &r);
	struct vback_gm gm = xen_device_gm(xdev);
	uint64_t len = 64;
	void *p;

	(void)state;
	p = gm.ops->map(gm.opaque, TEST_RAM_BASE + 0x3000, &len,
			VBACK_GM_WRITE);
	assert_non_null(p);
	fake_dom_destroy(d);
	/* Our mapping keeps the dead domain a zombie ... */
	assert_true(fake_dom_is_zombie(d));
	/* ... until the piece is released and the domain with it. A piece
	 * still held at release (IO in flight: the drain rule broken) is
	 * left mapped, never unmapped under the IO (test_xen_gm). */
	gm.ops->unmap(gm.opaque, TEST_RAM_BASE + 0x3000, p, len,
		      VBACK_GM_WRITE);
	assert_true(fake_dom_is_zombie(d)); /* cached until release */
	vback_xen_domain_destroy(dom);
	assert_false(fake_dom_is_zombie(d));
	harness_free(h);
}

/* The transport no longer hears its ports: the vCPU's events go nowhere. */
static void detach_events(struct harness *h, struct vback_xen_domain *dom)
{
	for (unsigned int i = 0; i < dom->nr_vcpus; i++) {
		h->pf->ops->evtchn_unbind(h->pf->opaque, dom->vcpus[i].local);
		dom->vcpus[i].bound = false;
	}
}

/* The fake itself: a backend whose slot state goes backwards crashes the
 * domain; one that never notifies hangs the vCPU. */
struct bad_backend {
	struct fake_dom *d;
	int fd;
	int step;
};

static void bad_backend_cb(void *opaque, int fd, uint32_t events)
{
	struct bad_backend *b = opaque;
	volatile ioreq_t *slot = fake_dom_slot(b->d, 0, 0);

	(void)fd;
	(void)events;
	if (b->step == 0)
		slot->state = STATE_IOREQ_INPROCESS;
	else if (b->step == 1)
		slot->state = STATE_IOREQ_READY; /* backwards */
	b->step++;
}

static void test_fake_state_backwards_crashes(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom = harness_domain(h, 1, VBACK_XEN_IRQ_SPI);
	struct rec r = { 0 };
	struct bad_backend b = { 0 };
	uint64_t one = 1, v = 0;

	(void)state;
	add_rec(dom, MMIO_BASE, 40, &r);
	/* Take the transport off its port and play a broken backend. */
	detach_events(h, dom);
	b.d = d;
	b.fd = eventfd(0, EFD_NONBLOCK);
	assert_true(write(b.fd, &one, sizeof(one)) == sizeof(one));
	assert_int_equal(vback_loop_watch(h->loop, b.fd, VBACK_EV_IN,
					  bad_backend_cb, &b),
			 0);
	assert_int_equal(fake_vcpu_mmio(d, 0, MMIO_BASE, 4, 1, &v), -EFAULT);
	assert_true(fake_dom_crashed(d));
	assert_non_null(strstr(fake_xen_failure(h->fx), "backwards"));
	fake_xen_clear_failure(h->fx);
	vback_loop_unwatch(h->loop, b.fd);
	close(b.fd);
	harness_free(h);
}

static void test_fake_no_answer_hangs(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom = harness_domain(h, 1, VBACK_XEN_IRQ_SPI);
	struct rec r = { 0 };
	uint64_t v = 0;

	(void)state;
	add_rec(dom, MMIO_BASE, 40, &r);
	detach_events(h, dom);
	assert_int_equal(fake_vcpu_mmio(d, 0, MMIO_BASE, 4, 1, &v), -ETIMEDOUT);
	assert_non_null(strstr(fake_xen_failure(h->fx), "hangs"));
	fake_xen_clear_failure(h->fx);
	harness_free(h);
}

/* Two guests, same addresses: each reaches only its own device/memory. */
static void test_two_domains_isolated(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d1 =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct fake_dom *d2 =
		fake_dom_create(h->fx, 2, 2, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom1 = harness_domain(h, 1, VBACK_XEN_IRQ_SPI);
	struct vback_xen_domain *dom2 = harness_domain(h, 2, VBACK_XEN_IRQ_SPI);
	struct rec r1 = { 0 }, r2 = { 0 };
	struct vback_xen_device *x1 = add_rec(dom1, MMIO_BASE, 40, &r1);
	struct vback_xen_device *x2 = add_rec(dom2, MMIO_BASE, 40, &r2);
	struct vback_gm g1 = xen_device_gm(x1), g2 = xen_device_gm(x2);
	uint64_t v = 1, len = 4;
	uint8_t *p1, *p2;

	(void)state;
	assert_int_equal(fake_vcpu_mmio(d1, 0, MMIO_BASE + 8, 4, 0, &v), 0);
	v = 2;
	assert_int_equal(fake_vcpu_mmio(d2, 1, MMIO_BASE + 8, 4, 0, &v), 0);
	assert_int_equal(r1.writes, 1);
	assert_int_equal(r1.last_val, 1);
	assert_int_equal(r2.writes, 1);
	assert_int_equal(r2.last_val, 2);
	memcpy(fake_dom_gpa(d1, TEST_RAM_BASE, 4), "dom1", 4);
	memcpy(fake_dom_gpa(d2, TEST_RAM_BASE, 4), "dom2", 4);
	p1 = g1.ops->map(g1.opaque, TEST_RAM_BASE, &len, VBACK_GM_READ);
	len = 4;
	p2 = g2.ops->map(g2.opaque, TEST_RAM_BASE, &len, VBACK_GM_READ);
	assert_memory_equal(p1, "dom1", 4);
	assert_memory_equal(p2, "dom2", 4);
	g1.ops->unmap(g1.opaque, TEST_RAM_BASE, p1, 4, VBACK_GM_READ);
	g2.ops->unmap(g2.opaque, TEST_RAM_BASE, p2, 4, VBACK_GM_READ);
	vback_xen_domain_destroy(dom1);
	/* The other guest is still served. */
	assert_int_equal(fake_vcpu_mmio(d2, 0, MMIO_BASE + 8, 4, 1, &v), 0);
	assert_int_equal(fake_dom_servers(d1), 0);
	harness_free(h);
}

/* The production table on a host without Xen: a clean error, no leak. */
static void test_real_libraries_absent(void **state)
{
	struct vback_xen_options o = { 0 };
	struct vback_loop *loop;
	struct vback_xen *xen = NULL;

	(void)state;
	if (access("/dev/xen/privcmd", F_OK) == 0)
		skip();
	assert_int_equal(vback_epoll_loop_create(NULL, &loop), 0);
	o.loop = loop;
	assert_true(vback_xen_create(&o, &xen) < 0);
	assert_null(xen);
	o.loop = NULL;
	assert_int_equal(vback_xen_create(&o, &xen), -EINVAL);
	vback_epoll_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_setup_teardown),
		cmocka_unit_test(test_fake_vp_eport_rule),
		cmocka_unit_test(test_mmio_dispatch_and_masking),
		cmocka_unit_test(test_many_vcpus),
		cmocka_unit_test(test_unknown_types_complete),
		cmocka_unit_test(test_rep_and_pointer_refused),
		cmocka_unit_test(test_invalidate_broadcast),
		cmocka_unit_test(test_irq_spi),
		cmocka_unit_test(test_irq_isa),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_remove_unclaims),
		cmocka_unit_test(test_domain_dies),
		cmocka_unit_test(test_fake_state_backwards_crashes),
		cmocka_unit_test(test_fake_no_answer_hangs),
		cmocka_unit_test(test_two_domains_isolated),
		cmocka_unit_test(test_real_libraries_absent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
