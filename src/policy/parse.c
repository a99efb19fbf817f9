#include "config.h"

#include "json_arena.h"
#include "parse.h"
#include "parse_int.h"
#include "sha256.h"
#include "util.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const policy_keys[] = {
	"version", "description", "include", "hosts", "services", "identities", "defaults",
	"logging", "max-elements", "queues", "rules", NULL
};
/* rules, defaults, max-elements and queues are known keys of an included file,
 * but rejected with a message of their own */
static const char *const include_keys[] = {
	"version", "description", "include", "hosts", "services", "identities", "rules",
	"defaults", "logging", "max-elements", "queues", NULL
};
static const char *const defaults_keys[] = { "in", "out", "forward", "log", NULL };

const char *pjson_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

static bool key_allowed(const char *key, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (strcmp(key, *allowed) == 0)
			return true;
	return false;
}

void pcheck_keys(struct pctx *c, json_t *obj, const char *const *allowed,
		 const char *file, const char *path, const char *rule)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		char list[512] = "", p[512], hint[128];
		struct suggest sg;
		size_t used = 0;

		if (key_allowed(key, allowed))
			continue;
		suggest_init(&sg, key);
		for (const char *const *a = allowed; *a; a++) {
			used += (size_t)snprintf(list + used, used < sizeof(list) ?
						 sizeof(list) - used : 0, "%s%s",
						 a == allowed ? "" : ", ", *a);
			suggest_try(&sg, *a);
		}
		snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", key);
		perr(c, file, p, rule, "unknown key \"%s\" (expected one of: %s)%s",
		     key, list, suggest_text(&sg, hint, sizeof(hint)));
	}
}

static struct loaded_file *file_add(struct pctx *c, const char *display,
				    const char *real)
{
	struct loaded_file *f;

	if (grow_array(&c->files, &c->capfiles, c->nfiles + 1, sizeof(*c->files))) {
		c->oom = true;
		return NULL;
	}
	f = &c->files[c->nfiles++];
	memset(f, 0, sizeof(*f));
	f->display = strdup(display);
	f->real = strdup(real);
	if (!f->display || !f->real)
		c->oom = true;
	return f;
}

static struct loaded_file *file_find(struct pctx *c, const char *real)
{
	for (size_t i = 0; i < c->nfiles; i++)
		if (strcmp(c->files[i].real, real) == 0)
			return &c->files[i];
	return NULL;
}

/* jansson's message ends with the text it stopped at ("'[' or '{'
 * expected near 'root'"), and a few hold bytes of the input ("control
 * character 0x7", "invalid Unicode '\uDC00'").  A file that is not JSON
 * may be anything (an include of /etc/shadow): keep jansson's words and
 * none of the file's. */
static void json_error_words(const json_error_t *e, char *out, size_t size)
{
	static const char *const quoting[] = { " near '", " 0x", " '\\" };
	size_t n = strlen(e->text);

	for (size_t i = 0; i < ARRAY_SIZE(quoting); i++) {
		const char *q = strstr(e->text, quoting[i]);

		if (q && (size_t)(q - e->text) < n)
			n = (size_t)(q - e->text);
	}
	snprintf(out, size, "%.*s%s", (int)n, e->text,
		 strstr(e->text, " near '") ? " near the text ending there" : "");
}

/* A file at least this large is hashed on a second thread while jansson
 * parses it (both only read the bytes): at 100,000 rules (11 MB) the
 * digest is a sixth of the parse.  Below it a thread is not worth it. */
#define PARSE_HASH_THREAD_MIN ((size_t)1 << 20)

struct hash_job {
	const char *buf;
	size_t len;
	char *sha;
};

static void *hash_run(void *arg)
{
	struct hash_job *j = arg;

	sha256_hex(j->buf, j->len, j->sha);
	return NULL;
}

/* Read and decode one file.  On failure, reports at (from, from_path):
 * the include that named it, or the file itself. */
