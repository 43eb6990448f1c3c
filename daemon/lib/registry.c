/*
 * registry.c — the methods a server serves, with no fixed cap: a sorted
 * array for lookup (one compare when a client calls the same method again,
 * a bisection otherwise), small reusable indices for the per-connection
 * policy caches, and the merged OpenRPC document rpc.discover answers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "schema.h"

void registry_init(struct registry *r)
{
	memset(r, 0, sizeof(*r));
}

void reg_doc_unref(struct reg_doc *d)
{
	if (d && --d->refs == 0) {
		schema_free(d->schema);
		free(d);
	}
}

void method_entry_ref(struct method_entry *e)
{
	e->refs++;
}

void method_entry_unref(struct method_entry *e)
{
	if (--e->refs)
		return;
	stats_method_free(&e->stats);
	reg_doc_unref(e->doc);
	free(e);
}

static void registry_changed(struct registry *r)
{
	json_decref(r->discover);
	r->discover = NULL;
	r->last = NULL;
}

void registry_free(struct registry *r)
{
	while (r->n)
		registry_remove(r, r->sorted[r->n - 1]);
	free(r->sorted);
	free(r->free_index);
	reg_doc_unref(r->base);
	json_decref(r->discover);
	memset(r, 0, sizeof(*r));
}

static int name_cmp(const char *a, size_t alen, const struct method_entry *e)
{
	size_t n = alen < e->name_len ? alen : e->name_len;
	int c = memcmp(a, e->name, n);
	if (c)
		return c;
	return alen < e->name_len ? -1 : alen > e->name_len;
}

/* Position of name in sorted, or where it would go (*found false). */
static size_t registry_pos(const struct registry *r, const char *name, size_t len, bool *found)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = name_cmp(name, len, r->sorted[mid]);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = false;
	return lo;
}

struct method_entry *registry_find(struct registry *r, const char *name, size_t len)
{
	struct method_entry *e = r->last;
	bool found;
	size_t at;

	if (e && e->name_len == len && memcmp(e->name, name, len) == 0)
		return e;
	at = registry_pos(r, name, len, &found);
	if (!found)
		return NULL;
	return r->last = r->sorted[at];
}

