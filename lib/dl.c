/* SPDX-License-Identifier: MIT */
/* Libraries loaded on first use: see vb_dl.h. */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include "vb_dl.h"

/* The first of @names (space-separated sonames) that loads, or NULL with
 * dlerror() about the first. */
static void *open_any(const char *names, char *first_err, size_t size)
{
	const char *p = names;

	first_err[0] = '\0';
	while (*p) {
		char name[64];
		size_t n = strcspn(p, " ");
		void *h;

		if (n < sizeof(name)) {
			memcpy(name, p, n);
			name[n] = '\0';
			h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
			if (h)
				return h;
			if (!first_err[0]) {
				const char *e = dlerror();

				strncpy(first_err, e ? e : name, size - 1);
				first_err[size - 1] = '\0';
			}
		}
		p += n;
		p += strspn(p, " ");
	}
	return NULL;
}

int vb_dl_load(struct vb_dl *dl, void *table, const char *const *sonames,
	       unsigned int nlibs, const struct vb_dl_sym *syms, size_t nsyms,
	       const char *what, const struct vback_log *log)
{
	int ret = 0;

	if (nlibs > VB_DL_MAX_LIBS)
		return -EINVAL;
	pthread_mutex_lock(&dl->lock);
	if (dl->loaded)
		goto out;
	for (unsigned int i = 0; i < nlibs; i++) {
		char err[256];

		if (dl->handles[i])
			continue;
		dl->handles[i] = open_any(sonames[i], err, sizeof(err));
		if (!dl->handles[i]) {
			vback_logf(log, VBACK_LOG_ERR, "%s needs %.*s: %s",
				   what, (int)strcspn(sonames[i], " "),
				   sonames[i], err);
			ret = -ENOTSUP;
			goto out;
		}
	}
	for (size_t i = 0; i < nsyms; i++) {
		void *sym = dlsym(dl->handles[syms[i].lib], syms[i].name);

		if (!sym) {
			vback_logf(log, VBACK_LOG_ERR,
				   "%s: no %s in %.*s (too old?)", what,
				   syms[i].name,
				   (int)strcspn(sonames[syms[i].lib], " "),
				   sonames[syms[i].lib]);
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
