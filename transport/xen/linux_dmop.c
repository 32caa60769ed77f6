/* SPDX-License-Identifier: MIT */
/*
 * DM ops of the Linux platform: one struct xen_dm_op per call, handed to
 * privcmd's dm_op ioctl with the guest's domain id (see linux_dmop.h for
 * why not libxendevicemodel). A kernel without the ioctl answers ENOTTY;
 * from then on the library does the work.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <xen/xen.h>
#include <xen/hvm/dm_op.h>
#include <xen/sys/privcmd.h>

#include "linux_dmop.h"
#include "linux_lib.h"

struct xen_dmop {
	int fd;			    /* /dev/xen/privcmd; -1: library only */
	xendevicemodel_handle *lib; /* opened at the first ENOTTY */
	bool use_lib;
	const struct vback_log *log;
};

static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

int xen_dmop_create(int privcmd_fd, const struct vback_log *log,
		    struct xen_dmop **out)
{
	struct xen_dmop *d = calloc(1, sizeof(*d));

	if (!d) {
		if (privcmd_fd >= 0)
			close(privcmd_fd);
		return -ENOMEM;
	}
	d->fd = privcmd_fd;
	d->use_lib = privcmd_fd < 0;
	d->log = log;
	*out = d;
	return 0;
}

void xen_dmop_close(struct xen_dmop *d)
{
	if (!d)
		return;
	if (d->lib)
		xendevicemodel_close(d->lib);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

bool xen_dmop_uses_library(const struct xen_dmop *d)
{
	return d->use_lib;
}

/*
 * The ioctl: 0, -errno, or -ENOTTY when this kernel has none (then the
 * caller asks the library, which is opened here).
 */
static int direct(struct xen_dmop *d, uint16_t domid, struct xen_dm_op *op)
{
	privcmd_dm_op_buf_t buf = { .uptr = op, .size = sizeof(*op) };
	privcmd_dm_op_t arg = { .dom = domid, .num = 1, .ubufs = &buf };

	if (!d->use_lib) {
		if (ioctl(d->fd, IOCTL_PRIVCMD_DM_OP, &arg) >= 0)
			return 0;
		if (errno != ENOTTY)
			return neg_errno();
		vback_logf(d->log, VBACK_LOG_INFO, "%s",
			   "xen: privcmd has no dm_op ioctl: using "
			   "libxendevicemodel");
		d->use_lib = true;
	}
	if (!d->lib) {
		d->lib = xendevicemodel_open(NULL, 0);
		if (!d->lib)
			return neg_errno() == -ENOTTY ? -EIO : neg_errno();
	}
	return -ENOTTY;
}

/* A library call's result as 0 or -errno. */
static int lib_ret(int rc)
{
	return rc < 0 ? neg_errno() : 0;
}

int xen_dmop_nr_vcpus(struct xen_dmop *d, uint16_t domid, unsigned int *n)
{
	struct xen_dm_op op = { .op = XEN_DMOP_nr_vcpus };
	int ret = direct(d, domid, &op);

	if (ret == 0)
		*n = op.u.nr_vcpus.vcpus;
	if (ret != -ENOTTY)
		return ret;
	return lib_ret(xendevicemodel_nr_vcpus(d->lib, domid, n));
}

int xen_dmop_create_server(struct xen_dmop *d, uint16_t domid, uint16_t *id)
{
	struct xen_dm_op op = { .op = XEN_DMOP_create_ioreq_server };
	ioservid_t sid;
	int ret;

	/* Arm never buffers; virtio-mmio needs no buffered ioreqs. */
	op.u.create_ioreq_server.handle_bufioreq = HVM_IOREQSRV_BUFIOREQ_OFF;
	ret = direct(d, domid, &op);
	if (ret == 0)
		*id = op.u.create_ioreq_server.id;
	if (ret != -ENOTTY)
		return ret;
	ret = lib_ret(xendevicemodel_create_ioreq_server(
		d->lib, domid, HVM_IOREQSRV_BUFIOREQ_OFF, &sid));
	if (ret == 0)
		*id = sid;
	return ret;
}

int xen_dmop_set_server_state(struct xen_dmop *d, uint16_t domid, uint16_t id,
			      bool enabled)
{
	struct xen_dm_op op = { .op = XEN_DMOP_set_ioreq_server_state };
	int ret;

	op.u.set_ioreq_server_state.id = id;
	op.u.set_ioreq_server_state.enabled = enabled;
	ret = direct(d, domid, &op);
	if (ret != -ENOTTY)
		return ret;
	return lib_ret(xendevicemodel_set_ioreq_server_state(d->lib, domid, id,
							     enabled));
}

int xen_dmop_destroy_server(struct xen_dmop *d, uint16_t domid, uint16_t id)
{
	struct xen_dm_op op = { .op = XEN_DMOP_destroy_ioreq_server };
	int ret;

	op.u.destroy_ioreq_server.id = id;
	ret = direct(d, domid, &op);
	if (ret != -ENOTTY)
		return ret;
	return lib_ret(xendevicemodel_destroy_ioreq_server(d->lib, domid, id));
}

static int mmio_range(struct xen_dmop *d, uint32_t opcode, uint16_t domid,
		      uint16_t id, uint64_t start, uint64_t end)
{
	struct xen_dm_op op = { .op = opcode };

	/* map and unmap share the layout of the request */
	op.u.map_io_range_to_ioreq_server.id = id;
	op.u.map_io_range_to_ioreq_server.type = XEN_DMOP_IO_RANGE_MEMORY;
	op.u.map_io_range_to_ioreq_server.start = start;
	op.u.map_io_range_to_ioreq_server.end = end;
	return direct(d, domid, &op);
}

int xen_dmop_map_mmio(struct xen_dmop *d, uint16_t domid, uint16_t id,
		      uint64_t start, uint64_t end)
{
	int ret = mmio_range(d, XEN_DMOP_map_io_range_to_ioreq_server, domid,
			     id, start, end);

	if (ret != -ENOTTY)
		return ret;
	return lib_ret(xendevicemodel_map_io_range_to_ioreq_server(
		d->lib, domid, id, XEN_DMOP_IO_RANGE_MEMORY, start, end));
}

int xen_dmop_unmap_mmio(struct xen_dmop *d, uint16_t domid, uint16_t id,
			uint64_t start, uint64_t end)
{
	int ret = mmio_range(d, XEN_DMOP_unmap_io_range_from_ioreq_server,
			     domid, id, start, end);

	if (ret != -ENOTTY)
		return ret;
	return lib_ret(xendevicemodel_unmap_io_range_from_ioreq_server(
		d->lib, domid, id, XEN_DMOP_IO_RANGE_MEMORY, start, end));
}

int xen_dmop_set_irq_level(struct xen_dmop *d, uint16_t domid, uint32_t irq,
			   unsigned int level)
{
	struct xen_dm_op op = { .op = XEN_DMOP_set_irq_level };
	int ret;

	op.u.set_irq_level.irq = irq;
	op.u.set_irq_level.level = (uint8_t)level;
	ret = direct(d, domid, &op);
	if (ret != -ENOTTY)
		return ret;
	return lib_ret(xendevicemodel_set_irq_level(d->lib, domid, irq, level));
}

int xen_dmop_set_isa_irq_level(struct xen_dmop *d, uint16_t domid, uint8_t irq,
			       unsigned int level)
{
	struct xen_dm_op op = { .op = XEN_DMOP_set_isa_irq_level };
	int ret;

	op.u.set_isa_irq_level.isa_irq = irq;
	op.u.set_isa_irq_level.level = (uint8_t)level;
	ret = direct(d, domid, &op);
	if (ret != -ENOTTY)
		return ret;
	return lib_ret(
		xendevicemodel_set_isa_irq_level(d->lib, domid, irq, level));
}
