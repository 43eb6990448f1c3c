/*
 * serve.c — udsrpcctl serve: a command becomes the provider of one method.
 *
 * After rpc.provide, each call udsrpcd forwards (udsrpc(7), PROVIDERS) is
 * a job: COMMAND runs with the call's params on stdin (a memfd, so a large
 * params object never blocks us on a command that does not read it, and
 * never shows in ps as argv would), the caller's identity in UDSRPC_*
 * variables, and its own process group, so that a timeout stops whatever
 * it started too. Its exit status and output become the answer. At most
 * --jobs run at once; the rest wait in arrival order; answers go out as
 * jobs finish, in any order, matched by the daemon's ids.
 *
 * One poll loop, no threads: the socket, a signalfd (SIGCHLD reaps,
 * SIGINT/SIGTERM stop), and each running job's stdout and stderr pipes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "ctl.h"
#include "jsonnum.h"
#include "output.h"
#include "serve.h"

#define SERVE_STDERR_MAX 4096		   /* udsrpcctl(1): stderr cut to 4 KiB */
#define SERVE_STDOUT_MAX (16 << 20)	   /* a result larger than this is an error */
#define SERVE_KILL_GRACE_MS 2000	   /* SIGTERM, then SIGKILL this much later */

struct serve_job {
	json_t *call;	 /* the forwarded request: id (absent: a notification), params, caller */
	pid_t pid;	 /* 0: waiting its turn */
	int out, err;	 /* our ends of its stdout and stderr; -1 once at EOF */
	char *stdout_buf;
	size_t stdout_len, stdout_cap;
	bool stdout_over; /* more than SERVE_STDOUT_MAX: dropped, answered as an error */
	char stderr_buf[SERVE_STDERR_MAX];
	size_t stderr_len;
	long long deadline; /* CLOCK_MONOTONIC ms: SIGTERM then; < 0: none */
	long long kill_at;  /* SIGKILL then; < 0: not yet signalled */
	bool timed_out;
	bool reaped;
	int status; /* as waitpid gives it */
	struct serve_job *next;
};

struct serving {
	struct ctl *c;
	char **argv; /* COMMAND [ARG...], NULL-terminated (argv of udsrpcctl is) */
	const char *method;
	struct serve_job *jobs, **tail; /* in arrival order */
	int running;
	int sigfd;
	sigset_t old_mask;
	bool stopping;
	int status; /* the exit status once stopping */
};

/* ---- starting a job ---- */

/* The caller's identity as UDSRPC_CALLER_* (udsrpcctl(1)); called in the child. */
static void serve_caller_env(const char *method, const json_t *caller)
{
	static const char *const ints[][2] = {
		{"uid", "UDSRPC_CALLER_UID"}, {"gid", "UDSRPC_CALLER_GID"}, {"pid", "UDSRPC_CALLER_PID"}};
	char buf[4096];
	const json_t *v;
	size_t i, len = 0;

	setenv("UDSRPC_METHOD", method, 1);
	for (i = 0; i < 3; i++) {
		v = json_object_get(caller, ints[i][0]);
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		if (json_is_integer(v))
			setenv(ints[i][1], buf, 1);
		else
			unsetenv(ints[i][1]);
	}
	/* Absent (a uid without an account, an exe gone): unset, never inherited from us. */
	v = json_object_get(caller, "user");
	if (json_is_string(v))
		setenv("UDSRPC_CALLER_USER", json_string_value(v), 1);
	else
		unsetenv("UDSRPC_CALLER_USER");
	v = json_object_get(caller, "exe");
	if (json_is_string(v))
		setenv("UDSRPC_CALLER_EXE", json_string_value(v), 1);
	else
		unsetenv("UDSRPC_CALLER_EXE");
	buf[0] = '\0';
	json_array_foreach(json_object_get(caller, "groups"), i, v) {
		int n = snprintf(buf + len, sizeof(buf) - len, "%s%lld", i ? "," : "",
				 (long long)json_integer_value(v));
		if (n < 0 || (size_t)n >= sizeof(buf) - len)
			break;
		len += (size_t)n;
	}
	setenv("UDSRPC_CALLER_GROUPS", buf, 1);
}

