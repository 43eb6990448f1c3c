/* uring.c — io_uring sends by raw system calls (uring.h says why and what for). */
#include <errno.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uring.h"

struct uring {
	int fd;
	unsigned sq_entries;
	unsigned *sq_head, *sq_tail, sq_mask;
	unsigned *cq_head, *cq_tail, cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	void *sq_ring, *cq_ring; /* cq_ring == sq_ring with IORING_FEAT_SINGLE_MMAP */
	size_t sq_ring_len, cq_ring_len, sqes_len;
	unsigned tail;	 /* ours: the next free slot; *sq_tail is published by uring_run */
	unsigned queued; /* since the last run */
};

static int sys_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned wait, unsigned flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL, 0);
}

void uring_free(struct uring *u)
{
	if (!u)
		return;
	if (u->sqes && u->sqes != MAP_FAILED)
		munmap(u->sqes, u->sqes_len);
	if (u->cq_ring && u->cq_ring != MAP_FAILED && u->cq_ring != u->sq_ring)
		munmap(u->cq_ring, u->cq_ring_len);
	if (u->sq_ring && u->sq_ring != MAP_FAILED)
		munmap(u->sq_ring, u->sq_ring_len);
	if (u->fd >= 0)
		close(u->fd);
	free(u);
}

struct uring *uring_new(unsigned entries)
{
	struct io_uring_params p;
	struct uring *u = calloc(1, sizeof(*u));
	int err;

	if (!u)
		return NULL;
	/* Keep going past a bad send (SUBMIT_ALL), and no interrupt to post a
	 * completion to this task (COOP_TASKRUN): it is waiting for them anyway.
	 * Kernels before 5.19 know neither: plain then. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
	u->fd = sys_setup(entries, &p);
	if (u->fd < 0 && errno == EINVAL) {
		memset(&p, 0, sizeof(p));
		u->fd = sys_setup(entries, &p);
	}
	if (u->fd < 0)
		goto fail;
	u->sq_entries = p.sq_entries;
	u->sq_ring_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	u->cq_ring_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP && u->cq_ring_len > u->sq_ring_len)
		u->sq_ring_len = u->cq_ring_len;
	u->sq_ring = mmap(NULL, u->sq_ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
	                  u->fd, IORING_OFF_SQ_RING);
	if (u->sq_ring == MAP_FAILED)
		goto fail;
	u->cq_ring = p.features & IORING_FEAT_SINGLE_MMAP
	                 ? u->sq_ring
	                 : mmap(NULL, u->cq_ring_len, PROT_READ | PROT_WRITE,
	                        MAP_SHARED | MAP_POPULATE, u->fd, IORING_OFF_CQ_RING);
	if (u->cq_ring == MAP_FAILED)
		goto fail;
	u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
	               IORING_OFF_SQES);
	if (u->sqes == MAP_FAILED)
		goto fail;
	memset(u->sqes, 0, u->sqes_len); /* what uring_queue does not write stays this */
	char *sq = u->sq_ring, *cq = u->cq_ring;
	u->sq_head = (unsigned *)(sq + p.sq_off.head);
	u->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	u->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
	u->cq_head = (unsigned *)(cq + p.cq_off.head);
	u->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	u->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	/* Slot i of the ring is always entry i: the index array is set once. */
	unsigned *array = (unsigned *)(sq + p.sq_off.array);
	for (unsigned i = 0; i < p.sq_entries; i++)
		array[i] = i;
	u->tail = *u->sq_tail;
	return u;
fail:
	err = errno;
	uring_free(u);
	errno = err;
	return NULL;
}

unsigned uring_queued(const struct uring *u)
{
	return u->queued;
}

/*
 * Only the fields a send sets: the rest of every entry is zero from
 * uring_new and stays so, as nothing else is ever queued and the kernel does not
 * write entries (a whole entry written was a third of uring_send's and
 * fanout_write's instructions per event in tests/bench/fanout.sh).
 */
static void uring_queue(struct uring *u, uint8_t op, int fd, uint64_t addr, uint32_t len)
{
	struct io_uring_sqe *e = &u->sqes[u->tail++ & u->sq_mask];

	e->opcode = op;
	e->fd = fd;
	e->addr = addr;
	e->len = len;
	e->msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
	e->user_data = u->queued++;
}

void uring_send(struct uring *u, int fd, const void *buf, size_t len)
{
	uring_queue(u, IORING_OP_SEND, fd, (uint64_t)(uintptr_t)buf, (uint32_t)len);
}

void uring_sendmsg(struct uring *u, int fd, const struct msghdr *msg)
{
	uring_queue(u, IORING_OP_SENDMSG, fd, (uint64_t)(uintptr_t)msg, 1);
}

int uring_run(struct uring *u, int *res)
{
	unsigned head = __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE), want = u->queued, got = 0;
	int r, err = 0;

	if (want == 0)
		return 0;
	for (unsigned i = 0; i < want; i++)
		res[i] = INT_MIN; /* no result yet */
	__atomic_store_n(u->sq_tail, u->tail, __ATOMIC_RELEASE);
	do
		r = sys_enter(u->fd, want, want, IORING_ENTER_GETEVENTS);
	while (r < 0 && errno == EINTR && __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE) == head);
	/* What the kernel consumed is what it ran; the rest is taken back
	 * (nothing reads the tail outside io_uring_enter) and reported undone. */
	unsigned taken = __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE) - head;
	if (r < 0 && taken == 0)
		err = -errno;
	for (unsigned i = taken; i < want; i++)
		res[i] = -ECANCELED;
	u->tail = head + taken;
	__atomic_store_n(u->sq_tail, u->tail, __ATOMIC_RELEASE);
	u->queued = 0;
	/* MSG_DONTWAIT sends complete inside the submitting call; the wait
	 * below is for a kernel that posts them a little later all the same. */
	for (unsigned tries = 0; got < taken;) {
		unsigned ch = *u->cq_head, ct = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
		for (; ch != ct && got < taken; ch++, got++) {
			const struct io_uring_cqe *cqe = &u->cqes[ch & u->cq_mask];
			if (cqe->user_data < want)
				res[cqe->user_data] = cqe->res;
		}
		__atomic_store_n(u->cq_head, ch, __ATOMIC_RELEASE);
		if (got == taken)
			break;
		if (sys_enter(u->fd, 0, taken - got, IORING_ENTER_GETEVENTS) < 0 && errno != EINTR &&
		    ++tries > 100) {
			err = -errno;
			break;
		}
	}
	/* Never seen to happen: the ring is broken, and whether the sends still
	 * missing went out is not known: the caller must not repeat them. */
	for (unsigned i = 0; got < taken && i < taken; i++)
		if (res[i] == INT_MIN)
			res[i] = -EIO;
	return got < taken && !err ? -EIO : err;
}
