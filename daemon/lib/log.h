/* log.h — the library's logging: one line per message, to the server's logger. */
#ifndef UDSRPC_LIB_LOG_H
#define UDSRPC_LIB_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include <udsrpc/server.h>

/* What a server logs with: its level, prefix and callback (options). */
struct logger {
	enum udsrpc_log_level level;
	udsrpc_log_fn *fn; /* NULL: stderr */
	void *userdata;
	char prog[64];
};

/* Read once: with $JOURNAL_STREAM set, lines carry "<N>" and no timestamp. */
bool log_journal(void);
/*
 * Into buf (len bytes, at least 2): the message with every byte below 0x20,
 * 0x7f and every byte that is not part of well-formed UTF-8 written as
 * \xNN, so that nothing a peer controls (an exe path with a newline, a
 * method name, a process name of raw bytes) can start a line or a journald
 * prefix, or make the line unreadable as text. Returns the length (cut to
 * fit, never inside a character).
 */
size_t log_escape(char *buf, size_t len, const char *msg);
/* The same, whole, malloc'd (the caller frees it); NULL on ENOMEM. */
char *log_escape_dup(const char *s);

#define log_error(srv, ...) udsrpc_server_log((srv), UDSRPC_LOG_ERROR, __VA_ARGS__)
#define log_warning(srv, ...) udsrpc_server_log((srv), UDSRPC_LOG_WARNING, __VA_ARGS__)
#define log_info(srv, ...) udsrpc_server_log((srv), UDSRPC_LOG_INFO, __VA_ARGS__)
#define log_debug(srv, ...) udsrpc_server_log((srv), UDSRPC_LOG_DEBUG, __VA_ARGS__)

#endif
