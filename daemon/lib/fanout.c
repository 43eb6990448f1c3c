/* fanout.c — a turn's held events sent to all their subscribers in one submission (fanout.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "conn.h"
#include "fanout.h"
#include "log.h"
#include "server.h"
#include "uring.h"

/*
 * Sends per submission: 1,000 subscribers take four. The ring's memory is
 * counted against RLIMIT_MEMLOCK on kernels before 5.12 (64 KiB by
 * default): 256 entries are about 28 KiB.
 */
#define FANOUT_BATCH 256

struct fanout {
	struct uring *ring;
	unsigned n;
	struct conn *c[FANOUT_BATCH];
	int res[FANOUT_BATCH];
	struct msghdr msg[FANOUT_BATCH];
	struct iovec iov[FANOUT_BATCH][CONN_PEND];
};

/* The ring on first use; NULL (and srv->fanout_off, said once in the log) when there is none. */
static struct fanout *fanout_get(struct udsrpc_server *srv)
{
	struct fanout *f = srv->fanout;

	if (f || srv->fanout_off)
		return f;
	if (!(f = calloc(1, sizeof(*f))) || !(f->ring = uring_new(FANOUT_BATCH))) {
		int err = errno;
		free(f);
		srv->fanout_off = true;
		log_info(srv, "event writes: write(2) per subscriber (io_uring: %s)", strerror(err));
		return NULL;
	}
	log_info(srv, "event writes: io_uring, one submission per turn");
	return srv->fanout = f;
}

void fanout_free(struct udsrpc_server *srv)
{
	if (srv->fanout) {
		uring_free(srv->fanout->ring);
		free(srv->fanout);
		srv->fanout = NULL;
	}
}

/* Send what is queued and hand each connection its result. */
static void fanout_run(struct udsrpc_server *srv, struct fanout *f)
{
	struct conn *oom[FANOUT_BATCH];
	unsigned noom = 0;

	int r = uring_run(f->ring, f->res);
	/*
	 * Nothing here calls back into a connection's handling (no event, no
	 * close) until every result is in: each connection's held events are
	 * still the ones sent. Closes come last, as they publish "peer" events.
	 */
	for (unsigned i = 0; i < f->n; i++) {
		struct conn *c = f->c[i];
		int res = f->res[i];

		if (res >= 0) {
			if (!conn_pend_wrote(c, (size_t)res))
				oom[noom++] = c;
		} else if (res == -EIO) {
			oom[noom++] = c; /* sent or not, unknown: never twice, never cut */
		} else if (res == -EINVAL || res == -EOPNOTSUPP) {
			r = r ? r : res; /* a kernel without this send: write(2) from now on */
		}
		/* Any other error (EAGAIN, EPIPE, ECANCELED...): still held, for conn_flush. */
	}
	f->n = 0;
	for (unsigned i = 0; i < noom; i++)
		conn_close(oom[i], "event write failed: out of memory or io_uring broken");
	if (r < 0) {
		log_warning(srv, "event writes: io_uring failed (%s); write(2) per subscriber from now on",
		            strerror(-r));
		fanout_free(srv);
		srv->fanout_off = true;
	}
}

void fanout_write(struct udsrpc_server *srv, struct conn_list *turn)
{
	struct fanout *f;
	struct conn *c;

	TAILQ_FOREACH(c, turn, flush_link)
		if (!c->closed && c->npend && !c->direct)
			break;
	if (!c || !(f = fanout_get(srv)))
		return;
	for (; c; c = TAILQ_NEXT(c, flush_link)) {
		if (c->closed || !c->npend || c->direct)
			continue;
		unsigned i = f->n++;
		f->c[i] = c;
		if (c->npend == 1) {
			uring_send(f->ring, c->fd, c->pend[0]->data, c->pend[0]->len);
		} else {
			for (unsigned k = 0; k < c->npend; k++)
				f->iov[i][k] = (struct iovec){.iov_base = c->pend[k]->data,
				                              .iov_len = c->pend[k]->len};
			f->msg[i] = (struct msghdr){.msg_iov = f->iov[i], .msg_iovlen = c->npend};
			uring_sendmsg(f->ring, c->fd, &f->msg[i]);
		}
		if (f->n == FANOUT_BATCH) {
			fanout_run(srv, f);
			if (!(f = srv->fanout))
				return;
		}
	}
	if (f->n)
		fanout_run(srv, f);
}
