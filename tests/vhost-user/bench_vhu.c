/* SPDX-License-Identifier: MIT */
/*
 * Benchmark (not a test): requests per second through the whole back-end
 * - kick eventfd, virtio-blk, the RAM-disk engine, used ring, call eventfd -
 * with a front-end in the same thread that keeps DEPTH requests queued.
 * It measures the software path of one vhost-user queue, without a guest.
 *
 * Usage: bench_vhu [BLOCK_SIZE [SECONDS [DEPTH]]]   (default 4096 2 32)
 */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vback/epoll.h>
#include <vback/io.h>
#include <vback/vhost_user.h>
#include <vback/mmio.h>

#include "bench_check.h"
#include "protocol.h"

#define QSIZE	 128u
#define MEM_SIZE (64u << 20)
#define UADDR	 0x7f5500000000ull
#define DESC	 0x0u
#define AVAIL	 0x1000u
#define USED	 0x2000u
#define HDRS	 0x4000u   /* 16 bytes per slot */
#define STATUS	 0x6000u   /* 1 byte per slot */
#define DATA	 0x100000u /* block_size per slot */

static void send_msg(int fd, uint32_t req, const void *p, uint32_t size,
		     const int *fds, unsigned int nfds)
{
	CHECK(vhu_send(fd, req, VHU_VERSION, p, size, fds, nfds) == 0);
}

static void send_state(int fd, uint32_t req, uint32_t num)
{
	struct vhu_state s = { 0, num };

	send_msg(fd, req, &s, sizeof(s), NULL, 0);
}

