/* listener.c — the listening socket and accept, with per-daemon and per-uid limits. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "peer.h"
#include "server.h"

#define SD_LISTEN_FDS_START 3
#define LISTENER_ACCEPT_BURST 64 /* per wake-up, so existing peers are not starved */

struct listener {
	struct udsrpc_server *srv;
	int fd;
	struct event *ev_accept;
	struct event *ev_backoff;
	bool activated; /* from systemd: never unlinked by us */
	bool backing_off;
	uint64_t last_backoff_log; /* CLOCK_MONOTONIC ms */
	dev_t dev; /* identity of the socket file we bound, checked before unlink */
	ino_t ino;
};

static void listener_on_accept(evutil_socket_t fd, short what, void *arg);

/* LISTEN_FDS/LISTEN_PID: fd 3 is ours when the pid matches. -1 when not activated. */
static int listener_activated_fd(char *err, size_t errlen)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	if (!pid || !fds || (pid_t)strtol(pid, NULL, 10) != getpid())
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (strtol(fds, NULL, 10) < 1) {
		snprintf(err, errlen, "LISTEN_FDS=%s: no socket was passed", fds);
		return -2;
	}
	int fd = SD_LISTEN_FDS_START;
	int type = 0;
	socklen_t tl = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) {
		snprintf(err, errlen, "LISTEN_FDS: fd 3 is not a stream socket; use a "
				      "ListenStream= socket unit");
		return -2;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* An existing path: fail if live or not a socket, remove if stale. */
static int listener_probe(struct udsrpc_server *srv, const char *path, char *err, size_t errlen)
{
	struct stat st;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; remove it or pick another --socket",
			 path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		struct ucred cred = {0};
		socklen_t cl = sizeof(cred);
		getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
		close(fd);
		snprintf(err, errlen,
			 "%s is in use by a running daemon (pid %d); stop it or pick another --socket",
			 path, (int)cred.pid);
		return -EADDRINUSE;
	}
	int e = errno;
	close(fd);
	if (e != ECONNREFUSED) {
		snprintf(err, errlen, "%s: cannot probe existing socket: %s", path, strerror(e));
		return -e;
	}
	/* Nobody listens: a previous daemon died without cleaning up. */
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: stale socket cannot be removed: %s", path, strerror(errno));
		return -errno;
	}
	log_info(srv, "removed stale socket %s", path);
	return 0;
}

/*
 * Whoever owns the socket's directory can rename our socket away and put
 * their own in its place, and clients would talk to them: only root or the
 * user udsrpcd serves as may own it.
 */
static int listener_check_dir(const struct udsrpc_server *srv, const char *path, char *err,
			      size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (stat(dir, &st) < 0)
		return 0; /* bind says what is wrong with it */
	if (st.st_uid != 0 && st.st_uid != srv->self_uid && srv->self_uid == 0) {
		snprintf(err, errlen,
			 "socket directory %s is owned by uid %u, not root, so its owner could "
			 "replace the socket; chown root %s, or use a directory owned by root",
			 dir, (unsigned)st.st_uid, dir);
		return -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != srv->self_uid) {
		snprintf(err, errlen,
			 "socket directory %s is owned by uid %u, neither root nor uid %u that "
			 "udsrpcd runs as, so its owner could replace the socket; chown it to root "
			 "or uid %u, or use a directory owned by either",
			 dir, (unsigned)st.st_uid, (unsigned)srv->self_uid, (unsigned)srv->self_uid);
		return -EPERM;
	}
	/* Anyone else who may write it can do the same; a sticky directory
	 * (/tmp) lets only a file's owner rename or remove it. */
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		snprintf(err, errlen,
			 "socket directory %s is writable by group or others (mode %04o) and not "
			 "sticky, so they could replace the socket; chmod go-w %s (or +t), or use "
			 "another directory",
			 dir, (unsigned)(st.st_mode & 07777), dir);
		return -EPERM;
	}
	return 0;
}

