/* findings: what the classifier and the rules say about a policy.
 *
 * Each finding has a kind (model.h's enum finding_kind) and each kind one
 * severity, which `sagate check` and `sagate audit` share. */
#ifndef SAGATE_FINDINGS_H
#define SAGATE_FINDINGS_H

#include "classify.h"
#include "diag.h"
#include "model.h"
#include "plan.h"

/** Add a finding (diag with its kind; acknowledged when its rule's
 *  "accept-findings" lists the kind) for every rule that can never match
 *  (shadowed, or contradicted by an earlier rule of another action),
 *  every redundant rule, ICMP rules whose peers are of the other family,
 *  IPsec options that the chosen mode cannot enforce, require-ipsec
 *  peers whose ESP the policy itself drops (ipsec-unreachable), and
 *  cleartext ports permitted to wide ranges.  c must come from
 *  classify(..., CLASSIFY_ANALYSE) for the first two.  A finding past
 *  diags' cap of its kind (diag_list_cap) is counted, never worded. */
void findings_add(const struct policy *p, const struct classes *c,
		  enum plan_mode mode, struct diag_list *diags);

/** Errors (not findings) for what mode cannot enforce at all: in
 *  kernel-only mode, a rule that names IKE identities (the kernel would
 *  admit any peer with an SA).  True when it reported one. */
bool findings_mode_refused(const struct policy *p, enum plan_mode mode, struct diag_list *diags);

/** The severity of every finding of kind k: a finding never rejects a
 *  policy, so this is DIAG_WARNING for each kind today; audit reports
 *  it as "warning" too. */
enum diag_severity findings_severity(enum finding_kind k);

#endif
