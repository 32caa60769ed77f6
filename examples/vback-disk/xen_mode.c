/* SPDX-License-Identifier: MIT */
/*
 * vback-disk without --vhost-user: the Xen mode. Creates the loop and the
 * Xen context, hands both to the daemon core (xen_daemon.c) and runs the
 * loop until a signal has drained and flushed everything, or (explicit
 * mode) the served domain died and was released: exit 0 either way.
 */
#include <stdlib.h>

#include <vback/epoll.h>
#include <vback/xen.h>

#include "control.h"
#include "modes.h"

#include "xen_daemon.h"

int vback_disk_run_xen(const struct vback_disk_options *opts,
		       struct vback_log *log)
{
	struct xen_daemon_env env = {
		.opts = opts,
		.log = log,
		.irq_mode = VBACK_XEN_IRQ_AUTO,
	};
	struct vback_xen_options xo = { .log = log };
	struct ctl_server *ctl = NULL;
	struct xen_daemon *xd = NULL;
	struct vback_xen *xen = NULL;
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
	/* Images first: a bad --disk path is reported before Xen. */
	ret = xen_daemon_create(&env, &xd);
	if (ret < 0)
		goto out;
	xo.loop = loop;
	ret = vback_xen_create(&xo, &xen);
	if (ret < 0) {
		vback_logf(log, VBACK_LOG_ERR,
			   "cannot open the Xen libraries: %s (vback-disk runs "
			   "in Dom0 or a driver domain, as root, with the "
			   "xen-evtchn, xen-gntdev and xen-privcmd drivers)",
			   vback_strerror(ret));
		goto out;
	}
	ret = xen_daemon_start(xd, xen);
	if (ret < 0)
		goto out;
	if (opts->control) {
		struct ctl_server_options co = {
			.path = opts->control,
			.loop = loop,
			.log = log,
			.ops = &xen_daemon_ctl_ops,
			.opaque = xd,
		};

		ret = ctl_server_create(&co, &ctl);
		if (ret < 0) {
			vback_logf(log, VBACK_LOG_ERR,
				   "cannot create the control socket %s: %s",
				   opts->control, vback_strerror(ret));
			goto out;
		}
	}
	ret = vback_loop_run(loop);
	if (ret < 0)
		vback_logf(log, VBACK_LOG_ERR, "event loop failed: %s",
			   vback_strerror(ret));
out:
	ctl_server_destroy(ctl);
	xen_daemon_destroy(xd);
	vback_xen_destroy(xen);
	vback_epoll_loop_destroy(loop);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