static int listener_bind(struct listener *l, const char *path, char *err, size_t errlen)
{
	struct udsrpc_server *srv = l->srv;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path longer than %zu bytes; pick a shorter --socket",
			 path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if ((r = listener_check_dir(l->srv, path, err, errlen)) < 0)
		return r;
	if ((r = listener_probe(srv, path, err, errlen)) < 0)
		return r;
	strcpy(sa.sun_path, path);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	/*
	 * The mode comes from the umask at bind, so nothing changes it by path
	 * after (a chmod would follow a symlink someone swapped in). With a
	 * socket_group it is created owner-only, and group and mode are set
	 * after through an O_PATH descriptor of the very socket file: no
	 * window in which the wrong group could connect, no symlink followed.
	 */
	mode_t old = umask(srv->socket_group ? 0177 : (~srv->socket_mode & 0777));
	r = bind(l->fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (r < 0) {
		snprintf(err, errlen, "%s: bind: %s%s", path, strerror(e),
			 e == ENOENT ? " (does the directory exist?)" : "");
		return -e;
	}
	int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0 || fstat(pfd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: replaced right after bind; is the directory shared?", path);
		if (pfd >= 0)
			close(pfd);
		return -EPERM;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	if (srv->socket_group) {
		struct group *g = getgrnam(srv->socket_group);
		char self[64];

		if (!g) {
			close(pfd);
			snprintf(err, errlen, "socket_group '%s': no such group", srv->socket_group);
			return -ENOENT;
		}
		snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
		if (fchownat(pfd, "", (uid_t)-1, g->gr_gid, AT_EMPTY_PATH) < 0 ||
		    chmod(self, srv->socket_mode) < 0) {
			e = errno;
			close(pfd);
			snprintf(err, errlen, "%s: group %s, mode %04o: %s", path, srv->socket_group,
				 (unsigned)srv->socket_mode, strerror(e));
			return -e;
		}
	}
	close(pfd);
	if (listen(l->fd, SOMAXCONN) < 0) {
		snprintf(err, errlen, "%s: listen: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

int listener_open(struct udsrpc_server *srv, struct listener **ret, char *err, size_t errlen)
{
	struct listener *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	l->srv = srv;
	l->fd = -1;
	if (srv->listen_fd >= 0) {
		/* Given by the service: it made the socket, so it is not ours to unlink. */
		l->fd = srv->listen_fd;
		srv->listen_fd = -1;
		fcntl(l->fd, F_SETFD, FD_CLOEXEC);
		fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK);
	} else if (srv->flags & UDSRPC_SERVER_SOCKET_ACTIVATION) {
		l->fd = listener_activated_fd(err, errlen);
	}
	if (l->fd == -2) {
		free(l);
		return -EINVAL;
	}
	if (l->fd >= 0) {
		struct sockaddr_un sa;
		socklen_t sl = sizeof(sa);
		l->activated = true;
		memset(&sa, 0, sizeof(sa));
		if (getsockname(l->fd, (struct sockaddr *)&sa, &sl) == 0 && sa.sun_path[0])
			snprintf(srv->socket_path, sizeof(srv->socket_path), "%s", sa.sun_path);
	} else if ((r = listener_bind(l, srv->socket_path, err, errlen)) < 0) {
		if (l->fd >= 0)
			close(l->fd);
		free(l);
		return r;
	}
	l->ev_accept = event_new(srv->base, l->fd, EV_READ | EV_PERSIST, listener_on_accept, l);
	l->ev_backoff = evtimer_new(srv->base, listener_on_accept, l);
	*ret = l;
	return 0;
}

int listener_rebase(struct listener *l, struct event_base *base)
{
	struct event *accept = event_new(base, l->fd, EV_READ | EV_PERSIST, listener_on_accept, l);
	struct event *backoff = evtimer_new(base, listener_on_accept, l);

	if (!accept || !backoff) {
		if (accept)
			event_free(accept);
		if (backoff)
			event_free(backoff);
		return -ENOMEM;
	}
	event_free(l->ev_accept);
	event_free(l->ev_backoff);
	l->ev_accept = accept;
	l->ev_backoff = backoff;
	return 0;
}

void listener_start(struct listener *l)
{
	event_add(l->ev_accept, NULL);
}

void listener_close(struct listener *l)
{
	struct stat st;

	if (!l)
		return;
	event_free(l->ev_accept);
	event_free(l->ev_backoff);
	/* After a switch to a user that may not write the socket's directory
	 * (/run), the file stays; the next start replaces it as stale. */
	if (!l->activated && l->ino && stat(l->srv->socket_path, &st) == 0 &&
	    st.st_dev == l->dev && st.st_ino == l->ino && unlink(l->srv->socket_path) < 0)
		log_info(l->srv, "cannot remove %s: %s; the next start replaces it", l->srv->socket_path,
			 strerror(errno));
	close(l->fd);
	l->srv->listener = NULL;
	free(l);
}

void listener_resume(struct listener *l)
{
	if (l && l->backing_off) {
		l->backing_off = false;
		event_del(l->ev_backoff);
		event_add(l->ev_accept, NULL);
	}
}

/* Out of descriptors: accept would fail again at once and spin the loop.
 * Stop listening for a second (sooner if a connection closes). */
static void listener_backoff(struct listener *l, int e)
{
	struct timeval tv = {1, 0};

	/* Under a sustained flood this repeats every second: say it once a minute. */
	uint64_t now = clock_now_ms();
	if (l->last_backoff_log == 0 || now - l->last_backoff_log >= 60000) {
		log_warning(l->srv, "accept: %s; pausing new connections for up to 1 s (%u open)",
			    strerror(e), l->srv->nconns);
		l->last_backoff_log = now;
	}
	l->backing_off = true;
	event_del(l->ev_accept);
	evtimer_add(l->ev_backoff, &tv);
}

/* Over a limit: say why in one unsolicited error line, then hang up. */
static void listener_reject(struct listener *l, int fd, uint64_t limit)
{
	char line[160];
	int n = snprintf(line, sizeof(line),
			 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,\"message\":\"%s\","
			 "\"data\":{\"limit\":%llu}}}\n",
			 UDSRPC_SERVER_BUSY, udsrpc_error_message(UDSRPC_SERVER_BUSY),
			 (unsigned long long)limit);
	if (send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug(l->srv, "rejected connection: %s", strerror(errno));
	close(fd);
	l->srv->stats.conn_rejected++;
}

static void listener_on_accept(evutil_socket_t unused, short what, void *arg)
{
	struct listener *l = arg;
	struct udsrpc_server *srv = l->srv;
	const struct limits *lim = &srv->limits;

	if (what & EV_TIMEOUT) {
		l->backing_off = false;
		event_add(l->ev_accept, NULL);
	}
	for (int i = 0; i < LISTENER_ACCEPT_BURST; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				listener_backoff(l, errno);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warning(srv, "accept: %s", strerror(errno));
			return;
		}
		if (srv->nconns >= lim->max_connections) {
			listener_reject(l, fd, lim->max_connections);
			continue;
		}
		struct udsrpc_peer peer;
		if (peer_capture(fd, ++srv->next_conn_id, &peer) < 0) {
			close(fd); /* gone before we could ask who it was */
			continue;
		}
		/*
		 * The last connections are root's: one user with sub-uids (or a
		 * few users) can fill max_connections, and root must still get in.
		 */
		if (peer.uid != 0 && srv->nconns >= lim->max_connections - limits_root_reserve(lim)) {
			if (server_uid_may_log(srv, peer.uid, UDSRPC_LOG_INFO))
				log_info(srv, "uid %u: only root may take the last %llu of max_connections "
					      "%llu; rejecting pid %d",
					 (unsigned)peer.uid, (unsigned long long)limits_root_reserve(lim),
					 (unsigned long long)lim->max_connections, (int)peer.pid);
			peer_clear(&peer);
			listener_reject(l, fd, lim->max_connections);
			continue;
		}
		/* Root is exempt so an administrator can always reach a daemon a user flooded. */
		if (peer.uid != 0 && server_uid_connections(srv, peer.uid) >= lim->max_connections_per_uid) {
			if (server_uid_may_log(srv, peer.uid, UDSRPC_LOG_INFO))
				log_info(srv, "uid %u is at max_connections_per_uid %llu; rejecting pid %d",
					 (unsigned)peer.uid,
					 (unsigned long long)lim->max_connections_per_uid, (int)peer.pid);
			peer_clear(&peer);
			listener_reject(l, fd, lim->max_connections_per_uid);
			continue;
		}
		conn_new(srv, fd, &peer);
	}
}
