/* SPDX-License-Identifier: MIT */
/*
 * Hostile-input table: every check of the virtqueue, virtio-blk and
 * virtio-mmio layers, plus the CVE classes seen in other backends, each
 * with the exact outcome it must have. After every case the device must
 * also have released every guest mapping, hold nothing in flight, never
 * have returned a head twice, and work again after the driver resets it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "fixture.h"

#define F_EV	 GDRV_F(VIRTIO_RING_F_EVENT_IDX)
#define F_IND	 GDRV_F(VIRTIO_RING_F_INDIRECT_DESC)
#define CAPACITY 2048ull /* sectors of the 1 MiB test disk */

#define UNTOUCHED (-1) /* status byte left as the driver wrote it */
#define ANY	  (-2)

/* Descriptor selector for a mangle: chain index, or one of these. */
#define D_RING (-1) /* the ring descriptor at head (INDIRECT one if any) */
#define D_LAST (-2) /* the last descriptor of the chain */
#define V_HEAD UINT64_MAX /* value: the head index (for loops) */

enum field { F_ADDR, F_LEN, F_FLAGS, F_NEXT };
enum op { SET, OR, CLR };

struct mspec {
	int idx;
	enum field field;
	enum op op;
	uint64_t val;
};

struct hcase;
typedef void (*run_fn)(struct fx *f, const struct hcase *c, int *status,
		       bool *returned);

struct hcase {
	const char *name;
	uint64_t refuse; /* driver refuses these features */
	/* request cases */
	uint32_t type;
	uint64_t sector;
	uint32_t len;
	unsigned int segs;
	const struct mspec *m; /* up to 2 */
	const struct mspec *m2;
	void (*mangle)(struct gdrv *d, unsigned int q, uint16_t head,
		       void *arg);
	/* custom cases (rings, registers) */
	run_fn run;
	/* expectations */
	int status;	  /* VIRTIO_BLK_S_*, UNTOUCHED or ANY */
	bool returned;	  /* the head came back in the used ring */
	bool needs_reset; /* device status NEEDS_RESET afterwards */
	int io;		  /* requests that reached IO (-1: don't care) */
	const char *log;  /* substring of the last log line, or NULL */
};

#define MS(...) (&(const struct mspec){ __VA_ARGS__ })

/* ---------------------------------------------------------------- */

static void apply(struct gdrv *d, unsigned int q, uint16_t head,
		  const struct mspec *m)
{
	struct gdrv_desc desc;
	uint64_t gpa, v = m->val == V_HEAD ? head : m->val;
	uint64_t *fld64 = NULL;
	uint32_t len;

	if (m->idx == D_RING)
		gpa = gdrv_ring_desc_gpa(d, q, head);
	else if (m->idx == D_LAST)
		gpa = gdrv_chain_desc_gpa(d, q, head,
					  gdrv_chain_len(d, q, head) - 1);
	else
		gpa = gdrv_chain_desc_gpa(d, q, head, (unsigned int)m->idx);
	assert_true(gpa != 0);
	gdrv_desc_get(d, gpa, &desc);
	switch (m->field) {
	case F_ADDR:
		fld64 = &desc.addr;
		break;
	case F_LEN:
		len = desc.len;
		len = m->op == SET  ? (uint32_t)v
		      : m->op == OR ? len | (uint32_t)v
				    : len & ~(uint32_t)v;
		desc.len = len;
		break;
	case F_FLAGS:
		desc.flags = (uint16_t)(m->op == SET  ? v
					: m->op == OR ? (desc.flags | v)
						      : (desc.flags & ~v));
		break;
	case F_NEXT:
		desc.next = (uint16_t)(m->op == SET  ? v
				       : m->op == OR ? (desc.next | v)
						     : (desc.next & ~v));
		break;
	}
	if (fld64)
		*fld64 = m->op == SET  ? v
			 : m->op == OR ? (*fld64 | v)
				       : (*fld64 & ~v);
	gdrv_desc_set(d, gpa, &desc);
}

static void apply_specs(struct gdrv *d, unsigned int q, uint16_t head,
			void *arg)
{
	const struct hcase *c = arg;

	if (c->m)
		apply(d, q, head, c->m);
	if (c->m2)
		apply(d, q, head, c->m2);
}

/* Move the indirect table so that it starts @before bytes ahead of @at. */
static void move_table(struct gdrv *d, unsigned int q, uint16_t head,
		       uint64_t at)
{
	struct gdrv_desc ring, e;
	uint64_t ring_gpa = gdrv_ring_desc_gpa(d, q, head);

	gdrv_desc_get(d, ring_gpa, &ring);
	assert_true(ring.flags & VRING_DESC_F_INDIRECT);
	for (uint32_t i = 0; i < ring.len / 16; i++) {
		gdrv_desc_get(d, ring.addr + 16ull * i, &e);
		gdrv_desc_set(d, at + 16ull * i, &e);
	}
	ring.addr = at;
	gdrv_desc_set(d, ring_gpa, &ring);
}

static void m_table_straddles_regions(struct gdrv *d, unsigned int q,
				      uint16_t head, void *arg)
{
	(void)arg;
	move_table(d, q, head, FX_R1 - 16); /* entry 0 in R0, rest in R1 */
}

static void m_table_runs_into_hole(struct gdrv *d, unsigned int q,
				   uint16_t head, void *arg)
{
	struct gdrv_desc ring, e;
	uint64_t at = FX_R1 + FX_R1_SIZE - 16, ring_gpa;

	(void)arg;
	ring_gpa = gdrv_ring_desc_gpa(d, q, head);
	gdrv_desc_get(d, ring_gpa, &ring);
	gdrv_desc_get(d, ring.addr, &e);
	gdrv_desc_set(d, at, &e); /* only entry 0 fits */
	ring.addr = at;
	gdrv_desc_set(d, ring_gpa, &ring);
}

