/*
 * check_as.c — udsrpcd --check --as USER[:GROUP] [--pid N] [--exe PATH]
 * (METHOD [KEY] | --provide NAME), CLI.md: the caller is made as the
 * kernel would show it (groups as the system gives USER), and the policy
 * in force judges it as it would judge that peer.
 */
#include "check_as.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* A whole decimal number in [min, max]; false otherwise. */
static bool parse_id(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*ret = v;
	return true;
}

/*
 * USER[:GROUP] to uid, primary gid and the groups the system gives USER;
 * USER may be a uid that has no name when GROUP is given. False (said)
 * when it names no one.
 */
static bool resolve_as(const char *as, struct udsrpc_policy_caller *who, gid_t **ret_groups)
{
	const char *colon = strchr(as, ':');
	size_t ulen = colon ? (size_t)(colon - as) : strlen(as);
	char user[256];
	int r;

	if (ulen == 0 || ulen >= sizeof(user) || (colon && !colon[1])) {
		fprintf(stderr, "udsrpcd: --as '%s': expected USER or USER:GROUP\n", as);
		return false;
	}
	memcpy(user, as, ulen);
	user[ulen] = '\0';
	r = names_user_ids(user, &who->uid, &who->gid);
	/* A uid without a name has no groups but the one given. */
	unsigned long uid;
	bool nameless = r == -ENOENT && colon && parse_id(user, 0, UINT32_MAX - 1, &uid);
	if (nameless) {
		who->uid = (uid_t)uid;
		r = 0;
	}
	if (r < 0) {
		fprintf(stderr, "udsrpcd: --as: %s user '%s'%s%s\n",
		        r == -ENOENT ? "unknown" : "cannot look up", user, r == -ENOENT ? "" : ": ",
		        r == -ENOENT ? "" : strerror(-r));
		return false;
	}
	if (colon) {
		unsigned long id;
		r = names_group_id(colon + 1, &who->gid);
		if (r == -ENOENT && parse_id(colon + 1, 0, UINT32_MAX - 1, &id)) {
			who->gid = (gid_t)id;
			r = 0;
		}
		if (r < 0) {
			fprintf(stderr, "udsrpcd: --as: unknown group '%s'\n", colon + 1);
			return false;
		}
	}
	if (nameless)
		return true;
	if (names_user_groups(user, who->gid, ret_groups, &who->ngroups) < 0) {
		fprintf(stderr, "udsrpcd: --as: out of memory\n");
		return false;
	}
	who->groups = *ret_groups;
	return true;
}

int check_as(const struct udsrpc_server *srv, const struct check_as *a)
{
	struct udsrpc_policy_caller who = {.exe = a->exe};
	gid_t *groups = NULL;
	unsigned long pid;
	size_t rule;

	if (a->pid) {
		if (!parse_id(a->pid, 1, INT_MAX, &pid)) {
			fprintf(stderr, "udsrpcd: --pid '%s': expected a process id\n", a->pid);
			return 2;
		}
		who.pid = (pid_t)pid;
	}
	if (a->exe && a->exe[0] != '/') {
		fprintf(stderr, "udsrpcd: --exe '%s': expected an absolute path\n", a->exe);
		return 2;
	}
	if (!resolve_as(a->as, &who, &groups))
		return 2;
	int allow = udsrpc_server_policy_check(srv, &who, a->provide ? a->provide : a->method,
	                                       a->key, a->provide != NULL, &rule);
	free(groups);
	if (rule)
		printf("%s (rule %zu)\n", allow == 1 ? "allow" : "deny", rule);
	else
		printf("deny (no rule matched)\n");
	return allow == 1 ? 0 : 1;
}
