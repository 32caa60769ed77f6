/* SPDX-License-Identifier: MIT */
/*
 * CHECK() for the benchmark programs (not tests): a failed condition is
 * one line naming the program, the condition and errno, and exit 1.
 */
#ifndef VBACK_TESTS_BENCH_CHECK_H
#define VBACK_TESTS_BENCH_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s: %s failed (%s:%d): %s\n",         \
				program_invocation_short_name, #x, __FILE__,   \
				__LINE__, strerror(errno));                    \
			exit(1);                                               \
		}                                                              \
	} while (0)

#endif /* VBACK_TESTS_BENCH_CHECK_H */
