/* store_codec.h — the store's on-disk bytes: CRC32C, change records, snapshot header. */
#ifndef UDSRPC_STORE_CODEC_H
#define UDSRPC_STORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

/*
 * A change record, all integers little-endian:
 *
 *   0  u32 len      whole record, header included (>= STORE_REC_HDR)
 *   4  u32 crc      CRC32C of bytes [0,4) and [8,len)
 *   8  u64 rev      store revision of this change
 *  16  u8  op       STORE_OP_SET or STORE_OP_UNSET
 *  17  u8  0
 *  18  u16 keylen   1..256
 *  20  key          keylen bytes
 *      value        set only: the value as compact JSON (never empty)
 *
 * A record never starts with eight zero bytes, so zeros (a preallocated,
 * never written tail of the log) read as "no more records".
 */
#define STORE_REC_HDR 20u
#define STORE_REC_MAX (1u << 30)
enum { STORE_OP_SET = 1, STORE_OP_UNSET = 2 };

/*
 * Snapshot header, 32 bytes, followed by exactly count set records:
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
	const char *key;
	size_t keylen;
	const char *value; /* points into the record; vlen bytes, not NUL-terminated */
	size_t vlen;
	size_t len; /* whole record */
};

/* CRC32C (Castagnoli); pass 0 to start, the previous result to continue. */
uint32_t store_crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * Fill in the header of a record whose key (at rec + STORE_REC_HDR) and value
 * are already in place, checksum included.
 */
void store_rec_seal(unsigned char *rec, size_t len, uint64_t rev, int op, size_t keylen);

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
