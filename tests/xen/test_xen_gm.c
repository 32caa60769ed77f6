/* SPDX-License-Identifier: MIT */
/* Guest-memory views: the foreign-mapping cache and grant mappings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define CHUNK		 (1ull << XEN_CHUNK_SHIFT)
#define GRANT(gref, off) (XEN_GRANT_ADDR_BIT | ((uint64_t)(gref) << 12) | (off))

struct fixture {
	struct harness *h;
	struct fake_dom *d;
	struct vback_xen_domain *dom;
	struct vback_gm fgm, ggm;
};

static struct fixture *fixture_new(unsigned int cache_mib, uint64_t ram)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vback_xen_domain_options o = { 0 };

	assert_non_null(f);
	f->h = harness_new();
	f->d = fake_dom_create(f->h->fx, 7, 1, TEST_RAM_BASE, ram);
	assert_non_null(f->d);
	o.domid = 7;
	o.irq_mode = VBACK_XEN_IRQ_SPI;
	o.map_cache_mib = cache_mib;
	assert_int_equal(vback_xen_domain_create(f->h->xen, &o, &f->dom), 0);
	f->fgm = f->dom->gm_foreign;
	f->ggm = f->dom->gm_grant;
	return f;
}

static void fixture_free(struct fixture *f)
{
	vback_xen_domain_destroy(f->dom);
	assert_int_equal(fake_dom_foreign_pages(f->d), 0);
	assert_int_equal(fake_dom_grant_pages(f->d), 0);
	harness_free(f->h);
	free(f);
}

static void *gmap(struct vback_gm *gm, uint64_t addr, uint64_t *len,
		  unsigned int access)
{
	return gm->ops->map(gm->opaque, addr, len, access);
}

static void gunmap(struct vback_gm *gm, uint64_t addr, void *p, uint64_t len,
		   unsigned int access)
{
	gm->ops->unmap(gm->opaque, addr, p, len, access);
}

static void test_foreign_data(void **state)
{
	struct fixture *f = fixture_new(0, TEST_RAM_SIZE);
	uint64_t addr = TEST_RAM_BASE + 5 * CHUNK + 0x1234, len = 100;
	uint8_t *guest = fake_dom_gpa(f->d, addr, 100);
	uint8_t *p;

	(void)state;
	memcpy(guest, "from the guest", 15);
	p = gmap(&f->fgm, addr, &len, VBACK_GM_READ | VBACK_GM_WRITE);
	assert_non_null(p);
	assert_int_equal(len, 100);
	/* Same memory, another mapping: both directions are visible. */
	assert_memory_equal(p, "from the guest", 15);
	memcpy(p + 20, "from the backend", 17);
	assert_memory_equal(guest + 20, "from the backend", 17);
	gunmap(&f->fgm, addr, p, len, VBACK_GM_READ | VBACK_GM_WRITE);
	fixture_free(f);
}

static void test_foreign_shortened_at_chunk_end(void **state)
{
	struct fixture *f = fixture_new(0, TEST_RAM_SIZE);
	uint64_t addr = TEST_RAM_BASE + 2 * CHUNK - 100, len = 4096;
	uint64_t total = 0, a = addr;
	void *p;

	(void)state;
	p = gmap(&f->fgm, addr, &len, VBACK_GM_READ);
	assert_non_null(p);
	assert_int_equal(len, 100);
	gunmap(&f->fgm, addr, p, len, VBACK_GM_READ);
	/* Callers loop over pieces. */
	while (total < 4096) {
		len = 4096 - total;
		p = gmap(&f->fgm, a, &len, VBACK_GM_READ);
		assert_non_null(p);
		gunmap(&f->fgm, a, p, len, VBACK_GM_READ);
		total += len;
		a += len;
	}
	assert_int_equal(total, 4096);
	fixture_free(f);
}

