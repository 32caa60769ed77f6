/* SPDX-License-Identifier: MIT */
/*
 * The Xen options of the vback-disk command line (options.c hands them
 * over): --domid, --disk, --backend-domid, and the choice of the Xen mode,
 * which is the default when --vhost-user is not given.
 */
#ifndef VBACK_DISK_XEN_OPTIONS_H
#define VBACK_DISK_XEN_OPTIONS_H

#include "options.h"

enum vback_disk_xen_opt {
	VBACK_DISK_XEN_OPT_DOMID,
	VBACK_DISK_XEN_OPT_DISK,
	VBACK_DISK_XEN_OPT_BACKEND_DOMID,
	VBACK_DISK_XEN_OPT_STATE_DIR,
};

/* The default of --state-dir. */
#define VBACK_DISK_STATE_DIR "/run/vback-disk"

/* First getopt value of the Xen options (clear of options.c's own). */
#define VBACK_DISK_XEN_OPT_BASE 512

/*
 * Apply one Xen option. Returns 0, or -EINVAL after printing one line
 * that says what is wrong to stderr.
 */
int vback_disk_xen_option(struct vback_disk_options *o,
			  enum vback_disk_xen_opt opt, const char *arg,
			  const char *argv0);

/*
 * After the last option: check the combination and pick the mode (Xen
 * unless --vhost-user was given). VBACK_DISK_RUN or VBACK_DISK_EXIT_USAGE
 * (message printed).
 */
enum vback_disk_parse vback_disk_xen_finish(struct vback_disk_options *o,
					    const char *argv0);

/* Parse "path=IMG,base=ADDR,irq=N[,ro][,grants]"; 0 or -EINVAL with a
 * message for the user in @err. */
int vback_disk_xen_parse_disk(const char *spec,
			      struct vback_disk_xen_disk *disk, char *err,
			      size_t errlen);

#endif /* VBACK_DISK_XEN_OPTIONS_H */
