/*
 * dbusload.c - forking D-Bus method-call load generator on sd-bus (libsystemd).
 * Vendored for tests/bench/provider.sh (see README.md here): forked
 * workers, a log-linear histogram and a one-line key=value report, every
 * request a D-Bus method call routed by a bus.
 *
 * Target: destination org.udsrpc.Bench, object /org/udsrpc/Bench, interface
 * org.udsrpc.Bench, method Ping() -> s (reply must be exactly "pong") or
 * Echo(s) -> s (--size BYTES of printable ASCII; the reply must be the same
 * string). Bus address: -a ADDR, or -s PATH (= unix:path=PATH), or
 * $DBUS_SESSION_BUS_ADDRESS.
 *
 * Process model: -c CONNS bus connections (each its own sd_bus object, own
 * socket, own Hello / unique name) spread over -w WORKERS forked processes
 * (default 1). A worker with several connections multiplexes them with epoll
 * over sd_bus_get_fd()/sd_bus_get_events(), calling sd_bus_process() until it
 * returns 0 on every ready connection; a worker with exactly one connection
 * uses the blocking sd_bus_process()/sd_bus_wait() pattern. Each connection
 * keeps up to -P calls in flight with sd_bus_call_method_async(); a reply
 * callback records the call and immediately issues the next one.
 *
 * Checks: a call counts as ok only if its reply is a METHOD_RETURN with
 * signature exactly "s" whose string equals "pong" (Ping) or the sent payload
 * (Echo). D-Bus error replies (including sd-bus's synthetic NoReply /
 * disconnect errors), wrong signature or wrong content, failed sends, and
 * calls still unanswered DRAIN_S (2 s) after the run ends are errors.
 * Latency = CLOCK_MONOTONIC from just before sd_bus_call_method_async() (so it
 * includes building and sending the message) to the start of the reply
 * callback; log-linear histogram, 32 sub-buckets per power of two of ns
 * (<=1.6 % bucket error), merged in the parent from per-worker pipes.
 *
 * --hold N: open N idle, fully connected bus connections (Hello answered),
 *   print "hold_ready conns=N" on stdout, keep them -d seconds (SIGTERM ends
 *   early), close them, print a summary line.
 *
 * Bounds: -d SECONDS (default 3) or -n TOTAL, plus a hard limit -T (default
 * d+15 s, or 120 s with -n) after which workers are killed.
 * Exit status: 0 if errors==0 and at least one ok reply, 1 otherwise,
 * 2 on usage errors, 3 on hard timeout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#define SUBB 5
#define NSUB (1 << SUBB)
#define NBUCK (64 * NSUB + 2 * NSUB)
#define DRAIN_S 2.0

#define DEST  "org.udsrpc.Bench"
#define OPATH "/org/udsrpc/Bench"
#define IFACE "org.udsrpc.Bench"

struct report {
    uint64_t ok, errors, sent;
    uint64_t err_reply, bad_reply, send_fail, unanswered, conn_lost;
    double t_end;        /* CLOCK_MONOTONIC seconds of last reply (or exit if none) */
    double t_exit;       /* CLOCK_MONOTONIC seconds when the worker finished */
    double cpu_s;        /* worker's own user+sys CPU (all its threads) */
    char first_err[160];
    uint64_t hist[NBUCK];
};

static const char *o_addr;
static int o_conns = 1, o_workers = 0, o_pipe = 1, o_echo = 0;
static double o_dur = 3.0, o_hard = 0;
static long long o_total = 0;
static long o_hold = 0;
static long o_size = 16;
static char *payload;
static size_t payload_len;
static volatile sig_atomic_t stop_hold = 0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int bucket_of(uint64_t v)
{
    if (v < 2 * NSUB) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - SUBB;
    return shift * NSUB + (int)(v >> shift);
}
static double bucket_mid(int i)
{
    if (i < 2 * NSUB) return i;
    int shift = i / NSUB - 1;
    uint64_t mant = (uint64_t)(i - shift * NSUB);
    double lo = (double)(mant << shift), hi = (double)((mant + 1) << shift);
    return (lo + hi - 1) / 2.0;
}

