/* store_tree.h — an intrusive AVL tree of byte-string keys, private to the store. */
#ifndef UDSRPC_STORE_TREE_H
#define UDSRPC_STORE_TREE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Embedded in whatever the tree holds; key points into the holder, so a
 * lookup is a walk of pointers with no allocation. The tree never allocates
 * or frees: callers own their nodes.
 */
struct store_tree_link {
	struct store_tree_link *left, *right;
	const char *key;
	uint32_t keylen;
	int32_t height;
};

/* Bytewise order; a proper prefix sorts first ("a" < "a." < "a/"). */
int store_tree_keycmp(const char *a, size_t alen, const char *b, size_t blen);

/* Borrowed link with that key, or NULL. */
struct store_tree_link *store_tree_find(struct store_tree_link *root, const char *key, size_t len);

/*
 * Put link (key set by the caller) in the tree; returns the new root. If a
 * link with the same key is there, link takes its place and *ret_old is set
 * to it (the caller frees it); otherwise *ret_old is NULL.
 */
struct store_tree_link *store_tree_upsert(struct store_tree_link *root,
                                          struct store_tree_link *link,
                                          struct store_tree_link **ret_old);

/* Take the link with that key out; returns the new root, *ret_removed (or NULL). */
struct store_tree_link *store_tree_remove(struct store_tree_link *root, const char *key, size_t len,
                                          struct store_tree_link **ret_removed);

/*
 * Calls fn on every link whose key starts with prefix (len 0: every link),
 * in key order. Stops early and returns fn's value when fn returns non-zero.
 */
typedef int (*store_tree_visit_fn)(struct store_tree_link *link, void *arg);
int store_tree_walk_prefix(struct store_tree_link *root, const char *prefix, size_t len,
                           store_tree_visit_fn fn, void *arg);
/* The same, only for keys that sort after after (alen bytes; NULL: no bound). */
int store_tree_walk_range(struct store_tree_link *root, const char *prefix, size_t len,
                          const char *after, size_t alen, store_tree_visit_fn fn, void *arg);

/*
 * Detaches every link, calling fn on each (children before their parent,
 * so fn may free the link). The tree is empty afterwards.
 */
void store_tree_clear(struct store_tree_link *root, void (*fn)(struct store_tree_link *link));

#endif
