/* table.c — every method the daemon serves; each namespace's file defines its entries. */
#include <stdlib.h>
#include <string.h>

#include "methods.h"

extern const struct method method_config_get, method_config_list, method_config_set,
	method_config_unset, method_daemon_info, method_daemon_log_level, method_daemon_reload,
	method_daemon_shutdown, method_daemon_stats, method_echo, method_events_subscribe,
	method_events_unsubscribe, method_peer_list, method_peer_whoami, method_ping,
	method_rpc_discover;

/* Sorted by name (bytewise): methods_lookup bisects it. A test checks the order. */
const struct method *const methods_table[] = {
	&method_config_get,
	&method_config_list,
	&method_config_set,
	&method_config_unset,
	&method_daemon_info,
	&method_daemon_log_level,
	&method_daemon_reload,
	&method_daemon_shutdown,
	&method_daemon_stats,
	&method_echo,
	&method_events_subscribe,
	&method_events_unsubscribe,
	&method_peer_list,
	&method_peer_whoami,
	&method_ping,
	&method_rpc_discover,
};

const size_t methods_count = sizeof(methods_table) / sizeof(methods_table[0]);

int methods_lookup(const char *name)
{
	size_t lo = 0, hi = methods_count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, methods_table[mid]->name);
		if (c == 0)
			return (int)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}
