/*
 * uring.h — a minimal io_uring of non-blocking socket sends, by raw system
 * calls (no liburing): the fan-out of an event writes to many subscribers in
 * one submission (fanout.c) instead of a write(2) each. Only sends, only
 * MSG_DONTWAIT: each completes inside the submitting call with what send(2)
 * would have returned (bytes taken, possibly short, or -EAGAIN), so no
 * buffer is referenced by the kernel after uring_run returns.
 */
#ifndef UDSRPC_URING_H
#define UDSRPC_URING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct uring;

/* A ring of at least `entries` sends; NULL with errno set when the kernel
 * has no io_uring (ENOSYS), forbids it (EPERM: seccomp, io_uring_disabled),
 * or on ENOMEM. */
struct uring *uring_new(unsigned entries);
void uring_free(struct uring *u);
/* Sends queued and not run yet. */
unsigned uring_queued(const struct uring *u);
/*
 * Queue a send of buf (one buffer) or of msg's iovecs to fd, with
 * MSG_DONTWAIT | MSG_NOSIGNAL; its result comes in res[i], i the number of
 * sends queued before it. The buffers and msg stay valid until uring_run
 * returns. At most `entries` (uring_new's) may be queued.
 */
void uring_send(struct uring *u, int fd, const void *buf, size_t len);
void uring_sendmsg(struct uring *u, int fd, const struct msghdr *msg);
/*
 * Submit what is queued and wait for every result: res[i] for the i-th
 * send, the bytes sent or -errno. A send the kernel did not take (the
 * submission failed) reports -ECANCELED: it did not happen. One whose
 * completion never came (the ring broke) reports -EIO: whether it went out
 * is not known. Returns 0, or -errno when the ring itself is unusable (the
 * caller drops it).
 */
int uring_run(struct uring *u, int *res);

#endif
