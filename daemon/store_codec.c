/* store_codec.c — encodes and checks the store's records and snapshot header. */
#include "store_codec.h"
#include "store.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <string.h>

/*
 * The loop thread checksums every change (and the committer every batch it
 * takes apart), so keep it cheap: the CPU's own CRC32C instruction where
 * there is one (SSE4.2, 8 bytes an instruction), else slicing-by-8.
 */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC_HW 1
static bool crc_hw;

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p,
                                                            size_t len)
{
	uint64_t c = crc, w;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8); /* little-endian, as the instruction takes it */
		c = __builtin_ia32_crc32di(c, w);
	}
	crc = (uint32_t)c;
	/* The rest in four, two and one: a record's length and tail are a few bytes each. */
	if (len >= 4) {
		uint32_t v;

		memcpy(&v, p, 4);
		crc = __builtin_ia32_crc32si(crc, v);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		crc = __builtin_ia32_crc32hi(crc, (uint16_t)(p[0] | p[1] << 8));
		p += 2;
	}
	if (len & 1)
		crc = __builtin_ia32_crc32qi(crc, *p);
	return crc;
}
#endif

static void crc_init(void)
{
#ifdef CRC_HW
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] =
			    (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const unsigned char *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void put_le64(unsigned char *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

uint32_t store_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
#ifdef CRC_HW
	if (crc_hw)
		return ~crc32c_hw(crc, p, len);
#endif
	while (len >= 8) {
		uint32_t lo = get_le32(p) ^ crc, hi = get_le32(p + 4);

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

static uint32_t rec_crc(const unsigned char *rec, size_t len)
{
	/* The length is covered too, so a flipped length cannot reframe the log. */
	return store_crc32c(store_crc32c(0, rec, 4), rec + 8, len - 8);
}

size_t store_rec_key_offset(int op)
{
	op &= STORE_OP_MASK;
	return STORE_REC_HDR + (op == STORE_OP_SET2 ? STORE_SET2_META : 0);
}

/* Everything of the header but its checksum. */
static void rec_head(unsigned char *rec, size_t len, uint64_t rev, int op, size_t keylen,
                     uint64_t create_rev, uint64_t version)
{
	put_le32(rec, (uint32_t)len);
	put_le64(rec + 8, rev);
	rec[17] = (op & STORE_IN_BATCH ? 1 : 0) | (op & STORE_EPHEMERAL ? 2 : 0);
	op &= STORE_OP_MASK;
	rec[16] = (unsigned char)op;
	rec[18] = (unsigned char)keylen;
	rec[19] = (unsigned char)(keylen >> 8);
	if (op == STORE_OP_SET2) {
		put_le64(rec + STORE_REC_HDR, create_rev);
		put_le64(rec + STORE_REC_HDR + 8, version);
	}
}

void store_rec_seal(unsigned char *rec, size_t len, uint64_t rev, int op, size_t keylen,
                    uint64_t create_rev, uint64_t version)
{
	rec_head(rec, len, rev, op, keylen, create_rev, version);
	put_le32(rec + 4, rec_crc(rec, len));
}

void store_rec_seal_parts(unsigned char *hdr, uint64_t rev, int op, const char *key,
                          size_t keylen, const char *value, size_t vlen, uint64_t create_rev,
                          uint64_t version)
{
	size_t hlen = store_rec_key_offset(op);
	uint32_t crc;

	rec_head(hdr, hlen + keylen + vlen, rev, op, keylen, create_rev, version);
	crc = rec_crc(hdr, hlen);
	crc = store_crc32c(store_crc32c(crc, key, keylen), value, vlen);
	put_le32(hdr + 4, crc);
}

static int rec_parse(const unsigned char *buf, size_t avail, bool nested,
                     struct store_rec_view *ret);

/* Every record of a batch's body: whole, a SET2 or an UNSET, at the batch's revision. */
static int batch_check(const struct store_rec_view *b)
{
	size_t off = 0;

	if (b->vlen == 0)
		return -EBADMSG;
	while (off < b->vlen) {
		struct store_rec_view v;

		if (rec_parse((const unsigned char *)b->value + off, b->vlen - off, true, &v) < 0 ||
		    v.rev != b->rev)
			return -EBADMSG;
		off += v.len;
	}
	return 0;
}

static int rec_parse(const unsigned char *buf, size_t avail, bool nested,
                     struct store_rec_view *ret)
{
	static const unsigned char zeros[8];
	uint32_t len;
	size_t keylen, koff;
	int op;

	if (avail == 0 || memcmp(buf, zeros, avail < 8 ? avail : 8) == 0)
		return -ENODATA;
	if (avail < STORE_REC_HDR)
		return -EBADMSG;
	len = get_le32(buf);
	if (len < STORE_REC_HDR || len > STORE_REC_MAX || len > avail)
		return -EBADMSG;
	op = buf[16];
	if (op < STORE_OP_SET || op > STORE_OP_BATCH || (buf[17] & 1) != (nested ? 1 : 0) ||
	    (buf[17] & ~3) || ((buf[17] & 2) && op != STORE_OP_SET2) ||
	    (nested && op != STORE_OP_SET2 && op != STORE_OP_UNSET))
		return -EBADMSG;
	if (get_le32(buf + 4) != rec_crc(buf, len))
		return -EBADMSG;
	keylen = (size_t)buf[18] | (size_t)buf[19] << 8;
	koff = store_rec_key_offset(op);
	if (op == STORE_OP_BATCH) {
		if (keylen != 0)
			return -EBADMSG;
	} else if (koff + keylen > len || !store_key_valid((const char *)buf + koff, keylen)) {
		return -EBADMSG;
	}
	/* A set always carries a value (even "null" is 4 bytes); an unset never does. */
	if ((op == STORE_OP_SET || op == STORE_OP_SET2) != (len > koff + keylen) &&
	    op != STORE_OP_BATCH)
		return -EBADMSG;
	ret->rev = get_le64(buf + 8);
	ret->op = op;
	ret->create_rev = op == STORE_OP_SET2 ? get_le64(buf + STORE_REC_HDR) : 0;
	ret->version = op == STORE_OP_SET2 ? get_le64(buf + STORE_REC_HDR + 8) : 0;
	ret->ephemeral = (buf[17] & 2) != 0;
	ret->key = (const char *)buf + koff;
	ret->keylen = keylen;
	ret->value = ret->key + keylen;
	ret->vlen = len - koff - keylen;
	ret->len = len;
	if (op == STORE_OP_SET2 && (ret->version == 0 || ret->create_rev == 0 ||
	                            ret->create_rev > ret->rev))
		return -EBADMSG;
	if (op == STORE_OP_BATCH)
		return batch_check(ret);
	return 0;
}

int store_rec_parse(const unsigned char *buf, size_t avail, struct store_rec_view *ret)
{
	return rec_parse(buf, avail, false, ret);
}

int store_batch_next(const struct store_rec_view *batch, size_t *off,
                     struct store_rec_view *ret)
{
	if (*off >= batch->vlen)
		return -ENODATA;
	if (rec_parse((const unsigned char *)batch->value + *off, batch->vlen - *off, true, ret) <
	    0)
		return -EBADMSG; /* not after store_rec_parse said 0 */
	*off += ret->len;
	return 0;
}

void store_snap_header(unsigned char out[STORE_SNAP_HDR], uint64_t revision, uint64_t count)
{
	memcpy(out, "udsrpcS1", 8);
	put_le64(out + 8, revision);
	put_le64(out + 16, count);
	put_le32(out + 24, 0);
	put_le32(out + 28, store_crc32c(0, out, 28));
}

int store_snap_parse_header(const unsigned char *buf, size_t avail, uint64_t *ret_revision,
                            uint64_t *ret_count)
{
	if (avail < STORE_SNAP_HDR || memcmp(buf, "udsrpcS1", 8) != 0 || get_le32(buf + 24) != 0 ||
	    get_le32(buf + 28) != store_crc32c(0, buf, 28))
		return -EBADMSG;
	*ret_revision = get_le64(buf + 8);
	*ret_count = get_le64(buf + 16);
	return 0;
}
