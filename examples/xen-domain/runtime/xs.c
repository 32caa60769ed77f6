/* SPDX-License-Identifier: MIT */
/*
 * The xenstore ring protocol (io/xs_wire.h, docs/misc/xenstore-ring.txt):
 * we produce into req[] and consume rsp[]; each side publishes its index
 * after the bytes it covers (release) and reads the other's index before
 * the bytes (acquire), then signals. Messages are a struct xsd_sockmsg
 * and up to XENSTORE_PAYLOAD_MAX bytes, streamed through the 1 KiB rings.
 */
#include <errno.h>
#include <string.h>

#include "xs.h"

#define RING XENSTORE_RING_SIZE

/* strlen, but never past @max (C11 has no strnlen). */
static size_t bounded_len(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

void xd_xs_init(struct xd_xs *xs, void *page, const struct xd_xs_io *io)
{
	memset(xs, 0, sizeof(*xs));
	xs->intf = page;
	xs->io = *io;
}

static void fail(struct xd_xs *xs)
{
	xs->broken = true;
}

/* The ring is shared memory: byte copies through volatile pointers. */
static void to_ring(volatile char *dst, const char *src, size_t n)
{
	while (n--)
		*dst++ = *src++;
}

static void from_ring(char *dst, const volatile char *src, size_t n)
{
	while (n--)
		*dst++ = *src++;
}

/* Write @n bytes into req[], waiting for room. */
static int put(struct xd_xs *xs, const void *data, size_t n)
{
	volatile struct xenstore_domain_interface *r = xs->intf;
	const char *p = data;

	while (n) {
		XENSTORE_RING_IDX cons, prod = r->req_prod;
		size_t room, chunk;

		cons = __atomic_load_n(&r->req_cons, __ATOMIC_ACQUIRE);
		if (prod - cons > RING) {
			fail(xs);
			return -EIO;
		}
		room = RING - (prod - cons);
		if (!room) {
			xs->io.notify(xs->io.opaque);
			xs->io.wait(xs->io.opaque);
			continue;
		}
		chunk = RING - MASK_XENSTORE_IDX(prod);
		if (chunk > room)
			chunk = room;
		if (chunk > n)
			chunk = n;
		to_ring(r->req + MASK_XENSTORE_IDX(prod), p, chunk);
		__atomic_store_n(&r->req_prod, prod + (XENSTORE_RING_IDX)chunk,
				 __ATOMIC_RELEASE);
		p += chunk;
		n -= chunk;
	}
	return 0;
}

/*
 * Read @n bytes from rsp[] into @dst. @block: wait for them; otherwise
 * return -EAGAIN when the first byte is not there yet (a message, once
 * started, is always read to its end).
 */
static int get(struct xd_xs *xs, void *dst, size_t n, bool block)
{
	volatile struct xenstore_domain_interface *r = xs->intf;
	char *p = dst;

	while (n) {
		XENSTORE_RING_IDX cons = r->rsp_cons, prod;
		size_t avail, chunk;

		prod = __atomic_load_n(&r->rsp_prod, __ATOMIC_ACQUIRE);
		if (prod - cons > RING) {
			fail(xs);
			return -EIO;
		}
		avail = prod - cons;
		if (!avail) {
			if (!block)
				return -EAGAIN;
			xs->io.wait(xs->io.opaque);
			continue;
		}
		chunk = RING - MASK_XENSTORE_IDX(cons);
		if (chunk > avail)
			chunk = avail;
		if (chunk > n)
			chunk = n;
		from_ring(p, r->rsp + MASK_XENSTORE_IDX(cons), chunk);
		__atomic_store_n(&r->rsp_cons, cons + (XENSTORE_RING_IDX)chunk,
				 __ATOMIC_RELEASE);
		/* xenstored may be waiting for room. */
		xs->io.notify(xs->io.opaque);
		p += chunk;
		n -= chunk;
		block = true;
	}
	return 0;
}

/* Queue a watch event (payload "path\0token\0"). */
static void queue_event(struct xd_xs *xs, uint32_t len)
{
	const char *path = xs->msg, *token;
	size_t plen = bounded_len(path, len), tlen;
	struct xd_xs_event *ev;

	if (plen == len) {
		xs->ev_dropped++; /* no token */
		return;
	}
	token = path + plen + 1;
	tlen = bounded_len(token, len - plen - 1);
	if (plen >= XD_XS_PATH || tlen >= XD_XS_TOKEN ||
	    xs->ev_count == XD_XS_EVENTS) {
		xs->ev_dropped++;
		return;
	}
	ev = &xs->ev[(xs->ev_head + xs->ev_count) % XD_XS_EVENTS];
	memcpy(ev->path, path, plen);
	ev->path[plen] = '\0';
	memcpy(ev->token, token, tlen);
	ev->token[tlen] = '\0';
	xs->ev_count++;
}

/* Read one message into xs->msg (NUL-terminated): 0 and its header, or
 * -EAGAIN (!@block, nothing there), -EIO. */
static int read_msg(struct xd_xs *xs, struct xsd_sockmsg *h, bool block)
{
	int ret = get(xs, h, sizeof(*h), block);

	if (ret < 0)
		return ret;
	if (h->len > XENSTORE_PAYLOAD_MAX) {
		fail(xs);
		return -EIO;
	}
	ret = get(xs, xs->msg, h->len, true);
	if (ret < 0)
		return ret;
	xs->msg[h->len] = '\0';
	return 0;
}

void xd_xs_poll(struct xd_xs *xs)
{
	struct xsd_sockmsg h;

	if (xs->busy)
		return;
	while (!xs->broken && read_msg(xs, &h, false) == 0) {
		if (h.type == XS_WATCH_EVENT)
			queue_event(xs, h.len);
		/* anything else has no request waiting for it: dropped */
	}
}

bool xd_xs_next_event(struct xd_xs *xs, struct xd_xs_event *ev)
{
	if (!xs->ev_count)
		return false;
	*ev = xs->ev[xs->ev_head];
	xs->ev_head = (xs->ev_head + 1) % XD_XS_EVENTS;
	xs->ev_count--;
	return true;
}

/* xenstored names errors (xsd_errors[]); unknown names read as EIO. */
static int error_of(const char *name)
{
	for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (!strcmp(name, xsd_errors[i].errstring))
			return -xsd_errors[i].errnum;
	return -EIO;
}

/*
 * One request of @type whose payload is @n parts (each with its length)
 * and its reply's payload in xs->msg: its length, or -errno.
 */
static int request(struct xd_xs *xs, uint32_t type, uint32_t tx,
		   const void *const parts[], const size_t lens[],
		   unsigned int n)
{
	struct xsd_sockmsg h = { .type = type, .tx_id = tx };
	unsigned int i;
	size_t len = 0;
	int ret;

	if (xs->broken)
		return -EIO;
	for (i = 0; i < n; i++)
		len += lens[i];
	if (len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	h.len = (uint32_t)len;
	h.req_id = ++xs->req_id;
	xs->busy = true;
	ret = put(xs, &h, sizeof(h));
	for (i = 0; ret == 0 && i < n; i++)
		ret = put(xs, parts[i], lens[i]);
	if (ret < 0)
		goto out;
	xs->io.notify(xs->io.opaque);
	for (;;) {
		struct xsd_sockmsg r;

		ret = read_msg(xs, &r, true);
		if (ret < 0)
			goto out;
		if (r.type == XS_WATCH_EVENT) {
			queue_event(xs, r.len);
			continue;
		}
		if (r.req_id != h.req_id)
			continue; /* not ours (nothing else is in flight) */
		ret = r.type == XS_ERROR ? error_of(xs->msg) : (int)r.len;
		break;
	}
out:
	xs->busy = false;
	return ret;
}

/* A request whose payload is one NUL-terminated string. */
static int request1(struct xd_xs *xs, uint32_t type, uint32_t tx, const char *s)
{
	const void *parts[] = { s };
	const size_t lens[] = { strlen(s) + 1 };

	return request(xs, type, tx, parts, lens, 1);
}

int xd_xs_read(struct xd_xs *xs, uint32_t tx, const char *path, char *buf,
	       size_t size)
{
	int ret = request1(xs, XS_READ, tx, path);

	if (ret < 0)
		return ret;
	if ((size_t)ret >= size)
		return -ERANGE;
	memcpy(buf, xs->msg, (size_t)ret);
	buf[ret] = '\0';
	return ret;
}

int xd_xs_write(struct xd_xs *xs, uint32_t tx, const char *path,
		const char *value)
{
	/* "path\0value", the value without its NUL */
	const void *parts[] = { path, value };
	const size_t lens[] = { strlen(path) + 1, strlen(value) };
	int ret = request(xs, XS_WRITE, tx, parts, lens, 2);

	return ret < 0 ? ret : 0;
}

int xd_xs_directory(struct xd_xs *xs, uint32_t tx, const char *path, char *buf,
		    size_t size)
{
	int ret = request1(xs, XS_DIRECTORY, tx, path), n = 0;

	if (ret < 0)
		return ret;
	/* "a\0b\0": already our format; count it, and refuse garbage. */
	if ((size_t)ret > size)
		return -ERANGE;
	if (ret && xs->msg[ret - 1] != '\0')
		return -EIO;
	for (int i = 0; i < ret; i++)
		n += xs->msg[i] == '\0';
	memcpy(buf, xs->msg, (size_t)ret);
	return n;
}

static int parse_u32(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EIO;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > UINT32_MAX / 10)
			return -EIO;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > UINT32_MAX)
		return -EIO;
	*out = (uint32_t)v;
	return 0;
}

