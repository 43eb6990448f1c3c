/*
 * server.h — a libudsrpc server: its options and limits, the methods it
 * serves, the policy that guards them, its event topics, and the loop it
 * runs in. Part of <udsrpc/udsrpc.h>; see udsrpc_server(3).
 *
 * Threads: every function here is for the thread that runs the server's
 * loop (or, before the loop starts, the thread that created it), except
 * udsrpc_server_stop() and udsrpc_server_post(), which any thread may call.
 */
#ifndef UDSRPC_SERVER_H
#define UDSRPC_SERVER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UDSRPC_VERSION_MAJOR 0
#define UDSRPC_VERSION_MINOR 2

struct udsrpc_server;
struct udsrpc_call;
struct udsrpc_peer;

/*
 * The JSON-RPC error codes of the wire contract (udsrpc(7), "ERRORS").
 * Codes outside -32768..-32000 belong to the service.
 */
enum udsrpc_error_code {
	UDSRPC_PARSE_ERROR = -32700,
	UDSRPC_INVALID_REQUEST = -32600,
	UDSRPC_METHOD_NOT_FOUND = -32601,
	UDSRPC_INVALID_PARAMS = -32602,
	UDSRPC_INTERNAL_ERROR = -32603,
	UDSRPC_PERMISSION_DENIED = -32001,
	UDSRPC_REQUEST_TOO_LARGE = -32002,
	UDSRPC_SERVER_BUSY = -32003,
	UDSRPC_SHUTTING_DOWN = -32004,
	UDSRPC_PROVIDER_UNAVAILABLE = -32005,
	UDSRPC_PROVIDER_TIMEOUT = -32006,
	UDSRPC_PROVIDER_BUSY = -32007,
	UDSRPC_NOT_FOUND = -32010,
	UDSRPC_CONFLICT = -32011,
	UDSRPC_STORAGE_ERROR = -32012,
	UDSRPC_NAME_TAKEN = -32013,
	UDSRPC_QUOTA_EXCEEDED = -32014,
	UDSRPC_HISTORY_COMPACTED = -32015,
};

/*
 * The error.message of a code of the table ("Invalid params"), or
 * "Server error" for any other code. A static string.
 */
const char *udsrpc_error_message(int code);

enum udsrpc_log_level {
	UDSRPC_LOG_ERROR = 3,
	UDSRPC_LOG_WARNING = 4,
	UDSRPC_LOG_INFO = 6,
	UDSRPC_LOG_DEBUG = 7,
};

/*
 * A log line (without "\n", never with a raw control byte: whatever a
 * peer controls is escaped) at level. Called on the loop thread.
 */
typedef void udsrpc_log_fn(void *userdata, enum udsrpc_log_level level, const char *line);

/* "error", "warning", "info", "debug" -> 0 and *ret; else -EINVAL. */
int udsrpc_log_level_parse(const char *name, enum udsrpc_log_level *ret);
/* The name of a level ("info" for anything unknown). A static string. */
const char *udsrpc_log_level_name(enum udsrpc_log_level level);

/* Built-in methods, one flag each (udsrpc_server_options.builtins). */
#define UDSRPC_BUILTIN_PING (1u << 0)     /* ping -> "pong" */
#define UDSRPC_BUILTIN_ECHO (1u << 1)     /* echo -> its params */
#define UDSRPC_BUILTIN_DISCOVER (1u << 2) /* rpc.discover -> the merged OpenRPC document */
#define UDSRPC_BUILTIN_WHOAMI (1u << 3)   /* peer.whoami -> the caller's identity */
#define UDSRPC_BUILTIN_PEERS (1u << 4)    /* peer.list (admin) -> every connection */
#define UDSRPC_BUILTIN_EVENTS (1u << 5)   /* events.subscribe/unsubscribe; topics peer, daemon */
#define UDSRPC_BUILTIN_INFO (1u << 6)     /* daemon.info -> name, version, pid, uptime, ... */
#define UDSRPC_BUILTIN_STATS (1u << 7)    /* daemon.stats -> counters, per-method latency */
/* rpc.provide/unprovide, events.publish: other connections serve methods through this server */
#define UDSRPC_BUILTIN_PROVIDE (1u << 8)
#define UDSRPC_BUILTIN_ALL 0x1ffu

