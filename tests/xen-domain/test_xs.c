/* SPDX-License-Identifier: MIT */
/*
 * The backend domain's xenstore client (examples/xen-domain/runtime/xs.c)
 * against a fake xenstored on the other side of a real ring page: the
 * fake consumes requests and produces replies whenever the client signals
 * or waits, a little at a time, so messages longer than the ring are
 * streamed both ways. Requests, errors by name, transactions, watch events
 * that arrive before a reply or on their own, and a peer that breaks the
 * protocol (indexes too far apart, an overlong message), which must end
 * the connection instead of a buffer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xs.h"

#define RING XENSTORE_RING_SIZE

/* ---- the fake xenstored ---- */

struct node {
	char path[128];
	char val[4096];
	size_t len;
};

static struct {
	struct xenstore_domain_interface page;
	struct node nodes[32];
	unsigned int nnodes;
	/* request being assembled, replies waiting to go out */
	uint8_t in[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX];
	size_t nin;
	uint8_t out[4 * (sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX)];
	size_t nout, sent;
	unsigned int per_call; /* bytes moved per step, each way */
	unsigned int notifies, waits;
	unsigned int tx_conflicts; /* TRANSACTION_END answers EAGAIN */
	bool event_before_reply;   /* a watch event precedes the next reply */
	unsigned int requests;
} x;

static struct node *find(const char *path)
{
	for (unsigned int i = 0; i < x.nnodes; i++)
		if (!strcmp(x.nodes[i].path, path))
			return &x.nodes[i];
	return NULL;
}

static void emit(uint32_t type, uint32_t req_id, const void *p, size_t len)
{
	struct xsd_sockmsg h = { .type = type,
				 .req_id = req_id,
				 .len = (uint32_t)len };

	assert_true(x.nout + sizeof(h) + len <= sizeof(x.out));
	memcpy(x.out + x.nout, &h, sizeof(h));
	memcpy(x.out + x.nout + sizeof(h), p, len);
	x.nout += sizeof(h) + len;
}

static void emit_str(uint32_t type, uint32_t req_id, const char *s)
{
	emit(type, req_id, s, strlen(s) + 1);
}

static void event(const char *path, const char *token)
{
	char buf[256];
	size_t a = strlen(path) + 1, b = strlen(token) + 1;

	memcpy(buf, path, a);
	memcpy(buf + a, token, b);
	emit(XS_WATCH_EVENT, 0, buf, a + b);
}

/* A whole request is in x.in: answer it. */
static void serve(const struct xsd_sockmsg *h, const char *p)
{
	struct node *n;
	char names[512];
	size_t used = 0;

	x.requests++;
	if (x.event_before_reply) {
		x.event_before_reply = false;
		event("/early", "tok-early");
	}
	switch (h->type) {
	case XS_READ:
		n = find(p);
		if (!n)
			emit_str(XS_ERROR, h->req_id, "ENOENT");
		else
			emit(XS_READ, h->req_id, n->val, n->len);
		break;
	case XS_WRITE: {
		size_t plen = strlen(p) + 1;

		n = find(p);
		if (!n) {
			assert_true(x.nnodes < 32);
			n = &x.nodes[x.nnodes++];
			snprintf(n->path, sizeof(n->path), "%s", p);
		}
		n->len = h->len - plen;
		memcpy(n->val, p + plen, n->len);
		emit_str(XS_WRITE, h->req_id, "OK");
		break;
	}
	case XS_DIRECTORY:
		for (unsigned int i = 0; i < x.nnodes; i++) {
			size_t l = strlen(p);
			const char *rest = x.nodes[i].path + l;

			if (!strncmp(x.nodes[i].path, p, l) && rest[0] == '/' &&
			    !strchr(rest + 1, '/')) {
				memcpy(names + used, rest + 1,
				       strlen(rest + 1) + 1);
				used += strlen(rest + 1) + 1;
			}
		}
		emit(XS_DIRECTORY, h->req_id, names, used);
		break;
	case XS_WATCH:
		emit_str(XS_WATCH, h->req_id, "OK");
		/* xenstored fires a new watch once, after the answer */
		event(p, p + strlen(p) + 1);
		break;
	case XS_UNWATCH:
		if (!strcmp(p, "/weird"))
			emit_str(XS_ERROR, h->req_id, "EWHATEVER");
		else
			emit_str(XS_UNWATCH, h->req_id, "OK");
		break;
	case XS_TRANSACTION_START:
		emit_str(XS_TRANSACTION_START, h->req_id, "42");
		break;
	case XS_TRANSACTION_END:
		assert_int_equal(h->tx_id, 42);
		if (x.tx_conflicts && !strcmp(p, "T")) {
			x.tx_conflicts--;
			emit_str(XS_ERROR, h->req_id, "EAGAIN");
		} else {
			emit_str(XS_TRANSACTION_END, h->req_id, "OK");
		}
		break;
	case XS_IS_DOMAIN_INTRODUCED:
		emit_str(XS_ERROR, h->req_id, "EACCES");
		break;
	default:
		emit_str(XS_ERROR, h->req_id, "EWHATEVER");
	}
}

