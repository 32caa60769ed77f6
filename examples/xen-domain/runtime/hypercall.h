/* SPDX-License-Identifier: MIT */
/*
 * Xen hypercalls on arm64 (xen/include/public/arch-arm.h): HVC #0xEA1,
 * the call number in x16, up to five arguments in x0..x4, the result in
 * x0. Xen clobbers x16 and the argument registers the call uses; pointers
 * are addresses in this domain's (identity) mapping, structs are laid out
 * as AAPCS64 says, which the public headers match.
 */
#ifndef XD_HYPERCALL_H
#define XD_HYPERCALL_H

#include <stdint.h>

static inline long xd_hypercall(unsigned long op, unsigned long a0,
				unsigned long a1, unsigned long a2,
				unsigned long a3, unsigned long a4)
{
	register unsigned long x0 __asm__("x0") = a0;
	register unsigned long x1 __asm__("x1") = a1;
	register unsigned long x2 __asm__("x2") = a2;
	register unsigned long x3 __asm__("x3") = a3;
	register unsigned long x4 __asm__("x4") = a4;
	register unsigned long x16 __asm__("x16") = op;

	__asm__ volatile("hvc #0xea1"
			 : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4),
			   "+r"(x16)
			 :
			 : "memory");
	return (long)x0;
}

#define XD_HC2(op, a, b)                                                       \
	xd_hypercall((op), (unsigned long)(a), (unsigned long)(b), 0, 0, 0)
#define XD_HC3(op, a, b, c)                                                    \
	xd_hypercall((op), (unsigned long)(a), (unsigned long)(b),             \
		     (unsigned long)(c), 0, 0)

#endif /* XD_HYPERCALL_H */
