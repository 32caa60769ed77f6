/* SPDX-License-Identifier: MIT */
/*
 * bench_vhu_client: a vhost-user-blk front-end for benchmarks (not a test).
 * It connects to a back-end's socket (vback-disk --vhost-user, or
 * qemu-storage-daemon's vhost-user-blk export), sets QUEUES rings up over
 * one memfd the way QEMU does, and keeps DEPTH requests of BS bytes in
 * flight on each for SECS seconds, one thread per ring, like a guest with
 * one vCPU per queue. Each request's data is split into SEG-byte
 * descriptors, as a guest hands over page-sized pieces, so SEG < BS
 * exercises vectored IO in the back-end. Offsets are random (rand*) or
 * sequential, aligned to BS, inside the first SIZE_MIB of the disk.
 *
 * It behaves like Linux's virtio-blk driver as far as notifications go:
 * with VIRTIO_F_RING_EVENT_IDX (negotiated when offered, unless -E) it
 * kicks only when the back-end's avail_event asks for it, and after each
 * round of completions asks for an interrupt at the next one (used_event);
 * without it, it honours VRING_USED_F_NO_NOTIFY. A back-end that polls its
 * rings is therefore not kicked, as with a real guest. It sleeps in poll()
 * on the call eventfd when nothing has completed.
 *
 * Prints one line: IOPS, MiB/s, mean, median and 99th percentile latency
 * (from making a request available to seeing it used, per request).
 *
 * Usage: bench_vhu_client [-q QUEUES] [-n RING_SIZE] [-E] SOCKET
 *                         read|write|randread|randwrite BS SEG DEPTH SECS
 *                         SIZE_MIB
 */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench_check.h"
#include "protocol.h"

#define QMAX   1024u /* largest ring: the layout below has room for it */
#define DESC   0x0u
#define AVAIL  0x4000u
#define USED   0x5000u
#define HDRS   0x8000u	 /* 16 bytes per slot */
#define STATUS 0xc000u	 /* 1 byte per slot */
#define DATA   0x100000u /* BS bytes per slot */

#define MAX_QUEUES  64u
#define F_VERSION_1 32
#define F_EVENT_IDX 29

/* Latency histogram: 16 buckets per power of two of nanoseconds (6 %). */
#define SUB	16u
#define BUCKETS (64u * SUB)

struct queue {
	unsigned int index;
	uint8_t *base; /* this ring's part of guest memory */
	int kick, call;
	pthread_t thread;
	uint64_t done;
	double lat_sum;
	uint64_t kicks, waits;
	uint64_t hist[BUCKETS];
};

static int sock;
static bool write_op, random_op, event_idx;
static uint32_t bs, seg, nseg, per;
static unsigned int depth, nqueues = 1, qsize = 256;
static uint64_t blocks;
static double secs, t0;
static struct queue queues[MAX_QUEUES];
static atomic_uint started;

static void send_msg(uint32_t req, const void *p, uint32_t size, const int *fds,
		     unsigned int nfds)
{
	CHECK(vhu_send(sock, req, VHU_VERSION, p, size, fds, nfds) == 0);
}

static void send_u64(uint32_t req, uint64_t v)
{
	send_msg(req, &v, sizeof(v), NULL, 0);
}

static void send_state(uint32_t req, uint32_t index, uint32_t num)
{
	struct vhu_state s = { index, num };

	send_msg(req, &s, sizeof(s), NULL, 0);
}

static void recv_all(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(sock, p, len, 0);

		CHECK(n > 0 || (n < 0 && errno == EINTR));
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
}

