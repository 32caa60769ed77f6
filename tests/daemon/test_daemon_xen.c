/* SPDX-License-Identifier: MIT */
/*
 * vback-disk's Xen mode end to end on the fake Xen: the daemon core of
 * examples/vback-disk (xen_daemon.c, options.c, as the binary builds them)
 * serves guests whose disks are configured in the fake xenstore the way
 * libxl does it; the guest-driver model does IO through the simulated
 * vCPUs; the data is checked in real image files (posix and io_uring
 * engines). Everything below the fake's system table is production code.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>

#include <vback/epoll.h>
#include <vback/io.h>

#include "config.h"
#include "fake_xen.h"
#include "fake_xen_priv.h"
#include "guest_driver.h"
#include "guest_mem.h"
#include "ctl.h"
#include "options.h"
#include "xen_daemon.h"
#include "xen_priv.h"

/* Virtio-mmio interrupts are GIC SPIs (32..1019) on Arm, ISA lines on x86:
 * the daemon refuses the other kind, so the tests pick by architecture. */
#if defined(__aarch64__) || defined(__arm__)
#define IRQ_A	 33
#define IRQ_B	 34
#define IRQ_MODE VBACK_XEN_IRQ_SPI
#else
#define IRQ_A	 5
#define IRQ_B	 6
#define IRQ_MODE VBACK_XEN_IRQ_ISA
#endif
#define STR_(x) #x
#define STR(x)	STR_(x)

#define RAM_BASE   0x40000000ull	  /* Arm's GUEST_RAM0_BASE */
#define RAM_SIZE   (MAX_DISKS * DRV_HEAP) /* a heap per disk */
#define DRV_HEAP   (4ull << 20)		  /* guest heap per driver */
#define MMIO_BASE  0x02000000ull	  /* libxl's first virtio-mmio window */
#define FIRST_SPI  33u
#define DISK_BYTES (1u << 20)
#define MAX_DISKS  5
#define SECTOR	   512u

struct fixture;
struct guest;

struct gdisk {
	struct guest *g;
	unsigned int idx;
	uint32_t devid;
	uint64_t base;
	uint32_t irq;
	char path[128];
	struct gdrv *drv;
};

struct guest {
	struct fixture *f;
	uint16_t domid;
	enum vback_xen_layout layout;
	struct gmem *mem;
	struct fake_dom *d;
	struct gdisk disk[MAX_DISKS];
	unsigned int ndisks;
	unsigned int vcpu_rr;
};

struct fixture {
	char dir[64];
	const char *engine;
	uint16_t self; /* the domain the daemon runs in (0: Dom0) */
	struct vback_loop *loop;
	struct fake_xen *fx;
	struct vback_xen_platform *pf;
	struct vback_xen *xen;
	struct vback_log log;
	unsigned int errors;
	char last_err[256];
	char all_errs[4096];
	char all_log[8192]; /* every line, any level */
	struct vback_disk_options opts;
	struct xen_daemon *xd;
	bool state_dir; /* the test gives --state-dir */
	/* guest memory of every guest, freed after the fake Xen */
	struct gmem *mems[8];
	unsigned int nmems;
};

static void fixture_log(void *opaque, enum vback_log_level level,
			const char *msg)
{
	struct fixture *f = opaque;

	if (getenv("VBACK_TEST_VERBOSE"))
		fprintf(stderr, "  log %d: %s\n", level, msg);
	if (strlen(f->all_log) + strlen(msg) + 2 < sizeof(f->all_log)) {
		strcat(f->all_log, msg);
		strcat(f->all_log, "\n");
	}
	if (level <= VBACK_LOG_ERR) {
		f->errors++;
		snprintf(f->last_err, sizeof(f->last_err), "%s", msg);
		strncat(f->all_errs, msg,
			sizeof(f->all_errs) - strlen(f->all_errs) - 2);
		strcat(f->all_errs, "\n");
	}
}

static void check_fake(struct fixture *f)
{
	const char *why = fake_xen_failure(f->fx);

	if (why)
		fail_msg("fake Xen: %s", why);
}

/* Run the loop until nothing is ready (and a little longer for threads). */
static void settle(struct fixture *f)
{
	int i, idle = 0;

	for (i = 0; i < 1000 && idle < 3; i++)
		idle = vback_loop_run_once(f->loop, 2) <= 0 ? idle + 1 : 0;
}

