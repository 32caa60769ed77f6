/* SPDX-License-Identifier: MIT */
/*
 * The test program's own pieces: checks that report one line each, and a
 * fixture that wires what a bare-metal embedder would (simple loop, RAM
 * disk on a caller buffer, virtio-blk, virtio-mmio register file) to the
 * guest-driver model of tests/common on fake guest memory.
 */
#ifndef VBACK_TEST_BMTEST_H
#define VBACK_TEST_BMTEST_H

#include <vback/io.h>
#include <vback/mmio.h>
#include <vback/virtio.h>

#include "bm.h"
#include "guest_driver.h"
#include "guest_mem.h"

/* ---- checks ---- */

/* Record a failure of the running check (the first one is reported). */
void check_fail(int line, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Add a note to the running check's "ok" line. */
void check_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* True once the running check has failed. */
bool check_failed(void);
/* Run @fn(@arg) as one numbered check and print its line. */
void check_run(const char *name, void (*fn)(void *arg), void *arg);

/* In a check function: stop it when a condition does not hold. */
#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			check_fail(__LINE__, "%s", #cond);                     \
			return;                                                \
		}                                                              \
	} while (0)
#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_) {                                                \
			check_fail(__LINE__, "%s == %s: %lld != %lld", #a, #b, \
				   a_, b_);                                    \
			return;                                                \
		}                                                              \
	} while (0)

/* ---- fixture ---- */

/* Guest memory (guest addresses, backed by the heap):
 *   BF_R0  4 MiB   the driver's heap: rings, headers, buffers
 *   BF_R1  64 KiB  right after R0, but separate host memory
 *   BF_RO  64 KiB  read-only for the device
 *   anything else is a hole. */
#define BF_R0	   0x00100000ull
#define BF_R0_SIZE 0x00400000ull
#define BF_R1	   (BF_R0 + BF_R0_SIZE)
#define BF_R1_SIZE 0x00010000ull
#define BF_RO	   0x01000000ull
#define BF_RO_SIZE 0x00010000ull
#define BF_HOLE	   0x40000000ull

#define BF_DISK_SIZE (1u << 20) /* 2048 sectors */
#define BF_QUEUE     128u
#define BF_SEG_MAX   32u
#define BF_MAX_DATA  16384u
#define BF_SERIAL    "vback-baremetal"

struct bf_options {
	uint64_t refuse; /* features the driver refuses */
	bool no_probe;
};

/* The RAM disk's IO with a hand on it: counts submits, and while held
 * swallows unplug() so that requests stay in flight until the memory
 * engine's posted work runs (which the pump does, unless it is off). */
struct bf_io {
	struct vback_io inner; /* the memory engine */
	bool hold;
	uint64_t submits;
};

struct bf {
	struct vback_loop *loop;
	struct gmem *mem;
	struct bf_io io;
	struct vback_io io_handle; /* what the device uses: the wrapper */
	struct vback_blk *blk;
	struct vback_dev *dev;
	struct vback_mmio *mmio;
	struct gdrv *drv;
	struct vback_log log;
	bool pump_off; /* the driver's register accesses do not run the loop */
	unsigned int irq_raised, wakes;
	unsigned int log_err, log_warn;
	size_t logs_len;
	char logs[2048]; /* every log line, '\n'-separated (truncated) */
};

/* The RAM disk's bytes (one disk, shared by every fixture). */
extern uint8_t bf_disk[BF_DISK_SIZE];

/* 0, or the negative errno of the step that failed. */
int bf_setup(struct bf *f, const struct bf_options *o);
/* The documented order: register file, IO, device; then the rest. */
void bf_teardown(struct bf *f);
/* Run the loop until nothing is due (also when pump_off). */
void bf_dispatch(struct bf *f);
/* The loop pump of the driver model (a struct bf *). */
void bf_pump(void *opaque);
/* True when a log line so far contains @s. */
bool bf_logged(const struct bf *f, const char *s);
/* The fixture whose log a failing check prints (NULL: none). */
extern struct bf *bf_current;

void bf_pattern(void *buf, uint32_t len, uint32_t seed);

/* hostile.c: one check per case of the hostile slice. */
void hostile_run_all(void);

#endif /* VBACK_TEST_BMTEST_H */
