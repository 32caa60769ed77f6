/* SPDX-License-Identifier: MIT */
/*
 * The fake xenstore: nodes indexed by path (struct fx_store), watches
 * (fired once when set, on writes at or below them, and on removals above
 * or below them), transactions on a private copy that fail with EAGAIN
 * when the store changed meanwhile, and a log of committed writes for the
 * tests. Served as the platform's store ops (struct vback_xen_store_ops);
 * watch events are delivered by posted work on the fake's loop, never from
 * inside the call that caused them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_xen_priv.h"

/* Paths this long or longer are refused. */
#define MAX_PATH 512

/* FNV-1a, one byte at a time: the hash of each prefix of a path comes on
 * the way to the hash of the path (node_write() looks up every parent). */
#define HASH_INIT 2166136261u

static uint32_t hash_step(uint32_t h, char c)
{
	return (h ^ (uint8_t)c) * 16777619u;
}

static uint32_t path_hash(const char *path, size_t len)
{
	uint32_t h = HASH_INIT;

	for (size_t i = 0; i < len; i++)
		h = hash_step(h, path[i]);
	return h;
}

/* The node of the first @len bytes of @path, whose hash is @h. */
static struct fx_node *store_find_h(const struct fx_store *st, const char *path,
				    size_t len, uint32_t h)
{
	struct fx_node *n;

	if (!st->nbuckets)
		return NULL;
	for (n = st->buckets[h & (st->nbuckets - 1)]; n; n = n->hnext)
		if (n->hash == h && n->plen == len &&
		    !memcmp(n->path, path, len))
			return n;
	return NULL;
}

static struct fx_node *store_find(const struct fx_store *st, const char *path)
{
	size_t len = strlen(path);

	return store_find_h(st, path, len, path_hash(path, len));
}

/* Keep at most one node per bucket on average. */
static int store_grow(struct fx_store *st)
{
	unsigned int nb = st->nbuckets ? 2 * st->nbuckets : 64;
	struct fx_node **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (struct fx_node *n = st->first; n; n = n->next) {
		n->hnext = b[n->hash & (nb - 1)];
		b[n->hash & (nb - 1)] = n;
	}
	free(st->buckets);
	st->buckets = b;
	st->nbuckets = nb;
	return 0;
}

/*
 * Node memory comes from chunks that go with the store, so that a
 * transaction's copy is a few allocations rather than one per node (one
 * per node was a fifth of a fuzz run). A removed node or a replaced value
 * keeps its bytes until then. The cost: ASan does not watch the fake's
 * own nodes one by one; nothing outside this file sees them.
 */
#define CHUNK_BYTES (16u * 1024u)

static void *store_alloc(struct fx_store *st, size_t size)
{
	struct fx_chunk *c = st->chunks;
	void *p;

	size = (size + 15) & ~(size_t)15;
	if (!c || c->size - c->used < size) {
		size_t room = size > CHUNK_BYTES ? size : CHUNK_BYTES;

		c = malloc(sizeof(*c) + room);
		if (!c)
			return NULL;
		c->next = st->chunks;
		c->used = 0;
		c->size = room;
		st->chunks = c;
	}
	p = c->mem + c->used;
	c->used += size;
	return p;
}

static int node_set_val(struct fx_store *st, struct fx_node *n, const char *val,
			unsigned int len)
{
	char *to = n->path + n->plen + 1;

	if (len >= n->room && !(to = store_alloc(st, len + 1)))
		return -ENOMEM;
	memcpy(to, val, len);
	to[len] = '\0';
	n->val = to;
	n->len = len;
	return 0;
}

/*
 * Listing order: what the fake's flat node list gave, which tests (and
 * the fuzz corpora) were written against: a new node goes first, and a
 * transaction's copy is in reverse order (so a commit reverses the
 * store). A directory lists children in that order.
 */
static void kid_prepend(struct fx_node *parent, struct fx_node *n)
{
	n->parent = parent;
	if (!parent)
		return;
	n->next_sib = parent->kids;
	if (parent->kids)
		parent->kids->prev_sib = n;
	else
		parent->last_kid = n;
	parent->kids = n;
}

static void kid_append(struct fx_node *parent, struct fx_node *n)
{
	n->parent = parent;
	if (!parent)
		return;
	n->prev_sib = parent->last_kid;
	if (parent->last_kid)
		parent->last_kid->next_sib = n;
	else
		parent->kids = n;
	parent->last_kid = n;
}

