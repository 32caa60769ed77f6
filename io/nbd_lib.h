/* SPDX-License-Identifier: MIT */
/*
 * libnbd, loaded at run time (io/dl.c) when the first such disk is
 * opened: a process that serves none never maps the library, nor what
 * it pulls in (megabytes of resident memory for librbd). The engine
 * includes this after the library's own header: every call below then
 * goes through the table that dlsym() filled. Private to libvback-io.
 */
#ifndef VBACK_IO_NBD_LIB_H
#define VBACK_IO_NBD_LIB_H

#include <vback/base.h>

#include <libnbd.h>

/* X(library index in the sonames below, function) */
#define IO_NBD_SYMS(X)                                                         \
	X(0, nbd_aio_connect)                                                  \
	X(0, nbd_aio_disconnect)                                               \
	X(0, nbd_aio_flush)                                                    \
	X(0, nbd_aio_get_direction)                                            \
	X(0, nbd_aio_get_fd)                                                   \
	X(0, nbd_aio_is_closed)                                                \
	X(0, nbd_aio_is_dead)                                                  \
	X(0, nbd_aio_is_ready)                                                 \
	X(0, nbd_aio_notify_read)                                              \
	X(0, nbd_aio_notify_write)                                             \
	X(0, nbd_aio_pread)                                                    \
	X(0, nbd_aio_pwrite)                                                   \
	X(0, nbd_aio_trim)                                                     \
	X(0, nbd_aio_zero)                                                     \
	X(0, nbd_can_flush)                                                    \
	X(0, nbd_can_fua)                                                      \
	X(0, nbd_can_multi_conn)                                               \
	X(0, nbd_can_trim)                                                     \
	X(0, nbd_can_zero)                                                     \
	X(0, nbd_close)                                                        \
	X(0, nbd_create)                                                       \
	X(0, nbd_get_block_size)                                               \
	X(0, nbd_get_errno)                                                    \
	X(0, nbd_get_error)                                                    \
	X(0, nbd_get_size)                                                     \
	X(0, nbd_is_read_only)                                                 \
	X(0, nbd_poll)                                                         \
	X(0, nbd_set_export_name)                                              \
	X(0, nbd_set_pread_initialize)

#define IO_NBD_SONAMES "libnbd.so.0"

struct io_nbd_lib {
#define IO_NBD_FIELD(lib, f) __typeof__(f) *f;
	IO_NBD_SYMS(IO_NBD_FIELD)
#undef IO_NBD_FIELD
};

extern struct io_nbd_lib io_nbd_lib;

/* Load the library once per process (any thread): 0, or -ENOTSUP after
 * logging why (not installed, a symbol missing). */
int io_nbd_lib_load(const struct vback_log *log);

/* io/dl.c fills the table; everyone else calls through it. */
#ifndef IO_DL_TABLES
#define nbd_aio_connect		 (io_nbd_lib.nbd_aio_connect)
#define nbd_aio_disconnect	 (io_nbd_lib.nbd_aio_disconnect)
#define nbd_aio_flush		 (io_nbd_lib.nbd_aio_flush)
#define nbd_aio_get_direction	 (io_nbd_lib.nbd_aio_get_direction)
#define nbd_aio_get_fd		 (io_nbd_lib.nbd_aio_get_fd)
#define nbd_aio_is_closed	 (io_nbd_lib.nbd_aio_is_closed)
#define nbd_aio_is_dead		 (io_nbd_lib.nbd_aio_is_dead)
#define nbd_aio_is_ready	 (io_nbd_lib.nbd_aio_is_ready)
#define nbd_aio_notify_read	 (io_nbd_lib.nbd_aio_notify_read)
#define nbd_aio_notify_write	 (io_nbd_lib.nbd_aio_notify_write)
#define nbd_aio_pread		 (io_nbd_lib.nbd_aio_pread)
#define nbd_aio_pwrite		 (io_nbd_lib.nbd_aio_pwrite)
#define nbd_aio_trim		 (io_nbd_lib.nbd_aio_trim)
#define nbd_aio_zero		 (io_nbd_lib.nbd_aio_zero)
#define nbd_can_flush		 (io_nbd_lib.nbd_can_flush)
#define nbd_can_fua		 (io_nbd_lib.nbd_can_fua)
#define nbd_can_multi_conn	 (io_nbd_lib.nbd_can_multi_conn)
#define nbd_can_trim		 (io_nbd_lib.nbd_can_trim)
#define nbd_can_zero		 (io_nbd_lib.nbd_can_zero)
#define nbd_close		 (io_nbd_lib.nbd_close)
#define nbd_create		 (io_nbd_lib.nbd_create)
#define nbd_get_block_size	 (io_nbd_lib.nbd_get_block_size)
#define nbd_get_errno		 (io_nbd_lib.nbd_get_errno)
#define nbd_get_error		 (io_nbd_lib.nbd_get_error)
#define nbd_get_size		 (io_nbd_lib.nbd_get_size)
#define nbd_is_read_only	 (io_nbd_lib.nbd_is_read_only)
#define nbd_poll		 (io_nbd_lib.nbd_poll)
#define nbd_set_export_name	 (io_nbd_lib.nbd_set_export_name)
#define nbd_set_pread_initialize (io_nbd_lib.nbd_set_pread_initialize)
#endif

#endif /* VBACK_IO_NBD_LIB_H */