static void m_data_straddles_regions(struct gdrv *d, unsigned int q,
				     uint16_t head, void *arg)
{
	struct gdrv_desc e;
	uint64_t gpa = gdrv_chain_desc_gpa(d, q, head, 1);

	(void)arg;
	gdrv_desc_get(d, gpa, &e);
	e.addr = FX_R1 - 256; /* 256 bytes in R0, 256 in R1 */
	gdrv_desc_set(d, gpa, &e);
}

static void m_header_split(struct gdrv *d, unsigned int q, uint16_t head,
			   void *arg)
{
	/* Header moved to the R0/R1 boundary: 16 bytes in two pieces. */
	struct gdrv_desc e;
	uint64_t gpa = gdrv_chain_desc_gpa(d, q, head, 0);
	uint8_t hdr[16];

	(void)arg;
	gdrv_desc_get(d, gpa, &e);
	gmem_read(gdrv_mem(d), e.addr, hdr, sizeof(hdr));
	gmem_write(gdrv_mem(d), FX_R1 - 6, hdr, sizeof(hdr));
	e.addr = FX_R1 - 6;
	gdrv_desc_set(d, gpa, &e);
}

/* ---------------------------------------------------------------- */
/* Custom ring-level cases                                           */
/* ---------------------------------------------------------------- */

static void raw_head(struct fx *f, uint16_t head, int *status, bool *returned)
{
	struct gdrv_done d;

	gdrv_raw_avail(f->drv, 0, head);
	gdrv_kick(f->drv, 0, true);
	gdrv_interrupt(f->drv);
	*returned = gdrv_poll(f->drv, 0, &d, 1) == 1;
	*status = UNTOUCHED;
}

static void r_head_eq_size(struct fx *f, const struct hcase *c, int *s,
			   bool *ret)
{
	(void)c;
	raw_head(f, 128, s, ret);
}

static void r_head_ffff(struct fx *f, const struct hcase *c, int *s, bool *ret)
{
	(void)c;
	raw_head(f, 0xffff, s, ret);
}

static void r_avail_jump(struct fx *f, const struct hcase *c, int *s, bool *ret)
{
	struct gdrv_done d;

	gdrv_raw_avail_idx(f->drv, 0, (uint16_t)c->sector);
	gdrv_kick(f->drv, 0, true);
	gdrv_interrupt(f->drv);
	*ret = gdrv_poll(f->drv, 0, &d, 1) == 1;
	*s = UNTOUCHED;
}

/* A head the device holds in flight is offered again. */
static void r_head_twice(struct fx *f, const struct hcase *c, int *s, bool *ret)
{
	uint8_t buf[512];
	struct gdrv_blk_req r = { 0 };
	struct gdrv_done d[2];
	int head;

	(void)c;
	tio_hold(f->io, true);
	r.type = VIRTIO_BLK_T_IN;
	r.data = buf;
	r.len = 512;
	head = gdrv_submit(f->drv, 0, &r);
	gdrv_kick(f->drv, 0, true);
	gdrv_raw_avail(f->drv, 0, (uint16_t)head);
	gdrv_kick(f->drv, 0, true);
	assert_int_equal(tio_pending(f->io), 1);
	tio_release(f->io, 0);
	gdrv_interrupt(f->drv);
	/* Returned exactly once, with its real status. */
	*ret = gdrv_poll(f->drv, 0, d, 2) == 1;
	*s = d[0].status;
}

/* Unbounded in-flight: every slot busy, the driver offers one more. */
static void r_inflight_overflow(struct fx *f, const struct hcase *c, int *s,
				bool *ret)
{
	static uint8_t buf[128][512];
	struct gdrv_done d[128];

	(void)c;
	tio_hold(f->io, true);
	for (unsigned int i = 0; i < 128; i++) {
		struct gdrv_blk_req r = { 0 };

		r.type = VIRTIO_BLK_T_IN;
		r.data = buf[i];
		r.len = 512;
		assert_true(gdrv_submit(f->drv, 0, &r) >= 0);
	}
	gdrv_kick(f->drv, 0, true);
	assert_int_equal(tio_pending(f->io), 128);
	gdrv_raw_avail(f->drv, 0, 5);
	gdrv_kick(f->drv, 0, true);
	assert_int_equal(tio_pending(f->io), 128);
	tio_release(f->io, 0);
	gdrv_interrupt(f->drv);
	*ret = gdrv_poll(f->drv, 0, d, 128) == 128;
	*s = d[127].status;
}

/* One descriptor: the header, readable, no status byte anywhere. */
static void r_head_only(struct fx *f, const struct hcase *c, int *s, bool *ret)
{
	uint64_t hdr = gdrv_alloc(f->drv, 16, 16);
	struct gdrv_desc d = { hdr, 16, c->sector ? VRING_DESC_F_WRITE : 0, 0 };
	struct gdrv_done done;
	uint8_t st;

	if (c->sector)
		d.len = 17; /* one writable descriptor: header + status */
	gdrv_desc_set(f->drv, gdrv_ring_desc_gpa(f->drv, 0, 7), &d);
	gdrv_raw_claim(f->drv, 0, 7, true);
	gdrv_raw_avail(f->drv, 0, 7);
	gdrv_kick(f->drv, 0, true);
	gdrv_interrupt(f->drv);
	*ret = gdrv_poll(f->drv, 0, &done, 1) == 1;
	gmem_read(f->mem, hdr + 16, &st, 1);
	*s = c->sector ? st : UNTOUCHED;
}

