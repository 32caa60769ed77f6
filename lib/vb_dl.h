/* SPDX-License-Identifier: MIT */
/*
 * Libraries loaded on first use: dlopen() by soname, then every function a
 * caller needs looked up once into its table of pointers. io/dl.c (libnbd,
 * librbd) and transport/xen/linux_lib.c (the Xen libraries) use it, so a
 * process that serves no such disk never maps them, and runs where they
 * are not installed. Hosted builds only.
 */
#ifndef VBACK_VB_DL_H
#define VBACK_VB_DL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <vback/base.h>

#define VB_DL_MAX_LIBS 8

struct vb_dl_sym {
	const char *name;
	unsigned int lib; /* index into the sonames */
	size_t off;	  /* of the pointer in the table */
};

/* X-macro helper: VB_DL_SYM(table type, library index, function). */
#define VB_DL_SYM(type, lib, f)                                                \
	{                                                                      \
#f, lib, offsetof(type, f)                                     \
	}

/* One per table, zero-initialized but for the lock. */
struct vb_dl {
	pthread_mutex_t lock;
	bool loaded;
	void *handles[VB_DL_MAX_LIBS];
};

#define VB_DL_INIT                                                             \
	{                                                                      \
		.lock = PTHREAD_MUTEX_INITIALIZER                              \
	}

/*
 * Open the @nlibs libraries of @sonames (each entry: one soname, or
 * several separated by spaces, tried in order) and fill @table from @syms.
 * Once per process, from any thread; a failure is logged as "@what needs
 * ..." and tried again at the next call, so a library installed later is
 * found without a restart. 0 or -ENOTSUP.
 */
int vb_dl_load(struct vb_dl *dl, void *table, const char *const *sonames,
	       unsigned int nlibs, const struct vb_dl_sym *syms, size_t nsyms,
	       const char *what, const struct vback_log *log);

#endif
