/* SPDX-License-Identifier: MIT */
/* The vhost-user message layer: framing with fds, and validation. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "protocol.h"

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
}

static struct vhu_msg msg_of(uint32_t request, uint32_t size)
{
	struct vhu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = request;
	m.hdr.flags = VHU_VERSION;
	m.hdr.size = size;
	return m;
}

static int validate(const struct vhu_msg *m)
{
	const char *why = NULL;
	int ret = vhu_msg_validate(m, 2, &why);

	if (ret)
		assert_non_null(why);
	return ret;
}

/* Refused for this reason (what the log tells the operator), not
 * another check's. */
static void refused_because(const struct vhu_msg *m, const char *reason)
{
	const char *why = NULL;

	assert_int_equal(vhu_msg_validate(m, 2, &why), -EBADMSG);
	assert_non_null(why);
	assert_string_equal(why, reason);
}

static void test_validate_sizes(void **state)
{
	struct vhu_msg m;

	(void)state;
	m = msg_of(VHU_GET_FEATURES, 0);
	assert_int_equal(validate(&m), 0);
	m = msg_of(VHU_GET_FEATURES, 8);
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(VHU_SET_FEATURES, 8);
	assert_int_equal(validate(&m), 0);
	m = msg_of(VHU_SET_FEATURES, 4);
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(VHU_SET_VRING_NUM, sizeof(struct vhu_state));
	assert_int_equal(validate(&m), 0);
	m = msg_of(VHU_SET_VRING_NUM, sizeof(struct vhu_state) + 1);
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(VHU_SET_VRING_ADDR, sizeof(struct vhu_addr));
	assert_int_equal(validate(&m), 0);
	m = msg_of(VHU_SET_VRING_ADDR, 32);
	assert_int_equal(validate(&m), -EBADMSG);
}

static void test_validate_header(void **state)
{
	struct vhu_msg m;

	(void)state;
	m = msg_of(VHU_GET_FEATURES, 0);
	m.hdr.flags = 0x2; /* version 2 */
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(VHU_GET_FEATURES, 0);
	m.hdr.flags |= VHU_FLAG_REPLY;
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(VHU_GET_FEATURES, 0);
	m.hdr.flags |= VHU_FLAG_NEED_REPLY;
	assert_int_equal(validate(&m), 0);
	/* Unknown and unsupported requests (log base, in-band kick). */
	m = msg_of(0, 0);
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(VHU_SET_LOG_BASE, 8);
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(35, 8);
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(0xffffffffu, 0);
	assert_int_equal(validate(&m), -EBADMSG);
	assert_string_equal(vhu_request_name(VHU_GET_VRING_BASE),
			    "GET_VRING_BASE");
	assert_string_equal(vhu_request_name(1000), "?");
	assert_true(vhu_request_has_reply(VHU_GET_CONFIG));
	assert_false(vhu_request_has_reply(VHU_SET_CONFIG));
}

static void test_validate_indexes(void **state)
{
	struct vhu_msg m;

	(void)state;
	m = msg_of(VHU_SET_VRING_BASE, sizeof(struct vhu_state));
	m.payload.state.index = 1;
	assert_int_equal(validate(&m), 0);
	m.payload.state.index = 2;
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(VHU_SET_VRING_ADDR, sizeof(struct vhu_addr));
	m.payload.addr.index = 7;
	assert_int_equal(validate(&m), -EBADMSG);
	/* vring fd requests: index in bits 0-7, bit 8 "no fd". */
	m = msg_of(VHU_SET_VRING_CALL, 8);
	m.payload.u64 = 1 | VHU_VRING_NOFD;
	assert_int_equal(validate(&m), 0);
	m.payload.u64 = 2 | VHU_VRING_NOFD;
	assert_int_equal(validate(&m), -EBADMSG);
	m.payload.u64 = 1 | VHU_VRING_NOFD | (1u << 9);
	assert_int_equal(validate(&m), -EBADMSG);
}

static void test_validate_fds(void **state)
{
	struct vhu_msg m;

	(void)state;
	m = msg_of(VHU_SET_VRING_KICK, 8);
	m.payload.u64 = 0;
	m.nfds = 0;
	assert_int_equal(validate(&m), -EBADMSG); /* fd expected */
	m.nfds = 1;
	assert_int_equal(validate(&m), 0);
	m.payload.u64 = VHU_VRING_NOFD;
	assert_int_equal(validate(&m), -EBADMSG); /* "no fd" but one came */
	m.nfds = 0;
	assert_int_equal(validate(&m), 0);
	m = msg_of(VHU_GET_FEATURES, 0);
	m.nfds = 1;
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(VHU_SET_BACKEND_REQ_FD, 0);
	assert_int_equal(validate(&m), -EBADMSG);
	m.nfds = 1;
	assert_int_equal(validate(&m), 0);
}

