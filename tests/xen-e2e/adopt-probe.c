/* SPDX-License-Identifier: MIT */
/*
 * xe2e-adopt-probe: can a new process take over the IOREQ server of one
 * that died, and answer the access a vCPU is waiting on? (The question
 * behind vback-disk's adoption of running guests; run by dom0-init.sh,
 * mode adopt-probe.)
 *
 *   xe2e-adopt-probe serve DOMID BASE
 *       create a server, map its ioreq page, enable it, bind every vCPU's
 *       port, claim [BASE, BASE + 0x1ff]; print its id; answer reads
 *       with 0x74726976 until killed.
 *   xe2e-adopt-probe adopt DOMID ID BASE SECONDS
 *       take over server ID: map its ioreq page, enable it, bind the
 *       ports again, claim the range (EEXIST: still ours), answer what is
 *       waiting (READY, or INPROCESS: taken by the dead one) and then
 *       everything for SECONDS; then tear the server down.
 *
 * Markers: "XE2E: PASS|FAIL adopt-probe-...".
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

#define MAX_VCPUS 8

static xendevicemodel_handle *dm;
static xenforeignmemory_handle *fm;
static xenevtchn_handle *xe;
static volatile shared_iopage_t *page;
static evtchn_port_t local[MAX_VCPUS];
static unsigned int nvcpus;
static domid_t domid;
static unsigned long answered, inprocess_taken;

static int fail(const char *step)
{
	printf("XE2E: FAIL adopt-probe-%s: %s\n", step, strerror(errno));
	fflush(stdout);
	return 1;
}

static void answer(unsigned int v, bool adopting)
{
	volatile ioreq_t *r = &page->vcpu_ioreq[v];
	uint8_t st = r->state;

	if (st != STATE_IOREQ_READY &&
	    !(adopting && st == STATE_IOREQ_INPROCESS))
		return;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (st == STATE_IOREQ_INPROCESS)
		inprocess_taken++;
	r->state = STATE_IOREQ_INPROCESS;
	if (r->dir == IOREQ_READ)
		r->data = (r->type == IOREQ_TYPE_COPY && (r->addr & 0x1ff) == 0)
				  ? 0x74726976
				  : 0;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	r->state = STATE_IORESP_READY;
	xenevtchn_notify(xe, local[v]);
	answered++;
}

static int bind_ports(void)
{
	for (unsigned int v = 0; v < nvcpus; v++) {
		xenevtchn_port_or_error_t p = xenevtchn_bind_interdomain(
			xe, domid, page->vcpu_ioreq[v].vp_eport);

		if (p < 0)
			return fail("bind");
		local[v] = (evtchn_port_t)p;
	}
	return 0;
}

static void serve(bool adopting, int seconds)
{
	struct pollfd pfd = { .fd = xenevtchn_fd(xe), .events = POLLIN };
	time_t end = seconds > 0 ? time(NULL) + seconds : 0;

	for (unsigned int v = 0; v < nvcpus; v++)
		answer(v, adopting);
	printf("XE2E: adopt-probe answered %lu at once (%lu taken over from "
	       "INPROCESS)\n",
	       answered, inprocess_taken);
	fflush(stdout);
	while (!end || time(NULL) < end) {
		if (poll(&pfd, 1, 200) > 0) {
			xenevtchn_port_or_error_t p = xenevtchn_pending(xe);

			if (p >= 0)
				xenevtchn_unmask(xe, (evtchn_port_t)p);
		}
		for (unsigned int v = 0; v < nvcpus; v++)
			answer(v, false);
	}
}

int main(int argc, char **argv)
{
	xenforeignmemory_resource_handle *res;
	ioservid_t id;
	uint64_t base;
	bool adopt;
	void *p = NULL;
	int ret;

	if (argc < 4) {
		fprintf(stderr,
			"usage: %s serve DOMID BASE | adopt DOMID ID "
			"BASE SECONDS\n",
			argv[0]);
		return 2;
	}
	adopt = !strcmp(argv[1], "adopt");
	domid = (domid_t)strtoul(argv[2], NULL, 0);
	nvcpus = 1;
	dm = xendevicemodel_open(NULL, 0);
	fm = xenforeignmemory_open(NULL, 0);
	xe = xenevtchn_open(NULL, 0);
	if (!dm || !fm || !xe)
		return fail("open");
	if (adopt) {
		if (argc != 6)
			return 2;
		id = (ioservid_t)strtoul(argv[3], NULL, 0);
		base = strtoull(argv[4], NULL, 0);
	} else {
		base = strtoull(argv[3], NULL, 0);
		if (xendevicemodel_create_ioreq_server(
			    dm, domid, HVM_IOREQSRV_BUFIOREQ_OFF, &id))
			return fail("create");
	}
	res = xenforeignmemory_map_resource(
		fm, domid, XENMEM_resource_ioreq_server, id,
		XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &p,
		PROT_READ | PROT_WRITE, 0);
	if (!res)
		return fail(adopt ? "adopt-map" : "map");
	page = p;
	if (xendevicemodel_set_ioreq_server_state(dm, domid, id, 1))
		return fail(adopt ? "adopt-enable" : "enable");
	if (bind_ports())
		return 1;
	ret = xendevicemodel_map_io_range_to_ioreq_server(dm, domid, id, 1,
							  base, base + 0x1ff);
	if (ret && !(adopt && errno == EEXIST))
		return fail(adopt ? "adopt-range" : "range");
	if (adopt) {
		printf("XE2E: PASS adopt-probe-attached (server %u, range %s, "
		       "vCPU 0 slot state %u)\n",
		       (unsigned int)id,
		       ret ? "already claimed" : "claimed again",
		       (unsigned int)page->vcpu_ioreq[0].state);
		fflush(stdout);
		serve(true, atoi(argv[5]));
		printf("XE2E: adopt-probe answered %lu in all\n", answered);
		xendevicemodel_unmap_io_range_from_ioreq_server(dm, domid, id,
								1, base,
								base + 0x1ff);
		xendevicemodel_set_ioreq_server_state(dm, domid, id, 0);
		xenforeignmemory_unmap_resource(fm, res);
		xendevicemodel_destroy_ioreq_server(dm, domid, id);
		return 0;
	}
	printf("XE2E-PROBE: server %u\n", (unsigned int)id);
	fflush(stdout);
	serve(false, 0);
	return 0;
}
