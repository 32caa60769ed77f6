/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the Xen IOREQ path (transport/xen/ioreq.c and the window it
 * serves) on the in-process fake Xen, with a real virtio-mmio virtio-blk
 * device behind the window and the guest's RAM in fake guest memory.
 *
 * Two kinds of steps: raw slots (any vCPU, any state, type, size, address,
 * count, direction, data-is-pointer) scanned by the transport, and proper
 * accesses through the fake's simulated vCPU (which enforces Xen's rules:
 * no notify before IORESP_READY, no state going backwards, no hang). Plus
 * a probe, queue set-up and requests through the window so the accesses
 * reach the device's data path, and INVALIDATE broadcasts.
 *
 * Invariants: a READY slot is always answered (IORESP_READY) with every
 * field but data unchanged, and an MMIO read's data zero-extended to its
 * size (an INVALIDATE carries no data, whatever its direction);
 * a slot in any other state is left alone byte for byte; the fake Xen
 * records no rule violation; nothing leaks at teardown; a read-only disk
 * is never written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_xen.h"
#include "fuzz_common.h"
#include "ring.h"
#include "test_io.h"
#include "xen_priv.h"

#define MAX_OPS	  128
#define DOMID	  7
#define RAM_BASE  0x40000000ull
#define RAM_SIZE  (128u * 1024u)
#define WIN_BASE  0x02000000ull
#define WIN_SIZE  0x200u
#define DISK_SIZE (16u * 1024u)
#define MAX_VCPUS 4

struct h {
	struct fz_mem *mem;
	struct vback_loop *loop;
	struct fake_xen *fx;
	struct vback_xen_platform *pf;
	struct fake_dom *d;
	struct vback_xen *xen;
	struct vback_xen_domain *dom;
	struct vback_xen_device *xdev;
	struct tio *tio;
	struct vback_blk *blk;
	struct fz_drvq q;
	unsigned int nvcpus;
	bool grants;
};

/*
 * The guest's RAM, zeroed: allocated at the first input and kept (parked,
 * poisoned for ASan) between inputs. A fresh 128 KiB per input was an
 * mmap, page faults and a munmap each time.
 */
static struct fz_mem *guest_ram(void)
{
	static struct fz_mem ram;
	static bool have;

	if (have) {
		fz_mem_reuse(&ram);
		return &ram;
	}
	FZ_CHECK(fz_mem_init_fixed(&ram, RAM_BASE, RAM_SIZE) == 0, "%s",
		 "guest memory");
	have = true;
	return &ram;
}

static void check_fake(struct h *h)
{
	const char *why = fake_xen_failure(h->fx);

	FZ_CHECK(!why, "fake Xen: %s", why ? why : "");
}

static uint64_t win_addr(struct fz *f)
{
	uint8_t k = fz_u8(f);

	if (k < 0xf0)
		return WIN_BASE + fz_u16(f) % (WIN_SIZE + 16);
	return fz_u64(f);
}

/* A proper access through the simulated vCPU. */
static uint64_t vcpu_access(struct h *h, unsigned int vcpu, uint64_t addr,
			    unsigned int size, bool read, uint64_t val)
{
	int ret = fake_vcpu_mmio(h->d, vcpu % h->nvcpus, addr, size,
				 read ? 1 : 0, &val);

	FZ_CHECK(ret == 0 || ret == -ENODEV, "vCPU access at %#llx: %d",
		 (unsigned long long)addr, ret);
	check_fake(h);
	if (ret == 0 && read && size < 8)
		FZ_CHECK(val >> (8 * size) == 0, "%u-byte read returned %#llx",
			 size, (unsigned long long)val);
	return ret == 0 ? val : 0;
}

static void reg_write(struct h *h, uint64_t off, uint32_t val)
{
	vcpu_access(h, 0, WIN_BASE + off, 4, false, val);
}

/* Copy a slot field by field (it is volatile shared memory). */
static void slot_copy(ioreq_t *dst, volatile const ioreq_t *s)
{
	memset(dst, 0, sizeof(*dst));
	dst->addr = s->addr;
	dst->data = s->data;
	dst->count = s->count;
	dst->size = s->size;
	dst->vp_eport = s->vp_eport;
	dst->state = s->state;
	dst->data_is_ptr = s->data_is_ptr;
	dst->dir = s->dir;
	dst->df = s->df;
	dst->type = s->type;
}

