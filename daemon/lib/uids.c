/*
 * uids.c — per-uid bookkeeping (uids.h): a small chained hash, touched at
 * accept and close, on output changes, and when something about a uid is
 * about to be logged. An entry lives while the uid has connections, and a
 * little longer while its log window is open, so that a loop of short
 * connections shares one log budget.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "server.h"
#include "uids.h"

#define UID_BUCKETS 256
#define UIDS_LOG_WINDOW_MS 1000

static struct uid_count **uid_slot(struct udsrpc_server *srv, uid_t uid)
{
	struct uid_count **pp;

	if (!srv->uid_counts && !(srv->uid_counts = calloc(UID_BUCKETS, sizeof(*srv->uid_counts))))
		return NULL;
	for (pp = &srv->uid_counts[uid % UID_BUCKETS]; *pp; pp = &(*pp)->next)
		if ((*pp)->uid == uid)
			break;
	return pp;
}

/* The entry of uid, made if missing; NULL on ENOMEM. */
static struct uid_count *uid_get(struct udsrpc_server *srv, uid_t uid)
{
	struct uid_count **pp = uid_slot(srv, uid);

	if (!pp)
		return NULL;
	if (!*pp && (*pp = calloc(1, sizeof(**pp))))
		(*pp)->uid = uid;
	return *pp;
}

unsigned server_uid_connections(struct udsrpc_server *srv, uid_t uid)
{
	struct uid_count **pp = srv->uid_counts ? uid_slot(srv, uid) : NULL;
	return pp && *pp ? (*pp)->n : 0;
}

/* Its window is over: say what was held back, and start a new one at now. */
static void uid_window(struct udsrpc_server *srv, struct uid_count *u, uint64_t now)
{
	uint64_t spent = now - u->log_since;

	if (spent < UIDS_LOG_WINDOW_MS)
		return;
	if (u->log_suppressed)
		log_warning(srv,
			    "uid %u: %u more log line(s) about it suppressed in the last %llu ms "
			    "(at most %d lines a second per uid)",
			    (unsigned)u->uid, u->log_suppressed, (unsigned long long)spent,
			    UIDS_LOG_LINES);
	u->log_since = now;
	u->log_lines = u->log_suppressed = 0;
}

/* Kept for its log window only: nothing to remember once that is over. */
static bool uid_idle(const struct uid_count *u, uint64_t now)
{
	return u->n == 0 && u->out == 0 && u->log_suppressed == 0 &&
	       now - u->log_since >= UIDS_LOG_WINDOW_MS;
}

static void uid_sweep_arm(struct udsrpc_server *srv);

/* Once a second while any window is open: report the counts, drop idle entries. */
static void uid_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct udsrpc_server *srv = arg;
	uint64_t now = clock_now_ms();
	bool again = false;

	(void)fd, (void)what;
	for (int i = 0; srv->uid_counts && i < UID_BUCKETS; i++) {
		struct uid_count **pp = &srv->uid_counts[i], *u;
		while ((u = *pp)) {
			uid_window(srv, u, now);
			if (uid_idle(u, now)) {
				*pp = u->next;
				free(u);
				continue;
			}
			again |= u->n == 0 || u->log_lines > 0;
			pp = &u->next;
		}
	}
	if (again)
		uid_sweep_arm(srv);
}

static void uid_sweep_arm(struct udsrpc_server *srv)
{
	struct timeval tv = {UIDS_LOG_WINDOW_MS / 1000, (UIDS_LOG_WINDOW_MS % 1000) * 1000};

	if (!srv->ev_uids && srv->base)
		srv->ev_uids = evtimer_new(srv->base, uid_on_sweep, srv);
	if (srv->ev_uids && !evtimer_pending(srv->ev_uids, NULL))
		evtimer_add(srv->ev_uids, &tv);
}

struct uid_count *server_uid_adjust(struct udsrpc_server *srv, uid_t uid, int delta)
{
	struct uid_count **pp = uid_slot(srv, uid), *u;

	if (!pp || (!*pp && delta < 0))
		return NULL;
	if (!(u = *pp ? *pp : uid_get(srv, uid)))
		return NULL;
	u->n += (unsigned)delta;
	if (u->n > 0)
		return u;
	if (uid_idle(u, clock_now_ms())) {
		*pp = u->next;
		free(u);
	} else {
		uid_sweep_arm(srv); /* its log window outlives the connection */
	}
	return NULL;
}

bool server_uid_may_log(struct udsrpc_server *srv, uid_t uid, enum udsrpc_log_level level)
{
	struct uid_count *u;
	uint64_t now = clock_now_ms();

	if (level > srv->log.level)
		return false; /* not written anyway: no share of the budget */
	if (!(u = uid_get(srv, uid)))
		return true;
	uid_window(srv, u, now);
	uid_sweep_arm(srv);
	if (u->log_lines < UIDS_LOG_LINES) {
		u->log_lines++;
		return true;
	}
	u->log_suppressed++;
	return false;
}

void server_uid_free(struct udsrpc_server *srv)
{
	struct uid_count **table = srv->uid_counts;

	if (srv->ev_uids)
		event_free(srv->ev_uids);
	srv->ev_uids = NULL;
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
