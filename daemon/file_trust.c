/* file_trust.c — the ownership and mode the daemon requires of the files it obeys. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_trust.h"

int file_trust_check(const char *path, uid_t user, char *err, size_t errlen)
{
	struct stat st;
	uid_t self = geteuid();

	if (stat(path, &st) < 0) {
		int r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (st.st_uid != 0 && st.st_uid != self && st.st_uid != user) {
		snprintf(err, errlen,
			 "%s: owned by uid %u; udsrpcd (uid %u) reads only files owned by root or "
			 "uid %u: chown root %s",
			 path, (unsigned)st.st_uid, (unsigned)self, (unsigned)(self ? self : user), path);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen,
			 "%s: writable by group or others (mode %04o); udsrpcd refuses it: chmod go-w %s",
			 path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}
