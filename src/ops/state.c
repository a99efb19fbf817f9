/* The state directory read (sagated needs no more), and every name in
 * it.  Writing is in state_write.c. */
#include "config.h"

#include "state.h"
#include "state_int.h"

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
};

static const char *const gen_files[] = {
	[STATE_GEN_DIR] = "",
	[STATE_GEN_POLICY] = "/policy.json",
	[STATE_GEN_META] = "/meta.json",
	[STATE_GEN_PREVIOUS] = "/previous",
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
	m->source = NULL;
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
	if (cur && state_gen_path(path, sizeof(path), dir, cur, STATE_GEN_PREVIOUS) == 0 &&
	    (prev = link_generation(path)))
		return prev;
	/* written before generations kept their rollback target (or none:
	 * then it is STATE_PREVIOUS_TARGET, no generation's name) */
	if (state_path(path, sizeof(path), dir, STATE_PREVIOUS) < 0)
		return 0;
	return link_generation(path);
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
	json_decref(j);
	return 0;
}
