/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk data path through the virtio-mmio register file, driven by the
 * guest-driver model: with and without EVENT_IDX and INDIRECT, legacy and
 * modern, grant-like and mapped-up-front guest memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "device.h"
#include "fixture.h"
#include "vb_os.h"
#include "virtqueue.h"

#define F_EV  GDRV_F(VIRTIO_RING_F_EVENT_IDX)
#define F_IND GDRV_F(VIRTIO_RING_F_INDIRECT_DESC)

/* The four ring modes every data-path test runs in. */
static const uint64_t refuse_modes[] = { 0, F_EV, F_IND, F_EV | F_IND };

static void setup_mode(struct fx *f, uint64_t refuse, bool grant)
{
	struct fx_options o = { 0 };

	o.grant = grant;
	o.drv.refuse = refuse;
	o.tio.can_discard = true;
	o.tio.can_write_zeroes = true;
	o.tio.can_secure_erase = true;
	memcpy(o.blk.serial, "vback-serial-0001", 17);
	assert_int_equal(fx_setup(f, &o), 0);
	assert_int_equal(gdrv_has(f->drv, VIRTIO_RING_F_EVENT_IDX),
			 !(refuse & F_EV));
	assert_int_equal(gdrv_has(f->drv, VIRTIO_RING_F_INDIRECT_DESC),
			 !(refuse & F_IND));
}

static int rw(struct fx *f, uint32_t type, uint64_t sector, void *buf,
	      uint32_t len, unsigned int segs)
{
	return gdrv_blk_rw(f->drv, 0, type, sector, buf, len, segs);
}

static void test_probe_and_config(void **state)
{
	struct fx f;

	(void)state;
	setup_mode(&f, 0, false);
	assert_int_equal(gdrv_version(f.drv), 2);
	assert_true(gdrv_has(f.drv, VIRTIO_F_VERSION_1));
	assert_true(gdrv_has(f.drv, VIRTIO_BLK_F_FLUSH));
	assert_true(gdrv_has(f.drv, VIRTIO_BLK_F_DISCARD));
	assert_false(gdrv_device_features(f.drv) & GDRV_F(VIRTIO_BLK_F_RO));
	assert_int_equal(gdrv_status(f.drv),
			 VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				 VIRTIO_CONFIG_S_FEATURES_OK |
				 VIRTIO_CONFIG_S_DRIVER_OK);
	/* 1 MiB RAM disk = 2048 sectors. */
	assert_int_equal(gdrv_config_read(f.drv, 0, 8), 2048);
	assert_int_equal(gdrv_config_read(f.drv, 12, 4), 126); /* seg_max */
	assert_int_equal(gdrv_config_read(f.drv, 20, 4), 512); /* blk_size */
	assert_int_equal(gdrv_config_read(f.drv, 34, 2), 1);   /* queues */
	assert_int_equal(gdrv_config_read(f.drv, 40, 4), 1);   /* disc. seg */
	assert_int_equal(gdrv_reg_read(f.drv, VIRTIO_MMIO_DEVICE_ID), 2);
	fx_teardown(&f);
}

static void roundtrip(uint64_t refuse, bool grant, unsigned int segs,
		      uint32_t len)
{
	static uint8_t out[16384], in[16384];
	struct vback_blk_stats st;
	struct fx f;

	setup_mode(&f, refuse, grant);
	fx_pattern(out, len, (uint32_t)refuse + segs);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, 8, out, len, segs),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(tio_data(f.io) + 8 * 512, out, len);
	memset(in, 0, sizeof(in));
	assert_int_equal(rw(&f, VIRTIO_BLK_T_IN, 8, in, len, segs),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(in, out, len);
	vback_blk_get_stats(f.blk, &st);
	assert_int_equal(st.reads, 1);
	assert_int_equal(st.writes, 1);
	assert_int_equal(st.bytes_read, len);
	assert_int_equal(st.bytes_written, len);
	assert_int_equal(gdrv_stats(f.drv)->bad_used, 0);
	if (grant) {
		assert_int_equal(gmem_outstanding(f.mem), f.ring_maps);
		assert_int_equal(gmem_bad_unmaps(f.mem), 0);
	}
	fx_teardown(&f);
}

static void test_roundtrip_all_modes(void **state)
{
	(void)state;
	for (unsigned int m = 0; m < 4; m++) {
		roundtrip(refuse_modes[m], false, 1, 4096);
		roundtrip(refuse_modes[m], true, 4, 8192);
		roundtrip(refuse_modes[m], true, 3, 1536);
	}
}

static void test_used_len_and_status(void **state)
{
	uint8_t buf[4096];
	struct gdrv_blk_req r = { 0 };
	struct gdrv_done d;
	struct fx f;
	int head;

	(void)state;
	setup_mode(&f, 0, false);
	r.type = VIRTIO_BLK_T_IN;
	r.data = buf;
	r.len = sizeof(buf);
	head = gdrv_submit(f.drv, 0, &r);
	assert_true(head >= 0);
	gdrv_kick(f.drv, 0, false);
	assert_int_equal(gdrv_interrupt(f.drv), VIRTIO_MMIO_INT_VRING);
	assert_int_equal(gdrv_poll(f.drv, 0, &d, 1), 1);
	assert_int_equal(d.head, head);
	assert_int_equal(d.len, 4096 + 1); /* data + status */
	assert_int_equal(d.status, VIRTIO_BLK_S_OK);
	/* The interrupt was raised and the line dropped on ACK. */
	assert_true(f.irq_raised >= 1);
	assert_false(f.irq_level);
	fx_teardown(&f);
}

/*
 * 2.7.8: the used length counts the bytes written from the start of the
 * writable part. An error answer to a read, or an ID shorter than its
 * buffer, leaves a gap before the status byte: the device zeroes it and
 * reports the whole writable part, never stale guest bytes as written.
 */
