#include "config.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Digits at *p as an unsigned (saturating), advancing *p; false when
 * there are none. */
static bool release_number(const char **p, unsigned *v)
{
	if (!isdigit((unsigned char)**p))
		return false;
	for (*v = 0; isdigit((unsigned char)**p); (*p)++)
		*v = *v > 100000 ? *v : *v * 10 + (unsigned)(**p - '0');
	return true;
}

bool kernel_at_least(const char *release, unsigned major, unsigned minor)
{
	const char *p = release;
	unsigned ma, mi;

	if (!p || !release_number(&p, &ma) || *p++ != '.' || !release_number(&p, &mi))
		return false;
	return ma > major || (ma == major && mi >= minor);
}

size_t netlink_span(const void *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)((const char *)buf + off);
		size_t n = h->nlmsg_len;

		if (n < sizeof(*h) || n > len - off)
			break;
		n = NLMSG_ALIGN(n);	/* the last message may end unpadded */
		off += n < len - off ? n : len - off;
	}
	return off;
}

char *xstrdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Append s at out[*used], keeping out a string of at most size - 1 bytes. */
static void path_put(char *out, size_t size, size_t *used, const char *s)
{
	size_t n = strlen(s);

	if (*used + 1 >= size)
		return;
	if (n > size - 1 - *used)
		n = size - 1 - *used;
	memcpy(out + *used, s, n);
	*used += n;
	out[*used] = '\0';
}

void path_key(char *out, size_t size, const char *base, const char *key)
{
	size_t used = 0;

	if (!size)
		return;
	out[0] = '\0';
	path_put(out, size, &used, base);
	if (key) {
		path_put(out, size, &used, ".");
		path_put(out, size, &used, key);
	}
}

void path_index(char *out, size_t size, const char *base, size_t i)
{
	char num[24], *p = num + sizeof(num);
	size_t used = 0;

	if (!size)
		return;
	*--p = '\0';
	*--p = ']';
	do
		*--p = (char)('0' + i % 10);
	while ((i /= 10));
	*--p = '[';
	out[0] = '\0';
	path_put(out, size, &used, base);
	path_put(out, size, &used, p);
}

int grow_array(void *arr, size_t *cap, size_t need, size_t esz)
{
	void **p = arr;
	size_t n = *cap ? *cap : 8;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if (n > SIZE_MAX / esz)
		return -1;
	q = realloc(*p, n * esz);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a FIFO";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	case S_IFLNK: return "a symbolic link";
	}
	return "a file of an unknown type";
}

int read_file_limited(const char *path, size_t max, char **buf, size_t *len,
		      const char **kind)
{
	struct stat st;
	size_t got = 0;
	char *b = NULL;
	int fd = -1, err = 0;

	if (kind)
		*kind = NULL;
	if (stat(path, &st) < 0)
		return -1;
	if (S_ISREG(st.st_mode)) {
		/* the path may be something else by now: the open must not
		 * block on a FIFO, and the descriptor is what counts */
		fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		if (fstat(fd, &st) < 0) {
			err = errno;
			goto out;
		}
	}
	if (!S_ISREG(st.st_mode)) {
		if (kind)
			*kind = file_kind(st.st_mode);
		err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err = EFBIG;
		goto out;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		err = ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? errno : EIO;
			goto out;
		}
		got += (size_t)r;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	b = NULL;
out:
	free(b);
	if (fd >= 0)
		close(fd);
	errno = err;
	return err ? -1 : 0;
}

