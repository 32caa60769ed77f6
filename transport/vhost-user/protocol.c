/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "protocol.h"

_Static_assert(sizeof(struct vhu_hdr) == 12, "header is 12 bytes on the wire");
_Static_assert(sizeof(struct vhu_addr) == 40, "vring address payload");
_Static_assert(sizeof(struct vhu_region) == 32, "memory region payload");
_Static_assert(offsetof(struct vhu_mem, regions) == 8, "memory table header");
_Static_assert(offsetof(struct vhu_config, data) == VHU_CONFIG_HDR,
	       "config header");
_Static_assert(sizeof(struct vhu_inflight) == 24 &&
		       offsetof(struct vhu_inflight, queue_size) + 2 ==
			       VHU_INFLIGHT_PACKED,
	       "inflight description");

void vhu_rx_reset(struct vhu_rx *rx)
{
	rx->got = 0;
	rx->msg.nfds = 0;
	memset(&rx->msg.hdr, 0, sizeof(rx->msg.hdr));
}

void vhu_msg_close_fds(struct vhu_msg *msg)
{
	for (unsigned int i = 0; i < msg->nfds; i++) {
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
		msg->fds[i] = -1;
	}
	msg->nfds = 0;
}

int vhu_msg_take_fd(struct vhu_msg *msg, unsigned int i)
{
	int fd;

	if (i >= msg->nfds)
		return -1;
	fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}

/* Collect SCM_RIGHTS fds; anything beyond VHU_MAX_FDS is closed and the
 * message refused, so a peer cannot make us leak descriptors. */
static int collect_fds(struct msghdr *mh, struct vhu_msg *msg)
{
	int ret = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;
		const unsigned char *data;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		data = CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, data + i * sizeof(int), sizeof(int));
			if (msg->nfds < VHU_MAX_FDS)
				msg->fds[msg->nfds++] = fd;
			else {
				close(fd);
				ret = -EBADMSG;
			}
		}
	}
	return ret;
}

