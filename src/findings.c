#include "config.h"

#include "findings.h"

#include <stdio.h>

static void shadowed(const struct policy *p, const struct class_rule_info *in,
		     const struct rule *r, struct diag_list *diags)
{
	char names[256] = "";
	size_t used = 0, n = 0;

	for (int k = 0; k < 3; k++)
		if (in->shadowed_by[k] != CLASS_NONE)
			n++;
	for (int k = 0; k < 3; k++) {
		if (in->shadowed_by[k] == CLASS_NONE)
			continue;
		used += (size_t)snprintf(names + used, sizeof(names) - used,
					 "%s\"%s\"", used ? ", " : "",
					 p->rules[in->shadowed_by[k]].name);
	}
	if (n)
		diag_add(diags, DIAG_WARNING, r->file, r->path, r->name,
			 "rule can never match: every packet it matches is decided earlier, by %s %s",
			 n > 1 ? "rules" : "rule", names);
	else
		diag_add(diags, DIAG_WARNING, r->file, r->path, r->name,
			 "rule can never match: every packet it matches is decided by earlier rules");
}

void findings_add(const struct policy *p, const struct classes *c,
		  struct diag_list *diags)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct class_rule_info *in = &c->info[i];
		const struct rule *r = &p->rules[i];

		if (!in->boxes) {
			shadowed(p, in, r, diags);
		} else if (in->redundant && in->redundant_with == CLASS_NONE) {
			diag_add(diags, DIAG_WARNING, r->file, r->path, r->name,
				 "rule is redundant: without it, the %s default (%s) decides the same",
				 direction_name(r->dir), action_name(p->defaults[r->dir]));
		} else if (in->redundant) {
			diag_add(diags, DIAG_WARNING, r->file, r->path, r->name,
				 "rule is redundant: without it, rule \"%s\" decides the same",
				 p->rules[in->redundant_with].name);
		}
	}
}
