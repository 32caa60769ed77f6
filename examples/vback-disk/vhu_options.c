/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhu_options.h"

#define SERIAL_MAX 20u

static bool key_is(const char *item, size_t klen, const char *key)
{
	return strlen(key) == klen && !memcmp(item, key, klen);
}

bool vback_disk_spec_is_vhu(const char *spec)
{
	const char *p = spec;

	for (;;) {
		if (!strncmp(p, "socket=", 7))
			return true;
		p = strchr(p, ',');
		if (!p)
			return false;
		p++;
	}
}

bool vback_disk_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > VBACK_DISK_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
			return false;
	}
	return true;
}

int vback_disk_vhu_parse_disk(char *spec, struct vback_disk_vhu_disk *disk,
			      char *err, size_t errlen)
{
	bool seen[6] = { false };
	char *p = spec;

	memset(disk, 0, sizeof(*disk));
	while (*p) {
		size_t len = strcspn(p, ",");
		char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		char *val = eq ? eq + 1 : NULL;
		bool last = p[len] == '\0';
		unsigned int k;

		p[len] = '\0'; /* the item (and its value) end here */
		if (key_is(p, klen, "socket") && val)
			k = 0;
		else if (key_is(p, klen, "image") && val)
			k = 1;
		else if (key_is(p, klen, "name") && val)
			k = 2;
		else if (key_is(p, klen, "serial") && val)
			k = 3;
		else if (key_is(p, klen, "queues") && val)
			k = 4;
		else if (!val &&
			 (key_is(p, klen, "ro") || key_is(p, klen, "rw")))
			k = 5;
		else {
			snprintf(err, errlen,
				 "unknown item '%s' (want socket=PATH,"
				 "image=PATH[,name=NAME][,ro][,serial=S]"
				 "[,queues=N])",
				 p);
			return -EINVAL;
		}
		if (seen[k]) {
			snprintf(err, errlen, "'%.*s' given twice", (int)klen,
				 p);
			return -EINVAL;
		}
		seen[k] = true;
		if (val && !*val) {
			snprintf(err, errlen, "empty %.*s=", (int)klen, p);
			return -EINVAL;
		}
		switch (k) {
		case 0:
			disk->socket = val;
			break;
		case 1:
			disk->image = val;
			break;
		case 2:
			if (!vback_disk_name_ok(val)) {
				snprintf(err, errlen,
					 "bad name '%s': want 1 to %u of "
					 "A-Z a-z 0-9 . _ -, starting with a "
					 "letter or digit",
					 val, VBACK_DISK_NAME_MAX);
				return -EINVAL;
			}
			disk->name = val;
			break;
		case 3:
			if (strlen(val) > SERIAL_MAX) {
				snprintf(err, errlen,
					 "serial: %u bytes at most",
					 SERIAL_MAX);
				return -EINVAL;
			}
			disk->serial = val;
			break;
		case 4: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(val, &end, 10);
			if (errno || *end || val[0] < '0' || val[0] > '9' ||
			    v < 1 || v > 64) {
				snprintf(err, errlen,
					 "bad queues '%s': want 1..64", val);
				return -EINVAL;
			}
			disk->queues = (unsigned int)v;
			break;
		}
		default:
			disk->read_only = p[0] == 'r' && p[1] == 'o';
			break;
		}
		if (last)
			break;
		p += len + 1;
		if (!*p) {
			snprintf(err, errlen, "empty item at the end");
			return -EINVAL;
		}
	}
	if (!disk->socket || !disk->image) {
		snprintf(err, errlen, "%s= is required",
			 disk->socket ? "image" : "socket");
		return -EINVAL;
	}
	return 0;
}

static struct vback_disk_vhu_disk *new_disk(struct vback_disk_options *o,
					    const char *argv0)
{
	if (o->nr_vhu_disks == VBACK_DISK_MAX_VHU_DISKS) {
		fprintf(stderr, "%s: %u vhost-user disks at most\n", argv0,
			VBACK_DISK_MAX_VHU_DISKS);
		return NULL;
	}
	return &o->vhu_disks[o->nr_vhu_disks];
}

