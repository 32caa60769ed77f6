/* SPDX-License-Identifier: MIT */
/*
 * An identity map (virtual = guest-physical, so hypercall buffers and
 * mapped pages need no translation), 4 KiB granule, 39-bit addresses, a
 * walk starting at level 1. Xen's Arm ABI wants everything shared with it
 * and other domains mapped Normal inner/outer write-back inner-shareable
 * (arch-arm.h); anything else would not be coherent with the other side:
 *
 *   0 .. 1 GiB      2 MiB blocks: Device-nGnRE (the GIC and the other
 *                   emulated devices), except the grant-table and magic
 *                   page windows (GUEST_GNTTAB_BASE .. GUEST_MAGIC_BASE +
 *                   size: the console and xenstore rings), Normal
 *   1 .. 4 GiB      1 GiB blocks, Normal: RAM bank 0 and the free space
 *                   above it, where foreign and grant pages are mapped
 *
 * Pages with nothing behind them in the second stage are never touched.
 * Runs with the MMU off: built with -mstrict-align.
 */
#include <stdint.h>

#include <xen/xen.h>

#include "xd.h"

#define DESC_BLOCK  (1ull << 0)
#define DESC_TABLE  (3ull << 0)
#define ATTR_IDX(n) ((uint64_t)(n) << 2)
#define SH_INNER    (3ull << 8)
#define AF	    (1ull << 10)
#define PXN	    (1ull << 53)
#define UXN	    (1ull << 54)

#define MT_DEVICE 0 /* MAIR 0x04: Device-nGnRE */
#define MT_NORMAL 1 /* MAIR 0xff: write-back, read/write-allocate */
#define MAIR	  (0x04ull << (8 * MT_DEVICE) | 0xffull << (8 * MT_NORMAL))

#define TCR_T0SZ(bits) (64ull - (bits))
#define TCR_IRGN0_WBWA (1ull << 8)
#define TCR_ORGN0_WBWA (1ull << 10)
#define TCR_SH0_INNER  (3ull << 12)
#define TCR_EPD1       (1ull << 23)
#define TCR_IPS_SHIFT  32

#define SCTLR_M	   (1ull << 0)
#define SCTLR_A	   (1ull << 1)
#define SCTLR_C	   (1ull << 2)
#define SCTLR_SA   (1ull << 3)
#define SCTLR_I	   (1ull << 12)
#define SCTLR_WXN  (1ull << 19)
#define SCTLR_EE   (1ull << 25)
#define SCTLR_RES1 0x30d00800ull

#define GIB  (1ull << 30)
#define MIB2 (2ull << 20)

static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l2_low[512] __attribute__((aligned(4096)));

#define SYSREG_READ(name)                                                      \
	__extension__({                                                        \
		uint64_t v_;                                                   \
		__asm__ volatile("mrs %0, " #name : "=r"(v_));                 \
		v_;                                                            \
	})
#define SYSREG_WRITE(name, v)                                                  \
	__asm__ volatile("msr " #name ", %0" ::"r"((uint64_t)(v)))

/* Written with the MMU off, walked cacheable: clean stale lines away. */
static void clean_inval(const void *p, size_t len)
{
	uintptr_t line = 4u << ((SYSREG_READ(ctr_el0) >> 16) & 15);
	uintptr_t a = (uintptr_t)p & ~(line - 1);

	for (; a < (uintptr_t)p + len; a += line)
		__asm__ volatile("dc civac, %0" ::"r"(a) : "memory");
}

void xd_mmu_enable(void)
{
	const uint64_t normal = ATTR_IDX(MT_NORMAL) | SH_INNER | AF;
	const uint64_t device = ATTR_IDX(MT_DEVICE) | AF | PXN | UXN;
	uint64_t pa_range = SYSREG_READ(id_aa64mmfr0_el1) & 7;
	uint64_t a, sctlr;

	for (a = 0; a < GIB; a += MIB2) {
		bool shared = a >= GUEST_GNTTAB_BASE &&
			      a < GUEST_MAGIC_BASE + GUEST_MAGIC_SIZE;

		l2_low[a / MIB2] = a | DESC_BLOCK | (shared ? normal : device);
	}
	l1[0] = (uint64_t)(uintptr_t)l2_low | DESC_TABLE;
	for (a = 1; a < 4; a++)
		l1[a] = a * GIB | DESC_BLOCK | normal;
	clean_inval(l1, sizeof(l1));
	clean_inval(l2_low, sizeof(l2_low));
	__asm__ volatile("dsb sy" ::: "memory");

	if (pa_range > 5)
		pa_range = 5;
	SYSREG_WRITE(mair_el1, MAIR);
	SYSREG_WRITE(tcr_el1, TCR_T0SZ(39) | TCR_IRGN0_WBWA | TCR_ORGN0_WBWA |
				      TCR_SH0_INNER | TCR_EPD1 |
				      pa_range << TCR_IPS_SHIFT);
	SYSREG_WRITE(ttbr0_el1, (uintptr_t)l1);
	__asm__ volatile("isb\n\t"
			 "tlbi vmalle1\n\t"
			 "dsb nsh\n\t"
			 "ic iallu\n\t"
			 "dsb nsh\n\t"
			 "isb" ::
				 : "memory");
	sctlr = SYSREG_READ(sctlr_el1);
	sctlr |= SCTLR_RES1 | SCTLR_M | SCTLR_C | SCTLR_I | SCTLR_SA;
	sctlr &= ~(SCTLR_A | SCTLR_WXN | SCTLR_EE);
	SYSREG_WRITE(sctlr_el1, sctlr);
	__asm__ volatile("isb" ::: "memory");
}

bool xd_mmu_on(void)
{
	uint64_t sctlr = SYSREG_READ(sctlr_el1);

	return (sctlr & SCTLR_M) && (sctlr & SCTLR_C);
}
