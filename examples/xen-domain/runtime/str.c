/* SPDX-License-Identifier: MIT */
/*
 * The string functions the runtime and the program use (mem* and strlen
 * come from tests/baremetal/string.c). Built with
 * -fno-tree-loop-distribute-patterns so no loop becomes a call to itself.
 */
#include <stddef.h>

int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}
