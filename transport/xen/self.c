/* SPDX-License-Identifier: MIT */
/*
 * Which domain the backend runs in. xenstore resolves a relative path
 * under the caller's home, /local/domain/SELF/, and the toolstack writes
 * "domid" there for every domain it builds (xen-init-dom0 for Dom0): a
 * driver domain finds its own backend/ tree from it, whatever its id.
 */
#include "xen_priv.h"

int vback_xen_self_domid(struct vback_xen *xen, uint16_t *domid)
{
	const struct vback_xen_store_ops *st;
	char buf[16];
	uint64_t v;
	int ret;

	if (!xen || !domid)
		return -EINVAL;
	st = xen->pf->store;
	if (!st || !st->read)
		return -ENOTSUP;
	ret = st->read(xen->pf->opaque, 0, "domid", buf, sizeof(buf));
	if (ret < 0)
		return ret == -ERANGE ? -EINVAL : ret;
	ret = xen_parse_u64(buf, XEN_DOMID_FIRST_RESERVED - 1, &v);
	if (ret < 0)
		return -EINVAL;
	*domid = (uint16_t)v;
	return 0;
}
