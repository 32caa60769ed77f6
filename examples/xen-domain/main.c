/* SPDX-License-Identifier: MIT */
/*
 * vback-xen-domain: a Xen backend domain with no OS. It serves the
 * virtio-mmio disks that libxl puts in its xenstore tree for one guest
 * (disk = [ '...,backendtype=standalone,specification=virtio,backend=THIS,
 * target=module' ]), with the same virtio-blk and IOREQ code that runs in
 * the Linux daemon (libvback-freestanding.a) on the hypercall platform of
 * platform/ and the runtime of runtime/.
 *
 *   1. boot: console, device tree, heap, events, xenstore;
 *   2. wait for the relation (/local/domain/SELF/target, written last by
 *      vback-xen-target in Dom0), then show that Xen refuses this domain
 *      the memory of any other domain (Dom0's);
 *   3. discovery on its own backend tree: each disk's "params" says what
 *      it serves: "module" (the boot module, e.g. an image given as the
 *      domain's ramdisk) or "ram:SIZE" (zeroed, K or M suffix);
 *   4. serve until every disk it accepted is released (the guest is
 *      gone, or libxl removed or closed the nodes), then release
 *      everything, report the footprint and power off: the target
 *      relation ties this domain to that one guest. No target within
 *      300 s: it says so and crashes (SHUTDOWN_crash).
 */
#include <errno.h>
#include <string.h>

#include <stdint.h>

#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/hvm/params.h>

#include <vback/io.h>
#include <vback/loop.h>
#include <vback/virtio.h>
#include <vback/xen.h>

#include "fdt.h"
#include "platform.h"
#include "xd.h"
#include "xs.h"

#define WINDOW_MAX (128ull << 20) /* of the extended region, for mappings */
#define MAX_DISKS  4

struct disk {
	bool used;
	uint16_t domid;
	uint32_t devid;
	struct vback_io io;
	struct vback_blk *blk;
	char name[32];
};

static struct {
	struct xd_boot boot;
	uint16_t self, guest;
	struct xd_xs xs;
	uint32_t xs_port;
	struct vback_loop *loop;
	struct vback_xen_platform *pf;
	struct vback_xen *xen;
	struct vback_xen_backend *be;
	struct vback_log log;
	struct disk disks[MAX_DISKS];
	unsigned int live, served;
	bool module_taken;
} m;

/* ------------------------------------------------------------------ */
/* Glue: vback's log and loop on the runtime                           */
/* ------------------------------------------------------------------ */

static void log_line(void *opaque, enum vback_log_level level, const char *msg)
{
	(void)opaque;
	xd_printf("vback: %s: %s\n", vback_log_level_name(level), msg);
}

static void loop_wake(void *opaque)
{
	(void)opaque;
	xd_wake();
}

static uint64_t loop_now(void *opaque)
{
	(void)opaque;
	return xd_now_ns();
}

static void loop_idle(void *opaque, uint64_t timeout_ns)
{
	(void)opaque;
	xd_wait(timeout_ns);
}

static void xs_notify(void *opaque)
{
	(void)opaque;
	xd_evtchn_send(m.xs_port);
}

static void xs_wait(void *opaque)
{
	(void)opaque;
	xd_wait(1000000000u); /* and look again at least every second */
}

/* ------------------------------------------------------------------ */
/* Disks                                                               */
/* ------------------------------------------------------------------ */

/* "ram:SIZE" (K or M suffix): its size in bytes, or 0. */
static uint64_t ram_size(const char *s)
{
	uint64_t v = 0;

	if (strncmp(s, "ram:", 4))
		return 0;
	for (s += 4; *s >= '0' && *s <= '9'; s++) {
		if (v > (1ull << 40))
			return 0;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s == 'K' || *s == 'k')
		v <<= 10, s++;
	else if (*s == 'M' || *s == 'm')
		v <<= 20, s++;
	return *s ? 0 : v;
}

static int be_add(void *opaque, const struct vback_xen_device_config *cfg,
		  struct vback_dev **dev)
{
	struct vback_io_memory_options mo = {
		.read_only = cfg->read_only,
		.log = &m.log,
	};
	struct vback_blk_options bo = {
		.queue_size = 64, /* the queue's block is ~ slots x seg_max */
		.seg_max = 32,
		.writeback = true,
		.read_only = cfg->read_only,
		.log = &m.log,
	};
	struct disk *d = NULL;
	uint64_t size;
	int ret;

