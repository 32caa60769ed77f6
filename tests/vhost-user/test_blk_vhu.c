/* SPDX-License-Identifier: MIT */
/*
 * The real stack below a fake front-end: virtio-blk (virtio/) on a RAM disk
 * (io/ memory engine) served by the vhost-user transport. The front-end
 * plays QEMU and the guest driver: it shares a memfd as guest memory,
 * builds a split ring in it, and checks what comes back in the used ring.
 */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <pthread.h>
#include <sched.h>
#include <linux/virtio_ring.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>
#include <vback/io.h>
#include <vback/vhost_user.h>
#include <vback/mmio.h>

#include "frontend.h"
#include "inflight.h"
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
	/* The queue on a thread of its own (setup_threaded). */
	struct vback_loop *qloop;
	pthread_t qthread;
	struct vback_io qio;
	/* What the memory callback reported last. */
	unsigned int mem_calls, mem_n;
	int qcheck;
	struct vback_blk_stats stats;
	struct vback_iovec mem_regions[8];
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

static void on_memory(void *opaque, const struct vback_iovec *r, unsigned int n)
{
	struct ctx *c = opaque;

	c->mem_calls++;
	c->mem_n = n;
	memcpy(c->mem_regions, r, n * sizeof(*r));
}

static void *qthread_main(void *arg)
{
	vback_loop_run(arg);
	return NULL;
}

/* Run @fn(@c) on the queue thread and wait for it. */
struct qcall {
	struct vback_work w;
	void (*fn)(struct ctx *c);
	struct ctx *c;
	int done;
};

static void qcall_run(void *opaque)
{
	struct qcall *q = opaque;

	q->fn(q->c);
	__atomic_store_n(&q->done, 1, __ATOMIC_RELEASE);
}

