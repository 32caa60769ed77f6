/* SPDX-License-Identifier: MIT */
/*
 * The freestanding formatter (lib/format.c) against the C library's
 * snprintf, conversion by conversion, including truncation.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vb_format.h"

/* Format with both and compare output and return value; also truncated
 * to every length up to the full one, where the whole buffer must match
 * (an overrun past the size, inside the buffer, is no ASan finding). */
#define SAME(...)                                                              \
	do {                                                                   \
		char want[256], got[256];                                      \
		int nw = snprintf(want, sizeof(want), __VA_ARGS__);            \
		int ng = vb_snprintf(got, sizeof(got), __VA_ARGS__);           \
		assert_int_equal(ng, nw);                                      \
		assert_string_equal(got, want);                                \
		for (size_t sz = 0; sz <= (size_t)nw + 1; sz++) {              \
			char tw[256], tg[256];                                 \
			memset(tg, 'x', sizeof(tg));                           \
			memset(tw, 'x', sizeof(tw));                           \
			snprintf(tw, sz, __VA_ARGS__);                         \
			assert_int_equal(vb_snprintf(tg, sz, __VA_ARGS__),     \
					 nw);                                  \
			/* All of it: nothing written past sz either. */       \
			assert_memory_equal(tg, tw, sizeof(tg));               \
		}                                                              \
	} while (0)

static void test_integers(void **state)
{
	(void)state;
	SAME("%d %i %u", 0, -1, 4000000000u);
	SAME("%d", INT_MIN);
	SAME("%ld %lu", LONG_MIN, ULONG_MAX);
	SAME("%lld %llu", LLONG_MIN, ULLONG_MAX);
	SAME("%zu %zd", (size_t)SIZE_MAX, (ptrdiff_t)-5);
	/* Out-of-range arguments on purpose: the formatter must narrow the
	 * promoted int as printf does (clang's -Wformat objects). */
#ifdef __clang__
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wformat"
#endif
	SAME("%hhu %hhd %hu %hd", 300, 200, 70000, 40000);
#ifdef __clang__
#pragma clang diagnostic pop
#endif
	SAME("%jd %ju %td", (intmax_t)-7, (uintmax_t)7, (ptrdiff_t)9);
	SAME("%x %X %o %#x %#X %#o", 0xbeefu, 0xbeefu, 8u, 0xbeefu, 255u, 8u);
	SAME("%#x %#o", 0u, 0u);
	SAME("%#llx", 0x8000000000000000ull);
	SAME("[%5d] [%-5d] [%05d] [%+d] [% d]", 42, 42, 42, 42, 42);
	SAME("[%05d] [%-5d] [%.3d] [%8.3d] [%-8.3d]", -42, -42, 7, 7, 7);
	SAME("[%.0d] [%.0u] [%5.0x]", 0, 0u, 0u);
	SAME("[%*d] [%-*d] [%.*d] [%*d]", 6, 1, 6, 1, 4, 1, -6, 1);
	SAME("%#08x %#8x %#-8x|", 0x2au, 0x2au, 0x2au);
}

static void test_strings_chars_pointers(void **state)
{
	int x;

	(void)state;
	SAME("[%s] [%10s] [%-10s] [%.2s] [%*.*s]", "abc", "abc", "abc", "abc",
	     7, 1, "abc");
	SAME("[%c] [%3c] [%-3c]", 'a', 'b', 'c');
	SAME("100%% sure %s", "!");
	SAME("%p", (void *)&x);
	SAME("queue %u: head %d: %s; device needs reset", 3u, 17,
	     "head out of range");
	SAME("dom%u@%#llx", 7u, 0x2000000ull);
	/* Literal runs and strings are copied as blocks: truncated at every
	 * length inside and between them. */
	SAME("no conversion at all");
	SAME("%s/%s", "/local/domain/0/backend/vbd/1/51712", "state");
	SAME("ab%scd%%ef%s", "", "ghij");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_strings_chars_pointers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
