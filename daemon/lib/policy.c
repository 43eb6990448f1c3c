/* policy.c — compiles policy documents (udsrpc(7)) and judges calls against them. */
#include "policy.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names.h"

/* The longest config key (udsrpc(7), "Keys, values and revisions"). */
#define KEY_MAX 256

/* A piece of a pattern between stars, pointing into glob.text. */
struct span {
	size_t off;
	size_t len;
};

/*
 * A method pattern split at its stars: "a*b*c" is prefix "a", floating
 * middles ["b"], suffix "c". Since '*' is the only metacharacter, anchoring
 * the ends and finding each middle leftmost-first decides a match in one
 * pass, with no backtracking and no allocation.
 */
struct glob {
	char *text; /* as written, NUL-free */
	size_t len;
	bool exact;    /* no '*': a plain comparison */
	size_t minlen; /* literal characters: shorter names cannot match */
	struct span prefix, suffix;
	struct span *mids;
	size_t nmids;
};

struct exe_path {
	char *path; /* as written */
	char *real; /* realpath at load when it differs (e.g. /bin -> /usr/bin), else NULL */
};

/*
 * uids, gids or groups as written. A name no account or group has matches no
 * one (NO_ID below), and is kept so that policy_to_json prints it back as the
 * name: printed as that id it would not load again.
 */
#define NO_ID ((uint32_t)UINT32_MAX) /* (uid_t)-1 is "no id" to the kernel: nobody has it */

struct id_list {
	uint32_t *ids;
	char **unknown; /* NULL, or n entries: the name for each NO_ID, else NULL */
	size_t n;
};

/*
 * A pids entry is the process that had the pid when the policy loaded (a
 * pid is a number anyone may get once its process is gone), pinned as
 * peer.h's struct peer_process. proc.known is false when no process had the
 * pid at load: then the entry matches no one.
 */
struct pid_pin {
	pid_t pid;
	struct peer_process proc;
};

/*
 * A selector with n == 0 is absent (anyone); empty lists are rejected at load,
 * so "present" and "n > 0" are the same thing.
 */
struct rule {
	bool allow;
	/* A provide rule (udsrpc(7), "PROVIDERS"): methods holds its "provide" globs,
	 * which decide what names a peer may serve; call rules never see it. */
	bool provide;
	struct glob *methods;
	size_t nmethods;
	struct id_list uids;
	struct id_list gids; /* "gids" and "groups" are separate selectors: both must match */
	struct id_list groups;
	struct pid_pin *pids;
	size_t npids;
	struct exe_path *exes;
	size_t nexes;
	/* Globs over config keys: the rule matches only a call on a key one of them matches. */
	struct glob *keys;
	size_t nkeys;
};

struct policy {
	size_t nrules;
	bool has_keys;  /* some rule has a keys selector: verdicts depend on the key */
	char *warnings; /* see policy_warnings() */
	struct rule rules[];
};

/* Where compile errors go, and what the rule being compiled is called in them. */
struct compile_ctx {
	char *err;
	size_t errlen;
	size_t rule_no; /* 1-based; 0 outside any rule */
	uid_t self_uid;
	char *warnings;   /* one line each, "\n"-joined; NULL while there are none */
	bool oom;         /* a warning could not be kept: compile fails with -ENOMEM */
	char quoted[128]; /* see quote() */
};

/*
 * Text from the document, made fit for a one-line message: control bytes
 * (a member name may hold "\n") become \xNN and long text is cut with "...".
 * Valid until the next call; one quoted string per message.
 */
static const char *quote(struct compile_ctx *c, const char *s)
{
	const size_t cap = sizeof(c->quoted);
	size_t o = 0;

	/* Leaves room for one escape, the ellipsis and the NUL. */
	for (; *s && o + 8 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(c->quoted + o, cap - o, "\\x%02x", ch);
		else
			c->quoted[o++] = (char)ch;
	}
	if (*s) {
		memcpy(c->quoted + o, "...", 3);
		o += 3;
	}
	c->quoted[o] = '\0';
	return c->quoted;
}

/* Writes "rule N: " (inside a rule) and the message to the error buffer; returns r. */
static int fail(struct compile_ctx *c, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct compile_ctx *c, int r, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!c->err || c->errlen == 0)
		return r;
	if (c->rule_no > 0)
		n = snprintf(c->err, c->errlen, "rule %zu: ", c->rule_no);
	if (n < 0 || (size_t)n >= c->errlen)
		return r;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * A problem that leaves the rest of the policy in force (an account that no
 * longer exists must never keep the daemon from starting): kept on the
 * compiled policy, which the server logs, and --check prints.
 */
