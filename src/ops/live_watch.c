/* The pending confirm of apply --confirm and its watcher.  The record
 * (the generation, the one it replaced, the deadline, a random token)
 * is held flock(2)ed by the watcher for as long as it lives; here too
 * are the watcher's wait, what it does at the deadline, and the record
 * of an automatic rollback, which confirm and status read. */
#include "config.h"

#include "live_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest the watcher sleeps before it looks again, whatever woke it
 * (or failed to: no inotify). */
#define WATCH_NAP_MS 60000
#define WATCH_NAP_NO_INOTIFY_MS 1000
/* Times the watcher tries again when the ruleset changed under it. */
#define WATCH_TRIES 5

/* Is fd's record held by a watcher?  Only a lock taken proves it is not:
 * a failure to ask counts as held, so that a live watcher is never taken
 * for gone. */
static bool held(int fd)
{
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		return false;	/* ours now; closing fd lets go */
	return true;
}

int pending_read(const char *dir, struct pending *p, struct diag_list *d)
{
	char path[PATH_MAX];
	json_t *j, *v;
	struct stat st;
	int fd;

	memset(p, 0, sizeof(*p));
	if (state_path(path, sizeof(path), dir, STATE_PENDING) < 0 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		diag_add(d, DIAG_ERROR, path, "", NULL, "cannot read: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "not a regular file");
		close(fd);
		return -1;
	}
	p->dev = st.st_dev;
	p->ino = st.st_ino;
	j = json_loadfd(fd, 0, NULL);
	p->pub.watcher = held(fd);
	close(fd);
	/* a record we cannot read (damaged, or of an older sagate) keeps
	 * generation 0: its watcher, if any, is not ours to know */
	if (json_is_integer(v = json_object_get(j, "generation")) && json_integer_value(v) > 0 &&
	    json_integer_value(v) < 1000000)
		p->pub.generation = (unsigned)json_integer_value(v);
	if (json_is_integer(v = json_object_get(j, "replaces")) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) < 1000000)
		p->pub.replaces = (unsigned)json_integer_value(v);
	else
		p->pub.generation = 0;
	if (json_is_integer(v = json_object_get(j, "deadline")))
		p->pub.deadline = json_integer_value(v);
	if (json_is_integer(v = json_object_get(j, "deadline_ns")) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) < 1000000000)
		p->deadline_ns = (long)json_integer_value(v);
	if (json_is_string(v = json_object_get(j, "token")) &&
	    strlen(json_string_value(v)) < sizeof(p->token))
		strcpy(p->token, json_string_value(v));
	json_decref(j);
	return 1;
}

int live_pending_get(const char *dir, struct live_pending *p, struct diag_list *d)
{
	struct pending rec;
	int rc = pending_read(dir, &rec, d);

	*p = rec.pub;
	return rc == 1 && !in_force(&rec, state_generation(dir, STATE_CURRENT)) ? 0 : rc;
}