/* Server behaviour (udsrpc_server_options.flags). */
/* udsrpc_server_run(): SIGTERM/SIGINT stop the server, SIGHUP calls on_reload. */
#define UDSRPC_SERVER_SIGNALS (1u << 0)
/* Send READY=1 once serving and STOPPING=1 on stop to $NOTIFY_SOCKET (sd_notify). */
#define UDSRPC_SERVER_NOTIFY (1u << 1)
/*
 * Serve the socket systemd passed ($LISTEN_FDS/$LISTEN_PID, fd 3) when there
 * is one; it wins over socket_path and is never unlinked by the server.
 */
#define UDSRPC_SERVER_SOCKET_ACTIVATION (1u << 2)

/*
 * What udsrpc_server_new() needs. Fill it with udsrpc_server_options_init()
 * (which sets every default, and size), then change what you need: the
 * library reads only the first size bytes, so a program built against an
 * older header keeps working with a newer library. Strings and pointers
 * are borrowed for the call to udsrpc_server_new and copied.
 */
struct udsrpc_server_options {
	size_t size;             /* sizeof(struct udsrpc_server_options), set by _init */
	const char *name;        /* the service: daemon.info "name", log prefix; "udsrpc" */
	const char *version;     /* daemon.info "version"; "0" */
	const char *socket_path; /* NULL: udsrpc_default_socket_path() */
	int listen_fd;           /* >= 0: serve this listening socket (the server owns it); -1 */
	unsigned socket_mode;    /* of the socket file; 0666 (the policy decides) */
	const char *socket_group; /* group of the socket file; NULL: the creator's */
	unsigned builtins;       /* UDSRPC_BUILTIN_* flags; 0 */
	unsigned flags;          /* UDSRPC_SERVER_* flags; 0 */
	enum udsrpc_log_level log_level; /* UDSRPC_LOG_INFO */
	udsrpc_log_fn *log;      /* NULL: stderr, "TIME NAME: LEVEL: " or "<N>" under journald */
	void *userdata;          /* passed to log and the hooks below */
	/* "self" in a policy: the uid the service runs as; -1: geteuid() at _new. */
	long long self_uid;
	/* SIGHUP with UDSRPC_SERVER_SIGNALS (loop thread). NULL: reload the policy file. */
	void (*on_reload)(struct udsrpc_server *srv, void *userdata);
	/*
	 * A connection closed (loop thread), after the disconnect callbacks of
	 * its deferred calls ran. conn_data is what udsrpc_call_set_conn_data()
	 * left (NULL if nothing): the service's to free. The peer is borrowed
	 * for the call.
	 */
	void (*on_disconnect)(struct udsrpc_server *srv, const struct udsrpc_peer *peer,
	                      void *conn_data, void *userdata);
	/* The limits of udsrpc(7) "LIMITS", with the defaults it gives. */
	uint64_t max_connections;         /* 4096 (the last 16 only for root) */
	uint64_t max_connections_per_uid; /* 256 (root is exempt) */
	uint64_t max_message_bytes;       /* 1 MiB */
	uint64_t max_batch;               /* 1024 */
	uint64_t max_output_bytes;        /* 8 MiB */
	uint64_t partial_timeout_ms;      /* 10000 */
	uint64_t idle_timeout_ms;         /* 0: off */
	uint64_t call_timeout_ms;         /* 30000 */
	uint64_t max_provider_inflight;   /* 1024 */
	/*
	 * daemon.stats (UDSRPC_BUILTIN_STATS), on the loop thread: the service
	 * adds members of its own to the result, stats (borrowed; the
	 * library's members are in it already, leave them as they are).
	 * NULL: nothing added.
	 */
	void (*on_stats)(struct udsrpc_server *srv, json_t *stats, void *userdata);
};

