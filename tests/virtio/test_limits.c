/* SPDX-License-Identifier: MIT */
/*
 * What one request, or one queue, may cost the loop. Every guest of a Xen
 * daemon shares one loop, and with grants each mapping is an ioctl and
 * hypercalls: a chain whose answer is already known (IOERR) must not be
 * mapped piece by piece, and a queue must yield after a bounded number of
 * requests. Counted through the fake guest memory (map() calls) and the
 * RAM disk (requests taken), never timed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>

#include "fixture.h"

/* Lay out an indirect table of @n descriptors at head 0: a 16-byte
 * header, @n - 2 writable data descriptors of @len bytes, the status.
 * Returns the table's guest address. */
static uint64_t indirect_read(struct fx *f, unsigned int n, uint32_t len)
{
	uint64_t table = gdrv_alloc(f->drv, 16ull * n, 16);
	uint64_t hdr = gdrv_alloc(f->drv, 16, 16);
	uint64_t data = gdrv_alloc(f->drv, len, 16);
	uint64_t status = gdrv_alloc(f->drv, 1, 1);
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_IN };
	struct gdrv_desc d;

	assert_true(table && hdr && data && status);
	assert_int_equal(gmem_write(f->mem, hdr, &h, sizeof(h)), 0);
	assert_int_equal(gmem_fill(f->mem, status, 0xee, 1), 0);
	d = (struct gdrv_desc){ hdr, 16, VRING_DESC_F_NEXT, 1 };
	gdrv_desc_set(f->drv, table, &d);
	for (unsigned int i = 1; i + 1 < n; i++) {
		/* Every data descriptor points at the same buffer. */
		d = (struct gdrv_desc){ data, len,
					VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
					(uint16_t)(i + 1) };
		gdrv_desc_set(f->drv, table + 16ull * i, &d);
	}
	d = (struct gdrv_desc){ status, 1, VRING_DESC_F_WRITE, 0 };
	gdrv_desc_set(f->drv, table + 16ull * (n - 1), &d);
	d = (struct gdrv_desc){ table, 16u * n, VRING_DESC_F_INDIRECT, 0 };
	gdrv_desc_set(f->drv, gdrv_ring_desc_gpa(f->drv, 0, 0), &d);
	gdrv_raw_claim(f->drv, 0, 0, true);
	return status;
}

/* Offer head 0, kick, collect it; the status byte it got. */
static uint8_t run_head0(struct fx *f, uint64_t status, uint32_t *len)
{
	struct gdrv_done done;
	uint8_t st = 0;

	gdrv_raw_avail(f->drv, 0, 0);
	gdrv_kick(f->drv, 0, true);
	gdrv_interrupt(f->drv);
	assert_int_equal(gdrv_poll(f->drv, 0, &done, 1), 1);
	assert_int_equal(done.head, 0);
	*len = done.len;
	gmem_read(f->mem, status, &st, 1);
	return st;
}

static void setup(struct fx *f, uint32_t seg_max)
{
	struct fx_options o = { 0 };

	o.grant = true; /* map() and unmap() counted */
	o.blk.seg_max = seg_max;
	o.drv.queue_size = 16;
	assert_int_equal(fx_setup(f, &o), 0);
}

/*
 * An indirect table of 32766 descriptors (the reproduction). No
 * chain may be longer than the queue size (2.7.5.3.1), or than blk's
 * seg_max + 2 when that is larger: the table is refused before anything
 * in it is mapped, the device goes NEEDS_RESET (the guest does not repeat
 * it forever). The old walk mapped and unmapped every buffer.
 */
static void test_long_indirect_table(void **state)
{
	enum { N = 32766 };
	uint64_t status;
	uint32_t len;
	uint64_t maps;
	struct fx f;

	(void)state;
	setup(&f, 128);
	status = indirect_read(&f, N, 16);
	gmem_reset_counters(f.mem);
	assert_int_equal(run_head0(&f, status, &len), 0xee); /* untouched */
	assert_int_equal(len, 0);
	maps = gmem_maps(f.mem);
	print_message("%u-descriptor table: %llu map() calls\n", N,
		      (unsigned long long)maps);
	assert_int_equal(maps, 0);
	assert_int_equal(gmem_outstanding(f.mem), 0);
	assert_true(vback_dev_status(f.dev) & VBACK_STATUS_NEEDS_RESET);
	fx_teardown(&f);
}

