/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <vback/base.h>

static void test_total_and_overflow(void **state)
{
	char a[3], b[5];
	struct vback_iovec iov[] = { { a, sizeof(a) }, { b, sizeof(b) } };
	struct vback_iovec huge[] = { { a, SIZE_MAX }, { b, 2 } };
	uint64_t t = 42;

	(void)state;
	assert_int_equal(vback_iov_total(iov, 2, &t), 0);
	assert_int_equal(t, 8);
	assert_int_equal(vback_iov_total(iov, 0, &t), 0);
	assert_int_equal(t, 0);
	t = 7;
	assert_int_equal(vback_iov_total(huge, 2, &t), -EOVERFLOW);
	assert_int_equal(t, 7); /* untouched on error */
}

static void test_copy_across_pieces_with_skip(void **state)
{
	char a[3] = { 0 }, b[1] = { 0 }, c[4] = { 0 };
	struct vback_iovec iov[] = { { a, 3 }, { b, 1 }, { c, 4 } };
	char out[8] = { 0 };

	(void)state;
	/* 8 bytes of space, skip 2: "abcdef" lands as a[2] b[0] c[0..3], one
	 * byte does not fit. */
	assert_int_equal(vback_iov_from_buf(iov, 3, 2, "abcdefg", 7), 6);
	assert_int_equal(a[2], 'a');
	assert_int_equal(b[0], 'b');
	assert_memory_equal(c, "cdef", 4);
	assert_int_equal(vback_iov_to_buf(iov, 3, 3, out, sizeof(out)), 5);
	assert_memory_equal(out, "bcdef", 5);
	/* skip beyond the end copies nothing */
	assert_int_equal(vback_iov_to_buf(iov, 3, 8, out, 4), 0);
	assert_int_equal(vback_iov_memset0(iov, 3, 4, 100), 4);
	assert_memory_equal(c, "\0\0\0\0", 4);
	assert_int_equal(b[0], 'b');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_total_and_overflow),
		cmocka_unit_test(test_copy_across_pieces_with_skip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
