/* SPDX-License-Identifier: MIT */
/*
 * A small printf for the test's output: %s %c %d %i %u %x %p and %%, with
 * the l, ll and z length modifiers, a '-' or '0' flag and a field width.
 * Output goes out one line at a time (one semihosting call per line).
 */
#include "bm.h"

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_field(struct out *o, const char *s, size_t n, int width,
		      bool left, char pad)
{
	size_t w = width > 0 ? (size_t)width : 0;

	for (; !left && w > n; w--)
		put(o, pad);
	for (size_t i = 0; i < n; i++)
		put(o, s[i]);
	for (; left && w > n; w--)
		put(o, ' ');
}

int bm_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		char tmp[24], *p = tmp + sizeof(tmp), pad = ' ';
		unsigned long long v;
		bool left = false, neg = false;
		int width = 0, lng = 0;
		unsigned int base = 10;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				pad = '0';
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		for (;; fmt++) {
			if (*fmt == 'l')
				lng++;
			else if (*fmt == 'z')
				lng = 2;
			else
				break;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			size_t n = 0;

			if (!s)
				s = "(null)";
			while (s[n])
				n++;
			put_field(&o, s, n, width, left, ' ');
			continue;
		}
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			put_field(&o, tmp, 1, width, left, ' ');
			continue;
		case 'd':
		case 'i': {
			long long s = lng >= 2 ? va_arg(ap, long long)
				      : lng    ? va_arg(ap, long)
					       : va_arg(ap, int);

			neg = s < 0;
			v = neg ? 0 - (unsigned long long)s
				: (unsigned long long)s;
			break;
		}
		case 'p':
			v = (uintptr_t)va_arg(ap, void *);
			base = 16;
			break;
		case 'x':
		case 'u':
			v = lng >= 2 ? va_arg(ap, unsigned long long)
			    : lng    ? va_arg(ap, unsigned long)
				     : va_arg(ap, unsigned int);
			base = *fmt == 'x' ? 16 : 10;
			break;
		case '%':
			put(&o, '%');
			continue;
		default: /* unknown: print it as is, stop consuming */
			put(&o, '%');
			if (!*fmt)
				goto out;
			put(&o, *fmt);
			continue;
		}
		do {
			*--p = "0123456789abcdef"[v % base];
			v /= base;
		} while (v);
		if (*fmt == 'p') {
			*--p = 'x';
			*--p = '0';
		}
		if (neg && pad == '0' && width > 0) {
			put(&o, '-');
			width--;
		} else if (neg) {
			*--p = '-';
		}
		put_field(&o, p, (size_t)(tmp + sizeof(tmp) - p), width, left,
			  pad);
	}
out:
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int bm_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = bm_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int bm_printf(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = bm_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	bm_puts(line);
	return n;
}