static void on_qthread(struct ctx *c, void (*fn)(struct ctx *c))
{
	struct qcall q = { .fn = fn, .c = c };

	vback_work_init(&q.w, qcall_run, &q);
	vback_loop_post(c->qloop, &q.w);
	while (!__atomic_load_n(&q.done, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void close_qio(struct ctx *c)
{
	vback_io_close(&c->qio);
}

static void read_stats(struct ctx *c)
{
	vback_blk_get_stats(c->blk, &c->stats);
}

static void check_queue_disabled(struct ctx *c)
{
	c->qcheck = !vback_dev_queue_enabled(vback_blk_dev(c->blk), 0);
}

static int setup_with(void **state, bool with_tio, bool threaded)
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
	/* The rings and the engines' completion rings are polled, as in
	 * vback-disk. */
	assert_int_equal(vback_epoll_loop_set_poll(c->loop, 50000), 0);
	if (with_tio) {
		c->tio = tio_create(&to);
		assert_non_null(c->tio);
		c->io = tio_io(c->tio);
	} else {
		assert_int_equal(vback_io_open(&io, c->loop, &c->io), 0);
	}
	bo.io = c->io;
	assert_int_equal(vback_blk_create(&bo, &c->blk), 0);
	if (threaded) {
		/* Queue 0 on a loop of its own, with a clone of the disk on
		 * it, as vback-disk does with a thread per queue. */
		assert_int_equal(vback_epoll_loop_create(NULL, &c->qloop), 0);
		assert_int_equal(vback_epoll_loop_set_poll(c->qloop, 50000), 0);
		assert_int_equal(vback_io_clone(&c->io, c->qloop, &c->qio), 0);
		assert_int_equal(vback_blk_set_queue_io(c->blk, 0, &c->qio), 0);
		assert_int_equal(vback_dev_queue_set_loop(vback_blk_dev(c->blk),
							  0, c->qloop),
				 0);
		assert_int_equal(pthread_create(&c->qthread, NULL, qthread_main,
						c->qloop),
				 0);
	}
	vo.dev = vback_blk_dev(c->blk);
	vo.loop = c->loop;
	vo.memory = on_memory;
	vo.opaque = c;
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
	return setup_with(state, false, false);
}

static int setup_threaded(void **state)
{
	return setup_with(state, false, true);
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	if (c->fe.fd >= 0)
		close(c->fe.fd);
	fe_pump(c->loop); /* disconnect; nothing is in flight */
	vback_vhu_destroy(c->vhu);
	if (c->qloop) {
		on_qthread(c, close_qio);
		vback_loop_stop(c->qloop);
		assert_int_equal(pthread_join(c->qthread, NULL), 0);
		vback_epoll_loop_destroy(c->qloop);
	}
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
	/* A queue's counters are read on its thread. */
	if (c->qloop)
		on_qthread(c, read_stats);
	else
		vback_blk_get_stats(c->blk, &c->stats);
	st = c->stats;
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

		setup_with((void **)&c, true, false);
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

/* ------------------------------------------------------------------ */
/* A back-end process killed with IO completing out of order           */
/* ------------------------------------------------------------------ */

/*
 * The back-end runs in a child process on a disk in shared memory, with
 * an IO engine that holds one write forever while the ones after it
 * complete; the test plays QEMU: it keeps guest memory and the in-flight
 * region, SIGKILLs the child, rewinds the ring to its used index (what
 * QEMU does when GET_VRING_BASE fails), and starts a second back-end
 * process on the same disk.
 */
#define KDISK	(256u << 10)
#define KBLOCKS (KDISK / 4096)
#define KQSIZE	16u
#define NO_HOLD UINT64_MAX

struct kdisk {
	uint8_t bytes[KDISK];
	uint32_t runs[KBLOCKS]; /* writes executed per 4 KiB block */
};

struct hold_io {
	struct kdisk *disk;
	uint64_t hold_offset;
	struct vback_io_req *queued[64];
	unsigned int nqueued;
};

static int hold_submit(void *opaque, struct vback_io_req *req)
{
	struct hold_io *h = opaque;

	if (h->nqueued == 64)
		return -EAGAIN;
	h->queued[h->nqueued++] = req;
	return 0;
}

/* Execute what was queued, except the held write (kept forever). */
static void hold_unplug(void *opaque)
{
	struct hold_io *h = opaque;
	struct vback_io_req *batch[64];
	unsigned int n = h->nqueued, kept = 0;

	memcpy(batch, h->queued, n * sizeof(batch[0]));
	h->nqueued = 0;
	for (unsigned int i = 0; i < n; i++) {
		struct vback_io_req *req = batch[i];
		uint64_t off = req->offset;

		if (req->op == VBACK_IO_WRITE && off == h->hold_offset) {
			h->queued[h->nqueued++] = req;
			kept++;
			continue;
		}
		if (req->op == VBACK_IO_WRITE) {
			for (unsigned int k = 0; k < req->iovcnt; k++) {
				memcpy(h->disk->bytes + off,
				       req->iov[k].iov_base,
				       req->iov[k].iov_len);
				off += req->iov[k].iov_len;
			}
			h->disk->runs[req->offset / 4096]++;
		}
		req->done(req, 0);
	}
	(void)kept;
}

static int hold_caps(void *opaque, struct vback_io_caps *caps)
{
	(void)opaque;
	memset(caps, 0, sizeof(*caps));
	caps->size_bytes = KDISK;
	caps->logical_block_size = caps->physical_block_size = 512;
	caps->volatile_cache = true;
	return 0;
}

static void hold_close(void *opaque)
{
	(void)opaque;
}

static const struct vback_io_ops hold_ops = {
	.submit = hold_submit,
	.unplug = hold_unplug,
	.get_caps = hold_caps,
	.close = hold_close,
};

/* The child: serve @fd until killed. Never returns. */
static void backend_process(int fd, struct kdisk *disk, uint64_t hold_offset)
{
	static struct hold_io h;
	struct vback_loop *loop;
	struct vback_blk *blk;
	struct vback_vhu *vhu;
	struct vback_blk_options bo = { .num_queues = 1,
					.queue_size = KQSIZE,
					.writeback = true };
	struct vback_vhu_options vo = { 0 };
	static struct vback_log log;

	log = (struct vback_log){ .fn = quiet, .max_level = VBACK_LOG_ERR };
	h = (struct hold_io){ .disk = disk, .hold_offset = hold_offset };
	bo.io = (struct vback_io){ &hold_ops, &h };
	bo.log = &log;
	if (vback_epoll_loop_create(NULL, &loop) < 0 ||
	    vback_blk_create(&bo, &blk) < 0)
		_exit(2);
	vo.dev = vback_blk_dev(blk);
	vo.loop = loop;
	vo.log = &log;
	if (vback_vhu_create(&vo, &vhu) < 0 || vback_vhu_serve_fd(vhu, fd) < 0)
		_exit(3);
	vback_loop_run(loop);
	_exit(4);
}

struct kfe {
	struct vback_loop *idle; /* nothing on it: fe_recv() waits with it */
	struct fe fe;
	pid_t pid;
	int memfd, kick, call, region;
	uint64_t region_size;
	uint8_t *mem;
	struct kdisk *disk;
	uint16_t avail_idx;
};

static pid_t spawn(struct kfe *k, uint64_t hold_offset)
{
	int sv[2];
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Gone with the test, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[1]);
		backend_process(sv[0], k->disk, hold_offset);
	}
	close(sv[0]);
	k->fe = (struct fe){ .fd = sv[1], .loop = k->idle };
	return pid;
}

static void kill_backend(struct kfe *k)
{
	int st;

	kill(k->pid, SIGKILL);
	assert_int_equal(waitpid(k->pid, &st, 0), k->pid);
	assert_true(WIFSIGNALED(st));
	close(k->fe.fd);
}

static void kfe_u64(struct kfe *k, uint32_t req, uint64_t v, const int *fd)
{
	fe_send(&k->fe, req, VHU_VERSION, &v, sizeof(v), fd, fd ? 1 : 0);
}

static void kfe_state(struct kfe *k, uint32_t req, uint32_t num)
{
	struct vhu_state st = { 0, num };

	fe_send(&k->fe, req, VHU_VERSION, &st, sizeof(st), NULL, 0);
}

/* QEMU's vhost-user-blk start, with or without in-flight tracking: the
 * region is fetched once and handed back to every later back-end. */
static void kfe_start(struct kfe *k, bool inflight, uint16_t base)
{
	uint64_t proto = (1ull << VHU_PROTOCOL_F_CONFIG) |
			 (1ull << VHU_PROTOCOL_F_REPLY_ACK);
	struct vhu_mem m = { .nregions = 1 };
	struct vhu_addr a = { .desc = UADDR + DESC,
			      .avail = UADDR + AVAIL,
			      .used = UADDR + USED };

	if (inflight) {
		assert_true(fe_get_u64(&k->fe, VHU_GET_PROTOCOL_FEATURES) &
			    (1ull << VHU_PROTOCOL_F_INFLIGHT_SHMFD));
		proto |= 1ull << VHU_PROTOCOL_F_INFLIGHT_SHMFD;
	}
	kfe_u64(k, VHU_SET_PROTOCOL_FEATURES, proto, NULL);
	kfe_u64(k, VHU_SET_FEATURES,
		(1ull << VIRTIO_BLK_F_FLUSH) | (1ull << 32) |
			(1ull << VHU_F_PROTOCOL_FEATURES),
		NULL);
	if (inflight && k->region < 0) {
		struct vhu_inflight d = { .num_queues = 1,
					  .queue_size = KQSIZE };
		struct vhu_hdr hdr;

		fe_send(&k->fe, VHU_GET_INFLIGHT_FD, VHU_VERSION, &d, sizeof(d),
			NULL, 0);
		assert_int_equal(fe_recv_fd(&k->fe, &hdr, &d, sizeof(d),
					    &k->region),
				 0);
		assert_true(k->region >= 0);
		k->region_size = d.mmap_size;
	}
	if (inflight) {
		struct vhu_inflight d = { k->region_size, 0, 1, KQSIZE };

		fe_send(&k->fe, VHU_SET_INFLIGHT_FD, VHU_VERSION, &d, sizeof(d),
			&k->region, 1);
	}
	m.regions[0] = (struct vhu_region){ 0, MEM_SIZE, UADDR, 0 };
	fe_send(&k->fe, VHU_SET_MEM_TABLE, VHU_VERSION, &m,
		offsetof(struct vhu_mem, regions) + sizeof(m.regions[0]),
		&k->memfd, 1);
	kfe_state(k, VHU_SET_VRING_NUM, KQSIZE);
	kfe_state(k, VHU_SET_VRING_BASE, base);
	fe_send(&k->fe, VHU_SET_VRING_ADDR, VHU_VERSION, &a, sizeof(a), NULL,
		0);
	kfe_u64(k, VHU_SET_VRING_KICK, 0, &k->kick);
	kfe_u64(k, VHU_SET_VRING_CALL, 0, &k->call);
	kfe_state(k, VHU_SET_VRING_ENABLE, 1);
	/* A round trip: every message above was handled. */
	assert_int_equal(fe_get_u64(&k->fe, VHU_GET_QUEUE_NUM), 1);
}

static uint16_t kused(const struct kfe *k)
{
	uint16_t v;

	__atomic_load((uint16_t *)(void *)(k->mem + USED + 2), &v,
		      __ATOMIC_ACQUIRE);
	return v;
}

static uint32_t kused_id(const struct kfe *k, uint16_t i)
{
	uint32_t id;

	memcpy(&id, k->mem + USED + 4 + 8 * (i % KQSIZE), sizeof(id));
	return id;
}

/* Write request slot @s (head 3s): 4 KiB of (s + 1) to block s. */
static void kfe_write(struct kfe *k, unsigned int s)
{
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_OUT,
				       .sector = 8ull * s };
	uint64_t buf = 0x10000ull + 0x2000ull * s;
	uint16_t head = (uint16_t)(3 * s);
	uint64_t one = 1;

	memcpy(k->mem + buf, &h, sizeof(h));
	memset(k->mem + buf + 0x1000, (int)(s + 1), 4096);
	k->mem[buf + 0x100] = 0xff;
	{
		struct vring_desc d[3] = {
			{ buf, sizeof(h), VRING_DESC_F_NEXT,
			  (uint16_t)(head + 1) },
			{ buf + 0x1000, 4096, VRING_DESC_F_NEXT,
			  (uint16_t)(head + 2) },
			{ buf + 0x100, 1, VRING_DESC_F_WRITE, 0 },
		};

		memcpy(k->mem + DESC + 16 * head, d, sizeof(d));
	}
	memcpy(k->mem + AVAIL + 4 + 2 * (k->avail_idx % KQSIZE), &head, 2);
	k->avail_idx++;
	__atomic_store_n((uint16_t *)(void *)(k->mem + AVAIL + 2), k->avail_idx,
			 __ATOMIC_RELEASE);
	assert_int_equal(write(k->kick, &one, sizeof(one)), sizeof(one));
}

