/* SPDX-License-Identifier: MIT */
/*
 * A small snprintf for the OS-free code: freestanding builds have no libc
 * to format log lines and names with. Conversions: d i u x X o c s p %,
 * flags '-' '0' '#' ' ' '+', width and precision (also '*'), length
 * modifiers hh h l ll z j t. No floating point. Output is truncated to
 * @size and always NUL-terminated (when @size > 0); returns the length
 * the full output would have had, like C's.
 */
#ifndef VBACK_LIB_VB_FORMAT_H
#define VBACK_LIB_VB_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

int vb_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int vb_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* VBACK_LIB_VB_FORMAT_H */
