/* SPDX-License-Identifier: MIT */
/*
 * vback-disk's command line (examples/vback-disk/options.c,
 * xen_options.c and vhu_options.c): the Xen mode is the default,
 * --domid/--disk build the explicit configuration, vhost-user disks come
 * as --vhost-user/--image pairs or --disk socket=..., and every mistake is
 * a usage error.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "options.h"
#include "vhu_options.h"
#include "xen_options.h"

/* Virtio-mmio interrupts are GIC SPIs (32..1019) on Arm, ISA lines on x86:
 * the daemon refuses the other kind, so the tests pick by architecture. */
#if defined(__aarch64__) || defined(__arm__)
#define IRQ_A 33
#define IRQ_B 34
#else
#define IRQ_A 5
#define IRQ_B 6
#endif
#define STR_(x) #x
#define STR(x)	STR_(x)

/* The struct holds the --disk paths: keep it off the test's stack. */
static struct vback_disk_options opts;

/* getopt wants char *; it does not write through them. */
static char *unconst(const char *s)
{
	return (char *)(uintptr_t)s;
}

/* Parse @args (NULL-terminated, without argv[0]); stderr is silenced. */
static enum vback_disk_parse parse(const char *const *args)
{
	char *argv[32];
	int argc = 0;
	enum vback_disk_parse r;
	FILE *saved = stderr;

	argv[argc++] = unconst("vback-disk");
	while (*args)
		argv[argc++] = unconst(*args++);
	argv[argc] = NULL;
	stderr = fopen("/dev/null", "w");
	assert_non_null(stderr);
	vback_disk_options_free(&opts); /* the previous parse's */
	r = vback_disk_parse_options(argc, argv, &opts);
	fclose(stderr);
	stderr = saved;
	return r;
}

#define PARSE(...) parse((const char *const[]){ __VA_ARGS__, NULL })

