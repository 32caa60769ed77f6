/* SPDX-License-Identifier: MIT */
/* Internals of the fake Xen shared by fake_xen.c and fake_xs.c. */
#ifndef VBACK_TESTS_FAKE_XEN_PRIV_H
#define VBACK_TESTS_FAKE_XEN_PRIV_H

#include <errno.h>
#include <stdarg.h>

#include <stdint.h>
#include <xen/xen.h>
#include <xen/hvm/dm_op.h>
#include <xen/memory.h>

#include "fake_xen.h"

#define PAGE	      4096u
#define MAX_SERVERS   8u   /* MAX_NR_IOREQ_SERVERS */
#define MAX_RANGES    256u /* MAX_NR_IO_RANGES */
#define MAX_GRANTS    4096u
#define MAX_PORTS     1024u
#define BAD_PORT      0xfffffff0u /* what an unpopulated vp_eport holds */
#define VCPU_SPIN     1200	  /* loop iterations before "the vCPU hangs" */
#define MAX_BALLOONED 64u

struct fx_range {
	uint64_t start, end;
};

struct fx_server {
	bool used;
	bool enabled;
	bool mapped;
	ioservid_t id;
	shared_iopage_t *page;
	struct fx_range *ranges; /* MAX_RANGES of them, with the page */
	unsigned int nr_ranges;
	uint32_t *gports; /* guest-side port of each vCPU */
};

struct fx_pf;

/* A guest port bound to a backend port. */
struct fx_gport {
	bool used;
	struct fx_pf *peer; /* backend platform bound to it */
	uint32_t peer_port;
	unsigned int notified; /* notifies received from the backend */
};

struct fx_grant {
	bool active, ro;
	uint64_t gfn;
	unsigned int maps;
};

struct fake_dom {
	struct fake_xen *fx;
	struct fake_dom *next;
	uint16_t domid;
	unsigned int nr_vcpus;
	bool dead, crashed;
	uint64_t ram_base, ram_bytes;
	int memfd;
	uint8_t *ram;
	bool ext; /* RAM owned by the test (fake_dom_create_on) */
	struct fx_server servers[MAX_SERVERS];
	/* Guest ports 0..ngports-1 (at most MAX_PORTS), grown as ports are
	 * allocated: a domain is created per fuzz input, and a full table
	 * was most of what calloc() had to clear. */
	struct fx_gport *gports;
	unsigned int ngports;
	unsigned int irqs[1024];
	bool isa_line[16];
	/* Entries up to the highest ref granted (at most MAX_GRANTS): a
	 * domain is created per fuzz input, and most grant few or none. */
	struct fx_grant *grants;
	unsigned int ngrants;
	uint64_t foreign_pages, grant_pages, foreign_map_calls;
	uint64_t ballooned[MAX_BALLOONED]; /* frames out of the guest */
	unsigned int nballooned;
};

/* A backend port: bound to a guest port, with the platform callback. */
struct fx_bport {
	bool used;
	struct fake_dom *dom;
	uint32_t gport;
	vback_xen_event_fn fn;
	void *opaque;
};

enum map_kind { MAP_FOREIGN, MAP_GRANT };

struct fx_map {
	struct fx_map *next;
	struct fx_pf *owner; /* the platform (process) that mapped it */
	enum map_kind kind;
	struct fake_dom *dom;
	uint8_t *addr;
	size_t pages;
	uint32_t *refs; /* grants */
};

/*
 * One xenstore node. A store finds a node by path through a hash table and
 * keeps each node's children in a list, so that a lookup costs the same
 * whatever the store holds and a listing or a removal only visits the
 * subtree (the fuzz targets write hundreds of nodes per input). A child's
 * parent is the node named by its path up to the last '/' ("/a/b" under
 * "/a"); writes create missing parents first and a removal takes the whole
 * subtree, so every node but the top ones ("/local") has its parent.
 */
