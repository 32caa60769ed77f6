/* SPDX-License-Identifier: MIT */
/*
 * The Xen transport's API in a build without the Xen libraries: every entry
 * point exists (so a program links against any libvback) and says -ENOTSUP.
 * vback_xen_parse_u64() is real in every build (transport/xen/parse.c).
 */
#include <errno.h>

#include <vback/xen.h>

int vback_xen_create(const struct vback_xen_options *opts,
		     struct vback_xen **out)
{
	(void)opts;
	(void)out;
	return -ENOTSUP;
}

void vback_xen_destroy(struct vback_xen *xen)
{
	(void)xen;
}

int vback_xen_domain_create(struct vback_xen *xen,
			    const struct vback_xen_domain_options *opts,
			    struct vback_xen_domain **out)
{
	(void)xen;
	(void)opts;
	(void)out;
	return -ENOTSUP;
}

void vback_xen_domain_destroy(struct vback_xen_domain *dom)
{
	(void)dom;
}

uint16_t vback_xen_domain_id(const struct vback_xen_domain *dom)
{
	(void)dom;
	return 0;
}

int vback_xen_device_add(struct vback_xen_domain *dom,
			 const struct vback_xen_device_options *opts,
			 struct vback_xen_device **out)
{
	(void)dom;
	(void)opts;
	(void)out;
	return -ENOTSUP;
}

void vback_xen_device_remove(struct vback_xen_device *xdev)
{
	(void)xdev;
}

int vback_xen_backend_start(struct vback_xen *xen,
			    const struct vback_xen_backend_options *opts,
			    struct vback_xen_backend **out)
{
	(void)xen;
	(void)opts;
	(void)out;
	return -ENOTSUP;
}

void vback_xen_backend_stop(struct vback_xen_backend *be)
{
	(void)be;
}
