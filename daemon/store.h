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
	STORE_CONFLICT,  /* expect_revision did not match; revision = current (0 if absent) */
	STORE_NOT_FOUND, /* unset of an absent key */
	STORE_IO_ERROR,  /* not durable, not applied; reason says why */
	STORE_QUOTA,     /* a set would pass a quota (store_set_limits); nothing changed */
};
/*
 * revision: STORE_OK: the change's revision; STORE_CONFLICT: the key's
 * current one (0 if absent); STORE_QUOTA: the limit's value; otherwise 0.
 * reason: STORE_IO_ERROR: e.g. "write: No space left on device";
 * STORE_QUOTA: the limit's name ("max_keys", "max_store_bytes"); else NULL
 * (borrowed, valid during the call).
 */
typedef void (*store_done_fn)(void *arg, enum store_status st, uint64_t revision,
                              const char *reason);

/*
 * What an operator must hear about, passed to store_open. level is a syslog
 * level (STORE_LOG_ERROR 3, STORE_LOG_WARNING 4, STORE_LOG_INFO 6), msg one
 * line naming the file (borrowed, valid during the call). Called on the
 * loop thread only: in store_open, in store_repair, and when completions
 * are processed (storage errors and failed compactions of the committer
 * are handed to the loop first). NULL log: nothing is reported.
 */
enum { STORE_LOG_ERROR = 3, STORE_LOG_WARNING = 4, STORE_LOG_INFO = 6 };
typedef void (*store_log_fn)(void *arg, int level, const char *msg);
struct store_options {
	store_log_fn log;
	void *log_arg;
	/*
	 * store_open removed the ephemeral items the last run left, as revision
	 * revision: keys (borrowed) are theirs, in order, so that their events
	 * can be recorded (the history stays complete). Called before
	 * store_open returns; NULL: not told.
	 */
	void (*purged)(void *arg, uint64_t revision, const json_t *keys);
	void *purged_arg;
};

/*
 * Open (creating if missing) the state in dir: load the snapshot, replay the
 * log. Recovery drops only a torn last record (what a write cut short by a
 * crash leaves: no readable record follows it), reporting it at warning
 * level with its offset, and cuts the log there. Any other damage (a bad
 * record with readable ones after it, a record out of sequence, a value
 * that is not JSON) fails with -EBADMSG and a message naming the file and
 * offset and the fix (store_repair), leaving every file as it was: records
 * after the damage were acknowledged writes. Items left ephemeral are then
 * removed as one durable revision (logged at info level; a failure to
 * write it fails the open). opt may be NULL.
 *
 * Starts the committer thread; completions are
 * handed back to base's thread. -errno and a message naming the path on error
 * (-EBUSY: another process has this dir open; -EBADMSG: a damaged snapshot
 * or log, which is never silently discarded).
 *
 * Files in dir: config.log (changes since the snapshot), config.snap (the
 * compacted state), config.snap.tmp (a snapshot being written; removed at
 * open). The directory is created (mode 0700) if missing, its parent not.
 *
 * Completions reach the loop through an eventfd that the store registers on
 * base (EV_READ|EV_PERSIST); the committer thread only write()s to it, it
 * never touches base, so libevent needs no threading support (the daemon
 * does not call evthread_use_pthreads()). base must outlive the store: call
 * store_close() before event_base_free(). Every other function here is for
 * the loop thread only.
 */
int store_open(const char *dir, struct event_base *base, const struct store_options *opt,
               struct store **ret, char *err, size_t errlen);

/*
 * udsrpcd --repair: what store_open refuses, made loadable. Loads the
 * snapshot (a damaged one is not repaired: -EBADMSG), applies every log
 * record that reads back, in revision order, writes the result as a new
 * snapshot (the revision counter never goes back) and empties the log.
 * The bytes that could not be used go, before anything is replaced, to
 * ret->damaged_path (dir/config.log.damaged-<RFC 3339 UTC time>; "" when
 * there were none). Files it creates get the directory's owner. Not while
 * a daemon has the dir open (-EBUSY). 0 or -errno with a message.
 */
struct store_repair_result {
	uint64_t kept_records; /* log records applied */
	uint64_t lost_records; /* records that could not be read (by the revisions missing) */
	uint64_t lost_bytes;   /* bytes moved to damaged_path */
	uint64_t revision;     /* of the repaired store */
	char damaged_path[4096];
};
int store_repair(const char *dir, const struct store_options *opt,
                 struct store_repair_result *ret, char *err, size_t errlen);
