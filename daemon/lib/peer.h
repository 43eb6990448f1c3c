/* peer.h — who is on the other end of a connection, as the kernel says. */
#ifndef UDSRPC_PEER_H
#define UDSRPC_PEER_H

#include <stdbool.h>
#include <sys/types.h>

#include <udsrpc/call.h>

/*
 * Captured once at accept and never changed by anything a request says.
 * Strings are owned by the struct (freed by peer_clear); any of
 * user/comm/exe may be NULL when unknown (e.g. the process already exited).
 */
struct udsrpc_peer {
	unsigned long long id; /* connection id, unique for the daemon's lifetime */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups; /* supplementary groups (SO_PEERGROUPS), may be NULL when ngroups == 0 */
	int ngroups;
	char *user; /* getpwuid name */
	char *comm; /* /proc/PID/comm, verified through a pidfd */
	char *exe;  /* readlink /proc/PID/exe, verified through a pidfd */
};

/*
 * Fill *ret from the connected AF_UNIX socket fd: SO_PEERCRED, SO_PEERGROUPS,
 * and comm/exe pinned by a pidfd (SO_PEERPIDFD, else pidfd_open). Returns 0,
 * or -errno when SO_PEERCRED or SO_PEERGROUPS fails (-ENOTCONN: no peer) or
 * memory runs out; the connection should then be dropped, since a partial
 * identity could slip past a deny rule; *ret then owns nothing.
 * Failures after that (no pidfd, EMFILE, process gone, no permission to read
 * /proc/PID/exe) only leave comm/exe NULL; a failed getpwuid_r leaves user NULL.
 * Holds at most two extra descriptors while it runs and none on return.
 * The caller owns *ret and releases it with peer_clear.
 */
int peer_capture(int fd, unsigned long long id, struct udsrpc_peer *ret);
/* Frees what *p owns and resets those members; p may be NULL. */
void peer_clear(struct udsrpc_peer *p);
/* True if gid is the peer's primary or one of its supplementary groups. */
bool peer_in_group(const struct udsrpc_peer *p, gid_t gid);

#endif
