/* plan_sim: walk a compiled plan for one new flow's first packet, the
 * way nf_tables would: base chain of the direction, rule by rule, map
 * lookups, goto / jump, until a verdict.  Knows nothing of the layout
 * beyond the plan vocabulary (plan.h), so it follows any compile. */
#ifndef SAGATE_PLAN_SIM_H
#define SAGATE_PLAN_SIM_H

#include "classify.h"
#include "plan.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/** The packet and the facts the kernel would know about it. */
struct plan_sim_pkt {
	struct packet_key key;	/**< dir, family, peer, local, KEY(proto, port) */
	bool secpath;		/**< arrived decrypted (in) / route transforms (out) */
	bool reqid_known;	/**< reqid is the carrying SA's reqid */
	uint32_t reqid;
};

/** Outcome of a walk. */
struct plan_sim_result {
	enum plan_verdict_kind verdict;	/**< PV_ACCEPT, PV_DROP or PV_QUEUE */
	uint16_t queue;
	uint32_t rule;		/**< policy rule of the map element that matched, or CLASS_NONE */
	bool by_policy;		/**< the base chain's policy decided */
	bool reqid_unknown;	/**< a reqid test was met without a known reqid (assumed equal) */
};

/** Walk p for k.  steps (may be NULL) gets one object per rule that
 *  matched or element that was hit: {"chain", "rule" (index in chain),
 *  "match" (text), "verdict"}.  Returns 0, or -1 when the walk loops
 *  or goes deeper than 16 chains. */
int plan_sim_run(const struct plan *p, const struct plan_sim_pkt *k,
		 struct plan_sim_result *res, json_t *steps);

/** Name of a verdict kind ("accept", "drop", "queue"). */
const char *plan_sim_verdict_name(enum plan_verdict_kind v);

#endif
