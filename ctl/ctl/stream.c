/* stream.c — watch (events until told to stop) and raw (stdin to the daemon, replies out). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "ctl.h"
#include "output.h"
#include "stream.h"

/* ---- watch ---- */

static volatile sig_atomic_t stream_stop, stream_printing;

static void stream_on_signal(int sig)
{
	stream_stop = 1;
	/* Stuck writing to a reader that stopped reading: a stop request
	 * must still stop us, and the lines before this one are out. */
	if (stream_printing)
		_exit(CTL_EXIT_OK);
}

struct stream_watching {
	struct ctl *c;
	long long seen;
	int status;		     /* the first output failure */
	const sigset_t *unblocked; /* the mask while waiting or printing */
	long long last_rev;	     /* of the last config event (or the subscription); < 0: none */
	bool overflowed;	     /* the daemon cut this watch off as a slow reader */
	/* The keys printed of revision key_rev, the newest printed: cut off in
	 * the middle of it, we resume before it (the notice's revision) and
	 * skip these when it is replayed, so no event is printed twice. */
	long long key_rev;
	json_t *keys;
	bool skipping; /* replaying key_rev after such a resume */
	/* A revision too big to replay: each resume is cut inside it and the
	 * notice names the same revision again. Two notices naming one
	 * revision with no newer revision printed between them end the watch
	 * with an error rather than a reconnect loop (udsrpcctl(1)). */
	long long printed_rev;	  /* the newest revision of a config event printed */
	long long notice_rev;	  /* the last overflow notice's revision; < 0: none */
	long long notice_printed; /* printed_rev when that notice came */
	bool stuck;		  /* the second such notice came: stop */
};

/* A config event of key_rev already printed before the resume? Else noted. */
static bool stream_repeat(struct stream_watching *w, long long rev, const char *key)
{
	if (rev != w->key_rev) {
		w->skipping = false;
		w->key_rev = rev;
		json_object_clear(w->keys);
	}
	if (!key || !w->keys)
		return false;
	if (w->skipping && json_object_get(w->keys, key))
		return true;
	json_object_set_new(w->keys, key, json_true());
	return false;
}

/* Print one message if it is an event and more are wanted. */
static void stream_event(void *arg, json_t *msg)
{
	struct stream_watching *w = arg;
	const char *method = json_string_value(json_object_get(msg, "method"));
	const json_t *params = json_object_get(msg, "params");
	const char *topic = json_string_value(json_object_get(params, "topic"));
	const char *type = json_string_value(json_object_get(params, "type"));

	if (!method || strcmp(method, "event") != 0 || !params || w->status)
		return;
	if (w->c->count && w->seen >= w->c->count)
		return;
	if (topic && strcmp(topic, "config") == 0) {
		w->last_rev = (long long)json_integer_value(json_object_get(params, "revision"));
		if (w->c->reconnect &&
		    stream_repeat(w, w->last_rev, json_string_value(json_object_get(params, "key"))))
			return;
	}
	if (topic && type && strcmp(topic, "daemon") == 0 && strcmp(type, "overflow") == 0) {
		w->overflowed = true;
		/* The last revision all of whose events we were sent: resume after
		 * it, skipping what we printed of the next (udsrpc(7)). */
		const json_t *rev = json_object_get(params, "revision");
		if (json_is_integer(rev) && json_integer_value(rev) < w->last_rev) {
			w->last_rev = (long long)json_integer_value(rev);
			w->skipping = true;
		}
		if (json_is_integer(rev)) {
			long long r = (long long)json_integer_value(rev);
			w->stuck = r == w->notice_rev && w->printed_rev == w->notice_printed;
			w->notice_rev = r;
			w->notice_printed = w->printed_rev;
		}
		/* Resuming, the notice is ours to act on, not a change to print. */
		if (w->c->reconnect)
			return;
	}
	w->seen++;
	if (topic && strcmp(topic, "config") == 0 && w->last_rev > w->printed_rev)
		w->printed_rev = w->last_rev;
	sigset_t blocked;
	stream_printing = 1;
	sigprocmask(SIG_SETMASK, w->unblocked, &blocked);
	w->status = w->c->out->event(w->c, params);
	sigprocmask(SIG_SETMASK, &blocked, NULL);
	stream_printing = 0;
}

/* Sleep ms unless a stop request comes (the signals are let through meanwhile). */
static void stream_backoff(int ms, const sigset_t *unblocked)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	if (!stream_stop)
		ppoll(NULL, 0, &ts, unblocked);
}

