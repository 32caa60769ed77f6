/* SPDX-License-Identifier: MIT */
/*
 * Fake guest memory for tests: a struct vback_gm over several regions at
 * chosen guest addresses, each backed by its own host allocation (so a
 * range that crosses a region boundary comes back in shorter pieces, as
 * it would from a real transport).
 *
 * Knobs: cap every translation at N bytes; make a region read-only for the
 * device; a "grant-like" view with unmap() that counts map/unmap so a test
 * can check every map was released. Anything outside the regions is
 * refused (map() returns NULL), never a crash.
 *
 * Ownership: gmem_create() returns an object the test frees with
 * gmem_destroy(); views returned by gmem_view() borrow it.
 */
#ifndef VBACK_TEST_GUEST_MEM_H
#define VBACK_TEST_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include <vback/mmio.h>

struct gmem_region {
	uint64_t gpa;	/* guest address of the first byte */
	uint64_t size;	/* bytes, > 0 */
	bool read_only; /* the device may not map it for VBACK_GM_WRITE */
};

struct gmem;

/* Up to 16 non-overlapping regions, zero-filled. NULL on bad layout. */
struct gmem *gmem_create(const struct gmem_region *regions, unsigned int n);
void gmem_destroy(struct gmem *m);

/*
 * A view for the device. @with_unmap: the view has an unmap() op (like Xen
 * grant mappings) and counts maps and unmaps; without it, map() still
 * counts but nothing is expected to be released.
 */
struct vback_gm gmem_view(struct gmem *m, bool with_unmap);

/* Cap every translation at @cap bytes (0: no cap). */
void gmem_set_cap(struct gmem *m, uint64_t cap);

/* Test-side access (not through the view, not counted). */
void *gmem_host(struct gmem *m, uint64_t gpa, uint64_t len); /* one region */
int gmem_write(struct gmem *m, uint64_t gpa, const void *buf, uint64_t len);
int gmem_read(struct gmem *m, uint64_t gpa, void *buf, uint64_t len);
int gmem_fill(struct gmem *m, uint64_t gpa, int byte, uint64_t len);

/* Counters: successful map() calls, unmap() calls, refused map() calls. */
uint64_t gmem_maps(const struct gmem *m);
uint64_t gmem_unmaps(const struct gmem *m);
uint64_t gmem_refused(const struct gmem *m);
/* maps - unmaps for the grant-like view: 0 when everything was released. */
int64_t gmem_outstanding(const struct gmem *m);
/* Bad unmap() calls (piece never mapped or mismatched length). */
uint64_t gmem_bad_unmaps(const struct gmem *m);
void gmem_reset_counters(struct gmem *m);

#endif /* VBACK_TEST_GUEST_MEM_H */
