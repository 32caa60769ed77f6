/* SPDX-License-Identifier: MIT */
/*
 * The NBD engine: an export on an NBD server through libnbd's asynchronous
 * API, driven by the caller's loop. Each connection's socket is watched
 * with the events nbd_aio_get_direction() asks for and fed to
 * nbd_aio_notify_read/write(); no thread, no blocking call once open.
 *
 * Requests become commands. libnbd 1.14 has no vectored calls, so a
 * request with one buffer (or a segment of at least NBD_DIRECT_MIN) is
 * sent from the caller's memory, and anything else is gathered into the
 * command's preallocated bounce buffer (writes) or scattered from it
 * (reads); docs/io.md has the measured cost. Large requests are split at
 * the server's maximum payload. Commands are preallocated, one per unit of
 * queue depth, each with its bounce buffer, so the data path allocates
 * nothing of ours (libnbd allocates its own command record).
 *
 * libnbd calls completion callbacks from inside any call that moves its
 * state machine, including the ones that issue commands; the callback only
 * queues the command, and done() runs later from the loop callback,
 * unplug(), the timer or close(), never from inside submit().
 *
 * Failures: a connection that dies (EOF, reset, ENOTCONN or ESHUTDOWN
 * replies) is reopened at once, then with a back-off up to 2 s, with one
 * log line per state change; its commands are sent again on the next
 * ready connection. One periodic timer per instance, armed only while
 * something is in flight or a connection is down, fails each request
 * still unfinished timeout_ms after its submit() with -EIO; a connection
 * that owes such a request a reply is reset first, so libnbd lets go of
 * its buffers before done() hands them back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vback/io.h>

#include "config.h"
#include "io_internal.h"

#if VBACK_HAVE_NBD
#include "nbd_lib.h"
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#define MS		  1000000ull
#define NBD_DEFAULT_CONNS 4u
#define NBD_MAX_CONNS	  16u
/* Bounce buffer per command, for requests that are not one buffer. */
#define NBD_BOUNCE_LEN (256u * 1024u)
/* A segment this long is worth a command of its own, without a copy. */
#define NBD_DIRECT_MIN (64u * 1024u)
/* Payload limit when the server states none: the NBD spec's 32 MiB. */
#define NBD_DEFAULT_MAX_PAYLOAD (32ull * 1024 * 1024)
/* libnbd refuses larger payloads whatever the server says. */
#define NBD_LIBNBD_MAX_PAYLOAD (64ull * 1024 * 1024)
/* Largest trim or zero one request carries (NBD lengths are 32-bit). */
#define NBD_MAX_RANGE	   (1ull << 30)
#define NBD_BACKOFF_MIN_NS (50 * MS)
#define NBD_BACKOFF_MAX_NS (2000 * MS)
/* Commands one connection takes before the next one gets any. */
#define NBD_CONN_FILL 16u
/* Issue/reap rounds per loop callback before yielding to other fds. */
#define NBD_ROUNDS   16
#define NBD_NAME_LEN 160

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_READY };

struct nbd_io;

struct nbd_conn {
	struct nbd_io *n;
	struct nbd_handle *h;
	enum conn_state state;
	unsigned int index;
	int fd;		      /* watched on the loop; -1 when not */
	uint32_t events;      /* what the watch asks for */
	unsigned int issued;  /* commands libnbd holds for us */
	uint64_t deadline_ns; /* CONNECTING: give up then */
	uint64_t next_try_ns; /* DOWN: try again then */
	uint64_t backoff_ns;  /* DOWN: the wait after a failed try */
	bool was_ready;	      /* it has been up: a comeback is logged */
	bool retry_logged;    /* a failed reconnect was logged */
	bool reset;	      /* the timer wants it reset */
	char why[128];	      /* why it went down */
	int err;	      /* and its errno, if libnbd said */
};

enum cmd_state { CMD_FREE, CMD_QUEUED, CMD_ISSUED, CMD_DONE };

struct nbd_rq;

/* One NBD command: a request, or a piece of a large or vectored one. */
struct nbd_cmd {
	struct nbd_io *n;
	struct nbd_rq *rq;
	struct nbd_cmd *next;  /* free list, retry queue or done list */
	struct nbd_conn *conn; /* ISSUED: the connection that owes it */
	struct nbd_conn *from; /* DONE: the connection that answered */
	uint64_t offset;
	uint64_t len;
	void *buf;	  /* READ/WRITE: the payload */
	uint8_t *bounce;  /* this command's own NBD_BOUNCE_LEN bytes */
	bool bounced;	  /* buf is bounce: copy from/to the request */
	unsigned int seg; /* bounced: where in the request's iovecs */
	size_t seg_off;
	int error; /* errno from libnbd's completion */
	enum cmd_state state;
};

/* One accepted request. */
struct nbd_rq {
	struct vback_io_req *req;
	struct nbd_rq *next; /* free list or pending list */
	uint64_t start_ns;
	uint64_t total;	  /* READ/WRITE transfer length */
	uint64_t issued;  /* bytes already in commands */
	unsigned int seg; /* the next command starts here */
	size_t seg_off;
	unsigned int pieces; /* commands made and not finished */
	int error;	     /* first failure, -errno */
	bool active;
	bool split_done; /* every command is made */
	bool expired;
};

struct nbd_io {
	const struct vback_loop *loop;
	const struct vback_log *log;
	char name[NBD_NAME_LEN];
	struct io_nbd_spec spec;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct vback_io_caps caps;
	uint64_t size_seen; /* the size the latest handshake gave */
	uint64_t max_payload;
	uint64_t timeout_ns;
	uint64_t tick_ns;
	unsigned int nconns;
	struct nbd_conn conns[NBD_MAX_CONNS];
	unsigned int depth;
	unsigned int inflight; /* accepted, done() not yet called */
	struct nbd_rq *rqs, *rq_free;
	struct nbd_rq *pend_head, *pend_tail; /* commands still to make */
	struct nbd_cmd *cmds, *cmd_free;
	struct nbd_cmd *retry_head, *retry_tail; /* to send (again) */
	struct nbd_cmd *done_head, *done_tail;	 /* replied, not processed */
	uint8_t *bounce_area;
	size_t bounce_area_len;
	struct vback_work kick;
	struct vback_timer timer;
	bool opening; /* vback_io_open(), or detached: the loop is not ours */
	bool running; /* inside nbd_run(): done() callbacks may run */
	bool closing;
};

