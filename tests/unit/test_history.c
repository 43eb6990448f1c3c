/* test_history.c — the event history: bounds, replay, persistence, torn tail, gaps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history.h"

struct fx {
	char dir[200];
	char path[260];
	struct history *h;
	char log[4096];
};

static void fx_log(void *arg, int level, const char *msg)
{
	struct fx *f = arg;
	size_t n = strlen(f->log);

	snprintf(f->log + n, sizeof(f->log) - n, "%d %s\n", level, msg);
}

static int fx_open_lim(struct fx *f, uint64_t revs, uint64_t bytes, uint64_t store_rev)
{
	char err[512] = "";
	struct history_limits lim = {.max_revisions = revs, .max_bytes = bytes};

	return history_open(f->dir, &lim, store_rev, fx_log, f, &f->h, err, sizeof(err));
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/udsrpc-history-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/events.log", f->dir);
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	history_close(f->h);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* One event line as config_publish makes them. */
static size_t line_of(char *buf, size_t cap, uint64_t rev, const char *key)
{
	return (size_t)snprintf(buf, cap,
	                        "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"topic\":"
	                        "\"config\",\"type\":\"set\",\"key\":\"%s\",\"revision\":%llu}}\n",
	                        key, (unsigned long long)rev);
}

static void append(struct fx *f, uint64_t rev, const char *key)
{
	char line[256];
	size_t n = line_of(line, sizeof(line), rev, key);

	assert_int_equal(history_append(f->h, rev, key, line, n), 0);
}

struct seen {
	uint64_t revs[64];
	char keys[64][16];
	size_t n;
	bool lines_ok;
};

static int visit(void *arg, uint64_t rev, const char *key, const char *line, size_t len)
{
	struct seen *s = arg;
	char want[256];

	if (s->n < 64) {
		s->revs[s->n] = rev;
		snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
		s->n++;
	}
	s->lines_ok &= len == line_of(want, sizeof(want), rev, key) && memcmp(want, line, len) == 0;
	return 0;
}

static struct seen replay(struct fx *f, uint64_t after, int want_r, uint64_t want_compact)
{
	struct seen s = {.lines_ok = true};
	uint64_t compact = 0;

	assert_int_equal(history_replay(f->h, after, visit, &s, &compact), want_r);
	if (want_r == -ESTALE)
		assert_int_equal(compact, want_compact);
	assert_true(s.lines_ok);
	return s;
}

/* history_revisions: the oldest revisions go; a replay from before them is -ESTALE. */
static void test_bounds_revisions(void **state)
{
	struct fx *f = *state;
	struct history_stats st;
	struct seen s;

	assert_int_equal(fx_open_lim(f, 5, 1 << 20, 0), 0);
	for (uint64_t r = 1; r <= 10; r++)
		append(f, r, "k");
	history_get_stats(f->h, &st);
	assert_int_equal(st.revisions, 5);
	assert_int_equal(st.entries, 5);
	assert_int_equal(st.first_revision, 6);
	assert_int_equal(st.last_revision, 10);
	assert_int_equal(st.compact_revision, 5);
	replay(f, 4, -ESTALE, 5);
	replay(f, 0, -ESTALE, 5);
	s = replay(f, 5, 0, 0);
	assert_int_equal(s.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(s.revs[i], 6 + i);
	s = replay(f, 8, 0, 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.revs[0], 9);
	/* Past the end: nothing to send, not an error. */
	s = replay(f, 10, 0, 0);
	assert_int_equal(s.n, 0);
	s = replay(f, 99, 0, 0);
	assert_int_equal(s.n, 0);
}

/* history_bytes: revisions go whole, a transaction's events together. */
static void test_bounds_bytes(void **state)
{
	struct fx *f = *state;
	struct history_stats st;
	char line[256];
	size_t one = 18 + 1 + line_of(line, sizeof(line), 1, "a"); /* one record, key "a" */
	struct seen s;

	/* Room for four records. */
	assert_int_equal(fx_open_lim(f, 100, 4 * one + 10, 0), 0);
	append(f, 1, "a");
	append(f, 2, "a"); /* revision 2: a transaction of three keys */
	append(f, 2, "b");
	append(f, 2, "c");
	history_get_stats(f->h, &st);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.revisions, 2);
	append(f, 3, "a"); /* five records: revision 1 goes */
	history_get_stats(f->h, &st);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.compact_revision, 1);
	assert_true(st.bytes <= 4 * one + 10);
	append(f, 4, "a"); /* revision 2 goes, all three */
	history_get_stats(f->h, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.compact_revision, 2);
	s = replay(f, 2, 0, 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.revs[0], 3);
	assert_int_equal(s.revs[1], 4);
	replay(f, 1, -ESTALE, 2);
	/* A lower bound at a reload applies at once. */
	history_set_limits(f->h, &(struct history_limits){.max_revisions = 1, .max_bytes = 1 << 20});
	history_get_stats(f->h, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.compact_revision, 3);
}

