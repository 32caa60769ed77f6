/* SPDX-License-Identifier: MIT */
/* The control protocol's command layer: see ctl.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* Largest reply of an asynchronous command. */
#define PENDING_REPLY_MAX (64u * 1024u)

enum arg_type { ARG_STRING, ARG_BOOL, ARG_UINT };

struct arg_spec {
	const char *name;
	enum arg_type type;
	bool required;
	unsigned int max; /* ARG_STRING: bytes; ARG_UINT: value (min 1) */
};

struct cmd_spec {
	const char *name;
	const char *what; /* for help */
	struct arg_spec args[7];
};

#define NAME_ARG(req)                                                          \
	{                                                                      \
		"name", ARG_STRING, req, CTL_MAX_NAME                          \
	}

static const struct cmd_spec cmds[CTL_NR_CMDS] = {
	[CTL_CMD_HELP] = { "help", "the commands of this daemon", { { 0 } } },
	[CTL_CMD_LIST] = { "list",
			   "disks (one, with name) with their state and "
			   "counters",
			   { NAME_ARG(false) } },
	[CTL_CMD_ADD] = { "add",
			  "serve a new disk: socket, image[, name][, ro]"
			  "[, serial][, queues]",
			  { NAME_ARG(false),
			    { "socket", ARG_STRING, true, 4095 },
			    { "image", ARG_STRING, true, 4095 },
			    { "ro", ARG_BOOL, false, 0 },
			    { "serial", ARG_STRING, false, 20 },
			    { "queues", ARG_UINT, false, 64 } } },
	[CTL_CMD_REMOVE] = { "remove",
			     "stop serving a disk (name): drain, flush, drop "
			     "its front-end, close",
			     { NAME_ARG(true) } },
	[CTL_CMD_RESIZE] = { "resize",
			     "re-read the size of a disk's image (name) and "
			     "tell the guest",
			     { NAME_ARG(true) } },
	[CTL_CMD_LOG_LEVEL] = { "log-level",
				"the log level; set it with level: err, "
				"warn, info or debug",
				{ { "level", ARG_STRING, false, 5 } } },
};

const char *ctl_cmd_name(enum ctl_cmd cmd)
{
	return (unsigned int)cmd < CTL_NR_CMDS ? cmds[cmd].name : "?";
}

__attribute__((format(printf, 2, 3))) static void say(char *msg,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, CTL_MAX_MSG, fmt, ap);
	va_end(ap);
}

static int take_args(const struct cmd_spec *spec, const struct json_value *args,
		     struct ctl_request *req, char *msg)
{
	const struct json_value *a;

	if (args && args->type != JSON_OBJECT) {
		say(msg, "args: want an object");
		return CTL_E_ARGS;
	}
	for (a = args ? args->child : NULL; a; a = a->next) {
		const struct arg_spec *s = NULL;

		for (unsigned int i = 0; i < 7 && spec->args[i].name; i++)
			if (!strcmp(spec->args[i].name, a->key))
				s = &spec->args[i];
		if (!s) {
			say(msg, "%s: unknown argument '%.64s'", spec->name,
			    a->key);
			return CTL_E_ARGS;
		}
	}
	for (unsigned int i = 0; i < 7 && spec->args[i].name; i++) {
		const struct arg_spec *s = &spec->args[i];
		const struct json_value *v = json_get(args, s->name);

		if (!v) {
			if (s->required) {
				say(msg, "%s: argument '%s' is required",
				    spec->name, s->name);
				return CTL_E_ARGS;
			}
			continue;
		}
		switch (s->type) {
		case ARG_STRING:
			if (v->type != JSON_STRING || !v->str_len ||
			    v->str_len > s->max) {
				say(msg,
				    "%s: '%s' wants a string of 1 to %u "
				    "bytes",
				    spec->name, s->name, s->max);
				return CTL_E_ARGS;
			}
			if (!strcmp(s->name, "name"))
				req->name = v->str;
			else if (!strcmp(s->name, "socket"))
				req->socket = v->str;
			else if (!strcmp(s->name, "image"))
				req->image = v->str;
			else if (!strcmp(s->name, "serial"))
				req->serial = v->str;
			else
				req->level = v->str;
			break;
		case ARG_BOOL:
			if (v->type != JSON_BOOL) {
				say(msg, "%s: '%s' wants true or false",
				    spec->name, s->name);
				return CTL_E_ARGS;
			}
			req->read_only = v->b;
			break;
		case ARG_UINT:
			if (v->type != JSON_NUMBER || !v->is_int || v->i < 1 ||
			    v->i > (int64_t)s->max) {
				say(msg, "%s: '%s' wants an integer, 1..%u",
				    spec->name, s->name, s->max);
				return CTL_E_ARGS;
			}
			req->queues = (unsigned int)v->i;
			break;
		}
	}
	return 0;
}

