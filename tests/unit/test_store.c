/* test_store.c — the durable store: map semantics, CAS, group commit, recovery, failures. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "store.h"
#include "store_codec.h"
#include "store_tree.h"
#include "clock.h"

struct fx {
	char dir[200];
	struct event_base *base;
	struct store *s;
	int clock;      /* completion order across all results */
	char log[8192]; /* what the store reported: "LEVEL msg\n" lines */
};

struct result {
	struct fx *f;
	int calls;
	int at; /* value of f->clock when the callback ran */
	enum store_status st;
	uint64_t rev;
	char reason[200];
};

static void done_cb(void *arg, enum store_status st, uint64_t rev, const char *reason)
{
	struct result *r = arg;

	r->calls++;
	r->at = r->f->clock++;
	r->st = st;
	r->rev = rev;
	snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void fx_log(void *arg, int level, const char *msg)
{
	struct fx *f = arg;
	size_t n = strlen(f->log);

	snprintf(f->log + n, sizeof(f->log) - n, "%d %s\n", level, msg);
}

static struct store_options fx_options(struct fx *f)
{
	return (struct store_options){.log = fx_log, .log_arg = f};
}

static void fx_open(struct fx *f)
{
	char err[512] = "";
	struct store_options opt = fx_options(f);
	int r = store_open(f->dir, f->base, &opt, &f->s, err, sizeof(err));

	if (r != 0)
		fail_msg("store_open(%s): %d %s", f->dir, r, err);
}

static void fx_reopen(struct fx *f)
{
	store_close(f->s);
	f->s = NULL;
	fx_open(f);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->base = event_base_new();
	if (!f->base)
		return -1;
	fx_open(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	event_base_free(f->base);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void wait_calls(struct fx *f, const int *calls, int n)
{
	while (*calls < n)
		assert_int_equal(event_base_loop(f->base, EVLOOP_ONCE), 0);
}

static struct result do_set(struct fx *f, const char *key, json_t *value, int64_t expect)
{
	struct result r = {.f = f};

	assert_int_equal(store_set(f->s, key, value, expect, done_cb, &r), 0);
	json_decref(value);
	wait_calls(f, &r.calls, 1);
	assert_int_equal(r.calls, 1);
	return r;
}

static struct result do_unset(struct fx *f, const char *key, int64_t expect)
{
	struct result r = {.f = f};

	assert_int_equal(store_unset(f->s, key, expect, done_cb, &r), 0);
	wait_calls(f, &r.calls, 1);
	assert_int_equal(r.calls, 1);
	return r;
}

static void join_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < len);
}

static void path_of(const struct fx *f, const char *name, char *buf, size_t len)
{
	join_path(buf, len, f->dir, name);
}

static off_t file_size(const struct fx *f, const char *name)
{
	char p[256];
	struct stat st;

	path_of(f, name, p, sizeof(p));
	if (stat(p, &st) < 0)
		return -1;
	return st.st_size;
}

static void append_bytes(const struct fx *f, const char *name, const void *buf, size_t len)
{
	char p[256];
	int fd;

	path_of(f, name, p, sizeof(p));
	fd = open(p, O_WRONLY | O_APPEND | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void assert_int_value(const struct fx *f, const char *key, json_int_t want,
                             uint64_t want_rev)
{
	uint64_t rev = 0;
	const json_t *v = store_get(f->s, key, &rev);

	assert_non_null(v);
	assert_true(json_is_integer(v));
	assert_int_equal(json_integer_value(v), want);
	assert_int_equal(rev, want_rev);
}

/* ---- codec and tree ---- */

static uint32_t crc32c_bitwise(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

static void test_crc32c(void **state)
{
	unsigned char buf[1000];

	/* The standard check value of CRC-32C. */
	assert_int_equal(store_crc32c(0, "123456789", 9), 0xe3069283u);
	srand(7);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rand();
	for (size_t len = 0; len <= sizeof(buf); len += 37) {
		uint32_t want = crc32c_bitwise(buf, len);

		assert_int_equal(store_crc32c(0, buf, len), want);
		/* Continuing across a split gives the same result as one pass. */
		assert_int_equal(
		    store_crc32c(store_crc32c(0, buf, len / 3), buf + len / 3, len - len / 3),
		    want);
	}
}

static void test_record_codec(void **state)
{
	unsigned char rec[64];
	const char *key = "a/b", *val = "[1,2]";
	size_t len = STORE_REC_HDR + 3 + 5;
	struct store_rec_view v;

	memcpy(rec + STORE_REC_HDR, key, 3);
	memcpy(rec + STORE_REC_HDR + 3, val, 5);
	store_rec_seal(rec, len, 42, STORE_OP_SET, 3, 0, 0); /* release 1's set */
	assert_int_equal(store_rec_parse(rec, len, &v), 0);
	assert_int_equal(v.rev, 42);
	assert_int_equal(v.op, STORE_OP_SET);
	assert_int_equal(v.keylen, 3);
	assert_memory_equal(v.key, "a/b", 3);
	assert_int_equal(v.vlen, 5);
	assert_memory_equal(v.value, "[1,2]", 5);
	assert_int_equal(v.len, len);
	/* Torn: fewer bytes than the record claims. */
	assert_int_equal(store_rec_parse(rec, len - 1, &v), -EBADMSG);
	/* Any flipped bit fails the checksum. */
	for (size_t i = 0; i < len; i++) {
		rec[i] ^= 0x10;
		assert_int_equal(store_rec_parse(rec, len, &v), -EBADMSG);
		rec[i] ^= 0x10;
	}
	memset(rec, 0, sizeof(rec));
	assert_int_equal(store_rec_parse(rec, sizeof(rec), &v), -ENODATA);
	assert_int_equal(store_rec_parse(rec, 0, &v), -ENODATA);
}

/* SET2 carries create_rev and version; a batch holds whole records at its revision. */
static void test_record_codec_v2(void **state)
{
	unsigned char rec[256], *sub;
	size_t koff = store_rec_key_offset(STORE_OP_SET2), len = koff + 1 + 4, off = 0, total;
	struct store_rec_view v, b;

	assert_int_equal(koff, STORE_REC_HDR + 16);
	memcpy(rec + koff, "k", 1);
	memcpy(rec + koff + 1, "true", 4);
	store_rec_seal(rec, len, 9, STORE_OP_SET2, 1, 3, 4);
	assert_int_equal(store_rec_parse(rec, len, &v), 0);
	assert_int_equal(v.op, STORE_OP_SET2);
	assert_int_equal(v.create_rev, 3);
	assert_int_equal(v.version, 4);
	assert_memory_equal(v.key, "k", 1);
	assert_memory_equal(v.value, "true", 4);
	/* Sealed with its header apart (a snapshot's, from a node): the same bytes. */
	{
		unsigned char hdr[STORE_REC_HDR + 16];

		store_rec_seal_parts(hdr, 9, STORE_OP_SET2, "k", 1, "true", 4, 3, 4);
		assert_memory_equal(hdr, rec, sizeof(hdr));
		store_rec_seal(rec, len, 9, STORE_OP_SET2 | STORE_EPHEMERAL, 1, 3, 4);
		store_rec_seal_parts(hdr, 9, STORE_OP_SET2 | STORE_EPHEMERAL, "k", 1, "true", 4, 3, 4);
		assert_memory_equal(hdr, rec, sizeof(hdr));
	}
	/* version 0, or created after its own revision: not a record we write. */
	store_rec_seal(rec, len, 9, STORE_OP_SET2, 1, 3, 0);
	assert_int_equal(store_rec_parse(rec, len, &v), -EBADMSG);
	store_rec_seal(rec, len, 9, STORE_OP_SET2, 1, 10, 1);
	assert_int_equal(store_rec_parse(rec, len, &v), -EBADMSG);

	/* A batch: a SET2 and an UNSET at revision 9. */
	sub = rec + STORE_REC_HDR;
	memcpy(sub + koff, "k", 1);
	memcpy(sub + koff + 1, "true", 4);
	store_rec_seal(sub, len, 9, STORE_OP_SET2 | STORE_IN_BATCH, 1, 9, 1);
	memcpy(sub + len + STORE_REC_HDR, "gone", 4);
	store_rec_seal(sub + len, STORE_REC_HDR + 4, 9, STORE_OP_UNSET | STORE_IN_BATCH, 4, 0, 0);
	total = STORE_REC_HDR + len + STORE_REC_HDR + 4;
	store_rec_seal(rec, total, 9, STORE_OP_BATCH, 0, 0, 0);
	assert_int_equal(store_rec_parse(rec, total, &b), 0);
	assert_int_equal(b.op, STORE_OP_BATCH);
	assert_int_equal(store_batch_next(&b, &off, &v), 0);
	assert_int_equal(v.op, STORE_OP_SET2);
	assert_int_equal(store_batch_next(&b, &off, &v), 0);
	assert_int_equal(v.op, STORE_OP_UNSET);
	assert_memory_equal(v.key, "gone", 4);
	assert_int_equal(store_batch_next(&b, &off, &v), -ENODATA);
	/* Torn anywhere: the whole batch fails its checksum. */
	assert_int_equal(store_rec_parse(rec, total - 1, &b), -EBADMSG);
	/* A record inside at another revision makes the batch invalid. */
	store_rec_seal(sub + len, STORE_REC_HDR + 4, 8, STORE_OP_UNSET | STORE_IN_BATCH, 4, 0, 0);
	store_rec_seal(rec, total, 9, STORE_OP_BATCH, 0, 0, 0);
	assert_int_equal(store_rec_parse(rec, total, &b), -EBADMSG);
	/* A batch's record is not a record of the log on its own. */
	assert_int_equal(store_rec_parse(sub, len, &v), -EBADMSG);
}

/* The checksum of a record changed by hand (store_codec.h: bytes [0,4) and [8,len)). */
static void reseal_crc(unsigned char *rec, size_t len)
{
	uint32_t crc = store_crc32c(store_crc32c(0, rec, 4), rec + 8, len - 8);

	for (int i = 0; i < 4; i++)
		rec[4 + i] = (unsigned char)(crc >> (8 * i));
}

/* An ephemeral SET2 (flags bit 1), alone and in a batch; the flag on nothing else. */
static void test_record_codec_ephemeral(void **state)
{
	unsigned char rec[256], *sub;
	size_t koff = store_rec_key_offset(STORE_OP_SET2 | STORE_EPHEMERAL), len = koff + 1 + 1;
	size_t off = 0, total;
	struct store_rec_view v, b;

	assert_int_equal(koff, STORE_REC_HDR + 16);
	memcpy(rec + koff, "e", 1);
	memcpy(rec + koff + 1, "1", 1);
	store_rec_seal(rec, len, 5, STORE_OP_SET2 | STORE_EPHEMERAL, 1, 5, 1);
	assert_int_equal(rec[16], STORE_OP_SET2);
	assert_int_equal(rec[17], 2);
	assert_int_equal(store_rec_parse(rec, len, &v), 0);
	assert_int_equal(v.op, STORE_OP_SET2);
	assert_true(v.ephemeral);
	assert_memory_equal(v.key, "e", 1);
	store_rec_seal(rec, len, 5, STORE_OP_SET2, 1, 5, 1);
	assert_int_equal(store_rec_parse(rec, len, &v), 0);
	assert_false(v.ephemeral);
	/* Unknown flag bits, and the flag on an unset: not ours (checksum made right). */
	store_rec_seal(rec, len, 5, STORE_OP_SET2 | STORE_EPHEMERAL, 1, 5, 1);
	rec[17] |= 4;
	reseal_crc(rec, len);
	assert_int_equal(store_rec_parse(rec, len, &v), -EBADMSG);
	memcpy(rec + STORE_REC_HDR, "gone", 4);
	store_rec_seal(rec, STORE_REC_HDR + 4, 5, STORE_OP_UNSET | STORE_EPHEMERAL, 4, 0, 0);
	assert_int_equal(store_rec_parse(rec, STORE_REC_HDR + 4, &v), -EBADMSG);

	/* In a batch: flags 3; the batch itself never carries the flag. */
	sub = rec + STORE_REC_HDR;
	memcpy(sub + koff, "e", 1);
	memcpy(sub + koff + 1, "1", 1);
	store_rec_seal(sub, len, 6, STORE_OP_SET2 | STORE_IN_BATCH | STORE_EPHEMERAL, 1, 6, 1);
	assert_int_equal(sub[17], 3);
	total = STORE_REC_HDR + len;
	store_rec_seal(rec, total, 6, STORE_OP_BATCH, 0, 0, 0);
	assert_int_equal(store_rec_parse(rec, total, &b), 0);
	assert_int_equal(store_batch_next(&b, &off, &v), 0);
	assert_true(v.ephemeral);
	assert_int_equal(store_batch_next(&b, &off, &v), -ENODATA);
	store_rec_seal(rec, total, 6, STORE_OP_BATCH | STORE_EPHEMERAL, 0, 0, 0);
	assert_int_equal(store_rec_parse(rec, total, &b), -EBADMSG);
}

struct tree_item {
	struct store_tree_link link;
	char key[8];
};

/* The tree's links hold their keys at key_off (store_tree.h). */
static const struct store_tree tree_keys = {.key_off = offsetof(struct tree_item, key)};

static int32_t tree_check(const struct store_tree_link *l, const char **prev, size_t *prevlen,
                          int *count)
{
	int32_t hl, hr;

	if (!l)
		return 0;
	hl = tree_check(l->left, prev, prevlen, count);
	if (*prev)
		assert_true(store_tree_keycmp(*prev, *prevlen, store_tree_key(&tree_keys, l),
		                              l->keylen) < 0);
	*prev = store_tree_key(&tree_keys, l);
	*prevlen = l->keylen;
	(*count)++;
	hr = tree_check(l->right, prev, prevlen, count);
	assert_true(hl - hr <= 1 && hr - hl <= 1);
	assert_int_equal(l->height, (hl > hr ? hl : hr) + 1);
	return l->height;
}

static int tree_count_visit(struct store_tree_link *l, void *arg)
{
	(*(int *)arg)++;
	assert_memory_equal(store_tree_key(&tree_keys, l), "1", 1);
	return 0;
}

static void test_tree_balanced_and_ordered(void **state)
{
	static struct tree_item items[2000];
	struct store_tree tree = {.key_off = offsetof(struct tree_item, key)};
	struct store_tree_link *old;
	bool in[2000] = {false};
	int present = 0;

	srand(11);
	for (int i = 0; i < 2000; i++) {
		snprintf(items[i].key, sizeof(items[i].key), "%d", i);
		items[i].link.keylen = (uint32_t)strlen(items[i].key);
	}
	for (int step = 0; step < 20000; step++) {
		int i = rand() % 2000;

		if (in[i]) {
			store_tree_remove(&tree, items[i].key, strlen(items[i].key), &old);
			assert_ptr_equal(old, &items[i].link);
			present--;
		} else {
			store_tree_upsert(&tree, &items[i].link, &old);
			assert_null(old);
			present++;
		}
		in[i] = !in[i];
		if (step % 997 == 0) {
			const char *prev = NULL;
			size_t prevlen = 0;
			int count = 0;

			tree_check(tree.root, &prev, &prevlen, &count);
			assert_int_equal(count, present);
		}
	}
	for (int i = 0; i < 2000; i++) {
		if (in[i])
			assert_ptr_equal(store_tree_find(&tree, items[i].key, strlen(items[i].key)),
			                 &items[i].link);
		else
			assert_null(store_tree_find(&tree, items[i].key, strlen(items[i].key)));
	}
	/* Prefix "1": 1, 10-19, 100-199, 1000-1999 that are present. */
	{
		int want = 0, got = 0;

		for (int i = 0; i < 2000; i++)
			if (in[i] && items[i].key[0] == '1')
				want++;
		store_tree_walk_prefix(&tree, "1", 1, tree_count_visit, &got);
		assert_int_equal(got, want);
	}
}

/* ---- map semantics ---- */

static void test_key_valid(void **state)
{
	char big[258];

	assert_true(store_key_valid(".", 1));
	assert_true(store_key_valid("a//b", 4));
	assert_true(store_key_valid("/x", 2));
	assert_true(store_key_valid("A-z_0.9/", 8));
	memset(big, 'k', sizeof(big));
	assert_true(store_key_valid(big, 256));
	assert_false(store_key_valid(big, 257));
	assert_false(store_key_valid("", 0));
	assert_false(store_key_valid("a b", 3));
	assert_false(store_key_valid("\xc3\xa9", 2)); /* é */
	assert_false(store_key_valid("a\0b", 3));
	assert_false(store_key_valid("a:b", 3));
	/* Every byte, against ConfigKey's pattern ^[A-Za-z0-9._/-]+$ spelt out. */
	for (int c = 0; c < 256; c++) {
		char k[2] = {'a', (char)c};
		bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		            (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '/' || c == '-';
		assert_int_equal(store_key_valid(k, 2), want);
	}
}

static void test_invalid_arguments(void **state)
{
	struct fx *f = *state;
	struct result r = {.f = f};
	json_t *v = json_true();

	assert_int_equal(store_set(f->s, "a b", v, -1, done_cb, &r), -EINVAL);
	assert_int_equal(store_set(f->s, "", v, -1, done_cb, &r), -EINVAL);
	assert_int_equal(store_set(f->s, "k", NULL, -1, done_cb, &r), -EINVAL);
	assert_int_equal(store_unset(f->s, "\xc3\xa9", -1, done_cb, &r), -EINVAL);
	assert_int_equal(r.calls, 0);
	assert_int_equal(store_revision(f->s), 0);
}

static void test_set_get_unset_list(void **state)
{
	struct fx *f = *state;
	/* Submitted out of order; bytewise: '-' < '.' < '/' < '0' < 'B' < '_' < 'a'. */
	const char *keys[] = {"ab", "a", "a_b", "a0", "a/b", "a.b", "a-b", "B", "b", "."};
	const char *sorted_a[] = {"a", "a-b", "a.b", "a/b", "a0", "a_b", "ab"};
	json_t *list;
	uint64_t rev;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct result r = do_set(f, keys[i], json_string(keys[i]), -1);

		assert_int_equal(r.st, STORE_OK);
		assert_int_equal(r.rev, i + 1);
	}
	assert_string_equal(json_string_value(store_get(f->s, "a.b", &rev)), "a.b");
	assert_int_equal(rev, 6);
	assert_null(store_get(f->s, "a.", &rev));
	assert_null(store_get(f->s, "zz", NULL));

	list = store_list(f->s, "a");
	assert_int_equal(json_array_size(list), 7);
	for (size_t i = 0; i < 7; i++) {
		json_t *item = json_array_get(list, i);

		assert_string_equal(json_string_value(json_object_get(item, "key")), sorted_a[i]);
		assert_string_equal(json_string_value(json_object_get(item, "value")), sorted_a[i]);
		assert_true(json_integer_value(json_object_get(item, "revision")) > 0);
		/* Each set once: created by it, version 1. */
		assert_int_equal(json_integer_value(json_object_get(item, "create_revision")),
		                 json_integer_value(json_object_get(item, "revision")));
		assert_int_equal(json_integer_value(json_object_get(item, "version")), 1);
		assert_int_equal(json_object_size(item), 5);
	}
	json_decref(list);

	list = store_list(f->s, NULL);
	assert_int_equal(json_array_size(list), 10);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "key")),
	                    ".");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "key")),
	                    "B");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 9), "key")),
	                    "b");
	json_decref(list);

	list = store_list(f->s, "a/");
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	list = store_list(f->s, "nothing");
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);

	/* Reads share one text until the key changes. */
	int err;
	size_t len;
	const char *item = store_get_item(f->s, "a", &len, &err);
	assert_int_equal(err, 0);
	assert_string_equal(
	    item, "{\"key\":\"a\",\"value\":\"a\",\"revision\":2,\"create_revision\":2,\"version\":1}");
	assert_int_equal(len, strlen(item));
	assert_ptr_equal(store_get_item(f->s, "a", &len, &err), item);
	assert_int_equal(do_set(f, "a", json_pack("{s:[i,n]}", "x", 7), -1).st, STORE_OK);
	item = store_get_item(f->s, "a", &len, &err);
	/* A second set: same create_revision, version 2. */
	assert_string_equal(item, "{\"key\":\"a\",\"value\":{\"x\":[7,null]},\"revision\":11,"
	                          "\"create_revision\":2,\"version\":2}");

	assert_int_equal(do_unset(f, "a.b", -1).st, STORE_OK);
	assert_null(store_get(f->s, "a.b", NULL));
	assert_null(store_get_item(f->s, "a.b", &len, &err));
	assert_int_equal(err, -ENOENT);
	list = store_list(f->s, "a.");
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