struct fx_node {
	struct fx_node *hnext;		 /* next in its hash bucket */
	struct fx_node *prev, *next;	 /* the store's nodes, listing order */
	struct fx_node *parent;		 /* NULL at the top */
	struct fx_node *kids, *last_kid; /* children, listing order */
	struct fx_node *prev_sib, *next_sib;
	struct fx_node *twin; /* its copy, while a store is copied */
	uint32_t hash;
	unsigned int plen; /* strlen(path) */
	char *val;	   /* in the room after path, or elsewhere if longer */
	unsigned int len;
	unsigned int room; /* bytes for a value after path */
	char path[];
};

/* Memory of a store's nodes (fake_xs.c: store_alloc()). */
struct fx_chunk {
	struct fx_chunk *next;
	size_t used, size;
	_Alignas(16) unsigned char mem[];
};

/* A whole store: the world's, or a transaction's private copy. All zero
 * is an empty store. */
struct fx_store {
	struct fx_node **buckets;
	unsigned int nbuckets; /* a power of two, 0 until the first node */
	unsigned int count;
	struct fx_node *first, *last;
	struct fx_chunk *chunks;
};

struct fx_watch {
	struct fx_watch *next;
	uint64_t id; /* events name their watch by id: it may be gone */
	char *path;
	size_t plen;
	vback_xen_watch_fn fn;
	void *opaque;
};

struct fx_event {
	struct fx_event *next;
	uint64_t watch;
	char path[];
};

struct fx_tx {
	struct fx_tx *next;
	uint32_t id;
	uint64_t gen;
	struct fx_store nodes; /* private copy */
	char **changed;
	unsigned int nchanged;
};

/* One platform instance: what one backend domain holds. */
struct fx_pf {
	struct vback_xen_platform pf; /* first: the public handle */
	struct fake_xen *fx;
	uint16_t self; /* the domain it runs in; 0: Dom0 (privileged) */
	struct fx_pf *next;
	struct fx_bport *ports; /* 0..nports-1, grown like a domain's */
	unsigned int nports;
	unsigned int pages; /* ioreq pages mapped */
	struct fx_watch *watches;
	uint64_t next_watch;
	struct fx_event *events, **tail;
	struct vback_work deliver; /* delivers events from the loop */
	struct fx_tx *txs;
	bool dead; /* fake_xen_platform_kill(): its process died */
};

struct fx_wlog {
	struct fx_wlog *next;
	char *path, *val; /* both in the same allocation */
};

struct fake_xen {
	const struct vback_loop *loop;
	char failure[256];
	unsigned int handles;
	struct fake_dom *doms;
	struct fx_map *maps;
	struct fx_store nodes;
	uint64_t gen;
	uint32_t next_tx;
	struct fx_pf *pfs;
	struct fx_wlog *wlog;
	void (*tx_hook)(struct fake_xen *fx, void *opaque);
	void *tx_hook_opaque;
	/* XEN_DOMCTL_set_target relations: backend -> guest, once each. */
	struct {
		uint16_t backend, guest;
	} targets[16];
	unsigned int nr_targets;
	bool silo; /* XSM SILO: no event channel or grant between DomUs */
};

void fx_fail(struct fake_xen *fx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
struct fake_dom *live_dom(struct fake_xen *fx, uint32_t domid);
/* 0 when platform @p may act as @domid's device model, else -EPERM. */
int fx_may_dm(const struct fx_pf *p, uint16_t domid);

/* fake_xs.c */
extern const struct vback_xen_store_ops fake_xs_ops;
void fire_special(struct fake_xen *fx, const char *path);
void fake_xs_fini(struct fake_xen *fx);
/* Drop a platform's watches, queued events and transactions: the
 * number of watches and transactions it still held. */
unsigned int fx_xs_release(struct fx_pf *p);
void fx_xs_init(struct fx_pf *p);
unsigned int fx_xs_held(const struct fx_pf *p);

#endif /* VBACK_TESTS_FAKE_XEN_PRIV_H */