/* Raw slots in any state, then one scan by the transport. */
static void raw_slots(struct h *h, struct fz *f)
{
	ioreq_t before[MAX_VCPUS];
	unsigned int mask = fz_u8(f);

	for (unsigned int v = 0; v < h->nvcpus; v++) {
		volatile ioreq_t *s = fake_dom_slot(h->d, 0, v);
		uint8_t k, st;

		FZ_CHECK(s, "slot of vcpu %u", v);
		if (!(mask & (1u << v)))
			continue;
		k = fz_u8(f);
		st = fz_u8(f);
		s->addr = win_addr(f);
		s->data = fz_u64(f);
		s->count = (k & 1) ? fz_u32(f) : 1;
		s->size = (k & 2) ? fz_u32(f) : 1u << (fz_u8(f) % 4);
		s->dir = (k >> 2) & 1;
		s->data_is_ptr = (k & 0x18) == 0x18;
		s->df = (k >> 5) & 1;
		s->type = (k & 0x40) ? fz_u8(f) : IOREQ_TYPE_COPY;
		/* Mostly READY; any 4-bit state otherwise. */
		s->state = (st & 0x80) ? (st & 15) : STATE_IOREQ_READY;
	}
	for (unsigned int v = 0; v < h->nvcpus; v++)
		slot_copy(&before[v], fake_dom_slot(h->d, 0, v));
	xen_ioreq_scan(h->dom);
	for (unsigned int v = 0; v < h->nvcpus; v++) {
		volatile ioreq_t *s = fake_dom_slot(h->d, 0, v);
		ioreq_t now, *b = &before[v];

		slot_copy(&now, s);
		fz_trace("slot %u: state %u->%u type %u dir %u ptr %u size %u "
			 "count %u addr %#llx data %#llx->%#llx",
			 v, b->state, now.state, b->type, b->dir,
			 b->data_is_ptr, b->size, b->count,
			 (unsigned long long)b->addr,
			 (unsigned long long)b->data,
			 (unsigned long long)now.data);
		if (b->state != STATE_IOREQ_READY) {
			FZ_CHECK(!memcmp(&now, b, sizeof(now)),
				 "slot %u in state %u was touched", v,
				 b->state);
			continue;
		}
		FZ_CHECK(now.state == STATE_IORESP_READY,
			 "READY slot %u left in state %u", v, now.state);
		FZ_CHECK(now.addr == b->addr && now.size == b->size &&
				 now.count == b->count && now.type == b->type &&
				 now.dir == b->dir &&
				 now.data_is_ptr == b->data_is_ptr,
			 "slot %u fields changed", v);
		if (b->dir == IOREQ_WRITE || b->data_is_ptr)
			FZ_CHECK(now.data == b->data,
				 "slot %u: data of a write changed", v);
		else if (b->size < 8 && b->type == IOREQ_TYPE_COPY)
			FZ_CHECK(now.data >> (8 * b->size) == 0,
				 "slot %u: %u-byte read answered %#llx", v,
				 b->size, (unsigned long long)now.data);
	}
	/* Xen takes the answers; the slots are free again. */
	for (unsigned int v = 0; v < h->nvcpus; v++)
		fake_dom_slot(h->d, 0, v)->state = STATE_IOREQ_NONE;
	check_fake(h);
}

/* A guest address as the device sees it: grant DMA sets bit 63. */
static uint64_t dma(struct h *h, uint64_t gpa)
{
	if (!h->grants)
		return gpa;
	/* Grant refs 0..31 cover the first 32 pages of RAM. */
	return XEN_GRANT_ADDR_BIT | (((gpa - RAM_BASE) >> 12) << 12) |
	       (gpa & 0xfff);
}

/* A 64-bit ring address into its LOW and HIGH registers. */
static void ring_reg(struct h *h, uint64_t off, uint64_t addr)
{
	reg_write(h, off, (uint32_t)addr);
	reg_write(h, off + 4, (uint32_t)(addr >> 32));
}

