/* SPDX-License-Identifier: MIT */
/*
 * Console and exit status through ARM semihosting (QEMU -semihosting): on
 * AArch64 the call is HLT #0xF000 with the operation in W0 and its
 * parameter in X1.
 */
#include "bm.h"

#define SYS_WRITEC 0x03
#define SYS_WRITE0 0x04
#define SYS_EXIT   0x18

/* SYS_EXIT's reason for a normal exit: the subcode is the exit status. */
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static uint64_t semihost(uint64_t op, const void *arg)
{
	register uint64_t x0 __asm__("x0") = op;
	register const void *x1 __asm__("x1") = arg;

	__asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
	return x0;
}

void bm_puts(const char *s)
{
	semihost(SYS_WRITE0, s);
}

void bm_exit(int status)
{
	/* On AArch64 the parameter is a pointer to {reason, subcode}. */
	static uint64_t block[2];

	block[0] = ADP_STOPPED_APPLICATION_EXIT;
	block[1] = (uint64_t)(uint32_t)status;
	semihost(SYS_EXIT, block);
	for (;;) /* semihosting off: nothing else can end the program */
		__asm__ volatile("wfe");
}

static void put_hex(uint64_t v)
{
	char c[2] = { 0, 0 };

	for (int i = 60; i >= 0; i -= 4) {
		c[0] = "0123456789abcdef"[(v >> i) & 15];
		semihost(SYS_WRITEC, c);
	}
}

void bm_trap(uint64_t kind, uint64_t esr, uint64_t elr, uint64_t far,
	     uint64_t spsr)
{
	static const char *const from[] = { "EL1 with SP_EL0", "EL1",
					    "EL0 AArch64", "EL0 AArch32" };
	static const char *const type[] = { "synchronous", "IRQ", "FIQ",
					    "SError" };
	static bool nested;

	/* Formatting by hand, not with bm_printf(): it may be what broke. */
	if (nested)
		bm_exit(4);
	nested = true;
	bm_puts("\nnot ok - unexpected exception: ");
	bm_puts(type[kind & 3]);
	bm_puts(" from ");
	bm_puts(from[(kind >> 2) & 3]);
	bm_puts("\n  ESR_EL1 ");
	put_hex(esr);
	bm_puts("\n  ELR_EL1 ");
	put_hex(elr);
	bm_puts("\n  FAR_EL1 ");
	put_hex(far);
	bm_puts("\n  SPSR_EL1 ");
	put_hex(spsr);
	bm_puts("\n");
	bm_exit(3);
}
