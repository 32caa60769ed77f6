/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the virtio-mmio register file (virtio/mmio.c) in front of a
 * virtio-blk device on the RAM disk of tests/common/test_io.c. The driver
 * does anything in any order: register reads and writes of any offset,
 * width and value (legacy or modern window), plus a few "smart" steps that
 * get far quickly (a proper probe, a queue set up with real ring
 * addresses, a well-formed request) which the fuzzer then mixes and
 * mangles. With the first byte's bit 5 the disk holds IO until the input
 * releases it, so resets (Status 0, QueueReset, QueueReady 0) happen with
 * requests in flight and must read back as in progress until they are done.
 *
 * Invariants: identification registers never change; the interrupt line
 * follows InterruptStatus; every buffer lies inside guest memory; every
 * head is returned at most once per hand-over; a read-only disk is never
 * written; nothing stays mapped or in flight after teardown.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vback/io.h>
#include <vback/mmio.h>

#include "fuzz_common.h"
#include "ring.h"
#include "test_io.h"

#define MAX_OPS	  256
#define NQ	  2
#define DISK_SIZE (32u * 1024u)

/* virtio-mmio register offsets (virtio 1.2 section 4.2.2, 4.2.4). */
enum {
	R_MAGIC = 0x000,
	R_VERSION = 0x004,
	R_DEVICE_ID = 0x008,
	R_VENDOR_ID = 0x00c,
	R_DEV_FEATURES = 0x010,
	R_DEV_FEATURES_SEL = 0x014,
	R_DRV_FEATURES = 0x020,
	R_DRV_FEATURES_SEL = 0x024,
	R_GUEST_PAGE_SIZE = 0x028,
	R_QUEUE_SEL = 0x030,
	R_QUEUE_NUM_MAX = 0x034,
	R_QUEUE_NUM = 0x038,
	R_QUEUE_ALIGN = 0x03c,
	R_QUEUE_PFN = 0x040,
	R_QUEUE_READY = 0x044,
	R_QUEUE_NOTIFY = 0x050,
	R_INT_STATUS = 0x060,
	R_INT_ACK = 0x064,
	R_STATUS = 0x070,
	R_DESC_LO = 0x080,
	R_DESC_HI = 0x084,
	R_AVAIL_LO = 0x090,
	R_AVAIL_HI = 0x094,
	R_USED_LO = 0x0a0,
	R_USED_HI = 0x0a4,
	R_QUEUE_RESET = 0x0c0,
	R_CONFIG_GEN = 0x0fc,
	R_CONFIG = 0x100,
};

static const uint16_t regs[] = {
	R_MAGIC,	R_VERSION,	    R_DEVICE_ID,
	R_VENDOR_ID,	R_DEV_FEATURES,	    R_DEV_FEATURES_SEL,
	R_DRV_FEATURES, R_DRV_FEATURES_SEL, R_GUEST_PAGE_SIZE,
	R_QUEUE_SEL,	R_QUEUE_NUM_MAX,    R_QUEUE_NUM,
	R_QUEUE_ALIGN,	R_QUEUE_PFN,	    R_QUEUE_READY,
	R_QUEUE_NOTIFY, R_INT_STATUS,	    R_INT_ACK,
	R_STATUS,	R_DESC_LO,	    R_DESC_HI,
	R_AVAIL_LO,	R_AVAIL_HI,	    R_USED_LO,
	R_USED_HI,	R_QUEUE_RESET,	    R_CONFIG_GEN,
	R_CONFIG,
};

struct h {
	struct vback_loop *loop;
	struct fz_mem mem;
	struct fz_drvq q[NQ];
	struct fz_ring ring[NQ];
	struct tio *tio;
	struct vback_blk *blk;
	struct vback_dev *dev;
	struct vback_mmio *mmio;
	unsigned int version;
	bool irq;
	unsigned int irq_edges;
	uint32_t magic, devid;
};

static void set_irq(void *opaque, bool level)
{
	struct h *h = opaque;

	h->irq_edges += level && !h->irq;
	h->irq = level;
}

static const struct vback_mmio_ops mmio_ops = { .set_irq = set_irq };

static void check_all(struct h *h)
{
	for (unsigned int q = 0; q < NQ; q++)
		fz_ring_check(&h->ring[q]);
}