/* The call's params as the command's stdin: {} when the call has none. */
static int serve_stdin(const json_t *call)
{
	const json_t *params = json_object_get(call, "params");
	char *text = params ? jsonnum_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("{}");
	int fd = text ? memfd_create("udsrpcctl-params", MFD_CLOEXEC) : -1;
	size_t len = text ? strlen(text) : 0, off = 0;

	while (fd >= 0 && off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			fd = -1;
			break;
		}
		off += (size_t)n;
	}
	free(text);
	if (fd >= 0 && lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* A pipe whose read end (ours, non-blocking) goes in *ret_ours; the write end is returned. */
static int serve_pipe(int *ret_ours)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	*ret_ours = p[0];
	return p[1];
}

/* Fork and exec COMMAND for j; -1 (said on stderr) when it could not even be started. */
static int serve_start(struct serving *sv, struct serve_job *j)
{
	int in = serve_stdin(j->call), out_w = -1, err_w = -1;
	pid_t pid;

	j->out = j->err = -1;
	if (in >= 0)
		out_w = serve_pipe(&j->out);
	if (out_w >= 0)
		err_w = serve_pipe(&j->err);
	pid = err_w >= 0 ? fork() : -1;
	if (pid == 0) {
		/* The child: its own group, our signals as they were, then exec. */
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		sigprocmask(SIG_SETMASK, &sv->old_mask, NULL);
		if (dup2(in, STDIN_FILENO) < 0 || dup2(out_w, STDOUT_FILENO) < 0 ||
		    dup2(err_w, STDERR_FILENO) < 0)
			_exit(126);
		serve_caller_env(sv->method, json_object_get(j->call, "caller"));
		execvp(sv->argv[0], sv->argv);
		fprintf(stderr, CTL_PROG ": serve: cannot run %s: %s\n", sv->argv[0],
			strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (in >= 0)
		close(in);
	if (out_w >= 0)
		close(out_w);
	if (err_w >= 0)
		close(err_w);
	if (pid < 0) {
		/* Answered as the command's failure, with this as its stderr. */
		int n = snprintf(j->stderr_buf, sizeof(j->stderr_buf), "cannot start %s: %s\n",
				 sv->argv[0], strerror(errno));
		j->stderr_len = n < 0 ? 0 : (size_t)n < sizeof(j->stderr_buf) ? (size_t)n
									  : sizeof(j->stderr_buf) - 1;
		if (j->out >= 0)
			close(j->out);
		if (j->err >= 0)
			close(j->err);
		j->out = j->err = -1;
		return -1;
	}
	/* Also here: a timeout may signal the group before the child ran setpgid. */
	setpgid(pid, pid);
	j->pid = pid;
	j->kill_at = -1;
	j->deadline = sv->c->command_timeout_ms < 0 ? -1
						     : session_now_ms() + sv->c->command_timeout_ms;
	sv->running++;
	return 0;
}

/* ---- finishing a job ---- */

/* Read what a pipe has now; at EOF or on error close it (*fd = -1). */
static void serve_read(struct serve_job *j, int *fd)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(*fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close(*fd);
			*fd = -1;
			return;
		}
		if (fd == &j->err) {
			size_t take = SERVE_STDERR_MAX - j->stderr_len;
			take = take < (size_t)n ? take : (size_t)n;
			memcpy(j->stderr_buf + j->stderr_len, buf, take);
			j->stderr_len += take;
			continue;
		}
		if (j->stdout_over || j->stdout_len + (size_t)n > SERVE_STDOUT_MAX) {
			j->stdout_over = true; /* keep draining, so the command never blocks */
			continue;
		}
		if (j->stdout_len + (size_t)n > j->stdout_cap) {
			size_t cap = j->stdout_cap ? j->stdout_cap : 4096;
			while (cap < j->stdout_len + (size_t)n)
				cap *= 2;
			char *b = realloc(j->stdout_buf, cap);
			if (!b) {
				j->stdout_over = true;
				continue;
			}
			j->stdout_buf = b;
			j->stdout_cap = cap;
		}
		memcpy(j->stdout_buf + j->stdout_len, buf, (size_t)n);
		j->stdout_len += (size_t)n;
	}
}

/* Text as a JSON string; bytes that are not UTF-8 (a cut in mid-character too) as '?'. */
static json_t *serve_text(const char *text, size_t len)
{
	json_t *s = json_stringn(text, len);
	char *copy;

	if (s)
		return s;
	if (!(copy = malloc(len + 1)))
		return NULL;
	for (size_t i = 0; i < len; i++)
		copy[i] = (unsigned char)text[i] < 0x80 && text[i] ? text[i] : '?';
	s = json_stringn(copy, len);
	free(copy);
	return s;
}

