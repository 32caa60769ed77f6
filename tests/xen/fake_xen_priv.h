/* SPDX-License-Identifier: MIT */
/* Internals of the fake Xen shared by fake_xen.c and fake_xs.c. */
#ifndef VBACK_TESTS_FAKE_XEN_PRIV_H
#define VBACK_TESTS_FAKE_XEN_PRIV_H

#include <errno.h>
#include <stdarg.h>

#include "fake_xen.h"

#define PAGE	    4096u
#define MAX_SERVERS 8u	 /* MAX_NR_IOREQ_SERVERS */
#define MAX_RANGES  256u /* MAX_NR_IO_RANGES */
#define MAX_GRANTS  4096u
#define MAX_PORTS   1024u
#define BAD_PORT    0xfffffff0u /* what an unpopulated vp_eport holds */
#define VCPU_SPIN   1200	/* loop iterations before "the vCPU hangs" */

struct fx_range {
	uint64_t start, end;
};

struct fx_server {
	bool used;
	bool enabled;
	bool mapped;
	ioservid_t id;
	shared_iopage_t *page;
	struct fx_range ranges[MAX_RANGES];
	unsigned int nr_ranges;
	uint32_t *gports; /* guest-side port of each vCPU */
};

struct fx_evtchn;

/* A guest port bound to a backend port. */
struct fx_gport {
	bool used;
	struct fx_evtchn *peer; /* backend handle bound to it */
	uint32_t peer_port;
	unsigned int notified; /* notifies received from the backend */
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
	struct fx_gport gports[MAX_PORTS];
	unsigned int irqs[1024];
	bool isa_line[16];
	struct {
		bool active, ro;
		uint64_t gfn;
		unsigned int maps;
	} grants[MAX_GRANTS];
	uint64_t foreign_pages, grant_pages, foreign_map_calls;
};

struct fx_bport {
	bool used;
	struct fake_dom *dom;
	uint32_t gport;
	bool masked, pending_masked;
};

struct fx_evtchn {
	struct fake_xen *fx;
	int fd;
	struct fx_bport ports[MAX_PORTS];
	uint32_t queue[MAX_PORTS];
	unsigned int qhead, qlen;
};

enum map_kind { MAP_FOREIGN, MAP_GRANT };

struct fx_map {
	struct fx_map *next;
	enum map_kind kind;
	struct fake_dom *dom;
	uint8_t *addr;
	size_t pages;
	uint32_t *refs; /* grants */
};

struct fx_node {
	struct fx_node *next;
	char *path;
	char *val;
	unsigned int len;
};

struct fx_watch {
	struct fx_watch *next;
	char *path, *token;
};

struct fx_event {
	struct fx_event *next;
	char *path, *token;
};

struct fx_tx {
	struct fx_tx *next;
	uint32_t id;
	uint64_t gen;
	struct fx_node *nodes; /* private copy */
	char **changed;
	unsigned int nchanged;
};

struct fx_xs {
	struct fake_xen *fx;
	struct fx_xs *next;
	int fd;
	struct fx_watch *watches;
	struct fx_event *events, **tail;
	struct fx_tx *txs;
};

struct fx_wlog {
	struct fx_wlog *next;
	char *path, *val;
};

struct fake_xen {
	const struct vback_loop *loop;
	char failure[256];
	unsigned int handles;
	struct fake_dom *doms;
	struct fx_map *maps;
	struct fx_node *nodes;
	uint64_t gen;
	uint32_t next_tx;
	struct fx_xs *xss;
	struct fx_wlog *wlog;
	void (*tx_hook)(struct fake_xen *fx, void *opaque);
	void *tx_hook_opaque;
};

void fx_fail(struct fake_xen *fx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void *fx_set_errno_null(int e);
int fx_err(int e);
bool fx_false(int e);
struct fake_dom *live_dom(struct fake_xen *fx, uint32_t domid);

/* fake_xs.c */
void fire_special(struct fake_xen *fx, const char *path);
void fake_xs_fini(struct fake_xen *fx);
void *fx_xs_open(void *sys);
void fx_xs_close(void *xs);
int fx_xs_fileno(void *xs);
void *fx_xs_read(void *xs, xs_transaction_t t, const char *path,
		 unsigned int *len);
bool fx_xs_write(void *xs, xs_transaction_t t, const char *path,
		 const void *data, unsigned int len);
bool fx_xs_rm(void *xs, xs_transaction_t t, const char *path);
char **fx_xs_directory(void *xs, xs_transaction_t t, const char *path,
		       unsigned int *num);
bool fx_xs_watch(void *xs, const char *path, const char *token);
bool fx_xs_unwatch(void *xs, const char *path, const char *token);
char **fx_xs_check_watch(void *xs);
xs_transaction_t fx_xs_transaction_start(void *xs);
bool fx_xs_transaction_end(void *xs, xs_transaction_t t, bool abort);
bool fx_xs_is_domain_introduced(void *xs, unsigned int domid);

#endif /* VBACK_TESTS_FAKE_XEN_PRIV_H */