static void test_default_is_xen_discovery(void **state)
{
	(void)state;
	assert_int_equal(parse((const char *const[]){ NULL }),
			 VBACK_HAVE_XEN ? VBACK_DISK_RUN
					: VBACK_DISK_EXIT_USAGE);
	if (!VBACK_HAVE_XEN)
		return;
	assert_int_equal(opts.mode, VBACK_DISK_MODE_XEN);
	assert_int_equal(opts.domid, -1);
	assert_int_equal(opts.nr_xen_disks, 0);
	assert_int_equal(opts.backend_domid, -1); /* ask xenstore */
	assert_false(opts.syslog);
	assert_false(opts.read_only);
	assert_string_equal(opts.state_dir, "/run/vback-disk");
	assert_int_equal(PARSE("--state-dir", "none"), VBACK_DISK_RUN);
	assert_null(opts.state_dir);
	assert_int_equal(PARSE("--state-dir", "/var/lib/x"), VBACK_DISK_RUN);
	assert_string_equal(opts.state_dir, "/var/lib/x");

	assert_int_equal(PARSE("--engine", "posix", "--direct", "--ro",
			       "--log-level", "debug", "--syslog",
			       "--backend-domid", "2"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.engine, VBACK_IO_ENGINE_POSIX);
	assert_true(opts.direct);
	assert_true(opts.read_only);
	assert_true(opts.syslog);
	assert_int_equal(opts.log_level, VBACK_LOG_DEBUG);
	assert_int_equal(opts.backend_domid, 2);
}

static void test_explicit_disks(void **state)
{
	(void)state;
	if (!VBACK_HAVE_XEN)
		skip();
	assert_int_equal(PARSE("--domid", "12", "--disk",
			       "path=/srv/a.img,base=0x2000000,irq=" STR(IRQ_A),
			       "--disk",
			       "irq=" STR(IRQ_B) ",ro,grants,base=33554944,"
						 "path=/srv/b c.img"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.mode, VBACK_DISK_MODE_XEN);
	assert_int_equal(opts.domid, 12);
	assert_int_equal(opts.nr_xen_disks, 2);
	assert_string_equal(opts.xen_disks[0].path, "/srv/a.img");
	assert_int_equal(opts.xen_disks[0].base, 0x2000000);
	assert_int_equal(opts.xen_disks[0].irq, IRQ_A);
	assert_false(opts.xen_disks[0].read_only);
	assert_false(opts.xen_disks[0].grants);
	assert_string_equal(opts.xen_disks[1].path, "/srv/b c.img");
	assert_int_equal(opts.xen_disks[1].base, 0x2000200);
	assert_int_equal(opts.xen_disks[1].irq, IRQ_B);
	assert_true(opts.xen_disks[1].read_only);
	assert_true(opts.xen_disks[1].grants);
}

/* A leading zero is decimal, as an operator reading "010" means, not C's
 * octal (which read base=033554432 as 7264538). */
static void test_leading_zero_is_decimal(void **state)
{
	(void)state;
	if (!VBACK_HAVE_XEN)
		skip();
	assert_int_equal(PARSE("--domid", "010", "--disk",
			       "path=/a,base=033554432,irq=" STR(IRQ_A)),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.domid, 10);
	assert_int_equal(opts.xen_disks[0].base, 0x2000000);
}

static void test_disk_spec_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"path=/a",				  /* no base */
		"path=/a,base=0x2000000",		  /* no irq */
		"base=0x2000000,irq=" STR(IRQ_A),	  /* no path */
		"path=,base=0x2000000,irq=" STR(IRQ_A),	  /* empty path */
		"path=/a,base=zz,irq=" STR(IRQ_A),	  /* not a number */
		"path=/a,base=0x2000001,irq=" STR(IRQ_A), /* misaligned */
		"path=/a,base=-512,irq=" STR(IRQ_A),	  /* signed */
		"path=/a,base=0x2000000x,irq=" STR(
			IRQ_A), /* trailing garbage */
		"path=/a,base=0x0x2000000,irq=" STR(IRQ_A), /* second 0x */
		"path=/a,base=0x,irq=" STR(IRQ_A),	    /* no digits */
		"path=/a,base=0x 2000000,irq=" STR(IRQ_A),  /* a space */
		"path=/a,base=0xfffffffffffffe00,irq=" STR(
			IRQ_A), /* window overflows */
		"path=/a,base=0x99999999999999999,irq=" STR(
			IRQ_A),			   /* overflows u64 */
		"path=/a,base=0x2000000,irq=",	   /* empty irq */
		"path=/a,base=0x2000000,irq=0",	   /* no such line */
		"path=/a,base=0x2000000,irq=5000", /* too large */
		"path=/a,base=0x2000000,irq=" STR(
			IRQ_A) ",ro=1", /* flag with value */
		"path=/a,base=0x2000000,irq=" STR(
			IRQ_A) ",speed=fast",		       /* unknown key */
		"path=/a,base=0x2000000,irq=" STR(IRQ_A) ",,", /* empty item */
	};
	struct vback_disk_xen_disk d;
	char err[256];
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (vback_disk_xen_parse_disk(bad[i], &d, err, sizeof(err)) !=
		    -EINVAL)
			fail_msg("accepted: '%s'", bad[i]);
		/* One message that says what is wrong. */
		assert_true(strlen(err) > 5);
		assert_null(d.path);
	}
	assert_int_equal(vback_disk_xen_parse_disk(
				 "path=/a,path=/bb,base=0x2000000,irq=" STR(
					 IRQ_A),
				 &d, err, sizeof(err)),
			 0);
	assert_string_equal(d.path, "/bb");
	free(d.path);
}

/* The default queue threads count the CPUs the daemon may run on (its
 * affinity: taskset, CPUAffinity=), not every CPU online. */
