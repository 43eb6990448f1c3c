/* ctl.h — what every part of udsrpcctl shares: its name and its exit statuses (udsrpcctl(1)). */
#ifndef UDSRPCCTL_CTL_H
#define UDSRPCCTL_CTL_H

#define CTL_PROG "udsrpcctl"

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_ERROR = 1,  /* the daemon answered with an error */
	CTL_EXIT_USAGE = 2,  /* wrong command, option or arity */
	CTL_EXIT_IO = 3,     /* cannot connect, I/O error, timeout, malformed reply */
	CTL_EXIT_DENIED = 4, /* the daemon answered -32001 */
};

#endif
