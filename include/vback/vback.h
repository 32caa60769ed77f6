/* SPDX-License-Identifier: MIT */
/* vback: everything. Include the per-layer headers to depend on less. */
#ifndef VBACK_VBACK_H
#define VBACK_VBACK_H

#include <vback/base.h>
#include <vback/io.h>
#include <vback/transport.h>
#include <vback/virtio.h>

#endif /* VBACK_VBACK_H */
