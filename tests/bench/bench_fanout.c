/*
 * bench_fanout.c — the client side of tests/bench/fanout.sh (issue 17): C
 * subscribers to topic "config", half of them as root and half as another
 * uid, then N config.set of one key from a root connection, and the
 * daemon's CPU per event it delivered.
 *
 *   bench_fanout -s SOCKET -p DAEMON_PID [-c SUBS] [-n SETS] [-u UID] [-k KEY]
 *                [-e SEEN_BY_UID] [-j CHILDREN] [-t KEYS]
 *
 * SUBS (1000) connections, spread over CHILDREN (10) forked processes that
 * each hold SUBS/CHILDREN of them on one epoll; children with an odd index
 * setgid/setuid to UID (65534) first, so half the connections are that
 * uid's. After the sets, one config.set of "pub/fanout-end" (a key every
 * subscriber may see) marks the end of each connection's stream: events on
 * a connection arrive in order, so its count of KEY's events is final then.
 * Asserted: every root connection got exactly SETS events of KEY; every UID
 * connection got SETS when -e 1 (the policy lets it see KEY) and none when
 * -e 0; no overflow event anywhere. Exit 1 when not so, 77 when not root.
 * With -t KEYS (> 1), each of the SETS writes is one config.txn setting
 * KEY/0 .. KEY/KEYS-1 (one event per key, delivered in one loop turn:
 * what batching of a subscriber's writes shows in), and each subscriber
 * allowed KEY must get SETS * KEYS of them.
 *
 * Prints one JSON line: sets, subscribers, delivered (events of KEY counted
 * by the subscribers), ticks (the daemon's utime+stime delta from the first
 * set until every subscriber had the end marker; CLK_TCK), clk_tck,
 * us_per_event (ticks over delivered, in µs), set_us (wall time per set).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define END_KEY "pub/fanout-end"
#define RBUF 65536

static const char *sock_path;
static int txn_keys = 1; /* -t */
/* One call, its reply line in buf; 0 when it has a result. */
static int call(int fd, const char *line, char *buf, size_t size)
{
	char *reply = client_send_str(fd, line) < 0 ? NULL : client_recv_line(fd, 30000);
	snprintf(buf, size, "%s", reply ? reply : "(no reply)");
	free(reply);
	return reply && strstr(buf, "\"result\"") ? 0 : -1;
}

struct sub {
	int fd;
	size_t len; /* bytes of a partial line in buf */
	long count; /* events of the key */
	bool done;  /* the end marker arrived */
	char buf[RBUF];
};

/* Counts the complete lines in s->buf; keeps a partial one. 1 when the end marker came, -1 on an overflow. */
static int scan(struct sub *s, const char *key_pat)
{
	char *p = s->buf, *end = s->buf + s->len, *nl;
	int ret = 0;
	while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
		*nl = '\0';
		if (strstr(p, "\"overflow\""))
			ret = -1;
		else if (strstr(p, key_pat))
			s->count++;
		else if (strstr(p, "\"key\":\"" END_KEY "\"")) {
			s->done = true;
			if (ret == 0)
				ret = 1;
		}
		p = nl + 1;
	}
	s->len = (size_t)(end - p);
	memmove(s->buf, p, s->len);
	return ret;
}

/*
 * A child: subscribes its connections, says "R" on ready_fd, waits for the
 * end marker on every one, then writes its counts (one line per connection) on out_fd.
 */
