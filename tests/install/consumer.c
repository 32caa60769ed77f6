/* SPDX-License-Identifier: MIT */
/* A program outside the tree: only the installed headers and library. */
#include <stdio.h>

#include <vback/epoll.h>
#include <vback/vback.h>

int main(void)
{
	struct vback_loop *loop;
	struct vback_iovec iov = { 0 };
	uint64_t total = 1;

	if (vback_epoll_loop_create(NULL, &loop) != 0)
		return 1;
	vback_epoll_loop_destroy(loop);
	if (vback_iov_total(&iov, 1, &total) != 0 || total != 0)
		return 1;
	printf("vback %s ok\n", vback_version());
	return 0;
}
