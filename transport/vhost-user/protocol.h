/* SPDX-License-Identifier: MIT */
/*
 * vhost-user wire format (QEMU docs/interop/vhost-user.rst) and the
 * message layer: framing over a unix stream socket with SCM_RIGHTS fds,
 * and validation of every message before the transport looks at it.
 * Private to transport/vhost-user (and its unit tests).
 */
#ifndef VBACK_VHU_PROTOCOL_H
#define VBACK_VHU_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header flags: version in the low two bits, then reply and need_reply. */
#define VHU_VERSION	    0x1u
#define VHU_VERSION_MASK    0x3u
#define VHU_FLAG_REPLY	    (1u << 2)
#define VHU_FLAG_NEED_REPLY (1u << 3)

/* Feature bit 30 (a reserved virtio bit) announces protocol features. */
#define VHU_F_PROTOCOL_FEATURES 30

/* Protocol feature bits we implement. */
#define VHU_PROTOCOL_F_MQ	      0
#define VHU_PROTOCOL_F_REPLY_ACK      3
#define VHU_PROTOCOL_F_BACKEND_REQ    5
#define VHU_PROTOCOL_F_CONFIG	      9
#define VHU_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VHU_PROTOCOL_F_RESET_DEVICE   13

/* Front-end requests. */
enum vhu_request {
	VHU_GET_FEATURES = 1,
	VHU_SET_FEATURES = 2,
	VHU_SET_OWNER = 3,
	VHU_RESET_OWNER = 4,
	VHU_SET_MEM_TABLE = 5,
	VHU_SET_LOG_BASE = 6,
	VHU_SET_LOG_FD = 7,
	VHU_SET_VRING_NUM = 8,
	VHU_SET_VRING_ADDR = 9,
	VHU_SET_VRING_BASE = 10,
	VHU_GET_VRING_BASE = 11,
	VHU_SET_VRING_KICK = 12,
	VHU_SET_VRING_CALL = 13,
	VHU_SET_VRING_ERR = 14,
	VHU_GET_PROTOCOL_FEATURES = 15,
	VHU_SET_PROTOCOL_FEATURES = 16,
	VHU_GET_QUEUE_NUM = 17,
	VHU_SET_VRING_ENABLE = 18,
	VHU_SET_BACKEND_REQ_FD = 21,
	VHU_GET_CONFIG = 24,
	VHU_SET_CONFIG = 25,
	VHU_GET_INFLIGHT_FD = 31,
	VHU_SET_INFLIGHT_FD = 32,
	VHU_RESET_DEVICE = 34,
};

/* Back-end requests (on the back-end channel). */
#define VHU_BACKEND_CONFIG_CHANGE_MSG 2u

/* SET_VRING_KICK/CALL/ERR payload: queue index and "no fd" flag. */
#define VHU_VRING_IDX_MASK 0xffu
#define VHU_VRING_NOFD	   (1u << 8)

/* SET_VRING_ADDR flags: bit 0 asks for used-ring logging (migration). */
#define VHU_VRING_F_LOG (1u << 0)

#define VHU_MAX_REGIONS 8u
#define VHU_MAX_FDS	8u
#define VHU_MAX_CONFIG	256u
#define VHU_CONFIG_HDR	12u

struct vhu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes that follow */
};

struct vhu_state {
	uint32_t index;
	uint32_t num;
};

/* Like the kernel's struct vhost_vring_addr: user addresses of the rings. */
struct vhu_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vhu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vhu_mem {
	uint32_t nregions;
	uint32_t padding;
	struct vhu_region regions[VHU_MAX_REGIONS];
};

struct vhu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags; /* 0: front-end write, 1: migration */
	uint8_t data[VHU_MAX_CONFIG];
};

/* The inflight description of GET/SET_INFLIGHT_FD. QEMU sends the C
 * struct with its tail padding (24 bytes); a packed one (20) is taken
 * too, and answered in the size it came in. */
struct vhu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};

#define VHU_INFLIGHT_PACKED 20u

#define VHU_MAX_PAYLOAD (sizeof(struct vhu_config))

/* One message as received: header, payload and the fds that came with it.
 * The payload union is aligned, unlike on the wire where it follows the
 * 12-byte header; framing reads the two parts separately. */
struct vhu_msg {
	struct vhu_hdr hdr;
	union {
		uint64_t u64;
		struct vhu_state state;
		struct vhu_addr addr;
		struct vhu_mem mem;
		struct vhu_config config;
		struct vhu_inflight inflight;
		uint8_t raw[VHU_MAX_PAYLOAD];
	} payload;
	int fds[VHU_MAX_FDS];
	unsigned int nfds;
};

/* Receive state: a message may arrive in pieces on a non-blocking socket. */
struct vhu_rx {
	struct vhu_msg msg;
	size_t got; /* header + payload bytes received so far */
};

/** Start a fresh message (fds of the previous one must be consumed). */
void vhu_rx_reset(struct vhu_rx *rx);

/**
 * Read from @fd without blocking, at most up to the end of the current
 * message. Returns 1 when rx->msg is complete, 0 when more bytes are
 * needed (nothing more to read now), -ECONNRESET at end of stream,
 * -EBADMSG on a framing error (@why says which), or another -errno.
 * On any error the fds received so far are closed.
 */
int vhu_rx_step(int fd, struct vhu_rx *rx, const char **why);

/** Close the fds still held by @msg (those no handler took). */
void vhu_msg_close_fds(struct vhu_msg *msg);

/** Take fd @i out of @msg (the caller owns it afterwards); -1 if none. */
int vhu_msg_take_fd(struct vhu_msg *msg, unsigned int i);

/**
 * Check a complete message against the rules of its request type:
 * version, payload size, number of fds, queue index below @nqueues, and
 * the shape of variable payloads (region count, config size). Returns 0
 * or -EBADMSG with a static explanation in *@why. Unknown requests fail.
 */
int vhu_msg_validate(const struct vhu_msg *msg, unsigned int nqueues,
		     const char **why);

/** Name of a request for log lines ("?" when unknown). */
const char *vhu_request_name(uint32_t request);

/** True when the request type always carries a reply payload. */
bool vhu_request_has_reply(uint32_t request);

/**
 * Send one message (header + @size payload bytes, optional fds) without
 * blocking and without SIGPIPE. A partial send is an error: messages are
 * small and the peer is expected to read them. 0 or -errno.
 */
int vhu_send(int fd, uint32_t request, uint32_t flags, const void *payload,
	     uint32_t size, const int *fds, unsigned int nfds);

#endif /* VBACK_VHU_PROTOCOL_H */
