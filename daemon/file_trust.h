/* file_trust.h — whether the daemon may believe a file that says what it does. */
#ifndef UDSRPCD_FILE_TRUST_H
#define UDSRPCD_FILE_TRUST_H

#include <stddef.h>
#include <sys/types.h>

/*
 * A policy or config file must belong to root, to the uid the daemon runs as
 * or to user (the uid it will serve as, 0 when it has none) and must not be
 * writable by group or others, as sshd and sudo require of theirs: else
 * whoever may write it decides what the daemon allows. Not only as root:
 * under its systemd unit the daemon is the system user udsrpcd with
 * CAP_SYS_PTRACE, serving every user, and its policy is root's to set. 0, or
 * -EPERM (or the stat error) with a message naming the path and the fix.
 */
int file_trust_check(const char *path, uid_t user, char *err, size_t errlen);

#endif
