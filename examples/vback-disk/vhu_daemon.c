/* SPDX-License-Identifier: MIT */
/*
 * vback-disk's vhost-user mode: disks (an image, a virtio-blk device, a
 * vhost-user socket each) that come and go, on one loop. Wiring only: the
 * transport speaks vhost-user, the virtio layer is the device, the IO
 * layer the image. See vhu_daemon.h.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <vback/epoll.h>
#include <vback/io.h>
#include <vback/vhost_user.h>

#include "config.h"
#include "ctl_common.h"
#include "net_open.h"
#include "signals.h"
#include "vhu_daemon.h"
#include "vhu_options.h"

#define DRAIN_TIMEOUT_MS 10000u
/* Disks one process serves at most (the command line allows fewer). */
#define MAX_DISKS  256u
#define MAX_QUEUES VBACK_VHU_MAX_QUEUES

/* A queue thread: a loop of its own, run by a thread of its own. */
struct qthread {
	struct vback_loop *loop;
	pthread_t thread;
	bool running;
	struct vback_log *log;
	unsigned int index;
};

struct probe;

struct vhu_disk {
	struct vhu_disk *next;
	struct vhu_daemon *vd;
	/* One instance of the disk per queue thread that serves one of its
	 * queues, threads 0 .. ntio - 1 (clones of @io on the threads'
	 * loops); NULL: every queue on the main loop. */
	struct vback_io *tio;
	unsigned int ntio;
	/* What this disk runs on: the daemon's loop today; a thread of its
	 * own can bring another. */
	const struct vback_loop *loop;
	const struct vback_log *log;
	char name[VBACK_DISK_NAME_MAX + 1];
	char *socket;
	char *image;
	struct vback_io io;
	bool io_open;
	struct vback_blk *blk;
	struct vback_vhu *vhu;
	/* Removal: quiesce (drain, flush), drop the front-end, close. */
	bool removing;
	bool drained; /* the quiesce finished, or its wait timed out */
	bool forced;  /* timed out: close with requests in flight */
	int result;
	struct vback_work reap;
	struct vback_timer deadline;
	void (*done)(void *opaque, int result);
	void *done_opaque;
	/* The current front-end's session, for the summary when it leaves. */
	struct vback_blk_stats blk_at_start;
	struct vback_vhu_queue_stats q_at_start[MAX_QUEUES];
	uint64_t q_req_at_start[MAX_QUEUES];
	struct timespec t_start;
};

struct vhu_daemon {
	struct vhu_daemon_env env;
	const struct vback_disk_options *o;
	struct vback_log *log;
	struct vhu_disk *disks; /* in the order they were added */
	unsigned int nr_disks;
	unsigned int next_index; /* for the next disk<N> name */
	int sig_fd;
	bool starting; /* the command-line disks are being opened */
	bool stopping;
	bool finished;
	/* Disks the stop closed without draining or flushing them. */
	unsigned int unclean;
	/* A second stop signal came: wait for nothing more. */
	bool hurry;
	/* --threads: queue q of every disk runs on threads[q % n]. */
	struct qthread *threads;
	unsigned int nthreads;
	/* Network disks the control socket is adding: connecting (below). */
	struct probe *probes;
	unsigned int nr_probes;
};

/* How long a disk of the command line waits for an image another
 * instance still holds: a restart right after a kill finds the old one's
 * lock until the kernel has finished its IO. */
#define START_BUSY_WAIT_MS 10000u

/* ------------------------------------------------------------------ */
/* Queue threads                                                       */
/* ------------------------------------------------------------------ */

struct call {
	struct vback_work w;
	void (*fn)(void *arg);
	void *arg;
	sem_t done;
};

static void call_run(void *opaque)
{
	struct call *c = opaque;

	c->fn(c->arg);
	sem_post(&c->done);
}

/* Run @fn(@arg) on @loop's thread and wait for it; at once on the main
 * loop. Queue threads never wait for the main one. */
static void run_on(const struct vhu_daemon *vd, const struct vback_loop *loop,
		   void (*fn)(void *arg), void *arg)
{
	struct call c = { .fn = fn, .arg = arg };

	if (!loop || loop == vd->env.loop) {
		fn(arg);
		return;
	}
	sem_init(&c.done, 0, 0);
	vback_work_init(&c.w, call_run, &c);
	vback_loop_post(loop, &c.w);
	while (sem_wait(&c.done) < 0 && errno == EINTR)
		;
	sem_destroy(&c.done);
}

static void *qthread_main(void *arg)
{
	struct qthread *t = arg;
	int ret = vback_loop_run(t->loop);

	/* Only vback_loop_stop() should end it (threads_stop()). */
	if (ret < 0)
		vback_logf(t->log, VBACK_LOG_ERR,
			   "queue thread %u: its event loop failed: %s; its "
			   "queues are no longer served",
			   t->index, vback_strerror(ret));
	return NULL;
}

/* Start @n queue threads (signals stay blocked in them: they inherit the
 * mask set for the signalfd). 0 or -errno. */
static int threads_start(struct vhu_daemon *vd, unsigned int n)
{
	vd->threads = calloc(n, sizeof(*vd->threads));
	if (!vd->threads)
		return -ENOMEM;
	vd->nthreads = n;
	for (unsigned int i = 0; i < n; i++) {
		struct qthread *t = &vd->threads[i];
		int ret = vback_epoll_loop_create(vd->log, &t->loop);

		if (ret < 0)
			return ret;
		t->log = vd->log;
		t->index = i;
		(void)vback_epoll_loop_set_poll(t->loop,
						(uint64_t)vd->o->poll_us *
							1000u);
		ret = pthread_create(&t->thread, NULL, qthread_main, t);
		if (ret)
			return -ret;
		t->running = true;
	}
	return 0;
}

