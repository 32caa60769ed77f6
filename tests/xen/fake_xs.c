/* SPDX-License-Identifier: MIT */
/*
 * The fake xenstore: a flat list of nodes, watches (fired once when set,
 * on writes at or below them, and on removals above or below them),
 * transactions on a private copy that fail with EAGAIN when the store
 * changed meanwhile, and a log of committed writes for the tests. Served
 * as the platform's store ops (struct vback_xen_store_ops); watch events
 * are delivered by posted work on the fake's loop, never from inside the
 * call that caused them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static struct fx_watch *watch_by_id(struct fx_pf *p, uint64_t id)
{
	for (struct fx_watch *w = p->watches; w; w = w->next)
		if (w->id == id)
			return w;
	return NULL;
}

/* Deliver queued events, one at a time: a callback may (un)watch. */
static void deliver(void *opaque)
{
	struct fx_pf *p = opaque;
	struct fx_event *ev;

	while ((ev = p->events)) {
		struct fx_watch *w;

		p->events = ev->next;
		if (!p->events)
			p->tail = &p->events;
		w = watch_by_id(p, ev->watch);
		if (w)
			w->fn(w->opaque, ev->path);
		free(ev->path);
		free(ev);
	}
}

static void queue_event(struct fx_pf *p, const char *path,
			const struct fx_watch *w)
{
	struct fx_event *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return;
	ev->path = strdup(path);
	ev->watch = w->id;
	*p->tail = ev;
	p->tail = &ev->next;
	if (!p->fx->loop) {
		fx_fail(p->fx, "xenstore watch with no loop to deliver it");
		return;
	}
	vback_loop_post(p->fx->loop, &p->deliver);
}

/* Watches on @path or above it fire with @path; for a removal, watches
 * below it fire with their own path. */
static void fire(struct fake_xen *fx, const char *path, bool removed)
{
	struct fx_pf *p;
	struct fx_watch *w;

	for (p = fx->pfs; p; p = p->next) {
		for (w = p->watches; w; w = w->next) {
			if (w->path[0] == '@')
				continue;
			if (path_under(path, w->path))
				queue_event(p, path, w);
			else if (removed && path_under(w->path, path))
				queue_event(p, w->path, w);
		}
	}
}

