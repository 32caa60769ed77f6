/* SPDX-License-Identifier: MIT */
/*
 * The in-flight record (vback_dev_queue_set_inflight(), virtio/inflight.c)
 * and what it is for: a backend killed at any instant, with requests
 * completing out of order, and a new one that adopts the record.
 *
 * A "process" here is a node: a device on a RAM disk (tests/common
 * test_io, holding completions so that the test decides their order)
 * over fake guest memory, driven directly as vhost-user does. Killing it
 * is a snapshot of what outlives a process - guest memory, the disk, the
 * record - taken between two of its steps; the next node starts from the
 * snapshot, as a restarted vback-disk starts from what QEMU and the disk
 * kept. The instants inside a publish (used->idx written, marks not yet
 * cleared, or half cleared) are made by hand from the snapshots around
 * them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vback/dev.h>
#include <vback/virtio.h>

#include "guest_mem.h"
#include "test_io.h"

#define QSIZE	 16u
#define MEM	 0x100000ull
#define MEM_SIZE 0x20000ull
#define DESC	 MEM
#define AVAIL	 (MEM + 0x1000)
#define USED	 (MEM + 0x2000)
#define BUFS	 (MEM + 0x10000)
#define DISK	 (64u << 10)
#define REC_LEN	 (16 + 16 * QSIZE)

/* The record as QEMU's documentation lays it out (host byte order). */
struct rec_hdr {
	uint64_t features;
	uint16_t version, desc_num, last_batch_head, used_idx;
};
struct rec_desc {
	uint8_t inflight;
	uint8_t pad[5];
	uint16_t next;
	uint64_t counter;
};

/* What outlives a process. */
struct image {
	uint8_t guest[MEM_SIZE];
	uint8_t disk[DISK];
	_Alignas(8) uint8_t rec[REC_LEN];
};

struct node {
	struct vback_loop *loop;
	struct gmem *mem;
	struct tio *io;
	struct vback_blk *blk;
	struct vback_dev *dev;
	struct vback_log log;
	_Alignas(8) uint8_t rec[REC_LEN];
	/* Sectors written by this node, in order. */
	uint64_t ran[64];
	unsigned int nran;
	unsigned int warns, infos, idle, quiesced;
	char last_warn[256];
};

static void n_notify(void *opaque, unsigned int q)
{
	(void)opaque;
	(void)q;
}

static void n_config(void *opaque)
{
	(void)opaque;
}

static void n_idle(void *opaque, unsigned int q)
{
	(void)q;
	((struct node *)opaque)->idle++;
}

static const struct vback_dev_transport_ops n_ops = {
	.notify_queue = n_notify,
	.notify_config = n_config,
	.queue_idle = n_idle,
};

static void n_log(void *opaque, enum vback_log_level level, const char *msg)
{
	struct node *n = opaque;

	if (getenv("VBACK_TEST_LOG"))
		fprintf(stderr, "log %d: %s\n", (int)level, msg);
	if (level == VBACK_LOG_WARN) {
		n->warns++;
		snprintf(n->last_warn, sizeof(n->last_warn), "%s", msg);
	} else if (level == VBACK_LOG_INFO) {
		n->infos++;
	}
}

static void n_ran(void *opaque, const struct vback_io_req *req)
{
	struct node *n = opaque;

	if (req->op == VBACK_IO_WRITE && n->nran < 64)
		n->ran[n->nran++] = req->offset / 512;
}

static struct node *node_new(const struct image *from)
{
	const struct gmem_region r[] = { { MEM, MEM_SIZE, false } };
	struct node *n = calloc(1, sizeof(*n));
	struct tio_options to = { .size = DISK };
	struct vback_blk_options bo = { .queue_size = QSIZE };
	struct vback_dev_transport t = { 0 };

	assert_non_null(n);
	n->log = (struct vback_log){ .fn = n_log,
				     .opaque = n,
				     .max_level = VBACK_LOG_INFO };
	assert_int_equal(vback_simple_loop_create(NULL, &n->loop), 0);
	n->mem = gmem_create(r, 1);
	assert_non_null(n->mem);
	to.on_run = n_ran;
	to.on_run_opaque = n;
	n->io = tio_create(&to);
	assert_non_null(n->io);
	if (from) {
		assert_int_equal(gmem_write(n->mem, MEM, from->guest, MEM_SIZE),
				 0);
		memcpy(tio_data(n->io), from->disk, DISK);
		memcpy(n->rec, from->rec, REC_LEN);
	}
	bo.io = tio_io(n->io);
	bo.log = &n->log;
	assert_int_equal(vback_blk_create(&bo, &n->blk), 0);
	n->dev = vback_blk_dev(n->blk);
	t.ops = &n_ops;
	t.opaque = n;
	t.gm = gmem_view(n->mem, false);
	t.loop = n->loop;
	assert_int_equal(vback_dev_attach(n->dev, &t), 0);
	return n;
}

