/* SPDX-License-Identifier: MIT */
/*
 * vback-disk's Xen mode: one virtio-blk device per disk, served through the
 * Xen transport, either discovered in xenstore or given with --domid/--disk.
 * Wiring only: the transport runs the xenbus protocol and the IOREQ
 * servers, the virtio layer the device, the IO layer the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vback/io.h>
#include <vback/mmio.h>
#include <vback/xen.h>

#include "config.h"
#include "ctl_common.h"
#include "net_open.h"
#include "signals.h"
#include "xen_daemon.h"

#define DRAIN_TIMEOUT_MS 10000u
/* How long an adopted disk waits for its image, which the process that
 * died may still hold until the kernel has finished its IO. */
#define ADOPT_BUSY_WAIT_MS 10000u

enum stop_phase {
	RUNNING,
	STOPPING, /* every device quiescing: drain, then flush */
	FINISHED,
};

struct xd_disk {
	struct xd_disk *next;
	struct xen_daemon *xd;
	char name[48];
	unsigned int domid;
	char *path;	    /* the image */
	struct vback_io io; /* the engine's instance */
	bool io_open;
	struct vback_blk *blk;
	struct vback_xen_device *xdev; /* explicit mode */
	bool read_only;
	bool quiescing; /* a stop waits for this disk */
	/* Discovery with --state-dir: the device's state file. */
	char *state_path;
	void *state;
	size_t state_len;
};

/*
 * A network disk being opened on a thread of its own (its server may take
 * up to the IO timeout to answer; every other guest is served meanwhile).
 * The transport waits for vback_xen_backend_add_done(); remove(NULL) calls
 * it off (cfg NULL), and then what the thread opened is closed.
 */
struct xd_pending {
	struct xd_pending *next;
	struct xen_daemon *xd;
	const struct vback_xen_device_config *cfg; /* NULL: called off */
	char name[48];
	char *path;
	bool read_only, discard, adopt;
	struct net_open open;
};

struct xen_daemon {
	struct xen_daemon_env env;
	const struct vback_disk_options *o;
	struct vback_log *log;
	struct vback_xen *xen;
	struct vback_xen_backend *be; /* discovery mode */
	struct vback_xen_domain *dom; /* explicit mode */
	struct xd_disk *disks;
	unsigned int nr_disks;
	struct xd_pending *pending;
	int sig_fd;
	enum stop_phase phase;
	struct vback_timer deadline; /* a stop that takes too long */
	unsigned int quiescing;	     /* disks a stop still waits for */
	unsigned int flushed;
	/* A second stop signal came: wait for nothing more. */
	bool hurry;
	char state_why[4200]; /* be_state()'s last reason */
};

/* ------------------------------------------------------------------ */
/* Disks                                                               */
/* ------------------------------------------------------------------ */

static void finish(struct xen_daemon *xd);

/* How @path is opened. */
static struct vback_io_options io_options(const struct xen_daemon *xd,
					  const char *path, bool read_only,
					  bool adopt)
{
	const struct vback_disk_options *o = xd->o;

	return (struct vback_io_options){
		.path = path,
		.engine = o->engine,
		.read_only = read_only,
		.direct = o->direct,
		.sqpoll = o->sqpoll,
		.timeout_ms = o->net_timeout_ms,
		.log = xd->log,
		.busy_wait_ms = adopt ? ADOPT_BUSY_WAIT_MS : 0,
	};
}

/* Open @path (or take @opened, a detached instance: owned from here on,
 * closed on failure) and create the virtio-blk device on it. */
static int disk_open(struct xen_daemon *xd, unsigned int domid,
		     const char *name, const char *path, bool read_only,
		     bool discard, bool adopt, struct vback_io *opened,
		     struct xd_disk **out)
{
	const struct vback_disk_options *o = xd->o;
	struct vback_blk_options blk_opts = {
		.num_queues = o->queues,
		.queue_size = (uint16_t)o->queue_size,
		.read_only = read_only,
		/* Write-back caching: guests then send flushes. */
		.writeback = true,
		/* The toolstack said discard-enable=0: never offered. */
		.disabled_features = discard ? 0 : 1ull << VBACK_BLK_F_DISCARD,
		.log = xd->log,
		.latency_histogram = true,
	};
	struct vback_io_caps caps;
	struct xd_disk *d;
	int ret;

