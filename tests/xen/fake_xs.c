/* SPDX-License-Identifier: MIT */
/*
 * The fake xenstore: a flat list of nodes, watches (fired once when set,
 * on writes at or below them, and on removals above or below them),
 * transactions on a private copy that fail with EAGAIN when the store
 * changed meanwhile, and a log of committed writes for the tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fake_xen_priv.h"

static void nodes_free(struct fx_node *n)
{
	while (n) {
		struct fx_node *next = n->next;

		free(n->path);
		free(n->val);
		free(n);
		n = next;
	}
}

static struct fx_node *node_find(struct fx_node *list, const char *path)
{
	for (; list; list = list->next)
		if (!strcmp(list->path, path))
			return list;
	return NULL;
}

/* @path is @dir or below it. */
static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

static int node_set(struct fx_node **list, const char *path, const char *val,
		    unsigned int len)
{
	struct fx_node *n = node_find(*list, path);
	char *copy = malloc(len + 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, val, len);
	copy[len] = '\0';
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n || !(n->path = strdup(path))) {
			free(n);
			free(copy);
			return -ENOMEM;
		}
		n->next = *list;
		*list = n;
	}
	free(n->val);
	n->val = copy;
	n->len = len;
	return 0;
}

/* xenstored creates missing parents with empty values. */
static int node_write(struct fx_node **list, const char *path, const char *val,
		      unsigned int len)
{
	char buf[512];
	char *p;

	if (path[0] != '/' || strlen(path) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, path);
	for (p = buf + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (!node_find(*list, buf) && node_set(list, buf, "", 0) < 0)
			return -ENOMEM;
		*p = '/';
	}
	return node_set(list, path, val, len);
}

static int node_rm(struct fx_node **list, const char *path)
{
	struct fx_node **pp = list, *n;
	bool found = false;

	while ((n = *pp)) {
		if (path_under(n->path, path)) {
			*pp = n->next;
			free(n->path);
			free(n->val);
			free(n);
			found = true;
		} else {
			pp = &n->next;
		}
	}
	return found ? 0 : -ENOENT;
}

static void queue_event(struct fx_xs *h, const char *path, const char *token)
{
	struct fx_event *ev = calloc(1, sizeof(*ev));
	uint64_t one = 1;

	if (!ev)
		return;
	ev->path = strdup(path);
	ev->token = strdup(token);
	if (!h->events && write(h->fd, &one, sizeof(one)) != sizeof(one))
		fx_fail(h->fx, "eventfd write failed");
	*h->tail = ev;
	h->tail = &ev->next;
}

/* Watches on @path or above it fire with @path; for a removal, watches
 * below it fire with their own path. */
static void fire(struct fake_xen *fx, const char *path, bool removed)
{
	struct fx_xs *h;
	struct fx_watch *w;

	for (h = fx->xss; h; h = h->next) {
		for (w = h->watches; w; w = w->next) {
			if (w->path[0] == '@')
				continue;
			if (path_under(path, w->path))
				queue_event(h, path, w->token);
			else if (removed && path_under(w->path, path))
				queue_event(h, w->path, w->token);
		}
	}
}

void fire_special(struct fake_xen *fx, const char *path)
{
	struct fx_xs *h;
	struct fx_watch *w;

	for (h = fx->xss; h; h = h->next)
		for (w = h->watches; w; w = w->next)
			if (!strcmp(w->path, path))
				queue_event(h, path, w->token);
}

int fake_xs_write(struct fake_xen *fx, const char *path, const char *val)
{
	int ret = node_write(&fx->nodes, path, val, (unsigned int)strlen(val));

	if (ret == 0) {
		fx->gen++;
		fire(fx, path, false);
	}
	return ret;
}

char *fake_xs_read(struct fake_xen *fx, const char *path)
{
	struct fx_node *n = node_find(fx->nodes, path);

	return n ? strdup(n->val) : NULL;
}

int fake_xs_rm(struct fake_xen *fx, const char *path)
{
	int ret = node_rm(&fx->nodes, path);

	if (ret == 0) {
		fx->gen++;
		fire(fx, path, true);
	}
	return ret;
}

unsigned int fake_xs_writes(const struct fake_xen *fx, const char *path,
			    const char *val)
{
	const struct fx_wlog *w;
	unsigned int n = 0;

	for (w = fx->wlog; w; w = w->next)
		if (!strcmp(w->path, path) && !strcmp(w->val, val))
			n++;
	return n;
}

void fake_xs_on_tx_start(struct fake_xen *fx,
			 void (*fn)(struct fake_xen *fx, void *opaque),
			 void *opaque)
{
	fx->tx_hook = fn;
	fx->tx_hook_opaque = opaque;
}

void *fx_xs_open(void *sys)
{
	struct fake_xen *fx = sys;
	struct fx_xs *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->fx = fx;
	h->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->fd < 0) {
		free(h);
		return NULL;
	}
	h->tail = &h->events;
	h->next = fx->xss;
	fx->xss = h;
	fx->handles++;
	return h;
}

