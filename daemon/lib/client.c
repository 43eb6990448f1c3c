/*
 * client.c — the client side: connect (the default path's daemon checked
 * for who runs it), send requests, read reply lines and notifications;
 * every wait bounded and interruptible.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <udsrpc/client.h>

#include "clientparse.h"
#include "clock.h"
#include "export.h"
#include "jsonnum.h"
#include "rpc.h"

/* A reply line longer than this is refused with -EMSGSIZE (a server never sends one). */
#define CLIENT_LINE_MAX ((size_t)256 << 20)

struct udsrpc_client {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/* Lines read but not handed out yet: bytes past the last line stay for the next call. */
	char *buf;
	size_t len, cap;
	size_t used; /* bytes of the last returned line: dropped on the next call */
	sigset_t mask;
	bool has_mask;
	int64_t next_id;
	json_t *queue; /* messages received while waiting for another reply */
	json_t *(*parse)(void *arg, const char *line, size_t len); /* clientparse.h */
	void *parse_arg;
	void (*on_notify)(void *arg, const json_t *msg);
	void *notify_arg;
};

static const char *client_hint(int e)
{
	switch (e) {
	case ENOENT:
	case ECONNREFUSED:
		return "; is udsrpcd running? (or pass -s PATH / set UDSRPC_SOCKET)";
	case EACCES:
		return "; no permission on the socket: check its mode and group (socket_mode, socket_group)";
	case EAGAIN:
	case ETIMEDOUT:
		return "; the daemon is not accepting connections (overloaded?)";
	}
	return "";
}

/*
 * Anyone can bind /tmp/udsrpcd-UID.sock before its owner does: on the
 * default path, talk only to a daemon run by root or by ourselves.
 */
static int client_check_owner(int fd, const char *path, char *err, size_t errlen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot tell who serves it: %s", path, strerror(e));
		return -e;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		snprintf(err, errlen,
		         "%s is served by uid %u, neither root nor you (uid %u): refusing to talk to "
		         "it; pass -s %s if you trust it",
		         path, (unsigned)cred.uid, (unsigned)geteuid(), path);
		return -EPERM;
	}
	return 0;
}

UDSRPC_EXPORT int udsrpc_client_connect(struct udsrpc_client **ret, const char *path,
                                        int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char def[sizeof(sa.sun_path)], scratch[256];
	struct udsrpc_client *c;
	bool is_default = !path;
	int fd, e;

	if (!err || !errlen)
		err = scratch, errlen = sizeof(scratch);
	if (!path) {
		if (udsrpc_default_socket_path(def, sizeof(def)) < 0) {
			snprintf(err, errlen, "default socket path is too long; pass -s PATH");
			return -ENAMETOOLONG;
		}
		path = def;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path longer than %zu bytes", path,
		         sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	strcpy(sa.sun_path, path);
	strcpy(c->path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "socket: %s", strerror(e));
		free(c);
		return -e;
	}
	/*
	 * A Unix socket connects at once or not at all, except when the
	 * listener's backlog is full: then EAGAIN, and nothing will say when
	 * there is room (poll reports an unconnected socket writable at once).
	 * So try again, a millisecond apart, until the timeout.
	 */
	for (int waited = 0;; waited++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			e = 0;
			break;
		}
		e = errno;
		if (e != EAGAIN && e != EINTR)
			break;
		if (timeout_ms >= 0 && waited >= timeout_ms) {
			e = ETIMEDOUT;
			break;
		}
		poll(NULL, 0, 1);
	}
	if (e) {
		close(fd);
		free(c);
		snprintf(err, errlen, "cannot connect to %s: %s%s", path, strerror(e), client_hint(e));
		return -e;
	}
	if (is_default && (e = client_check_owner(fd, path, err, errlen)) < 0) {
		close(fd);
		free(c);
		return e;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	c->fd = fd;
	*ret = c;
	return 0;
}

UDSRPC_EXPORT void udsrpc_client_free(struct udsrpc_client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c->buf);
	json_decref(c->queue);
	free(c);
}

UDSRPC_EXPORT int udsrpc_client_fd(const struct udsrpc_client *c)
{
	return c->fd;
}

UDSRPC_EXPORT const char *udsrpc_client_path(const struct udsrpc_client *c)
{
	return c->path;
}

UDSRPC_EXPORT bool udsrpc_client_pending(const struct udsrpc_client *c)
{
	return json_array_size(c->queue) > 0 ||
	       (c->len > c->used && memchr(c->buf + c->used, '\n', c->len - c->used));
}

