/* history: the generations kept in the state directory, each with who
 * applied it, from where, and what became of it (`sagate history`).
 *
 * Read only, without the lock: a line may be a moment old.  What is
 * known comes from each generation's meta.json (who and how it was
 * applied) and outcome.json (confirmed, rolled back, made current
 * again), the current link and the pending confirm (live.h).
 * Generations written before these were recorded still list, with what
 * they lack unknown.
 */
#ifndef SAGATE_HISTORY_H
#define SAGATE_HISTORY_H

#include "diag.h"
#include "state.h"

#include <stdbool.h>
#include <stddef.h>

/** What became of a generation, as history shows it. */
enum history_outcome {
	HISTORY_LIVE,		/**< current (applied without a confirm, or before
				     confirms were recorded) */
	HISTORY_CONFIRMED,	/**< current, its apply --confirm confirmed */
	HISTORY_PENDING,	/**< current, its apply --confirm not yet
				     confirmed ("unconfirmed-pending") */
	HISTORY_ROLLED_BACK,	/**< rolled back while current (outcome says by
				     whom): never a plain rollback's target */
	HISTORY_SUPERSEDED,	/**< replaced by a later apply or rollback --to */
	HISTORY_DAMAGED,	/**< its meta.json cannot be read */
};

/** One generation. */
struct history_entry {
	unsigned generation;
	enum history_outcome outcome;
	struct state_meta meta;		/**< unless HISTORY_DAMAGED */
	struct state_outcome what;	/**< all false when none was recorded */
	bool target;			/**< a plain rollback goes here */
	char *why;			/**< HISTORY_DAMAGED: what is wrong */
};

struct history {
	struct history_entry *v;	/**< newest first */
	size_t n;
	unsigned current;		/**< 0: none */
	long long pending_deadline;	/**< HISTORY_PENDING: when it rolls back */
	bool pending_watcher;		/**< and whether its watcher lives */
};

/** The outcome's name in --json ("live", "confirmed",
 *  "unconfirmed-pending", "rolled-back", "superseded", "damaged"). */
const char *history_outcome_name(enum history_outcome o);

/** Read dir's generations into h (history_fini it, whatever this
 *  returns).  0, or -1 with an error in d when dir cannot be read; a
 *  damaged generation is an entry, not a failure.  A directory that
 *  does not exist has no history: 0 and none. */
int history_read(const char *dir, struct history *h, struct diag_list *d);
void history_fini(struct history *h);

#endif