/* Move up to per_call bytes each way, as xenstored would. */
static void step(void)
{
	struct xenstore_domain_interface *r = &x.page;
	unsigned int moved = 0;

	/* requests in */
	while (moved < x.per_call && r->req_cons != r->req_prod) {
		x.in[x.nin++] = (uint8_t)r->req[MASK_XENSTORE_IDX(r->req_cons)];
		r->req_cons++;
		moved++;
		if (x.nin >= sizeof(struct xsd_sockmsg)) {
			struct xsd_sockmsg h;

			memcpy(&h, x.in, sizeof(h));
			if (x.nin == sizeof(h) + h.len) {
				char p[XENSTORE_PAYLOAD_MAX + 1];

				memcpy(p, x.in + sizeof(h), h.len);
				p[h.len] = '\0';
				serve(&h, p);
				x.nin = 0;
			}
		}
	}
	/* replies out */
	moved = 0;
	while (moved < x.per_call && x.sent < x.nout &&
	       r->rsp_prod - r->rsp_cons < RING) {
		r->rsp[MASK_XENSTORE_IDX(r->rsp_prod)] = (char)x.out[x.sent++];
		r->rsp_prod++;
		moved++;
	}
	if (x.sent == x.nout)
		x.sent = x.nout = 0;
}

static void io_notify(void *opaque)
{
	(void)opaque;
	x.notifies++;
	step();
}

static void io_wait(void *opaque)
{
	(void)opaque;
	x.waits++;
	assert_true(x.waits < 100000); /* a client that never gets there */
	step();
}

static struct xd_xs xs;

static int setup(void **state)
{
	struct xd_xs_io io = { io_notify, io_wait, NULL };

	(void)state;
	memset(&x, 0, sizeof(x));
	x.per_call = 100;
	xd_xs_init(&xs, &x.page, &io);
	return 0;
}

