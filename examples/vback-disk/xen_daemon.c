/* SPDX-License-Identifier: MIT */
/*
 * vback-disk's Xen mode: one virtio-blk device per disk, served through the
 * Xen transport, either discovered in xenstore or given with --domid/--disk.
 * Wiring only: the transport runs the xenbus protocol and the IOREQ
 * servers, the virtio layer the device, the IO layer the image.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <vback/io.h>
#include <vback/mmio.h>
#include <vback/xen.h>

#include "signals.h"
#include "xen_daemon.h"

#define DRAIN_TIMEOUT_MS 10000u
#define STOP_TICK_MS	 10

enum stop_phase {
	RUNNING,
	DRAINING, /* queues stopped, waiting for in-flight requests */
	FLUSHING, /* one FLUSH per writable disk in flight */
	FINISHED,
};

struct xd_disk {
	struct xd_disk *next;
	struct xen_daemon *xd;
	char name[48];
	struct vback_io io; /* the engine's instance */
	bool io_open;
	/* What the device sees when discard-enable=0: @io with discard
	 * hidden from the capabilities. */
	struct vback_io masked;
	struct vback_blk *blk;
	struct vback_xen_device *xdev; /* explicit mode */
	bool read_only;
	struct vback_io_req flush;
	bool flushing;
};

struct xen_daemon {
	struct xen_daemon_env env;
	const struct vback_disk_options *o;
	const struct vback_log *log;
	struct vback_xen *xen;
	struct vback_xen_backend *be; /* discovery mode */
	struct vback_xen_domain *dom; /* explicit mode */
	struct xd_disk *disks;
	unsigned int nr_disks;
	int sig_fd, timer_fd;
	bool timer_watched;
	enum stop_phase phase;
	struct timespec deadline;
	unsigned int flushes; /* in flight */
	unsigned int flushed;
};

/* ------------------------------------------------------------------ */
/* Disks                                                               */
/* ------------------------------------------------------------------ */

static int masked_submit(void *opaque, struct vback_io_req *req)
{
	struct xd_disk *d = opaque;

	return vback_io_submit(&d->io, req);
}

static void masked_unplug(void *opaque)
{
	struct xd_disk *d = opaque;

	vback_io_unplug(&d->io);
}

static int masked_get_caps(void *opaque, struct vback_io_caps *caps)
{
	struct xd_disk *d = opaque;
	int ret = vback_io_get_caps(&d->io, caps);

	/* The toolstack said discard-enable=0: do not offer DISCARD. */
	if (ret == 0)
		caps->can_discard = false;
	return ret;
}

static int masked_refresh_size(void *opaque, uint64_t *size_bytes)
{
	struct xd_disk *d = opaque;

	if (!d->io.ops->refresh_size)
		return -EOPNOTSUPP;
	return d->io.ops->refresh_size(d->io.opaque, size_bytes);
}

static void masked_close(void *opaque)
{
	/* The disk closes the real instance itself. */
	(void)opaque;
}

static const struct vback_io_ops masked_ops = {
	.submit = masked_submit,
	.unplug = masked_unplug,
	.get_caps = masked_get_caps,
	.refresh_size = masked_refresh_size,
	.close = masked_close,
};

/* Open @path and create the virtio-blk device on it. */
static int disk_open(struct xen_daemon *xd, const char *name, const char *path,
		     bool read_only, bool discard, struct xd_disk **out)
{
	const struct vback_disk_options *o = xd->o;
	struct vback_io_options io_opts = {
		.path = path,
		.engine = o->engine,
		.read_only = read_only,
		.direct = o->direct,
		.log = xd->log,
	};
	struct vback_blk_options blk_opts = {
		.num_queues = o->queues,
		.queue_size = (uint16_t)o->queue_size,
		.read_only = read_only,
		/* Write-back caching: guests then send flushes. */
		.writeback = true,
		.log = xd->log,
	};
	struct vback_io_caps caps;
	struct xd_disk *d;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->xd = xd;
	d->read_only = read_only;
	snprintf(d->name, sizeof(d->name), "%s", name);
	ret = vback_io_open(&io_opts, xd->env.loop, &d->io);
	if (ret < 0) {
		vback_logf(xd->log, VBACK_LOG_ERR, "%s: cannot open %s: %s",
			   name, path, vback_strerror(ret));
		free(d);
		return ret;
	}
	d->io_open = true;
	d->masked.ops = &masked_ops;
	d->masked.opaque = d;
	ret = vback_io_get_caps(&d->io, &caps);
	if (ret < 0)
		goto fail;
	blk_opts.io = discard ? d->io : d->masked;
	blk_opts.name = d->name;
	ret = vback_blk_create(&blk_opts, &d->blk);
	if (ret < 0)
		goto fail;
	vback_logf(xd->log, VBACK_LOG_INFO,
		   "%s: %s, %llu bytes, %s, engine %s%s", name, path,
		   (unsigned long long)caps.size_bytes,
		   read_only || caps.read_only ? "read-only" : "read-write",
		   vback_io_engine_name(vback_io_engine_of(&d->io)),
		   discard && caps.can_discard ? ", discard" : "");
	d->next = xd->disks;
	xd->disks = d;
	xd->nr_disks++;
	*out = d;
	return 0;
fail:
	vback_logf(xd->log, VBACK_LOG_ERR, "%s: cannot create the device: %s",
		   name, vback_strerror(ret));
	vback_io_close(&d->io);
	free(d);
	return ret;
}

