/* Inside the engine: what engine.c (main thread: policy, life),
 * engine_xfrm.c (the XFRM socket and the SA cache it feeds) and
 * engine_queue.c (one thread per NFQUEUE queue) share. */
#ifndef SAGATE_ENGINE_INT_H
#define SAGATE_ENGINE_INT_H

#include "engine.h"
#include "estats.h"
#include "vbatch.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/** Swap two lvalues of one type. */
#define SWAP(a, b) do { __typeof__(a) t_ = (a); (a) = (b); (b) = t_; } while (0)

/** Messages taken from the queue socket per recvmmsg(). */
#define EQ_BURST 64
/** Room for one queue message: headers copied (256 bytes) and attributes. */
#define EQ_SLOT 4096

/** One packet of a burst, between its message and its verdict. */
struct eq_item {
	uint32_t id;			/**< the kernel's packet id */
	enum direction dir;		/**< DIR_IN, or DIR_FWD from the forward hook */
	const void *data;		/**< its copied headers (in the slots), or NULL */
	size_t len;
	uint32_t spi_be;		/**< NFQA_PRIORITY: the SPI, network byte order (0: none) */
	struct verdict v;
	unsigned reason;		/**< decide_reason or estats_reason */
	bool headers;			/**< v.pkt holds parsed headers */
};

/** One queue: its socket, its thread, its counters.  Aligned to a cache
 *  line, so that what one queue's thread writes shares no line with
 *  another queue. */
struct engine_queue {
	/** Its thread's read lock of the state the queue threads share (the
	 *  banks' policies, the SA cache, resync, the identities): held while
	 *  it decides a burst.  A writer takes every queue's (engine_wrlock),
	 *  so a reader touches no lock another queue thread takes. */
	pthread_mutex_t rd;
	struct engine *e;
	uint16_t num;
	unsigned bank;			/**< index into e->bank */
	struct mnl_socket *nl;
	bool bound;
	uint32_t seq;			/**< last config request */
	char *slots;			/**< EQ_BURST * EQ_SLOT receive buffers */
	struct mmsghdr mm[EQ_BURST];
	struct iovec iov[EQ_BURST];
	struct vbatch_state vb;
	struct eq_item it[EQ_BURST];
	struct vbatch_pkt pk[EQ_BURST];
	struct vbatch_msg msg[2 * EQ_BURST];
	struct estats st;		/**< written by this queue's thread only */
	struct elimit_count log_refused;	/**< decision lines the limiter refused
						     this queue (its thread only) */
	pthread_t th;
	bool running;
	int busy;			/**< the thread is reading or answering a burst (atomic) */
} __attribute__((aligned(64)));

