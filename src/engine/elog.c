/* sagated's log: a bounded ring that never blocks the threads that log,
 * and the one thread that writes it out (elog.h).
 *
 * The ring is a bounded multi-producer queue in the manner of Dmitry
 * Vyukov's: each cell carries a sequence number that says whether it is
 * free for the push of position pos (seq == pos) or holds that push's
 * line for the pop (seq == pos + 1).  A push claims its position with
 * one compare-and-swap on head and publishes with a release store; the
 * one consumer needs no atomic read-modify-write at all.  A producer
 * that finds its cell still holding a line one lap behind knows the ring
 * is full, and gives up at once.
 */
#include "config.h"

#include "elog.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define WAKE_MS 1000		/* the writer looks at the ring at least this often */

struct cell {
	size_t seq;
	char *line;
	enum elog_to to;
};

struct elog {
	struct cell *cells;
	size_t mask;
	size_t head;			/* next push position (producers, CAS) */
	size_t tail;			/* next pop position (the consumer only) */
	unsigned long long lost;	/* atomic */
	unsigned long long reported;	/* the writer thread's */
	int fd[2];			/* ELOG_OUT, ELOG_ERR */
	int wake;			/* eventfd: a line was pushed, or stop */
	int stopping;			/* atomic: write what is queued, then end */
	int abandon;			/* atomic: end now, the reader does not read */
	pthread_t th;
	bool running;
};

void elog_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}

struct elog *elog_new(size_t capacity, int out_fd, int err_fd)
{
	struct elog *l = calloc(1, sizeof(*l));
	size_t n = 2;

	if (!l)
		return NULL;
	while (n < capacity && n < ((size_t)1 << 30))
		n <<= 1;
	l->cells = calloc(n, sizeof(*l->cells));
	l->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!l->cells || l->wake < 0) {
		if (l->wake >= 0)
			close(l->wake);
		free(l->cells);
		free(l);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		l->cells[i].seq = i;
	l->mask = n - 1;
	l->fd[ELOG_OUT] = out_fd;
	l->fd[ELOG_ERR] = err_fd;
	return l;
}

static void wake(struct elog *l)
{
	uint64_t one = 1;

	/* EAGAIN only when the counter is full: the writer is awake anyway */
	if (write(l->wake, &one, sizeof(one)) < 0)
		return;
}