static void warn(struct compile_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct compile_ctx *c, const char *fmt, ...)
{
	char line[512];
	int n = 0;
	va_list ap;
	char *more;
	size_t old = c->warnings ? strlen(c->warnings) : 0;

	if (c->rule_no > 0)
		n = snprintf(line, sizeof(line), "rule %zu: ", c->rule_no);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (!(more = realloc(c->warnings, old + strlen(line) + 2))) {
		c->oom = true;
		return;
	}
	if (old)
		more[old++] = '\n';
	strcpy(more + old, line);
	c->warnings = more;
}

static void glob_free(struct glob *g)
{
	free(g->text);
	free(g->mids);
}

static int glob_compile(const char *pattern, size_t len, struct glob *ret)
{
	struct glob g = {.len = len};
	size_t nstars = 0;

	g.text = strdup(pattern);
	if (!g.text)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++)
		nstars += pattern[i] == '*';
	g.minlen = len - nstars;
	if (nstars == 0) {
		g.exact = true;
		*ret = g;
		return 0;
	}

	const char *first = strchr(pattern, '*');
	const char *last = strrchr(pattern, '*');
	g.prefix = (struct span){0, (size_t)(first - pattern)};
	g.suffix = (struct span){(size_t)(last + 1 - pattern), len - (size_t)(last + 1 - pattern)};

	/* Runs of stars collapse: the empty pieces between them match anything. */
	g.mids = calloc(nstars, sizeof(*g.mids));
	if (!g.mids) {
		free(g.text);
		return -ENOMEM;
	}
	for (const char *s = first + 1; s < last;) {
		const char *star = strchr(s, '*');
		if (star > s)
			g.mids[g.nmids++] =
			    (struct span){(size_t)(s - pattern), (size_t)(star - s)};
		s = star + 1;
	}
	*ret = g;
	return 0;
}

static bool glob_match(const struct glob *g, const char *s, size_t n)
{
	if (g->exact)
		return n == g->len && memcmp(s, g->text, n) == 0;
	if (n < g->minlen)
		return false;
	/* Most globs of a list differ in their first byte (team1/ and app/ globs):
	 * settled here without a call. n >= minlen covers the prefix. */
	if (g->prefix.len && s[0] != g->text[0])
		return false;
	/* minlen covers prefix + suffix, so the two cannot overlap here. */
	if (memcmp(s, g->text + g->prefix.off, g->prefix.len) != 0)
		return false;
	if (memcmp(s + n - g->suffix.len, g->text + g->suffix.off, g->suffix.len) != 0)
		return false;

	const char *pos = s + g->prefix.len;
	const char *end = s + n - g->suffix.len;
	for (size_t i = 0; i < g->nmids; i++) {
		const struct span *m = &g->mids[i];
		const char *hit = memmem(pos, (size_t)(end - pos), g->text + m->off, m->len);
		if (!hit)
			return false;
		pos = hit + m->len;
	}
	return true;
}

static void id_list_free(struct id_list *l)
{
	for (size_t i = 0; l->unknown && i < l->n; i++)
		free(l->unknown[i]);
	free(l->unknown);
	free(l->ids);
}

static void rule_free(struct rule *r)
{
	for (size_t i = 0; i < r->nmethods; i++)
		glob_free(&r->methods[i]);
	free(r->methods);
	id_list_free(&r->uids);
	id_list_free(&r->gids);
	id_list_free(&r->groups);
	free(r->pids);
	for (size_t i = 0; i < r->nexes; i++) {
		free(r->exes[i].path);
		free(r->exes[i].real);
	}
	free(r->exes);
	for (size_t i = 0; i < r->nkeys; i++)
		glob_free(&r->keys[i]);
	free(r->keys);
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nrules; i++)
		rule_free(&p->rules[i]);
	free(p->warnings);
	free(p);
}

const char *policy_warnings(const struct policy *p)
{
	return p ? p->warnings : NULL;
}

/*
 * The array a rule member must be: present lists are never empty, because an
 * empty list would match nobody, which is never what a rule's author meant.
 * Allocates *ret_arr for its n entries of size elem.
 */
