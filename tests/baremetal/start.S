/* SPDX-License-Identifier: MIT */
/*
 * Entry of the bare-metal test program. QEMU's -kernel loads the ELF and
 * jumps to _start with the MMU off, at EL1 (or EL2 with
 * -M virt,virtualization=on: we drop to EL1 then).
 */
	.section .text.boot, "ax"
	.global _start
_start:
	msr	daifset, #0xf		/* no interrupts: everything is polled */
	mrs	x0, CurrentEL
	ubfx	x0, x0, #2, #2
	cmp	x0, #1
	b.eq	el1_entry
	cmp	x0, #2
	b.eq	from_el2
	/* EL3: the program is not written for it; say so and stop. */
	ldr	x1, =msg_el3
	mov	x0, #0x04		/* SYS_WRITE0 */
	hlt	#0xf000
	ldr	x1, =exit_block_el3
	mov	x0, #0x18		/* SYS_EXIT */
	hlt	#0xf000
	b	.

from_el2:
	mov	x0, #(1 << 31)		/* HCR_EL2.RW: EL1 is AArch64 */
	msr	hcr_el2, x0
	mrs	x0, cnthctl_el2		/* EL1 may read the counter */
	orr	x0, x0, #3
	msr	cnthctl_el2, x0
	msr	cntvoff_el2, xzr
	mov	x0, #0x33ff		/* CPTR_EL2: RES1 bits, no FP trap */
	msr	cptr_el2, x0
	msr	hstr_el2, xzr
	ldr	x0, =0x30d00800		/* SCTLR_EL1: RES1 bits, MMU off */
	msr	sctlr_el1, x0
	mov	x0, #0x3c5		/* SPSR: EL1h, DAIF masked */
	msr	spsr_el2, x0
	adr	x0, el1_entry
	msr	elr_el2, x0
	isb
	eret

el1_entry:
	ldr	x0, =__stack_top
	mov	sp, x0
	adr	x0, vectors
	msr	vbar_el1, x0
	/* CPACR_EL1.FPEN = 0b11: the archive may use FP/SIMD registers for
	 * copies even though this program is built -mgeneral-regs-only. */
	mov	x0, #(3 << 20)
	msr	cpacr_el1, x0
	isb
	/* Zero .bss (8-byte aligned bounds, see link.ld): aligned stores
	 * only, since with the MMU off all memory is Device memory. */
	ldr	x0, =__bss_start
	ldr	x1, =__bss_end
1:	cmp	x0, x1
	b.hs	2f
	str	xzr, [x0], #8
	b	1b
2:	bl	bm_mmu_enable
	bl	bm_main
	bl	bm_exit			/* status in w0; does not return */
	b	.

/*
 * Exception vectors: 16 entries of 128 bytes (current EL with SP_EL0,
 * current EL with SP_ELx, lower EL AArch64, lower EL AArch32; each
 * synchronous, IRQ, FIQ, SError). None is expected: report which one, with
 * its syndrome, and exit non-zero. On a stack of its own, since the one in
 * use may be what went wrong.
 */
	.section .text.vectors, "ax"
	.balign	2048
vectors:
	.irp	n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	.balign	128
	mov	x0, #\n
	b	trap_entry
	.endr

trap_entry:
	ldr	x9, =__trap_stack_top
	mov	sp, x9
	mrs	x1, esr_el1
	mrs	x2, elr_el1
	mrs	x3, far_el1
	mrs	x4, spsr_el1
	bl	bm_trap
	b	.

	.section .rodata
msg_el3:
	.asciz	"baremetal: entered at EL3, expected EL1 or EL2\n"
	.balign	8
exit_block_el3:
	.quad	0x20026			/* ADP_Stopped_ApplicationExit */
	.quad	2
