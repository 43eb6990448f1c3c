/* output.c — the two ways results leave udsrpcctl: human (each command's printer) and JSON. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "ctl.h"
#include "output.h"
#include "jsonnum.h"

int output_nomem(void)
{
	fprintf(stderr, CTL_PROG ": out of memory\n");
	return CTL_EXIT_IO;
}

int output_json_line(FILE *f, const json_t *v, bool pretty)
{
	size_t flags = JSON_ENCODE_ANY | (pretty ? JSON_INDENT(2) : JSON_COMPACT);
	char *s = jsonnum_dumps(v, flags);

	if (!s)
		return output_nomem();
	fputs(s, f);
	fputc('\n', f);
	free(s);
	return 0;
}

int output_value(FILE *f, const json_t *v)
{
	if (json_is_string(v)) {
		/* Raw bytes: a string may hold NUL (JSON_ALLOW_NUL on the wire). */
		fwrite(json_string_value(v), 1, json_string_length(v), f);
		fputc('\n', f);
		return 0;
	}
	return output_json_line(f, v, false);
}

int output_value_escaped(FILE *f, const json_t *v)
{
	if (!json_is_string(v))
		return output_json_line(f, v, false); /* JSON escapes controls itself */
	const unsigned char *p = (const unsigned char *)json_string_value(v);
	for (size_t i = 0, n = json_string_length(v); i < n; i++) {
		if (p[i] == '\t')
			fputs("\\t", f);
		else if (p[i] == '\n')
			fputs("\\n", f);
		else if (p[i] == '\\')
			fputs("\\\\", f);
		else if (p[i] < 0x20 || p[i] == 0x7f)
			fprintf(f, "\\x%02x", p[i]);
		else
			fputc(p[i], f);
	}
	fputc('\n', f);
	return 0;
}

char *output_text(const json_t *v)
{
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_null(v))
		return strdup("-");
	if (json_is_array(v)) {
		char *joined = strdup(json_array_size(v) ? "" : "-");
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			char *item = NULL, *next = NULL;
			if (!joined || json_is_object(e) || json_is_array(e)) {
				free(joined);
				return jsonnum_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			}
			item = output_text(e);
			if (!item || asprintf(&next, "%s%s%s", joined, i ? " " : "", item) < 0)
				next = NULL;
			free(item);
			free(joined);
			if (!next)
				return NULL;
			joined = next;
		}
		return joined;
	}
	return jsonnum_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int output_human_result(struct ctl *c, const json_t *result)
{
	return c->cmd->human(c, result);
}

static int output_json_result(struct ctl *c, const json_t *result)
{
	return output_json_line(stdout, result, false);
}

static int output_event(struct ctl *c, const json_t *params)
{
	int r = output_json_line(stdout, params, false);
	/* Whoever reads our stdout (a pipe, a log) sees each event as it happens. */
	fflush(stdout);
	return r;
}

/* An event is already JSON, and udsrpcctl(1) gives it the same one-line form in both. */
const struct output output_human = {output_human_result, output_event};
const struct output output_json = {output_json_result, output_event};
