/* history.c — owns the config event history: events.log and the index of it kept in memory. */

/*
 * Why a file of its own: the store's log is emptied by every compaction,
 * so it never holds the last history_revisions changes, and its records
 * lack what an event carries (the writer's uid and pid, an unset's
 * reason). Each event is kept as the very line live subscribers get, so a
 * replay is a copy of bytes, serialised once.
 *
 * The file is an append-only run of records (little-endian):
 *   0  u32 len      bytes of the whole record
 *   4  u32 crc      CRC32C of bytes [8,len)
 *   8  u64 revision
 *  16  u16 keylen   HISTORY_MARK: no key, no line; the compact revision rose to revision
 *  18  key, then the line (len - 18 - keylen bytes, ending in '\n')
 * It is written with plain write()s after the store made the change
 * durable, never synced: the store is the state, this is a convenience
 * for watchers. What a crash can cost is its tail, and history_open sees
 * that as a history ending below the store's revision and raises the
 * compact revision there: a watcher is told to list again (-32015), it
 * never silently misses a change. When the file holds more than twice
 * what is retained it is rewritten (temp file, fsync, rename, fsync dir).
 *
 * The lines live only there. Memory holds, per kept event, where its
 * record is (struct hentry, 24 bytes; a line is ~200), so a full default
 * history costs a few MiB, not the 16 MiB of its lines; a replay reads
 * the records back, a run of them at a time, and checks each (length,
 * revision, CRC) before its line goes out. Records appended but not
 * written yet are in wbuf, at the offsets they will have in the file:
 * the records are one stream, the file's bytes below file_bytes and
 * wbuf's above, and a replay reads either. A write that fails keeps wbuf
 * (the only copy) and is tried again at the next flush. When the file
 * cannot give back what the index says it holds, the history gives up
 * its events, with an error logged: the compact revision rises to the
 * newest, so a watcher resuming from before it lists again (-32015)
 * instead of hearing a history with a gap.
 */
#include "history.h"
#include "store_codec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#define HISTORY_NAME "events.log"
#define HISTORY_TMP_NAME "events.log.tmp"
#define HISTORY_HEAD 18
#define HISTORY_MARK 0xffffu
/* Rewrite once the file passes twice what is kept and this much. */
#define HISTORY_REWRITE_MIN (1u << 20)
/* A record longer than this is damage, not an event (a line is at most the message limit plus a key). */
#define HISTORY_RECORD_MAX (1u << 30)
/* Records are read back this much at a time (a longer record: at once). */
#define HISTORY_READ_CHUNK (64u << 10)

/* One kept event: where its record is in the stream (file, then wbuf). */
struct hentry {
	uint64_t rev;
	uint64_t off;
	uint32_t len; /* of the whole record */
};

struct history {
	struct history_limits lim;
	history_log_fn log;
	void *log_arg;
	/* The ring, oldest first: v[(head + i) % cap] for i < n; offsets going up. */
	struct hentry *v;
	size_t cap, head, n;
	uint64_t revisions; /* distinct revisions in the ring */
	uint64_t bytes;     /* of the records the ring's entries take in the file */
	uint64_t compact;   /* events of revisions <= compact are gone */
	uint64_t last_rev;  /* of the newest event appended or loaded (0: none) */
	/* Records appended but not written yet: stream bytes [file_bytes, file_bytes + wlen). */
	unsigned char *wbuf;
	size_t wlen, wcap;
	int dirfd, fd;
	uint64_t file_bytes; /* of the file, all of them whole records */
	bool rewrite;        /* write the file anew at the next flush */
	bool write_failed;   /* the last write failed (reported once): wbuf waits */
	struct event *flush_ev; /* history_attach: the end-of-turn write */
	bool flush_queued;
};

