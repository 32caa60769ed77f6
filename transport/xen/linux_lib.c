/* SPDX-License-Identifier: MIT */
/* The Xen libraries, loaded on first use: see linux_lib.h. */
#include "vb_dl.h"

#define XEN_LIB_TABLE
#include "linux_lib.h"

struct xen_lib xen_lib;

int xen_lib_load(const struct vback_log *log)
{
#define XEN_SYM(lib, f) VB_DL_SYM(struct xen_lib, lib, f),
	static const struct vb_dl_sym syms[] = { XEN_LIB_SYMS(XEN_SYM) };
#undef XEN_SYM
	static const char *const sonames[] = { XEN_LIB_SONAMES };
	static struct vb_dl dl = VB_DL_INIT;

	_Static_assert(sizeof(sonames) / sizeof(sonames[0]) == XEN_LIB_COUNT,
		       "one soname entry per library");
	return vb_dl_load(&dl, &xen_lib, sonames, XEN_LIB_COUNT, syms,
			  sizeof(syms) / sizeof(syms[0]),
			  "xen: the Xen transport", log);
}
