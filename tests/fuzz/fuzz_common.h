/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the fuzz targets: reading the input, fake guest memory
 * laid out from the input (several regions, some adjacent so that rings
 * and buffers straddle a boundary, some read-only), a checking guest-memory
 * view, and a used-ring watcher that asserts every popped head is returned
 * at most once.
 *
 * Each target is one C file defining LLVMFuzzerTestOneInput(). Built with
 * clang and -Dfuzz=enabled it links libFuzzer; otherwise replay.c supplies
 * a main() that runs every file of the given directories through it.
 *
 * Invariant violations abort() with a message: libFuzzer reports them as
 * crashes, the replay main as a failed test.
 */
#ifndef VBACK_TEST_FUZZ_COMMON_H
#define VBACK_TEST_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vback/mmio.h>

#include "guest_mem.h"

struct fz_ring;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message when an invariant does not hold. */
#define FZ_CHECK(cond, ...)                                                    \
	do {                                                                   \
		if (!(cond))                                                   \
			fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);       \
	} while (0)

void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));

/* FZ_TRACE=1 in the environment: print what the harness does. */
void fz_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A log sink that drops everything (the targets log a lot on purpose). */
extern const struct vback_log fz_quiet_log;
/* A transport that ignores the device's notifications. */
extern const struct vback_dev_transport_ops fz_null_transport_ops;

/* A simple loop (no fds) for the targets' devices: created per input,
 * pumped by fz_loop_run() until nothing is pending. */
struct vback_loop *fz_loop_create(void);
void fz_loop_destroy(struct vback_loop *loop);
void fz_loop_run(struct vback_loop *loop);

/* Index of the first byte of @buf that is not @byte, or @len if none.
 * For whole-disk checks: the support library is not instrumented, so
 * this costs no tracing per byte. */
size_t fz_first_not(const void *buf, size_t len, uint8_t byte);
/* Byte i of @buf = i * 7 + 3: a disk image no single fill matches. */
void fz_fill_pattern(uint8_t *buf, size_t len);

/* ---- input ---- */

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline bool fz_empty(const struct fz *f)
{
	return f->n == 0;
}

/* Each returns 0 bits once the input is exhausted. */
uint8_t fz_u8(struct fz *f);
uint16_t fz_u16(struct fz *f);
uint32_t fz_u32(struct fz *f);
uint64_t fz_u64(struct fz *f);
/* Copy up to @len bytes (zero-filled past the end); returns bytes taken. */
size_t fz_bytes(struct fz *f, void *buf, size_t len);

/* ---- guest memory ---- */

#define FZ_MAX_REGIONS 4
#define FZ_GPA_BASE    0x100000ull

struct fz_mem {
	struct gmem *gmem;
	unsigned int n;
	struct gmem_region r[FZ_MAX_REGIONS];
	uint8_t *host[FZ_MAX_REGIONS];
	bool with_unmap;
	/* the checking view handed to the device */
	struct vback_gm inner;
	struct vback_gm gm;
	uint64_t maps, unmaps;
	/*
	 * Rings being watched. Harness writes skip their used rings; the
	 * device may map their avail and used rings for writing only while
	 * @ring_maps_ok (the harness sets it around the calls that enable a
	 * queue). Otherwise a request buffer the guest placed over a ring
	 * would let device DMA rewrite the indexes the accounting reads.
	 */
	const struct fz_ring *watch[4];
	unsigned int nwatch;
	bool ring_maps_ok;
};

/*
 * Lay out 1..4 regions from the input: sizes 512 B .. 16 KiB, adjacent or
 * with a gap, region 0 always writable. @force_unmap: 0 = from the input,
 * 1 = always a view with unmap(), -1 = never. 0 or -ENOMEM.
 */
int fz_mem_init(struct fz_mem *m, struct fz *f, int force_unmap);
/* One writable region [@gpa, @gpa+@size), plain view. 0 or -ENOMEM. */
int fz_mem_init_fixed(struct fz_mem *m, uint64_t gpa, uint64_t size);
void fz_mem_fini(struct fz_mem *m);
/*
 * For a target that keeps one fz_mem_init_fixed() memory across inputs
 * (a large one costs an mmap, page faults and a munmap per input under
 * ASan): fz_mem_park() after an input poisons the bytes for ASan, so
 * that anything touching them before the next input is reported, and
 * fz_mem_reuse() before the next unpoisons them and makes the memory
 * as fz_mem_init_fixed() returns it: zeroed, no watches, counters at 0.
 */
void fz_mem_park(struct fz_mem *m);
void fz_mem_reuse(struct fz_mem *m);

