/*
 * limits.c — every limit of udsrpc(7) in one table: its name (in config
 * files, set_limit and messages), its default and the range that can work.
 * A default lives here and nowhere else.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "export.h"
#include "server.h"

struct limit_def {
	const char *name;
	size_t opt;   /* offset in struct udsrpc_server_options */
	size_t field; /* offset in struct limits */
	uint64_t def, min, max;
};

#define LIMIT(f, d, lo, hi)                                                               \
	{#f, offsetof(struct udsrpc_server_options, f), offsetof(struct limits, f), d, lo, hi}

static const struct limit_def limit_defs[] = {
	LIMIT(max_connections, 4096, 1, 1048576),
	LIMIT(max_connections_per_uid, 256, 1, 1048576),
	/* Room for a ping request, and for any error reply. */
	LIMIT(max_message_bytes, 1048576, 64, 1073741824),
	LIMIT(max_batch, 1024, 1, 1048576),
	LIMIT(max_output_bytes, 8388608, 4096, 1073741824),
	/* A partial line always ends: it cannot be switched off. */
	LIMIT(partial_timeout_ms, 10000, 1, 86400000),
	LIMIT(idle_timeout_ms, 0, 0, 86400000),
	LIMIT(call_timeout_ms, 30000, 1, 86400000),
	LIMIT(max_provider_inflight, 1024, 1, 1048576),
};
#define NLIMITS (sizeof(limit_defs) / sizeof(limit_defs[0]))

static uint64_t *opt_slot(const struct udsrpc_server_options *o, const struct limit_def *d)
{
	return (uint64_t *)((char *)o + d->opt);
}

static uint64_t *limit_slot(const struct limits *l, const struct limit_def *d)
{
	return (uint64_t *)((char *)l + d->field);
}

uint64_t limits_root_reserve(const struct limits *l)
{
	uint64_t quarter = l->max_connections / 4;
	return quarter < 16 ? quarter : 16;
}

uint64_t limits_uid_output(const struct limits *l)
{
	return 4 * l->max_output_bytes;
}

void limits_defaults(struct udsrpc_server_options *o, size_t size)
{
	for (size_t i = 0; i < NLIMITS; i++)
		if (limit_defs[i].opt + sizeof(uint64_t) <= size)
			*opt_slot(o, &limit_defs[i]) = limit_defs[i].def;
}

int limits_from_options(struct limits *l, const struct udsrpc_server_options *o, size_t size,
                        char *err, size_t errlen)
{
	for (size_t i = 0; i < NLIMITS; i++) {
		const struct limit_def *d = &limit_defs[i];
		/* A field past what the caller's header knew: the default. */
		uint64_t v = d->opt + sizeof(uint64_t) <= size ? *opt_slot(o, d) : d->def;
		if (v < d->min || v > d->max) {
			if (err && errlen)
				snprintf(err, errlen, "%s %llu is out of range (%llu..%llu)", d->name,
				         (unsigned long long)v, (unsigned long long)d->min,
				         (unsigned long long)d->max);
			return -ERANGE;
		}
		*limit_slot(l, d) = v;
	}
	return 0;
}

static const struct limit_def *limit_find(const char *name)
{
	for (size_t i = 0; name && i < NLIMITS; i++)
		if (strcmp(limit_defs[i].name, name) == 0)
			return &limit_defs[i];
	return NULL;
}

UDSRPC_EXPORT int udsrpc_server_set_limit(struct udsrpc_server *srv, const char *name,
                                          uint64_t value)
{
	const struct limit_def *d = limit_find(name);

	if (!d)
		return -ENOENT;
	if (value < d->min || value > d->max)
		return -ERANGE;
	*limit_slot(&srv->limits, d) = value;
	return 0;
}

UDSRPC_EXPORT int udsrpc_server_get_limit(const struct udsrpc_server *srv, const char *name,
                                          uint64_t *ret)
{
	const struct limit_def *d = limit_find(name);

	if (!d)
		return -ENOENT;
	*ret = *limit_slot(&srv->limits, d);
	return 0;
}

UDSRPC_EXPORT const char *udsrpc_limit_name(size_t i)
{
	return i < NLIMITS ? limit_defs[i].name : NULL;
}
