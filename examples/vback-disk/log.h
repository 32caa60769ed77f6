/* SPDX-License-Identifier: MIT */
/* The daemon's log sink: one line per message on stderr. */
#ifndef VBACK_DISK_LOG_H
#define VBACK_DISK_LOG_H

#include <vback/base.h>

void vback_disk_log_init(struct vback_log *log, enum vback_log_level max);

#endif /* VBACK_DISK_LOG_H */
