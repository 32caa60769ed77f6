/* SPDX-License-Identifier: MIT */
/* xenstore values: numbers with base auto-detection, nothing else. */
#include "xen_priv.h"

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/* The value of digit @c in @base, or -1. */
static int digit(char c, unsigned int base)
{
	int d = -1;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	return d >= 0 && (unsigned int)d < base ? d : -1;
}

int xen_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned int base = 10, shift = 0;
	uint64_t v = 0;
	bool overflow = false;
	const char *start;
	int d;

	if (!s || !out)
		return -EINVAL;
	while (blank(*s))
		s++;
	/* No sign: "-1" would wrap. */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		shift = 4;
		s += 2;
	} else if (s[0] == '0' && s[1]) {
		base = 8;
		shift = 3;
		s++;
	}
	start = s;
	for (; (d = digit(*s, base)) >= 0; s++) {
		/* Shifts and adds only: no 64-bit division on 32-bit
		 * targets (the freestanding archive needs no libgcc). */
		uint64_t next;

		if (shift) {
			if (v >> (64 - shift))
				overflow = true;
			next = (v << shift) | (uint64_t)d;
		} else {
			/* The bounds are constants; v * 10 = v * 8 + v * 2 */
			if (v > UINT64_MAX / 10 ||
			    (v == UINT64_MAX / 10 &&
			     (uint64_t)d > UINT64_MAX % 10))
				overflow = true;
			next = (v << 3) + (v << 1) + (uint64_t)d;
		}
		v = next;
	}
	if (s == start && base == 16)
		return -EINVAL; /* "0x" alone */
	while (blank(*s))
		s++;
	if (*s)
		return -EINVAL;
	if (overflow || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}
