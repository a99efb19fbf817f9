/* state: what sagate applied, kept on disk for rollback and status.
 *
 * Layout of the state directory (default /var/lib/sagate):
 *   gen-NNNNNN/policy.json   the applied policy as a bundle (bundle.h)
 *   gen-NNNNNN/meta.json     source file, digests, mode, queue, time
 *   gen-NNNNNN/previous -> ../gen-...  the generation it replaced: the
 *                            rollback target while it is current
 *   gen-NNNNNN/outcome.json  what became of it since: confirmed, rolled
 *                            back (by whom), made current again (absent
 *                            until one of these happened)
 *   current -> gen-...       what the kernel should hold
 *   previous -> current/previous   (for people: the rollback target)
 *   lock                     flock(2)ed by the one command changing things
 *   pending                  a commit-confirm that has not been confirmed,
 *                            flock(2)ed by its watcher while it lives
 *   rolled-back              the last unconfirmed apply its watcher undid
 *   applying                 an apply between recording its generation and
 *                            switching current to it: the next command
 *                            finishes or discards it (live.h)
 * A generation is written completely (write, fsync, rename), its
 * rollback target included, before the one link `current` is switched
 * to it by rename(2): the current generation and its rollback target
 * change together, so a crash or a failed step at any moment leaves
 * either the old or the new state, never half of one.
 *
 * One module, one header, two objects: state.c reads, and alone spells
 * the names above (others name an entry by enum state_file and ask for
 * its path); state_write.c records.  sagated only reads, so it links no
 * writer and, through it, no bundle_from_policy.
 */
#ifndef SAGATE_STATE_H
#define SAGATE_STATE_H

#include "diag.h"
#include "model.h"
#include "plan.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_DEFAULT_DIR "/var/lib/sagate"
/** The user and group sagated runs as (sagated(8)): that group may read
 *  the state directory, whose generations sagated loads. */
#define STATE_READER "sagated"
#define STATE_KEEP 10		/**< generations kept; older ones are removed */
/** Largest bundle read back: ours, so larger than a hand-written policy
 *  may be (a 100,000-rule policy bundles to about 30 MB). */
#define STATE_MAX_BUNDLE (1u << 30)

/** The entries of the state directory besides the generations. */
enum state_file {
	STATE_CURRENT,		/**< link to what the kernel should hold */
	STATE_PREVIOUS,		/**< link to what it held before */
	STATE_PENDING,		/**< apply --confirm waiting: JSON written and read
				     by live.h, flock(2)ed by its watcher */
	STATE_ROLLED_BACK,	/**< the last unconfirmed apply its watcher undid:
				     JSON written and read by live.h */
	STATE_LOCK,		/**< the state directory's lock (live.h) */
	STATE_APPLYING,		/**< an apply between its prepare and its switch:
				     JSON written and read by live.h */
	STATE_ROLLING_BACK,	/**< a rollback between its record and its switch:
				     JSON written and read by live.h */
};

/** An entry's file name, for messages ("current"). */
const char *state_file_name(enum state_file f);
/** Path of entry f of dir into buf.  0, or -1 (errno ENAMETOOLONG) when
 *  it does not fit. */
int state_path(char *buf, size_t len, const char *dir, enum state_file f);

/** Is path a file inside the state directory (a bundle we wrote)? */
bool state_owns(const char *path);

/** Who did something to the state directory, and when.  Recorded for
 *  history; generations written before it was kept have uid -1. */
struct state_actor {
	long long at;		/**< seconds since the epoch */
	long uid;		/**< real uid of the process; -1: unknown */
	char user[64];		/**< its name ("" when it has none); with sudo,
				     "root (sudo: alice)" */
	char command[24];	/**< "apply", "rollback", "rollback --to",
				     "confirm", "expiry", "restore" */
};

/** Fill a with the calling process (its uid, its user name, SUDO_USER),
 *  now, and command. */
