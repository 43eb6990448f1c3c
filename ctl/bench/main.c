/*
 * main.c — udsrpc-bench: fork the workers, start them together, watch them
 * (a worker that dies or goes silent is reported, never dropped), merge
 * their counters and histograms, print the summary. Ctrl-C stops everyone
 * and still prints what was measured so far.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <udsrpc/client.h>

#include "clock.h"
#include "hist.h"
#include "opts.h"
#include "report.h"
#include "wire.h"
#include "worker.h"

#define M_TICK_MS 100
#define M_PROGRESS_NS 1000000000ull
#define M_SILENCE_GRACE_NS 5000000000ull   /* beyond -t: a worker this quiet is hung */
#define M_HARD_GRACE_NS 10000000000ull     /* -d: beyond duration + -t, everyone is done */
#define M_INTERRUPT_GRACE_NS 5000000000ull /* after Ctrl-C: then whoever is left is killed */
#define M_NOTES_PER_KIND 3 /* worker notes printed per kind of error; the rest only counted */

struct m_worker {
	pid_t pid;
	int fd; /* its report pipe; -1 once closed */
	struct wire_reader rd;
	struct wire_counts last; /* from READY, PROGRESS or FINAL */
	struct worker_plan plan;
	uint64_t heard; /* ns: its last message */
	bool ready, load_done, final, lost;
	const char *killed; /* why the parent killed it; NULL: it was not */
};

static struct {
	struct opts o;
	struct m_worker *w;
	unsigned n;
	struct wire_counts total;
	struct hist latency;
	unsigned notes[WIRE_ERR_KINDS], notes_dropped;
	bool progress_shown;
} M;

static volatile sig_atomic_t m_signalled;

static void m_on_signal(int sig)
{
	m_signalled = 1;
}

