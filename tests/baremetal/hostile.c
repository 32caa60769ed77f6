/* SPDX-License-Identifier: MIT */
/*
 * A slice of the hostile-input table of tests/virtio/test_hostile.c, on bare
 * metal: ring, chain, indirect, request and register violations, each with
 * the outcome that table documents. After every case, as there: no head
 * returned twice or unasked, nothing in flight, every guest mapping
 * released, and the device works again once the driver resets it.
 */
#include <errno.h>
#include <string.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "bmtest.h"

#define F_IND	 GDRV_F(VIRTIO_RING_F_INDIRECT_DESC)
#define CAPACITY (BF_DISK_SIZE / 512ull)

#define UNTOUCHED (-1) /* status byte left as the driver wrote it */

/* Descriptor selector of a mangle: chain index, or one of these. */
#define D_RING (-1)	  /* the ring descriptor at head (INDIRECT one) */
#define D_LAST (-2)	  /* the last descriptor of the chain */
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
typedef void (*run_fn)(struct bf *f, const struct hcase *c, int *status,
		       bool *returned);

struct hcase {
	const char *name;
	uint64_t refuse; /* features the driver refuses */
	/* request cases */
	uint32_t type;
	uint64_t sector;
	uint32_t len;
	const struct mspec *m, *m2;
	/* custom cases (rings, registers) */
	run_fn run;
	/* expectations */
	int status;	  /* VIRTIO_BLK_S_* or UNTOUCHED */
	bool returned;	  /* the head came back in the used ring */
	bool needs_reset; /* device status NEEDS_RESET afterwards */
	int io;		  /* requests that reached the IO layer */
	const char *log;  /* in the device's log, or NULL */
};

#define MS(...) (&(const struct mspec){ __VA_ARGS__ })

static uint64_t change(uint64_t old, enum op op, uint64_t v)
{
	return op == SET ? v : op == OR ? (old | v) : (old & ~v);
}

static void apply(struct gdrv *d, uint16_t head, const struct mspec *m)
{
	struct gdrv_desc desc;
	uint64_t gpa, v = m->val == V_HEAD ? head : m->val;

	if (m->idx == D_RING)
		gpa = gdrv_ring_desc_gpa(d, 0, head);
	else if (m->idx == D_LAST)
		gpa = gdrv_chain_desc_gpa(d, 0, head,
					  gdrv_chain_len(d, 0, head) - 1);
	else
		gpa = gdrv_chain_desc_gpa(d, 0, head, (unsigned int)m->idx);
	if (!gpa) {
		check_fail(__LINE__, "no descriptor %d to mangle", m->idx);
		return;
	}
	gdrv_desc_get(d, gpa, &desc);
	switch (m->field) {
	case F_ADDR:
		desc.addr = change(desc.addr, m->op, v);
		break;
	case F_LEN:
		desc.len = (uint32_t)change(desc.len, m->op, v);
		break;
	case F_FLAGS:
		desc.flags = (uint16_t)change(desc.flags, m->op, v);
		break;
	case F_NEXT:
		desc.next = (uint16_t)change(desc.next, m->op, v);
		break;
	}
	gdrv_desc_set(d, gpa, &desc);
}

static void apply_specs(struct gdrv *d, unsigned int q, uint16_t head,
			void *arg)
{
	const struct hcase *c = arg;

	(void)q;
	if (c->m)
		apply(d, head, c->m);
	if (c->m2)
		apply(d, head, c->m2);
}

/* ---- ring-level cases ---- */

static void raw_head(struct bf *f, uint16_t head, int *s, bool *ret)
{
	struct gdrv_done d;

	gdrv_raw_avail(f->drv, 0, head);
	gdrv_kick(f->drv, 0, true);
	gdrv_interrupt(f->drv);
	*ret = gdrv_poll(f->drv, 0, &d, 1) == 1;
	*s = UNTOUCHED;
}

static void r_head_eq_size(struct bf *f, const struct hcase *c, int *s,
			   bool *ret)
{
	(void)c;
	raw_head(f, BF_QUEUE, s, ret);
}

static void r_head_ffff(struct bf *f, const struct hcase *c, int *s, bool *ret)
{
	(void)c;
	raw_head(f, 0xffff, s, ret);
}

static void r_avail_jump(struct bf *f, const struct hcase *c, int *s, bool *ret)
{
	struct gdrv_done d;

	gdrv_raw_avail_idx(f->drv, 0, (uint16_t)c->sector);
	gdrv_kick(f->drv, 0, true);
	gdrv_interrupt(f->drv);
	*ret = gdrv_poll(f->drv, 0, &d, 1) == 1;
	*s = UNTOUCHED;
}

