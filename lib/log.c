/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <vback/base.h>

/* One line per message: long enough for any vback message, bounded so a
 * hostile value formatted into it cannot make us allocate. */
#define VBACK_LOG_LINE 512

const char *vback_log_level_name(enum vback_log_level level)
{
	switch (level) {
	case VBACK_LOG_ERR:
		return "error";
	case VBACK_LOG_WARN:
		return "warning";
	case VBACK_LOG_INFO:
		return "info";
	case VBACK_LOG_DEBUG:
		return "debug";
	}
	return "?";
}

bool vback_log_enabled(const struct vback_log *log, enum vback_log_level level)
{
	enum vback_log_level max = VBACK_LOG_INFO;

	if (log && log->fn)
		max = log->max_level;
	return level <= max;
}

void vback_vlogf(const struct vback_log *log, enum vback_log_level level,
		 const char *fmt, va_list ap)
{
	char line[VBACK_LOG_LINE];

	if (!vback_log_enabled(log, level))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log && log->fn)
		log->fn(log->opaque, level, line);
	else
		fprintf(stderr, "vback: %s: %s\n", vback_log_level_name(level),
			line);
}

void vback_logf(const struct vback_log *log, enum vback_log_level level,
		const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vback_vlogf(log, level, fmt, ap);
	va_end(ap);
}

int vback_log_level_parse(const char *name, enum vback_log_level *level)
{
	static const struct {
		const char *name;
		enum vback_log_level level;
	} names[] = {
		{ "err", VBACK_LOG_ERR },   { "error", VBACK_LOG_ERR },
		{ "warn", VBACK_LOG_WARN }, { "warning", VBACK_LOG_WARN },
		{ "info", VBACK_LOG_INFO }, { "debug", VBACK_LOG_DEBUG },
	};

	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*level = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

const char *vback_strerror(int neg_errno)
{
	/* strerror() of glibc is thread-safe for known values and never
	 * returns NULL; a positive value is a caller bug we tolerate. */
	return strerror(neg_errno < 0 ? -neg_errno : neg_errno);
}
