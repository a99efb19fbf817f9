/* compile: policy + classes -> nft plan.
 *
 * Kernel layout (table inet sagate):
 *   input / output base chains, policy = the direction's default;
 *   loopback accepted; invalid dropped; established flows decided in the
 *   kernel, but a flow admitted under require-ipsec (ct mark bit) must
 *   keep arriving decrypted and keep leaving through an SA;
 *   IPv6 neighbour discovery accepted (IPv6 does not work without it);
 *   then per direction and family, at most three verdict-map lookups:
 *     <dir><4|6>_exact   hash:     peer . proto . port   (single values)
 *     <dir><4|6>_ports   interval: peer . proto . port   (tcp, udp, sctp)
 *     <dir><4|6>_protos  interval: peer . proto          (other protocols)
 *   (with ". local address" after the peer when a rule names "local").
 *   Large policies (over 1,024 interval boxes in a direction and family,
 *   and no "local") split the interval maps by peer address: the kernel
 *   searches a concatenated interval map in time proportional to its
 *   size, so
 *     <dir><4|6>_bucket  interval: peer . proto (every proto: a
 *                        concatenation, pipapo in the kernel, not a
 *                        tree) -> jump <dir><4|6>_bID
 *     <dir><4|6>_bID     chain: _bID_ports, then _bID_protos (as above)
 *   with about 400 boxes per bucket (at least 208); a bucket starts at a
 *   peer address whose fixed hash is the highest within 208 boxes either
 *   side (bucket.c), so an edit moves only the bucket boundaries near it,
 *   and ID (the start address in hex for IPv4, a 64-bit hash of
 *   it for IPv6) names a bucket by where it starts, so the others keep
 *   their names.  Boxes wider than two buckets stay in the shared _ports /
 *   _protos maps.  Then the kernel rule count grows by two per bucket.
 *   Elements are disjoint, so at most one lookup hits; each carries a
 *   counter and its rule's name as comment.
 *   require-ipsec elements goto ipsec_in / ipsec_out: no secpath, drop;
 *   else mark the flow and queue it to sagated (engine mode, no bypass),
 *   or accept (kernel-only mode, reqid checked in ipsec_in_reqid_N).
 */
#ifndef SAGATE_COMPILE_H
#define SAGATE_COMPILE_H

#include "classify.h"
#include "diag.h"
#include "model.h"
#include "plan.h"

struct compile_opts {
	enum plan_mode mode;
	uint16_t queue;		/**< NFQUEUE number for engine mode */
	unsigned queues;	/**< queues from queue on that new require-ipsec flows
				     are spread over (fanout); 0: the policy's
				     "queues", else 1 */
};

/** The most queues a table spreads over: sagated's threads per bank
 *  (QRANGE_MAX, HANDOVER_MAX_QUEUES). */
#define COMPILE_MAX_QUEUES 64

/** The queues a table of policy p spreads over under o: o->queues, else
 *  the policy's "queues", else 1. */
unsigned compile_queue_count(const struct policy *p, const struct compile_opts *o);

/** The table comment naming the policy's source (through plan_escape)
 *  and digest, at most 127 bytes, as nft allows; caller frees; NULL on
 *  OOM. */
char *compile_table_comment(const char *source, const char *sha256);

/** Build the plan; NULL on OOM.  Classes classified with CLASSIFY_LIMIT
 *  bound it too: at most max_elements set elements are added, the rest
 *  only counted (plan.elems_needed). */
struct plan *compile_plan(const struct policy *p, const struct classes *c,
			  const struct compile_opts *o);

/** Does the policy need more kernel set elements than its max_elements
 *  ("max-elements"), as c (classified with CLASSIFY_LIMIT) or plan
 *  (compiled from c; NULL: not compiled) found?  Then an error in d says
 *  so, with the count, or the rules' own estimate when the classifier
 *  stopped. */
bool compile_over_limit(const struct policy *p, const struct classes *c,
			const struct plan *plan, struct diag_list *d);

#endif
