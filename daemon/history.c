/* history.c — owns the config event history: a ring of event lines and its file, events.log. */

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

struct hentry {
	uint64_t rev;
	uint32_t len; /* of the line */
	uint16_t keylen;
	char data[]; /* key, NUL, line */
};

struct history {
	struct history_limits lim;
	history_log_fn log;
	void *log_arg;
	/* The ring, oldest first: v[(head + i) % cap] for i < n. */
	struct hentry **v;
	size_t cap, head, n;
	uint64_t revisions; /* distinct revisions in the ring */
	uint64_t bytes;     /* of the records the ring's entries take in the file */
	uint64_t compact;   /* events of revisions <= compact are gone */
	uint64_t last_rev;  /* of the newest event appended or loaded (0: none) */
	/* Records appended but not written yet. */
	unsigned char *wbuf;
	size_t wlen, wcap;
	int dirfd, fd;
	uint64_t file_bytes;
	bool write_failed; /* rewrite the file at the next flush */
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

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static size_t record_size(const struct hentry *e)
{
	return HISTORY_HEAD + e->keylen + e->len;
}

static struct hentry *ring_at(const struct history *h, size_t i)
{
	return h->v[(h->head + i) % h->cap];
}

/* Drop the oldest revision, whole. */
static void ring_drop_oldest(struct history *h)
{
	uint64_t rev = ring_at(h, 0)->rev;

	while (h->n && ring_at(h, 0)->rev == rev) {
		struct hentry *e = ring_at(h, 0);

		h->bytes -= record_size(e);
		free(e);
		h->head = (h->head + 1) % h->cap;
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

static int ring_push(struct history *h, struct hentry *e)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct hentry **v = malloc(cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < h->n; i++)
			v[i] = ring_at(h, i);
		free(h->v);
		h->v = v;
		h->cap = cap;
		h->head = 0;
	}
	if (!h->n || ring_at(h, h->n - 1)->rev != e->rev)
		h->revisions++;
	h->v[(h->head + h->n++) % h->cap] = e;
	h->bytes += record_size(e);
	if (e->rev > h->last_rev)
		h->last_rev = e->rev;
	ring_enforce(h);
	return 0;
}

static struct hentry *hentry_new(uint64_t rev, const char *key, size_t keylen, const char *line,
                                 size_t len)
{
	struct hentry *e = malloc(sizeof(*e) + keylen + 1 + len);

	if (!e)
		return NULL;
	e->rev = rev;
	e->keylen = (uint16_t)keylen;
	e->len = (uint32_t)len;
	memcpy(e->data, key, keylen);
	e->data[keylen] = '\0';
	memcpy(e->data + keylen + 1, line, len);
	return e;
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

/* Encode one record at p (HISTORY_HEAD + keylen + len bytes). */
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

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The file anew: the compact mark, then every entry kept. Written beside
 * it and renamed over it, so a crash leaves one whole file or the other.
 */
static int history_rewrite(struct history *h)
{
	unsigned char *buf;
	size_t n = HISTORY_HEAD, off = 0;
	int fd, r = 0;

	for (size_t i = 0; i < h->n; i++)
		n += record_size(ring_at(h, i));
	if (!(buf = malloc(n)))
		return -ENOMEM;
	record_encode(buf, h->compact, HISTORY_MARK, "", 0, "", 0);
	off = HISTORY_HEAD;
	for (size_t i = 0; i < h->n; i++) {
		const struct hentry *e = ring_at(h, i);

		record_encode(buf + off, e->rev, e->keylen, e->data, e->keylen,
		              e->data + e->keylen + 1, e->len);
		off += record_size(e);
	}
	fd = openat(h->dirfd, HISTORY_TMP_NAME,
	            O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		r = -errno;
	if (r == 0)
		r = write_all(fd, buf, n);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(buf);
	if (r == 0 && renameat(h->dirfd, HISTORY_TMP_NAME, h->dirfd, HISTORY_NAME) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(h->dirfd, HISTORY_TMP_NAME, 0);
		return r;
	}
	fsync(h->dirfd);
	fd = openat(h->dirfd, HISTORY_NAME, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (h->fd >= 0)
		close(h->fd);
	h->fd = fd;
	h->file_bytes = n;
	h->wlen = 0; /* everything appended is in the new file */
	return 0;
}

void history_flush(struct history *h)
{
	int r = 0;

	if (h->write_failed || h->file_bytes > 2 * h->bytes + HISTORY_REWRITE_MIN) {
		r = history_rewrite(h);
		if (r == 0 && h->write_failed)
			history_log(h, 6, HISTORY_NAME ": rewritten whole after a failed write");
		h->write_failed = r < 0;
	} else if (h->wlen) {
		r = write_all(h->fd, h->wbuf, h->wlen);
		if (r == 0)
			h->file_bytes += h->wlen;
		else
			h->write_failed = true;
		h->wlen = 0;
	}
	if (r < 0)
		history_log(h, 3, HISTORY_NAME ": %s; the history in memory is whole, the file is "
		            "rewritten at the next change", strerror(-r));
	if (h->wcap > (1u << 20) && !h->wlen) {
		free(h->wbuf);
		h->wbuf = NULL;
		h->wcap = 0;
	}
}

void history_lost(struct history *h, uint64_t rev)
{
	/* A replay from before it would miss it. */
	ring_compact_to(h, rev);
	if (wbuf_add(h, rev, HISTORY_MARK, "", 0, "", 0) < 0)
		h->write_failed = true; /* the rewrite starts with the compact mark */
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
	size_t klen = strlen(key);
	struct hentry *e = klen < HISTORY_MARK ? hentry_new(rev, key, klen, line, len) : NULL;

	if (!e || ring_push(h, e) < 0) {
		free(e);
		history_lost(h, rev);
		history_queue_flush(h);
		return -ENOMEM;
	}
	history_queue_flush(h);
	/* e may be gone already (one revision larger than max_bytes): not e->keylen. */
	if (wbuf_add(h, rev, (uint16_t)klen, key, klen, line, len) < 0)
		h->write_failed = true; /* the ring has it: the rewrite will too */
	return 0;
}

/* ---- loading ---- */

static int history_load(struct history *h, char *err, size_t errlen)
{
	struct stat st;
	unsigned char *buf;
	size_t off = 0, size;

	if (fstat(h->fd, &st) < 0) {
		snprintf(err, errlen, HISTORY_NAME ": fstat: %s", strerror(errno));
		return -errno;
	}
	size = (size_t)st.st_size;
	if (size == 0)
		return 0;
	if (!(buf = malloc(size))) {
		snprintf(err, errlen, HISTORY_NAME ": out of memory loading %zu bytes", size);
		return -ENOMEM;
	}
	if (pread(h->fd, buf, size, 0) != (ssize_t)size) {
		snprintf(err, errlen, HISTORY_NAME ": read: %s", strerror(errno ? errno : EIO));
		free(buf);
		return -EIO;
	}
	while (off < size) {
		const unsigned char *p = buf + off;
		uint32_t len = size - off >= 4 ? get32(p) : 0;
		uint16_t keylen;
		uint64_t rev;

		if (len < HISTORY_HEAD || len > HISTORY_RECORD_MAX || len > size - off ||
		    get32(p + 4) != store_crc32c(0, p + 8, len - 8))
			break;
		rev = get64(p + 8);
		keylen = (uint16_t)(p[16] | p[17] << 8);
		if (keylen == HISTORY_MARK) {
			ring_compact_to(h, rev);
		} else if ((size_t)keylen + HISTORY_HEAD > len || rev < h->last_rev ||
		           memchr(p + HISTORY_HEAD, '\0', keylen)) {
			break;
		} else if (rev > h->compact) {
			struct hentry *e = hentry_new(rev, (const char *)p + HISTORY_HEAD, keylen,
			                              (const char *)p + HISTORY_HEAD + keylen,
			                              len - HISTORY_HEAD - keylen);
			if (!e || ring_push(h, e) < 0) {
				free(e);
				ring_compact_to(h, rev);
			}
		}
		off += len;
	}
	free(buf);
	h->file_bytes = off;
	if (off < size) {
		history_log(h, 4,
		            HISTORY_NAME ": record at offset %zu does not read back (%zu bytes "
		            "dropped); the history ends before it",
		            off, size - off);
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
	h->fd = openat(h->dirfd, HISTORY_NAME, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	               0600);
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

		h->bytes -= record_size(e);
		if (h->n < 2 || ring_at(h, h->n - 2)->rev != e->rev)
			h->revisions--;
		free(e);
		h->n--;
		h->write_failed = true; /* rewrite the file without them */
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
		h->write_failed = true;
	}
	h->last_rev = store_revision;
	if (h->write_failed)
		history_flush(h);
	*ret = h;
	return 0;
}

void history_close(struct history *h)
{
	if (!h)
		return;
	if (h->fd >= 0 && (h->wlen || h->write_failed))
		history_flush(h);
	if (h->flush_ev)
		event_free(h->flush_ev);
	for (size_t i = 0; i < h->n; i++)
		free(ring_at(h, i));
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

/* ---- reading ---- */

int history_replay(const struct history *h, uint64_t after, history_visit_fn fn, void *arg,
                   uint64_t *ret_compact)
{
	size_t lo = 0, hi = h->n;

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
	for (size_t i = lo; fn && i < h->n; i++) {
		const struct hentry *e = ring_at(h, i);
		int r = fn(arg, e->rev, e->data, e->data + e->keylen + 1, e->len);

		if (r)
			return r;
	}
	return 0;
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
