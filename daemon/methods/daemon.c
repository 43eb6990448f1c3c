/* daemon.c — the daemon.* methods: info, stats, reload, shutdown, log_level. */
#include <stdio.h>
#include <time.h>

#include "clock.h"
#include "events.h"
#include "log.h"
#include "methods.h"
#include "policy.h"
#include "rpc_errors.h"
#include "server.h"

void methods_rfc3339(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;
	gmtime_r(&ts->tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts->tv_nsec / 1000000);
}

static void daemon_info(struct call *c, json_t *params)
{
	struct server *srv = call_server(c);
	char started[40];

	methods_rfc3339(&srv->started, started, sizeof(started));
	call_result(c, json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:I,s:I}", "name", "udsrpcd", "version",
				 UDSRPC_VERSION, "pid", (json_int_t)srv->pid, "uid",
				 (json_int_t)srv->uid, "socket", srv->socket_path, "started",
				 started, "uptime_ms",
				 (json_int_t)(clock_now_ms() - srv->started_ms), "connections",
				 (json_int_t)srv->nconns));
}

static void daemon_stats(struct call *c, json_t *params)
{
	struct server *srv = call_server(c);
	json_t *res = stats_json(&srv->stats);
	json_t *methods = json_object();

	/* Methods never called are left out: the table stays readable. This
	 * call itself is counted only once it completes, like every call. */
	for (size_t i = 0; i < methods_count; i++) {
		const struct method_stats *m = &srv->method_stats[i];
		if (m->calls)
			json_object_set_new(methods, methods_table[i]->name, stats_method_json(m));
	}
	json_object_set_new(res, "methods", methods);
	call_result(c, res);
}

static void daemon_reload(struct call *c, json_t *params)
{
	struct server *srv = call_server(c);
	char err[512];

	if (server_reload(srv, err, sizeof(err)) < 0) {
		call_error(c, RPC_INTERNAL_ERROR, json_pack("{s:s}", "reason", err));
		return;
	}
	call_result(c, json_pack("{s:I}", "policy_rules", (json_int_t)policy_rule_count(srv->policy)));
}

static void daemon_shutdown(struct call *c, json_t *params)
{
	const struct peer_ident *p = call_peer(c);

	log_info("shutdown requested by uid %u pid %d", (unsigned)p->uid, (int)p->pid);
	call_result(c, json_pack("{s:b}", "stopping", 1));
	server_stop(call_server(c));
}

static void daemon_log_level(struct call *c, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "level"));
	enum log_level level;

	/* The schema's enum already limited the name; parse cannot fail here. */
	if (log_level_parse(name, &level) < 0) {
		call_error(c, RPC_INTERNAL_ERROR, NULL);
		return;
	}
	log_set_level(level);
	log_info("log level set to %s", name);
	call_result(c, json_pack("{s:s}", "level", name));
	events_daemon(call_server(c), "log_level", json_pack("{s:s}", "level", name));
}

const struct method method_daemon_info = {"daemon.info", daemon_info};
const struct method method_daemon_stats = {"daemon.stats", daemon_stats};
const struct method method_daemon_reload = {"daemon.reload", daemon_reload};
const struct method method_daemon_shutdown = {"daemon.shutdown", daemon_shutdown};
const struct method method_daemon_log_level = {"daemon.log_level", daemon_log_level};