/*
 * The device is detached already (device removal resets it and orphans
 * what is in flight): close the IO, which completes those requests, then
 * destroy the device. See vback_blk_destroy().
 */
static void disk_close(struct xd_disk *d)
{
	struct xen_daemon *xd = d->xd;
	struct vback_blk_stats st;
	struct xd_disk **pp;

	for (pp = &xd->disks; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			xd->nr_disks--;
			break;
		}
	}
	if (d->blk)
		vback_blk_get_stats(d->blk, &st);
	if (d->io_open)
		vback_io_close(&d->io);
	if (d->blk) {
		vback_logf(xd->log, VBACK_LOG_INFO,
			   "%s: closed (reads=%llu writes=%llu flushes=%llu "
			   "io_errors=%llu)",
			   d->name, (unsigned long long)st.reads,
			   (unsigned long long)st.writes,
			   (unsigned long long)st.flushes,
			   (unsigned long long)st.io_errors);
		vback_blk_destroy(d->blk);
	}
	free(d);
}

static struct xd_disk *disk_of_dev(struct xen_daemon *xd,
				   const struct vback_dev *dev)
{
	struct xd_disk *d;

	for (d = xd->disks; d; d = d->next)
		if (d->blk && vback_blk_dev(d->blk) == dev)
			return d;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* xenstore discovery                                                  */
/* ------------------------------------------------------------------ */

/* The virtio layout names the device type "virtio,device<ID>". */
static bool is_block_type(const char *type)
{
	static const char prefix[] = "virtio,device";

	if (strncmp(type, prefix, sizeof(prefix) - 1))
		return true; /* "standalone", "" ...: libxl's disk */
	return !strcmp(type + sizeof(prefix) - 1, "2");
}

static int be_add(void *opaque, const struct vback_xen_device_config *cfg,
		  struct vback_dev **dev)
{
	struct xen_daemon *xd = opaque;
	struct xd_disk *d;
	char name[48];
	int ret;

	snprintf(name, sizeof(name), "dom%u/%u", cfg->domid, cfg->devid);
	if (xd->phase != RUNNING) {
		vback_logf(xd->log, VBACK_LOG_INFO,
			   "%s: stopping, not taking new devices", name);
		return -ESHUTDOWN;
	}
	if (!is_block_type(cfg->type)) {
		vback_logf(xd->log, VBACK_LOG_ERR,
			   "%s: type '%s' is not a block device", name,
			   cfg->type);
		return -EOPNOTSUPP;
	}
	if (!*cfg->params) {
		vback_logf(xd->log, VBACK_LOG_ERR,
			   "%s: no 'params' node (the disk path) in %s", name,
			   cfg->backend_path);
		return -EINVAL;
	}
	ret = disk_open(xd, name, cfg->params,
			cfg->read_only || xd->o->read_only, cfg->discard_enable,
			&d);
	if (ret < 0)
		return ret;
	*dev = vback_blk_dev(d->blk);
	return 0;
}

static void be_remove(void *opaque, const struct vback_xen_device_config *cfg,
		      struct vback_dev *dev)
{
	struct xen_daemon *xd = opaque;
	struct xd_disk *d = disk_of_dev(xd, dev);

	if (!d) {
		vback_logf(xd->log, VBACK_LOG_ERR,
			   "dom%u/%u: removal of a device never added",
			   cfg->domid, cfg->devid);
		return;
	}
	disk_close(d);
}

static const struct vback_xen_backend_ops be_ops = {
	.add = be_add,
	.remove = be_remove,
};

/* ------------------------------------------------------------------ */
/* Stopping: drain, flush, finish                                      */
/* ------------------------------------------------------------------ */

/* Nothing more to do: stop the loop; xen_daemon_destroy() follows. */
static void stop_loop(struct xen_daemon *xd)
{
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };

	xd->phase = FINISHED;
	if (xd->timer_watched) {
		timerfd_settime(xd->timer_fd, 0, &off, NULL);
		vback_loop_unwatch(xd->env.loop, xd->timer_fd);
		xd->timer_watched = false;
	}
	vback_loop_stop(xd->env.loop);
}

