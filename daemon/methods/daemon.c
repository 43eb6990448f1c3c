/* daemon.c — udsrpcd's daemon.* methods: reload, shutdown, log_level (info and stats are the library's). */
#include <stdarg.h>
#include <stdio.h>

#include <udsrpc/udsrpc.h>

#include "udsrpcd.h"

/* The audit line of udsrpc(7): these calls answer at once, so the caller is the call's peer. */
__attribute__((format(printf, 2, 3))) static void daemon_audit(struct udsrpc_call *c,
                                                               const char *fmt, ...)
{
	const struct udsrpc_peer *p = udsrpc_call_peer(c);
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	udsrpc_server_audit(udsrpc_call_server(c), udsrpc_call_method(c), udsrpc_peer_uid(p),
	                    udsrpc_peer_pid(p), udsrpc_peer_exe(p), "%s", detail);
}

static void daemon_reload(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct udsrpcd *d = userdata;
	char err[512];

	if (udsrpcd_reload(d, err, sizeof(err)) < 0) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, json_pack("{s:s}", "reason", err));
		return;
	}
	size_t rules = udsrpc_server_policy_rules(d->srv);
	daemon_audit(c, "policy of %zu rule(s) in force", rules);
	udsrpc_call_result(c, json_pack("{s:I}", "policy_rules", (json_int_t)rules));
}

static void daemon_shutdown(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct udsrpcd *d = userdata;

	daemon_audit(c, "stopping");
	udsrpc_call_result(c, json_pack("{s:b}", "stopping", 1));
	udsrpc_server_stop(d->srv);
}

static void daemon_log_level(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	const char *name = json_string_value(json_object_get(params, "level"));
	struct udsrpcd *d = userdata;
	enum udsrpc_log_level level;

	/* The schema's enum already limited the name; parse cannot fail here. */
	if (udsrpc_log_level_parse(name, &level) < 0) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
		return;
	}
	udsrpc_server_set_log_level(d->srv, level);
	daemon_audit(c, "log level %s", name);
	udsrpc_call_result(c, json_pack("{s:s}", "level", name));
	udsrpc_server_publish(d->srv, "daemon", json_pack("{s:s,s:s}", "type", "log_level", "level", name));
}

const struct udsrpc_method daemon_methods[] = {
	{"daemon.reload", daemon_reload, 0},
	{"daemon.shutdown", daemon_shutdown, 0},
	{"daemon.log_level", daemon_log_level, 0},
};
const size_t daemon_methods_count = sizeof(daemon_methods) / sizeof(daemon_methods[0]);
