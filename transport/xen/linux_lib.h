/* SPDX-License-Identifier: MIT */
/*
 * The Xen libraries, loaded when the first Linux platform is created
 * (linux_lib.c, lib/vb_dl.h): a process that serves no Xen guest never
 * maps them (vhost-user only: ~150 KiB less resident), and runs on a host
 * where they are not installed. linux.c and linux_dmop.c include this
 * after the libraries' headers: every call below then goes through the
 * table that dlsym() filled. Private to the Linux platform.
 */
#ifndef VBACK_XEN_LINUX_LIB_H
#define VBACK_XEN_LINUX_LIB_H

#include <vback/base.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xenstore.h>

/* X(library index in the sonames below, function) */
#define XEN_LIB_SYMS(X)                                                        \
	X(0, xenevtchn_bind_interdomain)                                       \
	X(0, xenevtchn_close)                                                  \
	X(0, xenevtchn_fd)                                                     \
	X(0, xenevtchn_notify)                                                 \
	X(0, xenevtchn_open)                                                   \
	X(0, xenevtchn_pending)                                                \
	X(0, xenevtchn_unbind)                                                 \
	X(0, xenevtchn_unmask)                                                 \
	X(1, xenforeignmemory_close)                                           \
	X(1, xenforeignmemory_map)                                             \
	X(1, xenforeignmemory_map_resource)                                    \
	X(1, xenforeignmemory_open)                                            \
	X(1, xenforeignmemory_unmap)                                           \
	X(1, xenforeignmemory_unmap_resource)                                  \
	X(2, xengnttab_close)                                                  \
	X(2, xengnttab_map_domain_grant_refs)                                  \
	X(2, xengnttab_open)                                                   \
	X(2, xengnttab_unmap)                                                  \
	X(3, xs_check_watch)                                                   \
	X(3, xs_close)                                                         \
	X(3, xs_directory)                                                     \
	X(3, xs_fileno)                                                        \
	X(3, xs_is_domain_introduced)                                          \
	X(3, xs_open)                                                          \
	X(3, xs_read)                                                          \
	X(3, xs_transaction_end)                                               \
	X(3, xs_transaction_start)                                             \
	X(3, xs_unwatch)                                                       \
	X(3, xs_watch)                                                         \
	X(3, xs_write)                                                         \
	X(4, xendevicemodel_close)                                             \
	X(4, xendevicemodel_create_ioreq_server)                               \
	X(4, xendevicemodel_destroy_ioreq_server)                              \
	X(4, xendevicemodel_map_io_range_to_ioreq_server)                      \
	X(4, xendevicemodel_nr_vcpus)                                          \
	X(4, xendevicemodel_open)                                              \
	X(4, xendevicemodel_set_ioreq_server_state)                            \
	X(4, xendevicemodel_set_irq_level)                                     \
	X(4, xendevicemodel_set_isa_irq_level)                                 \
	X(4, xendevicemodel_unmap_io_range_from_ioreq_server)

/* The sonames of Xen 4.9 and later; libxenstore.so.3.0 before 4.16. */
#define XEN_LIB_SONAMES                                                        \
	"libxenevtchn.so.1", "libxenforeignmemory.so.1", "libxengnttab.so.1",  \
		"libxenstore.so.4 libxenstore.so.3.0",                         \
		"libxendevicemodel.so.1"
#define XEN_LIB_COUNT 5

struct xen_lib {
#define XEN_LIB_FIELD(lib, f) __typeof__(f) *f;
	XEN_LIB_SYMS(XEN_LIB_FIELD)
#undef XEN_LIB_FIELD
};

extern struct xen_lib xen_lib;

/* Load the libraries once per process (any thread): 0, or -ENOTSUP after
 * logging why (not installed, a symbol missing). */
int xen_lib_load(const struct vback_log *log);

/* linux_lib.c fills the table; everyone else calls through it. */
#ifndef XEN_LIB_TABLE
#define xenevtchn_bind_interdomain    (xen_lib.xenevtchn_bind_interdomain)
#define xenevtchn_close		      (xen_lib.xenevtchn_close)
#define xenevtchn_fd		      (xen_lib.xenevtchn_fd)
#define xenevtchn_notify	      (xen_lib.xenevtchn_notify)
#define xenevtchn_open		      (xen_lib.xenevtchn_open)
#define xenevtchn_pending	      (xen_lib.xenevtchn_pending)
#define xenevtchn_unbind	      (xen_lib.xenevtchn_unbind)
#define xenevtchn_unmask	      (xen_lib.xenevtchn_unmask)
#define xenforeignmemory_close	      (xen_lib.xenforeignmemory_close)
#define xenforeignmemory_map	      (xen_lib.xenforeignmemory_map)
#define xenforeignmemory_map_resource (xen_lib.xenforeignmemory_map_resource)
#define xenforeignmemory_open	      (xen_lib.xenforeignmemory_open)
#define xenforeignmemory_unmap	      (xen_lib.xenforeignmemory_unmap)
#define xenforeignmemory_unmap_resource                                        \
	(xen_lib.xenforeignmemory_unmap_resource)
#define xengnttab_close (xen_lib.xengnttab_close)
#define xengnttab_map_domain_grant_refs                                        \
	(xen_lib.xengnttab_map_domain_grant_refs)
#define xengnttab_open		(xen_lib.xengnttab_open)
#define xengnttab_unmap		(xen_lib.xengnttab_unmap)
#define xs_check_watch		(xen_lib.xs_check_watch)
#define xs_close		(xen_lib.xs_close)
#define xs_directory		(xen_lib.xs_directory)
#define xs_fileno		(xen_lib.xs_fileno)
#define xs_is_domain_introduced (xen_lib.xs_is_domain_introduced)
#define xs_open			(xen_lib.xs_open)
#define xs_read			(xen_lib.xs_read)
#define xs_transaction_end	(xen_lib.xs_transaction_end)
#define xs_transaction_start	(xen_lib.xs_transaction_start)
#define xs_unwatch		(xen_lib.xs_unwatch)
#define xs_watch		(xen_lib.xs_watch)
#define xs_write		(xen_lib.xs_write)
#define xendevicemodel_close	(xen_lib.xendevicemodel_close)
#define xendevicemodel_create_ioreq_server                                     \
	(xen_lib.xendevicemodel_create_ioreq_server)
#define xendevicemodel_destroy_ioreq_server                                    \
	(xen_lib.xendevicemodel_destroy_ioreq_server)
#define xendevicemodel_map_io_range_to_ioreq_server                            \
	(xen_lib.xendevicemodel_map_io_range_to_ioreq_server)
#define xendevicemodel_nr_vcpus (xen_lib.xendevicemodel_nr_vcpus)
#define xendevicemodel_open	(xen_lib.xendevicemodel_open)
#define xendevicemodel_set_ioreq_server_state                                  \
	(xen_lib.xendevicemodel_set_ioreq_server_state)
#define xendevicemodel_set_irq_level (xen_lib.xendevicemodel_set_irq_level)
#define xendevicemodel_set_isa_irq_level                                       \
	(xen_lib.xendevicemodel_set_isa_irq_level)
#define xendevicemodel_unmap_io_range_from_ioreq_server                        \
	(xen_lib.xendevicemodel_unmap_io_range_from_ioreq_server)
#endif

#endif
