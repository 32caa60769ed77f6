/* SPDX-License-Identifier: MIT */
/* Shared set-up of the Xen transport tests: a loop, a fake Xen, a context. */
#ifndef VBACK_TESTS_XEN_HARNESS_H
#define VBACK_TESTS_XEN_HARNESS_H

#include <stdio.h>
#include <string.h>

#include <vback/epoll.h>

#include "fake_xen.h"
#include "xen_priv.h"

#define TEST_RAM_BASE 0x40000000ull /* Arm's GUEST_RAM0_BASE */
#define TEST_RAM_SIZE (16ull << 20)
#define MMIO_BASE     0x02000000ull

struct harness {
	struct vback_loop *loop;
	struct fake_xen *fx;
	struct vback_xen_platform *pf;
	struct vback_xen *xen;
	struct vback_log log;
	char last_log[256];
	unsigned int errors;
};

static void harness_log(void *opaque, enum vback_log_level level,
			const char *msg)
{
	struct harness *h = opaque;

	if (level <= VBACK_LOG_WARN) {
		h->errors++;
		snprintf(h->last_log, sizeof(h->last_log), "%s", msg);
	}
}

/* A context on a platform running in domain @self (0: Dom0). */
static inline struct harness *harness_new_in(uint16_t self)
{
	struct harness *h = calloc(1, sizeof(*h));
	struct vback_xen_options o = { 0 };

	assert_non_null(h);
	h->log.fn = harness_log;
	h->log.opaque = h;
	h->log.max_level = VBACK_LOG_INFO;
	assert_int_equal(vback_epoll_loop_create(&h->log, &h->loop), 0);
	h->fx = fake_xen_create();
	assert_non_null(h->fx);
	fake_xen_set_loop(h->fx, h->loop);
	h->pf = fake_xen_platform_create_in(h->fx, self);
	assert_non_null(h->pf);
	o.loop = h->loop;
	o.log = &h->log;
	o.platform = h->pf;
	assert_int_equal(vback_xen_create(&o, &h->xen), 0);
	return h;
}

static inline struct harness *harness_new(void)
{
	return harness_new_in(0);
}

/* Tear down and check that no Xen rule was broken and nothing leaked. */
static inline void harness_free(struct harness *h)
{
	const char *why;

	vback_xen_destroy(h->xen);
	/* The platform alone is left: one handle. */
	assert_int_equal(fake_xen_open_handles(h->fx), 1);
	fake_xen_platform_destroy(h->pf);
	why = fake_xen_failure(h->fx);
	if (why)
		fail_msg("fake Xen: %s", why);
	fake_xen_destroy(h->fx);
	vback_epoll_loop_destroy(h->loop);
	free(h);
}

static inline void harness_check(struct harness *h)
{
	const char *why = fake_xen_failure(h->fx);

	if (why)
		fail_msg("fake Xen: %s", why);
}

/* Run the loop until nothing is ready. */
static inline void harness_settle(struct harness *h)
{
	int i;

	for (i = 0; i < 100; i++)
		if (vback_loop_run_once(h->loop, 0) <= 0)
			break;
}

static inline struct vback_xen_domain *
harness_domain(struct harness *h, uint16_t domid, enum vback_xen_irq_mode mode)
{
	struct vback_xen_domain_options o = { 0 };
	struct vback_xen_domain *dom = NULL;

	o.domid = domid;
	o.irq_mode = mode;
	assert_int_equal(vback_xen_domain_create(h->xen, &o, &dom), 0);
	return dom;
}

#endif /* VBACK_TESTS_XEN_HARNESS_H */
