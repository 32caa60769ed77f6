/* SPDX-License-Identifier: MIT */
/*
 * The PV console: a ring page and an event channel that the toolstack set
 * up (HVM_PARAM_CONSOLE_PFN and _EVTCHN); xenconsoled in Dom0 reads what
 * we write into out[] (io/console.h). Writes wait (yielding) while the
 * ring is full. Also: HVMOP_get_param, shutdown and the trap report.
 */
#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/io/console.h>
#include <xen/sched.h>

#include "bm.h"
#include "hypercall.h"
#include "xd.h"

static volatile struct xencons_interface *cons;
static uint32_t cons_port;

int xd_hvm_param(uint32_t index, uint64_t *value)
{
	struct xen_hvm_param p = { .domid = DOMID_SELF, .index = index };
	long rc = XD_HC2(__HYPERVISOR_hvm_op, HVMOP_get_param, &p);

	if (rc < 0)
		return (int)rc;
	*value = p.value;
	return 0;
}

int xd_console_init(void)
{
	uint64_t pfn = 0, port = 0;
	int ret;

	ret = xd_hvm_param(HVM_PARAM_CONSOLE_PFN, &pfn);
	if (ret == 0)
		ret = xd_hvm_param(HVM_PARAM_CONSOLE_EVTCHN, &port);
	if (ret < 0)
		return ret;
	/* mmu.c maps the magic-page window Normal; anything else would not
	 * be coherent with xenconsoled. */
	if (pfn << XD_PAGE_SHIFT < GUEST_MAGIC_BASE ||
	    pfn << XD_PAGE_SHIFT >= GUEST_MAGIC_BASE + GUEST_MAGIC_SIZE)
		return -22; /* EINVAL */
	cons_port = (uint32_t)port;
	cons = (volatile struct xencons_interface
			*)(uintptr_t)(pfn << XD_PAGE_SHIFT);
	return 0;
}

static void notify(void)
{
	struct evtchn_send s = { .port = cons_port };

	XD_HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_send, &s);
}

void bm_puts(const char *s)
{
	XENCONS_RING_IDX prod;

	if (!cons)
		return;
	prod = cons->out_prod;
	for (; *s; s++) {
		/* Full: let xenconsoled run. */
		while (prod - __atomic_load_n(&cons->out_cons,
					      __ATOMIC_ACQUIRE) >=
		       sizeof(cons->out)) {
			__atomic_store_n(&cons->out_prod, prod,
					 __ATOMIC_RELEASE);
			notify();
			XD_HC2(__HYPERVISOR_sched_op, SCHEDOP_yield, 0);
		}
		cons->out[MASK_XENCONS_IDX(prod, cons->out)] = *s;
		prod++;
	}
	/* The bytes before the index that publishes them. */
	__atomic_store_n(&cons->out_prod, prod, __ATOMIC_RELEASE);
	notify();
}

void xd_puts(const char *s)
{
	bm_puts(s);
}

int xd_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	return bm_vsnprintf(buf, size, fmt, ap);
}

int xd_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = bm_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int xd_printf(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = bm_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	bm_puts(line);
	return n;
}

void xd_shutdown(unsigned int reason)
{
	struct sched_shutdown sd = { .reason = reason };
	unsigned int i;

	/* Give xenconsoled the last lines (bounded: it may be gone). */
	for (i = 0; cons && i < 1000 &&
		    __atomic_load_n(&cons->out_cons, __ATOMIC_ACQUIRE) !=
			    cons->out_prod;
	     i++)
		XD_HC2(__HYPERVISOR_sched_op, SCHEDOP_yield, 0);
	for (;;)
		XD_HC2(__HYPERVISOR_sched_op, SCHEDOP_shutdown, &sd);
}

static void put_hex(uint64_t v)
{
	char c[17];

	for (int i = 0; i < 16; i++)
		c[i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
	c[16] = '\0';
	bm_puts(c);
}

void xd_trap(uint64_t kind, uint64_t esr, uint64_t elr, uint64_t far)
{
	static const char *const type[] = { "synchronous", "IRQ", "FIQ",
					    "SError" };
	static bool nested;

	/* By hand, not with a printf: it may be what broke. */
	if (!nested) {
		nested = true;
		bm_puts("\nvback-xen-domain: unexpected exception: ");
		bm_puts(type[kind & 3]);
		bm_puts(" ESR_EL1 ");
		put_hex(esr);
		bm_puts(" ELR_EL1 ");
		put_hex(elr);
		bm_puts(" FAR_EL1 ");
		put_hex(far);
		bm_puts("\n");
	}
	xd_shutdown(SHUTDOWN_crash);
}