static void nbd_run(struct nbd_io *n);
static void conn_down(struct nbd_conn *c, const char *why);
static void conn_close_handle(struct nbd_conn *c);

static uint64_t now_ns(const struct nbd_io *n)
{
	return vback_loop_now(n->loop);
}

/* ---- lists ----------------------------------------------------------- */

static void cmd_push(struct nbd_cmd **head, struct nbd_cmd **tail,
		     struct nbd_cmd *cmd)
{
	cmd->next = NULL;
	if (*tail)
		(*tail)->next = cmd;
	else
		*head = cmd;
	*tail = cmd;
}

static struct nbd_cmd *cmd_pop(struct nbd_cmd **head, struct nbd_cmd **tail)
{
	struct nbd_cmd *cmd = *head;

	if (cmd) {
		*head = cmd->next;
		if (!*head)
			*tail = NULL;
		cmd->next = NULL;
	}
	return cmd;
}

static void cmd_free(struct nbd_io *n, struct nbd_cmd *cmd)
{
	cmd->state = CMD_FREE;
	cmd->rq = NULL;
	cmd->conn = NULL;
	cmd->next = n->cmd_free;
	n->cmd_free = cmd;
}

static void retry_push(struct nbd_io *n, struct nbd_cmd *cmd)
{
	cmd->state = CMD_QUEUED;
	cmd->conn = NULL;
	cmd_push(&n->retry_head, &n->retry_tail, cmd);
}

/* ---- connections ----------------------------------------------------- */

static uint32_t wanted_events(struct nbd_handle *h)
{
	unsigned int dir = nbd_aio_get_direction(h);
	uint32_t ev = 0;

	if (dir & LIBNBD_AIO_DIRECTION_READ)
		ev |= VBACK_EV_IN;
	if (dir & LIBNBD_AIO_DIRECTION_WRITE)
		ev |= VBACK_EV_OUT;
	return ev;
}

static void on_conn_event(void *opaque, int fd, uint32_t events);

/* Watch the connection's socket for what libnbd waits for now. */
static void watch_sync(struct nbd_conn *c)
{
	struct nbd_io *n = c->n;
	int fd = nbd_aio_get_fd(c->h);
	uint32_t ev;
	int ret;

	if (n->opening || fd < 0)
		return;
	ev = wanted_events(c->h);
	if (fd != c->fd) {
		if (c->fd >= 0)
			vback_loop_unwatch(n->loop, c->fd);
		c->fd = -1;
		ret = vback_loop_watch(n->loop, fd, ev, on_conn_event, c);
		if (ret) {
			conn_down(c, "cannot watch the socket");
			return;
		}
		c->fd = fd;
		c->events = ev;
	} else if (ev != c->events) {
		if (!vback_loop_modify(n->loop, fd, ev))
			c->events = ev;
	}
}

/* The handshake is done: check what the server says against the disk we
 * serve. false when this connection cannot be used. */
static bool conn_accept(struct nbd_conn *c)
{
	struct nbd_io *n = c->n;
	int64_t size = nbd_get_size(c->h);

	if (size < 0) {
		snprintf(c->why, sizeof(c->why), "no export size");
		return false;
	}
	if (c->index && nbd_can_multi_conn(c->h) != 1) {
		snprintf(c->why, sizeof(c->why),
			 "the server no longer allows multi-conn");
		vback_logf(n->log, VBACK_LOG_WARN,
			   "nbd: %s: the server no longer allows multi-conn; "
			   "using one connection",
			   n->name);
		/* Their commands go to connection 0. */
		for (unsigned int i = 1; i < n->nconns; i++) {
			conn_close_handle(&n->conns[i]);
			n->conns[i].state = CONN_DOWN;
		}
		n->nconns = 1;
		return false;
	}
	if ((uint64_t)size != n->size_seen && !n->opening) {
		vback_logf(n->log, VBACK_LOG_WARN,
			   "nbd: %s: the export is now %lld bytes (was "
			   "%llu); SIGHUP makes the guest see it",
			   n->name, (long long)size,
			   (unsigned long long)n->size_seen);
	}
	n->size_seen = (uint64_t)size;
	if (!n->caps.read_only && nbd_is_read_only(c->h) == 1 && !n->opening)
		vback_logf(n->log, VBACK_LOG_WARN,
			   "nbd: %s: the export is read-only now; writes "
			   "will fail",
			   n->name);
	return true;
}

static void conn_ready(struct nbd_conn *c)
{
	struct nbd_io *n = c->n;

	if (!conn_accept(c)) {
		conn_down(c, c->why);
		return;
	}
	c->state = CONN_READY;
	c->backoff_ns = NBD_BACKOFF_MIN_NS;
	if (c->was_ready || c->retry_logged)
		vback_logf(n->log, VBACK_LOG_INFO,
			   "nbd: %s: connection %u reconnected", n->name,
			   c->index);
	else if (!n->opening)
		vback_logf(n->log, VBACK_LOG_DEBUG, "nbd: %s: connection %u up",
			   n->name, c->index);
	c->was_ready = true;
	c->retry_logged = false;
}

/* After any libnbd call on @c: notice death, readiness, new directions. */
static void conn_update(struct nbd_conn *c)
{
	if (!c->h)
		return;
	if (nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h)) {
		conn_down(c, c->why[0] ? c->why : "connection closed");
		return;
	}
	if (c->state == CONN_CONNECTING && nbd_aio_is_ready(c->h)) {
		conn_ready(c);
		if (!c->h)
			return;
	}
	watch_sync(c);
}

