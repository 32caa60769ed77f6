/* SPDX-License-Identifier: MIT */
/*
 * The real stack below a fake front-end: virtio-blk (virtio/) on a RAM disk
 * (io/ memory engine) served by the vhost-user transport. The front-end
 * plays QEMU and the guest driver: it shares a memfd as guest memory,
 * builds a split ring in it, and checks what comes back in the used ring.
 */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>
#include <vback/io.h>
#include <vback/vhost_user.h>
#include <vback/mmio.h>

#include "frontend.h"
#include "protocol.h"
#include "test_io.h"

#define MEM_SIZE (1u << 20)
#define UADDR	 0x7f1234000000ull
#define QSIZE	 8
/* Guest-physical layout. */
#define DESC	 0x0000u
#define AVAIL	 0x1000u
#define USED	 0x2000u
#define HDR	 0x3000u
#define STATUS	 0x3800u
#define DATA_OUT 0x4000u
#define DATA_IN	 0x8000u

struct ctx {
	struct vback_loop *loop;
	struct vback_io io;
	struct tio *tio; /* instead of the memory engine: counts flushes */
	struct vback_blk *blk;
	struct vback_vhu *vhu;
	struct fe fe;
	int memfd, kick, call;
	uint8_t *mem; /* the front-end's view of guest memory */
	uint16_t avail_idx;
	struct vback_log log;
};

static void quiet(void *opaque, enum vback_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static int setup_with(void **state, bool with_tio)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct tio_options to = { .volatile_cache = true };
	struct vback_io_options io = {
		.engine = VBACK_IO_ENGINE_MEMORY,
		.mem_size = 1 << 20,
	};
	struct vback_blk_options bo = { .num_queues = 1, .writeback = true };
	struct vback_vhu_options vo = { 0 };
	int sv[2];

	assert_non_null(c);
	c->log = (struct vback_log){ .fn = quiet, .max_level = VBACK_LOG_ERR };
	io.log = bo.log = vo.log = &c->log;
	assert_int_equal(vback_epoll_loop_create(NULL, &c->loop), 0);
	if (with_tio) {
		c->tio = tio_create(&to);
		assert_non_null(c->tio);
		c->io = tio_io(c->tio);
	} else {
		assert_int_equal(vback_io_open(&io, c->loop, &c->io), 0);
	}
	bo.io = c->io;
	assert_int_equal(vback_blk_create(&bo, &c->blk), 0);
	vo.dev = vback_blk_dev(c->blk);
	vo.loop = c->loop;
	assert_int_equal(vback_vhu_create(&vo, &c->vhu), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(vback_vhu_serve_fd(c->vhu, sv[0]), 0);
	c->fe = (struct fe){ .fd = sv[1], .loop = c->loop };
	c->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_int_equal(ftruncate(c->memfd, MEM_SIZE), 0);
	c->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      c->memfd, 0);
	assert_true(c->mem != MAP_FAILED);
	c->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*state = c;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, false);
}

static int setup_tio(void **state)
{
	return setup_with(state, true);
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	close(c->fe.fd);
	fe_pump(c->loop); /* disconnect; nothing is in flight */
	vback_vhu_destroy(c->vhu);
	if (c->tio)
		tio_destroy(c->tio);
	else
		vback_io_close(&c->io);
	vback_blk_destroy(c->blk);
	vback_epoll_loop_destroy(c->loop);
	munmap(c->mem, MEM_SIZE);
	close(c->memfd);
	close(c->kick);
	close(c->call);
	free(c);
	return 0;
}

static void send_u64(struct ctx *c, uint32_t req, uint64_t v, const int *fd)
{
	fe_send(&c->fe, req, VHU_VERSION, &v, sizeof(v), fd, fd ? 1 : 0);
}

static void send_state(struct ctx *c, uint32_t req, uint32_t num)
{
	struct vhu_state s = { 0, num };

	fe_send(&c->fe, req, VHU_VERSION, &s, sizeof(s), NULL, 0);
}

/* What QEMU does when the guest driver sets DRIVER_OK: @features
 * (besides VERSION_1 and PROTOCOL_FEATURES), the ring from @base. */
