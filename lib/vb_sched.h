/* SPDX-License-Identifier: MIT */
/*
 * The part of a loop every implementation shares: posted work and timers
 * (include/vback/loop.h). OS-free: the epoll loop and the simple loop add
 * waiting, waking and a clock around it.
 *
 * Posting is a lock-free push onto a LIFO of incoming items (any thread,
 * interrupt handlers). The loop thread moves them, in posting order, to a
 * private FIFO and runs them from there; cancel() only ever touches that
 * FIFO, after taking what is incoming, so it needs no lock either. Timers
 * are a list sorted by deadline (a loop has a handful).
 */
#ifndef VBACK_LIB_VB_SCHED_H
#define VBACK_LIB_VB_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include <vback/loop.h>

struct vb_sched {
	struct vback_work *incoming;	/* atomic: LIFO of posted items */
	struct vback_work *head, *tail; /* loop thread: FIFO, oldest first */
	struct vback_work *last;	/* last item of the running batch */
	struct vback_timer *timers;	/* armed, earliest deadline first */
};

/* Post @w (any thread or context). True when the caller may have to wake
 * the loop: @w is the first item incoming since the loop last looked. */
bool vb_sched_post(struct vb_sched *s, struct vback_work *w);
/* Loop thread: un-post @w. */
void vb_sched_cancel(struct vb_sched *s, struct vback_work *w);
/* Loop thread: arm @t at @now + @delay, then every @period (0: once). */
int vb_sched_timer_arm(struct vb_sched *s, struct vback_timer *t, uint64_t now,
		       uint64_t delay, uint64_t period);
void vb_sched_timer_cancel(struct vb_sched *s, struct vback_timer *t);
/*
 * Loop thread: run the work posted before the call (what it posts runs
 * next time), then the timers expired at @now. Returns how many ran.
 */
unsigned int vb_sched_run(struct vb_sched *s, uint64_t now);
/* Any work posted and not run yet? (any thread: a hint) */
bool vb_sched_work_pending(struct vb_sched *s);
/* Loop thread: ns from @now until there is something to run (0: now),
 * UINT64_MAX when nothing is posted or armed. */
uint64_t vb_sched_timeout(struct vb_sched *s, uint64_t now);
/* Loop thread: true when nothing is posted or armed (for destroy). */
bool vb_sched_idle(struct vb_sched *s);

#endif /* VBACK_LIB_VB_SCHED_H */
