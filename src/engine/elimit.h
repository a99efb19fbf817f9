/* elimit: the decision log's rate limiter, shared by every queue thread
 * without a lock: at most per_sec lines in each second of time() over all
 * threads, the rest refused and counted.
 *
 * The second and the lines admitted in it are one 64-bit word, changed
 * by compare-and-swap; a thread that finds the second's lines used up
 * only reads it, so under a flood the word is written per_sec times a
 * second plus once when the second turns, whatever the packet rate, and
 * the threads that read it share its cache line without moving it.
 * What is refused is counted in a counter the refusing thread owns
 * (struct elimit_count: one writer, no locked instruction); whoever
 * writes the summary line sums them (elimit_count_read) and asks what is
 * new (elimit_report).
 *
 * A thread whose now is older than the word's second (it read the clock
 * before another thread turned the second) is counted in the newer
 * second: the word never goes back, and no second admits more than
 * per_sec lines.
 */
#ifndef SAGATE_ELIMIT_H
#define SAGATE_ELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/** The limiter: on a cache line of its own. */
struct elimit {
	uint64_t win __attribute__((aligned(64)));	/**< (second << 32) | lines admitted in it */
	unsigned per_sec;				/**< lines a second */
	uint64_t reported;				/**< refusals reported so far
							     (elimit_report's caller's) */
};

/** One thread's count of refused lines: written by that thread only. */
struct elimit_count {
	uint64_t n;
};

/** Admit per_sec lines a second. */
void elimit_init(struct elimit *l, unsigned per_sec);
/** May one more line be written in second now?  Any thread; a refusal is
 *  counted in mine, which only the calling thread may write. */
bool elimit_admit(struct elimit *l, struct elimit_count *mine, time_t now);
/** What c has counted so far, read whole while its thread may count on. */
uint64_t elimit_count_read(const struct elimit_count *c);
/** Of total (the sum of every thread's counter), the refusals not
 *  reported by an earlier call: one caller at a time. */
uint64_t elimit_report(struct elimit *l, uint64_t total);

#endif
