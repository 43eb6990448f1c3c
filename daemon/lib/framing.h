/* framing.h — NDJSON line splitting over an input buffer, with the size cap. No I/O. */
#ifndef UDSRPC_FRAMING_H
#define UDSRPC_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

struct framing {
	size_t max;	  /* max_message_bytes: longest line, without its "\n" */
	bool discarding;  /* inside an oversize line: drop input up to the next "\n" */
	size_t pending;	  /* length of the line framing_next handed out, drained by framing_done */
};

enum framing_event {
	FRAMING_NONE,	  /* need more input */
	FRAMING_LINE,	  /* ret_line and ret_len: one request, "\r\n"/"\n" stripped */
	FRAMING_BLANK,	  /* a line of only spaces, tabs and "\r": consumed, nothing to answer */
	FRAMING_OVERSIZE, /* a line over the cap was (or is being) dropped: answer -32002 once */
};

void framing_init(struct framing *f, size_t max);
/*
 * The rules below over bytes the caller keeps itself (conn.c reads into its
 * own buffers and hands each line to the parser where it lies). buf/len:
 * the input not consumed yet; eof as for framing_next. Returns the next
 * event and in *ret_used how many bytes of buf it consumed: for a LINE,
 * through its "\n" (ret_line/ret_len point into buf: the line without
 * "\r\n"); for NONE, bytes dropped while discarding an oversize line (0
 * otherwise: wait for more). Never needs more than max + 1 bytes of a line.
 */
enum framing_event framing_scan(struct framing *f, const char *buf, size_t len, bool eof,
				size_t *ret_used, const char **ret_line, size_t *ret_len);
/* How many bytes may be read when have bytes of an unfinished line are held. */
size_t framing_budget(const struct framing *f, size_t have, size_t chunk);
/*
 * Take the next event from in. eof says no more input will come: a trailing
 * line without "\n" is then complete. A LINE's bytes stay in the buffer
 * (contiguous, valid until framing_done) so the parser reads them in place;
 * every other event consumes its input itself. Never leaves more than
 * max + 1 bytes of one line in the buffer.
 */
enum framing_event framing_next(struct framing *f, struct evbuffer *in, bool eof,
				char **ret_line, size_t *ret_len);
/* Drop the LINE last returned. */
void framing_done(struct framing *f, struct evbuffer *in);
/* How many bytes may be read without letting one line exceed the cap. */
size_t framing_read_budget(const struct framing *f, const struct evbuffer *in, size_t chunk);

#endif
