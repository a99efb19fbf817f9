/* revoke: which established flows an applied plan no longer admits.
 *
 * A flow the kernel already tracks is judged as its first packet would
 * be under the new plan (plan_sim.h), with what its conntrack entry
 * tells: the addresses and ports of its original direction (the
 * destination as the filter saw it, after DNAT), and whether the table
 * bound it to an IPsec SA (the mark bit and reqid).  Only flows the
 * policy decides are judged: one end must be this host's address and
 * the other not (loopback and forwarded flows are never the policy's).
 * No sockets here: the entries and this host's addresses come from the
 * kernel layer (ct_flows.h). */
#ifndef SAGATE_REVOKE_H
#define SAGATE_REVOKE_H

#include "addr.h"
#include "classify.h"
#include "model.h"
#include "plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One tracked flow, in the direction that opened it. */
struct revoke_flow {
	enum addr_family fam;
	uint8_t proto;		/**< IP protocol number */
	u128 src;		/**< who opened it */
	u128 dst;		/**< where to, after DNAT (the reply's source) */
	uint16_t dport;		/**< its destination port after DNAT; 0 for
				     protocols without ports */
	uint32_t mark;		/**< the conntrack mark */
};

/** What becomes of a flow. */
enum revoke_verdict {
	REVOKE_KEEP,		/**< the new plan admits it as it was admitted */
	REVOKE_NOT_OURS,	/**< loopback or forwarded: the policy never decides it */
	REVOKE_BLOCKED,		/**< a block rule or the default now drops it */
	REVOKE_CLEARTEXT,	/**< admitted in cleartext, its class now requires IPsec */
	REVOKE_OTHER_SA,	/**< bound to an SA whose binding (reqid) the rule no
				     longer accepts */
	REVOKE_UNKNOWN,		/**< the plan could not be walked: kept */
};

/** The judgement of one flow. */
struct revoke_result {
	enum revoke_verdict verdict;
	struct packet_key key;	/**< the flow as the policy sees it (not for
				     REVOKE_NOT_OURS) */
	uint32_t rule;		/**< the new policy's deciding rule, or CLASS_NONE
				     (the default) */
};

/** Judge f under the new plan p of policy pol.  locals are this host's
 *  addresses (any order; ranges, e.g. 127.0.0.0/8).  Returns true when
 *  the flow is to be ended (BLOCKED, CLEARTEXT, OTHER_SA). */
bool revoke_judge(const struct plan *p, const struct policy *pol,
		  const struct addr_range *locals, size_t nlocals,
		  const struct revoke_flow *f, struct revoke_result *res);

/** A few words for a verdict ("blocked", "now require-ipsec", ...). */
const char *revoke_verdict_name(enum revoke_verdict v);

#endif