static void test_revision_rules(void **state)
{
	struct fx *f = *state;
	struct result r;
	uint64_t rev;

	assert_int_equal(store_revision(f->s), 0);
	r = do_set(f, "x", json_integer(1), -1);
	assert_int_equal(r.rev, 1);
	assert_int_equal(store_revision(f->s), 1);
	r = do_set(f, "y", json_integer(2), -1);
	assert_int_equal(r.rev, 2);
	r = do_set(f, "x", json_integer(3), -1);
	assert_int_equal(r.rev, 3);
	assert_int_value(f, "x", 3, 3);
	assert_int_value(f, "y", 2, 2);

	r = do_unset(f, "x", -1);
	assert_int_equal(r.st, STORE_OK);
	assert_int_equal(r.rev, 4);
	assert_int_equal(store_revision(f->s), 4);
	assert_null(store_get(f->s, "x", &rev));

	/* A set after an unset gets a fresh revision, not the old one. */
	r = do_set(f, "x", json_integer(5), 0);
	assert_int_equal(r.st, STORE_OK);
	assert_int_equal(r.rev, 5);
	assert_int_value(f, "x", 5, 5);

	/* Failed checks do not raise the counter. */
	assert_int_equal(do_unset(f, "nope", -1).st, STORE_NOT_FOUND);
	assert_int_equal(do_set(f, "x", json_null(), 1).st, STORE_CONFLICT);
	assert_int_equal(store_revision(f->s), 5);
	assert_int_equal(do_set(f, "z", json_null(), -1).rev, 6);
}

static void test_cas(void **state)
{
	struct fx *f = *state;
	struct result r;

	r = do_set(f, "k", json_string("a"), 0); /* expect 0 on absent: ok */
	assert_int_equal(r.st, STORE_OK);
	assert_int_equal(r.rev, 1);

	r = do_set(f, "k", json_string("b"), 0); /* expect 0 on present: conflict */
	assert_int_equal(r.st, STORE_CONFLICT);
	assert_int_equal(r.rev, 1);
	assert_string_equal(r.reason, "");

	do_set(f, "other", json_true(), -1);     /* rev 2 */
	r = do_set(f, "k", json_string("c"), 2); /* wrong expected revision */
	assert_int_equal(r.st, STORE_CONFLICT);
	assert_int_equal(r.rev, 1);
	assert_string_equal(json_string_value(store_get(f->s, "k", NULL)), "a");

	r = do_set(f, "k", json_string("d"), 1); /* right one */
	assert_int_equal(r.st, STORE_OK);
	assert_int_equal(r.rev, 3);

	r = do_set(f, "absent", json_true(), 7); /* expecting a revision of an absent key */
	assert_int_equal(r.st, STORE_CONFLICT);
	assert_int_equal(r.rev, 0);

	r = do_unset(f, "absent", -1);
	assert_int_equal(r.st, STORE_NOT_FOUND);
	assert_int_equal(r.rev, 0);
	r = do_unset(f, "absent", 0);
	assert_int_equal(r.st, STORE_NOT_FOUND);

	r = do_unset(f, "k", 1);
	assert_int_equal(r.st, STORE_CONFLICT);
	assert_int_equal(r.rev, 3);
	r = do_unset(f, "k", 3);
	assert_int_equal(r.st, STORE_OK);
	assert_int_equal(r.rev, 4);
	assert_null(store_get(f->s, "k", NULL));
}

/* Checks made before the loop runs see the changes queued before them. */
static void test_cas_sees_queued_changes(void **state)
{
	struct fx *f = *state;
	struct result r[6];
	json_t *v = json_string("v");

	for (int i = 0; i < 6; i++)
		r[i] = (struct result){.f = f};
	assert_int_equal(store_set(f->s, "q", v, 0, done_cb, &r[0]), 0); /* ok, rev 1 */
	assert_int_equal(store_set(f->s, "q", v, 0, done_cb, &r[1]), 0); /* conflict @1 */
	assert_int_equal(store_set(f->s, "q", v, 1, done_cb, &r[2]), 0); /* ok, rev 2 */
	assert_int_equal(store_unset(f->s, "q", 2, done_cb, &r[3]), 0);  /* ok, rev 3 */
	assert_int_equal(store_unset(f->s, "q", -1, done_cb, &r[4]), 0); /* not found */
	assert_int_equal(store_set(f->s, "q", v, 0, done_cb, &r[5]), 0); /* ok, rev 4 */
	json_decref(v);
	/* Nothing is visible before it is durable. */
	assert_null(store_get(f->s, "q", NULL));
	assert_int_equal(store_revision(f->s), 0);
	for (int i = 0; i < 6; i++)
		wait_calls(f, &r[i].calls, 1);

	assert_int_equal(r[0].st, STORE_OK);
	assert_int_equal(r[0].rev, 1);
	assert_int_equal(r[1].st, STORE_CONFLICT);
	assert_int_equal(r[1].rev, 1);
	assert_int_equal(r[2].st, STORE_OK);
	assert_int_equal(r[2].rev, 2);
	assert_int_equal(r[3].st, STORE_OK);
	assert_int_equal(r[3].rev, 3);
	assert_int_equal(r[4].st, STORE_NOT_FOUND);
	assert_int_equal(r[5].st, STORE_OK);
	assert_int_equal(r[5].rev, 4);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].at, i); /* submission order */
	}
	assert_int_equal(store_revision(f->s), 4);
	assert_string_equal(json_string_value(store_get(f->s, "q", NULL)), "v");
}

/* A change is visible to its own callback, and a callback may queue another. */
struct chain {
	struct fx *f;
	int step;
	uint64_t seen_rev;
};

static void chain_cb(void *arg, enum store_status st, uint64_t rev, const char *reason)
{
	struct chain *c = arg;
	uint64_t got = 0;

	assert_int_equal(st, STORE_OK);
	assert_non_null(store_get(c->f->s, "chain", &got));
	assert_int_equal(got, rev);
	c->seen_rev = rev;
	if (++c->step < 5) {
		json_t *v = json_integer(c->step);

		assert_int_equal(store_set(c->f->s, "chain", v, (int64_t)rev, chain_cb, c), 0);
		json_decref(v);
	}
}

