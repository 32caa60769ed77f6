/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a Xen device's saved state (transport/xen/state.c, and
 * vback_mmio_restore() behind it) - the file a restarted vback-disk reads
 * to take a running guest's device over.
 *
 * A first backend serves a virtio-blk device on the fake Xen with
 * persistent state, the guest sets it up through the simulated vCPU
 * (features, a ring, DRIVER_OK, a request), and the backend hands the
 * domain over. The input then changes the saved state - header fields,
 * snapshot fields, any bytes anywhere, the records - and a second
 * backend takes the server and the device over from it.
 *
 * Invariants: no crash and no access outside the state (an allocation of
 * exactly its size, under ASan); the adoption succeeds or is refused with
 * -ESTALE; a refusal writes nothing to guest memory and leaves the
 * server with its window; an adopted device answers the vCPU; the fake
 * Xen sees no rule broken; nothing leaks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_xen.h"
#include "fuzz_common.h"
#include "ring.h"
#include "test_io.h"
#include "xen_priv.h"

#define DOMID	  9
#define RAM_BASE  0x40000000ull
#define RAM_SIZE  (64u * 1024u)
#define WIN_BASE  0x02000000ull
#define DISK_SIZE (16u * 1024u)
#define DESC	  (RAM_BASE + 0x1000)
#define AVAIL	  (RAM_BASE + 0x2000)
#define USED	  (RAM_BASE + 0x3000)

struct backend {
	struct vback_xen_platform *pf;
	struct vback_xen *xen;
	struct vback_xen_domain *dom;
	struct vback_xen_device *xdev;
	struct tio *tio;
	struct vback_blk *blk;
};

static uint8_t *ram;

static int backend_start(struct backend *b, struct fake_xen *fx,
			 struct vback_loop *loop, uint8_t *disk, void *state,
			 size_t len, bool adopt, uint16_t server)
{
	struct vback_xen_options xo = { 0 };
	struct vback_xen_domain_options dopt = { 0 };
	struct vback_xen_device_options o = { 0 };
	struct tio_options to = { 0 };
	struct vback_blk_options bo = { 0 };

	memset(b, 0, sizeof(*b));
	b->pf = fake_xen_platform_create(fx);
	xo.loop = loop;
	xo.log = &fz_quiet_log;
	xo.platform = b->pf;
	FZ_CHECK(b->pf && vback_xen_create(&xo, &b->xen) == 0, "%s", "xen");
	to.size = DISK_SIZE;
	to.data = disk;
	b->tio = tio_create(&to);
	bo.io = tio_io(b->tio);
	bo.queue_size = 8;
	bo.log = &fz_quiet_log;
	FZ_CHECK(b->tio && vback_blk_create(&bo, &b->blk) == 0, "%s", "blk");
	dopt.domid = DOMID;
	dopt.irq_mode = VBACK_XEN_IRQ_SPI;
	dopt.map_cache_mib = 1;
	dopt.adopt = adopt;
	dopt.server = server;
	FZ_CHECK(vback_xen_domain_create(b->xen, &dopt, &b->dom) == 0, "%s",
		 "domain");
	o.dev = vback_blk_dev(b->blk);
	o.base = WIN_BASE;
	o.irq = 40;
	o.state = state;
	o.state_len = len;
	o.adopt = adopt;
	o.identity = "/vm/fuzz";
	return vback_xen_device_add(b->dom, &o, &b->xdev);
}

/* The backend's own objects go (its domain already torn down or handed
 * over). */
static void backend_free(struct backend *b)
{
	tio_release(b->tio, 0);
	vback_blk_destroy(b->blk);
	vback_xen_destroy(b->xen);
	fake_xen_platform_destroy(b->pf);
	tio_destroy(b->tio);
}

static void wr(struct fake_dom *d, uint64_t off, uint64_t v)
{
	fake_vcpu_mmio(d, 0, WIN_BASE + off, 4, IOREQ_WRITE, &v);
}

static uint64_t rd(struct fake_dom *d, uint64_t off)
{
	uint64_t v = 0;

	fake_vcpu_mmio(d, 0, WIN_BASE + off, 4, IOREQ_READ, &v);
	return v;
}

