/*
 * counterd — named counters over a Unix socket: a small service on
 * libudsrpc (udsrpc(3)).
 *
 *   counterd [-s PATH] [-p POLICY]
 *
 * counter.add {"name","by"?}  -> {"name","value"}   (by defaults to 1)
 * counter.get {"name"}        -> {"name","value"}   (0 for a counter never added to)
 * counter.reset {"name"}      -> {"name","value":0} (admin)
 * and the library's ping, rpc.discover, peer.whoami and events.*; every
 * change of a value is an event on the topic "counter":
 * {"topic":"counter","name","value","by"}.
 *
 * What it does not write: framing, JSON-RPC, batches, the caller's identity
 * from the kernel, the policy, validation of params (counterd.openrpc.json,
 * compiled in: the handlers below see only valid params), limits, events,
 * signals and the socket's start-up checks. All of that is the library's.
 *
 * Build from an installed libudsrpc with the Makefile here, or by hand:
 *   od -An -v -tx1 counterd.openrpc.json | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g' >counterd.openrpc.h
 *   cc -Wall -Wextra -Werror -o counterd counterd.c $(pkg-config --cflags --libs udsrpc)
 */
#define _POSIX_C_SOURCE 200809L /* getopt; sigset_t in <udsrpc/client.h> */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udsrpc/udsrpc.h>

/* counterd.openrpc.json, as bytes (made from it by the build: one source of truth). */
static const char counterd_openrpc[] = {
#include "counterd.openrpc.h"
};

#define NAME_MAX_LEN 64                  /* the schema's pattern: ^[a-z0-9_.-]{1,64}$ */
#define VALUE_MAX 9007199254740991LL     /* 2^53 - 1: exact in every JSON reader */
#define COUNTERS_MAX 65536               /* then counter.add of a new name is error 2 */
#define ERR_OUT_OF_RANGE 1               /* the service's own error codes, */
#define ERR_TOO_MANY 2                   /* outside -32768..-32000 */

/* ---- the counters: open addressing, linear probing, power-of-two size ---- */

struct counter {
	uint64_t hash; /* 0: free slot */
	long long value;
	unsigned char len;
	char name[NAME_MAX_LEN + 1];
};

struct counters {
	struct counter *slot;
	size_t mask; /* size - 1 */
	size_t n;
};

static uint64_t name_hash(const char *name, size_t len)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
	return h ? h : 1;
}

/* The slot of name, or the free slot where it would go. */
static struct counter *counters_slot(const struct counters *t, const char *name, size_t len,
                                     uint64_t h)
{
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		struct counter *c = &t->slot[i];
		if (!c->hash || (c->hash == h && c->len == len && memcmp(c->name, name, len) == 0))
			return c;
	}
}

static int counters_init(struct counters *t, size_t size)
{
	if (!(t->slot = calloc(size, sizeof(*t->slot))))
		return -ENOMEM;
	t->mask = size - 1;
	t->n = 0;
	return 0;
}

/* Twice the size, so that at most half the slots are used. */
static int counters_grow(struct counters *t)
{
	struct counters bigger;

	if (counters_init(&bigger, (t->mask + 1) * 2) < 0)
		return -ENOMEM;
	for (size_t i = 0; i <= t->mask; i++) {
		const struct counter *c = &t->slot[i];
		if (c->hash)
			*counters_slot(&bigger, c->name, c->len, c->hash) = *c;
	}
	bigger.n = t->n;
	free(t->slot);
	*t = bigger;
	return 0;
}

/* Empty slot c, moving later entries of its run back so every lookup still finds them. */
static void counters_delete(struct counters *t, struct counter *c)
{
	size_t hole = (size_t)(c - t->slot);

	for (size_t i = (hole + 1) & t->mask; t->slot[i].hash; i = (i + 1) & t->mask) {
		size_t home = t->slot[i].hash & t->mask;
		/* Entry i may fill the hole if its home is not in (hole, i]. */
		if (((i - home) & t->mask) >= ((i - hole) & t->mask)) {
			t->slot[hole] = t->slot[i];
			hole = i;
		}
	}
	t->slot[hole].hash = 0;
	t->n--;
}

/* ---- the methods ---------------------------------------------------------- */