static json_t *load_json(struct pctx *c, const char *file, const char *from,
			 const char *from_path, char sha[65], char **keep, size_t *keep_len)
{
	const char *at = from ? from : file, *kind;
	json_error_t jerr;
	char words[sizeof(jerr.text) + 32];
	struct hash_job job;
	bool hashing = false;
	pthread_t hasher;
	size_t len;
	char *buf;
	json_t *root;

	if (read_file_limited(file, c->max_size, &buf, &len, &kind) < 0) {
		if (kind)
			perr(c, at, from_path, NULL, "%s is not a regular file (%s)", file, kind);
		else if (errno == EFBIG && from)
			perr(c, from, from_path, NULL,
			     "%s: file is larger than the limit of %zu bytes",
			     file, c->max_size);
		else if (errno == EFBIG)
			perr(c, file, "", NULL,
			     "file is larger than the limit of %zu bytes", c->max_size);
		else
			perr(c, at, from_path, NULL, "cannot read %s: %s", file, strerror(errno));
		return NULL;
	}
	if (sha) {
		job = (struct hash_job){ buf, len, sha };
		hashing = len >= PARSE_HASH_THREAD_MIN &&
			  pthread_create(&hasher, NULL, hash_run, &job) == 0;
		if (!hashing)	/* small, or no thread to be had: here */
			sha256_hex(buf, len, sha);
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (hashing)
		pthread_join(hasher, NULL);
	if (keep) {
		*keep = buf;
		*keep_len = len;
	} else {
		free(buf);
	}
	if (!root) {
		json_error_words(&jerr, words, sizeof(words));
		perr(c, file, "", NULL, "invalid JSON at line %d, column %d: %s",
		     jerr.line, jerr.column, words);
	}
	return root;
}

static void check_version(struct pctx *c, json_t *root, const char *file)
{
	json_t *v = json_object_get(root, "version");

	if (!v)
		perr(c, file, "version", NULL,
		     "missing \"version\" (expected 1, the only version so far)");
	else if (!json_is_integer(v))
		perr(c, file, "version", NULL, "expected the integer 1, got %s",
		     pjson_type(v));
	else if (json_integer_value(v) != 1)
		perr(c, file, "version", NULL,
		     "unsupported version %lld (this sagate reads version 1)",
		     (long long)json_integer_value(v));
}

static void load_tree(struct pctx *c, const char *file, const char *from,
		      const char *from_path, int depth);

static void load_includes(struct pctx *c, json_t *root, const char *file,
			  int depth)
{
	json_t *inc = json_object_get(root, "include"), *v;
	char *copy, *dir;
	size_t i;

	if (!inc)
		return;
	if (!json_is_array(inc)) {
		perr(c, file, "include", NULL,
		     "expected an array of file names, got %s", pjson_type(inc));
		return;
	}
	copy = strdup(file);
	if (!copy) {
		c->oom = true;
		return;
	}
	dir = dirname(copy);
	json_array_foreach(inc, i, v) {
		char path[64], *target = NULL;
		const char *name;

		snprintf(path, sizeof(path), "include[%zu]", i);
		if (!json_is_string(v)) {
			perr(c, file, path, NULL, "expected a file name, got %s",
			     pjson_type(v));
			continue;
		}
		name = json_string_value(v);
		if (name[0] == '/' ? !(target = strdup(name)) :
		    asprintf(&target, "%s/%s", dir, name) < 0) {
			c->oom = true;
			break;
		}
		if (depth + 1 >= PARSE_MAX_INCLUDE_DEPTH)
			perr(c, file, path, NULL, "includes nest deeper than %d files",
			     PARSE_MAX_INCLUDE_DEPTH);
		else
			load_tree(c, target, file, path, depth + 1);
		free(target);
	}
	free(copy);
}

/* Load file and, depth first, everything it includes; collect their
 * definitions.  depth 0 is the policy itself. */
static void load_tree(struct pctx *c, const char *file, const char *from,
		      const char *from_path, int depth)
{
	char real[PATH_MAX], sha[65] = "";
	struct loaded_file *f;
	json_t *root;
	size_t idx;

	if (!realpath(file, real)) {
		perr(c, from ? from : file, from ? from_path : "", NULL,
		     "cannot read %s: %s", file, strerror(errno));
		return;
	}
	f = file_find(c, real);
	if (f && f->active) {
		perr(c, from, from_path, NULL,
		     "include cycle: %s is already being read", file);
		return;
	}
	if (f)
		return;	/* included twice without a cycle: read once */
	char *text = NULL;
	size_t text_len = 0;

	root = load_json(c, file, from, from_path, sha, depth ? NULL : &text, &text_len);
	f = file_add(c, file, real);	/* even when broken: report it once */
	if (f) {
		memcpy(f->sha, sha, sizeof(sha));
		f->text = text;
		f->text_len = text_len;
	} else {
		free(text);
	}
	if (!f || !root) {
		json_decref(root);
		return;
	}
	f->root = root;
	idx = (size_t)(f - c->files);
	if (!json_is_object(root)) {
		perr(c, file, "", NULL, "expected a JSON object at the top, got %s",
		     pjson_type(root));
		return;
	}
	check_version(c, root, file);
	pcheck_keys(c, root, depth ? include_keys : policy_keys, file, "", NULL);
	if (depth) {
		if (json_object_get(root, "rules"))
			perr(c, file, "rules", NULL,
			     "only the policy file itself may hold rules; included files hold hosts and services");
		if (json_object_get(root, "defaults"))
			perr(c, file, "defaults", NULL,
			     "only the policy file itself may set defaults");
		if (json_object_get(root, "max-elements"))
			perr(c, file, "max-elements", NULL,
			     "only the policy file itself may set max-elements");
		if (json_object_get(root, "queues"))
			perr(c, file, "queues", NULL,
			     "only the policy file itself may set queues");
		if (json_object_get(root, "logging"))
			perr(c, file, "logging", NULL,
			     "only the policy file itself may set logging");
	}
	if (depth && json_object_get(root, "description") &&
	    !json_is_string(json_object_get(root, "description")))
		perr(c, file, "description", NULL, "expected a string, got %s",
		     pjson_type(json_object_get(root, "description")));
	c->files[idx].active = true;
	load_includes(c, root, file, depth);
	c->files[idx].active = false;
	pdefs_collect(c, c->files[idx].root, c->files[idx].display);
	if (json_object_get(c->files[idx].root, "identities"))
		pident_collect(c, json_object_get(c->files[idx].root, "identities"),
			       c->files[idx].display);
}

static enum action parse_default(struct pctx *c, json_t *d, const char *key,
				 const char *file, enum action dflt)
{
	json_t *v = json_object_get(d, key);
	char path[32];
	const char *s;

	if (!v)
		return dflt;
	snprintf(path, sizeof(path), "defaults.%s", key);
	s = json_is_string(v) ? json_string_value(v) : NULL;
	if (s && strcmp(s, "permit") == 0)
		return ACT_PERMIT;
	if (s && strcmp(s, "block") == 0)
		return ACT_BLOCK;
	perr(c, file, path, NULL, "expected \"permit\" or \"block\", got %s%s%s",
	     s ? "\"" : "", s ? s : pjson_type(v), s ? "\"" : "");
	return dflt;
}

static void parse_max_elements(struct pctx *c, json_t *v, const char *file,
			       struct policy *p)
{
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;

	p->max_elements = POLICY_DEFAULT_MAX_ELEMENTS;
	if (!v)
		return;
	if (!json_is_integer(v))
		perr(c, file, "max-elements", NULL, "expected an integer 1-4294967295, got %s",
		     pjson_type(v));
	else if (n < 1 || n > (json_int_t)UINT32_MAX)
		perr(c, file, "max-elements", NULL, "max-elements %lld is outside 1-4294967295",
		     (long long)n);
	else
		p->max_elements = (size_t)n;
}

static void parse_queues(struct pctx *c, json_t *v, const char *file, struct policy *p)
{
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;

	if (!v)
		return;
	if (!json_is_integer(v))
		perr(c, file, "queues", NULL, "expected an integer 1-%d, got %s",
		     POLICY_MAX_QUEUES, pjson_type(v));
	else if (n < 1 || n > POLICY_MAX_QUEUES)
		perr(c, file, "queues", NULL,
		     "queues %lld is outside 1-%d (sagated serves at most %d queues per bank)",
		     (long long)n, POLICY_MAX_QUEUES, POLICY_MAX_QUEUES);
	else
		p->queues = (unsigned)n;
}

static void parse_top(struct pctx *c, json_t *root, const char *file,
		      struct policy *p)
{
	json_t *d = json_object_get(root, "defaults");
	json_t *desc = json_object_get(root, "description");
	json_t *rules = json_object_get(root, "rules");

	if (desc && !json_is_string(desc))
		perr(c, file, "description", NULL, "expected a string, got %s",
		     pjson_type(desc));
	else if (desc && !(p->description = strdup(json_string_value(desc))))
		c->oom = true;
	if (d && !json_is_object(d)) {
		perr(c, file, "defaults", NULL, "expected an object, got %s",
		     pjson_type(d));
	} else if (d) {
		pcheck_keys(c, d, defaults_keys, file, "defaults", NULL);
		p->defaults[DIR_IN] = parse_default(c, d, "in", file, ACT_BLOCK);
		p->defaults[DIR_OUT] = parse_default(c, d, "out", file, ACT_PERMIT);
		p->defaults[DIR_FWD] = parse_default(c, d, "forward", file, ACT_BLOCK);
		p->forward_covered = json_object_get(d, "forward") != NULL;
	}
	parse_max_elements(c, json_object_get(root, "max-elements"), file, p);
	parse_queues(c, json_object_get(root, "queues"), file, p);
	if (!rules)
		perr(c, file, "rules", NULL, "missing \"rules\" (an array of rules)");
	else if (!json_is_array(rules))
		perr(c, file, "rules", NULL, "expected an array of rules, got %s",
		     pjson_type(rules));
	else
		prules_parse(c, rules, file, p);
	for (size_t i = 0; i < p->nrules; i++)
		p->forward_covered |= p->rules[i].dir == DIR_FWD;
	plog_parse(c, root, file, p);
}

/* One digest for the policy and everything it includes: SHA-256 over
 * the files' own digests, in the order they were read. */
static void policy_digest(struct pctx *c, char out[65])
{
	char *all = calloc(c->nfiles ? c->nfiles : 1, 64);

	if (!all) {
		c->oom = true;
		return;
	}
	for (size_t i = 0; i < c->nfiles; i++)
		memcpy(all + 64 * i, c->files[i].sha, 64);
	sha256_hex(all, 64 * c->nfiles, out);
	free(all);
}

static void pctx_fini(struct pctx *c)
{
	pdefs_free(c);
	pident_free(c);
	for (size_t i = 0; i < c->nfiles; i++) {
		if (!c->arena)	/* else dropped with the arena */
			json_decref(c->files[i].root);
		free(c->files[i].text);
		free(c->files[i].display);
		free(c->files[i].real);
	}
	free(c->files);
}

struct policy *parse_policy_file(const char *path, const struct parse_opts *opts,
				 struct diag_list *diags)
{
	struct pctx c = { .diags = diags };
	size_t errors_before = diags->errors;
	struct policy *p = policy_alloc();

	c.max_size = opts && opts->max_file_size ? opts->max_file_size :
		     PARSE_DEFAULT_MAX_SIZE;
	if (!p || !(p->file = strdup(path))) {
		policy_free(p);
		diag_add(diags, DIAG_ERROR, path, "", NULL, "out of memory");
		return NULL;
	}
	c.arena = opts && opts->json_arena && json_arena_begin();
	load_tree(&c, path, NULL, "", 0);
	policy_digest(&c, p->sha256);
	pdefs_validate(&c);
	if (c.nfiles && json_is_object(c.files[0].root))
		parse_top(&c, c.files[0].root, c.files[0].display, p);
	pdefs_export(&c, p);
	if (c.oom)
		diag_add(diags, DIAG_ERROR, path, "", NULL, "out of memory");
	if (c.nfiles == 1) {	/* self-contained: its bytes are the record */
		p->text = c.files[0].text;
		p->text_len = c.files[0].text_len;
		memcpy(p->text_sha256, c.files[0].sha, sizeof(p->text_sha256));
		c.files[0].text = NULL;
	}
	pctx_fini(&c);
	if (c.arena)
		json_arena_end();
	if (diags->errors > errors_before) {
		policy_free(p);
		return NULL;
	}
	return p;
}
