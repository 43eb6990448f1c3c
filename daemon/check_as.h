/* check_as.h — udsrpcd --check --as: what the policy decides for a caller named on the command line. */
#ifndef UDSRPCD_CHECK_AS_H
#define UDSRPCD_CHECK_AS_H

#include <udsrpc/udsrpc.h>

struct check_as {
	const char *as;      /* USER[:GROUP] */
	const char *pid;     /* --pid N, or NULL */
	const char *exe;     /* --exe PATH, or NULL: unknown */
	const char *provide; /* --provide NAME, or NULL: judge a call of method */
	const char *method;  /* METHOD */
	const char *key;     /* KEY, or NULL */
};

/*
 * Prints "allow (rule N)", "deny (rule N)" or "deny (no rule matched)" for
 * the policy in force on srv and returns the exit status: 0 allow, 1 deny,
 * 2 for an argument that names no one (unknown user or group, a bad pid
 * or exe), said on stderr.
 */
int check_as(const struct udsrpc_server *srv, const struct check_as *a);

#endif
