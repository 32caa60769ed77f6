/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio register file semantics (virtio 1.2 section 4.2): identity,
 * 64-bit feature selection, interrupts, config generation, SHM, QueueReset,
 * QueueReady, device reset, and the legacy (version 1) register set.
 * The refusals are in test_hostile.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "fixture.h"

static uint64_t rd(struct fx *f, uint64_t off, unsigned int size)
{
	uint64_t v = 0xdeadbeef;

	assert_int_equal(vback_mmio_read(f->mmio, off, size, &v), 0);
	return v;
}

static void wr(struct fx *f, uint64_t off, uint32_t v)
{
	assert_int_equal(vback_mmio_write(f->mmio, off, 4, v), 0);
}

static int one_read(struct fx *f)
{
	uint8_t buf[512];
	struct gdrv_blk_req r = { 0 };

	r.type = VIRTIO_BLK_T_IN;
	r.data = buf;
	r.len = sizeof(buf);
	return gdrv_blk_sync(f->drv, 0, &r);
}

static void test_identity(void **state)
{
	struct fx f;

	(void)state;
	assert_int_equal(fx_setup(&f, NULL), 0);
	assert_int_equal(rd(&f, VIRTIO_MMIO_MAGIC_VALUE, 4), 0x74726976);
	assert_int_equal(rd(&f, VIRTIO_MMIO_VERSION, 4), 2);
	assert_int_equal(rd(&f, VIRTIO_MMIO_DEVICE_ID, 4), 2);
	assert_int_equal(rd(&f, VIRTIO_MMIO_VENDOR_ID, 4), 0x4b434256);
	fx_teardown(&f);
}