static void finish(struct xen_daemon *xd)
{
	vback_logf(xd->log, VBACK_LOG_INFO,
		   "stopped: %u disk%s flushed, tearing down", xd->flushed,
		   xd->flushed == 1 ? "" : "s");
	stop_loop(xd);
}

static void flush_done(struct vback_io_req *req, int result)
{
	struct xd_disk *d = req->opaque;
	struct xen_daemon *xd = d->xd;

	d->flushing = false;
	if (result < 0)
		vback_logf(xd->log, VBACK_LOG_ERR, "%s: flush failed: %s",
			   d->name, vback_strerror(result));
	else
		xd->flushed++;
	if (--xd->flushes == 0 && xd->phase == FLUSHING)
		finish(xd);
}

static void set_deadline(struct xen_daemon *xd)
{
	unsigned int ms = xd->env.drain_timeout_ms;

	clock_gettime(CLOCK_MONOTONIC, &xd->deadline);
	xd->deadline.tv_sec += ms / 1000;
	xd->deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (xd->deadline.tv_nsec >= 1000000000L) {
		xd->deadline.tv_sec++;
		xd->deadline.tv_nsec -= 1000000000L;
	}
}

static void start_flushes(struct xen_daemon *xd)
{
	struct xd_disk *d;
	int ret;

	xd->phase = FLUSHING;
	set_deadline(xd);
	for (d = xd->disks; d; d = d->next) {
		if (d->read_only || !d->blk || d->flushing)
			continue;
		memset(&d->flush, 0, sizeof(d->flush));
		d->flush.op = VBACK_IO_FLUSH;
		d->flush.done = flush_done;
		d->flush.opaque = d;
		ret = vback_io_submit(&d->io, &d->flush);
		if (ret < 0) {
			vback_logf(xd->log, VBACK_LOG_ERR,
				   "%s: cannot flush: %s", d->name,
				   vback_strerror(ret));
			continue;
		}
		d->flushing = true;
		xd->flushes++;
		vback_io_unplug(&d->io);
	}
	if (xd->flushes == 0)
		finish(xd);
}

static unsigned int inflight(const struct xen_daemon *xd)
{
	const struct xd_disk *d;
	unsigned int n = 0;

	for (d = xd->disks; d; d = d->next)
		if (d->blk)
			n += vback_dev_inflight(vback_blk_dev(d->blk));
	return n;
}

static bool past(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec ||
	       (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void on_tick(void *opaque, int fd, uint32_t events)
{
	struct xen_daemon *xd = opaque;
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) < 0)
		return;
	switch (xd->phase) {
	case DRAINING:
		if (inflight(xd) == 0) {
			start_flushes(xd);
		} else if (past(&xd->deadline)) {
			vback_logf(xd->log, VBACK_LOG_WARN,
				   "%u requests still in flight after %u ms: "
				   "stopping without them",
				   inflight(xd), xd->env.drain_timeout_ms);
			start_flushes(xd);
		}
		break;
	case FLUSHING:
		if (past(&xd->deadline)) {
			vback_logf(xd->log, VBACK_LOG_WARN,
				   "flush did not complete in time");
			finish(xd);
		}
		break;
	case RUNNING:
	case FINISHED:
		break;
	}
}

static void begin_stop(struct xen_daemon *xd)
{
	struct itimerspec tick = {
		{ 0, STOP_TICK_MS * 1000000L },
		{ 0, STOP_TICK_MS * 1000000L },
	};
	struct xd_disk *d;
	unsigned int q;

	/* No new requests: the rings stay where they are, and what is in
	 * flight completes and is published to the guest as usual. */
	xd->phase = DRAINING;
	for (d = xd->disks; d; d = d->next) {
		struct vback_dev *dev = d->blk ? vback_blk_dev(d->blk) : NULL;

		for (q = 0; dev && q < vback_dev_num_queues(dev); q++)
			vback_dev_queue_stop(dev, q);
	}
	set_deadline(xd);
	vback_logf(xd->log, VBACK_LOG_INFO,
		   "stopping: %u disk%s, %u requests in flight", xd->nr_disks,
		   xd->nr_disks == 1 ? "" : "s", inflight(xd));
	if (inflight(xd) == 0) {
		start_flushes(xd);
		if (xd->phase == FINISHED)
			return;
	}
	/* Poll the drain: completions reach the device, not us. */
	if (timerfd_settime(xd->timer_fd, 0, &tick, NULL) < 0 ||
	    vback_loop_watch(xd->env.loop, xd->timer_fd, VBACK_EV_IN, on_tick,
			     xd) < 0) {
		vback_logf(xd->log, VBACK_LOG_ERR,
			   "cannot wait for the drain: stopping now");
		finish(xd);
		return;
	}
	xd->timer_watched = true;
}

