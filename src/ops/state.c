/* The state directory read (sagated needs no more), and every name in
 * it.  Writing is in state_write.c. */
#include "config.h"

#include "compile.h"
#include "sha256.h"
#include "state.h"
#include "state_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GEN_FMT "gen-%06u"

static const char *const file_names[] = {
	[STATE_CURRENT] = "current",
	[STATE_PREVIOUS] = "previous",
	[STATE_PENDING] = "pending",
	[STATE_ROLLED_BACK] = "rolled-back",
	[STATE_LOCK] = "lock",
	[STATE_APPLYING] = "applying",
	[STATE_ROLLING_BACK] = "rolling-back",
};

static const char *const gen_files[] = {
	[STATE_GEN_DIR] = "",
	[STATE_GEN_POLICY] = "/policy.json",
	[STATE_GEN_META] = "/meta.json",
	[STATE_GEN_PREVIOUS] = "/previous",
	[STATE_GEN_OUTCOME] = "/outcome.json",
	[STATE_GEN_PLAN] = "/plan.bin",
};

static int path_printf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* snprintf that fails, as a system call would, when the path is cut */
static int path_printf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

const char *state_file_name(enum state_file f)
{
	return file_names[f];
}

int state_path(char *buf, size_t len, const char *dir, enum state_file f)
{
	return path_printf(buf, len, "%s/%s", dir, file_names[f]);
}

int state_gen_path(char *buf, size_t len, const char *dir, unsigned gen,
		   enum state_gen_file f)
{
	return path_printf(buf, len, "%s/" GEN_FMT "%s", dir, gen, gen_files[f]);
}

int state_gen_name(char *buf, size_t len, unsigned gen)
{
	return path_printf(buf, len, GEN_FMT, gen);
}

int state_gen_link(char *buf, size_t len, unsigned gen)
{
	return path_printf(buf, len, "../" GEN_FMT, gen);
}

unsigned state_gen_number(const char *name)
{
	unsigned gen;

	return sscanf(name, "gen-%u", &gen) == 1 ? gen : 0;
}

void state_meta_fini(struct state_meta *m)
{
	free(m->source);
	free(m->source_path);
	m->source = NULL;
	m->source_path = NULL;
}

bool state_owns(const char *path)
{
	size_t n = strlen(state_dir());

	return strncmp(path, state_dir(), n) == 0 && path[n] == '/';
}

const char *state_dir(void)
{
	const char *d = getenv("SAGATE_STATE_DIR");

	return d && *d ? d : STATE_DEFAULT_DIR;
}

char *state_policy_path(const char *dir, unsigned gen)
{
	char *p;

	return asprintf(&p, "%s/" GEN_FMT "%s", dir, gen, gen_files[STATE_GEN_POLICY]) < 0 ?
	       NULL : p;
}

/* The generation a link names ("gen-000012", "../gen-000012"), or 0. */
static unsigned link_generation(const char *path)
{
	char target[PATH_MAX];
	const char *base;
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n <= 0)
		return 0;
	target[n] = '\0';
	base = strrchr(target, '/');
	return state_gen_number(base ? base + 1 : target);
}

/* Generation gen's own rollback target, or 0. */
static unsigned gen_previous(const char *dir, unsigned gen)
{
	char path[PATH_MAX];

	return state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_PREVIOUS) == 0 ?
	       link_generation(path) : 0;
}

unsigned state_target(const char *dir, unsigned gen)
{
	unsigned prev = gen ? gen_previous(dir, gen) : 0;

	/* a rolled back one is never the default target: the one before it
	 * (the chain is bounded by the generations kept, and by a loop back
	 * to gen) */
	for (unsigned i = 0; prev && prev != gen && state_rejected(dir, prev); i++)
		prev = i < 4 * STATE_KEEP ? gen_previous(dir, prev) : 0;
	/* a target pruned away is none */
	return prev == gen || !state_generation_exists(dir, prev) ? 0 : prev;
}