static void threads_stop(struct vhu_daemon *vd)
{
	for (unsigned int i = 0; i < vd->nthreads; i++) {
		struct qthread *t = &vd->threads[i];

		if (t->running) {
			vback_loop_stop(t->loop);
			pthread_join(t->thread, NULL);
		}
		vback_epoll_loop_destroy(t->loop);
	}
	free(vd->threads);
	vd->threads = NULL;
	vd->nthreads = 0;
}

/* The loop of queue @q of @d. */
static const struct vback_loop *qloop(const struct vhu_disk *d, unsigned int q)
{
	return vback_dev_queue_loop(vback_blk_dev(d->blk), q);
}

struct qstats_call {
	struct vback_blk *blk;
	unsigned int q;
	struct vback_blk_queue_stats *out;
	int ret;
};

static void qstats_run(void *arg)
{
	struct qstats_call *c = arg;

	c->ret = vback_blk_get_queue_stats(c->blk, c->q, c->out);
}

/* Queue @q's counters, read on its thread. */
static int disk_qstats(void *opaque, struct vback_blk *blk, unsigned int q,
		       struct vback_blk_queue_stats *out)
{
	struct vhu_disk *d = opaque;
	struct qstats_call c = {
		.blk = blk, .q = q, .out = out, .ret = -EINVAL
	};

	if (q >= vback_dev_num_queues(vback_blk_dev(blk)))
		return -EINVAL;
	run_on(d->vd, qloop(d, q), qstats_run, &c);
	return c.ret;
}

/* The disk's totals: the sum of its queues'. */
static void disk_stats(struct vhu_disk *d, struct vback_blk_stats *st)
{
	unsigned int nq = vback_dev_num_queues(vback_blk_dev(d->blk));

	memset(st, 0, sizeof(*st));
	for (unsigned int q = 0; q < nq; q++) {
		struct vback_blk_queue_stats qs;

		if (disk_qstats(d, d->blk, q, &qs) == 0)
			ctl_stats_add(st, &qs.req);
	}
}

/* ------------------------------------------------------------------ */
/* Sessions: what a front-end did, for the log                         */
/* ------------------------------------------------------------------ */

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static uint64_t requests(const struct vback_blk_stats *s)
{
	return s->reads + s->writes + s->flushes + s->discards +
	       s->write_zeroes + s->get_ids + s->unsupported + s->io_errors;
}

static void session_start(struct vhu_disk *d)
{
	unsigned int nq = vback_dev_num_queues(vback_blk_dev(d->blk));

	disk_stats(d, &d->blk_at_start);
	for (unsigned int q = 0; q < nq && q < MAX_QUEUES; q++) {
		struct vback_blk_queue_stats qs;

		vback_vhu_get_queue_stats(d->vhu, q, &d->q_at_start[q]);
		disk_qstats(d, d->blk, q, &qs);
		d->q_req_at_start[q] = requests(&qs.req);
	}
	clock_gettime(CLOCK_MONOTONIC, &d->t_start);
}

/* Lines a person (and the e2e tests) can read; queues the front-end did
 * not use are left out. */
static void session_summary(struct vhu_disk *d)
{
	const struct vback_blk_stats *a = &d->blk_at_start;
	unsigned int nq = vback_dev_num_queues(vback_blk_dev(d->blk));
	struct vback_blk_stats b;
	double secs = seconds_since(&d->t_start);
	double mib_r, mib_w;

	disk_stats(d, &b);
	mib_r = (double)(b.bytes_read - a->bytes_read) / (1024.0 * 1024.0);
	mib_w = (double)(b.bytes_written - a->bytes_written) /
		(1024.0 * 1024.0);
	vback_logf(d->log, VBACK_LOG_INFO,
		   "%s: session: %.1f s, reads=%llu (%.1f MiB, avg %.1f "
		   "MiB/s) writes=%llu (%.1f MiB, avg %.1f MiB/s) "
		   "flushes=%llu discards=%llu write_zeroes=%llu get_ids=%llu "
		   "unsupported=%llu io_errors=%llu",
		   d->name, secs, (unsigned long long)(b.reads - a->reads),
		   mib_r, secs > 0 ? mib_r / secs : 0.0,
		   (unsigned long long)(b.writes - a->writes), mib_w,
		   secs > 0 ? mib_w / secs : 0.0,
		   (unsigned long long)(b.flushes - a->flushes),
		   (unsigned long long)(b.discards - a->discards),
		   (unsigned long long)(b.write_zeroes - a->write_zeroes),
		   (unsigned long long)(b.get_ids - a->get_ids),
		   (unsigned long long)(b.unsupported - a->unsupported),
		   (unsigned long long)(b.io_errors - a->io_errors));
	for (unsigned int q = 0; q < nq && q < MAX_QUEUES; q++) {
		struct vback_vhu_queue_stats vs;
		struct vback_blk_queue_stats qs;
		uint64_t kicks, calls, reqs;

		if (vback_vhu_get_queue_stats(d->vhu, q, &vs) < 0 ||
		    disk_qstats(d, d->blk, q, &qs) < 0)
			break;
		kicks = vs.kicks - d->q_at_start[q].kicks;
		calls = vs.calls - d->q_at_start[q].calls;
		reqs = requests(&qs.req) - d->q_req_at_start[q];
		if (!kicks && !calls && !reqs)
			continue;
		vback_logf(d->log, VBACK_LOG_INFO,
			   "%s: session: queue %u: kicks=%llu calls=%llu "
			   "requests=%llu",
			   d->name, q, (unsigned long long)kicks,
			   (unsigned long long)calls, (unsigned long long)reqs);
	}
}

/* ------------------------------------------------------------------ */
/* Disks                                                               */
/* ------------------------------------------------------------------ */

static void finish(struct vhu_daemon *vd)
{
	vd->finished = true;
	vback_loop_stop(vd->env.loop);
}

static void unlink_disk(struct vhu_disk *d)
{
	struct vhu_daemon *vd = d->vd;

	for (struct vhu_disk **pp = &vd->disks; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			vd->nr_disks--;
			return;
		}
	}
}

static void close_run(void *arg)
{
	vback_io_close(arg);
}

