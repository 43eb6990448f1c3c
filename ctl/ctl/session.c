/* session.c — one udsrpcctl connection: requests out, replies matched by id, failures said. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "session.h"
#include "jsonnum.h"

long long session_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long session_now_ms(void)
{
	return session_now_ns() / 1000000;
}

/* What the client layer wants: ms left until the deadline, -1 for none. */
static int session_left(const struct session *s)
{
	long long left;

	if (s->deadline < 0)
		return -1;
	left = s->deadline - session_now_ms();
	return left > 0 ? (int)left : 0;
}

int session_open(struct session *s, const char *path, int timeout_ms)
{
	char err[512];
	int r;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->path = path;
	s->timeout_ms = timeout_ms;
	s->deadline = timeout_ms < 0 ? -1 : session_now_ms() + timeout_ms;
	s->next_id = 1;
	/* path NULL: the default path, whose daemon the library checks is root's or ours. */
	r = udsrpc_client_connect(&s->client, path, timeout_ms, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, CTL_PROG ": %s\n", err);
		return CTL_EXIT_IO;
	}
	s->fd = udsrpc_client_fd(s->client);
	s->path = udsrpc_client_path(s->client);
	return 0;
}

void session_set_sigmask(struct session *s, const sigset_t *mask)
{
	udsrpc_client_set_sigmask(s->client, mask);
	s->interruptible = mask != NULL;
}

void session_close(struct session *s)
{
	udsrpc_client_free(s->client);
	s->client = NULL;
	s->fd = -1;
}

int session_io_failed(const struct session *s, const char *what, int r)
{
	switch (r) {
	case -ETIMEDOUT:
		fprintf(stderr,
			CTL_PROG ": %s: no reply from %s within %d ms; is udsrpcd running and "
				 "responsive? (or raise -t MS)\n",
			what, s->path, s->timeout_ms);
		break;
	case 0:
	case -EPIPE:
	case -ECONNRESET:
		fprintf(stderr,
			CTL_PROG ": %s: udsrpcd closed the connection on %s; is udsrpcd still "
				 "running? (see its log)\n",
			what, s->path);
		break;
	case -EMSGSIZE:
		fprintf(stderr,
			CTL_PROG ": %s: a reply line from %s is over %zu MiB; is that udsrpcd?\n",
			what, s->path, (size_t)256);
		break;
	default:
		fprintf(stderr, CTL_PROG ": %s: %s: %s; is udsrpcd running?\n", what, s->path,
			strerror(-r));
		break;
	}
	return CTL_EXIT_IO;
}

int session_read(struct session *s, const char *what, json_t **ret_msg)
{
	json_error_t jerr;
	const char *line;
	size_t len;
	int r;

	/* Lines that hold only blanks are not messages (udsrpc(7)); skip them. */
	do {
		r = udsrpc_client_read_line(s->client, session_left(s), &line, &len);
		if (r == -EINTR && s->interruptible)
			return -EINTR;
		if (r <= 0)
			return session_io_failed(s, what, r);
	} while (strspn(line, " \t\r") == len);
	*ret_msg = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
	if (!*ret_msg) {
		fprintf(stderr,
			CTL_PROG ": %s: malformed reply from %s (%s at byte %d); is udsrpcd what "
				 "listens there?\n",
			what, s->path, jerr.text, jerr.position);
		return CTL_EXIT_IO;
	}
	return 0;
}

/*
 * The one-line verdict on an error object: udsrpcctl(1)'s format, exit 1 or
 * 4. Under -j the object also goes to stdout, for a script to read.
 */
static int session_error(const struct session *s, const char *method, json_t *error)
{
	const json_t *code = json_object_get(error, "code");
	const char *message = json_string_value(json_object_get(error, "message"));
	const json_t *data = json_object_get(error, "data");
	const char *reason = json_string_value(json_object_get(data, "reason"));
	const char *path = json_string_value(json_object_get(data, "path"));

	if (!json_is_integer(code) || !message) {
		fprintf(stderr, CTL_PROG ": %s: malformed error object from udsrpcd\n", method);
		return CTL_EXIT_IO;
	}
	/* The contract's line first; the daemon's reason (which param, which
	 * policy rule) after it, because without it the line says nothing
	 * about what to fix. */
	fprintf(stderr, CTL_PROG ": %s: %s (code %lld)", method, message,
		(long long)json_integer_value(code));
	if (path && reason)
		fprintf(stderr, ": %s%s%s", *path ? path : "params", ": ", reason);
	else if (reason)
		fprintf(stderr, ": %s", reason);
	/* A conflict carries where the key is now: what a retry needs. */
	const json_t *rev = json_object_get(data, "revision");
	const char *key = json_string_value(json_object_get(data, "key"));
	/* A resume from before the history: where it starts now, and what to do. */
	const json_t *compact = json_object_get(data, "compact_revision");
	if (json_integer_value(code) == UDSRPC_HISTORY_COMPACTED && json_is_integer(compact))
		fprintf(stderr,
			": the history keeps only changes after revision %lld; list again and "
			"watch from the listing's revision",
			(long long)json_integer_value(compact));
	if (json_integer_value(code) == UDSRPC_CONFLICT && json_is_integer(rev) && key) {
		if (json_integer_value(rev) > 0)
			fprintf(stderr, ": %s is at revision %lld", key,
				(long long)json_integer_value(rev));
		else
			fprintf(stderr, ": %s does not exist", key);
	}
	fputc('\n', stderr);
	if (s->json_errors) {
		json_t *out = json_pack("{s:O}", "error", error);
		char *text = out ? jsonnum_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		if (text)
			puts(text);
		free(text);
		json_decref(out);
		fflush(stdout);
	}
	return json_integer_value(code) == UDSRPC_PERMISSION_DENIED ? CTL_EXIT_DENIED : CTL_EXIT_ERROR;
}

