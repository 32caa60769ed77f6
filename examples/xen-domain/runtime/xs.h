/* SPDX-License-Identifier: MIT */
/*
 * A xenstore client on the domain's ring page (io/xs_wire.h): requests are
 * synchronous (write the request, signal, wait for the reply with the same
 * id); watch events that arrive meanwhile, or on their own, are queued for
 * the caller to deliver later. The ring indexes are read once into local
 * copies and checked: a peer that claims more than a ring's worth of data,
 * or a message longer than XENSTORE_PAYLOAD_MAX, breaks the connection
 * (-EIO from then on) instead of overrunning a buffer.
 *
 * Host-testable: the page and the two actions that need Xen come from the
 * caller (tests/xen-domain drives it against a fake xenstored).
 */
#ifndef XD_XS_H
#define XD_XS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/io/xs_wire.h>

#define XD_XS_PATH   256 /* longest watch path kept; longer: dropped */
#define XD_XS_TOKEN  32
#define XD_XS_EVENTS 32 /* watch events waiting for delivery */

struct xd_xs_io {
	/* Signal xenstored (EVTCHNOP_send on the store's port). */
	void (*notify)(void *opaque);
	/* Nothing to read or no room to write: wait for the next event. */
	void (*wait)(void *opaque);
	void *opaque;
};

struct xd_xs_event {
	char path[XD_XS_PATH];
	char token[XD_XS_TOKEN];
};

struct xd_xs {
	volatile struct xenstore_domain_interface *intf;
	struct xd_xs_io io;
	uint32_t req_id;
	bool broken;
	bool busy; /* a request is waiting for its reply */
	struct xd_xs_event ev[XD_XS_EVENTS];
	unsigned int ev_head, ev_count;
	unsigned int ev_dropped;
	char msg[XENSTORE_PAYLOAD_MAX + 1]; /* the message being read */
};

void xd_xs_init(struct xd_xs *xs, void *page, const struct xd_xs_io *io);

/* @path's value into @buf, NUL-terminated: its length, -ENOENT, -ERANGE
 * (longer than @size - 1), -errno. @tx: 0 or a transaction. */
int xd_xs_read(struct xd_xs *xs, uint32_t tx, const char *path, char *buf,
	       size_t size);
int xd_xs_write(struct xd_xs *xs, uint32_t tx, const char *path,
		const char *value);
/* The names of @path's children, NUL-separated: how many, -errno. */
int xd_xs_directory(struct xd_xs *xs, uint32_t tx, const char *path, char *buf,
		    size_t size);
int xd_xs_tx_start(struct xd_xs *xs, uint32_t *tx);
/* 0, -EAGAIN (conflict: retry), -errno. */
int xd_xs_tx_end(struct xd_xs *xs, uint32_t tx, bool abort);
int xd_xs_watch(struct xd_xs *xs, const char *path, const char *token);
int xd_xs_unwatch(struct xd_xs *xs, const char *path, const char *token);
/* XS_IS_DOMAIN_INTRODUCED: 1, 0, or -errno (-EACCES in a DomU). */
int xd_xs_introduced(struct xd_xs *xs, uint16_t domid);

/* Read the messages that arrived without a request (watch events) into
 * the queue; call it when the store's event channel fired. Not while a
 * request is in progress (it reads them itself). */
void xd_xs_poll(struct xd_xs *xs);
/* The oldest queued watch event into *@ev: true, or false when none. */
bool xd_xs_next_event(struct xd_xs *xs, struct xd_xs_event *ev);

#endif /* XD_XS_H */
