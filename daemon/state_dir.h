/* state_dir.h — the store's directory: created if missing, refused if others could change it. */
#ifndef UDSRPCD_STATE_DIR_H
#define UDSRPCD_STATE_DIR_H

#include <stddef.h>

#include "privileges.h"

/*
 * mkdir -p with mode 0700 for what we create; what we create before
 * switching ids is chowned to the user that will use it. The state dir must
 * not be world-writable, and after a switch it must be that user's.
 * -errno with a message naming the path and the fix.
 */
int state_dir_make(const char *path, const struct runas *ra, char *err, size_t errlen);

#endif
