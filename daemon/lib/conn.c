/*
 * conn.c — a client connection. Each event runs the same steps in the same
 * order (read, frame and dispatch, write, re-arm, maybe close), sd-varlink
 * style, so that every state change is handled in one place.
 *
 * Input is not copied on the way in: a read lands in one buffer shared by
 * all connections and its complete lines are parsed where they lie; only
 * an unfinished line (or lines held back by backpressure) is copied into
 * the connection. Replies go to an output buffer that exists only while
 * something is owed, so an idle connection holds no buffer at all (Redis
 * and the yardstick's ceiling server do the same).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "broker.h"
#include "call.h"
#include "clock.h"
#include "conn.h"
#include "events.h"
#include "fanout.h"
#include "log.h"
#include "server.h"
#include "xthread.h"

/* One read at most: large enough that a 64 KiB request usually arrives whole. */
#define CONN_READ_CHUNK (256 * 1024)
/* Output buffers kept for reuse (srv->spare_out): a ping-pong client gets and gives one back per request. */
#define CONN_SPARE_OUT (sizeof(((struct udsrpc_server *)0)->spare_out) / sizeof(struct evbuffer *))

enum { TIMER_NONE, TIMER_PARTIAL, TIMER_IDLE, TIMER_OVERFLOW };

/*
 * Connections read in this turn of the loop, whose writes wait for its end
 * (Redis writes in beforeSleep the same way): every readable connection is
 * read and handled first, then all replies go out, so a client waiting on
 * several of them is woken once per turn, not once per reply. Measured
 * side by side: 3-5% less CPU per request at 50 clients, 8-11% at depth 32
 * (and a fifth more throughput there). A connection alone in its turn is
 * stepped at once, so one busy client pays no extra callback. The event is
 * an internal one, activated after the reads of the turn and so run after
 * them; each queued connection is held until its step has run. The queue,
 * the shared read buffer and the spare output buffers are the server's:
 * one loop thread uses them.
 */

static void conn_on_event(evutil_socket_t fd, short what, void *arg);
static void conn_step(struct conn *c);
static bool conn_flush(struct conn *c);
static void conn_arm(struct conn *c);

static size_t conn_out_len(const struct conn *c)
{
	return c->out ? evbuffer_get_length(c->out) : 0;
}

/* The output buffer, for whatever is about to be written to it; false on ENOMEM. */
static bool conn_out(struct conn *c)
{
	struct udsrpc_server *srv = c->srv;

	if (!c->out) {
		c->out = srv->nspare_out ? srv->spare_out[--srv->nspare_out] : evbuffer_new();
		c->rpc.out = c->out;
	}
	return c->out != NULL;
}

/* Nothing owed and nothing that could still arrive for rpc to write: give the buffer back. */
static void conn_out_done(struct conn *c)
{
	/* The flags first: with a deferred call pending (a durable write) the
	 * buffer's length is not looked up. */
	if (!c->out || c->processing || c->rpc.deferred || rpc_session_busy(&c->rpc) ||
	    evbuffer_get_length(c->out))
		return;
	if (c->srv->nspare_out < CONN_SPARE_OUT)
		c->srv->spare_out[c->srv->nspare_out++] = c->out;
	else
		evbuffer_free(c->out);
	c->out = NULL;
	c->rpc.out = NULL;
}

static bool conn_step_queue(struct conn *c);

/*
 * One uid's connections together hold at most limits_uid_output of unread
 * output (root exempt): 40 connections each sending a batch of 1,024
 * rpc.discover and never reading would otherwise hold 40 capped replies.
 * Over it, its connections read no more requests; at half of it, those
 * paused for it are woken.
 */
static bool conn_uid_full(const struct conn *c, bool resuming)
{
	uint64_t lim = limits_uid_output(&c->srv->limits);

	return c->peer.uid != 0 && c->uid && c->uid->out > (resuming ? lim / 2 : lim - 1);
}

static void conn_uid_wake(struct udsrpc_server *srv, struct uid_count *u)
{
	struct conn *c;

	TAILQ_FOREACH(c, &srv->conns, link) {
		if (c->uid != u || !c->uid_waiting)
			continue;
		c->uid_waiting = false;
		u->waiting--;
		if (!conn_step_queue(c))
			log_error(srv, "connection %llu: cannot resume: out of memory", c->peer.id);
	}
}

static void conn_uid_less(struct conn *c, struct uid_count *u)
{
	if (u->out <= limits_uid_output(&c->srv->limits) / 2)
		conn_uid_wake(c->srv, u);
}

