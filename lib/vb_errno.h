/* SPDX-License-Identifier: MIT */
/*
 * errno values for freestanding builds, which have no errno.h: Linux's
 * numbers, so that a negative errno means the same thing in every vback
 * build (and what an embedder logs can be looked up). The library returns
 * only these. vback_strerror() names them.
 */
#ifndef VBACK_LIB_VB_ERRNO_H
#define VBACK_LIB_VB_ERRNO_H

#define EPERM	     1
#define ENOENT	     2
#define ESRCH	     3
#define EINTR	     4
#define EIO	     5
#define EBADF	     9
#define EAGAIN	     11
#define ENOMEM	     12
#define EACCES	     13
#define EFAULT	     14
#define EBUSY	     16
#define EEXIST	     17
#define ENODEV	     19
#define EINVAL	     22
#define ENOSPC	     28
#define EROFS	     30
#define ERANGE	     34
#define ENAMETOOLONG 36
#define ENOSYS	     38
#define EPROTO	     71
#define EBADMSG	     74
#define EOVERFLOW    75
#define EOPNOTSUPP   95
#define ENOTSUP	     EOPNOTSUPP
#define ESHUTDOWN    108
#define ETIMEDOUT    110
#define ESTALE	     116

#endif /* VBACK_LIB_VB_ERRNO_H */
