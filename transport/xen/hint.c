/* SPDX-License-Identifier: MIT */
/*
 * What to tell a user whose IOREQ server set-up failed: the cause and the
 * fix, in the same log line as the error. Most failures outside Dom0 are
 * a missing or refused relation, and they all read EPERM; which step
 * failed tells them apart:
 *
 *  - XEN_DMOP_nr_vcpus (the first DM op) refused: this domain is not the
 *    guest's device model. Xen's dummy policy lets a domain issue DM ops
 *    only for its target (XEN_DOMCTL_set_target), and a Linux driver
 *    domain's privcmd only for the domain in /local/domain/SELF/target.
 *  - nr_vcpus passed but XEN_DMOP_create_ioreq_server (or the event-channel
 *    bind) refused: the relation is there, and Xen's XSM policy refuses
 *    the event channels the server needs. SILO, the default on Arm,
 *    allows none between two DomUs.
 *
 * Which step failed is read from what domain_setup() got done.
 */
#include "xen_priv.h"

void xen_setup_hint(const struct vback_xen_domain *dom, int err, char *buf,
		    size_t size)
{
	const unsigned int id = dom->domid;
	const bool refused = err == -EPERM || err == -EACCES;

	buf[0] = '\0';
	if (!dom->vcpus) {
		/* nr_vcpus failed */
		if (refused)
			vb_snprintf(buf, size,
				    " (this domain is not dom%u's device "
				    "model: in Dom0, create dom%u paused and "
				    "run 'vback-xen-target THIS-DOMAIN %u' "
				    "before unpausing it; a Linux driver "
				    "domain loads xen-privcmd after that)",
				    id, id, id);
		else if (err == -ESRCH)
			vb_snprintf(buf, size, " (there is no domain %u)", id);
		return;
	}
	if (!dom->created || (dom->enabled && dom->nr_vcpus &&
			      !dom->vcpus[dom->nr_vcpus - 1].bound)) {
		/* create_ioreq_server, or binding a vCPU's port, failed */
		if (refused)
			vb_snprintf(buf, size,
				    " (Xen's XSM policy refuses event channels "
				    "between this domain and dom%u: SILO, the "
				    "default on Arm, allows none between two "
				    "DomUs: boot Xen with xsm=dummy, or load a "
				    "FLASK policy that allows them; "
				    "docs/xen.md)",
				    id);
		else if (!dom->created &&
			 (err == -ENOSYS || err == -EOPNOTSUPP))
			vb_snprintf(buf, size, "%s",
				    " (this hypervisor has no IOREQ servers: "
				    "build it with CONFIG_IOREQ_SERVER=y)");
		else if (!dom->created && err == -ENOSPC)
			vb_snprintf(buf, size,
				    " (dom%u has all the IOREQ servers it may "
				    "have)",
				    id);
	}
}
