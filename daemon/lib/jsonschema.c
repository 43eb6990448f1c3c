/* jsonschema.c — validates jansson values against the JSON Schema subset of schema/README.md. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "jsonnum.h"

/*
 * $ref, anyOf and oneOf apply another schema to the same value. A chain of
 * them longer than this without stepping into a member or an item can only
 * be a loop ({"$ref": "#"} inside its own root), which would otherwise
 * recurse until the stack runs out.
 */
#define SAME_VALUE_DEPTH_MAX 64

/* Member names quoted in a reason are cut here: a reply must not echo a megabyte key back. */
#define NAME_IN_REASON_MAX 128

/* ---- JSON helpers ---- */

/* jansson's iteration macros take a non-const object; validation never modifies one. */
#define OBJECT_FOREACH(obj, it)                                                                    \
	for (void *it = json_object_iter((json_t *)(obj)); it;                                     \
	     it = json_object_iter_next((json_t *)(obj), it))

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

static bool is_type_name(const char *name)
{
	static const char *const names[] = {"null",   "boolean", "object", "array",
	                                    "number", "integer", "string"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Numbers compare by value (1 equals 1.0), as JSON Schema's enum and const do. */
static bool values_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) ==
		           0;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!values_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return false;
		OBJECT_FOREACH(a, it)
		{
			const json_t *other = json_object_getn(b, json_object_iter_key(it),
			                                       json_object_iter_key_len(it));
			if (!other || !values_equal(json_object_iter_value(it), other))
				return false;
		}
		return true;
	default:
		return true; /* true, false, null: equal type is equal value */
	}
}

/* -1, 0, 1 as a is below, equal to or above b; exact for two integers. */
static int number_cmp(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);
		return (x > y) - (x < y);
	}
	double x = json_number_value(a), y = json_number_value(b);
	return (x > y) - (x < y);
}

