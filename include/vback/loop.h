/* SPDX-License-Identifier: MIT */
/**
 * @file vback/loop.h
 * @brief The event-loop contract every vback object runs on. OS-free.
 *
 * No vback library waits on anything by itself. Work reaches a loop in
 * three ways:
 *  - **post**: run a caller-owned struct vback_work on the loop thread
 *    soon. Callable from any thread and from interrupt context, never
 *    allocates; posting an item that is already pending is a no-op. This
 *    is how an RTOS delivers a Xen event-channel upcall, how a completion
 *    from another thread comes back, and how a component defers work to
 *    "after the current callback" (batching, retries, yielding).
 *  - **timers**: caller-owned struct vback_timer, one-shot or periodic,
 *    armed and cancelled on the loop thread.
 *  - **fd watching** (optional, POSIX only): call a function when a file
 *    descriptor is ready. Only the POSIX pieces need it (the epoll loop,
 *    the vhost-user socket, the io_uring and worker-pool completion
 *    eventfds); a loop without fds leaves watch/modify/unwatch NULL.
 *
 * Two implementations ship: the Linux epoll loop (vback/epoll.h) and the
 * simple loop below, a run-to-completion queue with no OS calls at all
 * that the embedder drives (bare metal, an RTOS thread). An embedder with
 * a loop of its own (glib, libuv, Zephyr's k_work) may fill
 * struct vback_loop_ops itself.
 *
 * Threading: unless an op says otherwise it is called on the loop thread.
 * Callbacks run on the loop thread, never re-entrantly from inside the op
 * that armed or posted them.
 */
#ifndef VBACK_LOOP_H
#define VBACK_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vback/base.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Work items and timers (caller-owned storage)                        */
/* ------------------------------------------------------------------ */

/** A work item's or timer's function; @opaque is the item's. */
typedef void (*vback_work_fn)(void *opaque);

/**
 * A unit of deferred work, owned by the caller, who keeps it valid while
 * it is pending. Initialize with vback_work_init(); the fields after
 * @opaque belong to the loop.
 */
struct vback_work {
	vback_work_fn fn; /**< run once per post, on the loop thread */
	void *opaque;	  /**< passed to @fn */
	/** @cond private: the loop's (pending flag and list links) */
	struct vback_work *next_;
	uintptr_t pending_;
	/** @endcond */
};

/** Prepare @w to run @fn(@opaque) when posted. Not while pending. */
static inline void vback_work_init(struct vback_work *w, vback_work_fn fn,
				   void *opaque)
{
	w->fn = fn;
	w->opaque = opaque;
	w->next_ = NULL;
	w->pending_ = 0;
}

/**
 * A timer, owned by the caller, who keeps it valid while it is armed.
 * Initialize with vback_timer_init(); the fields after @opaque belong to
 * the loop.
 */
struct vback_timer {
	vback_work_fn fn; /**< run at expiry, on the loop thread */
	void *opaque;	  /**< passed to @fn */
	/** @cond private: the loop's */
	struct vback_timer *next_;
	uint64_t deadline_ns_;
	uint64_t period_ns_;
	bool armed_;
	/** @endcond */
};

/** Prepare @t to run @fn(@opaque) at expiry. Not while armed. */
static inline void vback_timer_init(struct vback_timer *t, vback_work_fn fn,
				    void *opaque)
{
	t->fn = fn;
	t->opaque = opaque;
	t->next_ = NULL;
	t->deadline_ns_ = 0;
	t->period_ns_ = 0;
	t->armed_ = false;
}

/** True while @t is armed (loop thread). */
static inline bool vback_timer_armed(const struct vback_timer *t)
{
	return t->armed_;
}

