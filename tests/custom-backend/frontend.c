/* SPDX-License-Identifier: MIT */
/*
 * Plays QEMU and the guest's virtio-blk driver against a running
 * custom-backend process (examples/custom-backend) over its vhost-user
 * socket: shares a memfd as guest memory, sets up one split ring in it and
 * posts requests. The wire format is written here from the vhost-user
 * specification (docs/interop/vhost-user.rst), independent of vback's own.
 *
 *   cow_frontend SOCKET BASE_IMAGE OVERLAY_FILE
 *
 * The backend runs with 4 KiB copy-on-write blocks; the tests below rely on
 * that and on being run in this order against a fresh overlay.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* vhost-user requests and flags used here. */
enum {
	GET_FEATURES = 1,
	SET_FEATURES = 2,
	SET_OWNER = 3,
	SET_MEM_TABLE = 5,
	SET_VRING_NUM = 8,
	SET_VRING_ADDR = 9,
	SET_VRING_BASE = 10,
	SET_VRING_KICK = 12,
	SET_VRING_CALL = 13,
	GET_PROTOCOL_FEATURES = 15,
	SET_PROTOCOL_FEATURES = 16,
	SET_VRING_ENABLE = 18,
	GET_CONFIG = 24,
};
#define MSG_VERSION	    0x1u
#define MSG_REPLY	    0x4u
#define F_PROTOCOL_FEATURES 30
#define PROTOCOL_F_CONFIG   9

struct msg_hdr {
	uint32_t request, flags, size;
};
struct vring_state {
	uint32_t index, num;
};
struct vring_addr {
	uint32_t index, flags;
	uint64_t desc, used, avail, log;
};
struct mem_table {
	uint32_t nregions, padding;
	uint64_t gpa, size, uaddr, mmap_offset;
};
struct config_msg {
	uint32_t offset, size, flags;
	uint8_t data[sizeof(struct virtio_blk_config)];
};

/* Guest memory: guest-physical layout and the front-end's user address. */
#define MEM_SIZE (1u << 20)
#define UADDR	 0x7e0000000000ull
#define QSIZE	 16u
#define DESC	 0x0000u
#define AVAIL	 0x1000u
#define USED	 0x2000u
#define HDR	 0x3000u
#define STATUS	 0x3800u
#define DATA	 0x10000u /* up to 64 KiB */
#define BLOCK	 4096u

static const char *sock_path, *base_path, *ovl_path;

static struct {
	int sock, memfd, kick, call;
	uint8_t *mem;
	uint16_t avail_idx;
	uint8_t *base; /* the base image as it was before the test */
	size_t base_size;
	uint64_t capacity;
} fe = { .sock = -1 };

static void send_msg(uint32_t request, const void *payload, uint32_t size,
		     int fd)
{
	struct msg_hdr hdr = { request, MSG_VERSION, size };
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctrl = { 0 };
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)(uintptr_t)payload, .iov_len = size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = ctrl.b;
		mh.msg_controllen = sizeof(ctrl.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(fe.sock, &mh, MSG_NOSIGNAL),
			 (ssize_t)(sizeof(hdr) + size));
}

static void send_u64(uint32_t request, uint64_t v, int fd)
{
	send_msg(request, &v, sizeof(v), fd);
}

static void send_state(uint32_t request, uint32_t index, uint32_t num)
{
	struct vring_state s = { index, num };

	send_msg(request, &s, sizeof(s), -1);
}

/* The socket has a receive timeout: a silent back-end fails the test. */
static void recv_reply(uint32_t request, void *payload, uint32_t size)
{
	struct msg_hdr hdr;

	assert_int_equal(recv(fe.sock, &hdr, sizeof(hdr), MSG_WAITALL),
			 sizeof(hdr));
	assert_int_equal(hdr.request, request);
	assert_int_equal(hdr.flags, MSG_VERSION | MSG_REPLY);
	assert_int_equal(hdr.size, size);
	assert_int_equal(recv(fe.sock, payload, size, MSG_WAITALL), size);
}

static uint64_t get_u64(uint32_t request)
{
	uint64_t v;

	send_msg(request, NULL, 0, -1);
	recv_reply(request, &v, sizeof(v));
	return v;
}

static int connect_backend(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(sock_path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, sock_path);
	/* The back-end was just started: give it 10 s to listen. */
	for (int i = 0; connect(fd, (struct sockaddr *)&sa, sizeof(sa)); i++) {
		struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };

		assert_true(i < 200);
		nanosleep(&ts, NULL);
	}
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				    sizeof(tv)),
			 0);
	return fd;
}

static uint8_t *read_file(const char *path, size_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*size = (size_t)st.st_size;
	return buf;
}

