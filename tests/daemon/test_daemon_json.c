/* SPDX-License-Identifier: MIT */
/*
 * The control socket's JSON reader and writer (examples/vback-disk/json.c):
 * what RFC 8259 allows is read, everything else is refused with a place
 * and a reason; strings come out decoded; the writer escapes what it must
 * and its output reads back to the same value.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

static struct json_value nodes[64];
static char strings[4096];
static const struct json_parser jp = {
	.nodes = nodes,
	.max_nodes = 64,
	.strings = strings,
	.strings_size = sizeof(strings),
};

static int parse(const char *text, const struct json_value **v)
{
	struct json_error err;
	const struct json_value *dummy;

	return json_parse(&jp, text, strlen(text), v ? v : &dummy, &err);
}

static void test_accepts(void **state)
{
	static const char *const good[] = {
		"null",
		"true",
		"false",
		"0",
		"-0",
		"1",
		"-1",
		"12.5e-3",
		"1E+9",
		"0.0",
		"\"\"",
		"\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
		"\"\\u00e9\\uD83D\\uDE00\"",
		"\"h\xc3\xa9 \xf0\x9f\x98\x80\"",
		"[]",
		"{}",
		" \t\r\n[1, [2, {\"a\": [3]}]] \r\n",
		"{\"a\":1,\"b\":{\"a\":2}}",
		"9223372036854775807",
		"-9223372036854775808",
		"123456789012345678901234567890",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (parse(good[i], NULL) != 0)
			fail_msg("refused: %s", good[i]);
}

static void test_refuses(void **state)
{
	static const char *const bad[] = {
		"",
		" ",
		"nul",
		"nulll",
		"True",
		"01",
		"-",
		"1.",
		".5",
		"1e",
		"+1",
		"0x10",
		"NaN",
		"Infinity",
		"\"abc",
		"\"a\nb\"",		/* raw control character */
		"\"\\x41\"",		/* no such escape */
		"\"\\u12\"",		/* short escape */
		"\"\\u12G4\"",		/* not hex */
		"\"\\u0000\"",		/* NUL would cut the C string */
		"\"\\uD800\"",		/* lone high surrogate */
		"\"\\uDC00\"",		/* lone low surrogate */
		"\"\\uD800\\u0041\"",	/* high, then not a low */
		"\"\xc0\xaf\"",		/* overlong */
		"\"\xed\xa0\x80\"",	/* UTF-8 surrogate */
		"\"\xf4\x90\x80\x80\"", /* past U+10FFFF */
		"\"\xe2\x82\"",		/* cut short */
		"\"\xff\"",
		"[1,]",
		"[,1]",
		"[1 2]",
		"{\"a\"}",
		"{\"a\":}",
		"{a:1}",
		"{\"a\":1,}",
		"{\"a\":1,\"a\":2}", /* duplicate name */
		"{'a':1}",
		"[1]]",
		"{} {}",
		"[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", /* 17 deep */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], NULL) == 0)
			fail_msg("accepted: '%s'", bad[i]);
	/* 16 deep is the limit, not past it. */
	assert_int_equal(parse("[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]", NULL), 0);
	/* An embedded NUL byte is not whitespace. */
	assert_int_equal(json_parse(&jp, "1\0", 2,
				    &(const struct json_value *){ NULL },
				    &(struct json_error){ 0 }),
			 -EINVAL);
}

static void test_error_place(void **state)
{
	const struct json_value *v;
	struct json_error err;
	const char *t = "{\"a\": [1, 2,, 3]}";

	(void)state;
	assert_int_equal(json_parse(&jp, t, strlen(t), &v, &err), -EINVAL);
	assert_int_equal(err.offset, 12);
	assert_non_null(err.what);
}

static void test_limits(void **state)
{
	struct json_value few[3];
	char small[8];
	struct json_parser p = { .nodes = few,
				 .max_nodes = 3,
				 .strings = strings,
				 .strings_size = sizeof(strings) };
	const struct json_value *v;
	struct json_error err;

	(void)state;
	assert_int_equal(json_parse(&p, "[1,2]", 5, &v, &err), 0);
	assert_int_equal(json_parse(&p, "[1,2,3]", 7, &v, &err), -ENOBUFS);
	p.strings = small;
	p.strings_size = sizeof(small);
	assert_int_equal(json_parse(&p, "\"1234567\"", 9, &v, &err), -ENOBUFS);
	assert_int_equal(json_parse(&p, "\"12345\"", 7, &v, &err), 0);
}

