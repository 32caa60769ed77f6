/* SPDX-License-Identifier: MIT */
/*
 * Opening a file or block device for the posix and io_uring backends:
 * exclusivity (mounted devices, other vback instances) and capabilities.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include <vback/io.h>

#include "io_internal.h"

/* Find where block device @rdev is mounted; false if it is not. */
static bool find_mount(dev_t rdev, char *where, size_t len)
{
	char line[1024], point[512];
	unsigned int maj, min;
	bool found = false;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ..." */
		if (sscanf(line, "%*s %*s %u:%u %*s %511s", &maj, &min,
			   point) != 3)
			continue;
		if (maj == major(rdev) && min == minor(rdev)) {
			snprintf(where, len, "%s", point);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/*
 * Another vback instance writing the same file would corrupt it: take an
 * open-file-description lock (shared for readers, exclusive for writers).
 * OFD locks belong to this open, so two instances in one process conflict
 * too, and they vanish when the fd is closed.
 */
static int lock_file(int fd, bool read_only)
{
	struct flock fl = {
		.l_type = read_only ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,
	};

	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			return -EBUSY;
		/* Filesystems without locks (some network ones): go on. */
		if (errno == ENOLCK || errno == EINVAL || errno == EOPNOTSUPP)
			return 0;
		return -errno;
	}
	return 0;
}

/* Steps of the waits below. */
#define BUSY_STEP_MS 20u

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* lock_file(), again every BUSY_STEP_MS for up to @wait_ms while busy. */
static int lock_file_waiting(int fd, bool read_only, unsigned int wait_ms,
			     const char *path, const struct vback_log *log)
{
	unsigned int waited = 0;
	int ret;

	while ((ret = lock_file(fd, read_only)) == -EBUSY && waited < wait_ms) {
		sleep_ms(BUSY_STEP_MS);
		waited += BUSY_STEP_MS;
	}
	if (ret == 0 && waited)
		vback_logf(log, VBACK_LOG_INFO,
			   "io: %s: waited %u ms for another instance's lock",
			   path, waited);
	return ret;
}

/* open(), again while a block device is claimed (EBUSY), up to @wait_ms. */
static int open_waiting(const char *path, int flags, unsigned int wait_ms,
			const struct vback_log *log)
{
	unsigned int waited = 0;
	int fd;

	while ((fd = open(path, flags)) < 0 && errno == EBUSY &&
	       (flags & O_EXCL) && waited < wait_ms) {
		sleep_ms(BUSY_STEP_MS);
		waited += BUSY_STEP_MS;
	}
	if (fd >= 0 && waited)
		vback_logf(log, VBACK_LOG_INFO,
			   "io: %s: waited %u ms for an exclusive claim to go",
			   path, waited);
	return fd;
}

static int read_sysfs_u64(dev_t rdev, const char *attr, uint64_t *val)
{
	char path[128], buf[64];
	FILE *f;
	int ret = -ENOENT;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s", major(rdev),
		 minor(rdev), attr);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%" SCNu64, val) == 1)
		ret = 0;
	fclose(f);
	return ret;
}

static int blk_size(const struct io_disk *disk, uint64_t *size)
{
	if (ioctl(disk->fd, BLKGETSIZE64, size) < 0)
		return -errno;
	return 0;
}

static int probe_blk(struct io_disk *disk, const struct stat *st)
{
	struct vback_io_caps *caps = &disk->caps;
	unsigned int pbs = 0;
	uint64_t discard_max = 1;
	int lbs = 0;

	if (ioctl(disk->fd, BLKSSZGET, &lbs) < 0 || lbs < 512)
		lbs = 512;
	if (ioctl(disk->fd, BLKPBSZGET, &pbs) < 0 || pbs < (unsigned int)lbs)
		pbs = (unsigned int)lbs;
	caps->logical_block_size = (uint32_t)lbs;
	caps->physical_block_size = pbs;
	/* Without sysfs, assume discard works; EOPNOTSUPP is then a no-op. */
	read_sysfs_u64(st->st_rdev, "queue/discard_max_bytes", &discard_max);
	caps->can_discard = discard_max > 0;
	/* BLKZEROOUT writes zeroes itself when the device cannot. */
	caps->can_write_zeroes = true;
	disk->mem_align = (uint32_t)lbs;
	return 0;
}