	(void)opaque;
	for (unsigned int i = 0; i < MAX_DISKS && !d; i++)
		if (!m.disks[i].used)
			d = &m.disks[i];
	if (!d)
		return -ENOSPC;
	xd_printf("vback-xen-domain: config: dom%u %s/%u base 0x%llx irq %u "
		  "params '%s' %s%s\n",
		  cfg->domid,
		  cfg->layout == VBACK_XEN_LAYOUT_VIRTIO_DISK ? "virtio_disk"
							      : "virtio",
		  cfg->devid, (unsigned long long)cfg->base, cfg->irq,
		  cfg->params, cfg->read_only ? "ro" : "rw",
		  cfg->grant_usage ? " grants" : "");
	if (cfg->domid != m.guest) {
		xd_printf("vback-xen-domain: dom%u is not the guest this "
			  "domain serves (dom%u): refused\n",
			  cfg->domid, m.guest);
		return -EPERM;
	}
	if (!strcmp(cfg->params, "module")) {
		size = m.boot.initrd_end - m.boot.initrd_start;
		if (!m.boot.initrd_start || !size || size % 512 ||
		    m.module_taken) {
			xd_printf("vback-xen-domain: params 'module': no boot "
				  "module (ramdisk = IMAGE in this domain's "
				  "xl config, a multiple of 512 bytes), or it "
				  "serves another disk already\n");
			return -EINVAL;
		}
		mo.buf = (void *)(uintptr_t)m.boot.initrd_start;
		mo.size = size;
		m.module_taken = true;
	} else if ((size = ram_size(cfg->params)) && size % 512 == 0) {
		mo.size = size; /* allocated, zeroed, by the engine */
	} else {
		xd_printf("vback-xen-domain: params '%s': want 'module' or "
			  "'ram:SIZE' (a multiple of 512, K or M suffix)\n",
			  cfg->params);
		return -EINVAL;
	}
	ret = vback_io_memory_create(&mo, m.loop, &d->io);
	if (ret < 0)
		goto fail_module;
	xd_snprintf(d->name, sizeof(d->name), "dom%u/%u", cfg->domid,
		    cfg->devid);
	bo.io = d->io;
	bo.name = d->name;
	ret = vback_blk_create(&bo, &d->blk);
	if (ret < 0) {
		vback_io_close(&d->io);
		goto fail_module;
	}
	d->used = true;
	d->domid = cfg->domid;
	d->devid = cfg->devid;
	m.live++;
	m.served++;
	*dev = vback_blk_dev(d->blk);
	return 0;
fail_module:
	if (mo.buf)
		m.module_taken = false;
	xd_printf("vback-xen-domain: %s: cannot create the disk: %d\n",
		  cfg->backend_path, ret);
	return ret;
}

static void be_remove(void *opaque, const struct vback_xen_device_config *cfg,
		      struct vback_dev *dev)
{
	struct vback_blk_stats st = { 0 };

	(void)opaque;
	for (unsigned int i = 0; i < MAX_DISKS; i++) {
		struct disk *d = &m.disks[i];

		if (!d->used || vback_blk_dev(d->blk) != dev)
			continue;
		vback_blk_get_stats(d->blk, &st);
		/* The documented order: detached already; IO, then device. */
		vback_io_close(&d->io);
		vback_blk_destroy(d->blk);
		if (!strcmp(cfg->params, "module"))
			m.module_taken = false;
		d->used = false;
		m.live--;
		xd_printf("vback-xen-domain: %s released (reads=%llu "
			  "writes=%llu flushes=%llu io_errors=%llu)\n",
			  d->name, (unsigned long long)st.reads,
			  (unsigned long long)st.writes,
			  (unsigned long long)st.flushes,
			  (unsigned long long)st.io_errors);
		break;
	}
	if (!m.live && m.served) {
		/* Its target is set once: nothing else to serve. */
		xd_printf("vback-xen-domain: dom%u is gone: every disk "
			  "released, shutting down\n",
			  m.guest);
		vback_loop_stop(m.loop);
	}
}

static const struct vback_xen_backend_ops be_ops = {
	.add = be_add,
	.remove = be_remove,
};

/* ------------------------------------------------------------------ */
/* Boot                                                                */
/* ------------------------------------------------------------------ */

/* Wait for /local/domain/SELF/target (vback-xen-target writes it last):
 * a xenstore watch on it, so the domain sleeps meanwhile. */
