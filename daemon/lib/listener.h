/* listener.h — the listening socket: safe creation, socket activation, accept, fd backoff. */
#ifndef UDSRPC_LISTENER_H
#define UDSRPC_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

struct udsrpc_server;
struct listener;
struct event_base;

/*
 * Take the socket the service gave, or the one systemd passed (LISTEN_FDS,
 * with UDSRPC_SERVER_SOCKET_ACTIVATION), or create srv->socket_path:
 * refuse if a live daemon answers there (naming its pid) or the path is not
 * a socket, replace a stale socket. Fills srv->socket_path with what is
 * served. -errno with a message for people in err.
 */
int listener_open(struct udsrpc_server *srv, struct listener **ret, char *err, size_t errlen);
/* Move the listener's events to another loop (attach after listen). 0 or -ENOMEM. */
int listener_rebase(struct listener *l, struct event_base *base);
/* Start accepting (after the rest of the daemon is ready). */
void listener_start(struct listener *l);
/* Stop accepting and remove the socket file if it is still the one we made. */
void listener_close(struct listener *l);
/* A descriptor was freed: if accept was backing off from EMFILE, try again now. */
void listener_resume(struct listener *l);

#endif