static void test_used_len_covers_status(void **state)
{
	uint8_t buf[4096], id[64], zero[4096] = { 0 };
	struct gdrv_blk_req r = { 0 };
	struct gdrv_done d;
	struct fx f;

	(void)state;
	setup_mode(&f, 0, false);
	memset(buf, 0xee, sizeof(buf));
	r.type = VIRTIO_BLK_T_IN;
	r.sector = 1u << 30; /* beyond the end: IOERR */
	r.data = buf;
	r.len = sizeof(buf);
	assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
	gdrv_kick(f.drv, 0, false);
	gdrv_interrupt(f.drv);
	assert_int_equal(gdrv_poll(f.drv, 0, &d, 1), 1);
	assert_int_equal(d.status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(d.len, 4096 + 1);
	assert_memory_equal(buf, zero, sizeof(buf));

	memset(id, 0xee, sizeof(id));
	memset(&r, 0, sizeof(r));
	r.type = VIRTIO_BLK_T_GET_ID;
	r.data = id;
	r.len = sizeof(id);
	assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
	gdrv_kick(f.drv, 0, false);
	gdrv_interrupt(f.drv);
	assert_int_equal(gdrv_poll(f.drv, 0, &d, 1), 1);
	assert_int_equal(d.status, VIRTIO_BLK_S_OK);
	assert_int_equal(d.len, sizeof(id) + 1);
	assert_memory_equal(id, "vback-serial-0001\0\0\0", 20);
	assert_memory_equal(id + 20, zero, sizeof(id) - 20);

	/* A failed read of 128 KiB: more than the device zeroes for an
	 * error answer; the length then covers nothing. */
	{
		static uint8_t big[128 * 1024];
		struct fx_options o = { 0 };

		fx_teardown(&f);
		o.drv.max_data = sizeof(big);
		o.drv.max_segs = 64;
		o.drv.queue_size = 16;
		assert_int_equal(fx_setup(&f, &o), 0);
		memset(&r, 0, sizeof(r));
		r.type = VIRTIO_BLK_T_IN;
		r.sector = 1u << 30;
		r.data = big;
		r.len = sizeof(big);
		r.segs = 64;
		assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
		gdrv_kick(f.drv, 0, false);
		gdrv_interrupt(f.drv);
		assert_int_equal(gdrv_poll(f.drv, 0, &d, 1), 1);
		assert_int_equal(d.status, VIRTIO_BLK_S_IOERR);
		assert_int_equal(d.len, 0);
	}
	fx_teardown(&f);
}

static void test_batch_fills_queue(void **state)
{
	static uint8_t bufs[64][512];
	struct gdrv_done done[64];
	unsigned int got = 0;
	struct fx f;

	(void)state;
	for (unsigned int m = 0; m < 4; m++) {
		struct fx_options o = { 0 };

		o.drv.refuse = refuse_modes[m];
		o.drv.queue_size = 64;
		o.drv.max_data = 512;
		assert_int_equal(fx_setup(&f, &o), 0);
		for (unsigned int i = 0; i < 64; i++)
			tio_data(f.io)[i * 512] = (uint8_t)i;
		/* Without INDIRECT each request takes 3 descriptors. */
		unsigned int n = (refuse_modes[m] & F_IND) ? 21 : 64;

		for (unsigned int i = 0; i < n; i++) {
			struct gdrv_blk_req r = { 0 };

			r.type = VIRTIO_BLK_T_IN;
			r.sector = i;
			r.data = bufs[i];
			r.len = 512;
			assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
		}
		assert_true(gdrv_kick(f.drv, 0, false));
		gdrv_interrupt(f.drv);
		got = gdrv_poll(f.drv, 0, done, 64);
		assert_int_equal(got, n);
		for (unsigned int i = 0; i < n; i++) {
			assert_int_equal(done[i].status, VIRTIO_BLK_S_OK);
			assert_int_equal(bufs[i][0], (uint8_t)i);
		}
		/* One kick, one batch, one interrupt. */
		assert_int_equal(gdrv_stats(f.drv)->irq_vring, 1);
		assert_int_equal(tio_stats(f.io)->unplugs, 1);
		fx_teardown(&f);
	}
}

static void test_flush_getid_discard_wz(void **state)
{
	uint8_t id[20], seg[16];
	struct fx f;

	(void)state;
	for (unsigned int m = 0; m < 4; m++) {
		setup_mode(&f, refuse_modes[m], true);
		assert_int_equal(rw(&f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(tio_stats(f.io)->by_op[VBACK_IO_FLUSH], 1);
		memset(id, 0xff, sizeof(id));
		assert_int_equal(rw(&f, VIRTIO_BLK_T_GET_ID, 0, id, 20, 1),
				 VIRTIO_BLK_S_OK);
		assert_memory_equal(id, "vback-serial-0001\0\0\0", 20);

		memset(tio_data(f.io), 0x5a, 8192);
		/* one segment: sector 2, 4 sectors, flags 0 */
		memset(seg, 0, sizeof(seg));
		seg[0] = 2;
		seg[8] = 4;
		assert_int_equal(rw(&f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, 1),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(tio_stats(f.io)->last.op, VBACK_IO_DISCARD);
		assert_int_equal(tio_stats(f.io)->last.offset, 1024);
		assert_int_equal(tio_stats(f.io)->last.len, 2048);
		seg[0] = 10;
		seg[12] = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
		assert_int_equal(rw(&f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16,
				    1),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(tio_stats(f.io)->last.op,
				 VBACK_IO_WRITE_ZEROES);
		assert_int_equal(tio_stats(f.io)->last.flags, VBACK_IO_F_UNMAP);
		assert_int_equal(tio_data(f.io)[10 * 512], 0);
		assert_int_equal(tio_data(f.io)[14 * 512 - 1], 0);
		assert_int_equal(tio_data(f.io)[14 * 512], 0x5a);
		seg[12] = 0;
		seg[0] = 0;
		assert_int_equal(rw(&f, VIRTIO_BLK_T_SECURE_ERASE, 0, seg, 16,
				    1),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(tio_stats(f.io)->last.op,
				 VBACK_IO_SECURE_ERASE);
		assert_int_equal(gmem_outstanding(f.mem), f.ring_maps);
		fx_teardown(&f);
	}
}

static void test_read_only_disk(void **state)
{
	struct fx_options o = { 0 };
	uint8_t buf[512] = { 1 };
	struct fx f;

	(void)state;
	o.tio.read_only = true;
	o.tio.can_discard = true;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_true(gdrv_device_features(f.drv) & GDRV_F(VIRTIO_BLK_F_RO));
	assert_false(gdrv_device_features(f.drv) &
		     GDRV_F(VIRTIO_BLK_F_DISCARD));
	assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, 0, buf, 512, 1),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(tio_stats(f.io)->submits, 0);
	assert_int_equal(tio_stats(f.io)->rejects, 0); /* never reached IO */
	assert_int_equal(tio_data(f.io)[0], 0);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_IN, 0, buf, 512, 1),
			 VIRTIO_BLK_S_OK);
	fx_teardown(&f);

	/* read_only option on a writable backend behaves the same. */
	memset(&o, 0, sizeof(o));
	o.blk.read_only = true;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, 0, buf, 512, 1),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(tio_stats(f.io)->submits, 0);
	fx_teardown(&f);
}

static void test_io_errors_and_backpressure(void **state)
{
	uint8_t a[512], b[512];
	struct gdrv_blk_req r = { 0 };
	struct gdrv_done d[2];
	struct vback_blk_stats st;
	struct fx f;

	(void)state;
	setup_mode(&f, 0, true);
	tio_fail_next(f.io, 1, -EIO);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_IN, 0, a, 512, 1),
			 VIRTIO_BLK_S_IOERR);
	vback_blk_get_stats(f.blk, &st);
	assert_int_equal(st.io_errors, 1);
	tio_fail_next(f.io, 1, -EOPNOTSUPP);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0),
			 VIRTIO_BLK_S_UNSUPP);

	/* -EAGAIN: the request waits for a completion, then goes through. */
	tio_hold(f.io, true);
	r.type = VIRTIO_BLK_T_IN;
	r.data = a;
	r.len = 512;
	assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
	gdrv_kick(f.drv, 0, false);
	assert_int_equal(tio_pending(f.io), 1);
	tio_reject_next(f.io, 1, -EAGAIN);
	r.data = b;
	r.sector = 1;
	assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
	gdrv_kick(f.drv, 0, true);
	assert_int_equal(tio_stats(f.io)->rejects, 1);
	assert_int_equal(tio_pending(f.io), 1);
	assert_int_equal(vback_dev_inflight(f.dev), 2);
	assert_int_equal(tio_release(f.io, 1), 1); /* first done, second in */
	assert_int_equal(tio_pending(f.io), 1);
	assert_int_equal(tio_release(f.io, 0), 1);
	gdrv_interrupt(f.drv);
	assert_int_equal(gdrv_poll(f.drv, 0, d, 2), 2);
	assert_int_equal(d[0].status, VIRTIO_BLK_S_OK);
	assert_int_equal(d[1].status, VIRTIO_BLK_S_OK);
	assert_int_equal(vback_dev_inflight(f.dev), 0);
	assert_int_equal(gmem_outstanding(f.mem), f.ring_maps);
	fx_teardown(&f);
}

