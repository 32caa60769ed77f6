/* SPDX-License-Identifier: MIT */
/* A small snprintf for the OS-free code (vb_format.h). */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include "vb_format.h"
#include "vb_string.h"

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

/* @n bytes of @s at once: one copy instead of a call per character
 * (paths are formatted on every xenstore event). */
static void put_n(struct out *o, const char *s, size_t n)
{
	if (o->len + 1 < o->size) {
		size_t room = o->size - 1 - o->len;

		memcpy(o->buf + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

static void pad(struct out *o, char c, int n)
{
	while (n-- > 0)
		put(o, c);
}

struct spec {
	bool left, zero, alt, space, plus;
	int width, prec; /* prec < 0: none */
};

/* *@v / @base, returning the remainder. Bases 8 and 16 shift; base 10
 * divides natively only where 64-bit division is an instruction: on
 * 32-bit targets it would be a libgcc call, which a freestanding archive
 * must not need (docs/porting.md). */
static unsigned int divmod(uintmax_t *v, unsigned int base)
{
	unsigned int r;

	if (base == 16) {
		r = (unsigned int)(*v & 15);
		*v >>= 4;
	} else if (base == 8) {
		r = (unsigned int)(*v & 7);
		*v >>= 3;
	} else {
#if UINTPTR_MAX >= UINT64_MAX
		r = (unsigned int)(*v % 10);
		*v /= 10;
#else
		uintmax_t q = 0, n = *v;
		uint32_t rem = 0;

		for (int i = (int)sizeof(n) * 8 - 1; i >= 0; i--) {
			rem = (rem << 1) | (uint32_t)((n >> i) & 1);
			if (rem >= 10) {
				rem -= 10;
				q |= (uintmax_t)1 << i;
			}
		}
		*v = q;
		r = rem;
#endif
	}
	return r;
}

/* An unsigned number in @base with its sign/prefix, width and precision. */
static void number(struct out *o, const struct spec *sp, uintmax_t v,
		   unsigned int base, bool upper, bool neg, bool is_ptr)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[3 * sizeof(uintmax_t) + 2];
	const char *prefix = "";
	int n = 0, zeros, total;

	if (!(v == 0 && sp->prec == 0)) {
		do {
			tmp[n++] = digits[divmod(&v, base)];
		} while (v);
	}
	if (neg)
		prefix = "-";
	else if (sp->plus && base == 10 && !is_ptr)
		prefix = "+";
	else if (sp->space && base == 10 && !is_ptr)
		prefix = " ";
	else if ((sp->alt || is_ptr) && base == 16 && n &&
		 !(n == 1 && tmp[0] == '0' && !is_ptr))
		prefix = upper ? "0X" : "0x";
	else if (sp->alt && base == 8 && (!n || tmp[n - 1] != '0'))
		prefix = "0";
	zeros = sp->prec > n ? sp->prec - n : 0;
	total = (int)vb_strlen(prefix) + zeros + n;
	if (sp->zero && !sp->left && sp->prec < 0 && sp->width > total) {
		zeros += sp->width - total;
		total = sp->width;
	}
	if (!sp->left)
		pad(o, ' ', sp->width - total);
	for (const char *p = prefix; *p; p++)
		put(o, *p);
	pad(o, '0', zeros);
	while (n)
		put(o, tmp[--n]);
	if (sp->left)
		pad(o, ' ', sp->width - total);
}

static int atoi_adv(const char **p)
{
	int v = 0;

	while (**p >= '0' && **p <= '9') {
		if (v < INT_MAX / 10)
			v = v * 10 + (**p - '0');
		(*p)++;
	}
	return v;
}

int vb_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (const char *p = fmt; *p; p++) {
		struct spec sp = { .prec = -1 };
		int lmod = 0; /* 'H' hh, 'h', 'l', 'L' ll, 'z', 'j', 't' */
		uintmax_t u;
		intmax_t s;

		if (*p != '%') {
			const char *end = vb_strchrnul(p, '%');

			put_n(&o, p, (size_t)(end - p));
			p = end - 1;
			continue;
		}
		for (p++;; p++) {
			if (*p == '-')
				sp.left = true;
			else if (*p == '0')
				sp.zero = true;
			else if (*p == '#')
				sp.alt = true;
			else if (*p == ' ')
				sp.space = true;
			else if (*p == '+')
				sp.plus = true;
			else
				break;
		}
		if (*p == '*') {
			sp.width = va_arg(ap, int);
			if (sp.width < 0) {
				sp.left = true;
				sp.width = sp.width == INT_MIN ? INT_MAX
							       : -sp.width;
			}
			p++;
		} else {
			sp.width = atoi_adv(&p);
		}
		if (*p == '.') {
			p++;
			if (*p == '*') {
				sp.prec = va_arg(ap, int);
				if (sp.prec < 0)
					sp.prec = -1;
				p++;
			} else {
				sp.prec = atoi_adv(&p);
			}
		}
		switch (*p) {
		case 'h':
			lmod = p[1] == 'h' ? 'H' : 'h';
			p += p[1] == 'h' ? 2 : 1;
			break;
		case 'l':
			lmod = p[1] == 'l' ? 'L' : 'l';
			p += p[1] == 'l' ? 2 : 1;
			break;
		case 'z':
		case 'j':
		case 't':
			lmod = *p++;
			break;
		default:
			break;
		}
		switch (*p) {
		case 'd':
		case 'i':
			switch (lmod) {
			case 'l':
				s = va_arg(ap, long);
				break;
			case 'L':
				s = va_arg(ap, long long);
				break;
			case 'z':
				s = (intmax_t)va_arg(ap, size_t);
				break;
			case 'j':
				s = va_arg(ap, intmax_t);
				break;
			case 't':
				s = va_arg(ap, ptrdiff_t);
				break;
			case 'H':
				s = (signed char)va_arg(ap, int);
				break;
			case 'h':
				s = (short)va_arg(ap, int);
				break;
			default:
				s = va_arg(ap, int);
				break;
			}
			u = s < 0 ? (uintmax_t)0 - (uintmax_t)s : (uintmax_t)s;
			number(&o, &sp, u, 10, false, s < 0, false);
			break;
		case 'u':
		case 'x':
		case 'X':
		case 'o':
			switch (lmod) {
			case 'l':
				u = va_arg(ap, unsigned long);
				break;
			case 'L':
				u = va_arg(ap, unsigned long long);
				break;
			case 'z':
				u = va_arg(ap, size_t);
				break;
			case 'j':
				u = va_arg(ap, uintmax_t);
				break;
			case 't':
				u = (uintmax_t)va_arg(ap, ptrdiff_t);
				break;
			case 'H':
				u = (unsigned char)va_arg(ap, unsigned int);
				break;
			case 'h':
				u = (unsigned short)va_arg(ap, unsigned int);
				break;
			default:
				u = va_arg(ap, unsigned int);
				break;
			}
			number(&o, &sp, u,
			       *p == 'o'   ? 8
			       : *p == 'u' ? 10
					   : 16,
			       *p == 'X', false, false);
			break;
		case 'p':
			number(&o, &sp, (uintptr_t)va_arg(ap, void *), 16,
			       false, false, true);
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);

			if (!sp.left)
				pad(&o, ' ', sp.width - 1);
			put(&o, c);
			if (sp.left)
				pad(&o, ' ', sp.width - 1);
			break;
		}
		case 's': {
			const char *str = va_arg(ap, const char *);
			int n = 0;

			if (!str)
				str = "(null)";
			while (str[n] && (sp.prec < 0 || n < sp.prec))
				n++;
			if (!sp.left)
				pad(&o, ' ', sp.width - n);
			put_n(&o, str, (size_t)n);
			if (sp.left)
				pad(&o, ' ', sp.width - n);
			break;
		}
		case '%':
			put(&o, '%');
			break;
		case '\0':
			p--; /* a lone '%' at the end */
			break;
		default: /* unknown conversion: shown as is */
			put(&o, '%');
			put(&o, *p);
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return o.len > INT_MAX ? INT_MAX : (int)o.len;
}

int vb_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vb_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