static void reg_write(struct h *h, uint64_t off, unsigned int size,
		      uint64_t val)
{
	/* Only these may enable a queue, i.e. map its rings for writing. */
	h->mem.ring_maps_ok = off == R_QUEUE_READY || off == R_QUEUE_PFN;
	vback_mmio_write(h->mmio, off, size, val);
	h->mem.ring_maps_ok = false;
	check_all(h);
}

static uint64_t reg_read(struct h *h, uint64_t off, unsigned int size)
{
	uint64_t v = 0xdeadbeefdeadbeefull;
	int ret = vback_mmio_read(h->mmio, off, size, &v);

	FZ_CHECK(size >= 8 || v >> (size * 8) == 0,
		 "read of %u bytes at %#llx returned %#llx", size,
		 (unsigned long long)off, (unsigned long long)v);
	if (ret)
		FZ_CHECK(v == 0, "failed read at %#llx returned %#llx",
			 (unsigned long long)off, (unsigned long long)v);
	if (size == 4 && off == R_MAGIC)
		FZ_CHECK(v == h->magic, "magic %#llx", (unsigned long long)v);
	if (size == 4 && off == R_DEVICE_ID)
		FZ_CHECK(v == h->devid, "device id %llu",
			 (unsigned long long)v);
	if (size == 4 && off == R_VERSION)
		FZ_CHECK(v == h->version, "version %llu",
			 (unsigned long long)v);
	if (size == 4 && off == R_INT_STATUS)
		FZ_CHECK(!v == !h->irq, "InterruptStatus %#llx, line %d",
			 (unsigned long long)v, h->irq);
	check_all(h);
	return v;
}

/* A value for a register write: raw, small, or a guest address half. */
static uint64_t pick_value(struct h *h, struct fz *f)
{
	uint8_t k = fz_u8(f);

	switch (k & 3) {
	case 0:
		return fz_u32(f);
	case 1:
		return fz_u8(f);
	case 2:
		return fz_addr(&h->mem, f) & 0xffffffffu;
	default:
		return (uint64_t)1 << (fz_u8(f) % 32);
	}
}

static void probe(struct h *h, struct fz *f)
{
	uint64_t want = fz_u64(f);
	uint32_t lo, hi;

	reg_write(h, R_STATUS, 4, 0);
	reg_write(h, R_STATUS, 4, VBACK_STATUS_ACKNOWLEDGE);
	reg_write(h, R_STATUS, 4,
		  VBACK_STATUS_ACKNOWLEDGE | VBACK_STATUS_DRIVER);
	reg_write(h, R_DEV_FEATURES_SEL, 4, 0);
	lo = (uint32_t)reg_read(h, R_DEV_FEATURES, 4);
	reg_write(h, R_DEV_FEATURES_SEL, 4, 1);
	hi = (uint32_t)reg_read(h, R_DEV_FEATURES, 4);
	if (!(want & 1))
		want &= (uint64_t)hi << 32 | lo;
	reg_write(h, R_DRV_FEATURES_SEL, 4, 0);
	reg_write(h, R_DRV_FEATURES, 4, (uint32_t)want);
	reg_write(h, R_DRV_FEATURES_SEL, 4, 1);
	reg_write(h, R_DRV_FEATURES, 4, (uint32_t)(want >> 32));
	if (h->version == 2)
		reg_write(h, R_STATUS, 4,
			  VBACK_STATUS_ACKNOWLEDGE | VBACK_STATUS_DRIVER |
				  VBACK_STATUS_FEATURES_OK);
}

