/* SPDX-License-Identifier: MIT */
/* Zeroed memory resident only where touched (lib/vb_os.h). */
#include <sys/mman.h>

#include "vb_os.h"

void *vb_calloc_pages(size_t size)
{
#ifdef VB_ASAN
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
#ifdef VB_ASAN
	(void)size;
	free(ptr);
#else
	if (ptr)
		munmap(ptr, size);
#endif
}
