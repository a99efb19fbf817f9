/* live: the live firewall's one owner.
 *
 * Every privileged change goes through here, each as one transaction
 * under the state directory's lock (flock(2) on its file `lock`):
 *   apply     prepare the generation; with a confirm, record the pending
 *             confirm and start its watcher; commit to the kernel (the
 *             ruleset generation checked in the same batch, nft_apply.h);
 *             switch `current` (one rename).  A failure at any step
 *             undoes the steps before it: nothing changes.
 *   rollback  the previous generation to the kernel, then the switch; or,
 *             while a confirm is pending, the unconfirmed apply undone
 *   confirm   the pending confirm withdrawn (its watcher sees that, ends)
 *   expiry    the watcher at its deadline: the unconfirmed apply undone,
 *             and recorded (`rolled-back`), if its pending confirm is
 *             still there
 *   flush     table inet sagate removed
 * A second command waits for the lock up to the time it is given, then
 * fails saying who holds it; the next generation number is chosen, and
 * the links read and switched, only under it.  Dry runs take no lock.
 *
 * The watcher's liveness is a lock too: it holds its pending record
 * flock(2)ed, so a record nobody holds is known to be orphaned (the
 * machine rebooted, the watcher was killed), and nothing is ever done to
 * a process named by a PID read from a file.
 *
 * Nothing here prints or exits: outcomes are values, problems are
 * diagnostics.  Making the watcher's process (and ending it) is the
 * caller's part: live_spawn_fn.
 */
#ifndef SAGATE_LIVE_H
#define SAGATE_LIVE_H

#include "diag.h"
#include "flows.h"
#include "model.h"
#include "nft_diff.h"
#include "plan.h"
#include "state.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define LIVE_WAIT_DEFAULT 30u		/**< seconds a command waits for the lock */
#define LIVE_WAIT_FOREVER UINT_MAX	/**< the watcher waits as long as it takes */

/** How a change ended. */
enum live_status {
	LIVE_OK,
	LIVE_PENDING,	/**< apply: an apply --confirm waits for its confirm;
			     nothing was changed */
	LIVE_NOTHING,	/**< confirm: nothing to confirm; rollback: no previous
			     generation.  Nothing was changed */
	LIVE_REJECTED,	/**< the kernel refused the transaction; nothing was
			     changed */
	LIVE_MOVED,	/**< the ruleset changed between reading the live table
			     and the commit; nothing was changed */
	LIVE_ENGINE_REFUSED,	/**< sagated could not take the new policy
				     (handover.h); nothing was changed */
	LIVE_FAILED,	/**< the state directory, the kernel (reading it, or a
			     failure after its commit), memory */
	LIVE_UNKNOWN,	/**< sagated took the request, but its answer was lost:
			     whether it serves the new generation is unknown; d
			     says what the kernel, read again, holds.  Never a
			     reason to change modes */
};

/** The state directory's lock, held: the right to change the firewall. */
struct live;
struct live_incr;

/** Take dir's lock (creating dir, mode 0700, and its file `lock`) for
 *  command ("apply", named to whoever waits, and recorded in the history
 *  of what it changes: a string that outlives the lock; the watcher's is
 *  "confirm timer"), waiting up to wait seconds
 *  (0: not at all; LIVE_WAIT_FOREVER).  NULL with an error in d: the
 *  lock is held by another command ("... locked by another sagate
 *  command (pid N: apply) ...; nothing was changed"), or the directory
 *  or lock file is unusable. */
struct live *live_lock(const char *dir, const char *command, unsigned wait,
		       struct diag_list *d);
/** Let go of the lock (NULL is fine).  Exiting does too. */
void live_unlock(struct live *lv);
/** With keep, the apply and rollback made under lv leave established
 *  flows alone (--keep-flows); by default they end those the policy now
 *  applied no longer admits (flows.h), as the confirm watcher always
 *  does. */
void live_keep_flows(struct live *lv, bool keep);
/** With full, an apply replaces the whole table even when the live table
 *  is exactly the current generation's (by default only the difference
 *  is sent then; live_incr.c). */
void live_full(struct live *lv, bool full);

/** The difference from the live table to p (pol) that an apply would
 *  send, checked by the kernel and discarded (a dry run); no lock needed.
 *  0 with *ir->diff; 1 when the apply would replace the whole table
 *  (ir->why says why); -1 with an error in d (the kernel refused it). */
