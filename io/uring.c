/* SPDX-License-Identifier: MIT */
/*
 * The io_uring engine. submit() only fills SQEs; unplug() submits the whole
 * batch with one system call and reaps what completed inside it. The loop
 * watches the ring's own fd, which is readable while completions wait, so
 * a completion costs no eventfd signal and no read() to clear it; on a
 * loop that polls, the completion ring is also a poller (nothing to wake
 * at all while the loop is busy). The disk is a registered (fixed) file.
 * What io_uring cannot finish in one go - short transfers, O_DIRECT
 * buffers the guest did not align, block-device discard and zeroing, the
 * write-zeroes fallbacks - continues on a small worker pool that completes
 * through an eventfd.
 *
 * Files on memory-backed filesystems (tmpfs, ramfs, hugetlbfs) are a case
 * of their own: a kernel whose tmpfs has no non-blocking reads (no
 * RWF_NOWAIT) makes io_uring hand every request on them to one of its
 * worker threads, two thread switches per request for a copy that never
 * waits for a device. There, reads, writes and flushes run inline on the
 * loop thread at unplug() (preadv/pwritev: the same copy without the
 * switches); the rest still goes through the ring.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include <vback/io.h>

#include "config.h"
#include "io_internal.h"
#include "vb_ratelimit.h"

#if VBACK_HAVE_URING
#include <linux/falloc.h>
#include <liburing.h>

/* Slow-path workers: they only see the rare requests io_uring cannot do. */
#define RING_POOL_WORKERS 2
/* SQPOLL: how long the kernel's submission thread spins after the last
 * submission before it sleeps (and a submit has to wake it). */
#define RING_SQPOLL_IDLE_MS 1
/* Fixed buffers (guest memory, O_DIRECT): the kernel takes at most 1 GiB
 * per buffer, so a region is registered in pieces of that size. */
#define RING_FIXED_MAX	   64u
#define RING_FIXED_MAX_LEN (1ull << 30)

struct ring_io {
	struct io_disk disk;
	struct io_uring ring;
	struct io_pool *pool;
	const struct vback_loop *loop;
	int efd; /* the pool's completions */
	bool ring_watched;
	struct vback_poller
		poller; /* the completion ring, when the loop polls */
	unsigned int depth;
	bool sqpoll;
	unsigned int inflight;	  /* accepted, done() not yet called */
	unsigned int in_ring;	  /* SQEs queued or submitted, not reaped */
	unsigned int unsubmitted; /* SQEs not yet given to the kernel */
	/* io_uring_register_ring_fd() was tried (on the loop's thread). */
	bool ring_fd_registered;
	bool closing;
	bool reaping; /* inside ring_reap(): done() callbacks are running */
	struct vb_ratelimit warn_rl; /* per request: guest-driven */
	/* Memory-backed file without non-blocking reads: READ, WRITE and
	 * FLUSH wait on this list for unplug() or the posted round. */
	bool inline_rw;
	struct vback_io_req *inl_head, *inl_tail;
	struct vback_work inl_work;
	/* set_buffers() with O_DIRECT: registered fixed buffers. */
	struct iovec fixed[RING_FIXED_MAX];
	unsigned int nfixed;
	uint64_t fixed_reqs; /* requests that used them (tests) */
	bool fixed_warned;
};

/* Rounds of submit-then-reap one unplug() may run: page-cache hits come
 * back inside io_uring_enter(), and a callback that resubmits must not
 * keep the loop from its other fds forever. */
#define RING_INLINE_ROUNDS 16

static void ring_to_pool(struct ring_io *r, struct vback_io_req *req)
{
	io_pool_queue(r->pool, req);
}

/* The registered buffer holding all of [@p, @p + @len), or -1. */
static int fixed_index(const struct ring_io *r, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;

	for (unsigned int i = 0; i < r->nfixed; i++) {
		uintptr_t b = (uintptr_t)r->fixed[i].iov_base;

		if (a >= b && len <= r->fixed[i].iov_len &&
		    a - b <= r->fixed[i].iov_len - len)
			return (int)i;
	}
	return -1;
}

/* Fill one SQE for @req (SECURE_ERASE never gets here: no caps bit). */
static void ring_prep(struct ring_io *r, struct io_uring_sqe *sqe,
		      struct vback_io_req *req)
{
	const struct vback_iovec *iov = req->iov;
	int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	int zero = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	int buf = -1;

