/* server.c — the daemon's lifecycle: start-up checks, the loop, reload, graceful stop. */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "conn.h"
#include "events.h"
#include "listener.h"
#include "log.h"
#include "methods.h"
#include "names.h"
#include "policy.h"
#include "schema.h"
#include "server.h"
#include "store.h"

#define SERVER_GRACE_S 10 /* how long a graceful stop waits for slow peers */

/* Open connections per uid: a small chained hash, touched only at accept and close. */
#define UID_BUCKETS 256
struct uid_count {
	struct uid_count *next;
	uid_t uid;
	unsigned n;
};

unsigned server_uid_connections(struct server *srv, uid_t uid)
{
	struct uid_count *u;
	if (!srv->uid_counts)
		return 0;
	for (u = srv->uid_counts[uid % UID_BUCKETS]; u; u = u->next)
		if (u->uid == uid)
			return u->n;
	return 0;
}

void server_uid_adjust(struct server *srv, uid_t uid, int delta)
{
	struct uid_count **table, **pp, *u;

	if (!srv->uid_counts && !(srv->uid_counts = calloc(UID_BUCKETS, sizeof(*table))))
		return;
	table = srv->uid_counts;
	for (pp = &table[uid % UID_BUCKETS]; (u = *pp); pp = &u->next)
		if (u->uid == uid)
			break;
	if (!u) {
		if (delta < 0 || !(u = calloc(1, sizeof(*u))))
			return;
		u->uid = uid;
		*pp = u;
	}
	u->n += (unsigned)delta;
	if (u->n == 0) {
		*pp = u->next;
		free(u);
	}
}

static void server_uid_free(struct server *srv)
{
	struct uid_count **table = srv->uid_counts;
	if (!table)
		return;
	for (int i = 0; i < UID_BUCKETS; i++) {
		struct uid_count *u, *next;
		for (u = table[i]; u; u = next) {
			next = u->next;
			free(u);
		}
	}
	free(table);
	srv->uid_counts = NULL;
}

/* sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void server_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len;

	if (!path || (path[0] != '/' && path[0] != '@') || (len = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_warning("NOTIFY_SOCKET %s: %s", path, strerror(errno));
	close(fd);
}

/*
 * Who serves: config "user"/"group" when set, else whoever started us.
 * switch_ids: started as root with either set, so the ids change once the
 * socket is bound and the store open, before the first request is read.
 */
struct server_runas {
	uid_t uid;
	gid_t gid;
	bool switch_ids;
};

