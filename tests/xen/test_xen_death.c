/* SPDX-License-Identifier: MIT */
/*
 * The died() callback of struct vback_xen_domain_options: domains served
 * without xenstore discovery learn of their guest's death through
 * @releaseDomain, on the fake Xen.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fake_xen_priv.h"
#include "harness.h"

#define MAX_CALLS 8

/* A foreign mapping held through a device, as a request holds one. */
struct piece {
	struct vback_gm gm;
	void *host;
	uint64_t len;
};

static struct piece pieces[MAX_CALLS]; /* by domid % MAX_CALLS */

static void piece_release(uint16_t domid)
{
	struct piece *p = &pieces[domid % MAX_CALLS];

	assert_non_null(p->host);
	p->gm.ops->unmap(p->gm.opaque, TEST_RAM_BASE + 0x3000, p->host, p->len,
			 VBACK_GM_WRITE);
	p->host = NULL;
}

/* What died() saw, and what it does. */
struct deaths {
	unsigned int calls;
	uint16_t domids[MAX_CALLS];
	/* Release the domain from inside died(), as the daemon does. */
	bool destroy;
	struct vback_xen_device *xdev[MAX_CALLS]; /* by domid % MAX_CALLS */
	unsigned int destroyed;
};

static void on_died(void *opaque, struct vback_xen_domain *dom)
{
	struct deaths *d = opaque;
	uint16_t domid = vback_xen_domain_id(dom);

	assert_true(d->calls < MAX_CALLS);
	d->domids[d->calls++] = domid;
	if (!d->destroy)
		return;
	/* The daemon's order: requests drain, device goes, domain last. */
	piece_release(domid);
	vback_xen_device_remove(d->xdev[domid % MAX_CALLS]);
	d->xdev[domid % MAX_CALLS] = NULL;
	vback_xen_domain_destroy(dom);
	d->destroyed++;
}

static int nop_read(void *opaque, uint64_t off, unsigned int size,
		    uint64_t *val)
{
	(void)opaque;
	(void)off;
	(void)size;
	*val = 0;
	return 0;
}

static int nop_write(void *opaque, uint64_t off, unsigned int size,
		     uint64_t val)
{
	(void)opaque;
	(void)off;
	(void)size;
	(void)val;
	return 0;
}

static const struct xen_target_ops nop_ops = {
	.read = nop_read,
	.write = nop_write,
};

static struct vback_xen_domain *watched_domain(struct harness *h,
					       uint16_t domid, struct deaths *d)
{
	struct vback_xen_domain_options o = { 0 };
	struct vback_xen_domain *dom = NULL;

	o.domid = domid;
	o.irq_mode = VBACK_XEN_IRQ_SPI;
	o.died = on_died;
	o.opaque = d;
	assert_int_equal(vback_xen_domain_create(h->xen, &o, &dom), 0);
	return dom;
}

/* A window, and a foreign mapping of guest RAM held through it. */
static struct vback_xen_device *map_something(struct vback_xen_domain *dom)
{
	struct vback_xen_device_options o = { 0 };
	struct vback_xen_device *xdev = NULL;
	struct piece *p = &pieces[vback_xen_domain_id(dom) % MAX_CALLS];

	o.base = MMIO_BASE;
	o.irq = 40;
	assert_int_equal(xen_device_add_target(dom, &o, &nop_ops, NULL, &xdev),
			 0);
	p->gm = xen_device_gm(xdev);
	p->len = 64;
	p->host = p->gm.ops->map(p->gm.opaque, TEST_RAM_BASE + 0x3000, &p->len,
				 VBACK_GM_WRITE);
	assert_non_null(p->host);
	return xdev;
}

static unsigned int bound_ports(const struct fake_dom *d)
{
	unsigned int i, n = 0;

	for (i = 0; i < d->ngports; i++)
		n += d->gports[i].peer != NULL;
	return n;
}

