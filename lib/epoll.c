/* SPDX-License-Identifier: MIT */
/*
 * The Linux epoll implementation of the event-loop interface.
 *
 * Watches live in a table indexed by fd. Each epoll event carries the fd and
 * the watch's generation, so an event collected before its fd was unwatched
 * (or unwatched and watched again by an earlier callback of the same batch)
 * is dropped instead of calling a stale callback.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <vback/base.h>

#define EPOLL_BATCH 64

struct watch {
	vback_fd_fn fn;
	void *opaque;
	uint32_t gen; /* 0: not watched */
};

struct epoll_loop {
	struct vback_loop loop; /* first: the public handle */
	int epfd;
	int stopfd; /* eventfd: stop() from any thread or signal handler */
	atomic_bool stop;
	struct watch *watches;
	size_t nwatches;
	uint32_t next_gen;
	const struct vback_log *log;
};

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

static int ep_run_once(void *opaque, int timeout_ms)
{
	struct epoll_loop *l = opaque;
	struct epoll_event evs[EPOLL_BATCH];
	int n, ran = 0;

	n = epoll_wait(l->epfd, evs, EPOLL_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct watch *w;

		if (fd == l->stopfd) {
			uint64_t v;

			if (read(l->stopfd, &v, sizeof(v)) < 0) {
				/* EAGAIN: another stop() already drained it */
			}
			continue;
		}
		w = lookup(l, fd);
		if (!w || w->gen != gen)
			continue; /* unwatched by an earlier callback */
		w->fn(w->opaque, fd, from_epoll(evs[i].events));
		ran++;
	}
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
	uint64_t one = 1;

	/* Async-signal-safe: an atomic store and a write(2). */
	atomic_store(&l->stop, true);
	if (write(l->stopfd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, a wakeup pends */
	}
}

static const struct vback_loop_ops epoll_ops = {
	.watch = ep_watch,
	.modify = ep_modify,
	.unwatch = ep_unwatch,
	.run = ep_run,
	.run_once = ep_run_once,
	.stop = ep_stop,
};

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
	l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->stopfd < 0) {
		ret = -errno;
		goto fail;
	}
	ev.data.u64 = ev_key(l->stopfd, 0);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stopfd, &ev) < 0) {
		ret = -errno;
		goto fail;
	}
	atomic_init(&l->stop, false);
	l->loop.ops = &epoll_ops;
	l->loop.opaque = l;
	*out = &l->loop;
	return 0;
fail:
	vback_logf(log, VBACK_LOG_ERR, "epoll loop: %s", vback_strerror(ret));
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->stopfd >= 0)
		close(l->stopfd);
	free(l);
	return ret;
}

void vback_epoll_loop_destroy(struct vback_loop *loop)
{
	struct epoll_loop *l;

	if (!loop)
		return;
	l = loop->opaque;
	close(l->epfd);
	close(l->stopfd);
	free(l->watches);
	free(l);
}
