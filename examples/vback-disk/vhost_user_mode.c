/* SPDX-License-Identifier: MIT */
/*
 * vback-disk --vhost-user: one disk image, one virtio-blk device, one
 * vhost-user socket, one epoll loop. Front-ends come and go; the daemon
 * stays until SIGTERM/SIGINT, which quiesces the device (in-flight
 * requests complete, the image is flushed) before it exits, as the Xen
 * mode does. SIGHUP re-reads the image size (resize).
 */
#include <errno.h>
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
#include <vback/mmio.h>

#include "modes.h"
#include "signals.h"

#define MAX_QUEUES	64u
#define STOP_TIMEOUT_MS 10000u

struct daemon {
	const struct vback_disk_options *o;
	const struct vback_log *log;
	struct vback_loop *loop;
	struct vback_io io;
	bool io_open;
	struct vback_blk *blk;
	struct vback_vhu *vhu;
	int sig_fd;
	bool stopping;
	struct vback_timer deadline; /* a stop that takes too long */
	/* Per front-end session, for the summary printed when it leaves. */
	struct vback_blk_stats blk_at_start;
	struct vback_vhu_stats vhu_at_start;
	struct vback_vhu_queue_stats q_at_start[MAX_QUEUES];
	struct timespec t_start;
};

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void session_start(struct daemon *d)
{
	vback_blk_get_stats(d->blk, &d->blk_at_start);
	vback_vhu_get_stats(d->vhu, &d->vhu_at_start);
	for (unsigned int q = 0; q < d->o->queues && q < MAX_QUEUES; q++)
		vback_vhu_get_queue_stats(d->vhu, q, &d->q_at_start[q]);
	clock_gettime(CLOCK_MONOTONIC, &d->t_start);
}

/* What the front-end did, in lines a person (and the e2e test) can read. */
static void session_summary(struct daemon *d)
{
	const struct vback_blk_stats *a = &d->blk_at_start;
	struct vback_blk_stats b;
	double secs = seconds_since(&d->t_start);
	double mib_r, mib_w;

	vback_blk_get_stats(d->blk, &b);
	mib_r = (double)(b.bytes_read - a->bytes_read) / (1024.0 * 1024.0);
	mib_w = (double)(b.bytes_written - a->bytes_written) /
		(1024.0 * 1024.0);
	vback_logf(d->log, VBACK_LOG_INFO,
		   "session: %.1f s, reads=%llu (%.1f MiB, avg %.1f MiB/s) "
		   "writes=%llu (%.1f MiB, avg %.1f MiB/s) flushes=%llu "
		   "discards=%llu write_zeroes=%llu get_ids=%llu "
		   "unsupported=%llu io_errors=%llu",
		   secs, (unsigned long long)(b.reads - a->reads), mib_r,
		   secs > 0 ? mib_r / secs : 0.0,
		   (unsigned long long)(b.writes - a->writes), mib_w,
		   secs > 0 ? mib_w / secs : 0.0,
		   (unsigned long long)(b.flushes - a->flushes),
		   (unsigned long long)(b.discards - a->discards),
		   (unsigned long long)(b.write_zeroes - a->write_zeroes),
		   (unsigned long long)(b.get_ids - a->get_ids),
		   (unsigned long long)(b.unsupported - a->unsupported),
		   (unsigned long long)(b.io_errors - a->io_errors));
	for (unsigned int q = 0; q < d->o->queues && q < MAX_QUEUES; q++) {
		struct vback_vhu_queue_stats qs;

		if (vback_vhu_get_queue_stats(d->vhu, q, &qs) < 0)
			break;
		vback_logf(d->log, VBACK_LOG_INFO,
			   "session: queue %u: kicks=%llu calls=%llu", q,
			   (unsigned long long)(qs.kicks -
						d->q_at_start[q].kicks),
			   (unsigned long long)(qs.calls -
						d->q_at_start[q].calls));
	}
}

