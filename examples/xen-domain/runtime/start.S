/* SPDX-License-Identifier: MIT */
/*
 * Entry of the backend domain. The image starts with an arm64 Image header
 * (the Linux arm64 boot protocol Xen's toolstack loads, docs/misc/arm/
 * booting.txt): libxenguest puts it at the start of guest RAM plus
 * text_offset (0 here, where link.ld links it) and enters it at its first
 * byte, at EL1, MMU and caches off, interrupts masked, x0 = the device
 * tree's guest-physical address.
 */
	.section .text.boot, "ax"
	.global _start
_start:
	b	entry			/* code0 */
	.long	0			/* code1 */
	.quad	0			/* text_offset: RAM base + 0 */
	.quad	__image_size		/* image_size: file, .bss and stack */
	.quad	0xa			/* flags: LE, 4K pages, anywhere */
	.quad	0			/* res2 */
	.quad	0			/* res3 */
	.quad	0			/* res4 */
	.long	0x644d5241		/* magic: "ARM\x64" */
	.long	0			/* res5 */

entry:
	mov	x19, x0			/* the device tree, for xd_main */
	msr	daifset, #0xf
	ldr	x0, =__stack_top
	mov	sp, x0
	adr	x0, vectors
	msr	vbar_el1, x0
	/* FP/SIMD registers are not used (-mgeneral-regs-only), but do not
	 * trap if a copy routine of the archive's compiler ever does. */
	mov	x0, #(3 << 20)
	msr	cpacr_el1, x0
	isb
	/* Zero .bss and the stack: aligned stores only, since with the MMU
	 * off every access is to Device memory. */
	ldr	x0, =__bss_start
	ldr	x1, =__end
1:	cmp	x0, x1
	b.hs	2f
	str	xzr, [x0], #8
	b	1b
2:	bl	xd_mmu_enable
	mov	x0, x19
	bl	xd_main
	bl	xd_shutdown		/* reason in w0; does not return */
	b	.

/*
 * Exception vectors: 16 entries of 128 bytes. An IRQ at EL1 with SP_EL1
 * (entry 5) is the event-channel upcall or the virtual timer: save what
 * the AAPCS64 lets a callee clobber, call xd_irq(), return. Anything else
 * is unexpected: report it with its syndrome and crash the domain.
 */
	.section .text.vectors, "ax"
	.balign	2048
vectors:
	.irp	n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	.balign	128
	.if	\n == 5
	b	irq_entry
	.else
	mov	x0, #\n
	b	trap_entry
	.endif
	.endr

irq_entry:
	sub	sp, sp, #(24 * 8)
	stp	x0, x1, [sp, #(0 * 8)]
	stp	x2, x3, [sp, #(2 * 8)]
	stp	x4, x5, [sp, #(4 * 8)]
	stp	x6, x7, [sp, #(6 * 8)]
	stp	x8, x9, [sp, #(8 * 8)]
	stp	x10, x11, [sp, #(10 * 8)]
	stp	x12, x13, [sp, #(12 * 8)]
	stp	x14, x15, [sp, #(14 * 8)]
	stp	x16, x17, [sp, #(16 * 8)]
	stp	x18, x29, [sp, #(18 * 8)]
	mrs	x0, elr_el1
	mrs	x1, spsr_el1
	stp	x30, x0, [sp, #(20 * 8)]
	str	x1, [sp, #(22 * 8)]
	bl	xd_irq
	ldr	x1, [sp, #(22 * 8)]
	ldp	x30, x0, [sp, #(20 * 8)]
	msr	spsr_el1, x1
	msr	elr_el1, x0
	ldp	x18, x29, [sp, #(18 * 8)]
	ldp	x16, x17, [sp, #(16 * 8)]
	ldp	x14, x15, [sp, #(14 * 8)]
	ldp	x12, x13, [sp, #(12 * 8)]
	ldp	x10, x11, [sp, #(10 * 8)]
	ldp	x8, x9, [sp, #(8 * 8)]
	ldp	x6, x7, [sp, #(6 * 8)]
	ldp	x4, x5, [sp, #(4 * 8)]
	ldp	x2, x3, [sp, #(2 * 8)]
	ldp	x0, x1, [sp, #(0 * 8)]
	add	sp, sp, #(24 * 8)
	eret

trap_entry:
	ldr	x9, =__trap_stack_top
	mov	sp, x9
	mrs	x1, esr_el1
	mrs	x2, elr_el1
	mrs	x3, far_el1
	bl	xd_trap
	b	.
