/*
 * conn.c — a client connection. Each read callback runs the same steps in
 * the same order (read, frame and dispatch, write, re-arm, maybe close),
 * sd-varlink style, so that every state change is handled in one place.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "conn.h"
#include "events.h"
#include "log.h"
#include "rpc_errors.h"
#include "server.h"

#define CONN_READ_CHUNK 65536

enum { TIMER_NONE, TIMER_PARTIAL, TIMER_IDLE };

static void conn_on_read(evutil_socket_t fd, short what, void *arg);
static void conn_on_write(evutil_socket_t fd, short what, void *arg);
static void conn_step(struct conn *c);
static bool conn_flush(struct conn *c);

static void conn_free(struct conn *c)
{
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	peer_ident_clear(&c->peer);
	free(c);
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
	if (c->in_callback == 1 && !c->closed)
		conn_flush(c);
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

static void conn_on_release(struct rpc_session *s)
{
	conn_maybe_free(s->owner);
}

struct conn *conn_new(struct server *srv, int fd, struct peer_ident *peer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c || !(c->in = evbuffer_new()) || !(c->out = evbuffer_new())) {
		if (c && c->in)
			evbuffer_free(c->in);
		free(c);
		close(fd);
		peer_ident_clear(peer);
		return NULL;
	}
	c->srv = srv;
	c->fd = fd;
	c->peer = *peer;
	memset(peer, 0, sizeof(*peer));
	clock_gettime(CLOCK_REALTIME, &c->connected);
	framing_init(&c->framing, srv->cfg.limits.max_message_bytes);
	rpc_session_init(&c->rpc, srv, &c->peer, c->out, c);
	c->rpc.on_output = conn_on_output;
	c->rpc.on_release = conn_on_release;
	event_assign(&c->ev_read, srv->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
	event_assign(&c->ev_write, srv->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
	TAILQ_INSERT_TAIL(&srv->conns, c, link);
	srv->nconns++;
	stats_conn_open(&srv->stats);
	server_uid_adjust(srv, c->peer.uid, +1);
	log_debug("connection %llu from uid %u pid %d", c->peer.id, (unsigned)c->peer.uid,
		  (int)c->peer.pid);
	events_peer(srv, &c->peer, "connect");
	c->in_callback++;
	conn_step(c);
	c->in_callback--;
	return c;
}

void conn_close(struct conn *c, const char *why)
{
	struct server *srv = c->srv;

	if (c->closed)
		return;
	c->closed = true;
	event_del(&c->ev_read);
	event_del(&c->ev_write);
	close(c->fd);
	c->fd = -1;
	events_unsubscribe_all(c);
	TAILQ_REMOVE(&srv->conns, c, link);
	srv->nconns--;
	stats_conn_close(&srv->stats);
	server_uid_adjust(srv, c->peer.uid, -1);
	if (why)
		log_debug("connection %llu closed: %s", c->peer.id, why);
	events_peer(srv, &c->peer, "disconnect");
	rpc_session_detach(&c->rpc);
	server_conn_closed(srv);
	conn_maybe_free(c);
}

/* Frame and dispatch buffered requests until none is left or output is full. */
static void conn_process(struct conn *c)
{
	const struct limits *lim = &c->srv->cfg.limits;
	char *line;
	size_t len;

	while (!c->closed) {
		if (evbuffer_get_length(c->out) >= lim->max_output_bytes) {
			c->paused = true;
			return;
		}
		switch (framing_next(&c->framing, c->in, c->eof, &line, &len)) {
		case FRAMING_NONE:
			return;
		case FRAMING_BLANK:
			break;
		case FRAMING_OVERSIZE:
			rpc_reply_unsolicited(&c->rpc, RPC_REQUEST_TOO_LARGE,
					      json_pack("{s:I}", "limit",
							(json_int_t)lim->max_message_bytes));
			break;
		case FRAMING_LINE:
			rpc_handle_line(&c->rpc, line, len);
			framing_done(&c->framing, c->in);
			break;
		}
	}
}

/* Write what is owed; false if the peer is gone. */
static bool conn_flush(struct conn *c)
{
	size_t left = evbuffer_get_length(c->out);

	if (left > 0) {
		int n = evbuffer_write(c->out, c->fd);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_close(c, strerror(errno));
			return false;
		}
		if (n > 0) {
			c->srv->stats.bytes_out += (uint64_t)n;
			left -= (size_t)n;
		}
	}
	if (left > 0 && !c->writing) {
		event_add(&c->ev_write, NULL);
		c->writing = true;
	} else if (left == 0 && c->writing) {
		event_del(&c->ev_write);
		c->writing = false;
	}
	return true;
}

