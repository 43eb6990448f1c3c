/* store_codec.h — the store's on-disk bytes: CRC32C, change records, snapshot header. */
#ifndef UDSRPC_STORE_CODEC_H
#define UDSRPC_STORE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A change record, all integers little-endian:
 *
 *   0  u32 len      whole record, header included (>= STORE_REC_HDR)
 *   4  u32 crc      CRC32C of bytes [0,4) and [8,len)
 *   8  u64 rev      store revision of this change
 *  16  u8  op       STORE_OP_*
 *  17  u8  flags    bit 0: a record inside a batch; bit 1 (SET2 only): the
 *                   item is ephemeral (udsrpc(7) §8), removed at the next start
 *  18  u16 keylen   1..256 (0 for a batch)
 *  20  (SET2 only) u64 create_rev, u64 version of the item after this set
 *  20 or 36  key    keylen bytes
 *      value        sets only: the value as compact JSON (never empty)
 *
 * SET is release 1's set record (no create_rev/version: recovery derives
 * them, store.c); it is still read, never written. A BATCH is one change
 * of several keys at one revision (an unset by prefix, a transaction): its
 * body (after the 20-byte header) is whole SET2 and UNSET records, each
 * with the batch's revision and flags 1: recovery looking for where
 * readable records start again after damage must not take one of a torn
 * batch's records for a record of the log. Its one checksum covers them all, so a torn
 * batch is dropped whole, never applied in part.
 *
 * A record never starts with eight zero bytes, so zeros (a preallocated,
 * never written tail of the log) read as "no more records".
 */
#define STORE_REC_HDR 20u
#define STORE_SET2_META 16u
#define STORE_REC_MAX (1u << 30)
enum { STORE_OP_SET = 1, STORE_OP_UNSET = 2, STORE_OP_SET2 = 3, STORE_OP_BATCH = 4 };
/* Or'd into op for store_rec_seal: a record of a batch's body (flags bit 0). */
#define STORE_IN_BATCH 0x100
/*
 * Or'd into a SET2's op for store_rec_seal (flags bit 1): an ephemeral item.
 * Its owner (a connection) is not written: no connection outlives the
 * daemon, so recovery only needs to know the item is to be removed.
 */
#define STORE_EPHEMERAL 0x200
#define STORE_OP_MASK 0xff

/*
 * Snapshot header, 32 bytes, followed by exactly count set records (SET2;
 * SET in a snapshot of release 1):
 *
 *   0  "udsrpcS1"
 *   8  u64 revision  store revision the snapshot holds (kept when every key is gone)
 *  16  u64 count     number of records
 *  24  u32 0
 *  28  u32 crc       CRC32C of bytes [0,28)
 */
#define STORE_SNAP_HDR 32u

struct store_rec_view {
	uint64_t rev;
	int op;
	uint64_t create_rev; /* SET2; 0 otherwise */
	uint64_t version;    /* SET2; 0 otherwise */
	bool ephemeral;      /* SET2 with STORE_EPHEMERAL */
	const char *key;
	size_t keylen;
	/* Points into the record, vlen bytes, not NUL-terminated: a set's value,
	 * a batch's body (its records, read with store_batch_next). */
	const char *value;
	size_t vlen;
	size_t len; /* whole record */
};

/* CRC32C (Castagnoli); pass 0 to start, the previous result to continue. */
uint32_t store_crc32c(uint32_t crc, const void *buf, size_t len);

/* Where the key of a record of op starts (after the SET2 metadata). */
size_t store_rec_key_offset(int op);

/*
 * Fill in the header (and for SET2 create_rev and version, else ignored) of
 * a record whose key (at rec + store_rec_key_offset(op)) and value, or a
 * batch's body, are already in place, checksum included.
 */
void store_rec_seal(unsigned char *rec, size_t len, uint64_t rev, int op, size_t keylen,
                    uint64_t create_rev, uint64_t version);

/*
 * The same for a record whose header (store_rec_key_offset(op) bytes at
 * hdr) is apart from its key and value (vlen bytes; 0 for an unset): the
 * checksum covers them where they are (a snapshot written from the nodes).
 */
void store_rec_seal_parts(unsigned char *hdr, uint64_t rev, int op, const char *key,
                          size_t keylen, const char *value, size_t vlen, uint64_t create_rev,
                          uint64_t version);

/*
 * The next record of a parsed batch's body, from *off (start at 0): 0 and
 * *ret, or -ENODATA at the end. store_rec_parse checked them all already.
 */
int store_batch_next(const struct store_rec_view *batch, size_t *off,
                     struct store_rec_view *ret);

/*
 * Decode the record at buf (avail bytes readable). 0 and *ret on success;
 * -ENODATA when buf holds no record (end of data: nothing left or zeros);
 * -EBADMSG when the bytes are not a whole valid record (torn or corrupt).
 * The view points into buf.
 */
int store_rec_parse(const unsigned char *buf, size_t avail, struct store_rec_view *ret);

void store_snap_header(unsigned char out[STORE_SNAP_HDR], uint64_t revision, uint64_t count);
/* 0, or -EBADMSG when the header is not ours or damaged. */
int store_snap_parse_header(const unsigned char *buf, size_t avail, uint64_t *ret_revision,
                            uint64_t *ret_count);

#endif
