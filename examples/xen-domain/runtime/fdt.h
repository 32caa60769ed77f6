/* SPDX-License-Identifier: MIT */
/*
 * What the runtime reads from the device tree the toolstack hands the
 * domain (the Devicetree Specification's flattened format; libxl writes
 * /memory, /chosen, /hypervisor and the GIC at the root). Host-testable.
 */
#ifndef XD_FDT_H
#define XD_FDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XD_FDT_MAX_EXT 4

struct xd_boot {
	uint64_t ram_base, ram_size;	   /* the first /memory bank */
	uint64_t initrd_start, initrd_end; /* /chosen; both 0: none */
	char bootargs[128];		   /* /chosen, truncated */
	/* /hypervisor ("xen,xen"): reg 0 is the grant-table window, the
	 * others free space ("extended regions") for foreign mappings */
	bool xen;
	uint64_t gnttab_base, gnttab_size;
	uint64_t ext_base[XD_FDT_MAX_EXT], ext_size[XD_FDT_MAX_EXT];
	unsigned int nr_ext;
	uint32_t evtchn_intid; /* its interrupt, as a GIC INTID (a PPI) */
	/* the GICv3 ("arm,gic-v3"): distributor, first redistributor */
	bool gic_v3;
	uint64_t gicd, gicr;
	uint32_t fdt_size; /* totalsize of the blob */
};

/*
 * Parse the blob at @fdt (at most @max bytes readable). 0, or -EINVAL for
 * a blob that is not a device tree or breaks its own bounds (nothing past
 * them is read). Properties it does not know are skipped.
 */
int xd_fdt_parse(const void *fdt, size_t max, struct xd_boot *b);

#endif /* XD_FDT_H */
