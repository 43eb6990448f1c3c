/* log.c — leveled logging to stderr; journald priority prefixes when JOURNAL_STREAM is set. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *log_prog = "udsrpcd";
static enum log_level log_level_cur = LOG_LVL_INFO;
static int log_journal;

static const struct {
	const char *name;
	enum log_level level;
} log_names[] = {
	{"error", LOG_LVL_ERROR},
	{"warning", LOG_LVL_WARNING},
	{"info", LOG_LVL_INFO},
	{"debug", LOG_LVL_DEBUG},
};

void log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_level_cur = level;
	/* systemd connects stderr to the journal and says so; the "<N>" prefix
	 * then carries the priority instead of a word. */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum log_level level)
{
	log_level_cur = level;
}

enum log_level log_get_level(void)
{
	return log_level_cur;
}

int log_level_parse(const char *name, enum log_level *ret)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(name, log_names[i].name) == 0) {
			*ret = log_names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (log_names[i].level == level)
			return log_names[i].name;
	return "info";
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	if (level > log_level_cur)
		return;
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>", (int)level);
	else
		n = snprintf(line, sizeof(line), "%s: %s: ", log_prog, log_level_name(level));
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so concurrent writers (and the committer thread) never interleave. */
	size_t len = strnlen(line, sizeof(line) - 2);
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}
