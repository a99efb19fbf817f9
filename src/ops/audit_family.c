/* Rules that name only one family's addresses of a host group that has
 * both: the other family's traffic of those hosts falls to a later rule
 * or the default.  Rules keep addresses, not group names: the groups are
 * the policy's (struct policy groups), from the policy file as written.
 * The applied policy is a bundle, which has none, so for it that file is
 * parsed again. */
#include "config.h"

#include "audit.h"
#include "parse.h"

#include <stdlib.h>
#include <string.h>

static size_t family_count(const struct addr_set *s, enum addr_family f)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->v[i].fam == f;
	return n;
}

/* Are all of the rule's intervals of family f inside the group? */
static bool inside(const struct addr_set *rule, const struct addr_set *grp, enum addr_family f)
{
	for (size_t j = 0; j < rule->n; j++) {
		bool in = false;

		if (rule->v[j].fam != f)
			continue;
		for (size_t i = 0; i < grp->n && !in; i++)
			in = grp->v[i].fam == f && grp->v[i].lo <= rule->v[j].lo &&
			     rule->v[j].hi <= grp->v[i].hi;
		if (!in)
			return false;
	}
	return true;
}

/* Rules of only ICMP (a family's own protocol) are exempt. */
static bool icmp_only(const struct rule *r)
{
	for (size_t i = 0; i < r->nkeys; i++)
		if (KEY_PROTO(r->keys[i].lo) != KEY_PROTO(r->keys[i].hi) ||
		    (KEY_PROTO(r->keys[i].lo) != 1 && KEY_PROTO(r->keys[i].lo) != 58))
			return false;
	return r->nkeys > 0;
}

static void check_rule(const struct rule *r, const struct host_group *const *g, size_t ng,
		       struct audit_list *out)
{
	enum addr_family has = family_count(&r->peers, AF4) ? AF4 : AF6;
	const struct host_group *best = NULL;
	char other[128] = "";
	size_t other_n = 0;

	if (r->peers.any || !r->peers.n || family_count(&r->peers, has) != r->peers.n ||
	    icmp_only(r))
		return;
	for (size_t i = 0; i < ng; i++)
		if (family_count(&g[i]->set, !has) && inside(&r->peers, &g[i]->set, has) &&
		    (!best || family_count(&g[i]->set, has) < family_count(&best->set, has)))
			best = g[i];
	if (!best)
		return;
	other_n = family_count(&best->set, !has);
	for (size_t i = 0; i < best->set.n && !*other; i++)
		if (best->set.v[i].fam != has)
			addr_range_format(&best->set.v[i], other, sizeof(other));
	audit_add(out, AUDIT_WARNING, "family-counterpart", r->name, NULL,
		  "%s: names only the %s addresses of host group \"%s\", which also has %s ones (%s%s): their %s traffic falls to a later rule or the default",
		  r->path, has == AF4 ? "IPv4" : "IPv6", best->name, has == AF4 ? "IPv6" : "IPv4",
		  other, other_n > 1 ? ", ..." : "", has == AF4 ? "IPv6" : "IPv4");
}

/* The groups of defs that have both families, in defs' order. */
static const struct host_group **mixed_groups(const struct policy *defs, size_t *n, bool *oom)
{
	const struct host_group **v = calloc(defs->ngroups, sizeof(*v));

	*n = 0;
	if (!v) {
		*oom = true;
		return NULL;
	}
	for (size_t i = 0; i < defs->ngroups; i++)
		if (family_count(&defs->groups[i].set, AF4) &&
		    family_count(&defs->groups[i].set, AF6))
			v[(*n)++] = &defs->groups[i];
	return v;
}

/* The policy file as written, parsed again for its groups.  Its problems
 * are not the audit's: then there are none. */
static struct policy *reread(const char *source)
{
	struct diag_list d;
	struct policy *s;

	diag_list_init(&d);
	s = parse_policy_file(source, NULL, &d);
	diag_list_fini(&d);
	return s;
}

void audit_families(const struct policy *p, const char *source, struct audit_list *out)
{
	bool from_source = source && p->file && strcmp(p->file, source) == 0;
	struct policy *src = source && !from_source ? reread(source) : NULL;
	const struct policy *defs = from_source ? p : src;
	const struct host_group **g = NULL;
	size_t ng = 0;

	if (defs && defs->ngroups)
		g = mixed_groups(defs, &ng, &out->oom);
	for (size_t i = 0; ng && i < p->nrules; i++)
		check_rule(&p->rules[i], g, ng, out);
	free(g);
	policy_free(src);
}