static void read_at(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* What QEMU does when the guest driver sets DRIVER_OK. */
static int group_setup(void **state)
{
	uint64_t want = (1ull << VIRTIO_F_VERSION_1) |
			(1ull << VIRTIO_BLK_F_FLUSH) |
			(1ull << F_PROTOCOL_FEATURES);
	struct mem_table m = { 1, 0, 0, MEM_SIZE, UADDR, 0 };
	struct vring_addr a = { 0, 0, UADDR + DESC, UADDR + USED, UADDR + AVAIL,
				0 };
	uint64_t features, pf;

	(void)state;
	fe.base = read_file(base_path, &fe.base_size);
	fe.memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	assert_int_equal(ftruncate(fe.memfd, MEM_SIZE), 0);
	fe.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      fe.memfd, 0);
	assert_true(fe.mem != MAP_FAILED);
	fe.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fe.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(fe.kick >= 0 && fe.call >= 0);
	fe.sock = connect_backend();

	features = get_u64(GET_FEATURES);
	assert_int_equal(features & want, want);
	send_msg(SET_OWNER, NULL, 0, -1);
	pf = get_u64(GET_PROTOCOL_FEATURES);
	assert_true(pf & (1ull << PROTOCOL_F_CONFIG));
	send_u64(SET_PROTOCOL_FEATURES, 1ull << PROTOCOL_F_CONFIG, -1);
	send_u64(SET_FEATURES, want, -1);
	send_msg(SET_MEM_TABLE, &m, sizeof(m), fe.memfd);
	send_state(SET_VRING_NUM, 0, QSIZE);
	send_state(SET_VRING_BASE, 0, 0);
	send_msg(SET_VRING_ADDR, &a, sizeof(a), -1);
	send_u64(SET_VRING_KICK, 0, fe.kick);
	send_u64(SET_VRING_CALL, 0, fe.call);
	send_state(SET_VRING_ENABLE, 0, 1);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	/* The back-end (run with -1) drains and exits when we leave. */
	close(fe.sock);
	munmap(fe.mem, MEM_SIZE);
	close(fe.memfd);
	close(fe.kick);
	close(fe.call);
	free(fe.base);
	return 0;
}

static uint16_t used_idx(void)
{
	return __atomic_load_n((uint16_t *)(void *)(fe.mem + USED +
						    offsetof(struct vring_used,
							     idx)),
			       __ATOMIC_ACQUIRE);
}

static void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags)
{
	struct vring_desc d = { .addr = addr,
				.len = len,
				.flags = flags,
				.next = (uint16_t)(i + 1) };

	memcpy(fe.mem + DESC + i * sizeof(d), &d, sizeof(d));
}

/*
 * One request, as the Linux driver lays it out: header, data (if @len),
 * status. Waits for the used element and the call eventfd; returns the
 * status byte.
 */
static uint8_t blk_request(uint32_t type, uint64_t sector, uint32_t len,
			   bool to_device)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	uint16_t *ring =
		(uint16_t *)(void *)(fe.mem + AVAIL +
				     offsetof(struct vring_avail, ring));
	uint16_t want = (uint16_t)(used_idx() + 1), d = 0;
	struct pollfd p = { .fd = fe.call, .events = POLLIN };
	uint64_t v = 1;

	memcpy(fe.mem + HDR, &h, sizeof(h));
	fe.mem[STATUS] = 0xff;
	set_desc(d++, HDR, sizeof(h), VRING_DESC_F_NEXT);
	if (len)
		set_desc(d++, DATA, len,
			 VRING_DESC_F_NEXT |
				 (to_device ? 0 : VRING_DESC_F_WRITE));
	set_desc(d, STATUS, 1, VRING_DESC_F_WRITE);
	ring[fe.avail_idx % QSIZE] = 0;
	fe.avail_idx++;
	__atomic_store_n((uint16_t *)(void *)(fe.mem + AVAIL + 2), fe.avail_idx,
			 __ATOMIC_RELEASE);
	assert_int_equal(write(fe.kick, &v, sizeof(v)), sizeof(v));
	/* No EVENT_IDX, no NO_INTERRUPT: every completion signals. */
	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(read(fe.call, &v, sizeof(v)), sizeof(v));
	assert_int_equal(used_idx(), want);
	return fe.mem[STATUS];
}

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 9));
}

/* The config space describes the base image; it also proves that every
 * set-up message before it was handled (it is the first with a reply). */
static void test_capacity_is_base_size(void **state)
{
	struct config_msg c = { .size = sizeof(c.data) };
	struct config_msg got;
	uint64_t capacity;

	(void)state;
	send_msg(GET_CONFIG, &c, sizeof(c), -1);
	recv_reply(GET_CONFIG, &got, sizeof(got));
	memcpy(&capacity, got.data, sizeof(capacity));
	assert_int_equal(capacity, fe.base_size / 512);
	fe.capacity = capacity;
}

