/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test_io.h"

struct tio {
	struct tio_options o;
	uint8_t *data;
	struct vback_io_req *head, *tail; /* pending, linked via backend[0] */
	unsigned int pending;
	bool hold;
	unsigned int fail_n, reject_n;
	int fail_err, reject_err;
	struct tio_stats st;
};

static int run(struct tio *t, struct vback_io_req *req)
{
	uint64_t total = 0;

	if (t->o.on_run)
		t->o.on_run(t->o.on_run_opaque, req);

	switch (req->op) {
	case VBACK_IO_READ:
	case VBACK_IO_WRITE:
		for (unsigned int i = 0; i < req->iovcnt; i++)
			total += req->iov[i].iov_len;
		if (req->offset > t->o.size || total > t->o.size - req->offset)
			return -EINVAL;
		for (unsigned int i = 0, off = 0; i < req->iovcnt; i++) {
			uint8_t *d = t->data + req->offset + off;

			if (req->op == VBACK_IO_READ)
				memcpy(req->iov[i].iov_base, d,
				       req->iov[i].iov_len);
			else
				memcpy(d, req->iov[i].iov_base,
				       req->iov[i].iov_len);
			off += (unsigned int)req->iov[i].iov_len;
		}
		return 0;
	case VBACK_IO_FLUSH:
		return 0;
	case VBACK_IO_DISCARD:
	case VBACK_IO_WRITE_ZEROES:
	case VBACK_IO_SECURE_ERASE:
		if (req->offset > t->o.size ||
		    req->len > t->o.size - req->offset)
			return -EINVAL;
		memset(t->data + req->offset, 0, req->len);
		return 0;
	}
	return -EOPNOTSUPP;
}

static int tio_submit(void *opaque, struct vback_io_req *req)
{
	struct tio *t = opaque;

	if (t->reject_n && (t->reject_err != -EAGAIN || t->pending)) {
		t->reject_n--;
		t->st.rejects++;
		return t->reject_err;
	}
	if (t->o.read_only && req->op != VBACK_IO_READ &&
	    req->op != VBACK_IO_FLUSH) {
		t->st.rejects++;
		return -EROFS;
	}
	req->backend[0] = 0;
	req->backend[1] = 0;
	if (t->fail_n) {
		t->fail_n--;
		req->backend[1] = (uintptr_t)(intptr_t)t->fail_err;
	}
	if (t->tail)
		t->tail->backend[0] = (uintptr_t)req;
	else
		t->head = req;
	t->tail = req;
	t->pending++;
	t->st.submits++;
	if ((unsigned int)req->op < 6)
		t->st.by_op[req->op]++;
	t->st.last = *req;
	t->st.last_iovcnt = req->iovcnt;
	t->st.last_bytes = 0;
	for (unsigned int i = 0; i < req->iovcnt; i++)
		t->st.last_bytes += req->iov[i].iov_len;
	return 0;
}

static unsigned int complete(struct tio *t, unsigned int max)
{
	unsigned int n = 0;

	while (t->head && (!max || n < max)) {
		struct vback_io_req *req = t->head;
		int err = (int)(intptr_t)req->backend[1];

		/* backend[0] links the pending list (the scratch is uintptr_t).
		 */
		t->head = (struct vback_io_req *)req->backend[0]; /* NOLINT */
		if (!t->head)
			t->tail = NULL;
		t->pending--;
		if (!err)
			err = run(t, req);
		n++;
		/* May submit again (reusing @req): the list is consistent. */
		req->done(req, err);
	}
	return n;
}

static void tio_unplug(void *opaque)
{
	struct tio *t = opaque;

	t->st.unplugs++;
	/* The batch queued so far, like a real engine: what done() callbacks
	 * submit from in here waits for the next unplug(). */
	if (!t->hold && t->pending)
		complete(t, t->pending);
}

static int tio_get_caps(void *opaque, struct vback_io_caps *caps)
{
	struct tio *t = opaque;

	memset(caps, 0, sizeof(*caps));
	caps->size_bytes = t->o.size;
	caps->logical_block_size = t->o.logical_block_size;
	caps->physical_block_size = t->o.physical_block_size;
	caps->max_segments = t->o.max_segments;
	caps->max_discard_sectors = t->o.max_discard_sectors;
	caps->max_write_zeroes_sectors = t->o.max_write_zeroes_sectors;
	caps->read_only = t->o.read_only;
	caps->can_discard = t->o.can_discard;
	caps->can_write_zeroes = t->o.can_write_zeroes;
	caps->can_secure_erase = t->o.can_secure_erase;
	caps->volatile_cache = t->o.volatile_cache;
	return 0;
}

static void tio_close(void *opaque)
{
	complete(opaque, 0);
}

static const struct vback_io_ops tio_ops = {
	.submit = tio_submit,
	.unplug = tio_unplug,
	.get_caps = tio_get_caps,
	.close = tio_close,
};

struct tio *tio_create(const struct tio_options *opts)
{
	struct tio *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (opts)
		t->o = *opts;
	if (!t->o.size)
		t->o.size = 1u << 20;
	if (!t->o.logical_block_size)
		t->o.logical_block_size = 512;
	if (!t->o.physical_block_size)
		t->o.physical_block_size = t->o.logical_block_size;
	t->data = t->o.data ? t->o.data : calloc(1, t->o.size);
	if (!t->data) {
		free(t);
		return NULL;
	}
	return t;
}

void tio_destroy(struct tio *t)
{
	if (!t)
		return;
	complete(t, 0);
	if (!t->o.data)
		free(t->data);
	free(t);
}

struct vback_io tio_io(struct tio *t)
{
	struct vback_io io = { &tio_ops, t };

	return io;
}

uint8_t *tio_data(struct tio *t)
{
	return t->data;
}

void tio_fail_next(struct tio *t, unsigned int n, int err)
{
	t->fail_n = n;
	t->fail_err = err;
}

void tio_reject_next(struct tio *t, unsigned int n, int err)
{
	t->reject_n = n;
	t->reject_err = err;
}

void tio_hold(struct tio *t, bool hold)
{
	t->hold = hold;
}

/* Run the loop until nothing is due (simple loops only: tests use
 * them, and an epoll loop's owner pumps it itself). */
void tio_pump(struct vback_loop *loop)
{
	if (!loop || vback_loop_has_fds(loop))
		return;
	for (unsigned int i = 0; i < 1000000; i++)
		if (!vback_simple_loop_dispatch(loop))
			return;
}

unsigned int tio_release(struct tio *t, unsigned int max)
{
	unsigned int n = complete(t, max);

	tio_pump(t->o.loop);
	return n;
}

unsigned int tio_pending(const struct tio *t)
{
	return t->pending;
}

const struct tio_stats *tio_stats(const struct tio *t)
{
	return &t->st;
}

unsigned int tio_release_at(struct tio *t, unsigned int pos)
{
	struct vback_io_req *prev = NULL, *req = t->head;
	int err;

	/* backend[0] links the pending list (the scratch is uintptr_t). */
	for (unsigned int i = 0; req && i < pos; i++) {
		prev = req;
		req = (struct vback_io_req *)req->backend[0]; /* NOLINT */
	}
	if (!req)
		return 0;
	if (prev)
		prev->backend[0] = req->backend[0];
	else
		t->head = (struct vback_io_req *)req->backend[0]; /* NOLINT */
	if (t->tail == req)
		t->tail = prev;
	t->pending--;
	err = (int)(intptr_t)req->backend[1];
	if (!err)
		err = run(t, req);
	req->done(req, err);
	return 1;
}
