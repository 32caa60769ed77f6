/* SPDX-License-Identifier: MIT */
/*
 * bench_vhu_client: a vhost-user-blk front-end for benchmarks (not a test).
 * It connects to a back-end's socket (vback-disk --vhost-user, or
 * qemu-storage-daemon's vhost-user-blk export), sets one queue up over a
 * memfd the way QEMU does, and keeps DEPTH requests of BS bytes in flight
 * for SECS seconds. Each request's data is split into SEG-byte descriptors,
 * as a guest hands over page-sized pieces, so SEG < BS exercises vectored
 * IO in the back-end. Offsets are random (rand*) or sequential, aligned to
 * BS, inside the first SIZE_MIB of the disk. Prints one line of figures.
 *
 * Usage: bench_vhu_client SOCKET read|write|randread|randwrite BS SEG DEPTH
 *                         SECS SIZE_MIB
 */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <poll.h>
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

#include "protocol.h"

#define QSIZE  1024u
#define DESC   0x0u
#define AVAIL  0x4000u
#define USED   0x5000u
#define HDRS   0x8000u	 /* 16 bytes per slot */
#define STATUS 0xc000u	 /* 1 byte per slot */
#define DATA   0x100000u /* BS bytes per slot */

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr,                                        \
				"bench_vhu_client: %s failed (line "           \
				"%d): %s\n",                                   \
				#x, __LINE__, strerror(errno));                \
			exit(1);                                               \
		}                                                              \
	} while (0)