static void on_vhu_event(void *opaque, enum vback_vhu_event ev)
{
	struct daemon *d = opaque;

	switch (ev) {
	case VBACK_VHU_CONNECTED:
		session_start(d);
		break;
	case VBACK_VHU_DISCONNECTED:
		break;
	case VBACK_VHU_IDLE:
		session_summary(d);
		if (d->stopping)
			vback_loop_stop(d->loop);
		else
			vback_logf(d->log, VBACK_LOG_INFO,
				   "waiting for the next front-end");
		break;
	}
}

static void resize(struct daemon *d)
{
	uint64_t size = 0;
	int ret = vback_blk_refresh_size(d->blk, &size);

	if (ret == -EOPNOTSUPP)
		vback_logf(d->log, VBACK_LOG_WARN,
			   "SIGHUP: this IO engine cannot re-read the size");
	else if (ret < 0)
		vback_logf(d->log, VBACK_LOG_ERR, "SIGHUP: %s",
			   vback_strerror(ret));
	else if (ret == 0)
		vback_logf(d->log, VBACK_LOG_INFO, "SIGHUP: size unchanged");
	else
		vback_logf(d->log, VBACK_LOG_INFO, "resized to %llu bytes",
			   (unsigned long long)size);
}

/* Drained and flushed: let the front-end go, then stop (at IDLE). */
static void quiesced(void *opaque, int result)
{
	struct daemon *d = opaque;

	if (result < 0)
		vback_logf(d->log, VBACK_LOG_ERR, "stop: flush failed: %s",
			   vback_strerror(result));
	else
		vback_logf(d->log, VBACK_LOG_INFO, "%s",
			   "stop: in-flight requests done, image flushed");
	vback_vhu_disconnect(d->vhu);
	if (!vback_vhu_draining(d->vhu))
		vback_loop_stop(d->loop);
}

static void stop_timeout(void *opaque)
{
	struct daemon *d = opaque;

	vback_logf(d->log, VBACK_LOG_WARN,
		   "stop: %u requests still in flight after %u ms: stopping "
		   "without them",
		   vback_dev_inflight(vback_blk_dev(d->blk)), STOP_TIMEOUT_MS);
	vback_loop_stop(d->loop);
}

static void on_signal(void *opaque, int fd, uint32_t events)
{
	struct daemon *d = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		resize(d);
		return;
	}
	if (d->stopping) {
		vback_logf(d->log, VBACK_LOG_WARN,
			   "second signal: stopping without waiting for IO");
		vback_loop_stop(d->loop);
		return;
	}
	vback_logf(d->log, VBACK_LOG_INFO, "signal %u: stopping", si.ssi_signo);
	d->stopping = true;
	/* Take no new request, let in-flight ones reach the guest, flush the
	 * image; then disconnect (quiesced()). */
	if (vback_dev_quiesce(vback_blk_dev(d->blk), quiesced, d) < 0) {
		vback_loop_stop(d->loop);
		return;
	}
	vback_timer_arm(d->loop, &d->deadline,
			(uint64_t)STOP_TIMEOUT_MS * 1000000u, 0);
}

static int setup_signals(struct daemon *d)
{
	/* Before the IO engine starts threads, which inherit the mask. */
	d->sig_fd = vback_disk_signalfd();
	return d->sig_fd < 0 ? d->sig_fd : 0;
}

