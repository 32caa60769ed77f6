/* SPDX-License-Identifier: MIT */
/* The production Xen system table: one-line wrappers over the libraries. */
#include "xen_sys.h"

static void *dm_open(void *sys)
{
	(void)sys;
	return xendevicemodel_open(NULL, 0);
}

static void dm_close(void *dm)
{
	xendevicemodel_close(dm);
}

static int dm_create_ioreq_server(void *dm, domid_t domid, int bufioreq,
				  ioservid_t *id)
{
	return xendevicemodel_create_ioreq_server(dm, domid, bufioreq, id);
}

static int dm_set_ioreq_server_state(void *dm, domid_t domid, ioservid_t id,
				     int enabled)
{
	return xendevicemodel_set_ioreq_server_state(dm, domid, id, enabled);
}

static int dm_destroy_ioreq_server(void *dm, domid_t domid, ioservid_t id)
{
	return xendevicemodel_destroy_ioreq_server(dm, domid, id);
}

static int dm_map_io_range(void *dm, domid_t domid, ioservid_t id, int is_mmio,
			   uint64_t start, uint64_t end)
{
	return xendevicemodel_map_io_range_to_ioreq_server(dm, domid, id,
							   is_mmio, start, end);
}

static int dm_unmap_io_range(void *dm, domid_t domid, ioservid_t id,
			     int is_mmio, uint64_t start, uint64_t end)
{
	return xendevicemodel_unmap_io_range_from_ioreq_server(dm, domid, id,
							       is_mmio, start,
							       end);
}

static int dm_set_irq_level(void *dm, domid_t domid, unsigned int irq,
			    unsigned int level)
{
	return xendevicemodel_set_irq_level(dm, domid, irq, level);
}

static int dm_set_isa_irq_level(void *dm, domid_t domid, uint8_t irq,
				unsigned int level)
{
	return xendevicemodel_set_isa_irq_level(dm, domid, irq, level);
}

static int dm_nr_vcpus(void *dm, domid_t domid, unsigned int *vcpus)
{
	return xendevicemodel_nr_vcpus(dm, domid, vcpus);
}

static void *fmem_open(void *sys)
{
	(void)sys;
	return xenforeignmemory_open(NULL, 0);
}

static void fmem_close(void *fmem)
{
	xenforeignmemory_close(fmem);
}

static void *fmem_map_resource(void *fmem, domid_t domid, unsigned int type,
			       unsigned int id, unsigned long frame,
			       unsigned long nr_frames, void **addr, int prot,
			       int flags)
{
	return xenforeignmemory_map_resource(fmem, domid, type, id, frame,
					     nr_frames, addr, prot, flags);
}

static int fmem_unmap_resource(void *fmem, void *res)
{
	return xenforeignmemory_unmap_resource(fmem, res);
}

static void *fmem_map(void *fmem, uint32_t domid, int prot, size_t pages,
		      const xen_pfn_t *arr, int *err)
{
	return xenforeignmemory_map(fmem, domid, prot, pages, arr, err);
}

static int fmem_unmap(void *fmem, void *addr, size_t pages)
{
	return xenforeignmemory_unmap(fmem, addr, pages);
}

static void *evtchn_open(void *sys)
{
	(void)sys;
	return xenevtchn_open(NULL, 0);
}

static void evtchn_close(void *xce)
{
	xenevtchn_close(xce);
}

static int evtchn_fd(void *xce)
{
	return xenevtchn_fd(xce);
}

static int evtchn_bind_interdomain(void *xce, uint32_t domid,
				   evtchn_port_t remote)
{
	return xenevtchn_bind_interdomain(xce, domid, remote);
}

static int evtchn_unbind(void *xce, evtchn_port_t port)
{
	return xenevtchn_unbind(xce, port);
}

static int evtchn_pending(void *xce)
{
	return xenevtchn_pending(xce);
}

static int evtchn_unmask(void *xce, evtchn_port_t port)
{
	return xenevtchn_unmask(xce, port);
}

static int evtchn_notify(void *xce, evtchn_port_t port)
{
	return xenevtchn_notify(xce, port);
}

static void *gnt_open(void *sys)
{
	(void)sys;
	return xengnttab_open(NULL, 0);
}