static int wait_target(uint16_t *guest)
{
	uint64_t start = xd_now_ns(), limit = 300ull * 1000000000u;
	struct xd_xs_event ev;
	bool said = false;
	char buf[16];
	int ret;

	ret = xd_xs_watch(&m.xs, "target", "vb-target");
	if (ret < 0)
		return ret;
	for (;;) {
		unsigned long v = 0;
		const char *s = buf;
		uint64_t now;

		ret = xd_xs_read(&m.xs, 0, "target", buf, sizeof(buf));
		if (ret > 0) {
			for (; *s >= '0' && *s <= '9' && v < 0x7ff0; s++)
				v = v * 10 + (unsigned long)(*s - '0');
			ret = *s || v == 0 || v >= 0x7ff0 ? -EINVAL : 0;
			*guest = (uint16_t)v;
			break;
		}
		if (ret != -ENOENT)
			break;
		if (!said) {
			xd_printf("vback-xen-domain: waiting for Dom0 to make "
				  "dom%u a guest's device model "
				  "(vback-xen-target %u GUEST)\n",
				  m.self, m.self);
			said = true;
		}
		/* Until the watch fires (any event: read again). */
		for (;;) {
			xd_xs_poll(&m.xs);
			if (xd_xs_next_event(&m.xs, &ev))
				break;
			now = xd_now_ns();
			if (now - start > limit) {
				ret = -ETIMEDOUT;
				goto out;
			}
			xd_wait(limit - (now - start));
		}
	}
out:
	xd_xs_unwatch(&m.xs, "target", "vb-target");
	/* Events of that watch still queued are nobody's: drop them. */
	while (xd_xs_next_event(&m.xs, &ev))
		;
	return ret;
}

/* Xen, not a kernel driver, is what keeps this domain to its guest: ask
 * it for a page of Dom0 and show the answer. */
static void show_isolation(void)
{
	uint64_t gfn = GUEST_RAM0_BASE >> XD_PAGE_SHIFT;
	int err = 0, ret;
	void *addr = NULL;

	ret = m.pf->ops->map_foreign(m.pf->opaque, 0, &gfn, 1, &err, &addr);
	if (ret == 0 && err == 0) {
		xd_printf("vback-xen-domain: isolation: FAIL: Xen let this "
			  "domain map a page of Dom0\n");
		m.pf->ops->unmap_foreign(m.pf->opaque, addr, 1);
		return;
	}
	if (ret == 0)
		m.pf->ops->unmap_foreign(m.pf->opaque, addr, 1);
	xd_printf("vback-xen-domain: isolation: XENMEM_add_to_physmap_batch "
		  "(gmfn_foreign) of Dom0's memory: %d (%s)\n",
		  ret ? ret : err,
		  ret == -EPERM || err == -EPERM ? "refused: EPERM"
						 : "refused");
}

static void report(void)
{
	struct xd_heap_stats hs;
	struct xd_platform_stats ps = { 0 };
	uint64_t waits, wfis, empty;

	xd_heap_stats(&hs);
	xd_wait_stats(&waits, &wfis, &empty);
	if (m.pf)
		xd_platform_stats(m.pf, &ps);
	xd_printf("vback-xen-domain: footprint: image %llu bytes (file "
		  "%llu), heap peak %llu of %llu bytes in %llu allocations, "
		  "%llu failed; mapping window peak %llu pages; %llu "
		  "interrupts, %llu waits (%llu in WFI)\n",
		  (unsigned long long)(__end - __image_start),
		  (unsigned long long)(__image_end - __image_start),
		  (unsigned long long)hs.peak, (unsigned long long)hs.size,
		  (unsigned long long)hs.allocs,
		  (unsigned long long)hs.failures,
		  (unsigned long long)ps.window_peak,
		  (unsigned long long)xd_irq_count(), (unsigned long long)waits,
		  (unsigned long long)wfis);
}

