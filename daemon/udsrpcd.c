/*
 * udsrpcd.c — udsrpcd on libudsrpc: the options its config gives the
 * server, its methods registered like any service's, then the order of
 * start-up (socket as root, state dir, store, the switch to its user).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <udsrpc/event.h>

#include "documents.h"
#include "privileges.h"
#include "state_dir.h"
#include "store.h"
#include "file_trust.h"
#include "history.h"
#include "udsrpcd.h"

static void udsrpcd_on_reload(struct udsrpc_server *srv, void *userdata)
{
	char err[512];
	udsrpcd_reload(userdata, err, sizeof(err));
}

/* daemon.stats: the store's items and bytes, as max_keys and max_store_bytes count them. */
static void udsrpcd_on_stats(struct udsrpc_server *srv, json_t *stats, void *userdata)
{
	struct udsrpcd *d = userdata;
	uint64_t items, bytes;

	if (!d->store)
		return;
	store_get_usage(d->store, &items, &bytes);
	json_object_set_new(stats, "store", json_pack("{s:I,s:I}", "items", (json_int_t)items,
	                                              "bytes", (json_int_t)bytes));
}

static void udsrpcd_on_disconnect(struct udsrpc_server *srv, const struct udsrpc_peer *peer,
                                  void *conn_data, void *userdata)
{
	config_conn_closed(userdata, conn_data);
}

/*
 * The store's limits (udsrpc(7) LIMITS): the daemon's, not the library's, so
 * their defaults and ranges live here (the schema repeats the ranges).
 */
static const struct {
	const char *name;
	size_t off;
	uint64_t def, min, max;
} store_limit_defs[] = {
    {"max_keys", offsetof(struct store_limits, max_keys), 100000, 1, 1000000000},
    {"max_store_bytes", offsetof(struct store_limits, max_store_bytes), 67108864, 1024,
     1099511627776ull},
    {"max_txn_ops", offsetof(struct store_limits, max_txn_ops), 128, 1, 100000},
    {"history_revisions", offsetof(struct store_limits, history_revisions), 10000, 1, 10000000},
    {"history_bytes", offsetof(struct store_limits, history_bytes), 16777216, 4096,
     17179869184ull},
};
#define NSTORE_LIMITS (sizeof(store_limit_defs) / sizeof(store_limit_defs[0]))

static uint64_t *store_limit_slot(struct store_limits *l, size_t i)
{
	return (uint64_t *)((char *)l + store_limit_defs[i].off);
}

/* Of a store limit's name, its index; -1 for the library's. */
static int store_limit_find(const char *name)
{
	for (size_t i = 0; i < NSTORE_LIMITS; i++)
		if (strcmp(name, store_limit_defs[i].name) == 0)
			return (int)i;
	return -1;
}

/*
 * Every member of the config's "limits" (validated by its schema): the
 * store's into *sl (the others at their defaults), the rest into the server.
 */
static int udsrpcd_apply_limits(struct udsrpc_server *srv, struct store_limits *sl,
                                const json_t *limits, char *err, size_t errlen)
{
	const char *name;
	json_t *v;

	for (size_t i = 0; i < NSTORE_LIMITS; i++)
		*store_limit_slot(sl, i) = store_limit_defs[i].def;
	json_object_foreach((json_t *)limits, name, v)
	{
		int k = store_limit_find(name);
		uint64_t val = (uint64_t)json_integer_value(v);

		if (k >= 0) {
			if (val < store_limit_defs[k].min || val > store_limit_defs[k].max) {
				snprintf(err, errlen, "limits: %s %lld: out of range (%llu..%llu)",
				         name, (long long)json_integer_value(v),
				         (unsigned long long)store_limit_defs[k].min,
				         (unsigned long long)store_limit_defs[k].max);
				return -EINVAL;
			}
			*store_limit_slot(sl, (size_t)k) = val;
			continue;
		}
		int r = udsrpc_server_set_limit(srv, name, val);
		if (r < 0) {
			snprintf(err, errlen, "limits: %s %lld: %s", name,
			         (long long)json_integer_value(v),
			         r == -ERANGE ? "out of range" : "no such limit");
			return -EINVAL;
		}
	}
	return 0;
}

/* The history's bounds, from the config's limits. */
#define udsrpcd_history_limits(d)                                                               \
	((struct history_limits){.max_revisions = (d)->store_limits.history_revisions,          \
	                         .max_bytes = (d)->store_limits.history_bytes})

static int udsrpcd_load_policy(struct udsrpcd *d, const char *path, char *err, size_t errlen)
{
	if (!path) {
		udsrpc_server_set_policy_default(d->srv);
		return 0;
	}
	int r = file_trust_check(path, d->self_uid, err, errlen);
	if (r < 0)
		return r;
	return udsrpc_server_set_policy_file(d->srv, path, err, errlen);
}

