/* config.c — the config.* methods over the durable store; writes answer once fsync'd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udsrpc/udsrpc.h>

#include "history.h"
#include "jsonnum.h"
#include "store.h"
#include "udsrpcd.h"

/*
 * What a connection that wrote has in flight: its writes submitted and
 * answered so far, and the reads waiting for the writes before them
 * (read-your-writes when pipelining). Made on its first write; freed when
 * the connection has closed and nothing of it is pending.
 */
struct config_conn {
	uint64_t writes_sent, writes_done;
	struct config_wait *waiters;
	struct store_owner owner; /* this connection, as its ephemeral items name it */
	bool owns;                /* it has set an ephemeral item: look for them at close */
	bool closed;
	bool running; /* config_done is on the stack: an answer may close the connection */
	/* The end of its events, from ,"peer":{...} on (config_put_peer), made once. */
	char peer_text[64];
	size_t peer_len;
};

/*
 * A key a config.txn changed, for its event: a set's value (borrowed from
 * its txn_ops), or vtext (vlen bytes), its compact dump, when the request's
 * own text of it is that (config_txn_text; value NULL then); both NULL for
 * an unset.
 */
struct config_change {
	const char *key;
	const json_t *value;
	const char *vtext;
	size_t vlen;
};

/* What a write needs after its request is gone: the reply and the event. */
struct config_write {
	struct udsrpc_call *call;
	struct udsrpcd *d;
	struct config_conn *cc;
	json_t *value; /* NULL for unset */
	json_t *keys;  /* unset by prefix (key[] is the prefix): the keys it removes */
	json_t *txn_ops; /* config.txn (key[] ""): the branch that ran, and its results' text */
	char *results;
	size_t results_len;
	/* config.txn: its params block (config_txn_args_new), which holds the changes
	 * and, taken from the text (config_txn_text), their keys and values (own
	 * references: txn_vals) */
	void *txn_block;
	json_t **txn_vals;
	size_t txn_nvals;
	/* config.txn: the keys it changes, in op order (a get and an unset of an
	 * absent key change nothing), for the events and the audit line */
	struct config_change *changes;
	size_t nchanges;
	bool succeeded;
	bool restore; /* config.restore: answered {"revision","count"} */
	json_t *items; /* config.restore: its items, set after the unsets in keys */
	size_t count;
	uid_t uid;
	pid_t pid;
	char *exe; /* for the audit line: the caller may be gone by the answer */
	uint64_t owner_id; /* the unset of a closed connection's ephemeral items */
	/* Whether anyone listens to config events (config_recorded_many); 0: ask with each. */
	enum { CONFIG_LIVE_ASK, CONFIG_LIVE_NONE, CONFIG_LIVE_SOME } live;
	/* The digits of rev_of, once for all the events of a write's revision (rev_len 0: none). */
	uint64_t rev_of;
	char rev_text[JSONNUM_U64_MAX];
	size_t rev_len;
	struct spare spare; /* on d->spare_writes, once released */
	/* A set's value as the store records it and its event shows it, dumped
	 * once (config_write): in the state's own room when it fits, else in
	 * vheap; vlen 0: not made (not a set, or no room). */
	char *vtext, *vheap;
	size_t vlen;
	bool pooled; /* CONFIG_WRITE_SIZE bytes: serves any later write (config_write_release) */
	char key[];
};

/*
 * The key as the method's schema let it through: ConfigKey's pattern and
 * maxLength are the store's key rule, and the validator refuses a string
 * holding U+0000, so nothing here checks it again.
 */
static const char *config_key(const json_t *params)
{
	return json_string_value(json_object_get(params, "key"));
}

static void config_conn_maybe_free(struct config_conn *cc)
{
	if (cc->closed && !cc->running && cc->writes_done == cc->writes_sent && !cc->waiters)
		free(cc);
}

static void config_owner_gone(struct udsrpcd *d, const struct store_owner *owner);

void config_conn_closed(struct udsrpcd *d, void *conn_data)
{
	struct config_conn *cc = conn_data;

	if (cc) {
		/* After the store closed (udsrpcd_free) the next start removes them. */
		if (cc->owns && d->store)
			config_owner_gone(d, &cc->owner);
		cc->closed = true;
		config_conn_maybe_free(cc);
	}
}

/*
 * A read pipelined behind this connection's own unanswered write must see
 * it: the write is applied only once durable, so the read waits for it.
 * Reads never wait for other connections' writes.
 */
struct config_wait {
	struct config_wait *next;
	struct udsrpc_call *call;
	json_t *params;
	void (*fn)(struct udsrpcd *d, struct udsrpc_call *c, const json_t *params);
	uint64_t after; /* run once this many of the connection's writes are answered */
};

static bool config_wait_for_writes(struct udsrpcd *d, struct udsrpc_call *c, const json_t *params,
                                   void (*fn)(struct udsrpcd *, struct udsrpc_call *,
                                              const json_t *))
{
	struct config_conn *cc = udsrpc_call_conn_data(c);
	struct config_wait *w, **tail;

	if (!cc || cc->writes_done == cc->writes_sent)
		return false;
	if (!(w = calloc(1, sizeof(*w)))) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return true;
	}
	if (!(w->call = udsrpc_call_defer(c, 0))) {
		free(w); /* the call was answered -32603 */
		return true;
	}
	w->params = json_incref((json_t *)params);
	w->fn = fn;
	w->after = cc->writes_sent;
	for (tail = &cc->waiters; *tail; tail = &(*tail)->next)
		;
	*tail = w;
	return true;
}

static void config_run_waiters(struct udsrpcd *d, struct config_conn *cc)
{
	struct config_wait *w;

	/* Writes are answered in submission order, so waiters are ready in list order. */
	while ((w = cc->waiters) && w->after <= cc->writes_done) {
		cc->waiters = w->next;
		w->fn(d, w->call, w->params);
		udsrpc_call_unref(w->call);
		json_decref(w->params);
		free(w);
	}
}

/* The reads proper, run at once or when the writes before them are answered. */
static void config_get_now(struct udsrpcd *d, struct udsrpc_call *c, const json_t *params)
{
	const char *key = config_key(params);
	size_t len;
	int err;
	const char *item = store_get_item(d->store, key, &len, &err);

	if (err == -ENOENT)
		udsrpc_call_error(c, UDSRPC_NOT_FOUND, NULL, json_pack("{s:s}", "key", key));
	else if (err)
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
	else
		udsrpc_call_result_text(c, item, len);
}

/* config.list shows only the keys the caller may config.get (udsrpc(7), "Keys in a policy"). */
static bool config_may_get(const char *key, void *arg)
{
	return udsrpc_call_allowed(arg, "config.get", key);
}

/*
 * A page (limit 1-10000 by the schema) of the committed state, with the
 * revision it was read at: a watch from that revision misses nothing.
 */
static void config_list_now(struct udsrpcd *d, struct udsrpc_call *c, const json_t *params)
{
	struct store_list_opts o = {
	    .prefix = json_string_value(json_object_get(params, "prefix")),
	    .after = json_string_value(json_object_get(params, "after")),
	    .limit = (size_t)json_integer_value(json_object_get(params, "limit")),
	    .keys_only = json_is_true(json_object_get(params, "keys_only")),
	    .visible = config_may_get,
	    .visible_arg = c,
	};
	bool more = false;
	size_t len;
	/* The page's text as the store makes it, put in the result's: no object per item. */
	const char *items = store_list_text(d->store, &o, &len, &more);
	char tail[64], *text;
	int n;

	if (items) {
		n = snprintf(tail, sizeof(tail), ",\"revision\":%llu,\"more\":%s}",
		             (unsigned long long)store_revision(d->store), more ? "true" : "false");
		if ((text = malloc(len + 10 + (size_t)n))) {
			memcpy(text, "{\"items\":", 9);
			memcpy(text + 9, items, len);
			memcpy(text + 9 + len, tail, (size_t)n);
			udsrpc_call_result_text(c, text, 9 + len + (size_t)n);
			free(text);
			return;
		}
	}
	udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
}

static void config_get(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	if (!config_wait_for_writes(userdata, c, params, config_get_now))
		config_get_now(userdata, c, params);
}

static void config_list(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	if (!config_wait_for_writes(userdata, c, params, config_list_now))
		config_list_now(userdata, c, params);
}

#define CONFIG_RESULT_MAX (STORE_KEY_MAX + 48)

