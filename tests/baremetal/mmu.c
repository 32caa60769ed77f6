/* SPDX-License-Identifier: MIT */
/*
 * An identity map, so that the program runs on Normal memory: with the MMU
 * off every data access is to Device memory, where unaligned accesses fault
 * and exclusives (the simple loop's lock-free post) are not guaranteed to
 * work. 4 KiB granule, 39-bit addresses, a walk starting at level 1:
 *
 *   0x00000000 .. 1 GiB   one level-1 block, Device-nGnRnE, never executed
 *                         (QEMU virt's flash, GIC, UART, virtio-mmio, ...)
 *   0x40000000 .. RAM     2 MiB level-2 blocks, Normal write-back
 *                         cacheable, inner shareable; nothing beyond the
 *                         RAM QEMU was given (-m, = link.ld's RAM length)
 *
 * This file runs before the MMU is on: it is built with -mstrict-align.
 */
#include "bm.h"

#define DESC_BLOCK  (1ull << 0)
#define DESC_TABLE  (3ull << 0)
#define ATTR_IDX(n) ((uint64_t)(n) << 2)
#define SH_INNER    (3ull << 8)
#define AF	    (1ull << 10)
#define PXN	    (1ull << 53)
#define UXN	    (1ull << 54)

/* MAIR_EL1 attribute indexes. */
#define MT_DEVICE_NGNRNE 0 /* 0x00 */
#define MT_NORMAL_WB	 1 /* 0xff: inner/outer write-back, RW-allocate */
#define MAIR_VALUE                                                             \
	(0x00ull << (8 * MT_DEVICE_NGNRNE) | 0xffull << (8 * MT_NORMAL_WB))

#define TCR_T0SZ(bits) (64ull - (bits))
#define TCR_IRGN0_WBWA (1ull << 8)
#define TCR_ORGN0_WBWA (1ull << 10)
#define TCR_SH0_INNER  (3ull << 12)
#define TCR_TG0_4K     (0ull << 14)
#define TCR_EPD1       (1ull << 23) /* no TTBR1 walks: nothing is mapped high */
#define TCR_IPS_SHIFT  32

#define SCTLR_M	   (1ull << 0)
#define SCTLR_A	   (1ull << 1)
#define SCTLR_C	   (1ull << 2)
#define SCTLR_SA   (1ull << 3)
#define SCTLR_I	   (1ull << 12)
#define SCTLR_WXN  (1ull << 19)
#define SCTLR_EE   (1ull << 25)
#define SCTLR_RES1 0x30d00800ull /* bits 29, 28, 23, 22, 20, 11 (v8.0) */

#define GIB	 (1ull << 30)
#define L2_BLOCK (2ull << 20)
#define RAM_BASE 0x40000000ull

static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l2_ram[512] __attribute__((aligned(4096)));

extern char __ram_start[], __ram_end[];

#define SYSREG_READ(name)                                                      \
	({                                                                     \
		uint64_t v_;                                                   \
		__asm__ volatile("mrs %0, " #name : "=r"(v_));                 \
		v_;                                                            \
	})
#define SYSREG_WRITE(name, v)                                                  \
	__asm__ volatile("msr " #name ", %0" ::"r"((uint64_t)(v)))

/* The tables were written with the MMU off (non-cacheable), the walker
 * reads them write-back cacheable: make sure no stale line hides them. */
static void clean_inval(const void *p, size_t len)
{
	uint64_t ctr = SYSREG_READ(ctr_el0);
	uintptr_t line = 4u << ((ctr >> 16) & 15); /* DminLine, in bytes */
	uintptr_t a = (uintptr_t)p & ~(line - 1);

	for (; a < (uintptr_t)p + len; a += line)
		__asm__ volatile("dc civac, %0" ::"r"(a) : "memory");
}

void bm_mmu_enable(void)
{
	uint64_t ram = (uint64_t)(uintptr_t)__ram_start;
	uint64_t ram_end = (uint64_t)(uintptr_t)__ram_end;
	uint64_t pa_range = SYSREG_READ(id_aa64mmfr0_el1) & 7;
	uint64_t sctlr;

	l1[0] = 0 | DESC_BLOCK | ATTR_IDX(MT_DEVICE_NGNRNE) | AF | PXN | UXN;
	/* The RAM's gigabyte, in 2 MiB blocks up to the end of RAM. */
	l1[RAM_BASE / GIB] = (uint64_t)(uintptr_t)l2_ram | DESC_TABLE;
	for (uint64_t a = ram & ~(L2_BLOCK - 1); a < ram_end; a += L2_BLOCK)
		l2_ram[(a - RAM_BASE) / L2_BLOCK] =
			a | DESC_BLOCK | ATTR_IDX(MT_NORMAL_WB) | SH_INNER | AF;
	clean_inval(l1, sizeof(l1));
	clean_inval(l2_ram, sizeof(l2_ram));
	__asm__ volatile("dsb sy" ::: "memory");

	if (pa_range > 5) /* 52-bit needs more than a 4 KiB v8.0 walk */
		pa_range = 5;
	SYSREG_WRITE(mair_el1, MAIR_VALUE);
	SYSREG_WRITE(tcr_el1, TCR_T0SZ(39) | TCR_IRGN0_WBWA | TCR_ORGN0_WBWA |
				      TCR_SH0_INNER | TCR_TG0_4K | TCR_EPD1 |
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
	/* No alignment faults on Normal memory; little endian; code in
	 * writable pages (it is all one RAM block). */
	sctlr &= ~(SCTLR_A | SCTLR_WXN | SCTLR_EE);
	SYSREG_WRITE(sctlr_el1, sctlr);
	__asm__ volatile("isb" ::: "memory");
}

bool bm_mmu_on(void)
{
	uint64_t sctlr = SYSREG_READ(sctlr_el1);

	return (sctlr & SCTLR_M) && (sctlr & SCTLR_C);
}

unsigned int bm_current_el(void)
{
	return (unsigned int)((SYSREG_READ(CurrentEL) >> 2) & 3);
}