/**
 * A poller (optional loop facility): something a loop may busy-poll for
 * work instead of sleeping until an fd or a post wakes it, e.g. a virtqueue
 * whose driver writes the avail ring, or an io_uring completion ring.
 * Owned by the caller, who keeps it valid while added. Initialize with
 * vback_poller_init(); the fields after @opaque belong to the loop.
 *
 * A loop that polls calls begin() once before a stretch of poll() calls,
 * poll() as often as it likes while the stretch lasts, and end() before
 * it sleeps. Between begin() and end() the poller may stop asking for
 * notifications (a virtqueue stops asking for kicks), since the loop
 * looks anyway; end() asks for them again and says whether work arrived
 * meanwhile (then the loop polls again instead of sleeping, so nothing is
 * missed in the window). All three run on the loop thread.
 */
struct vback_poller {
	/** Look for work and do it; true when there was some. Required. */
	bool (*poll)(void *opaque);
	/** Optional: a stretch of polling begins. */
	void (*begin)(void *opaque);
	/** Optional: the stretch ends and the loop may sleep; ask for
	 *  notifications again; true when work is already there. */
	bool (*end)(void *opaque);
	void *opaque; /**< passed to the three */
	/** @cond private: the loop's */
	struct vback_poller *next_;
	bool added_;
	bool polling_;
	/** @endcond */
};

/** Prepare @p; @begin and @end may be NULL. Not while added. */
static inline void vback_poller_init(struct vback_poller *p,
				     bool (*poll)(void *opaque),
				     void (*begin)(void *opaque),
				     bool (*end)(void *opaque), void *opaque)
{
	p->poll = poll;
	p->begin = begin;
	p->end = end;
	p->opaque = opaque;
	p->next_ = NULL;
	p->added_ = false;
	p->polling_ = false;
}

/* ------------------------------------------------------------------ */
/* The loop interface                                                  */
/* ------------------------------------------------------------------ */

/** Readiness bit for vback_loop_watch(): the fd is readable. */
#define VBACK_EV_IN (1u << 0)
/** Readiness bit for vback_loop_watch(): the fd is writable. */
#define VBACK_EV_OUT (1u << 1)
/** Reported only: error or hang-up on the fd. */
#define VBACK_EV_ERR (1u << 2)

/**
 * Called on the loop thread, from inside run()/run_once(), when @fd is
 * ready: @events holds the VBACK_EV_* bits that are (VBACK_EV_ERR may be
 * set without being asked for). @opaque is the one given to watch(). The
 * callback may watch, modify and unwatch any fd, its own included.
 */
typedef void (*vback_fd_fn)(void *opaque, int fd, uint32_t events);

/**
 * A loop implementation. post, cancel, timer_arm, timer_cancel and now
 * are required; the fd ops are the optional POSIX facility (all three or
 * none); run, run_once and stop are optional (an embedder who drives the
 * loop itself needs none of them).
 *
 * Rules for implementations: posted items run in the order they were
 * posted (FIFO), each once per post, with the pending flag cleared before
 * the function is called (so it may post itself again); a work function
 * or timer may post, arm and cancel anything; after unwatch() returns the
 * fd's callback is never called again, not even for events already
 * collected; run()/run_once() never sleep while work is pending.
 */
struct vback_loop_ops {
	/**
	 * Queue @w to run on the loop thread. Any thread, any context
	 * (interrupt handlers, signal handlers): lock-free, no allocation.
	 * 0, also when @w was already pending (nothing changes then).
	 */
	int (*post)(void *opaque, struct vback_work *w);
	/** Loop thread only: un-post @w if pending (it will not run). */
	void (*cancel)(void *opaque, struct vback_work *w);
	/**
	 * Loop thread only: run @t once @delay_ns have passed and then,
	 * when @period_ns is not 0, every @period_ns. Re-arming an armed
	 * timer moves it. 0, or -EINVAL.
	 */
	int (*timer_arm)(void *opaque, struct vback_timer *t, uint64_t delay_ns,
			 uint64_t period_ns);
	/** Loop thread only: disarm @t (no-op when not armed). */
	void (*timer_cancel)(void *opaque, struct vback_timer *t);
	/** The loop's monotonic clock, in nanoseconds. Any thread. */
	uint64_t (*now)(void *opaque);