static void test_foreign_outside_ram(void **state)
{
	/* RAM ends 64 KiB into its last chunk. */
	struct fixture *f = fixture_new(0, 3 * CHUNK + 0x10000);
	uint64_t end = TEST_RAM_BASE + 3 * CHUNK + 0x10000;
	uint64_t len;
	void *p;

	(void)state;
	len = 0x20000;
	p = gmap(&f->fgm, end - 0x1000, &len, VBACK_GM_READ);
	assert_non_null(p);
	assert_int_equal(len, 0x1000);
	gunmap(&f->fgm, end - 0x1000, p, len, VBACK_GM_READ);
	len = 1;
	assert_null(gmap(&f->fgm, end, &len, VBACK_GM_READ));
	len = 1;
	assert_null(gmap(&f->fgm, TEST_RAM_BASE - 1, &len, VBACK_GM_READ));
	len = 16;
	assert_null(gmap(&f->fgm, UINT64_MAX - 4, &len, VBACK_GM_READ));
	len = 16;
	assert_null(gmap(&f->fgm, GRANT(1, 0), &len, VBACK_GM_READ));
	len = 0;
	assert_null(gmap(&f->fgm, TEST_RAM_BASE, &len, VBACK_GM_READ));
	fixture_free(f);
}

static void test_foreign_cache_hits(void **state)
{
	struct fixture *f = fixture_new(0, TEST_RAM_SIZE);
	unsigned int i;
	uint64_t len;
	void *p;

	(void)state;
	for (i = 0; i < 100; i++) {
		len = 512;
		p = gmap(&f->fgm, TEST_RAM_BASE + 4096 * i, &len,
			 VBACK_GM_READ);
		assert_non_null(p);
		gunmap(&f->fgm, TEST_RAM_BASE + 4096 * i, p, len,
		       VBACK_GM_READ);
	}
	/* Whole chunks, not a mapping per request. */
	assert_int_equal(fake_dom_foreign_map_calls(f->d), 1);
	assert_int_equal(f->dom->cache.hits, 99);
	fixture_free(f);
}

static void test_foreign_bounded(void **state)
{
	struct fixture *f = fixture_new(2, TEST_RAM_SIZE); /* 2 chunks */
	uint64_t len, a0 = TEST_RAM_BASE, a1 = TEST_RAM_BASE + CHUNK;
	uint64_t a2 = TEST_RAM_BASE + 2 * CHUNK;
	void *p0, *p1, *p2;

	(void)state;
	len = 8;
	p0 = gmap(&f->fgm, a0, &len, VBACK_GM_READ);
	len = 8;
	p1 = gmap(&f->fgm, a1, &len, VBACK_GM_READ);
	assert_non_null(p0);
	assert_non_null(p1);
	/* Both chunks in use: a third cannot evict them. */
	len = 8;
	assert_null(gmap(&f->fgm, a2, &len, VBACK_GM_READ));
	gunmap(&f->fgm, a0, p0, 8, VBACK_GM_READ);
	len = 8;
	p2 = gmap(&f->fgm, a2, &len, VBACK_GM_READ);
	assert_non_null(p2);
	assert_int_equal(f->dom->cache.evictions, 1);
	assert_true(fake_dom_foreign_pages(f->d) <= 2 * XEN_CHUNK_PAGES);
	/* INVALIDATE drops only what nobody uses. */
	gunmap(&f->fgm, a2, p2, 8, VBACK_GM_READ);
	xen_mapcache_invalidate(f->dom);
	assert_int_equal(fake_dom_foreign_pages(f->d), XEN_CHUNK_PAGES);
	*(volatile uint8_t *)p1 = 1; /* still mapped */
	gunmap(&f->fgm, a1, p1, 8, VBACK_GM_READ);
	fixture_free(f);
}

/*
 * A page absent when its chunk was mapped (ballooned out) and populated
 * later: the next access remaps the chunk, in place when nobody uses it,
 * beside the old mapping when a piece still does (that piece stays
 * valid). Xen sends no INVALIDATE when memory comes back.
 */
