/* The state directory written: a generation recorded, the links switched
 * to it, old ones pruned.  Apart from state.c (reading, and every name)
 * so that sagated, which only reads, links neither this nor the bundle
 * writer (tests/check-layers.sh checks the binary). */
#include "config.h"

#include "bundle.h"
#include "sha256.h"
#include "state.h"
#include "state_int.h"

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

/* j as the text of a JSON file: one line and its newline.  NULL on OOM. */
static char *json_text(json_t *j, size_t *len)
{
	/* one buffer, one write: json_dumpfd issues a syscall per token,
	 * which made recording a 10,000-rule policy take seconds */
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *nl;

	*len = text ? strlen(text) : 0;
	if (!text || !(nl = realloc(text, *len + 2))) {
		free(text);
		return NULL;
	}
	nl[(*len)++] = '\n';
	nl[*len] = '\0';
	return nl;
}

int state_write_json(const char *path, json_t *j, struct diag_list *d)
{
	size_t len;
	char *text = json_text(j, &len);
	int rc;

	if (!text) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
		return -1;
	}
	rc = write_atomic(path, text, len, d);
	free(text);
	return rc;
}

/* Write the policy file of a generation, and the digest of what was
 * written into sha. */
static int write_policy(const char *path, const struct policy *p, char sha[65],
			struct diag_list *d)
{
	json_t *bundle;
	size_t len;
	char *text;
	int rc;

	/* a policy that includes nothing is recorded byte for byte (fast,
	 * and rollback re-reads exactly what was applied); one with includes
	 * is flattened into a self-contained bundle */
	if (p->text) {
		sha256_hex(p->text, p->text_len, sha);
		return write_atomic(path, p->text, p->text_len, d);
	}
	bundle = bundle_from_policy(p);
	text = bundle ? json_text(bundle, &len) : NULL;
	json_decref(bundle);
	if (!text) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
		return -1;
	}
	sha256_hex(text, len, sha);
	rc = write_atomic(path, text, len, d);
	free(text);
	return rc;
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
		if ((g = state_gen_number(e->d_name)) > max)
			max = g;
	closedir(dh);
	return max;
}

static json_t *meta_json(const struct state_meta *m)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:i}", "source", m->source,
			 "sha256", m->sha256, "bundle_sha256", m->bundle_sha256,
			 "mode", m->mode == PLAN_ENGINE ? "engine" : "kernel-only",
			 "queue", m->queue, "applied_at", (json_int_t)m->applied_at,
			 "generation", m->generation);
}

unsigned state_prepare(const char *dir, const struct policy *p,
		       const struct state_meta *m, struct diag_list *d)
{
	struct state_meta meta = *m;
	char gdir[PATH_MAX], ppath[PATH_MAX], mpath[PATH_MAX];
	json_t *mj;
	unsigned gen;
	int rc;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fail(d, dir, "cannot create the state directory");
		return 0;
	}
	gen = last_generation(dir) + 1;
	if (state_gen_path(gdir, sizeof(gdir), dir, gen, STATE_GEN_DIR) < 0 ||
	    state_gen_path(ppath, sizeof(ppath), dir, gen, STATE_GEN_POLICY) < 0 ||
	    state_gen_path(mpath, sizeof(mpath), dir, gen, STATE_GEN_META) < 0 ||
	    mkdir(gdir, 0700) < 0) {
		fail(d, gdir, "cannot create");
		return 0;
	}
	meta.generation = gen;
	meta.applied_at = (long long)time(NULL);
	rc = write_policy(ppath, p, meta.bundle_sha256, d);
	if (rc == 0) {
		mj = meta_json(&meta);	/* NULL (OOM) is reported by the writer */
		rc = state_write_json(mpath, mj, d);
		json_decref(mj);
	}
	if (rc < 0) {
		state_discard(dir, gen);
		return 0;
	}
	return gen;
}

void state_discard(const char *dir, unsigned gen)
{
	char path[PATH_MAX];

	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_POLICY) == 0)
		unlink(path);
	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_META) == 0)
		unlink(path);
	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_DIR) == 0)
		rmdir(path);
}

/* Point link at generation gen, atomically. */
static int set_link(const char *dir, enum state_file which, unsigned gen,
		    struct diag_list *d)
{
	char link[PATH_MAX], tmp[PATH_MAX + 16], target[32];

	if (state_path(link, sizeof(link), dir, which) < 0 ||
	    state_gen_name(target, sizeof(target), gen) < 0)
		return fail(d, dir, "cannot switch");
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", link, (int)getpid());
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
