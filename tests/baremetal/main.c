/* SPDX-License-Identifier: MIT */
/*
 * vback on bare metal: the freestanding archive serves a virtio-blk device
 * on a RAM disk, over the simple loop, to the guest-driver model, with no
 * OS underneath. One line per check ("ok N - ..." / "not ok N - ..."), then
 * the exit status through semihosting: 0 only when every check passed.
 */
#include <string.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "bmtest.h"

extern char __stack_bottom[], __stack_top[];

/* ---------------------------------------------------------------- */
/* Checks                                                            */
/* ---------------------------------------------------------------- */

static struct {
	unsigned int run, failed;
	bool cur_failed;
	char why[200];
	char note[200];
} checks;

void check_fail(int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (checks.cur_failed)
		return;
	checks.cur_failed = true;
	n = bm_snprintf(checks.why, sizeof(checks.why), "line %d: ", line);
	va_start(ap, fmt);
	bm_vsnprintf(checks.why + n, sizeof(checks.why) - (size_t)n, fmt, ap);
	va_end(ap);
}

void check_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bm_vsnprintf(checks.note, sizeof(checks.note), fmt, ap);
	va_end(ap);
}

bool check_failed(void)
{
	return checks.cur_failed;
}

void check_run(const char *name, void (*fn)(void *arg), void *arg)
{
	checks.cur_failed = false;
	checks.note[0] = '\0';
	checks.run++;
	fn(arg);
	if (!checks.cur_failed) {
		bm_printf("ok %u - %s%s%s\n", checks.run, name,
			  checks.note[0] ? ": " : "", checks.note);
		return;
	}
	checks.failed++;
	bm_printf("not ok %u - %s: %s\n", checks.run, name, checks.why);
	if (bf_current && bf_current->logs_len)
		bm_printf("# device log:\n%s", bf_current->logs);
}

/* ---------------------------------------------------------------- */
/* The machine                                                       */
/* ---------------------------------------------------------------- */

