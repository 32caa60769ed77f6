/* SPDX-License-Identifier: MIT */
/*
 * The heap behind vback's two embedder hooks (lib/vb_os.h): a first-fit
 * free list in address order with coalescing, over the RAM between the
 * image and the boot modules (set at run time from the device tree).
 * vback allocates only when it creates, enables a queue or destroys, so
 * simple is enough; the peak is reported as the domain's footprint.
 */
#include <string.h>

#include "xd.h"

void *vback_embed_calloc(size_t nmemb, size_t size);
void vback_embed_free(void *ptr);

#define ALIGN 16u
#define MAGIC 0x76626865u /* "vbhe" */

struct blk {
	size_t size; /* whole block, header included */
	uint32_t magic;
	uint32_t used;
};

struct free_blk {
	struct blk h;
	struct free_blk *next;
};

_Static_assert(sizeof(struct blk) == ALIGN, "payloads stay aligned");

static struct {
	uintptr_t start, end;
	struct free_blk *free;
	size_t used, peak;
	uint64_t allocs, failures;
} heap;

void xd_heap_init(uintptr_t start, uintptr_t end)
{
	start = (start + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
	end &= ~(uintptr_t)(ALIGN - 1);
	memset(&heap, 0, sizeof(heap));
	if (end <= start + sizeof(struct free_blk))
		return;
	heap.start = start;
	heap.end = end;
	heap.free = (struct free_blk *)start;
	heap.free->h.size = end - start;
	heap.free->h.magic = MAGIC;
	heap.free->h.used = 0;
	heap.free->next = NULL;
}

void *vback_embed_calloc(size_t nmemb, size_t size)
{
	struct free_blk **pp, *f;
	size_t n, need;

	if (size && nmemb > SIZE_MAX / size)
		goto fail;
	n = nmemb * size;
	if (n > SIZE_MAX - 2 * ALIGN - sizeof(struct free_blk))
		goto fail;
	if (n < sizeof(struct free_blk))
		n = sizeof(struct free_blk);
	need = ((n + ALIGN - 1) & ~(size_t)(ALIGN - 1)) + sizeof(struct blk);
	for (pp = &heap.free; (f = *pp); pp = &f->next) {
		if (f->h.size < need)
			continue;
		if (f->h.size - need >= sizeof(struct free_blk) + ALIGN) {
			struct free_blk *rest =
				(struct free_blk *)((uintptr_t)f + need);

			rest->h.size = f->h.size - need;
			rest->h.magic = MAGIC;
			rest->h.used = 0;
			rest->next = f->next;
			*pp = rest;
			f->h.size = need;
		} else {
			*pp = f->next;
		}
		f->h.used = 1;
		heap.used += f->h.size;
		if (heap.used > heap.peak)
			heap.peak = heap.used;
		heap.allocs++;
		memset(&f->h + 1, 0, f->h.size - sizeof(struct blk));
		return &f->h + 1;
	}
fail:
	heap.failures++;
	return NULL;
}

void vback_embed_free(void *ptr)
{
	struct blk *b = (struct blk *)ptr - 1;
	struct free_blk *f = (struct free_blk *)b, **pp, *prev = NULL;

	if (!ptr)
		return;
	if ((uintptr_t)b < heap.start || (uintptr_t)b >= heap.end ||
	    b->magic != MAGIC || !b->used) {
		heap.failures++; /* not ours, or freed twice */
		return;
	}
	b->used = 0;
	heap.used -= b->size;
	for (pp = &heap.free; *pp && *pp < f; pp = &(*pp)->next)
		prev = *pp;
	f->next = *pp;
	*pp = f;
	if (f->next && (uintptr_t)f + f->h.size == (uintptr_t)f->next) {
		f->h.size += f->next->h.size;
		f->next = f->next->next;
	}
	if (prev && (uintptr_t)prev + prev->h.size == (uintptr_t)f) {
		prev->h.size += f->h.size;
		prev->next = f->next;
	}
}

void xd_heap_stats(struct xd_heap_stats *st)
{
	st->size = heap.end - heap.start;
	st->used = heap.used;
	st->peak = heap.peak;
	st->allocs = heap.allocs;
	st->failures = heap.failures;
}
