/* commands.c — the command table: params builders, human printers, help made from the table. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "jsonnum.h"
#include "ctl.h"
#include "output.h"
#include "serve.h"
#include "stream.h"
#include "table.h"

/* ---- params builders ---- */

/*
 * text (len bytes) as JSON, or NULL with *e saying why. Here and wherever
 * udsrpcctl reads a value, "\u0000" is a string's NUL, as the daemon holds
 * it: refused, "a\u0000b" would go out as its own text, silently.
 */
static json_t *commands_json(const char *text, size_t len, json_error_t *e)
{
	json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, e);

	if (!v && json_error_code(e) == json_error_numeric_overflow &&
	    (v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
			     NULL))) {
		/* Valid JSON out of int64: sent as written, for the daemon to refuse. */
		json_decref(v);
		return session_verbatim(text, len);
	}
	return v;
}

json_t *commands_value(const char *text)
{
	json_error_t e;
	json_t *v = commands_json(text, strlen(text), &e);

	return v ? v : json_string(text);
}

/* Positional argument i as a JSON string; a usage error when it is not UTF-8. */
static int commands_string(struct ctl *c, int i, const char *what, json_t **ret)
{
	*ret = json_string(c->args[i]);
	if (!*ret)
		return commands_usage_error(c->cmd, "%s is not valid UTF-8", what);
	return 0;
}

static int commands_key_params(struct ctl *c, json_t **ret)
{
	json_t *key, *params;
	int r;

	*ret = NULL;
	if ((r = commands_string(c, 0, "KEY", &key)))
		return r;
	params = json_pack("{s:o}", "key", key);
	if (!params)
		return output_nomem();
	if (c->cmd->flags & COMMAND_EXPECT_REVISION && c->expect_revision) {
		/* The daemon checks the value; we only carry it over. */
		json_t *rev = commands_value(c->expect_revision);
		if (!rev) {
			json_decref(params);
			return commands_usage_error(c->cmd, "--expect-revision is not valid UTF-8");
		}
		json_object_set_new(params, "expect_revision", rev);
	}
	*ret = params;
	return 0;
}

/* A message can be no larger (udsrpc(7) max_message_bytes, its default). */
#define COMMANDS_FILE_MAX (1u << 20)

/*
 * set --file F: the file's bytes exactly (no newline taken off: a value
 * from a file is the file), F "-" for stdin; *ret malloc'd, NUL-terminated.
 */
static int commands_read_file(struct ctl *c, char **ret, size_t *ret_len)
{
	const char *path = c->value_file;
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = malloc(COMMANDS_FILE_MAX + 2);
	size_t n = 0, got;
	int err;

	if (!f || !buf) {
		err = errno;
		free(buf);
		if (f && f != stdin)
			fclose(f);
		return f ? output_nomem()
			 : commands_usage_error(c->cmd, "cannot open %s: %s", path, strerror(err));
	}
	while (n <= COMMANDS_FILE_MAX && (got = fread(buf + n, 1, COMMANDS_FILE_MAX + 1 - n, f)) > 0)
		n += got;
	err = ferror(f) ? errno : 0;
	if (f != stdin)
		fclose(f);
	if (err || n > COMMANDS_FILE_MAX) {
		free(buf);
		return err ? commands_usage_error(c->cmd, "cannot read %s: %s", path, strerror(err))
			   : commands_usage_error(c->cmd, "%s is larger than a message may be (%u bytes)",
						  path, COMMANDS_FILE_MAX);
	}
	buf[n] = '\0';
	*ret = buf;
	*ret_len = n;
	return 0;
}

/*
 * set KEY VALUE: JSON if it parses, else a string; --string: always the
 * string; --json: JSON or a usage error; --file F: VALUE is F's content.
 */
static int commands_set_params(struct ctl *c, json_t **ret)
{
	const char *what = c->value_file ? c->value_file : "VALUE";
	char *text = c->args[c->nargs - 1];
	size_t len = 0;
	json_t *value = NULL;
	json_error_t jerr;
	int r;

	*ret = NULL;
	if (c->value_file && (r = commands_read_file(c, &text, &len)))
		return r;
	if (!c->value_file)
		len = strlen(text);
	if (!c->value_string)
		value = commands_json(text, len, &jerr);
	if (!value && c->value_json)
		r = commands_usage_error(c->cmd, "%s is not JSON: %s (line %d, column %d)", what,
					 jerr.text, jerr.line, jerr.column);
	else if (!value && !(value = json_stringn(text, len)))
		r = commands_usage_error(c->cmd, "%s is not valid UTF-8", what);
	else
		r = commands_key_params(c, ret);
	if (r == 0) {
		json_object_set_new(*ret, "value", value);
		if (c->ephemeral)
			json_object_set_new(*ret, "ephemeral", json_true());
		value = NULL;
	}
	json_decref(value);
	if (c->value_file)
		free(text);
	return r;
}

