/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "ctl_common.h"

static void totals(struct jw *w, const struct vback_blk_stats *s)
{
	jw_key(w, "reads");
	jw_u64(w, s->reads);
	jw_key(w, "writes");
	jw_u64(w, s->writes);
	jw_key(w, "flushes");
	jw_u64(w, s->flushes);
	jw_key(w, "discards");
	jw_u64(w, s->discards);
	jw_key(w, "write_zeroes");
	jw_u64(w, s->write_zeroes);
	jw_key(w, "get_ids");
	jw_u64(w, s->get_ids);
	jw_key(w, "unsupported");
	jw_u64(w, s->unsupported);
	jw_key(w, "io_errors");
	jw_u64(w, s->io_errors);
	jw_key(w, "bytes_read");
	jw_u64(w, s->bytes_read);
	jw_key(w, "bytes_written");
	jw_u64(w, s->bytes_written);
}

static uint64_t requests(const struct vback_blk_stats *s)
{
	return s->reads + s->writes + s->flushes + s->discards +
	       s->write_zeroes + s->get_ids + s->unsupported + s->io_errors;
}

/* Non-empty buckets as [{"lt_us": bound, "count": n}, ...]; the last
 * bucket has no bound (null). */
static void histogram(struct jw *w, const uint64_t *b)
{
	jw_array(w);
	for (unsigned int i = 0; i < VBACK_BLK_LATENCY_BUCKETS; i++) {
		if (!b[i])
			continue;
		jw_object(w);
		jw_key(w, "lt_us");
		if (i == VBACK_BLK_LATENCY_BUCKETS - 1)
			jw_null(w);
		else
			jw_u64(w, 1ull << i);
		jw_key(w, "count");
		jw_u64(w, b[i]);
		jw_object_end(w);
	}
	jw_array_end(w);
}

/* The most queues a virtio-blk device has (vback_blk_options.num_queues). */
#define MAX_QUEUES 64u

/* virtio-blk: the capacity (config offset 0, 512-byte sectors, little
 * endian) and the read-only feature bit (5). */
#define BLK_F_RO 5

void ctl_stats_add(struct vback_blk_stats *to, const struct vback_blk_stats *s)
{
	to->reads += s->reads;
	to->writes += s->writes;
	to->flushes += s->flushes;
	to->discards += s->discards;
	to->write_zeroes += s->write_zeroes;
	to->get_ids += s->get_ids;
	to->unsupported += s->unsupported;
	to->io_errors += s->io_errors;
	to->bytes_read += s->bytes_read;
	to->bytes_written += s->bytes_written;
}

void stats_json_disk(struct jw *w, struct vback_blk *blk,
		     const struct vback_vhu *vhu, stats_queue_fn qstats,
		     void *opaque)
{
	struct vback_dev *dev = vback_blk_dev(blk);
	unsigned int nq = vback_dev_num_queues(dev);
	struct vback_blk_stats st = { 0 };
	uint8_t cap[8];
	uint64_t sectors = 0;
	/* Each queue's counters read once, where they are kept (a round
	 * trip to its thread): the totals are their sums. */
	struct vback_blk_queue_stats qs[MAX_QUEUES];
	unsigned int have = 0;

	if (nq > MAX_QUEUES)
		nq = MAX_QUEUES;
	while (have < nq && qstats(opaque, blk, have, &qs[have]) == 0)
		ctl_stats_add(&st, &qs[have++].req);
	vback_dev_config_read(dev, 0, cap, sizeof(cap));
	for (int i = 7; i >= 0; i--)
		sectors = sectors << 8 | cap[i];
	jw_key(w, "read_only");
	jw_bool(w, (vback_dev_features(dev) >> BLK_F_RO) & 1);
	jw_key(w, "size");
	jw_u64(w, sectors * 512);
	jw_key(w, "queues_max");
	jw_u64(w, nq);
	jw_key(w, "inflight");
	jw_u64(w, vback_dev_inflight(dev));
	jw_key(w, "totals");
	jw_object(w);
	totals(w, &st);
	jw_object_end(w);
	jw_key(w, "queues");
	jw_array(w);
	for (unsigned int q = 0; q < have; q++) {
		struct vback_vhu_queue_stats vs = { 0 };

		if (vhu)
			(void)vback_vhu_get_queue_stats(vhu, q, &vs);
		if (!requests(&qs[q].req) && !qs[q].inflight && !vs.kicks &&
		    !vs.calls)
			continue;
		jw_object(w);
		jw_key(w, "queue");
		jw_u64(w, q);
		if (vhu) {
			jw_key(w, "kicks");
			jw_u64(w, vs.kicks);
			jw_key(w, "calls");
			jw_u64(w, vs.calls);
		}
		jw_key(w, "inflight");
		jw_u64(w, qs[q].inflight);
		totals(w, &qs[q].req);
		jw_key(w, "latency");
		histogram(w, qs[q].latency);
		jw_object_end(w);
	}
	jw_array_end(w);
}

/* As --log-level and the command take it (the sinks print "error"...). */
static const char *level_word(enum vback_log_level level)
{
	switch (level) {
	case VBACK_LOG_ERR:
		return "err";
	case VBACK_LOG_WARN:
		return "warn";
	case VBACK_LOG_INFO:
		return "info";
	case VBACK_LOG_DEBUG:
		return "debug";
	}
	return "?";
}

int ctl_common_resize(struct vback_log *log, struct vback_blk *blk,
		      const char *name, struct jw *w, char *msg)
{
	uint64_t size = 0;
	int ret = vback_blk_refresh_size(blk, &size);

	if (ret < 0) {
		snprintf(msg, CTL_MAX_MSG, "%s: cannot re-read the size: %s",
			 name, vback_strerror(ret));
		return ret;
	}
	if (ret == 1)
		vback_logf(log, VBACK_LOG_INFO,
			   "%s: resized to %llu bytes (control)", name,
			   (unsigned long long)size);
	jw_object(w);
	jw_key(w, "name");
	jw_string(w, name);
	jw_key(w, "size");
	jw_u64(w, size);
	jw_key(w, "changed");
	jw_bool(w, ret == 1);
	jw_object_end(w);
	return 0;
}

int ctl_common_log_level(struct vback_log *log, const struct ctl_request *req,
			 struct jw *w, char *msg)
{
	enum vback_log_level was = log->max_level, level = was;

	if (req->level) {
		if (vback_log_level_parse(req->level, &level) < 0) {
			snprintf(msg, CTL_MAX_MSG,
				 "log-level: '%s' is not err, warn, info or "
				 "debug",
				 req->level);
			return CTL_E_ARGS;
		}
		vback_log_set_level(log, level);
		if (level != was)
			vback_logf(log, VBACK_LOG_INFO,
				   "control: log level %s (was %s)",
				   level_word(level), level_word(was));
	}
	jw_object(w);
	jw_key(w, "level");
	jw_string(w, level_word(level));
	jw_key(w, "was");
	jw_string(w, level_word(was));
	jw_object_end(w);
	return 0;
}
