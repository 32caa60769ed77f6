/* SPDX-License-Identifier: MIT */
/*
 * xe2e-ioreq-probe DOMID: does the hypervisor serve IOREQ servers? Debian
 * 12's arm64 Xen is built without CONFIG_IOREQ_SERVER and creation fails
 * with ENOSYS; build-xen.sh rebuilds it. Runs in the test Dom0 against a
 * paused DomU: create a server, map its ioreq page, enable it, read vCPU 0's
 * event channel port, tear everything down. Prints one XE2E marker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xendevicemodel.h>
#include <xenforeignmemory.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

static int fail(const char *step)
{
	printf("XE2E: FAIL ioreq-server: %s: %s\n", step, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	xendevicemodel_handle *dm;
	xenforeignmemory_handle *fm;
	xenforeignmemory_resource_handle *res;
	void *page = NULL;
	ioservid_t id;
	domid_t domid;
	uint32_t port;
	int ret = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DOMID\n", argv[0]);
		return 2;
	}
	domid = (domid_t)strtoul(argv[1], NULL, 10);
	dm = xendevicemodel_open(NULL, 0);
	fm = xenforeignmemory_open(NULL, 0);
	if (!dm || !fm)
		return fail("open");
	if (xendevicemodel_create_ioreq_server(dm, domid,
					       HVM_IOREQSRV_BUFIOREQ_OFF, &id))
		return fail("create");
	res = xenforeignmemory_map_resource(
		fm, domid, XENMEM_resource_ioreq_server, id,
		XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &page,
		PROT_READ | PROT_WRITE, 0);
	if (!res) {
		ret = fail("map ioreq page");
		goto destroy;
	}
	if (xendevicemodel_set_ioreq_server_state(dm, domid, id, 1)) {
		ret = fail("enable");
		goto unmap;
	}
	/* The ports are valid once the page is mapped and the server on. */
	port = ((volatile shared_iopage_t *)page)->vcpu_ioreq[0].vp_eport;
	if (port == 0) {
		errno = EPROTO;
		ret = fail("vCPU 0 event channel");
	} else {
		printf("XE2E: PASS ioreq-server (server %u, vCPU 0 port %u)\n",
		       (unsigned int)id, (unsigned int)port);
		ret = 0;
	}
	xendevicemodel_set_ioreq_server_state(dm, domid, id, 0);
unmap:
	xenforeignmemory_unmap_resource(fm, res);
destroy:
	xendevicemodel_destroy_ioreq_server(dm, domid, id);
	xenforeignmemory_close(fm);
	xendevicemodel_close(dm);
	return ret;
}
