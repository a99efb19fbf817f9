/* engine: sagated's work: the loaded policy, the XFRM SA cache kept up to
 * date from netlink, and one verdict per packet of the NFQUEUE queue.
 *
 * Single-threaded, one verdict message per packet (batch verdicts and a
 * worker thread can come later).  Every path that cannot decide is a drop.
 * Nothing here exits; errors are returned and logged.
 */
#ifndef SAGATE_ENGINE_H
#define SAGATE_ENGINE_H

#include "classify.h"
#include "decide.h"
#include "model.h"
#include "xfrm.h"

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct mnl_socket;

/** Where the policy comes from. */
struct engine_src {
	const char *policy;	/**< --policy FILE, or NULL: the current generation */
	int queue;		/**< --queue N, or -1: from the generation's meta */
};

struct engine {
	struct engine_src src;
	uint16_t queue;
	char *policy_path;		/**< what was loaded last */
	struct policy *pol;
	struct classes *cls;
	struct xfrm_cache *sas;

	struct mnl_socket *xnl;		/**< NETLINK_XFRM, groups SA + EXPIRE */
	uint32_t xportid, xseq;
	bool dump_running;		/**< our GETSA dump has not ended yet */
	bool need_dump;			/**< a (re-)dump is due (ENOBUFS) */
	bool resync;			/**< cache not trusted: new flows are dropped */

	struct mnl_socket *qnl;		/**< NETLINK_NETFILTER, NFQUEUE */
	uint32_t qportid;
	bool bound;

	char *buf;			/**< receive buffer */
	size_t buflen;

	/* counters */
	unsigned long long accepted, dropped, q_enobufs, x_enobufs;

	/* log rate limit */
	time_t log_sec;
	unsigned log_count;
	unsigned long long log_suppressed;
};

/** Load the policy, open and set up both sockets, dump the SAs.  Returns
 *  0, or -1 (logged on stderr); e must be engine_fini()ed either way. */
int engine_init(struct engine *e, const struct engine_src *src);
/** Reload the policy (SIGHUP); on error the old one stays.  0 or -1. */
int engine_reload(struct engine *e);
/** Serve until *stop; *hup triggers engine_reload.  SIGTERM, SIGINT and
 *  SIGHUP must be blocked by the caller (they are unblocked only while
 *  waiting).  0 on a requested stop, -1 on a fatal socket error. */
int engine_run(struct engine *e, volatile sig_atomic_t *stop, volatile sig_atomic_t *hup);
/** Print one event line on stdout: j (an object, consumed) with "time"
 *  added first. */
void engine_event(json_t *j);
/** Unbind the queue, close everything, free everything. */
void engine_fini(struct engine *e);

#endif
