/* harness.c — process and socket helpers for the C integration tests. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>

#include "clock.h"
#include "harness.h"
#include "jsonschema.h"
#include "documents.h"
#include "schema.h"

static void die(const char *what)
{
	fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
	exit(99);
}

long now_ms(void)
{
	return (long)clock_now_ms();
}

void daemon_prepare(struct daemon *d)
{
	long nofile = d->nofile;
	const char *const *env = d->env;
	memset(d, 0, sizeof(*d));
	d->nofile = nofile; /* set by the caller before daemon_start */
	d->env = env;
	snprintf(d->dir, sizeof(d->dir), "/tmp/udsrpc-test-XXXXXX");
	if (!mkdtemp(d->dir))
		die("mkdtemp");
	snprintf(d->sock, sizeof(d->sock), "%s/udsrpcd.sock", d->dir);
	snprintf(d->state, sizeof(d->state), "%s/state", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/stderr", d->dir);
	snprintf(d->config, sizeof(d->config), "%s/udsrpcd.json", d->dir);
	signal(SIGPIPE, SIG_IGN);
}

int harness_ms(int ms)
{
	const char *wrapper = getenv("UDSRPCD_WRAPPER");
	return wrapper && *wrapper ? 6 * ms : ms;
}

/*
 * Daemons started and not yet reaped. A failed assertion leaves a test
 * through longjmp, past its daemon_stop: at exit, whatever is left here is
 * killed, so that no daemon outlives the test program (a leaked one under
 * valgrind ran on for minutes). Only in the process that started them: a
 * forked child of a test that calls exit() must not kill its parent's.
 */
static pid_t spawned[64];
static pid_t spawned_by;

/* Still a child of ours (running or not yet reaped)? Asks without reaping it. */
static bool spawned_alive(pid_t pid)
{
	siginfo_t si = {0};
	return pid > 0 && waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

static void spawned_reap_all(void)
{
	if (getpid() != spawned_by)
		return;
	for (size_t i = 0; i < sizeof(spawned) / sizeof(spawned[0]); i++)
		if (spawned_alive(spawned[i])) {
			fprintf(stderr, "harness: daemon %d left running by a failed test; killing it\n",
			        (int)spawned[i]);
			kill(spawned[i], SIGKILL);
			waitpid(spawned[i], NULL, 0);
			spawned[i] = 0;
		}
}

static void spawned_set(pid_t old, pid_t new)
{
	if (!spawned_by) {
		spawned_by = getpid();
		atexit(spawned_reap_all);
	}
	/* A test that reaped its daemon itself leaves a slot that is no child any more. */
	for (size_t i = 0; i < sizeof(spawned) / sizeof(spawned[0]); i++)
		if (spawned[i] == old || (old == 0 && !spawned_alive(spawned[i]))) {
			spawned[i] = new;
			return;
		}
}

/* d's daemon was reaped (or never started): forget it, and its pid. */
static void daemon_reaped(struct daemon *d)
{
	if (d->pid > 0)
		spawned_set(d->pid, 0);
	d->pid = 0;
}

int daemon_spawn(struct daemon *d, const char *const *extra, int *ret_status)
{
	const char *bin = getenv("UDSRPCD");
	const char *wrapper = getenv("UDSRPCD_WRAPPER");
	const char *argv[64];
	char *wrap_copy = NULL;
	int n = 0;

	if (!bin) {
		fprintf(stderr, "harness: $UDSRPCD is not set (run through ctest)\n");
		exit(99);
	}
	if (wrapper && *wrapper) {
		wrap_copy = strdup(wrapper);
		for (char *tok = strtok(wrap_copy, " "); tok && n < 40; tok = strtok(NULL, " "))
			argv[n++] = tok;
	}
	argv[n++] = bin;
	argv[n++] = "-s";
	argv[n++] = d->sock;
	argv[n++] = "-S";
	argv[n++] = d->state;
	for (int i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	d->pid = fork();
	if (d->pid < 0)
		die("fork");
	if (d->pid == 0) {
		if (d->nofile > 0) {
			struct rlimit rl = {(rlim_t)d->nofile, (rlim_t)d->nofile};
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		for (int i = 0; d->env && d->env[i]; i++)
			putenv((char *)d->env[i]);
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1); /* never the test's stdout: a pipe reader would wait on it */
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	free(wrap_copy);
	spawned_set(0, d->pid);
	long deadline = now_ms() + harness_ms(10000);
	while (now_ms() < deadline) {
		int status;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			daemon_reaped(d);
			if (ret_status)
				*ret_status = status;
			return -1;
		}
		int fd = client_connect(d->sock);
		if (fd >= 0) {
			client_close(fd);
			return 0;
		}
		usleep(10000);
	}
	fprintf(stderr, "harness: daemon did not start listening on %s\n", d->sock);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	daemon_reaped(d);
	return -1;
}

int daemon_spawn_config(struct daemon *d, const char *config_json, mode_t mode,
			int *ret_status)
{
	const char *args[] = {"-c", d->config, NULL};
	FILE *f = fopen(d->config, "w");

	if (!f || fputs(config_json, f) < 0 || fclose(f) != 0 || chmod(d->config, mode) < 0)
		die("writing the config file");
	return daemon_spawn(d, args, ret_status);
}

void daemon_start(struct daemon *d, const char *const *extra)
{
	int status = 0;
	daemon_prepare(d);
	if (daemon_spawn(d, extra, &status) < 0) {
		char *log = daemon_log(d);
		fprintf(stderr, "harness: udsrpcd failed to start (status %d):\n%s\n", status,
			log ? log : "");
		free(log);
		exit(99);
	}
}

int daemon_wait(struct daemon *d, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	int status;

	if (d->pid <= 0)
		return -1;
	while (now_ms() < deadline) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			daemon_reaped(d);
			return status;
		}
		usleep(5000);
	}
	return -1;
}

