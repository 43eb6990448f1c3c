/*
 * server.c — a server's life: options in, methods registered, the loop
 * (the caller's, our own, or our own on a thread), the graceful stop, and
 * everything freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include <event2/buffer.h>

#include <udsrpc/client.h>
#include <udsrpc/event.h>

#include "broker.h"
#include "clock.h"
#include "conn.h"
#include "events.h"
#include "export.h"
#include "fanout.h"
#include "listener.h"
#include "log.h"
#include "methods.h"
#include "names.h"
#include "policy.h"
#include "schema.h"
#include "server.h"
#include "xthread.h"

#define SERVER_GRACE_S 10 /* how long a graceful stop waits for slow peers */

/* The library's own OpenRPC document (schema/udsrpc.openrpc.json): the built-ins' schemas. */
extern const char udsrpc_openrpc_json[];
extern const size_t udsrpc_openrpc_json_len;

/* sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void server_notify(struct udsrpc_server *srv, const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len;

	if (!(srv->flags & UDSRPC_SERVER_NOTIFY) || !path || (path[0] != '/' && path[0] != '@') ||
	    (len = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_warning(srv, "NOTIFY_SOCKET %s: %s", path, strerror(errno));
	close(fd);
}

bool server_on_loop(const struct udsrpc_server *srv)
{
	if (!atomic_load_explicit(&srv->loop_thread_set, memory_order_acquire))
		return true;
	return pthread_equal(pthread_self(), srv->loop_thread);
}

/* The loop is this thread's from now on. */
static void server_own_loop(struct udsrpc_server *srv)
{
	srv->loop_thread = pthread_self();
	atomic_store_explicit(&srv->loop_thread_set, true, memory_order_release);
}

/* ---- options -------------------------------------------------------------- */

UDSRPC_EXPORT void udsrpc_server_options_init_sized(struct udsrpc_server_options *o, size_t size)
{
	struct udsrpc_server_options d = {
		.size = size,
		.name = "udsrpc",
		.version = "0",
		.listen_fd = -1,
		.socket_mode = 0666,
		.log_level = UDSRPC_LOG_INFO,
		.self_uid = -1,
	};

	limits_defaults(&d, sizeof(d));
	memcpy(o, &d, size < sizeof(d) ? size : sizeof(d));
}

/* The public names among the methods served, for the default policy. */
static struct policy *server_default_from(struct udsrpc_server *srv)
{
	const char **names = malloc((srv->reg.n + 1) * sizeof(*names));
	size_t n = 0;
	struct policy *p;

	if (!names)
		return NULL;
	for (size_t i = 0; i < srv->reg.n; i++)
		if (srv->reg.sorted[i]->flags & UDSRPC_METHOD_PUBLIC)
			names[n++] = srv->reg.sorted[i]->name;
	p = policy_default(srv->self_uid, names, n);
	free(names);
	return p;
}

struct policy *server_default_policy(struct udsrpc_server *srv)
{
	return server_default_from(srv);
}

static void warn_unmatched(size_t rule_no, const char *pattern, void *userdata)
{
	log_warning(userdata, "policy: rule %zu: methods: '%s' matches no method served", rule_no,
	            pattern);
}

/* Patterns that match nothing served are most often typos: say so. */
static void server_check_patterns(struct udsrpc_server *srv, const struct policy *p)
{
	size_t n = srv->reg.n;
	const char **names = calloc(n ? n : 1, sizeof(*names));
	size_t *lens = calloc(n ? n : 1, sizeof(*lens));

	if (names && lens) {
		for (size_t i = 0; i < n; i++) {
			names[i] = srv->reg.sorted[i]->name;
			lens[i] = srv->reg.sorted[i]->name_len;
		}
		policy_unmatched_patterns(p, names, lens, n, warn_unmatched, srv);
	}
	free(names);
	free(lens);
}

