/* elog: sagated's log, written by one thread of its own from a bounded
 * ring that never blocks the threads that log.
 *
 * A queue thread that logs a decision must not wait for the log's
 * reader (journald, a pipe, a terminal): its packets wait for verdicts
 * meanwhile.  So every line goes into a ring of fixed size (a bounded
 * multi-producer queue: one atomic compare-and-swap per push, no lock),
 * and one logging thread takes the lines out in order and writes them
 * to their file descriptor, blocking there as long as the reader likes.
 * A line that finds the ring full is freed and counted; once the
 * logging thread can write again it says how many were lost, in one
 * event line (and on stderr), and the total is in sagated's counters.
 */
#ifndef SAGATE_ELOG_H
#define SAGATE_ELOG_H

#include <stdbool.h>
#include <stddef.h>

/** Where a line goes. */
enum elog_to { ELOG_OUT, ELOG_ERR };

struct elog;

/** A log of capacity lines (rounded up to a power of two, at least 2)
 *  written to out_fd (JSON event lines) and err_fd (messages for
 *  humans).  NULL on OOM. */
struct elog *elog_new(size_t capacity, int out_fd, int err_fd);
/** Queue line (malloc'ed, ending in '\n'; owned by the log from now on)
 *  for fd to.  Never blocks, never waits for a lock.  true: queued;
 *  false: the ring was full (or line NULL): line freed, counted lost. */
bool elog_push(struct elog *l, enum elog_to to, char *line);
/** Take the oldest line out (the logging thread's side; one consumer
 *  only).  NULL when the ring is empty; else the line, to free. */
char *elog_pop(struct elog *l, enum elog_to *to);
/** Lines lost to a full ring so far. */
unsigned long long elog_lost(const struct elog *l);
/** Start the logging thread.  0, or an errno value. */
int elog_start(struct elog *l);
/** Stop the logging thread once it has written what is queued, waiting
 *  at most timeout_ms for a reader that does not read (then the thread
 *  gives up, and what is left is counted lost).  Idempotent. */
void elog_stop(struct elog *l, int timeout_ms);
/** elog_stop(l, 0) if needed, then free what is queued and l. */
void elog_free(struct elog *l);

/** The time as the log writes it, "2026-12-07T04:38:02.123Z". */
void elog_time(char *buf, size_t len);

#endif
