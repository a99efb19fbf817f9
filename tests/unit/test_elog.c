/* sagated's log ring (elog.h): a full ring counts its losses and never
 * blocks, lines come out in the order each thread pushed them, and a
 * log whose reader never reads does not hold up the thread that logs
 * (engine_event, as a queue thread logs a decision).  A test that
 * blocks is killed by its alarm (Criterion's own .timeout leaks). */
#include "config.h"

#include "elog.h"
#include "engine.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Seconds before a test that blocks is killed by SIGALRM. */
#define WATCHDOG_S 30

static char *line(unsigned t, unsigned i)
{
	char *s;

	cr_assert(asprintf(&s, "%u %u\n", t, i) > 0);
	return s;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A pipe whose buffer is full and that nobody reads: a write to p[1]
 * blocks for ever (p[1] is left blocking). */
static void full_pipe(int p[2])
{
	char buf[4096];
	int fl;

	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(pipe(p), 0);
	fl = fcntl(p[1], F_GETFL);
	cr_assert_eq(fcntl(p[1], F_SETFL, fl | O_NONBLOCK), 0);
	while (write(p[1], buf, sizeof(buf)) > 0)
		;
	cr_assert_eq(errno, EAGAIN);
	while (write(p[1], buf, 1) > 0)	/* the last bytes of the last page */
		;
	cr_assert_eq(fcntl(p[1], F_SETFL, fl), 0);
}

Test(elog, a_full_ring_refuses_and_counts_without_blocking)
{
	struct elog *l = elog_new(8, -1, -1);
	enum elog_to to;
	char *s;

	cr_assert(l);
	for (unsigned i = 0; i < 8; i++)
		cr_assert(elog_push(l, i % 2 ? ELOG_ERR : ELOG_OUT, line(0, i)));
	for (unsigned i = 8; i < 13; i++)
		cr_assert_not(elog_push(l, ELOG_OUT, line(0, i)), "push %u into a full ring", i);
	cr_assert_eq(elog_lost(l), 5);
	cr_assert_not(elog_push(l, ELOG_OUT, NULL), "a line that could not be made is lost too");
	cr_assert_eq(elog_lost(l), 6);
	for (unsigned i = 0; i < 8; i++) {
		char want[32];

		s = elog_pop(l, &to);
		cr_assert(s, "line %u", i);
		snprintf(want, sizeof(want), "0 %u\n", i);
		cr_assert_str_eq(s, want);
		cr_assert_eq(to, i % 2 ? ELOG_ERR : ELOG_OUT);
		free(s);
	}
	cr_assert_null(elog_pop(l, &to));
	/* room again */
	cr_assert(elog_push(l, ELOG_OUT, line(0, 99)));
	s = elog_pop(l, &to);
	cr_assert_str_eq(s, "0 99\n");
	free(s);
	elog_free(l);
}

Test(elog, capacity_is_a_power_of_two)
{
	struct elog *l = elog_new(5, -1, -1);
	unsigned n = 0;

	while (elog_push(l, ELOG_OUT, line(0, n)))
		n++;
	cr_assert_eq(n, 8);
	elog_free(l);	/* frees what is queued */
}

Test(elog, order_is_kept_across_many_laps)
{
	struct elog *l = elog_new(4, -1, -1);
	unsigned in = 0, out = 0;
	enum elog_to to;

	for (unsigned round = 0; round < 1000; round++) {
		for (unsigned k = 0; k < 1 + round % 4; k++)
			cr_assert(elog_push(l, ELOG_OUT, line(0, in++)));
		for (char *s; (s = elog_pop(l, &to)); free(s)) {
			unsigned t, i;

			cr_assert_eq(sscanf(s, "%u %u", &t, &i), 2);
			cr_assert_eq(i, out++);
		}
	}
	cr_assert_eq(in, out);
	cr_assert_eq(elog_lost(l), 0);
	elog_free(l);
}

#define PRODUCERS 4
#define PER_THREAD 200000

struct prod {
	struct elog *l;
	unsigned t;
	unsigned pushed;
};

static void *produce(void *arg)
{
	struct prod *p = arg;

	for (unsigned i = 0; i < PER_THREAD; i++)
		p->pushed += elog_push(p->l, ELOG_OUT, line(p->t, i));
	return NULL;
}

Test(elog, threads_push_at_once_each_in_order_none_lost_uncounted)
{
	struct elog *l = elog_new(256, -1, -1);
	struct prod p[PRODUCERS];
	pthread_t th[PRODUCERS];
	long next[PRODUCERS];
	unsigned popped = 0, pushed = 0;
	enum elog_to to;
	alarm(WATCHDOG_S);	/* a test that blocks is killed: a crash, not a hang */

	for (unsigned t = 0; t < PRODUCERS; t++) {
		p[t] = (struct prod){ l, t, 0 };
		next[t] = -1;
		cr_assert_eq(pthread_create(&th[t], NULL, produce, &p[t]), 0);
	}
	/* the one consumer, here, racing the producers */
	while (popped + elog_lost(l) < PRODUCERS * PER_THREAD) {
		char *s = elog_pop(l, &to);
		unsigned t, i;

		if (!s)
			continue;
		cr_assert_eq(sscanf(s, "%u %u", &t, &i), 2);
		cr_assert_lt(t, PRODUCERS);
		cr_assert_gt((long)i, next[t], "thread %u: line %u after line %ld", t, i, next[t]);
		next[t] = i;
		popped++;
		free(s);
	}
	for (unsigned t = 0; t < PRODUCERS; t++) {
		pthread_join(th[t], NULL);
		pushed += p[t].pushed;
	}
	cr_assert_eq(popped, pushed);
	cr_assert_eq(pushed + elog_lost(l), PRODUCERS * PER_THREAD);
	cr_assert_null(elog_pop(l, &to));
	elog_free(l);
}

Test(elog, the_writer_writes_in_order_and_says_what_was_lost)
{
	int out[2], err[2];
	struct elog *l;
	char buf[8192];
	ssize_t n;
	size_t len = 0;
	FILE *f;
	char text[512];
	alarm(WATCHDOG_S);	/* a test that blocks is killed: a crash, not a hang */

	cr_assert_eq(pipe(out), 0);
	cr_assert_eq(pipe(err), 0);
	l = elog_new(4, out[1], err[1]);
	/* 1 + 6 lines into 4 cells before the writer runs: 3 lost */
	cr_assert(elog_push(l, ELOG_ERR, strdup("sagated: error: one for stderr\n")));
	for (unsigned i = 0; i < 6; i++)
		elog_push(l, ELOG_OUT, line(1, i));
	cr_assert_eq(elog_lost(l), 3);
	cr_assert_eq(elog_start(l), 0);
	elog_stop(l, 5000);
	close(out[1]);
	close(err[1]);
	while ((n = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	f = fmemopen(buf, len, "r");
	/* the loss is said right after the first line written (stderr's) */
	cr_assert(fgets(text, sizeof(text), f));
	cr_assert(strstr(text, "\"event\":\"log-lost\",\"count\":3,\"total\":3,"
			       "\"message\":\"3 decision lines lost"), "%s", text);
	for (unsigned i = 0; i < 3; i++) {
		char want[32];

		snprintf(want, sizeof(want), "1 %u\n", i);
		cr_assert(fgets(text, sizeof(text), f));
		cr_assert_str_eq(text, want);
	}
	cr_assert_null(fgets(text, sizeof(text), f));
	fclose(f);
	n = read(err[0], buf, sizeof(buf) - 1);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert_str_eq(buf, "sagated: error: one for stderr\n"
			      "sagated: log-lost: 3 decision lines lost: the log's reader fell behind (3 in all)\n");
	elog_free(l);
	close(out[0]);
	close(err[0]);
}

Test(elog, a_reader_that_never_reads_blocks_nobody)
{
	int p[2];
	struct elog *l;
	double t0;
	alarm(WATCHDOG_S);	/* a test that blocks is killed: a crash, not a hang */

	full_pipe(p);
	l = elog_new(64, p[1], p[1]);
	cr_assert_eq(elog_start(l), 0);
	t0 = now_s();
	for (unsigned i = 0; i < 100000; i++)
		elog_push(l, ELOG_OUT, line(2, i));
	cr_assert_lt(now_s() - t0, 2.0, "100000 pushes took %.2f s", now_s() - t0);
	/* the writer holds one line in its write, the ring 64 */
	cr_assert_geq(elog_lost(l), 100000 - 65);
	t0 = now_s();
	elog_stop(l, 200);	/* gives up on the reader */
	cr_assert_lt(now_s() - t0, 2.0);
	elog_free(l);
	close(p[0]);
	close(p[1]);
}

/* What a queue thread does for a decision: engine_event.  With stdout a
 * pipe nobody reads, it returns at once, and the lines lost are
 * counted (against the code before the ring, this test times out: the
 * first event that does not fit blocks in its write). */
Test(engine_log, a_decision_line_never_waits_for_a_stuck_reader)
{
	int p[2];
	double t0;
	alarm(WATCHDOG_S);	/* a test that blocks is killed: a crash, not a hang */

	full_pipe(p);
	cr_assert_eq(dup2(p[1], STDOUT_FILENO), STDOUT_FILENO);
	cr_assert_eq(engine_log_start(), 0);
	t0 = now_s();
	for (unsigned i = 0; i < 2 * ENGINE_LOG_LINES + 100; i++)
		engine_event(json_pack("{s:s, s:s, s:i}", "verdict", "accept", "reason", "accept",
				       "queue", (int)i));
	cr_assert_lt(now_s() - t0, 5.0, "the decisions took %.2f s", now_s() - t0);
	cr_assert_geq(engine_log_lost(), ENGINE_LOG_LINES);
	engine_log_stop(200);
}