static void test_threads_follow_affinity(void **state)
{
	cpu_set_t all, one;
	int cpu = sched_getcpu();
	unsigned int n;

	(void)state;
	assert_true(cpu >= 0);
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	n = (unsigned int)CPU_COUNT(&all);
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a",
			       "--queues", "64"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.threads, n < 64 ? n : 64);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a",
			       "--queues", "64"),
			 VBACK_DISK_RUN);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	assert_int_equal(opts.threads, 1);
}

static void test_usage_errors(void **state)
{
	(void)state;
	/* Unknown option, and the combinations that make no sense. */
	assert_int_equal(PARSE("--frobnicate"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("stray"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--domid", "3"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--disk",
			       "path=/a,base=0x2000000,irq=" STR(IRQ_A)),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--domid", "0", "--disk",
			       "path=/a,base=0x2000000,irq=" STR(IRQ_A)),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--domid", "32752", "--disk",
			       "path=/a,base=0x2000000,irq=" STR(IRQ_A)),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--domid", "x", "--disk",
			       "path=/a,base=0x2000000,irq=" STR(IRQ_A)),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--domid", "3", "--disk",
			       "path=/a,base=0x2000000,irq=" STR(IRQ_A),
			       "--disk",
			       "path=/b,base=0x2000000,irq=" STR(IRQ_B)),
			 VBACK_DISK_EXIT_USAGE); /* same window */
	assert_int_equal(PARSE("--domid", "3", "--disk",
			       "path=/a,base=0x2000000,irq=" STR(IRQ_A),
			       "--disk",
			       "path=/b,base=0x2000200,irq=" STR(IRQ_A)),
			 VBACK_DISK_EXIT_USAGE); /* same irq */
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a", "--domid",
			       "3"),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--image", "/a"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--serial", "abc"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--no-inflight"), VBACK_DISK_EXIT_USAGE);
	/* Xen state: /run/vback-disk unless said otherwise. */
	assert_int_equal(PARSE("--state-dir", "relative/dir"),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a",
			       "--state-dir", "/x"),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--backend-domid", "-1"), VBACK_DISK_EXIT_USAGE);
	/* Engines for an image file only: a network disk's is its image's. */
	assert_int_equal(PARSE("--engine", "memory"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--engine", "nbd"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--engine", "rbd"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--engine", "default"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--engine", "uring", "--read-only"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.engine, VBACK_IO_ENGINE_URING);
	assert_true(opts.read_only);
	/* Queue threads: given, or one per queue up to the CPUs. */
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a",
			       "--threads", "3", "--poll-us", "0"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.threads, 3);
	assert_int_equal(opts.poll_us, 0);
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a"),
			 VBACK_DISK_RUN);
	assert_true(opts.threads >= 1);
	assert_true(opts.threads <=
		    (unsigned int)sysconf(_SC_NPROCESSORS_ONLN));
	assert_int_equal(opts.poll_us, VBACK_DISK_DEFAULT_POLL_US);
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a",
			       "--queues", "1"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.threads, 1);
	assert_int_equal(PARSE("--threads", "65"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--poll-us", "x"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a",
			       "--sqpoll"),
			 VBACK_DISK_RUN);
	assert_true(opts.sqpoll);
	assert_int_equal(opts.net_timeout_ms, 0); /* the IO layer's 30 s */
	/* Network disks' bound: seconds, 1 .. an hour. */
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a",
			       "--net-timeout", "7"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.net_timeout_ms, 7000);
	assert_int_equal(PARSE("--net-timeout", "0"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--net-timeout", "3601"), VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--net-timeout", "1s"), VBACK_DISK_EXIT_USAGE);
	/* The null engine is for benchmarks, but a real choice. */
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a",
			       "--engine", "null"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.engine, VBACK_IO_ENGINE_NULL);
	/* vhost-user still parses as before. */
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.mode, VBACK_DISK_MODE_VHOST_USER);
}

