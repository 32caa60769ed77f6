/* SPDX-License-Identifier: MIT */
/*
 * The heap: everything between the end of .bss and the end of RAM
 * (link.ld). A first-fit free list kept in address order, coalescing on
 * free, with a bump pointer above it; 16-byte aligned blocks, zeroed on
 * allocation (both hooks are calloc-like).
 *
 * Two users, counted apart: the vback archive through the embedder hooks of
 * lib/vb_os.h, and the test side (the guest-driver model, guest memory)
 * through calloc/free. A block freed by the other user, twice, or not from
 * this heap at all is an error the program reports.
 */
#include <string.h>

#include "bm.h"

void *vback_embed_calloc(size_t nmemb, size_t size);
void vback_embed_free(void *ptr);

#define ALIGN	    16u
#define MAGIC_USED  0x7573u /* "us" */
#define MAGIC_FREE  0x6672u /* "fr" */
#define MIN_PAYLOAD 16u

enum owner { OWNER_LIB, OWNER_TEST, OWNERS };

struct blk {
	size_t size; /* whole block, header included, multiple of ALIGN */
	uint16_t magic;
	uint16_t owner;
	uint32_t pad;
};

/* A free block keeps the list link in its payload. */
struct free_blk {
	struct blk h;
	struct free_blk *next;
};

_Static_assert(sizeof(struct blk) == ALIGN, "header keeps payloads aligned");

extern char __heap_start[], __heap_end[];

static struct {
	uintptr_t top; /* bump pointer; 0 before the first allocation */
	uintptr_t high;
	struct free_blk *free; /* address order */
	size_t live[OWNERS], peak[OWNERS], blocks[OWNERS];
	uint64_t allocs[OWNERS];
	uint64_t errors;
} heap;

static uintptr_t heap_base(void)
{
	return ((uintptr_t)__heap_start + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
}

static struct blk *take(size_t need)
{
	struct free_blk **pp, *f;
	struct blk *b;

	for (pp = &heap.free; (f = *pp); pp = &f->next) {
		if (f->h.size < need)
			continue;
		if (f->h.size - need >= sizeof(struct blk) + MIN_PAYLOAD) {
			/* Split: the tail stays free, in the same place. */
			struct free_blk *rest =
				(struct free_blk *)((uintptr_t)f + need);

			rest->h.size = f->h.size - need;
			rest->h.magic = MAGIC_FREE;
			rest->next = f->next;
			*pp = rest;
			f->h.size = need;
		} else {
			*pp = f->next;
		}
		return &f->h;
	}
	if (!heap.top)
		heap.top = heap_base();
	if (need > (uintptr_t)__heap_end - heap.top)
		return NULL;
	b = (struct blk *)heap.top;
	b->size = need;
	heap.top += need;
	if (heap.top - heap_base() > heap.high)
		heap.high = heap.top - heap_base();
	return b;
}

static void *alloc(enum owner who, size_t nmemb, size_t size)
{
	size_t n, need;
	struct blk *b;

	if (size && nmemb > SIZE_MAX / size)
		goto fail;
	n = nmemb * size;
	if (n < MIN_PAYLOAD)
		n = MIN_PAYLOAD;
	if (n > SIZE_MAX - 2 * ALIGN)
		goto fail;
	need = ((n + ALIGN - 1) & ~(size_t)(ALIGN - 1)) + sizeof(struct blk);
	b = take(need);
	if (!b)
		goto fail;
	b->magic = MAGIC_USED;
	b->owner = (uint16_t)who;
	memset(b + 1, 0, b->size - sizeof(*b));
	heap.live[who] += b->size;
	if (heap.live[who] > heap.peak[who])
		heap.peak[who] = heap.live[who];
	heap.blocks[who]++;
	heap.allocs[who]++;
	return b + 1;
fail:
	heap.errors++;
	return NULL;
}

static uintptr_t end_of(const struct free_blk *f)
{
	return (uintptr_t)f + f->h.size;
}

/* Insert @f in address order and merge it with its free neighbours; what
 * ends at the bump pointer goes back to it instead (so no free block ever
 * ends there). */
static void give_back(struct free_blk *f)
{
	struct free_blk **pp = &heap.free, **pprev = NULL;

	while (*pp && *pp < f) {
		pprev = pp;
		pp = &(*pp)->next;
	}
	if (end_of(f) == heap.top) {
		heap.top = (uintptr_t)f;
		if (pprev && end_of(*pprev) == heap.top) {
			heap.top = (uintptr_t)*pprev;
			*pprev = NULL;
		}
		return;
	}
	f->next = *pp;
	*pp = f;
	if (f->next && end_of(f) == (uintptr_t)f->next) {
		f->h.size += f->next->h.size;
		f->next = f->next->next;
	}
	if (pprev && end_of(*pprev) == (uintptr_t)f) {
		(*pprev)->h.size += f->h.size;
		(*pprev)->next = f->next;
	}
}

static void release(enum owner who, void *ptr)
{
	struct blk *b = (struct blk *)ptr - 1;

	if (!ptr)
		return;
	if ((uintptr_t)ptr < heap_base() + sizeof(*b) ||
	    (uintptr_t)ptr >= heap.top || ((uintptr_t)ptr & (ALIGN - 1)) ||
	    b->magic != MAGIC_USED || b->owner != who) {
		heap.errors++; /* not ours, a double free or the wrong user */
		return;
	}
	b->magic = MAGIC_FREE;
	heap.live[who] -= b->size;
	heap.blocks[who]--;
	give_back((struct free_blk *)b);
}

void *vback_embed_calloc(size_t nmemb, size_t size)
{
	return alloc(OWNER_LIB, nmemb, size);
}

void vback_embed_free(void *ptr)
{
	release(OWNER_LIB, ptr);
}

void *calloc(size_t nmemb, size_t size)
{
	return alloc(OWNER_TEST, nmemb, size);
}

void free(void *ptr)
{
	release(OWNER_TEST, ptr);
}

void bm_heap_stats(struct bm_heap_stats *st)
{
	st->lib_live = heap.live[OWNER_LIB];
	st->lib_peak = heap.peak[OWNER_LIB];
	st->lib_blocks = heap.blocks[OWNER_LIB];
	st->lib_allocs = heap.allocs[OWNER_LIB];
	st->model_live = heap.live[OWNER_TEST];
	st->model_peak = heap.peak[OWNER_TEST];
	st->arena_used = heap.high;
	st->arena_size = (uintptr_t)__heap_end - heap_base();
	st->errors = heap.errors;
}