void server_set_policy(struct udsrpc_server *srv, struct policy *p, bool is_default)
{
	const char *w = policy_warnings(p);

	/* One log line per warning: the policy is in force all the same. */
	while (w && *w) {
		size_t len = strcspn(w, "\n");
		log_warning(srv, "policy: %.*s", (int)len, w);
		w += len + (w[len] == '\n');
	}
	if (p && registry_find(&srv->reg, "daemon.reload", strlen("daemon.reload")) &&
	    !policy_root_may_call(p, "daemon.reload"))
		log_warning(srv, "policy: leaves root no way to call daemon.reload");
	if (p && !is_default)
		server_check_patterns(srv, p);
	/*
	 * Live connections follow a new policy at once (udsrpc(7), "EVENTS").
	 * The default rebuilt for methods that came or went (every
	 * rpc.provide) judges subscribing and providing as before: not worth
	 * a walk over every connection each time.
	 */
	bool rejudge = !(is_default && srv->policy_is_default);

	policy_free(srv->policy);
	srv->policy = p;
	srv->policy_is_default = is_default;
	srv->verdict_gen++;
	if (rejudge) {
		events_policy_changed(srv);
		provide_policy_changed(srv);
	}
}

/* Methods came or went: the default policy follows which of them are public. */
void server_methods_changed(struct udsrpc_server *srv)
{
	struct policy *p;

	srv->verdict_gen++;
	if (srv->policy_is_default && (p = server_default_from(srv)))
		server_set_policy(srv, p, true);
}

/* The built-ins the options switch on, from the library's own document. */
static int server_add_builtins(struct udsrpc_server *srv, char *err, size_t errlen)
{
	struct reg_new add[16];
	struct reg_doc *doc;
	size_t n = 0;
	int r;

	if (!srv->builtins)
		return 0;
	if (!(doc = calloc(1, sizeof(*doc))))
		return -ENOMEM;
	doc->refs = 1;
	if ((r = schema_load(udsrpc_openrpc_json, udsrpc_openrpc_json_len, &doc->schema, err,
	                     errlen)) < 0) {
		free(doc);
		return r;
	}
	for (size_t i = 0; i < builtins_count && n < 16; i++) {
		if (!(srv->builtins & builtins[i].flag))
			continue;
		add[n].schema = schema_method(doc->schema, builtins[i].method.name);
		add[n].handler = builtins[i].method.handler;
		add[n].flags = builtins[i].method.flags;
		add[n].userdata = NULL;
		n++;
	}
	r = registry_add(&srv->reg, doc, add, n, METHOD_BUILTIN, false, err, errlen);
	reg_doc_unref(doc);
	if (r < 0)
		return r;
	if (srv->builtins & UDSRPC_BUILTIN_EVENTS) {
		if ((r = topics_add(&srv->topics, "peer", NULL, NULL, NULL)) < 0 ||
		    (r = topics_add(&srv->topics, "daemon", NULL, NULL, NULL)) < 0)
			return r;
		if ((srv->builtins & UDSRPC_BUILTIN_PROVIDE) &&
		    (r = topics_add(&srv->topics, "provider", NULL, NULL, NULL)) < 0)
			return r;
	}
	return 0;
}

static char *server_strdup(const char *s, const char *fallback)
{
	return strdup(s ? s : fallback);
}

