/* table.h — text tables and aligned "key: value" lines for udsrpcctl's human output. */
#ifndef UDSRPCCTL_TABLE_H
#define UDSRPCCTL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Rows of cells, every cell a copy the table owns. Columns are as wide as
 * their widest cell (header included); a column marked numeric is aligned
 * right. Out of memory is remembered and reported by table_print.
 */
struct table {
	size_t ncols;
	size_t ncells; /* filled so far; rows are ncols cells each */
	size_t cap;
	char **cells; /* owned, and each cell */
	bool *right;  /* ncols */
	bool header;  /* row 0 is a header (table_new with names) */
	bool nomem;
};

/*
 * A table of ncols columns. names: ncols header names, or NULL for none
 * (key/value lines). right: ncols flags, or NULL for all left-aligned.
 * Returns 0 or -ENOMEM.
 */
int table_init(struct table *t, size_t ncols, const char *const *names, const bool *right);
/* Cells fill rows left to right: ncols calls make one row. */
void table_cell(struct table *t, const char *text);
/* A malloc'd cell the table takes over; NULL (a failed allocation) fails table_print. */
void table_cell_take(struct table *t, char *text);
void table_cellf(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Print every row, columns separated by two spaces, no trailing blanks.
 * With sep (e.g. ":"), the first column is followed by sep, its padding
 * and one space ("key:    value"). Returns 0 or -ENOMEM.
 */
int table_print(const struct table *t, FILE *f, const char *sep);
void table_free(struct table *t);

#endif