static void history_log(const struct history *h, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void history_log(const struct history *h, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!h->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->log(h->log_arg, level, msg);
}

/* Written out byte by byte, not in a loop: the compiler makes each one store. */
static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* cap is 64 times a power of two (ring_push, history_flush): a mask, not a division. */
static struct hentry *ring_at(const struct history *h, size_t i)
{
	return &h->v[(h->head + i) & (h->cap - 1)];
}

/* Drop the oldest revision, whole. */
static void ring_drop_oldest(struct history *h)
{
	uint64_t rev = ring_at(h, 0)->rev;

	while (h->n && ring_at(h, 0)->rev == rev) {
		h->bytes -= ring_at(h, 0)->len;
		h->head = (h->head + 1) & (h->cap - 1);
		h->n--;
	}
	h->revisions--;
	if (rev > h->compact)
		h->compact = rev;
}

static void ring_enforce(struct history *h)
{
	while (h->n && (h->revisions > h->lim.max_revisions || h->bytes > h->lim.max_bytes))
		ring_drop_oldest(h);
}

/* Everything up to rev is gone: drop what the ring still has of it. */
static void ring_compact_to(struct history *h, uint64_t rev)
{
	while (h->n && ring_at(h, 0)->rev <= rev)
		ring_drop_oldest(h);
	if (rev > h->compact)
		h->compact = rev;
}

/* The ring moved to an array of cap entries (cap >= n), oldest first. */
static int ring_resize(struct history *h, size_t cap)
{
	struct hentry *v = malloc(cap * sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < h->n; i++)
		v[i] = *ring_at(h, i);
	free(h->v);
	h->v = v;
	h->cap = cap;
	h->head = 0;
	return 0;
}

static int ring_push(struct history *h, uint64_t rev, uint64_t off, uint32_t len)
{
	if (h->n == h->cap && ring_resize(h, h->cap ? h->cap * 2 : 64) < 0)
		return -ENOMEM;
	if (!h->n || ring_at(h, h->n - 1)->rev != rev)
		h->revisions++;
	*ring_at(h, h->n++) = (struct hentry){.rev = rev, .off = off, .len = len};
	h->bytes += len;
	if (rev > h->last_rev)
		h->last_rev = rev;
	ring_enforce(h);
	return 0;
}

/* ---- records ---- */

static bool wbuf_reserve(struct history *h, size_t n)
{
	if (h->wcap - h->wlen >= n)
		return true;
	size_t cap = h->wcap * 2 > h->wlen + n ? h->wcap * 2 : h->wlen + n + 4096;
	unsigned char *p = realloc(h->wbuf, cap);

	if (!p)
		return false;
	h->wbuf = p;
	h->wcap = cap;
	return true;
}

/* Encode one record at p (HISTORY_HEAD + klen + len bytes). */
static void record_encode(unsigned char *p, uint64_t rev, uint16_t keylen, const char *key,
                          size_t klen, const char *line, size_t len)
{
	size_t total = HISTORY_HEAD + klen + len;

	put32(p, (uint32_t)total);
	put64(p + 8, rev);
	p[16] = (unsigned char)(keylen & 0xff);
	p[17] = (unsigned char)(keylen >> 8);
	memcpy(p + HISTORY_HEAD, key, klen);
	memcpy(p + HISTORY_HEAD + klen, line, len);
	put32(p + 4, store_crc32c(0, p + 8, total - 8));
}

static int wbuf_add(struct history *h, uint64_t rev, uint16_t keylen, const char *key, size_t klen,
                    const char *line, size_t len)
{
	size_t total = HISTORY_HEAD + klen + len;

	if (!wbuf_reserve(h, total))
		return -ENOMEM;
	record_encode(h->wbuf + h->wlen, rev, keylen, key, klen, line, len);
	h->wlen += total;
	return 0;
}

/*
 * While writes fail, wbuf is all there is of what the file lacks; it must
 * not grow without bound. What it holds before the oldest kept event is
 * of events already gone: that goes, a compact mark in its place (a later
 * load must not read the events around the hole as one history). Only
 * when that is most of it, so the copying stays in proportion.
 */
static void wbuf_trim(struct history *h)
{
	uint64_t keep = h->n ? ring_at(h, 0)->off : h->file_bytes + h->wlen;
	size_t cut = keep > h->file_bytes ? (size_t)(keep - h->file_bytes) : 0;
	size_t shift;

	if (cut <= HISTORY_HEAD || cut < h->wlen / 2)
		return;
	shift = cut - HISTORY_HEAD;
	record_encode(h->wbuf + shift, h->compact, HISTORY_MARK, "", 0, "", 0);
	memmove(h->wbuf, h->wbuf + shift, h->wlen - shift);
	h->wlen -= shift;
	for (size_t i = 0; i < h->n; i++)
		ring_at(h, i)->off -= shift;
}

static int write_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		off += (uint64_t)w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- reading the stream back ---- */

/* Bytes [off, off + n) of the stream: the file's below file_bytes, then wbuf's. */
static int stream_read(const struct history *h, uint64_t off, unsigned char *buf, size_t n)
{
	if (off + n > h->file_bytes + h->wlen)
		return -ENODATA;
	while (n && off < h->file_bytes) {
		size_t k = h->file_bytes - off < n ? (size_t)(h->file_bytes - off) : n;
		ssize_t r = pread(h->fd, buf, k, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ENODATA; /* shorter than it was written */
		buf += r;
		off += (uint64_t)r;
		n -= (size_t)r;
	}
	if (n)
		memcpy(buf, h->wbuf + (off - h->file_bytes), n);
	return 0;
}

/* What of the stream was read last: a chunk, so that a run of records is one pread. */
struct window {
	unsigned char *buf;
	size_t cap, len;
	uint64_t start;
};

/* *ret: bytes [off, off + n) of the stream, valid until the next call. */
static int window_at(const struct history *h, struct window *w, uint64_t off, size_t n,
                     unsigned char **ret)
{
	uint64_t end = h->file_bytes + h->wlen;
	size_t want;
	int r;

	if (off >= w->start && off + n <= w->start + w->len) {
		*ret = w->buf + (off - w->start);
		return 0;
	}
	if (off > end || n > end - off)
		return -ENODATA;
	want = n > HISTORY_READ_CHUNK ? n : HISTORY_READ_CHUNK;
	if (want > end - off)
		want = (size_t)(end - off);
	if (want > w->cap) {
		unsigned char *p = realloc(w->buf, want);

		if (!p)
			return -ENOMEM;
		w->buf = p;
		w->cap = want;
	}
	w->len = 0;
	if ((r = stream_read(h, off, w->buf, want)) < 0)
		return r;
	w->start = off;
	w->len = want;
	*ret = w->buf;
	return 0;
}

/*
 * The record of e, checked: its length, revision and CRC as written.
 * *ret_key is its key made a string in place (moved one byte back over
 * the header, which was read already), *ret_line its line.
 */
static int entry_read(const struct history *h, struct window *w, const struct hentry *e,
                      const char **ret_key, const char **ret_line, size_t *ret_len)
{
	unsigned char *p;
	uint16_t keylen;
	int r = window_at(h, w, e->off, e->len, &p);

	if (r < 0)
		return r;
	keylen = get16(p + 16);
	if (get32(p) != e->len || get64(p + 8) != e->rev || keylen == HISTORY_MARK ||
	    (size_t)keylen + HISTORY_HEAD > e->len ||
	    get32(p + 4) != store_crc32c(0, p + 8, e->len - 8))
		return -EBADMSG;
	memmove(p + HISTORY_HEAD - 1, p + HISTORY_HEAD, keylen);
	p[HISTORY_HEAD - 1 + keylen] = '\0';
	*ret_key = (const char *)p + HISTORY_HEAD - 1;
	*ret_line = (const char *)p + HISTORY_HEAD + keylen;
	*ret_len = e->len - HISTORY_HEAD - keylen;
	return 0;
}

static void history_queue_flush(struct history *h);

/*
 * The file does not give back what the index says it holds (changed or
 * cut under us, a read error): nothing kept can be trusted to replay, so
 * it all goes, and the file is written anew with the raised compact
 * revision. A watcher resuming from before it lists again.
 */
static void history_unreadable(struct history *h, uint64_t off, int err)
{
	history_log(h, 3,
	            HISTORY_NAME ": the record at offset %llu does not read back (%s); the "
	            "history is dropped up to revision %llu, watchers resuming from before it list "
	            "again",
	            (unsigned long long)off, strerror(-err), (unsigned long long)h->last_rev);
	ring_compact_to(h, h->last_rev);
	h->rewrite = true;
	history_queue_flush(h);
}

/* ---- writing ---- */

/*
 * The file anew: the compact mark, then the stream from the oldest kept
 * record to the end of the newest (what lies between are marks, copied as
 * they are). Written beside it and renamed over it, so a crash leaves one
 * whole file or the other. The kept records move to the front: their
 * offsets go down by as much.
 */
static int history_rewrite(struct history *h)
{
	unsigned char mark[HISTORY_HEAD];
	uint64_t from = 0, to = 0, off;
	struct window w = {0};
	int fd, r = 0;

	if (h->n) {
		from = ring_at(h, 0)->off;
		to = ring_at(h, h->n - 1)->off + ring_at(h, h->n - 1)->len;
	}
	record_encode(mark, h->compact, HISTORY_MARK, "", 0, "", 0);
	fd = openat(h->dirfd, HISTORY_TMP_NAME, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	            0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, mark, sizeof(mark), 0);
	for (off = from; r == 0 && off < to;) {
		size_t n = to - off > HISTORY_READ_CHUNK ? HISTORY_READ_CHUNK : (size_t)(to - off);
		unsigned char *p;

		if ((r = window_at(h, &w, off, n, &p)) < 0) {
			free(w.buf);
			close(fd);
			unlinkat(h->dirfd, HISTORY_TMP_NAME, 0);
			history_unreadable(h, off, r);
			return history_rewrite(h); /* the mark alone now */
		}
		r = write_all(fd, p, n, HISTORY_HEAD + (off - from));
		off += n;
	}
	free(w.buf);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(h->dirfd, HISTORY_TMP_NAME, h->dirfd, HISTORY_NAME) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		unlinkat(h->dirfd, HISTORY_TMP_NAME, 0);
		return r;
	}
	fsync(h->dirfd);
	close(h->fd);
	h->fd = fd; /* the new events.log */
	for (size_t i = 0; i < h->n; i++)
		ring_at(h, i)->off = ring_at(h, i)->off - from + HISTORY_HEAD;
	h->file_bytes = HISTORY_HEAD + (to - from);
	h->wlen = 0; /* everything kept is in the new file; the rest is under the mark */
	return 0;
}

void history_flush(struct history *h)
{
	bool failed = h->write_failed;
	int r = 0;

	if (h->rewrite || h->file_bytes > 2 * h->bytes + HISTORY_REWRITE_MIN) {
		if ((r = history_rewrite(h)) == 0)
			h->rewrite = false;
	} else if (h->wlen) {
		r = write_all(h->fd, h->wbuf, h->wlen, h->file_bytes);
		if (r == 0) {
			h->file_bytes += h->wlen;
			h->wlen = 0;
		} else if (ftruncate(h->fd, (off_t)h->file_bytes) < 0) {
			/* Not taken back: the retry writes over it (at file_bytes, not appended). */
		}
	}
	h->write_failed = r < 0;
	if (r < 0) {
		if (!failed)
			history_log(h, 3, HISTORY_NAME ": %s; what it lacks is kept in memory and "
			            "written at the next change", strerror(-r));
		wbuf_trim(h);
	} else if (failed) {
		history_log(h, 6, HISTORY_NAME ": written again after a failed write");
	}
	if (h->wcap > (1u << 20) && !h->wlen) {
		free(h->wbuf);
		h->wbuf = NULL;
		h->wcap = 0;
	}
	/* A ring of far more room than entries (a burst gone by) is made smaller. */
	if (h->cap > 64 && h->cap > 4 * h->n)
		ring_resize(h, h->cap / 2);
}

void history_lost(struct history *h, uint64_t rev)
{
	/* A replay from before it would miss it. */
	ring_compact_to(h, rev);
	if (wbuf_add(h, rev, HISTORY_MARK, "", 0, "", 0) < 0)
		h->rewrite = true; /* the rewrite starts with the compact mark */
}

static void history_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct history *h = arg;

	h->flush_queued = false;
	history_flush(h);
}