/* udsrpcctl(1): exit 0 gives the result, anything else {"code":1,...}. */
static json_t *serve_outcome(const struct serving *sv, struct serve_job *j, bool *ret_error)
{
	int exit_status = WIFEXITED(j->status) ? WEXITSTATUS(j->status)
			  : WIFSIGNALED(j->status) ? 128 + WTERMSIG(j->status)
						   : 255;
	char message[256];

	*ret_error = true;
	if (exit_status == 0 && !j->timed_out) {
		if (j->stdout_over) {
			snprintf(message, sizeof(message), "command output over %d MiB",
				 SERVE_STDOUT_MAX >> 20);
		} else {
			size_t len = j->stdout_len;
			json_t *v = json_loadb(j->stdout_buf ? j->stdout_buf : "", len,
					       JSON_DECODE_ANY, NULL);
			if (!v) {
				if (len && j->stdout_buf[len - 1] == '\n')
					len--;
				v = json_stringn(j->stdout_buf ? j->stdout_buf : "", len);
			}
			if (v) {
				*ret_error = false;
				return v;
			}
			snprintf(message, sizeof(message),
				 "command output is neither JSON nor UTF-8 text");
		}
	} else if (j->timed_out) {
		snprintf(message, sizeof(message), "command timed out after %d ms",
			 sv->c->command_timeout_ms);
	} else {
		size_t line = 0;
		while (line < j->stderr_len && j->stderr_buf[line] != '\n' &&
		       j->stderr_buf[line] != '\r')
			line++;
		if (line == 0)
			snprintf(message, sizeof(message), "command failed");
		else
			snprintf(message, sizeof(message), "%.*s", (int)line, j->stderr_buf);
	}
	json_t *data = json_pack("{s:i,s:o*}", "exit_status", exit_status, "stderr",
				 serve_text(j->stderr_buf, j->stderr_len));
	if (data && j->timed_out)
		json_object_set_new(data, "timeout", json_true());
	return json_pack("{s:i,s:o,s:o*}", "code", 1, "message",
			 serve_text(message, strlen(message)), "data", data);
}

/* Answer a finished job (a notification gets none); 0 or an exit status. */
static int serve_answer(struct serving *sv, struct serve_job *j)
{
	const json_t *id = json_object_get(j->call, "id");
	bool error;
	json_t *v, *reply;
	char *line;
	int r;

	if (!id)
		return 0;
	v = serve_outcome(sv, j, &error);
	reply = v ? json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id,
			      error ? "error" : "result", v)
		  : NULL;
	line = reply ? jsonnum_dumps(reply, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(reply);
	if (!line)
		return output_nomem();
	r = udsrpc_client_send_raw(sv->c->s.client, line, strlen(line), sv->c->timeout_ms);
	free(line);
	return r < 0 ? session_io_failed(&sv->c->s, "serve", r) : 0;
}

static void serve_free(struct serve_job *j)
{
	if (j->out >= 0)
		close(j->out);
	if (j->err >= 0)
		close(j->err);
	json_decref(j->call);
	free(j->stdout_buf);
	free(j);
}

/* SIGCHLD: reap every child that ended, marking its job. */
static void serve_reap(struct serving *sv)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (struct serve_job *j = sv->jobs; j; j = j->next)
			if (j->pid == pid) {
				j->reaped = true;
				j->status = status;
			}
	}
}

/* Signal a running job's whole group: SIGTERM first, SIGKILL once the grace is over. */
static void serve_signal(struct serve_job *j, long long now)
{
	if (j->kill_at < 0) {
		kill(-j->pid, SIGTERM);
		j->kill_at = now + SERVE_KILL_GRACE_MS;
	} else if (now >= j->kill_at) {
		kill(-j->pid, SIGKILL);
		j->kill_at = LLONG_MAX; /* once */
	}
}

/*
 * Timeouts, finished jobs, and starting waiting ones: what the loop does
 * after every wake-up. Returns 0 or an exit status (the daemon went away).
 */