static int child(int nconn, uid_t uid, bool drop, const char *key, int ready_fd, int out_fd)
{
	char pat[300], line[512];
	static const char sub_req[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"events.subscribe\",\"params\":{\"topics\":[\"config\"]}}\n";
	/* KEY, or KEY/N of a transaction: one pattern for both. */
	snprintf(pat, sizeof(pat), "\"key\":\"%s%s", key, txn_keys > 1 ? "/" : "\"");
	if (drop && (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid(uid) < 0)) {
		fprintf(stderr, "bench_fanout: setuid %u: %s\n", (unsigned)uid, strerror(errno));
		return 1;
	}
	struct sub *subs = calloc((size_t)nconn, sizeof(*subs));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!subs || ep < 0)
		return 1;
	for (int i = 0; i < nconn; i++) {
		subs[i].fd = client_connect(sock_path);
		if (subs[i].fd < 0 || call(subs[i].fd, sub_req, line, sizeof(line)) < 0) {
			fprintf(stderr, "bench_fanout: uid %u connection %d: subscribe failed: %s\n",
			        (unsigned)getuid(), i, subs[i].fd < 0 ? strerror(errno) : line);
			return 1;
		}
		fcntl(subs[i].fd, F_SETFL, O_NONBLOCK);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &subs[i]};
		epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev);
	}
	if (write(ready_fd, "R", 1) != 1)
		return 1;
	int left = nconn, overflow = 0;
	struct epoll_event evs[64];
	long deadline = now_ms() + 600000;
	while (left > 0 && now_ms() < deadline) {
		int n = epoll_wait(ep, evs, 64, 1000);
		for (int i = 0; i < n; i++) {
			struct sub *s = evs[i].data.ptr;
			for (;;) {
				ssize_t r = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0 && errno == EAGAIN)
					break;
				if (r <= 0) {
					fprintf(stderr, "bench_fanout: a subscriber's connection ended\n");
					return 1;
				}
				s->len += (size_t)r;
				bool was = s->done;
				int m = scan(s, pat);
				if (m < 0)
					overflow = 1;
				if (!was && s->done)
					left--;
				if (s->len == sizeof(s->buf))
					return 1; /* a line longer than 64 KiB: not an event of ours */
			}
		}
	}
	FILE *out = fdopen(out_fd, "w");
	for (int i = 0; i < nconn; i++)
		fprintf(out, "%ld %d\n", subs[i].done ? subs[i].count : -1L, overflow);
	fclose(out);
	return left > 0;
}