static int open_disk(struct daemon *d)
{
	const struct vback_disk_options *o = d->o;
	struct vback_io_options io_opts = {
		.path = o->image,
		.engine = o->engine,
		.read_only = o->read_only,
		.direct = o->direct,
		.log = d->log,
	};
	struct vback_blk_options blk_opts = {
		.num_queues = o->queues,
		.queue_size = (uint16_t)o->queue_size,
		.read_only = o->read_only,
		/* Write-back caching: guests then send flushes. */
		.writeback = true,
		.log = d->log,
		.name = o->image,
	};
	struct vback_io_caps caps;
	int ret;

	ret = vback_io_open(&io_opts, d->loop, &d->io);
	if (ret < 0) {
		vback_logf(d->log, VBACK_LOG_ERR, "cannot open %s: %s",
			   o->image, vback_strerror(ret));
		return ret;
	}
	d->io_open = true;
	ret = vback_io_get_caps(&d->io, &caps);
	if (ret < 0)
		return ret;
	blk_opts.io = d->io;
	/* NUL-padded, not NUL-terminated: 20 bytes is a full serial. */
	if (o->serial)
		memcpy(blk_opts.serial, o->serial,
		       strnlen(o->serial, sizeof(blk_opts.serial)));
	ret = vback_blk_create(&blk_opts, &d->blk);
	if (ret < 0) {
		vback_logf(d->log, VBACK_LOG_ERR,
			   "cannot create the device: %s", vback_strerror(ret));
		return ret;
	}
	vback_logf(d->log, VBACK_LOG_INFO,
		   "disk %s: %llu bytes (%.1f MiB), %u-byte sectors, %s, "
		   "engine %s%s%s",
		   o->image, (unsigned long long)caps.size_bytes,
		   (double)caps.size_bytes / (1024.0 * 1024.0),
		   caps.logical_block_size,
		   caps.read_only || o->read_only ? "read-only" : "read-write",
		   o->engine == VBACK_IO_ENGINE_DEFAULT
			   ? "auto"
			   : vback_io_engine_name(o->engine),
		   caps.can_discard ? ", discard" : "",
		   caps.can_write_zeroes ? ", write-zeroes" : "");
	return 0;
}

static void teardown(struct daemon *d)
{
	/* Order: the transport (rings stopped, no IO in flight any more),
	 * the device, then the disk; see vback_blk_destroy(). */
	if (d->vhu)
		vback_vhu_destroy(d->vhu); /* detaches from the device */
	if (d->io_open)
		vback_io_close(&d->io);
	if (d->blk)
		vback_blk_destroy(d->blk);
	if (d->sig_fd >= 0) {
		vback_loop_unwatch(d->loop, d->sig_fd);
		close(d->sig_fd);
	}
	if (d->loop) {
		vback_timer_cancel(d->loop, &d->deadline);
		vback_epoll_loop_destroy(d->loop);
	}
}

int vback_disk_run_vhost_user(const struct vback_disk_options *opts,
			      const struct vback_log *log)
{
	struct daemon d = { .o = opts, .log = log, .sig_fd = -1 };
	struct vback_vhu_options vo = {
		.socket_path = opts->socket_path,
		.event = on_vhu_event,
		.log = log,
		.name = "vhost-user",
	};
	int ret;

	vback_timer_init(&d.deadline, stop_timeout, &d);
	ret = setup_signals(&d);
	if (ret == 0)
		ret = vback_epoll_loop_create(log, &d.loop);
	if (ret == 0)
		ret = vback_loop_watch(d.loop, d.sig_fd, VBACK_EV_IN, on_signal,
				       &d);
	if (ret == 0)
		ret = open_disk(&d);
	if (ret < 0)
		goto out;
	vo.dev = vback_blk_dev(d.blk);
	vo.loop = d.loop;
	vo.opaque = &d;
	ret = vback_vhu_create(&vo, &d.vhu);
	if (ret < 0) {
		vback_logf(log, VBACK_LOG_ERR, "cannot listen on %s: %s",
			   opts->socket_path, vback_strerror(ret));
		goto out;
	}
	vback_logf(log, VBACK_LOG_INFO,
		   "ready: vhost-user socket %s, %u queue%s", opts->socket_path,
		   opts->queues, opts->queues == 1 ? "" : "s");
	ret = vback_loop_run(d.loop);
	if (ret < 0)
		vback_logf(log, VBACK_LOG_ERR, "event loop failed: %s",
			   vback_strerror(ret));
out:
	teardown(&d);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