/* Keep libnbd's message for the log line of the state change. */
static void conn_note_error(struct nbd_conn *c)
{
	const char *msg = nbd_get_error();

	c->err = nbd_get_errno();
	snprintf(c->why, sizeof(c->why), "%s", msg ? msg : "unknown error");
}

/* Why a connection attempt failed, as -errno. */
static int conn_errno(const struct nbd_conn *c)
{
	return c->err > 0 ? -c->err : -ECONNREFUSED;
}

static int conn_start(struct nbd_conn *c)
{
	struct nbd_io *n = c->n;
	int err;

	c->why[0] = '\0';
	c->err = 0;
	c->h = nbd_create();
	if (!c->h) {
		snprintf(c->why, sizeof(c->why), "nbd_create: %s",
			 nbd_get_error());
		c->state = CONN_DOWN;
		return -ENOMEM;
	}
	c->state = CONN_CONNECTING;
	c->deadline_ns = now_ns(n) + n->timeout_ns;
	/* Reads never expose the buffer of a failed command. */
	if (nbd_set_pread_initialize(c->h, false) < 0 ||
	    nbd_set_export_name(c->h, n->spec.export_name) < 0 ||
	    nbd_aio_connect(c->h, (const struct sockaddr *)&n->addr,
			    n->addrlen) < 0) {
		err = nbd_get_errno();
		conn_note_error(c);
		conn_down(c, c->why);
		return err ? -err : -EIO;
	}
	conn_update(c);
	return 0;
}

/* Commands libnbd still held for @c when its handle went: send again. */
static void conn_requeue(struct nbd_conn *c)
{
	struct nbd_io *n = c->n;

	for (unsigned int i = 0; n->cmds && i < n->depth; i++) {
		struct nbd_cmd *cmd = &n->cmds[i];

		if (cmd->state == CMD_ISSUED && cmd->conn == c)
			retry_push(n, cmd);
	}
	c->issued = 0;
}

static void conn_close_handle(struct nbd_conn *c)
{
	if (c->fd >= 0) {
		/* Before nbd_close(): the number may be reused at once. */
		vback_loop_unwatch(c->n->loop, c->fd);
		c->fd = -1;
	}
	if (c->h) {
		/* No completion callback runs from here on: libnbd drops
		 * what it held, and with it our buffers. */
		nbd_close(c->h);
		c->h = NULL;
	}
	conn_requeue(c);
}

/* @c failed or went away: close it and plan the next attempt. */
static void conn_down(struct nbd_conn *c, const char *why)
{
	struct nbd_io *n = c->n;
	bool was_up = c->state == CONN_READY;
	char reason[sizeof(c->why)];

	snprintf(reason, sizeof(reason), "%s", why);
	snprintf(c->why, sizeof(c->why), "%s", reason);
	conn_close_handle(c);
	c->state = CONN_DOWN;
	c->reset = false;
	if (n->opening || n->closing)
		return;
	if (was_up) {
		vback_logf(n->log, VBACK_LOG_WARN,
			   "nbd: %s: connection %u lost (%s); reconnecting",
			   n->name, c->index, reason);
		/* Straight away: a restarted server is back in no time. */
		c->backoff_ns = NBD_BACKOFF_MIN_NS;
		conn_start(c);
		return;
	}
	if (!c->retry_logged && c->was_ready) {
		vback_logf(n->log, VBACK_LOG_WARN,
			   "nbd: %s: connection %u: cannot reconnect (%s); "
			   "retrying, requests fail after %llu ms",
			   n->name, c->index, reason,
			   (unsigned long long)(n->timeout_ns / MS));
		c->retry_logged = true;
	}
	c->next_try_ns = now_ns(n) + c->backoff_ns;
	c->backoff_ns *= 2;
	if (c->backoff_ns > NBD_BACKOFF_MAX_NS)
		c->backoff_ns = NBD_BACKOFF_MAX_NS;
}

/* Tell libnbd what the socket did. */
static void conn_notify(struct nbd_conn *c, uint32_t events)
{
	unsigned int dir = nbd_aio_get_direction(c->h);
	int ret = 0;

	/* Both ready: read first, the reply may change what to write. An
	 * error or hang-up goes where libnbd waits: a refused connect is
	 * seen by the write side (libnbd refuses a read notification in
	 * the connecting states). */
	if (events & VBACK_EV_IN)
		ret = nbd_aio_notify_read(c->h);
	else if (events & VBACK_EV_OUT)
		ret = nbd_aio_notify_write(c->h);
	else if ((events & VBACK_EV_ERR) && (dir & LIBNBD_AIO_DIRECTION_READ))
		ret = nbd_aio_notify_read(c->h);
	else if ((events & VBACK_EV_ERR) && (dir & LIBNBD_AIO_DIRECTION_WRITE))
		ret = nbd_aio_notify_write(c->h);
	if (ret < 0)
		conn_note_error(c);
	conn_update(c);
}

static void on_conn_event(void *opaque, int fd, uint32_t events)
{
	struct nbd_conn *c = opaque;

	(void)fd;
	if (!c->h)
		return;
	conn_notify(c, events);
	nbd_run(c->n);
}

/*
 * The first ready connection with room, else the least busy one. The loop
 * thread does the work of every connection, so spreading a light load over
 * several only costs wake-ups; they pay off under a deep queue.
 */
static struct nbd_conn *pick_conn(struct nbd_io *n)
{
	struct nbd_conn *best = NULL;

	for (unsigned int i = 0; i < n->nconns; i++) {
		struct nbd_conn *c = &n->conns[i];

		if (c->state != CONN_READY)
			continue;
		if (c->issued < NBD_CONN_FILL)
			return c;
		if (!best || c->issued < best->issued)
			best = c;
	}
	return best;
}

/* ---- commands -------------------------------------------------------- */

