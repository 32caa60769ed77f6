/* SPDX-License-Identifier: MIT */
/*
 * vhost-user back-end: connection handling, the request handlers and the
 * queue state machine. The device is configured directly from a private
 * copy of each ring's settings (the shadow below), pushed to the device
 * when the ring is both started (kick fd set) and enabled.
 *
 * Threads: the connection, the shadow and every device-wide call live on
 * the transport's loop (the control plane). A ring whose device queue
 * runs on a loop of its own (vback_dev_queue_set_loop()) is touched there
 * only: its kick fd is watched on that loop, its call fd written there,
 * and every device call that names it is made there, the control plane
 * waiting for it (on_queue()); nothing on a queue thread ever waits for
 * the control plane, which it only reaches by posting work.
 */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <vback/vhost_user.h>

#include "inflight.h"
#include "memory.h"
#include "protocol.h"
#include "vb_ratelimit.h"

/* A handler that had to wait for in-flight IO: the message is kept and
 * handled again once every stopping queue is idle. */
#define PARKED 1

#define PROTOCOL_FEATURES                                                      \
	((1ull << VHU_PROTOCOL_F_MQ) | (1ull << VHU_PROTOCOL_F_REPLY_ACK) |    \
	 (1ull << VHU_PROTOCOL_F_BACKEND_REQ) |                                \
	 (1ull << VHU_PROTOCOL_F_CONFIG) |                                     \
	 (1ull << VHU_PROTOCOL_F_RESET_DEVICE) |                               \
	 (1ull << VHU_PROTOCOL_F_INFLIGHT_SHMFD))

struct vhu_queue {
	struct vback_vhu *vhu;
	unsigned int index;
	/* Shadow of what the front-end configured. */
	uint16_t num;
	bool num_set;
	bool addr_set;
	struct vhu_addr addr; /* user addresses */
	uint16_t base;	      /* next avail index to read */
	int kick_fd, call_fd, err_fd;
	/* Ring states of the spec, plus ours. */
	bool started;  /* has a kick fd, not stopped by GET_VRING_BASE */
	bool enabled;  /* SET_VRING_ENABLE 1 (or no protocol features) */
	bool running;  /* configured and enabled on the device */
	bool stopping; /* vback_dev_queue_stop() with IO still in flight */
	/* The device said it drained; act from the loop. Set on the
	 * queue's thread, taken on the loop's (atomic): the loop may look
	 * at it for another queue's report while this one sets it. */
	bool idle_pending;
	/* Written on the queue's thread, read anywhere (relaxed atomics). */
	struct vback_vhu_queue_stats stats;
	/* The queue's thread: a kick fd at end of file, for the control
	 * plane to report and close (atomic). */
	int kick_dead;
	/* on_queue() results. */
	int start_ret;
	unsigned int inflight_at_stop;
	struct vback_vq_addr start_addr;
	void *start_rec; /* its in-flight record (or NULL), and its size */
	size_t start_rec_len;
	int new_fd; /* the fd on_queue() installs */
};

#define VHU_EVQ_LEN 8

struct vback_vhu {
	struct vback_dev *dev;
	const struct vback_loop *loop;
	const struct vback_log *log;
	struct vb_ratelimit log_rl[2]; /* the peer can make us log at will */
	char name[64];
	char *path;
	void (*event)(void *opaque, enum vback_vhu_event ev);
	void *opaque;
	unsigned int nqueues;

	int listen_fd;
	int conn_fd;
	int backend_fd;
	struct vback_work idle_work; /* a stopping queue drained: act */
	struct vback_work kick_work; /* a queue thread dropped a kick fd */
	struct vhu_guard guard;	     /* SIGBUS on guest memory (memory.h) */
	bool conn_watched;
	bool closing;	       /* disconnected, waiting for IO to drain */
	bool parked;	       /* rx.msg waits for IO to drain */
	unsigned int draining; /* queues with stopping set */
	/* Event delivery, see emit(). */
	unsigned int depth; /* enter()ed frames on the stack */
	bool delivering;
	bool *gone; /* set by destroy while delivering */
	uint8_t evq[VHU_EVQ_LEN];
	unsigned int evq_head, evq_n;

	void (*memory)(void *opaque, const struct vback_iovec *regions,
		       unsigned int n);
	uint64_t features; /* acked with SET_FEATURES, bit 30 included */
	bool features_set;
	uint64_t protocol_offered; /* PROTOCOL_FEATURES, less what is off */
	uint64_t protocol_features;
	/* INFLIGHT_SHMFD: one record per queue, kept by the device. */
	struct vhu_region_inflight inflight;
	struct vhu_memtab mem;
	struct vhu_memtab mem_old; /* while the new one is reported */
	struct vhu_rx rx;
	struct vhu_queue q[VBACK_VHU_MAX_QUEUES];
	struct vback_vhu_stats stats;
};

#define LOG(vhu, level, ...) vhu_logf(vhu, level, __VA_ARGS__)

/* Every line is one the front-end (or the guest behind it) can trigger
 * again and again: rate-limited, with a count of what was dropped. */
__attribute__((format(printf, 3, 4))) static void
vhu_logf(struct vback_vhu *vhu, enum vback_log_level level, const char *fmt,
	 ...)
{
	char line[384];
	uint32_t dropped;
	va_list ap;

	if (!vback_log_enabled(vhu->log, level))
		return;
	if (!vb_ratelimit(&vhu->log_rl[VB_RL_CLASS(level)],
			  vback_loop_now(vhu->loop), &dropped))
		return;
	if (dropped)
		vback_logf(vhu->log, VBACK_LOG_WARN,
			   "%s: %u lines were not logged (rate limit)",
			   vhu->name, (unsigned int)dropped);
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vback_logf(vhu->log, level, "%s: %s", vhu->name, line);
}

/*
 * Events are queued by emit() and reported by the outermost leave(): every
 * entry point that can emit (loop callbacks, the public functions that
 * report events) is bracketed by enter()/leave(). So the callback never
 * runs while a frame of ours is half done, and may destroy the transport
 * (and the device) outright; @gone tells the delivering leave() it did.
 */
static void emit(struct vback_vhu *vhu, enum vback_vhu_event ev)
{
	if (!vhu->event)
		return;
	if (vhu->evq_n == VHU_EVQ_LEN) { /* cannot happen: a frame emits <= 3 */
		LOG(vhu, VBACK_LOG_ERR, "event %d lost", (int)ev);
		return;
	}
	vhu->evq[(vhu->evq_head + vhu->evq_n++) % VHU_EVQ_LEN] = (uint8_t)ev;
}

static void enter(struct vback_vhu *vhu)
{
	vhu->depth++;
}

static void leave(struct vback_vhu *vhu)
{
	bool gone = false;

	if (--vhu->depth || vhu->delivering)
		return; /* an outer frame, or the delivery loop, reports */
	vhu->delivering = true;
	vhu->gone = &gone;
	while (vhu->evq_n && vhu->event) {
		enum vback_vhu_event ev = vhu->evq[vhu->evq_head];

		vhu->evq_head = (vhu->evq_head + 1) % VHU_EVQ_LEN;
		vhu->evq_n--;
		vhu->event(vhu->opaque, ev);
		if (gone)
			return; /* destroyed by the callback */
	}
	vhu->evq_n = 0;
	vhu->gone = NULL;
	vhu->delivering = false;
}

