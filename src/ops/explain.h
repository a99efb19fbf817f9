/* explain: what sagate does with one packet, and why, as a JSON object
 * (sagate explain prints it as steps).  Three views of the same packet:
 * the policy (which rule decides, by the classes and by the reference
 * first-match evaluation), the kernel (a walk of the compiled plan) and
 * the engine (decide.c on a packet built from the request, against an
 * SA from the live table). */
#ifndef SAGATE_EXPLAIN_H
#define SAGATE_EXPLAIN_H

#include "classify.h"
#include "model.h"
#include "plan.h"
#include "sa_ident.h"
#include "xfrm.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/** What the packet arrived through (--ipsec). */
enum explain_ipsec {
	EXPLAIN_IPSEC_NONE,	/**< cleartext */
	EXPLAIN_IPSEC_SPI,	/**< through the SA with this SPI */
	EXPLAIN_IPSEC_REQID,	/**< through some SA with this reqid */
};

/** One question. */
struct explain_req {
	struct packet_key key;		/**< dir; peer / local by direction; KEY(proto, port) */
	bool local_given;		/**< --from / --to named this host's side */
	enum explain_ipsec ipsec;
	uint32_t spi, reqid;
};

/** Everything the answer depends on. */
struct explain_ctx {
	const struct policy *pol;
	const struct classes *cls;
	const struct plan *plan;
	const struct xfrm_cache *sas;	/**< live SAs, or NULL (not read) */
	uint64_t now;
	const char *proc;		/**< live: the /proc that tells whether
					 *   sagated serves the queue; NULL offline */
	sa_ident_lookup_fn ident_lookup;	/**< who the peer of an SA is; NULL: not
						     known here (the rule's identities are
						     shown, the verdict says it depends) */
	void *ident_ctx;
};

/** The answer (schema in sagate(8), EXPLAIN OUTPUT); NULL on OOM. */
json_t *explain_packet(const struct explain_ctx *ctx, const struct explain_req *q);

/** The engine's checks for rule r, in decide.c's order, as sentences. */
json_t *explain_rule_checks(const struct rule *r);

#endif
