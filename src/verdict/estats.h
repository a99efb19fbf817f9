/* estats: sagated's counters, and the JSON file that shows them.
 *
 * Each queue thread owns one struct estats and is its only writer; the
 * main thread sums them once a second (ESTATS_INC / estats_sum use
 * relaxed atomic loads and stores, so a reader sees each counter whole,
 * and the writer pays no locked instruction).  The sum goes to
 * RUN_DIR/sagated.json, written to a temporary file and renamed over the
 * old one, so a reader never sees half a file.
 */
#ifndef SAGATE_ESTATS_H
#define SAGATE_ESTATS_H

#include "decide.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/** Drop reasons of the engine itself, after decide's own (whose
 *  DECIDE_ACCEPT_OK slot counts the accepts). */
enum estats_reason {
	ESTATS_DROP_NO_PAYLOAD = DECIDE_REASON_COUNT,	/**< the kernel copied no bytes */
	ESTATS_DROP_NO_POLICY,				/**< no policy loaded */
	ESTATS_DROP_RESYNC,				/**< SA cache being re-dumped */
	ESTATS_REASONS
};

/** Stable name of a reason ("accept", "drop-sa-peer", "drop-xfrm-resync"). */
const char *estats_reason_name(unsigned r);

/** One queue's counters (or their sum). */
struct estats {
	uint64_t by_reason[ESTATS_REASONS];	/**< verdicts per reason */
	uint64_t verdict_msgs;		/**< verdict messages sent (batches) */
	uint64_t verdict_errors;	/**< verdict messages the kernel refused */
	uint64_t q_enobufs;		/**< queue socket overruns (packets lost) */
};

/** Add one to a counter of a struct estats owned by the calling thread. */
#define ESTATS_ADD(field, n) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), \
			 __ATOMIC_RELAXED)
#define ESTATS_INC(field) ESTATS_ADD(field, 1)

/** sum += one, reading one's counters atomically. */
void estats_sum(struct estats *sum, const struct estats *one);

/** What the file says besides the counters. */
struct estats_info {
	long pid;
	uint64_t started, now;		/**< seconds since the epoch */
	bool stopped;			/**< the last write, at exit */
	unsigned queue_first, queue_count;
	bool fail_open;
	const char *policy, *sha256;	/**< may be NULL */
	uint64_t sas;			/**< SAs in the cache */
	uint64_t x_enobufs;		/**< XFRM socket overruns (re-dumps) */
	uint64_t log_lost;		/**< log lines lost: the log's reader fell behind */
};

/** The file's JSON object (see man/sagated.8), or NULL on OOM. */
json_t *estats_json(const struct estats *s, const struct estats_info *i);

/** The run directory: $SAGATE_RUN_DIR, or /run/sagate. */
const char *estats_run_dir(void);

/** Write j (not consumed) to dir/name atomically, creating dir (0755)
 *  if needed.  0, or -1 with errno set. */
int estats_write(const char *dir, const char *name, const json_t *j);

#endif
