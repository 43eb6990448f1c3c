/* privileges.c — whom udsrpcd serves as, and the one-way switch to that user. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "names.h"
#include "privileges.h"

int runas_resolve(const struct config *cfg, struct runas *ret, char *err, size_t errlen)
{
	int r = 0;

	ret->uid = geteuid();
	ret->gid = getegid();
	ret->switch_ids = (cfg->user || cfg->group) && geteuid() == 0;
	/* Without "group", the user's own primary group. */
	if (cfg->user && (r = names_user_ids(cfg->user, &ret->uid, &ret->gid)) < 0) {
		snprintf(err, errlen, "user '%s': %s; create the user or fix \"user\" in the config",
			 cfg->user, r == -ENOENT ? "no such user" : strerror(-r));
		return r;
	}
	if (cfg->group && (r = names_group_id(cfg->group, &ret->gid)) < 0) {
		snprintf(err, errlen, "group '%s': %s; create the group or fix \"group\" in the config",
			 cfg->group, r == -ENOENT ? "no such group" : strerror(-r));
		return r;
	}
	if (!ret->switch_ids && (ret->uid != geteuid() || (cfg->group && ret->gid != getegid()))) {
		snprintf(err, errlen,
			 "the config says to run as %s%s%s but udsrpcd was started as uid %u, not "
			 "root, so it cannot switch; start it as root or remove \"user\"/\"group\"",
			 cfg->user ? cfg->user : "", cfg->user && cfg->group ? ":" : "",
			 cfg->group ? cfg->group : "", (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

/*
 * Supplementary groups go first (only root may set them), then the gid,
 * then the uid; a switch that could be undone is refused rather than trusted.
 */
int runas_switch(const struct config *cfg, const struct runas *ra, char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int e;

	if ((cfg->user ? initgroups(cfg->user, ra->gid) : setgroups(1, &ra->gid)) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot set the supplementary groups of %s: %s",
			 cfg->user ? cfg->user : cfg->group, strerror(e));
		return -e;
	}
	if (setresgid(ra->gid, ra->gid, ra->gid) < 0 || setresuid(ra->uid, ra->uid, ra->uid) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot switch to uid %u gid %u: %s", (unsigned)ra->uid,
			 (unsigned)ra->gid, strerror(e));
		return -e;
	}
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != ra->uid ||
	    eu != ra->uid || su != ra->uid || rg != ra->gid || eg != ra->gid || sg != ra->gid ||
	    (ra->uid != 0 && (setuid(0) == 0 || setgid(0) == 0))) {
		snprintf(err, errlen, "switching to uid %u gid %u did not stick (root can be "
				      "regained); refusing to serve", (unsigned)ra->uid, (unsigned)ra->gid);
		return -EPERM;
	}
	return 0;
}