static void test_foreign_remap_after_balloon(void **state)
{
	struct fixture *f = fixture_new(0, TEST_RAM_SIZE);
	uint64_t gfn = TEST_RAM_BASE / 4096 + 3 * XEN_CHUNK_PAGES + 9;
	uint64_t absent = gfn * 4096, other = absent + 4096, len;
	uint8_t *held, *p;

	(void)state;
	assert_int_equal(fake_dom_balloon(f->d, gfn, true), 0);
	len = 16;
	held = gmap(&f->fgm, other, &len, VBACK_GM_READ | VBACK_GM_WRITE);
	assert_non_null(held); /* the chunk is mapped, the page is not */
	len = 16;
	assert_null(gmap(&f->fgm, absent, &len, VBACK_GM_READ));
	/* Back in, while a piece of the chunk is still held. */
	assert_int_equal(fake_dom_balloon(f->d, gfn, false), 0);
	memcpy(fake_dom_gpa(f->d, absent, 16), "back in the guest", 16);
	len = 16;
	p = gmap(&f->fgm, absent, &len, VBACK_GM_READ);
	assert_non_null(p);
	assert_memory_equal(p, "back in the guest", 16);
	assert_int_equal(f->dom->cache.remaps, 1);
	*held = 0x42; /* the old mapping is still there for its piece */
	assert_int_equal(*(uint8_t *)fake_dom_gpa(f->d, other, 1), 0x42);
	gunmap(&f->fgm, absent, p, 16, VBACK_GM_READ);
	gunmap(&f->fgm, other, held, 16, VBACK_GM_READ | VBACK_GM_WRITE);

	/* Out and in again with nothing held: remapped in place. */
	assert_int_equal(fake_dom_balloon(f->d, gfn, true), 0);
	xen_mapcache_invalidate(f->dom); /* what Xen sends on removal */
	len = 16;
	p = gmap(&f->fgm, other, &len, VBACK_GM_READ);
	assert_non_null(p);
	gunmap(&f->fgm, other, p, 16, VBACK_GM_READ);
	assert_int_equal(fake_dom_balloon(f->d, gfn, false), 0);
	len = 16;
	p = gmap(&f->fgm, absent, &len, VBACK_GM_READ);
	assert_non_null(p);
	assert_memory_equal(p, "back in the guest", 16);
	assert_int_equal(f->dom->cache.remaps, 2);
	gunmap(&f->fgm, absent, p, 16, VBACK_GM_READ);
	assert_true(fake_dom_foreign_pages(f->d) <= XEN_CHUNK_PAGES);
	fixture_free(f);
}

/* map_cache_mib is bounded, and a large value is what it says: the size
 * arithmetic once wrapped in 32 bits (4096 MiB gave a 1-chunk cache). */
static void test_cache_size_option(void **state)
{
	struct harness *h = harness_new();
	struct vback_xen_domain_options o = { 0 };
	struct vback_xen_domain *dom = NULL;

	(void)state;
	assert_non_null(
		fake_dom_create(h->fx, 7, 1, TEST_RAM_BASE, TEST_RAM_SIZE));
	o.domid = 7;
	o.irq_mode = VBACK_XEN_IRQ_SPI;
	o.map_cache_mib = 4096;
	assert_int_equal(vback_xen_domain_create(h->xen, &o, &dom), 0);
	assert_int_equal(dom->cache.nr, 4096);
	vback_xen_domain_destroy(dom);
	o.map_cache_mib = XEN_MAPCACHE_MAX_MIB + 1;
	assert_int_equal(vback_xen_domain_create(h->xen, &o, &dom), -EINVAL);
	o.map_cache_mib = UINT32_MAX;
	assert_int_equal(vback_xen_domain_create(h->xen, &o, &dom), -EINVAL);
	harness_free(h);
}