/* {"key","revision"} written out: a key needs no escaping, and this runs per durable write. */
static size_t config_result_text(char text[CONFIG_RESULT_MAX], const char *key, uint64_t revision)
{
	static const char head[] = "{\"key\":\"", mid[] = "\",\"revision\":";
	char digits[20];
	size_t n = 0, len = strlen(key), d = 0;

	memcpy(text, head, sizeof(head) - 1);
	n += sizeof(head) - 1;
	memcpy(text + n, key, len);
	n += len;
	memcpy(text + n, mid, sizeof(mid) - 1);
	n += sizeof(mid) - 1;
	do
		digits[d++] = (char)('0' + revision % 10);
	while ((revision /= 10));
	while (d)
		text[n++] = digits[--d];
	text[n++] = '}';
	return n;
}

static void config_result(struct udsrpc_call *c, const char *key, uint64_t revision)
{
	char text[CONFIG_RESULT_MAX];

	udsrpc_call_result_text(c, text, config_result_text(text, key, revision));
}

/*
 * On the store's committer thread, the moment the write is durable (store.h,
 * store_mark_early): answer from there. With UDSRPC_DEFER_DIRECT the
 * library writes the reply to the caller's socket at once when nothing else
 * is owed on that connection; otherwise the answer waits for the loop.
 */
static void config_early(void *arg, uint64_t revision)
{
	struct config_write *w = arg;
	config_result(w->call, w->key, revision);
}

/* Appends n bytes at *at (the caller sized the buffer). */
static char *config_put(char *at, const char *p, size_t n)
{
	memcpy(at, p, n);
	return at + n;
}

static char *config_put_int(char *at, int64_t v)
{
	char digits[JSONNUM_U64_MAX + 1];
	size_t n;
	const char *d = jsonnum_u64(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, digits, &n);

	if (v < 0)
		*at++ = '-';
	return config_put(at, d, n);
}

static char *config_put_u64(char *at, uint64_t v)
{
	char digits[JSONNUM_U64_MAX + 1];
	size_t n;
	const char *d = jsonnum_u64(v, digits, &n);

	return config_put(at, d, n);
}

#define CONFIG_PUT_LIT(at, lit) config_put(at, lit, sizeof(lit) - 1)

/* The end of an event line, ,"peer":{"uid":U,"pid":P}}}\n: at most 55 bytes. */
static char *config_put_peer(char *at, uid_t uid, pid_t pid)
{
	at = CONFIG_PUT_LIT(at, ",\"peer\":{\"uid\":");
	at = config_put_int(at, (int64_t)uid);
	at = CONFIG_PUT_LIT(at, ",\"pid\":");
	at = config_put_int(at, (int64_t)pid);
	return CONFIG_PUT_LIT(at, "}}}\n");
}
/* The line without the value, key and reason: the literals and four numbers. */
#define CONFIG_EVENT_FIXED 256
#define CONFIG_EVENT_STACK 1024

/*
 * The config event of one changed key (value and vtext NULL: an unset;
 * reason NULL: none), serialised once for the history and the live subscribers. Every
 * change that raises the revision comes through here (the unset of an
 * ephemeral key's owner leaving too, with its reason), so the history has
 * no holes. Written out as text, members in the order a JSON notification
 * of {"topic","type","key","revision","reason","value","peer"} would dump:
 * the history makes this run for every durable change, subscribers or not,
 * and building and dumping three JSON objects cost more than the rest of a
 * config.set. A key needs no escaping (ConfigKey's pattern), nor does a
 * reason (this file's own words); the value goes through jsonnum_dumpb,
 * the text a dump of the whole notification gives it.
 */
static void config_publish_text(struct config_write *w, const char *key, const json_t *value,
                                const char *vtext, size_t vlen, uint64_t revision,
                                const char *reason)
{
	enum { FLAGS = JSON_COMPACT | JSON_ENCODE_ANY };
	struct udsrpcd *d = w->d;
	char stack[CONFIG_EVENT_STACK], *line = stack, *at;
	size_t klen = strlen(key), rlen = reason ? strlen(reason) : 0;
	size_t fixed = CONFIG_EVENT_FIXED + klen + rlen;

	bool set = value || vtext;

	if (value && !vtext && value == w->value && w->vlen) {
		/* A set's value, dumped once for the store's record (config_write). */
		vtext = w->vtext;
		vlen = w->vlen;
	}
	if (vtext) {
		/* The dump made already: a set's, or a transaction's text of it. */
		if (fixed + vlen > sizeof(stack) && !(line = malloc(fixed + vlen))) {
			if (d->history)
				history_lost(d->history, revision);
			return;
		}
	} else if (value) {
		bool room = fixed < sizeof(stack);

		/* Dumped into the stack when it fits there, else only measured. */
		vlen = jsonnum_dumpb(value, room ? stack + fixed : NULL,
		                     room ? sizeof(stack) - fixed : 0, FLAGS);
		if (vlen == 0 || fixed + vlen > sizeof(stack)) {
			line = vlen ? malloc(fixed + vlen) : NULL;
			if (line && jsonnum_dumpb(value, line + fixed, vlen, FLAGS) != vlen) {
				free(line);
				line = NULL;
			}
		}
		if (!line) {
			if (d->history)
				history_lost(d->history, revision);
			return;
		}
		vtext = line + fixed;
	}
	at = CONFIG_PUT_LIT(line, "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":"
	                          "{\"topic\":\"config\",\"type\":\"");
	at = set ? CONFIG_PUT_LIT(at, "set") : CONFIG_PUT_LIT(at, "unset");
	at = CONFIG_PUT_LIT(at, "\",\"key\":\"");
	at = config_put(at, key, klen);
	at = CONFIG_PUT_LIT(at, "\",\"revision\":");
	if (!w->rev_len || revision != w->rev_of) {
		char digits[JSONNUM_U64_MAX + 1];
		const char *p = jsonnum_u64(revision, digits, &w->rev_len);

		memcpy(w->rev_text, p, w->rev_len);
		w->rev_of = revision;
	}
	at = config_put(at, w->rev_text, w->rev_len);
	if (reason) {
		at = CONFIG_PUT_LIT(at, ",\"reason\":\"");
		at = config_put(at, reason, rlen);
		at = CONFIG_PUT_LIT(at, "\"");
	}
	if (set) {
		at = CONFIG_PUT_LIT(at, ",\"value\":");
		/* Dumped at line + fixed, past anything written before it, or w's. */
		memmove(at, vtext, vlen);
		at += vlen;
	}
	/* A connection's writes all end the same way: written once, for its first event. */
	if (w->cc && w->cc->peer_len)
		at = config_put(at, w->cc->peer_text, w->cc->peer_len);
	else
		at = config_put_peer(at, w->uid, w->pid);

	size_t len = (size_t)(at - line);
	if (d->history)
		history_append(d->history, revision, key, line, len);
	if (w->live != CONFIG_LIVE_NONE)
		udsrpc_server_publish_line(d->srv, "config", key, revision, line, len);
	if (line != stack)
		free(line);
}

/* config_publish_text of a value not dumped yet (or w's own set's). */
static void config_publish(struct config_write *w, const char *key, const json_t *value,
                           uint64_t revision, const char *reason)
{
	config_publish_text(w, key, value, NULL, 0, revision, reason);
}

/* Events are made when someone listens, and always for the history. */
static bool config_recorded(struct udsrpcd *d)
{
	return d->history || udsrpc_server_wanted(d->srv, "config");
}

/*
 * config_recorded for a write of many events (a transaction, a restore, an
 * unset by prefix), whether anyone listens kept in w: they all go out in
 * this turn of the loop, in which no subscription can begin, and asking
 * the library per event (as publishing would) looks the topic up again
 * each time. A write of one event asks with it.
 */
static bool config_recorded_many(struct config_write *w)
{
	w->live = udsrpc_server_wanted(w->d->srv, "config") ? CONFIG_LIVE_SOME : CONFIG_LIVE_NONE;
	return w->d->history || w->live == CONFIG_LIVE_SOME;
}

/* after_revision (udsrpc_server_set_history): the history's events, or the store's revision. */
struct config_replay {
	udsrpc_history_emit_fn emit;
	void *ctx;
};

static int config_replay_one(void *arg, uint64_t rev, const char *key, const char *line,
                             size_t len)
{
	struct config_replay *cr = arg;
	return cr->emit(cr->ctx, key, rev, line, len);
}

static int config_history(void *arg, uint64_t after, udsrpc_history_emit_fn emit, void *ctx,
                          uint64_t *ret_revision)
{
	struct udsrpcd *d = arg;
	struct config_replay cr = {emit, ctx};
	uint64_t compact = 0;
	int r = 0;

	if (after != UINT64_MAX)
		r = history_replay(d->history, after, emit ? config_replay_one : NULL, &cr, &compact);
	*ret_revision = r == -ESTALE ? compact : store_revision(d->store);
	return r;
}

