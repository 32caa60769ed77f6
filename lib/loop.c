/* SPDX-License-Identifier: MIT */
/* The non-inline halves of vback/loop.h. */
#include <vback/loop.h>

#include "vb_os.h"

int vback_loop_watch(const struct vback_loop *loop, int fd, uint32_t events,
		     vback_fd_fn fn, void *fn_opaque)
{
	if (!loop->ops->watch)
		return -ENOTSUP;
	return loop->ops->watch(loop->opaque, fd, events, fn, fn_opaque);
}

int vback_loop_modify(const struct vback_loop *loop, int fd, uint32_t events)
{
	if (!loop->ops->modify)
		return -ENOTSUP;
	return loop->ops->modify(loop->opaque, fd, events);
}

int vback_loop_unwatch(const struct vback_loop *loop, int fd)
{
	if (!loop->ops->unwatch)
		return -ENOENT;
	return loop->ops->unwatch(loop->opaque, fd);
}

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

int vback_loop_poller_add(const struct vback_loop *loop, struct vback_poller *p)
{
	if (!loop->ops->poller_add)
		return -ENOTSUP;
	if (!p || !p->poll)
		return -EINVAL;
	return loop->ops->poller_add(loop->opaque, p);
}

void vback_loop_poller_remove(const struct vback_loop *loop,
			      struct vback_poller *p)
{
	if (loop->ops->poller_remove && p && p->added_)
		loop->ops->poller_remove(loop->opaque, p);
}
