/* main.c — udsrpcd: options, configuration, defaults, then the server. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <udsrpc/udsrpc.h>

#include "check_as.h"
#include "config.h"
#include "udsrpcd.h"
#include "jsonnum.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: udsrpcd [-s PATH] [-c CONFIG] [-p POLICY] [-S STATE_DIR] [-l LEVEL] "
		   "[--check] [--repair] [-h] [--version]\n"
		   "       udsrpcd [-c CONFIG] [-p POLICY] --check --as USER[:GROUP] [--pid PID] "
		   "[--exe PATH]\n"
		   "               (METHOD [KEY] | --provide NAME)\n"
		   "  -s, --socket PATH      listen on PATH (default: $UDSRPC_SOCKET, "
		   "$RUNTIME_DIRECTORY/udsrpcd.sock,\n"
		   "                         /run/udsrpcd.sock as root, "
		   "$XDG_RUNTIME_DIR/udsrpcd.sock, /tmp/udsrpcd-$UID.sock)\n"
		   "  -c, --config FILE      JSON config (schema/config.schema.json)\n"
		   "  -p, --policy FILE      JSON policy (schema/policy.schema.json); default: "
		   "embedded\n"
		   "  -S, --state-dir DIR    durable config store (created if missing)\n"
		   "  -l, --log-level LEVEL  error, warning, info or debug\n"
		   "      --check            validate config and policy, print them, exit\n"
		   "      --as USER[:GROUP]  with --check: what the policy decides for that caller\n"
		   "      --pid PID          ... as the process that has PID now\n"
		   "      --exe PATH         ... running PATH (else its exe is unknown)\n"
		   "      --provide NAME     ... providing NAME instead of calling METHOD\n"
		   "      --repair           make a damaged state dir loadable: keep every log record\n"
		   "                         that reads back, move the rest aside, say how much, exit\n"
		   "  -h, --help             this text\n"
		   "      --version          print the version\n");
}

/* udsrpcd(8): $STATE_DIRECTORY, /var/lib/udsrpcd as root, else the XDG state home. */
static int default_state_dir(char *buf, size_t len)
{
	const char *v;
	int n;

	if ((v = getenv("STATE_DIRECTORY")) && *v) {
		n = snprintf(buf, len, "%.*s", (int)strcspn(v, ":"), v);
	} else if (geteuid() == 0) {
		n = snprintf(buf, len, "/var/lib/udsrpcd");
	} else if ((v = getenv("XDG_STATE_HOME")) && *v) {
		n = snprintf(buf, len, "%s/udsrpcd", v);
	} else {
		const char *home = getenv("HOME");
		struct passwd *pw;
		if ((!home || !*home) && (pw = getpwuid(geteuid())))
			home = pw->pw_dir;
		if (!home)
			return -ENOENT;
		n = snprintf(buf, len, "%s/.local/state/udsrpcd", home);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Connections are descriptors: take all the kernel allows us. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			udsrpc_server_log(NULL, UDSRPC_LOG_WARNING, "cannot raise RLIMIT_NOFILE to %llu: %s",
					  (unsigned long long)rl.rlim_max, strerror(errno));
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"config", required_argument, NULL, 'c'},
		{"policy", required_argument, NULL, 'p'},
		{"state-dir", required_argument, NULL, 'S'},
		{"log-level", required_argument, NULL, 'l'},
		{"check", no_argument, NULL, 'C'},
		{"as", required_argument, NULL, 'A'},
		{"pid", required_argument, NULL, 'P'},
		{"exe", required_argument, NULL, 'E'},
		{"provide", required_argument, NULL, 'R'},
		{"repair", no_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *opt_socket = NULL, *opt_config = NULL, *opt_policy = NULL,
		   *opt_state = NULL, *opt_level = NULL;
	struct udsrpcd srv;
	enum udsrpc_log_level level;
	bool check = false, repair = false;
	struct check_as as = {0};
	char err[1024], path[PATH_MAX];
	int c;

	memset(&srv, 0, sizeof(srv));
	config_defaults(&srv.cfg);
	while ((c = getopt_long(argc, argv, "s:c:p:S:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': opt_socket = optarg; break;
		case 'c': opt_config = optarg; break;
		case 'p': opt_policy = optarg; break;
		case 'S': opt_state = optarg; break;
		case 'l': opt_level = optarg; break;
		case 'C': check = true; break;
		case 'A': as.as = optarg; break;
		case 'P': as.pid = optarg; break;
		case 'E': as.exe = optarg; break;
		case 'R': as.provide = optarg; break;
		case 'F': repair = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("udsrpcd %s\n", UDSRPC_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if ((as.pid || as.exe || as.provide) && !as.as) {
		fprintf(stderr, "udsrpcd: --pid, --exe and --provide go with --check --as; "
				"see udsrpcd --help\n");
		return 2;
	}
	if (as.as && !check) {
		fprintf(stderr, "udsrpcd: --as goes with --check; see udsrpcd --help\n");
		return 2;
	}
	/* --check --as: METHOD [KEY], or nothing after --provide NAME. */
	if (as.as && !as.provide && optind < argc)
		as.method = argv[optind++];
	if (as.method && optind < argc)
		as.key = argv[optind++];
	if (as.as && !as.provide && !as.method) {
		fprintf(stderr, "udsrpcd: --check --as needs a METHOD (or --provide NAME)\n");
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "udsrpcd: unexpected argument '%s'; see udsrpcd --help\n", argv[optind]);
		return 2;
	}
	/* An empty path is a mistake (an unset variable), never "the default". */
	if (opt_socket && !*opt_socket) {
		fprintf(stderr, "udsrpcd: -s: empty socket path; see udsrpcd --help\n");
		return 2;
	}
	if (opt_level && udsrpc_log_level_parse(opt_level, &level) < 0) {
		fprintf(stderr, "udsrpcd: unknown log level '%s'; use error, warning, info or debug\n",
			opt_level);
		return 2;
	}

	/* The file first, then the command line over it. */
	if (opt_config) {
		if (config_load_file(&srv.cfg, opt_config, err, sizeof(err)) < 0) {
			udsrpc_server_log(NULL, UDSRPC_LOG_ERROR, "%s", err);
			return 1;
		}
		config_set_str(&srv.config_path, opt_config);
	}
	if (opt_socket)
		config_set_str(&srv.cfg.socket, opt_socket);
	if (opt_policy) {
		config_set_str(&srv.cfg.policy, opt_policy);
	} else if (srv.cfg.policy) {
		srv.policy_from_config = true;
	}
	if (opt_state)
		config_set_str(&srv.cfg.state_dir, opt_state);
	if (opt_level)
		srv.cfg.log_level = level;

	if (!srv.cfg.socket) {
		if (udsrpc_default_socket_path(path, sizeof(path)) < 0) {
			udsrpc_server_log(NULL, UDSRPC_LOG_ERROR,
					  "default socket path too long; pass --socket");
			return 1;
		}
		config_set_str(&srv.cfg.socket, path);
	}
	if (!srv.cfg.state_dir) {
		if (default_state_dir(path, sizeof(path)) < 0) {
			udsrpc_server_log(NULL, UDSRPC_LOG_ERROR,
					  "no state dir: set $HOME or pass --state-dir");
			return 1;
		}
		config_set_str(&srv.cfg.state_dir, path);
	}
	config_set_str(&srv.policy_path, srv.cfg.policy);
	if (repair && check) {
		fprintf(stderr, "udsrpcd: --repair and --check do not go together; pick one\n");
		config_free(&srv.cfg);
		return 2;
	}
	if (repair) {
		/* Offline, on the files only: no socket, no policy, no server. */
		int rc = udsrpcd_repair(srv.cfg.state_dir);

		free(srv.config_path);
		free(srv.policy_path);
		config_free(&srv.cfg);
		return rc;
	}

	if (udsrpcd_init(&srv, err, sizeof(err)) < 0) {
		udsrpc_server_log(NULL, UDSRPC_LOG_ERROR, "%s", err);
		udsrpcd_free(&srv);
		return 1;
	}
	if (as.as) {
		int rc = check_as(srv.srv, &as);
		udsrpcd_free(&srv);
		return rc;
	}
	if (check) {
		json_t *out = udsrpcd_check_json(&srv);
		char *text = out ? jsonnum_dumps(out, JSON_INDENT(2)) : NULL;

		if (text)
			puts(text);
		free(text);
		json_decref(out);
		udsrpcd_free(&srv);
		return 0;
	}
	raise_nofile();
	int r = udsrpcd_run(&srv, err, sizeof(err));
	if (r < 0)
		udsrpc_server_log(srv.srv, UDSRPC_LOG_ERROR, "%s", err);
	udsrpcd_free(&srv);
	return r < 0 ? 1 : 0;
}
