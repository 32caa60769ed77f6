/* SPDX-License-Identifier: MIT */
/* vback-disk: a virtio-blk backend daemon, wiring only (see modes.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vback/epoll.h>

#include "log.h"
#include "log_syslog.h"
#include "modes.h"
#include "options.h"

int vback_disk_serve(const struct vback_disk_options *opts,
		     struct vback_log *log, struct vback_loop *loop,
		     const struct ctl_ops *ops, void *opaque)
{
	struct ctl_server *ctl = NULL;
	int ret;

	if (opts->control) {
		struct ctl_server_options co = {
			.path = opts->control,
			.loop = loop,
			.log = log,
			.ops = ops,
			.opaque = opaque,
		};

		ret = ctl_server_create(&co, &ctl);
		if (ret < 0) {
			vback_logf(log, VBACK_LOG_ERR,
				   "cannot create the control socket %s: %s",
				   opts->control, vback_strerror(ret));
			return ret;
		}
		vback_logf(log, VBACK_LOG_INFO, "control socket %s",
			   opts->control);
	}
	ret = vback_loop_run(loop);
	if (ret < 0)
		vback_logf(log, VBACK_LOG_ERR, "event loop failed: %s",
			   vback_strerror(ret));
	/* Clients before the daemon: a removal they wait for completes
	 * into the void. */
	ctl_server_destroy(ctl);
	return ret;
}

int main(int argc, char **argv)
{
	/* The --disk tables (about 5 KiB): not on the stack. The log is
	 * static too: a connect a second stop signal left running may still
	 * log while the process exits. */
	static struct vback_disk_options opts;
	static struct vback_log log;
	struct vback_loop *loop;
	int ret = 2;

	if (argc > 1 && !strcmp(argv[1], "ctl"))
		return vback_disk_ctl_main(argc - 1, argv + 1);
	switch (vback_disk_parse_options(argc, argv, &opts)) {
	case VBACK_DISK_RUN:
		break;
	case VBACK_DISK_EXIT_OK:
		vback_disk_options_free(&opts);
		return EXIT_SUCCESS;
	case VBACK_DISK_EXIT_USAGE:
		vback_disk_options_free(&opts);
		return 2;
	}
	/* Line-buffered: logs interleave sanely with a supervisor's. */
	setvbuf(stderr, NULL, _IOLBF, 0);
	vback_disk_log_init(&log, opts.log_level);
	if (opts.syslog)
		vback_disk_log_syslog_init(&log, opts.log_level);

	ret = vback_epoll_loop_create(&log, &loop);
	if (ret < 0) {
		vback_logf(&log, VBACK_LOG_ERR, "event loop: %s",
			   vback_strerror(ret));
		vback_disk_options_free(&opts);
		return EXIT_FAILURE;
	}
	/* Cannot fail on a loop of vback_epoll_loop_create(). */
	(void)vback_epoll_loop_set_poll(loop, (uint64_t)opts.poll_us * 1000u);
	ret = 2;
	switch (opts.mode) {
	case VBACK_DISK_MODE_VHOST_USER:
		ret = vback_disk_run_vhost_user(&opts, &log, loop);
		break;
	case VBACK_DISK_MODE_XEN:
		ret = vback_disk_run_xen(&opts, &log, loop);
		break;
	case VBACK_DISK_MODE_NONE:
		break;
	}
	vback_epoll_loop_destroy(loop);
	vback_disk_options_free(&opts);
	return ret;
}