UDSRPC_EXPORT void udsrpc_client_set_sigmask(struct udsrpc_client *c, const sigset_t *mask)
{
	c->has_mask = mask != NULL;
	if (mask)
		c->mask = *mask;
}

UDSRPC_EXPORT void udsrpc_client_on_notify(struct udsrpc_client *c,
                                           void (*fn)(void *arg, const json_t *msg), void *arg)
{
	c->on_notify = fn;
	c->notify_arg = arg;
}

/* What is left of timeout_ms since start; -1 stays "no bound". */
static int client_left(int timeout_ms, long long start)
{
	long long left;

	if (timeout_ms < 0)
		return -1;
	left = start + timeout_ms - (long long)clock_now_ms();
	return left > 0 ? (int)left : 0;
}

/* One wait for events on fd: 1 ready, -ETIMEDOUT, -EINTR or -errno. */
static int client_wait(const struct udsrpc_client *c, short events, int timeout_ms)
{
	struct pollfd p = {.fd = c->fd, .events = events};
	struct timespec ts, *tsp = NULL;
	int r;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
		tsp = &ts;
	}
	r = ppoll(&p, 1, tsp, c->has_mask ? &c->mask : NULL);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 1;
}

UDSRPC_EXPORT int udsrpc_client_send_raw(struct udsrpc_client *c, const char *buf, size_t len,
                                         int timeout_ms)
{
	long long start = (long long)clock_now_ms();
	size_t off = 0;
	bool nl = len > 0 && buf[len - 1] == '\n';

	while (off < len + !nl) {
		/* The text and the newline it lacks in one syscall: one for a line. */
		struct iovec iov[2];
		struct msghdr mh = {.msg_iov = iov};
		if (off < len)
			iov[mh.msg_iovlen++] = (struct iovec){.iov_base = (char *)buf + off, .iov_len = len - off};
		if (!nl)
			iov[mh.msg_iovlen++] = (struct iovec){.iov_base = (char *)"\n", .iov_len = 1};
		/* MSG_DONTWAIT: a server that stopped reading (backpressure)
		 * must not hold us past the timeout inside sendmsg(). */
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int r = client_wait(c, POLLOUT, client_left(timeout_ms, start));
		/* With a mask given, a signal it lets through ends the wait. */
		if (r < 0 && (r != -EINTR || c->has_mask))
			return r;
	}
	return 0;
}

/* A request line: id < 0 is a notification. */
static int client_send_request(struct udsrpc_client *c, const char *method, const json_t *params,
                               int64_t id, int timeout_ms)
{
	json_t *req = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method);
	char *text;
	int r;

	if (!req)
		return -ENOMEM;
	if ((id >= 0 && json_object_set_new(req, "id", json_integer(id)) < 0) ||
	    (params && json_object_set(req, "params", (json_t *)params) < 0)) {
		json_decref(req);
		return -ENOMEM;
	}
	text = jsonnum_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(req);
	if (!text)
		return -ENOMEM;
	r = udsrpc_client_send_raw(c, text, strlen(text), timeout_ms);
	free(text);
	return r;
}

UDSRPC_EXPORT int udsrpc_client_send(struct udsrpc_client *c, const char *method,
                                     const json_t *params, int timeout_ms, int64_t *ret_id)
{
	int64_t id = ++c->next_id;
	int r = client_send_request(c, method, params, id, timeout_ms);
	if (r == 0 && ret_id)
		*ret_id = id;
	return r;
}

UDSRPC_EXPORT int udsrpc_client_notify(struct udsrpc_client *c, const char *method,
                                       const json_t *params, int timeout_ms)
{
	return client_send_request(c, method, params, -1, timeout_ms);
}

/* A complete line at the start of the buffer: hand it out. */
static int client_take(struct udsrpc_client *c, size_t end, size_t skip, const char **ret_line,
                       size_t *ret_len)
{
	c->buf[end] = '\0'; /* the "\n", or the spare byte kept past len */
	c->used = end + skip;
	*ret_line = c->buf;
	*ret_len = end;
	return 1;
}