	/** Optional: start watching @fd for @events (VBACK_EV_*), calling
	 *  @fn with @fn_opaque (one watch per fd). 0, -EEXIST, -errno. */
	int (*watch)(void *opaque, int fd, uint32_t events, vback_fd_fn fn,
		     void *fn_opaque);
	/** Optional: change the events of a watched fd. 0, -ENOENT. */
	int (*modify)(void *opaque, int fd, uint32_t events);
	/** Optional: stop watching @fd. 0 or -ENOENT. */
	int (*unwatch)(void *opaque, int fd);

	/** Optional: dispatch until stop() is called. 0, or -errno if
	 *  waiting failed. */
	int (*run)(void *opaque);
	/** Optional: one round of dispatch, waiting at most @timeout_ms
	 *  (-1: forever) when nothing is pending. The number of callbacks
	 *  run, or -errno. */
	int (*run_once)(void *opaque, int timeout_ms);
	/** Optional: make run() return after the current callback. Any
	 *  thread, and signal handlers. */
	void (*stop)(void *opaque);

	/**
	 * Optional (both or neither): add @p to the pollers the loop may
	 * busy-poll before it sleeps (see struct vback_poller); whether and
	 * how long it polls is the implementation's choice (the epoll loop:
	 * vback_epoll_loop_set_poll()). Loop thread only. 0 or -EEXIST.
	 */
	int (*poller_add)(void *opaque, struct vback_poller *p);
	/** Remove @p (no-op when not added); if a stretch of polling had
	 *  begun for it, its end() is not called. Loop thread only. */
	void (*poller_remove)(void *opaque, struct vback_poller *p);
};

/** A loop is its ops plus their context; small, passed by pointer. */
struct vback_loop {
	const struct vback_loop_ops *ops; /**< the implementation */
	void *opaque;			  /**< context passed to every op */
};

/** Post @w on @loop (see vback_loop_ops::post). Any thread or context. */
static inline int vback_loop_post(const struct vback_loop *loop,
				  struct vback_work *w)
{
	return loop->ops->post(loop->opaque, w);
}

/** Un-post @w (loop thread; see vback_loop_ops::cancel). */
static inline void vback_loop_cancel(const struct vback_loop *loop,
				     struct vback_work *w)
{
	loop->ops->cancel(loop->opaque, w);
}

/** Arm @t (loop thread; see vback_loop_ops::timer_arm). */
static inline int vback_timer_arm(const struct vback_loop *loop,
				  struct vback_timer *t, uint64_t delay_ns,
				  uint64_t period_ns)
{
	return loop->ops->timer_arm(loop->opaque, t, delay_ns, period_ns);
}

/** Disarm @t (loop thread; see vback_loop_ops::timer_cancel). */
static inline void vback_timer_cancel(const struct vback_loop *loop,
				      struct vback_timer *t)
{
	loop->ops->timer_cancel(loop->opaque, t);
}

/** @loop's monotonic clock in nanoseconds. */
static inline uint64_t vback_loop_now(const struct vback_loop *loop)
{
	return loop->ops->now(loop->opaque);
}

/** True when @loop can watch file descriptors. */
static inline bool vback_loop_has_fds(const struct vback_loop *loop)
{
	return loop->ops->watch != NULL;
}

/** True when @loop can busy-poll pollers (vback_loop_ops::poller_add). */
static inline bool vback_loop_has_pollers(const struct vback_loop *loop)
{
	return loop->ops->poller_add != NULL;
}

/** Add @p to @loop's pollers (loop thread): 0, -EEXIST, or -ENOTSUP
 *  when the loop does not poll (nothing was added then). */
VBACK_API int vback_loop_poller_add(const struct vback_loop *loop,
				    struct vback_poller *p);