/* Copy between a bounce buffer and the request's iovecs from (seg, off). */
static void bounce_copy(const struct vback_io_req *req, unsigned int seg,
			size_t off, uint8_t *buf, size_t len, bool to_bounce)
{
	while (len && seg < req->iovcnt) {
		uint8_t *p = (uint8_t *)req->iov[seg].iov_base + off;
		size_t n = req->iov[seg].iov_len - off;

		if (n > len)
			n = len;
		if (to_bounce)
			memcpy(buf, p, n);
		else
			memcpy(p, buf, n);
		buf += n;
		len -= n;
		off += n;
		if (off == req->iov[seg].iov_len) {
			seg++;
			off = 0;
		}
	}
}

static void rq_advance(const struct vback_io_req *req, struct nbd_rq *rq,
		       uint64_t len)
{
	while (len && rq->seg < req->iovcnt) {
		size_t n = req->iov[rq->seg].iov_len - rq->seg_off;

		if (n > len)
			n = (size_t)len;
		len -= n;
		rq->seg_off += n;
		if (rq->seg_off == req->iov[rq->seg].iov_len) {
			rq->seg++;
			rq->seg_off = 0;
		}
	}
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The next piece of a READ/WRITE: one buffer's run, or a bounced one. */
static void make_rw_piece(struct nbd_io *n, struct nbd_rq *rq,
			  struct nbd_cmd *cmd)
{
	const struct vback_io_req *req = rq->req;
	uint64_t left = rq->total - rq->issued, len = 0;
	uint32_t lbs = n->caps.logical_block_size;
	size_t seg_left;

	while (rq->seg < req->iovcnt &&
	       rq->seg_off == req->iov[rq->seg].iov_len) {
		rq->seg++;
		rq->seg_off = 0;
	}
	seg_left = req->iov[rq->seg].iov_len - rq->seg_off;
	cmd->offset = req->offset + rq->issued;
	if (req->iovcnt == 1 || seg_left >= NBD_DIRECT_MIN) {
		len = min_u64(min_u64(seg_left, left), n->max_payload);
		len -= len % lbs;
	}
	if (len) {
		cmd->buf = (uint8_t *)req->iov[rq->seg].iov_base + rq->seg_off;
		cmd->bounced = false;
	} else {
		len = min_u64(min_u64(left, NBD_BOUNCE_LEN), n->max_payload);
		cmd->buf = cmd->bounce;
		cmd->bounced = true;
		cmd->seg = rq->seg;
		cmd->seg_off = rq->seg_off;
		if (req->op == VBACK_IO_WRITE)
			bounce_copy(req, cmd->seg, cmd->seg_off, cmd->bounce,
				    (size_t)len, true);
	}
	cmd->len = len;
	rq_advance(req, rq, len);
	rq->issued += len;
}

/* A command for the head of the pending list, or NULL (none pending, or
 * every command busy). */
static struct nbd_cmd *next_piece(struct nbd_io *n)
{
	struct nbd_rq *rq = n->pend_head;
	struct nbd_cmd *cmd = n->cmd_free;
	const struct vback_io_req *req;

	if (!rq || !cmd)
		return NULL;
	n->cmd_free = cmd->next;
	cmd->next = NULL;
	cmd->rq = rq;
	cmd->error = 0;
	cmd->bounced = false;
	cmd->buf = NULL;
	rq->pieces++;
	req = rq->req;
	if ((req->op == VBACK_IO_READ || req->op == VBACK_IO_WRITE) &&
	    rq->total) {
		make_rw_piece(n, rq, cmd);
		if (rq->issued < rq->total)
			return cmd;
	} else {
		cmd->offset = req->offset;
		cmd->len = req->op == VBACK_IO_READ || req->op == VBACK_IO_WRITE
				   ? 0
				   : req->len;
	}
	rq->split_done = true;
	n->pend_head = rq->next;
	if (!n->pend_head)
		n->pend_tail = NULL;
	rq->next = NULL;
	return cmd;
}

/* Nothing to ask the server: empty transfers and ranges, and FLUSH to a
 * server without a cache to flush. */
static bool cmd_is_noop(const struct nbd_io *n, const struct nbd_cmd *cmd)
{
	if (cmd->rq->req->op == VBACK_IO_FLUSH)
		return !n->caps.volatile_cache;
	return cmd->len == 0;
}

static void cmd_finished(struct nbd_io *n, struct nbd_cmd *cmd, int error)
{
	cmd->error = error;
	cmd->state = CMD_DONE;
	cmd->conn = NULL;
	cmd->from = NULL;
	cmd_push(&n->done_head, &n->done_tail, cmd);
}

/* libnbd's completion: may run inside any libnbd call, so only queue. */
static int on_reply(void *user_data, int *error)
{
	struct nbd_cmd *cmd = user_data;
	struct nbd_conn *c = cmd->conn;

	if (c)
		c->issued--;
	cmd_finished(cmd->n, cmd, *error);
	cmd->from = c;
	return 1; /* retire the command in libnbd */
}

static void send_cmd(struct nbd_io *n, struct nbd_conn *c, struct nbd_cmd *cmd)
{
	const struct vback_io_req *req = cmd->rq->req;
	nbd_completion_callback cb = { .callback = on_reply, .user_data = cmd };
	uint32_t fua = req->flags & VBACK_IO_F_FUA ? LIBNBD_CMD_FLAG_FUA : 0;
	int64_t ret = -1;
	int err;

	cmd->state = CMD_ISSUED;
	cmd->conn = c;
	c->issued++;
	switch (req->op) {
	case VBACK_IO_READ:
		ret = nbd_aio_pread(c->h, cmd->buf, (size_t)cmd->len,
				    cmd->offset, cb, 0);
		break;
	case VBACK_IO_WRITE:
		ret = nbd_aio_pwrite(c->h, cmd->buf, (size_t)cmd->len,
				     cmd->offset, cb, fua);
		break;
	case VBACK_IO_FLUSH:
		ret = nbd_aio_flush(c->h, cb, 0);
		break;
	case VBACK_IO_DISCARD:
		ret = nbd_aio_trim(c->h, cmd->len, cmd->offset, cb, 0);
		break;
	case VBACK_IO_WRITE_ZEROES:
		/* Without UNMAP the range must stay allocated. */
		ret = nbd_aio_zero(c->h, cmd->len, cmd->offset, cb,
				   fua | (req->flags & VBACK_IO_F_UNMAP
						  ? 0
						  : LIBNBD_CMD_FLAG_NO_HOLE));
		break;
	case VBACK_IO_SECURE_ERASE:
		break; /* never accepted: no caps bit */
	}
	/*
	 * A call that fails before queuing never runs the callback; one
	 * whose sending kills the connection has run it already (with
	 * ENOTCONN, the command is on the done list) and fails as well:
	 * the state says which.
	 */
	if (ret < 0 && cmd->state == CMD_ISSUED) {
		err = nbd_get_errno();
		c->issued--;
		if (nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h)) {
			conn_note_error(c);
			retry_push(n, cmd);
		} else {
			cmd_finished(n, cmd, err ? err : EIO);
		}
	}
	conn_update(c);
}

