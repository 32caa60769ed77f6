/* SPDX-License-Identifier: MIT */
/*
 * The RBD engine: a Ceph RBD image through librbd's asynchronous calls
 * (rbd_aio_readv/writev/flush/discard/write_zeroes). Completions are
 * created without a callback, so nothing of ours runs on librbd's
 * threads: librbd queues them on the image and writes an eventfd
 * (rbd_set_image_notification), which the loop watches; the loop thread
 * collects them with rbd_poll_io_events() and calls done().
 *
 * Opening is blocking, and documented as such: rados_connect() and
 * rbd_open() are synchronous in librados/librbd. They run in
 * vback_io_open(), at setup, bounded by the timeout (client_mount_timeout
 * and the monitor op timeout). The same timeout is librados's OSD op
 * timeout, so a request to a cluster that stopped answering comes back
 * with -ETIMEDOUT (reported as -EIO) instead of hanging; librados itself
 * reconnects to monitors and OSDs. Requests cannot be taken back from
 * librbd (it writes into the buffers until it completes them), so no
 * timer of ours completes them early.
 *
 * Per request we keep a preallocated slot; librbd allocates its own
 * completion object (rbd_aio_create_completion()), as its API requires.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vback/io.h>

#include "config.h"
#include "io_internal.h"

#if VBACK_HAVE_RBD
#include "rbd_lib.h"
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* librbd takes struct iovec: ours has the same layout. */
_Static_assert(sizeof(struct vback_iovec) == sizeof(struct iovec),
	       "vback_iovec must match struct iovec");
_Static_assert(offsetof(struct vback_iovec, iov_base) ==
			       offsetof(struct iovec, iov_base) &&
		       offsetof(struct vback_iovec, iov_len) ==
			       offsetof(struct iovec, iov_len),
	       "vback_iovec must match struct iovec");

/* Rounds of collecting per loop callback before yielding to other fds. */
#define RBD_ROUNDS 16
/* Largest discard or zeroing one request carries. */
#define RBD_MAX_RANGE (1ull << 30)
#define RBD_NAME_LEN  160

struct rbd_slot {
	struct vback_io_req *req;
	uint64_t start_ns;     /* submit(), for the watchdog */
	rbd_completion_t comp; /* NULL: finished without librbd */
	struct rbd_slot *next; /* free list or local list */
	bool busy;
};

struct rbd_io {
	rados_t cluster;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	bool connected, have_ioctx, have_image;
	const struct vback_loop *loop;
	const struct vback_log *log;
	char name[RBD_NAME_LEN];
	int efd;
	bool watched; /* attached: the efd is on the loop */
	struct vback_io_caps caps;
	unsigned int depth;
	unsigned int inflight; /* accepted, done() not yet called */
	struct rbd_slot *slots, *free;
	/* Accepted requests with nothing to do (empty transfers): they
	 * complete from the loop, never inside submit(). */
	struct rbd_slot *local_head, *local_tail;
	rbd_completion_t *events; /* depth entries for rbd_poll_io_events */
	unsigned int timeout_ms;
	bool stalled; /* requests are timing out: logged once */
	/* Requests librbd keeps past the timeout without sending them (a
	 * full cluster blocks writes) are not bounded by the op timeout:
	 * a periodic timer says so, once, while any is in flight. */
	struct vback_timer watchdog;
	bool stuck_logged;
	bool closing;
};

static void slot_release(struct rbd_io *r, struct rbd_slot *s)
{
	s->busy = false;
	s->req = NULL;
	s->comp = NULL;
	s->next = r->free;
	r->free = s;
}

/* A librbd return value as the request's result. */
static int result_of(const struct vback_io_req *req, ssize_t ret)
{
	if (ret == -ETIMEDOUT)
		return -EIO; /* the cluster did not answer in time */
	if (ret < 0)
		return (int)ret;
	/* A read that came back short read past a shrunk image. */
	if (req->op == VBACK_IO_READ &&
	    (uint64_t)ret != req->backend[IO_SCR_TOTAL])
		return -EIO;
	return 0;
}

