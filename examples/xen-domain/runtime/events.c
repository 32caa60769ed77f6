/* SPDX-License-Identifier: MIT */
/*
 * Events: Xen signals event channels by setting bits in the shared info
 * page (the 2-level ABI: evtchn_pending[], evtchn_mask[], and per vCPU
 * evtchn_pending_sel and evtchn_upcall_pending) and by raising a GIC PPI,
 * the one the device tree's /hypervisor node names. This file maps shared
 * info, programs the virtual GICv3 just enough for that PPI and the
 * virtual timer's, and handles both in xd_irq(): acknowledge, run the
 * handlers of the pending ports, end the interrupt.
 *
 * Idling is WFI with interrupts masked: it still wakes on a pending one,
 * which is taken as soon as they are unmasked again, so nothing that
 * happens between the check and the WFI is lost (xd_wake() covers work
 * posted from a handler that ran before the check).
 */
#include <errno.h>

#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/memory.h>

#include "hypercall.h"
#include "xd.h"

#define MAX_PORTS 1024u /* more than a backend of a few guests binds */
#define BITS	  64u

/* GICv3: distributor and the first redistributor (RD and SGI frames). */
#define GICD_CTLR	    0x0000
#define GICD_CTLR_ARE	    (1u << 4)
#define GICD_CTLR_ENABLE_G1 (1u << 1)
#define GICD_PIDR2	    0xffe8
#define GICR_WAKER	    0x0014
#define GICR_SGI	    0x10000
#define GICR_IGROUPR0	    (GICR_SGI + 0x0080)
#define GICR_ISENABLER0	    (GICR_SGI + 0x0100)
#define GICR_IPRIORITYR	    (GICR_SGI + 0x0400)
#define SPURIOUS	    1020u

/* System registers of the GIC CPU interface, by encoding. */
#define ICC_PMR_EL1	"S3_0_C4_C6_0"
#define ICC_IAR1_EL1	"S3_0_C12_C12_0"
#define ICC_EOIR1_EL1	"S3_0_C12_C12_1"
#define ICC_BPR1_EL1	"S3_0_C12_C12_3"
#define ICC_CTLR_EL1	"S3_0_C12_C12_4"
#define ICC_SRE_EL1	"S3_0_C12_C12_5"
#define ICC_IGRPEN1_EL1 "S3_0_C12_C12_7"

#define MRS(reg)                                                               \
	__extension__({                                                        \
		uint64_t v_;                                                   \
		__asm__ volatile("mrs %0, " reg : "=r"(v_));                   \
		v_;                                                            \
	})
#define MSR(reg, v) __asm__ volatile("msr " reg ", %0" ::"r"((uint64_t)(v)))

struct handler {
	xd_event_fn fn;
	void *opaque;
};

static struct {
	volatile struct shared_info *si;
	uintptr_t gicd, gicr;
	uint32_t evtchn_intid;
	uint64_t freq;
	bool woken;
	uint64_t irqs, waits, wfis, idle_wfis;
	struct handler handlers[MAX_PORTS];
} ev;

static void mmio_write32(uintptr_t a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}

static uint32_t mmio_read32(uintptr_t a)
{
	return *(volatile uint32_t *)a;
}

static void mmio_write8(uintptr_t a, uint8_t v)
{
	*(volatile uint8_t *)a = v;
}

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

uint64_t xd_now_ns(void)
{
	uint64_t t = MRS("cntvct_el0");

	/* No 128-bit division (no libgcc): split seconds and the rest. */
	return t / ev.freq * 1000000000u + t % ev.freq * 1000000000u / ev.freq;
}

static uint64_t ns_to_ticks(uint64_t ns)
{
	return ns / 1000000000u * ev.freq +
	       ns % 1000000000u * ev.freq / 1000000000u;
}

/* ------------------------------------------------------------------ */
/* Event channels                                                      */
/* ------------------------------------------------------------------ */