int main(int argc, char **argv)
{
	pid_t dpid = 0;
	int subs = 1000, sets = 2000, kids = 10, opt;
	int seen = 0;
	uid_t uid = 65534;
	const char *key = "priv/fanout";

	while ((opt = getopt(argc, argv, "s:p:c:n:u:k:e:j:t:")) != -1) {
		switch (opt) {
		case 's': sock_path = optarg; break;
		case 'p': dpid = (pid_t)atoi(optarg); break;
		case 'c': subs = atoi(optarg); break;
		case 'n': sets = atoi(optarg); break;
		case 'u': uid = (uid_t)strtoul(optarg, NULL, 10); break;
		case 'k': key = optarg; break;
		case 'e': seen = atoi(optarg); break;
		case 'j': kids = atoi(optarg); break;
		case 't': txn_keys = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: bench_fanout -s SOCKET -p PID [-c SUBS] [-n SETS] [-u UID] "
			                "[-k KEY] [-e 0|1] [-j CHILDREN] [-t KEYS]\n");
			return 2;
		}
	}
	if (!sock_path || dpid <= 0 || subs < 2 || sets < 1 || kids < 2 || kids % 2 || subs % kids ||
	    sets > 1000000 || strlen(key) > 200 || txn_keys < 1 || txn_keys > 100) {
		fprintf(stderr, "bench_fanout: need -s, -p; SUBS a multiple of CHILDREN (even, >= 2); "
		                "1 <= SETS <= 1000000; 1 <= KEYS <= 100\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "bench_fanout: not root: half the subscribers are another uid\n");
		return 77;
	}
	int per = subs / kids;
	/* Each child holds per connections; root may raise the hard limit too. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)per + 64) {
		rl.rlim_cur = (rlim_t)per + 64;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	pid_t pids[kids];
	FILE *outs[kids];
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return 1;
	for (int i = 0; i < kids; i++) {
		int out[2];
		if (pipe2(out, O_CLOEXEC) < 0)
			return 1;
		pids[i] = fork();
		if (pids[i] < 0)
			return 1;
		if (pids[i] == 0) {
			close(ready[0]);
			close(out[0]);
			_exit(child(per, uid, i % 2, key, ready[1], out[1]));
		}
		close(out[1]);
		outs[i] = fdopen(out[0], "r");
	}
	close(ready[1]);
	for (int i = 0; i < kids; i++) {
		char c;
		if (read(ready[0], &c, 1) != 1) {
			fprintf(stderr, "bench_fanout: a subscriber process failed before it was ready\n");
			for (int j = 0; j < kids; j++)
				kill(pids[j], SIGTERM);
			while (wait(NULL) > 0)
				;
			return 1;
		}
	}

	int fd = client_connect(sock_path);
	char line[32768], reply[512];
	if (fd < 0)
		return 1;
	long t0 = proc_cpu_ticks(dpid), w0 = now_ms();
	for (int i = 0; i <= sets; i++) {
		/* The last set is the end marker, a key every subscriber sees. */
		if (i < sets && txn_keys > 1) {
			int n = snprintf(line, sizeof(line),
			                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.txn\","
			                 "\"params\":{\"success\":[", i + 1);
			for (int k = 0; k < txn_keys; k++)
				n += snprintf(line + n, sizeof(line) - (size_t)n,
				              "%s{\"op\":\"set\",\"key\":\"%s/%d\",\"value\":%d}",
				              k ? "," : "", key, k, i);
			snprintf(line + n, sizeof(line) - (size_t)n, "]}}\n");
		} else {
			snprintf(line, sizeof(line),
			         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"config.set\","
			         "\"params\":{\"key\":\"%s\",\"value\":%d}}\n",
			         i + 1, i < sets ? key : END_KEY, i);
		}
		if (call(fd, line, reply, sizeof(reply)) < 0) {
			fprintf(stderr, "bench_fanout: config.set %d failed: %s\n", i, reply);
			for (int j = 0; j < kids; j++)
				kill(pids[j], SIGTERM);
			return 1;
		}
	}
	long w1 = now_ms();

	/* Each child writes its counts once every connection has the end marker. */
	int bad = 0, overflow = 0;
	long delivered = 0;
	for (int i = 0; i < kids; i++) {
		long want = (i % 2 == 0 || seen) ? (long)sets * txn_keys : 0;
		for (int c = 0; c < per; c++) {
			long n;
			int ov;
			if (fscanf(outs[i], "%ld %d", &n, &ov) != 2) {
				bad++;
				break;
			}
			overflow |= ov;
			if (n != want) {
				if (bad++ < 5)
					fprintf(stderr, "bench_fanout: %s connection %d: %ld events of %s, want %ld\n",
					        i % 2 ? "uid" : "root", c, n, key, want);
			} else {
				delivered += n;
			}
		}
	}
	long t1 = proc_cpu_ticks(dpid);
	int failed = 0;
	for (int i = 0; i < kids; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			failed++;
	}
	close(fd);
	long clk = sysconf(_SC_CLK_TCK);
	printf("{\"sets\":%d,\"txn_keys\":%d,\"subscribers\":%d,\"delivered\":%ld,\"ticks\":%ld,\"clk_tck\":%ld,"
	       "\"us_per_event\":%.3f,\"set_us\":%.1f,\"bad\":%d,\"overflow\":%d}\n",
	       sets, txn_keys, subs, delivered, t1 - t0, clk,
	       delivered ? (double)(t1 - t0) * 1e6 / (double)clk / (double)delivered : 0.0,
	       (double)(w1 - w0) * 1e3 / (sets + 1), bad, overflow);
	if (bad || overflow || failed || t0 < 0 || t1 < 0) {
		fprintf(stderr, "bench_fanout: %d wrong counts, overflow %d, %d subscriber processes failed\n",
		        bad, overflow, failed);
		return 1;
	}
	return 0;
}
