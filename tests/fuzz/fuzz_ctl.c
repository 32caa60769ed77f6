/* SPDX-License-Identifier: MIT */
/*
 * The control socket's command layer and JSON reader/writer
 * (examples/vback-disk/ctl.c, json.c): the input is split into lines as
 * the socket server splits a client's bytes, and each line goes through
 * ctl_handle_line() on ops that echo what they were given back into the
 * reply (paths, names, serials: any bytes the parser let through).
 *
 * Invariants:
 *  - every line gets exactly one reply, now or through the pending
 *    completion; the reply is one line of valid JSON (our own reader
 *    accepts it) holding "id" and exactly one of "ok" and "error", and an
 *    error has an integer "code" and a string "message";
 *  - a request the reader accepted reaches an op only with the arguments
 *    its command allows, strings of the allowed lengths;
 *  - the whole input, when the reader accepts it, is written back by the
 *    writer to text that reads back and writes out the same again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "fuzz_common.h"
#include "json.h"

#define MAX_LINE 4096u

static struct json_value nodes[512];
static char strings[MAX_LINE + 1];
static const struct json_parser jp = {
	.nodes = nodes,
	.max_nodes = 512,
	.strings = strings,
	.strings_size = sizeof(strings),
};
/* For checking replies and round trips (they may be longer). */
static struct json_value check_nodes[8192];
static char check_strings[1 << 17];
static const struct json_parser check_jp = {
	.nodes = check_nodes,
	.max_nodes = 8192,
	.strings = check_strings,
	.strings_size = sizeof(check_strings),
};

static unsigned int replies, pending_now;
static struct ctl_pending *held;

static void check_string_arg(const char *s, size_t max)
{
	if (!s)
		return;
	FZ_CHECK(strlen(s) >= 1 && strlen(s) <= max, "arg of %zu bytes",
		 strlen(s));
}

static void check_req(const struct ctl_request *req)
{
	check_string_arg(req->name, CTL_MAX_NAME);
	check_string_arg(req->socket, 4095);
	check_string_arg(req->image, 4095);
	check_string_arg(req->serial, 20);
	check_string_arg(req->level, 5);
	FZ_CHECK(req->queues <= 64, "queues %u", req->queues);
	if (req->cmd != CTL_CMD_ADD)
		FZ_CHECK(!req->socket && !req->image && !req->serial &&
				 !req->queues && !req->read_only,
			 "add arguments for %s", ctl_cmd_name(req->cmd));
	if (req->cmd == CTL_CMD_REMOVE || req->cmd == CTL_CMD_RESIZE)
		FZ_CHECK(req->name, "%s without a name",
			 ctl_cmd_name(req->cmd));
	if (req->cmd == CTL_CMD_ADD)
		FZ_CHECK(req->socket && req->image, "add without socket/image");
}

static void echo(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	if (s)
		jw_string(w, s);
	else
		jw_null(w);
}

static int op_list(void *opaque, const struct ctl_request *req, struct jw *w,
		   char *msg)
{
	(void)opaque;
	check_req(req);
	if (req->name && req->name[0] == 'E') {
		/* A message built from client bytes, cut anywhere. */
		snprintf(msg, CTL_MAX_MSG, "no disk named %.7s", req->name);
		return -2;
	}
	jw_object(w);
	echo(w, "name", req->name);
	jw_key(w, "disks");
	jw_array(w);
	jw_array_end(w);
	jw_object_end(w);
	return 0;
}

static int op_add(void *opaque, const struct ctl_request *req,
		  struct ctl_pending *p, char *msg)
{
	struct jw *w = &p->result;

	(void)opaque;
	(void)msg;
	check_req(req);
	jw_object(w);
	echo(w, "name", req->name);
	echo(w, "socket", req->socket);
	echo(w, "image", req->image);
	echo(w, "serial", req->serial);
	jw_key(w, "ro");
	jw_bool(w, req->read_only);
	jw_key(w, "queues");
	jw_u64(w, req->queues);
	jw_object_end(w);
	ctl_pending_done(p, 0, NULL); /* from inside the op */
	return 0;
}

static int op_resize(void *opaque, const struct ctl_request *req, struct jw *w,
		     char *msg)
{
	(void)opaque;
	(void)w;
	check_req(req);
	snprintf(msg, CTL_MAX_MSG, "%s: cannot re-read the size", req->name);
	return -95;
}