	/* A single buffer skips the kernel's iovec import; inside a fixed
	 * buffer it also skips pinning its pages. */
	if (r->nfixed && req->iovcnt == 1)
		buf = fixed_index(r, iov[0].iov_base, iov[0].iov_len);
	if (buf >= 0)
		r->fixed_reqs++;
	switch (req->op) {
	case VBACK_IO_READ:
		if (buf >= 0)
			io_uring_prep_read_fixed(sqe, 0, iov[0].iov_base,
						 (unsigned int)iov[0].iov_len,
						 req->offset, buf);
		else if (req->iovcnt == 1)
			io_uring_prep_read(sqe, 0, iov[0].iov_base,
					   (unsigned int)iov[0].iov_len,
					   req->offset);
		else
			io_uring_prep_readv(
				sqe, 0, (const struct iovec *)(const void *)iov,
				req->iovcnt, req->offset);
		break;
	case VBACK_IO_WRITE:
		if (buf >= 0)
			io_uring_prep_write_fixed(sqe, 0, iov[0].iov_base,
						  (unsigned int)iov[0].iov_len,
						  req->offset, buf);
		else if (req->iovcnt == 1)
			io_uring_prep_write(sqe, 0, iov[0].iov_base,
					    (unsigned int)iov[0].iov_len,
					    req->offset);
		else
			io_uring_prep_writev(
				sqe, 0, (const struct iovec *)(const void *)iov,
				req->iovcnt, req->offset);
		break;
	case VBACK_IO_FLUSH:
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
		break;
	case VBACK_IO_DISCARD:
		io_uring_prep_fallocate(sqe, 0, punch, req->offset, req->len);
		break;
	case VBACK_IO_WRITE_ZEROES:
		io_uring_prep_fallocate(sqe, 0,
					req->flags & VBACK_IO_F_UNMAP ? punch
								      : zero,
					req->offset, req->len);
		break;
	case VBACK_IO_SECURE_ERASE:
		io_uring_prep_nop(sqe);
		break;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, req);
}

static bool needs_pool(const struct ring_io *r, const struct vback_io_req *req)
{
	switch (req->op) {
	case VBACK_IO_READ:
	case VBACK_IO_WRITE:
		/* io_uring_prep_read() takes a 32-bit length, readv at most
		 * UIO_MAXIOV vectors: the sync path takes any. */
		if (req->iovcnt == 1 && req->iov[0].iov_len > UINT32_MAX)
			return true;
		if (req->iovcnt > IO_MAX_SEGMENTS)
			return true;
		return r->disk.direct && !io_disk_iov_aligned(&r->disk, req);
	case VBACK_IO_DISCARD:
	case VBACK_IO_WRITE_ZEROES:
		/* BLKDISCARD and BLKZEROOUT have no io_uring opcode here. */
		return r->disk.is_blk;
	default:
		return false;
	}
}

/* Guests drive submissions: the warning is rate-limited. */
static void submit_failed(struct ring_io *r, int err)
{
	uint32_t dropped;

	if (!vb_ratelimit(&r->warn_rl, vback_loop_now(r->loop), &dropped))
		return;
	if (dropped)
		vback_logf(r->disk.log, VBACK_LOG_WARN,
			   "io: %u io_uring submit failures not logged",
			   (unsigned int)dropped);
	vback_logf(r->disk.log, VBACK_LOG_WARN, "io: io_uring submit: %s",
		   vback_strerror(err));
}

/* Hand the queued SQEs to the kernel; false if it refused them. */
static bool ring_flush_sq(struct ring_io *r)
{
	int ret;

	/*
	 * Saves a file lookup per io_uring_enter() (5.18; optional). A
	 * registered ring fd is the registering thread's only: another
	 * thread's io_uring_enter() with it fails. So it is registered here,
	 * at the first submission, on the loop's thread, which makes every
	 * later one (and close(), see vback_io_ops::close) - not at setup,
	 * which may run on another thread (vback_io_clone() before the loop
	 * runs).
	 */
	if (!r->ring_fd_registered && r->unsubmitted) {
		r->ring_fd_registered = true;
		(void)io_uring_register_ring_fd(&r->ring);
	}
	while (r->unsubmitted) {
		ret = io_uring_submit(&r->ring);
		if (ret == -EINTR)
			continue;
		if (ret <= 0) {
			/* SQEs stay in the ring; the next completion or
			 * unplug() tries again. */
			if (ret < 0)
				submit_failed(r, ret);
			return false;
		}
		r->unsubmitted -= (unsigned int)ret;
	}
	return true;
}

