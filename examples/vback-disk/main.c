/* SPDX-License-Identifier: MIT */
/* vback-disk: a virtio-blk backend daemon, wiring only (see modes.h). */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "log_syslog.h"
#include "modes.h"
#include "options.h"

int main(int argc, char **argv)
{
	struct vback_disk_options opts;
	struct vback_log log;

	switch (vback_disk_parse_options(argc, argv, &opts)) {
	case VBACK_DISK_RUN:
		break;
	case VBACK_DISK_EXIT_OK:
		return EXIT_SUCCESS;
	case VBACK_DISK_EXIT_USAGE:
		return 2;
	}
	/* Line-buffered: logs interleave sanely with a supervisor's. */
	setvbuf(stderr, NULL, _IOLBF, 0);
	vback_disk_log_init(&log, opts.log_level);
	if (opts.syslog)
		vback_disk_log_syslog_init(&log, opts.log_level);

	switch (opts.mode) {
	case VBACK_DISK_MODE_VHOST_USER:
		return vback_disk_run_vhost_user(&opts, &log);
	case VBACK_DISK_MODE_XEN:
		return vback_disk_run_xen(&opts, &log);
	case VBACK_DISK_MODE_NONE:
		break;
	}
	return 2;
}
