/* daemon.c — udsrpcd's daemon.* methods: reload, shutdown, log_level (info and stats are the library's). */
#include <stdio.h>

#include <udsrpc/udsrpc.h>

#include "udsrpcd.h"

static void daemon_reload(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct udsrpcd *d = userdata;
	char err[512];

	if (udsrpcd_reload(d, err, sizeof(err)) < 0) {
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, json_pack("{s:s}", "reason", err));
		return;
	}
	udsrpc_call_result(c, json_pack("{s:I}", "policy_rules",
	                                (json_int_t)udsrpc_server_policy_rules(d->srv)));
}

static void daemon_shutdown(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	const struct udsrpc_peer *p = udsrpc_call_peer(c);
	struct udsrpcd *d = userdata;

	udsrpc_server_log(d->srv, UDSRPC_LOG_INFO, "shutdown requested by uid %u pid %d",
	                  (unsigned)udsrpc_peer_uid(p), (int)udsrpc_peer_pid(p));
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
	udsrpc_server_log(d->srv, UDSRPC_LOG_INFO, "log level set to %s", name);
	udsrpc_call_result(c, json_pack("{s:s}", "level", name));
	udsrpc_server_publish(d->srv, "daemon", json_pack("{s:s,s:s}", "type", "log_level", "level", name));
}

const struct udsrpc_method daemon_methods[] = {
	{"daemon.reload", daemon_reload, 0},
	{"daemon.shutdown", daemon_shutdown, 0},
	{"daemon.log_level", daemon_log_level, 0},
};
const size_t daemon_methods_count = sizeof(daemon_methods) / sizeof(daemon_methods[0]);
