/* peer.c — the peer.* methods: whoami and list. */
#include "conn.h"
#include "events.h"
#include "methods.h"
#include "peer.h"
#include "server.h"

json_t *methods_peer_json(const struct peer_ident *p)
{
	json_t *groups = json_array();
	for (int i = 0; i < p->ngroups; i++)
		json_array_append_new(groups, json_integer(p->groups[i]));
	return json_pack("{s:I,s:I,s:I,s:I,s:o,s:s?,s:s?,s:s?}", "id", (json_int_t)p->id, "uid",
			 (json_int_t)p->uid, "gid", (json_int_t)p->gid, "pid", (json_int_t)p->pid,
			 "groups", groups, "user", p->user, "comm", p->comm, "exe", p->exe);
}

static void peer_whoami(struct call *c, json_t *params)
{
	call_result(c, methods_peer_json(call_peer(c)));
}

static void peer_list(struct call *c, json_t *params)
{
	struct server *srv = call_server(c);
	json_t *peers = json_array();
	struct conn *conn;
	char when[40];

	TAILQ_FOREACH(conn, &srv->conns, link) {
		json_t *p = methods_peer_json(&conn->peer);
		methods_rfc3339(&conn->connected, when, sizeof(when));
		json_object_set_new(p, "connected", json_string(when));
		json_object_set_new(p, "requests", json_integer((json_int_t)conn->rpc.requests));
		json_object_set_new(p, "topics", events_topics_json(conn->topics));
		json_array_append_new(peers, p);
	}
	call_result(c, json_pack("{s:o}", "peers", peers));
}

const struct method method_peer_whoami = {"peer.whoami", peer_whoami};
const struct method method_peer_list = {"peer.list", peer_list};
