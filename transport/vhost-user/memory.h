/* SPDX-License-Identifier: MIT */
/*
 * The front-end's memory table: regions of guest memory shared as fds,
 * mapped here, and the two translations vhost-user needs: guest address to
 * host pointer (descriptors, via struct vback_gm) and front-end user
 * address to guest address (ring addresses of SET_VRING_ADDR).
 */
#ifndef VBACK_VHU_MEMORY_H
#define VBACK_VHU_MEMORY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vback/loop.h>

#include "protocol.h"

struct vhu_map {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint8_t *host;	/* guest address gpa lives here */
	void *map_base; /* what mmap() returned, for munmap() */
	size_t map_len;
	bool sealed;	/* the file can no longer shrink (F_SEAL_SHRINK) */
	int guard_slot; /* in the SIGBUS guard table, or -1 */
};

struct vhu_memtab {
	unsigned int n;
	struct vhu_map maps[VHU_MAX_REGIONS];
};

/*
 * What happens when the front-end shrinks a memory file under a mapping.
 * Where the file takes seals, it gets F_SEAL_SHRINK at mapping time and
 * cannot shrink. Otherwise (hugetlbfs, a plain file, a memfd created
 * without MFD_ALLOW_SEALING) an access past the new end raises SIGBUS:
 * a process-wide handler, installed with the first guarded mapping and
 * chaining to the one before it for any other address, replaces the
 * whole mapping with anonymous zero pages (the access is retried and
 * succeeds), sets @tripped and posts @work on @loop, whose owner then
 * drops the front-end. Nothing dies, no other disk is touched.
 */
struct vhu_guard {
	const struct vback_loop *loop;
	struct vback_work work; /* initialized by the owner */
	atomic_int tripped;	/* set from the signal handler */
};

/**
 * Register [@base, @base + @len) with the SIGBUS guard @g (above): a slot
 * for vhu_guard_remove(), or -1 when the table is full or the handler
 * could not be installed (the mapping is then unguarded).
 */
int vhu_guard_add(void *base, size_t len, struct vhu_guard *g);
/** Drop a slot of vhu_guard_add(); -1 is a no-op. */
void vhu_guard_remove(int slot);
/** Add F_SEAL_SHRINK where the file takes seals: true when it can no
 *  longer shrink. */
bool vhu_seal_shrink(int fd);

/**
 * Check a region list from the front-end: non-empty regions, no address
 * arithmetic that wraps, no two regions overlapping in guest or user
 * address space. 0 or -EINVAL with a static reason in *@why.
 */
int vhu_memtab_check(const struct vhu_region *regions, unsigned int n,
		     const char **why);

/**
 * Map @n checked regions from @fds (not consumed: the caller closes them).
 * Each region must lie inside its file when the file has a size (a
 * mapping past the end would fault with SIGBUS on access); a file that
 * takes seals gets F_SEAL_SHRINK. With @guard, every mapping is
 * registered with the SIGBUS guard (above). On failure nothing stays
 * mapped. 0, -EINVAL (@why set), or -errno of mmap().
 */
int vhu_memtab_map(struct vhu_memtab *tab, const struct vhu_region *regions,
		   const int *fds, unsigned int n, struct vhu_guard *guard,
		   const char **why);

/** Unmap everything; the table becomes empty. */
void vhu_memtab_unmap(struct vhu_memtab *tab);

/** Empty the table and drop its guards but leave the memory mapped (IO
 *  still in flight may write into it). */
void vhu_memtab_forget(struct vhu_memtab *tab);

/**
 * Host address of guest address @gpa; *@len is shortened to what is
 * contiguous in that region. NULL when @gpa is in no region or *@len is 0.
 */
void *vhu_memtab_gpa(const struct vhu_memtab *tab, uint64_t gpa, uint64_t *len);

/** Guest address of front-end user address @uaddr: 0 or -EFAULT. */
int vhu_memtab_uaddr_to_gpa(const struct vhu_memtab *tab, uint64_t uaddr,
			    uint64_t *gpa);

#endif /* VBACK_VHU_MEMORY_H */