static uint8_t kstatus(const struct kfe *k, unsigned int s)
{
	return k->mem[0x10000 + 0x2000 * s + 0x100];
}

/* Wait (up to @ms) for the used index to reach @want. */
static bool kwait_used_ms(const struct kfe *k, uint16_t want, int ms)
{
	for (int i = 0; i < ms / 10 && kused(k) != want; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	return kused(k) == want;
}

static bool kwait_used(const struct kfe *k, uint16_t want)
{
	return kwait_used_ms(k, want, 5000);
}

static bool kblock_is(const struct kfe *k, unsigned int s)
{
	for (unsigned int i = 0; i < 4096; i++)
		if (k->disk->bytes[4096 * s + i] != (uint8_t)(s + 1))
			return false;
	return true;
}

static void kfe_setup(struct kfe *k)
{
	memset(k, 0, sizeof(*k));
	assert_int_equal(vback_epoll_loop_create(NULL, &k->idle), 0);
	k->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_int_equal(ftruncate(k->memfd, MEM_SIZE), 0);
	k->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      k->memfd, 0);
	assert_true(k->mem != MAP_FAILED);
	k->disk = mmap(NULL, sizeof(*k->disk), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(k->disk != MAP_FAILED);
	k->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	k->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	k->region = -1;
}

static void kfe_teardown(struct kfe *k)
{
	munmap(k->mem, MEM_SIZE);
	munmap(k->disk, sizeof(*k->disk));
	close(k->memfd);
	close(k->kick);
	close(k->call);
	if (k->region >= 0)
		close(k->region);
	vback_epoll_loop_destroy(k->idle);
}

/*
 * Writes 0, 1, 2; the back-end holds write 0 while 1 and 2 complete and
 * are published; it is killed; the guest's ring is rewound to its used
 * index (2) and a new back-end process takes over.
 */
static void kill_out_of_order(struct kfe *k, bool inflight)
{
	kfe_setup(k);
	k->pid = spawn(k, 0);
	kfe_start(k, inflight, 0);
	kfe_write(k, 0);
	kfe_write(k, 1);
	kfe_write(k, 2);
	assert_true(kwait_used(k, 2));
	assert_int_equal(kused_id(k, 0), 3);
	assert_int_equal(kused_id(k, 1), 6);
	assert_int_equal(kstatus(k, 0), 0xff);
	kill_backend(k);
	assert_int_equal(k->disk->runs[0], 0);

	k->pid = spawn(k, NO_HOLD);
	kfe_start(k, inflight, kused(k));
}

static void test_restart_kill_out_of_order(void **state)
{
	struct kfe k;

	(void)state;
	kill_out_of_order(&k, true);
	/* The held write was resubmitted, and nothing else ran again. */
	assert_true(kwait_used(&k, 3));
	assert_int_equal(kused_id(&k, 2), 0);
	assert_int_equal(kstatus(&k, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(k.disk->runs[0], 1);
	assert_int_equal(k.disk->runs[1], 1);
	assert_int_equal(k.disk->runs[2], 1);
	assert_true(kblock_is(&k, 0) && kblock_is(&k, 1) && kblock_is(&k, 2));
	/* And the next one is served after it. */
	kfe_write(&k, 3);
	assert_true(kwait_used(&k, 4));
	assert_int_equal(kused_id(&k, 3), 9);
	assert_int_equal(k.disk->runs[3], 1);
	kill_backend(&k);
	kfe_teardown(&k);
}

/* The same without the region: the failure the region exists for, kept
 * as a test so that it stays written down. */
static void test_restart_kill_out_of_order_without_inflight(void **state)
{
	struct kfe k;

	(void)state;
	kill_out_of_order(&k, false);
	/* Avail entry 2 is write 2, already done: it runs twice; write 0 is
	 * never taken again and its request never completes. */
	assert_true(kwait_used(&k, 3));
	assert_int_equal(kused_id(&k, 2), 6);
	assert_int_equal(k.disk->runs[2], 2);
	assert_false(kwait_used_ms(&k, 4, 300));
	assert_int_equal(k.disk->runs[0], 0);
	assert_int_equal(kstatus(&k, 0), 0xff);
	kill_backend(&k);
	kfe_teardown(&k);
}

/* The memory callback: the mapped table after SET_MEM_TABLE (the same
 * bytes the front-end sees), nothing once the front-end is gone. */
static void test_memory_reported(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(c->mem_calls, 0);
	start_device(c);
	assert_int_equal(c->mem_calls, 1);
	assert_int_equal(c->mem_n, 1);
	assert_int_equal(c->mem_regions[0].iov_len, MEM_SIZE);
	c->mem[DATA_OUT] = 0x5a;
	assert_int_equal(((uint8_t *)c->mem_regions[0].iov_base)[DATA_OUT],
			 0x5a);
	assert_int_equal(do_request(c, 0, VIRTIO_BLK_T_IN, 0, DATA_IN, false),
			 VIRTIO_BLK_S_OK);
	close(c->fe.fd);
	fe_pump(c->loop);
	assert_int_equal(c->mem_calls, 2);
	assert_int_equal(c->mem_n, 0);
	c->fe.fd = -1;
}

/* The ring's device queue on a thread of its own: the same requests,
 * the same answers; the ring base comes back from that thread;
 * statistics read there. */
static void test_queue_on_its_own_thread(void **state)
{
	struct ctx *c = *state;
	struct vback_dev *dev = vback_blk_dev(c->blk);

	assert_ptr_equal(vback_dev_queue_loop(dev, 0), c->qloop);
	start_device(c);
	for (unsigned int i = 0; i < 4096; i++)
		c->mem[DATA_OUT + i] = (uint8_t)(i * 5 + 1);
	for (unsigned int round = 0; round < 20; round++) {
		assert_int_equal(do_request(c, 0, VIRTIO_BLK_T_OUT, 8 + round,
					    DATA_OUT, true),
				 VIRTIO_BLK_S_OK);
		memset(c->mem + DATA_IN, 0, 4096);
		assert_int_equal(do_request(c, 3, VIRTIO_BLK_T_IN, 8 + round,
					    DATA_IN, false),
				 VIRTIO_BLK_S_OK);
		assert_memory_equal(c->mem + DATA_IN, c->mem + DATA_OUT, 4096);
	}
	assert_int_equal(stop_ring(c), 40);
	/* Reset on its own thread: no longer enabled. */
	on_qthread(c, check_queue_disabled);
	assert_int_equal(c->qcheck, 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_write_read_round_trip),
		T(test_vring_base_after_io),
		T(test_config_space_is_virtio_blk),
		T(test_memory_reported),
		cmocka_unit_test_setup_teardown(test_write_read_round_trip,
						setup_threaded, teardown),
		cmocka_unit_test_setup_teardown(test_vring_base_after_io,
						setup_threaded, teardown),
		cmocka_unit_test_setup_teardown(test_memory_reported,
						setup_threaded, teardown),
		cmocka_unit_test_setup_teardown(test_queue_on_its_own_thread,
						setup_threaded, teardown),
		cmocka_unit_test(test_cache_mode_across_transitions),
		cmocka_unit_test(test_restart_kill_out_of_order),
		cmocka_unit_test(
			test_restart_kill_out_of_order_without_inflight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