static bool runs_inline(const struct ring_io *r, const struct vback_io_req *req)
{
	return r->inline_rw &&
	       (req->op == VBACK_IO_READ || req->op == VBACK_IO_WRITE ||
		req->op == VBACK_IO_FLUSH);
}

static void inline_queue(struct ring_io *r, struct vback_io_req *req)
{
	io_req_set_next(req, NULL);
	if (r->inl_tail)
		io_req_set_next(r->inl_tail, req);
	else
		r->inl_head = req;
	r->inl_tail = req;
	/* Runs from the loop if nobody unplugs (idempotent). */
	vback_loop_post(r->loop, &r->inl_work);
}

static int ring_submit(void *opaque, struct vback_io_req *req)
{
	struct ring_io *r = opaque;
	struct io_uring_sqe *sqe;
	int ret;

	if (r->closing)
		return -ESHUTDOWN;
	io_disk_sync_size(&r->disk);
	ret = io_req_check(&r->disk.caps, req);
	if (ret)
		return ret;
	if (r->inflight >= r->depth)
		return -EAGAIN;
	if (runs_inline(r, req)) {
		r->inflight++;
		inline_queue(r, req);
		return 0;
	}
	if (needs_pool(r, req)) {
		r->inflight++;
		ring_to_pool(r, req);
		return 0;
	}
	sqe = io_uring_get_sqe(&r->ring);
	if (!sqe) {
		/* The SQ ring holds depth entries, so this is rare: hand
		 * the batch to the kernel and take a fresh slot. */
		ring_flush_sq(r);
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return r->inflight ? -EAGAIN : -EBUSY;
	}
	ring_prep(r, sqe, req);
	r->inflight++;
	r->in_ring++;
	r->unsubmitted++;
	return 0;
}

static void complete(struct ring_io *r, struct vback_io_req *req, int res)
{
	r->inflight--;
	req->done(req, res);
}

/* One CQE: finish the request, or send the rest of it to the pool. */
static void ring_handle(struct ring_io *r, struct vback_io_req *req, int res)
{
	uint64_t want;

	switch (req->op) {
	case VBACK_IO_READ:
	case VBACK_IO_WRITE:
		want = req->backend[IO_SCR_TOTAL];
		if (res == -EAGAIN || res == -EINTR ||
		    ((res == -EINVAL || res == -EFAULT) && r->disk.direct)) {
			/* Retry synchronously; the pool bounces buffers the
			 * kernel found misaligned, or could not pin (O_DIRECT
			 * on memory mapped as VM_IO|VM_PFNMAP, like Xen
			 * foreign mappings: EFAULT). */
			ring_to_pool(r, req);
			return;
		}
		if (res > 0 && (uint64_t)res < want) {
			/* Short transfer: the pool resumes after it. */
			req->backend[IO_SCR_DONE] = (uintptr_t)res;
			ring_to_pool(r, req);
			return;
		}
		if (res == 0 && want)
			res = -EIO;
		break;
	case VBACK_IO_DISCARD:
		if (res == -EOPNOTSUPP || res == -EINVAL)
			res = 0; /* a hint the disk cannot take */
		break;
	case VBACK_IO_WRITE_ZEROES:
		if (res == -EOPNOTSUPP || res == -EINVAL) {
			/* The pool tries the other ways, down to writing
			 * zeroes. */
			ring_to_pool(r, req);
			return;
		}
		break;
	default:
		break;
	}
	complete(r, req, res < 0 ? res : 0);
}

