/* SPDX-License-Identifier: MIT */
/*
 * Test-only LD_PRELOAD shim for tests/e2e/restart-e2e.sh: makes one IO of
 * vback-disk's posix engine (--engine posix: preadv/pwritev on worker
 * threads) never complete, so that the requests after it complete out of
 * order. The first pwrite/pwritev whose range covers byte
 * $VBACK_HOLD_OFFSET blocks its worker thread until the process is
 * killed; every other call goes through. One line on stderr says when.
 * Never part of the daemon: meson builds it next to the tests only.
 */
/* Both names of each call are defined here; the daemon, built with
 * _FILE_OFFSET_BITS=64, calls the *64 ones. No redirection here. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off64_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off64_t);

#define EXPORT __attribute__((visibility("default")))

static atomic_int held;

/* The next definition of @name (libc's); POSIX lets a data pointer from
 * dlsym() be a function's: copied, since ISO C has no such cast. */
static void next_fn(const char *name, void *fn, size_t size)
{
	void *p = dlsym(RTLD_NEXT, name);

	memcpy(fn, &p, size);
}

static void maybe_hold(off64_t off, size_t len)
{
	const char *s = getenv("VBACK_HOLD_OFFSET");
	long long at;

	if (!s || atomic_load(&held))
		return;
	at = atoll(s);
	if (at < off || at >= off + (off64_t)len || atomic_exchange(&held, 1))
		return;
	dprintf(2,
		"hold-write: holding the write of %zu bytes at %lld until "
		"the process dies\n",
		len, (long long)off);
	for (;;)
		pause();
}

static size_t iov_len(const struct iovec *iov, int n)
{
	size_t len = 0;

	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

static ssize_t hold_pwritev(const char *name, int fd, const struct iovec *iov,
			    int n, off64_t off)
{
	pwritev_fn real;

	next_fn(name, &real, sizeof(real));
	maybe_hold(off, iov_len(iov, n));
	return real(fd, iov, n, off);
}

static ssize_t hold_pwrite(const char *name, int fd, const void *buf,
			   size_t len, off64_t off)
{
	pwrite_fn real;

	next_fn(name, &real, sizeof(real));
	maybe_hold(off, len);
	return real(fd, buf, len, off);
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	return hold_pwritev("pwritev", fd, iov, n, off);
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int n, off64_t off)
{
	return hold_pwritev("pwritev64", fd, iov, n, off);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return hold_pwrite("pwrite", fd, buf, len, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	return hold_pwrite("pwrite64", fd, buf, len, off);
}
