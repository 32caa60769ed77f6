/* SPDX-License-Identifier: MIT */
/**
 * @file vback/vhost_user.h
 * @brief The vhost-user transport: serves one virtio device
 * (struct vback_dev) to a vhost-user front-end (QEMU, cloud-hypervisor,
 * crosvm, ...) over a unix stream socket, as the back-end of QEMU's
 * docs/interop/vhost-user.rst.
 *
 * What it does:
 *  - listens on a socket path (or serves an already connected socket),
 *    one front-end at a time; after a front-end disconnects, the device is
 *    reset once its in-flight IO has drained and the next one is accepted;
 *  - maps the front-end's memory table (fds passed with SCM_RIGHTS) and
 *    gives the device a guest-memory view (struct vback_gm) over it; ring
 *    addresses, which arrive as front-end user addresses, are translated to
 *    guest addresses before they reach the device;
 *  - configures the device's queues directly (size, addresses, base,
 *    enable, stop), turns kick eventfds into vback_dev_queue_kick() and the
 *    device's notifications into writes to the call eventfds;
 *  - answers GET/SET_CONFIG from the device's config space and sends a
 *    config-change message on the back-end channel when the device raises
 *    one (e.g. after vback_blk_resize());
 *  - tracks the requests in flight for the front-end
 *    (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD): GET_INFLIGHT_FD creates a
 *    region (a sealed memfd) with one in-flight record per queue, which
 *    the device keeps up to date (vback_dev_queue_set_inflight()); the
 *    front-end holds on to it and hands it back with SET_INFLIGHT_FD.
 *
 * Restarts: the process may be killed at any instant (SIGKILL, a crash, an
 * upgrade) and started again on the same socket while the front-end waits
 * to reconnect (QEMU: -chardev socket,...,reconnect=1). The front-end
 * sends the region back; each queue adopts its record when it starts,
 * resumes after the requests the record holds, and submits those again,
 * in the order the guest made them available, before new ones. Requests
 * that completed out of order before the kill are neither lost nor run
 * twice. A region or record that cannot be right is not used: one
 * warning, and the ring starts at the base the front-end gave, as
 * without tracking. A clean stop (vback_dev_quiesce(), then a
 * disconnect) leaves nothing in flight: the records are emptied.
 *
 * Trust: the front-end is not trusted more than the guest. Every message is
 * copied and validated (size, fd count, indexes, region bounds and overlap)
 * before use; a bad message closes that connection with a log line, never
 * the process. The kick, call and error fds it sends are made non-blocking.
 * A memory file that takes seals gets F_SEAL_SHRINK when mapped; for any
 * other (hugetlbfs, plain files, memfds without MFD_ALLOW_SEALING) the
 * transport installs a process-wide SIGBUS handler (re-installed, chaining
 * to whatever handler replaced it, with each new memory table): a front-end
 * that shrinks the file under the mapping gets zero pages where the file
 * was, and is disconnected; the process and its other disks carry on.
 * Faults at any other address go to the previous handler (or the default
 * action).
 *
 * Threading: everything runs on the thread of the loop given at creation
 * (see base.h); the library never waits by itself. All fds are registered
 * with the loop. The handle taken by every function must not be NULL
 * unless the function says otherwise.
 *
 * Except for the rings of device queues that run on loops of their own
 * (vback_dev_queue_set_loop(): a thread per queue). Such a ring's kick fd
 * is watched on its queue's loop, its call fd written there, and every
 * device call naming its queue is made there: the transport posts the
 * work to that loop and waits for it (a few microseconds, at ring set-up
 * and tear-down only). Those loops must therefore be running whenever a
 * front-end may be connected, until vback_vhu_destroy() returns; their
 * threads never wait for the transport's.
 */
#ifndef VBACK_VHOST_USER_H
#define VBACK_VHOST_USER_H

#include <vback/loop.h>
#include <vback/dev.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vback_vhu;

/** Connection events, for daemons that log or count front-ends. */
enum vback_vhu_event {
	/** A front-end was accepted (or given to vback_vhu_serve_fd()). */
	VBACK_VHU_CONNECTED = 1,
	/** It left, was dropped for a bad message, or was dropped with
	 *  vback_vhu_disconnect(). */
	VBACK_VHU_DISCONNECTED = 2,
	/** Its IO drained and the device was reset: ready for the next. */
	VBACK_VHU_IDLE = 3,
};

/** How to create a transport with vback_vhu_create(); read during the call
 *  only, except the pointers, which are borrowed. */
