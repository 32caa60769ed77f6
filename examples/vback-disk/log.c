/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <time.h>

#include "log.h"

static void sink(void *opaque, enum vback_log_level level, const char *msg)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* One fprintf per line keeps lines whole with several threads. */
	fprintf(stderr, "[%5lld.%03ld] vback-disk: %s: %s\n",
		(long long)ts.tv_sec, ts.tv_nsec / 1000000L,
		vback_log_level_name(level), msg);
}

void vback_disk_log_init(struct vback_log *log, enum vback_log_level max)
{
	log->fn = sink;
	log->opaque = NULL;
	log->max_level = max;
}
