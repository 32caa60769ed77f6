/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user mode of vback-disk as a small core that tests can drive
 * (vhost_user_mode.c is its entry point): any number of disks, one
 * vhost-user socket and one virtio-blk device each, all on one loop.
 *
 * Each disk is one struct (its IO instance, device, transport, counters,
 * the loop it runs on and its removal state), so that a thread per disk
 * can take its own loop later; the daemon only keeps the list.
 *
 * A front-end that breaks the protocol loses its connection (the
 * transport drops it and listens again); the other disks do not notice.
 *
 * Life cycle:
 *   vhu_daemon_create()   signals (a signalfd on the loop), then every
 *                         command-line disk: image, device, socket. One
 *                         that fails fails the start (nothing is left);
 *   ... run the loop ...  disks come and go with vhu_daemon_add() and
 *                         vhu_daemon_remove() (the control socket's add,
 *                         which connects a network disk on a thread
 *                         first, and remove); SIGHUP re-reads every size;
 *                         SIGTERM/SIGINT remove every disk (drain, flush,
 *                         drop the front-end), then vhu_daemon_finished()
 *                         turns true and the loop is stopped;
 *   vhu_daemon_destroy()  whatever is left, at once (a network disk's
 *                         connect in progress is waited for).
 */
#ifndef VBACK_DISK_VHU_DAEMON_H
#define VBACK_DISK_VHU_DAEMON_H

#include <stdbool.h>

#include <vback/loop.h>

#include "ctl.h"
#include "options.h"

struct vhu_daemon;

struct vhu_daemon_env {
	const struct vback_disk_options *opts; /* borrowed, outlives it */
	struct vback_log *log;	       /* borrowed; log-level changes it */
	const struct vback_loop *loop; /* not owned */
	/* Longest wait for in-flight requests when a disk goes (0: 10 s). */
	unsigned int drain_timeout_ms;
};

/* 0, or -errno after logging why (an image, a socket). */
int vhu_daemon_create(const struct vhu_daemon_env *env,
		      struct vhu_daemon **out);

/*
 * Serve one more disk. Its name (given, or the first free disk<N>) and
 * socket must be new. 0, or -errno with a message for the user in @msg
 * (CTL_MAX_MSG bytes): -EEXIST (name or socket taken), -EINVAL (bad
 * name), -ESHUTDOWN (stopping), -E2BIG (too many disks), or the error of
 * the image, device or socket.
 */
int vhu_daemon_add(struct vhu_daemon *vd, const struct vback_disk_vhu_disk *d,
		   char *msg);

/*
 * Stop serving disk @name: no new request is taken, those in flight
 * complete, the image is flushed, the front-end is dropped, everything
 * is closed and the socket removed. Then @done(@opaque, 0) is called
 * (from the loop; also with -ETIMEDOUT when requests were still in
 * flight after the drain timeout: the disk is gone all the same). 0 when
 * it started, -ENOENT (no such disk), -EBUSY (already going).
 */
int vhu_daemon_remove(struct vhu_daemon *vd, const char *name,
		      void (*done)(void *opaque, int result), void *opaque);

/* What the signalfd handler does for @signo (tests may call it). */
void vhu_daemon_signal(struct vhu_daemon *vd, int signo);
/* A stop was asked and every disk is gone (or the wait timed out). */
bool vhu_daemon_finished(const struct vhu_daemon *vd);
/* Disks being served (removals in progress included). */
unsigned int vhu_daemon_disks(const struct vhu_daemon *vd);
/* The control commands of this mode; opaque: the daemon. */
extern const struct ctl_ops vhu_daemon_ctl_ops;
/* Tear down what is left. NULL is a no-op. */
void vhu_daemon_destroy(struct vhu_daemon *vd);

#endif /* VBACK_DISK_VHU_DAEMON_H */
