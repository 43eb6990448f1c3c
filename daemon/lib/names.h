/* names.h — user and group names <-> ids, through NSS with buffers that grow as needed. */
#ifndef UDSRPC_NAMES_H
#define UDSRPC_NAMES_H

#include <sys/types.h>

/* 0 with *ret_id; -ENOENT for no such name; other -errno when the lookup failed. */
int names_user_id(const char *name, uid_t *ret_id);
int names_group_id(const char *name, gid_t *ret_id);
/* As names_user_id, plus the user's primary group (to switch to that user). */
int names_user_ids(const char *name, uid_t *ret_uid, gid_t *ret_gid);
/*
 * The groups the system gives user name with primary group gid
 * (getgrouplist: gid among them): 0 with *ret (caller frees) of *ret_n,
 * -ENOMEM.
 */
int names_user_groups(const char *name, gid_t gid, gid_t **ret, size_t *ret_n);
/* 0 with *ret a new string (caller frees), or NULL when the uid has no name
 * or the lookup failed (a display name is never worth failing for); -ENOMEM. */
int names_user_name(uid_t uid, char **ret);

#endif
