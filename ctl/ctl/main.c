/* main.c — udsrpcctl: options before and after the command, dispatch, exit status. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "commands.h"
#include "ctl.h"
#include "output.h"

/* The options every command takes, before or after it. */
enum { OPT_VERSION = 256, OPT_EXPECT_REVISION, OPT_COUNT, OPT_PREFIX, OPT_LIMIT, OPT_AFTER,
       OPT_MERGE, OPT_PARAMS, OPT_RESULT, OPT_JOBS, OPT_STRING, OPT_VALUE_JSON, OPT_FILE,
       OPT_EPHEMERAL, OPT_AFTER_REVISION, OPT_RECONNECT };

static const struct option main_options[] = {
	{"socket", required_argument, NULL, 's'},
	{"json", no_argument, NULL, 'j'},
	{"timeout", required_argument, NULL, 't'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{"expect-revision", required_argument, NULL, OPT_EXPECT_REVISION},
	{"count", required_argument, NULL, OPT_COUNT},
	{"prefix", required_argument, NULL, OPT_PREFIX},
	{"limit", required_argument, NULL, OPT_LIMIT},
	{"after", required_argument, NULL, OPT_AFTER},
	{"merge", no_argument, NULL, OPT_MERGE},
	{"params", required_argument, NULL, OPT_PARAMS},
	{"result", required_argument, NULL, OPT_RESULT},
	{"jobs", required_argument, NULL, OPT_JOBS},
	{"string", no_argument, NULL, OPT_STRING},
	{"file", required_argument, NULL, OPT_FILE},
	{"ephemeral", no_argument, NULL, OPT_EPHEMERAL},
	{"after-revision", required_argument, NULL, OPT_AFTER_REVISION},
	{"reconnect", no_argument, NULL, OPT_RECONNECT},
	{NULL, 0, NULL, 0},
};

static int main_try_help(void)
{
	fprintf(stderr, "Try '" CTL_PROG " help' for the commands and options.\n");
	return CTL_EXIT_USAGE;
}

/* -t: whole milliseconds into *ret; 0 means no timeout at all. */
static int main_timeout(int *ret, const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > INT_MAX) {
		fprintf(stderr,
			CTL_PROG ": --timeout wants whole milliseconds, 0 or more (0: none); "
				 "got '%s'\n",
			arg);
		return CTL_EXIT_USAGE;
	}
	*ret = v ? (int)v : -1;
	return 0;
}

static int main_count(struct ctl *c, const char *arg)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || v <= 0)
		return commands_usage_error(c->cmd, "--count wants a number of events, 1 or more; "
						    "got '%s'",
					    arg);
	c->count = v;
	return 0;
}

static int main_after_revision(struct ctl *c, const char *arg)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || v < 0)
		return commands_usage_error(c->cmd, "--after-revision wants a store revision, 0 "
						    "or more; got '%s'",
					    arg);
	c->after_revision = v;
	return 0;
}

static int main_jobs(struct ctl *c, const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > 65536)
		return commands_usage_error(c->cmd, "--jobs wants a number of commands at once, "
						    "1 to 65536; got '%s'",
					    arg);
	c->jobs = (int)v;
	return 0;
}

/*
 * One option (by its getopt code) with its value. cmd is NULL before the
 * command, when only the global options are valid.
 */
/* The options that belong to some commands only (enum command_flags). */
static const struct {
	int code;
	unsigned need;
	const char *spelled;
} main_command_options[] = {
	{OPT_EXPECT_REVISION, COMMAND_EXPECT_REVISION, "--expect-revision"},
	{OPT_COUNT, COMMAND_COUNT, "--count"},
	{OPT_PREFIX, COMMAND_PREFIX, "--prefix"},
	{OPT_LIMIT, COMMAND_PAGE, "--limit"},
	{OPT_AFTER, COMMAND_PAGE, "--after"},
	{OPT_MERGE, COMMAND_MERGE, "--merge"},
	{OPT_PARAMS, COMMAND_SERVE, "--params"},
	{OPT_RESULT, COMMAND_SERVE, "--result"},
	{OPT_JOBS, COMMAND_SERVE, "--jobs"},
	{OPT_STRING, COMMAND_VALUE, "--string"},
	{OPT_VALUE_JSON, COMMAND_VALUE, "--json"},
	{OPT_FILE, COMMAND_VALUE, "--file"},
	{OPT_EPHEMERAL, COMMAND_VALUE, "--ephemeral"},
	{OPT_AFTER_REVISION, COMMAND_RESUME, "--after-revision"},
	{OPT_RECONNECT, COMMAND_RESUME, "--reconnect"},
};