void state_actor_self(struct state_actor *a, const char *command);

/** What a generation records besides the policy. */
struct state_meta {
	char *source;		/**< policy file as the user named it */
	char *source_path;	/**< the same, absolute (realpath at apply); NULL
				     in generations written before it was kept,
				     or when it could not be resolved */
	struct state_actor applied_by;	/**< who applied it (uid -1: unknown) */
	unsigned confirm;	/**< apply --confirm SECONDS (0: without) */
	char sha256[65];	/**< digest of the policy as read then */
	char bundle_sha256[65];	/**< SHA-256 of the generation's policy.json as
				     written (what sha256sum prints), so that
				     a damaged copy is known; "" in generations
				     written before it was recorded */
	enum plan_mode mode;
	uint16_t queue;		/**< the queue the table was compiled with: the first
				     of its bank (handover.h) */
	uint16_t queue_base;	/**< --queue of the apply: bank A starts here, bank B
				     queue_count later (meta written before the banks:
				     queue) */
	unsigned queue_count;	/**< queues per bank (1) */
	long long applied_at;	/**< seconds since the epoch */
	unsigned generation;
	char table_comment[129];	/**< applied incrementally: the comment table
					     inet sagate kept (the kernel cannot change
					     it), which names the generation whose full
					     apply made the table; "" when the table
					     carries this generation's own */
};

void state_meta_fini(struct state_meta *m);

/** What became of a generation after its apply (its outcome.json). */
struct state_outcome {
	bool confirmed;			/**< its apply --confirm was confirmed */
	struct state_actor confirmed_by;
	bool rolled_back;		/**< rejected: rolled back while current */
	bool by_expiry;			/**< rolled back because its confirm
					     expired (watcher, or restore at boot),
					     not by an admin's rollback */
	struct state_actor rolled_back_by;
	unsigned rolled_back_to;	/**< the generation made current (0: none) */
	bool reinstated;		/**< made current again after an apply */
	struct state_actor reinstated_by;	/**< the last time */
};

/** What became of generation gen, in o (all false when nothing was
 *  recorded).  0, or -1 with an error in d when outcome.json is
 *  damaged. */
int state_read_outcome(const char *dir, unsigned gen, struct state_outcome *o,
		       struct diag_list *d);
/** Generation gen was rolled back (rejected)? */
bool state_rejected(const char *dir, unsigned gen);
/** Does the generation exist (its directory)? */
bool state_generation_exists(const char *dir, unsigned gen);
/** Every generation in dir, newest first, into *gens (caller frees);
 *  their number, or -1 (errno) when dir cannot be read. */
long state_list(const char *dir, unsigned **gens);
/** Is pol (parsed from generation m's policy.json) the bytes meta.json
 *  records?  true when meta records no digest (an older sagate). */
bool state_bundle_matches(const struct state_meta *m, const struct policy *pol);

/** The directory to use: SAGATE_STATE_DIR if set, else the default. */
const char *state_dir(void);

/* Reading (state.c) */

/** Generation behind link STATE_CURRENT or STATE_PREVIOUS: 0 when there
 *  is none.  The previous one is the rollback target the current
 *  generation records (or, in a directory written before generations
 *  recorded theirs, the link `previous`); a rejected (rolled back) one is
 *  passed over for its own rollback target, so that a plain rollback
 *  never returns to a policy that was rolled back. */
unsigned state_generation(const char *dir, enum state_file link);
/** The generation a plain rollback would go to were gen current: the
 *  rollback target gen records, passing over rolled back ones (for their
 *  own targets) and any that is gone; 0 when none. */
unsigned state_target(const char *dir, unsigned gen);
/** Path of a generation's policy file; caller frees (NULL on OOM). */
char *state_policy_path(const char *dir, unsigned gen);
/** Does table inet sagate's comment (live, may be NULL) say that it holds
 *  generation m: its own digest, or the comment an incremental apply of
 *  it kept (m->table_comment)? */