static int serve_step(struct serving *sv)
{
	long long now = session_now_ms();
	struct serve_job **p = &sv->jobs;
	int r = 0;

	while (*p) {
		struct serve_job *j = *p;
		if (j->pid && !j->reaped) {
			if (j->deadline >= 0 && now >= j->deadline && !j->timed_out) {
				j->timed_out = true;
				serve_signal(j, now);
			} else if (j->kill_at >= 0 && now >= j->kill_at) {
				serve_signal(j, now);
			}
		}
		if (!j->reaped) {
			p = &j->next;
			continue;
		}
		/* It has exited, so all it wrote is in the pipes: take that, no more waiting
		 * (a background process it left behind may hold them open). */
		if (j->out >= 0)
			serve_read(j, &j->out);
		if (j->err >= 0)
			serve_read(j, &j->err);
		if (!r && !sv->stopping)
			r = serve_answer(sv, j);
		*p = j->next;
		if (sv->tail == &j->next)
			sv->tail = p;
		sv->running--;
		serve_free(j);
	}
	for (struct serve_job *j = sv->jobs; j && !sv->stopping && sv->running < sv->c->jobs;
	     j = j->next) {
		if (j->pid || j->reaped)
			continue;
		if (serve_start(sv, j) < 0) {
			/* Not started (out of processes): answered as exit status 126 next time round. */
			j->reaped = true;
			j->status = 126 << 8;
			sv->running++;
			break;
		}
	}
	return r;
}

/* ---- the loop ---- */

static void serve_stop(struct serving *sv, int status)
{
	long long now = session_now_ms();
	struct serve_job **p = &sv->jobs;

	if (sv->stopping)
		return;
	sv->stopping = true;
	sv->status = status;
	/* Waiting calls are dropped (the daemon answers them -32005 when we close);
	 * running commands are stopped as a timeout would stop them. */
	while (*p) {
		struct serve_job *j = *p;
		if (j->pid || j->reaped) {
			if (j->pid && !j->reaped)
				serve_signal(j, now);
			p = &j->next;
			continue;
		}
		*p = j->next;
		serve_free(j);
	}
	sv->tail = p;
}

/* A forwarded call (or notification) joins the queue; anything else is not ours and is dropped. */
static void serve_enqueue(struct serving *sv, json_t *msg)
{
	struct serve_job *j;

	if (!json_is_string(json_object_get(msg, "method")) || !(j = calloc(1, sizeof(*j)))) {
		json_decref(msg);
		return;
	}
	j->call = msg;
	j->out = j->err = -1;
	*sv->tail = j;
	sv->tail = &j->next;
}

/* Everything the socket has now; 0, or an exit status when the daemon went away. */
static int serve_receive(struct serving *sv)
{
	json_t *msg;
	int r;

	while ((r = udsrpc_client_receive(sv->c->s.client, 0, &msg)) == 1 || r == -EPROTO) {
		if (r == 1)
			serve_enqueue(sv, msg);
	}
	if (r == -ETIMEDOUT || r == -EAGAIN || r == -EINTR)
		return 0;
	return session_io_failed(&sv->c->s, "serve", r);
}

