/*
 * fanout_floor.c — the floor under tests/bench/fanout.sh (issue 17): what
 * one write(2) of an event-sized line to each of SUBS AF_UNIX stream
 * sockets costs the writer's CPU when the readers are CHILDREN processes
 * waiting on epoll, as bench_fanout's subscribers are. No daemon, no JSON,
 * no policy: a daemon that writes each event to each subscriber on its own
 * cannot cost less than this per delivered event. On the 2-CPU VM of
 * issue 17 it is about 2.2-2.6 µs, so the target of 1.5 µs per event is met
 * only when a subscriber's events share a write (several in one turn).
 *
 *   fanout_floor [-c SUBS] [-n ROUNDS] [-l LEN] [-b LINES] [-j CHILDREN] [-p PAUSE_US] [-h] [-i] [-u]
 *
 * Each round writes LINES lines of LEN bytes (150, 1) in one write to every
 * socket, then sleeps PAUSE_US (2000) so that the readers catch up and each
 * write wakes a sleeping one, as a config.set every few milliseconds does.
 * The writes go to one reader's sockets after another, as udsrpcd writes a
 * process's subscribers together (events_subscribe). -h: only the sockets
 * of every other reader (bench_fanout's half row, where the odd children
 * see nothing). -i: round-robin over the readers instead, as udsrpcd wrote
 * bench_fanout's subscribers in the order they came (the children connect
 * at once): a write then mostly finds its reader back asleep and wakes it,
 * about 1.5 µs more per write on the VM than -h or the default.
 * -u: the same sends through io_uring, as udsrpcd makes them (fanout.c,
 * the daemon's own uring.c): one submission of up to 256 MSG_DONTWAIT
 * sends instead of a write(2) each — the floor under that write path.
 * Exit 77 when io_uring cannot be had.
 * Prints one JSON line: us_per_write and us_per_line, the writer's
 * utime+stime (getrusage) over the writes. Bounded: ROUNDS <= 100000.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uring.h"

/* -u: the sends queued, run; an error if one did not take the whole line (the readers keep up). */
static int send_run(struct uring *ring, int *res, int want)
{
	unsigned n = uring_queued(ring);
	int r = uring_run(ring, res);

	for (unsigned i = 0; r == 0 && i < n; i++)
		if (res[i] != want)
			r = res[i] < 0 ? res[i] : -EMSGSIZE;
	return r < 0 ? -r : 0;
}

