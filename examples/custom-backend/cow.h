/* SPDX-License-Identifier: MIT */
/*
 * A copy-on-write disk as a user-supplied vback IO implementation: reads of
 * blocks never written fall through to a read-only base image, writes go to
 * an overlay (a sparse file, or memory) one block at a time.
 */
#ifndef COW_H
#define COW_H

#include <vback/io.h>

struct cow_options {
	const char *base_path;	  /* opened read-only, never written */
	const char *overlay_path; /* created/truncated; NULL: in memory */
	uint32_t block_size;	  /* copy-on-write unit; 0 = 4096 */
	const struct vback_loop *loop;
	const struct vback_log *log;
};

struct cow_stats {
	uint64_t overlay_blocks; /* blocks the overlay now holds */
	uint64_t copy_ups;	 /* partial writes that copied a base block */
	uint64_t flushes;
};

/* Fill *@out with the overlay's IO instance; close it with vback_io_close().
 * 0 or a negative errno. */
int cow_open(const struct cow_options *opts, struct vback_io *out);
/* Counters of an instance made by cow_open(). */
void cow_get_stats(const struct vback_io *io, struct cow_stats *stats);

#endif /* COW_H */
