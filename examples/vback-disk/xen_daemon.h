/* SPDX-License-Identifier: MIT */
/*
 * The Xen mode of vback-disk as a small core that tests can drive: it
 * takes the loop and the struct vback_xen to use, so the daemon passes the
 * context of vback_xen_create() and the tests one made on the fake Xen.
 *
 * Life cycle:
 *   xen_daemon_create()   signals (signalfd on the loop), and in explicit
 *                         mode (--domid) opens every --disk image, so that
 *                         a bad path fails before Xen is touched;
 *   xen_daemon_start()    serve: explicit domain and devices, or watch
 *                         xenstore (vback_xen_backend_start) and serve
 *                         every virtio disk libxl configures;
 *   ... run the loop ...  SIGTERM/SIGINT: stop popping requests, wait for
 *                         in-flight ones, flush every writable disk, then
 *                         xen_daemon_finished() turns true and the loop is
 *                         stopped (vback_loop_stop). In explicit mode
 *                         the death of the domain does the same at once:
 *                         its disks and IOREQ server are released, then
 *                         the loop is stopped (nothing is left to serve);
 *   xen_daemon_destroy()  release every device, IO instance, IOREQ server
 *                         and mapping. The loop and the Xen context stay
 *                         the caller's.
 * Everything runs on the loop's thread; nothing is done in a signal
 * handler.
 */
#ifndef VBACK_DISK_XEN_DAEMON_H
#define VBACK_DISK_XEN_DAEMON_H

#include <stdbool.h>

#include <vback/loop.h>
#include <vback/xen.h>

#include "ctl.h"
#include "options.h"

struct xen_daemon;

struct xen_daemon_env {
	const struct vback_disk_options *opts; /* borrowed, outlives it */
	struct vback_log *log;	       /* borrowed; log-level changes it */
	const struct vback_loop *loop; /* not owned */
	enum vback_xen_irq_mode irq_mode;
	/* Longest wait for in-flight requests at a stop (0: 10 s). */
	unsigned int drain_timeout_ms;
};

/* 0, or -errno after logging why (bad image in explicit mode, ...). */
int xen_daemon_create(const struct xen_daemon_env *env,
		      struct xen_daemon **out);
/* Start serving through @xen (not owned; must outlive the daemon). */
int xen_daemon_start(struct xen_daemon *xd, struct vback_xen *xen);
/* What the signalfd handler does for @signo (tests may call it). */
void xen_daemon_signal(struct xen_daemon *xd, int signo);
/* A stop was asked and has drained and flushed, or (explicit mode) the
 * domain died and was released: tear down now. */
bool xen_daemon_finished(const struct xen_daemon *xd);
/* Disks currently open (devices served or being set up). */
unsigned int xen_daemon_disks(const struct xen_daemon *xd);
/* The control commands of the Xen mode (list, resize, log-level; disks
 * come and go with the toolstack, not with add and remove); opaque: the
 * daemon. */
extern const struct ctl_ops xen_daemon_ctl_ops;
/* Tear down everything it created. NULL is a no-op. */
void xen_daemon_destroy(struct xen_daemon *xd);

#endif /* VBACK_DISK_XEN_DAEMON_H */
