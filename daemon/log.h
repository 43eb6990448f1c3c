/* log.h — leveled logging to stderr, journal-style prefixes under systemd. */
#ifndef UDSRPC_LOG_H
#define UDSRPC_LOG_H

enum log_level { LOG_LVL_ERROR = 3, LOG_LVL_WARNING = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* Reads JOURNAL_STREAM once: with it, lines carry "<N>" priorities for journald. */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error"|"warning"|"info"|"debug" -> 0 and *ret; anything else -> -EINVAL. */
int log_level_parse(const char *name, enum log_level *ret);
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
