/* server.h — a server's state: options, limits, methods, policy, connections, loop, threads. */
#ifndef UDSRPC_LIB_SERVER_H
#define UDSRPC_LIB_SERVER_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>

#include <udsrpc/server.h>

#include "broker.h"
#include "events.h"
#include "log.h"
#include "registry.h"
#include "spares.h"
#include "stats.h"
#include "uids.h"

struct event_base;
struct event;
struct policy;
struct schema;
struct listener;
struct conn;
struct uid_count;
struct xthread;

/* The limits of udsrpc(7) (limits.c has their names, defaults and ranges). */
struct limits {
	uint64_t max_connections;
	uint64_t max_connections_per_uid;
	uint64_t max_message_bytes;
	uint64_t max_batch;
	uint64_t max_output_bytes;
	uint64_t partial_timeout_ms;
	uint64_t idle_timeout_ms;
	uint64_t call_timeout_ms;
	uint64_t max_provider_inflight;
};

/* Connections of max_connections only root may take: min(16, max_connections / 4). */
uint64_t limits_root_reserve(const struct limits *l);
/*
 * Unread output all connections of one uid (root exempt) may hold together:
 * 4 x max_output_bytes. Over it, none of them is read until they drain.
 */
uint64_t limits_uid_output(const struct limits *l);
/* Defaults into *o (size bytes of it, the limits only). */
void limits_defaults(struct udsrpc_server_options *o, size_t size);
/* The limits of the options (size bytes of them) into *l; -ERANGE with the name in err. */
int limits_from_options(struct limits *l, const struct udsrpc_server_options *o, size_t size,
                        char *err, size_t errlen);

TAILQ_HEAD(conn_list, conn);

struct udsrpc_server {
	struct event_base *base;
	struct event_base *own_base; /* made by us (run, start_thread, event_base), freed with us */
	bool attached;	   /* the caller's loop (udsrpc_server_attach) */
	bool loop_running; /* run or start_thread began */
	pthread_t loop_thread;
	atomic_bool loop_thread_set; /* before any loop runs, the creating thread counts as it */
	pthread_t thread;     /* start_thread's */
	sem_t thread_ready;   /* it has made the loop its own */
	bool thread_started;
	char *name, *version;
	unsigned builtins, flags;
	void *userdata;
	void (*on_reload)(struct udsrpc_server *srv, void *userdata);
	void (*on_disconnect)(struct udsrpc_server *srv, const struct udsrpc_peer *peer,
	                      void *conn_data, void *userdata);
	void (*on_stats)(struct udsrpc_server *srv, json_t *stats, void *userdata);
	struct logger log;
	struct limits limits;
	mode_t socket_mode;
	char *socket_group;
	int listen_fd; /* given in the options, until the listener takes it */

	struct policy *policy;
	char *policy_path;	/* the file of set_policy_file, for reload */
	bool policy_is_default; /* rebuilt when public methods come and go */
	/* Bumped whenever a cached verdict could go stale: a new policy, a method removed. */
	uint64_t verdict_gen;
	uid_t self_uid;

	struct registry reg;
	struct broker broker; /* providers' pending calls and deadlines */
	struct schema *builtin_schema; /* the library's own document, for the built-ins */
	struct topics topics;
	struct stats stats;
	struct listener *listener;
	struct conn_list conns;
	unsigned nconns;
	struct conn_list subscribers; /* conns with topics, linked by sub_link */
	/* The topic with a history (udsrpc_server_set_history), and its source. */
	const struct topic *history_topic;
	udsrpc_history_fn history_fn;
	void *history_arg;
	/* The revision whose history events are being pushed now (0: none): a
	 * subscriber cut off then has not been sent all of that revision's. */
	uint64_t pushing_rev;
	size_t nsubscribers;          /* on that list: an event's snapshot is sized without a walk */
	uint64_t sub_runs;            /* changed with the list or a verdict (conn's see_run_end) */
	struct uid_count **uid_counts; /* uids.c */
	struct event *ev_uids;	      /* its sweep of log windows */
	unsigned long long next_conn_id;
	pid_t pid;
	struct timespec started; /* CLOCK_REALTIME, for daemon.info */
	uint64_t started_ms;	 /* CLOCK_MONOTONIC */
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool shutting_down;
	bool stopped; /* graceful stop finished (attach: the loop is the caller's) */
	struct event *ev_stop;	/* deferred start of the graceful stop */
	struct event *ev_grace; /* hard deadline for the graceful stop */
	struct event *ev_signals[3];

	/* The request path's scratch (conn.c, rpc.c), one set per server, so that
	 * servers on different threads never share it. */
	char *rbuf; /* CONN_READ_CHUNK bytes, made on the first read */
	struct evbuffer *spare_out[64];
	unsigned nspare_out;
	struct conn_list flushq; /* read this turn, written at its end (flush_link) */
	struct event *flush_ev;
	bool flushing;
	/* Its events sent in one io_uring submission (fanout.c), made on first
	 * use; fanout_off: io_uring is not to be had, write(2) each. */
	struct fanout *fanout;
	bool fanout_off;
	/* Turns of the loop that wrote an event straight to a socket (conn.c,
	 * conn_push_line): counted by the end-of-turn callback, which such a
	 * write activates (turn_armed), so a second event for the same
	 * subscriber in one turn waits to go with the rest at its end. */
	uint64_t turn;
	bool turn_armed;
	json_t *spare_params;
	/* Released deferred calls and reply slots, for the next ones (call.c, rpc.c). */
	struct spares spare_calls, spare_slots;
	bool text_handlers; /* some method has had one: the fast path looks for it */

	/* Other threads: completions, posts, stop (xthread.c). */
	struct xthread *xt;
	/* Direct replies (UDSRPC_DEFER_DIRECT): the lock both sides take, and the sync hook. */
	pthread_mutex_t direct_mu;
	atomic_bool direct_sent;
	void (*sync_fn)(void *arg);
	void *sync_arg;
};

/* True on the loop's thread (or, before a loop runs, anywhere). */
bool server_on_loop(const struct udsrpc_server *srv);
/* Make the loop if there is none yet; false on ENOMEM. */
bool server_ensure_base(struct udsrpc_server *srv);

/* Connection bookkeeping (called by conn.c and listener.c; per uid: uids.h). */
void server_conn_closed(struct udsrpc_server *srv);
/* Graceful stop, on the loop thread (udsrpc_server_stop defers to it). */
void server_stop_now(struct udsrpc_server *srv);
/* The default policy for the methods served now (public ones to anyone). NULL on ENOMEM. */
struct policy *server_default_policy(struct udsrpc_server *srv);
/* Methods came or went: stale verdicts go, the default policy follows. */
void server_methods_changed(struct udsrpc_server *srv);
/* Install p (taken) as the policy in force. */
void server_set_policy(struct udsrpc_server *srv, struct policy *p, bool is_default);

#endif