static void test_callback_chains(void **state)
{
	struct fx *f = *state;
	struct chain c = {.f = f};
	json_t *v = json_integer(0);

	assert_int_equal(store_set(f->s, "chain", v, 0, chain_cb, &c), 0);
	json_decref(v);
	wait_calls(f, &c.step, 5);
	assert_int_equal(c.seen_rev, 5);
	assert_int_value(f, "chain", 4, 5);
}

static void test_group_commit(void **state)
{
	struct fx *f = *state;
	enum { N = 1000 };
	static struct result r[N];
	struct store_stats st;
	char key[32];

	/*
	 * Hold the committer while the burst is queued, so the result does not
	 * depend on how fast this build queues compared with one fdatasync
	 * (sanitizers are slow); the bench shows the unheld case.
	 */
	store_debug_pause(f->s, true);
	for (int i = 0; i < N; i++) {
		json_t *v = json_integer(i);

		r[i] = (struct result){.f = f};
		snprintf(key, sizeof(key), "g/%04d", i % 100);
		assert_int_equal(store_set(f->s, key, v, -1, done_cb, &r[i]), 0);
		json_decref(v);
	}
	/* Nothing is durable (or answered) while held. */
	assert_int_equal(event_base_loop(f->base, EVLOOP_NONBLOCK), 0);
	assert_int_equal(r[0].calls, 0);
	store_get_stats(f->s, &st);
	assert_int_equal(st.groups, 0);
	store_debug_pause(f->s, false);
	wait_calls(f, &r[N - 1].calls, 1);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].st, STORE_OK);
		assert_int_equal(r[i].rev, (uint64_t)i + 1);
		assert_int_equal(r[i].at, i);
	}
	/* One write and one fdatasync for the lot. */
	store_get_stats(f->s, &st);
	assert_int_equal(st.records, N);
	assert_int_equal(st.groups, 1);
	assert_int_equal(store_revision(f->s), N);
	assert_int_value(f, "g/0099", 999, 1000);
	assert_int_value(f, "g/0000", 900, 901);
}

static void test_close_flushes_queued(void **state)
{
	struct fx *f = *state;
	enum { N = 100 };
	static struct result r[N];
	char key[32];

	for (int i = 0; i < N; i++) {
		json_t *v = json_integer(i * 10);

		r[i] = (struct result){.f = f};
		snprintf(key, sizeof(key), "c%d", i);
		assert_int_equal(store_set(f->s, key, v, -1, done_cb, &r[i]), 0);
		json_decref(v);
	}
	store_close(f->s); /* the loop never ran: close answers them */
	f->s = NULL;
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].st, STORE_OK);
		assert_int_equal(r[i].at, i);
	}
	fx_open(f);
	assert_int_equal(store_revision(f->s), N);
	assert_int_value(f, "c42", 420, 43);
}

/* ---- persistence and recovery ---- */

static void test_reopen_same_state(void **state)
{
	struct fx *f = *state;
	json_t *before, *after;
	struct store_stats st;

	do_set(f, "a", json_integer(1), -1);
	do_set(f, "b", json_pack("{s:[i,s]}", "x", 1, "y"), -1);
	do_set(f, "c", json_integer(3), -1);
	do_unset(f, "a", -1);
	do_set(f, "c", json_integer(4), -1);
	before = store_list(f->s, NULL);
	fx_reopen(f);
	after = store_list(f->s, NULL);
	assert_true(json_equal(before, after));
	assert_int_equal(json_array_size(after), 2);
	assert_int_equal(store_revision(f->s), 5);
	store_get_stats(f->s, &st);
	assert_int_equal(st.replayed_records, 5);
	assert_int_equal(st.dropped_bytes, 0);
	json_decref(before);
	json_decref(after);
	/* The counter continues where it was. */
	assert_int_equal(do_set(f, "d", json_true(), -1).rev, 6);
}

static void test_recovery_torn_last_record(void **state)
{
	struct fx *f = *state;
	struct store_stats st;
	char p[256];
	off_t size;

	do_set(f, "t1", json_integer(1), -1);
	do_set(f, "t2", json_integer(2), -1);
	do_set(f, "t3", json_string("the last one"), -1);
	store_close(f->s);
	f->s = NULL;
	size = file_size(f, "config.log");
	assert_true(size > 0);
	path_of(f, "config.log", p, sizeof(p));
	assert_int_equal(truncate(p, size - 3), 0);

	fx_open(f);
	{
		/* t3's record: 36 bytes of header, "t3", "\"the last one\"". */
		char want[400];

		snprintf(want, sizeof(want),
		         "4 %s/config.log: dropped a torn last record at offset %lld (49 bytes)",
		         f->dir, (long long)(size - 52));
		assert_non_null(strstr(f->log, want));
	}
	assert_int_value(f, "t1", 1, 1);
	assert_int_value(f, "t2", 2, 2);
	assert_null(store_get(f->s, "t3", NULL));
	assert_int_equal(store_revision(f->s), 2);
	store_get_stats(f->s, &st);
	assert_int_equal(st.replayed_records, 2);
	assert_true(st.dropped_bytes > 0);

	/* New records must not land behind the torn bytes (or they would be lost). */
	assert_int_equal(do_set(f, "t4", json_integer(4), -1).rev, 3);
	fx_reopen(f);
	assert_int_value(f, "t4", 4, 3);
	assert_int_value(f, "t2", 2, 2);
	store_get_stats(f->s, &st);
	assert_int_equal(st.dropped_bytes, 0);
}

static void test_recovery_garbage_appended(void **state)
{
	struct fx *f = *state;
	struct store_stats st;
	unsigned char junk[300];

	do_set(f, "g1", json_integer(10), -1);
	do_set(f, "g2", json_integer(20), -1);
	store_close(f->s);
	f->s = NULL;
	srand(3);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(rand() | 1);
	append_bytes(f, "config.log", junk, sizeof(junk));

	fx_open(f);
	assert_int_value(f, "g1", 10, 1);
	assert_int_value(f, "g2", 20, 2);
	assert_int_equal(store_revision(f->s), 2);
	store_get_stats(f->s, &st);
	assert_int_equal(st.dropped_bytes, sizeof(junk));
	do_set(f, "g3", json_integer(30), -1);
	fx_reopen(f);
	assert_int_value(f, "g3", 30, 3);
}

/* A zero-filled tail is what preallocation leaves after a crash: not an error. */
static void test_recovery_zero_tail(void **state)
{
	struct fx *f = *state;
	static const unsigned char zeros[4096];
	struct store_stats st;

	do_set(f, "z", json_integer(1), -1);
	store_close(f->s);
	f->s = NULL;
	append_bytes(f, "config.log", zeros, sizeof(zeros));
	fx_open(f);
	assert_int_value(f, "z", 1, 1);
	store_get_stats(f->s, &st);
	assert_int_equal(st.dropped_bytes, 0);
	assert_int_equal(st.replayed_records, 1);
}

static void test_recovery_empty_log_and_new_dir(void **state)
{
	struct fx *f = *state;
	struct store_stats st;
	char sub[200];

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(file_size(f, "config.log"), 0);
	fx_open(f);
	assert_int_equal(store_revision(f->s), 0);
	store_get_stats(f->s, &st);
	assert_int_equal(st.replayed_records, 0);

	/* A missing state directory is created. */
	store_close(f->s);
	join_path(sub, sizeof(sub), f->dir, "sub");
	memcpy(f->dir, sub, sizeof(f->dir));
	fx_open(f);
	assert_int_equal(file_size(f, "config.log"), 0);
	assert_int_equal(do_set(f, "n", json_true(), -1).rev, 1);
	store_close(f->s);
	/* teardown removes the parent, so point back at it */
	*strrchr(f->dir, '/') = '\0';
	fx_open(f);
}

static void test_snapshot_plus_log(void **state)
{
	struct fx *f = *state;
	struct store_stats st;

	do_set(f, "s1", json_integer(1), -1);
	do_set(f, "s2", json_integer(2), -1);
	do_set(f, "s3", json_integer(3), -1);
	do_unset(f, "s2", -1);
	assert_int_equal(store_debug_compact(f->s), 0);
	store_get_stats(f->s, &st);
	assert_int_equal(st.compactions, 1);
	assert_int_equal(st.log_bytes, 0);
	assert_true(st.snapshot_bytes > STORE_SNAP_HDR);
	do_set(f, "s1", json_integer(11), -1); /* rev 5, in the log */
	do_set(f, "s4", json_integer(4), -1);  /* rev 6 */
	fx_reopen(f);
	assert_int_value(f, "s1", 11, 5);
	assert_int_value(f, "s3", 3, 3);
	assert_int_value(f, "s4", 4, 6);
	assert_null(store_get(f->s, "s2", NULL));
	assert_int_equal(store_revision(f->s), 6);
	store_get_stats(f->s, &st);
	assert_int_equal(st.replayed_records, 2);
}

/* Compaction keeps the counter even when no key is left. */
static void test_compaction_keeps_revision(void **state)
{
	struct fx *f = *state;
	json_t *list;

	do_set(f, "only", json_integer(1), -1);
	do_unset(f, "only", -1);
	assert_int_equal(store_debug_compact(f->s), 0);
	fx_reopen(f);
	assert_int_equal(file_size(f, "config.log"), 0);
	assert_int_equal(file_size(f, "config.snap"), STORE_SNAP_HDR);
	assert_int_equal(store_revision(f->s), 2);
	list = store_list(f->s, NULL);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(do_set(f, "only", json_integer(2), 0).rev, 3);
}

static void test_compaction_by_size(void **state)
{
	struct fx *f = *state;
	enum { N = 300, BURST = 30 };
	static struct result r[N];
	struct store_stats st;
	char *big = malloc(8192);
	uint64_t rev;

	memset(big, 'x', 8191);
	big[8191] = '\0';
	for (int i = 0; i < N; i += BURST) {
		for (int j = i; j < i + BURST; j++) {
			char key[16];
			json_t *v = json_pack("{s:i,s:s}", "i", j, "pad", big);

			r[j] = (struct result){.f = f};
			snprintf(key, sizeof(key), "big%d", j % 3);
			assert_int_equal(store_set(f->s, key, v, -1, done_cb, &r[j]), 0);
			json_decref(v);
		}
		wait_calls(f, &r[i + BURST - 1].calls, 1);
	}
	free(big);
	for (int i = 0; i < N; i++)
		assert_int_equal(r[i].st, STORE_OK);
	/*
	 * ~2.4 MiB of records went through a log that compacts past 1 MiB. The
	 * last group may still be compacting now; close waits for it.
	 */
	store_get_stats(f->s, &st);
	assert_true(st.compactions >= 1);
	assert_int_equal(st.compaction_errors, 0);
	assert_true(st.snapshot_bytes < 3 * 8400 + STORE_SNAP_HDR);
	fx_reopen(f);
	assert_true(file_size(f, "config.log") < (1 << 20));
	assert_true(file_size(f, "config.snap") < 3 * 8400 + STORE_SNAP_HDR);
	store_get_stats(f->s, &st);
	assert_true(st.log_bytes < (1u << 20));
	assert_true(st.replayed_records < 130); /* at most ~1 MiB of 8 KiB records */
	for (int k = 0; k < 3; k++) {
		char key[16];
		const json_t *v;

		snprintf(key, sizeof(key), "big%d", k);
		v = store_get(f->s, key, &rev);
		assert_non_null(v);
		assert_int_equal(json_integer_value(json_object_get(v, "i")), N - 3 + k);
		assert_int_equal(rev, N - 2 + k);
		assert_int_equal(json_string_length(json_object_get(v, "pad")), 8191);
	}
	assert_int_equal(store_revision(f->s), N);
}

