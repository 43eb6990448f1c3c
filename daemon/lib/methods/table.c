/* table.c — every built-in method, and the flag of the options that switches it on. */
#include "methods.h"

udsrpc_handler_fn builtin_ping, builtin_echo, builtin_rpc_discover, builtin_peer_whoami,
	builtin_peer_list, builtin_events_subscribe, builtin_events_unsubscribe,
	builtin_daemon_info, builtin_daemon_stats, builtin_rpc_provide, builtin_rpc_unprovide,
	builtin_events_publish;

const struct builtin builtins[] = {
	{UDSRPC_BUILTIN_PING, {"ping", builtin_ping, UDSRPC_METHOD_PUBLIC}},
	{UDSRPC_BUILTIN_ECHO, {"echo", builtin_echo, UDSRPC_METHOD_PUBLIC}},
	{UDSRPC_BUILTIN_DISCOVER, {"rpc.discover", builtin_rpc_discover, UDSRPC_METHOD_PUBLIC}},
	{UDSRPC_BUILTIN_WHOAMI, {"peer.whoami", builtin_peer_whoami, UDSRPC_METHOD_PUBLIC}},
	{UDSRPC_BUILTIN_PEERS, {"peer.list", builtin_peer_list, 0}},
	{UDSRPC_BUILTIN_EVENTS, {"events.subscribe", builtin_events_subscribe, 0}},
	{UDSRPC_BUILTIN_EVENTS, {"events.unsubscribe", builtin_events_unsubscribe, 0}},
	{UDSRPC_BUILTIN_INFO, {"daemon.info", builtin_daemon_info, UDSRPC_METHOD_PUBLIC}},
	{UDSRPC_BUILTIN_STATS, {"daemon.stats", builtin_daemon_stats, 0}},
	{UDSRPC_BUILTIN_PROVIDE, {"rpc.provide", builtin_rpc_provide, 0}},
	{UDSRPC_BUILTIN_PROVIDE, {"rpc.unprovide", builtin_rpc_unprovide, 0}},
	{UDSRPC_BUILTIN_PROVIDE, {"events.publish", builtin_events_publish, 0}},
};

const size_t builtins_count = sizeof(builtins) / sizeof(builtins[0]);