UDSRPC_EXPORT int udsrpc_client_read_line(struct udsrpc_client *c, int timeout_ms,
                                          const char **ret_line, size_t *ret_len)
{
	long long start = (long long)clock_now_ms();
	size_t scanned;

	if (c->used) {
		memmove(c->buf, c->buf + c->used, c->len - c->used);
		c->len -= c->used;
		c->used = 0;
	}
	scanned = 0;
	for (;;) {
		char *nl = NULL;
		if (c->len > scanned)
			nl = memchr(c->buf + scanned, '\n', c->len - scanned);
		if (nl)
			return client_take(c, (size_t)(nl - c->buf), 1, ret_line, ret_len);
		scanned = c->len;
		if (c->len >= CLIENT_LINE_MAX)
			return -EMSGSIZE;
		/* Keep one spare byte so that a last line without "\n" can be terminated. */
		if (c->cap - c->len < 4096 + 1) {
			size_t cap = c->cap ? c->cap * 2 : 16384;
			char *b = realloc(c->buf, cap);
			if (!b)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
		ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == 0) {
			if (c->len)
				return client_take(c, c->len, 0, ret_line, ret_len);
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int r = client_wait(c, POLLIN, client_left(timeout_ms, start));
		if (r < 0)
			return r;
	}
}

/* The next message off the wire (not the queue): 1, 0 at EOF, -EPROTO, -errno. */
static int client_next(struct udsrpc_client *c, int timeout_ms, json_t **ret_msg)
{
	const char *line;
	size_t len;
	int r = udsrpc_client_read_line(c, timeout_ms, &line, &len);

	if (r <= 0)
		return r;
	/* The server's lines are compact and plain: the fast path's builder, then jansson. */
	if (!(c->parse && (*ret_msg = c->parse(c->parse_arg, line, len))) &&
	    !(*ret_msg = rpc_fast_json(NULL, line, len)))
		*ret_msg = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
	if (!json_is_object(*ret_msg)) {
		json_decref(*ret_msg);
		*ret_msg = NULL;
		return -EPROTO;
	}
	return 1;
}

void client_set_parser(struct udsrpc_client *c,
                       json_t *(*fn)(void *arg, const char *line, size_t len), void *arg)
{
	c->parse = fn;
	c->parse_arg = arg;
}

static int client_enqueue(struct udsrpc_client *c, json_t *msg)
{
	if (!c->queue && !(c->queue = json_array())) {
		json_decref(msg);
		return -ENOMEM;
	}
	return json_array_append_new(c->queue, msg) < 0 ? -ENOMEM : 0;
}

UDSRPC_EXPORT int udsrpc_client_receive(struct udsrpc_client *c, int timeout_ms, json_t **ret_msg)
{
	if (json_array_size(c->queue) > 0) {
		*ret_msg = json_incref(json_array_get(c->queue, 0));
		json_array_remove(c->queue, 0);
		return 1;
	}
	return client_next(c, timeout_ms, ret_msg);
}

UDSRPC_EXPORT int udsrpc_client_call(struct udsrpc_client *c, const char *method,
                                     const json_t *params, int timeout_ms, json_t **ret_result)
{
	long long start = (long long)clock_now_ms();
	int64_t id = 0;
	json_t *msg;
	int r;

	*ret_result = NULL;
	if ((r = udsrpc_client_send(c, method, params, timeout_ms, &id)) < 0)
		return r;
	for (;;) {
		r = client_next(c, client_left(timeout_ms, start), &msg);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0)
			return r;
		const json_t *mid = json_object_get(msg, "id");
		json_t *error = json_object_get(msg, "error");
		/* id null with an error: the server's verdict on a line it could not
		 * take as a request (too large, not JSON) or on the connection
		 * (-32003): with one call outstanding, that call's answer. */
		if (json_is_null(mid) && json_is_object(error)) {
			*ret_result = json_incref(error);
			json_decref(msg);
			return UDSRPC_CLIENT_ERROR;
		}
		/* A message with a method is a request to us, never our reply: a
		 * provider's forwarded calls carry the daemon's ids, which may
		 * equal ours. */
		if (!mid || json_integer_value(mid) != id || !json_is_integer(mid) ||
		    json_object_get(msg, "method")) {
			/* An event, a forwarded call, or a reply to an earlier
			 * pipelined request: keep it. */
			if (!mid && c->on_notify) {
				c->on_notify(c->notify_arg, msg);
				json_decref(msg);
			} else if ((r = client_enqueue(c, msg)) < 0) {
				return r;
			}
			continue;
		}
		json_t *result = json_object_get(msg, "result");
		if (error && json_is_object(error)) {
			*ret_result = json_incref(error);
			json_decref(msg);
			return UDSRPC_CLIENT_ERROR;
		}
		if (!result) {
			json_decref(msg);
			return -EPROTO;
		}
		*ret_result = json_incref(result);
		json_decref(msg);
		return 0;
	}
}