/* Append "KEY" to the audit line's list; keys need no escaping (ConfigKey's pattern). */
static void config_audit_key(char *list, size_t *len, size_t cap, size_t n, const char *key)
{
	size_t klen = strlen(key), room = cap - *len - 1, at = *len;

	if ((n ? 1 : 0) + klen + 2 <= room) {
		/* Whole, as nearly always. */
		if (n)
			list[at++] = ',';
		list[at++] = '"';
		memcpy(list + at, key, klen);
		at += klen;
		list[at++] = '"';
		list[at] = '\0';
		*len = at;
		return;
	}

	/* What snprintf did, without its cost on every write: cut to fit, *len = cap when cut. */
	const char *parts[] = {n ? "," : "", "\"", key, "\""};
	size_t lens[] = {n ? 1u : 0u, 1, klen, 1};
	bool cut = false;

	for (size_t i = 0; i < 4 && !cut; i++) {
		size_t k = lens[i];
		if (k > room - (at - *len)) {
			k = room - (at - *len);
			cut = true;
		}
		memcpy(list + at, parts[i], k);
		at += k;
	}
	list[at] = '\0';
	*len = cut ? cap : at;
}

/* A restore's change i: the unsets replace makes (keys) first, then a set per item. */
static const char *config_restore_change(const struct config_write *w, size_t i,
                                         const json_t **ret_value)
{
	size_t nu = json_array_size(w->keys);
	const json_t *it;

	if (i < nu) {
		*ret_value = NULL;
		return json_string_value(json_array_get(w->keys, i));
	}
	it = json_array_get(w->items, i - nu);
	*ret_value = json_object_get(it, "value");
	return json_string_value(json_object_get(it, "key"));
}

/*
 * The audit line of a write that committed: the keys it changed (an unset
 * of an absent key and a txn's gets change nothing), cut at 512 bytes with
 * the count whole, and the revision it made. Written straight into a
 * buffer: it is on every durable write's path.
 */
static void config_audit(struct config_write *w, uint64_t revision)
{
	enum { CUT = 512 };
	char list[CUT + 160];
	size_t len = 0, n = 0;

	if (udsrpc_server_get_log_level(w->d->srv) < UDSRPC_LOG_INFO)
		return;
	if (w->restore) {
		n = json_array_size(w->keys) + json_array_size(w->items);
		for (size_t i = 0; i < n && len < CUT; i++) {
			const json_t *value;
			const char *key = config_restore_change(w, i, &value);

			config_audit_key(list, &len, sizeof(list), i, key);
		}
	} else if (w->results) {
		n = w->nchanges;
		for (size_t i = 0; i < n && len < CUT; i++)
			config_audit_key(list, &len, sizeof(list), i, w->changes[i].key);
	} else if (w->keys) {
		n = json_array_size(w->keys);
		for (size_t i = 0; i < n && len < CUT; i++)
			config_audit_key(list, &len, sizeof(list), i,
			                 json_string_value(json_array_get(w->keys, i)));
	} else if (revision) {
		config_audit_key(list, &len, sizeof(list), n++, w->key);
	}
	bool cut = len >= CUT;
	char why[64] = "";
	if (w->owner_id)
		snprintf(why, sizeof(why), " (ephemeral: connection %llu closed)",
		         (unsigned long long)w->owner_id);
	/*
	 * "N key(s) [LIST] revision R WHY", LIST cut at CUT bytes with "...",
	 * put together here and handed over as "%s": a printf of it cost as
	 * much as the rest of a durable set.
	 */
	char detail[CUT + 160], *at = detail;
	at = config_put_u64(at, n);
	at = CONFIG_PUT_LIT(at, " key(s) [");
	at = config_put(at, list, len < CUT ? len : CUT);
	if (cut)
		at = CONFIG_PUT_LIT(at, "...");
	at = CONFIG_PUT_LIT(at, "] revision ");
	at = config_put_u64(at, revision);
	at = config_put(at, why, strlen(why));
	*at = '\0';
	/* A closed connection's ephemeral items go with no call: an unset in its name. */
	udsrpc_server_audit(w->d->srv, w->call ? udsrpc_call_method(w->call) : "config.unset",
	                    w->uid, w->pid, w->exe, "%s", detail);
}

/*
 * config.txn's params blocks (config_txn_args_new) are of one size when
 * they fit it, kept for reuse like the write states: a block of some KiB
 * is past malloc's per-thread caches, and its malloc (with the
 * consolidation a request that large starts) and free cost more than
 * taking apart two of the ops it holds. A block starts with its link
 * while kept and its size.
 */
#define CONFIG_TXN_BLOCK 16384
#define CONFIG_SPARE_TXN_BLOCKS 64

struct config_txn_block {
	struct spare spare;
	size_t size;
	max_align_t data[];
};

static void config_txn_block_free(struct udsrpcd *d, void *block)
{
	struct config_txn_block *blk = block;

	if (blk->size != CONFIG_TXN_BLOCK ||
	    !spares_give(&d->spare_txn_blocks, &blk->spare, CONFIG_SPARE_TXN_BLOCKS))
		free(blk);
}

/*
 * Every write's state has room for the longest key, so that one released
 * serves any later write: at 50 durable writers 50 are in flight, and a
 * calloc and free of each per request cost more than the rest of its
 * bookkeeping. Kept on the loop thread, like the writes.
 */
#define CONFIG_VALUE_INLINE 256
#define CONFIG_WRITE_SIZE (sizeof(struct config_write) + STORE_KEY_MAX + 1 + CONFIG_VALUE_INLINE)
#define CONFIG_SPARE_WRITES 64

/* A zeroed write state with room for a key of len bytes (key[] not zeroed); NULL on ENOMEM. */
static struct config_write *config_write_alloc(struct udsrpcd *d, size_t len)
{
	struct config_write *w;

	/* The schema keeps keys and prefixes within STORE_KEY_MAX; no need to trust it here. */
	if (len > STORE_KEY_MAX)
		return calloc(1, sizeof(*w) + len + 1);
	if ((w = SPARE_OF(spares_take(&d->spare_writes), struct config_write, spare)))
		memset(w, 0, sizeof(*w));
	else if (!(w = calloc(1, CONFIG_WRITE_SIZE)))
		return NULL;
	w->vtext = w->key + STORE_KEY_MAX + 1;
	w->pooled = true;
	return w;
}

static void config_write_release(struct udsrpcd *d, struct config_write *w)
{
	if (!w->pooled || !spares_give(&d->spare_writes, &w->spare, CONFIG_SPARE_WRITES))
		free(w);
}

void config_spares_free(struct udsrpcd *d)
{
	struct spare *p;

	while ((p = spares_take(&d->spare_writes)))
		free(SPARE_OF(p, struct config_write, spare));
	while ((p = spares_take(&d->spare_txn_blocks)))
		free(SPARE_OF(p, struct config_txn_block, spare));
}

/* A write answered: what it held goes, and the reads waiting behind it run. */
static void config_write_finish(struct config_write *w)
{
	struct udsrpcd *d = w->d;
	struct config_conn *cc = w->cc;

	udsrpc_call_unref(w->call);
	json_decref(w->value);
	json_decref(w->keys);
	json_decref(w->items);
	json_decref(w->txn_ops);
	for (size_t i = 0; i < w->txn_nvals; i++)
		json_decref(w->txn_vals[i]);
	/* None is there for a plain set of a short value: no calls then. */
	if (w->txn_block)
		config_txn_block_free(d, w->txn_block);
	if (w->results)
		free(w->results);
	if (w->exe)
		free(w->exe);
	if (w->vheap)
		free(w->vheap);
	config_write_release(d, w);
	config_run_waiters(d, cc);
	cc->running = false;
	config_conn_maybe_free(cc);
}

/*
 * {"succeeded","revision","results"} written around the results' text the
 * store made, as a dump of that object would give it: on the stack when it
 * fits there (the reply copies it), as a 10-op transaction's does.
 */
