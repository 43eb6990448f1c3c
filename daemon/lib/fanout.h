/* fanout.h — the events a turn of the loop holds for its subscribers, written in one io_uring submission. */
#ifndef UDSRPC_FANOUT_H
#define UDSRPC_FANOUT_H

struct udsrpc_server;
struct conn_list;

/*
 * Before the turn's connections are stepped (conn_on_flush): every one of
 * them holding events (conn->pend) gets them sent, all in one io_uring
 * submission instead of a write(2) each. What a socket did not take goes
 * to the connection's output as conn_flush would put it; a send that
 * failed or did not happen is left held, for conn_flush's write(2), which
 * meets the same error and handles it as always. Without io_uring (ENOSYS,
 * EPERM under seccomp, kernel.io_uring_disabled) it does nothing: the
 * write(2) per connection of conn_flush.
 */
void fanout_write(struct udsrpc_server *srv, struct conn_list *turn);
void fanout_free(struct udsrpc_server *srv);

#endif