static double cpu_us(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
	       (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

/* A reader: drains its sockets until every one is closed by the writer. */
static int reader(const int *fds, int n)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), open = n;
	static char buf[65536];
	struct epoll_event evs[64];

	if (ep < 0)
		return 1;
	for (int i = 0; i < n; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.fd = fds[i]};
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e) < 0)
			return 1;
	}
	while (open > 0) {
		int m = epoll_wait(ep, evs, 64, 30000);
		if (m <= 0)
			return m < 0 && errno == EINTR ? 0 : 1; /* 30 s of nothing: the writer is gone */
		for (int i = 0; i < m; i++) {
			ssize_t r;
			while ((r = read(evs[i].data.fd, buf, sizeof(buf))) > 0)
				;
			if (r == 0) {
				close(evs[i].data.fd);
				open--;
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int subs = 1000, rounds = 500, len = 150, lines = 1, kids = 10, pause_us = 2000, opt;
	int interleave = 0, half = 0, use_uring = 0; /* -i, -h, -u */

	while ((opt = getopt(argc, argv, "c:n:l:b:j:p:ihu")) != -1) {
		switch (opt) {
		case 'c': subs = atoi(optarg); break;
		case 'n': rounds = atoi(optarg); break;
		case 'l': len = atoi(optarg); break;
		case 'b': lines = atoi(optarg); break;
		case 'j': kids = atoi(optarg); break;
		case 'p': pause_us = atoi(optarg); break;
		case 'i': interleave = 1; break;
		case 'h': half = 1; break;
		case 'u': use_uring = 1; break;
		default:
			fprintf(stderr, "usage: fanout_floor [-c SUBS] [-n ROUNDS] [-l LEN] [-b LINES] "
			                "[-j CHILDREN] [-p PAUSE_US] [-h] [-i] [-u]\n");
			return 2;
		}
	}
	if (kids < 1 + half || subs < kids || subs % kids || rounds < 1 || rounds > 100000 || len < 1 ||
	    lines < 1 || (long)len * lines > 65536 || pause_us < 0 || pause_us > 1000000) {
		fprintf(stderr, "fanout_floor: SUBS a multiple of CHILDREN (>= 2 with -h); 1 <= ROUNDS <= 100000; "
		                "LEN * LINES <= 65536\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)subs * 2 + 64) {
		rl.rlim_cur = (rlim_t)subs * 2 + 64;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			fprintf(stderr, "fanout_floor: RLIMIT_NOFILE %d: %s\n", subs * 2 + 64, strerror(errno));
			return 1;
		}
	}
	int *w = malloc((size_t)subs * sizeof(*w)), per = subs / kids;
	int *r = malloc((size_t)per * sizeof(*r));
	char *buf = malloc((size_t)len * (size_t)lines);
	pid_t *pids = malloc((size_t)kids * sizeof(*pids));
	if (!w || !r || !buf || !pids)
		return 1;
	memset(buf, 'x', (size_t)len * (size_t)lines);
	for (int l = 1; l <= lines; l++)
		buf[(size_t)len * (size_t)l - 1] = '\n';
	for (int k = 0; k < kids; k++) {
		for (int i = 0; i < per; i++) {
			int sv[2];
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
				perror("fanout_floor: socketpair");
				return 1;
			}
			w[k * per + i] = sv[0];
			r[i] = sv[1];
		}
		if ((pids[k] = fork()) < 0)
			return 1;
		if (pids[k] == 0) {
			/* Only its own read ends: the writer's closing them is the end. */
			for (int i = 0; i < (k + 1) * per; i++)
				close(w[i]);
			_exit(reader(r, per));
		}
		for (int i = 0; i < per; i++)
			close(r[i]);
	}
	struct uring *ring = NULL;
	int send_err = 0, res[256];
	if (use_uring && !(ring = uring_new(256))) {
		fprintf(stderr, "fanout_floor: io_uring: %s\n", strerror(errno));
		return 77; /* none here: fanout.sh says so in the row */
	}
	struct timespec pause = {.tv_sec = 0, .tv_nsec = (long)pause_us * 1000};
	nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL); /* the readers settle in epoll_wait */
	double t = 0, writes = 0;
	for (int n = 0; n < rounds; n++) {
		double t0 = cpu_us();
		for (int j = 0; j < subs; j++) {
			/* Reader k, its socket i. */
			int k = interleave ? j % kids : j / per, i = k * per + (interleave ? j / kids : j % per);
			if (half && k % 2)
				continue;
			if (ring) {
				uring_send(ring, w[i], buf, (size_t)len * (size_t)lines);
				if (uring_queued(ring) == 256 && (send_err = send_run(ring, res, len * lines)))
					break;
			} else if (write(w[i], buf, (size_t)len * (size_t)lines) != (ssize_t)len * lines) {
				fprintf(stderr, "fanout_floor: write: %s\n", strerror(errno));
				return 1;
			}
			writes++;
		}
		if (ring && !send_err)
			send_err = send_run(ring, res, len * lines);
		if (send_err) {
			fprintf(stderr, "fanout_floor: io_uring send: %s\n", strerror(send_err));
			return 1;
		}
		t += cpu_us() - t0;
		if (pause_us)
			nanosleep(&pause, NULL);
	}
	for (int i = 0; i < subs; i++)
		close(w[i]);
	int failed = 0;
	for (int k = 0; k < kids; k++) {
		int st;
		if (waitpid(pids[k], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			failed++;
	}
	printf("{\"subscribers\":%d,\"rounds\":%d,\"len\":%d,\"lines_per_write\":%d,"
	       "\"half\":%d,\"interleaved\":%d,\"io_uring\":%d,\"us_per_write\":%.3f,\"us_per_line\":%.3f}\n",
	       subs, rounds, len, lines, half, interleave, use_uring, t / writes, t / writes / lines);
	uring_free(ring);
	free(w);
	free(r);
	free(buf);
	free(pids);
	return failed ? 1 : 0;
}
