/* stream.h — the two commands that are streams rather than one call: watch and raw. */
#ifndef UDSRPCCTL_STREAM_H
#define UDSRPCCTL_STREAM_H

struct ctl;

/*
 * Subscribe, then print each event until SIGINT/SIGTERM (exit 0) or
 * c->count events. No timeout while waiting for events.
 */
int stream_watch(struct ctl *c);
/*
 * Call the command's method and print its result (set --ephemeral), then
 * keep the connection until SIGINT/SIGTERM (exit 0) or the daemon closes
 * it (CTL_EXIT_IO): what the call bound to the connection lasts as long.
 */
int stream_hold(struct ctl *c);
/*
 * Copy stdin to the socket and the socket to stdout; when stdin ends, shut
 * down our write side and print what the daemon still sends until it closes.
 */
int stream_raw(struct ctl *c);

#endif