/* The process dies: what it had in flight never reaches the disk. */
static void node_free(struct node *n)
{
	vback_dev_detach(n->dev);
	tio_destroy(n->io); /* orphans complete: the ring is not touched */
	tio_pump(n->loop);
	vback_blk_destroy(n->blk);
	gmem_destroy(n->mem);
	vback_simple_loop_destroy(n->loop);
	free(n);
}

static void snapshot(struct node *n, struct image *img)
{
	assert_int_equal(gmem_read(n->mem, MEM, img->guest, MEM_SIZE), 0);
	memcpy(img->disk, tio_data(n->io), DISK);
	memcpy(img->rec, n->rec, REC_LEN);
}

/* Guest memory, from the image's side (the driver's view). */
static void iput(uint8_t *guest, uint64_t gpa, uint64_t v, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		guest[gpa - MEM + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t iget(const uint8_t *guest, uint64_t gpa, unsigned int len)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < len; i++)
		v |= (uint64_t)guest[gpa - MEM + i] << (8 * i);
	return v;
}

static struct rec_hdr *hdr_of(uint8_t *rec)
{
	return (struct rec_hdr *)(void *)rec;
}

static struct rec_desc *desc_of(uint8_t *rec)
{
	return (struct rec_desc *)(void *)(rec + 16);
}

/*
 * The driver: request slot s (head 3s) writes 512 bytes of (s + 1) to
 * sector 8s. The guest image carries its state: avail->idx is the
 * driver's index.
 */
static void offer_write(uint8_t *guest, unsigned int s)
{
	uint64_t buf = BUFS + 0x1000ull * s, d = DESC + 48ull * s;
	uint16_t head = (uint16_t)(3 * s);
	uint16_t idx = (uint16_t)iget(guest, AVAIL + 2, 2);

	iput(guest, buf, VIRTIO_BLK_T_OUT, 4);
	iput(guest, buf + 8, 8ull * s, 8);
	for (unsigned int i = 0; i < 512; i++)
		guest[buf + 512 - MEM + i] = (uint8_t)(s + 1);
	iput(guest, buf + 1024, 0xee, 1);
	iput(guest, d, buf, 8);
	iput(guest, d + 8, 16, 4);
	iput(guest, d + 12, VRING_DESC_F_NEXT | (uint64_t)(head + 1) << 16, 4);
	iput(guest, d + 16, buf + 512, 8);
	iput(guest, d + 24, 512, 4);
	iput(guest, d + 28, VRING_DESC_F_NEXT | (uint64_t)(head + 2) << 16, 4);
	iput(guest, d + 32, buf + 1024, 8);
	iput(guest, d + 40, 1, 4);
	iput(guest, d + 44, VRING_DESC_F_WRITE, 4);
	iput(guest, AVAIL + 4 + 2 * (idx % QSIZE), head, 2);
	iput(guest, AVAIL + 2, (uint16_t)(idx + 1), 2);
}

static uint8_t *guest_of(struct node *n)
{
	return gmem_host(n->mem, MEM, MEM_SIZE);
}

static uint16_t used_idx(const uint8_t *guest)
{
	return (uint16_t)iget(guest, USED + 2, 2);
}

static uint16_t used_id(const uint8_t *guest, uint16_t i)
{
	return (uint16_t)iget(guest, USED + 4 + 8 * (i % QSIZE), 4);
}

static uint8_t status_of(const uint8_t *guest, unsigned int s)
{
	return (uint8_t)iget(guest, BUFS + 0x1000ull * s + 1024, 1);
}

/* What a transport does at start: the ring, a record (or none), the base
 * to resume from, enable, DRIVER_OK. */