static void test_vhost_user_pairs(void **state)
{
	const struct vback_disk_vhu_disk *d = opts.vhu_disks;

	(void)state;
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.mode, VBACK_DISK_MODE_VHOST_USER);
	assert_int_equal(opts.nr_vhu_disks, 1);
	assert_string_equal(d[0].socket, "/s");
	assert_string_equal(d[0].image, "/a");
	assert_null(d[0].name);
	assert_int_equal(d[0].queues, 0);
	assert_int_equal(opts.queues, 0); /* the mode's default: 64 */
	assert_false(opts.no_inflight);	  /* tracked unless said otherwise */
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a",
			       "--no-inflight"),
			 VBACK_DISK_RUN);
	assert_true(opts.no_inflight);
	/* The old order still works; --serial, --ro, --queues apply. */
	assert_int_equal(PARSE("--image", "/a", "--serial", "SN", "--ro",
			       "--queues", "4", "--vhost-user", "/s"),
			 VBACK_DISK_RUN);
	assert_string_equal(d[0].image, "/a");
	assert_string_equal(d[0].serial, "SN");
	assert_true(opts.read_only);
	assert_int_equal(opts.queues, 4);
	/* Pairs in order, however interleaved. */
	assert_int_equal(PARSE("--image", "/a", "--vhost-user", "/s1",
			       "--vhost-user", "/s2", "--image", "/b",
			       "--vhost-user", "/s3", "--image", "/c"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.nr_vhu_disks, 3);
	assert_string_equal(d[0].socket, "/s1");
	assert_string_equal(d[0].image, "/a");
	assert_string_equal(d[1].socket, "/s2");
	assert_string_equal(d[1].image, "/b");
	assert_string_equal(d[2].socket, "/s3");
	assert_string_equal(d[2].image, "/c");
	assert_null(opts.control);
}