int history_attach(struct history *h, struct event_base *base)
{
	if (!(h->flush_ev = event_new(base, -1, 0, history_on_flush, h)))
		return -ENOMEM;
	return 0;
}

/* Written at the end of this turn of the loop (with one), with the rest of the turn's. */
static void history_queue_flush(struct history *h)
{
	if (h->flush_ev && !h->flush_queued) {
		h->flush_queued = true;
		event_active(h->flush_ev, 0, 0);
	}
}

int history_append(struct history *h, uint64_t rev, const char *key, const char *line, size_t len)
{
	size_t klen = strlen(key), total = HISTORY_HEAD + klen + len;
	uint64_t off = h->file_bytes + h->wlen;

	history_queue_flush(h);
	/* A record the load would take for damage is not written: the event is lost instead. */
	if (klen >= HISTORY_MARK || len > HISTORY_RECORD_MAX || total > HISTORY_RECORD_MAX ||
	    wbuf_add(h, rev, (uint16_t)klen, key, klen, line, len) < 0) {
		history_lost(h, rev);
		return -ENOMEM;
	}
	if (ring_push(h, rev, off, (uint32_t)total) < 0) {
		history_lost(h, rev); /* its record stays in wbuf, under the mark */
		return -ENOMEM;
	}
	return 0;
}

