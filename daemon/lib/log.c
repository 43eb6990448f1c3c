/*
 * log.c — leveled logging: to the server's callback, or to stderr as
 * "TIMESTAMP NAME: LEVEL: message" (RFC 3339, UTC), or "<N>message" when
 * systemd's journal reads stderr ($JOURNAL_STREAM) and keeps its own time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export.h"
#include "jsonnum.h"
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

static bool log_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

size_t log_escape(char *buf, size_t len, const char *msg)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)msg; *p;) {
		/* Printable ASCII, nearly all of any line, is copied a run at a time. */
		const unsigned char *q = p;
		while (log_plain(*q))
			q++;
		if (q > p) {
			size_t k = (size_t)(q - p), room = len - 1 - n;
			memcpy(buf + n, p, k < room ? k : room);
			if (k > room) {
				n += room;
				break;
			}
			n += k;
			p = q;
			continue;
		}
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

/* Appends what fits of p[0..n) at buf + *at (cap bytes in all, one kept for a NUL). */
static void log_put(char *buf, size_t *at, size_t cap, const char *p, size_t n)
{
	size_t room = cap - 1 - *at;

	if (n > room)
		n = room;
	memcpy(buf + *at, p, n);
	*at += n;
	buf[*at] = '\0';
}

static void log_put_str(char *buf, size_t *at, size_t cap, const char *s)
{
	log_put(buf, at, cap, s, strlen(s));
}

static void log_put_int(char *buf, size_t *at, size_t cap, long long v)
{
	char digits[JSONNUM_U64_MAX + 1];
	size_t n;
	const char *d = jsonnum_u64(v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v,
	                            digits, &n);

	if (v < 0)
		log_put(buf, at, cap, "-", 1);
	log_put(buf, at, cap, d, n);
}

/*
 * "YYYY-MM-DDTHH:MM:SS" of ts's second into buf (40 bytes), and its
 * length: formatted once a second (the audit line of every write passes
 * here), the milliseconds are the caller's. The cache is shared by the
 * threads that log; one that finds it busy formats its own (no
 * thread-local storage: that would make the library need ld.so's
 * __tls_get_addr).
 */
static size_t log_when(const struct timespec *ts, char *buf)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static time_t sec = -1;
	static char text[40];
	static size_t len;
	struct tm tm;
	size_t n;

	if (pthread_mutex_trylock(&mu) == 0) {
		if (ts->tv_sec != sec) {
			gmtime_r(&ts->tv_sec, &tm);
			len = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
			sec = ts->tv_sec;
		}
		memcpy(buf, text, len + 1);
		n = len;
		pthread_mutex_unlock(&mu);
		return n;
	}
	gmtime_r(&ts->tv_sec, &tm);
	return strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
}

/* One message, formatted already (not escaped yet), to the logger or stderr. */
static void log_emit(const struct logger *lg, enum udsrpc_log_level level, const char *msg)
{
	char line[2200];
	size_t n = 0;

	if (lg && lg->fn) {
		log_escape(line, sizeof(line), msg);
		lg->fn(lg->userdata, level, line);
		return;
	}
	if (log_journal()) {
		log_put(line, &n, sizeof(line), "<", 1);
		log_put_int(line, &n, sizeof(line), (int)level);
		log_put(line, &n, sizeof(line), ">", 1);
	} else {
		struct timespec ts;
		char when[40], ms[4];
		long msec;

		clock_gettime(CLOCK_REALTIME, &ts);
		msec = ts.tv_nsec / 1000000;
		ms[0] = (char)('0' + msec / 100);
		ms[1] = (char)('0' + msec / 10 % 10);
		ms[2] = (char)('0' + msec % 10);
		ms[3] = '\0';
		/* "TIMESTAMP.mmmZ NAME: LEVEL: " */
		log_put(line, &n, sizeof(line), when, log_when(&ts, when));
		log_put(line, &n, sizeof(line), ".", 1);
		log_put(line, &n, sizeof(line), ms, 3);
		log_put(line, &n, sizeof(line), "Z ", 2);
		log_put_str(line, &n, sizeof(line), lg ? lg->prog : program_invocation_short_name);
		log_put(line, &n, sizeof(line), ": ", 2);
		log_put_str(line, &n, sizeof(line), udsrpc_log_level_name(level));
		log_put(line, &n, sizeof(line), ": ", 2);
	}
	n += log_escape(line + n, sizeof(line) - n - 1, msg);
	/* One write per line, so threads and processes sharing stderr never interleave. */
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
}

#define LOG_MSG_MAX 2048

UDSRPC_EXPORT void udsrpc_server_logv(struct udsrpc_server *srv, enum udsrpc_log_level level,
                                      const char *fmt, va_list ap)
{
	const struct logger *lg = srv ? &srv->log : NULL;
	char msg[LOG_MSG_MAX];

	if (lg && level > lg->level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_emit(lg, level, msg);
}

UDSRPC_EXPORT void udsrpc_server_log(struct udsrpc_server *srv, enum udsrpc_log_level level,
                                     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	udsrpc_server_logv(srv, level, fmt, ap);
	va_end(ap);
}

/* The detail of an audit line is cut at this many bytes, the whole message at LOG_MSG_MAX. */
#define LOG_AUDIT_DETAIL 1024

/*
 * "audit: METHOD uid U pid P exe EXE: DETAIL", put together in the
 * message buffer and DETAIL formatted straight after it: every durable
 * write logs one, and a second printf over the whole line cost as much
 * as the rest of the line.
 */
UDSRPC_EXPORT void udsrpc_server_audit(struct udsrpc_server *srv, const char *method, uid_t uid,
                                       pid_t pid, const char *exe, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX];
	size_t n = 0, room;
	va_list ap;

	if (srv && UDSRPC_LOG_INFO > srv->log.level)
		return;
	log_put(msg, &n, sizeof(msg), "audit: ", 7);
	log_put_str(msg, &n, sizeof(msg), method ? method : "(unknown)");
	log_put(msg, &n, sizeof(msg), " uid ", 5);
	log_put_int(msg, &n, sizeof(msg), (unsigned)uid);
	log_put(msg, &n, sizeof(msg), " pid ", 5);
	log_put_int(msg, &n, sizeof(msg), (int)pid);
	log_put(msg, &n, sizeof(msg), " exe ", 5);
	log_put_str(msg, &n, sizeof(msg), exe ? exe : "(unknown)");
	log_put(msg, &n, sizeof(msg), ": ", 2);
	room = sizeof(msg) - n;
	if (room > LOG_AUDIT_DETAIL)
		room = LOG_AUDIT_DETAIL;
	va_start(ap, fmt);
	if (fmt[0] == '%' && fmt[1] == 's' && fmt[2] == '\0') {
		/* A detail made by the caller (a durable write's): copied as vsnprintf would. */
		const char *detail = va_arg(ap, const char *);
		size_t k;

		if (!detail)
			detail = "(null)";
		k = strnlen(detail, room - 1);
		memcpy(msg + n, detail, k);
		msg[n + k] = '\0';
	} else {
		vsnprintf(msg + n, room, fmt, ap);
	}
	va_end(ap);
	log_emit(srv ? &srv->log : NULL, UDSRPC_LOG_INFO, msg);
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
