/* serve.h — udsrpcctl serve: a command becomes the provider of one method (udsrpc(7), PROVIDERS). */
#ifndef UDSRPCCTL_SERVE_H
#define UDSRPCCTL_SERVE_H

struct ctl;

/*
 * Provide c->args[0] (rpc.provide), then run c->args[1..] once per
 * forwarded call, up to c->jobs at once, answering each from the exit
 * status and output, until SIGINT/SIGTERM (exit 0) or the daemon goes away
 * (exit 3).
 */
int serve_exec(struct ctl *c);

#endif