/* A chain longer than the queue without a loop: TTL refuses it. */
static void r_chain_too_long(struct fx *f, const struct hcase *c, int *s,
			     bool *ret)
{
	uint64_t buf = gdrv_alloc(f->drv, 512, 16);
	struct gdrv_done done;

	(void)c;
	for (uint16_t i = 0; i < 128; i++) {
		struct gdrv_desc d = { buf, 16, VRING_DESC_F_NEXT,
				       (uint16_t)((i + 1) % 128) };

		gdrv_desc_set(f->drv, gdrv_ring_desc_gpa(f->drv, 0, i), &d);
	}
	gdrv_raw_claim(f->drv, 0, 0, true);
	gdrv_raw_avail(f->drv, 0, 0);
	gdrv_kick(f->drv, 0, true);
	gdrv_interrupt(f->drv);
	*ret = gdrv_poll(f->drv, 0, &done, 1) == 1;
	*s = UNTOUCHED;
}

static void r_notify_bad_queue(struct fx *f, const struct hcase *c, int *s,
			       bool *ret)
{
	(void)c;
	assert_int_equal(vback_mmio_write(f->mmio, VIRTIO_MMIO_QUEUE_NOTIFY, 4,
					  5),
			 0);
	assert_int_equal(vback_mmio_write(f->mmio, VIRTIO_MMIO_QUEUE_NOTIFY, 4,
					  0xffffffff),
			 0);
	vback_dev_queue_kick(f->dev, 0xffffffffu);
	*s = UNTOUCHED;
	*ret = false;
}

/* ---------------------------------------------------------------- */
/* Register-level cases                                              */
/* ---------------------------------------------------------------- */

static uint64_t rd(struct fx *f, uint64_t off, unsigned int size, int *rc)
{
	uint64_t v = 0xdead;

	*rc = vback_mmio_read(f->mmio, off, size, &v);
	return v;
}

static void g_qsel_oob_read(struct fx *f, const struct hcase *c, int *s,
			    bool *ret)
{
	int rc;

	(void)c;
	(void)ret;
	*s = UNTOUCHED;
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_SEL, 0xffffffff);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX, 4, &rc), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY, 4, &rc), 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX, 4, &rc), 0);
}

static void g_qsel_oob_write(struct fx *f, const struct hcase *c, int *s,
			     bool *ret)
{
	(void)ret;
	*s = UNTOUCHED;
	vback_mmio_write(f->mmio, VIRTIO_MMIO_QUEUE_SEL, 4, c->sector);
	assert_int_equal(vback_mmio_write(f->mmio, c->len, 4, 1), -EINVAL);
	assert_int_equal(vback_dev_queue_size(f->dev, 0), 128);
	assert_true(vback_dev_queue_enabled(f->dev, 0));
}

/* Fresh queue 0 setup by hand with a QueueNum value, then QueueReady. */
static void g_queue_num(struct fx *f, const struct hcase *c, int *s, bool *ret)
{
	int rc;

	(void)ret;
	*s = UNTOUCHED;
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_READY, 0);
	rc = vback_mmio_write(f->mmio, VIRTIO_MMIO_QUEUE_NUM, 4, c->sector);
	assert_int_equal(rc, -EINVAL);
	rc = vback_mmio_write(f->mmio, VIRTIO_MMIO_QUEUE_READY, 4, 1);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(gdrv_reg_read(f->drv, VIRTIO_MMIO_QUEUE_READY), 0);
}

static void g_access(struct fx *f, const struct hcase *c, int *s, bool *ret)
{
	uint32_t status = vback_dev_status(f->dev);
	int rc;

	(void)ret;
	*s = UNTOUCHED;
	/* c->type: 0 read, 1 write; c->sector: offset; c->len: size */
	if (c->type == 0) {
		assert_int_equal(rd(f, c->sector, c->len, &rc), 0);
		assert_int_equal(rc, -EINVAL);
	} else {
		assert_int_equal(vback_mmio_write(f->mmio, c->sector, c->len,
						  0x12),
				 -EINVAL);
	}
	assert_int_equal(vback_dev_status(f->dev), status);
	assert_int_equal(gdrv_reg_read(f->drv, VIRTIO_MMIO_MAGIC_VALUE),
			 0x74726976);
	assert_int_equal(gdrv_reg_read(f->drv, VIRTIO_MMIO_DEVICE_ID), 2);
}

static void g_config_ro_write(struct fx *f, const struct hcase *c, int *s,
			      bool *ret)
{
	(void)c;
	(void)ret;
	*s = UNTOUCHED;
	assert_int_equal(vback_mmio_write(f->mmio, 0x100, 4, 0x7777), 0);
	assert_int_equal(vback_mmio_write(f->mmio, 0x100, 8, ~0ull), 0);
	assert_int_equal(gdrv_config_read(f->drv, 0, 8), CAPACITY);
	assert_int_equal(gdrv_config_read(f->drv, 12, 4), 32);
}

/* Features: c->sector = DriverFeaturesSel, c->len = value written. */
static void g_bad_features(struct fx *f, const struct hcase *c, int *s,
			   bool *ret)
{
	(void)ret;
	*s = UNTOUCHED;
	gdrv_reg_write(f->drv, VIRTIO_MMIO_STATUS, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_STATUS, 1);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_STATUS, 3);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	gdrv_reg_write(f->drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL,
		       (uint32_t)c->sector);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_DRIVER_FEATURES, c->len);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_STATUS, 3 | 8);
	assert_int_equal(gdrv_reg_read(f->drv, VIRTIO_MMIO_STATUS), 3);
	gdrv_reset(f->drv);
}

