/* store_tree.h — an intrusive AVL tree of byte-string keys, private to the store. */
#ifndef UDSRPC_STORE_TREE_H
#define UDSRPC_STORE_TREE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Embedded in whatever the tree holds. The key is not pointed at: its bytes
 * are in the holder at key_off bytes from the link (the same for every link
 * of a tree), so a link costs no pointer to it and a lookup is still a walk
 * of pointers with no allocation. The tree never allocates or frees:
 * callers own their nodes.
 */
struct store_tree_link {
	struct store_tree_link *left, *right;
	uint32_t keylen;
	int32_t height;
};

struct store_tree {
	struct store_tree_link *root;
	size_t key_off; /* where a link's key is, from the link */
};

static inline const char *store_tree_key(const struct store_tree *t,
                                         const struct store_tree_link *l)
{
	return (const char *)l + t->key_off;
}

/* Bytewise order; a proper prefix sorts first ("a" < "a." < "a/"). */
int store_tree_keycmp(const char *a, size_t alen, const char *b, size_t blen);

/* Borrowed link with that key, or NULL. */
struct store_tree_link *store_tree_find(const struct store_tree *t, const char *key, size_t len);

/*
 * Put link (its key and keylen set by the caller) in the tree. If a link
 * with the same key is there, link takes its place and *ret_old is set to
 * it (the caller frees it); otherwise *ret_old is NULL.
 */
void store_tree_upsert(struct store_tree *t, struct store_tree_link *link,
                       struct store_tree_link **ret_old);

/* Take the link with that key out; *ret_removed (or NULL). */
void store_tree_remove(struct store_tree *t, const char *key, size_t len,
                       struct store_tree_link **ret_removed);

/*
 * Calls fn on every link whose key starts with prefix (len 0: every link),
 * in key order. Stops early and returns fn's value when fn returns non-zero.
 */
typedef int (*store_tree_visit_fn)(struct store_tree_link *link, void *arg);
int store_tree_walk_prefix(const struct store_tree *t, const char *prefix, size_t len,
                           store_tree_visit_fn fn, void *arg);
/* The same, only for keys that sort after after (alen bytes; NULL: no bound). */
int store_tree_walk_range(const struct store_tree *t, const char *prefix, size_t len,
                          const char *after, size_t alen, store_tree_visit_fn fn, void *arg);

/*
 * Detaches every link, calling fn on each (children before their parent,
 * so fn may free the link). The tree is empty afterwards.
 */
void store_tree_clear(struct store_tree *t, void (*fn)(struct store_tree_link *link));

#endif
