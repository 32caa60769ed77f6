/* SPDX-License-Identifier: MIT */
#ifndef VBACK_VHOST_USER_H
#define VBACK_VHOST_USER_H

#include <vback/base.h>
#include <vback/virtio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Public API of the vhost_user transport: written with the transport. */

#ifdef __cplusplus
}
#endif

#endif /* VBACK_VHOST_USER_H */
