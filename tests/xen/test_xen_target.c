/* SPDX-License-Identifier: MIT */
/*
 * vback-xen-target's logic (examples/vback-xen-target/relate.c) on a fake
 * toolstack: names resolve (also once the domain appears), the three
 * steps happen in order with the xenstore key last, a second run for the
 * same pair succeeds, and every refusal is one line naming the cause and
 * the fix.
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

#include "relate.h"

#define MAXD 8

struct fdom {
	bool exists, paused, introduced;
	uint64_t cpu;
	char name[32];
	int target;   /* -1: none */
	char key[16]; /* /local/domain/N/target */
	int key_reader;
};

struct fake {
	struct fdom d[MAXD];
	int xc_error, xs_error;
	unsigned int sleeps;
	int appear_after; /* sleeps until dom 5 appears; -1: never */
	char order[64];	  /* "T" set_target, "S" SET_TARGET, "K" key */
};

static struct fake fk;
static char outbuf[4096], errbuf[4096];
static FILE *out, *err;

static int f_dominfo(void *o, uint16_t id, struct relate_dominfo *i)
{
	(void)o;
	memset(i, 0, sizeof(*i));
	if (fk.xc_error)
		return fk.xc_error;
	if (id < MAXD && fk.d[id].exists) {
		i->exists = true;
		i->paused = fk.d[id].paused;
		i->cpu_time_ns = fk.d[id].cpu;
	}
	return 0;
}

static int f_set_target(void *o, uint16_t be, uint16_t g)
{
	(void)o;
	if (fk.xc_error)
		return fk.xc_error;
	if (be == g || fk.d[be].target >= 0)
		return -EINVAL; /* Xen: once per domain */
	fk.d[be].target = g;
	strcat(fk.order, "T");
	return 0;
}

static int f_xs_set_target(void *o, uint16_t be, uint16_t g)
{
	(void)o;
	(void)be;
	(void)g;
	if (fk.xs_error)
		return fk.xs_error;
	strcat(fk.order, "S");
	return 0;
}

static int f_xs_read(void *o, const char *path, char *buf, size_t size)
{
	unsigned int id;
	char leaf[16];

	(void)o;
	if (sscanf(path, "/local/domain/%u/%15s", &id, leaf) != 2 ||
	    id >= MAXD || !fk.d[id].exists)
		return -ENOENT;
	if (!strcmp(leaf, "name"))
		return snprintf(buf, size, "%s", fk.d[id].name);
	if (!strcmp(leaf, "target") && fk.d[id].key[0])
		return snprintf(buf, size, "%s", fk.d[id].key);
	return -ENOENT;
}

static int f_xs_write_private(void *o, const char *path, const char *value,
			      uint16_t reader)
{
	unsigned int id;

	(void)o;
	if (fk.xs_error)
		return fk.xs_error;
	assert_int_equal(sscanf(path, "/local/domain/%u/target", &id), 1);
	snprintf(fk.d[id].key, sizeof(fk.d[id].key), "%s", value);
	fk.d[id].key_reader = reader;
	strcat(fk.order, "K");
	return 0;
}

static int f_xs_directory(void *o, const char *path, char *buf, size_t size)
{
	size_t used = 0;
	int n = 0;

	(void)o;
	assert_string_equal(path, "/local/domain");
	for (unsigned int i = 0; i < MAXD; i++) {
		if (!fk.d[i].exists)
			continue;
		used += (size_t)snprintf(buf + used, size - used, "%u", i) + 1;
		n++;
	}
	return n;
}

static int f_xs_introduced(void *o, uint16_t id)
{
	(void)o;
	if (fk.xs_error)
		return fk.xs_error;
	return id < MAXD && fk.d[id].exists && fk.d[id].introduced;
}

static void f_sleep(void *o, unsigned int ms)
{
	(void)o;
	assert_int_equal(ms, 100);
	fk.sleeps++;
	if (fk.appear_after >= 0 && fk.sleeps == (unsigned int)fk.appear_after)
		fk.d[5].exists = true;
	/* libxl introduces the domain a little later */
	if (fk.appear_after >= 0 &&
	    fk.sleeps == (unsigned int)fk.appear_after + 3)
		fk.d[5].introduced = true;
}

static const struct relate_ops ops = {
	.dominfo = f_dominfo,
	.set_target = f_set_target,
	.xs_set_target = f_xs_set_target,
	.xs_read = f_xs_read,
	.xs_write_private = f_xs_write_private,
	.xs_directory = f_xs_directory,
	.xs_introduced = f_xs_introduced,
	.sleep_ms = f_sleep,
};