void fire_special(struct fake_xen *fx, const char *path)
{
	struct fx_pf *p;
	struct fx_watch *w;

	for (p = fx->pfs; p; p = p->next)
		for (w = p->watches; w; w = w->next)
			if (!strcmp(w->path, path))
				queue_event(p, path, w);
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

static void tx_free(struct fx_tx *t)
{
	nodes_free(t->nodes);
	while (t->nchanged)
		free(t->changed[--t->nchanged]);
	free(t->changed);
	free(t);
}

void fx_xs_init(struct fx_pf *p)
{
	p->tail = &p->events;
	vback_work_init(&p->deliver, deliver, p);
}

unsigned int fx_xs_held(const struct fx_pf *p)
{
	unsigned int n = 0;

	for (const struct fx_watch *w = p->watches; w; w = w->next)
		n++;
	for (const struct fx_tx *t = p->txs; t; t = t->next)
		n++;
	return n;
}

unsigned int fx_xs_release(struct fx_pf *p)
{
	unsigned int held = fx_xs_held(p);
	struct fx_watch *w;
	struct fx_event *ev;
	struct fx_tx *t;

	while ((w = p->watches)) {
		p->watches = w->next;
		free(w->path);
		free(w);
	}
	while ((ev = p->events)) {
		p->events = ev->next;
		free(ev->path);
		free(ev);
	}
	p->tail = &p->events;
	if (p->fx->loop)
		vback_loop_cancel(p->fx->loop, &p->deliver);
	while ((t = p->txs)) {
		p->txs = t->next;
		tx_free(t);
	}
	return held;
}

static struct fx_tx *tx_find(struct fx_pf *p, uint32_t id)
{
	struct fx_tx *tx;

	for (tx = p->txs; tx; tx = tx->next)
		if (tx->id == id)
			return tx;
	return NULL;
}

/* The node list a request works on: the world or a transaction's copy. */
static struct fx_node **tx_nodes(struct fx_pf *p, uint32_t id,
				 struct fx_tx **txp)
{
	struct fx_tx *tx = NULL;

	if (id) {
		tx = tx_find(p, id);
		if (!tx)
			return NULL;
	}
	if (txp)
		*txp = tx;
	return tx ? &tx->nodes : &p->fx->nodes;
}

static int xs_read(void *opaque, uint32_t id, const char *path, char *buf,
		   size_t size)
{
	struct fx_node **list = tx_nodes(opaque, id, NULL);
	struct fx_node *n;

	if (!list)
		return -ENOENT;
	n = node_find(*list, path);
	if (!n)
		return -ENOENT;
	if (n->len >= size)
		return -ERANGE;
	memcpy(buf, n->val, n->len + 1);
	return (int)n->len;
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

static int xs_write(void *opaque, uint32_t id, const char *path,
		    const char *value)
{
	struct fx_pf *p = opaque;
	unsigned int len = (unsigned int)strlen(value);
	struct fx_tx *tx;
	struct fx_node **list = tx_nodes(p, id, &tx);
	int ret;

	if (!list)
		return -ENOENT;
	ret = node_write(list, path, value, len);
	if (ret < 0)
		return ret;
	if (tx) {
		char **c =
			realloc(tx->changed, (tx->nchanged + 1) * sizeof(*c));

		if (c) {
			tx->changed = c;
			c[tx->nchanged++] = strdup(path);
		}
	} else {
		wlog_add(p->fx, path, value, len);
		p->fx->gen++;
		fire(p->fx, path, false);
	}
	return 0;
}

static int xs_directory(void *opaque, uint32_t id, const char *path, char *buf,
			size_t size)
{
	struct fx_node **list = tx_nodes(opaque, id, NULL);
	struct fx_node *n;
	size_t plen = strlen(path), used = 0;
	int cnt = 0;

	if (!list || !node_find(*list, path))
		return -ENOENT;
	for (n = *list; n; n = n->next) {
		const char *name = n->path + plen + 1;
		size_t len;

		if (strncmp(n->path, path, plen) || n->path[plen] != '/' ||
		    strchr(name, '/'))
			continue;
		len = strlen(name) + 1;
		if (len > size - used)
			return -ERANGE;
		memcpy(buf + used, name, len);
		used += len;
		cnt++;
	}
	return cnt;
}

static int xs_watch(void *opaque, const char *path, vback_xen_watch_fn fn,
		    void *fn_opaque)
{
	struct fx_pf *p = opaque;
	struct fx_watch *w = calloc(1, sizeof(*w));

	if (!w || !(w->path = strdup(path))) {
		free(w);
		return -ENOMEM;
	}
	w->id = ++p->next_watch;
	w->fn = fn;
	w->opaque = fn_opaque;
	w->next = p->watches;
	p->watches = w;
	/* xenstored fires every new watch once (from the loop, here). */
	queue_event(p, path, w);
	return 0;
}

static void xs_unwatch(void *opaque, const char *path, vback_xen_watch_fn fn,
		       void *fn_opaque)
{
	struct fx_pf *p = opaque;
	struct fx_watch **pp, *w;

	for (pp = &p->watches; (w = *pp); pp = &w->next) {
		if (w->fn == fn && w->opaque == fn_opaque &&
		    !strcmp(w->path, path)) {
			*pp = w->next;
			free(w->path);
			free(w);
			return;
		}
	}
	fx_fail(p->fx, "unwatch of %s, which is not watched", path);
}

static int xs_tx_start(void *opaque, uint32_t *id)
{
	struct fx_pf *p = opaque;
	struct fake_xen *fx = p->fx;
	struct fx_tx *tx = calloc(1, sizeof(*tx));
	struct fx_node *n;

	if (!tx)
		return -ENOMEM;
	tx->id = ++fx->next_tx;
	tx->gen = fx->gen;
	for (n = fx->nodes; n; n = n->next)
		node_set(&tx->nodes, n->path, n->val, n->len);
	tx->next = p->txs;
	p->txs = tx;
	if (fx->tx_hook) {
		void (*fn)(struct fake_xen *, void *) = fx->tx_hook;

		fx->tx_hook = NULL;
		fn(fx, fx->tx_hook_opaque);
	}
	*id = tx->id;
	return 0;
}

static int xs_tx_end(void *opaque, uint32_t id, bool abort)
{
	struct fx_pf *p = opaque;
	struct fake_xen *fx = p->fx;
	struct fx_tx *tx, **pp;
	int ret = 0;
	unsigned int i;

	for (pp = &p->txs; (tx = *pp); pp = &tx->next)
		if (tx->id == id)
			break;
	if (!tx)
		return -ENOENT;
	*pp = tx->next;
	if (!abort && tx->gen != fx->gen) {
		/* Someone changed the store meanwhile: retry, as xenstored. */
		ret = -EAGAIN;
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
	tx_free(tx);
	return ret;
}

static int xs_domain_exists(void *opaque, uint16_t domid)
{
	struct fx_pf *p = opaque;

	return live_dom(p->fx, domid) != NULL;
}

const struct vback_xen_store_ops fake_xs_ops = {
	.read = xs_read,
	.write = xs_write,
	.directory = xs_directory,
	.tx_start = xs_tx_start,
	.tx_end = xs_tx_end,
	.watch = xs_watch,
	.unwatch = xs_unwatch,
	.domain_exists = xs_domain_exists,
};

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