/* Reset (Status = 0) with a read in flight: the late completion must not
 * write the status byte, the data's used element or anything else. */
static void test_reset_with_io_in_flight(void **state)
{
	uint8_t buf[4096];
	struct gdrv_blk_req r = { 0 };
	struct gdrv_queue_info qi;
	uint8_t status;
	struct fx f;
	int head;

	(void)state;
	for (int variant = 0; variant < 2; variant++) {
		setup_mode(&f, 0, true);
		tio_hold(f.io, true);
		r.type = VIRTIO_BLK_T_IN;
		r.data = buf;
		r.len = sizeof(buf);
		head = gdrv_submit(f.drv, 0, &r);
		assert_true(head >= 0);
		gdrv_kick(f.drv, 0, false);
		assert_int_equal(tio_pending(f.io), 1);
		assert_int_equal(gdrv_queue_info(f.drv, 0, &qi), 0);
		if (variant == 0) {
			gdrv_reg_write(f.drv, VIRTIO_MMIO_STATUS, 0);
			assert_int_equal(vback_dev_status(f.dev), 0);
		} else {
			/* virtio 1.2 QueueReset of just this queue. */
			gdrv_reg_write(f.drv, VIRTIO_MMIO_QUEUE_SEL, 0);
			gdrv_reg_write(f.drv, 0x0c0, 1);
			assert_int_equal(gdrv_reg_read(f.drv,
						       VIRTIO_MMIO_QUEUE_READY),
					 0);
		}
		assert_false(vback_dev_queue_enabled(f.dev, 0));
		assert_int_equal(vback_dev_inflight(f.dev), 1);
		/* The backend still holds one mapping (the buffer). */
		assert_true(gmem_outstanding(f.mem) > 0);
		assert_int_equal(tio_release(f.io, 0), 1);
		assert_int_equal(vback_dev_inflight(f.dev), 0);
		assert_int_equal(gmem_outstanding(f.mem), 0);
		/* Nothing was published to the old ring. */
		assert_int_equal(gmem_read(f.mem, qi.used + 2, &status, 1), 0);
		assert_int_equal(status, 0);
		gmem_read(f.mem, gdrv_req_status_gpa(f.drv, 0, (uint16_t)head),
			  &status, 1);
		assert_int_equal(status, 0xee); /* as the driver left it */
		/* The device works again after a fresh probe. */
		assert_int_equal(gdrv_probe(f.drv), 0);
		tio_hold(f.io, false);
		assert_int_equal(rw(&f, VIRTIO_BLK_T_IN, 0, buf, 512, 1),
				 VIRTIO_BLK_S_OK);
		fx_teardown(&f);
	}
}

