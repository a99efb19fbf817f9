/* plan_print: render a plan as an `nft -f` script or as JSON. */
#ifndef SAGATE_PLAN_PRINT_H
#define SAGATE_PLAN_PRINT_H

#include "model.h"
#include "plan.h"

#include <jansson.h>
#include <stdio.h>

/** Write the plan as a script that `nft -f` loads atomically: it replaces
 *  table inet sagate and nothing else.  Element comments name the policy
 *  rule.  Returns 0, or -1 on a write error or OOM. */
int plan_print_nft(FILE *f, const struct plan *plan, const struct policy *pol);

/** The plan as JSON (sagate's own schema, see sagate(8)); NULL on OOM. */
json_t *plan_to_json(const struct plan *plan, const struct policy *pol);

/** Text of one statement / verdict / element key, as nft writes it.
 *  Return the number of bytes written (snprintf semantics). */
int plan_format_elem_key(char *buf, size_t len, const struct plan_set *s,
			 const struct plan_elem *e);
int plan_format_verdict(char *buf, size_t len, const struct plan_verdict *v);

#endif
