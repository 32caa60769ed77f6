/* SPDX-License-Identifier: MIT */
/*
 * Request processing, for every device type: kick -> pop -> handle ->
 * complete, with the batching, the back-pressure retries, the in-flight
 * accounting and the quiesce that come with it.
 *
 * One run of a queue pops and hands chains to the device type until the
 * ring is empty, the IO layer pushes back, or VDEV_RUN_BUDGET requests were
 * taken (then the queue posts itself to the loop and other work runs
 * first: a guest cannot hold the loop). What completes during the run is
 * published once at its end. What completes later (an IO completion from
 * the loop) is pushed at once and published by the queue's posted work,
 * which runs after the loop callback that delivered the completions: one
 * used-index update and at most one notification per batch.
 *
 * Threads. A queue may run on a loop of its own (vback_dev_queue_set_loop():
 * a thread per queue, or per group of queues). The queues that share a
 * loop form a group (struct vgroup), and everything a request touches is
 * its queue's or its group's: the ring, the slot contexts, the
 * back-pressure state, the orphans of a reset, the quiesce flag, the log
 * rate limit. No lock: the device's own thread (the transport's loop)
 * reaches a group only through its command work item, and hears back
 * through posted work and atomic counters (the drain of a quiesce, a sync
 * of the type's state), so a queue's state is touched by one thread only.
 * A device on one loop has one group, and behaves as before: commands to
 * a group on the device's own loop run at once.
 */
#include "device.h"
#include "ring.h"
#include "vb_os.h"

static void post_queue(struct vback_dev *dev, struct vq *vq)
{
	if (dev->attached)
		vback_loop_post(dev_vq_loop(dev, vq), &vq->work);
}

/* ------------------------------------------------------------------ */
/* Polling: the loop looks at the avail ring instead of waiting for a  */
/* kick (loop.h pollers, e.g. vback_epoll_loop_set_poll())             */
/* ------------------------------------------------------------------ */

/* May a run pop something now? Not while back-pressure or a busy view
 * holds the queue (a completion restarts it), nor while quiesced. */
static bool queue_can_run(const struct vq *vq)
{
	return !vq->running && !vq->blocked && !vq->mem_wait &&
	       !vq->group->quiesced;
}

static bool queue_poll(void *opaque)
{
	struct vq *vq = opaque;

	if (!queue_can_run(vq) || !vq_avail_pending(vq))
		return false;
	dev_queue_run(vq);
	return true;
}

static void queue_poll_begin(void *opaque)
{
	vq_poll_begin(opaque);
}

static bool queue_poll_end(void *opaque)
{
	struct vq *vq = opaque;

	return vq_poll_end(vq) && queue_can_run(vq);
}

void dev_queue_poller_add(struct vback_dev *dev, struct vq *vq)
{
	const struct vback_loop *loop = dev_vq_loop(dev, vq);

	if (!dev->attached || !vback_loop_has_pollers(loop))
		return;
	vback_poller_init(&vq->poller, queue_poll, queue_poll_begin,
			  queue_poll_end, vq);
	(void)vback_loop_poller_add(loop, &vq->poller);
}

static void queue_poller_remove(struct vback_dev *dev, struct vq *vq)
{
	if (!vq->poller.added_)
		return;
	/* The flag lives in guest memory: do not leave the driver told
	 * never to kick, whoever runs the ring next. */
	if (vq->polling)
		vq_poll_end(vq);
	if (dev->attached)
		vback_loop_poller_remove(dev_vq_loop(dev, vq), &vq->poller);
}

/* ------------------------------------------------------------------ */
/* Groups: the queues of one loop                                      */
/* ------------------------------------------------------------------ */

static void group_cmd_run(void *opaque);

