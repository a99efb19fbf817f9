/* Internal to the live module: the held lock, the pending confirm's
 * record and its watcher, shared by live.c (the transactions),
 * live_lock.c and live_watch.c. */
#ifndef SAGATE_LIVE_INT_H
#define SAGATE_LIVE_INT_H

#include "live.h"

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

struct live {
	char *dir;
	int fd;			/* the lock file, flock(2)ed */
	const char *command;	/* as live_lock was given it: who acts */
	bool keep_flows;	/* live_keep_flows: established flows stay */
	bool full;		/* live_full: never only the difference */
};

/** A pending confirm's record: what status shows, and the token that
 *  tells its watcher's own record from a later one. */
struct pending {
	struct live_pending pub;
	long deadline_ns;	/* the deadline's nanoseconds (pub.deadline: seconds) */
	char token[33];		/* 128 random bits in hex */
	dev_t dev;		/* the file read: a watcher compares it with its own */
	ino_t ino;
};

struct live_watch {
	char *dir;
	struct pending rec;
	struct timespec deadline;	/* CLOCK_REALTIME */
	int pending_fd;		/* the record, flock(2)ed: the watcher's liveness */
	int lock_fd;		/* apply's state lock, inherited: let go at once */
	int ready[2];		/* the watcher writes a byte to [1] once it runs */
	char *abs_dir;		/* dir made absolute, for a watcher started elsewhere */
};

/* live.c */

/** A recorded generation, compiled again as it was applied. */
struct recorded {
	struct state_meta m;
	struct policy *pol;
	struct classes *cls;
	struct plan *plan;
};

/** Generation gen compiled in its mode, with its queue and the table
 *  comment it is applied with; 0, or -1 with an error in d (recorded_fini
 *  in both cases). */
int recorded_load(const char *dir, unsigned gen, struct recorded *g, struct diag_list *d);
void recorded_fini(struct recorded *g);

/* live_incr.c */

/** Put p (pol) into the kernel for generation gen, being prepared: only
 *  the difference when the live table is exactly the current generation
 *  (and lv allows it; then gen's meta records the table comment kept),
 *  else the full replace (nft_apply).  *ir says which, and why.  As
 *  nft_apply: 0, -1 or NFT_APPLY_MOVED with errors in d. */
int live_incr_apply(struct live *lv, unsigned gen, const struct plan *p,
		    const struct policy *pol, struct live_incr *ir, struct diag_list *d);

/** Does the kernel hold generation gen, applied incrementally (so the
 *  table's comment names an earlier one)?  Its kept plan vouched for by
 *  the ruleset generation, else the live table compared with its plan;
 *  true with the comment the table kept. */
bool live_incr_holds(const char *dir, unsigned gen, char *comment, size_t clen);

/* live_watch.c */

/** The pending record: 1 with *p, 0 when none, -1 with an error in d. */
int pending_read(const char *dir, struct pending *p, struct diag_list *d);
/** A record is in force while its generation is current (cur): the
 *  switch away from it, a rollback's, cancels it at once, whatever
 *  becomes of the file; one whose apply never switched guards nothing
 *  (its watcher still puts the kernel back at the deadline). */
static inline bool in_force(const struct pending *p, unsigned cur)
{
	return p->pub.generation && p->pub.generation == cur;
}
/** Record a pending confirm of generation gen (replacing replaces), due
 *  in seconds, and start its watcher through spawn; on return the
 *  watcher alone holds the record's lock.  0 with *deadline, or -1 with
 *  an error in d and no record. */
int pending_arm(struct live *lv, unsigned gen, unsigned replaces, unsigned seconds,
		live_spawn_fn spawn, long long *deadline, struct diag_list *d);
/** Remove the pending record: its watcher, if any, sees that and ends.
 *  0, or -1 with an error in d. */
int pending_withdraw(const char *dir, struct diag_list *d);
/** Remove the record of an automatic rollback (a new apply is current):
 *  failing leaves only a stale line in status. */
void rollback_record_drop(const char *dir);

/* live_recover.c */

/** Record that generation gen (replacing replaces) is being applied:
 *  `applying`, until the switch.  0, or -1 with an error in d. */
int applying_record(const char *dir, unsigned gen, unsigned replaces, struct diag_list *d);
/** Remove the record (failing leaves one the next command finds settled). */
void applying_drop(const char *dir);
/** Record that a rollback is putting generation gen into the kernel in
 *  place of the current replaces, to switch to it by state_swap (swap)
 *  or state_switch_to; by: the command (lv->command).  `rolling-back`,
 *  until the switch.  0, or -1 with an error in d. */
int rolling_record(const char *dir, unsigned gen, unsigned replaces, bool swap, const char *by,
		   struct diag_list *d);
/** Remove it (failing leaves one the next command finds settled). */
void rolling_drop(const char *dir);

/* live.c */

/** Record in history what a rollback by command did: from rolled back
 *  (swap: a plain rollback or an expiry; rollback --to leaves from as it
 *  was), to reinstated.  A failure is a warning in d. */
void live_rollback_notes(const char *dir, const char *command, unsigned from, unsigned to,
			 bool swap, struct diag_list *d);

/* live.c */

/** Put generation gen of dir into the kernel again (0: no table), on its
 *  recorded bank, handing it to sagated first; the state directory is
 *  not touched. */
enum live_status live_kernel_load(const char *dir, unsigned gen, struct diag_list *d);

/** Undo the unconfirmed apply of generation gen, which replaced
 *  replaces: the kernel and `current` go back to replaces (no table and
 *  no current when 0).  If gen never became current (apply was killed
 *  before its switch), only the kernel is put back. */
enum live_status live_undo(struct live *lv, unsigned gen, unsigned replaces,
			   struct live_result *r, struct diag_list *d);

#endif
