/* SPDX-License-Identifier: MIT */
/*
 * vback-disk ctl: a client of the control socket (control.h). Builds one
 * request from the command line, sends it, prints the result as indented
 * JSON (or the reply line as is, --raw). Exit status: 0 for an ok reply,
 * 1 for an error reply or no reply (the message on stderr), 2 for a
 * command-line error.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "json.h"
#include "modes.h"

#define REQUEST_MAX (64u * 1024u)
#define REPLY_MAX   (64u * 1024u * 1024u)
/* How long to wait for a reply, in seconds: an add of a network disk is
 * answered once its server does, or after the daemon's --net-timeout (at
 * most 3600 s); everything else at once. */
#define WAIT_DEFAULT 30u
#define WAIT_ADD     (3600u + 60u)
#define WAIT_MAX     86400u

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vback-disk ctl [--raw] [--timeout SECONDS] SOCKET "
		"COMMAND [ARG=VALUE ...]\n"
		"       vback-disk ctl [--raw] [--timeout SECONDS] SOCKET "
		"--json REQUEST\n"
		"\n"
		"Send one command to the control socket of a vback-disk\n"
		"(--control SOCKET) and print the result. A bare ARG is a\n"
		"name=ARG. Commands (vback-disk ctl SOCKET help):\n"
		"  list [NAME]                      disks, state, counters\n"
		"  add socket=PATH image=PATH [name=NAME] [ro=true]\n"
		"      [serial=S] [queues=N]        serve a new disk\n"
		"  remove NAME                      drain, flush, close\n"
		"  resize NAME                      re-read the image size\n"
		"  log-level [level=err|warn|info|debug]\n"
		"\n"
		"  --raw          print the reply line as it came\n"
		"  --timeout S    wait at most S seconds for the reply, "
		"1..86400\n"
		"                 (default 30; add and --json: 3660, longer\n"
		"                 than the daemon's longest --net-timeout)\n"
		"  --json REQUEST send this request line as it is\n");
}

/* ro=true|false, queues=N, anything else a string. */
static int add_arg(struct jw *w, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char key[32];
	const char *val;

	if (!eq) {
		jw_key(w, "name");
		jw_string(w, arg);
		return 0;
	}
	if ((size_t)(eq - arg) >= sizeof(key) || eq == arg)
		return -EINVAL;
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	val = eq + 1;
	jw_key(w, key);
	if (!strcmp(key, "ro")) {
		if (strcmp(val, "true") && strcmp(val, "false"))
			return -EINVAL;
		jw_bool(w, !strcmp(val, "true"));
	} else if (!strcmp(key, "queues")) {
		char *end;
		unsigned long v = strtoul(val, &end, 10);

		if (!*val || *end || v > 1000000)
			return -EINVAL;
		jw_u64(w, v);
	} else {
		jw_string(w, val);
	}
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t k = send(fd, s, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -errno;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Read one line (without its newline) into a malloc'd buffer. */
static int read_line(int fd, int timeout_ms, char **out, size_t *out_len)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		char *nl;
		ssize_t k;

		if (left <= 0) {
			free(buf);
			return -ETIMEDOUT;
		}
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			free(buf);
			return -errno;
		}
		if (!p.revents)
			continue;
		if (cap - len < 4096) {
			char *b;

			if (cap >= REPLY_MAX) {
				free(buf);
				return -E2BIG;
			}
			b = realloc(buf, cap * 2);
			if (!b) {
				free(buf);
				return -ENOMEM;
			}
			buf = b;
			cap *= 2;
		}
		k = recv(fd, buf + len, cap - len, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			free(buf);
			return k == 0 ? -ECONNRESET : -errno;
		}
		nl = memchr(buf + len, '\n', (size_t)k);
		len += (size_t)k;
		if (nl) {
			*nl = '\0';
			*out = buf;
			*out_len = (size_t)(nl - buf);
			return 0;
		}
	}
}

static void indent(unsigned int depth)
{
	for (unsigned int i = 0; i < depth; i++)
		fputs("  ", stdout);
}

static void print_value(const struct json_value *v, unsigned int depth)
{
	const struct json_value *c;
	struct jw w;

	switch (v->type) {
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (!v->child) {
			fputs(v->type == JSON_ARRAY ? "[]" : "{}", stdout);
			return;
		}
		fputs(v->type == JSON_ARRAY ? "[\n" : "{\n", stdout);
		for (c = v->child; c; c = c->next) {
			indent(depth + 1);
			if (v->type == JSON_OBJECT) {
				jw_init(&w, REPLY_MAX);
				jw_string(&w, c->key);
				printf("%.*s: ", (int)w.len, w.buf);
				jw_free(&w);
			}
			print_value(c, depth + 1);
			fputs(c->next ? ",\n" : "\n", stdout);
		}
		indent(depth);
		fputs(v->type == JSON_ARRAY ? "]" : "}", stdout);
		return;
	default:
		jw_init(&w, REPLY_MAX);
		jw_value(&w, v);
		printf("%.*s", (int)w.len, w.buf);
		jw_free(&w);
		return;
	}
}

