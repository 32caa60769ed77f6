/* SPDX-License-Identifier: MIT */
/*
 * The control protocol: the command layer (examples/vback-disk/ctl.c) on
 * fake ops, then the socket server (control.c) on a real epoll loop with
 * real clients: the socket's mode, replies in order, asynchronous
 * commands, malformed and oversized lines, clients that stall, flood or
 * come too many.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vback/epoll.h>

#include "control.h"
#include "ctl.h"
#include "json.h"

/* ------------------------------------------------------------------ */
/* Fake ops                                                            */
/* ------------------------------------------------------------------ */

struct fake {
	unsigned int lists, adds, removes;
	struct ctl_request last;
	char name[64], socket[64], image[64], serial[32];
	struct ctl_pending *pending;
	size_t list_bytes; /* write this many bytes of result */
};

static int f_list(void *opaque, const struct ctl_request *req, struct jw *w,
		  char *msg)
{
	struct fake *f = opaque;

	(void)msg;
	f->lists++;
	jw_object(w);
	jw_key(w, "name");
	if (req->name)
		jw_string(w, req->name);
	else
		jw_null(w);
	if (f->list_bytes) {
		char *big = malloc(f->list_bytes + 1);

		memset(big, 'x', f->list_bytes);
		big[f->list_bytes] = '\0';
		jw_key(w, "big");
		jw_string(w, big);
		free(big);
	}
	jw_object_end(w);
	return 0;
}

static void keep(char *dst, size_t n, const char *s)
{
	snprintf(dst, n, "%s", s ? s : "");
}

static int f_add(void *opaque, const struct ctl_request *req,
		 struct ctl_pending *p, char *msg)
{
	struct fake *f = opaque;

	(void)msg;
	f->adds++;
	f->last = *req;
	keep(f->name, sizeof(f->name), req->name);
	keep(f->socket, sizeof(f->socket), req->socket);
	keep(f->image, sizeof(f->image), req->image);
	keep(f->serial, sizeof(f->serial), req->serial);
	jw_object(&p->result);
	jw_object_end(&p->result);
	ctl_pending_done(p, 0, NULL);
	return 0;
}

static int f_resize(void *opaque, const struct ctl_request *req, struct jw *w,
		    char *msg)
{
	(void)opaque;
	(void)w;
	snprintf(msg, CTL_MAX_MSG, "no disk named %s", req->name);
	return -ENOENT;
}

static int f_remove(void *opaque, const struct ctl_request *req,
		    struct ctl_pending *p, char *msg)
{
	struct fake *f = opaque;

	f->removes++;
	if (!strcmp(req->name, "busy")) {
		snprintf(msg, CTL_MAX_MSG, "busy");
		return -EBUSY;
	}
	jw_object(&p->result);
	jw_key(&p->result, "name");
	jw_string(&p->result, req->name);
	jw_object_end(&p->result);
	if (!strcmp(req->name, "now")) {
		ctl_pending_done(p, 0, NULL); /* from inside the op */
		return 0;
	}
	f->pending = p;
	return 0;
}

static const struct ctl_ops fake_ops = {
	.list = f_list, .add = f_add, .resize = f_resize, .remove = f_remove,
	/* no log_level: "not available in this mode" */
};

/* ------------------------------------------------------------------ */
/* The command layer                                                   */
/* ------------------------------------------------------------------ */

static struct json_value nodes[512];
static char strings[65537];
static const struct json_parser jp = {
	.nodes = nodes,
	.max_nodes = 512,
	.strings = strings,
	.strings_size = sizeof(strings),
};

static char pending_reply[4096];

static void pend_done(struct ctl_pending *p, const char *reply, size_t len)
{
	(void)p;
	assert_true(len < sizeof(pending_reply));
	memcpy(pending_reply, reply, len);
	pending_reply[len] = '\0';
}

/* The reply line of @line, as a C string (static). */
static const char *ask(struct fake *f, const char *line)
{
	static char out[8192];
	static struct ctl_pending p;
	struct jw w;

	memset(&p, 0, sizeof(p));
	jw_init(&p.result, 4096);
	p.done = pend_done;
	jw_init(&w, sizeof(out) - 1);
	pending_reply[0] = '\0';
	if (ctl_handle_line(&fake_ops, f, &jp, line, strlen(line), &w, &p) ==
	    CTL_PENDING) {
		jw_free(&w);
		if (f->pending) {
			ctl_pending_done(f->pending, 0, NULL);
			f->pending = NULL;
		}
		return pending_reply;
	}
	jw_free(&p.result);
	assert_true(w.len > 0 && w.buf[w.len - 1] == '\n');
	memcpy(out, w.buf, w.len);
	out[w.len] = '\0';
	jw_free(&w);
	return out;
}

