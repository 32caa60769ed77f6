/* SPDX-License-Identifier: MIT */
/*
 * One entry point per transport. Each returns the process exit status and
 * owns everything it creates; main() only parses options and picks one.
 */
#ifndef VBACK_DISK_MODES_H
#define VBACK_DISK_MODES_H

#include <vback/base.h>

#include "options.h"

/* @log is the daemon's sink: the control socket's log-level changes it. */
int vback_disk_run_vhost_user(const struct vback_disk_options *opts,
			      struct vback_log *log);
/* xen_mode.c: xenstore discovery (default) or --domid/--disk. */
int vback_disk_run_xen(const struct vback_disk_options *opts,
		       struct vback_log *log);
/* ctl_client.c: vback-disk ctl SOCKET COMMAND [ARG=VALUE ...]. */
int vback_disk_ctl_main(int argc, char **argv);

#endif /* VBACK_DISK_MODES_H */
