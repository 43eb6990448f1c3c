/* state_dir.c — the store's directory, made and checked before the store opens it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state_dir.h"

int state_dir_make(const char *path, const struct runas *ra, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct stat st;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char save = *p;
		*p = '\0';
		if (mkdir(tmp, 0700) == 0) {
			if (ra->switch_ids && chown(tmp, ra->uid, ra->gid) < 0) {
				int e = errno;
				snprintf(err, errlen, "cannot chown state dir %.512s to %u:%u: %s", tmp,
					 (unsigned)ra->uid, (unsigned)ra->gid, strerror(e));
				return -e;
			}
		} else if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create state dir %.512s: %s", tmp, strerror(errno));
			return -errno;
		}
		*p = save;
		if (save == '\0')
			break;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state dir %s is not a directory", path);
		return -ENOTDIR;
	}
	/* Anyone who may write it could swap the store's files for their own. */
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen,
			 "state dir %s is writable by group or others (mode %04o); chmod go-w %s, or "
			 "pick another --state-dir", path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	/* After a switch the store is written as that uid: root's would not do. */
	uid_t self = ra->switch_ids ? ra->uid : geteuid();
	if (st.st_uid != self && (ra->switch_ids || st.st_uid != 0)) {
		snprintf(err, errlen,
			 "state dir %s is owned by uid %u, not by uid %u that udsrpcd runs as (or root); "
			 "chown -R %u %s, or pick another --state-dir", path, (unsigned)st.st_uid,
			 (unsigned)self, (unsigned)self, path);
		return -EPERM;
	}
	return 0;
}