static bool has(const char *reply, const char *part)
{
	if (strstr(reply, part))
		return true;
	print_error("reply '%s' lacks '%s'\n", reply, part);
	return false;
}

static void test_requests(void **state)
{
	struct fake f = { 0 };

	(void)state;
	assert_string_equal(ask(&f, "{\"id\":1,\"cmd\":\"list\"}"),
			    "{\"id\":1,\"ok\":{\"name\":null}}\n");
	assert_string_equal(ask(&f,
				"{\"cmd\":\"list\",\"args\":{\"name\":\"d1\"},"
				"\"id\":\"x\\u0041\"}"),
			    "{\"id\":\"x\\u0041\",\"ok\":{\"name\":\"d1\"}}\n");
	assert_string_equal(ask(&f, " {\"cmd\" : \"list\"}\r"),
			    "{\"id\":null,\"ok\":{\"name\":null}}\n");
	assert_int_equal(f.lists, 3);
	assert_true(has(ask(&f, "{\"id\":2,\"cmd\":\"add\",\"args\":{"
				"\"socket\":\"/s\",\"image\":\"/i\","
				"\"ro\":true,\"serial\":\"SN\",\"queues\":4,"
				"\"name\":\"n\"}}"),
			"{\"id\":2,\"ok\":{}}"));
	assert_int_equal(f.adds, 1);
	assert_string_equal(f.socket, "/s");
	assert_string_equal(f.image, "/i");
	assert_string_equal(f.serial, "SN");
	assert_string_equal(f.name, "n");
	assert_true(f.last.read_only);
	assert_int_equal(f.last.queues, 4);
	assert_true(has(ask(&f, "{\"id\":3,\"cmd\":\"help\"}"),
			"\"cmd\":\"remove\""));
	/* The op's error, with its errno and message. */
	assert_string_equal(
		ask(&f, "{\"id\":4,\"cmd\":\"resize\",\"args\":{\"name\":"
			"\"zz\"}}"),
		"{\"id\":4,\"error\":{\"code\":-2,\"message\":\"no disk "
		"named zz\"}}\n");
}

static void test_bad_requests(void **state)
{
	static const struct {
		const char *line;
		int code;
	} bad[] = {
		{ "not json", CTL_E_PARSE },
		{ "{\"cmd\":\"list\"", CTL_E_PARSE },
		{ "{\"cmd\":\"list\",\"cmd\":\"add\"}", CTL_E_PARSE },
		{ "[\"list\"]", CTL_E_REQUEST },
		{ "\"list\"", CTL_E_REQUEST },
		{ "{}", CTL_E_REQUEST },
		{ "{\"cmd\":7}", CTL_E_REQUEST },
		{ "{\"cmd\":\"list\",\"extra\":1}", CTL_E_REQUEST },
		{ "{\"cmd\":\"list\",\"id\":{}}", CTL_E_REQUEST },
		{ "{\"cmd\":\"list\",\"id\":[1]}", CTL_E_REQUEST },
		{ "{\"cmd\":\"list\",\"id\":true}", CTL_E_REQUEST },
		{ "{\"cmd\":\"frob\"}", CTL_E_COMMAND },
		{ "{\"cmd\":\"log-level\"}", CTL_E_COMMAND }, /* no op */
		{ "{\"cmd\":\"list\",\"args\":[]}", CTL_E_ARGS },
		{ "{\"cmd\":\"list\",\"args\":{\"nme\":\"a\"}}", CTL_E_ARGS },
		{ "{\"cmd\":\"list\",\"args\":{\"name\":1}}", CTL_E_ARGS },
		{ "{\"cmd\":\"list\",\"args\":{\"name\":\"\"}}", CTL_E_ARGS },
		{ "{\"cmd\":\"remove\"}", CTL_E_ARGS },
		{ "{\"cmd\":\"add\",\"args\":{\"socket\":\"/s\"}}",
		  CTL_E_ARGS },
		{ "{\"cmd\":\"add\",\"args\":{\"socket\":\"/s\",\"image\":"
		  "\"/i\",\"ro\":\"yes\"}}",
		  CTL_E_ARGS },
		{ "{\"cmd\":\"add\",\"args\":{\"socket\":\"/s\",\"image\":"
		  "\"/i\",\"queues\":0}}",
		  CTL_E_ARGS },
		{ "{\"cmd\":\"add\",\"args\":{\"socket\":\"/s\",\"image\":"
		  "\"/i\",\"queues\":65}}",
		  CTL_E_ARGS },
		{ "{\"cmd\":\"add\",\"args\":{\"socket\":\"/s\",\"image\":"
		  "\"/i\",\"queues\":2.0}}",
		  CTL_E_ARGS },
		{ "{\"cmd\":\"add\",\"args\":{\"socket\":\"/s\",\"image\":"
		  "\"/i\",\"serial\":\"123456789012345678901\"}}",
		  CTL_E_ARGS },
	};
	struct fake f = { 0 };
	char want[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = ask(&f, bad[i].line);

		snprintf(want, sizeof(want), "\"code\":%d,", bad[i].code);
		if (!strstr(r, want) || !strstr(r, "\"message\":\""))
			fail_msg("'%s' -> '%s', want code %d", bad[i].line, r,
				 bad[i].code);
	}
	/* Nothing reached the ops. */
	assert_int_equal(f.lists + f.adds + f.removes, 0);
	/* An id that can be echoed is, even when the rest is wrong. */
	assert_true(has(ask(&f, "{\"id\":77,\"cmd\":\"frob\"}"),
			"{\"id\":77,\"error\":"));
	/* One that is too long is not. */
	{
		char line[400];

		snprintf(line, sizeof(line), "{\"id\":\"%0200d\",\"cmd\":1}",
			 0);
		assert_true(has(ask(&f, line), "{\"id\":null,\"error\":"));
	}
}