static int member_list(struct compile_ctx *c, const char *field, json_t *v, const char *what,
                       size_t elem, void **ret_arr, size_t *ret_n)
{
	*ret_n = 0; /* set on every path: -O3 cannot see that fail() is negative */
	if (!json_is_array(v))
		return fail(c, -EINVAL, "%s: expected an array of %s", field, what);
	if (json_array_size(v) == 0)
		return fail(c, -EINVAL, "%s: empty list (omit the member to match anyone)", field);
	*ret_arr = calloc(json_array_size(v), elem);
	if (!*ret_arr)
		return fail(c, -ENOMEM, "out of memory");
	*ret_n = json_array_size(v);
	return 0;
}

/* A string entry without NUL bytes, which C-string comparison would silently cut short. */
static const char *entry_string(json_t *e)
{
	if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
		return NULL;
	return json_string_value(e);
}

/* The globs of "methods" (a call rule) or "provide" (a provide rule), field naming which. */
static int compile_methods(struct compile_ctx *c, const char *field, json_t *v, struct rule *r)
{
	void *arr = NULL;
	size_t n;
	int ret;

	if (json_is_array(v) && json_array_size(v) == 0)
		return fail(c, -EINVAL, "%s: empty list (a rule needs at least one method)", field);
	ret = member_list(c, field, v, "method patterns", sizeof(*r->methods), &arr, &n);
	r->methods = arr;
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		const char *s = entry_string(e);
		if (!s)
			return fail(c, -EINVAL, "%s: not a string without NUL bytes (entry %zu)",
			            field, i + 1);
		if (*s == '\0')
			return fail(c, -EINVAL, "%s: empty pattern (entry %zu)", field, i + 1);
		ret = glob_compile(s, strlen(s), &r->methods[i]);
		if (ret < 0)
			return fail(c, ret, "out of memory");
		r->nmethods++;
	}
	return 0;
}

/* (uid_t)-1 and (gid_t)-1 mean "no id" to the kernel, so they can't name anyone. */
static bool id_number(json_t *e, uint32_t *ret)
{
	json_int_t v = json_integer_value(e);

	if (v < 0 || v >= (json_int_t)UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/* Users or groups: the words of their messages and how a name becomes an id. */
struct id_kind {
	const char *id, *name, *what, *expected;
	int (*lookup)(const char *name, uint32_t *ret_id);
	bool self; /* "self": the uid the daemon serves */
};

static const struct id_kind users = {
    .id = "uid",
    .name = "user",
    .what = "uids, user names or \"self\"",
    .expected = "a number, a user name or \"self\"",
    .lookup = names_user_id,
    .self = true,
};
static const struct id_kind groups = {
    .id = "gid",
    .name = "group",
    .what = "gids or group names",
    .expected = "a number or a group name",
    .lookup = names_group_id,
};

/* Keeps name as entry i's: an unknown name is printed back as written. */
static int keep_unknown(struct id_list *l, size_t n, size_t i, const char *name)
{
	if (!l->unknown && !(l->unknown = calloc(n, sizeof(*l->unknown))))
		return -ENOMEM;
	l->ids[i] = NO_ID;
	return (l->unknown[i] = strdup(name)) ? 0 : -ENOMEM;
}

static int compile_ids(struct compile_ctx *c, const char *field, json_t *v, const struct id_kind *k,
                       struct id_list *l)
{
	void *arr = NULL;
	size_t n;
	int ret = member_list(c, field, v, k->what, sizeof(*l->ids), &arr, &n);

	l->ids = arr;
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		const char *name = entry_string(e);
		uint32_t *id = &l->ids[i];

		/* Counted first so that a name kept below is freed on any failure. */
		l->n++;
		if (json_is_integer(e)) {
			if (!id_number(e, id))
				return fail(c, -EINVAL, "%s: invalid %s %" JSON_INTEGER_FORMAT,
				            field, k->id, json_integer_value(e));
		} else if (name && k->self && strcmp(name, "self") == 0) {
			*id = c->self_uid;
		} else if (name) {
			ret = k->lookup(name, id);
			/* An account of id (uid_t)-1 is no one the kernel reports either. */
			if (ret == -ENOENT || (ret == 0 && *id == NO_ID)) {
				if (keep_unknown(l, n, i, name) < 0)
					return fail(c, -ENOMEM, "out of memory");
				warn(c, "%s: unknown %s '%s' matches no one", field, k->name,
				     quote(c, name));
				ret = 0;
			}
			if (ret < 0)
				return fail(c, ret, "%s: cannot look up %s '%s': %s", field,
				            k->name, quote(c, name), strerror(-ret));
		} else {
			return fail(c, -EINVAL, "%s: expected %s (entry %zu)", field, k->expected,
			            i + 1);
		}
	}
	return 0;
}

static policy_process_fn *process_fn = peer_process_of_pid;

void policy_set_process_fn(policy_process_fn *fn)
{
	process_fn = fn ? fn : peer_process_of_pid;
}

static int compile_pids(struct compile_ctx *c, json_t *v, struct rule *r)
{
	void *arr = NULL;
	size_t n;
	int ret = member_list(c, "pids", v, "pids", sizeof(*r->pids), &arr, &n);

	r->pids = arr;
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		struct pid_pin *pin = &r->pids[i];

		if (!json_is_integer(e))
			return fail(c, -EINVAL, "pids: expected a number (entry %zu)", i + 1);
		json_int_t pid = json_integer_value(e);
		if (pid <= 0 || pid > INT_MAX)
			return fail(c, -EINVAL, "pids: invalid pid %" JSON_INTEGER_FORMAT, pid);
		pin->pid = (pid_t)pid;
		r->npids++;
		ret = process_fn(pin->pid, &pin->proc);
		if (ret == -ESRCH)
			warn(c, "pids: no process has pid %d now: the entry matches no one",
			     (int)pin->pid);
		else if (ret < 0)
			return fail(c, ret, "pids: cannot pin pid %d: %s", (int)pin->pid,
			            strerror(-ret));
	}
	return 0;
}

