/* The state directory written: a generation recorded, the links switched
 * to it, old ones pruned.  Apart from state.c (reading, and every name)
 * so that sagated, which only reads, links neither this nor the bundle
 * writer (tests/check-layers.sh checks the binary). */
#include "config.h"

#include "bundle.h"
#include "sha256.h"
#include "state.h"
#include "state_int.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
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

/* Write len bytes to path: a temporary file, fsync, rename over
 * (util.h).  With locked, the file is flock(2)ed before it takes its
 * name, and its descriptor returned (else 0); -1 after an error, with
 * nothing left. */
static int write_atomic(const char *path, const char *text, size_t len, bool locked,
			struct diag_list *d)
{
	const char *step = "create";
	/* 0640: readable by the directory's group, sagated's (state_share),
	 * whatever the umask (sagate.service's is 0077) */
	int rc = locked ? write_file_atomic_locked(path, text, len, 0640, true, &step) :
			  write_file_atomic(path, text, len, 0640, true, &step);

	if (rc < 0)
		fail(d, path, strcmp(step, "create") == 0 ? "cannot create" :
			      strcmp(step, "write") == 0 ? "cannot write" : "cannot rename into place");
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

static int write_json(const char *path, json_t *j, bool locked, struct diag_list *d)
{
	size_t len;
	char *text = json_text(j, &len);
	int rc;

	if (!text) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
		return -1;
	}
	rc = write_atomic(path, text, len, locked, d);
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
		/* the parser's digest of these bytes: an 11 MB policy is
		 * not hashed twice */
		memcpy(sha, p->text_sha256, 65);
		return write_atomic(path, p->text, p->text_len, false, d);
	}
	bundle = bundle_from_policy(p);
	text = bundle ? json_text(bundle, &len) : NULL;
	json_decref(bundle);
	if (!text) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
		return -1;
	}
	sha256_hex(text, len, sha);
	rc = write_atomic(path, text, len, false, d);
	free(text);
	return rc;
}

int state_write_json(const char *path, json_t *j, struct diag_list *d)
{
	return write_json(path, j, false, d);
}

int state_write_json_locked(const char *path, json_t *j, struct diag_list *d)
{
	return write_json(path, j, true, d);
}

/* Make what was written in dir (names made, renamed, removed) survive a
 * crash.  A failure matters only before a switch. */
static int sync_dir(const char *dir, struct diag_list *d)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return d ? fail(d, dir, "cannot open") : -1;
	rc = fsync(fd);
	if (rc < 0 && d)
		fail(d, dir, "cannot write");
	close(fd);
	return rc;
}

/* Point link at target, atomically: a link beside it, renamed over it. */
static int set_link(const char *link, const char *target, struct diag_list *d)
{
	char tmp[PATH_MAX + 16];

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", link, (int)getpid());
	if (symlink(target, tmp) < 0)
		return fail(d, tmp, "cannot create");
	if (rename(tmp, link) < 0) {
		fail(d, link, "cannot switch");
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Link `previous` shows people the rollback target: the current
 * generation's own.  Only a convenience (state_generation reads through
 * `current`), so a failure is not one of the switch. */
static void previous_link(const char *dir)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	if (state_path(link, sizeof(link), dir, STATE_PREVIOUS) < 0)
		return;
	n = readlink(link, target, sizeof(target) - 1);
	if (n == (ssize_t)strlen(STATE_PREVIOUS_TARGET) &&
	    memcmp(target, STATE_PREVIOUS_TARGET, (size_t)n) == 0)
		return;
	struct diag_list quiet;

	diag_list_init(&quiet);
	set_link(link, STATE_PREVIOUS_TARGET, &quiet);
	diag_list_fini(&quiet);
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

/* Record prev as generation gen's rollback target. */
static int set_gen_previous(const char *dir, unsigned gen, unsigned prev, struct diag_list *d)
{
	char link[PATH_MAX], target[32];

	if (state_gen_path(link, sizeof(link), dir, gen, STATE_GEN_PREVIOUS) < 0 ||
	    state_gen_link(target, sizeof(target), prev) < 0)
		return fail(d, dir, "cannot record the rollback target");
	return set_link(link, target, d);
}

void state_actor_self(struct state_actor *a, const char *command)
{
	const char *sudo = getenv("SUDO_USER");
	struct passwd pw, *res = NULL;
	char buf[1024];
	uid_t uid = getuid();

	memset(a, 0, sizeof(*a));
	a->at = (long long)time(NULL);
	a->uid = (long)uid;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0)
		res = NULL;
	/* who ran sudo is who applied it, for people; the uid stays the
	 * process's own */
	if (res && uid == 0 && sudo && *sudo && strcmp(sudo, "root"))
		snprintf(a->user, sizeof(a->user), "%s (sudo: %.30s)", res->pw_name, sudo);
	else if (res)
		snprintf(a->user, sizeof(a->user), "%s", res->pw_name);
	snprintf(a->command, sizeof(a->command), "%s", command);
}

