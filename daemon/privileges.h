/* privileges.h — whom udsrpcd serves as (config "user"/"group"), and the switch to them. */
#ifndef UDSRPCD_PRIVILEGES_H
#define UDSRPCD_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/*
 * Who serves: config "user"/"group" when set, else whoever started us.
 * switch_ids: started as root with either set, so the ids change once the
 * socket is bound and the store open, before the first request is read.
 */
struct runas {
	uid_t uid;
	gid_t gid;
	bool switch_ids;
};

/* Resolve the names; -errno with a message (no such user, cannot switch as non-root). */
int runas_resolve(const struct config *cfg, struct runas *ret, char *err, size_t errlen);
/*
 * The switch itself, after everything that needs root is done: groups, gid,
 * uid, and a check that root cannot be regained. -errno with a message.
 */
int runas_switch(const struct config *cfg, const struct runas *ra, char *err, size_t errlen);

#endif
