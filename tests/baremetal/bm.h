/* SPDX-License-Identifier: MIT */
/*
 * The bare-metal runtime of the test program: what an OS would give it.
 * AArch64 at EL1 under QEMU's `-M virt`, no interrupts, one CPU.
 *
 *   start.S      entry, stack, FP/SIMD, .bss, exception vectors
 *   mmu.c        identity map: devices below 1 GiB, RAM write-back
 *   semihost.c   console and exit status through ARM semihosting
 *   print.c      a small printf onto the semihosting console
 *   alloc.c      the embedder hooks of the freestanding archive
 *                (vback_embed_calloc/free) and calloc/free of the guest model
 *   clock.c      a monotonic nanosecond clock from the generic timer
 *   string.c     memcpy, memmove, memset, memcmp
 */
#ifndef VBACK_TEST_BM_H
#define VBACK_TEST_BM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The test program; its return value is the exit status. */
int bm_main(void);

/* mmu.c: build the identity map and turn the MMU and caches on (called by
 * start.S with the MMU off: the file is built with -mstrict-align). */
void bm_mmu_enable(void);
/* True when SCTLR_EL1 says the MMU and the data cache are on. */
bool bm_mmu_on(void);
/* The exception level the program runs at (1). */
unsigned int bm_current_el(void);

/* semihost.c */
void bm_puts(const char *s);
__attribute__((noreturn)) void bm_exit(int status);
/* Called by the vectors of start.S: report and exit non-zero. */
__attribute__((noreturn)) void
bm_trap(uint64_t kind, uint64_t esr, uint64_t elr, uint64_t far, uint64_t spsr);

/* print.c: %s %c %d %u %x %p, with l/ll/z and a field width. */
int bm_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int bm_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int bm_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* alloc.c */
void *calloc(size_t nmemb, size_t size);
void free(void *ptr);
struct bm_heap_stats {
	size_t lib_live, lib_peak;     /* bytes held by the vback archive */
	size_t lib_blocks;	       /* its blocks still allocated */
	uint64_t lib_allocs;	       /* vback_embed_calloc() calls */
	size_t model_live, model_peak; /* bytes held by the guest model */
	size_t arena_used;	       /* high-water mark of the heap */
	size_t arena_size;
	uint64_t errors; /* bad frees, failed allocations */
};
void bm_heap_stats(struct bm_heap_stats *st);

/* clock.c */
uint64_t bm_now_ns(void);
uint64_t bm_counter_hz(void);

#endif /* VBACK_TEST_BM_H */
