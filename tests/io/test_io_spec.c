/* SPDX-License-Identifier: MIT */
/*
 * Network disk specs (io/spec.c): NBD URIs as the NBD URI standard writes
 * them (export names, ports, IPv6, percent-escapes, the socket parameter,
 * what must be diagnosed) and rbd:POOL[/NS]/IMAGE[@SNAP][:conf=][:id=].
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "io_internal.h"

static void test_kind(void **state)
{
	(void)state;
	assert_int_equal(io_spec_kind("nbd://h/e"), IO_SPEC_NBD);
	assert_int_equal(io_spec_kind("nbd+unix:///?socket=/s"), IO_SPEC_NBD);
	assert_int_equal(io_spec_kind("nbds://h/"), IO_SPEC_NBD);
	assert_int_equal(io_spec_kind("rbd:p/i"), IO_SPEC_RBD);
	assert_int_equal(io_spec_kind("/var/lib/disk.img"), IO_SPEC_NONE);
	assert_int_equal(io_spec_kind("./rbd:p/i"), IO_SPEC_NONE);
	assert_int_equal(io_spec_kind("nbd:/x"), IO_SPEC_NONE);
	assert_int_equal(io_spec_kind(NULL), IO_SPEC_NONE);
}

static void test_nbd_tcp(void **state)
{
	struct io_nbd_spec s;
	char err[128];

	(void)state;
	assert_int_equal(io_nbd_spec_parse("nbd://example.com/disk", &s, err,
					   sizeof(err)),
			 0);
	assert_false(s.unix_socket);
	assert_string_equal(s.host, "example.com");
	assert_string_equal(s.port, "10809");
	assert_string_equal(s.export_name, "disk");
	/* The standard's table of export names. */
	assert_int_equal(io_nbd_spec_parse("nbd://example.com/", &s, err,
					   sizeof(err)),
			 0);
	assert_string_equal(s.export_name, "");
	assert_int_equal(io_nbd_spec_parse("nbd://example.com", &s, err,
					   sizeof(err)),
			 0);
	assert_string_equal(s.export_name, "");
	assert_int_equal(io_nbd_spec_parse("nbd://example.com//disk", &s, err,
					   sizeof(err)),
			 0);
	assert_string_equal(s.export_name, "/disk");
	assert_int_equal(io_nbd_spec_parse("nbd://example.com/hello%20world",
					   &s, err, sizeof(err)),
			 0);
	assert_string_equal(s.export_name, "hello world");
	/* Ports and IPv6 literals. */
	assert_int_equal(io_nbd_spec_parse("nbd://127.0.0.1:10810/x", &s, err,
					   sizeof(err)),
			 0);
	assert_string_equal(s.host, "127.0.0.1");
	assert_string_equal(s.port, "10810");
	assert_int_equal(io_nbd_spec_parse("nbd://[::1]:7000/e", &s, err,
					   sizeof(err)),
			 0);
	assert_string_equal(s.host, "::1");
	assert_string_equal(s.port, "7000");
	assert_int_equal(io_nbd_spec_parse("nbd://[::1]/e", &s, err,
					   sizeof(err)),
			 0);
	assert_string_equal(s.port, "10809");
}

static void test_nbd_unix(void **state)
{
	struct io_nbd_spec s;
	char err[128];

	(void)state;
	assert_int_equal(io_nbd_spec_parse("nbd+unix:///disk?socket=nbd.sock",
					   &s, err, sizeof(err)),
			 0);
	assert_true(s.unix_socket);
	assert_string_equal(s.export_name, "disk");
	assert_string_equal(s.socket, "nbd.sock");
	assert_int_equal(s.socket_len, 8);
	assert_int_equal(io_nbd_spec_parse("nbd+unix:///?socket=/run/a%20b", &s,
					   err, sizeof(err)),
			 0);
	assert_string_equal(s.export_name, "");
	assert_string_equal(s.socket, "/run/a b");
	/* An abstract socket: a NUL first, and the length says the rest. */
	assert_int_equal(io_nbd_spec_parse("nbd+unix:///?socket=%00/abstract",
					   &s, err, sizeof(err)),
			 0);
	assert_int_equal(s.socket_len, 10);
	assert_int_equal(s.socket[0], 0);
	assert_memory_equal(s.socket + 1, "/abstract", 9);
}