static void node_start(struct node *n, bool with_rec, uint16_t base)
{
	const uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	struct vback_vq_addr a = { DESC, AVAIL, USED };

	assert_int_equal(vback_dev_set_status(n->dev, st), 0);
	assert_int_equal(vback_dev_set_driver_features(
				 n->dev, 1ull << VIRTIO_F_VERSION_1),
			 0);
	assert_int_equal(vback_dev_set_status(n->dev,
					      st | VIRTIO_CONFIG_S_FEATURES_OK),
			 0);
	assert_int_equal(vback_dev_queue_set_size(n->dev, 0, QSIZE), 0);
	assert_int_equal(vback_dev_queue_set_addr(n->dev, 0, &a), 0);
	assert_int_equal(vback_dev_queue_set_last_avail(n->dev, 0, base), 0);
	if (with_rec)
		assert_int_equal(vback_dev_queue_set_inflight(n->dev, 0, n->rec,
							      REC_LEN),
				 0);
	assert_int_equal(vback_dev_queue_enable(n->dev, 0), 0);
	assert_int_equal(
		vback_dev_set_status(n->dev, st | VIRTIO_CONFIG_S_FEATURES_OK |
						     VIRTIO_CONFIG_S_DRIVER_OK),
		0);
	tio_pump(n->loop);
}

static void kick(struct node *n)
{
	vback_dev_queue_kick(n->dev, 0);
	tio_pump(n->loop);
}

/* Complete the held request at @pos and publish (the loop runs). */
static void finish_at(struct node *n, unsigned int pos)
{
	assert_int_equal(tio_release_at(n->io, pos), 1);
	tio_pump(n->loop);
}

static bool disk_has(const uint8_t *disk, unsigned int s)
{
	for (unsigned int i = 0; i < 512; i++)
		if (disk[8ull * s * 512 + i] != (uint8_t)(s + 1))
			return false;
	return true;
}

static void test_record_follows_the_ring(void **state)
{
	struct node *n = node_new(NULL);
	uint8_t *g = guest_of(n);
	struct rec_hdr *h = hdr_of(n->rec);
	struct rec_desc *d = desc_of(n->rec);

	(void)state;
	/* A ring handed over at index 5. */
	iput(g, AVAIL + 2, 5, 2);
	iput(g, USED + 2, 5, 2);
	node_start(n, true, 5);
	assert_int_equal(h->version, 1);
	assert_int_equal(h->desc_num, QSIZE);
	assert_int_equal(h->used_idx, 5);
	assert_int_equal(vback_dev_queue_resumed(n->dev, 0), 0);

	tio_hold(n->io, true);
	offer_write(g, 0);
	offer_write(g, 1);
	offer_write(g, 2);
	kick(n);
	/* Marked, in the order taken. */
	assert_int_equal(d[0].inflight, 1);
	assert_int_equal(d[3].inflight, 1);
	assert_int_equal(d[6].inflight, 1);
	assert_true(d[0].counter < d[3].counter);
	assert_true(d[3].counter < d[6].counter);
	assert_int_equal(d[1].inflight + d[2].inflight + d[4].inflight, 0);

	/* The middle one completes: answered, not yet published. */
	assert_int_equal(tio_release_at(n->io, 1), 1);
	assert_int_equal(used_idx(g), 5);
	assert_int_equal(d[3].inflight, 1);
	assert_int_equal(h->last_batch_head, 3);
	assert_int_equal(h->used_idx, 5);
	/* Published: used->idx, then the mark, then the record's index. */
	tio_pump(n->loop);
	assert_int_equal(used_idx(g), 6);
	assert_int_equal(used_id(g, 5), 3);
	assert_int_equal(d[3].inflight, 0);
	assert_int_equal(h->used_idx, 6);
	assert_int_equal(d[0].inflight, 1);

	tio_release(n->io, 0);
	tio_pump(n->loop);
	assert_int_equal(used_idx(g), 8);
	assert_int_equal(h->used_idx, 8);
	assert_int_equal(d[0].inflight + d[6].inflight, 0);
	/* The batch list, newest first: 6 -> 0 -> 3. */
	assert_int_equal(h->last_batch_head, 6);
	assert_int_equal(d[6].next, 0);
	assert_int_equal(d[0].next, 3);
	node_free(n);
}

/*
 * The dangerous case, on purpose: three writes, the first held while the
 * two after it complete and are published, then the process dies. The
 * front-end rewinds the ring to its used index (2), as QEMU does.
 */
