/* SPDX-License-Identifier: MIT */
/*
 * A small, strict JSON (RFC 8259) reader and writer for the control socket
 * (control.c). No dependency, no allocation while parsing: the caller
 * hands in the node and string storage, sized for the longest line it
 * accepts.
 *
 * Strict: one value and nothing but whitespace around it; UTF-8 checked
 * (no overlong forms, no surrogates); escapes checked (no lone surrogate
 * halves, no \u0000, so decoded strings are C strings); duplicate object
 * keys refused; nesting deeper than JSON_MAX_DEPTH refused, which bounds
 * the recursion.
 */
#ifndef VBACK_DISK_JSON_H
#define VBACK_DISK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting accepted (and written): arrays and objects count. */
#define JSON_MAX_DEPTH 16

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_value {
	enum json_type type;
	/* The value's text in the input (for NUMBER, and to echo an id). */
	const char *raw;
	size_t raw_len;
	/* A member of an object: its name, decoded, NUL-terminated. */
	const char *key;
	size_t key_len;
	/* STRING: decoded, NUL-terminated, no NUL inside. */
	const char *str;
	size_t str_len;
	bool b;	     /* BOOL */
	bool is_int; /* NUMBER without fraction or exponent, fits in @i */
	int64_t i;
	/* ARRAY, OBJECT: the elements or members, in input order. */
	struct json_value *child;
	unsigned int count;
	struct json_value *next; /* next element or member of the parent */
};

/* Storage for one parse; reused for the next (the values of the last
 * parse point into it and into the input). */
struct json_parser {
	struct json_value *nodes;
	unsigned int max_nodes; /* values per document */
	char *strings;		/* decoded strings and keys */
	size_t strings_size;	/* at least the input length + 1 */
};

struct json_error {
	size_t offset;	  /* byte of the input where it went wrong */
	const char *what; /* static text, e.g. "bad escape" */
};

/*
 * Parse @len bytes of @text (need not be NUL-terminated) into *@root.
 * Returns 0, or -EINVAL with *@err saying where and what (-ENOBUFS when
 * the document has more than max_nodes values, or the string storage is
 * smaller than @len + 1).
 */
int json_parse(const struct json_parser *p, const char *text, size_t len,
	       const struct json_value **root, struct json_error *err);

/* Member @key of object @obj, or NULL (also when @obj is not an object). */
const struct json_value *json_get(const struct json_value *obj,
				  const char *key);

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

/*
 * A JSON text built in a growing buffer of at most @max bytes. Every call
 * adds one token and the commas it needs; a call that would go past @max
 * (or fail to allocate, or nest deeper than JSON_MAX_DEPTH) marks the
 * writer failed and later calls do nothing: check jw_failed() at the end.
 */
struct jw {
	char *buf;
	size_t len, cap, max;
	bool failed;
	unsigned int depth;
	bool first[JSON_MAX_DEPTH + 1]; /* nothing written yet at that depth */
	bool after_key;
};

void jw_init(struct jw *w, size_t max);
/* Free the buffer; the writer can be initialised again. */
void jw_free(struct jw *w);
/* Empty the text, keep the buffer. */
void jw_reset(struct jw *w);
bool jw_failed(const struct jw *w);

void jw_object(struct jw *w);
void jw_object_end(struct jw *w);
void jw_array(struct jw *w);
void jw_array_end(struct jw *w);
/* The name of the next member (escaped like a string). */
void jw_key(struct jw *w, const char *key);
/* A string; bytes that are not valid UTF-8 are written as U+FFFD. */
void jw_string(struct jw *w, const char *s);
void jw_string_n(struct jw *w, const char *s, size_t n);
void jw_u64(struct jw *w, uint64_t v);
void jw_i64(struct jw *w, int64_t v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* A value given as JSON text the caller vouches for (an echoed id). */
void jw_raw(struct jw *w, const char *text, size_t n);
/* A parsed value, written back in canonical form (no whitespace). */
void jw_value(struct jw *w, const struct json_value *v);
/* Append raw bytes outside any value (the reply's newline). */
void jw_append(struct jw *w, const char *s, size_t n);

#endif /* VBACK_DISK_JSON_H */
