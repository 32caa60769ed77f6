/* SPDX-License-Identifier: MIT */
/*
 * The network engines' libraries, loaded on first use (nbd_lib.h,
 * rbd_lib.h): dlopen() by soname, then every function the engine calls
 * looked up once into its table. Loading is serialized and happens once
 * per process; a failure is reported (and retried) at each open, so a
 * library installed later is found without a restart.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <vback/base.h>

#include "config.h"

/* Nothing to load in a build without either engine. */
#if VBACK_HAVE_NBD || VBACK_HAVE_RBD

#define IO_DL_TABLES
#if VBACK_HAVE_NBD
#include "nbd_lib.h"
#endif
#if VBACK_HAVE_RBD
#include "rbd_lib.h"
#endif

struct io_sym {
	const char *name;
	unsigned int lib; /* index into the sonames */
	size_t off;	  /* of the pointer in the table */
};

struct io_dl {
	pthread_mutex_t lock;
	bool loaded;
	void *handles[2];
};

/* Open @sonames, fill @table from @syms; 0 or -ENOTSUP (logged). */
static int dl_load(struct io_dl *dl, void *table, const char *const *sonames,
		   unsigned int nlibs, const struct io_sym *syms, size_t nsyms,
		   const char *what, const struct vback_log *log)
{
	int ret = 0;

	pthread_mutex_lock(&dl->lock);
	if (dl->loaded)
		goto out;
	for (unsigned int i = 0; i < nlibs; i++) {
		if (dl->handles[i])
			continue;
		dl->handles[i] = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
		if (!dl->handles[i]) {
			vback_logf(log, VBACK_LOG_ERR,
				   "io: %s disks need %s: %s", what, sonames[i],
				   dlerror());
			ret = -ENOTSUP;
			goto out;
		}
	}
	for (size_t i = 0; i < nsyms; i++) {
		void *sym = dlsym(dl->handles[syms[i].lib], syms[i].name);

		if (!sym) {
			vback_logf(log, VBACK_LOG_ERR,
				   "io: %s: no %s in %s (too old?)", what,
				   syms[i].name, sonames[syms[i].lib]);
			ret = -ENOTSUP;
			goto out;
		}
		/* A data pointer to a function pointer, the POSIX way. */
		memcpy((char *)table + syms[i].off, &sym, sizeof(sym));
	}
	dl->loaded = true;
out:
	pthread_mutex_unlock(&dl->lock);
	return ret;
}

#define IO_SYM(lib, f) { #f, lib, offsetof(struct IO_SYM_TABLE, f) },

#if VBACK_HAVE_NBD
struct io_nbd_lib io_nbd_lib;

int io_nbd_lib_load(const struct vback_log *log)
{
#define IO_SYM_TABLE io_nbd_lib
	static const struct io_sym syms[] = { IO_NBD_SYMS(IO_SYM) };
#undef IO_SYM_TABLE
	static const char *const sonames[] = { IO_NBD_SONAMES };
	static struct io_dl dl = { .lock = PTHREAD_MUTEX_INITIALIZER };

	return dl_load(&dl, &io_nbd_lib, sonames, 1, syms,
		       sizeof(syms) / sizeof(syms[0]), "NBD", log);
}
#endif

#if VBACK_HAVE_RBD
struct io_rbd_lib io_rbd_lib;

int io_rbd_lib_load(const struct vback_log *log)
{
#define IO_SYM_TABLE io_rbd_lib
	static const struct io_sym syms[] = { IO_RBD_SYMS(IO_SYM) };
#undef IO_SYM_TABLE
	static const char *const sonames[] = { IO_RBD_SONAMES };
	static struct io_dl dl = { .lock = PTHREAD_MUTEX_INITIALIZER };

	return dl_load(&dl, &io_rbd_lib, sonames, 2, syms,
		       sizeof(syms) / sizeof(syms[0]), "RBD", log);
}
#endif

#endif /* VBACK_HAVE_NBD || VBACK_HAVE_RBD */
