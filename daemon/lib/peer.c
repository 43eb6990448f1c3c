/* peer.c — the kernel's account of who is on the other end of a Unix socket. */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "export.h"
#include "log.h"
#include "names.h"

#include <udsrpc/call.h>

/*
 * Linux 6.5; Debian 12's headers predate it. 77 is the asm-generic number
 * (x86, arm, riscv, ...); parisc and sparc number socket options their own
 * way, so there it has to come from the system headers.
 */
#ifndef SO_PEERPIDFD
#if defined(__hppa__) || defined(__sparc__)
#error "SO_PEERPIDFD: this architecture needs kernel headers from Linux 6.5 or later"
#endif
#define SO_PEERPIDFD 77
#endif

/* Most peers are in a handful of groups; one getsockopt usually suffices. */
#define PEER_GROUPS_GUESS 32

/* Room for any /proc/PID/comm: TASK_COMM_LEN is 16, kernel threads show up to 64. */
#define PEER_COMM_MAX 128

static int capture_groups(int fd, struct udsrpc_peer *p)
{
	socklen_t cap = PEER_GROUPS_GUESS * sizeof(gid_t);
	gid_t *buf = NULL;

	/*
	 * The peer's credentials are fixed at connect(), so one ERANGE round
	 * gives the exact size; the bound only guards against a kernel that
	 * keeps answering ERANGE with a length that doesn't grow.
	 */
	for (int round = 0; round < 4; round++) {
		gid_t *nbuf = realloc(buf, cap);
		if (!nbuf) {
			free(buf);
			return -ENOMEM;
		}
		buf = nbuf;

		socklen_t len = cap;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buf, &len) == 0) {
			p->ngroups = (int)(len / sizeof(gid_t));
			if (p->ngroups == 0) {
				free(buf);
				buf = NULL;
			}
			p->groups = buf;
			return 0;
		}
		if (errno != ERANGE || len <= cap) {
			int r = errno == ERANGE ? -EPROTO : -errno;
			free(buf);
			return r;
		}
		cap = len;
	}
	free(buf);
	return -EPROTO;
}

/*
 * A pidfd for the peer's process. SO_PEERPIDFD names the process that did
 * connect() itself, so it cannot be a recycled pid. pidfd_open(pid) is only
 * used when the kernel lacks the option (ENOPROTOOPT: before 6.5; ENODATA: a
 * socket type without it); it leaves a window in which the pid could be
 * reused, which is the best an older kernel allows.
 *
 * EINVAL/ESRCH from SO_PEERPIDFD mean the kernel has the option but the peer
 * is already gone (before 6.16 a reaped peer could not be pinned); falling back
 * to pidfd_open(pid) then would pin whatever process holds that pid now, which
 * is exactly the mistake the pidfd is there to prevent, so there is no fallback.
 */
static int open_peer_pidfd(int fd, pid_t pid, int *ret_pidfd)
{
	int pidfd = -1;
	socklen_t len = sizeof(pidfd);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0) {
		*ret_pidfd = pidfd;
		return 0;
	}
	if (errno != ENOPROTOOPT && errno != ENODATA)
		return -errno;

	long r = syscall(SYS_pidfd_open, pid, 0);
	if (r < 0)
		return -errno;
	*ret_pidfd = (int)r;
	return 0;
}

/*
 * True while the pinned process has not exited. A pidfd polls readable once
 * the process has exited (zombie or reaped); unlike pidfd_send_signal(0) this
 * needs no permission to signal the peer, which an unprivileged daemon lacks
 * for other users' processes.
 */
static bool pidfd_alive(int pidfd)
{
	struct pollfd pfd = {.fd = pidfd, .events = POLLIN};

	for (;;) {
		int n = poll(&pfd, 1, 0);
		if (n == 0)
			return true;
		if (n > 0)
			return !(pfd.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL));
		if (errno != EINTR)
			return false;
	}
}

/* 0 with *ret set (NULL when unreadable), or -ENOMEM. */
static int read_comm(pid_t pid, char **ret)
{
	char path[64], buf[PEER_COMM_MAX];
	ssize_t n;

	*ret = NULL;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return 0;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return 0;

	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	/* Any bytes a process likes (prctl PR_SET_NAME): kept as text, escaped,
	 * or its whoami, its peer.list entry and its events would have no comm
	 * JSON can carry, and the peer would vanish from all three. */
	*ret = log_escape_dup(buf);
	return *ret ? 0 : -ENOMEM;
}

/*
 * 0 with *ret set (NULL when unreadable: gone, or no ptrace read access, which
 * an unprivileged daemon lacks for other users' processes), or -ENOMEM.
 */
static int read_exe(pid_t pid, char **ret)
{
	char path[64];
	size_t size = PATH_MAX;

	*ret = NULL;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	for (;;) {
		char *buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		ssize_t n = readlink(path, buf, size);
		if (n < 0) {
			free(buf);
			return 0;
		}
		/* readlink truncates silently; a full buffer may be a cut path. */
		if ((size_t)n < size) {
			/* Kept for the connection's life: give back the rest of PATH_MAX. */
			char *fit = realloc(buf, (size_t)n + 1);
			if (fit)
				buf = fit;
			buf[n] = '\0';
			*ret = buf;
			return 0;
		}
		free(buf);
		if (size >= (1u << 20))
			return 0;
		size *= 2;
	}
}

