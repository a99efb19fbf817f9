/* restore: the last confirmed generation of the state directory put back
 * into the kernel, at boot (`sagate restore`, sagate.service).
 *
 * Two steps, so that the choice can be tested without a kernel:
 * restore_choose reads the state directory and picks what to load,
 * checking each candidate whole (meta.json readable, policy.json the
 * bytes its digest names, parsed, compiled); restore_apply hands that
 * plan to the kernel in one transaction and then makes the state
 * directory say what the kernel holds.
 *
 * The candidates, in order:
 *   current    unless an apply --confirm of it was never confirmed (the
 *              `pending` record names it, or cannot say what it names,
 *              and no watcher holds it: the watcher went with the machine
 *              that ran it): then it is rolled back, as the watcher would
 *              have done at the deadline;
 *   previous   when current is damaged or rolled back: the current
 *              generation's rollback target, passing over any that was
 *              rolled back (state.h), so that a policy rejected by its
 *              confirm's expiry or by an admin's rollback never comes
 *              back at boot.
 * Older generations are never tried.  A generation rolled back here is
 * recorded as rolled back by expiry (its outcome.json, state.h).  While a watcher still runs (an apply --confirm of this
 * boot waits for its confirm, or is rolled back at its deadline),
 * restore does nothing at all.  A damaged candidate is passed over with a warning that
 * names it and what is wrong; restore never removes a table, so when
 * nothing is usable the kernel is left as it is.
 *
 * The state directory is read and written through state.h, under the
 * state directory's lock that the caller holds (live.h), like every
 * other change to the live firewall.
 */
#ifndef SAGATE_RESTORE_H
#define SAGATE_RESTORE_H

#include "classify.h"
#include "diag.h"
#include "model.h"
#include "plan.h"
#include "state.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/** What restore_choose concluded. */
enum restore_status {
	RESTORE_CHOSEN,		/**< a generation is ready for restore_apply */
	RESTORE_NOTHING,	/**< no confirmed policy was ever applied */
	RESTORE_DAMAGED,	/**< every candidate is damaged */
	RESTORE_FAILED,		/**< the system failed us (memory) */
	RESTORE_WAITING,	/**< an apply --confirm waits for its confirm, its
				     watcher alive: restore does nothing */
};

/** A candidate passed over, and why. */
struct restore_skip {
	unsigned generation;
	char *why;		/**< e.g. "policy.json does not match the digest meta.json records" */
};

/** What restore_choose found and chose; restore_fini releases it. */
struct restore {
	enum restore_status status;
	unsigned current, previous;	/**< the links as found (0: none) */
	bool confirm_file;	/**< a pending / pending.expired file was found */
	bool waiting;		/**< RESTORE_WAITING: a watcher holds its record */
	unsigned rolled_back;	/**< current, never confirmed (0: none) */
	struct restore_skip skipped[2];	/**< damaged candidates, in order */
	size_t nskipped;
	bool unverified;	/**< the chosen one predates bundle_sha256 and
				     could only be parsed, not checked */
	unsigned generation;	/**< RESTORE_CHOSEN: the one to load */
	struct state_meta meta;	/**< its meta */
	struct policy *pol;
	struct classes *cls;
	struct plan *plan;	/**< its table comment names meta.source */
	bool loaded;		/**< restore_apply: the kernel took it (not
				     set by a dry run) */
};

/** Read state directory dir and choose.  Warnings (damaged candidates,
 *  a rolled back apply) and, unless RESTORE_CHOSEN, the error saying
 *  what to do, go to d.  r must be restore_fini()ed whatever it
 *  returns. */
enum restore_status restore_choose(const char *dir, struct restore *r, struct diag_list *d);

/** Load what r chose into the kernel in one transaction, then make the
 *  state directory say so: `current` is the loaded generation (a swap
 *  with `previous` when the previous one was loaded), and the confirm
 *  files are gone.  When nothing was chosen but an unconfirmed apply was
 *  rolled back, only the state directory changes: `current` is removed,
 *  so that the unconfirmed generation is never taken for a confirmed
 *  one.  dry_run: the kernel checks the transaction and discards it;
 *  the state directory is not touched.  0, or -1 with errors in d (the
 *  kernel unchanged, unless an error says that only the state directory
 *  failed). */
int restore_apply(const char *dir, struct restore *r, bool dry_run, struct diag_list *d);

void restore_fini(struct restore *r);

#endif
