/* SPDX-License-Identifier: MIT */
/*
 * The Linux epoll implementation of the event-loop interface.
 *
 * Watches live in a table indexed by fd. Each epoll event carries the fd and
 * the watch's generation, so an event collected before its fd was unwatched
 * (or unwatched and watched again by an earlier callback of the same batch)
 * is dropped instead of calling a stale callback.
 *
 * Posted work and timers are sched.c's. A post from another thread (or a
 * signal handler) writes the wake eventfd only while the loop sleeps in
 * epoll_wait(): a post from a callback costs no system call.
 *
 * Adaptive polling (vback_epoll_loop_set_poll()): before it sleeps, the
 * loop busy-polls its pollers (virtqueues, completion rings) for up to
 * poll_ns. Work found keeps the stretch going with the pollers' own
 * notifications off, so a busy ring costs no kick, no wake-up and no
 * eventfd read. poll_ns follows what the sleeps that end a stretch show:
 * a sleep shorter than the maximum would have been caught by polling
 * longer (it doubles, up to the maximum); a longer one is idle time that
 * polling would only burn (it halves, down to 0, where sleeps alone are
 * measured until they get short again). A stretch that found nothing and
 * a sleep that work ended at once (within 10 us, or a quarter of the
 * stretch) say the opposite: the producer could not run while we polled,
 * as when it shares our CPU, and polling only delayed it; four of those
 * in a row and the loop rests from polling for 100 ms.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <vback/epoll.h>

#include "vb_sched.h"

#define EPOLL_BATCH 64

struct watch {
	vback_fd_fn fn;
	void *opaque;
	uint32_t gen; /* 0: not watched */
};

struct epoll_loop {
	struct vback_loop loop; /* first: the public handle */
	int epfd;
	int wakefd; /* eventfd: post() and stop() from elsewhere */
	atomic_bool stop;
	atomic_bool sleeping; /* in epoll_wait(): a post must wake us */
	struct vb_sched sched;
	struct watch *watches;
	size_t nwatches;
	uint32_t next_gen;
	const struct vback_log *log;
	/* Polling (loop thread only). */
	struct vback_poller *pollers;
	uint32_t pollers_gen; /* bumped by every add and remove */
	bool polling;	      /* between the pollers' begin() and end() */
	uint64_t poll_max_ns; /* 0: never poll */
	uint64_t poll_ns;     /* the adaptive budget, 0 .. poll_max_ns */
	uint64_t missed_ns;   /* the stretch before this sleep found nothing */
	unsigned int futile;  /* ... and work came at once after: in a row */
	uint64_t rest_until;  /* no polling before (loop clock) */
	struct vback_epoll_poll_stats poll_stats;
};

/* Below this the budget is not worth a stretch: 0 instead. */
#define POLL_MIN_NS 1000u
/*
 * Work that comes sooner than this (or than a quarter of the stretch)
 * after a stretch found nothing came because we stopped polling: its
 * producer could not run meanwhile (it shares our CPU). After POLL_FUTILE
 * such stretches in a row the loop stops polling for POLL_REST_NS.
 */
#define POLL_FUTILE_NS 10000u
#define POLL_FUTILE    4u
#define POLL_REST_NS   100000000u

static uint64_t ev_key(int fd, uint32_t gen)
{
	return (uint64_t)(uint32_t)fd | (uint64_t)gen << 32;
}

static uint32_t to_epoll(uint32_t events)
{
	uint32_t e = 0;

	if (events & VBACK_EV_IN)
		e |= EPOLLIN;
	if (events & VBACK_EV_OUT)
		e |= EPOLLOUT;
	return e;
}

static uint32_t from_epoll(uint32_t e)
{
	uint32_t events = 0;

	if (e & EPOLLIN)
		events |= VBACK_EV_IN;
	if (e & EPOLLOUT)
		events |= VBACK_EV_OUT;
	if (e & (EPOLLERR | EPOLLHUP))
		events |= VBACK_EV_ERR;
	return events;
}

static struct watch *lookup(struct epoll_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nwatches || !l->watches[fd].gen)
		return NULL;
	return &l->watches[fd];
}