/* One log line per change: the cluster stops answering, answers again. */
static void note_health(struct rbd_io *r, ssize_t ret)
{
	if (ret == -ETIMEDOUT && !r->stalled) {
		r->stalled = true;
		vback_logf(r->log, VBACK_LOG_WARN,
			   "rbd: %s: the cluster did not answer within %u ms; "
			   "requests fail with EIO until it does",
			   r->name, r->timeout_ms);
	} else if (ret >= 0 && r->stalled) {
		r->stalled = false;
		vback_logf(r->log, VBACK_LOG_INFO,
			   "rbd: %s: the cluster answers again", r->name);
	}
}

static void finish(struct rbd_io *r, struct rbd_slot *s, int result)
{
	struct vback_io_req *req = s->req;

	slot_release(r, s);
	r->inflight--;
	if (!r->inflight && !r->closing)
		vback_timer_cancel(r->loop, &r->watchdog);
	req->done(req, result);
}

static void on_watchdog(void *opaque)
{
	struct rbd_io *r = opaque;
	uint64_t now = vback_loop_now(r->loop);
	/* Twice the op timeout: past it, librados did not bound them. */
	uint64_t limit = 2 * (uint64_t)r->timeout_ms * 1000000u;
	unsigned int stuck = 0;

	for (unsigned int i = 0; i < r->depth; i++)
		if (r->slots[i].busy && r->slots[i].comp &&
		    now - r->slots[i].start_ns > limit)
			stuck++;
	if (stuck && !r->stuck_logged)
		vback_logf(r->log, VBACK_LOG_WARN,
			   "rbd: %s: %u request%s unanswered for more than "
			   "%u ms, held in librbd beyond the op timeout (a "
			   "full cluster? a lock held elsewhere?); they "
			   "cannot be failed before librbd lets go of their "
			   "buffers",
			   r->name, stuck, stuck == 1 ? "" : "s",
			   2 * r->timeout_ms);
	else if (!stuck && r->stuck_logged)
		vback_logf(r->log, VBACK_LOG_INFO,
			   "rbd: %s: no request is stuck any more", r->name);
	r->stuck_logged = stuck != 0;
}

/* Hand out what librbd finished; true if anything was. */
static bool collect(struct rbd_io *r)
{
	struct rbd_slot *s;
	bool any = false;
	int n;

	n = rbd_poll_io_events(r->image, r->events, (int)r->depth);
	for (int i = 0; i < n; i++) {
		rbd_completion_t c = r->events[i];
		ssize_t ret = rbd_aio_get_return_value(c);

		s = rbd_aio_get_arg(c);
		rbd_aio_release(c);
		s->comp = NULL;
		note_health(r, ret);
		finish(r, s, result_of(s->req, ret));
		any = true;
	}
	while ((s = r->local_head)) {
		r->local_head = s->next;
		if (!r->local_head)
			r->local_tail = NULL;
		finish(r, s, 0);
		any = true;
	}
	return any;
}

static void rbd_on_event(void *opaque, int fd, uint32_t events)
{
	struct rbd_io *r = opaque;
	int round;

	(void)events;
	io_eventfd_drain(fd);
	for (round = 0; round < RBD_ROUNDS; round++)
		if (!collect(r))
			break;
	/* Callbacks that keep resubmitting must not starve other fds. */
	if (round == RBD_ROUNDS)
		io_eventfd_signal(r->efd);
}

static int start(struct rbd_io *r, struct rbd_slot *s)
{
	const struct vback_io_req *req = s->req;
	const struct iovec *iov = (const struct iovec *)(const void *)req->iov;
	int ret;

	ret = rbd_aio_create_completion(s, NULL, &s->comp);
	if (ret < 0)
		return ret;
	switch (req->op) {
	case VBACK_IO_READ:
		ret = rbd_aio_readv(r->image, iov, (int)req->iovcnt,
				    req->offset, s->comp);
		break;
	case VBACK_IO_WRITE:
		ret = rbd_aio_writev(r->image, iov, (int)req->iovcnt,
				     req->offset, s->comp);
		break;
	case VBACK_IO_FLUSH:
		ret = rbd_aio_flush(r->image, s->comp);
		break;
	case VBACK_IO_DISCARD:
		ret = rbd_aio_discard(r->image, req->offset, req->len, s->comp);
		break;
	case VBACK_IO_WRITE_ZEROES:
		/* Without UNMAP the range must stay allocated. */
		ret = rbd_aio_write_zeroes(
			r->image, req->offset, (size_t)req->len, s->comp,
			req->flags & VBACK_IO_F_UNMAP
				? 0
				: RBD_WRITE_ZEROES_FLAG_THICK_PROVISION,
			0);
		break;
	default:
		ret = -EOPNOTSUPP; /* never accepted: no caps bit */
		break;
	}
	if (ret < 0) {
		rbd_aio_release(s->comp);
		s->comp = NULL;
	}
	return ret;
}

