/* SPDX-License-Identifier: MIT */
/* The Linux platform in a build without the Xen libraries: -ENOTSUP. */
#include <errno.h>

#include <vback/xen.h>

int vback_xen_linux_platform_create(const struct vback_loop *loop,
				    const struct vback_log *log,
				    struct vback_xen_platform **out)
{
	(void)loop;
	(void)log;
	(void)out;
	return -ENOTSUP;
}

void vback_xen_linux_platform_destroy(struct vback_xen_platform *p)
{
	(void)p;
}
