/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memory.h"

/* ------------------------------------------------------------------ */
/* SIGBUS guard (see struct vhu_guard)                                  */
/* ------------------------------------------------------------------ */

/* Mappings guarded process-wide: every region of every device. */
#define GUARD_SLOTS 1024

struct guard_slot {
	atomic_uintptr_t base; /* 0: free */
	size_t len;
	struct vhu_guard *guard;
};

static struct guard_slot guard_slots[GUARD_SLOTS];
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction guard_old; /* the handler before ours */

static void guard_chain(int sig, siginfo_t *info, void *uc)
{
	if (guard_old.sa_flags & SA_SIGINFO) {
		if (guard_old.sa_sigaction) {
			guard_old.sa_sigaction(sig, info, uc);
			return;
		}
	} else if (guard_old.sa_handler != SIG_DFL &&
		   guard_old.sa_handler != SIG_IGN) {
		guard_old.sa_handler(sig);
		return;
	}
	/* Default action: return, and the access faults again into it. */
	signal(SIGBUS, SIG_DFL);
}

/* Async-signal context: atomics, mmap() (a plain system call on Linux)
 * and vback_loop_post() (lock-free, callable from signal handlers). */
static void guard_handler(int sig, siginfo_t *info, void *uc)
{
	uintptr_t addr = (uintptr_t)info->si_addr;

	for (unsigned int i = 0; i < GUARD_SLOTS; i++) {
		struct guard_slot *s = &guard_slots[i];
		uintptr_t base =
			atomic_load_explicit(&s->base, memory_order_acquire);
		struct vhu_guard *g;

		if (!base || addr < base || addr - base >= s->len)
			continue;
		g = s->guard;
		if (mmap((void *)base, s->len, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS |
				 MAP_NORESERVE,
			 -1, 0) == MAP_FAILED)
			break;
		atomic_store(&g->tripped, 1);
		vback_loop_post(g->loop, &g->work);
		return;
	}
	guard_chain(sig, info, uc);
}

int vhu_guard_add(void *base, size_t len, struct vhu_guard *g)
{
	int slot = -1;

	struct sigaction cur;
	bool installed;

	pthread_mutex_lock(&guard_lock);
	/* Ours, unless someone installed another since (we then chain to
	 * that one). */
	installed = sigaction(SIGBUS, NULL, &cur) == 0 &&
		    (cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_sigaction == guard_handler;
	if (!installed) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = guard_handler;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		installed = sigaction(SIGBUS, &sa, &guard_old) == 0;
	}
	for (unsigned int i = 0; installed && i < GUARD_SLOTS; i++) {
		struct guard_slot *s = &guard_slots[i];

		if (atomic_load(&s->base))
			continue;
		s->len = len;
		s->guard = g;
		atomic_store_explicit(&s->base, (uintptr_t)base,
				      memory_order_release);
		slot = (int)i;
		break;
	}
	pthread_mutex_unlock(&guard_lock);
	return slot;
}

void vhu_guard_remove(int slot)
{
	if (slot < 0)
		return;
	pthread_mutex_lock(&guard_lock);
	atomic_store_explicit(&guard_slots[slot].base, 0, memory_order_release);
	pthread_mutex_unlock(&guard_lock);
}

/* F_SEAL_SHRINK where the file takes seals: true when it can no longer
 * shrink. */
bool vhu_seal_shrink(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0)
		return false; /* not shmem: no seals */
	if (seals & F_SEAL_SHRINK)
		return true;
	if (seals & F_SEAL_SEAL)
		return false; /* created without MFD_ALLOW_SEALING */
	return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0;
}

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
	m->sealed = vhu_seal_shrink(fd);
	m->guard_slot = -1;
	return 0;
}

int vhu_memtab_map(struct vhu_memtab *tab, const struct vhu_region *regions,
		   const int *fds, unsigned int n, struct vhu_guard *guard,
		   const char **why)
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
		/* Sealed or not: a guarded mapping costs nothing until a
		 * fault, and the file may be of a kind we did not foresee. */
		if (guard)
			tab->maps[i].guard_slot =
				vhu_guard_add(tab->maps[i].map_base,
					      tab->maps[i].map_len, guard);
	}
	return 0;
}

void vhu_memtab_unmap(struct vhu_memtab *tab)
{
	for (unsigned int i = 0; i < tab->n; i++) {
		vhu_guard_remove(tab->maps[i].guard_slot);
		munmap(tab->maps[i].map_base, tab->maps[i].map_len);
	}
	memset(tab, 0, sizeof(*tab));
}

void vhu_memtab_forget(struct vhu_memtab *tab)
{
	for (unsigned int i = 0; i < tab->n; i++)
		vhu_guard_remove(tab->maps[i].guard_slot);
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