static int compile_exes(struct compile_ctx *c, json_t *v, struct rule *r)
{
	void *arr = NULL;
	size_t n;
	int ret = member_list(c, "exe", v, "absolute paths", sizeof(*r->exes), &arr, &n);

	r->exes = arr;
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		const char *path = entry_string(json_array_get(v, i));
		struct exe_path *x = &r->exes[i];

		if (!path)
			return fail(c, -EINVAL, "exe: not a string without NUL bytes (entry %zu)",
			            i + 1);
		if (path[0] != '/')
			return fail(c, -EINVAL, "exe: relative path '%s' (must start with '/')",
			            quote(c, path));
		x->path = strdup(path);
		if (!x->path)
			return fail(c, -ENOMEM, "out of memory");
		r->nexes++;
		/*
		 * The kernel reports the resolved binary (/usr/bin/bash for a
		 * process started as /bin/bash on merged-/usr systems), so the
		 * rule also matches the path its author's one resolves to now.
		 * A path that does not exist yet still matches literally.
		 */
		x->real = realpath(path, NULL);
		if (x->real && strcmp(x->real, path) == 0) {
			free(x->real);
			x->real = NULL;
		}
	}
	return 0;
}

/* The bytes a config key may hold (udsrpc(7), "Keys, values and revisions"). */
static bool key_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '/' || ch == '-';
}

/*
 * "keys": globs over config keys. A pattern that no key could match (a byte
 * keys never hold, more literal bytes than a key's 256) is a mistake, so
 * the file is rejected rather than left with a rule that never applies.
 */
static int compile_keys(struct compile_ctx *c, json_t *v, struct rule *r)
{
	void *arr = NULL;
	size_t n;
	int ret;

	if (r->provide)
		return fail(c, -EINVAL, "keys: a provide rule selects names, not keys "
		                        "(keys go in a rule with \"methods\")");
	ret = member_list(c, "keys", v, "key patterns", sizeof(*r->keys), &arr, &n);
	r->keys = arr;
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		const char *s = entry_string(json_array_get(v, i));
		size_t len, bad;

		if (!s)
			return fail(c, -EINVAL, "keys: not a string without NUL bytes (entry %zu)",
			            i + 1);
		if (*s == '\0')
			return fail(c, -EINVAL, "keys: empty pattern (entry %zu)", i + 1);
		len = strlen(s);
		for (bad = 0; bad < len && (s[bad] == '*' || key_char(s[bad])); bad++)
			;
		if (bad < len)
			return fail(c, -EINVAL,
			            "keys: '%s' can match no key (entry %zu: keys hold only "
			            "A-Z a-z 0-9 . _ / -, and * is the only wildcard)",
			            quote(c, s), i + 1);
		ret = glob_compile(s, len, &r->keys[i]);
		if (ret < 0)
			return fail(c, ret, "out of memory");
		r->nkeys++;
		if (r->keys[i].minlen > KEY_MAX)
			return fail(c, -EINVAL,
			            "keys: '%s' can match no key (entry %zu: longer than %d bytes)",
			            quote(c, s), i + 1, KEY_MAX);
	}
	return 0;
}