static void ring_reap(struct ring_io *r)
{
	bool was_reaping = r->reaping;
	struct io_uring_cqe *cqe;
	struct vback_io_req *req;

	r->reaping = true;
	while (io_uring_peek_cqe(&r->ring, &cqe) == 0) {
		int res = cqe->res;

		req = io_uring_cqe_get_data(cqe);
		/* Free the CQE before done() may submit again. */
		io_uring_cqe_seen(&r->ring, cqe);
		r->in_ring--;
		ring_handle(r, req, res);
	}
	req = io_pool_take_done(r->pool);
	while (req) {
		struct vback_io_req *next = io_req_next(req);

		complete(r, req, io_req_result(req));
		req = next;
	}
	r->reaping = was_reaping;
}

static void ring_unplug(void *opaque);

/*
 * Run the inline requests queued so far (memory-backed files); those the
 * done() callbacks submit wait for the next round, so a callback that
 * always resubmits cannot keep us here.
 */
static void inline_run(struct ring_io *r)
{
	struct vback_io_req *req = r->inl_head;
	bool was_reaping = r->reaping;

	r->inl_head = r->inl_tail = NULL;
	r->reaping = true;
	while (req) {
		struct vback_io_req *next = io_req_next(req);
		int ret = io_sync_exec(&r->disk, req, NULL);

		complete(r, req, ret);
		req = next;
	}
	r->reaping = was_reaping;
}

static void inline_work(void *opaque)
{
	struct ring_io *r = opaque;

	inline_run(r);
	/* What the callbacks submitted goes out now. */
	ring_unplug(r);
}

static void ring_unplug(void *opaque)
{
	struct ring_io *r = opaque;

	/* From inside a done() callback only queue: the caller runs it. */
	if (r->inl_head && !r->reaping)
		inline_run(r);
	for (int i = 0; i < RING_INLINE_ROUNDS; i++) {
		if (!ring_flush_sq(r))
			return;
		/* From inside a done() callback only submit: the reaping
		 * caller picks up what completes, and the stack stays flat. */
		if (r->reaping || !r->in_ring ||
		    io_uring_cq_ready(&r->ring) == 0)
			return;
		ring_reap(r);
	}
}

/* The worker pool finished requests. */
static void ring_on_pool(void *opaque, int fd, uint32_t events)
{
	struct ring_io *r = opaque;

	(void)events;
	io_eventfd_drain(fd);
	ring_reap(r);
	/* Callbacks that resubmitted without unplug() still make progress. */
	ring_unplug(r);
}

/* The ring fd is readable: completions are waiting. */
static void ring_on_ring(void *opaque, int fd, uint32_t events)
{
	struct ring_io *r = opaque;

	(void)fd;
	(void)events;
	ring_reap(r);
	ring_unplug(r);
}

static bool ring_poll(void *opaque)
{
	struct ring_io *r = opaque;

	if (!io_uring_cq_ready(&r->ring))
		return false;
	ring_reap(r);
	ring_unplug(r);
	return true;
}

/*
 * Guest memory as fixed buffers: with O_DIRECT each request would pin its
 * pages, and registering pins them once. Without O_DIRECT the copy
 * through the page cache pins nothing: nothing to do.
 */
static int ring_set_buffers(void *opaque, const struct vback_iovec *ranges,
			    unsigned int n)
{
	struct ring_io *r = opaque;
	struct iovec pieces[RING_FIXED_MAX];
	unsigned int count = 0;
	int ret;

	if (r->inflight)
		return -EBUSY;
	if (r->nfixed) {
		(void)io_uring_unregister_buffers(&r->ring);
		r->nfixed = 0;
	}
	if (!n || !r->disk.direct)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *p = ranges[i].iov_base;
		size_t left = ranges[i].iov_len;

		while (left) {
			size_t len = left < RING_FIXED_MAX_LEN
					     ? left
					     : (size_t)RING_FIXED_MAX_LEN;

			if (count == RING_FIXED_MAX) {
				ret = -E2BIG;
				goto fail;
			}
			pieces[count++] = (struct iovec){ p, len };
			p += len;
			left -= len;
		}
	}
	ret = io_uring_register_buffers(&r->ring, pieces, count);
	if (ret < 0)
		goto fail;
	memcpy(r->fixed, pieces, count * sizeof(pieces[0]));
	r->nfixed = count;
	return 0;
