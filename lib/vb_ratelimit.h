/* SPDX-License-Identifier: MIT */
/*
 * Rate limit for log lines an untrusted party (a guest, a front-end) can
 * trigger: at most VB_RL_BURST lines per VB_RL_WINDOW_NS of the loop's
 * clock; the next line allowed after a window reports how many were
 * dropped. A clock that never moves (a simple loop without now_ns) still
 * bounds the lines: VB_RL_BURST for the object's life.
 */
#ifndef VBACK_VB_RATELIMIT_H
#define VBACK_VB_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <vback/base.h>

#define VB_RL_BURST 10u
/* The limiter of a level: [0] errors and warnings, [1] info and debug. */
#define VB_RL_CLASS(level) ((level) >= VBACK_LOG_INFO ? 1 : 0)
#define VB_RL_WINDOW_NS	   (5ull * 1000000000ull)

struct vb_ratelimit {
	uint64_t start;	     /* window start, loop clock */
	uint32_t n;	     /* lines in this window */
	uint32_t suppressed; /* dropped since the last line let through */
};

/* May a line go out at @now? On true, *@dropped is the count to report
 * (0: nothing was dropped). Keep one per class of lines (problems apart
 * from debug chatter) so one cannot starve the other. */
static inline bool vb_ratelimit(struct vb_ratelimit *rl, uint64_t now,
				uint32_t *dropped)
{
	*dropped = 0;
	if (now - rl->start >= VB_RL_WINDOW_NS) {
		rl->start = now;
		rl->n = 0;
	}
	if (rl->n >= VB_RL_BURST) {
		if (rl->suppressed < UINT32_MAX)
			rl->suppressed++;
		return false;
	}
	rl->n++;
	*dropped = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

#endif /* VBACK_VB_RATELIMIT_H */
