/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vback/dev.h>

#include "inflight.h"

size_t vhu_inflight_stride(uint16_t queue_size)
{
	size_t n = vback_dev_inflight_record_size(queue_size);

	return (n + VHU_INFLIGHT_ALIGN - 1) & ~(size_t)(VHU_INFLIGHT_ALIGN - 1);
}

int vhu_inflight_check(const struct vhu_inflight *d, unsigned int max_queues,
		       uint16_t max_size, bool with_map, const char **why)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t need;

	*why = NULL;
	if (d->num_queues == 0 || d->num_queues > max_queues) {
		*why = "number of queues out of range";
		return -EINVAL;
	}
	if (d->queue_size == 0 || (d->queue_size & (d->queue_size - 1)) ||
	    d->queue_size > max_size) {
		*why = "queue size not a power of two up to the device's";
		return -EINVAL;
	}
	if (!with_map)
		return 0;
	need = (uint64_t)d->num_queues * vhu_inflight_stride(d->queue_size);
	if (d->mmap_size < need) {
		*why = "region too small for its queues";
		return -EINVAL;
	}
	if (d->mmap_offset % (uint64_t)(page > 0 ? page : 4096)) {
		*why = "region offset not page aligned";
		return -EINVAL;
	}
	if (d->mmap_offset > (uint64_t)INT64_MAX - need) {
		*why = "region offset beyond any file";
		return -EINVAL;
	}
	return 0;
}

static int map_region(struct vhu_region_inflight *inf,
		      const struct vhu_inflight *d, int fd, uint64_t offset,
		      struct vhu_guard *guard)
{
	size_t len = (size_t)d->num_queues * vhu_inflight_stride(d->queue_size);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       (off_t)offset);

	if (p == MAP_FAILED)
		return -errno;
	inf->base = p;
	inf->len = len;
	inf->num_queues = d->num_queues;
	inf->queue_size = d->queue_size;
	inf->stride = vhu_inflight_stride(d->queue_size);
	inf->guard_slot = guard ? vhu_guard_add(p, len, guard) : -1;
	return 0;
}

int vhu_inflight_create(struct vhu_region_inflight *inf,
			const struct vhu_inflight *d, struct vhu_guard *guard,
			int *fd, const char **why)
{
	size_t len = (size_t)d->num_queues * vhu_inflight_stride(d->queue_size);
	int mfd, ret;

	*why = NULL;
	memset(inf, 0, sizeof(*inf));
	inf->guard_slot = -1;
	mfd = memfd_create("vback-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0) {
		*why = "memfd_create failed";
		return -errno;
	}
	/* Zeroes: empty records. Sealed: the front-end can neither shrink
	 * it under our mapping nor grow it. */
	if (ftruncate(mfd, (off_t)len) < 0 ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		ret = -errno;
		*why = "cannot size or seal the memfd";
		close(mfd);
		return ret;
	}
	ret = map_region(inf, d, mfd, 0, guard);
	if (ret < 0) {
		*why = "mmap failed";
		close(mfd);
		return ret;
	}
	*fd = mfd;
	return 0;
}

int vhu_inflight_map(struct vhu_region_inflight *inf,
		     const struct vhu_inflight *d, int fd,
		     struct vhu_guard *guard, const char **why)
{
	uint64_t len =
		(uint64_t)d->num_queues * vhu_inflight_stride(d->queue_size);
	struct stat st;
	int ret;

	*why = NULL;
	memset(inf, 0, sizeof(*inf));
	inf->guard_slot = -1;
	if (fstat(fd, &st) < 0) {
		*why = "fstat failed";
		return -errno;
	}
	/* Shared memory files only; a mapping past the end would fault. */
	if (!S_ISREG(st.st_mode)) {
		*why = "not a memory file";
		return -EINVAL;
	}
	if (d->mmap_offset + len > (uint64_t)st.st_size) {
		*why = "region extends past the end of its file";
		return -EINVAL;
	}
	(void)vhu_seal_shrink(fd);
	ret = map_region(inf, d, fd, d->mmap_offset, guard);
	if (ret < 0)
		*why = "mmap failed";
	return ret;
}

void *vhu_inflight_queue(const struct vhu_region_inflight *inf, unsigned int q,
			 size_t *len)
{
	if (!inf->base || q >= inf->num_queues)
		return NULL;
	*len = inf->stride;
	return inf->base + (size_t)q * inf->stride;
}

void vhu_inflight_unmap(struct vhu_region_inflight *inf)
{
	if (inf->base) {
		vhu_guard_remove(inf->guard_slot);
		munmap(inf->base, inf->len);
	}
	memset(inf, 0, sizeof(*inf));
	inf->guard_slot = -1;
}

void vhu_inflight_forget(struct vhu_region_inflight *inf)
{
	if (inf->base)
		vhu_guard_remove(inf->guard_slot);
	memset(inf, 0, sizeof(*inf));
	inf->guard_slot = -1;
}
