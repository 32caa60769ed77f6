/* SPDX-License-Identifier: MIT */
/*
 * vback-disk without --vhost-user: the Xen mode. Creates the Xen context,
 * hands it and main()'s loop to the daemon core (xen_daemon.c) and serves
 * until a signal has drained and flushed everything, or (explicit mode)
 * the served domain died and was released: exit 0 either way.
 */
#include <stdlib.h>

#include <vback/xen.h>

#include "modes.h"

#include "xen_daemon.h"

int vback_disk_run_xen(const struct vback_disk_options *opts,
		       struct vback_log *log, struct vback_loop *loop)
{
	struct xen_daemon_env env = {
		.opts = opts,
		.log = log,
		.loop = loop,
		.irq_mode = VBACK_XEN_IRQ_AUTO,
	};
	struct vback_xen_options xo = { .log = log, .loop = loop };
	struct xen_daemon *xd = NULL;
	struct vback_xen *xen = NULL;
	int ret;

	/* Images first: a bad --disk path is reported before Xen. */
	ret = xen_daemon_create(&env, &xd);
	if (ret < 0)
		goto out;
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
	if (ret == 0)
		ret = vback_disk_serve(opts, log, loop, &xen_daemon_ctl_ops,
				       xd);
out:
	xen_daemon_destroy(xd);
	vback_xen_destroy(xen);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