static int compile_effect(struct compile_ctx *c, json_t *v, struct rule *r)
{
	const char *s = entry_string(v);

	if (!v)
		return fail(c, -EINVAL, "effect: missing (\"allow\" or \"deny\")");
	if (s && strcmp(s, "allow") == 0)
		r->allow = true;
	else if (s && strcmp(s, "deny") == 0)
		r->allow = false;
	else if (s)
		return fail(c, -EINVAL, "effect: '%s' is not \"allow\" or \"deny\"", quote(c, s));
	else
		return fail(c, -EINVAL, "effect: expected \"allow\" or \"deny\"");
	return 0;
}

static const char *const rule_members[] = {"effect", "methods", "provide", "uids", "gids",
                                           "groups", "pids",    "exe",     "keys"};

static int compile_rule(struct compile_ctx *c, json_t *obj, struct rule *r)
{
	const char *key;
	json_t *v;
	int ret;

	if (!json_is_object(obj))
		return fail(c, -EINVAL, "expected an object with \"effect\" and \"methods\"");
	json_object_foreach(obj, key, v)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof(rule_members) / sizeof(rule_members[0]); i++)
			known = known || strcmp(key, rule_members[i]) == 0;
		if (!known)
			return fail(c, -EINVAL, "unknown member '%s'", quote(c, key));
	}

	ret = compile_effect(c, json_object_get(obj, "effect"), r);
	json_t *methods = json_object_get(obj, "methods"), *provide = json_object_get(obj, "provide");
	if (ret == 0 && methods && provide)
		return fail(c, -EINVAL, "both \"methods\" and \"provide\" (a rule is one or the other)");
	if (ret == 0 && !methods && !provide)
		return fail(c, -EINVAL, "methods: missing (a list of method names or patterns, "
		                        "or \"provide\" for a provide rule)");
	r->provide = provide != NULL;
	if (ret == 0)
		ret = compile_methods(c, provide ? "provide" : "methods", provide ? provide : methods, r);
	if (ret == 0 && (v = json_object_get(obj, "uids")))
		ret = compile_ids(c, "uids", v, &users, &r->uids);
	if (ret == 0 && (v = json_object_get(obj, "gids")))
		ret = compile_ids(c, "gids", v, &groups, &r->gids);
	if (ret == 0 && (v = json_object_get(obj, "groups")))
		ret = compile_ids(c, "groups", v, &groups, &r->groups);
	if (ret == 0 && (v = json_object_get(obj, "pids")))
		ret = compile_pids(c, v, r);
	if (ret == 0 && (v = json_object_get(obj, "exe")))
		ret = compile_exes(c, v, r);
	if (ret == 0 && (v = json_object_get(obj, "keys")))
		ret = compile_keys(c, v, r);
	/* Any program of a uid can run as another of that uid's programs
	 * (LD_PRELOAD, fork before exec): exe narrows a rule, never opens one. */
	if (ret == 0 && r->allow && r->nexes && !r->uids.n && !r->gids.n && !r->groups.n)
		ret = fail(c, -EINVAL,
			   "exe: an allow rule with exe must also have uids, gids or groups "
			   "(exe does not separate programs of one uid)");
	return ret;
}