/*
 * Bring the uid's count of unread output up to date with this connection's.
 * Twice per delivered event (held, then sent): inline, the waking apart.
 */
static inline void conn_count_out(struct conn *c)
{
	struct uid_count *u = c->uid;
	size_t now = c->closed ? 0 : conn_out_len(c) + c->pend_bytes;

	if (!u || now == c->out_counted)
		return;
	u->out += now;
	u->out -= c->out_counted;
	c->out_counted = now;
	if (u->waiting)
		conn_uid_less(c, u);
}

void conn_line_unref(struct conn_line *sl)
{
	if (sl && --sl->refs == 0)
		free(sl);
}

/* Let go of the events held for the end of the turn. */
static void conn_pend_drop(struct conn *c)
{
	for (unsigned i = 0; i < c->npend; i++)
		conn_line_unref(c->pend[i]);
	c->npend = 0;
	c->pend_bytes = 0;
}

static void conn_in_free(struct conn *c)
{
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
}

/* Keep room for n more bytes of input; false on ENOMEM. */
static bool conn_in_reserve(struct conn *c, size_t n)
{
	if (c->in_cap - c->in_len >= n)
		return true;
	size_t cap = c->in_cap * 2 > c->in_len + n ? c->in_cap * 2 : c->in_len + n;
	char *p = realloc(c->in, cap);
	if (!p)
		return false;
	c->in = p;
	c->in_cap = cap;
	return true;
}

static void conn_free(struct conn *c)
{
	struct udsrpc_server *srv = c->srv;

	conn_in_free(c);
	if (c->out)
		evbuffer_free(c->out);
	rpc_session_free(&c->rpc);
	peer_clear(&c->peer);
	free(c->topics.high);
	free(c->sub_prefix);
	free(c->see_plan);
	free(c);
	/* The last one out empties the caches, so that a stopped server leaves nothing behind. */
	if (srv->nconns == 0) {
		while (srv->nspare_out)
			evbuffer_free(srv->spare_out[--srv->nspare_out]);
		free(srv->rbuf);
		srv->rbuf = NULL;
	}
}

static void conn_maybe_free(struct conn *c)
{
	if (c->closed && c->in_callback == 0 && c->rpc.deferred == 0)
		conn_free(c);
}

void conn_hold(struct conn *c)
{
	c->in_callback++;
}

void conn_release(struct conn *c)
{
	/* conn_push does not write while c is held (in_callback): if no
	 * callback of c's own is on the stack to flush after us, the last
	 * holder must, or an event waits for the peer's next request. Still
	 * held here, so a write error that closes c cannot free it under us. */
	if (c->in_callback == 1 && !c->closed && conn_flush(c))
		conn_arm(c);
	c->in_callback--;
	conn_maybe_free(c);
}

static void conn_on_output(struct rpc_session *s)
{
	struct conn *c = s->owner;
	c->in_callback++;
	conn_step(c);
	c->in_callback--;
	conn_maybe_free(c);
}

/*
 * A reply with nothing owed before it, outside the turn's reads (a deferred
 * answer): written at once from where rpc made it, no output buffer on the
 * way; the step on_output runs next finds nothing left. Inside the reads
 * replies wait for the turn's end (conn_step_later), one write for all of a
 * connection's. What the socket does not take, or a write error, is left to
 * that step's flush, which closes c where closing is safe.
 */
static size_t conn_write_now(struct rpc_session *s, const char *p, size_t n)
{
	struct conn *c = s->owner;
	ssize_t w;

	if (c->processing || c->closed || c->overflowed || c->direct || c->npend || conn_out_len(c))
		return 0;
	w = write(c->fd, p, n);
	if (w <= 0)
		return 0;
	c->srv->stats.bytes_out += (uint64_t)w;
	return (size_t)w;
}

static void conn_on_release(struct rpc_session *s)
{
	conn_maybe_free(s->owner);
}