struct counterd {
	struct udsrpc_server *srv;
	struct counters counters;
};

/* The name param: valid (the schema checked it), but never trusted for length. */
static const char *param_name(const json_t *params, size_t *len)
{
	const json_t *v = json_object_get(params, "name");

	*len = json_string_length(v);
	return *len <= NAME_MAX_LEN ? json_string_value(v) : NULL;
}

/* {"name":"NAME","value":N} into buf; names need no escaping. Returns the length. */
static size_t counter_text(char *buf, const char *name, size_t len, long long value)
{
	static const char head[] = "{\"name\":\"", mid[] = "\",\"value\":";
	unsigned long long u = value < 0 ? 0ull - (unsigned long long)value : (unsigned long long)value;
	char digits[20];
	size_t n = 0, d = 0;

	memcpy(buf, head, sizeof(head) - 1);
	n += sizeof(head) - 1;
	memcpy(buf + n, name, len);
	n += len;
	memcpy(buf + n, mid, sizeof(mid) - 1);
	n += sizeof(mid) - 1;
	if (value < 0)
		buf[n++] = '-';
	do
		digits[d++] = (char)('0' + u % 10);
	while ((u /= 10));
	while (d)
		buf[n++] = digits[--d];
	buf[n++] = '}';
	return n;
}

#define COUNTER_TEXT_MAX (sizeof("{\"name\":\"\",\"value\":-}") + NAME_MAX_LEN + 20)

static void reply_counter(struct udsrpc_call *call, const char *name, size_t len, long long value)
{
	char buf[COUNTER_TEXT_MAX];

	udsrpc_call_result_text(call, buf, counter_text(buf, name, len, value));
}

/* Built only when someone listens. */
static void publish(struct counterd *cd, const char *name, long long value, long long by)
{
	if (udsrpc_server_wanted(cd->srv, "counter"))
		udsrpc_server_publish(cd->srv, "counter",
		                      json_pack("{s:s,s:I,s:I}", "name", name, "value",
		                                (json_int_t)value, "by", (json_int_t)by));
}

static void counter_add(struct udsrpc_call *call, const json_t *params, void *userdata)
{
	struct counterd *cd = userdata;
	struct counters *t = &cd->counters;
	const json_t *byv = json_object_get(params, "by");
	long long by = byv ? (long long)json_integer_value(byv) : 1;
	size_t len;
	const char *name = param_name(params, &len);
	uint64_t h;
	struct counter *c;

	if (!name) {
		udsrpc_call_error(call, UDSRPC_INVALID_PARAMS, NULL, NULL);
		return;
	}
	h = name_hash(name, len);
	c = counters_slot(t, name, len, h);
	if (!c->hash) {
		if (by == 0) { /* nothing to keep: a counter at 0 is one never added to */
			reply_counter(call, name, len, 0);
			return;
		}
		if (t->n >= COUNTERS_MAX) {
			udsrpc_call_error(call, ERR_TOO_MANY, "Too many counters",
			                  json_pack("{s:I}", "limit", (json_int_t)COUNTERS_MAX));
			return;
		}
		if ((t->n + 1) * 2 > t->mask + 1) {
			if (counters_grow(t) < 0) {
				udsrpc_call_error(call, UDSRPC_INTERNAL_ERROR, NULL, NULL);
				return;
			}
			c = counters_slot(t, name, len, h);
		}
		c->hash = h;
		c->value = 0;
		c->len = (unsigned char)len;
		memcpy(c->name, name, len);
		c->name[len] = '\0';
		t->n++;
	}
	/* Both within +-VALUE_MAX (the schema bounds by): the sum cannot overflow. */
	long long value = c->value + by;
	if (value > VALUE_MAX || value < -VALUE_MAX) {
		udsrpc_call_error(call, ERR_OUT_OF_RANGE, "Counter out of range",
		                  json_pack("{s:s,s:I,s:I}", "name", c->name, "value",
		                            (json_int_t)c->value, "by", (json_int_t)by));
		return;
	}
	reply_counter(call, name, len, value);
	if (by == 0)
		return;
	if (value == 0) {
		counters_delete(t, c);
	} else {
		c->value = value;
	}
	publish(cd, name, value, by);
}

