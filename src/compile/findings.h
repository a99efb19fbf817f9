/* findings: what the classifier learnt, as warnings on the policy. */
#ifndef SAGATE_FINDINGS_H
#define SAGATE_FINDINGS_H

#include "classify.h"
#include "diag.h"
#include "model.h"
#include "plan.h"

/** Add a warning for every rule that can never match, every redundant
 *  rule, ICMP rules whose peers are of the other family, and IPsec
 *  options that the chosen mode cannot enforce.  c must come from
 *  classify(..., CLASSIFY_ANALYSE). */
void findings_add(const struct policy *p, const struct classes *c,
		  enum plan_mode mode, struct diag_list *diags);

#endif