static int main_option(struct ctl *c, int code, const char *value)
{
	unsigned need = 0;
	const char *spelled = "";

	for (size_t i = 0; i < sizeof(main_command_options) / sizeof(main_command_options[0]); i++) {
		if (main_command_options[i].code == code) {
			need = main_command_options[i].need;
			spelled = main_command_options[i].spelled;
		}
	}

	if (need && !(c->cmd && c->cmd->flags & need)) {
		if (c->cmd)
			return commands_usage_error(c->cmd, "%s is not an option of %s", spelled,
						    c->cmd->name);
		fprintf(stderr, CTL_PROG ": %s belongs after its command\n", spelled);
		return main_try_help();
	}
	switch (code) {
	case 's':
		/* An empty path is a mistake (an unset variable), never "the default". */
		if (!*value) {
			fprintf(stderr, CTL_PROG ": -s: empty socket path\n");
			return main_try_help();
		}
		c->socket = value;
		return 0;
	case 'j':
		c->json = true;
		return 0;
	case 'q':
		c->quiet = true;
		return 0;
	case 't':
		/* After serve, the timeout of each command it runs; before, the daemon's. */
		if (c->cmd && c->cmd->flags & COMMAND_SERVE)
			return main_timeout(&c->command_timeout_ms, value);
		return main_timeout(&c->timeout_ms, value);
	case OPT_PARAMS:
		c->params_schema = value;
		return 0;
	case OPT_RESULT:
		c->result_schema = value;
		return 0;
	case OPT_JOBS:
		return main_jobs(c, value);
	case OPT_EXPECT_REVISION:
		c->expect_revision = value;
		return 0;
	case OPT_COUNT:
		return main_count(c, value);
	case OPT_PREFIX:
		c->prefix = value;
		return 0;
	case OPT_LIMIT:
		c->limit = value; /* the daemon checks it (1-10000) */
		return 0;
	case OPT_AFTER:
		c->after = value;
		return 0;
	case OPT_MERGE:
		c->merge = true;
		return 0;
	case OPT_STRING:
	case OPT_VALUE_JSON:
		if (code == OPT_STRING ? c->value_json : c->value_string)
			return commands_usage_error(c->cmd, "--string and --json exclude each other");
		c->value_string = code == OPT_STRING;
		c->value_json = code == OPT_VALUE_JSON;
		return 0;
	case OPT_FILE:
		c->value_file = value;
		return 0;
	case OPT_EPHEMERAL:
		c->ephemeral = true;
		return 0;
	case OPT_AFTER_REVISION:
		return main_after_revision(c, value);
	case OPT_RECONNECT:
		c->reconnect = true;
		return 0;
	}
	return CTL_EXIT_USAGE;
}

/* True for "-5", "-1.5e3": a negative number is a value, not an option. */
static bool main_is_number(const char *arg)
{
	return arg[0] == '-' && (arg[1] >= '0' && arg[1] <= '9');
}

/*
 * The words after the command: its positional arguments, and options
 * anywhere among them as getopt_long would take them, except that a
 * negative number is a value and "--" ends the options. (getopt itself
 * would read "set k -5" as an unknown option -5.)
 */
static int main_command_args(struct ctl *c, int argc, char **argv, bool *ret_help)
{
	bool options = true;
	int r;

	c->args = argv;
	c->nargs = 0;
	for (int i = 0; i < argc; i++) {
		char *arg = argv[i];

		if (!options || arg[0] != '-' || !arg[1] || main_is_number(arg)) {
			argv[c->nargs++] = arg; /* compacting in place: nargs <= i */
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options = false;
			continue;
		}
		if (arg[1] == '-') {
			const char *name = arg + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct option *o = main_options;
			while (o->name && (strlen(o->name) != len || strncmp(o->name, name, len)))
				o++;
			if (!o->name)
				return commands_usage_error(c->cmd,
							    "unknown option '%s' (put -- before a "
							    "value that starts with '-')",
							    arg);
			if (o->val == 'h') {
				*ret_help = true;
				continue;
			}
			if (o->val == OPT_VERSION)
				return commands_usage_error(c->cmd,
							    "--version goes before the command");
			/* After set (CLI.md), --json says what VALUE is; -j still
			 * means JSON output there, as --json before the command. */
			if (o->val == 'j' && c->cmd->flags & COMMAND_VALUE) {
				if ((r = main_option(c, OPT_VALUE_JSON, NULL)))
					return r;
				continue;
			}
			const char *value = NULL;
			if (o->has_arg == required_argument) {
				if (eq)
					value = eq + 1;
				else if (i + 1 < argc)
					value = argv[++i];
				else
					return commands_usage_error(c->cmd, "--%s needs a value",
								    o->name);
			} else if (eq) {
				return commands_usage_error(c->cmd, "--%s takes no value", o->name);
			}
			if ((r = main_option(c, o->val, value)))
				return r;
			continue;
		}
		/* Short options, clustered as getopt allows: -jq, -t100, -t 100. */
		for (const char *p = arg + 1; *p; p++) {
			if (*p == 'h') {
				*ret_help = true;
				continue;
			}
			if (!strchr("sjtq", *p))
				return commands_usage_error(c->cmd,
							    "unknown option '-%c' (put -- before a "
							    "value that starts with '-')",
							    *p);
			const char *value = NULL;
			if (*p == 's' || *p == 't') {
				if (p[1])
					value = p + 1;
				else if (i + 1 < argc)
					value = argv[++i];
				else
					return commands_usage_error(c->cmd, "-%c needs a value",
								    *p);
			}
			if ((r = main_option(c, *p, value)))
				return r;
			if (value)
				break;
		}
	}
	/* NULL-terminated like argv (the rest past nargs is stale): serve execs args + 1. */
	argv[c->nargs] = NULL;
	return 0;
}