/* A Linux-like probe: features, one ring of 8, DRIVER_OK, a request. */
static void guest_setup(struct fake_dom *d)
{
	uint8_t *g = ram;
	uint64_t hdr = RAM_BASE + 0x4000, buf = RAM_BASE + 0x5000,
		 st = RAM_BASE + 0x6000;
	uint16_t idx = 1, head = 0;

	wr(d, VMMIO_STATUS, 1);
	wr(d, VMMIO_STATUS, 3);
	wr(d, VMMIO_DRIVER_FEATURES_SEL, 1);
	wr(d, VMMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(d, VMMIO_DRIVER_FEATURES_SEL, 0);
	wr(d, VMMIO_DRIVER_FEATURES, 1u << VIRTIO_F_RING_EVENT_IDX);
	wr(d, VMMIO_STATUS, 11);
	wr(d, VMMIO_QUEUE_SEL, 0);
	wr(d, VMMIO_QUEUE_NUM, 8);
	wr(d, VMMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
	wr(d, VMMIO_QUEUE_DESC_HIGH, DESC >> 32);
	wr(d, VMMIO_QUEUE_AVAIL_LOW, (uint32_t)AVAIL);
	wr(d, VMMIO_QUEUE_AVAIL_HIGH, AVAIL >> 32);
	wr(d, VMMIO_QUEUE_USED_LOW, (uint32_t)USED);
	wr(d, VMMIO_QUEUE_USED_HIGH, USED >> 32);
	wr(d, VMMIO_QUEUE_READY, 1);
	wr(d, VMMIO_STATUS, 15);
	/* A 512-byte read of sector 1. */
	memset(g + 0x4000, 0, 16);
	g[0x4000 + 8] = 1;
	st_le64(g + 0x1000, hdr);
	st_le32(g + 0x1008, 16);
	st_le16(g + 0x100c, VRING_DESC_F_NEXT);
	st_le16(g + 0x100e, 1);
	st_le64(g + 0x1010, buf);
	st_le32(g + 0x1018, 512);
	st_le16(g + 0x101c, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
	st_le16(g + 0x101e, 2);
	st_le64(g + 0x1020, st);
	st_le32(g + 0x1028, 1);
	st_le16(g + 0x102c, VRING_DESC_F_WRITE);
	memcpy(g + 0x2004, &head, 2);
	memcpy(g + 0x2002, &idx, 2);
	wr(d, VMMIO_QUEUE_NOTIFY, 0);
	wr(d, VMMIO_INTERRUPT_ACK, rd(d, VMMIO_INTERRUPT_STATUS));
}

/* Change the saved state as the input says. */
static void mutate(struct fz *f, uint8_t *s, size_t len)
{
	unsigned int n = 1 + fz_u8(f) % 8;

	while (n-- && !fz_empty(f)) {
		uint8_t k = fz_u8(f);
		size_t at;

		switch (k % 4) {
		case 0: /* a header field: the first 128 bytes */
			at = fz_u8(f) % 128;
			break;
		case 1: /* the snapshots */
			at = 128 + fz_u16(f) % (len > 6000 ? 6000 : len - 128);
			break;
		default: /* anywhere */
			at = fz_u32(f) % len;
			break;
		}
		if (k & 0x80) {
			uint32_t v = fz_u32(f);
			size_t c = len - at < 4 ? len - at : 4;

			memcpy(s + at, &v, c);
		} else {
			s[at] ^= (uint8_t)(1u << (fz_u8(f) % 8));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct backend a, b;
	struct vback_loop *loop;
	struct fake_xen *fx;
	struct fake_dom *d;
	uint8_t *disk, *state, *before;
	size_t len;
	uint16_t server;
	int ret;

	if (!ram)
		ram = aligned_alloc(4096, RAM_SIZE);
	FZ_CHECK(ram, "%s", "guest RAM");
	memset(ram, 0, RAM_SIZE);
	loop = fz_loop_create();
	fx = fake_xen_create();
	FZ_CHECK(fx, "%s", "fake Xen");
	fake_xen_set_loop(fx, loop);
	d = fake_dom_create_on(fx, DOMID, 1, RAM_BASE, ram, RAM_SIZE);
	FZ_CHECK(d, "%s", "domain");
	disk = calloc(1, DISK_SIZE);
	len = vback_xen_device_state_size(1, 8);
	/* Exactly its size: ASan sees any access past it. */
	state = aligned_alloc(64, (len + 63) & ~(size_t)63);
	before = malloc(RAM_SIZE);
	FZ_CHECK(disk && len && state && before, "%s", "memory");
	memset(state, 0, len);

	FZ_CHECK(backend_start(&a, fx, loop, disk, state, len, false, 0) == 0,
		 "%s", "first backend");
	guest_setup(d);
	fz_loop_run(loop);
	server = vback_xen_domain_server(a.dom);
	vback_xen_domain_handover(a.dom);
	backend_free(&a);

	mutate(&f, state, len);
	memcpy(before, ram, RAM_SIZE);
	ret = backend_start(&b, fx, loop, disk, state, len, true, server);
	FZ_CHECK(ret == 0 || ret == -ESTALE, "adoption: %d", ret);
	fz_trace("adoption: %d", ret);
	if (ret) {
		FZ_CHECK(!memcmp(before, ram, RAM_SIZE), "%s",
			 "a refused adoption wrote guest memory");
		vback_xen_domain_handover(b.dom);
		FZ_CHECK(fake_dom_range_claimed(d, WIN_BASE, WIN_BASE + 0x1ff),
			 "%s", "the window left its server");
	} else {
		fz_loop_run(loop);
		FZ_CHECK(rd(d, VMMIO_MAGIC_VALUE) == VMMIO_MAGIC, "%s",
			 "the adopted device does not answer");
		wr(d, VMMIO_QUEUE_NOTIFY, 0);
		fz_loop_run(loop);
		vback_xen_device_remove(b.xdev);
		tio_release(b.tio, 0);
		vback_xen_domain_destroy(b.dom);
	}
	backend_free(&b);
	FZ_CHECK(!fake_xen_failure(fx), "fake Xen: %s", fake_xen_failure(fx));
	fake_dom_destroy(d);
	fake_xen_destroy(fx);
	fz_loop_destroy(loop);
	free(disk);
	free(state);
	free(before);
	return 0;
}