static void setup_queue(struct h *h, struct fz *f, unsigned int q)
{
	struct fz_drvq *d = &h->q[q];

	reg_write(h, R_QUEUE_SEL, 4, q);
	fz_drvq_pick(d, f, (uint16_t)reg_read(h, R_QUEUE_NUM_MAX, 4));
	reg_write(h, R_QUEUE_NUM, 4, d->size);
	if (h->version == 1) {
		/* Legacy: one block from the PFN, avail after the table,
		 * used at the next 4 KiB boundary (QueueAlign). */
		uint64_t base = fz_addr_aligned(&h->mem, f, 4096);

		d->addr.desc = base;
		d->addr.avail = base + 16ull * d->size;
		d->addr.used =
			(d->addr.avail + 6 + 2ull * d->size + 4095) & ~4095ull;
		reg_write(h, R_GUEST_PAGE_SIZE, 4, 4096);
		reg_write(h, R_QUEUE_ALIGN, 4, 4096);
		reg_write(h, R_QUEUE_PFN, 4, base >> 12);
	} else {
		reg_write(h, R_DESC_LO, 4, (uint32_t)d->addr.desc);
		reg_write(h, R_DESC_HI, 4, (uint32_t)(d->addr.desc >> 32));
		reg_write(h, R_AVAIL_LO, 4, (uint32_t)d->addr.avail);
		reg_write(h, R_AVAIL_HI, 4, (uint32_t)(d->addr.avail >> 32));
		reg_write(h, R_USED_LO, 4, (uint32_t)d->addr.used);
		reg_write(h, R_USED_HI, 4, (uint32_t)(d->addr.used >> 32));
		reg_write(h, R_QUEUE_READY, 4, 1);
	}
	d->avail_idx = vback_dev_queue_last_avail(h->dev, q);
}

/* A read or write request, well-formed unless the input says otherwise. */
static void request(struct h *h, struct fz *f)
{
	unsigned int q = fz_u8(f) % NQ;
	struct fz_drvq *d = &h->q[q];
	struct fz_seg segs[4];
	uint8_t shape = fz_u8(f);
	uint32_t type = (shape & 0x80) ? fz_u32(f) : (shape & 1);
	uint64_t hdr = fz_addr(&h->mem, f);
	uint16_t head = fz_u8(f);
	unsigned int n = 0;

	fz_poke32(&h->mem, hdr, type);
	fz_poke32(&h->mem, hdr + 4, 0);
	fz_poke64(&h->mem, hdr + 8, fz_u8(f) % (DISK_SIZE / 512 + 2));
	segs[n].addr = hdr;
	segs[n].len = 16;
	segs[n++].write = false;
	if (shape & 2) {
		segs[n].addr = fz_addr(&h->mem, f);
		segs[n].len = (shape & 4) ? fz_len(f) : 512;
		segs[n++].write = type == 0;
	}
	segs[n].addr = fz_addr(&h->mem, f);
	segs[n].len = 1;
	segs[n++].write = true;
	fz_drvq_chain(d, head, segs, n, 0);
	fz_drvq_publish(d, (uint16_t)(head & (d->size - 1)));
}

/* A register (mostly a known one, sometimes any offset) and a width. */
static uint64_t pick_reg(struct fz *f, unsigned int *size)
{
	uint8_t r = fz_u8(f);
	uint64_t off =
		r < 0xe0 ? regs[r % (sizeof(regs) / 2)] : (uint64_t)fz_u16(f);

	*size = (r & 0x10) ? 1u << (fz_u8(f) % 4) : 4;
	if (off == R_CONFIG)
		off += fz_u8(f) % 80;
	return off;
}