/* Send what waits: commands to send again first, then new pieces. */
static void issue(struct nbd_io *n)
{
	for (;;) {
		struct nbd_conn *c = pick_conn(n);
		struct nbd_cmd *cmd;

		if (n->retry_head) {
			if (!c)
				return;
			cmd = cmd_pop(&n->retry_head, &n->retry_tail);
		} else {
			cmd = next_piece(n);
			if (!cmd)
				return;
			if (cmd_is_noop(n, cmd)) {
				cmd_finished(n, cmd, 0);
				continue;
			}
			if (!c) {
				retry_push(n, cmd);
				return;
			}
		}
		send_cmd(n, c, cmd);
	}
}

static void rq_release(struct nbd_io *n, struct nbd_rq *rq)
{
	rq->active = false;
	rq->req = NULL;
	rq->next = n->rq_free;
	n->rq_free = rq;
	n->inflight--;
}

static void rq_complete(struct nbd_io *n, struct nbd_rq *rq, int result)
{
	struct vback_io_req *req = rq->req;

	rq_release(n, rq);
	req->done(req, result);
}

/* The server went away under these: send them again, not fail them. */
static bool is_connection_error(int error)
{
	return error == ENOTCONN || error == ESHUTDOWN;
}

/* Process the replies that arrived; true if any did. */
static bool reap(struct nbd_io *n)
{
	struct nbd_cmd *cmd;
	bool any = false;

	while ((cmd = cmd_pop(&n->done_head, &n->done_tail))) {
		struct nbd_rq *rq = cmd->rq;
		const struct vback_io_req *req = rq->req;

		any = true;
		if (is_connection_error(cmd->error) && !n->closing) {
			/* A server shutting down answers ESHUTDOWN until it
			 * closes: leave it rather than ask again at once. */
			if (cmd->error == ESHUTDOWN && cmd->from &&
			    cmd->from->state == CONN_READY)
				conn_down(cmd->from, "the server is shutting "
						     "down");
			retry_push(n, cmd);
			continue;
		}
		if (cmd->error) {
			if (!rq->error)
				rq->error = -cmd->error;
		} else if (cmd->bounced && req->op == VBACK_IO_READ) {
			bounce_copy(req, cmd->seg, cmd->seg_off, cmd->bounce,
				    (size_t)cmd->len, false);
		}
		rq->pieces--;
		cmd_free(n, cmd);
		if (rq->split_done && !rq->pieces)
			rq_complete(n, rq, rq->error);
	}
	return any;
}

static bool conn_needs_timer(const struct nbd_io *n)
{
	for (unsigned int i = 0; i < n->nconns; i++)
		if (n->conns[i].state != CONN_READY)
			return true;
	return false;
}

/* The timer runs while there is something to watch over. */
static void timer_update(struct nbd_io *n)
{
	bool need = n->inflight || conn_needs_timer(n);

	if (n->closing || n->opening)
		return;
	if (need && !vback_timer_armed(&n->timer))
		vback_timer_arm(n->loop, &n->timer, n->tick_ns, n->tick_ns);
	else if (!need && vback_timer_armed(&n->timer))
		vback_timer_cancel(n->loop, &n->timer);
}

/* Issue and reap until nothing moves (bounded; the rest is posted). */
static void nbd_run(struct nbd_io *n)
{
	int round;

	if (n->running) {
		/* From a done() callback: only send; the caller reaps. */
		issue(n);
		return;
	}
	n->running = true;
	for (round = 0; round < NBD_ROUNDS; round++) {
		issue(n);
		if (!reap(n))
			break;
	}
	n->running = false;
	if (round == NBD_ROUNDS && !n->closing)
		vback_loop_post(n->loop, &n->kick);
	timer_update(n);
}

static void on_kick(void *opaque)
{
	nbd_run(opaque);
}

