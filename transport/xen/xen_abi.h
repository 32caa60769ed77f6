/* SPDX-License-Identifier: MIT */
/*
 * The parts of Xen's public ABI the IOREQ core uses, written from Xen's
 * public headers (xen/include/public/hvm/ioreq.h, MIT-licensed; the ABI
 * is fixed) so the core needs no Xen or OS header: it builds freestanding
 * for any backend domain. linux.c checks this layout against the real
 * headers at compile time.
 */
#ifndef VBACK_XEN_ABI_H
#define VBACK_XEN_ABI_H

#include <stdint.h>

#define XEN_PAGE_SHIFT 12
#define XEN_PAGE_SIZE  (1u << XEN_PAGE_SHIFT)

/* ioreq.dir */
#define XEN_IOREQ_WRITE 0
#define XEN_IOREQ_READ	1

/* ioreq.state: Xen fills READY, the server takes INPROCESS and answers
 * IORESP_READY. */
#define XEN_STATE_IOREQ_NONE	  0
#define XEN_STATE_IOREQ_READY	  1
#define XEN_STATE_IOREQ_INPROCESS 2
#define XEN_STATE_IORESP_READY	  3

/* ioreq.type */
#define XEN_IOREQ_TYPE_PIO	  0
#define XEN_IOREQ_TYPE_COPY	  1 /* MMIO */
#define XEN_IOREQ_TYPE_INVALIDATE 8 /* drop foreign mappings */

/* One vCPU's slot of the shared ioreq page (struct ioreq). */
struct xen_ioreq {
	uint64_t addr;	   /* guest-physical address */
	uint64_t data;	   /* the value, or its guest address (data_is_ptr) */
	uint32_t count;	   /* rep count */
	uint32_t size;	   /* access size in bytes */
	uint32_t vp_eport; /* the vCPU's event channel (Xen's end) */
	uint16_t pad0;
	uint8_t state : 4;
	uint8_t data_is_ptr : 1;
	uint8_t dir : 1;
	uint8_t df : 1;
	uint8_t pad1 : 1;
	uint8_t type;
};

_Static_assert(sizeof(struct xen_ioreq) == 32, "Xen's ioreq is 32 bytes");

/* The synchronous ioreq page: one slot per vCPU. */
struct xen_iopage {
	struct xen_ioreq vcpu_ioreq[XEN_PAGE_SIZE / sizeof(struct xen_ioreq)];
};

#endif /* VBACK_XEN_ABI_H */
