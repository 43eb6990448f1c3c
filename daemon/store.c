/* store.c — owns the durable config store: key map, change log, snapshot, committer thread. */

/*
 * Design: a map in memory, an append-only log and a snapshot, with these choices.
 *
 * Memory. The loop thread owns an AVL tree of nodes (store_tree.c), one per
 * key: store_get is a walk of pointers, store_list an in-order walk that skips
 * the subtrees outside the prefix. A node is one block: its state, its key and
 * its value as the compact JSON text the record holds, not a jansson tree
 * (which took two more blocks and more than the text itself): an item is
 * written from that text on each read (store_get_item, store_list_text),
 * and only a value compare of config.txn reads the value back. A set
 * brings its node's new block along, made at submission, so applying it
 * cannot fail. A node carries two states: the committed
 * one (value, rev), which is all readers ever see, and the latest one (its
 * store_latest, only while changes are queued for it): the key's revision
 * once every queued change is durable (0 = absent then). CAS checks use the
 * latest revision, so writers are serialised in submission order without
 * waiting for the disk; a node stays in the tree while queued changes name it
 * (pending > 0) even if it has no committed value.
 *
 * Disk. config.log holds change records (store_codec.h: length, CRC32C,
 * revision, key, compact JSON value) written in place over zeros written
 * ahead of them, because an fdatasync that must also journal a metadata
 * change costs more per group on ext4 than one that only flushes data: a
 * new file size (appending) ~50% more, turning fallocate's "unwritten"
 * extents into written ones ~5-10% more. The zeroed tail ends the log. config.snap holds the
 * compacted state; it is only ever replaced by rename of a fully written and
 * fsync'd config.snap.tmp, followed by an fsync of the directory, and only
 * then is the log emptied. Recovery loads the snapshot (revision R), skips log
 * records <= R (the log may predate the snapshot after a crash mid-compaction),
 * requires the next one to be R+1 and each further one to follow on. What a
 * crash can leave is a torn last record: bytes that do not read back with no
 * readable record after them. That one is dropped (a warning with its
 * offset) and the log cut there, so new records never land behind garbage.
 * Anything else (a bad record with readable ones after it, a record out of
 * sequence, a value that is not JSON) is damage the store did not cause:
 * cutting there would throw away acknowledged writes without a word, so
 * store_open refuses and leaves the files alone, and store_repair (udsrpcd
 * --repair) keeps what reads back and moves the rest aside. A damaged
 * snapshot fails store_open too.
 *
 * Threads. store_set/unset (loop thread) decide CAS, encode the record (JSON
 * and CRC are done here, off the committer), and append an op to the queue.
 * Conflicts and not-found answers go through the queue too: their answer was
 * computed against changes that may still fail, so they are answered after
 * those, in submission order. The committer takes the whole queue, writes it
 * with pwritev and makes it durable with one fdatasync (group commit), writes
 * snapshots from the loop's nodes (see "Compaction" below: no second copy of
 * the state), and hands the ops back through an eventfd the loop watches. The loop
 * applies the group to the map in order, then runs the callbacks in order.
 * Nothing is malloc'd on the committer path: records are allocated by the
 * loop, and freed by it once their change is answered.
 *
 * Early answers. A submitter may mark a change (store_mark_early) so that
 * the committer tells it, on the committer's thread, the moment the change
 * is durable: right after the fdatasync, under the lock and after handing
 * the group back, so the loop cannot take the group (and run the change's
 * callback) before the early hook is done, and the submitter can answer its
 * client from there (udsrpcd writes the reply straight to the socket).
 * The loop applies the group (store_poll) before it reads any request the
 * answer can have caused. One writer's round trip then has one thread
 * hand-off (loop -> committer), not two. Only for small groups
 * (STORE_EARLY_GROUP): with many writers the loop is awake anyway, and
 * answers here would delay the next group's write. store_early_possible
 * tells a submitter beforehand whether its change can still land in such a
 * group (fewer than that queued in this turn so far), so what an early
 * answer needs (udsrpcd: a reply line for the socket) is made only then.
 *
 * Ephemeral items. A node carries whose it is (committed and latest, like
 * its value); on disk a SET2 record only says "ephemeral" (store_codec.h),
 * because no owner outlives the process: store_unset_owner and the removal
 * at open are unsets of many keys, the same batch an unset by prefix is.
 *
 * Inline commit. A lone writer pays for that hand-off all the same: a
 * wake-up of the committer, and a thread switch on each side per write,
 * where Redis writes and flushes in its loop. So when the loop hands over
 * one small change (no other peer's change was read in this turn of the
 * loop), nothing else is due once the rest of the turn has run (no other
 * event active: the others read with it have written their answers), and
 * the committer is idle with an empty queue, the loop writes and flushes
 * the change itself and answers at once. It blocks on the disk only then,
 * and only while the flushes stay fast (STORE_INLINE_MAX_NS, an average
 * over recent groups of either thread): behind a slow disk, or with other
 * writers (their changes join the queue while one is being written), the
 * committer does it. The committer cannot start anything meanwhile: its
 * work comes only from the loop, which is busy.
 *
 * Failure. If a group's write or fdatasync fails, the log is cut back to the
 * last good offset (ftruncate + fsync) and the committer takes nothing more
 * until the loop has seen the failure. The loop then fails the group from its
 * first change on, and everything queued behind it (those were CAS-checked
 * against the failed changes; re-deciding them against a state their
 * submitters never saw is not simpler), resets every latest state to the
 * committed state, and carries on. If even the cut fails, the log's tail is
 * unknown: the store refuses all further changes until restarted, and a
 * restart may then replay records that were answered as failed.
 */
#include "store.h"
#include "store_codec.h"
#include "store_tree.h"
#include "jsonnum.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#define LOG_NAME "config.log"
#define SNAP_NAME "config.snap"
#define SNAP_TMP_NAME "config.snap.tmp"
#define DAMAGED_PREFIX "config.log.damaged-"

#define PREALLOC_CHUNK (1u << 20)
/* Early answers come from the committer only for groups of at most this many changes. */
#define STORE_EARLY_GROUP 4
/* A lone change is committed on the loop itself (see "Inline commit") while the
 * flushes take less than this on average, and when its record is at most this big. */
#define STORE_INLINE_MAX_NS 2000000u
#define STORE_INLINE_MAX_BYTES (64u * 1024)
/* Compact once the log passes this and twice the snapshot's size. */
#define COMPACT_MIN (1u << 20)
/* Ops kept for reuse after a burst; beyond this they are freed. */
#define OP_CACHE_MAX 4096
/*
 * Bytes of record a change carries in its op (store_op.rec_room): a set of
 * a short value then takes no block of its own. Records are freed in
 * bursts, a whole group's as it is answered, and allocated again as the
 * next turn reads its writers: malloc's per-thread cache holds 7 blocks a
 * size, so most of them went through its slow path both ways.
 */
#define REC_INLINE 192
/*
 * The same for a set's node block: the node it replaces is freed as the
 * group is applied, and a block of that size is wanted again in the next
 * turn. Spare blocks are kept by malloc_usable_size, in steps of 16 bytes
 * up to NODE_SPARE_STEPS * 16, at most NODE_SPARE_MAX of them in all.
 */
#define NODE_SPARE_STEPS 32
#define NODE_SPARE_MAX 256
#define SCRATCH_KEEP (1u << 20)
#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)
#define LOAD_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* Whether an item is ephemeral, and whose (store.h); on == false: an ordinary item. */
struct eph {
	bool on;
	struct store_owner who; /* all 0 for one read back from disk */
};

/*
 * What a node will be once every queued change is durable. Kept apart, and
 * only while changes name the node: in a big store nearly no key has one
 * queued, and these fields were a third of every node (node_latest gives
 * the committed state when there is none). Queued changes name their key
 * by this (stable while they are queued), not by the node: applying a set
 * puts a new block in the node's place (node_swap), and node says where.
 */
struct store_latest {
	uint64_t rev; /* 0: absent then */
	uint64_t create, version;
	uint64_t size;
	/* The value's compact JSON text (vlen bytes, not NUL-terminated): in
	 * the block the queued change that sets it brings (which becomes the
	 * node), else the node's own. NULL: absent. */
	const char *value;
	uint32_t vlen;
	struct eph eph;
	uint32_t pending;          /* queued changes naming the node */
	struct store_node *node;   /* the key's node, kept up to date by node_swap */
	struct store_latest *next; /* in the store's cache of spare ones */
};

/*
 * One key, in one block: its committed state, its key (NUL-terminated) and
 * right after it its value as compact JSON text (the record's bytes of it).
 * Lean on purpose: a store of many small items is mostly nodes. A set puts
 * a new block in place (node_swap) rather than changing the value in it.
 */
struct store_node {
	struct store_tree_link link; /* first: the map's key_off is key[]'s offset */
	uint64_t rev;                /* committed revision; 0 while only queued changes name it */
	uint64_t create_rev;         /* committed: the set that created the item */
	uint64_t version;            /* committed: 1 at creation, +1 per set */
	struct store_latest *lat;    /* NULL: nothing queued names the node */
	/* Committed: NULL for an ordinary item, else whose it is (&owner_unknown
	 * for one read back from disk: no owner outlives the process). */
	const struct store_owner *owner;
	/* Bytes of value text after key[]; the item counts key plus these
	 * against max_store_bytes (< STORE_REC_MAX). */
	uint32_t vlen;
	char key[];
};

static inline const char *node_value(const struct store_node *n)
{
	return n->key + n->link.keylen + 1;
}

static inline uint64_t node_size(const struct store_node *n)
{
	return n->rev ? n->link.keylen + n->vlen : 0;
}

/* One encoded change, exactly as it goes to disk (sets as SET2, store_codec.h). */
struct store_rec {
	uint32_t len;
	uint32_t keylen; /* 0 for a batch */
	int op;
	unsigned char data[];
};

/*
 * A key a change writes. A single set or unset has one (store_op.one), a
 * batch one per record, in the order of its records.
 */
struct op_ent {
	struct store_latest *lat; /* the key's latest state, whose node is the key's */
	/* A set's node to be (node_block: key and value); NULL for an unset, or
	 * when the node made for the set holds its value already. */
	struct store_node *block;
	bool set;
};

struct store_op {
	struct store_op *next;
	/* The change's record (NULL for an answer decided at submission). */
	struct store_rec *rec;
	struct op_ent *ents; /* nents of them: &one, or a batch's array */
	size_t nents;
	struct op_ent one;
	struct eph *ephs; /* per ent: what a set makes the item (NULL: none ephemeral) */
	struct eph eph;   /* a single set's */
	store_done_fn done;
	void *arg;
	uint64_t rev; /* the change's revision, or the current one for a conflict */
	enum store_status st;
	int err;          /* committer: errno of the failed group, else 0 */
	const char *what; /* committer: the call that failed */
	const char *quota; /* STORE_QUOTA: the limit's name */
	bool early; /* store_mark_early: tell early_fn once durable */
	/* Last, left out of op_get's clearing: rec when it fits (rec_build). */
	_Alignas(struct store_rec) unsigned char rec_room[sizeof(struct store_rec) + REC_INLINE];
};

/* A growing text (items, results), reused across calls. */
struct text_buf {
	char *p;
	size_t len, cap;
};

struct store {
	/* Loop thread only. */
	struct store_options opt;
	struct event_base *base;
	struct event *done_ev;
	struct store_tree map;
	uint64_t rev;      /* committed */
	uint64_t next_rev; /* last one handed out (committed + queued) */
	/* Quotas: items and their bytes, committed and once the queue is durable. */
	uint64_t items, bytes, l_items, l_bytes;
	struct store_limits limits;
	struct store_op *op_cache;
	size_t op_cache_len;
	struct store_latest *lat_cache;
	size_t lat_cache_len;
	struct store_node *node_spare[NODE_SPARE_STEPS]; /* chained through lat */
	size_t node_spare_len;
	char *scratch;
	size_t scratch_cap;
	/* Loop thread only: a compaction was given nodes (snap), its end not yet seen. */
	bool compacting;
	/* Items made on request (store_get_item, store_list_text): reused. */
	struct text_buf item;
	json_t *got; /* store_get's last answer, kept until the next one */

	/* Shared, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* committer: queue or request */
	pthread_cond_t idle_cv; /* close and debug hooks: a group or compaction finished */
	struct store_op *q_head, *q_tail;
	/* Loop thread only: changes submitted this loop iteration, handed to the
	 * committer in one go by kick_ev (see store_handoff). */
	struct store_op *l_head, *l_tail;
	size_t l_count; /* ops in that list */
	struct event *kick_ev;
	bool kick_pending;
	bool kick_deferred; /* run once more behind this turn's events (store_try_inline) */
	bool no_inline;     /* test hook: every group goes to the committer */
	struct store_op *d_head, *d_tail;
	atomic_bool done_ready; /* d_head is set: store_poll's cheap test */
	bool busy;              /* a group is being written */
	bool broken;            /* a group failed; the committer waits for the loop to see it */
	bool paused;            /* test hook: the committer leaves the queue alone */
	bool stop;
	bool waiting; /* the committer sleeps on work_cv with nothing to do */
	uint64_t flush_ns; /* moving average of a group's write and fdatasync */
	int inject_err;
	store_early_fn early_fn; /* set before the first change; read by the committer */
	uint64_t compact_req, compact_done;
	int compact_result;
	/*
	 * Compaction (see "Compaction"): want, the committer asks the loop for
	 * the committed nodes and takes no group until it has them; snap, what
	 * the loop gives it with compact_req: the nodes at snap_rev, in key order.
	 */
	bool compact_want;
	const struct store_node **snap;
	size_t snap_count, snap_cap;
	uint64_t snap_rev;
	struct store_stats stats;
	/* The committer's news for the operator (a failed compaction), logged by the loop. */
	char bg_msg[512];
	bool bg_msg_ready;

	/* Committer thread only once it runs (store_open fills them in first). */
	pthread_t thread;
	bool thread_started;
	int efd;
	int dirfd;
	int logfd;
	char *dir;
	uint64_t log_off;   /* end of the durable records */
	uint64_t log_alloc; /* preallocated up to here */
	uint64_t wrev;      /* revision of the last durable record */
	unsigned char *snap_hdrs; /* compact: the records' headers of one pwritev */
	uint64_t snap_size;
	uint64_t compact_at;
	int dead_err; /* a failed write could not be undone */
	struct iovec *iov;
};