/*
 * The longest table the walk accepts: seg_max + 2 = 130 descriptors, more
 * than the queue size. A valid request: it succeeds, each buffer mapped
 * once, the table once. The bound is what a valid request may have.
 */
static void test_table_at_the_bound(void **state)
{
	uint64_t status;
	uint32_t len;
	uint64_t maps;
	struct fx f;

	(void)state;
	setup(&f, 128);
	status = indirect_read(&f, 130, 512);
	gmem_reset_counters(f.mem);
	assert_int_equal(run_head0(&f, status, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 128 * 512 + 1);
	maps = gmem_maps(f.mem);
	assert_true(maps <= 1 + 130);
	assert_int_equal(gmem_outstanding(f.mem), 0);
	fx_teardown(&f);
}

/*
 * A chain within the descriptor bound whose buffers come back in more
 * pieces than the slot has iovecs (translations capped at 100 bytes,
 * 8 descriptors of 4 KiB: 328 pieces; seg_max 8 gives 2 * 10 + 32 = 52
 * iovecs). Its answer is IOERR as soon as the iovecs run out: nothing
 * more is mapped, only ranges checked, and the status byte alone.
 */
static void test_truncated_chain_stops_mapping(void **state)
{
	uint64_t status;
	uint32_t len;
	uint64_t maps;
	struct fx f;

	(void)state;
	setup(&f, 8);
	status = indirect_read(&f, 10, 4096);
	gmem_set_cap(f.mem, 100);
	gmem_reset_counters(f.mem);
	assert_int_equal(run_head0(&f, status, &len), VIRTIO_BLK_S_IOERR);
	maps = gmem_maps(f.mem);
	print_message("328-piece chain, 52 iovecs: %llu map() calls\n",
		      (unsigned long long)maps);
	/* Table (1 KiB in 100-byte pieces: 2 reads past 8 pieces are by
	 * copy), the 52 iovecs, one more that found the end, the status. */
	assert_true(maps <= 8 + 52 + 1 + 1 + 2);
	assert_int_equal(len, 0); /* nothing was written before the status */
	assert_int_equal(gmem_outstanding(f.mem), 0);
	fx_teardown(&f);
}

struct marker {
	struct tio *io;
	unsigned int pending_seen;
	unsigned int runs;
};

static void marker_fn(void *opaque)
{
	struct marker *m = opaque;

	m->pending_seen = tio_pending(m->io);
	m->runs++;
}

/*
 * A queue with 600 requests available takes VDEV_RUN_BUDGET (256) of them,
 * then lets the loop run what was posted before it (another guest's
 * event, here a marker) and goes on with the rest afterwards.
 */
static void test_queue_yields_to_the_loop(void **state)
{
	static uint8_t bufs[600][512];
	struct fx_options o = { 0 };
	struct vback_work w;
	struct marker m = { 0 };
	struct fx f;

	(void)state;
	o.drv.queue_size = 1024;
	o.drv.max_data = 512;
	o.blk.queue_size = 1024;
	assert_int_equal(fx_setup(&f, &o), 0);
	tio_hold(f.io, true);
	for (unsigned int i = 0; i < 600; i++) {
		struct gdrv_blk_req r = { 0 };

		r.type = VIRTIO_BLK_T_IN;
		r.data = bufs[i];
		r.len = 512;
		assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
	}
	m.io = f.io;
	vback_work_init(&w, marker_fn, &m);
	assert_int_equal(vback_loop_post(f.loop, &w), 0);
	gdrv_kick(f.drv, 0, true); /* runs the loop: the marker, the rest */
	fx_pump(&f);
	assert_int_equal(m.runs, 1);
	assert_int_equal(m.pending_seen, 256);
	assert_int_equal(tio_pending(f.io), 600);
	tio_release(f.io, 0);
	gdrv_interrupt(f.drv);
	{
		static struct gdrv_done d[600];

		assert_int_equal(gdrv_poll(f.drv, 0, d, 600), 600);
	}
	fx_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_indirect_table),
		cmocka_unit_test(test_table_at_the_bound),
		cmocka_unit_test(test_truncated_chain_stops_mapping),
		cmocka_unit_test(test_queue_yields_to_the_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
