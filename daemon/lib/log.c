/*
 * log.c — leveled logging: to the server's callback, or to stderr as
 * "TIMESTAMP NAME: LEVEL: message" (RFC 3339, UTC), or "<N>message" when
 * systemd's journal reads stderr ($JOURNAL_STREAM) and keeps its own time.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export.h"
#include "log.h"
#include "server.h"

static const struct {
	const char *name;
	enum udsrpc_log_level level;
} log_names[] = {
	{"error", UDSRPC_LOG_ERROR},
	{"warning", UDSRPC_LOG_WARNING},
	{"info", UDSRPC_LOG_INFO},
	{"debug", UDSRPC_LOG_DEBUG},
};

UDSRPC_EXPORT int udsrpc_log_level_parse(const char *name, enum udsrpc_log_level *ret)
{
	for (size_t i = 0; name && i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(name, log_names[i].name) == 0) {
			*ret = log_names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

UDSRPC_EXPORT const char *udsrpc_log_level_name(enum udsrpc_log_level level)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (log_names[i].level == level)
			return log_names[i].name;
	return "info";
}

bool log_journal(void)
{
	static int journal = -1;
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	return journal;
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		unsigned char lo = p[0] == 0xe0 ? 0xa0 : 0x80, hi = p[0] == 0xed ? 0x9f : 0xbf;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		unsigned char lo = p[0] == 0xf0 ? 0x90 : 0x80, hi = p[0] == 0xf4 ? 0x8f : 0xbf;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80
			   ? 4
			   : 0;
	}
	return 0;
}

size_t log_escape(char *buf, size_t len, const char *msg)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)msg; *p;) {
		size_t k = *p < 0x20 || *p == 0x7f ? 0 : utf8_len(p);
		if (k == 0) {
			if (n + 4 >= len)
				break;
			buf[n++] = '\\';
			buf[n++] = 'x';
			buf[n++] = hex[*p >> 4];
			buf[n++] = hex[*p & 15];
			p++;
		} else {
			if (n + k >= len)
				break;
			memcpy(buf + n, p, k);
			n += k;
			p += k;
		}
	}
	buf[n] = '\0';
	return n;
}

char *log_escape_dup(const char *s)
{
	size_t len = strlen(s) * 4 + 1;
	char *buf = malloc(len);

	if (!buf)
		return NULL;
	log_escape(buf, len, s);
	char *fit = realloc(buf, strlen(buf) + 1);
	return fit ? fit : buf;
}

UDSRPC_EXPORT void udsrpc_server_logv(struct udsrpc_server *srv, enum udsrpc_log_level level,
                                      const char *fmt, va_list ap)
{
	const struct logger *lg = srv ? &srv->log : NULL;
	char msg[2048], line[2200];
	size_t n;

	if (lg && level > lg->level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (lg && lg->fn) {
		log_escape(line, sizeof(line), msg);
		lg->fn(lg->userdata, level, line);
		return;
	}
	if (log_journal()) {
		n = (size_t)snprintf(line, sizeof(line), "<%d>", (int)level);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[40];
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		n = (size_t)snprintf(line, sizeof(line), "%s.%03ldZ %s: %s: ", when,
		                     ts.tv_nsec / 1000000,
		                     lg ? lg->prog : program_invocation_short_name,
		                     udsrpc_log_level_name(level));
	}
	n += log_escape(line + n, sizeof(line) - n - 1, msg);
	/* One write per line, so threads and processes sharing stderr never interleave. */
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
}

UDSRPC_EXPORT void udsrpc_server_log(struct udsrpc_server *srv, enum udsrpc_log_level level,
                                     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	udsrpc_server_logv(srv, level, fmt, ap);
	va_end(ap);
}

UDSRPC_EXPORT void udsrpc_server_audit(struct udsrpc_server *srv, const char *method, uid_t uid,
                                       pid_t pid, const char *exe, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	if (srv && UDSRPC_LOG_INFO > srv->log.level)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	udsrpc_server_log(srv, UDSRPC_LOG_INFO, "audit: %s uid %u pid %d exe %s: %s",
	                  method ? method : "(unknown)", (unsigned)uid, (int)pid,
	                  exe ? exe : "(unknown)", detail);
}

UDSRPC_EXPORT void udsrpc_server_set_log_level(struct udsrpc_server *srv,
                                               enum udsrpc_log_level level)
{
	srv->log.level = level;
}

UDSRPC_EXPORT enum udsrpc_log_level udsrpc_server_get_log_level(const struct udsrpc_server *srv)
{
	return srv->log.level;
}