static void resize_all(struct xen_daemon *xd)
{
	struct xd_disk *d;
	uint64_t size;
	int ret;

	for (d = xd->disks; d; d = d->next) {
		if (!d->blk || !d->io.ops->refresh_size)
			continue;
		ret = d->io.ops->refresh_size(d->io.opaque, &size);
		if (ret < 0)
			vback_logf(xd->log, VBACK_LOG_ERR, "%s: resize: %s",
				   d->name, vback_strerror(ret));
		if (ret <= 0)
			continue;
		ret = vback_blk_resize(d->blk, size);
		vback_logf(xd->log, ret ? VBACK_LOG_ERR : VBACK_LOG_INFO,
			   "%s: resized to %llu bytes%s", d->name,
			   (unsigned long long)size, ret ? ": refused" : "");
	}
}

void xen_daemon_signal(struct xen_daemon *xd, int signo)
{
	if (signo == SIGHUP) {
		resize_all(xd);
		return;
	}
	switch (xd->phase) {
	case RUNNING:
		vback_logf(xd->log, VBACK_LOG_INFO, "signal %d: stopping",
			   signo);
		begin_stop(xd);
		break;
	case DRAINING:
	case FLUSHING:
		vback_logf(xd->log, VBACK_LOG_WARN,
			   "second signal: stopping without waiting for IO");
		finish(xd);
		break;
	case FINISHED:
		break;
	}
}

