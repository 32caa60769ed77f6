/* SPDX-License-Identifier: MIT */
/*
 * Taking a running guest's device over (the Xen half of "restart without
 * losing a guest's IO"): guest-driver model -> simulated vCPU (fake Xen)
 * -> the Xen transport -> virtio-mmio -> virtio-blk, served by a first
 * backend that dies (fake_xen_platform_kill(): what the kernel does at a
 * SIGKILL; its objects are never touched again, as a dead process's) or
 * hands over, then by a second one on a new loop that adopts the domain's
 * IOREQ server and the device's saved state.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>

#include "guest_driver.h"
#include "guest_mem.h"
#include "harness.h"
#include "test_io.h"

#define DOMID	  5
#define SPI	  40
#define DISK_SIZE (1u << 20)

/* One backend process: its loop, platform, context, domain, device. */
struct proc {
	struct vback_loop *loop;
	struct vback_xen_platform *pf;
	struct vback_xen *xen;
	struct vback_xen_domain *dom;
	struct tio *io;
	struct vback_blk *blk;
	struct vback_xen_device *xdev;
	struct vback_log log;
	unsigned int errors, infos;
	char last_err[256];
};

struct world {
	struct fake_xen *fx;
	struct gmem *mem;
	struct fake_dom *d;
	struct gdrv *drv;
	uint8_t *disk; /* the image: outlives the processes */
	void *state;   /* the state file: outlives them too */
	size_t state_len;
	unsigned int accesses;
	unsigned int first_grave; /* the dead of this world */
};

/* Dead processes are never freed (their objects may not be used any
 * more); kept reachable so that leak checkers do not count them. */
static struct proc *graveyard[32];
static unsigned int ngraves;

static void proc_log(void *opaque, enum vback_log_level level, const char *msg)
{
	struct proc *p = opaque;

	if (getenv("VBACK_TEST_LOG"))
		fprintf(stderr, "log %d: %s\n", (int)level, msg);
	if (level <= VBACK_LOG_ERR) {
		p->errors++;
		snprintf(p->last_err, sizeof(p->last_err), "%s", msg);
	} else if (level == VBACK_LOG_INFO) {
		p->infos++;
	}
}

static uint64_t vcpu_read(void *opaque, uint64_t off, unsigned int size)
{
	struct world *w = opaque;
	uint64_t v = 0;

	assert_int_equal(fake_vcpu_mmio(w->d, w->accesses++ % 2,
					MMIO_BASE + off, size, 1, &v),
			 0);
	return v;
}

static void vcpu_write(void *opaque, uint64_t off, unsigned int size,
		       uint64_t v)
{
	struct world *w = opaque;

	assert_int_equal(fake_vcpu_mmio(w->d, w->accesses++ % 2,
					MMIO_BASE + off, size, 0, &v),
			 0);
}

static void world_new(struct world *w)
{
	const struct gmem_region r = { TEST_RAM_BASE, TEST_RAM_SIZE, false };
	struct gdrv_options o = { 0 };

	memset(w, 0, sizeof(*w));
	w->first_grave = ngraves;
	w->fx = fake_xen_create();
	w->mem = gmem_create(&r, 1);
	assert_non_null(w->fx);
	assert_non_null(w->mem);
	w->d = fake_dom_create_on(w->fx, DOMID, 2, TEST_RAM_BASE,
				  gmem_host(w->mem, TEST_RAM_BASE,
					    TEST_RAM_SIZE),
				  TEST_RAM_SIZE);
	assert_non_null(w->d);
	w->disk = calloc(1, DISK_SIZE);
	assert_non_null(w->disk);
	o.access.mmio_read = vcpu_read;
	o.access.mmio_write = vcpu_write;
	o.access.opaque = w;
	o.mem = w->mem;
	o.heap_base = TEST_RAM_BASE;
	o.heap_size = TEST_RAM_SIZE;
	o.queue_size = 16;
	w->drv = gdrv_create(&o);
	assert_non_null(w->drv);
}

