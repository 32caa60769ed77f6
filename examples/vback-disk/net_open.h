/* SPDX-License-Identifier: MIT */
#ifndef VBACK_DISK_NET_OPEN_H
#define VBACK_DISK_NET_OPEN_H

#include <pthread.h>
#include <stdbool.h>

#include <vback/io.h>
#include <vback/loop.h>

/*
 * A network disk opened on a thread of its own: its server may take up to
 * the IO timeout to answer, and the loop meanwhile serves everything else.
 * The thread opens it detached (vback_io_options::detached), then posts
 * the caller's work to @loop; there net_open_join() says how it went and
 * the caller attaches the instance (vback_io_attach()) or closes it.
 * Both modes' adds of network disks use it.
 */
struct net_open {
	struct vback_io_options opts; /* opts.path: the caller's, kept valid */
	const struct vback_loop *loop;
	struct vback_work done;
	pthread_t thread;
	pthread_mutex_t lock; /* the thread's end against a given-up wait */
	bool finished;	      /* under lock: the open returned */
	bool given_up;	      /* under lock: nobody waits for the thread */
	int ret;
	struct vback_io io; /* when ret is 0: open, not attached */
};

/* Start opening @opts->path (detached) on a thread; @done(@opaque) runs on
 * @loop's thread when it ended. Signals stay blocked in the thread (it
 * inherits the mask). 0 or -errno (no thread, nothing to join). */
int net_open_start(struct net_open *no, const struct vback_io_options *opts,
		   const struct vback_loop *loop, vback_work_fn done,
		   void *opaque);
/* In @done: the thread's result, 0 with no->io open (the caller owns it),
 * or -errno. */
int net_open_join(struct net_open *no);
/*
 * Stopping: wait for the thread (at most the IO timeout), drop @done if it
 * was posted, close what was opened; true. Every 100 ms of the wait, and
 * before it, @give_up(@arg) may say to wait no more: then false, and the
 * thread runs on by itself, never touching the loop again, and closes what
 * it opens; @no and the strings its options point to (opts.path, the log)
 * must then stay allocated for good (the process is about to exit).
 */
bool net_open_abandon(struct net_open *no, bool (*give_up)(void *arg),
		      void *arg);
/* The longest net_open_abandon() may wait: the connect's bound, in
 * seconds (vback_io_options::timeout_ms, rounded up). */
unsigned int net_open_bound_s(const struct net_open *no);

#endif /* VBACK_DISK_NET_OPEN_H */
