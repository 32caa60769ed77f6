/* SPDX-License-Identifier: MIT */
/*
 * The Linux platform's DM ops (transport/xen/linux_dmop.c): each op is one
 * IOCTL_PRIVCMD_DM_OP naming the guest, laid out as Xen's dm_op ABI says;
 * an EPERM (a driver domain that is not the guest's device model) comes
 * back as such and never sends the call elsewhere; only a kernel without
 * the ioctl (ENOTTY) hands the work to libxendevicemodel. ioctl() is
 * wrapped (-Wl,--wrap) and the library's table (linux_lib.h) holds fakes:
 * no Xen needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include <xen/xen.h>
#include <xen/hvm/dm_op.h>
#include <xen/sys/privcmd.h>

#include "linux_dmop.h"
#define XEN_LIB_TABLE /* the names stay the library's: fakes below */
#include "linux_lib.h"

/* What the fake kernel saw and answers. */
static struct {
	int fd;
	unsigned int ioctls;
	unsigned long request;
	uint16_t dom;
	unsigned int num;
	size_t size;
	struct xen_dm_op op; /* copy of the buffer */
	int error;	     /* errno to fail with, 0: succeed */
	uint32_t out;	     /* id or vcpus written back */
	unsigned int lib_opens, lib_calls;
	uint16_t lib_domid;
} k;

int __wrap_ioctl(int fd, unsigned long request, ...);
int __wrap_ioctl(int fd, unsigned long request, ...)
{
	const privcmd_dm_op_t *arg;
	va_list ap;

	va_start(ap, request);
	arg = va_arg(ap, const privcmd_dm_op_t *);
	va_end(ap);
	k.ioctls++;
	k.fd = fd;
	k.request = request;
	k.dom = arg->dom;
	k.num = arg->num;
	k.size = arg->num ? arg->ubufs[0].size : 0;
	if (k.error) {
		errno = k.error;
		return -1;
	}
	memcpy(&k.op, arg->ubufs[0].uptr, sizeof(k.op));
	/* Xen writes the results back into the first buffer. */
	if (k.op.op == XEN_DMOP_create_ioreq_server)
		((struct xen_dm_op *)arg->ubufs[0].uptr)
			->u.create_ioreq_server.id = (ioservid_t)k.out;
	if (k.op.op == XEN_DMOP_nr_vcpus)
		((struct xen_dm_op *)arg->ubufs[0].uptr)->u.nr_vcpus.vcpus =
			k.out;
	return 0;
}

/* The library: counts calls; its handle is never dereferenced. */
static int lib_handle;

static xendevicemodel_handle *fake_open(struct xentoollog_logger *l,
					unsigned int flags)
{
	(void)l;
	(void)flags;
	k.lib_opens++;
	return (xendevicemodel_handle *)&lib_handle;
}

static int fake_close(xendevicemodel_handle *h)
{
	assert_ptr_equal(h, &lib_handle);
	return 0;
}

static int fake_create_ioreq_server(xendevicemodel_handle *h, domid_t domid,
				    int handle_bufioreq, ioservid_t *id)
{
	assert_ptr_equal(h, &lib_handle);
	assert_int_equal(handle_bufioreq, HVM_IOREQSRV_BUFIOREQ_OFF);
	k.lib_calls++;
	k.lib_domid = domid;
	*id = 7;
	return 0;
}

static int fake_set_irq_level(xendevicemodel_handle *h, domid_t domid,
			      unsigned int irq, unsigned int level)
{
	assert_ptr_equal(h, &lib_handle);
	assert_int_equal(irq, 33);
	assert_int_equal(level, 1);
	k.lib_calls++;
	k.lib_domid = domid;
	return 0;
}

/* What linux_lib.c would fill; a call to anything else crashes the test. */
struct xen_lib xen_lib = {
	.xendevicemodel_open = fake_open,
	.xendevicemodel_close = fake_close,
	.xendevicemodel_create_ioreq_server = fake_create_ioreq_server,
	.xendevicemodel_set_irq_level = fake_set_irq_level,
};

static int setup(void **state)
{
	struct xen_dmop *d;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	memset(&k, 0, sizeof(k));
	assert_int_equal(xen_dmop_create(fd, NULL, &d), 0);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	xen_dmop_close(*state);
	return 0;
}

/* One buffer, the whole struct xen_dm_op, the guest named in the ioctl. */
static void assert_call(uint16_t dom, uint32_t op)
{
	assert_int_equal(k.request, IOCTL_PRIVCMD_DM_OP);
	assert_int_equal(k.dom, dom);
	assert_int_equal(k.num, 1);
	assert_int_equal(k.size, sizeof(struct xen_dm_op));
	assert_int_equal(k.op.op, op);
}