struct vback_vhu_options {
	/** The device served (not owned). The transport attaches to it for
	 *  its whole life: no other transport may be attached. */
	struct vback_dev *dev;
	/** The loop that runs everything (not owned; must outlive @vhu). */
	const struct vback_loop *loop;
	/**
	 * Unix socket path to listen on (copied), or NULL to serve only
	 * sockets given with vback_vhu_serve_fd(). A stale socket file at
	 * the path is replaced; one something still listens on is not
	 * (-EADDRINUSE: the check connects and closes at once, which the
	 * listener sees as a front-end that left), nor any other kind of
	 * file (-EEXIST). The socket file is removed by vback_vhu_destroy().
	 */
	const char *socket_path;
	/** Queues offered with GET_QUEUE_NUM; 0, or more than @dev has: all
	 *  queues of @dev. A message for a ring beyond them is a bad message
	 *  (the connection is dropped). */
	unsigned int max_queues;
	/**
	 * Optional: connection events, called on the loop thread from the
	 * transport's fd callbacks, and from inside vback_vhu_serve_fd()
	 * (CONNECTED) and vback_vhu_disconnect() (DISCONNECTED, then IDLE when
	 * no IO is in flight) before they return; never from
	 * vback_vhu_destroy(). Events are reported in order and only once the
	 * transport's own work is done, never re-entrantly: one caused from
	 * inside the callback is reported after it returns. So the callback
	 * may call any vback_vhu_*() function, including vback_vhu_destroy()
	 * (and then destroy the device), for any event.
	 */
	void (*event)(void *opaque, enum vback_vhu_event ev);
	void *opaque; /**< passed to @event and @memory */
	/**
	 * Optional: the front-end's memory, as this process maps it, each
	 * time that changes: @n regions after a SET_MEM_TABLE (before any
	 * ring uses them), none (@n 0) before they are unmapped at a
	 * disconnect or vback_vhu_destroy(). Called on the loop thread with
	 * no IO in flight, so an embedder may hand them to its IO instances
	 * (vback_io_set_buffers(): fixed buffers for io_uring with
	 * O_DIRECT). @regions is valid during the call only.
	 */
	void (*memory)(void *opaque, const struct vback_iovec *regions,
		       unsigned int n);
	/** Where the transport logs (borrowed: must outlive the transport);
	 *  NULL: stderr. */
	const struct vback_log *log;
	/** For log lines, e.g. the socket name; copied (up to 63 bytes).
	 *  NULL: "vhost-user". */
	const char *name;
	/**
	 * Do not offer VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD. Without it a
	 * front-end that reconnects after a restart of this process can
	 * only rewind each ring to its used index, which loses requests
	 * that completed out of order (see "Restarts" above). For
	 * comparisons and for front-ends that mishandle the feature.
	 */
	bool no_inflight;
};

/**
 * Create the transport: attach it to @opts->dev and, with a socket path,
 * start listening. Returns 0 and the handle in *@out, -EINVAL (bad
 * options), -EBUSY (device already has a transport), -ENAMETOOLONG (path
 * longer than a sockaddr_un allows), -EEXIST (a file that is not a socket
 * is in the way), -EADDRINUSE (another process listens there), -ENOMEM, or an
 * errno of eventfd(), socket(), bind(), listen() or the loop.
 */
VBACK_API int vback_vhu_create(const struct vback_vhu_options *opts,
			       struct vback_vhu **out);

/**
 * Close the connection (if any), stop listening, unlink the socket path,
 * detach from the device (which resets it) and free; no event is reported.
 * The device and the IO instance are not destroyed: do that afterwards
 * (see vback_blk_destroy()). NULL: no-op. Allowed from the event
 * callback (see vback_vhu_options.event).
 *
 * If IO is still in flight (a connected front-end's, or a disconnected
 * one's while vback_vhu_draining()), the transport cannot wait for it: it
 * logs an error and leaks the guest-memory mappings for good rather than
 * unmapping memory that IO may still write into. To free them, first call
 * vback_vhu_disconnect() and run the loop until VBACK_VHU_IDLE.
 */
VBACK_API void vback_vhu_destroy(struct vback_vhu *vhu);

/**
 * Serve an already connected socket (the back-end convention's --fd=FD,
 * socketpair()s in tests). The transport owns @fd from now on, whatever
 * the result (it is closed on failure). Returns 0 after reporting
 * VBACK_VHU_CONNECTED, -EINVAL for a negative @fd, -EBUSY when a
 * front-end is being served or the previous one is still draining, or an
 * error of the loop's watch(). While a front-end is served, the listening
 * socket is not watched: the next front-end waits in its backlog.
 */
VBACK_API int vback_vhu_serve_fd(struct vback_vhu *vhu, int fd);

/**
 * Drop the current front-end as if it had disconnected (e.g. before a
 * clean shutdown): VBACK_VHU_DISCONNECTED is reported before this returns,
 * its rings stop, and VBACK_VHU_IDLE is reported once the IO still in
 * flight has completed (before this returns when none is). No-op when
 * nobody is connected, also while the previous front-end drains.
 */
VBACK_API void vback_vhu_disconnect(struct vback_vhu *vhu);

/** True while a front-end is connected. */
VBACK_API bool vback_vhu_connected(const struct vback_vhu *vhu);

/** True while rings stopped by a disconnect still have IO in flight (from
 *  VBACK_VHU_DISCONNECTED until VBACK_VHU_IDLE). */
VBACK_API bool vback_vhu_draining(const struct vback_vhu *vhu);

/** Most queues a front-end can use (the GET_QUEUE_NUM answer). */
#define VBACK_VHU_MAX_QUEUES 64

/** Counters, cumulative over connections (the transport's whole life). */
struct vback_vhu_stats {
	uint64_t connections;	 /**< front-ends accepted or given by fd */
	uint64_t messages;	 /**< valid requests handled (ok or failed) */
	uint64_t bad_messages;	 /**< connections dropped for a bad message */
	uint64_t config_changes; /**< config-change messages sent */
};

/** Copy the counters of @vhu into *@stats (neither may be NULL). */
VBACK_API void vback_vhu_get_stats(const struct vback_vhu *vhu,
				   struct vback_vhu_stats *stats);

/** Counters of one ring, cumulative over connections. */
struct vback_vhu_queue_stats {
	/** Kick eventfd wake-ups (also while the ring is not running). */
	uint64_t kicks;
	/** Used-buffer notifications written to its call eventfd. */
	uint64_t calls;
};

/** Copy the counters of ring @q into *@stats: 0, or -EINVAL when @q is
 *  not one of the rings offered (GET_QUEUE_NUM). */
VBACK_API int vback_vhu_get_queue_stats(const struct vback_vhu *vhu,
					unsigned int q,
					struct vback_vhu_queue_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* VBACK_VHOST_USER_H */
