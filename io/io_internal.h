/* SPDX-License-Identifier: MIT */
/*
 * Private to libvback-io: what the posix, io_uring and memory backends share.
 * Tests include it for white-box checks (error injection, engine probing).
 */
#ifndef VBACK_IO_INTERNAL_H
#define VBACK_IO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vback/io.h>

#define IO_DEFAULT_DEPTH   128
#define IO_DEFAULT_WORKERS 4
/* Per-worker bounce buffer for O_DIRECT requests the guest did not align. */
#define IO_BOUNCE_LEN (256u * 1024u)
/* preadv/pwritev take at most IOV_MAX (1024 on Linux) vectors. */
#define IO_MAX_SEGMENTS 1024u

/* How the backends use the request's scratch words while it is in flight. */
enum {
	IO_SCR_NEXT = 0,   /* next request in a backend's list */
	IO_SCR_RESULT = 1, /* 0 or -errno, set by a worker */
	IO_SCR_DONE = 2,   /* bytes already transferred (short transfers) */
	IO_SCR_TOTAL = 3,  /* transfer length of a READ/WRITE */
};

static inline struct vback_io_req *io_req_next(const struct vback_io_req *req)
{
	return (struct vback_io_req *)req->backend[IO_SCR_NEXT];
}

static inline void io_req_set_next(struct vback_io_req *req,
				   struct vback_io_req *next)
{
	req->backend[IO_SCR_NEXT] = (uintptr_t)next;
}

static inline int io_req_result(const struct vback_io_req *req)
{
	return (int)(intptr_t)req->backend[IO_SCR_RESULT];
}

static inline void io_req_set_result(struct vback_io_req *req, int result)
{
	req->backend[IO_SCR_RESULT] = (uintptr_t)(intptr_t)result;
}

/*
 * Common checks every backend runs in submit(): known op and flags, range
 * inside the disk, block alignment, read-only. Stores the transfer length
 * in req->backend[IO_SCR_TOTAL] and zeroes IO_SCR_DONE. 0 or -errno.
 */
int io_req_check(const struct vback_io_caps *caps, struct vback_io_req *req);

/* An open file or block device and what it can do. */
struct io_disk {
	int fd;
	bool is_blk;
	bool direct;
	/* O_DIRECT: buffer address/length alignment the kernel demands. */
	uint32_t mem_align;
	struct vback_io_caps caps;
	const struct vback_log *log;
	bool owns_lock; /* the OFD lock is ours to drop (not a clone's) */
	/*
	 * The size requests are checked against, shared by every instance on
	 * this open file (the original and its clones, vback_io_clone()):
	 * @size_src points to the original's @size_now, which refresh_size()
	 * of any of them updates. Each submit copies it into caps first.
	 */
	uint64_t size_now;
	uint64_t *size_src;
};

/*
 * Open @opts->path, refuse mounted block devices and files another vback
 * holds (-EBUSY), probe the capabilities. Logs why it failed.
 */
int io_disk_open(struct io_disk *disk, const struct vback_io_options *opts);
/* Another handle on @src's open file (a clone: shares the lock and the
 * size; @src must outlive it). 0 or -errno. */
int io_disk_dup(struct io_disk *dst, const struct io_disk *src);
void io_disk_close(struct io_disk *disk);
/* The size now (another instance may have refreshed it). */
static inline void io_disk_sync_size(struct io_disk *disk)
{
	disk->caps.size_bytes =
		__atomic_load_n(disk->size_src, __ATOMIC_RELAXED);
}
/* 1 and the new size if the size changed, 0 if not, -errno. */
int io_disk_refresh_size(struct io_disk *disk, uint64_t *size_bytes);
/* True when every buffer of @req meets the O_DIRECT alignment. */
bool io_disk_iov_aligned(const struct io_disk *disk,
			 const struct vback_io_req *req);

/* Buffers a worker owns: a bounce buffer and a shared buffer of zeroes. */
struct io_buffers {
	void *bounce;
	const void *zeroes;
	size_t len;
};

/*
 * Run @req synchronously (worker threads). READ/WRITE resume after the
 * IO_SCR_DONE bytes already transferred. Returns 0 or -errno.
 */
int io_sync_exec(const struct io_disk *disk, struct vback_io_req *req,
		 const struct io_buffers *bufs);

/*
 * A small pool of threads running io_sync_exec(). Finished requests are
 * collected on a list and announced by writing @efd, which the owner
 * watches on its loop; the owner bounds how many requests are queued.
 */
struct io_pool;