/*
 * A domain destroyed while a piece of a chunk is still held (IO in
 * flight: the caller broke the drain rule). Unmapping would let the
 * address be reused by another mapping while the IO still writes there:
 * the chunk is left mapped (leaked) with an error line instead.
 */
static void test_fini_leaks_held_chunk(void **state)
{
	struct fixture *f = fixture_new(0, TEST_RAM_SIZE);
	uint64_t len = 16;
	uint8_t *p = gmap(&f->fgm, TEST_RAM_BASE + 5, &len,
			  VBACK_GM_READ | VBACK_GM_WRITE);

	(void)state;
	assert_non_null(p);
	vback_xen_domain_destroy(f->dom);
	assert_int_equal(fake_dom_foreign_pages(f->d), XEN_CHUNK_PAGES);
	assert_non_null(strstr(f->h->last_log, "left mapped"));
	*p = 0x5a; /* the in-flight IO can still write */
	assert_int_equal(*(uint8_t *)fake_dom_gpa(f->d, TEST_RAM_BASE + 5, 1),
			 0x5a);
	/* The test releases what the library leaked. */
	f->h->pf->ops->unmap_foreign(f->h->pf->opaque, p - 5, XEN_CHUNK_PAGES);
	harness_free(f->h);
	free(f);
}

static void test_grant_data(void **state)
{
	struct fixture *f = fixture_new(0, TEST_RAM_SIZE);
	uint64_t gfn_a = TEST_RAM_BASE / 4096 + 33;
	uint64_t gfn_b = TEST_RAM_BASE / 4096 + 7; /* not adjacent */
	uint8_t *pa = fake_dom_gpa(f->d, gfn_a * 4096, 4096);
	uint8_t *pb = fake_dom_gpa(f->d, gfn_b * 4096, 4096);
	uint64_t len = 0x1000;
	uint8_t *p;

	(void)state;
	assert_int_equal(fake_dom_grant(f->d, 10, gfn_a, false), 0);
	assert_int_equal(fake_dom_grant(f->d, 11, gfn_b, false), 0);
	memset(pa, 0xaa, 4096);
	memset(pb, 0xbb, 4096);
	/* Offset 0x800 in gref 10, spilling into gref 11. */
	p = gmap(&f->ggm, GRANT(10, 0x800), &len,
		 VBACK_GM_READ | VBACK_GM_WRITE);
	assert_non_null(p);
	assert_int_equal(len, 0x1000);
	assert_int_equal(p[0], 0xaa);
	assert_int_equal(p[0x7ff], 0xaa);
	assert_int_equal(p[0x800], 0xbb);
	p[0x800] = 0x11;
	assert_int_equal(pb[0], 0x11);
	assert_int_equal(fake_dom_grant_pages(f->d), 2);
	/* A mapped grant cannot be revoked ... */
	assert_int_equal(fake_dom_ungrant(f->d, 11), -EBUSY);
	gunmap(&f->ggm, GRANT(10, 0x800), p, len,
	       VBACK_GM_READ | VBACK_GM_WRITE);
	/* ... and is released by unmap. */
	assert_int_equal(fake_dom_grant_pages(f->d), 0);
	assert_int_equal(fake_dom_ungrant(f->d, 11), 0);
	fixture_free(f);
}

