/* peer.c — the peer.* methods: whoami and list. */
#include <udsrpc/udsrpc.h>

#include "broker.h"
#include "conn.h"
#include "events.h"
#include "methods.h"
#include "server.h"

void builtin_peer_whoami(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	udsrpc_call_result(c, udsrpc_peer_json(udsrpc_call_peer(c)));
}

void builtin_peer_list(struct udsrpc_call *c, const json_t *params, void *userdata)
{
	struct udsrpc_server *srv = udsrpc_call_server(c);
	json_t *peers = json_array();
	struct conn *conn;
	char when[40];

	TAILQ_FOREACH(conn, &srv->conns, link) {
		json_t *p = udsrpc_peer_json(&conn->peer);
		methods_rfc3339(&conn->connected, when, sizeof(when));
		json_object_set_new(p, "connected", json_string(when));
		json_object_set_new(p, "requests", json_integer((json_int_t)conn->rpc.requests));
		json_object_set_new(p, "topics", events_topics_json(srv, &conn->topics));
		json_object_set_new(p, "provides", provided_json(conn->rpc.provider));
		json_array_append_new(peers, p);
	}
	udsrpc_call_result(c, json_pack("{s:o}", "peers", peers));
}