static void gnt_close(void *xgt)
{
	xengnttab_close(xgt);
}

static void *gnt_map_domain_grant_refs(void *xgt, uint32_t count,
				       uint32_t domid, uint32_t *refs, int prot)
{
	return xengnttab_map_domain_grant_refs(xgt, count, domid, refs, prot);
}

static int gnt_unmap(void *xgt, void *addr, uint32_t count)
{
	return xengnttab_unmap(xgt, addr, count);
}

static void *xs_open_(void *sys)
{
	(void)sys;
	return xs_open(0);
}

static void xs_close_(void *xs)
{
	xs_close(xs);
}

static int xs_fileno_(void *xs)
{
	return xs_fileno(xs);
}

static void *xs_read_(void *xs, xs_transaction_t t, const char *path,
		      unsigned int *len)
{
	return xs_read(xs, t, path, len);
}

static bool xs_write_(void *xs, xs_transaction_t t, const char *path,
		      const void *data, unsigned int len)
{
	return xs_write(xs, t, path, data, len);
}

static bool xs_rm_(void *xs, xs_transaction_t t, const char *path)
{
	return xs_rm(xs, t, path);
}

static char **xs_directory_(void *xs, xs_transaction_t t, const char *path,
			    unsigned int *num)
{
	return xs_directory(xs, t, path, num);
}

static bool xs_watch_(void *xs, const char *path, const char *token)
{
	return xs_watch(xs, path, token);
}

static bool xs_unwatch_(void *xs, const char *path, const char *token)
{
	return xs_unwatch(xs, path, token);
}

static char **xs_check_watch_(void *xs)
{
	return xs_check_watch(xs);
}

static xs_transaction_t xs_transaction_start_(void *xs)
{
	return xs_transaction_start(xs);
}

static bool xs_transaction_end_(void *xs, xs_transaction_t t, bool abort)
{
	return xs_transaction_end(xs, t, abort);
}

static bool xs_is_domain_introduced_(void *xs, unsigned int domid)
{
	return xs_is_domain_introduced(xs, domid);
}

const struct xen_sys_ops xen_sys_real = {
	.dm_open = dm_open,
	.dm_close = dm_close,
	.dm_create_ioreq_server = dm_create_ioreq_server,
	.dm_set_ioreq_server_state = dm_set_ioreq_server_state,
	.dm_destroy_ioreq_server = dm_destroy_ioreq_server,
	.dm_map_io_range = dm_map_io_range,
	.dm_unmap_io_range = dm_unmap_io_range,
	.dm_set_irq_level = dm_set_irq_level,
	.dm_set_isa_irq_level = dm_set_isa_irq_level,
	.dm_nr_vcpus = dm_nr_vcpus,
	.fmem_open = fmem_open,
	.fmem_close = fmem_close,
	.fmem_map_resource = fmem_map_resource,
	.fmem_unmap_resource = fmem_unmap_resource,
	.fmem_map = fmem_map,
	.fmem_unmap = fmem_unmap,
	.evtchn_open = evtchn_open,
	.evtchn_close = evtchn_close,
	.evtchn_fd = evtchn_fd,
	.evtchn_bind_interdomain = evtchn_bind_interdomain,
	.evtchn_unbind = evtchn_unbind,
	.evtchn_pending = evtchn_pending,
	.evtchn_unmask = evtchn_unmask,
	.evtchn_notify = evtchn_notify,
	.gnt_open = gnt_open,
	.gnt_close = gnt_close,
	.gnt_map_domain_grant_refs = gnt_map_domain_grant_refs,
	.gnt_unmap = gnt_unmap,
	.xs_open = xs_open_,
	.xs_close = xs_close_,
	.xs_fileno = xs_fileno_,
	.xs_read = xs_read_,
	.xs_write = xs_write_,
	.xs_rm = xs_rm_,
	.xs_directory = xs_directory_,
	.xs_watch = xs_watch_,
	.xs_unwatch = xs_unwatch_,
	.xs_check_watch = xs_check_watch_,
	.xs_transaction_start = xs_transaction_start_,
	.xs_transaction_end = xs_transaction_end_,
	.xs_is_domain_introduced = xs_is_domain_introduced_,
};
