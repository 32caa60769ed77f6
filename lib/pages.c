/* SPDX-License-Identifier: MIT */
/* Zeroed memory resident only where touched (lib/vb_os.h). */
#include <sys/mman.h>

#include "vb_os.h"

#if defined(__SANITIZE_ADDRESS__)
#define VB_PAGES_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VB_PAGES_ASAN 1
#endif
#endif

void *vb_calloc_pages(size_t size)
{
#ifdef VB_PAGES_ASAN
	return calloc(1, size);
#else
	void *p;

	if (size == 0)
		return NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
#endif
}

void vb_free_pages(void *ptr, size_t size)
{
#ifdef VB_PAGES_ASAN
	(void)size;
	free(ptr);
#else
	if (ptr)
		munmap(ptr, size);
#endif
}