struct conn *conn_new(struct udsrpc_server *srv, int fd, struct udsrpc_peer *peer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		peer_clear(peer);
		return NULL;
	}
	c->srv = srv;
	c->fd = fd;
	c->peer = *peer;
	memset(peer, 0, sizeof(*peer));
	/* The identity lives as long as the connection; its exe path comes in
	 * a PATH_MAX buffer, most of it empty: 4 KiB per idle peer. Keep only
	 * the path. */
	if (c->peer.exe) {
		char *exe = strdup(c->peer.exe);
		if (exe) {
			free(c->peer.exe);
			c->peer.exe = exe;
		}
	}
	clock_gettime(CLOCK_REALTIME, &c->connected);
	framing_init(&c->framing, srv->limits.max_message_bytes);
	rpc_session_init(&c->rpc, srv, &c->peer, NULL, c);
	c->rpc.on_output = conn_on_output;
	c->rpc.write_now = conn_write_now;
	c->rpc.on_release = conn_on_release;
	TAILQ_INSERT_TAIL(&srv->conns, c, link);
	srv->nconns++;
	stats_conn_open(&srv->stats);
	c->uid = server_uid_adjust(srv, c->peer.uid, +1);
	log_debug(srv, "connection %llu from uid %u pid %d", c->peer.id, (unsigned)c->peer.uid,
		  (int)c->peer.pid);
	events_peer(srv, &c->peer, "connect");
	c->in_callback++;
	conn_step(c);
	c->in_callback--;
	return c;
}

/* No more writes from another thread; what it sent is counted, and the rest of a short send queued. */
static void conn_direct_settle(struct conn *c)
{
	struct deferred *d = c->direct;

	c->direct = NULL;
	c->srv->stats.bytes_out += call_direct_settle(d, c->closed || !conn_out(c) ? NULL : c->out);
	conn_count_out(c);
}

void conn_close(struct conn *c, const char *why)
{
	struct udsrpc_server *srv = c->srv;

	if (c->closed)
		return;
	c->closed = true;
	if (c->armed)
		event_del(&c->ev);
	c->armed = 0;
	if (c->direct)
		conn_direct_settle(c); /* so another thread never writes to a reused fd */
	close(c->fd);
	c->fd = -1;
	conn_pend_drop(c);
	events_unsubscribe_all(c);
	TAILQ_REMOVE(&srv->conns, c, link);
	srv->nconns--;
	stats_conn_close(&srv->stats);
	if (c->uid_waiting) {
		c->uid_waiting = false;
		c->uid->waiting--;
	}
	conn_count_out(c); /* its output is dropped: that may wake its uid's others */
	c->uid = NULL;
	server_uid_adjust(srv, c->peer.uid, -1);
	if (why)
		log_debug(srv, "connection %llu closed: %s", c->peer.id, why);
	c->in_callback++;
	events_peer(srv, &c->peer, "disconnect");
	rpc_session_detach(&c->rpc);
	call_session_gone(&c->rpc);
	broker_session_gone(&c->rpc);
	if (srv->on_disconnect)
		srv->on_disconnect(srv, &c->peer, c->service_data, srv->userdata);
	c->service_data = NULL;
	c->in_callback--;
	server_conn_closed(srv);
	conn_maybe_free(c);
}

/*
 * Frame and dispatch the requests in buf until none is left or output is
 * full; returns the bytes used (the rest must be kept for later).
 */
static size_t conn_feed(struct conn *c, const char *buf, size_t len)
{
	const struct limits *lim = &c->srv->limits;
	const char *line;
	size_t off = 0, used, n;
	bool framed = false;

	while (!c->closed && !c->overflowed && (off < len || c->eof)) {
		conn_count_out(c);
		if (conn_out_len(c) >= lim->max_output_bytes || conn_uid_full(c, false)) {
			c->paused = true;
			break;
		}
		enum framing_event e =
			framing_scan(&c->framing, buf + off, len - off, c->eof, &used, &line, &n);
		off += used;
		if (e == FRAMING_NONE)
			break;
		framed = true;
		if (e == FRAMING_BLANK)
			continue;
		if (!conn_out(c)) {
			conn_close(c, "out of memory");
			break;
		}
		if (e == FRAMING_OVERSIZE)
			rpc_reply_unsolicited(&c->rpc, UDSRPC_REQUEST_TOO_LARGE,
					      json_pack("{s:I}", "limit",
							(json_int_t)lim->max_message_bytes));
		else
			rpc_handle_line(&c->rpc, line, n);
	}
	/*
	 * partial_timeout_ms times the line now being started, not the stream:
	 * a client pipelining for longer than the timeout, whose reads each end
	 * inside a line, never has an empty buffer, yet each line completes.
	 */
	if (framed)
		c->partial_since_ms = 0;
	/* Before the next connection of the uid reads in this turn. */
	conn_count_out(c);
	return off;
}

/*
 * Handle what the connection kept. Not re-entered: a deferred call that
 * completes while a handler of this connection runs only writes, and the
 * outer pass handles the rest.
 */