static json_t *actor_json(const struct state_actor *a)
{
	return json_pack("{s:I, s:I, s:s, s:s}", "at", (json_int_t)a->at, "uid",
			 (json_int_t)a->uid, "user", a->user, "command", a->command);
}

/* NULL on OOM */
static json_t *meta_json(const struct state_meta *m)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:i}", "source", m->source,
			 "sha256", m->sha256, "bundle_sha256", m->bundle_sha256,
			 "mode", m->mode == PLAN_ENGINE ? "engine" : "kernel-only",
			 "queue", m->queue, "queue_base", m->queue_base,
			 "queue_count", m->queue_count ? (int)m->queue_count : 1,
			 "applied_at", (json_int_t)m->applied_at, "generation", m->generation);

	if (j && m->source_path &&
	    json_object_set_new(j, "source_path", json_string(m->source_path)) < 0)
		goto oom;
	/* unknown in a generation from before it was kept: stays unknown */
	if (j && m->applied_by.uid >= 0 &&
	    json_object_set_new(j, "applied_by", actor_json(&m->applied_by)) < 0)
		goto oom;
	if (j && m->confirm && json_object_set_new(j, "confirm", json_integer(m->confirm)) < 0)
		goto oom;
	if (j && m->table_comment[0] &&
	    json_object_set_new(j, "table_comment", json_string(m->table_comment)) < 0)
		goto oom;
	return j;
oom:
	json_decref(j);
	return NULL;
}

/* Write gen's meta again with its queue (queue not NULL) or its table
 * comment (comment not NULL) changed. */
static int meta_rewrite(const char *dir, unsigned gen, const uint16_t *queue,
			const char *comment, struct diag_list *d)
{
	char path[PATH_MAX];
	struct state_meta m;
	json_t *j;
	int rc;

	if (state_read_meta(dir, gen, &m, d) < 0)
		return -1;
	if (queue)
		m.queue = *queue;
	if (comment)
		snprintf(m.table_comment, sizeof(m.table_comment), "%s", comment);
	j = meta_json(&m);
	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_META) < 0)
		rc = fail(d, dir, "cannot name a generation's meta");
	else
		rc = j ? state_write_json(path, j, d) : -1;
	if (!j)
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
	json_decref(j);
	state_meta_fini(&m);
	return rc;
}

int state_set_queue(const char *dir, unsigned gen, uint16_t queue, struct diag_list *d)
{
	return meta_rewrite(dir, gen, &queue, NULL, d);
}

int state_set_table_comment(const char *dir, unsigned gen, const char *comment,
			    struct diag_list *d)
{
	return meta_rewrite(dir, gen, NULL, comment, d);
}

/* A generation directory's mode, whatever the umask: 0750, and
 * set-group-ID like the state directory when state_share made it so (the
 * files written in it later, meta.json of a rollback, keep the group
 * sagated reads through). */
static mode_t gen_mode(const char *dir)
{
	struct stat st;

	return stat(dir, &st) == 0 && (st.st_mode & S_ISGID) ? 02750 : 0750;
}