static void log_stderr(void *opaque, enum vback_log_level level,
		       const char *msg)
{
	(void)opaque;
	(void)level;
	fprintf(stderr, "bench_vhu: %s\n", msg);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint32_t bs = argc > 1 ? (uint32_t)atoi(argv[1]) : 4096;
	double secs = argc > 2 ? atof(argv[2]) : 2.0;
	unsigned int depth = argc > 3 ? (unsigned int)atoi(argv[3]) : 32;
	struct vback_log log = { .fn = log_stderr,
				 .max_level = VBACK_LOG_WARN };
	struct vback_io_options io_opts = { .engine = VBACK_IO_ENGINE_MEMORY,
					    .mem_size = 64 << 20,
					    .log = &log };
	struct vback_blk_options bo = { .num_queues = 1, .log = &log };
	struct vback_vhu_options vo = { .log = &log };
	struct vhu_mem m = { .nregions = 1 };
	struct vhu_addr a = { .desc = UADDR + DESC,
			      .avail = UADDR + AVAIL,
			      .used = UADDR + USED };
	struct vback_loop *loop;
	struct vback_io io;
	struct vback_blk *blk;
	struct vback_vhu *vhu;
	uint16_t avail = 0, seen = 0;
	volatile uint16_t *used_idx, *avail_idx, *ring;
	uint64_t done = 0, one = 1;
	double t0, t;
	uint8_t *mem;
	int sv[2], memfd, kick, call;

	CHECK(bs >= 512 && bs % 512 == 0 &&
	      (uint64_t)bs * QSIZE <= MEM_SIZE - DATA);
	CHECK(depth >= 1 && depth <= QSIZE / 3 * 3 / 3);
	CHECK(vback_epoll_loop_create(NULL, &loop) == 0);
	CHECK(vback_io_open(&io_opts, loop, &io) == 0);
	bo.io = io;
	CHECK(vback_blk_create(&bo, &blk) == 0);
	vo.dev = vback_blk_dev(blk);
	vo.loop = loop;
	CHECK(vback_vhu_create(&vo, &vhu) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(vback_vhu_serve_fd(vhu, sv[0]) == 0);
	memfd = memfd_create("bench", MFD_CLOEXEC);
	CHECK(memfd >= 0 && ftruncate(memfd, MEM_SIZE) == 0);
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		   0);
	CHECK(mem != MAP_FAILED);
	kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	/* What QEMU sends when the guest driver starts the device. */
	{
		uint64_t f = (1ull << 32) | (1ull << VHU_F_PROTOCOL_FEATURES);

		send_msg(sv[1], VHU_SET_FEATURES, &f, sizeof(f), NULL, 0);
	}
	m.regions[0] = (struct vhu_region){ 0, MEM_SIZE, UADDR, 0 };
	send_msg(sv[1], VHU_SET_MEM_TABLE, &m,
		 offsetof(struct vhu_mem, regions) + sizeof(m.regions[0]),
		 &memfd, 1);
	send_state(sv[1], VHU_SET_VRING_NUM, QSIZE);
	send_msg(sv[1], VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	{
		uint64_t idx = 0;

		send_msg(sv[1], VHU_SET_VRING_KICK, &idx, sizeof(idx), &kick,
			 1);
		send_msg(sv[1], VHU_SET_VRING_CALL, &idx, sizeof(idx), &call,
			 1);
	}
	send_state(sv[1], VHU_SET_VRING_ENABLE, 1);
	for (int i = 0; i < 10; i++)
		vback_loop_run_once(loop, 1);
	CHECK(vback_dev_queue_enabled(vback_blk_dev(blk), 0));

	/* Slot s uses descriptors 3s..3s+2: header, data, status. */
	for (unsigned int s = 0; s < QSIZE / 3; s++) {
		struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_IN,
					       .sector =
						       (uint64_t)s * bs / 512 };
		struct vring_desc d[3] = {
			{ HDRS + 16 * s, sizeof(h), VRING_DESC_F_NEXT,
			  (uint16_t)(3 * s + 1) },
			{ DATA + (uint64_t)s * bs, bs,
			  VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
			  (uint16_t)(3 * s + 2) },
			{ STATUS + s, 1, VRING_DESC_F_WRITE, 0 },
		};

		memcpy(mem + HDRS + 16 * s, &h, sizeof(h));
		memcpy(mem + DESC + 3 * s * sizeof(d[0]), d, sizeof(d));
	}
	ring = (volatile uint16_t *)(void *)(mem + AVAIL + 4);
	avail_idx = (volatile uint16_t *)(void *)(mem + AVAIL + 2);
	used_idx = (volatile uint16_t *)(void *)(mem + USED + 2);

	t0 = now();
	t = t0;
	while (t - t0 < secs) {
		/* Keep @depth requests queued: slot = head / 3. */
		while ((uint16_t)(avail - seen) < depth) {
			ring[avail % QSIZE] = (uint16_t)(3 * (avail % depth));
			avail++;
		}
		__atomic_thread_fence(__ATOMIC_RELEASE);
		*avail_idx = avail;
		CHECK(write(kick, &one, sizeof(one)) == sizeof(one));
		while (*used_idx == seen)
			CHECK(vback_loop_run_once(loop, 100) >= 0);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		done += (uint16_t)(*used_idx - seen);
		seen = *used_idx;
		t = now();
	}
	for (unsigned int s = 0; s < depth; s++)
		CHECK(mem[STATUS + s] == VIRTIO_BLK_S_OK);
	printf("vhost-user + virtio-blk + memory engine, one queue, depth %u, "
	       "%u-byte reads: %.0f requests/s, %.1f MiB/s (%.1f s)\n",
	       depth, bs, (double)done / (t - t0),
	       (double)done * bs / (t - t0) / (1024.0 * 1024.0), t - t0);

	close(sv[1]);
	for (int i = 0; i < 10; i++)
		vback_loop_run_once(loop, 1);
	vback_vhu_destroy(vhu);
	vback_io_close(&io);
	vback_blk_destroy(blk);
	vback_epoll_loop_destroy(loop);
	munmap(mem, MEM_SIZE);
	close(memfd);
	close(kick);
	close(call);
	return 0;
}
