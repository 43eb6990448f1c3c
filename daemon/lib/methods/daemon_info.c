/* daemon_info.c — the server's introspection: daemon.info and daemon.stats. */
#include <stdio.h>
#include <time.h>

#include <udsrpc/udsrpc.h>

#include "clock.h"
#include "methods.h"
#include "server.h"

void methods_rfc3339(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;
	gmtime_r(&ts->tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts->tv_nsec / 1000000);
}

void builtin_daemon_info(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct udsrpc_server *srv = udsrpc_call_server(c);
	char started[40];

	methods_rfc3339(&srv->started, started, sizeof(started));
	udsrpc_call_result(c, json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:I,s:I}", "name", srv->name,
	                                "version", srv->version, "pid", (json_int_t)srv->pid, "uid",
	                                (json_int_t)srv->self_uid, "socket", srv->socket_path,
	                                "started", started, "uptime_ms",
	                                (json_int_t)(clock_now_ms() - srv->started_ms),
	                                "connections", (json_int_t)srv->nconns));
}

void builtin_daemon_stats(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct udsrpc_server *srv = udsrpc_call_server(c);
	json_t *res = stats_json(&srv->stats);
	json_t *methods = json_object();

	/* Methods never called are left out: the table stays readable. This
	 * call itself is counted only once it completes, like every call. */
	for (size_t i = 0; i < srv->reg.n; i++) {
		const struct method_entry *e = srv->reg.sorted[i];
		if (e->stats.calls)
			json_object_set_new(methods, e->name, stats_method_json(&e->stats));
	}
	json_object_set_new(res, "methods", methods);
	if (srv->on_stats)
		srv->on_stats(srv, res, srv->userdata);
	udsrpc_call_result(c, res);
}