/* Detach (transport destroyed) with IO in flight, then IO closes. */
static void test_detach_with_io_in_flight(void **state)
{
	uint8_t buf[512];
	struct gdrv_blk_req r = { 0 };
	struct fx f;

	(void)state;
	setup_mode(&f, 0, true);
	tio_hold(f.io, true);
	r.type = VIRTIO_BLK_T_IN;
	r.data = buf;
	r.len = sizeof(buf);
	assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
	gdrv_kick(f.drv, 0, false);
	vback_mmio_destroy(f.mmio);
	f.mmio = NULL;
	assert_int_equal(vback_dev_inflight(f.dev), 1);
	assert_int_equal(tio_release(f.io, 0), 1);
	assert_int_equal(vback_dev_inflight(f.dev), 0);
	assert_int_equal(gmem_outstanding(f.mem), 0);
	fx_teardown(&f);
}

static void test_writethrough_flushes(void **state)
{
	uint8_t buf[512] = { 7 };
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.tio.volatile_cache = true;
	o.blk.writeback = false;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_true(gdrv_has(f.drv, VIRTIO_BLK_F_CONFIG_WCE));
	assert_int_equal(gdrv_config_read(f.drv, 32, 1), 0);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, 0, buf, 512, 1),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(tio_stats(f.io)->by_op[VBACK_IO_WRITE], 1);
	assert_int_equal(tio_stats(f.io)->by_op[VBACK_IO_FLUSH], 1);
	/* The guest switches to writeback: no implicit flush. */
	gdrv_config_write(f.drv, 32, 1, 1);
	assert_int_equal(gdrv_config_read(f.drv, 32, 1), 1);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, 0, buf, 512, 1),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(tio_stats(f.io)->by_op[VBACK_IO_WRITE], 2);
	assert_int_equal(tio_stats(f.io)->by_op[VBACK_IO_FLUSH], 1);
	fx_teardown(&f);
}

/*
 * The cache mode the driver chose outlives a device reset: a front-end
 * that caches the config (QEMU's vhost-user-blk) would otherwise believe
 * write-through while the device is back in write-back, and writes would
 * be acknowledged with no flush.
 */
static void test_cache_mode_survives_reset(void **state)
{
	uint8_t buf[512] = { 7 };
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.tio.volatile_cache = true;
	o.blk.writeback = true;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_int_equal(gdrv_config_read(f.drv, 32, 1), 1);
	gdrv_config_write(f.drv, 32, 1, 0); /* write-through */
	gdrv_reset(f.drv);
	assert_int_equal(gdrv_probe(f.drv), 0);
	assert_int_equal(gdrv_config_read(f.drv, 32, 1), 0);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, 0, buf, 512, 1),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(tio_stats(f.io)->by_op[VBACK_IO_FLUSH], 1);
	fx_teardown(&f);
}

/* 5.2.5.2: CONFIG_WCE negotiated without FLUSH reads writeback 0, and the
 * device is write-through, whatever the driver writes. */
static void test_wce_without_flush_reads_zero(void **state)
{
	uint8_t buf[512] = { 7 };
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.tio.volatile_cache = true;
	o.blk.writeback = true;
	o.drv.refuse = GDRV_F(VIRTIO_BLK_F_FLUSH);
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_true(gdrv_has(f.drv, VIRTIO_BLK_F_CONFIG_WCE));
	assert_false(gdrv_has(f.drv, VIRTIO_BLK_F_FLUSH));
	assert_int_equal(gdrv_config_read(f.drv, 32, 1), 0);
	gdrv_config_write(f.drv, 32, 1, 1);
	assert_int_equal(gdrv_config_read(f.drv, 32, 1), 0);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, 0, buf, 512, 1),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(tio_stats(f.io)->by_op[VBACK_IO_FLUSH], 1);
	fx_teardown(&f);
}

/* Discard disabled: write_zeroes_may_unmap reads 0 and a WRITE_ZEROES
 * with UNMAP writes zeroes without deallocating. */
