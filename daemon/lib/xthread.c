/*
 * xthread.c — the one way other threads reach a server's loop: answers to
 * deferred calls, posted functions and the stop request join one queue,
 * in the order they were made, and an eventfd wakes the loop, which takes
 * them all at once. The loop never waits on another thread here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "call.h"
#include "server.h"
#include "xthread.h"

struct xthread {
	pthread_mutex_t mu;
	struct xnode *head, *tail;
	atomic_bool queued; /* head is set: the cheap test before each read */
	int efd;
	struct event *ev;
};

static void xthread_on_wake(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	xthread_drain(arg);
}

static struct xthread *xthread_get(struct udsrpc_server *srv)
{
	return srv->xt;
}

int xthread_open(struct udsrpc_server *srv)
{
	struct xthread *x = srv->xt;

	if (x->ev)
		return 0;
	if (x->efd < 0 && (x->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -errno;
	if (!(x->ev = event_new(srv->base, x->efd, EV_READ | EV_PERSIST, xthread_on_wake, srv)) ||
	    event_add(x->ev, NULL) < 0)
		return -ENOMEM;
	/* Anything queued before the loop existed. */
	if (atomic_load(&x->queued)) {
		uint64_t one = 1;
		if (write(x->efd, &one, sizeof(one)) < 0)
			return -errno;
	}
	return 0;
}

/* Made with the server (not with the loop): other threads may queue before it runs. */
int xthread_new(struct udsrpc_server *srv)
{
	struct xthread *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	pthread_mutex_init(&x->mu, NULL);
	x->efd = -1;
	srv->xt = x;
	return 0;
}

void xthread_close(struct udsrpc_server *srv)
{
	struct xthread *x = xthread_get(srv);
	struct xnode *n, *next;

	if (!x)
		return;
	if (x->ev)
		event_free(x->ev);
	if (x->efd >= 0)
		close(x->efd);
	for (n = x->head; n; n = next) {
		next = n->next;
		if (n->answer)
			call_remote_deliver(n->answer);
		else
			free(n);
	}
	pthread_mutex_destroy(&x->mu);
	free(x);
	srv->xt = NULL;
}

static void xthread_push(struct udsrpc_server *srv, struct xnode *n)
{
	struct xthread *x = xthread_get(srv);
	bool wake;

	n->next = NULL;
	pthread_mutex_lock(&x->mu);
	wake = !x->head;
	if (x->tail)
		x->tail->next = n;
	else
		x->head = n;
	x->tail = n;
	atomic_store(&x->queued, true);
	/* One wake-up per batch: the loop takes everything queued when it runs. */
	if (wake && x->efd >= 0) {
		uint64_t one = 1;
		if (write(x->efd, &one, sizeof(one)) < 0) {
			/* EAGAIN means the counter is full: the loop is woken anyway. */
		}
	}
	pthread_mutex_unlock(&x->mu);
}

void xthread_complete(struct udsrpc_server *srv, struct deferred *d)
{
	d->xnode.answer = d;
	xthread_push(srv, &d->xnode);
}

int xthread_post(struct udsrpc_server *srv, void (*fn)(void *arg), void *arg)
{
	struct xnode *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->fn = fn;
	n->arg = arg;
	xthread_push(srv, n);
	return 0;
}

void xthread_drain(struct udsrpc_server *srv)
{
	struct xthread *x = xthread_get(srv);
	struct xnode *n, *next;

	/* The service's state first: an answer may announce a change it applies. */
	if (srv->sync_fn)
		srv->sync_fn(srv->sync_arg);
	if (!atomic_load(&x->queued))
		return;
	pthread_mutex_lock(&x->mu);
	n = x->head;
	x->head = x->tail = NULL;
	atomic_store(&x->queued, false);
	pthread_mutex_unlock(&x->mu);
	for (; n; n = next) {
		next = n->next;
		if (n->answer) {
			call_remote_deliver(n->answer);
		} else {
			n->fn(n->arg);
			free(n);
		}
	}
}

void xthread_before_read(struct udsrpc_server *srv)
{
	if (atomic_load_explicit(&srv->direct_sent, memory_order_acquire)) {
		atomic_store(&srv->direct_sent, false);
		xthread_drain(srv);
	}
}
