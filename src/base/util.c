#include "config.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *xstrdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
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

int read_file_limited(const char *path, size_t max, char **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *b = NULL;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		err = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
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
	close(fd);
	errno = err;
	return err ? -1 : 0;
}

void trace_phase(const char *phase)
{
	static int on = -1;
	static struct timespec last, last_cpu;
	struct timespec now, cpu;

	if (on < 0)
		on = getenv("SAGATE_TRACE_TIME") != NULL;
	if (!on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	/* CPU time too: on a busy machine it says more than the wall clock */
	if (last.tv_sec || last.tv_nsec)
		fprintf(stderr, "sagate: time: %-13s %.3f s (cpu %.3f s)\n", phase,
			(double)(now.tv_sec - last.tv_sec) + (now.tv_nsec - last.tv_nsec) / 1e9,
			(double)(cpu.tv_sec - last_cpu.tv_sec) +
			(cpu.tv_nsec - last_cpu.tv_nsec) / 1e9);
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
