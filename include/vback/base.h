/* SPDX-License-Identifier: MIT */
/*
 * vback base: logging hook, iovecs and the event-loop interface.
 *
 * Everything here is OS-free so that every layer (virtio/ included) may use
 * it. Conventions used by every vback header:
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

/* Marks the public API: the shared library exports exactly these symbols. */
#if defined(__GNUC__)
#define VBACK_API __attribute__((visibility("default")))
#else
#define VBACK_API
#endif

#define VBACK_VERSION_MAJOR 0
#define VBACK_VERSION_MINOR 1
#define VBACK_VERSION_PATCH 0

/** The library version as "MAJOR.MINOR.PATCH"; static storage. */
VBACK_API const char *vback_version(void);

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

/** Severities, numbered like syslog so a sink can pass them through. */
enum vback_log_level {
	VBACK_LOG_ERR = 3,
	VBACK_LOG_WARN = 4,
	VBACK_LOG_INFO = 6,
	VBACK_LOG_DEBUG = 7,
};

/**
 * A log sink. @msg is one line without a trailing newline, valid only for
 * the duration of the call. Called on the thread that logs.
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
	vback_log_fn fn;
	void *opaque;
	enum vback_log_level max_level; /* messages above this are dropped */
};

/** Format and emit one message through @log (NULL: default stderr sink). */
VBACK_API void vback_logf(const struct vback_log *log, enum vback_log_level level,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));
VBACK_API void vback_vlogf(const struct vback_log *log, enum vback_log_level level,
		 const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/** True when a message of @level would be emitted (skip costly formatting). */
VBACK_API bool vback_log_enabled(const struct vback_log *log,
		       enum vback_log_level level);

/** Parse "err", "warn", "info" or "debug"; 0 or -EINVAL. */
VBACK_API int vback_log_level_parse(const char *name, enum vback_log_level *level);

/** strerror() for a negative errno, safe to call from any layer. */
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
	void *iov_base;
	size_t iov_len;
};

/**
 * Sum of the lengths of @iov[0..@cnt). Returns 0 and stores the sum in
 * @total, or -EOVERFLOW if the sum does not fit in a uint64_t.
 */
VBACK_API int vback_iov_total(const struct vback_iovec *iov, unsigned int cnt,
		    uint64_t *total);

/**
 * Copy up to @len bytes starting @skip bytes into the vector into @buf.
 * Returns the number of bytes copied (less than @len when the vector ends).
 */
VBACK_API size_t vback_iov_to_buf(const struct vback_iovec *iov, unsigned int cnt,
			size_t skip, void *buf, size_t len);

/** Copy @len bytes from @buf into the vector at @skip; returns bytes copied. */
VBACK_API size_t vback_iov_from_buf(const struct vback_iovec *iov, unsigned int cnt,
			  size_t skip, const void *buf, size_t len);

/** Fill @len bytes of the vector at @skip with zeroes; returns bytes set. */
VBACK_API size_t vback_iov_memset0(const struct vback_iovec *iov, unsigned int cnt,
			 size_t skip, size_t len);

/* ------------------------------------------------------------------ */
/* Event loop                                                          */
/* ------------------------------------------------------------------ */

/** Readiness bits for vback_loop_watch(). */
#define VBACK_EV_IN (1u << 0)
#define VBACK_EV_OUT (1u << 1)
/** Reported only: error or hang-up on the fd. */
#define VBACK_EV_ERR (1u << 2)

/** Called on the loop thread when @fd is ready for some of @events. */
typedef void (*vback_fd_fn)(void *opaque, int fd, uint32_t events);

/**
 * The event-loop interface. No vback library waits on anything by itself:
 * the transports and IO backends register their fds here, and whoever owns
 * the process runs the loop. An embedder with a loop of its own (glib,
 * libuv, a Zephyr poll loop, ...) fills these ops; Linux users take the
 * epoll implementation below.
 *
 * Rules for implementations: a callback may watch and unwatch any fd,
 * including its own; after unwatch() returns, the callback for that fd is
 * never called again (not even for events already collected).
 */
struct vback_loop_ops {
	/** Start watching @fd (one watch per fd). 0, -EEXIST, -errno. */
	int (*watch)(void *opaque, int fd, uint32_t events, vback_fd_fn fn,
		     void *fn_opaque);
	/** Change the events of a watched fd. 0, -ENOENT, -errno. */
	int (*modify)(void *opaque, int fd, uint32_t events);
	/** Stop watching @fd. 0 or -ENOENT. */
	int (*unwatch)(void *opaque, int fd);
	/**
	 * Optional (NULL if the embedder runs its own loop): dispatch until
	 * stop() is called. 0, or -errno if waiting failed.
	 */
	int (*run)(void *opaque);
	/**
	 * Optional: run one iteration, waiting at most @timeout_ms (-1:
	 * forever). Returns the number of callbacks run, or -errno.
	 */
	int (*run_once)(void *opaque, int timeout_ms);
	/** Optional: make run() return after the current callback. */
	void (*stop)(void *opaque);
};

/** A loop is its ops plus their context; small, passed by pointer. */
struct vback_loop {
	const struct vback_loop_ops *ops;
	void *opaque;
};

static inline int vback_loop_watch(const struct vback_loop *loop, int fd,
				   uint32_t events, vback_fd_fn fn,
				   void *fn_opaque)
{
	return loop->ops->watch(loop->opaque, fd, events, fn, fn_opaque);
}

static inline int vback_loop_modify(const struct vback_loop *loop, int fd,
				    uint32_t events)
{
	return loop->ops->modify(loop->opaque, fd, events);
}

static inline int vback_loop_unwatch(const struct vback_loop *loop, int fd)
{
	return loop->ops->unwatch(loop->opaque, fd);
}

/** -ENOTSUP when the implementation has no run(). */
VBACK_API int vback_loop_run(const struct vback_loop *loop);
/** -ENOTSUP when the implementation has no run_once(). */
VBACK_API int vback_loop_run_once(const struct vback_loop *loop, int timeout_ms);
/** No-op when the implementation has no stop(). */
VBACK_API void vback_loop_stop(const struct vback_loop *loop);

/**
 * The Linux epoll implementation. On success *@out is a loop owned by the
 * caller, freed with vback_epoll_loop_destroy() once nothing watches it.
 * stop() is safe to call from another thread or a signal handler (it only
 * writes an eventfd). Returns 0, -ENOTSUP on systems without epoll, -errno.
 */
VBACK_API int vback_epoll_loop_create(const struct vback_log *log,
			    struct vback_loop **out);
VBACK_API void vback_epoll_loop_destroy(struct vback_loop *loop);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_BASE_H */