int xd_evtchn_set_handler(uint32_t port, xd_event_fn fn, void *opaque)
{
	if (port >= MAX_PORTS)
		return -ENOSPC;
	/* The handler runs from the interrupt: set it with them masked. */
	__asm__ volatile("msr daifset, #2" ::: "memory");
	ev.handlers[port].opaque = opaque;
	ev.handlers[port].fn = fn;
	__asm__ volatile("msr daifclr, #2" ::: "memory");
	if (ev.si)
		__atomic_and_fetch(&ev.si->evtchn_mask[port / BITS],
				   ~(1ul << (port % BITS)), __ATOMIC_SEQ_CST);
	return 0;
}

void xd_evtchn_clear_handler(uint32_t port)
{
	if (port >= MAX_PORTS)
		return;
	__asm__ volatile("msr daifset, #2" ::: "memory");
	ev.handlers[port].fn = NULL;
	ev.handlers[port].opaque = NULL;
	__asm__ volatile("msr daifclr, #2" ::: "memory");
}

int xd_evtchn_bind_interdomain(uint16_t domid, uint32_t remote, uint32_t *local)
{
	struct evtchn_bind_interdomain b = {
		.remote_dom = domid,
		.remote_port = remote,
	};
	long rc = XD_HC2(__HYPERVISOR_event_channel_op,
			 EVTCHNOP_bind_interdomain, &b);

	if (rc < 0)
		return (int)rc;
	if (b.local_port >= MAX_PORTS) {
		xd_evtchn_close(b.local_port);
		return -ENOSPC;
	}
	*local = b.local_port;
	return 0;
}

int xd_evtchn_close(uint32_t port)
{
	struct evtchn_close c = { .port = port };

	return (int)XD_HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_close, &c);
}

int xd_evtchn_send(uint32_t port)
{
	struct evtchn_send s = { .port = port };

	return (int)XD_HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_send, &s);
}

