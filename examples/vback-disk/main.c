/* SPDX-License-Identifier: MIT */
/* vback-disk: a virtio-blk backend daemon, wiring only (see modes.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "log_syslog.h"
#include "modes.h"
#include "options.h"

int main(int argc, char **argv)
{
	/* The --disk tables (about 5 KiB): not on the stack. The log is
	 * static too: a connect a second stop signal left running may still
	 * log while the process exits. */
	static struct vback_disk_options opts;
	static struct vback_log log;
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

	switch (opts.mode) {
	case VBACK_DISK_MODE_VHOST_USER:
		ret = vback_disk_run_vhost_user(&opts, &log);
		break;
	case VBACK_DISK_MODE_XEN:
		ret = vback_disk_run_xen(&opts, &log);
		break;
	case VBACK_DISK_MODE_NONE:
		break;
	}
	vback_disk_options_free(&opts);
	return ret;
}