static void conn_process(struct conn *c)
{
	if (c->processing || (c->in_len == 0 && !(c->eof && c->framing.discarding)))
		return;
	c->processing = true;
	size_t used = conn_feed(c, c->in, c->in_len);
	c->processing = false;
	if (used == c->in_len) {
		conn_in_free(c);
	} else if (used > 0) {
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
	}
}

bool conn_direct_ready(const struct conn *c, const struct rpc_session *s)
{
	return s == &c->rpc && !c->closed && !c->overflowed && !c->direct && c->topics.count == 0 &&
	       conn_out_len(c) == 0 && c->npend == 0;
}

void conn_direct_arm(struct conn *c, struct deferred *d)
{
	d->direct_fd = c->fd;
	c->direct = d;
}

void conn_direct_done(struct conn *c, struct deferred *d)
{
	if (c->direct == d)
		conn_direct_settle(c);
}

/*
 * The events held for the end of the turn, in one write (writev when
 * several); what the socket did not take goes in front of `out`
 * (conn_pend_wrote). False if the peer is gone (closed).
 */
static bool conn_pend_write(struct conn *c)
{
	struct iovec iov[CONN_PEND];
	unsigned n = c->npend;
	ssize_t w;

	for (unsigned i = 0; i < n; i++)
		iov[i] = (struct iovec){.iov_base = c->pend[i]->data, .iov_len = c->pend[i]->len};
	w = n == 1 ? write(c->fd, iov[0].iov_base, iov[0].iov_len) : writev(c->fd, iov, (int)n);
	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		conn_close(c, strerror(errno));
		return false;
	}
	if (!conn_pend_wrote(c, w > 0 ? (size_t)w : 0)) {
		conn_close(c, "out of memory");
		return false;
	}
	return true;
}

bool conn_pend_wrote(struct conn *c, size_t done)
{
	c->srv->stats.bytes_out += done;
	if (done < c->pend_bytes) {
		if (!conn_out(c))
			return false;
		/* From the last line back, each prepended: the order stays. */
		size_t off = c->pend_bytes;
		for (unsigned i = c->npend; i-- > 0;) {
			size_t l = c->pend[i]->len;
			off -= l;
			if (off + l <= done)
				break;
			size_t skip = done > off ? done - off : 0;
			evbuffer_prepend(c->out, c->pend[i]->data + skip, l - skip);
		}
	}
	conn_pend_drop(c);
	return true;
}

/* Write what is owed; false if the peer is gone. */
static bool conn_flush(struct conn *c)
{
	if (c->npend && !conn_pend_write(c))
		return false;

	size_t left = conn_out_len(c);

	if (left > 0) {
		ssize_t n;

		if (c->direct) {
			/* Another thread may be about to write to the socket too. */
			conn_direct_settle(c);
			left = conn_out_len(c);
		}
		/* The usual case, one contiguous run of replies: a plain write(),
		 * measurably cheaper in the kernel than evbuffer_write's writev(). */
		if (evbuffer_get_contiguous_space(c->out) == left) {
			n = write(c->fd, evbuffer_pullup(c->out, -1), left);
			if (n > 0)
				evbuffer_drain(c->out, (size_t)n);
		} else {
			n = evbuffer_write(c->out, c->fd);
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_close(c, strerror(errno));
			return false;
		}
		if (n > 0)
			c->srv->stats.bytes_out += (uint64_t)n;
	}
	conn_out_done(c);
	conn_count_out(c);
	return true;
}

/*
 * Read interest and the one timer follow from the state; write interest
 * from the output still owed. The event is re-assigned only when the
 * directions change (rare: a full socket, a pause, the end of input).
 */