fail:
	/* RLIMIT_MEMLOCK without CAP_IPC_LOCK, a region too large: say it
	 * once, requests pin their pages one by one as before. */
	if (!r->fixed_warned)
		vback_logf(r->disk.log, VBACK_LOG_INFO,
			   "io: guest memory not registered with io_uring "
			   "(%s): requests pin their pages one by one",
			   vback_strerror(ret));
	r->fixed_warned = true;
	return ret;
}

static int ring_get_caps(void *opaque, struct vback_io_caps *caps)
{
	struct ring_io *r = opaque;

	io_disk_sync_size(&r->disk);
	*caps = r->disk.caps;
	return 0;
}

static int ring_setup(const struct vback_io_options *opts,
		      const struct ring_io *from, const struct vback_loop *loop,
		      struct vback_io *out, bool *unavailable);

/* A ring of its own on the same open file. */
static int ring_clone(void *opaque, const struct vback_loop *loop,
		      struct vback_io *out)
{
	bool unavailable;

	return ring_setup(NULL, opaque, loop, out, &unavailable);
}

static int ring_refresh_size(void *opaque, uint64_t *size_bytes)
{
	struct ring_io *r = opaque;

	return io_disk_refresh_size(&r->disk, size_bytes);
}

static void ring_close(void *opaque)
{
	struct ring_io *r = opaque;
	struct io_uring_cqe *cqe;

	r->closing = true;
	while (r->inl_head)
		inline_run(r);
	vback_loop_cancel(r->loop, &r->inl_work);
	ring_unplug(r);
	/* The ring may hand work to the pool, never the other way round:
	 * drain the ring first, then the pool. */
	while (r->in_ring && !r->unsubmitted) {
		int ret = io_uring_wait_cqe(&r->ring, &cqe);

		if (ret && ret != -EINTR)
			break;
		ring_reap(r);
	}
	io_pool_wait_idle(r->pool);
	ring_reap(r);
	io_pool_destroy(r->pool);
	vback_loop_poller_remove(r->loop, &r->poller);
	vback_loop_unwatch(r->loop, r->efd);
	if (r->ring_watched)
		vback_loop_unwatch(r->loop, r->ring.ring_fd);
	/* The ring is torn down asynchronously and would keep the disk open
	 * (and locked) for a while: drop the fixed file first, so a new
	 * instance can open the disk as soon as we return. */
	io_uring_unregister_files(&r->ring);
	io_uring_queue_exit(&r->ring);
	close(r->efd);
	io_disk_close(&r->disk);
	free(r);
}

const struct vback_io_ops io_ring_ops = {
	.submit = ring_submit,
	.unplug = ring_unplug,
	.get_caps = ring_get_caps,
	.refresh_size = ring_refresh_size,
	.close = ring_close,
	.set_buffers = ring_set_buffers,
	.clone = ring_clone,
};

/*
 * Does io_uring hand this file's reads to its worker threads although
 * they never wait for a device? A file on a memory-backed filesystem
 * whose kernel has no non-blocking reads for it (RWF_NOWAIT refused;
 * io_uring then punts every request). O_DIRECT files keep the ring.
 */
static bool memfs_without_nowait(const struct io_disk *disk)
{
	struct statfs sfs;
	char byte;
	struct iovec iov = { &byte, 1 };

	if (disk->is_blk || disk->direct || fstatfs(disk->fd, &sfs) < 0)
		return false;
	if (sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC &&
	    sfs.f_type != HUGETLBFS_MAGIC)
		return false;
	/* One byte (a zero-length read returns before the flag is looked
	 * at): EOPNOTSUPP says the filesystem has no non-blocking reads. */
	return preadv2(disk->fd, &iov, 1, 0, RWF_NOWAIT) < 0 &&
	       errno == EOPNOTSUPP;
}

/* Errors of io_uring_queue_init() that mean "not here", not "broken". */
static bool ring_refused(int ret)
{
	return ret == -ENOSYS || ret == -EPERM || ret == -EACCES ||
	       ret == -EOPNOTSUPP;
}

/*
 * A ring on @opts->path, or on @from's open file with @from's settings (a
 * clone, vback_io_clone()).
 */
static int ring_setup(const struct vback_io_options *opts,
		      const struct ring_io *from, const struct vback_loop *loop,
		      struct vback_io *out, bool *unavailable)
{
	struct ring_io *r;
	int ret;