static int server_runas(const struct config *cfg, struct server_runas *ret, char *err,
			size_t errlen)
{
	int r = 0;

	ret->uid = geteuid();
	ret->gid = getegid();
	ret->switch_ids = (cfg->user || cfg->group) && geteuid() == 0;
	/* Without "group", the user's own primary group. */
	if (cfg->user && (r = names_user_ids(cfg->user, &ret->uid, &ret->gid)) < 0) {
		snprintf(err, errlen, "user '%s': %s; create the user or fix \"user\" in the config",
			 cfg->user, r == -ENOENT ? "no such user" : strerror(-r));
		return r;
	}
	if (cfg->group && (r = names_group_id(cfg->group, &ret->gid)) < 0) {
		snprintf(err, errlen, "group '%s': %s; create the group or fix \"group\" in the config",
			 cfg->group, r == -ENOENT ? "no such group" : strerror(-r));
		return r;
	}
	if (!ret->switch_ids && (ret->uid != geteuid() || (cfg->group && ret->gid != getegid()))) {
		snprintf(err, errlen,
			 "the config says to run as %s%s%s but udsrpcd was started as uid %u, not "
			 "root, so it cannot switch; start it as root or remove \"user\"/\"group\"",
			 cfg->user ? cfg->user : "", cfg->user && cfg->group ? ":" : "",
			 cfg->group ? cfg->group : "", (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

/*
 * The switch itself, after everything that needs root is done. Supplementary
 * groups go first (only root may set them), then the gid, then the uid; a
 * switch that could be undone is refused rather than trusted.
 */
static int server_drop_privileges(const struct config *cfg, const struct server_runas *ra,
				  char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	int e;

	if ((cfg->user ? initgroups(cfg->user, ra->gid) : setgroups(1, &ra->gid)) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot set the supplementary groups of %s: %s",
			 cfg->user ? cfg->user : cfg->group, strerror(e));
		return -e;
	}
	if (setresgid(ra->gid, ra->gid, ra->gid) < 0 || setresuid(ra->uid, ra->uid, ra->uid) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot switch to uid %u gid %u: %s", (unsigned)ra->uid,
			 (unsigned)ra->gid, strerror(e));
		return -e;
	}
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != ra->uid ||
	    eu != ra->uid || su != ra->uid || rg != ra->gid || eg != ra->gid || sg != ra->gid ||
	    (ra->uid != 0 && (setuid(0) == 0 || setgid(0) == 0))) {
		snprintf(err, errlen, "switching to uid %u gid %u did not stick (root can be "
				      "regained); refusing to serve", (unsigned)ra->uid, (unsigned)ra->gid);
		return -EPERM;
	}
	log_info("running as uid %u gid %u (%s%s%s)", (unsigned)ra->uid, (unsigned)ra->gid,
		 cfg->user ? cfg->user : "", cfg->user && cfg->group ? ":" : "",
		 cfg->group ? cfg->group : "");
	return 0;
}

/* Reload re-reads these files as the user we switched to. */
static void server_check_readable(const char *path, uid_t uid)
{
	if (path && access(path, R_OK) < 0)
		log_warning("%s is not readable by uid %u (%s): daemon.reload and SIGHUP will fail "
			    "until it is; make it readable by that user or group",
			    path, (unsigned)uid, strerror(errno));
}

/*
 * mkdir -p with mode 0700 for what we create; what we create before
 * switching ids is chowned to the user that will use it. The state dir must
 * not be world-writable, and after a switch it must be that user's.
 */
static int server_make_dirs(const char *path, const struct server_runas *ra, char *err,
			    size_t errlen)
{
	char tmp[PATH_MAX];
	struct stat st;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char save = *p;
		*p = '\0';
		if (mkdir(tmp, 0700) == 0) {
			if (ra->switch_ids && chown(tmp, ra->uid, ra->gid) < 0) {
				int e = errno;
				snprintf(err, errlen, "cannot chown state dir %.512s to %u:%u: %s", tmp,
					 (unsigned)ra->uid, (unsigned)ra->gid, strerror(e));
				return -e;
			}
		} else if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create state dir %.512s: %s", tmp, strerror(errno));
			return -errno;
		}
		*p = save;
		if (save == '\0')
			break;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state dir %s is not a directory", path);
		return -ENOTDIR;
	}
	/* Anyone could swap the store's files for their own. */
	if (st.st_mode & S_IWOTH) {
		snprintf(err, errlen,
			 "state dir %s is world-writable (mode %04o); chmod o-w %s, or pick another "
			 "--state-dir", path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	if (ra->switch_ids && st.st_uid != ra->uid) {
		snprintf(err, errlen,
			 "state dir %s is owned by uid %u, not by uid %u that udsrpcd runs as; "
			 "chown -R %u:%u %s, or pick another --state-dir", path, (unsigned)st.st_uid,
			 (unsigned)ra->uid, (unsigned)ra->uid, (unsigned)ra->gid, path);
		return -EPERM;
	}
	return 0;
}

int server_load_policy(struct server *srv, const char *path, struct policy **ret, char *err,
		       size_t errlen)
{
	if (!path) {
		*ret = policy_default(srv->uid);
		if (!*ret) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		return 0;
	}
	return policy_load_file(path, srv->uid, ret, err, errlen);
}

int server_init(struct server *srv, char *err, size_t errlen)
{
	const char *names[64];
	struct server_runas ra;
	int r;

	/* "self" in the policy and daemon.info's uid: the uid that serves. */
	if ((r = server_runas(&srv->cfg, &ra, err, errlen)) < 0)
		return r;
	srv->uid = ra.uid;
	srv->pid = getpid();
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->subscribers);
	if ((r = schema_load(NULL, 0, &srv->schema, err, errlen)) < 0)
		return r;
	/* The table and the document must agree both ways, or a method would be
	 * served unvalidated or advertised without existing. */
	for (size_t i = 0; i < methods_count && i < 64; i++)
		names[i] = methods_table[i]->name;
	if ((r = schema_check_methods(srv->schema, names, methods_count, err, errlen)) < 0)
		return r;
	srv->method_schemas = calloc(methods_count, sizeof(*srv->method_schemas));
	srv->method_stats = calloc(methods_count, sizeof(*srv->method_stats));
	if (!srv->method_schemas || !srv->method_stats) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < methods_count; i++)
		srv->method_schemas[i] = schema_method(srv->schema, methods_table[i]->name);
	return server_load_policy(srv, srv->policy_path, &srv->policy, err, errlen);
}

