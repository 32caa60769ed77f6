/* SPDX-License-Identifier: MIT */
/*
 * Logging and error names. Hosted builds format with libc (callers may
 * use any printf conversion); freestanding builds with the library's own
 * formatter (vb_format.h), which covers every conversion the OS-free code
 * uses (no floating point). The default sink (no struct vback_log) is
 * stderr when hosted, nothing when freestanding: an embedder passes one.
 */
#include <vback/base.h>

#include "vb_format.h"
#include "vb_os.h"

#if !VBACK_FREESTANDING
#include <stdio.h>
#include <string.h>
#endif

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

	/* Relaxed: the level may change under us (vback_log_set_level());
	 * either value is right, a torn or cached one is not. */
	if (log && log->fn)
		max = __atomic_load_n(&log->max_level, __ATOMIC_RELAXED);
	return level <= max;
}

void vback_log_set_level(struct vback_log *log, enum vback_log_level level)
{
	__atomic_store_n(&log->max_level, level, __ATOMIC_RELAXED);
}

void vback_vlogf(const struct vback_log *log, enum vback_log_level level,
		 const char *fmt, va_list ap)
{
	char line[VBACK_LOG_LINE];

	if (!vback_log_enabled(log, level))
		return;
#if VBACK_FREESTANDING
	vb_vsnprintf(line, sizeof(line), fmt, ap);
#else
	vsnprintf(line, sizeof(line), fmt, ap);
#endif
	if (log && log->fn)
		log->fn(log->opaque, level, line);
#if !VBACK_FREESTANDING
	else
		fprintf(stderr, "vback: %s: %s\n", vback_log_level_name(level),
			line);
#endif
}

void vback_logf(const struct vback_log *log, enum vback_log_level level,
		const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vback_vlogf(log, level, fmt, ap);
	va_end(ap);
}

/* ASCII case-insensitive equality (no strcasecmp when freestanding). */
static bool same_name(const char *a, const char *b)
{
	for (;; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;

		if (x != *b)
			return false;
		if (!x)
			return true;
	}
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
		if (same_name(name, names[i].name)) {
			*level = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

const char *vback_strerror(int neg_errno)
{
	int e = neg_errno < 0 ? -neg_errno : neg_errno;

#if !VBACK_FREESTANDING
	/* strerror() of glibc is thread-safe for known values and never
	 * returns NULL; a positive value is a caller bug we tolerate. */
	return strerror(e);
#else
	/* The values the library returns (vb_errno.h), as glibc words them. */
	static const struct {
		int e;
		const char *s;
	} names[] = {
		{ EPERM, "Operation not permitted" },
		{ ENOENT, "No such file or directory" },
		{ ESRCH, "No such process" },
		{ EIO, "Input/output error" },
		{ EAGAIN, "Resource temporarily unavailable" },
		{ ENOMEM, "Cannot allocate memory" },
		{ EACCES, "Permission denied" },
		{ EFAULT, "Bad address" },
		{ EBUSY, "Device or resource busy" },
		{ EEXIST, "File exists" },
		{ ENODEV, "No such device" },
		{ EINVAL, "Invalid argument" },
		{ ENOSPC, "No space left on device" },
		{ EROFS, "Read-only file system" },
		{ ERANGE, "Numerical result out of range" },
		{ ENAMETOOLONG, "File name too long" },
		{ ENOSYS, "Function not implemented" },
		{ EPROTO, "Protocol error" },
		{ EBADMSG, "Bad message" },
		{ EOVERFLOW, "Value too large for defined data type" },
		{ EOPNOTSUPP, "Operation not supported" },
		{ ESHUTDOWN, "Cannot send after transport endpoint shutdown" },
		{ ETIMEDOUT, "Connection timed out" },
		{ ESTALE, "Stale file handle" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == e)
			return names[i].s;
	return "Unknown error";
#endif
}
