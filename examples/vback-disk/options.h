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
	/* The image (heap; vback_disk_options_free() frees it): a path per
	 * disk, not a PATH_MAX buffer per slot, so that 32 empty slots do
	 * not cost 128 KiB of every daemon's resident memory. */
	char *path;
	uint64_t base; /* guest-physical base of the virtio-mmio window */
	uint32_t irq;  /* SPI (Arm) or ISA IRQ (x86) */
	bool read_only;
	bool grants;
};

/*
 * One disk of the vhost-user mode (vhu_options.c parses them): from a
 * --vhost-user SOCKET / --image PATH pair, from --disk
 * socket=PATH,image=PATH[,...], or from the control socket's add.
 */
#define VBACK_DISK_MAX_VHU_DISKS 64
/* Disk names: 1 .. 32 of [A-Za-z0-9._-], starting with a letter or digit. */
#define VBACK_DISK_NAME_MAX 32
struct vback_disk_vhu_disk {
	const char *socket; /* the vhost-user socket */
	const char *image;  /* the file or block device */
	const char *name;   /* NULL: "disk<N>", N its place (from 0) */
	const char *serial; /* NULL: none; up to 20 bytes */
	bool read_only;
	unsigned int queues; /* most queues; 0: --queues, else 64 */
	bool from_pair;	     /* --vhost-user: its --image comes apart */
	char *owned;	     /* the --disk text the pointers point into */
};

struct vback_disk_options {
	enum vback_disk_mode mode;
	/* --transport: the mode without a disk to tell (an empty
	 * vhost-user daemon that gets its disks over --control). */
	enum vback_disk_mode transport;
	unsigned int nr_vhu_disks;
	struct vback_disk_vhu_disk vhu_disks[VBACK_DISK_MAX_VHU_DISKS];
	unsigned int nr_images; /* --image, paired in order at the end */
	const char *images[VBACK_DISK_MAX_VHU_DISKS];
	const char *control;	 /* --control: the control socket */
	unsigned int queues;	 /* --queues, 1..64; 0: the mode's default */
	unsigned int queue_size; /* --queue-size, power of two */
	/* --poll-us: busy-poll rings and completions for up to this many
	 * microseconds before sleeping (adaptive); 0: never. */
	unsigned int poll_us;
	/* --threads: queue threads of the vhost-user mode, each running the
	 * queues q with q % threads == its index, of every disk; 0: every
	 * queue on the main loop. Default: min(queues, CPUs in the affinity
	 * mask). */
	unsigned int threads;
	bool read_only; /* --ro */
	bool direct;	/* --direct (O_DIRECT) */
	bool sqpoll;	/* --sqpoll: io_uring submission thread */
	/* --net-timeout: NBD and RBD disks, the bound on a connect and on a
	 * request, in ms (vback_io_options::timeout_ms); 0: the IO layer's
	 * default (30 s). */
	unsigned int net_timeout_ms;
	enum vback_io_engine engine;
	enum vback_log_level log_level;
	const char *serial; /* --serial (one disk only) */
	bool syslog;	    /* --syslog: log to syslog, not stderr */
	bool no_inflight;   /* --no-inflight (vhost-user) */
	/* Xen mode (xen_options.c) */
	int domid; /* --domid; -1: discover from xenstore */
	/* --backend-domid; -1 (default): this domain, from xenstore */
	int backend_domid;
	/* --state-dir: where devices keep what a restart needs to take
	 * them over; NULL: nowhere ("none"). */
	const char *state_dir;
	bool state_dir_set; /* given on the command line */
	unsigned int nr_xen_disks;
	struct vback_disk_xen_disk xen_disks[VBACK_DISK_MAX_XEN_DISKS];
};

/* --poll-us when not given (measured: docs/daemon.md, "Polling"). */
#define VBACK_DISK_DEFAULT_POLL_US 50u
/* Most --poll-us: a loop that polls longer holds a CPU for nothing. */
#define VBACK_DISK_MAX_POLL_US 10000u

/* Outcome of parsing: run, exit successfully (help, version), or fail. */
enum vback_disk_parse {
	VBACK_DISK_RUN = 0,
	VBACK_DISK_EXIT_OK = 1,
	VBACK_DISK_EXIT_USAGE = 2,
};

/* Parse the command line into *@o (overwritten). Release it with
 * vback_disk_options_free(), also after a failed parse. */
enum vback_disk_parse vback_disk_parse_options(int argc, char **argv,
					       struct vback_disk_options *o);
/* Free what parsing allocated (the --disk texts); @o stays readable for
 * everything else. */
void vback_disk_options_free(struct vback_disk_options *o);
void vback_disk_usage(FILE *out, const char *argv0);

#endif /* VBACK_DISK_OPTIONS_H */
