/* server.h — the daemon's state: settings, policy, schema, connections, lifecycle. */
#ifndef UDSRPC_SERVER_H
#define UDSRPC_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>

#include "config.h"
#include "stats.h"

struct event_base;
struct event;
struct policy;
struct schema;
struct method_schema;
struct store;
struct listener;
struct conn;
struct uid_count;

struct server {
	struct event_base *base;
	struct config cfg;
	char *config_path; /* -c, re-read on reload */
	char *policy_path; /* -p or config "policy"; NULL = embedded default */
	bool policy_from_config; /* reload may take a new path from the config file */
	struct policy *policy;
	uint64_t policy_gen; /* bumped when policy is replaced: cached decisions go stale */
	struct schema *schema;
	const struct method_schema **method_schemas; /* by methods_table index */
	struct method_stats *method_stats;	     /* by methods_table index */
	struct stats stats;
	struct store *store;
	struct listener *listener;
	TAILQ_HEAD(conn_list, conn) conns;
	unsigned nconns;
	struct conn_list subscribers; /* conns with events topics, linked by sub_link */
	struct uid_count **uid_counts; /* open connections per uid, for max_connections_per_uid */
	unsigned long long next_conn_id;
	uid_t uid;
	pid_t pid;
	struct timespec started; /* CLOCK_REALTIME, for daemon.info */
	uint64_t started_ms;	 /* CLOCK_MONOTONIC */
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool shutting_down;
	struct event *ev_stop;	/* deferred start of the graceful stop */
	struct event *ev_grace; /* hard deadline for the graceful stop */
	struct event *ev_signals[3];
};

/*
 * Load the schema and check it against the method table, resolve the policy,
 * set up per-method state. -EINVAL with a message in err.
 */
int server_init(struct server *srv, char *err, size_t errlen);
/* Create the event loop, open the socket, serve until stopped. 0 on a clean stop. */
int server_run(struct server *srv, char *err, size_t errlen);
void server_free(struct server *srv);
/* Begin the graceful stop (PROTOCOL.md §5); idempotent. */
void server_stop(struct server *srv);
/* Re-read config limits and policy; keeps the old on error. 0 or -EINVAL + err. */
int server_reload(struct server *srv, char *err, size_t errlen);
/* Load the policy file at path (NULL: the embedded default) into *ret. */
int server_load_policy(struct server *srv, const char *path, struct policy **ret, char *err,
		       size_t errlen);

/* Connection bookkeeping (called by conn.c and listener.c). */
unsigned server_uid_connections(struct server *srv, uid_t uid);
void server_uid_adjust(struct server *srv, uid_t uid, int delta);
void server_conn_closed(struct server *srv);

#endif
