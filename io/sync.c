/* SPDX-License-Identifier: MIT */
/*
 * Synchronous execution of one request on a file or block device. Runs on
 * worker threads (the posix engine, and the io_uring engine's slow path).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>

#include <vback/io.h>

#include "io_internal.h"

/* vback_iovec arrays go to preadv()/pwritev() as they are. */
_Static_assert(sizeof(struct vback_iovec) == sizeof(struct iovec),
	       "vback_iovec size differs from struct iovec");
_Static_assert(alignof(struct vback_iovec) == alignof(struct iovec),
	       "vback_iovec alignment differs from struct iovec");
_Static_assert(offsetof(struct vback_iovec, iov_base) ==
		       offsetof(struct iovec, iov_base),
	       "vback_iovec.iov_base misplaced");
_Static_assert(offsetof(struct vback_iovec, iov_len) ==
		       offsetof(struct iovec, iov_len),
	       "vback_iovec.iov_len misplaced");

static const struct iovec *os_iov(const struct vback_iovec *iov)
{
	return (const struct iovec *)(const void *)iov;
}

/* pread/pwrite all of @len, looping over EINTR and short transfers. */
static int rw_full(int fd, bool write, void *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = write ? pwrite(fd, buf, len, (off_t)off)
				  : pread(fd, buf, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* End of file: the disk shrank under the request. */
		if (n == 0)
			return -EIO;
		buf = (char *)buf + n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * Vectored transfer of @iov from byte @skip at disk offset @off. The
 * caller's array is never modified: a partly done element is finished with
 * a plain pread/pwrite, then vectored IO resumes at the next element.
 */
static int rw_vec(int fd, bool write, const struct vback_iovec *iov,
		  unsigned int cnt, uint64_t skip, uint64_t off)
{
	unsigned int i = 0;

	while (i < cnt && skip >= iov[i].iov_len)
		skip -= iov[i++].iov_len;
	while (i < cnt) {
		ssize_t n;

		if (skip) {
			void *base = (char *)iov[i].iov_base + skip;
			size_t len = iov[i].iov_len - (size_t)skip;

			n = write ? pwrite(fd, base, len, (off_t)off)
				  : pread(fd, base, len, (off_t)off);
		} else {
			int c = (int)(cnt - i > IO_MAX_SEGMENTS
					      ? IO_MAX_SEGMENTS
					      : cnt - i);

			n = write ? pwritev(fd, os_iov(iov + i), c, (off_t)off)
				  : preadv(fd, os_iov(iov + i), c, (off_t)off);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		off += (uint64_t)n;
		skip += (uint64_t)n;
		while (i < cnt && skip >= iov[i].iov_len)
			skip -= iov[i++].iov_len;
	}
	return 0;
}

/* O_DIRECT with buffers the guest did not align: go through the bounce
 * buffer, one aligned chunk at a time. */
static int rw_bounce(const struct io_disk *disk, bool write,
		     const struct vback_io_req *req, uint64_t skip,
		     uint64_t total, const struct io_buffers *bufs)
{
	uint64_t off = req->offset + skip;
	int ret;

	while (skip < total) {
		size_t chunk = bufs->len;

		if (total - skip < chunk)
			chunk = (size_t)(total - skip);
		if (write) {
			vback_iov_to_buf(req->iov, req->iovcnt, (size_t)skip,
					 bufs->bounce, chunk);
			ret = rw_full(disk->fd, true, bufs->bounce, chunk, off);
		} else {
			ret = rw_full(disk->fd, false, bufs->bounce, chunk,
				      off);
			if (!ret)
				vback_iov_from_buf(req->iov, req->iovcnt,
						   (size_t)skip, bufs->bounce,
						   chunk);
		}
		if (ret)
			return ret;
		skip += chunk;
		off += chunk;
	}
	return 0;
}

static int do_rw(const struct io_disk *disk, struct vback_io_req *req,
		 const struct io_buffers *bufs)
{
	bool write = req->op == VBACK_IO_WRITE;
	uint64_t total = req->backend[IO_SCR_TOTAL];
	uint64_t skip = req->backend[IO_SCR_DONE];
	int ret;

	if (disk->direct && !io_disk_iov_aligned(disk, req))
		return rw_bounce(disk, write, req, skip, total, bufs);
	ret = rw_vec(disk->fd, write, req->iov, req->iovcnt, skip,
		     req->offset + skip);
	/* The kernel may demand more alignment than we were told (EINVAL),
	 * or may not pin the memory for O_DIRECT (EFAULT: Xen foreign and
	 * grant mappings are VM_IO|VM_PFNMAP): bounce. */
	if ((ret == -EINVAL || ret == -EFAULT) && disk->direct)
		ret = rw_bounce(disk, write, req, skip, total, bufs);
	return ret;
}

static int write_zeroes_slow(const struct io_disk *disk, uint64_t off,
			     uint64_t len, const struct io_buffers *bufs)
{
	while (len) {
		size_t chunk = len < bufs->len ? (size_t)len : bufs->len;
		/* The zero buffer is shared and never written. */
		int ret = rw_full(disk->fd, true,
				  (void *)(uintptr_t)bufs->zeroes, chunk, off);

		if (ret)
			return ret;
		off += chunk;
		len -= chunk;
	}
	return 0;
}

static int do_fallocate(int fd, int mode, uint64_t off, uint64_t len)
{
	while (fallocate(fd, mode, (off_t)off, (off_t)len) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static int blk_ioctl(int fd, unsigned long cmd, uint64_t off, uint64_t len)
{
	uint64_t range[2] = { off, len };

	while (ioctl(fd, cmd, range) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static bool unsupported(int ret)
{
	return ret == -EOPNOTSUPP || ret == -ENOTTY || ret == -EINVAL;
}

static int do_discard(const struct io_disk *disk, uint64_t off, uint64_t len)
{
	int ret;

	if (!len)
		return 0;
	if (disk->is_blk)
		ret = blk_ioctl(disk->fd, BLKDISCARD, off, len);
	else
		ret = do_fallocate(disk->fd,
				   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   off, len);
	/* Discard is a hint: a disk that cannot deallocate keeps the data. */
	return unsupported(ret) ? 0 : ret;
}

static int do_write_zeroes(const struct io_disk *disk,
			   const struct vback_io_req *req,
			   const struct io_buffers *bufs)
{
	bool unmap = req->flags & VBACK_IO_F_UNMAP;
	int ret = -EOPNOTSUPP;

	if (!req->len)
		return 0;
	/* Punched holes read back as zeroes, on files and (Linux 4.9+)
	 * block devices alike. */
	if (unmap)
		ret = do_fallocate(disk->fd,
				   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   req->offset, req->len);
	if (!unsupported(ret))
		return ret;
	if (disk->is_blk)
		ret = blk_ioctl(disk->fd, BLKZEROOUT, req->offset, req->len);
	else
		ret = do_fallocate(disk->fd,
				   FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
				   req->offset, req->len);
	if (!unsupported(ret))
		return ret;
	return write_zeroes_slow(disk, req->offset, req->len, bufs);
}

int io_sync_exec(const struct io_disk *disk, struct vback_io_req *req,
		 const struct io_buffers *bufs)
{
	switch (req->op) {
	case VBACK_IO_READ:
	case VBACK_IO_WRITE:
		return do_rw(disk, req, bufs);
	case VBACK_IO_FLUSH:
		if (fdatasync(disk->fd) < 0)
			return -errno;
		return 0;
	case VBACK_IO_DISCARD:
		return do_discard(disk, req->offset, req->len);
	case VBACK_IO_WRITE_ZEROES:
		return do_write_zeroes(disk, req, bufs);
	case VBACK_IO_SECURE_ERASE:
		break;
	}
	return -EOPNOTSUPP;
}