int ctl_parse_request(const struct json_parser *jp, const char *line,
		      size_t len, struct ctl_request *req, char *id,
		      size_t *id_len, char *msg)
{
	const struct json_value *root, *m, *cmd = NULL, *args = NULL;
	struct json_error err;
	int rc;

	memcpy(id, "null", 5);
	*id_len = 4;
	memset(req, 0, sizeof(*req));
	rc = json_parse(jp, line, len, &root, &err);
	if (rc == -ENOBUFS) {
		say(msg, "request too large: %s", err.what);
		return CTL_E_REQUEST;
	}
	if (rc < 0) {
		say(msg, "not JSON: %s at byte %zu", err.what, err.offset);
		return CTL_E_PARSE;
	}
	if (root->type != JSON_OBJECT) {
		say(msg, "a request is a JSON object");
		return CTL_E_REQUEST;
	}
	for (m = root->child; m; m = m->next) {
		if (!strcmp(m->key, "id")) {
			if ((m->type != JSON_STRING && m->type != JSON_NUMBER &&
			     m->type != JSON_NULL) ||
			    m->raw_len > CTL_MAX_ID) {
				say(msg,
				    "id: want a string or a number of "
				    "at most %u bytes",
				    CTL_MAX_ID);
				return CTL_E_REQUEST;
			}
			/* Raw text of a validated value: valid JSON. */
			memcpy(id, m->raw, m->raw_len);
			id[m->raw_len] = '\0';
			*id_len = m->raw_len;
		} else if (!strcmp(m->key, "cmd")) {
			cmd = m;
		} else if (!strcmp(m->key, "args")) {
			args = m;
		} else {
			say(msg, "unknown member '%.64s' (want id, cmd, args)",
			    m->key);
			return CTL_E_REQUEST;
		}
	}
	if (!cmd || cmd->type != JSON_STRING) {
		say(msg, "cmd: a string is required");
		return CTL_E_REQUEST;
	}
	for (unsigned int i = 0; i < CTL_NR_CMDS; i++) {
		if (!strcmp(cmds[i].name, cmd->str)) {
			req->cmd = (enum ctl_cmd)i;
			return take_args(&cmds[i], args, req, msg);
		}
	}
	say(msg, "unknown command '%.64s' (try help)", cmd->str);
	return CTL_E_COMMAND;
}

static void reply_head(struct jw *out, const char *id, size_t id_len)
{
	jw_object(out);
	jw_key(out, "id");
	if (id)
		jw_raw(out, id, id_len);
	else
		jw_null(out);
}

void ctl_error_reply(struct jw *out, const char *id, size_t id_len, int code,
		     const char *msg)
{
	reply_head(out, id, id_len);
	jw_key(out, "error");
	jw_object(out);
	jw_key(out, "code");
	jw_i64(out, code);
	jw_key(out, "message");
	jw_string(out, msg);
	jw_object_end(out);
	jw_object_end(out);
	jw_append(out, "\n", 1);
}

static bool available(const struct ctl_ops *ops, enum ctl_cmd cmd)
{
	switch (cmd) {
	case CTL_CMD_HELP:
		return true;
	case CTL_CMD_LIST:
		return ops->list;
	case CTL_CMD_ADD:
		return ops->add;
	case CTL_CMD_REMOVE:
		return ops->remove;
	case CTL_CMD_RESIZE:
		return ops->resize;
	case CTL_CMD_LOG_LEVEL:
		return ops->log_level;
	case CTL_NR_CMDS:
		break;
	}
	return false;
}