/* Run the handler of every pending, unmasked port (2-level ABI). */
static void scan_ports(void)
{
	volatile struct vcpu_info *vi = &ev.si->vcpu_info[0];
	xen_ulong_t sel;

	/* Cleared before the scan: an event set meanwhile raises it again
	 * and we come back. */
	__atomic_store_n(&vi->evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
	sel = __atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
	while (sel) {
		unsigned int w = (unsigned int)__builtin_ctzl(sel);
		xen_ulong_t pend;

		sel &= sel - 1;
		pend = __atomic_load_n(&ev.si->evtchn_pending[w],
				       __ATOMIC_ACQUIRE) &
		       ~__atomic_load_n(&ev.si->evtchn_mask[w],
					__ATOMIC_ACQUIRE);
		while (pend) {
			unsigned int b = (unsigned int)__builtin_ctzl(pend);
			uint32_t port = w * BITS + b;

			pend &= pend - 1;
			__atomic_and_fetch(&ev.si->evtchn_pending[w],
					   ~(1ul << b), __ATOMIC_SEQ_CST);
			if (port < MAX_PORTS && ev.handlers[port].fn)
				ev.handlers[port].fn(ev.handlers[port].opaque);
		}
	}
}

/* start.S: an IRQ at EL1. */
void xd_irq(void);
void xd_irq(void)
{
	for (;;) {
		uint32_t intid = (uint32_t)MRS(ICC_IAR1_EL1) & 0xffffff;

		if (intid >= SPURIOUS)
			break;
		ev.irqs++;
		if (intid == ev.evtchn_intid && ev.si)
			scan_ports();
		else if (intid == GUEST_TIMER_VIRT_PPI)
			MSR("cntv_ctl_el0", 0); /* expired: quiet it */
		MSR(ICC_EOIR1_EL1, intid);
		__asm__ volatile("isb");
	}
	/* Whatever ran may have made work: the idle loop looks again. */
	xd_wake();
}

uint64_t xd_irq_count(void)
{
	return ev.irqs;
}

/* ------------------------------------------------------------------ */
/* Waiting                                                             */
/* ------------------------------------------------------------------ */

void xd_wake(void)
{
	__atomic_store_n(&ev.woken, true, __ATOMIC_RELEASE);
}

void xd_wait(uint64_t timeout_ns)
{
	uint64_t irqs = ev.irqs;

	ev.waits++;
	__asm__ volatile("msr daifset, #2" ::: "memory");
	if (!__atomic_exchange_n(&ev.woken, false, __ATOMIC_ACQ_REL)) {
		ev.wfis++;
		if (timeout_ns != UINT64_MAX) {
			MSR("cntv_cval_el0",
			    MRS("cntvct_el0") + ns_to_ticks(timeout_ns));
			MSR("cntv_ctl_el0", 1); /* enabled, not masked */
			__asm__ volatile("isb");
		}
		/* Wakes on a pending interrupt even though it is masked. */
		__asm__ volatile("dsb sy\n\twfi" ::: "memory");
	}
	__asm__ volatile("msr daifclr, #2\n\tisb" ::: "memory");
	MSR("cntv_ctl_el0", 0);
	if (ev.irqs == irqs)
		ev.idle_wfis++;
}

void xd_wait_stats(uint64_t *waits, uint64_t *wfis, uint64_t *empty)
{
	*waits = ev.waits;
	*wfis = ev.wfis;
	*empty = ev.idle_wfis;
}

/* ------------------------------------------------------------------ */
/* Set-up                                                              */
/* ------------------------------------------------------------------ */

static int gic_init(void)
{
	uint32_t bits = 1u << ev.evtchn_intid | 1u << GUEST_TIMER_VIRT_PPI;

	/* ArchRev 3 or 4: a GICv3 (or v4) distributor. */
	if (((mmio_read32(ev.gicd + GICD_PIDR2) >> 4) & 0xf) < 3)
		return -ENODEV;
	mmio_write32(ev.gicd + GICD_CTLR, GICD_CTLR_ARE | GICD_CTLR_ENABLE_G1);
	mmio_write32(ev.gicr + GICR_WAKER, 0);
	mmio_write32(ev.gicr + GICR_IGROUPR0, 0xffffffffu);
	mmio_write8(ev.gicr + GICR_IPRIORITYR + ev.evtchn_intid, 0xa0);
	mmio_write8(ev.gicr + GICR_IPRIORITYR + GUEST_TIMER_VIRT_PPI, 0xa0);
	mmio_write32(ev.gicr + GICR_ISENABLER0, bits);
	MSR(ICC_SRE_EL1, MRS(ICC_SRE_EL1) | 7); /* SRE, DFB, DIB */
	__asm__ volatile("isb");
	MSR(ICC_PMR_EL1, 0xff);
	MSR(ICC_BPR1_EL1, 0);
	MSR(ICC_CTLR_EL1, 0); /* EOI also deactivates */
	MSR(ICC_IGRPEN1_EL1, 1);
	__asm__ volatile("isb");
	return 0;
}

int xd_events_init(uint64_t shared_info_gfn, uint32_t evtchn_intid,
		   uint64_t gicd, uint64_t gicr)
{
	struct xen_add_to_physmap xatp = {
		.domid = DOMID_SELF,
		.space = XENMAPSPACE_shared_info,
		.idx = 0,
		.gpfn = shared_info_gfn,
	};
	long rc;
	int ret;

	if (evtchn_intid < 16 || evtchn_intid >= 32)
		return -EINVAL; /* a PPI */
	ev.freq = MRS("cntfrq_el0");
	if (!ev.freq)
		return -ENODEV;
	rc = XD_HC2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, &xatp);
	if (rc < 0)
		return (int)rc;
	ev.si = (volatile struct shared_info *)(uintptr_t)(shared_info_gfn
							   << XD_PAGE_SHIFT);
	ev.evtchn_intid = evtchn_intid;
	ev.gicd = (uintptr_t)gicd;
	ev.gicr = (uintptr_t)gicr;
	ret = gic_init();
	if (ret < 0)
		return ret;
	__asm__ volatile("msr daifclr, #2" ::: "memory");
	return 0;
}