/* A head the device holds in flight is offered again. */
static void r_head_twice(struct bf *f, const struct hcase *c, int *s, bool *ret)
{
	static uint8_t buf[512];
	struct gdrv_blk_req r = { 0 };
	struct gdrv_done d[2];
	int head;

	(void)c;
	f->pump_off = true; /* the read stays in flight */
	f->io.hold = true;
	r.type = VIRTIO_BLK_T_IN;
	r.data = buf;
	r.len = sizeof(buf);
	head = gdrv_submit(f->drv, 0, &r);
	CHECK(head >= 0);
	gdrv_kick(f->drv, 0, true);
	gdrv_raw_avail(f->drv, 0, (uint16_t)head);
	gdrv_kick(f->drv, 0, true);
	CHECK_EQ(vback_dev_inflight(f->dev), 1);
	f->io.hold = false;
	f->pump_off = false;
	bf_dispatch(f);
	gdrv_interrupt(f->drv);
	/* Returned exactly once, with its real status. */
	*ret = gdrv_poll(f->drv, 0, d, 2) == 1;
	*s = *ret ? d[0].status : UNTOUCHED;
}

/* A chain longer than the queue without a loop: the TTL refuses it. */
static void r_chain_too_long(struct bf *f, const struct hcase *c, int *s,
			     bool *ret)
{
	uint64_t buf = gdrv_alloc(f->drv, 512, 16);
	struct gdrv_done done;

	(void)c;
	for (uint16_t i = 0; i < BF_QUEUE; i++) {
		struct gdrv_desc d = { buf, 16, VRING_DESC_F_NEXT,
				       (uint16_t)((i + 1) % BF_QUEUE) };

		gdrv_desc_set(f->drv, gdrv_ring_desc_gpa(f->drv, 0, i), &d);
	}
	gdrv_raw_claim(f->drv, 0, 0, true);
	gdrv_raw_avail(f->drv, 0, 0);
	gdrv_kick(f->drv, 0, true);
	gdrv_interrupt(f->drv);
	*ret = gdrv_poll(f->drv, 0, &done, 1) == 1;
	*s = UNTOUCHED;
}

/* ---- register-level cases ---- */