static void test_unwritten_blocks_read_the_base(void **state)
{
	(void)state;
	assert_int_equal(blk_request(VIRTIO_BLK_T_IN, 0, 16384, false),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(fe.mem + DATA, fe.base, 16384);
	/* The last sector too. */
	assert_int_equal(blk_request(VIRTIO_BLK_T_IN, fe.capacity - 1, 512,
				     false),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(fe.mem + DATA, fe.base + fe.base_size - 512, 512);
}

static void test_write_lands_in_overlay(void **state)
{
	uint8_t pattern[2 * BLOCK], ovl[2 * BLOCK], base[2 * BLOCK];

	(void)state;
	fill(pattern, sizeof(pattern), 1);
	memcpy(fe.mem + DATA, pattern, sizeof(pattern));
	assert_int_equal(blk_request(VIRTIO_BLK_T_OUT, 64, sizeof(pattern),
				     true),
			 VIRTIO_BLK_S_OK);
	memset(fe.mem + DATA, 0, sizeof(pattern));
	assert_int_equal(blk_request(VIRTIO_BLK_T_IN, 64, sizeof(pattern),
				     false),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(fe.mem + DATA, pattern, sizeof(pattern));
	/* Where the bytes went: the overlay file, at the same offset. */
	read_at(ovl_path, 64 * 512, ovl, sizeof(ovl));
	assert_memory_equal(ovl, pattern, sizeof(pattern));
	read_at(base_path, 64 * 512, base, sizeof(base));
	assert_memory_equal(base, fe.base + 64 * 512, sizeof(base));
}

/* One sector inside a block never written: the block is copied up. */
static void test_partial_write_copies_the_block_up(void **state)
{
	uint8_t pattern[512], expect[BLOCK], ovl[BLOCK];

	(void)state;
	fill(pattern, sizeof(pattern), 7);
	memcpy(fe.mem + DATA, pattern, sizeof(pattern));
	assert_int_equal(blk_request(VIRTIO_BLK_T_OUT, 129, 512, true),
			 VIRTIO_BLK_S_OK);
	memcpy(expect, fe.base + 128 * 512, BLOCK);
	memcpy(expect + 512, pattern, 512);
	assert_int_equal(blk_request(VIRTIO_BLK_T_IN, 128, BLOCK, false),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(fe.mem + DATA, expect, BLOCK);
	read_at(ovl_path, 128 * 512, ovl, BLOCK);
	assert_memory_equal(ovl, expect, BLOCK);
}

/* Rewrite part of an overlay block (no copy-up now), then read across a
 * base block and two overlay blocks in one request. */
static void test_rewrite_and_straddling_read(void **state)
{
	uint8_t first[2 * BLOCK], again[1024], expect[3 * BLOCK];

	(void)state;
	fill(first, sizeof(first), 1); /* what the test above wrote */
	fill(again, sizeof(again), 9);
	memcpy(fe.mem + DATA, again, sizeof(again));
	assert_int_equal(blk_request(VIRTIO_BLK_T_OUT, 64, sizeof(again), true),
			 VIRTIO_BLK_S_OK);
	memcpy(expect, fe.base + 7 * BLOCK, BLOCK);
	memcpy(expect + BLOCK, first, sizeof(first));
	memcpy(expect + BLOCK, again, sizeof(again));
	assert_int_equal(blk_request(VIRTIO_BLK_T_IN, 56, sizeof(expect),
				     false),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(fe.mem + DATA, expect, sizeof(expect));
}

static void test_flush_and_get_id(void **state)
{
	(void)state;
	assert_int_equal(blk_request(VIRTIO_BLK_T_FLUSH, 0, 0, false),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(blk_request(VIRTIO_BLK_T_GET_ID, 0,
				     VIRTIO_BLK_ID_BYTES, false),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(fe.mem + DATA, "custom-cow", 11);
}

/* Blocks never written are zeroes in the overlay file: nothing was copied
 * up for them. */
static void test_overlay_holds_only_written_blocks(void **state)
{
	size_t size;
	uint8_t *ovl = read_file(ovl_path, &size);

	(void)state;
	assert_int_equal(size, fe.base_size);
	for (size_t off = 0; off < size; off += BLOCK) {
		size_t blk = off / BLOCK;
		bool written = blk == 8 || blk == 9 || blk == 16;
		size_t zero = 0;

		for (size_t i = 0; i < BLOCK; i++)
			zero += ovl[off + i] == 0;
		if (written)
			assert_true(zero < BLOCK);
		else
			assert_int_equal(zero, BLOCK);
	}
	free(ovl);
}

static void test_base_is_unchanged(void **state)
{
	size_t size;
	uint8_t *now = read_file(base_path, &size);

	(void)state;
	assert_int_equal(size, fe.base_size);
	assert_memory_equal(now, fe.base, size);
	free(now);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capacity_is_base_size),
		cmocka_unit_test(test_unwritten_blocks_read_the_base),
		cmocka_unit_test(test_write_lands_in_overlay),
		cmocka_unit_test(test_partial_write_copies_the_block_up),
		cmocka_unit_test(test_rewrite_and_straddling_read),
		cmocka_unit_test(test_flush_and_get_id),
		cmocka_unit_test(test_overlay_holds_only_written_blocks),
		cmocka_unit_test(test_base_is_unchanged),
	};

	if (argc != 4)
		return 2;
	sock_path = argv[1];
	base_path = argv[2];
	ovl_path = argv[3];
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
