/* SPDX-License-Identifier: MIT */
#include <syslog.h>

#include "log_syslog.h"

static void sink(void *opaque, enum vback_log_level level, const char *msg)
{
	(void)opaque;
	/* vback's levels are numbered like syslog's (base.h). */
	syslog(LOG_DAEMON | (int)level, "%s", msg);
}

void vback_disk_log_syslog_init(struct vback_log *log, enum vback_log_level max)
{
	openlog("vback-disk", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log->fn = sink;
	log->opaque = NULL;
	log->max_level = max;
}