int policy_compile(const json_t *doc, uid_t self_uid, struct policy **ret, char *err, size_t errlen)
{
	struct compile_ctx c = {.err = err, .errlen = errlen, .self_uid = self_uid};
	/* jansson's getters take non-const pointers but do not modify. */
	json_t *root = (json_t *)doc;
	const char *key;
	json_t *v, *rules;
	struct policy *p;
	int r = 0;

	*ret = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!json_is_object(root))
		return fail(&c, -EINVAL, "expected an object {\"rules\": [...]}");
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "rules") != 0)
			return fail(&c, -EINVAL, "unknown top-level member '%s'", quote(&c, key));
	}
	rules = json_object_get(root, "rules");
	if (!rules)
		return fail(&c, -EINVAL, "missing member 'rules'");
	if (!json_is_array(rules))
		return fail(&c, -EINVAL, "rules: expected an array of rules");

	size_t n = json_array_size(rules);
	p = calloc(1, sizeof(*p) + n * sizeof(p->rules[0]));
	if (!p)
		return fail(&c, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n && r == 0; i++) {
		c.rule_no = i + 1;
		/* Counted before compiling so a half-built rule is freed with the rest. */
		p->nrules++;
		r = compile_rule(&c, json_array_get(rules, i), &p->rules[i]);
		p->has_keys = p->has_keys || p->rules[i].nkeys;
	}
	if (r == 0 && c.oom)
		r = fail(&c, -ENOMEM, "out of memory");
	p->warnings = c.warnings;
	if (r < 0) {
		policy_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int policy_load_file(const char *path, uid_t self_uid, struct policy **ret, char *err,
                     size_t errlen)
{
	char inner[512];
	json_error_t jerr;
	struct stat st;
	json_t *doc;
	FILE *f;
	int r;

	*ret = NULL;
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	/* fopen() happily opens a directory; the read error after would be obscure. */
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		if (err && errlen)
			snprintf(err, errlen, "%s: is a directory, not a policy file", path);
		return -EISDIR;
	}
	/* A duplicated member ("effect" twice) is a mistake, not a choice of the last one. */
	doc = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (!doc) {
		if (err && errlen) {
			snprintf(err, errlen, "%s: line %d column %d: %s", path, jerr.line,
			         jerr.column, jerr.text);
			/* jansson quotes the input near the error, newlines and all:
			 * keep the message on one line, as quote() does for names. */
			for (char *p = err; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
		}
		return -EINVAL;
	}
	r = policy_compile(doc, self_uid, ret, inner, sizeof(inner));
	json_decref(doc);
	if (r < 0 && err && errlen)
		snprintf(err, errlen, "%s: %s", path, inner);
	return r;
}

struct policy *policy_default(uid_t self_uid, const char *const *public_methods, size_t n)
{
	struct policy *p = NULL;
	json_t *names = json_array();
	/* udsrpc(7): the public methods, then everything for admins, who may also provide. */
	json_t *doc = json_pack("{s:[{s:s,s:o},{s:s,s:[s],s:[i,s]},{s:s,s:[s],s:[i,s]}]}", "rules",
	                        "effect", "allow", "methods", names, "effect", "allow", "methods",
	                        "*", "uids", 0, "self", "effect", "allow", "provide", "*", "uids", 0,
	                        "self");

	for (size_t i = 0; doc && i < n; i++)
		json_array_append_new(names, json_string(public_methods[i]));
	/* Without public methods, only the admin rule. */
	if (doc && n == 0)
		json_array_remove(json_object_get(doc, "rules"), 0);
	if (!doc)
		return NULL;
	if (policy_compile(doc, self_uid, &p, NULL, 0) < 0)
		p = NULL;
	json_decref(doc);
	return p;
}

/* uids and gids share the id helpers. */
_Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t),
               "uid_t and gid_t are 32 bits");

static bool has_id(const uint32_t *ids, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static bool any_group(const gid_t *gids, size_t n, const struct udsrpc_peer *peer)
{
	for (size_t i = 0; i < n; i++)
		if (peer_in_group(peer, gids[i]))
			return true;
	return false;
}

/*
 * The peer is the very process an entry pinned. A peer whose process is
 * unknown (gone before it was read) never passes an
 * allow, and never slips past a deny on its pid.
 */
static bool pid_match(const struct rule *r, const struct udsrpc_peer *peer)
{
	for (size_t i = 0; i < r->npids; i++) {
		const struct pid_pin *pin = &r->pids[i];
		if (!pin->proc.known || pin->pid != peer->pid)
			continue;
		if (!peer->proc.known)
			return !r->allow;
		if (peer_same_process(&pin->proc, &peer->proc))
			return true;
	}
	return false;
}

/* An unknown exe (peer gone, another mount namespace) never passes an allow
 * and never slips past a deny: deny rules fail closed. */
static bool exe_match(const struct rule *r, const char *exe)
{
	if (!exe)
		return !r->allow;
	for (size_t i = 0; i < r->nexes; i++)
		if (strcmp(exe, r->exes[i].path) == 0 ||
		    (r->exes[i].real && strcmp(exe, r->exes[i].real) == 0))
			return true;
	return false;
}

/* Does the rule select this peer and method (all but its keys)? */
static bool rule_selects(const struct rule *r, const struct udsrpc_peer *peer, const char *method,
                         size_t mlen)
{
	if (r->uids.n && !has_id(r->uids.ids, r->uids.n, peer->uid))
		return false;
	if (r->npids && !pid_match(r, peer))
		return false;
	if (r->gids.n && !any_group(r->gids.ids, r->gids.n, peer))
		return false;
	if (r->groups.n && !any_group(r->groups.ids, r->groups.n, peer))
		return false;
	if (r->nexes && !exe_match(r, peer->exe))
		return false;
	for (size_t i = 0; i < r->nmethods; i++)
		if (glob_match(&r->methods[i], method, mlen))
			return true;
	return false;
}

/* A rule with keys matches only a call on a key (none: NULL) that one of them matches. */
static bool key_match(const struct rule *r, const char *key, size_t klen)
{
	if (!key)
		return false;
	for (size_t i = 0; i < r->nkeys; i++)
		if (glob_match(&r->keys[i], key, klen))
			return true;
	return false;
}

size_t policy_decide(const struct policy *p, bool provide, const struct udsrpc_peer *peer,
                     const char *name, const char *key, bool *ret_allow)
{
	*ret_allow = false;
	if (!p || !peer || !name)
		return 0;
	size_t mlen = strlen(name), klen = key ? strlen(key) : 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];

		if (r->provide == provide && rule_selects(r, peer, name, mlen) &&
		    (!r->nkeys || key_match(r, key, klen))) {
			*ret_allow = r->allow;
			return i + 1;
		}
	}
	return 0;
}