static int boot(const void *fdt)
{
	struct vback_simple_loop_hooks hooks = {
		.wake = loop_wake,
		.now_ns = loop_now,
		.idle = loop_idle,
	};
	struct xd_xs_io io = { .notify = xs_notify, .wait = xs_wait };
	uint64_t pfn = 0, port = 0, heap_end, window;
	struct xd_platform_options po = { 0 };
	struct vback_xen_options xo = { 0 };
	char buf[16];
	int ret;

	ret = xd_fdt_parse(fdt, 1u << 20, &m.boot);
	if (ret < 0 || !m.boot.xen || !m.boot.gic_v3 || !m.boot.nr_ext ||
	    !m.boot.ram_size || !m.boot.evtchn_intid) {
		xd_printf("vback-xen-domain: the device tree lacks what this "
			  "needs (Xen node with an extended region, GICv3, "
			  "memory): %d\n",
			  ret);
		return -EINVAL;
	}
	/* The heap: after the image, below the boot modules and the tree. */
	heap_end = m.boot.ram_base + m.boot.ram_size;
	if ((uintptr_t)fdt > (uintptr_t)__end && (uintptr_t)fdt < heap_end)
		heap_end = (uintptr_t)fdt;
	if (m.boot.initrd_start > (uintptr_t)__end &&
	    m.boot.initrd_start < heap_end)
		heap_end = m.boot.initrd_start;
	xd_heap_init((uintptr_t)__end, (uintptr_t)heap_end);

	/* Shared info in the grant-table window (we map no grant table). */
	ret = xd_events_init(m.boot.gnttab_base >> XD_PAGE_SHIFT,
			     m.boot.evtchn_intid, m.boot.gicd, m.boot.gicr);
	if (ret < 0) {
		xd_printf("vback-xen-domain: events: %d\n", ret);
		return ret;
	}
	ret = xd_hvm_param(HVM_PARAM_STORE_PFN, &pfn);
	if (ret == 0)
		ret = xd_hvm_param(HVM_PARAM_STORE_EVTCHN, &port);
	if (ret < 0) {
		xd_printf("vback-xen-domain: no xenstore: %d\n", ret);
		return ret;
	}
	m.xs_port = (uint32_t)port;
	xd_xs_init(&m.xs, (void *)(uintptr_t)(pfn << XD_PAGE_SHIFT), &io);
	ret = xd_xs_read(&m.xs, 0, "domid", buf, sizeof(buf));
	if (ret <= 0) {
		xd_printf("vback-xen-domain: xenstore: cannot read our "
			  "domid: %d\n",
			  ret);
		return ret < 0 ? ret : -EIO;
	}
	for (const char *s = buf; *s >= '0' && *s <= '9'; s++)
		m.self = (uint16_t)(m.self * 10 + (*s - '0'));
	xd_printf("vback-xen-domain: booted: dom%u, %llu MiB RAM at 0x%llx, "
		  "image %llu bytes, heap %llu KiB, boot module %llu bytes, "
		  "event channels on INTID %u\n",
		  m.self, (unsigned long long)(m.boot.ram_size >> 20),
		  (unsigned long long)m.boot.ram_base,
		  (unsigned long long)(__end - __image_start),
		  (unsigned long long)((heap_end - (uintptr_t)__end) >> 10),
		  (unsigned long long)(m.boot.initrd_end - m.boot.initrd_start),
		  m.boot.evtchn_intid);

	m.log.fn = log_line;
	m.log.max_level = VBACK_LOG_INFO;
	ret = vback_simple_loop_create(&hooks, &m.loop);
	if (ret < 0)
		return ret;
	window = m.boot.ext_size[0] < WINDOW_MAX ? m.boot.ext_size[0]
						 : WINDOW_MAX;
	po.window_base =
		(m.boot.ext_base[0] + XD_PAGE_SIZE - 1) & ~(XD_PAGE_SIZE - 1);
	po.window_pages = window >> XD_PAGE_SHIFT;
	po.xs = &m.xs;
	po.xs_port = m.xs_port;
	po.loop = m.loop;
	po.log = &m.log;
	ret = xd_platform_create(&po, &m.pf);
	if (ret < 0)
		return ret;
	xo.loop = m.loop;
	xo.log = &m.log;
	xo.platform = m.pf;
	return vback_xen_create(&xo, &m.xen);
}

int xd_main(const void *fdt)
{
	struct vback_xen_backend_options bo = {
		.ops = &be_ops,
		.irq_mode = VBACK_XEN_IRQ_SPI,
		.map_cache_mib = 64,
		.grant_max_pages = 4096,
	};
	int ret;

	if (xd_console_init() < 0)
		return SHUTDOWN_crash; /* nowhere to say why */
	xd_printf("vback-xen-domain: up (vback %s), MMU %s\n", vback_version(),
		  xd_mmu_on() ? "on" : "off");
	ret = boot(fdt);
	if (ret < 0)
		goto out;
	ret = wait_target(&m.guest);
	if (ret < 0) {
		xd_printf("vback-xen-domain: no guest to serve (%d): Dom0 "
			  "runs 'vback-xen-target %u GUEST' while GUEST is "
			  "created paused\n",
			  ret, m.self);
		goto out;
	}
	xd_printf("vback-xen-domain: dom%u's device model\n", m.guest);
	show_isolation();
	bo.backend_domid = m.self;
	ret = vback_xen_backend_start(m.xen, &bo, &m.be);
	if (ret < 0) {
		xd_printf("vback-xen-domain: xenstore discovery: %d\n", ret);
		goto out;
	}
	xd_printf("vback-xen-domain: watching /local/domain/%u/backend\n",
		  m.self);
	vback_loop_run(m.loop);
	vback_xen_backend_stop(m.be);
out:
	vback_xen_destroy(m.xen);
	xd_platform_destroy(m.pf);
	vback_simple_loop_destroy(m.loop);
	report();
	xd_printf("vback-xen-domain: %s\n", ret < 0 ? "failed" : "done");
	return ret < 0 ? SHUTDOWN_crash : SHUTDOWN_poweroff;
}
