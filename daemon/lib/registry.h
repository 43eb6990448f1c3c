/* registry.h — the methods a server serves: lookup by name, schemas, stats, rpc.discover. */
#ifndef UDSRPC_REGISTRY_H
#define UDSRPC_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include <udsrpc/server.h>

#include "stats.h"

struct schema;
struct method_schema;

/* A registered OpenRPC document: method entries share it (refcounted). */
struct reg_doc {
	struct schema *schema;
	unsigned refs;
};

enum method_kind {
	METHOD_BUILTIN,  /* a library method, switched on by a flag */
	METHOD_SERVICE,  /* udsrpc_server_add_methods */
	METHOD_PROVIDED, /* rpc.provide: served by another connection */
};

/*
 * One method. Entries are refcounted: the registry holds one reference
 * while the method is served, and each call running or deferred holds one,
 * so that a method removed meanwhile still has its name and stats when the
 * call completes.
 */
struct method_entry {
	const char *name; /* borrowed from doc (or owned, see name_buf) */
	size_t name_len;
	udsrpc_handler_fn *handler;
	udsrpc_text_handler_fn *text_handler; /* udsrpc_server_set_text_handler */
	void *userdata;
	unsigned flags; /* UDSRPC_METHOD_* */
	enum method_kind kind;
	const struct method_schema *schema;
	struct reg_doc *doc;
	struct method_stats stats;
	unsigned index; /* small, reused after removal: per-connection caches are indexed by it */
	unsigned refs;
	bool served;
	uint64_t order; /* registration order, for rpc.discover */
};

struct registry {
	struct method_entry **sorted; /* served entries by name (bytewise) */
	size_t n, cap;
	unsigned *free_index; /* indices of removed entries, for reuse */
	size_t nfree, free_cap;
	unsigned next_index;
	uint64_t next_order;
	struct method_entry *last; /* the last one found: clients call one method over and over */
	struct reg_doc *base;      /* the first document a service registered: discover's frame */
	json_t *discover;          /* built on demand, dropped when the methods change */
};

void registry_init(struct registry *r);
void registry_free(struct registry *r);
/* The served entry of that name, or NULL (name need not be NUL-terminated). Borrowed. */
struct method_entry *registry_find(struct registry *r, const char *name, size_t len);
/* What registry_add makes an entry of. */
struct reg_new {
	const struct method_schema *schema; /* in doc */
	udsrpc_handler_fn *handler;
	unsigned flags;
	void *userdata;
};
/*
 * Serve n methods of doc (each entry takes a reference to doc), or none:
 * -EEXIST (err names the method) or -ENOMEM. base: doc frames
 * rpc.discover's answer (the first document a service registers).
 */
int registry_add(struct registry *r, struct reg_doc *doc, const struct reg_new *add, size_t n,
                 enum method_kind kind, bool base, char *err, size_t errlen);
/* Stop serving e (the registry's reference goes). */
void registry_remove(struct registry *r, struct method_entry *e);
void method_entry_ref(struct method_entry *e);
void method_entry_unref(struct method_entry *e);
void reg_doc_unref(struct reg_doc *d);
/* Borrowed (valid until the methods change): the merged document. NULL on ENOMEM. */
const json_t *registry_discover(struct registry *r, const char *name, const char *version);

#endif