static void test_read_write_directory(void **state)
{
	char buf[64], dir[64];
	int n;

	(void)state;
	assert_int_equal(xd_xs_write(&xs, 0, "/a/b", "hello"), 0);
	assert_int_equal(xd_xs_write(&xs, 0, "/a/c", ""), 0);
	assert_int_equal(xd_xs_read(&xs, 0, "/a/b", buf, sizeof(buf)), 5);
	assert_string_equal(buf, "hello");
	assert_int_equal(xd_xs_read(&xs, 0, "/a/c", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(xd_xs_read(&xs, 0, "/a/b", buf, 5), -ERANGE);
	assert_int_equal(xd_xs_read(&xs, 0, "/nope", buf, sizeof(buf)),
			 -ENOENT);
	n = xd_xs_directory(&xs, 0, "/a", dir, sizeof(dir));
	assert_int_equal(n, 2);
	assert_string_equal(dir, "b");
	assert_string_equal(dir + 2, "c");
	assert_int_equal(xd_xs_directory(&xs, 0, "/a", dir, 3), -ERANGE);
	assert_false(xs.broken);
}

/* A value three times the ring, through it both ways. */
static void test_streamed(void **state)
{
	static char big[3001], back[3100], huge[XENSTORE_PAYLOAD_MAX + 10];

	(void)state;
	for (int i = 0; i < 3000; i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(xd_xs_write(&xs, 0, "/big", big), 0);
	assert_int_equal(xd_xs_read(&xs, 0, "/big", back, sizeof(back)), 3000);
	assert_memory_equal(back, big, 3001);
	/* and a payload over XENSTORE_PAYLOAD_MAX is refused up front */
	memset(huge, 'x', sizeof(huge) - 1);
	assert_int_equal(xd_xs_write(&xs, 0, "/huge", huge), -E2BIG);
	assert_false(xs.broken);
}

static void test_errors_and_transactions(void **state)
{
	uint32_t tx = 0;

	(void)state;
	assert_int_equal(xd_xs_introduced(&xs, 5), -EACCES);
	assert_int_equal(xd_xs_tx_start(&xs, &tx), 0);
	assert_int_equal(tx, 42);
	x.tx_conflicts = 1;
	assert_int_equal(xd_xs_tx_end(&xs, tx, false), -EAGAIN);
	assert_int_equal(xd_xs_tx_end(&xs, tx, false), 0);
	assert_int_equal(xd_xs_tx_end(&xs, tx, true), 0);
	assert_int_equal(xd_xs_unwatch(&xs, "/x", "t"), 0);
	/* an error name xs_wire.h does not know */
	assert_int_equal(xd_xs_unwatch(&xs, "/weird", "t"), -EIO);
	assert_false(xs.broken);
}

/* Watch events: the first one after the answer, one before a reply,
 * and one on its own; delivered in order, later, by the caller. */
static void test_watch_events(void **state)
{
	struct xd_xs_event ev;
	char buf[8];

	(void)state;
	assert_int_equal(xd_xs_watch(&xs, "/local/domain/1/backend", "vb0"), 0);
	x.event_before_reply = true;
	assert_int_equal(xd_xs_read(&xs, 0, "/nope", buf, sizeof(buf)),
			 -ENOENT);
	/* one arriving alone, read by poll */
	event("/local/domain/1/backend/virtio_disk", "vb0");
	step();
	xd_xs_poll(&xs);
	assert_true(xd_xs_next_event(&xs, &ev));
	assert_string_equal(ev.path, "/local/domain/1/backend");
	assert_string_equal(ev.token, "vb0");
	assert_true(xd_xs_next_event(&xs, &ev));
	assert_string_equal(ev.path, "/early");
	assert_string_equal(ev.token, "tok-early");
	assert_true(xd_xs_next_event(&xs, &ev));
	assert_string_equal(ev.path, "/local/domain/1/backend/virtio_disk");
	assert_false(xd_xs_next_event(&xs, &ev));
	/* poll with nothing there returns at once */
	xd_xs_poll(&xs);
	assert_false(xd_xs_next_event(&xs, &ev));
}

/* More events than the queue holds: the rest are counted, not kept. */
static void test_event_overflow(void **state)
{
	struct xd_xs_event ev;
	unsigned int n = 0;

	(void)state;
	for (int i = 0; i < XD_XS_EVENTS + 5; i++)
		event("/p", "t");
	x.per_call = 100000;
	step();
	xd_xs_poll(&xs);
	while (xd_xs_next_event(&xs, &ev))
		n++;
	assert_int_equal(n, XD_XS_EVENTS);
	assert_int_equal(xs.ev_dropped, 5);
}

/* A peer whose producer index is more than a ring ahead: broken, -EIO,
 * and nothing read from the ring. */
static void test_bad_indexes(void **state)
{
	char buf[8];

	(void)state;
	x.page.rsp_prod = x.page.rsp_cons + RING + 1;
	x.per_call = 0; /* the fake stays silent */
	assert_int_equal(xd_xs_read(&xs, 0, "/a", buf, sizeof(buf)), -EIO);
	assert_true(xs.broken);
	assert_int_equal(xd_xs_read(&xs, 0, "/a", buf, sizeof(buf)), -EIO);
}

static void test_bad_consumer(void **state)
{
	(void)state;
	x.page.req_cons =
		x.page.req_prod + 5; /* consumed what was never sent */
	assert_int_equal(xd_xs_write(&xs, 0, "/a", "b"), -EIO);
	assert_true(xs.broken);
}

/* A reply header claiming more than XENSTORE_PAYLOAD_MAX. */
static void test_overlong_message(void **state)
{
	struct xsd_sockmsg h = { .type = XS_WATCH_EVENT,
				 .len = XENSTORE_PAYLOAD_MAX + 1 };
	struct xd_xs_event ev;

	(void)state;
	memcpy(x.out, &h, sizeof(h));
	x.nout = sizeof(h);
	step();
	xd_xs_poll(&xs);
	assert_true(xs.broken);
	assert_false(xd_xs_next_event(&xs, &ev));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_read_write_directory, setup),
		cmocka_unit_test_setup(test_streamed, setup),
		cmocka_unit_test_setup(test_errors_and_transactions, setup),
		cmocka_unit_test_setup(test_watch_events, setup),
		cmocka_unit_test_setup(test_event_overflow, setup),
		cmocka_unit_test_setup(test_bad_indexes, setup),
		cmocka_unit_test_setup(test_bad_consumer, setup),
		cmocka_unit_test_setup(test_overlong_message, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