	*unavailable = false;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	if (from) {
		r->depth = from->depth;
		r->sqpoll = from->sqpoll;
	} else {
		r->depth = opts->queue_depth ? opts->queue_depth
					     : IO_DEFAULT_DEPTH;
		r->sqpoll = opts->sqpoll;
	}
	r->efd = -1;
	/* The ring first: if the kernel refuses it, nothing else is open
	 * and the caller falls back to posix. COOP_TASKRUN (5.19): the
	 * kernel need not interrupt us to run completion work, we enter the
	 * ring often enough; older kernels refuse the flag. */
	{
		struct io_uring_params p = {
			.flags = IORING_SETUP_COOP_TASKRUN
		};

		/* SQPOLL: a kernel thread takes the SQEs, no system call
		 * per batch while it is awake; it sleeps after idle ms. */
		if (r->sqpoll) {
			p.flags |= IORING_SETUP_SQPOLL;
			p.sq_thread_idle = RING_SQPOLL_IDLE_MS;
		}
		ret = io_uring_queue_init_params(r->depth, &r->ring, &p);
		if (ret == -EINVAL) {
			p.flags &= ~(unsigned int)IORING_SETUP_COOP_TASKRUN;
			ret = io_uring_queue_init_params(r->depth, &r->ring,
							 &p);
		}
	}
	if (ret) {
		*unavailable = ring_refused(ret);
		free(r);
		return ret;
	}
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		ret = -errno;
		goto fail_ring;
	}
	ret = from ? io_disk_dup(&r->disk, &from->disk)
		   : io_disk_open(&r->disk, opts);
	if (ret)
		goto fail_efd;
	ret = io_uring_register_files(&r->ring, &r->disk.fd, 1);
	if (ret)
		goto fail_disk;
	vback_work_init(&r->inl_work, inline_work, r);
	r->inline_rw =
		from ? from->inline_rw
		     : !opts->memfs_via_uring && memfs_without_nowait(&r->disk);
	ret = io_pool_create(&r->disk, RING_POOL_WORKERS, r->efd, &r->pool);
	if (ret)
		goto fail_disk;
	ret = vback_loop_watch(loop, r->efd, VBACK_EV_IN, ring_on_pool, r);
	if (ret)
		goto fail_pool;
	ret = vback_loop_watch(loop, r->ring.ring_fd, VBACK_EV_IN, ring_on_ring,
			       r);
	if (ret)
		goto fail_watch;
	r->ring_watched = true;
	vback_poller_init(&r->poller, ring_poll, NULL, NULL, r);
	(void)vback_loop_poller_add(loop, &r->poller);
	out->ops = &io_ring_ops;
	out->opaque = r;
	return 0;
fail_watch:
	vback_loop_unwatch(loop, r->efd);
fail_pool:
	io_pool_destroy(r->pool);
fail_disk:
	io_disk_close(&r->disk);
fail_efd:
	close(r->efd);
fail_ring:
	io_uring_queue_exit(&r->ring);
	free(r);
	return ret;
}

bool io_ring_runs_inline(const struct vback_io *io)
{
	return io && io->ops == &io_ring_ops &&
	       ((const struct ring_io *)io->opaque)->inline_rw;
}

uint64_t io_ring_fixed_requests(const struct vback_io *io)
{
	if (!io || io->ops != &io_ring_ops)
		return 0;
	return ((const struct ring_io *)io->opaque)->fixed_reqs;
}

int io_ring_open(const struct vback_io_options *opts,
		 const struct vback_loop *loop, struct vback_io *out,
		 bool *unavailable)
{
	return ring_setup(opts, NULL, loop, out, unavailable);
}

#else /* !VBACK_HAVE_URING */

bool io_ring_runs_inline(const struct vback_io *io)
{
	(void)io;
	return false;
}

uint64_t io_ring_fixed_requests(const struct vback_io *io)
{
	(void)io;
	return 0;
}

/* Never handed out; keeps vback_io_engine_of() simple. */
const struct vback_io_ops io_ring_ops = { 0 };

int io_ring_open(const struct vback_io_options *opts,
		 const struct vback_loop *loop, struct vback_io *out,
		 bool *unavailable)
{
	(void)opts;
	(void)loop;
	(void)out;
	*unavailable = true;
	return -ENOSYS;
}

#endif
