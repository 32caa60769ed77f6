/* SPDX-License-Identifier: MIT */
/**
 * @file vback/base.h
 * @brief vback base: logging hook, iovecs and the event-loop interface.
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
	 *  always shows INFO and more severe). */
	enum vback_log_level max_level;
};

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

/* ------------------------------------------------------------------ */
/* Event loop                                                          */
/* ------------------------------------------------------------------ */

/** Readiness bit for vback_loop_watch(): the fd is readable. */
#define VBACK_EV_IN (1u << 0)
/** Readiness bit for vback_loop_watch(): the fd is writable. */
#define VBACK_EV_OUT (1u << 1)
/** Reported only: error or hang-up on the fd. */
#define VBACK_EV_ERR (1u << 2)

/**
 * Called on the loop thread, from inside run()/run_once(), when @fd is
 * ready: @events holds the VBACK_EV_* bits that are (VBACK_EV_ERR may be
 * set without being asked for). @opaque is the one given to watch(). The
 * callback may watch, modify and unwatch any fd, its own included.
 */
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
	/** Start watching @fd for @events (VBACK_EV_*), calling @fn with
	 *  @fn_opaque (one watch per fd). 0, -EEXIST, -errno. */
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
	const struct vback_loop_ops *ops; /**< the implementation */
	void *opaque;			  /**< context passed to every op */
};

/** Call @loop's watch(): see struct vback_loop_ops. */
static inline int vback_loop_watch(const struct vback_loop *loop, int fd,
				   uint32_t events, vback_fd_fn fn,
				   void *fn_opaque)
{
	return loop->ops->watch(loop->opaque, fd, events, fn, fn_opaque);
}

/** Call @loop's modify(): see struct vback_loop_ops. */
static inline int vback_loop_modify(const struct vback_loop *loop, int fd,
				    uint32_t events)
{
	return loop->ops->modify(loop->opaque, fd, events);
}

/** Call @loop's unwatch(): see struct vback_loop_ops. */
static inline int vback_loop_unwatch(const struct vback_loop *loop, int fd)
{
	return loop->ops->unwatch(loop->opaque, fd);
}

/** Dispatch callbacks until vback_loop_stop(): the loop's run(). Returns
 *  0 once stopped, -errno if waiting failed, -ENOTSUP when the
 *  implementation has no run(). Not re-entrant: never from a callback. */
VBACK_API int vback_loop_run(const struct vback_loop *loop);
/** One round of dispatch, waiting at most @timeout_ms (-1: forever):
 *  the number of callbacks run, -errno, or -ENOTSUP when the
 *  implementation has no run_once(). Not from inside a callback. */
VBACK_API int vback_loop_run_once(const struct vback_loop *loop,
				  int timeout_ms);
/** Make run() return after the current callback (callable from one).
 *  No-op when the implementation has no stop(). */
VBACK_API void vback_loop_stop(const struct vback_loop *loop);

/**
 * The Linux epoll implementation. On success *@out is a loop owned by the
 * caller, freed with vback_epoll_loop_destroy() once nothing watches it.
 * stop() is safe to call from another thread or a signal handler (it only
 * writes an eventfd); everything else is loop-thread only. Returns 0,
 * -ENOTSUP on systems without epoll, -ENOMEM, -errno. @log is borrowed.
 */
VBACK_API int vback_epoll_loop_create(const struct vback_log *log,
				      struct vback_loop **out);
/** Free a loop of vback_epoll_loop_create(); every fd must have been
 *  unwatched (its owners destroyed) and run() returned. NULL: no-op. */
VBACK_API void vback_epoll_loop_destroy(struct vback_loop *loop);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_BASE_H */