static size_t utf8_codepoints(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* Length of the longest prefix of s[0..len) that does not end inside a UTF-8 sequence. */
static size_t utf8_boundary(const char *s, size_t len)
{
	size_t i = len;
	while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return len;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	return len - (i - 1) >= need ? len : i - 1;
}

/*
 * Cut a NUL-terminated buffer that snprintf may have truncated so that it
 * stays valid UTF-8: the reason and path end up in a JSON string, and
 * json_string() refuses a broken sequence.
 */
static void utf8_fix_tail(char *buf)
{
	size_t len = strlen(buf);
	buf[utf8_boundary(buf, len)] = '\0';
}

/* ---- growing text in a caller's fixed buffer ---- */

/*
 * The JSON Pointer of the value being validated. pos is the logical length;
 * bytes past the buffer are dropped but counted, so popping back to an
 * earlier length stays right, and buf[0..pos) always holds the current
 * pointer (pushing writes at pos, popping only moves pos back).
 */
struct ptr {
	char *buf;
	size_t cap;
	size_t pos;
};

static void ptr_putc(struct ptr *p, char c)
{
	if (p->cap > 0 && p->pos < p->cap - 1)
		p->buf[p->pos] = c;
	p->pos++;
}

static void ptr_puts(struct ptr *p, const char *s)
{
	while (*s)
		ptr_putc(p, *s++);
}

/*
 * RFC 6901 escapes '~' as "~0" and '/' as "~1". A NUL inside a member name
 * cannot travel in a C string; it is written as the six characters \u0000.
 */
static size_t ptr_push_key(struct ptr *p, const char *key, size_t len)
{
	size_t old = p->pos;
	if (!p->buf)
		return old; /* not tracking */
	ptr_putc(p, '/');
	for (size_t i = 0; i < len; i++) {
		if (key[i] == '~')
			ptr_puts(p, "~0");
		else if (key[i] == '/')
			ptr_puts(p, "~1");
		else if (key[i] == '\0')
			ptr_puts(p, "\\u0000");
		else
			ptr_putc(p, key[i]);
	}
	return old;
}

static size_t ptr_push_index(struct ptr *p, size_t index)
{
	char num[24];
	size_t old = p->pos;
	if (!p->buf)
		return old;
	snprintf(num, sizeof(num), "/%zu", index);
	ptr_puts(p, num);
	return old;
}

static void ptr_pop(struct ptr *p, size_t old)
{
	p->pos = old;
}

/* Terminate at the current pointer; the buffer then reads as that pointer. */
static void ptr_seal(struct ptr *p)
{
	if (p->cap == 0)
		return;
	p->buf[p->pos < p->cap - 1 ? p->pos : p->cap - 1] = '\0';
	utf8_fix_tail(p->buf);
}

/* ---- $ref ---- */

/*
 * Resolve "#" or "#/a/b" (a JSON Pointer inside a URI fragment: %XX is
 * decoded first, then ~1 and ~0) against root. NULL when it does not resolve.
 */
static const json_t *resolve_ref(const json_t *root, const char *ref)
{
	if (ref[0] != '#')
		return NULL;
	const json_t *cur = root;
	const char *p = ref + 1;
	if (*p == '\0')
		return cur;
	if (*p != '/')
		return NULL;
	char tok[512];
	while (*p == '/') {
		size_t n = 0;
		p++;
		for (; *p && *p != '/'; p++) {
			char ch = *p;
			if (ch == '%') {
				if (!isxdigit((unsigned char)p[1]) ||
				    !isxdigit((unsigned char)p[2]))
					return NULL;
				char hex[3] = {p[1], p[2], '\0'};
				ch = (char)strtol(hex, NULL, 16);
				p += 2;
			} else if (ch == '~') {
				if (p[1] == '0')
					ch = '~';
				else if (p[1] == '1')
					ch = '/';
				else
					return NULL;
				p++;
			}
			if (n + 1 >= sizeof(tok))
				return NULL;
			tok[n++] = ch;
		}
		tok[n] = '\0';
		if (json_is_object(cur)) {
			cur = json_object_getn(cur, tok, n);
		} else if (json_is_array(cur)) {
			char *end;
			if (n == 0 || (tok[0] == '0' && n > 1) || tok[0] < '0' || tok[0] > '9')
				return NULL;
			unsigned long long i = strtoull(tok, &end, 10);
			if (*end != '\0' || i >= json_array_size(cur))
				return NULL;
			cur = json_array_get(cur, (size_t)i);
		} else {
			return NULL;
		}
		if (!cur)
			return NULL;
	}
	return cur;
}

/* ---- compiling ---- */

/*
 * A schema is compiled once into nodes that hold what validation asks for:
 * the keywords already looked up, $ref already resolved, patterns already
 * compiled, type names as a bit mask. Validating a request is then a walk of
 * pointers instead of a dozen hash lookups per schema object. Keywords keep
 * their JSON (borrowed from the documents) for the messages that quote them.
 * What is malformed is remembered and reported when validation reaches it,
 * exactly where the interpreter used to: a schema that jsonschema_check
 * refuses still validates everything its sound parts can decide.
 */
enum {
	T_NULL = 1 << 0,
	T_BOOL = 1 << 1,
	T_INT = 1 << 2,
	T_REAL = 1 << 3,
	T_STR = 1 << 4,
	T_ARR = 1 << 5,
	T_OBJ = 1 << 6,
};

enum node_kind { N_TRUE, N_FALSE, N_OBJECT, N_NOT_SCHEMA };

struct node;

struct prop {
	const char *name;
	size_t len;
	struct node *node;
	/*
	 * What node amounts to: past a chain of schemas that are only a $ref
	 * (Key's {"$ref": ConfigKey}, ConfigValue's annotations), with the
	 * same-value depth the chain took. Validating eff at eff_same is the
	 * walk through the chain, without it (jsonschema_compile sets it).
	 */
	const struct node *eff;
	unsigned eff_same;
	bool required;
};

struct alts {
	const json_t *json; /* NULL: the keyword is absent */
	struct node **nodes;
	size_t n;
};

/*
 * "^[set]{min,max}$" and its '*' '+' '{m}' '{m,}' forms — what key and name
 * patterns look like — decided by a table instead of regexec. Only sets of
 * letters, digits, and printable punctuation other than \ [ ] ^ are taken,
 * ranges only within digits, lower or upper case: in the C locale regexec
 * reads exactly those the same way, and the test suite compares the two.
 */
struct charset {
	bool on;
	uint8_t bits[32];
	size_t min, max;
};

struct node {
	enum node_kind kind;
	struct node *next; /* every node of a compiler, for freeing */
	const json_t *schema;

	const json_t *ref;     /* the $ref text (any JSON: a non-string is reported) */
	struct node *ref_node; /* NULL: ref does not resolve */
	const json_t *type;    /* as written, for messages */
	unsigned type_mask;    /* types it admits */
	const char *type_broken;
	const json_t *enum_values, *const_value, *minimum, *maximum;
	const json_t *min_length, *max_length, *min_items, *max_items;
	size_t min_length_v, max_length_v; /* theirs, as check_count reads them */
	const json_t *pattern;
	int pattern_err; /* 0, or -EBADMSG / -ENOMEM from regcomp */
	char pattern_msg[128];
	bool pattern_compiled;
	regex_t re;
	struct charset fast;
	struct node *items;
	struct prop *props;
	size_t n_props;
	struct node *addl; /* NULL: absent */
	const json_t *required;
	/* Every required name is a property: seeing that many of them proves none is missing. */
	bool required_counted;
	size_t n_required;
	struct alts any_of, one_of;
};

struct jsonschema {
	const json_t *root;
	struct node *nodes;
	/* Open addressing, schema object -> node: $ref cycles and shared definitions compile once.
	 */
	struct node **slots;
	size_t cap, used;
};

static struct node node_true = {.kind = N_TRUE};
static struct node node_false = {.kind = N_FALSE};

static size_t slot_of(const struct jsonschema *js, const json_t *schema)
{
	uintptr_t h = (uintptr_t)schema;
	h ^= h >> 17;
	h *= 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 7) & (js->cap - 1);
}

static struct node *memo_find(const struct jsonschema *js, const json_t *schema)
{
	if (js->cap == 0)
		return NULL;
	for (size_t i = slot_of(js, schema);; i = (i + 1) & (js->cap - 1)) {
		if (!js->slots[i])
			return NULL;
		if (js->slots[i]->schema == schema)
			return js->slots[i];
	}
}

static int memo_add(struct jsonschema *js, struct node *n)
{
	if ((js->used + 1) * 2 > js->cap) {
		size_t cap = js->cap ? js->cap * 2 : 64;
		struct node **old = js->slots;
		size_t oldcap = js->cap;
		js->slots = calloc(cap, sizeof(*js->slots));
		if (!js->slots) {
			js->slots = old;
			return -ENOMEM;
		}
		js->cap = cap;
		for (size_t k = 0; k < oldcap; k++) {
			if (!old[k])
				continue;
			size_t i = slot_of(js, old[k]->schema);
			while (js->slots[i])
				i = (i + 1) & (cap - 1);
			js->slots[i] = old[k];
		}
		free(old);
	}
	size_t i = slot_of(js, n->schema);
	while (js->slots[i])
		i = (i + 1) & (js->cap - 1);
	js->slots[i] = n;
	js->used++;
	return 0;
}