bool policy_allows(const struct policy *p, const struct udsrpc_peer *peer, const char *method,
                   const char *key)
{
	bool allow;
	policy_decide(p, false, peer, method, key, &allow);
	return allow;
}

/* One key glob of a plan, with what its rule decides and a byte to reject most keys by. */
struct plan_glob {
	const struct glob *g;
	char first; /* the byte every key it matches starts with, or 0: any */
	bool allow;
};

struct policy_plan {
	bool allow; /* the verdict of the first rule without keys that selects, or deny */
	size_t n;
	/* Before it, the key globs of the rules with keys that select, in rule order. */
	struct plan_glob globs[];
};

struct policy_plan *policy_plan_new(const struct policy *p, const struct udsrpc_peer *peer,
                                    const char *method)
{
	size_t mlen = method ? strlen(method) : 0, nrules = p ? p->nrules : 0, nglobs = 0;
	struct policy_plan *plan;

	for (size_t i = 0; i < nrules; i++)
		nglobs += p->rules[i].nkeys;
	if (!(plan = calloc(1, sizeof(*plan) + nglobs * sizeof(plan->globs[0]))) || !peer || !method)
		return plan;
	for (size_t i = 0; i < nrules; i++) {
		const struct rule *r = &p->rules[i];

		if (r->provide || !rule_selects(r, peer, method, mlen))
			continue;
		if (!r->nkeys) {
			plan->allow = r->allow;
			break;
		}
		for (size_t k = 0; k < r->nkeys; k++) {
			const struct glob *g = &r->keys[k];
			plan->globs[plan->n++] = (struct plan_glob){
			    g, g->exact || g->prefix.len ? g->text[0] : '\0', r->allow};
		}
	}
	return plan;
}

bool policy_plan_keyless(const struct policy_plan *plan)
{
	return plan->n == 0;
}

bool policy_plan_same(const struct policy_plan *a, const struct policy_plan *b)
{
	if (a->allow != b->allow || a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->globs[i].g != b->globs[i].g || a->globs[i].allow != b->globs[i].allow)
			return false;
	return true;
}

/* Per call on a key: one byte compared per glob, most often, and no call. */
bool policy_plan_allows(const struct policy_plan *plan, const char *key)
{
	size_t klen = key ? strlen(key) : 0;

	for (size_t i = 0; key && i < plan->n; i++) {
		const struct plan_glob *e = &plan->globs[i];
		if ((!e->first || e->first == key[0]) && glob_match(e->g, key, klen))
			return e->allow;
	}
	return plan->allow;
}

bool policy_allows_provide(const struct policy *p, const struct udsrpc_peer *peer,
                           const char *name)
{
	bool allow;
	policy_decide(p, true, peer, name, NULL, &allow);
	return allow;
}

size_t policy_provide_rule_count(const struct policy *p)
{
	size_t n = 0;
	for (size_t i = 0; p && i < p->nrules; i++)
		n += p->rules[i].provide;
	return n;
}

