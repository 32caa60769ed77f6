/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "options.h"
#include "vhu_options.h"
#include "xen_options.h"

void vback_disk_usage(FILE *out, const char *argv0)
{
	fprintf(out,
		"Usage: %s [--domid N --disk SPEC ...] [options]       (Xen)\n"
		"       %s --vhost-user SOCKET --image PATH ... [options]\n"
		"       %s --disk socket=PATH,image=PATH[,...] ... [options]\n"
		"       %s ctl CONTROL-SOCKET COMMAND [ARG=VALUE ...]\n"
		"\n"
		"Serve disk images or block devices to virtual machines as\n"
		"virtio-blk devices.\n"
		"\n"
		"Xen:\n"
		"  (default)            serve every virtio disk xl/libxl\n"
		"                       configures in xenstore, for any "
		"domain\n"
		"  --domid N            serve the --disk devices to domain N,\n"
		"                       not those xenstore configures\n"
		"  --disk SPEC          "
		"path=IMG,base=ADDR,irq=N[,ro|rw][,grants]\n"
		"                       (repeatable, with --domid)\n"
		"  --backend-domid N    the domain vback-disk runs in "
		"(default:\n"
		"                       its own, read from xenstore)\n"
		"  --state-dir DIR      where each discovered disk keeps what "
		"a\n"
		"                       restart needs to take it over "
		"(default\n"
		"                       /run/vback-disk; none: nowhere)\n"
		"\n"
		"vhost-user (QEMU -device vhost-user-blk-pci, "
		"cloud-hypervisor,\n"
		"crosvm), one socket per disk, up to 64 given here:\n"
		"  --vhost-user SOCKET  listen on this unix socket ...\n"
		"  --image PATH         ... and serve this file or block "
		"device,\n"
		"                       or a network disk: "
		"nbd://HOST[:PORT]/EXPORT,\n"
		"                       nbd+unix:///EXPORT?socket=PATH or\n"
		"                       "
		"rbd:POOL/IMAGE[@SNAP][:conf=FILE][:id=NAME]\n"
		"                       (repeatable: the Nth --image goes "
		"with\n"
		"                       the Nth --vhost-user)\n"
		"  --disk socket=PATH,image=PATH[,name=NAME][,ro|rw]\n"
		"         [,serial=S][,queues=N]\n"
		"                       one disk with options of its own\n"
		"  --transport vhost-user|xen\n"
		"                       vhost-user: start without disks (add\n"
		"                       them with --control); xen: the "
		"default\n"
		"                       when no vhost-user disk is given\n"
		"  --no-inflight        do not offer in-flight tracking "
		"(INFLIGHT_SHMFD):\n"
		"                       a restart then loses requests that\n"
		"                       completed out of order (for tests)\n"
		"\n"
		"Disks:\n"
		"  --ro, --read-only    every disk read-only\n"
		"  --engine NAME        IO engine: posix or io_uring (uring)\n"
		"                       (default: io_uring when available);\n"
		"                       network disks pick nbd or rbd; null\n"
		"                       (benchmarks) touches no disk: reads\n"
		"                       return zeroes, the image gives the "
		"size\n"
		"  --net-timeout SECONDS\n"
		"                       network disks: give up a connect or a\n"
		"                       request after this long (1..3600,\n"
		"                       default 30)\n"
		"  --direct             open images with O_DIRECT\n"
		"  --sqpoll             io_uring: a kernel thread per ring "
		"submits\n"
		"                       (no system call per batch; takes a "
		"CPU)\n"
		"  --queues N           most queues a guest may use, 1..64\n"
		"                       (vhost-user default: 64, the "
		"front-end\n"
		"                       picks; Xen default: 1)\n"
		"  --queue-size N       largest ring, power of two (default "
		"256)\n"
		"  --threads N          vhost-user: N queue threads, queue q "
		"of each\n"
		"                       disk on thread q %% N (default: "
		"min(queues,\n"
		"                       CPUs it may run on); 0: all on one "
		"thread)\n"
		"  --poll-us N          busy-poll rings and completions up to "
		"N\n"
		"                       microseconds before sleeping, "
		"adapting\n"
		"                       to the load (default 50; 0: never)\n"
		"  --serial STRING      device serial, up to 20 bytes (one\n"
		"                       vhost-user disk; else serial= per "
		"disk)\n"
		"\n"
		"Other:\n"
		"  --control PATH       control socket (mode 0600): list "
		"disks\n"
		"                       and counters, add, remove, resize, "
		"log\n"
		"                       level; see vback-disk ctl PATH help\n"
		"  --log-level LEVEL    err, warn, info (default) or debug\n"
		"  --syslog             log to syslog instead of stderr\n"
		"  -h, --help           show this help\n"
		"  -V, --version        show the version\n"
		"\n"
		"Signals: SIGTERM/SIGINT stop cleanly, SIGHUP re-reads the "
		"image\n"
		"sizes and tells the guests about a resize.\n",
		argv0, argv0, argv0, argv0);
}

