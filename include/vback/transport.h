/* SPDX-License-Identifier: MIT */
/*
 * vback transport layer: "how the guest reaches us". It turns hypervisor
 * events into calls on a struct vback_dev (MMIO accesses, queue kicks),
 * gives the device a view of guest memory and a way to interrupt the guest,
 * and runs on the event loop of include/vback/base.h. It knows nothing of
 * block devices.
 *
 * Two transports, one header each:
 *  - vback/xen.h: the Xen IOREQ server (virtio-mmio devices of Xen guests);
 *  - vback/vhost_user.h: the vhost-user protocol (QEMU, cloud-hypervisor,
 *    crosvm, ...).
 */
#ifndef VBACK_TRANSPORT_H
#define VBACK_TRANSPORT_H

#include <vback/base.h>
#include <vback/virtio.h>
#include <vback/vhost_user.h>
#include <vback/xen.h>

#endif /* VBACK_TRANSPORT_H */
