/* SPDX-License-Identifier: MIT */
/*
 * librbd and librados, loaded at run time (io/dl.c) when the first such disk is
 * opened: a process that serves none never maps the library, nor what
 * it pulls in (megabytes of resident memory for librbd). The engine
 * includes this after the library's own header: every call below then
 * goes through the table that dlsym() filled. Private to libvback-io.
 */
#ifndef VBACK_IO_RBD_LIB_H
#define VBACK_IO_RBD_LIB_H

#include <vback/base.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

/* X(library index in the sonames below, function) */
#define IO_RBD_SYMS(X)                                                         \
	X(0, rbd_aio_create_completion)                                        \
	X(0, rbd_aio_discard)                                                  \
	X(0, rbd_aio_flush)                                                    \
	X(0, rbd_aio_get_arg)                                                  \
	X(0, rbd_aio_get_return_value)                                         \
	X(0, rbd_aio_readv)                                                    \
	X(0, rbd_aio_release)                                                  \
	X(0, rbd_aio_wait_for_complete)                                        \
	X(0, rbd_aio_write_zeroes)                                             \
	X(0, rbd_aio_writev)                                                   \
	X(0, rbd_close)                                                        \
	X(0, rbd_get_size)                                                     \
	X(0, rbd_open)                                                         \
	X(0, rbd_open_read_only)                                               \
	X(0, rbd_poll_io_events)                                               \
	X(0, rbd_set_image_notification)                                       \
	X(1, rados_conf_parse_env)                                             \
	X(1, rados_conf_read_file)                                             \
	X(1, rados_conf_set)                                                   \
	X(1, rados_connect)                                                    \
	X(1, rados_create)                                                     \
	X(1, rados_ioctx_create)                                               \
	X(1, rados_ioctx_destroy)                                              \
	X(1, rados_ioctx_set_namespace)                                        \
	X(1, rados_shutdown)

#define IO_RBD_SONAMES "librbd.so.1", "librados.so.2"

struct io_rbd_lib {
#define IO_RBD_FIELD(lib, f) __typeof__(f) *f;
	IO_RBD_SYMS(IO_RBD_FIELD)
#undef IO_RBD_FIELD
};

extern struct io_rbd_lib io_rbd_lib;

/* Load the library once per process (any thread): 0, or -ENOTSUP after
 * logging why (not installed, a symbol missing). */
int io_rbd_lib_load(const struct vback_log *log);

/* io/dl.c fills the table; everyone else calls through it. */
#ifndef IO_DL_TABLES
#define rbd_aio_create_completion  (io_rbd_lib.rbd_aio_create_completion)
#define rbd_aio_discard		   (io_rbd_lib.rbd_aio_discard)
#define rbd_aio_flush		   (io_rbd_lib.rbd_aio_flush)
#define rbd_aio_get_arg		   (io_rbd_lib.rbd_aio_get_arg)
#define rbd_aio_get_return_value   (io_rbd_lib.rbd_aio_get_return_value)
#define rbd_aio_readv		   (io_rbd_lib.rbd_aio_readv)
#define rbd_aio_release		   (io_rbd_lib.rbd_aio_release)
#define rbd_aio_wait_for_complete  (io_rbd_lib.rbd_aio_wait_for_complete)
#define rbd_aio_write_zeroes	   (io_rbd_lib.rbd_aio_write_zeroes)
#define rbd_aio_writev		   (io_rbd_lib.rbd_aio_writev)
#define rbd_close		   (io_rbd_lib.rbd_close)
#define rbd_get_size		   (io_rbd_lib.rbd_get_size)
#define rbd_open		   (io_rbd_lib.rbd_open)
#define rbd_open_read_only	   (io_rbd_lib.rbd_open_read_only)
#define rbd_poll_io_events	   (io_rbd_lib.rbd_poll_io_events)
#define rbd_set_image_notification (io_rbd_lib.rbd_set_image_notification)
#define rados_conf_parse_env	   (io_rbd_lib.rados_conf_parse_env)
#define rados_conf_read_file	   (io_rbd_lib.rados_conf_read_file)
#define rados_conf_set		   (io_rbd_lib.rados_conf_set)
#define rados_connect		   (io_rbd_lib.rados_connect)
#define rados_create		   (io_rbd_lib.rados_create)
#define rados_ioctx_create	   (io_rbd_lib.rados_ioctx_create)
#define rados_ioctx_destroy	   (io_rbd_lib.rados_ioctx_destroy)
#define rados_ioctx_set_namespace  (io_rbd_lib.rados_ioctx_set_namespace)
#define rados_shutdown		   (io_rbd_lib.rados_shutdown)
#endif

#endif /* VBACK_IO_RBD_LIB_H */