static int op_log_level(void *opaque, const struct ctl_request *req,
			struct jw *w, char *msg)
{
	(void)opaque;
	(void)msg;
	check_req(req);
	jw_object(w);
	echo(w, "level", req->level);
	jw_object_end(w);
	return 0;
}

static int op_remove(void *opaque, const struct ctl_request *req,
		     struct ctl_pending *p, char *msg)
{
	(void)opaque;
	check_req(req);
	switch (req->name[0] % 3) {
	case 0:
		snprintf(msg, CTL_MAX_MSG, "%s is busy", req->name);
		return -16;
	case 1:
		jw_object(&p->result);
		echo(&p->result, "name", req->name);
		jw_object_end(&p->result);
		ctl_pending_done(p, 0, NULL); /* from inside the op */
		return 0;
	default:
		held = p; /* later, with an error */
		return 0;
	}
}

static const struct ctl_ops ops = {
	.list = op_list,
	.add = op_add,
	.resize = op_resize,
	.log_level = op_log_level,
	.remove = op_remove,
};

static void check_reply(const char *r, size_t len)
{
	const struct json_value *v, *e;
	struct json_error err;

	FZ_CHECK(len > 1 && r[len - 1] == '\n', "reply not a line");
	FZ_CHECK(!memchr(r, '\n', len - 1), "newline inside a reply");
	FZ_CHECK(json_parse(&check_jp, r, len - 1, &v, &err) == 0,
		 "reply is not JSON (%s at %zu): %.*s", err.what, err.offset,
		 (int)len, r);
	FZ_CHECK(v->type == JSON_OBJECT && json_get(v, "id"), "no id");
	FZ_CHECK(!json_get(v, "ok") != !json_get(v, "error"),
		 "want exactly one of ok and error");
	e = json_get(v, "error");
	if (e) {
		const struct json_value *c = json_get(e, "code");
		const struct json_value *m = json_get(e, "message");

		FZ_CHECK(c && c->type == JSON_NUMBER && c->is_int, "code");
		FZ_CHECK(m && m->type == JSON_STRING, "message");
	}
	replies++;
}

static void pending_done(struct ctl_pending *p, const char *reply, size_t len)
{
	(void)p;
	pending_now++;
	check_reply(reply, len);
}

static void one_line(const char *line, size_t len)
{
	struct ctl_pending p;
	struct jw out;
	unsigned int before = replies;

	memset(&p, 0, sizeof(p));
	jw_init(&p.result, 65536);
	p.done = pending_done;
	jw_init(&out, 1 << 16);
	held = NULL;
	if (ctl_handle_line(&ops, NULL, &jp, line, len, &out, &p) ==
	    CTL_REPLIED) {
		check_reply(out.buf, out.len);
		jw_free(&p.result);
	} else if (held) {
		ctl_pending_done(held, -5, "flush failed");
	}
	FZ_CHECK(replies == before + 1, "%u replies to one line",
		 replies - before);
	jw_free(&out);
}

static void round_trip(const uint8_t *data, size_t size)
{
	static char copy[1 << 16];
	const struct json_value *v;
	struct json_error err;
	struct jw a, b;

	if (size > MAX_LINE ||
	    json_parse(&jp, (const char *)data, size, &v, &err) < 0)
		return;
	jw_init(&a, 1 << 16);
	jw_init(&b, 1 << 16);
	jw_value(&a, v);
	FZ_CHECK(!jw_failed(&a), "cannot write back what was read");
	memcpy(copy, a.buf, a.len);
	FZ_CHECK(json_parse(&check_jp, copy, a.len, &v, &err) == 0,
		 "written text does not read back (%s): %.*s", err.what,
		 (int)a.len, a.buf);
	jw_value(&b, v);
	FZ_CHECK(a.len == b.len && !memcmp(a.buf, b.buf, a.len),
		 "second write differs");
	jw_free(&a);
	jw_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	round_trip(data, size);
	/* Lines as the server sees them; a line longer than it accepts
	 * never reaches the command layer. */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (len <= MAX_LINE)
			one_line(p, len);
		p += len + 1;
	}
	return 0;
}
