/* SPDX-License-Identifier: MIT */
/*
 * The string functions the OS-free code needs, inline: a freestanding
 * archive may call only memcpy, memmove, memset and memcmp (and the
 * embedder hooks of vb_os.h), so strlen and friends are written here.
 */
#ifndef VBACK_LIB_VB_STRING_H
#define VBACK_LIB_VB_STRING_H

#include <stddef.h>
#include <string.h>

static inline size_t vb_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static inline int vb_strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

static inline int vb_strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b || !*a)
			return (unsigned char)*a - (unsigned char)*b;
	}
	return 0;
}

/* Copy @src into @dst of @size bytes, truncating, always terminated
 * (when @size > 0). Returns the length of @src. */
static inline size_t vb_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = vb_strlen(src);

	if (size) {
		size_t k = n < size - 1 ? n : size - 1;

		memcpy(dst, src, k);
		dst[k] = '\0';
	}
	return n;
}

/* The first @c in @s, or its terminating NUL. */
static inline const char *vb_strchrnul(const char *s, int c)
{
	while (*s && *s != (char)c)
		s++;
	return s;
}

#endif /* VBACK_LIB_VB_STRING_H */