bool state_table_holds(const struct state_meta *m, const char *live);
/** The comment table inet sagate carries when it holds generation m
 *  (the kept one of an incremental apply, else its own); caller frees;
 *  NULL on OOM. */
char *state_table_comment(const struct state_meta *m);
/** Read a generation's meta; 0 or -1 with an error in d. */
int state_read_meta(const char *dir, unsigned gen, struct state_meta *m,
		    struct diag_list *d);

/* Writing (state_write.c) */

/* Every writer holds the directory's lock (live.h): the next number is
 * chosen, and the links read and switched, by one command at a time. */

/** Write a new generation for p (not yet current), with the current one
 *  as its rollback target.  Returns its number (the highest there is,
 *  plus one), or 0 with an error in d and nothing left behind. */
unsigned state_prepare(const char *dir, const struct policy *p,
		       const struct state_meta *m, struct diag_list *d);
/** Make generation gen current: one rename(2).  Older generations are
 *  pruned afterwards.  0, or -1 with an error in d and nothing changed. */
int state_commit(const char *dir, unsigned gen, struct diag_list *d);
/** Remove a prepared generation that was never committed. */
void state_discard(const char *dir, unsigned gen);
/** Make the rollback target current (after a rollback was applied); its
 *  own rollback target stays, so that the next rollback goes further
 *  back.  0, or -1 with an error in d and current unchanged. */
int state_swap(const char *dir, struct diag_list *d);
/** Make generation gen current, with the current one as its rollback
 *  target (rollback --to).  0, or -1 with an error in d and current
 *  unchanged. */
int state_switch_to(const char *dir, unsigned gen, struct diag_list *d);

/** What to record in a generation's outcome.json. */
enum state_note {
	STATE_NOTE_CONFIRMED,		/**< its pending confirm was confirmed */
	STATE_NOTE_ROLLED_BACK,		/**< an admin rolled it back */
	STATE_NOTE_EXPIRED,		/**< rolled back: its confirm expired */
	STATE_NOTE_REINSTATED,		/**< made current again (by a rollback,
					     an expiry, restore, rollback --to):
					     a rolled back mark goes */
};
/** Record what happened to generation gen, by who (to: the generation a
 *  rollback made current).  Written atomically; 0, or -1 with an error in
 *  d and outcome.json as it was. */
int state_note(const char *dir, unsigned gen, enum state_note what,
	       const struct state_actor *who, unsigned to, struct diag_list *d);
/** Record that generation gen's table now queues to queue (a rollback
 *  that compiled it into the other bank). */
int state_set_queue(const char *dir, unsigned gen, uint16_t queue, struct diag_list *d);
/** Record the comment table inet sagate kept when generation gen was
 *  applied incrementally (meta's table_comment; "": its own). */
int state_set_table_comment(const char *dir, unsigned gen, const char *comment,
			    struct diag_list *d);
/** Remove the current link (a first apply undone: nothing is applied).
 *  A missing link is fine.  0, or -1 with an error in d. */
int state_uncommit(const char *dir, struct diag_list *d);
/** Let group STATE_READER, when it exists, read dir and its
 *  generations (and write nothing): dir becomes mode 2750 of that group
 *  (set-group-ID: what is made in it later is the group's too), each
 *  generation directory 2750 and its files 0640.  A no-op without the
 *  group.  0, or -1 with a warning in d (sagated may then not read what
 *  is applied). */
int state_share(const char *dir, struct diag_list *d);
/** Write a small JSON file atomically (temp file, fsync, rename). */
int state_write_json(const char *path, json_t *j, struct diag_list *d);
/** state_write_json, with the file flock(2)ed (LOCK_EX) before it takes
 *  its name: returns the descriptor that holds the lock (close it to let
 *  go), or -1 with an error in d and no file. */
int state_write_json_locked(const char *path, json_t *j, struct diag_list *d);

#endif
