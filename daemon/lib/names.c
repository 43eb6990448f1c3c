/* names.c — one growing-buffer loop for getpwnam_r, getgrnam_r and getpwuid_r. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "names.h"

enum names_query { BY_USER_NAME, BY_GROUP_NAME, BY_UID };

/* 0 with *ret_id / *ret_name filled; -ENOENT for "no such entry"; other -errno. */
static int names_lookup(enum names_query q, const char *name, uid_t uid, unsigned *ret_id,
			gid_t *ret_gid, char **ret_name)
{
	long hint = sysconf(q == BY_GROUP_NAME ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 1024;

	for (;;) {
		struct passwd pw, *pwf = NULL;
		struct group gr, *grf = NULL;
		char *buf = malloc(size);
		int r;

		if (!buf)
			return -ENOMEM;
		if (q == BY_USER_NAME)
			r = getpwnam_r(name, &pw, buf, size, &pwf);
		else if (q == BY_GROUP_NAME)
			r = getgrnam_r(name, &gr, buf, size, &grf);
		else
			r = getpwuid_r(uid, &pw, buf, size, &pwf);
		/* Groups with many members need big buffers. */
		if (r == ERANGE && size < (1u << 24)) {
			free(buf);
			size *= 2;
			continue;
		}
		if (r == 0 && (pwf || grf)) {
			r = 0;
			if (ret_id)
				*ret_id = grf ? grf->gr_gid : pwf->pw_uid;
			if (ret_gid && pwf)
				*ret_gid = pwf->pw_gid;
			if (ret_name && !(*ret_name = strdup(pwf->pw_name)))
				r = -ENOMEM;
			free(buf);
			return r;
		}
		free(buf);
		/* getpwnam_r(3) lists these as what some backends say for "not found". */
		if (r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
			return -ENOENT;
		return -r;
	}
}

int names_user_id(const char *name, uid_t *ret_id)
{
	unsigned id;
	int r = names_lookup(BY_USER_NAME, name, 0, &id, NULL, NULL);
	if (r == 0)
		*ret_id = id;
	return r;
}

int names_user_ids(const char *name, uid_t *ret_uid, gid_t *ret_gid)
{
	unsigned id;
	int r = names_lookup(BY_USER_NAME, name, 0, &id, ret_gid, NULL);
	if (r == 0)
		*ret_uid = id;
	return r;
}

int names_group_id(const char *name, gid_t *ret_id)
{
	unsigned id;
	int r = names_lookup(BY_GROUP_NAME, name, 0, &id, NULL, NULL);
	if (r == 0)
		*ret_id = id;
	return r;
}

int names_user_name(uid_t uid, char **ret)
{
	*ret = NULL;
	/* Any failure but ENOMEM (no entry, NSS unreachable, EMFILE opening
	 * /etc/passwd) only costs the display name. */
	int r = names_lookup(BY_UID, NULL, uid, NULL, NULL, ret);
	return r == -ENOMEM ? r : 0;
}

int names_user_groups(const char *name, gid_t gid, gid_t **ret, size_t *ret_n)
{
	int n = 16;

	*ret = NULL;
	*ret_n = 0;
	/* -1 with n set to what is needed when the buffer is short; bounded like the loop above. */
	for (int tries = 0; tries < 8; tries++) {
		gid_t *groups = malloc((size_t)n * sizeof(*groups));
		int want = n;
		if (!groups)
			return -ENOMEM;
		if (getgrouplist(name, gid, groups, &want) >= 0) {
			*ret = groups;
			*ret_n = (size_t)want;
			return 0;
		}
		free(groups);
		n = want > n ? want : n * 2;
	}
	return -ENOMEM;
}