int io_pool_create(const struct io_disk *disk, unsigned int workers, int efd,
		   struct io_pool **out);
/* Queue @req (never fails: the owner bounds the number in flight). */
void io_pool_queue(struct io_pool *pool, struct vback_io_req *req);
/* Detach the finished requests, oldest first, linked by IO_SCR_NEXT. */
struct vback_io_req *io_pool_take_done(struct io_pool *pool);
/* Block until no request is queued or running. */
void io_pool_wait_idle(struct io_pool *pool);
/* Wait for the queued requests, stop the threads, free. */
void io_pool_destroy(struct io_pool *pool);

/* Read an eventfd empty (non-blocking). */
void io_eventfd_drain(int efd);
/* Make an eventfd readable. */
void io_eventfd_signal(int efd);

/* The backends' open functions. */
int io_posix_open(const struct vback_io_options *opts,
		  const struct vback_loop *loop, struct vback_io *out);
/*
 * -ENOSYS with *@unavailable set when io_uring cannot be used on this
 * machine (built without it, or the kernel refuses: ENOSYS, EPERM).
 */
int io_ring_open(const struct vback_io_options *opts,
		 const struct vback_loop *loop, struct vback_io *out,
		 bool *unavailable);
/* Tests: does this io_uring instance run READ/WRITE/FLUSH inline (a file
 * on a memory-backed filesystem without non-blocking reads)? */
bool io_ring_runs_inline(const struct vback_io *io);
/* Tests: requests an io_uring instance sent with a fixed buffer. */
uint64_t io_ring_fixed_requests(const struct vback_io *io);
int io_memory_open(const struct vback_io_options *opts,
		   const struct vback_loop *loop, struct vback_io *out);

/* Sized from @opts->mem_size, else from the file at @opts->path. */
int io_null_open(const struct vback_io_options *opts,
		 const struct vback_loop *loop, struct vback_io *out);

extern const struct vback_io_ops io_null_ops;
extern const struct vback_io_ops io_posix_ops;
extern const struct vback_io_ops io_ring_ops;
extern const struct vback_io_ops io_memory_ops;

/* ---- network engines (spec.c, nbd.c, rbd.c) ------------------------ */

#define IO_NET_DEFAULT_TIMEOUT_MS VBACK_IO_NET_TIMEOUT_MS

/* What a vback_io_options::path names. */
enum io_spec_kind {
	IO_SPEC_NONE = 0, /* a file or block device */
	IO_SPEC_NBD,	  /* nbd://, nbd+unix:// (and nbds*, refused) */
	IO_SPEC_RBD,	  /* rbd: */
};

enum io_spec_kind io_spec_kind(const char *path);

/* An NBD URI, percent-decoded. */
struct io_nbd_spec {
	bool unix_socket;
	char host[256]; /* TCP */
	char port[8];	/* TCP, "10809" when not given */
	/* nbd+unix: sun_path; an abstract name starts with a NUL byte. */
	char socket[108];
	size_t socket_len;
	char export_name[4097]; /* NBD allows 4096 bytes */
};

/* rbd:POOL[/NAMESPACE]/IMAGE[@SNAP][:conf=FILE][:id=NAME] */
struct io_rbd_spec {
	char pool[256];
	char ns[256];
	char image[256];
	char snap[256];
	char conf[4096];
	char id[256];
};

/* 0, or -EINVAL with the reason in @err. */
int io_nbd_spec_parse(const char *uri, struct io_nbd_spec *s, char *err,
		      size_t errlen);
int io_rbd_spec_parse(const char *spec, struct io_rbd_spec *s, char *err,
		      size_t errlen);

/* -ENOTSUP with a log line when this build lacks the library. */
int io_nbd_open(const struct vback_io_options *opts,
		const struct vback_loop *loop, struct vback_io *out);
int io_rbd_open(const struct vback_io_options *opts,
		const struct vback_loop *loop, struct vback_io *out);

extern const struct vback_io_ops io_nbd_ops;
extern const struct vback_io_ops io_rbd_ops;

/* Tests: NBD connections ready now, or -EINVAL if @io is not NBD. */
int io_nbd_connections_ready(const struct vback_io *io);

/*
 * Tests: requests of a memory disk that touch [@offset, @offset + @len)
 * complete with @error (a negative errno); @len 0 clears. -EINVAL if @io
 * is not a memory disk.
 */
int io_memory_inject_error(const struct vback_io *io, uint64_t offset,
			   uint64_t len, int error);

#endif /* VBACK_IO_INTERNAL_H */