static void config_txn_answer(struct config_write *w, uint64_t revision)
{
	char stack[2048], *text = stack, *at;

	if (w->results_len + 64 > sizeof(stack))
		text = malloc(w->results_len + 64);
	if (!text) {
		udsrpc_call_error(w->call, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return;
	}
	at = w->succeeded ? CONFIG_PUT_LIT(text, "{\"succeeded\":true,\"revision\":")
	                  : CONFIG_PUT_LIT(text, "{\"succeeded\":false,\"revision\":");
	at = config_put_int(at, (int64_t)revision);
	at = CONFIG_PUT_LIT(at, ",\"results\":");
	at = config_put(at, w->results, w->results_len);
	*at++ = '}';
	udsrpc_call_result_text(w->call, text, (size_t)(at - text));
	if (text != stack)
		free(text);
}

static void config_done(void *arg, enum store_status st, uint64_t revision, const char *reason)
{
	struct config_write *w = arg;
	struct udsrpcd *d = w->d;
	struct config_conn *cc = w->cc;

	cc->writes_done++;
	cc->running = true;
	switch (st) {
	case STORE_OK:
		config_audit(w, revision);
		/* The events first: answering may close the writer's connection, and
		 * its "peer disconnect" must not overtake the change it made. */
		if (w->restore) {
			size_t n = json_array_size(w->keys) + json_array_size(w->items);
			bool rec = config_recorded_many(w);

			for (size_t i = 0; rec && i < n; i++) {
				const json_t *value;
				const char *key = config_restore_change(w, i, &value);

				config_publish(w, key, value, revision, NULL);
			}
			udsrpc_call_result(w->call,
			                   json_pack("{s:I,s:I}", "revision", (json_int_t)revision,
			                             "count", (json_int_t)w->count));
			break;
		}
		if (w->results) {
			/* One event per key the branch changed, in op order. */
			bool rec = w->nchanges && config_recorded_many(w);

			for (size_t i = 0; rec && i < w->nchanges; i++)
				config_publish_text(w, w->changes[i].key, w->changes[i].value,
				                    w->changes[i].vtext, w->changes[i].vlen, revision,
				                    NULL);
			config_txn_answer(w, revision);
			break;
		}
		if (w->keys) {
			bool rec = json_array_size(w->keys) && config_recorded_many(w);

			for (size_t i = 0; rec && i < json_array_size(w->keys); i++)
				config_publish(w, json_string_value(json_array_get(w->keys, i)), NULL,
				               revision, NULL);
			udsrpc_call_result(w->call,
			                   json_pack("{s:s,s:I,s:I}", "prefix", w->key, "revision",
			                             (json_int_t)revision, "count",
			                             (json_int_t)json_array_size(w->keys)));
			break;
		}
		if (config_recorded(d))
			config_publish(w, w->key, w->value, revision, NULL);
		/* Answered already when the committer did it early: then a no-op. */
		config_result(w->call, w->key, revision);
		break;
	case STORE_CONFLICT:
		udsrpc_call_error(w->call, UDSRPC_CONFLICT, NULL,
		                  json_pack("{s:s,s:I}", "key", w->key, "revision",
		                            (json_int_t)revision));
		break;
	case STORE_NOT_FOUND:
		udsrpc_call_error(w->call, UDSRPC_NOT_FOUND, NULL, json_pack("{s:s}", "key", w->key));
		break;
	case STORE_QUOTA:
		udsrpc_call_error(w->call, UDSRPC_QUOTA_EXCEEDED, NULL,
		                  json_pack("{s:s,s:I}", "limit", reason, "value",
		                            (json_int_t)revision));
		break;
	case STORE_IO_ERROR:
		udsrpc_call_error(w->call, UDSRPC_STORAGE_ERROR, NULL,
		                  json_pack("{s:s}", "reason", reason ? reason : "write failed"));
		break;
	}
	config_write_finish(w);
}

/*
 * The call (method) touches a key the policy does not let the caller read
 * or write: -32001 as for a refused call, with data.key naming that key
 * (udsrpc(7), "Keys in a policy").
 */
static void config_refuse_key(struct udsrpc_call *c, const char *method, const char *key)
{
	const struct udsrpc_peer *p = udsrpc_call_peer(c);

	udsrpc_call_error(c, UDSRPC_PERMISSION_DENIED, NULL,
	                  json_pack("{s:s,s:I,s:I,s:I,s:s}", "method", method, "uid",
	                            (json_int_t)udsrpc_peer_uid(p), "gid",
	                            (json_int_t)udsrpc_peer_gid(p), "pid",
	                            (json_int_t)udsrpc_peer_pid(p), "key", key));
}

/*
 * An unset by prefix (or a replacing restore, method) removes keys the
 * call does not name: each must be one the caller may unset (a policy with
 * key rules). Judged on the committed state; a key another writer has
 * queued meanwhile is judged by nobody.
 */
/* config_prefix_allowed's filter: the keys the caller may not unset. */
static bool config_may_not_unset(const char *key, void *arg)
{
	return !udsrpc_call_allowed(arg, "config.unset", key);
}

static bool config_prefix_allowed(struct udsrpcd *d, struct udsrpc_call *c, const char *method,
                                  const char *prefix)
{
	/* Only the first refused key is listed: no item is made for the allowed ones. */
	json_t *refused = store_list_page(d->store,
	                                  &(struct store_list_opts){.prefix = prefix,
	                                                            .limit = 1,
	                                                            .keys_only = true,
	                                                            .visible = config_may_not_unset,
	                                                            .visible_arg = c},
	                                  NULL);

	if (!refused) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return false;
	}
	if (json_array_size(refused) > 0) {
		config_refuse_key(c, method,
		                  json_string_value(json_object_get(json_array_get(refused, 0), "key")));
		json_decref(refused);
		return false;
	}
	json_decref(refused);
	return true;
}

/*
 * A write's state, its call deferred (flags as udsrpc_call_defer), counted
 * as one of its connection's writes; NULL when the call was answered.
 */
static struct config_write *config_write_new(struct udsrpcd *d, struct udsrpc_call *c,
                                             const char *key, json_t *value, unsigned flags)
{
	const struct udsrpc_peer *p = udsrpc_call_peer(c);
	struct config_conn *cc = udsrpc_call_conn_data(c);
	size_t len = strlen(key);
	struct config_write *w;

	if (!cc) {
		if (!(cc = calloc(1, sizeof(*cc))) || udsrpc_call_set_conn_data(c, cc) < 0) {
			free(cc);
			udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
			return NULL;
		}
		cc->owner = (struct store_owner){.id = udsrpc_peer_id(p),
		                                 .uid = (uint32_t)udsrpc_peer_uid(p),
		                                 .pid = (int32_t)udsrpc_peer_pid(p)};
		cc->peer_len = (size_t)(config_put_peer(cc->peer_text, udsrpc_peer_uid(p),
		                                        udsrpc_peer_pid(p)) -
		                        cc->peer_text);
	}
	if (!(w = config_write_alloc(d, len))) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return NULL;
	}
	memcpy(w->key, key, len + 1);
	w->d = d;
	w->cc = cc;
	w->uid = udsrpc_peer_uid(p);
	w->pid = udsrpc_peer_pid(p);
	if (udsrpc_server_get_log_level(d->srv) >= UDSRPC_LOG_INFO && udsrpc_peer_exe(p))
		w->exe = strdup(udsrpc_peer_exe(p));
	w->value = value ? json_incref(value) : NULL;
	if (!(w->call = udsrpc_call_defer(c, flags))) {
		json_decref(w->value);
		free(w->exe);
		config_write_release(d, w);
		return NULL;
	}
	cc->writes_sent++;
	return w;
}

/*
 * A set's or unset's params, read in one walk over the members: a durable
 * set runs this per request, and a lookup by name per member costs a hash
 * of the name each. The schema has checked each member's type.
 */
struct config_args {
	const char *key, *prefix;
	json_t *value;
	int64_t expect; /* -1: no expect_revision */
	bool ephemeral;
};

/* Whether the member name n[0..len) is lit. */
#define CONFIG_NAME_IS(n, len, lit) ((len) == sizeof(lit) - 1 && !memcmp(n, lit, sizeof(lit) - 1))

static struct config_args config_args_of(const json_t *params)
{
	struct config_args a = {.expect = -1};
	json_t *p = (json_t *)params;

	for (void *it = json_object_iter(p); it; it = json_object_iter_next(p, it)) {
		const char *name = json_object_iter_key(it);
		size_t len = json_object_iter_key_len(it);
		json_t *v = json_object_iter_value(it);

		if (CONFIG_NAME_IS(name, len, "key"))
			a.key = json_string_value(v);
		else if (CONFIG_NAME_IS(name, len, "value"))
			a.value = v;
		else if (CONFIG_NAME_IS(name, len, "expect_revision"))
			a.expect = (int64_t)json_integer_value(v);
		else if (CONFIG_NAME_IS(name, len, "ephemeral"))
			a.ephemeral = json_is_true(v);
		else if (CONFIG_NAME_IS(name, len, "prefix"))
			a.prefix = json_string_value(v);
	}
	return a;
}

