/* rpc_discover.c — rpc.discover: the OpenRPC document of everything the server serves. */
#include <udsrpc/udsrpc.h>

#include "methods.h"

void builtin_rpc_discover(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	json_t *doc = udsrpc_server_discover(udsrpc_call_server(c));

	if (doc)
		udsrpc_call_result(c, doc);
	else
		udsrpc_call_error(c, UDSRPC_INTERNAL_ERROR, NULL, NULL);
}