static void test_pending_and_limits(void **state)
{
	struct fake f = { 0 };

	(void)state;
	assert_string_equal(
		ask(&f, "{\"id\":5,\"cmd\":\"remove\",\"args\":{\"name\":"
			"\"d\"}}"),
		"{\"id\":5,\"ok\":{\"name\":\"d\"}}\n");
	assert_string_equal(
		ask(&f, "{\"id\":6,\"cmd\":\"remove\",\"args\":{\"name\":"
			"\"now\"}}"),
		"{\"id\":6,\"ok\":{\"name\":\"now\"}}\n");
	assert_true(has(ask(&f, "{\"id\":7,\"cmd\":\"remove\",\"args\":{"
				"\"name\":\"busy\"}}"),
			"{\"id\":7,\"error\":{\"code\":-16,"));
	/* A reply past the writer's limit becomes an error reply. */
	f.list_bytes = 10000;
	assert_true(has(ask(&f, "{\"id\":8,\"cmd\":\"list\"}"),
			"{\"id\":8,\"error\":{\"code\":-7,"));
	f.list_bytes = 0;
	/* Too many values for the parser. */
	{
		static char line[8192];
		size_t n = 0;

		n += (size_t)sprintf(line, "{\"cmd\":\"list\",\"id\":[");
		for (int i = 0; i < 600; i++)
			n += (size_t)sprintf(line + n, "%s0", i ? "," : "");
		sprintf(line + n, "]}");
		assert_true(has(ask(&f, line), "\"code\":-32600,"));
	}
}

/* ------------------------------------------------------------------ */
/* The socket server                                                   */
/* ------------------------------------------------------------------ */

struct srv {
	char dir[64], path[128];
	struct vback_loop *loop;
	struct ctl_server *s;
	struct fake f;
	struct vback_log log;
};

static void quiet(void *opaque, enum vback_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void srv_start(struct srv *t, unsigned int max_clients,
		      unsigned int timeout_ms)
{
	struct ctl_server_options o = { 0 };

	memset(t, 0, sizeof(*t));
	t->log =
		(struct vback_log){ .fn = quiet, .max_level = VBACK_LOG_DEBUG };
	snprintf(t->dir, sizeof(t->dir), "/tmp/vback-ctl.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/ctl.sock", t->dir);
	assert_int_equal(vback_epoll_loop_create(&t->log, &t->loop), 0);
	o.path = t->path;
	o.loop = t->loop;
	o.log = &t->log;
	o.ops = &fake_ops;
	o.opaque = &t->f;
	o.max_line = 1024;
	o.max_clients = max_clients;
	o.idle_timeout_ms = timeout_ms;
	assert_int_equal(ctl_server_create(&o, &t->s), 0);
}

static void srv_stop(struct srv *t)
{
	ctl_server_destroy(t->s);
	vback_epoll_loop_destroy(t->loop);
	assert_int_equal(access(t->path, F_OK), -1); /* socket removed */
	rmdir(t->dir);
}

static void pump(struct srv *t, int ms)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		vback_loop_run_once(t->loop, 5);
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while ((t1.tv_sec - t0.tv_sec) * 1000 +
			 (t1.tv_nsec - t0.tv_nsec) / 1000000 <
		 ms);
}

