#include "config.h"

#include "bundle.h"
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A generation's directory, and the links' target */
#define GEN_FMT "gen-%06u"

static const char *const file_names[] = {
	[STATE_CURRENT] = "current",
	[STATE_PREVIOUS] = "previous",
	[STATE_PENDING] = "pending",
	[STATE_PENDING_EXPIRED] = "pending.expired",
};

/* The number of a generation's name (a directory, a link's target), or 0. */
static unsigned gen_number(const char *name)
{
	unsigned gen;

	return sscanf(name, "gen-%u", &gen) == 1 ? gen : 0;
}

const char *state_file_name(enum state_file f)
{
	return file_names[f];
}

int state_path(char *buf, size_t len, const char *dir, enum state_file f)
{
	int n = snprintf(buf, len, "%s/%s", dir, file_names[f]);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
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

static int fail(struct diag_list *d, const char *path, const char *what)
{
	diag_add(d, DIAG_ERROR, path, "", NULL, "%s: %s", what, strerror(errno));
	return -1;
}

/* Write len bytes to path: a temporary file, fsync, rename over. */
static int write_atomic(const char *path, const char *text, size_t len,
			struct diag_list *d)
{
	char tmp[PATH_MAX];
	size_t off = 0;
	int fd, rc = -1;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(d, tmp, "cannot create");
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off < len || fsync(fd) < 0) {
		fail(d, tmp, "cannot write");
	} else if (close(fd) < 0) {
		fd = -1;
		fail(d, tmp, "cannot write");
	} else {
		fd = -1;
		rc = rename(tmp, path) < 0 ? fail(d, path, "cannot rename into place") : 0;
	}
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int state_write_json(const char *path, json_t *j, struct diag_list *d)
{
	/* one buffer, one write: json_dumpfd issues a syscall per token,
	 * which made recording a 10,000-rule policy take seconds */
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t len = text ? strlen(text) : 0;
	char *nl;
	int rc;

	if (!text || !(nl = realloc(text, len + 2))) {
		free(text);
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
		return -1;
	}
	nl[len] = '\n';
	nl[len + 1] = '\0';
	rc = write_atomic(path, nl, len + 1, d);
	free(nl);
	return rc;
}

static void gen_dir(char *buf, size_t len, const char *dir, unsigned gen)
{
	snprintf(buf, len, "%s/" GEN_FMT, dir, gen);
}

char *state_policy_path(const char *dir, unsigned gen)
{
	char *p;

	return asprintf(&p, "%s/" GEN_FMT "/policy.json", dir, gen) < 0 ? NULL : p;
}

unsigned state_generation(const char *dir, enum state_file link)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	if (state_path(path, sizeof(path), dir, link) < 0)
		return 0;
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	return gen_number(target);
}

/* Highest generation number present, so a new one never reuses a name. */
static unsigned last_generation(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	unsigned max = 0, g;

	if (!dh)
		return 0;
	while ((e = readdir(dh)))
		if ((g = gen_number(e->d_name)) > max)
			max = g;
	closedir(dh);
	return max;
}

static json_t *meta_json(const struct state_meta *m)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:I, s:i}", "source", m->source,
			 "sha256", m->sha256,
			 "mode", m->mode == PLAN_ENGINE ? "engine" : "kernel-only",
			 "queue", m->queue, "applied_at", (json_int_t)m->applied_at,
			 "generation", m->generation);
}

unsigned state_prepare(const char *dir, const struct policy *p,
		       const struct state_meta *m, struct diag_list *d)
{
	struct state_meta meta = *m;
	char gdir[PATH_MAX], path[PATH_MAX + 16];
	json_t *bundle, *mj;
	unsigned gen;
	int rc;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fail(d, dir, "cannot create the state directory");
		return 0;
	}
	gen = last_generation(dir) + 1;
	gen_dir(gdir, sizeof(gdir), dir, gen);
	if (mkdir(gdir, 0700) < 0) {
		fail(d, gdir, "cannot create");
		return 0;
	}
	meta.generation = gen;
	meta.applied_at = (long long)time(NULL);
	/* a policy that includes nothing is recorded byte for byte (fast,
	 * and rollback re-reads exactly what was applied); one with includes
	 * is flattened into a self-contained bundle */
	bundle = p->text ? json_true() : bundle_from_policy(p);
	mj = meta_json(&meta);
	snprintf(path, sizeof(path), "%s/policy.json", gdir);
	if (bundle && mj)
		rc = p->text ? write_atomic(path, p->text, p->text_len, d) :
		     state_write_json(path, bundle, d);
	else
		rc = -1;
	snprintf(path, sizeof(path), "%s/meta.json", gdir);
	if (rc == 0)
		rc = state_write_json(path, mj, d);
	json_decref(bundle);
	json_decref(mj);
	if (rc < 0) {
		if (!bundle || !mj)
			diag_add(d, DIAG_ERROR, dir, "", NULL, "out of memory");
		state_discard(dir, gen);
		return 0;
	}
	return gen;
}

