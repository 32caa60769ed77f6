/* SPDX-License-Identifier: MIT */
/*
 * xe2e-isolation: what a domain may do to another one, asked the way a
 * backend would ask (run in the driver domain and in Dom0 of the xen-e2e
 * "driver" test).
 *
 *   xe2e-isolation map DOMID    map the first page of DOMID's RAM (Arm's
 *                               GUEST_RAM0_BASE) and read it
 *   xe2e-isolation dmop DOMID   XEN_DMOP_nr_vcpus for DOMID, through
 *                               privcmd's dm_op ioctl
 *
 * Prints one line, "allowed" or "refused: <errno>", and exits 0 when
 * allowed, 1 when refused, 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenforeignmemory.h>
#include <xen/xen.h>
#include <xen/hvm/dm_op.h>
#include <xen/sys/privcmd.h>

#define RAM0_GFN 0x40000ull /* 0x40000000 >> 12 */

static int refused(const char *what, int err)
{
	printf("refused: %s: %s (%d)\n", what, strerror(err), err);
	return 1;
}

static int map(uint16_t domid)
{
	xenforeignmemory_handle *fmem = xenforeignmemory_open(NULL, 0);
	xen_pfn_t gfn = RAM0_GFN;
	volatile const unsigned char *p;
	unsigned char c;
	int err = 0;

	if (!fmem)
		return refused("open privcmd", errno);
	p = xenforeignmemory_map(fmem, domid, PROT_READ, 1, &gfn, &err);
	if (!p)
		return refused("IOCTL_PRIVCMD_MMAPBATCH_V2", errno);
	if (err) {
		xenforeignmemory_unmap(fmem, (void *)(uintptr_t)p, 1);
		return refused("XENMEM_add_to_physmap_batch", -err);
	}
	c = p[0];
	printf("allowed: mapped dom%u's page %#llx (first byte %#x)\n", domid,
	       (unsigned long long)gfn, c);
	xenforeignmemory_unmap(fmem, (void *)(uintptr_t)p, 1);
	xenforeignmemory_close(fmem);
	return 0;
}

static int dmop(uint16_t domid)
{
	struct xen_dm_op op = { .op = XEN_DMOP_nr_vcpus };
	privcmd_dm_op_buf_t buf = { .uptr = &op, .size = sizeof(op) };
	privcmd_dm_op_t arg = { .dom = domid, .num = 1, .ubufs = &buf };
	int fd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return refused("open /dev/xen/privcmd", errno);
	if (ioctl(fd, IOCTL_PRIVCMD_DM_OP, &arg) < 0) {
		int e = errno;

		close(fd);
		return refused("XEN_DMOP_nr_vcpus", e);
	}
	close(fd);
	printf("allowed: dom%u has %u vCPUs\n", domid, op.u.nr_vcpus.vcpus);
	return 0;
}

int main(int argc, char **argv)
{
	char *end;
	unsigned long d;

	if (argc != 3)
		goto usage;
	d = strtoul(argv[2], &end, 10);
	if (!*argv[2] || *end || d >= 0x7ff0)
		goto usage;
	if (!strcmp(argv[1], "map"))
		return map((uint16_t)d);
	if (!strcmp(argv[1], "dmop"))
		return dmop((uint16_t)d);
usage:
	fprintf(stderr, "usage: %s map|dmop DOMID\n", argv[0]);
	return 2;
}
