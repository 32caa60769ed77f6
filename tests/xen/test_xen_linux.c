/* SPDX-License-Identifier: MIT */
/*
 * The Linux platform loads the Xen libraries when it is first created, not
 * when the program starts (transport/xen/linux_lib.h): before, none is
 * mapped; after a create (which fails here, with no privcmd, or succeeds
 * in a Xen domain), every one is, and a second create does not load them
 * again. The test links no Xen library itself.
 */
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <vback/epoll.h>
#include <vback/xen.h>

static const char *const libs[] = {
	"libxenevtchn.so.1",
	"libxenforeignmemory.so.1",
	"libxengnttab.so.1",
	"libxendevicemodel.so.1",
};

/* Mapped in this process? (RTLD_NOLOAD: never loads it.) */
static bool mapped(const char *soname)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);

	if (!h)
		return false;
	dlclose(h); /* the reference NOLOAD took */
	return true;
}

static void create_once(struct vback_loop *loop)
{
	struct vback_xen_platform *pf = NULL;
	int ret = vback_xen_linux_platform_create(loop, NULL, &pf);

	/* Not in a Xen domain: the library that found no device says so;
	 * never -ENOTSUP (that would mean it could not load them). */
	assert_int_not_equal(ret, -ENOTSUP);
	if (ret == 0)
		vback_xen_linux_platform_destroy(pf);
	else
		assert_true(ret < 0);
}

static void test_loaded_on_first_use(void **state)
{
	struct vback_loop *loop;

	(void)state;
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++)
		assert_false(mapped(libs[i]));
	assert_int_equal(vback_epoll_loop_create(NULL, &loop), 0);
	create_once(loop);
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++)
		assert_true(mapped(libs[i]));
	/* Loaded once: a second platform finds the table filled. */
	create_once(loop);
	vback_epoll_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loaded_on_first_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