static void server_finish_if_idle(struct server *srv)
{
	if (srv->shutting_down && srv->nconns == 0 && srv->base)
		event_base_loopexit(srv->base, NULL);
}

void server_conn_closed(struct server *srv)
{
	listener_resume(srv->listener);
	server_finish_if_idle(srv);
}

static void server_on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct timeval grace = {SERVER_GRACE_S, 0};
	struct conn *c;

	log_info("stopping: %u connection(s) to finish", srv->nconns);
	server_notify("STOPPING=1");
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
	struct server *srv = arg;
	struct conn *c;

	log_warning("stopping: %u connection(s) still busy after %d s; closing them", srv->nconns,
		    SERVER_GRACE_S);
	while ((c = TAILQ_FIRST(&srv->conns)))
		conn_close(c, "shutdown grace period over");
	server_finish_if_idle(srv);
}

void server_stop(struct server *srv)
{
	if (srv->shutting_down)
		return;
	/* Set now so requests behind this one get -32004; the rest runs from the
	 * loop so the reply to daemon.shutdown is queued before connections drain. */
	srv->shutting_down = true;
	event_active(srv->ev_stop, EV_TIMEOUT, 0);
}

/*
 * Every connection is a descriptor: a max_connections above what the fd
 * limit allows would turn into accept() failures instead of a clean -32003.
 * Keep a reserve for the listener, the store, pidfds and /proc reads.
 */
#define SERVER_FD_RESERVE 64
static void server_clamp_limits(struct server *srv)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur <= 2 * SERVER_FD_RESERVE)
		return;
	rlim_t cap = rl.rlim_cur - SERVER_FD_RESERVE;
	if (srv->cfg.limits.max_connections > cap) {
		log_warning("max_connections %u is above the fd limit %llu less a reserve of %d; "
			    "using %llu (raise the hard RLIMIT_NOFILE, e.g. LimitNOFILE=, for more)",
			    srv->cfg.limits.max_connections, (unsigned long long)rl.rlim_cur,
			    SERVER_FD_RESERVE, (unsigned long long)cap);
		srv->cfg.limits.max_connections = (unsigned)cap;
	}
}

int server_reload(struct server *srv, char *err, size_t errlen)
{
	struct config fresh;
	struct policy *p;
	const char *policy_path = srv->policy_path;
	int r;

	/* All or nothing: read both files, apply only when both are good. */
	config_defaults(&fresh);
	if (srv->config_path) {
		if ((r = config_load_file(&fresh, srv->config_path, err, errlen)) < 0) {
			config_free(&fresh);
			log_error("reload: %s; keeping the running configuration", err);
			return r;
		}
		if (fresh.policy && srv->policy_from_config)
			policy_path = fresh.policy;
	}
	if ((r = server_load_policy(srv, policy_path, &p, err, errlen)) < 0) {
		config_free(&fresh);
		log_error("reload: %s; keeping the running policy", err);
		return r;
	}
	if (srv->config_path) {
		/* Socket, state dir and user are fixed for the life of the process;
		 * limits, log level and the policy file can change. */
		srv->cfg.limits = fresh.limits;
		server_clamp_limits(srv);
		srv->cfg.log_level = fresh.log_level;
		log_set_level(fresh.log_level);
		if (policy_path != srv->policy_path)
			config_set_str(&srv->policy_path, policy_path);
	}
	config_free(&fresh);
	policy_free(srv->policy);
	srv->policy = p;
	srv->policy_gen++;
	log_info("reloaded: %zu policy rule(s)", policy_rule_count(p));
	events_daemon(srv, "reload", json_pack("{s:I}", "policy_rules", (json_int_t)policy_rule_count(p)));
	return 0;
}

