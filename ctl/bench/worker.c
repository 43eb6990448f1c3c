/*
 * worker.c — one forked load process. Its connections keep DEPTH requests
 * in flight; every reply is checked (reply.c) and timed into one histogram;
 * the requests that became sendable after a read leave in one send() per
 * connection. A worker with a single connection blocks in recv() (two
 * system calls per request, as a plain client would make); with more it
 * runs a level-triggered epoll loop over nonblocking sockets.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <udsrpc/client.h>

#include "clock.h"
#include "hist.h"
#include "reply.h"
#include "wire.h"
#include "worker.h"

#define W_TICK_NS 100000000ull     /* timeouts, progress and the end are looked at this often */
#define W_PROGRESS_NS 200000000ull /* progress (and proof of life) to the parent */
/* After Ctrl-C: how long in-flight replies may still take. A healthy daemon
 * answers in microseconds; this covers one slowed down by a sanitizer or
 * valgrind on a loaded machine, where 1 s was seen to cut a reply short. */
#define W_DRAIN_NS 3000000000ull
#define W_NOTES_PER_KIND 3         /* notes per error kind and worker: the first ones say enough */
#define W_RBUF (256 * 1024)        /* shared receive buffer: many replies per recv() */
#define W_READ_MIN 65536           /* room a partial line's own buffer gets for the next read */
#define W_EVENTS 256
#define W_LINE_MAX ((size_t)256 << 20) /* a reply longer than any daemon sends */
#define W_SERVER_BUSY (-32003)

enum hold_state { HOLD_NONE, HOLD_OPEN, HOLD_PINGED, HOLD_HELD };

struct wconn {
	int fd;
	struct udsrpc_client *client; /* owns fd */
	unsigned index; /* global, among clients or among --hold connections */
	unsigned depth;
	unsigned char hold; /* enum hold_state; HOLD_NONE: a load connection */
	bool dead;
	bool rejected;    /* the daemon said -32003 */
	bool out_armed;   /* EPOLLOUT is on */
	const char *lost; /* why it is dead (hold connections: reported at the end) */
	unsigned inflight;
	uint64_t quota;         /* -n: measured requests still to send */
	uint64_t waiting_since; /* ns: the last reply, or the send that began the wait */
	uint64_t *slot_id; /* per slot: the last id issued there (ids are slot + 1 + k * depth) */
	uint64_t *slot_t;  /* per slot: send time of the request in flight there; 0: free */
	unsigned *free_slot;
	unsigned nfree;
	char *carry; /* a reply line not complete yet; allocated when one is left over */
	size_t carry_len, carry_cap;
	char *out; /* what the socket did not take at once */
	size_t out_off, out_len, out_cap;
};

static struct {
	const struct opts *o;
	const struct worker_plan *plan;
	struct wire_counts counts;
	struct hist hist;
	unsigned notes[WIRE_ERR_KINDS];
	struct wconn *conns; /* clients first, then --hold connections */
	unsigned nload, nconns;
	int ep; /* -1 when the single connection is read blocking */
	uint64_t timeout_ns;
	uint64_t t_measure;   /* requests sent from here on are measured */
	uint64_t t_stop;      /* -d: no request is sent from here on */
	uint64_t t_interrupt; /* SIGINT/SIGTERM seen; 0: not */
	uint64_t last_progress;
	bool maybe_done;       /* a connection ran out of work: look whether all did */
	bool end_seen;         /* the parent closed end_fd: the hold may end */
	unsigned hold_pending; /* verification pings not answered yet */
	char *rbuf;
	char *wbuf;
	size_t wcap;
} W;

static volatile sig_atomic_t w_signalled;

static void w_on_signal(int sig)
{
	w_signalled = 1;
}