static int sock;

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

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	bool write_op, random_op;
	uint32_t bs, seg, nseg, per;
	unsigned int depth;
	double secs;
	uint64_t blocks, next_block = 0, done = 0, one = 1, features;
	size_t mem_size;
	uint8_t *mem;
	int memfd, kick, call;
	volatile uint16_t *used_idx, *avail_idx, *ring;
	struct vring_used_elem *used;
	uint16_t avail = 0, seen = 0;
	double t0, t, lat_sum = 0;
	double *issued;

	if (argc != 8) {
		fprintf(stderr, "usage: bench_vhu_client SOCKET "
				"read|write|randread|randwrite BS SEG DEPTH "
				"SECS SIZE_MIB\n");
		return 2;
	}
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
	CHECK(depth >= 1 && depth * per <= QSIZE && blocks >= depth);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[1]);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(sock >= 0);
	CHECK(connect(sock, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	mem_size = DATA + (size_t)depth * bs;
	mem_size = (mem_size + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
	memfd = memfd_create("bench-guest", MFD_CLOEXEC);
	CHECK(memfd >= 0 && ftruncate(memfd, (off_t)mem_size) == 0);
	mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		   0);
	CHECK(mem != MAP_FAILED);
	kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	issued = calloc(QSIZE, sizeof(*issued));
	CHECK(kick >= 0 && call >= 0 && issued);

	/* The start-up QEMU does for a vhost-user-blk-pci device. */
	features = get_u64(VHU_GET_FEATURES);
	CHECK(features & (1ull << 32)); /* VIRTIO_F_VERSION_1 */
	send_msg(VHU_SET_OWNER, NULL, 0, NULL, 0);
	if (features & (1ull << VHU_F_PROTOCOL_FEATURES)) {
		(void)get_u64(VHU_GET_PROTOCOL_FEATURES);
		send_u64(VHU_SET_PROTOCOL_FEATURES, 0);
	}
	send_u64(VHU_SET_FEATURES,
		 (1ull << 32) | (features & (1ull << VHU_F_PROTOCOL_FEATURES)));
	{
		struct vhu_mem m = { .nregions = 1 };

		m.regions[0] =
			(struct vhu_region){ 0, mem_size, (uintptr_t)mem, 0 };
		send_msg(VHU_SET_MEM_TABLE, &m,
			 offsetof(struct vhu_mem, regions) +
				 sizeof(m.regions[0]),
			 &memfd, 1);
	}
	send_state(VHU_SET_VRING_NUM, 0, QSIZE);
	send_state(VHU_SET_VRING_BASE, 0, 0);
	{
		struct vhu_addr a = { .index = 0,
				      .desc = (uintptr_t)mem + DESC,
				      .avail = (uintptr_t)mem + AVAIL,
				      .used = (uintptr_t)mem + USED };

		send_msg(VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	}
	send_msg(VHU_SET_VRING_KICK, &(uint64_t){ 0 }, sizeof(uint64_t), &kick,
		 1);
	send_msg(VHU_SET_VRING_CALL, &(uint64_t){ 0 }, sizeof(uint64_t), &call,
		 1);
	send_state(VHU_SET_VRING_ENABLE, 0, 1);

	/* Slot s: descriptors per*s .. per*s + per - 1. */
	for (unsigned int s = 0; s < depth; s++) {
		struct vring_desc *d =
			(struct vring_desc *)(void *)(mem + DESC) + per * s;
		uint16_t data_flags =
			VRING_DESC_F_NEXT | (write_op ? 0 : VRING_DESC_F_WRITE);

		d[0] = (struct vring_desc){ HDRS + 16 * s,
					    sizeof(struct virtio_blk_outhdr),
					    VRING_DESC_F_NEXT,
					    (uint16_t)(per * s + 1) };
		for (unsigned int k = 0; k < nseg; k++)
			d[1 + k] = (struct vring_desc){
				DATA + (uint64_t)s * bs + (uint64_t)k * seg,
				seg, data_flags, (uint16_t)(per * s + 2 + k)
			};
		d[per - 1] = (struct vring_desc){ STATUS + s, 1,
						  VRING_DESC_F_WRITE, 0 };
		for (uint32_t i = 0; i < bs; i++)
			mem[DATA + (size_t)s * bs + i] = (uint8_t)(i * 7 + s);
	}
	ring = (volatile uint16_t *)(void *)(mem + AVAIL + 4);
	avail_idx = (volatile uint16_t *)(void *)(mem + AVAIL + 2);
	used_idx = (volatile uint16_t *)(void *)(mem + USED + 2);
	used = (struct vring_used_elem *)(void *)(mem + USED + 4);

	t0 = now();
	t = t0;
	for (unsigned int s = 0; s < depth; s++) {
		struct virtio_blk_outhdr h = {
			.type = write_op ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
		};
		uint64_t block = random_op ? next_rand() % blocks
					   : next_block++ % blocks;

		h.sector = block * bs / 512;
		memcpy(mem + HDRS + 16 * s, &h, sizeof(h));
		mem[STATUS + s] = 0xff;
		issued[s] = t;
		ring[avail % QSIZE] = (uint16_t)(per * s);
		avail++;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	*avail_idx = avail;
	CHECK(write(kick, &one, sizeof(one)) == sizeof(one));
	while (t - t0 < secs) {
		struct pollfd p = { .fd = call, .events = POLLIN };
		uint16_t u;
		bool more = false;

		if (*used_idx == seen) {
			CHECK(poll(&p, 1, 1000) >= 0);
			if (p.revents & POLLIN) {
				uint64_t v;

				CHECK(read(call, &v, sizeof(v)) == sizeof(v));
			}
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		u = *used_idx;
		t = now();
		while (seen != u) {
			unsigned int s = used[seen % QSIZE].id / per;
			struct virtio_blk_outhdr h;
			uint64_t block;

			CHECK(mem[STATUS + s] == VIRTIO_BLK_S_OK);
			lat_sum += t - issued[s];
			done++;
			seen++;
			/* The same slot again, somewhere else. */
			block = random_op ? next_rand() % blocks
					  : next_block++ % blocks;
			memcpy(&h, mem + HDRS + 16 * s, sizeof(h));
			h.sector = block * bs / 512;
			memcpy(mem + HDRS + 16 * s, &h, sizeof(h));
			mem[STATUS + s] = 0xff;
			issued[s] = t;
			ring[avail % QSIZE] = (uint16_t)(per * s);
			avail++;
			more = true;
		}
		if (more) {
			__atomic_thread_fence(__ATOMIC_RELEASE);
			*avail_idx = avail;
			CHECK(write(kick, &one, sizeof(one)) == sizeof(one));
		}
	}
	printf("%s bs=%u seg=%u depth=%u: %.0f IOPS %.1f MiB/s lat %.0f us "
	       "(%llu requests in %.1f s)\n",
	       argv[2], bs, seg, depth, (double)done / (t - t0),
	       (double)done * bs / (t - t0) / (1024.0 * 1024.0),
	       done ? lat_sum / (double)done * 1e6 : 0.0,
	       (unsigned long long)done, t - t0);
	/* Let what is in flight finish before the back-end sees us go. */
	for (int i = 0; i < 100 && *used_idx != avail; i++)
		usleep(10000);
	close(sock);
	return 0;
}