/* Defaults into *o (size bytes of it). Use the macro. */
void udsrpc_server_options_init_sized(struct udsrpc_server_options *o, size_t size);
#define udsrpc_server_options_init(o) udsrpc_server_options_init_sized((o), sizeof(*(o)))

/*
 * A server, not listening yet. *ret is the caller's (udsrpc_server_free).
 * -EINVAL (a bad option: the message names it), -ENAMETOOLONG (the socket
 * path), -ENOMEM.
 */
int udsrpc_server_new(struct udsrpc_server **ret, const struct udsrpc_server_options *opts,
                      char *err, size_t errlen);
/*
 * Stop a server thread and wait for it, close every connection at once
 * (deferred calls get their disconnect callback), remove the socket file if
 * it is still ours, free everything. Every deferred call must have been
 * answered or released before (see <udsrpc/call.h>). NULL is fine.
 */
void udsrpc_server_free(struct udsrpc_server *srv);

/*
 * Change a limit by its name in udsrpc(7) ("max_batch", ...), at any time:
 * it applies from the next request, connection or event on. -ENOENT for an
 * unknown name, -ERANGE for a value out of its range.
 */
int udsrpc_server_set_limit(struct udsrpc_server *srv, const char *name, uint64_t value);
/* The limit's value now; -ENOENT for an unknown name (*ret untouched). */
int udsrpc_server_get_limit(const struct udsrpc_server *srv, const char *name, uint64_t *ret);
/* The name of the i-th limit, from 0, or NULL past the last: for listing them. */
const char *udsrpc_limit_name(size_t i);

void udsrpc_server_set_log_level(struct udsrpc_server *srv, enum udsrpc_log_level level);
enum udsrpc_log_level udsrpc_server_get_log_level(const struct udsrpc_server *srv);
/*
 * Log through the server's logger (the options' log, or stderr), so that a
 * service's lines look like the library's. srv may be NULL: stderr, with
 * the program's name. Control bytes in the text are escaped.
 */
void udsrpc_server_log(struct udsrpc_server *srv, enum udsrpc_log_level level, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));
void udsrpc_server_logv(struct udsrpc_server *srv, enum udsrpc_log_level level, const char *fmt,
                        va_list ap) __attribute__((format(printf, 3, 0)));
/*
 * The audit line of a call that changed state (udsrpc(7), "Denials and
 * audit"), at info level: "audit: METHOD uid U pid P exe E: DETAIL", DETAIL
 * from fmt (what it touched and the revision it made). The identity is
 * passed, not a peer, so that a write answered after its caller left is
 * still told under the caller's name; exe NULL prints "(unknown)". Nothing
 * is kept.
 */