/* Print the reply (@raw: as it came; the error's message goes to stderr
 * either way): 0 for ok, 1 for an error or a reply that is not one. */
static int show(const char *line, size_t len, bool raw)
{
	struct json_parser jp = { .max_nodes = (unsigned int)(len / 2 + 16) };
	const struct json_value *root, *ok, *err;
	struct json_error je;
	int rc = 1;

	if (raw)
		printf("%.*s\n", (int)len, line);
	jp.nodes = calloc(jp.max_nodes, sizeof(*jp.nodes));
	jp.strings_size = len + 1;
	jp.strings = malloc(jp.strings_size);
	if (!jp.nodes || !jp.strings) {
		fprintf(stderr, "vback-disk ctl: out of memory\n");
	} else if (json_parse(&jp, line, len, &root, &je) < 0) {
		fprintf(stderr, "vback-disk ctl: the reply is not JSON (%s)\n",
			je.what);
	} else if ((ok = json_get(root, "ok"))) {
		if (!raw) {
			print_value(ok, 0);
			putchar('\n');
		}
		rc = 0;
	} else if ((err = json_get(root, "error"))) {
		const struct json_value *m = json_get(err, "message");
		const struct json_value *c = json_get(err, "code");

		fprintf(stderr, "vback-disk ctl: %s (code %.*s)\n",
			m && m->type == JSON_STRING ? m->str : "error",
			c ? (int)c->raw_len : 1, c ? c->raw : "?");
	} else {
		fprintf(stderr, "vback-disk ctl: a reply with neither ok nor "
				"error\n");
	}
	free(jp.nodes);
	free(jp.strings);
	return rc;
}

int vback_disk_ctl_main(int argc, char **argv)
{
	const char *json = NULL, *sock = NULL;
	unsigned int timeout = 0; /* 0: by command */
	bool raw = false;
	char *reply = NULL;
	size_t reply_len = 0;
	struct jw w;
	int i = 1, fd, rc;

	/* Options before the command (before or after the socket). */
	for (; i < argc && (argv[i][0] == '-' || !sock); i++) {
		if (sock && !strcmp(argv[i], "--json"))
			break;
		if (argv[i][0] != '-') {
			sock = argv[i];
		} else if (!strcmp(argv[i], "--raw")) {
			raw = true;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(argv[++i], &end, 10);
			if (errno || end == argv[i] || *end || v < 1 ||
			    v > WAIT_MAX || argv[i][0] == '-') {
				fprintf(stderr,
					"vback-disk ctl: --timeout wants "
					"1..%u seconds\n",
					WAIT_MAX);
				return 2;
			}
			timeout = (unsigned int)v;
		} else if (!strcmp(argv[i], "-h") ||
			   !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!sock || i >= argc) {
		usage(stderr);
		return 2;
	}
	jw_init(&w, REQUEST_MAX);
	if (!strcmp(argv[i], "--json")) {
		if (i + 2 != argc) {
			usage(stderr);
			return 2;
		}
		json = argv[i + 1];
		jw_append(&w, json, strlen(json));
		if (!timeout)
			timeout = WAIT_ADD; /* it may be an add */
	} else {
		if (!timeout)
			timeout = strcmp(argv[i], "add") ? WAIT_DEFAULT
							 : WAIT_ADD;
		jw_object(&w);
		jw_key(&w, "id");
		jw_u64(&w, 1);
		jw_key(&w, "cmd");
		jw_string(&w, argv[i++]);
		if (i < argc) {
			jw_key(&w, "args");
			jw_object(&w);
			for (; i < argc; i++) {
				if (add_arg(&w, argv[i]) < 0) {
					fprintf(stderr,
						"vback-disk ctl: bad argument "
						"'%s' (want NAME=VALUE; ro= "
						"true or false, queues= a "
						"number)\n",
						argv[i]);
					jw_free(&w);
					return 2;
				}
			}
			jw_object_end(&w);
		}
		jw_object_end(&w);
	}
	jw_append(&w, "\n", 1);
	if (jw_failed(&w)) {
		fprintf(stderr, "vback-disk ctl: request too long\n");
		jw_free(&w);
		return 2;
	}
	fd = connect_to(sock);
	if (fd < 0) {
		fprintf(stderr, "vback-disk ctl: %s: %s\n", sock,
			strerror(-fd));
		jw_free(&w);
		return 1;
	}
	rc = send_all(fd, w.buf, w.len);
	jw_free(&w);
	if (rc == 0)
		rc = read_line(fd, (int)(timeout * 1000u), &reply, &reply_len);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "vback-disk ctl: %s: %s\n", sock,
			rc == -ETIMEDOUT ? "no reply in time" : strerror(-rc));
		return 1;
	}
	rc = show(reply, reply_len, raw);
	free(reply);
	return rc;
}
