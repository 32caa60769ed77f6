/* SPDX-License-Identifier: MIT */
/*
 * bench_blk: CPU time per 4 KiB virtio-blk request through the split
 * virtqueue and virtio-blk, with a null IO backend that completes every
 * request at unplug(), in one process, on one core. Not a test.
 *
 * The "guest" is a minimal driver writing the rings through host pointers
 * (like a real guest would), so nearly all the measured time is the
 * device's: pop + validate + map, header parse, IO submit, completion,
 * status write, used ring, notification decision.
 *
 * Usage: bench_blk [-n requests] [-b batch] [-q queue size] [-i] [-e]
 *   -i  use INDIRECT descriptors   -e  negotiate EVENT_IDX
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vback/mmio.h>

#define GPA_BASE  0x100000ull
#define REQ_BYTES 4096u

/* ---- one flat guest memory region ---- */
struct flatmem {
	uint8_t *host;
	uint64_t size;
};

static void *flat_map(void *opaque, uint64_t addr, uint64_t *len,
		      unsigned int access)
{
	struct flatmem *m = opaque;
	uint64_t off;

	(void)access;
	if (addr < GPA_BASE || addr - GPA_BASE >= m->size)
		return NULL;
	off = addr - GPA_BASE;
	if (*len > m->size - off)
		*len = m->size - off;
	return m->host + off;
}

static const struct vback_gm_ops flat_ops = { .map = flat_map };

/* ---- null IO: completes everything at unplug ---- */
struct nullio {
	struct vback_io_req *head;
	uint64_t done;
};

static int null_submit(void *opaque, struct vback_io_req *req)
{
	struct nullio *n = opaque;

	req->backend[0] = (uintptr_t)n->head;
	n->head = req;
	return 0;
}

static void null_unplug(void *opaque)
{
	struct nullio *n = opaque;

	while (n->head) {
		struct vback_io_req *req = n->head;

		n->head = (struct vback_io_req *)req->backend[0];
		n->done++;
		req->done(req, 0);
	}
}

static int null_caps(void *opaque, struct vback_io_caps *caps)
{
	(void)opaque;
	memset(caps, 0, sizeof(*caps));
	caps->size_bytes = 1ull << 30;
	caps->logical_block_size = 512;
	caps->physical_block_size = 4096;
	return 0;
}

static const struct vback_io_ops null_ops = {
	.submit = null_submit,
	.unplug = null_unplug,
	.get_caps = null_caps,
};

/* ---- transport callbacks ---- */
static uint64_t irqs;

static void t_notify(void *opaque, unsigned int q)
{
	(void)opaque;
	(void)q;
	irqs++;
}

static void t_config(void *opaque)
{
	(void)opaque;
}

