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
 */
#include "device.h"
#include "ring.h"
#include "vb_os.h"

static void post_queue(struct vback_dev *dev, struct vq *vq)
{
	if (dev->attached)
		vback_loop_post(dev->t.loop, &vq->work);
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
	       !vq->dev->quiesced;
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
	if (!dev->attached || !vback_loop_has_pollers(dev->t.loop))
		return;
	vback_poller_init(&vq->poller, queue_poll, queue_poll_begin,
			  queue_poll_end, vq);
	(void)vback_loop_poller_add(dev->t.loop, &vq->poller);
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
		vback_loop_poller_remove(dev->t.loop, &vq->poller);
}

void dev_queue_work(void *opaque)
{
	dev_queue_run(opaque);
}

static void orphan_done(struct vback_dev *dev, struct vq_elem *e)
{
	struct vq_ctx *ctx = e->ctx;

	if (!vq_complete_orphan(e))
		return;
	for (struct vq_ctx **p = &dev->orphans; *p; p = &(*p)->next_orphan) {
		if (*p == ctx) {
			*p = ctx->next_orphan;
			break;
		}
	}
	vq_ctx_free(ctx);
}

static void block(struct vback_dev *dev, struct vq *vq, struct vq_elem *e)
{
	if (e->ctx != vq->ctx) {
		/* Its queue was reset under the type's feet: drop it. */
		orphan_done(dev, e);
		return;
	}
	vq->blocked = e;
	dev->nblocked++;
}

static struct vq_elem *unblock(struct vback_dev *dev, struct vq *vq)
{
	struct vq_elem *e = vq->blocked;

	vq->blocked = NULL;
	dev->nblocked--;
	return e;
}

void dev_vq_reset(struct vback_dev *dev, struct vq *vq)
{
	struct vq_ctx *orphan;

	queue_poller_remove(dev, vq);
	if (vq->blocked)
		dev->nblocked--; /* vq_reset() releases it */
	if (vq->mem_wait)
		dev->nblocked--;
	vq->mem_wait = false;
	orphan = vq_reset(vq);
	if (orphan) {
		orphan->next_orphan = dev->orphans;
		dev->orphans = orphan;
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

/* Requests the IO layer holds: in flight, less adopted ones that wait
 * to be submitted again. */
static unsigned int dev_submitted(const struct vback_dev *dev)
{
	unsigned int n = vback_dev_inflight(dev);

	for (unsigned int i = 0; i < dev->nq; i++)
		n -= vq_resubmit_pending(&dev->vqs[i]);
	return n;
}

void dev_queue_run(struct vq *vq)
{
	struct vback_dev *dev = vq->dev;
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
		if (vq->mem_wait) {
			vq->mem_wait = false;
			dev->nblocked--;
		}
		if (vq->blocked) {
			struct vq_elem *e = unblock(dev, vq);

			taken++;
			if (dev->type->retry(dev, e) == VDEV_BLOCKED)
				block(dev, vq, e);
		}
		/* Requests adopted from an in-flight record were taken
		 * before any stop or quiesce: they go first, regardless. */
		while (!vq->blocked && vq->enabled &&
		       (!dev->quiesced || vq_resubmit_pending(vq))) {
			bool again = vq_resubmit_pending(vq) > 0;
			struct vq_elem *e;
			struct vq_fault f;
			int r;

			if (!budget)
				break;
			r = again ? vq_resubmit(vq, &e, &f, true)
				  : vq_pop(vq, &e, &f, true);
			if (r == -EAGAIN && !dev_submitted(dev))
				/* Nothing of ours will free guest memory: the
				 * request gets an error instead of a wait. */
				r = again ? vq_resubmit(vq, &e, &f, false)
					  : vq_pop(vq, &e, &f, false);
			if (r == -EAGAIN) {
				vq->mem_wait = true;
				dev->nblocked++;
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
	for (unsigned int i = 0; i < dev->nq; i++)
		if (dev->vqs[i].enabled)
			post_queue(dev, &dev->vqs[i]);
}

/* After any completion: blocked queues may go on, a quiesce may end. */
static void completed(struct vback_dev *dev)
{
	if (dev->nblocked) {
		for (unsigned int i = 0; i < dev->nq; i++) {
			struct vq *vq = &dev->vqs[i];

			if (!vq->blocked && !vq->mem_wait)
				continue;
			if (vq->running)
				vq->rerun = true;
			else
				post_queue(dev, vq);
		}
	}
	if (dev->quiescing && !dev->flushing && dev->attached)
		vback_loop_post(dev->t.loop, &dev->quiesce_work);
}

void dev_complete(struct vq_elem *e, uint32_t used_len)
{
	struct vback_dev *dev = e->ctx->dev;

	if (e->ctx->orphaned) {
		/* The queue was reset: no ring, no guest memory. */
		orphan_done(dev, e);
	} else {
		struct vq *vq = &dev->vqs[e->ctx->q];

		vq_push(vq, e, used_len);
		if (!vq->running)
			post_queue(dev, vq);
	}
	completed(dev);
}

unsigned int vback_dev_inflight(const struct vback_dev *dev)
{
	unsigned int n = dev->type_inflight;

	for (unsigned int i = 0; i < dev->nq; i++)
		if (dev->vqs[i].ctx)
			n += dev->vqs[i].ctx->inflight;
	for (const struct vq_ctx *c = dev->orphans; c; c = c->next_orphan)
		n += c->inflight;
	return n;
}

/* ------------------------------------------------------------------ */
/* Quiesce                                                             */
/* ------------------------------------------------------------------ */

static void quiesce_check(void *opaque)
{
	struct vback_dev *dev = opaque;

	if (!dev->quiescing || dev->flushing || vback_dev_inflight(dev))
		return; /* the last completion posts us again */
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
	vback_loop_post(dev->t.loop, &dev->quiesce_work);
	return 0;
}

void vback_dev_resume(struct vback_dev *dev)
{
	dev->quiesced = false;
	dev->quiescing = false;
	dev->flushing = false;
	dev->quiesced_fn = NULL;
	if (dev->attached)
		vback_loop_cancel(dev->t.loop, &dev->quiesce_work);
	dev_run_all(dev);
}

void dev_cancel_work(struct vback_dev *dev)
{
	if (!dev->attached)
		return;
	for (unsigned int i = 0; i < dev->nq; i++)
		vback_loop_cancel(dev->t.loop, &dev->vqs[i].work);
	vback_loop_cancel(dev->t.loop, &dev->quiesce_work);
	/* A quiesce needs the loop: abandoned (see vback_dev_quiesce()). */
	dev->quiescing = false;
	dev->flushing = false;
	dev->quiesced_fn = NULL;
}
