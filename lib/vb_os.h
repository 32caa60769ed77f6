/* SPDX-License-Identifier: MIT */
/*
 * What the OS-free code (virtio/, lib/ core, the memory engine, the Xen
 * IOREQ core) needs from its environment, in one place: errno values and
 * allocation at setup time.
 *
 * Hosted builds take them from libc. A freestanding build
 * (-Dfreestanding=true, docs/porting.md) includes no libc header but the
 * freestanding ones and string.h; allocation goes to two embedder hooks:
 *
 *   void *vback_embed_calloc(size_t nmemb, size_t size);  zeroed, or NULL
 *   void vback_embed_free(void *ptr);                     NULL: no-op
 *
 * Nothing calls them on a request's data path: only creates, queue enables
 * and destroys do.
 *
 * vb_calloc_pages()/vb_free_pages() are for a large zeroed array of which
 * little is used (a queue's per-slot arrays): hosted, fresh anonymous
 * pages, resident only once touched and given back when freed. calloc()
 * promises neither: once a block of that size has been freed, glibc serves
 * the next one from its heap and clears it, touching every page (1.2 MiB
 * resident per queue from a front-end's third connection on). Freestanding
 * (and under AddressSanitizer, which checks heap blocks only): vb_calloc.
 */
#ifndef VBACK_LIB_VB_OS_H
#define VBACK_LIB_VB_OS_H

/* Built with AddressSanitizer (gcc says so one way, clang another). */
#if defined(__SANITIZE_ADDRESS__)
#define VB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VB_ASAN 1
#endif
#endif

#include <stddef.h>

#include "config.h"

#if VBACK_FREESTANDING
#include "vb_errno.h"

void *vback_embed_calloc(size_t nmemb, size_t size);
void vback_embed_free(void *ptr);

static inline void *vb_calloc(size_t nmemb, size_t size)
{
	return vback_embed_calloc(nmemb, size);
}

static inline void vb_free(void *ptr)
{
	vback_embed_free(ptr);
}

static inline void *vb_calloc_pages(size_t size)
{
	return vb_calloc(1, size);
}

static inline void vb_free_pages(void *ptr, size_t size)
{
	(void)size;
	vb_free(ptr);
}
#else
#include <errno.h>
#include <stdlib.h>

static inline void *vb_calloc(size_t nmemb, size_t size)
{
	return calloc(nmemb, size);
}

static inline void vb_free(void *ptr)
{
	free(ptr);
}

/* lib/pages.c. */
void *vb_calloc_pages(size_t size);
void vb_free_pages(void *ptr, size_t size);
#endif

#endif /* VBACK_LIB_VB_OS_H */
