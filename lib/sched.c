/* SPDX-License-Identifier: MIT */
/* Posted work and timers shared by the loop implementations (vb_sched.h). */
#include "vb_sched.h"
#include "vb_os.h"

bool vb_sched_post(struct vb_sched *s, struct vback_work *w)
{
	struct vback_work *old;

	/* Pending already: it will run once, and that covers this post. */
	if (__atomic_exchange_n(&w->pending_, 1, __ATOMIC_ACQ_REL))
		return false;
	old = __atomic_load_n(&s->incoming, __ATOMIC_RELAXED);
	do {
		w->next_ = old;
		/*
		 * Sequentially consistent: the push must be visible before the
		 * poster reads whether the loop sleeps (epoll.c), and it
		 * publishes the item's fields to the taking exchange below.
		 */
	} while (!__atomic_compare_exchange_n(&s->incoming, &old, w, true,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
	return old == NULL;
}

/* Move what was posted since last time to the FIFO, oldest first. */
static void take_incoming(struct vb_sched *s)
{
	struct vback_work *w, *rev = NULL, *first;

	w = __atomic_exchange_n(&s->incoming, NULL, __ATOMIC_SEQ_CST);
	if (!w)
		return;
	while (w) { /* the stack is newest first: reverse it */
		struct vback_work *next = w->next_;

		w->next_ = rev;
		rev = w;
		w = next;
	}
	first = rev;
	while (rev->next_)
		rev = rev->next_;
	if (s->tail)
		s->tail->next_ = first;
	else
		s->head = first;
	s->tail = rev;
}

void vb_sched_cancel(struct vb_sched *s, struct vback_work *w)
{
	struct vback_work *prev = NULL, *it;

	if (!__atomic_load_n(&w->pending_, __ATOMIC_ACQUIRE))
		return;
	take_incoming(s);
	for (it = s->head; it && it != w; it = it->next_)
		prev = it;
	if (!it)
		return; /* cannot happen: pending items are incoming or here */
	if (prev)
		prev->next_ = w->next_;
	else
		s->head = w->next_;
	if (s->tail == w)
		s->tail = prev;
	if (s->last == w)
		s->last = prev;
	w->next_ = NULL;
	__atomic_store_n(&w->pending_, 0, __ATOMIC_RELEASE);
}

static void timer_unlink(struct vb_sched *s, struct vback_timer *t)
{
	struct vback_timer **pp;

	for (pp = &s->timers; *pp; pp = &(*pp)->next_) {
		if (*pp == t) {
			*pp = t->next_;
			break;
		}
	}
	t->next_ = NULL;
	t->armed_ = false;
}

/* Insert after every timer with the same deadline: FIFO among equals. */
static void timer_insert(struct vb_sched *s, struct vback_timer *t)
{
	struct vback_timer **pp = &s->timers;

	while (*pp && (*pp)->deadline_ns_ <= t->deadline_ns_)
		pp = &(*pp)->next_;
	t->next_ = *pp;
	*pp = t;
	t->armed_ = true;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int vb_sched_timer_arm(struct vb_sched *s, struct vback_timer *t, uint64_t now,
		       uint64_t delay, uint64_t period)
{
	if (!t || !t->fn)
		return -EINVAL;
	if (t->armed_)
		timer_unlink(s, t);
	t->deadline_ns_ = add_sat(now, delay);
	t->period_ns_ = period;
	timer_insert(s, t);
	return 0;
}

void vb_sched_timer_cancel(struct vb_sched *s, struct vback_timer *t)
{
	if (t && t->armed_)
		timer_unlink(s, t);
}

unsigned int vb_sched_run(struct vb_sched *s, uint64_t now)
{
	unsigned int ran = 0, due = 0;
	const struct vback_timer *it;

	/* The common case of a busy loop: nothing posted, nothing due. */
	if (!s->head && !__atomic_load_n(&s->incoming, __ATOMIC_RELAXED) &&
	    (!s->timers || s->timers->deadline_ns_ > now))
		return 0;

	/* The timers due at entry, counted now: one that re-arms itself with
	 * no delay fires again next run, not in an endless loop here. */
	for (it = s->timers; it && it->deadline_ns_ <= now; it = it->next_)
		due++;

	take_incoming(s);
	/* Only this batch: what the callbacks post waits for the next run,
	 * so an item that always re-posts itself cannot keep us here. */
	s->last = s->tail;
	while (s->last) {
		struct vback_work *w = s->head;
		bool final = w == s->last;

		s->head = w->next_;
		if (!s->head)
			s->tail = NULL;
		if (final)
			s->last = NULL;
		w->next_ = NULL;
		/* Cleared first: the function may post itself again. */
		__atomic_store_n(&w->pending_, 0, __ATOMIC_RELEASE);
		w->fn(w->opaque);
		ran++;
	}
	while (due-- && s->timers && s->timers->deadline_ns_ <= now) {
		struct vback_timer *t = s->timers;

		s->timers = t->next_;
		t->next_ = NULL;
		t->armed_ = false;
		if (t->period_ns_) {
			/* Late ticks are merged, not replayed in a burst. */
			t->deadline_ns_ =
				add_sat(t->deadline_ns_, t->period_ns_);
			if (t->deadline_ns_ <= now)
				t->deadline_ns_ = add_sat(now, t->period_ns_);
			timer_insert(s, t);
		}
		t->fn(t->opaque);
		ran++;
	}
	return ran;
}

bool vb_sched_work_pending(struct vb_sched *s)
{
	return s->head || __atomic_load_n(&s->incoming, __ATOMIC_SEQ_CST);
}

uint64_t vb_sched_timeout(struct vb_sched *s, uint64_t now)
{
	if (vb_sched_work_pending(s))
		return 0;
	if (!s->timers)
		return UINT64_MAX;
	return s->timers->deadline_ns_ <= now ? 0
					      : s->timers->deadline_ns_ - now;
}

bool vb_sched_idle(struct vb_sched *s)
{
	return !vb_sched_work_pending(s) && !s->timers;
}