static void test_feature_words(void **state)
{
	uint64_t offered;
	struct fx f;

	(void)state;
	assert_int_equal(fx_setup(&f, NULL), 0);
	offered = vback_dev_features(f.dev);
	assert_true(offered & (1ull << VIRTIO_F_VERSION_1));
	assert_true(offered & (1ull << 40)); /* RING_RESET from mmio */
	wr(&f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd(&f, VIRTIO_MMIO_DEVICE_FEATURES, 4),
			 (uint32_t)offered);
	wr(&f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(&f, VIRTIO_MMIO_DEVICE_FEATURES, 4),
			 (uint32_t)(offered >> 32));
	wr(&f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(rd(&f, VIRTIO_MMIO_DEVICE_FEATURES, 4), 0);
	wr(&f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0xffffffff);
	assert_int_equal(rd(&f, VIRTIO_MMIO_DEVICE_FEATURES, 4), 0);
	/* What the driver accepted, both halves. */
	assert_int_equal(vback_dev_driver_features(f.dev),
			 gdrv_features(f.drv));
	fx_teardown(&f);
}

static void test_access_platform_from_transport(void **state)
{
	struct fx_options o = { 0 };
	struct fx f;

	(void)state;
	o.transport_features = 1ull << VIRTIO_F_ACCESS_PLATFORM;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_true(gdrv_has(f.drv, VIRTIO_F_ACCESS_PLATFORM));
	fx_teardown(&f);
	/* A driver that ignores it cannot get FEATURES_OK. */
	o.drv.refuse = 1ull << VIRTIO_F_ACCESS_PLATFORM;
	assert_int_equal(fx_setup(&f, &o), -EIO);
	assert_true(vback_dev_status(f.dev) & VIRTIO_CONFIG_S_FAILED);
	fx_teardown(&f);
}

static void test_interrupt_status_and_ack(void **state)
{
	struct fx f;

	(void)state;
	assert_int_equal(fx_setup(&f, NULL), 0);
	assert_int_equal(rd(&f, VIRTIO_MMIO_INTERRUPT_STATUS, 4), 0);
	/* A completed request raises the used-buffer interrupt. */
	{
		uint8_t buf[512];
		struct gdrv_blk_req r = { 0 };

		r.type = VIRTIO_BLK_T_IN;
		r.data = buf;
		r.len = 512;
		assert_true(gdrv_submit(f.drv, 0, &r) >= 0);
		gdrv_kick(f.drv, 0, false);
	}
	assert_int_equal(rd(&f, VIRTIO_MMIO_INTERRUPT_STATUS, 4),
			 VIRTIO_MMIO_INT_VRING);
	assert_true(f.irq_level);
	assert_int_equal(f.irq_raised, 1);
	/* A config change adds bit 1. */
	assert_int_equal(vback_blk_resize(f.blk, 2u << 20), 0);
	assert_int_equal(rd(&f, VIRTIO_MMIO_INTERRUPT_STATUS, 4),
			 VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	/* Acknowledging one bit keeps the line up... */
	wr(&f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(rd(&f, VIRTIO_MMIO_INTERRUPT_STATUS, 4),
			 VIRTIO_MMIO_INT_VRING);
	assert_true(f.irq_level);
	/* ...acknowledging everything drops it. */
	wr(&f, VIRTIO_MMIO_INTERRUPT_ACK, 0xffffffff);
	assert_int_equal(rd(&f, VIRTIO_MMIO_INTERRUPT_STATUS, 4), 0);
	assert_false(f.irq_level);
	assert_int_equal(f.irq_lowered, 1);
	fx_teardown(&f);
}

static void test_config_generation_and_widths(void **state)
{
	uint32_t gen;
	struct fx f;

	(void)state;
	assert_int_equal(fx_setup(&f, NULL), 0);
	gen = (uint32_t)rd(&f, VIRTIO_MMIO_CONFIG_GENERATION, 4);
	assert_int_equal(rd(&f, 0x100, 8), 2048);
	assert_int_equal(rd(&f, 0x100, 4), 2048);
	assert_int_equal(rd(&f, 0x101, 1), 2048 >> 8);
	assert_int_equal(rd(&f, 0x100 + 20, 2), 512);
	assert_int_equal(vback_blk_resize(f.blk, 3u << 20), 0);
	assert_int_equal(rd(&f, VIRTIO_MMIO_CONFIG_GENERATION, 4), gen + 1);
	assert_int_equal(rd(&f, 0x100, 8), 6144);
	/* Last byte of the config space is readable, one more is not. */
	assert_int_equal(vback_dev_config_size(f.dev), 72);
	rd(&f, 0x100 + 71, 1);
	fx_teardown(&f);
}

static void test_shm_none(void **state)
{
	struct fx f;

	(void)state;
	assert_int_equal(fx_setup(&f, NULL), 0);
	for (uint32_t sel = 0; sel < 3; sel++) {
		wr(&f, VIRTIO_MMIO_SHM_SEL, sel);
		assert_int_equal(rd(&f, VIRTIO_MMIO_SHM_LEN_LOW, 4),
				 0xffffffff);
		assert_int_equal(rd(&f, VIRTIO_MMIO_SHM_LEN_HIGH, 4),
				 0xffffffff);
		assert_int_equal(rd(&f, VIRTIO_MMIO_SHM_BASE_LOW, 4),
				 0xffffffff);
		assert_int_equal(rd(&f, VIRTIO_MMIO_SHM_BASE_HIGH, 4),
				 0xffffffff);
	}
	fx_teardown(&f);
}

static void test_queue_reset_and_ready(void **state)
{
	struct fx f;

	(void)state;
	assert_int_equal(fx_setup(&f, NULL), 0);
	assert_true(gdrv_has(f.drv, 40));
	wr(&f, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(&f, VIRTIO_MMIO_QUEUE_READY, 4), 1);
	assert_int_equal(rd(&f, VIRTIO_MMIO_QUEUE_NUM_MAX, 4), 256);
	wr(&f, 0x0c0, 1);
	assert_int_equal(rd(&f, 0x0c0, 4), 0); /* reset complete */
	assert_int_equal(rd(&f, VIRTIO_MMIO_QUEUE_READY, 4), 0);
	assert_false(vback_dev_queue_enabled(f.dev, 0));
	/* Kicks of a reset queue are ignored. */
	wr(&f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	/* Re-enable: the driver sets the queue up again. */
	gdrv_reset(f.drv);
	assert_int_equal(gdrv_probe(f.drv), 0);
	assert_int_equal(one_read(&f), VIRTIO_BLK_S_OK);
	/* QueueReady = 0 disables too. */
	wr(&f, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(&f, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_false(vback_dev_queue_enabled(f.dev, 0));
	fx_teardown(&f);
}

/*
 * A guest writing QueueReady=1 over a ring outside its memory, 100,000
 * times, and a guest that breaks the protocol and resets in a loop: a
 * handful of log lines per 5 s window, then one line saying how many were
 * not logged.
 */
static void test_guest_cannot_flood_the_log(void **state)
{
	struct fx_options o = { 0 };
	unsigned int lines;
	struct fx f;

	(void)state;
	o.no_probe = true;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_int_equal(gdrv_init_features(f.drv), 0);
	(void)vback_mmio_write(f.mmio, VIRTIO_MMIO_QUEUE_SEL, 4, 0);
	(void)vback_mmio_write(f.mmio, VIRTIO_MMIO_QUEUE_NUM, 4, 64);
	(void)vback_mmio_write(f.mmio, VIRTIO_MMIO_QUEUE_DESC_LOW, 4,
			       (uint32_t)FX_HOLE);
	(void)vback_mmio_write(f.mmio, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 4,
			       (uint32_t)FX_R0);
	(void)vback_mmio_write(f.mmio, VIRTIO_MMIO_QUEUE_USED_LOW, 4,
			       (uint32_t)FX_R0 + 0x1000);
	for (unsigned int i = 0; i < 100000; i++)
		(void)vback_mmio_write(f.mmio, VIRTIO_MMIO_QUEUE_READY, 4, 1);
	assert_false(vback_dev_queue_enabled(f.dev, 0));
	lines = f.log_warn + f.log_err;
	print_message("100000 failed enables: %u lines\n", lines);
	assert_true(lines >= 1 && lines <= 10);
	/* The next window says what was dropped. */
	f.now_ns += 5000000000ull;
	(void)vback_mmio_write(f.mmio, VIRTIO_MMIO_QUEUE_READY, 4, 1);
	assert_non_null(strstr(f.logs, "99990 lines the guest triggered were "
				       "not logged"));
	assert_non_null(strstr(f.last_log, "enable failed"));

	/* Break (DRIVER_OK without FEATURES_OK), reset, again and again. */
	f.now_ns += 5000000000ull;
	lines = f.log_warn + f.log_err;
	for (unsigned int i = 0; i < 10000; i++) {
		(void)vback_mmio_write(f.mmio, VIRTIO_MMIO_STATUS, 4, 0);
		(void)vback_mmio_write(f.mmio, VIRTIO_MMIO_STATUS, 4,
				       VIRTIO_CONFIG_S_ACKNOWLEDGE |
					       VIRTIO_CONFIG_S_DRIVER |
					       VIRTIO_CONFIG_S_DRIVER_OK);
	}
	assert_true(rd(&f, VIRTIO_MMIO_STATUS, 4) &
		    VIRTIO_CONFIG_S_NEEDS_RESET);
	print_message("10000 break-and-reset cycles: %u lines\n",
		      f.log_warn + f.log_err - lines);
	assert_true(f.log_warn + f.log_err - lines <= 11);
	fx_teardown(&f);
}

static void test_status_reset_clears_state(void **state)
{
	struct fx f;

	(void)state;
	assert_int_equal(fx_setup(&f, NULL), 0);
	assert_int_equal(vback_blk_resize(f.blk, 2u << 20), 0);
	assert_true(f.irq_level);
	wr(&f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(&f, VIRTIO_MMIO_STATUS, 4), 0);
	assert_int_equal(rd(&f, VIRTIO_MMIO_INTERRUPT_STATUS, 4), 0);
	assert_false(f.irq_level);
	assert_int_equal(vback_dev_driver_features(f.dev), 0);
	assert_int_equal(rd(&f, VIRTIO_MMIO_QUEUE_READY, 4), 0);
	fx_teardown(&f);
}

/* A read kept in flight by the disk (published and kicked). */
static void read_in_flight(struct fx *f, uint8_t *buf)
{
	struct gdrv_blk_req r = { 0 };

	r.type = VIRTIO_BLK_T_IN;
	r.data = buf;
	r.len = 512;
	tio_hold(f->io, true);
	assert_true(gdrv_submit(f->drv, 0, &r) >= 0);
	gdrv_kick(f->drv, 0, true);
	assert_int_equal(tio_pending(f->io), 1);
}

/*
 * A reset is complete (Status reads 0, QueueReset reads 0) only once the
 * requests it orphaned are done: until then their IO may still write into
 * guest memory the driver would reuse (virtio 1.2 section 2.4).
 */
static void test_reset_complete_after_inflight_io(void **state)
{
	uint8_t buf[512];
	uint32_t status;
	struct fx f;

	(void)state;
	assert_int_equal(fx_setup(&f, NULL), 0);
	read_in_flight(&f, buf);
	wr(&f, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(&f, 0x0c0, 1);
	assert_false(vback_dev_queue_enabled(f.dev, 0));
	assert_int_equal(rd(&f, 0x0c0, 4), 1); /* in progress */
	assert_true(vback_dev_resetting(f.dev, 0));
	assert_false(vback_dev_resetting(f.dev, 1));
	assert_int_equal(tio_release(f.io, 0), 1);
	assert_int_equal(rd(&f, 0x0c0, 4), 0);
	assert_false(vback_dev_resetting(f.dev, -1));

	/* Device reset: Status keeps reading the old value, then 0. */
	gdrv_reset(f.drv);
	assert_int_equal(gdrv_probe(f.drv), 0);
	read_in_flight(&f, buf);
	status = (uint32_t)rd(&f, VIRTIO_MMIO_STATUS, 4);
	assert_true(status & VIRTIO_CONFIG_S_DRIVER_OK);
	wr(&f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(vback_dev_status(f.dev), 0); /* reset did happen */
	assert_int_equal(rd(&f, VIRTIO_MMIO_STATUS, 4), status);
	assert_true(vback_dev_resetting(f.dev, -1));
	assert_int_equal(tio_release(f.io, 0), 1);
	assert_int_equal(rd(&f, VIRTIO_MMIO_STATUS, 4), 0);
	/* Nothing in flight: complete at once. */
	gdrv_reset(f.drv);
	assert_int_equal(gdrv_probe(f.drv), 0);
	wr(&f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(&f, VIRTIO_MMIO_STATUS, 4), 0);
	fx_teardown(&f);
}

static void test_features_ok_refused_without_version_1(void **state)
{
	struct fx f;

	(void)state;
	assert_int_equal(fx_setup(&f, NULL), 0);
	wr(&f, VIRTIO_MMIO_STATUS, 0);
	wr(&f, VIRTIO_MMIO_STATUS, 1);
	wr(&f, VIRTIO_MMIO_STATUS, 3);
	wr(&f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(&f, VIRTIO_MMIO_DRIVER_FEATURES, 1u << VIRTIO_BLK_F_FLUSH);
	wr(&f, VIRTIO_MMIO_STATUS, 11);
	assert_int_equal(rd(&f, VIRTIO_MMIO_STATUS, 4), 3);
	fx_teardown(&f);
}

static void test_legacy_registers(void **state)
{
	struct fx_options o = { 0 };
	uint64_t v;
	struct fx f;

	(void)state;
	o.version = 1;
	assert_int_equal(fx_setup(&f, &o), 0);
	assert_int_equal(rd(&f, VIRTIO_MMIO_VERSION, 4), 1);
	wr(&f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(&f, VIRTIO_MMIO_DEVICE_FEATURES, 4), 0);
	wr(&f, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_true(rd(&f, VIRTIO_MMIO_QUEUE_PFN, 4) != 0);
	/* Modern-only registers do not exist here. */
	assert_int_equal(vback_mmio_read(f.mmio, VIRTIO_MMIO_QUEUE_READY, 4,
					 &v),
			 -EINVAL);
	assert_int_equal(vback_mmio_read(f.mmio, VIRTIO_MMIO_CONFIG_GENERATION,
					 4, &v),
			 -EINVAL);
	assert_int_equal(vback_mmio_write(f.mmio, VIRTIO_MMIO_QUEUE_DESC_LOW, 4,
					  0),
			 -EINVAL);
	assert_int_equal(vback_mmio_write(f.mmio, VIRTIO_MMIO_GUEST_PAGE_SIZE,
					  4, 3),
			 -EINVAL);
	assert_int_equal(one_read(&f), VIRTIO_BLK_S_OK);
	/* PFN 0 releases the queue. */
	wr(&f, VIRTIO_MMIO_QUEUE_PFN, 0);
	assert_false(vback_dev_queue_enabled(f.dev, 0));
	assert_int_equal(rd(&f, VIRTIO_MMIO_QUEUE_PFN, 4), 0);
	fx_teardown(&f);
}

static void no_irq(void *opaque, bool level)
{
	(void)opaque;
	(void)level;
}

static const struct vback_mmio_ops no_irq_ops = { .set_irq = no_irq };

static void test_create_options_and_log_once(void **state)
{
	struct vback_mmio_options mo;
	struct vback_mmio *m2;
	uint64_t v;
	struct fx f;

	(void)state;
	assert_int_equal(fx_setup(&f, NULL), 0);
	memset(&mo, 0, sizeof(mo));
	mo.dev = f.dev;
	mo.version = 3;
	assert_int_equal(vback_mmio_create(&mo, &m2), -EINVAL);
	/* Already attached. */
	mo.version = 2;
	mo.ops = &no_irq_ops;
	mo.gm = gmem_view(f.mem, false);
	/* No loop: refused. */
	assert_int_equal(vback_mmio_create(&mo, &m2), -EINVAL);
	mo.loop = f.loop;
	assert_int_equal(vback_mmio_create(&mo, &m2), -EBUSY);
	assert_int_equal(vback_mmio_create(NULL, &m2), -EINVAL);
	f.log_warn = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(vback_mmio_read(f.mmio, 0x0f0, 4, &v),
				 -EINVAL);
	assert_int_equal(f.log_warn, 1);
	fx_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_feature_words),
		cmocka_unit_test(test_access_platform_from_transport),
		cmocka_unit_test(test_interrupt_status_and_ack),
		cmocka_unit_test(test_config_generation_and_widths),
		cmocka_unit_test(test_shm_none),
		cmocka_unit_test(test_queue_reset_and_ready),
		cmocka_unit_test(test_guest_cannot_flood_the_log),
		cmocka_unit_test(test_status_reset_clears_state),
		cmocka_unit_test(test_reset_complete_after_inflight_io),
		cmocka_unit_test(test_features_ok_refused_without_version_1),
		cmocka_unit_test(test_legacy_registers),
		cmocka_unit_test(test_create_options_and_log_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
