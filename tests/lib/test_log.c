/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <vback/base.h>

struct sink {
	int calls;
	enum vback_log_level level;
	char msg[600];
};

static void capture(void *opaque, enum vback_log_level level, const char *msg)
{
	struct sink *s = opaque;

	s->calls++;
	s->level = level;
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
}

static void test_sink_receives_formatted_line(void **state)
{
	struct sink s = { 0 };
	struct vback_log log = { capture, &s, VBACK_LOG_DEBUG };

	(void)state;
	vback_logf(&log, VBACK_LOG_WARN, "queue %u: %s", 3u, "bad head");
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.level, VBACK_LOG_WARN);
	assert_string_equal(s.msg, "queue 3: bad head");
}

static void test_level_filter(void **state)
{
	struct sink s = { 0 };
	struct vback_log log = { capture, &s, VBACK_LOG_WARN };

	(void)state;
	vback_logf(&log, VBACK_LOG_DEBUG, "dropped");
	vback_logf(&log, VBACK_LOG_INFO, "dropped");
	assert_int_equal(s.calls, 0);
	assert_false(vback_log_enabled(&log, VBACK_LOG_INFO));
	assert_true(vback_log_enabled(&log, VBACK_LOG_ERR));
	vback_logf(&log, VBACK_LOG_ERR, "kept");
	assert_int_equal(s.calls, 1);
	/* The default sink (NULL) passes INFO, drops DEBUG. */
	assert_true(vback_log_enabled(NULL, VBACK_LOG_INFO));
	assert_false(vback_log_enabled(NULL, VBACK_LOG_DEBUG));
	/* Changed while in use: the new level applies to the next line. */
	vback_log_set_level(&log, VBACK_LOG_DEBUG);
	assert_int_equal(log.max_level, VBACK_LOG_DEBUG);
	vback_logf(&log, VBACK_LOG_DEBUG, "kept too");
	assert_int_equal(s.calls, 2);
	vback_log_set_level(&log, VBACK_LOG_ERR);
	vback_logf(&log, VBACK_LOG_WARN, "dropped");
	assert_int_equal(s.calls, 2);
}

static void test_long_message_truncated_not_overflowed(void **state)
{
	struct sink s = { 0 };
	struct vback_log log = { capture, &s, VBACK_LOG_DEBUG };
	char big[2000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	vback_logf(&log, VBACK_LOG_ERR, "%s", big);
	assert_int_equal(s.calls, 1);
	assert_int_equal(strlen(s.msg), 511);
}

static void test_level_parse(void **state)
{
	enum vback_log_level l = VBACK_LOG_ERR;

	(void)state;
	assert_int_equal(vback_log_level_parse("debug", &l), 0);
	assert_int_equal(l, VBACK_LOG_DEBUG);
	assert_int_equal(vback_log_level_parse("WARN", &l), 0);
	assert_int_equal(l, VBACK_LOG_WARN);
	assert_int_equal(vback_log_level_parse("loud", &l), -EINVAL);
	assert_int_equal(l, VBACK_LOG_WARN);
	assert_int_equal(vback_log_level_parse(NULL, &l), -EINVAL);
}

static void test_level_names(void **state)
{
	(void)state;
	assert_string_equal(vback_log_level_name(VBACK_LOG_ERR), "error");
	assert_string_equal(vback_log_level_name(VBACK_LOG_WARN), "warning");
	assert_string_equal(vback_log_level_name(VBACK_LOG_INFO), "info");
	assert_string_equal(vback_log_level_name(VBACK_LOG_DEBUG), "debug");
	assert_string_equal(vback_log_level_name((enum vback_log_level)1), "?");
}

static void test_strerror_and_version(void **state)
{
	(void)state;
	assert_string_equal(vback_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(vback_version(), "0.1.0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sink_receives_formatted_line),
		cmocka_unit_test(test_level_filter),
		cmocka_unit_test(test_long_message_truncated_not_overflowed),
		cmocka_unit_test(test_level_parse),
		cmocka_unit_test(test_level_names),
		cmocka_unit_test(test_strerror_and_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
