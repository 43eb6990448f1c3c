/* wire.c — length-prefixed messages on a worker's pipe, and adding up counters. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"

struct wire_header {
	uint32_t type;
	uint32_t len;
};

/* The largest message is a wire_final; anything bigger means a corrupt stream. */
#define WIRE_MAX_PAYLOAD (sizeof(struct wire_final) + 64)

uint64_t wire_errors(const struct wire_counts *c)
{
	uint64_t n = 0;
	for (int i = 0; i < WIRE_ERR_KINDS; i++)
		n += c->err[i];
	return n;
}

void wire_counts_add(struct wire_counts *dst, const struct wire_counts *src)
{
	dst->requests += src->requests;
	dst->answered += src->answered;
	dst->sent += src->sent;
	dst->expected += src->expected;
	dst->notifications += src->notifications;
	for (int i = 0; i < WIRE_ERR_KINDS; i++)
		dst->err[i] += src->err[i];
	dst->conns += src->conns;
	dst->holding += src->holding;
	dst->held += src->held;
	if (src->t_measure && (!dst->t_measure || src->t_measure < dst->t_measure))
		dst->t_measure = src->t_measure;
	if (src->t_last > dst->t_last)
		dst->t_last = src->t_last;
	if (src->t_end > dst->t_end)
		dst->t_end = src->t_end;
}

static int wire_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int wire_send(int fd, enum wire_type type, const void *payload, size_t len)
{
	struct wire_header h = {.type = (uint32_t)type, .len = (uint32_t)len};
	char small[sizeof(h) + WIRE_NOTE_MAX];

	/* Small messages go in one write: a pipe keeps writes up to PIPE_BUF whole. */
	if (len <= WIRE_NOTE_MAX) {
		memcpy(small, &h, sizeof(h));
		if (len)
			memcpy(small + sizeof(h), payload, len);
		return wire_write_all(fd, small, sizeof(h) + len);
	}
	int r = wire_write_all(fd, &h, sizeof(h));
	return r < 0 ? r : wire_write_all(fd, payload, len);
}

int wire_read(int fd, struct wire_reader *r, enum wire_type *ret_type, const void **ret_payload,
              size_t *ret_len)
{
	struct wire_header h;
	bool eof = false;

	if (r->used) {
		memmove(r->buf, r->buf + r->used, r->len - r->used);
		r->len -= r->used;
		r->used = 0;
	}
	for (;;) {
		if (r->len >= sizeof(h)) {
			memcpy(&h, r->buf, sizeof(h));
			if (h.len > WIRE_MAX_PAYLOAD)
				return -EPROTO;
			if (r->len >= sizeof(h) + h.len) {
				/* Hand out a copy-free view; it is dropped on the next call. */
				*ret_type = (enum wire_type)h.type;
				*ret_payload = r->buf + sizeof(h);
				*ret_len = h.len;
				r->used = sizeof(h) + h.len;
				return 1;
			}
		}
		if (eof)
			return -EPIPE;
		if (r->cap - r->len < 16384) {
			size_t cap = r->cap ? r->cap * 2 : 65536;
			unsigned char *nb = realloc(r->buf, cap);
			if (!nb)
				return -ENOMEM;
			r->buf = nb;
			r->cap = cap;
		}
		ssize_t n = read(fd, r->buf + r->len, r->cap - r->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		if (n == 0)
			eof = true;
		r->len += (size_t)n;
	}
}

void wire_reader_free(struct wire_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}
