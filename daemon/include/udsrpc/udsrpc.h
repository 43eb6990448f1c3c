/*
 * udsrpc.h — libudsrpc: JSON-RPC 2.0 over a Unix domain socket, with the
 * caller known from the kernel and a policy deciding who may call what.
 *
 * Include this one header; it brings in the rest:
 *   <udsrpc/server.h>  a server: options, methods, policy, events, the loop
 *   <udsrpc/call.h>    what a handler gets: params, the caller, completion
 *   <udsrpc/client.h>  the client side: connect, call, pipeline, events
 * and, for services that run their own libevent loop, <udsrpc/event.h>
 * (not included here, so that this header does not need libevent's).
 *
 * Conventions, as in jansson and sd-varlink:
 *  - Functions that can fail return 0 (or a count) on success and a
 *    negative errno on failure; those that take "char *err, size_t errlen"
 *    also write a one-line message for people there (err may be NULL).
 *  - Every json_t * says whether it is a new reference (the caller owns it
 *    and must json_decref it), borrowed (valid as the text says, not to be
 *    decref'd) or stolen (the function takes the caller's reference, also
 *    when it fails).
 *  - Strings passed in are borrowed for the call and copied if kept.
 *  - No struct of the library has a layout the caller may rely on, but for
 *    the two it fills in itself: struct udsrpc_server_options (which
 *    carries its own size, so fields can be added) and struct
 *    udsrpc_method (fixed for the life of soname 0).
 *
 * The wire protocol, the methods, errors, policy language and limits are
 * described in udsrpc(7); the API in udsrpc(3) and the pages it lists.
 */
#ifndef UDSRPC_UDSRPC_H
#define UDSRPC_UDSRPC_H

#include <udsrpc/server.h>
#include <udsrpc/call.h>
#include <udsrpc/client.h>

#endif
