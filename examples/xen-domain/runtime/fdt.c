/* SPDX-License-Identifier: MIT */
/*
 * A flattened device tree reader for the few nodes the runtime needs
 * (Devicetree Specification v0.4, chapter 5): a header of big-endian
 * 32-bit fields, a structure block of tokens (BEGIN_NODE name, PROP len
 * nameoff value, END_NODE, NOP, END), and a strings block. Every offset
 * and length is checked against the blob before it is used.
 */
#include <errno.h>
#include <string.h>

#include "fdt.h"

/* strlen, but never past @max (C11 has no strnlen). */
static size_t bounded_len(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

#define FDT_MAGIC      0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE   2u
#define FDT_PROP       3u
#define FDT_NOP	       4u
#define FDT_END	       9u

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* @cells (1 or 2) big-endian cells at @p. */
static uint64_t cells(const uint8_t *p, uint32_t n)
{
	return n == 2 ? (uint64_t)be32(p) << 32 | be32(p + 4) : be32(p);
}

/* Does the string list @v (@len bytes) contain @s? */
static bool has_string(const uint8_t *v, uint32_t len, const char *s)
{
	size_t n = strlen(s) + 1;

	for (uint32_t i = 0; i < len;) {
		size_t l = bounded_len((const char *)v + i, len - i);

		if (l + 1 == n && !memcmp(v + i, s, n))
			return true;
		i += (uint32_t)l + 1;
	}
	return false;
}

/* Does node name @name (at depth 1) start with @base, then '@' or end? */
static bool is_node(const char *name, const char *base)
{
	size_t n = strlen(base);

	return !strncmp(name, base, n) && (name[n] == '\0' || name[n] == '@');
}

enum node { N_OTHER, N_MEMORY, N_CHOSEN, N_HYPERVISOR, N_GIC };

struct walk {
	const uint8_t *blob;
	uint32_t size;
	uint32_t addr_cells, size_cells; /* of the root */
	/* the GIC's compatible may come after its reg: keep the reg */
	uint64_t reg[4];
	uint32_t nreg;
	bool gic_compat;
};

static void prop(struct walk *w, struct xd_boot *b, enum node node,
		 const char *name, const uint8_t *v, uint32_t len)
{
	uint32_t ac = w->addr_cells, sc = w->size_cells;
	uint32_t entry = (ac + sc) * 4;

	switch (node) {
	case N_MEMORY:
		if (!strcmp(name, "reg") && len >= entry && !b->ram_size) {
			b->ram_base = cells(v, ac);
			b->ram_size = cells(v + ac * 4, sc);
		}
		break;
	case N_CHOSEN:
		if (!strcmp(name, "linux,initrd-start") &&
		    (len == 4 || len == 8))
			b->initrd_start = cells(v, len / 4);
		else if (!strcmp(name, "linux,initrd-end") &&
			 (len == 4 || len == 8))
			b->initrd_end = cells(v, len / 4);
		else if (!strcmp(name, "bootargs") && len) {
			size_t n = bounded_len((const char *)v, len);

			if (n >= sizeof(b->bootargs))
				n = sizeof(b->bootargs) - 1;
			memcpy(b->bootargs, v, n);
			b->bootargs[n] = '\0';
		}
		break;
	case N_HYPERVISOR:
		if (!strcmp(name, "compatible")) {
			b->xen = has_string(v, len, "xen,xen");
		} else if (!strcmp(name, "reg") && len >= entry) {
			b->gnttab_base = cells(v, ac);
			b->gnttab_size = cells(v + ac * 4, sc);
			for (uint32_t off = entry;
			     off + entry <= len && b->nr_ext < XD_FDT_MAX_EXT;
			     off += entry) {
				b->ext_base[b->nr_ext] = cells(v + off, ac);
				b->ext_size[b->nr_ext] =
					cells(v + off + ac * 4, sc);
				b->nr_ext++;
			}
		} else if (!strcmp(name, "interrupts") && len >= 12 &&
			   be32(v) == 1 && be32(v + 4) < 16) {
			b->evtchn_intid = 16 + be32(v + 4); /* a PPI */
		}
		break;
	case N_GIC:
		if (!strcmp(name, "compatible")) {
			w->gic_compat = has_string(v, len, "arm,gic-v3");
		} else if (!strcmp(name, "reg") && len >= 2 * entry) {
			w->reg[0] = cells(v, ac);
			w->reg[1] = cells(v + entry, ac);
			w->nreg = 2;
		}
		break;
	case N_OTHER:
		break;
	}
}

int xd_fdt_parse(const void *fdt, size_t max, struct xd_boot *out)
{
	const uint8_t *p = fdt;
	struct xd_boot b = { 0 };
	struct walk w = { .blob = p, .addr_cells = 2, .size_cells = 1 };
	uint32_t off_struct, size_struct, off_strings, size_strings, pos, end;
	enum node node = N_OTHER;
	int depth = 0;

	if (max < 40 || be32(p) != FDT_MAGIC)
		return -EINVAL;
	w.size = be32(p + 4);
	off_struct = be32(p + 8);
	off_strings = be32(p + 12);
	size_strings = be32(p + 32);
	size_struct = be32(p + 36);
	if (w.size > max || w.size < 40 || off_struct > w.size ||
	    size_struct > w.size - off_struct || off_strings > w.size ||
	    size_strings > w.size - off_strings || off_struct % 4)
		return -EINVAL;
	b.fdt_size = w.size;
	pos = off_struct;
	end = off_struct + size_struct;
	for (;;) {
		uint32_t tok;

		if (end - pos < 4)
			return -EINVAL;
		tok = be32(p + pos);
		pos += 4;
		if (tok == FDT_END) {
			if (depth != 0) /* a node left open */
				return -EINVAL;
			break;
		}
		if (tok == FDT_NOP)
			continue;
		if (tok == FDT_BEGIN_NODE) {
			const char *name = (const char *)p + pos;
			size_t n = bounded_len(name, end - pos);

			if (n == end - pos)
				return -EINVAL;
			pos += ((uint32_t)n + 1 + 3) & ~3u;
			if (pos > end)
				return -EINVAL;
			depth++;
			if (depth == 2) {
				node = is_node(name, "memory")	 ? N_MEMORY
				       : is_node(name, "chosen") ? N_CHOSEN
				       : is_node(name, "hypervisor")
					       ? N_HYPERVISOR
				       : is_node(name, "interrupt-controller")
					       ? N_GIC
					       : N_OTHER;
				w.nreg = 0;
				w.gic_compat = false;
			}
			continue;
		}
		if (tok == FDT_END_NODE) {
			if (depth == 2 && node == N_GIC && w.gic_compat &&
			    w.nreg == 2 && !b.gic_v3) {
				b.gic_v3 = true;
				b.gicd = w.reg[0];
				b.gicr = w.reg[1];
			}
			if (--depth < 0)
				return -EINVAL;
			if (depth < 2)
				node = N_OTHER;
			continue;
		}
		if (tok == FDT_PROP) {
			uint32_t len, nameoff;
			const char *name;

			if (end - pos < 8)
				return -EINVAL;
			len = be32(p + pos);
			nameoff = be32(p + pos + 4);
			pos += 8;
			if (len > end - pos || nameoff >= size_strings ||
			    bounded_len((const char *)p + off_strings + nameoff,
					size_strings - nameoff) ==
				    size_strings - nameoff)
				return -EINVAL;
			name = (const char *)p + off_strings + nameoff;
			if (depth == 1 && len == 4 &&
			    !strcmp(name, "#address-cells"))
				w.addr_cells = be32(p + pos);
			else if (depth == 1 && len == 4 &&
				 !strcmp(name, "#size-cells"))
				w.size_cells = be32(p + pos);
			else if (depth == 2)
				prop(&w, &b, node, name, p + pos, len);
			if (w.addr_cells < 1 || w.addr_cells > 2 ||
			    w.size_cells < 1 || w.size_cells > 2)
				return -EINVAL;
			pos += (len + 3) & ~3u;
			if (pos > end)
				return -EINVAL;
			continue;
		}
		return -EINVAL;
	}
	*out = b;
	return 0;
}