unsigned state_generation(const char *dir, enum state_file link)
{
	char path[PATH_MAX];
	unsigned cur, prev;

	if (state_path(path, sizeof(path), dir, STATE_CURRENT) < 0)
		return 0;
	cur = link_generation(path);
	if (link == STATE_CURRENT)
		return cur;
	/* read through the current link read above: the pair is one state */
	if (cur && gen_previous(dir, cur))
		return state_target(dir, cur);
	/* written before generations kept their rollback target (or none:
	 * then it is STATE_PREVIOUS_TARGET, no generation's name) */
	if (state_path(path, sizeof(path), dir, STATE_PREVIOUS) < 0)
		return 0;
	prev = link_generation(path);
	return prev != cur && state_generation_exists(dir, prev) ? prev : 0;
}

bool state_generation_exists(const char *dir, unsigned gen)
{
	char path[PATH_MAX];

	return gen && state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_DIR) == 0 &&
	       access(path, F_OK) == 0;
}

static int cmp_newest_first(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

long state_list(const char *dir, unsigned **gens)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	unsigned *v = NULL, *nv, g;
	size_t n = 0, cap = 0;

	*gens = NULL;
	if (!dh)
		return -1;
	while ((e = readdir(dh))) {
		char name[32];

		/* only the exact names we write: no "gen-1.tmp.x" */
		if (!(g = state_gen_number(e->d_name)) ||
		    state_gen_name(name, sizeof(name), g) < 0 || strcmp(name, e->d_name))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if (!(nv = realloc(v, cap * sizeof(*v)))) {
				free(v);
				closedir(dh);
				errno = ENOMEM;
				return -1;
			}
			v = nv;
		}
		v[n++] = g;
	}
	closedir(dh);
	if (n)
		qsort(v, n, sizeof(*v), cmp_newest_first);
	*gens = v;
	return (long)n;
}

bool state_bundle_matches(const struct state_meta *m, const struct policy *pol)
{
	char want[65];

	/* the parser's digest of a file that includes nothing is the
	 * SHA-256 of that file's hex digest (model.h): no second read */
	if (!m->bundle_sha256[0])
		return true;
	sha256_hex(m->bundle_sha256, 64, want);
	return strcmp(want, pol->sha256) == 0;
}

/* An actor as recorded ({"at", "uid", "user", "command"}); false when
 * j is not one. */
static bool actor_read(json_t *j, struct state_actor *a)
{
	json_t *at = json_object_get(j, "at"), *uid = json_object_get(j, "uid");
	json_t *user = json_object_get(j, "user"), *cmd = json_object_get(j, "command");

	if (!json_is_integer(at) || !json_is_integer(uid) || json_integer_value(uid) < -1 ||
	    !json_is_string(user) || !json_is_string(cmd))
		return false;
	a->at = json_integer_value(at);
	a->uid = (long)json_integer_value(uid);
	snprintf(a->user, sizeof(a->user), "%s", json_string_value(user));
	snprintf(a->command, sizeof(a->command), "%s", json_string_value(cmd));
	return true;
}

int state_read_outcome(const char *dir, unsigned gen, struct state_outcome *o,
		       struct diag_list *d)
{
	char path[PATH_MAX];
	json_error_t err;
	json_t *j, *c, *r, *i, *v;
	bool ok;

	memset(o, 0, sizeof(*o));
	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_OUTCOME) < 0) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "cannot read generation %u: %s", gen,
			 strerror(errno));
		return -1;
	}
	if (!(j = json_load_file(path, 0, &err)) && access(path, F_OK) < 0 && errno == ENOENT)
		return 0;	/* nothing happened to it yet */
	c = json_object_get(j, "confirmed");
	r = json_object_get(j, "rolled_back");
	i = json_object_get(j, "reinstated");
	v = json_object_get(r, "to");
	ok = json_is_object(j) && (!c || actor_read(c, &o->confirmed_by)) &&
	     (!i || actor_read(i, &o->reinstated_by)) &&
	     (!r || (actor_read(r, &o->rolled_back_by) && json_is_integer(v) &&
		     json_integer_value(v) >= 0 && json_integer_value(v) < 1000000 &&
		     json_is_boolean(json_object_get(r, "expiry"))));
	if (!ok) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "damaged state file%s%s",
			 j ? "" : ": ", j ? "" : err.text);
		json_decref(j);
		memset(o, 0, sizeof(*o));
		return -1;
	}
	o->confirmed = c != NULL;
	o->reinstated = i != NULL;
	if ((o->rolled_back = r != NULL)) {
		o->rolled_back_to = (unsigned)json_integer_value(v);
		o->by_expiry = json_is_true(json_object_get(r, "expiry"));
	}
	json_decref(j);
	return 0;
}