/* ---- loading ---- */

static int history_load(struct history *h, char *err, size_t errlen)
{
	struct window w = {0};
	struct stat st;
	uint64_t off = 0, size;
	int r = 0;

	if (fstat(h->fd, &st) < 0) {
		snprintf(err, errlen, HISTORY_NAME ": fstat: %s", strerror(errno));
		return -errno;
	}
	size = (uint64_t)st.st_size;
	h->file_bytes = size; /* read as the stream while loading */
	while (off < size) {
		unsigned char *p;
		uint32_t len;
		uint16_t keylen;
		uint64_t rev;

		if ((r = window_at(h, &w, off, size - off >= 4 ? 4 : size - off, &p)) < 0)
			break;
		len = size - off >= 4 ? get32(p) : 0;
		if (len < HISTORY_HEAD || len > HISTORY_RECORD_MAX || len > size - off)
			break;
		if ((r = window_at(h, &w, off, len, &p)) < 0)
			break;
		if (get32(p + 4) != store_crc32c(0, p + 8, len - 8))
			break;
		rev = get64(p + 8);
		keylen = get16(p + 16);
		if (keylen == HISTORY_MARK) {
			ring_compact_to(h, rev);
		} else if ((size_t)keylen + HISTORY_HEAD > len || rev < h->last_rev ||
		           memchr(p + HISTORY_HEAD, '\0', keylen)) {
			break;
		} else if (rev > h->compact && ring_push(h, rev, off, len) < 0) {
			ring_compact_to(h, rev);
		}
		off += len;
	}
	free(w.buf);
	if (r < 0 && r != -ENODATA) {
		snprintf(err, errlen, HISTORY_NAME ": read: %s", strerror(-r));
		return r;
	}
	h->file_bytes = off;
	if (off < size) {
		history_log(h, 4,
		            HISTORY_NAME ": record at offset %llu does not read back (%llu bytes "
		            "dropped); the history ends before it",
		            (unsigned long long)off, (unsigned long long)(size - off));
		if (ftruncate(h->fd, (off_t)off) < 0) {
			snprintf(err, errlen, HISTORY_NAME ": ftruncate: %s", strerror(errno));
			return -errno;
		}
	}
	return 0;
}