/* The queue threads' instances, each closed on its thread (its fds are
 * watched on that loop), before the original. */
static void disk_close_clones(struct vhu_disk *d)
{
	const struct vhu_daemon *vd = d->vd;

	if (!d->tio)
		return;
	for (unsigned int i = 0; i < d->ntio; i++)
		if (d->tio[i].ops)
			run_on(vd, vd->threads[i].loop, close_run, &d->tio[i]);
	free(d->tio);
	d->tio = NULL;
	d->ntio = 0;
}

struct clone_call {
	const struct vback_io *io;
	const struct vback_loop *loop;
	struct vback_io *out;
	int ret;
};

static void clone_run(void *arg)
{
	struct clone_call *c = arg;

	c->ret = vback_io_clone(c->io, c->loop, c->out);
}

/*
 * An instance of @d's disk on each queue thread that serves one of its
 * @num_queues queues (made there: it watches its fds on that loop). When
 * the engine cannot clone (the network engines), every queue of @d stays
 * on the main loop. 0, or -errno with @msg.
 */
static int disk_clone(struct vhu_disk *d, unsigned int num_queues, char *msg)
{
	const struct vhu_daemon *vd = d->vd;

	if (!vd->nthreads)
		return 0;
	/* Queue q runs on thread q % nthreads: fewer queues, fewer threads. */
	d->ntio = num_queues < vd->nthreads ? num_queues : vd->nthreads;
	d->tio = calloc(d->ntio, sizeof(*d->tio));
	if (!d->tio) {
		d->ntio = 0;
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < d->ntio; i++) {
		struct clone_call c = { &d->io, vd->threads[i].loop, &d->tio[i],
					0 };

		run_on(vd, c.loop, clone_run, &c);
		if (c.ret == -ENOTSUP) {
			vback_logf(d->log, VBACK_LOG_INFO,
				   "%s: engine %s serves all its queues on "
				   "the main thread",
				   d->name,
				   vback_io_engine_name(
					   vback_io_engine_of(&d->io)));
			disk_close_clones(d);
			return 0;
		}
		if (c.ret < 0) {
			snprintf(msg, CTL_MAX_MSG,
				 "%s: cannot open %s for queue thread %u: %s",
				 d->name, d->image, i, vback_strerror(c.ret));
			disk_close_clones(d);
			return c.ret;
		}
	}
	return 0;
}

struct buffers_call {
	struct vback_io *io;
	const struct vback_iovec *r;
	unsigned int n;
};

static void buffers_run(void *arg)
{
	struct buffers_call *c = arg;

	(void)vback_io_set_buffers(c->io, c->r, c->n);
}

/* The front-end's memory changed (no IO in flight): every instance of
 * the disk prepares it, on its own thread (io_uring fixed buffers with
 * --direct). */
static void on_vhu_memory(void *opaque, const struct vback_iovec *r,
			  unsigned int n)
{
	struct vhu_disk *d = opaque;
	const struct vhu_daemon *vd = d->vd;
	struct buffers_call c = { &d->io, r, n };

	buffers_run(&c);
	for (unsigned int i = 0; d->tio && i < d->ntio; i++) {
		c.io = &d->tio[i];
		run_on(vd, vd->threads[i].loop, buffers_run, &c);
	}
}

/* Disks closed while requests of theirs were still in the IO layer, kept
 * (not freed) for those requests to complete into. */
static struct vhu_disk *parked;

/*
 * Close everything of @d, in the order of vback_blk_destroy(): the
 * transport (rings stopped, front-end gone), the IO (completes what is in
 * flight), the device. Then tell whoever asked for the removal.
 */
static void disk_free(struct vhu_disk *d)
{
	void (*done)(void *, int) = d->done;
	void *done_opaque = d->done_opaque;
	int result = d->result;
	unsigned int stuck =
		d->blk ? vback_dev_inflight(vback_blk_dev(d->blk)) : 0;

	vback_loop_cancel(d->loop, &d->reap);
	vback_timer_cancel(d->loop, &d->deadline);
	if (d->vhu)
		vback_vhu_destroy(d->vhu);
	d->vhu = NULL;
	if (stuck) {
		/* Closing an IO instance waits for its requests: one the
		 * storage never answers (a dead path, a hung server) would
		 * hold this loop, and every other disk, for as long. Leave
		 * them to finish into the device, which stays; the transport
		 * kept the guest memory they write to mapped (it logged). */
		vback_logf(d->log, VBACK_LOG_WARN,
			   "%s: %u requests never came back from %s: its IO "
			   "stays open, the device and its memory for good",
			   d->name, stuck, d->image);
		d->next = parked;
		parked = d;
		if (done)
			done(done_opaque, result);
		return;
	}
	disk_close_clones(d);
	if (d->io_open)
		vback_io_close(&d->io);
	if (d->blk)
		vback_blk_destroy(d->blk);
	free(d->socket);
	free(d->image);
	free(d);
	if (done)
		done(done_opaque, result);
}

/* After the drain: drop the front-end; once its IO is idle, close. */
static void disk_reap(void *opaque)
{
	struct vhu_disk *d = opaque;
	struct vhu_daemon *vd = d->vd;

	/* DISCONNECTED, and IDLE unless IO is still in flight, are
	 * reported from inside; IDLE posts this again, cancelled below. */
	if (vback_vhu_connected(d->vhu))
		vback_vhu_disconnect(d->vhu);
	if (vback_vhu_draining(d->vhu) && !d->forced)
		return; /* IDLE posts this again */
	vback_logf(d->log, VBACK_LOG_INFO, "%s: removed (socket %s closed)",
		   d->name, d->socket);
	if (vd->stopping && d->result < 0)
		vd->unclean++;
	unlink_disk(d);
	disk_free(d);
	if (vd->stopping && !vd->disks && !vd->finished) {
		if (vd->unclean)
			vback_logf(vd->log, VBACK_LOG_WARN,
				   "stopped: %u disk%s closed without all "
				   "its requests or its flush (see above)",
				   vd->unclean, vd->unclean == 1 ? "" : "s");
		else
			vback_logf(vd->log, VBACK_LOG_INFO,
				   "stopped: every disk drained and flushed");
		finish(vd);
	}
}

