/* store.h — the durable config store: in-memory map, append-only log, group commit. */
#ifndef UDSRPC_STORE_H
#define UDSRPC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct event_base;
struct store;

/* Result of a change, delivered on the event loop thread. */
enum store_status {
	STORE_OK = 0,
	STORE_CONFLICT,	 /* expect_revision did not match; revision = current (0 if absent) */
	STORE_NOT_FOUND, /* unset of an absent key */
	STORE_IO_ERROR,	 /* not durable, not applied; reason says why */
};
typedef void (*store_done_fn)(void *arg, enum store_status st, uint64_t revision,
			      const char *reason);

/*
 * Open (creating if missing) the state in dir: load the snapshot, replay the
 * log, drop a torn last record. Starts the committer thread; completions are
 * handed back to base's thread. -errno and a message naming the path on error.
 */
int store_open(const char *dir, struct event_base *base, struct store **ret, char *err,
	       size_t errlen);
/* Waits for every queued change to be durable and its callback to run, then frees. */
void store_close(struct store *s);

/* Key syntax of PROTOCOL.md §3: 1–256 bytes of [A-Za-z0-9._/-]. */
bool store_key_valid(const char *key, size_t len);

/* Borrowed value (NULL if absent); *ret_revision set when found. Committed state only. */
const json_t *store_get(const struct store *s, const char *key, uint64_t *ret_revision);
/* New reference: [{"key","value","revision"}...] sorted bytewise; prefix may be NULL. */
json_t *store_list(const struct store *s, const char *prefix);
uint64_t store_revision(const struct store *s);

/*
 * Queue a change; done(arg, ...) runs later on the loop thread, after the
 * change is on stable storage (or failed). expect_revision < 0 means no
 * check, 0 means "must not exist". Checks see earlier queued changes, so
 * concurrent writers are serialised in submission order. value is borrowed
 * (the store takes its own reference). Returns 0 or -errno (ENOMEM).
 */
int store_set(struct store *s, const char *key, json_t *value, int64_t expect_revision,
	      store_done_fn done, void *arg);
int store_unset(struct store *s, const char *key, int64_t expect_revision, store_done_fn done,
		void *arg);

#endif