int xd_xs_tx_start(struct xd_xs *xs, uint32_t *tx)
{
	int ret = request1(xs, XS_TRANSACTION_START, 0, "");

	if (ret < 0)
		return ret;
	ret = parse_u32(xs->msg, tx);
	return ret < 0 || *tx == 0 ? -EIO : 0;
}

int xd_xs_tx_end(struct xd_xs *xs, uint32_t tx, bool abort)
{
	int ret = request1(xs, XS_TRANSACTION_END, tx, abort ? "F" : "T");

	return ret < 0 ? ret : 0;
}

int xd_xs_watch(struct xd_xs *xs, const char *path, const char *token)
{
	const void *parts[] = { path, token };
	const size_t lens[] = { strlen(path) + 1, strlen(token) + 1 };
	int ret = request(xs, XS_WATCH, 0, parts, lens, 2);

	return ret < 0 ? ret : 0;
}

int xd_xs_unwatch(struct xd_xs *xs, const char *path, const char *token)
{
	const void *parts[] = { path, token };
	const size_t lens[] = { strlen(path) + 1, strlen(token) + 1 };
	int ret = request(xs, XS_UNWATCH, 0, parts, lens, 2);

	return ret < 0 ? ret : 0;
}

int xd_xs_introduced(struct xd_xs *xs, uint16_t domid)
{
	char id[8];
	unsigned int i = sizeof(id) - 1;
	int ret;

	id[i] = '\0';
	do {
		id[--i] = (char)('0' + domid % 10);
		domid /= 10;
	} while (domid);
	ret = request1(xs, XS_IS_DOMAIN_INTRODUCED, 0, id + i);
	if (ret < 0)
		return ret;
	return !strcmp(xs->msg, "T");
}