static void test_no_unmap_without_discard(void **state)
{
	uint8_t seg[16] = { 0 };
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.tio.can_discard = true;
	o.tio.can_write_zeroes = true;
	o.blk.disabled_features = 1ull << VBACK_BLK_F_DISCARD;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_false(gdrv_has(f.drv, VIRTIO_BLK_F_DISCARD));
	assert_true(gdrv_has(f.drv, VIRTIO_BLK_F_WRITE_ZEROES));
	assert_int_equal(gdrv_config_read(f.drv, 56, 1), 0); /* may_unmap */
	memset(tio_data(f.io), 0x5a, 8192);
	seg[0] = 2;
	seg[8] = 4;
	seg[12] = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	assert_int_equal(rw(&f, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, 1),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(tio_stats(f.io)->last.op, VBACK_IO_WRITE_ZEROES);
	assert_int_equal(tio_stats(f.io)->last.flags, 0);
	assert_int_equal(tio_data(f.io)[2 * 512], 0);
	assert_int_equal(tio_data(f.io)[6 * 512], 0x5a);
	fx_teardown(&f);
}

static void test_resize_raises_config_change(void **state)
{
	struct fx f;
	uint32_t gen;

	(void)state;
	setup_mode(&f, 0, false);
	gen = gdrv_reg_read(f.drv, VIRTIO_MMIO_CONFIG_GENERATION);
	assert_int_equal(vback_blk_resize(f.blk, 4u << 20), 0);
	assert_int_equal(gdrv_interrupt(f.drv), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(gdrv_config_read(f.drv, 0, 8), 8192);
	assert_int_not_equal(gdrv_reg_read(f.drv,
					   VIRTIO_MMIO_CONFIG_GENERATION),
			     gen);
	assert_int_equal(vback_blk_resize(f.blk, 1000), -EINVAL);
	fx_teardown(&f);
}

/* A 4 KiB-block disk only resizes by whole 4 KiB blocks. */
static void test_resize_whole_logical_blocks(void **state)
{
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.tio.size = 1u << 20;
	o.tio.logical_block_size = 4096;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_int_equal(vback_blk_resize(f.blk, (4u << 20) + 512), -EINVAL);
	assert_int_equal(gdrv_config_read(f.drv, 0, 8), (1u << 20) / 512);
	assert_int_equal(vback_blk_resize(f.blk, (4u << 20) + 4096), 0);
	assert_int_equal(gdrv_config_read(f.drv, 0, 8), 8192 + 8);
	fx_teardown(&f);
}

static void test_multiqueue(void **state)
{
	uint8_t buf[512];
	struct gdrv_blk_req r = { 0 };
	struct gdrv_done d;
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.blk.num_queues = 4;
	o.drv.num_queues = 4;
	o.drv.max_data = 4096;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_true(gdrv_has(f.drv, VIRTIO_BLK_F_MQ));
	assert_int_equal(gdrv_config_read(f.drv, 34, 2), 4);
	tio_data(f.io)[512 * 3] = 0x33;
	r.type = VIRTIO_BLK_T_IN;
	r.sector = 3;
	r.data = buf;
	r.len = 512;
	assert_true(gdrv_submit(f.drv, 3, &r) >= 0);
	gdrv_kick(f.drv, 3, false);
	gdrv_interrupt(f.drv);
	assert_int_equal(gdrv_poll(f.drv, 0, &d, 1), 0);
	assert_int_equal(gdrv_poll(f.drv, 3, &d, 1), 1);
	assert_int_equal(d.status, VIRTIO_BLK_S_OK);
	assert_int_equal(buf[0], 0x33);
	fx_teardown(&f);
}

/*
 * A request blocked on back-pressure in one queue goes on when the
 * request holding the IO layer completes, even when that one belongs to
 * another queue that was reset meanwhile (an orphan): no new kick needed.
 */
static void test_blocked_retried_after_orphan(void **state)
{
	uint8_t a[512], b[512];
	struct gdrv_blk_req r = { 0 };
	struct gdrv_done d;
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.blk.num_queues = 2;
	o.drv.num_queues = 2;
	assert_int_equal(fx_setup(&f, &o), 0);
	tio_hold(f.io, true);
	r.type = VIRTIO_BLK_T_IN;
	r.data = a;
	r.len = 512;
	assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
	gdrv_kick(f.drv, 0, true);
	assert_int_equal(tio_pending(f.io), 1);
	/* Queue 0 goes away with its request in flight. */
	vback_dev_queue_reset(f.dev, 0);
	/* Queue 1's request meets a full IO layer. */
	tio_data(f.io)[512 * 5] = 0x55;
	r.sector = 5;
	r.data = b;
	tio_reject_next(f.io, 1, -EAGAIN);
	assert_true(gdrv_submit(f.drv, 1, &r) >= 0);
	gdrv_kick(f.drv, 1, true);
	assert_int_equal(tio_stats(f.io)->rejects, 1);
	assert_int_equal(tio_pending(f.io), 1);
	/* The orphan completes: queue 1 is retried without a kick. */
	assert_int_equal(tio_release(f.io, 1), 1);
	fx_pump(&f);
	assert_int_equal(tio_pending(f.io), 1);
	tio_release(f.io, 0);
	gdrv_interrupt(f.drv);
	assert_int_equal(gdrv_poll(f.drv, 1, &d, 1), 1);
	assert_int_equal(d.status, VIRTIO_BLK_S_OK);
	assert_int_equal(b[0], 0x55);
	assert_int_equal(vback_dev_inflight(f.dev), 0);
	fx_teardown(&f);
}

/*
 * A queue's per-slot arrays (virtqueue.c, ctx_alloc()) are resident only
 * where requests touched them, however often the queue is set up again.
 * calloc() keeps that only for the first block of a size: glibc serves a
 * later one from its heap and clears it, every page (1.2 MiB per queue of
 * vback-disk from a front-end's third connection on).
 */
static void test_queue_arrays_resident_where_touched(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	struct fx_options o = { 0 };
	unsigned char *vec;
	size_t pages, resident = 0;
	uintptr_t start;
	struct vq_ctx *ctx;
	struct fx f;

	(void)state;
#ifdef VB_ASAN
	skip(); /* ASan's allocator: the library uses calloc() there */
#endif
	if (getenv("VBACK_TEST_EMULATED"))
		skip(); /* an emulator's paging, not the host kernel's */
	o.drv.queue_size = 256;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(fx_setup(&f, &o), 0);
		if (i < 5)
			fx_teardown(&f);
	}
	ctx = f.dev->vqs[0].ctx;
	assert_non_null(ctx);
	start = (uintptr_t)ctx & ~(uintptr_t)(page - 1);
	pages = ((uintptr_t)ctx + ctx->bytes - start + (size_t)page - 1) /
		(size_t)page;
	assert_true(pages >= 64); /* 256 slots of up to 1026 pieces */
	vec = calloc(pages, 1);
	assert_non_null(vec);
	assert_int_equal(mincore((void *)start, pages * (size_t)page, vec), 0);
	for (size_t i = 0; i < pages; i++)
		resident += vec[i] & 1;
	/* The slots and the device's per-slot contexts, not the arrays. */
	assert_true(resident * 4 < pages);
	free(vec);
	fx_teardown(&f);
}

/* Per-queue counters add up to the device's; the histogram puts each
 * request where the loop's clock says it belongs. */
static void test_queue_stats_and_latency(void **state)
{
	uint8_t buf[1024];
	struct gdrv_blk_req r = { 0 };
	struct vback_blk_queue_stats qs[2];
	struct vback_blk_stats st;
	struct gdrv_done d;
	struct fx_options o = { 0 };
	uint64_t clock = 1000000;
	struct fx f;

	(void)state;
	o.blk.num_queues = 2;
	o.blk.latency_histogram = true;
	o.drv.num_queues = 2;
	o.drv.max_data = 4096;
	o.clock_ns = &clock;
	assert_int_equal(fx_setup(&f, &o), 0);
	/* Queue 1: a 1 KiB read held by the IO layer for 5 ms. */
	tio_hold(f.io, true);
	r.type = VIRTIO_BLK_T_IN;
	r.data = buf;
	r.len = sizeof(buf);
	assert_true(gdrv_submit(f.drv, 1, &r) >= 0);
	gdrv_kick(f.drv, 1, false);
	assert_int_equal(vback_blk_get_queue_stats(f.blk, 1, &qs[1]), 0);
	assert_int_equal(qs[1].inflight, 1);
	assert_int_equal(qs[1].req.reads, 0);
	clock += 5000000;
	assert_int_equal(tio_release(f.io, 0), 1);
	gdrv_interrupt(f.drv);
	assert_int_equal(gdrv_poll(f.drv, 1, &d, 1), 1);
	/* Queue 0: a write answered at once (no time passes), and a request
	 * of an unknown type. */
	tio_hold(f.io, false);
	r.type = VIRTIO_BLK_T_OUT;
	r.len = 512;
	assert_int_equal(gdrv_blk_rw(f.drv, 0, VIRTIO_BLK_T_OUT, 0, buf, 512,
				     1),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(gdrv_blk_rw(f.drv, 0, 77, 0, NULL, 0, 0),
			 VIRTIO_BLK_S_UNSUPP);

	assert_int_equal(vback_blk_get_queue_stats(f.blk, 0, &qs[0]), 0);
	assert_int_equal(vback_blk_get_queue_stats(f.blk, 1, &qs[1]), 0);
	assert_int_equal(vback_blk_get_queue_stats(f.blk, 2, &qs[1]), -EINVAL);
	assert_int_equal(vback_blk_get_queue_stats(f.blk, 0, NULL), -EINVAL);
	assert_int_equal(qs[1].inflight, 0);
	assert_int_equal(qs[1].req.reads, 1);
	assert_int_equal(qs[1].req.bytes_read, sizeof(buf));
	assert_int_equal(qs[1].req.writes, 0);
	assert_int_equal(qs[0].req.writes, 1);
	assert_int_equal(qs[0].req.bytes_written, 512);
	assert_int_equal(qs[0].req.unsupported, 1);
	vback_blk_get_stats(f.blk, &st);
	assert_int_equal(st.reads, qs[0].req.reads + qs[1].req.reads);
	assert_int_equal(st.writes, qs[0].req.writes + qs[1].req.writes);
	assert_int_equal(st.unsupported,
			 qs[0].req.unsupported + qs[1].req.unsupported);
	/* 5 ms = 5000 us: bucket 13 holds [4096, 8192) us. */
	for (unsigned int b = 0; b < VBACK_BLK_LATENCY_BUCKETS; b++) {
		assert_int_equal(qs[1].latency[b], b == 13 ? 1 : 0);
		assert_int_equal(qs[0].latency[b], b == 0 ? 2 : 0);
	}
	fx_teardown(&f);
}

/*
 * The histogram costs a read of the loop's clock per request answered and
 * one per batch taken off the ring, not two per request (a fifth of the
 * daemon's CPU with the null engine): 16 reads taken in one batch.
 */
static void test_latency_clock_reads(void **state)
{
	uint8_t buf[16][512];
	struct gdrv_blk_req r = { 0 };
	struct vback_blk_queue_stats qs;
	struct gdrv_done d[16];
	struct fx_options o = { 0 };
	unsigned int reads;
	struct fx f;

	(void)state;
	o.blk.latency_histogram = true;
	assert_int_equal(fx_setup(&f, &o), 0);
	for (unsigned int i = 0; i < 16; i++) {
		r.type = VIRTIO_BLK_T_IN;
		r.sector = i;
		r.data = buf[i];
		r.len = sizeof(buf[i]);
		assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
	}
	reads = f.clock_reads;
	gdrv_kick(f.drv, 0, true);
	fx_pump(&f);
	reads = f.clock_reads - reads;
	gdrv_interrupt(f.drv);
	assert_int_equal(gdrv_poll(f.drv, 0, d, 16), 16);
	assert_int_equal(vback_blk_get_queue_stats(f.blk, 0, &qs), 0);
	assert_int_equal(qs.req.reads, 16);
	assert_int_equal(qs.latency[0], 16);
	/* 16 answers, the batch, and what the loop reads for itself. */
	if (reads > 16 + 4)
		fail_msg("%u clock reads for 16 requests", reads);
	fx_teardown(&f);
}

/* Without latency_histogram the histogram stays empty. */
static void test_latency_off(void **state)
{
	uint8_t buf[512];
	struct vback_blk_queue_stats qs;
	struct fx_options o = { 0 };
	uint64_t clock = 123456789;
	struct fx f;

	(void)state;
	o.clock_ns = &clock;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_int_equal(gdrv_blk_rw(f.drv, 0, VIRTIO_BLK_T_IN, 0, buf, 512, 1),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(vback_blk_get_queue_stats(f.blk, 0, &qs), 0);
	assert_int_equal(qs.req.reads, 1);
	for (unsigned int b = 0; b < VBACK_BLK_LATENCY_BUCKETS; b++)
		assert_int_equal(qs.latency[b], 0);
	fx_teardown(&f);
}

struct qdone {
	int calls, result;
};

static void quiesced(void *opaque, int result)
{
	struct qdone *q = opaque;

	q->calls++;
	q->result = result;
}

/*
 * Quiesce with a request in flight: nothing new is taken, the request in
 * flight completes and reaches the guest, then one FLUSH, then the
 * callback. A guest reset meanwhile (re-initialise, offer, kick) does not
 * undo it: the shutdown drain cannot be defeated by the guest.
 */
static void test_quiesce_survives_guest_reset(void **state)
{
	uint8_t a[512], b[512];
	struct gdrv_blk_req r = { 0 };
	struct gdrv_done d;
	struct qdone q = { 0 };
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.tio.volatile_cache = true;
	o.blk.writeback = true;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_int_equal(vback_dev_quiesce(f.dev, quiesced, &q), 0);
	assert_int_equal(vback_dev_quiesce(f.dev, quiesced, &q), -EBUSY);
	vback_dev_resume(f.dev);
	/* A read in flight, then the quiesce. */
	tio_hold(f.io, true);
	r.type = VIRTIO_BLK_T_IN;
	r.data = a;
	r.len = 512;
	assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
	gdrv_kick(f.drv, 0, true);
	assert_int_equal(tio_pending(f.io), 1);
	assert_int_equal(vback_dev_quiesce(f.dev, quiesced, &q), 0);
	fx_pump(&f);
	assert_int_equal(q.calls, 0); /* waits for the read */
	/* New requests are not taken. */
	r.data = b;
	assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
	gdrv_kick(f.drv, 0, true);
	assert_int_equal(tio_stats(f.io)->submits, 1);
	/* The read completes and reaches the guest; then the flush. */
	assert_int_equal(tio_release(f.io, 0), 1);
	fx_pump(&f);
	gdrv_interrupt(f.drv);
	assert_int_equal(gdrv_poll(f.drv, 0, &d, 1), 1);
	assert_int_equal(d.status, VIRTIO_BLK_S_OK);
	assert_int_equal(tio_stats(f.io)->by_op[VBACK_IO_FLUSH], 1);
	tio_release(f.io, 0);
	fx_pump(&f);
	assert_int_equal(q.calls, 1);
	assert_int_equal(q.result, 0);
	/* The guest resets and starts over: still nothing is taken. */
	gdrv_reset(f.drv);
	assert_int_equal(gdrv_probe(f.drv), 0);
	r.data = b;
	assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
	gdrv_kick(f.drv, 0, true);
	fx_pump(&f);
	assert_int_equal(tio_stats(f.io)->by_op[VBACK_IO_READ], 1);
	assert_int_equal(q.calls, 1);
	/* Resumed: the request waiting in the ring is served. */
	tio_hold(f.io, false);
	vback_dev_resume(f.dev);
	fx_pump(&f);
	assert_int_equal(tio_stats(f.io)->by_op[VBACK_IO_READ], 2);
	fx_teardown(&f);
}

/* The final flush fails: the callback says so. A device without a
 * transport cannot quiesce. */
static void test_quiesce_reports_flush_error(void **state)
{
	struct qdone q = { 0 };
	struct vback_blk_options bo = { 0 };
	struct vback_blk *blk;
	struct tio *io = tio_create(NULL);
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	bo.io = tio_io(io);
	assert_int_equal(vback_blk_create(&bo, &blk), 0);
	assert_int_equal(vback_dev_quiesce(vback_blk_dev(blk), quiesced, &q),
			 -ENODEV);
	vback_blk_destroy(blk);
	tio_destroy(io);

	assert_int_equal(fx_setup(&f, &o), 0);
	tio_fail_next(f.io, 1, -EIO);
	assert_int_equal(vback_dev_quiesce(f.dev, quiesced, &q), 0);
	fx_pump(&f);
	assert_int_equal(q.calls, 1);
	assert_int_equal(q.result, -EIO);
	fx_teardown(&f);
}

static void test_legacy_mmio(void **state)
{
	uint8_t out[1024], in[1024];
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.version = 1;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_int_equal(gdrv_version(f.drv), 1);
	assert_false(gdrv_device_features(f.drv) & GDRV_F(VIRTIO_F_VERSION_1));
	assert_true(vback_dev_status(f.dev) & VIRTIO_CONFIG_S_DRIVER_OK);
	fx_pattern(out, sizeof(out), 9);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, 4, out, 1024, 2),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_IN, 4, in, 1024, 1),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(in, out, 1024);
	fx_teardown(&f);
}

/* Every translation capped at 100 bytes: buffers arrive in many pieces. */
static void test_capped_translations(void **state)
{
	uint8_t out[2048], in[2048];
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	for (unsigned int m = 0; m < 4; m++) {
		memset(&o, 0, sizeof(o));
		o.grant = true;
		o.drv.refuse = refuse_modes[m];
		o.drv.queue_size = 16;
		o.drv.max_data = 32768;
		assert_int_equal(fx_setup(&f, &o), 0);
		gmem_set_cap(f.mem, 100);
		fx_pattern(out, sizeof(out), m);
		/* 2048 bytes in 100-byte pieces: 21, far below the slot's
		 * 2 * (126 + 2) + 32 iovecs. */
		assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, 0, out, 2048, 1),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(rw(&f, VIRTIO_BLK_T_IN, 0, in, 2048, 2),
				 VIRTIO_BLK_S_OK);
		assert_memory_equal(in, out, sizeof(in));
		assert_int_equal(gmem_outstanding(f.mem), f.ring_maps);
		/* 32 KiB in 100-byte pieces (328) exceeds the per-slot
		 * iovecs (288): the request is answered IOERR, not dropped. */
		{
			static uint8_t big[32768];

			assert_int_equal(rw(&f, VIRTIO_BLK_T_IN, 0, big,
					    sizeof(big), 1),
					 VIRTIO_BLK_S_IOERR);
		}
		assert_int_equal(gmem_outstanding(f.mem), f.ring_maps);
		assert_int_equal(vback_dev_status(f.dev) &
					 VBACK_STATUS_NEEDS_RESET,
				 0);
		fx_teardown(&f);
	}
}