int history_open(const char *dir, const struct history_limits *lim, uint64_t store_revision,
                 history_log_fn log, void *log_arg, struct history **ret, char *err,
                 size_t errlen)
{
	struct history *h = calloc(1, sizeof(*h));
	int r;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->lim = *lim;
	h->log = log;
	h->log_arg = log_arg;
	h->fd = -1;
	h->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (h->dirfd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		free(h);
		return r;
	}
	/* Not O_APPEND: records go at file_bytes, so a write cut short is written over. */
	h->fd = openat(h->dirfd, HISTORY_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (h->fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s/" HISTORY_NAME ": %s%s", dir, strerror(-r),
		         r == -ELOOP ? " (a symlink: remove it)" : "");
		history_close(h);
		return r;
	}
	unlinkat(h->dirfd, HISTORY_TMP_NAME, 0);
	if ((r = history_load(h, err, errlen)) < 0) {
		history_close(h);
		return r;
	}
	/* Events the store never had (its state is older than the file): unusable. */
	while (h->n && ring_at(h, h->n - 1)->rev > store_revision) {
		struct hentry *e = ring_at(h, h->n - 1);

		h->bytes -= e->len;
		if (h->n < 2 || ring_at(h, h->n - 2)->rev != e->rev)
			h->revisions--;
		h->n--;
		h->rewrite = true; /* the file without them */
	}
	h->last_rev = h->n ? ring_at(h, h->n - 1)->rev : 0;
	if (h->compact > store_revision)
		h->compact = store_revision;
	if (h->last_rev < store_revision && h->compact < store_revision) {
		if (h->n || h->compact)
			history_log(h, 4,
			            HISTORY_NAME ": ends at revision %llu, the store is at %llu; "
			            "watchers resuming from before %llu list again",
			            (unsigned long long)h->last_rev,
			            (unsigned long long)store_revision,
			            (unsigned long long)store_revision);
		ring_compact_to(h, store_revision);
		h->rewrite = true;
	}
	h->last_rev = store_revision;
	if (h->rewrite)
		history_flush(h);
	*ret = h;
	return 0;
}