/* list [PREFIX] [--limit N] [--after KEY]: a page when asked for, else everything. */
static int commands_list_params(struct ctl *c, json_t **ret)
{
	json_t *prefix, *v;
	int r;

	*ret = NULL;
	if (c->nargs == 0 && !c->limit && !c->after)
		return 0;
	if (!(*ret = json_object()))
		return output_nomem();
	if (c->nargs > 0) {
		if ((r = commands_string(c, 0, "PREFIX", &prefix)))
			return r;
		json_object_set_new(*ret, "prefix", prefix);
	}
	/* Values go as given (a number if it parses): the daemon checks them. */
	if (c->limit && (v = commands_value(c->limit)))
		json_object_set_new(*ret, "limit", v);
	if (c->after && (v = json_string(c->after)))
		json_object_set_new(*ret, "after", v);
	return 0;
}

/* unset KEY [--expect-revision N] or unset --prefix PREFIX. */
static int commands_unset_params(struct ctl *c, json_t **ret)
{
	json_t *prefix;

	if (!c->prefix)
		return commands_key_params(c, ret);
	*ret = NULL;
	if (c->expect_revision)
		return commands_usage_error(c->cmd, "--expect-revision is for one KEY, not a --prefix");
	if (!(prefix = json_string(c->prefix)))
		return commands_usage_error(c->cmd, "PREFIX is not valid UTF-8");
	*ret = json_pack("{s:o}", "prefix", prefix);
	return *ret ? 0 : output_nomem();
}

static int commands_level_params(struct ctl *c, json_t **ret)
{
	json_t *level;
	int r;

	*ret = NULL;
	if ((r = commands_string(c, 0, "LEVEL", &level)))
		return r;
	*ret = json_pack("{s:o}", "level", level);
	return *ret ? 0 : output_nomem();
}

static int commands_watch_params(struct ctl *c, json_t **ret)
{
	static const char *const all[] = {"config", "peer", "daemon"};
	json_t *topics = json_array();

	*ret = NULL;
	if (!topics)
		return output_nomem();
	for (int i = 0; i < (c->nargs ? c->nargs : 3); i++) {
		json_t *t = json_string(c->nargs ? c->args[i] : all[i]);
		if (!t) {
			json_decref(topics);
			return commands_usage_error(c->cmd, "TOPIC is not valid UTF-8");
		}
		json_array_append_new(topics, t);
	}
	*ret = json_pack("{s:o}", "topics", topics);
	if (*ret && c->prefix)
		json_object_set_new(*ret, "prefix", json_string(c->prefix));
	if (*ret && c->after_revision >= 0)
		json_object_set_new(*ret, "after_revision", json_integer(c->after_revision));
	return *ret ? 0 : output_nomem();
}

static int commands_call_params(struct ctl *c, json_t **ret)
{
	json_error_t jerr;

	*ret = NULL;
	/* The method name goes into the request as a JSON string. */
	json_t *method = json_string(c->args[0]);
	if (!method)
		return commands_usage_error(c->cmd, "METHOD is not valid UTF-8");
	json_decref(method);
	if (c->nargs < 2)
		return 0;
	/* Unlike a config VALUE there is no string fallback: params are an
	 * object or an array, and a typo must not go out as something else. */
	*ret = json_loads(c->args[1], JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!*ret)
		return commands_usage_error(c->cmd, "PARAMS_JSON is not JSON: %s (column %d)",
					    jerr.text, jerr.column);
	return 0;
}

/*
 * txn [JSON]: the params of config.txn from the argument, or from stdin
 * when there is none. Like call's PARAMS_JSON it must parse: a transaction
 * that went out as something else would change the wrong things.
 */
static int commands_txn_params(struct ctl *c, json_t **ret)
{
	json_error_t jerr;

	*ret = c->nargs ? json_loads(c->args[0], JSON_ALLOW_NUL, &jerr)
			 : json_loadf(stdin, JSON_ALLOW_NUL, &jerr);
	if (!*ret)
		return commands_usage_error(c->cmd, "the transaction is not a JSON object: %s "
						    "(line %d, column %d)",
					    jerr.text, jerr.line, jerr.column);
	return 0;
}

/* The text of restore's items, built as it reads: no tree of them all to build and dump. */
struct items_text {
	char *p;
	size_t len, cap;
};

static bool items_reserve(struct items_text *t, size_t n)
{
	size_t cap = t->cap ? t->cap : 65536;
	char *p;

	if (t->cap - t->len >= n)
		return true;
	while (cap - t->len < n)
		cap *= 2;
	if (!(p = realloc(t->p, cap)))
		return false;
	t->p = p;
	t->cap = cap;
	return true;
}

static bool items_put(struct items_text *t, const char *s)
{
	size_t n = strlen(s);

	if (!items_reserve(t, n))
		return false;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	return true;
}