__attribute__((format(printf, 2, 3))) static void w_note(enum wire_err kind, const char *fmt, ...)
{
	char buf[WIRE_NOTE_MAX];
	va_list ap;

	if (W.notes[kind]++ >= W_NOTES_PER_KIND)
		return;
	buf[0] = (char)kind;
	va_start(ap, fmt);
	vsnprintf(buf + 1, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	wire_send(W.plan->report_fd, WIRE_NOTE, buf, strlen(buf + 1) + 2);
}

static void w_progress(uint64_t now)
{
	W.last_progress = now;
	wire_send(W.plan->report_fd, WIRE_PROGRESS, &W.counts, sizeof(W.counts));
}

/* A reply line, shortened and with control bytes shown as '?', for a note. */
static const char *w_excerpt(const char *p, size_t n, char *buf, size_t cap)
{
	size_t k = n < cap - 4 ? n : cap - 4;
	for (size_t i = 0; i < k; i++)
		buf[i] = (unsigned char)p[i] < 0x20 ? '?' : p[i];
	strcpy(buf + k, n > k ? "..." : "");
	return buf;
}

static bool w_may_send(const struct wconn *c, uint64_t now)
{
	if (c->dead || c->hold != HOLD_NONE || W.t_interrupt)
		return false;
	if (now < W.t_measure)
		return true;
	return W.o->duration > 0 ? now < W.t_stop : c->quota > 0;
}

static bool w_reserve(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 4096;
	while (n < need)
		n *= 2;
	char *nb = realloc(*buf, n);
	if (!nb)
		return false;
	*buf = nb;
	*cap = n;
	return true;
}

static void w_want_out(struct wconn *c, bool on)
{
	if (W.ep < 0 || c->out_armed == on)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
	epoll_ctl(W.ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->out_armed = on;
}

/* Close without judging; the callers count what was lost. */
static void w_close(struct wconn *c, const char *why)
{
	if (c->dead)
		return;
	if (W.ep >= 0)
		epoll_ctl(W.ep, EPOLL_CTL_DEL, c->fd, NULL);
	udsrpc_client_free(c->client);
	c->client = NULL;
	c->fd = -1;
	c->dead = true;
	c->lost = why;
	if (c->hold == HOLD_NONE) {
		W.counts.conns--;
	} else {
		W.counts.holding--;
		if (c->hold == HOLD_PINGED)
			W.hold_pending--;
	}
	c->inflight = 0;
	free(c->out);
	c->out = NULL;
	c->out_off = c->out_len = c->out_cap = 0;
}

/* ---- replies ------------------------------------------------------------ */

static void w_line(struct wconn *c, const char *line, size_t len, uint64_t now)
{
	const struct opts *o = W.o;
	struct reply r;
	const char *why;
	char ex[160];

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (reply_parse(line, len, &r, &why) < 0) {
		W.counts.err[WIRE_ERR_MALFORMED]++;
		w_note(WIRE_ERR_MALFORMED, "%s %u: malformed reply (%s): %s",
		       c->hold ? "hold connection" : "client", c->index, why,
		       w_excerpt(line, len, ex, sizeof(ex)));
		return;
	}
	if (r.kind == REPLY_NOTIFICATION) {
		W.counts.notifications++;
		return;
	}
	if (r.id_kind != REPLY_ID_INT) {
		if (r.id_kind == REPLY_ID_NULL && r.kind == REPLY_ERROR &&
		    r.code == W_SERVER_BUSY) {
			/* Counted once per connection: for a hold connection at the end. */
			if (!c->rejected && c->hold == HOLD_NONE) {
				W.counts.err[WIRE_ERR_REJECTED]++;
				w_note(WIRE_ERR_REJECTED, "client %u: rejected by the daemon: %s",
				       c->index, w_excerpt(line, len, ex, sizeof(ex)));
			}
			c->rejected = true;
			return;
		}
		enum wire_err kind = r.id_kind == REPLY_ID_NULL && r.kind == REPLY_ERROR
		                         ? WIRE_ERR_REPLY
		                         : WIRE_ERR_UNKNOWN_ID;
		W.counts.err[kind]++;
		w_note(kind, "%s %u: %s: %s", c->hold ? "hold connection" : "client", c->index,
		       kind == WIRE_ERR_REPLY ? "error reply without an id"
		                              : "reply with an id we never sent",
		       w_excerpt(line, len, ex, sizeof(ex)));
		return;
	}
	unsigned s = r.id ? (unsigned)((r.id - 1) % c->depth) : 0;
	if (r.id == 0 || c->slot_t[s] == 0 || c->slot_id[s] != r.id) {
		W.counts.err[WIRE_ERR_UNKNOWN_ID]++;
		w_note(WIRE_ERR_UNKNOWN_ID, "%s %u: reply to id %llu, which is not in flight: %s",
		       c->hold ? "hold connection" : "client", c->index, (unsigned long long)r.id,
		       w_excerpt(line, len, ex, sizeof(ex)));
		return;
	}
	uint64_t t0 = c->slot_t[s];
	c->slot_t[s] = 0;
	c->free_slot[c->nfree++] = s;
	c->inflight--;
	c->waiting_since = now;
	W.counts.answered++;
	if (c->hold != HOLD_NONE) {
		/* Any answer, even an error, shows the daemon kept the connection. */
		if (c->hold == HOLD_PINGED) {
			c->hold = HOLD_HELD;
			W.hold_pending--;
			W.counts.held++;
		}
		return;
	}
	bool measured = t0 >= W.t_measure;
	if (measured) {
		W.counts.requests++;
		hist_record(&W.hist, now - t0);
		W.counts.t_last = now;
	}
	if (r.kind == REPLY_RESULT) {
		if (o->check_echo && (r.result_len != o->params_len ||
		                      memcmp(r.result, o->params, o->params_len) != 0)) {
			W.counts.err[WIRE_ERR_REPLY]++;
			w_note(WIRE_ERR_REPLY,
			       "client %u: echo returned other params (%zu bytes, sent %zu)",
			       c->index, r.result_len, o->params_len);
		}
	} else if (o->expect_error && r.code == o->expect_code) {
		if (measured)
			W.counts.expected++;
	} else {
		W.counts.err[WIRE_ERR_REPLY]++;
		w_note(WIRE_ERR_REPLY, "client %u: error reply: %s", c->index,
		       w_excerpt(line, len, ex, sizeof(ex)));
	}
}

/* Every complete line in buf[0, len); the search for "\n" resumes at from. Returns bytes used. */
static size_t w_lines(struct wconn *c, const char *buf, size_t len, size_t from, uint64_t now)
{
	size_t start = 0;

	while (from < len) {
		const char *nl = memchr(buf + from, '\n', len - from);
		if (!nl)
			break;
		size_t end = (size_t)(nl - buf);
		w_line(c, buf + start, end - start, now);
		start = from = end + 1;
	}
	return start;
}

/*
 * One recv() and the lines it completed. Returns the byte count, 0 at end
 * of file, -EAGAIN when there was nothing, or -errno. Replies go to the
 * shared buffer unless a partial line is waiting in the connection's own.
 */
static ssize_t w_recv(struct wconn *c, int flags)
{
	bool carried = c->carry_len > 0;
	char *buf;
	size_t cap;

	if (carried) {
		if (!w_reserve(&c->carry, &c->carry_cap, c->carry_len + W_READ_MIN))
			return -ENOMEM;
		buf = c->carry + c->carry_len;
		cap = c->carry_cap - c->carry_len;
	} else {
		buf = W.rbuf;
		cap = W_RBUF;
	}
	ssize_t n = recv(c->fd, buf, cap, flags);
	if (n < 0)
		return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
	if (n == 0)
		return 0;
	uint64_t now = clock_now_ns();
	if (carried) {
		size_t scanned = c->carry_len;
		c->carry_len += (size_t)n;
		size_t used = w_lines(c, c->carry, c->carry_len, scanned, now);
		memmove(c->carry, c->carry + used, c->carry_len - used);
		c->carry_len -= used;
	} else {
		size_t used = w_lines(c, buf, (size_t)n, 0, now);
		size_t keep = (size_t)n - used;
		if (keep) {
			if (!w_reserve(&c->carry, &c->carry_cap, keep + W_READ_MIN))
				return -ENOMEM;
			memcpy(c->carry, buf + used, keep);
			c->carry_len = keep;
		}
	}
	if (c->carry_len > W_LINE_MAX)
		return -EMSGSIZE;
	return n;
}

/*
 * The connection ended under us (end of file, reset, a failed send).
 * Replies that arrived before the end are read first: a -32003 explains
 * the close, and answered requests are not lost ones.
 */
static void w_lost(struct wconn *c, const char *why, bool drain)
{
	char ex[160];

	if (c->dead)
		return;
	while (drain && w_recv(c, MSG_DONTWAIT) > 0)
		;
	if (c->carry_len) {
		W.counts.err[WIRE_ERR_MALFORMED]++;
		w_note(WIRE_ERR_MALFORMED, "%s %u: reply cut off by the end of the connection: %s",
		       c->hold ? "hold connection" : "client", c->index,
		       w_excerpt(c->carry, c->carry_len, ex, sizeof(ex)));
		c->carry_len = 0;
	}
	if (c->hold == HOLD_NONE && !c->rejected) {
		uint64_t now = clock_now_ns();
		if (c->inflight) {
			W.counts.err[WIRE_ERR_MISSING] += c->inflight;
			w_note(WIRE_ERR_MISSING,
			       "client %u: connection ended (%s) with %u request(s) unanswered",
			       c->index, why, c->inflight);
		} else if (w_may_send(c, now)) {
			W.counts.err[WIRE_ERR_CLOSED]++;
			w_note(WIRE_ERR_CLOSED, "client %u: the daemon ended the connection (%s)",
			       c->index, why);
		}
	}
	w_close(c, c->rejected ? "rejected by the daemon (-32003)" : "closed by the daemon");
}

/* ---- requests ----------------------------------------------------------- */

static void w_send(struct wconn *c, const char *buf, size_t len)
{
	ssize_t n = 0;

	/* Behind bytes still waiting, new ones queue: requests must stay whole and in order. */
	if (c->out_len == c->out_off) {
		n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				w_lost(c, strerror(errno), true);
				return;
			}
			n = 0;
		}
		if ((size_t)n == len)
			return;
		c->out_off = c->out_len = 0;
	}
	size_t rest = len - (size_t)n;
	if (!w_reserve(&c->out, &c->out_cap, c->out_len + rest)) {
		w_lost(c, "out of memory", false);
		return;
	}
	memcpy(c->out + c->out_len, buf + n, rest);
	c->out_len += rest;
	w_want_out(c, true);
}