/*
 * Waits for every queued change to be durable and runs its callback (here,
 * on the calling thread, which must be the loop thread; callbacks may queue
 * more changes, which are drained too), then frees. Not from a callback.
 */
void store_close(struct store *s);

/* Key syntax of udsrpc(7): 1–256 bytes of [A-Za-z0-9._/-]. */
#define STORE_KEY_MAX 256
bool store_key_valid(const char *key, size_t len);

/*
 * The value (NULL if absent), read back from the text the store keeps;
 * *ret_revision set when found. Borrowed: kept until the next store_get.
 * Committed state only: a change is visible once its callback runs (from
 * then on, also to its own callback). O(log n). For tests: the daemon
 * reads items (store_get_item).
 */
const json_t *store_get(struct store *s, const char *key, uint64_t *ret_revision);
/*
 * What store_get sees as the item {"key","value","revision",
 * "create_revision","version"} (and "ephemeral","owner" for an ephemeral
 * one) in compact JSON text (*ret_len bytes, NUL-terminated), made from the
 * value's stored text: borrowed, valid until the next store_get_item or
 * store_list_*. NULL with *ret_err -ENOENT (absent) or -ENOMEM.
 */
const char *store_get_item(struct store *s, const char *key, size_t *ret_len, int *ret_err);
/*
 * New reference: [item...] (as store_get_item) sorted bytewise; prefix may
 * be NULL. NULL on ENOMEM.
 */
json_t *store_list(struct store *s, const char *prefix);
/*
 * A page of it: keys with prefix (NULL: all) that sort after after (NULL:
 * from the first), at most limit of them (0: all), items of only
 * {"key","revision"} with keys_only. *ret_more (when given): whether more
 * items follow. Committed state, at store_revision(s). With visible, only
 * the keys it returns true for are listed (and counted against limit).
 */
struct store_list_opts {
	const char *prefix;
	const char *after;
	size_t limit;
	bool keys_only;
	bool (*visible)(const char *key, void *arg);
	void *visible_arg;
};
json_t *store_list_page(struct store *s, const struct store_list_opts *o, bool *ret_more);
/*
 * The same page as compact JSON text, the array (*ret_len bytes,
 * NUL-terminated): what config.list answers with, no object made per
 * item. Borrowed, as store_get_item's. NULL on ENOMEM.
 */
const char *store_list_text(struct store *s, const struct store_list_opts *o, size_t *ret_len,
                            bool *ret_more);
/* The store-wide counter: 0 for a store that never had a change. Committed state only. */
uint64_t store_revision(const struct store *s);

/*
 * Quotas (udsrpc(7) max_keys, max_store_bytes; 0 = none, the default): a set
 * that would leave more items, or more bytes of keys plus compact JSON
 * values, counting the changes queued before it, is answered STORE_QUOTA
 * and changes nothing. Unsets always work; a store already over a lowered
 * limit keeps what it has. Any time, for the changes submitted after.
 */
struct store_limits {
	uint64_t max_keys;
	uint64_t max_store_bytes;
	uint64_t max_txn_ops; /* not the store's: config.txn checks it (compares plus ops) */
	uint64_t history_revisions, history_bytes; /* not the store's: history.h's bounds */
};
void store_set_limits(struct store *s, const struct store_limits *l);
/* Committed items and their bytes (as the quotas count them). */
void store_get_usage(const struct store *s, uint64_t *ret_items, uint64_t *ret_bytes);

/*
 * Queue a change; done(arg, ...) runs later on the loop thread, after the
 * change is on stable storage (or failed). expect_revision < 0 means no
 * check, 0 means "must not exist". Checks see earlier queued changes, so
 * concurrent writers are serialised in submission order, and every callback
 * (conflicts and not-found included) runs in submission order. If a write
 * fails, that change and every change submitted after it (even a conflict)
 * fail with STORE_IO_ERROR: they were checked against a state that now never
 * existed. value is borrowed (the store keeps its compact text, made
 * here: the caller may do as it likes with it afterwards). Returns
 * 0, -EINVAL (invalid key, NULL value or done, value not encodable), -E2BIG
 * (over 1 GiB encoded) or -ENOMEM; on error done is never called.
 */