static void conn_arm(struct conn *c)
{
	struct udsrpc_server *srv = c->srv;
	const struct limits *lim = &srv->limits;
	bool want = !c->eof && !c->paused && !c->overflowed && !srv->shutting_down;
	bool partial = c->in_len > 0 || c->framing.discarding;
	short dirs = (short)((want ? EV_READ : 0) | (conn_out_len(c) ? EV_WRITE : 0));
	unsigned char timer = TIMER_NONE;
	struct timeval tv;
	uint64_t ms = 0;

	if (!partial)
		c->partial_since_ms = 0;
	else if (c->partial_since_ms == 0)
		c->partial_since_ms = clock_now_ms();
	if (want && partial && lim->partial_timeout_ms) {
		/* Re-armed on every read with what is left: a peer trickling one
		 * byte at a time must not push the deadline out. */
		uint64_t spent = clock_now_ms() - c->partial_since_ms;
		timer = TIMER_PARTIAL;
		ms = spent >= lim->partial_timeout_ms ? 1 : lim->partial_timeout_ms - spent;
	} else if (c->overflowed && lim->partial_timeout_ms) {
		/* The notice gets partial_timeout_ms to go out, like any started line. */
		uint64_t spent = clock_now_ms() - c->overflow_since_ms;
		timer = TIMER_OVERFLOW;
		ms = spent >= lim->partial_timeout_ms ? 1 : lim->partial_timeout_ms - spent;
	} else if (want && lim->idle_timeout_ms && c->topics.count == 0 &&
		   !rpc_session_busy(&c->rpc)) {
		timer = TIMER_IDLE;
		ms = lim->idle_timeout_ms;
	}
	if (dirs != c->armed) {
		if (c->armed)
			event_del(&c->ev);
		c->armed = 0;
		if (!dirs)
			return;
		event_assign(&c->ev, srv->base, c->fd, (short)(dirs | EV_PERSIST), conn_on_event, c);
	} else if (!dirs || (timer == c->timer && timer != TIMER_PARTIAL)) {
		/* A persistent event's timeout restarts on every activation, which
		 * is exactly an idle timer: re-add only when the kind changes. */
		return;
	}
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	event_add(&c->ev, timer == TIMER_NONE ? NULL : &tv);
	c->armed = dirs;
	c->timer = timer;
}

/* The fixed sequence after anything happened on the connection. */
static void conn_step(struct conn *c)
{
	const struct limits *lim = &c->srv->limits;

	if (c->closed)
		return;
	conn_process(c);
	if (c->closed || !conn_flush(c))
		return;
	/* Inside its own handler (a deferred call completed): the outer pass does the rest. */
	if (c->processing)
		return;
	/* A replay goes on as the output drains, at the same low-water mark:
	 * each round fills the output to that mark (or catches up). */
	while (c->replaying && conn_out_len(c) <= lim->max_output_bytes / 2) {
		events_replay_more(c);
		if (c->closed || !conn_flush(c))
			return;
	}
	/* Low-water mark at half the cap, so a slow reader is not toggled per reply. */
	if (c->paused && conn_out_len(c) <= lim->max_output_bytes / 2 && conn_uid_full(c, true)) {
		if (!c->uid_waiting) {
			c->uid_waiting = true;
			c->uid->waiting++;
		}
	} else if (c->paused && conn_out_len(c) <= lim->max_output_bytes / 2) {
		c->paused = false;
		/* The peer could not finish its line while we did not read it. */
		c->partial_since_ms = 0;
		conn_process(c);
		if (c->closed || !conn_flush(c))
			return;
	}
	/* Cut off for not reading its events: closed once the notice is out. */
	if (c->overflowed && conn_out_len(c) == 0) {
		conn_close(c, "event output overflow");
		return;
	}
	/* Done: the peer will send no more (or we are stopping) and all it is owed is sent. */
	if ((c->eof || c->srv->shutting_down) && !c->paused && !c->replaying && conn_out_len(c) == 0 &&
	    !rpc_session_busy(&c->rpc) && (c->srv->shutting_down || c->in_len == 0)) {
		conn_close(c, c->eof ? "peer finished" : "shutting down");
		return;
	}
	conn_arm(c);
}

static void conn_on_timeout(struct conn *c)
{
	const struct limits *lim = &c->srv->limits;

	if (c->timer == TIMER_PARTIAL &&
	    clock_now_ms() - c->partial_since_ms >= lim->partial_timeout_ms) {
		if (server_uid_may_log(c->srv, c->peer.uid, UDSRPC_LOG_INFO))
			log_info(c->srv,
				 "connection %llu (uid %u pid %d): incomplete request for %llu ms, "
				 "closing",
				 c->peer.id, (unsigned)c->peer.uid, (int)c->peer.pid,
				 (unsigned long long)lim->partial_timeout_ms);
		conn_close(c, "partial_timeout_ms");
	} else if (c->timer == TIMER_IDLE) {
		conn_close(c, "idle_timeout_ms");
	} else if (c->timer == TIMER_OVERFLOW &&
		   clock_now_ms() - c->overflow_since_ms >= lim->partial_timeout_ms) {
		conn_close(c, "event output overflow: notice not read in partial_timeout_ms");
	} else {
		c->timer = TIMER_NONE; /* stale: re-arm */
		conn_arm(c);
	}
}