static void w_flush(struct wconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			w_lost(c, strerror(errno), true);
			return;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	w_want_out(c, false);
}

static size_t w_format(char *p, uint64_t id, const char *tail, size_t tail_len)
{
	static const char pairs[] =
	    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	    "8081828384858687888990919293949596979899";
	char digits[24], *d = digits + sizeof(digits);

	/* Two digits per division: ids are formatted once per request. */
	while (id >= 100) {
		d -= 2;
		memcpy(d, pairs + 2 * (id % 100), 2);
		id /= 100;
	}
	if (id >= 10) {
		d -= 2;
		memcpy(d, pairs + 2 * id, 2);
	} else {
		*--d = (char)('0' + id);
	}
	size_t nd = (size_t)(digits + sizeof(digits) - d);
	memcpy(p, OPTS_REQ_HEAD, OPTS_REQ_HEAD_LEN);
	memcpy(p + OPTS_REQ_HEAD_LEN, d, nd);
	memcpy(p + OPTS_REQ_HEAD_LEN + nd, tail, tail_len);
	return OPTS_REQ_HEAD_LEN + nd + tail_len;
}

/* Take a free slot for a request sent now; returns its id. */
static uint64_t w_take_slot(struct wconn *c, uint64_t now)
{
	unsigned s = c->free_slot[--c->nfree];
	uint64_t id = c->slot_id[s] ? c->slot_id[s] + c->depth : s + 1;

	c->slot_id[s] = id;
	c->slot_t[s] = now;
	if (c->inflight++ == 0)
		c->waiting_since = now;
	return id;
}

