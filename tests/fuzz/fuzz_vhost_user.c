/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the vhost-user back-end (transport/vhost-user/: framing,
 * validation, the memory table, ring set-up, kicks) serving a real
 * virtio-blk device on the RAM disk of tests/common/test_io.c, driven
 * over a socketpair by a front-end that sends anything: any request
 * number, flags, declared and actual payload sizes, any number of fds of
 * any kind (a memfd, eventfds), messages split or glued together, plus a
 * "smart" set-up that maps real guest memory and starts both rings so
 * that requests and kicks reach the device, and disconnects/reconnects.
 *
 * The front-end also asks for an in-flight region (GET_INFLIGHT_FD),
 * keeps what comes back, scribbles on it, and hands it (or any fd) back
 * with SET_INFLIGHT_FD, with sizes and counts as the input says, so that
 * rings adopt whatever records it holds after a reconnect.
 *
 * With the first byte's bit 2 the disk holds completions until the input
 * releases them, so messages that must wait for IO (GET_VRING_BASE, a new
 * memory table, RESET_DEVICE, a disconnect) are parked and resumed. With
 * bit 3 the event callback serves the next front-end from inside IDLE.
 *
 * Invariants: the back-end never blocks or crashes and keeps serving the
 * next front-end; connection events follow CONNECTED -> DISCONNECTED ->
 * IDLE, never re-entrantly; every fd it received is closed by the time it
 * is destroyed (the process's fd count is back to where it started); no
 * request is left in flight; a read-only disk is never written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vback/epoll.h>
#include <vback/vhost_user.h>

#include "fuzz_common.h"
#include "protocol.h"
#include "test_io.h"

#define MAX_OPS	  96
#define NQ	  2
#define MEM_SIZE  (64u * 1024u)
#define UADDR	  0x7f1200000000ull
#define DISK_SIZE (16u * 1024u)

struct h {
	struct vback_loop *loop;
	struct vback_vhu *vhu;
	struct vback_blk *blk;
	struct tio *tio;
	int fe; /* our end of the socket, -1 when disconnected */
	int memfd;
	uint8_t *mem; /* the front-end's view of guest memory */
	int kick[NQ], call[NQ];
	uint16_t size[NQ], avail_idx[NQ];
	uint64_t desc[NQ], avail[NQ], used[NQ]; /* guest addresses */
	enum vback_vhu_event last_event;	/* IDLE before the first */
	bool in_event;
	bool serve_on_idle; /* the IDLE callback serves the next front-end */
	int region;	    /* the last in-flight region received, or -1 */
	uint8_t *rmap;	    /* ... mapped here */
	size_t rsize;
	struct vhu_inflight rdesc; /* ... as described */
};

/* Each event must be the one the connection's life cycle allows next. */
static void on_event(void *opaque, enum vback_vhu_event ev)
{
	struct h *h = opaque;
	static const enum vback_vhu_event expected_after[] = {
		[VBACK_VHU_CONNECTED] = VBACK_VHU_DISCONNECTED,
		[VBACK_VHU_DISCONNECTED] = VBACK_VHU_IDLE,
		[VBACK_VHU_IDLE] = VBACK_VHU_CONNECTED,
	};

	FZ_CHECK(!h->in_event, "event %d reported re-entrantly", (int)ev);
	FZ_CHECK(ev == expected_after[h->last_event], "event %d after %d",
		 (int)ev, (int)h->last_event);
	fz_trace("event %d", (int)ev);
	h->last_event = ev;
	h->in_event = true;
	if (ev == VBACK_VHU_IDLE && h->serve_on_idle) {
		int sv[2];

		if (h->fe >= 0)
			close(h->fe);
		h->fe = -1;
		FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv) == 0,
			 "%s", "socketpair");
		/* CONNECTED is reported after this callback returns. */
		FZ_CHECK(vback_vhu_serve_fd(h->vhu, sv[1]) == 0, "%s",
			 "serve from the IDLE callback");
		h->fe = sv[0];
	}
	h->in_event = false;
}

/*
 * Open fds of the process, its /proc/self/fd listing included. The
 * listing stays open across inputs (opened before the first count, so
 * every count includes it): re-reading it costs two system calls, opening
 * it five.
 */