int daemon_stop(struct daemon *d)
{
	int status;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	status = daemon_wait(d, harness_ms(20000));
	if (status == -1) {
		fprintf(stderr, "harness: daemon %d ignored SIGTERM for %d s; killing\n", d->pid,
		        harness_ms(20000) / 1000);
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
		daemon_reaped(d);
		return -1;
	}
	return status;
}

static void rm_rf(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	char sub[512];

	if (!dir) {
		unlink(path);
		return;
	}
	while ((e = readdir(dir))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		struct stat st;
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			rm_rf(sub);
		else
			unlink(sub);
	}
	closedir(dir);
	rmdir(path);
}

void daemon_cleanup(struct daemon *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		daemon_reaped(d);
	}
	if (d->dir[0])
		rm_rf(d->dir);
}

char *daemon_log(const struct daemon *d)
{
	FILE *f = fopen(d->log, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

/* ---- clients ---------------------------------------------------------- */

/* Bytes received past the last returned line, per fd. */
struct rbuf {
	char *data;
	size_t len;
};
static struct rbuf rbufs[4096];

/* ---- result checking -------------------------------------------------- */

/* Per fd: what was sent but is not a whole line yet, and id -> method of
 * requests in flight (ids as their compact JSON text). */
static struct rbuf sent[4096];
static json_t *inflight[4096];
static struct schema *h_schema;
static const json_t *h_event_schema;
static unsigned long h_checked;

unsigned long harness_results_checked(void)
{
	return h_checked;
}

static void h_schema_load(void)
{
	char err[256];
	if (h_schema)
		return;
	if (schema_load(udsrpc_openrpc_json, udsrpc_openrpc_json_len, &h_schema, err, sizeof(err)) < 0) {
		fprintf(stderr, "harness: embedded OpenRPC document: %s\n", err);
		exit(99);
	}
	const json_t *doc = schema_document(h_schema);
	h_event_schema = json_object_get(json_object_get(json_object_get(json_object_get(doc,
		"x-udsrpc-notifications"), "event"), "params"), "schema");
	if (!h_event_schema)
		h_event_schema = json_object_get(json_object_get(json_object_get(doc,
			"x-udsrpc-notifications"), "event"), "params");
}

static void h_note_request(int fd, const json_t *req)
{
	const json_t *id = json_object_get(req, "id");
	const char *method = json_string_value(json_object_get(req, "method"));
	if (!id || !method || fd >= 4096)
		return;
	char *key = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!inflight[fd])
		inflight[fd] = json_object();
	json_object_set_new(inflight[fd], key, json_string(method));
	free(key);
}

static void h_note_sent(int fd, const char *buf, size_t len)
{
	struct rbuf *b;
	if (fd < 0 || fd >= 4096)
		return;
	b = &sent[fd];
	b->data = realloc(b->data, b->len + len);
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	char *nl;
	while (b->len && (nl = memchr(b->data, '\n', b->len))) {
		size_t n = (size_t)(nl - b->data);
		json_t *req = json_loadb(b->data, n, JSON_ALLOW_NUL, NULL);
		size_t i;
		json_t *m;
		if (json_is_array(req))
			json_array_foreach(req, i, m) h_note_request(fd, m);
		else if (req)
			h_note_request(fd, req);
		json_decref(req);
		memmove(b->data, nl + 1, b->len - n - 1);
		b->len -= n + 1;
	}
}

static void h_check_reply(int fd, const json_t *r)
{
	char path[256], reason[256];
	/* A call forwarded to a provider (it has "caller") is a request, not ours to check. */
	if (json_is_object(r) && json_object_get(r, "caller") &&
	    json_is_string(json_object_get(r, "method")))
		return;
	if (json_is_object(r) && !json_object_get(r, "id") &&
	    json_is_string(json_object_get(r, "method"))) {
		/* a server-push event */
		const json_t *params = json_object_get(r, "params");
		if (h_event_schema &&
		    jsonschema_validate(h_event_schema, schema_document(h_schema), params, path,
					sizeof(path), reason, sizeof(reason)) < 0)
			fail_msg("event does not match the event schema at '%s': %s", path, reason);
		h_checked++;
		return;
	}
	const json_t *result = json_object_get(r, "result");
	const json_t *id = json_object_get(r, "id");
	if (!result || !id || fd >= 4096 || !inflight[fd])
		return;
	char *key = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
	const char *method = json_string_value(json_object_get(inflight[fd], key));
	if (method) {
		const struct method_schema *m = schema_method(h_schema, method);
		if (m && schema_validate_result(m, result, path, sizeof(path), reason,
						sizeof(reason)) < 0)
			fail_msg("%s result does not match its schema at '%s': %s", method, path,
				 reason);
		h_checked++;
		json_object_del(inflight[fd], key);
	}
	free(key);
}

static void h_note_received(int fd, const char *line)
{
	json_t *r = json_loads(line, JSON_ALLOW_NUL, NULL);
	size_t i;
	json_t *m;
	if (json_is_array(r))
		json_array_foreach(r, i, m) h_check_reply(fd, m);
	else if (r)
		h_check_reply(fd, r);
	json_decref(r);
}

static void h_forget(int fd)
{
	if (fd < 0 || fd >= 4096)
		return;
	free(rbufs[fd].data);
	rbufs[fd].data = NULL;
	rbufs[fd].len = 0;
	free(sent[fd].data);
	sent[fd].data = NULL;
	sent[fd].len = 0;
	json_decref(inflight[fd]);
	inflight[fd] = NULL;
}

int client_connect(const char *sock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	h_schema_load();
	h_forget(fd);
	return fd;
}

void client_close(int fd)
{
	if (fd < 0)
		return;
	h_forget(fd);
	close(fd);
}

int client_send(int fd, const char *buf, size_t len)
{
	h_note_sent(fd, buf, len);
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

size_t client_send_until_full(int fd, const char *buf, size_t len)
{
	size_t off = 0;

	for (int stalls = 0; off < len && stalls < 20;) {
		ssize_t n = send(fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			stalls = 0;
		} else {
			stalls++;
			usleep(50000);
		}
	}
	return off;
}

int client_send_str(int fd, const char *s)
{
	return client_send(fd, s, strlen(s));
}

char *client_recv_line(int fd, int timeout_ms)
{
	struct rbuf *b = &rbufs[fd];
	long deadline = now_ms() + timeout_ms;

	for (;;) {
		char *nl = b->len ? memchr(b->data, '\n', b->len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - b->data);
			char *line = malloc(n + 1);
			memcpy(line, b->data, n);
			line[n] = '\0';
			memmove(b->data, nl + 1, b->len - n - 1);
			b->len -= n + 1;
			h_note_received(fd, line);
			return line;
		}
		long left = deadline - now_ms();
		if (left <= 0)
			return NULL;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		char tmp[65536];
		ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
		if (n <= 0)
			return NULL;
		b->data = realloc(b->data, b->len + (size_t)n);
		memcpy(b->data + b->len, tmp, (size_t)n);
		b->len += (size_t)n;
	}
}

bool client_silent(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (rbufs[fd].len)
		return false;
	return poll(&p, 1, timeout_ms) == 0;
}

json_t *client_call(int fd, const char *request)
{
	char *line;
	json_t *reply;

	if (client_send_str(fd, request) < 0 || client_send_str(fd, "\n") < 0)
		return NULL;
	line = client_recv_line(fd, harness_ms(10000));
	if (!line)
		return NULL;
	reply = json_loads(line, JSON_ALLOW_NUL, NULL);
	free(line);
	return reply;
}

char *request_line(long id, const char *method, json_t *params)
{
	json_t *req =
	    json_pack("{s:s,s:I,s:s}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method);
	if (params)
		json_object_set_new(req, "params", params);
	char *line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	assert_non_null(line);
	return line;
}

json_t *client_call_method(int fd, long id, const char *method, json_t *params)
{
	char *line = request_line(id, method, params);
	json_t *r = client_call(fd, line);
	free(line);
	assert_non_null(r);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), id);
	return r;
}

json_t *harness_take_result(json_t *r, const char *method)
{
	json_t *res = json_object_get(r, "result");
	if (!res) {
		char *s = json_dumps(r, JSON_COMPACT);
		print_error("%s failed: %s\n", method, s);
		free(s);
		fail();
	}
	json_incref(res);
	json_decref(r);
	return res;
}

json_t *client_recv_result(int fd, long id, int timeout_ms)
{
	char *line = client_recv_line(fd, timeout_ms);
	json_t *r;

	assert_non_null(line);
	r = json_loads(line, JSON_ALLOW_NUL, NULL);
	free(line);
	assert_non_null(r);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), id);
	return harness_take_result(r, "pipelined request");
}

/* ---- /proc ------------------------------------------------------------ */

long proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int proc_fd_count(pid_t pid)
{
	char path[64];
	int n = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	if (!dir)
		return -1;
	struct dirent *e;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

long proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p)
		return -1;
	long utime, stime;
	/* fields after ")": state(3) ... utime(14) stime(15) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) != 2)
		return -1;
	return utime + stime;
}
