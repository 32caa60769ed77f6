/* SPDX-License-Identifier: MIT */
/*
 * The backend domain's device-tree reader (examples/xen-domain/runtime/
 * fdt.c) on blobs built here the way libxl lays them out: every field the
 * runtime needs, both initrd property sizes, and blobs that break their own
 * bounds. Each blob sits in a buffer of exactly its size (ASan sees a read
 * past it), and every prefix of a good blob is refused or parsed, never
 * overrun.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fdt.h"

/* ---- a small FDT writer ---- */

struct fdtw {
	uint8_t st[4096], str[1024];
	size_t nst, nstr;
};

static void put32(struct fdtw *w, uint32_t v)
{
	w->st[w->nst++] = (uint8_t)(v >> 24);
	w->st[w->nst++] = (uint8_t)(v >> 16);
	w->st[w->nst++] = (uint8_t)(v >> 8);
	w->st[w->nst++] = (uint8_t)v;
}

static void begin(struct fdtw *w, const char *name)
{
	size_t n = strlen(name) + 1;

	put32(w, 1);
	memcpy(w->st + w->nst, name, n);
	w->nst += (n + 3) & ~(size_t)3;
}

static void end(struct fdtw *w)
{
	put32(w, 2);
}

static uint32_t stroff(struct fdtw *w, const char *name)
{
	size_t n = strlen(name) + 1;

	for (size_t i = 0; i < w->nstr;) {
		if (!strcmp((char *)w->str + i, name))
			return (uint32_t)i;
		i += strlen((char *)w->str + i) + 1;
	}
	memcpy(w->str + w->nstr, name, n);
	w->nstr += n;
	return (uint32_t)(w->nstr - n);
}

static void prop(struct fdtw *w, const char *name, const void *v, size_t len)
{
	put32(w, 3);
	put32(w, (uint32_t)len);
	put32(w, stroff(w, name));
	memcpy(w->st + w->nst, v, len);
	w->nst += (len + 3) & ~(size_t)3;
}

static void prop_cells(struct fdtw *w, const char *name, unsigned int n, ...)
{
	uint8_t buf[64];
	va_list ap;

	va_start(ap, n);
	for (unsigned int i = 0; i < n; i++) {
		uint32_t v = va_arg(ap, uint32_t);

		buf[4 * i] = (uint8_t)(v >> 24);
		buf[4 * i + 1] = (uint8_t)(v >> 16);
		buf[4 * i + 2] = (uint8_t)(v >> 8);
		buf[4 * i + 3] = (uint8_t)v;
	}
	va_end(ap);
	prop(w, name, buf, 4 * n);
}

/* The blob, malloc'd to its exact size: header, strings, then the
 * structure block last, so that cutting the blob cuts the structure. */
static uint8_t *finish(struct fdtw *w, size_t *size)
{
	size_t off_str = 40, off_st, total;
	uint8_t *b;

	put32(w, 9); /* END */
	off_st = (off_str + w->nstr + 3) & ~(size_t)3;
	total = off_st + w->nst;
	b = calloc(1, total);
	assert_non_null(b);
	uint32_t h[10] = { 0xd00dfeed,
			   (uint32_t)total,
			   (uint32_t)off_st,
			   (uint32_t)off_str,
			   40,
			   17,
			   16,
			   0,
			   (uint32_t)w->nstr,
			   (uint32_t)w->nst };
	for (int i = 0; i < 10; i++) {
		b[4 * i] = (uint8_t)(h[i] >> 24);
		b[4 * i + 1] = (uint8_t)(h[i] >> 16);
		b[4 * i + 2] = (uint8_t)(h[i] >> 8);
		b[4 * i + 3] = (uint8_t)h[i];
	}
	memcpy(b + off_st, w->st, w->nst);
	memcpy(b + off_str, w->str, w->nstr);
	*size = total;
	return b;
}