/*
 * A new node for the first @len bytes of @path (hash @h, not in @st yet)
 * holding @val, first in the listing order, not linked to a parent. The
 * value lives after the path unless it outgrows the room left there.
 */
static struct fx_node *store_new(struct fx_store *st, const char *path,
				 size_t len, uint32_t h, const char *val,
				 unsigned int vlen)
{
	unsigned int room = vlen < 16 ? 16 : vlen + 1;
	struct fx_node *n, **b;

	if (st->count >= st->nbuckets && store_grow(st) < 0)
		return NULL;
	n = store_alloc(st, sizeof(*n) + len + 1 + room);
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	memcpy(n->path, path, len);
	n->path[len] = '\0';
	n->plen = (unsigned int)len;
	n->hash = h;
	n->room = room;
	node_set_val(st, n, val, vlen); /* fits: cannot fail */
	b = &st->buckets[h & (st->nbuckets - 1)];
	n->hnext = *b;
	*b = n;
	n->next = st->first;
	if (st->first)
		st->first->prev = n;
	else
		st->last = n;
	st->first = n;
	st->count++;
	return n;
}

/* The same, first child of @parent (NULL: a top node). */
static struct fx_node *store_add(struct fx_store *st, const char *path,
				 size_t len, uint32_t h, struct fx_node *parent,
				 const char *val, unsigned int vlen)
{
	struct fx_node *n = store_new(st, path, len, h, val, vlen);

	if (n)
		kid_prepend(parent, n);
	return n;
}

/* Unlink @n and its subtree; the caller unlinked @n from its parent. */
static void store_drop(struct fx_store *st, struct fx_node *n)
{
	struct fx_node **pp;

	while (n->kids) {
		struct fx_node *k = n->kids;

		n->kids = k->next_sib;
		store_drop(st, k);
	}
	for (pp = &st->buckets[n->hash & (st->nbuckets - 1)]; *pp != n;
	     pp = &(*pp)->hnext)
		;
	*pp = n->hnext;
	if (n->prev)
		n->prev->next = n->next;
	else
		st->first = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		st->last = n->prev;
	st->count--;
}

static void store_free(struct fx_store *st)
{
	struct fx_chunk *c;

	while ((c = st->chunks)) {
		st->chunks = c->next;
		free(c);
	}
	free(st->buckets);
	memset(st, 0, sizeof(*st));
}

/* Into an empty @dst, in reverse listing order (see kid_prepend()): every
 * node first (each known as its copy's twin), then the links between them,
 * children in the order of @dst. */
static int store_copy(struct fx_store *dst, struct fx_store *src)
{
	struct fx_node *n;

	while (dst->nbuckets < src->count)
		if (store_grow(dst) < 0)
			return -ENOMEM;
	for (n = src->first; n; n = n->next) {
		n->twin = store_new(dst, n->path, n->plen, n->hash, n->val,
				    n->len);
		if (!n->twin)
			return -ENOMEM;
	}
	for (n = src->last; n; n = n->prev)
		kid_append(n->parent ? n->parent->twin : NULL, n->twin);
	return 0;
}

/* xenstored creates missing parents with empty values. */
static int node_write(struct fx_store *st, const char *path, const char *val,
		      unsigned int len)
{
	size_t plen = strlen(path), i;
	struct fx_node *parent = NULL, *n;
	uint32_t h = HASH_INIT;

	if (path[0] != '/' || plen >= MAX_PATH)
		return -EINVAL;
	for (i = 0; i < plen; h = hash_step(h, path[i++])) {
		if (i == 0 || path[i] != '/')
			continue;
		n = store_find_h(st, path, i, h);
		if (!n && !(n = store_add(st, path, i, h, parent, "", 0)))
			return -ENOMEM;
		parent = n;
	}
	n = store_find_h(st, path, plen, h);
	if (n)
		return node_set_val(st, n, val, len);
	return store_add(st, path, plen, h, parent, val, len) ? 0 : -ENOMEM;
}

/* @path and everything below it. */
static int node_rm(struct fx_store *st, const char *path)
{
	struct fx_node *n = store_find(st, path), *p;

	if (!n)
		return -ENOENT;
	p = n->parent;
	if (p) {
		if (n->prev_sib)
			n->prev_sib->next_sib = n->next_sib;
		else
			p->kids = n->next_sib;
		if (n->next_sib)
			n->next_sib->prev_sib = n->prev_sib;
		else
			p->last_kid = n->prev_sib;
	}
	store_drop(st, n);
	return 0;
}

