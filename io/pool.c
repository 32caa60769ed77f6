/* SPDX-License-Identifier: MIT */
/*
 * A small pool of worker threads for synchronous disk work, so the loop
 * thread never blocks on the disk. Requests travel on intrusive lists
 * (IO_SCR_NEXT): nothing is allocated per request. A finished request goes
 * on the done list; the worker that makes the list non-empty writes the
 * owner's eventfd, and the owner takes the whole list on its loop thread.
 *
 * The io_uring engine's pool only sees the rare requests the ring cannot
 * do, and there is one per ring: its threads and bounce buffers are only
 * made when the first request comes (a pool that is never used costs no
 * thread and no resident memory), and the owner's look for finished work
 * after each reap is one atomic load, not a lock.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "io_internal.h"

struct io_list {
	struct vback_io_req *head, *tail;
};

struct worker {
	struct io_pool *pool;
	pthread_t thread;
	struct io_buffers bufs;
};

struct io_pool {
	const struct io_disk *disk;
	int efd;
	pthread_mutex_t lock;
	pthread_cond_t work; /* queue non-empty or stopping */
	pthread_cond_t idle; /* busy dropped to 0 */
	struct io_list queue;
	struct io_list done;
	unsigned int busy;  /* queued + running */
	unsigned int ndone; /* atomic: requests on the done list */
	bool stopping;
	bool started; /* threads and buffers made (first request) */
	void *zeroes; /* mmap'ed: zero pages, never written */
	unsigned int nworkers;
	struct worker *workers;
};

static void list_push(struct io_list *l, struct vback_io_req *req)
{
	io_req_set_next(req, NULL);
	if (l->tail)
		io_req_set_next(l->tail, req);
	else
		l->head = req;
	l->tail = req;
}

static struct vback_io_req *list_pop(struct io_list *l)
{
	struct vback_io_req *req = l->head;

	if (req) {
		l->head = io_req_next(req);
		if (!l->head)
			l->tail = NULL;
	}
	return req;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct io_pool *p = w->pool;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct vback_io_req *req;
		bool was_empty;
		int ret;

		while (!p->queue.head && !p->stopping)
			pthread_cond_wait(&p->work, &p->lock);
		req = list_pop(&p->queue);
		if (!req)
			break; /* stopping and nothing left */
		pthread_mutex_unlock(&p->lock);

		ret = io_sync_exec(p->disk, req, &w->bufs);

		pthread_mutex_lock(&p->lock);
		io_req_set_result(req, ret);
		was_empty = !p->done.head;
		list_push(&p->done, req);
		__atomic_add_fetch(&p->ndone, 1, __ATOMIC_RELEASE);
		if (!--p->busy)
			pthread_cond_broadcast(&p->idle);
		/* The owner takes the whole list per wake-up: one signal per
		 * transition from empty is enough. */
		if (was_empty)
			io_eventfd_signal(p->efd);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void *alloc_aligned(size_t len)
{
	void *buf;

	/* Page alignment satisfies any O_DIRECT memory alignment. */
	if (posix_memalign(&buf, 4096, len))
		return NULL;
	return buf;
}

static void stop_workers(struct io_pool *p, unsigned int started)
{
	if (!p->started)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(p->workers[i].thread, NULL);
}

static void free_pool(struct io_pool *p)
{
	for (unsigned int i = 0; i < p->nworkers; i++)
		free(p->workers[i].bufs.bounce);
	free(p->workers);
	if (p->zeroes)
		munmap(p->zeroes, IO_BOUNCE_LEN);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* The threads and their bounce buffers, at the first request. A failure
 * leaves the pool to try again at the next one. */
static int start_workers(struct io_pool *p)
{
	sigset_t all, old;
	unsigned int i;
	int ret = 0;

	for (i = 0; i < p->nworkers; i++) {
		struct worker *w = &p->workers[i];

		w->pool = p;
		w->bufs.zeroes = p->zeroes;
		w->bufs.len = IO_BOUNCE_LEN;
		if (!w->bufs.bounce)
			w->bufs.bounce = alloc_aligned(IO_BOUNCE_LEN);
		if (!w->bufs.bounce)
			return -ENOMEM;
	}
	/* Workers take no signals: the process's handlers run on the threads
	 * its owner chose, never in the middle of disk work. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < p->nworkers; i++) {
		ret = pthread_create(&p->workers[i].thread, NULL, worker_main,
				     &p->workers[i]);
		if (ret)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	p->started = true;
	if (i < p->nworkers) {
		stop_workers(p, i);
		p->started = false;
		p->stopping = false;
		return -ret;
	}
	return 0;
}

int io_pool_create(const struct io_disk *disk, unsigned int workers, int efd,
		   struct io_pool **out)
{
	struct io_pool *p;

	if (!workers)
		workers = IO_DEFAULT_WORKERS;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->disk = disk;
	p->efd = efd;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->nworkers = workers;
	p->workers = calloc(workers, sizeof(*p->workers));
	/* Fresh anonymous pages read as zeroes and cost nothing until
	 * written, which never happens. Page-aligned for O_DIRECT. */
	p->zeroes = mmap(NULL, IO_BOUNCE_LEN, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->zeroes == MAP_FAILED)
		p->zeroes = NULL;
	if (!p->workers || !p->zeroes) {
		free_pool(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void io_pool_queue(struct io_pool *p, struct vback_io_req *req)
{
	pthread_mutex_lock(&p->lock);
	if (!p->started) {
		int ret = start_workers(p);

		if (ret) {
			/* Nobody to run it: it fails, through the done
			 * list like any result. */
			io_req_set_result(req, ret);
			list_push(&p->done, req);
			__atomic_add_fetch(&p->ndone, 1, __ATOMIC_RELEASE);
			io_eventfd_signal(p->efd);
			pthread_mutex_unlock(&p->lock);
			return;
		}
	}
	list_push(&p->queue, req);
	p->busy++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

struct vback_io_req *io_pool_take_done(struct io_pool *p)
{
	struct vback_io_req *list;

	/* The common case, after every reap of the ring: nothing. */
	if (!__atomic_load_n(&p->ndone, __ATOMIC_ACQUIRE))
		return NULL;
	pthread_mutex_lock(&p->lock);
	list = p->done.head;
	p->done.head = p->done.tail = NULL;
	__atomic_store_n(&p->ndone, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&p->lock);
	return list;
}

void io_pool_wait_idle(struct io_pool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->busy)
		pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void io_pool_destroy(struct io_pool *p)
{
	if (!p)
		return;
	stop_workers(p, p->nworkers);
	free_pool(p);
}
