/* findings: what the classifier learnt, as warnings on the policy. */
#ifndef SAGATE_FINDINGS_H
#define SAGATE_FINDINGS_H

#include "classify.h"
#include "diag.h"
#include "model.h"

/** Add a warning for every rule that can never match and every rule that
 *  is redundant.  c must come from classify(..., CLASSIFY_ANALYSE). */
void findings_add(const struct policy *p, const struct classes *c,
		  struct diag_list *diags);

#endif
