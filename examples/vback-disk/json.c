/* SPDX-License-Identifier: MIT */
/* A strict JSON reader and a small writer: see json.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

struct rd {
	const struct json_parser *p;
	const char *s;
	size_t len, pos;
	unsigned int nodes;
	size_t str_used;
	struct json_error *err;
	int rc; /* -EINVAL or -ENOBUFS once failed */
};

static int fail(struct rd *r, int rc, const char *what)
{
	if (!r->rc) {
		r->rc = rc;
		r->err->offset = r->pos;
		r->err->what = what;
	}
	return r->rc;
}

static void skip_ws(struct rd *r)
{
	while (r->pos < r->len) {
		char c = r->s[r->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		r->pos++;
	}
}

static bool at(const struct rd *r, char c)
{
	return r->pos < r->len && r->s[r->pos] == c;
}

static struct json_value *new_node(struct rd *r, enum json_type type)
{
	struct json_value *v;

	if (r->nodes == r->p->max_nodes) {
		fail(r, -ENOBUFS, "too many values");
		return NULL;
	}
	v = &r->p->nodes[r->nodes++];
	memset(v, 0, sizeof(*v));
	v->type = type;
	v->raw = r->s + r->pos;
	return v;
}

static bool literal(struct rd *r, const char *word)
{
	size_t n = strlen(word);

	if (r->len - r->pos < n || memcmp(r->s + r->pos, word, n))
		return false;
	r->pos += n;
	return true;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct rd *r, struct json_value *v)
{
	bool neg = false, integral = true, overflow = false;
	uint64_t mag = 0;

	if (at(r, '-')) {
		neg = true;
		r->pos++;
	}
	if (r->pos >= r->len || !is_digit(r->s[r->pos]))
		return fail(r, -EINVAL, "bad number");
	if (r->s[r->pos] == '0') {
		r->pos++;
		/* No leading zeroes: "01" is not a number. */
		if (r->pos < r->len && is_digit(r->s[r->pos]))
			return fail(r, -EINVAL, "leading zero");
	} else {
		while (r->pos < r->len && is_digit(r->s[r->pos])) {
			unsigned int d = (unsigned int)(r->s[r->pos] - '0');

			if (mag > (UINT64_MAX - d) / 10)
				overflow = true;
			else
				mag = mag * 10 + d;
			r->pos++;
		}
	}
	if (at(r, '.')) {
		integral = false;
		r->pos++;
		if (r->pos >= r->len || !is_digit(r->s[r->pos]))
			return fail(r, -EINVAL, "bad fraction");
		while (r->pos < r->len && is_digit(r->s[r->pos]))
			r->pos++;
	}
	if (at(r, 'e') || at(r, 'E')) {
		integral = false;
		r->pos++;
		if (at(r, '+') || at(r, '-'))
			r->pos++;
		if (r->pos >= r->len || !is_digit(r->s[r->pos]))
			return fail(r, -EINVAL, "bad exponent");
		while (r->pos < r->len && is_digit(r->s[r->pos]))
			r->pos++;
	}
	if (integral && !overflow &&
	    mag <= (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
		v->is_int = true;
		v->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	}
	return 0;
}

static int hex4(struct rd *r, unsigned int *out)
{
	unsigned int v = 0;

	if (r->len - r->pos < 4)
		return fail(r, -EINVAL, "short \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = r->s[r->pos++];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned int)(c - 'A' + 10);
		else
			return fail(r, -EINVAL, "bad \\u escape");
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned int cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Length of the valid UTF-8 sequence at @s (at most @n bytes), or 0 when
 * it is not one: overlong forms, surrogates and code points past U+10FFFF
 * are refused (RFC 3629).
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned int cp, need, min;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
		min = 0x80;
		cp = s[0] & 0x1fu;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		min = 0x800;
		cp = s[0] & 0x0fu;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		min = 0x10000;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	for (unsigned int i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

/* A string at r->pos (on the quote): decoded into the string storage. */
static int parse_string(struct rd *r, const char **out, size_t *out_len)
{
	char *o = r->p->strings + r->str_used;
	size_t n = 0;

	r->pos++; /* the opening quote */
	for (;;) {
		unsigned char c;

		if (r->pos >= r->len)
			return fail(r, -EINVAL, "unterminated string");
		c = (unsigned char)r->s[r->pos];
		if (c == '"') {
			r->pos++;
			break;
		}
		if (c < 0x20)
			return fail(r, -EINVAL, "control character in string");
		if (c == '\\') {
			unsigned int cp;

			if (++r->pos >= r->len)
				return fail(r, -EINVAL, "unterminated string");
			c = (unsigned char)r->s[r->pos++];
			switch (c) {
			case '"':
			case '\\':
			case '/':
				o[n++] = (char)c;
				continue;
			case 'b':
				o[n++] = '\b';
				continue;
			case 'f':
				o[n++] = '\f';
				continue;
			case 'n':
				o[n++] = '\n';
				continue;
			case 'r':
				o[n++] = '\r';
				continue;
			case 't':
				o[n++] = '\t';
				continue;
			case 'u':
				break;
			default:
				r->pos--;
				return fail(r, -EINVAL, "bad escape");
			}
			if (hex4(r, &cp) < 0)
				return r->rc;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(r, -EINVAL, "lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				unsigned int lo;

				if (r->len - r->pos < 2 ||
				    r->s[r->pos] != '\\' ||
				    r->s[r->pos + 1] != 'u')
					return fail(r, -EINVAL,
						    "lone high surrogate");
				r->pos += 2;
				if (hex4(r, &lo) < 0)
					return r->rc;
				if (lo < 0xdc00 || lo > 0xdfff)
					return fail(r, -EINVAL,
						    "lone high surrogate");
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
			}
			if (cp == 0)
				return fail(r, -EINVAL, "\\u0000 in string");
			/* An escape takes 6 or 12 input bytes and decodes to
			 * at most 4: the storage always suffices. */
			n += put_utf8(o + n, cp);
			continue;
		}
		{
			size_t k =
				utf8_len((const unsigned char *)r->s + r->pos,
					 r->len - r->pos);

			if (!k)
				return fail(r, -EINVAL, "invalid UTF-8");
			memcpy(o + n, r->s + r->pos, k);
			n += k;
			r->pos += k;
		}
	}
	o[n] = '\0';
	r->str_used += n + 1;
	*out = o;
	*out_len = n;
	return 0;
}

static int parse_value(struct rd *r, unsigned int depth,
		       struct json_value **out);

static int parse_array(struct rd *r, unsigned int depth, struct json_value *v)
{
	struct json_value **tail = &v->child;

	r->pos++; /* [ */
	skip_ws(r);
	if (at(r, ']')) {
		r->pos++;
		return 0;
	}
	for (;;) {
		struct json_value *e;

		if (parse_value(r, depth + 1, &e) < 0)
			return r->rc;
		*tail = e;
		tail = &e->next;
		v->count++;
		skip_ws(r);
		if (at(r, ',')) {
			r->pos++;
			continue;
		}
		if (at(r, ']')) {
			r->pos++;
			return 0;
		}
		return fail(r, -EINVAL, "expected ',' or ']'");
	}
}

static int parse_object(struct rd *r, unsigned int depth, struct json_value *v)
{
	struct json_value **tail = &v->child;

	r->pos++; /* { */
	skip_ws(r);
	if (at(r, '}')) {
		r->pos++;
		return 0;
	}
	for (;;) {
		const char *key;
		size_t key_len, key_pos;
		struct json_value *m;

		skip_ws(r);
		if (!at(r, '"'))
			return fail(r, -EINVAL, "expected a member name");
		key_pos = r->pos;
		if (parse_string(r, &key, &key_len) < 0)
			return r->rc;
		/* Two members of one name: which one counts is up to each
		 * reader (RFC 8259 4), so none does. */
		for (m = v->child; m; m = m->next) {
			if (m->key_len == key_len &&
			    !memcmp(m->key, key, key_len)) {
				r->pos = key_pos;
				return fail(r, -EINVAL,
					    "duplicate member name");
			}
		}
		skip_ws(r);
		if (!at(r, ':'))
			return fail(r, -EINVAL, "expected ':'");
		r->pos++;
		if (parse_value(r, depth + 1, &m) < 0)
			return r->rc;
		m->key = key;
		m->key_len = key_len;
		*tail = m;
		tail = &m->next;
		v->count++;
		skip_ws(r);
		if (at(r, ',')) {
			r->pos++;
			continue;
		}
		if (at(r, '}')) {
			r->pos++;
			return 0;
		}
		return fail(r, -EINVAL, "expected ',' or '}'");
	}
}

static int parse_value(struct rd *r, unsigned int depth,
		       struct json_value **out)
{
	struct json_value *v;
	int rc = 0;

	skip_ws(r);
	if (r->pos >= r->len)
		return fail(r, -EINVAL, "expected a value");
	switch (r->s[r->pos]) {
	case '{':
	case '[':
		if (depth >= JSON_MAX_DEPTH)
			return fail(r, -EINVAL, "nested too deep");
		v = new_node(r, r->s[r->pos] == '{' ? JSON_OBJECT : JSON_ARRAY);
		if (!v)
			return r->rc;
		rc = v->type == JSON_OBJECT ? parse_object(r, depth, v)
					    : parse_array(r, depth, v);
		break;
	case '"':
		v = new_node(r, JSON_STRING);
		if (!v)
			return r->rc;
		rc = parse_string(r, &v->str, &v->str_len);
		break;
	case 't':
	case 'f':
		v = new_node(r, JSON_BOOL);
		if (!v)
			return r->rc;
		v->b = r->s[r->pos] == 't';
		if (!literal(r, v->b ? "true" : "false"))
			return fail(r, -EINVAL, "bad literal");
		break;
	case 'n':
		v = new_node(r, JSON_NULL);
		if (!v)
			return r->rc;
		if (!literal(r, "null"))
			return fail(r, -EINVAL, "bad literal");
		break;
	default:
		v = new_node(r, JSON_NUMBER);
		if (!v)
			return r->rc;
		rc = parse_number(r, v);
		break;
	}
	if (rc < 0)
		return rc;
	v->raw_len = (size_t)(r->s + r->pos - v->raw);
	*out = v;
	return 0;
}

int json_parse(const struct json_parser *p, const char *text, size_t len,
	       const struct json_value **root, struct json_error *err)
{
	struct rd r = { .p = p, .s = text, .len = len, .err = err };
	struct json_value *v;

	err->offset = 0;
	err->what = NULL;
	if (p->strings_size < len + 1 || !p->max_nodes)
		return fail(&r, -ENOBUFS, "input too long");
	if (parse_value(&r, 0, &v) < 0)
		return r.rc;
	skip_ws(&r);
	if (r.pos != len)
		return fail(&r, -EINVAL, "text after the value");
	*root = v;
	return 0;
}

const struct json_value *json_get(const struct json_value *obj, const char *key)
{
	size_t n = strlen(key);

	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (const struct json_value *m = obj->child; m; m = m->next)
		if (m->key_len == n && !memcmp(m->key, key, n))
			return m;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

void jw_init(struct jw *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
	w->first[0] = true;
}

void jw_free(struct jw *w)
{
	free(w->buf);
	jw_init(w, w->max);
}

void jw_reset(struct jw *w)
{
	char *buf = w->buf;
	size_t cap = w->cap, max = w->max;

	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = cap;
	w->max = max;
	w->first[0] = true;
}

bool jw_failed(const struct jw *w)
{
	return w->failed;
}

void jw_append(struct jw *w, const char *s, size_t n)
{
	if (w->failed || !n)
		return;
	if (n > w->max - w->len) {
		w->failed = true;
		return;
	}
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		char *b;

		while (cap < w->len + n)
			cap = cap > w->max / 2 ? w->max : cap * 2;
		b = realloc(w->buf, cap);
		if (!b) {
			w->failed = true;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

/* Before a value or a key: the comma that separates it from the last. */
static void sep(struct jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first[w->depth])
		jw_append(w, ",", 1);
	w->first[w->depth] = false;
}

static void open_(struct jw *w, char c)
{
	sep(w);
	if (w->depth == JSON_MAX_DEPTH) {
		w->failed = true;
		return;
	}
	jw_append(w, &c, 1);
	w->first[++w->depth] = true;
}

static void close_(struct jw *w, char c)
{
	if (!w->depth) {
		w->failed = true;
		return;
	}
	w->depth--;
	jw_append(w, &c, 1);
}

void jw_object(struct jw *w)
{
	open_(w, '{');
}

void jw_object_end(struct jw *w)
{
	close_(w, '}');
}

void jw_array(struct jw *w)
{
	open_(w, '[');
}

void jw_array_end(struct jw *w)
{
	close_(w, ']');
}

static void quoted(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run = 0;

	jw_append(w, "\"", 1);
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t k = utf8_len((const unsigned char *)s + i, n - i);
		char esc[6];
		const char *e = NULL;
		size_t elen = 2;

		if (k && c >= 0x20 && c != '"' && c != '\\') {
			i += k;
			run += k;
			continue;
		}
		jw_append(w, s + i - run, run);
		run = 0;
		if (!k) {
			jw_append(w, "\xef\xbf\xbd", 3); /* U+FFFD */
			i++;
			continue;
		}
		switch (c) {
		case '"':
			e = "\\\"";
			break;
		case '\\':
			e = "\\\\";
			break;
		case '\n':
			e = "\\n";
			break;
		case '\r':
			e = "\\r";
			break;
		case '\t':
			e = "\\t";
			break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			e = esc;
			elen = 6;
			break;
		}
		jw_append(w, e, elen);
		i++;
	}
	jw_append(w, s + i - run, run);
	jw_append(w, "\"", 1);
}

void jw_key(struct jw *w, const char *key)
{
	sep(w);
	quoted(w, key, strlen(key));
	jw_append(w, ":", 1);
	w->after_key = true;
}

void jw_string_n(struct jw *w, const char *s, size_t n)
{
	sep(w);
	quoted(w, s, n);
}

void jw_string(struct jw *w, const char *s)
{
	jw_string_n(w, s, strlen(s));
}

void jw_u64(struct jw *w, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRIu64, v);

	sep(w);
	jw_append(w, b, (size_t)n);
}

void jw_i64(struct jw *w, int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRId64, v);

	sep(w);
	jw_append(w, b, (size_t)n);
}

void jw_bool(struct jw *w, bool v)
{
	sep(w);
	jw_append(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w)
{
	sep(w);
	jw_append(w, "null", 4);
}

void jw_raw(struct jw *w, const char *text, size_t n)
{
	sep(w);
	jw_append(w, text, n);
}

void jw_value(struct jw *w, const struct json_value *v)
{
	const struct json_value *c;

	switch (v->type) {
	case JSON_NULL:
		jw_null(w);
		break;
	case JSON_BOOL:
		jw_bool(w, v->b);
		break;
	case JSON_NUMBER:
		jw_raw(w, v->raw, v->raw_len);
		break;
	case JSON_STRING:
		jw_string_n(w, v->str, v->str_len);
		break;
	case JSON_ARRAY:
		jw_array(w);
		for (c = v->child; c; c = c->next)
			jw_value(w, c);
		jw_array_end(w);
		break;
	case JSON_OBJECT:
		jw_object(w);
		for (c = v->child; c; c = c->next) {
			jw_key(w, c->key);
			jw_value(w, c);
		}
		jw_object_end(w);
		break;
	}
}