static void step(struct h *h, struct fz *f)
{
	uint8_t op = fz_u8(f);

	switch (op % 10) {
	case 0:
	case 1: { /* any register write */
		unsigned int size;
		uint64_t off = pick_reg(f, &size);

		reg_write(h, off, size, pick_value(h, f));
		break;
	}
	case 2: { /* any register read */
		unsigned int size;
		uint64_t off = pick_reg(f, &size);

		reg_read(h, off, size);
		break;
	}
	case 3:
		probe(h, f);
		break;
	case 4:
		setup_queue(h, f, (op >> 4) % NQ);
		break;
	case 5: { /* DRIVER_OK with whatever came before */
		uint64_t s = reg_read(h, R_STATUS, 4);

		reg_write(h, R_STATUS, 4, s | VBACK_STATUS_DRIVER_OK);
		break;
	}
	case 6:
		reg_write(h, R_QUEUE_NOTIFY, 4, (op >> 4) % (NQ + 1));
		break;
	case 7:
		if (op & 0x80) /* held IO completes (some of it) */
			tio_release(h->tio, fz_u8(f) % 4);
		else /* the interrupt handler */
			reg_write(h, R_INT_ACK, 4,
				  reg_read(h, R_INT_STATUS, 4));
		break;
	case 8: /* raw guest memory */
		fz_poke_input(&h->mem, f);
		break;
	default:
		request(h, f);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct tio_options to;
	struct vback_blk_options bo;
	struct vback_mmio_options mo;
	const struct tio_stats *st;
	uint8_t *pattern = NULL;
	struct h h;
	uint8_t cfg;
	bool ro;

	memset(&h, 0, sizeof(h));
	if (fz_mem_init(&h.mem, &f, 0))
		return 0;
	cfg = fz_u8(&f);
	h.loop = fz_loop_create();
	memset(&to, 0, sizeof(to));
	to.loop = h.loop;
	to.size = DISK_SIZE;
	to.read_only = cfg & 1;
	to.can_discard = cfg & 2;
	to.can_write_zeroes = cfg & 2;
	to.volatile_cache = cfg & 4;
	h.tio = tio_create(&to);
	FZ_CHECK(h.tio, "%s", "tio");
	tio_hold(h.tio, cfg & 32); /* in flight across resets */
	/* A pattern to compare against when the disk is read-only. */
	pattern = malloc(DISK_SIZE);
	FZ_CHECK(pattern, "%s", "out of memory");
	fz_fill_pattern(pattern, DISK_SIZE);
	memcpy(tio_data(h.tio), pattern, DISK_SIZE);

	memset(&bo, 0, sizeof(bo));
	bo.io = tio_io(h.tio);
	bo.num_queues = NQ;
	bo.queue_size = (uint16_t)(1u << (fz_u8(&f) % 9));
	bo.read_only = cfg & 8;
	bo.seg_max = 1 + fz_u8(&f) % 8;
	bo.log = &fz_quiet_log;
	ro = to.read_only || bo.read_only;
	if (vback_blk_create(&bo, &h.blk))
		goto out;
	h.dev = vback_blk_dev(h.blk);

	h.version = (cfg & 16) ? 1 : 2;
	memset(&mo, 0, sizeof(mo));
	mo.dev = h.dev;
	mo.version = h.version;
	mo.ops = &mmio_ops;
	mo.opaque = &h;
	mo.gm = h.mem.gm;
	mo.loop = h.loop;
	mo.log = &fz_quiet_log;
	FZ_CHECK(vback_mmio_create(&mo, &h.mmio) == 0, "%s", "mmio");
	h.magic = 0x74726976; /* "virt" */
	h.devid = VIRTIO_ID_BLOCK;
	for (unsigned int q = 0; q < NQ; q++) {
		h.q[q].mem = &h.mem;
		fz_ring_init(&h.ring[q], h.dev, &h.mem, q);
	}

	for (unsigned int i = 0; i < MAX_OPS && !fz_empty(&f); i++) {
		step(&h, &f);
		fz_loop_run(h.loop); /* the device's deferred work */
		/* Account what that work consumed now: the next step may
		 * rewrite the avail ring it read. */
		check_all(&h);
	}

	vback_mmio_destroy(h.mmio);
	tio_hold(h.tio, false);
	tio_release(h.tio, 0); /* completes what is still held */
	FZ_CHECK(vback_dev_inflight(h.dev) == 0, "%u in flight at the end",
		 vback_dev_inflight(h.dev));
	st = tio_stats(h.tio);
	fz_trace("end: %llu IO requests, %llu + %llu used entries",
		 (unsigned long long)st->submits,
		 (unsigned long long)h.ring[0].total_returned,
		 (unsigned long long)h.ring[1].total_returned);
	if (ro) {
		FZ_CHECK(!st->by_op[VBACK_IO_WRITE] &&
				 !st->by_op[VBACK_IO_DISCARD] &&
				 !st->by_op[VBACK_IO_WRITE_ZEROES] &&
				 !st->by_op[VBACK_IO_SECURE_ERASE],
			 "%s", "a read-only disk got a modifying request");
		FZ_CHECK(!memcmp(tio_data(h.tio), pattern, DISK_SIZE), "%s",
			 "a read-only disk changed");
	}
	vback_blk_destroy(h.blk);
	fz_mem_check_released(&h.mem);
out:
	tio_destroy(h.tio);
	free(pattern);
	fz_mem_fini(&h.mem);
	fz_loop_destroy(h.loop);
	return 0;
}
