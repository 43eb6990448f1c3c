/* harness.h — start a real udsrpcd on a socket in a temp dir and talk to it. */
#ifndef UDSRPC_HARNESS_H
#define UDSRPC_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

struct daemon {
	pid_t pid;
	char dir[64];	  /* mkdtemp, removed by daemon_cleanup */
	char sock[108];	  /* dir/udsrpcd.sock */
	char state[128];  /* dir/state */
	char log[128];	  /* dir/stderr: the daemon's log */
	char config[128]; /* dir/udsrpcd.json, for daemon_spawn_config */
	long nofile;	  /* when > 0: RLIMIT_NOFILE (soft and hard) for the daemon */
	const char *const *env; /* extra NAME=VALUE for the daemon, NULL-terminated */
};

/* Make the temp dir and paths; does not start anything. */
void daemon_prepare(struct daemon *d);
/*
 * Start $UDSRPCD -s sock -S state plus extra args (NULL-terminated), under
 * $UDSRPCD_WRAPPER if set (e.g. valgrind). Waits up to 10 s (60 s under a
 * wrapper) until the socket accepts. Returns 0, or -1 if it exited first
 * (its exit status in *ret_status when given).
 */
int daemon_spawn(struct daemon *d, const char *const *extra, int *ret_status);
/*
 * Write config_json to d->config with mode (d prepared), then daemon_spawn
 * with "-c d->config"; returns as daemon_spawn.
 */
int daemon_spawn_config(struct daemon *d, const char *config_json, mode_t mode,
			int *ret_status);
/* daemon_prepare + daemon_spawn, asserting success. */
void daemon_start(struct daemon *d, const char *const *extra);
/* A wait bound of ms, six times longer when the daemon runs under
 * $UDSRPCD_WRAPPER: valgrind on a loaded machine is that much slower, and a
 * bound that passes there is still a bound. Never a timer being asserted. */
int harness_ms(int ms);

/* SIGTERM and wait (up to harness_ms(20000), then SIGKILL): the exit status as waitpid gives it. */
int daemon_stop(struct daemon *d);
/* Wait for the process to exit by itself (up to timeout_ms); status or -1 on timeout. */
int daemon_wait(struct daemon *d, int timeout_ms);
/* Remove the temp dir (and everything in it). */
void daemon_cleanup(struct daemon *d);
/* The daemon's stderr so far (malloc'd). */
char *daemon_log(const struct daemon *d);

/* CLOCK_MONOTONIC in milliseconds, for the tests' deadlines. */
long now_ms(void);

/* A connected, blocking client socket, or -1. */
int client_connect(const char *sock);
/* Write all of buf. 0 or -1. */
int client_send(int fd, const char *buf, size_t len);
int client_send_str(int fd, const char *s);
/*
 * Write as much of buf as the peer takes until the socket stays full for
 * a second (the daemon stopped reading): the bytes sent. Not noted for the
 * reply checks below.
 */
size_t client_send_until_full(int fd, const char *buf, size_t len);
/*
 * One reply line (without "\n"), malloc'd; NULL on EOF or after timeout_ms.
 * Lines are buffered per fd in the harness, so pipelined replies are fine.
 */
char *client_recv_line(int fd, int timeout_ms);
/* True if nothing arrives within timeout_ms. */
bool client_silent(int fd, int timeout_ms);
/* Send one request line and return the parsed reply (new reference), NULL on failure. */
json_t *client_call(int fd, const char *request);
void client_close(int fd);
/* A request line (no "\n", malloc'd) for method with id and params (stolen, may be NULL). */
char *request_line(long id, const char *method, json_t *params);
/* Send that request on fd; the reply, whose id must be id (fails the test otherwise). */
json_t *client_call_method(int fd, long id, const char *method, json_t *params);
/* The result of a reply that must be a success (new reference; reply is
 * stolen); fails the running cmocka test, printing the reply, otherwise. */
json_t *harness_take_result(json_t *reply, const char *method);
/* The next line on fd, which must be a success reply to id (pipelined
 * requests): its result (new reference); fails the running test otherwise. */
json_t *client_recv_result(int fd, long id, int timeout_ms);

/*
 * Every reply line the harness receives whose request it saw go out is
 * checked against the method's result schema in the embedded OpenRPC
 * document (and every event against the event schema); a mismatch fails
 * the running cmocka test. How many were checked so far:
 */
unsigned long harness_results_checked(void);

/* VmRSS of a process in KiB, or -1. */
long proc_rss_kib(pid_t pid);
/* Number of open fds of a process, or -1. */
int proc_fd_count(pid_t pid);
/* utime+stime of a process in clock ticks, or -1. */
long proc_cpu_ticks(pid_t pid);

#endif
