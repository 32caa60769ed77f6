/* SPDX-License-Identifier: MIT */
/*
 * xd: a bare-metal aarch64 Xen guest runtime, small enough to read in one
 * sitting, written from Xen's public headers and its Arm boot protocol
 * (docs/misc/arm/booting.txt: the arm64 Image protocol, entered at EL1
 * with the MMU off and the device tree's address in x0).
 *
 *   start.S     Image header, entry, stack, .bss, exception vectors
 *   mmu.c       identity map: Normal write-back memory for RAM, Xen's
 *               magic pages and the free space where foreign and grant
 *               pages are mapped; Device memory for the GIC
 *   hypercall.h hvc #0xEA1
 *   fdt.c       what the runtime reads from the device tree
 *   console.c   the PV console ring (HVM_PARAM_CONSOLE_PFN/EVTCHN)
 *   events.c    shared info, 2-level event channels, a GICv3 upcall (the
 *               event-channel PPI) and the virtual timer: a monotonic
 *               clock and a wait that sleeps in WFI
 *   xs.c        the xenstore ring protocol (io/xs_wire.h)
 *   heap.c      the allocator behind vback's embedder hooks
 *
 * One vCPU; everything runs on it. Interrupt handlers only call the
 * callbacks bound to event channels, which must be interrupt-safe (vback's
 * only post work to its loop).
 */
#ifndef XD_H
#define XD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XD_PAGE_SHIFT 12
#define XD_PAGE_SIZE  (1ull << XD_PAGE_SHIFT)

/* The program (main.c); its return value is the shutdown reason. */
int xd_main(const void *fdt);

/* mmu.c: called by start.S with the MMU off; true once it is on. */
void xd_mmu_enable(void);
bool xd_mmu_on(void);

/* console.c */
int xd_console_init(void);
void xd_puts(const char *s); /* one line or part of one */
int xd_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int xd_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int xd_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Shut the domain down (SHUTDOWN_poweroff or SHUTDOWN_crash). */
__attribute__((noreturn)) void xd_shutdown(unsigned int reason);
/* start.S's vectors: an unexpected exception. Reports and crashes. */
__attribute__((noreturn)) void xd_trap(uint64_t kind, uint64_t esr,
				       uint64_t elr, uint64_t far);

/* events.c */
typedef void (*xd_event_fn)(void *opaque);
/* Map shared info at @gfn, set up the GIC and enable the event-channel
 * PPI (@evtchn_intid) and the virtual timer; unmask interrupts. */
int xd_events_init(uint64_t shared_info_gfn, uint32_t evtchn_intid,
		   uint64_t gicd, uint64_t gicr);
/* Call @fn(@opaque) from the interrupt handler when @port fires. */
int xd_evtchn_set_handler(uint32_t port, xd_event_fn fn, void *opaque);
void xd_evtchn_clear_handler(uint32_t port);
int xd_evtchn_bind_interdomain(uint16_t domid, uint32_t remote,
			       uint32_t *local);
int xd_evtchn_close(uint32_t port);
int xd_evtchn_send(uint32_t port);
/* Nanoseconds since boot (the virtual counter). */
uint64_t xd_now_ns(void);
/* Sleep until an interrupt (or @timeout_ns: UINT64_MAX: none), unless
 * xd_wake() was called since the last wait. Any interrupt ends it, so a
 * caller that wants a delay loops until its deadline. */
void xd_wait(uint64_t timeout_ns);
/* Make the next (or current) xd_wait() return: interrupt-safe. */
void xd_wake(void);
/* Interrupts taken so far (for the report). */
uint64_t xd_irq_count(void);
/* Waits, those that slept in WFI, and those that no interrupt ended. */
void xd_wait_stats(uint64_t *waits, uint64_t *wfis, uint64_t *empty);

/* HVMOP_get_param for this domain. */
int xd_hvm_param(uint32_t index, uint64_t *value);

/* heap.c: the heap between @start and @end. */
void xd_heap_init(uintptr_t start, uintptr_t end);
struct xd_heap_stats {
	size_t size, used, peak;
	uint64_t allocs, failures;
};
void xd_heap_stats(struct xd_heap_stats *st);

/* The four memory functions (tests/baremetal/string.c). */
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* Linker symbols (link.ld). */
extern char __image_start[], __image_end[], __bss_start[], __bss_end[],
	__stack_bottom[], __stack_top[], __end[];

#endif /* XD_H */