/* Across a restart: the same events, byte for byte, and the compact revision. */
static void test_persistence(void **state)
{
	struct fx *f = *state;
	struct history_stats st;
	struct seen s;

	assert_int_equal(fx_open_lim(f, 6, 1 << 20, 0), 0);
	for (uint64_t r = 1; r <= 8; r++)
		append(f, r, r % 2 ? "odd" : "even");
	append(f, 8, "txn");
	history_flush(f->h);
	history_close(f->h);
	f->h = NULL;
	assert_int_equal(fx_open_lim(f, 6, 1 << 20, 8), 0);
	history_get_stats(f->h, &st);
	assert_int_equal(st.entries, 7);
	assert_int_equal(st.compact_revision, 2);
	s = replay(f, 2, 0, 0);
	assert_int_equal(s.n, 7);
	assert_int_equal(s.revs[0], 3);
	assert_string_equal(s.keys[0], "odd");
	assert_int_equal(s.revs[6], 8);
	assert_string_equal(s.keys[6], "txn");
	replay(f, 1, -ESTALE, 2);
	assert_string_equal(f->log, "");
	/* And it goes on from there. */
	append(f, 9, "k");
	history_close(f->h); /* closing flushes */
	f->h = NULL;
	assert_int_equal(fx_open_lim(f, 6, 1 << 20, 9), 0);
	s = replay(f, 8, 0, 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.revs[0], 9);
}

/* A torn last record (a write cut short) is dropped with a warning naming its offset; the rest stays. */
static void test_torn_tail(void **state)
{
	struct fx *f = *state;
	struct history_stats st;
	struct stat sb;
	struct seen s;

	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 0), 0);
	for (uint64_t r = 1; r <= 5; r++)
		append(f, r, "k");
	history_close(f->h);
	f->h = NULL;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(truncate(f->path, sb.st_size - 7), 0);
	/* A store that has only revision 4 (the case a store at 5 is below). */
	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 4), 0);
	history_get_stats(f->h, &st);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.compact_revision, 0);
	assert_non_null(strstr(f->log, "events.log: record at offset"));
	assert_non_null(strstr(f->log, "does not read back"));
	s = replay(f, 0, 0, 0);
	assert_int_equal(s.n, 4);
	/* The file was cut there: what comes next reads back after it. */
	append(f, 5, "k2");
	history_close(f->h);
	f->h = NULL;
	f->log[0] = '\0';
	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 5), 0);
	assert_string_equal(f->log, "");
	s = replay(f, 3, 0, 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.keys[1], "k2");
}

/* Garbage in the middle: the history ends there, and the store's revision says what is missing. */
static void test_damage_and_gap(void **state)
{
	struct fx *f = *state;
	struct history_stats st;
	int fd;

	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 0), 0);
	for (uint64_t r = 1; r <= 5; r++)
		append(f, r, "k");
	history_close(f->h);
	f->h = NULL;
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XXXX", 4, 200), 4); /* inside the third record or so */
	close(fd);
	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 5), 0);
	history_get_stats(f->h, &st);
	/* The store is at 5, the history ends earlier: nothing before 5 can be replayed. */
	assert_int_equal(st.compact_revision, 5);
	assert_int_equal(st.entries, 0);
	assert_non_null(strstr(f->log, "does not read back"));
	assert_non_null(strstr(f->log, "ends at revision"));
	replay(f, 4, -ESTALE, 5);
	assert_int_equal(replay(f, 5, 0, 0).n, 0);
	/* The raised compact revision is in the file too. */
	history_close(f->h);
	f->h = NULL;
	f->log[0] = '\0';
	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 5), 0);
	history_get_stats(f->h, &st);
	assert_int_equal(st.compact_revision, 5);
	assert_string_equal(f->log, "");
}

/* A history ahead of its store (a state dir put back from a copy): those events are dropped. */
static void test_ahead_of_store(void **state)
{
	struct fx *f = *state;
	struct history_stats st;

	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 0), 0);
	for (uint64_t r = 1; r <= 6; r++)
		append(f, r, "k");
	history_close(f->h);
	f->h = NULL;
	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 4), 0);
	history_get_stats(f->h, &st);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.last_revision, 4);
	append(f, 5, "new");
	history_close(f->h);
	f->h = NULL;
	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 5), 0);
	struct seen s = replay(f, 4, 0, 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.keys[0], "new");
}

/* The file is rewritten once it holds much more than is kept: it never grows without bound. */
static void test_file_bounded(void **state)
{
	struct fx *f = *state;
	struct history_stats st;
	char key[32];

	assert_int_equal(fx_open_lim(f, 10, 1 << 20, 0), 0);
	for (uint64_t r = 1; r <= 30000; r++) {
		snprintf(key, sizeof(key), "key/%llu", (unsigned long long)r);
		append(f, r, key);
		history_flush(f->h);
	}
	history_get_stats(f->h, &st);
	assert_int_equal(st.entries, 10);
	assert_true(st.file_bytes < 2 * st.bytes + (1u << 20) + 200);
	assert_true(st.file_bytes > 0);
	history_close(f->h);
	f->h = NULL;
	assert_int_equal(fx_open_lim(f, 10, 1 << 20, 30000), 0);
	history_get_stats(f->h, &st);
	assert_int_equal(st.entries, 10);
	assert_int_equal(st.first_revision, 29991);
	assert_int_equal(st.compact_revision, 29990);
}

/* Opened without following symlinks, like every file of the state dir. */
static void test_symlink_refused(void **state)
{
	struct fx *f = *state;

	assert_int_equal(symlink("/etc/passwd", f->path), 0);
	assert_int_equal(fx_open_lim(f, 10, 1 << 20, 0), -ELOOP);
	f->h = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bounds_revisions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bounds_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damage_and_gap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ahead_of_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
