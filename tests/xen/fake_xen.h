/* SPDX-License-Identifier: MIT */
/*
 * An in-process fake Xen with Xen's rules enforced, seen by the transport
 * through the public platform interface (struct vback_xen_platform in
 * include/vback/xen.h), exactly as a Linux, Zephyr or bare-metal platform
 * is: the production IOREQ core above it is what the tests run.
 *
 * Rules enforced (a violation is recorded; fake_xen_failure() returns it):
 *  - vp_eport in the ioreq page is garbage until the page is mapped AND the
 *    server enabled; binding to a garbage port fails like on Xen;
 *  - an ioreq slot state that goes backwards, an unknown state, or a notify
 *    before IORESP_READY "crashes the domain";
 *  - 8 IOREQ servers per domain, 256 ranges per server, ranges inclusive,
 *    overlapping claims in one server refused (-EEXIST);
 *  - INVALIDATE is broadcast to every enabled server;
 *  - grant table: only granted refs map, read-only grants refuse writable
 *    mappings, unmaps must match maps;
 *  - a destroyed domain stays a zombie while any mapping of it is held;
 *  - xenstore with watches (initial event, subtree events; delivered from
 *    the loop, never from inside the call that caused them) and
 *    transactions (EAGAIN on conflict).
 *
 * A simulated vCPU issues accesses as Xen does: fill the slot, READY,
 * signal the port (the bound callback runs at once, as an upcall would),
 * then wait (running the loop) for IORESP_READY and a notify back.
 * Single-threaded: everything runs on the test's thread.
 */
#ifndef VBACK_TESTS_FAKE_XEN_H
#define VBACK_TESTS_FAKE_XEN_H

#include <stdbool.h>
#include <stdint.h>

#include <xen/hvm/ioreq.h>

#include <vback/loop.h>
#include <vback/xen.h>

struct fake_xen;
struct fake_dom;

/*
 * A platform on @fx: what one backend domain sees. Each counts as an open
 * handle until fake_xen_platform_destroy(), which records a failure for
 * ports, pages or watches it still holds.
 */
struct vback_xen_platform *fake_xen_platform_create(struct fake_xen *fx);
/*
 * The same for a backend running in domain @self (0: Dom0, as
 * fake_xen_platform_create()). As under Xen's dummy XSM policy, a DomU's
 * platform gets -EPERM for DM ops, ioreq pages and foreign maps of any
 * domain but its target (fake_xen_set_target()); under SILO
 * (fake_xen_set_silo()) also for IOREQ servers (their event channels),
 * event channels and grant maps with another DomU. Its xenstore answers
 * domain_exists() with -EACCES and resolves relative paths under
 * /local/domain/@self, as xenstored does for a DomU.
 */
struct vback_xen_platform *fake_xen_platform_create_in(struct fake_xen *fx,
						       uint16_t self);
/* XEN_DOMCTL_set_target: @backend becomes @guest's device model. Once per
 * backend, as in Xen: -EINVAL the second time. */
int fake_xen_set_target(struct fake_xen *fx, uint16_t backend, uint16_t guest);
/* Xen booted with the SILO XSM policy (Arm's default) or not (xsm=dummy). */
void fake_xen_set_silo(struct fake_xen *fx, bool on);
void fake_xen_platform_destroy(struct vback_xen_platform *pf);
/*
 * The process holding @pf dies (SIGKILL): what the kernel does - its
 * ports are unbound (the guest ends go back to unbound), its ioreq pages
 * and foreign and grant mappings released, its watches and transactions
 * dropped. IOREQ servers, their enabled state and their ranges stay, as
 * on Xen. Every later call through @pf fails (-ESRCH) or does nothing;
 * fake_xen_platform_destroy() frees it without a failure.
 */
void fake_xen_platform_kill(struct vback_xen_platform *pf);

struct fake_xen *fake_xen_create(void);
/* Frees everything; records a failure if handles or mappings leaked. */
void fake_xen_destroy(struct fake_xen *fx);
/* The loop the simulated vCPU runs while it waits for an answer. */
void fake_xen_set_loop(struct fake_xen *fx, const struct vback_loop *loop);
/* NULL, or the first rule violation seen. */
const char *fake_xen_failure(const struct fake_xen *fx);
/* Forget the recorded violation (tests that provoke one on purpose). */
void fake_xen_clear_failure(struct fake_xen *fx);
/* What backends hold: platforms, ioreq pages, bound ports, watches. */
unsigned int fake_xen_open_handles(const struct fake_xen *fx);