static unsigned int count_fds(void)
{
	static int dir = -1;
	char buf[4096];
	unsigned int n = 0;
	ssize_t got;

	if (dir < 0)
		dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FZ_CHECK(dir >= 0 && lseek(dir, 0, SEEK_SET) == 0, "%s",
		 "/proc/self/fd");
	while ((got = getdents64(dir, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < got;
		     off += ((struct dirent64 *)(buf + off))->d_reclen)
			n++;
	FZ_CHECK(got == 0, "%s", "reading /proc/self/fd");
	return n;
}

static void region_drop(struct h *h)
{
	if (h->rmap)
		munmap(h->rmap, h->rsize);
	if (h->region >= 0)
		close(h->region);
	h->rmap = NULL;
	h->rsize = 0;
	h->region = -1;
}

/* An fd the back-end sent (GET_INFLIGHT_FD's reply): kept and mapped as
 * the front-end keeps its region; anything else closed. */
static void region_take(struct h *h, int fd)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > (1 << 24)) {
		close(fd);
		return;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return;
	}
	region_drop(h);
	h->region = fd;
	h->rmap = p;
	h->rsize = (size_t)st.st_size;
}

/* Read and drop what the back-end sent (replies, back-end messages),
 * keeping the fd of an in-flight region. */
static void drain(struct h *h)
{
	uint8_t buf[4096];

	while (h->fe >= 0) {
		union {
			char b[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		ssize_t n =
			recvmsg(h->fe, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n <= 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		     c = CMSG_NXTHDR(&mh, c)) {
			size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < nfd; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
				region_take(h, fd);
			}
		}
	}
}

/* Run the loop until nothing happens; only a round that ran something
 * can have sent more, so only then is the socket read again. */
static void pump(struct h *h)
{
	for (int i = 0; i < 64 && vback_loop_run_once(h->loop, 0) > 0; i++)
		drain(h);
	drain(h);
}

/* Send bytes with @nfds fds attached; errors are fine (peer gone). */
static void send_raw(struct h *h, const void *buf, size_t len, const int *fds,
		     unsigned int nfds)
{
	char ctl[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS + sizeof(int) * 4)];
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct msghdr mh = { 0 };

	if (h->fe < 0 || !len)
		return;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds) {
		struct cmsghdr *c;

		memset(ctl, 0, sizeof(ctl));
		mh.msg_control = ctl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(h->fe, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return;
}

static void send_msg(struct h *h, uint32_t req, const void *payload,
		     uint32_t size, const int *fds, unsigned int nfds)
{
	uint8_t buf[12 + sizeof(struct vhu_config)];
	struct vhu_hdr hdr = { req, VHU_VERSION, size };

	memcpy(buf, &hdr, 12);
	if (size)
		memcpy(buf + 12, payload, size);
	send_raw(h, buf, 12 + size, fds, nfds);
	pump(h);
}

/* An fd of the kind the input picks (the caller closes fresh ones). */
static int pick_fd(struct h *h, uint8_t k, int *fresh)
{
	*fresh = -1;
	switch (k % 4) {
	case 0:
		return h->memfd;
	case 1:
		return h->kick[(k >> 2) % NQ];
	case 2:
		return h->call[(k >> 2) % NQ];
	default:
		*fresh = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		return *fresh;
	}
}

static const uint32_t requests[] = {
	VHU_GET_FEATURES,
	VHU_SET_FEATURES,
	VHU_SET_OWNER,
	VHU_RESET_OWNER,
	VHU_SET_MEM_TABLE,
	VHU_SET_LOG_BASE,
	VHU_SET_LOG_FD,
	VHU_SET_VRING_NUM,
	VHU_SET_VRING_ADDR,
	VHU_SET_VRING_BASE,
	VHU_GET_VRING_BASE,
	VHU_SET_VRING_KICK,
	VHU_SET_VRING_CALL,
	VHU_SET_VRING_ERR,
	VHU_GET_PROTOCOL_FEATURES,
	VHU_SET_PROTOCOL_FEATURES,
	VHU_GET_QUEUE_NUM,
	VHU_SET_VRING_ENABLE,
	VHU_SET_BACKEND_REQ_FD,
	VHU_GET_CONFIG,
	VHU_SET_CONFIG,
	VHU_RESET_DEVICE,
	VHU_GET_INFLIGHT_FD,
	VHU_SET_INFLIGHT_FD,
};

/* Any message: request, flags, sizes and fds as the input says. */
static void raw_message(struct h *h, struct fz *f)
{
	uint8_t buf[12 + 300];
	uint8_t k = fz_u8(f), nf = fz_u8(f);
	struct vhu_hdr hdr;
	size_t actual = fz_u16(f) % 300;
	int fds[4], fresh[4];
	unsigned int nfds = nf % 5;

	hdr.request =
		(k & 0x80) ? fz_u32(f) : requests[k % (sizeof(requests) / 4)];
	hdr.flags = (k & 0x40) ? fz_u32(f)
			       : VHU_VERSION |
					 ((k & 0x20) ? VHU_FLAG_NEED_REPLY : 0);
	/* Declared size: usually the actual one. */
	hdr.size = (nf & 0x80) ? fz_u32(f) : (uint32_t)actual;
	memcpy(buf, &hdr, 12);
	fz_bytes(f, buf + 12, actual);
	for (unsigned int i = 0; i < nfds; i++)
		fds[i] = pick_fd(h, fz_u8(f), &fresh[i]);
	send_raw(h, buf, 12 + actual, fds, nfds);
	for (unsigned int i = 0; i < nfds; i++)
		if (fresh[i] >= 0)
			close(fresh[i]);
	pump(h);
}

/*
 * The front-end is gone and every request has completed: the back-end must
 * come to rest on IDLE. pump() stops when a round runs nothing; once (in
 * 2.2 M runs of a loaded machine, not reproducible on replay) that left
 * the last connection's hang-up unseen. So wait for it a while (100 ms of
 * loop time, 1 ms at a time) before calling it broken, and say how the
 * back-end stood: a hang-up that comes late is traced, one that never
 * comes is a finding, with the state to tell why.
 */
static void settle(struct h *h)
{
	struct vback_vhu_stats st;
	int waits = 0;

	while (h->last_event != VBACK_VHU_IDLE && waits < 100) {
		vback_loop_run_once(h->loop, 1);
		pump(h);
		waits++;
	}
	if (waits)
		fz_trace("settled on event %d after %d waits",
			 (int)h->last_event, waits);
	vback_vhu_get_stats(h->vhu, &st);
	FZ_CHECK(h->last_event == VBACK_VHU_IDLE,
		 "ended on event %d, not IDLE (connected %d, draining %d, "
		 "%llu connections, %llu messages, %llu bad, %u IO held)",
		 (int)h->last_event, (int)vback_vhu_connected(h->vhu),
		 (int)vback_vhu_draining(h->vhu),
		 (unsigned long long)st.connections,
		 (unsigned long long)st.messages,
		 (unsigned long long)st.bad_messages, tio_pending(h->tio));
}

static uint64_t u64_reply(struct h *h, uint32_t req)
{
	uint8_t buf[20];
	uint64_t v = 0;
	int ran;

	if (h->fe < 0)
		return 0;
	send_raw(h, &(struct vhu_hdr){ req, VHU_VERSION, 0 }, 12, NULL, 0);
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(h->fe, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 20) {
			memcpy(&v, buf + 12, 8);
			break;
		}
		if (n == 0)
			break;
		ran = vback_loop_run_once(h->loop, 0);
		/* Nothing read and nothing ran: no reply is coming (a parked
		 * back-end reads no message until its IO completes). */
		if (ran < 0 || (ran == 0 && n < 0))
			break;
	}
	return v;
}