/* The key alphabet, [A-Za-z0-9._/-], as a table: every write checks each byte. */
static const unsigned char key_byte[256] = {
    ['-'] = 1, ['.'] = 1, ['/'] = 1, ['_'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

bool store_key_valid(const char *key, size_t len)
{
	if (!key || len == 0 || len > STORE_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!key_byte[(unsigned char)key[i]])
			return false;
	return true;
}

/* One line for the operator, through opt.log (loop thread, or the opener's). */
static void store_log(const struct store *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void store_log(const struct store *s, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!s->opt.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->opt.log(s->opt.log_arg, level, msg);
}

/* ---- the key map (loop thread) ---- */

/* Room for n more bytes; false on ENOMEM. */
static bool text_reserve(struct text_buf *t, size_t n)
{
	size_t cap = t->cap ? t->cap : 256;
	char *p;

	if (t->cap - t->len >= n)
		return true;
	while (cap - t->len < n)
		cap *= 2;
	if (!(p = realloc(t->p, cap)))
		return false;
	t->p = p;
	t->cap = cap;
	return true;
}

/* Only after text_reserve made room for them. */
static void text_put(struct text_buf *t, const char *p, size_t n)
{
	memcpy(t->p + t->len, p, n);
	t->len += n;
}

/* Decimal, written in place: the numbers of an item are a good part of a config.get's cost. */
static void text_u64(struct text_buf *t, uint64_t v)
{
	size_t n = 1;

	for (uint64_t x = v; x >= 10; x /= 10)
		n++;
	t->len += n;
	for (char *p = t->p + t->len; n-- > 0; v /= 10)
		*--p = (char)('0' + v % 10);
}

static void text_i64(struct text_buf *t, int64_t v)
{
	if (v < 0)
		text_put(t, "-", 1);
	text_u64(t, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

/*
 * An item as compact JSON, jansson's text of {"key","value","revision",
 * "create_revision","version"} (and "ephemeral","owner"), or of
 * {"key","revision"} with keys_only: built from the stored value's text,
 * no object made. The key was checked (store_key_valid: nothing to escape).
 */
struct item_view {
	const char *key;
	size_t klen;
	const char *value;
	size_t vlen;
	uint64_t rev, create, version;
	struct eph eph;
};

/* Beyond key and value: the names, three numbers and an owner's three. */
#define ITEM_ROOM (128 + 6 * JSONNUM_U64_MAX)

static bool text_item(struct text_buf *t, const struct item_view *v, bool keys_only)
{
	if (!text_reserve(t, v->klen + v->vlen + ITEM_ROOM))
		return false;
	text_put(t, "{\"key\":\"", 8);
	text_put(t, v->key, v->klen);
	if (keys_only) {
		text_put(t, "\",\"revision\":", 13);
		text_u64(t, v->rev);
		text_put(t, "}", 1);
		return true;
	}
	text_put(t, "\",\"value\":", 10);
	text_put(t, v->value, v->vlen);
	text_put(t, ",\"revision\":", 12);
	text_u64(t, v->rev);
	text_put(t, ",\"create_revision\":", 19);
	text_u64(t, v->create);
	text_put(t, ",\"version\":", 11);
	text_u64(t, v->version);
	if (v->eph.on) {
		/* As json_pack("{s:I,...}") writes them: signed. */
		text_put(t, ",\"ephemeral\":true,\"owner\":{\"id\":", 32);
		text_i64(t, (int64_t)v->eph.who.id);
		text_put(t, ",\"uid\":", 7);
		text_i64(t, (int64_t)v->eph.who.uid);
		text_put(t, ",\"pid\":", 7);
		text_i64(t, (int64_t)v->eph.who.pid);
		text_put(t, "}", 1);
	}
	text_put(t, "}", 1);
	return true;
}

static struct store_node *node_find(const struct store *s, const char *key, size_t len)
{
	struct store_tree_link *l = store_tree_find(&s->map, key, len);

	return l ? (struct store_node *)l : NULL;
}

/* n, a block of at least node_bytes(len, vlen), made a node of key and value (not in the map). */
static struct store_node *node_fill(struct store_node *n, const char *key, size_t len,
                                    const char *value, size_t vlen)
{
	memset(n, 0, offsetof(struct store_node, key));
	memcpy(n->key, key, len);
	n->key[len] = '\0';
	if (vlen)
		memcpy(n->key + len + 1, value, vlen);
	n->vlen = (uint32_t)vlen;
	n->link.keylen = (uint32_t)len;
	return n;
}

static size_t node_bytes(size_t len, size_t vlen)
{
	return offsetof(struct store_node, key) + len + 1 + vlen;
}

/* A node's block for key with value text (vlen bytes), not in the map; NULL on ENOMEM. */
static struct store_node *node_block(const char *key, size_t len, const char *value,
                                     size_t vlen)
{
	struct store_node *n = malloc(node_bytes(len, vlen));

	return n ? node_fill(n, key, len, value, vlen) : NULL;
}

/*
 * The step of spares a malloc of bytes would come from: glibc's chunks are
 * 16-byte multiples with 8 bytes of header, so a block of usable size
 * ((bytes + 23) & ~15) - 8. Only a guess at what malloc does: a spare of
 * that step is big enough whatever it does (step * 16 + 8 >= bytes).
 */
static size_t node_spare_step(size_t bytes)
{
	return (((bytes + 23) & ~(size_t)15) - 8) / 16;
}

/* node_block, in a spare block of the size malloc would give when there is one. */
static struct store_node *node_block_spare(struct store *s, const char *key, size_t len,
                                           const char *value, size_t vlen)
{
	size_t step = node_spare_step(node_bytes(len, vlen));
	struct store_node *n;

	if (step >= NODE_SPARE_STEPS || !(n = s->node_spare[step]))
		return node_block(key, len, value, vlen);
	s->node_spare[step] = (struct store_node *)n->lat;
	s->node_spare_len--;
	return node_fill(n, key, len, value, vlen);
}

/* free(n), or n kept for node_block_spare. */
static void node_release(struct store *s, struct store_node *n)
{
	size_t usable = malloc_usable_size(n);
	size_t step = (usable - 8) / 16;

	/* Only blocks of exactly a step's size: a bigger one in a step's list would sit idle there. */
	if (s->node_spare_len >= NODE_SPARE_MAX || step >= NODE_SPARE_STEPS ||
	    step * 16 + 8 != usable) {
		free(n);
		return;
	}
	n->lat = (struct store_latest *)s->node_spare[step];
	s->node_spare[step] = n;
	s->node_spare_len++;
}

/* A node for a key not in the map, put there (no committed value yet: rev 0). */
static struct store_node *node_new(struct store *s, const char *key, size_t len,
                                   const char *value, size_t vlen)
{
	struct store_node *n = node_block(key, len, value, vlen);
	struct store_tree_link *old;

	if (!n)
		return NULL;
	store_tree_upsert(&s->map, &n->link, &old);
	return n;
}

static const struct store_owner owner_unknown;

static void node_owner_free(struct store_node *n)
{
	if (n->owner != &owner_unknown)
		free((void *)n->owner);
	n->owner = NULL;
}

static void node_free_link(struct store_tree_link *l)
{
	struct store_node *n = (struct store_node *)l;

	free(n->lat);
	node_owner_free(n);
	free(n);
}

/* The committed item's eph. */
static struct eph node_eph(const struct store_node *n)
{
	return n->owner ? (struct eph){.on = true, .who = *n->owner} : (struct eph){0};
}

/* The committed item becomes e's: an owner copied, or none (nothing allocated for those read back). */
static void node_set_eph(struct store_node *n, struct eph e)
{
	static const struct store_owner none;
	struct store_owner *o;

	if (!e.on) {
		node_owner_free(n);
		return;
	}
	if (memcmp(&e.who, &none, sizeof(none)) == 0) {
		node_owner_free(n);
		n->owner = &owner_unknown;
		return;
	}
	if (n->owner && n->owner != &owner_unknown) {
		*(struct store_owner *)n->owner = e.who;
		return;
	}
	/* Out of memory: still ephemeral, and gone at the next start at the latest. */
	o = malloc(sizeof(*o));
	if (o)
		*o = e.who;
	n->owner = o ? o : &owner_unknown;
}

/* What n will be once the queue is durable: its own latest state, else the committed one. */
static struct store_latest node_latest(const struct store_node *n)
{
	if (n->lat)
		return *n->lat;
	return (struct store_latest){.rev = n->rev,
	                             .create = n->create_rev,
	                             .version = n->version,
	                             .size = node_size(n),
	                             .value = n->rev ? node_value(n) : NULL,
	                             .vlen = n->rev ? n->vlen : 0,
	                             .eph = node_eph(n),
	                             .node = (struct store_node *)n};
}

/* n's latest state to change, made from the committed one if it had none; NULL on ENOMEM. */
static struct store_latest *node_lat(struct store *s, struct store_node *n)
{
	struct store_latest *l = n->lat;

	if (l)
		return l;
	if ((l = s->lat_cache)) {
		s->lat_cache = l->next;
		s->lat_cache_len--;
	} else if (!(l = malloc(sizeof(*l)))) {
		return NULL;
	}
	*l = node_latest(n);
	n->lat = l;
	return l;
}

/* Once no queued change names n, its latest state is the committed one again. */
static void node_lat_drop(struct store *s, struct store_node *n)
{
	struct store_latest *l = n->lat;

	if (!l || l->pending > 0)
		return;
	n->lat = NULL;
	if (s->lat_cache_len >= OP_CACHE_MAX) {
		free(l);
		return;
	}
	l->next = s->lat_cache;
	s->lat_cache = l;
	s->lat_cache_len++;
}

/* m (a node_block of n's key) takes n's place in the map, with n's committed state; n is freed. */
static struct store_node *node_swap(struct store *s, struct store_node *n, struct store_node *m)
{
	struct store_tree_link *old;

	m->rev = n->rev;
	m->create_rev = n->create_rev;
	m->version = n->version;
	m->lat = n->lat;
	m->owner = n->owner;
	store_tree_upsert(&s->map, &m->link, &old);
	if (m->lat)
		m->lat->node = m;
	node_release(s, n);
	return m;
}

/*
 * The committed state changes: a set (its value in block, which takes n's
 * place, or already in n when block is NULL) or an unset at rev. An item
 * that exists keeps its create_rev and counts one more version; a new one
 * starts at version 1 (store_codec.h: what a SET2 record carries, and what
 * release 1's records are given when they are read). Returns the node.
 */
static struct store_node *node_commit(struct store *s, struct store_node *n, bool set,
                                      struct store_node *block, uint64_t rev, struct eph eph)
{
	if (set && block)
		n = node_swap(s, n, block);
	node_set_eph(n, set ? eph : (struct eph){0});
	if (!set) {
		n->create_rev = n->version = 0;
		n->rev = 0;
		return n;
	}
	if (n->rev) {
		n->version++;
	} else {
		n->create_rev = rev;
		n->version = 1;
	}
	n->rev = rev;
	return n;
}

static struct item_view node_view(const struct store_node *n)
{
	return (struct item_view){.key = n->key, .klen = n->link.keylen, .value = node_value(n),
	                          .vlen = n->vlen, .rev = n->rev, .create = n->create_rev,
	                          .version = n->version, .eph = node_eph(n)};
}

/* Drop the node once nothing needs it: no committed value, no queued change. */
static void node_maybe_remove(struct store *s, struct store_node *n)
{
	struct store_tree_link *removed;

	node_lat_drop(s, n);
	if (n->lat || n->rev)
		return;
	store_tree_remove(&s->map, n->key, n->link.keylen, &removed);
	node_free_link(&n->link);
}

struct list_walk {
	struct text_buf *t;
	size_t count;
	size_t limit; /* 0: all */
	bool keys_only;
	bool more;
	const struct store_list_opts *o; /* its visible filter */
};

/* Positive (stop) once limit items are taken and one more exists. */
static int list_visit(struct store_tree_link *l, void *arg)
{
	struct store_node *n = (struct store_node *)l;
	struct list_walk *w = arg;
	struct item_view v;

	if (!n->rev || (w->o && w->o->visible && !w->o->visible(n->key, w->o->visible_arg)))
		return 0;
	if (w->limit && w->count == w->limit) {
		w->more = true;
		return 1;
	}
	v = node_view(n);
	if (w->count++ > 0) {
		if (!text_reserve(w->t, 1))
			return -ENOMEM;
		text_put(w->t, ",", 1);
	}
	return text_item(w->t, &v, w->keys_only) ? 0 : -ENOMEM;
}

/* The node of key when it has a committed value, else NULL. */
static struct store_node *node_committed(const struct store *s, const char *key)
{
	struct store_node *n = key ? node_find(s, key, strnlen(key, STORE_KEY_MAX + 1)) : NULL;

	return n && n->rev ? n : NULL;
}

/* A stored value's text as jansson reads it (as recovery does); NULL: not JSON, or ENOMEM. */
static json_t *value_load(const char *p, size_t len)
{
	const char *end;
	json_t *value = len ? jsonnum_scalar(p, p + len, &end) : NULL;

	if (value && end == p + len)
		return value;
	json_decref(value);
	return json_loadb(p, len, LOAD_FLAGS, NULL);
}

const json_t *store_get(struct store *s, const char *key, uint64_t *ret_revision)
{
	struct store_node *n = node_committed(s, key);

	json_decref(s->got);
	s->got = NULL;
	if (!n)
		return NULL;
	if (ret_revision)
		*ret_revision = n->rev;
	return s->got = value_load(node_value(n), n->vlen);
}

/* The store's item buffer emptied; when one huge answer made it big, given back first. */
static struct text_buf *item_buf(struct store *s)
{
	if (s->item.cap > SCRATCH_KEEP) {
		free(s->item.p);
		s->item = (struct text_buf){0};
	}
	s->item.len = 0;
	return &s->item;
}

const char *store_get_item(struct store *s, const char *key, size_t *ret_len, int *ret_err)
{
	struct store_node *n = node_committed(s, key);
	struct text_buf *t = item_buf(s);
	struct item_view v;

	*ret_err = 0;
	if (!n) {
		*ret_err = -ENOENT;
		return NULL;
	}
	v = node_view(n);
	if (!text_item(t, &v, false) || !text_reserve(t, 1)) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	t->p[t->len] = '\0';
	*ret_len = t->len;
	return t->p;
}

const char *store_list_text(struct store *s, const struct store_list_opts *o, size_t *ret_len,
                            bool *ret_more)
{
	const char *prefix = o && o->prefix ? o->prefix : "";
	const char *after = o ? o->after : NULL;
	struct list_walk w = {.t = item_buf(s), .limit = o ? o->limit : 0,
	                      .keys_only = o && o->keys_only, .o = o};

	if (!text_reserve(w.t, 2))
		return NULL;
	text_put(w.t, "[", 1);
	if (store_tree_walk_range(&s->map, prefix, strlen(prefix), after, after ? strlen(after) : 0,
	                          list_visit, &w) < 0 ||
	    !text_reserve(w.t, 2))
		return NULL;
	text_put(w.t, "]", 1);
	w.t->p[w.t->len] = '\0';
	if (ret_more)
		*ret_more = w.more;
	*ret_len = w.t->len;
	return w.t->p;
}

json_t *store_list_page(struct store *s, const struct store_list_opts *o, bool *ret_more)
{
	size_t len;
	const char *text = store_list_text(s, o, &len, ret_more);

	return text ? json_loadb(text, len, LOAD_FLAGS, NULL) : NULL;
}

json_t *store_list(struct store *s, const char *prefix)
{
	return store_list_page(s, &(struct store_list_opts){.prefix = prefix}, NULL);
}

uint64_t store_revision(const struct store *s)
{
	return s->rev;
}

void store_set_limits(struct store *s, const struct store_limits *l)
{
	s->limits = *l;
}

void store_get_usage(const struct store *s, uint64_t *ret_items, uint64_t *ret_bytes)
{
	*ret_items = s->items;
	*ret_bytes = s->bytes;
}

/* ---- submitting changes (loop thread) ---- */

static struct store_op *op_get(struct store *s)
{
	struct store_op *op = s->op_cache;

	if (op) {
		s->op_cache = op->next;
		s->op_cache_len--;
		memset(op, 0, offsetof(struct store_op, rec_room));
		return op;
	}
	return calloc(1, sizeof(*op));
}

/* op's record gone (its room is op's own). */
static void rec_free(struct store_op *op)
{
	if (op->rec && op->rec != (struct store_rec *)op->rec_room)
		free(op->rec);
	op->rec = NULL;
}

/* free(p) but no call for NULL: a single key's op has only a record of all these. */
static inline void free_some(void *p)
{
	if (p)
		free(p);
}

static void op_put(struct store *s, struct store_op *op)
{
	rec_free(op);
	for (size_t i = 0; i < op->nents; i++) {
		free_some(op->ents[i].block);
	}
	if (op->ents != &op->one)
		free_some(op->ents); /* its ephs too: one block */
	op->ents = NULL;
	op->nents = 0;
	if (s->op_cache_len >= OP_CACHE_MAX) {
		free(op);
		return;
	}
	op->next = s->op_cache;
	s->op_cache = op;
	s->op_cache_len++;
}

/* A record of op for key with vlen bytes of value, sealed; in room (REC_INLINE) when it fits. */
static struct store_rec *rec_build(int op, const char *key, size_t keylen, const void *value,
                                   size_t vlen, uint64_t rev, uint64_t create_rev,
                                   uint64_t version, void *room)
{
	size_t koff = store_rec_key_offset(op), len = koff + keylen + vlen;
	struct store_rec *rec = room;

	if (len > STORE_REC_MAX || (len > REC_INLINE && !(rec = malloc(sizeof(*rec) + len))))
		return NULL;
	memcpy(rec->data + koff, key, keylen);
	if (vlen)
		memcpy(rec->data + koff + keylen, value, vlen);
	rec->op = op & STORE_OP_MASK;
	rec->len = (uint32_t)len;
	rec->keylen = (uint32_t)keylen;
	store_rec_seal(rec->data, len, rev, op, keylen, create_rev, version);
	return rec;
}

/*
 * value's compact dump in the store's scratch buffer (valid until the next
 * call); 0 and *ret_len, -EINVAL (not encodable) or -ENOMEM.
 */
static int scratch_dump(struct store *s, const json_t *value, const char **ret, size_t *ret_len)
{
	size_t vlen = jsonnum_dumpb(value, s->scratch, s->scratch_cap, DUMP_FLAGS);

	if (vlen == 0)
		return -EINVAL;
	if (vlen > s->scratch_cap) {
		size_t cap = s->scratch_cap ? s->scratch_cap : 256;
		char *p;

		while (cap < vlen)
			cap *= 2;
		p = realloc(s->scratch, cap);
		if (!p)
			return -ENOMEM;
		s->scratch = p;
		s->scratch_cap = cap;
		if (jsonnum_dumpb(value, s->scratch, s->scratch_cap, DUMP_FLAGS) != vlen)
			return -EINVAL;
	}
	*ret = s->scratch;
	*ret_len = vlen;
	return 0;
}

/* One huge value should not pin its buffer for the daemon's life. */
static void scratch_trim(struct store *s)
{
	if (s->scratch_cap > SCRATCH_KEEP) {
		free(s->scratch);
		s->scratch = NULL;
		s->scratch_cap = 0;
	}
}

/* op's record, with text: value's dump when the caller made it (store_set_text), else NULL. */
static int encode_text(struct store *s, const char *key, size_t keylen, const json_t *value,
                       const char *text, size_t tlen, bool eph, uint64_t rev,
                       uint64_t create_rev, uint64_t version, struct store_op *op)
{
	struct store_rec *rec;
	const char *vtext = NULL;
	size_t vlen = 0;
	int r;

	if (value && text) {
		vtext = text;
		vlen = tlen;
	} else if (value && (r = scratch_dump(s, value, &vtext, &vlen)) < 0) {
		return r;
	}
	if (store_rec_key_offset(STORE_OP_SET2) + keylen + vlen > STORE_REC_MAX)
		return -E2BIG;
	rec = rec_build(value ? STORE_OP_SET2 | (eph ? STORE_EPHEMERAL : 0) : STORE_OP_UNSET, key,
	                keylen, vtext, vlen, rev, create_rev, version, op->rec_room);
	if (!rec)
		return -ENOMEM;
	scratch_trim(s);
	op->rec = rec;
	return 0;
}

/* Where a record built by encode keeps its value's text, and how long it is. */
static const char *rec_value(const struct store_rec *rec, size_t *ret_vlen)
{
	size_t off = store_rec_key_offset(STORE_OP_SET2) + rec->keylen;

	*ret_vlen = rec->len - off;
	return (const char *)rec->data + off;
}

/* Append op to what the next hand-off gives the committer (see store_handoff). */
static void queue_op(struct store *s, struct store_op *op)
{
	if (s->l_tail)
		s->l_tail->next = op;
	else
		s->l_head = op;
	s->l_tail = op;
	s->l_count++;
	if (!s->kick_pending) {
		s->kick_pending = true;
		event_active(s->kick_ev, EV_TIMEOUT, 0);
	}
}

/*
 * Would a change adding items and bytes (either may wrap around as a
 * decrease) to the latest state pass a quota? Then op becomes STORE_QUOTA
 * (its record freed) and true. Only sets are checked: unsets always work.
 */
static bool quota_check(struct store *s, uint64_t items, uint64_t bytes, struct store_op *op)
{
	const char *name = NULL;
	uint64_t limit = 0;

	/* "Would leave more than": also a set that shrinks a store left over a lowered limit. */
	if (s->limits.max_keys && s->l_items + items > s->limits.max_keys) {
		name = "max_keys";
		limit = s->limits.max_keys;
	} else if (s->limits.max_store_bytes && s->l_bytes + bytes > s->limits.max_store_bytes) {
		name = "max_store_bytes";
		limit = s->limits.max_store_bytes;
	}
	if (!name)
		return false;
	rec_free(op);
	op->st = STORE_QUOTA;
	op->rev = limit;
	op->quota = name;
	return true;
}

/* Whether op changes the store (else its answer was decided at submission). */
static bool op_changes(const struct store_op *op)
{
	return op->nents > 0;
}

static int submit(struct store *s, const char *key, json_t *value, const char *text, size_t tlen,
                  bool is_set, int64_t expect_revision, const struct store_owner *owner,
                  store_done_fn done, void *arg)
{
	struct eph eph = {.on = is_set && owner, .who = owner ? *owner : (struct store_owner){0}};
	size_t keylen = key ? strnlen(key, STORE_KEY_MAX + 1) : 0;
	struct store_node *n;
	struct store_latest l = {0}, *lat = NULL;
	struct store_op *op;
	uint64_t cur;

	if (!store_key_valid(key, keylen) || (is_set && !value) || !done)
		return -EINVAL;
	n = node_find(s, key, keylen);
	if (n)
		l = node_latest(n);
	cur = l.rev;
	op = op_get(s);
	if (!op)
		return -ENOMEM;
	op->done = done;
	op->arg = arg;
	if (!is_set && cur == 0) {
		op->st = STORE_NOT_FOUND;
	} else if (expect_revision >= 0 && (uint64_t)expect_revision != cur) {
		op->st = STORE_CONFLICT;
		op->rev = cur;
	} else {
		uint64_t rev = s->next_rev + 1;
		uint64_t create = cur ? l.create : rev, version = cur ? l.version + 1 : 1;
		uint64_t size = 0, was = cur ? l.size : 0;
		struct store_node *block = NULL;
		const char *vtext = NULL;
		size_t vlen = 0;
		int r = encode_text(s, key, keylen, is_set ? value : NULL, text, tlen, eph.on, rev,
		                    create, version, op);

		if (r == 0 && is_set) {
			vtext = rec_value(op->rec, &vlen);
			size = keylen + vlen;
			if (quota_check(s, cur ? 0 : 1, size - was, op)) {
				queue_op(s, op);
				return 0;
			}
		}
		/* The node to be: a new key's node holds the value from the start. */
		if (r == 0 && !n) {
			if (!(n = node_new(s, key, keylen, vtext, vlen)))
				r = -ENOMEM;
		} else if (r == 0 && is_set &&
		           !(block = node_block_spare(s, key, keylen, vtext, vlen))) {
			r = -ENOMEM;
		}
		if (r == 0 && !(lat = node_lat(s, n))) {
			free(block);
			node_maybe_remove(s, n);
			r = -ENOMEM;
		}
		if (r < 0) {
			op_put(s, op);
			return r;
		}
		/* Unsigned wrap-around adds up right: size - was may be "negative". */
		s->l_items += is_set ? (cur ? 0 : 1) : (uint64_t)-1;
		s->l_bytes += size - was;
		lat->size = size;
		lat->value = is_set ? node_value(block ? block : n) : NULL;
		lat->vlen = (uint32_t)vlen;
		lat->eph = eph;
		op->eph = eph;
		lat->pending++;
		lat->rev = is_set ? rev : 0;
		lat->create = is_set ? create : 0;
		lat->version = is_set ? version : 0;
		s->next_rev = rev;
		op->one = (struct op_ent){.lat = lat, .block = block, .set = is_set};
		op->ents = &op->one;
		op->nents = 1;
		op->ephs = &op->eph;
		op->rev = rev;
		op->st = STORE_OK;
	}
	queue_op(s, op);
	return 0;
}

/*
 * The nodes an unset of many keys removes: those present once the queue is
 * durable, under a prefix, or (by_owner) ephemeral and bound to owner_id
 * (any_owner: ephemeral at all, what store_open removes).
 */
struct prefix_walk {
	struct store_node **nodes;
	size_t n, cap;
	bool by_owner, any_owner;
	uint64_t owner_id;
};

static int prefix_visit(struct store_tree_link *l, void *arg)
{
	struct store_node *n = (struct store_node *)l;
	struct prefix_walk *w = arg;
	struct store_latest lat = node_latest(n);

	if (lat.rev == 0)
		return 0; /* absent once the queue is durable */
	if (w->by_owner &&
	    (!lat.eph.on || (!w->any_owner && lat.eph.who.id != w->owner_id)))
		return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct store_node **p = realloc(w->nodes, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		w->nodes = p;
		w->cap = cap;
	}
	w->nodes[w->n++] = n;
	return 0;
}

/* A batch record whose body (total bytes with the header) is in place: sealed, no key. */
static void batch_seal(struct store_rec *rec, size_t total, uint64_t rev)
{
	store_rec_seal(rec->data, total, rev, STORE_OP_BATCH, 0, 0, 0);
	rec->op = STORE_OP_BATCH;
	rec->len = (uint32_t)total;
	rec->keylen = 0;
}

static void keys_out(json_t *keys, json_t **ret_keys)
{
	if (ret_keys)
		*ret_keys = keys;
	else
		json_decref(keys);
}

/*
 * Unset the nodes w found (store_unset_prefix's contract): one batch, one
 * revision, applied whole or not at all; none: no change, no revision.
 * Takes w->nodes.
 */
static int unset_batch(struct store *s, struct prefix_walk *w, store_done_fn done, void *arg,
                       json_t **ret_keys)
{
	struct store_op *op;
	json_t *keys = json_array();
	size_t total = STORE_REC_HDR, off = STORE_REC_HDR;
	uint64_t rev = s->next_rev + 1;
	struct store_rec *rec;
	struct op_ent *ents;

	if (!keys)
		goto nomem;
	for (size_t i = 0; i < w->n; i++) {
		total += STORE_REC_HDR + w->nodes[i]->link.keylen;
		if (json_array_append_new(keys, json_stringn(w->nodes[i]->key,
		                                             w->nodes[i]->link.keylen)) < 0)
			goto nomem;
	}
	if (!(op = op_get(s)))
		goto nomem;
	op->done = done;
	op->arg = arg;
	op->st = STORE_OK;
	if (w->n == 0) {
		/* Nothing to remove: no change, no new revision. */
		op->rev = s->next_rev;
		free(w->nodes);
		queue_op(s, op);
		keys_out(keys, ret_keys);
		return 0;
	}
	if (total > STORE_REC_MAX) {
		op_put(s, op);
		json_decref(keys);
		free(w->nodes);
		return -E2BIG;
	}
	rec = malloc(sizeof(*rec) + total);
	ents = calloc(w->n, sizeof(*ents));
	/* Every node's latest state first: failing here changes nothing. */
	for (size_t i = 0; rec && ents && i < w->n; i++) {
		if (!node_lat(s, w->nodes[i])) {
			for (size_t k = 0; k <= i; k++)
				node_lat_drop(s, w->nodes[k]);
			free(ents);
			ents = NULL;
		}
	}
	if (!rec || !ents) {
		free(rec);
		op_put(s, op);
		goto nomem;
	}
	for (size_t i = 0; i < w->n; i++) {
		struct store_node *n = w->nodes[i];
		size_t len = STORE_REC_HDR + n->link.keylen;

		memcpy(rec->data + off + STORE_REC_HDR, n->key, n->link.keylen);
		store_rec_seal(rec->data + off, len, rev, STORE_OP_UNSET | STORE_IN_BATCH,
		               n->link.keylen, 0, 0);
		ents[i] = (struct op_ent){.lat = n->lat};
		off += len;
		s->l_items--;
		s->l_bytes -= n->lat->size;
		*n->lat = (struct store_latest){.pending = n->lat->pending + 1, .node = n};
	}
	batch_seal(rec, total, rev);
	op->rec = rec;
	op->ents = ents;
	op->nents = w->n;
	free(w->nodes);
	op->rev = rev;
	s->next_rev = rev;
	queue_op(s, op);
	keys_out(keys, ret_keys);
	return 0;
nomem:
	json_decref(keys);
	free(w->nodes);
	return -ENOMEM;
}

int store_unset_prefix(struct store *s, const char *prefix, store_done_fn done, void *arg,
                       json_t **ret_keys)
{
	struct prefix_walk w = {0};

	if (!prefix || !done || strlen(prefix) > STORE_KEY_MAX)
		return -EINVAL;
	if (store_tree_walk_prefix(&s->map, prefix, strlen(prefix), prefix_visit, &w) < 0) {
		free(w.nodes);
		return -ENOMEM;
	}
	return unset_batch(s, &w, done, arg, ret_keys);
}

int store_unset_owner(struct store *s, uint64_t owner_id, store_done_fn done, void *arg,
                      json_t **ret_keys)
{
	struct prefix_walk w = {.by_owner = true, .owner_id = owner_id};

	if (!done)
		return -EINVAL;
	if (store_tree_walk_prefix(&s->map, "", 0, prefix_visit, &w) < 0) {
		free(w.nodes);
		return -ENOMEM;
	}
	return unset_batch(s, &w, done, arg, ret_keys);
}

/* ---- transactions (loop thread) ---- */

/* What a key will be once the queue is durable, with a transaction's earlier ops over it. */
struct txn_view {
	bool exists;
	uint64_t rev, create, version, size;
	const char *value; /* its text, vlen bytes (borrowed) */
	size_t vlen;
	/* A write of this transaction's: its value is at voff in the batch being built. */
	bool in_batch;
	size_t voff;
	struct eph eph;
	struct store_node *node; /* a write's: the key's node in the map, NULL: none yet */
};

/*
 * The view of key (klen bytes) into *ret, filled in place: the latest
 * state, or what an op of ops[0..upto) made it.
 * Only a get looks back (scan): a branch writes each key once (the caller's
 * rule), so a write finds no earlier write of its key, and a restore of
 * many keys stays linear.
 */
static void txn_view_of(struct store *s, const struct store_txn_op *ops, size_t upto,
                        const struct txn_view *made, const char *key, size_t klen,
                        struct txn_view *ret)
{
	struct store_node *n;

	if (upto > 0 && ops[upto].op != STORE_TXN_GET)
		upto = 0;
	for (size_t i = upto; i-- > 0;) {
		if (ops[i].op != STORE_TXN_GET && strcmp(ops[i].key, key) == 0) {
			*ret = made[i];
			return;
		}
	}
	n = node_find(s, key, klen);
	if (!n) {
		*ret = (struct txn_view){0};
		return;
	}
	struct store_latest l = node_latest(n);
	*ret = (struct txn_view){.exists = l.rev != 0, .rev = l.rev, .create = l.create,
	                         .version = l.version, .size = l.size, .value = l.value,
	                         .vlen = l.vlen, .eph = l.eph, .node = n};
}

/* A value compare (json_equal, as config.txn says): the stored text read back for it. */
static bool txn_value_equal(const struct txn_view *v, const json_t *want)
{
	json_t *have = v->exists ? value_load(v->value, v->vlen) : NULL;
	bool eq = have && json_equal(have, (json_t *)want);

	json_decref(have);
	return eq;
}

static bool txn_compare_holds(struct store *s, const struct store_txn_cmp *c)
{
	struct txn_view v;

	txn_view_of(s, NULL, 0, NULL, c->key, strlen(c->key), &v);
	switch (c->what) {
	case STORE_CMP_REVISION:
		return v.rev == c->num;
	case STORE_CMP_VERSION:
		return v.version == c->num;
	case STORE_CMP_EXISTS:
		return v.exists == c->exists;
	case STORE_CMP_VALUE:
		return txn_value_equal(&v, c->value);
	}
	return false;
}

/*
 * The results array as the reply writes it (compact, jansson's text), built
 * as the ops run: a tree of {"key","revision"} objects cost more to build,
 * dump and free than the rest of the transaction. A get's item (or null)
 * from the value's text, as store_get_item makes it.
 */
static bool txn_text_item(struct text_buf *t, const char *key, const struct txn_view *v)
{
	struct item_view iv = {.key = key, .klen = strlen(key), .value = v->value,
	                       .vlen = v->vlen, .rev = v->rev, .create = v->create,
	                       .version = v->version, .eph = v->eph};

	if (v->exists)
		return text_item(t, &iv, false);
	if (!text_reserve(t, 4))
		return false;
	text_put(t, "null", 4);
	return true;
}

/*
 * A write's {"key","revision"} (rev: the revision's digits, n of them); the
 * key was checked (store_key_valid: nothing to escape).
 */
static bool txn_text_change(struct text_buf *t, const char *key, size_t klen, const char *rev,
                            size_t n)
{
	if (!text_reserve(t, klen + n + 24))
		return false;
	text_put(t, "{\"key\":\"", 8);
	text_put(t, key, klen);
	text_put(t, "\",\"revision\":", 13);
	text_put(t, rev, n);
	text_put(t, "}", 1);
	return true;
}

/*
 * A write's record, appended to the batch's body in b (its header room
 * already there), sealed as a record of a batch: its value's text (the
 * op's, or dumped here) stays at *ret_voff in b. 0, -EINVAL, -E2BIG or -ENOMEM.
 */
static int txn_append(struct store *s, struct text_buf *b, const struct store_txn_op *o,
                      size_t klen, const struct txn_view *w, uint64_t rev, size_t *ret_voff,
                      size_t *ret_vlen)
{
	bool set = o->op == STORE_TXN_SET;
	int op = set ? STORE_OP_SET2 | (w->eph.on ? STORE_EPHEMERAL : 0) : STORE_OP_UNSET;
	size_t koff = store_rec_key_offset(op), vlen = 0, len;
	const char *vtext = NULL;
	unsigned char *rec;
	int r;

	if (set && o->vtext) {
		vtext = o->vtext;
		vlen = o->vlen;
	} else if (set && (r = scratch_dump(s, o->value, &vtext, &vlen)) < 0) {
		return r;
	}
	len = koff + klen + vlen;
	if (len > STORE_REC_MAX)
		return -E2BIG;
	if (!text_reserve(b, len))
		return -ENOMEM;
	rec = (unsigned char *)b->p + b->len;
	memcpy(rec + koff, o->key, klen);
	if (vlen)
		memcpy(rec + koff + klen, vtext, vlen);
	store_rec_seal(rec, len, rev, op | STORE_IN_BATCH, klen, w->create, w->version);
	*ret_voff = b->len + koff + klen;
	*ret_vlen = vlen;
	b->len += len;
	return 0;
}

/* The batch's first room per op: most records of a config store are small. */
#define TXN_REC_GUESS 128
/* Up to this many ops their state is on the stack: its callocs cost more than a tenth of a 10-op one. */
#define TXN_STACK_OPS 16

int store_txn(struct store *s, const struct store_txn_cmp *cmps, size_t ncmp,
              const struct store_txn_op *succ, size_t nsucc, const struct store_txn_op *fail,
              size_t nfail, store_done_fn done, void *arg, bool *ret_succeeded,
              struct store_txn_results *ret_results)
{
	bool ok = true, has_set = false, has_eph = false;
	const struct store_txn_op *ops;
	size_t nops, nw = 0, k;
	/* The batch record as it is built: a store_rec, its header, then its records. */
	const size_t body = offsetof(struct store_rec, data) + STORE_REC_HDR;
	uint64_t rev = s->next_rev + 1, d_items = 0, d_bytes = 0;
	struct txn_view *made = NULL, made_stack[TXN_STACK_OPS];
	/* voffs: a write's value in batch (+1; 0: not a write); klens: each op's key's length */
	size_t *voffs = NULL, *klens, offs_stack[2 * TXN_STACK_OPS];
	struct text_buf batch = {0};
	struct store_op *op = NULL;
	struct op_ent *ents = NULL;
	struct text_buf text = {0};
	char rev_digits[JSONNUM_U64_MAX + 1];
	size_t rev_len;
	const char *rev_text = jsonnum_u64(rev, rev_digits, &rev_len); /* every write's result */
	int r = -ENOMEM;

	if (!done)
		return -EINVAL;
	for (size_t i = 0; i < ncmp && ok; i++)
		ok = txn_compare_holds(s, &cmps[i]);
	ops = ok ? succ : fail;
	nops = ok ? nsucc : nfail;
	if (nops < TXN_STACK_OPS) {
		made = made_stack;
		voffs = offs_stack;
		memset(voffs, 0, (nops + 1) * sizeof(*voffs));
	} else if (!(made = calloc(nops + 1, sizeof(*made))) ||
	           !(voffs = calloc(2 * (nops + 1), sizeof(*voffs)))) {
		goto out;
	}
	klens = voffs + nops + 1;
	r = -EINVAL;
	for (size_t i = 0; i < nops; i++) {
		klens[i] = strlen(ops[i].key);
		if (!store_key_valid(ops[i].key, klens[i]) ||
		    (ops[i].op == STORE_TXN_SET && !ops[i].value && !ops[i].vtext))
			goto out;
	}
	r = -ENOMEM;
	if (ret_results) {
		if (!text_reserve(&text, 2))
			goto out;
		text_put(&text, "[", 1);
	}
	if (!(op = op_get(s)) || !text_reserve(&batch, body + nops * TXN_REC_GUESS))
		goto out;
	batch.len = body;
	op->done = done;
	op->arg = arg;
	/* Each op over the state the ones before it leave; writes encoded at rev. */
	for (size_t i = 0; i < nops; i++) {
		const struct store_txn_op *o = &ops[i];
		size_t klen = klens[i];
		struct txn_view v;

		txn_view_of(s, ops, i, made, o->key, klen, &v);
		bool changed = false;

		r = -ENOMEM;
		if (ret_results && i > 0) {
			if (!text_reserve(&text, 1))
				goto out;
			text_put(&text, ",", 1);
		}
		if (o->op == STORE_TXN_GET) {
			/* A value this transaction sets is in the batch, which may have moved. */
			if (v.in_batch && v.exists)
				v.value = batch.p + v.voff;
			if (ret_results && !txn_text_item(&text, o->key, &v))
				goto out;
		} else if (o->op == STORE_TXN_UNSET && !v.exists) {
			made[i] = v;
		} else {
			/* Built where it stays: a copy of the view costs as much as filling it. */
			struct txn_view *w = &made[i];

			*w = (struct txn_view){.node = v.node, .in_batch = true};
			if (o->op == STORE_TXN_SET) {
				w->exists = true;
				w->rev = rev;
				w->create = v.exists ? v.create : rev;
				w->version = v.exists ? v.version + 1 : 1;
				w->eph.on = o->owner != NULL;
				if (o->owner)
					w->eph.who = *o->owner;
				has_eph = has_eph || w->eph.on;
				d_items += v.exists ? 0 : 1;
				has_set = true;
			} else {
				d_items--;
			}
			r = txn_append(s, &batch, o, klen, w, rev, &w->voff, &w->vlen);
			if (r < 0)
				goto out;
			if (o->op == STORE_TXN_SET)
				w->size = klen + w->vlen;
			voffs[i] = w->voff + 1;
			d_bytes += w->size - v.size;
			nw++;
			changed = true;
		}
		if (ret_results && o->op != STORE_TXN_GET) {
			r = -ENOMEM;
			ret_results->changed[i] = changed;
			if (!txn_text_change(&text, o->key, klen, changed ? rev_text : "0",
			                     changed ? rev_len : 1))
				goto out;
		}
	}
	scratch_trim(s);
	r = -ENOMEM;
	if (ret_results && !text_reserve(&text, 1))
		goto out;
	op->st = STORE_OK;
	if (nw == 0) {
		/* Nothing changes: no record, no new revision. */
		op->rev = s->next_rev;
		goto queue;
	}
	/* Only a transaction that sets is judged: one of nothing but unsets always works. */
	if (has_set && quota_check(s, d_items, d_bytes, op))
		goto queue;
	r = -E2BIG;
	if (batch.len - offsetof(struct store_rec, data) > STORE_REC_MAX)
		goto out;
	r = -ENOMEM;
	/* The per-record entries and their ephs in one block (op_put frees it as ents). */
	if (!(ents = calloc(nw, sizeof(*ents) + (has_eph ? sizeof(*op->ephs) : 0))))
		goto out;
	/* Every node (and set's block) first: failing here leaves only empty ones, removed again. */
	k = 0;
	for (size_t i = 0; i < nops; i++) {
		const struct store_txn_op *o = &ops[i];
		struct op_ent *e = &ents[k];
		struct store_node *n = made[i].node;
		bool created = !n;

		if (!voffs[i])
			continue;
		e->set = o->op == STORE_TXN_SET;
		made[i].value = e->set ? batch.p + made[i].voff : NULL;
		/* A new key's node holds its value from the start; another's gets a block. */
		if (created)
			n = made[i].node = node_new(s, o->key, klens[i], made[i].value, made[i].vlen);
		else if (e->set)
			e->block = node_block_spare(s, o->key, klens[i], made[i].value, made[i].vlen);
		if (!n || (!created && e->set && !e->block) || !(e->lat = node_lat(s, n))) {
			for (size_t j = 0; j <= i; j++) {
				if (voffs[j] && made[j].node)
					node_maybe_remove(s, made[j].node);
			}
			for (size_t j = 0; j <= k; j++)
				free(ents[j].block);
			goto out;
		}
		k++;
	}
	k = 0;
	for (size_t i = 0; i < nops; i++) {
		struct op_ent *e = &ents[k];
		struct store_node *n = made[i].node;

		if (!voffs[i])
			continue;
		if (has_eph)
			((struct eph *)(ents + nw))[k] = made[i].eph;
		*n->lat = (struct store_latest){.rev = made[i].rev,
		                                .create = made[i].create,
		                                .version = made[i].version,
		                                .size = made[i].size,
		                                .value = e->set ? node_value(e->block ? e->block : n)
		                                                : NULL,
		                                .vlen = (uint32_t)made[i].vlen,
		                                .eph = made[i].eph,
		                                .pending = n->lat->pending + 1,
		                                .node = n};
		k++;
	}
	op->rec = (struct store_rec *)batch.p;
	batch_seal(op->rec, batch.len - offsetof(struct store_rec, data), rev);
	batch.p = NULL;
	op->ents = ents;
	op->nents = nw;
	op->ephs = has_eph ? (struct eph *)(ents + nw) : NULL;
	ents = NULL;
	op->rev = rev;
	s->next_rev = rev;
	s->l_items += d_items;
	s->l_bytes += d_bytes;
queue:
	queue_op(s, op);
	op = NULL;
	*ret_succeeded = ok;
	if (ret_results) {
		text_put(&text, "]", 1); /* room made before anything was queued */
		ret_results->text = text.p;
		ret_results->len = text.len;
		text.p = NULL;
	}
	r = 0;
out:
	if (made != made_stack) {
		free(voffs);
		free(made);
	}
	free(batch.p);
	free(ents);
	if (op)
		op_put(s, op);
	free(text.p);
	return r;
}

/* An item's key, sorted (bytewise, then by place) to find duplicates and what replace keeps. */
struct restore_key {
	const char *key;
	size_t len, i;
};

static int restore_key_cmp(const void *a, const void *b)
{
	const struct restore_key *x = a, *y = b;
	int c = store_tree_keycmp(x->key, x->len, y->key, y->len);

	return c ? c : x->i < y->i ? -1 : x->i > y->i;
}

/* Replace: the keys present once the queue is durable that no item names, in key order. */
struct restore_walk {
	const struct restore_key *sorted;
	size_t nsorted, at;
	struct store_txn_op *ops;
	size_t nops;
	json_t *keys;
};

static int restore_visit(struct store_tree_link *l, void *arg)
{
	struct store_node *n = (struct store_node *)l;
	struct restore_walk *w = arg;
	int c = 1;

	if (node_latest(n).rev == 0)
		return 0;
	/* Both run in key order: a merge, not a look-up per key. */
	while (w->at < w->nsorted &&
	       (c = store_tree_keycmp(w->sorted[w->at].key, w->sorted[w->at].len, n->key,
	                              n->link.keylen)) < 0)
		w->at++;
	if (w->at < w->nsorted && c == 0)
		return 0;
	w->ops[w->nops].op = STORE_TXN_UNSET;
	w->ops[w->nops++].key = n->key;
	return json_array_append_new(w->keys, json_stringn(n->key, n->link.keylen));
}

int store_restore(struct store *s, const json_t *items, bool replace,
                  bool (*allowed)(const char *key, void *arg), void *allowed_arg,
                  store_done_fn done, void *arg, json_t **ret_unsets, size_t *ret_index)
{
	size_t n = json_array_size(items), dup = n;
	struct restore_key *sorted = calloc(n + 1, sizeof(*sorted));
	struct restore_walk w = {.sorted = sorted, .nsorted = n, .keys = json_array()};
	bool succeeded;
	int r = -ENOMEM;

	/* Replace's unsets (at most every item there is) first, then a set per item. */
	w.ops = calloc((replace ? s->l_items : 0) + n + 1, sizeof(*w.ops));
	if (!sorted || !w.keys || !w.ops)
		goto out;
	r = -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const json_t *it = json_array_get(items, i);
		const json_t *key = json_object_get(it, "key");

		if (!json_is_string(key) || !json_object_get(it, "value"))
			goto out;
		sorted[i] = (struct restore_key){json_string_value(key), json_string_length(key), i};
	}
	/* What dump wrote is in key order already: only sort what is not. */
	for (size_t i = 1; i < n; i++) {
		if (store_tree_keycmp(sorted[i - 1].key, sorted[i - 1].len, sorted[i].key,
		                      sorted[i].len) > 0) {
			qsort(sorted, n, sizeof(*sorted), restore_key_cmp);
			break;
		}
	}
	/* A key given twice: the earliest item that repeats one before it. */
	for (size_t i = 1; i < n; i++)
		if (store_tree_keycmp(sorted[i - 1].key, sorted[i - 1].len, sorted[i].key,
		                      sorted[i].len) == 0 &&
		    sorted[i].i < dup)
			dup = sorted[i].i;
	/* Items are judged in order, each first for repeating a key, then for being allowed. */
	for (size_t i = 0; allowed && i < dup; i++) {
		if (!allowed(json_string_value(json_object_get(json_array_get(items, i), "key")),
		             allowed_arg)) {
			*ret_index = i;
			r = -EPERM;
			goto out;
		}
	}
	if (dup < n) {
		*ret_index = dup;
		r = -EEXIST;
		goto out;
	}
	/* Replace: first every key that is not among the items goes, in key order. */
	r = -ENOMEM;
	if (replace && store_tree_walk_prefix(&s->map, "", 0, restore_visit, &w) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const json_t *it = json_array_get(items, i);

		w.ops[w.nops].op = STORE_TXN_SET;
		w.ops[w.nops].key = json_string_value(json_object_get(it, "key"));
		w.ops[w.nops++].value = json_object_get(it, "value");
	}
	r = store_txn(s, NULL, 0, w.ops, w.nops, NULL, 0, done, arg, &succeeded, NULL);
	if (r == 0) {
		*ret_unsets = w.keys;
		w.keys = NULL;
	}
out:
	free(sorted);
	free(w.ops);
	json_decref(w.keys);
	return r;
}

/* With mu held: move the loop's list to the end of the committer's queue. */
static void store_merge_local(struct store *s)
{
	if (!s->l_head)
		return;
	if (s->q_tail)
		s->q_tail->next = s->l_head;
	else
		s->q_head = s->l_head;
	s->q_tail = s->l_tail;
	s->l_head = s->l_tail = NULL;
	s->l_count = 0;
}

/* With mu held: the test hook's error for a group that carries a change. */
static int take_inject(struct store *s, const struct store_op *ops)
{
	int inject = 0;

	for (const struct store_op *op = ops; op; op = op->next) {
		if (op->rec) {
			inject = s->inject_err;
			s->inject_err = 0;
			break;
		}
	}
	return inject;
}

static void commit_inline(struct store *s, int inject);
static void compact_begin(struct store *s);
/*
 * The loop's part of "Inline commit": true when the one change of this
 * turn is taken care of here (written and answered, or the kick run once
 * more), false when it goes to the committer. Other events still active
 * are the rest of this turn, typically the connections read in it writing
 * their answers: the kick runs once more behind them, and only if nothing
 * is active then does the loop flush itself.
 */
static bool store_try_inline(struct store *s)
{
	int inject = 0;
	bool ok;

	if (s->no_inline || s->l_head != s->l_tail || !s->l_head->rec ||
	    s->l_head->rec->len > STORE_INLINE_MAX_BYTES) {
		s->kick_deferred = false;
		return false;
	}
	if (event_base_get_num_events(s->base, EVENT_BASE_COUNT_ACTIVE) != 0) {
		if (s->kick_deferred) {
			s->kick_deferred = false;
			return false;
		}
		s->kick_deferred = true;
		s->kick_pending = true;
		event_active(s->kick_ev, EV_TIMEOUT, 0);
		return true;
	}
	s->kick_deferred = false;
	pthread_mutex_lock(&s->mu);
	ok = s->waiting && !s->q_head && !s->broken && !s->paused && !s->compact_want &&
	     s->compact_req == s->compact_done && s->flush_ns < STORE_INLINE_MAX_NS;
	if (ok) {
		s->busy = true;
		inject = take_inject(s, s->l_head);
	}
	pthread_mutex_unlock(&s->mu);
	if (ok)
		commit_inline(s, inject);
	return ok;
}

/*
 * Hand everything submitted since the last hand-off to the committer. It
 * runs from an event made active by the first submit of a loop iteration,
 * i.e. after the loop has dispatched every connection that was ready: all
 * their changes then share one write and one fdatasync (as Redis does once
 * per loop iteration), and the committer is woken once, not per change.
 */
static void store_handoff(struct store *s)
{
	s->kick_pending = false;
	if (!s->l_head)
		return;
	pthread_mutex_lock(&s->mu);
	store_merge_local(s);
	pthread_mutex_unlock(&s->mu);
	/* After the unlock: woken under the lock, the committer would only
	 * block again on the mutex we hold, two more futex calls per group. */
	pthread_cond_signal(&s->work_cv);
}

static void on_kick_event(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;

	s->kick_pending = false;
	if (s->l_head && !store_try_inline(s))
		store_handoff(s);
}

int store_set(struct store *s, const char *key, json_t *value, int64_t expect_revision,
              store_done_fn done, void *arg)
{
	return submit(s, key, value, NULL, 0, true, expect_revision, NULL, done, arg);
}

int store_set_owned(struct store *s, const char *key, json_t *value, int64_t expect_revision,
                    const struct store_owner *owner, store_done_fn done, void *arg)
{
	return submit(s, key, value, NULL, 0, true, expect_revision, owner, done, arg);
}

int store_set_text(struct store *s, const char *key, json_t *value, const char *text, size_t len,
                   int64_t expect_revision, const struct store_owner *owner, store_done_fn done,
                   void *arg)
{
	return submit(s, key, value, text, len, true, expect_revision, owner, done, arg);
}

int store_unset(struct store *s, const char *key, int64_t expect_revision, store_done_fn done,
                void *arg)
{
	return submit(s, key, NULL, NULL, 0, false, expect_revision, NULL, done, arg);
}

void store_set_early(struct store *s, store_early_fn fn)
{
	s->early_fn = fn;
}

bool store_early_possible(const struct store *s)
{
	/* This turn's changes so far all share the next one's group (store_handoff). */
	return s->early_fn && s->l_count < STORE_EARLY_GROUP;
}

bool store_mark_early(struct store *s)
{
	struct store_op *op = s->l_tail;

	if (!op || !op_changes(op) || !s->early_fn)
		return false;
	op->early = true;
	return true;
}

/* ---- completions (loop thread) ---- */

static void apply_durable(struct store *s, struct store_op *op)
{
	s->rev = op->rev;
	for (size_t i = 0; i < op->nents; i++) {
		struct op_ent *e = &op->ents[i];
		struct store_node *n = e->lat->node;
		uint64_t was = node_size(n);

		s->items += e->set ? (n->rev ? 0 : 1) : (uint64_t)-1;
		n = node_commit(s, n, e->set, e->block, op->rev,
		                op->ephs ? op->ephs[i] : (struct eph){0});
		e->block = NULL; /* the node now */
		s->bytes += node_size(n) - was;
		n->lat->pending--;
		node_maybe_remove(s, n);
	}
}

/* The queued changes are gone: what the node will be is what it is. */
static void node_unwind(struct store *s, struct store_node *n)
{
	struct store_latest *l = n->lat;
	uint32_t pending = l->pending - 1;

	n->lat = NULL;
	*l = node_latest(n);
	l->pending = pending;
	n->lat = l;
	node_maybe_remove(s, n);
}

static void unwind_failed(struct store *s, struct store_op *op)
{
	for (size_t i = 0; i < op->nents; i++)
		node_unwind(s, op->ents[i].lat->node);
}

/*
 * Apply what the committer made durable and answer every op, in submission
 * order. inline_commit: after commit_inline, which never writes to the
 * eventfd (nothing to reset). *ret_want, *ret_ended: whether, when the list
 * was taken, the committer asked for a compaction (it writes nothing more
 * until it has one: once this list is applied the map is what the log
 * holds) or had ended the one it was given.
 */
static void answer_done_list(struct store *s, bool inline_commit, bool *ret_want,
                             bool *ret_ended)
{
	struct store_op *ops, *op, *next, *failed = NULL;
	char reason[160] = "", bg[sizeof(s->bg_msg)] = "";
	bool in_failed = false;
	uint64_t count, nfailed = 0;

	/*
	 * Reset the eventfd before taking the list: a group handed over after
	 * this read either is in the list taken below or wakes us again.
	 * EAGAIN (nothing to reset, e.g. when called from store_close) is fine.
	 */
	if (!inline_commit)
		(void)!read(s->efd, &count, sizeof(count));
	atomic_store_explicit(&s->done_ready, false, memory_order_relaxed);

	pthread_mutex_lock(&s->mu);
	if (s->bg_msg_ready) {
		memcpy(bg, s->bg_msg, sizeof(bg));
		s->bg_msg_ready = false;
	}
	ops = s->d_head;
	*ret_want = s->compact_want;
	*ret_ended = s->compacting && s->compact_done == s->compact_req;
	for (op = ops; op; op = op->next) {
		if (op->err) {
			failed = op;
			break;
		}
	}
	if (failed) {
		/*
		 * The committer stopped after the failed group, so everything
		 * still queued was checked against changes that will never
		 * exist: fail it too, rather than re-deciding it against a
		 * state its submitter never saw.
		 */
		store_merge_local(s);
		if (s->q_head) {
			s->d_tail->next = s->q_head;
			s->q_head = s->q_tail = NULL;
		}
		s->broken = false;
	}
	s->d_head = s->d_tail = NULL;
	pthread_mutex_unlock(&s->mu);

	if (bg[0])
		store_log(s, STORE_LOG_ERROR, "%s", bg);
	if (!failed) {
		/*
		 * Each change is applied just before its own answer, not the whole
		 * group first: a read its submitter queued behind it (methods/config.c)
		 * then sees it, and not the changes submitted after the read.
		 */
		for (op = ops; op; op = next) {
			next = op->next;
			if (op_changes(op))
				apply_durable(s, op);
			op->done(op->arg, op->st, op->rev, op->quota);
			op_put(s, op);
		}
		return;
	}
	for (op = ops; op != failed; op = op->next)
		if (op_changes(op))
			apply_durable(s, op);
	if (failed) {
		for (op = failed; op; op = op->next)
			if (op_changes(op))
				unwind_failed(s, op);
		/* Every queued change is gone: the next one follows the committed state. */
		s->next_rev = s->rev;
		s->l_items = s->items;
		s->l_bytes = s->bytes;
		snprintf(reason, sizeof(reason), "%s: %s", failed->what, strerror(failed->err));
		for (op = failed; op; op = op->next)
			nfailed++;
		store_log(s, STORE_LOG_ERROR,
		          "%s/%s: %s; %llu change(s) not applied, answered with an error "
		          "(check the disk; the store keeps serving)",
		          s->dir, LOG_NAME, reason, (unsigned long long)nfailed);
	}
	for (op = ops; op; op = next) {
		next = op->next;
		if (op == failed)
			in_failed = true;
		if (in_failed)
			op->done(op->arg, STORE_IO_ERROR, 0, reason);
		else
			op->done(op->arg, op->st, op->rev, op->quota);
		op_put(s, op);
	}
}

/*
 * The map's nodes with a committed value, in key order. Mapped, not
 * malloc'd: unmapped, it goes back to the system at once, where from
 * malloc's heap (after the first, mmap's threshold grows past its size) it
 * would stay in the daemon's memory between compactions.
 */
struct snap_fill {
	const struct store_node **nodes;
	size_t n, cap;
};

static void snap_free(const struct store_node **nodes, size_t cap)
{
	if (nodes)
		munmap((void *)nodes, (cap ? cap : 1) * sizeof(*nodes));
}

static int snap_collect(struct store_tree_link *l, void *arg)
{
	struct snap_fill *f = arg;
	const struct store_node *n = (const struct store_node *)l;

	if (!n->rev)
		return 0;
	if (f->n == f->cap)
		return -EOVERFLOW; /* more than s->items: a store bug */
	f->nodes[f->n++] = n;
	return 0;
}

/* NULL on ENOMEM. */
static struct snap_fill snap_list(struct store *s)
{
	struct snap_fill f = {.cap = s->items};
	void *p = mmap(NULL, (f.cap ? f.cap : 1) * sizeof(*f.nodes), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	f.nodes = p == MAP_FAILED ? NULL : p;
	if (f.nodes && store_tree_walk_prefix(&s->map, "", 0, snap_collect, &f) != 0) {
		snap_free(f.nodes, f.cap);
		f.nodes = NULL;
	}
	return f;
}

/*
 * Compaction. The snapshot is written by the committer from the loop's own
 * nodes, not from a copy of the state: when the log calls for one, the
 * committer asks (compact_want) and writes nothing more; the loop, once it
 * has applied everything handed back (its map is then exactly what the log
 * holds, at s->rev), gives it the nodes with a value, in key order, and the
 * committer writes them while the loop goes on. What it reads of a node
 * (revisions, owner set or not, key, value) only changes when a durable
 * change is applied, and a node with a value is freed only then: changes
 * are applied only from groups the committer hands back, and it writes none
 * until it is done. Submissions meanwhile add and drop nodes without a
 * value and rebalance the tree (links it never reads). Writes wait, as they
 * waited for the committer's own snapshot from its copy of the state.
 */
static void compact_begin(struct store *s)
{
	struct snap_fill f = snap_list(s);

	pthread_mutex_lock(&s->mu);
	s->snap = f.nodes;
	s->snap_count = f.n;
	s->snap_cap = f.cap;
	s->snap_rev = s->rev;
	s->compact_want = false;
	s->compact_req++;
	pthread_mutex_unlock(&s->mu);
	s->compacting = f.nodes != NULL;
	pthread_cond_signal(&s->work_cv);
}

/* The committer is done with the nodes it was given. */
static void compact_end(struct store *s)
{
	s->compacting = false;
	snap_free(s->snap, s->snap_cap);
	s->snap = NULL;
}

static void process_done_list(struct store *s, bool inline_commit)
{
	bool want, ended;

	answer_done_list(s, inline_commit, &want, &ended);
	if (ended)
		compact_end(s);
	if (want && !s->compacting)
		compact_begin(s);
}

static void process_done(struct store *s)
{
	process_done_list(s, false);
}

static void on_done_event(evutil_socket_t fd, short what, void *arg)
{
	process_done(arg);
}

void store_poll(struct store *s)
{
	if (atomic_load_explicit(&s->done_ready, memory_order_acquire))
		process_done(s);
}

/* ---- the committer thread ---- */

static int pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		ssize_t n = pwritev(fd, iov, cnt, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		off += (uint64_t)n;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int fdatasync_retry(int fd)
{
	while (fdatasync(fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static int fsync_retry(int fd)
{
	while (fsync(fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/*
 * Best effort: zeros already written and synced make each later fdatasync
 * flush data only (PostgreSQL zero-fills its WAL segments for the same
 * reason). Once per PREALLOC_CHUNK of log. Where it fails, the record write
 * extends the file and is still correct. Not for a group bigger than a
 * chunk (a restore): zeros ahead of it would cost a second write and a
 * second flush of as many bytes, where its own flush pays for the new size
 * once.
 */
static void prealloc(struct store *s, uint64_t end)
{
	static const char zeros[64 * 1024];
	uint64_t from = s->log_alloc > s->log_off ? s->log_alloc : s->log_off, to, off;

	if (end <= from || end - s->log_off > PREALLOC_CHUNK)
		return;
	to = (end + PREALLOC_CHUNK - 1) / PREALLOC_CHUNK * PREALLOC_CHUNK;
	for (off = from; off < to;) {
		size_t n = to - off < sizeof(zeros) ? (size_t)(to - off) : sizeof(zeros);
		ssize_t w = pwrite(s->logfd, zeros, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (uint64_t)w;
	}
	if (fdatasync_retry(s->logfd) == 0)
		s->log_alloc = to;
}

/* Cut the log back to its last durable record after a failed write. */
static void rollback(struct store *s)
{
	if (ftruncate(s->logfd, (off_t)s->log_off) < 0 || fsync_retry(s->logfd) < 0) {
		s->dead_err = errno ? errno : EIO;
		return;
	}
	s->log_alloc = s->log_off;
}

/*
 * Write and fdatasync every record of the group. Returns the number of
 * records made durable, or -errno with *ret_what naming the failed call.
 */
static int commit_group(struct store *s, struct store_op *ops, int inject, const char **ret_what)
{
	uint64_t total = 0, bytes = 0, off = s->log_off;
	struct store_op *op;
	int cnt = 0, nrec = 0, r = 0;

	for (op = ops; op; op = op->next) {
		if (op->rec) {
			total += op->rec->len;
			nrec++;
		}
	}
	if (nrec == 0)
		return 0;
	if (s->dead_err) {
		*ret_what = "log unusable since a failed write could not be undone (ftruncate)";
		return -s->dead_err;
	}
	prealloc(s, s->log_off + total);
	*ret_what = "write";
	if (inject) {
		/* Leave a torn record behind, as a real short write would. */
		for (op = ops; !op->rec; op = op->next)
			;
		s->iov[0].iov_base = op->rec->data;
		s->iov[0].iov_len = op->rec->len / 2;
		r = pwritev_all(s->logfd, s->iov, 1, off);
		if (r == 0)
			r = -inject;
	}
	for (op = ops; op && r == 0; op = op->next) {
		if (!op->rec)
			continue;
		s->iov[cnt].iov_base = op->rec->data;
		s->iov[cnt].iov_len = op->rec->len;
		bytes += op->rec->len;
		if (++cnt == IOV_MAX) {
			r = pwritev_all(s->logfd, s->iov, cnt, off);
			off += bytes;
			cnt = 0;
			bytes = 0;
		}
	}
	if (r == 0 && cnt > 0)
		r = pwritev_all(s->logfd, s->iov, cnt, off);
	if (r == 0) {
		*ret_what = "fdatasync";
		r = fdatasync_retry(s->logfd);
	}
	if (r < 0) {
		rollback(s);
		return r;
	}
	s->log_off += total;
	for (op = ops; op; op = op->next)
		if (op->rec)
			s->wrev = op->rev;
	return nrec;
}

/* A snapshot record's header: a SET2's. */
#define SNAP_REC_HDR (STORE_REC_HDR + STORE_SET2_META)
/* Records per pwritev of a snapshot: three iovecs each (header, key, value), and the file's header. */
#define SNAP_BATCH ((IOV_MAX - 1) / 3)

struct snap_writer {
	struct store *s;
	int fd;
	uint64_t off;
	int cnt;     /* iovecs filled */
	size_t hdrs; /* of s->snap_hdrs used */
};

static int snap_flush(struct snap_writer *w)
{
	uint64_t bytes = 0;
	int r;

	for (int i = 0; i < w->cnt; i++)
		bytes += w->s->iov[i].iov_len;
	r = pwritev_all(w->fd, w->s->iov, w->cnt, w->off);
	w->off += bytes;
	w->cnt = 0;
	w->hdrs = 0;
	return r;
}

static void snap_iov(struct snap_writer *w, const void *p, size_t len)
{
	w->s->iov[w->cnt].iov_base = (void *)p;
	w->s->iov[w->cnt++].iov_len = len;
}

/*
 * A node as a snapshot's SET2 record: its header made here, its key and
 * value written from the node's block, which does not change while the
 * compaction has it (see "Compaction").
 */
static int snap_node(struct snap_writer *w, const struct store_node *n)
{
	unsigned char *hdr;
	int r;

	if (w->hdrs == SNAP_BATCH && (r = snap_flush(w)) < 0)
		return r;
	hdr = w->s->snap_hdrs + w->hdrs++ * SNAP_REC_HDR;
	store_rec_seal_parts(hdr, n->rev, STORE_OP_SET2 | (n->owner ? STORE_EPHEMERAL : 0), n->key,
	                     n->link.keylen, node_value(n), n->vlen, n->create_rev, n->version);
	snap_iov(w, hdr, SNAP_REC_HDR);
	snap_iov(w, n->key, n->link.keylen);
	snap_iov(w, node_value(n), n->vlen);
	return 0;
}

/*
 * Write the count nodes (the committed state at rev, in key order) as a new
 * snapshot and empty the log, which must end at rev. Every step leaves a
 * state recovery reads correctly: until the rename the old snapshot and the
 * full log stand; after it, log records <= the snapshot's revision are
 * skipped, so the log is only cut once the rename is durable.
 */
static int compact(struct store *s, const struct store_node *const *nodes, size_t count,
                   uint64_t rev, const char **ret_what)
{
	unsigned char hdr[STORE_SNAP_HDR];
	struct snap_writer w = {.s = s, .fd = -1};
	int r = 0;

	*ret_what = "take the state at the log's end (a store bug)";
	if (rev != s->wrev)
		return -EINVAL;
	*ret_what = "create " SNAP_TMP_NAME;
	w.fd = openat(s->dirfd, SNAP_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w.fd < 0)
		return -errno;
	*ret_what = "write " SNAP_TMP_NAME;
	store_snap_header(hdr, rev, count);
	snap_iov(&w, hdr, sizeof(hdr));
	for (size_t i = 0; i < count && r == 0; i++)
		r = snap_node(&w, nodes[i]);
	if (r == 0)
		r = snap_flush(&w);
	if (r == 0)
		r = fsync_retry(w.fd);
	if (close(w.fd) < 0 && r == 0)
		r = -errno;
	if (r == 0) {
		*ret_what = "rename " SNAP_TMP_NAME " to " SNAP_NAME;
		if (renameat(s->dirfd, SNAP_TMP_NAME, s->dirfd, SNAP_NAME) < 0)
			r = -errno;
	}
	if (r < 0) {
		unlinkat(s->dirfd, SNAP_TMP_NAME, 0);
		return r;
	}
	*ret_what = "fsync the state directory";
	r = fsync_retry(s->dirfd);
	if (r < 0)
		return r; /* the snapshot may not be durable yet: keep the log whole */
	s->snap_size = w.off;
	*ret_what = "empty " LOG_NAME;
	if (ftruncate(s->logfd, 0) < 0)
		return -errno;
	s->log_off = s->log_alloc = 0;
	return fsync_retry(s->logfd);
}

static void wake_loop(struct store *s);

/* The committer's part of a compaction: nodes NULL when the loop could not list them. */
static int run_compaction(struct store *s, const struct store_node *const *nodes, size_t count,
                          uint64_t rev)
{
	const char *what = "list the committed items (out of memory)";
	int r = nodes ? compact(s, nodes, count, rev, &what) : -ENOMEM;

	/* After a failure, wait for another COMPACT_MIN of log before retrying. */
	if (r == 0)
		s->compact_at = s->snap_size * 2 > COMPACT_MIN ? s->snap_size * 2 : COMPACT_MIN;
	else
		s->compact_at = s->log_off + COMPACT_MIN;
	pthread_mutex_lock(&s->mu);
	if (r == 0) {
		s->stats.compactions++;
	} else {
		s->stats.compaction_errors++;
		/* The committer never calls the log function: the loop does (store_options). */
		snprintf(s->bg_msg, sizeof(s->bg_msg),
		         "%s: compaction failed: %s: %s; %s stays whole (%llu bytes) and the "
		         "next try comes after %u more bytes of it",
		         s->dir, what, strerror(-r), LOG_NAME, (unsigned long long)s->log_off,
		         COMPACT_MIN);
		s->bg_msg_ready = true;
	}
	s->stats.log_bytes = s->log_off;
	s->stats.snapshot_bytes = s->snap_size;
	pthread_mutex_unlock(&s->mu);
	if (r < 0)
		wake_loop(s);
	return r;
}

static void wake_loop(struct store *s)
{
	uint64_t one = 1;
	ssize_t n;

	/* Only EAGAIN (counter full) can fail, and then a wake-up is pending anyway. */
	do
		n = write(s->efd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

/* With mu held, the group handed back: the early answers marked in it (see "Early answers"). */
static void send_early(struct store *s, struct store_op *ops)
{
	for (struct store_op *op = ops; op; op = op->next)
		if (op->early && op->err == 0)
			s->early_fn(op->arg, op->rev);
}

/* commit_group, and how long it took in *ret_ns. */
static int commit_timed(struct store *s, struct store_op *ops, int inject, const char **ret_what,
                        uint64_t *ret_ns)
{
	uint64_t t0 = clock_now_ns();
	int r = commit_group(s, ops, inject, ret_what);

	*ret_ns = clock_now_ns() - t0;
	return r;
}

/*
 * A group written (r records, or -errno from what) in ns: marked, handed to
 * the loop's list, counted (flush_ns: an average over the last ~8 groups);
 * early: its marked early answers sent and, when the log calls for a
 * compaction, the loop asked for one with the group (the committer's way).
 * Whether the loop must be woken for it.
 */
static bool hand_back(struct store *s, struct store_op *ops, int r, const char *what, uint64_t ns,
                      bool early)
{
	struct store_op *op;
	bool wake, failing = false;

	/*
	 * On failure, answers decided before the group's first change
	 * depend only on durable state: they stand. From that change on,
	 * everything fails.
	 */
	for (op = ops; op; op = op->next) {
		failing = failing || (r < 0 && op->rec);
		op->err = failing ? -r : 0;
		op->what = what;
	}

	pthread_mutex_lock(&s->mu);
	wake = !s->d_head;
	if (s->d_tail)
		s->d_tail->next = ops;
	else
		s->d_head = ops;
	for (op = ops; op->next; op = op->next)
		;
	s->d_tail = op;
	atomic_store_explicit(&s->done_ready, true, memory_order_release);
	if (early && r > 0 && r <= STORE_EARLY_GROUP)
		send_early(s, ops);
	if (early && r > 0 && s->log_off >= s->compact_at)
		s->compact_want = true;
	if (r < 0) {
		s->broken = true;
		s->stats.write_errors++;
	} else if (r > 0) {
		s->stats.groups++;
		s->stats.records += (uint64_t)r;
		s->flush_ns = s->flush_ns - s->flush_ns / 8 + ns / 8;
	}
	s->stats.log_bytes = s->log_off;
	s->busy = false;
	pthread_cond_broadcast(&s->idle_cv);
	pthread_mutex_unlock(&s->mu);
	return wake;
}

/*
 * On the loop (see "Inline commit"; busy set, the test hook's inject
 * taken): the one change of this turn written, made durable and answered
 * here. A compaction it calls for is the committer's, as a request.
 */
static void commit_inline(struct store *s, int inject)
{
	struct store_op *ops = s->l_head;
	const char *what = NULL;
	uint64_t ns;
	int r;

	s->l_head = s->l_tail = NULL;
	s->l_count = 0;
	r = commit_timed(s, ops, inject, &what, &ns);
	/* No early answer: the callback, run right below, answers as soon, and
	 * in its own order (udsrpcd publishes the change's events first). */
	(void)hand_back(s, ops, r, what, ns, false);
	process_done_list(s, true);
	/* Everything written is applied now: the state a snapshot needs. */
	if (r > 0 && s->log_off >= s->compact_at && !s->compacting)
		compact_begin(s);
}

static void *committer_main(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct store_op *ops;
		const char *what = NULL;
		uint64_t ns;
		int inject = 0, r;
		bool wake;

		if (s->compact_req != s->compact_done) {
			uint64_t req = s->compact_req, rev = s->snap_rev;
			const struct store_node *const *nodes = s->snap;
			size_t count = s->snap_count;

			pthread_mutex_unlock(&s->mu);
			r = run_compaction(s, nodes, count, rev);
			pthread_mutex_lock(&s->mu);
			s->compact_done = req;
			s->compact_result = r;
			pthread_cond_broadcast(&s->idle_cv);
			/* The loop frees the list of nodes it gave. */
			atomic_store_explicit(&s->done_ready, true, memory_order_release);
			pthread_mutex_unlock(&s->mu);
			wake_loop(s);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		/* Asked the loop for a compaction's nodes: no group until they come. */
		if (!s->q_head || s->broken || s->paused || s->compact_want) {
			/* store_close has drained the queue (and unpaused) before stop. */
			if (s->stop)
				break;
			s->waiting = !s->q_head && !s->stop && s->compact_req == s->compact_done;
			pthread_cond_wait(&s->work_cv, &s->mu);
			s->waiting = false;
			continue;
		}
		ops = s->q_head;
		s->q_head = s->q_tail = NULL;
		inject = take_inject(s, ops);
		s->busy = true;
		pthread_mutex_unlock(&s->mu);

		r = commit_timed(s, ops, inject, &what, &ns);
		wake = hand_back(s, ops, r, what, ns, true);
		if (wake)
			wake_loop(s);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- open and recovery ---- */

static int read_all(int fd, unsigned char **ret_buf, size_t *ret_len)
{
	struct stat st;
	unsigned char *buf;
	size_t len, got = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	len = (size_t)st.st_size;
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			free(buf);
			return -e;
		}
		got += (size_t)n;
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

/* A recovered value read back (NULL: not JSON), to know that it is. */
static json_t *load_value(const struct store_rec_view *v)
{
	return value_load(v->value, v->vlen);
}

/*
 * Apply one recovered set or unset to the map; -EBADMSG if its
 * value is not JSON. A release 1 set (no create_rev/version) gets what
 * node_commit derives from the state before it, and its value as this
 * release writes it (its numbers were written by jansson alone); the next
 * snapshot writes them all as SET2 records. value:
 * the set's, parsed already (taken), or NULL.
 */
static int load_one(struct store *s, const struct store_rec_view *v, json_t *value)
{
	struct store_node *n = node_find(s, v->key, v->keylen), *block = NULL;
	uint64_t create, version, was;
	const char *text = v->value;
	size_t tlen = v->vlen;
	bool had;
	int r;

	if (v->op == STORE_OP_UNSET) {
		/* Nothing is queued while loading: the latest state is the committed one. */
		if (n && n->rev) {
			s->items--;
			s->bytes -= node_size(n);
		}
		if (n) {
			node_commit(s, n, false, NULL, 0, (struct eph){0});
			node_maybe_remove(s, n);
		}
		return 0;
	}
	if (!value && !(value = load_value(v)))
		return -EBADMSG;
	if (v->op == STORE_OP_SET2) {
		create = v->create_rev;
		version = v->version;
	} else {
		create = n && n->rev ? n->create_rev : v->rev;
		version = n && n->rev ? n->version + 1 : 1;
		if ((r = scratch_dump(s, value, &text, &tlen)) < 0) {
			json_decref(value);
			return r == -EINVAL ? -EBADMSG : r;
		}
	}
	json_decref(value);
	had = n != NULL;
	if (had)
		block = node_block(v->key, v->keylen, text, tlen);
	else
		n = node_new(s, v->key, v->keylen, text, tlen);
	if (had ? !block : !n)
		return -ENOMEM;
	was = node_size(n);
	s->items += n->rev ? 0 : 1;
	n = node_commit(s, n, true, block, v->rev, (struct eph){.on = v->ephemeral});
	n->create_rev = create;
	n->version = version;
	s->bytes += node_size(n) - was;
	return 0;
}

/* A record of the log or the snapshot; a batch whole or (-EBADMSG) not at all. */
static int load_record(struct store *s, const struct store_rec_view *v)
{
	/* A batch's records, read once (each read checks its CRC again), with their values. */
	struct batch_item {
		struct store_rec_view b;
		json_t *value;
	} stack[64], *items = stack;
	size_t off = 0, n = 0, most = v->vlen / STORE_REC_HDR;
	int r = 0;

	if (v->op != STORE_OP_BATCH)
		return load_one(s, v, NULL);
	if (most > sizeof(stack) / sizeof(stack[0]) && !(items = malloc(most * sizeof(*items))))
		return -ENOMEM;
	/* Every value must parse before any of them is applied; each is parsed once. */
	while (r == 0 && n < most && store_batch_next(v, &off, &items[n].b) == 0) {
		struct batch_item *it = &items[n++];

		it->value = it->b.op == STORE_OP_UNSET ? NULL : load_value(&it->b);
		if (it->b.op != STORE_OP_UNSET && !it->value)
			r = -EBADMSG;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = load_one(s, &items[i].b, items[i].value);
		items[i].value = NULL; /* taken */
	}
	for (size_t i = 0; i < n; i++)
		json_decref(items[i].value);
	if (items != stack)
		free(items);
	return r;
}

static int load_snapshot(struct store *s, char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	uint64_t revision, count, i;
	size_t len, off = STORE_SNAP_HDR;
	int fd, r;

	fd = openat(s->dirfd, SNAP_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(err, errlen, "cannot open %s/%s: %s", s->dir, SNAP_NAME, strerror(-r));
		return r;
	}
	r = read_all(fd, &buf, &len);
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s/%s: %s", s->dir, SNAP_NAME, strerror(-r));
		return r;
	}
	r = store_snap_parse_header(buf, len, &revision, &count);
	for (i = 0; r == 0 && i < count; i++) {
		struct store_rec_view v;

		r = store_rec_parse(buf + off, len - off, &v);
		if (r == 0 && ((v.op != STORE_OP_SET && v.op != STORE_OP_SET2) || v.rev == 0 ||
		               v.rev > revision ||
		               node_find(s, v.key, v.keylen)))
			r = -EBADMSG;
		if (r == 0)
			r = load_record(s, &v);
		if (r == 0)
			off += v.len;
	}
	if (r == 0 && off != len)
		r = -EBADMSG;
	free(buf);
	if (r == -ENOMEM) {
		snprintf(err, errlen, "out of memory loading %s/%s", s->dir, SNAP_NAME);
		return r;
	}
	if (r < 0) {
		snprintf(err, errlen,
		         "%s/%s is damaged (bad data at byte %zu); restore the state directory "
		         "from a backup",
		         s->dir, SNAP_NAME, off);
		return -EBADMSG;
	}
	s->rev = revision;
	s->snap_size = len;
	return 0;
}

/*
 * How recovery reads config.log. Opening (repair false), the first damage
 * ends the reading: a torn last record is dropped, anything else refuses.
 * Repairing, every record that reads back and comes later than the state so
 * far is applied, and the bytes of the rest are copied to dam.
 */
struct replay {
	bool repair;
	uint64_t applied;
	uint64_t lost_records; /* repair: revisions missing, stale and torn records */
	unsigned char *dam;    /* repair: the unusable bytes, dam_len of them */
	size_t dam_len;
	size_t end;            /* opening: where the log is cut (the end of its records) */
};

/* The next record after a damaged spot that reads back and is later than rev; len if none. */
static size_t next_readable(const unsigned char *buf, size_t len, size_t from, uint64_t rev)
{
	/* Byte by byte, and only after damage: the length and header checks
	 * reject almost every offset before the checksum is computed. */
	for (size_t p = from; p + STORE_REC_HDR <= len; p++) {
		struct store_rec_view v;

		if (store_rec_parse(buf + p, len - p, &v) == 0 && v.rev > rev)
			return p;
	}
	return len;
}

static void replay_set_aside(struct replay *rp, const unsigned char *buf, size_t from, size_t to)
{
	memcpy(rp->dam + rp->dam_len, buf + from, to - from);
	rp->dam_len += to - from;
}

static int replay_log(struct store *s, const unsigned char *buf, size_t len, struct replay *rp,
                      char *err, size_t errlen)
{
	uint64_t base = s->rev, skipped_rev = 0;
	size_t off = 0, data_end = len;
	bool tail_damaged = false;
	int r;

	/* Zeros at the end are the preallocated tail, not data (no record ends in a zero byte). */
	while (data_end > 0 && buf[data_end - 1] == 0)
		data_end--;
	while (off < data_end) {
		struct store_rec_view v;
		const char *why;
		size_t next;
		int pr = store_rec_parse(buf + off, len - off, &v);

		if (pr == 0 && v.rev == 0)
			pr = -EBADMSG;
		if (pr == 0 && v.rev <= base && rp->applied == 0 && v.rev > skipped_rev) {
			/* Already in the snapshot: a compaction ended before emptying the log. */
			skipped_rev = v.rev;
			off += v.len;
			continue;
		}
		if (pr == 0 && v.rev > base + 1 && rp->applied == 0 && !rp->repair) {
			snprintf(err, errlen,
			         "%s/%s starts at revision %llu but %s holds revision %llu: the "
			         "files do not belong together; put back the %s that goes with it",
			         s->dir, LOG_NAME, (unsigned long long)v.rev, SNAP_NAME,
			         (unsigned long long)base, SNAP_NAME);
			return -EBADMSG;
		}
		if (pr == 0 && (v.rev == s->rev + 1 || (rp->repair && v.rev > s->rev))) {
			r = load_record(s, &v);
			if (r == -ENOMEM) {
				snprintf(err, errlen, "out of memory replaying %s/%s", s->dir,
				         LOG_NAME);
				return r;
			}
			if (r == 0) {
				/* Repairing, a gap in the revisions is what the damage held. */
				rp->lost_records += v.rev - s->rev - 1;
				tail_damaged = false;
				s->rev = v.rev;
				rp->applied++;
				off += v.len;
				continue;
			}
			why = "a record whose value is not JSON";
			next = off + v.len;
		} else if (pr == 0) {
			why = "a record out of sequence";
			next = off + v.len;
		} else {
			why = "bytes that are not a whole record";
			next = next_readable(buf, data_end, off + 1, s->rev);
			if (next >= data_end && !rp->repair) {
				/* Nothing readable after it: a write a crash cut short. */
				store_log(s, STORE_LOG_WARNING,
				          "%s/%s: dropped a torn last record at offset %zu (%zu "
				          "bytes), a write that was never acknowledged",
				          s->dir, LOG_NAME, off, data_end - off);
				s->stats.dropped_bytes = data_end - off;
				break;
			}
		}
		if (!rp->repair) {
			char where[64] = "";

			if (pr != 0 && next < data_end)
				snprintf(where, sizeof(where), ", readable again at offset %zu", next);
			snprintf(err, errlen,
			         "%s/%s is damaged at offset %zu (%s%s); the records after it were "
			         "acknowledged, so the store does not start without them: run "
			         "'udsrpcd --repair -S %s' to keep every record that reads back and "
			         "move the rest aside",
			         s->dir, LOG_NAME, off, why, where, s->dir);
			return -EBADMSG;
		}
		/*
		 * Records lost are counted by the revisions missing when the next
		 * readable one is applied; only a stale duplicate, or damage with
		 * nothing readable after it, is counted here.
		 */
		if (pr == 0 && v.rev <= s->rev)
			rp->lost_records++;
		else
			tail_damaged = true;
		replay_set_aside(rp, buf, off, next);
		off = next;
	}
	if (tail_damaged)
		rp->lost_records++;
	/* A log of nothing but records the snapshot holds is better started afresh. */
	rp->end = rp->applied == 0 ? 0 : off;
	s->stats.replayed_records = rp->applied;
	return 0;
}

static int open_dir(struct store *s, bool create, char *err, size_t errlen)
{
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0 && errno == ENOENT && create) {
		char *parent = strdup(s->dir), *slash;
		int pfd;

		if (!parent)
			return -ENOMEM;
		if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
			int r = -errno;

			free(parent);
			snprintf(err, errlen, "cannot create state directory %s: %s", s->dir,
			         strerror(-r));
			return r;
		}
		/* The new directory's entry must be durable before anything in it is. */
		slash = strrchr(parent, '/');
		if (slash)
			*(slash == parent ? slash + 1 : slash) = '\0';
		pfd = open(slash ? parent : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd >= 0) {
			fsync(pfd);
			close(pfd);
		}
		free(parent);
		s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (s->dirfd < 0) {
		int r = -errno;

		snprintf(err, errlen, "cannot open state directory %s: %s", s->dir, strerror(-r));
		return r;
	}
	return 0;
}

/*
 * Every file of the store is opened with O_NOFOLLOW: a symlink planted as
 * config.log would otherwise have the daemon truncate or write whatever file
 * it points at (a root-owned one, when the daemon is root).
 */
static int open_log(struct store *s, char *err, size_t errlen)
{
	bool created = false;

	s->logfd = openat(s->dirfd, LOG_NAME, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (s->logfd < 0 && errno == ENOENT) {
		s->logfd = openat(s->dirfd, LOG_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		created = true;
	}
	if (s->logfd < 0) {
		int r = -errno;

		snprintf(err, errlen, "cannot open %s/%s: %s", s->dir, LOG_NAME, strerror(-r));
		return r;
	}
	if (flock(s->logfd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

		snprintf(err, errlen,
		         "%s/%s is in use by another process (another udsrpcd with this state "
		         "directory?); stop it or pick another state_dir",
		         s->dir, LOG_NAME);
		return r;
	}
	if (created && fsync_retry(s->dirfd) < 0) {
		int r = -errno;

		snprintf(err, errlen, "cannot fsync state directory %s: %s", s->dir, strerror(-r));
		return r;
	}
	return 0;
}

static void store_free(struct store *s)
{
	struct store_op *op;

	if (s->done_ev)
		event_free(s->done_ev);
	if (s->kick_ev)
		event_free(s->kick_ev);
	store_tree_clear(&s->map, node_free_link);
	compact_end(s);
	while ((op = s->op_cache)) {
		s->op_cache = op->next;
		free(op);
	}
	while (s->lat_cache) {
		struct store_latest *l = s->lat_cache;

		s->lat_cache = l->next;
		free(l);
	}
	for (size_t i = 0; i < NODE_SPARE_STEPS; i++) {
		while (s->node_spare[i]) {
			struct store_node *n = s->node_spare[i];

			s->node_spare[i] = (struct store_node *)n->lat;
			free(n);
		}
	}
	free(s->scratch);
	free(s->item.p);
	json_decref(s->got);
	free(s->iov);
	free(s->snap_hdrs);
	if (s->efd >= 0)
		close(s->efd);
	if (s->logfd >= 0)
		close(s->logfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->idle_cv);
	pthread_mutex_destroy(&s->mu);
	free(s->dir);
	free(s);
}

/* A store with nothing open yet, or NULL (message in err). */
static struct store *store_alloc(const char *dir, const struct store_options *opt, char *err,
                                 size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));

	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		snprintf(err, errlen, "out of memory opening the store");
		return NULL;
	}
	if (opt)
		s->opt = *opt;
	s->efd = s->dirfd = s->logfd = -1;
	s->map.key_off = offsetof(struct store_node, key);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	pthread_cond_init(&s->idle_cv, NULL);
	s->iov = calloc(IOV_MAX, sizeof(*s->iov));
	s->snap_hdrs = malloc(SNAP_BATCH * SNAP_REC_HDR);
	if (!s->iov || !s->snap_hdrs) {
		snprintf(err, errlen, "out of memory opening the store");
		store_free(s);
		return NULL;
	}
	return s;
}

/* Open the files (dir created when create) and load snapshot and log as rp says. */
static int store_load(struct store *s, bool create, struct replay *rp, char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int r;

	r = open_dir(s, create, err, errlen);
	if (r == 0)
		r = open_log(s, err, errlen);
	if (r < 0)
		return r;
	/* A snapshot that never got renamed: the log still holds all it had. */
	if (unlinkat(s->dirfd, SNAP_TMP_NAME, 0) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "cannot remove %s/%s: %s", s->dir, SNAP_TMP_NAME,
		         strerror(-r));
		return r;
	}
	r = load_snapshot(s, err, errlen);
	if (r < 0)
		return r;
	r = read_all(s->logfd, &buf, &len);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s/%s: %s", s->dir, LOG_NAME, strerror(-r));
		return r;
	}
	if (rp->repair && !(rp->dam = malloc(len ? len : 1)))
		r = -ENOMEM;
	if (r == 0)
		r = replay_log(s, buf, len, rp, err, errlen);
	free(buf);
	if (r < 0 || rp->repair)
		return r;
	if (len != rp->end) {
		if (ftruncate(s->logfd, (off_t)rp->end) < 0 || fsync_retry(s->logfd) < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot cut the torn tail of %s/%s: %s", s->dir,
			         LOG_NAME, strerror(-r));
			return r;
		}
	}
	s->log_off = s->log_alloc = rp->end;
	return 0;
}

struct purge {
	enum store_status st;
	uint64_t rev;
	char reason[160];
};

static void purge_done(void *arg, enum store_status st, uint64_t revision, const char *reason)
{
	struct purge *p = arg;

	p->st = st;
	p->rev = revision;
	snprintf(p->reason, sizeof(p->reason), "%s", reason ? reason : "");
}

static void store_drain(struct store *s);

/*
 * Ephemeral items belong to connections, and none outlives the daemon:
 * what the last run left is removed before anyone can read it, as one
 * revision like any change, so the counter only goes forward.
 */
static int purge_ephemeral(struct store *s, char *err, size_t errlen)
{
	struct prefix_walk w = {.by_owner = true, .any_owner = true};
	struct purge p = {.st = STORE_IO_ERROR};
	json_t *keys = NULL;
	size_t n;
	int r;

	if (store_tree_walk_prefix(&s->map, "", 0, prefix_visit, &w) < 0) {
		free(w.nodes);
		snprintf(err, errlen, "out of memory opening the store");
		return -ENOMEM;
	}
	if ((n = w.n) == 0) {
		free(w.nodes);
		return 0;
	}
	if ((r = unset_batch(s, &w, purge_done, &p, &keys)) < 0) {
		snprintf(err, errlen, "cannot remove the ephemeral items left in %s: %s", s->dir,
		         strerror(-r));
		return r;
	}
	store_drain(s);
	if (p.st != STORE_OK) {
		json_decref(keys);
		snprintf(err, errlen, "cannot remove the ephemeral items left in %s/%s: %s", s->dir,
		         LOG_NAME, p.reason);
		return -EIO;
	}
	if (s->opt.purged)
		s->opt.purged(s->opt.purged_arg, p.rev, keys);
	json_decref(keys);
	s->stats.ephemeral_removed = n;
	store_log(s, STORE_LOG_INFO,
	          "%s: removed %zu ephemeral item(s) left from before the restart, as revision %llu",
	          s->dir, n, (unsigned long long)p.rev);
	return 0;
}

int store_open(const char *dir, struct event_base *base, const struct store_options *opt,
               struct store **ret, char *err, size_t errlen)
{
	struct store *s = store_alloc(dir, opt, err, errlen);
	struct replay rp = {.repair = false};
	sigset_t all, old;
	int r;

	if (!s)
		return -ENOMEM;
	s->base = base;
	r = store_load(s, true, &rp, err, errlen);
	if (r < 0)
		goto fail;
	s->next_rev = s->wrev = s->rev;
	s->l_items = s->items;
	s->l_bytes = s->bytes;
	s->compact_at = s->snap_size * 2 > COMPACT_MIN ? s->snap_size * 2 : COMPACT_MIN;
	s->stats.log_bytes = s->log_off;
	s->stats.snapshot_bytes = s->snap_size;

	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		r = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-r));
		goto fail;
	}
	s->done_ev = event_new(base, s->efd, EV_READ | EV_PERSIST, on_done_event, s);
	s->kick_ev = event_new(base, -1, 0, on_kick_event, s);
	if (!s->done_ev || !s->kick_ev || event_add(s->done_ev, NULL) < 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "cannot register the store's completion event");
		goto fail;
	}
	/* The committer takes no signals: they belong to the loop thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&s->thread, NULL, committer_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the store's committer thread: %s",
		         strerror(-r));
		goto fail;
	}
	s->thread_started = true;
	pthread_setname_np(s->thread, "store-commit");
	if ((r = purge_ephemeral(s, err, errlen)) < 0) {
		store_close(s);
		return r;
	}
	*ret = s;
	return 0;
fail:
	store_free(s);
	return r;
}

/* The set-aside file: its bytes durable before anything they came from is replaced. */
static int repair_write_damaged(struct store *s, const struct replay *rp,
                                struct store_repair_result *ret, char *err, size_t errlen)
{
	char name[128], when[40];
	struct tm tm;
	time_t now = time(NULL);
	struct iovec iov = {.iov_base = rp->dam, .iov_len = rp->dam_len};
	int fd = -1, r;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* Never over an earlier repair's file: a second one in the same second gets a suffix. */
	for (int i = 0; fd < 0 && i < 100; i++) {
		if (i == 0)
			snprintf(name, sizeof(name), DAMAGED_PREFIX "%s", when);
		else
			snprintf(name, sizeof(name), DAMAGED_PREFIX "%s.%d", when, i);
		fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		            0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	snprintf(ret->damaged_path, sizeof(ret->damaged_path), "%s/%s", s->dir, name);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", ret->damaged_path, strerror(-r));
		return r;
	}
	r = pwritev_all(fd, &iov, 1, 0);
	if (r == 0)
		r = fsync_retry(fd);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0)
		r = fsync_retry(s->dirfd);
	if (r < 0)
		snprintf(err, errlen, "cannot write %s: %s", ret->damaged_path, strerror(-r));
	return r;
}

/* Files made as root belong to whoever owns the state dir (the daemon's user). */
static void repair_chown(struct store *s, const char *name)
{
	struct stat st;

	if (geteuid() == 0 && fstat(s->dirfd, &st) == 0)
		(void)!fchownat(s->dirfd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
}

int store_repair(const char *dir, const struct store_options *opt,
                 struct store_repair_result *ret, char *err, size_t errlen)
{
	struct store *s = store_alloc(dir, opt, err, errlen);
	struct replay rp = {.repair = true};
	const char *what = "";
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!s)
		return -ENOMEM;
	r = store_load(s, false, &rp, err, errlen);
	if (r == 0 && rp.dam_len > 0)
		r = repair_write_damaged(s, &rp, ret, err, errlen);
	if (r == 0) {
		/* What was read becomes the snapshot; the log starts empty after it. */
		struct snap_fill f = snap_list(s);

		s->wrev = s->rev;
		r = f.nodes ? compact(s, f.nodes, f.n, s->rev, &what) : -ENOMEM;
		snap_free(f.nodes, f.cap);
		if (r < 0)
			snprintf(err, errlen, "%s: %s: %s", s->dir,
			         f.nodes ? what : "list the items (out of memory)", strerror(-r));
	}
	if (r == 0) {
		repair_chown(s, SNAP_NAME);
		if (ret->damaged_path[0])
			repair_chown(s, strrchr(ret->damaged_path, '/') + 1);
		ret->kept_records = rp.applied;
		ret->lost_records = rp.lost_records;
		ret->lost_bytes = rp.dam_len;
		ret->revision = s->rev;
	}
	free(rp.dam);
	store_free(s);
	return r;
}

/* Make everything queued durable and answer it (callbacks may queue more: drained too). */
static void store_drain(struct store *s)
{
	for (;;) {
		bool idle;

		store_handoff(s);
		pthread_mutex_lock(&s->mu);
		/* A compaction's start (compact_want) and end are the loop's to handle too. */
		while (((s->q_head && !s->broken) || s->busy || s->compact_req != s->compact_done) &&
		       !s->d_head && !s->compact_want)
			pthread_cond_wait(&s->idle_cv, &s->mu);
		idle = !s->q_head && !s->d_head && !s->compact_want &&
		       s->compact_req == s->compact_done && !s->compacting;
		pthread_mutex_unlock(&s->mu);
		if (idle)
			break;
		process_done(s);
	}
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_debug_pause(s, false);
	store_drain(s);
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	/*
	 * Give back the preallocated tail; the records before it are durable
	 * already, and a failure only leaves zeros that recovery reads as the end.
	 */
	if (s->log_alloc > s->log_off)
		(void)!ftruncate(s->logfd, (off_t)s->log_off);
	store_free(s);
}

/* ---- stats and test hooks ---- */

void store_get_stats(struct store *s, struct store_stats *ret)
{
	pthread_mutex_lock(&s->mu);
	*ret = s->stats;
	pthread_mutex_unlock(&s->mu);
}

void store_debug_pause(struct store *s, bool paused)
{
	pthread_mutex_lock(&s->mu);
	s->paused = paused;
	pthread_cond_signal(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
}

void store_debug_inline(struct store *s, bool allowed)
{
	s->no_inline = !allowed;
}

void store_debug_fail_next_write(struct store *s, int errnum)
{
	pthread_mutex_lock(&s->mu);
	s->inject_err = errnum;
	pthread_mutex_unlock(&s->mu);
}

int store_debug_compact(struct store *s)
{
	uint64_t ticket;
	int r;

	/* Asked for as the committer asks (see "Compaction"), and driven here. */
	pthread_mutex_lock(&s->mu);
	s->compact_want = true;
	for (;;) {
		while (s->busy || (s->compact_req != s->compact_done && !s->d_head))
			pthread_cond_wait(&s->idle_cv, &s->mu);
		pthread_mutex_unlock(&s->mu);
		process_done(s); /* applies what is handed back, then gives the nodes */
		pthread_mutex_lock(&s->mu);
		if (!s->compact_want)
			break;
	}
	ticket = s->compact_req;
	while (s->compact_done < ticket)
		pthread_cond_wait(&s->idle_cv, &s->mu);
	r = s->compact_result;
	pthread_mutex_unlock(&s->mu);
	process_done(s); /* the end: the list of nodes freed */
	return r;
}