/* Fail the requests older than the timeout (see the top of the file). */
static void expire(struct nbd_io *n, uint64_t now)
{
	struct nbd_cmd *keep_head = NULL, *keep_tail = NULL, *cmd;
	struct nbd_rq **pp;
	unsigned int count = 0;

	for (unsigned int i = 0; i < n->depth; i++) {
		struct nbd_rq *rq = &n->rqs[i];

		if (rq->active && now - rq->start_ns >= n->timeout_ns) {
			rq->expired = true;
			count++;
		}
	}
	if (!count)
		return;
	for (unsigned int i = 0; i < n->depth; i++) {
		cmd = &n->cmds[i];
		if (cmd->state == CMD_ISSUED && cmd->rq->expired)
			cmd->conn->reset = true;
	}
	for (unsigned int i = 0; i < n->nconns; i++)
		if (n->conns[i].reset)
			conn_down(&n->conns[i], "no reply in time; reset");
	/* Nothing of an expired request is left with libnbd now. */
	while ((cmd = cmd_pop(&n->retry_head, &n->retry_tail))) {
		if (cmd->rq->expired)
			cmd_free(n, cmd);
		else
			cmd_push(&keep_head, &keep_tail, cmd);
	}
	n->retry_head = keep_head;
	n->retry_tail = keep_tail;
	keep_head = keep_tail = NULL;
	while ((cmd = cmd_pop(&n->done_head, &n->done_tail))) {
		if (cmd->rq->expired)
			cmd_free(n, cmd);
		else
			cmd_push(&keep_head, &keep_tail, cmd);
	}
	n->done_head = keep_head;
	n->done_tail = keep_tail;
	n->pend_tail = NULL;
	for (pp = &n->pend_head; *pp;) {
		if ((*pp)->expired) {
			*pp = (*pp)->next;
		} else {
			n->pend_tail = *pp;
			pp = &(*pp)->next;
		}
	}
	vback_logf(n->log, VBACK_LOG_WARN,
		   "nbd: %s: %u request%s unanswered after %llu ms: failed "
		   "with EIO",
		   n->name, count, count == 1 ? "" : "s",
		   (unsigned long long)(n->timeout_ns / MS));
	/* done() may submit: new requests are not marked expired. */
	for (unsigned int i = 0; i < n->depth; i++) {
		struct nbd_rq *rq = &n->rqs[i];

		if (rq->active && rq->expired) {
			rq->expired = false;
			rq_complete(n, rq, -EIO);
		}
	}
}

static void on_tick(void *opaque)
{
	struct nbd_io *n = opaque;
	uint64_t now = now_ns(n);

	for (unsigned int i = 0; i < n->nconns; i++) {
		struct nbd_conn *c = &n->conns[i];

		if (c->state == CONN_CONNECTING && now >= c->deadline_ns)
			conn_down(c, "no handshake in time");
		else if (c->state == CONN_DOWN && now >= c->next_try_ns)
			conn_start(c);
	}
	expire(n, now);
	nbd_run(n);
}

/* ---- the ops --------------------------------------------------------- */

static int nbd_submit(void *opaque, struct vback_io_req *req)
{
	struct nbd_io *n = opaque;
	struct nbd_rq *rq;
	int ret;

	if (n->closing)
		return -ESHUTDOWN;
	ret = io_req_check(&n->caps, req);
	if (ret)
		return ret;
	rq = n->rq_free;
	if (!rq)
		return -EAGAIN; /* depth requests are in flight */
	n->rq_free = rq->next;
	*rq = (struct nbd_rq){
		.req = req,
		.start_ns = now_ns(n),
		.total = req->backend[IO_SCR_TOTAL],
		.active = true,
	};
	req->backend[IO_SCR_NEXT] = (uintptr_t)rq;
	if (n->pend_tail)
		n->pend_tail->next = rq;
	else
		n->pend_head = rq;
	n->pend_tail = rq;
	n->inflight++;
	/* Sent at unplug(), or when the loop comes round without one. */
	vback_loop_post(n->loop, &n->kick);
	return 0;
}

static void nbd_unplug(void *opaque)
{
	nbd_run(opaque);
}

static int nbd_get_caps(void *opaque, struct vback_io_caps *caps)
{
	const struct nbd_io *n = opaque;

	*caps = n->caps;
	return 0;
}

/* NBD sizes are fixed per connection: a reconnect may bring a new one. */
static int nbd_refresh_size(void *opaque, uint64_t *size_bytes)
{
	struct nbd_io *n = opaque;
	uint64_t size = n->size_seen;

	size -= size % n->caps.logical_block_size;
	if (size_bytes)
		*size_bytes = size;
	if (size == n->caps.size_bytes)
		return 0;
	n->caps.size_bytes = size;
	return 1;
}

static void nbd_free(struct nbd_io *n)
{
	for (unsigned int i = 0; i < NBD_MAX_CONNS; i++)
		if (n->conns[i].h || n->conns[i].fd >= 0)
			conn_close_handle(&n->conns[i]);
	if (n->bounce_area)
		munmap(n->bounce_area, n->bounce_area_len);
	free(n->cmds);
	free(n->rqs);
	free(n);
}

/* The loop is ours from here on: watch connection 0 (connected by the
 * open), bring the others up in the background. */
static int nbd_attach(struct nbd_io *n)
{
	if (!n->opening)
		return -EINVAL; /* attached already */
	n->opening = false;
	watch_sync(&n->conns[0]);
	if (n->conns[0].state != CONN_READY) {
		n->opening = true; /* closed as it came */
		return -EIO;
	}
	for (unsigned int i = 1; i < n->nconns; i++)
		conn_start(&n->conns[i]);
	timer_update(n);
	return 0;
}

static int nbd_attach_op(void *opaque)
{
	return nbd_attach(opaque);
}

static void nbd_close_io(void *opaque)
{
	struct nbd_io *n = opaque;
	uint64_t deadline;

	if (n->opening) {
		/* Never attached: nothing in flight, nothing on the loop. */
		nbd_free(n);
		return;
	}
	n->closing = true;
	vback_loop_cancel(n->loop, &n->kick);
	vback_timer_cancel(n->loop, &n->timer);
	deadline = now_ns(n) + n->timeout_ns;
	nbd_run(n);
	/* Wait for what the servers owe us, up to the timeout. */
	while (n->inflight && now_ns(n) < deadline) {
		bool owed = false;

		for (unsigned int i = 0; i < n->nconns; i++) {
			struct nbd_conn *c = &n->conns[i];

			if (c->state != CONN_READY || !c->issued)
				continue;
			owed = true;
			if (nbd_poll(c->h, 10) < 0)
				conn_note_error(c);
			conn_update(c);
		}
		nbd_run(n);
		if (!owed)
			break;
	}
	for (unsigned int i = 0; i < n->nconns; i++) {
		struct nbd_conn *c = &n->conns[i];

		if (c->state == CONN_READY)
			nbd_aio_disconnect(c->h, 0);
		conn_close_handle(c);
	}
	/* What is left cannot finish: the server is gone or too slow. */
	for (unsigned int i = 0; i < n->depth; i++)
		if (n->rqs[i].active)
			rq_complete(n, &n->rqs[i], -EIO);
	nbd_free(n);
}

