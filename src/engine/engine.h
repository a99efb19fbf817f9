/* engine: sagated's work: the loaded policy, the XFRM SA cache kept up to
 * date from netlink, and one verdict per packet of each NFQUEUE queue.
 *
 * Queue banks: sagated binds two banks of nqueues queues each, A from
 * queue on and B right after it, and holds one policy per bank
 * (handover.h): a table queues to one bank, and the next apply loads its
 * policy into the other one over the control socket before the kernel
 * switches, so every packet is judged by the policy of the table that
 * queued it.
 *
 * Threads: the caller's (main) thread owns the XFRM socket, reloads, the
 * control socket, the once-a-second housekeeping and the counters file;
 * each queue has a
 * thread of its own with its own NFQUEUE socket.  The policy, classes,
 * SA cache, resync flag and IKE identities are read by the queue threads
 * under a lock of each queue's own (engine_queue.rd), held while it
 * decides a burst of packets, so that a queue thread's verdict touches no
 * lock or cache line another queue thread writes; a writer (the main
 * thread applying a buffer of XFRM messages, sweeping, or swapping a
 * reloaded policy in; the vici follower) takes the rwlock `lock` and then
 * every queue's lock (engine_wrlock).  Writers are rare (SA events,
 * reloads, once a second); other readers take `lock` for reading.
 *
 * Every path that cannot decide is a drop.  Nothing here exits.  Errors
 * are values: a function adds them to a diagnostics list (diag.h) and
 * returns -1; the loop that owns the log (engine_run, a queue's thread,
 * sagated's main) logs them with engine_log_diags.  What is logged where
 * it happens is a decision or an event: a packet's verdict (or why it got
 * none, rate-limited with the verdicts), a lost or finished SA dump, a
 * queue overrun, the fail-open warning.
 */
#ifndef SAGATE_ENGINE_H
#define SAGATE_ENGINE_H

#include "classify.h"
#include "decide.h"
#include "diag.h"
#include "elimit.h"
#include "estats.h"
#include "model.h"
#include "xfrm.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct mnl_socket;
struct engine_queue;
struct engine_vici;

/** Where the policy comes from, and how the queues are set up. */
struct engine_src {
	const char *policy;	/**< --policy FILE (both banks), or NULL: the current
				     generation (its bank) */
	int queue;		/**< --queue N (first of bank A), or -1: from the generation */
	unsigned nqueues;	/**< queues per bank; 0: from the generation, or 1 */
	int rcvbuf;		/**< --rcvbuf BYTES per queue socket, 0: 1 MiB */
	uint32_t queue_maxlen;	/**< --queue-maxlen, 0: the kernel's default (1024) */
	bool fail_open;		/**< --fail-open: the kernel accepts what overflows the queue */
	const char *run_dir;	/**< counters file and control socket directory,
				     NULL: estats_run_dir() */
	const char *vici;	/**< --vici PATH: charon's vici socket to learn the
				     SAs' IKE identities from (engine_vici.h); NULL: none */
};

#define ENGINE_BANKS 2

/** One bank of queues and the policy that judges what they receive. */
struct engine_bank {
	uint16_t first;			/**< its first queue (engine.nqueues of them) */
	/* read by the queue threads under their rd, written under engine_wrlock */
	struct policy *pol;		/**< NULL: nothing loaded, its packets are dropped */
	struct classes *cls;
	unsigned generation;		/**< the generation loaded; 0: a --policy file */
	/* main thread only */
	char sha256[65];		/**< the applied digest of what is loaded */
	char *policy_path;		/**< where it was loaded from */
};

struct engine {
	struct engine_src src;
	uint16_t queue;			/**< the first queue of bank A */
	unsigned nqueues;		/**< queues per bank */
	time_t started;

	/* shared with the queue threads: read under lock (or a queue's rd),
	 * written under engine_wrlock */
	pthread_rwlock_t lock;
	bool lock_ok;
	struct engine_bank bank[ENGINE_BANKS];
	struct xfrm_cache *sas;
	sa_ident_lookup_fn ident_lookup;	/**< the IKE identity source (strongSwan's
						     vici), called under lock; NULL: none,
						     identity rules drop (drop-no-identity) */
	void *ident_ctx;		/**< its first argument */
	bool resync;			/**< cache not trusted: new flows are dropped */
	unsigned long sa_gen;		/**< bumped whenever the cache or resync may
					     have changed (atomic; written under lock) */

