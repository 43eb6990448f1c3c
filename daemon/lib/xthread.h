/* xthread.h — what other threads hand to the loop: answers, posted functions, a stop. */
#ifndef UDSRPC_XTHREAD_H
#define UDSRPC_XTHREAD_H

struct udsrpc_server;
struct deferred;

/* One queued item: a deferred call's answer, or a posted function. */
struct xnode {
	struct xnode *next;
	void (*fn)(void *arg);
	void *arg;
	struct deferred *answer; /* set: deliver this call's answer, fn unused */
};

/* The queue, made with the server (other threads may queue before the loop runs). */
int xthread_new(struct udsrpc_server *srv);
/* Its wake-up, an eventfd on the loop, added when the loop is there. 0 or -errno. */
int xthread_open(struct udsrpc_server *srv);
/* Drop what is queued (posts not run, answers released), close the eventfd. */
void xthread_close(struct udsrpc_server *srv);
/* Any thread: queue d's answer (d->xnode), wake the loop. */
void xthread_complete(struct udsrpc_server *srv, struct deferred *d);
/* Any thread: queue fn(arg). 0 or -ENOMEM. */
int xthread_post(struct udsrpc_server *srv, void (*fn)(void *arg), void *arg);
/* Loop thread: the sync hook, then everything queued, in order. */
void xthread_drain(struct udsrpc_server *srv);
/* Loop thread, before requests are read: drain if a direct reply went meanwhile. */
void xthread_before_read(struct udsrpc_server *srv);

#endif
