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
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history.h"

struct fx {
	char dir[200];
	char path[260];
	struct history *h;
	char log[4096];
	struct rlimit fsize; /* as it was: a test that lowers it has it put back */
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
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &f->fsize), 0);
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

	setrlimit(RLIMIT_FSIZE, &f->fsize);
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

/* Revisions 1 to n, one event each, of key "k". */
static void fill(struct fx *f, uint64_t n)
{
	for (uint64_t r = 1; r <= n; r++)
		append(f, r, "k");
}

struct seen {
	uint64_t revs[64];
	char keys[64][16];
	size_t n;
	bool lines_ok;
	size_t all;    /* events seen, past the 64 kept here too */
	uint64_t last; /* revision of the last one: they must not go down */
	bool order_ok;
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
	s->order_ok &= rev >= s->last;
	s->last = rev;
	s->all++;
	return 0;
}

static struct seen replay(struct fx *f, uint64_t after, int want_r, uint64_t want_compact)
{
	struct seen s = {.lines_ok = true, .order_ok = true};
	uint64_t compact = 0;

	assert_int_equal(history_replay(f->h, after, visit, &s, &compact), want_r);
	if (want_r == -ESTALE)
		assert_int_equal(compact, want_compact);
	assert_true(s.lines_ok);
	assert_true(s.order_ok);
	return s;
}

/* history_revisions: the oldest revisions go; a replay from before them is -ESTALE. */
static void test_bounds_revisions(void **state)
{
	struct fx *f = *state;
	struct history_stats st;
	struct seen s;

	assert_int_equal(fx_open_lim(f, 5, 1 << 20, 0), 0);
	fill(f, 10);
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
	fill(f, 5);
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

/* Four bytes of garbage at off in the file. */
static void spoil(const struct fx *f, off_t off)
{
	int fd = open(f->path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XXXX", 4, off), 4);
	close(fd);
}

/* Garbage in the middle: the history ends there, and the store's revision says what is missing. */
static void test_damage_and_gap(void **state)
{
	struct fx *f = *state;
	struct history_stats st;

	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 0), 0);
	fill(f, 5);
	history_close(f->h);
	f->h = NULL;
	spoil(f, 200); /* inside the third record or so */
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
	fill(f, 6);
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

/* Count of needle in hay. */
static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The file's size now. */
static uint64_t file_size(const struct fx *f)
{
	struct stat sb;

	assert_int_equal(stat(f->path, &sb), 0);
	return (uint64_t)sb.st_size;
}

/*
 * Lines are read back from the file, and from what is appended but not
 * written yet: a replay across both, of more than one read's worth
 * (64 KiB), is every event, byte for byte, in order.
 */
static void test_replay_unflushed(void **state)
{
	struct fx *f = *state;
	struct history_stats st;
	char key[16];
	struct seen s;

	assert_int_equal(fx_open_lim(f, 10000, 1 << 24, 0), 0);
	for (uint64_t r = 1; r <= 3000; r++) {
		snprintf(key, sizeof(key), "k/%llu", (unsigned long long)r);
		append(f, r, key);
		if (r == 1500)
			history_flush(f->h);
	}
	history_get_stats(f->h, &st);
	assert_true(file_size(f) < st.file_bytes); /* the second half is not in the file */
	s = replay(f, 0, 0, 0);
	assert_int_equal(s.all, 3000);
	assert_int_equal(s.revs[0], 1);
	assert_string_equal(s.keys[0], "k/1");
	s = replay(f, 2990, 0, 0);
	assert_int_equal(s.all, 10);
	assert_int_equal(s.revs[0], 2991);
	assert_string_equal(s.keys[9], "k/3000");
	/* And once written, the same. */
	history_flush(f->h);
	assert_int_equal(file_size(f), st.file_bytes);
	s = replay(f, 1499, 0, 0);
	assert_int_equal(s.all, 1501);
	assert_string_equal(s.keys[0], "k/1500");
	assert_string_equal(f->log, "");
}

/*
 * The rewrite moves the kept records to the front of a new file: a replay
 * after it reads them where they are now, as does one of records appended
 * after it, and the next open.
 */
static void test_replay_after_rewrite(void **state)
{
	struct fx *f = *state;
	struct history_stats st;
	uint64_t r, before = 0;
	char key[16];
	struct seen s;

	assert_int_equal(fx_open_lim(f, 50, 1 << 20, 0), 0);
	/* Until the file shrinks: rewritten (bounded: it takes ~10,000 of these). */
	for (r = 1; r <= 100000; r++) {
		snprintf(key, sizeof(key), "key/%llu", (unsigned long long)r);
		append(f, r, key);
		history_flush(f->h);
		history_get_stats(f->h, &st);
		if (st.file_bytes < before)
			break;
		before = st.file_bytes;
	}
	assert_true(r <= 100000);
	assert_int_equal(st.entries, 50);
	assert_int_equal(st.file_bytes, file_size(f));
	assert_int_equal(st.file_bytes, 18 + st.bytes); /* the compact mark and the kept */
	s = replay(f, r - 50, 0, 0);
	assert_int_equal(s.all, 50);
	assert_int_equal(s.revs[0], r - 49);
	assert_int_equal(s.revs[49], r);
	replay(f, r - 51, -ESTALE, r - 50);
	/* Appended after it, some written, some not. */
	append(f, r + 1, "after");
	history_flush(f->h);
	append(f, r + 2, "after2");
	s = replay(f, r - 3, 0, 0);
	assert_int_equal(s.all, 5);
	assert_string_equal(s.keys[3], "after");
	assert_string_equal(s.keys[4], "after2");
	history_close(f->h);
	f->h = NULL;
	assert_int_equal(fx_open_lim(f, 50, 1 << 20, r + 2), 0);
	s = replay(f, r - 48, 0, 0);
	assert_int_equal(s.all, 50);
	assert_string_equal(s.keys[49], "after2");
	assert_string_equal(f->log, "");
}

/*
 * A write that fails (here: past RLIMIT_FSIZE, one of them cut short) is
 * reported once; what the file lacks is replayed from memory meanwhile,
 * written when writing works again, and read back whole at the next open.
 */
static void test_failed_write_kept(void **state)
{
	struct fx *f = *state;
	struct rlimit lim = f->fsize;
	uint64_t before;
	struct seen s;

	signal(SIGXFSZ, SIG_IGN); /* EFBIG, not the signal */
	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 0), 0);
	fill(f, 3);
	history_flush(f->h);
	lim.rlim_cur = file_size(f) + 30; /* the next record is written only in part */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (uint64_t r = 4; r <= 6; r++)
		append(f, r, r % 2 ? "odd" : "even");
	before = file_size(f);
	history_flush(f->h);
	assert_int_equal(file_size(f), before); /* the 30 bytes written of a record taken back */
	assert_int_equal(count_of(f->log, "3 events.log: File too large; what it lacks is kept in "
	                                  "memory"), 1);
	s = replay(f, 0, 0, 0);
	assert_int_equal(s.all, 6);
	assert_string_equal(s.keys[5], "even");
	append(f, 7, "k7");
	history_flush(f->h); /* fails again: not reported again */
	assert_int_equal(count_of(f->log, "File too large"), 1);
	assert_int_equal(replay(f, 3, 0, 0).all, 4);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &f->fsize), 0);
	history_flush(f->h);
	assert_non_null(strstr(f->log, "6 events.log: written again after a failed write"));
	history_close(f->h);
	f->h = NULL;
	f->log[0] = '\0';
	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 7), 0);
	assert_string_equal(f->log, ""); /* no torn record: the cut one was written over */
	s = replay(f, 0, 0, 0);
	assert_int_equal(s.all, 7);
	assert_string_equal(s.keys[3], "even");
	assert_string_equal(s.keys[6], "k7");
}

