/* store_tree.c — the AVL tree behind the store's key map. */
#include "store_tree.h"

#include <string.h>

int store_tree_keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int cmp_link(size_t key_off, const char *key, size_t len, const struct store_tree_link *l)
{
	return store_tree_keycmp(key, len, (const char *)l + key_off, l->keylen);
}

static int32_t height(const struct store_tree_link *l)
{
	return l ? l->height : 0;
}

static void fix_height(struct store_tree_link *l)
{
	int32_t hl = height(l->left), hr = height(l->right);

	l->height = (hl > hr ? hl : hr) + 1;
}

static struct store_tree_link *rotate_right(struct store_tree_link *l)
{
	struct store_tree_link *p = l->left;

	l->left = p->right;
	p->right = l;
	fix_height(l);
	fix_height(p);
	return p;
}

static struct store_tree_link *rotate_left(struct store_tree_link *l)
{
	struct store_tree_link *p = l->right;

	l->right = p->left;
	p->left = l;
	fix_height(l);
	fix_height(p);
	return p;
}

static struct store_tree_link *balance(struct store_tree_link *l)
{
	int32_t bf;

	fix_height(l);
	bf = height(l->right) - height(l->left);
	if (bf > 1) {
		if (height(l->right->left) > height(l->right->right))
			l->right = rotate_right(l->right);
		return rotate_left(l);
	}
	if (bf < -1) {
		if (height(l->left->right) > height(l->left->left))
			l->left = rotate_left(l->left);
		return rotate_right(l);
	}
	return l;
}

struct store_tree_link *store_tree_find(const struct store_tree *t, const char *key, size_t len)
{
	struct store_tree_link *root = t->root;

	while (root) {
		int c = cmp_link(t->key_off, key, len, root);

		if (c == 0)
			return root;
		root = c < 0 ? root->left : root->right;
	}
	return NULL;
}

static struct store_tree_link *upsert(size_t key_off, struct store_tree_link *n,
                                      struct store_tree_link *link,
                                      struct store_tree_link **ret_old)
{
	int c;

	if (!n) {
		link->left = link->right = NULL;
		link->height = 1;
		return link;
	}
	c = cmp_link(key_off, (const char *)link + key_off, link->keylen, n);
	if (c == 0) {
		/* Same key, same place in the order: swap in without rebalancing. */
		link->left = n->left;
		link->right = n->right;
		link->height = n->height;
		*ret_old = n;
		return link;
	}
	if (c < 0)
		n->left = upsert(key_off, n->left, link, ret_old);
	else
		n->right = upsert(key_off, n->right, link, ret_old);
	return *ret_old ? n : balance(n);
}

void store_tree_upsert(struct store_tree *t, struct store_tree_link *link,
                       struct store_tree_link **ret_old)
{
	*ret_old = NULL;
	t->root = upsert(t->key_off, t->root, link, ret_old);
}

static struct store_tree_link *detach_min(struct store_tree_link *n,
                                          struct store_tree_link **ret_min)
{
	if (!n->left) {
		*ret_min = n;
		return n->right;
	}
	n->left = detach_min(n->left, ret_min);
	return balance(n);
}

static struct store_tree_link *remove_link(size_t key_off, struct store_tree_link *n,
                                           const char *key, size_t len,
                                           struct store_tree_link **ret_removed)
{
	int c;

	if (!n) {
		*ret_removed = NULL;
		return NULL;
	}
	c = cmp_link(key_off, key, len, n);
	if (c < 0) {
		n->left = remove_link(key_off, n->left, key, len, ret_removed);
	} else if (c > 0) {
		n->right = remove_link(key_off, n->right, key, len, ret_removed);
	} else {
		struct store_tree_link *min, *right;

		*ret_removed = n;
		if (!n->right)
			return n->left;
		right = detach_min(n->right, &min);
		min->left = n->left;
		min->right = right;
		return balance(min);
	}
	return balance(n);
}

void store_tree_remove(struct store_tree *t, const char *key, size_t len,
                       struct store_tree_link **ret_removed)
{
	t->root = remove_link(t->key_off, t->root, key, len, ret_removed);
}

static int walk_range(size_t key_off, struct store_tree_link *n, const char *prefix, size_t len,
                      const char *after, size_t alen, store_tree_visit_fn fn, void *arg)
{
	int r;

	while (n) {
		const char *key = (const char *)n + key_off;
		size_t m = n->keylen < len ? n->keylen : len;
		int c = memcmp(key, prefix, m);

		if (after && store_tree_keycmp(key, n->keylen, after, alen) <= 0) {
			n = n->right; /* at or before after: only the right side can follow it */
		} else if (c == 0 && n->keylen >= len) {
			/* In range: the matching keys may continue on both sides. */
			r = walk_range(key_off, n->left, prefix, len, after, alen, fn, arg);
			if (r)
				return r;
			r = fn(n, arg);
			if (r)
				return r;
			n = n->right;
		} else if (c < 0 || (c == 0 && n->keylen < len)) {
			n = n->right; /* sorts before every key with the prefix */
		} else {
			n = n->left;
		}
	}
	return 0;
}

int store_tree_walk_range(const struct store_tree *t, const char *prefix, size_t len,
                          const char *after, size_t alen, store_tree_visit_fn fn, void *arg)
{
	return walk_range(t->key_off, t->root, prefix, len, after, alen, fn, arg);
}

int store_tree_walk_prefix(const struct store_tree *t, const char *prefix, size_t len,
                           store_tree_visit_fn fn, void *arg)
{
	return walk_range(t->key_off, t->root, prefix, len, NULL, 0, fn, arg);
}

static void clear(struct store_tree_link *n, void (*fn)(struct store_tree_link *link))
{
	while (n) {
		struct store_tree_link *right = n->right;

		clear(n->left, fn);
		fn(n);
		n = right;
	}
}

void store_tree_clear(struct store_tree *t, void (*fn)(struct store_tree_link *link))
{
	clear(t->root, fn);
	t->root = NULL;
}
