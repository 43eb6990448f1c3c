/* framing.c — NDJSON line splitting: CRLF, blank lines, oversize lines skipped unbuffered. */
#include <string.h>

#include <event2/buffer.h>

#include "framing.h"

void framing_init(struct framing *f, size_t max)
{
	memset(f, 0, sizeof(*f));
	f->max = max;
}

static bool framing_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

enum framing_event framing_next(struct framing *f, struct evbuffer *in, bool eof,
				char **ret_line, size_t *ret_len)
{
	size_t avail = evbuffer_get_length(in);
	struct evbuffer_ptr nl;
	size_t len, take;

	if (avail == 0)
		return FRAMING_NONE;
	nl = evbuffer_search(in, "\n", 1, NULL);
	if (f->discarding) {
		/* The -32002 was sent when the line crossed the cap; eat the rest silently. */
		if (nl.pos < 0) {
			evbuffer_drain(in, avail);
			if (eof)
				f->discarding = false;
			return FRAMING_NONE;
		}
		evbuffer_drain(in, (size_t)nl.pos + 1);
		f->discarding = false;
		return framing_next(f, in, eof, ret_line, ret_len);
	}
	if (nl.pos < 0) {
		if (avail > f->max) {
			evbuffer_drain(in, avail);
			f->discarding = !eof;
			return FRAMING_OVERSIZE;
		}
		if (!eof)
			return FRAMING_NONE;
		len = avail; /* half-close: a trailing request without "\n" is complete */
		take = avail;
	} else {
		len = (size_t)nl.pos;
		take = len + 1;
		if (len > f->max) {
			evbuffer_drain(in, take);
			return FRAMING_OVERSIZE;
		}
	}
	char *p = (char *)evbuffer_pullup(in, (ev_ssize_t)take);
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (framing_blank(p, len)) {
		evbuffer_drain(in, take);
		return FRAMING_BLANK;
	}
	f->pending = take;
	*ret_line = p;
	*ret_len = len;
	return FRAMING_LINE;
}

void framing_done(struct framing *f, struct evbuffer *in)
{
	evbuffer_drain(in, f->pending);
	f->pending = 0;
}

size_t framing_read_budget(const struct framing *f, const struct evbuffer *in, size_t chunk)
{
	/* Called when the buffer holds at most a partial line: reading more than
	 * the rest of the cap plus one byte (to see it crossed) would buffer an
	 * oversize line. While discarding, the cap does not apply. */
	size_t have = evbuffer_get_length(in);
	if (f->discarding || have > f->max)
		return chunk;
	size_t room = f->max + 1 - have;
	return room < chunk ? room : chunk;
}