static void disk_quiesced(void *opaque, int result)
{
	struct vhu_disk *d = opaque;

	if (result < 0)
		vback_logf(d->log, VBACK_LOG_ERR, "%s: flush failed: %s",
			   d->name, vback_strerror(result));
	else
		vback_logf(d->log, VBACK_LOG_INFO,
			   "%s: in-flight requests done, image flushed",
			   d->name);
	d->drained = true;
	d->result = result;
	vback_timer_cancel(d->loop, &d->deadline);
	vback_loop_post(d->loop, &d->reap);
}

static void disk_deadline(void *opaque)
{
	struct vhu_disk *d = opaque;

	vback_logf(d->log, VBACK_LOG_WARN,
		   "%s: %u requests still in flight after %u ms: closing "
		   "without them",
		   d->name, vback_dev_inflight(vback_blk_dev(d->blk)),
		   d->vd->env.drain_timeout_ms);
	d->drained = true;
	d->forced = true;
	d->result = -ETIMEDOUT;
	vback_loop_post(d->loop, &d->reap);
}

static int disk_remove(struct vhu_disk *d, void (*done)(void *, int),
		       void *opaque)
{
	struct vback_dev *dev = vback_blk_dev(d->blk);
	int ret;

	if (d->removing)
		return -EBUSY;
	d->removing = true;
	d->done = done;
	d->done_opaque = opaque;
	vback_logf(d->log, VBACK_LOG_INFO,
		   "%s: removing: %u requests in flight", d->name,
		   vback_dev_inflight(dev));
	/* No new request; what is in flight reaches the guest; flush. */
	ret = vback_dev_quiesce(dev, disk_quiesced, d);
	if (ret < 0) {
		d->drained = true;
		d->result = ret; /* nothing flushed */
		vback_loop_post(d->loop, &d->reap);
		return 0;
	}
	vback_timer_arm(d->loop, &d->deadline,
			(uint64_t)d->vd->env.drain_timeout_ms * 1000000u, 0);
	return 0;
}

static void on_vhu_event(void *opaque, enum vback_vhu_event ev)
{
	struct vhu_disk *d = opaque;

	switch (ev) {
	case VBACK_VHU_CONNECTED:
		session_start(d); /* the transport logs the connection */
		break;
	case VBACK_VHU_DISCONNECTED:
		break;
	case VBACK_VHU_IDLE:
		session_summary(d);
		if (d->removing) {
			if (d->drained)
				vback_loop_post(d->loop, &d->reap);
		} else {
			vback_logf(d->log, VBACK_LOG_INFO,
				   "%s: waiting for the next front-end",
				   d->name);
		}
		break;
	}
}

