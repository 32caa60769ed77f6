/* SPDX-License-Identifier: MIT */
#ifndef VBACK_XEN_H
#define VBACK_XEN_H

#include <vback/base.h>
#include <vback/virtio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Public API of the xen transport: written with the transport. */

#ifdef __cplusplus
}
#endif

#endif /* VBACK_XEN_H */
