/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include <vback/base.h>

int vback_loop_run(const struct vback_loop *loop)
{
	if (!loop->ops->run)
		return -ENOTSUP;
	return loop->ops->run(loop->opaque);
}

int vback_loop_run_once(const struct vback_loop *loop, int timeout_ms)
{
	if (!loop->ops->run_once)
		return -ENOTSUP;
	return loop->ops->run_once(loop->opaque, timeout_ms);
}

void vback_loop_stop(const struct vback_loop *loop)
{
	if (loop->ops->stop)
		loop->ops->stop(loop->opaque);
}