int live_incr_dry_run(const char *dir, const struct plan *p, const struct policy *pol,
		      struct live_incr *ir, struct diag_list *d);

/** A compiled policy to apply. */
struct live_policy {
	const struct policy *pol;
	const struct plan *plan;
	const char *source;	/**< the policy file as the user named it */
	enum plan_mode mode;
	uint16_t queue;		/**< compiled in: the bank live_next_queue chose */
	uint16_t queue_base;	/**< the --queue base of both banks */
	unsigned queue_count;	/**< queues per bank the table spreads over */
};

/** The first queue of the bank a new table of base `base` (count queues
 *  per bank) is compiled into: the one the live table (current
 *  generation) does not use (handover.h).  Read it under the lock.  0,
 *  or -1 with an error in d. */
int live_next_queue(const char *dir, uint16_t base, unsigned count, uint16_t *queue,
		    struct diag_list *d);

/** The queues per bank of the live generation when it was applied in
 *  engine mode (1 for one recorded before the count was), else 0: the
 *  count an apply that names none keeps, since a running sagated serves
 *  banks of that size and changing it means restarting sagated. */
unsigned live_queue_count(const char *dir);

/** A confirm watcher about to run; opaque. */
struct live_watch;

/** Run live_watch(w) in a process of its own that outlives the caller
 *  (detached from its terminal and session), and return 0 once that
 *  process exists; or start, elsewhere, a process that runs
 *  live_watch_token(live_watch_dir(w), live_watch_token_of(w)) (a
 *  transient systemd service), and return 1 once it was started and no
 *  process of spawn's making still holds the caller's descriptors (they
 *  are close-on-exec: systemd-run has exited); or -1.
 *  The process ends when live_watch returns.  Either way apply goes on
 *  only once the watcher holds its record's lock. */
typedef int (*live_spawn_fn)(struct live_watch *w);

/** The state directory, absolute, and the pending record's token, for a
 *  watcher started as a process of its own (live_spawn_fn returning 1). */
const char *live_watch_dir(const struct live_watch *w);
const char *live_watch_token_of(const struct live_watch *w);

/** How an apply reached the kernel: by the difference from the live
 *  table (nft_diff.h), or by the full replace. */
struct live_incr {
	bool tried;		/**< a generation was current: a difference was considered */
	bool done;		/**< only the difference was sent */
	bool kept;		/**< the live table was vouched for by the ruleset
				     generation of the last commit (the kept plan),
				     not read */
	char why[400];		/**< tried, not done: why the full replace ("" when
				     forced by live_full) */
	struct nft_diff diff;	/**< done: what it changed */
};

/** What a change did. */
struct live_result {
	unsigned generation;	/**< apply: the new current one; rollback: the
				     one now current (0: none) */
	long long deadline;	/**< apply with a confirm: when it rolls back */
	bool cancelled_confirm;	/**< rollback: a pending confirm was cancelled */
	bool table_removed;	/**< rollback: the apply undone was the first:
				     no table now */
	struct state_meta meta;	/**< rollback: the generation now current */
	/* what sagated was told of the new table (handover.h) */
	int engine_state;	/**< enum handover_state */
	uint16_t engine_queue;	/**< the bank's first queue */
	enum live_status engine_after;	/**< LIVE_OK, or how telling sagated
					     failed after the kernel switched:
					     LIVE_UNKNOWN (its answer was lost),
					     LIVE_FAILED (it refused) */
	char engine_note[320];	/**< one sentence for the user, or "" */
	bool keep_flows;	/**< established flows were left alone
				     (live_keep_flows) */
	struct flows_tally flows;	/**< the established flows the change ended
					     (flows.h); the watcher's rollback ends
					     them too */
	struct live_incr incr;	/**< apply: incremental or full, and why */
};

void live_result_fini(struct live_result *r);

/** Apply p: a new generation, current once the kernel took it.  With
 *  confirm (seconds), a pending confirm is recorded and spawn starts its
 *  watcher before the kernel is changed.  LIVE_PENDING while an earlier
 *  confirm waits (one whose watcher is gone is dropped, with a warning).
 *  LIVE_REJECTED and LIVE_MOVED leave everything as it was, as do the
 *  other failures, unless d says that the kernel could not be put back. */
enum live_status live_apply(struct live *lv, const struct live_policy *p, unsigned confirm,
			    live_spawn_fn spawn, struct live_result *r, struct diag_list *d);
