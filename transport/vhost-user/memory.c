/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memory.h"

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int vhu_memtab_check(const struct vhu_region *regions, unsigned int n,
		     const char **why)
{
	*why = NULL;
	if (n > VHU_MAX_REGIONS) {
		*why = "too many regions";
		return -EINVAL;
	}
	for (unsigned int i = 0; i < n; i++) {
		const struct vhu_region *r = &regions[i];

		if (r->size == 0) {
			*why = "empty region";
			return -EINVAL;
		}
		/* Every end is computed as base + size later: none may wrap. */
		if (r->gpa + r->size < r->gpa ||
		    r->uaddr + r->size < r->uaddr ||
		    r->mmap_offset + r->size < r->mmap_offset ||
		    r->size > SIZE_MAX / 2) {
			*why = "region wraps around the address space";
			return -EINVAL;
		}
		for (unsigned int j = 0; j < i; j++) {
			if (overlaps(r->gpa, r->size, regions[j].gpa,
				     regions[j].size)) {
				*why = "regions overlap in guest memory";
				return -EINVAL;
			}
			if (overlaps(r->uaddr, r->size, regions[j].uaddr,
				     regions[j].size)) {
				*why = "regions overlap in user addresses";
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int map_one(struct vhu_map *m, const struct vhu_region *r, int fd,
		   const char **why)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t align = page > 0 ? (uint64_t)page : 4096;
	uint64_t skew = r->mmap_offset % align;
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* A mapping past the end of a file faults (SIGBUS) when touched. */
	if (S_ISREG(st.st_mode) &&
	    r->mmap_offset + r->size > (uint64_t)st.st_size) {
		*why = "region extends past the end of its file";
		return -EINVAL;
	}
	if (r->size + skew > SIZE_MAX / 2) {
		*why = "region too large";
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)(r->size + skew), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE, fd,
		 (off_t)(r->mmap_offset - skew));
	if (p == MAP_FAILED)
		return -errno;
	m->gpa = r->gpa;
	m->size = r->size;
	m->uaddr = r->uaddr;
	m->map_base = p;
	m->map_len = (size_t)(r->size + skew);
	m->host = (uint8_t *)p + skew;
	return 0;
}

int vhu_memtab_map(struct vhu_memtab *tab, const struct vhu_region *regions,
		   const int *fds, unsigned int n, const char **why)
{
	int ret;

	*why = NULL;
	ret = vhu_memtab_check(regions, n, why);
	if (ret < 0)
		return ret;
	tab->n = 0;
	for (unsigned int i = 0; i < n; i++) {
		ret = map_one(&tab->maps[i], &regions[i], fds[i], why);
		if (ret < 0) {
			vhu_memtab_unmap(tab);
			return ret;
		}
		tab->n = i + 1;
	}
	return 0;
}

void vhu_memtab_unmap(struct vhu_memtab *tab)
{
	for (unsigned int i = 0; i < tab->n; i++)
		munmap(tab->maps[i].map_base, tab->maps[i].map_len);
	memset(tab, 0, sizeof(*tab));
}

void *vhu_memtab_gpa(const struct vhu_memtab *tab, uint64_t gpa, uint64_t *len)
{
	if (*len == 0)
		return NULL;
	for (unsigned int i = 0; i < tab->n; i++) {
		const struct vhu_map *m = &tab->maps[i];
		uint64_t off, avail;

		if (gpa < m->gpa || gpa - m->gpa >= m->size)
			continue;
		off = gpa - m->gpa;
		avail = m->size - off;
		if (*len > avail)
			*len = avail;
		return m->host + off;
	}
	return NULL;
}

int vhu_memtab_uaddr_to_gpa(const struct vhu_memtab *tab, uint64_t uaddr,
			    uint64_t *gpa)
{
	for (unsigned int i = 0; i < tab->n; i++) {
		const struct vhu_map *m = &tab->maps[i];

		if (uaddr >= m->uaddr && uaddr - m->uaddr < m->size) {
			*gpa = m->gpa + (uaddr - m->uaddr);
			return 0;
		}
	}
	return -EFAULT;
}