/* What libxl 4.17 writes for an Arm DomU (the parts that matter). */
static uint8_t *libxl_tree(size_t *size, bool initrd64)
{
	static struct fdtw w;
	static const char xen[] = "xen,xen-4.17\0xen,xen";

	memset(&w, 0, sizeof(w));
	begin(&w, "");
	prop_cells(&w, "#address-cells", 1, 2);
	prop_cells(&w, "#size-cells", 1, 2);
	begin(&w, "chosen");
	prop(&w, "bootargs", "console=hvc0", 13);
	if (initrd64) {
		prop_cells(&w, "linux,initrd-start", 2, 0, 0x40c00000);
		prop_cells(&w, "linux,initrd-end", 2, 0, 0x41000000);
	} else {
		prop_cells(&w, "linux,initrd-start", 1, 0x40c00000);
		prop_cells(&w, "linux,initrd-end", 1, 0x41000000);
	}
	end(&w);
	begin(&w, "cpus");
	begin(&w, "cpu@0");
	prop_cells(&w, "reg", 1, 0); /* depth 3: ignored */
	end(&w);
	end(&w);
	begin(&w, "interrupt-controller@3001000");
	prop_cells(&w, "reg", 8, 0, 0x03001000, 0, 0x10000, 0, 0x03020000, 0,
		   0x1000000);
	prop(&w, "compatible", "arm,gic-v3", 11);
	end(&w);
	begin(&w, "hypervisor");
	prop(&w, "compatible", xen, sizeof(xen));
	prop_cells(&w, "reg", 12, 0, 0x38000000, 0, 0x1000000, 0, 0x41000000, 0,
		   0xbf000000, 0x2, 0, 0xfe, 0);
	prop_cells(&w, "interrupts", 3, 1, 15, 0xf08);
	end(&w);
	begin(&w, "memory@40000000");
	prop(&w, "device_type", "memory", 7);
	prop_cells(&w, "reg", 4, 0, 0x40000000, 0, 0x1000000);
	end(&w);
	end(&w);
	return finish(&w, size);
}

static void test_libxl_tree(void **state)
{
	struct xd_boot b;
	size_t size;
	uint8_t *blob;

	(void)state;
	for (int r = 0; r < 2; r++) {
		blob = libxl_tree(&size, r == 1);
		assert_int_equal(xd_fdt_parse(blob, size, &b), 0);
		assert_int_equal(b.ram_base, 0x40000000);
		assert_int_equal(b.ram_size, 0x1000000);
		assert_int_equal(b.initrd_start, 0x40c00000);
		assert_int_equal(b.initrd_end, 0x41000000);
		assert_string_equal(b.bootargs, "console=hvc0");
		assert_true(b.xen);
		assert_int_equal(b.gnttab_base, 0x38000000);
		assert_int_equal(b.gnttab_size, 0x1000000);
		assert_int_equal(b.nr_ext, 2);
		assert_int_equal(b.ext_base[0], 0x41000000);
		assert_int_equal(b.ext_size[0], 0xbf000000);
		assert_int_equal(b.ext_base[1], 0x200000000ull);
		assert_int_equal(b.ext_size[1], 0xfe00000000ull);
		assert_int_equal(b.evtchn_intid, 31);
		assert_true(b.gic_v3);
		assert_int_equal(b.gicd, 0x03001000);
		assert_int_equal(b.gicr, 0x03020000);
		assert_int_equal(b.fdt_size, size);
		free(blob);
	}
}

static void poke(uint8_t *b, size_t off, uint32_t v);
static uint32_t peek(const uint8_t *b, size_t off);

/*
 * Every prefix of the structure block, with a header that agrees (so the
 * walker itself must find the end): refused, never read past (ASan).
 * And the whole blob with a smaller readable size: refused by the header.
 */
static void test_truncated(void **state)
{
	struct xd_boot b;
	size_t size;
	uint8_t *blob = libxl_tree(&size, true);
	uint32_t off_st = peek(blob, 8);

	(void)state;
	for (size_t n = off_st; n < size; n++) {
		uint8_t *cut = malloc(n);

		assert_non_null(cut);
		memcpy(cut, blob, n);
		poke(cut, 4, (uint32_t)n);
		poke(cut, 36, (uint32_t)(n - off_st));
		assert_int_equal(xd_fdt_parse(cut, n, &b), -EINVAL);
		free(cut);
	}
	for (size_t n = 0; n < size; n++)
		assert_int_equal(xd_fdt_parse(blob, n, &b), -EINVAL);
	free(blob);
}

/* Set a 32-bit big-endian field of the blob. */
static void poke(uint8_t *b, size_t off, uint32_t v)
{
	b[off] = (uint8_t)(v >> 24);
	b[off + 1] = (uint8_t)(v >> 16);
	b[off + 2] = (uint8_t)(v >> 8);
	b[off + 3] = (uint8_t)v;
}