/*
 * A request of seg_max segments, every one of them crossing a guest-memory
 * boundary (translations capped at 2 KiB, segments of 4 KiB): twice as
 * many pieces as segments. A valid request: it must succeed, whatever the
 * transport's boundaries.
 */
static void test_every_segment_split(void **state)
{
	static uint8_t out[16 * 4096], in[16 * 4096];
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.grant = true;
	o.blk.seg_max = 16;
	o.drv.queue_size = 16;
	o.drv.max_data = sizeof(out);
	o.drv.max_segs = 16;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_int_equal(gdrv_config_read(f.drv, 12, 4), 16);
	gmem_set_cap(f.mem, 2048);
	fx_pattern(out, sizeof(out), 7);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, 8, out, sizeof(out), 16),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(rw(&f, VIRTIO_BLK_T_IN, 8, in, sizeof(in), 16),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(gmem_outstanding(f.mem), f.ring_maps);
	fx_teardown(&f);
}

/*
 * A chain's pieces live in its slot's packed array while they fit
 * (VQ_NEAR_PIECES, the status byte included), then in the slot's large
 * one: data and unmaps right on both sides of the move, in both
 * directions, with a view that unmaps. Packed arrays of neighbouring
 * slots are VQ_NEAR_PIECES + 1 entries apart, so that a usual request
 * does not keep a page of its own resident per slot.
 */
