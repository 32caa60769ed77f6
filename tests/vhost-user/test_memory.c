/* SPDX-License-Identifier: MIT */
/* The memory table: checks, mapping from fds, both translations. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "memory.h"

#define PAGE 4096u

static int memfd_of(size_t size, uint8_t fill)
{
	int fd = memfd_create("vhu-test", MFD_CLOEXEC);
	uint8_t *p;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	for (size_t i = 0; i < size; i += PAGE)
		memset(p + i, fill + (uint8_t)(i / PAGE), PAGE);
	munmap(p, size);
	return fd;
}

static void test_check(void **state)
{
	struct vhu_region r[2] = {
		{ .gpa = 0, .size = 0x10000, .uaddr = 0x7f0000000000 },
		{ .gpa = 0x100000, .size = 0x10000, .uaddr = 0x7f0000100000 },
	};
	const char *why;

	(void)state;
	assert_int_equal(vhu_memtab_check(r, 2, &why), 0);
	r[1].gpa = 0x8000; /* overlaps region 0 in guest space */
	assert_int_equal(vhu_memtab_check(r, 2, &why), -EINVAL);
	assert_non_null(why);
	r[1].gpa = 0x100000;
	r[1].uaddr = 0x7f000000f000; /* overlaps in user space */
	assert_int_equal(vhu_memtab_check(r, 2, &why), -EINVAL);
	r[1].uaddr = 0x7f0000100000;
	r[1].size = 0;
	assert_int_equal(vhu_memtab_check(r, 2, &why), -EINVAL);
	r[1].size = 0x10000;
	r[1].gpa = UINT64_MAX - 0x100; /* wraps */
	assert_int_equal(vhu_memtab_check(r, 2, &why), -EINVAL);
	r[1].gpa = 0x100000;
	r[1].mmap_offset = UINT64_MAX - 0x100;
	assert_int_equal(vhu_memtab_check(r, 2, &why), -EINVAL);
	assert_int_equal(vhu_memtab_check(r, 9, &why), -EINVAL);
}

static void test_map_and_translate(void **state)
{
	/* Two regions from one file, the second at an unaligned offset
	 * into it, like QEMU's split of low memory. */
	int fd = memfd_of(16 * PAGE, 0x10);
	int fds[2] = { fd, fd };
	struct vhu_region r[2] = {
		{ .gpa = 0,
		  .size = 4 * PAGE,
		  .uaddr = 0x10000,
		  .mmap_offset = 0 },
		{ .gpa = 0x100000,
		  .size = 8 * PAGE - 0x100,
		  .uaddr = 0x40000,
		  .mmap_offset = 8 * PAGE + 0x100 },
	};
	struct vhu_memtab tab = { 0 };
	const char *why;
	uint64_t len, gpa;
	uint8_t *p;

	(void)state;
	assert_int_equal(vhu_memtab_map(&tab, r, fds, 2, NULL, &why), 0);
	assert_int_equal(tab.n, 2);

	len = 100;
	p = vhu_memtab_gpa(&tab, 2 * PAGE + 5, &len);
	assert_non_null(p);
	assert_int_equal(len, 100);
	assert_int_equal(p[0], 0x12); /* page 2 of the file */

	/* A range running past the region end is shortened, not refused. */
	len = 3 * PAGE;
	p = vhu_memtab_gpa(&tab, 3 * PAGE, &len);
	assert_non_null(p);
	assert_int_equal(len, PAGE);

	/* Region 1: guest 0x100000 is file offset 8 pages + 0x100. */
	len = 1;
	p = vhu_memtab_gpa(&tab, 0x100000 + PAGE - 0x100, &len);
	assert_non_null(p);
	assert_int_equal(p[0], 0x19); /* file page 9 */

	/* Holes and the end of memory. */
	len = 1;
	assert_null(vhu_memtab_gpa(&tab, 4 * PAGE, &len));
	len = 1;
	assert_null(vhu_memtab_gpa(&tab, UINT64_MAX, &len));
	len = 0;
	assert_null(vhu_memtab_gpa(&tab, 0, &len));

	/* User addresses (ring addresses) to guest addresses. */
	assert_int_equal(vhu_memtab_uaddr_to_gpa(&tab, 0x10000 + 0x123, &gpa),
			 0);
	assert_int_equal(gpa, 0x123);
	assert_int_equal(vhu_memtab_uaddr_to_gpa(&tab, 0x40010, &gpa), 0);
	assert_int_equal(gpa, 0x100010);
	assert_int_equal(vhu_memtab_uaddr_to_gpa(&tab, 0x10000 + 4 * PAGE,
						 &gpa),
			 -EFAULT);
	assert_int_equal(vhu_memtab_uaddr_to_gpa(&tab, 0, &gpa), -EFAULT);

	vhu_memtab_unmap(&tab);
	assert_int_equal(tab.n, 0);
	len = 1;
	assert_null(vhu_memtab_gpa(&tab, 0, &len));
	close(fd);
}

static void test_region_past_end_of_file(void **state)
{
	int fd = memfd_of(4 * PAGE, 0);
	struct vhu_region r = { .gpa = 0, .size = 8 * PAGE, .uaddr = 0 };
	struct vhu_memtab tab = { 0 };
	const char *why = NULL;

	(void)state;
	/* Touching such a mapping would kill us with SIGBUS. */
	assert_int_equal(vhu_memtab_map(&tab, &r, &fd, 1, NULL, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(tab.n, 0);
	r.size = 4 * PAGE;
	r.mmap_offset = PAGE;
	assert_int_equal(vhu_memtab_map(&tab, &r, &fd, 1, NULL, &why), -EINVAL);
	close(fd);
}

/* The mappings of test memfds this process has now. */
static unsigned int test_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "/memfd:vhu-test") != NULL;
	fclose(f);
	return n;
}

static void test_map_failure_unmaps_all(void **state)
{
	int fd = memfd_of(4 * PAGE, 0);
	int fds[2] = { fd, -1 };
	struct vhu_region r[2] = {
		{ .gpa = 0, .size = PAGE, .uaddr = 0 },
		{ .gpa = PAGE, .size = PAGE, .uaddr = PAGE },
	};
	struct vhu_memtab tab = { 0 };
	const char *why;
	unsigned int before = test_mappings();

	(void)state;
	assert_true(vhu_memtab_map(&tab, r, fds, 2, NULL, &why) < 0);
	assert_int_equal(tab.n, 0);
	/* The first region was mapped before the second failed. */
	assert_int_equal(test_mappings(), before);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_map_and_translate),
		cmocka_unit_test(test_region_past_end_of_file),
		cmocka_unit_test(test_map_failure_unmaps_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
