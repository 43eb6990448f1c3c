/*
 * crashwriter.c — kill -9 a process writing to the store at random moments and check that
 * every acknowledged change survived.
 *
 * Each cycle forks a child that opens the store in a shared directory and
 * keeps a random number (1..16) of sets and unsets in flight on 64 keys,
 * with values of random size so that compactions happen too. For every
 * acknowledged change it writes (key, op, revision, seq) to a pipe, and
 * before queuing an unset it says so (an unacknowledged unset may still be
 * durable and may legitimately remove a key whose set was acknowledged). The
 * parent SIGKILLs it after a random delay, reads what was acknowledged,
 * reopens the store and checks, for every key, that its last acknowledged
 * change (or a later one) is there. The store must open every time.
 *
 * Usage: store_crashwriter [CYCLES]; UDSRPC_STORE_CRASH_CYCLES sets the
 * count when no argument is given (default 5), UDSRPC_STORE_CRASH_SEED
 * replays a run. Exit 0: all good; 1: a check failed (the directory is kept).
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "store.h"

#define NKEYS 64
#define MAX_PAD 6000

/* What the child tells the parent, in the order things happened. */
struct ack {
	uint32_t key;
	uint32_t op;  /* OP_SET / OP_UNSET: acknowledged; OP_UNSET_INTENT: about to be queued */
	uint64_t rev; /* acknowledged revision */
	uint64_t seq; /* submission order (revisions follow it); a set's value carries it */
};
enum { OP_SET = 1, OP_UNSET = 2, OP_UNSET_INTENT = 3 };

struct key_state {
	struct ack last;    /* the acknowledged change with the highest revision */
	uint64_t unset_seq; /* seq of the latest unset submitted, acknowledged or not */
};

struct child {
	struct store *s;
	int fd;
	uint64_t seq;
	unsigned rnd;
	char pad[MAX_PAD + 1];
};

struct inflight {
	struct child *c;
	struct ack a;
};

static void submit_one(struct child *c);

static void child_done(void *arg, enum store_status st, uint64_t rev, const char *reason)
{
	struct inflight *in = arg;
	struct child *c = in->c;

	if (st == STORE_IO_ERROR) {
		fprintf(stderr, "crashwriter child: %s\n", reason);
		_exit(3);
	}
	if (st == STORE_OK) {
		in->a.rev = rev;
		/* Under PIPE_BUF: a single atomic write, whole or not at all. */
		if (write(c->fd, &in->a, sizeof(in->a)) != (ssize_t)sizeof(in->a))
			_exit(4);
	}
	free(in);
	submit_one(c);
}

static void submit_one(struct child *c)
{
	struct inflight *in = calloc(1, sizeof(*in));
	char key[16];
	int r;

	if (!in)
		_exit(5);
	in->c = c;
	in->a.key = (uint32_t)(rand_r(&c->rnd) % NKEYS);
	in->a.seq = ++c->seq;
	snprintf(key, sizeof(key), "k/%02u", in->a.key);
	if (rand_r(&c->rnd) % 10 == 0) {
		in->a.op = OP_UNSET_INTENT;
		/* Through a local copy: gcc's -Wstringop-overread misjudges in->a under ASan. */
		struct ack intent = in->a;
		if (write(c->fd, &intent, sizeof(intent)) != (ssize_t)sizeof(intent))
			_exit(4);
		in->a.op = OP_UNSET;
		r = store_unset(c->s, key, -1, child_done, in);
	} else {
		size_t padlen = (size_t)(rand_r(&c->rnd) % MAX_PAD);
		json_t *v;

		in->a.op = OP_SET;
		c->pad[padlen] = '\0';
		v = json_pack("{s:I,s:s}", "seq", (json_int_t)in->a.seq, "pad", c->pad);
		c->pad[padlen] = 'p';
		r = store_set(c->s, key, v, -1, child_done, in);
		json_decref(v);
	}
	if (r < 0)
		_exit(6);
}