/* Connections are descriptors, in every worker: take all the kernel allows. */
static void m_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void m_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void m_say(const char *fmt, ...)
{
	va_list ap;

	if (M.progress_shown) {
		report_progress_clear(stderr);
		M.progress_shown = false;
	}
	fputs(OPTS_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void m_kill(struct m_worker *w, const char *why)
{
	if (w->final || w->lost)
		return;
	kill(w->pid, SIGKILL);
	w->killed = why;
	w->lost = true;
}

static void m_message(struct m_worker *w, enum wire_type type, const void *payload, size_t len,
                      uint64_t now)
{
	w->heard = now;
	switch (type) {
	case WIRE_READY:
	case WIRE_PROGRESS:
		if (len == sizeof(w->last))
			memcpy(&w->last, payload, len);
		if (type == WIRE_READY)
			w->ready = true;
		break;
	case WIRE_LOAD_DONE:
		w->load_done = true;
		break;
	case WIRE_NOTE: {
		const unsigned char *p = payload;
		/* The first few of each kind say what went wrong; the summary counts the rest. */
		if (len < 2 || p[0] >= WIRE_ERR_KINDS)
			break;
		if (M.notes[p[0]]++ < M_NOTES_PER_KIND)
			m_say("%.*s", (int)strnlen((const char *)p + 1, len - 1),
			      (const char *)p + 1);
		else
			M.notes_dropped++;
		break;
	}
	case WIRE_FINAL: {
		static struct wire_final fin; /* 9 KiB: not on the stack */
		if (len != sizeof(fin))
			break;
		memcpy(&fin, payload, len);
		w->last = fin.counts;
		wire_counts_add(&M.total, &fin.counts);
		hist_merge(&M.latency, &fin.latency_ns);
		w->final = true;
		w->load_done = true;
		break;
	}
	}
}

/* Drain a worker's pipe; at end of file without a FINAL the worker is lost. */
static void m_read(struct m_worker *w, uint64_t now)
{
	enum wire_type type;
	const void *payload;
	size_t len;
	int r;

	while ((r = wire_read(w->fd, &w->rd, &type, &payload, &len)) > 0)
		m_message(w, type, payload, len, now);
	if (r == 0)
		return;
	close(w->fd);
	w->fd = -1;
	if (!w->final)
		w->lost = true;
}

static bool m_all(bool (*pred)(const struct m_worker *))
{
	for (unsigned i = 0; i < M.n; i++)
		if (!pred(&M.w[i]))
			return false;
	return true;
}

static bool m_is_ready(const struct m_worker *w)
{
	return w->ready || w->lost;
}

static bool m_is_load_done(const struct m_worker *w)
{
	return w->load_done || w->lost;
}

static bool m_is_over(const struct m_worker *w)
{
	return (w->final || w->lost) && w->fd < 0;
}

static void m_show_progress(uint64_t t_go, uint64_t now, uint64_t *last_done, uint64_t *last_t)
{
	struct wire_counts sum = {0};

	for (unsigned i = 0; i < M.n; i++)
		wire_counts_add(&sum, &M.w[i].last);
	double dt = (double)(now - *last_t) / 1e9;
	double rate = dt > 0 ? (double)(sum.answered - *last_done) / dt : 0;
	report_progress(stderr, t_go ? (double)(now - t_go) / 1e9 : 0, sum.answered, rate,
	                wire_errors(&sum), sum.holding);
	M.progress_shown = true;
	*last_done = sum.answered;
	*last_t = now;
}

static int m_fork_workers(int go[2], int end[2])
{
	const struct opts *o = &M.o;
	unsigned first_client = 0, first_hold = 0;

	for (unsigned i = 0; i < M.n; i++) {
		struct m_worker *w = &M.w[i];
		int rp[2];

		w->plan.index = i;
		w->plan.clients = o->clients / M.n + (i < o->clients % M.n ? 1 : 0);
		w->plan.holds = o->hold / M.n + (i < o->hold % M.n ? 1 : 0);
		w->plan.first_client = first_client;
		w->plan.first_hold = first_hold;
		first_client += w->plan.clients;
		first_hold += w->plan.holds;
		if (pipe2(rp, O_CLOEXEC) < 0) {
			m_say("cannot create a pipe for worker %u: %s", i, strerror(errno));
			return -errno;
		}
		w->plan.report_fd = rp[1];
		w->plan.go_fd = go[0];
		w->plan.end_fd = end[0];
		w->plan.parent = getpid();
		fflush(NULL);
		w->pid = fork();
		if (w->pid < 0) {
			int e = errno;
			m_say("cannot start worker %u: fork: %s; use fewer workers (-w)", i,
			      strerror(e));
			close(rp[0]);
			close(rp[1]);
			return -e;
		}
		if (w->pid == 0) {
			/* The parent's ends would keep go and end from ever reaching EOF. */
			close(go[1]);
			close(end[1]);
			close(rp[0]);
			for (unsigned k = 0; k < i; k++)
				close(M.w[k].fd);
			worker_main(o, &w->plan);
		}
		close(rp[1]);
		w->fd = rp[0];
		fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
		w->heard = clock_now_ns();
	}
	return 0;
}

/* Wait for every worker process; say what happened to the ones that did not report. */
static void m_reap(void)
{
	uint64_t deadline = clock_now_ns() + 2000000000ull;

	for (unsigned i = 0; i < M.n; i++) {
		struct m_worker *w = &M.w[i];
		int st = 0;
		pid_t r;
		if (w->pid <= 0)
			continue;
		while ((r = waitpid(w->pid, &st, WNOHANG)) == 0 && clock_now_ns() < deadline)
			usleep(10000);
		if (r == 0) {
			kill(w->pid, SIGKILL);
			r = waitpid(w->pid, &st, 0);
		}
		if (w->final)
			continue;
		unsigned conns = w->plan.clients + w->plan.holds;
		if (w->killed)
			m_say("worker %u (pid %d) %s; killed; its %u connection(s) are lost", i,
			      (int)w->pid, w->killed, conns);
		else if (r > 0 && WIFSIGNALED(st))
			m_say("worker %u (pid %d) died: killed by signal %d (%s); its %u "
			      "connection(s) "
			      "are lost",
			      i, (int)w->pid, WTERMSIG(st), strsignal(WTERMSIG(st)), conns);
		else
			m_say("worker %u (pid %d) exited (status %d) without its report; its %u "
			      "connection(s) are lost",
			      i, (int)w->pid, r > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, conns);
		/* What it said last still counts; its in-flight requests are lost; its
		 * latencies are unknown and left out rather than guessed. */
		struct wire_counts c = w->last;
		c.err[WIRE_ERR_MISSING] += c.sent > c.answered ? c.sent - c.answered : 0;
		c.err[WIRE_ERR_WORKER]++;
		c.held = 0;
		wire_counts_add(&M.total, &c);
	}
}

static void m_run(int go[2], int end[2])
{
	const struct opts *o = &M.o;
	struct pollfd *pf = calloc(M.n, sizeof(*pf));
	uint64_t t_go = 0, t_interrupt = 0, last_shown = clock_now_ns(), last_done = 0;
	uint64_t silence = (uint64_t)(o->timeout * 1e9) + M_SILENCE_GRACE_NS;
	uint64_t hold_end = 0, hard = 0;
	bool end_closed = false;

	if (!pf) {
		m_say("out of memory");
		for (unsigned i = 0; i < M.n; i++)
			m_kill(&M.w[i], "could not be watched (out of memory)");
		return;
	}
	while (!m_all(m_is_over)) {
		uint64_t now = clock_now_ns();
		if (m_signalled && !t_interrupt) {
			t_interrupt = now;
			for (unsigned i = 0; i < M.n; i++)
				if (!M.w[i].final && !M.w[i].lost)
					kill(M.w[i].pid, SIGTERM);
		}
		if (!t_go && m_all(m_is_ready)) {
			t_go = now;
			close(go[1]);
			if (o->duration > 0) {
				uint64_t run = (uint64_t)((o->warmup + o->duration) * 1e9);
				hold_end = now + run;
				hard = now + run + (uint64_t)(o->timeout * 1e9) + M_HARD_GRACE_NS;
			}
		}
		/* The hold ends when every client is done, and never before -d is over. */
		if (!end_closed && (t_interrupt || (t_go && m_all(m_is_load_done) &&
		                                    (o->clients > 0 || now >= hold_end)))) {
			close(end[1]);
			end_closed = true;
		}
		for (unsigned i = 0; i < M.n; i++) {
			struct m_worker *w = &M.w[i];
			if (w->final || w->lost)
				continue;
			/* Ready workers wait for the slowest to connect, silently. */
			if ((t_go || !w->ready) && now - w->heard > silence)
				m_kill(w, "went silent (no progress report)");
			else if (hard && now > hard)
				m_kill(w, "was still running past the hard time limit");
			else if (t_interrupt && now - t_interrupt > M_INTERRUPT_GRACE_NS)
				m_kill(w, "did not stop after the interrupt");
		}
		if (o->progress && now - last_shown >= M_PROGRESS_NS)
			m_show_progress(t_go, now, &last_done, &last_shown);

		unsigned k = 0;
		for (unsigned i = 0; i < M.n; i++)
			if (M.w[i].fd >= 0)
				pf[k++] = (struct pollfd){.fd = M.w[i].fd, .events = POLLIN};
		if (poll(pf, k, M_TICK_MS) <= 0)
			continue;
		now = clock_now_ns();
		for (unsigned i = 0; i < M.n; i++)
			if (M.w[i].fd >= 0)
				m_read(&M.w[i], now);
	}
	if (!t_go)
		close(go[1]);
	if (!end_closed)
		close(end[1]);
	free(pf);
}

/*
 * On the default path (no -s) a daemon that is neither root's nor ours is
 * refused once, before any worker starts (PROTOCOL.md §4): exit 3 naming
 * path and uid, not a worker per connection saying so. Any other failure
 * to connect is left to the workers, which report and count it.
 */
static bool m_daemon_trusted(void)
{
	struct udsrpc_client *c;
	char err[512];

	if (M.o.socket)
		return true;
	int r = udsrpc_client_connect(&c, NULL, (int)(M.o.timeout * 1000), err, sizeof(err));
	if (r == -EPERM) {
		fprintf(stderr, OPTS_PROG ": %s\n", err);
		return false;
	}
	if (r == 0)
		udsrpc_client_free(c);
	return true;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = m_on_signal}; /* no SA_RESTART: poll wakes up */
	int go[2], end[2], r;

	m_raise_nofile();
	if ((r = opts_parse(argc, argv, &M.o)) >= 0)
		return r;
	if (!m_daemon_trusted())
		return OPTS_EXIT_UNTRUSTED;
	hist_init(&M.latency);
	M.n = M.o.workers;
	M.w = calloc(M.n, sizeof(*M.w));
	if (!M.w || pipe2(go, O_CLOEXEC) < 0 || pipe2(end, O_CLOEXEC) < 0) {
		fprintf(stderr, OPTS_PROG ": cannot set up: %s\n", strerror(errno));
		return OPTS_EXIT_ERRORS;
	}
	for (unsigned i = 0; i < M.n; i++)
		M.w[i].fd = -1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (m_fork_workers(go, end) < 0) {
		for (unsigned i = 0; i < M.n; i++)
			if (M.w[i].pid > 0) {
				kill(M.w[i].pid, SIGKILL);
				waitpid(M.w[i].pid, NULL, 0);
			}
		return OPTS_EXIT_ERRORS;
	}
	close(go[0]);
	close(end[0]);
	m_run(go, end);
	m_reap();
	if (M.progress_shown)
		report_progress_clear(stderr);
	if (M.notes_dropped)
		m_say("(%u more message(s) like these not shown)", M.notes_dropped);

	struct wire_counts *t = &M.total;
	struct report rep = {
	    .o = &M.o,
	    .counts = t,
	    .latency_ns = &M.latency,
	    .interrupted = m_signalled,
	};
	if (t->requests && t->t_last > t->t_measure)
		rep.seconds = (double)(t->t_last - t->t_measure) / 1e9;
	else if (t->t_end > t->t_measure && t->t_measure)
		rep.seconds = (double)(t->t_end - t->t_measure) / 1e9;
	report_summary(&rep, stdout);
	report_errors(&rep, stderr);
	if (m_signalled)
		m_say("interrupted: the figures cover the run up to that point");
	opts_free(&M.o);
	if (wire_errors(t))
		return OPTS_EXIT_ERRORS;
	return m_signalled ? OPTS_EXIT_INTERRUPTED : OPTS_EXIT_OK;
}