void dev_groups_make(struct vback_dev *dev)
{
	struct vq_ctx *orphans = NULL;

	/* Contexts a reset left in flight (a detach with IO running, then a
	 * new attach) go with their queue to its new group. */
	for (unsigned int i = 0; i < dev->ngroups; i++) {
		struct vq_ctx *c = dev->groups[i].orphans;

		while (c) {
			struct vq_ctx *next = c->next_orphan;

			c->next_orphan = orphans;
			orphans = c;
			c = next;
		}
	}
	dev->ngroups = 0;
	for (unsigned int i = 0; i < dev->nq; i++) {
		struct vq *vq = &dev->vqs[i];
		const struct vback_loop *loop = dev_vq_loop(dev, vq);
		struct vgroup *g = NULL;

		for (unsigned int k = 0; k < dev->ngroups && !g; k++)
			if (dev->groups[k].loop == loop)
				g = &dev->groups[k];
		if (!g) {
			g = &dev->groups[dev->ngroups];
			memset(g, 0, sizeof(*g));
			g->index = dev->ngroups++;
			g->dev = dev;
			g->loop = loop;
			vback_work_init(&g->cmd_work, group_cmd_run, g);
		}
		/* Queues keep the order of their indexes in a group. */
		vq->next_in_group = NULL;
		if (!g->queues) {
			g->queues = vq;
		} else {
			struct vq *last = g->queues;

			while (last->next_in_group)
				last = last->next_in_group;
			last->next_in_group = vq;
		}
		vq->group = g;
	}
	while (orphans) {
		struct vq_ctx *next = orphans->next_orphan;
		struct vgroup *g = dev->vqs[orphans->q].group;

		orphans->next_orphan = g->orphans;
		g->orphans = orphans;
		orphans = next;
	}
}

void dev_groups_clear(struct vback_dev *dev)
{
	uint32_t gen;

	/* The groups stay as they are: orphans outlive a detach (their IO
	 * completes later, on their threads) and reach their group through
	 * their queue. A drain they would report is of a quiesce that is no
	 * more: a new generation with nothing to wait for drops it. */
	gen = ((__atomic_load_n(&dev->drain_state, __ATOMIC_RELAXED) >> 16) +
	       1) &
	      0xffffu;
	__atomic_store_n(&dev->drain_state, gen << 16, __ATOMIC_RELEASE);
}

/* Everything of @g in flight (its thread: exact). */
static unsigned int group_inflight(const struct vgroup *g)
{
	unsigned int n = 0;

	for (const struct vq *vq = g->queues; vq; vq = vq->next_in_group)
		n += vq->inflight_n;
	return n;
}

/* The device's thread: have @g act on @cmd on its own thread. A group on
 * the device's loop acts at once. */
static void group_post(struct vgroup *g, uint32_t cmd)
{
	struct vback_dev *dev = g->dev;

	if (g->loop == dev->t.loop) {
		__atomic_fetch_or(&g->cmds, cmd, __ATOMIC_RELAXED);
		__atomic_fetch_add(&dev->cmds_pending, 1, __ATOMIC_RELAXED);
		group_cmd_run(g);
		return;
	}
	/* Whoever sets the first bit posts; the run takes all bits. */
	if (__atomic_fetch_or(&g->cmds, cmd, __ATOMIC_ACQ_REL))
		return;
	__atomic_fetch_add(&dev->cmds_pending, 1, __ATOMIC_ACQ_REL);
	vback_loop_post(g->loop, &g->cmd_work);
}

/* A group drained for the quiesce of generation @gen: the last one to
 * report wakes the device's check. Stale reports (a resume came between)
 * are dropped. */
