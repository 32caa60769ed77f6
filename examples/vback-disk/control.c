/* SPDX-License-Identifier: MIT */
/* The control socket: see control.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"

/* Stop reading a client while this much of its replies is unsent. */
#define OUT_HIGH (256u * 1024u)
/* Lines handled per loop callback and client; the rest is posted. */
#define LINES_PER_TURN 32u
/* Values per request: far more than any command has. */
#define MAX_NODES 512u
/* Timeouts are checked every quarter of the timeout, 10 ms .. 1 s. */
#define TICK_MIN_NS (10u * 1000u * 1000u)
#define TICK_MAX_NS (1000u * 1000u * 1000u)

struct client {
	struct ctl_server *srv;
	struct client *next;
	int fd;
	uint32_t watched; /* VBACK_EV_* asked of the loop */
	char *in;	  /* max_line + 1 bytes */
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	bool eof;		     /* the peer will send nothing more */
	bool closing;		     /* send what is queued, then close */
	struct ctl_pending *pending; /* an asynchronous command runs */
	uint64_t partial_since;	     /* part of a line waits since */
	uint64_t stalled_since;	     /* replies wait, no progress since */
	struct vback_work work;	     /* handle lines left over */
};

struct ctl_server {
	struct ctl_server_options o;
	char *path;
	dev_t dev;
	ino_t ino;
	int fd;
	struct client *clients;
	unsigned int nclients;
	struct vback_timer tick; /* the timeouts */
	struct json_parser jp;
	struct jw reply; /* one reply, then copied to its client */
};

static void client_drop(struct client *c, const char *why);

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static size_t unsent(const struct client *c)
{
	return c->out_len - c->out_off;
}

static void queue_out(struct client *c, const char *s, size_t n)
{
	if (!n)
		return;
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (n > c->out_cap - c->out_len) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *b;

		/* Compact first: what was sent is gone. */
		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, unsent(c));
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		while (cap < c->out_len + n)
			cap *= 2;
		if (cap != c->out_cap) {
			b = realloc(c->out, cap);
			if (!b) {
				c->closing = true; /* cannot answer: give up */
				return;
			}
			c->out = b;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
}