/* @path (of length @plen) is @dir or below it. No strncmp: libFuzzer's
 * hook records every differing comparison, a cost on each write. */
static bool path_under(const char *path, size_t plen, const char *dir,
		       size_t dlen)
{
	return plen >= dlen && (path[dlen] == '\0' || path[dlen] == '/') &&
	       !memcmp(path, dir, dlen);
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
		free(ev);
	}
}

static void queue_event(struct fx_pf *p, const char *path,
			const struct fx_watch *w)
{
	size_t len = strlen(path);
	struct fx_event *ev = malloc(sizeof(*ev) + len + 1);

	if (!ev)
		return;
	ev->next = NULL;
	memcpy(ev->path, path, len + 1);
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
	size_t plen = strlen(path);
	struct fx_pf *p;
	struct fx_watch *w;

	for (p = fx->pfs; p; p = p->next) {
		for (w = p->watches; w; w = w->next) {
			if (w->path[0] == '@')
				continue;
			if (path_under(path, plen, w->path, w->plen))
				queue_event(p, path, w);
			else if (removed &&
				 path_under(w->path, w->plen, path, plen))
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
	struct fx_node *n = store_find(&fx->nodes, path);

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
	store_free(&t->nodes);
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

/* The store a request works on: the world or a transaction's copy. */
static struct fx_store *tx_nodes(struct fx_pf *p, uint32_t id,
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

/* xenstored resolves a relative path under the caller's home. */
static const char *resolve(const struct fx_pf *p, const char *path, char *buf,
			   size_t size)
{
	if (path[0] == '/' || path[0] == '@')
		return path;
	snprintf(buf, size, "/local/domain/%u/%s", p->self, path);
	return buf;
}

static int xs_read(void *opaque, uint32_t id, const char *path, char *buf,
		   size_t size)
{
	struct fx_store *st = tx_nodes(opaque, id, NULL);
	struct fx_node *n;
	char abs[512];

	path = resolve(opaque, path, abs, sizeof(abs));
	if (!st)
		return -ENOENT;
	n = store_find(st, path);
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
	size_t plen = strlen(path);
	struct fx_wlog *w = malloc(sizeof(*w) + plen + 1 + len + 1);

	if (!w)
		return;
	w->path = (char *)(w + 1);
	memcpy(w->path, path, plen + 1);
	w->val = w->path + plen + 1;
	memcpy(w->val, data, len);
	w->val[len] = '\0';
	w->next = fx->wlog;
	fx->wlog = w;
}

static int xs_write(void *opaque, uint32_t id, const char *path,
		    const char *value)
{
	struct fx_pf *p = opaque;
	unsigned int len = (unsigned int)strlen(value);
	struct fx_tx *tx;
	struct fx_store *st = tx_nodes(p, id, &tx);
	char abs[512];
	int ret;

	path = resolve(p, path, abs, sizeof(abs));
	if (!st)
		return -ENOENT;
	ret = node_write(st, path, value, len);
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
	struct fx_store *st = tx_nodes(opaque, id, NULL);
	struct fx_node *dir;
	char abs[512];
	size_t used = 0;
	int cnt = 0;

	path = resolve(opaque, path, abs, sizeof(abs));
	dir = st ? store_find(st, path) : NULL;
	if (!dir)
		return -ENOENT;
	for (const struct fx_node *n = dir->kids; n; n = n->next_sib) {
		const char *name = n->path + dir->plen + 1;
		size_t len = n->plen - dir->plen;

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
	w->plen = strlen(path);
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

	if (!tx)
		return -ENOMEM;
	if (store_copy(&tx->nodes, &fx->nodes) < 0) {
		tx_free(tx);
		return -ENOMEM;
	}
	tx->id = ++fx->next_tx;
	tx->gen = fx->gen;
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
				store_find(&tx->nodes, tx->changed[i]);

			if (n)
				wlog_add(fx, n->path, n->val, n->len);
		}
		store_free(&fx->nodes);
		fx->nodes = tx->nodes;
		memset(&tx->nodes, 0, sizeof(tx->nodes));
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

	/* XS_IS_DOMAIN_INTRODUCED is for Dom0 only. */
	if (p->self != 0)
		return -EACCES;
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

	store_free(&fx->nodes);
	while ((w = fx->wlog)) {
		fx->wlog = w->next;
		free(w);
	}
}
