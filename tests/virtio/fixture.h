/* SPDX-License-Identifier: MIT */
/*
 * Test fixture for the virtio unit tests: fake guest memory + RAM disk +
 * virtio-blk + virtio-mmio register file + guest-driver model, wired the
 * way a transport would wire them.
 *
 * Guest memory layout:
 *   FX_R0   8 MiB  driver heap (rings, request buffers)
 *   FX_R1  64 KiB  directly after R0 (separate host memory): ranges that
 *                  straddle FX_R1 come back from map() in two pieces
 *   FX_RO  64 KiB  read-only for the device
 *   anything else is a hole.
 */
#ifndef VBACK_TEST_VIRTIO_FIXTURE_H
#define VBACK_TEST_VIRTIO_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <vback/mmio.h>

#include "guest_driver.h"
#include "guest_mem.h"
#include "test_io.h"

#define FX_R0	   0x00100000ull
#define FX_R0_SIZE 0x00800000ull
#define FX_R1	   (FX_R0 + FX_R0_SIZE)
#define FX_R1_SIZE 0x00010000ull
#define FX_RO	   0x01000000ull
#define FX_RO_SIZE 0x00010000ull
#define FX_HOLE	   0x40000000ull

struct fx_options {
	unsigned int version; /* virtio-mmio version (0: 2) */
	bool grant;	      /* guest-memory view with unmap() */
	struct tio_options tio;
	struct vback_blk_options blk; /* .io is filled in */
	struct gdrv_options drv;      /* .access/.mem/.heap filled in */
	uint64_t transport_features;
	bool no_probe; /* stop before the driver probes */
	/* The loop's clock reads *clock_ns (NULL: fx.now_ns). */
	uint64_t *clock_ns;
};

struct fx {
	struct vback_loop *loop;  /* a simple loop: fx_pump() runs it */
	uint64_t now_ns;	  /* its clock: the test moves it */
	const uint64_t *clock_ns; /* or this one (fx_options.clock_ns) */
	unsigned int clock_reads; /* of the loop's clock, so far */
	struct gmem *mem;
	struct tio *io;
	struct vback_blk *blk;
	struct vback_dev *dev;
	struct vback_mmio *mmio;
	struct gdrv *drv;
	struct vback_log log;
	unsigned int irq_raised, irq_lowered;
	bool irq_level;
	int64_t ring_maps; /* gmem_outstanding() right after the probe */
	unsigned int log_err, log_warn;
	char last_log[256];
	char logs[8192]; /* every line, '\n'-separated (truncated) */
};

/* Run what the device posted on f->loop (a struct fx *). */
void fx_pump(void *opaque);
/* 0 or a negative errno from the first step that failed. */
int fx_setup(struct fx *f, const struct fx_options *o);
void fx_teardown(struct fx *f);

/* Fill @buf with a pattern derived from @seed. */
void fx_pattern(void *buf, uint32_t len, uint32_t seed);

#endif /* VBACK_TEST_VIRTIO_FIXTURE_H */