static int registry_grow(struct registry *r, size_t more)
{
	if (r->n + more <= r->cap)
		return 0;
	size_t cap = r->cap ? r->cap : 32;
	while (cap < r->n + more)
		cap *= 2;
	struct method_entry **p = realloc(r->sorted, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	r->sorted = p;
	r->cap = cap;
	return 0;
}

static unsigned registry_take_index(struct registry *r)
{
	return r->nfree ? r->free_index[--r->nfree] : r->next_index++;
}

int registry_add(struct registry *r, struct reg_doc *doc, const struct reg_new *add, size_t n,
                 enum method_kind kind, bool base, char *err, size_t errlen)
{
	struct method_entry **made;
	bool found;

	/* Everything that can fail comes before the first entry goes in. */
	for (size_t i = 0; i < n; i++) {
		const char *name = schema_method_name(add[i].schema);
		registry_pos(r, name, strlen(name), &found);
		bool twice = false;
		for (size_t j = 0; j < i; j++)
			twice |= strcmp(name, schema_method_name(add[j].schema)) == 0;
		if (found || twice) {
			if (err && errlen)
				snprintf(err, errlen, "method '%s' is %s", name,
				         twice ? "listed twice" : "served already");
			return -EEXIST;
		}
	}
	if (registry_grow(r, n) < 0 || !(made = calloc(n ? n : 1, sizeof(*made))))
		return -ENOMEM;
	/* Room for every index a removal could hand back, so removal never allocates. */
	size_t need = r->next_index + n;
	if (need > r->free_cap) {
		unsigned *p = realloc(r->free_index, need * sizeof(*p));
		if (!p) {
			free(made);
			return -ENOMEM;
		}
		r->free_index = p;
		r->free_cap = need;
	}
	for (size_t i = 0; i < n; i++) {
		if (!(made[i] = calloc(1, sizeof(**made)))) {
			while (i--)
				free(made[i]);
			free(made);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct method_entry *e = made[i];
		e->name = schema_method_name(add[i].schema);
		e->name_len = strlen(e->name);
		e->handler = add[i].handler;
		e->userdata = add[i].userdata;
		e->flags = add[i].flags;
		e->kind = kind;
		e->schema = add[i].schema;
		e->doc = doc;
		doc->refs++;
		e->refs = 1;
		e->served = true;
		e->index = registry_take_index(r);
		e->order = r->next_order++;
		size_t at = registry_pos(r, e->name, e->name_len, &found);
		memmove(r->sorted + at + 1, r->sorted + at, (r->n - at) * sizeof(*r->sorted));
		r->sorted[at] = e;
		r->n++;
	}
	free(made);
	if (base && !r->base) {
		r->base = doc;
		doc->refs++;
	}
	registry_changed(r);
	return 0;
}

void registry_remove(struct registry *r, struct method_entry *e)
{
	bool found;
	size_t at = registry_pos(r, e->name, e->name_len, &found);

	if (!found || r->sorted[at] != e)
		return;
	memmove(r->sorted + at, r->sorted + at + 1, (r->n - at - 1) * sizeof(*r->sorted));
	r->n--;
	e->served = false;
	r->free_index[r->nfree++] = e->index;
	registry_changed(r);
	method_entry_unref(e);
}

/* Sections copied one level down, so that merging into them leaves the source alone. */
static json_t *components_copy(const json_t *src)
{
	json_t *out = json_object();
	const char *section;
	json_t *v;

	if (!out)
		return NULL;
	json_object_foreach((json_t *)src, section, v)
	{
		if (json_object_set_new(out, section, json_copy(v)) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static int by_order(const void *a, const void *b)
{
	const struct method_entry *x = *(const struct method_entry *const *)a;
	const struct method_entry *y = *(const struct method_entry *const *)b;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * The frame is the base document (its info and extensions, the methods it
 * lists that are served, in its order, all its components) or a bare one
 * naming the service; every
 * other served method follows in registration order, with the components
 * it reaches. A component already there is kept: registration refuses a
 * document whose components differ from those (registry_conflict).
 */
static json_t *registry_build(struct registry *r, const char *name, const char *version)
{
	json_t *doc, *methods = json_array(), *components = NULL, *seen = json_object();
	struct method_entry **order = NULL;
	size_t i;

	if (r->base) {
		const json_t *b = schema_document(r->base->schema);
		doc = json_copy((json_t *)b);
		components = components_copy(json_object_get(b, "components"));
		const json_t *m;
		json_array_foreach(json_object_get(b, "methods"), i, m)
		{
			const char *mn = json_string_value(json_object_get(m, "name"));
			struct method_entry *e = mn ? registry_find(r, mn, strlen(mn)) : NULL;
			if (e) {
				json_array_append(methods, (json_t *)m);
				json_object_set_new(seen, mn, json_true());
			}
		}
	} else {
		doc = json_pack("{s:s,s:{s:s,s:s}}", "openrpc", "1.2.6", "info", "title", name,
		                "version", version);
		components = json_object();
	}
	if (!doc || !methods || !components || !seen || !(order = malloc((r->n + 1) * sizeof(*order))))
		goto fail;
	if (r->n)
		memcpy(order, r->sorted, r->n * sizeof(*order));
	qsort(order, r->n, sizeof(*order), by_order);
	for (i = 0; i < r->n; i++) {
		struct method_entry *e = order[i];
		if (json_object_get(seen, e->name))
			continue;
		if (json_array_append(methods, (json_t *)schema_method_object(e->schema)) < 0 ||
		    schema_method_components(e->doc->schema, e->schema, components) < 0)
			goto fail;
	}
	free(order);
	json_decref(seen);
	if (json_object_set_new(doc, "methods", methods) < 0) {
		json_decref(components);
		json_decref(doc);
		return NULL;
	}
	if (json_object_size(components) > 0)
		json_object_set_new(doc, "components", components);
	else
		json_decref(components);
	return doc;
fail:
	free(order);
	json_decref(seen);
	json_decref(methods);
	json_decref(components);
	json_decref(doc);
	return NULL;
}

const json_t *registry_discover(struct registry *r, const char *name, const char *version)
{
	if (!r->discover)
		r->discover = registry_build(r, name, version);
	return r->discover;
}
