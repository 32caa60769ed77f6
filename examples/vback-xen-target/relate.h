/* SPDX-License-Identifier: MIT */
/*
 * vback-xen-target's logic, on the toolstack's calls as an ops struct so
 * that tests/xen/test_xen_target.c drives it without Xen: make BACKEND
 * the device model of GUEST, the relation a backend outside Dom0 needs.
 *
 *  1. XEN_DOMCTL_set_target(BACKEND, GUEST): Xen's dummy policy then lets
 *     BACKEND issue DM ops for GUEST, map its memory and its ioreq pages.
 *     Set once per domain: Xen refuses (EINVAL) a second target.
 *  2. xenstore's SET_TARGET: BACKEND may read and write GUEST's nodes
 *     (its frontend state) as if they were its own.
 *  3. /local/domain/BACKEND/target = GUEST, readable by BACKEND only: a
 *     Linux driver domain's privcmd reads it when it loads and is
 *     restricted to that guest from then on; a backend waits for it.
 *     Written last, so whoever sees it finds steps 1 and 2 done.
 *
 * GUEST must be paused and never have run (xl create -p): a guest that
 * runs first reaches its virtio devices before anyone serves them.
 */
#ifndef VBACK_XEN_TARGET_RELATE_H
#define VBACK_XEN_TARGET_RELATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct relate_dominfo {
	bool exists;
	bool paused;
	bool dying;
	uint64_t cpu_time_ns;
};

/* The toolstack: each call 0 or a negative errno. */
struct relate_ops {
	int (*dominfo)(void *opaque, uint16_t domid,
		       struct relate_dominfo *info);
	int (*set_target)(void *opaque, uint16_t backend, uint16_t guest);
	int (*xs_set_target)(void *opaque, uint16_t backend, uint16_t guest);
	/* @path's value (NUL-terminated) into @buf; -ENOENT. */
	int (*xs_read)(void *opaque, const char *path, char *buf, size_t size);
	/* Write @value at @path, owned by Dom0, readable by @reader. */
	int (*xs_write_private)(void *opaque, const char *path,
				const char *value, uint16_t reader);
	/* The names of @path's children, NUL-separated: how many. */
	int (*xs_directory)(void *opaque, const char *path, char *buf,
			    size_t size);
	/* 1 when xenstored knows @domid (the toolstack introduced it), 0
	 * when not yet, -errno. */
	int (*xs_introduced)(void *opaque, uint16_t domid);
	/* Sleep @ms milliseconds (while waiting for a domain). */
	void (*sleep_ms)(void *opaque, unsigned int ms);
	void *opaque;
};

/*
 * A domain given as a number or a name (xenstore's /local/domain/N/name):
 * its id, waiting up to @wait_ms for it to appear. 0, -ENOENT (no such
 * domain: one line on @err), -errno.
 */
int relate_resolve(const struct relate_ops *ops, const char *what,
		   unsigned int wait_ms, uint16_t *domid, FILE *err);

/* Steps 1-3 above, once xenstored knows GUEST (libxl introduces a domain
 * after loading its kernel, before its devices: waited for up to
 * @wait_ms, since step 2 needs it); 0, or -errno after one line on @err
 * naming the cause and the fix. @out gets one line per step done. */
int relate(const struct relate_ops *ops, uint16_t backend, uint16_t guest,
	   unsigned int wait_ms, FILE *out, FILE *err);

#endif /* VBACK_XEN_TARGET_RELATE_H */