static void probe(struct h *h, struct fz *f)
{
	uint64_t want = fz_u64(f);

	reg_write(h, 0x070, 0);
	reg_write(h, 0x070, VBACK_STATUS_ACKNOWLEDGE | VBACK_STATUS_DRIVER);
	if (!(want & 1)) {
		uint64_t lo, hi;

		reg_write(h, 0x014, 0);
		lo = vcpu_access(h, 0, WIN_BASE + 0x010, 4, true, 0);
		reg_write(h, 0x014, 1);
		hi = vcpu_access(h, 0, WIN_BASE + 0x010, 4, true, 0);
		want &= hi << 32 | lo;
	}
	reg_write(h, 0x024, 0);
	reg_write(h, 0x020, (uint32_t)want);
	reg_write(h, 0x024, 1);
	reg_write(h, 0x020, (uint32_t)(want >> 32));
	reg_write(h, 0x070,
		  VBACK_STATUS_ACKNOWLEDGE | VBACK_STATUS_DRIVER |
			  VBACK_STATUS_FEATURES_OK);
	reg_write(h, 0x030, 0);
	fz_drvq_pick(&h->q, f, 64);
	reg_write(h, 0x038, h->q.size);
	/* With grants the rings are granted too: the device sees bit 63. */
	ring_reg(h, 0x080, dma(h, h->q.addr.desc));
	ring_reg(h, 0x090, dma(h, h->q.addr.avail));
	ring_reg(h, 0x0a0, dma(h, h->q.addr.used));
	fz_drvq_init_used(&h->q, 0);
	reg_write(h, 0x044, 1);
	reg_write(h, 0x070,
		  VBACK_STATUS_ACKNOWLEDGE | VBACK_STATUS_DRIVER |
			  VBACK_STATUS_FEATURES_OK | VBACK_STATUS_DRIVER_OK);
}

static void request(struct h *h, struct fz *f)
{
	struct fz_seg segs[3];
	uint8_t shape = fz_u8(f);
	uint32_t type = (shape & 0x80) ? fz_u32(f) : (shape & 1);
	uint64_t hdr = fz_addr(h->mem, f);
	uint16_t head = fz_u8(f);

	fz_poke32(h->mem, hdr, type);
	fz_poke32(h->mem, hdr + 4, 0);
	fz_poke64(h->mem, hdr + 8, fz_u8(f) % (DISK_SIZE / 512 + 2));
	segs[0].addr = dma(h, hdr);
	segs[0].len = 16;
	segs[0].write = false;
	segs[1].addr = dma(h, fz_addr(h->mem, f));
	segs[1].len = (shape & 4) ? fz_len(f) : 512;
	segs[1].write = type == 0;
	segs[2].addr = dma(h, fz_addr(h->mem, f));
	segs[2].len = 1;
	segs[2].write = true;
	fz_drvq_chain(&h->q, head, segs, 3, 0);
	fz_drvq_publish(&h->q, (uint16_t)(head & (h->q.size - 1)));
	reg_write(h, 0x050, 0);
}