static void copy_path(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in, out;

	in = open(from, O_RDONLY);
	if (in < 0)
		fail_msg("cannot open %s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

static void copy_file(const struct fx *from, const char *fname, const struct fx *to,
                      const char *tname)
{
	char a[256], b[256];

	path_of(from, fname, a, sizeof(a));
	path_of(to, tname, b, sizeof(b));
	copy_path(a, b);
}

/* Crash after the temp snapshot was written but before the rename. */
static void test_snapshot_tmp_is_ignored(void **state)
{
	struct fx *f = *state;
	struct fx other = {.base = f->base};
	static const char junk[] = "half a snapshot";

	/* A complete, valid snapshot of some other state, left as .tmp. */
	join_path(other.dir, sizeof(other.dir), f->dir, "other");
	fx_open(&other);
	do_set(&other, "foreign", json_integer(99), -1);
	do_set(&other, "foreign2", json_integer(98), -1);
	assert_int_equal(store_debug_compact(other.s), 0);
	store_close(other.s);

	do_set(f, "mine", json_integer(1), -1);
	store_close(f->s);
	f->s = NULL;
	copy_file(&other, "config.snap", f, "config.snap.tmp");
	fx_open(f);
	assert_int_value(f, "mine", 1, 1);
	assert_null(store_get(f->s, "foreign", NULL));
	assert_int_equal(store_revision(f->s), 1);
	assert_int_equal(file_size(f, "config.snap.tmp"), -1);

	store_close(f->s);
	f->s = NULL;
	append_bytes(f, "config.snap.tmp", junk, sizeof(junk));
	fx_open(f);
	assert_int_value(f, "mine", 1, 1);
	assert_int_equal(file_size(f, "config.snap.tmp"), -1);
}

/* Crash after the snapshot's rename but before the log was emptied. */
static void test_log_older_than_snapshot(void **state)
{
	struct fx *f = *state;
	struct fx save = {.base = f->base};
	struct store_stats st;

	join_path(save.dir, sizeof(save.dir), f->dir, "save");
	assert_int_equal(mkdir(save.dir, 0700), 0);
	do_set(f, "o1", json_integer(1), -1);
	do_set(f, "o2", json_integer(2), -1);
	do_set(f, "o1", json_integer(3), -1);
	store_close(f->s);
	f->s = NULL;
	copy_file(f, "config.log", &save, "config.log");
	fx_open(f);
	assert_int_equal(store_debug_compact(f->s), 0);
	store_close(f->s);
	f->s = NULL;
	copy_file(&save, "config.log", f, "config.log");

	fx_open(f);
	assert_int_value(f, "o1", 3, 3);
	assert_int_value(f, "o2", 2, 2);
	assert_int_equal(store_revision(f->s), 3);
	store_get_stats(f->s, &st);
	assert_int_equal(st.replayed_records, 0);
	assert_int_equal(file_size(f, "config.log"), 0); /* superseded: started afresh */
	assert_int_equal(do_set(f, "o3", json_integer(4), -1).rev, 4);
	fx_reopen(f);
	assert_int_value(f, "o3", 4, 4);
	assert_int_value(f, "o1", 3, 3);
}

static void test_damaged_snapshot_refuses_open(void **state)
{
	struct fx *f = *state;
	char p[256], err[512] = "";
	struct store *s2 = NULL;
	unsigned char byte;
	int fd;

	do_set(f, "d1", json_string("precious"), -1);
	assert_int_equal(store_debug_compact(f->s), 0);
	store_close(f->s);
	f->s = NULL;
	path_of(f, "config.snap", p, sizeof(p));
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, STORE_SNAP_HDR + 25), 1);
	byte ^= 0x40;
	assert_int_equal(pwrite(fd, &byte, 1, STORE_SNAP_HDR + 25), 1);
	close(fd);

	assert_int_equal(store_open(f->dir, f->base, NULL, &s2, err, sizeof(err)), -EBADMSG);
	assert_null(s2);
	assert_non_null(strstr(err, "config.snap is damaged"));
	/* Put it back so the store opens again and teardown can close it. */
	fd = open(p, O_RDWR);
	byte ^= 0x40;
	assert_int_equal(pwrite(fd, &byte, 1, STORE_SNAP_HDR + 25), 1);
	close(fd);
	fx_open(f);
	assert_string_equal(json_string_value(store_get(f->s, "d1", NULL)), "precious");
}

static void test_log_not_matching_snapshot_refuses_open(void **state)
{
	struct fx *f = *state;
	char p[256], err[512] = "";
	struct store *s2 = NULL;

	for (int i = 0; i < 5; i++)
		do_set(f, "m", json_integer(i), -1);
	assert_int_equal(store_debug_compact(f->s), 0);
	do_set(f, "m", json_integer(6), -1);
	store_close(f->s);
	f->s = NULL;
	path_of(f, "config.snap", p, sizeof(p));
	assert_int_equal(unlink(p), 0);
	assert_int_equal(store_open(f->dir, f->base, NULL, &s2, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "do not belong together"));
	/* Refusing must not have touched the log. */
	assert_true(file_size(f, "config.log") > 0);
	path_of(f, "config.log", p, sizeof(p));
	assert_int_equal(unlink(p), 0);
	fx_open(f);
}

static void test_second_open_is_refused(void **state)
{
	struct fx *f = *state;
	char err[512] = "";
	struct store *s2 = NULL;

	assert_int_equal(store_open(f->dir, f->base, NULL, &s2, err, sizeof(err)), -EBUSY);
	assert_null(s2);
	assert_non_null(strstr(err, "in use by another process"));
}

static void test_write_failure(void **state)
{
	struct fx *f = *state;
	struct result r[5];
	struct store_stats before, after, st;
	json_t *v;

	assert_int_equal(do_set(f, "w", json_integer(1), -1).rev, 1);
	store_get_stats(f->s, &before);

	/* Held, so that all five travel in the one group whose write fails. */
	store_debug_pause(f->s, true);
	store_debug_fail_next_write(f->s, ENOSPC);
	for (int i = 0; i < 5; i++)
		r[i] = (struct result){.f = f};
	/* Decided against durable state only: keeps its answer. */
	v = json_integer(9);
	assert_int_equal(store_set(f->s, "w", v, 7, done_cb, &r[0]), 0);
	json_decref(v);
	v = json_integer(2);
	assert_int_equal(store_set(f->s, "w", v, -1, done_cb, &r[1]), 0); /* rev 2: fails */
	json_decref(v);
	/* Queued behind it and checked against it: must fail too. */
	v = json_integer(3);
	assert_int_equal(store_set(f->s, "w", v, 2, done_cb, &r[2]), 0);
	json_decref(v);
	assert_int_equal(store_unset(f->s, "w", -1, done_cb, &r[3]), 0);
	v = json_true();
	assert_int_equal(store_set(f->s, "other", v, 0, done_cb, &r[4]), 0);
	json_decref(v);
	store_debug_pause(f->s, false);
	for (int i = 0; i < 5; i++)
		wait_calls(f, &r[i].calls, 1);
	assert_int_equal(r[0].st, STORE_CONFLICT);
	assert_int_equal(r[0].rev, 1);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].at, r[0].at + i);
	}
	for (int i = 1; i < 5; i++) {
		assert_int_equal(r[i].st, STORE_IO_ERROR);
		assert_int_equal(r[i].rev, 0);
		assert_string_equal(r[i].reason, "write: No space left on device");
	}
	/* Not applied, and the counter is where it was. */
	assert_int_value(f, "w", 1, 1);
	assert_null(store_get(f->s, "other", NULL));
	assert_int_equal(store_revision(f->s), 1);
	store_get_stats(f->s, &after);
	assert_int_equal(after.write_errors, 1);
	assert_int_equal(after.groups, before.groups);
	assert_int_equal(after.log_bytes, before.log_bytes);
	/* The torn half-record was cut away, not left in the file. */
	assert_int_equal(file_size(f, "config.log"), (off_t)before.log_bytes);
	{
		char want[300];

		snprintf(want, sizeof(want),
		         "3 %s/config.log: write: No space left on device; 4 change(s) not applied",
		         f->dir);
		assert_non_null(strstr(f->log, want));
	}

	/* The store carries on, with checks against the committed state. */
	assert_int_equal(do_set(f, "w", json_integer(4), 2).st, STORE_CONFLICT);
	assert_int_equal(do_set(f, "w", json_integer(5), 1).rev, 2);
	assert_int_equal(do_set(f, "other", json_integer(6), 0).rev, 3);
	fx_reopen(f);
	assert_int_value(f, "w", 5, 2);
	assert_int_value(f, "other", 6, 3);
	assert_int_equal(store_revision(f->s), 3);
	store_get_stats(f->s, &st);
	assert_int_equal(st.dropped_bytes, 0);
	assert_int_equal(st.replayed_records, 3);
}

/* A failure with nothing queued behind it, then one in a later group. */
static void test_write_failure_alone_and_repeated(void **state)
{
	struct fx *f = *state;
	struct result r = {.f = f};
	json_t *v = json_integer(1);

	store_debug_fail_next_write(f->s, EIO);
	assert_int_equal(store_set(f->s, "e", v, 0, done_cb, &r), 0);
	json_decref(v);
	wait_calls(f, &r.calls, 1);
	assert_int_equal(r.st, STORE_IO_ERROR);
	assert_string_equal(r.reason, "write: Input/output error");
	assert_null(store_get(f->s, "e", NULL));
	assert_int_equal(file_size(f, "config.log"), 0);
	/* The same key and expectation succeed afterwards, with revision 1. */
	assert_int_equal(do_set(f, "e", json_integer(2), 0).rev, 1);
	store_debug_fail_next_write(f->s, ENOSPC);
	assert_int_equal(do_unset(f, "e", 1).st, STORE_IO_ERROR);
	assert_int_value(f, "e", 2, 1);
	assert_int_equal(do_unset(f, "e", 1).rev, 2);
	fx_reopen(f);
	assert_null(store_get(f->s, "e", NULL));
	assert_int_equal(store_revision(f->s), 2);
}

/* A change marked early: what its hook did, and what its callback saw on the peer's socket. */
struct early {
	struct result r;
	int fd, peer;
	int hooked;           /* times the early hook ran */
	int hooked_at_done;   /* ... when the callback ran */
	char got[64];
	ssize_t got_len; /* read by the peer when the callback ran; -1: nothing there */
};

/* The committer's thread: answer as udsrpcd does, on the socket, "ack REV\n". */
static void early_hook(void *arg, uint64_t rev)
{
	struct early *e = arg;
	char line[32];
	int n = snprintf(line, sizeof(line), "ack %llu\n", (unsigned long long)rev);

	e->hooked++;
	assert_int_equal(send(e->fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL), n);
}

static void early_cb(void *arg, enum store_status st, uint64_t rev, const char *reason)
{
	struct early *e = arg;

	done_cb(&e->r, st, rev, reason);
	e->hooked_at_done = e->hooked;
	e->got_len = recv(e->peer, e->got, sizeof(e->got) - 1, MSG_DONTWAIT);
}

/* store_set + store_mark_early; false if it could not be marked. */
static bool early_set(struct fx *f, struct early *e, const char *key, int64_t expect, int fd,
                      int peer)
{
	json_t *v = json_string(key);

	*e = (struct early){.r = {.f = f}, .fd = fd, .peer = peer, .got_len = -1};
	assert_int_equal(store_set(f->s, key, v, expect, early_cb, e), 0);
	json_decref(v);
	return store_mark_early(f->s);
}

static void test_early(void **state)
{
	struct fx *f = *state;
	struct early e[6];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* The committer's ways: a lone change here would be the loop's (test_inline_commit). */
	store_debug_inline(f->s, false);
	/* No hook, nothing to mark. */
	assert_false(early_set(f, &e[0], "z", -1, sv[0], sv[1]));
	wait_calls(f, &e[0].r.calls, 1);
	store_set_early(f->s, early_hook);

	/* Told on the committer once durable: on the socket before the callback runs. */
	assert_true(early_set(f, &e[0], "a", -1, sv[0], sv[1]));
	wait_calls(f, &e[0].r.calls, 1);
	assert_int_equal(e[0].r.st, STORE_OK);
	assert_int_equal(e[0].hooked_at_done, 1);
	assert_int_equal(e[0].got_len, 6);
	assert_memory_equal(e[0].got, "ack 2\n", 6);

	/* An answer decided at submission is never marked. */
	assert_false(early_set(f, &e[1], "a", 7, sv[0], sv[1]));
	wait_calls(f, &e[1].r.calls, 1);
	assert_int_equal(e[1].r.st, STORE_CONFLICT);
	assert_int_equal(e[1].hooked, 0);

	/* A failed write is not told early. */
	store_debug_fail_next_write(f->s, ENOSPC);
	assert_true(early_set(f, &e[3], "c", -1, sv[0], sv[1]));
	wait_calls(f, &e[3].r.calls, 1);
	assert_int_equal(e[3].r.st, STORE_IO_ERROR);
	assert_int_equal(e[3].hooked, 0);
	assert_int_equal(e[3].got_len, -1);

	/* Two in one group: both, in order, before the first callback. */
	store_debug_pause(f->s, true);
	assert_true(early_set(f, &e[4], "d", -1, sv[0], sv[1]));
	assert_true(early_set(f, &e[5], "e", -1, sv[0], sv[1]));
	store_debug_pause(f->s, false);
	wait_calls(f, &e[5].r.calls, 1);
	assert_int_equal(e[4].hooked_at_done, 1);
	assert_int_equal(e[5].hooked_at_done, 1);
	assert_int_equal(e[4].got_len, 12); /* the first callback finds both lines */
	assert_memory_equal(e[4].got, "ack 3\nack 4\n", 12);
	close(sv[0]);
	close(sv[1]);
}

/*
 * A lone change with the committer idle is written and flushed by the loop
 * itself (store.c, "Inline commit"): no early hook (the committer would run
 * it for a group of one), the callback at once, the change durable. Its
 * conditions are the committer's timing: it is idle once it sleeps again
 * after the previous group, and the flushes must be fast on average. A try
 * that misses them is the committer's (hook run, its line read by the
 * callback); the next one, 20 ms later, tries again, for up to 30 s, as a
 * loaded machine can keep the committer from its sleep or the disk slow
 * for seconds.
 */