static bool has_protocol(const struct vback_vhu *vhu, unsigned int bit)
{
	return vhu->protocol_features & (1ull << bit);
}

/* ------------------------------------------------------------------ */
/* Queue threads                                                       */
/* ------------------------------------------------------------------ */

struct vhu_call {
	struct vback_work w;
	void (*fn)(struct vback_vhu *vhu, struct vhu_queue *q);
	struct vback_vhu *vhu;
	struct vhu_queue *q;
	sem_t done;
};

static void call_run(void *opaque)
{
	struct vhu_call *c = opaque;

	c->fn(c->vhu, c->q);
	sem_post(&c->done);
}

/*
 * Run @fn for ring @q on the thread of its device queue's loop, and wait
 * until it has run; at once when that is the transport's loop. The queue
 * threads never wait for us, so this cannot deadlock; their loops must
 * run while the transport has a front-end.
 */
static void on_queue(struct vback_vhu *vhu, struct vhu_queue *q,
		     void (*fn)(struct vback_vhu *vhu, struct vhu_queue *q))
{
	const struct vback_loop *loop =
		vback_dev_queue_loop(vhu->dev, q->index);
	struct vhu_call c = { .fn = fn, .vhu = vhu, .q = q };

	if (!loop || loop == vhu->loop) {
		fn(vhu, q);
		return;
	}
	sem_init(&c.done, 0, 0);
	vback_work_init(&c.w, call_run, &c);
	vback_loop_post(loop, &c.w);
	while (sem_wait(&c.done) < 0 && errno == EINTR)
		;
	sem_destroy(&c.done);
}

/* The loop ring @q's kicks are watched on. */
static const struct vback_loop *queue_loop(const struct vback_vhu *vhu,
					   const struct vhu_queue *q)
{
	const struct vback_loop *loop =
		vback_dev_queue_loop(vhu->dev, q->index);

	return loop ? loop : vhu->loop;
}

static void stat_inc(uint64_t *c)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Guest memory view and device notifications                          */
/* ------------------------------------------------------------------ */

static void *gm_map(void *opaque, uint64_t addr, uint64_t *len,
		    unsigned int access)
{
	struct vback_vhu *vhu = opaque;

	/* Every region is shared read-write by the front-end. */
	(void)access;
	return vhu_memtab_gpa(&vhu->mem, addr, len);
}

static const struct vback_gm_ops gm_ops = { .map = gm_map };

/*
 * Signal a call or error fd. The front-end owns it and may hand us a pipe
 * or a counter near its limit: it is non-blocking (peer_fd_prepare), and
 * EAGAIN means the other side has not read the last signal yet, which
 * wakes it just the same.
 */