void history_close(struct history *h)
{
	if (!h)
		return;
	if (h->fd >= 0 && (h->wlen || h->rewrite))
		history_flush(h);
	if (h->flush_ev)
		event_free(h->flush_ev);
	free(h->v);
	free(h->wbuf);
	if (h->fd >= 0)
		close(h->fd);
	if (h->dirfd >= 0)
		close(h->dirfd);
	free(h);
}

void history_set_limits(struct history *h, const struct history_limits *lim)
{
	h->lim = *lim;
	ring_enforce(h);
	history_flush(h);
}

/* ---- replaying ---- */

int history_replay(struct history *h, uint64_t after, history_visit_fn fn, void *arg,
                   uint64_t *ret_compact)
{
	struct window w = {0};
	size_t lo = 0, hi = h->n;
	int r = 0;

	if (after < h->compact) {
		if (ret_compact)
			*ret_compact = h->compact;
		return -ESTALE;
	}
	/* The first entry above after. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ring_at(h, mid)->rev <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; fn && r == 0 && i < h->n; i++) {
		const struct hentry *e = ring_at(h, i);
		const char *key, *line;
		size_t len;

		if ((r = entry_read(h, &w, e, &key, &line, &len)) < 0) {
			history_unreadable(h, e->off, r);
			if (ret_compact)
				*ret_compact = h->compact;
			r = -ESTALE;
			break;
		}
		r = fn(arg, e->rev, key, line, len);
	}
	free(w.buf);
	return r;
}

void history_get_stats(const struct history *h, struct history_stats *ret)
{
	*ret = (struct history_stats){
	    .entries = h->n,
	    .revisions = h->revisions,
	    .bytes = h->bytes,
	    .first_revision = h->n ? ring_at(h, 0)->rev : 0,
	    .last_revision = h->n ? ring_at(h, h->n - 1)->rev : 0,
	    .compact_revision = h->compact,
	    .file_bytes = h->file_bytes + h->wlen,
	};
}