/* Read interest and the one timer ev_read carries follow from the state. */
static void conn_arm(struct conn *c)
{
	struct server *srv = c->srv;
	const struct limits *lim = &srv->cfg.limits;
	bool want = !c->eof && !c->paused && !srv->shutting_down;
	bool partial = evbuffer_get_length(c->in) > 0 || c->framing.discarding;
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
	} else if (want && lim->idle_timeout_ms && c->topics == 0 && !rpc_session_busy(&c->rpc)) {
		timer = TIMER_IDLE;
		ms = lim->idle_timeout_ms;
	}
	if (!want) {
		if (c->reading) {
			event_del(&c->ev_read);
			c->reading = false;
		}
		return;
	}
	/* A persistent event's timeout restarts on every activation, which is
	 * exactly an idle timer: re-add only when the kind changes. */
	if (c->reading && timer == c->timer && timer != TIMER_PARTIAL)
		return;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	event_add(&c->ev_read, timer == TIMER_NONE ? NULL : &tv);
	c->reading = true;
	c->timer = timer;
}

/* The fixed sequence after anything happened on the connection. */
static void conn_step(struct conn *c)
{
	const struct limits *lim = &c->srv->cfg.limits;

	if (c->closed)
		return;
	conn_process(c);
	if (c->closed || !conn_flush(c))
		return;
	/* Low-water mark at half the cap, so a slow reader is not toggled per reply. */
	if (c->paused && evbuffer_get_length(c->out) <= lim->max_output_bytes / 2) {
		c->paused = false;
		conn_process(c);
		if (c->closed || !conn_flush(c))
			return;
	}
	/* Done: the peer will send no more (or we are stopping) and all it is owed is sent. */
	if ((c->eof || c->srv->shutting_down) && !c->paused &&
	    evbuffer_get_length(c->out) == 0 && !rpc_session_busy(&c->rpc) &&
	    (c->srv->shutting_down || evbuffer_get_length(c->in) == 0)) {
		conn_close(c, c->eof ? "peer finished" : "shutting down");
		return;
	}
	conn_arm(c);
}

static void conn_on_timeout(struct conn *c)
{
	const struct limits *lim = &c->srv->cfg.limits;

	if (c->timer == TIMER_PARTIAL &&
	    clock_now_ms() - c->partial_since_ms >= lim->partial_timeout_ms) {
		log_info("connection %llu (uid %u pid %d): incomplete request for %u ms, closing",
			 c->peer.id, (unsigned)c->peer.uid, (int)c->peer.pid,
			 lim->partial_timeout_ms);
		conn_close(c, "partial_timeout_ms");
	} else if (c->timer == TIMER_IDLE) {
		conn_close(c, "idle_timeout_ms");
	} else {
		c->timer = TIMER_NONE; /* stale: re-arm */
		conn_arm(c);
	}
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	c->in_callback++;
	if (what & EV_TIMEOUT) {
		conn_on_timeout(c);
	} else {
		size_t budget = framing_read_budget(&c->framing, c->in, CONN_READ_CHUNK);
		int n = evbuffer_read(c->in, fd, (int)budget);
		if (n > 0) {
			c->srv->stats.bytes_in += (uint64_t)n;
			conn_step(c);
		} else if (n == 0) {
			c->eof = true;
			conn_step(c);
		} else if (errno != EAGAIN && errno != EINTR) {
			conn_close(c, strerror(errno));
		}
	}
	c->in_callback--;
	conn_maybe_free(c);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	c->in_callback++;
	conn_step(c);
	c->in_callback--;
	conn_maybe_free(c);
}

void conn_shutdown(struct conn *c)
{
	c->in_callback++;
	conn_step(c);
	c->in_callback--;
	conn_maybe_free(c);
}

bool conn_push(struct conn *c, const char *line, size_t len)
{
	if (c->closed)
		return false;
	if (evbuffer_get_length(c->out) + len > c->srv->cfg.limits.max_output_bytes) {
		log_warning("connection %llu (uid %u pid %d): events not read, unread output over "
			    "max_output_bytes %zu; disconnecting",
			    c->peer.id, (unsigned)c->peer.uid, (int)c->peer.pid,
			    c->srv->cfg.limits.max_output_bytes);
		c->in_callback++;
		conn_close(c, "event output overflow");
		c->in_callback--;
		conn_maybe_free(c);
		return false;
	}
	evbuffer_add(c->out, line, len);
	if (c->in_callback == 0)
		conn_flush(c);
	return true;
}