static void conn_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct udsrpc_server *srv = arg;
	struct conn_list turn = TAILQ_HEAD_INITIALIZER(turn);
	struct conn *c;

	/* What is queued while this runs waits for the next turn. */
	TAILQ_CONCAT(&turn, &srv->flushq, flush_link);
	srv->turn++;
	srv->turn_armed = false;
	srv->flushing = true;
	fanout_write(srv, &turn); /* the turn's held events: one submission for all */
	while ((c = TAILQ_FIRST(&turn))) {
		TAILQ_REMOVE(&turn, c, flush_link);
		c->flush_queued = false;
		/*
		 * A subscriber at rest whose events fanout_write sent whole: no
		 * output, input or state change waits, so the step would find
		 * nothing to do (about a fifth of the daemon's instructions per
		 * delivered event in tests/bench/fanout.sh); the uid's count is
		 * all that changed.
		 */
		if (c->events_only && !c->npend && conn_out_len(c) == 0 && !c->closed && !c->eof &&
		    !c->paused && !c->replaying && !c->overflowed)
			conn_count_out(c);
		else
			conn_step(c);
		c->in_callback--;
		conn_maybe_free(c);
	}
	srv->flushing = false;
	if (!TAILQ_EMPTY(&srv->flushq))
		event_active(srv->flush_ev, 0, 0);
}

/* The end-of-turn callback, made on first use; false on ENOMEM. */
static bool conn_flush_ev(struct udsrpc_server *srv)
{
	return srv->flush_ev ||
	       (srv->flush_ev = event_new(srv->base, -1, 0, conn_on_flush, srv)) != NULL;
}

/* Run c's step at the end of this turn of the loop (held until then); false on ENOMEM. */
static bool conn_step_queue(struct conn *c)
{
	struct udsrpc_server *srv = c->srv;

	c->events_only = false; /* conn_push_held says otherwise */
	if (c->flush_queued)
		return true;
	if (!conn_flush_ev(srv))
		return false;
	if (TAILQ_EMPTY(&srv->flushq) && !srv->flushing)
		event_active(srv->flush_ev, 0, 0);
	c->in_callback++;
	c->flush_queued = true;
	TAILQ_INSERT_TAIL(&srv->flushq, c, flush_link);
	return true;
}

/* The same after a read; false if it must run now. */
static bool conn_step_later(struct conn *c)
{
	struct udsrpc_server *srv = c->srv;

	if (c->flush_queued) {
		c->events_only = false;
		return true;
	}
	/* Nothing to write (its calls deferred, say a durable write each): no
	 * write to batch, so the step runs now, without a callback of its own. */
	if (conn_out_len(c) == 0 && c->npend == 0)
		return false;
	/* Alone in this turn (one busy client): nothing to wait for, so no extra callback. */
	if (TAILQ_EMPTY(&srv->flushq) && !srv->flushing &&
	    event_base_get_num_events(srv->base, EVENT_BASE_COUNT_ACTIVE) == 0)
		return false;
	return conn_step_queue(c);
}

/* The peer closed its socket, not only its sending side (AF_UNIX reports POLLHUP then). */
static bool conn_peer_gone(const struct conn *c)
{
	struct pollfd p = {.fd = c->fd, .events = 0};
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/*
 * One read. Into the connection's own buffer when it holds an unfinished
 * line (the rest of it follows), else into the shared one, whose complete
 * lines are handled at once and whose leftovers are copied over.
 */
static void conn_read(struct conn *c)
{
	size_t budget;
	bool own;
	ssize_t n;

	/* A change a direct reply announced is applied before anything it caused is read. */
	xthread_before_read(c->srv);
	if (c->closed)
		return;
	if (!c->srv->rbuf && !(c->srv->rbuf = malloc(CONN_READ_CHUNK))) {
		conn_close(c, "out of memory");
		return;
	}
	budget = framing_budget(&c->framing, c->in_len, CONN_READ_CHUNK);
	own = c->in_len > 0;
	if (own) {
		/* Grow with the line, not by a full chunk per unfinished line. */
		if (budget > c->in_len && c->in_len >= 65536)
			budget = c->in_len;
		if (!conn_in_reserve(c, budget)) {
			conn_close(c, "out of memory");
			return;
		}
		n = read(c->fd, c->in + c->in_len, budget);
	} else {
		n = read(c->fd, c->srv->rbuf, budget);
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c, strerror(errno));
		return;
	}
	if (n == 0) {
		c->eof = true;
		/*
		 * A half-close (socat, nc -N) still gets every answer owed. A
		 * peer that closed outright makes the socket hang up as well:
		 * then nobody is left to answer, and deferred calls are told.
		 */
		if (c->rpc.deferred && conn_peer_gone(c)) {
			conn_close(c, "peer gone");
			return;
		}
	} else if (own) {
		c->srv->stats.bytes_in += (uint64_t)n;
		c->in_len += (size_t)n;
	} else {
		c->srv->stats.bytes_in += (uint64_t)n;
		c->processing = true;
		size_t used = conn_feed(c, c->srv->rbuf, (size_t)n);
		c->processing = false;
		if (used < (size_t)n && !c->closed) {
			if (!conn_in_reserve(c, (size_t)n - used)) {
				conn_close(c, "out of memory");
				return;
			}
			memcpy(c->in, c->srv->rbuf + used, (size_t)n - used);
			c->in_len = (size_t)n - used;
		}
	}
	if (c->eof || c->closed || !conn_step_later(c))
		conn_step(c);
}