static void expect_bad(const char *uri, const char *why)
{
	struct io_nbd_spec s;
	char err[128] = "";

	assert_int_equal(io_nbd_spec_parse(uri, &s, err, sizeof(err)), -EINVAL);
	if (!strstr(err, why))
		fail_msg("%s: '%s' does not say '%s'", uri, err, why);
}

static void test_nbd_bad(void **state)
{
	char longsock[200];

	(void)state;
	expect_bad("nbds://h/e", "TLS");
	expect_bad("nbds+unix:///e?socket=s", "TLS");
	expect_bad("nbd+vsock://1/e", "not an NBD URI");
	expect_bad("nbd:///e", "needs a host");
	expect_bad("nbd://h:port/e", "port");
	expect_bad("nbd://h:/e", "port");
	expect_bad("nbd://user@h/e", "TLS");
	expect_bad("nbd://[::1/e", "IPv6");
	expect_bad("nbd://h/e#frag", "fragment");
	expect_bad("nbd://h/e%2", "export");
	expect_bad("nbd://h/e%zz", "export");
	expect_bad("nbd://h/a%00b", "export");
	expect_bad("nbd://h/e?socket=/s", "only for nbd+unix");
	expect_bad("nbd://h/e?tls-type=x509", "TLS");
	expect_bad("nbd://h/e?sockt=/s", "unknown query parameter 'sockt'");
	expect_bad("nbd+unix:///e", "socket=");
	expect_bad("nbd+unix:///e?socket=", "socket=");
	expect_bad("nbd+unix://host/e?socket=/s", "no host");
	memset(longsock, 'a', sizeof(longsock) - 1);
	longsock[sizeof(longsock) - 1] = 0;
	{
		char uri[300];

		snprintf(uri, sizeof(uri), "nbd+unix:///?socket=/%s", longsock);
		expect_bad(uri, "socket=");
	}
}

static void test_rbd(void **state)
{
	struct io_rbd_spec s;
	char err[128];

	(void)state;
	assert_int_equal(io_rbd_spec_parse("rbd:pool/img", &s, err,
					   sizeof(err)),
			 0);
	assert_string_equal(s.pool, "pool");
	assert_string_equal(s.image, "img");
	assert_string_equal(s.ns, "");
	assert_string_equal(s.snap, "");
	assert_int_equal(io_rbd_spec_parse("rbd:pool/ns/img@snap1:conf=/etc/"
					   "ceph/x.conf:id=vback",
					   &s, err, sizeof(err)),
			 0);
	assert_string_equal(s.pool, "pool");
	assert_string_equal(s.ns, "ns");
	assert_string_equal(s.image, "img");
	assert_string_equal(s.snap, "snap1");
	assert_string_equal(s.conf, "/etc/ceph/x.conf");
	assert_string_equal(s.id, "vback");
	assert_int_equal(io_rbd_spec_parse("rbd:p/i:id=a", &s, err,
					   sizeof(err)),
			 0);
	assert_string_equal(s.id, "a");
	assert_string_equal(s.conf, "");

	assert_int_equal(io_rbd_spec_parse("rbd:img", &s, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(io_rbd_spec_parse("rbd:/img", &s, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "pool"));
	assert_int_equal(io_rbd_spec_parse("rbd:p/", &s, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(io_rbd_spec_parse("rbd:p/a/b/c", &s, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(io_rbd_spec_parse("rbd:p/i@", &s, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "snapshot"));
	assert_int_equal(io_rbd_spec_parse("rbd:p/i:user=x", &s, err,
					   sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "unknown item 'user=x'"));
	assert_int_equal(io_rbd_spec_parse("rbd:p/i:conf=", &s, err,
					   sizeof(err)),
			 -EINVAL);
	assert_int_equal(io_rbd_spec_parse("nbd:p/i", &s, err, sizeof(err)),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind),	 cmocka_unit_test(test_nbd_tcp),
		cmocka_unit_test(test_nbd_unix), cmocka_unit_test(test_nbd_bad),
		cmocka_unit_test(test_rbd),
	};

	return cmocka_run_group_tests_name("io specs", tests, NULL, NULL);
}