UDSRPC_EXPORT int udsrpc_server_new(struct udsrpc_server **ret,
                                    const struct udsrpc_server_options *opts, char *err,
                                    size_t errlen)
{
	struct udsrpc_server_options o;
	struct udsrpc_server *srv;
	char path[sizeof(srv->socket_path)];
	int r;

	if (!opts || opts->size < offsetof(struct udsrpc_server_options, max_connections)) {
		snprintf(err ? err : path, err ? errlen : sizeof(path),
		         "options: size %zu is too small; fill them with udsrpc_server_options_init",
		         opts ? opts->size : 0);
		return -EINVAL;
	}
	/* Fields past what the caller's header knew keep their defaults. */
	udsrpc_server_options_init(&o);
	memcpy(&o, opts, opts->size < sizeof(o) ? opts->size : sizeof(o));
	if (!(srv = calloc(1, sizeof(*srv))))
		return -ENOMEM;
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->subscribers);
	TAILQ_INIT(&srv->flushq);
	registry_init(&srv->reg);
	pthread_mutex_init(&srv->direct_mu, NULL);
	srv->listen_fd = o.listen_fd;
	srv->socket_mode = (mode_t)o.socket_mode;
	srv->builtins = o.builtins;
	srv->flags = o.flags;
	srv->userdata = o.userdata;
	srv->on_reload = o.on_reload;
	srv->on_disconnect = o.on_disconnect;
	srv->on_stats = o.on_stats;
	srv->log.level = o.log_level;
	srv->log.fn = o.log;
	srv->log.userdata = o.userdata;
	snprintf(srv->log.prog, sizeof(srv->log.prog), "%s", o.name ? o.name : "udsrpc");
	srv->self_uid = o.self_uid >= 0 ? (uid_t)o.self_uid : geteuid();
	srv->pid = getpid();
	if ((r = xthread_new(srv)) < 0 || !(srv->name = server_strdup(o.name, "udsrpc")) ||
	    !(srv->version = server_strdup(o.version, "0")) ||
	    (o.socket_group && !(srv->socket_group = strdup(o.socket_group)))) {
		udsrpc_server_free(srv);
		return -ENOMEM;
	}
	if ((r = limits_from_options(&srv->limits, &o, opts->size, err, errlen)) < 0) {
		udsrpc_server_free(srv);
		return -EINVAL;
	}
	if (!o.socket_path && udsrpc_default_socket_path(path, sizeof(path)) < 0) {
		snprintf(err ? err : path, err ? errlen : sizeof(path),
		         "the default socket path is too long; give a socket_path");
		udsrpc_server_free(srv);
		return -ENAMETOOLONG;
	}
	if (snprintf(srv->socket_path, sizeof(srv->socket_path), "%s",
	             o.socket_path ? o.socket_path : path) >= (int)sizeof(srv->socket_path)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: socket path longer than %zu bytes; pick a shorter one",
			         o.socket_path, sizeof(srv->socket_path) - 1);
		udsrpc_server_free(srv);
		return -ENAMETOOLONG;
	}
	/*
	 * Known now, not only at bind: udsrpcd --check stops here, and a start
	 * must fail before it has made a socket file it would leave behind.
	 */
	gid_t socket_gid;
	if (o.socket_group && (r = names_group_id(o.socket_group, &socket_gid)) < 0) {
		if (err && errlen)
			snprintf(err, errlen, "socket_group '%s': %s", o.socket_group,
			         r == -ENOENT ? "no such group" : strerror(-r));
		udsrpc_server_free(srv);
		return r;
	}
	if ((r = server_add_builtins(srv, err, errlen)) < 0) {
		udsrpc_server_free(srv);
		return r;
	}
	srv->policy_is_default = true;
	if (!(srv->policy = server_default_from(srv))) {
		udsrpc_server_free(srv);
		return -ENOMEM;
	}
	*ret = srv;
	return 0;
}

/* ---- methods -------------------------------------------------------------- */

static bool server_builtin_on(const struct udsrpc_server *srv, const char *name)
{
	for (size_t i = 0; i < builtins_count; i++)
		if ((srv->builtins & builtins[i].flag) && strcmp(builtins[i].method.name, name) == 0)
			return true;
	return false;
}

