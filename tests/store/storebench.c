/*
 * storebench.c — rough durable-set throughput of the store, straight from an event loop
 * (no sockets): a burst queued at once, one writer at a time, and W writers in flight.
 *
 * Usage: store_bench [SECONDS_PER_RUN [WRITERS [DIR]]]; DIR defaults to a fresh
 * directory under $TMPDIR or /tmp (removed afterwards). Information only: the
 * daemon's numbers are measured end to end with udsrpc-bench.
 */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#include "store.h"

struct bench {
	struct event_base *base;
	struct store *s;
	uint64_t submitted, done, failed;
	double stop_at; /* keep resubmitting until then; 0: no resubmission */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void submit(struct bench *b);

static void done_cb(void *arg, enum store_status st, uint64_t rev, const char *reason)
{
	struct bench *b = arg;

	b->done++;
	if (st != STORE_OK)
		b->failed++;
	if (b->stop_at > 0 && now_s() < b->stop_at)
		submit(b);
}

static void submit(struct bench *b)
{
	char key[32];
	json_t *v = json_pack("{s:I,s:s}", "n", (json_int_t)b->submitted, "who", "bench");

	snprintf(key, sizeof(key), "bench/%04" PRIu64, b->submitted % 1000);
	if (store_set(b->s, key, v, -1, done_cb, b) < 0) {
		fprintf(stderr, "store_set failed\n");
		exit(1);
	}
	json_decref(v);
	b->submitted++;
}

static void report(struct bench *b, const char *name, double secs, const struct store_stats *s0)
{
	struct store_stats s1;
	uint64_t groups;

	store_get_stats(b->s, &s1);
	groups = s1.groups - s0->groups;
	printf("%-28s %8" PRIu64 " sets in %.2f s = %8.0f /s, %6" PRIu64
	       " fdatasync groups (%.1f sets/group)%s\n",
	       name, b->done, secs, (double)b->done / secs, groups,
	       groups ? (double)b->done / (double)groups : 0.0, b->failed ? " FAILURES" : "");
}

static void run_window(struct bench *b, const char *name, int window, double seconds)
{
	struct store_stats s0;
	double t0;

	b->submitted = b->done = b->failed = 0;
	store_get_stats(b->s, &s0);
	t0 = now_s();
	b->stop_at = t0 + seconds;
	for (int i = 0; i < window; i++)
		submit(b);
	while (b->done < b->submitted)
		event_base_loop(b->base, EVLOOP_ONCE);
	report(b, name, now_s() - t0, &s0);
}

static void run_burst(struct bench *b, uint64_t n)
{
	struct store_stats s0;
	char name[64];
	double t0;

	b->submitted = b->done = b->failed = 0;
	b->stop_at = 0;
	store_get_stats(b->s, &s0);
	t0 = now_s();
	for (uint64_t i = 0; i < n; i++)
		submit(b);
	while (b->done < n)
		event_base_loop(b->base, EVLOOP_ONCE);
	snprintf(name, sizeof(name), "burst of %" PRIu64, n);
	report(b, name, now_s() - t0, &s0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	int writers = argc > 2 ? atoi(argv[2]) : 50;
	const char *tmp = getenv("TMPDIR");
	struct bench b = {0};
	char dir[4096], err[512], name[64];
	bool own_dir = argc <= 3;
	struct store_stats st;

	if (own_dir) {
		snprintf(dir, sizeof(dir), "%s/store_bench.XXXXXX", tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
	} else {
		snprintf(dir, sizeof(dir), "%s", argv[3]);
	}
	b.base = event_base_new();
	if (!b.base || store_open(dir, b.base, NULL, &b.s, err, sizeof(err)) < 0) {
		fprintf(stderr, "store_open: %s\n", err);
		return 1;
	}
	run_burst(&b, 20000);
	run_window(&b, "1 writer, sequential", 1, seconds);
	snprintf(name, sizeof(name), "%d writers in flight", writers);
	run_window(&b, name, writers, seconds);
	store_get_stats(b.s, &st);
	printf("compactions %" PRIu64 ", log %" PRIu64 " bytes, snapshot %" PRIu64 " bytes\n",
	       st.compactions, st.log_bytes, st.snapshot_bytes);
	store_close(b.s);
	event_base_free(b.base);
	if (own_dir)
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}