/*
 * One connection's watch: subscribe (after w->last_rev when resuming
 * config), then print events until a stop, N events, or the end of the
 * connection. 0 or an exit status; *ret_subscribed tells whether the
 * subscription was answered.
 */
static int stream_watch_once(struct ctl *c, struct stream_watching *w, const json_t *base,
			     bool resume, bool hold, bool *ret_subscribed)
{
	json_t *params = base ? json_deep_copy(base) : NULL, *result = NULL, *msg;
	int r;

	*ret_subscribed = false;
	if (base && !params)
		return output_nomem();
	if (resume && w->last_rev >= 0)
		json_object_set_new(params, "after_revision", json_integer(w->last_rev));
	if ((r = session_open(&c->s, c->socket, c->timeout_ms))) {
		json_decref(params);
		return r;
	}
	c->s.json_errors = c->json;
	session_set_sigmask(&c->s, w->unblocked);
	c->s.on_notify = stream_event;
	c->s.notify_arg = w;
	w->overflowed = false;
	/* The call itself is bounded by -t like any call; the events are not. */
	r = session_call(&c->s, c->cmd->method, params, &result);
	if (r == 0 && hold && !(c->quiet && c->cmd->flags & COMMAND_QUIET))
		r = c->out->result(c, result);
	/* Whoever waits on our output (a script reading the revision) gets it now. */
	if (r == 0 && hold && fflush(stdout) != 0)
		r = CTL_EXIT_IO;
	if (r == 0) {
		*ret_subscribed = true;
		/* Without after_revision: from the revision it subscribed at. */
		if (resume && w->last_rev < 0 && json_is_integer(json_object_get(result, "revision")))
			w->last_rev = (long long)json_integer_value(json_object_get(result, "revision"));
	}
	json_decref(result);
	c->s.deadline = -1;
	while (r == 0 && !w->status && !stream_stop && !(w->overflowed && c->reconnect) &&
	       (!c->count || w->seen < c->count)) {
		r = session_read(&c->s, "watch", &msg);
		if (r == 0) {
			stream_event(w, msg);
			json_decref(msg);
		}
		if (r == -EINTR && !stream_stop)
			r = 0; /* a signal that is not a stop request */
	}
	session_close(&c->s);
	return r;
}

/* Is config among the topics base subscribes to (what after_revision needs)? */
static bool stream_has_config(const json_t *base)
{
	size_t i;
	const json_t *t;

	json_array_foreach(json_object_get(base, "topics"), i, t)
		if (strcmp(json_string_value(t), "config") == 0)
			return true;
	return false;
}

/*
 * Call the command's method, then stay connected until SIGINT/SIGTERM
 * (exit 0), c->count events, or the daemon goes: watch prints the events
 * (and with --reconnect comes back, resuming); hold (set --ephemeral)
 * prints the result first, and the connection is the point, not what
 * comes over it.
 */
static int stream_run(struct ctl *c, bool hold)
{
	struct stream_watching w = {.c = c, .last_rev = c->after_revision, .key_rev = -1,
				    .keys = json_object(), .printed_rev = -1, .notice_rev = -1,
				    .notice_printed = -1};
	struct sigaction sa = {.sa_handler = stream_on_signal}, old_int, old_term;
	sigset_t block, old_mask, wait_mask;
	json_t *params = NULL;
	int r, backoff = 0;

	if ((r = c->cmd->params(c, &params)))
		return r;
	/* after_revision is the loop's to set: each (re)subscription resumes. */
	json_object_del(params, "after_revision");
	/*
	 * SIGINT/SIGTERM stay blocked except inside the ppoll that waits for
	 * the daemon (session_set_sigmask) and while an event is printed: a
	 * stop request is never lost between checking the flag and going to
	 * sleep, and never waits for a reader that stopped reading.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old_mask);
	wait_mask = old_mask;
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	w.unblocked = &wait_mask;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	bool resume = stream_has_config(params);
	for (;;) {
		bool subscribed;

		r = stream_watch_once(c, &w, params, resume, hold, &subscribed);
		if (r == -EINTR || stream_stop || w.status || (c->count && w.seen >= c->count) ||
		    !c->reconnect)
			break;
		/* Only a daemon gone (or cutting us off) is worth another try: an
		 * answer refusing the subscription (-32015, -32001, ...) stays. */
		if (r != 0 && r != CTL_EXIT_IO)
			break;
		if (w.overflowed && w.stuck) {
			/* Resuming again would be cut at the same place: say so, never
			 * loop and never skip the revision silently. */
			fprintf(stderr,
				CTL_PROG ": watch: revision %lld's events are more than the daemon's "
					 "max_output_bytes sends a subscriber (cut off twice after revision "
					 "%lld); raise limits.max_output_bytes or list the store again\n",
				w.key_rev > w.notice_rev ? w.key_rev : w.notice_rev + 1, w.notice_rev);
			r = CTL_EXIT_ERROR;
			break;
		}
		/* A connection that was cut off keeps doubling the wait: a reader
		 * cut off again and again backs off like one that cannot connect. */
		if (subscribed && !w.overflowed)
			backoff = 0;
		backoff = backoff ? (backoff * 2 > 5000 ? 5000 : backoff * 2) : 100;
		if (w.overflowed)
			fprintf(stderr, CTL_PROG ": watch: cut off as a slow reader after revision "
					 "%lld; resuming\n",
				w.last_rev);
		else if (subscribed)
			fprintf(stderr, CTL_PROG ": watch: the connection ended; reconnecting%s\n",
				resume && w.last_rev >= 0 ? " to resume" : "");
		stream_backoff(backoff, &wait_mask);
	}
	json_decref(params);
	json_decref(w.keys);
	/* Ctrl-C or SIGTERM is how a watch is meant to end. */
	if (r == -EINTR || (stream_stop && r == CTL_EXIT_IO))
		r = 0;
	if (r == 0)
		r = w.status;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return r;
}

