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

enum framing_event framing_scan(struct framing *f, const char *buf, size_t len, bool eof,
				size_t *ret_used, const char **ret_line, size_t *ret_len)
{
	const char *p = buf, *nl;
	size_t avail = len, line, take;

	if (f->discarding) {
		/* The -32002 was sent when the line crossed the cap; eat the rest silently. */
		nl = memchr(buf, '\n', len);
		if (!nl) {
			if (eof)
				f->discarding = false;
			*ret_used = len;
			return FRAMING_NONE;
		}
		f->discarding = false;
		p = nl + 1;
		avail = len - (size_t)(p - buf);
	}
	*ret_used = (size_t)(p - buf);
	if (avail == 0)
		return FRAMING_NONE;
	nl = memchr(p, '\n', avail);
	if (!nl) {
		if (avail > f->max) {
			f->discarding = !eof;
			*ret_used = len;
			return FRAMING_OVERSIZE;
		}
		if (!eof)
			return FRAMING_NONE;
		line = take = avail; /* half-close: a trailing request without "\n" is complete */
	} else {
		line = (size_t)(nl - p);
		take = line + 1;
		if (line > f->max) {
			*ret_used += take;
			return FRAMING_OVERSIZE;
		}
	}
	*ret_used += take;
	if (line > 0 && p[line - 1] == '\r')
		line--;
	if (framing_blank(p, line))
		return FRAMING_BLANK;
	*ret_line = p;
	*ret_len = line;
	return FRAMING_LINE;
}

enum framing_event framing_next(struct framing *f, struct evbuffer *in, bool eof,
				char **ret_line, size_t *ret_len)
{
	size_t avail = evbuffer_get_length(in), used;
	const char *line;

	if (avail == 0)
		return FRAMING_NONE;
	/* Never more than a line and a read's worth (framing_read_budget): cheap to make contiguous. */
	const char *p = (const char *)evbuffer_pullup(in, -1);
	enum framing_event e = framing_scan(f, p, avail, eof, &used, &line, ret_len);
	if (e == FRAMING_LINE) {
		f->pending = used;
		*ret_line = (char *)line;
		return e;
	}
	evbuffer_drain(in, used);
	return e;
}

void framing_done(struct framing *f, struct evbuffer *in)
{
	evbuffer_drain(in, f->pending);
	f->pending = 0;
}

size_t framing_budget(const struct framing *f, size_t have, size_t chunk)
{
	/* Called when at most a partial line is held: reading more than the
	 * rest of the cap plus one byte (to see it crossed) would buffer an
	 * oversize line. While discarding, the cap does not apply. */
	if (f->discarding || have > f->max)
		return chunk;
	size_t room = f->max + 1 - have;
	return room < chunk ? room : chunk;
}

size_t framing_read_budget(const struct framing *f, const struct evbuffer *in, size_t chunk)
{
	return framing_budget(f, evbuffer_get_length(in), chunk);
}