static const struct vback_dev_transport_ops t_ops = {
	.notify_queue = t_notify,
	.notify_config = t_config,
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static void desc(uint8_t *p, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	put64(p, addr);
	put32(p + 8, len);
	put16(p + 12, flags);
	put16(p + 14, next);
}

static double now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long long total = 2000000;
	unsigned int batch = 32, qsize = 256;
	bool indirect = false, event_idx = false;
	struct vback_blk_options bo;
	struct vback_dev_transport t;
	struct vback_loop *loop;
	struct vback_vq_addr a;
	struct flatmem mem;
	struct nullio nio = { 0 };
	struct vback_blk *blk;
	struct vback_dev *dev;
	uint64_t desc_gpa, avail_gpa, used_gpa, bufs_gpa, tables_gpa;
	uint8_t *avail, *used;
	uint16_t avail_idx = 0, last_used = 0;
	unsigned long long done = 0, bad = 0;
	unsigned int per_req;
	double t0, t1, w0, w1;
	int opt, r;

	while ((opt = getopt(argc, argv, "n:b:q:ie")) != -1) {
		switch (opt) {
		case 'n':
			total = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			batch = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'q':
			qsize = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'i':
			indirect = true;
			break;
		case 'e':
			event_idx = true;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-n N] [-b batch] [-q size] "
				"[-i] [-e]\n",
				argv[0]);
			return 2;
		}
	}
	per_req = indirect ? 1 : 3;
	if (!batch || qsize > 32768 || (qsize & (qsize - 1)) ||
	    batch * per_req > qsize) {
		fprintf(stderr, "batch * descriptors per request must fit the "
				"queue (power of two)\n");
		return 2;
	}

	/* Guest memory: rings, then per-slot header+status, data, tables. */
	mem.size = 64ull << 20;
	mem.host = aligned_alloc(4096, mem.size);
	if (!mem.host)
		return 1;
	memset(mem.host, 0, mem.size);
	desc_gpa = GPA_BASE;
	avail_gpa = desc_gpa + 16ull * qsize;
	used_gpa = (avail_gpa + 6 + 2ull * qsize + 4095) & ~4095ull;
	bufs_gpa = used_gpa + ((6 + 8ull * qsize + 4095) & ~4095ull);
	tables_gpa = bufs_gpa + (uint64_t)qsize * (REQ_BYTES + 64);
	avail = mem.host + (avail_gpa - GPA_BASE);
	used = mem.host + (used_gpa - GPA_BASE);

	memset(&bo, 0, sizeof(bo));
	bo.io.ops = &null_ops;
	bo.io.opaque = &nio;
	bo.queue_size = (uint16_t)qsize;
	bo.name = "bench";
	r = vback_blk_create(&bo, &blk);
	if (r) {
		fprintf(stderr, "blk_create: %d\n", r);
		return 1;
	}
	dev = vback_blk_dev(blk);
	memset(&t, 0, sizeof(t));
	if (vback_simple_loop_create(NULL, &loop))
		return 1;
	t.ops = &t_ops;
	t.gm.ops = &flat_ops;
	t.gm.opaque = &mem;
	t.loop = loop;
	if (vback_dev_attach(dev, &t))
		return 1;
	vback_dev_set_status(dev,
			     VBACK_STATUS_ACKNOWLEDGE | VBACK_STATUS_DRIVER);
	vback_dev_set_driver_features(dev,
				      (1ull << 32) | (1ull << 28) |
					      (event_idx ? 1ull << 29 : 0));
	vback_dev_queue_set_size(dev, 0, (uint16_t)qsize);
	a.desc = desc_gpa;
	a.avail = avail_gpa;
	a.used = used_gpa;
	vback_dev_queue_set_addr(dev, 0, &a);
	r = vback_dev_queue_enable(dev, 0);
	if (r) {
		fprintf(stderr, "queue_enable: %d\n", r);
		return 1;
	}
	vback_dev_set_status(dev, VBACK_STATUS_ACKNOWLEDGE |
					  VBACK_STATUS_DRIVER |
					  VBACK_STATUS_FEATURES_OK |
					  VBACK_STATUS_DRIVER_OK);
	vback_simple_loop_dispatch(loop);

	/* Pre-build one chain per request slot: header, 4 KiB, status.
	 * Slot s uses descriptors s*3..s*3+2 (or one indirect table). */
	for (unsigned int s = 0; s < qsize / per_req; s++) {
		uint64_t buf = bufs_gpa + (uint64_t)s * (REQ_BYTES + 64);
		uint8_t *hdr = mem.host + (buf - GPA_BASE);
		uint8_t *tbl =
			indirect
				? mem.host + (tables_gpa + 48ull * s - GPA_BASE)
				: mem.host + (desc_gpa + 48ull * s - GPA_BASE);
		uint16_t base = indirect ? 0 : (uint16_t)(s * 3);

		put32(hdr, s & 1); /* alternate reads and writes */
		put64(hdr + 8, (uint64_t)s * 8);
		desc(tbl, buf, 16, 1, (uint16_t)(base + 1));
		desc(tbl + 16, buf + 32, REQ_BYTES, (s & 1) ? 1 : 3,
		     (uint16_t)(base + 2));
		desc(tbl + 32, buf + 16, 1, 2, 0);
		if (indirect)
			desc(mem.host + (desc_gpa + 16ull * s - GPA_BASE),
			     tables_gpa + 48ull * s, 48, 4, 0);
	}

	t0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	w0 = now_ns(CLOCK_MONOTONIC);
	while (done < total) {
		unsigned int slots = qsize / per_req;

		for (unsigned int i = 0; i < batch; i++) {
			uint16_t slot = (uint16_t)((avail_idx) % slots);
			uint16_t head = (uint16_t)(slot * (indirect ? 1 : 3));

			put16(avail + 4 + 2 * (avail_idx & (qsize - 1)), head);
			avail_idx++;
		}
		atomic_thread_fence(memory_order_release);
		put16(avail + 2, avail_idx);
		vback_dev_queue_kick(dev, 0);
		/* The rest of the loop iteration: what the kick deferred. */
		vback_simple_loop_dispatch(loop);
		atomic_thread_fence(memory_order_acquire);
		while (last_used != (uint16_t)(used[2] | used[3] << 8)) {
			uint8_t *e = used + 4 + 8 * (last_used & (qsize - 1));
			uint32_t len = e[4] | e[5] << 8 | e[6] << 16;

			bad += len != ((e[0] / 3) & 1 ? 1u : REQ_BYTES + 1u) &&
			       !indirect;
			last_used++;
			done++;
		}
		if (event_idx)
			put16(avail + 4 + 2 * qsize, last_used);
	}
	t1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	w1 = now_ns(CLOCK_MONOTONIC);

	printf("bench_blk: %llu requests of %u bytes, batch %u, queue %u, "
	       "%s, %s\n",
	       done, REQ_BYTES, batch, qsize, indirect ? "indirect" : "direct",
	       event_idx ? "EVENT_IDX" : "no EVENT_IDX");
	printf("  CPU  %.1f ns/request (%.2f Mreq/s)\n", (t1 - t0) / done,
	       done / (t1 - t0) * 1e3);
	printf("  wall %.1f ns/request, %llu interrupts, %llu IO "
	       "completions, %llu bad used lengths\n",
	       (w1 - w0) / done, (unsigned long long)irqs,
	       (unsigned long long)nio.done, bad);
	vback_dev_detach(dev);
	vback_blk_destroy(blk);
	vback_simple_loop_destroy(loop);
	free(mem.host);
	return bad ? 1 : 0;
}