bool state_rejected(const char *dir, unsigned gen)
{
	struct state_outcome o;
	struct diag_list quiet;

	/* a damaged record is no rejection: the target stays as recorded */
	diag_list_init(&quiet);
	if (state_read_outcome(dir, gen, &o, &quiet) < 0)
		o.rolled_back = false;
	diag_list_fini(&quiet);
	return o.rolled_back;
}

char *state_table_comment(const struct state_meta *m)
{
	return m->table_comment[0] ? strdup(m->table_comment) :
	       compile_table_comment(m->source, m->sha256);
}

bool state_table_holds(const struct state_meta *m, const char *live)
{
	char want[64];

	if (!live)
		return false;
	snprintf(want, sizeof(want), "sha256 %.16s", m->sha256);
	return strstr(live, want) || (m->table_comment[0] && strcmp(live, m->table_comment) == 0);
}

int state_read_meta(const char *dir, unsigned gen, struct state_meta *m,
		    struct diag_list *d)
{
	char path[PATH_MAX];
	json_error_t err;
	json_t *j, *v, *b;

	memset(m, 0, sizeof(*m));
	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_META) < 0) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "cannot read generation %u: %s", gen,
			 strerror(errno));
		return -1;
	}
	j = json_load_file(path, 0, &err);
	if (!j) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "cannot read: %s", err.text);
		return -1;
	}
	/* our own file, but a disk can lie: check every field we use
	 * (bundle_sha256 is missing in generations from before it was kept) */
	b = json_object_get(j, "bundle_sha256");
	if (!json_is_string(v = json_object_get(j, "source")) ||
	    !(m->source = strdup(json_string_value(v))) ||
	    !json_is_string(v = json_object_get(j, "sha256")) ||
	    strlen(json_string_value(v)) != 64 ||
	    !json_is_string(json_object_get(j, "mode")) ||
	    !json_is_integer(json_object_get(j, "queue")) ||
	    !json_is_integer(json_object_get(j, "applied_at")) ||
	    (b && (!json_is_string(b) || strlen(json_string_value(b)) != 64))) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "damaged state file");
		json_decref(j);
		state_meta_fini(m);
		return -1;
	}
	memcpy(m->sha256, json_string_value(v), 65);
	if (b)
		memcpy(m->bundle_sha256, json_string_value(b), 65);
	m->mode = strcmp(json_string_value(json_object_get(j, "mode")), "engine") ?
		  PLAN_KERNEL_ONLY : PLAN_ENGINE;
	m->queue = (uint16_t)json_integer_value(json_object_get(j, "queue"));
	/* written before the queue banks: the table's queue was the base */
	v = json_object_get(j, "queue_base");
	m->queue_base = json_is_integer(v) && json_integer_value(v) >= 0 &&
			json_integer_value(v) <= 65535 ? (uint16_t)json_integer_value(v) : m->queue;
	v = json_object_get(j, "queue_count");
	m->queue_count = json_is_integer(v) && json_integer_value(v) >= 1 &&
			 json_integer_value(v) <= 64 ? (unsigned)json_integer_value(v) : 1;
	m->applied_at = json_integer_value(json_object_get(j, "applied_at"));
	m->generation = gen;
	/* who and from where: missing in generations from before they were
	 * kept, and only informative, so never damage */
	if (json_is_string(v = json_object_get(j, "source_path")) &&
	    json_string_value(v)[0] == '/' && !(m->source_path = strdup(json_string_value(v)))) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
		json_decref(j);
		state_meta_fini(m);
		return -1;
	}
	if (!actor_read(json_object_get(j, "applied_by"), &m->applied_by))
		m->applied_by = (struct state_actor){ .at = m->applied_at, .uid = -1 };
	v = json_object_get(j, "confirm");
	m->confirm = json_is_integer(v) && json_integer_value(v) > 0 &&
		     json_integer_value(v) <= 86400 ? (unsigned)json_integer_value(v) : 0;
	v = json_object_get(j, "table_comment");
	if (json_is_string(v) && strlen(json_string_value(v)) < sizeof(m->table_comment))
		memcpy(m->table_comment, json_string_value(v), strlen(json_string_value(v)) + 1);
	json_decref(j);
	return 0;
}