/*
 * "integer" is a JSON number written without fraction or exponent (a
 * jansson integer). JSON Schema would also call 1.0 an integer, but handlers
 * read such members with json_integer_value(), which gives 0 for a real:
 * accepting 1.0 here would hand them a value they misread.
 */
static unsigned type_bits(const char *name)
{
	static const struct {
		const char *name;
		unsigned bits;
	} types[] = {{"null", T_NULL},           {"boolean", T_BOOL}, {"integer", T_INT},
	             {"number", T_INT | T_REAL}, {"string", T_STR},   {"array", T_ARR},
	             {"object", T_OBJ}};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(name, types[i].name) == 0)
			return types[i].bits;
	return 0; /* an unknown name admits nothing, as its message will say */
}

static unsigned inst_bit(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return T_OBJ;
	case JSON_ARRAY:
		return T_ARR;
	case JSON_STRING:
		return T_STR;
	case JSON_INTEGER:
		return T_INT;
	case JSON_REAL:
		return T_REAL;
	case JSON_TRUE:
	case JSON_FALSE:
		return T_BOOL;
	case JSON_NULL:
		return T_NULL;
	}
	return 0;
}

static void compile_type(struct node *n, const json_t *type)
{
	size_t i;
	const json_t *t;

	n->type = type;
	if (json_is_string(type)) {
		n->type_mask = type_bits(json_string_value(type));
		return;
	}
	if (!json_is_array(type)) {
		n->type_broken = "'type' is neither a type name nor an array";
		return;
	}
	json_array_foreach(type, i, t)
	{
		if (!json_is_string(t)) {
			n->type_broken = "'type' lists something that is not a type name";
			return;
		}
		n->type_mask |= type_bits(json_string_value(t));
	}
}

static bool charset_class_char(char ch)
{
	return ch > 0x20 && ch < 0x7f && ch != '\\' && ch != '[' && ch != ']' && ch != '^';
}

static bool same_run(char a, char b)
{
	return (a >= '0' && a <= '9' && b >= '0' && b <= '9') ||
	       (a >= 'a' && a <= 'z' && b >= 'a' && b <= 'z') ||
	       (a >= 'A' && a <= 'Z' && b >= 'A' && b <= 'Z');
}

/* Parse "m" or "m," or "m,n" up to '}'; false if it is anything else. */
static bool charset_bounds(const char **pp, size_t *min, size_t *max)
{
	const char *p = *pp;
	char *end;

	if (*p < '0' || *p > '9')
		return false;
	*min = strtoul(p, &end, 10);
	p = end;
	if (*p == '}') {
		*max = *min;
	} else if (p[0] == ',' && p[1] == '}') {
		*max = SIZE_MAX;
		p++;
	} else if (*p == ',' && p[1] >= '0' && p[1] <= '9') {
		*max = strtoul(p + 1, &end, 10);
		p = end;
		if (*p != '}' || *max < *min)
			return false;
	} else {
		return false;
	}
	*pp = p + 1;
	return *min <= 0x7fff; /* RE_DUP_MAX: beyond it regcomp refuses */
}

static void compile_charset(struct charset *cs, const char *p)
{
	struct charset c = {.on = true};

	if (p[0] != '^' || p[1] != '[')
		return;
	p += 2;
	if (*p == ']' || *p == '^')
		return;
	while (*p != ']') {
		if (!charset_class_char(*p))
			return;
		if (p[1] == '-' && p[2] != ']' && p[2] != '\0') {
			if (!same_run(p[0], p[2]) || p[0] > p[2])
				return;
			for (int ch = p[0]; ch <= p[2]; ch++)
				c.bits[ch >> 3] |= (uint8_t)(1u << (ch & 7));
			p += 3;
		} else {
			c.bits[(unsigned char)*p >> 3] |= (uint8_t)(1u << (*p & 7));
			p++;
		}
	}
	p++;
	if (*p == '*') {
		c.min = 0, c.max = SIZE_MAX;
		p++;
	} else if (*p == '+') {
		c.min = 1, c.max = SIZE_MAX;
		p++;
	} else if (*p == '{') {
		p++;
		if (!charset_bounds(&p, &c.min, &c.max))
			return;
	} else {
		return;
	}
	if (p[0] != '$' || p[1] != '\0')
		return;
	*cs = c;
}

static bool charset_match(const struct charset *c, const char *s, size_t len)
{
	if (len < c->min || len > c->max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!(c->bits[ch >> 3] & (1u << (ch & 7))))
			return false;
	}
	return true;
}

static void compile_pattern(struct node *n, const json_t *pattern)
{
	n->pattern = pattern;
	if (!json_is_string(pattern))
		return; /* reported when reached */
	/* The whole text, as regcomp sees it; one with a NUL in it is cut there, as before. */
	int rc = regcomp(&n->re, json_string_value(pattern), REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &n->re, n->pattern_msg, sizeof(n->pattern_msg));
		n->pattern_err = rc == REG_ESPACE ? -ENOMEM : -EBADMSG;
		return;
	}
	n->pattern_compiled = true;
	if (strlen(json_string_value(pattern)) == json_string_length(pattern))
		compile_charset(&n->fast, json_string_value(pattern));
}

static struct node *compile_node(struct jsonschema *js, const json_t *schema);

static int compile_alts(struct jsonschema *js, struct alts *a, const json_t *list)
{
	size_t i;
	const json_t *alt;

	a->json = list;
	if (!json_is_array(list) || json_array_size(list) == 0)
		return 0;
	if (!(a->nodes = calloc(json_array_size(list), sizeof(*a->nodes))))
		return -ENOMEM;
	json_array_foreach(list, i, alt)
	{
		if (!(a->nodes[i] = compile_node(js, alt)))
			return -ENOMEM;
	}
	a->n = json_array_size(list);
	return 0;
}