static int setup(void **state)
{
	(void)state;
	memset(&fk, 0, sizeof(fk));
	for (unsigned int i = 0; i < MAXD; i++)
		fk.d[i].target = -1;
	fk.appear_after = -1;
	fk.d[0] = (struct fdom){ true, false, true, 1, "Domain-0", -1, "", 0 };
	fk.d[3] = (struct fdom){ true, false, true, 9, "bk", -1, "", 0 };
	fk.d[5] = (struct fdom){ true, true, true, 0, "guest", -1, "", 0 };
	fk.d[6] = (struct fdom){ true, false, true, 5, "other", -1, "", 0 };
	memset(outbuf, 0, sizeof(outbuf));
	memset(errbuf, 0, sizeof(errbuf));
	out = fmemopen(outbuf, sizeof(outbuf) - 1, "w");
	err = fmemopen(errbuf, sizeof(errbuf) - 1, "w");
	assert_non_null(out);
	assert_non_null(err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fclose(out);
	fclose(err);
	return 0;
}

/* The lines written to @f so far. */
static unsigned int lines(FILE *f, const char *buf)
{
	unsigned int n = 0;

	fflush(f);
	for (const char *p = buf; *p; p++)
		n += *p == '\n';
	return n;
}

static void assert_err(const char *a, const char *b)
{
	assert_int_equal(lines(err, errbuf), 1);
	if (!strstr(errbuf, a) || (b && !strstr(errbuf, b)))
		fail_msg("error line lacks '%s'/'%s': %s", a, b ? b : "",
			 errbuf);
}

static void test_relate(void **state)
{
	uint16_t be = 0, g = 0;

	(void)state;
	assert_int_equal(relate_resolve(&ops, "bk", 0, &be, err), 0);
	assert_int_equal(be, 3);
	assert_int_equal(relate_resolve(&ops, "5", 0, &g, err), 0);
	assert_int_equal(g, 5);
	assert_int_equal(relate(&ops, be, g, 0, out, err), 0);
	assert_int_equal(fk.d[3].target, 5);
	/* The key last, readable by the backend. */
	assert_string_equal(fk.order, "TSK");
	assert_string_equal(fk.d[3].key, "5");
	assert_int_equal(fk.d[3].key_reader, 3);
	assert_int_equal(lines(err, errbuf), 0);
	assert_int_equal(lines(out, outbuf), 3); /* one per step */
	assert_non_null(strstr(outbuf, "dom3 is dom5's device model"));

	/* Again: Xen says EINVAL, the key says it is this guest: fine. */
	assert_int_equal(relate(&ops, 3, 5, 0, out, err), 0);
	fflush(out);
	assert_non_null(strstr(outbuf, "already dom5's device model"));
	assert_int_equal(lines(err, errbuf), 0);
}

static void test_second_guest_refused(void **state)
{
	(void)state;
	assert_int_equal(relate(&ops, 3, 5, 0, out, err), 0);
	fk.d[6].paused = true;
	fk.d[6].cpu = 0;
	assert_int_equal(relate(&ops, 3, 6, 0, out, err), -EINVAL);
	assert_err("has a target already", "another backend domain");
	assert_string_equal(fk.d[3].key, "5");
}

static void test_running_guest_refused(void **state)
{
	(void)state;
	assert_int_equal(relate(&ops, 3, 6, 0, out, err), -EBUSY);
	assert_err("dom6 is running", "xl create -p");
	assert_string_equal(fk.order, "");
}

static void test_bad_pairs(void **state)
{
	(void)state;
	assert_int_equal(relate(&ops, 0, 5, 0, out, err), -EINVAL);
	assert_err("Dom0 needs no target", NULL);
	assert_int_equal(relate(&ops, 5, 5, 0, out, err), -EINVAL);
	assert_int_equal(relate(&ops, 3, 7, 0, out, err), -ESRCH);
	assert_string_equal(fk.order, "");
}

/* Never introduced: one line, and nothing done. */
static void test_not_introduced(void **state)
{
	(void)state;
	fk.d[5].introduced = false;
	assert_int_equal(relate(&ops, 3, 5, 300, out, err), -ENOENT);
	assert_err("does not know dom5 yet", "--wait");
	assert_int_equal(fk.sleeps, 3);
	assert_string_equal(fk.order, "");
}

static void test_not_dom0(void **state)
{
	(void)state;
	fk.xc_error = -EPERM;
	assert_int_equal(relate(&ops, 3, 5, 0, out, err), -EPERM);
	assert_err("in Dom0, as root", NULL);
}

/* A paused guest that ran before: served, with a warning. */
static void test_guest_that_ran(void **state)
{
	(void)state;
	fk.d[5].cpu = 1000;
	assert_int_equal(relate(&ops, 3, 5, 0, out, err), 0);
	assert_err("warning: dom5 has run already", NULL);
	assert_string_equal(fk.order, "TSK");
}

static void test_wait_for_name(void **state)
{
	uint16_t g = 0;

	(void)state;
	fk.d[5].exists = false;
	fk.appear_after = 7;
	fk.d[5].introduced = false;
	assert_int_equal(relate_resolve(&ops, "guest", 2000, &g, err), 0);
	assert_int_equal(g, 5);
	assert_int_equal(fk.sleeps, 7);
	/* SET_TARGET needs the guest introduced: waited for */
	assert_int_equal(relate(&ops, 3, 5, 2000, out, err), 0);
	assert_int_equal(fk.sleeps, 10);
	assert_string_equal(fk.order, "TSK");
	/* and a name that never comes: one line after the wait */
	assert_int_equal(relate_resolve(&ops, "nobody", 500, &g, err), -ENOENT);
	assert_int_equal(fk.sleeps, 15);
	assert_err("no domain named 'nobody'", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_relate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_guest_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_running_guest_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_pairs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_introduced, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_dom0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_that_ran, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_for_name, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