static struct vhu_disk *find(const struct vhu_daemon *vd, const char *name)
{
	for (struct vhu_disk *d = vd->disks; d; d = d->next)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

static struct vhu_disk *find_socket(const struct vhu_daemon *vd,
				    const char *path)
{
	for (struct vhu_disk *d = vd->disks; d; d = d->next)
		if (!strcmp(d->socket, path))
			return d;
	return NULL;
}

/* How disk @s is opened, from the main loop or a probe's thread. */
static struct vback_io_options io_options(const struct vhu_daemon *vd,
					  const struct vback_disk_vhu_disk *s)
{
	const struct vback_disk_options *o = vd->o;

	return (struct vback_io_options){
		.path = s->image,
		.engine = o->engine,
		.read_only = s->read_only || o->read_only,
		.direct = o->direct,
		.sqpoll = o->sqpoll,
		.timeout_ms = o->net_timeout_ms,
		.log = vd->log,
		.busy_wait_ms = vd->starting ? START_BUSY_WAIT_MS : 0,
	};
}

/*
 * Open the image (or take @opened, a probe's detached instance: owned from
 * here on), create the device and the transport of @d.
 */
static int disk_open(struct vhu_disk *d, const struct vback_disk_vhu_disk *s,
		     const struct vback_io *opened, char *msg)
{
	const struct vback_disk_options *o = d->vd->o;
	bool ro = s->read_only || o->read_only;
	struct vback_blk_options blk_opts = {
		.num_queues = s->queues	  ? s->queues
			      : o->queues ? o->queues
					  : MAX_QUEUES,
		.queue_size = (uint16_t)o->queue_size,
		.read_only = ro,
		/* Write-back caching: guests then send flushes. */
		.writeback = true,
		.log = d->log,
		.name = d->name,
		.latency_histogram = true,
	};
	struct vback_vhu_options vo = {
		.socket_path = d->socket,
		.event = on_vhu_event,
		.memory = on_vhu_memory,
		.opaque = d,
		.log = d->log,
		.name = d->name,
		.loop = d->loop,
		.no_inflight = o->no_inflight,
	};
	struct vback_io_caps caps;
	int ret;

	if (opened) {
		d->io = *opened;
		d->io_open = true;
		ret = vback_io_attach(&d->io);
		if (ret < 0) {
			snprintf(msg, CTL_MAX_MSG, "%s: %s: %s", d->name,
				 d->image, vback_strerror(ret));
			return ret;
		}
	} else {
		struct vback_io_options io_opts = io_options(d->vd, s);

		ret = vback_io_open(&io_opts, d->loop, &d->io);
		if (ret < 0) {
			snprintf(msg, CTL_MAX_MSG, "%s: cannot open %s: %s",
				 d->name, d->image, vback_strerror(ret));
			return ret;
		}
		d->io_open = true;
	}
	ret = vback_io_get_caps(&d->io, &caps);
	if (ret < 0) {
		snprintf(msg, CTL_MAX_MSG, "%s: %s: %s", d->name, d->image,
			 vback_strerror(ret));
		return ret;
	}
	blk_opts.io = d->io;
	/* NUL-padded, not NUL-terminated: 20 bytes is a full serial. */
	if (s->serial)
		memcpy(blk_opts.serial, s->serial,
		       strnlen(s->serial, sizeof(blk_opts.serial)));
	ret = vback_blk_create(&blk_opts, &d->blk);
	if (ret < 0) {
		snprintf(msg, CTL_MAX_MSG, "%s: cannot create the device: %s",
			 d->name, vback_strerror(ret));
		return ret;
	}
	ret = disk_clone(d, blk_opts.num_queues, msg);
	if (ret < 0)
		return ret;
	/* Queue q on thread q % n, with that thread's instance of the disk;
	 * the front-end's socket stays on the main loop. */
	for (unsigned int q = 0; d->tio && q < blk_opts.num_queues; q++) {
		unsigned int t = q % d->vd->nthreads;

		(void)vback_dev_queue_set_loop(vback_blk_dev(d->blk), q,
					       d->vd->threads[t].loop);
		(void)vback_blk_set_queue_io(d->blk, q, &d->tio[t]);
	}
	vo.dev = vback_blk_dev(d->blk);
	ret = vback_vhu_create(&vo, &d->vhu);
	if (ret < 0) {
		snprintf(msg, CTL_MAX_MSG, "%s: cannot listen on %s: %s",
			 d->name, d->socket, vback_strerror(ret));
		return ret;
	}
	vback_logf(d->log, VBACK_LOG_INFO,
		   "%s: %s, %llu bytes (%.1f MiB), %u-byte sectors, %s, engine "
		   "%s%s%s; socket %s, up to %u queue%s on %u thread%s",
		   d->name, d->image, (unsigned long long)caps.size_bytes,
		   (double)caps.size_bytes / (1024.0 * 1024.0),
		   caps.logical_block_size,
		   caps.read_only || ro ? "read-only" : "read-write",
		   vback_io_engine_name(vback_io_engine_of(&d->io)),
		   caps.can_discard && !ro ? ", discard" : "",
		   caps.can_write_zeroes && !ro ? ", write-zeroes" : "",
		   d->socket, blk_opts.num_queues,
		   blk_opts.num_queues == 1 ? "" : "s", d->tio ? d->ntio : 1,
		   d->ntio > 1 ? "s" : "");
	return 0;
}

static const struct probe *find_probe(const struct vhu_daemon *vd,
				      const char *name, const char *socket);

/* Whether disk @s may be added now. 0, or -errno with @msg. */
static int add_check(const struct vhu_daemon *vd,
		     const struct vback_disk_vhu_disk *s, char *msg)
{
	msg[0] = '\0';
	if (vd->stopping) {
		snprintf(msg, CTL_MAX_MSG, "stopping: no new disks");
		return -ESHUTDOWN;
	}
	if (vd->nr_disks + vd->nr_probes >= MAX_DISKS) {
		snprintf(msg, CTL_MAX_MSG, "%u disks already",
			 vd->nr_disks + vd->nr_probes);
		return -E2BIG;
	}
	if (s->name && !vback_disk_name_ok(s->name)) {
		snprintf(msg, CTL_MAX_MSG,
			 "bad name: want 1 to %u of A-Z a-z 0-9 . _ -, "
			 "starting with a letter or digit",
			 VBACK_DISK_NAME_MAX);
		return -EINVAL;
	}
	if (s->name && (find(vd, s->name) || find_probe(vd, s->name, NULL))) {
		snprintf(msg, CTL_MAX_MSG, "a disk named %s exists", s->name);
		return -EEXIST;
	}
	if (find_socket(vd, s->socket)) {
		snprintf(msg, CTL_MAX_MSG, "disk %s serves %s already",
			 find_socket(vd, s->socket)->name, s->socket);
		return -EEXIST;
	}
	if (find_probe(vd, NULL, s->socket)) {
		snprintf(msg, CTL_MAX_MSG, "a disk for %s is being added",
			 s->socket);
		return -EEXIST;
	}
	return 0;
}

/* vhu_daemon_add(), with the instance a probe opened (owned: closed on
 * failure) or NULL. */
static int disk_add(struct vhu_daemon *vd, const struct vback_disk_vhu_disk *s,
		    struct vback_io *opened, char *msg)
{
	struct vhu_disk *d = NULL, **tail;
	unsigned int index;
	int ret = add_check(vd, s, msg);