struct conn;
struct call { struct conn *c; uint64_t t_send; int active; };
struct conn {
    sd_bus *bus;
    int fd, dead, again;
    uint32_t evmask;
    uint64_t inflight;
    long long quota;             /* -n mode: calls left to send (-1: unlimited) */
    struct call *calls;          /* o_pipe slots */
    int *freel, nfree;
};

static struct report rep;
static double deadline;
static int finished;             /* set after the loop: late callbacks are ignored */

static void note_err(const char *what, const char *detail)
{
    if (!rep.first_err[0])
        snprintf(rep.first_err, sizeof rep.first_err, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

/* connect + Hello; blocks until the bus assigned a unique name. NULL on failure */
static sd_bus *bus_connect(void)
{
    for (int tries = 0; tries < 200; tries++) {
        sd_bus *b = NULL;
        int r;
        if ((r = sd_bus_new(&b)) < 0) return NULL;
        if ((r = sd_bus_set_address(b, o_addr)) < 0 || (r = sd_bus_set_bus_client(b, 1)) < 0) {
            sd_bus_unref(b);
            fprintf(stderr, "dbusload: bad address %s: %s\n", o_addr, strerror(-r));
            return NULL;
        }
        r = sd_bus_start(b);
        const char *u = NULL;
        if (r >= 0) r = sd_bus_get_unique_name(b, &u);   /* waits for the Hello reply */
        if (r >= 0) return b;
        sd_bus_unref(b);
        if (r != -ENOENT && r != -ECONNREFUSED && r != -EAGAIN && r != -EINTR) {
            fprintf(stderr, "dbusload: connect %s: %s\n", o_addr, strerror(-r));
            return NULL;
        }
        usleep(10000);
    }
    return NULL;
}

static int may_send(struct conn *c, double t)
{
    if (c->dead || finished) return 0;
    if (o_total) return c->quota > 0;
    return t < deadline;
}

static void conn_lost(struct conn *c, int r)
{
    if (c->dead) return;
    c->dead = 1;
    rep.conn_lost++;
    note_err("connection lost", strerror(r < 0 ? -r : r));
    rep.errors += c->inflight;
    rep.unanswered += c->inflight;
    c->inflight = 0;
}

static int reply_ok(sd_bus_message *m)
{
    uint8_t type = 0;
    if (sd_bus_message_get_type(m, &type) < 0 || type != SD_BUS_MESSAGE_METHOD_RETURN) {
        const sd_bus_error *e = sd_bus_message_get_error(m);
        rep.err_reply++;
        note_err(e && e->name ? e->name : "non-return reply", e ? e->message : NULL);
        return 0;
    }
    const char *s = NULL;
    if (sd_bus_message_has_signature(m, "s") <= 0 || sd_bus_message_read(m, "s", &s) < 0 || !s) {
        rep.bad_reply++;
        note_err("reply with wrong signature", sd_bus_message_get_signature(m, 1));
        return 0;
    }
    int ok = o_echo ? (strlen(s) == payload_len && memcmp(s, payload, payload_len) == 0)
                    : strcmp(s, "pong") == 0;
    if (!ok) {
        rep.bad_reply++;
        char tmp[40];
        snprintf(tmp, sizeof tmp, "\"%.32s\"", s);
        note_err("reply with wrong content", tmp);
    }
    return ok;
}

static void refill(struct conn *c, double t);

static int on_reply(sd_bus_message *m, void *ud, sd_bus_error *ret_error)
{
    (void)ret_error;
    struct call *k = ud;
    struct conn *c = k->c;
    uint64_t tn = now_ns();
    if (finished || !k->active || c->dead) return 0;
    k->active = 0;
    c->inflight--;
    c->freel[c->nfree++] = (int)(k - c->calls);
    if (reply_ok(m)) {
        rep.ok++;
        rep.hist[bucket_of(tn - k->t_send)]++;
    } else {
        rep.errors++;
    }
    rep.t_end = (double)tn * 1e-9;
    refill(c, (double)tn * 1e-9);
    return 0;
}

static void refill(struct conn *c, double t)
{
    while (c->inflight < (uint64_t)o_pipe && may_send(c, t)) {
        int idx = c->freel[--c->nfree];
        struct call *k = &c->calls[idx];
        k->t_send = now_ns();
        int r = o_echo
            ? sd_bus_call_method_async(c->bus, NULL, DEST, OPATH, IFACE, "Echo", on_reply, k, "s", payload)
            : sd_bus_call_method_async(c->bus, NULL, DEST, OPATH, IFACE, "Ping", on_reply, k, NULL);
        rep.sent++;
        if (o_total) c->quota--;
        if (r < 0) {
            c->freel[c->nfree++] = idx;
            rep.errors++;
            rep.send_fail++;
            note_err("sd_bus_call_method_async failed", strerror(-r));
            conn_lost(c, r);
            return;
        }
        k->active = 1;
        c->inflight++;
    }
}

static int conn_done(struct conn *c, double t)
{
    return c->dead || (c->inflight == 0 && !may_send(c, t));
}

/* run sd_bus_process until it has nothing left (or a fairness cap); returns 1 if capped */
static int service(struct conn *c)
{
    int cap = 4 * o_pipe + 32;
    for (int i = 0; i < cap; i++) {
        if (c->dead) return 0;
        int r = sd_bus_process(c->bus, NULL);
        if (r < 0) { conn_lost(c, r); return 0; }
        if (r == 0) return 0;
    }
    return 1;
}

static void update_events(int ep, struct conn *c)
{
    if (c->dead) {
        if (c->evmask) { epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); c->evmask = 0; }
        return;
    }
    int e = sd_bus_get_events(c->bus);
    if (e < 0) { conn_lost(c, e); update_events(ep, c); return; }
    uint32_t m = ((e & POLLIN) ? EPOLLIN : 0) | ((e & POLLOUT) ? EPOLLOUT : 0);
    if (!m) m = EPOLLIN;
    if (m != c->evmask) {
        struct epoll_event ev = { .events = m, .data.ptr = c };
        epoll_ctl(ep, c->evmask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev);
        c->evmask = m;
    }
}

static void on_child_term(int s) { (void)s; stop_hold = 1; }

static void child_main(int nconn, long long quota_total, int repfd, int gofd)
{
    signal(SIGPIPE, SIG_IGN);
    if (o_hold) {
        struct sigaction sa = { .sa_handler = on_child_term };
        sigaction(SIGTERM, &sa, NULL);
    } else signal(SIGTERM, SIG_DFL);
    alarm((unsigned)ceil(o_hard));
    struct conn *cs = calloc((size_t)nconn, sizeof *cs);
    char ch = 'R';
    if (o_hold) {
        long okc = 0;
        sd_bus **bs = calloc((size_t)nconn, sizeof *bs);
        for (int i = 0; i < nconn; i++) {
            bs[i] = bus_connect();
            if (bs[i]) okc++; else { rep.errors++; note_err("connect failed", o_addr); }
        }
        if (write(repfd, &ch, 1) != 1) _exit(2);
        char g; while (read(gofd, &g, 1) > 0) {}
        double end = now_s() + o_dur;
        while (now_s() < end && !stop_hold) usleep(20000);
        for (int i = 0; i < nconn; i++) if (bs[i]) sd_bus_flush_close_unref(bs[i]);
        rep.ok = (uint64_t)okc;
        rep.t_end = now_s();
    } else {
        for (int i = 0; i < nconn; i++) {
            struct conn *c = &cs[i];
            c->bus = bus_connect();
            if (!c->bus) { ch = 'F'; break; }
            c->fd = sd_bus_get_fd(c->bus);
            c->calls = calloc((size_t)o_pipe, sizeof *c->calls);
            c->freel = calloc((size_t)o_pipe, sizeof *c->freel);
            for (int k = 0; k < o_pipe; k++) { c->calls[k].c = c; c->freel[k] = o_pipe - 1 - k; }
            c->nfree = o_pipe;
            c->quota = o_total ? quota_total / nconn + (i < quota_total % nconn ? 1 : 0) : -1;
            /* swallow the NameAcquired signal etc. that follow Hello */
            while (sd_bus_process(c->bus, NULL) > 0) {}
        }
        if (write(repfd, &ch, 1) != 1) _exit(2);
        if (ch == 'F') _exit(3);
        char g; while (read(gofd, &g, 1) > 0) {}
        double t0 = now_s();
        deadline = t0 + o_dur;
        rep.t_end = t0;
        int single = (nconn == 1), ep = -1;
        if (!single) {
            ep = epoll_create1(EPOLL_CLOEXEC);
            if (ep < 0) { perror("epoll_create1"); _exit(2); }
        }
        for (int i = 0; i < nconn; i++) {
            refill(&cs[i], t0);
            if (!single) update_events(ep, &cs[i]);
        }
        struct epoll_event evs[256];
        struct conn **againv = calloc((size_t)nconn, sizeof *againv);
        int nagain = 0;
        for (;;) {
            double t = now_s();
            int alldone = 1;
            for (int i = 0; i < nconn; i++) if (!conn_done(&cs[i], t)) { alldone = 0; break; }
            if (alldone) break;
            if (!o_total && t > deadline + DRAIN_S) break;
            if (single) {
                struct conn *c = &cs[0];
                int r = sd_bus_process(c->bus, NULL);
                if (r < 0) { conn_lost(c, r); continue; }
                if (r > 0) continue;
                r = sd_bus_wait(c->bus, 100000);
                if (r < 0 && r != -EINTR) conn_lost(c, r);
            } else {
                int n = epoll_wait(ep, evs, 256, nagain ? 0 : 100);
                int na = nagain; nagain = 0;
                for (int k = 0; k < na; k++) {           /* connections capped last time */
                    struct conn *c = againv[k];
                    c->again = 0;
                    if (service(c) && !c->again) { c->again = 1; againv[nagain++] = c; }
                    update_events(ep, c);
                }
                for (int k = 0; k < n; k++) {
                    struct conn *c = evs[k].data.ptr;
                    if (c->again) continue;
                    if (service(c)) { c->again = 1; againv[nagain++] = c; }
                    update_events(ep, c);
                }
            }
        }
        finished = 1;
        for (int i = 0; i < nconn; i++) {
            rep.errors += cs[i].inflight;
            rep.unanswered += cs[i].inflight;
            if (cs[i].inflight) note_err("no reply within drain time", NULL);
            cs[i].inflight = 0;
        }
        for (int i = 0; i < nconn; i++) sd_bus_close_unref(cs[i].bus);
    }
    rep.t_exit = now_s();
    if (!rep.ok) rep.t_end = rep.t_exit;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    rep.cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    const char *p = (const char *)&rep;
    size_t left = sizeof rep;
    while (left) {
        ssize_t w = write(repfd, p, left);
        if (w <= 0) { if (errno == EINTR) continue; _exit(2); }
        p += w; left -= (size_t)w;
    }
    _exit(0);
}

static pid_t *kids; static int nkids;
static void on_parent_alarm(int s)
{
    (void)s;
    for (int i = 0; i < nkids; i++) if (kids[i] > 0) kill(kids[i], SIGKILL);
    static const char m[] = "dbusload: hard timeout, workers killed\n";
    if (write(2, m, sizeof m - 1)) {}
    _exit(3);
}

static void on_parent_term(int s)
{
    (void)s;   /* hold mode: end the hold early; workers still report */
    for (int i = 0; i < nkids; i++) if (kids[i] > 0) kill(kids[i], SIGTERM);
}

static void usage(void)
{
    fprintf(stderr,
        "usage: dbusload [-a ADDR | -s SOCKPATH] [-c CONNS] [-w WORKERS] [-d SECONDS | -n TOTAL]\n"
        "                [-P DEPTH] [-m Ping|Echo] [--size BYTES] [-T HARD_TIMEOUT_S] [--hold N]\n"
        "  default address: $DBUS_SESSION_BUS_ADDRESS\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static struct option lo[] = {
        { "address", required_argument, 0, 'a' }, { "hold", required_argument, 0, 'H' },
        { "size", required_argument, 0, 'S' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    static char addrbuf[4200];
    const char *method = "Ping";
    int ch;
    o_addr = getenv("DBUS_SESSION_BUS_ADDRESS");
    while ((ch = getopt_long(argc, argv, "a:s:c:w:d:n:P:m:T:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'a': o_addr = optarg; break;
        case 's': snprintf(addrbuf, sizeof addrbuf, "unix:path=%s", optarg); o_addr = addrbuf; break;
        case 'c': o_conns = atoi(optarg); break;
        case 'w': o_workers = atoi(optarg); break;
        case 'd': o_dur = atof(optarg); break;
        case 'n': o_total = atoll(optarg); break;
        case 'P': o_pipe = atoi(optarg); break;
        case 'm': method = optarg; break;
        case 'S': o_size = atol(optarg); break;
        case 'T': o_hard = atof(optarg); break;
        case 'H': o_hold = atol(optarg); break;
        default: usage();
        }
    }
    if (!strcasecmp(method, "ping")) { o_echo = 0; method = "Ping"; }
    else if (!strcasecmp(method, "echo")) { o_echo = 1; method = "Echo"; }
    else usage();
    if (!o_addr || !*o_addr || o_conns < 1 || o_pipe < 1 || o_dur <= 0 || o_total < 0 ||
        o_size < 0 || o_size > 64L * 1024 * 1024 || o_hold < 0) usage();
    if (o_hard <= 0) o_hard = o_total ? 120 : o_dur + 15;
    if (o_echo) {
        static const char pat[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        payload_len = (size_t)o_size;
        payload = malloc(payload_len + 1);
        for (size_t i = 0; i < payload_len; i++) payload[i] = pat[i % (sizeof pat - 1)];
        payload[payload_len] = 0;
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

    int nc = o_hold ? (int)o_hold : o_conns;
    if (o_workers <= 0) o_workers = 1;
    if (o_workers > nc) o_workers = nc;

    int go[2];
    if (pipe(go) < 0) { perror("pipe"); return 2; }
    kids = calloc((size_t)o_workers, sizeof(pid_t));
    int *rfd = calloc((size_t)o_workers, sizeof(int));
    nkids = o_workers;
    fflush(stdout);
    for (int w = 0; w < o_workers; w++) {
        int nconn = nc / o_workers + (w < nc % o_workers ? 1 : 0);
        long long q = o_total / o_workers + (w < o_total % o_workers ? 1 : 0);
        int rp[2];
        if (pipe(rp) < 0) { perror("pipe"); return 2; }
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); on_parent_alarm(0); }
        if (pid == 0) {
            close(rp[0]); close(go[1]);
            for (int k = 0; k < w; k++) close(rfd[k]);
            child_main(nconn, q, rp[1], go[0]);
        }
        close(rp[1]);
        kids[w] = pid; rfd[w] = rp[0];
    }
    close(go[0]);
    signal(SIGALRM, on_parent_alarm);
    if (o_hold) {
        struct sigaction sa = { .sa_handler = on_parent_term };
        sigaction(SIGTERM, &sa, NULL);
    }
    alarm((unsigned)ceil(o_hard) + 5);

    /* wait until every worker is connected */
    int failed = 0;
    for (int w = 0; w < o_workers; w++) {
        char c = 0;
        ssize_t r;
        do r = read(rfd[w], &c, 1); while (r < 0 && errno == EINTR);
        if (r != 1 || c != 'R') failed = 1;
    }
    if (failed) {
        fprintf(stderr, "dbusload: connect to %s failed\n", o_addr);
        for (int i = 0; i < nkids; i++) kill(kids[i], SIGKILL);
        for (int i = 0; i < nkids; i++) waitpid(kids[i], NULL, 0);
        printf("rps=0 p50_us=0 p99_us=0 p999_us=0 errors=1 requests=0 connect_failed=1\n");
        return 1;
    }
    if (o_hold) { printf("hold_ready conns=%d\n", nc); fflush(stdout); }
    double tgo = now_s();
    close(go[1]);

    static struct report tot, r1;
    double tend = tgo, texit = tgo, cpu = 0;
    int missing = 0;
    for (int w = 0; w < o_workers; w++) {
        char *p = (char *)&r1; size_t left = sizeof r1;
        while (left) {
            ssize_t r = read(rfd[w], p, left);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            p += r; left -= (size_t)r;
        }
        if (left) { missing++; continue; }
        tot.ok += r1.ok; tot.errors += r1.errors; tot.sent += r1.sent;
        tot.err_reply += r1.err_reply; tot.bad_reply += r1.bad_reply; tot.send_fail += r1.send_fail;
        tot.unanswered += r1.unanswered; tot.conn_lost += r1.conn_lost;
        if (!tot.first_err[0] && r1.first_err[0]) memcpy(tot.first_err, r1.first_err, sizeof tot.first_err);
        cpu += r1.cpu_s;
        if (r1.t_end > tend) tend = r1.t_end;
        if (r1.t_exit > texit) texit = r1.t_exit;
        for (int i = 0; i < NBUCK; i++) tot.hist[i] += r1.hist[i];
    }
    for (int w = 0; w < o_workers; w++) waitpid(kids[w], NULL, 0);
    alarm(0);
    tot.errors += (uint64_t)missing;
    double el = tend - tgo, wall = texit - tgo;
    if (el <= 0) el = 1e-9;
    if (wall < el) wall = el;
    if (tot.errors)
        fprintf(stderr, "dbusload: errors=%llu (error_replies=%llu wrong_replies=%llu send_failed=%llu "
                "unanswered=%llu conns_lost=%llu workers_missing=%d) first: %s\n",
                (unsigned long long)tot.errors, (unsigned long long)tot.err_reply,
                (unsigned long long)tot.bad_reply, (unsigned long long)tot.send_fail,
                (unsigned long long)tot.unanswered, (unsigned long long)tot.conn_lost, missing,
                tot.first_err[0] ? tot.first_err : "-");

    if (o_hold) {
        printf("held=%llu errors=%llu workers=%d hold_s=%.2f\n", (unsigned long long)tot.ok,
               (unsigned long long)tot.errors, o_workers, el);
        return tot.errors ? 1 : 0;
    }
    double pct[3] = { 0.50, 0.99, 0.999 }, val[3] = { 0, 0, 0 };
    for (int k = 0; k < 3; k++) {
        uint64_t want = (uint64_t)ceil(pct[k] * (double)tot.ok), cum = 0;
        if (!want) continue;
        for (int i = 0; i < NBUCK; i++) {
            cum += tot.hist[i];
            if (cum >= want) { val[k] = bucket_mid(i) / 1000.0; break; }
        }
    }
    printf("rps=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f errors=%llu requests=%llu "
           "conns=%d pipeline=%d workers=%d elapsed_s=%.3f client_cpu_pct=%.1f client_cpu_us_per_req=%.2f "
           "method=%s size=%ld\n",
           (double)tot.ok / el, val[0], val[1], val[2], (unsigned long long)tot.errors,
           (unsigned long long)tot.ok, o_conns, o_pipe, o_workers,
           el, 100.0 * cpu / wall, tot.ok ? cpu * 1e6 / (double)tot.ok : 0.0,
           method, o_echo ? o_size : 0L);
    return (tot.errors || !tot.ok) ? 1 : 0;
}