static int client(struct srv *t)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, t->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void say_(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL),
			 (ssize_t)strlen(s));
}

/* Read what is there (after pumping): into buf, NUL-terminated; the
 * number of bytes, 0 at EOF, -1 when nothing came. */
static ssize_t hear(struct srv *t, int fd, char *buf, size_t len)
{
	ssize_t n = -1, k;

	for (int i = 0; i < 200; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		vback_loop_run_once(t->loop, 5);
		if (poll(&p, 1, 0) == 1)
			break;
	}
	pump(t, 20);
	while ((size_t)(n < 0 ? 0 : n) < len - 1 &&
	       (k = recv(fd, buf + (n < 0 ? 0 : n),
			 len - 1 - (size_t)(n < 0 ? 0 : n), MSG_DONTWAIT)) >=
		       0) {
		n = (n < 0 ? 0 : n) + k;
		if (k == 0)
			break;
	}
	buf[n < 0 ? 0 : n] = '\0';
	return n;
}

static bool closed(struct srv *t, int fd)
{
	char buf[4096];

	for (int i = 0; i < 100; i++) {
		ssize_t k;

		pump(t, 5);
		while ((k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			;
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return true;
	}
	return false;
}

static void test_socket_basics(void **state)
{
	struct srv t;
	struct stat st;
	char buf[4096];
	int fd;

	(void)state;
	srv_start(&t, 4, 10000);
	/* 0600, a socket, ours. */
	assert_int_equal(lstat(t.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_uid, geteuid());

	fd = client(&t);
	/* Two requests in one write, a blank line, one cut in two. */
	say_(fd, "{\"id\":1,\"cmd\":\"list\"}\n\n  \n{\"id\":2,\"cmd\":\"li");
	assert_true(hear(&t, fd, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"id\":1,\"ok\":{\"name\":null}}\n");
	say_(fd, "st\"}\n");
	assert_true(hear(&t, fd, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"id\":2,\"ok\":{\"name\":null}}\n");
	/* Garbage gets an error and the connection goes on. */
	say_(fd, "\x01\x02garbage\xff\n{\"id\":3,\"cmd\":\"list\"}\n");
	assert_true(hear(&t, fd, buf, sizeof(buf)) > 0);
	assert_true(has(buf, "{\"id\":null,\"error\":{\"code\":-32700,"));
	assert_true(has(buf, "\n{\"id\":3,\"ok\":"));
	/* An asynchronous command holds the next reply back: order kept. */
	say_(fd, "{\"id\":4,\"cmd\":\"remove\",\"args\":{\"name\":\"d\"}}\n"
		 "{\"id\":5,\"cmd\":\"list\"}\n");
	assert_int_equal(hear(&t, fd, buf, sizeof(buf)), -1);
	assert_non_null(t.f.pending);
	assert_int_equal(t.f.lists, 3);
	ctl_pending_done(t.f.pending, 0, NULL);
	t.f.pending = NULL;
	assert_true(hear(&t, fd, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"id\":4,\"ok\":{\"name\":\"d\"}}\n"
				 "{\"id\":5,\"ok\":{\"name\":null}}\n");
	/* A last line without a newline, then EOF: answered, closed. */
	say_(fd, "{\"id\":6,\"cmd\":\"list\"}");
	shutdown(fd, SHUT_WR);
	assert_true(hear(&t, fd, buf, sizeof(buf)) > 0);
	assert_true(has(buf, "{\"id\":6,\"ok\":"));
	assert_true(closed(&t, fd));
	close(fd);
	pump(&t, 10);
	assert_int_equal(ctl_server_clients(t.s), 0);
	srv_stop(&t);
}

static void test_client_gone_while_pending(void **state)
{
	struct srv t;
	int fd;

	(void)state;
	srv_start(&t, 4, 10000);
	fd = client(&t);
	say_(fd, "{\"id\":4,\"cmd\":\"remove\",\"args\":{\"name\":\"d\"}}\n");
	pump(&t, 20);
	assert_non_null(t.f.pending);
	close(fd);
	pump(&t, 20);
	assert_int_equal(ctl_server_clients(t.s), 0);
	/* The reply goes nowhere, and nothing breaks. */
	ctl_pending_done(t.f.pending, 0, NULL);
	pump(&t, 10);
	/* Also when the server goes first. */
	fd = client(&t);
	say_(fd, "{\"id\":4,\"cmd\":\"remove\",\"args\":{\"name\":\"e\"}}\n");
	pump(&t, 20);
	srv_stop(&t);
	ctl_pending_done(t.f.pending, 0, NULL);
	close(fd);
}

static void test_oversized_line(void **state)
{
	struct srv t;
	char big[3000], buf[4096];
	int fd, other;

	(void)state;
	srv_start(&t, 4, 10000);
	other = client(&t);
	fd = client(&t);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	say_(fd, big);
	assert_true(hear(&t, fd, buf, sizeof(buf)) > 0);
	assert_true(has(buf, "{\"id\":null,\"error\":{\"code\":-32600,"
			     "\"message\":\"line longer than 1024 bytes"));
	assert_true(closed(&t, fd));
	close(fd);
	/* A line of exactly the limit is fine. */
	{
		char line[1025];

		memset(line, ' ', 1024);
		memcpy(line, "{\"cmd\":\"list\"}", 14);
		line[1024] = '\0';
		say_(other, line);
		say_(other, "\n");
		assert_true(hear(&t, other, buf, sizeof(buf)) > 0);
		assert_true(has(buf, "\"ok\":"));
	}
	close(other);
	srv_stop(&t);
}

static void test_stalled_clients(void **state)
{
	struct srv t;
	char buf[4096];
	int partial, quiet_ok, flood;
	size_t sent = 0;

	(void)state;
	srv_start(&t, 8, 300);
	partial = client(&t);
	quiet_ok = client(&t);
	flood = client(&t);
	/* Part of a line and no more: dropped after the timeout. A client
	 * that sends nothing may stay. */
	say_(partial, "{\"cmd\":");
	pump(&t, 100);
	assert_int_equal(ctl_server_clients(t.s), 3);
	/* Requests without reading a reply: the server stops reading it
	 * once its replies pile up, then drops it. */
	fcntl(flood, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 20000; i++) {
		static const char req[] = "{\"cmd\":\"list\"}\n";
		ssize_t k = send(flood, req, sizeof(req) - 1, MSG_NOSIGNAL);

		if (k < 0)
			break;
		sent += (size_t)k;
		if (i % 64 == 0)
			vback_loop_run_once(t.loop, 0);
	}
	assert_true(sent > 0);
	pump(&t, 700);
	assert_true(closed(&t, partial));
	assert_true(closed(&t, flood));
	assert_int_equal(ctl_server_clients(t.s), 1);
	/* The well-behaved one still gets answers. */
	say_(quiet_ok, "{\"id\":9,\"cmd\":\"list\"}\n");
	assert_true(hear(&t, quiet_ok, buf, sizeof(buf)) > 0);
	assert_true(has(buf, "{\"id\":9,\"ok\":"));
	close(partial);
	close(flood);
	close(quiet_ok);
	srv_stop(&t);
}

/*
 * Requests already read are not all answered when the client reads no
 * reply: the server stops at its output limit (256 KiB) and goes on once
 * the client reads; nothing is lost.
 */
static void test_replies_pile_up(void **state)
{
	enum { N = 60, BIG = 16 * 1024 };
	static char buf[N * (BIG + 64)];
	struct srv t;
	size_t got = 0;
	unsigned int replies = 0;
	int fd;

	(void)state;
	srv_start(&t, 4, 10000);
	t.f.list_bytes = BIG;
	fd = client(&t);
	/* N lines in one write: all of them fit the 1 KiB line buffer. */
	for (int i = 0; i < N; i++)
		say_(fd, "{\"cmd\":\"list\"}\n");
	pump(&t, 100);
	/* 256 KiB waiting, the socket's buffer full: about 30 replies, far
	 * from N (the old code answered all N, 1 MiB in memory). */
	assert_true(t.f.lists >= 10);
	assert_true(t.f.lists <= 45);
	/* Reading lets it go on, to the last request. */
	for (int i = 0; i < 2000 && replies < N; i++) {
		ssize_t k;

		vback_loop_run_once(t.loop, 1);
		while ((k = recv(fd, buf + got, sizeof(buf) - got,
				 MSG_DONTWAIT)) > 0)
			got += (size_t)k;
		replies = 0;
		for (size_t j = 0; j < got; j++)
			replies += buf[j] == '\n';
	}
	assert_int_equal(replies, N);
	assert_int_equal(t.f.lists, N);
	assert_int_equal(ctl_server_clients(t.s), 1);
	close(fd);
	srv_stop(&t);
}

static void test_too_many_clients(void **state)
{
	struct srv t;
	char buf[4096];
	int fds[3], extra;

	(void)state;
	srv_start(&t, 3, 10000);
	for (int i = 0; i < 3; i++)
		fds[i] = client(&t);
	pump(&t, 20);
	assert_int_equal(ctl_server_clients(t.s), 3);
	extra = client(&t);
	assert_true(hear(&t, extra, buf, sizeof(buf)) > 0);
	assert_true(has(buf, "\"code\":-16,\"message\":\"too many"));
	assert_true(closed(&t, extra));
	close(extra);
	close(fds[0]);
	pump(&t, 20);
	extra = client(&t);
	say_(extra, "{\"id\":1,\"cmd\":\"list\"}\n");
	assert_true(hear(&t, extra, buf, sizeof(buf)) > 0);
	assert_true(has(buf, "{\"id\":1,\"ok\":"));
	close(extra);
	close(fds[1]);
	close(fds[2]);
	srv_stop(&t);
}

static void test_socket_path(void **state)
{
	struct srv t;
	struct ctl_server_options o = { 0 };
	struct ctl_server *s2;
	char file[160];
	int fd;

	(void)state;
	srv_start(&t, 4, 10000);
	o.loop = t.loop;
	o.log = &t.log;
	o.ops = &fake_ops;
	/* A live server's socket is not taken over. */
	o.path = t.path;
	assert_int_equal(ctl_server_create(&o, &s2), -EADDRINUSE);
	/* Nor one whose backlog is full (a blocking connect would hang). */
	snprintf(file, sizeof(file), "%s/full", t.dir);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int c[8], n = 0;

		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		strcpy(sa.sun_path, file);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)),
				 0);
		assert_int_equal(listen(fd, 0), 0);
		/* Fill the backlog: connects that are never accepted. */
		while (n < 8) {
			c[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (connect(c[n], (struct sockaddr *)&sa, sizeof(sa))) {
				assert_int_equal(errno, EAGAIN);
				close(c[n]);
				break;
			}
			n++;
		}
		assert_true(n < 8);
		o.path = file;
		assert_int_equal(ctl_server_create(&o, &s2), -EADDRINUSE);
		assert_int_equal(access(file, F_OK), 0);
		while (n--)
			close(c[n]);
		close(fd);
		unlink(file);
	}
	/* A regular file is left alone. */
	snprintf(file, sizeof(file), "%s/file", t.dir);
	fd = open(file, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	o.path = file;
	assert_int_equal(ctl_server_create(&o, &s2), -EEXIST);
	unlink(file);
	/* A stale socket (nobody listens) is replaced. */
	snprintf(file, sizeof(file), "%s/stale", t.dir);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		strcpy(sa.sun_path, file);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)),
				 0);
		close(fd);
	}
	o.path = file;
	assert_int_equal(ctl_server_create(&o, &s2), 0);
	ctl_server_destroy(s2);
	assert_int_equal(access(file, F_OK), -1);
	/* Too long for a sockaddr_un. */
	{
		char path[200];

		memset(path, 'a', sizeof(path) - 1);
		path[0] = '/';
		path[sizeof(path) - 1] = '\0';
		o.path = path;
		assert_int_equal(ctl_server_create(&o, &s2), -ENAMETOOLONG);
	}
	srv_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_pending_and_limits),
		cmocka_unit_test(test_socket_basics),
		cmocka_unit_test(test_client_gone_while_pending),
		cmocka_unit_test(test_oversized_line),
		cmocka_unit_test(test_stalled_clients),
		cmocka_unit_test(test_replies_pile_up),
		cmocka_unit_test(test_too_many_clients),
		cmocka_unit_test(test_socket_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
