/* output.h — how results reach stdout: human printers, or JSON with -j (bgpctl's output). */
#ifndef UDSRPCCTL_OUTPUT_H
#define UDSRPCCTL_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

struct ctl;

/* Both return 0 or an exit status of ctl.h; json_t arguments are borrowed. */
struct output {
	/* A command's result: its human printer, or one compact JSON line. */
	int (*result)(struct ctl *c, const json_t *result);
	/* One event's params (watch): one compact JSON line, flushed at once. */
	int (*event)(struct ctl *c, const json_t *params);
};

extern const struct output output_human;
extern const struct output output_json;

/* v as one compact JSON line on f; pretty (indented) instead when asked. */
int output_json_line(FILE *f, const json_t *v, bool pretty);
/* A value as get prints it: a string's bytes as they are, anything else compact JSON. */
int output_value(FILE *f, const json_t *v);
/*
 * The same as one line a terminal can show: in a string, tab, newline and
 * backslash become \t, \n and \\, other control bytes \xNN (list: a value's
 * bytes never reach the terminal raw, and one item stays one line).
 */
int output_value_escaped(FILE *f, const json_t *v);
/*
 * A value for a table cell or a "key: value" line (malloc'd, NULL on ENOMEM):
 * strings as they are, null as "-", an array of scalars space-separated,
 * anything else compact JSON.
 */
char *output_text(const json_t *v);
/* "udsrpcctl: out of memory" on stderr; returns CTL_EXIT_IO. */
int output_nomem(void);

#endif