const struct vback_io_ops io_nbd_ops = {
	.submit = nbd_submit,
	.unplug = nbd_unplug,
	.get_caps = nbd_get_caps,
	.refresh_size = nbd_refresh_size,
	.close = nbd_close_io,
	.attach = nbd_attach_op,
};

/* ---- open ------------------------------------------------------------ */

/* Wait for @fd, at most @ms: VBACK_EV_* bits, 0 on timeout. */
static uint32_t wait_fd(int fd, uint32_t want, int ms)
{
	struct pollfd p = { .fd = fd };
	uint32_t got = 0;

	if (want & VBACK_EV_IN)
		p.events |= POLLIN;
	if (want & VBACK_EV_OUT)
		p.events |= POLLOUT;
	if (poll(&p, 1, ms) <= 0)
		return 0;
	if (p.revents & POLLIN)
		got |= VBACK_EV_IN;
	if (p.revents & POLLOUT)
		got |= VBACK_EV_OUT;
	if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
		got |= VBACK_EV_ERR;
	return got;
}

/*
 * The first handshake, inside vback_io_open(): the disk's size must be
 * known when it returns, and the caller's loop cannot be run from here
 * (open may itself run in a loop callback). So this one wait polls the
 * one socket, bounded by the timeout. (libnbd 1.14's nbd_poll() would do,
 * but it sends a refused connect to the read side, which libnbd rejects
 * in that state.) Reconnects happen on the loop.
 */
static int connect_now(struct nbd_io *n, struct nbd_conn *c)
{
	int ret = conn_start(c);

	while (!ret && c->state == CONN_CONNECTING) {
		uint64_t now = now_ns(n);
		uint32_t ev;
		int fd = nbd_aio_get_fd(c->h);

		if (now >= c->deadline_ns || fd < 0) {
			conn_down(c, "no handshake in time");
			return -ETIMEDOUT;
		}
		ev = wait_fd(fd, wanted_events(c->h),
			     (int)min_u64((c->deadline_ns - now) / MS + 1,
					  1000));
		if (ev)
			conn_notify(c, ev);
	}
	if (!ret && c->state != CONN_READY)
		ret = conn_errno(c);
	return ret;
}

/* Connect connection 0, trying each address of the host in turn. */
static int connect_first(struct nbd_io *n, char *why, size_t whylen)
{
	struct nbd_conn *c = &n->conns[0];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL, *ai;
	struct sockaddr_un *sun = (struct sockaddr_un *)&n->addr;
	int ret;

	if (n->spec.unix_socket) {
		memset(sun, 0, sizeof(*sun));
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, n->spec.socket, n->spec.socket_len);
		n->addrlen =
			(socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				    n->spec.socket_len +
				    (n->spec.socket[0] ? 1 : 0));
		ret = connect_now(n, c);
		snprintf(why, whylen, "%s", c->why);
		return ret;
	}
	/* Resolved once, here (setup): reconnects reuse the address. */
	ret = getaddrinfo(n->spec.host, n->spec.port, &hints, &res);
	if (ret) {
		snprintf(why, whylen, "%.128s: %s", n->spec.host,
			 gai_strerror(ret));
		return ret == EAI_NONAME ? -ENOENT : -EHOSTUNREACH;
	}
	ret = -ECONNREFUSED;
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(n->addr))
			continue;
		memcpy(&n->addr, ai->ai_addr, ai->ai_addrlen);
		n->addrlen = ai->ai_addrlen;
		ret = connect_now(n, c);
		snprintf(why, whylen, "%s", c->why);
		if (!ret)
			break;
	}
	freeaddrinfo(res);
	return ret;
}

static uint32_t pow2_at_least(uint64_t v, uint32_t min, uint32_t max)
{
	uint32_t p = min;

	while (p < v && p < max)
		p <<= 1;
	return p;
}

/* What the server advertised on connection 0, as caps. */
static int read_caps(struct nbd_io *n, const struct vback_io_options *opts)
{
	struct nbd_handle *h = n->conns[0].h;
	int64_t min = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);
	int64_t pref = nbd_get_block_size(h, LIBNBD_SIZE_PREFERRED);
	int64_t max = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);
	struct vback_io_caps *caps = &n->caps;
	uint32_t lbs;

	/* No minimum said: 512 is what every server takes. */
	lbs = pow2_at_least(min > 0 ? (uint64_t)min : 512, 512, 65536);
	caps->logical_block_size = lbs;
	caps->physical_block_size =
		pow2_at_least(pref > 0 ? (uint64_t)pref : 4096, lbs, 65536);
	n->max_payload = max > 0 ? (uint64_t)max : NBD_DEFAULT_MAX_PAYLOAD;
	if (n->max_payload > NBD_LIBNBD_MAX_PAYLOAD)
		n->max_payload = NBD_LIBNBD_MAX_PAYLOAD;
	n->max_payload -= n->max_payload % lbs;
	if (!n->max_payload)
		return -EINVAL;
	caps->size_bytes = n->size_seen - n->size_seen % lbs;
	if (!caps->size_bytes)
		return -EINVAL;
	caps->read_only = opts->read_only || nbd_is_read_only(h) == 1;
	caps->volatile_cache = nbd_can_flush(h) == 1;
	caps->can_fua = nbd_can_fua(h) == 1;
	caps->can_discard = nbd_can_trim(h) == 1;
	caps->can_write_zeroes = nbd_can_zero(h) == 1;
	caps->max_discard_sectors = (uint32_t)(NBD_MAX_RANGE / 512);
	caps->max_write_zeroes_sectors = (uint32_t)(NBD_MAX_RANGE / 512);
	caps->max_segments = 0; /* bounced: any number */
	return 0;
}