int store_set(struct store *s, const char *key, json_t *value, int64_t expect_revision,
              store_done_fn done, void *arg);
/*
 * Ephemeral items (udsrpc(7) §8): who a set binds its item to, a connection
 * (its peer id, uid and pid, the item's "owner"). The item then carries
 * "ephemeral":true,"owner":{"id","uid","pid"}; a later set without an owner
 * makes it ordinary again, one with another owner binds it to that one.
 * store_unset_owner removes what is still bound to a connection when it
 * closes; store_open removes, as one revision, what was left ephemeral
 * when the daemon last stopped (on disk the record only says "ephemeral").
 */
struct store_owner {
	uint64_t id;
	uint32_t uid;
	int32_t pid;
};
/* store_set, with owner NULL (an ordinary item) or the item's owner (copied). */
int store_set_owned(struct store *s, const char *key, json_t *value, int64_t expect_revision,
                    const struct store_owner *owner, store_done_fn done, void *arg);
/*
 * store_set_owned, with text (len bytes) the caller already made of value
 * as a compact dump (JSON_COMPACT | JSON_ENCODE_ANY, by jsonnum): recorded
 * as it is, so the value is not dumped twice. text NULL: dumped here.
 */
int store_set_text(struct store *s, const char *key, json_t *value, const char *text, size_t len,
                   int64_t expect_revision, const struct store_owner *owner, store_done_fn done,
                   void *arg);
int store_unset(struct store *s, const char *key, int64_t expect_revision, store_done_fn done,
                void *arg);
/*
 * Unset every key that starts with prefix ("" = all), as seen with the
 * changes queued before it, as one change: one revision, one record,
 * applied whole or not at all. *ret_keys (new reference, on success only;
 * ret_keys may be NULL): the keys it removes, in order. With none, done gets STORE_OK and
 * the current revision, and nothing is written. Errors as store_unset.
 */
int store_unset_prefix(struct store *s, const char *prefix, store_done_fn done, void *arg,
                       json_t **ret_keys);
/*
 * The same for every item that, once the queue is durable, is ephemeral
 * and bound to owner_id (a closed connection's): one revision, one record.
 */
int store_unset_owner(struct store *s, uint64_t owner_id, store_done_fn done, void *arg,
                      json_t **ret_keys);

/*
 * config.txn (udsrpc(7) §8): the compares are judged against the state the
 * queued changes leave (as store_set's expect_revision is); when all hold
 * (or there are none) the success ops run, else the failure ops, each over
 * what the ones before it left. Every write of the branch goes into one
 * batch record at one revision, applied whole or not at all, durable with
 * the group like any change; a branch that writes nothing raises no
 * revision (done gets the current one). A set that would pass a quota makes
 * the whole transaction STORE_QUOTA. The caller checks that no key is
 * written twice in a branch and the number of ops. On 0: *ret_succeeded
 * (which branch ran) and *ret_results (NULL: none are made, as a restore
 * needs none); done as store_set's.
 * Values are borrowed (their text kept). -EINVAL, -E2BIG, -ENOMEM: nothing
 * queued, done never called.
 */
enum store_txn_kind { STORE_TXN_GET, STORE_TXN_SET, STORE_TXN_UNSET };
struct store_txn_op {
	enum store_txn_kind op;
	const char *key;
	json_t *value; /* set */
	const struct store_owner *owner; /* set: NULL, or ephemeral bound to it (copied) */
	/* set: the value's compact dump when the caller has it (vlen bytes, borrowed
	 * until store_txn returns), recorded as it is; value may then be NULL */
	const char *vtext;
	size_t vlen;
};
enum store_cmp_kind { STORE_CMP_REVISION, STORE_CMP_VERSION, STORE_CMP_VALUE, STORE_CMP_EXISTS };
struct store_txn_cmp {
	const char *key;
	enum store_cmp_kind what;
	uint64_t num;        /* revision, version: 0 = absent */
	const json_t *value; /* value: equal to it (json_equal), absent never */
	bool exists;
};
/*
 * The branch that ran: text (malloc'd, len bytes, no NUL) is its results
 * array as compact JSON, one entry per op in order: the item or null for a
 * get, {"key","revision"} for a set and an unset, revision 0 for an unset
 * of an absent key; changed[i] (the caller's array, one per op of the
 * longer branch; gets left alone) says whether write i changed its key.
 */
