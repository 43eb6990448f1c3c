/*
 * peer_dbus.c - minimal D-Bus service on sd-bus (libsystemd), for benchmarks.
 *
 * Connects to the bus at --address ADDR (default: $DBUS_SESSION_BUS_ADDRESS),
 * requests the well-known name org.udsrpc.Bench (--name to change; fails if
 * the name cannot be owned), and exports
 *     object    /org/udsrpc/Bench
 *     interface org.udsrpc.Bench
 *     Ping()  -> s   returns "pong"
 *     Echo(s) -> s   returns its argument
 * Single-threaded: one sd-event loop (default) or, with --loop=process, a
 * bare sd_bus_process()/sd_bus_wait() loop.
 * Prints "ready name=... unique=..." on stdout once the name is owned.
 * SIGTERM / SIGINT: leave the loop, flush, close, exit 0.
 *
 * Test-only switches (to prove that the load generator counts only real
 * replies): --wrong-reply answers "ponk" / a modified
 * string; --error-reply answers every call with a D-Bus error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

static int o_wrong, o_error;
static volatile sig_atomic_t got_term;

static int method_ping(sd_bus_message *m, void *ud, sd_bus_error *err)
{
    (void)ud;
    if (o_error)
        return sd_bus_error_set(err, "org.udsrpc.Bench.Error.Test", "error-reply test mode");
    return sd_bus_reply_method_return(m, "s", o_wrong ? "ponk" : "pong");
}

static int method_echo(sd_bus_message *m, void *ud, sd_bus_error *err)
{
    (void)ud;
    const char *s;
    int r = sd_bus_message_read(m, "s", &s);
    if (r < 0) return r;
    if (o_error)
        return sd_bus_error_set(err, "org.udsrpc.Bench.Error.Test", "error-reply test mode");
    if (o_wrong) {
        size_t n = strlen(s);
        char *t = malloc(n + 2);
        if (!t) return -ENOMEM;
        memcpy(t, s, n);
        if (n) t[n - 1] = (char)(t[n - 1] == 'Z' ? 'Y' : 'Z'); else t[n++] = 'Z';
        t[n] = 0;
        r = sd_bus_reply_method_return(m, "s", t);
        free(t);
        return r;
    }
    return sd_bus_reply_method_return(m, "s", s);
}

static const sd_bus_vtable bench_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Ping", "", "s", method_ping, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Echo", "s", "s", method_echo, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END
};

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
    (void)si; (void)ud;
    return sd_event_exit(sd_event_source_get_event(s), 0);
}

static void on_term_flag(int sig) { (void)sig; got_term = 1; }

static void usage(void)
{
    fprintf(stderr, "usage: peer_dbus [--address ADDR] [--name NAME] [--loop event|process]\n"
                    "                 [--wrong-reply | --error-reply]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static struct option lo[] = {
        { "address", required_argument, 0, 'a' }, { "name", required_argument, 0, 'N' },
        { "loop", required_argument, 0, 'L' }, { "wrong-reply", no_argument, 0, 'W' },
        { "error-reply", no_argument, 0, 'E' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    const char *addr = getenv("DBUS_SESSION_BUS_ADDRESS"), *name = "org.udsrpc.Bench";
    int use_event = 1, ch, r;
    while ((ch = getopt_long(argc, argv, "a:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'a': addr = optarg; break;
        case 'N': name = optarg; break;
        case 'L':
            if (!strcmp(optarg, "event")) use_event = 1;
            else if (!strcmp(optarg, "process")) use_event = 0;
            else usage();
            break;
        case 'W': o_wrong = 1; break;
        case 'E': o_error = 1; break;
        default: usage();
        }
    }
    if (!addr || !*addr) { fprintf(stderr, "peer_dbus: no --address and no DBUS_SESSION_BUS_ADDRESS\n"); return 2; }

    sd_bus *bus = NULL;
    sd_event *ev = NULL;
    if ((r = sd_bus_new(&bus)) < 0 ||
        (r = sd_bus_set_address(bus, addr)) < 0 ||
        (r = sd_bus_set_bus_client(bus, 1)) < 0 ||
        (r = sd_bus_start(bus)) < 0) {
        fprintf(stderr, "peer_dbus: connect %s: %s\n", addr, strerror(-r));
        return 1;
    }
    r = sd_bus_add_object_vtable(bus, NULL, "/org/udsrpc/Bench", "org.udsrpc.Bench", bench_vtable, NULL);
    if (r < 0) { fprintf(stderr, "peer_dbus: add vtable: %s\n", strerror(-r)); return 1; }
    /* flags 0: do not queue, do not replace -> fails with -EEXIST if owned */
    r = sd_bus_request_name(bus, name, 0);
    if (r < 0) { fprintf(stderr, "peer_dbus: request name %s: %s\n", name, strerror(-r)); return 1; }
    const char *uniq = "?";
    sd_bus_get_unique_name(bus, &uniq);
    printf("ready name=%s unique=%s loop=%s%s\n", name, uniq, use_event ? "event" : "process",
           o_wrong ? " mode=wrong-reply" : o_error ? " mode=error-reply" : "");
    fflush(stdout);

    if (use_event) {
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if ((r = sd_event_new(&ev)) < 0 ||
            (r = sd_event_add_signal(ev, NULL, SIGTERM, on_signal, NULL)) < 0 ||
            (r = sd_event_add_signal(ev, NULL, SIGINT, on_signal, NULL)) < 0 ||
            (r = sd_bus_attach_event(bus, ev, SD_EVENT_PRIORITY_NORMAL)) < 0) {
            fprintf(stderr, "peer_dbus: sd-event setup: %s\n", strerror(-r));
            return 1;
        }
        /* exit the loop (with an error) if the bus connection goes away */
        sd_bus_set_exit_on_disconnect(bus, 1);
        r = sd_event_loop(ev);
        if (r < 0) fprintf(stderr, "peer_dbus: event loop: %s\n", strerror(-r));
    } else {
        struct sigaction sa = { .sa_handler = on_term_flag };   /* no SA_RESTART */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        r = 0;
        while (!got_term) {
            r = sd_bus_process(bus, NULL);
            if (r < 0) { if (r == -EINTR) continue; fprintf(stderr, "peer_dbus: process: %s\n", strerror(-r)); break; }
            if (r > 0) continue;
            /* 100 ms cap: a SIGTERM that lands just before the wait is seen within 100 ms */
            r = sd_bus_wait(bus, 100000);
            if (r < 0 && r != -EINTR) { fprintf(stderr, "peer_dbus: wait: %s\n", strerror(-r)); break; }
            r = 0;
        }
    }
    sd_bus_flush_close_unref(bus);
    sd_event_unref(ev);
    return r < 0 ? 1 : 0;
}