static void signal_fd(int fd)
{
	uint64_t one = 1;
	ssize_t n;

	do {
		n = write(fd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
}

/* Make a file descriptor the front-end sent us safe for the loop: it
 * must never block us (the flag is on the front-end's open file too;
 * eventfds meant for polling are non-blocking anyway). */
static int peer_fd_prepare(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void dev_notify_queue(void *opaque, unsigned int q)
{
	struct vback_vhu *vhu = opaque;

	if (q >= vhu->nqueues || vhu->q[q].call_fd < 0)
		return;
	signal_fd(vhu->q[q].call_fd);
	stat_inc(&vhu->q[q].stats.calls);
}

static void dev_notify_config(void *opaque)
{
	struct vback_vhu *vhu = opaque;
	int ret;

	/* A broken device: tell the front-end through the error fds too. */
	if (vback_dev_status(vhu->dev) & VBACK_STATUS_NEEDS_RESET) {
		for (unsigned int i = 0; i < vhu->nqueues; i++)
			if (vhu->q[i].err_fd >= 0)
				signal_fd(vhu->q[i].err_fd);
	}
	if (vhu->backend_fd < 0 || !has_protocol(vhu, VHU_PROTOCOL_F_CONFIG))
		return;
	/* No need_reply: the answer would arrive on a socket we do not
	 * watch, and the front-end re-reads the config anyway. */
	ret = vhu_send(vhu->backend_fd, VHU_BACKEND_CONFIG_CHANGE_MSG,
		       VHU_VERSION, NULL, 0, NULL, 0);
	if (ret < 0)
		LOG(vhu, VBACK_LOG_WARN, "config-change message failed: %s",
		    vback_strerror(ret));
	else
		vhu->stats.config_changes++;
}

static void resume_parked(struct vback_vhu *vhu);
static void finish_disconnect(struct vback_vhu *vhu);
static void report_memory(struct vback_vhu *vhu);
static void close_fd(int *fd);
static void queue_try_start(struct vback_vhu *vhu, struct vhu_queue *q);
static void queue_drop_kick(struct vback_vhu *vhu, struct vhu_queue *q);

static void q_halted(struct vback_vhu *vhu, struct vhu_queue *q)
{
	q->base = vback_dev_queue_last_avail(vhu->dev, q->index);
	vback_dev_queue_reset(vhu->dev, q->index);
}

/* The queue is stopped on the device: remember where it was, reset it. */
static void queue_halted(struct vback_vhu *vhu, struct vhu_queue *q)
{
	on_queue(vhu, q, q_halted);
	q->running = false;
}

/*
 * The device reports a stopped queue idle from inside its own processing;
 * what follows (a parked message, a reset, a restart) may reset queues and
 * the device, so it runs from the loop instead, as posted work.
 */
static void dev_queue_idle(void *opaque, unsigned int qi)
{
	struct vback_vhu *vhu = opaque;

	if (qi >= vhu->nqueues || !vhu->q[qi].stopping)
		return;
	__atomic_store_n(&vhu->q[qi].idle_pending, true, __ATOMIC_RELEASE);
	vback_loop_post(vhu->loop, &vhu->idle_work);
}

static void idle_locked(struct vback_vhu *vhu);

static void disconnect(struct vback_vhu *vhu, const char *why);

/* A guest memory file shrank under its mapping: the SIGBUS guard has put
 * zero pages there. This front-end cannot be served any more. */
static void guard_run(void *opaque)
{
	struct vback_vhu *vhu = opaque;

	if (!atomic_exchange(&vhu->guard.tripped, 0))
		return;
	enter(vhu);
	vhu->stats.bad_messages++;
	disconnect(vhu, "a guest memory file shrank under its mapping "
			"(SIGBUS caught; the region now reads zeroes)");
	leave(vhu);
}

static void idle_run(void *opaque)
{
	struct vback_vhu *vhu = opaque;

	enter(vhu);
	idle_locked(vhu);
	leave(vhu);
}

static void idle_locked(struct vback_vhu *vhu)
{
	for (unsigned int i = 0; i < vhu->nqueues; i++) {
		struct vhu_queue *q = &vhu->q[i];

		if (!__atomic_exchange_n(&q->idle_pending, false,
					 __ATOMIC_ACQ_REL))
			continue;
		q->stopping = false;
		queue_halted(vhu, q);
		vhu->draining--;
	}
	if (vhu->draining)
		return;
	if (vhu->closing)
		finish_disconnect(vhu);
	else if (vhu->parked)
		resume_parked(vhu);
	else
		for (unsigned int i = 0; i < vhu->nqueues; i++)
			queue_try_start(vhu, &vhu->q[i]);
}

/* A queue thread gave up on a kick fd (end of file, hang-up): say so and
 * close it here, where the fds are managed. */
static void kick_dead_run(void *opaque)
{
	struct vback_vhu *vhu = opaque;

	for (unsigned int i = 0; i < vhu->nqueues; i++) {
		struct vhu_queue *q = &vhu->q[i];
		int why =
			__atomic_exchange_n(&q->kick_dead, 0, __ATOMIC_ACQ_REL);

		if (!why)
			continue;
		LOG(vhu, VBACK_LOG_WARN,
		    "queue %u: kick fd %s: kicks ignored until the next "
		    "SET_VRING_KICK",
		    i,
		    why == 1   ? "at end of file"
		    : why == 2 ? "hung up"
			       : "failed");
		close_fd(&q->kick_fd);
	}
}

static const struct vback_dev_transport_ops dev_ops = {
	.notify_queue = dev_notify_queue,
	.notify_config = dev_notify_config,
	.queue_idle = dev_queue_idle,
};

/* ------------------------------------------------------------------ */
/* Queues                                                              */
/* ------------------------------------------------------------------ */

static void q_stop(struct vback_vhu *vhu, struct vhu_queue *q)
{
	q->inflight_at_stop = vback_dev_queue_stop(vhu->dev, q->index);
}

/* Stop the device queue; true while its IO is still in flight. */
static bool queue_halt(struct vback_vhu *vhu, struct vhu_queue *q)
{
	if (q->stopping)
		return true;
	if (!q->running)
		return false;
	q->stopping = true;
	on_queue(vhu, q, q_stop);
	if (q->inflight_at_stop > 0) {
		vhu->draining++;
		return true;
	}
	q->stopping = false;
	queue_halted(vhu, q);
	return false;
}

/* Halt every queue; true when the caller must wait for queue_idle. */
static bool halt_all(struct vback_vhu *vhu)
{
	bool wait = false;

	for (unsigned int i = 0; i < vhu->nqueues; i++)
		wait |= queue_halt(vhu, &vhu->q[i]);
	return wait;
}

/* Acknowledge the features on the device and take it to DRIVER_OK. The
 * device core follows the virtio status protocol; vhost-user has none, so
 * the transport plays the driver's part with the features it was given. */
static int apply_features(struct vback_vhu *vhu)
{
	const uint8_t want = VBACK_STATUS_ACKNOWLEDGE | VBACK_STATUS_DRIVER |
			     VBACK_STATUS_FEATURES_OK;
	uint64_t f = vhu->features & ~(1ull << VHU_F_PROTOCOL_FEATURES);
	uint8_t status = vback_dev_status(vhu->dev);
	int ret;

	if ((status & VBACK_STATUS_FEATURES_OK) &&
	    vback_dev_driver_features(vhu->dev) == f)
		return 0;
	/* New features need a reset. What the front-end wrote to the config
	 * space is the device type's to keep (blk keeps its cache mode). */
	if (status)
		vback_dev_reset(vhu->dev);
	ret = vback_dev_set_status(vhu->dev, VBACK_STATUS_ACKNOWLEDGE |
						     VBACK_STATUS_DRIVER);
	if (ret == 0)
		ret = vback_dev_set_driver_features(vhu->dev, f);
	if (ret == 0)
		ret = vback_dev_set_status(vhu->dev, want);
	if (ret == 0 &&
	    !(vback_dev_status(vhu->dev) & VBACK_STATUS_FEATURES_OK))
		ret = -ENOTSUP;
	return ret;
}

static void queue_kick_cb(void *opaque, int fd, uint32_t events)
{
	struct vhu_queue *q = opaque;
	struct vback_vhu *vhu = q->vhu;
	uint64_t v;
	ssize_t n;

	n = read(fd, &v, sizeof(v));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* End of file (a pipe whose writer is gone), hang-up or an
		 * error: the fd stays ready forever. Stop watching it rather
		 * than spin; the next SET_VRING_KICK brings a new one. The
		 * control plane logs and closes it. */
		vback_loop_unwatch(queue_loop(vhu, q), fd);
		__atomic_store_n(&q->kick_dead,
				 n == 0 ? 1 : (events & VBACK_EV_ERR ? 2 : 3),
				 __ATOMIC_RELEASE);
		vback_loop_post(vhu->loop, &vhu->kick_work);
		return;
	}
	stat_inc(&q->stats.kicks);
	/* Ignored by the device unless the ring runs. */
	vback_dev_queue_kick(vhu->dev, q->index);
}

/* On the queue's thread: the shadow to the device queue. */
static void q_start(struct vback_vhu *vhu, struct vhu_queue *q)
{
	int ret;

	ret = vback_dev_queue_set_size(vhu->dev, q->index, q->num);
	if (ret == 0)
		ret = vback_dev_queue_set_addr(vhu->dev, q->index,
					       &q->start_addr);
	if (ret == 0)
		ret = vback_dev_queue_set_last_avail(vhu->dev, q->index,
						     q->base);
	if (ret == 0)
		ret = vback_dev_queue_set_inflight(vhu->dev, q->index,
						   q->start_rec,
						   q->start_rec_len);
	if (ret == 0)
		ret = vback_dev_queue_enable(vhu->dev, q->index);
	if (ret < 0)
		vback_dev_queue_reset(vhu->dev, q->index);
	q->start_ret = ret;
}

static void q_kick(struct vback_vhu *vhu, struct vhu_queue *q)
{
	vback_dev_queue_kick(vhu->dev, q->index);
}

/* The queue's record in the in-flight region, if the front-end gave one
 * that covers it: the device adopts it at enable (a restart) or starts
 * it afresh. Chosen here; given to the device on the queue's thread
 * (q_start()), whose state it becomes. */
static int queue_record(struct vback_vhu *vhu, struct vhu_queue *q)
{
	size_t len = 0;
	void *rec = vhu_inflight_queue(&vhu->inflight, q->index, &len);

	if (rec && q->num > vhu->inflight.queue_size) {
		LOG(vhu, VBACK_LOG_WARN,
		    "queue %u: ring of %u entries, in-flight region for %u: "
		    "not tracked",
		    q->index, q->num, vhu->inflight.queue_size);
		rec = NULL;
		len = 0;
	}
	q->start_rec = rec;
	q->start_rec_len = len;
	return 0;
}

/* On the queue's thread: its requests stay owed in their record (a
 * destroy with IO in flight), then a stopping ring is reset. */
static void q_drop_record(struct vback_vhu *vhu, struct vhu_queue *q)
{
	(void)vback_dev_queue_set_inflight(vhu->dev, q->index, NULL, 0);
	if (q->stopping)
		vback_dev_queue_reset(vhu->dev, q->index);
}

/* Push the shadow to the device once the ring may run. */
static void queue_try_start(struct vback_vhu *vhu, struct vhu_queue *q)
{
	struct vback_vq_addr a;
	int ret;

	if (q->running || q->stopping || !q->started || !q->enabled ||
	    !q->num_set || !q->addr_set || !vhu->features_set || vhu->parked ||
	    vhu->closing)
		return;
	/* Ring addresses are front-end user addresses: the device works
	 * with guest addresses. */
	if (vhu_memtab_uaddr_to_gpa(&vhu->mem, q->addr.desc, &a.desc) < 0 ||
	    vhu_memtab_uaddr_to_gpa(&vhu->mem, q->addr.avail, &a.avail) < 0 ||
	    vhu_memtab_uaddr_to_gpa(&vhu->mem, q->addr.used, &a.used) < 0) {
		LOG(vhu, VBACK_LOG_WARN, "queue %u: ring outside guest memory",
		    q->index);
		return;
	}
	q->start_addr = a;
	ret = apply_features(vhu);
	if (ret == 0)
		ret = queue_record(vhu, q);
	if (ret == 0) {
		on_queue(vhu, q, q_start);
		ret = q->start_ret;
	}
	if (ret < 0) {
		LOG(vhu, VBACK_LOG_WARN, "queue %u: cannot start: %s", q->index,
		    vback_strerror(ret));
		return;
	}
	if (!(vback_dev_status(vhu->dev) & VBACK_STATUS_DRIVER_OK)) {
		ret = vback_dev_set_status(vhu->dev,
					   vback_dev_status(vhu->dev) |
						   VBACK_STATUS_DRIVER_OK);
		if (ret < 0)
			LOG(vhu, VBACK_LOG_WARN, "device refused DRIVER_OK: %s",
			    vback_strerror(ret));
	}
	q->running = true;
	LOG(vhu, VBACK_LOG_DEBUG, "queue %u running: size %u, base %u",
	    q->index, q->num, q->base);
	/* Buffers may have been queued before the ring was enabled. */
	on_queue(vhu, q, q_kick);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void q_unwatch_kick(struct vback_vhu *vhu, struct vhu_queue *q)
{
	/* -ENOENT when the queue's thread dropped it already. */
	(void)vback_loop_unwatch(queue_loop(vhu, q), q->kick_fd);
}

static void queue_drop_kick(struct vback_vhu *vhu, struct vhu_queue *q)
{
	if (q->kick_fd >= 0)
		on_queue(vhu, q, q_unwatch_kick);
	__atomic_store_n(&q->kick_dead, 0, __ATOMIC_RELAXED);
	close_fd(&q->kick_fd);
}

/* The call fd is the queue thread's to write: swap it there. */
static void q_set_call(struct vback_vhu *vhu, struct vhu_queue *q)
{
	int old = q->call_fd;

	(void)vhu;
	q->call_fd = q->new_fd;
	q->new_fd = old;
}

static void queue_set_call(struct vback_vhu *vhu, struct vhu_queue *q, int fd)
{
	if (q->call_fd < 0 && fd < 0)
		return;
	q->new_fd = fd;
	on_queue(vhu, q, q_set_call);
	close_fd(&q->new_fd); /* the old one */
}

/* Forget a ring's connection state (its device queue is already halted). */
static void queue_clear(struct vback_vhu *vhu, struct vhu_queue *q)
{
	queue_drop_kick(vhu, q);
	queue_set_call(vhu, q, -1);
	close_fd(&q->err_fd);
	q->num = 0;
	q->num_set = false;
	q->addr_set = false;
	q->base = 0;
	q->started = false;
	q->enabled = false;
}

/* ------------------------------------------------------------------ */
/* Request handlers: 0, PARKED, -EBADMSG (drop the connection) or      */
/* another -errno (reported with REPLY_ACK, connection kept).          */
/* ------------------------------------------------------------------ */

static int reply(struct vback_vhu *vhu, const struct vhu_msg *m,
		 const void *payload, uint32_t size)
{
	return vhu_send(vhu->conn_fd, m->hdr.request,
			VHU_VERSION | VHU_FLAG_REPLY, payload, size, NULL, 0);
}

static int reply_u64(struct vback_vhu *vhu, const struct vhu_msg *m, uint64_t v)
{
	return reply(vhu, m, &v, sizeof(v));
}

static uint64_t offered_features(const struct vback_vhu *vhu)
{
	return vback_dev_features(vhu->dev) | (1ull << VHU_F_PROTOCOL_FEATURES);
}

static int on_set_features(struct vback_vhu *vhu, struct vhu_msg *m)
{
	uint64_t f = m->payload.u64;

	if (f & ~offered_features(vhu)) {
		LOG(vhu, VBACK_LOG_ERR, "features %#llx were never offered",
		    (unsigned long long)(f & ~offered_features(vhu)));
		return -EBADMSG;
	}
	if (vhu->features_set && f != vhu->features) {
		/* Features change only between runs of the rings. */
		if (halt_all(vhu))
			return PARKED;
	}
	vhu->features = f;
	vhu->features_set = true;
	/* Without protocol features rings start enabled (spec: Ring states). */
	for (unsigned int i = 0; i < vhu->nqueues; i++) {
		if (!(f & (1ull << VHU_F_PROTOCOL_FEATURES)) &&
		    vhu->q[i].started)
			vhu->q[i].enabled = true;
		queue_try_start(vhu, &vhu->q[i]);
	}
	return 0;
}

static int on_set_protocol_features(struct vback_vhu *vhu, struct vhu_msg *m)
{
	if (m->payload.u64 & ~vhu->protocol_offered) {
		LOG(vhu, VBACK_LOG_ERR, "protocol features %#llx never offered",
		    (unsigned long long)(m->payload.u64 &
					 ~vhu->protocol_offered));
		return -EBADMSG;
	}
	vhu->protocol_features = m->payload.u64;
	return 0;
}

/* The largest ring the device takes, for the inflight description. */
static uint16_t max_ring(const struct vback_vhu *vhu)
{
	uint16_t n = 0;

	for (unsigned int i = 0; i < vhu->nqueues; i++)
		if (vback_dev_queue_max_size(vhu->dev, i) > n)
			n = vback_dev_queue_max_size(vhu->dev, i);
	return n;
}

/* GET_INFLIGHT_FD: a new empty region, ours from now on; its fd goes back
 * to the front-end, which keeps it across our restarts. A description we
 * cannot serve gets a reply of size 0 (the front-end then goes without). */
static int on_get_inflight(struct vback_vhu *vhu, struct vhu_msg *m)
{
	struct vhu_inflight d = m->payload.inflight, r = { 0 };
	struct vhu_region_inflight fresh;
	const char *why = NULL;
	int fd = -1, ret;

	if (!has_protocol(vhu, VHU_PROTOCOL_F_INFLIGHT_SHMFD)) {
		LOG(vhu, VBACK_LOG_ERR, "GET_INFLIGHT_FD not negotiated");
		return -EBADMSG;
	}
	ret = vhu_inflight_check(&d, vhu->nqueues, max_ring(vhu), false, &why);
	if (ret == 0) {
		/* Running rings write into the current region. */
		if (halt_all(vhu))
			return PARKED;
		ret = vhu_inflight_create(&fresh, &d, &vhu->guard, &fd, &why);
	}
	if (ret < 0) {
		LOG(vhu, VBACK_LOG_WARN,
		    "GET_INFLIGHT_FD (%u queues of %u): %s: no in-flight "
		    "tracking",
		    d.num_queues, d.queue_size, why);
	} else {
		vhu_inflight_unmap(&vhu->inflight);
		vhu->inflight = fresh;
		r = (struct vhu_inflight){ .mmap_size = fresh.len,
					   .num_queues = d.num_queues,
					   .queue_size = d.queue_size };
		LOG(vhu, VBACK_LOG_DEBUG,
		    "in-flight region: %u queues of %u, %zu bytes",
		    d.num_queues, d.queue_size, fresh.len);
	}
	ret = vhu_send(vhu->conn_fd, m->hdr.request,
		       VHU_VERSION | VHU_FLAG_REPLY, &r, m->hdr.size,
		       fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
	if (fd >= 0)
		close(fd);
	for (unsigned int i = 0; i < vhu->nqueues; i++)
		queue_try_start(vhu, &vhu->q[i]);
	return ret;
}

/* SET_INFLIGHT_FD: the region to track in, maybe from a process of ours
 * that died: the device adopts each queue's record at its start. One that
 * cannot be mapped leaves us without one (rings start from their base). */
static int on_set_inflight(struct vback_vhu *vhu, struct vhu_msg *m)
{
	struct vhu_inflight d = m->payload.inflight;
	struct vhu_region_inflight fresh;
	const char *why = NULL;
	int ret;

	if (!has_protocol(vhu, VHU_PROTOCOL_F_INFLIGHT_SHMFD)) {
		LOG(vhu, VBACK_LOG_ERR, "SET_INFLIGHT_FD not negotiated");
		return -EBADMSG;
	}
	if (halt_all(vhu))
		return PARKED;
	ret = vhu_inflight_check(&d, vhu->nqueues, max_ring(vhu), true, &why);
	if (ret == 0)
		ret = vhu_inflight_map(&fresh, &d, m->fds[0], &vhu->guard,
				       &why);
	vhu_inflight_unmap(&vhu->inflight);
	/* Refused, the connection is served all the same, without records:
	 * one line here, no error for the generic one. */
	if (ret < 0)
		LOG(vhu, VBACK_LOG_WARN,
		    "SET_INFLIGHT_FD (%u queues of %u, %llu bytes at %llu): "
		    "%s: no in-flight tracking",
		    d.num_queues, d.queue_size, (unsigned long long)d.mmap_size,
		    (unsigned long long)d.mmap_offset, why);
	else
		vhu->inflight = fresh;
	for (unsigned int i = 0; i < vhu->nqueues; i++)
		queue_try_start(vhu, &vhu->q[i]);
	return 0;
}

static int on_set_mem_table(struct vback_vhu *vhu, struct vhu_msg *m)
{
	struct vhu_memtab fresh = { 0 };
	const char *why = NULL;
	int ret;

	ret = vhu_memtab_check(m->payload.mem.regions, m->payload.mem.nregions,
			       &why);
	if (ret < 0) {
		LOG(vhu, VBACK_LOG_ERR, "bad memory table: %s", why);
		return -EBADMSG;
	}
	/* Rings and in-flight requests point into the old mappings. */
	if (halt_all(vhu))
		return PARKED;
	ret = vhu_memtab_map(&fresh, m->payload.mem.regions, m->fds,
			     m->payload.mem.nregions, &vhu->guard, &why);
	if (ret < 0) {
		LOG(vhu, VBACK_LOG_ERR, "cannot map guest memory: %s",
		    why ? why : vback_strerror(ret));
		return -EBADMSG;
	}
	/* Nothing in flight: the IO layer may forget the old table and
	 * prepare the new one (vback_io_set_buffers()). */
	vhu->mem_old = vhu->mem;
	vhu->mem = fresh;
	report_memory(vhu);
	vhu_memtab_unmap(&vhu->mem_old);
	for (unsigned int i = 0; i < fresh.n; i++) {
		LOG(vhu, VBACK_LOG_DEBUG,
		    "region %u: guest %#llx size %#llx user %#llx%s", i,
		    (unsigned long long)fresh.maps[i].gpa,
		    (unsigned long long)fresh.maps[i].size,
		    (unsigned long long)fresh.maps[i].uaddr,
		    fresh.maps[i].sealed ? " (sealed against shrinking)" : "");
		if (!fresh.maps[i].sealed && fresh.maps[i].guard_slot < 0)
			LOG(vhu, VBACK_LOG_WARN,
			    "region %u: neither sealed nor guarded: a "
			    "front-end "
			    "that shrinks its file kills this process",
			    i);
	}
	for (unsigned int i = 0; i < vhu->nqueues; i++)
		queue_try_start(vhu, &vhu->q[i]);
	return 0;
}

/* Ring settings change only while the ring is not running. */
static int on_vring_setting(struct vback_vhu *vhu, struct vhu_msg *m)
{
	uint32_t index = m->hdr.request == VHU_SET_VRING_ADDR
				 ? m->payload.addr.index
				 : m->payload.state.index;
	struct vhu_queue *q = &vhu->q[index];
	uint32_t num = m->payload.state.num;

	switch (m->hdr.request) {
	case VHU_SET_VRING_NUM:
		if (num == 0 || (num & (num - 1)) ||
		    num > vback_dev_queue_max_size(vhu->dev, index)) {
			LOG(vhu, VBACK_LOG_ERR, "queue %u: bad size %u", index,
			    num);
			return -EBADMSG;
		}
		break;
	case VHU_SET_VRING_BASE:
		if (num > UINT16_MAX) {
			LOG(vhu, VBACK_LOG_ERR, "queue %u: bad base %u", index,
			    num);
			return -EBADMSG;
		}
		break;
	case VHU_SET_VRING_ADDR:
		if (m->payload.addr.flags & ~VHU_VRING_F_LOG) {
			LOG(vhu, VBACK_LOG_ERR, "queue %u: bad ring flags %#x",
			    index, m->payload.addr.flags);
			return -EBADMSG;
		}
		break;
	}
	if (queue_halt(vhu, q))
		return PARKED;
	switch (m->hdr.request) {
	case VHU_SET_VRING_NUM:
		q->num = (uint16_t)num;
		q->num_set = true;
		break;
	case VHU_SET_VRING_BASE:
		q->base = (uint16_t)num;
		break;
	case VHU_SET_VRING_ADDR:
		q->addr = m->payload.addr;
		q->addr_set = true;
		break;
	}
	queue_try_start(vhu, q);
	return 0;
}

static int on_get_vring_base(struct vback_vhu *vhu, struct vhu_msg *m)
{
	struct vhu_queue *q = &vhu->q[m->payload.state.index];
	struct vhu_state st = { .index = m->payload.state.index };

	/* The ring is stopped: it restarts with the next SET_VRING_KICK. */
	q->started = false;
	if (queue_halt(vhu, q))
		return PARKED;
	queue_drop_kick(vhu, q);
	st.num = q->base;
	return reply(vhu, m, &st, sizeof(st));
}

/* On the queue's thread: its kicks are watched on its loop. */
static void q_watch_kick(struct vback_vhu *vhu, struct vhu_queue *q)
{
	q->start_ret = vback_loop_watch(queue_loop(vhu, q), q->kick_fd,
					VBACK_EV_IN, queue_kick_cb, q);
}

static int on_vring_fd(struct vback_vhu *vhu, struct vhu_msg *m)
{
	unsigned int index =
		(unsigned int)(m->payload.u64 & VHU_VRING_IDX_MASK);
	bool nofd = m->payload.u64 & VHU_VRING_NOFD;
	struct vhu_queue *q = &vhu->q[index];
	int fd = nofd ? -1 : vhu_msg_take_fd(m, 0);
	int ret;

	if (fd >= 0) {
		ret = peer_fd_prepare(fd);
		if (ret < 0) {
			LOG(vhu, VBACK_LOG_ERR, "queue %u: unusable fd: %s",
			    index, vback_strerror(ret));
			close(fd);
			return -EBADMSG;
		}
	}
	switch (m->hdr.request) {
	case VHU_SET_VRING_KICK:
		if (nofd) {
			LOG(vhu, VBACK_LOG_ERR,
			    "queue %u: polling mode is not supported", index);
			return -EBADMSG;
		}
		queue_drop_kick(vhu, q);
		q->kick_fd = fd;
		on_queue(vhu, q, q_watch_kick);
		ret = q->start_ret;
		if (ret < 0) {
			q->kick_fd = -1;
			close(fd);
			return ret;
		}
		q->started = true;
		if (!(vhu->features & (1ull << VHU_F_PROTOCOL_FEATURES)))
			q->enabled = true;
		queue_try_start(vhu, q);
		return 0;
	case VHU_SET_VRING_CALL:
		queue_set_call(vhu, q, fd);
		return 0;
	default:
		close_fd(&q->err_fd);
		q->err_fd = fd;
		return 0;
	}
}

static int on_vring_enable(struct vback_vhu *vhu, struct vhu_msg *m)
{
	struct vhu_queue *q = &vhu->q[m->payload.state.index];

	if (m->payload.state.num > 1) {
		LOG(vhu, VBACK_LOG_ERR, "bad SET_VRING_ENABLE value %u",
		    m->payload.state.num);
		return -EBADMSG;
	}
	/* Without PROTOCOL_FEATURES negotiated every started ring is
	 * enabled, and the message is not the front-end's to send (spec:
	 * Ring states). Before SET_FEATURES it is implementation-defined:
	 * accepted. */
	if (vhu->features_set &&
	    !(vhu->features & (1ull << VHU_F_PROTOCOL_FEATURES)))
		return -EPROTO;
	q->enabled = m->payload.state.num == 1;
	if (q->enabled)
		queue_try_start(vhu, q);
	else
		queue_halt(vhu, q); /* in-flight IO finishes on its own */
	return 0;
}

static int on_get_config(struct vback_vhu *vhu, struct vhu_msg *m)
{
	struct vhu_config *c = &m->payload.config;
	uint32_t dev_size = vback_dev_config_size(vhu->dev);
	uint32_t n = 0;

	/* The reply has the size asked for; what the device does not have
	 * reads as zeroes. A zero-length reply would signal an error. */
	memset(c->data, 0, c->size);
	if (c->offset < dev_size) {
		n = dev_size - c->offset;
		if (n > c->size)
			n = c->size;
		if (vback_dev_config_read(vhu->dev, c->offset, c->data, n) < 0)
			return reply(vhu, m, c, 0);
	}
	return reply(vhu, m, c, VHU_CONFIG_HDR + c->size);
}

static int on_set_config(struct vback_vhu *vhu, struct vhu_msg *m)
{
	const struct vhu_config *c = &m->payload.config;

	if (c->flags > 1) {
		LOG(vhu, VBACK_LOG_ERR, "bad SET_CONFIG flags %#x", c->flags);
		return -EBADMSG;
	}
	return vback_dev_config_write(vhu->dev, c->offset, c->data, c->size);
}

static int on_reset(struct vback_vhu *vhu)
{
	if (halt_all(vhu))
		return PARKED;
	for (unsigned int i = 0; i < vhu->nqueues; i++)
		queue_clear(vhu, &vhu->q[i]);
	vback_dev_reset(vhu->dev);
	vhu->features = 0;
	vhu->features_set = false;
	return 0;
}

static int dispatch(struct vback_vhu *vhu, struct vhu_msg *m)
{
	switch (m->hdr.request) {
	case VHU_GET_FEATURES:
		return reply_u64(vhu, m, offered_features(vhu));
	case VHU_SET_FEATURES:
		return on_set_features(vhu, m);
	case VHU_GET_PROTOCOL_FEATURES:
		return reply_u64(vhu, m, vhu->protocol_offered);
	case VHU_SET_PROTOCOL_FEATURES:
		return on_set_protocol_features(vhu, m);
	case VHU_SET_OWNER:
		return 0;
	case VHU_RESET_OWNER:
	case VHU_RESET_DEVICE:
		return on_reset(vhu);
	case VHU_SET_MEM_TABLE:
		return on_set_mem_table(vhu, m);
	case VHU_SET_VRING_NUM:
	case VHU_SET_VRING_ADDR:
	case VHU_SET_VRING_BASE:
		return on_vring_setting(vhu, m);
	case VHU_GET_VRING_BASE:
		return on_get_vring_base(vhu, m);
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR:
		return on_vring_fd(vhu, m);
	case VHU_GET_QUEUE_NUM:
		return reply_u64(vhu, m, vhu->nqueues);
	case VHU_SET_VRING_ENABLE:
		return on_vring_enable(vhu, m);
	case VHU_SET_BACKEND_REQ_FD:
		close_fd(&vhu->backend_fd);
		vhu->backend_fd = vhu_msg_take_fd(m, 0);
		return 0;
	case VHU_GET_CONFIG:
		return on_get_config(vhu, m);
	case VHU_SET_CONFIG:
		return on_set_config(vhu, m);
	case VHU_GET_INFLIGHT_FD:
		return on_get_inflight(vhu, m);
	case VHU_SET_INFLIGHT_FD:
		return on_set_inflight(vhu, m);
	}
	return -EBADMSG; /* validation lets no other request through */
}

/* ------------------------------------------------------------------ */
/* Connection                                                          */
/* ------------------------------------------------------------------ */

static void conn_cb(void *opaque, int fd, uint32_t events);
static void listen_cb(void *opaque, int fd, uint32_t events);

/* The memory table as this process maps it, to the memory callback. */
static void report_memory(struct vback_vhu *vhu)
{
	struct vback_iovec r[VHU_MAX_REGIONS];
	unsigned int n = 0;

	if (!vhu->memory)
		return;
	for (unsigned int i = 0; i < vhu->mem.n && n < VHU_MAX_REGIONS; i++)
		if (vhu->mem.maps[i].host)
			r[n++] = (struct vback_iovec){ vhu->mem.maps[i].host,
						       vhu->mem.maps[i].size };
	vhu->memory(vhu->opaque, r, n);
}

static void disconnect(struct vback_vhu *vhu, const char *why)
{
	if (vhu->conn_fd < 0)
		return;
	LOG(vhu, why ? VBACK_LOG_ERR : VBACK_LOG_INFO,
	    "front-end disconnected%s%s", why ? ": " : "", why ? why : "");
	if (vhu->conn_watched)
		vback_loop_unwatch(vhu->loop, vhu->conn_fd);
	vhu->conn_watched = false;
	close_fd(&vhu->conn_fd);
	close_fd(&vhu->backend_fd);
	vhu->parked = false;
	vhu_msg_close_fds(&vhu->rx.msg);
	vhu_rx_reset(&vhu->rx);
	vhu->closing = true;
	emit(vhu, VBACK_VHU_DISCONNECTED);
	for (unsigned int i = 0; i < vhu->nqueues; i++) {
		/* Late completions must not signal a closed eventfd. */
		queue_drop_kick(vhu, &vhu->q[i]);
		queue_set_call(vhu, &vhu->q[i], -1);
		close_fd(&vhu->q[i].err_fd);
	}
	if (!halt_all(vhu))
		finish_disconnect(vhu);
}

/* No IO in flight any more: reset and wait for the next front-end. */
static void finish_disconnect(struct vback_vhu *vhu)
{
	for (unsigned int i = 0; i < vhu->nqueues; i++)
		queue_clear(vhu, &vhu->q[i]);
	vback_dev_reset(vhu->dev);
	if (vhu->mem.n) {
		vhu_memtab_unmap(&vhu->mem);
		report_memory(vhu);
	}
	/* Drained and reset: the records say nothing is owed. The front-end
	 * keeps the region; the next connection sends it again. */
	vhu_inflight_unmap(&vhu->inflight);
	vhu->features = 0;
	vhu->features_set = false;
	vhu->protocol_features = 0;
	vhu->closing = false;
	if (vhu->listen_fd >= 0 &&
	    vback_loop_watch(vhu->loop, vhu->listen_fd, VBACK_EV_IN, listen_cb,
			     vhu) < 0)
		LOG(vhu, VBACK_LOG_ERR, "cannot watch the listening socket");
	emit(vhu, VBACK_VHU_IDLE);
}

/* Handle the message in vhu->rx; false when the connection was dropped. */
static bool handle_message(struct vback_vhu *vhu)
{
	struct vhu_msg *m = &vhu->rx.msg;
	const char *why = NULL;
	int ret;

	if (vhu_msg_validate(m, vhu->nqueues, &why) < 0) {
		char line[128];

		(void)snprintf(line, sizeof(line), "bad %s (%u): %s",
			       vhu_request_name(m->hdr.request), m->hdr.request,
			       why);
		vhu->stats.bad_messages++;
		disconnect(vhu, line);
		return false;
	}
	LOG(vhu, VBACK_LOG_DEBUG, "%s", vhu_request_name(m->hdr.request));
	ret = dispatch(vhu, m);
	if (ret == PARKED) {
		vhu->parked = true;
		if (vhu->conn_watched)
			vback_loop_unwatch(vhu->loop, vhu->conn_fd);
		vhu->conn_watched = false;
		return true;
	}
	vhu_msg_close_fds(m);
	if (ret == -EBADMSG) {
		char line[128];

		(void)snprintf(line, sizeof(line), "bad %s",
			       vhu_request_name(m->hdr.request));
		vhu->stats.bad_messages++;
		disconnect(vhu, line);
		return false;
	}
	vhu->stats.messages++;
	if (ret < 0 && vhu->conn_fd >= 0)
		LOG(vhu, VBACK_LOG_WARN, "%s failed: %s",
		    vhu_request_name(m->hdr.request), vback_strerror(ret));
	if (!vhu_request_has_reply(m->hdr.request) &&
	    (m->hdr.flags & VHU_FLAG_NEED_REPLY) &&
	    has_protocol(vhu, VHU_PROTOCOL_F_REPLY_ACK)) {
		if (reply_u64(vhu, m, ret < 0 ? 1 : 0) < 0) {
			disconnect(vhu, "cannot send a reply");
			return false;
		}
	} else if (vhu_request_has_reply(m->hdr.request) && ret < 0) {
		disconnect(vhu, "cannot send a reply");
		return false;
	}
	vhu_rx_reset(&vhu->rx);
	return true;
}

static void conn_read(struct vback_vhu *vhu)
{
	while (vhu->conn_fd >= 0 && !vhu->parked) {
		const char *why = NULL;
		int ret = vhu_rx_step(vhu->conn_fd, &vhu->rx, &why);

		if (ret == 0)
			return;
		if (ret < 0) {
			if (ret == -EBADMSG)
				vhu->stats.bad_messages++;
			disconnect(vhu, ret == -ECONNRESET ? NULL
					: why		   ? why
					      : vback_strerror(ret));
			return;
		}
		if (!handle_message(vhu))
			return;
	}
}

static void conn_cb(void *opaque, int fd, uint32_t events)
{
	struct vback_vhu *vhu = opaque;

	(void)fd;
	(void)events;
	enter(vhu);
	conn_read(vhu);
	leave(vhu);
}

static void resume_parked(struct vback_vhu *vhu)
{
	vhu->parked = false;
	if (!handle_message(vhu) || vhu->parked)
		return;
	for (unsigned int i = 0; i < vhu->nqueues; i++)
		queue_try_start(vhu, &vhu->q[i]);
	if (vback_loop_watch(vhu->loop, vhu->conn_fd, VBACK_EV_IN, conn_cb,
			     vhu) < 0) {
		disconnect(vhu, "cannot watch the connection");
		return;
	}
	vhu->conn_watched = true;
	conn_read(vhu);
}

int vback_vhu_serve_fd(struct vback_vhu *vhu, int fd)
{
	int ret;

	if (fd < 0)
		return -EINVAL;
	if (vhu->conn_fd >= 0 || vhu->closing) {
		close(fd);
		return -EBUSY;
	}
	ret = vback_loop_watch(vhu->loop, fd, VBACK_EV_IN, conn_cb, vhu);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	enter(vhu);
	/* One front-end at a time: others wait in the backlog. */
	if (vhu->listen_fd >= 0)
		vback_loop_unwatch(vhu->loop, vhu->listen_fd);
	vhu->conn_fd = fd;
	vhu->conn_watched = true;
	vhu_rx_reset(&vhu->rx);
	vhu->stats.connections++;
	LOG(vhu, VBACK_LOG_INFO, "front-end connected");
	emit(vhu, VBACK_VHU_CONNECTED);
	leave(vhu);
	return 0;
}

static void listen_cb(void *opaque, int fd, uint32_t events)
{
	struct vback_vhu *vhu = opaque;
	int conn;

	(void)events;
	conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (conn < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			LOG(vhu, VBACK_LOG_WARN, "accept: %s",
			    vback_strerror(-errno));
		return;
	}
	vback_vhu_serve_fd(vhu, conn);
}

/* Does something accept connections at @sa? */
static bool socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool alive;

	if (fd < 0)
		return false;
	/* A unix connect never waits: it succeeds, or EAGAIN with a full
	 * backlog (alive too), or ECONNREFUSED with nobody listening. */
	alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
		errno == EAGAIN;
	close(fd);
	return alive;
}

static int listen_on(struct vback_vhu *vhu, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* Replace a stale socket, never another kind of file, and never a
	 * socket someone still listens on (another daemon serving it). */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (socket_alive(&sa))
			return -EADDRINUSE;
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = vback_loop_watch(vhu->loop, fd, VBACK_EV_IN, listen_cb, vhu);
	if (ret < 0) {
		close(fd);
		unlink(path);
		return ret;
	}
	vhu->listen_fd = fd;
	return 0;
}

int vback_vhu_create(const struct vback_vhu_options *opts,
		     struct vback_vhu **out)
{
	struct vback_dev_transport t;
	struct vback_vhu *vhu;
	unsigned int nq;
	int ret;

	if (!opts || !out || !opts->dev || !opts->loop || !opts->loop->ops)
		return -EINVAL;
	nq = vback_dev_num_queues(opts->dev);
	if (opts->max_queues && opts->max_queues < nq)
		nq = opts->max_queues;
	if (nq == 0 || nq > VBACK_VHU_MAX_QUEUES)
		return -EINVAL;
	vhu = calloc(1, sizeof(*vhu));
	if (!vhu)
		return -ENOMEM;
	vhu->dev = opts->dev;
	vhu->loop = opts->loop;
	vhu->log = opts->log;
	vhu->event = opts->event;
	vhu->opaque = opts->opaque;
	vhu->nqueues = nq;
	vhu->protocol_offered = PROTOCOL_FEATURES;
	if (opts->no_inflight)
		vhu->protocol_offered &=
			~(1ull << VHU_PROTOCOL_F_INFLIGHT_SHMFD);
	vhu->inflight.guard_slot = -1;
	vhu->listen_fd = vhu->conn_fd = vhu->backend_fd = -1;
	vback_work_init(&vhu->idle_work, idle_run, vhu);
	vback_work_init(&vhu->kick_work, kick_dead_run, vhu);
	vhu->memory = opts->memory;
	vhu->guard.loop = vhu->loop;
	vback_work_init(&vhu->guard.work, guard_run, vhu);
	(void)snprintf(vhu->name, sizeof(vhu->name), "%s",
		       opts->name ? opts->name : "vhost-user");
	for (unsigned int i = 0; i < VBACK_VHU_MAX_QUEUES; i++) {
		vhu->q[i].vhu = vhu;
		vhu->q[i].index = i;
		vhu->q[i].kick_fd = vhu->q[i].call_fd = vhu->q[i].err_fd = -1;
		vhu->q[i].new_fd = -1;
	}
	vhu_rx_reset(&vhu->rx);

	t = (struct vback_dev_transport){
		.ops = &dev_ops,
		.opaque = vhu,
		.gm = { .ops = &gm_ops, .opaque = vhu },
		.loop = vhu->loop,
	};
	ret = vback_dev_attach(vhu->dev, &t);
	if (ret < 0) {
		free(vhu);
		return ret;
	}
	if (opts->socket_path) {
		vhu->path = strdup(opts->socket_path);
		ret = vhu->path ? listen_on(vhu, vhu->path) : -ENOMEM;
		if (ret < 0) {
			vback_dev_detach(vhu->dev);
			free(vhu->path);
			free(vhu);
			return ret;
		}
		LOG(vhu, VBACK_LOG_INFO, "listening on %s (%u queue%s)",
		    vhu->path, nq, nq == 1 ? "" : "s");
	}
	*out = vhu;
	return 0;
}

void vback_vhu_destroy(struct vback_vhu *vhu)
{
	if (!vhu)
		return;
	vhu->event = NULL;
	if (vhu->gone)
		*vhu->gone = true; /* called from the event callback */
	disconnect(vhu, NULL);
	if (vhu->listen_fd >= 0) {
		vback_loop_unwatch(vhu->loop, vhu->listen_fd);
		close_fd(&vhu->listen_fd);
		if (vhu->path)
			unlink(vhu->path);
	}
	if (vhu->draining) {
		/* IO may still write into guest memory: keep it mapped. */
		LOG(vhu, VBACK_LOG_ERR,
		    "destroyed with IO in flight: guest memory left mapped");
		vhu_memtab_forget(&vhu->mem);
		/* Those requests stay owed in the records (the reset below
		 * must not empty them): the next process resubmits them.
		 * Their rings are reset on their threads, where the late
		 * completions come: orphans there, nothing touches a ring. */
		for (unsigned int i = 0; i < vhu->nqueues; i++)
			on_queue(vhu, &vhu->q[i], q_drop_record);
		vhu_inflight_forget(&vhu->inflight);
	} else if (vhu->mem.n) {
		vhu_memtab_unmap(&vhu->mem);
		report_memory(vhu);
	}
	vback_dev_detach(vhu->dev);
	for (unsigned int i = 0; i < vhu->nqueues; i++)
		queue_clear(vhu, &vhu->q[i]);
	vhu_memtab_unmap(&vhu->mem);
	vhu_inflight_unmap(&vhu->inflight);
	vback_loop_cancel(vhu->loop, &vhu->idle_work);
	vback_loop_cancel(vhu->loop, &vhu->kick_work);
	vback_loop_cancel(vhu->loop, &vhu->guard.work);
	free(vhu->path);
	free(vhu);
}

void vback_vhu_disconnect(struct vback_vhu *vhu)
{
	enter(vhu);
	disconnect(vhu, NULL);
	leave(vhu);
}

bool vback_vhu_connected(const struct vback_vhu *vhu)
{
	return vhu->conn_fd >= 0;
}

bool vback_vhu_draining(const struct vback_vhu *vhu)
{
	return vhu->closing;
}

void vback_vhu_get_stats(const struct vback_vhu *vhu,
			 struct vback_vhu_stats *stats)
{
	*stats = vhu->stats;
}

int vback_vhu_get_queue_stats(const struct vback_vhu *vhu, unsigned int q,
			      struct vback_vhu_queue_stats *stats)
{
	if (q >= vhu->nqueues || !stats)
		return -EINVAL;
	/* Their queue's thread counts them. */
	stats->kicks =
		__atomic_load_n(&vhu->q[q].stats.kicks, __ATOMIC_RELAXED);
	stats->calls =
		__atomic_load_n(&vhu->q[q].stats.calls, __ATOMIC_RELAXED);
	return 0;
}
