/* policy.h — compiled access rules: may this peer call this method? */
#ifndef UDSRPC_POLICY_H
#define UDSRPC_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "peer.h"

struct policy;

/*
 * Compile a policy document (PROTOCOL.md §4). self_uid is what "self" means.
 * On error returns -EINVAL and writes a one-line message naming the rule by
 * its 1-based position and the field ("rule 3: uids: unknown user 'bob'")
 * into err. doc is borrowed.
 */
int policy_compile(const json_t *doc, uid_t self_uid, struct policy **ret, char *err, size_t errlen);
/* Load and compile a file; err names the file too. */
int policy_load_file(const char *path, uid_t self_uid, struct policy **ret, char *err, size_t errlen);
/* The embedded default: rules 1 and 4 of PROTOCOL.md §4. Never fails but on ENOMEM (NULL). */
struct policy *policy_default(uid_t self_uid);
bool policy_allows(const struct policy *p, const struct peer_ident *peer, const char *method);
size_t policy_rule_count(const struct policy *p);
void policy_free(struct policy *p);

#endif
