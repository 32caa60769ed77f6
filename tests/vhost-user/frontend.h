/* SPDX-License-Identifier: MIT */
/* A scripted vhost-user front-end for the tests: it writes raw messages
 * on its end of a socketpair and pumps the back-end's loop for replies. */
#ifndef VBACK_TEST_FRONTEND_H
#define VBACK_TEST_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vback/loop.h>

#include "protocol.h"

struct fe {
	int fd;
	const struct vback_loop *loop;
};

/* Send one message exactly as given (sizes are not checked here). */
void fe_send(struct fe *fe, uint32_t request, uint32_t flags,
	     const void *payload, uint32_t size, const int *fds,
	     unsigned int nfds);
/* Run the loop until a message arrives: 0, -ETIMEDOUT or -ECONNRESET. */
int fe_recv(struct fe *fe, struct vhu_hdr *hdr, void *payload, size_t max);
/* fe_recv() that also takes the fd the message carries: *@fd, or -1. */
int fe_recv_fd(struct fe *fe, struct vhu_hdr *hdr, void *payload, size_t max,
	       int *fd);
/* Send @request without payload and return its u64 reply. */
uint64_t fe_get_u64(struct fe *fe, uint32_t request);
/* Run the loop for a while without waiting for anything in particular. */
void fe_pump(const struct vback_loop *loop);
/* True when the back-end closed the connection (pumps the loop). */
bool fe_closed(struct fe *fe);
/* Nothing to read yet (after pumping). */
bool fe_silent(struct fe *fe);

#endif /* VBACK_TEST_FRONTEND_H */