void trace_phase(const char *phase)
{
	static int on = -1;
	static struct timespec last, last_cpu;
	struct timespec now, cpu;
	struct rusage ru;

	if (on < 0)
		on = getenv("SAGATE_TRACE_TIME") != NULL;
	if (!on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	/* CPU time too: on a busy machine it says more than the wall clock;
	 * and the peak resident size so far, to see which phase raises it */
	if (last.tv_sec || last.tv_nsec)
		fprintf(stderr, "sagate: time: %-13s %.3f s (cpu %.3f s, peak %ld MB)\n", phase,
			(double)(now.tv_sec - last.tv_sec) + (now.tv_nsec - last.tv_nsec) / 1e9,
			(double)(cpu.tv_sec - last_cpu.tv_sec) +
			(cpu.tv_nsec - last_cpu.tv_nsec) / 1e9,
			getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024 : -1L);
	last = now;
	last_cpu = cpu;
}

void test_pause(const char *point)
{
	const char *v = getenv("SAGATE_TEST_PAUSE");
	size_t n = strlen(point);
	char paused[4096];
	int fd;

	if (!v || strncmp(v, point, n) != 0 || v[n] != ':' || !v[n + 1])
		return;
	v += n + 1;
	snprintf(paused, sizeof(paused), "%s.paused", v);
	fd = open(paused, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	/* polled: a test's pause, not worth an inotify */
	for (int i = 0; i < 6000 && access(v, F_OK) != 0; i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	unlink(v);
	unlink(paused);
}

static size_t nhash(const char *s)
{
	size_t h = 14695981039346656037u;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211u;
	return h;
}

int nindex_add(struct nindex *ix, const char *name, size_t idx)
{
	if (2 * (ix->n + 1) > ix->cap) {
		struct nindex big = { calloc(ix->cap ? 2 * ix->cap : 64, sizeof(*big.slot)),
				      ix->cap ? 2 * ix->cap : 64, 0 };

		if (!big.slot)
			return -1;
		for (size_t i = 0; i < ix->cap; i++)
			if (ix->slot[i].name)
				nindex_add(&big, ix->slot[i].name, ix->slot[i].idx);
		free(ix->slot);
		*ix = big;
	}
	for (size_t i = nhash(name) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1))
		if (!ix->slot[i].name) {
			ix->slot[i] = (struct nslot){ name, idx };
			ix->n++;
			return 0;
		}
}

long nindex_find(const struct nindex *ix, const char *name)
{
	if (!ix->cap)
		return -1;
	for (size_t i = nhash(name) & (ix->cap - 1); ix->slot[i].name;
	     i = (i + 1) & (ix->cap - 1))
		if (strcmp(ix->slot[i].name, name) == 0)
			return (long)ix->slot[i].idx;
	return -1;
}

void nindex_fini(struct nindex *ix)
{
	free(ix->slot);
	memset(ix, 0, sizeof(*ix));
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The directory path is in, opened for fsync: a rename is durable only
 * once its directory is. */
static int sync_parent(const char *path)
{
	char copy[PATH_MAX];
	int fd, rc;

	if (strlen(path) >= sizeof(copy)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(copy, path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* write_file_atomic's work; with lock, the file is flock(2)ed before it
 * takes its name, and its descriptor returned (else 0). */
static int atomic_write(const char *path, const void *buf, size_t len, mode_t mode,
			bool durable, bool lock, const char **step)
{
	char tmp[PATH_MAX];
	const char *what = "create";
	int fd, err = 0;

	/* .tmp. and a random part: a leftover is known for what it is */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);	/* O_CREAT | O_EXCL: never a planted link */
	if (fd < 0)
		goto out;
	what = "write";
	if (fchmod(fd, mode) < 0 || (lock && flock(fd, LOCK_EX) < 0) || write_all(fd, buf, len) < 0 ||
	    (durable && fsync(fd) < 0))
		err = errno;
	/* close's error is a write's error (NFS, quotas) */
	if ((!lock || err) && close(fd) < 0 && !err)
		err = errno;
	if (!err) {
		what = "rename";
		if (rename(tmp, path) < 0 || (durable && sync_parent(path) < 0))
			err = errno;
		if (err && lock)
			close(fd);
	}
	if (err) {
		unlink(tmp);
		errno = err;
	}
	if (!err)
		return lock ? fd : 0;
out:
	if (step)
		*step = what;
	return -1;
}

int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode,
		      bool durable, const char **step)
{
	return atomic_write(path, buf, len, mode, durable, false, step);
}

int write_file_atomic_locked(const char *path, const void *buf, size_t len, mode_t mode,
			     bool durable, const char **step)
{
	return atomic_write(path, buf, len, mode, durable, true, step);
}

int check_private_dir(const char *dir, const char *what, struct diag_list *d)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "%s cannot be read: %s", what, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "%s is %s, not a directory%s", what,
			 file_kind(st.st_mode), S_ISLNK(st.st_mode) ? ": name the directory itself" : "");
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		diag_add(d, DIAG_ERROR, dir, "", NULL,
			 "%s belongs to uid %u, not to root: run `chown root: %s`", what,
			 (unsigned)st.st_uid, dir);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		diag_add(d, DIAG_ERROR, dir, "", NULL,
			 "%s may be written by %s (mode %04o), who could then choose what the firewall loads: run `chmod go-w %s`",
			 what, st.st_mode & S_IWOTH ? "any user" : "its group",
			 (unsigned)(st.st_mode & 07777), dir);
		return -1;
	}
	return 0;
}

void suggest_init(struct suggest *s, const char *word)
{
	s->word = word;
	s->best = NULL;
	s->dist = 0;
}

/* Edit distance with neighbour swaps, case ignored; words over 64
 * characters are not compared (nobody misspells those). */
static unsigned edit_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	unsigned d[66][66];

	if (n > 64 || m > 64)
		return UINT_MAX;
	for (size_t i = 0; i <= n; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			unsigned cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			unsigned v = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[n][m];
}

void suggest_try(struct suggest *s, const char *candidate)
{
	size_t len = strlen(s->word);
	unsigned max = len / 4 ? (unsigned)(len / 4) : 1, dist;

	if (strcmp(s->word, candidate) == 0 ||
	    (strlen(candidate) > len + max || strlen(candidate) + max < len))
		return;
	dist = strcasecmp(s->word, candidate) == 0 ? 0 : edit_distance(s->word, candidate);
	if (dist <= max && (!s->best || dist < s->dist)) {
		s->best = candidate;
		s->dist = dist;
	}
}

const char *suggest_text(const struct suggest *s, char *buf, size_t len)
{
	if (!s->best)
		return "";
	snprintf(buf, len, "; did you mean \"%s\"?", s->best);
	return buf;
}

char *path_absolute(const char *path)
{
	char *cwd, *out = NULL;

	if (path[0] == '/')
		return strdup(path);
	while (path[0] == '.' && path[1] == '/')
		for (path += 2; *path == '/'; path++)
			;
	if (!(cwd = getcwd(NULL, 0)))
		return NULL;
	if (asprintf(&out, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", path) < 0)
		out = NULL;
	free(cwd);
	return out;
}