/* Write what we can. False when the client was dropped. */
static bool flush_out(struct client *c)
{
	const struct vback_loop *loop = c->srv->o.loop;

	while (unsent(c)) {
		ssize_t n = send(c->fd, c->out + c->out_off, unsent(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			client_drop(c, NULL); /* gone: nothing to report */
			return false;
		}
		c->out_off += (size_t)n;
		c->stalled_since = vback_loop_now(loop);
	}
	if (!unsent(c))
		c->stalled_since = 0;
	else if (!c->stalled_since)
		c->stalled_since = vback_loop_now(loop);
	return true;
}

/* ------------------------------------------------------------------ */
/* Input                                                               */
/* ------------------------------------------------------------------ */

static bool may_read(const struct client *c)
{
	return !c->closing && !c->eof && !c->pending && unsent(c) < OUT_HIGH &&
	       c->in_len <= c->srv->o.max_line;
}

/* Watch for what the client's state calls for. False: dropped. */
static bool rewatch(struct client *c)
{
	uint32_t ev = 0;

	if (c->closing && !unsent(c)) {
		client_drop(c, NULL);
		return false;
	}
	if (may_read(c))
		ev |= VBACK_EV_IN;
	if (unsent(c))
		ev |= VBACK_EV_OUT;
	if (ev != c->watched) {
		if (vback_loop_modify(c->srv->o.loop, c->fd, ev) < 0) {
			client_drop(c, "cannot watch it");
			return false;
		}
		c->watched = ev;
	}
	return true;
}

static void pending_done(struct ctl_pending *p, const char *reply, size_t len)
{
	struct client *c = p->opaque;

	free(p);
	if (!c)
		return; /* the client left meanwhile */
	c->pending = NULL;
	queue_out(c, reply, len);
	/* Its next lines, and its replies, from the loop. */
	vback_loop_post(c->srv->o.loop, &c->work);
}

static void handle(struct client *c, const char *line, size_t len)
{
	struct ctl_server *s = c->srv;
	struct ctl_pending *p = calloc(1, sizeof(*p));

	if (!p) {
		c->closing = true;
		return;
	}
	jw_init(&p->result, CTL_MAX_REPLY);
	p->done = pending_done;
	p->opaque = c;
	c->pending = p;
	if (ctl_handle_line(s->o.ops, s->o.opaque, &s->jp, line, len, &s->reply,
			    p) == CTL_PENDING)
		return; /* pending_done() frees p, maybe already has */
	c->pending = NULL;
	jw_free(&p->result);
	free(p);
	queue_out(c, s->reply.buf, s->reply.len);
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/*
 * Handle the complete lines that wait, while the client's replies do not
 * pile up: a client that sends requests and reads no reply is not served
 * beyond OUT_HIGH (on_client() comes back here once replies went out).
 * False when the client was dropped.
 */
static bool process(struct client *c)
{
	struct ctl_server *s = c->srv;
	unsigned int turn = 0;

	while (!c->pending && !c->closing && unsent(c) < OUT_HIGH) {
		char *nl = memchr(c->in, '\n', c->in_len);
		size_t len;

		if (!nl) {
			if (c->in_len > s->o.max_line) {
				char msg[CTL_MAX_MSG];

				snprintf(msg, sizeof(msg),
					 "line longer than %zu bytes: "
					 "closing",
					 s->o.max_line);
				jw_reset(&s->reply);
				ctl_error_reply(&s->reply, NULL, 0,
						CTL_E_REQUEST, msg);
				queue_out(c, s->reply.buf, s->reply.len);
				vback_logf(s->o.log, VBACK_LOG_INFO,
					   "control: a client sent a line "
					   "longer than %zu bytes: dropped",
					   s->o.max_line);
				c->closing = true;
				c->in_len = 0;
				break;
			}
			if (c->eof) {
				/* The last line needs no newline. */
				if (!blank(c->in, c->in_len))
					handle(c, c->in, c->in_len);
				c->in_len = 0;
				c->closing = true;
			}
			break;
		}
		if (turn++ == LINES_PER_TURN) {
			vback_loop_post(s->o.loop, &c->work);
			break;
		}
		len = (size_t)(nl - c->in);
		if (!blank(c->in, len))
			handle(c, c->in, len);
		c->in_len -= len + 1;
		memmove(c->in, nl + 1, c->in_len);
	}
	if (c->in_len && !c->pending && !c->closing && unsent(c) < OUT_HIGH) {
		if (!c->partial_since)
			c->partial_since = vback_loop_now(s->o.loop);
	} else {
		c->partial_since = 0;
	}
	if (unsent(c) && !flush_out(c))
		return false;
	return rewatch(c);
}

static void on_work(void *opaque)
{
	process(opaque);
}

static void on_client(void *opaque, int fd, uint32_t events)
{
	struct client *c = opaque;
	size_t room = c->srv->o.max_line + 1 - c->in_len;

	if ((events & VBACK_EV_OUT) && !flush_out(c))
		return;
	if ((events & (VBACK_EV_IN | VBACK_EV_ERR)) && may_read(c) && room) {
		ssize_t n = recv(fd, c->in + c->in_len, room, MSG_DONTWAIT);

		if (n > 0) {
			c->in_len += (size_t)n;
		} else if (n == 0) {
			c->eof = true;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			   errno != EINTR) {
			client_drop(c, NULL);
			return;
		}
	} else if ((events & VBACK_EV_ERR) && !unsent(c)) {
		/* Hung up while we were not reading: nothing left to do. */
		client_drop(c, NULL);
		return;
	}
	process(c);
}

/* ------------------------------------------------------------------ */
/* Clients                                                             */
/* ------------------------------------------------------------------ */

static void client_drop(struct client *c, const char *why)
{
	struct ctl_server *s = c->srv;

	for (struct client **pp = &s->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	s->nclients--;
	if (why)
		vback_logf(s->o.log, VBACK_LOG_INFO,
			   "control: client %s: dropped", why);
	if (c->pending)
		c->pending->opaque = NULL; /* its reply goes nowhere */
	vback_loop_cancel(s->o.loop, &c->work);
	vback_loop_unwatch(s->o.loop, c->fd);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* The uid of the peer may talk to us: ours, or root's. */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void refuse(struct ctl_server *s, int fd, const char *msg)
{
	jw_reset(&s->reply);
	ctl_error_reply(&s->reply, NULL, 0, -EBUSY, msg);
	/* Best effort: one short line into an empty socket buffer. */
	(void)!send(fd, s->reply.buf, s->reply.len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void on_accept(void *opaque, int lfd, uint32_t events)
{
	struct ctl_server *s = opaque;

	(void)events;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c;

		if (fd < 0)
			return; /* EAGAIN, or a client that left already */
		if (!peer_allowed(fd)) {
			vback_logf(s->o.log, VBACK_LOG_WARN,
				   "control: refused a client of another "
				   "user");
			close(fd);
			continue;
		}
		if (s->nclients >= s->o.max_clients) {
			vback_logf(s->o.log, VBACK_LOG_WARN,
				   "control: %u clients already: refused one",
				   s->nclients);
			refuse(s, fd, "too many control clients");
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->in = malloc(s->o.max_line + 1);
		if (!c || !c->in) {
			if (c)
				free(c);
			close(fd);
			continue;
		}
		c->srv = s;
		c->fd = fd;
		c->watched = VBACK_EV_IN;
		vback_work_init(&c->work, on_work, c);
		if (vback_loop_watch(s->o.loop, fd, VBACK_EV_IN, on_client, c) <
		    0) {
			free(c->in);
			free(c);
			close(fd);
			continue;
		}
		c->next = s->clients;
		s->clients = c;
		s->nclients++;
	}
}

static void on_tick(void *opaque)
{
	struct ctl_server *s = opaque;
	uint64_t now = vback_loop_now(s->o.loop);
	uint64_t limit = (uint64_t)s->o.idle_timeout_ms * 1000000u;
	struct client *c = s->clients, *next;

	for (; c; c = next) {
		next = c->next;
		if (c->partial_since && now - c->partial_since >= limit)
			client_drop(c, "sent no end of line in time");
		else if (c->stalled_since && now - c->stalled_since >= limit)
			client_drop(c, "did not read its replies in time");
	}
}

/* ------------------------------------------------------------------ */
/* The socket                                                          */
/* ------------------------------------------------------------------ */

/* Make room at @path: a stale socket goes, a live one or a file stays. */
static int clear_path(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	/* Non-blocking: a listener whose backlog is full (EAGAIN) is alive
	 * too, and must not hold the start-up. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	if (rc < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 || rc == -EAGAIN)
		return -EADDRINUSE; /* another daemon serves it */
	return unlink(sa->sun_path) < 0 && errno != ENOENT ? -errno : 0;
}

static int listen_on(struct ctl_server *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int rc;

	if (strlen(s->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, s->path);
	rc = clear_path(&sa);
	if (rc < 0)
		return rc;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	/* Created 0600 (no window with a wider mode), then checked. */
	old = umask(0177);
	rc = bind(s->fd, (const struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0)
		return -errno;
	if (chmod(s->path, 0600) < 0 || stat(s->path, &st) < 0) {
		rc = -errno;
		unlink(s->path);
		return rc;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (listen(s->fd, 16) < 0) {
		rc = -errno;
		unlink(s->path);
		return rc;
	}
	return 0;
}

int ctl_server_create(const struct ctl_server_options *o,
		      struct ctl_server **out)
{
	struct ctl_server *s;
	uint64_t tick;
	int rc;

	if (!o->path || !o->loop || !o->ops || !vback_loop_has_fds(o->loop))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *o;
	s->fd = -1;
	if (!s->o.max_line)
		s->o.max_line = CTL_DEFAULT_MAX_LINE;
	if (!s->o.max_clients)
		s->o.max_clients = CTL_DEFAULT_MAX_CLIENTS;
	if (!s->o.idle_timeout_ms)
		s->o.idle_timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
	jw_init(&s->reply, CTL_MAX_REPLY);
	vback_timer_init(&s->tick, on_tick, s);
	s->path = strdup(o->path);
	s->jp.max_nodes = MAX_NODES;
	s->jp.nodes = calloc(MAX_NODES, sizeof(*s->jp.nodes));
	s->jp.strings_size = s->o.max_line + 1;
	s->jp.strings = malloc(s->jp.strings_size);
	if (!s->path || !s->jp.nodes || !s->jp.strings) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = listen_on(s);
	if (rc < 0)
		goto fail;
	rc = vback_loop_watch(o->loop, s->fd, VBACK_EV_IN, on_accept, s);
	if (rc < 0) {
		unlink(s->path);
		goto fail;
	}
	tick = (uint64_t)s->o.idle_timeout_ms * 1000000u / 4;
	tick = tick < TICK_MIN_NS   ? TICK_MIN_NS
	       : tick > TICK_MAX_NS ? TICK_MAX_NS
				    : tick;
	rc = vback_timer_arm(o->loop, &s->tick, tick, tick);
	if (rc < 0) {
		vback_loop_unwatch(o->loop, s->fd);
		unlink(s->path);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->path);
	s->path = NULL;
	ctl_server_destroy(s);
	return rc;
}

void ctl_server_destroy(struct ctl_server *s)
{
	struct stat st;

	if (!s)
		return;
	while (s->clients)
		client_drop(s->clients, NULL);
	vback_timer_cancel(s->o.loop, &s->tick);
	if (s->fd >= 0) {
		vback_loop_unwatch(s->o.loop, s->fd);
		close(s->fd);
		/* Only our own socket: someone may have replaced it. */
		if (!stat(s->path, &st) && st.st_dev == s->dev &&
		    st.st_ino == s->ino)
			unlink(s->path);
	}
	jw_free(&s->reply);
	free(s->jp.nodes);
	free(s->jp.strings);
	free(s->path);
	free(s);
}

unsigned int ctl_server_clients(const struct ctl_server *s)
{
	return s->nclients;
}