static void run_child(const char *dir, int fd, uint64_t seq_base, unsigned seed)
{
	struct child c = {.fd = fd, .seq = seq_base, .rnd = seed};
	struct event_base *base = event_base_new();
	char err[512];
	int window;

	memset(c.pad, 'p', MAX_PAD);
	if (!base || store_open(dir, base, NULL, &c.s, err, sizeof(err)) < 0) {
		fprintf(stderr, "crashwriter child: %s\n", err);
		_exit(2);
	}
	window = 1 + (int)(rand_r(&c.rnd) % 16);
	for (int i = 0; i < window; i++)
		submit_one(&c);
	event_base_dispatch(base);
	_exit(7);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Every key's last acknowledged change, or a later one, must be in the store. */
static int verify(const char *dir, const struct key_state *keys, uint64_t max_rev, int cycle)
{
	struct event_base *base = event_base_new();
	struct store_stats st;
	struct store *s;
	char err[512];
	int bad = 0;

	if (store_open(dir, base, NULL, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "cycle %d: the store does not open: %s\n", cycle, err);
		event_base_free(base);
		return 1;
	}
	if (store_revision(s) < max_rev) {
		fprintf(stderr, "cycle %d: revision %" PRIu64 " < acknowledged %" PRIu64 "\n",
		        cycle, store_revision(s), max_rev);
		bad = 1;
	}
	for (int k = 0; k < NKEYS; k++) {
		const struct ack *a = &keys[k].last;
		char key[16];
		uint64_t rev = 0;
		const json_t *v;

		if (a->rev == 0)
			continue;
		snprintf(key, sizeof(key), "k/%02d", k);
		v = store_get(s, key, &rev);
		if (a->op == OP_UNSET) {
			if (v && rev <= a->rev) {
				fprintf(stderr,
				        "cycle %d: %s unset at %" PRIu64 " but present at %" PRIu64
				        "\n",
				        cycle, key, a->rev, rev);
				bad = 1;
			}
		} else if (!v ? keys[k].unset_seq < a->seq : rev < a->rev) {
			/* Absent is fine only if an unset was queued after the set. */
			fprintf(stderr, "cycle %d: %s set at %" PRIu64 " but %s\n", cycle, key,
			        a->rev, v ? "older" : "absent");
			bad = 1;
		} else if (rev == a->rev &&
		           (uint64_t)json_integer_value(json_object_get(v, "seq")) != a->seq) {
			fprintf(stderr, "cycle %d: %s at %" PRIu64 " has the wrong value\n", cycle,
			        key, rev);
			bad = 1;
		}
	}
	store_get_stats(s, &st);
	printf("cycle %d: revision %" PRIu64 ", replayed %" PRIu64 ", dropped %" PRIu64
	       " bytes, snapshot %" PRIu64 " bytes\n",
	       cycle, store_revision(s), st.replayed_records, st.dropped_bytes, st.snapshot_bytes);
	store_close(s);
	event_base_free(base);
	return bad;
}

/* Returns 1 for an acknowledgement, 0 for an intent. */
static int note(struct key_state *keys, const struct ack *a, uint64_t *max_rev)
{
	struct key_state *k = &keys[a->key % NKEYS];

	if (a->op == OP_UNSET_INTENT) {
		k->unset_seq = a->seq;
		return 0;
	}
	if (a->rev > k->last.rev)
		k->last = *a;
	if (a->rev > *max_rev)
		*max_rev = a->rev;
	return 1;
}

int main(int argc, char **argv)
{
	const char *env = getenv("UDSRPC_STORE_CRASH_CYCLES");
	const char *seed_env = getenv("UDSRPC_STORE_CRASH_SEED");
	const char *tmp = getenv("TMPDIR");
	int cycles = argc > 1 ? atoi(argv[1]) : env ? atoi(env) : 5;
	unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 0)
	                         : (unsigned)time(NULL) ^ (unsigned)getpid();
	struct key_state keys[NKEYS];
	uint64_t max_rev = 0, acks = 0;
	char dir[4096];
	int failed = 0;

	snprintf(dir, sizeof(dir), "%s/store_crash.XXXXXX", tmp ? tmp : "/tmp");
	if (cycles < 1 || !mkdtemp(dir)) {
		fprintf(stderr, "usage: %s [CYCLES>0] (and a writable TMPDIR)\n", argv[0]);
		return 2;
	}
	printf("seed %u, %d cycles, dir %s\n", seed, cycles, dir);
	srand(seed);
	memset(keys, 0, sizeof(keys));
	for (int cycle = 1; cycle <= cycles && !failed; cycle++) {
		int64_t deadline = now_ms() + 5 + rand() % 150;
		unsigned child_seed = (unsigned)rand();
		struct ack a;
		int p[2], status;
		pid_t pid;
		ssize_t n;

		if (pipe(p) < 0)
			return 2;
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			return 2;
		if (pid == 0) {
			close(p[0]);
			run_child(dir, p[1], (uint64_t)cycle * 1000000000u, child_seed);
		}
		close(p[1]);
		for (;;) {
			struct pollfd pfd = {.fd = p[0], .events = POLLIN};
			int64_t left = deadline - now_ms();

			if (left <= 0)
				break;
			if (poll(&pfd, 1, (int)left) <= 0)
				continue;
			n = read(p[0], &a, sizeof(a));
			if (n <= 0)
				break; /* the child died on its own: caught below */
			if (n != (ssize_t)sizeof(a))
				return 2;
			acks += note(keys, &a, &max_rev);
		}
		kill(pid, SIGKILL);
		/* What the child acknowledged before it died is still in the pipe. */
		while (read(p[0], &a, sizeof(a)) == (ssize_t)sizeof(a))
			acks += note(keys, &a, &max_rev);
		close(p[0]);
		waitpid(pid, &status, 0);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
			fprintf(stderr, "cycle %d: the child ended by itself (status %d)\n", cycle,
			        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			failed = 1;
			break;
		}
		failed = verify(dir, keys, max_rev, cycle);
	}
	if (failed) {
		fprintf(stderr, "FAILED (seed %u); state kept in %s\n", seed, dir);
		return 1;
	}
	printf("ok: %" PRIu64 " acknowledged changes over %d kills, none lost\n", acks, cycles);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}