/* A set (a->value) or an unset, of a key or (unset) a prefix. */
static void config_write(struct udsrpcd *d, struct udsrpc_call *c, const struct config_args *a)
{
	json_t *value = a->value;
	const char *prefix = value ? NULL : a->prefix;
	const char *key = prefix ? prefix : a->key;
	/*
	 * A prefix's answer has a count, so it always waits for the loop. An
	 * early answer is prepared (the reply's head made, a line allocated:
	 * UDSRPC_DEFER_DIRECT) only when the store can still give one: with
	 * many writers in a turn their group is too big for it, and arming
	 * each of them cost as much as the rest of their reply.
	 */
	bool early = !prefix && store_early_possible(d->store);
	struct config_write *w = config_write_new(d, c, key, value, early ? UDSRPC_DEFER_DIRECT : 0);
	int r;

	bool ephemeral = value && a->ephemeral;

	if (!w)
		return;
	if (ephemeral)
		w->cc->owns = true;
	if (value && w->vtext) {
		enum { FLAGS = JSON_COMPACT | JSON_ENCODE_ANY };
		size_t n = jsonnum_dumpb(value, w->vtext, CONFIG_VALUE_INLINE, FLAGS);

		/* Too big for the room: measured, so dumped once more, as the store did. */
		if (n > CONFIG_VALUE_INLINE) {
			if ((w->vheap = malloc(n)) && jsonnum_dumpb(value, w->vheap, n, FLAGS) == n)
				w->vtext = w->vheap;
			else
				n = 0;
		}
		w->vlen = n;
	}
	if (value)
		r = store_set_text(d->store, w->key, value, w->vlen ? w->vtext : NULL, w->vlen,
		                   a->expect, ephemeral ? &w->cc->owner : NULL, config_done, w);
	else if (prefix)
		r = store_unset_prefix(d->store, w->key, config_done, w, &w->keys);
	else
		r = store_unset(d->store, w->key, a->expect, config_done, w);
	if (r < 0)
		config_done(w, STORE_IO_ERROR, 0, r == -ENOMEM ? "out of memory" : strerror(-r));
	else if (early)
		store_mark_early(d->store);
}

static void config_set(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct config_args a = config_args_of(params);

	config_write(userdata, c, &a);
}

static void config_unset(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct config_args a = config_args_of(params);

	a.value = NULL; /* not a member of unset's params: the schema refused it */
	/* The schema has both optional: exactly one of them is the contract. */
	if (!a.prefix == !a.key || (a.prefix && a.expect >= 0)) {
		udsrpc_call_error(c, UDSRPC_INVALID_PARAMS, NULL,
		                  json_pack("{s:s}", "reason",
		                            a.prefix ? "give either key (with expect_revision) or "
		                                       "prefix, not both"
		                                     : "give key or prefix"));
		return;
	}
	if (a.prefix && !config_prefix_allowed(userdata, c, "config.unset", a.prefix))
		return;
	config_write(userdata, c, &a);
}

/* -32602 for the member at path of config.txn's params. */
static void config_txn_bad(struct udsrpc_call *c, const char *path, const char *reason)
{
	udsrpc_call_error(c, UDSRPC_INVALID_PARAMS, NULL,
	                  json_pack("{s:s,s:s}", "path", path, "reason", reason));
}

/*
 * config.txn's params taken apart, from their tree (config_txn) or their
 * text (config_txn_text), in one block sized once: the compares with
 * found[i], how many of revision, version, value, exists compare i holds;
 * each branch's ops with eph[i], op i asks to be ephemeral. Taken from the
 * text, the block also holds the keys and the sets' values' text copied
 * out of it and the other values built from it (one reference each),
 * which the write keeps.
 */
struct config_txn_args {
	struct store_txn_cmp *cmps;
	unsigned char *found;
	struct store_txn_op *succ, *fail;
	bool *eph_succ, *eph_fail;
	/* Room for the changes of the longer branch and the store's changed flags. */
	struct config_change *changes;
	bool *changed;
	size_t nc, ns, nf;
	char *keys; /* text only: the keys, and the values' text, copied out of it */
	json_t **vals;
	size_t nkeys, nvals;
};

/* Room for nc compares, ns and nf ops and (text) keys bytes; NULL on ENOMEM. */
static void *config_txn_args_new(struct udsrpcd *d, struct config_txn_args *a, size_t nc,
                                 size_t ns, size_t nf, size_t keys)
{
	size_t nv = nc + ns + nf + 1, most = (ns > nf ? ns : nf) + 1;
	size_t need = sizeof(struct config_txn_block) + (nc + 1) * (sizeof(*a->cmps) + 1) +
	              nv * sizeof(*a->vals) +
	              (ns + nf + 2) * (sizeof(*a->succ) + 1) +
	              most * (sizeof(*a->changes) + sizeof(*a->changed)) + keys;
	struct config_txn_block *blk = NULL;

	if (need <= CONFIG_TXN_BLOCK) {
		blk = SPARE_OF(spares_take(&d->spare_txn_blocks), struct config_txn_block, spare);
		need = CONFIG_TXN_BLOCK;
	}
	if (!blk) {
		if (!(blk = malloc(need)))
			return NULL;
		blk->size = need;
	}
	*a = (struct config_txn_args){0};
	a->cmps = (struct store_txn_cmp *)blk->data;
	a->succ = (struct store_txn_op *)(a->cmps + nc + 1);
	a->fail = a->succ + ns + 1;
	a->changes = (struct config_change *)(a->fail + nf + 1);
	a->vals = (json_t **)(a->changes + most);
	a->found = (unsigned char *)(a->vals + nv);
	a->eph_succ = (bool *)(a->found + nc + 1);
	a->eph_fail = a->eph_succ + ns + 1;
	a->changed = a->eph_fail + nf + 1;
	a->keys = (char *)(a->changed + most);
	return blk;
}


/* One of "revision", "version", "value", "exists" (the schema lets through any of them). */
static void config_txn_cmp_of(const json_t *j, struct store_txn_cmp *ret, unsigned char *found)
{
	static const char *const names[] = {"revision", "version", "value", "exists"};

	ret->key = json_string_value(json_object_get(j, "key"));
	*found = 0;
	for (int k = 0; k < 4; k++) {
		const json_t *v = json_object_get(j, names[k]);

		if (!v)
			continue;
		++*found;
		ret->what = (enum store_cmp_kind)k; /* the enum's order */
		ret->num = (uint64_t)json_integer_value(v);
		ret->value = v;
		ret->exists = json_is_true(v);
	}
}

/* config_txn_bad for op i of a branch: the path made only then, snprintf costs per op. */
static void config_txn_op_bad(struct udsrpc_call *c, const char *branch, size_t i,
                              const char *reason)
{
	char path[64];

	snprintf(path, sizeof(path), "/%s/%zu", branch, i);
	config_txn_bad(c, path, reason);
}

/*
 * An op's members in one pass over them (the schema let through only op,
 * key, value and ephemeral, each typed): a json_object_get per name costs
 * a hash of it, four times per op.
 */
static void config_txn_op_of(const json_t *o, struct store_txn_op *ret, bool *ret_eph)
{
	const char *name, *kind = "";
	json_t *m;

	*ret = (struct store_txn_op){0};
	*ret_eph = false;
	json_object_foreach((json_t *)o, name, m) {
		switch (name[0]) {
		case 'o':
			kind = json_string_value(m);
			break;
		case 'k':
			ret->key = json_string_value(m);
			break;
		case 'v':
			ret->value = m;
			break;
		case 'e':
			*ret_eph = json_is_true(m);
			break;
		}
	}
	ret->op = kind[0] == 'g' ? STORE_TXN_GET : kind[0] == 's' ? STORE_TXN_SET : STORE_TXN_UNSET;
}

/*
 * A key's length and last (up to) eight bytes, in one word: the keys of a
 * transaction tend to share a long prefix and differ at the end, so two
 * that differ nearly always differ here, and the test for a key written
 * twice compares these before any strcmp.
 */
static uint64_t config_key_print(const char *key)
{
	size_t n = strlen(key);
	uint64_t w = 0;

	/* Eight bytes a fixed-size copy (a load), a shorter key byte by byte: no memcpy call. */
	if (n >= 8)
		memcpy(&w, key + n - 8, 8);
	else
		for (size_t i = 0; i < n; i++)
			w = w << 8 | (unsigned char)key[i];
	return w * 31 + n;
}

/*
 * The writes among a branch's first PRINTS ops seen so far: their keys and
 * prints, and a bit per print (of 64, by a multiplicative hash) in seen, so
 * that a new key (nearly every one) is told apart without the list.
 */
#define CONFIG_TXN_PRINTS 64
struct config_txn_writes {
	const struct store_txn_op *ops;
	size_t n; /* writes among the first PRINTS ops */
	uint64_t seen;
	uint64_t prints[CONFIG_TXN_PRINTS];
	const char *keys[CONFIG_TXN_PRINTS];
};