static void test_inline_commit(void **state)
{
	struct fx *f = *state;
	struct store_stats st0, st1;
	struct early e;
	uint64_t rev, deadline = clock_now_ns() + 30000000000u;
	int sv[2], misses = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	store_set_early(f->s, early_hook);
	for (;;) {
		usleep(20000);
		store_get_stats(f->s, &st0);
		assert_true(early_set(f, &e, "lone", -1, sv[0], sv[1]));
		wait_calls(f, &e.r.calls, 1);
		assert_int_equal(e.r.st, STORE_OK);
		if (e.hooked == 0)
			break;
		/* The committer's way: told early, on the socket before the callback. */
		assert_int_equal(e.hooked_at_done, 1);
		assert_true(e.got_len > 0);
		misses++;
		if (clock_now_ns() > deadline)
			fail_msg("no inline commit in %d tries", misses);
	}
	if (misses)
		print_message("inline commit after %d committer tries\n", misses);
	assert_int_equal(e.got_len, -1); /* nothing went to the socket */
	store_get_stats(f->s, &st1);
	assert_int_equal(st1.groups, st0.groups + 1); /* one group, one fdatasync */
	assert_int_equal(st1.records, st0.records + 1);
	rev = e.r.rev;
	assert_non_null(store_get(f->s, "lone", &rev));
	assert_int_equal(rev, e.r.rev);

	/* Not with the hook: the same change through the committer, told early. */
	store_debug_inline(f->s, false);
	assert_true(early_set(f, &e, "lone", -1, sv[0], sv[1]));
	wait_calls(f, &e.r.calls, 1);
	assert_int_equal(e.hooked_at_done, 1);

	/* Durable: there after a restart, at the revision the loop answered. */
	rev = e.r.rev;
	fx_reopen(f);
	uint64_t got = 0;
	assert_non_null(store_get(f->s, "lone", &got));
	assert_int_equal(got, rev);
	close(sv[0]);
	close(sv[1]);
}

/* Many changes in one group are answered by the loop: the committer writes on. */
static void test_early_not_in_big_groups(void **state)
{
	struct fx *f = *state;
	struct early e[5];
	char key[8];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	store_set_early(f->s, early_hook);
	store_debug_pause(f->s, true);
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_true(early_set(f, &e[i], key, -1, sv[0], sv[1]));
	}
	store_debug_pause(f->s, false);
	wait_calls(f, &e[4].r.calls, 1);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(e[i].r.st, STORE_OK);
		assert_int_equal(e[i].hooked, 0);
		assert_int_equal(e[i].got_len, -1);
	}
	close(sv[0]);
	close(sv[1]);
}

static void test_values_of_every_type(void **state)
{
	struct fx *f = *state;
	json_error_t jerr;
	const char *texts[] = {
	    "null",
	    "true",
	    "false",
	    "0",
	    "-9223372036854775808",
	    "9223372036854775807",
	    "0.1",
	    "-2.5e-300",
	    "1.7976931348623157e308",
	    "\"\"",
	    "\"a\\u0000b\\u0000\"",
	    "\"\\u00e9\\ud83d\\ude00 \\\"q\\\" \\\\ \\n\"",
	    "[]",
	    "{}",
	    "[1,\"two\",[3,{\"four\":null}],false]",
	    /* jansson refuses NUL in object keys, so only values carry it */
	    "{\"z\":1,\"a\":{\"nested\":[{}]},\"k\":\"v\\u0000\"}",
	};
	enum { N = sizeof(texts) / sizeof(texts[0]) };
	json_t *want[N];
	char key[16];

	for (int i = 0; i < N; i++) {
		want[i] = json_loads(texts[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
		if (!want[i])
			fail_msg("%s: %s", texts[i], jerr.text);
		snprintf(key, sizeof(key), "v%02d", i);
		assert_int_equal(do_set(f, key, json_incref(want[i]), -1).st, STORE_OK);
	}
	for (int pass = 0; pass < 3; pass++) {
		/* live, replayed from the log, loaded from a snapshot */
		for (int i = 0; i < N; i++) {
			const json_t *got;

			snprintf(key, sizeof(key), "v%02d", i);
			got = store_get(f->s, key, NULL);
			assert_non_null(got);
			if (!json_equal(got, want[i]))
				fail_msg("pass %d: %s changed", pass, texts[i]);
		}
		if (pass == 1)
			assert_int_equal(store_debug_compact(f->s), 0);
		fx_reopen(f);
	}
	assert_int_equal(json_string_length(store_get(f->s, "v10", NULL)), 4);
	for (int i = 0; i < N; i++)
		json_decref(want[i]);
}

/* Many keys through the map: removal, re-insertion and list stay consistent. */
static void test_many_keys(void **state)
{
	struct fx *f = *state;
	enum { N = 3000 };
	static struct result r[N];
	char key[32];
	json_t *list;
	int present = 0;

	for (int i = 0; i < N; i++) {
		json_t *v = json_integer(i);

		r[i] = (struct result){.f = f};
		snprintf(key, sizeof(key), "m/%d", (i * 7919) % N);
		assert_int_equal(store_set(f->s, key, v, -1, done_cb, &r[i]), 0);
		json_decref(v);
	}
	wait_calls(f, &r[N - 1].calls, 1);
	for (int i = 0; i < N; i += 2) {
		r[i] = (struct result){.f = f};
		snprintf(key, sizeof(key), "m/%d", i);
		assert_int_equal(store_unset(f->s, key, -1, done_cb, &r[i]), 0);
	}
	wait_calls(f, &r[N - 2].calls, 1);
	list = store_list(f->s, "m/");
	for (size_t i = 1; i < json_array_size(list); i++) {
		const char *a =
		    json_string_value(json_object_get(json_array_get(list, i - 1), "key"));
		const char *b = json_string_value(json_object_get(json_array_get(list, i), "key"));

		assert_true(strcmp(a, b) < 0);
	}
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "m/%d", i);
		if (store_get(f->s, key, NULL)) {
			assert_true(i % 2 == 1);
			present++;
		}
	}
	assert_int_equal(present, N / 2);
	assert_int_equal(json_array_size(list), N / 2);
	json_decref(list);
	list = store_list(f->s, "m/29");
	/* m/29, m/290-299, m/2900-2999 that are odd */
	assert_int_equal(json_array_size(list), 1 + 5 + 50);
	json_decref(list);
}

/* ---- items: create_revision and version; paging; unset by prefix ---- */

static void assert_item_meta(const struct fx *f, const char *key, uint64_t rev, uint64_t create,
                             uint64_t version)
{
	json_t *list = store_list(f->s, key), *item = NULL;

	for (size_t i = 0; i < json_array_size(list); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(list, i), "key")), key) ==
		    0)
			item = json_array_get(list, i);
	if (!item)
		fail_msg("%s is absent", key);
	assert_int_equal(json_integer_value(json_object_get(item, "revision")), rev);
	assert_int_equal(json_integer_value(json_object_get(item, "create_revision")), create);
	assert_int_equal(json_integer_value(json_object_get(item, "version")), version);
	json_decref(list);
}

static void test_versions_survive_log_and_snapshot(void **state)
{
	struct fx *f = *state;

	do_set(f, "v", json_integer(1), -1);          /* 1: created, version 1 */
	do_set(f, "v", json_integer(2), -1);          /* 2: version 2 */
	do_set(f, "w", json_integer(1), -1);          /* 3 */
	do_set(f, "v", json_integer(3), -1);          /* 4: version 3 */
	assert_item_meta(f, "v", 4, 1, 3);
	do_unset(f, "w", -1);                         /* 5 */
	do_set(f, "w", json_integer(9), -1);          /* 6: created anew */
	assert_item_meta(f, "w", 6, 6, 1);
	fx_reopen(f); /* from the log */
	assert_item_meta(f, "v", 4, 1, 3);
	assert_item_meta(f, "w", 6, 6, 1);
	assert_int_equal(store_debug_compact(f->s), 0);
	fx_reopen(f); /* from the snapshot */
	assert_item_meta(f, "v", 4, 1, 3);
	assert_item_meta(f, "w", 6, 6, 1);
	do_set(f, "v", json_integer(4), -1);          /* 7: version 4, on top of the snapshot */
	fx_reopen(f);
	assert_item_meta(f, "v", 7, 1, 4);
	/* A failed write leaves the next set's version where it was. */
	store_debug_fail_next_write(f->s, EIO);
	assert_int_equal(do_set(f, "v", json_integer(5), -1).st, STORE_IO_ERROR);
	do_set(f, "v", json_integer(6), -1);
	assert_item_meta(f, "v", 8, 1, 5);
}

static void test_list_pages(void **state)
{
	struct fx *f = *state;
	struct store_list_opts o = {.prefix = "p/", .limit = 3};
	char key[16];
	json_t *page;
	bool more;
	int seen = 0;

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "p/%02d", i);
		do_set(f, key, json_integer(i), -1);
	}
	do_set(f, "p", json_true(), -1);  /* not under "p/" */
	do_set(f, "q/0", json_true(), -1);
	do {
		page = store_list_page(f->s, &o, &more);
		assert_non_null(page);
		for (size_t i = 0; i < json_array_size(page); i++) {
			snprintf(key, sizeof(key), "p/%02d", seen++);
			assert_string_equal(
			    json_string_value(json_object_get(json_array_get(page, i), "key")), key);
		}
		assert_int_equal(more, seen < 10);
		assert_int_equal(json_array_size(page), seen <= 9 ? 3 : 1);
		snprintf(key, sizeof(key), "p/%02d", seen - 1);
		o.after = key;
		json_decref(page);
	} while (more);
	assert_int_equal(seen, 10);
	/* after need not be a key; keys_only leaves key and revision. */
	o = (struct store_list_opts){.after = "p/055", .keys_only = true};
	page = store_list_page(f->s, &o, &more);
	assert_int_equal(json_array_size(page), 5); /* p/06..p/09, q/0 */
	assert_false(more);
	assert_string_equal(json_string_value(json_object_get(json_array_get(page, 0), "key")),
	                    "p/06");
	assert_int_equal(json_object_size(json_array_get(page, 0)), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(page, 0), "revision")), 7);
	json_decref(page);
}

static struct result do_unset_prefix(struct fx *f, const char *prefix, json_t **ret_keys)
{
	struct result r = {.f = f};

	assert_int_equal(store_unset_prefix(f->s, prefix, done_cb, &r, ret_keys), 0);
	wait_calls(f, &r.calls, 1);
	return r;
}

static void test_unset_prefix_one_revision(void **state)
{
	struct fx *f = *state;
	struct store_stats before, after;
	json_t *keys, *list;
	char p[256];
	off_t size;

	do_set(f, "x/a", json_integer(1), -1);
	do_set(f, "x/b", json_integer(2), -1);
	do_set(f, "x", json_integer(3), -1);
	do_set(f, "y/a", json_integer(4), -1);
	store_get_stats(f->s, &before);
	struct result r = do_unset_prefix(f, "x/", &keys);
	assert_int_equal(r.st, STORE_OK);
	assert_int_equal(r.rev, 5);
	assert_int_equal(json_array_size(keys), 2);
	assert_string_equal(json_string_value(json_array_get(keys, 0)), "x/a");
	assert_string_equal(json_string_value(json_array_get(keys, 1)), "x/b");
	json_decref(keys);
	store_get_stats(f->s, &after);
	assert_int_equal(after.records, before.records + 1); /* one record */
	assert_int_equal(store_revision(f->s), 5);
	assert_null(store_get(f->s, "x/a", NULL));
	assert_int_value(f, "x", 3, 3);
	/* Nothing under it: no change, the current revision. */
	r = do_unset_prefix(f, "x/", &keys);
	assert_int_equal(r.st, STORE_OK);
	assert_int_equal(r.rev, 5);
	assert_int_equal(json_array_size(keys), 0);
	json_decref(keys);
	assert_int_equal(store_revision(f->s), 5);
	fx_reopen(f);
	assert_null(store_get(f->s, "x/b", NULL));
	assert_int_value(f, "y/a", 4, 4);
	assert_int_equal(store_revision(f->s), 5);

	/* A torn batch is dropped whole: none of its unsets happen. */
	r = do_unset_prefix(f, "", &keys); /* x and y/a, revision 6 */
	assert_int_equal(r.rev, 6);
	json_decref(keys);
	store_close(f->s);
	f->s = NULL;
	size = file_size(f, "config.log");
	path_of(f, "config.log", p, sizeof(p));
	assert_int_equal(truncate(p, size - 5), 0);
	fx_open(f);
	assert_int_equal(store_revision(f->s), 5);
	list = store_list(f->s, NULL);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	assert_non_null(strstr(f->log, "dropped a torn last record"));
	/* And compaction after a batch keeps what is left. */
	r = do_unset_prefix(f, "y", &keys);
	json_decref(keys);
	assert_int_equal(store_debug_compact(f->s), 0);
	fx_reopen(f);
	assert_int_value(f, "x", 3, 3);
	assert_null(store_get(f->s, "y/a", NULL));
	assert_int_equal(store_revision(f->s), 6);
}

/* ---- quotas ---- */