/* v as compact JSON, as the request line would have carried it. */
static bool items_json(struct items_text *t, const json_t *v)
{
	const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
	size_t n = jsonnum_dumpb(v, t->p + t->len, t->cap - t->len, flags);

	if (n > t->cap - t->len && items_reserve(t, n))
		n = jsonnum_dumpb(v, t->p + t->len, t->cap - t->len, flags);
	if (n == 0 || n > t->cap - t->len)
		return false;
	t->len += n;
	return true;
}

/*
 * restore [--merge] [FILE]: the lines dump wrote (one item per line; blank
 * lines skipped), from FILE, or stdin for none or "-". Only key and value
 * go out: the rest of an item is the store's to give. The items go as
 * text (session_verbatim), written line by line: a restore of 100,000
 * keys spent a third of its time building and dumping their tree.
 */
static int commands_restore_params(struct ctl *c, json_t **ret)
{
	const char *path = c->nargs ? c->args[0] : "-";
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	struct items_text t = {0};
	json_t *items = NULL;
	char *line = NULL;
	size_t cap = 0, n = 0, count = 0;
	ssize_t len;
	bool ok;
	int r = 0;

	*ret = NULL;
	if (!f)
		return commands_usage_error(c->cmd, "cannot open %s", path);
	ok = items_put(&t, "[");
	while (ok && r == 0 && (len = getline(&line, &cap, f)) >= 0) {
		json_error_t jerr;
		json_t *it;

		n++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		it = json_loads(line, JSON_ALLOW_NUL, &jerr);
		if (!it || !json_is_string(json_object_get(it, "key")) ||
		    !json_object_get(it, "value"))
			r = commands_usage_error(c->cmd, "%s line %zu is not an item of dump "
							 "({\"key\",\"value\",...})",
						 path, n);
		else
			ok = items_put(&t, count++ ? ",{\"key\":" : "{\"key\":") &&
			     items_json(&t, json_object_get(it, "key")) &&
			     items_put(&t, ",\"value\":") &&
			     items_json(&t, json_object_get(it, "value")) && items_put(&t, "}");
		json_decref(it);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (r == 0 && ok && items_put(&t, "]"))
		items = session_verbatim(t.p, t.len);
	free(t.p);
	if (r)
		return r;
	if (!items)
		return output_nomem();
	*ret = json_pack("{s:o,s:s}", "items", items, "mode", c->merge ? "merge" : "replace");
	return *ret ? 0 : output_nomem();
}

/* ---- human printers ---- */

static int commands_print_table(struct table *t, const char *sep)
{
	int r = table_print(t, stdout, sep);
	table_free(t);
	return r < 0 ? output_nomem() : 0;
}

static int commands_ping_human(struct ctl *c, const json_t *result)
{
	char *text = output_text(result);

	if (!text)
		return output_nomem();
	printf("%s (%.2f ms)\n", text, c->rtt_ms);
	free(text);
	return 0;
}

/* "1d 02h 03m 04s", down to "4.2s": an uptime a person can read at a glance. */
static void commands_duration(struct table *t, long long ms)
{
	long long s = ms / 1000, d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (s < 60)
		table_cellf(t, "%.1fs", (double)ms / 1000);
	else if (d)
		table_cellf(t, "%lldd %02lldh %02lldm %02llds", d, h, m, s % 60);
	else if (h)
		table_cellf(t, "%lldh %02lldm %02llds", h, m, s % 60);
	else
		table_cellf(t, "%lldm %02llds", m, s % 60);
}

/* Aligned "key: value" lines, one per member, in the daemon's order. */
static int commands_kv_human(struct ctl *c, const json_t *result)
{
	struct table t;
	const char *key;
	json_t *v;

	if (table_init(&t, 2, NULL, NULL) < 0)
		return output_nomem();
	json_object_foreach((json_t *)result, key, v) {
		if (strcmp(key, "uptime_ms") == 0 && json_is_integer(v)) {
			table_cell(&t, "uptime");
			commands_duration(&t, json_integer_value(v));
			continue;
		}
		table_cell(&t, key);
		table_cell_take(&t, output_text(v));
	}
	return commands_print_table(&t, ":");
}

static long long commands_int(const json_t *obj, const char *a, const char *b)
{
	const json_t *v = json_object_get(obj, a);
	if (b)
		v = json_object_get(v, b);
	return json_integer_value(v);
}

static int commands_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int commands_stats_human(struct ctl *c, const json_t *result)
{
	static const char *const head[] = {"METHOD", "CALLS",	"ERRORS", "DENIED",
					   "P50_US", "P99_US", "MAX_US"};
	static const bool right[] = {false, true, true, true, true, true, true};
	const json_t *methods = json_object_get(result, "methods");
	size_t n = json_object_size(methods), i = 0;
	const char **names = calloc(n + 1, sizeof(*names));
	struct table t;
	const char *key;
	json_t *v;
	int r;

	if (!names || table_init(&t, 2, NULL, NULL) < 0) {
		free(names);
		return output_nomem();
	}
	table_cell(&t, "connections");
	table_cellf(&t, "%lld current, %lld peak, %lld accepted, %lld rejected",
		    commands_int(result, "connections", "current"),
		    commands_int(result, "connections", "peak"),
		    commands_int(result, "connections", "accepted"),
		    commands_int(result, "connections", "rejected"));
	table_cell(&t, "requests");
	table_cellf(&t, "%lld total, %lld errors, %lld denied",
		    commands_int(result, "requests", "total"),
		    commands_int(result, "requests", "errors"),
		    commands_int(result, "requests", "denied"));
	table_cell(&t, "bytes");
	table_cellf(&t, "%lld in, %lld out", commands_int(result, "bytes", "in"),
		    commands_int(result, "bytes", "out"));
	if (json_object_get(result, "store")) { /* udsrpcd's; other services have none */
		table_cell(&t, "store");
		table_cellf(&t, "%lld items, %lld bytes", commands_int(result, "store", "items"),
			    commands_int(result, "store", "bytes"));
	}
	if ((r = commands_print_table(&t, ":"))) {
		free(names);
		return r;
	}

	if (table_init(&t, 7, head, right) < 0) {
		free(names);
		return output_nomem();
	}
	json_object_foreach((json_t *)methods, key, v)
		names[i++] = key;
	qsort(names, n, sizeof(*names), commands_cmp_str);
	for (i = 0; i < n; i++) {
		const json_t *m = json_object_get(methods, names[i]);
		table_cell(&t, names[i]);
		table_cellf(&t, "%lld", commands_int(m, "calls", NULL));
		table_cellf(&t, "%lld", commands_int(m, "errors", NULL));
		table_cellf(&t, "%lld", commands_int(m, "denied", NULL));
		table_cellf(&t, "%lld", commands_int(m, "latency_us", "p50"));
		table_cellf(&t, "%lld", commands_int(m, "latency_us", "p99"));
		table_cellf(&t, "%lld", commands_int(m, "latency_us", "max"));
	}
	free(names);
	putchar('\n');
	return commands_print_table(&t, NULL);
}

static int commands_peers_human(struct ctl *c, const json_t *result)
{
	static const char *const head[] = {"ID",   "UID",	   "GID",      "PID",	 "USER",
					   "COMM", "CONNECTED", "REQUESTS", "TOPICS", "EXE"};
	static const char *const member[] = {"id",   "uid",	"gid",	    "pid",    "user",
					     "comm", "connected", "requests", "topics", "exe"};
	static const bool right[] = {true,  true,  true, true,	false,
				     false, false, true, false, false};
	const json_t *peers = json_object_get(result, "peers");
	struct table t;
	size_t i;
	json_t *p;

	if (table_init(&t, 10, head, right) < 0)
		return output_nomem();
	json_array_foreach(peers, i, p) {
		for (size_t k = 0; k < 10; k++)
			table_cell_take(&t, output_text(json_object_get(p, member[k])));
	}
	return commands_print_table(&t, NULL);
}

static int commands_methods_human(struct ctl *c, const json_t *result)
{
	const json_t *methods = json_object_get(result, "methods");
	struct table t;
	size_t i;
	json_t *m;

	if (table_init(&t, 2, NULL, NULL) < 0)
		return output_nomem();
	json_array_foreach(methods, i, m) {
		table_cell(&t, json_string_value(json_object_get(m, "name")));
		table_cell(&t, json_string_value(json_object_get(m, "summary")));
	}
	return commands_print_table(&t, NULL);
}

static int commands_get_human(struct ctl *c, const json_t *result)
{
	return output_value(stdout, json_object_get(result, "value"));
}

static int commands_revision_human(struct ctl *c, const json_t *result)
{
	if (json_object_get(result, "count"))
		printf("removed %lld keys, revision %lld\n", commands_int(result, "count", NULL),
		       commands_int(result, "revision", NULL));
	else
		printf("revision %lld\n", commands_int(result, "revision", NULL));
	return 0;
}

static int commands_list_human(struct ctl *c, const json_t *result)
{
	const json_t *items = json_object_get(result, "items");
	size_t i;
	json_t *item;
	int r;

	json_array_foreach(items, i, item) {
		fputs(json_string_value(json_object_get(item, "key")), stdout);
		putchar('\t');
		if ((r = output_value_escaped(stdout, json_object_get(item, "value"))))
			return r;
	}
	return 0;
}

/* "succeeded revision N" (or "failed ..."), then each result: a get's value as get prints it. */
static int commands_txn_human(struct ctl *c, const json_t *result)
{
	const json_t *res;
	size_t i;
	int r;

	printf("%s revision %lld\n",
	       json_is_true(json_object_get(result, "succeeded")) ? "succeeded" : "failed",
	       commands_int(result, "revision", NULL));
	json_array_foreach(json_object_get(result, "results"), i, res) {
		if (json_is_null(res))
			r = (puts("null") < 0);
		else if (json_object_get(res, "value"))
			r = output_value(stdout, json_object_get(res, "value"));
		else
			r = printf("%s revision %lld\n", json_string_value(json_object_get(res, "key")),
				   commands_int(res, "revision", NULL)) < 0;
		if (r)
			return r;
	}
	return 0;
}

/* dump: one compact item per line, as restore reads them back. */
static int commands_dump_human(struct ctl *c, const json_t *result)
{
	const json_t *item;
	size_t i;
	int r;

	json_array_foreach(json_object_get(result, "items"), i, item)
		if ((r = output_json_line(stdout, item, false)))
			return r;
	return 0;
}

static int commands_restore_human(struct ctl *c, const json_t *result)
{
	printf("restored %lld keys, revision %lld\n", commands_int(result, "count", NULL),
	       commands_int(result, "revision", NULL));
	return 0;
}

static int commands_call_human(struct ctl *c, const json_t *result)
{
	return output_json_line(stdout, result, isatty(STDOUT_FILENO));
}

static int commands_reload_human(struct ctl *c, const json_t *result)
{
	printf("reloaded: %lld policy rules\n", commands_int(result, "policy_rules", NULL));
	return 0;
}

static int commands_shutdown_human(struct ctl *c, const json_t *result)
{
	printf("udsrpcd is stopping\n");
	return 0;
}

static int commands_level_human(struct ctl *c, const json_t *result)
{
	printf("log level: %s\n", json_string_value(json_object_get(result, "level")));
	return 0;
}

/* ---- help: from the table, as JSON (-j) or text ---- */

static json_t *commands_describe(const struct command *cmd)
{
	char *usage = NULL;
	json_t *j;

	if (asprintf(&usage, "%s%s%s", cmd->name, *cmd->args ? " " : "", cmd->args) < 0)
		return NULL;
	j = json_pack("{s:s,s:s,s:s,s:s?}", "name", cmd->name, "usage", usage, "summary",
		      cmd->about, "method", cmd->method);
	free(usage);
	return j;
}

static int commands_help_exec(struct ctl *c)
{
	const struct command *cmd = NULL;
	json_t *desc;
	int r;

	if (c->nargs && !(cmd = commands_find(c->args[0]))) {
		fprintf(stderr, CTL_PROG ": help: unknown command '%s'; see " CTL_PROG " help\n",
			c->args[0]);
		return CTL_EXIT_USAGE;
	}
	if (cmd) {
		desc = commands_describe(cmd);
	} else {
		desc = json_array();
		for (size_t i = 0; desc && i < commands_count; i++)
			json_array_append_new(desc, commands_describe(&commands_table[i]));
	}
	if (!desc)
		return output_nomem();
	r = c->out->result(c, desc);
	json_decref(desc);
	return r;
}

static void commands_usage_line(FILE *f, const struct command *cmd)
{
	fprintf(f, "usage: " CTL_PROG " [OPTIONS] %s%s%s\n", cmd->name, *cmd->args ? " " : "",
		cmd->args);
}

static int commands_help_human(struct ctl *c, const json_t *result)
{
	const struct command *cmd;

	if (json_is_array(result)) {
		commands_help(stdout);
		return 0;
	}
	cmd = commands_find(json_string_value(json_object_get(result, "name")));
	commands_usage_line(stdout, cmd);
	/* The list's lower-case phrase, as a sentence. */
	printf("\n%c%s.\n", toupper((unsigned char)cmd->about[0]), cmd->about + 1);
	if (cmd->help)
		printf("%s\n", cmd->help);
	if (cmd->method)
		printf("Calls %s.\n", cmd->method);
	return 0;
}

void commands_help(FILE *f)
{
	struct table t;

	fprintf(f, "usage: " CTL_PROG " [-s PATH] [-j|--json] [-t|--timeout MS] [-q] COMMAND "
		   "[ARG...]\n\n"
		   "Control udsrpcd over its Unix socket.\n\nCommands:\n");
	if (table_init(&t, 2, NULL, NULL) == 0) {
		for (size_t i = 0; i < commands_count; i++) {
			const struct command *cmd = &commands_table[i];
			table_cellf(&t, "  %s%s%s", cmd->name, *cmd->args ? " " : "", cmd->args);
			table_cell(&t, cmd->about);
		}
		table_print(&t, f, NULL);
		table_free(&t);
	}
	fprintf(f,
		"\nOptions:\n"
		"  -s, --socket PATH   the daemon's socket (default: $UDSRPC_SOCKET,\n"
		"                      $RUNTIME_DIRECTORY/udsrpcd.sock, /run/udsrpcd.sock\n"
		"                      as root, $XDG_RUNTIME_DIR/udsrpcd.sock,\n"
		"                      /tmp/udsrpcd-$UID.sock)\n"
		"  -j, --json          print the JSON result, compact on one line\n"
		"  -t, --timeout MS    give up after MS milliseconds (default 5000; 0: never);\n"
		"                      watch waits for events without a timeout\n"
		"  -q, --quiet         no output on success from ping, set, unset, reload,\n"
		"                      shutdown and log-level\n"
		"  -h, --help          this text; " CTL_PROG " help COMMAND for one command\n"
		"      --version       print the version\n"
		"\n"
		"Options may also follow the command (" CTL_PROG " get KEY -j). An argument\n"
		"that starts with '-' and is not a number needs -- before it\n"
		"(" CTL_PROG " set -- -key value); negative numbers need none.\n"
		"\n"
		"Exit status: 0 success; 1 the daemon answered an error; 2 usage error;\n"
		"3 cannot connect, I/O error or timeout; 4 permission denied.\n");
}

/* Items per config.list while paging (the daemon allows 1-10000). */
#define COMMANDS_PAGE 1000
/* dump: how many times a store that changed between pages is read again. */
#define COMMANDS_DUMP_TRIES 5

/*
 * One read of every item under PREFIX, COMMANDS_PAGE at a time, into
 * *ret_result ({"items","revision","more":false}; revision that of the
 * first page). consistent: every page must be at the first one's revision,
 * else *ret_changed and no result.
 */
static int commands_read_pages(struct ctl *c, bool consistent, json_t **ret_result,
			       bool *ret_changed)
{
	json_t *items = json_array(), *after = NULL, *prefix = NULL;
	json_int_t rev0 = -1;
	bool more = true;
	int r = 0;

	*ret_result = NULL;
	*ret_changed = false;
	if (c->nargs > 0 && (r = commands_string(c, 0, "PREFIX", &prefix)))
		goto out;
	while (items && more && !*ret_changed) {
		json_t *params = json_pack("{s:i,s:O*,s:O*}", "limit", COMMANDS_PAGE, "prefix",
					   prefix, "after", after),
		       *res = NULL, *page;
		json_int_t rev;

		if (!params) {
			r = output_nomem();
			goto out;
		}
		if ((r = session_call(&c->s, c->cmd->method, params, &res)))
			goto out;
		page = json_object_get(res, "items");
		rev = json_integer_value(json_object_get(res, "revision"));
		more = json_is_true(json_object_get(res, "more"));
		if (rev0 < 0)
			rev0 = rev;
		*ret_changed = consistent && rev != rev0;
		json_decref(after);
		after = json_incref(json_object_get(json_array_get(page, json_array_size(page) - 1),
						    "key"));
		/* more with an empty page would ask for the same page again. */
		if (!json_is_array(page) || (more && !after)) {
			json_decref(res);
			r = session_io_failed(&c->s, c->cmd->method, -EPROTO);
			goto out;
		}
		if (json_array_extend(items, page) < 0) {
			json_decref(res);
			r = output_nomem();
			goto out;
		}
		json_decref(res);
	}
	if (!items) {
		r = output_nomem();
		goto out;
	}
	if (!*ret_changed && !(*ret_result = json_pack("{s:O,s:I,s:b}", "items", items, "revision",
						      rev0, "more", 0)))
		r = output_nomem();
out:
	json_decref(items);
	json_decref(after);
	json_decref(prefix);
	return r;
}

/*
 * list without --limit or --after, and dump: every item, a page at a time
 * (one reply of a big store would pass what a line may be). dump's lines
 * must be consistent, at one revision: a store that changed between pages
 * is read again, and after COMMANDS_DUMP_TRIES it is an error (exit 1).
 */
static int commands_pages_exec(struct ctl *c)
{
	bool dump = strcmp(c->cmd->name, "dump") == 0, changed = true;
	json_t *result = NULL;
	int r, tries = 0;

	if (c->limit || c->after)
		return commands_call(c); /* the page asked for */
	if ((r = session_open(&c->s, c->socket, c->timeout_ms)))
		return r;
	c->s.json_errors = c->json;
	while (r == 0 && changed && tries++ < (dump ? COMMANDS_DUMP_TRIES : 1))
		r = commands_read_pages(c, dump, &result, &changed);
	if (r == 0 && changed) {
		fprintf(stderr,
			CTL_PROG ": %s: the store changed while it was read, %d times; nothing "
				 "printed (try again when writes pause)\n",
			c->cmd->name, COMMANDS_DUMP_TRIES);
		r = CTL_EXIT_ERROR;
	}
	if (r == 0)
		r = c->out->result(c, result);
	json_decref(result);
	session_close(&c->s);
	return r;
}

/* set: one call, or with --ephemeral one call and the connection held (stream.c). */
static int commands_set_exec(struct ctl *c)
{
	return c->ephemeral ? stream_hold(c) : commands_call(c);
}

/* ---- the table ---- */

const struct command commands_table[] = {
	{"ping", "", "check that the daemon answers, how fast", NULL, "ping", 0, 0,
	 COMMAND_QUIET, NULL, commands_ping_human, NULL},
	{"info", "", "the daemon's version, pid, socket, uptime", NULL, "daemon.info", 0,
	 0, 0, NULL, commands_kv_human, NULL},
	{"stats", "", "counters; calls and latency per method", NULL,
	 "daemon.stats", 0, 0, 0, NULL, commands_stats_human, NULL},
	{"whoami", "", "who the daemon thinks you are", NULL, "peer.whoami", 0, 0, 0, NULL,
	 commands_kv_human, NULL},
	{"peers", "", "the connected clients (admin)", NULL, "peer.list", 0, 0, 0, NULL,
	 commands_peers_human, NULL},
	{"methods", "", "the daemon's methods, with summaries", NULL, "rpc.discover", 0,
	 0, 0, NULL, commands_methods_human, NULL},
	{"get", "KEY", "print a value (strings raw, else JSON)", NULL,
	 "config.get", 1, 1, 0, commands_key_params, commands_get_human, NULL},
	{"set", "KEY VALUE [--expect-revision N] [--string | --json] [--file F] [--ephemeral]",
	 "set a value, durably (admin)",
	 "VALUE is taken as JSON if it parses as JSON (42, true, {\"a\":1}, \"quoted\"), else as\n"
	 "a string; --string: always as a string; --json: it must be JSON (exit 2 if not).\n"
	 "After set, --json is about VALUE; -j still prints the result as JSON.\n"
	 "--file F (- for stdin) reads VALUE from F, its bytes exactly, up to 1 MiB;\n"
	 "KEY is then the only argument. --expect-revision N makes the change only if\n"
	 "KEY's revision is N (0: only if KEY does not exist). Prints the new revision.\n"
	 "--ephemeral binds KEY to this connection: after the revision is printed the\n"
	 "command stays connected until SIGINT or SIGTERM (exit 0), and the daemon\n"
	 "removes KEY when it goes.",
	 "config.set", 2, 2, COMMAND_QUIET | COMMAND_EXPECT_REVISION | COMMAND_VALUE,
	 commands_set_params, commands_revision_human, commands_set_exec},
	{"unset", "KEY [--expect-revision N] | --prefix PREFIX", "remove a key, durably (admin)",
	 "--expect-revision N removes KEY only if its revision is N. Prints the new revision.\n"
	 "--prefix PREFIX removes every key that starts with it, as one revision, and\n"
	 "prints \"removed N keys, revision R\".",
	 "config.unset", 1, 1, COMMAND_QUIET | COMMAND_EXPECT_REVISION | COMMAND_PREFIX,
	 commands_unset_params, commands_revision_human, NULL},
	{"list", "[PREFIX] [--limit N] [--after KEY]", "KEY<TAB>VALUE lines, sorted by key",
	 "Only keys that start with PREFIX, when given. Values are printed as get prints them.\n"
	 "--limit N: at most N (1-10000) of them, starting after KEY with --after KEY;\n"
	 "without them every item, read 1000 at a time.",
	 "config.list", 0, 1, COMMAND_PAGE, commands_list_params, commands_list_human,
	 commands_pages_exec},
	{"txn", "[JSON]", "compare and change keys atomically (admin)",
	 "JSON (from the argument, or stdin without one) is config.txn's params:\n"
	 "{\"compare\":[{\"key\":K,\"revision\"|\"version\"|\"value\"|\"exists\":X}...],\n"
	 " \"success\":[{\"op\":\"get\"|\"set\"|\"unset\",\"key\":K,\"value\":V}...],\"failure\":[...]}.\n"
	 "Prints \"succeeded revision N\" (or \"failed\"), then one line per result: a get's\n"
	 "value as get prints it (null when absent), \"KEY revision N\" for a set or unset.",
	 "config.txn", 0, 1, 0, commands_txn_params, commands_txn_human, NULL},
	{"dump", "[PREFIX]", "every item as one JSON line, for restore",
	 "The keys under PREFIX (all without it), read 1000 at a time, all at one\n"
	 "revision so that the lines are consistent: a store that changes meanwhile is\n"
	 "read again, and after 5 tries it is an error (exit 1). Each line is a compact\n"
	 "item {\"key\",\"value\",...}.",
	 "config.list", 0, 1, 0, commands_list_params, commands_dump_human, commands_pages_exec},
	{"restore", "[--merge] [FILE]", "load what dump wrote (admin)",
	 "Reads FILE (stdin without one, or -): the store becomes exactly those items,\n"
	 "or with --merge they are set over it; one revision. Prints\n"
	 "\"restored N keys, revision R\".",
	 "config.restore", 0, 1, COMMAND_MERGE, commands_restore_params, commands_restore_human,
	 NULL},
	{"watch", "[TOPIC...] [--count N] [--prefix P] [--after-revision N] [--reconnect]",
	 "print events, one JSON line each",
	 "TOPICs: config, peer, daemon (default: all three). Runs until Ctrl-C or\n"
	 "SIGTERM (exit 0), or until N events were printed. --prefix P: config\n"
	 "events of keys under P only. --after-revision N: first the changes after\n"
	 "revision N the daemon still keeps (N: the revision a config.list answered),\n"
	 "then live ones. --reconnect: when the daemon goes away or\n"
	 "cuts the watch off as a slow reader, reconnect with backoff and resume\n"
	 "after the last revision seen; exit 1 if its history no longer has it.",
	 "events.subscribe", 0, -1, COMMAND_COUNT | COMMAND_PREFIX | COMMAND_RESUME,
	 commands_watch_params, NULL, stream_watch},
	{"call", "METHOD [PARAMS_JSON]", "call any method, print the result",
	 "PARAMS_JSON is an object or an array. The result is indented on a terminal,\n"
	 "one line otherwise (and always with -j).",
	 NULL, 1, 2, 0, commands_call_params, commands_call_human, NULL},
	{"raw", "", "JSON-RPC lines from stdin, replies out",
	 "Requests are sent as they are read; when stdin ends, the replies still owed are\n"
	 "printed and the command exits. Notifications get no reply. The timeout counts\n"
	 "only after stdin ends: how long the daemon may stay silent.",
	 NULL, 0, 0, 0, NULL, NULL, stream_raw},
	{"reload", "", "re-read config and policy (admin)", NULL, "daemon.reload", 0,
	 0, COMMAND_QUIET, NULL, commands_reload_human, NULL},
	{"shutdown", "", "stop the daemon gracefully (admin)",
	 "Waits (up to the timeout) until the daemon closes the connection.", "daemon.shutdown", 0,
	 0, COMMAND_QUIET | COMMAND_AWAIT_CLOSE, NULL, commands_shutdown_human, NULL},
	{"log-level", "LEVEL", "set the daemon's log level (admin)",
	 "LEVEL: error, warning, info or debug (the daemon checks it).", "daemon.log_level", 1, 1,
	 COMMAND_QUIET, commands_level_params, commands_level_human, NULL},
	/* The options are spelled out in the help: in the list they would widen every line. */
	{"serve", "METHOD [OPTIONS] -- COMMAND...", "provide METHOD: each call runs COMMAND",
	 "OPTIONS: --params SCHEMA, --result SCHEMA, --jobs N, --timeout MS.\n"
	 "COMMAND gets the call's params as compact JSON on stdin (never in argv), and\n"
	 "UDSRPC_METHOD and the caller's UDSRPC_CALLER_UID, _GID, _PID, _USER, _EXE and\n"
	 "_GROUPS (comma-separated) in its environment. Exit status 0: its stdout is the\n"
	 "result (JSON if it parses, else the text, a trailing newline removed). Else the\n"
	 "error {\"code\":1,\"message\":<stderr's first line>,\"data\":{\"exit_status\",\"stderr\"}}.\n"
	 "--timeout MS (default 25000, 0: none): SIGTERM, SIGKILL 2 s later, and an error\n"
	 "with \"timeout\":true. --jobs N (default 1) commands run at once, the rest wait.\n"
	 "--params: a JSON array of Content Descriptors (default [], params {}); --result:\n"
	 "a JSON Schema (default {}). Runs until Ctrl-C or SIGTERM (exit 0). A -t before\n"
	 "serve bounds the connection and rpc.provide, as for any command.",
	 "rpc.provide", 1, -1, COMMAND_SERVE, NULL, NULL, serve_exec},
	{"help", "[COMMAND]", "this list, or one command's usage", NULL, NULL, 0, 1,
	 COMMAND_OFFLINE, NULL, commands_help_human, commands_help_exec},
};

const size_t commands_count = sizeof(commands_table) / sizeof(commands_table[0]);

const struct command *commands_find(const char *name)
{
	for (size_t i = 0; name && i < commands_count; i++)
		if (strcmp(commands_table[i].name, name) == 0)
			return &commands_table[i];
	return NULL;
}

int commands_usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, CTL_PROG ": %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	commands_usage_line(stderr, cmd);
	return CTL_EXIT_USAGE;
}

int commands_call(struct ctl *c)
{
	const struct command *cmd = c->cmd;
	const char *method = cmd->method ? cmd->method : c->args[0];
	json_t *params = NULL, *result = NULL;
	long long t0;
	int r;

	if (cmd->params && (r = cmd->params(c, &params)))
		return r;
	if ((r = session_open(&c->s, c->socket, c->timeout_ms))) {
		json_decref(params);
		return r;
	}
	c->s.json_errors = c->json;
	t0 = session_now_ns();
	r = session_call(&c->s, method, params, &result);
	c->rtt_ms = (double)(session_now_ns() - t0) / 1e6;
	if (r == 0 && !(c->quiet && cmd->flags & COMMAND_QUIET))
		r = c->out->result(c, result);
	if (r == 0 && cmd->flags & COMMAND_AWAIT_CLOSE)
		session_await_close(&c->s);
	json_decref(result);
	session_close(&c->s);
	return r;
}