int vback_disk_vhu_add_socket(struct vback_disk_options *o, const char *path,
			      const char *argv0)
{
	struct vback_disk_vhu_disk *d = new_disk(o, argv0);

	if (!d)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->socket = path;
	d->from_pair = true;
	o->nr_vhu_disks++;
	return 0;
}

int vback_disk_vhu_add_image(struct vback_disk_options *o, const char *path,
			     const char *argv0)
{
	if (o->nr_images == VBACK_DISK_MAX_VHU_DISKS) {
		fprintf(stderr, "%s: %u --image at most\n", argv0,
			VBACK_DISK_MAX_VHU_DISKS);
		return -EINVAL;
	}
	o->images[o->nr_images++] = path;
	return 0;
}

int vback_disk_vhu_add_spec(struct vback_disk_options *o, const char *spec,
			    const char *argv0)
{
	struct vback_disk_vhu_disk *d = new_disk(o, argv0);
	char err[256], *copy;

	if (!d)
		return -EINVAL;
	copy = strdup(spec);
	if (!copy) {
		fprintf(stderr, "%s: out of memory\n", argv0);
		return -EINVAL;
	}
	if (vback_disk_vhu_parse_disk(copy, d, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: --disk %s: %s\n", argv0, spec, err);
		free(copy);
		memset(d, 0, sizeof(*d));
		return -EINVAL;
	}
	d->owned = copy;
	o->nr_vhu_disks++;
	return 0;
}

/* The name a disk gets: its own, or disk<N> from its place. */
static const char *name_of(const struct vback_disk_options *o, unsigned int i,
			   char *buf, size_t len)
{
	if (o->vhu_disks[i].name)
		return o->vhu_disks[i].name;
	snprintf(buf, len, "disk%u", i);
	return buf;
}

enum vback_disk_parse vback_disk_vhu_finish(struct vback_disk_options *o,
					    const char *argv0)
{
	unsigned int pairs = 0, img = 0, i, j;

	for (i = 0; i < o->nr_vhu_disks; i++)
		pairs += o->vhu_disks[i].from_pair;
	if (pairs != o->nr_images) {
		fprintf(stderr,
			"%s: --vhost-user SOCKET and --image PATH come in "
			"pairs: %u socket%s, %u image%s\n",
			argv0, pairs, pairs == 1 ? "" : "s", o->nr_images,
			o->nr_images == 1 ? "" : "s");
		return VBACK_DISK_EXIT_USAGE;
	}
	for (i = 0; i < o->nr_vhu_disks; i++)
		if (o->vhu_disks[i].from_pair)
			o->vhu_disks[i].image = o->images[img++];
	if (o->serial) {
		if (o->nr_vhu_disks != 1) {
			fprintf(stderr,
				"%s: --serial is for one disk; with several, "
				"give each its own: --disk "
				"socket=PATH,image=PATH,serial=S\n",
				argv0);
			return VBACK_DISK_EXIT_USAGE;
		}
		if (!o->vhu_disks[0].serial)
			o->vhu_disks[0].serial = o->serial;
	}
	for (i = 0; i < o->nr_vhu_disks; i++) {
		char a[16], b[16];

		for (j = 0; j < i; j++) {
			const char *na = name_of(o, i, a, sizeof(a));
			const char *nb = name_of(o, j, b, sizeof(b));

			if (!strcmp(o->vhu_disks[i].socket,
				    o->vhu_disks[j].socket)) {
				fprintf(stderr,
					"%s: socket %s given for two disks\n",
					argv0, o->vhu_disks[i].socket);
				return VBACK_DISK_EXIT_USAGE;
			}
			if (!strcmp(na, nb)) {
				fprintf(stderr,
					"%s: two disks named '%s' (disks "
					"without name= are disk0, disk1, ... "
					"in command-line order)\n",
					argv0, na);
				return VBACK_DISK_EXIT_USAGE;
			}
		}
	}
	return VBACK_DISK_RUN;
}