static void g_past_window(struct bf *f, const struct hcase *c, int *s,
			  bool *ret)
{
	uint8_t status = vback_dev_status(f->dev);
	uint64_t v = 0xdead;

	(void)c;
	*s = UNTOUCHED;
	*ret = false;
	CHECK_EQ(vback_mmio_read(f->mmio, 0x200, 4, &v), -EINVAL);
	CHECK_EQ(v, 0);
	CHECK_EQ(vback_mmio_write(f->mmio, UINT64_MAX - 3, 4, 0x12), -EINVAL);
	CHECK_EQ(vback_dev_status(f->dev), status);
	CHECK_EQ(gdrv_reg_read(f->drv, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
}

static void g_driver_ok_without_features_ok(struct bf *f, const struct hcase *c,
					    int *s, bool *ret)
{
	(void)c;
	*s = UNTOUCHED;
	*ret = false;
	gdrv_reg_write(f->drv, VIRTIO_MMIO_STATUS, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_STATUS, 1);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_STATUS, 3);
	CHECK_EQ(vback_mmio_write(f->mmio, VIRTIO_MMIO_STATUS, 4, 7), -EINVAL);
	CHECK(!(vback_dev_status(f->dev) & VBACK_STATUS_DRIVER_OK));
}

/* QueueReady with the descriptor table in a hole: the queue stays off. */
static void g_ring_in_hole(struct bf *f, const struct hcase *c, int *s,
			   bool *ret)
{
	struct gdrv_queue_info qi;

	(void)c;
	*s = UNTOUCHED;
	*ret = false;
	CHECK_EQ(gdrv_queue_info(f->drv, 0, &qi), 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_SEL, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_READY, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_NUM, BF_QUEUE);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)BF_HOLE);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)qi.avail);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_AVAIL_HIGH,
		       (uint32_t)(qi.avail >> 32));
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)qi.used);
	gdrv_reg_write(f->drv, VIRTIO_MMIO_QUEUE_USED_HIGH,
		       (uint32_t)(qi.used >> 32));
	CHECK_EQ(vback_mmio_write(f->mmio, VIRTIO_MMIO_QUEUE_READY, 4, 1),
		 -EINVAL);
	CHECK_EQ(gdrv_reg_read(f->drv, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK(!vback_dev_queue_enabled(f->dev, 0));
}

/* ---- the table ---- */

#define REQ_IN	.type = VIRTIO_BLK_T_IN, .len = 512
#define REQ_OUT .type = VIRTIO_BLK_T_OUT, .len = 512
#define BAD_CHAIN                                                              \
	.status = UNTOUCHED, .returned = true, .needs_reset = true, .io = 0
#define BAD_RING                                                               \
	.status = UNTOUCHED, .returned = false, .needs_reset = true, .io = 0
#define ANSWERED(st) .status = (st), .returned = true, .needs_reset = false
#define REG	     .status = UNTOUCHED, .returned = false, .io = 0

static const struct hcase cases[] = {
	/* ring violations: nothing to return, NEEDS_RESET */
	{ "head == queue size", .run = r_head_eq_size, BAD_RING,
	  .log = "out of range" },
	{ "head 0xffff", .run = r_head_ffff, BAD_RING, .log = "out of range" },
	{ "avail index 0x8000 ahead", .run = r_avail_jump, .sector = 0x8000,
	  BAD_RING, .log = "ahead" },
	{ "head offered twice while in flight", .run = r_head_twice,
	  .status = VIRTIO_BLK_S_OK, .returned = true, .needs_reset = true,
	  .io = 1, .log = "already in flight" },
	/* chain violations: head returned, NEEDS_RESET */
	{ "descriptor loop to itself", REQ_IN, .refuse = F_IND,
	  .m = MS(0, F_NEXT, SET, V_HEAD), BAD_CHAIN, .log = "too long" },
	{ "descriptor loop back to head", REQ_IN, .refuse = F_IND,
	  .m = MS(D_LAST, F_FLAGS, OR, VRING_DESC_F_NEXT),
	  .m2 = MS(D_LAST, F_NEXT, SET, V_HEAD), BAD_CHAIN },
	{ "chain longer than the queue", .run = r_chain_too_long,
	  .refuse = F_IND, BAD_CHAIN, .log = "too long" },
	{ "next == queue size", REQ_IN, .refuse = F_IND,
	  .m = MS(0, F_NEXT, SET, BF_QUEUE), BAD_CHAIN, .log = "next index" },
	{ "zero-length data descriptor", REQ_OUT, .m = MS(1, F_LEN, SET, 0),
	  BAD_CHAIN, .log = "zero-length" },
	{ "zero-length header", REQ_OUT, .m = MS(0, F_LEN, SET, 0), BAD_CHAIN,
	  .log = "zero-length" },
	{ "data buffer outside guest memory", REQ_OUT,
	  .m = MS(1, F_ADDR, SET, BF_HOLE), BAD_CHAIN,
	  .log = "outside guest memory" },
	{ "data address + length overflows", REQ_OUT,
	  .m = MS(1, F_ADDR, SET, UINT64_MAX - 100), BAD_CHAIN,
	  .log = "address overflows" },
	{ "huge descriptor length", REQ_IN, .m = MS(1, F_LEN, SET, 0xffffffff),
	  BAD_CHAIN, .log = "outside guest memory" },
	{ "status in read-only guest memory", REQ_IN,
	  .m = MS(D_LAST, F_ADDR, SET, BF_RO), BAD_CHAIN,
	  .log = "outside guest memory" },
	/* indirect tables */
	{ "indirect without the feature", REQ_IN, .refuse = F_IND,
	  .m = MS(D_LAST, F_FLAGS, OR, VRING_DESC_F_INDIRECT), BAD_CHAIN,
	  .log = "not negotiated" },
	{ "nested indirect", REQ_IN,
	  .m = MS(0, F_FLAGS, OR, VRING_DESC_F_INDIRECT), BAD_CHAIN,
	  .log = "nested" },
	{ "indirect loop", REQ_OUT, .m = MS(1, F_NEXT, SET, 1), BAD_CHAIN,
	  .log = "too long" },
	{ "indirect table outside guest memory", REQ_IN,
	  .m = MS(D_RING, F_ADDR, SET, BF_HOLE), BAD_CHAIN,
	  .log = "indirect table outside" },
	/* requests: answered, the device stays healthy */
	{ "unknown request type", .type = 0x55, .len = 512,
	  ANSWERED(VIRTIO_BLK_S_UNSUPP), .io = 0 },
	{ "request type 0xffffffff", .type = 0xffffffff, .len = 0,
	  ANSWERED(VIRTIO_BLK_S_UNSUPP), .io = 0 },
	{ "read at capacity", REQ_IN, .sector = CAPACITY,
	  ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "sector + count wraps", .type = VIRTIO_BLK_T_IN, .len = 1024,
	  .sector = UINT64_MAX - 1, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	{ "GET_ID buffer shorter than 20", .type = VIRTIO_BLK_T_GET_ID,
	  .len = 8, ANSWERED(VIRTIO_BLK_S_IOERR), .io = 0 },
	/* register file */
	{ "access past the window", .run = g_past_window, REG,
	  .needs_reset = false },
	{ "DRIVER_OK without FEATURES_OK",
	  .run = g_driver_ok_without_features_ok, REG, .needs_reset = true,
	  .log = "without FEATURES_OK" },
	{ "descriptor table outside guest memory", .run = g_ring_in_hole, REG,
	  .needs_reset = false },
};

static void run_case(void *arg)
{
	static uint8_t data[BF_MAX_DATA];
	const struct hcase *c = arg;
	struct bf_options o = { 0 };
	struct bf f;
	int status = UNTOUCHED;
	bool returned = false;

	o.refuse = c->refuse;
	if (bf_setup(&f, &o)) {
		check_fail(__LINE__, "fixture setup failed");
		bf_teardown(&f);
		return;
	}
	if (c->run) {
		c->run(&f, c, &status, &returned);
	} else {
		struct gdrv_blk_req r = { 0 };
		struct gdrv_done d = { 0 };
		uint8_t st = 0;
		int head;

		memset(data, 0x3c, sizeof(data));
		r.type = c->type;
		r.sector = c->sector;
		r.data = data;
		r.len = c->len;
		r.mangle = c->m ? apply_specs : NULL;
		r.mangle_arg = (void *)(uintptr_t)c;
		head = gdrv_submit(f.drv, 0, &r);
		if (head < 0)
			check_fail(__LINE__, "submit: %d", head);
		gdrv_kick(f.drv, 0, true);
		gdrv_interrupt(f.drv);
		returned = gdrv_poll(f.drv, 0, &d, 1) == 1;
		gmem_read(f.mem, gdrv_req_status_gpa(f.drv, 0, (uint16_t)head),
			  &st, 1);
		status = st == 0xee ? UNTOUCHED : st;
		if (returned && status == UNTOUCHED && d.len)
			check_fail(__LINE__, "untouched status, used len %u",
				   d.len);
	}
	f.io.hold = false;
	f.pump_off = false;
	bf_dispatch(&f);

	if (status != c->status)
		check_fail(__LINE__, "status %d, want %d", status, c->status);
	if (returned != c->returned)
		check_fail(__LINE__, "head %s", returned ? "returned" : "kept");
	if (!!(vback_dev_status(f.dev) & VBACK_STATUS_NEEDS_RESET) !=
	    c->needs_reset)
		check_fail(__LINE__, "device status 0x%x",
			   vback_dev_status(f.dev));
	/* NEEDS_RESET after DRIVER_OK is announced by a config interrupt. */
	if (c->needs_reset &&
	    (vback_dev_status(f.dev) & VBACK_STATUS_DRIVER_OK) &&
	    !(gdrv_interrupt(f.drv) & VIRTIO_MMIO_INT_CONFIG) &&
	    !gdrv_stats(f.drv)->irq_config)
		check_fail(__LINE__, "no configuration-change interrupt");
	if (f.io.submits != (uint64_t)c->io)
		check_fail(__LINE__, "%llu requests reached IO, want %d",
			   (unsigned long long)f.io.submits, c->io);
	if (c->log && !bf_logged(&f, c->log))
		check_fail(__LINE__, "no log line with \"%s\"", c->log);
	if (gdrv_stats(f.drv)->bad_used)
		check_fail(__LINE__, "a head returned twice or unasked");
	if (vback_dev_inflight(f.dev))
		check_fail(__LINE__, "%u requests still in flight",
			   vback_dev_inflight(f.dev));
	if (gmem_bad_unmaps(f.mem))
		check_fail(__LINE__, "bad unmaps");

	/* Recovery: reset and probe again, then a normal read works. */
	gdrv_reset(f.drv);
	if (vback_dev_status(f.dev) != 0)
		check_fail(__LINE__, "status 0x%x after reset",
			   vback_dev_status(f.dev));
	if (gmem_outstanding(f.mem))
		check_fail(__LINE__, "%lld guest mappings kept after reset",
			   (long long)gmem_outstanding(f.mem));
	if (gdrv_probe(f.drv))
		check_fail(__LINE__, "probe after reset failed");
	else if (gdrv_blk_rw(f.drv, 0, VIRTIO_BLK_T_IN, 0, data, 512, 1) !=
		 VIRTIO_BLK_S_OK)
		check_fail(__LINE__, "read after reset failed");
	if (check_failed())
		bm_printf("# device log:\n%s", f.logs);
	bf_teardown(&f);
}

void hostile_run_all(void)
{
	char name[96];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bm_snprintf(name, sizeof(name), "hostile: %s", cases[i].name);
		check_run(name, run_case, (void *)(uintptr_t)&cases[i]);
	}
}