static void probe_file(struct io_disk *disk, const struct stat *st)
{
	struct vback_io_caps *caps = &disk->caps;
	uint32_t lbs = 512, mem = 512;

#ifdef STATX_DIOALIGN
	struct statx stx;

	/* What O_DIRECT really demands on this filesystem (Linux 6.1+). */
	if (disk->direct &&
	    statx(disk->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		if (stx.stx_dio_offset_align > lbs)
			lbs = stx.stx_dio_offset_align;
		if (stx.stx_dio_mem_align)
			mem = stx.stx_dio_mem_align;
	}
#endif
	caps->logical_block_size = lbs;
	caps->physical_block_size = lbs;
	if (st->st_blksize > 0 && (uint32_t)st->st_blksize > lbs &&
	    !(st->st_blksize & (st->st_blksize - 1)))
		caps->physical_block_size = (uint32_t)st->st_blksize;
	/* Punching holes; without hole support discard is a no-op. */
	caps->can_discard = true;
	caps->can_write_zeroes = true;
	disk->mem_align = mem;
}

static int read_size(struct io_disk *disk, uint64_t *size)
{
	struct stat st;
	int ret;

	if (disk->is_blk) {
		ret = blk_size(disk, size);
	} else if (fstat(disk->fd, &st) < 0) {
		ret = -errno;
	} else {
		*size = (uint64_t)st.st_size;
		ret = 0;
	}
	if (!ret)
		*size &= ~(uint64_t)(disk->caps.logical_block_size - 1);
	return ret;
}

int io_disk_open(struct io_disk *disk, const struct vback_io_options *opts)
{
	const struct vback_log *log = opts->log;
	const char *path = opts->path;
	int flags = O_CLOEXEC;
	char where[512];
	struct stat st;
	int ret;

	memset(disk, 0, sizeof(*disk));
	disk->fd = -1;
	disk->log = log;
	disk->direct = opts->direct;
	if (!path || !*path)
		return -EINVAL;
	/* A plain errno (ENOENT, EACCES, ...) says it all: the caller, who
	 * knows which guest disk this is, reports it. We log only what the
	 * return value cannot say (in use by whom, mounted where). */
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		vback_logf(log, VBACK_LOG_ERR,
			   "io: %s: not a regular file or block device", path);
		return -EINVAL;
	}
	disk->is_blk = S_ISBLK(st.st_mode);
	if (disk->is_blk && find_mount(st.st_rdev, where, sizeof(where))) {
		vback_logf(log, VBACK_LOG_ERR,
			   "io: %s is mounted on %s, refusing to use it", path,
			   where);
		return -EBUSY;
	}
	flags |= opts->read_only ? O_RDONLY : O_RDWR;
	if (opts->direct)
		flags |= O_DIRECT;
	/* O_EXCL on a block device: fails while it is mounted or claimed
	 * (another vback, a filesystem, device-mapper). */
	if (disk->is_blk)
		flags |= O_EXCL;
	disk->fd = open_waiting(path, flags, opts->busy_wait_ms, log);
	if (disk->fd < 0) {
		ret = -errno;
		if (ret == -EBUSY)
			vback_logf(log, VBACK_LOG_ERR,
				   "io: %s is in use (mounted or opened "
				   "exclusively by another program)",
				   path);
		/* The errno alone reads like a bad argument of ours. */
		if (ret == -EINVAL && opts->direct)
			vback_logf(log, VBACK_LOG_ERR,
				   "io: %s: its file system does not support "
				   "O_DIRECT (tmpfs before Linux 6.6, ...): "
				   "serve it without --direct",
				   path);
		return ret;
	}
	if (fstat(disk->fd, &st) < 0) {
		ret = -errno;
		goto fail;
	}
	if (!disk->is_blk) {
		ret = lock_file_waiting(disk->fd, opts->read_only,
					opts->busy_wait_ms, path, log);
		if (ret == -EBUSY) {
			vback_logf(
				log, VBACK_LOG_ERR,
				"io: %s is open %s by another vback instance",
				path,
				opts->read_only ? "for writing"
						: "(read or write)");
			goto fail_quiet;
		}
		if (ret)
			goto fail;
		probe_file(disk, &st);
	} else {
		probe_blk(disk, &st);
	}
	/* No limit: the engines take any number of iovecs (the sync path
	 * goes IO_MAX_SEGMENTS at a time, io_uring hands longer vectors to
	 * it), so a request the device advertised is never refused for
	 * splitting at guest-memory region boundaries. */
	disk->caps.max_segments = 0;
	disk->caps.read_only = opts->read_only;
	disk->caps.volatile_cache = true;
	ret = read_size(disk, &disk->caps.size_bytes);
	if (ret)
		goto fail;
	disk->owns_lock = !disk->is_blk;
	disk->size_now = disk->caps.size_bytes;
	disk->size_src = &disk->size_now;
	return 0;
fail:
	vback_logf(log, VBACK_LOG_ERR, "io: %s: %s", path, vback_strerror(ret));
fail_quiet:
	close(disk->fd);
	disk->fd = -1;
	return ret;
}

int io_disk_dup(struct io_disk *dst, const struct io_disk *src)
{
	*dst = *src;
	dst->fd = fcntl(src->fd, F_DUPFD_CLOEXEC, 0);
	if (dst->fd < 0)
		return -errno;
	/* Same open file: same lock (the original's to drop), same size. */
	dst->owns_lock = false;
	dst->size_src = src->size_src;
	return 0;
}

void io_disk_close(struct io_disk *disk)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	if (disk->fd < 0)
		return;
	/* Unlock now: something may still hold the open file for a while
	 * (an io_uring torn down asynchronously, its SQPOLL thread), and a
	 * new instance must be able to take the disk once we return. A
	 * clone leaves the lock to the original, on the same open file. */
	if (disk->owns_lock)
		(void)fcntl(disk->fd, F_OFD_SETLK, &fl);
	close(disk->fd);
	disk->fd = -1;
}

int io_disk_refresh_size(struct io_disk *disk, uint64_t *size_bytes)
{
	uint64_t size;
	int ret;

	ret = read_size(disk, &size);
	if (ret)
		return ret;
	if (size_bytes)
		*size_bytes = size;
	io_disk_sync_size(disk);
	if (size == disk->caps.size_bytes)
		return 0;
	disk->caps.size_bytes = size;
	/* Every instance on this file checks against it from now on. */
	__atomic_store_n(disk->size_src, size, __ATOMIC_RELAXED);
	return 1;
}

bool io_disk_iov_aligned(const struct io_disk *disk,
			 const struct vback_io_req *req)
{
	uintptr_t amask = disk->mem_align - 1;
	size_t lmask = disk->caps.logical_block_size - 1;

	/* Linux checks buffer addresses against the DMA alignment and each
	 * segment's length against the logical block size. */
	for (unsigned int i = 0; i < req->iovcnt; i++) {
		if (((uintptr_t)req->iov[i].iov_base & amask) ||
		    (req->iov[i].iov_len & lmask))
			return false;
	}
	return true;
}