static void start_device_with(struct ctx *c, uint64_t want, uint16_t base)
{
	uint64_t features = fe_get_u64(&c->fe, VHU_GET_FEATURES);
	struct vhu_mem m = { .nregions = 1 };
	struct vhu_addr a = {
		.desc = UADDR + DESC,
		.avail = UADDR + AVAIL,
		.used = UADDR + USED,
	};

	assert_true(features & (1ull << VIRTIO_BLK_F_FLUSH));
	assert_true(features & (1ull << 32)); /* VERSION_1 */
	send_u64(c, VHU_SET_PROTOCOL_FEATURES,
		 (1ull << VHU_PROTOCOL_F_CONFIG) |
			 (1ull << VHU_PROTOCOL_F_RESET_DEVICE),
		 NULL);
	send_u64(c, VHU_SET_FEATURES,
		 want | (1ull << 32) | (1ull << VHU_F_PROTOCOL_FEATURES), NULL);
	m.regions[0] = (struct vhu_region){ 0, MEM_SIZE, UADDR, 0 };
	fe_send(&c->fe, VHU_SET_MEM_TABLE, VHU_VERSION, &m,
		offsetof(struct vhu_mem, regions) + sizeof(m.regions[0]),
		&c->memfd, 1);
	send_state(c, VHU_SET_VRING_NUM, QSIZE);
	send_state(c, VHU_SET_VRING_BASE, base);
	fe_send(&c->fe, VHU_SET_VRING_ADDR, VHU_VERSION, &a, sizeof(a), NULL,
		0);
	send_u64(c, VHU_SET_VRING_KICK, 0, &c->kick);
	send_u64(c, VHU_SET_VRING_CALL, 0, &c->call);
	send_state(c, VHU_SET_VRING_ENABLE, 1);
	fe_pump(c->loop);
}

static void start_device(struct ctx *c)
{
	start_device_with(c, 1ull << VIRTIO_BLK_F_FLUSH, 0);
}

static void set_desc(struct ctx *c, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct vring_desc d = {
		.addr = addr, .len = len, .flags = flags, .next = next
	};

	memcpy(c->mem + DESC + i * sizeof(d), &d, sizeof(d));
}

static uint16_t used_idx(struct ctx *c)
{
	uint16_t v;

	__atomic_load((uint16_t *)(void *)(c->mem + USED +
					   offsetof(struct vring_used, idx)),
		      &v, __ATOMIC_ACQUIRE);
	return v;
}

/* Post a 3-descriptor request at head @head, kick, wait for it. */
static uint8_t do_request(struct ctx *c, uint16_t head, uint32_t type,
			  uint64_t sector, uint32_t data, bool to_device)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	uint16_t *ring =
		(uint16_t *)(void *)(c->mem + AVAIL +
				     offsetof(struct vring_avail, ring));
	uint16_t want = (uint16_t)(used_idx(c) + 1);
	uint64_t v = 1;

	memcpy(c->mem + HDR, &h, sizeof(h));
	c->mem[STATUS] = 0xff;
	set_desc(c, head, HDR, sizeof(h), VRING_DESC_F_NEXT, head + 1);
	set_desc(c, head + 1, data, 4096,
		 VRING_DESC_F_NEXT | (to_device ? 0 : VRING_DESC_F_WRITE),
		 head + 2);
	set_desc(c, head + 2, STATUS, 1, VRING_DESC_F_WRITE, 0);
	ring[c->avail_idx % QSIZE] = head;
	c->avail_idx++;
	__atomic_store_n((uint16_t *)(void *)(c->mem + AVAIL + 2), c->avail_idx,
			 __ATOMIC_RELEASE);
	assert_int_equal(write(c->kick, &v, sizeof(v)), sizeof(v));
	for (int i = 0; i < 2500 && used_idx(c) != want; i++)
		vback_loop_run_once(c->loop, 2);
	assert_int_equal(used_idx(c), want);
	/* The completion interrupt went to the call eventfd. */
	fe_pump(c->loop);
	assert_int_equal(read(c->call, &v, sizeof(v)), sizeof(v));
	return c->mem[STATUS];
}