#define VERBATIM_MAX 4
#define VERBATIM_TAG "\\u0001udsrpcctl-verbatim-"
/* Kept for the process's life: a run sends a handful of requests at most. */
static char *verbatim[VERBATIM_MAX];
static unsigned verbatim_n;

json_t *session_verbatim(const char *text, size_t len)
{
	static const char ws[] = " \t\r\n";
	char tag[32];

	while (len && strchr(ws, text[len - 1]))
		len--;
	while (len && strchr(ws, *text)) {
		text++;
		len--;
	}
	if (verbatim_n == VERBATIM_MAX || !(verbatim[verbatim_n] = strndup(text, len)))
		return NULL;
	snprintf(tag, sizeof(tag), "\001udsrpcctl-verbatim-%u\001", verbatim_n++);
	return json_string(tag);
}

/*
 * The line with each placeholder string ("\u0001udsrpcctl-verbatim-N\u0001")
 * swapped for its text. The search goes on after what it put in: a
 * verbatim text (restore's items) may hold strings that look like a
 * placeholder, and they are data, not more to splice.
 */
static char *session_splice(char *line)
{
	size_t from = 0;
	char *at, *out;
	unsigned i;

	while ((at = strstr(line + from, "\"" VERBATIM_TAG))) {
		char *end = strstr(at + 1, "\"");
		i = (unsigned)strtoul(at + 1 + strlen(VERBATIM_TAG), NULL, 10);
		if (!end || i >= verbatim_n ||
		    asprintf(&out, "%.*s%s%s", (int)(at - line), line, verbatim[i], end + 1) < 0) {
			free(line);
			return NULL;
		}
		from = (size_t)(at - line) + strlen(verbatim[i]);
		free(line);
		line = out;
	}
	return line;
}

static int session_send(struct session *s, const char *method, long long id, json_t *params)
{
	json_t *req = json_pack("{s:s,s:I,s:s}", "jsonrpc", "2.0", "id", (json_int_t)id, "method",
				method);
	char *line = NULL;
	int r;

	if (req && params)
		json_object_set(req, "params", params);
	if (req)
		line = jsonnum_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (line && verbatim_n)
		line = session_splice(line);
	if (!line) {
		fprintf(stderr, CTL_PROG ": %s: out of memory\n", method);
		return CTL_EXIT_IO;
	}
	r = udsrpc_client_send_raw(s->client, line, strlen(line), session_left(s));
	free(line);
	/* A daemon at max_connections writes its -32003 verdict and closes, so
	 * the send can fail while that line waits to be read: the read says
	 * which it was, the verdict or a plain close. */
	if (r == -EPIPE || r == -ECONNRESET)
		return 0;
	return r < 0 ? session_io_failed(s, method, r) : 0;
}

int session_call(struct session *s, const char *method, json_t *params, json_t **ret_result)
{
	long long id = s->next_id++;
	json_t *msg;
	int r;

	*ret_result = NULL;
	r = session_send(s, method, id, params);
	json_decref(params);
	if (r)
		return r;
	for (;;) {
		if ((r = session_read(s, method, &msg)))
			return r;
		const json_t *mid = json_object_get(msg, "id");
		if (!mid && json_object_get(msg, "method")) {
			/* A push (an event) between replies: not ours to answer. */
			if (s->on_notify)
				s->on_notify(s->notify_arg, msg);
			json_decref(msg);
			continue;
		}
		json_t *error = json_object_get(msg, "error");
		/* id null with an error: the daemon's unsolicited verdict on this
		 * connection (-32003 busy) or on an unframeable request. */
		if (error && (json_is_null(mid) || json_integer_value(mid) == id)) {
			r = session_error(s, method, error);
			json_decref(msg);
			return r;
		}
		if (!json_is_integer(mid) || json_integer_value(mid) != id ||
		    !json_object_get(msg, "result")) {
			fprintf(stderr,
				CTL_PROG ": %s: unexpected reply from %s (not the answer to "
					 "request %lld); is udsrpcd what listens there?\n",
				method, s->path, id);
			json_decref(msg);
			return CTL_EXIT_IO;
		}
		*ret_result = json_incref(json_object_get(msg, "result"));
		json_decref(msg);
		return 0;
	}
}

bool session_await_close(struct session *s)
{
	const char *line;
	size_t len;
	int r;

	/* Bounded by the deadline: at most a few replies' worth of lines. */
	while ((r = udsrpc_client_read_line(s->client, session_left(s), &line, &len)) > 0)
		;
	return r == 0 || r == -ECONNRESET;
}