static int compile_props(struct jsonschema *js, struct node *n, const json_t *props)
{
	if (!json_is_object(props) || json_object_size(props) == 0)
		return 0;
	if (!(n->props = calloc(json_object_size(props), sizeof(*n->props))))
		return -ENOMEM;
	OBJECT_FOREACH(props, it)
	{
		struct prop *p = &n->props[n->n_props++];
		p->name = json_object_iter_key(it);
		p->len = json_object_iter_key_len(it);
		if (!(p->node = compile_node(js, json_object_iter_value(it))))
			return -ENOMEM;
		p->eff = p->node;
	}
	return 0;
}

/* memcmp(a, b, n) == 0, without a call for the short names members have. */
static inline bool same_name(const char *a, const char *b, size_t n)
{
	if (n > 16)
		return memcmp(a, b, n) == 0;
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

static struct prop *prop_named(const struct node *n, const char *key, size_t len)
{
	for (size_t i = 0; i < n->n_props; i++)
		if (n->props[i].len == len && same_name(n->props[i].name, key, len))
			return &n->props[i];
	return NULL;
}

static void compile_required(struct node *n)
{
	size_t i;
	const json_t *name;
	struct prop *p;

	json_array_foreach(n->required, i, name)
	{
		if (!json_is_string(name) ||
		    !(p = prop_named(n, json_string_value(name), json_string_length(name))))
			return; /* the slow way then, which also reports what is wrong */
		if (!p->required)
			n->n_required++;
		p->required = true;
	}
	n->required_counted = true;
}

static int compile_keywords(struct jsonschema *js, struct node *n, const json_t *schema)
{
	const json_t *kw;

	if ((kw = json_object_get(schema, "$ref"))) {
		n->ref = kw;
		const json_t *target =
		    json_is_string(kw) ? resolve_ref(js->root, json_string_value(kw)) : NULL;
		if (target && !(n->ref_node = compile_node(js, target)))
			return -ENOMEM;
	}
	if ((kw = json_object_get(schema, "type")))
		compile_type(n, kw);
	n->enum_values = json_object_get(schema, "enum");
	n->const_value = json_object_get(schema, "const");
	n->minimum = json_object_get(schema, "minimum");
	n->maximum = json_object_get(schema, "maximum");
	n->min_length = json_object_get(schema, "minLength");
	n->max_length = json_object_get(schema, "maxLength");
	n->min_length_v = (size_t)json_integer_value(n->min_length);
	n->max_length_v = (size_t)json_integer_value(n->max_length);
	if ((kw = json_object_get(schema, "pattern")))
		compile_pattern(n, kw);
	n->min_items = json_object_get(schema, "minItems");
	n->max_items = json_object_get(schema, "maxItems");
	n->required = json_object_get(schema, "required");
	if ((kw = json_object_get(schema, "items")) && !(n->items = compile_node(js, kw)))
		return -ENOMEM;
	if ((kw = json_object_get(schema, "additionalProperties")) &&
	    !(n->addl = compile_node(js, kw)))
		return -ENOMEM;
	if (compile_props(js, n, json_object_get(schema, "properties")) < 0)
		return -ENOMEM;
	compile_required(n);
	if (compile_alts(js, &n->any_of, json_object_get(schema, "anyOf")) < 0 ||
	    compile_alts(js, &n->one_of, json_object_get(schema, "oneOf")) < 0)
		return -ENOMEM;
	return 0;
}

/* Whether a compiled object schema has a keyword that validate checks. */
static bool asserts(const struct node *n)
{
	return n->ref || n->type || n->enum_values || n->const_value || n->minimum ||
	       n->maximum || n->min_length || n->max_length || n->pattern || n->min_items ||
	       n->max_items || n->required || n->items || n->addl || n->n_props ||
	       n->any_of.json || n->one_of.json;
}

/*
 * A schema that is a resolved $ref and nothing else: validate does exactly
 * what ref_node does with a value, one step deeper on the same value.
 */
static bool ref_only(const struct node *n)
{
	return n->kind == N_OBJECT && json_is_string(n->ref) && n->ref_node && !n->type &&
	       !n->enum_values && !n->const_value && !n->minimum && !n->maximum &&
	       !n->min_length && !n->max_length && !n->pattern && !n->min_items &&
	       !n->max_items && !n->required && !n->items && !n->addl && !n->n_props &&
	       !n->any_of.json && !n->one_of.json;
}

/*
 * Each property's eff: once every node is compiled (a $ref may point at one
 * still being compiled). Fewer steps than SAME_VALUE_DEPTH_MAX are taken,
 * each at a depth validate lets through, so a loop is still reported by the
 * walk from where the chain was left, as before.
 */
static void resolve_props(struct jsonschema *js)
{
	for (struct node *n = js->nodes; n; n = n->next)
		for (size_t i = 0; i < n->n_props; i++) {
			struct prop *p = &n->props[i];
			const struct node *t = p->node;
			unsigned k = 0;

			while (k + 1 < SAME_VALUE_DEPTH_MAX && ref_only(t)) {
				t = t->ref_node;
				k++;
			}
			p->eff = t;
			p->eff_same = k;
		}
}

/* NULL only on ENOMEM. */
static struct node *compile_node(struct jsonschema *js, const json_t *schema)
{
	struct node *n;

	if (json_is_true(schema))
		return &node_true;
	if (json_is_false(schema))
		return &node_false;
	if ((n = memo_find(js, schema)))
		return n;
	if (!(n = calloc(1, sizeof(*n))))
		return NULL;
	n->schema = schema;
	n->kind = json_is_object(schema) ? N_OBJECT : N_NOT_SCHEMA;
	n->next = js->nodes;
	js->nodes = n;
	/* In the table before its children, so a $ref back to it finds it. */
	if (memo_add(js, n) < 0)
		return NULL;
	if (n->kind == N_OBJECT && compile_keywords(js, n, schema) < 0)
		return NULL;
	/* Only annotations (ConfigValue's "any JSON value"): it holds for every value, as true does. */
	if (n->kind == N_OBJECT && !asserts(n))
		n->kind = N_TRUE;
	return n;
}

int jsonschema_open(const json_t *root, struct jsonschema **ret)
{
	struct jsonschema *js = calloc(1, sizeof(*js));

	*ret = js;
	if (!js)
		return -ENOMEM;
	js->root = root;
	return 0;
}

const struct jsonschema_node *jsonschema_compile(struct jsonschema *js, const json_t *schema)
{
	struct node *n = compile_node(js, schema);

	if (n)
		resolve_props(js);
	return (const struct jsonschema_node *)n;
}

void jsonschema_close(struct jsonschema *js)
{
	struct node *n, *next;

	if (!js)
		return;
	for (n = js->nodes; n; n = next) {
		next = n->next;
		if (n->pattern_compiled)
			regfree(&n->re);
		free(n->props);
		free(n->any_of.nodes);
		free(n->one_of.nodes);
		free(n);
	}
	free(js->slots);
	free(js);
}

/* ---- validation ---- */

struct vctx {
	struct ptr path;
	char *reason;
	size_t reasonlen;
	/* >0 inside anyOf/oneOf alternatives: their failures are not the answer. */
	unsigned quiet;
};

static void vreport(struct vctx *c, const char *fmt, va_list ap)
{
	ptr_seal(&c->path);
	if (c->reasonlen == 0)
		return;
	vsnprintf(c->reason, c->reasonlen, fmt, ap);
	utf8_fix_tail(c->reason);
}

__attribute__((format(printf, 2, 3))) static int fail(struct vctx *c, const char *fmt, ...)
{
	if (c->quiet == 0) {
		va_list ap;
		va_start(ap, fmt);
		vreport(c, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The schema, not the value, is at fault: always reported, never taken as "no match". */
__attribute__((format(printf, 3, 4))) static int broken(struct vctx *c, int err, const char *fmt,
                                                        ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, fmt, ap);
	va_end(ap);
	return err;
}

/* How much of a member name to quote, cut on a character boundary. */
static int quoted_len(const char *name, size_t len)
{
	if (len <= NAME_IN_REASON_MAX)
		return (int)len;
	return (int)utf8_boundary(name, NAME_IN_REASON_MAX);
}

static int validate(struct vctx *c, const struct node *n, const json_t *inst, unsigned same);

/* Step into a member or item: the same-value chain starts over. */
static int validate_child(struct vctx *c, const struct node *n, const json_t *inst)
{
	return validate(c, n, inst, 0);
}

static int check_type(struct vctx *c, const struct node *n, const json_t *inst)
{
	if (n->type_broken)
		return broken(c, -EBADMSG, "%s", n->type_broken);
	if (n->type_mask & inst_bit(inst))
		return 0;
	if (json_is_string(n->type))
		return fail(c, "expected %s, got %s", json_string_value(n->type), type_name(inst));
	if (c->quiet)
		return -EINVAL;
	char list[128] = "";
	size_t used = 0, i;
	const json_t *t;
	json_array_foreach(n->type, i, t)
	{
		int k = snprintf(list + used, sizeof(list) - used, "%s%s", i == 0 ? "" : " or ",
		                 json_string_value(t));
		if (k < 0 || (size_t)k >= sizeof(list) - used)
			break;
		used += (size_t)k;
	}
	return fail(c, "expected %s, got %s", list, type_name(inst));
}

/* "one of 'a', 'b', 3" for the reason of a failed enum. */
static int fail_enum(struct vctx *c, const json_t *values)
{
	if (c->quiet)
		return -EINVAL;
	char list[256] = "";
	size_t used = 0, i;
	const json_t *v;
	json_array_foreach(values, i, v)
	{
		char *text = jsonnum_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i == 0 ? "" : ", ",
		                 text ? text : "?");
		free(text);
		if (n < 0 || (size_t)n >= sizeof(list) - used) {
			used = strlen(list);
			break;
		}
		used += (size_t)n;
	}
	return fail(c, "must be one of %s", list);
}

static int fail_number(struct vctx *c, const char *what, const json_t *bound)
{
	char num[JSONNUM_REAL_MAX + 1];

	if (json_is_integer(bound))
		return fail(c, "must be %s %" JSON_INTEGER_FORMAT, what, json_integer_value(bound));
	if (!jsonnum_real(json_real_value(bound), num))
		snprintf(num, sizeof(num), "%g", json_real_value(bound));
	return fail(c, "must be %s %s", what, num);
}

static int check_pattern(struct vctx *c, const struct node *n, const char *s, size_t len)
{
	const char *pattern = json_string_value(n->pattern);

	if (!json_is_string(n->pattern))
		return broken(c, -EBADMSG, "'pattern' is not a string");
	/*
	 * regexec sees a C string and would stop at an embedded NUL, matching
	 * only the prefix; a "^...$" whitelist must not pass "ok\u0000junk".
	 */
	if (memchr(s, '\0', len))
		return fail(c, "does not match pattern '%s' (contains U+0000)", pattern);
	if (n->pattern_err == -EBADMSG)
		return broken(c, -EBADMSG, "pattern '%s' does not compile: %s", pattern,
		              n->pattern_msg);
	if (n->pattern_err < 0)
		return broken(c, n->pattern_err, "out of memory compiling pattern");
	if (n->fast.on) {
		if (charset_match(&n->fast, s, len))
			return 0;
		return fail(c, "does not match pattern '%s'", pattern);
	}
	int r = regexec(&n->re, s, 0, NULL, 0);
	if (r == REG_NOMATCH)
		return fail(c, "does not match pattern '%s'", pattern);
	if (r != 0)
		return broken(c, -ENOMEM, "out of memory matching pattern '%s'", pattern);
	return 0;
}

/* minLength/maxLength, minItems/maxItems: "must be at least 3 characters long". */
static int check_count(struct vctx *c, size_t k, const json_t *min, const json_t *max,
                       const char *verb, const char *unit)
{
	if (min && k < (size_t)json_integer_value(min))
		return fail(c, "must %s at least %" JSON_INTEGER_FORMAT " %s", verb,
		            json_integer_value(min), unit);
	if (max && k > (size_t)json_integer_value(max))
		return fail(c, "must %s at most %" JSON_INTEGER_FORMAT " %s", verb,
		            json_integer_value(max), unit);
	return 0;
}

/*
 * A string of len bytes has between ceil(len / 4) and len code points: when
 * the bounds (read as check_count reads them) hold for all of those, the
 * count is not needed.
 */
static bool count_surely_within(const struct node *n, size_t len)
{
	return (!n->min_length || (len + 3) / 4 >= n->min_length_v) &&
	       (!n->max_length || len <= n->max_length_v);
}

static int check_string(struct vctx *c, const struct node *n, const json_t *inst)
{
	const char *s = json_string_value(inst);
	size_t len = json_string_length(inst);
	int r;
	if ((n->min_length || n->max_length) && !count_surely_within(n, len) &&
	    (r = check_count(c, utf8_codepoints(s, len), n->min_length, n->max_length, "be",
	                     "characters long")))
		return r;
	/* A table's set never holds U+0000: a match proves there is none. */
	if (n->fast.on && charset_match(&n->fast, s, len))
		return 0;
	return n->pattern ? check_pattern(c, n, s, len) : 0;
}

static int check_array(struct vctx *c, const struct node *n, const json_t *inst)
{
	size_t k = json_array_size(inst);
	int r = check_count(c, k, n->min_items, n->max_items, "have", "items");
	if (r)
		return r;
	if (!n->items)
		return 0;
	for (size_t i = 0; i < k; i++) {
		size_t old = ptr_push_index(&c->path, i);
		r = validate_child(c, n->items, json_array_get(inst, i));
		ptr_pop(&c->path, old);
		if (r)
			return r;
	}
	return 0;
}

/*
 * Members are checked in the order the instance lists them, so the first
 * problem reported is the first one the caller wrote; missing members come
 * after, since an unknown member is often the misspelt required one.
 */
static int check_object(struct vctx *c, const struct node *n, const json_t *inst)
{
	size_t required_seen = 0;
	OBJECT_FOREACH(inst, it)
	{
		const char *key = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);
		const struct prop *p = prop_named(n, key, klen);
		const struct node *sub = p ? p->eff : n->addl;
		bool additional = !p;
		if (p && p->required)
			required_seen++;
		if (!sub || sub->kind == N_TRUE)
			continue;
		size_t old = ptr_push_key(&c->path, key, klen);
		int r;
		if (sub->kind == N_FALSE && additional)
			r = fail(c, "unknown member '%.*s'", quoted_len(key, klen), key);
		else
			r = validate(c, sub, json_object_iter_value(it), p ? p->eff_same : 0);
		ptr_pop(&c->path, old);
		if (r)
			return r;
	}
	if (n->required_counted && required_seen == n->n_required)
		return 0;
	size_t i;
	const json_t *name;
	json_array_foreach(n->required, i, name)
	{
		if (!json_is_string(name))
			return broken(c, -EBADMSG,
			              "'required' lists something that is not a string");
		const char *key = json_string_value(name);
		size_t klen = json_string_length(name);
		if (!json_object_getn(inst, key, klen))
			return fail(c, "missing required member '%.*s'", quoted_len(key, klen),
			            key);
	}
	return 0;
}

static int check_alternatives(struct vctx *c, const struct alts *a, const json_t *inst,
                              unsigned same, bool exactly_one)
{
	size_t matches = 0;
	for (size_t i = 0; i < a->n; i++) {
		c->quiet++;
		int r = validate(c, a->nodes[i], inst, same + 1);
		c->quiet--;
		if (r == 0) {
			matches++;
			if (!exactly_one || matches > 1)
				break;
		} else if (r != -EINVAL) {
			return r;
		}
	}
	const char *kw = exactly_one ? "oneOf" : "anyOf";
	if (matches == 0)
		return fail(c, "matches none of the %zu alternatives of %s",
		            json_array_size(a->json), kw);
	if (exactly_one && matches > 1)
		return fail(c, "matches more than one alternative of oneOf");
	return 0;
}

static int validate(struct vctx *c, const struct node *n, const json_t *inst, unsigned same)
{
	if (n->kind == N_TRUE)
		return 0;
	if (n->kind == N_FALSE)
		return fail(c, "no value is allowed here");
	if (n->kind == N_NOT_SCHEMA)
		return broken(c, -EBADMSG, "schema is not an object or a boolean");
	if (same > SAME_VALUE_DEPTH_MAX)
		return broken(
		    c, -ELOOP,
		    "$ref/anyOf/oneOf nested more than %d deep on one value: a $ref loop?",
		    SAME_VALUE_DEPTH_MAX);

	int r;
	if (n->ref) {
		if (!json_is_string(n->ref))
			return broken(c, -EBADMSG, "'$ref' is not a string");
		if (!n->ref_node)
			return broken(c, -ENOENT, "$ref '%s' does not resolve",
			              json_string_value(n->ref));
		/* As in draft 2020-12, keywords beside $ref apply too. */
		if ((r = validate(c, n->ref_node, inst, same + 1)))
			return r;
	}
	if (n->type && (r = check_type(c, n, inst)))
		return r;
	if (n->enum_values) {
		size_t i;
		const json_t *v;
		bool found = false;
		json_array_foreach(n->enum_values, i, v)
		{
			if ((found = values_equal(v, inst)))
				break;
		}
		if (!found)
			return fail_enum(c, n->enum_values);
	}
	if (n->const_value && !values_equal(n->const_value, inst)) {
		if (c->quiet)
			return -EINVAL;
		char *text = jsonnum_dumps(n->const_value, JSON_COMPACT | JSON_ENCODE_ANY);
		r = fail(c, "must be %.200s", text ? text : "the constant");
		free(text);
		return r;
	}

	switch (json_typeof(inst)) {
	case JSON_INTEGER:
	case JSON_REAL:
		if (n->minimum && number_cmp(inst, n->minimum) < 0)
			return fail_number(c, ">=", n->minimum);
		if (n->maximum && number_cmp(inst, n->maximum) > 0)
			return fail_number(c, "<=", n->maximum);
		break;
	case JSON_STRING:
		if ((r = check_string(c, n, inst)))
			return r;
		break;
	case JSON_ARRAY:
		if ((r = check_array(c, n, inst)))
			return r;
		break;
	case JSON_OBJECT:
		if ((r = check_object(c, n, inst)))
			return r;
		break;
	default:
		break;
	}

	if (n->any_of.json && (r = check_alternatives(c, &n->any_of, inst, same, false)))
		return r;
	if (n->one_of.json && (r = check_alternatives(c, &n->one_of, inst, same, true)))
		return r;
	return 0;
}

int jsonschema_run(const struct jsonschema_node *node, const json_t *instance, char *path,
                   size_t pathlen, char *reason, size_t reasonlen)
{
	struct vctx c = {
	    .path = {.buf = path, .cap = path ? pathlen : 0},
	    .reason = reason,
	    .reasonlen = reason ? reasonlen : 0,
	};
	if (c.path.cap)
		path[0] = '\0';
	if (c.reasonlen)
		reason[0] = '\0';
	/*
	 * Most values pass: check without tracking the pointer first, and only
	 * for a failure walk again, building the path and the reason (the walk
	 * is deterministic, so the second one fails at the same place).
	 */
	struct vctx bare = {.path = {.buf = NULL}};
	int r = validate(&bare, (const struct node *)node, instance, 0);
	if (r == 0 || (!c.path.cap && !c.reasonlen))
		return r;
	return validate(&c, (const struct node *)node, instance, 0);
}

int jsonschema_validate(const json_t *schema, const json_t *root, const json_t *instance,
                        char *path, size_t pathlen, char *reason, size_t reasonlen)
{
	struct jsonschema *js;
	const struct jsonschema_node *node;
	int r = jsonschema_open(root ? root : schema, &js);

	if (r < 0)
		return r;
	if (!(node = jsonschema_compile(js, schema))) {
		jsonschema_close(js);
		if (reason && reasonlen)
			snprintf(reason, reasonlen, "out of memory compiling the schema");
		if (path && pathlen)
			path[0] = '\0';
		return -ENOMEM;
	}
	r = jsonschema_run(node, instance, path, pathlen, reason, reasonlen);
	jsonschema_close(js);
	return r;
}

/* ---- checking that a schema stays inside the subset ---- */

enum kw_kind {
	KW_TYPE,
	KW_SCHEMA,
	KW_SCHEMA_MAP,
	KW_SCHEMA_LIST,
	KW_STRING_LIST,
	KW_VALUE_LIST,
	KW_ANY,
	KW_NUMBER,
	KW_COUNT,
	KW_PATTERN,
	KW_REF,
	KW_STRING,
};

static const struct {
	const char *name;
	enum kw_kind kind;
} keywords[] = {
    {"type", KW_TYPE},
    {"properties", KW_SCHEMA_MAP},
    {"required", KW_STRING_LIST},
    {"additionalProperties", KW_SCHEMA},
    {"items", KW_SCHEMA},
    {"enum", KW_VALUE_LIST},
    {"const", KW_ANY},
    {"minimum", KW_NUMBER},
    {"maximum", KW_NUMBER},
    {"minLength", KW_COUNT},
    {"maxLength", KW_COUNT},
    {"pattern", KW_PATTERN},
    {"minItems", KW_COUNT},
    {"maxItems", KW_COUNT},
    {"oneOf", KW_SCHEMA_LIST},
    {"anyOf", KW_SCHEMA_LIST},
    {"$ref", KW_REF},
    /* Annotations: carried for people and tools, no effect on validation. */
    {"title", KW_STRING},
    {"description", KW_STRING},
    {"$comment", KW_STRING},
    {"$schema", KW_STRING},
    {"$id", KW_STRING},
    {"default", KW_ANY},
    {"examples", KW_ANY},
    {"$defs", KW_SCHEMA_MAP},
    {"definitions", KW_SCHEMA_MAP},
};

struct cctx {
	char path[1024];
	struct ptr ptr;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int check_fail(struct cctx *c, const char *fmt, ...)
{
	ptr_seal(&c->ptr);
	if (c->errlen == 0)
		return -EINVAL;
	int n = snprintf(c->err, c->errlen, "#%s: ", c->path);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	utf8_fix_tail(c->err);
	return -EINVAL;
}

/*
 * A pattern is matched as a POSIX extended regex, while JSON Schema tools
 * read it as ECMA-262. These constructs mean something else (or nothing) in
 * one of the two, so a schema using them would be checked differently by
 * the daemon and by a client: refuse them.
 */
static const char *pattern_unportable(const char *p)
{
	for (; *p; p++) {
		if (p[0] == '\\' && p[1] &&
		    ((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z') ||
		     (p[1] >= '0' && p[1] <= '9')))
			return "backslash escapes such as \\d, \\w, \\s or \\1";
		if (p[0] == '\\' && p[1]) {
			p++;
			continue;
		}
		if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '='))
			return "POSIX bracket classes such as [:alpha:]";
		if (p[0] == '(' && p[1] == '?')
			return "groups starting with (?";
		if ((p[0] == '*' || p[0] == '+' || p[0] == '?' || p[0] == '}') && p[1] == '?')
			return "lazy quantifiers";
	}
	return NULL;
}

static int check_schema(struct cctx *c, const json_t *schema);

static int check_keyword(struct cctx *c, const char *name, enum kw_kind kind, const json_t *v)
{
	size_t i;
	const json_t *e;
	switch (kind) {
	case KW_TYPE:
		if (json_is_string(v)) {
			if (!is_type_name(json_string_value(v)))
				return check_fail(c, "unknown type '%s'", json_string_value(v));
			return 0;
		}
		if (!json_is_array(v) || json_array_size(v) == 0)
			return check_fail(
			    c, "'type' must be a type name or a non-empty array of them");
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e) || !is_type_name(json_string_value(e)))
				return check_fail(c,
				                  "'type' lists something that is not a type name");
		}
		return 0;
	case KW_SCHEMA:
		if (json_is_array(v))
			return check_fail(
			    c, "'%s' must be a single schema (the array form is not supported)",
			    name);
		return check_schema(c, v);
	case KW_SCHEMA_MAP:
		if (!json_is_object(v))
			return check_fail(c, "'%s' must be an object of schemas", name);
		OBJECT_FOREACH(v, it)
		{
			size_t old = ptr_push_key(&c->ptr, json_object_iter_key(it),
			                          json_object_iter_key_len(it));
			int r = check_schema(c, json_object_iter_value(it));
			ptr_pop(&c->ptr, old);
			if (r)
				return r;
		}
		return 0;
	case KW_SCHEMA_LIST:
		if (!json_is_array(v) || json_array_size(v) == 0)
			return check_fail(c, "'%s' must be a non-empty array of schemas", name);
		json_array_foreach(v, i, e)
		{
			size_t old = ptr_push_index(&c->ptr, i);
			int r = check_schema(c, e);
			ptr_pop(&c->ptr, old);
			if (r)
				return r;
		}
		return 0;
	case KW_STRING_LIST:
		if (!json_is_array(v))
			return check_fail(c, "'%s' must be an array of strings", name);
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				return check_fail(c, "'%s' must be an array of strings", name);
		}
		return 0;
	case KW_VALUE_LIST:
		if (!json_is_array(v) || json_array_size(v) == 0)
			return check_fail(c, "'%s' must be a non-empty array", name);
		return 0;
	case KW_ANY:
		return 0;
	case KW_NUMBER:
		if (!json_is_number(v))
			return check_fail(c, "'%s' must be a number", name);
		return 0;
	case KW_COUNT:
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return check_fail(c, "'%s' must be a non-negative integer", name);
		return 0;
	case KW_PATTERN: {
		if (!json_is_string(v))
			return check_fail(c, "'pattern' must be a string");
		const char *p = json_string_value(v);
		if (strlen(p) != json_string_length(v))
			return check_fail(c, "'pattern' must not contain U+0000");
		const char *why = pattern_unportable(p);
		if (why)
			return check_fail(
			    c,
			    "pattern '%s' uses %s, which POSIX ERE and ECMA-262 read differently",
			    p, why);
		regex_t re;
		int rc = regcomp(&re, p, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char msg[128];
			regerror(rc, &re, msg, sizeof(msg));
			return check_fail(c, "pattern '%s' is not a valid POSIX extended regex: %s",
			                  p, msg);
		}
		regfree(&re);
		return 0;
	}
	case KW_REF:
		if (!json_is_string(v) || json_string_value(v)[0] != '#' ||
		    (json_string_value(v)[1] != '\0' && json_string_value(v)[1] != '/'))
			return check_fail(c, "'$ref' must be a local reference \"#\" or \"#/...\"");
		return 0;
	case KW_STRING:
		if (!json_is_string(v))
			return check_fail(c, "'%s' must be a string", name);
		return 0;
	}
	return 0;
}