static void test_ops_encoded(void **state)
{
	struct xen_dmop *d = *state;
	unsigned int n = 0;
	uint16_t id = 0;

	k.out = 3;
	assert_int_equal(xen_dmop_nr_vcpus(d, 5, &n), 0);
	assert_call(5, XEN_DMOP_nr_vcpus);
	assert_int_equal(n, 3);

	k.out = 2;
	assert_int_equal(xen_dmop_create_server(d, 5, &id), 0);
	assert_call(5, XEN_DMOP_create_ioreq_server);
	assert_int_equal(k.op.u.create_ioreq_server.handle_bufioreq,
			 HVM_IOREQSRV_BUFIOREQ_OFF);
	assert_int_equal(id, 2);

	assert_int_equal(xen_dmop_set_server_state(d, 5, 2, true), 0);
	assert_call(5, XEN_DMOP_set_ioreq_server_state);
	assert_int_equal(k.op.u.set_ioreq_server_state.id, 2);
	assert_int_equal(k.op.u.set_ioreq_server_state.enabled, 1);

	assert_int_equal(xen_dmop_map_mmio(d, 5, 2, 0x2000000, 0x20001ff), 0);
	assert_call(5, XEN_DMOP_map_io_range_to_ioreq_server);
	assert_int_equal(k.op.u.map_io_range_to_ioreq_server.id, 2);
	assert_int_equal(k.op.u.map_io_range_to_ioreq_server.type,
			 XEN_DMOP_IO_RANGE_MEMORY);
	assert_int_equal(k.op.u.map_io_range_to_ioreq_server.start, 0x2000000);
	assert_int_equal(k.op.u.map_io_range_to_ioreq_server.end, 0x20001ff);

	assert_int_equal(xen_dmop_unmap_mmio(d, 5, 2, 0x2000000, 0x20001ff), 0);
	assert_call(5, XEN_DMOP_unmap_io_range_from_ioreq_server);
	assert_int_equal(k.op.u.map_io_range_to_ioreq_server.end, 0x20001ff);

	assert_int_equal(xen_dmop_set_irq_level(d, 5, 33, 1), 0);
	assert_call(5, XEN_DMOP_set_irq_level);
	assert_int_equal(k.op.u.set_irq_level.irq, 33);
	assert_int_equal(k.op.u.set_irq_level.level, 1);

	assert_int_equal(xen_dmop_set_isa_irq_level(d, 5, 9, 0), 0);
	assert_call(5, XEN_DMOP_set_isa_irq_level);
	assert_int_equal(k.op.u.set_isa_irq_level.isa_irq, 9);
	assert_int_equal(k.op.u.set_isa_irq_level.level, 0);

	assert_int_equal(xen_dmop_destroy_server(d, 5, 2), 0);
	assert_call(5, XEN_DMOP_destroy_ioreq_server);
	assert_int_equal(k.op.u.destroy_ioreq_server.id, 2);

	assert_int_equal(k.ioctls, 8);
	assert_int_equal(k.lib_opens, 0);
	assert_false(xen_dmop_uses_library(d));
}

/* A driver domain that is not the guest's device model: EPERM, as is,
 * from privcmd's restriction or from Xen; the library (whose raw
 * hypercalls a restricted privcmd refuses) is never tried. */
static void test_eperm_is_final(void **state)
{
	struct xen_dmop *d = *state;
	unsigned int n = 99;
	uint16_t id = 99;

	k.error = EPERM;
	assert_int_equal(xen_dmop_nr_vcpus(d, 6, &n), -EPERM);
	assert_int_equal(n, 99);
	assert_int_equal(xen_dmop_create_server(d, 6, &id), -EPERM);
	assert_int_equal(id, 99);
	assert_int_equal(xen_dmop_set_irq_level(d, 6, 33, 1), -EPERM);
	assert_int_equal(k.ioctls, 3);
	assert_int_equal(k.lib_opens, 0);
	assert_int_equal(k.lib_calls, 0);
	/* and the next call still tries the ioctl */
	k.error = 0;
	assert_int_equal(xen_dmop_set_irq_level(d, 6, 33, 1), 0);
	assert_int_equal(k.ioctls, 4);
}

/* A kernel without the ioctl: the library from then on, opened once. */
static void test_enotty_falls_back(void **state)
{
	struct xen_dmop *d = *state;
	uint16_t id = 0;

	k.error = ENOTTY;
	assert_int_equal(xen_dmop_create_server(d, 4, &id), 0);
	assert_int_equal(id, 7);
	assert_int_equal(k.lib_domid, 4);
	assert_true(xen_dmop_uses_library(d));
	assert_int_equal(xen_dmop_set_irq_level(d, 4, 33, 1), 0);
	assert_int_equal(k.ioctls, 1);
	assert_int_equal(k.lib_opens, 1);
	assert_int_equal(k.lib_calls, 2);
}

/* No privcmd device: the library alone. */
static void test_no_fd(void **state)
{
	struct xen_dmop *d;
	uint16_t id = 0;

	(void)state;
	memset(&k, 0, sizeof(k));
	assert_int_equal(xen_dmop_create(-1, NULL, &d), 0);
	assert_int_equal(xen_dmop_create_server(d, 4, &id), 0);
	assert_int_equal(id, 7);
	assert_int_equal(k.ioctls, 0);
	assert_int_equal(k.lib_opens, 1);
	xen_dmop_close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ops_encoded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_eperm_is_final, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_enotty_falls_back, setup,
						teardown),
		cmocka_unit_test(test_no_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