static void test_quotas(void **state)
{
	struct fx *f = *state;
	struct result r[3];
	uint64_t items, bytes;
	struct result q;

	store_set_limits(f->s, &(struct store_limits){.max_keys = 3});
	do_set(f, "a", json_integer(1), -1);
	do_set(f, "b", json_integer(2), -1);
	do_set(f, "c", json_integer(3), -1);
	q = do_set(f, "d", json_integer(4), -1);
	assert_int_equal(q.st, STORE_QUOTA);
	assert_int_equal(q.rev, 3);
	assert_string_equal(q.reason, "max_keys");
	assert_null(store_get(f->s, "d", NULL));
	assert_int_equal(store_revision(f->s), 3);
	/* Changing an item adds none; an unset always works and makes room. */
	assert_int_equal(do_set(f, "a", json_integer(10), -1).st, STORE_OK);
	assert_int_equal(do_unset(f, "a", -1).st, STORE_OK);
	assert_int_equal(do_set(f, "d", json_integer(4), -1).st, STORE_OK);
	/* Queued changes count: with the committer held, the second new key is refused. */
	do_unset(f, "d", -1);
	store_debug_pause(f->s, true);
	for (int i = 0; i < 3; i++) {
		json_t *v = json_integer(i);
		char key[8];

		r[i] = (struct result){.f = f};
		snprintf(key, sizeof(key), "n%d", i);
		assert_int_equal(store_set(f->s, key, v, -1, done_cb, &r[i]), 0);
		json_decref(v);
	}
	store_debug_pause(f->s, false);
	for (int i = 0; i < 3; i++)
		wait_calls(f, &r[i].calls, 1);
	assert_int_equal(r[0].st, STORE_OK);
	assert_int_equal(r[1].st, STORE_QUOTA);
	assert_int_equal(r[2].st, STORE_QUOTA);
	store_get_usage(f->s, &items, &bytes);
	assert_int_equal(items, 3); /* b, c, n0 */
	assert_int_equal(bytes, 2 + 2 + 3);

	/* Bytes: keys plus compact values. */
	store_set_limits(f->s, &(struct store_limits){.max_store_bytes = 20});
	q = do_set(f, "big", json_string("0123456789abcdef"), -1); /* 3 + 18 */
	assert_int_equal(q.st, STORE_QUOTA);
	assert_int_equal(q.rev, 20);
	assert_string_equal(q.reason, "max_store_bytes");
	assert_int_equal(do_set(f, "b", json_string("0123456789"), -1).st, STORE_OK); /* 18 */
	assert_int_equal(do_set(f, "c", json_string("012"), -1).st, STORE_QUOTA);   /* 22 */
	store_get_usage(f->s, &items, &bytes);
	assert_int_equal(bytes, 13 + 2 + 3);
	fx_reopen(f); /* counted again from the files */
	store_get_usage(f->s, &items, &bytes);
	assert_int_equal(items, 3);
	assert_int_equal(bytes, 18);
	assert_int_equal(do_unset_prefix(f, "", NULL).st, STORE_OK);
	store_get_usage(f->s, &items, &bytes);
	assert_int_equal(items, 0);
	assert_int_equal(bytes, 0);
}

/* ---- transactions ---- */

struct txn_result {
	struct result r;
	bool succeeded;
	json_t *results; /* the store's text, parsed */
	char *text;      /* and as the store wrote it */
	bool changed[8];
};

static struct txn_result do_txn(struct fx *f, const struct store_txn_cmp *c, size_t nc,
                                const struct store_txn_op *ok, size_t nok,
                                const struct store_txn_op *no, size_t nno)
{
	struct txn_result t = {.r = {.f = f}};
	struct store_txn_results res = {.changed = t.changed};

	assert_true(nok <= 8 && nno <= 8);
	assert_int_equal(store_txn(f->s, c, nc, ok, nok, no, nno, done_cb, &t.r, &t.succeeded,
	                           &res),
	                 0);
	assert_non_null(res.text);
	t.results = json_loadb(res.text, res.len, 0, NULL);
	assert_non_null(t.results);
	t.text = strndup(res.text, res.len);
	free(res.text);
	wait_calls(f, &t.r.calls, 1);
	return t;
}

/* The results exactly as the reply carries them: the compact dump of that array. */
static void assert_results(struct txn_result *t, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);

	assert_non_null(w);
	if (!json_equal(t->results, w) || strcmp(t->text, want) != 0)
		fail_msg("results %s, not %s", t->text, want);
	json_decref(w);
	json_decref(t->results);
	t->results = NULL;
	free(t->text);
	t->text = NULL;
}

/* A get's item longer than the room the results had reserved: the writes after it still fit. */
static void test_txn_long_get(void **state)
{
	struct fx *f = *state;
	char big[3000], want[3400];
	json_t *x = json_string("x");
	struct store_txn_op ops[] = {{STORE_TXN_SET, "t/a", x, NULL, NULL, 0},
	                             {STORE_TXN_GET, "t/big", NULL, NULL, NULL, 0},
	                             {STORE_TXN_SET, "t/b", x, NULL, NULL, 0},
	                             {STORE_TXN_UNSET, "t/none", NULL, NULL, NULL, 0}};
	struct txn_result t;

	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	do_set(f, "t/big", json_string(big), -1); /* 1 */
	t = do_txn(f, NULL, 0, ops, 4, NULL, 0);
	assert_int_equal(t.r.st, STORE_OK);
	snprintf(want, sizeof(want),
	         "[{\"key\":\"t/a\",\"revision\":2},{\"key\":\"t/big\",\"value\":\"%s\","
	         "\"revision\":1,\"create_revision\":1,\"version\":1},{\"key\":\"t/b\","
	         "\"revision\":2},{\"key\":\"t/none\",\"revision\":0}]",
	         big);
	assert_results(&t, want);
	json_decref(x);
}

/* A get of what the transaction set, after the batch being built has grown (and moved). */
static void test_txn_get_own_set(void **state)
{
	struct fx *f = *state;
	char big[3000], want[6400];
	json_t *v = NULL, *x = json_string("x");
	struct store_txn_op ops[] = {{STORE_TXN_SET, "t/a", NULL, NULL, NULL, 0},
	                             {STORE_TXN_SET, "t/b", NULL, NULL, NULL, 0},
	                             {STORE_TXN_SET, "t/c", x, NULL, NULL, 0},
	                             {STORE_TXN_GET, "t/a", NULL, NULL, NULL, 0}};
	struct txn_result t;

	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	v = json_string(big);
	ops[0].value = ops[1].value = v;
	t = do_txn(f, NULL, 0, ops, 4, NULL, 0);
	assert_int_equal(t.r.st, STORE_OK);
	snprintf(want, sizeof(want),
	         "[{\"key\":\"t/a\",\"revision\":1},{\"key\":\"t/b\",\"revision\":1},"
	         "{\"key\":\"t/c\",\"revision\":1},{\"key\":\"t/a\",\"value\":\"%s\","
	         "\"revision\":1,\"create_revision\":1,\"version\":1}]",
	         big);
	assert_results(&t, want);
	assert_int_equal(json_string_length(store_get(f->s, "t/b", NULL)), sizeof(big) - 1);
	json_decref(v);
	json_decref(x);
}

/*
 * Sets that bring their value's text and no value (config.txn's own text
 * of them): recorded as that text, read back by a get of the same
 * transaction, counted by the quota as a dumped value would be, and the
 * same after a restart replays the record.
 */
static void test_txn_set_text(void **state)
{
	struct fx *f = *state;
	json_t *x = json_string("abc");
	struct store_txn_op ops[] = {{STORE_TXN_SET, "t/a", NULL, NULL, "\"abc\"", 5},
	                             {STORE_TXN_SET, "t/b", NULL, NULL, "-12", 3},
	                             {STORE_TXN_SET, "t/c", x, NULL, NULL, 0},
	                             {STORE_TXN_GET, "t/a", NULL, NULL, NULL, 0},
	                             {STORE_TXN_GET, "t/b", NULL, NULL, NULL, 0}};
	struct txn_result t;
	uint64_t rev, items, bytes;

	t = do_txn(f, NULL, 0, ops, 5, NULL, 0);
	assert_int_equal(t.r.st, STORE_OK);
	assert_results(&t, "[{\"key\":\"t/a\",\"revision\":1},{\"key\":\"t/b\",\"revision\":1},"
	                   "{\"key\":\"t/c\",\"revision\":1},{\"key\":\"t/a\",\"value\":\"abc\","
	                   "\"revision\":1,\"create_revision\":1,\"version\":1},{\"key\":\"t/b\","
	                   "\"value\":-12,\"revision\":1,\"create_revision\":1,\"version\":1}]");
	for (int k = 0; k < 2; k++) {
		store_get_usage(f->s, &items, &bytes);
		assert_int_equal(items, 3);
		assert_int_equal(bytes, (3 + 5) + (3 + 3) + (3 + 5));
		assert_string_equal(json_string_value(store_get(f->s, "t/a", &rev)), "abc");
		assert_int_equal(rev, 1);
		assert_int_equal(json_integer_value(store_get(f->s, "t/b", &rev)), -12);
		assert_string_equal(json_string_value(store_get(f->s, "t/c", &rev)), "abc");
		fx_reopen(f);
	}
	/* Neither a value nor its text: not a set. */
	ops[0].vtext = NULL;
	assert_int_equal(store_txn(f->s, NULL, 0, ops, 1, NULL, 0, done_cb, &t.r, &t.succeeded,
	                           NULL),
	                 -EINVAL);
	json_decref(x);
}

/* More ops than store_txn keeps on its stack: sets (of text and of values) and gets of them. */
static void test_txn_many_ops(void **state)
{
	struct fx *f = *state;
	enum { SETS = 20, N = 2 * SETS };
	struct store_txn_op ops[N];
	char keys[SETS][8];
	json_t *vals[SETS];
	struct result r = {.f = f};
	bool changed[N], succeeded;
	struct store_txn_results res = {.changed = changed};
	uint64_t rev;

	for (int i = 0; i < SETS; i++) {
		snprintf(keys[i], sizeof(keys[i]), "t/k%02d", i);
		vals[i] = i % 2 ? json_integer(i) : NULL;
		ops[i] = (struct store_txn_op){.op = STORE_TXN_SET, .key = keys[i], .value = vals[i],
		                               .vtext = i % 2 ? NULL : "\"even\"",
		                               .vlen = i % 2 ? 0 : 6};
		ops[SETS + i] = (struct store_txn_op){.op = STORE_TXN_GET, .key = keys[i]};
	}
	assert_int_equal(store_txn(f->s, NULL, 0, ops, N, NULL, 0, done_cb, &r, &succeeded, &res), 0);
	wait_calls(f, &r.calls, 1);
	assert_int_equal(r.st, STORE_OK);
	json_t *got = json_loadb(res.text, res.len, 0, NULL);
	free(res.text);
	assert_int_equal(json_array_size(got), N);
	for (int i = 0; i < SETS; i++) {
		json_t *item = json_array_get(got, SETS + i);

		assert_true(changed[i]);
		assert_string_equal(json_string_value(json_object_get(item, "key")), keys[i]);
		if (i % 2)
			assert_int_equal(json_integer_value(json_object_get(item, "value")), i);
		else
			assert_string_equal(json_string_value(json_object_get(item, "value")), "even");
	}
	json_decref(got);
	fx_reopen(f);
	for (int i = 0; i < SETS; i++) {
		const json_t *v = store_get(f->s, keys[i], &rev);

		assert_int_equal(rev, 1);
		if (i % 2)
			assert_int_equal(json_integer_value(v), i);
		else
			assert_string_equal(json_string_value(v), "even");
		json_decref(vals[i]);
	}
}

/*
 * A get's item longer than its own room but within what is free (the room
 * of the ops around it): every length, so that one ends exactly at the
 * closing bracket's byte (an ASan build sees a write past the buffer).
 */
static void test_txn_get_fits_free(void **state)
{
	struct fx *f = *state;
	char val[160], want[512];
	json_t *x = json_string("x");
	/* The writes before it leave room unused (a revision's digits take less than reserved). */
	struct store_txn_op ops[] = {{STORE_TXN_SET, "t/a", x, NULL, NULL, 0},
	                             {STORE_TXN_SET, "t/b", x, NULL, NULL, 0},
	                             {STORE_TXN_SET, "t/c", x, NULL, NULL, 0},
	                             {STORE_TXN_GET, "t/k", NULL, NULL, NULL, 0}};
	struct txn_result t;

	for (size_t len = 1; len < sizeof(val); len++) {
		memset(val, 'v', len);
		val[len] = '\0';
		uint64_t rev = do_set(f, "t/k", json_string(val), -1).rev;
		unsigned long long w = (unsigned long long)rev + 1;

		t = do_txn(f, NULL, 0, ops, 4, NULL, 0);
		assert_int_equal(t.r.st, STORE_OK);
		snprintf(want, sizeof(want),
		         "[{\"key\":\"t/a\",\"revision\":%llu},{\"key\":\"t/b\",\"revision\":%llu},"
		         "{\"key\":\"t/c\",\"revision\":%llu},{\"key\":\"t/k\",\"value\":\"%s\","
		         "\"revision\":%llu,\"create_revision\":1,\"version\":%zu}]",
		         w, w, w, val, (unsigned long long)rev, len);
		assert_results(&t, want);
	}
	json_decref(x);
}