/** Go back to the previous generation (it becomes current, keeping its
 *  own rollback target; the current one is recorded as rolled back, and
 *  is never a plain rollback's target again); while a confirm is
 *  pending, undo the apply it guards instead and cancel it. */
enum live_status live_rollback(struct live *lv, struct live_result *r, struct diag_list *d);
/** Go to generation gen, whatever became of it (rollback --to): put it
 *  into the kernel as rollback does, then make it current with the
 *  current one as its rollback target.  LIVE_NOTHING, with the reason in
 *  d, when gen does not exist or is current; LIVE_PENDING while a
 *  confirm waits; LIVE_FAILED when gen is damaged (d names what). */
enum live_status live_rollback_to(struct live *lv, unsigned gen, struct live_result *r,
				  struct diag_list *d);
/** Keep what apply --confirm applied: withdraw the pending confirm.  The
 *  kernel is not touched.  LIVE_NOTHING when none is pending, with the
 *  reason in d (for one its watcher rolled back: when). */
enum live_status live_confirm(struct live *lv, struct diag_list *d);
/** Remove table inet sagate (not the state directory's records). */
enum live_status live_flush(struct live *lv, struct diag_list *d);
/** Settle an apply that ended between recording its generation and
 *  switching `current` to it (killed, the machine lost), as the kernel
 *  shows it: when the kernel holds that generation, it is made current
 *  (and sagated told its bank is live); when the kernel holds the one it
 *  replaced, it is discarded.  Each says so in a warning in d.  apply,
 *  rollback and confirm do this first; restore calls it.  LIVE_OK (also
 *  when there was nothing to settle), or LIVE_FAILED with an error in
 *  d. */
enum live_status live_recover(struct live *lv, struct diag_list *d);
/** The outcome sagated left unknown (its answer about generation asked
 *  was lost, handover.h): an error in d, beginning "outcome unknown",
 *  that says what the kernel, read again, holds (which generation of
 *  dir), and whether sagated is known to serve it. */
void live_report_unknown(const char *dir, unsigned asked, struct diag_list *d);

/** How a watcher ended. */
enum live_watch_end {
	LIVE_WATCH_ENDED,	/**< confirmed, cancelled or withdrawn: nothing to do */
	LIVE_WATCH_ROLLED_BACK,	/**< not confirmed in time: undone */
	LIVE_WATCH_FAILED,	/**< not confirmed in time, and undoing it failed (d) */
};

/** The watcher's work, in the process spawn made: wait for the deadline
 *  or for the pending confirm to be withdrawn; at the deadline take the
 *  state directory's lock and, if the pending confirm is still its own,
 *  undo the apply, record that in `rolled-back` and remove it. */
enum live_watch_end live_watch(struct live_watch *w, struct diag_list *d);
/** live_watch in a process started on its own (not forked by apply): take
 *  the lock of dir's pending record if its token is token, and watch it.
 *  LIVE_WATCH_ENDED at once when the record is not (or no longer) that
 *  one. */
enum live_watch_end live_watch_token(const char *dir, const char *token, struct diag_list *d);

/** A pending confirm, as it stands. */
struct live_pending {
	unsigned generation;	/**< applied, awaiting its confirm */
	unsigned replaces;	/**< the generation it replaced (0: none) */
	long long deadline;	/**< seconds since the epoch */
	bool watcher;		/**< its watcher lives (holds the record's lock) */
};

/** 1 with *p when a confirm is pending (its record names the current
 *  generation), 0 when none; -1 with an error in d when the record
 *  cannot be read. */
int live_pending_get(const char *dir, struct live_pending *p, struct diag_list *d);

/** The last unconfirmed apply that its watcher undid (the file
 *  `rolled-back`; the next apply removes it). */
struct live_rollback_record {
	unsigned generation;	/**< the generation not confirmed */
	unsigned to;		/**< the one it went back to (0: none, no table) */
	long long deadline;	/**< when the confirm was due */
	long long at;		/**< when the watcher acted */
	char *error;		/**< NULL when it rolled back; else why it failed */
};

/** 1 with *rb (live_rollback_record_fini it), 0 when there is none; -1
 *  with an error in d. */
int live_rollback_record_get(const char *dir, struct live_rollback_record *rb,
			     struct diag_list *d);
void live_rollback_record_fini(struct live_rollback_record *rb);

#endif
