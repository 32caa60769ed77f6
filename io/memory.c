/* SPDX-License-Identifier: MIT */
/*
 * The memory engine: a RAM disk for tests, demos and freestanding builds.
 * Work is done on the loop thread, but never inside submit(): accepted
 * requests wait on a list until unplug() or the engine's posted work runs
 * them. No OS call: it runs on any loop, the simple loop included.
 */
#include <string.h>

#include <vback/io.h>

#include "io_internal.h"
#include "vb_os.h"

struct mem_io {
	uint8_t *data;
	bool own_data;
	struct vback_io_caps caps;
	const struct vback_loop *loop;
	struct vback_work work; /* runs what submit() queued */
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
	/* Completes from the loop if nobody unplugs (idempotent). */
	vback_loop_post(m->loop, &m->work);
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
	while (req) {
		struct vback_io_req *next = io_req_next(req);
		int ret = mem_exec(m, req);

		m->inflight--;
		req->done(req, ret);
		req = next;
	}
}

static void mem_work(void *opaque)
{
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
	vback_loop_cancel(m->loop, &m->work);
	if (m->own_data)
		vb_free(m->data);
	vb_free(m);
}

static int mem_clone(void *opaque, const struct vback_loop *loop,
		     struct vback_io *out)
{
	const struct mem_io *m = opaque;
	struct vback_io_memory_options o = {
		.buf = m->data, /* the same disk: shared, not copied */
		.size = m->caps.size_bytes,
		.read_only = m->caps.read_only,
		.queue_depth = m->depth,
	};

	return vback_io_memory_create(&o, loop, out);
}

const struct vback_io_ops io_memory_ops = {
	.submit = mem_submit,
	.unplug = mem_unplug,
	.get_caps = mem_get_caps,
	.refresh_size = mem_refresh_size,
	.close = mem_close,
	.clone = mem_clone,
};

int vback_io_memory_create(const struct vback_io_memory_options *o,
			   const struct vback_loop *loop, struct vback_io *out)
{
	struct mem_io *m;

	if (!o || !loop || !out || o->queue_depth > VBACK_IO_MAX_DEPTH)
		return -EINVAL;
	if (!o->size || (o->size & 511) || o->size > SIZE_MAX) {
		vback_logf(o->log, VBACK_LOG_ERR,
			   "io: memory disk size %llu is not a non-zero "
			   "multiple of 512",
			   (unsigned long long)o->size);
		return -EINVAL;
	}
	m = vb_calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->data = o->buf;
	if (!m->data) {
		/* calloc of a large block maps zero pages lazily. */
		m->data = vb_calloc(1, (size_t)o->size);
		m->own_data = true;
		if (!m->data) {
			vb_free(m);
			return -ENOMEM;
		}
	}
	m->loop = loop;
	vback_work_init(&m->work, mem_work, m);
	m->depth = o->queue_depth ? o->queue_depth : IO_DEFAULT_DEPTH;
	m->caps = (struct vback_io_caps){
		.size_bytes = o->size,
		.logical_block_size = 512,
		.physical_block_size = (o->size & 4095) ? 512 : 4096,
		.read_only = o->read_only,
		.can_discard = true,
		.can_write_zeroes = true,
		.can_secure_erase = true,
	};
	out->ops = &io_memory_ops;
	out->opaque = m;
	return 0;
}

int io_memory_open(const struct vback_io_options *opts,
		   const struct vback_loop *loop, struct vback_io *out)
{
	struct vback_io_memory_options o = {
		.size = opts->mem_size,
		.read_only = opts->read_only,
		.queue_depth = opts->queue_depth,
		.log = opts->log,
	};

	return vback_io_memory_create(&o, loop, out);
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
