/* config.h — udsrpcd's settings: embedded defaults and the JSON config file. */
#ifndef UDSRPC_CONFIG_H
#define UDSRPC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include <udsrpc/server.h>

/* Strings are owned (malloc'd) by the struct; NULL means "not set, use the default". */
struct config {
	char *socket;
	mode_t socket_mode;
	char *socket_group;
	char *state_dir;
	char *policy;
	enum udsrpc_log_level log_level;
	char *user;
	char *group;
	/* The file's "limits" object as it was validated (NULL: none): each
	 * member is applied by name, and the defaults live with the limits
	 * themselves (the library's and the store's). */
	json_t *limits;
};

void config_defaults(struct config *c);
void config_free(struct config *c);
/*
 * Validate doc against schema/config.schema.json and apply its members over
 * c. -EINVAL with "PATH: reason" in err (the caller prefixes the file name).
 */
int config_apply_json(struct config *c, const json_t *doc, char *err, size_t errlen);
/*
 * Rewrite doc's relative socket, policy and state_dir against the directory
 * of file (made absolute when it exists), as config_load_file does before it
 * applies them. 0 or -ENOMEM.
 */
int config_resolve_paths(json_t *doc, const char *file);
/* Read, parse, resolve (config_resolve_paths) and apply a file; err names the file. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Replace a string member, freeing the old value. */
void config_set_str(char **slot, const char *value);
/* New reference: the settings, as --check prints them, with limits (borrowed; NULL: left out) the ones in force. */
json_t *config_to_json(const struct config *c, const json_t *limits);

#endif