/* The hot path: one lookup, the answer written out by hand. */
static void counter_get(struct udsrpc_call *call, const json_t *params, void *userdata)
{
	struct counterd *cd = userdata;
	size_t len;
	const char *name = param_name(params, &len);
	const struct counter *c;

	if (!name) {
		udsrpc_call_error(call, UDSRPC_INVALID_PARAMS, NULL, NULL);
		return;
	}
	c = counters_slot(&cd->counters, name, len, name_hash(name, len));
	reply_counter(call, name, len, c->hash ? c->value : 0);
}

static void counter_reset(struct udsrpc_call *call, const json_t *params, void *userdata)
{
	struct counterd *cd = userdata;
	size_t len;
	const char *name = param_name(params, &len);
	struct counter *c;
	long long old;

	if (!name) {
		udsrpc_call_error(call, UDSRPC_INVALID_PARAMS, NULL, NULL);
		return;
	}
	c = counters_slot(&cd->counters, name, len, name_hash(name, len));
	reply_counter(call, name, len, 0);
	if (!c->hash)
		return;
	old = c->value;
	counters_delete(&cd->counters, c);
	/* by = -old: value - by is the value before, as for every event. */
	publish(cd, name, 0, -old);
}

static const struct udsrpc_method counterd_methods[] = {
	{"counter.add", counter_add, UDSRPC_METHOD_PUBLIC},
	{"counter.get", counter_get, UDSRPC_METHOD_PUBLIC},
	{"counter.reset", counter_reset, 0}, /* admin: root and counterd's own uid by default */
};

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: counterd [-s PATH] [-p POLICY]\n"
	           "Named counters over a Unix socket (counter.add, counter.get, counter.reset).\n"
	           "  -s PATH    the socket (default: udsrpcd's, see udsrpc(7))\n"
	           "  -p POLICY  a policy file (default: anyone adds and reads, root and\n"
	           "             counterd's own user reset); SIGHUP re-reads it\n");
}

int main(int argc, char **argv)
{
	struct udsrpc_server_options o;
	struct counterd cd = {0};
	const char *socket_path = NULL, *policy = NULL;
	char err[512] = "";
	int opt, r;

	while ((opt = getopt(argc, argv, "s:p:h")) != -1) {
		switch (opt) {
		case 's':
			socket_path = optarg;
			break;
		case 'p':
			policy = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	udsrpc_server_options_init(&o);
	o.name = "counterd";
	o.version = "1.0.0";
	o.socket_path = socket_path;
	o.builtins = UDSRPC_BUILTIN_PING | UDSRPC_BUILTIN_DISCOVER | UDSRPC_BUILTIN_WHOAMI |
	             UDSRPC_BUILTIN_EVENTS;
	/* SIGTERM/SIGINT stop gracefully, SIGHUP re-reads the policy file; READY=1 for systemd. */
	o.flags = UDSRPC_SERVER_SIGNALS | UDSRPC_SERVER_NOTIFY;
	if (counters_init(&cd.counters, 64) < 0 ||
	    (r = udsrpc_server_new(&cd.srv, &o, err, sizeof(err))) < 0) {
		fprintf(stderr, "counterd: %s\n", cd.counters.slot ? err : "out of memory");
		return 1;
	}
	if ((r = udsrpc_server_add_methods(cd.srv, counterd_openrpc, sizeof(counterd_openrpc),
	                                   counterd_methods,
	                                   sizeof(counterd_methods) / sizeof(counterd_methods[0]),
	                                   &cd, err, sizeof(err))) < 0 ||
	    (r = udsrpc_server_add_topic(cd.srv, "counter", NULL)) < 0 ||
	    (policy && (r = udsrpc_server_set_policy_file(cd.srv, policy, err, sizeof(err))) < 0) ||
	    (r = udsrpc_server_run(cd.srv, err, sizeof(err))) < 0) {
		udsrpc_server_log(cd.srv, UDSRPC_LOG_ERROR, "%s", *err ? err : strerror(-r));
		udsrpc_server_free(cd.srv);
		free(cd.counters.slot);
		return 1;
	}
	udsrpc_server_free(cd.srv);
	free(cd.counters.slot);
	return 0;
}