static int check_schema(struct cctx *c, const json_t *schema)
{
	if (json_is_boolean(schema))
		return 0;
	if (!json_is_object(schema))
		return check_fail(c, "a schema must be an object or a boolean, not %s",
		                  type_name(schema));
	OBJECT_FOREACH(schema, it)
	{
		const char *name = json_object_iter_key(it);
		size_t nlen = json_object_iter_key_len(it);
		size_t k, old = ptr_push_key(&c->ptr, name, nlen);
		for (k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
			if (strlen(keywords[k].name) == nlen && strcmp(keywords[k].name, name) == 0)
				break;
		int r;
		if (k == sizeof(keywords) / sizeof(keywords[0]))
			r = check_fail(c, "keyword '%.*s' is not supported", quoted_len(name, nlen),
			               name);
		else
			r = check_keyword(c, keywords[k].name, keywords[k].kind,
			                  json_object_iter_value(it));
		ptr_pop(&c->ptr, old);
		if (r)
			return r;
	}
	return 0;
}

int jsonschema_check(const json_t *schema, char *err, size_t errlen)
{
	struct cctx c = {.err = err, .errlen = err ? errlen : 0};
	c.ptr = (struct ptr){.buf = c.path, .cap = sizeof(c.path)};
	if (c.errlen)
		err[0] = '\0';
	return check_schema(&c, schema);
}