/* A backend process: @adopt takes over server @server and the device. */
static int proc_start(struct world *w, struct proc *p, bool adopt,
		      uint16_t server)
{
	struct vback_xen_options xo = { 0 };
	struct vback_xen_domain_options dopt = { 0 };
	struct vback_xen_device_options o = { 0 };
	struct tio_options to = { 0 };
	struct vback_blk_options bo = { 0 };
	int ret;

	memset(p, 0, sizeof(*p));
	p->log = (struct vback_log){ .fn = proc_log,
				     .opaque = p,
				     .max_level = VBACK_LOG_INFO };
	assert_int_equal(vback_epoll_loop_create(&p->log, &p->loop), 0);
	/* The vCPU now waits on this process's loop. */
	fake_xen_set_loop(w->fx, p->loop);
	p->pf = fake_xen_platform_create(w->fx);
	xo.loop = p->loop;
	xo.log = &p->log;
	xo.platform = p->pf;
	assert_int_equal(vback_xen_create(&xo, &p->xen), 0);
	to.size = DISK_SIZE;
	to.data = w->disk;
	p->io = tio_create(&to);
	bo.io = tio_io(p->io);
	bo.log = &p->log;
	bo.queue_size = 16;
	bo.name = "dom5/xvda";
	assert_int_equal(vback_blk_create(&bo, &p->blk), 0);
	if (!w->state) {
		w->state_len = vback_xen_device_state_size(
			1, vback_dev_queue_max_size(vback_blk_dev(p->blk), 0));
		assert_true(w->state_len > 0);
		w->state = aligned_alloc(64, (w->state_len + 63) & ~63ul);
		memset(w->state, 0, w->state_len);
	}
	dopt.domid = DOMID;
	dopt.irq_mode = VBACK_XEN_IRQ_SPI;
	dopt.adopt = adopt;
	dopt.server = server;
	ret = vback_xen_domain_create(p->xen, &dopt, &p->dom);
	if (ret < 0)
		return ret;
	o.dev = vback_blk_dev(p->blk);
	o.base = MMIO_BASE;
	o.irq = SPI;
	o.state = w->state;
	o.state_len = w->state_len;
	o.adopt = adopt;
	o.identity = "/vm/00000000-0000-0000-0000-000000000005";
	return vback_xen_device_add(p->dom, &o, &p->xdev);
}

/* SIGKILL: the kernel's clean-up, and nothing of the process after. */
static void proc_kill(struct proc *p)
{
	fake_xen_platform_kill(p->pf);
	assert_true(ngraves < 32);
	graveyard[ngraves++] = p;
}

/* The documented order, then a check that nothing leaked. */
static void proc_stop(struct world *w, struct proc *p)
{
	vback_xen_device_remove(p->xdev);
	tio_release(p->io, 0);
	vback_blk_destroy(p->blk);
	vback_xen_domain_destroy(p->dom);
	vback_xen_destroy(p->xen);
	fake_xen_platform_destroy(p->pf);
	tio_destroy(p->io);
	vback_epoll_loop_destroy(p->loop);
	(void)w;
}

static void world_free(struct world *w)
{
	const char *why = fake_xen_failure(w->fx);

	for (unsigned int i = w->first_grave; i < ngraves; i++)
		fake_xen_platform_destroy(graveyard[i]->pf);
	if (why)
		fail_msg("fake Xen: %s", why);
	gdrv_destroy(w->drv);
	fake_xen_destroy(w->fx);
	gmem_destroy(w->mem);
	free(w->disk);
	free(w->state);
}

static void settle(struct proc *p)
{
	for (int i = 0; i < 100; i++)
		if (vback_loop_run_once(p->loop, 0) <= 0)
			break;
}

static void fill(uint8_t *b, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 31 + i * 7);
}

/* Write requests to sectors 8s of 4 KiB of fill(s). */
static int submit_write(struct world *w, unsigned int s, uint8_t *buf)
{
	struct gdrv_blk_req r = { .type = VIRTIO_BLK_T_OUT,
				  .sector = 8ull * s,
				  .data = buf,
				  .len = 4096 };

	fill(buf, 4096, s);
	return gdrv_submit(w->drv, 0, &r);
}

