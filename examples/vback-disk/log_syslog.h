/* SPDX-License-Identifier: MIT */
/* --syslog: the daemon's log sink on syslog(3) instead of stderr. */
#ifndef VBACK_DISK_LOG_SYSLOG_H
#define VBACK_DISK_LOG_SYSLOG_H

#include <vback/base.h>

/* Opens syslog as "vback-disk", facility LOG_DAEMON; never closed (the
 * process ends with it). */
void vback_disk_log_syslog_init(struct vback_log *log,
				enum vback_log_level max);

#endif /* VBACK_DISK_LOG_SYSLOG_H */