/* Nothing to ask the cluster: empty transfers and ranges. */
static bool is_empty(const struct vback_io_req *req)
{
	switch (req->op) {
	case VBACK_IO_READ:
	case VBACK_IO_WRITE:
		return req->backend[IO_SCR_TOTAL] == 0;
	case VBACK_IO_FLUSH:
		return false;
	default:
		return req->len == 0;
	}
}

static int rbd_submit(void *opaque, struct vback_io_req *req)
{
	struct rbd_io *r = opaque;
	struct rbd_slot *s;
	int ret;

	if (r->closing)
		return -ESHUTDOWN;
	ret = io_req_check(&r->caps, req);
	if (ret)
		return ret;
	s = r->free;
	if (!s)
		return -EAGAIN; /* depth requests are in flight */
	r->free = s->next;
	s->next = NULL;
	s->busy = true;
	s->req = req;
	s->start_ns = vback_loop_now(r->loop);
	if (is_empty(req)) {
		if (r->local_tail)
			r->local_tail->next = s;
		else
			r->local_head = s;
		r->local_tail = s;
		io_eventfd_signal(r->efd);
	} else {
		ret = start(r, s);
		if (ret < 0) {
			/* Refused before librbd took it: done() is not
			 * called, the caller sees the error. */
			slot_release(r, s);
			return ret;
		}
	}
	if (!r->inflight++)
		vback_timer_arm(r->loop, &r->watchdog,
				(uint64_t)r->timeout_ms * 1000000u,
				(uint64_t)r->timeout_ms * 1000000u);
	return 0;
}

static int rbd_get_caps_op(void *opaque, struct vback_io_caps *caps)
{
	const struct rbd_io *r = opaque;

	*caps = r->caps;
	return 0;
}

/* rbd_get_size() may refresh the image header first (a blocking round
 * trip, bounded by the op timeout); it runs on SIGHUP, not per request. */
static int rbd_refresh_size(void *opaque, uint64_t *size_bytes)
{
	struct rbd_io *r = opaque;
	uint64_t size;
	int ret = rbd_get_size(r->image, &size);

	if (ret < 0)
		return ret;
	size -= size % r->caps.logical_block_size;
	if (size_bytes)
		*size_bytes = size;
	if (size == r->caps.size_bytes)
		return 0;
	r->caps.size_bytes = size;
	return 1;
}

static void rbd_free(struct rbd_io *r)
{
	/* Armed only once attached (watched): a detached instance may be
	 * freed on another thread than the loop's. */
	if (r->watchdog.fn && r->watched)
		vback_timer_cancel(r->loop, &r->watchdog);
	if (r->watched)
		vback_loop_unwatch(r->loop, r->efd);
	if (r->have_image)
		rbd_close(r->image);
	if (r->have_ioctx)
		rados_ioctx_destroy(r->ioctx);
	if (r->cluster)
		rados_shutdown(r->cluster);
	if (r->efd >= 0)
		close(r->efd);
	free(r->events);
	free(r->slots);
	free(r);
}

/* The loop is ours from here on: completions come through the eventfd. */
static int rbd_attach(struct rbd_io *r)
{
	int ret;

	if (r->watched)
		return -EINVAL; /* attached already */
	ret = vback_loop_watch(r->loop, r->efd, VBACK_EV_IN, rbd_on_event, r);
	if (ret)
		return ret;
	r->watched = true;
	return 0;
}

static int rbd_attach_op(void *opaque)
{
	return rbd_attach(opaque);
}

