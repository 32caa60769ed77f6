/* SPDX-License-Identifier: MIT */
/*
 * The front-end's memory table: regions of guest memory shared as fds,
 * mapped here, and the two translations vhost-user needs: guest address to
 * host pointer (descriptors, via struct vback_gm) and front-end user
 * address to guest address (ring addresses of SET_VRING_ADDR).
 */
#ifndef VBACK_VHU_MEMORY_H
#define VBACK_VHU_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

struct vhu_map {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint8_t *host;	/* guest address gpa lives here */
	void *map_base; /* what mmap() returned, for munmap() */
	size_t map_len;
};

struct vhu_memtab {
	unsigned int n;
	struct vhu_map maps[VHU_MAX_REGIONS];
};

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
 * mapping past the end would fault with SIGBUS on access). On failure
 * nothing stays mapped. 0, -EINVAL (@why set), or -errno of mmap().
 */
int vhu_memtab_map(struct vhu_memtab *tab, const struct vhu_region *regions,
		   const int *fds, unsigned int n, const char **why);

/** Unmap everything; the table becomes empty. */
void vhu_memtab_unmap(struct vhu_memtab *tab);

/**
 * Host address of guest address @gpa; *@len is shortened to what is
 * contiguous in that region. NULL when @gpa is in no region or *@len is 0.
 */
void *vhu_memtab_gpa(const struct vhu_memtab *tab, uint64_t gpa, uint64_t *len);

/** Guest address of front-end user address @uaddr: 0 or -EFAULT. */
int vhu_memtab_uaddr_to_gpa(const struct vhu_memtab *tab, uint64_t uaddr,
			    uint64_t *gpa);

#endif /* VBACK_VHU_MEMORY_H */