/* Domains: RAM of @ram_bytes at guest-physical @ram_base. */
struct fake_dom *fake_dom_create(struct fake_xen *fx, uint16_t domid,
				 unsigned int nr_vcpus, uint64_t ram_base,
				 uint64_t ram_bytes);
/* The same on RAM the test owns (e.g. the guest-driver model's memory).
 * Mappings then alias that RAM and need consecutive frames. */
struct fake_dom *fake_dom_create_on(struct fake_xen *fx, uint16_t domid,
				    unsigned int nr_vcpus, uint64_t ram_base,
				    void *ram, uint64_t ram_bytes);
/* Destroy the domain (fires @releaseDomain). It lingers as a zombie while
 * anyone holds a mapping of its memory; fake_xen_destroy() frees it. */
void fake_dom_destroy(struct fake_dom *d);
struct fake_dom *fake_dom_find(struct fake_xen *fx, uint16_t domid);
bool fake_dom_is_zombie(const struct fake_dom *d);
bool fake_dom_crashed(const struct fake_dom *d);
/* The guest's view of its RAM: host pointer for guest-physical @gpa. */
void *fake_dom_gpa(struct fake_dom *d, uint64_t gpa, uint64_t len);
/* Foreign pages and grant pages currently mapped by the backend. */
uint64_t fake_dom_foreign_pages(const struct fake_dom *d);
uint64_t fake_dom_grant_pages(const struct fake_dom *d);
uint64_t fake_dom_foreign_map_calls(const struct fake_dom *d);
unsigned int fake_dom_servers(const struct fake_dom *d);
/* Is exactly [start, end] (inclusive) claimed by some server? */
bool fake_dom_range_claimed(const struct fake_dom *d, uint64_t start,
			    uint64_t end);
unsigned int fake_dom_nr_ranges(const struct fake_dom *d);

/* Interrupts seen by the guest: SPI edges (set_irq_level 1) and ISA
 * rising edges (0 -> 1 transitions of the line). */
unsigned int fake_dom_irqs(const struct fake_dom *d, unsigned int irq);
bool fake_dom_isa_line(const struct fake_dom *d, unsigned int irq);

/* Balloon frame @gfn out of the guest (@out) or back in: a foreign map
 * of an absent frame fails for that page, as privcmd's does. */
int fake_dom_balloon(struct fake_dom *d, uint64_t gfn, bool out);
bool fake_dom_ballooned(const struct fake_dom *d, uint64_t gfn);

/* Grant table of the guest. */
int fake_dom_grant(struct fake_dom *d, uint32_t gref, uint64_t gfn,
		   bool readonly);
/* -EBUSY while the backend maps it. */
int fake_dom_ungrant(struct fake_dom *d, uint32_t gref);

/*
 * The simulated vCPU. fake_vcpu_mmio: one MMIO access (IOREQ_TYPE_COPY),
 * dir IOREQ_READ or IOREQ_WRITE. Returns 0 when answered, -ENODEV when no
 * server claims the address (Xen would fault the guest), -ETIMEDOUT when
 * the backend never answered (the vCPU hangs: recorded as a failure),
 * -EFAULT if the domain crashed.
 */
int fake_vcpu_mmio(struct fake_dom *d, unsigned int vcpu, uint64_t addr,
		   unsigned int size, int dir, uint64_t *data);
/* Any request: the slot fields of @req are used as given (addr, data,
 * count, size, dir, data_is_ptr, type); *@req receives the answer. */
int fake_vcpu_ioreq(struct fake_dom *d, unsigned int vcpu, ioreq_t *req);
/* Broadcast IOREQ_TYPE_INVALIDATE on @vcpu to every enabled server. */
int fake_dom_invalidate(struct fake_dom *d, unsigned int vcpu);
/* Raw slot access for tests that play Xen by hand. */
volatile ioreq_t *fake_dom_slot(struct fake_dom *d, unsigned int server,
				unsigned int vcpu);

/* xenstore, as the toolstack sees it. */
int fake_xs_write(struct fake_xen *fx, const char *path, const char *val);
/* malloc'd copy or NULL */
char *fake_xs_read(struct fake_xen *fx, const char *path);
int fake_xs_rm(struct fake_xen *fx, const char *path);
/* How many times @val was written to @path by a library client. */
unsigned int fake_xs_writes(const struct fake_xen *fx, const char *path,
			    const char *val);
/* Called once at the next transaction start (to provoke a conflict). */
void fake_xs_on_tx_start(struct fake_xen *fx,
			 void (*fn)(struct fake_xen *fx, void *opaque),
			 void *opaque);

#endif /* VBACK_TESTS_FAKE_XEN_H */