static void make_out_of_order_kill(struct image *img)
{
	struct node *a = node_new(NULL);
	uint8_t *g = guest_of(a);

	node_start(a, true, 0);
	tio_hold(a->io, true);
	offer_write(g, 0);
	offer_write(g, 1);
	offer_write(g, 2);
	kick(a);
	finish_at(a, 1);
	finish_at(a, 1);
	assert_int_equal(used_idx(g), 2);
	assert_int_equal(used_id(g, 0), 3);
	assert_int_equal(used_id(g, 1), 6);
	snapshot(a, img); /* killed here */
	node_free(a);
	assert_false(disk_has(img->disk, 0));
	assert_true(disk_has(img->disk, 1));
	assert_true(disk_has(img->disk, 2));
}

static void test_out_of_order_kill_adopted(void **state)
{
	struct image *img = malloc(sizeof(*img));
	struct node *b;
	uint8_t *g;

	(void)state;
	make_out_of_order_kill(img);
	b = node_new(img);
	g = guest_of(b);
	node_start(b, true, used_idx(g));
	assert_int_equal(vback_dev_queue_resumed(b->dev, 0), 1);
	assert_int_equal(vback_dev_queue_last_avail(b->dev, 0), 3);
	/* The held write, and only it, runs again, and is answered. */
	assert_int_equal(b->nran, 1);
	assert_int_equal(b->ran[0], 0);
	assert_int_equal(used_idx(g), 3);
	assert_int_equal(used_id(g, 2), 0);
	assert_int_equal(status_of(g, 0), VIRTIO_BLK_S_OK);
	assert_true(disk_has(tio_data(b->io), 0));
	assert_true(disk_has(tio_data(b->io), 1));
	assert_true(disk_has(tio_data(b->io), 2));
	assert_int_equal(hdr_of(b->rec)->used_idx, 3);
	assert_int_equal(desc_of(b->rec)[0].inflight, 0);
	/* New requests go on behind it. */
	offer_write(g, 3);
	kick(b);
	assert_int_equal(used_idx(g), 4);
	assert_int_equal(b->ran[1], 24);
	node_free(b);
	free(img);
}

/* The same kill without a record: what the rewind alone does. Kept as a
 * test so that the failure the record prevents stays written down. */
static void test_out_of_order_kill_without_record(void **state)
{
	struct image *img = malloc(sizeof(*img));
	struct node *c;
	uint8_t *g;

	(void)state;
	make_out_of_order_kill(img);
	c = node_new(img);
	g = guest_of(c);
	node_start(c, false, used_idx(g));
	/* Avail entry 2 is write 2, already done: it runs twice; write 0
	 * is never taken again and its driver waits forever. */
	assert_int_equal(c->nran, 1);
	assert_int_equal(c->ran[0], 16);
	assert_int_equal(used_idx(g), 3);
	assert_int_equal(used_id(g, 2), 6);
	assert_int_equal(status_of(g, 0), 0xee);
	assert_false(disk_has(tio_data(c->io), 0));
	node_free(c);
	free(img);
}

/* Adopt @img in a new node; its writes must be exactly @want, in order. */
static void check_adopts(const struct image *img, const uint64_t *want,
			 unsigned int nwant)
{
	struct node *b = node_new(img);
	uint8_t *g = guest_of(b);
	uint16_t before = used_idx(g);

	node_start(b, true, before);
	assert_int_equal(b->warns, 0);
	assert_int_equal(vback_dev_queue_resumed(b->dev, 0), nwant);
	assert_int_equal(b->nran, nwant);
	for (unsigned int i = 0; i < nwant; i++)
		assert_int_equal(b->ran[i], want[i]);
	assert_int_equal(used_idx(g), (uint16_t)(before + nwant));
	node_free(b);
}

/*
 * Kill a node between any two of its steps while requests complete in a
 * random order, publishes come late and new requests keep coming; each
 * snapshot, adopted, must run exactly the writes that were taken and not
 * published, oldest first. The writes a node took are those the driver
 * offered before its last kick.
 */