	/* the XFRM socket: under xmu, taken by the main thread and by a
	 * queue thread that must see every SA event before an accept */
	unsigned long xreading;		/**< odd while a thread (under xmu) may hold SA
					     events it read from the socket and has
					     not applied yet (atomic; see
					     engine_xfrm_settled) */
	pthread_mutex_t xmu;
	bool xmu_ok;
	struct mnl_socket *xnl;		/**< NETLINK_XFRM, groups SA + EXPIRE */
	uint32_t xportid, xseq;
	uint32_t dump_seq;		/**< the sequence number of our running dump */
	bool dump_running;		/**< our GETSA dump has not ended yet */
	bool need_dump;			/**< a (re-)dump is due (ENOBUFS, a message
					     that could not be read) */
	unsigned long long x_enobufs;
	char *buf;			/**< XFRM receive buffer */
	size_t buflen;
	uint32_t review[64];		/**< reqids whose bound flows must be reviewed
					     (engine_ct.c): an SA of theirs was added */
	unsigned nreview;
	bool review_all;		/**< review[] overflowed: review every bound flow */

	/* main thread only */

	bool counters_warned;		/**< the counters file could not be written, and we said so */
	int live;			/**< the bank the live table queues to, as the last
					     handover (or the generation at start) said;
					     -1: unknown (--policy) */
	int ctl_fd;			/**< the control socket, listening; -1 */
	char ctl_path[108];		/**< its path */
	unsigned long long ctl_ino;	/**< its inode, to remove only our own */

	struct engine_queue *q;		/**< ENGINE_BANKS * nqueues of them */
	struct engine_vici *vici;	/**< the IKE identities of the SAs, written
					     under lock (engine_vici.h); NULL: --vici none */
	int stop_fd[2];			/**< main -> queue threads: written once to stop */
	int fail_fd[2];			/**< queue threads -> main: a thread died */
	int failed;			/**< a queue thread hit a fatal error (atomic) */

	/** The decision-log rate limiter, shared by the queue threads without
	 *  a lock; each queue counts what it refuses (engine_queue.log_refused). */
	struct elimit log;
};

/** Set e up and load the policy.  Returns 0, or -1 with errors in d
 *  (warnings too either way); e must be engine_stop()ped and
 *  engine_fini()ed either way. */
int engine_init(struct engine *e, const struct engine_src *src, struct diag_list *d);
/** After engine_init: open and set up all sockets, dump the SAs, bind
 *  the queues of both banks, listen on the control socket.  0, or -1 with
 *  errors in d (warnings too either way).  The queue threads start in
 *  engine_run. */
int engine_open(struct engine *e, struct diag_list *d);
/** Reload the policy (SIGHUP): the --policy file into both banks, or the
 *  current generation into its bank; on error the old one stays.  0, or
 *  -1 with errors in d (warnings too either way). */
int engine_reload(struct engine *e, struct diag_list *d);
/** The bank the live table queues to (bank A when unknown). */
const struct engine_bank *engine_live_bank(const struct engine *e);
/** Serve until *stop; *hup triggers engine_reload (with RELOADING=1 /
 *  READY=1 to systemd).  SIGTERM, SIGINT and SIGHUP must be blocked by
 *  the caller (they are unblocked only while waiting).  0 on a requested
 *  stop, -1 on a fatal socket error. */
int engine_run(struct engine *e, volatile sig_atomic_t *stop, volatile sig_atomic_t *hup);
/** The counters of all queues, summed. */
void engine_counters(const struct engine *e, struct estats *sum);
/** Write the counters file (estats.h) now.  0 or -1; the first failure
 *  adds a warning to d, later ones are silent. */
int engine_write_counters(struct engine *e, bool stopped, struct diag_list *d);
/** Lines the log holds for a reader that falls behind (elog.h). */
#define ENGINE_LOG_LINES 4096
/** From now on every line is written to stdout / stderr by a logging
 *  thread from a ring that never blocks the thread that logs (elog.h);
 *  until then, by the thread itself.  0, or an errno value. */
int engine_log_start(void);
/** Write what the ring holds (waiting at most timeout_ms for the
 *  reader), stop the logging thread; later lines are written directly. */
void engine_log_stop(int timeout_ms);
/** Lines lost so far to a full ring (its reader fell behind). */
unsigned long long engine_log_lost(void);
/** Log one event line on stdout: j (an object, consumed) with "time"
 *  added first.  Thread-safe: lines never interleave; never blocks once
 *  engine_log_start has run (a line the ring has no room for is lost,
 *  and counted). */
void engine_event(json_t *j);
/** Log each finding of d as an event line (and on stderr), then empty d.
 *  The event is the finding's place (its file) and severity: "error" and
 *  "warning" for sagated itself (file ""), "xfrm-error", "xfrm-warning",
 *  "queue-error" and "policy-error" for the places "xfrm", "queue" and
 *  "policy" (a policy finding is formatted whole into the message). */
void engine_log_diags(struct diag_list *d);
/** Stop the queue threads, unbind the queues and close their sockets;
 *  the counters stay readable.  What fails is added to d.  Idempotent. */
void engine_stop(struct engine *e, struct diag_list *d);
/** engine_stop (the caller's, which hears its errors, should come first),
 *  then close and free everything. */
void engine_fini(struct engine *e);

#endif