/* The usual start-up of a front-end, with ring addresses from the input. */
static void smart_setup(struct h *h, struct fz *f)
{
	struct vhu_mem mt = { 0 };
	uint64_t feat = u64_reply(h, VHU_GET_FEATURES);
	uint64_t want = fz_u64(f);
	uint64_t pf;

	send_msg(h, VHU_SET_OWNER, NULL, 0, NULL, 0);
	if (!(want & 1))
		want &= feat;
	send_msg(h, VHU_SET_FEATURES, &want, 8, NULL, 0);
	if (want & (1ull << VHU_F_PROTOCOL_FEATURES)) {
		pf = u64_reply(h, VHU_GET_PROTOCOL_FEATURES) & fz_u64(f);
		send_msg(h, VHU_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0);
	}
	mt.nregions = 1;
	mt.regions[0].gpa = 0;
	mt.regions[0].size = MEM_SIZE;
	mt.regions[0].uaddr = UADDR;
	mt.regions[0].mmap_offset = 0;
	send_msg(h, VHU_SET_MEM_TABLE, &mt,
		 (uint32_t)(8 + sizeof(struct vhu_region)), &h->memfd, 1);
	for (unsigned int q = 0; q < NQ; q++) {
		struct vhu_state st = { q, 0 };
		struct vhu_addr a = { 0 };
		uint8_t b = fz_u8(f);
		uint64_t fdq;

		h->size[q] = (uint16_t)(1u << (b % 5));
		/* 16-aligned desc, then avail, then used, in one page. */
		h->desc[q] = 0x1000ull * (1 + (fz_u8(f) % 12));
		h->avail[q] = h->desc[q] + 16ull * h->size[q];
		h->used[q] = (h->avail[q] + 6 + 2ull * h->size[q] + 3) & ~3ull;
		h->avail_idx[q] = 0;
		memset(h->mem + h->used[q], 0, 6 + 8ull * h->size[q]);
		st.num = h->size[q];
		send_msg(h, VHU_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
		a.index = q;
		a.desc = UADDR + h->desc[q];
		a.avail = UADDR + h->avail[q];
		a.used = UADDR + h->used[q];
		send_msg(h, VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
		st.num = 0;
		send_msg(h, VHU_SET_VRING_BASE, &st, sizeof(st), NULL, 0);
		fdq = q;
		send_msg(h, VHU_SET_VRING_CALL, &fdq, 8, &h->call[q], 1);
		send_msg(h, VHU_SET_VRING_KICK, &fdq, 8, &h->kick[q], 1);
		st.num = 1;
		send_msg(h, VHU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0);
	}
}

/* A memory table of 1..9 regions, each over the memfd, with fields near
 * the edges (empty, wrapping, overlapping, past the end of the file). */
static void mem_table(struct h *h, struct fz *f)
{
	static const uint64_t picks[] = {
		0,
		1,
		0x1000,
		MEM_SIZE / 2,
		MEM_SIZE - 1,
		MEM_SIZE,
		MEM_SIZE + 0x1000,
		UINT64_MAX - 0xfff,
	};
	struct vhu_mem mt = { 0 };
	int fds[VHU_MAX_REGIONS + 1];
	unsigned int n = 1 + fz_u8(f) % (VHU_MAX_REGIONS + 1);
	unsigned int stored = n < VHU_MAX_REGIONS ? n : VHU_MAX_REGIONS;
	uint8_t buf[12 + sizeof(mt)];
	struct vhu_hdr hdr = { VHU_SET_MEM_TABLE, VHU_VERSION, 0 };

	mt.nregions = n;
	for (unsigned int i = 0; i < stored; i++) {
		struct vhu_region *r = &mt.regions[i];
		uint8_t k = fz_u8(f), j = fz_u8(f);

		r->gpa = (k & 1) ? picks[j % 8] : 0x10000ull * i;
		r->size = (k & 2) ? picks[(j >> 3) % 8] : MEM_SIZE / 4;
		r->uaddr =
			(k & 4) ? UADDR + picks[j % 8] : UADDR + 0x10000ull * i;
		r->mmap_offset = (k & 8) ? picks[(j >> 3) % 8]
					 : (MEM_SIZE / 4) * (i % 4);
	}
	for (unsigned int i = 0; i < n; i++)
		fds[i] = h->memfd;
	hdr.size = (uint32_t)(8 + stored * sizeof(struct vhu_region));
	memcpy(buf, &hdr, 12);
	memcpy(buf + 12, &mt, hdr.size);
	send_raw(h, buf, 12 + hdr.size, fds, n);
	pump(h);
}

static void poke(struct h *h, uint64_t gpa, const void *buf, size_t len)
{
	if (gpa < MEM_SIZE && len <= MEM_SIZE - gpa)
		memcpy(h->mem + gpa, buf, len);
}

static void desc(struct h *h, unsigned int q, unsigned int i, uint64_t addr,
		 uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	poke(h, h->desc[q] + 16ull * (i & (h->size[q] - 1u)), d, 16);
}

/* A request on ring @q, then a kick. Guest addresses mostly in range. */
static void request(struct h *h, struct fz *f)
{
	unsigned int q = fz_u8(f) % NQ;
	uint8_t shape = fz_u8(f);
	uint32_t type = (shape & 0x80) ? fz_u32(f) : (shape & 1);
	uint16_t head = fz_u8(f) & (h->size[q] - 1u);
	uint64_t hdr = 0xe000u + (fz_u8(f) & 0xf0u);
	uint64_t data = (shape & 2) ? fz_u64(f) : 0xd000u;
	uint64_t status = 0xe800u;
	uint64_t sector = fz_u8(f) % (DISK_SIZE / 512 + 2);
	uint8_t hb[16] = { 0 };
	uint16_t idx;
	uint64_t one = 1;

	if (!h->size[q])
		return;
	memcpy(hb, &type, 4);
	memcpy(hb + 8, &sector, 8);
	poke(h, hdr, hb, 16);
	desc(h, q, head, hdr, 16, 1, (uint16_t)(head + 1));
	desc(h, q, head + 1u, data, (shape & 4) ? fz_len(f) : 512,
	     (uint16_t)(1 | (type == 0 ? 2 : 0)), (uint16_t)(head + 2));
	desc(h, q, head + 2u, status, 1, 2, 0);
	poke(h, h->avail[q] + 4 + 2ull * (h->avail_idx[q] & (h->size[q] - 1u)),
	     &head, 2);
	idx = ++h->avail_idx[q];
	poke(h, h->avail[q] + 2, &idx, 2);
	if (write(h->kick[q], &one, sizeof(one)) != sizeof(one))
		return;
	pump(h);
}

static void reconnect(struct h *h)
{
	int sv[2];

	if (h->fe >= 0) {
		close(h->fe);
		h->fe = -1;
	}
	pump(h);
	if (vback_vhu_connected(h->vhu) || vback_vhu_draining(h->vhu))
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return;
	if (vback_vhu_serve_fd(h->vhu, sv[1]) < 0) {
		close(sv[0]);
		return;
	}
	h->fe = sv[0];
	pump(h);
}

/* In-flight tracking: ask for a region (the reply's fd is kept by
 * drain()), hand it or another fd back, or scribble on it as a front-end
 * could. Counts, sizes and offsets mostly plausible. */
static void inflight(struct h *h, struct fz *f)
{
	uint8_t k = fz_u8(f);
	struct vhu_inflight d = { 0 };
	int fresh = -1, fd;

	switch (k % 3) {
	case 0:
		d.num_queues = (k & 4) ? fz_u16(f) : 1 + fz_u8(f) % NQ;
		d.queue_size = (k & 8) ? fz_u16(f) : (1u << (fz_u8(f) % 6));
		h->rdesc = d;
		fz_trace("GET_INFLIGHT_FD %u x %u", d.num_queues, d.queue_size);
		send_msg(h, VHU_GET_INFLIGHT_FD, &d,
			 (k & 0x10) ? VHU_INFLIGHT_PACKED : sizeof(d), NULL, 0);
		break;
	case 1:
		d = h->rdesc;
		d.mmap_size = (k & 4) ? fz_u64(f) : h->rsize;
		d.mmap_offset = (k & 8) ? fz_u64(f) : 0;
		if (k & 0x10) {
			d.num_queues = fz_u16(f);
			d.queue_size = fz_u16(f);
		}
		fd = h->region >= 0 && !(k & 0x20)
			     ? h->region
			     : pick_fd(h, fz_u8(f), &fresh);
		fz_trace("SET_INFLIGHT_FD %llu bytes at %llu, %u x %u",
			 (unsigned long long)d.mmap_size,
			 (unsigned long long)d.mmap_offset, d.num_queues,
			 d.queue_size);
		send_msg(h, VHU_SET_INFLIGHT_FD, &d, sizeof(d), &fd, 1);
		if (fresh >= 0)
			close(fresh);
		break;
	default:
		if (h->rmap) {
			uint8_t buf[16];
			size_t n = fz_bytes(f, buf, 1 + fz_u8(f) % 16);
			size_t at = fz_u16(f) % h->rsize;

			if (n > h->rsize - at)
				n = h->rsize - at;
			memcpy(h->rmap + at, buf, n);
		}
		break;
	}
}

/* Bytes with no framing at all. */
static void unframed(struct h *h, struct fz *f)
{
	uint8_t buf[64];
	size_t n = fz_bytes(f, buf, 1 + fz_u8(f) % sizeof(buf));

	send_raw(h, buf, n, NULL, 0);
	pump(h);
}

static void step(struct h *h, struct fz *f)
{
	uint8_t op = fz_u8(f);

	switch (op % 8) {
	case 0:
	case 1:
	case 2:
		raw_message(h, f);
		break;
	case 3:
		smart_setup(h, f);
		break;
	case 4:
	case 5:
		request(h, f);
		break;
	case 6:
		if (op & 0x80)
			mem_table(h, f);
		else
			unframed(h, f);
		break;
	default:
		if (op & 0x80) { /* held IO completes (some of it) */
			tio_release(h->tio, fz_u8(f) % 4);
			pump(h);
		} else if (op & 0x40) {
			inflight(h, f);
		} else {
			reconnect(h);
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct tio_options to = { 0 };
	struct vback_blk_options bo = { 0 };
	struct vback_vhu_options vo = { 0 };
	unsigned int fds_before = count_fds();
	uint8_t cfg = fz_u8(&f);
	const struct tio_stats *st;
	struct h h;
	int sv[2];

	memset(&h, 0, sizeof(h));
	h.fe = -1;
	h.region = -1;
	h.last_event = VBACK_VHU_IDLE;
	h.serve_on_idle = cfg & 8;
	FZ_CHECK(vback_epoll_loop_create(&fz_quiet_log, &h.loop) == 0, "%s",
		 "loop");
	h.memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	FZ_CHECK(h.memfd >= 0 && ftruncate(h.memfd, MEM_SIZE) == 0, "%s",
		 "memfd");
	h.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		     h.memfd, 0);
	FZ_CHECK(h.mem != MAP_FAILED, "%s", "mmap");
	for (unsigned int q = 0; q < NQ; q++) {
		h.kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		h.call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		FZ_CHECK(h.kick[q] >= 0 && h.call[q] >= 0, "%s", "eventfd");
	}

	to.size = DISK_SIZE;
	to.read_only = cfg & 1;
	h.tio = tio_create(&to);
	FZ_CHECK(h.tio, "%s", "tio");
	tio_hold(h.tio, cfg & 4);
	memset(tio_data(h.tio), 0x3c, DISK_SIZE);
	bo.io = tio_io(h.tio);
	bo.num_queues = NQ;
	bo.queue_size = 16;
	bo.seg_max = 4;
	bo.read_only = cfg & 2;
	bo.log = &fz_quiet_log;
	FZ_CHECK(vback_blk_create(&bo, &h.blk) == 0, "%s", "blk");
	vo.dev = vback_blk_dev(h.blk);
	vo.loop = h.loop;
	vo.log = &fz_quiet_log;
	vo.event = on_event;
	vo.opaque = &h;
	FZ_CHECK(vback_vhu_create(&vo, &h.vhu) == 0, "%s", "vhost-user");
	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
		 "%s", "socketpair");
	FZ_CHECK(vback_vhu_serve_fd(h.vhu, sv[1]) == 0, "%s", "serve");
	h.fe = sv[0];

	for (unsigned int i = 0; i < MAX_OPS && !fz_empty(&f); i++)
		step(&h, &f);

	if (h.fe >= 0)
		close(h.fe);
	h.fe = -1;
	pump(&h);
	/* A parked message resumes once its IO is done, and the messages
	 * after it may start more: from now on IO completes at once. */
	tio_hold(h.tio, false);
	tio_release(h.tio, 0);
	pump(&h);
	h.serve_on_idle = false;
	if (h.fe >= 0) /* served from the last IDLE callback */
		close(h.fe);
	h.fe = -1;
	pump(&h);
	settle(&h);
	vback_vhu_destroy(h.vhu);
	FZ_CHECK(vback_dev_inflight(vback_blk_dev(h.blk)) == 0, "%s",
		 "requests left in flight");
	st = tio_stats(h.tio);
	fz_trace("end: %llu IO requests", (unsigned long long)st->submits);
	if (to.read_only || bo.read_only) {
		size_t at = fz_first_not(tio_data(h.tio), DISK_SIZE, 0x3c);

		FZ_CHECK(!st->by_op[VBACK_IO_WRITE] &&
				 !st->by_op[VBACK_IO_DISCARD] &&
				 !st->by_op[VBACK_IO_WRITE_ZEROES] &&
				 !st->by_op[VBACK_IO_SECURE_ERASE],
			 "%s", "a read-only disk got a modifying request");
		FZ_CHECK(at == DISK_SIZE, "read-only disk changed at %zu", at);
	}
	vback_blk_destroy(h.blk);
	tio_destroy(h.tio);
	for (unsigned int q = 0; q < NQ; q++) {
		close(h.kick[q]);
		close(h.call[q]);
	}
	munmap(h.mem, MEM_SIZE);
	close(h.memfd);
	region_drop(&h);
	vback_epoll_loop_destroy(h.loop);
	FZ_CHECK(count_fds() == fds_before, "%u fds open, %u before",
		 count_fds(), fds_before);
	return 0;
}