static void test_kill_anywhere(void **state)
{
	struct image *img = malloc(sizeof(*img));
	unsigned int seed = 1234, snapshots = 0, owed_one = 0, owed_many = 0;

	(void)state;
	for (unsigned int round = 0; round < 40; round++) {
		struct node *a = node_new(NULL);
		uint8_t *g = guest_of(a);
		/* Slots the node took and has not published, in take order. */
		unsigned int taken[QSIZE / 3 + 1], ntaken = 0, next = 0;
		bool busy[5] = { false };
		uint16_t seen = 0;

		node_start(a, true, 0);
		tio_hold(a->io, true);
		for (unsigned int step = 0; step < 30; step++) {
			unsigned int op =
				(seed = seed * 1103515245 + 12345) >> 16;
			uint64_t want[8];

			switch (op % 3) {
			case 0: /* offer a write in a free slot: taken at once */
				for (unsigned int k = 0; k < 5; k++) {
					unsigned int s = (next + k) % 5;

					if (busy[s])
						continue;
					busy[s] = true;
					next = s + 1;
					offer_write(g, s);
					vback_dev_queue_kick(a->dev, 0);
					taken[ntaken++] = s;
					break;
				}
				break;
			case 1: /* one completes, out of order, unpublished */
				if (tio_pending(a->io))
					tio_release_at(
						a->io,
						(op >> 4) % tio_pending(a->io));
				break;
			default: /* the publish runs */
				tio_pump(a->loop);
				break;
			}
			/* The driver reads the used ring: those are done. */
			for (; seen != used_idx(g); seen++) {
				unsigned int s = used_id(g, seen) / 3;

				assert_int_equal(status_of(g, s),
						 VIRTIO_BLK_S_OK);
				busy[s] = false;
				for (unsigned int i = 0; i < ntaken; i++) {
					if (taken[i] != s)
						continue;
					memmove(&taken[i], &taken[i + 1],
						(ntaken - i - 1) *
							sizeof(taken[0]));
					ntaken--;
					break;
				}
			}
			snapshot(a, img);
			for (unsigned int i = 0; i < ntaken; i++)
				want[i] = 8ull * taken[i];
			check_adopts(img, want, ntaken);
			snapshots++;
			owed_one += ntaken >= 1;
			owed_many += ntaken >= 2;
		}
		node_free(a);
	}
	assert_true(snapshots >= 1000);
	/* Most of them owe requests, many of them several: the walk does
	 * not degenerate into trivial adoptions. */
	fprintf(stderr,
		"kill anywhere: %u snapshots, %u owe one request or "
		"more, %u two or more\n",
		snapshots, owed_one, owed_many);
	assert_true(owed_one >= snapshots / 2);
	assert_true(owed_many >= snapshots / 5);
	free(img);
}

/*
 * The instants inside a publish: used->idx is written, then the marks of
 * the batch are cleared, then the record's used index. From the
 * snapshots before and after one, every instant in between is made by
 * hand: each adopts to what the publish leaves.
 */
static void test_kill_inside_publish(void **state)
{
	struct image *before = malloc(sizeof(*before));
	struct image *after = malloc(sizeof(*after));
	struct image *mid = malloc(sizeof(*mid));
	struct node *a = node_new(NULL);
	uint8_t *g = guest_of(a);
	const uint64_t want[] = { 0 };

	(void)state;
	node_start(a, true, 0);
	tio_hold(a->io, true);
	for (unsigned int s = 0; s < 4; s++)
		offer_write(g, s);
	kick(a);
	/* Writes 1, 2 and 3 complete in one batch; 0 stays held. */
	tio_release_at(a->io, 3);
	tio_release_at(a->io, 1);
	tio_release_at(a->io, 1);
	snapshot(a, before); /* answered, not published */
	tio_pump(a->loop);
	snapshot(a, after);
	node_free(a);
	assert_int_equal(used_idx(before->guest), 0);
	assert_int_equal(used_idx(after->guest), 3);

	{
		const uint64_t all[] = { 0, 8, 16, 24 };

		check_adopts(before, all, 4);
	}
	check_adopts(after, want, 1);
	/* used->idx written, no mark cleared yet. */
	memcpy(mid, before, sizeof(*mid));
	iput(mid->guest, USED + 2, 3, 2);
	check_adopts(mid, want, 1);
	/* ... one or two of the three marks cleared. */
	for (unsigned int k = 1; k <= 2; k++) {
		memcpy(mid, before, sizeof(*mid));
		iput(mid->guest, USED + 2, 3, 2);
		for (unsigned int i = 0, h = hdr_of(mid->rec)->last_batch_head;
		     i < k; i++, h = desc_of(mid->rec)[h].next)
			desc_of(mid->rec)[h].inflight = 0;
		check_adopts(mid, want, 1);
	}
	/* ... all cleared, the record's index not yet written. */
	memcpy(mid, after, sizeof(*mid));
	hdr_of(mid->rec)->used_idx = 0;
	check_adopts(mid, want, 1);
	free(before);
	free(after);
	free(mid);
}

