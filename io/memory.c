/* SPDX-License-Identifier: MIT */
/*
 * The memory engine: a RAM disk for tests and demos. Work is done on the
 * loop thread, but never inside submit(): accepted requests wait on a list
 * until the loop callback (an eventfd makes the loop come round) or
 * unplug() runs them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <vback/io.h>

#include "io_internal.h"

struct mem_io {
	uint8_t *data;
	struct vback_io_caps caps;
	const struct vback_loop *loop;
	int efd;
	bool signalled; /* efd written since the list was last taken */
	struct vback_io_req *head, *tail;
	unsigned int depth;
	unsigned int inflight;
	bool closing;
	/* Error injection (tests). */
	uint64_t fail_off, fail_len;
	int fail_err;
};

static int mem_submit(void *opaque, struct vback_io_req *req)
{
	struct mem_io *m = opaque;
	int ret;

	if (m->closing)
		return -ESHUTDOWN;
	ret = io_req_check(&m->caps, req);
	if (ret)
		return ret;
	if (m->inflight >= m->depth)
		return -EAGAIN;
	m->inflight++;
	io_req_set_next(req, NULL);
	if (m->tail)
		io_req_set_next(m->tail, req);
	else
		m->head = req;
	m->tail = req;
	if (!m->signalled) {
		m->signalled = true;
		io_eventfd_signal(m->efd);
	}
	return 0;
}

static bool hits_fault(const struct mem_io *m, uint64_t off, uint64_t len)
{
	if (!m->fail_len)
		return false;
	return off < m->fail_off + m->fail_len && m->fail_off < off + len;
}

static int mem_exec(struct mem_io *m, const struct vback_io_req *req)
{
	uint64_t len = req->len;

	if (req->op == VBACK_IO_READ || req->op == VBACK_IO_WRITE)
		len = req->backend[IO_SCR_TOTAL];
	if (req->op != VBACK_IO_FLUSH && hits_fault(m, req->offset, len))
		return m->fail_err;
	switch (req->op) {
	case VBACK_IO_READ:
		vback_iov_from_buf(req->iov, req->iovcnt, 0,
				   m->data + req->offset, (size_t)len);
		return 0;
	case VBACK_IO_WRITE:
		vback_iov_to_buf(req->iov, req->iovcnt, 0,
				 m->data + req->offset, (size_t)len);
		return 0;
	case VBACK_IO_FLUSH:
		return 0;
	case VBACK_IO_DISCARD:
	case VBACK_IO_WRITE_ZEROES:
	case VBACK_IO_SECURE_ERASE:
		memset(m->data + req->offset, 0, (size_t)len);
		return 0;
	}
	return -EOPNOTSUPP;
}

/* Run the requests queued so far; later ones (submitted by done()
 * callbacks) wait for the next round, so a callback that always
 * resubmits cannot keep us here forever. */
static void mem_run(struct mem_io *m)
{
	struct vback_io_req *req = m->head;

	m->head = m->tail = NULL;
	m->signalled = false;
	while (req) {
		struct vback_io_req *next = io_req_next(req);
		int ret = mem_exec(m, req);

		m->inflight--;
		req->done(req, ret);
		req = next;
	}
	if (m->head && !m->signalled) {
		m->signalled = true;
		io_eventfd_signal(m->efd);
	}
}

static void mem_on_event(void *opaque, int fd, uint32_t events)
{
	(void)events;
	io_eventfd_drain(fd);
	mem_run(opaque);
}

static void mem_unplug(void *opaque)
{
	mem_run(opaque);
}

static int mem_get_caps(void *opaque, struct vback_io_caps *caps)
{
	const struct mem_io *m = opaque;

	*caps = m->caps;
	return 0;
}

static int mem_refresh_size(void *opaque, uint64_t *size_bytes)
{
	const struct mem_io *m = opaque;

	if (size_bytes)
		*size_bytes = m->caps.size_bytes;
	return 0;
}

static void mem_close(void *opaque)
{
	struct mem_io *m = opaque;

	m->closing = true;
	while (m->head)
		mem_run(m);
	vback_loop_unwatch(m->loop, m->efd);
	close(m->efd);
	free(m->data);
	free(m);
}

const struct vback_io_ops io_memory_ops = {
	.submit = mem_submit,
	.unplug = mem_unplug,
	.get_caps = mem_get_caps,
	.refresh_size = mem_refresh_size,
	.close = mem_close,
};

int io_memory_open(const struct vback_io_options *opts,
		   const struct vback_loop *loop, struct vback_io *out)
{
	struct mem_io *m;
	int ret;

	if (!opts->mem_size || opts->mem_size % 512 ||
	    opts->mem_size > SIZE_MAX) {
		vback_logf(opts->log, VBACK_LOG_ERR,
			   "io: memory disk size %llu is not a non-zero "
			   "multiple of 512",
			   (unsigned long long)opts->mem_size);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	/* calloc of a large block maps zero pages lazily. */
	m->data = calloc(1, (size_t)opts->mem_size);
	if (!m->data) {
		free(m);
		return -ENOMEM;
	}
	m->loop = loop;
	m->depth = opts->queue_depth ? opts->queue_depth : IO_DEFAULT_DEPTH;
	m->caps = (struct vback_io_caps){
		.size_bytes = opts->mem_size,
		.logical_block_size = 512,
		.physical_block_size = 4096,
		.read_only = opts->read_only,
		.can_discard = true,
		.can_write_zeroes = true,
		.can_secure_erase = true,
	};
	if (opts->mem_size % 4096)
		m->caps.physical_block_size = 512;
	m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = vback_loop_watch(loop, m->efd, VBACK_EV_IN, mem_on_event, m);
	if (ret) {
		close(m->efd);
		goto fail;
	}
	out->ops = &io_memory_ops;
	out->opaque = m;
	return 0;
fail:
	free(m->data);
	free(m);
	return ret;
}

int io_memory_inject_error(const struct vback_io *io, uint64_t offset,
			   uint64_t len, int error)
{
	struct mem_io *m;

	if (!io || io->ops != &io_memory_ops || (len && error >= 0))
		return -EINVAL;
	m = io->opaque;
	m->fail_off = offset;
	m->fail_len = len;
	m->fail_err = error;
	return 0;
}
