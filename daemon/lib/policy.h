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
 * Compile a policy document (udsrpc(7)). self_uid is what "self" means.
 * User and group names are resolved now (getpwnam_r/getgrnam_r), never at
 * call time. On error returns -EINVAL (-ENOMEM, or the -errno of a name
 * service that could not be asked) and writes a one-line message naming the
 * rule by its 1-based position and the field into err (may be NULL):
 *   rule 2: unknown member 'method'
 *   rule 1: methods: empty pattern (entry 2)
 *   unknown top-level member 'rule'
 * An unknown user or group name is no error: it matches no one and becomes a
 * warning (policy_warnings). doc is borrowed. On success the caller owns *ret (policy_free).
 * A compiled policy is immutable: share it freely, swap it whole on reload.
 */
int policy_compile(const json_t *doc, uid_t self_uid, struct policy **ret, char *err,
                   size_t errlen);
/*
 * What compiling p found wrong without rejecting it, one line per problem
 * ("rule 3: uids: unknown user 'bob' matches no one"), "\n"-joined; NULL if
 * none. Owned by p.
 */
const char *policy_warnings(const struct policy *p);
/*
 * False when no process of uid 0 could be allowed method under p: the
 * server warns when a policy leaves root no way to call daemon.reload.
 */
bool policy_root_may_call(const struct policy *p, const char *method);
/*
 * Calls fn(rule_no, pattern) for each method pattern of p that matches none
 * of the n names (names[i] of lens[i] bytes, borrowed), in rule order: the
 * server warns of patterns that match no method it serves.
 */
typedef void policy_pattern_fn(size_t rule_no, const char *pattern, void *userdata);
void policy_unmatched_patterns(const struct policy *p, const char *const *names, const size_t *lens,
                               size_t n, policy_pattern_fn *fn, void *userdata);
/*
 * Load and compile a file; err starts with the path: "/etc/x.json: rule 3: …",
 * or for bad JSON "/etc/x.json: line 4 column 7: <jansson's text>". Returns
 * -EINVAL for a bad document (duplicate members included), or the -errno of
 * opening it (-ENOENT, -EACCES, -EISDIR, …). The caller owns *ret.
 */
int policy_load_file(const char *path, uid_t self_uid, struct policy **ret, char *err,
                     size_t errlen);
/*
 * The embedded default: anyone may call the public methods (names
 * borrowed), uid 0 and self_uid may call everything and provide any name
 * (rpc.provide). NULL on ENOMEM.
 */
struct policy *policy_default(uid_t self_uid, const char *const *public_methods, size_t n);
/*
 * First matching rule's effect; no match (or p NULL) is deny. A short scan:
 * no allocation, no lookups, no system calls. An allow rule with exe never
 * matches a peer whose exe is NULL, a deny rule with exe always does. An exe
 * entry matches the path as written or what it resolved to (realpath) when
 * the policy was loaded. A pids entry matches only the process that had the
 * pid when the policy was loaded (its start time), a peer whose start time
 * is unknown only in a deny rule.
 */
bool policy_allows(const struct policy *p, const struct udsrpc_peer *peer, const char *method,
                   const char *key);
/*
 * What p says of one peer calling one method, on any key: the rules with
 * keys that select both, in order, and the verdict of the first rule
 * without keys that does (deny if none). A connection's identity and a
 * method are fixed, so the rpc layer makes one per (connection, method)
 * and a call on a key then costs only the key globs of those rules.
 * Borrows p's rules: valid while p is. NULL on ENOMEM; free() it.
 */
struct policy_plan;
struct policy_plan *policy_plan_new(const struct policy *p, const struct udsrpc_peer *peer,
                                    const char *method);
/* No rule with keys takes part: the verdict holds for every key (and none). */
bool policy_plan_keyless(const struct policy_plan *plan);
/* policy_allows(p, peer, method, key) for the plan's p, peer and method. */
bool policy_plan_allows(const struct policy_plan *plan, const char *key);
/* Two plans of one policy that decide every key alike: the same globs of the same rules, in order. */
bool policy_plan_same(const struct policy_plan *a, const struct policy_plan *b);
/*
 * Which rule decides: its 1-based position in the file (call rules and
 * provide rules counted alike) and in *ret_allow its effect, or 0 and deny
 * when none matches. provide: judge name as a provide rule would
 * (policy_allows_provide), else as a call of method name on key (NULL:
 * none). What policy_allows answers, and udsrpcd --check --as prints.
 */
size_t policy_decide(const struct policy *p, bool provide, const struct udsrpc_peer *peer,
                     const char *name, const char *key, bool *ret_allow);
/*
 * The same for a provide rule (udsrpc(7), "PROVIDERS"): may this peer serve
 * name (a method or a topic) through rpc.provide? Only provide rules are
 * looked at, and call rules only by policy_allows.
 */
bool policy_allows_provide(const struct policy *p, const struct udsrpc_peer *peer,
                           const char *name);
/*
 * How a pids entry pins the process that has the pid at load
 * (peer_process_of_pid; NULL restores it; -ESRCH: none). Tests only: a fake
 * one stands for a process that died and a later one with its pid.
 */
typedef int policy_process_fn(pid_t pid, struct peer_process *ret);
void policy_set_process_fn(policy_process_fn *fn);
size_t policy_rule_count(const struct policy *p);
/* How many of them are provide rules. */
size_t policy_provide_rule_count(const struct policy *p);
/* True when a rule selects keys: only then does a call's key take part in its verdict. */
bool policy_has_keys(const struct policy *p);
/*
 * The compiled policy as a policy document, for `udsrpcd --check`: names and
 * "self" appear as the numbers they resolved to, unknown names as written
 * (so they stay unknown, and warned of, when it is loaded), exe paths as written, and
 * absent selectors stay absent. New reference (NULL on ENOMEM); it compiles
 * back to the same policy.
 */
json_t *policy_to_json(const struct policy *p);
void policy_free(struct policy *p);

#endif