static void g_driver_ok_without_features_ok(struct fx *f, const struct hcase *c,
					    int *s, bool *ret)
{
	(void)c;
	(void)ret;
	*s = UNTOUCHED;
	gdrv_reg_write(f->drv, VIRTIO_MMIO_STATUS, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_STATUS, 1);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_STATUS, 3);
	assert_int_equal(vback_mmio_write(f->mmio, VIRTIO_MMIO_STATUS, 4, 7),
			 -EINVAL);
	assert_false(vback_dev_status(f->dev) & VBACK_STATUS_DRIVER_OK);
}

static void g_clear_status_bits(struct fx *f, const struct hcase *c, int *s,
				bool *ret)
{
	(void)ret;
	*s = UNTOUCHED;
	assert_int_equal(vback_mmio_write(f->mmio, VIRTIO_MMIO_STATUS, 4,
					  c->sector),
			 -EINVAL);
	assert_int_equal(vback_dev_status(f->dev), 15);
}

static void g_addr_while_ready(struct fx *f, const struct hcase *c, int *s,
			       bool *ret)
{
	struct vback_vq_addr before, after;

	(void)c;
	(void)ret;
	*s = UNTOUCHED;
	vback_dev_queue_get_addr(f->dev, 0, &before);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(vback_mmio_write(f->mmio, VIRTIO_MMIO_QUEUE_DESC_LOW,
					  4, 0x1000),
			 -EINVAL);
	assert_int_equal(vback_mmio_write(f->mmio, VIRTIO_MMIO_QUEUE_NUM, 4,
					  64),
			 -EINVAL);
	vback_dev_queue_get_addr(f->dev, 0, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(vback_dev_queue_size(f->dev, 0), 128);
}

/* QueueReady with a bad ring: c->type picks the area, c->sector the
 * address. The queue must stay disabled. */
static void g_bad_ring(struct fx *f, const struct hcase *c, int *s, bool *ret)
{
	static const uint32_t lo[] = { VIRTIO_MMIO_QUEUE_DESC_LOW,
				       VIRTIO_MMIO_QUEUE_AVAIL_LOW,
				       VIRTIO_MMIO_QUEUE_USED_LOW };

	struct gdrv_queue_info qi;
	uint64_t good[3];

	(void)ret;
	*s = UNTOUCHED;
	assert_int_equal(gdrv_queue_info(f->drv, 0, &qi), 0);
	good[0] = qi.desc;
	good[1] = qi.avail;
	good[2] = qi.used;
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_READY, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_NUM, 128);
	for (unsigned int i = 0; i < 3; i++) {
		gdrv_reg_write(f->drv, lo[i], (uint32_t)good[i]);
		gdrv_reg_write(f->drv, lo[i] + 4, (uint32_t)(good[i] >> 32));
	}
	/* The good rings enable (proves only the one bad area fails). */
	assert_int_equal(vback_mmio_write(f->mmio, VIRTIO_MMIO_QUEUE_READY, 4,
					  1),
			 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_READY, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_NUM, 128);
	for (unsigned int i = 0; i < 3; i++) {
		gdrv_reg_write(f->drv, lo[i], (uint32_t)good[i]);
		gdrv_reg_write(f->drv, lo[i] + 4, (uint32_t)(good[i] >> 32));
	}
	gdrv_reg_write(f->drv, lo[c->type], (uint32_t)c->sector);
	gdrv_reg_write(f->drv, lo[c->type] + 4, (uint32_t)(c->sector >> 32));
	assert_int_equal(vback_mmio_write(f->mmio, VIRTIO_MMIO_QUEUE_READY, 4,
					  1),
			 -EINVAL);
	assert_int_equal(gdrv_reg_read(f->drv, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(vback_dev_queue_enabled(f->dev, 0));
}

static void g_queue_reset_unnegotiated(struct fx *f, const struct hcase *c,
				       int *s, bool *ret)
{
	(void)c;
	(void)ret;
	*s = UNTOUCHED;
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(vback_mmio_write(f->mmio, 0x0c0, 4, 1), -EINVAL);
	assert_true(vback_dev_queue_enabled(f->dev, 0));
}

static void g_features_after_ok(struct fx *f, const struct hcase *c, int *s,
				bool *ret)
{
	uint64_t before = vback_dev_driver_features(f->dev);

	(void)c;
	(void)ret;
	*s = UNTOUCHED;
	gdrv_reg_write(f->drv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	assert_int_equal(vback_mmio_write(f->mmio, VIRTIO_MMIO_DRIVER_FEATURES,
					  4, 0),
			 -EINVAL);
	assert_int_equal(vback_dev_driver_features(f->dev), before);
}

static void g_legacy_pfn_bad(struct fx *f, const struct hcase *c, int *s,
			     bool *ret)
{
	(void)ret;
	*s = UNTOUCHED;
	/* Legacy device (the case sets version 1 via ->segs): a PFN whose
	 * ring lies outside guest memory. */
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_PFN, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_NUM, 128);
	assert_int_equal(vback_mmio_write(f->mmio, VIRTIO_MMIO_QUEUE_PFN, 4,
					  (uint32_t)c->sector),
			 -EINVAL);
	assert_int_equal(gdrv_reg_read(f->drv, VIRTIO_MMIO_QUEUE_PFN), 0);
	assert_false(vback_dev_queue_enabled(f->dev, 0));
}

/* ---------------------------------------------------------------- */

#define REQ_IN	.type = VIRTIO_BLK_T_IN, .len = 512
#define REQ_OUT .type = VIRTIO_BLK_T_OUT, .len = 512
#define BAD_CHAIN                                                              \
	.status = UNTOUCHED, .returned = true, .needs_reset = true, .io = 0
#define BAD_RING                                                               \
	.status = UNTOUCHED, .returned = false, .needs_reset = true, .io = 0
#define ANSWERED(st) .status = (st), .returned = true, .needs_reset = false
#define REG	     .status = UNTOUCHED, .returned = false

static const struct hcase cases[] = {
	/* --- virtio-blk request validation: answered, device healthy --- */
	{ "unknown request type", .type = 0x55, .len = 512,
	  ANSWERED(VIRTIO_BLK_S_UNSUPP), .io = 0 },
	{ "GET_LIFETIME unsupported", .type = 10, .len = 8,
	  ANSWERED(VIRTIO_BLK_S_UNSUPP), .io = 0 },
	{ "legacy SCSI command", .type = 2, .len = 512,
	  ANSWERED(VIRTIO_BLK_S_UNSUPP), .io = 0 },
	{ "type 0xffffffff", .type = 0xffffffff, .len = 0,
	  ANSWERED(VIRTIO_BLK_S_UNSUPP), .io = 0 },
	{ "IN length not a multiple of 512", .type = VIRTIO_BLK_T_IN,
	  .len = 100, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "OUT length 513", .type = VIRTIO_BLK_T_OUT, .len = 513,
	  ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "IN at capacity", REQ_IN, .sector = CAPACITY,
	  ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "IN crossing the end", .type = VIRTIO_BLK_T_IN, .len = 1024,
	  .sector = CAPACITY - 1, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "OUT last sector (valid)", REQ_OUT, .sector = CAPACITY - 1,
	  ANSWERED(VIRTIO_BLK_S_OK), .io = 1 },
	{ "sector UINT64_MAX", REQ_IN, .sector = UINT64_MAX,
	  ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "sector * 512 overflows", REQ_OUT, .sector = 1ull << 55,
	  ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "sector + count wraps", .type = VIRTIO_BLK_T_IN, .len = 1024,
	  .sector = UINT64_MAX - 1, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "header shorter than 16 bytes", REQ_IN, .m = MS(0, F_LEN, SET, 8),
	  .refuse = F_IND, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "header in a writable descriptor", REQ_IN,
	  .m = MS(0, F_FLAGS, OR, VRING_DESC_F_WRITE),
	  ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "header split across regions (valid)", REQ_OUT,
	  .mangle = m_header_split, ANSWERED(VIRTIO_BLK_S_OK), .io = 1 },
	{ "data straddling a region boundary (valid)", REQ_OUT,
	  .mangle = m_data_straddles_regions, ANSWERED(VIRTIO_BLK_S_OK),
	  .io = 1 },
	{ "too many segments (> seg_max)", .type = VIRTIO_BLK_T_IN,
	  .len = 512 * 64, .segs = 64, .refuse = 0,
	  ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "segment longer than size_max", .type = VIRTIO_BLK_T_OUT,
	  .len = 16384, .segs = 1, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "segments at size_max (valid)", .type = VIRTIO_BLK_T_OUT,
	  .len = 16384, .segs = 2, ANSWERED(VIRTIO_BLK_S_OK), .io = 1 },
	{ "discard with reserved flag", .type = VIRTIO_BLK_T_DISCARD, .len = 16,
	  .sector = 2, ANSWERED(VIRTIO_BLK_S_UNSUPP), .io = 0 },
	{ "discard with UNMAP flag", .type = VIRTIO_BLK_T_DISCARD, .len = 16,
	  .sector = 3, ANSWERED(VIRTIO_BLK_S_UNSUPP), .io = 0 },
	{ "write zeroes beyond capacity", .type = VIRTIO_BLK_T_WRITE_ZEROES,
	  .len = 16, .sector = 4, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "discard with two segments (max 1)", .type = VIRTIO_BLK_T_DISCARD,
	  .len = 32, .sector = 5, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "discard segment not a multiple of 16", .type = VIRTIO_BLK_T_DISCARD,
	  .len = 12, .sector = 6, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "discard of zero sectors", .type = VIRTIO_BLK_T_DISCARD, .len = 16,
	  .sector = 7, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "GET_ID buffer shorter than 20", .type = VIRTIO_BLK_T_GET_ID,
	  .len = 8, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	/* --- chain violations: head returned, NEEDS_RESET --- */
	{ "status byte in a readable descriptor (OUT)", REQ_OUT,
	  .m = MS(D_LAST, F_FLAGS, CLR, VRING_DESC_F_WRITE), BAD_CHAIN,
	  .log = "no writable status" },
	{ "readable after writable (IN)", REQ_IN,
	  .m = MS(D_LAST, F_FLAGS, CLR, VRING_DESC_F_WRITE), BAD_CHAIN,
	  .log = "readable descriptor after writable" },
	{ "status in read-only guest memory", REQ_IN,
	  .m = MS(D_LAST, F_ADDR, SET, FX_RO), BAD_CHAIN,
	  .log = "outside guest memory" },
	{ "data in a hole", REQ_OUT, .m = MS(1, F_ADDR, SET, FX_HOLE),
	  BAD_CHAIN, .log = "outside guest memory" },
	{ "data address + length overflows", REQ_OUT,
	  .m = MS(1, F_ADDR, SET, UINT64_MAX - 100), BAD_CHAIN,
	  .log = "address overflows" },
	{ "huge descriptor length", REQ_IN, .m = MS(1, F_LEN, SET, 0xffffffff),
	  BAD_CHAIN, .log = "outside guest memory" },
	{ "zero-length data descriptor", REQ_OUT, .m = MS(1, F_LEN, SET, 0),
	  BAD_CHAIN, .log = "zero-length" },
	{ "zero-length header", REQ_OUT, .m = MS(0, F_LEN, SET, 0), BAD_CHAIN,
	  .log = "zero-length" },
	{ "next == queue size", REQ_IN, .refuse = F_IND,
	  .m = MS(0, F_NEXT, SET, 128), BAD_CHAIN, .log = "next index" },
	{ "next == 0xffff", REQ_IN, .refuse = F_IND,
	  .m = MS(1, F_NEXT, SET, 0xffff), BAD_CHAIN, .log = "next index" },
	{ "loop back to head", REQ_IN, .refuse = F_IND,
	  .m = MS(D_LAST, F_FLAGS, OR, VRING_DESC_F_NEXT),
	  .m2 = MS(D_LAST, F_NEXT, SET, V_HEAD), BAD_CHAIN },
	{ "self loop at head", REQ_IN, .refuse = F_IND,
	  .m = MS(0, F_NEXT, SET, V_HEAD), BAD_CHAIN, .log = "too long" },
	{ "chain longer than the queue", .run = r_chain_too_long,
	  .refuse = F_IND, BAD_CHAIN, .log = "too long" },
	{ "head-only chain (no status)", .run = r_head_only, BAD_CHAIN,
	  .log = "no writable status" },
	{ "head-only writable chain", .run = r_head_only, .sector = 1,
	  ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	/* --- indirect tables --- */
	{ "INDIRECT not negotiated", REQ_IN, .refuse = F_IND,
	  .m = MS(D_LAST, F_FLAGS, OR, VRING_DESC_F_INDIRECT), BAD_CHAIN,
	  .log = "not negotiated" },
	{ "INDIRECT together with NEXT", REQ_IN,
	  .m = MS(D_RING, F_FLAGS, OR, VRING_DESC_F_NEXT), BAD_CHAIN,
	  .log = "with NEXT" },
	{ "indirect table length 0", REQ_IN, .m = MS(D_RING, F_LEN, SET, 0),
	  BAD_CHAIN, .log = "indirect table length" },
	{ "indirect length not a multiple of 16", REQ_IN,
	  .m = MS(D_RING, F_LEN, SET, 40), BAD_CHAIN,
	  .log = "indirect table length" },
	{ "indirect table too long", REQ_IN,
	  .m = MS(D_RING, F_LEN, SET, 0xfffffff0), BAD_CHAIN,
	  .log = "too long" },
	{ "nested indirect", REQ_IN,
	  .m = MS(0, F_FLAGS, OR, VRING_DESC_F_INDIRECT), BAD_CHAIN,
	  .log = "nested" },
	{ "indirect table in a hole", REQ_IN,
	  .m = MS(D_RING, F_ADDR, SET, FX_HOLE), BAD_CHAIN,
	  .log = "indirect table outside" },
	{ "indirect table address overflows", REQ_IN,
	  .m = MS(D_RING, F_ADDR, SET, UINT64_MAX - 8), BAD_CHAIN,
	  .log = "indirect table address overflows" },
	{ "indirect table straddling regions (valid)", REQ_OUT,
	  .mangle = m_table_straddles_regions, ANSWERED(VIRTIO_BLK_S_OK),
	  .io = 1 },
	{ "indirect table running into a hole", REQ_OUT,
	  .mangle = m_table_runs_into_hole, BAD_CHAIN,
	  .log = "indirect table outside" },
	{ "indirect next beyond the table", REQ_IN, .m = MS(0, F_NEXT, SET, 3),
	  BAD_CHAIN, .log = "next index" },
	{ "indirect loop", REQ_OUT, .m = MS(1, F_NEXT, SET, 1), BAD_CHAIN,
	  .log = "too long" },
	{ "indirect zero-length entry", REQ_OUT, .m = MS(1, F_LEN, SET, 0),
	  BAD_CHAIN, .log = "zero-length" },
	/* --- ring violations: nothing to return, NEEDS_RESET --- */
	{ "head == queue size", .run = r_head_eq_size, BAD_RING,
	  .log = "out of range" },
	{ "head 0xffff (negative index)", .run = r_head_ffff, BAD_RING,
	  .log = "out of range" },
	{ "avail index size + 1 ahead", .run = r_avail_jump, .sector = 129,
	  BAD_RING, .log = "ahead" },
	{ "avail index 0x8000 ahead", .run = r_avail_jump, .sector = 0x8000,
	  BAD_RING, .log = "ahead" },
	{ "head offered twice while in flight", .run = r_head_twice,
	  .status = VIRTIO_BLK_S_OK, .returned = true, .needs_reset = true,
	  .io = 1, .log = "already in flight" },
	{ "unbounded in-flight", .run = r_inflight_overflow,
	  .status = VIRTIO_BLK_S_OK, .returned = true, .needs_reset = true,
	  .io = 128, .log = "already in flight" },
	{ "kick of a queue that does not exist", .run = r_notify_bad_queue, REG,
	  .needs_reset = false, .io = 0 },
	/* --- register file --- */
	{ "QueueSel out of range: QueueNumMax 0", .run = g_qsel_oob_read, REG,
	  .io = 0 },
	{ "QueueSel out of range: QueueNum", .run = g_qsel_oob_write,
	  .sector = 64, .len = VIRTIO_MMIO_QUEUE_NUM, REG, .io = 0 },
	{ "QueueSel 0xffffffff: QueueReady", .run = g_qsel_oob_write,
	  .sector = 0xffffffff, .len = VIRTIO_MMIO_QUEUE_READY, REG, .io = 0 },
	{ "QueueSel out of range: QueueDescLow", .run = g_qsel_oob_write,
	  .sector = 2, .len = VIRTIO_MMIO_QUEUE_DESC_LOW, REG, .io = 0 },
	{ "QueueNum above max", .run = g_queue_num, .sector = 512, REG,
	  .io = 0 },
	{ "QueueNum not a power of two", .run = g_queue_num, .sector = 100, REG,
	  .io = 0 },
	{ "QueueNum 0", .run = g_queue_num, .sector = 0, REG, .io = 0 },
	{ "QueueNum above 16 bits", .run = g_queue_num, .sector = 0x10080, REG,
	  .io = 0 },
	{ "16-bit register read", .run = g_access, .type = 0,
	  .sector = VIRTIO_MMIO_STATUS, .len = 2, REG, .io = 0 },
	{ "8-byte register write", .run = g_access, .type = 1,
	  .sector = VIRTIO_MMIO_STATUS, .len = 8, REG, .io = 0 },
	{ "1-byte register write", .run = g_access, .type = 1,
	  .sector = VIRTIO_MMIO_QUEUE_NOTIFY, .len = 1, REG, .io = 0 },
	{ "unaligned register read", .run = g_access, .type = 0, .sector = 0x72,
	  .len = 4, REG, .io = 0 },
	{ "unknown register read", .run = g_access, .type = 0, .sector = 0x0f0,
	  .len = 4, REG, .io = 0 },
	{ "unknown register write", .run = g_access, .type = 1, .sector = 0x0e0,
	  .len = 4, REG, .io = 0 },
	{ "write to MagicValue", .run = g_access, .type = 1, .sector = 0,
	  .len = 4, REG, .io = 0 },
	{ "write to DeviceFeatures", .run = g_access, .type = 1,
	  .sector = VIRTIO_MMIO_DEVICE_FEATURES, .len = 4, REG, .io = 0 },
	{ "write to InterruptStatus", .run = g_access, .type = 1,
	  .sector = VIRTIO_MMIO_INTERRUPT_STATUS, .len = 4, REG, .io = 0 },
	{ "read of write-only QueueNotify", .run = g_access, .type = 0,
	  .sector = VIRTIO_MMIO_QUEUE_NOTIFY, .len = 4, REG, .io = 0 },
	{ "legacy QueuePFN on a modern device", .run = g_access, .type = 0,
	  .sector = VIRTIO_MMIO_QUEUE_PFN, .len = 4, REG, .io = 0 },
	{ "offset past the window", .run = g_access, .type = 0, .sector = 0x200,
	  .len = 4, REG, .io = 0 },
	{ "offset 2^64 - 4", .run = g_access, .type = 1,
	  .sector = UINT64_MAX - 3, .len = 4, REG, .io = 0 },
	{ "config read past the config space", .run = g_access, .type = 0,
	  .sector = 0x100 + 72, .len = 4, REG, .io = 0 },
	{ "config read straddling its end", .run = g_access, .type = 0,
	  .sector = 0x100 + 70, .len = 4, REG, .io = 0 },
	{ "config read at the window end", .run = g_access, .type = 0,
	  .sector = 0x1fc, .len = 8, REG, .io = 0 },
	{ "config access of width 3", .run = g_access, .type = 0,
	  .sector = 0x100, .len = 3, REG, .io = 0 },
	{ "config write past the config space", .run = g_access, .type = 1,
	  .sector = 0x100 + 100, .len = 1, REG, .io = 0 },
	{ "config write to read-only capacity", .run = g_config_ro_write, REG,
	  .io = 0 },
	{ "feature bit never offered (63)", .run = g_bad_features, .sector = 1,
	  .len = 1u | (1u << 31), REG, .io = 0 },
	{ "feature bits above 63", .run = g_bad_features, .sector = 2, .len = 1,
	  REG, .io = 0 },
	{ "DRIVER_OK without FEATURES_OK",
	  .run = g_driver_ok_without_features_ok, REG, .needs_reset = true,
	  .io = 0, .log = "without FEATURES_OK" },
	{ "status clears a bit", .run = g_clear_status_bits, .sector = 13, REG,
	  .io = 0 },
	{ "status above 8 bits", .run = g_clear_status_bits, .sector = 0x10f,
	  REG, .io = 0 },
	{ "queue address write while ready", .run = g_addr_while_ready, REG,
	  .io = 0 },
	{ "descriptor table in a hole", .run = g_bad_ring, .type = 0,
	  .sector = FX_HOLE, REG, .io = 0 },
	{ "misaligned descriptor table", .run = g_bad_ring, .type = 0,
	  .sector = FX_R0 + 8, REG, .io = 0 },
	{ "used ring in read-only memory", .run = g_bad_ring, .type = 2,
	  .sector = FX_RO, REG, .io = 0 },
	{ "avail ring address overflows", .run = g_bad_ring, .type = 1,
	  .sector = UINT64_MAX - 15, REG, .io = 0 },
	{ "used ring straddling into a hole", .run = g_bad_ring, .type = 2,
	  .sector = FX_R1 + FX_R1_SIZE - 512, REG, .io = 0 },
	{ "QueueReset without RING_RESET", .run = g_queue_reset_unnegotiated,
	  .refuse = GDRV_F(40), REG, .io = 0 },
	{ "DriverFeatures after FEATURES_OK", .run = g_features_after_ok, REG,
	  .io = 0 },
	{ "legacy QueuePFN outside guest memory", .run = g_legacy_pfn_bad,
	  .segs = 1, .sector = FX_HOLE / 4096, REG, .needs_reset = true,
	  .io = 0, .log = "bad legacy ring" },
};

/* Payload for the request cases that need one. */
static void payload(const struct hcase *c, uint8_t *buf)
{
	memset(buf, 0, 16);
	switch (c->sector) {
	case 2: /* reserved flag bit */
		buf[0] = 1;
		buf[8] = 1;
		buf[12] = 2;
		break;
	case 3: /* UNMAP on discard */
		buf[8] = 1;
		buf[12] = 1;
		break;
	case 4: /* beyond capacity */
		buf[0] = (uint8_t)(CAPACITY - 1);
		buf[1] = (uint8_t)((CAPACITY - 1) >> 8);
		buf[8] = 2;
		break;
	case 5:
		buf[8] = 1;
		memcpy(buf + 16, buf, 16);
		break;
	case 6:
	case 7:
		break;
	default:
		break;
	}
}

static void run_case(const struct hcase *c)
{
	static uint8_t data[512 * 64];
	struct fx_options o = { 0 };
	struct fx f;
	int status = ANY;
	bool returned = false;
	uint64_t submits;

	o.grant = true;
	o.drv.refuse = c->refuse;
	o.drv.max_segs = 64;
	o.blk.seg_max = 32;
	o.blk.size_max = 8192;
	o.drv.max_data = sizeof(data);
	o.version = (c->run == g_legacy_pfn_bad) ? 1 : 2;
	o.tio.can_discard = true;
	o.tio.can_write_zeroes = true;
	assert_int_equal(fx_setup(&f, &o), 0);
	if (c->run) {
		c->run(&f, c, &status, &returned);
	} else {
		struct gdrv_blk_req r = { 0 };
		struct gdrv_done d;
		uint8_t st;
		int head;

		memset(data, 0x3c, sizeof(data));
		if (c->type >= VIRTIO_BLK_T_DISCARD)
			payload(c, data);
		r.type = c->type;
		r.sector = c->type >= VIRTIO_BLK_T_DISCARD ? 0 : c->sector;
		r.data = data;
		r.len = c->len;
		r.segs = c->segs;
		r.mangle = c->mangle ? c->mangle : (c->m ? apply_specs : NULL);
		r.mangle_arg = (void *)(uintptr_t)c;
		head = gdrv_submit(f.drv, 0, &r);
		assert_true(head >= 0);
		gdrv_kick(f.drv, 0, true);
		gdrv_interrupt(f.drv);
		returned = gdrv_poll(f.drv, 0, &d, 1) == 1;
		gmem_read(f.mem, gdrv_req_status_gpa(f.drv, 0, (uint16_t)head),
			  &st, 1);
		status = st == 0xee ? UNTOUCHED : st;
		if (returned && status == UNTOUCHED)
			assert_int_equal(d.len, 0);
	}
	tio_release(f.io, 0);
	tio_hold(f.io, false);
	submits = tio_stats(f.io)->submits;

	if (c->status != ANY)
		assert_int_equal(status, c->status);
	assert_int_equal(returned, c->returned);
	assert_int_equal(!!(vback_dev_status(f.dev) & VBACK_STATUS_NEEDS_RESET),
			 c->needs_reset);
	if (c->needs_reset &&
	    (vback_dev_status(f.dev) & VBACK_STATUS_DRIVER_OK)) {
		/* The config-change interrupt announced it. */
		assert_true(gdrv_interrupt(f.drv) & VIRTIO_MMIO_INT_CONFIG ||
			    gdrv_stats(f.drv)->irq_config > 0);
	}
	if (c->io >= 0)
		assert_int_equal(submits, (uint64_t)c->io);
	if (c->log)
		assert_non_null(strstr(f.logs, c->log));
	/* Never a head returned twice or one the driver did not offer. */
	assert_int_equal(gdrv_stats(f.drv)->bad_used, 0);
	assert_int_equal(vback_dev_inflight(f.dev), 0);
	assert_int_equal(gmem_bad_unmaps(f.mem), 0);

	/* Recovery: reset and probe again, then a normal read works. */
	gdrv_reset(f.drv);
	assert_int_equal(vback_dev_status(f.dev), 0);
	assert_int_equal(gmem_outstanding(f.mem), 0);
	assert_int_equal(gdrv_probe(f.drv), 0);
	{
		struct gdrv_blk_req r = { 0 };

		r.type = VIRTIO_BLK_T_IN;
		r.data = data;
		r.len = 512;
		assert_int_equal(gdrv_blk_sync(f.drv, 0, &r), VIRTIO_BLK_S_OK);
	}
	fx_teardown(&f);
}

static void test_case(void **state)
{
	run_case(*state);
}

int main(void)
{
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	struct CMUnitTest tests[N];

	for (unsigned int i = 0; i < N; i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = cases[i].name;
		tests[i].test_func = test_case;
		tests[i].initial_state = (void *)(uintptr_t)&cases[i];
	}
	printf("hostile-input table: %u cases\n", (unsigned int)N);
	return _cmocka_run_group_tests("hostile", tests, N, NULL, NULL);
}
