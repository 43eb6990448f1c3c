/* commands.h — udsrpcctl's command table, and the state one run of a command works on. */
#ifndef UDSRPCCTL_COMMANDS_H
#define UDSRPCCTL_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#include "session.h"

struct ctl;
struct output;

enum command_flags {
	COMMAND_QUIET = 1 << 0,		  /* -q silences its output on success */
	COMMAND_EXPECT_REVISION = 1 << 1, /* takes --expect-revision N */
	COMMAND_COUNT = 1 << 2,		  /* takes --count N */
	COMMAND_OFFLINE = 1 << 3,	  /* needs no daemon (help) */
	COMMAND_AWAIT_CLOSE = 1 << 4,	  /* the daemon closes after answering: wait for it */
	COMMAND_PREFIX = 1 << 5,	  /* takes --prefix P (in place of its KEY) */
	COMMAND_PAGE = 1 << 6,		  /* takes --limit N and --after KEY */
	COMMAND_MERGE = 1 << 7,		  /* takes --merge */
	COMMAND_SERVE = 1 << 8,		  /* takes --params, --result, --jobs; -t is the command's */
	COMMAND_VALUE = 1 << 9,		  /* set: --string, --json (after it), --file F, --ephemeral */
	COMMAND_RESUME = 1 << 10,	  /* takes --after-revision N and --reconnect (watch) */
};

/*
 * One command, as tmux's cmd_entry: everything help, usage errors, the
 * bash completion and dispatch need. Functions return 0 or an exit status
 * of ctl.h, having said why on stderr.
 */
struct command {
	const char *name;
	const char *args;   /* usage words after the name ("" for none) */
	const char *about;  /* one line for the command list */
	const char *help;   /* more, for "help NAME"; may be NULL */
	const char *method; /* what it calls; NULL: named by the first argument (call), or none */
	int min_args;	    /* positional arguments */
	int max_args;	    /* -1: any number */
	unsigned flags;	    /* enum command_flags */
	/* The request's params as a new reference in *ret (NULL: no params member). */
	int (*params)(struct ctl *c, json_t **ret);
	/* The human form of a result (result borrowed). */
	int (*human)(struct ctl *c, const json_t *result);
	/* The whole run, for commands that are not one call and one print. NULL: commands_call. */
	int (*exec)(struct ctl *c);
};

/* One run of the tool: the options, the command and its arguments, the connection. */
struct ctl {
	const char *socket;	     /* -s, else the default of udsrpc(7) */
	int timeout_ms;		     /* -t; < 0: none */
	bool json;		     /* -j */
	bool quiet;		     /* -q */
	const struct output *out;    /* human or JSON, chosen by -j */
	const struct command *cmd;
	char **args;		     /* positional arguments, borrowed from argv */
	int nargs;
	const char *expect_revision; /* --expect-revision, NULL if not given */
	long long count;	     /* --count; 0: not given */
	const char *prefix;	     /* --prefix, NULL if not given */
	long long after_revision;    /* watch --after-revision; < 0: not given */
	bool reconnect;		     /* watch --reconnect */
	const char *limit, *after;   /* --limit, --after, NULL if not given */
	bool merge;		     /* --merge */
	bool value_string;	     /* set --string: VALUE is a string, whatever it looks like */
	bool value_json;	     /* set --json: VALUE must be JSON */
	const char *value_file;	     /* set --file F: VALUE from F ("-": stdin) */
	bool ephemeral;		     /* set --ephemeral: hold the connection, the key with it */
	const char *params_schema;   /* serve --params, NULL if not given */
	const char *result_schema;   /* serve --result, NULL if not given */
	int jobs;		     /* serve --jobs */
	int command_timeout_ms;	     /* serve --timeout; < 0: none */
	struct session s;
	double rtt_ms; /* the last call's round trip (ping prints it) */
};

extern const struct command commands_table[];
extern const size_t commands_count;

/* The entry called name, or NULL. */
const struct command *commands_find(const char *name);
/* "udsrpcctl: WHAT" and the command's usage line on stderr; returns CTL_EXIT_USAGE. */
int commands_usage_error(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The general help on f (the usage synopsis, options, every command). */
void commands_help(FILE *f);
/* Connect, build the params, call the method, print the result: the usual run. */
int commands_call(struct ctl *c);
/* VALUE as JSON if it parses as JSON, else as a string (new reference; NULL: not UTF-8). */
json_t *commands_value(const char *text);

#endif