static void test_validate_mem_table(void **state)
{
	struct vhu_msg m;
	uint32_t hdr = offsetof(struct vhu_mem, regions);

	(void)state;
	m = msg_of(VHU_SET_MEM_TABLE, hdr + 2 * sizeof(struct vhu_region));
	m.payload.mem.nregions = 2;
	m.nfds = 2;
	assert_int_equal(validate(&m), 0);
	m.nfds = 1;
	assert_int_equal(validate(&m), -EBADMSG);
	m.nfds = 2;
	m.payload.mem.nregions = 3; /* size says 2 */
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(VHU_SET_MEM_TABLE, hdr + 9 * sizeof(struct vhu_region));
	m.hdr.size = sizeof(struct vhu_mem); /* fits the buffer... */
	m.payload.mem.nregions = 9;	     /* ...but too many regions */
	m.nfds = 8;
	refused_because(&m, "more than 8 memory regions");
	m = msg_of(VHU_SET_MEM_TABLE, 4);
	assert_int_equal(validate(&m), -EBADMSG);
}

static void test_validate_config(void **state)
{
	struct vhu_msg m;

	(void)state;
	m = msg_of(VHU_GET_CONFIG, VHU_CONFIG_HDR + 60);
	m.payload.config.size = 60;
	assert_int_equal(validate(&m), 0);
	m.payload.config.size = 61;
	refused_because(&m, "config payload size does not match");
	m = msg_of(VHU_SET_CONFIG, VHU_CONFIG_HDR + VHU_MAX_CONFIG);
	m.payload.config.size = VHU_MAX_CONFIG;
	assert_int_equal(validate(&m), 0);
	m.payload.config.size = 0xffffffffu; /* wraps if added carelessly */
	assert_int_equal(validate(&m), -EBADMSG);
	m = msg_of(VHU_SET_CONFIG, 8);
	refused_because(&m, "config payload shorter than its header");
}

