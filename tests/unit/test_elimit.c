/* The decision log's rate limiter (elimit.h): at most per_sec lines in
 * a second over all threads, every refusal counted once, a new second
 * admits again, a stale clock never reopens an older second, and threads
 * that race on one second admit exactly per_sec between them. */
#include "config.h"

#include "elimit.h"

#include <criterion/criterion.h>
#include <pthread.h>

Test(elimit, per_second_then_counted)
{
	struct elimit l;
	struct elimit_count c = { 0 };
	unsigned ok = 0;

	elimit_init(&l, 100);
	for (int i = 0; i < 250; i++)
		ok += elimit_admit(&l, &c, 1000);
	cr_assert_eq(ok, 100, "admitted %u lines in one second, not 100", ok);
	cr_assert_eq(elimit_report(&l, elimit_count_read(&c)), 150);
	cr_assert_eq(elimit_report(&l, elimit_count_read(&c)), 0, "a refusal is reported once");
	/* the next second admits again */
	ok = 0;
	for (int i = 0; i < 101; i++)
		ok += elimit_admit(&l, &c, 1001);
	cr_assert_eq(ok, 100);
	cr_assert_eq(elimit_report(&l, elimit_count_read(&c)), 1);
}

Test(elimit, stale_clock_counts_in_the_newer_second)
{
	struct elimit l;
	struct elimit_count c = { 0 };
	unsigned ok = 0;

	elimit_init(&l, 10);
	for (int i = 0; i < 5; i++)
		ok += elimit_admit(&l, &c, 2001);
	/* a thread that read the clock before the second turned */
	for (int i = 0; i < 10; i++)
		ok += elimit_admit(&l, &c, 2000);
	cr_assert_eq(ok, 10, "second 2001 admitted %u lines (stale clocks included), not 10", ok);
	cr_assert_eq(elimit_report(&l, elimit_count_read(&c)), 5);
	cr_assert(elimit_admit(&l, &c, 2002));
}

#define THREADS 4
#define ROUNDS 20	/* seconds raced for: a lost update shows in one of them */
#define CALLS 500000
#define RATE 1500000	/* below THREADS * CALLS, and most of it: the threads race all along */

struct racer {
	struct elimit *l;
	struct elimit_count c;
	pthread_barrier_t *go;
	unsigned long ok[ROUNDS];
};

static void *race(void *arg)
{
	struct racer *r = arg;

	for (int s = 0; s < ROUNDS; s++) {
		pthread_barrier_wait(r->go);
		for (int i = 0; i < CALLS; i++)
			r->ok[s] += elimit_admit(r->l, &r->c, 5000 + s);
	}
	return NULL;
}

Test(elimit, threads_share_one_rate)
{
	struct elimit l;
	struct racer r[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t go;
	uint64_t refused = 0;

	elimit_init(&l, RATE);
	pthread_barrier_init(&go, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		r[i] = (struct racer){ .l = &l, .go = &go };
		cr_assert_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		refused += elimit_count_read(&r[i].c);
	}
	pthread_barrier_destroy(&go);
	for (int s = 0; s < ROUNDS; s++) {
		unsigned long ok = 0;

		for (int i = 0; i < THREADS; i++)
			ok += r[i].ok[s];
		cr_assert_eq(ok, RATE, "%d threads admitted %lu lines in second %d, not %d",
			     THREADS, ok, 5000 + s, RATE);
	}
	cr_assert_eq(elimit_report(&l, refused), (uint64_t)ROUNDS * (THREADS * CALLS - RATE),
		     "every refusal is counted once");
}
