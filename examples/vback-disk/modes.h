/* SPDX-License-Identifier: MIT */
/*
 * One entry point per transport. Each returns the process exit status and
 * owns everything it creates; main() parses options, creates the event
 * loop (epoll, polling as --poll-us says) and picks one.
 */
#ifndef VBACK_DISK_MODES_H
#define VBACK_DISK_MODES_H

#include <vback/base.h>
#include <vback/loop.h>

#include "control.h"
#include "options.h"

/* @log is the daemon's sink: the control socket's log-level changes it.
 * @loop is main()'s, run by vback_disk_serve(). */
int vback_disk_run_vhost_user(const struct vback_disk_options *opts,
			      struct vback_log *log, struct vback_loop *loop);
/* xen_mode.c: xenstore discovery (default) or --domid/--disk. */
int vback_disk_run_xen(const struct vback_disk_options *opts,
		       struct vback_log *log, struct vback_loop *loop);
/* main.c, for both modes: run @loop until it stops, with the control
 * socket --control asks for answering through @ops(@opaque); the socket
 * is gone when it returns (commands still running complete into the
 * void). 0, or -errno after logging why. */
int vback_disk_serve(const struct vback_disk_options *opts,
		     struct vback_log *log, struct vback_loop *loop,
		     const struct ctl_ops *ops, void *opaque);
/* ctl_client.c: vback-disk ctl SOCKET COMMAND [ARG=VALUE ...]. */
int vback_disk_ctl_main(int argc, char **argv);

#endif /* VBACK_DISK_MODES_H */