/** Log an event with a message (also on stderr). */
void engine_msg(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Add an error of place ("" for sagated itself, "xfrm", "queue",
 *  "policy": see engine_log_diags) to d; as an expression, -1. */
#define engine_fail(d, place, ...) \
	({ diag_add((d), DIAG_ERROR, (place), "", NULL, __VA_ARGS__); -1; })
/** May one more decision line of q be logged in second now?  q's thread
 *  (or the thread that sets q up or closes it); no lock (elimit.h). */
bool engine_log_admit(struct engine_queue *q, time_t now);
/** Log how many decision lines were refused since the last call (one
 *  "suppressed" event, none when none were): the main thread, once a
 *  second. */
void engine_log_tick(struct engine *e);

/** Take the shared state for writing: e->lock (which readers other
 *  than the queue threads take for reading), then every queue's rd, in
 *  order.  Any thread but a queue thread in its decision. */
void engine_wrlock(struct engine *e);
/** Release what engine_wrlock took. */
void engine_wrunlock(struct engine *e);
/** engine_wrlock and engine_wrunlock for engine_vici_start_with (the
 *  struct engine). */
void engine_wrlock_cb(void *e);
void engine_wrunlock_cb(void *e);

/** Open the XFRM socket (e->xnl), join the SA and EXPIRE groups and
 *  wait for the first dump of the SAs (engine_xfrm.c).  0, or -1 with an
 *  error in d. */
int engine_xfrm_setup(struct engine *e, struct diag_list *d);
/** Ask the kernel for a dump of the SAs when one is due (e->need_dump,
 *  none running); a re-dump empties the cache first.  What fails is
 *  retried on the next call, and said in d.  Under xmu. */
void engine_xfrm_dump(struct engine *e, struct diag_list *d);
/** Read and apply what the XFRM socket holds, a bounded number of reads
 *  (the main thread, when poll says it is readable; logs what went
 *  wrong).  0, or -1 on a fatal receive error. */
int engine_xfrm_drain(struct engine *e);
/** Apply every XFRM event the kernel has queued for sagated by now
 *  (non-blocking; any thread, not under e->lock).  0 when the socket was
 *  drained, -1 when it could not be (an error, or events still arriving
 *  after a bounded number of reads): the caller must not accept on the
 *  cache then. */
int engine_xfrm_sync(struct engine *e);

/** May a decision made on the SA cache as of e->sa_gen == gen stand:
 *  is every SA event the kernel queued for sagated before this call in
 *  that cache?  Without a lock when no event waits in the XFRM socket
 *  and no thread is between reading events and applying them
 *  (e->xreading even and unchanged); else engine_xfrm_sync, then gen
 *  compared.  Any thread, not under e->lock or a queue's rd. */
bool engine_xfrm_settled(struct engine *e, unsigned long gen);

/** Review the conntrack entries bound (ct mark) to the reqids queued in
 *  e->review (engine_ct.c; main thread): a flow of an inbound
 *  require-ipsec rule gets a mark that no binding pairs with, so the
 *  kernel drops its next packets, when an SA of its reqid that could
 *  carry it fails the rule by its transforms (encryption, algorithms,
 *  mode, reqid).  What fails is logged. */
void engine_ct_review(struct engine *e);

/** Every queue sagated binds: both banks. */
#define ENGINE_QUEUES(e) (ENGINE_BANKS * (e)->nqueues)

/** Parse, classify and put path's policy into bank b (under the lock);
 *  gen 0 and sha NULL for a --policy file (its own digest then).  bundle:
 *  a generation's bundle (read up to STATE_MAX_BUNDLE).  0, or -1 with
 *  errors in d and the bank unchanged. */
int engine_bank_load(struct engine *e, unsigned b, const char *path, unsigned gen,
		     const char *sha, bool bundle, struct diag_list *d);

/** The control socket (engine_ctl.c): listen on RUN_DIR/sagated.ctl.  0,
 *  or -1 with an error in d (another sagated listens there). */
int engine_ctl_open(struct engine *e, struct diag_list *d);
/** Answer one client of the control socket (readable): a handover's
 *  load or live request.  What went wrong is in d; the handover itself is
 *  logged as an event. */
void engine_ctl_serve(struct engine *e, struct diag_list *d);
/** Stop listening and remove the socket if it is still ours. */
void engine_ctl_close(struct engine *e);

/** Allocate e->q: ENGINE_QUEUES(e) queues, each knowing its engine,
 *  number and bank, no socket yet (eq_open).  0, or -1 with an error in d. */
int engine_queues_alloc(struct engine *e, struct diag_list *d);
/** Decide q->it[0..n) (n > 0) by the policy of q's bank, count each
 *  verdict and log it (rate-limited), and put the verdicts into
 *  q->pk[0..n) for q_send.  The queue's thread (or the thread that set q
 *  up or closes it). */
void eq_judge(struct engine_queue *q, size_t n);
/** Open q's socket, bind queue num, set its parameters (copy range,
 *  maxlen, fail-open).  0, or -1 with an error in d (warnings too). */
int eq_open(struct engine *e, struct engine_queue *q, uint16_t num, struct diag_list *d);
/** Start q's thread.  0, or -1 with an error in d. */
int eq_start(struct engine_queue *q, struct diag_list *d);
/** Does no packet of q wait for a verdict (none in its socket, none
 *  being decided)?  Any thread; what the kernel counts in
 *  /proc/net/netfilter/nfnetlink_queue, which only root may read. */
bool eq_idle(struct engine_queue *q);
/** Join q's thread (the stop pipe must have been written), unbind the
 *  queue and close the socket; an unbind that fails is an error in d. */
void eq_close(struct engine_queue *q, struct diag_list *d);

#endif