static void rbd_close_io(void *opaque)
{
	struct rbd_io *r = opaque;
	const struct timespec ms = { 0, 1000000 };

	r->closing = true;
	/* librbd owns the buffers until it completes: wait for each (the
	 * op timeout bounds it), then collect. */
	for (unsigned int i = 0; i < r->depth; i++)
		if (r->slots[i].busy && r->slots[i].comp)
			rbd_aio_wait_for_complete(r->slots[i].comp);
	/* The completion reaches the image's queue as it is marked done:
	 * give it a moment. */
	for (int tries = 0; r->inflight && tries < 5000; tries++)
		if (!collect(r))
			nanosleep(&ms, NULL);
	if (r->inflight)
		vback_logf(r->log, VBACK_LOG_ERR,
			   "rbd: %s: %u request(s) never completed", r->name,
			   r->inflight);
	rbd_free(r);
}

const struct vback_io_ops io_rbd_ops = {
	.submit = rbd_submit,
	.get_caps = rbd_get_caps_op,
	.refresh_size = rbd_refresh_size,
	.close = rbd_close_io,
	.attach = rbd_attach_op,
};

/* Connect to the cluster and open the image. One line says why not. */
static int rbd_connect(struct rbd_io *r, const struct vback_io_options *o,
		       const struct io_rbd_spec *spec, unsigned int timeout_ms)
{
	const char *conf = spec->conf[0] ? spec->conf : o->ceph_conf;
	const char *id = spec->id[0] ? spec->id : o->ceph_id;
	char secs[16];
	int ret;

	ret = rados_create(&r->cluster, id);
	if (ret < 0) {
		r->cluster = NULL;
		vback_logf(r->log, VBACK_LOG_ERR, "io: %s: rados_create: %s",
			   r->name, vback_strerror(ret));
		return ret;
	}
	/* CEPH_CONF/CEPH_ARGS as the ceph tools read them, then the file. */
	rados_conf_parse_env(r->cluster, NULL);
	ret = rados_conf_read_file(r->cluster, conf);
	if (ret < 0) {
		vback_logf(r->log, VBACK_LOG_ERR,
			   "io: %s: cannot read the Ceph configuration %s: %s",
			   r->name, conf ? conf : "(default locations)",
			   vback_strerror(ret));
		return ret;
	}
	/* Whole seconds; librados takes nothing finer. */
	snprintf(secs, sizeof(secs), "%u", (timeout_ms + 999) / 1000);
	if (rados_conf_set(r->cluster, "client_mount_timeout", secs) < 0 ||
	    rados_conf_set(r->cluster, "rados_mon_op_timeout", secs) < 0 ||
	    rados_conf_set(r->cluster, "rados_osd_op_timeout", secs) < 0)
		vback_logf(r->log, VBACK_LOG_WARN,
			   "io: %s: cannot set the librados timeouts", r->name);
	ret = rados_connect(r->cluster);
	if (ret < 0) {
		vback_logf(r->log, VBACK_LOG_ERR,
			   "io: %s: cannot connect to the Ceph cluster: %s",
			   r->name, vback_strerror(ret));
		return ret;
	}
	r->connected = true;
	ret = rados_ioctx_create(r->cluster, spec->pool, &r->ioctx);
	if (ret < 0) {
		vback_logf(r->log, VBACK_LOG_ERR, "io: %s: pool %s: %s",
			   r->name, spec->pool, vback_strerror(ret));
		return ret;
	}
	r->have_ioctx = true;
	if (spec->ns[0])
		rados_ioctx_set_namespace(r->ioctx, spec->ns);
	/* Snapshots are read-only; read-only opens take no lock and set no
	 * watch. */
	if (o->read_only || spec->snap[0])
		ret = rbd_open_read_only(r->ioctx, spec->image, &r->image,
					 spec->snap[0] ? spec->snap : NULL);
	else
		ret = rbd_open(r->ioctx, spec->image, &r->image, NULL);
	if (ret < 0) {
		vback_logf(r->log, VBACK_LOG_ERR, "io: %s: image %s%s%s: %s",
			   r->name, spec->image, spec->snap[0] ? "@" : "",
			   spec->snap, vback_strerror(ret));
		return ret;
	}
	r->have_image = true;
	return 0;
}

