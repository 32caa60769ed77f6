/* SPDX-License-Identifier: MIT */
/*
 * A recording stand-in for the virtio layer's register file (the
 * vback_mmio_* functions of include/vback/virtio.h), for unit tests of the
 * transport that must not depend on virtio/. Accesses land in a 0x200-byte
 * scratch window (offset 0 reads the virtio magic), every access is
 * recorded, and the test can raise the device interrupt.
 */
#ifndef VBACK_TESTS_FAKE_MMIO_H
#define VBACK_TESTS_FAKE_MMIO_H

#include <vback/mmio.h>

#define FAKE_MMIO_MAGIC 0x74726976u /* "virt" */

struct fake_mmio_access {
	uint64_t off, val;
	unsigned int size;
	bool write;
};

struct vback_mmio {
	struct vback_mmio_options opts;
	uint8_t regs[VBACK_MMIO_WINDOW_SIZE];
	struct fake_mmio_access log[64];
	unsigned int nlog; /* total accesses (log wraps) */
	struct vback_mmio *next_live;
};

/* Instances created and not yet destroyed, newest first. */
struct vback_mmio *fake_mmio_live(void);
unsigned int fake_mmio_count(void);
/* The instance serving @dev, or NULL. */
struct vback_mmio *fake_mmio_of(const struct vback_dev *dev);
/* Raise the interrupt as the register file would (set_irq(true)). */
void fake_mmio_raise(struct vback_mmio *m);

#endif /* VBACK_TESTS_FAKE_MMIO_H */
