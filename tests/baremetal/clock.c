/* SPDX-License-Identifier: MIT */
/*
 * A monotonic clock for the simple loop's now_ns hook: the generic timer's
 * virtual counter (CNTVCT_EL0), readable at EL1, at CNTFRQ_EL0 ticks per
 * second (62.5 MHz on QEMU's virt).
 */
#include "bm.h"

uint64_t bm_counter_hz(void)
{
	uint64_t hz;

	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(hz));
	return hz;
}

uint64_t bm_now_ns(void)
{
	uint64_t ticks, hz = bm_counter_hz();

	/* The ISB keeps the read from being done ahead of earlier code. */
	__asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(ticks)::"memory");
	if (!hz)
		return 0;
	/* Split so that ticks * 1e9 cannot overflow. */
	return ticks / hz * 1000000000ull + ticks % hz * 1000000000ull / hz;
}