	d = calloc(1, sizeof(*d));
	if (d)
		d->path = strdup(path);
	if (!d || !d->path) {
		free(d);
		if (opened)
			vback_io_close(opened);
		return -ENOMEM;
	}
	d->xd = xd;
	d->domid = domid;
	d->read_only = read_only;
	snprintf(d->name, sizeof(d->name), "%s", name);
	if (opened) {
		d->io = *opened;
		ret = vback_io_attach(&d->io);
	} else {
		struct vback_io_options io_opts =
			io_options(xd, path, read_only, adopt);

		ret = vback_io_open(&io_opts, xd->env.loop, &d->io);
	}
	if (ret < 0) {
		vback_logf(xd->log, VBACK_LOG_ERR, "%s: cannot open %s: %s",
			   name, path, vback_strerror(ret));
		if (opened)
			vback_io_close(&d->io);
		free(d->path);
		free(d);
		return ret;
	}
	d->io_open = true;
	ret = vback_io_get_caps(&d->io, &caps);
	if (ret < 0)
		goto fail;
	blk_opts.io = d->io;
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
	free(d->path);
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
	if (d->quiescing) {
		/* Removed while a stop waited for it: its quiesce was
		 * abandoned with the detach; what it had in flight
		 * completes in vback_io_close() below. */
		d->quiescing = false;
		if (!--xd->quiescing && xd->phase == STOPPING)
			finish(xd);
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
	if (d->state)
		munmap(d->state, d->state_len);
	free(d->state_path);
	free(d->path);
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

static void pending_free(struct xd_pending *p)
{
	free(p->path);
	free(p);
}

static void pending_unlink(struct xd_pending *p)
{
	for (struct xd_pending **pp = &p->xd->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			return;
		}
}

/* On the main loop: the thread has connected, or given up. */
static void pending_done(void *opaque)
{
	struct xd_pending *p = opaque;
	struct xen_daemon *xd = p->xd;
	const struct vback_xen_device_config *cfg = p->cfg;
	struct xd_disk *d = NULL;
	int ret = net_open_join(&p->open);

	pending_unlink(p);
	if (!cfg) { /* called off meanwhile */
		if (ret == 0)
			vback_io_close(&p->open.io);
		pending_free(p);
		return;
	}
	if (ret < 0) {
		vback_logf(xd->log, VBACK_LOG_ERR, "%s: cannot open %s: %s",
			   p->name, p->path, vback_strerror(ret));
	} else if (xd->phase != RUNNING) {
		vback_io_close(&p->open.io);
		ret = -ESHUTDOWN;
	} else {
		ret = disk_open(xd, cfg->domid, p->name, p->path, p->read_only,
				p->discard, p->adopt, &p->open.io, &d);
	}
	pending_free(p);
	vback_xen_backend_add_done(xd->be, cfg, ret,
				   ret < 0 ? NULL : vback_blk_dev(d->blk));
}

/* Open a network disk on a thread; the transport waits for it. */
static int pending_start(struct xen_daemon *xd,
			 const struct vback_xen_device_config *cfg,
			 const char *name)
{
	struct xd_pending *p = calloc(1, sizeof(*p));
	struct vback_io_options opts;
	int ret;

	if (p)
		p->path = strdup(cfg->params);
	if (!p || !p->path) {
		free(p);
		return -ENOMEM;
	}
	p->xd = xd;
	p->cfg = cfg;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->read_only = cfg->read_only || xd->o->read_only;
	p->discard = cfg->discard_enable;
	p->adopt = cfg->adopt;
	opts = io_options(xd, p->path, p->read_only, false);
	ret = net_open_start(&p->open, &opts, xd->env.loop, pending_done, p);
	if (ret < 0) {
		vback_logf(xd->log, VBACK_LOG_ERR,
			   "%s: cannot start a thread to open %s: %s", name,
			   p->path, vback_strerror(ret));
		pending_free(p);
		return ret;
	}
	p->next = xd->pending;
	xd->pending = p;
	vback_logf(xd->log, VBACK_LOG_INFO, "%s: connecting to %s", name,
		   p->path);
	return VBACK_XEN_ADD_PENDING;
}

/* Connects a second stop signal left running: their threads still read
 * them (the process is about to exit). */
static struct xd_pending *pending_left;

/* The daemon goes: wait for each thread (a second stop signal ends the
 * wait), close what it opened. */
static void pending_stop(struct xen_daemon *xd)
{
	struct vback_disk_stop_wait sw = { xd->log, xd->sig_fd, &xd->hurry };

	while (xd->pending) {
		struct xd_pending *p = xd->pending;

		/* A server that does not answer holds the exit this long:
		 * say why the daemon has not gone yet. */
		if (!xd->hurry)
			vback_logf(xd->log, VBACK_LOG_INFO,
				   "%s: still connecting to %s: waiting for it "
				   "to end (at most %u s; a second signal ends "
				   "the wait)",
				   p->name, p->path,
				   net_open_bound_s(&p->open));
		xd->pending = p->next;
		if (net_open_abandon(&p->open, vback_disk_stop_wait_over,
				     &sw)) {
			pending_free(p);
		} else {
			p->next = pending_left;
			pending_left = p;
		}
	}
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
	if (vback_io_is_network(cfg->params))
		return pending_start(xd, cfg, name);
	ret = disk_open(xd, cfg->domid, name, cfg->params,
			cfg->read_only || xd->o->read_only, cfg->discard_enable,
			cfg->adopt, NULL, &d);
	if (ret < 0)
		return ret;
	*dev = vback_blk_dev(d->blk);
	return 0;
}

static void be_remove(void *opaque, const struct vback_xen_device_config *cfg,
		      struct vback_dev *dev)
{
	struct xen_daemon *xd = opaque;
	struct xd_disk *d;

	if (!dev) { /* a pending add called off: the thread's end frees it */
		for (struct xd_pending *p = xd->pending; p; p = p->next)
			if (p->cfg == cfg) {
				vback_logf(xd->log, VBACK_LOG_INFO,
					   "%s: no longer wanted", p->name);
				p->cfg = NULL;
			}
		return;
	}
	d = disk_of_dev(xd, dev);
	if (!d) {
		vback_logf(xd->log, VBACK_LOG_ERR,
			   "dom%u/%u: removal of a device never added",
			   cfg->domid, cfg->devid);
		return;
	}
	disk_close(d);
}

/*
 * The device's state file: --state-dir/dom<D>-<layout>-<devid>.state, 0600,
 * in a directory of ours (0700). A tmpfs like /run outlives the process,
 * not the host. 1 when it held something (to adopt), 0 when new, -errno
 * with the file and what is wrong in *@why (the transport logs it, once).
 */
static int be_state(void *opaque, const struct vback_xen_device_config *cfg,
		    size_t len, void **mem, const char **why)
{
	struct xen_daemon *xd = opaque;
	const char *dir = xd->o->state_dir;
	struct xd_disk *d;
	char path[4096];
	struct stat st;
	bool held;
	void *p;
	int fd, ret;

	if (!dir)
		return -ENOTSUP;
	/* Called right after add() for the same device: the newest disk. */
	d = xd->disks;
	if (!d || d->domid != cfg->domid || d->state)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/dom%u-%s-%u.state", dir, cfg->domid,
		 cfg->layout == VBACK_XEN_LAYOUT_VIRTIO_DISK ? "virtio_disk"
							     : "virtio",
		 cfg->devid);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		snprintf(xd->state_why, sizeof(xd->state_why), "%s: %s", dir,
			 vback_strerror(ret));
		*why = xd->state_why;
		return ret;
	}
	/* A device to take over has its file, or nothing to take over. */
	fd = open(path,
		  O_RDWR | O_CLOEXEC | O_NOFOLLOW | (cfg->adopt ? 0 : O_CREAT),
		  0600);
	if (fd < 0 && errno == ENOENT && cfg->adopt) {
		snprintf(xd->state_why, sizeof(xd->state_why),
			 "no saved state (no %s)", path);
		*why = xd->state_why;
		return -ENOENT;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(xd->state_why, sizeof(xd->state_why), "%s: %s", path,
			 vback_strerror(ret));
		goto fail;
	}
	held = st.st_size > 0;
	if (!S_ISREG(st.st_mode) || (held && (uint64_t)st.st_size != len)) {
		/* Not ours, or another shape: never taken over; a new device
		 * starts it afresh. */
		if (cfg->adopt || !S_ISREG(st.st_mode)) {
			if (S_ISREG(st.st_mode))
				snprintf(xd->state_why, sizeof(xd->state_why),
					 "%s: wrong size: %lld bytes, %zu "
					 "expected",
					 path, (long long)st.st_size, len);
			else
				snprintf(xd->state_why, sizeof(xd->state_why),
					 "%s: not a regular file", path);
			ret = -EINVAL;
			goto fail;
		}
		held = false;
	}
	if ((!held &&
	     (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)len) < 0))) {
		ret = -errno;
		snprintf(xd->state_why, sizeof(xd->state_why), "%s: %s", path,
			 vback_strerror(ret));
		goto fail;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		snprintf(xd->state_why, sizeof(xd->state_why), "%s: %s", path,
			 vback_strerror(ret));
		goto fail;
	}
	close(fd);
	d->state = p;
	d->state_len = len;
	d->state_path = strdup(path);
	*mem = p;
	return held ? 1 : 0;
