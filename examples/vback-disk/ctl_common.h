/* SPDX-License-Identifier: MIT */
/*
 * What both modes' control commands share: a disk's counters as the list
 * command shows them (cumulative counts from which a client computes
 * rates between two lists, each of which says its time_ns; the requests
 * in flight; per queue a latency histogram), and the log-level command.
 */
#ifndef VBACK_DISK_CTL_COMMON_H
#define VBACK_DISK_CTL_COMMON_H

#include <vback/vhost_user.h>
#include <vback/virtio.h>

#include "ctl.h"
#include "json.h"

/* Copy queue @q's counters into *@out, wherever the queue runs (its
 * thread): vback_blk_get_queue_stats() there. 0 or -errno. */
typedef int (*stats_queue_fn)(void *opaque, struct vback_blk *blk,
			      unsigned int q,
			      struct vback_blk_queue_stats *out);

/* Add the counters of @s to *@to. */
void ctl_stats_add(struct vback_blk_stats *to, const struct vback_blk_stats *s);

/*
 * Write the members "read_only", "size" (bytes, as the guest sees it),
 * "queues_max", "inflight", "totals" and "queues" of a disk's object (the
 * caller opened it and may add more). @vhu may be NULL (Xen): the queues
 * then have no kick or call counts. Only queues that carried something
 * are listed, each with its index.
 */
void stats_json_disk(struct jw *w, struct vback_blk *blk,
		     const struct vback_vhu *vhu, stats_queue_fn qstats,
		     void *opaque);

/* The resize command on disk @name, served by @blk: re-read the image's
 * size, tell the guest when it changed, answer {name, size, changed}.
 * 0, or -errno with a message in @msg. */
int ctl_common_resize(struct vback_log *log, struct vback_blk *blk,
		      const char *name, struct jw *w, char *msg);

/* The log-level command on @log (the daemon's sink, shared by every
 * object: the new level applies at once). */
int ctl_common_log_level(struct vback_log *log, const struct ctl_request *req,
			 struct jw *w, char *msg);

#endif /* VBACK_DISK_CTL_COMMON_H */
