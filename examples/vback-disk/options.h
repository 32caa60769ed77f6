/* SPDX-License-Identifier: MIT */
/* vback-disk command line: one struct for every mode. */
#ifndef VBACK_DISK_OPTIONS_H
#define VBACK_DISK_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <vback/base.h>
#include <vback/io.h>

enum vback_disk_mode {
	VBACK_DISK_MODE_NONE = 0,
	VBACK_DISK_MODE_VHOST_USER,
	VBACK_DISK_MODE_XEN, /* the default: xenstore discovery or --domid */
};

/* One --disk of the explicit Xen mode (xen_options.c parses it). */
#define VBACK_DISK_MAX_XEN_DISKS 32
struct vback_disk_xen_disk {
	char path[4096];
	uint64_t base; /* guest-physical base of the virtio-mmio window */
	uint32_t irq;  /* SPI (Arm) or ISA IRQ (x86) */
	bool read_only;
	bool grants;
};

struct vback_disk_options {
	enum vback_disk_mode mode;
	const char *socket_path; /* --vhost-user */
	const char *image;	 /* --image */
	unsigned int queues;	 /* --queues, 1..64 */
	unsigned int queue_size; /* --queue-size, power of two */
	bool read_only;		 /* --ro */
	bool direct;		 /* --direct (O_DIRECT) */
	enum vback_io_engine engine;
	enum vback_log_level log_level;
	const char *serial; /* --serial */
	bool syslog;	    /* --syslog: log to syslog, not stderr */
	/* Xen mode (xen_options.c) */
	int domid;		    /* --domid; -1: discover from xenstore */
	unsigned int backend_domid; /* --backend-domid (default 0) */
	unsigned int nr_xen_disks;
	struct vback_disk_xen_disk xen_disks[VBACK_DISK_MAX_XEN_DISKS];
};

/* Outcome of parsing: run, exit successfully (help, version), or fail. */
enum vback_disk_parse {
	VBACK_DISK_RUN = 0,
	VBACK_DISK_EXIT_OK = 1,
	VBACK_DISK_EXIT_USAGE = 2,
};

enum vback_disk_parse vback_disk_parse_options(int argc, char **argv,
					       struct vback_disk_options *o);
void vback_disk_usage(FILE *out, const char *argv0);

#endif /* VBACK_DISK_OPTIONS_H */
