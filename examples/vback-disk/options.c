/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "options.h"
#include "xen_options.h"

void vback_disk_usage(FILE *out, const char *argv0)
{
	fprintf(out,
		"Usage: %s [--domid N --disk SPEC ...] [options]       (Xen)\n"
		"       %s --vhost-user SOCKET --image PATH [options]\n"
		"\n"
		"Serve a disk image or block device to a virtual machine as a\n"
		"virtio-blk device.\n"
		"\n"
		"Transports:\n"
		"  (default)            Xen: serve every virtio disk xl/libxl\n"
		"                       configures in xenstore, for any "
		"domain\n"
		"  --domid N            Xen without xenstore: serve the "
		"--disk\n"
		"                       devices to domain N\n"
		"  --disk SPEC          "
		"path=IMG,base=ADDR,irq=N[,ro][,grants]\n"
		"                       (repeatable, with --domid)\n"
		"  --backend-domid N    the domain vback-disk runs in (default "
		"0)\n"
		"  --vhost-user SOCKET  listen on a vhost-user unix socket\n"
		"                       (QEMU -device vhost-user-blk-pci,\n"
		"                       cloud-hypervisor, crosvm)\n"
		"\n"
		"Disk:\n"
		"  --image PATH         file or block device to serve, or a\n"
		"                       network disk: "
		"nbd://HOST[:PORT]/EXPORT,\n"
		"                       nbd+unix:///EXPORT?socket=PATH or\n"
		"                       "
		"rbd:POOL/IMAGE[@SNAP][:conf=FILE][:id=NAME]\n"
		"  --ro                 read-only disk (Xen: every disk)\n"
		"  --engine NAME        IO engine: posix or io_uring\n"
		"                       (default: io_uring when available);\n"
		"                       network disks pick nbd or rbd\n"
		"  --direct             open the image with O_DIRECT\n"
		"  --queues N           virtqueues offered, 1..64 (default 1)\n"
		"  --queue-size N       largest ring, power of two (default "
		"256)\n"
		"  --serial STRING      device serial, up to 20 bytes "
		"(vhost-user)\n"
		"\n"
		"Other:\n"
		"  --log-level LEVEL    err, warn, info (default) or debug\n"
		"  --syslog             log to syslog instead of stderr\n"
		"  -h, --help           show this help\n"
		"  -V, --version        show the version\n"
		"\n"
		"Signals: SIGTERM/SIGINT stop cleanly, SIGHUP re-reads the "
		"image\n"
		"size and tells the guest about a resize.\n",
		argv0, argv0);
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
		OPT_XEN_DOMID =
			VBACK_DISK_XEN_OPT_BASE + VBACK_DISK_XEN_OPT_DOMID,
		OPT_XEN_DISK =
			VBACK_DISK_XEN_OPT_BASE + VBACK_DISK_XEN_OPT_DISK,
		OPT_XEN_BACKEND = VBACK_DISK_XEN_OPT_BASE +
				  VBACK_DISK_XEN_OPT_BACKEND_DOMID,
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
		{ "domid", required_argument, NULL, OPT_XEN_DOMID },
		{ "disk", required_argument, NULL, OPT_XEN_DISK },
		{ "backend-domid", required_argument, NULL, OPT_XEN_BACKEND },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *argv0 = argc > 0 ? argv[0] : "vback-disk";
	int c;

	*o = (struct vback_disk_options){
		.queues = 1,
		.queue_size = 256,
		.engine = VBACK_IO_ENGINE_DEFAULT,
		.log_level = VBACK_LOG_INFO,
		.domid = -1,
	};
	optind = 1;
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_VHU:
			o->mode = VBACK_DISK_MODE_VHOST_USER;
			o->socket_path = optarg;
			break;
		case OPT_IMAGE:
			o->image = optarg;
			break;
		case OPT_RO:
			o->read_only = true;
			break;
		case OPT_SYSLOG:
			o->syslog = true;
			break;
		case OPT_XEN_DOMID:
		case OPT_XEN_DISK:
		case OPT_XEN_BACKEND:
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
		case OPT_ENGINE:
			if (vback_io_engine_parse(optarg, &o->engine) < 0 ||
			    o->engine == VBACK_IO_ENGINE_MEMORY) {
				fprintf(stderr, "%s: unknown engine '%s'\n",
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
	/* Xen unless --vhost-user was given (xen_options.c). */
	if (vback_disk_xen_finish(o, argv0) != VBACK_DISK_RUN)
		return VBACK_DISK_EXIT_USAGE;
	if (o->mode == VBACK_DISK_MODE_XEN)
		return VBACK_DISK_RUN;
	if (!o->image) {
		fprintf(stderr, "%s: --image PATH is required\n", argv0);
		return VBACK_DISK_EXIT_USAGE;
	}
	return VBACK_DISK_RUN;
}
