/* sa_match: would an SA satisfy a require-ipsec rule, and if not, why.
 * The verdict itself is decide.c's (decide_check_sa); this module picks
 * a packet of the rule the SA could carry and words the reason. */
#ifndef SAGATE_SA_MATCH_H
#define SAGATE_SA_MATCH_H

#include "decide.h"
#include "model.h"
#include "xfrm.h"

#include <stddef.h>
#include <stdint.h>

/** Check sa against rule r (inbound require-ipsec) for a representative
 *  packet: the SA's peer (transport) or an inner source the SA's selector
 *  or a gateway of the rule names (tunnel), to the SA's destination, on
 *  the rule's first protocol / port the selector admits.  *pkt (may be
 *  NULL) gets that packet. */
enum decide_reason sa_match_rule(const struct rule *r, const struct xfrm_sa *sa,
				 uint64_t now, struct decide_pkt *pkt);

/** sa_match_rule() asking lookup (may be NULL: no identity source) who
 *  the SA's peer is, for rules that name identities. */
enum decide_reason sa_match_rule_ident(const struct rule *r, const struct xfrm_sa *sa,
				       uint64_t now, struct decide_pkt *pkt,
				       sa_ident_lookup_fn lookup, void *lctx);

/** A rule's identities as text: "\"C=CH, CN=*\" (@apps), \"*.example.org\"";
 *  "" when it names none.  Writes at most len bytes; a long list is cut. */
void sa_match_idents(char *buf, size_t len, const struct rule *r);

/** A sentence on why sa does or does not satisfy r (for the identity
 *  reasons use sa_match_why_ident, which knows the identity), e.g.
 *  "integrity-only (ESP with ecb(cipher_null)): fails rule \"postgresql\",
 *  which requires encryption".  Writes at most len bytes. */
void sa_match_why(char *buf, size_t len, const struct rule *r,
		  const struct xfrm_sa *sa, enum decide_reason why, uint64_t now);

/** sa_match_why() knowing the SA's IKE identity id (may be NULL), which
 *  it names; for a satisfied identity rule it also says which pattern
 *  matched. */
void sa_match_why_ident(char *buf, size_t len, const struct rule *r, const struct xfrm_sa *sa,
			enum decide_reason why, uint64_t now, const struct sa_ident *id);

/** The transforms of an SA as text: "rfc4106(gcm(aes)) 160-bit icv 128". */
void sa_match_algs(char *buf, size_t len, const struct xfrm_sa *sa);

/** Seconds the SA has left before its hard (or soft, with soft) time
 *  limit at now; -1: no time limit. */
long long sa_match_time_left(const struct xfrm_sa *sa, uint64_t now, bool soft);

#endif
