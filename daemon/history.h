/* history.h — the config event history: the last changes' event lines, kept in the state dir
 * (memory holds only where each is in the file). */
#ifndef UDSRPC_HISTORY_H
#define UDSRPC_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct history;

/*
 * Bounds (udsrpc(7) history_revisions, history_bytes): the entries of at
 * most max_revisions revisions, and of at most max_bytes of lines; the
 * oldest revisions go first, always whole (a transaction's events stay
 * together or go together).
 */
struct history_limits {
	uint64_t max_revisions;
	uint64_t max_bytes;
};

/* Reports for the operator, as the store's (store.h): level 3, 4 or 6, one line. */
typedef void (*history_log_fn)(void *arg, int level, const char *msg);

/*
 * Open (creating if missing) dir/events.log, opened without following
 * symlinks, and load what it holds. store_revision is the revision of the
 * store beside it: history the store does not have (a state dir copied
 * back) is dropped, and a history that ends below it (the daemon stopped
 * between making a change durable and writing its event, or the file lost
 * its tail) can no longer replay from before store_revision, so its
 * compact revision is raised there: a watcher lists again rather than
 * missing a change. A torn or damaged record ends the file: it is cut
 * there, with a warning naming the offset (the history is a convenience
 * for watchers, never the state itself, so it is not worth refusing to
 * start for). 0, or -errno with a message naming the path.
 */
int history_open(const char *dir, const struct history_limits *lim, uint64_t store_revision,
                 history_log_fn log, void *log_arg, struct history **ret, char *err,
                 size_t errlen);
/*
 * With a loop (base: the thread that appends), what is appended is written
 * once per turn of it, after the turn's changes (one write for a group of
 * changes, not one per change). Without one, only history_flush writes.
 * Before the first append; base must outlive h.
 */
int history_attach(struct history *h, struct event_base *base);
void history_close(struct history *h);
/* New bounds (a reload): enforced at once, on memory and file. */
void history_set_limits(struct history *h, const struct history_limits *lim);

/*
 * One event of revision rev on key: line is its notification, a full line
 * ending in '\n' (copied). Revisions must not go down; several events of
 * one revision (a transaction) follow each other. Written to the file
 * with the next history_flush. 0 or -ENOMEM (the event is then not kept,
 * and the compact revision rises past it).
 */
int history_append(struct history *h, uint64_t rev, const char *key, const char *line, size_t len);
/* An event of rev that could not be made (ENOMEM): no replay from before rev. */
void history_lost(struct history *h, uint64_t rev);
/*
 * Write what history_append kept to the file (one write, not synced: a
 * lost tail only raises the compact revision at the next open). A write
 * error is reported once; what the file lacks stays in memory (still
 * replayed from there) and is written at the next flush.
 */
void history_flush(struct history *h);

/*
 * Replaying: the events above after, in revision order, each given to fn
 * (its key, revision and line, borrowed for the call; a non-zero return
 * stops the walk and is returned). Lines are read back from the file (or
 * what is not written yet), checked as written; fn must not change h.
 * -ESTALE when events above after are no longer kept; then *ret_compact
 * is the lowest after that can be served. Also -ESTALE when the file does
 * not give back a kept event (logged at error level; every kept event is
 * then dropped, the compact revision raised to the newest): the events
 * fn was given are whole and in order, and the caller resumes as from a
 * compacted history, never past a gap.
 */
typedef int (*history_visit_fn)(void *arg, uint64_t rev, const char *key, const char *line,
                                size_t len);
int history_replay(struct history *h, uint64_t after, history_visit_fn fn, void *arg,
                   uint64_t *ret_compact);

/* What is kept, for tests and daemon.stats. */
struct history_stats {
	uint64_t entries, revisions, bytes;
	uint64_t first_revision, last_revision; /* 0 when empty */
	uint64_t compact_revision;              /* after_revision below this is -ESTALE */
	uint64_t file_bytes;
};
void history_get_stats(const struct history *h, struct history_stats *ret);

#endif