/* Whether the write op i (the next one) writes a key an earlier write of its branch did. */
static bool config_txn_twice(struct config_txn_writes *s, size_t i)
{
	const char *key = s->ops[i].key;

	if (i >= CONFIG_TXN_PRINTS) {
		/* A long branch: each earlier op (rare; max_txn_ops is 128 by default). */
		for (size_t k = 0; k < i; k++)
			if (s->ops[k].op != STORE_TXN_GET && strcmp(s->ops[k].key, key) == 0)
				return true;
		return false;
	}
	uint64_t print = config_key_print(key), bit = 1ull << ((print * 0x9e3779b97f4a7c15ull) >> 58);
	for (size_t k = 0; (s->seen & bit) && k < s->n; k++)
		if (s->prints[k] == print && strcmp(s->keys[k], key) == 0)
			return true;
	s->seen |= bit;
	s->prints[s->n] = print;
	s->keys[s->n++] = key;
	return false;
}

/*
 * A branch's ops; a key written twice in it is -32602 (which write would
 * win?), and each key is judged as the policy would judge the single call.
 */
static int config_txn_ops(struct udsrpc_call *c, const char *branch, const struct store_txn_op *ops,
                          const bool *eph, size_t n, const void **found)
{
	char reason[STORE_KEY_MAX + 64];
	struct config_txn_writes seen;

	seen.ops = ops;
	seen.n = 0;
	seen.seen = 0;
	for (size_t i = 0; i < n; i++) {
		const char *method;

		bool valued = ops[i].value || ops[i].vtext;

		if ((ops[i].op == STORE_TXN_SET) != valued) {
			config_txn_op_bad(c, branch, i,
			                  valued ? "only a set op has a value" : "a set op needs a value");
			return -EINVAL;
		}
		if (eph[i] && ops[i].op != STORE_TXN_SET) {
			config_txn_op_bad(c, branch, i, "only a set op can be ephemeral");
			return -EINVAL;
		}
		if (ops[i].op != STORE_TXN_GET && config_txn_twice(&seen, i)) {
			snprintf(reason, sizeof(reason), "key %s is written twice in one branch",
			         ops[i].key);
			config_txn_op_bad(c, branch, i, reason);
			return -EINVAL;
		}
		method = ops[i].op == STORE_TXN_GET   ? "config.get"
		         : ops[i].op == STORE_TXN_SET ? "config.set"
		                                      : "config.unset";
		if (!udsrpc_call_allowed_found(c, method, ops[i].key, &found[ops[i].op])) {
			config_refuse_key(c, "config.txn", ops[i].key);
			return -EPERM;
		}
	}
	return 0;
}

/* An ephemeral set binds its item to this connection, as config.set does. */
static void config_txn_bind(struct config_write *w, struct store_txn_op *ops, const bool *eph,
                            size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (eph[i]) {
			ops[i].owner = &w->cc->owner;
			w->cc->owns = true;
		}
	}
}

/* The values a holds (from the text) and its block go: the call was answered. */
static void config_txn_args_free(struct udsrpcd *d, struct config_txn_args *a, void *block)
{
	for (size_t i = 0; i < a->nvals; i++)
		json_decref(a->vals[i]);
	config_txn_block_free(d, block);
}

/*
 * config.txn once its params are taken apart into block (js, jf: the
 * branches' tree the ops' keys and values are borrowed from, NULL when they
 * come from the text). Checked in the order of the params: the count, each
 * compare, each op of success, then of failure. The write keeps the block
 * and the values when it is queued; else they go, and the call is answered.
 */
static void config_txn_run(struct udsrpcd *d, struct udsrpc_call *c, struct config_txn_args *a,
                           void *block, const json_t *js, const json_t *jf)
{
	size_t nc = a->nc, ns = a->ns, nf = a->nf;
	struct config_write *w = NULL;
	char reason[128], path[48];
	/* Each op kind's method, found by its first check (udsrpc_call_allowed_found). */
	const void *found[3] = {NULL, NULL, NULL};
	int r = 0;

	if (nc + ns + nf > d->store_limits.max_txn_ops) {
		snprintf(reason, sizeof(reason), "%zu compares and ops, more than max_txn_ops (%llu)",
		         nc + ns + nf, (unsigned long long)d->store_limits.max_txn_ops);
		config_txn_bad(c, "", reason);
		config_txn_args_free(d, a, block);
		return;
	}
	for (size_t i = 0; i < nc; i++) {
		if (a->found[i] != 1) {
			snprintf(path, sizeof(path), "/compare/%zu", i);
			config_txn_bad(c, path,
			               "a compare holds exactly one of revision, version, value, exists");
			config_txn_args_free(d, a, block);
			return;
		}
		if (!udsrpc_call_allowed_found(c, "config.get", a->cmps[i].key,
		                               &found[STORE_TXN_GET])) {
			config_refuse_key(c, "config.txn", a->cmps[i].key);
			config_txn_args_free(d, a, block);
			return;
		}
	}
	if (config_txn_ops(c, "success", a->succ, a->eph_succ, ns, found) < 0 ||
	    config_txn_ops(c, "failure", a->fail, a->eph_fail, nf, found) < 0 ||
	    !(w = config_write_new(d, c, "", NULL, 0))) {
		config_txn_args_free(d, a, block);
		return;
	}
	/* From here the write holds them: config_write_finish lets them go. */
	w->txn_block = block;
	w->txn_vals = a->vals;
	w->txn_nvals = a->nvals;
	w->changes = a->changes;
	config_txn_bind(w, a->succ, a->eph_succ, ns);
	config_txn_bind(w, a->fail, a->eph_fail, nf);
	struct store_txn_results res = {.changed = a->changed};
	r = store_txn(d->store, a->cmps, nc, a->succ, ns, a->fail, nf, config_done, w,
	              &w->succeeded, &res);
	if (r < 0) {
		config_done(w, STORE_IO_ERROR, 0, r == -ENOMEM ? "out of memory" : strerror(-r));
		return;
	}
	w->results = res.text;
	w->results_len = res.len;
	/* The changes borrow their keys and values from the tree, or from the text's copies. */
	w->txn_ops = json_incref((json_t *)(w->succeeded ? js : jf));
	/* Read once here, not per event and again for the audit line. */
	const struct store_txn_op *ran = w->succeeded ? a->succ : a->fail;
	for (size_t i = 0, n = w->succeeded ? ns : nf; i < n; i++) {
		if (ran[i].op == STORE_TXN_GET || !res.changed[i])
			continue;
		bool set = ran[i].op == STORE_TXN_SET;
		w->changes[w->nchanges++] = (struct config_change){
		    ran[i].key, set ? ran[i].value : NULL, set ? ran[i].vtext : NULL,
		    set ? ran[i].vlen : 0};
	}
}

static void config_txn(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	const json_t *jc = json_object_get(params, "compare"),
	             *js = json_object_get(params, "success"),
	             *jf = json_object_get(params, "failure");
	struct config_txn_args a;
	void *block = config_txn_args_new(userdata, &a, json_array_size(jc), json_array_size(js),
	                                  json_array_size(jf), 0);

	if (!block) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return;
	}
	a.nc = json_array_size(jc);
	a.ns = json_array_size(js);
	a.nf = json_array_size(jf);
	for (size_t i = 0; i < a.nc; i++)
		config_txn_cmp_of(json_array_get(jc, i), &a.cmps[i], &a.found[i]);
	for (size_t i = 0; i < a.ns; i++)
		config_txn_op_of(json_array_get(js, i), &a.succ[i], &a.eph_succ[i]);
	for (size_t i = 0; i < a.nf; i++)
		config_txn_op_of(json_array_get(jf, i), &a.fail[i], &a.eph_fail[i]);
	config_txn_run(userdata, c, &a, block, js, jf);
}

/* ---- config.txn from its params' text ---- */

/*
 * The shape nearly every transaction has, taken apart without a tree
 * (udsrpc_server_set_text_handler): params an object of compare, success
 * and failure, each at most once, success there; compares and ops objects
 * of the members the schema names, each at most once, of the types it
 * gives; keys of the key alphabet; values strings of printable ASCII
 * without escapes, integers written plainly (at most 18 digits), true,
 * false, null. Anything else (escapes, other bytes, reals, containers as
 * values, a member twice or unknown, bad syntax) returns false having
 * done nothing: the request goes the usual way, whose schema check owns
 * every error of shape. Building the tree, checking it and freeing it cost
 * half of a 10-op transaction.
 */
