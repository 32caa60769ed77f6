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
 */
#ifndef VBACK_LIB_VB_OS_H
#define VBACK_LIB_VB_OS_H

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
#endif

#endif /* VBACK_LIB_VB_OS_H */