static int grow(struct epoll_loop *l, int fd)
{
	size_t n = l->nwatches ? l->nwatches : 64;
	struct watch *w;

	while (n <= (size_t)fd)
		n *= 2;
	if (n == l->nwatches)
		return 0;
	w = realloc(l->watches, n * sizeof(*w));
	if (!w)
		return -ENOMEM;
	memset(w + l->nwatches, 0, (n - l->nwatches) * sizeof(*w));
	l->watches = w;
	l->nwatches = n;
	return 0;
}

static int ep_watch(void *opaque, int fd, uint32_t events, vback_fd_fn fn,
		    void *fn_opaque)
{
	struct epoll_loop *l = opaque;
	struct epoll_event ev = { 0 };
	uint32_t gen;
	int ret;

	if (fd < 0 || !fn)
		return -EINVAL;
	if (lookup(l, fd))
		return -EEXIST;
	ret = grow(l, fd);
	if (ret)
		return ret;
	gen = ++l->next_gen ? l->next_gen : ++l->next_gen; /* never 0 */
	ev.events = to_epoll(events);
	ev.data.u64 = ev_key(fd, gen);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->watches[fd] =
		(struct watch){ .fn = fn, .opaque = fn_opaque, .gen = gen };
	return 0;
}

static int ep_modify(void *opaque, int fd, uint32_t events)
{
	struct epoll_loop *l = opaque;
	struct watch *w = lookup(l, fd);
	struct epoll_event ev = { 0 };

	if (!w)
		return -ENOENT;
	ev.events = to_epoll(events);
	ev.data.u64 = ev_key(fd, w->gen);
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

static int ep_unwatch(void *opaque, int fd)
{
	struct epoll_loop *l = opaque;
	struct watch *w = lookup(l, fd);

	if (!w)
		return -ENOENT;
	/* The fd may already be closed (then the kernel dropped it from the
	 * set itself): the table entry is what callers rely on. */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	*w = (struct watch){ 0 };
	return 0;
}

static uint64_t ep_now(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void wake(struct epoll_loop *l)
{
	uint64_t one = 1;

	/* Async-signal-safe: a write(2). */
	if (write(l->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, a wakeup pends */
	}
}

static int ep_post(void *opaque, struct vback_work *w)
{
	struct epoll_loop *l = opaque;

	vb_sched_post(&l->sched, w);
	/* Pairs with the store of @sleeping before the last look at the
	 * queue in ep_run_once(): either it sees @w, or we see it sleep. */
	if (atomic_load(&l->sleeping))
		wake(l);
	return 0;
}

static void ep_cancel(void *opaque, struct vback_work *w)
{
	struct epoll_loop *l = opaque;

	vb_sched_cancel(&l->sched, w);
}

static int ep_timer_arm(void *opaque, struct vback_timer *t, uint64_t delay,
			uint64_t period)
{
	struct epoll_loop *l = opaque;

	return vb_sched_timer_arm(&l->sched, t, ep_now(l), delay, period);
}

static void ep_timer_cancel(void *opaque, struct vback_timer *t)
{
	struct epoll_loop *l = opaque;

	vb_sched_timer_cancel(&l->sched, t);
}

/* ------------------------------------------------------------------ */
/* Polling                                                             */
/* ------------------------------------------------------------------ */

static int ep_poller_add(void *opaque, struct vback_poller *p)
{
	struct epoll_loop *l = opaque;

	if (p->added_)
		return -EEXIST;
	p->next_ = l->pollers;
	p->added_ = true;
	p->polling_ = false;
	l->pollers = p;
	l->pollers_gen++;
	return 0;
}

static void ep_poller_remove(void *opaque, struct vback_poller *p)
{
	struct epoll_loop *l = opaque;

	for (struct vback_poller **pp = &l->pollers; *pp; pp = &(*pp)->next_) {
		if (*pp == p) {
			*pp = p->next_;
			break;
		}
	}
	p->next_ = NULL;
	p->added_ = false;
	p->polling_ = false;
	l->pollers_gen++;
}

/* One look at every poller; true when one found work. A callback may add
 * or remove pollers (a queue reset): then the round ends there and the
 * rest wait for the next one. */
static bool poll_round(struct epoll_loop *l)
{
	uint32_t gen = l->pollers_gen;
	bool progress = false;

	for (struct vback_poller *p = l->pollers; p; p = p->next_) {
		if (!p->polling_) {
			p->polling_ = true;
			if (p->begin)
				p->begin(p->opaque);
			if (gen != l->pollers_gen)
				return true;
		}
		if (p->poll(p->opaque))
			progress = true;
		if (gen != l->pollers_gen)
			return true;
	}
	return progress;
}

/* The stretch is over: notifications on again. True if work came in the
 * meantime (the loop must not sleep then). */
static bool poll_end(struct epoll_loop *l)
{
	uint32_t gen = l->pollers_gen;
	bool pending = false;

	l->polling = false;
	for (struct vback_poller *p = l->pollers; p; p = p->next_) {
		if (!p->polling_)
			continue;
		p->polling_ = false;
		if (p->end && p->end(p->opaque))
			pending = true;
		if (gen != l->pollers_gen)
			return true; /* the list changed: look again */
	}
	return pending;
}

/*
 * Busy-poll for up to the budget (and never past the next timer) before
 * sleeping. True when something was found: do not sleep.
 */
static bool poll_before_sleep(struct epoll_loop *l)
{
	uint64_t start = ep_now(l), now = start, limit = l->poll_ns;
	uint64_t timer = vb_sched_timeout(&l->sched, start);

	if (timer < limit)
		limit = timer;
	l->polling = true;
	do {
		if (poll_round(l) || vb_sched_work_pending(&l->sched)) {
			l->poll_stats.hits++;
			l->poll_stats.polled_ns += ep_now(l) - start;
			return true;
		}
		now = ep_now(l);
	} while (now - start < limit);
	l->poll_stats.misses++;
	l->poll_stats.polled_ns += now - start;
	l->missed_ns = now - start;
	return poll_end(l);
}

/* A sleep of @ns, ending at @now, ended a stretch: adapt the budget. */
static void poll_adapt(struct epoll_loop *l, uint64_t ns, uint64_t now)
{
	uint64_t missed = l->missed_ns; /* reset by each ep_run_once() */

	if (missed && (ns < POLL_FUTILE_NS || ns < missed / 4)) {
		/* Polling more would only have kept the producer waiting. */
		if (++l->futile >= POLL_FUTILE) {
			l->futile = 0;
			l->poll_ns = 0;
			l->rest_until = now + POLL_REST_NS;
		}
		return;
	}
	l->futile = 0;
	if (!l->poll_ns && now < l->rest_until)
		return;
	if (ns > l->poll_max_ns) {
		l->poll_ns /= 2;
		if (l->poll_ns < POLL_MIN_NS)
			l->poll_ns = 0;
		return;
	}
	if (ns <= l->poll_ns)
		return; /* polled for less than the budget: not a timeout */
	l->poll_ns = l->poll_ns < POLL_MIN_NS ? POLL_MIN_NS : l->poll_ns * 2;
	if (l->poll_ns < ns + ns / 2)
		l->poll_ns = ns + ns / 2;
	if (l->poll_ns > l->poll_max_ns)
		l->poll_ns = l->poll_max_ns;
}

/* How long epoll_wait() may sleep: the caller's bound, the next timer,
 * and not at all when work is pending. */
static int wait_ms(struct epoll_loop *l, int timeout_ms)
{
	uint64_t ns = vb_sched_timeout(&l->sched, ep_now(l));
	uint64_t ms;

	if (ns == UINT64_MAX)
		return timeout_ms;
	ms = (ns + 999999u) / 1000000u; /* round up: never wake early */
	if (ms > INT32_MAX)
		ms = INT32_MAX;
	if (timeout_ms >= 0 && (uint64_t)timeout_ms < ms)
		return timeout_ms;
	return (int)ms;
}

static int ep_run_once(void *opaque, int timeout_ms)
{
	struct epoll_loop *l = opaque;
	struct epoll_event evs[EPOLL_BATCH];
	uint64_t slept = 0;
	int n, ran = 0;

	timeout_ms = wait_ms(l, timeout_ms);
	l->missed_ns = 0;
	if (timeout_ms && l->poll_max_ns && l->pollers) {
		if (l->poll_ns && poll_before_sleep(l))
			timeout_ms = 0;
		else if (l->polling && poll_end(l))
			timeout_ms = 0;
	}
	if (timeout_ms) {
		atomic_store(&l->sleeping, true);
		/* A post that did not see us sleeping is visible now. */
		if (vb_sched_work_pending(&l->sched))
			timeout_ms = 0;
		else if (l->poll_max_ns && l->pollers)
			slept = ep_now(l);
	}
	n = epoll_wait(l->epfd, evs, EPOLL_BATCH, timeout_ms);
	atomic_store(&l->sleeping, false);
	if (slept) {
		uint64_t now = ep_now(l);

		poll_adapt(l, now - slept, now);
	}
	if (n < 0)
		n = errno == EINTR ? 0 : -errno;
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct watch *w;

		if (fd == l->wakefd) {
			uint64_t v;

			if (read(l->wakefd, &v, sizeof(v)) < 0) {
				/* EAGAIN: another waker already drained it */
			}
			continue;
		}
		w = lookup(l, fd);
		if (!w || w->gen != gen)
			continue; /* unwatched by an earlier callback */
		w->fn(w->opaque, fd, from_epoll(evs[i].events));
		ran++;
	}
	/* After the fd callbacks: what they posted (completion batches,
	 * deferred notifications) runs before the next sleep. */
	ran += (int)vb_sched_run(&l->sched, ep_now(l));
	return ran;
}

static int ep_run(void *opaque)
{
	struct epoll_loop *l = opaque;

	while (!atomic_load(&l->stop)) {
		int ret = ep_run_once(l, -1);

		if (ret < 0)
			return ret;
	}
	atomic_store(&l->stop, false);
	return 0;
}

static void ep_stop(void *opaque)
{
	struct epoll_loop *l = opaque;

	/* Async-signal-safe: an atomic store and a write(2). */
	atomic_store(&l->stop, true);
	wake(l);
}

static const struct vback_loop_ops epoll_ops = {
	.post = ep_post,
	.cancel = ep_cancel,
	.timer_arm = ep_timer_arm,
	.timer_cancel = ep_timer_cancel,
	.now = ep_now,
	.watch = ep_watch,
	.modify = ep_modify,
	.unwatch = ep_unwatch,
	.run = ep_run,
	.run_once = ep_run_once,
	.stop = ep_stop,
	.poller_add = ep_poller_add,
	.poller_remove = ep_poller_remove,
};

int vback_epoll_loop_set_poll(struct vback_loop *loop, uint64_t max_ns)
{
	struct epoll_loop *l;

	if (!loop || loop->ops != &epoll_ops)
		return -EINVAL;
	l = loop->opaque;
	l->poll_max_ns = max_ns;
	l->poll_ns = max_ns;
	l->futile = 0;
	l->rest_until = 0;
	return 0;
}

int vback_epoll_loop_get_poll_stats(const struct vback_loop *loop,
				    struct vback_epoll_poll_stats *stats)
{
	const struct epoll_loop *l;

	if (!loop || !stats || loop->ops != &epoll_ops)
		return -EINVAL;
	l = loop->opaque;
	*stats = l->poll_stats;
	stats->poll_ns = l->poll_ns;
	return 0;
}

int vback_epoll_loop_create(const struct vback_log *log,
			    struct vback_loop **out)
{
	struct epoll_loop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN };
	int ret;

	if (!l)
		return -ENOMEM;
	l->log = log;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wakefd < 0) {
		ret = -errno;
		goto fail;
	}
	ev.data.u64 = ev_key(l->wakefd, 0);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0) {
		ret = -errno;
		goto fail;
	}
	atomic_init(&l->stop, false);
	atomic_init(&l->sleeping, false);
	l->loop.ops = &epoll_ops;
	l->loop.opaque = l;
	*out = &l->loop;
	return 0;
fail:
	vback_logf(log, VBACK_LOG_ERR, "epoll loop: %s", vback_strerror(ret));
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	free(l);
	return ret;
}

void vback_epoll_loop_destroy(struct vback_loop *loop)
{
	struct epoll_loop *l;

	if (!loop)
		return;
	l = loop->opaque;
	if (!vb_sched_idle(&l->sched))
		vback_logf(l->log, VBACK_LOG_WARN, "%s",
			   "epoll loop destroyed with work posted or timers "
			   "armed; they never run");
	close(l->epfd);
	close(l->wakefd);
	free(l->watches);
	free(l);
}