static void step(struct h *h, struct fz *f)
{
	uint8_t op = fz_u8(f);

	switch (op % 8) {
	case 0:
	case 1:
		raw_slots(h, f);
		break;
	case 2: { /* a proper access of any size anywhere */
		uint8_t k = fz_u8(f);
		uint64_t addr = win_addr(f);
		unsigned int size = (k & 0x80) ? k % 16 : 1u << (k % 4);

		vcpu_access(h, op >> 3, addr, size, k & 0x10, fz_u32(f));
		break;
	}
	case 3:
		probe(h, f);
		break;
	case 4:
		request(h, f);
		break;
	case 5:
		FZ_CHECK(fake_dom_invalidate(h->d, (op >> 3) % h->nvcpus) == 0,
			 "%s", "invalidate");
		check_fake(h);
		break;
	case 6: /* raw guest memory */
		fz_poke_input(h->mem, f);
		break;
	default: /* the interrupt handler */
		reg_write(h, 0x064,
			  (uint32_t)vcpu_access(h, 0, WIN_BASE + 0x060, 4, true,
						0));
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct vback_xen_options xo = { 0 };
	struct vback_xen_domain_options dopt = { 0 };
	struct vback_xen_device_options dev_opts = { 0 };
	struct tio_options to = { 0 };
	struct vback_blk_options bo = { 0 };
	const struct tio_stats *st;
	uint8_t cfg = fz_u8(&f);
	struct h h;
	bool ro;

	memset(&h, 0, sizeof(h));
	h.mem = guest_ram();
	h.q.mem = h.mem;
	h.nvcpus = 1 + (cfg & 3);
	h.grants = cfg & 4;
	h.loop = fz_loop_create();
	h.fx = fake_xen_create();
	FZ_CHECK(h.fx, "%s", "fake Xen");
	fake_xen_set_loop(h.fx, h.loop);
	h.d = fake_dom_create_on(h.fx, DOMID, h.nvcpus, RAM_BASE,
				 h.mem->host[0], RAM_SIZE);
	FZ_CHECK(h.d, "%s", "fake domain");
	for (uint32_t g = 0; g < 32; g++)
		fake_dom_grant(h.d, g, (RAM_BASE >> 12) + g, g >= 28);
	xo.loop = h.loop;
	xo.log = &fz_quiet_log;
	h.pf = fake_xen_platform_create(h.fx);
	xo.platform = h.pf;
	FZ_CHECK(h.pf && vback_xen_create(&xo, &h.xen) == 0, "%s",
		 "xen context");
	dopt.domid = DOMID;
	dopt.irq_mode = (cfg & 8) ? VBACK_XEN_IRQ_ISA : VBACK_XEN_IRQ_SPI;
	dopt.map_cache_mib = 1;
	FZ_CHECK(vback_xen_domain_create(h.xen, &dopt, &h.dom) == 0, "%s",
		 "domain");

	to.size = DISK_SIZE;
	to.read_only = cfg & 16;
	h.tio = tio_create(&to);
	FZ_CHECK(h.tio, "%s", "tio");
	memset(tio_data(h.tio), 0x5a, DISK_SIZE);
	bo.io = tio_io(h.tio);
	bo.queue_size = 64;
	bo.seg_max = 4;
	bo.read_only = cfg & 32;
	bo.log = &fz_quiet_log;
	ro = to.read_only || bo.read_only;
	FZ_CHECK(vback_blk_create(&bo, &h.blk) == 0, "%s", "blk");
	dev_opts.dev = vback_blk_dev(h.blk);
	dev_opts.base = WIN_BASE;
	dev_opts.irq = 5 + (cfg >> 6);
	dev_opts.grants = h.grants;
	FZ_CHECK(vback_xen_device_add(h.dom, &dev_opts, &h.xdev) == 0, "%s",
		 "device");
	fz_drvq_pick(&h.q, &f, 64);

	for (unsigned int i = 0; i < MAX_OPS && !fz_empty(&f); i++)
		step(&h, &f);

	/* The documented order: transport, IO, device, then the domain. */
	vback_xen_device_remove(h.xdev);
	tio_release(h.tio, 0);
	FZ_CHECK(vback_dev_inflight(vback_blk_dev(h.blk)) == 0, "%s",
		 "requests left in flight");
	st = tio_stats(h.tio);
	fz_trace("end: %llu IO requests", (unsigned long long)st->submits);
	if (ro) {
		size_t at = fz_first_not(tio_data(h.tio), DISK_SIZE, 0x5a);

		FZ_CHECK(!st->by_op[VBACK_IO_WRITE] &&
				 !st->by_op[VBACK_IO_DISCARD] &&
				 !st->by_op[VBACK_IO_WRITE_ZEROES] &&
				 !st->by_op[VBACK_IO_SECURE_ERASE],
			 "%s", "a read-only disk got a modifying request");
		FZ_CHECK(at == DISK_SIZE, "read-only disk changed at %zu", at);
	}
	vback_blk_destroy(h.blk);
	tio_destroy(h.tio);
	vback_xen_domain_destroy(h.dom);
	vback_xen_destroy(h.xen);
	FZ_CHECK(fake_xen_open_handles(h.fx) == 1, "%u Xen handles leaked",
		 fake_xen_open_handles(h.fx) - 1);
	fake_xen_platform_destroy(h.pf);
	check_fake(&h);
	fake_xen_destroy(h.fx);
	fz_loop_destroy(h.loop);
	fz_mem_park(h.mem);
	return 0;
}