int pending_withdraw(const char *dir, struct diag_list *d)
{
	char path[PATH_MAX];

	if (state_path(path, sizeof(path), dir, STATE_PENDING) < 0 ||
	    (unlink(path) < 0 && errno != ENOENT)) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "cannot remove the pending confirm: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int new_token(char *hex, struct diag_list *d)
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		diag_add(d, DIAG_ERROR, "", "", NULL, "no random bytes: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* Wait for the byte the watcher writes once it runs: EOF means it died. */
static int watcher_ready(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

/* Longest a watcher started elsewhere may take to hold its record. */
#define WATCH_START_MS 30000

/* Wait until someone else (the watcher) holds the record at path: 0, or
 * -1 when nobody did within WATCH_START_MS. */
static int taken_over(const char *path)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < WATCH_START_MS / 10; i++) {
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		bool h = fd >= 0 && held(fd);

		if (fd >= 0)
			close(fd);	/* lets go of a lock held() took */
		if (h)
			return 0;
		nanosleep(&nap, NULL);
	}
	return -1;
}

const char *live_watch_dir(const struct live_watch *w)
{
	return w->abs_dir;
}

const char *live_watch_token_of(const struct live_watch *w)
{
	return w->rec.token;
}

int pending_arm(struct live *lv, unsigned gen, unsigned replaces, unsigned seconds,
		live_spawn_fn spawn, long long *deadline, struct diag_list *d)
{
	struct live_watch w = { .dir = lv->dir, .lock_fd = lv->fd, .ready = { -1, -1 } };
	int started;
	char path[PATH_MAX];
	struct timespec now;
	json_t *j;
	int rc = -1;

	if (!spawn) {
		diag_add(d, DIAG_ERROR, lv->dir, "", NULL, "could not start the confirm timer: no spawn function (a bug)");
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	w.deadline = (struct timespec){ now.tv_sec + seconds, now.tv_nsec };
	w.rec.pub = (struct live_pending){ gen, replaces, now.tv_sec + seconds, true };
	w.rec.deadline_ns = now.tv_nsec;
	if (new_token(w.rec.token, d) < 0 ||
	    state_path(path, sizeof(path), lv->dir, STATE_PENDING) < 0)
		return -1;
	if (!(w.abs_dir = realpath(lv->dir, NULL))) {
		diag_add(d, DIAG_ERROR, lv->dir, "", NULL, "%s", strerror(errno));
		return -1;
	}
	j = json_pack("{s:i, s:i, s:I, s:I, s:s}", "generation", gen, "replaces", replaces,
		      "deadline", (json_int_t)w.rec.pub.deadline,
		      "deadline_ns", (json_int_t)now.tv_nsec, "token", w.rec.token);
	w.pending_fd = j ? state_write_json_locked(path, j, d) : -1;
	json_decref(j);
	if (w.pending_fd < 0) {
		free(w.abs_dir);
		return -1;
	}
	if (pipe2(w.ready, O_CLOEXEC) < 0 || (started = spawn(&w)) < 0) {
		diag_add(d, DIAG_ERROR, lv->dir, "", NULL, "could not start the confirm timer: %s",
			 strerror(errno));
	} else if (started == 1) {
		/* a process of its own, not ours: it takes the record's lock
		 * once we let go of it */
		close(w.pending_fd);
		w.pending_fd = -1;
		rc = taken_over(path);
		if (rc < 0)
			diag_add(d, DIAG_ERROR, lv->dir, "", NULL,
				 "could not start the confirm timer: it did not hold its record within %d s",
				 WATCH_START_MS / 1000);
	} else {
		close(w.ready[1]);
		w.ready[1] = -1;
		rc = watcher_ready(w.ready[0]);
		if (rc < 0)
			diag_add(d, DIAG_ERROR, lv->dir, "", NULL,
				 "could not start the confirm timer: it ended at once");
	}
	for (int i = 0; i < 2; i++)
		if (w.ready[i] >= 0)
			close(w.ready[i]);
	/* from here, the watcher alone holds the record's lock */
	if (w.pending_fd >= 0)
		close(w.pending_fd);
	free(w.abs_dir);
	if (rc < 0)
		unlink(path);
	else
		*deadline = w.rec.pub.deadline;
	return rc;
}

/* Sleep until the deadline (true) or until the record is withdrawn
 * (false): confirm, rollback or a failed apply unlink it, which inotify
 * reports as a change of its link count. */
static bool wait_for_deadline(struct live_watch *w)
{
	char path[PATH_MAX], buf[4096];
	int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	bool expired = false;

	if (ifd >= 0 && (state_path(path, sizeof(path), w->dir, STATE_PENDING) < 0 ||
			 inotify_add_watch(ifd, path, IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0)) {
		close(ifd);
		ifd = -1;
	}
	for (;;) {
		struct pollfd pfd = { .fd = ifd, .events = POLLIN };
		struct timespec now;
		struct stat st;
		long long ms;

		if (fstat(w->pending_fd, &st) == 0 && st.st_nlink == 0)
			break;	/* withdrawn */
		clock_gettime(CLOCK_REALTIME, &now);
		ms = (long long)(w->deadline.tv_sec - now.tv_sec) * 1000 +
		     (w->deadline.tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0) {
			expired = true;
			break;
		}
		if (ms > (ifd >= 0 ? WATCH_NAP_MS : WATCH_NAP_NO_INOTIFY_MS))
			ms = ifd >= 0 ? WATCH_NAP_MS : WATCH_NAP_NO_INOTIFY_MS;
		if (poll(&pfd, ifd >= 0 ? 1 : 0, (int)ms + 1) > 0)
			while (read(ifd, buf, sizeof(buf)) > 0)
				;
	}
	if (ifd >= 0)
		close(ifd);
	return expired;
}

/* Is the pending record (under the lock) still the one this watcher
 * holds? */
static bool still_ours(const struct live_watch *w, struct diag_list *d)
{
	struct pending now;
	struct stat st;

	return pending_read(w->dir, &now, d) == 1 && fstat(w->pending_fd, &st) == 0 &&
	       now.dev == st.st_dev && now.ino == st.st_ino &&
	       strcmp(now.token, w->rec.token) == 0;
}

static const char *first_error(const struct diag_list *d)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->items[i].severity == DIAG_ERROR)
			return d->items[i].message;
	return "failed";
}

static void record_rollback(const struct live_watch *w, unsigned to, const char *error,
			    struct diag_list *d)
{
	char path[PATH_MAX];
	json_t *j = json_pack("{s:i, s:i, s:I, s:I}", "generation", w->rec.pub.generation,
			      "to", to, "deadline", (json_int_t)w->rec.pub.deadline,
			      "at", (json_int_t)time(NULL));

	if (j && error)
		json_object_set_new(j, "error", json_string(error));
	if (!j || state_path(path, sizeof(path), w->dir, STATE_ROLLED_BACK) < 0)
		diag_add(d, DIAG_ERROR, w->dir, "", NULL, "out of memory");
	else
		state_write_json(path, j, d);
	json_decref(j);
}

/* The watch itself, once the watcher holds its record. */
static enum live_watch_end watch_run(struct live_watch *w, struct diag_list *d)
{
	struct live_result r = { 0 };
	enum live_watch_end end = LIVE_WATCH_ENDED;
	enum live_status st;
	struct live *lv;

	if (!wait_for_deadline(w))
		return LIVE_WATCH_ENDED;
	lv = live_lock(w->dir, "confirm timer", LIVE_WAIT_FOREVER, d);
	if (!lv)
		return LIVE_WATCH_FAILED;
	/* an apply that ended before its switch: settled first, so that
	 * the undo below finds current as the kernel has it */
	live_recover(lv, d);
	if (still_ours(w, d)) {
		/* nobody is there to run it again: a ruleset that moved on
		 * while it was read is read again, a few times */
		for (int i = 0;; i++) {
			st = live_undo(lv, w->rec.pub.generation, w->rec.pub.replaces, &r, d);
			if (st != LIVE_MOVED || i == WATCH_TRIES)
				break;
			live_result_fini(&r);
			memset(&r, 0, sizeof(r));
		}
		end = st == LIVE_OK ? LIVE_WATCH_ROLLED_BACK : LIVE_WATCH_FAILED;
		record_rollback(w, st == LIVE_OK ? r.generation : w->rec.pub.replaces,
				st == LIVE_OK ? NULL : first_error(d), d);
		/* done either way: a failed rollback is not tried again */
		pending_withdraw(w->dir, d);
		live_result_fini(&r);
	}
	live_unlock(lv);
	return end;
}

enum live_watch_end live_watch(struct live_watch *w, struct diag_list *d)
{
	/* apply's lock, inherited: it must end with apply */
	close(w->lock_fd);
	close(w->ready[0]);
	if (write(w->ready[1], "", 1) != 1) {
		close(w->ready[1]);
		return LIVE_WATCH_ENDED;	/* apply takes back the record */
	}
	close(w->ready[1]);
	return watch_run(w, d);
}

enum live_watch_end live_watch_token(const char *dir, const char *token, struct diag_list *d)
{
	struct live_watch w = { .dir = (char *)dir, .lock_fd = -1, .ready = { -1, -1 } };
	enum live_watch_end end = LIVE_WATCH_ENDED;
	char path[PATH_MAX];
	struct stat st;

	if (state_path(path, sizeof(path), dir, STATE_PENDING) < 0)
		return LIVE_WATCH_ENDED;
	w.pending_fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (w.pending_fd < 0)
		return LIVE_WATCH_ENDED;	/* withdrawn already */
	/* apply holds it until it sees us start: wait for it */
	while (flock(w.pending_fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			diag_add(d, DIAG_ERROR, path, "", NULL, "cannot lock: %s", strerror(errno));
			close(w.pending_fd);
			return LIVE_WATCH_FAILED;
		}
	/* still linked, and the record we were started for */
	if (fstat(w.pending_fd, &st) == 0 && st.st_nlink > 0 &&
	    pending_read(dir, &w.rec, d) == 1 && w.rec.dev == st.st_dev && w.rec.ino == st.st_ino &&
	    strcmp(w.rec.token, token) == 0 && w.rec.pub.generation) {
		w.deadline = (struct timespec){ w.rec.pub.deadline, w.rec.deadline_ns };
		end = watch_run(&w, d);
	}
	close(w.pending_fd);
	return end;
}

void rollback_record_drop(const char *dir)
{
	char path[PATH_MAX];

	if (state_path(path, sizeof(path), dir, STATE_ROLLED_BACK) == 0)
		unlink(path);
}

int live_rollback_record_get(const char *dir, struct live_rollback_record *rb,
			     struct diag_list *d)
{
	char path[PATH_MAX];
	json_error_t err;
	json_t *j, *v;

	memset(rb, 0, sizeof(*rb));
	if (state_path(path, sizeof(path), dir, STATE_ROLLED_BACK) < 0)
		return 0;
	j = json_load_file(path, 0, &err);
	if (!j && access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (!json_is_integer(json_object_get(j, "generation")) ||
	    !json_is_integer(json_object_get(j, "to")) ||
	    !json_is_integer(json_object_get(j, "deadline")) ||
	    !json_is_integer(json_object_get(j, "at"))) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "damaged state file");
		json_decref(j);
		return -1;
	}
	rb->generation = (unsigned)json_integer_value(json_object_get(j, "generation"));
	rb->to = (unsigned)json_integer_value(json_object_get(j, "to"));
	rb->deadline = json_integer_value(json_object_get(j, "deadline"));
	rb->at = json_integer_value(json_object_get(j, "at"));
	if (json_is_string(v = json_object_get(j, "error")) &&
	    !(rb->error = strdup(json_string_value(v))))
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
	json_decref(j);
	return 1;
}

void live_rollback_record_fini(struct live_rollback_record *rb)
{
	free(rb->error);
	rb->error = NULL;
}