struct store_txn_results {
	char *text;
	size_t len;
	bool *changed;
};
int store_txn(struct store *s, const struct store_txn_cmp *cmps, size_t ncmp,
              const struct store_txn_op *succ, size_t nsucc, const struct store_txn_op *fail,
              size_t nfail, store_done_fn done, void *arg, bool *ret_succeeded,
              struct store_txn_results *ret_results);

/*
 * config.restore: items ([{"key","value"}...]) over the state the queue
 * leaves; replace first unsets every other key, in key order. One
 * store_txn of those ops (one revision, one record, quotas, done as
 * there). Items are judged in order: one that repeats an earlier key is
 * -EEXIST, one whose key allowed (when given) refuses is -EPERM, both
 * with its place in *ret_index; nothing queued then. -EINVAL: an item is
 * not {"key": string, "value"}. On 0, *ret_unsets (new reference): the
 * keys replace removes, in order; the sets are the items, in theirs.
 */
int store_restore(struct store *s, const json_t *items, bool replace,
                  bool (*allowed)(const char *key, void *arg), void *allowed_arg,
                  store_done_fn done, void *arg, json_t **ret_unsets, size_t *ret_index);

/*
 * An early answer (see store.c): fn(arg, revision) runs on the committer's
 * thread, with the store's lock held, right after the change marked by
 * store_mark_early is durable (for small groups only), with the arg its
 * store_set/unset was given. The change is still applied and its callback
 * still run on the loop, after fn has returned. fn must not call into the
 * store. Set it before the first change. Not for a change the loop writes
 * itself ("Inline commit" in store.c): its callback runs at once instead.
 */
typedef void (*store_early_fn)(void *arg, uint64_t revision);
void store_set_early(struct store *s, store_early_fn fn);
/*
 * Mark the change the last store_set/unset queued for an early answer:
 * false if that was an answer decided at submission (a conflict, not
 * found) or no hook is set.
 */
bool store_mark_early(struct store *s);
/*
 * Whether a change submitted next could still get an early answer: false
 * once this loop turn has queued enough changes that its group will be
 * too big for one. A submitter that prepares something for the early
 * answer (udsrpcd: a reply written straight to the socket) asks first and
 * skips it when no early answer can come.
 */
bool store_early_possible(const struct store *s);
/*
 * Apply and answer what the committer has handed back, if anything (one
 * atomic load when nothing). Called before requests just read are handled:
 * a client told of a change early may tell another, whose read must see it.
 */
void store_poll(struct store *s);

/* Counters for daemon.stats and tests; a copy taken under the store's lock. */
struct store_stats {
	uint64_t groups;            /* groups made durable, one fdatasync each */
	uint64_t records;           /* changes made durable */
	uint64_t write_errors;      /* groups whose write or fdatasync failed */
	uint64_t compactions;       /* snapshots written (log emptied) */
	uint64_t compaction_errors; /* compactions that failed; the log stays whole */
	uint64_t log_bytes;         /* bytes of records in config.log */
	uint64_t snapshot_bytes;    /* size of config.snap */
	uint64_t replayed_records;  /* log records applied by store_open */
	uint64_t dropped_bytes;     /* torn last record discarded by store_open */
	uint64_t ephemeral_removed; /* items left ephemeral that store_open removed */
};
void store_get_stats(struct store *s, struct store_stats *ret);

/*
 * For tests only. pause: while paused the committer takes nothing from the
 * queue, so changes pile up as they would behind a slow disk, and the next
 * group holds them all (store_close unpauses).
 * fail_next_write: the next group that carries a change
 * writes half of its first record, then fails with errnum (as a short write
 * on a full disk would), taking the real recovery path: log cut back,
 * STORE_IO_ERROR for the group and everything queued behind it.
 * debug_compact: write a snapshot of the durable state now and empty the
 * log; blocks until done (applying, and answering, the changes already
 * durable first: the snapshot is written from the map); 0 or -errno.
 * debug_inline: false makes every group the committer's (no inline commit,
 * store.c), for tests of the committer's ways; true (the default) again.
 */
void store_debug_pause(struct store *s, bool paused);
void store_debug_fail_next_write(struct store *s, int errnum);
void store_debug_inline(struct store *s, bool allowed);
int store_debug_compact(struct store *s);

#endif