/* The components a new document brings must agree with those already served. */
static int server_check_components(struct udsrpc_server *srv, const struct schema *s, char *err,
                                   size_t errlen)
{
	const json_t *have = json_object_get(registry_discover(&srv->reg, srv->name, srv->version),
	                                     "components");
	const json_t *mine = json_object_get(schema_document(s), "components");
	const char *section, *name;
	json_t *v, *c;

	json_object_foreach((json_t *)mine, section, v)
	{
		json_object_foreach(v, name, c)
		{
			const json_t *old = json_object_get(json_object_get(have, section), name);
			if (old && !json_equal(old, c)) {
				snprintf(err, errlen,
				         "components.%s '%s' differs from the one of a document "
				         "registered before; rename it",
				         section, name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int server_add_doc(struct udsrpc_server *srv, struct reg_doc *doc,
                          const struct udsrpc_method *table, size_t n, void *userdata,
                          char *err, size_t errlen)
{
	const struct schema *s = doc->schema;
	size_t count = schema_method_count(s), k = 0;
	struct reg_new *add;
	int r;

	for (size_t i = 0; i < n; i++) {
		const struct method_schema *m;
		if (!table[i].name || !table[i].handler) {
			snprintf(err, errlen, "table entry %zu needs a name and a handler", i);
			return -EINVAL;
		}
		if (!(m = schema_method(s, table[i].name))) {
			snprintf(err, errlen, "method '%s' has a handler but no schema", table[i].name);
			return -EINVAL;
		}
		if ((table[i].flags & UDSRPC_METHOD_PUBLIC) && schema_method_admin(m)) {
			snprintf(err, errlen,
			         "method '%s' is x-udsrpc-admin in its document but flagged "
			         "UDSRPC_METHOD_PUBLIC",
			         table[i].name);
			return -EINVAL;
		}
	}
	for (size_t j = 0; j < count; j++) {
		const char *name = schema_method_name(schema_method_at(s, j));
		size_t i;
		for (i = 0; i < n && strcmp(table[i].name, name) != 0; i++)
			;
		if (i == n && !server_builtin_on(srv, name)) {
			snprintf(err, errlen, "method '%s' has a schema but no handler", name);
			return -EINVAL;
		}
	}
	if ((r = server_check_components(srv, s, err, errlen)) < 0)
		return r;
	if (!(add = calloc(n ? n : 1, sizeof(*add))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		add[k].schema = schema_method(s, table[i].name);
		add[k].handler = table[i].handler;
		add[k].flags = table[i].flags;
		add[k].userdata = userdata;
		k++;
	}
	r = registry_add(&srv->reg, doc, add, k, METHOD_SERVICE, true, err, errlen);
	free(add);
	if (r == 0)
		server_methods_changed(srv);
	return r;
}

UDSRPC_EXPORT int udsrpc_server_add_methods(struct udsrpc_server *srv, const char *openrpc,
                                            size_t len, const struct udsrpc_method *table,
                                            size_t n, void *userdata, char *err,
                                            size_t errlen)
{
	char scratch[512];
	struct reg_doc *doc;
	int r;

	if (!err || !errlen)
		err = scratch, errlen = sizeof(scratch);
	if (!openrpc || (n && !table))
		return -EINVAL;
	if (!(doc = calloc(1, sizeof(*doc))))
		return -ENOMEM;
	doc->refs = 1;
	if ((r = schema_load(openrpc, len, &doc->schema, err, errlen)) < 0) {
		free(doc);
		return r;
	}
	r = server_add_doc(srv, doc, table, n, userdata, err, errlen);
	reg_doc_unref(doc);
	return r;
}

UDSRPC_EXPORT int udsrpc_server_add_methods_json(struct udsrpc_server *srv, const json_t *openrpc,
                                                 const struct udsrpc_method *table, size_t n,
                                                 void *userdata, char *err, size_t errlen)
{
	char *text = openrpc ? json_dumps(openrpc, JSON_COMPACT) : NULL;
	int r;

	if (!text)
		return openrpc ? -ENOMEM : -EINVAL;
	r = udsrpc_server_add_methods(srv, text, strlen(text), table, n, userdata, err, errlen);
	free(text);
	return r;
}

UDSRPC_EXPORT int udsrpc_server_remove_method(struct udsrpc_server *srv, const char *name)
{
	struct method_entry *e = name ? registry_find(&srv->reg, name, strlen(name)) : NULL;

	if (!e || e->kind != METHOD_SERVICE)
		return -ENOENT;
	registry_remove(&srv->reg, e);
	server_methods_changed(srv);
	return 0;
}

UDSRPC_EXPORT int udsrpc_server_set_text_handler(struct udsrpc_server *srv, const char *method,
                                                 udsrpc_text_handler_fn *fn)
{
	struct method_entry *e = method ? registry_find(&srv->reg, method, strlen(method)) : NULL;

	if (!e || e->kind != METHOD_SERVICE)
		return -ENOENT;
	/* The policy's key of a keyed method is in its params: judged on the tree. */
	if (e->flags & UDSRPC_METHOD_KEYED)
		return -EINVAL;
	e->text_handler = fn;
	srv->text_handlers = srv->text_handlers || fn;
	return 0;
}

UDSRPC_EXPORT size_t udsrpc_server_method_count(const struct udsrpc_server *srv)
{
	return srv->reg.n;
}

UDSRPC_EXPORT json_t *udsrpc_server_discover(struct udsrpc_server *srv)
{
	const json_t *doc = registry_discover(&srv->reg, srv->name, srv->version);
	return doc ? json_incref((json_t *)doc) : NULL;
}

/* ---- policy --------------------------------------------------------------- */

UDSRPC_EXPORT int udsrpc_server_set_policy_file(struct udsrpc_server *srv, const char *path,
                                                char *err, size_t errlen)
{
	struct policy *p;
	char *copy;
	int r;

	if (!path)
		return -EINVAL;
	if (!(copy = strdup(path)))
		return -ENOMEM;
	if ((r = policy_load_file(path, srv->self_uid, &p, err, errlen)) < 0) {
		free(copy);
		return r;
	}
	free(srv->policy_path);
	srv->policy_path = copy;
	server_set_policy(srv, p, false);
	return 0;
}

UDSRPC_EXPORT int udsrpc_server_set_policy_json(struct udsrpc_server *srv, const json_t *doc,
                                                char *err, size_t errlen)
{
	struct policy *p;
	int r;

	if ((r = policy_compile(doc, srv->self_uid, &p, err, errlen)) < 0)
		return r;
	free(srv->policy_path);
	srv->policy_path = NULL;
	server_set_policy(srv, p, false);
	return 0;
}

UDSRPC_EXPORT void udsrpc_server_set_policy_default(struct udsrpc_server *srv)
{
	struct policy *p = server_default_from(srv);

	free(srv->policy_path);
	srv->policy_path = NULL;
	if (p)
		server_set_policy(srv, p, true);
}

UDSRPC_EXPORT int udsrpc_server_reload_policy(struct udsrpc_server *srv, char *err,
                                              size_t errlen)
{
	if (!srv->policy_path) {
		if (srv->policy_is_default)
			udsrpc_server_set_policy_default(srv);
		return 0;
	}
	char *path = strdup(srv->policy_path);
	if (!path)
		return -ENOMEM;
	int r = udsrpc_server_set_policy_file(srv, path, err, errlen);
	free(path);
	return r;
}

UDSRPC_EXPORT json_t *udsrpc_server_policy_json(const struct udsrpc_server *srv)
{
	return policy_to_json(srv->policy);
}

UDSRPC_EXPORT size_t udsrpc_server_policy_rules(const struct udsrpc_server *srv)
{
	return policy_rule_count(srv->policy);
}

UDSRPC_EXPORT int udsrpc_server_policy_check(const struct udsrpc_server *srv,
                                             const struct udsrpc_policy_caller *who,
                                             const char *method, const char *key, bool provide,
                                             size_t *ret_rule)
{
	bool allow;

	if (ret_rule)
		*ret_rule = 0;
	if (!srv || !who || !method)
		return -EINVAL;
	/* Borrowed, never freed: a peer as peer_capture would have made it. */
	struct udsrpc_peer peer = {
	    .uid = who->uid,
	    .gid = who->gid,
	    .pid = who->pid,
	    .groups = (gid_t *)who->groups,
	    .ngroups = (int)who->ngroups,
	    .exe = (char *)who->exe,
	};
	if (who->pid > 0)
		peer_process_of_pid(who->pid, &peer.proc);
	size_t rule = policy_decide(srv->policy, provide, &peer, method, key, &allow);
	if (ret_rule)
		*ret_rule = rule;
	return allow ? 1 : 0;
}

/* ---- the loop ------------------------------------------------------------- */

bool server_ensure_base(struct udsrpc_server *srv)
{
	if (!srv->base) {
		if (!(srv->base = event_base_new()))
			return false;
		srv->own_base = srv->base;
	}
	return true;
}

static void server_finish_if_idle(struct udsrpc_server *srv)
{
	if (!srv->shutting_down || srv->nconns > 0 || srv->stopped)
		return;
	srv->stopped = true;
	if (srv->ev_grace)
		evtimer_del(srv->ev_grace);
	listener_close(srv->listener);
	/* The caller's loop is the caller's to end. */
	if (srv->base && !srv->attached)
		event_base_loopexit(srv->base, NULL);
}

void server_conn_closed(struct udsrpc_server *srv)
{
	listener_resume(srv->listener);
	server_finish_if_idle(srv);
}

static void server_on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct udsrpc_server *srv = arg;
	struct timeval grace = {SERVER_GRACE_S, 0};
	struct conn *c;

	log_info(srv, "stopping: %u connection(s) to finish", srv->nconns);
	server_notify(srv, "STOPPING=1");
	listener_close(srv->listener);
	events_daemon(srv, "shutdown", NULL);
	evtimer_add(srv->ev_grace, &grace);
	/* Closing one connection can close others (its "peer" event overflowing
	 * a subscriber): walk a held snapshot. */
	struct conn **all = malloc((srv->nconns + 1) * sizeof(*all));
	size_t n = 0;
	if (all) {
		TAILQ_FOREACH(c, &srv->conns, link) {
			conn_hold(c);
			all[n++] = c;
		}
		for (size_t i = 0; i < n; i++)
			conn_shutdown(all[i]);
		for (size_t i = 0; i < n; i++)
			conn_release(all[i]);
		free(all);
	} else {
		while ((c = TAILQ_FIRST(&srv->conns)))
			conn_close(c, "shutting down (out of memory)");
	}
	server_finish_if_idle(srv);
}

static void server_on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct udsrpc_server *srv = arg;
	struct conn *c;

	log_warning(srv, "stopping: %u connection(s) still busy after %d s; closing them",
	            srv->nconns, SERVER_GRACE_S);
	while ((c = TAILQ_FIRST(&srv->conns)))
		conn_close(c, "shutdown grace period over");
	server_finish_if_idle(srv);
}

void server_stop_now(struct udsrpc_server *srv)
{
	if (srv->shutting_down)
		return;
	/* Set now so requests behind this one get -32004; the rest runs from the
	 * loop so the reply to a shutdown request is queued before connections drain. */
	srv->shutting_down = true;
	if (srv->ev_stop)
		event_active(srv->ev_stop, EV_TIMEOUT, 0);
}

static void server_stop_posted(void *arg)
{
	server_stop_now(arg);
}

UDSRPC_EXPORT void udsrpc_server_stop(struct udsrpc_server *srv)
{
	if (server_on_loop(srv))
		server_stop_now(srv);
	else if (xthread_post(srv, server_stop_posted, srv) < 0)
		log_error(srv, "cannot stop from another thread: out of memory");
}

UDSRPC_EXPORT bool udsrpc_server_stopping(const struct udsrpc_server *srv)
{
	return srv->shutting_down;
}

UDSRPC_EXPORT int udsrpc_server_post(struct udsrpc_server *srv, void (*fn)(void *arg), void *arg)
{
	if (!fn)
		return -EINVAL;
	return xthread_post(srv, fn, arg);
}

UDSRPC_EXPORT void udsrpc_server_set_sync(struct udsrpc_server *srv, void (*fn)(void *arg),
                                          void *arg)
{
	srv->sync_fn = fn;
	srv->sync_arg = arg;
}

UDSRPC_EXPORT size_t udsrpc_server_connections(const struct udsrpc_server *srv)
{
	return srv->nconns;
}

/*
 * Every connection is a descriptor: a max_connections above what the fd
 * limit allows would turn into accept() failures instead of a clean -32003.
 * Keep a reserve for the listener, the service's files, pidfds and /proc reads.
 */
#define SERVER_FD_RESERVE 64
static void server_clamp_limits(struct udsrpc_server *srv)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur <= 2 * SERVER_FD_RESERVE)
		return;
	rlim_t cap = rl.rlim_cur - SERVER_FD_RESERVE;
	if (srv->limits.max_connections > cap) {
		log_warning(srv,
		            "max_connections %llu is above the fd limit %llu less a reserve of %d; "
		            "using %llu (raise the hard RLIMIT_NOFILE, e.g. LimitNOFILE=, for more)",
		            (unsigned long long)srv->limits.max_connections,
		            (unsigned long long)rl.rlim_cur, SERVER_FD_RESERVE,
		            (unsigned long long)cap);
		srv->limits.max_connections = cap;
	}
}

static void server_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct udsrpc_server *srv = arg;
	char err[512];

	if (sig == SIGHUP) {
		if (srv->on_reload)
			srv->on_reload(srv, srv->userdata);
		else if (udsrpc_server_reload_policy(srv, err, sizeof(err)) < 0)
			log_error(srv, "reload: %s; keeping the running policy", err);
		else
			log_info(srv, "reloaded: %zu policy rule(s)", policy_rule_count(srv->policy));
		return;
	}
	log_info(srv, "received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	server_stop_now(srv);
}

/*
 * With UDSRPC_SERVER_SIGNALS, from the moment the socket exists: a client
 * that found it may signal us before the loop runs, and the default action
 * of SIGTERM would skip the graceful stop.
 */
static int server_signals(struct udsrpc_server *srv, bool on)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};

	for (size_t i = 0; i < 3; i++) {
		if (!on) {
			if (srv->ev_signals[i])
				event_free(srv->ev_signals[i]);
			srv->ev_signals[i] = NULL;
			continue;
		}
		if (srv->ev_signals[i])
			continue;
		srv->ev_signals[i] = evsignal_new(srv->base, sigs[i], server_on_signal, srv);
		if (!srv->ev_signals[i] || event_add(srv->ev_signals[i], NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}

UDSRPC_EXPORT int udsrpc_server_listen(struct udsrpc_server *srv, char *err, size_t errlen)
{
	char scratch[512];

	if (!err || !errlen)
		err = scratch, errlen = sizeof(scratch);
	if (srv->listener)
		return 0;
	if (!server_ensure_base(srv)) {
		snprintf(err, errlen, "cannot create the event loop");
		return -ENOMEM;
	}
	server_clamp_limits(srv);
	if ((srv->flags & UDSRPC_SERVER_SIGNALS) && !srv->attached && server_signals(srv, true) < 0) {
		snprintf(err, errlen, "cannot handle signals: out of memory");
		return -ENOMEM;
	}
	return listener_open(srv, &srv->listener, err, errlen);
}

UDSRPC_EXPORT const char *udsrpc_server_socket_path(const struct udsrpc_server *srv)
{
	return srv->socket_path;
}

/* Everything the loop needs, then accept: shared by run, start_thread and attach. */
static int server_start(struct udsrpc_server *srv, bool signals, char *err, size_t errlen)
{
	int r;

	if (srv->loop_running) {
		snprintf(err, errlen, "the server is running already");
		return -EINVAL;
	}
	if ((r = udsrpc_server_listen(srv, err, errlen)) < 0)
		return r;
	/* The service writes to peers that may be gone: that must not kill it. */
	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_REALTIME, &srv->started);
	srv->started_ms = clock_now_ms();
	if (!srv->ev_stop && (!(srv->ev_stop = event_new(srv->base, -1, 0, server_on_stop, srv)) ||
	                      !(srv->ev_grace = evtimer_new(srv->base, server_on_grace, srv)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Signals are the service's but with run(): not on a thread or the caller's loop. */
	if (server_signals(srv, signals && (srv->flags & UDSRPC_SERVER_SIGNALS)) < 0) {
		snprintf(err, errlen, "cannot handle signals: out of memory");
		return -ENOMEM;
	}
	if ((r = xthread_open(srv)) < 0) {
		snprintf(err, errlen, "cannot wake the loop from other threads: %s", strerror(-r));
		return r;
	}
	srv->loop_running = true;
	listener_start(srv->listener);
	log_info(srv, "serving on %s (pid %d, %zu methods, %zu policy rules)", srv->socket_path,
	         (int)srv->pid, srv->reg.n, policy_rule_count(srv->policy));
	server_notify(srv, "READY=1");
	/* A stop asked for before the loop ran. */
	if (srv->shutting_down)
		event_active(srv->ev_stop, EV_TIMEOUT, 0);
	return 0;
}

UDSRPC_EXPORT int udsrpc_server_run(struct udsrpc_server *srv, char *err, size_t errlen)
{
	char scratch[512];
	int r;

	if (!err || !errlen)
		err = scratch, errlen = sizeof(scratch);
	server_own_loop(srv);
	if ((r = server_start(srv, true, err, errlen)) < 0)
		return r;
	event_base_dispatch(srv->base);
	log_info(srv, "stopped");
	return 0;
}

static void *server_thread_main(void *arg)
{
	struct udsrpc_server *srv = arg;

	server_own_loop(srv);
	sem_post(&srv->thread_ready);
	event_base_dispatch(srv->base);
	log_info(srv, "stopped");
	return NULL;
}

UDSRPC_EXPORT int udsrpc_server_start_thread(struct udsrpc_server *srv, char *err, size_t errlen)
{
	char scratch[512];
	sigset_t all, old;
	int r;

	if (!err || !errlen)
		err = scratch, errlen = sizeof(scratch);
	if ((r = server_start(srv, false, err, errlen)) < 0)
		return r;
	/* The loop's thread takes no signals: they stay the service's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	sem_init(&srv->thread_ready, 0, 0);
	r = pthread_create(&srv->thread, NULL, server_thread_main, srv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		snprintf(err, errlen, "cannot start the server thread: %s", strerror(r));
		srv->loop_running = false;
		return -r;
	}
	/* From here on this thread is not the loop's: wait until the loop says so. */
	while (sem_wait(&srv->thread_ready) < 0 && errno == EINTR)
		;
	srv->thread_started = true;
	return 0;
}

UDSRPC_EXPORT int udsrpc_server_attach(struct udsrpc_server *srv, struct event_base *base,
                                       char *err, size_t errlen)
{
	char scratch[512];

	if (!err || !errlen)
		err = scratch, errlen = sizeof(scratch);
	if (!base || srv->loop_running) {
		snprintf(err, errlen, "attach needs a loop, before the server runs");
		return -EINVAL;
	}
	/* Listening already (bound as root, say): its events move to the caller's
	 * loop. A loop of our own made meanwhile stays allocated until free, so a
	 * pointer to it the service took stays valid, just unused. */
	server_signals(srv, false);
	if (srv->listener && listener_rebase(srv->listener, base) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	srv->base = base;
	srv->attached = true;
	server_own_loop(srv);
	return server_start(srv, false, err, errlen);
}

UDSRPC_EXPORT struct event_base *udsrpc_server_event_base(const struct udsrpc_server *srv)
{
	if (!server_ensure_base((struct udsrpc_server *)srv))
		return NULL;
	return srv->base;
}

UDSRPC_EXPORT void udsrpc_server_free(struct udsrpc_server *srv)
{
	struct conn *c;

	if (!srv)
		return;
	if (srv->thread_started) {
		udsrpc_server_stop(srv);
		pthread_join(srv->thread, NULL);
		srv->thread_started = false;
		sem_destroy(&srv->thread_ready);
	}
	/* What is left is freed from this thread now. */
	server_own_loop(srv);
	while ((c = TAILQ_FIRST(&srv->conns)))
		conn_close(c, NULL);
	conn_drop_queue(srv);
	if (srv->xt)
		xthread_close(srv);
	listener_close(srv->listener);
	for (size_t i = 0; i < 3; i++)
		if (srv->ev_signals[i])
			event_free(srv->ev_signals[i]);
	if (srv->ev_stop)
		event_free(srv->ev_stop);
	if (srv->ev_grace)
		event_free(srv->ev_grace);
	if (srv->flush_ev)
		event_free(srv->flush_ev);
	fanout_free(srv);
	broker_free(srv);
	registry_free(&srv->reg);
	topics_free(&srv->topics);
	policy_free(srv->policy);
	server_uid_free(srv);
	while (srv->nspare_out)
		evbuffer_free(srv->spare_out[--srv->nspare_out]);
	json_decref(srv->spare_params);
	call_spares_free(srv);
	rpc_slot_spares_free(srv);
	free(srv->rbuf);
	if (srv->own_base)
		event_base_free(srv->own_base);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	pthread_mutex_destroy(&srv->direct_mu);
	free(srv->policy_path);
	free(srv->socket_group);
	free(srv->name);
	free(srv->version);
	free(srv);
}
