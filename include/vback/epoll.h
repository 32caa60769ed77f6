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

/**
 * Adaptive polling: before it sleeps, the loop busy-polls its pollers
 * (struct vback_poller: the virtqueues of devices on it, io_uring
 * completion rings) for up to @max_ns nanoseconds, with their
 * notifications (kicks, completion wake-ups) off while it finds work. The
 * budget adapts between 0 and @max_ns: it grows while the loop's sleeps
 * are shorter than @max_ns (polling would have caught them) and shrinks
 * while they are longer (idle time polling would only burn). When work
 * keeps coming the moment a fruitless stretch ends, its producer could not
 * run while the loop polled (it shares the loop's CPU, like a front-end
 * on the same core): after four such stretches in a row the loop stops
 * polling for 100 ms. 0 (the default): never poll. Loop thread, or before
 * the loop runs. 0, or -EINVAL when @loop is not an epoll loop.
 */
VBACK_API int vback_epoll_loop_set_poll(struct vback_loop *loop,
					uint64_t max_ns);

/** What the polling of an epoll loop did (vback_epoll_loop_get_poll_stats). */
struct vback_epoll_poll_stats {
	uint64_t hits;	    /**< stretches of polling that found work */
	uint64_t misses;    /**< stretches that ran out: the loop slept */
	uint64_t polled_ns; /**< time spent polling */
	uint64_t poll_ns;   /**< the adaptive budget now */
};

/** Copy @loop's polling counters into *@stats (loop thread). 0, or
 *  -EINVAL when @loop is not an epoll loop. */
VBACK_API int
vback_epoll_loop_get_poll_stats(const struct vback_loop *loop,
				struct vback_epoll_poll_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_EPOLL_H */
