/* SPDX-License-Identifier: MIT */
/**
 * @file vback/epoll.h
 * @brief The Linux epoll implementation of the loop contract (vback/loop.h):
 * post, timers and fd watching, run by vback_loop_run().
 */
#ifndef VBACK_EPOLL_H
#define VBACK_EPOLL_H

#include <vback/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Create an epoll loop. On success *@out is a loop owned by the caller,
 * freed with vback_epoll_loop_destroy() once nothing watches it. post()
 * and stop() are safe from any thread and from signal handlers (a post
 * writes an eventfd only while the loop sleeps); everything else is
 * loop-thread only. Returns 0, -ENOTSUP on systems without epoll,
 * -ENOMEM, -errno. @log is borrowed.
 */
VBACK_API int vback_epoll_loop_create(const struct vback_log *log,
				      struct vback_loop **out);
/** Free a loop of vback_epoll_loop_create(); every fd must have been
 *  unwatched (its owners destroyed), nothing left posted or armed, and
 *  run() returned. NULL: no-op. */
VBACK_API void vback_epoll_loop_destroy(struct vback_loop *loop);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_EPOLL_H */
