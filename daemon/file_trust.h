/* file_trust.h — whether root may believe a file that says what the daemon does. */
#ifndef UDSRPCD_FILE_TRUST_H
#define UDSRPCD_FILE_TRUST_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Running as root, a policy or config file must belong to root or to user
 * (the daemon's own uid, 0 when it has none) and must not be writable by
 * group or others, as sshd and sudo require of theirs: else whoever may
 * write it decides what root's daemon allows. Not root: always 0 (such a
 * daemon can do no more than its own uid). 0, or -EPERM (or the stat
 * error) with a message naming the path and the fix.
 */
int file_trust_check(const char *path, uid_t user, char *err, size_t errlen);

#endif
