/* client.h — the client side of the wire, shared by udsrpcctl and udsrpc-bench. */
#ifndef UDSRPC_CLIENT_H
#define UDSRPC_CLIENT_H

#include <signal.h>
#include <stddef.h>

/*
 * Connect to the daemon's socket (path NULL: the default of PROTOCOL.md §1,
 * sockpath_default). Returns a blocking, close-on-exec fd, or -errno with a
 * one-line message for people in err naming the path and the likely fix
 * ("... is udsrpcd running?"). timeout_ms bounds the wait when the daemon's
 * backlog is full (< 0: no bound).
 */
int client_connect(const char *path, int timeout_ms, char *err, size_t errlen);

/*
 * Write all of buf to fd (a socket), waiting at most timeout_ms in total
 * (< 0: no bound). Never raises SIGPIPE. Returns 0, -ETIMEDOUT, -EPIPE when
 * the daemon is gone, or another -errno.
 */
int client_send(int fd, const char *buf, size_t len, int timeout_ms);

/*
 * Reply lines from one socket. Bytes beyond the line returned stay buffered
 * for the next call, so pipelined replies and server pushes are not lost.
 * Zero-initialise (or client_lines_init), then client_lines_free.
 */
struct client_lines {
	char *buf;   /* owned */
	size_t len;  /* bytes held, the returned line included */
	size_t cap;
	size_t used; /* bytes of the last returned line: dropped on the next call */
	/*
	 * While waiting, ppoll runs with this signal mask (NULL: the current
	 * one). A caller that blocks SIGINT here and unblocks it in the mask
	 * gets -EINTR exactly while waiting, with no race against its flag.
	 */
	const sigset_t *sigmask;
};

/* A reply line longer than this is refused with -EMSGSIZE (the daemon never sends one). */
#define CLIENT_LINE_MAX ((size_t)256 << 20)

void client_lines_init(struct client_lines *l);
void client_lines_free(struct client_lines *l);

/*
 * The next line from fd, without its "\n" (a "\r" before it is kept) and
 * NUL-terminated. *ret_line is borrowed from l and valid until the next call.
 * Waits at most timeout_ms (< 0: no bound). Returns 1 with a line; 0 at EOF
 * (a last line without "\n" is returned first, as a line); -ETIMEDOUT;
 * -EINTR (a signal while waiting: see sigmask); -EMSGSIZE; or -errno.
 */
int client_read_line(int fd, struct client_lines *l, int timeout_ms, char **ret_line,
		     size_t *ret_len);

#endif