bool elog_push(struct elog *l, enum elog_to to, char *line)
{
	size_t pos = __atomic_load_n(&l->head, __ATOMIC_RELAXED);
	struct cell *c;

	if (!line) {
		__atomic_add_fetch(&l->lost, 1, __ATOMIC_RELAXED);
		return false;
	}
	for (;;) {
		size_t seq;
		intptr_t dif;

		c = &l->cells[pos & l->mask];
		seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
		dif = (intptr_t)seq - (intptr_t)pos;
		if (dif == 0) {
			/* on failure pos is reloaded with the current head */
			if (__atomic_compare_exchange_n(&l->head, &pos, pos + 1, true,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
				break;
		} else if (dif < 0) {
			/* the cell still holds the line of one lap ago: full */
			free(line);
			__atomic_add_fetch(&l->lost, 1, __ATOMIC_RELAXED);
			return false;
		} else {
			pos = __atomic_load_n(&l->head, __ATOMIC_RELAXED);
		}
	}
	c->line = line;
	c->to = to;
	__atomic_store_n(&c->seq, pos + 1, __ATOMIC_RELEASE);
	wake(l);
	return true;
}

char *elog_pop(struct elog *l, enum elog_to *to)
{
	struct cell *c = &l->cells[l->tail & l->mask];
	size_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
	char *line;

	/* not yet published (or never pushed): nothing, in order */
	if (seq != l->tail + 1)
		return NULL;
	line = c->line;
	*to = c->to;
	c->line = NULL;
	__atomic_store_n(&c->seq, l->tail + l->mask + 1, __ATOMIC_RELEASE);
	l->tail++;
	return line;
}

unsigned long long elog_lost(const struct elog *l)
{
	return __atomic_load_n(&l->lost, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ the writer */

/* Wait for the wake-up eventfd or fd writable (POLLOUT): 1 fd writable,
 * 0 woken (the eventfd read), -1 given up (elog_stop's deadline passed). */
static int wait_writable(struct elog *l, int fd)
{
	for (;;) {
		struct pollfd p[2] = { { fd, POLLOUT, 0 }, { l->wake, POLLIN, 0 } };
		uint64_t v;

		if (__atomic_load_n(&l->abandon, __ATOMIC_ACQUIRE))
			return -1;
		if (poll(p, 2, WAKE_MS) < 0 && errno != EINTR)
			return 1;	/* let write say what is wrong */
		if (p[1].revents & POLLIN) {
			if (read(l->wake, &v, sizeof(v)) < 0)
				continue;
			if (__atomic_load_n(&l->abandon, __ATOMIC_ACQUIRE))
				return -1;
		}
		if (p[0].revents)
			return 1;
	}
}

/* Write all of buf, as long as the reader takes, until elog_stop gives
 * up on it: the writer never sits in a write the reader does not take,
 * it waits in poll (POLLOUT), then writes at most a pipe's atomic
 * PIPE_BUF, which a pipe or socket that polls writable takes at once. */
static void write_out(struct elog *l, int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n;

		if (wait_writable(l, fd) < 0)
			return;
		n = write(fd, buf, len < PIPE_BUF ? len : PIPE_BUF);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return;	/* a reader gone (EPIPE: SIGPIPE is ignored): nowhere to write */
		buf += n;
		len -= (size_t)n;
	}
}

/* Say how many lines were lost since the last time we said it. */
static void report_lost(struct elog *l)
{
	unsigned long long lost = elog_lost(l), n = lost - l->reported;
	char t[48], buf[320];
	int len;

	if (!n)
		return;
	l->reported = lost;
	elog_time(t, sizeof(t));
	len = snprintf(buf, sizeof(buf),
		       "{\"time\":\"%s\",\"event\":\"log-lost\",\"count\":%llu,\"total\":%llu,"
		       "\"message\":\"%llu decision lines lost: the log's reader fell behind\"}\n",
		       t, n, lost, n);
	write_out(l, l->fd[ELOG_OUT], buf, (size_t)len);
	len = snprintf(buf, sizeof(buf),
		       "sagated: log-lost: %llu decision lines lost: the log's reader fell behind (%llu in all)\n",
		       n, lost);
	write_out(l, l->fd[ELOG_ERR], buf, (size_t)len);
}

static void *writer(void *arg)
{
	struct elog *l = arg;

	for (;;) {
		struct pollfd p = { l->wake, POLLIN, 0 };
		enum elog_to to;
		uint64_t v;
		char *line;

		while (!__atomic_load_n(&l->abandon, __ATOMIC_ACQUIRE) && (line = elog_pop(l, &to))) {
			write_out(l, l->fd[to], line, strlen(line));
			free(line);
			report_lost(l);
		}
		if (__atomic_load_n(&l->abandon, __ATOMIC_ACQUIRE))
			break;
		report_lost(l);
		if (__atomic_load_n(&l->stopping, __ATOMIC_ACQUIRE)) {
			/* what was pushed before the stop is written too */
			if (__atomic_load_n(&l->head, __ATOMIC_ACQUIRE) == l->tail)
				break;
			continue;
		}
		poll(&p, 1, WAKE_MS);
		if (read(l->wake, &v, sizeof(v)) < 0)
			continue;	/* EAGAIN: woken by the timeout */
	}
	return NULL;
}

int elog_start(struct elog *l)
{
	int err;

	if (l->running)
		return 0;
	err = pthread_create(&l->th, NULL, writer, l);
	if (err)
		return err;
	l->running = true;
	return 0;
}

void elog_stop(struct elog *l, int timeout_ms)
{
	struct timespec dl;

	if (!l->running)
		return;
	__atomic_store_n(&l->stopping, 1, __ATOMIC_RELEASE);
	wake(l);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(l->th, NULL, &dl) != 0) {
		/* the reader does not read: give up on it (the writer waits in
		 * poll, never in a write, so it hears this at once) */
		__atomic_store_n(&l->abandon, 1, __ATOMIC_RELEASE);
		wake(l);
		pthread_join(l->th, NULL);
	}
	l->running = false;
}

void elog_free(struct elog *l)
{
	enum elog_to to;
	char *line;

	if (!l)
		return;
	elog_stop(l, 0);
	while ((line = elog_pop(l, &to))) {
		free(line);
		__atomic_add_fetch(&l->lost, 1, __ATOMIC_RELAXED);
	}
	close(l->wake);
	free(l->cells);
	free(l);
}