static uint32_t peek(const uint8_t *b, size_t off)
{
	return (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 |
	       (uint32_t)b[off + 2] << 8 | b[off + 3];
}

static void test_broken_bounds(void **state)
{
	struct xd_boot b;
	size_t size;
	uint32_t st;
	uint8_t *blob;

	(void)state;
	/* magic */
	blob = libxl_tree(&size, true);
	poke(blob, 0, 0xdeadbeef);
	assert_int_equal(xd_fdt_parse(blob, size, &b), -EINVAL);
	free(blob);
	/* structure block running past the blob */
	blob = libxl_tree(&size, true);
	poke(blob, 36, (uint32_t)size);
	assert_int_equal(xd_fdt_parse(blob, size, &b), -EINVAL);
	free(blob);
	/* strings block running past the blob */
	blob = libxl_tree(&size, true);
	poke(blob, 32, 0xffffff00u);
	assert_int_equal(xd_fdt_parse(blob, size, &b), -EINVAL);
	free(blob);
	/* the first property (#address-cells, after the root's BEGIN_NODE
	 * and its empty name) claims a huge length */
	blob = libxl_tree(&size, true);
	st = peek(blob, 8);
	assert_int_equal(peek(blob, st + 8), 3);
	poke(blob, st + 12, 0x7fffffff);
	assert_int_equal(xd_fdt_parse(blob, size, &b), -EINVAL);
	free(blob);
	/* ... or a name outside the strings block */
	blob = libxl_tree(&size, true);
	poke(blob, st + 16, 0x10000);
	assert_int_equal(xd_fdt_parse(blob, size, &b), -EINVAL);
	free(blob);
	/* ... or #address-cells 3 */
	blob = libxl_tree(&size, true);
	poke(blob, st + 20, 3);
	assert_int_equal(xd_fdt_parse(blob, size, &b), -EINVAL);
	free(blob);
	/* an unknown token */
	blob = libxl_tree(&size, true);
	poke(blob, st, 0x77);
	assert_int_equal(xd_fdt_parse(blob, size, &b), -EINVAL);
	free(blob);
}

/* More END_NODEs than nodes, a node left open, no END: refused. */
static void test_bad_structure(void **state)
{
	static struct fdtw w;
	struct xd_boot b;
	size_t size;
	uint8_t *blob;

	(void)state;
	memset(&w, 0, sizeof(w));
	begin(&w, "");
	end(&w);
	end(&w);
	blob = finish(&w, &size);
	assert_int_equal(xd_fdt_parse(blob, size, &b), -EINVAL);
	free(blob);

	/* the root left open */
	memset(&w, 0, sizeof(w));
	begin(&w, "");
	blob = finish(&w, &size);
	assert_int_equal(xd_fdt_parse(blob, size, &b), -EINVAL);
	free(blob);

	/* no END: runs off the block */
	memset(&w, 0, sizeof(w));
	begin(&w, "");
	end(&w);
	blob = finish(&w, &size);
	assert_int_equal(xd_fdt_parse(blob, size, &b), 0);
	poke(blob, size - 4, 4); /* END -> NOP */
	assert_int_equal(xd_fdt_parse(blob, size, &b), -EINVAL);
	free(blob);
}

/* A tree without a Xen node or GIC: parsed, and says so. */
static void test_not_xen(void **state)
{
	static struct fdtw w;
	struct xd_boot b;
	size_t size;
	uint8_t *blob;

	(void)state;
	memset(&w, 0, sizeof(w));
	begin(&w, "");
	begin(&w, "hypervisor");
	prop(&w, "compatible", "kvm", 4);
	prop_cells(&w, "interrupts", 3, 0, 5, 4); /* an SPI: not taken */
	end(&w);
	begin(&w, "interrupt-controller@8000000");
	prop(&w, "compatible", "arm,cortex-a15-gic", 19);
	prop_cells(&w, "reg", 4, 0, 0x8000000, 0, 0x8010000);
	end(&w);
	end(&w);
	blob = finish(&w, &size);
	assert_int_equal(xd_fdt_parse(blob, size, &b), 0);
	assert_false(b.xen);
	assert_false(b.gic_v3);
	assert_int_equal(b.evtchn_intid, 0);
	assert_int_equal(b.ram_size, 0);
	free(blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libxl_tree),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_broken_bounds),
		cmocka_unit_test(test_bad_structure),
		cmocka_unit_test(test_not_xen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