/* Write raw bytes, optionally with fds. */
static void raw_send(int fd, const void *buf, size_t len, const int *fds,
		     unsigned int nfds)
{
	union {
		char b[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf,
			     .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(&ctrl, 0, sizeof(ctrl));
		mh.msg_control = ctrl.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	assert_int_equal(sendmsg(fd, &mh, 0), (ssize_t)len);
}

static void test_rx_in_pieces_with_fd(void **state)
{
	struct vhu_hdr hdr = { VHU_SET_VRING_KICK, VHU_VERSION, 8 };
	uint64_t payload = 1;
	struct vhu_rx rx;
	const char *why;
	int sv[2], efd, fd;
	uint64_t v = 5;

	(void)state;
	make_pair(sv);
	efd = eventfd(0, EFD_CLOEXEC);
	vhu_rx_reset(&rx);
	assert_int_equal(vhu_rx_step(sv[0], &rx, &why), 0);
	/* Header in two pieces, the fd on the first, then the payload. */
	raw_send(sv[1], &hdr, 5, &efd, 1);
	assert_int_equal(vhu_rx_step(sv[0], &rx, &why), 0);
	raw_send(sv[1], (const char *)&hdr + 5, sizeof(hdr) - 5, NULL, 0);
	assert_int_equal(vhu_rx_step(sv[0], &rx, &why), 0);
	raw_send(sv[1], &payload, sizeof(payload), NULL, 0);
	assert_int_equal(vhu_rx_step(sv[0], &rx, &why), 1);
	assert_int_equal(rx.msg.hdr.request, VHU_SET_VRING_KICK);
	assert_int_equal(rx.msg.payload.u64, 1);
	assert_int_equal(rx.msg.nfds, 1);
	fd = vhu_msg_take_fd(&rx.msg, 0);
	assert_true(fd >= 0);
	assert_int_equal(vhu_msg_take_fd(&rx.msg, 0), -1);
	/* The received fd is the same eventfd. */
	assert_int_equal(write(fd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 5);
	close(fd);
	close(efd);
	/* End of stream. */
	vhu_rx_reset(&rx);
	close(sv[1]);
	assert_int_equal(vhu_rx_step(sv[0], &rx, &why), -ECONNRESET);
	close(sv[0]);
}

static void test_rx_stops_at_message_end(void **state)
{
	struct vhu_hdr two[2] = { { VHU_GET_FEATURES, VHU_VERSION, 0 },
				  { VHU_GET_QUEUE_NUM, VHU_VERSION, 0 } };
	struct vhu_rx rx;
	const char *why;
	int sv[2];

	(void)state;
	make_pair(sv);
	raw_send(sv[1], two, sizeof(two), NULL, 0);
	vhu_rx_reset(&rx);
	assert_int_equal(vhu_rx_step(sv[0], &rx, &why), 1);
	assert_int_equal(rx.msg.hdr.request, VHU_GET_FEATURES);
	vhu_rx_reset(&rx);
	assert_int_equal(vhu_rx_step(sv[0], &rx, &why), 1);
	assert_int_equal(rx.msg.hdr.request, VHU_GET_QUEUE_NUM);
	vhu_rx_reset(&rx);
	assert_int_equal(vhu_rx_step(sv[0], &rx, &why), 0);
	close(sv[0]);
	close(sv[1]);
}

/* The fds this process has open now. */
static unsigned int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_rx_rejects_oversize_and_fd_floods(void **state)
{
	struct vhu_hdr hdr = { VHU_SET_CONFIG, VHU_VERSION, 100000 };
	struct vhu_rx rx;
	const char *why;
	int sv[2], fds[12];
	unsigned int before;

	(void)state;
	make_pair(sv);
	raw_send(sv[1], &hdr, sizeof(hdr), NULL, 0);
	vhu_rx_reset(&rx);
	assert_int_equal(vhu_rx_step(sv[0], &rx, &why), -EBADMSG);
	assert_non_null(why);
	close(sv[0]);
	close(sv[1]);

	/* 12 fds: more than any message has; all are closed again. */
	make_pair(sv);
	for (int i = 0; i < 12; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	hdr.size = 0;
	hdr.request = VHU_SET_MEM_TABLE;
	raw_send(sv[1], &hdr, sizeof(hdr), fds, 12);
	before = open_fds();
	vhu_rx_reset(&rx);
	assert_int_equal(vhu_rx_step(sv[0], &rx, &why), -EBADMSG);
	assert_int_equal(rx.msg.nfds, 0);
	/* The copies we received are closed. Not checked under qemu-user:
	 * its recvmsg() takes twice the control buffer it is given and
	 * keeps the fds it then cannot hand over (2 here). */
	if (!getenv("VBACK_TEST_EMULATED"))
		assert_int_equal(open_fds(), before);
	for (int i = 0; i < 12; i++)
		close(fds[i]);
	close(sv[0]);
	close(sv[1]);
}

static void test_send_reply(void **state)
{
	uint64_t v = 0x1234, got;
	struct vhu_hdr hdr;
	int sv[2], efd = eventfd(0, EFD_CLOEXEC);
	struct vhu_rx rx;
	const char *why;

	(void)state;
	make_pair(sv);
	assert_int_equal(vhu_send(sv[0], VHU_GET_FEATURES,
				  VHU_VERSION | VHU_FLAG_REPLY, &v, sizeof(v),
				  NULL, 0),
			 0);
	assert_int_equal(read(sv[1], &hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(hdr.request, VHU_GET_FEATURES);
	assert_int_equal(hdr.flags, VHU_VERSION | VHU_FLAG_REPLY);
	assert_int_equal(hdr.size, 8);
	assert_int_equal(read(sv[1], &got, sizeof(got)), sizeof(got));
	assert_int_equal(got, 0x1234);
	/* With an fd, read back through the receive path. */
	assert_int_equal(vhu_send(sv[0], VHU_SET_BACKEND_REQ_FD, VHU_VERSION,
				  NULL, 0, &efd, 1),
			 0);
	vhu_rx_reset(&rx);
	assert_int_equal(vhu_rx_step(sv[1], &rx, &why), 1);
	assert_int_equal(rx.msg.nfds, 1);
	vhu_msg_close_fds(&rx.msg);
	assert_int_equal(rx.msg.nfds, 0);
	/* Peer gone: an error, not SIGPIPE. */
	close(sv[1]);
	assert_true(vhu_send(sv[0], VHU_GET_FEATURES, VHU_VERSION, NULL, 0,
			     NULL, 0) < 0);
	close(sv[0]);
	close(efd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_sizes),
		cmocka_unit_test(test_validate_header),
		cmocka_unit_test(test_validate_indexes),
		cmocka_unit_test(test_validate_fds),
		cmocka_unit_test(test_validate_mem_table),
		cmocka_unit_test(test_validate_config),
		cmocka_unit_test(test_rx_in_pieces_with_fd),
		cmocka_unit_test(test_rx_stops_at_message_end),
		cmocka_unit_test(test_rx_rejects_oversize_and_fd_floods),
		cmocka_unit_test(test_send_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