fail:
	if (fd >= 0)
		close(fd);
	*why = xd->state_why;
	return ret;
}

static void be_state_release(void *opaque,
			     const struct vback_xen_device_config *cfg,
			     void *mem, size_t len, bool forget)
{
	struct xen_daemon *xd = opaque;
	struct xd_disk *d;

	(void)cfg;
	for (d = xd->disks; d; d = d->next) {
		if (d->state != mem)
			continue;
		/* The device is gone for good: its state is no use. */
		if (forget && d->state_path)
			unlink(d->state_path);
		munmap(d->state, d->state_len);
		d->state = NULL;
		return;
	}
	munmap(mem, len);
}

static const struct vback_xen_backend_ops be_ops = {
	.add = be_add,
	.remove = be_remove,
	.state = be_state,
	.state_release = be_state_release,
};

/* ------------------------------------------------------------------ */
/* Stopping: drain, flush, finish                                      */
/* ------------------------------------------------------------------ */

/* Nothing more to do: stop the loop; xen_daemon_destroy() follows. */
static void stop_loop(struct xen_daemon *xd)
{
	xd->phase = FINISHED;
	vback_timer_cancel(xd->env.loop, &xd->deadline);
	vback_loop_stop(xd->env.loop);
}

static void finish(struct xen_daemon *xd)
{
	vback_logf(xd->log, VBACK_LOG_INFO,
		   "stopped: %u disk%s flushed, tearing down", xd->flushed,
		   xd->flushed == 1 ? "" : "s");
	stop_loop(xd);
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

/* A disk drained and flushed (vback_dev_quiesce()). */
static void disk_quiesced(void *opaque, int result)
{
	struct xd_disk *d = opaque;
	struct xen_daemon *xd = d->xd;

	d->quiescing = false;
	xd->quiescing--;
	if (result < 0)
		vback_logf(xd->log, VBACK_LOG_ERR, "%s: flush failed: %s",
			   d->name, vback_strerror(result));
	else if (!d->read_only)
		xd->flushed++;
	if (!xd->quiescing && xd->phase == STOPPING)
		finish(xd);
}

static void stop_timeout(void *opaque)
{
	struct xen_daemon *xd = opaque;

	vback_logf(xd->log, VBACK_LOG_WARN,
		   "%u requests still in flight after %u ms: stopping without "
		   "them",
		   inflight(xd), xd->env.drain_timeout_ms);
	finish(xd);
}

static void begin_stop(struct xen_daemon *xd)
{
	struct xd_disk *d;

	/* No new requests: the rings stay where they are, and what is in
	 * flight completes and is published to the guest as usual; then
	 * each writable disk is flushed. The library tells us when. */
	xd->phase = STOPPING;
	vback_logf(xd->log, VBACK_LOG_INFO,
		   "stopping: %u disk%s, %u requests in flight", xd->nr_disks,
		   xd->nr_disks == 1 ? "" : "s", inflight(xd));
	for (d = xd->disks; d; d = d->next) {
		if (!d->blk || vback_dev_quiesce(vback_blk_dev(d->blk),
						 disk_quiesced, d) < 0)
			continue; /* not served: nothing in flight */
		d->quiescing = true;
		xd->quiescing++;
	}
	if (!xd->quiescing) {
		finish(xd);
		return;
	}
	vback_timer_arm(xd->env.loop, &xd->deadline,
			(uint64_t)xd->env.drain_timeout_ms * 1000000u, 0);
}

static void resize_all(struct xen_daemon *xd)
{
	struct xd_disk *d;
	uint64_t size = 0;
	int ret;

	for (d = xd->disks; d; d = d->next) {
		if (!d->blk)
			continue;
		ret = vback_blk_refresh_size(d->blk, &size);
		if (ret < 0 && ret != -EOPNOTSUPP)
			vback_logf(xd->log, VBACK_LOG_ERR, "%s: resize: %s",
				   d->name, vback_strerror(ret));
		if (ret == 1)
			vback_logf(xd->log, VBACK_LOG_INFO,
				   "%s: resized to %llu bytes", d->name,
				   (unsigned long long)size);
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
	case STOPPING:
		vback_logf(xd->log, VBACK_LOG_WARN,
			   "second signal: stopping without waiting for IO");
		xd->hurry = true;
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
	xd->sig_fd = -1;
	vback_timer_init(&xd->deadline, stop_timeout, xd);
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
		ret = disk_open(xd, (unsigned int)o->domid, name, x->path,
				x->read_only || o->read_only, true, false, NULL,
				&d);
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

/* The domain whose backend/ tree libxl fills for us: --backend-domid, or
 * the one we run in (Dom0 or a driver domain), as xenstore says. */
static int backend_domid(struct xen_daemon *xd, uint16_t *out)
{
	int ret;

	if (xd->o->backend_domid >= 0) {
		*out = (uint16_t)xd->o->backend_domid;
		return 0;
	}
	ret = vback_xen_self_domid(xd->xen, out);
	if (ret == -ENOENT) {
		vback_logf(xd->log, VBACK_LOG_INFO, "%s",
			   "xenstore has no 'domid' node for this domain: "
			   "taking it for Dom0 (--backend-domid N says "
			   "otherwise)");
		*out = 0;
		return 0;
	}
	if (ret < 0)
		vback_logf(xd->log, VBACK_LOG_ERR,
			   "cannot read this domain's id from xenstore: %s "
			   "(is xenstored running? --backend-domid N gives "
			   "it)",
			   vback_strerror(ret));
	return ret;
}

int xen_daemon_start(struct xen_daemon *xd, struct vback_xen *xen)
{
	struct vback_xen_backend_options bo = {
		.ops = &be_ops,
		.opaque = xd,
		.irq_mode = xd->env.irq_mode,
	};
	int ret;

	xd->xen = xen;
	if (xd->o->domid >= 0)
		return start_explicit(xd);
	ret = backend_domid(xd, &bo.backend_domid);
	if (ret < 0)
		return ret;
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
		   (unsigned int)bo.backend_domid);
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
	/* Discovery: remove() closes each disk (device already detached).
	 * A stop with state kept (a restart) hands every device over: the
	 * guests keep their IOREQ servers and windows until the next
	 * vback-disk takes them over. */
	if (xd->be && xd->phase == FINISHED && xd->o->state_dir) {
		unsigned int n = xd->nr_disks;

		vback_xen_backend_handover(xd->be);
		vback_logf(
			xd->log, VBACK_LOG_INFO,
			"handed over: %u disk%s left for the next vback-disk "
			"(state in %s)",
			n, n == 1 ? "" : "s", xd->o->state_dir);
	} else if (xd->be) {
		vback_xen_backend_stop(xd->be);
	}
	/* Connects still under way were called off above: wait for their
	 * threads (each at most the IO timeout). */
	pending_stop(xd);
	/* Explicit: the documented order, domain last. */
	close_all_disks(xd);
	vback_xen_domain_destroy(xd->dom);
	vback_timer_cancel(xd->env.loop, &xd->deadline);
	if (xd->sig_fd >= 0) {
		vback_loop_unwatch(xd->env.loop, xd->sig_fd);
		close(xd->sig_fd);
	}
	free(xd);
}

/* ------------------------------------------------------------------ */
/* Control commands                                                    */
/* ------------------------------------------------------------------ */

static struct xd_disk *find(const struct xen_daemon *xd, const char *name)
{
	for (struct xd_disk *d = xd->disks; d; d = d->next)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

/* A network disk still connecting (not called off), by name. */
static const struct xd_pending *find_pending(const struct xen_daemon *xd,
					     const char *name)
{
	for (const struct xd_pending *p = xd->pending; p; p = p->next)
		if (p->cfg && !strcmp(p->name, name))
			return p;
	return NULL;
}

/* Every queue on the one loop: read where we are. */
static int xen_qstats(void *opaque, struct vback_blk *blk, unsigned int q,
		      struct vback_blk_queue_stats *out)
{
	(void)opaque;
	return vback_blk_get_queue_stats(blk, q, out);
}

static void disk_json(struct jw *w, struct xd_disk *d)
{
	jw_object(w);
	jw_key(w, "name");
	jw_string(w, d->name);
	jw_key(w, "image");
	jw_string(w, d->path);
	stats_json_disk(w, d->blk, NULL, xen_qstats, NULL);
	jw_object_end(w);
}

/* Domains in increasing domid order, each with its disks (the list holds
 * them newest first). */
static int ctl_list(void *opaque, const struct ctl_request *req, struct jw *w,
		    char *msg)
{
	struct xen_daemon *xd = opaque;
	long last = -1;

	if (req->name && !find(xd, req->name) && !find_pending(xd, req->name)) {
		snprintf(msg, CTL_MAX_MSG, "no disk named %s", req->name);
		return -ENOENT;
	}
	jw_object(w);
	jw_key(w, "mode");
	jw_string(w, "xen");
	jw_key(w, "version");
	jw_string(w, VBACK_VERSION);
	jw_key(w, "time_ns");
	jw_u64(w, vback_loop_now(xd->env.loop));
	jw_key(w, "domains");
	jw_array(w);
	for (;;) {
		long next = -1;
		struct xd_disk *d;

		for (d = xd->disks; d; d = d->next)
			if (d->blk && (long)d->domid > last &&
			    (next < 0 || (long)d->domid < next) &&
			    (!req->name || !strcmp(req->name, d->name)))
				next = d->domid;
		if (next < 0)
			break;
		jw_object(w);
		jw_key(w, "domid");
		jw_u64(w, (uint64_t)next);
		jw_key(w, "disks");
		jw_array(w);
		for (d = xd->disks; d; d = d->next)
			if (d->blk && (long)d->domid == next &&
			    (!req->name || !strcmp(req->name, d->name)))
				disk_json(w, d);
		jw_array_end(w);
		jw_object_end(w);
		last = next;
	}
	jw_array_end(w);
	/* Network disks whose server has not answered yet. */
	jw_key(w, "connecting");
	jw_array(w);
	for (const struct xd_pending *p = xd->pending; p; p = p->next) {
		if (!p->cfg || (req->name && strcmp(req->name, p->name)))
			continue;
		jw_object(w);
		jw_key(w, "name");
		jw_string(w, p->name);
		jw_key(w, "image");
		jw_string(w, p->path);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
	return 0;
}

static int ctl_resize(void *opaque, const struct ctl_request *req, struct jw *w,
		      char *msg)
{
	struct xen_daemon *xd = opaque;
	struct xd_disk *d = find(xd, req->name);

	if (!d || !d->blk) {
		snprintf(msg, CTL_MAX_MSG, "no disk named %s", req->name);
		return -ENOENT;
	}
	return ctl_common_resize(xd->log, d->blk, d->name, w, msg);
}

static int ctl_log_level(void *opaque, const struct ctl_request *req,
			 struct jw *w, char *msg)
{
	struct xen_daemon *xd = opaque;

	return ctl_common_log_level(xd->log, req, w, msg);
}

const struct ctl_ops xen_daemon_ctl_ops = {
	.list = ctl_list,
	.resize = ctl_resize,
	.log_level = ctl_log_level,
};