int vhu_rx_step(int fd, struct vhu_rx *rx, const char **why)
{
	const size_t hdr_len = sizeof(struct vhu_hdr);
	/* Room for one fd more than any request carries: a flood is then
	 * seen by counting, not only through MSG_CTRUNC (which qemu-user
	 * does not set when it truncates). */
	union {
		char buf[CMSG_SPACE((VHU_MAX_FDS + 1) * sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	struct vhu_msg *msg = &rx->msg;
	struct msghdr mh = { 0 };
	struct iovec iov;
	ssize_t n;
	int ret;

	*why = NULL;
	for (;;) {
		size_t want;

		if (rx->got < hdr_len) {
			iov.iov_base = (char *)&msg->hdr + rx->got;
			want = hdr_len - rx->got;
		} else {
			if (msg->hdr.size > VHU_MAX_PAYLOAD) {
				*why = "payload larger than any request";
				ret = -EBADMSG;
				goto fail;
			}
			want = hdr_len + msg->hdr.size - rx->got;
			if (want == 0)
				return 1;
			iov.iov_base = msg->payload.raw + (rx->got - hdr_len);
		}
		iov.iov_len = want;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctrl.buf;
		mh.msg_controllen = sizeof(ctrl.buf);
		mh.msg_flags = 0;
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			ret = -errno;
			goto fail;
		}
		if (n == 0) {
			ret = -ECONNRESET;
			goto fail;
		}
		ret = collect_fds(&mh, msg);
		if (ret < 0 || (mh.msg_flags & MSG_CTRUNC)) {
			*why = "more fds than any request carries";
			ret = -EBADMSG;
			goto fail;
		}
		rx->got += (size_t)n;
	}
fail:
	vhu_msg_close_fds(msg);
	return ret;
}

int vhu_send(int fd, uint32_t request, uint32_t flags, const void *payload,
	     uint32_t size, const int *fds, unsigned int nfds)
{
	struct vhu_hdr hdr = { .request = request,
			       .flags = flags,
			       .size = size };
	union {
		char buf[CMSG_SPACE(VHU_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)(uintptr_t)payload, .iov_len = size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	ssize_t n;

	if (nfds > VHU_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctrl, 0, sizeof(ctrl));
		mh.msg_control = ctrl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do {
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(hdr) + size)
		return -EIO;
	return 0;
}

/* Payload shapes. */
enum shape { NONE, U64, STATE, ADDR, MEM, CONFIG, INFLIGHT };
/* What fds a request carries. */
enum fds { NO_FD, ONE_FD, VRING_FD, REGION_FDS };

struct rule {
	const char *name;
	enum shape shape;
	enum fds fds;
	bool reply; /* always answered with a payload */
};

static const struct rule *rule_of(uint32_t request)
{
	static const struct rule rules[] = {
		[VHU_GET_FEATURES] = { "GET_FEATURES", NONE, NO_FD, true },
		[VHU_SET_FEATURES] = { "SET_FEATURES", U64, NO_FD, false },
		[VHU_SET_OWNER] = { "SET_OWNER", NONE, NO_FD, false },
		[VHU_RESET_OWNER] = { "RESET_OWNER", NONE, NO_FD, false },
		[VHU_SET_MEM_TABLE] = { "SET_MEM_TABLE", MEM, REGION_FDS,
					false },
		[VHU_SET_VRING_NUM] = { "SET_VRING_NUM", STATE, NO_FD, false },
		[VHU_SET_VRING_ADDR] = { "SET_VRING_ADDR", ADDR, NO_FD, false },
		[VHU_SET_VRING_BASE] = { "SET_VRING_BASE", STATE, NO_FD,
					 false },
		[VHU_GET_VRING_BASE] = { "GET_VRING_BASE", STATE, NO_FD, true },
		[VHU_SET_VRING_KICK] = { "SET_VRING_KICK", U64, VRING_FD,
					 false },
		[VHU_SET_VRING_CALL] = { "SET_VRING_CALL", U64, VRING_FD,
					 false },
		[VHU_SET_VRING_ERR] = { "SET_VRING_ERR", U64, VRING_FD, false },
		[VHU_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", NONE,
						NO_FD, true },
		[VHU_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", U64,
						NO_FD, false },
		[VHU_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", NONE, NO_FD, true },
		[VHU_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", STATE, NO_FD,
					   false },
		[VHU_SET_BACKEND_REQ_FD] = { "SET_BACKEND_REQ_FD", NONE, ONE_FD,
					     false },
		[VHU_GET_CONFIG] = { "GET_CONFIG", CONFIG, NO_FD, true },
		[VHU_SET_CONFIG] = { "SET_CONFIG", CONFIG, NO_FD, false },
		[VHU_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", INFLIGHT, NO_FD,
					  true },
		[VHU_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", INFLIGHT, ONE_FD,
					  false },
		[VHU_RESET_DEVICE] = { "RESET_DEVICE", NONE, NO_FD, false },
	};

	if (request >= sizeof(rules) / sizeof(rules[0]) || !rules[request].name)
		return NULL;
	return &rules[request];
}

const char *vhu_request_name(uint32_t request)
{
	const struct rule *r = rule_of(request);

	return r ? r->name : "?";
}

bool vhu_request_has_reply(uint32_t request)
{
	const struct rule *r = rule_of(request);

	return r && r->reply;
}

static int check_shape(const struct vhu_msg *msg, const struct rule *r,
		       const char **why)
{
	uint32_t size = msg->hdr.size;

	switch (r->shape) {
	case NONE:
		/* Requests without payload: tolerate none, nothing else. */
		if (size != 0) {
			*why = "payload on a request that has none";
			return -EBADMSG;
		}
		return 0;
	case U64:
		if (size != sizeof(uint64_t)) {
			*why = "u64 payload of the wrong size";
			return -EBADMSG;
		}
		return 0;
	case STATE:
		if (size != sizeof(struct vhu_state)) {
			*why = "vring state payload of the wrong size";
			return -EBADMSG;
		}
		return 0;
	case ADDR:
		if (size != sizeof(struct vhu_addr)) {
			*why = "vring address payload of the wrong size";
			return -EBADMSG;
		}
		return 0;
	case MEM:
		if (size < offsetof(struct vhu_mem, regions)) {
			*why = "memory table shorter than its header";
			return -EBADMSG;
		}
		if (msg->payload.mem.nregions > VHU_MAX_REGIONS) {
			*why = "more than 8 memory regions";
			return -EBADMSG;
		}
		if (size != offsetof(struct vhu_mem, regions) +
				    msg->payload.mem.nregions *
					    sizeof(struct vhu_region)) {
			*why = "memory table size does not match its regions";
			return -EBADMSG;
		}
		return 0;
	case CONFIG:
		if (size < VHU_CONFIG_HDR) {
			*why = "config payload shorter than its header";
			return -EBADMSG;
		}
		if (msg->payload.config.size > VHU_MAX_CONFIG ||
		    size != VHU_CONFIG_HDR + msg->payload.config.size) {
			*why = "config payload size does not match";
			return -EBADMSG;
		}
		return 0;
	case INFLIGHT:
		if (size != sizeof(struct vhu_inflight) &&
		    size != VHU_INFLIGHT_PACKED) {
			*why = "inflight description of the wrong size";
			return -EBADMSG;
		}
		return 0;
	}
	*why = "internal: unknown shape";
	return -EBADMSG;
}

static int check_fds(const struct vhu_msg *msg, const struct rule *r,
		     const char **why)
{
	unsigned int want = 0;

	switch (r->fds) {
	case NO_FD:
		want = 0;
		break;
	case ONE_FD:
		want = 1;
		break;
	case VRING_FD:
		want = (msg->payload.u64 & VHU_VRING_NOFD) ? 0 : 1;
		break;
	case REGION_FDS:
		want = msg->payload.mem.nregions;
		break;
	}
	if (msg->nfds != want) {
		*why = "wrong number of fds for the request";
		return -EBADMSG;
	}
	return 0;
}

static int check_index(const struct vhu_msg *msg, unsigned int nqueues,
		       const char **why)
{
	uint64_t index;

	switch (msg->hdr.request) {
	case VHU_SET_VRING_NUM:
	case VHU_SET_VRING_BASE:
	case VHU_GET_VRING_BASE:
	case VHU_SET_VRING_ENABLE:
		index = msg->payload.state.index;
		break;
	case VHU_SET_VRING_ADDR:
		index = msg->payload.addr.index;
		break;
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR:
		if (msg->payload.u64 &
		    ~(uint64_t)(VHU_VRING_IDX_MASK | VHU_VRING_NOFD)) {
			*why = "unknown bits in a vring fd payload";
			return -EBADMSG;
		}
		index = msg->payload.u64 & VHU_VRING_IDX_MASK;
		break;
	default:
		return 0;
	}
	if (index >= nqueues) {
		*why = "queue index out of range";
		return -EBADMSG;
	}
	return 0;
}

int vhu_msg_validate(const struct vhu_msg *msg, unsigned int nqueues,
		     const char **why)
{
	const struct rule *r = rule_of(msg->hdr.request);
	int ret;

	*why = NULL;
	if ((msg->hdr.flags & VHU_VERSION_MASK) != VHU_VERSION) {
		*why = "unsupported protocol version";
		return -EBADMSG;
	}
	if (msg->hdr.flags & VHU_FLAG_REPLY) {
		*why = "reply flag on a request";
		return -EBADMSG;
	}
	if (!r) {
		*why = "unknown or unsupported request";
		return -EBADMSG;
	}
	ret = check_shape(msg, r, why);
	if (ret == 0)
		ret = check_fds(msg, r, why);
	if (ret == 0)
		ret = check_index(msg, nqueues, why);
	return ret;
}