static void help(const struct ctl_ops *ops, struct jw *w)
{
	jw_object(w);
	jw_key(w, "commands");
	jw_array(w);
	for (unsigned int i = 0; i < CTL_NR_CMDS; i++) {
		if (!available(ops, (enum ctl_cmd)i))
			continue;
		jw_object(w);
		jw_key(w, "cmd");
		jw_string(w, cmds[i].name);
		jw_key(w, "what");
		jw_string(w, cmds[i].what);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
}

enum ctl_outcome ctl_handle_line(const struct ctl_ops *ops, void *opaque,
				 const struct json_parser *jp, const char *line,
				 size_t len, struct jw *out,
				 struct ctl_pending *p)
{
	char id[CTL_MAX_ID + 1], msg[CTL_MAX_MSG];
	struct ctl_request req;
	size_t id_len;
	int rc;

	jw_reset(out);
	msg[0] = '\0';
	rc = ctl_parse_request(jp, line, len, &req, id, &id_len, msg);
	if (rc) {
		ctl_error_reply(out, id, id_len, rc, msg);
		return CTL_REPLIED;
	}
	if (!available(ops, req.cmd)) {
		say(msg, "%s: not available in this mode",
		    ctl_cmd_name(req.cmd));
		ctl_error_reply(out, id, id_len, CTL_E_COMMAND, msg);
		return CTL_REPLIED;
	}
	if (req.cmd == CTL_CMD_ADD || req.cmd == CTL_CMD_REMOVE) {
		memcpy(p->id, id, id_len + 1);
		p->id_len = id_len;
		rc = req.cmd == CTL_CMD_ADD ? ops->add(opaque, &req, p, msg)
					    : ops->remove(opaque, &req, p, msg);
		if (rc == 0)
			return CTL_PENDING;
		ctl_error_reply(out, id, id_len, rc, msg);
		return CTL_REPLIED;
	}
	reply_head(out, id, id_len);
	jw_key(out, "ok");
	switch (req.cmd) {
	case CTL_CMD_HELP:
		help(ops, out);
		rc = 0;
		break;
	case CTL_CMD_LIST:
		rc = ops->list(opaque, &req, out, msg);
		break;
	case CTL_CMD_RESIZE:
		rc = ops->resize(opaque, &req, out, msg);
		break;
	case CTL_CMD_LOG_LEVEL:
		rc = ops->log_level(opaque, &req, out, msg);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (rc == 0) {
		jw_object_end(out);
		jw_append(out, "\n", 1);
		if (!jw_failed(out))
			return CTL_REPLIED;
		rc = -E2BIG;
		say(msg, "%s: the reply is too large", ctl_cmd_name(req.cmd));
	}
	/* Drop what the op wrote: the error reply replaces it. */
	jw_reset(out);
	if (!msg[0])
		say(msg, "%s: %s", ctl_cmd_name(req.cmd), strerror(-rc));
	ctl_error_reply(out, id, id_len, rc, msg);
	return CTL_REPLIED;
}

void ctl_pending_done(struct ctl_pending *p, int err, const char *msg)
{
	struct jw out;

	jw_init(&out, PENDING_REPLY_MAX);
	if (err == 0) {
		reply_head(&out, p->id, p->id_len);
		jw_key(&out, "ok");
		if (p->result.len && !jw_failed(&p->result)) {
			jw_raw(&out, p->result.buf, p->result.len);
		} else {
			jw_object(&out);
			jw_object_end(&out);
		}
		jw_object_end(&out);
		jw_append(&out, "\n", 1);
	}
	if (err || jw_failed(&out)) {
		jw_reset(&out);
		ctl_error_reply(&out, p->id, p->id_len, err ? err : -E2BIG,
				msg ? msg : strerror(err ? -err : E2BIG));
	}
	jw_free(&p->result);
	p->done(p, out.buf, out.len);
	jw_free(&out);
}