/* Is [host, host+len) inside one region (and writable if @write)? */
bool fz_mem_holds(const struct fz_mem *m, const void *host, uint64_t len,
		  bool write);

/*
 * A guest address chosen by the input: mostly inside or just past a
 * region (so ranges cross boundaries and run into gaps), sometimes raw.
 */
uint64_t fz_addr(const struct fz_mem *m, struct fz *f);
/* Same, aligned down to @align (a power of two). */
uint64_t fz_addr_aligned(const struct fz_mem *m, struct fz *f, uint64_t align);

/*
 * Write guest memory from the harness side; ignores what is outside, and
 * the used rings of watched queues (a driver writing there would fake
 * used entries the device never made).
 */
void fz_poke(struct fz_mem *m, uint64_t gpa, const void *buf, uint64_t len);
/* Up to 16 bytes from the input at an address from the input (fz_addr()). */
void fz_poke_input(struct fz_mem *m, struct fz *f);
void fz_poke16(struct fz_mem *m, uint64_t gpa, uint16_t v);
void fz_poke32(struct fz_mem *m, uint64_t gpa, uint32_t v);
void fz_poke64(struct fz_mem *m, uint64_t gpa, uint64_t v);
/* Read; false if any byte is outside guest memory. */
bool fz_peek(struct fz_mem *m, uint64_t gpa, void *buf, uint64_t len);
uint16_t fz_peek16(struct fz_mem *m, uint64_t gpa);
uint32_t fz_peek32(struct fz_mem *m, uint64_t gpa);

/* Write split-ring descriptor @i of the table at @table. */
void fz_desc(struct fz_mem *m, uint64_t table, unsigned int i, uint64_t addr,
	     uint32_t len, uint16_t flags, uint16_t next);

/* ---- the driver side of one split ring ---- */

struct fz_drvq {
	struct fz_mem *mem;
	uint16_t size;
	struct vback_vq_addr addr;
	uint16_t avail_idx; /* the driver's next avail index */
};

/* Ring size (mostly small) and addresses from the input (mostly aligned). */
void fz_drvq_pick(struct fz_drvq *d, struct fz *f, uint16_t max_size);
/* Before enabling: used->idx = @idx (the device's avail index, 0 after a
 * reset), as a driver zeroes its rings. */
void fz_drvq_init_used(struct fz_drvq *d, uint16_t idx);
/* Put @head in the next avail slot and publish the index. */
void fz_drvq_publish(struct fz_drvq *d, uint16_t head);

struct fz_seg {
	uint64_t addr;
	uint32_t len;
	bool write;
};

/*
 * Lay out a chain of @n segments at ring descriptor @head (following
 * descriptors at head+1, ... modulo the size), or in an indirect table at
 * @table when non-zero (the ring descriptor then points at it).
 */
void fz_drvq_chain(struct fz_drvq *d, uint16_t head, const struct fz_seg *segs,
		   unsigned int n, uint64_t table);
/* A descriptor length: mostly small, sometimes sector multiples, or raw. */
uint32_t fz_len(struct fz *f);

/* After everything drained: every mapping released, none bogus. */
void fz_mem_check_released(const struct fz_mem *m);

/* ---- used-ring accounting ---- */

#define FZ_MAX_RING 256u

/*
 * Watches one queue of @dev from the driver's side. After every step the
 * target calls fz_ring_check(): the avail entries the device consumed
 * since (vback_dev_queue_last_avail()) count as handed over, the used
 * entries it published count as returned; a head returned more often
 * than handed over, or in flight twice, aborts. A queue that is reset,
 * re-addressed or resized starts a new account.
 */
struct fz_ring {
	struct vback_dev *dev;
	struct fz_mem *mem;
	unsigned int q;
	bool enabled;
	uint16_t size;
	struct vback_vq_addr addr;
	uint16_t last_avail, used_seen;
	bool unreliable; /* rings overlap: nothing accounted until reset */
	uint32_t handed[FZ_MAX_RING], returned[FZ_MAX_RING];
	unsigned int outstanding; /* sum of handed - returned */
	uint64_t total_returned;
};

void fz_ring_init(struct fz_ring *r, struct vback_dev *dev, struct fz_mem *mem,
		  unsigned int q);
void fz_ring_check(struct fz_ring *r);
/* The harness reset or re-enabled the queue: start a new account. */
void fz_ring_rebase(struct fz_ring *r);
/* True when [gpa, gpa+len) overlaps the watched used ring: harness
 * writes there would fake used entries, so targets skip them. */
bool fz_ring_covers_used(const struct fz_ring *r, uint64_t gpa, uint64_t len);

#endif /* VBACK_TEST_FUZZ_COMMON_H */