static void make_image(const char *path, unsigned int bytes)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, bytes), 0);
	close(fd);
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void pattern(uint8_t *p, size_t n, unsigned int seed)
{
	uint32_t x = seed * 2654435761u + 7;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* getopt wants char *; it does not write through them. */
static char *unconst(const char *s)
{
	return (char *)(uintptr_t)s;
}

/*
 * Start the daemon core the way xen_mode.c does, on the fake Xen, with
 * the command line @args (NULL-terminated, without argv[0]).
 */
static void daemon_start(struct fixture *f, enum vback_xen_irq_mode irq,
			 const char *const *args, int want)
{
	struct xen_daemon_env env = { 0 };
	char *argv[24];
	int argc = 0, ret;

	argv[argc++] = unconst("vback-disk");
	if (f->engine) {
		argv[argc++] = unconst("--engine");
		argv[argc++] = unconst(f->engine);
	}
	if (!f->state_dir) {
		/* Not /run: tests that want state say where. */
		argv[argc++] = unconst("--state-dir");
		argv[argc++] = unconst("none");
	}
	while (args && *args)
		argv[argc++] = unconst(*args++);
	argv[argc] = NULL;
	vback_disk_options_free(&f->opts); /* a previous daemon's */
	assert_int_equal(vback_disk_parse_options(argc, argv, &f->opts),
			 VBACK_DISK_RUN);
	assert_int_equal(f->opts.mode, VBACK_DISK_MODE_XEN);
	env.opts = &f->opts;
	env.log = &f->log;
	env.loop = f->loop;
	env.irq_mode = irq;
	env.drain_timeout_ms = 5000;
	ret = xen_daemon_create(&env, &f->xd);
	if (ret == 0) {
		ret = xen_daemon_start(f->xd, f->xen);
		if (ret < 0) {
			xen_daemon_destroy(f->xd);
			f->xd = NULL;
		}
	} else {
		f->xd = NULL;
	}
	assert_int_equal(ret, want);
}

/* The daemon in domain @self: Dom0 (0), or a driver domain. */
static void fixture_init_in(struct fixture *f, const char *engine,
			    uint16_t self)
{
	struct vback_xen_options o = { 0 };

	memset(f, 0, sizeof(*f));
	f->engine = engine;
	f->self = self;
	snprintf(f->dir, sizeof(f->dir), "/tmp/vback-daemon-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->log.fn = fixture_log;
	f->log.opaque = f;
	f->log.max_level = VBACK_LOG_DEBUG;
	assert_int_equal(vback_epoll_loop_create(&f->log, &f->loop), 0);
	/* As xen_mode.c does with the default --poll-us. */
	assert_int_equal(vback_epoll_loop_set_poll(f->loop,
						   VBACK_DISK_DEFAULT_POLL_US *
							   1000u),
			 0);
	f->fx = fake_xen_create();
	assert_non_null(f->fx);
	fake_xen_set_loop(f->fx, f->loop);
	f->pf = fake_xen_platform_create_in(f->fx, self);
	assert_non_null(f->pf);
	o.loop = f->loop;
	o.log = &f->log;
	o.platform = f->pf;
	assert_int_equal(vback_xen_create(&o, &f->xen), 0);
}

static void fixture_init(struct fixture *f, const char *engine)
{
	fixture_init_in(f, engine, 0);
}

static void remove_tree(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Tear down: every server, mapping, port and handle is gone. */
static void fixture_fini(struct fixture *f)
{
	struct fake_dom *d;
	unsigned int i;

	xen_daemon_destroy(f->xd);
	vback_disk_options_free(&f->opts);
	for (d = f->fx->doms; d; d = d->next) {
		assert_int_equal(fake_dom_servers(d), 0);
		assert_int_equal(fake_dom_foreign_pages(d), 0);
		assert_int_equal(fake_dom_grant_pages(d), 0);
	}
	vback_xen_destroy(f->xen);
	assert_int_equal(fake_xen_open_handles(f->fx), 1); /* the platform */
	fake_xen_platform_destroy(f->pf);
	check_fake(f);
	fake_xen_destroy(f->fx);
	vback_epoll_loop_destroy(f->loop);
	for (i = 0; i < f->nmems; i++)
		gmem_destroy(f->mems[i]);
	remove_tree(f->dir);
}

/* ------------------------------------------------------------------ */
/* Guests: fake domains, xenstore as libxl writes it, driver models     */
/* ------------------------------------------------------------------ */

static uint64_t vcpu_read(void *opaque, uint64_t off, unsigned int size)
{
	struct gdisk *k = opaque;
	uint64_t v = 0;

	assert_int_equal(fake_vcpu_mmio(k->g->d, k->g->vcpu_rr++ % 2,
					k->base + off, size, IOREQ_READ, &v),
			 0);
	return v;
}

static void vcpu_write(void *opaque, uint64_t off, unsigned int size,
		       uint64_t v)
{
	struct gdisk *k = opaque;

	assert_int_equal(fake_vcpu_mmio(k->g->d, k->g->vcpu_rr++ % 2,
					k->base + off, size, IOREQ_WRITE, &v),
			 0);
}

static const char *layout_dir(enum vback_xen_layout l)
{
	return l == VBACK_XEN_LAYOUT_VIRTIO_DISK ? "virtio_disk" : "virtio";
}

static void xs_set(struct fixture *f, const char *dir, const char *key,
		   const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	assert_int_equal(fake_xs_write(f->fx, path, val), 0);
}

static char *xs_get(struct fixture *f, const struct gdisk *k, const char *key)
{
	char path[256];

	snprintf(path, sizeof(path), "/local/domain/%u/backend/%s/%u/%u/%s",
		 f->self, layout_dir(k->g->layout), k->g->domid, k->devid, key);
	return fake_xs_read(f->fx, path);
}

static void assert_be_state(struct fixture *f, const struct gdisk *k,
			    const char *want)
{
	char *v = xs_get(f, k, "state");

	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

/* What libxl writes for `disk = [ '...,specification=virtio,...' ]`. */
static void xs_disk(struct fixture *f, struct gdisk *k, const char *mode,
		    const char *base_override)
{
	const struct guest *g = k->g;
	char be[128], fe[128], num[32];

	snprintf(be, sizeof(be), "/local/domain/%u/backend/%s/%u/%u", f->self,
		 layout_dir(g->layout), g->domid, k->devid);
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/%s/%u", g->domid,
		 layout_dir(g->layout), k->devid);
	xs_set(f, fe, "backend", be);
	xs_set(f, fe, "state", "1");
	xs_set(f, be, "frontend", fe);
	snprintf(num, sizeof(num), "%u", g->domid);
	xs_set(f, be, "frontend-id", num);
	xs_set(f, be, "params", k->path);
	xs_set(f, be, "mode", mode);
	if (g->layout == VBACK_XEN_LAYOUT_VIRTIO_DISK) {
		/* Xen 4.17: decimal base, libxl's "standalone" backend. */
		snprintf(num, sizeof(num), "%llu", (unsigned long long)k->base);
		xs_set(f, be, "type", "standalone");
		xs_set(f, be, "specification", "virtio");
		xs_set(f, be, "discard-enable", "0");
	} else {
		/* Xen 4.18: hexadecimal base, generic virtio device. */
		snprintf(num, sizeof(num), "%#llx",
			 (unsigned long long)k->base);
		xs_set(f, be, "type", "virtio,device2");
	}
	xs_set(f, be, "base", base_override ? base_override : num);
	snprintf(num, sizeof(num), "%u", k->irq);
	xs_set(f, be, "irq", num);
	xs_set(f, be, "transport", "mmio");
	xs_set(f, be, "online", "1");
	xs_set(f, be, "state", "1");
}

/* A domain with @n disks, images created (unless they exist). */
static void guest_init(struct fixture *f, struct guest *g, uint16_t domid,
		       enum vback_xen_layout layout, unsigned int n)
{
	const struct gmem_region r = { RAM_BASE, RAM_SIZE, false };
	unsigned int i;

	memset(g, 0, sizeof(*g));
	g->f = f;
	g->domid = domid;
	g->layout = layout;
	g->ndisks = n;
	g->mem = gmem_create(&r, 1);
	assert_non_null(g->mem);
	assert_true(f->nmems < sizeof(f->mems) / sizeof(f->mems[0]));
	f->mems[f->nmems++] = g->mem;
	g->d = fake_dom_create_on(f->fx, domid, 2, RAM_BASE,
				  gmem_host(g->mem, RAM_BASE, RAM_SIZE),
				  RAM_SIZE);
	assert_non_null(g->d);
	for (i = 0; i < n; i++) {
		struct gdisk *k = &g->disk[i];
		struct stat st;

		k->g = g;
		k->idx = i;
		k->devid = 51712 + 16 * i; /* xvda, xvdb, ... */
		k->base = MMIO_BASE + i * 0x200ull;
		k->irq = FIRST_SPI + i;
		snprintf(k->path, sizeof(k->path), "%s/dom%u-%u.img", f->dir,
			 domid, i);
		if (stat(k->path, &st) < 0)
			make_image(k->path, DISK_BYTES);
	}
}

static void guest_probe(struct gdisk *k)
{
	struct gdrv_options o = { 0 };

	o.access.mmio_read = vcpu_read;
	o.access.mmio_write = vcpu_write;
	o.access.opaque = k;
	o.mem = k->g->mem;
	o.heap_base = RAM_BASE + k->idx * DRV_HEAP;
	o.heap_size = DRV_HEAP;
	k->drv = gdrv_create(&o);
	assert_non_null(k->drv);
	assert_int_equal(gdrv_probe(k->drv), 0);
	assert_int_equal(gdrv_config_read(k->drv, 0, 8), DISK_BYTES / SECTOR);
}

static void guest_fini(struct guest *g)
{
	unsigned int i;

	for (i = 0; i < g->ndisks; i++) {
		gdrv_destroy(g->disk[i].drv);
		g->disk[i].drv = NULL;
	}
}

/* Bound event channels of @d (guest ports with a backend peer). */
static unsigned int bound_ports(const struct fake_dom *d)
{
	unsigned int i, n = 0;

	for (i = 0; i < d->ngports; i++)
		n += d->gports[i].peer != NULL;
	return n;
}

/* ------------------------------------------------------------------ */
/* IO through the guest                                                 */
/* ------------------------------------------------------------------ */

/* Publish one request and kick; the completion is collected later. */
static int submit(struct gdisk *k, uint32_t type, uint64_t sector, void *buf,
		  uint32_t len)
{
	struct gdrv_blk_req r = { 0 };
	int head;

	r.type = type;
	r.sector = sector;
	r.data = buf;
	r.len = len;
	r.segs = len > 4096 ? 2 : 1;
	head = gdrv_submit(k->drv, 0, &r);
	assert_true(head >= 0);
	gdrv_kick(k->drv, 0, false);
	return head;
}

/* Collect @want completions, running the loop while the IO engine works. */
static unsigned int collect(struct gdisk *k, struct gdrv_done *out,
			    unsigned int want)
{
	unsigned int got = 0, i;

	for (i = 0; i < 5000 && got < want; i++) {
		got += gdrv_poll(k->drv, 0, out + got, want - got);
		if (got < want)
			vback_loop_run_once(k->g->f->loop, 1);
	}
	return got;
}

static int rw(struct gdisk *k, uint32_t type, uint64_t sector, void *buf,
	      uint32_t len)
{
	struct gdrv_done done;
	int head = submit(k, type, sector, buf, len);

	if (collect(k, &done, 1) != 1)
		return -ETIMEDOUT;
	assert_int_equal(done.head, head);
	return done.status;
}

/* Write a pattern, check the image file, read it back via the guest. */
static void io_verified(struct gdisk *k, uint64_t sector, unsigned int seed)
{
	static uint8_t out[12288], in[12288], file[12288];

	pattern(out, sizeof(out), seed);
	assert_int_equal(rw(k, VIRTIO_BLK_T_OUT, sector, out, sizeof(out)),
			 VIRTIO_BLK_S_OK);
	file_read(k->path, sector * SECTOR, file, sizeof(file));
	assert_memory_equal(file, out, sizeof(out));
	memset(in, 0, sizeof(in));
	assert_int_equal(rw(k, VIRTIO_BLK_T_IN, sector, in, sizeof(in)),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(rw(k, VIRTIO_BLK_T_FLUSH, 0, NULL, 0),
			 VIRTIO_BLK_S_OK);
}

static void check_file(const struct gdisk *k, uint64_t sector,
		       unsigned int seed, size_t len)
{
	static uint8_t want[16384], got[16384];

	assert_true(len <= sizeof(want));
	pattern(want, len, seed);
	file_read(k->path, sector * SECTOR, got, len);
	assert_memory_equal(got, want, len);
}

/* Skip the io_uring variant where the kernel does not allow io_uring. */
static bool engine_usable(struct fixture *f)
{
	struct vback_io_options o = { 0 };
	struct vback_io io;
	char path[128];
	bool ok;

	if (!f->engine || strcmp(f->engine, "io_uring"))
		return true;
	snprintf(path, sizeof(path), "%s/probe.img", f->dir);
	make_image(path, 4096);
	o.path = path;
	o.engine = VBACK_IO_ENGINE_URING;
	o.log = &f->log;
	if (vback_io_open(&o, f->loop, &io) < 0)
		return false;
	ok = vback_io_engine_of(&io) == VBACK_IO_ENGINE_URING;
	vback_io_close(&io);
	unlink(path);
	return ok;
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */
/* ------------------------------------------------------------------ */

/*
 * Two domains, two disks each, one per xenstore layout; data through the
 * guest to the image files. Then one domain dies with IO in flight: its
 * devices, server, mappings and ports go, the other keeps working; and it
 * comes back with the same domid and finds its data.
 */
/* ---- the control commands of the Xen mode (ctl.h) ---- */

static struct json_value ctl_nodes[2048];
static char ctl_strings[1 << 18];
static const struct json_parser ctl_jp = {
	.nodes = ctl_nodes,
	.max_nodes = 2048,
	.strings = ctl_strings,
	.strings_size = sizeof(ctl_strings),
};

/* The reply to @line, parsed; @text keeps its text (valid until the next
 * call). */
static const struct json_value *ctl(struct fixture *f, const char *line)
{
	static char text[1 << 17];
	const struct json_value *v;
	struct ctl_pending p = { 0 };
	struct json_error err;
	struct jw w;

	jw_init(&w, sizeof(text) - 1);
	assert_int_equal(ctl_handle_line(&xen_daemon_ctl_ops, f->xd, &ctl_jp,
					 line, strlen(line), &w, &p),
			 CTL_REPLIED);
	memcpy(text, w.buf, w.len);
	text[w.len] = '\0';
	jw_free(&w);
	assert_int_equal(json_parse(&ctl_jp, text, strlen(text) - 1, &v, &err),
			 0);
	return v;
}

/* list shows every domain with its disks and their counters; resize and
 * log-level work; add and remove are the toolstack's, not ours. */
static void check_control(struct fixture *f)
{
	const struct json_value *r, *ok, *dom, *disk;
	char line[160];

	r = ctl(f, "{\"id\":1,\"cmd\":\"list\"}");
	ok = json_get(r, "ok");
	assert_non_null(ok);
	assert_string_equal(json_get(ok, "mode")->str, "xen");
	dom = json_get(ok, "domains")->child;
	assert_int_equal(json_get(dom, "domid")->i, 5);
	assert_int_equal(json_get(dom, "disks")->count, 2);
	assert_int_equal(json_get(dom->next, "domid")->i, 7);
	assert_null(dom->next->next);
	disk = json_get(dom->next, "disks")->child;
	assert_true(json_get(json_get(disk, "totals"), "writes")->i >= 1);
	assert_true(json_get(json_get(disk, "totals"), "reads")->i >= 1);
	assert_int_equal(json_get(json_get(disk, "queues")->child, "queue")->i,
			 0);
	/* Every request of queue 0 in its latency histogram. */
	{
		const struct json_value *q = json_get(disk, "queues")->child;
		int64_t n = 0;

		for (const struct json_value *b_ =
			     json_get(q, "latency")->child;
		     b_; b_ = b_->next)
			n += json_get(b_, "count")->i;
		assert_true(n >= 1);
		assert_true(n >=
			    json_get(q, "reads")->i + json_get(q, "writes")->i);
	}
	snprintf(line, sizeof(line),
		 "{\"cmd\":\"resize\",\"args\":{\"name\":\"%s\"}}",
		 json_get(disk, "name")->str);
	r = ctl(f, line);
	assert_false(json_get(json_get(r, "ok"), "changed")->b);
	r = ctl(f, "{\"cmd\":\"list\",\"args\":{\"name\":\"dom9/1\"}}");
	assert_int_equal(json_get(json_get(r, "error"), "code")->i, -ENOENT);
	r = ctl(f, "{\"cmd\":\"add\",\"args\":{\"socket\":\"s\","
		   "\"image\":\"i\"}}");
	assert_int_equal(json_get(json_get(r, "error"), "code")->i,
			 CTL_E_COMMAND);
	r = ctl(f, "{\"cmd\":\"log-level\"}");
	assert_non_null(json_get(r, "ok"));
}

static void test_two_domains(void **state)
{
	static uint8_t burst[8][4096];
	struct fixture f;
	struct guest a, b, a2;
	unsigned int i, handles;

	fixture_init(&f, *state);
	if (!engine_usable(&f)) {
		fixture_fini(&f);
		skip();
	}
	daemon_start(&f, VBACK_XEN_IRQ_SPI, NULL, 0);
	guest_init(&f, &a, 5, VBACK_XEN_LAYOUT_VIRTIO_DISK, 2);
	guest_init(&f, &b, 7, VBACK_XEN_LAYOUT_VIRTIO, 2);
	for (i = 0; i < 2; i++) {
		xs_disk(&f, &a.disk[i], "w", NULL);
		xs_disk(&f, &b.disk[i], "w", NULL);
	}
	settle(&f);
	assert_int_equal(xen_daemon_disks(f.xd), 4);
	for (i = 0; i < 2; i++) {
		/* InitWait: libxl may now unpause the guest. */
		assert_be_state(&f, &a.disk[i], "2");
		assert_be_state(&f, &b.disk[i], "2");
		assert_true(fake_dom_range_claimed(a.d, a.disk[i].base,
						   a.disk[i].base + 0x1ff));
	}
	/* One IOREQ server per domain, serving both of its disks. */
	assert_int_equal(fake_dom_servers(a.d), 1);
	assert_int_equal(fake_dom_servers(b.d), 1);
	assert_int_equal(fake_dom_nr_ranges(b.d), 2);

	for (i = 0; i < 2; i++) {
		guest_probe(&a.disk[i]);
		guest_probe(&b.disk[i]);
		/* discard-enable=0 (virtio_disk layout): no DISCARD. */
		assert_false(gdrv_device_features(a.disk[i].drv) &
			     GDRV_F(VIRTIO_BLK_F_DISCARD));
		io_verified(&a.disk[i], 8 + i, 10 + i);
		io_verified(&b.disk[i], 64 + i, 20 + i);
	}
	/* The used-buffer interrupt reached the guest on its SPI. */
	assert_true(fake_dom_irqs(a.d, a.disk[0].irq) > 0);
	assert_true(fake_dom_irqs(b.d, b.disk[1].irq) > 0);
	assert_true(gdrv_interrupt(a.disk[0].drv) & 1);
	check_fake(&f);
	check_control(&f);

	/* Domain 5 dies with writes in flight on both disks. */
	handles = fake_xen_open_handles(f.fx);
	for (i = 0; i < 8; i++) {
		pattern(burst[i], sizeof(burst[i]), 100 + i);
		submit(&a.disk[i % 2], VIRTIO_BLK_T_OUT, 256 + 8 * i, burst[i],
		       sizeof(burst[i]));
	}
	fake_dom_destroy(a.d);
	settle(&f);
	assert_int_equal(xen_daemon_disks(f.xd), 2);
	assert_int_equal(fake_dom_foreign_pages(a.d), 0);
	assert_int_equal(fake_dom_grant_pages(a.d), 0);
	assert_false(fake_dom_is_zombie(a.d));
	assert_int_equal(bound_ports(a.d), 0);
	/* Its two vCPUs' ports and its ioreq page are released. */
	assert_int_equal(fake_xen_open_handles(f.fx), handles - 3);
	guest_fini(&a);
	/* The other domain did not notice. */
	assert_int_equal(fake_dom_servers(b.d), 1);
	assert_int_equal(bound_ports(b.d), 2);
	for (i = 0; i < 2; i++)
		io_verified(&b.disk[i], 128 + i, 30 + i);
	check_fake(&f);

	/* libxl removes the backend nodes; the guest is created again with
	 * the same domid and the same images. */
	assert_int_equal(fake_xs_rm(f.fx,
				    "/local/domain/0/backend/virtio_disk/5"),
			 0);
	settle(&f);
	guest_init(&f, &a2, 5, VBACK_XEN_LAYOUT_VIRTIO_DISK, 2);
	for (i = 0; i < 2; i++)
		xs_disk(&f, &a2.disk[i], "w", NULL);
	settle(&f);
	assert_int_equal(xen_daemon_disks(f.xd), 4);
	assert_int_equal(fake_dom_servers(a2.d), 1);
	for (i = 0; i < 2; i++) {
		static uint8_t in[12288], want[12288];

		assert_be_state(&f, &a2.disk[i], "2");
		guest_probe(&a2.disk[i]);
		/* Round 1's data is still there. */
		pattern(want, sizeof(want), 10 + i);
		assert_int_equal(rw(&a2.disk[i], VIRTIO_BLK_T_IN, 8 + i, in,
				    sizeof(in)),
				 VIRTIO_BLK_S_OK);
		assert_memory_equal(in, want, sizeof(in));
		io_verified(&a2.disk[i], 512 + i, 40 + i);
	}
	assert_int_equal(f.errors, 0);
	check_fake(&f);
	guest_fini(&a2);
	guest_fini(&b);
	fixture_fini(&f);
}

/* Writes that the guest saw completed before a SIGTERM are in the file,
 * and so are those in flight when it came: all of them complete. */
static void test_sigterm_with_io_in_flight(void **state)
{
	static uint8_t bufs[32][8192];
	struct gdrv_done done[32];
	struct fixture f;
	struct guest g;
	unsigned int i, n0, n1, tries;
	static uint8_t late[4096], zero[4096], file[4096];

	fixture_init(&f, *state);
	if (!engine_usable(&f)) {
		fixture_fini(&f);
		skip();
	}
	daemon_start(&f, VBACK_XEN_IRQ_SPI, NULL, 0);
	guest_init(&f, &g, 3, VBACK_XEN_LAYOUT_VIRTIO_DISK, 2);
	xs_disk(&f, &g.disk[0], "w", NULL);
	xs_disk(&f, &g.disk[1], "w", NULL);
	settle(&f);
	guest_probe(&g.disk[0]);
	guest_probe(&g.disk[1]);
	/* A first write, acknowledged before the signal. */
	io_verified(&g.disk[0], 0, 1);

	for (i = 0; i < 32; i++) {
		pattern(bufs[i], sizeof(bufs[i]), 200 + i);
		submit(&g.disk[i % 2], VIRTIO_BLK_T_OUT, 64 + 16 * i, bufs[i],
		       sizeof(bufs[i]));
	}
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	for (tries = 0; tries < 5000 && !xen_daemon_finished(f.xd); tries++)
		vback_loop_run_once(f.loop, 2);
	assert_true(xen_daemon_finished(f.xd));
	/* Every request in flight was finished and acknowledged by the time
	 * the daemon says it is done: read the used rings without running
	 * the loop any further. */
	n0 = gdrv_poll(g.disk[0].drv, 0, done, 16);
	for (i = 0; i < n0; i++)
		assert_int_equal(done[i].status, VIRTIO_BLK_S_OK);
	n1 = gdrv_poll(g.disk[1].drv, 0, done, 16);
	for (i = 0; i < n1; i++)
		assert_int_equal(done[i].status, VIRTIO_BLK_S_OK);
	assert_int_equal(n0 + n1, 32);
	check_file(&g.disk[0], 0, 1, 12288);
	for (i = 0; i < 32; i++)
		check_file(&g.disk[i % 2], 64 + 16 * i, 200 + i, 8192);

	/* Stopped: a new request is not taken any more (the vCPU is still
	 * answered: the IOREQ server lives until the teardown). */
	pattern(late, sizeof(late), 999);
	submit(&g.disk[0], VIRTIO_BLK_T_OUT, 1000, late, sizeof(late));
	settle(&f);
	assert_int_equal(gdrv_poll(g.disk[0].drv, 0, done, 1), 0);
	memset(zero, 0, sizeof(zero));
	file_read(g.disk[0].path, 1000 * SECTOR, file, sizeof(file));
	assert_memory_equal(file, zero, sizeof(zero));

	xen_daemon_destroy(f.xd);
	f.xd = NULL;
	/* Everything of the domain is released. */
	assert_int_equal(fake_dom_servers(g.d), 0);
	assert_int_equal(fake_dom_nr_ranges(g.d), 0);
	assert_int_equal(fake_dom_foreign_pages(g.d), 0);
	assert_int_equal(bound_ports(g.d), 0);
	assert_int_equal(f.errors, 0);
	guest_fini(&g);
	fixture_fini(&f);
}

/* mode=r in xenstore, and the --ro override: writes are refused, the
 * image is untouched, reads work. */
static void test_read_only(void **state)
{
	static uint8_t out[4096], in[4096], file[4096], zero[4096];
	static const char *const ro_all[] = { "--ro", NULL };
	struct fixture f;
	struct guest g;
	unsigned int i, round;

	(void)state;
	for (round = 0; round < 2; round++) {
		fixture_init(&f, "posix");
		daemon_start(&f, VBACK_XEN_IRQ_SPI, round ? ro_all : NULL, 0);
		guest_init(&f, &g, 4, VBACK_XEN_LAYOUT_VIRTIO, 2);
		xs_disk(&f, &g.disk[0], "r", NULL);
		xs_disk(&f, &g.disk[1], "w", NULL);
		settle(&f);
		assert_int_equal(xen_daemon_disks(f.xd), 2);
		for (i = 0; i < 2; i++) {
			struct gdisk *k = &g.disk[i];
			bool ro = i == 0 || round == 1;

			guest_probe(k);
			assert_int_equal(!!(gdrv_device_features(k->drv) &
					    GDRV_F(VIRTIO_BLK_F_RO)),
					 ro);
			pattern(out, sizeof(out), 7);
			if (!ro) {
				io_verified(k, 0, 7);
				continue;
			}
			assert_int_equal(rw(k, VIRTIO_BLK_T_OUT, 0, out,
					    sizeof(out)),
					 VIRTIO_BLK_S_IOERR);
			file_read(k->path, 0, file, sizeof(file));
			assert_memory_equal(file, zero, sizeof(zero));
			assert_int_equal(rw(k, VIRTIO_BLK_T_IN, 0, in,
					    sizeof(in)),
					 VIRTIO_BLK_S_OK);
			assert_memory_equal(in, zero, sizeof(in));
		}
		guest_fini(&g);
		fixture_fini(&f);
	}
}

/* A bad device config is logged and refused; the others are served. */
static void test_bad_device_refused(void **state)
{
	struct fixture f;
	struct guest g;
	(void)state;
	fixture_init(&f, "posix");
	daemon_start(&f, VBACK_XEN_IRQ_SPI, NULL, 0);
	guest_init(&f, &g, 6, VBACK_XEN_LAYOUT_VIRTIO_DISK, 3);
	/* disk 1: its image does not exist; disk 2: garbage base. */
	unlink(g.disk[1].path);
	xs_disk(&f, &g.disk[0], "w", NULL);
	xs_disk(&f, &g.disk[1], "w", NULL);
	xs_disk(&f, &g.disk[2], "w", "0xzz");
	settle(&f);
	assert_true(f.errors >= 2);
	assert_int_equal(xen_daemon_disks(f.xd), 1);
	assert_be_state(&f, &g.disk[0], "2");
	assert_be_state(&f, &g.disk[1], "1");
	assert_be_state(&f, &g.disk[2], "1");
	assert_int_equal(fake_dom_nr_ranges(g.d), 1);
	/* The errors name the node and the file that were wrong. */
	assert_non_null(strstr(f.all_errs, "'base'"));
	assert_non_null(strstr(f.all_errs, g.disk[1].path));
	/* The good one works. */
	guest_probe(&g.disk[0]);
	io_verified(&g.disk[0], 4, 77);
	/* The toolstack gives up on the refused one: it still gets Closed. */
	xs_set(&f, "/local/domain/0/backend/virtio_disk/6/51728", "state", "5");
	settle(&f);
	assert_be_state(&f, &g.disk[1], "6");
	/* And closing the served one releases it and its server. */
	xs_set(&f, "/local/domain/0/backend/virtio_disk/6/51712", "state", "5");
	settle(&f);
	assert_be_state(&f, &g.disk[0], "6");
	assert_int_equal(xen_daemon_disks(f.xd), 0);
	assert_int_equal(fake_dom_servers(g.d), 0);
	assert_int_equal(fake_dom_foreign_pages(g.d), 0);
	guest_fini(&g);
	fixture_fini(&f);
}

/*
 * In a driver domain (3): the daemon finds its own backend/ tree from
 * xenstore's "domid" (no --backend-domid), and serves a guest that it is
 * the device model of. Before the relation exists, the device is refused
 * with one line naming the cause and the fix; once the toolstack rewrites
 * it, it is served; nobody's death is assumed from xenstore's EACCES.
 */
static void test_driver_domain(void **state)
{
	struct fixture f;
	struct guest g;
	char be[128];

	(void)state;
	fixture_init_in(&f, "posix", 3);
	xs_set(&f, "/local/domain/3", "domid", "3");
	daemon_start(&f, VBACK_XEN_IRQ_SPI, NULL, 0);
	guest_init(&f, &g, 5, VBACK_XEN_LAYOUT_VIRTIO_DISK, 1);
	snprintf(be, sizeof(be), "/local/domain/3/backend/virtio_disk/5/%u",
		 g.disk[0].devid);
	/* No grant_usage node (libxl 4.17): grants, as libxl tells the
	 * guest; the guest model, like a kernel without CONFIG_XEN_VIRTIO,
	 * uses plain addresses anyway. */
	xs_disk(&f, &g.disk[0], "w", NULL);
	settle(&f);
	assert_int_equal(xen_daemon_disks(f.xd), 0);
	assert_be_state(&f, &g.disk[0], "1");
	assert_non_null(strstr(f.all_errs, "not dom5's device model"));
	assert_non_null(strstr(f.all_errs, "vback-xen-target"));

	/* Dom0 sets the relation; the toolstack writes the device again. */
	assert_int_equal(fake_xen_set_target(f.fx, 3, 5), 0);
	assert_int_equal(fake_xs_rm(f.fx, be), 0);
	settle(&f);
	f.errors = 0;
	xs_disk(&f, &g.disk[0], "w", NULL);
	settle(&f);
	assert_int_equal(f.errors, 0);
	assert_int_equal(xen_daemon_disks(f.xd), 1);
	assert_be_state(&f, &g.disk[0], "2");
	guest_probe(&g.disk[0]);
	io_verified(&g.disk[0], 8, 33);

	/* Another domain dies: a DomU cannot ask whom (EACCES), and keeps
	 * serving. */
	fake_dom_destroy(fake_dom_create(f.fx, 9, 1, RAM_BASE, RAM_SIZE));
	settle(&f);
	assert_int_equal(xen_daemon_disks(f.xd), 1);
	io_verified(&g.disk[0], 16, 34);

	/* The guest is destroyed: libxl removes the nodes; released. */
	assert_int_equal(fake_xs_rm(f.fx, be), 0);
	settle(&f);
	assert_int_equal(xen_daemon_disks(f.xd), 0);
	assert_int_equal(fake_dom_servers(g.d), 0);
	guest_fini(&g);
	fixture_fini(&f);
}

/* --domid N --disk ...: no xenstore, one domain, x86 ISA interrupts. */
static void test_explicit_mode(void **state)
{
	static uint8_t out[4096];
	struct fixture f;
	struct guest g;
	char d0[200], d1[200];
	const char *args[] = {
		"--domid", "9", "--disk", d0, "--disk", d1, NULL
	};
	unsigned int i;

	fixture_init(&f, *state);
	if (!engine_usable(&f)) {
		fixture_fini(&f);
		skip();
	}
	guest_init(&f, &g, 9, VBACK_XEN_LAYOUT_VIRTIO_DISK, 2);
	g.disk[0].irq = IRQ_A;
	g.disk[1].irq = IRQ_B;
	snprintf(d0, sizeof(d0), "path=%s,base=%#llx,irq=" STR(IRQ_A),
		 g.disk[0].path, (unsigned long long)g.disk[0].base);
	snprintf(d1, sizeof(d1), "base=%#llx,irq=" STR(IRQ_B) ",ro,path=%s",
		 (unsigned long long)g.disk[1].base, g.disk[1].path);
	daemon_start(&f, IRQ_MODE, args, 0);
	assert_int_equal(xen_daemon_disks(f.xd), 2);
	assert_int_equal(fake_dom_servers(g.d), 1);
	assert_true(fake_dom_range_claimed(g.d, g.disk[1].base,
					   g.disk[1].base + 0x1ff));
	guest_probe(&g.disk[0]);
	guest_probe(&g.disk[1]);
	io_verified(&g.disk[0], 32, 5);
	/* An ISA line went up for the completion. */
	assert_true(fake_dom_irqs(g.d, IRQ_A) > 0);
	pattern(out, sizeof(out), 6);
	assert_int_equal(rw(&g.disk[1], VIRTIO_BLK_T_OUT, 0, out, sizeof(out)),
			 VIRTIO_BLK_S_IOERR);
	/* A stop request with nothing in flight: flush, then finished. */
	xen_daemon_signal(f.xd, SIGINT);
	for (i = 0; i < 5000 && !xen_daemon_finished(f.xd); i++)
		vback_loop_run_once(f.loop, 2);
	assert_true(xen_daemon_finished(f.xd));
	guest_fini(&g);
	fixture_fini(&f);
}

/*
 * Explicit mode has no xenstore discovery, yet the death of its domain is
 * noticed (the transport's died() callback): with writes in flight, its
 * disks are closed and its server, mappings and ports released, so the
 * dead guest is not kept a zombie; then the daemon has nothing left to
 * serve and stops on its own.
 */
static void test_explicit_domain_dies(void **state)
{
	static uint8_t burst[8][4096];
	struct fixture f;
	struct guest g;
	char d0[200], d1[200];
	const char *args[] = {
		"--domid", "9", "--disk", d0, "--disk", d1, NULL
	};
	unsigned int i, handles;

	fixture_init(&f, *state);
	if (!engine_usable(&f)) {
		fixture_fini(&f);
		skip();
	}
	guest_init(&f, &g, 9, VBACK_XEN_LAYOUT_VIRTIO_DISK, 2);
	g.disk[0].irq = IRQ_A;
	g.disk[1].irq = IRQ_B;
	snprintf(d0, sizeof(d0), "path=%s,base=%#llx,irq=" STR(IRQ_A),
		 g.disk[0].path, (unsigned long long)g.disk[0].base);
	snprintf(d1, sizeof(d1), "path=%s,base=%#llx,irq=" STR(IRQ_B),
		 g.disk[1].path, (unsigned long long)g.disk[1].base);
	daemon_start(&f, IRQ_MODE, args, 0);
	settle(&f);
	for (i = 0; i < 2; i++) {
		guest_probe(&g.disk[i]);
		io_verified(&g.disk[i], 16 + i, 50 + i);
	}
	assert_int_equal(bound_ports(g.d), 2);
	assert_true(fake_dom_foreign_pages(g.d) > 0);
	assert_false(xen_daemon_finished(f.xd));

	/* The guest dies with writes in flight on both disks. */
	handles = fake_xen_open_handles(f.fx);
	for (i = 0; i < 8; i++) {
		pattern(burst[i], sizeof(burst[i]), 300 + i);
		submit(&g.disk[i % 2], VIRTIO_BLK_T_OUT, 256 + 8 * i, burst[i],
		       sizeof(burst[i]));
	}
	fake_dom_destroy(g.d);
	settle(&f);
	assert_true(xen_daemon_finished(f.xd));
	assert_int_equal(xen_daemon_disks(f.xd), 0);
	assert_int_equal(fake_dom_servers(g.d), 0);
	assert_int_equal(fake_dom_nr_ranges(g.d), 0);
	assert_int_equal(fake_dom_foreign_pages(g.d), 0);
	assert_int_equal(fake_dom_grant_pages(g.d), 0);
	assert_false(fake_dom_is_zombie(g.d));
	assert_int_equal(bound_ports(g.d), 0);
	/* Its two vCPUs' ports and its ioreq page are released. */
	assert_int_equal(fake_xen_open_handles(f.fx), handles - 3);
	assert_int_equal(f.errors, 0);
	check_fake(&f);
	guest_fini(&g);
	fixture_fini(&f);
}

/* Explicit mode errors: a missing image fails before Xen is touched, a
 * domain that does not exist fails cleanly, overlapping windows too. */
static void test_explicit_errors(void **state)
{
	struct fixture f;
	char d0[200], d1[200];
	const char *args[] = {
		"--domid", "9", "--disk", d0, "--disk", d1, NULL
	};
	struct guest g;

	(void)state;
	fixture_init(&f, "posix");
	snprintf(d0, sizeof(d0),
		 "path=%s/none.img,base=0x2000000,irq=" STR(IRQ_A), f.dir);
	snprintf(d1, sizeof(d1),
		 "path=%s/none.img,base=0x2000200,irq=" STR(IRQ_B), f.dir);
	daemon_start(&f, IRQ_MODE, args, -ENOENT);
	assert_non_null(strstr(f.last_err, "none.img"));
	/* Images fine, but no domain 9. */
	snprintf(d0, sizeof(d0), "%s/a.img", f.dir);
	make_image(d0, DISK_BYTES);
	snprintf(d0, sizeof(d0), "path=%s/a.img,base=0x2000000,irq=" STR(IRQ_A),
		 f.dir);
	snprintf(d1, sizeof(d1), "%s/b.img", f.dir);
	make_image(d1, DISK_BYTES);
	snprintf(d1, sizeof(d1), "path=%s/b.img,base=0x2000200,irq=" STR(IRQ_B),
		 f.dir);
	daemon_start(&f, IRQ_MODE, args, -ESRCH);
	/* With the domain: serves. */
	guest_init(&f, &g, 9, VBACK_XEN_LAYOUT_VIRTIO_DISK, 0);
	daemon_start(&f, IRQ_MODE, args, 0);
	assert_int_equal(fake_dom_nr_ranges(g.d), 2);
	xen_daemon_destroy(f.xd);
	f.xd = NULL;
	assert_int_equal(fake_dom_servers(g.d), 0);
	fixture_fini(&f);
}

/* ---- restarts: SIGTERM hands over, the next daemon adopts ---- */

static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* SIGTERM with --state-dir: drained, flushed, handed over. */
static void stop_and_hand_over(struct fixture *f)
{
	unsigned int i;

	xen_daemon_signal(f->xd, SIGTERM);
	for (i = 0; i < 5000 && !xen_daemon_finished(f->xd); i++)
		vback_loop_run_once(f->loop, 1);
	assert_true(xen_daemon_finished(f->xd));
	xen_daemon_destroy(f->xd);
	f->xd = NULL;
}

/*
 * A planned restart under running guests: SIGTERM leaves the IOREQ
 * server, its windows and the devices' state files; the next daemon, with
 * the same command line, adopts both disks (backend state 2, never
 * touched), and the guest goes on with its data. Then the guest closes
 * its disks: the state files go with them.
 */
/* Daemons of this test keep their state in F/state (into @dir, which the
 * test's --state-dir argument points at). */
static void use_state_dir(struct fixture *f, char *dir, size_t n)
{
	snprintf(dir, n, "%s/state", f->dir);
	f->state_dir = true;
}

static void test_restart_adopts(void **state)
{
	struct fixture f;
	struct guest g;
	char dir[300], sf[2][400];
	const char *args[] = { "--state-dir", dir, NULL };
	unsigned int i;

	fixture_init(&f, *state);
	if (!engine_usable(&f)) {
		fixture_fini(&f);
		skip();
	}
	use_state_dir(&f, dir, sizeof(dir));
	daemon_start(&f, VBACK_XEN_IRQ_SPI, args, 0);
	guest_init(&f, &g, 5, VBACK_XEN_LAYOUT_VIRTIO, 2);
	for (i = 0; i < 2; i++)
		xs_disk(&f, &g.disk[i], "w", NULL);
	settle(&f);
	assert_int_equal(xen_daemon_disks(f.xd), 2);
	for (i = 0; i < 2; i++) {
		guest_probe(&g.disk[i]);
		io_verified(&g.disk[i], 8 + i, 40 + i);
		snprintf(sf[i], sizeof(sf[i]), "%s/dom5-virtio-%u.state", dir,
			 g.disk[i].devid);
		assert_true(file_exists(sf[i]));
	}
	for (unsigned int round = 0; round < 2; round++) {
		stop_and_hand_over(&f);
		/* Left to the next process: server, windows, state. */
		assert_int_equal(fake_dom_servers(g.d), 1);
		assert_int_equal(bound_ports(g.d), 0);
		assert_int_equal(fake_dom_foreign_pages(g.d), 0);
		for (i = 0; i < 2; i++) {
			assert_true(
				fake_dom_range_claimed(g.d, g.disk[i].base,
						       g.disk[i].base + 0x1ff));
			assert_true(file_exists(sf[i]));
			assert_be_state(&f, &g.disk[i], "2");
		}
		daemon_start(&f, VBACK_XEN_IRQ_SPI, args, 0);
		settle(&f);
		assert_int_equal(f.errors, 0);
		assert_int_equal(xen_daemon_disks(f.xd), 2);
		assert_int_equal(fake_dom_servers(g.d), 1);
		for (i = 0; i < 2; i++) {
			/* The guest never noticed: the same device, the data
			 * of before, and new IO. */
			check_file(&g.disk[i], 8 + i, 40 + i, 12288);
			io_verified(&g.disk[i], 64 + 8 * round + i,
				    50 + round * 2 + i);
			assert_be_state(&f, &g.disk[i], "2");
		}
	}
	/* The toolstack closes the disks: state files removed. */
	for (i = 0; i < 2; i++) {
		char be[160];

		snprintf(be, sizeof(be), "/local/domain/0/backend/virtio/5/%u",
			 g.disk[i].devid);
		xs_set(&f, be, "state", "5");
	}
	settle(&f);
	for (i = 0; i < 2; i++) {
		assert_be_state(&f, &g.disk[i], "6");
		assert_false(file_exists(sf[i]));
	}
	guest_fini(&g);
	check_fake(&f);
	fixture_fini(&f);
}

/* Flip one byte of a state file at @off. */
static void flip_byte(const char *path, off_t off)
{
	uint8_t c;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* How many lines of @all name @what. */
static unsigned int count_lines(const char *all, const char *what)
{
	unsigned int n = 0;

	for (const char *p = all; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/*
 * Devices a dead daemon served, with their state missing or damaged: not
 * adopted, exactly one clear line each that names the device and why,
 * nothing written to the guest's device (backend state stays 2); a disk
 * with good state next to them is adopted and serves.
 */
static void test_restart_bad_state(void **state)
{
	static const char *const why[] = {
		"no saved state",	 /* file removed */
		"wrong size",		 /* file cut short */
		"bad magic",		 /* header damaged */
		"unknown state version", /* register snapshot damaged */
	};
	struct fixture f;
	struct guest g;
	char dir[300], sf[5][400];
	const char *args[] = { "--state-dir", dir, NULL };
	struct xen_state_hdr h;
	unsigned int i;
	int fd;

	(void)state;
	fixture_init(&f, NULL);
	use_state_dir(&f, dir, sizeof(dir));
	daemon_start(&f, VBACK_XEN_IRQ_SPI, args, 0);
	guest_init(&f, &g, 6, VBACK_XEN_LAYOUT_VIRTIO_DISK, 5);
	for (i = 0; i < 5; i++) {
		xs_disk(&f, &g.disk[i], "w", NULL);
		snprintf(sf[i], sizeof(sf[i]), "%s/dom6-virtio_disk-%u.state",
			 dir, g.disk[i].devid);
	}
	settle(&f);
	for (i = 0; i < 5; i++)
		guest_probe(&g.disk[i]);
	stop_and_hand_over(&f);
	/* Disk 0: state file gone; 1: cut short; 2: its header's magic;
	 * 3: the version of its register snapshot; 4: intact. */
	assert_int_equal(unlink(sf[0]), 0);
	fd = open(sf[1], O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 100), 0);
	close(fd);
	flip_byte(sf[2], offsetof(struct xen_state_hdr, magic) + 3);
	fd = open(sf[3], O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
	assert_true(h.active <= 1);
	/* struct vback_mmio_state starts with its version. */
	flip_byte(sf[3],
		  (off_t)(((sizeof(h) + 63) & ~(size_t)63) +
			  h.active * ((sizeof(struct vback_mmio_state) + 63) &
				      ~(size_t)63)));
	f.errors = 0;
	f.all_errs[0] = '\0';
	daemon_start(&f, VBACK_XEN_IRQ_SPI, args, 0);
	settle(&f);
	assert_int_equal(xen_daemon_disks(f.xd), 1);
	/* One line per refused disk, and each says why. */
	assert_int_equal(f.errors, 4);
	assert_int_equal(count_lines(f.all_errs, "not adopted"), 4);
	for (i = 0; i < 4; i++)
		assert_non_null(strstr(f.all_errs, why[i]));
	/* The file named where the file is the problem. */
	assert_non_null(strstr(f.all_errs, sf[0]));
	assert_non_null(strstr(f.all_errs, sf[1]));
	for (i = 0; i < 5; i++)
		assert_be_state(&f, &g.disk[i], "2");
	io_verified(&g.disk[4], 16, 77);
	/* The refused disks' state is kept for a look; a new one is not
	 * made for them. */
	assert_false(file_exists(sf[0]));
	for (i = 1; i < 5; i++)
		assert_true(file_exists(sf[i]));
	guest_fini(&g);
	fixture_fini(&f);
}

#if VBACK_HAVE_NBD
/* A TCP port that accepts connections (the kernel's backlog) and never
 * says a word: an NBD server that hangs. Its URI into @uri. */
static int hung_server(char *uri, size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(uri, n, "nbd://127.0.0.1:%u/x", ntohs(a.sin_port));
	return fd;
}

/* A daemon (@args) and domain 6 with @ndisks disks, the first on a hung
 * server and still connecting (state 1). The server's fd. */
static int start_with_hung_disk(struct fixture *f, struct guest *g,
				const char *const *args, unsigned int ndisks)
{
	int lfd;

	fixture_init(f, "posix");
	daemon_start(f, VBACK_XEN_IRQ_SPI, args, 0);
	guest_init(f, g, 6, VBACK_XEN_LAYOUT_VIRTIO_DISK, ndisks);
	lfd = hung_server(g->disk[0].path, sizeof(g->disk[0].path));
	xs_disk(f, &g->disk[0], "w", NULL);
	settle(f);
	assert_be_state(f, &g->disk[0], "1");
	return lfd;
}

/* nbdkit serving @img on unix socket @sock; 0 when not installed. */
static pid_t nbdkit_start(const char *sock, const char *img)
{
	pid_t pid;

	if (system("command -v nbdkit >/dev/null 2>&1"))
		return 0;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sigset_t none;

		/* The daemon blocks the signals it reads from a signalfd:
		 * not the server's. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execlp("nbdkit", "nbdkit", "-f", "--exit-with-parent", "-U",
		       sock, "file", img, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && access(sock, F_OK); i++)
		usleep(20000);
	assert_int_equal(access(sock, F_OK), 0);
	return pid;
}

/* Run the loop until @k's backend state is @want (the open runs on a
 * thread of the daemon's), at most 10 s. */
static void wait_be_state(struct fixture *f, const struct gdisk *k,
			  const char *want)
{
	for (int i = 0; i < 1000; i++) {
		char *v = xs_get(f, k, "state");
		bool done = v && !strcmp(v, want);

		free(v);
		if (done)
			break;
		vback_loop_run_once(f->loop, 10);
	}
	assert_be_state(f, k, want);
}

/*
 * A network disk connects on a thread of its own: while its server does
 * not answer, the device waits in state 1 and every other disk is served;
 * closing it calls the connect off. One whose server answers is served
 * on that connection, data and all.
 */
static void test_network_disk_opens_aside(void **state)
{
	static uint8_t out[8192], in[8192], file[8192];
	const struct json_value *r, *c;
	struct fixture f;
	struct guest g;
	char img[96], sock[96];
	int lfd;
	pid_t kit;

	(void)state;
	lfd = start_with_hung_disk(&f, &g, NULL, 3);
	/* list says it is connecting, by its image. */
	r = ctl(&f, "{\"cmd\":\"list\",\"args\":{\"name\":\"dom6/51712\"}}");
	c = json_get(json_get(r, "ok"), "connecting");
	assert_int_equal(c->count, 1);
	assert_string_equal(json_get(c->child, "image")->str, g.disk[0].path);
	/* Meanwhile a file: served at once, and works. */
	xs_disk(&f, &g.disk[1], "w", NULL);
	settle(&f);
	assert_be_state(&f, &g.disk[1], "2");
	guest_probe(&g.disk[1]);
	io_verified(&g.disk[1], 4, 77);
	assert_be_state(&f, &g.disk[0], "1");
	/* The toolstack gives up: called off, Closed. */
	xs_set(&f, "/local/domain/0/backend/virtio_disk/6/51712", "state", "5");
	settle(&f);
	assert_be_state(&f, &g.disk[0], "6");
	r = ctl(&f, "{\"cmd\":\"list\"}");
	assert_int_equal(json_get(json_get(r, "ok"), "connecting")->count, 0);
	/* Nothing failed: on the main loop, the connect would have waited
	 * for the server's 30 s timeout, then refused the disk. */
	assert_int_equal(f.errors, 0);
	close(lfd); /* the connect fails now; its thread ends, quietly */

	snprintf(img, sizeof(img), "%s/nbd.img", f.dir);
	snprintf(sock, sizeof(sock), "%s/nbd.sock", f.dir);
	make_image(img, DISK_BYTES);
	kit = nbdkit_start(sock, img);
	if (kit > 0) {
		snprintf(g.disk[2].path, sizeof(g.disk[2].path),
			 "nbd+unix:///?socket=%s", sock);
		xs_disk(&f, &g.disk[2], "w", NULL);
		wait_be_state(&f, &g.disk[2], "2");
		guest_probe(&g.disk[2]);
		pattern(out, sizeof(out), 91);
		assert_int_equal(rw(&g.disk[2], VIRTIO_BLK_T_OUT, 8, out,
				    sizeof(out)),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(rw(&g.disk[2], VIRTIO_BLK_T_FLUSH, 0, NULL, 0),
				 VIRTIO_BLK_S_OK);
		file_read(img, 8 * SECTOR, file, sizeof(file));
		assert_memory_equal(file, out, sizeof(out));
		assert_int_equal(rw(&g.disk[2], VIRTIO_BLK_T_IN, 8, in,
				    sizeof(in)),
				 VIRTIO_BLK_S_OK);
		assert_memory_equal(in, out, sizeof(in));
	} else {
		fprintf(stderr, "  (nbdkit not installed: no served NBD "
				"disk checked)\n");
	}
	guest_fini(&g);
	fixture_fini(&f);
	assert_null(strstr(f.all_errs, "cannot open"));
	if (kit > 0) {
		kill(kit, SIGTERM);
		waitpid(kit, NULL, 0);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * --net-timeout bounds what a server that never answers costs: the connect
 * gives up after it (the disk is refused, with the reason), and a daemon
 * stopped while one is under way waits at most that long, and says why.
 * With the IO layer's default the test would wait 30 s for each.
 */
static void test_net_timeout(void **state)
{
	static const char *const args[] = { "--net-timeout", "1", NULL };
	struct fixture f;
	struct guest g;
	double t0;
	int lfd;

	(void)state;
	fixture_init(&f, "posix");
	daemon_start(&f, VBACK_XEN_IRQ_SPI, args, 0);
	guest_init(&f, &g, 6, VBACK_XEN_LAYOUT_VIRTIO_DISK, 2);
	lfd = hung_server(g.disk[0].path, sizeof(g.disk[0].path));
	snprintf(g.disk[1].path, sizeof(g.disk[1].path), "%s", g.disk[0].path);
	t0 = now_s();
	xs_disk(&f, &g.disk[0], "w", NULL);
	settle(&f);
	assert_be_state(&f, &g.disk[0], "1");
	while (!f.errors && now_s() - t0 < 20)
		vback_loop_run_once(f.loop, 50);
	settle(&f);
	assert_true(f.errors >= 1);
	assert_non_null(strstr(f.all_errs, "dom6/51712: cannot open nbd://"));
	assert_true(now_s() - t0 >= 0.9);
	assert_true(now_s() - t0 < 10);
	assert_null(strstr(f.all_log, "still connecting"));

	/* The second disk of the same server is still connecting when the
	 * daemon stops. */
	xs_disk(&f, &g.disk[1], "w", NULL);
	settle(&f);
	assert_be_state(&f, &g.disk[1], "1");
	t0 = now_s();
	xen_daemon_destroy(f.xd);
	f.xd = NULL;
	assert_true(now_s() - t0 < 10);
	assert_non_null(strstr(f.all_log, "still connecting to"));
	assert_non_null(strstr(f.all_log, "(at most 1 s;"));
	/* Called off, not refused (the IO layer says its connect failed). */
	assert_null(strstr(f.all_errs, "dom6/51728: cannot open"));
	close(lfd);
	guest_fini(&g);
	fixture_fini(&f);
}

/*
 * A stop waits for a connect under way up to the IO timeout; a second
 * stop signal ends that wait at once. The connect's thread runs on by
 * itself: it must not touch the daemon's loop, and it closes what it
 * opens.
 */
static void test_second_signal_ends_connect_wait(void **state)
{
	static const char *const args[] = { "--net-timeout", "60", NULL };
	struct fixture f;
	struct guest g;
	unsigned int errors;
	double t0;
	int lfd;

	(void)state;
	lfd = start_with_hung_disk(&f, &g, args, 1);
	/* The stop's signal, then the second one. */
	xen_daemon_signal(f.xd, SIGTERM);
	settle(&f);
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	errors = f.errors;
	t0 = now_s();
	xen_daemon_destroy(f.xd);
	f.xd = NULL;
	assert_true(now_s() - t0 < 5); /* not the 60 s of the connect */
	assert_non_null(strstr(f.all_log, "second signal: not waiting"));
	/* The server goes: the thread's connect fails (it logs), and it
	 * ends without the loop, which is still there. */
	close(lfd);
	for (int i = 0;
	     i < 200 && __atomic_load_n(&f.errors, __ATOMIC_ACQUIRE) == errors;
	     i++)
		usleep(50 * 1000);
	assert_true(f.errors > errors);
	usleep(200 * 1000);
	guest_fini(&g);
	fixture_fini(&f);
}

/* A restart takes over an NBD disk too: its connect runs aside, the
 * device is adopted once it is up, and the guest's data is there. */
static void test_restart_adopts_network_disk(void **state)
{
	static uint8_t out[8192], in[8192], file[8192];
	struct fixture f;
	struct guest g;
	char dir[300], img[96], sock[96];
	const char *args[] = { "--state-dir", dir, NULL };
	pid_t kit;

	(void)state;
	fixture_init(&f, "posix");
	snprintf(img, sizeof(img), "%s/nbd.img", f.dir);
	snprintf(sock, sizeof(sock), "%s/nbd.sock", f.dir);
	make_image(img, DISK_BYTES);
	kit = nbdkit_start(sock, img);
	if (kit <= 0) {
		fixture_fini(&f);
		skip();
	}
	use_state_dir(&f, dir, sizeof(dir));
	daemon_start(&f, VBACK_XEN_IRQ_SPI, args, 0);
	guest_init(&f, &g, 5, VBACK_XEN_LAYOUT_VIRTIO, 2);
	snprintf(g.disk[0].path, sizeof(g.disk[0].path),
		 "nbd+unix:///?socket=%s", sock);
	xs_disk(&f, &g.disk[0], "w", NULL);
	xs_disk(&f, &g.disk[1], "w", NULL);
	wait_be_state(&f, &g.disk[0], "2");
	guest_probe(&g.disk[0]);
	guest_probe(&g.disk[1]);
	pattern(out, sizeof(out), 33);
	assert_int_equal(rw(&g.disk[0], VIRTIO_BLK_T_OUT, 16, out, sizeof(out)),
			 VIRTIO_BLK_S_OK);
	io_verified(&g.disk[1], 8, 34);

	stop_and_hand_over(&f);
	assert_int_equal(fake_dom_servers(g.d), 1);
	daemon_start(&f, VBACK_XEN_IRQ_SPI, args, 0);
	for (int i = 0; i < 1000 && xen_daemon_disks(f.xd) < 2; i++)
		vback_loop_run_once(f.loop, 10);
	settle(&f);
	assert_int_equal(f.errors, 0);
	assert_int_equal(xen_daemon_disks(f.xd), 2);
	assert_be_state(&f, &g.disk[0], "2");
	/* The write acknowledged before the restart is in nbdkit's file
	 * (the stop flushed it); the same device reads it and takes more. */
	file_read(img, 16 * SECTOR, file, sizeof(file));
	assert_memory_equal(file, out, sizeof(out));
	assert_int_equal(rw(&g.disk[0], VIRTIO_BLK_T_IN, 16, in, sizeof(in)),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(in, out, sizeof(in));
	pattern(out, sizeof(out), 35);
	assert_int_equal(rw(&g.disk[0], VIRTIO_BLK_T_OUT, 32, out, sizeof(out)),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(rw(&g.disk[0], VIRTIO_BLK_T_IN, 32, in, sizeof(in)),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(in, out, sizeof(in));
	check_file(&g.disk[1], 8, 34, 12288);
	xs_set(&f, "/local/domain/0/backend/virtio/5/51712", "state", "5");
	xs_set(&f, "/local/domain/0/backend/virtio/5/51728", "state", "5");
	settle(&f);
	guest_fini(&g);
	fixture_fini(&f);
	kill(kit, SIGTERM);
	waitpid(kit, NULL, 0);
}
#endif

int main(void)
{
	static char posix[] = "posix", uring[] = "io_uring";
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_two_domains, posix),
		cmocka_unit_test_prestate(test_two_domains, uring),
		cmocka_unit_test_prestate(test_sigterm_with_io_in_flight,
					  posix),
		cmocka_unit_test_prestate(test_sigterm_with_io_in_flight,
					  uring),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_bad_device_refused),
		cmocka_unit_test(test_driver_domain),
		cmocka_unit_test_prestate(test_explicit_mode, posix),
		cmocka_unit_test_prestate(test_explicit_mode, uring),
		cmocka_unit_test_prestate(test_explicit_domain_dies, posix),
		cmocka_unit_test_prestate(test_explicit_domain_dies, uring),
		cmocka_unit_test(test_explicit_errors),
		cmocka_unit_test_prestate(test_restart_adopts, posix),
		cmocka_unit_test_prestate(test_restart_adopts, uring),
		cmocka_unit_test(test_restart_bad_state),
#if VBACK_HAVE_NBD
		cmocka_unit_test(test_network_disk_opens_aside),
		cmocka_unit_test(test_net_timeout),
		cmocka_unit_test(test_second_signal_ends_connect_wait),
		cmocka_unit_test(test_restart_adopts_network_disk),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