static void test_values(void **state)
{
	const struct json_value *v, *m;
	const char *t = "{\"s\":\"\\u00e9\\uD83D\\uDE00x\",\"n\":-42,"
			"\"f\":1.5,\"big\":99999999999999999999,\"b\":true,"
			"\"z\":null,\"a\":[1,\"2\"],\"o\":{}}";

	(void)state;
	assert_int_equal(parse(t, &v), 0);
	assert_int_equal(v->type, JSON_OBJECT);
	assert_int_equal(v->count, 8);
	m = json_get(v, "s");
	assert_int_equal(m->type, JSON_STRING);
	assert_string_equal(m->str, "\xc3\xa9\xf0\x9f\x98\x80x");
	assert_int_equal(m->str_len, 7);
	m = json_get(v, "n");
	assert_true(m->is_int);
	assert_int_equal(m->i, -42);
	assert_false(json_get(v, "f")->is_int);
	assert_false(json_get(v, "big")->is_int);
	assert_int_equal(json_get(v, "b")->type, JSON_BOOL);
	assert_true(json_get(v, "b")->b);
	assert_int_equal(json_get(v, "z")->type, JSON_NULL);
	m = json_get(v, "a");
	assert_int_equal(m->count, 2);
	assert_int_equal(m->child->next->type, JSON_STRING);
	assert_null(json_get(v, "missing"));
	assert_null(json_get(m, "s")); /* not an object */
	/* raw: the value's own text */
	m = json_get(v, "f");
	assert_int_equal(m->raw_len, 3);
	assert_memory_equal(m->raw, "1.5", 3);
}

static void test_writer_escapes(void **state)
{
	struct jw w;
	const struct json_value *v;

	(void)state;
	jw_init(&w, 1024);
	jw_object(&w);
	jw_key(&w, "k\"");
	jw_string(&w, "a\"b\\c\nd\x01\x7f\xc3\xa9\xff.");
	jw_key(&w, "n");
	jw_i64(&w, INT64_MIN);
	jw_key(&w, "u");
	jw_u64(&w, UINT64_MAX);
	jw_key(&w, "l");
	jw_array(&w);
	jw_bool(&w, false);
	jw_null(&w);
	jw_array(&w);
	jw_array_end(&w);
	jw_array_end(&w);
	jw_object_end(&w);
	assert_false(jw_failed(&w));
	jw_append(&w, "", 1); /* a C string for the asserts */
	assert_string_equal(w.buf,
			    "{\"k\\\"\":\"a\\\"b\\\\c\\nd\\u0001\x7f\xc3\xa9"
			    "\xef\xbf\xbd.\",\"n\":-9223372036854775808,"
			    "\"u\":18446744073709551615,"
			    "\"l\":[false,null,[]]}");
	/* What it writes reads back. */
	assert_int_equal(json_parse(&jp, w.buf, w.len - 1, &v,
				    &(struct json_error){ 0 }),
			 0);
	assert_string_equal(json_get(v, "k\"")->str,
			    "a\"b\\c\nd\x01\x7f\xc3\xa9\xef\xbf\xbd.");
	jw_free(&w);
}

static void test_writer_limits(void **state)
{
	struct jw w;

	(void)state;
	jw_init(&w, 8);
	jw_string(&w, "12345678");
	assert_true(jw_failed(&w));
	jw_reset(&w);
	assert_false(jw_failed(&w));
	jw_string(&w, "123");
	assert_false(jw_failed(&w));
	assert_int_equal(w.len, 5);
	jw_free(&w);

	jw_init(&w, 1024);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		jw_array(&w);
	assert_false(jw_failed(&w));
	jw_array(&w);
	assert_true(jw_failed(&w));
	jw_free(&w);
	jw_init(&w, 1024);
	jw_object_end(&w); /* nothing open */
	assert_true(jw_failed(&w));
	jw_free(&w);
}

/* Parse, write back, parse again: the same text both times. */
static void test_round_trip(void **state)
{
	static const char *const docs[] = {
		"{\"id\":1,\"cmd\":\"list\",\"args\":{\"name\":\"d\\u00e9\"}}",
		" [ 1 , -2.5e3 , \"\\t\" , { } , [ ] , true , null ] ",
		"\"\\ud83d\\ude00\\/\"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		const struct json_value *v;
		struct jw a, b;

		jw_init(&a, 4096);
		jw_init(&b, 4096);
		assert_int_equal(parse(docs[i], &v), 0);
		jw_value(&a, v);
		assert_int_equal(json_parse(&jp, a.buf, a.len, &v,
					    &(struct json_error){ 0 }),
				 0);
		jw_value(&b, v);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.buf, b.buf, a.len);
		jw_free(&a);
		jw_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_refuses),
		cmocka_unit_test(test_error_place),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_writer_escapes),
		cmocka_unit_test(test_writer_limits),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
