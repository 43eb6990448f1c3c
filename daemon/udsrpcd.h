/* udsrpcd.h — the daemon: its settings, the library server it runs, and the store behind config.*. */
#ifndef UDSRPCD_H
#define UDSRPCD_H

#include <stdbool.h>
#include <stddef.h>

#include <udsrpc/udsrpc.h>

#include "config.h"
#include "spares.h"
#include "store.h"

struct history;

struct udsrpcd {
	struct config cfg;
	char *config_path;	 /* -c, re-read on reload */
	char *policy_path;	 /* -p or config "policy"; NULL = embedded default */
	bool policy_from_config; /* reload may take a new path from the config file */
	struct udsrpc_server *srv;
	struct store *store;
	struct history *history; /* the config events kept for after_revision (history.h) */
	struct store_limits store_limits; /* config "limits" the store enforces */
	uid_t self_uid; /* the uid that serves (after any switch) */
	/* Released write states and config.txn params blocks, for the next writes (methods/config.c). */
	struct spares spare_writes, spare_txn_blocks;
};

/*
 * The server with udsrpcd's options, limits, methods and policy, not
 * listening yet (--check stops here). -errno with a message.
 */
int udsrpcd_init(struct udsrpcd *d, char *err, size_t errlen);
/* Bind, open the state, drop privileges, serve until stopped. 0 on a clean stop. */
int udsrpcd_run(struct udsrpcd *d, char *err, size_t errlen);
/*
 * udsrpcd --repair: store_repair on state_dir, its result on stdout, a
 * failure on stderr. The exit status: 0, or 1 when the dir cannot be
 * opened or repaired.
 */
int udsrpcd_repair(const char *state_dir);
/* Re-read the config file's limits and log level, and the policy; all or nothing. */
int udsrpcd_reload(struct udsrpcd *d, char *err, size_t errlen);
/* New reference: the settings and the policy in force, as --check prints them. */
json_t *udsrpcd_check_json(struct udsrpcd *d);
void udsrpcd_free(struct udsrpcd *d);

/* The daemon's own methods (methods/config.c, methods/daemon.c); userdata is the udsrpcd. */
extern const struct udsrpc_method config_methods[];
extern const size_t config_methods_count;
extern const struct udsrpc_method daemon_methods[];
extern const size_t daemon_methods_count;
/* methods/config.c: the store's hooks (early answers, per-connection state). */
void config_attach_store(struct udsrpcd *d);
void config_conn_closed(struct udsrpcd *d, void *conn_data);
/* The write states kept for reuse go (udsrpcd_free, once no write is left). */
void config_spares_free(struct udsrpcd *d);
/*
 * The ephemeral items store_open removed at start-up (keys borrowed, one
 * revision): their config events, reason owner_closed, in the history.
 */
void config_record_purged(struct udsrpcd *d, uint64_t revision, const json_t *keys);

#endif
