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

static bool has_family(const struct addr_set *s, enum addr_family f)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].fam == f)
			return true;
	return false;
}

/* Keys that are only ICMP (or only ICMPv6), for peers of the other family. */
static void icmp_family(const struct rule *r, struct diag_list *diags)
{
	bool only4 = true, only6 = true;

	for (size_t i = 0; i < r->nkeys; i++) {
		only4 &= KEY_PROTO(r->keys[i].lo) == 1 && KEY_PROTO(r->keys[i].hi) == 1;
		only6 &= KEY_PROTO(r->keys[i].lo) == 58 && KEY_PROTO(r->keys[i].hi) == 58;
	}
	if (only4 && !has_family(&r->peers, AF4))
		diag_add(diags, DIAG_WARNING, r->file, r->path, r->name,
			 "protocol icmp is IPv4 only, but every peer is IPv6: the rule matches nothing (use icmpv6)");
	if (only6 && !has_family(&r->peers, AF6))
		diag_add(diags, DIAG_WARNING, r->file, r->path, r->name,
			 "protocol icmpv6 is IPv6 only, but every peer is IPv4: the rule matches nothing (use icmp)");
}

static bool ipsec_is_default(const struct ipsec_req *q)
{
	return q->encryption == ENC_REQUIRED && q->algorithms == ALG_DEFAULT_SET &&
	       q->mode == MODE_ANY && !q->ngateways && !q->has_reqid;
}

/* What the kernel alone cannot check: outbound, only that the route
 * transforms; in kernel-only mode inbound, only that a secpath exists
 * (and the reqid). */
static void enforcement(const struct policy *p, enum plan_mode mode,
			struct diag_list *diags)
{
	size_t inbound = 0, forwarded = 0;

	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];

		if (r->action != ACT_REQUIRE_IPSEC)
			continue;
		if (r->dir == DIR_OUT && !ipsec_is_default(&r->ipsec))
			diag_add(diags, DIAG_WARNING, r->file, r->path, r->name,
				 "outbound require-ipsec is enforced as \"leaves only through an IPsec policy\"; its ipsec options are not checked");
		inbound += r->dir != DIR_OUT;
		forwarded += r->dir == DIR_FWD;
	}
	if (mode == PLAN_KERNEL_ONLY && inbound)
		diag_add(diags, DIAG_WARNING, p->file, "", NULL,
			 "kernel-only mode: %zu inbound%s require-ipsec rule%s enforced as \"arrived through IPsec\" (and the reqid, where pinned); encryption, algorithms, mode and gateways are checked only by sagated",
			 inbound, forwarded ? " or forwarded" : "", inbound == 1 ? " is" : "s are");
}

void findings_add(const struct policy *p, const struct classes *c,
		  enum plan_mode mode, struct diag_list *diags)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct class_rule_info *in = &c->info[i];
		const struct rule *r = &p->rules[i];

		icmp_family(r, diags);
		if (!c->analysed)
			continue;
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
	enforcement(p, mode, diags);
}
