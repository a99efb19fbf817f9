/* The state directory's lock: one sagate command at a time changes the
 * live firewall.  An flock(2) on the file `lock`, which the holder fills
 * with "pid N: command" so that a command that gives up waiting can say
 * whom it waited for; the kernel lets go of it when the holder exits,
 * however it ends. */
#include "config.h"

#include "live_int.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* flock(LOCK_EX) within wait seconds: 0, or -1 (errno EWOULDBLOCK when
 * another holds it).  Polled, backing off to 50 ms: a blocking flock
 * cannot be given a time limit without a signal handler. */
static int lock_within(int fd, unsigned wait)
{
	double until = now() + wait;
	long ns = 1000 * 1000;

	if (wait == LIVE_WAIT_FOREVER) {
		while (flock(fd, LOCK_EX) < 0)
			if (errno != EINTR)
				return -1;
		return 0;
	}
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (now() >= until) {
			errno = EWOULDBLOCK;
			return -1;
		}
		nanosleep(&(struct timespec){ 0, ns }, NULL);
		if (ns < 50 * 1000 * 1000)
			ns *= 2;
	}
}

/* The holder's "pid N: command", as it wrote it; false when there is
 * none (between two holders, the name is briefly empty). */
static bool holder(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
		n--;
	if (n <= 0) {
		snprintf(buf, len, "pid unknown");
		return false;
	}
	buf[n] = '\0';
	for (char *c = buf; *c; c++)	/* the file is ours, but print no control bytes */
		if ((unsigned char)*c < ' ')
			*c = '?';
	return true;
}

/* Gave up: say who holds the lock.  With no name there, the holder just
 * let go or has not written it yet: one more try, and a second look. */
static int gave_up(struct live *lv, unsigned wait, struct diag_list *d)
{
	char who[128];

	if (!holder(lv->fd, who, sizeof(who))) {
		if (flock(lv->fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
		holder(lv->fd, who, sizeof(who));
	}
	diag_add(d, DIAG_ERROR, lv->dir, "", NULL,
		 "the state directory is locked by another sagate command (%s); gave up after %u s (--wait): nothing was changed",
		 who, wait);
	return -1;
}

struct live *live_lock(const char *dir, const char *command, unsigned wait,
		       struct diag_list *d)
{
	struct live *lv = calloc(1, sizeof(*lv));
	char path[PATH_MAX], who[128];
	struct stat st;
	int n;

	if (!lv || !(lv->dir = strdup(dir))) {
		free(lv);
		diag_add(d, DIAG_ERROR, dir, "", NULL, "out of memory");
		return NULL;
	}
	lv->fd = -1;
	lv->command = command;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "cannot create the state directory: %s",
			 strerror(errno));
		goto fail;
	}
	/* whoever may write there chooses what the firewall loads */
	if (check_private_dir(dir, "the state directory", d) < 0)
		goto fail;
	/* sagated, not root, reads the generations it is handed */
	state_share(dir, d);
	if (state_path(path, sizeof(path), dir, STATE_LOCK) < 0 ||
	    (lv->fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
			   0600)) < 0) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "cannot open the lock file %s: %s",
			 state_file_name(STATE_LOCK), strerror(errno));
		goto fail;
	}
	if (fstat(lv->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "the lock file is not a regular file");
		goto fail;
	}
	if (lock_within(lv->fd, wait) < 0) {
		if (errno != EWOULDBLOCK) {
			diag_add(d, DIAG_ERROR, path, "", NULL, "cannot lock: %s", strerror(errno));
			goto fail;
		}
		if (gave_up(lv, wait, d) < 0)
			goto fail;
	}
	/* for whoever waits: only a name in a message, so a failure is no error */
	n = snprintf(who, sizeof(who), "pid %d: %s\n", (int)getpid(), command);
	if (ftruncate(lv->fd, 0) == 0 && pwrite(lv->fd, who, (size_t)n, 0) != n)
		(void)!ftruncate(lv->fd, 0);
	return lv;
fail:
	if (lv->fd >= 0)
		close(lv->fd);	/* not live_unlock: the holder's name stays */
	free(lv->dir);
	free(lv);
	return NULL;
}

void live_keep_flows(struct live *lv, bool keep)
{
	lv->keep_flows = keep;
}

void live_unlock(struct live *lv)
{
	if (!lv)
		return;
	if (lv->fd >= 0) {
		(void)!ftruncate(lv->fd, 0);	/* nobody holds it: no name */
		close(lv->fd);
	}
	free(lv->dir);
	free(lv);
}
