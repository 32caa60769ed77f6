/* SPDX-License-Identifier: MIT */
/*
 * Network disk specs in vback_io_options::path: NBD URIs (the NBD project's
 * URI standard, doc/uri.md: nbd://HOST[:PORT]/EXPORT and
 * nbd+unix:///EXPORT?socket=PATH) and rbd:POOL[/NAMESPACE]/IMAGE[@SNAP]
 * with :conf=FILE and :id=NAME items. Parsed here, with no library
 * needed, so a bad spec gets the same one-line error in every build.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "io_internal.h"

#define NBD_DEFAULT_PORT "10809"

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

enum io_spec_kind io_spec_kind(const char *path)
{
	if (!path)
		return IO_SPEC_NONE;
	/* nbds: is recognised so that it is refused with a reason (TLS),
	 * not opened as a file named "nbds:". */
	if (has_prefix(path, "nbd://") || has_prefix(path, "nbd+unix://") ||
	    has_prefix(path, "nbds://") || has_prefix(path, "nbds+unix://") ||
	    has_prefix(path, "nbd+vsock://"))
		return IO_SPEC_NBD;
	if (has_prefix(path, "rbd:"))
		return IO_SPEC_RBD;
	return IO_SPEC_NONE;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode [@s, @s + @len) into @out (@cap bytes with the NUL).
 * *@outlen gets the decoded length (an abstract socket name starts with
 * a NUL byte, so the length is not strlen()). -EINVAL for a bad escape
 * or a result that does not fit.
 */
static int pct_decode(const char *s, size_t len, char *out, size_t cap,
		      size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -EINVAL;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = hi * 16 + lo;
			i += 2;
		}
		if (o + 1 >= cap)
			return -EINVAL;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return 0;
}

static int fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

/* The authority of nbd://: HOST, HOST:PORT, [V6], [V6]:PORT. */
static int parse_authority(const char *a, size_t len, struct io_nbd_spec *s,
			   char *err, size_t errlen)
{
	const char *port = NULL;
	size_t hlen = len, plen = 0;
	const char *host = a;

	if (memchr(a, '@', len))
		return fail(err, errlen,
			    "user names are for TLS, which vback's NBD "
			    "engine does not use");
	if (len && a[0] == '[') {
		const char *close = memchr(a, ']', len);

		if (!close)
			return fail(err, errlen, "unterminated [IPv6] address");
		host = a + 1;
		hlen = (size_t)(close - host);
		if (close + 1 < a + len) {
			if (close[1] != ':')
				return fail(err, errlen,
					    "junk after [IPv6] address");
			port = close + 2;
			plen = (size_t)(a + len - port);
		}
	} else {
		const char *colon = memchr(a, ':', len);

		if (colon) {
			hlen = (size_t)(colon - a);
			port = colon + 1;
			plen = len - hlen - 1;
		}
	}
	if (!hlen)
		return fail(err, errlen,
			    "nbd:// needs a host (nbd://HOST[:PORT]/EXPORT)");
	if (pct_decode(host, hlen, s->host, sizeof(s->host), &hlen) ||
	    hlen != strlen(s->host))
		return fail(err, errlen, "bad host name");
	if (port) {
		if (!plen || plen >= sizeof(s->port) ||
		    strspn(port, "0123456789") < plen)
			return fail(err, errlen, "the port must be a number");
		memcpy(s->port, port, plen);
		s->port[plen] = '\0';
	} else {
		snprintf(s->port, sizeof(s->port), "%s", NBD_DEFAULT_PORT);
	}
	return 0;
}

/* One key=value of the query. */
static int parse_query_item(const char *item, size_t len, struct io_nbd_spec *s,
			    char *err, size_t errlen)
{
	const char *eq = memchr(item, '=', len);
	size_t klen = eq ? (size_t)(eq - item) : len;

	if (eq && klen == 6 && !memcmp(item, "socket", 6)) {
		if (pct_decode(eq + 1, len - klen - 1, s->socket,
			       sizeof(s->socket), &s->socket_len) ||
		    !s->socket_len)
			return fail(err, errlen,
				    "bad socket= (empty, too long for a "
				    "unix socket, or a bad %-escape)");
		return 0;
	}
	if (klen >= 4 && !memcmp(item, "tls-", 4))
		return fail(err, errlen, "TLS parameters are not supported");
	snprintf(err, errlen, "unknown query parameter '%.*s'", (int)klen,
		 item);
	return -EINVAL;
}