static void serve_signals(struct serving *sv)
{
	struct signalfd_siginfo si;

	while (read(sv->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			serve_reap(sv);
		else
			serve_stop(sv, CTL_EXIT_OK);
	}
}

/* How long poll may sleep: until the nearest deadline or kill of a running job. */
static int serve_wait_ms(const struct serving *sv)
{
	long long now = session_now_ms(), next = -1;

	for (const struct serve_job *j = sv->jobs; j; j = j->next) {
		long long t = -1;
		if (j->reaped)
			return 0; /* to be answered */
		if (!j->pid)
			continue;
		if (j->kill_at >= 0 && j->kill_at != LLONG_MAX)
			t = j->kill_at;
		else if (j->deadline >= 0 && !j->timed_out)
			t = j->deadline;
		if (t >= 0 && (next < 0 || t < next))
			next = t;
	}
	if (next < 0)
		return -1;
	return next <= now ? 0 : next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

static int serve_loop(struct serving *sv)
{
	int r = 0;

	while (!sv->stopping || sv->running) {
		size_t n = 0, cap = 2 + 2 * (size_t)sv->running;
		struct pollfd *p = calloc(cap, sizeof(*p));
		struct serve_job **owner = calloc(cap, sizeof(*owner));

		if (!p || !owner) {
			free(p);
			free(owner);
			serve_stop(sv, output_nomem());
			sleep(1); /* the signals still reap; try again */
			serve_signals(sv);
			serve_step(sv);
			continue;
		}
		p[n++] = (struct pollfd){.fd = sv->sigfd, .events = POLLIN};
		/* Calls already buffered by the client are read before sleeping. */
		if (!sv->stopping)
			p[n++] = (struct pollfd){.fd = sv->c->s.fd, .events = POLLIN};
		for (struct serve_job *j = sv->jobs; j; j = j->next) {
			if (!j->pid || j->reaped)
				continue;
			if (j->out >= 0) {
				owner[n] = j;
				p[n++] = (struct pollfd){.fd = j->out, .events = POLLIN};
			}
			if (j->err >= 0) {
				owner[n] = j;
				p[n++] = (struct pollfd){.fd = j->err, .events = POLLIN};
			}
		}
		bool buffered = !sv->stopping && udsrpc_client_pending(sv->c->s.client);
		int ready = poll(p, n, buffered ? 0 : serve_wait_ms(sv));
		if (ready < 0 && errno != EINTR) {
			serve_stop(sv, session_io_failed(&sv->c->s, "serve", -errno));
			ready = 0;
		}
		for (size_t i = 0; ready > 0 && i < n; i++) {
			if (!p[i].revents)
				continue;
			if (p[i].fd == sv->sigfd)
				serve_signals(sv);
			else if (!owner[i] && (r = serve_receive(sv)))
				serve_stop(sv, r);
			else if (owner[i] && p[i].fd == owner[i]->out)
				serve_read(owner[i], &owner[i]->out);
			else if (owner[i])
				serve_read(owner[i], &owner[i]->err);
		}
		if (buffered && (r = serve_receive(sv)))
			serve_stop(sv, r);
		free(p);
		free(owner);
		if ((r = serve_step(sv)))
			serve_stop(sv, r);
	}
	return sv->status;
}

/* The method object of rpc.provide, from --params (Content Descriptors) and --result (a schema). */
static int serve_method(struct ctl *c, json_t **ret)
{
	json_t *method = json_string(c->args[0]), *params, *result;
	json_error_t e;

	*ret = NULL;
	if (!method)
		return commands_usage_error(c->cmd, "METHOD is not valid UTF-8");
	params = json_loads(c->params_schema ? c->params_schema : "[]", JSON_DECODE_ANY, &e);
	if (!params) {
		json_decref(method);
		return commands_usage_error(c->cmd, "--params is not JSON: %s (column %d)", e.text,
					    e.column);
	}
	result = json_loads(c->result_schema ? c->result_schema : "{}", JSON_DECODE_ANY, &e);
	if (!result) {
		json_decref(method);
		json_decref(params);
		return commands_usage_error(c->cmd, "--result is not JSON: %s (column %d)", e.text,
					    e.column);
	}
	/* The shapes (an array of descriptors, a schema) are the daemon's to judge. */
	*ret = json_pack("{s:[{s:o,s:o,s:{s:s,s:o}}]}", "methods", "name", method, "params",
			 params, "result", "name", "result", "schema", result);
	return *ret ? 0 : output_nomem();
}

int serve_exec(struct ctl *c)
{
	struct serving sv = {.c = c, .method = c->args[0], .argv = c->args + 1, .sigfd = -1};
	json_t *params, *result = NULL;
	sigset_t mask;
	int r;

	if (c->nargs < 2)
		return commands_usage_error(c->cmd, "missing COMMAND (it goes after --)");
	if ((r = serve_method(c, &params)))
		return r;
	sv.tail = &sv.jobs;
	/* SIGCHLD, SIGINT and SIGTERM arrive only through the signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, &sv.old_mask);
	sv.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sv.sigfd < 0) {
		fprintf(stderr, CTL_PROG ": serve: signalfd: %s\n", strerror(errno));
		json_decref(params);
		r = CTL_EXIT_IO;
		goto out;
	}
	if ((r = session_open(&c->s, c->socket, c->timeout_ms))) {
		json_decref(params);
		goto out;
	}
	if ((r = session_call(&c->s, "rpc.provide", params, &result)))
		goto close;
	json_decref(result);
	if (!c->quiet)
		fprintf(stderr, CTL_PROG ": serving %s on %s, at most %d at once\n", sv.method,
			c->s.path, c->jobs);
	r = serve_loop(&sv);
close:
	session_close(&c->s);
out:
	if (sv.sigfd >= 0)
		close(sv.sigfd);
	sigprocmask(SIG_SETMASK, &sv.old_mask, NULL);
	return r;
}