static void test_txn(void **state)
{
	struct fx *f = *state;
	struct store_stats before, after;
	json_t *one = json_integer(1), *two = json_integer(2), *x = json_string("x");
	struct store_txn_cmp c[] = {{.key = "t/a", .what = STORE_CMP_VERSION, .num = 1},
	                            {.key = "t/none", .what = STORE_CMP_EXISTS, .exists = false}};
	struct store_txn_op ok[] = {
	    {STORE_TXN_SET, "t/a", two, NULL, NULL, 0},  {STORE_TXN_SET, "t/b", x, NULL, NULL, 0},   {STORE_TXN_UNSET, "t/c", NULL, NULL, NULL, 0},
	    {STORE_TXN_UNSET, "t/z", NULL, NULL, NULL, 0}, {STORE_TXN_GET, "t/a", NULL, NULL, NULL, 0}, {STORE_TXN_GET, "t/c", NULL, NULL, NULL, 0},
	};
	struct store_txn_op no[] = {{STORE_TXN_GET, "t/a", NULL, NULL, NULL, 0}};
	struct txn_result t;
	char p[256];

	do_set(f, "t/a", json_integer(1), -1); /* 1 */
	do_set(f, "t/c", json_integer(3), -1); /* 2 */
	store_get_stats(f->s, &before);
	t = do_txn(f, c, 2, ok, 6, no, 1);
	assert_int_equal(t.r.st, STORE_OK);
	assert_true(t.succeeded);
	assert_int_equal(t.r.rev, 3);
	assert_results(&t, "[{\"key\":\"t/a\",\"revision\":3},{\"key\":\"t/b\",\"revision\":3},"
	                   "{\"key\":\"t/c\",\"revision\":3},{\"key\":\"t/z\",\"revision\":0},"
	                   "{\"key\":\"t/a\",\"value\":2,\"revision\":3,\"create_revision\":1,"
	                   "\"version\":2},null]");
	/* An unset of an absent key changes nothing (no event for it). */
	assert_true(t.changed[0] && t.changed[1] && t.changed[2]);
	assert_false(t.changed[3]);
	store_get_stats(f->s, &after);
	assert_int_equal(after.records, before.records + 1); /* one record, one group */
	assert_int_equal(after.groups, before.groups + 1);
	assert_int_equal(store_revision(f->s), 3);
	assert_int_value(f, "t/a", 2, 3);
	assert_null(store_get(f->s, "t/c", NULL));

	/* The compare fails now (version 2): the failure branch, nothing changes. */
	t = do_txn(f, c, 2, ok, 6, no, 1);
	assert_false(t.succeeded);
	assert_int_equal(t.r.rev, 3);
	assert_results(&t, "[{\"key\":\"t/a\",\"value\":2,\"revision\":3,\"create_revision\":1,"
	                   "\"version\":2}]");
	assert_int_equal(store_revision(f->s), 3);
	/* value and revision compares; no compares at all: success. */
	struct store_txn_cmp cv[] = {{.key = "t/b", .what = STORE_CMP_VALUE, .value = x},
	                             {.key = "t/a", .what = STORE_CMP_REVISION, .num = 3}};
	struct store_txn_op set1[] = {{STORE_TXN_SET, "t/d", one, NULL, NULL, 0}};
	t = do_txn(f, cv, 2, set1, 1, NULL, 0);
	assert_true(t.succeeded);
	assert_int_equal(t.r.rev, 4);
	json_decref(t.results);
	free(t.text);
	fx_reopen(f);
	assert_int_value(f, "t/a", 2, 3);
	assert_int_value(f, "t/d", 1, 4);
	assert_item_meta(f, "t/b", 3, 3, 1);
	assert_null(store_get(f->s, "t/c", NULL));

	/* A torn transaction record is dropped whole. */
	struct store_txn_op many[] = {{STORE_TXN_SET, "t/a", x, NULL, NULL, 0}, {STORE_TXN_SET, "t/e", x, NULL, NULL, 0},
	                              {STORE_TXN_UNSET, "t/d", NULL, NULL, NULL, 0}};
	t = do_txn(f, NULL, 0, many, 3, NULL, 0);
	assert_int_equal(t.r.rev, 5);
	json_decref(t.results);
	free(t.text);
	store_close(f->s);
	f->s = NULL;
	path_of(f, "config.log", p, sizeof(p));
	assert_int_equal(truncate(p, file_size(f, "config.log") - 7), 0);
	fx_open(f);
	assert_int_equal(store_revision(f->s), 4);
	assert_int_value(f, "t/a", 2, 3);
	assert_null(store_get(f->s, "t/e", NULL));
	assert_int_value(f, "t/d", 1, 4);
	/* Over a quota: the whole transaction, nothing of it. */
	store_set_limits(f->s, &(struct store_limits){.max_keys = 4});
	t = do_txn(f, NULL, 0, many, 3, NULL, 0); /* +1 -1: stays at 3 */
	assert_int_equal(t.r.st, STORE_OK);
	json_decref(t.results);
	free(t.text);
	struct store_txn_op two_new[] = {{STORE_TXN_SET, "t/f", x, NULL, NULL, 0}, {STORE_TXN_SET, "t/g", x, NULL, NULL, 0}};
	t = do_txn(f, NULL, 0, two_new, 2, NULL, 0);
	assert_int_equal(t.r.st, STORE_QUOTA);
	assert_string_equal(t.r.reason, "max_keys");
	json_decref(t.results);
	free(t.text);
	assert_null(store_get(f->s, "t/f", NULL));
	/* Compaction keeps what transactions made. */
	assert_int_equal(store_debug_compact(f->s), 0);
	fx_reopen(f);
	assert_item_meta(f, "t/a", 5, 1, 3);
	assert_item_meta(f, "t/e", 5, 5, 1);
	json_decref(one);
	json_decref(two);
	json_decref(x);
}

/* ---- damage that is not a torn last record ---- */

/* Flip one byte of the log at off (the store closed). */
static struct result do_set_owned(struct fx *f, const char *key, json_t *value,
                                  const struct store_owner *owner)
{
	struct result r = {.f = f};

	assert_int_equal(store_set_owned(f->s, key, value, -1, owner, done_cb, &r), 0);
	json_decref(value);
	wait_calls(f, &r.calls, 1);
	return r;
}

static struct result do_unset_owner(struct fx *f, uint64_t id, json_t **ret_keys)
{
	struct result r = {.f = f};

	assert_int_equal(store_unset_owner(f->s, id, done_cb, &r, ret_keys), 0);
	wait_calls(f, &r.calls, 1);
	return r;
}

/*
 * A snapshot is written from the map (store.c, "Compaction"): with changes
 * queued meanwhile, what it holds and what the log adds after it come back
 * whole, versions and create_revisions included; an ephemeral item in it
 * is gone after the restart.
 */
static void test_compaction_with_changes_queued(void **state)
{
	struct fx *f = *state;
	const struct store_owner owner = {.id = 7, .uid = 1, .pid = 2};
	struct result r[3] = {{.f = f}, {.f = f}, {.f = f}};
	json_t *v = json_string("ten");
	const char *item;
	size_t len;
	int err;

	do_set(f, "a", json_integer(1), -1);              /* rev 1 */
	do_set(f, "b", json_integer(2), -1);              /* rev 2 */
	do_set_owned(f, "c", json_integer(3), &owner);    /* rev 3 */
	store_debug_inline(f->s, false);
	assert_int_equal(store_set(f->s, "a", v, -1, done_cb, &r[0]), 0); /* rev 4 */
	assert_int_equal(store_unset(f->s, "b", -1, done_cb, &r[1]), 0);  /* rev 5 */
	assert_int_equal(store_set(f->s, "d", v, -1, done_cb, &r[2]), 0); /* rev 6 */
	json_decref(v);
	assert_int_equal(store_debug_compact(f->s), 0);
	wait_calls(f, &r[2].calls, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i].st, STORE_OK);
	item = store_get_item(f->s, "a", &len, &err);
	assert_string_equal(item, "{\"key\":\"a\",\"value\":\"ten\",\"revision\":4,"
	                          "\"create_revision\":1,\"version\":2}");
	item = store_get_item(f->s, "c", &len, &err);
	assert_string_equal(item, "{\"key\":\"c\",\"value\":3,\"revision\":3,"
	                          "\"create_revision\":3,\"version\":1,\"ephemeral\":true,"
	                          "\"owner\":{\"id\":7,\"uid\":1,\"pid\":2}}");
	fx_reopen(f);
	item = store_get_item(f->s, "a", &len, &err);
	assert_string_equal(item, "{\"key\":\"a\",\"value\":\"ten\",\"revision\":4,"
	                          "\"create_revision\":1,\"version\":2}");
	assert_null(store_get(f->s, "b", NULL));
	assert_null(store_get(f->s, "c", NULL)); /* ephemeral: removed at open, as revision 7 */
	assert_string_equal(json_string_value(store_get(f->s, "d", NULL)), "ten");
	assert_int_equal(store_revision(f->s), 7);
	/* And once more from a snapshot of this state alone. */
	assert_int_equal(store_debug_compact(f->s), 0);
	fx_reopen(f);
	item = store_get_item(f->s, "d", &len, &err);
	assert_string_equal(item, "{\"key\":\"d\",\"value\":\"ten\",\"revision\":6,"
	                          "\"create_revision\":6,\"version\":1}");
	assert_int_equal(store_revision(f->s), 7);
}


static void assert_item_text(struct fx *f, const char *key, const char *want)
{
	size_t len;
	int err;
	const char *item = store_get_item(f->s, key, &len, &err);

	assert_int_equal(err, 0);
	assert_string_equal(item, want);
}

/*
 * Ephemeral items: the owner in the item, an ordinary set takes it over,
 * store_unset_owner removes only the owner's as one revision; what is left
 * ephemeral is removed at the next open, from the log and from a snapshot,
 * as a revision of its own.
 */
static void test_ephemeral(void **state)
{
	struct fx *f = *state;
	struct store_owner a = {.id = 7, .uid = 1000, .pid = 42}, b = {.id = 8, .uid = 0, .pid = 1};
	struct store_stats st;
	json_t *keys, *one = json_integer(1);
	struct store_txn_op ops[] = {{STORE_TXN_SET, "t", one, &a, NULL, 0}};
	struct txn_result t;

	assert_int_equal(do_set_owned(f, "a", json_integer(1), &a).rev, 1);
	assert_item_text(f, "a",
	                 "{\"key\":\"a\",\"value\":1,\"revision\":1,\"create_revision\":1,\"version\":1,"
	                 "\"ephemeral\":true,\"owner\":{\"id\":7,\"uid\":1000,\"pid\":42}}");
	do_set_owned(f, "b", json_integer(2), &a);          /* 2 */
	do_set_owned(f, "c", json_integer(3), &a);          /* 3 */
	do_set(f, "b", json_integer(20), -1);               /* 4: ordinary now */
	assert_item_text(f, "b",
	                 "{\"key\":\"b\",\"value\":20,\"revision\":4,\"create_revision\":2,"
	                 "\"version\":2}");
	do_set_owned(f, "c", json_integer(30), &b);         /* 5: b's now */
	t = do_txn(f, NULL, 0, ops, 1, NULL, 0);            /* 6 */
	assert_int_equal(t.r.rev, 6);
	json_decref(t.results);
	free(t.text);
	assert_item_text(f, "t",
	                 "{\"key\":\"t\",\"value\":1,\"revision\":6,\"create_revision\":6,\"version\":1,"
	                 "\"ephemeral\":true,\"owner\":{\"id\":7,\"uid\":1000,\"pid\":42}}");
	/* a's: "a" and "t", one revision. */
	struct result r = do_unset_owner(f, 7, &keys);
	assert_int_equal(r.st, STORE_OK);
	assert_int_equal(r.rev, 7);
	char *text = json_dumps(keys, JSON_COMPACT);
	assert_string_equal(text, "[\"a\",\"t\"]");
	free(text);
	json_decref(keys);
	assert_null(store_get(f->s, "a", NULL));
	assert_null(store_get(f->s, "t", NULL));
	/* Nothing left for a: no change. */
	r = do_unset_owner(f, 7, NULL);
	assert_int_equal(r.rev, 7);
	assert_int_equal(store_revision(f->s), 7);

	/* "c" is still ephemeral: gone after a reopen, at revision 8 (from the log). */
	fx_reopen(f);
	assert_null(store_get(f->s, "c", NULL));
	assert_non_null(store_get(f->s, "b", NULL));
	assert_int_equal(store_revision(f->s), 8);
	store_get_stats(f->s, &st);
	assert_int_equal(st.ephemeral_removed, 1);
	assert_non_null(strstr(f->log, "removed 1 ephemeral item(s) left from before the restart, "
	                                "as revision 8"));
	/* From a snapshot too, and the removal itself is durable. */
	do_set_owned(f, "d", json_integer(4), &b);          /* 9 */
	assert_int_equal(store_debug_compact(f->s), 0);
	fx_reopen(f);
	assert_null(store_get(f->s, "d", NULL));
	assert_int_equal(store_revision(f->s), 10);
	fx_reopen(f);
	assert_int_equal(store_revision(f->s), 10);
	store_get_stats(f->s, &st);
	assert_int_equal(st.ephemeral_removed, 0);
	/* A failed ephemeral set leaves the item what it was (ordinary). */
	store_debug_fail_next_write(f->s, EIO);
	assert_int_equal(do_set_owned(f, "b", json_integer(5), &a).st, STORE_IO_ERROR);
	r = do_unset_owner(f, 7, &keys);
	assert_int_equal(json_array_size(keys), 0);
	json_decref(keys);
	assert_non_null(store_get(f->s, "b", NULL));
	json_decref(one);
}

static void flip_byte(const struct fx *f, off_t off)
{
	char p[256];
	unsigned char byte;
	int fd;

	path_of(f, "config.log", p, sizeof(p));
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, off), 1);
	byte ^= 0x20;
	assert_int_equal(pwrite(fd, &byte, 1, off), 1);
	close(fd);
}

static void read_whole(const char *path, char **ret, size_t *ret_len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = malloc(1 << 20);
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, 1 << 20, fp);
	fclose(fp);
	*ret = buf;
	*ret_len = n;
}

/* The 50 sets of issue 16: k/00..k/49 = 0..49, revisions 1..50; the log's bytes. */
static void fifty_sets(struct fx *f, char **ret_log, size_t *ret_len)
{
	char key[16], p[256];

	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "k/%02d", i);
		assert_int_equal(do_set(f, key, json_integer(i), -1).rev, (uint64_t)i + 1);
	}
	store_close(f->s);
	f->s = NULL;
	path_of(f, "config.log", p, sizeof(p));
	read_whole(p, ret_log, ret_len);
}

