/* handover: tell sagated before the kernel switches.
 *
 * The queue number is the generation tag.  sagated binds two banks of
 * queues, A = [Q, Q+N-1] and B = [Q+N, Q+2N-1] (Q the --queue base, N
 * the queues per bank, 1 today), and holds one policy per bank.  Each
 * apply (rollback, expiry) compiles the new table into the bank the live
 * table does not use, and before the kernel commits it asks sagated, over
 * the control socket RUN_DIR/sagated.ctl, to load the generation's policy
 * into that bank, and waits for the answer.  Only then does the kernel
 * switch: packets the old table queued sit on the old bank and are judged
 * by the old policy, the new table's packets arrive on the new bank,
 * whose policy is already loaded.  After the commit sagate says "live", and
 * sagated records the generation it serves in its counters file, where
 * `status` and `audit` compare it with the applied one.
 *
 * The protocol: one connection per request, one JSON object per line
 * each way (at most HANDOVER_MAX_LINE bytes):
 *   {"v":1,"op":"load"|"live","generation":G,"queue":X,"queues":N,
 *    "policy":"/var/lib/sagate/gen-000007/policy.json","sha256":"..."}
 *   {"v":1,"ok":true,"generation":G,"queue":X}
 *   {"v":1,"ok":false,"error":"why"}
 * The socket is sagated's (mode 0600); sagated takes requests from uid
 * 0 only, and the client talks to a socket held by root or by user
 * STATE_READER (state.h), the user sagated runs as (SO_PEERCRED).  Unix sockets with a path cross network namespaces;
 * a sagated serves the queues of its own, so the client treats a sagated
 * in another namespace as absent, and sagated refuses its requests.
 *
 * Two objects: handover_msg.c (the messages, the bank choice, the peer
 * check: what sagated links too) and handover.c (the client, and the
 * comparison of what sagated serves with what is applied).
 */
#ifndef SAGATE_HANDOVER_H
#define SAGATE_HANDOVER_H

#include "diag.h"
#include "state.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HANDOVER_VERSION 1
#define HANDOVER_SOCKET "sagated.ctl"	/**< in the run directory (estats.h) */
#define HANDOVER_MAX_LINE 8192
/** Most queues in a bank (sagated's QRANGE_MAX). */
#define HANDOVER_MAX_QUEUES 64

enum handover_op {
	HANDOVER_LOAD,		/**< load the generation's policy into the bank */
	HANDOVER_LIVE,		/**< the kernel now queues to that bank */
};

/** A request to sagated. */
struct handover_req {
	enum handover_op op;
	unsigned generation;
	uint16_t queue;		/**< the bank's first queue */
	unsigned queues;	/**< queues in the bank */
	char *policy;		/**< the generation's bundle (absolute path) */
	char sha256[65];	/**< the applied digest (the generation's meta) */
};

/** sagated's answer. */
struct handover_reply {
	bool ok;
	char *error;		/**< why not, when !ok */
	unsigned generation;	/**< what the bank holds now, when ok */
	uint16_t queue;
};

/** One line (with its newline) for r; caller frees; NULL on OOM. */
char *handover_req_encode(const struct handover_req *r);
/** Parse one line (len bytes, newline optional) into r (fini it either
 *  way).  0, or -1 with the error in d. */
int handover_req_decode(const char *line, size_t len, struct handover_req *r,
			struct diag_list *d);
void handover_req_fini(struct handover_req *r);
char *handover_reply_encode(const struct handover_reply *r);
int handover_reply_decode(const char *line, size_t len, struct handover_reply *r,
			  struct diag_list *d);
void handover_reply_fini(struct handover_reply *r);

/** The first queue of the bank the next table of base `base` (count
 *  queues per bank) is compiled into: the one live does not use.  live
 *  is the current generation's meta, or NULL when there is none; a
 *  kernel-only or differently based live table queues to neither bank,
 *  so the new one takes bank A.  0, or -1 with an error in d (bank B
 *  would pass queue 65535). */
int handover_bank(uint16_t base, unsigned count, const struct state_meta *live,
		  uint16_t *queue, struct diag_list *d);

/** RUN_DIR/sagated.ctl into buf.  0, or -1 when it does not fit. */
int handover_socket_path(char *buf, size_t len);

/** Who is at the other end of unix socket fd: its uid, and whether it
 *  lives in our network namespace (true when /proc cannot tell).  0, or
 *  -1 with errno. */
int handover_peer(int fd, uid_t *uid, bool *same_netns);

/* ---- the client (handover.c) */

enum handover_state {
	HANDOVER_NOTHING,	/**< kernel-only: nothing is queued, nothing to hand over */
	HANDOVER_NO_ENGINE,	/**< no sagated listens here */
	HANDOVER_LOADED,	/**< sagated holds the generation in its bank */
	HANDOVER_SERVING,	/**< and has been told the kernel switched */
};

struct handover {
	enum handover_state state;
	struct handover_req req;
	bool lost;		/**< sagated took the request, but its answer never
				     came (timeout, connection closed, garbled): what
				     it did is unknown */
	char note[320];		/**< one sentence on what happened, for the user */
};

/** Seconds sagate waits for sagated's answer to a load (60) and to a
 *  "live" (10), unless SAGATE_HANDOVER_TIMEOUT (seconds, 1-3600) names
 *  another limit for both. */
int handover_timeout_ms(enum handover_op op);

/** Before the kernel commit of generation m->generation (recorded in
 *  dir, not yet current): ask sagated to load it into m->queue's bank.
 *  0 when it did, or when nothing needs it (kernel-only, no sagated);
 *  -1 with an error in d when sagated refused, did not answer, or could
 *  not be asked: then the kernel must not switch.  h is fini'ed either
 *  way. */
int handover_prepare(struct handover *h, const char *dir, const struct state_meta *m,
		     struct diag_list *d);
/** After the kernel commit: tell sagated the bank is live.  0, or -1 with
 *  an error in d when sagated does not serve the generation now (its
 *  answer was lost, h->lost: what its counters file says is in the
 *  error). */
int handover_commit(struct handover *h, struct diag_list *d);
/** The kernel already queues generation m->generation (recorded in dir)
 *  to m->queue's bank, and sagated was never told it is live (an apply
 *  that ended between the kernel's commit and its own): tell it now.  A
 *  sagated that never loaded it loads it first.  As handover_commit. */
int handover_resume(struct handover *h, const char *dir, const struct state_meta *m,
		    struct diag_list *d);
void handover_fini(struct handover *h);

/** sagated's counters file (sagated(8)) with "alive" added: whether its
 *  writer still runs.  NULL when there is none; path gets its name. */
json_t *handover_counters(char *path, size_t len);

enum handover_served {
	HANDOVER_SERVED,	/**< sagated judges the live table's queue by the applied policy */
	HANDOVER_MISMATCH,	/**< it judges it by another one, or by none */
	HANDOVER_NOT_RUNNING,	/**< no running sagated wrote the counters */
};

/** Does the sagated of counters (handover_counters, may be NULL) serve
 *  generation m (m->generation; engine mode) on the queue its table uses?
 *  why gets a sentence for a mismatch. */
enum handover_served handover_check(const json_t *counters, const struct state_meta *m,
				    char *why, size_t len);

#endif