static void test_pieces_near_and_far(void **state)
{
	/* Data segments; the chain has two more pieces (header, status). */
	static const unsigned int segs[] = { 1, 13, 14, 15, 20, 14, 1, 15 };
	static uint8_t out[20 * 512], in[20 * 512];
	struct fx_options o = { 0 };
	struct vq_ctx *ctx;
	struct fx f;

	(void)state;
	o.grant = true;
	o.blk.seg_max = 32;
	o.drv.max_data = sizeof(out);
	o.drv.max_segs = 20;
	assert_int_equal(fx_setup(&f, &o), 0);
	for (unsigned int i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		uint32_t len = segs[i] * 512u;

		fx_pattern(out, len, i + 1);
		memset(in, 0, sizeof(in));
		assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, i, out, len, segs[i]),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(rw(&f, VIRTIO_BLK_T_IN, i, in, len, segs[i]),
				 VIRTIO_BLK_S_OK);
		assert_memory_equal(in, out, len);
		assert_memory_equal(tio_data(f.io) + i * 512u, out, len);
		assert_int_equal(gmem_outstanding(f.mem), f.ring_maps);
	}
	ctx = f.dev->vqs[0].ctx;
	assert_non_null(ctx->slots[0].iov_far);
	assert_ptr_equal(ctx->slots[1].iov_near,
			 ctx->slots[0].iov_near + VQ_NEAR_PIECES + 1);
	assert_ptr_equal(ctx->slots[1].maps_near,
			 ctx->slots[0].maps_near + VQ_NEAR_PIECES + 1);
	fx_teardown(&f);
}