int io_rbd_open(const struct vback_io_options *opts,
		const struct vback_loop *loop, struct vback_io *out)
{
	unsigned int timeout_ms =
		opts->timeout_ms ? opts->timeout_ms : IO_NET_DEFAULT_TIMEOUT_MS;
	struct io_rbd_spec *spec;
	char why[256] = "";
	struct rbd_io *r;
	uint64_t size;
	int ret;

	ret = io_rbd_lib_load(opts->log);
	if (ret)
		return ret;
	r = calloc(1, sizeof(*r));
	spec = calloc(1, sizeof(*spec));
	if (!r || !spec) {
		free(r);
		free(spec);
		return -ENOMEM;
	}
	r->efd = -1;
	r->loop = loop;
	r->log = opts->log;
	snprintf(r->name, sizeof(r->name), "%s", opts->path);
	ret = io_rbd_spec_parse(opts->path, spec, why, sizeof(why));
	if (ret) {
		vback_logf(opts->log, VBACK_LOG_ERR, "io: %s: bad RBD spec: %s",
			   r->name, why);
		goto fail;
	}
	if (!vback_loop_has_fds(loop)) {
		vback_logf(opts->log, VBACK_LOG_ERR,
			   "io: %s: the RBD engine needs a loop that watches "
			   "fds",
			   r->name);
		ret = -ENOTSUP;
		goto fail;
	}
	r->depth = opts->queue_depth ? opts->queue_depth : IO_DEFAULT_DEPTH;
	r->timeout_ms = timeout_ms;
	vback_timer_init(&r->watchdog, on_watchdog, r);
	r->slots = calloc(r->depth, sizeof(*r->slots));
	r->events = calloc(r->depth, sizeof(*r->events));
	if (!r->slots || !r->events) {
		ret = -ENOMEM;
		goto fail;
	}
	for (unsigned int i = r->depth; i-- > 0;)
		slot_release(r, &r->slots[i]);
	ret = rbd_connect(r, opts, spec, timeout_ms);
	if (ret)
		goto fail;
	ret = rbd_get_size(r->image, &size);
	if (ret < 0 || size < 512) {
		vback_logf(opts->log, VBACK_LOG_ERR,
			   "io: %s: the image is empty or has no size",
			   r->name);
		ret = ret < 0 ? ret : -EINVAL;
		goto fail;
	}
	r->caps = (struct vback_io_caps){
		.size_bytes = size - size % 512,
		.logical_block_size = 512,
		.physical_block_size = 4096,
		.max_segments = IO_MAX_SEGMENTS, /* librbd: IOV_MAX */
		.max_discard_sectors = (uint32_t)(RBD_MAX_RANGE / 512),
		.max_write_zeroes_sectors = (uint32_t)(RBD_MAX_RANGE / 512),
		.read_only = opts->read_only || spec->snap[0],
		.can_discard = true,
		.can_write_zeroes = true,
		/* librbd's cache (writearound by default) acks early. */
		.volatile_cache = true,
	};
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = rbd_set_image_notification(r->image, r->efd, EVENT_TYPE_EVENTFD);
	if (ret < 0) {
		vback_logf(opts->log, VBACK_LOG_ERR,
			   "io: %s: rbd_set_image_notification: %s", r->name,
			   vback_strerror(ret));
		goto fail;
	}
	if (!opts->detached) {
		ret = rbd_attach(r);
		if (ret)
			goto fail;
	}
	vback_logf(opts->log, VBACK_LOG_INFO,
		   "io: %s: RBD image of %llu bytes, %s, timeout %u ms",
		   r->name, (unsigned long long)r->caps.size_bytes,
		   r->caps.read_only ? "read-only" : "read-write", timeout_ms);
	free(spec);
	out->ops = &io_rbd_ops;
	out->opaque = r;
	return 0;
fail:
	free(spec);
	rbd_free(r);
	return ret;
}

#else /* !VBACK_HAVE_RBD */

/* Never handed out; keeps vback_io_engine_of() simple. */
const struct vback_io_ops io_rbd_ops = { 0 };

int io_rbd_open(const struct vback_io_options *opts,
		const struct vback_loop *loop, struct vback_io *out)
{
	(void)loop;
	(void)out;
	vback_logf(opts->log, VBACK_LOG_ERR,
		   "io: %s: this vback was built without the RBD engine "
		   "(librbd-dev, meson -Drbd=enabled)",
		   opts->path);
	return -ENOTSUP;
}

#endif