static void dev_drained(struct vback_dev *dev, uint32_t gen)
{
	uint32_t old = __atomic_load_n(&dev->drain_state, __ATOMIC_ACQUIRE);

	do {
		if ((old >> 16) != (gen & 0xffffu) || !(old & 0xffffu))
			return;
	} while (!__atomic_compare_exchange_n(&dev->drain_state, &old, old - 1,
					      false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	if (((old - 1) & 0xffffu) == 0)
		vback_loop_post(dev->t.loop, &dev->quiesce_work);
}

/* On @g's thread, after any completion and at a quiesce. */
static void group_check_drained(struct vgroup *g)
{
	if (!g->drain_wanted || group_inflight(g))
		return;
	g->drain_wanted = false;
	dev_drained(g->dev, g->drain_gen);
}

static void group_cmd_run(void *opaque)
{
	struct vgroup *g = opaque;
	struct vback_dev *dev = g->dev;
	uint32_t cmds = __atomic_exchange_n(&g->cmds, 0, __ATOMIC_ACQ_REL);

	if (cmds & (VGROUP_CMD_QUIESCE | VGROUP_CMD_RESUME)) {
		uint32_t want = __atomic_load_n(&g->want, __ATOMIC_ACQUIRE);

		g->quiesced = want & 1u;
		g->drain_wanted = g->quiesced;
		g->drain_gen = want >> 1;
		if (g->quiesced) {
			group_check_drained(g);
		} else {
			for (struct vq *vq = g->queues; vq;
			     vq = vq->next_in_group)
				if (vq->enabled)
					post_queue(dev, vq);
		}
	}
	if ((cmds & VGROUP_CMD_SYNC) && dev->type->sync) {
		dev->type->sync(dev, g);
		if (__atomic_sub_fetch(&dev->sync_pending, 1,
				       __ATOMIC_ACQ_REL) == 0) {
			/* The last: sync_done() on the device's thread,
			 * at once if this is it (dev_sync_groups()). */
			if (g->loop == dev->t.loop)
				dev->sync_done_now = true;
			else
				vback_loop_post(dev->t.loop, &dev->sync_work);
		}
	}
	/* Last: the device may be freed once nothing is pending. */
	__atomic_fetch_sub(&dev->cmds_pending, 1, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

void dev_queue_work(void *opaque)
{
	dev_queue_run(opaque);
}

static void orphan_done(struct vgroup *g, struct vq_elem *e)
{
	struct vq_ctx *ctx = e->ctx;

	if (!vq_complete_orphan(e))
		return;
	for (struct vq_ctx **p = &g->orphans; *p; p = &(*p)->next_orphan) {
		if (*p == ctx) {
			*p = ctx->next_orphan;
			break;
		}
	}
	vq_ctx_free(ctx);
}

static void block(struct vback_dev *dev, struct vq *vq, struct vq_elem *e)
{
	(void)dev;
	if (e->ctx != vq->ctx) {
		/* Its queue was reset under the type's feet: drop it. */
		orphan_done(vq->group, e);
		return;
	}
	vq->blocked = e;
	vq->group->nblocked++;
}

static struct vq_elem *unblock(struct vq *vq)
{
	struct vq_elem *e = vq->blocked;

	vq->blocked = NULL;
	vq->group->nblocked--;
	return e;
}

void dev_vq_reset(struct vback_dev *dev, struct vq *vq)
{
	struct vgroup *g = vq->group;
	struct vq_ctx *orphan;

	queue_poller_remove(dev, vq);
	/* Nothing of the old ring may run later (the queue's thread: its
	 * loop's cancel). */
	if (dev->attached)
		vback_loop_cancel(dev_vq_loop(dev, vq), &vq->work);
	if (vq->blocked)
		g->nblocked--; /* vq_reset() releases it */
	if (vq->mem_wait)
		g->nblocked--;
	vq->mem_wait = false;
	orphan = vq_reset(vq);
	if (orphan) {
		orphan->next_orphan = g->orphans;
		g->orphans = orphan;
	}
}

static void fault(struct vback_dev *dev, struct vq *vq,
		  const struct vq_fault *f)
{
	if (f->head >= 0)
		dev_fail(dev, vq, "queue %u: head %d: %s", vq->index, f->head,
			 f->why);
	else
		dev_fail(dev, vq, "queue %u: %s", vq->index, f->why);
}

/* Make what was pushed visible, notify once, report a drained stop. */
static void publish(struct vback_dev *dev, struct vq *vq)
{
	if (vq_flush(vq) && dev->attached)
		dev->t.ops->notify_queue(dev->t.opaque, vq->index);
	if (vq->stopped && !vq->idle_reported && vq->ctx &&
	    !vq->ctx->inflight) {
		vq->idle_reported = true;
		if (dev->attached && dev->t.ops->queue_idle)
			dev->t.ops->queue_idle(dev->t.opaque, vq->index);
	}
}

/* Requests of @g the IO layer holds: in flight, less adopted ones that
 * wait to be submitted again. On @g's thread. */
static unsigned int group_submitted(const struct vgroup *g)
{
	unsigned int n = group_inflight(g);

	for (const struct vq *vq = g->queues; vq; vq = vq->next_in_group)
		n -= vq_resubmit_pending(vq);
	return n;
}

void dev_queue_run(struct vq *vq)
{
	struct vback_dev *dev = vq->dev;
	struct vgroup *g = vq->group;
	unsigned int budget = VDEV_RUN_BUDGET;

	if (!vq->enabled)
		return;
	if (vq->running) {
		vq->rerun = true; /* the running loop goes round once more */
		return;
	}
	vq->running = true;
	do {
		unsigned int taken = 0;

		vq->rerun = false;
		if (dev->batch_clock && dev->attached)
			vq->batch_ns = vback_loop_now(dev->t.loop);
		if (vq->mem_wait) {
			vq->mem_wait = false;
			g->nblocked--;
		}
		if (vq->blocked) {
			struct vq_elem *e = unblock(vq);

			taken++;
			if (dev->type->retry(dev, e) == VDEV_BLOCKED)
				block(dev, vq, e);
		}
		/* Requests adopted from an in-flight record were taken
		 * before any stop or quiesce: they go first, regardless. */
		while (!vq->blocked && vq->enabled &&
		       (!g->quiesced || vq_resubmit_pending(vq))) {
			bool again = vq_resubmit_pending(vq) > 0;
			struct vq_elem *e;
			struct vq_fault f;
			int r;

			if (!budget)
				break;
			r = again ? vq_resubmit(vq, &e, &f, true)
				  : vq_pop(vq, &e, &f, true);
			if (r == -EAGAIN && !group_submitted(g))
				/* Nothing of ours will free guest memory: the
				 * request gets an error instead of a wait. */
				r = again ? vq_resubmit(vq, &e, &f, false)
					  : vq_pop(vq, &e, &f, false);
			if (r == -EAGAIN) {
				vq->mem_wait = true;
				g->nblocked++;
				break;
			}
			if (r < 0) {
				fault(dev, vq, &f);
				break;
			}
			if (r == 0) {
				/* While the loop polls the ring, nobody
				 * waits for a kick: no avail_event. */
				if (vq->polling || !vq_rearm(vq))
					break;
				continue;
			}
			budget--;
			taken++;
			if (dev->type->handle(dev, e) == VDEV_BLOCKED)
				block(dev, vq, e);
		}
		/* One batch: let the IO layer start (or finish) it all. */
		if (taken && dev->type->batch_end)
			dev->type->batch_end(dev, vq->index);
	} while (vq->rerun && vq->enabled && budget);
	vq->running = false;
	publish(dev, vq);
	/* Budget spent: the rest waits its turn behind other work. */
	if (!budget && vq->enabled)
		post_queue(dev, vq);
}

void dev_run_all(struct vback_dev *dev)
{
	/* A queue apart is its thread's: its run looks at whether it is
	 * enabled. */
	for (unsigned int i = 0; i < dev->nq; i++)
		if (dev_vq_apart(dev, &dev->vqs[i]) || dev->vqs[i].enabled)
			post_queue(dev, &dev->vqs[i]);
}

/* After any completion: blocked queues of the group may go on, a
 * quiesce may end. On the group's thread. */
static void completed(struct vgroup *g)
{
	if (g->nblocked) {
		for (struct vq *vq = g->queues; vq; vq = vq->next_in_group) {
			if (!vq->blocked && !vq->mem_wait)
				continue;
			if (vq->running)
				vq->rerun = true;
			else
				post_queue(g->dev, vq);
		}
	}
	group_check_drained(g);
}

void dev_complete(struct vq_elem *e, uint32_t used_len)
{
	struct vback_dev *dev = e->ctx->dev;
	struct vq *vq = &dev->vqs[e->ctx->q];

	if (e->ctx->orphaned) {
		/* The queue was reset: no ring, no guest memory. */
		orphan_done(vq->group, e);
	} else {
		vq_push(vq, e, used_len);
		if (!vq->running)
			post_queue(dev, vq);
	}
	completed(vq->group);
}

unsigned int vback_dev_inflight(const struct vback_dev *dev)
{
	unsigned int n = dev->type_inflight;

	for (unsigned int i = 0; i < dev->nq; i++)
		n += vq_count_load(&dev->vqs[i].inflight_n);
	return n;
}

/* ------------------------------------------------------------------ */
/* The type's state the data path reads                                */
/* ------------------------------------------------------------------ */

static void sync_done_work(void *opaque)
{
	struct vback_dev *dev = opaque;

	if (dev->type->sync_done)
		dev->type->sync_done(dev);
}

void dev_sync_groups(struct vback_dev *dev)
{
	if (!dev->type->sync)
		return;
	if (!dev->attached || !dev->ngroups) {
		/* Nothing runs elsewhere: the type syncs its one copy. */
		dev->type->sync(dev, NULL);
		if (dev->type->sync_done)
			dev->type->sync_done(dev);
		return;
	}
	vback_work_init(&dev->sync_work, sync_done_work, dev);
	__atomic_store_n(&dev->sync_pending, dev->ngroups, __ATOMIC_RELEASE);
	dev->sync_done_now = false;
	for (unsigned int i = 0; i < dev->ngroups; i++)
		group_post(&dev->groups[i], VGROUP_CMD_SYNC);
	/* The device's own group synced last (or alone): no detour. */
	if (dev->sync_done_now) {
		dev->sync_done_now = false;
		sync_done_work(dev);
	}
}

/* ------------------------------------------------------------------ */
/* Quiesce                                                             */
/* ------------------------------------------------------------------ */

static void quiesce_check(void *opaque)
{
	struct vback_dev *dev = opaque;

	if (!dev->quiescing || dev->flushing || dev->type_inflight ||
	    (__atomic_load_n(&dev->drain_state, __ATOMIC_ACQUIRE) & 0xffffu))
		return; /* the last group to drain posts us again */
	dev->flushing = true;
	if (dev->type->flush)
		dev->type->flush(dev);
	else
		dev_quiesce_done(dev, 0);
}

void dev_quiesce_done(struct vback_dev *dev, int result)
{
	vback_dev_quiesced_fn fn = dev->quiesced_fn;

	if (!dev->flushing)
		return; /* resumed meanwhile: nobody waits */
	dev->flushing = false;
	dev->quiescing = false;
	dev->quiesced_fn = NULL;
	if (fn)
		fn(dev->quiesced_opaque, result);
}

/* Tell every group to stop taking requests (or take them again). */
static void groups_want(struct vback_dev *dev, bool quiesced)
{
	uint32_t gen =
		(__atomic_load_n(&dev->drain_state, __ATOMIC_RELAXED) >> 16) +
		1;

	gen &= 0xffffu;
	__atomic_store_n(&dev->drain_state,
			 gen << 16 | (quiesced ? dev->ngroups : 0u),
			 __ATOMIC_RELEASE);
	for (unsigned int i = 0; i < dev->ngroups; i++) {
		struct vgroup *g = &dev->groups[i];

		/* Read by the group's command, after the post. */
		__atomic_store_n(&g->want, gen << 1 | (quiesced ? 1u : 0u),
				 __ATOMIC_RELEASE);
	}
	for (unsigned int i = 0; i < dev->ngroups; i++)
		group_post(&dev->groups[i],
			   quiesced ? VGROUP_CMD_QUIESCE : VGROUP_CMD_RESUME);
}

int vback_dev_quiesce(struct vback_dev *dev, vback_dev_quiesced_fn done,
		      void *opaque)
{
	if (!dev->attached)
		return -ENODEV;
	if (dev->quiescing)
		return -EBUSY;
	dev->quiesced = true;
	dev->quiescing = true;
	dev->flushing = false;
	dev->quiesced_fn = done;
	dev->quiesced_opaque = opaque;
	vback_work_init(&dev->quiesce_work, quiesce_check, dev);
	groups_want(dev, true);
	/* Also when every group drained at once: check from the loop. */
	vback_loop_post(dev->t.loop, &dev->quiesce_work);
	return 0;
}

void vback_dev_resume(struct vback_dev *dev)
{
	dev->quiesced = false;
	dev->quiescing = false;
	dev->flushing = false;
	dev->quiesced_fn = NULL;
	if (!dev->attached)
		return;
	vback_loop_cancel(dev->t.loop, &dev->quiesce_work);
	groups_want(dev, false);
}

void dev_cancel_work(struct vback_dev *dev)
{
	if (!dev->attached)
		return;
	/* Queues apart cancelled theirs when they were reset, on their
	 * threads; these are the device loop's. */
	for (unsigned int i = 0; i < dev->nq; i++)
		if (!dev_vq_apart(dev, &dev->vqs[i]))
			vback_loop_cancel(dev->t.loop, &dev->vqs[i].work);
	vback_loop_cancel(dev->t.loop, &dev->quiesce_work);
	vback_loop_cancel(dev->t.loop, &dev->sync_work);
	vback_loop_cancel(dev->t.loop, &dev->fail_work);
	/* A quiesce needs the loop: abandoned (see vback_dev_quiesce()). */
	dev->quiescing = false;
	dev->flushing = false;
	dev->quiesced_fn = NULL;
}