/* Send @req without payload; return the u64 of its reply. */
static uint64_t get_u64(uint32_t req)
{
	struct vhu_hdr h;
	uint64_t v;

	send_msg(req, NULL, 0, NULL, 0);
	recv_all(&h, sizeof(h));
	CHECK(h.request == req && h.size == sizeof(v));
	recv_all(&v, sizeof(v));
	return v;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t next_rand(uint64_t *rng)
{
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return *rng;
}

static unsigned int bucket(double seconds)
{
	uint64_t ns = seconds > 0 ? (uint64_t)(seconds * 1e9) : 0;
	unsigned int e;

	if (ns < SUB)
		return (unsigned int)ns;
	e = 63u - (unsigned int)__builtin_clzll(ns); /* >= 4 */
	return (e - 3u) * SUB + (unsigned int)((ns >> (e - 4u)) & (SUB - 1));
}

/* The middle of bucket @b, in nanoseconds. */
static double bucket_ns(unsigned int b)
{
	unsigned int e = b / SUB + 3u, s = b % SUB;

	if (b < SUB)
		return b;
	return ((double)(SUB + s) + 0.5) * (double)(1ull << (e - 4u));
}

/* The driver's side of the virtio 1.2 2.7.10 rule, on 16-bit indexes. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

static void make_available(struct queue *q, unsigned int s, uint64_t *rng,
			   uint64_t *next_block, uint16_t *avail)
{
	uint8_t *mem = q->base;
	volatile uint16_t *ring =
		(volatile uint16_t *)(void *)(mem + AVAIL + 4);
	struct virtio_blk_outhdr h = {
		.type = write_op ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
	};
	uint64_t block =
		random_op ? next_rand(rng) % blocks : (*next_block)++ % blocks;

	h.sector = block * bs / 512;
	memcpy(mem + HDRS + 16 * s, &h, sizeof(h));
	mem[STATUS + s] = 0xff;
	ring[*avail % qsize] = (uint16_t)(per * s);
	(*avail)++;
}

/* Publish avail up to @avail (from @old); kick if the back-end wants it. */
static void publish(struct queue *q, uint16_t old, uint16_t avail)
{
	uint8_t *mem = q->base;
	volatile uint16_t *avail_idx =
		(volatile uint16_t *)(void *)(mem + AVAIL + 2);
	volatile uint16_t *avail_event =
		(volatile uint16_t *)(void *)(mem + USED + 4 + 8 * qsize);
	volatile uint16_t *used_flags =
		(volatile uint16_t *)(void *)(mem + USED);
	uint64_t one = 1;
	bool kick;

	atomic_thread_fence(memory_order_release);
	*avail_idx = avail;
	/* Pairs with the back-end's barrier between writing avail_event
	 * (or the flag) and re-reading avail->idx. */
	atomic_thread_fence(memory_order_seq_cst);
	if (event_idx)
		kick = need_event(*avail_event, avail, old);
	else
		kick = !(*used_flags & VRING_USED_F_NO_NOTIFY);
	if (kick) {
		CHECK(write(q->kick, &one, sizeof(one)) == sizeof(one));
		q->kicks++;
	}
}

static void *run_queue(void *arg)
{
	struct queue *q = arg;
	uint8_t *mem = q->base;
	volatile uint16_t *used_idx =
		(volatile uint16_t *)(void *)(mem + USED + 2);
	volatile uint16_t *used_event =
		(volatile uint16_t *)(void *)(mem + AVAIL + 4 + 2 * qsize);
	struct vring_used_elem *used =
		(struct vring_used_elem *)(void *)(mem + USED + 4);
	uint64_t rng = 0x9e3779b97f4a7c15ull * (q->index + 1), next_block = 0;
	uint16_t avail = 0, seen = 0;
	double *issued = calloc(qsize, sizeof(*issued));
	double t;
	bool stopping = false;
	unsigned int outstanding = depth;

	CHECK(issued);
	atomic_fetch_add(&started, 1);
	while (atomic_load(&started) < nqueues)
		;
	t = now();
	for (unsigned int s = 0; s < depth; s++) {
		issued[s] = t;
		make_available(q, s, &rng, &next_block, &avail);
	}
	publish(q, 0, avail);
	while (outstanding) {
		uint16_t u, old = avail;

		u = *used_idx;
		if (u == seen) {
			struct pollfd p = { .fd = q->call, .events = POLLIN };
			uint64_t v;

			if (event_idx) {
				/* Interrupt me at the next one; then look
				 * again, it may have come meanwhile. */
				*used_event = seen;
				atomic_thread_fence(memory_order_seq_cst);
				if (*used_idx != seen)
					continue;
			}
			CHECK(poll(&p, 1, 1000) >= 0);
			if (p.revents & POLLIN)
				CHECK(read(q->call, &v, sizeof(v)) ==
				      sizeof(v));
			q->waits++;
			if (!stopping && now() - t0 >= secs)
				stopping = true;
			continue;
		}
		/* Pairs with the back-end's release before used->idx. */
		atomic_thread_fence(memory_order_acquire);
		t = now();
		if (!stopping && t - t0 >= secs)
			stopping = true;
		while (seen != u) {
			unsigned int s = used[seen % qsize].id / per;
			double lat = t - issued[s];

			CHECK(mem[STATUS + s] == VIRTIO_BLK_S_OK);
			seen++;
			outstanding--;
			if (stopping)
				continue;
			q->lat_sum += lat;
			q->hist[bucket(lat)]++;
			q->done++;
			issued[s] = t;
			make_available(q, s, &rng, &next_block, &avail);
			outstanding++;
		}
		if (avail != old)
			publish(q, old, avail);
	}
	free(issued);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_vhu_client [-q QUEUES] [-n RING_SIZE] "
			"[-E] SOCKET "
			"read|write|randread|randwrite BS SEG DEPTH "
			"SECS SIZE_MIB\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint64_t features, want, done = 0, kicks = 0, waits = 0, total;
	uint64_t hist[BUCKETS] = { 0 };
	size_t stride, mem_size;
	double lat_sum = 0, elapsed, p50 = 0, p99 = 0;
	bool no_event_idx = false;
	uint8_t *mem;
	int memfd, c;

	while ((c = getopt(argc, argv, "q:n:E")) != -1) {
		switch (c) {
		case 'n':
			qsize = (unsigned int)atoi(optarg);
			break;
		case 'q':
			nqueues = (unsigned int)atoi(optarg);
			break;
		case 'E':
			no_event_idx = true;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 7 || nqueues < 1 || nqueues > MAX_QUEUES ||
	    qsize < 2 || qsize > QMAX || (qsize & (qsize - 1)))
		usage();
	argv += optind - 1;
	write_op = strstr(argv[2], "write") != NULL;
	random_op = !strncmp(argv[2], "rand", 4);
	bs = (uint32_t)atoi(argv[3]);
	seg = (uint32_t)atoi(argv[4]);
	depth = (unsigned int)atoi(argv[5]);
	secs = atof(argv[6]);
	blocks = (uint64_t)atoi(argv[7]) * 1024 * 1024 / bs;
	CHECK(bs >= 512 && bs % 512 == 0 && seg >= 512 && bs % seg == 0);
	nseg = bs / seg;
	per = nseg + 2; /* header, data pieces, status */
	CHECK(depth >= 1 && depth * per <= qsize && blocks >= depth);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[1]);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(sock >= 0);
	CHECK(connect(sock, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	stride = DATA + (size_t)depth * bs;
	stride = (stride + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
	mem_size = stride * nqueues;
	memfd = memfd_create("bench-guest", MFD_CLOEXEC);
	CHECK(memfd >= 0 && ftruncate(memfd, (off_t)mem_size) == 0);
	mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		   0);
	CHECK(mem != MAP_FAILED);

	/* The start-up QEMU does for a vhost-user-blk-pci device. */
	features = get_u64(VHU_GET_FEATURES);
	CHECK(features & (1ull << F_VERSION_1));
	send_msg(VHU_SET_OWNER, NULL, 0, NULL, 0);
	if (features & (1ull << VHU_F_PROTOCOL_FEATURES)) {
		uint64_t pf = get_u64(VHU_GET_PROTOCOL_FEATURES);

		pf &= nqueues > 1 ? 1ull << VHU_PROTOCOL_F_MQ : 0;
		send_u64(VHU_SET_PROTOCOL_FEATURES, pf);
		if (pf & (1ull << VHU_PROTOCOL_F_MQ))
			CHECK(get_u64(VHU_GET_QUEUE_NUM) >= nqueues);
	}
	CHECK(nqueues == 1 || (features & (1ull << VHU_F_PROTOCOL_FEATURES)));
	event_idx = !no_event_idx && (features & (1ull << F_EVENT_IDX));
	want = (1ull << F_VERSION_1) |
	       (features & (1ull << VHU_F_PROTOCOL_FEATURES));
	if (event_idx)
		want |= 1ull << F_EVENT_IDX;
	send_u64(VHU_SET_FEATURES, want);
	{
		struct vhu_mem m = { .nregions = 1 };

		m.regions[0] =
			(struct vhu_region){ 0, mem_size, (uintptr_t)mem, 0 };
		send_msg(VHU_SET_MEM_TABLE, &m,
			 offsetof(struct vhu_mem, regions) +
				 sizeof(m.regions[0]),
			 &memfd, 1);
	}
	for (unsigned int i = 0; i < nqueues; i++) {
		struct queue *q = &queues[i];
		struct vhu_addr a = { .index = i };
		uint8_t *b = mem + stride * i;

		q->index = i;
		q->base = b;
		q->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		CHECK(q->kick >= 0 && q->call >= 0);
		a.desc = (uintptr_t)b + DESC;
		a.avail = (uintptr_t)b + AVAIL;
		a.used = (uintptr_t)b + USED;
		send_state(VHU_SET_VRING_NUM, i, qsize);
		send_state(VHU_SET_VRING_BASE, i, 0);
		send_msg(VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
		send_msg(VHU_SET_VRING_KICK, &(uint64_t){ i }, sizeof(uint64_t),
			 &q->kick, 1);
		send_msg(VHU_SET_VRING_CALL, &(uint64_t){ i }, sizeof(uint64_t),
			 &q->call, 1);
		/* Slot s: descriptors per*s .. per*s + per - 1. */
		for (unsigned int s = 0; s < depth; s++) {
			struct vring_desc *d =
				(struct vring_desc *)(void *)(b + DESC) +
				per * s;
			uint64_t gpa = (uint64_t)stride * i;
			uint16_t data_flags =
				VRING_DESC_F_NEXT |
				(write_op ? 0 : VRING_DESC_F_WRITE);

			d[0] = (struct vring_desc){
				gpa + HDRS + 16 * s,
				sizeof(struct virtio_blk_outhdr),
				VRING_DESC_F_NEXT, (uint16_t)(per * s + 1)
			};
			for (unsigned int k = 0; k < nseg; k++)
				d[1 + k] = (struct vring_desc){
					gpa + DATA + (uint64_t)s * bs +
						(uint64_t)k * seg,
					seg, data_flags,
					(uint16_t)(per * s + 2 + k)
				};
			d[per - 1] =
				(struct vring_desc){ gpa + STATUS + s, 1,
						     VRING_DESC_F_WRITE, 0 };
			for (uint32_t k = 0; k < bs; k++)
				b[DATA + (size_t)s * bs + k] =
					(uint8_t)(k * 7 + s);
		}
	}
	if (features & (1ull << VHU_F_PROTOCOL_FEATURES))
		for (unsigned int i = 0; i < nqueues; i++)
			send_state(VHU_SET_VRING_ENABLE, i, 1);

	t0 = now();
	for (unsigned int i = 0; i < nqueues; i++)
		CHECK(pthread_create(&queues[i].thread, NULL, run_queue,
				     &queues[i]) == 0);
	for (unsigned int i = 0; i < nqueues; i++) {
		struct queue *q = &queues[i];

		CHECK(pthread_join(q->thread, NULL) == 0);
		done += q->done;
		lat_sum += q->lat_sum;
		kicks += q->kicks;
		waits += q->waits;
		for (unsigned int b = 0; b < BUCKETS; b++)
			hist[b] += q->hist[b];
	}
	elapsed = secs;
	total = 0;
	for (unsigned int b = 0; b < BUCKETS; b++) {
		total += hist[b];
		if (!p50 && total * 2 >= done)
			p50 = bucket_ns(b);
		if (!p99 && total * 100 >= done * 99)
			p99 = bucket_ns(b);
	}
	printf("%s bs=%u seg=%u depth=%u queues=%u%s: %.0f IOPS %.1f MiB/s "
	       "lat %.1f us p50 %.1f us p99 %.1f us kicks/req %.3f "
	       "waits/req %.3f (%llu requests in %.1f s)\n",
	       argv[2], bs, seg, depth, nqueues, event_idx ? " event_idx" : "",
	       (double)done / elapsed,
	       (double)done * bs / elapsed / (1024.0 * 1024.0),
	       done ? lat_sum / (double)done * 1e6 : 0.0, p50 / 1e3, p99 / 1e3,
	       done ? (double)kicks / (double)done : 0.0,
	       done ? (double)waits / (double)done : 0.0,
	       (unsigned long long)done, elapsed);
	close(sock);
	return 0;
}