static void server_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	char err[512];

	if (sig == SIGHUP) {
		server_reload(srv, err, sizeof(err));
		return;
	}
	log_info("received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	server_stop(srv);
}

int server_run(struct server *srv, char *err, size_t errlen)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	struct server_runas ra;
	int r;

	/* No evthread_use_pthreads(): only the loop thread touches libevent (the
	 * store's committer wakes it through an eventfd), and with it every event
	 * and evbuffer call would take a mutex. */
	signal(SIGPIPE, SIG_IGN);
	srv->base = event_base_new();
	if (!srv->base) {
		snprintf(err, errlen, "cannot create the event loop");
		return -ENOMEM;
	}
	clock_gettime(CLOCK_REALTIME, &srv->started);
	srv->started_ms = clock_now_ms();
	srv->ev_stop = event_new(srv->base, -1, 0, server_on_stop, srv);
	srv->ev_grace = evtimer_new(srv->base, server_on_grace, srv);
	for (size_t i = 0; i < 3; i++) {
		srv->ev_signals[i] = evsignal_new(srv->base, sigs[i], server_on_signal, srv);
		event_add(srv->ev_signals[i], NULL);
	}
	if ((r = server_runas(&srv->cfg, &ra, err, errlen)) < 0)
		return r;
	/* Per thread and inherited: set before the store starts its committer. */
	if (ra.switch_ids && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(-r));
		return r;
	}
	server_clamp_limits(srv);
	/* The socket first: a live daemon there must find its state dir untouched. */
	if ((r = listener_open(srv, &srv->listener, err, errlen)) < 0)
		return r;
	if ((r = server_make_dirs(srv->cfg.state_dir, &ra, err, errlen)) < 0)
		return r;
	if ((r = store_open(srv->cfg.state_dir, srv->base, &srv->store, err, errlen)) < 0)
		return r;
	/* Root was needed for the socket (bind in /run, chown to socket_group)
	 * and the state dir; nothing after this needs it. */
	if (ra.switch_ids) {
		if ((r = server_drop_privileges(&srv->cfg, &ra, err, errlen)) < 0)
			return r;
		server_check_readable(srv->config_path, ra.uid);
		server_check_readable(srv->policy_path, ra.uid);
	}
	listener_start(srv->listener);
	log_info("serving on %s (pid %d, %zu methods, %zu policy rules, state in %s)",
		 srv->socket_path, (int)srv->pid, methods_count, policy_rule_count(srv->policy),
		 srv->cfg.state_dir);
	server_notify("READY=1");
	event_base_dispatch(srv->base);
	/* Every answered write is durable before the process goes. */
	store_close(srv->store);
	srv->store = NULL;
	listener_close(srv->listener);
	log_info("stopped");
	return 0;
}

void server_free(struct server *srv)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&srv->conns)))
		conn_close(c, NULL);
	if (srv->store)
		store_close(srv->store);
	listener_close(srv->listener);
	for (size_t i = 0; i < 3; i++)
		if (srv->ev_signals[i])
			event_free(srv->ev_signals[i]);
	if (srv->ev_stop)
		event_free(srv->ev_stop);
	if (srv->ev_grace)
		event_free(srv->ev_grace);
	if (srv->method_stats)
		for (size_t i = 0; i < methods_count; i++)
			stats_method_free(&srv->method_stats[i]);
	free(srv->method_stats);
	free(srv->method_schemas);
	policy_free(srv->policy);
	schema_free(srv->schema);
	server_uid_free(srv);
	if (srv->base)
		event_base_free(srv->base);
	free(srv->config_path);
	free(srv->policy_path);
	config_free(&srv->cfg);
}
