/* SPDX-License-Identifier: MIT */
/*
 * The DM ops of the Linux platform, through privcmd's dm_op ioctl naming
 * the guest (IOCTL_PRIVCMD_DM_OP), with libxendevicemodel as the fallback
 * for kernels without that ioctl.
 *
 * Why not libxendevicemodel alone: it probes the ioctl with an invalid
 * domain id when it opens. In a driver domain, privcmd is restricted to
 * the one guest named by /local/domain/SELF/target, refuses that probe with
 * EPERM, and the library then falls back to raw hypercalls, which a
 * restricted privcmd refuses too: every call fails. An ioctl that names
 * the guest passes the restriction, and Xen then checks that this domain
 * is the guest's device model.
 */
#ifndef VBACK_XEN_LINUX_DMOP_H
#define VBACK_XEN_LINUX_DMOP_H

#include <stdbool.h>
#include <stdint.h>

#include <vback/base.h>

struct xen_dmop;

/*
 * Take @privcmd_fd (an open /dev/xen/privcmd, or -1 to use the library
 * only; owned from now on, closed by xen_dmop_close() even on failure).
 * 0 or -ENOMEM.
 */
int xen_dmop_create(int privcmd_fd, const struct vback_log *log,
		    struct xen_dmop **out);
void xen_dmop_close(struct xen_dmop *d);
/* True once the ioctl was found missing and the library took over. */
bool xen_dmop_uses_library(const struct xen_dmop *d);

/* Each: 0 or a negative errno (EPERM: not this guest's device model). */
int xen_dmop_nr_vcpus(struct xen_dmop *d, uint16_t domid, unsigned int *n);
int xen_dmop_create_server(struct xen_dmop *d, uint16_t domid, uint16_t *id);
int xen_dmop_set_server_state(struct xen_dmop *d, uint16_t domid, uint16_t id,
			      bool enabled);
int xen_dmop_destroy_server(struct xen_dmop *d, uint16_t domid, uint16_t id);
int xen_dmop_map_mmio(struct xen_dmop *d, uint16_t domid, uint16_t id,
		      uint64_t start, uint64_t end);
int xen_dmop_unmap_mmio(struct xen_dmop *d, uint16_t domid, uint16_t id,
			uint64_t start, uint64_t end);
int xen_dmop_set_irq_level(struct xen_dmop *d, uint16_t domid, uint32_t irq,
			   unsigned int level);
int xen_dmop_set_isa_irq_level(struct xen_dmop *d, uint16_t domid, uint8_t irq,
			       unsigned int level);

#endif /* VBACK_XEN_LINUX_DMOP_H */