/* The required argument names of a usage string, for "missing KEY". */
static void main_missing(const struct command *cmd, int have, char *buf, size_t len)
{
	const char *p = cmd->args;
	int n = 0;

	snprintf(buf, len, "argument");
	while (*p) {
		size_t w = strcspn(p, " ");
		if (*p != '[' && n++ == have) {
			snprintf(buf, len, "%.*s", (int)w, p);
			return;
		}
		p += w + strspn(p + w, " ");
	}
}

static int main_arity(const struct ctl *c)
{
	const struct command *cmd = c->cmd;
	char missing[64];

	/* unset --prefix P names no KEY (watch's --prefix only filters its topics). */
	if (c->prefix && cmd->min_args > 0 && c->nargs > 0)
		return commands_usage_error(cmd, "--prefix takes the place of KEY; got '%s' too",
					    c->args[0]);
	if (c->prefix && cmd->min_args > 0)
		return 0;
	/* set KEY --file F: the file takes the place of VALUE. */
	if (c->value_file && c->nargs != 1)
		return c->nargs ? commands_usage_error(cmd, "--file takes the place of VALUE; got '%s' too",
						       c->args[1])
				: commands_usage_error(cmd, "missing KEY");
	if (c->value_file)
		return 0;
	if (c->nargs < cmd->min_args) {
		main_missing(cmd, c->nargs, missing, sizeof(missing));
		return commands_usage_error(cmd, "missing %s", missing);
	}
	if (cmd->max_args >= 0 && c->nargs > cmd->max_args)
		return commands_usage_error(cmd, "unexpected argument '%s'",
					    c->args[cmd->max_args]);
	return 0;
}

static int main_unknown_command(const char *name)
{
	fprintf(stderr, CTL_PROG ": unknown command '%s'; the commands are:", name);
	for (size_t i = 0; i < commands_count; i++)
		fprintf(stderr, " %s", commands_table[i].name);
	fputc('\n', stderr);
	return main_try_help();
}

static int main_run(struct ctl *c, int argc, char **argv)
{
	bool help = false;
	int opt, r;

	c->timeout_ms = 5000;
	c->jobs = 1;
	c->command_timeout_ms = 25000;
	opterr = 0; /* our messages, not getopt's (which name argv[0]) */
	while ((opt = getopt_long(argc, argv, "+:s:jt:qh", main_options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			help = true;
			break;
		case OPT_VERSION:
			printf(CTL_PROG " %s\n", UDSRPC_VERSION);
			return CTL_EXIT_OK;
		case ':':
			fprintf(stderr, CTL_PROG ": %s needs a value\n", argv[optind - 1]);
			return main_try_help();
		case '?':
			if (optopt)
				fprintf(stderr, CTL_PROG ": unknown option '-%c'\n", optopt);
			else
				fprintf(stderr, CTL_PROG ": unknown option '%s'\n",
					argv[optind - 1]);
			return main_try_help();
		default:
			if ((r = main_option(c, opt, optarg)))
				return r;
		}
	}
	if (optind == argc) {
		if (help) {
			commands_help(stdout);
			return CTL_EXIT_OK;
		}
		fprintf(stderr, CTL_PROG ": no command given\n");
		return main_try_help();
	}
	if (!(c->cmd = commands_find(argv[optind])))
		return main_unknown_command(argv[optind]);
	if ((r = main_command_args(c, argc - optind - 1, argv + optind + 1, &help)))
		return r;
	c->out = c->json ? &output_json : &output_human;
	if (help) {
		/* "udsrpcctl set -h" is "udsrpcctl help set". */
		static char *name[1];
		name[0] = (char *)c->cmd->name;
		c->args = name;
		c->nargs = 1;
		c->cmd = commands_find("help");
		return c->cmd->exec(c);
	}
	if ((r = main_arity(c)))
		return r;
	/* Without -s the library resolves the default path (and checks who serves it). */
	return c->cmd->exec ? c->cmd->exec(c) : commands_call(c);
}

int main(int argc, char **argv)
{
	struct ctl c = {.out = &output_human, .after_revision = -1};
	int r = main_run(&c, argc, argv);

	/* Output that could not be written is an I/O error, even after a good reply. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, CTL_PROG ": writing output: %s\n", strerror(errno));
		if (r == CTL_EXIT_OK)
			r = CTL_EXIT_IO;
	}
	return r;
}