static int alloc_tables(struct nbd_io *n)
{
	n->rqs = calloc(n->depth, sizeof(*n->rqs));
	n->cmds = calloc(n->depth, sizeof(*n->cmds));
	if (!n->rqs || !n->cmds)
		return -ENOMEM;
	/* Pages are only backed once a vectored request touches them. */
	n->bounce_area_len = (size_t)n->depth * NBD_BOUNCE_LEN;
	n->bounce_area =
		mmap(NULL, n->bounce_area_len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (n->bounce_area == MAP_FAILED) {
		n->bounce_area = NULL;
		return -ENOMEM;
	}
	for (unsigned int i = n->depth; i-- > 0;) {
		n->rqs[i].next = n->rq_free;
		n->rq_free = &n->rqs[i];
		n->cmds[i].n = n;
		n->cmds[i].bounce = n->bounce_area + (size_t)i * NBD_BOUNCE_LEN;
		n->cmds[i].next = n->cmd_free;
		n->cmd_free = &n->cmds[i];
	}
	return 0;
}

int io_nbd_open(const struct vback_io_options *opts,
		const struct vback_loop *loop, struct vback_io *out)
{
	unsigned int timeout_ms =
		opts->timeout_ms ? opts->timeout_ms : IO_NET_DEFAULT_TIMEOUT_MS;
	char why[256] = "";
	struct nbd_io *n;
	int ret;

	ret = io_nbd_lib_load(opts->log);
	if (ret)
		return ret;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	snprintf(n->name, sizeof(n->name), "%s", opts->path);
	n->loop = loop;
	n->log = opts->log;
	for (unsigned int i = 0; i < NBD_MAX_CONNS; i++)
		n->conns[i] = (struct nbd_conn){ .n = n, .index = i, .fd = -1 };
	ret = io_nbd_spec_parse(opts->path, &n->spec, why, sizeof(why));
	if (ret) {
		vback_logf(opts->log, VBACK_LOG_ERR, "io: %s: bad NBD URI: %s",
			   n->name, why);
		goto fail;
	}
	if (!vback_loop_has_fds(loop)) {
		vback_logf(opts->log, VBACK_LOG_ERR,
			   "io: %s: the NBD engine needs a loop that watches "
			   "fds",
			   n->name);
		ret = -ENOTSUP;
		goto fail;
	}
	n->timeout_ns = (uint64_t)timeout_ms * MS;
	n->tick_ns = n->timeout_ns / 8;
	if (n->tick_ns < 10 * MS)
		n->tick_ns = 10 * MS;
	if (n->tick_ns > 500 * MS)
		n->tick_ns = 500 * MS;
	n->depth = opts->queue_depth ? opts->queue_depth : IO_DEFAULT_DEPTH;
	n->nconns = 1;
	n->opening = true;
	ret = connect_first(n, why, sizeof(why));
	if (ret) {
		vback_logf(opts->log, VBACK_LOG_ERR,
			   "io: %s: cannot connect to the NBD server: %s",
			   n->name, why[0] ? why : vback_strerror(ret));
		goto fail;
	}
	ret = read_caps(n, opts);
	if (ret) {
		vback_logf(opts->log, VBACK_LOG_ERR,
			   "io: %s: the export is empty or its block sizes "
			   "are unusable",
			   n->name);
		goto fail;
	}
	ret = alloc_tables(n);
	if (ret)
		goto fail;
	if (nbd_can_multi_conn(n->conns[0].h) == 1) {
		n->nconns = opts->connections ? opts->connections
					      : NBD_DEFAULT_CONNS;
		if (n->nconns > NBD_MAX_CONNS)
			n->nconns = NBD_MAX_CONNS;
	}
	vback_work_init(&n->kick, on_kick, n);
	vback_timer_init(&n->timer, on_tick, n);
	if (!opts->detached) {
		ret = nbd_attach(n);
		if (ret)
			goto fail;
	}
	vback_logf(opts->log, VBACK_LOG_INFO,
		   "io: %s: NBD export of %llu bytes, %s, %u connection%s, "
		   "blocks %u/%u, max payload %llu%s%s%s%s, timeout %u ms",
		   n->name, (unsigned long long)n->caps.size_bytes,
		   n->caps.read_only ? "read-only" : "read-write", n->nconns,
		   n->nconns == 1 ? "" : "s", n->caps.logical_block_size,
		   n->caps.physical_block_size,
		   (unsigned long long)n->max_payload,
		   n->caps.volatile_cache ? ", flush" : "",
		   n->caps.can_fua ? ", fua" : "",
		   n->caps.can_discard ? ", trim" : "",
		   n->caps.can_write_zeroes ? ", zero" : "", timeout_ms);
	out->ops = &io_nbd_ops;
	out->opaque = n;
	return 0;
fail:
	n->opening = true; /* nothing of ours is on the loop */
	nbd_free(n);
	return ret;
}

int io_nbd_connections_ready(const struct vback_io *io)
{
	const struct nbd_io *n;
	int ready = 0;

	if (!io || io->ops != &io_nbd_ops)
		return -EINVAL;
	n = io->opaque;
	for (unsigned int i = 0; i < n->nconns; i++)
		ready += n->conns[i].state == CONN_READY;
	return ready;
}

#else /* !VBACK_HAVE_NBD */

/* Never handed out; keeps vback_io_engine_of() simple. */
const struct vback_io_ops io_nbd_ops = { 0 };

int io_nbd_open(const struct vback_io_options *opts,
		const struct vback_loop *loop, struct vback_io *out)
{
	(void)loop;
	(void)out;
	vback_logf(opts->log, VBACK_LOG_ERR,
		   "io: %s: this vback was built without the NBD engine "
		   "(libnbd-dev, meson -Dnbd=enabled)",
		   opts->path);
	return -ENOTSUP;
}

int io_nbd_connections_ready(const struct vback_io *io)
{
	(void)io;
	return -EINVAL;
}

#endif