/* Record i of fifty_sets starts here: 36 of header (SET2) + 4 + the value's digits each. */
static size_t fifty_offset(int i)
{
	size_t off = 0;

	for (int k = 0; k < i; k++)
		off += 40 + (k < 10 ? 1 : 2);
	return off;
}

/* The record of fifty_sets that holds byte off. */
static int fifty_record_at(size_t off)
{
	int i = 0;

	while (fifty_offset(i + 1) <= off)
		i++;
	return i;
}

static void assert_open_refused(struct fx *f, const char *want)
{
	char err[1024] = "";
	struct store *s2 = NULL;

	assert_int_equal(store_open(f->dir, f->base, NULL, &s2, err, sizeof(err)), -EBADMSG);
	assert_null(s2);
	if (!strstr(err, want))
		fail_msg("store_open said \"%s\", not \"%s\"", err, want);
}

/*
 * One byte changed in the middle of the log (issue 16: offset 166 after 50
 * acknowledged sets): the start is refused, naming the file and offset, and
 * nothing is cut; --repair keeps the other 49 and moves the damaged record
 * aside; the revision counter does not go back.
 */
static void test_damage_mid_log_refuses_then_repair(void **state)
{
	struct fx *f = *state;
	struct store_repair_result res;
	struct store_options opt = fx_options(f);
	char *before, *after, *dam, want[512], err[512] = "", p[256];
	size_t blen, alen, dlen;
	int hit = fifty_record_at(166);
	size_t at = fifty_offset(hit);
	char hitkey[16];
	json_t *list;

	fifty_sets(f, &before, &blen);
	flip_byte(f, 166);
	snprintf(want, sizeof(want),
	         "%s/config.log is damaged at offset %zu (bytes that are not a whole record, "
	         "readable again at offset %zu); the records after it were acknowledged",
	         f->dir, at, fifty_offset(hit + 1));
	assert_open_refused(f, want);
	assert_open_refused(f, "run 'udsrpcd --repair -S ");
	/* Refusing touched nothing: same size, only the byte we changed differs. */
	path_of(f, "config.log", p, sizeof(p));
	read_whole(p, &after, &alen);
	assert_int_equal(alen, blen);
	assert_int_equal(after[166] ^ before[166], 0x20);
	after[166] = before[166];
	assert_memory_equal(after, before, blen);
	free(after);

	assert_int_equal(store_repair(f->dir, &opt, &res, err, sizeof(err)), 0);
	assert_int_equal(res.kept_records, 49);
	assert_int_equal(res.lost_records, 1);
	assert_int_equal(res.lost_bytes, fifty_offset(hit + 1) - at);
	assert_int_equal(res.revision, 50);
	snprintf(want, sizeof(want), "%s/config.log.damaged-", f->dir);
	assert_memory_equal(res.damaged_path, want, strlen(want));
	/* The set-aside file holds exactly the damaged record's bytes. */
	read_whole(res.damaged_path, &dam, &dlen);
	assert_int_equal(dlen, res.lost_bytes);
	before[166] ^= 0x20;
	assert_memory_equal(dam, before + at, dlen);
	free(dam);
	free(before);
	assert_int_equal(file_size(f, "config.log"), 0);

	fx_open(f);
	assert_int_equal(store_revision(f->s), 50);
	list = store_list(f->s, NULL);
	assert_int_equal(json_array_size(list), 49);
	json_decref(list);
	snprintf(hitkey, sizeof(hitkey), "k/%02d", hit);
	assert_null(store_get(f->s, hitkey, NULL));
	assert_int_value(f, "k/49", 49, 50);
	assert_int_equal(do_set(f, hitkey, json_integer(hit), 0).rev, 51);
	fx_reopen(f);
	assert_int_value(f, hitkey, hit, 51);
	assert_null(strstr(f->log, "torn"));
}

/* A length field changed: framing is lost, and the next record is found by its checksum. */
static void test_damage_in_length_field(void **state)
{
	struct fx *f = *state;
	struct store_repair_result res;
	struct store_options opt = fx_options(f);
	char *log, want[512], err[512] = "";
	size_t len;

	fifty_sets(f, &log, &len);
	free(log);
	flip_byte(f, (off_t)fifty_offset(20) + 1); /* 42 -> 42 + 8192 */
	snprintf(want, sizeof(want), "config.log is damaged at offset %zu (", fifty_offset(20));
	assert_open_refused(f, want);
	assert_int_equal(store_repair(f->dir, &opt, &res, err, sizeof(err)), 0);
	assert_int_equal(res.kept_records, 49);
	assert_int_equal(res.lost_records, 1);
	fx_open(f);
	assert_null(store_get(f->s, "k/20", NULL));
	assert_int_value(f, "k/21", 21, 22);
}

/* Whole records that are wrong: a stale copy, a value that is not JSON. */
static void test_damage_whole_bad_records(void **state)
{
	struct fx *f = *state;
	struct store_repair_result res;
	struct store_options opt = fx_options(f);
	unsigned char rec[64];
	char *log, err[512] = "";
	size_t len;

	fifty_sets(f, &log, &len);
	/* Record 3 again at the end: whole, checksum good, out of sequence. */
	append_bytes(f, "config.log", log + fifty_offset(3), fifty_offset(4) - fifty_offset(3));
	free(log);
	snprintf(err, sizeof(err), "is damaged at offset %zu (a record out of sequence)",
	         fifty_offset(50));
	assert_open_refused(f, err);
	assert_int_equal(store_repair(f->dir, &opt, &res, err, sizeof(err)), 0);
	assert_int_equal(res.kept_records, 50);
	assert_int_equal(res.lost_records, 1);
	assert_int_equal(res.lost_bytes, 41);

	/* A record in sequence whose value does not parse, last in the log. */
	memcpy(rec + STORE_REC_HDR, "bad{", 4);
	store_rec_seal(rec, STORE_REC_HDR + 4, 51, STORE_OP_SET, 3, 0, 0);
	append_bytes(f, "config.log", rec, STORE_REC_HDR + 4);
	assert_open_refused(f, "is damaged at offset 0 (a record whose value is not JSON)");
	assert_int_equal(store_repair(f->dir, &opt, &res, err, sizeof(err)), 0);
	assert_int_equal(res.kept_records, 0);
	assert_int_equal(res.lost_records, 1);
	fx_open(f);
	assert_int_equal(store_revision(f->s), 50);
	assert_null(store_get(f->s, "bad", NULL));
}

/* Repair of a sound dir changes nothing that matters; a torn tail is set aside. */
static void test_repair_sound_and_torn(void **state)
{
	struct fx *f = *state;
	struct store_repair_result res;
	struct store_options opt = fx_options(f);
	char p[256], err[512] = "";
	struct store *s2 = NULL;

	do_set(f, "a", json_integer(1), -1);
	do_set(f, "b", json_integer(2), -1);
	/* Not while the store is open. */
	assert_int_equal(store_repair(f->dir, &opt, &res, err, sizeof(err)), -EBUSY);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_repair(f->dir, &opt, &res, err, sizeof(err)), 0);
	assert_int_equal(res.kept_records, 2);
	assert_int_equal(res.lost_records, 0);
	assert_int_equal(res.lost_bytes, 0);
	assert_string_equal(res.damaged_path, "");
	fx_open(f);
	assert_int_value(f, "a", 1, 1);
	do_set(f, "c", json_string("cut short"), -1);
	store_close(f->s);
	f->s = NULL;
	path_of(f, "config.log", p, sizeof(p));
	assert_int_equal(truncate(p, file_size(f, "config.log") - 2), 0);
	assert_int_equal(store_repair(f->dir, &opt, &res, err, sizeof(err)), 0);
	assert_int_equal(res.kept_records, 0);
	assert_int_equal(res.lost_records, 1);
	assert_int_equal(res.lost_bytes, 36 + 1 + 11 - 2);
	assert_int_equal(res.revision, 2);
	/* A state dir that is not there is an error, not created. */
	join_path(p, sizeof(p), f->dir, "missing");
	assert_int_equal(store_repair(p, &opt, &res, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open state directory"));
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(store_open(f->dir, f->base, NULL, &s2, err, sizeof(err)), 0);
	assert_null(store_get(s2, "c", NULL));
	assert_int_value(&(struct fx){.s = s2}, "b", 2, 2);
	store_close(s2);
	fx_open(f);
}

/* A compaction that fails is reported at error level, and the log stays whole. */
static void test_compaction_failure_logged(void **state)
{
	struct fx *f = *state;
	char p[256], want[300];

	do_set(f, "c", json_integer(1), -1);
	/* A directory where the temp snapshot goes: creating it fails (EISDIR). */
	path_of(f, "config.snap.tmp", p, sizeof(p));
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(store_debug_compact(f->s), -EISDIR);
	/* Reported by the loop, when it next processes completions. */
	do_set(f, "c", json_integer(2), -1);
	snprintf(want, sizeof(want),
	         "3 %s: compaction failed: create config.snap.tmp: Is a directory; config.log "
	         "stays whole",
	         f->dir);
	if (!strstr(f->log, want))
		fail_msg("log: %s", f->log);
	assert_int_equal(rmdir(p), 0);
	fx_reopen(f);
	assert_int_value(f, "c", 2, 2);
}

/*
 * tests/data/statedir-v1: the files release 1's udsrpcd left (its README
 * lists the changes). Every later format must still read them, values and
 * revisions exactly. Opened from a copy: recovery may rewrite the log.
 */
static void test_statedir_v1(void **state)
{
	/*
	 * create_revision and version as release 1's records imply them: a
	 * snapshot record is its own creation (version 1), each later set of
	 * the key in the log one more version, a set after an unset anew.
	 */
	static const struct {
		const char *key, *value;
		uint64_t rev, create, version;
	} want[] = {
	    {"app/name", "\"udsrpcd\"", 8, 1, 2},
	    {"app/nested", "{\"a\":[1,2.5,{\"b\":null}],\"s\":\"h\u00e9llo\\tworld\"}", 3, 3, 1},
	    {"app/ratio", "1e300", 11, 11, 1},
	    {"counter", "9007199254740993", 9, 9, 1},
	    {"list/a", "true", 12, 12, 1},
	    {"list/b", "null", 13, 13, 1},
	    {"neg", "-42", 14, 14, 1},
	};
	struct fx *f = *state;
	char from[512], to[256];
	json_t *list;

	store_close(f->s);
	f->s = NULL;
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "config.log" : "config.snap";

		snprintf(from, sizeof(from), "%s/statedir-v1/%s", UDSRPC_TEST_DATA, name);
		path_of(f, name, to, sizeof(to));
		copy_path(from, to);
	}
	for (int round = 0; round < 2; round++) {
		fx_open(f);
		assert_int_equal(store_revision(f->s), round == 0 ? 14 : 16);
		list = store_list(f->s, NULL);
		assert_int_equal(json_array_size(list), sizeof(want) / sizeof(want[0]));
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			json_t *item = json_array_get(list, i);
			json_t *v = json_loads(want[i].value, JSON_DECODE_ANY, NULL);

			assert_non_null(v);
			assert_string_equal(json_string_value(json_object_get(item, "key")),
			                    want[i].key);
			assert_true(json_equal(json_object_get(item, "value"), v));
			assert_int_equal(json_integer_value(json_object_get(item, "revision")),
			                 want[i].rev);
			assert_int_equal(json_integer_value(json_object_get(item, "create_revision")),
			                 want[i].create);
			assert_int_equal(json_integer_value(json_object_get(item, "version")),
			                 want[i].version);
			json_decref(v);
		}
		json_decref(list);
		assert_null(store_get(f->s, "gone", NULL));
		assert_null(store_get(f->s, "pad", NULL));
		if (round == 0) {
			/* It stays writable, and what it held survives the next open. */
			assert_int_equal(do_set(f, "after", json_integer(1), -1).rev, 15);
			assert_int_equal(do_unset(f, "after", -1).rev, 16);
			/* Written back in today's format, it keeps what it derived. */
			assert_int_equal(store_debug_compact(f->s), 0);
		}
		store_close(f->s);
		f->s = NULL;
	}
	fx_open(f); /* for teardown */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c),
	    cmocka_unit_test(test_record_codec),
	    cmocka_unit_test(test_record_codec_v2),
	    cmocka_unit_test(test_record_codec_ephemeral),
	    cmocka_unit_test(test_tree_balanced_and_ordered),
	    cmocka_unit_test(test_key_valid),
	    cmocka_unit_test_setup_teardown(test_invalid_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_get_unset_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_revision_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cas, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cas_sees_queued_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_callback_chains, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_flushes_queued, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_same_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_torn_last_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_garbage_appended, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_zero_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_empty_log_and_new_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_plus_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compaction_keeps_revision, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compaction_with_changes_queued, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compaction_by_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_tmp_is_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_older_than_snapshot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_snapshot_refuses_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_not_matching_snapshot_refuses_open, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_second_open_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_failure_alone_and_repeated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_early, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_early_not_in_big_groups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inline_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_values_of_every_type, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damage_mid_log_refuses_then_repair, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_damage_in_length_field, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damage_whole_bad_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_repair_sound_and_torn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compaction_failure_logged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_versions_survive_log_and_snapshot, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unset_prefix_one_revision, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quotas, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txn_get_fits_free, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txn_long_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txn_get_own_set, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txn_set_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txn_many_ops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ephemeral, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_statedir_v1, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
