/* SPDX-License-Identifier: MIT */
/*
 * The Xen library calls the transport makes, as a table of function
 * pointers. Production uses xen_sys_real (thin wrappers over the five
 * libraries); tests pass an in-process fake Xen, so the code above this
 * table is the code that runs on a real host.
 *
 * Every entry keeps the semantics of the library call it stands for:
 * failures return -1 or NULL and set errno. Handles are opaque pointers
 * returned by the *_open entries, which take the table's opaque context.
 */
#ifndef VBACK_XEN_SYS_H
#define VBACK_XEN_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xenstore.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

struct xen_sys_ops {
	/* libxendevicemodel */
	void *(*dm_open)(void *sys);
	void (*dm_close)(void *dm);
	int (*dm_create_ioreq_server)(void *dm, domid_t domid, int bufioreq,
				      ioservid_t *id);
	int (*dm_set_ioreq_server_state)(void *dm, domid_t domid, ioservid_t id,
					 int enabled);
	int (*dm_destroy_ioreq_server)(void *dm, domid_t domid, ioservid_t id);
	int (*dm_map_io_range)(void *dm, domid_t domid, ioservid_t id,
			       int is_mmio, uint64_t start, uint64_t end);
	int (*dm_unmap_io_range)(void *dm, domid_t domid, ioservid_t id,
				 int is_mmio, uint64_t start, uint64_t end);
	int (*dm_set_irq_level)(void *dm, domid_t domid, unsigned int irq,
				unsigned int level);
	int (*dm_set_isa_irq_level)(void *dm, domid_t domid, uint8_t irq,
				    unsigned int level);
	int (*dm_nr_vcpus)(void *dm, domid_t domid, unsigned int *vcpus);

	/* libxenforeignmemory */
	void *(*fmem_open)(void *sys);
	void (*fmem_close)(void *fmem);
	/* Returns the resource handle; *addr receives the mapping. */
	void *(*fmem_map_resource)(void *fmem, domid_t domid, unsigned int type,
				   unsigned int id, unsigned long frame,
				   unsigned long nr_frames, void **addr,
				   int prot, int flags);
	int (*fmem_unmap_resource)(void *fmem, void *res);
	void *(*fmem_map)(void *fmem, uint32_t domid, int prot, size_t pages,
			  const xen_pfn_t *arr, int *err);
	int (*fmem_unmap)(void *fmem, void *addr, size_t pages);

	/* libxenevtchn */
	void *(*evtchn_open)(void *sys);
	void (*evtchn_close)(void *xce);
	int (*evtchn_fd)(void *xce);
	/* Returns the local port, or -1. */
	int (*evtchn_bind_interdomain)(void *xce, uint32_t domid,
				       evtchn_port_t remote);
	int (*evtchn_unbind)(void *xce, evtchn_port_t port);
	/* Returns a pending local port, or -1 (errno EAGAIN: none). */
	int (*evtchn_pending)(void *xce);
	int (*evtchn_unmask)(void *xce, evtchn_port_t port);
	int (*evtchn_notify)(void *xce, evtchn_port_t port);

	/* libxengnttab */
	void *(*gnt_open)(void *sys);
	void (*gnt_close)(void *xgt);
	void *(*gnt_map_domain_grant_refs)(void *xgt, uint32_t count,
					   uint32_t domid, uint32_t *refs,
					   int prot);
	int (*gnt_unmap)(void *xgt, void *addr, uint32_t count);

	/* libxenstore; returned memory is released with free() */
	void *(*xs_open)(void *sys);
	void (*xs_close)(void *xs);
	int (*xs_fileno)(void *xs);
	void *(*xs_read)(void *xs, xs_transaction_t t, const char *path,
			 unsigned int *len);
	bool (*xs_write)(void *xs, xs_transaction_t t, const char *path,
			 const void *data, unsigned int len);
	bool (*xs_rm)(void *xs, xs_transaction_t t, const char *path);
	char **(*xs_directory)(void *xs, xs_transaction_t t, const char *path,
			       unsigned int *num);
	bool (*xs_watch)(void *xs, const char *path, const char *token);
	bool (*xs_unwatch)(void *xs, const char *path, const char *token);
	/* Non-blocking: NULL with errno EAGAIN when no event is queued. */
	char **(*xs_check_watch)(void *xs);
	xs_transaction_t (*xs_transaction_start)(void *xs);
	bool (*xs_transaction_end)(void *xs, xs_transaction_t t, bool abort);
	bool (*xs_is_domain_introduced)(void *xs, unsigned int domid);
};

/* The production table: the real libraries. */
extern const struct xen_sys_ops xen_sys_real;

#endif /* VBACK_XEN_SYS_H */
