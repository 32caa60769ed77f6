/* SPDX-License-Identifier: MIT */
/*
 * Figures of the Xen transport on the fake Xen (a benchmark, not a test):
 *  - MMIO round trips per second: simulated vCPU -> event channel -> loop
 *    -> transport -> virtio-mmio register read -> IORESP_READY -> notify;
 *  - 4 KiB read and write requests per second through virtio-blk on a RAM
 *    disk, driven by the guest-driver model (each request costs the MMIO
 *    accesses of a kick and an interrupt acknowledgement).
 * The fake's event channels are eventfds on the same thread, so this
 * measures the transport's own cost plus two syscalls per round trip, not
 * a hypervisor exit.
 *
 * Usage: bench_xen [iterations]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <linux/virtio_blk.h>

#include <vback/epoll.h>

#include "fake_xen.h"
#include "guest_driver.h"
#include "guest_mem.h"
#include "test_io.h"
#include "xen_priv.h"

#define RAM_BASE  0x40000000ull
#define RAM_SIZE  (16ull << 20)
#define MMIO_BASE 0x02000000ull

struct bench {
	struct fake_dom *d;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t b_read(void *opaque, uint64_t off, unsigned int size)
{
	struct bench *b = opaque;
	uint64_t v = 0;

	if (fake_vcpu_mmio(b->d, 0, MMIO_BASE + off, size, 1, &v))
		abort();
	return v;
}

static void b_write(void *opaque, uint64_t off, unsigned int size, uint64_t v)
{
	struct bench *b = opaque;

	if (fake_vcpu_mmio(b->d, 0, MMIO_BASE + off, size, 0, &v))
		abort();
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 100000;
	const struct gmem_region r = { RAM_BASE, RAM_SIZE, false };
	struct vback_log log = { NULL, NULL, VBACK_LOG_WARN };
	struct vback_xen_options xo = { 0 };
	struct vback_xen_platform *pf;
	struct vback_xen_domain_options dopt = { 0 };
	struct vback_xen_device_options o = { 0 };
	struct vback_blk_options bo = { 0 };
	struct tio_options to = { 0 };
	struct gdrv_options go = { 0 };
	struct vback_xen_domain *dom;
	struct vback_xen_device *xdev;
	struct vback_loop *loop;
	struct vback_xen *xen;
	struct fake_xen *fx;
	struct vback_blk *blk;
	struct gmem *mem;
	struct gdrv *drv;
	struct tio *io;
	struct bench b;
	static uint8_t buf[4096];
	double t0, t1;
	long i;

	if (iters <= 0 || vback_epoll_loop_create(&log, &loop))
		return 1;
	fx = fake_xen_create();
	fake_xen_set_loop(fx, loop);
	mem = gmem_create(&r, 1);
	b.d = fake_dom_create_on(fx, 1, 1, RAM_BASE,
				 gmem_host(mem, RAM_BASE, RAM_SIZE), RAM_SIZE);
	xo.loop = loop;
	xo.log = &log;
	pf = fake_xen_platform_create(fx);
	xo.platform = pf;
	if (!b.d || !pf || vback_xen_create(&xo, &xen))
		return 1;
	dopt.domid = 1;
	dopt.irq_mode = VBACK_XEN_IRQ_SPI;
	to.size = 64u << 20;
	io = tio_create(&to);
	bo.io = tio_io(io);
	bo.log = &log;
	if (vback_xen_domain_create(xen, &dopt, &dom) ||
	    vback_blk_create(&bo, &blk))
		return 1;
	o.dev = vback_blk_dev(blk);
	o.base = MMIO_BASE;
	o.irq = 40;
	if (vback_xen_device_add(dom, &o, &xdev))
		return 1;
	go.access.mmio_read = b_read;
	go.access.mmio_write = b_write;
	go.access.opaque = &b;
	go.mem = mem;
	go.heap_base = RAM_BASE;
	go.heap_size = RAM_SIZE;
	drv = gdrv_create(&go);
	if (!drv || gdrv_probe(drv))
		return 1;

	t0 = now();
	for (i = 0; i < iters; i++)
		(void)b_read(&b, 0, 4); /* MagicValue */
	t1 = now();
	printf("mmio round trips: %ld in %.3f s = %.0f/s (%.2f us each)\n",
	       iters, t1 - t0, iters / (t1 - t0), (t1 - t0) * 1e6 / iters);

	for (int w = 0; w < 2; w++) {
		struct gdrv_blk_req req = { 0 };
		long n = iters / 4;

		req.type = w ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
		req.data = buf;
		req.len = sizeof(buf);
		req.segs = 1;
		t0 = now();
		for (i = 0; i < n; i++) {
			req.sector =
				(uint64_t)(i * 8) % ((64u << 20) / 512 - 8);
			if (gdrv_blk_sync(drv, 0, &req) != VIRTIO_BLK_S_OK)
				return 1;
		}
		t1 = now();
		printf("4 KiB %s: %ld in %.3f s = %.0f IOPS, %.1f MiB/s\n",
		       w ? "writes" : "reads", n, t1 - t0, n / (t1 - t0),
		       n * 4096.0 / (t1 - t0) / (1 << 20));
	}
	printf("foreign map calls: %llu, fake failure: %s\n",
	       (unsigned long long)fake_dom_foreign_map_calls(b.d),
	       fake_xen_failure(fx) ? fake_xen_failure(fx) : "none");

	vback_xen_device_remove(xdev);
	tio_release(io, 0);
	vback_blk_destroy(blk);
	vback_xen_domain_destroy(dom);
	gdrv_destroy(drv);
	tio_destroy(io);
	vback_xen_destroy(xen);
	fake_xen_platform_destroy(pf);
	fake_xen_destroy(fx);
	gmem_destroy(mem);
	vback_epoll_loop_destroy(loop);
	return 0;
}
