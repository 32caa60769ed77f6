/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static void fx_set_irq(void *opaque, bool level)
{
	struct fx *f = opaque;

	if (level)
		f->irq_raised++;
	else
		f->irq_lowered++;
	f->irq_level = level;
}

static const struct vback_mmio_ops fx_mmio_ops = {
	.set_irq = fx_set_irq,
};

static void fx_log(void *opaque, enum vback_log_level level, const char *msg)
{
	struct fx *f = opaque;

	if (level <= VBACK_LOG_ERR)
		f->log_err++;
	else if (level == VBACK_LOG_WARN)
		f->log_warn++;
	size_t n = strlen(f->logs);

	snprintf(f->last_log, sizeof(f->last_log), "%s", msg);
	if (n < sizeof(f->logs) - 1)
		snprintf(f->logs + n, sizeof(f->logs) - n, "%s\n", msg);
	if (getenv("FX_VERBOSE"))
		fprintf(stderr, "log[%d]: %s\n", level, msg);
}

static uint64_t fx_now(void *opaque)
{
	struct fx *f = opaque;

	f->clock_reads++;
	return f->clock_ns ? *f->clock_ns : f->now_ns;
}

void fx_pump(void *opaque)
{
	struct fx *f = opaque;

	tio_pump(f->loop);
}

int fx_setup(struct fx *f, const struct fx_options *o)
{
	const struct gmem_region regions[] = {
		{ FX_R0, FX_R0_SIZE, false },
		{ FX_R1, FX_R1_SIZE, false },
		{ FX_RO, FX_RO_SIZE, true },
	};
	struct fx_options def = { 0 };
	struct vback_blk_options bo;
	struct vback_mmio_options mo;
	struct gdrv_options dro;
	struct vback_simple_loop_hooks hooks = { 0 };
	struct tio_options tio;
	int r;

	if (!o)
		o = &def;
	memset(f, 0, sizeof(*f));
	f->log.fn = fx_log;
	f->log.opaque = f;
	f->log.max_level = VBACK_LOG_DEBUG;
	/* The loop's clock: the test's variable, or f->now_ns. */
	f->clock_ns = o->clock_ns;
	f->clock_reads = 0;
	hooks.now_ns = fx_now;
	hooks.opaque = f;
	if (vback_simple_loop_create(&hooks, &f->loop))
		return -ENOMEM;
	tio = o->tio;
	tio.loop = f->loop;
	f->mem = gmem_create(regions, 3);
	f->io = tio_create(&tio);
	if (!f->mem || !f->io)
		return -ENOMEM;
	bo = o->blk;
	bo.io = tio_io(f->io);
	bo.log = &f->log;
	if (!bo.name)
		bo.name = "fx";
	r = vback_blk_create(&bo, &f->blk);
	if (r)
		return r;
	f->dev = vback_blk_dev(f->blk);
	memset(&mo, 0, sizeof(mo));
	mo.dev = f->dev;
	mo.version = o->version;
	mo.ops = &fx_mmio_ops;
	mo.opaque = f;
	mo.gm = gmem_view(f->mem, o->grant);
	mo.loop = f->loop;
	mo.transport_features = o->transport_features;
	mo.log = &f->log;
	r = vback_mmio_create(&mo, &f->mmio);
	if (r)
		return r;
	dro = o->drv;
	dro.access = gdrv_mmio_access(f->mmio);
	dro.mem = f->mem;
	dro.heap_base = FX_R0;
	dro.heap_size = FX_R0_SIZE;
	dro.pump = fx_pump;
	dro.pump_opaque = f;
	f->drv = gdrv_create(&dro);
	if (!f->drv)
		return -ENOMEM;
	if (o->no_probe)
		return 0;
	r = gdrv_probe(f->drv);
	f->ring_maps = gmem_outstanding(f->mem);
	return r;
}

void fx_teardown(struct fx *f)
{
	/* The documented order: transport, IO, device. */
	if (f->mmio)
		vback_mmio_destroy(f->mmio);
	if (f->io)
		tio_release(f->io, 0);
	if (f->blk)
		vback_blk_destroy(f->blk);
	gdrv_destroy(f->drv);
	tio_destroy(f->io);
	gmem_destroy(f->mem);
	if (f->loop) {
		tio_pump(f->loop);
		vback_simple_loop_destroy(f->loop);
	}
	memset(f, 0, sizeof(*f));
}

void fx_pattern(void *buf, uint32_t len, uint32_t seed)
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