unsigned state_prepare(const char *dir, const struct policy *p,
		       const struct state_meta *m, struct diag_list *d)
{
	struct state_meta meta = *m;
	char gdir[PATH_MAX], ppath[PATH_MAX], mpath[PATH_MAX];
	unsigned cur = state_generation(dir, STATE_CURRENT);
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
	    mkdir(gdir, gen_mode(dir)) < 0 || chmod(gdir, gen_mode(dir)) < 0) {
		fail(d, gdir, "cannot create");
		return 0;
	}
	meta.generation = gen;
	state_actor_self(&meta.applied_by, "apply");
	meta.applied_at = meta.applied_by.at;
	/* the file as the admin named it, resolved where it was named */
	meta.source_path = meta.source ? realpath(meta.source, NULL) : NULL;
	rc = write_policy(ppath, p, meta.bundle_sha256, d);
	if (rc == 0) {
		mj = meta_json(&meta);	/* NULL (OOM) is reported by the writer */
		rc = state_write_json(mpath, mj, d);
		json_decref(mj);
	}
	/* the rollback target goes in with the generation, so that making
	 * it current switches both at once */
	if (rc == 0 && cur)
		rc = set_gen_previous(dir, gen, cur, d);
	if (rc == 0)
		rc = sync_dir(gdir, d);
	free(meta.source_path);
	if (rc < 0) {
		state_discard(dir, gen);
		return 0;
	}
	return gen;
}

/* path (never followed if a link) of group gid and mode mode.  0, or -1
 * with errno. */
static int share_one(const char *path, gid_t gid, mode_t mode)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0)
		rc = -1;
	else if (st.st_gid != gid || (st.st_mode & 07777) != mode)
		rc = fchown(fd, (uid_t)-1, gid) < 0 || fchmod(fd, mode) < 0 ? -1 : 0;
	if (rc < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	close(fd);
	return 0;
}

int state_share(const char *dir, struct diag_list *d)
{
	static const enum state_gen_file files[] = { STATE_GEN_POLICY, STATE_GEN_META };
	const struct group *gr = getgrnam(STATE_READER);
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dh;
	int rc = 0;

	if (!gr)
		return 0;
	if (share_one(dir, gr->gr_gid, 02750) < 0 || !(dh = opendir(dir))) {
		diag_add(d, DIAG_WARNING, dir, "", NULL,
			 "cannot let group %s read the state directory: %s; sagated may not read what is applied",
			 STATE_READER, strerror(errno));
		return -1;
	}
	while ((de = readdir(dh))) {
		unsigned gen = state_gen_number(de->d_name);

		if (!gen || state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_DIR) < 0)
			continue;
		rc = share_one(path, gr->gr_gid, 02750);
		for (size_t i = 0; rc == 0 && i < sizeof(files) / sizeof(files[0]); i++)
			if (state_gen_path(path, sizeof(path), dir, gen, files[i]) == 0)
				rc = share_one(path, gr->gr_gid, 0640);
		if (rc < 0) {
			diag_add(d, DIAG_WARNING, path, "", NULL,
				 "cannot let group %s read it: %s; sagated may not read that generation",
				 STATE_READER, strerror(errno));
			break;
		}
	}
	closedir(dh);
	return rc;
}

void state_discard(const char *dir, unsigned gen)
{
	char path[PATH_MAX];

	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_POLICY) == 0)
		unlink(path);
	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_META) == 0)
		unlink(path);
	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_PREVIOUS) == 0)
		unlink(path);
	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_OUTCOME) == 0)
		unlink(path);
	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_PLAN) == 0)
		unlink(path);
	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_DIR) == 0)
		rmdir(path);
}

/* Remove generations beyond the newest STATE_KEEP, except current and
 * the chain of rollback targets behind it (STATE_KEEP of them): each
 * rollback goes one step further back along it. */
