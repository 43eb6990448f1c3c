/*
 * event.h — running a libudsrpc server inside the caller's own libevent
 * loop. Not included by <udsrpc/udsrpc.h>: a program that includes it
 * links libevent itself (pkg-config libevent_core). See udsrpc_server(3).
 */
#ifndef UDSRPC_EVENT_H
#define UDSRPC_EVENT_H

#include <event2/event.h>
#include <udsrpc/server.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Serve on base, the caller's loop, from now on: the server listens (if it
 * did not yet: a service that binds as root and then drops privileges
 * calls udsrpc_server_listen first) and its events are added to base,
 * which the caller runs (event_base_dispatch). Call it once, instead of
 * udsrpc_server_run or _start_thread, on the thread that runs base;
 * handlers run there. base is borrowed and must outlive the server (udsrpc_server_free
 * before event_base_free). A graceful stop (udsrpc_server_stop) closes
 * every connection when done but leaves base running; the server never
 * exits the caller's loop. -EINVAL if the server already has a loop of its
 * own running, or the errors of udsrpc_server_listen.
 */
int udsrpc_server_attach(struct udsrpc_server *srv, struct event_base *base, char *err,
                         size_t errlen);
/*
 * The loop the server uses: the caller's after attach, else one of the
 * server's own (made on the first need) for run/start_thread. Borrowed,
 * valid until udsrpc_server_free. For a service that adds events of its own
 * (a timer, another descriptor) to it; with a server thread, only from
 * that thread. Asked before attach, it is the server's own loop, which
 * attach then leaves unused.
 */
struct event_base *udsrpc_server_event_base(const struct udsrpc_server *srv);

#ifdef __cplusplus
}
#endif

#endif