	if (!ret && !(d = calloc(1, sizeof(*d))))
		ret = -ENOMEM;
	if (ret < 0 || !d) {
		if (opened)
			vback_io_close(opened);
		return ret;
	}
	index = vd->next_index;
	d->vd = vd;
	d->loop = vd->env.loop;
	d->log = vd->log;
	if (s->name) {
		snprintf(d->name, sizeof(d->name), "%s", s->name);
	} else {
		do
			snprintf(d->name, sizeof(d->name), "disk%u",
				 vd->next_index++);
		while (find(vd, d->name) || find_probe(vd, d->name, NULL));
	}
	vback_work_init(&d->reap, disk_reap, d);
	vback_timer_init(&d->deadline, disk_deadline, d);
	d->socket = strdup(s->socket);
	d->image = strdup(s->image);
	if (!d->socket || !d->image) {
		disk_free(d);
		if (opened)
			vback_io_close(opened);
		vd->next_index = index;
		return -ENOMEM;
	}
	ret = disk_open(d, s, opened, msg);
	if (ret < 0) {
		if (!vd->starting) /* vhu_daemon_create() says it */
			vback_logf(vd->log, VBACK_LOG_ERR, "%s", msg);
		disk_free(d);
		vd->next_index = index; /* the name was not used */
		return ret;
	}
	for (tail = &vd->disks; *tail; tail = &(*tail)->next)
		;
	*tail = d;
	vd->nr_disks++;
	return 0;
}

int vhu_daemon_add(struct vhu_daemon *vd, const struct vback_disk_vhu_disk *s,
		   char *msg)
{
	return disk_add(vd, s, NULL, msg);
}

int vhu_daemon_remove(struct vhu_daemon *vd, const char *name,
		      void (*done)(void *opaque, int result), void *opaque)
{
	struct vhu_disk *d = find(vd, name);

	if (!d)
		return -ENOENT;
	return disk_remove(d, done, opaque);
}

unsigned int vhu_daemon_disks(const struct vhu_daemon *vd)
{
	return vd->nr_disks;
}

bool vhu_daemon_finished(const struct vhu_daemon *vd)
{
	return vd->finished;
}

/* ------------------------------------------------------------------ */
/* Network disks added at run time: connected on a thread first         */
/* ------------------------------------------------------------------ */

/*
 * Opening a network disk connects to its server, which may take up to the
 * IO timeout (30 s) when the server is unreachable or hangs; the main loop
 * meanwhile serves every other disk's front-end, the network disks' IO and
 * the control socket. So the control socket's add opens such a disk on a
 * thread of its own, detached (vback_io_options::detached: nothing of it
 * on the main loop yet); once connected, the main loop attaches that
 * instance, creates the device and replies. Disks of the command line
 * are opened before anything is served: directly.
 */
struct probe {
	struct probe *next;
	struct vhu_daemon *vd;
	struct ctl_pending *p;
	struct vback_disk_vhu_disk s; /* its strings: copies in s.owned */
	struct net_open open;
};

static const struct probe *find_probe(const struct vhu_daemon *vd,
				      const char *name, const char *socket)
{
	for (const struct probe *pr = vd->probes; pr; pr = pr->next)
		if ((name && pr->s.name && !strcmp(pr->s.name, name)) ||
		    (socket && !strcmp(pr->s.socket, socket)))
			return pr;
	return NULL;
}

static void probe_free(struct probe *pr)
{
	free(pr->s.owned);
	free(pr);
}

static void probe_unlink(struct probe *pr)
{
	struct vhu_daemon *vd = pr->vd;

	for (struct probe **pp = &vd->probes; *pp; pp = &(*pp)->next) {
		if (*pp == pr) {
			*pp = pr->next;
			vd->nr_probes--;
			return;
		}
	}
}

/* Add @s (with @opened: see disk_add()) and reply to @p. */
static void add_reply(struct vhu_daemon *vd,
		      const struct vback_disk_vhu_disk *s,
		      struct vback_io *opened, struct ctl_pending *p)
{
	char msg[CTL_MAX_MSG];
	struct vhu_disk *d;
	int ret = disk_add(vd, s, opened, msg);

	if (ret < 0) {
		ctl_pending_done(p, ret, msg);
		return;
	}
	for (d = vd->disks; d->next; d = d->next)
		; /* the new one is the last */
	vback_logf(vd->log, VBACK_LOG_INFO, "control: added %s", d->name);
	jw_object(&p->result);
	jw_key(&p->result, "name");
	jw_string(&p->result, d->name);
	jw_key(&p->result, "socket");
	jw_string(&p->result, d->socket);
	jw_object_end(&p->result);
	ctl_pending_done(p, 0, NULL);
}

/* On the main loop: the thread has connected, or given up. */
static void probe_done(void *opaque)
{
	struct probe *pr = opaque;
	struct vhu_daemon *vd = pr->vd;
	int ret = net_open_join(&pr->open);
	char msg[CTL_MAX_MSG];

	probe_unlink(pr);
	if (ret < 0) {
		snprintf(msg, sizeof(msg), "cannot open %s: %s", pr->s.image,
			 vback_strerror(ret));
		vback_logf(vd->log, VBACK_LOG_ERR, "control: add %s: %s",
			   pr->s.socket, msg);
		ctl_pending_done(pr->p, ret, msg);
	} else {
		add_reply(vd, &pr->s, &pr->open.io, pr->p);
	}
	probe_free(pr);
}

/* Copy @src's strings into one block, dst->owned (as --disk does). */
static int copy_disk(struct vback_disk_vhu_disk *dst,
		     const struct vback_disk_vhu_disk *src)
{
	const char *const from[] = { src->socket, src->image, src->name,
				     src->serial };
	const char **to[] = { &dst->socket, &dst->image, &dst->name,
			      &dst->serial };
	size_t len = 0;
	char *at;

	*dst = *src;
	for (unsigned int i = 0; i < 4; i++)
		len += from[i] ? strlen(from[i]) + 1 : 0;
	dst->owned = at = malloc(len ? len : 1);
	if (!at)
		return -ENOMEM;
	for (unsigned int i = 0; i < 4; i++) {
		if (!from[i])
			continue;
		*to[i] = at;
		at = stpcpy(at, from[i]) + 1;
	}
	return 0;
}

/* Start connecting @s on a thread; the reply comes from probe_done(). */
static int probe_start(struct vhu_daemon *vd,
		       const struct vback_disk_vhu_disk *s,
		       struct ctl_pending *p, char *msg)
{
	struct probe *pr = calloc(1, sizeof(*pr));
	struct vback_io_options opts;
	int ret;

