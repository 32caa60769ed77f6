/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user options of the vback-disk command line (options.c hands
 * them over): --vhost-user SOCKET and --image PATH pairs, --disk
 * socket=PATH,image=PATH[,name=NAME][,ro][,serial=S][,queues=N], and
 * the checks of the whole set (pairs complete, names and sockets
 * unique, --serial for one disk only).
 */
#ifndef VBACK_DISK_VHU_OPTIONS_H
#define VBACK_DISK_VHU_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "options.h"

/* True when a --disk text is the vhost-user kind (has a socket= item). */
bool vback_disk_spec_is_vhu(const char *spec);

/*
 * Parse @spec, which is cut up in place (the disk's pointers point into
 * it). 0, or -EINVAL with a message for the user in @err.
 */
int vback_disk_vhu_parse_disk(char *spec, struct vback_disk_vhu_disk *disk,
			      char *err, size_t errlen);

/* A disk name as users may give it (see VBACK_DISK_NAME_MAX). */
bool vback_disk_name_ok(const char *name);

/* --vhost-user SOCKET, --image PATH and --disk socket=...: 0, or -EINVAL
 * after printing one line to stderr. */
int vback_disk_vhu_add_socket(struct vback_disk_options *o, const char *path,
			      const char *argv0);
int vback_disk_vhu_add_image(struct vback_disk_options *o, const char *path,
			     const char *argv0);
int vback_disk_vhu_add_spec(struct vback_disk_options *o, const char *spec,
			    const char *argv0);

/* After the last option, in vhost-user mode: pair the images, apply
 * --serial, check names and sockets. VBACK_DISK_RUN or
 * VBACK_DISK_EXIT_USAGE (message printed). */
enum vback_disk_parse vback_disk_vhu_finish(struct vback_disk_options *o,
					    const char *argv0);

#endif /* VBACK_DISK_VHU_OPTIONS_H */
