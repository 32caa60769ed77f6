/* SPDX-License-Identifier: MIT */
/*
 * The in-flight region of VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD (QEMU
 * docs/interop/vhost-user.rst, "Inflight I/O tracking"): shared memory
 * the back-end creates on GET_INFLIGHT_FD and the front-end keeps and
 * hands back with SET_INFLIGHT_FD, after a restart too. It holds one
 * in-flight record per queue (vback_dev_queue_set_inflight(): the device
 * core keeps them), queue i's at i * stride. Only this back-end reads the
 * layout; the front-end stores the bytes.
 */
#ifndef VBACK_VHU_INFLIGHT_H
#define VBACK_VHU_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "memory.h"
#include "protocol.h"

/* Records start on cache lines. */
#define VHU_INFLIGHT_ALIGN 64u

struct vhu_region_inflight {
	uint8_t *base; /* NULL: no region */
	size_t len;    /* num_queues * stride */
	uint16_t num_queues;
	uint16_t queue_size;
	size_t stride;	/* bytes per queue */
	int guard_slot; /* SIGBUS guard (memory.h), or -1 */
};

/* Bytes per queue for rings of up to @queue_size entries (0: bad). */
size_t vhu_inflight_stride(uint16_t queue_size);

/*
 * Check a description from the front-end: 1 .. @max_queues queues, a
 * power-of-two queue size up to @max_size, and for SET_INFLIGHT_FD
 * (@with_map) a size that holds them and a page-aligned offset. 0 or
 * -EINVAL with a static reason in *@why.
 */
int vhu_inflight_check(const struct vhu_inflight *d, unsigned int max_queues,
		       uint16_t max_size, bool with_map, const char **why);

/*
 * GET_INFLIGHT_FD: a zeroed region for the checked @d in a new sealed
 * memfd, mapped into *@inf; *@fd is for the reply (the caller closes it
 * after sending). 0, or -errno with *@why set.
 */
int vhu_inflight_create(struct vhu_region_inflight *inf,
			const struct vhu_inflight *d, struct vhu_guard *guard,
			int *fd, const char **why);

/*
 * SET_INFLIGHT_FD: map the region of the checked @d from @fd (not
 * consumed) into *@inf: a regular file at least offset + size long,
 * sealed against shrinking where it takes seals, guarded against SIGBUS.
 * 0, or -errno with *@why set; nothing mapped on failure.
 */
int vhu_inflight_map(struct vhu_region_inflight *inf,
		     const struct vhu_inflight *d, int fd,
		     struct vhu_guard *guard, const char **why);

/* Queue @q's record and its size in *@len; NULL when the region has no
 * record for it. */
void *vhu_inflight_queue(const struct vhu_region_inflight *inf, unsigned int q,
			 size_t *len);

/* Unmap; *@inf becomes empty. */
void vhu_inflight_unmap(struct vhu_region_inflight *inf);

/* Empty *@inf but leave the memory mapped (requests in flight still owe
 * their records to the next process). */
void vhu_inflight_forget(struct vhu_region_inflight *inf);

#endif /* VBACK_VHU_INFLIGHT_H */
