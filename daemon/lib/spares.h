/*
 * spares.h — released structs of one kind kept, up to a bound, for the
 * next one: the request path makes and drops one per durable write, and
 * with many writers in flight malloc's own caches no longer serve them.
 * One list per owner and thread (a server's loop, the daemon's).
 */
#ifndef UDSRPC_SPARES_H
#define UDSRPC_SPARES_H

#include <stdbool.h>
#include <stddef.h>

/* The link a struct kept here embeds. */
struct spare {
	struct spare *next;
};

struct spares {
	struct spare *head;
	unsigned n;
};

static inline void *spare_base(struct spare *p, size_t offset)
{
	return p ? (char *)p - offset : NULL;
}

/* The struct of type around its member (a struct spare) at p, p once; NULL for NULL. */
#define SPARE_OF(p, type, member) ((type *)spare_base((p), offsetof(type, member)))

/* The one given back last, or NULL when none is kept. */
static inline struct spare *spares_take(struct spares *s)
{
	struct spare *p = s->head;

	if (p) {
		s->head = p->next;
		s->n--;
	}
	return p;
}

/* Kept, unless max are already: then false, and the caller frees it. */
static inline bool spares_give(struct spares *s, struct spare *p, unsigned max)
{
	if (s->n >= max)
		return false;
	p->next = s->head;
	s->head = p;
	s->n++;
	return true;
}

#endif
