/*
 * clientparse.h — inside libudsrpc: a client's received lines through a
 * parser of its user's first (the provider loop's, for the daemon's
 * forwarded calls), before the generic one.
 */
#ifndef UDSRPC_LIB_CLIENTPARSE_H
#define UDSRPC_LIB_CLIENTPARSE_H

#include <stddef.h>
#include <jansson.h>

struct udsrpc_client;

/*
 * fn(arg, line, len) gives the message a line is (a new reference) or NULL
 * to leave it to the generic parse; fn NULL: none.
 */
void client_set_parser(struct udsrpc_client *c,
                       json_t *(*fn)(void *arg, const char *line, size_t len), void *arg);

#endif
