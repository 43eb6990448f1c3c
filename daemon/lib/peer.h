/* peer.h — who is on the other end of a connection, as the kernel says. */
#ifndef UDSRPC_PEER_H
#define UDSRPC_PEER_H

#include <stdbool.h>
#include <sys/types.h>

#include <udsrpc/call.h>

/*
 * Which process, beyond its pid (a number anyone may get once its process is
 * gone). ino: the inode number of a pidfd for it, where pidfds live on
 * pidfs (Linux 6.9 and later), which never gives one to two processes; else
 * 0, and start (clock ticks after boot, /proc/PID/stat field 22) tells a
 * later process with the pid apart, unless both started within one tick.
 * known is false when the process was gone before this was settled.
 */
struct peer_process {
	unsigned long long ino;
	unsigned long long start;
	bool known;
};

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
	struct peer_process proc; /* which process had pid: policy pids entries compare it */
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
/*
 * *ret for the process that has pid now (pinned by a pidfd while it is
 * read): 0, or -ESRCH (no such process, or its stat unreadable), -EMFILE,
 * -ENOMEM. ret->known is true on success.
 */
int peer_process_of_pid(pid_t pid, struct peer_process *ret);
/* Whether a and b are the same process (both known; pids compared apart). */
bool peer_same_process(const struct peer_process *a, const struct peer_process *b);
/*
 * *ret from a "caller" object as the daemon forwards it to a provider
 * (udsrpc_peer_json's shape): what a provider knows of its caller. Members
 * missing or of the wrong type stay 0 or NULL; proc is unknown. 0, -EPROTO
 * when j is not an object, or -ENOMEM; the caller owns *ret (peer_clear).
 */
int peer_from_json(const json_t *j, struct udsrpc_peer *ret);
/* Frees what *p owns and resets those members; p may be NULL. */
void peer_clear(struct udsrpc_peer *p);
/* True if gid is the peer's primary or one of its supplementary groups. */
bool peer_in_group(const struct udsrpc_peer *p, gid_t gid);

#endif
