/* SPDX-License-Identifier: MIT */
/*
 * The transport in a driver domain: the platform runs in DomU 3 (bk), not
 * Dom0, on a fake Xen that enforces the dummy XSM policy (DM ops and
 * foreign maps only for the target set with XEN_DOMCTL_set_target) and,
 * when asked, SILO (no event channels between two DomUs). A missing or
 * refused relation is one error line naming the cause and the fix; with
 * the relation the guest is served as from Dom0, and nothing else is; the
 * backend finds its own backend/ tree from its xenstore home; a "cannot
 * tell" from xenstore (EACCES) is never taken for a death.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fake_mmio.h"
#include "harness.h"

#define BK    3 /* the driver domain */
#define GUEST 5
#define OTHER 6 /* an unrelated DomU */

static void assert_logged(struct harness *h, const char *a, const char *b)
{
	if (!strstr(h->last_log, a) || (b && !strstr(h->last_log, b)))
		fail_msg("log line lacks '%s'/'%s': %s", a, b ? b : "",
			 h->last_log);
}

static int create(struct harness *h, uint16_t domid,
		  struct vback_xen_domain **dom)
{
	struct vback_xen_domain_options o = { 0 };

	o.domid = domid;
	o.irq_mode = VBACK_XEN_IRQ_SPI;
	*dom = NULL;
	return vback_xen_domain_create(h->xen, &o, dom);
}