static void conn_on_event(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	c->in_callback++;
	if (what & EV_TIMEOUT)
		conn_on_timeout(c);
	else if (what & EV_READ)
		conn_read(c); /* its step writes too */
	else
		conn_step(c);
	c->in_callback--;
	conn_maybe_free(c);
}

void conn_drop_queue(struct udsrpc_server *srv)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&srv->flushq))) {
		TAILQ_REMOVE(&srv->flushq, c, flush_link);
		c->flush_queued = false;
		c->in_callback--;
		conn_maybe_free(c);
	}
}

void conn_shutdown(struct conn *c)
{
	c->in_callback++;
	conn_step(c);
	c->in_callback--;
	conn_maybe_free(c);
}

size_t conn_unsent(const struct conn *c)
{
	return conn_out_len(c) + c->pend_bytes;
}

/*
 * A subscriber that does not read its events (udsrpc(7) "EVENTS"): no more
 * events or requests for it; what is queued goes out whole (a line already
 * half written is finished, never cut), then the overflow notice with the
 * last revision all of whose events it was sent, then it is closed
 * (conn_step), or after partial_timeout_ms if it does not read even that.
 */
void conn_overflow(struct conn *c)
{
	char notice[160];
	int n;
	/* Cut while a revision's events are pushed (one per key, all in this
	 * pass): the rest of them are refused, so the notice names the one
	 * before it, and a resume after that replays it whole (PROTOCOL §8). */
	uint64_t cut = c->srv->pushing_rev;
	uint64_t rev = cut && cut <= c->sent_rev ? cut - 1 : c->sent_rev;

	if (server_uid_may_log(c->srv, c->peer.uid, UDSRPC_LOG_WARNING))
		log_warning(c->srv,
			    "connection %llu (uid %u pid %d): events not read, unread output "
			    "over max_output_bytes %llu; disconnecting",
			    c->peer.id, (unsigned)c->peer.uid, (int)c->peer.pid,
			    (unsigned long long)c->srv->limits.max_output_bytes);
	c->overflowed = true;
	c->overflow_since_ms = clock_now_ms();
	events_unsubscribe_all(c);
	if (c->srv->history_fn)
		n = snprintf(notice, sizeof(notice),
			     "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"topic\":"
			     "\"daemon\",\"type\":\"overflow\",\"revision\":%llu}}\n",
			     (unsigned long long)rev);
	else
		n = snprintf(notice, sizeof(notice),
			     "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"topic\":"
			     "\"daemon\",\"type\":\"overflow\"}}\n");
	if (!conn_out(c) || evbuffer_add(c->out, notice, (size_t)n) < 0) {
		conn_close(c, "event output overflow");
		return;
	}
	conn_count_out(c);
	/* Stepped at the end of this turn at the latest: write, re-arm, or close. */
	if (!conn_step_queue(c))
		conn_close(c, "event output overflow");
}

/*
 * An event was just written straight to c: note the turn, and make sure
 * the turn's end is marked (conn_on_flush counts it), so that another
 * event for c before then is batched (conn_push_line). Out of memory for
 * the callback: nothing is batched.
 */
static void conn_event_written(struct conn *c)
{
	struct udsrpc_server *srv = c->srv;

	if (!srv->turn_armed) {
		if (!conn_flush_ev(srv))
			return;
		event_active(srv->flush_ev, 0, 0);
		srv->turn_armed = true;
	}
	c->event_turn = srv->turn;
}

