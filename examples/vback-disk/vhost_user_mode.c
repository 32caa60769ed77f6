/* SPDX-License-Identifier: MIT */
/*
 * vback-disk in vhost-user mode: creates the loop, hands it to the daemon
 * core (vhu_daemon.c) with the control socket when asked for, and runs
 * until a signal has drained, flushed and closed every disk.
 */
#include <stdlib.h>

#include <vback/epoll.h>

#include "control.h"
#include "modes.h"
#include "vhu_daemon.h"

int vback_disk_run_vhost_user(const struct vback_disk_options *opts,
			      struct vback_log *log)
{
	struct vhu_daemon_env env = { .opts = opts, .log = log };
	struct ctl_server *ctl = NULL;
	struct vhu_daemon *vd = NULL;
	struct vback_loop *loop;
	int ret;

	ret = vback_epoll_loop_create(log, &loop);
	if (ret < 0) {
		vback_logf(log, VBACK_LOG_ERR, "event loop: %s",
			   vback_strerror(ret));
		return EXIT_FAILURE;
	}
	/* Cannot fail on a loop of vback_epoll_loop_create(). */
	(void)vback_epoll_loop_set_poll(loop, (uint64_t)opts->poll_us * 1000u);
	env.loop = loop;
	ret = vhu_daemon_create(&env, &vd);
	if (ret == 0 && opts->control) {
		struct ctl_server_options co = {
			.path = opts->control,
			.loop = loop,
			.log = log,
			.ops = &vhu_daemon_ctl_ops,
			.opaque = vd,
		};

		ret = ctl_server_create(&co, &ctl);
		if (ret < 0)
			vback_logf(log, VBACK_LOG_ERR,
				   "cannot create the control socket %s: %s",
				   opts->control, vback_strerror(ret));
		else
			vback_logf(log, VBACK_LOG_INFO, "control socket %s",
				   opts->control);
	}
	if (ret == 0) {
		ret = vback_loop_run(loop);
		if (ret < 0)
			vback_logf(log, VBACK_LOG_ERR, "event loop failed: %s",
				   vback_strerror(ret));
	}
	/* Clients first: a removal they wait for completes into the void. */
	ctl_server_destroy(ctl);
	vhu_daemon_destroy(vd);
	vback_epoll_loop_destroy(loop);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
