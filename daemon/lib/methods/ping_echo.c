/* ping_echo.c — the two methods that only prove the path works: ping and echo. */
#include <udsrpc/udsrpc.h>

#include "methods.h"

void builtin_ping(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	/* The cheapest answer there is: ping measures the path, not a string's allocation. */
	udsrpc_call_result_text(c, "\"pong\"", 6);
}

void builtin_echo(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	udsrpc_call_result(c, params ? json_incref((json_t *)params) : json_null());
}