static void chk_boot(void *arg)
{
	static struct {
		uint64_t align;
		uint8_t b[16];
	} s = { 0, { 1, 2, 3, 4, 5, 6, 7, 8 } };
	volatile uint32_t *odd = (volatile uint32_t *)(void *)(s.b + 1);
	uintptr_t word = 5, expect = 5;
	struct bm_heap_stats h;

	(void)arg;
	CHECK_EQ(bm_current_el(), 1);
	CHECK(bm_mmu_on());
	CHECK(bm_counter_hz() > 0);
	/* Normal memory: an unaligned load works (it faults on Device
	 * memory, which is all there is with the MMU off). */
	CHECK_EQ(*odd, 0x05040302);
	/* Exclusives, as the simple loop's lock-free post uses them. */
	CHECK(__atomic_compare_exchange_n(&word, &expect, 7, false,
					  __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	CHECK_EQ(word, 7);
	bm_heap_stats(&h);
	check_note("EL1, MMU and caches on, counter %llu Hz, heap %zu KiB",
		   (unsigned long long)bm_counter_hz(), h.arena_size >> 10);
}

struct loop_probe {
	unsigned int order[4], n;
	bool fired;
	uint64_t fired_at;
};

static void work_a(void *opaque)
{
	struct loop_probe *p = opaque;

	if (p->n < 4)
		p->order[p->n++] = 1;
}

static void work_b(void *opaque)
{
	struct loop_probe *p = opaque;

	if (p->n < 4)
		p->order[p->n++] = 2;
}

static void timer_fn(void *opaque)
{
	struct loop_probe *p = opaque;

	p->fired = true;
	p->fired_at = bm_now_ns();
}

static uint64_t loop_now(void *opaque)
{
	(void)opaque;
	return bm_now_ns();
}

static void chk_simple_loop(void *arg)
{
	struct vback_simple_loop_hooks hooks = { .now_ns = loop_now };
	struct loop_probe p = { 0 };
	struct vback_loop *loop;
	struct vback_work a, b;
	struct vback_timer t;
	uint64_t t0, now;

	(void)arg;
	CHECK_EQ(vback_simple_loop_create(&hooks, &loop), 0);
	vback_work_init(&a, work_a, &p);
	vback_work_init(&b, work_b, &p);
	vback_timer_init(&t, timer_fn, &p);
	CHECK_EQ(vback_loop_post(loop, &a), 0);
	CHECK_EQ(vback_loop_post(loop, &b), 0);
	CHECK_EQ(vback_loop_post(loop, &a), 0); /* pending: a no-op */
	CHECK_EQ(vback_simple_loop_dispatch(loop), 2);
	CHECK_EQ(p.n, 2);
	CHECK(p.order[0] == 1 && p.order[1] == 2); /* FIFO */
	CHECK_EQ(vback_simple_loop_timeout(loop), UINT64_MAX);

	/* A 1 ms timer, timed by the generic timer through now_ns. */
	t0 = bm_now_ns();
	CHECK_EQ(vback_timer_arm(loop, &t, 1000000, 0), 0);
	do {
		vback_simple_loop_dispatch(loop);
		now = bm_now_ns();
	} while (!p.fired && now - t0 < 1000000000ull);
	CHECK(p.fired);
	CHECK(p.fired_at - t0 >= 1000000);
	CHECK(!vback_timer_armed(&t));
	vback_simple_loop_destroy(loop);
	check_note("FIFO work, 1 ms timer fired after %llu us",
		   (unsigned long long)(p.fired_at - t0) / 1000);
}

/* ---------------------------------------------------------------- */
/* A virtio-blk device on the RAM disk                               */
/* ---------------------------------------------------------------- */

static struct bf mainfx;

static void chk_probe(void *arg)
{
	struct bf *f = &mainfx;
	struct bm_heap_stats h;

	(void)arg;
	CHECK_EQ(bf_setup(f, NULL), 0);
	CHECK_EQ(gdrv_reg_read(f->drv, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	CHECK_EQ(gdrv_reg_read(f->drv, VIRTIO_MMIO_VERSION), 2);
	CHECK_EQ(gdrv_reg_read(f->drv, VIRTIO_MMIO_DEVICE_ID), 2);
	CHECK_EQ(gdrv_status(f->drv), VIRTIO_CONFIG_S_ACKNOWLEDGE |
					      VIRTIO_CONFIG_S_DRIVER |
					      VIRTIO_CONFIG_S_FEATURES_OK |
					      VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(gdrv_has(f->drv, VIRTIO_F_VERSION_1));
	CHECK(gdrv_has(f->drv, VIRTIO_BLK_F_FLUSH));
	CHECK(gdrv_has(f->drv, VIRTIO_BLK_F_DISCARD));
	CHECK(gdrv_has(f->drv, VIRTIO_BLK_F_WRITE_ZEROES));
	CHECK_EQ(gdrv_config_read(f->drv, 0, 8), BF_DISK_SIZE / 512);
	CHECK(vback_dev_queue_enabled(f->dev, 0));
	bm_heap_stats(&h);
	check_note("features 0x%llx, %u sectors, queue of %u, vback holds "
		   "%zu B in %zu blocks",
		   (unsigned long long)gdrv_features(f->drv),
		   BF_DISK_SIZE / 512, BF_QUEUE, h.lib_live, h.lib_blocks);
}

static void stats(struct bf *f, struct vback_blk_stats *st)
{
	vback_blk_get_stats(f->blk, st);
}

static void chk_write(void *arg)
{
	static uint8_t buf[8192];
	struct bf *f = &mainfx;
	struct vback_blk_stats st;

	(void)arg;
	CHECK(f->drv);
	bf_pattern(buf, sizeof(buf), 1);
	memset(bf_disk + 16 * 512, 0, sizeof(buf));
	CHECK_EQ(gdrv_blk_rw(f->drv, 0, VIRTIO_BLK_T_OUT, 16, buf, sizeof(buf),
			     3),
		 VIRTIO_BLK_S_OK);
	CHECK(!memcmp(bf_disk + 16 * 512, buf, sizeof(buf)));
	stats(f, &st);
	CHECK_EQ(st.writes, 1);
	CHECK_EQ(st.bytes_written, sizeof(buf));
	check_note("8 KiB in 3 segments at sector 16, on the disk");
}

static void chk_read(void *arg)
{
	static uint8_t buf[8192];
	struct bf *f = &mainfx;
	struct vback_blk_stats st;

	(void)arg;
	CHECK(f->drv);
	bf_pattern(bf_disk + 64 * 512, sizeof(buf), 2);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(gdrv_blk_rw(f->drv, 0, VIRTIO_BLK_T_IN, 64, buf, sizeof(buf),
			     2),
		 VIRTIO_BLK_S_OK);
	CHECK(!memcmp(bf_disk + 64 * 512, buf, sizeof(buf)));
	/* And what the write put there comes back. */
	CHECK_EQ(gdrv_blk_rw(f->drv, 0, VIRTIO_BLK_T_IN, 16, buf, 4096, 1),
		 VIRTIO_BLK_S_OK);
	CHECK(!memcmp(bf_disk + 16 * 512, buf, 4096));
	stats(f, &st);
	CHECK_EQ(st.reads, 2);
	check_note("8 KiB in 2 segments at sector 64, in the guest buffer");
}

static void chk_flush(void *arg)
{
	struct bf *f = &mainfx;
	struct vback_blk_stats st;

	(void)arg;
	CHECK(f->drv);
	CHECK_EQ(gdrv_blk_rw(f->drv, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0),
		 VIRTIO_BLK_S_OK);
	stats(f, &st);
	CHECK_EQ(st.flushes, 1);
}

/* struct virtio_blk_discard_write_zeroes, little endian. */
static void range_payload(uint8_t p[16], uint64_t sector, uint32_t n,
			  uint32_t flags)
{
	for (unsigned int i = 0; i < 8; i++)
		p[i] = (uint8_t)(sector >> (8 * i));
	for (unsigned int i = 0; i < 4; i++) {
		p[8 + i] = (uint8_t)(n >> (8 * i));
		p[12 + i] = (uint8_t)(flags >> (8 * i));
	}
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != v)
			return false;
	}
	return true;
}

static void chk_discard(void *arg)
{
	struct bf *f = &mainfx;
	struct vback_blk_stats st;
	uint8_t p[16];

	(void)arg;
	CHECK(f->drv);
	memset(bf_disk + 200 * 512, 0x5a, 16 * 512);
	range_payload(p, 200, 8, 0);
	CHECK_EQ(gdrv_blk_rw(f->drv, 0, VIRTIO_BLK_T_DISCARD, 0, p, 16, 1),
		 VIRTIO_BLK_S_OK);
	/* The memory engine drops (zeroes) exactly the range. */
	CHECK(all(bf_disk + 200 * 512, 8 * 512, 0));
	CHECK(all(bf_disk + 208 * 512, 8 * 512, 0x5a));
	stats(f, &st);
	CHECK_EQ(st.discards, 1);
	check_note("sectors 200..207 dropped, 208..215 kept");
}

static void chk_write_zeroes(void *arg)
{
	static uint8_t buf[16 * 512];
	struct bf *f = &mainfx;
	struct vback_blk_stats st;
	uint8_t p[16];

	(void)arg;
	CHECK(f->drv);
	memset(bf_disk + 300 * 512, 0xff, 32 * 512);
	range_payload(p, 304, 16, 0);
	CHECK_EQ(gdrv_blk_rw(f->drv, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, p, 16, 1),
		 VIRTIO_BLK_S_OK);
	CHECK(all(bf_disk + 300 * 512, 4 * 512, 0xff));
	CHECK(all(bf_disk + 304 * 512, 16 * 512, 0));
	CHECK(all(bf_disk + 320 * 512, 12 * 512, 0xff));
	/* And the guest reads zeroes back. */
	memset(buf, 0xcc, sizeof(buf));
	CHECK_EQ(gdrv_blk_rw(f->drv, 0, VIRTIO_BLK_T_IN, 304, buf, sizeof(buf),
			     1),
		 VIRTIO_BLK_S_OK);
	CHECK(all(buf, sizeof(buf), 0));
	stats(f, &st);
	CHECK_EQ(st.write_zeroes, 1);
	check_note("sectors 304..319 zero on disk and in the guest");
}

static void chk_get_id(void *arg)
{
	static const char want[20] = BF_SERIAL;
	struct bf *f = &mainfx;
	uint8_t id[20];

	(void)arg;
	CHECK(f->drv);
	memset(id, 0xcc, sizeof(id));
	CHECK_EQ(gdrv_blk_rw(f->drv, 0, VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id),
			     1),
		 VIRTIO_BLK_S_OK);
	CHECK(!memcmp(id, want, sizeof(id)));
	check_note("\"%s\"", BF_SERIAL);
}

/* First offset where guest memory differs from @snap, skipping
 * [@skip, @skip + @skip_len); -1 when none. */
static long long first_change(struct bf *f, const uint8_t *snap, uint64_t skip,
			      uint64_t skip_len)
{
	const uint8_t *now = gmem_host(f->mem, BF_R0, BF_R0_SIZE);

	for (uint64_t i = 0; i < BF_R0_SIZE; i++) {
		if (BF_R0 + i >= skip && BF_R0 + i < skip + skip_len)
			continue;
		if (now[i] != snap[i])
			return (long long)(BF_R0 + i);
	}
	return -1;
}

/*
 * The driver resets the device with requests in flight. The memory engine
 * completes from posted work, so: submit (held, nothing dispatched), reset,
 * then let the loop run. Status must read non-zero until the orphans are
 * done, the orphans must touch no guest memory (their status bytes and the
 * used ring included; only the orphaned read's own data buffer may be
 * filled, which is why the reset is not complete before), every mapping
 * must be released, and the device must work after the driver sets it up
 * again.
 */
static void chk_reset_in_flight(void *arg)
{
	static uint8_t wa[4096], wb[4096], rd[4096];
	struct bf *f = &mainfx;
	struct gdrv_blk_req r[3] = { { 0 } };
	uint64_t submits, read_buf;
	uint32_t status_while;
	uint8_t *snap;
	long long changed;
	int head[3];

	(void)arg;
	CHECK(f->drv);
	bf_pattern(wa, sizeof(wa), 11);
	bf_pattern(wb, sizeof(wb), 12);
	memset(bf_disk + 500 * 512, 0x77, 4096);
	r[0] = (struct gdrv_blk_req){
		.type = VIRTIO_BLK_T_OUT, .sector = 400, .data = wa, .len = 4096
	};
	r[1] = (struct gdrv_blk_req){
		.type = VIRTIO_BLK_T_OUT, .sector = 408, .data = wb, .len = 4096
	};
	r[2] = (struct gdrv_blk_req){
		.type = VIRTIO_BLK_T_IN, .sector = 500, .data = rd, .len = 4096
	};

	f->pump_off = true;
	f->io.hold = true;
	submits = f->io.submits;
	for (unsigned int i = 0; i < 3; i++) {
		head[i] = gdrv_submit(f->drv, 0, &r[i]);
		CHECK(head[i] >= 0);
	}
	gdrv_kick(f->drv, 0, true);
	CHECK_EQ(f->io.submits - submits, 3);
	CHECK_EQ(vback_dev_inflight(f->dev), 3);

	gdrv_reg_write(f->drv, VIRTIO_MMIO_STATUS, 0);
	status_while = gdrv_status(f->drv);
	CHECK(status_while != 0); /* reset not complete yet */
	CHECK(vback_dev_resetting(f->dev, -1));
	snap = calloc(1, BF_R0_SIZE);
	CHECK(snap);
	memcpy(snap, gmem_host(f->mem, BF_R0, BF_R0_SIZE), BF_R0_SIZE);

	f->io.hold = false;
	f->pump_off = false;
	bf_dispatch(f);
	read_buf = gdrv_req_hdr_gpa(f->drv, 0, (uint16_t)head[2]) + 16;
	changed = first_change(f, snap, read_buf, 4096);
	free(snap);
	CHECK_EQ(vback_dev_inflight(f->dev), 0);
	CHECK(!vback_dev_resetting(f->dev, -1));
	CHECK_EQ(gdrv_status(f->drv), 0);
	CHECK_EQ(gmem_outstanding(f->mem), 0);
	CHECK_EQ(gmem_bad_unmaps(f->mem), 0);
	if (changed >= 0)
		check_fail(__LINE__,
			   "guest memory at 0x%llx written after reset",
			   changed);
	CHECK(changed < 0);
	for (unsigned int i = 0; i < 3; i++) {
		uint8_t st = 0;

		gmem_read(f->mem,
			  gdrv_req_status_gpa(f->drv, 0, (uint16_t)head[i]),
			  &st, 1);
		CHECK_EQ(st, 0xee); /* as the driver left it */
	}

	/* The driver sets the device up again: it works. */
	gdrv_reset(f->drv);
	CHECK_EQ(gdrv_probe(f->drv), 0);
	CHECK_EQ(gdrv_blk_rw(f->drv, 0, VIRTIO_BLK_T_OUT, 600, wa, sizeof(wa),
			     1),
		 VIRTIO_BLK_S_OK);
	memset(rd, 0, sizeof(rd));
	CHECK_EQ(gdrv_blk_rw(f->drv, 0, VIRTIO_BLK_T_IN, 600, rd, sizeof(rd),
			     2),
		 VIRTIO_BLK_S_OK);
	CHECK(!memcmp(rd, wa, sizeof(rd)));
	check_note("3 requests in flight, Status read 0x%x until they drained, "
		   "no guest byte touched, works after re-probe",
		   (unsigned int)status_while);
}

static void chk_teardown(void *arg)
{
	struct bm_heap_stats h;

	(void)arg;
	bf_teardown(&mainfx);
	bm_heap_stats(&h);
	CHECK_EQ(h.lib_blocks, 0);
	CHECK_EQ(h.lib_live, 0);
	check_note("register file, IO, device, loop: nothing left allocated");
}

static size_t stack_used(void)
{
	/* The stack was zero at boot (RAM from QEMU, never written before):
	 * the lowest non-zero word is as deep as it went. */
	const uint64_t *lo = (const uint64_t *)(void *)__stack_bottom;
	size_t words = (size_t)(__stack_top - __stack_bottom) / 8;

	for (size_t i = 0; i < words; i++) {
		if (lo[i])
			return (words - i) * 8;
	}
	return 0;
}

/*
 * What docs/porting.md says a device costs: the ring's block, per slot
 * the element, the device type's context, and iovecs and unmap records
 * (16 + 32 bytes) for 2 * (seg_max + 2) + 32 pieces and a spare; plus a
 * little for the device, the loop and the IO. A layout that adds to it (a
 * second array per slot, as the hosted build's packed one) fails here.
 */
#define BM_PIECES     (2u * (BF_SEG_MAX + 2u) + 32u + 1u)
#define BM_LIB_BUDGET (BF_QUEUE * (BM_PIECES * 48u + 512u) + 64u * 1024u)

static void chk_heap(void *arg)
{
	struct bm_heap_stats h;

	(void)arg;
	bm_heap_stats(&h);
	CHECK_EQ(h.errors, 0);
	CHECK_EQ(h.lib_blocks, 0);
	CHECK_EQ(h.model_live, 0);
	CHECK(h.lib_peak <= BM_LIB_BUDGET);
	check_note("vback peak %zu B in use (budget %u B; %llu allocations, "
		   "all freed), test side peak %zu KiB, heap high-water %zu "
		   "KiB, stack %zu B",
		   h.lib_peak, BM_LIB_BUDGET, (unsigned long long)h.lib_allocs,
		   h.model_peak >> 10, h.arena_used >> 10, stack_used());
}

int bm_main(void)
{
	uint64_t t0 = bm_now_ns();

	bm_printf("vback bare metal: %s, AArch64 EL%u\n", vback_version(),
		  bm_current_el());
	check_run("boot", chk_boot, NULL);
	check_run("simple loop", chk_simple_loop, NULL);
	check_run("probe, features, DRIVER_OK", chk_probe, NULL);
	check_run("write", chk_write, NULL);
	check_run("read", chk_read, NULL);
	check_run("flush", chk_flush, NULL);
	check_run("discard", chk_discard, NULL);
	check_run("write zeroes", chk_write_zeroes, NULL);
	check_run("get id", chk_get_id, NULL);
	check_run("reset with IO in flight", chk_reset_in_flight, NULL);
	check_run("teardown", chk_teardown, NULL);
	hostile_run_all();
	check_run("heap", chk_heap, NULL);
	bm_printf("1..%u\n%u of %u checks failed, %llu ms\n", checks.run,
		  checks.failed, checks.run,
		  (unsigned long long)(bm_now_ns() - t0) / 1000000);
	return checks.failed ? 1 : 0;
}
