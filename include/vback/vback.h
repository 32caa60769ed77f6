/* SPDX-License-Identifier: MIT */
/* vback: everything. Include the per-layer headers to depend on less. */
#ifndef VBACK_VBACK_H
#define VBACK_VBACK_H

#include <vback/base.h>
#include <vback/io.h>
#include <vback/loop.h>
#include <vback/mmio.h>
#include <vback/dev.h>
#include <vback/vhost_user.h>
#include <vback/virtio.h>
#include <vback/xen.h>
#if defined(__linux__)
#include <vback/epoll.h>
#endif

#endif /* VBACK_VBACK_H */