static bool conn_push_line(struct conn *c, const char *line, size_t len, bool later)
{
	struct udsrpc_server *srv = c->srv;

	if (c->closed || c->overflowed)
		return false;
	/*
	 * A second line for c in this turn (a replay's kept events; a live
	 * event past the CONN_PEND that conn_push_held holds): queued, and
	 * all of them go out in one write at the end of the turn
	 * (conn_step_queue), where a write each cost the daemon about 2.4 µs in
	 * the kernel (tests/bench/fanout_floor). Over the cap, what waits is
	 * written first, so a batch never overflows a reader the socket would
	 * keep up with.
	 */
	bool batch = !later && srv->turn_armed && c->event_turn == srv->turn;
	if ((batch || c->npend) && conn_unsent(c) + len > srv->limits.max_output_bytes) {
		c->in_callback++; /* a write error closes c: freed only at our release */
		bool up = conn_flush(c);
		c->in_callback--;
		conn_maybe_free(c);
		if (!up)
			return false;
	}
	if (conn_unsent(c) + len > c->srv->limits.max_output_bytes) {
		c->in_callback++;
		conn_overflow(c);
		c->in_callback--;
		conn_maybe_free(c);
		return false;
	}
	/*
	 * Nothing owed (a subscriber that reads): write straight from the
	 * line every subscriber shares, and queue only what the socket did
	 * not take. Taking a buffer, copying the line in and draining it again
	 * for each subscriber (malloc, evbuffer) was about a tenth of the
	 * daemon's CPU per event in tests/bench/fanout.sh. Held or not: with nothing
	 * queued the order is the same as a later flush would give. A write
	 * error is left to that flush (the line queued), which closes c where
	 * closing is safe.
	 */
	size_t done = 0;
	/* Not for a line meant for the end of the turn (conn_push_turn): that one waits to go with the rest. */
	bool tried = !later && !batch && !c->direct && conn_out_len(c) == 0 && c->npend == 0;
	if (tried) {
		ssize_t n = write(c->fd, line, len);
		if (n > 0) {
			c->srv->stats.bytes_out += (uint64_t)n;
			done = (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			tried = false;
		}
		if (tried)
			conn_event_written(c);
		if (done == len)
			return true; /* nothing owed before or after: the event's interest stands */
	}
	if (!conn_out(c)) {
		log_error(c->srv, "connection %llu: event dropped: out of memory", c->peer.id);
		return false;
	}
	evbuffer_add(c->out, line + done, len - done);
	conn_count_out(c);
	/* Held until the turn's end, which writes it (and releasing c does not). */
	if ((batch || c->npend) && conn_step_queue(c))
		return true;
	/* Just tried: the socket is full, wait for it to drain. */
	if (c->in_callback == 0 && !(later && conn_step_queue(c)) && (tried || conn_flush(c)))
		conn_arm(c);
	return true;
}

bool conn_push(struct conn *c, const char *line, size_t len)
{
	return conn_push_line(c, line, len, false);
}

bool conn_push_turn(struct conn *c, const char *line, size_t len)
{
	return conn_push_line(c, line, len, true);
}

bool conn_push_held(struct conn *c, struct conn_line **sl, const char *line, size_t len)
{
	/*
	 * Nothing queued before it: held by reference, for the end of the turn
	 * (conn_step_queue), where it goes out in one write with the other
	 * events c gets in this turn (a transaction's, one per key; a group
	 * commit's). A write each costs about 2.4 µs of the daemon's CPU in the
	 * kernel on the 2-CPU VM (tests/bench/fanout_floor), more than issue
	 * 17's target per event; holding a reference copies nothing per
	 * subscriber (copying into a buffer each, as before 239b3b7, was a
	 * tenth of the CPU per event). Anything else goes where conn_push puts
	 * it, after these.
	 */
	if (c->closed || c->overflowed || c->npend >= CONN_PEND || c->direct ||
	    conn_out_len(c) != 0 || c->pend_bytes + len > c->srv->limits.max_output_bytes)
		return false;
	if (!*sl) {
		if (!(*sl = malloc(sizeof(**sl) + len)))
			return false;
		(*sl)->refs = 1;
		(*sl)->len = len;
		memcpy((*sl)->data, line, len);
	}
	bool only = !c->flush_queued || c->events_only; /* queued for nothing else */
	if (!conn_step_queue(c))
		return false;
	c->events_only = only;
	(*sl)->refs++;
	c->pend[c->npend++] = *sl;
	c->pend_bytes += len;
	conn_count_out(c);
	return true;
}