int io_nbd_spec_parse(const char *uri, struct io_nbd_spec *s, char *err,
		      size_t errlen)
{
	const char *p, *auth, *path, *query;
	size_t auth_len, path_len;

	memset(s, 0, sizeof(*s));
	if (has_prefix(uri, "nbds://") || has_prefix(uri, "nbds+unix://"))
		return fail(err, errlen,
			    "nbds: needs TLS, which vback's NBD engine "
			    "does not use");
	if (has_prefix(uri, "nbd://")) {
		p = uri + strlen("nbd://");
	} else if (has_prefix(uri, "nbd+unix://")) {
		s->unix_socket = true;
		p = uri + strlen("nbd+unix://");
	} else {
		return fail(err, errlen,
			    "not an NBD URI vback serves (nbd://HOST[:PORT]"
			    "/EXPORT or nbd+unix:///EXPORT?socket=PATH)");
	}
	if (strchr(p, '#'))
		return fail(err, errlen, "fragments (#) are not allowed");
	auth = p;
	auth_len = strcspn(p, "/?");
	path = auth + auth_len;
	path_len = strcspn(path, "?");
	query = path[path_len] == '?' ? path + path_len + 1 : NULL;

	if (s->unix_socket) {
		if (auth_len)
			return fail(err, errlen,
				    "nbd+unix: takes no host "
				    "(nbd+unix:///EXPORT?socket=PATH)");
	} else if (parse_authority(auth, auth_len, s, err, errlen)) {
		return -EINVAL;
	}
	/* The export name is the path without its leading '/'; NBD export
	 * names are strings, so no NUL. */
	if (path_len) {
		size_t n;

		if (pct_decode(path + 1, path_len - 1, s->export_name,
			       sizeof(s->export_name), &n) ||
		    n != strlen(s->export_name))
			return fail(err, errlen, "bad export name");
	}
	while (query && *query) {
		size_t len = strcspn(query, "&");

		if (len && parse_query_item(query, len, s, err, errlen))
			return -EINVAL;
		query += len;
		if (*query == '&')
			query++;
	}
	if (s->unix_socket && !s->socket_len)
		return fail(err, errlen, "nbd+unix: needs ?socket=PATH");
	if (!s->unix_socket && s->socket_len)
		return fail(err, errlen, "socket= is only for nbd+unix:");
	return 0;
}

/* Copy [@a, @a + @len) into @out; -EINVAL when empty or too long. */
static int copy_part(const char *a, size_t len, char *out, size_t cap)
{
	if (!len || len >= cap)
		return -EINVAL;
	memcpy(out, a, len);
	out[len] = '\0';
	return 0;
}

int io_rbd_spec_parse(const char *spec, struct io_rbd_spec *s, char *err,
		      size_t errlen)
{
	const char *p, *name_end, *at, *slash1, *slash2;
	const char *bad = "want rbd:POOL[/NAMESPACE]/IMAGE[@SNAP]"
			  "[:conf=FILE][:id=NAME]";

	memset(s, 0, sizeof(*s));
	if (!has_prefix(spec, "rbd:"))
		return fail(err, errlen, bad);
	p = spec + 4;
	name_end = p + strcspn(p, ":");
	at = memchr(p, '@', (size_t)(name_end - p));
	slash1 = memchr(p, '/', (size_t)(name_end - p));
	if (!slash1)
		return fail(err, errlen, bad);
	if (copy_part(p, (size_t)(slash1 - p), s->pool, sizeof(s->pool)))
		return fail(err, errlen, "bad pool name");
	slash2 = memchr(slash1 + 1, '/',
			(size_t)((at ? at : name_end) - slash1 - 1));
	if (slash2) {
		if (copy_part(slash1 + 1, (size_t)(slash2 - slash1 - 1), s->ns,
			      sizeof(s->ns)))
			return fail(err, errlen, "bad namespace");
		slash1 = slash2;
	}
	if (copy_part(slash1 + 1, (size_t)((at ? at : name_end) - slash1 - 1),
		      s->image, sizeof(s->image)) ||
	    strchr(s->image, '/'))
		return fail(err, errlen, "bad image name");
	if (at && copy_part(at + 1, (size_t)(name_end - at - 1), s->snap,
			    sizeof(s->snap)))
		return fail(err, errlen, "bad snapshot name");
	p = name_end;
	while (*p == ':') {
		const char *item = p + 1;
		size_t len = strcspn(item, ":");

		if (len > 5 && !memcmp(item, "conf=", 5)) {
			if (copy_part(item + 5, len - 5, s->conf,
				      sizeof(s->conf)))
				return fail(err, errlen, "bad conf=");
		} else if (len > 3 && !memcmp(item, "id=", 3)) {
			if (copy_part(item + 3, len - 3, s->id, sizeof(s->id)))
				return fail(err, errlen, "bad id=");
		} else {
			snprintf(err, errlen,
				 "unknown item '%.*s' (want conf=FILE or "
				 "id=NAME)",
				 (int)len, item);
			return -EINVAL;
		}
		p = item + len;
	}
	return 0;
}