struct txn_scan {
	const char *p, *end;
	struct config_txn_args *a;
	size_t cap_cmps, cap_ops; /* compares, and ops per branch, the block has room for */
};

static inline void txn_ws(struct txn_scan *t)
{
	/* Compact text, as clients nearly always send, has none: one test then. */
	if (t->p < t->end && (unsigned char)*t->p > ' ')
		return;
	while (t->p < t->end && (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r'))
		t->p++;
}

/* The byte ch next (after whitespace): taken. */
static bool txn_char(struct txn_scan *t, char ch)
{
	txn_ws(t);
	if (t->p >= t->end || *t->p != ch)
		return false;
	t->p++;
	return true;
}

/*
 * The quoted word w (n bytes, needing no escapes) next: taken. Compared
 * byte by byte: the words are a few bytes, shorter than a memcmp call.
 */
static inline bool txn_word(struct txn_scan *t, const char *w, size_t n)
{
	txn_ws(t);
	if ((size_t)(t->end - t->p) < n + 2 || t->p[0] != '"' || t->p[n + 1] != '"')
		return false;
	for (size_t i = 0; i < n; i++)
		if (t->p[1 + i] != w[i])
			return false;
	t->p += n + 2;
	return true;
}

/* A member name an object may have. */
struct txn_name {
	const char *s;
	size_t n;
};
#define TXN_NAME(lit) {lit, sizeof(lit) - 1}

/* A member's name, one of names[n] not seen before in this object, and its ':'; -1: none. */
static int txn_member(struct txn_scan *t, const struct txn_name *names, int n, unsigned *seen)
{
	txn_ws(t);
	if (t->end - t->p < 2)
		return -1;
	for (int i = 0; i < n; i++) {
		/* Another first letter: not this name, without a compare. */
		if (t->p[1] == names[i].s[0] && txn_word(t, names[i].s, names[i].n)) {
			if ((*seen & (1u << i)) || !txn_char(t, ':'))
				return -1;
			*seen |= 1u << i;
			return i;
		}
	}
	return -1;
}

/*
 * A key (ConfigKey: the store's rule, whose alphabet has no quote, escape
 * or byte jansson would change), copied into the block: the text goes
 * with the request.
 */
static const char *txn_key(struct txn_scan *t)
{
	struct config_txn_args *a = t->a;
	const char *s, *q;
	size_t len;
	char *k;

	txn_ws(t);
	if (t->p >= t->end || *t->p != '"' ||
	    !(q = memchr(t->p + 1, '"', (size_t)(t->end - t->p - 1))))
		return NULL;
	s = t->p + 1;
	len = (size_t)(q - s);
	if (!store_key_valid(s, len))
		return NULL;
	t->p = q + 1;
	k = a->keys + a->nkeys;
	memcpy(k, s, len);
	k[len] = '\0';
	a->nkeys += len + 1;
	return k;
}

/* A value of the plain kinds (jsonnum_scalar), kept in the block (own reference). */
static json_t *txn_value(struct txn_scan *t)
{
	struct config_txn_args *a = t->a;
	json_t *v;

	txn_ws(t);
	if (t->p >= t->end || !(v = jsonnum_scalar(t->p, t->end, &t->p)))
		return NULL;
	a->vals[a->nvals++] = v;
	return v;
}

/*
 * A set's value: its text is the compact dump its record and event hold (a
 * plain string as it is, an integer written plainly, a literal), so only
 * that is kept, copied beside the keys (their room is the whole text's),
 * and no value is built: the store records the text, the event shows it.
 * But for -0, which dumps as 0 (and, to be simple, any other two bytes
 * starting with '-'): that one is built as a value and dumped.
 */
static bool txn_set_value(struct txn_scan *t, struct store_txn_op *op)
{
	struct config_txn_args *a = t->a;
	const char *s, *e;

	txn_ws(t);
	s = t->p;
	if (s >= t->end || !(e = jsonnum_scalar_end(s, t->end)))
		return false;
	if (e - s == 2 && s[0] == '-')
		return (op->value = txn_value(t)) != NULL;
	op->vlen = (size_t)(e - s);
	op->vtext = memcpy(a->keys + a->nkeys, s, op->vlen);
	a->nkeys += op->vlen;
	t->p = e;
	return true;
}

/* A boolean, or (unsigned) an integer of at least 0: the value of a compare's member. */
static bool txn_scalar_of(struct txn_scan *t, bool unsigned_int, struct store_txn_cmp *c)
{
	json_t *v;
	bool ok;

	txn_ws(t);
	if (t->p >= t->end || *t->p == '-' || !(v = jsonnum_scalar(t->p, t->end, &t->p)))
		return false;
	ok = unsigned_int ? json_is_integer(v) : json_is_boolean(v);
	c->num = (uint64_t)json_integer_value(v);
	c->exists = json_is_true(v);
	json_decref(v);
	return ok;
}

/* An object's members, each by fn (which takes the value); false: not of the shape. */
/* The rest of an object from its next member on, seen: the members taken before. */
static bool txn_object_rest(struct txn_scan *t, const struct txn_name *names, int n,
                            bool (*fn)(struct txn_scan *t, int member, void *ret), void *ret,
                            unsigned seen)
{
	int m;

	do {
		if ((m = txn_member(t, names, n, &seen)) < 0 || !fn(t, m, ret))
			return false;
	} while (txn_char(t, ','));
	return txn_char(t, '}') && (seen & 1); /* the first name is the required one */
}

static bool txn_object(struct txn_scan *t, const struct txn_name *names, int n,
                       bool (*fn)(struct txn_scan *t, int member, void *ret), void *ret)
{
	return txn_char(t, '{') && txn_object_rest(t, names, n, fn, ret, 0);
}

/* Whether the n bytes at p are lit's: eight at a time, in place (no call for a few bytes). */
static inline bool txn_lit(const char *p, const char *lit, size_t n)
{
	uint64_t a, b;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&a, p + i, 8);
		memcpy(&b, lit + i, 8);
		if (a != b)
			return false;
	}
	for (; i < n; i++)
		if (p[i] != lit[i])
			return false;
	return true;
}

static const struct txn_name txn_cmp_names[] = {TXN_NAME("key"), TXN_NAME("revision"),
                                                TXN_NAME("version"), TXN_NAME("value"),
                                                TXN_NAME("exists")};

static bool txn_cmp_member(struct txn_scan *t, int m, void *arg)
{
	struct store_txn_cmp *c = arg;
	unsigned char *found = &t->a->found[c - t->a->cmps];

	if (m == 0)
		return (c->key = txn_key(t)) != NULL;
	++*found;
	c->what = (enum store_cmp_kind)(m - 1); /* the enum's order */
	if (m == 3)
		return (c->value = txn_value(t)) != NULL;
	return txn_scalar_of(t, m != 4, c); /* revision, version: integers, minimum 0 */
}

/* "key" first: the one the schema requires of both. */
static const struct txn_name txn_op_names[] = {TXN_NAME("key"), TXN_NAME("op"),
                                               TXN_NAME("value"), TXN_NAME("ephemeral")};

struct txn_op_at {
	struct store_txn_op *op;
	bool *eph;
	bool kind; /* "op" was given */
};

static bool txn_op_member(struct txn_scan *t, int m, void *arg)
{
	struct txn_op_at *at = arg;
	struct store_txn_cmp flag; /* ephemeral's boolean, as a compare's exists is read */

	switch (m) {
	case 0:
		return (at->op->key = txn_key(t)) != NULL;
	case 1:
		at->kind = true;
		if (txn_word(t, "set", 3))
			at->op->op = STORE_TXN_SET;
		else if (txn_word(t, "get", 3))
			at->op->op = STORE_TXN_GET;
		else if (txn_word(t, "unset", 5))
			at->op->op = STORE_TXN_UNSET;
		else
			return false;
		return true;
	case 2:
		return txn_set_value(t, at->op);
	default:
		if (!txn_scalar_of(t, false, &flag))
			return false;
		*at->eph = flag.exists;
		return true;
	}
}

/*
 * An op. Its head as clients write it, {"op":"KIND","key":, without
 * whitespace, is taken as one literal, and a ,"value": after the key as
 * another; from anything else on, the members are read one by one.
 */
