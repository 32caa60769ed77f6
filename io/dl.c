/* SPDX-License-Identifier: MIT */
/*
 * The network engines' libraries, loaded on first use (nbd_lib.h,
 * rbd_lib.h, lib/vb_dl.h): a failure is reported (and retried) at each
 * open, so a library installed later is found without a restart.
 */
#include <vback/base.h>

#include "config.h"

/* Nothing to load in a build without either engine. */
#if VBACK_HAVE_NBD || VBACK_HAVE_RBD

#include "vb_dl.h"

#define IO_DL_TABLES
#if VBACK_HAVE_NBD
#include "nbd_lib.h"
#endif
#if VBACK_HAVE_RBD
#include "rbd_lib.h"
#endif

#if VBACK_HAVE_NBD
struct io_nbd_lib io_nbd_lib;

int io_nbd_lib_load(const struct vback_log *log)
{
#define IO_SYM(lib, f) VB_DL_SYM(struct io_nbd_lib, lib, f),
	static const struct vb_dl_sym syms[] = { IO_NBD_SYMS(IO_SYM) };
#undef IO_SYM
	static const char *const sonames[] = { IO_NBD_SONAMES };
	static struct vb_dl dl = VB_DL_INIT;

	return vb_dl_load(&dl, &io_nbd_lib, sonames, 1, syms,
			  sizeof(syms) / sizeof(syms[0]), "io: NBD disks", log);
}
#endif

#if VBACK_HAVE_RBD
struct io_rbd_lib io_rbd_lib;

int io_rbd_lib_load(const struct vback_log *log)
{
#define IO_SYM(lib, f) VB_DL_SYM(struct io_rbd_lib, lib, f),
	static const struct vb_dl_sym syms[] = { IO_RBD_SYMS(IO_SYM) };
#undef IO_SYM
	static const char *const sonames[] = { IO_RBD_SONAMES };
	static struct vb_dl dl = VB_DL_INIT;

	return vb_dl_load(&dl, &io_rbd_lib, sonames, 2, syms,
			  sizeof(syms) / sizeof(syms[0]), "io: RBD disks", log);
}
#endif

#endif /* VBACK_HAVE_NBD || VBACK_HAVE_RBD */
