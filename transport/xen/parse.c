/* SPDX-License-Identifier: MIT */
/* xenstore values: numbers with base auto-detection, nothing else. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include <vback/xen.h>

int vback_xen_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !out)
		return -EINVAL;
	while (isspace((unsigned char)*s))
		s++;
	/* strtoull accepts a sign and wraps "-1": refuse both. */
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno == ERANGE)
		return -ERANGE;
	if (end == s)
		return -EINVAL;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}