/* An IO backend that takes at most 100 iovecs: seg_max is what still fits
 * when every segment splits in two, (100 - 32) / 2. */
static void test_seg_max_fits_io_limit(void **state)
{
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.tio.max_segments = 100;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_int_equal(gdrv_config_read(f.drv, 12, 4), 34);
	fx_teardown(&f);
	memset(&o, 0, sizeof(o));
	o.tio.max_segments = 20; /* less than the slack: still one */
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_int_equal(gdrv_config_read(f.drv, 12, 4), 1);
	fx_teardown(&f);
}

/* Rings mapped in 100-byte pieces: ring fields cross piece boundaries. */
static void test_rings_in_pieces(void **state)
{
	uint8_t out[1024], in[1024];
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	for (unsigned int m = 0; m < 4; m++) {
		memset(&o, 0, sizeof(o));
		o.grant = true;
		o.no_probe = true;
		o.drv.refuse = refuse_modes[m];
		o.drv.queue_size = 64;
		assert_int_equal(fx_setup(&f, &o), 0);
		gmem_set_cap(f.mem, 100);
		assert_int_equal(gdrv_probe(f.drv), 0);
		/* desc 1 KiB + avail ~134 B + used ~518 B in 100-byte pieces */
		assert_true(gmem_outstanding(f.mem) >= 11 + 2 + 6);
		for (unsigned int i = 0; i < 70; i++) { /* wrap the ring */
			fx_pattern(out, sizeof(out), i + m);
			assert_int_equal(rw(&f, VIRTIO_BLK_T_OUT, i, out, 1024,
					    2),
					 VIRTIO_BLK_S_OK);
			assert_int_equal(rw(&f, VIRTIO_BLK_T_IN, i, in, 1024,
					    1),
					 VIRTIO_BLK_S_OK);
			assert_memory_equal(in, out, sizeof(in));
		}
		assert_int_equal(gdrv_stats(f.drv)->bad_used, 0);
		gdrv_reset(f.drv);
		assert_int_equal(gmem_outstanding(f.mem), 0);
		fx_teardown(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_and_config),
		cmocka_unit_test(test_roundtrip_all_modes),
		cmocka_unit_test(test_used_len_and_status),
		cmocka_unit_test(test_used_len_covers_status),
		cmocka_unit_test(test_batch_fills_queue),
		cmocka_unit_test(test_flush_getid_discard_wz),
		cmocka_unit_test(test_read_only_disk),
		cmocka_unit_test(test_io_errors_and_backpressure),
		cmocka_unit_test(test_reset_with_io_in_flight),
		cmocka_unit_test(test_detach_with_io_in_flight),
		cmocka_unit_test(test_writethrough_flushes),
		cmocka_unit_test(test_cache_mode_survives_reset),
		cmocka_unit_test(test_wce_without_flush_reads_zero),
		cmocka_unit_test(test_no_unmap_without_discard),
		cmocka_unit_test(test_resize_raises_config_change),
		cmocka_unit_test(test_resize_whole_logical_blocks),
		cmocka_unit_test(test_multiqueue),
		cmocka_unit_test(test_blocked_retried_after_orphan),
		cmocka_unit_test(test_quiesce_survives_guest_reset),
		cmocka_unit_test(test_quiesce_reports_flush_error),
		cmocka_unit_test(test_queue_stats_and_latency),
		cmocka_unit_test(test_latency_off),
		cmocka_unit_test(test_legacy_mmio),
		cmocka_unit_test(test_capped_translations),
		cmocka_unit_test(test_rings_in_pieces),
		cmocka_unit_test(test_every_segment_split),
		cmocka_unit_test(test_pieces_near_and_far),
		cmocka_unit_test(test_seg_max_fits_io_limit),
		cmocka_unit_test(test_queue_arrays_resident_where_touched),
		cmocka_unit_test(test_latency_clock_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
