/* SPDX-License-Identifier: MIT */
/**
 * @file vback/base.h
 * @brief vback base: version, logging hook, errors and iovecs.
 *
 * Everything here is OS-free so that every layer (virtio/ included) may use
 * it; the event loop is in vback/loop.h. Conventions used by every vback header:
 *  - functions return 0 or a negative errno; lookups return NULL;
 *  - -EAGAIN is back-pressure (retry later), not failure;
 *  - an object's creator owns it and destroys it with the matching destroy;
 *  - unless a header says otherwise, an object is used from one thread (the
 *    thread that runs its event loop) and callbacks arrive on that thread.
 */
#ifndef VBACK_BASE_H
#define VBACK_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks the public API: the shared library exports exactly these symbols. */
#if defined(__GNUC__)
#define VBACK_API __attribute__((visibility("default")))
#else
#define VBACK_API
#endif

/** Major version of the headers (compare with vback_version() at run time). */
#define VBACK_VERSION_MAJOR 0
/** Minor version of the headers. */
#define VBACK_VERSION_MINOR 1
/** Patch level of the headers. */
#define VBACK_VERSION_PATCH 0

/**
 * The version of the library linked at run time as "MAJOR.MINOR.PATCH"
 * (static storage: do not free). Any thread.
 */
VBACK_API const char *vback_version(void);

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

/** Severities, numbered like syslog so a sink can pass them through. */
enum vback_log_level {
	VBACK_LOG_ERR = 3,   /**< something failed: a request, a device */
	VBACK_LOG_WARN = 4,  /**< unexpected, but vback carries on */
	VBACK_LOG_INFO = 6,  /**< lifecycle: created, connected, stopped */
	VBACK_LOG_DEBUG = 7, /**< per-message detail, protocol traces */
};

/**
 * A log sink. @opaque is struct vback_log's, @level the severity of the
 * message (never above max_level: filtered before the call), @msg one line
 * without a trailing newline, valid only for the duration of the call.
 * Called synchronously on the thread that logs (with several loops, from
 * several threads: a shared sink must be thread-safe). Must not call back
 * into the object that logs.
 */
typedef void (*vback_log_fn)(void *opaque, enum vback_log_level level,
			     const char *msg);

/**
 * Where an object logs. There is no global logger: every vback object takes
 * a `const struct vback_log *` at creation and keeps the pointer (the caller
 * keeps the struct alive until the object is destroyed). NULL, or a struct
 * whose @fn is NULL, means "stderr, level INFO and more severe".
 */
struct vback_log {
	vback_log_fn fn; /**< the sink; NULL: stderr */
	void *opaque;	 /**< passed to @fn */
	/** Messages above this are dropped (with @fn set; the default sink
	 *  always shows INFO and more severe). Set it before the sink is in
	 *  use; while other threads may log through it, change it only with
	 *  vback_log_set_level(). */
	enum vback_log_level max_level;
};

/**
 * Change @log's max_level while other threads may be logging through it
 * (an atomic store the readers pair with). Any thread.
 */
VBACK_API void vback_log_set_level(struct vback_log *log,
				   enum vback_log_level level);

/**
 * Format (printf-style @fmt) and emit one message of @level through @log
 * (NULL, or NULL fn: the default stderr sink). Messages above the sink's
 * max_level are dropped without formatting. Any thread.
 */
VBACK_API void vback_logf(const struct vback_log *log,
			  enum vback_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** vback_logf() with a va_list (@ap is consumed). */
VBACK_API void vback_vlogf(const struct vback_log *log,
			   enum vback_log_level level, const char *fmt,
			   va_list ap) __attribute__((format(printf, 3, 0)));

/** True when a message of @level would be emitted by @log (to skip costly
 *  formatting). */
VBACK_API bool vback_log_enabled(const struct vback_log *log,
				 enum vback_log_level level);

/** Parse @name, one of "err", "warn", "info" or "debug", into *@level.
 *  0, or -EINVAL (*@level untouched). */
VBACK_API int vback_log_level_parse(const char *name,
				    enum vback_log_level *level);

/** The name sinks print for @level: "error", "warning", "info", "debug",
 *  or "?" for a value outside the enum. Static storage. */
VBACK_API const char *vback_log_level_name(enum vback_log_level level);

/** strerror() for a negative errno (@neg_errno, e.g. -EIO): a static
 *  string, never NULL; any thread, any layer (virtio/ included). */
VBACK_API const char *vback_strerror(int neg_errno);

/* ------------------------------------------------------------------ */
/* iovecs                                                              */
/* ------------------------------------------------------------------ */

/**
 * An I/O vector laid out exactly like POSIX `struct iovec` (the POSIX IO
 * backend checks this with a static assertion and passes arrays through
 * without copying). Defined here so that OS-free code needs no OS header.
 */
struct vback_iovec {
	void *iov_base; /**< start of the buffer */
	size_t iov_len; /**< its length in bytes */
};

/**
 * Sum of the lengths of @iov[0..@cnt). Returns 0 and stores the sum in
 * @total, or -EOVERFLOW if the sum does not fit in a uint64_t.
 */
VBACK_API int vback_iov_total(const struct vback_iovec *iov, unsigned int cnt,
			      uint64_t *total);

/**
 * Copy up to @len bytes starting @skip bytes into the vector @iov (@cnt
 * entries) into @buf. Returns the number of bytes copied (less than @len
 * when the vector ends).
 */
VBACK_API size_t vback_iov_to_buf(const struct vback_iovec *iov,
				  unsigned int cnt, size_t skip, void *buf,
				  size_t len);

/** Copy @len bytes from @buf into the vector @iov (@cnt entries) at @skip;
 *  returns the number of bytes copied (less when the vector ends). */
VBACK_API size_t vback_iov_from_buf(const struct vback_iovec *iov,
				    unsigned int cnt, size_t skip,
				    const void *buf, size_t len);

/** Fill @len bytes of the vector @iov (@cnt entries) at @skip with zeroes;
 *  returns the number of bytes set. */
VBACK_API size_t vback_iov_memset0(const struct vback_iovec *iov,
				   unsigned int cnt, size_t skip, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_BASE_H */
