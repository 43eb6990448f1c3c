/* table.c — column widths from content, so tables are as narrow as their data. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

static void table_push(struct table *t, char *cell)
{
	if (!cell)
		t->nomem = true;
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * sizeof(*c));
		if (!c) {
			free(cell);
			t->nomem = true;
			return;
		}
		t->cells = c;
		t->cap = cap;
	}
	t->cells[t->ncells++] = cell;
}

int table_init(struct table *t, size_t ncols, const char *const *names, const bool *right)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->right = calloc(ncols, sizeof(*t->right));
	if (!t->right)
		return -ENOMEM;
	for (size_t i = 0; right && i < ncols; i++)
		t->right[i] = right[i];
	if (names) {
		t->header = true;
		for (size_t i = 0; i < ncols; i++)
			table_cell(t, names[i]);
	}
	return t->nomem ? -ENOMEM : 0;
}

void table_cell(struct table *t, const char *text)
{
	table_push(t, strdup(text ? text : ""));
}

void table_cell_take(struct table *t, char *text)
{
	table_push(t, text);
}

void table_cellf(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	table_push(t, s);
}

int table_print(const struct table *t, FILE *f, const char *sep)
{
	size_t *width, nrows, seplen = sep ? strlen(sep) : 0;

	if (t->nomem || t->ncols == 0 || t->ncells % t->ncols)
		return -ENOMEM;
	width = calloc(t->ncols, sizeof(*width));
	if (!width)
		return -ENOMEM;
	nrows = t->ncells / t->ncols;
	for (size_t i = 0; i < t->ncells; i++) {
		size_t w = strlen(t->cells[i]) + (i % t->ncols == 0 ? seplen : 0);
		if (w > width[i % t->ncols])
			width[i % t->ncols] = w;
	}
	for (size_t r = 0; r < nrows; r++) {
		/* Padding after the last column, or before empty ones, would be trailing blanks. */
		size_t last = t->ncols;
		while (last > 1 && !t->right[last - 1] && !*t->cells[r * t->ncols + last - 1])
			last--;
		for (size_t c = 0; c < last; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			size_t len = strlen(cell) + (c == 0 ? seplen : 0);
			int pad = (int)(width[c] - len);
			if (c > 0)
				fputs(c == 1 && sep ? " " : "  ", f);
			if (t->right[c])
				fprintf(f, "%*s", pad, "");
			fputs(cell, f);
			if (c == 0 && sep)
				fputs(sep, f);
			if (!t->right[c] && c + 1 < last)
				fprintf(f, "%*s", pad, "");
		}
		fputc('\n', f);
	}
	free(width);
	return 0;
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->right);
	memset(t, 0, sizeof(*t));
}