static void test_write_read_round_trip(void **state)
{
	struct ctx *c = *state;
	struct vback_blk_stats st;

	start_device(c);
	for (unsigned int i = 0; i < 4096; i++)
		c->mem[DATA_OUT + i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(do_request(c, 0, VIRTIO_BLK_T_OUT, 8, DATA_OUT, true),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(do_request(c, 3, VIRTIO_BLK_T_IN, 8, DATA_IN, false),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(c->mem + DATA_IN, c->mem + DATA_OUT, 4096);
	vback_blk_get_stats(c->blk, &st);
	assert_int_equal(st.writes, 1);
	assert_int_equal(st.reads, 1);
}

static void test_vring_base_after_io(void **state)
{
	struct ctx *c = *state;
	struct vhu_hdr hdr;
	struct vhu_state s;

	start_device(c);
	assert_int_equal(do_request(c, 0, VIRTIO_BLK_T_IN, 0, DATA_IN, false),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(do_request(c, 3, VIRTIO_BLK_T_IN, 0, DATA_IN, false),
			 VIRTIO_BLK_S_OK);
	send_state(c, VHU_GET_VRING_BASE, 0);
	assert_int_equal(fe_recv(&c->fe, &hdr, &s, sizeof(s)), 0);
	assert_int_equal(s.num, 2);
	assert_false(vback_dev_queue_enabled(vback_blk_dev(c->blk), 0));
}

static void test_config_space_is_virtio_blk(void **state)
{
	struct ctx *c = *state;
	struct vhu_config cfg = { .size = sizeof(struct virtio_blk_config) };
	struct vhu_config got;
	struct vhu_hdr hdr;
	uint64_t capacity;

	fe_send(&c->fe, VHU_GET_CONFIG, VHU_VERSION, &cfg,
		VHU_CONFIG_HDR + cfg.size, NULL, 0);
	assert_int_equal(fe_recv(&c->fe, &hdr, &got, sizeof(got)), 0);
	assert_int_equal(got.size, sizeof(struct virtio_blk_config));
	memcpy(&capacity, got.data, sizeof(capacity));
	assert_int_equal(capacity, (1 << 20) / 512);
	/* Write-back cache advertised: guests will flush. */
	assert_int_equal(got.data[offsetof(struct virtio_blk_config, wce)], 1);
}

/* What QEMU does when the guest stops the device: the ring's next avail
 * index comes back. */
static uint16_t stop_ring(struct ctx *c)
{
	struct vhu_hdr hdr;
	struct vhu_state st;

	send_state(c, VHU_GET_VRING_BASE, 0);
	assert_int_equal(fe_recv(&c->fe, &hdr, &st, sizeof(st)), 0);
	return (uint16_t)st.num;
}

static uint8_t config_wce(struct ctx *c)
{
	struct vhu_config cfg = { .size = sizeof(struct virtio_blk_config) };
	struct vhu_config got;
	struct vhu_hdr hdr;

	fe_send(&c->fe, VHU_GET_CONFIG, VHU_VERSION, &cfg,
		VHU_CONFIG_HDR + cfg.size, NULL, 0);
	assert_int_equal(fe_recv(&c->fe, &hdr, &got, sizeof(got)), 0);
	return got.data[offsetof(struct virtio_blk_config, wce)];
}

enum transition {
	NEW_FEATURES, /* firmware driver, then the OS driver */
	RESET_DEVICE,
	RESET_OWNER,
	RECONNECT,
	NTRANSITIONS
};

/*
 * The guest chose write-through (SET_CONFIG wce=0, as QEMU forwards it);
 * after each way the transport resets the device, a write must still be
 * followed by a flush, and the config must still say write-through: QEMU
 * keeps serving the guest its cached copy.
 */
static void test_cache_mode_across_transitions(void **state)
{
	const uint64_t os = (1ull << VIRTIO_BLK_F_FLUSH) |
			    (1ull << VIRTIO_BLK_F_CONFIG_WCE);
	const uint64_t firmware = 1ull << VIRTIO_BLK_F_FLUSH;

	(void)state;

	for (unsigned int t = 0; t < NTRANSITIONS; t++) {
		struct ctx *c;
		struct vhu_config cfg = {
			.offset = offsetof(struct virtio_blk_config, wce),
			.size = 1,
			.data = { 0 }
		};
		uint16_t base;
		uint64_t flushes;
		int sv[2];

		setup_tio((void **)&c);
		start_device_with(c, os, 0);
		assert_int_equal(config_wce(c), 1);
		fe_send(&c->fe, VHU_SET_CONFIG, VHU_VERSION, &cfg,
			VHU_CONFIG_HDR + cfg.size, NULL, 0);
		assert_int_equal(config_wce(c), 0);
		assert_int_equal(do_request(c, 0, VIRTIO_BLK_T_OUT, 0, DATA_OUT,
					    true),
				 VIRTIO_BLK_S_OK);
		flushes = tio_stats(c->tio)->by_op[VBACK_IO_FLUSH];
		assert_int_equal(flushes, 1);
		base = stop_ring(c);
		switch (t) {
		case NEW_FEATURES:
			start_device_with(c, firmware, base);
			base = stop_ring(c);
			break;
		case RESET_DEVICE:
		case RESET_OWNER:
			fe_send(&c->fe,
				t == RESET_DEVICE ? VHU_RESET_DEVICE
						  : VHU_RESET_OWNER,
				VHU_VERSION, NULL, 0, NULL, 0);
			fe_pump(c->loop);
			break;
		default:
			close(c->fe.fd);
			fe_pump(c->loop);
			assert_int_equal(socketpair(AF_UNIX,
						    SOCK_STREAM | SOCK_CLOEXEC,
						    0, sv),
					 0);
			assert_int_equal(vback_vhu_serve_fd(c->vhu, sv[0]), 0);
			c->fe.fd = sv[1];
			break;
		}
		start_device_with(c, os, base);
		assert_int_equal(config_wce(c), 0);
		assert_int_equal(do_request(c, 3, VIRTIO_BLK_T_OUT, 0, DATA_OUT,
					    true),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(tio_stats(c->tio)->by_op[VBACK_IO_FLUSH],
				 flushes + 1);
		teardown((void **)&c);
	}
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_write_read_round_trip),
		T(test_vring_base_after_io),
		T(test_config_space_is_virtio_blk),
		cmocka_unit_test(test_cache_mode_across_transitions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
