/* config.h — the daemon's settings: embedded defaults, the JSON config file, limits. */
#ifndef UDSRPC_CONFIG_H
#define UDSRPC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "log.h"

/* PROTOCOL.md §5; defaults live in config_defaults() and nowhere else. */
struct limits {
	unsigned max_connections;
	unsigned max_connections_per_uid;
	size_t max_message_bytes;
	unsigned max_batch;
	size_t max_output_bytes;
	unsigned partial_timeout_ms;
	unsigned idle_timeout_ms;
};

/* Strings are owned (malloc'd) by the struct; NULL means "not set, use the default". */
struct config {
	char *socket;
	mode_t socket_mode;
	char *socket_group;
	char *state_dir;
	char *policy;
	enum log_level log_level;
	char *user;
	char *group;
	struct limits limits;
};

void config_defaults(struct config *c);
void config_free(struct config *c);
/*
 * Validate doc against schema/config.schema.json and apply its members over
 * c. -EINVAL with "PATH: reason" in err (the caller prefixes the file name).
 */
int config_apply_json(struct config *c, const json_t *doc, char *err, size_t errlen);
/* Read, parse and apply a file; err names the file. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Replace a string member, freeing the old value. */
void config_set_str(char **slot, const char *value);
/* New reference: the effective settings, as --check prints them. */
json_t *config_to_json(const struct config *c);

#endif