void fx_xs_close(void *xs)
{
	struct fx_xs *h = xs, **pp;
	struct fx_watch *w;
	struct fx_event *ev;
	struct fx_tx *t;

	if (!h)
		return;
	for (pp = &h->fx->xss; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	while ((w = h->watches)) {
		h->watches = w->next;
		free(w->path);
		free(w->token);
		free(w);
	}
	while ((ev = h->events)) {
		h->events = ev->next;
		free(ev->path);
		free(ev->token);
		free(ev);
	}
	while ((t = h->txs)) {
		h->txs = t->next;
		nodes_free(t->nodes);
		while (t->nchanged)
			free(t->changed[--t->nchanged]);
		free(t->changed);
		free(t);
	}
	close(h->fd);
	h->fx->handles--;
	free(h);
}

int fx_xs_fileno(void *xs)
{
	return ((struct fx_xs *)xs)->fd;
}

static struct fx_tx *tx_find(struct fx_xs *h, xs_transaction_t t)
{
	struct fx_tx *tx;

	for (tx = h->txs; tx; tx = tx->next)
		if (tx->id == t)
			return tx;
	return NULL;
}

/* The node list a request works on: the world or a transaction's copy. */
static struct fx_node **tx_nodes(struct fx_xs *h, xs_transaction_t t,
				 struct fx_tx **txp)
{
	struct fx_tx *tx = NULL;

	if (t != XBT_NULL) {
		tx = tx_find(h, t);
		if (!tx)
			return NULL;
	}
	if (txp)
		*txp = tx;
	return tx ? &tx->nodes : &h->fx->nodes;
}

void *fx_xs_read(void *xs, xs_transaction_t t, const char *path,
		 unsigned int *len)
{
	struct fx_node **list = tx_nodes(xs, t, NULL);
	struct fx_node *n;
	char *v;

	if (!list)
		return fx_set_errno_null(ENOENT);
	n = node_find(*list, path);
	if (!n)
		return fx_set_errno_null(ENOENT);
	v = malloc(n->len + 1);
	if (!v)
		return NULL;
	memcpy(v, n->val, n->len + 1);
	if (len)
		*len = n->len;
	return v;
}

static void wlog_add(struct fake_xen *fx, const char *path, const void *data,
		     unsigned int len)
{
	struct fx_wlog *w = calloc(1, sizeof(*w));

	if (!w)
		return;
	w->path = strdup(path);
	w->val = strndup(data, len);
	w->next = fx->wlog;
	fx->wlog = w;
}

bool fx_xs_write(void *xs, xs_transaction_t t, const char *path,
		 const void *data, unsigned int len)
{
	struct fx_xs *h = xs;
	struct fx_tx *tx;
	struct fx_node **list = tx_nodes(h, t, &tx);
	int ret;

	if (!list)
		return fx_false(ENOENT);
	ret = node_write(list, path, data, len);
	if (ret < 0)
		return fx_false(-ret);
	if (tx) {
		char **c =
			realloc(tx->changed, (tx->nchanged + 1) * sizeof(*c));

		if (c) {
			tx->changed = c;
			c[tx->nchanged++] = strdup(path);
		}
	} else {
		wlog_add(h->fx, path, data, len);
		h->fx->gen++;
		fire(h->fx, path, false);
	}
	return true;
}

bool fx_xs_rm(void *xs, xs_transaction_t t, const char *path)
{
	struct fx_xs *h = xs;
	struct fx_tx *tx;
	struct fx_node **list = tx_nodes(h, t, &tx);

	if (!list)
		return fx_false(ENOENT);
	if (tx) /* not used by the transport: keep the fake small */
		return fx_false(EOPNOTSUPP);
	if (node_rm(list, path) < 0)
		return fx_false(ENOENT);
	h->fx->gen++;
	fire(h->fx, path, true);
	return true;
}

char **fx_xs_directory(void *xs, xs_transaction_t t, const char *path,
		       unsigned int *num)
{
	struct fx_node **list = tx_nodes(xs, t, NULL);
	struct fx_node *n;
	size_t plen = strlen(path), bytes = 0;
	unsigned int cnt = 0;
	char **out, *s;

	if (!list || !node_find(*list, path))
		return fx_set_errno_null(ENOENT);
	/* Same memory layout as libxenstore: one block, freed at once. */
	for (n = *list; n; n = n->next) {
		if (!strncmp(n->path, path, plen) && n->path[plen] == '/' &&
		    !strchr(n->path + plen + 1, '/')) {
			cnt++;
			bytes += strlen(n->path + plen + 1) + 1;
		}
	}
	out = malloc((cnt + 1) * sizeof(char *) + bytes);
	if (!out)
		return NULL;
	s = (char *)(out + cnt + 1);
	cnt = 0;
	for (n = *list; n; n = n->next) {
		if (!strncmp(n->path, path, plen) && n->path[plen] == '/' &&
		    !strchr(n->path + plen + 1, '/')) {
			strcpy(s, n->path + plen + 1);
			out[cnt++] = s;
			s += strlen(s) + 1;
		}
	}
	out[cnt] = NULL;
	*num = cnt;
	return out;
}

bool fx_xs_watch(void *xs, const char *path, const char *token)
{
	struct fx_xs *h = xs;
	struct fx_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return false;
	w->path = strdup(path);
	w->token = strdup(token);
	w->next = h->watches;
	h->watches = w;
	/* xenstored fires every new watch once. */
	queue_event(h, path, token);
	return true;
}

bool fx_xs_unwatch(void *xs, const char *path, const char *token)
{
	struct fx_xs *h = xs;
	struct fx_watch **pp, *w;

	for (pp = &h->watches; (w = *pp); pp = &w->next) {
		if (!strcmp(w->path, path) && !strcmp(w->token, token)) {
			*pp = w->next;
			free(w->path);
			free(w->token);
			free(w);
			return true;
		}
	}
	return fx_false(ENOENT);
}

char **fx_xs_check_watch(void *xs)
{
	struct fx_xs *h = xs;
	struct fx_event *ev = h->events;
	size_t lp, lt;
	char **out;
	uint64_t v;

	if (!ev)
		return fx_set_errno_null(EAGAIN);
	h->events = ev->next;
	if (!h->events) {
		h->tail = &h->events;
		if (read(h->fd, &v, sizeof(v)) != sizeof(v))
			fx_fail(h->fx, "eventfd read failed");
	}
	lp = strlen(ev->path) + 1;
	lt = strlen(ev->token) + 1;
	out = malloc(2 * sizeof(char *) + lp + lt);
	if (out) {
		out[XS_WATCH_PATH] = (char *)(out + 2);
		out[XS_WATCH_TOKEN] = out[XS_WATCH_PATH] + lp;
		memcpy(out[XS_WATCH_PATH], ev->path, lp);
		memcpy(out[XS_WATCH_TOKEN], ev->token, lt);
	}
	free(ev->path);
	free(ev->token);
	free(ev);
	return out;
}

xs_transaction_t fx_xs_transaction_start(void *xs)
{
	struct fx_xs *h = xs;
	struct fake_xen *fx = h->fx;
	struct fx_tx *tx = calloc(1, sizeof(*tx));
	struct fx_node *n;

	if (!tx)
		return XBT_NULL;
	tx->id = ++fx->next_tx;
	tx->gen = fx->gen;
	for (n = fx->nodes; n; n = n->next)
		node_set(&tx->nodes, n->path, n->val, n->len);
	tx->next = h->txs;
	h->txs = tx;
	if (fx->tx_hook) {
		void (*fn)(struct fake_xen *, void *) = fx->tx_hook;

		fx->tx_hook = NULL;
		fn(fx, fx->tx_hook_opaque);
	}
	return tx->id;
}

bool fx_xs_transaction_end(void *xs, xs_transaction_t t, bool abort)
{
	struct fx_xs *h = xs;
	struct fake_xen *fx = h->fx;
	struct fx_tx *tx, **pp;
	bool ok = true;
	unsigned int i;

	for (pp = &h->txs; (tx = *pp); pp = &tx->next)
		if (tx->id == t)
			break;
	if (!tx)
		return fx_false(ENOENT);
	*pp = tx->next;
	if (!abort && tx->gen != fx->gen) {
		/* Someone changed the store meanwhile: retry, as xenstored. */
		errno = EAGAIN;
		ok = false;
	} else if (!abort) {
		/* Only committed writes reach the write log. */
		for (i = 0; i < tx->nchanged; i++) {
			struct fx_node *n =
				node_find(tx->nodes, tx->changed[i]);

			if (n)
				wlog_add(fx, n->path, n->val, n->len);
		}
		nodes_free(fx->nodes);
		fx->nodes = tx->nodes;
		tx->nodes = NULL;
		fx->gen++;
		for (i = 0; i < tx->nchanged; i++)
			fire(fx, tx->changed[i], false);
	}
	nodes_free(tx->nodes);
	for (i = 0; i < tx->nchanged; i++)
		free(tx->changed[i]);
	free(tx->changed);
	free(tx);
	return ok;
}

bool fx_xs_is_domain_introduced(void *xs, unsigned int domid)
{
	struct fx_xs *h = xs;

	return domid <= 0xffff && live_dom(h->fx, domid) != NULL;
}
void fake_xs_fini(struct fake_xen *fx)
{
	struct fx_wlog *w;

	nodes_free(fx->nodes);
	fx->nodes = NULL;
	while ((w = fx->wlog)) {
		fx->wlog = w->next;
		free(w->path);
		free(w->val);
		free(w);
	}
}