/* Called once, for the dead domain only; not again on a later event. */
static void test_died_once(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d3 =
		fake_dom_create(h->fx, 3, 2, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct fake_dom *d4 =
		fake_dom_create(h->fx, 4, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct fake_dom *d9 =
		fake_dom_create(h->fx, 9, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct deaths dd = { 0 };
	struct vback_xen_domain *dom3, *dom4;

	(void)state;
	dom3 = watched_domain(h, 3, &dd);
	dom4 = watched_domain(h, 4, &dd);
	map_something(dom3);
	/* The watch's initial event: both alive, nothing reported. */
	harness_settle(h);
	assert_int_equal(dd.calls, 0);

	fake_dom_destroy(d3);
	harness_settle(h);
	assert_int_equal(dd.calls, 1);
	assert_int_equal(dd.domids[0], 3);
	/* Kept by the callee: the mapping still makes it a zombie ... */
	assert_true(fake_dom_is_zombie(d3));
	/* ... and a later @releaseDomain does not report it again. */
	fake_dom_destroy(d9);
	harness_settle(h);
	assert_int_equal(dd.calls, 1);
	/* The living domain kept its server. */
	assert_int_equal(fake_dom_servers(d4), 1);
	assert_int_equal(bound_ports(d4), 1);

	piece_release(3);
	vback_xen_domain_destroy(dom3);
	assert_false(fake_dom_is_zombie(d3));
	fake_dom_destroy(d4);
	harness_settle(h);
	assert_int_equal(dd.calls, 2);
	assert_int_equal(dd.domids[1], 4);
	vback_xen_domain_destroy(dom4);
	if (h->errors)
		print_message("log: %s\n", h->last_log);
	assert_int_equal(h->errors, 0);
	harness_free(h);
}

/* Another guest's death fires @releaseDomain: the living one is quiet. */
static void test_other_domain_dies(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d1 =
		fake_dom_create(h->fx, 1, 2, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct fake_dom *d2 =
		fake_dom_create(h->fx, 2, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct fake_dom *d5 =
		fake_dom_create(h->fx, 5, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct deaths dd = { 0 };
	struct vback_xen_domain *dom1, *dom5;
	uint64_t v = 0;

	(void)state;
	dom1 = watched_domain(h, 1, &dd);
	map_something(dom1);
	/* Served, but without died(): not watched. */
	dom5 = harness_domain(h, 5, VBACK_XEN_IRQ_SPI);
	fake_dom_destroy(d2); /* never served */
	harness_settle(h);
	fake_dom_destroy(d5);
	harness_settle(h);
	assert_int_equal(dd.calls, 0);
	/* Domain 1 is served as before. */
	assert_int_equal(fake_dom_servers(d1), 1);
	assert_int_equal(fake_vcpu_mmio(d1, 1, MMIO_BASE, 4, IOREQ_READ, &v),
			 0);
	vback_xen_domain_destroy(dom5);
	piece_release(1); /* drained first, as documented */
	vback_xen_domain_destroy(dom1);
	harness_check(h);
	harness_free(h);
}

/* The callee releases the domain from died(): nothing of it is left, and
 * two deaths in one event are both reported. */
static void test_destroy_inside_died(void **state)
{
	struct harness *h = harness_new();
	struct fake_dom *d6 =
		fake_dom_create(h->fx, 6, 2, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct fake_dom *d7 =
		fake_dom_create(h->fx, 7, 3, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct deaths dd = { .destroy = true };
	unsigned int handles;

	(void)state;
	handles = fake_xen_open_handles(h->fx);
	dd.xdev[6] = map_something(watched_domain(h, 6, &dd));
	dd.xdev[7] = map_something(watched_domain(h, 7, &dd));
	harness_settle(h);
	assert_int_equal(fake_dom_foreign_pages(d6), XEN_CHUNK_PAGES);
	assert_int_equal(bound_ports(d7), 3);

	fake_dom_destroy(d6);
	fake_dom_destroy(d7);
	assert_true(fake_dom_is_zombie(d6));
	harness_settle(h);
	assert_int_equal(dd.calls, 2);
	assert_int_equal(dd.destroyed, 2);
	assert_int_not_equal(dd.domids[0], dd.domids[1]);
	assert_null(h->xen->domains);
	assert_false(fake_dom_is_zombie(d6));
	assert_false(fake_dom_is_zombie(d7));
	assert_int_equal(fake_dom_foreign_pages(d6), 0);
	assert_int_equal(fake_dom_foreign_pages(d7), 0);
	assert_int_equal(fake_dom_nr_ranges(d6), 0);
	assert_int_equal(bound_ports(d6), 0);
	assert_int_equal(bound_ports(d7), 0);
	/* Only the context's xenstore handle is left of both domains. */
	assert_int_equal(fake_xen_open_handles(h->fx), handles + 1);
	harness_settle(h);
	assert_int_equal(dd.calls, 2);
	if (h->errors)
		print_message("log: %s\n", h->last_log);
	assert_int_equal(h->errors, 0);
	harness_free(h);
}

/* @releaseDomain is watched only for domains with died(), once per
 * context. */
static void test_xenstore_lazy(void **state)
{
	struct harness *h = harness_new();
	struct deaths dd = { 0 };
	struct vback_xen_domain *a, *b, *c;
	unsigned int handles;

	(void)state;
	fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	fake_dom_create(h->fx, 2, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	fake_dom_create(h->fx, 3, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	handles = fake_xen_open_handles(h->fx);
	a = harness_domain(h, 1, VBACK_XEN_IRQ_SPI);
	/* One bound port and the ioreq page, no watch. */
	assert_int_equal(fake_xen_open_handles(h->fx), handles + 2);
	b = watched_domain(h, 2, &dd);
	assert_int_equal(fake_xen_open_handles(h->fx), handles + 5);
	c = watched_domain(h, 3, &dd);
	assert_int_equal(fake_xen_open_handles(h->fx), handles + 7);
	vback_xen_domain_destroy(a);
	vback_xen_domain_destroy(b);
	vback_xen_domain_destroy(c);
	/* Kept until the context goes (harness_free checks it closes). */
	assert_int_equal(fake_xen_open_handles(h->fx), handles + 1);
	harness_free(h);
}

/* No xenstore: served anyway, one warning, death not noticed. */
static void test_no_xenstore(void **state)
{
	struct harness *h = harness_new();
	struct vback_xen_options xo = { 0 };
	struct vback_xen_platform nostore = *h->pf;
	struct vback_xen *xen = NULL;
	struct fake_dom *d1 =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain_options o = { 0 };
	struct vback_xen_domain *dom1 = NULL, *dom2 = NULL;
	struct deaths dd = { 0 };
	uint64_t v = 0;

	(void)state;
	fake_dom_create(h->fx, 2, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	nostore.store = NULL;
	xo.loop = h->loop;
	xo.log = &h->log;
	xo.platform = &nostore;
	assert_int_equal(vback_xen_create(&xo, &xen), 0);
	o.irq_mode = VBACK_XEN_IRQ_SPI;
	o.died = on_died;
	o.opaque = &dd;
	o.domid = 1;
	assert_int_equal(vback_xen_domain_create(xen, &o, &dom1), 0);
	assert_int_equal(h->errors, 1);
	assert_non_null(strstr(h->last_log, "@releaseDomain"));
	o.domid = 2;
	assert_int_equal(vback_xen_domain_create(xen, &o, &dom2), 0);
	assert_int_equal(h->errors, 1); /* logged once */
	map_something(dom1);
	assert_int_equal(fake_vcpu_mmio(d1, 0, MMIO_BASE, 4, IOREQ_READ, &v),
			 0);
	fake_dom_destroy(d1);
	harness_settle(h);
	assert_int_equal(dd.calls, 0);
	piece_release(1); /* drained first, as documented */
	vback_xen_domain_destroy(dom1);
	vback_xen_domain_destroy(dom2);
	vback_xen_destroy(xen);
	harness_free(h);
}

static int denied_domain_exists(void *opaque, uint16_t domid)
{
	(void)opaque;
	(void)domid;
	return -EACCES; /* a DomU's xenstore connection may not ask */
}

/*
 * A store that cannot tell whether a domain exists (a driver domain's
 * unprivileged xenstore connection answers EACCES) must not be read as
 * "the guest died": the domain is served on, one warning says why death is
 * not noticed. Before, a false from xs_is_domain_introduced() released the
 * guest 30 ms after serving started.
 */
static void test_cannot_ask_is_not_death(void **state)
{
	struct harness *h = harness_new();
	struct vback_xen_options xo = { 0 };
	struct vback_xen_store_ops st = *h->pf->store;
	struct vback_xen_platform denied = *h->pf;
	struct vback_xen *xen = NULL;
	struct fake_dom *d1 =
		fake_dom_create(h->fx, 1, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain_options o = { 0 };
	struct vback_xen_domain *dom1 = NULL;
	struct deaths dd = { 0 };
	uint64_t v = 0;

	(void)state;
	st.domain_exists = denied_domain_exists;
	denied.store = &st;
	xo.loop = h->loop;
	xo.log = &h->log;
	xo.platform = &denied;
	assert_int_equal(vback_xen_create(&xo, &xen), 0);
	o.irq_mode = VBACK_XEN_IRQ_SPI;
	o.died = on_died;
	o.opaque = &dd;
	o.domid = 1;
	assert_int_equal(vback_xen_domain_create(xen, &o, &dom1), 0);
	map_something(dom1);
	/* The watch fires once at once, and again for another domain. */
	harness_settle(h);
	fake_dom_create(h->fx, 2, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	fake_dom_destroy(fake_dom_find(h->fx, 2));
	harness_settle(h);
	assert_int_equal(dd.calls, 0);
	assert_int_equal(h->errors, 1);
	assert_non_null(strstr(h->last_log, "Permission denied"));
	assert_int_equal(fake_vcpu_mmio(d1, 0, MMIO_BASE, 4, IOREQ_READ, &v),
			 0);
	piece_release(1); /* drained first, as documented */
	vback_xen_domain_destroy(dom1);
	vback_xen_destroy(xen);
	harness_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_died_once),
		cmocka_unit_test(test_other_domain_dies),
		cmocka_unit_test(test_destroy_inside_died),
		cmocka_unit_test(test_xenstore_lazy),
		cmocka_unit_test(test_no_xenstore),
		cmocka_unit_test(test_cannot_ask_is_not_death),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