static void prune(const char *dir)
{
	unsigned last = last_generation(dir), keep[STATE_KEEP + 1];
	size_t n = 0;

	keep[n++] = state_generation(dir, STATE_CURRENT);
	for (unsigned g = state_generation(dir, STATE_PREVIOUS); g && n < STATE_KEEP + 1;
	     g = state_target(dir, g)) {
		bool seen = false;

		for (size_t i = 0; i < n; i++)
			seen |= keep[i] == g;
		if (seen)
			break;	/* a loop (rollback --to): the rest is kept */
		keep[n++] = g;
	}
	for (unsigned g = 1; last > STATE_KEEP && g <= last - STATE_KEEP; g++) {
		bool kept = false;

		for (size_t i = 0; i < n; i++)
			kept |= keep[i] == g;
		if (!kept)
			state_discard(dir, g);
	}
}

/* Link current to generation gen: the switch. */
static int set_current(const char *dir, unsigned gen, struct diag_list *d)
{
	char link[PATH_MAX], target[32];

	if (state_path(link, sizeof(link), dir, STATE_CURRENT) < 0 ||
	    state_gen_name(target, sizeof(target), gen) < 0)
		return fail(d, dir, "cannot switch");
	if (set_link(link, target, d) < 0)
		return -1;
	sync_dir(dir, NULL);	/* done either way; this only makes it last */
	previous_link(dir);
	return 0;
}

int state_commit(const char *dir, unsigned gen, struct diag_list *d)
{
	if (set_current(dir, gen, d) < 0)
		return -1;
	prune(dir);
	return 0;
}

int state_swap(const char *dir, struct diag_list *d)
{
	unsigned prev = state_generation(dir, STATE_PREVIOUS);

	if (!prev) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "no previous policy to return to");
		return -1;
	}
	/* prev keeps its own rollback target: the generation left is rolled
	 * back, never the next rollback's target (the policy before prev is) */
	return set_current(dir, prev, d);
}

int state_switch_to(const char *dir, unsigned gen, struct diag_list *d)
{
	unsigned cur = state_generation(dir, STATE_CURRENT);

	if (!state_generation_exists(dir, gen)) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "no generation %u", gen);
		return -1;
	}
	/* gen is not current: its own rollback target can change unseen */
	if (cur && cur != gen && set_gen_previous(dir, gen, cur, d) < 0)
		return -1;
	return set_current(dir, gen, d);
}

int state_note(const char *dir, unsigned gen, enum state_note what,
	       const struct state_actor *who, unsigned to, struct diag_list *d)
{
	char path[PATH_MAX];
	json_t *j, *a;
	int rc = -1;

	if (state_gen_path(path, sizeof(path), dir, gen, STATE_GEN_OUTCOME) < 0)
		return fail(d, dir, "cannot name a generation's outcome");
	/* what is there stays, unless it is damaged: then this starts anew */
	j = json_load_file(path, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	a = actor_json(who);
	if (!j || !a)
		json_decref(a);
	else if (what == STATE_NOTE_CONFIRMED)
		rc = json_object_set_new(j, "confirmed", a);
	else if (what == STATE_NOTE_REINSTATED) {
		json_object_del(j, "rolled_back");	/* chosen again: not rejected */
		rc = json_object_set_new(j, "reinstated", a);
	}
	else if (json_object_set_new(a, "to", json_integer(to)) < 0 ||
		 json_object_set_new(a, "expiry", json_boolean(what == STATE_NOTE_EXPIRED)) < 0)
		json_decref(a);
	else
		rc = json_object_set_new(j, "rolled_back", a);
	/* json_object_set_new took a, even when it failed */
	if (rc < 0 || !j) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
		rc = -1;
	} else {
		rc = state_write_json(path, j, d);
	}
	json_decref(j);
	return rc;
}

int state_uncommit(const char *dir, struct diag_list *d)
{
	char link[PATH_MAX];

	if (state_path(link, sizeof(link), dir, STATE_CURRENT) < 0)
		return fail(d, dir, "cannot switch");
	if (unlink(link) < 0 && errno != ENOENT)
		return fail(d, link, "cannot remove");
	sync_dir(dir, NULL);
	return 0;
}