static void on_signal(void *opaque, int fd, uint32_t events)
{
	struct xen_daemon *xd = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	xen_daemon_signal(xd, (int)si.ssi_signo);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

static int setup_fds(struct xen_daemon *xd)
{
	int ret;

	/* Before the IO engines start threads, which inherit the mask; the
	 * signals are then read from a signalfd on the loop. */
	xd->sig_fd = vback_disk_signalfd();
	if (xd->sig_fd < 0)
		return xd->sig_fd;
	xd->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (xd->timer_fd < 0)
		return -errno;
	ret = vback_loop_watch(xd->env.loop, xd->sig_fd, VBACK_EV_IN, on_signal,
			       xd);
	if (ret < 0) {
		close(xd->sig_fd);
		xd->sig_fd = -1;
	}
	return ret;
}

int xen_daemon_create(const struct xen_daemon_env *env, struct xen_daemon **out)
{
	const struct vback_disk_options *o = env->opts;
	struct xen_daemon *xd;
	unsigned int i;
	int ret;

	xd = calloc(1, sizeof(*xd));
	if (!xd)
		return -ENOMEM;
	xd->env = *env;
	if (!xd->env.drain_timeout_ms)
		xd->env.drain_timeout_ms = DRAIN_TIMEOUT_MS;
	xd->o = o;
	xd->log = env->log;
	xd->sig_fd = xd->timer_fd = -1;
	ret = setup_fds(xd);
	if (ret < 0) {
		vback_logf(xd->log, VBACK_LOG_ERR, "signals: %s",
			   vback_strerror(ret));
		goto fail;
	}
	/* Explicit mode: every image opens, or nothing starts. */
	for (i = 0; o->domid >= 0 && i < o->nr_xen_disks; i++) {
		const struct vback_disk_xen_disk *x = &o->xen_disks[i];
		struct xd_disk *d;
		char name[48];

		snprintf(name, sizeof(name), "dom%d/disk%u", o->domid, i);
		ret = disk_open(xd, name, x->path, x->read_only || o->read_only,
				true, &d);
		if (ret < 0)
			goto fail;
	}
	*out = xd;
	return 0;
fail:
	xen_daemon_destroy(xd);
	return ret;
}

/* Every disk in the documented order: detach all (each device resets,
 * in-flight requests are orphaned), then close each (IO, then device). */
static void close_all_disks(struct xen_daemon *xd)
{
	for (struct xd_disk *d = xd->disks; d; d = d->next)
		if (d->xdev) {
			vback_xen_device_remove(d->xdev);
			d->xdev = NULL;
		}
	while (xd->disks)
		disk_close(xd->disks);
}

/*
 * Explicit mode: the guest died (the transport saw @releaseDomain). Release
 * it as discovery mode does (detach, close the IO, which completes what is
 * in flight while the domain still exists, destroy the device), then the
 * domain, so it does not stay a zombie. That was the only domain this
 * daemon serves and its domid will not come back: stop, exit 0.
 */
static void on_domain_died(void *opaque, struct vback_xen_domain *dom)
{
	struct xen_daemon *xd = opaque;
	unsigned int n = xd->nr_disks;

	vback_logf(xd->log, VBACK_LOG_INFO,
		   "dom%u died: releasing its %u disk%s",
		   vback_xen_domain_id(dom), n, n == 1 ? "" : "s");
	close_all_disks(xd);
	if (dom == xd->dom)
		xd->dom = NULL;
	vback_xen_domain_destroy(dom);
	if (xd->phase != FINISHED) {
		vback_logf(xd->log, VBACK_LOG_INFO,
			   "nothing left to serve: stopping");
		stop_loop(xd);
	}
}

static int start_explicit(struct xen_daemon *xd)
{
	const struct vback_disk_options *o = xd->o;
	struct vback_xen_domain_options dopt = {
		.domid = (uint16_t)o->domid,
		.irq_mode = xd->env.irq_mode,
		.died = on_domain_died,
		.opaque = xd,
	};
	unsigned int i = xd->nr_disks;
	struct xd_disk *d;
	int ret;

	ret = vback_xen_domain_create(xd->xen, &dopt, &xd->dom);
	if (ret < 0) {
		vback_logf(xd->log, VBACK_LOG_ERR,
			   "dom%d: cannot create the IOREQ server: %s",
			   o->domid, vback_strerror(ret));
		return ret;
	}
	/* The list is newest first: disk i is option xen_disks[i]. */
	for (d = xd->disks; d; d = d->next) {
		const struct vback_disk_xen_disk *x = &o->xen_disks[--i];
		struct vback_xen_device_options dev = {
			.dev = vback_blk_dev(d->blk),
			.base = x->base,
			.irq = x->irq,
			.grants = x->grants,
			.name = d->name,
		};

		ret = vback_xen_device_add(xd->dom, &dev, &d->xdev);
		if (ret < 0) {
			vback_logf(xd->log, VBACK_LOG_ERR,
				   "%s: cannot serve at %#llx irq %u: %s",
				   d->name, (unsigned long long)x->base, x->irq,
				   vback_strerror(ret));
			return ret;
		}
		vback_logf(xd->log, VBACK_LOG_INFO,
			   "%s: serving at %#llx irq %u%s", d->name,
			   (unsigned long long)x->base, x->irq,
			   x->grants ? " (grants)" : "");
	}
	return 0;
}

int xen_daemon_start(struct xen_daemon *xd, struct vback_xen *xen)
{
	struct vback_xen_backend_options bo = {
		.ops = &be_ops,
		.opaque = xd,
		.backend_domid = (uint16_t)xd->o->backend_domid,
		.irq_mode = xd->env.irq_mode,
	};
	int ret;

	xd->xen = xen;
	if (xd->o->domid >= 0)
		return start_explicit(xd);
	ret = vback_xen_backend_start(xen, &bo, &xd->be);
	if (ret < 0) {
		vback_logf(xd->log, VBACK_LOG_ERR,
			   "cannot watch xenstore: %s (is xenstored running?)",
			   vback_strerror(ret));
		return ret;
	}
	vback_logf(xd->log, VBACK_LOG_INFO,
		   "ready: serving the virtio disks of every domain "
		   "(backend domain %u)",
		   xd->o->backend_domid);
	return 0;
}

bool xen_daemon_finished(const struct xen_daemon *xd)
{
	return xd->phase == FINISHED;
}

unsigned int xen_daemon_disks(const struct xen_daemon *xd)
{
	return xd->nr_disks;
}

void xen_daemon_destroy(struct xen_daemon *xd)
{
	if (!xd)
		return;
	/* Discovery: remove() closes each disk (device already detached). */
	if (xd->be)
		vback_xen_backend_stop(xd->be);
	/* Explicit: the documented order, domain last. */
	close_all_disks(xd);
	vback_xen_domain_destroy(xd->dom);
	if (xd->timer_watched)
		vback_loop_unwatch(xd->env.loop, xd->timer_fd);
	if (xd->timer_fd >= 0)
		close(xd->timer_fd);
	if (xd->sig_fd >= 0) {
		vback_loop_unwatch(xd->env.loop, xd->sig_fd);
		close(xd->sig_fd);
	}
	free(xd);
}