int stream_watch(struct ctl *c)
{
	return stream_run(c, false);
}

int stream_hold(struct ctl *c)
{
	return stream_run(c, true);
}

/* ---- raw ---- */

static int stream_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int stream_raw(struct ctl *c)
{
	char in[65536], out[65536];
	size_t in_len = 0, in_off = 0;
	bool in_eof = false, shut = false;
	long long quiet_since = 0;
	int r, fd;

	if ((r = session_open(&c->s, c->socket, c->timeout_ms)))
		return r;
	fd = c->s.fd;
	for (;;) {
		struct pollfd p[2] = {
			{.fd = STDIN_FILENO, .events = POLLIN},
			{.fd = fd, .events = POLLIN},
		};
		int wait = -1;

		/* Read stdin only when the last chunk is sent: the daemon's pace is ours. */
		if (in_eof || in_off < in_len)
			p[0].fd = -1;
		if (in_off < in_len)
			p[1].events |= POLLOUT;
		if (in_eof && !shut) {
			/* Half-close: the daemon answers what it has, then closes. */
			shutdown(fd, SHUT_WR);
			shut = true;
			quiet_since = session_now_ms();
		}
		/* Before stdin ends, a person may be typing: no timeout. After,
		 * the timeout is how long the daemon may stay silent. */
		if (shut && c->timeout_ms >= 0) {
			long long left = quiet_since + c->timeout_ms - session_now_ms();
			wait = left > 0 ? (int)left : 0;
		}
		r = poll(p, 2, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = session_io_failed(&c->s, "raw", -errno);
			break;
		}
		if (r == 0) {
			r = session_io_failed(&c->s, "raw", -ETIMEDOUT);
			break;
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, out, sizeof(out), MSG_DONTWAIT);
			if (n == 0) {
				/* The daemon is done. Early (stdin not all sent) is an error. */
				r = shut ? CTL_EXIT_OK : session_io_failed(&c->s, "raw", 0);
				break;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				r = session_io_failed(&c->s, "raw", -errno);
				break;
			}
			if (n > 0) {
				if ((r = stream_write_all(STDOUT_FILENO, out, (size_t)n)) < 0) {
					fprintf(stderr, CTL_PROG ": raw: writing stdout: %s\n",
						strerror(-r));
					r = CTL_EXIT_IO;
					break;
				}
				quiet_since = session_now_ms();
			}
		}
		if (p[1].revents & POLLOUT) {
			ssize_t n = send(fd, in + in_off, in_len - in_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* EPIPE: it closed on us; the replies it sent are still to read. */
				if (errno == EPIPE || errno == ECONNRESET) {
					in_off = in_len;
					continue;
				}
				r = session_io_failed(&c->s, "raw", -errno);
				break;
			}
			if (n > 0)
				in_off += (size_t)n;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(STDIN_FILENO, in, sizeof(in));
			if (n < 0 && errno != EINTR && errno != EAGAIN) {
				fprintf(stderr, CTL_PROG ": raw: reading stdin: %s\n",
					strerror(errno));
				r = CTL_EXIT_IO;
				break;
			}
			if (n == 0)
				in_eof = true;
			if (n > 0) {
				in_len = (size_t)n;
				in_off = 0;
			}
		}
	}
	session_close(&c->s);
	return r;
}