/* Top the connection up to DEPTH in flight, in one send(). */
static void w_fill(struct wconn *c, uint64_t now)
{
	const struct opts *o = W.o;
	size_t len = 0, one = OPTS_REQ_HEAD_LEN + 20 + o->req_tail_len;

	while (c->inflight < c->depth && w_may_send(c, now)) {
		if (!w_reserve(&W.wbuf, &W.wcap, len + one))
			break;
		len += w_format(W.wbuf + len, w_take_slot(c, now), o->req_tail, o->req_tail_len);
		if (now >= W.t_measure && o->duration == 0)
			c->quota--;
		W.counts.sent++;
	}
	if (len)
		w_send(c, W.wbuf, len);
	if (c->inflight == 0 || c->dead)
		W.maybe_done = true;
}

static void w_read(struct wconn *c, int flags)
{
	ssize_t n = w_recv(c, flags);

	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		w_lost(c, n == 0 ? "end of file" : strerror((int)-n), false);
		return;
	}
	w_fill(c, clock_now_ns());
}

/* ---- the loop ----------------------------------------------------------- */

static void w_poll_epoll(void)
{
	struct epoll_event ev[W_EVENTS];
	int n = epoll_wait(W.ep, ev, W_EVENTS, (int)(W_TICK_NS / 1000000));

	for (int i = 0; i < n; i++) {
		struct wconn *c = ev[i].data.ptr;
		if (!c) {
			W.end_seen = true;
			epoll_ctl(W.ep, EPOLL_CTL_DEL, W.plan->end_fd, NULL);
			continue;
		}
		if (c->dead)
			continue;
		if (ev[i].events & EPOLLOUT)
			w_flush(c);
		if (!c->dead && (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			w_read(c, MSG_DONTWAIT);
	}
}

/* One connection: a blocking recv() bounded by SO_RCVTIMEO, poll() only while output waits. */
static void w_poll_single(struct wconn *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	if (c->dead) {
		poll(NULL, 0, (int)(W_TICK_NS / 1000000));
		return;
	}
	if (c->inflight && c->out_off == c->out_len) {
		w_read(c, 0);
		return;
	}
	if (c->out_off < c->out_len)
		p.events |= POLLOUT;
	if (poll(&p, 1, (int)(W_TICK_NS / 1000000)) <= 0)
		return;
	if (p.revents & POLLOUT)
		w_flush(c);
	if (!c->dead && (p.revents & (POLLIN | POLLHUP | POLLERR)))
		w_read(c, MSG_DONTWAIT);
}

/* Unanswered too long, or interrupted and the grace is over: what is in flight is lost. */
static void w_tick(uint64_t now)
{
	bool drained = W.t_interrupt && now - W.t_interrupt >= W_DRAIN_NS;

	for (unsigned i = 0; i < W.nload; i++) {
		struct wconn *c = &W.conns[i];
		if (c->dead || !c->inflight)
			continue;
		if (drained) {
			W.counts.err[WIRE_ERR_MISSING] += c->inflight;
			w_note(WIRE_ERR_MISSING,
			       "client %u: %u request(s) unanswered %llu s after the interrupt",
			       c->index, c->inflight, W_DRAIN_NS / 1000000000ull);
			w_close(c, "interrupted");
		} else if (now - c->waiting_since >= W.timeout_ns) {
			W.counts.err[WIRE_ERR_MISSING] += c->inflight;
			w_note(WIRE_ERR_MISSING,
			       "client %u: %u request(s) unanswered for %g s; giving up on the "
			       "connection",
			       c->index, c->inflight, W.o->timeout);
			w_close(c, "timed out");
		}
	}
	W.maybe_done = true;
	if (now - W.last_progress >= W_PROGRESS_NS)
		w_progress(now);
}

static bool w_load_finished(uint64_t now)
{
	for (unsigned i = 0; i < W.nload; i++) {
		const struct wconn *c = &W.conns[i];
		if (!c->dead && (c->inflight || c->out_off < c->out_len || w_may_send(c, now)))
			return false;
	}
	return true;
}

/* The hold is over: one ping per held connection; any answer proves the daemon kept it. */
static void w_hold_verify(uint64_t now)
{
	static const char tail[] = ",\"method\":\"ping\"}\n";
	char req[OPTS_REQ_HEAD_LEN + 24 + sizeof(tail)];

	for (unsigned i = W.nload; i < W.nconns; i++) {
		struct wconn *c = &W.conns[i];
		if (c->dead || c->rejected || c->hold != HOLD_OPEN)
			continue;
		size_t len = w_format(req, w_take_slot(c, now), tail, sizeof(tail) - 1);
		c->hold = HOLD_PINGED;
		W.hold_pending++;
		w_send(c, req, len);
	}
}

/* Every hold connection not proven kept is one error, with its reason. */
static void w_hold_account(void)
{
	for (unsigned i = W.nload; i < W.nconns; i++) {
		struct wconn *c = &W.conns[i];
		if (c->hold == HOLD_HELD || c->fd == -2)
			continue;
		W.counts.err[WIRE_ERR_HOLD]++;
		w_note(WIRE_ERR_HOLD, "hold connection %u: not held: %s", c->index,
		       c->rejected              ? "rejected by the daemon (-32003)"
		       : c->dead                ? c->lost
		       : c->hold == HOLD_PINGED ? "no answer to a ping at the end"
		                                : "the run ended before it was checked");
	}
}

/* ---- setup -------------------------------------------------------------- */

/*
 * udsrpc_client_connect, retried while the daemon's listen backlog is full.
 * The connection is checked with getpeername() and retried like EAGAIN if
 * it never connected. The default path (no -s) is resolved, and its daemon
 * checked, by the library.
 */
static int w_connect(uint64_t deadline, struct udsrpc_client **ret, char *err, size_t errlen)
{
	unsigned pause_us = 500;

	for (;;) {
		uint64_t now = clock_now_ns();
		int left = deadline > now ? (int)((deadline - now) / 1000000) : 0;
		int fd = udsrpc_client_connect(ret, W.o->socket, left, err, errlen);
		if (fd == 0) {
			struct sockaddr_un sa;
			socklen_t sl = sizeof(sa);
			fd = udsrpc_client_fd(*ret);
			if (getpeername(fd, (struct sockaddr *)&sa, &sl) == 0)
				return fd;
			udsrpc_client_free(*ret);
			snprintf(
			    err, errlen,
			    "cannot connect to %s: its listen backlog stayed full for %g s; is "
			    "udsrpcd accepting connections?",
			    W.o->socket_path, W.o->timeout);
			fd = -EAGAIN;
		}
		if (fd != -EAGAIN && fd != -ETIMEDOUT)
			return fd;
		now = clock_now_ns();
		if (now >= deadline || w_signalled)
			return -ETIMEDOUT;
		if (now - W.last_progress >= W_PROGRESS_NS)
			w_progress(now);
		usleep(pause_us);
		if (pause_us < 16000)
			pause_us *= 2;
	}
}

static bool w_conn_init(struct wconn *c, unsigned index, unsigned depth, bool hold)
{
	c->index = index;
	c->depth = depth;
	c->hold = hold ? HOLD_OPEN : HOLD_NONE;
	c->fd = -1;
	c->slot_id = calloc(depth, sizeof(*c->slot_id));
	c->slot_t = calloc(depth, sizeof(*c->slot_t));
	c->free_slot = malloc(depth * sizeof(*c->free_slot));
	if (!c->slot_id || !c->slot_t || !c->free_slot)
		return false;
	/* Popped from the end: slot 0 first, so ids go 1, 2, 3, ... */
	for (unsigned s = 0; s < depth; s++)
		c->free_slot[s] = depth - 1 - s;
	c->nfree = depth;
	return true;
}

static void w_connect_all(void)
{
	uint64_t deadline = clock_now_ns() + W.timeout_ns;
	char err[400];

	for (unsigned i = 0; i < W.nconns; i++) {
		struct wconn *c = &W.conns[i];
		uint64_t now = clock_now_ns();
		if (now - W.last_progress >= W_PROGRESS_NS)
			w_progress(now);
		int fd = w_signalled ? -EINTR : w_connect(deadline, &c->client, err, sizeof(err));
		if (fd >= 0) {
			c->fd = fd;
			if (c->hold == HOLD_NONE)
				W.counts.conns++;
			else
				W.counts.holding++;
			continue;
		}
		if (fd == -EINTR)
			snprintf(err, sizeof(err), "interrupted before it connected");
		c->dead = true;
		c->lost = "could not connect";
		if (c->hold == HOLD_NONE) {
			W.counts.err[WIRE_ERR_CONNECT]++;
			w_note(WIRE_ERR_CONNECT, "client %u: %s", c->index, err);
		} else {
			c->fd = -2; /* counted now, not again at the end */
			W.counts.err[WIRE_ERR_HOLD]++;
			w_note(WIRE_ERR_HOLD, "hold connection %u: %s", c->index, err);
		}
	}
}

static void w_setup(const struct opts *o, const struct worker_plan *p)
{
	struct sigaction sa = {.sa_handler = w_on_signal}; /* no SA_RESTART: waits end early */

	/* Never outlive the parent: an orphan would keep hammering the daemon. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != p->parent)
		_exit(OPTS_EXIT_ERRORS);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	W.o = o;
	W.plan = p;
	W.ep = -1;
	W.timeout_ns = (uint64_t)(o->timeout * 1e9);
	W.nload = p->clients;
	W.nconns = p->clients + p->holds;
	W.maybe_done = true;
	hist_init(&W.hist);
	W.conns = calloc(W.nconns ? W.nconns : 1, sizeof(*W.conns));
	W.rbuf = malloc(W_RBUF);
	if (!W.conns || !W.rbuf)
		_exit(OPTS_EXIT_ERRORS);
	for (unsigned i = 0; i < W.nconns; i++) {
		bool hold = i >= W.nload;
		if (!w_conn_init(&W.conns[i],
		                 hold ? p->first_hold + i - W.nload : p->first_client + i,
		                 hold ? 1 : o->depth, hold))
			_exit(OPTS_EXIT_ERRORS);
		/* -n: each client its share, the remainder to the first ones. */
		if (!hold && o->duration == 0) {
			unsigned g = p->first_client + i;
			W.conns[i].quota =
			    o->requests / o->clients + (g < o->requests % o->clients ? 1 : 0);
		}
	}
}

_Noreturn void worker_main(const struct opts *o, const struct worker_plan *p)
{
	struct timeval rcvtimeo = {.tv_usec = (suseconds_t)(W_TICK_NS / 1000)};
	uint64_t now, verify_deadline = 0;
	bool load_done = false, verifying = false;
	char go;

	w_setup(o, p);
	w_connect_all();
	wire_send(p->report_fd, WIRE_READY, &W.counts, sizeof(W.counts));
	while (read(p->go_fd, &go, 1) < 0 && errno == EINTR && !w_signalled)
		;
	close(p->go_fd);

	now = clock_now_ns();
	W.t_measure = now + (uint64_t)(o->warmup * 1e9);
	W.t_stop = o->duration > 0 ? W.t_measure + (uint64_t)(o->duration * 1e9) : UINT64_MAX;
	W.counts.t_measure = W.t_measure;
	W.last_progress = now;
	if (W.nconns == 1 && W.nload == 1 && !W.conns[0].dead) {
		setsockopt(W.conns[0].fd, SOL_SOCKET, SO_RCVTIMEO, &rcvtimeo, sizeof(rcvtimeo));
	} else {
		W.ep = epoll_create1(EPOLL_CLOEXEC);
		if (W.ep < 0)
			_exit(OPTS_EXIT_ERRORS);
		for (unsigned i = 0; i < W.nconns; i++) {
			struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &W.conns[i]};
			if (!W.conns[i].dead)
				epoll_ctl(W.ep, EPOLL_CTL_ADD, W.conns[i].fd, &ev);
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		if (W.nconns > W.nload)
			epoll_ctl(W.ep, EPOLL_CTL_ADD, p->end_fd, &ev);
	}
	for (unsigned i = 0; i < W.nload; i++)
		if (!W.conns[i].dead)
			w_fill(&W.conns[i], now);

	for (uint64_t last_tick = now;;) {
		now = clock_now_ns();
		if (w_signalled && !W.t_interrupt)
			W.t_interrupt = now;
		if (now - last_tick >= W_TICK_NS) {
			last_tick = now;
			w_tick(now);
		}
		if (!load_done && W.maybe_done) {
			W.maybe_done = false;
			if (w_load_finished(now)) {
				load_done = true;
				wire_send(p->report_fd, WIRE_LOAD_DONE, NULL, 0);
			}
		}
		if (load_done) {
			if (W.nconns == W.nload)
				break;
			if (!verifying && (W.end_seen || W.t_interrupt)) {
				verifying = true;
				verify_deadline = now + (W.t_interrupt ? W_DRAIN_NS : W.timeout_ns);
				w_hold_verify(now);
			}
			if (verifying && (W.hold_pending == 0 || now >= verify_deadline))
				break;
		}
		if (W.ep >= 0)
			w_poll_epoll();
		else
			w_poll_single(&W.conns[0]);
	}

	w_hold_account();
	W.counts.t_end = clock_now_ns();
	static struct wire_final fin;
	fin.counts = W.counts;
	fin.latency_ns = W.hist;
	wire_send(p->report_fd, WIRE_FINAL, &fin, sizeof(fin));
	_exit(0);
}