static void test_vhost_user_disk_specs(void **state)
{
	const struct vback_disk_vhu_disk *d = opts.vhu_disks;

	(void)state;
	assert_int_equal(PARSE("--vhost-user", "/s0", "--image", "/i0",
			       "--disk",
			       "socket=/s1,image=/i 1,name=db.1,ro,serial="
			       "12345678901234567890,queues=8",
			       "--disk", "image=/i2,socket=/s2,rw", "--control",
			       "/c"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.mode, VBACK_DISK_MODE_VHOST_USER);
	assert_int_equal(opts.nr_vhu_disks, 3);
	assert_string_equal(d[0].socket, "/s0");
	assert_string_equal(d[1].socket, "/s1");
	assert_string_equal(d[1].image, "/i 1");
	assert_string_equal(d[1].name, "db.1");
	assert_true(d[1].read_only);
	assert_string_equal(d[1].serial, "12345678901234567890");
	assert_int_equal(d[1].queues, 8);
	assert_string_equal(d[2].socket, "/s2");
	assert_string_equal(d[2].image, "/i2");
	assert_false(d[2].read_only);
	assert_null(d[2].name);
	assert_string_equal(opts.control, "/c");
	/* No disk yet: they come over the control socket. */
	assert_int_equal(PARSE("--transport", "vhost-user", "--control", "/c"),
			 VBACK_DISK_RUN);
	assert_int_equal(opts.mode, VBACK_DISK_MODE_VHOST_USER);
	assert_int_equal(opts.nr_vhu_disks, 0);
}

static void test_vhost_user_errors(void **state)
{
	static const char *const bad_specs[] = {
		"socket=/s",			 /* no image */
		"socket=/s,image=",		 /* empty */
		"socket=/s,image=/i,",		 /* trailing comma */
		"socket=/s,,image=/i",		 /* empty item */
		"socket=/s,image=/i,image=/j",	 /* twice */
		"socket=/s,image=/i,ro=1",	 /* flag with a value */
		"socket=/s,image=/i,speed=fast", /* unknown */
		"socket=/s,image=/i,name=-a",	 /* bad name */
		"socket=/s,image=/i,name=a/b",	 /* bad name */
		"socket=/s,image=/i,name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"socket=/s,image=/i,serial=123456789012345678901",
		"socket=/s,image=/i,queues=0",
		"socket=/s,image=/i,queues=65",
		"socket=/s,image=/i,queues=4x",
		"socket=/s,image=/i,queues=-1",
	};
	struct vback_disk_vhu_disk d;
	char err[256], spec[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
		snprintf(spec, sizeof(spec), "%s", bad_specs[i]);
		err[0] = '\0';
		if (vback_disk_vhu_parse_disk(spec, &d, err, sizeof(err)) !=
		    -EINVAL)
			fail_msg("accepted: '%s'", bad_specs[i]);
		assert_true(strlen(err) > 5);
		/* ... and the command line says so. */
		assert_int_equal(PARSE("--disk", bad_specs[i]),
				 VBACK_DISK_EXIT_USAGE);
	}
	/* Pairs that do not pair. */
	assert_int_equal(PARSE("--vhost-user", "/s1", "--vhost-user", "/s2",
			       "--image", "/a"),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--vhost-user", "/s1", "--image", "/a",
			       "--image", "/b"),
			 VBACK_DISK_EXIT_USAGE);
	/* --serial: one disk only. */
	assert_int_equal(PARSE("--vhost-user", "/s1", "--image", "/a",
			       "--vhost-user", "/s2", "--image", "/b",
			       "--serial", "x"),
			 VBACK_DISK_EXIT_USAGE);
	/* One socket, or one name, for two disks. */
	assert_int_equal(PARSE("--vhost-user", "/s", "--image", "/a", "--disk",
			       "socket=/s,image=/b"),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--vhost-user", "/s1", "--image", "/a", "--disk",
			       "socket=/s2,image=/b,name=disk0"),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--disk", "socket=/s1,image=/a,name=x", "--disk",
			       "socket=/s2,image=/b,name=x"),
			 VBACK_DISK_EXIT_USAGE);
	/* Transports that do not mix. */
	assert_int_equal(PARSE("--disk", "socket=/s,image=/a", "--domid", "3"),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--transport", "xen", "--vhost-user", "/s",
			       "--image", "/a"),
			 VBACK_DISK_EXIT_USAGE);
	assert_int_equal(PARSE("--transport", "nfs"), VBACK_DISK_EXIT_USAGE);
	/* No disk and nowhere to add one. */
	assert_int_equal(PARSE("--transport", "vhost-user"),
			 VBACK_DISK_EXIT_USAGE);
	/* Names. */
	assert_true(vback_disk_name_ok("a"));
	assert_true(vback_disk_name_ok("Disk-1_x.2"));
	assert_true(vback_disk_name_ok("0"));
	assert_false(vback_disk_name_ok(""));
	assert_false(vback_disk_name_ok(".a"));
	assert_false(vback_disk_name_ok("a b"));
	assert_false(vback_disk_name_ok("dom3/51712"));
	assert_false(vback_disk_name_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static int free_opts(void **state)
{
	(void)state;
	vback_disk_options_free(&opts);
	return 0;
}

static void test_help_and_version(void **state)
{
	(void)state;
	assert_int_equal(PARSE("--help"), VBACK_DISK_EXIT_OK);
	assert_int_equal(PARSE("-V"), VBACK_DISK_EXIT_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_is_xen_discovery),
		cmocka_unit_test(test_explicit_disks),
		cmocka_unit_test(test_leading_zero_is_decimal),
		cmocka_unit_test(test_disk_spec_errors),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_threads_follow_affinity),
		cmocka_unit_test(test_vhost_user_pairs),
		cmocka_unit_test(test_vhost_user_disk_specs),
		cmocka_unit_test(test_vhost_user_errors),
		cmocka_unit_test(test_help_and_version),
	};

	return cmocka_run_group_tests(tests, NULL, free_opts);
}