int udsrpcd_init(struct udsrpcd *d, char *err, size_t errlen)
{
	struct udsrpc_server_options o;
	struct udsrpc_method table[32];
	struct runas ra;
	size_t n = 0;
	int r;

	/* "self" in the policy and daemon.info's uid: the uid that serves. */
	if ((r = runas_resolve(&d->cfg, &ra, err, errlen)) < 0)
		return r;
	udsrpc_server_options_init(&o);
	o.name = "udsrpcd";
	o.version = UDSRPC_VERSION;
	o.socket_path = d->cfg.socket;
	o.socket_mode = d->cfg.socket_mode;
	o.socket_group = d->cfg.socket_group;
	o.builtins = UDSRPC_BUILTIN_ALL;
	o.flags = UDSRPC_SERVER_SIGNALS | UDSRPC_SERVER_NOTIFY | UDSRPC_SERVER_SOCKET_ACTIVATION;
	o.log_level = d->cfg.log_level;
	o.userdata = d;
	o.self_uid = ra.uid;
	d->self_uid = ra.uid;
	o.on_reload = udsrpcd_on_reload;
	o.on_disconnect = udsrpcd_on_disconnect;
	o.on_stats = udsrpcd_on_stats;
	if ((r = udsrpc_server_new(&d->srv, &o, err, errlen)) < 0)
		return r;
	if ((r = udsrpcd_apply_limits(d->srv, &d->store_limits, d->cfg.limits, err, errlen)) < 0)
		return r;
	if ((r = udsrpc_server_add_topic(d->srv, "config", "config.get")) < 0) {
		snprintf(err, errlen, "topic config: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < config_methods_count; i++)
		table[n++] = config_methods[i];
	for (size_t i = 0; i < daemon_methods_count; i++)
		table[n++] = daemon_methods[i];
	/* The contract document describes the built-ins too; the library serves those. */
	if ((r = udsrpc_server_add_methods(d->srv, udsrpc_openrpc_json, udsrpc_openrpc_json_len,
	                                   table, n, d, err, errlen)) < 0)
		return r;
	return udsrpcd_load_policy(d, d->policy_path, err, errlen);
}

/* Reload re-reads these files as the user we switched to. */
static void udsrpcd_check_readable(struct udsrpcd *d, const char *path, uid_t uid)
{
	if (path && access(path, R_OK) < 0)
		udsrpc_server_log(d->srv, UDSRPC_LOG_WARNING,
		                  "%s is not readable by uid %u (%s): daemon.reload and SIGHUP will "
		                  "fail until it is; make it readable by that user or group",
		                  path, (unsigned)uid, strerror(errno));
}

/* The store's reports go out as the daemon's own log lines (store levels are syslog's). */
static void udsrpcd_store_log(void *arg, int level, const char *msg)
{
	udsrpc_server_log(arg, (enum udsrpc_log_level)level, "%s", msg);
}

int udsrpcd_repair(const char *state_dir)
{
	struct store_options opt = {.log = udsrpcd_store_log};
	struct store_repair_result res;
	char err[1024];

	if (store_repair(state_dir, &opt, &res, err, sizeof(err)) < 0) {
		udsrpc_server_log(NULL, UDSRPC_LOG_ERROR, "--repair: %s", err);
		return 1;
	}
	if (res.lost_bytes == 0)
		printf("udsrpcd: %s: every record read back (%llu kept); nothing set aside, "
		       "revision %llu\n",
		       state_dir, (unsigned long long)res.kept_records,
		       (unsigned long long)res.revision);
	else
		printf("udsrpcd: %s: kept %llu log record(s); %llu record(s) could not be read, "
		       "%llu bytes moved to %s; revision %llu\n",
		       state_dir, (unsigned long long)res.kept_records,
		       (unsigned long long)res.lost_records, (unsigned long long)res.lost_bytes,
		       res.damaged_path, (unsigned long long)res.revision);
	return 0;
}

/* What store_open removed at start-up (ephemeral items of the last run), for the history. */
struct udsrpcd_purged {
	uint64_t revision;
	json_t *keys;
};

static void udsrpcd_on_purged(void *arg, uint64_t revision, const json_t *keys)
{
	struct udsrpcd_purged *p = arg;

	p->revision = revision;
	p->keys = json_incref((json_t *)keys);
}

int udsrpcd_run(struct udsrpcd *d, char *err, size_t errlen)
{
	struct runas ra;
	int r;

	if ((r = runas_resolve(&d->cfg, &ra, err, errlen)) < 0)
		return r;
	/* Per thread and inherited: set before the store starts its committer. */
	if (ra.switch_ids && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(-r));
		return r;
	}
	/* The socket first: a live daemon there must find its state dir untouched. */
	if ((r = udsrpc_server_listen(d->srv, err, errlen)) < 0)
		return r;
	if ((r = state_dir_make(d->cfg.state_dir, &ra, err, errlen)) < 0)
		return r;
	struct udsrpcd_purged purged = {0};
	if ((r = store_open(d->cfg.state_dir, udsrpc_server_event_base(d->srv),
	                    &(struct store_options){.log = udsrpcd_store_log,
	                                            .log_arg = d->srv,
	                                            .purged = udsrpcd_on_purged,
	                                            .purged_arg = &purged},
	                    &d->store, err, errlen)) < 0)
		return r;
	store_set_limits(d->store, &d->store_limits);
	/* Opened as it was before the start-up unset of ephemeral keys, whose
	 * events then go in like any change's: the history stays complete
	 * across the restart. Every change from here on is in it too. */
	r = history_open(d->cfg.state_dir, &udsrpcd_history_limits(d),
	                 purged.keys ? purged.revision - 1 : store_revision(d->store),
	                 udsrpcd_store_log, d->srv, &d->history, err, errlen);
	if (r == 0 && purged.keys)
		config_record_purged(d, purged.revision, purged.keys);
	json_decref(purged.keys);
	if (r < 0)
		return r;
	if ((r = history_attach(d->history, udsrpc_server_event_base(d->srv))) < 0) {
		snprintf(err, errlen, "event history: out of memory");
		return r;
	}
	config_attach_store(d);
	/* Root was needed for the socket (bind in /run, chown to socket_group)
	 * and the state dir; nothing after this needs it. */
	if (ra.switch_ids) {
		if ((r = runas_switch(&d->cfg, &ra, err, errlen)) < 0)
			return r;
		udsrpc_server_log(d->srv, UDSRPC_LOG_INFO, "running as uid %u gid %u (%s%s%s)",
		                  (unsigned)ra.uid, (unsigned)ra.gid, d->cfg.user ? d->cfg.user : "",
		                  d->cfg.user && d->cfg.group ? ":" : "",
		                  d->cfg.group ? d->cfg.group : "");
		udsrpcd_check_readable(d, d->config_path, ra.uid);
		udsrpcd_check_readable(d, d->policy_path, ra.uid);
	}
	if ((r = udsrpc_server_run(d->srv, err, errlen)) < 0)
		return r;
	/* Every answered write is durable before the process goes; its events are kept. */
	store_close(d->store);
	d->store = NULL;
	history_close(d->history);
	d->history = NULL;
	return 0;
}

int udsrpcd_reload(struct udsrpcd *d, char *err, size_t errlen)
{
	struct config fresh;
	const char *policy_path = d->policy_path;
	int r;

	/* All or nothing: read both files, apply only when both are good. */
	config_defaults(&fresh);
	if (d->config_path) {
		if ((r = config_load_file(&fresh, d->config_path, err, errlen)) < 0) {
			config_free(&fresh);
			udsrpc_server_log(d->srv, UDSRPC_LOG_ERROR,
			                  "reload: %s; keeping the running configuration", err);
			return r;
		}
		if (fresh.policy && d->policy_from_config)
			policy_path = fresh.policy;
	}
	if ((r = udsrpcd_load_policy(d, policy_path, err, errlen)) < 0) {
		config_free(&fresh);
		udsrpc_server_log(d->srv, UDSRPC_LOG_ERROR, "reload: %s; keeping the running policy",
		                  err);
		return r;
	}
	if (d->config_path) {
		/* Socket, state dir and user are fixed for the life of the process;
		 * limits, log level and the policy file can change. */
		udsrpcd_apply_limits(d->srv, &d->store_limits, fresh.limits, err, errlen);
		if (d->store)
			store_set_limits(d->store, &d->store_limits);
		if (d->history)
			history_set_limits(d->history, &udsrpcd_history_limits(d));
		udsrpc_server_set_log_level(d->srv, fresh.log_level);
		d->cfg.log_level = fresh.log_level;
		json_decref(d->cfg.limits);
		d->cfg.limits = json_incref(fresh.limits);
		if (policy_path != d->policy_path)
			config_set_str(&d->policy_path, policy_path);
	}
	config_free(&fresh);
	size_t rules = udsrpc_server_policy_rules(d->srv);
	udsrpc_server_log(d->srv, UDSRPC_LOG_INFO, "reloaded: %zu policy rule(s)", rules);
	udsrpc_server_publish(d->srv, "daemon",
	                      json_pack("{s:s,s:I}", "type", "reload", "policy_rules",
	                                (json_int_t)rules));
	return 0;
}

json_t *udsrpcd_check_json(struct udsrpcd *d)
{
	json_t *limits = json_object();
	uint64_t v;

	for (size_t i = 0; udsrpc_limit_name(i); i++)
		if (udsrpc_server_get_limit(d->srv, udsrpc_limit_name(i), &v) == 0)
			json_object_set_new(limits, udsrpc_limit_name(i), json_integer((json_int_t)v));
	for (size_t i = 0; i < NSTORE_LIMITS; i++)
		json_object_set_new(limits, store_limit_defs[i].name,
		                    json_integer((json_int_t)*store_limit_slot(&d->store_limits, i)));
	json_t *out = json_pack("{s:o,s:o}", "config", config_to_json(&d->cfg, limits), "policy",
	                        udsrpc_server_policy_json(d->srv));
	json_decref(limits);
	return out;
}

void udsrpcd_free(struct udsrpcd *d)
{
	/* The store first: the writes still queued answer calls on the server. */
	if (d->store)
		store_close(d->store);
	d->store = NULL;
	history_close(d->history);
	d->history = NULL;
	udsrpc_server_free(d->srv);
	d->srv = NULL;
	config_spares_free(d);
	free(d->config_path);
	free(d->policy_path);
	config_free(&d->cfg);
}