/* No XEN_DOMCTL_set_target: the first DM op is refused. */
static void test_no_target(void **state)
{
	struct harness *h = harness_new_in(BK);
	struct fake_dom *g =
		fake_dom_create(h->fx, GUEST, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom;

	(void)state;
	assert_int_equal(create(h, GUEST, &dom), -EPERM);
	assert_null(dom);
	assert_int_equal(h->errors, 1);
	assert_logged(h, "not dom5's device model", "vback-xen-target");
	assert_logged(h, "xen-privcmd", NULL);
	assert_int_equal(fake_dom_servers(g), 0);
	harness_free(h);
}

/* The relation is there, SILO refuses the server's event channels. */
static void test_silo(void **state)
{
	struct harness *h = harness_new_in(BK);
	struct fake_dom *g =
		fake_dom_create(h->fx, GUEST, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_domain *dom;

	(void)state;
	assert_int_equal(fake_xen_set_target(h->fx, BK, GUEST), 0);
	fake_xen_set_silo(h->fx, true);
	assert_int_equal(create(h, GUEST, &dom), -EPERM);
	assert_int_equal(h->errors, 1);
	assert_logged(h, "xsm=dummy", "SILO");
	assert_logged(h, "FLASK", NULL);
	assert_int_equal(fake_dom_servers(g), 0);
	harness_free(h);
}

/* With the relation: served as from Dom0. An unrelated domain is not:
 * neither its IOREQ server nor its memory, whatever the core tries. */
static void test_served_and_isolated(void **state)
{
	struct harness *h = harness_new_in(BK);
	struct fake_dom *g =
		fake_dom_create(h->fx, GUEST, 2, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct fake_dom *o =
		fake_dom_create(h->fx, OTHER, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	struct vback_xen_device_options dopt = { 0 };
	struct vback_xen_device *xdev = NULL;
	struct vback_xen_domain *dom, *other;
	struct vback_dev *fake_dev = (struct vback_dev *)(void *)&dopt;
	uint64_t gfn = TEST_RAM_BASE >> 12, v = 0;
	int err = 0;
	void *addr = NULL;

	(void)state;
	assert_int_equal(fake_xen_set_target(h->fx, BK, GUEST), 0);
	/* Once per backend domain, as in Xen. */
	assert_int_equal(fake_xen_set_target(h->fx, BK, OTHER), -EINVAL);
	assert_int_equal(create(h, GUEST, &dom), 0);
	dopt.dev = fake_dev;
	dopt.base = MMIO_BASE;
	dopt.irq = 33;
	assert_int_equal(vback_xen_device_add(dom, &dopt, &xdev), 0);
	assert_int_equal(fake_vcpu_mmio(g, 1, MMIO_BASE, 4, IOREQ_READ, &v), 0);
	assert_int_equal(v, FAKE_MMIO_MAGIC);
	fake_mmio_raise(fake_mmio_of(fake_dev));
	assert_int_equal(fake_dom_irqs(g, 33), 1);
	assert_int_equal(h->errors, 0);

	assert_int_equal(create(h, OTHER, &other), -EPERM);
	assert_int_equal(fake_dom_servers(o), 0);
	assert_int_equal(h->pf->ops->map_foreign(h->pf->opaque, OTHER, &gfn, 1,
						 &err, &addr),
			 -EPERM);
	assert_int_equal(fake_dom_foreign_pages(o), 0);

	vback_xen_device_remove(xdev);
	vback_xen_domain_destroy(dom);
	harness_check(h);
	harness_free(h);
}

/* ------------------------------------------------------------------ */
/* Discovery from the driver domain's own backend/ tree                */
/* ------------------------------------------------------------------ */

struct be_user {
	unsigned int adds, removes;
	struct vback_xen_device_config last;
	int dev[2];
};

static int u_add(void *opaque, const struct vback_xen_device_config *cfg,
		 struct vback_dev **dev)
{
	struct be_user *u = opaque;

	u->last = *cfg;
	*dev = (struct vback_dev *)(void *)&u->dev[u->adds++ % 2];
	return 0;
}

static void u_remove(void *opaque, const struct vback_xen_device_config *cfg,
		     struct vback_dev *dev)
{
	struct be_user *u = opaque;

	(void)cfg;
	assert_true(dev == (void *)&u->dev[0] || dev == (void *)&u->dev[1]);
	u->removes++;
}

static const struct vback_xen_backend_ops u_ops = { .add = u_add,
						    .remove = u_remove };

static void xw(struct harness *h, const char *dir, const char *name,
	       const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(fake_xs_write(h->fx, path, val), 0);
}

static void test_self_domid(void **state)
{
	struct harness *h = harness_new_in(BK);
	uint16_t id = 0;

	(void)state;
	assert_int_equal(vback_xen_self_domid(h->xen, &id), -ENOENT);
	assert_int_equal(fake_xs_write(h->fx, "/local/domain/3/domid", "x"), 0);
	assert_int_equal(vback_xen_self_domid(h->xen, &id), -EINVAL);
	assert_int_equal(fake_xs_write(h->fx, "/local/domain/3/domid", "32752"),
			 0);
	assert_int_equal(vback_xen_self_domid(h->xen, &id), -EINVAL);
	/* Another domain's node is not ours. */
	assert_int_equal(fake_xs_write(h->fx, "/local/domain/0/domid", "0"), 0);
	assert_int_equal(fake_xs_write(h->fx, "/local/domain/3/domid", "3"), 0);
	assert_int_equal(vback_xen_self_domid(h->xen, &id), 0);
	assert_int_equal(id, BK);
	assert_int_equal(vback_xen_self_domid(NULL, &id), -EINVAL);
	harness_free(h);
}

/* libxl with backend=bk: the nodes live under bk's own tree, in both
 * layouts. */
static void test_discovery(void **state)
{
	struct harness *h = harness_new_in(BK);
	struct fake_dom *g =
		fake_dom_create(h->fx, GUEST, 1, TEST_RAM_BASE, TEST_RAM_SIZE);
	const char *be = "/local/domain/3/backend/virtio_disk/5/51712";
	const char *fe = "/local/domain/5/device/virtio_disk/51712";
	struct vback_xen_backend_options o = { 0 };
	struct vback_xen_backend *b = NULL;
	struct be_user u = { 0 };
	uint16_t self = 0;
	char *st;

	(void)state;
	assert_int_equal(fake_xen_set_target(h->fx, BK, GUEST), 0);
	xw(h, "/local/domain/3", "domid", "3");
	xw(h, fe, "backend", be);
	xw(h, fe, "state", "1");
	xw(h, be, "frontend", fe);
	xw(h, be, "params", "/srv/disk.img");
	xw(h, be, "mode", "w");
	xw(h, be, "base", "33554432");
	xw(h, be, "irq", "33");
	xw(h, be, "type", "standalone");
	xw(h, be, "online", "1");
	xw(h, be, "state", "1");
	/* Xen 4.18's layout, in the same tree (base in hexadecimal). */
	xw(h, "/local/domain/5/device/virtio/1", "state", "1");
	xw(h, "/local/domain/3/backend/virtio/5/1", "frontend",
	   "/local/domain/5/device/virtio/1");
	xw(h, "/local/domain/3/backend/virtio/5/1", "type", "virtio,device2");
	xw(h, "/local/domain/3/backend/virtio/5/1", "transport", "mmio");
	xw(h, "/local/domain/3/backend/virtio/5/1", "base", "0x2000200");
	xw(h, "/local/domain/3/backend/virtio/5/1", "irq", "34");
	xw(h, "/local/domain/3/backend/virtio/5/1", "state", "1");
	/* A Dom0 tree this domain has nothing to do with. */
	xw(h, "/local/domain/0/backend/virtio_disk/5/51728", "state", "1");

	assert_int_equal(vback_xen_self_domid(h->xen, &self), 0);
	o.ops = &u_ops;
	o.opaque = &u;
	o.backend_domid = self;
	o.irq_mode = VBACK_XEN_IRQ_SPI;
	assert_int_equal(vback_xen_backend_start(h->xen, &o, &b), 0);
	harness_settle(h);
	assert_int_equal(u.adds, 2);
	assert_int_equal(u.last.domid, GUEST);
	/* Not Dom0: grants by default, as libxl gives the guest. */
	assert_true(u.last.grant_usage);
	st = fake_xs_read(h->fx, "/local/domain/3/backend/virtio_disk/5/51712/"
				 "state");
	assert_string_equal(st, "2");
	free(st);
	assert_true(fake_dom_range_claimed(g, 0x2000000, 0x20001ff));
	assert_true(fake_dom_range_claimed(g, 0x2000200, 0x20003ff));
	st = fake_xs_read(h->fx, "/local/domain/3/backend/virtio/5/1/state");
	assert_string_equal(st, "2");
	free(st);

	/* Some domain died: xenstore will not say which to a DomU (EACCES).
	 * Not knowing is not a death: the guest is still served. */
	fake_dom_destroy(
		fake_dom_create(h->fx, 9, 1, TEST_RAM_BASE, TEST_RAM_SIZE));
	harness_settle(h);
	assert_int_equal(u.removes, 0);
	assert_true(fake_dom_range_claimed(g, 0x2000000, 0x20001ff));

	/* The toolstack tears the devices down: released. */
	assert_int_equal(fake_xs_rm(h->fx, be), 0);
	harness_settle(h);
	assert_int_equal(u.removes, 1);
	assert_int_equal(fake_dom_servers(g), 1);
	assert_int_equal(fake_xs_rm(h->fx,
				    "/local/domain/3/backend/virtio/5/1"),
			 0);
	harness_settle(h);
	assert_int_equal(u.removes, 2);
	assert_int_equal(fake_dom_servers(g), 0);
	vback_xen_backend_stop(b);
	assert_int_equal(h->errors, 0);
	harness_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_target),
		cmocka_unit_test(test_silo),
		cmocka_unit_test(test_served_and_isolated),
		cmocka_unit_test(test_self_domid),
		cmocka_unit_test(test_discovery),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