/* Collect what completed; the status of head @h in *@st. */
static unsigned int collect(struct world *w, struct gdrv_done *done,
			    unsigned int max)
{
	gdrv_interrupt(w->drv);
	return gdrv_poll(w->drv, 0, done, max);
}

/*
 * The dangerous case, on Xen: three writes, the first held while the two
 * after it complete; the backend is SIGKILLed, with the guest's vCPU
 * waiting on an access the dead process never answered. The next backend
 * takes the server over, answers the access, resubmits the held write,
 * and serves on.
 */
static void test_killed_backend_adopted(void **state)
{
	static uint8_t b0[4096], b1[4096], b2[4096], in[4096];
	struct gdrv_done done[8];
	struct world w;
	struct proc *a = calloc(1, sizeof(*a)), b;
	volatile ioreq_t *slot, *slot1;
	int h0, h1, h2;
	unsigned int n;

	(void)state;
	world_new(&w);
	assert_int_equal(proc_start(&w, a, false, 0), 0);
	assert_int_equal(gdrv_probe(w.drv), 0);
	tio_hold(a->io, true);
	h0 = submit_write(&w, 0, b0);
	h1 = submit_write(&w, 1, b1);
	h2 = submit_write(&w, 2, b2);
	assert_true(h0 >= 0 && h1 >= 0 && h2 >= 0);
	gdrv_kick(w.drv, 0, true);
	assert_int_equal(tio_pending(a->io), 3);
	tio_release_at(a->io, 1);
	tio_release_at(a->io, 1);
	settle(a);
	n = collect(&w, done, 8);
	assert_int_equal(n, 2);
	assert_int_equal(done[0].head, h1);
	assert_int_equal(done[1].head, h2);

	/* Killed. The guest's vCPU 0 reads Status meanwhile: Xen marks the
	 * slot READY and signals a port nobody is bound to any more. */
	proc_kill(a);
	slot = fake_dom_slot(w.d, vback_xen_domain_server(a->dom), 0);
	assert_non_null(slot);
	slot->addr = MMIO_BASE + 0x70;
	slot->size = 4;
	slot->count = 1;
	slot->dir = IOREQ_READ;
	slot->type = IOREQ_TYPE_COPY;
	slot->data_is_ptr = 0;
	slot->state = STATE_IOREQ_READY;
	/* vCPU 1's read of MagicValue the dead process had taken already
	 * (INPROCESS) but not answered: the next one answers it. */
	slot1 = fake_dom_slot(w.d, vback_xen_domain_server(a->dom), 1);
	slot1->addr = MMIO_BASE;
	slot1->size = 4;
	slot1->count = 1;
	slot1->dir = IOREQ_READ;
	slot1->type = IOREQ_TYPE_COPY;
	slot1->data_is_ptr = 0;
	slot1->state = STATE_IOREQ_INPROCESS;

	assert_int_equal(proc_start(&w, &b, true,
				    vback_xen_domain_server(a->dom)),
			 0);
	assert_int_equal(b.errors, 0);
	settle(&b);
	/* The waiting access: answered (the guest's DRIVER_OK status). */
	assert_int_equal(slot->state, STATE_IORESP_READY);
	assert_int_equal(slot->data & 0xff,
			 VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				 VIRTIO_CONFIG_S_FEATURES_OK |
				 VIRTIO_CONFIG_S_DRIVER_OK);
	slot->state = STATE_IOREQ_NONE; /* the vCPU goes on */
	assert_int_equal(slot1->state, STATE_IORESP_READY);
	assert_int_equal(slot1->data, 0x74726976);
	slot1->state = STATE_IOREQ_NONE;
	/* The held write ran here, once; nothing else ran again. */
	assert_int_equal(tio_stats(b.io)->by_op[VBACK_IO_WRITE], 1);
	n = collect(&w, done, 8);
	assert_int_equal(n, 1);
	assert_int_equal(done[0].head, h0);
	assert_int_equal(done[0].status, VIRTIO_BLK_S_OK);
	assert_memory_equal(w.disk, b0, 4096);
	assert_memory_equal(w.disk + 4096, b1, 4096);
	assert_memory_equal(w.disk + 8192, b2, 4096);
	/* And the device serves on. */
	memset(in, 0, sizeof(in));
	assert_int_equal(gdrv_blk_rw(w.drv, 0, VIRTIO_BLK_T_IN, 8, in, 4096, 1),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(in, b1, 4096);
	assert_int_equal(gdrv_blk_rw(w.drv, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0,
				     0),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(gdrv_stats(w.drv)->bad_used, 0);
	assert_null(fake_xen_failure(w.fx));
	proc_stop(&w, &b);
	assert_int_equal(fake_dom_servers(w.d), 0);
	world_free(&w);
}

/*
 * A planned restart: quiesce, hand over (the server, its window and the
 * state stay), a new process adopts; the guest sees a device that never
 * went away, twice in a row.
 */
static void quiesced(void *opaque, int result)
{
	assert_int_equal(result, 0);
	*(bool *)opaque = true;
}

static void test_handover_twice(void **state)
{
	static uint8_t buf[4096], in[4096];
	struct world w;
	struct proc p;
	uint16_t server;

	(void)state;
	world_new(&w);
	assert_int_equal(proc_start(&w, &p, false, 0), 0);
	assert_int_equal(gdrv_probe(w.drv), 0);
	fill(buf, sizeof(buf), 7);
	assert_int_equal(gdrv_blk_rw(w.drv, 0, VIRTIO_BLK_T_OUT, 64, buf, 4096,
				     2),
			 VIRTIO_BLK_S_OK);
	for (int round = 0; round < 2; round++) {
		bool done = false;

		server = vback_xen_domain_server(p.dom);
		assert_int_equal(vback_dev_quiesce(vback_blk_dev(p.blk),
						   quiesced, &done),
				 0);
		settle(&p);
		assert_true(done);
		vback_xen_domain_handover(p.dom);
		p.dom = NULL;
		/* The window stays claimed; nothing of ours is mapped. */
		assert_true(fake_dom_range_claimed(w.d, MMIO_BASE,
						   MMIO_BASE + 0x1ff));
		assert_int_equal(fake_dom_foreign_pages(w.d), 0);
		tio_release(p.io, 0);
		vback_blk_destroy(p.blk);
		vback_xen_destroy(p.xen);
		fake_xen_platform_destroy(p.pf);
		tio_destroy(p.io);
		vback_epoll_loop_destroy(p.loop);

		assert_int_equal(proc_start(&w, &p, true, server), 0);
		assert_int_equal(p.errors, 0);
		memset(in, 0, sizeof(in));
		assert_int_equal(gdrv_blk_rw(w.drv, 0, VIRTIO_BLK_T_IN, 64, in,
					     4096, 1),
				 VIRTIO_BLK_S_OK);
		assert_memory_equal(in, buf, sizeof(in));
	}
	assert_null(fake_xen_failure(w.fx));
	proc_stop(&w, &p);
	world_free(&w);
}

/* The old process still runs (its ports bound): no take-over. */
static void test_no_adoption_while_alive(void **state)
{
	struct world w;
	struct proc a, b;

	(void)state;
	world_new(&w);
	assert_int_equal(proc_start(&w, &a, false, 0), 0);
	assert_int_equal(gdrv_probe(w.drv), 0);
	assert_int_equal(proc_start(&w, &b, true,
				    vback_xen_domain_server(a.dom)),
			 -EINVAL);
	assert_true(b.errors >= 1);
	/* The first one is untouched and serves on. */
	fake_xen_set_loop(w.fx, a.loop);
	assert_int_equal(gdrv_blk_rw(w.drv, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0,
				     0),
			 VIRTIO_BLK_S_OK);
	vback_blk_destroy(b.blk);
	vback_xen_destroy(b.xen);
	fake_xen_platform_destroy(b.pf);
	tio_destroy(b.io);
	vback_epoll_loop_destroy(b.loop);
	proc_stop(&w, &a);
	world_free(&w);
}

/*
 * Saved state that cannot be right: refused with one error line and
 * -ESTALE; nothing is written to the guest; the server keeps its window
 * (for a later try); with the state repaired the same adoption works.
 */
static void test_bad_state_refused(void **state)
{
	static const char *const why[] = {
		"bad magic",
		"another version",
		"another shape",
		"another domain or window",
		"another IOREQ server",
		"identity",
		"no register snapshot",
		"unknown state version",
		"unknown status bits",
		"DRIVER_OK without FEATURES_OK",
		"features never offered",
		"bad queue size",
	};
	struct world w;
	struct proc *a = calloc(1, sizeof(*a)), b;
	uint8_t *saved, *ram_before;
	uint16_t server;

	(void)state;
	world_new(&w);
	assert_int_equal(proc_start(&w, a, false, 0), 0);
	assert_int_equal(gdrv_probe(w.drv), 0);
	server = vback_xen_domain_server(a->dom);
	proc_kill(a);
	saved = malloc(w.state_len);
	ram_before = malloc(TEST_RAM_SIZE);
	memcpy(saved, w.state, w.state_len);
	for (unsigned int c = 0; c < sizeof(why) / sizeof(why[0]); c++) {
		struct xen_state_hdr *h = w.state;
		struct vback_mmio_state *snap =
			(struct vback_mmio_state
				 *)(void *)((uint8_t *)w.state +
					    ((sizeof(*h) + 63) & ~63ul) +
					    (h->active ? 1 : 0) *
						    ((sizeof(*snap) + 63) &
						     ~63ul));

		memcpy(w.state, saved, w.state_len);
		switch (c) {
		case 0:
			h->magic[0] ^= 1;
			break;
		case 1:
			h->version = 9;
			break;
		case 2:
			h->num_queues = 3;
			break;
		case 3:
			h->base += 0x200;
			break;
		case 4:
			h->server ^= 1;
			break;
		case 5:
			h->identity[5] ^= 1;
			break;
		case 6:
			h->active = 7;
			break;
		case 7:
			snap->version = 2;
			break;
		case 8:
			snap->status |= 0x10;
			break;
		case 9:
			snap->status &= ~(uint32_t)VIRTIO_CONFIG_S_FEATURES_OK;
			break;
		case 10:
			snap->drv_features |= 1ull << 50;
			break;
		default:
			snap->queue[0].num = 3;
			break;
		}
		memcpy(ram_before,
		       gmem_host(w.mem, TEST_RAM_BASE, TEST_RAM_SIZE),
		       TEST_RAM_SIZE);
		assert_int_equal(proc_start(&w, &b, true, server), -ESTALE);
		assert_int_equal(b.errors, 1);
		assert_non_null(strstr(b.last_err, "not adopted"));
		assert_non_null(strstr(b.last_err, why[c]));
		assert_memory_equal(gmem_host(w.mem, TEST_RAM_BASE,
					      TEST_RAM_SIZE),
				    ram_before, TEST_RAM_SIZE);
		/* Given up: the server stays with its window. */
		vback_xen_domain_handover(b.dom);
		assert_true(fake_dom_range_claimed(w.d, MMIO_BASE,
						   MMIO_BASE + 0x1ff));
		vback_blk_destroy(b.blk);
		vback_xen_destroy(b.xen);
		fake_xen_platform_destroy(b.pf);
		tio_destroy(b.io);
		vback_epoll_loop_destroy(b.loop);
	}
	/* Repaired: adopted. */
	memcpy(w.state, saved, w.state_len);
	assert_int_equal(proc_start(&w, &b, true, server), 0);
	assert_int_equal(gdrv_blk_rw(w.drv, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0,
				     0),
			 VIRTIO_BLK_S_OK);
	proc_stop(&w, &b);
	free(saved);
	free(ram_before);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_killed_backend_adopted),
		cmocka_unit_test(test_handover_twice),
		cmocka_unit_test(test_no_adoption_while_alive),
		cmocka_unit_test(test_bad_state_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