/* Field 22 of /proc/PID/stat: 0, or -ESRCH when it cannot be read. */
static int read_start_time(pid_t pid, unsigned long long *ret)
{
	char path[64], buf[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -ESRCH;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* comm (field 2) is any 16 bytes in parentheses, ')' and spaces
	 * included: count from the last ')'. Field 3 follows it, so field 22
	 * is the 20th after it. */
	char *s = strrchr(buf, ')');
	if (!s)
		return -ESRCH;
	s++;
	for (int field = 3; field < 22; field++) {
		s = strchr(s + 1, ' ');
		if (!s)
			return -ESRCH;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s + 1, &end, 10);
	if (errno || end == s + 1)
		return -ESRCH;
	*ret = v;
	return 0;
}

#define PIDFS_MAGIC 0x50494446 /* linux/magic.h, 6.9+ */

/*
 * The process pidfd pins, pid its number in our namespace. The start time is
 * read by pid, so it is believed only if the process is still alive after;
 * with pidfs it is not needed (hidepid may keep it from an unprivileged daemon).
 */
static int process_of(int pidfd, pid_t pid, struct peer_process *ret)
{
	struct peer_process p = {0};
	struct statfs sfs;
	struct stat st;

	*ret = p;
	/* Before pidfs every pidfd shared one anonymous inode: no use. */
	if (fstatfs(pidfd, &sfs) == 0 && sfs.f_type == PIDFS_MAGIC && fstat(pidfd, &st) == 0)
		p.ino = (unsigned long long)st.st_ino;
	if ((read_start_time(pid, &p.start) < 0 && !p.ino) || !pidfd_alive(pidfd))
		return -ESRCH;
	p.known = true;
	*ret = p;
	return 0;
}

int peer_process_of_pid(pid_t pid, struct peer_process *ret)
{
	*ret = (struct peer_process){0};
	long fd = syscall(SYS_pidfd_open, pid, 0);
	/* No pidfd_open (before Linux 5.3, or valgrind): the start time alone,
	 * which a peer's pidfd-pinned one still compares with. */
	if (fd < 0 && errno == ENOSYS) {
		if (read_start_time(pid, &ret->start) < 0)
			return -ESRCH;
		ret->known = true;
		return 0;
	}
	if (fd < 0)
		return errno == EMFILE || errno == ENFILE || errno == ENOMEM ? -errno : -ESRCH;
	int r = process_of((int)fd, pid, ret);
	close((int)fd);
	return r;
}

bool peer_same_process(const struct peer_process *a, const struct peer_process *b)
{
	if (!a->known || !b->known)
		return false;
	if (a->ino && b->ino)
		return a->ino == b->ino;
	return a->start == b->start;
}

/*
 * True if the process pid is in the daemon's namespace of kind ns. A user
 * namespace of its own lets a peer build any mount namespace it likes.
 */
static bool same_ns(pid_t pid, const char *ns)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
	if (stat(path, &b) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
	if (stat(path, &a) < 0)
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * True if exe, the path /proc/PID/exe names in the peer's mount namespace,
 * is the peer's very program in the daemon's: a bind mount of python3 over
 * an allowed path in a namespace of the peer's own shows the allowed path.
 * The file itself (stat through the magic link) must be the one the path
 * names here. This, not a comparison of mount namespaces, is what the path
 * is worth: under its systemd unit the daemon has a private mount namespace
 * (the same files, read-only), and PID 1's, the host's, is not always
 * readable (a container's supervisor hides it).
 */
static bool exe_is_ours(pid_t pid, const char *exe)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(path, &a) < 0 || stat(exe, &b) < 0)
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * comm and exe are read by pid from /proc and believed only if the pidfd's
 * process is still alive afterwards: a live process keeps its pid, so the
 * /proc entries read in between were its own. The pidfd is closed before
 * returning so that a connection holds one descriptor, not two.
 */
static int capture_process(int fd, struct udsrpc_peer *p)
{
	int pidfd = -1, r;

	if (p->pid <= 0)
		return 0; /* the peer is outside our pid namespace */
	if (open_peer_pidfd(fd, p->pid, &pidfd) < 0)
		return 0; /* gone, EMFILE, no pidfd support: unknown, not fatal */

	process_of(pidfd, p->pid, &p->proc);
	r = read_comm(p->pid, &p->comm);
	if (r == 0 && same_ns(p->pid, "user"))
		r = read_exe(p->pid, &p->exe);
	if (p->exe && !exe_is_ours(p->pid, p->exe)) {
		free(p->exe);
		p->exe = NULL;
	}
	if (r == 0 && !pidfd_alive(pidfd)) {
		free(p->comm);
		free(p->exe);
		p->comm = p->exe = NULL;
		p->proc.known = false;
	}
	close(pidfd);
	return r;
}

int peer_capture(int fd, unsigned long long id, struct udsrpc_peer *ret)
{
	struct udsrpc_peer p = {.id = id};
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int r;

	*ret = p;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	/* The kernel reports uid -1 for a socket without a peer. */
	if (cred.uid == (uid_t)-1)
		return -ENOTCONN;
	p.uid = cred.uid;
	p.gid = cred.gid;
	p.pid = cred.pid;

	/*
	 * Missing groups would let a peer slip past a deny rule on a group, so
	 * unlike comm/exe they are not optional.
	 */
	r = capture_groups(fd, &p);
	if (r == 0)
		r = names_user_name(p.uid, &p.user);
	if (r == 0)
		r = capture_process(fd, &p);
	if (r < 0) {
		peer_clear(&p);
		return r;
	}
	*ret = p;
	return 0;
}

void peer_clear(struct udsrpc_peer *p)
{
	if (!p)
		return;
	free(p->groups);
	free(p->user);
	free(p->comm);
	free(p->exe);
	p->groups = NULL;
	p->ngroups = 0;
	p->user = p->comm = p->exe = NULL;
}

/* 0 with *ret a copy of member name (NULL when absent or not a string), or -ENOMEM. */
static int json_strdup_member(const json_t *j, const char *name, char **ret)
{
	const char *s = json_string_value(json_object_get(j, name));
	*ret = s ? strdup(s) : NULL;
	return s && !*ret ? -ENOMEM : 0;
}

int peer_from_json(const json_t *j, struct udsrpc_peer *ret)
{
	struct udsrpc_peer p = {0};
	const json_t *groups = json_object_get(j, "groups");
	size_t n = json_array_size(groups);

	if (!json_is_object(j))
		return -EPROTO;
	p.id = (unsigned long long)json_integer_value(json_object_get(j, "id"));
	p.uid = (uid_t)json_integer_value(json_object_get(j, "uid"));
	p.gid = (gid_t)json_integer_value(json_object_get(j, "gid"));
	p.pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	if (n > 0 && !(p.groups = calloc(n, sizeof(gid_t))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (json_is_integer(json_array_get(groups, i)))
			p.groups[p.ngroups++] = (gid_t)json_integer_value(json_array_get(groups, i));
	if (json_strdup_member(j, "user", &p.user) < 0 || json_strdup_member(j, "comm", &p.comm) < 0 ||
	    json_strdup_member(j, "exe", &p.exe) < 0) {
		peer_clear(&p);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

bool peer_in_group(const struct udsrpc_peer *p, gid_t gid)
{
	if (p->gid == gid)
		return true;
	for (int i = 0; i < p->ngroups; i++)
		if (p->groups[i] == gid)
			return true;
	return false;
}

/* ---- the public face ------------------------------------------------------ */

UDSRPC_EXPORT uint64_t udsrpc_peer_id(const struct udsrpc_peer *p)
{
	return p->id;
}

UDSRPC_EXPORT uid_t udsrpc_peer_uid(const struct udsrpc_peer *p)
{
	return p->uid;
}

UDSRPC_EXPORT gid_t udsrpc_peer_gid(const struct udsrpc_peer *p)
{
	return p->gid;
}

UDSRPC_EXPORT pid_t udsrpc_peer_pid(const struct udsrpc_peer *p)
{
	return p->pid;
}

UDSRPC_EXPORT const gid_t *udsrpc_peer_groups(const struct udsrpc_peer *p, size_t *ret_n)
{
	*ret_n = p->ngroups > 0 ? (size_t)p->ngroups : 0;
	return p->groups;
}

UDSRPC_EXPORT const char *udsrpc_peer_user(const struct udsrpc_peer *p)
{
	return p->user;
}

UDSRPC_EXPORT const char *udsrpc_peer_comm(const struct udsrpc_peer *p)
{
	return p->comm;
}

UDSRPC_EXPORT const char *udsrpc_peer_exe(const struct udsrpc_peer *p)
{
	return p->exe;
}

UDSRPC_EXPORT bool udsrpc_peer_in_group(const struct udsrpc_peer *p, gid_t gid)
{
	return peer_in_group(p, gid);
}

UDSRPC_EXPORT json_t *udsrpc_peer_json(const struct udsrpc_peer *p)
{
	json_t *groups = json_array();
	for (int i = 0; groups && i < p->ngroups; i++)
		json_array_append_new(groups, json_integer(p->groups[i]));
	/* exe stays raw for the policy to compare; JSON gets it as text. */
	char *exe = p->exe ? log_escape_dup(p->exe) : NULL;
	json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:o,s:s?,s:s?,s:s?}", "id", (json_int_t)p->id, "uid",
	                      (json_int_t)p->uid, "gid", (json_int_t)p->gid, "pid", (json_int_t)p->pid,
	                      "groups", groups, "user", p->user, "comm", p->comm, "exe", exe);
	free(exe);
	return j;
}