void udsrpc_server_audit(struct udsrpc_server *srv, const char *method, uid_t uid, pid_t pid,
                         const char *exe, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---- methods ------------------------------------------------------------ */

/*
 * A handler: params are valid against the method's schema (borrowed, only
 * during the call: json_incref to keep them; NULL when the request had
 * none). It completes the call exactly once, now or after
 * udsrpc_call_defer() (<udsrpc/call.h>). userdata is what the method was
 * registered with. Handlers run on the loop thread and must not block it.
 */
typedef void udsrpc_handler_fn(struct udsrpc_call *call, const json_t *params, void *userdata);

/* Method flags. */
/* The embedded default policy lets anyone call it (else only uid 0 and "self"). */
#define UDSRPC_METHOD_PUBLIC (1u << 0)
/*
 * The call's "key" param is part of what the policy decides: rules with a
 * "keys" selector match it (udsrpc(7), "POLICY").
 */
#define UDSRPC_METHOD_KEYED (1u << 1)

/* One entry of a handler table. This layout is fixed for soname 0. */
struct udsrpc_method {
	const char *name;
	udsrpc_handler_fn *handler;
	unsigned flags;
};

/*
 * Register the methods of an OpenRPC 1.2.6 document (text of len bytes, or
 * a json_t, borrowed: the server keeps its own copy) with their handlers.
 * Checked both ways: every table entry needs a method in the document and
 * every method of the document an entry in the table (or an enabled
 * built-in of that name); a name already served, a schema keyword outside
 * the validator's subset (udsrpc(7)) or a bad document fail too, and
 * nothing is registered. A component (components.schemas.NAME, ...) of the
 * same name as one a document registered before uses, the built-ins'
 * included, must be identical: give yours a prefix of your own. -EINVAL
 * with a message naming the method ("method 'counter.add' has a schema but
 * no handler") or the component, -EEXIST for a name already served,
 * -ENOMEM. Methods may be added while the server runs.
 * rpc.discover then lists them, after the document's own info.
 */
int udsrpc_server_add_methods(struct udsrpc_server *srv, const char *openrpc, size_t len,
                              const struct udsrpc_method *table, size_t n, void *userdata,
                              char *err, size_t errlen);
int udsrpc_server_add_methods_json(struct udsrpc_server *srv, const json_t *openrpc,
                                   const struct udsrpc_method *table, size_t n, void *userdata,
                                   char *err, size_t errlen);
/*
 * Stop serving a method registered by add_methods: calls to it are
 * -32601 from now on; calls already deferred complete as usual.
 * -ENOENT when no such method is registered (built-ins cannot be removed).
 */
int udsrpc_server_remove_method(struct udsrpc_server *srv, const char *name);
/*
 * A method's params taken as text, before anything is built of them: fn
 * gets the request's params member as written (len bytes, an object or an
 * array) once the policy let the caller call the method, and either
 * completes the call as its handler would (true), or does nothing and
 * returns false: the call then goes on as usual (params parsed, checked
 * against the schema, the handler). fn completes only calls whose params
 * the schema accepts, and must give exactly the handler's answer. Only
 * requests that name the method before their params come this way. For a
 * method add_methods registered without UDSRPC_METHOD_KEYED; fn NULL
 * unsets. -ENOENT, -EINVAL (a keyed method).
 */
typedef bool udsrpc_text_handler_fn(struct udsrpc_call *call, const char *params, size_t len,
                                    void *userdata);
int udsrpc_server_set_text_handler(struct udsrpc_server *srv, const char *method,
                                   udsrpc_text_handler_fn *fn);
/* How many methods the server serves now, built-ins included. */
size_t udsrpc_server_method_count(const struct udsrpc_server *srv);

/*
 * The document rpc.discover returns (new reference): the first registered
 * document's info and extensions, every method served, and the components
 * they use. NULL on ENOMEM.
 */
json_t *udsrpc_server_discover(struct udsrpc_server *srv);

/* ---- policy ------------------------------------------------------------- */

/*
 * Replace the policy (udsrpc(7), "POLICY"): from a file, from a document
 * (borrowed), or the embedded default (rules: anyone may call the methods
 * flagged UDSRPC_METHOD_PUBLIC; uid 0 and "self" may call everything).
 * All or nothing: on error the policy in force stays, and the message names
 * the file and the rule ("policy.json: rule 3: uids: ..."). Verdicts
 * already cached for open connections never outlive the policy that gave
 * them. The file is remembered for SIGHUP without an on_reload hook.
 */
int udsrpc_server_set_policy_file(struct udsrpc_server *srv, const char *path, char *err,
                                  size_t errlen);
int udsrpc_server_set_policy_json(struct udsrpc_server *srv, const json_t *doc, char *err,
                                  size_t errlen);
void udsrpc_server_set_policy_default(struct udsrpc_server *srv);
/*
 * Re-read the file of the last udsrpc_server_set_policy_file (or rebuild
 * the default): what SIGHUP does without an on_reload hook. A policy given
 * as a document has nothing to re-read: 0, and it stays.
 */
int udsrpc_server_reload_policy(struct udsrpc_server *srv, char *err, size_t errlen);
/* The policy in force as a document (names resolved to numbers); new reference. */
json_t *udsrpc_server_policy_json(const struct udsrpc_server *srv);
/* How many rules the policy in force has. */
size_t udsrpc_server_policy_rules(const struct udsrpc_server *srv);
/* A caller described by hand, for udsrpc_server_policy_check. */
struct udsrpc_policy_caller {
	uid_t uid;
	gid_t gid;            /* primary group */
	const gid_t *groups;  /* supplementary groups, ngroups of them */
	size_t ngroups;
	pid_t pid;            /* 0: none; else the process that has this pid now */
	const char *exe;      /* NULL: unknown, as for a peer whose exe cannot be read */
};
/*
 * What the policy in force decides for who calling method on key (NULL:
 * a call without one), or with provide set, serving the method or topic
 * method through rpc.provide: 1 allow, 0 deny (the policy is not
 * consulted for anything else, and nothing is logged or counted).
 * *ret_rule: the 1-based position of the deciding rule, 0 when none
 * matched. -EINVAL for a NULL srv, who or method.
 */
int udsrpc_server_policy_check(const struct udsrpc_server *srv,
                               const struct udsrpc_policy_caller *who, const char *method,
                               const char *key, bool provide, size_t *ret_rule);

/* ---- events ------------------------------------------------------------- */

/*
 * Declare an event topic subscribers may ask for (events.subscribe).
 * read_method, when not NULL, filters events published with a key: a
 * subscriber gets one only if it may call read_method on that key
 * (udsrpc_server_publish_keyed). -EEXIST if the topic exists, -EINVAL for
 * a name that is not 1-128 bytes of [A-Za-z0-9_.-].
 */
int udsrpc_server_add_topic(struct udsrpc_server *srv, const char *topic,
                            const char *read_method);
/* True when some connection listens to topic: build the event only then. */
bool udsrpc_server_wanted(const struct udsrpc_server *srv, const char *topic);
/*
 * Send the notification {"jsonrpc":"2.0","method":"event","params":P} to
 * every subscriber of topic, where P is {"topic":topic} followed by the
 * members of event (stolen; an object; a "topic" member of its own is
 * ignored). Serialised once; a subscriber that
 * does not read is disconnected once its unread output passes
 * max_output_bytes, never waited for. Returns how many got it, -ENOENT for
 * an undeclared topic, -EINVAL if event is not an object, -ENOMEM.
 */
int udsrpc_server_publish(struct udsrpc_server *srv, const char *topic, json_t *event);
/* The same, only to subscribers whose policy lets them call the topic's read_method on key. */
int udsrpc_server_publish_keyed(struct udsrpc_server *srv, const char *topic, const char *key,
                                json_t *event);

/*
 * A topic whose events carry a revision and are kept in a history (the
 * store's config topic, udsrpc(7) "History and watching"). With one set,
 * events.subscribe answers "revision" and takes, for this topic, "prefix"
 * (its events only for keys with that prefix, replaced by each subscribe
 * naming the topic) and "after_revision" (first every kept event above it,
 * then the live ones: the replay and the subscription happen in one step
 * of the loop, so nothing is missed or repeated); and a subscriber cut off
 * for not reading is told the last revision it was sent.
 *
 * fn(arg, after, emit, ctx, ret_revision) runs on the loop thread. With
 * emit NULL it only answers: 0 and *ret_revision the current revision, or
 * -ESTALE and *ret_revision the lowest after it can still replay from
 * (after above that: every event is still kept). With emit, it also calls
 * emit(ctx, key, revision, line, len) for each kept event above after, in
 * revision order: line is the whole notification as
 * udsrpc_server_publish_line takes it (borrowed for the call); a non-zero
 * return from emit stops the walk and is fn's return (the server replays
 * a little at a time, at the reader's pace, calling fn again with after
 * the last revision it took whole). One topic per server; fn NULL unsets.
 * -ENOENT for an undeclared topic.
 */
typedef int (*udsrpc_history_emit_fn)(void *ctx, const char *key, uint64_t revision,
                                      const char *line, size_t len);
typedef int (*udsrpc_history_fn)(void *arg, uint64_t after, udsrpc_history_emit_fn emit,
                                 void *ctx, uint64_t *ret_revision);
int udsrpc_server_set_history(struct udsrpc_server *srv, const char *topic, udsrpc_history_fn fn,
                              void *arg);
/*
 * Publish a notification already serialised (the one a history keeps):
 * line is {"jsonrpc":"2.0","method":"event","params":{"topic":topic,...}}
 * and its '\n' (borrowed), filtered by key as udsrpc_server_publish_keyed
 * does (key may be NULL), revision the one it carries. Returns how many
 * got it, or -ENOENT.
 */
int udsrpc_server_publish_line(struct udsrpc_server *srv, const char *topic, const char *key,
                               uint64_t revision, const char *line, size_t len);

/* ---- the loop ----------------------------------------------------------- */

/*
 * Bind the socket (or take the one passed by systemd) now, before the loop
 * runs: a service that starts as root binds, drops its privileges, then
 * runs. The start-up rules of udsrpc(7) "LIFECYCLE" apply: a live daemon
 * on the path is refused (naming its pid), a stale socket replaced,
 * anything else there refused, and the directory must be safe.
 * udsrpc_server_run/attach/start_thread call it when it was not called.
 * -EADDRINUSE, -EEXIST, -EPERM, -errno, with a message.
 */
int udsrpc_server_listen(struct udsrpc_server *srv, char *err, size_t errlen);
/* The socket path served (after listen: as bound, or systemd's). Borrowed. */
const char *udsrpc_server_socket_path(const struct udsrpc_server *srv);

/*
 * Serve on the calling thread until udsrpc_server_stop() (or a signal, with
 * UDSRPC_SERVER_SIGNALS) and every connection has finished. 0 on a clean
 * stop, -errno with a message when it cannot start.
 */
int udsrpc_server_run(struct udsrpc_server *srv, char *err, size_t errlen);
/*
 * Serve on a thread of the server's own; handlers then run on that thread,
 * and the service completes calls from any thread (<udsrpc/call.h>).
 * udsrpc_server_free() stops and joins it.
 */
int udsrpc_server_start_thread(struct udsrpc_server *srv, char *err, size_t errlen);
/*
 * Begin the graceful stop: stop accepting, answer -32004 to requests that
 * arrive from now on, finish what is in flight, then close (udsrpc(7),
 * "LIFECYCLE"). Idempotent. Any thread.
 */
void udsrpc_server_stop(struct udsrpc_server *srv);
/* True once a stop began. */
bool udsrpc_server_stopping(const struct udsrpc_server *srv);
/*
 * Run fn(arg) on the loop thread soon (from any thread): how a service
 * with threads of its own publishes events or touches the server.
 * Posted functions and completions from other threads run in the order
 * they were made. -ENOMEM. Posted functions that have not run when the
 * server is freed are not run.
 */
int udsrpc_server_post(struct udsrpc_server *srv, void (*fn)(void *arg), void *arg);
/*
 * fn(arg) runs on the loop thread, before the server reads any more
 * requests, each time a reply was written from another thread
 * (UDSRPC_DEFER_DIRECT): so that a change the reply announced is visible
 * to every request it can have caused. NULL to unset.
 */
void udsrpc_server_set_sync(struct udsrpc_server *srv, void (*fn)(void *arg), void *arg);

/* How many connections are open now. */
size_t udsrpc_server_connections(const struct udsrpc_server *srv);

#ifdef __cplusplus
}
#endif

#endif
