/* SPDX-License-Identifier: MIT */
/*
 * The control protocol's command layer: one request line in, one reply
 * line out, no I/O (control.c does the socket, the modes do the work
 * through struct ctl_ops). Separate so that unit tests and the fuzz
 * target drive it directly.
 *
 * A request is one JSON object on one line:
 *   {"id": ID, "cmd": "NAME", "args": {...}}
 * "id" (optional: a string, a number or null, echoed as given) and "args"
 * (optional, an object) are the only other members. The reply:
 *   {"id": ID, "ok": RESULT}
 *   {"id": ID, "error": {"code": CODE, "message": "..."}}
 * CODE is one of JSON-RPC 2.0's for a request that cannot be carried out
 * as sent (CTL_E_*), or a negative errno when the command failed (e.g. -2,
 * ENOENT: no such disk; -17, EEXIST; -16, EBUSY).
 */
#ifndef VBACK_DISK_CTL_H
#define VBACK_DISK_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

#define CTL_E_PARSE   (-32700) /* not JSON */
#define CTL_E_REQUEST (-32600) /* JSON, but not a request */
#define CTL_E_COMMAND (-32601) /* no such command (in this mode) */
#define CTL_E_ARGS    (-32602) /* missing, unknown or bad arguments */

/* Longest id echoed (its JSON text). */
#define CTL_MAX_ID 128
/* Longest error message. */
#define CTL_MAX_MSG 256
/* Longest disk name. */
#define CTL_MAX_NAME 63

enum ctl_cmd {
	CTL_CMD_HELP,
	CTL_CMD_LIST,
	CTL_CMD_ADD,
	CTL_CMD_REMOVE,
	CTL_CMD_RESIZE,
	CTL_CMD_LOG_LEVEL,
	CTL_NR_CMDS,
};

/* A validated request. The strings point into the parser's storage: valid
 * during the op call only (copy what must outlive it). */
struct ctl_request {
	enum ctl_cmd cmd;
	const char *name;    /* list (filter), add (optional), remove, resize */
	const char *socket;  /* add */
	const char *image;   /* add */
	const char *serial;  /* add: NULL or up to 20 bytes */
	bool read_only;	     /* add */
	unsigned int queues; /* add: 1..64, 0: the daemon's default */
	const char *level;   /* log-level: NULL (just tell) or a level */
};

/*
 * An asynchronous command (add, remove) in progress. The server provides it and
 * its @done; the op keeps it and calls ctl_pending_done() exactly once,
 * from a loop callback (also from inside the op itself, which is allowed).
 */
struct ctl_pending {
	char id[CTL_MAX_ID + 1];
	size_t id_len;
	/* The op may write its result value here before ctl_pending_done();
	 * left empty, the result is {}. */
	struct jw result;
	/* The server's: called with the reply line (newline included). */
	void (*done)(struct ctl_pending *p, const char *reply, size_t len);
	void *opaque; /* the server's */
};

/*
 * What a mode implements. Synchronous ops write their result value with
 * @w and return 0, or return -errno with a message for the client in
 * @msg (CTL_MAX_MSG bytes). NULL ops: the command does not exist in this
 * mode (CTL_E_COMMAND). add and remove are asynchronous: 0 means
 * ctl_pending_done() will be called on @p (maybe already has been); -errno
 * means it will not.
 */
struct ctl_ops {
	int (*list)(void *opaque, const struct ctl_request *req, struct jw *w,
		    char *msg);
	int (*add)(void *opaque, const struct ctl_request *req,
		   struct ctl_pending *p, char *msg);
	int (*resize)(void *opaque, const struct ctl_request *req, struct jw *w,
		      char *msg);
	int (*log_level)(void *opaque, const struct ctl_request *req,
			 struct jw *w, char *msg);
	int (*remove)(void *opaque, const struct ctl_request *req,
		      struct ctl_pending *p, char *msg);
};

/* The name of a command as clients send it ("log-level"). */
const char *ctl_cmd_name(enum ctl_cmd cmd);

/*
 * Parse and check one request line (@len bytes, no newline). Returns 0
 * with *@req filled, or a CTL_E_* code with @msg saying why. The echoed id
 * goes to @id/@id_len (CTL_MAX_ID + 1 bytes; "null" when the line has none
 * or is not a request at all).
 */
int ctl_parse_request(const struct json_parser *jp, const char *line,
		      size_t len, struct ctl_request *req, char *id,
		      size_t *id_len, char *msg);

/* Outcome of ctl_handle_line(). */
enum ctl_outcome {
	CTL_REPLIED, /* the reply line is in @out */
	CTL_PENDING, /* @p will be completed (ctl_pending_done) */
};

/*
 * Handle one request line: parse, check, call the op, put the reply line
 * (newline included) in @out, which is emptied first. For an asynchronous
 * command whose op accepted it, @p (the caller's, with done set) gets the id
 * and the reply comes through p->done instead. A reply that does not fit @out's
 * limit is replaced by an error reply.
 */
enum ctl_outcome ctl_handle_line(const struct ctl_ops *ops, void *opaque,
				 const struct json_parser *jp, const char *line,
				 size_t len, struct jw *out,
				 struct ctl_pending *p);

/* Append an error reply line for @id (NULL: null) to @out. */
void ctl_error_reply(struct jw *out, const char *id, size_t id_len, int code,
		     const char *msg);

/* Finish @p: err 0 replies ok with p->result (or {}), otherwise an error
 * with @msg. Calls p->done. */
void ctl_pending_done(struct ctl_pending *p, int err, const char *msg);

#endif /* VBACK_DISK_CTL_H */
