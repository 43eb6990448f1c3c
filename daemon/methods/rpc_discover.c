/* rpc_discover.c — rpc.discover: the OpenRPC document the daemon was built with. */
#include "methods.h"
#include "schema.h"
#include "server.h"

static void rpc_discover(struct call *c, json_t *params)
{
	call_result(c, json_incref((json_t *)schema_document(call_server(c)->schema)));
}

const struct method method_rpc_discover = {"rpc.discover", rpc_discover};