/*
 * While writes keep failing, what is kept in memory for the file stays
 * in proportion to the history (the events gone meanwhile leave it, a
 * compact mark in their place), and the file written at last holds no
 * gap: the events before the mark are not read as one history with those
 * after it, even with larger bounds.
 */
static void test_failed_write_bounded(void **state)
{
	struct fx *f = *state;
	struct rlimit lim = f->fsize;
	struct history_stats st;
	uint64_t base;
	char line[256];
	size_t one = 18 + 1 + line_of(line, sizeof(line), 100, "k");
	struct seen s;

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(fx_open_lim(f, 5, 1 << 20, 0), 0);
	fill(f, 5);
	history_flush(f->h);
	base = file_size(f);
	lim.rlim_cur = base;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (uint64_t r = 6; r <= 2000; r++) {
		append(f, r, "k");
		history_flush(f->h);
		history_get_stats(f->h, &st);
		assert_true(st.file_bytes - base <= 2 * st.bytes + 2 * one);
	}
	assert_int_equal(file_size(f), base);
	s = replay(f, 1995, 0, 0);
	assert_int_equal(s.all, 5);
	assert_int_equal(s.revs[0], 1996);
	replay(f, 1000, -ESTALE, 1995);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &f->fsize), 0);
	history_close(f->h);
	f->h = NULL;
	f->log[0] = '\0';
	assert_int_equal(fx_open_lim(f, 100000, 1 << 24, 2000), 0);
	assert_string_equal(f->log, "");
	history_get_stats(f->h, &st);
	assert_true(st.compact_revision >= 5);
	s = replay(f, st.compact_revision, 0, 0);
	assert_int_equal(s.revs[0], st.compact_revision + 1);
	assert_int_equal(s.all, 2000 - st.compact_revision); /* from there on, every one */
	replay(f, 4, -ESTALE, st.compact_revision);
}

/*
 * A file that no longer gives back what it was written with (changed
 * under the daemon): the replay stops before the bad record and says
 * -ESTALE, the history is dropped up to its newest event, logged at
 * error level, and the file is written anew saying so.
 */
static void test_unreadable_file(void **state)
{
	struct fx *f = *state;
	struct history_stats st;
	struct seen s;

	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 0), 0);
	fill(f, 5);
	history_flush(f->h);
	spoil(f, 200); /* inside the second record */
	s = replay(f, 0, -ESTALE, 5);
	assert_int_equal(s.all, 1); /* the one before it, whole */
	assert_non_null(strstr(f->log, "3 events.log: the record at offset"));
	assert_non_null(strstr(f->log, "does not read back"));
	history_get_stats(f->h, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.compact_revision, 5);
	assert_int_equal(replay(f, 5, 0, 0).all, 0);
	append(f, 6, "k6");
	/* Cut under it too: the same. */
	history_flush(f->h);
	assert_int_equal(replay(f, 5, 0, 0).all, 1);
	assert_int_equal(truncate(f->path, 20), 0);
	f->log[0] = '\0';
	replay(f, 5, -ESTALE, 6);
	assert_non_null(strstr(f->log, "does not read back"));
	append(f, 7, "k7");
	history_close(f->h);
	f->h = NULL;
	f->log[0] = '\0';
	assert_int_equal(fx_open_lim(f, 100, 1 << 20, 7), 0);
	assert_string_equal(f->log, "");
	history_get_stats(f->h, &st);
	assert_int_equal(st.compact_revision, 6);
	s = replay(f, 6, 0, 0);
	assert_int_equal(s.all, 1);
	assert_string_equal(s.keys[0], "k7");
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
	    cmocka_unit_test_setup_teardown(test_replay_unflushed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replay_after_rewrite, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_write_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_write_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