static void test_grant_rules(void **state)
{
	struct fixture *f = fixture_new(0, TEST_RAM_SIZE);
	uint64_t gfn = TEST_RAM_BASE / 4096;
	uint64_t len;
	unsigned int i;
	void *p;

	(void)state;
	assert_int_equal(fake_dom_grant(f->d, 20, gfn, true), 0);
	/* Read-only grant: no writable mapping. */
	len = 16;
	assert_null(gmap(&f->ggm, GRANT(20, 0), &len, VBACK_GM_WRITE));
	len = 16;
	p = gmap(&f->ggm, GRANT(20, 0), &len, VBACK_GM_READ);
	assert_non_null(p);
	gunmap(&f->ggm, GRANT(20, 0), p, len, VBACK_GM_READ);
	/* An ungranted ref is refused. */
	len = 16;
	assert_null(gmap(&f->ggm, GRANT(21, 0), &len, VBACK_GM_READ));
	/* A huge length is bounded: one call maps at most 32 pages. */
	for (i = 0; i < 40; i++)
		assert_int_equal(fake_dom_grant(f->d, 100 + i, gfn + i, false),
				 0);
	len = UINT64_MAX;
	p = gmap(&f->ggm, GRANT(100, 0), &len, VBACK_GM_READ);
	assert_non_null(p);
	assert_int_equal(len, 32 * 4096);
	gunmap(&f->ggm, GRANT(100, 0), p, len, VBACK_GM_READ);
	/* A ref range that would pass 2^32 is refused, not wrapped. */
	len = 8192;
	assert_null(
		gmap(&f->ggm, GRANT(0xffffffffu, 0xfff), &len, VBACK_GM_READ));
	fixture_free(f);
}

/*
 * A guest whose kernel ignores the grant-DMA IOMMU (Linux without
 * CONFIG_XEN_VIRTIO) passes plain guest-physical addresses on a grant
 * device: they are foreign mappings, released as such; grant addresses
 * keep working next to them, and outside RAM is still nothing.
 */
static void test_grant_device_plain_addresses(void **state)
{
	struct fixture *f = fixture_new(0, TEST_RAM_SIZE);
	uint64_t gfn = TEST_RAM_BASE / 4096, len = 4096;
	uint8_t *guest = fake_dom_gpa(f->d, TEST_RAM_BASE + 0x3000, 4096);
	uint8_t *p, *q;

	(void)state;
	memset(guest, 0x5a, 4096);
	p = gmap(&f->ggm, TEST_RAM_BASE + 0x3000, &len,
		 VBACK_GM_READ | VBACK_GM_WRITE);
	assert_non_null(p);
	assert_int_equal(len, 4096);
	assert_int_equal(p[0], 0x5a);
	p[1] = 0x11;
	assert_int_equal(guest[1], 0x11);
	assert_int_equal(fake_dom_grant_pages(f->d), 0);
	assert_true(fake_dom_foreign_pages(f->d) > 0);
	/* A grant next to it. */
	assert_int_equal(fake_dom_grant(f->d, 30, gfn + 7, false), 0);
	len = 16;
	q = gmap(&f->ggm, GRANT(30, 0), &len, VBACK_GM_READ);
	assert_non_null(q);
	assert_int_equal(fake_dom_grant_pages(f->d), 1);
	gunmap(&f->ggm, GRANT(30, 0), q, len, VBACK_GM_READ);
	assert_int_equal(fake_dom_grant_pages(f->d), 0);
	/* Released as a foreign piece: the chunk can go. */
	gunmap(&f->ggm, TEST_RAM_BASE + 0x3000, p, 4096,
	       VBACK_GM_READ | VBACK_GM_WRITE);
	xen_mapcache_invalidate(f->dom);
	assert_int_equal(fake_dom_foreign_pages(f->d), 0);
	/* Outside the guest's RAM: nothing. */
	len = 16;
	assert_null(gmap(&f->ggm, TEST_RAM_BASE + TEST_RAM_SIZE + 0x100000,
			 &len, VBACK_GM_READ));
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_foreign_data),
		cmocka_unit_test(test_foreign_shortened_at_chunk_end),
		cmocka_unit_test(test_foreign_outside_ram),
		cmocka_unit_test(test_foreign_cache_hits),
		cmocka_unit_test(test_foreign_bounded),
		cmocka_unit_test(test_foreign_remap_after_balloon),
		cmocka_unit_test(test_cache_size_option),
		cmocka_unit_test(test_fini_leaks_held_chunk),
		cmocka_unit_test(test_grant_data),
		cmocka_unit_test(test_grant_rules),
		cmocka_unit_test(test_grant_device_plain_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
