/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend.h"

void fe_send(struct fe *fe, uint32_t request, uint32_t flags,
	     const void *payload, uint32_t size, const int *fds,
	     unsigned int nfds)
{
	struct vhu_hdr hdr = { request, flags, size };
	union {
		char b[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)(uintptr_t)payload, .iov_len = size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(&ctrl, 0, sizeof(ctrl));
		mh.msg_control = ctrl.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	assert_int_equal(sendmsg(fe->fd, &mh, MSG_NOSIGNAL),
			 (ssize_t)(sizeof(hdr) + size));
}

void fe_pump(const struct vback_loop *loop)
{
	/* Until a round runs no callback: work can chain (a message, then
	 * the idle eventfd it caused). */
	for (int i = 0; i < 20; i++)
		if (vback_loop_run_once(loop, 1) == 0)
			break;
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

int fe_recv(struct fe *fe, struct vhu_hdr *hdr, void *payload, size_t max)
{
	ssize_t n;

	for (int i = 0; i < 2500 && !readable(fe->fd); i++)
		vback_loop_run_once(fe->loop, 2);
	if (!readable(fe->fd))
		return -ETIMEDOUT;
	n = recv(fe->fd, hdr, sizeof(*hdr), MSG_WAITALL);
	if (n == 0)
		return -ECONNRESET;
	assert_int_equal(n, sizeof(*hdr));
	assert_true(hdr->size <= max);
	if (hdr->size)
		assert_int_equal(recv(fe->fd, payload, hdr->size, MSG_WAITALL),
				 (ssize_t)hdr->size);
	return 0;
}

int fe_recv_fd(struct fe *fe, struct vhu_hdr *hdr, void *payload, size_t max,
	       int *fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(*hdr) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctrl.b,
			     .msg_controllen = sizeof(ctrl.b) };
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	for (int i = 0; i < 2500 && !readable(fe->fd); i++)
		vback_loop_run_once(fe->loop, 2);
	if (!readable(fe->fd))
		return -ETIMEDOUT;
	n = recvmsg(fe->fd, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC);
	if (n == 0)
		return -ECONNRESET;
	assert_int_equal(n, sizeof(*hdr));
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	assert_true(hdr->size <= max);
	if (hdr->size)
		assert_int_equal(recv(fe->fd, payload, hdr->size, MSG_WAITALL),
				 (ssize_t)hdr->size);
	return 0;
}

uint64_t fe_get_u64(struct fe *fe, uint32_t request)
{
	struct vhu_hdr hdr;
	uint64_t v = 0;

	fe_send(fe, request, VHU_VERSION, NULL, 0, NULL, 0);
	assert_int_equal(fe_recv(fe, &hdr, &v, sizeof(v)), 0);
	assert_int_equal(hdr.request, request);
	assert_int_equal(hdr.flags, VHU_VERSION | VHU_FLAG_REPLY);
	assert_int_equal(hdr.size, sizeof(v));
	return v;
}

bool fe_closed(struct fe *fe)
{
	char c;

	fe_pump(fe->loop);
	if (!readable(fe->fd))
		return false;
	return recv(fe->fd, &c, 1, MSG_DONTWAIT) == 0;
}

bool fe_silent(struct fe *fe)
{
	fe_pump(fe->loop);
	return !readable(fe->fd);
}