/** Remove @p from @loop's pollers (loop thread); no-op when not added. */
VBACK_API void vback_loop_poller_remove(const struct vback_loop *loop,
					struct vback_poller *p);

/** Watch @fd (see vback_loop_ops::watch); -ENOTSUP for a loop without
 *  fds. */
VBACK_API int vback_loop_watch(const struct vback_loop *loop, int fd,
			       uint32_t events, vback_fd_fn fn,
			       void *fn_opaque);
/** Change what @fd is watched for; -ENOTSUP for a loop without fds. */
VBACK_API int vback_loop_modify(const struct vback_loop *loop, int fd,
				uint32_t events);
/** Stop watching @fd; -ENOENT when not watched (or no fds). */
VBACK_API int vback_loop_unwatch(const struct vback_loop *loop, int fd);

/** Dispatch callbacks until vback_loop_stop(): the loop's run(). Returns
 *  0 once stopped, -errno if waiting failed, -ENOTSUP when the
 *  implementation has no run(). Not re-entrant: never from a callback. */
VBACK_API int vback_loop_run(const struct vback_loop *loop);
/** One round of dispatch, waiting at most @timeout_ms (-1: forever) when
 *  nothing is pending: the number of callbacks run, -errno, or -ENOTSUP
 *  when the implementation has no run_once(). Not from inside a callback.
 */
VBACK_API int vback_loop_run_once(const struct vback_loop *loop,
				  int timeout_ms);
/** Make run() return after the current callback (callable from one, from
 *  another thread or a signal handler). No-op without stop(). */
VBACK_API void vback_loop_stop(const struct vback_loop *loop);

/* ------------------------------------------------------------------ */
/* The simple loop: no OS, driven by the embedder                      */
/* ------------------------------------------------------------------ */

/** What the simple loop needs from its embedder; copied at creation. */
struct vback_simple_loop_hooks {
	/**
	 * Optional: something was posted to an empty queue, possibly from
	 * another thread or an interrupt handler; arrange for
	 * vback_simple_loop_dispatch() to run soon (give a semaphore, set
	 * an event flag, send an SGI). Must be interrupt-safe.
	 */
	void (*wake)(void *opaque);
	/** Optional (required for timers to fire): a monotonic clock in
	 *  nanoseconds. Without it, now() is 0 and timers never expire. */
	uint64_t (*now_ns)(void *opaque);
	/**
	 * Optional, used by run(): nothing is pending; wait until woken or
	 * until @timeout_ns have passed (UINT64_MAX: no timer armed), e.g.
	 * WFI, or a semaphore take with a timeout. Without it run() spins.
	 */
	void (*idle)(void *opaque, uint64_t timeout_ns);
	void *opaque; /**< passed to every hook */
};

/**
 * Create a simple loop: post, cancel and timers, no fds. The embedder runs
 * it with vback_simple_loop_dispatch() (or vback_loop_run(), which calls
 * dispatch and the idle hook until vback_loop_stop()). Allocates once,
 * here. Returns 0 and the loop in *@out, -EINVAL or -ENOMEM.
 */
VBACK_API int vback_simple_loop_create(const struct vback_simple_loop_hooks *h,
				       struct vback_loop **out);
/** Free a simple loop: nothing may be pending or armed on it. NULL:
 *  no-op. */
VBACK_API void vback_simple_loop_destroy(struct vback_loop *loop);
/**
 * Run what is due now: every work item posted before the call (items
 * they post run in the next call) and every expired timer. Returns the
 * number of callbacks run. Call it from one thread only, the loop thread.
 */
VBACK_API unsigned int vback_simple_loop_dispatch(struct vback_loop *loop);
/**
 * Nanoseconds until the next call of vback_simple_loop_dispatch() has
 * something to do: 0 when work is pending or a timer expired, UINT64_MAX
 * when nothing is posted and no timer is armed.
 */
VBACK_API uint64_t vback_simple_loop_timeout(const struct vback_loop *loop);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_LOOP_H */
