/* SPDX-License-Identifier: MIT */
/*
 * vback-disk --control PATH: the control socket. A unix stream socket,
 * created 0600 and owned by the daemon's user (peers of another uid,
 * root excepted, are refused as well), carrying the line-delimited JSON
 * requests and replies of ctl.h. Everything is non-blocking on the
 * daemon's loop, so a client can never hold up the data path:
 *  - a line may be max_line bytes long; a longer one gets an error reply
 *    and the client is dropped;
 *  - a client that sends part of a line and not the rest, or stops
 *    reading its replies, is dropped after idle_timeout_ms;
 *  - a client whose replies pile up is not read until they drain; each
 *    loop callback handles a bounded number of lines;
 *  - at most max_clients at once; one more gets an error reply and is
 *    closed.
 * Replies come in request order: while an asynchronous command (remove)
 * runs, the client's next lines wait.
 */
#ifndef VBACK_DISK_CONTROL_H
#define VBACK_DISK_CONTROL_H

#include <stddef.h>

#include <vback/loop.h>

#include "ctl.h"

#define CTL_DEFAULT_MAX_LINE	(64u * 1024u)
#define CTL_DEFAULT_MAX_CLIENTS 16u
#define CTL_DEFAULT_TIMEOUT_MS	10000u
/* Longest reply (a list of many disks with many queues). */
#define CTL_MAX_REPLY (16u * 1024u * 1024u)

struct ctl_server;

struct ctl_server_options {
	const char *path;	       /* the socket (copied) */
	const struct vback_loop *loop; /* with fds; borrowed */
	const struct vback_log *log;   /* borrowed */
	const struct ctl_ops *ops;     /* borrowed */
	void *opaque;		       /* passed to the ops */
	size_t max_line;	       /* 0: CTL_DEFAULT_MAX_LINE */
	unsigned int max_clients;      /* 0: CTL_DEFAULT_MAX_CLIENTS */
	unsigned int idle_timeout_ms;  /* 0: CTL_DEFAULT_TIMEOUT_MS */
};

/*
 * Create the socket and listen. An existing socket file at the path is
 * replaced unless a server answers on it (-EADDRINUSE); any other file is
 * left alone (-EEXIST). -ENAMETOOLONG, -ENOMEM or a socket call's -errno.
 */
int ctl_server_create(const struct ctl_server_options *o,
		      struct ctl_server **out);
/* Drop every client, close and unlink the socket. Asynchronous commands
 * still running complete into the void. NULL: no-op. */
void ctl_server_destroy(struct ctl_server *s);
/* Clients connected now (for tests and logs). */
unsigned int ctl_server_clients(const struct ctl_server *s);

#endif /* VBACK_DISK_CONTROL_H */