void state_discard(const char *dir, unsigned gen)
{
	char gdir[PATH_MAX], path[PATH_MAX + 16];

	gen_dir(gdir, sizeof(gdir), dir, gen);
	snprintf(path, sizeof(path), "%s/policy.json", gdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/meta.json", gdir);
	unlink(path);
	rmdir(gdir);
}

/* Point link at generation gen, atomically. */
static int set_link(const char *dir, enum state_file which, unsigned gen,
		    struct diag_list *d)
{
	char link[PATH_MAX], tmp[PATH_MAX + 16], target[32];

	if (state_path(link, sizeof(link), dir, which) < 0)
		return fail(d, dir, "cannot switch");
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", link, (int)getpid());
	snprintf(target, sizeof(target), GEN_FMT, gen);
	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return fail(d, tmp, "cannot create");
	if (rename(tmp, link) < 0) {
		unlink(tmp);
		return fail(d, link, "cannot switch");
	}
	return 0;
}

/* Remove generations beyond the newest STATE_KEEP, except linked ones. */
static void prune(const char *dir)
{
	unsigned last = last_generation(dir), cur = state_generation(dir, STATE_CURRENT);
	unsigned prev = state_generation(dir, STATE_PREVIOUS);

	for (unsigned g = 1; last > STATE_KEEP && g <= last - STATE_KEEP; g++)
		if (g != cur && g != prev)
			state_discard(dir, g);
}

int state_commit(const char *dir, unsigned gen, struct diag_list *d)
{
	unsigned cur = state_generation(dir, STATE_CURRENT);

	if (cur && set_link(dir, STATE_PREVIOUS, cur, d) < 0)
		return -1;
	if (set_link(dir, STATE_CURRENT, gen, d) < 0)
		return -1;
	prune(dir);
	return 0;
}

int state_swap(const char *dir, struct diag_list *d)
{
	unsigned cur = state_generation(dir, STATE_CURRENT);
	unsigned prev = state_generation(dir, STATE_PREVIOUS);

	if (!prev) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "no previous policy to return to");
		return -1;
	}
	if (set_link(dir, STATE_CURRENT, prev, d) < 0)
		return -1;
	return cur ? set_link(dir, STATE_PREVIOUS, cur, d) : 0;
}

void state_uncommit(const char *dir)
{
	char link[PATH_MAX];

	if (state_path(link, sizeof(link), dir, STATE_CURRENT) == 0)
		unlink(link);
}

int state_read_meta(const char *dir, unsigned gen, struct state_meta *m,
		    struct diag_list *d)
{
	char path[PATH_MAX];
	json_error_t err;
	json_t *j, *v;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "%s/" GEN_FMT "/meta.json", dir, gen);
	j = json_load_file(path, 0, &err);
	if (!j) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "cannot read: %s", err.text);
		return -1;
	}
	/* our own file, but a disk can lie: check every field we use */
	if (!json_is_string(v = json_object_get(j, "source")) ||
	    !(m->source = strdup(json_string_value(v))) ||
	    !json_is_string(v = json_object_get(j, "sha256")) ||
	    strlen(json_string_value(v)) != 64 ||
	    !json_is_string(json_object_get(j, "mode")) ||
	    !json_is_integer(json_object_get(j, "queue")) ||
	    !json_is_integer(json_object_get(j, "applied_at"))) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "damaged state file");
		json_decref(j);
		state_meta_fini(m);
		return -1;
	}
	memcpy(m->sha256, json_string_value(v), 65);
	m->mode = strcmp(json_string_value(json_object_get(j, "mode")), "engine") ?
		  PLAN_KERNEL_ONLY : PLAN_ENGINE;
	m->queue = (uint16_t)json_integer_value(json_object_get(j, "queue"));
	m->applied_at = json_integer_value(json_object_get(j, "applied_at"));
	m->generation = gen;
	json_decref(j);
	return 0;
}