/* Ways a record can be wrong (or made wrong by the front-end or the
 * guest): each is refused with one warning, re-initialized, and the ring
 * starts at the base the transport gave; the device serves on. */
static void test_bad_records(void **state)
{
	struct image *good = malloc(sizeof(*good));
	struct image *img = malloc(sizeof(*img));

	(void)state;
	make_out_of_order_kill(good);
	for (unsigned int c = 0; c < 9; c++) {
		struct node *b;
		uint8_t *g;
		size_t len = REC_LEN;

		memcpy(img, good, sizeof(*img));
		switch (c) {
		case 0:
			hdr_of(img->rec)->version = 7;
			break;
		case 1:
			hdr_of(img->rec)->desc_num = QSIZE / 2;
			break;
		case 2:
			desc_of(img->rec)[5].inflight = 2;
			break;
		case 3: /* the record's used index far behind the ring's */
			hdr_of(img->rec)->used_idx = (uint16_t)(2 - 40);
			break;
		case 4: /* a batch whose list leaves the ring */
			hdr_of(img->rec)->used_idx = 1;
			hdr_of(img->rec)->last_batch_head = 999;
			break;
		case 5: /* more marked than the driver made available */
			for (unsigned int i = 0; i < QSIZE; i++)
				desc_of(img->rec)[i].inflight = 1;
			break;
		case 6: /* the guest: avail far ahead of used */
			iput(img->guest, AVAIL + 2, 2 + 40, 2);
			break;
		case 7: /* a batch list that loops on itself */
			hdr_of(img->rec)->used_idx = (uint16_t)(2 - QSIZE - 1);
			break;
		default:
			len = 16; /* header only */
			break;
		}
		b = node_new(img);
		g = guest_of(b);
		if (len != REC_LEN) {
			/* Only node_start's length differs. */
			const uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE |
					   VIRTIO_CONFIG_S_DRIVER |
					   VIRTIO_CONFIG_S_FEATURES_OK;
			struct vback_vq_addr a = { DESC, AVAIL, USED };

			assert_int_equal(vback_dev_set_status(b->dev, 3), 0);
			vback_dev_set_driver_features(
				b->dev, 1ull << VIRTIO_F_VERSION_1);
			vback_dev_set_status(b->dev, st);
			vback_dev_queue_set_size(b->dev, 0, QSIZE);
			vback_dev_queue_set_addr(b->dev, 0, &a);
			vback_dev_queue_set_last_avail(b->dev, 0, 2);
			assert_int_equal(vback_dev_queue_set_inflight(b->dev, 0,
								      b->rec,
								      len),
					 0);
			assert_int_equal(vback_dev_queue_enable(b->dev, 0), 0);
			vback_dev_set_status(b->dev,
					     st | VIRTIO_CONFIG_S_DRIVER_OK);
			tio_pump(b->loop);
		} else {
			node_start(b, true, 2);
		}
		assert_int_equal(b->warns, 1);
		assert_non_null(strstr(b->last_warn, "not adopted"));
		assert_int_equal(vback_dev_queue_resumed(b->dev, 0), 0);
		if (c == 6) {
			/* The guest's indices are its own: it broke its ring. */
			node_free(b);
			continue;
		}
		/* Started at the base given: write 2 runs again (the rewind
		 * of a front-end without a record). */
		assert_int_equal(vback_dev_queue_last_avail(b->dev, 0), 3);
		if (len == REC_LEN) {
			assert_int_equal(hdr_of(b->rec)->version, 1);
			assert_int_equal(hdr_of(b->rec)->desc_num, QSIZE);
			assert_int_equal(hdr_of(b->rec)->used_idx, 3);
			for (unsigned int i = 0; i < QSIZE; i++)
				assert_int_equal(desc_of(b->rec)[i].inflight,
						 0);
		} else {
			/* Too small to be ours: not written at all. */
			assert_memory_equal(b->rec, img->rec, REC_LEN);
		}
		offer_write(g, 3);
		kick(b);
		assert_int_equal(used_idx(g), 4);
		assert_int_equal(status_of(g, 3), VIRTIO_BLK_S_OK);
		node_free(b);
	}
	/* Misaligned memory is refused at once. */
	{
		struct node *b = node_new(NULL);

		assert_int_equal(vback_dev_queue_set_inflight(b->dev, 0,
							      b->rec + 4, 64),
				 -EINVAL);
		assert_int_equal(vback_dev_queue_set_inflight(b->dev, 9, b->rec,
							      64),
				 -EINVAL);
		node_free(b);
	}
	free(good);
	free(img);
}