static bool txn_op(struct txn_scan *t, struct txn_op_at *at)
{
	static const struct {
		const char *head;
		size_t n;
		enum store_txn_kind op;
	} heads[] = {{"{\"op\":\"set\",\"key\":", 18, STORE_TXN_SET},
	             {"{\"op\":\"get\",\"key\":", 18, STORE_TXN_GET},
	             {"{\"op\":\"unset\",\"key\":", 20, STORE_TXN_UNSET}};
	unsigned seen = 0; /* bits of txn_op_names */
	int h = -1;

	if (t->end - t->p >= 20 && t->p[0] == '{' && t->p[2] == 'o')
		h = t->p[7] == 's' ? 0 : t->p[7] == 'g' ? 1 : 2;
	if (h < 0 || !txn_lit(t->p, heads[h].head, heads[h].n))
		return txn_object(t, txn_op_names, 4, txn_op_member, at);
	t->p += heads[h].n;
	at->op->op = heads[h].op;
	at->kind = true;
	if (!(at->op->key = txn_key(t)))
		return false;
	seen = 1u << 0 | 1u << 1;
	if (t->end - t->p >= 9 && txn_lit(t->p, ",\"value\":", 9)) {
		t->p += 9;
		if (!txn_set_value(t, at->op))
			return false;
		seen |= 1u << 2;
	}
	if (t->p < t->end && *t->p == '}') {
		t->p++;
		return true;
	}
	return txn_char(t, ',') && txn_object_rest(t, txn_op_names, 4, txn_op_member, at, seen);
}

/* A list of compares (ops NULL) or of ops, as many as the block has room for. */
static bool txn_list(struct txn_scan *t, struct store_txn_op *ops, bool *eph, size_t *ret_n)
{
	size_t n = 0;

	if (!txn_char(t, '['))
		return false;
	if (txn_char(t, ']'))
		return true;
	do {
		if (n == (ops ? t->cap_ops : t->cap_cmps))
			return false;
		if (!ops) {
			struct store_txn_cmp *c = &t->a->cmps[n];

			*c = (struct store_txn_cmp){0};
			t->a->found[n] = 0;
			if (!txn_object(t, txn_cmp_names, 5, txn_cmp_member, c))
				return false;
		} else {
			struct txn_op_at at = {.op = &ops[n], .eph = &eph[n]};

			ops[n] = (struct store_txn_op){0};
			eph[n] = false;
			if (!txn_op(t, &at) || !at.kind)
				return false;
		}
		*ret_n = ++n;
	} while (txn_char(t, ','));
	return txn_char(t, ']');
}

static const struct txn_name txn_params_names[] = {TXN_NAME("success"), TXN_NAME("compare"),
                                                   TXN_NAME("failure")};

static bool txn_params_member(struct txn_scan *t, int m, void *arg)
{
	struct config_txn_args *a = arg;

	if (m == 0)
		return txn_list(t, a->succ, a->eph_succ, &a->ns);
	if (m == 1)
		return txn_list(t, NULL, NULL, &a->nc);
	return txn_list(t, a->fail, a->eph_fail, &a->nf);
}

static bool config_txn_text(struct udsrpc_call *c, const char *text, size_t len, void *userdata)
{
	struct udsrpcd *d = userdata;
	/* n compares take 12n - 1 bytes at least ({"key":"k"} and commas), n ops
	 * 23n - 1 ({"op":"get","key":"k"}): bounds on their number, held to
	 * max_txn_ops (a list of more is the usual way's). */
	size_t max = d->store_limits.max_txn_ops, cap_cmps = (len + 1) / 12 + 1,
	       cap_ops = (len + 1) / 23 + 1;
	struct config_txn_args a;
	void *block;

	cap_cmps = cap_cmps < max ? cap_cmps : max;
	cap_ops = cap_ops < max ? cap_ops : max;
	if (!(block = config_txn_args_new(d, &a, cap_cmps, cap_ops, cap_ops, len + 1)))
		return false;
	struct txn_scan t = {
	    .p = text, .end = text + len, .a = &a, .cap_cmps = cap_cmps, .cap_ops = cap_ops};
	if (!txn_object(&t, txn_params_names, 3, txn_params_member, &a) || t.p != t.end) {
		config_txn_args_free(d, &a, block);
		return false;
	}
	/* The write keeps the block: its keys and values are the changes'. */
	config_txn_run(d, c, &a, block, NULL, NULL);
	return true;
}
/* store_restore's judge of each item's key: one the caller may set. */
static bool config_restore_allowed(const char *key, void *arg)
{
	return udsrpc_call_allowed(arg, "config.set", key);
}

/*
 * config.restore: one transaction of the store's making (store_restore). A
 * duplicate key is -32602 with its path; every key must be one the caller
 * may set, and with replace every key removed one it may unset.
 */
static void config_restore(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct udsrpcd *d = userdata;
	json_t *items = json_object_get(params, "items");
	bool replace = strcmp(json_string_value(json_object_get(params, "mode")), "replace") == 0;
	struct config_write *w;
	char path[32];
	size_t at = 0;
	int r;

	if (replace && !config_prefix_allowed(d, c, "config.restore", ""))
		return;
	if (!(w = config_write_new(d, c, "", NULL, 0)))
		return;
	w->restore = true;
	w->count = json_array_size(items);
	w->items = json_incref(items);
	r = store_restore(d->store, items, replace, config_restore_allowed, w->call, config_done, w,
	                  &w->keys, &at);
	if (r == -EEXIST || r == -EPERM) {
		if (r == -EEXIST) {
			snprintf(path, sizeof(path), "/items/%zu", at);
			config_txn_bad(w->call, path, "a key given twice");
		} else {
			config_refuse_key(w->call, "config.restore",
			                  json_string_value(json_object_get(json_array_get(items, at),
			                                                    "key")));
		}
		w->cc->writes_done++;
		w->cc->running = true;
		config_write_finish(w);
	} else if (r < 0) {
		config_done(w, STORE_IO_ERROR, 0, r == -ENOMEM ? "out of memory" : strerror(-r));
	}
}

/*
 * The connection that owned ephemeral items closed: they go as one change,
 * each with a config event saying why (the peer in it is the owner).
 */
static void config_owner_done(void *arg, enum store_status st, uint64_t revision,
                              const char *reason)
{
	struct config_write *w = arg;

	if (st == STORE_OK) {
		config_audit(w, revision);
		for (size_t i = 0; config_recorded(w->d) && i < json_array_size(w->keys); i++)
			config_publish(w, json_string_value(json_array_get(w->keys, i)), NULL,
			               revision, "owner_closed");
	} else {
		udsrpc_server_log(w->d->srv, UDSRPC_LOG_ERROR,
		                  "connection %llu closed but its ephemeral items stay until the "
		                  "next start: %s",
		                  (unsigned long long)w->owner_id, reason ? reason : "write failed");
	}
	json_decref(w->keys);
	free(w);
}

static void config_owner_gone(struct udsrpcd *d, const struct store_owner *owner)
{
	struct config_write *w = calloc(1, sizeof(*w) + 1);
	int r;

	if (!w) {
		udsrpc_server_log(d->srv, UDSRPC_LOG_ERROR,
		                  "connection %llu closed but its ephemeral items stay until the "
		                  "next start: out of memory",
		                  (unsigned long long)owner->id);
		return;
	}
	w->d = d;
	w->uid = owner->uid;
	w->pid = owner->pid;
	w->owner_id = owner->id;
	r = store_unset_owner(d->store, owner->id, config_owner_done, w, &w->keys);
	if (r < 0)
		config_owner_done(w, STORE_IO_ERROR, 0, strerror(-r));
}

void config_record_purged(struct udsrpcd *d, uint64_t revision, const json_t *keys)
{
	/* The owners are gone with the last run (the log keeps no owner): the
	 * daemon itself is the peer that removed them. */
	struct config_write w = {.d = d, .uid = d->self_uid, .pid = getpid()};

	for (size_t i = 0; i < json_array_size(keys); i++)
		config_publish(&w, json_string_value(json_array_get(keys, i)), NULL, revision,
		               "owner_closed");
}

/* The store's committer answers writes early; the loop applies them before reading on. */
static void config_sync(void *arg)
{
	store_poll(arg);
}

void config_attach_store(struct udsrpcd *d)
{
	store_set_early(d->store, config_early);
	udsrpc_server_set_text_handler(d->srv, "config.txn", config_txn_text);
	udsrpc_server_set_sync(d->srv, config_sync, d->store);
	if (d->history)
		udsrpc_server_set_history(d->srv, "config", config_history, d);
}

const struct udsrpc_method config_methods[] = {
	{"config.get", config_get, UDSRPC_METHOD_KEYED},
	{"config.list", config_list, 0},
	{"config.set", config_set, UDSRPC_METHOD_KEYED},
	{"config.unset", config_unset, UDSRPC_METHOD_KEYED},
	{"config.txn", config_txn, 0},
	{"config.restore", config_restore, 0},
};
const size_t config_methods_count = sizeof(config_methods) / sizeof(config_methods[0]);
