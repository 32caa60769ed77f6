/* SPDX-License-Identifier: MIT */
/*
 * vback-disk in vhost-user mode: hands main()'s loop to the daemon core
 * (vhu_daemon.c) and serves, with the control socket when asked for,
 * until a signal has drained, flushed and closed every disk.
 */
#include <stdlib.h>

#include "modes.h"
#include "vhu_daemon.h"

int vback_disk_run_vhost_user(const struct vback_disk_options *opts,
			      struct vback_log *log, struct vback_loop *loop)
{
	struct vhu_daemon_env env = {
		.opts = opts,
		.log = log,
		.loop = loop,
	};
	struct vhu_daemon *vd = NULL;
	int ret;

	ret = vhu_daemon_create(&env, &vd);
	if (ret == 0)
		ret = vback_disk_serve(opts, log, loop, &vhu_daemon_ctl_ops,
				       vd);
	vhu_daemon_destroy(vd);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