/* A reset empties the record: nothing of the old ring is owed. NULL
 * forgets it without a write, for a transport that gives up. */
static void test_reset_empties_null_forgets(void **state)
{
	struct node *n = node_new(NULL);
	uint8_t *g = guest_of(n);
	struct rec_hdr *h = hdr_of(n->rec);
	struct rec_desc *d = desc_of(n->rec);

	(void)state;
	node_start(n, true, 0);
	tio_hold(n->io, true);
	offer_write(g, 0);
	kick(n);
	assert_int_equal(d[0].inflight, 1);
	assert_int_equal(vback_dev_queue_set_inflight(n->dev, 0, n->rec,
						      REC_LEN),
			 -EBUSY);
	vback_dev_reset(n->dev);
	assert_int_equal(h->version, 0);
	assert_int_equal(d[0].inflight, 0);
	tio_release(n->io, 0); /* the orphan: no record, no ring */
	tio_pump(n->loop);
	assert_int_equal(h->version, 0);

	/* Again, and forget the record with the request in flight. */
	iput(g, USED + 2, 0, 2);
	iput(g, AVAIL + 2, 0, 2);
	node_start(n, true, 0);
	offer_write(g, 1);
	kick(n);
	assert_int_equal(d[3].inflight, 1);
	assert_int_equal(vback_dev_queue_set_inflight(n->dev, 0, NULL, 0), 0);
	tio_release(n->io, 0);
	tio_pump(n->loop);
	assert_int_equal(used_idx(g), 1);
	/* Still owed in the record, which the next process adopts. */
	assert_int_equal(d[3].inflight, 1);
	assert_int_equal(h->used_idx, 0);
	vback_dev_reset(n->dev);
	assert_int_equal(h->version, 1);
	node_free(n);
}

static void quiesced(void *opaque, int result)
{
	assert_int_equal(result, 0);
	((struct node *)opaque)->quiesced++;
}

/* Two writes owed, taken in the order 1, 0; one more offered while the
 * process was down. */
static void make_two_owed(struct image *img)
{
	struct node *a = node_new(NULL);
	uint8_t *g = guest_of(a);

	node_start(a, true, 0);
	tio_hold(a->io, true);
	offer_write(g, 1);
	offer_write(g, 0);
	offer_write(g, 2);
	kick(a);
	finish_at(a, 2);
	snapshot(a, img);
	node_free(a);
	offer_write(img->guest, 3);
}

/* Adopted requests go first, in the order they were taken, and are not
 * held back by a quiesce or a stop that comes before they ran. */
