/* SPDX-License-Identifier: MIT */
/*
 * The fixture: simple loop (clock from the generic timer) + memory engine
 * on a caller buffer + virtio-blk + virtio-mmio register file, driven by
 * the guest-driver model through vback_mmio_read/write, as a bare-metal
 * embedder would wire them (the MMIO accesses would come from a trap
 * handler there).
 */
#include <errno.h>
#include <string.h>

#include "bmtest.h"

uint8_t bf_disk[BF_DISK_SIZE] __attribute__((aligned(4096)));
struct bf *bf_current;

/* ---- the held IO ---- */

static int hio_submit(void *opaque, struct vback_io_req *req)
{
	struct bf_io *h = opaque;
	int r = vback_io_submit(&h->inner, req);

	if (!r)
		h->submits++;
	return r;
}

static void hio_unplug(void *opaque)
{
	struct bf_io *h = opaque;

	if (!h->hold)
		vback_io_unplug(&h->inner);
}

static int hio_get_caps(void *opaque, struct vback_io_caps *caps)
{
	struct bf_io *h = opaque;

	return vback_io_get_caps(&h->inner, caps);
}

static void hio_close(void *opaque)
{
	struct bf_io *h = opaque;

	vback_io_close(&h->inner);
}

static const struct vback_io_ops hio_ops = {
	.submit = hio_submit,
	.unplug = hio_unplug,
	.get_caps = hio_get_caps,
	.close = hio_close,
};

/* ---- loop, interrupt line, log ---- */

static uint64_t bf_now(void *opaque)
{
	(void)opaque;
	return bm_now_ns();
}

static void bf_wake(void *opaque)
{
	struct bf *f = opaque;

	f->wakes++;
}

static void bf_set_irq(void *opaque, bool level)
{
	struct bf *f = opaque;

	if (level)
		f->irq_raised++;
}

static const struct vback_mmio_ops bf_mmio_ops = {
	.set_irq = bf_set_irq,
};

static void bf_log(void *opaque, enum vback_log_level level, const char *msg)
{
	struct bf *f = opaque;
	size_t n = strlen(msg);

	if (level <= VBACK_LOG_ERR)
		f->log_err++;
	else if (level == VBACK_LOG_WARN)
		f->log_warn++;
	if (f->logs_len + n + 2 < sizeof(f->logs)) {
		memcpy(f->logs + f->logs_len, msg, n);
		f->logs_len += n;
		f->logs[f->logs_len++] = '\n';
		f->logs[f->logs_len] = '\0';
	}
}

bool bf_logged(const struct bf *f, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i + n <= f->logs_len; i++) {
		if (!memcmp(f->logs + i, s, n))
			return true;
	}
	return false;
}

void bf_dispatch(struct bf *f)
{
	/* Bounded: a device that kept re-posting itself would show up as
	 * a failed check, not as a hang. */
	for (unsigned int i = 0; i < 10000; i++) {
		if (!vback_simple_loop_dispatch(f->loop))
			return;
	}
}

void bf_pump(void *opaque)
{
	struct bf *f = opaque;

	if (!f->pump_off)
		bf_dispatch(f);
}

int bf_setup(struct bf *f, const struct bf_options *o)
{
	const struct gmem_region regions[] = {
		{ BF_R0, BF_R0_SIZE, false },
		{ BF_R1, BF_R1_SIZE, false },
		{ BF_RO, BF_RO_SIZE, true },
	};
	struct vback_simple_loop_hooks hooks = { 0 };
	struct vback_io_memory_options mo = { 0 };
	struct vback_blk_options bo = { 0 };
	struct vback_mmio_options mmo = { 0 };
	struct gdrv_options dro = { 0 };
	int r;

	memset(f, 0, sizeof(*f));
	bf_current = f;
	f->log.fn = bf_log;
	f->log.opaque = f;
	f->log.max_level = VBACK_LOG_DEBUG;

	hooks.now_ns = bf_now;
	hooks.wake = bf_wake;
	hooks.opaque = f;
	r = vback_simple_loop_create(&hooks, &f->loop);
	if (r)
		return r;
	f->mem = gmem_create(regions, 3);
	if (!f->mem)
		return -ENOMEM;

	mo.buf = bf_disk;
	mo.size = sizeof(bf_disk);
	mo.log = &f->log;
	r = vback_io_memory_create(&mo, f->loop, &f->io.inner);
	if (r)
		return r;
	f->io_handle.ops = &hio_ops;
	f->io_handle.opaque = &f->io;

	bo.io = f->io_handle;
	bo.writeback = true;
	bo.seg_max = BF_SEG_MAX;
	bo.size_max = 8192;
	memcpy(bo.serial, BF_SERIAL, sizeof(BF_SERIAL) - 1);
	bo.log = &f->log;
	bo.name = "bm";
	r = vback_blk_create(&bo, &f->blk);
	if (r)
		return r;
	f->dev = vback_blk_dev(f->blk);

	mmo.dev = f->dev;
	mmo.ops = &bf_mmio_ops;
	mmo.opaque = f;
	mmo.gm = gmem_view(f->mem, true); /* counts maps and unmaps */
	mmo.loop = f->loop;
	mmo.log = &f->log;
	r = vback_mmio_create(&mmo, &f->mmio);
	if (r)
		return r;

	dro.access = gdrv_mmio_access(f->mmio);
	dro.mem = f->mem;
	dro.heap_base = BF_R0;
	dro.heap_size = BF_R0_SIZE;
	dro.refuse = o ? o->refuse : 0;
	dro.queue_size = BF_QUEUE;
	dro.max_data = BF_MAX_DATA;
	dro.max_segs = 8;
	dro.pump = bf_pump;
	dro.pump_opaque = f;
	f->drv = gdrv_create(&dro);
	if (!f->drv)
		return -ENOMEM;
	if (o && o->no_probe)
		return 0;
	return gdrv_probe(f->drv);
}

void bf_teardown(struct bf *f)
{
	if (f->mmio)
		vback_mmio_destroy(f->mmio);
	f->io.hold = false;
	if (f->io_handle.ops)
		vback_io_close(&f->io_handle);
	if (f->blk)
		vback_blk_destroy(f->blk);
	gdrv_destroy(f->drv);
	gmem_destroy(f->mem);
	if (f->loop) {
		bf_dispatch(f);
		vback_simple_loop_destroy(f->loop);
	}
	if (bf_current == f)
		bf_current = NULL;
	memset(f, 0, sizeof(*f));
}

void bf_pattern(void *buf, uint32_t len, uint32_t seed)
{
	uint8_t *p = buf;
	uint32_t x = seed * 2654435761u + 1;

	for (uint32_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}