static int parse_uint(const char *s, unsigned int min, unsigned int max,
		      unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

/*
 * --engine: the engines a file or block device can use. The IO layer knows
 * more names (memory, nbd, rbd, default), but a network disk takes its
 * engine from its image and the memory engine serves no image.
 */
static int parse_engine(const char *name, enum vback_io_engine *engine)
{
	if (vback_io_engine_parse(name, engine) < 0)
		return -EINVAL;
	switch (*engine) {
	case VBACK_IO_ENGINE_POSIX:
	case VBACK_IO_ENGINE_URING:
	case VBACK_IO_ENGINE_NULL:
		return 0;
	default:
		*engine = VBACK_IO_ENGINE_DEFAULT;
		return -EINVAL;
	}
}

/* CPUs this process may run on: its affinity mask, else those online. */
static long usable_cpus(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return sysconf(_SC_NPROCESSORS_ONLN);
}

enum vback_disk_parse vback_disk_parse_options(int argc, char **argv,
					       struct vback_disk_options *o)
{
	enum {
		OPT_VHU = 256,
		OPT_IMAGE,
		OPT_RO,
		OPT_ENGINE,
		OPT_QUEUES,
		OPT_QSIZE,
		OPT_LOG,
		OPT_SERIAL,
		OPT_DIRECT,
		OPT_SYSLOG,
		OPT_CONTROL,
		OPT_TRANSPORT,
		OPT_NO_INFLIGHT,
		OPT_POLL_US,
		OPT_SQPOLL,
		OPT_THREADS,
		OPT_NET_TIMEOUT,
		OPT_XEN_DOMID =
			VBACK_DISK_XEN_OPT_BASE + VBACK_DISK_XEN_OPT_DOMID,
		OPT_XEN_DISK =
			VBACK_DISK_XEN_OPT_BASE + VBACK_DISK_XEN_OPT_DISK,
		OPT_XEN_BACKEND = VBACK_DISK_XEN_OPT_BASE +
				  VBACK_DISK_XEN_OPT_BACKEND_DOMID,
		OPT_XEN_STATE_DIR =
			VBACK_DISK_XEN_OPT_BASE + VBACK_DISK_XEN_OPT_STATE_DIR,
	};
	static const struct option longopts[] = {
		{ "vhost-user", required_argument, NULL, OPT_VHU },
		{ "image", required_argument, NULL, OPT_IMAGE },
		{ "ro", no_argument, NULL, OPT_RO },
		{ "read-only", no_argument, NULL, OPT_RO },
		{ "engine", required_argument, NULL, OPT_ENGINE },
		{ "direct", no_argument, NULL, OPT_DIRECT },
		{ "queues", required_argument, NULL, OPT_QUEUES },
		{ "queue-size", required_argument, NULL, OPT_QSIZE },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "syslog", no_argument, NULL, OPT_SYSLOG },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "transport", required_argument, NULL, OPT_TRANSPORT },
		{ "no-inflight", no_argument, NULL, OPT_NO_INFLIGHT },
		{ "poll-us", required_argument, NULL, OPT_POLL_US },
		{ "sqpoll", no_argument, NULL, OPT_SQPOLL },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "net-timeout", required_argument, NULL, OPT_NET_TIMEOUT },
		{ "domid", required_argument, NULL, OPT_XEN_DOMID },
		{ "disk", required_argument, NULL, OPT_XEN_DISK },
		{ "backend-domid", required_argument, NULL, OPT_XEN_BACKEND },
		{ "state-dir", required_argument, NULL, OPT_XEN_STATE_DIR },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *argv0 = argc > 0 ? argv[0] : "vback-disk";
	bool threads_set = false;
	int c;

	memset(o, 0, sizeof(*o));
	*o = (struct vback_disk_options){
		.queue_size = 256,
		.poll_us = VBACK_DISK_DEFAULT_POLL_US,
		.engine = VBACK_IO_ENGINE_DEFAULT,
		.log_level = VBACK_LOG_INFO,
		.domid = -1,
		.backend_domid = -1,
		.state_dir = VBACK_DISK_STATE_DIR,
	};
	optind = 1;
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_VHU:
			o->mode = VBACK_DISK_MODE_VHOST_USER;
			if (vback_disk_vhu_add_socket(o, optarg, argv0) < 0)
				return VBACK_DISK_EXIT_USAGE;
			break;
		case OPT_IMAGE:
			if (vback_disk_vhu_add_image(o, optarg, argv0) < 0)
				return VBACK_DISK_EXIT_USAGE;
			break;
		case OPT_CONTROL:
			o->control = optarg;
			break;
		case OPT_TRANSPORT:
			if (!strcmp(optarg, "vhost-user")) {
				o->transport = VBACK_DISK_MODE_VHOST_USER;
			} else if (!strcmp(optarg, "xen")) {
				o->transport = VBACK_DISK_MODE_XEN;
			} else {
				fprintf(stderr,
					"%s: --transport wants xen or "
					"vhost-user\n",
					argv0);
				return VBACK_DISK_EXIT_USAGE;
			}
			break;
		case OPT_RO:
			o->read_only = true;
			break;
		case OPT_SYSLOG:
			o->syslog = true;
			break;
		case OPT_NO_INFLIGHT:
			o->no_inflight = true;
			break;
		case OPT_XEN_DISK:
			if (vback_disk_spec_is_vhu(optarg)) {
				o->mode = VBACK_DISK_MODE_VHOST_USER;
				if (vback_disk_vhu_add_spec(o, optarg, argv0) <
				    0)
					return VBACK_DISK_EXIT_USAGE;
				break;
			}
			if (vback_disk_xen_option(o, VBACK_DISK_XEN_OPT_DISK,
						  optarg, argv0) < 0)
				return VBACK_DISK_EXIT_USAGE;
			break;
		case OPT_XEN_DOMID:
		case OPT_XEN_BACKEND:
		case OPT_XEN_STATE_DIR:
			if (vback_disk_xen_option(
				    o,
				    (enum vback_disk_xen_opt)(
					    c - VBACK_DISK_XEN_OPT_BASE),
				    optarg, argv0) < 0)
				return VBACK_DISK_EXIT_USAGE;
			break;
		case OPT_DIRECT:
			o->direct = true;
			break;
		case OPT_SQPOLL:
			o->sqpoll = true;
			break;
		case OPT_THREADS:
			if (parse_uint(optarg, 0, 64, &o->threads) < 0) {
				fprintf(stderr, "%s: --threads wants 0..64\n",
					argv0);
				return VBACK_DISK_EXIT_USAGE;
			}
			threads_set = true;
			break;
		case OPT_ENGINE:
			if (parse_engine(optarg, &o->engine) < 0) {
				fprintf(stderr,
					"%s: unknown engine '%s' (posix, "
					"io_uring or null; a network disk's "
					"comes from its image: nbd://, rbd:)\n",
					argv0, optarg);
				return VBACK_DISK_EXIT_USAGE;
			}
			break;
		case OPT_QUEUES:
			if (parse_uint(optarg, 1, 64, &o->queues) < 0) {
				fprintf(stderr, "%s: --queues wants 1..64\n",
					argv0);
				return VBACK_DISK_EXIT_USAGE;
			}
			break;
		case OPT_POLL_US:
			if (parse_uint(optarg, 0, VBACK_DISK_MAX_POLL_US,
				       &o->poll_us) < 0) {
				fprintf(stderr, "%s: --poll-us wants 0..%u\n",
					argv0, VBACK_DISK_MAX_POLL_US);
				return VBACK_DISK_EXIT_USAGE;
			}
			break;
		case OPT_NET_TIMEOUT: {
			unsigned int secs;

			if (parse_uint(optarg, 1, 3600, &secs) < 0) {
				fprintf(stderr,
					"%s: --net-timeout wants seconds, "
					"1..3600\n",
					argv0);
				return VBACK_DISK_EXIT_USAGE;
			}
			o->net_timeout_ms = secs * 1000u;
			break;
		}
		case OPT_QSIZE:
			if (parse_uint(optarg, 1, 32768, &o->queue_size) < 0 ||
			    (o->queue_size & (o->queue_size - 1))) {
				fprintf(stderr,
					"%s: --queue-size wants a power of two "
					"up to 32768\n",
					argv0);
				return VBACK_DISK_EXIT_USAGE;
			}
			break;
		case OPT_SERIAL:
			if (strlen(optarg) > 20) {
				fprintf(stderr,
					"%s: --serial: 20 bytes at most\n",
					argv0);
				return VBACK_DISK_EXIT_USAGE;
			}
			o->serial = optarg;
			break;
		case OPT_LOG:
			if (vback_log_level_parse(optarg, &o->log_level) < 0) {
				fprintf(stderr, "%s: unknown log level '%s'\n",
					argv0, optarg);
				return VBACK_DISK_EXIT_USAGE;
			}
			break;
		case 'h':
			vback_disk_usage(stdout, argv0);
			return VBACK_DISK_EXIT_OK;
		case 'V':
			printf("vback-disk %s (libvback %s)\n", VBACK_VERSION,
			       vback_version());
			return VBACK_DISK_EXIT_OK;
		default:
			/* getopt said what was wrong; one line, not a page. */
			fprintf(stderr, "Try '%s --help'.\n", argv0);
			return VBACK_DISK_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv0,
			argv[optind]);
		return VBACK_DISK_EXIT_USAGE;
	}
	if (!threads_set) {
		/* One thread per queue a guest may use, up to the CPUs we may
		 * run on (taskset, systemd's CPUAffinity=, a cpuset): more
		 * threads than those only take turns. */
		long cpus = usable_cpus();
		unsigned int queues = o->queues ? o->queues : 64;

		if (cpus < 1)
			cpus = 1;
		o->threads = (unsigned int)cpus < queues ? (unsigned int)cpus
							 : queues;
	}
	if (o->transport == VBACK_DISK_MODE_VHOST_USER)
		o->mode = VBACK_DISK_MODE_VHOST_USER;
	if (o->transport == VBACK_DISK_MODE_XEN &&
	    o->mode == VBACK_DISK_MODE_VHOST_USER) {
		fprintf(stderr,
			"%s: --transport xen, but vhost-user disks given\n",
			argv0);
		return VBACK_DISK_EXIT_USAGE;
	}
	/* Xen unless a vhost-user disk was given (xen_options.c). */
	if (vback_disk_xen_finish(o, argv0) != VBACK_DISK_RUN)
		return VBACK_DISK_EXIT_USAGE;
	if (o->mode == VBACK_DISK_MODE_XEN)
		return VBACK_DISK_RUN;
	if (!o->nr_vhu_disks && !o->nr_images && !o->transport) {
		fprintf(stderr, "%s: --image PATH is required\n", argv0);
		return VBACK_DISK_EXIT_USAGE;
	}
	if (!o->nr_vhu_disks && !o->control && !o->nr_images) {
		fprintf(stderr,
			"%s: --transport vhost-user without disks needs "
			"--control PATH to add them\n",
			argv0);
		return VBACK_DISK_EXIT_USAGE;
	}
	return vback_disk_vhu_finish(o, argv0);
}

void vback_disk_options_free(struct vback_disk_options *o)
{
	for (unsigned int i = 0; i < o->nr_vhu_disks; i++) {
		free(o->vhu_disks[i].owned);
		o->vhu_disks[i].owned = NULL;
	}
	for (unsigned int i = 0; i < o->nr_xen_disks; i++) {
		free(o->xen_disks[i].path);
		o->xen_disks[i].path = NULL;
	}
}