static void test_adopted_first_despite_quiesce_and_stop(void **state)
{
	struct image *img = malloc(sizeof(*img));
	struct node *b;

	(void)state;
	make_two_owed(img);

	b = node_new(img);
	node_start(b, true, 1);
	assert_int_equal(b->nran, 3);
	assert_int_equal(b->ran[0], 8);
	assert_int_equal(b->ran[1], 0);
	assert_int_equal(b->ran[2], 24);
	node_free(b);

	/* A quiesce from before the ring started: the owed two run, the new
	 * one waits; then the flush, then the callback. */
	b = node_new(img);
	tio_hold(b->io, true);
	{
		const uint8_t st =
			VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
		struct vback_vq_addr a = { DESC, AVAIL, USED };

		vback_dev_set_status(b->dev, st);
		vback_dev_set_driver_features(b->dev,
					      1ull << VIRTIO_F_VERSION_1);
		vback_dev_set_status(b->dev, st | VIRTIO_CONFIG_S_FEATURES_OK);
		vback_dev_queue_set_size(b->dev, 0, QSIZE);
		vback_dev_queue_set_addr(b->dev, 0, &a);
		vback_dev_queue_set_inflight(b->dev, 0, b->rec, REC_LEN);
		assert_int_equal(vback_dev_queue_enable(b->dev, 0), 0);
		assert_int_equal(vback_dev_inflight(b->dev), 2);
		assert_int_equal(vback_dev_quiesce(b->dev, quiesced, b), 0);
		vback_dev_set_status(b->dev, st | VIRTIO_CONFIG_S_FEATURES_OK |
						     VIRTIO_CONFIG_S_DRIVER_OK);
		tio_pump(b->loop);
	}
	assert_int_equal(tio_pending(b->io), 2);
	assert_int_equal(b->quiesced, 0);
	tio_release(b->io, 0);
	tio_pump(b->loop);
	tio_release(b->io, 0); /* the flush */
	tio_pump(b->loop);
	assert_int_equal(b->quiesced, 1);
	assert_int_equal(b->nran, 2);
	assert_int_equal(used_idx(guest_of(b)), 3);
	node_free(b);

	/* A stop (GET_VRING_BASE) counts them and waits for them. */
	b = node_new(img);
	tio_hold(b->io, true);
	node_start(b, true, 1);
	assert_int_equal(tio_pending(b->io), 3);
	assert_int_equal(vback_dev_queue_stop(b->dev, 0), 3);
	tio_release(b->io, 0);
	tio_pump(b->loop);
	assert_int_equal(b->idle, 1);
	assert_int_equal(vback_dev_queue_last_avail(b->dev, 0), 4);
	node_free(b);
	free(img);
}

/* A queue reset before the adopted requests ran drops them (the driver
 * reset its ring), and nothing stays counted in flight. */
static void test_reset_before_resubmit(void **state)
{
	struct image *img = malloc(sizeof(*img));
	struct node *b;

	(void)state;
	make_two_owed(img);
	b = node_new(img);
	{
		const uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE |
				   VIRTIO_CONFIG_S_DRIVER |
				   VIRTIO_CONFIG_S_FEATURES_OK;
		struct vback_vq_addr a = { DESC, AVAIL, USED };

		vback_dev_set_status(b->dev, 3);
		vback_dev_set_driver_features(b->dev,
					      1ull << VIRTIO_F_VERSION_1);
		vback_dev_set_status(b->dev, st);
		vback_dev_queue_set_size(b->dev, 0, QSIZE);
		vback_dev_queue_set_addr(b->dev, 0, &a);
		vback_dev_queue_set_inflight(b->dev, 0, b->rec, REC_LEN);
		assert_int_equal(vback_dev_queue_enable(b->dev, 0), 0);
	}
	assert_int_equal(vback_dev_inflight(b->dev), 2);
	vback_dev_queue_reset(b->dev, 0);
	assert_int_equal(vback_dev_inflight(b->dev), 0);
	assert_false(vback_dev_resetting(b->dev, -1));
	assert_int_equal(hdr_of(b->rec)->version, 0);
	assert_int_equal(b->nran, 0);
	node_free(b);
	free(img);
}

/* A driver that offers a head again before it saw it used (a protocol
 * slip, its own doing): the publish of the first answer must not clear
 * the mark of the second request. */
static void test_taken_again_before_publish(void **state)
{
	struct node *n = node_new(NULL);
	uint8_t *g = guest_of(n);
	struct rec_desc *d = desc_of(n->rec);

	(void)state;
	node_start(n, true, 0);
	tio_hold(n->io, true);
	offer_write(g, 0);
	kick(n);
	assert_int_equal(tio_release_at(n->io, 0), 1); /* answered */
	offer_write(g, 0); /* head 0 again, not yet published */
	vback_dev_queue_kick(n->dev, 0);
	assert_int_equal(tio_pending(n->io), 1);
	tio_pump(n->loop); /* the publish of the first */
	assert_true(used_idx(g) >= 1);
	assert_int_equal(d[0].inflight, 1);
	tio_release(n->io, 0);
	tio_pump(n->loop);
	assert_int_equal(d[0].inflight, 0);
	node_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_follows_the_ring),
		cmocka_unit_test(test_out_of_order_kill_adopted),
		cmocka_unit_test(test_out_of_order_kill_without_record),
		cmocka_unit_test(test_kill_anywhere),
		cmocka_unit_test(test_kill_inside_publish),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_reset_empties_null_forgets),
		cmocka_unit_test(test_adopted_first_despite_quiesce_and_stop),
		cmocka_unit_test(test_reset_before_resubmit),
		cmocka_unit_test(test_taken_again_before_publish),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