	if (!pr || copy_disk(&pr->s, s) < 0) {
		free(pr);
		snprintf(msg, CTL_MAX_MSG, "out of memory");
		return -ENOMEM;
	}
	pr->vd = vd;
	pr->p = p;
	opts = io_options(vd, &pr->s);
	ret = net_open_start(&pr->open, &opts, vd->env.loop, probe_done, pr);
	if (ret < 0) {
		probe_free(pr);
		snprintf(msg, CTL_MAX_MSG, "cannot start a thread: %s",
			 vback_strerror(ret));
		return ret;
	}
	pr->next = vd->probes;
	vd->probes = pr;
	vd->nr_probes++;
	vback_logf(vd->log, VBACK_LOG_INFO, "control: connecting to %s for %s",
		   pr->s.image, pr->s.socket);
	return 0;
}

/* Probes a second stop signal left connecting: their threads still read
 * them (the process is about to exit). */
static struct probe *probes_left;

/* The daemon goes: wait for each connect to end (a second stop signal
 * ends the wait), refuse its add. */
static void probes_stop(struct vhu_daemon *vd)
{
	struct vback_disk_stop_wait sw = { vd->log, vd->sig_fd, &vd->hurry };

	while (vd->probes) {
		struct probe *pr = vd->probes;
		bool ended;

		/* A server that does not answer holds the exit this long:
		 * say why the daemon has not gone yet. */
		if (!vd->hurry)
			vback_logf(vd->log, VBACK_LOG_INFO,
				   "control: add %s: still connecting to %s: "
				   "waiting for it to end (at most %u s; a "
				   "second signal ends the wait)",
				   pr->s.socket, pr->s.image,
				   net_open_bound_s(&pr->open));
		ended = net_open_abandon(&pr->open, vback_disk_stop_wait_over,
					 &sw);
		probe_unlink(pr);
		ctl_pending_done(pr->p, -ESHUTDOWN, "stopping: no new disks");
		if (ended) {
			probe_free(pr);
		} else {
			pr->next = probes_left;
			probes_left = pr;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Signals                                                             */
/* ------------------------------------------------------------------ */

static void resize_all(struct vhu_daemon *vd)
{
	for (struct vhu_disk *d = vd->disks; d; d = d->next) {
		uint64_t size = 0;
		int ret = vback_blk_refresh_size(d->blk, &size);

		if (ret == -EOPNOTSUPP)
			vback_logf(vd->log, VBACK_LOG_WARN,
				   "%s: SIGHUP: this IO engine cannot re-read "
				   "the size",
				   d->name);
		else if (ret < 0)
			vback_logf(vd->log, VBACK_LOG_ERR, "%s: SIGHUP: %s",
				   d->name, vback_strerror(ret));
		else if (ret == 0)
			vback_logf(vd->log, VBACK_LOG_INFO,
				   "%s: SIGHUP: size unchanged", d->name);
		else
			vback_logf(vd->log, VBACK_LOG_INFO,
				   "%s: resized to %llu bytes", d->name,
				   (unsigned long long)size);
	}
}

void vhu_daemon_signal(struct vhu_daemon *vd, int signo)
{
	if (signo == SIGHUP) {
		resize_all(vd);
		return;
	}
	if (vd->finished)
		return;
	if (vd->stopping) {
		vback_logf(vd->log, VBACK_LOG_WARN,
			   "second signal: stopping without waiting for IO");
		vd->hurry = true;
		finish(vd);
		return;
	}
	vback_logf(vd->log, VBACK_LOG_INFO, "signal %d: stopping", signo);
	vd->stopping = true;
	/* Each disk: no new request, in-flight ones reach the guest, the
	 * image is flushed, the front-end dropped; the last one finishes. */
	for (struct vhu_disk *d = vd->disks; d; d = d->next)
		if (!d->removing)
			disk_remove(d, NULL, NULL);
	if (!vd->disks)
		finish(vd);
}

static void on_signal(void *opaque, int fd, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	vhu_daemon_signal(opaque, (int)si.ssi_signo);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

int vhu_daemon_create(const struct vhu_daemon_env *env, struct vhu_daemon **out)
{
	const struct vback_disk_options *o = env->opts;
	struct vhu_daemon *vd;
	char msg[CTL_MAX_MSG];
	int ret;

	vd = calloc(1, sizeof(*vd));
	if (!vd) {
		vback_logf(env->log, VBACK_LOG_ERR, "out of memory");
		return -ENOMEM;
	}
	vd->env = *env;
	if (!vd->env.drain_timeout_ms)
		vd->env.drain_timeout_ms = DRAIN_TIMEOUT_MS;
	vd->o = o;
	vd->log = env->log;
	/* Before the IO engines start threads, which inherit the mask; the
	 * signals are then read from a signalfd on the loop. */
	vd->sig_fd = vback_disk_signalfd();
	if (vd->sig_fd < 0) {
		ret = vd->sig_fd;
		vback_logf(vd->log, VBACK_LOG_ERR, "signals: %s",
			   vback_strerror(ret));
		goto fail;
	}
	ret = vback_loop_watch(env->loop, vd->sig_fd, VBACK_EV_IN, on_signal,
			       vd);
	if (ret < 0) {
		vback_logf(vd->log, VBACK_LOG_ERR, "signals: cannot watch: %s",
			   vback_strerror(ret));
		close(vd->sig_fd);
		vd->sig_fd = -1;
		goto fail;
	}
	/* After the signal mask: the queue threads inherit it. */
	if (o->threads) {
		ret = threads_start(vd, o->threads);
		if (ret < 0) {
			vback_logf(vd->log, VBACK_LOG_ERR, "queue threads: %s",
				   vback_strerror(ret));
			goto fail;
		}
	}
	/* Unnamed command-line disks are disk<N>, N their place. */
	vd->starting = true;
	for (unsigned int i = 0; i < o->nr_vhu_disks; i++) {
		struct vback_disk_vhu_disk s = o->vhu_disks[i];
		char name[16];

		if (!s.name) {
			snprintf(name, sizeof(name), "disk%u", i);
			s.name = name;
		}
		ret = vhu_daemon_add(vd, &s, msg);
		if (ret < 0) {
			/* Every reason, not only the image's or the socket's. */
			if (msg[0])
				vback_logf(vd->log, VBACK_LOG_ERR, "%s", msg);
			else
				vback_logf(vd->log, VBACK_LOG_ERR, "%s: %s",
					   s.name, vback_strerror(ret));
			goto fail;
		}
	}
	vd->starting = false;
	vd->next_index = o->nr_vhu_disks;
	vback_logf(vd->log, VBACK_LOG_INFO, "ready: %u vhost-user disk%s",
		   vd->nr_disks, vd->nr_disks == 1 ? "" : "s");
	*out = vd;
	return 0;
fail:
	vhu_daemon_destroy(vd);
	return ret;
}

void vhu_daemon_destroy(struct vhu_daemon *vd)
{
	if (!vd)
		return;
	probes_stop(vd);
	while (vd->disks) {
		struct vhu_disk *d = vd->disks;

		vd->disks = d->next;
		vd->nr_disks--;
		disk_free(d);
	}
	threads_stop(vd);
	if (vd->sig_fd >= 0) {
		vback_loop_unwatch(vd->env.loop, vd->sig_fd);
		close(vd->sig_fd);
	}
	free(vd);
}

/* ------------------------------------------------------------------ */
/* Control commands                                                    */
/* ------------------------------------------------------------------ */

static const char *state_of(const struct vhu_disk *d)
{
	if (d->removing)
		return "removing";
	if (vback_vhu_connected(d->vhu))
		return "connected";
	if (vback_vhu_draining(d->vhu))
		return "draining";
	return "listening";
}

static void disk_json(struct jw *w, struct vhu_disk *d)
{
	struct vback_vhu_stats vs;

	vback_vhu_get_stats(d->vhu, &vs);
	jw_object(w);
	jw_key(w, "name");
	jw_string(w, d->name);
	jw_key(w, "socket");
	jw_string(w, d->socket);
	jw_key(w, "image");
	jw_string(w, d->image);
	jw_key(w, "state");
	jw_string(w, state_of(d));
	jw_key(w, "front_end");
	jw_object(w);
	jw_key(w, "connections");
	jw_u64(w, vs.connections);
	jw_key(w, "messages");
	jw_u64(w, vs.messages);
	jw_key(w, "bad_messages");
	jw_u64(w, vs.bad_messages);
	jw_key(w, "config_changes");
	jw_u64(w, vs.config_changes);
	jw_object_end(w);
	stats_json_disk(w, d->blk, d->vhu, disk_qstats, d);
	jw_object_end(w);
}

static int ctl_list(void *opaque, const struct ctl_request *req, struct jw *w,
		    char *msg)
{
	struct vhu_daemon *vd = opaque;

	if (req->name && !find(vd, req->name) &&
	    !find_probe(vd, req->name, NULL)) {
		snprintf(msg, CTL_MAX_MSG, "no disk named %s", req->name);
		return -ENOENT;
	}
	jw_object(w);
	jw_key(w, "mode");
	jw_string(w, "vhost-user");
	jw_key(w, "version");
	jw_string(w, VBACK_VERSION);
	jw_key(w, "time_ns");
	jw_u64(w, vback_loop_now(vd->env.loop));
	jw_key(w, "disks");
	jw_array(w);
	for (struct vhu_disk *d = vd->disks; d; d = d->next)
		if (!req->name || !strcmp(req->name, d->name))
			disk_json(w, d);
	jw_array_end(w);
	/* Network disks being added: their server has not answered yet. */
	jw_key(w, "connecting");
	jw_array(w);
	for (const struct probe *pr = vd->probes; pr; pr = pr->next) {
		if (req->name && (!pr->s.name || strcmp(req->name, pr->s.name)))
			continue;
		jw_object(w);
		if (pr->s.name) {
			jw_key(w, "name");
			jw_string(w, pr->s.name);
		}
		jw_key(w, "socket");
		jw_string(w, pr->s.socket);
		jw_key(w, "image");
		jw_string(w, pr->s.image);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
	return 0;
}

static int ctl_add(void *opaque, const struct ctl_request *req,
		   struct ctl_pending *p, char *msg)
{
	struct vhu_daemon *vd = opaque;
	struct vback_disk_vhu_disk s = {
		.socket = req->socket,
		.image = req->image,
		.name = req->name,
		.serial = req->serial,
		.read_only = req->read_only,
		.queues = req->queues,
	};
	int ret;

	if (vback_io_is_network(s.image)) {
		ret = add_check(vd, &s, msg);
		return ret < 0 ? ret : probe_start(vd, &s, p, msg);
	}
	/* A file or a block device opens at once. */
	add_reply(vd, &s, NULL, p);
	return 0;
}

static void ctl_removed(void *opaque, int result)
{
	struct ctl_pending *p = opaque;

	/* Gone either way; a drain that timed out, or a flush that failed
	 * (or never came, after the drain's time limit), is said. */
	jw_key(&p->result, "drained");
	jw_bool(&p->result, result != -ETIMEDOUT);
	jw_key(&p->result, "flushed");
	jw_bool(&p->result, result >= 0);
	jw_object_end(&p->result);
	ctl_pending_done(p, 0, NULL);
}

static int ctl_remove(void *opaque, const struct ctl_request *req,
		      struct ctl_pending *p, char *msg)
{
	struct vhu_daemon *vd = opaque;
	int ret;

	jw_object(&p->result);
	jw_key(&p->result, "name");
	jw_string(&p->result, req->name);
	ret = vhu_daemon_remove(vd, req->name, ctl_removed, p);
	if (ret == -ENOENT)
		snprintf(msg, CTL_MAX_MSG, "no disk named %s", req->name);
	else if (ret == -EBUSY)
		snprintf(msg, CTL_MAX_MSG, "%s is being removed already",
			 req->name);
	else if (ret == 0)
		vback_logf(vd->log, VBACK_LOG_INFO, "control: removing %s",
			   req->name);
	return ret;
}

static int ctl_resize(void *opaque, const struct ctl_request *req, struct jw *w,
		      char *msg)
{
	struct vhu_daemon *vd = opaque;
	struct vhu_disk *d = find(vd, req->name);

	if (!d) {
		snprintf(msg, CTL_MAX_MSG, "no disk named %s", req->name);
		return -ENOENT;
	}
	return ctl_common_resize(vd->log, d->blk, d->name, w, msg);
}

static int ctl_log_level(void *opaque, const struct ctl_request *req,
			 struct jw *w, char *msg)
{
	struct vhu_daemon *vd = opaque;

	return ctl_common_log_level(vd->log, req, w, msg);
}

const struct ctl_ops vhu_daemon_ctl_ops = {
	.list = ctl_list,
	.add = ctl_add,
	.remove = ctl_remove,
	.resize = ctl_resize,
	.log_level = ctl_log_level,
};