bool policy_has_keys(const struct policy *p)
{
	return p && p->has_keys;
}

size_t policy_rule_count(const struct policy *p)
{
	return p ? p->nrules : 0;
}

/* The list under key (absent when empty); an unknown name as written. False on ENOMEM. */
static bool put_ids(json_t *obj, const char *key, const struct id_list *l)
{
	json_t *a;

	if (l->n == 0)
		return true;
	a = json_array();
	if (!a || json_object_set_new(obj, key, a) < 0)
		return false;
	for (size_t i = 0; i < l->n; i++) {
		const char *name = l->unknown ? l->unknown[i] : NULL;
		if (json_array_append_new(a, name ? json_string(name) : json_integer(l->ids[i])) < 0)
			return false;
	}
	return true;
}

static json_t *rule_to_json(const struct rule *r)
{
	json_t *o = json_object(), *a;
	bool ok;

	if (!o)
		return NULL;
	ok = json_object_set_new(o, "effect", json_string(r->allow ? "allow" : "deny")) == 0;
	a = json_array();
	ok = ok && a && json_object_set_new(o, r->provide ? "provide" : "methods", a) == 0;
	for (size_t i = 0; ok && i < r->nmethods; i++)
		ok = json_array_append_new(a, json_string(r->methods[i].text)) == 0;
	ok = ok && put_ids(o, "uids", &r->uids);
	ok = ok && put_ids(o, "gids", &r->gids);
	ok = ok && put_ids(o, "groups", &r->groups);
	if (ok && r->npids) {
		a = json_array();
		ok = a && json_object_set_new(o, "pids", a) == 0;
		for (size_t i = 0; ok && i < r->npids; i++)
			ok = json_array_append_new(a, json_integer(r->pids[i].pid)) == 0;
	}
	if (ok && r->nexes) {
		a = json_array();
		ok = a && json_object_set_new(o, "exe", a) == 0;
		for (size_t i = 0; ok && i < r->nexes; i++)
			ok = json_array_append_new(a, json_string(r->exes[i].path)) == 0;
	}
	if (ok && r->nkeys) {
		a = json_array();
		ok = a && json_object_set_new(o, "keys", a) == 0;
		for (size_t i = 0; ok && i < r->nkeys; i++)
			ok = json_array_append_new(a, json_string(r->keys[i].text)) == 0;
	}
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *policy_to_json(const struct policy *p)
{
	json_t *doc = json_object(), *rules;

	/* set_new takes the reference even when it fails, so rules never leaks. */
	if (!doc || json_object_set_new(doc, "rules", rules = json_array()) < 0) {
		json_decref(doc);
		return NULL;
	}
	for (size_t i = 0; p && i < p->nrules; i++) {
		if (json_array_append_new(rules, rule_to_json(&p->rules[i])) < 0) {
			json_decref(doc);
			return NULL;
		}
	}
	return doc;
}

/*
 * Whether root could still call method: the first rule that surely decides
 * for any root process (no pids or exe condition) must not be a deny, and
 * some allow rule that root may match must come before it.
 */
bool policy_root_may_call(const struct policy *p, const char *method)
{
	size_t mlen = strlen(method);

	for (size_t i = 0; p && i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];
		bool methods = false;

		/* daemon.reload has no key: a rule with keys never decides it. */
		if (r->provide || r->nkeys)
			continue;
		for (size_t j = 0; j < r->nmethods && !methods; j++)
			methods = glob_match(&r->methods[j], method, mlen);
		if (!methods || (r->uids.n && !has_id(r->uids.ids, r->uids.n, 0)))
			continue;
		if (r->allow)
			return true;
		/* Root's groups vary by process: only a deny without them is sure. */
		if (!r->npids && !r->nexes && !r->gids.n && !r->groups.n)
			return false;
	}
	return false;
}

void policy_unmatched_patterns(const struct policy *p, const char *const *names, const size_t *lens,
                               size_t n, policy_pattern_fn *fn, void *userdata)
{
	for (size_t i = 0; p && i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];

		/* What providers may serve comes and goes: only call rules are checked. */
		for (size_t j = 0; !r->provide && j < r->nmethods; j++) {
			size_t k = 0;

			while (k < n && !glob_match(&r->methods[j], names[k], lens[k]))
				k++;
			if (k == n)
				fn(i + 1, r->methods[j].text, userdata);
		}
	}
}
